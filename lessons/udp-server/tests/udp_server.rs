//! udp-server as a user runs it: the real binary on loopback, port 0, with a real UDP peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use testkit::{Failure, Proc, Scene, Stream};

fn server(scene: &mut Scene, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-server"));
    cmd.args(["--port", "0"]).args(args);
    scene.start("server", cmd)
}

/// A UDP peer on an ephemeral loopback port whose reads give up after a few seconds.
fn peer() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
}

fn exchange(peer: &UdpSocket, server: SocketAddr, data: &[u8]) -> Vec<u8> {
    peer.send_to(data, server).unwrap();
    let mut buf = [0u8; 70_000];
    let (len, from) = peer.recv_from(&mut buf).expect("no reply from the server");
    assert_eq!(
        from, server,
        "the reply must come from the server's address"
    );
    buf[..len].to_vec()
}

#[test]
fn echoes_each_datagram_to_its_own_sender() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let (a, b) = (peer(), peer());
    assert_eq!(exchange(&a, addr, b"from a"), b"from a");
    assert_eq!(exchange(&b, addr, b"from b"), b"from b");
    let a_addr = a.local_addr().unwrap();
    assert_eq!(
        s.expect(p, "from a")?,
        format!("received 6 bytes from {a_addr}: from a")
    );
    assert_eq!(s.expect(p, "sent")?, format!("sent 6 bytes to {a_addr}"));
    s.expect(p, &format!("to {}", b.local_addr().unwrap()))?;
    Ok(())
}

#[test]
fn echoes_every_byte_value_and_says_when_text_is_not_utf8() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let all: Vec<u8> = (0..=255).collect();
    let peer = peer();
    assert_eq!(exchange(&peer, addr, &all), all);
    let line = s.expect(p, "received 256 bytes")?;
    assert!(
        line.ends_with("[not valid UTF-8: shown as \u{fffd}]"),
        "{line}"
    );
    assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
    // The server goes on.
    assert_eq!(exchange(&peer, addr, b"still here"), b"still here");
    Ok(())
}

#[test]
fn an_empty_datagram_is_shown_and_echoed() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    assert_eq!(exchange(&peer(), addr, b""), b"");
    s.expect(p, "(an empty datagram)")?;
    Ok(())
}

#[test]
fn a_datagram_longer_than_the_buffer_is_cut_and_the_server_says_so() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--buffer", "4"])?;
    assert_eq!(exchange(&peer(), addr, b"0123456789"), b"0123");
    s.expect(p, "received 4 bytes")?;
    s.expect(p, "(cut: the datagram was longer than the 4-byte buffer")?;
    // A datagram that fits exactly is not reported as cut.
    assert_eq!(exchange(&peer(), addr, b"abcd"), b"abcd");
    s.expect(p, "received 4 bytes from")?;
    s.expect(p, "sent 4")?;
    let cut_notes = s
        .output(p, Stream::Stdout)
        .iter()
        .filter(|l| l.contains("(cut"))
        .count();
    assert_eq!(cut_notes, 1, "only the long datagram was cut");
    Ok(())
}

#[test]
fn a_maximum_size_datagram_arrives_whole() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    // 65507 bytes: the most an IPv4 UDP datagram can carry.
    let big = vec![b'x'; 65_507];
    assert_eq!(exchange(&peer(), addr, &big).len(), big.len());
    s.expect(p, "received 65507 bytes")?;
    Ok(())
}

#[test]
fn decodes_gbk_when_asked() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--encoding", "gbk"])?;
    exchange(&peer(), addr, b"\xc4\xe3\xba\xc3");
    assert!(s.expect(p, "received 4 bytes")?.ends_with(": 你好"));
    Ok(())
}

#[test]
fn interactive_answers_with_the_typed_line_and_ends_on_eof() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--interactive", "--encoding", "gbk"])?;
    let peer = peer();
    peer.send_to(b"hi", addr).unwrap();
    s.expect(p, "received 2 bytes")?;
    s.send_line(p, "你好")?;
    let mut buf = [0u8; 64];
    let (len, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"\xc4\xe3\xba\xc3");
    peer.send_to(b"again", addr).unwrap();
    s.expect(p, "received 5 bytes")?;
    s.close_stdin(p)?;
    s.wait_success(p)
}

#[test]
fn interactive_refuses_a_line_it_cannot_encode_and_asks_again() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--interactive", "--encoding", "gbk"])?;
    let peer = peer();
    peer.send_to(b"hi", addr).unwrap();
    s.expect(p, "received 2 bytes")?;
    s.send_line(p, "smile 😀")?;
    s.expect_on(p, Stream::Stderr, "cannot be written in GBK")?;
    s.expect_on(p, Stream::Stderr, "hint: ")?;
    s.send_line(p, "plain")?;
    let mut buf = [0u8; 64];
    let (len, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"plain");
    Ok(())
}

#[test]
fn once_serves_one_datagram_and_exits() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--once"])?;
    assert_eq!(exchange(&peer(), addr, b"one"), b"one");
    s.wait_success(p)
}

#[test]
fn listens_on_ipv6_loopback() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (_, addr) = server(&mut s, &["--bind", "::1"])?;
    assert_eq!(addr.ip().to_string(), "::1");
    let peer = UdpSocket::bind("[::1]:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(exchange(&peer, addr, b"six"), b"six");
    Ok(())
}

#[test]
fn a_port_in_use_is_a_clear_error_with_a_hint() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    cargo_bin_cmd!("udp-server")
        .args(["--port", &port])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(format!(
            "error: cannot bind 127.0.0.1:{port}: Address already in use"
        )))
        .stderr(predicate::str::contains("\nhint: another program"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["--port", "65536"][..],
        &["--bind", "bad host"],
        &["--buffer", "0"],
        &["--encoding", "latin1"],
    ] {
        cargo_bin_cmd!("udp-server")
            .args(args)
            .timeout(Duration::from_secs(10))
            .assert()
            .code(2);
    }
}

#[test]
fn an_unknown_host_is_a_clear_error() {
    cargo_bin_cmd!("udp-server")
        .args(["--bind", "no-such-host.invalid"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot resolve host 'no-such-host.invalid'",
        ));
}

#[test]
fn help_names_the_chapter() {
    cargo_bin_cmd!("udp-server")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Chapter: \"UDP server\""));
}
