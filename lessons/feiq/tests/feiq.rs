//! feiq as users run it: `send` and `listen` on loopback, against each other and against
//! UDP peers that play IP Messenger clients, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use testkit::{Failure, Proc, Scene, Stream};

fn feiq(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_feiq"));
    cmd.args(args).args(["--user", "tester", "--host", "box"]);
    cmd
}

fn listen(s: &mut Scene, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = feiq(&["listen", "--port", "0"]);
    cmd.args(args);
    s.start("listen", cmd)
}

fn peer() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
}

fn receive(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 4096];
    let (len, from) = socket.recv_from(&mut buf).expect("nothing arrived");
    (buf[..len].to_vec(), from)
}

fn field(packet: &[u8], index: usize) -> String {
    let text = String::from_utf8_lossy(packet);
    text.splitn(6, ':')
        .nth(index)
        .unwrap_or_default()
        .trim_end_matches('\0')
        .to_string()
}

#[test]
fn send_is_acknowledged_by_listen_and_the_text_arrives() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let (send, from) = s.start(
        "send",
        feiq(&[
            "send",
            "--bind",
            "127.0.0.1:0",
            "--to",
            &addr.to_string(),
            "你好, 飞秋",
        ]),
    )?;
    let line = s.expect(l, "tester@box")?;
    assert_eq!(line, format!("tester@box ({from}): 你好, 飞秋"));
    s.expect(l, &format!("answered {from} with RECVMSG"))?;
    s.expect(send, &format!("delivered to {addr} (acknowledged)"))?;
    s.wait_success(send)
}

#[test]
fn listen_shows_the_seeds_own_packet() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    // 1:324244:小道士:ubuntu:32:你好, in GBK, without a final NUL: exactly what the seed sends.
    let seed = b"1:324244:\xd0\xa1\xb5\xc0\xca\xbf:ubuntu:32:\xc4\xe3\xba\xc3";
    let p = peer();
    p.send_to(seed, addr).unwrap();
    let from = p.local_addr().unwrap();
    assert_eq!(
        s.expect(l, "ubuntu")?,
        format!("小道士@ubuntu ({from}): 你好")
    );
    // The seed numbers every message 324244. Without SENDCHECKOPT nothing is ever resent,
    // so the same number again is a new message, and it is shown.
    p.send_to(b"1:324244:x:y:32:again", addr).unwrap();
    s.expect(l, "x@y")?;
    let answered = s
        .output(l, Stream::Stdout)
        .iter()
        .any(|l| l.starts_with("answered"));
    assert!(!answered, "command 32 must not be acknowledged");
    Ok(())
}

#[test]
fn listen_acknowledges_every_copy_and_shows_it_once() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let p = peer();
    let packet = b"1:1700000001:iptux:mac:288:twice\0";
    for _ in 0..2 {
        p.send_to(packet, addr).unwrap();
        let (ack, _) = receive(&p);
        assert_eq!(field(&ack, 4), "33", "RECVMSG");
        assert_eq!(
            field(&ack, 5),
            "1700000001",
            "the acknowledged packet number"
        );
    }
    p.send_to(b"1:1700000002:iptux:mac:288:next\0", addr)
        .unwrap();
    receive(&p);
    s.expect(l, "next")?;
    let shown = s
        .output(l, Stream::Stdout)
        .iter()
        .filter(|l| l.ends_with(": twice"))
        .count();
    assert_eq!(shown, 1);
    Ok(())
}

#[test]
fn listen_answers_an_entry_and_decodes_utf8() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let p = peer();
    // iptux's entry: BR_ENTRY|ABSENCEOPT, UTF-8 text without the UTF8OPT bit.
    p.send_to(
        "1_iptux 0.10.0:5:lidaobing:mac:257:李\0group\0".as_bytes(),
        addr,
    )
    .unwrap();
    let (answer, _) = receive(&p);
    assert_eq!(field(&answer, 4), "3", "ANSENTRY");
    assert_eq!(field(&answer, 5), "tester");
    let line = s.expect(l, "lidaobing@mac")?;
    assert!(line.ends_with("is online: 李"), "{line}");
    Ok(())
}

#[test]
fn hostile_datagrams_get_a_log_line_and_listen_goes_on() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let p = peer();
    for bad in [
        &b""[..],
        b"hello",
        b"1:2:3:4:5",
        b"1:abc:u:h:32:x",
        b"1:99999999999999999999999:u:h:32:x",
        b"1:1:u:h:99999999999:x",
        b"\xff\xfe\xfd:\x00",
    ] {
        p.send_to(bad, addr).unwrap();
        s.expect(l, "not an IPMsg packet")?;
    }
    // Bad GBK in a good packet is shown, not fatal.
    p.send_to(b"1:9:u:h:32:ok\x81", addr).unwrap();
    s.expect(l, "ok\u{fffd} [not valid GBK")?;
    p.send_to(b"1:10:u:h:32:still here", addr).unwrap();
    s.expect(l, "u@h")?;
    assert!(s.output(l, Stream::Stderr).is_empty());
    Ok(())
}

#[test]
fn send_reports_no_acknowledgement_within_its_timeout() -> Result<(), Failure> {
    let silent = peer();
    let mut s = Scene::new();
    let to = silent.local_addr().unwrap().to_string();
    let send = s.spawn(
        "send",
        feiq(&[
            "send",
            "--bind",
            "127.0.0.1:0",
            "--to",
            &to,
            "--timeout",
            "0.1",
            "anyone?",
        ]),
    )?;
    // Four tries, all with the same packet number.
    let numbers: Vec<String> = (0..4).map(|_| field(&receive(&silent).0, 1)).collect();
    assert!(numbers.iter().all(|n| *n == numbers[0]), "{numbers:?}");
    s.expect(send, &format!("no acknowledgement from {to}"))?;
    assert_eq!(s.wait(send)?.code(), Some(1));
    Ok(())
}

#[test]
fn send_resends_until_acknowledged_even_from_another_port() -> Result<(), Failure> {
    let peer_in = peer();
    let peer_out = peer();
    let mut s = Scene::new();
    let (send, sender) = s.start(
        "send",
        feiq(&[
            "send",
            "--bind",
            "127.0.0.1:0",
            "--to",
            &peer_in.local_addr().unwrap().to_string(),
            "--timeout",
            "0.3",
            "--encoding",
            "utf-8",
            "late ack",
        ]),
    )?;
    let (first, _) = receive(&peer_in);
    // UTF-8 sets UTF8OPT: SENDMSG | SENDCHECKOPT | UTF8OPT.
    assert_eq!(field(&first, 4), (0x20 | 0x100 | 0x80_0000).to_string());
    assert_eq!(field(&first, 5), "late ack");
    // Ignore the first try; acknowledge the second from a different port (as iptux does,
    // from its own 2425).
    let (second, _) = receive(&peer_in);
    assert_eq!(field(&second, 1), field(&first, 1));
    let ack = format!("1:1:peer:host:33:{}\0", field(&second, 1));
    peer_out.send_to(ack.as_bytes(), sender).unwrap();
    s.expect(send, "delivered to")?;
    s.wait_success(send)
}

#[test]
fn no_check_sends_the_seeds_command_32_once() -> Result<(), Failure> {
    let p = peer();
    let mut s = Scene::new();
    let send = s.spawn(
        "send",
        feiq(&[
            "send",
            "--bind",
            "127.0.0.1:0",
            "--to",
            &p.local_addr().unwrap().to_string(),
            "--no-check",
            "plain",
        ]),
    )?;
    let (packet, _) = receive(&p);
    assert_eq!(field(&packet, 4), "32");
    assert_eq!(field(&packet, 2), "tester");
    s.wait_success(send)
}

#[test]
fn sends_each_stdin_line_as_a_message() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let send = s.spawn(
        "send",
        feiq(&["send", "--bind", "127.0.0.1:0", "--to", &addr.to_string()]),
    )?;
    s.send_line(send, "第一")?;
    s.send_line(send, "second")?;
    s.close_stdin(send)?;
    s.expect(l, ": 第一")?;
    s.expect(l, ": second")?;
    s.wait_success(send)
}

#[test]
fn announce_sends_an_entry_to_the_given_address_only() -> Result<(), Failure> {
    let p = peer();
    let mut s = Scene::new();
    let (l, _) = listen(
        &mut s,
        &["--announce", &p.local_addr().unwrap().to_string()],
    )?;
    let (entry, from) = receive(&p);
    assert_eq!(field(&entry, 4), "1", "BR_ENTRY");
    // Answer as a client does; listen shows it.
    p.send_to(b"1:2:peer:host:3:nick\0", from).unwrap();
    s.expect(l, "peer@host")?;
    Ok(())
}

#[test]
fn an_unknown_host_is_a_clear_error() {
    cargo_bin_cmd!("feiq")
        .args(["send", "--to", "no-such-host.invalid", "hi"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: cannot resolve host"));
}

#[test]
fn help_names_the_chapter() {
    cargo_bin_cmd!("feiq")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Chapter: \"Feiq"));
}
