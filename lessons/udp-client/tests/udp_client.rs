//! udp-client as a user runs it: the real binary on loopback, talking to a real UDP peer
//! that plays the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use testkit::{Failure, Proc, Scene, Stream};

/// A server stand-in on an ephemeral loopback port.
fn fake_server() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

fn client(
    scene: &mut Scene,
    server: SocketAddr,
    args: &[&str],
) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-client"));
    cmd.arg(server.to_string())
        .args(["--bind", "127.0.0.1:0"])
        .args(args);
    scene.start("client", cmd)
}

fn receive(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 65_535];
    let (len, from) = socket.recv_from(&mut buf).expect("the client sent nothing");
    (buf[..len].to_vec(), from)
}

#[test]
fn sends_each_line_as_one_datagram_and_prints_the_reply() -> Result<(), Failure> {
    let (server, addr) = fake_server();
    let mut s = Scene::new();
    let (p, local) = client(&mut s, addr, &[])?;
    s.send_line(p, "hello")?;
    let (data, from) = receive(&server);
    assert_eq!((data.as_slice(), from), (&b"hello"[..], local));
    server.send_to("你好".as_bytes(), from).unwrap();
    assert_eq!(
        s.expect(p, "received")?,
        format!("received 6 bytes from {addr}: 你好")
    );
    // An empty line is an empty datagram: UDP allows them, unlike a TCP read of 0 bytes.
    s.send_line(p, "")?;
    assert_eq!(receive(&server).0, b"");
    server.send_to(b"", from).unwrap();
    s.expect(p, "received 0 bytes")?;
    s.close_stdin(p)?;
    s.wait_success(p)
}

#[test]
fn says_when_no_reply_comes_and_goes_on() -> Result<(), Failure> {
    let (server, addr) = fake_server();
    let mut s = Scene::new();
    let (p, _) = client(&mut s, addr, &["--timeout", "0.2"])?;
    s.send_line(p, "lost?")?;
    receive(&server);
    s.expect(p, &format!("no reply from {addr} within 200ms"))?;
    s.send_line(p, "second")?;
    let (data, from) = receive(&server);
    assert_eq!(data, b"second");
    server.send_to(b"ok", from).unwrap();
    s.expect(p, "received 2 bytes")?;
    Ok(())
}

#[test]
fn says_when_nothing_listens() -> Result<(), Failure> {
    // Bind a port, then free it: nothing listens there any more.
    let (server, addr) = fake_server();
    drop(server);
    let mut s = Scene::new();
    let (p, _) = client(&mut s, addr, &["--timeout", "5"])?;
    s.send_line(p, "anyone?")?;
    s.expect(p, &format!("nothing listens on {addr}"))?;
    s.close_stdin(p)?;
    s.wait_success(p)
}

#[test]
fn encodes_with_gbk_and_refuses_what_gbk_cannot_write() -> Result<(), Failure> {
    let (server, addr) = fake_server();
    let mut s = Scene::new();
    let (p, _) = client(&mut s, addr, &["--encoding", "gbk"])?;
    s.send_line(p, "smile 😀")?;
    s.expect_on(
        p,
        Stream::Stderr,
        "error: line not sent: '😀' (U+1F600) cannot be written in GBK",
    )?;
    s.send_line(p, "你好")?;
    let (data, from) = receive(&server);
    assert_eq!(
        data, b"\xc4\xe3\xba\xc3",
        "the emoji line must not have been sent"
    );
    server.send_to(b"\xc4\xe3\xba\xc3", from).unwrap();
    assert!(s.expect(p, "received 4 bytes")?.ends_with(": 你好"));
    Ok(())
}

#[test]
fn ignores_datagrams_from_anyone_but_the_server() -> Result<(), Failure> {
    let (server, addr) = fake_server();
    let mut s = Scene::new();
    let (p, local) = client(&mut s, addr, &[])?;
    s.send_line(p, "hi")?;
    receive(&server);
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger.send_to(b"spoofed", local).unwrap();
    server.send_to(b"real", local).unwrap();
    assert!(s.expect(p, "received")?.ends_with(": real"));
    Ok(())
}

#[test]
fn binds_the_seeds_port_by_default() -> Result<(), Failure> {
    let (_server, addr) = fake_server();
    let mut s = Scene::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-client"));
    cmd.arg(addr.to_string());
    let p = s.spawn("client", cmd)?;
    match s.ready(p) {
        Ok(local) => assert_eq!(local.to_string(), "0.0.0.0:10086"),
        // Another program may hold 10086 on this machine: then the error must say so.
        Err(_) => {
            s.expect_on(p, Stream::Stderr, "error: cannot bind 0.0.0.0:10086")?;
        }
    }
    Ok(())
}

#[test]
fn talks_to_an_ipv6_server() -> Result<(), Failure> {
    let server = UdpSocket::bind("[::1]:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let addr = server.local_addr().unwrap();
    let mut s = Scene::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-client"));
    cmd.arg(addr.to_string()).args(["--bind", "[::1]:0"]);
    let p = s.spawn("client", cmd)?;
    s.ready(p)?;
    s.send_line(p, "v6")?;
    let (data, from) = receive(&server);
    assert_eq!(data, b"v6");
    server.send_to(b"six", from).unwrap();
    s.expect(p, "received 3 bytes from [::1]")?;
    Ok(())
}

#[test]
fn an_unknown_host_is_a_clear_error_with_a_hint() {
    cargo_bin_cmd!("udp-client")
        .arg("no-such-host.invalid:8080")
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot resolve host 'no-such-host.invalid'",
        ))
        .stderr(predicate::str::contains("\nhint: check the spelling"));
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["127.0.0.1:99999"][..],
        &["[::1]:http"],
        &["--timeout", "0"],
        &["--timeout", "soon"],
    ] {
        cargo_bin_cmd!("udp-client")
            .args(args)
            .timeout(Duration::from_secs(10))
            .assert()
            .code(2);
    }
}

#[test]
fn help_names_the_chapter() {
    cargo_bin_cmd!("udp-client")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Chapter: \"UDP client\""));
}
