//! udp-server as a user runs it: the real binary on loopback, port 0, with a real UDP peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use testkit::udp::Peer;
use testkit::{Failure, Proc, Scene, Stream};

fn server(scene: &mut Scene, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-server"));
    cmd.args(["--port", "0"]).args(args);
    scene.start("server", cmd)
}

#[test]
fn echoes_each_datagram_to_its_own_sender() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let (a, b) = (Peer::new()?, Peer::new()?);
    assert_eq!(a.ask(addr, b"from a")?, b"from a");
    assert_eq!(b.ask(addr, b"from b")?, b"from b");
    let a_addr = a.addr();
    assert_eq!(
        s.expect(p, "from a")?,
        format!("received 6 bytes from {a_addr}: from a")
    );
    assert_eq!(s.expect(p, "sent")?, format!("sent 6 bytes to {a_addr}"));
    s.expect(p, &format!("to {}", b.addr()))?;
    Ok(())
}

#[test]
fn echoes_every_byte_value_and_says_when_text_is_not_utf8() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    // The bytes that are not UTF-8 first: the line shows the first 128 bytes.
    let all: Vec<u8> = (0..=255).rev().collect();
    let peer = Peer::new()?;
    assert_eq!(peer.ask(addr, &all)?, all);
    let line = s.expect(p, "received 256 bytes")?;
    assert!(
        line.ends_with("\u{2026} (128 more bytes) [not valid UTF-8: shown as \u{fffd}]"),
        "{line}"
    );
    assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
    // The server goes on.
    assert_eq!(peer.ask(addr, b"still here")?, b"still here");
    Ok(())
}

#[test]
fn an_empty_datagram_is_shown_and_echoed() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let peer = Peer::new()?;
    assert_eq!(peer.ask(addr, b"")?, b"");
    let from = peer.addr();
    assert_eq!(
        s.expect(p, "received")?,
        format!("received 0 bytes from {from}: [0 bytes]")
    );
    // Counts read as people write them: one byte, not "1 bytes".
    assert_eq!(peer.ask(addr, b"x")?, b"x");
    assert_eq!(
        s.expect(p, "received")?,
        format!("received 1 byte from {from}: x")
    );
    assert_eq!(s.expect(p, "sent")?, format!("sent 1 byte to {from}"));
    Ok(())
}

#[test]
fn a_datagram_longer_than_the_buffer_is_cut_and_the_server_says_by_how_much() -> Result<(), Failure>
{
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--buffer", "4"])?;
    assert_eq!(Peer::new()?.ask(addr, b"0123456789")?, b"0123");
    // MSG_TRUNC: the kernel reports the datagram's real length, not just what fit.
    assert!(
        s.expect(p, "received")?
            .starts_with("received 10 bytes from")
    );
    assert_eq!(
        s.expect(p, "(cut")?,
        "  (cut: the buffer holds 4; 6 bytes lost)"
    );
    // A datagram that fits exactly is not reported as cut.
    assert_eq!(Peer::new()?.ask(addr, b"abcd")?, b"abcd");
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
    assert_eq!(Peer::new()?.ask(addr, &big)?.len(), big.len());
    s.expect(p, "received 65507 bytes")?;
    Ok(())
}

/// The attack on the log: 65,507 control characters in one datagram, each shown escaped
/// (`\u{1}`), made a line of 327,535 bytes, five times what the peer sent; a peer flooding
/// such datagrams wrote 144 MB of log in 5 s. A line now shows 128 bytes of the datagram.
#[test]
fn a_long_datagram_makes_a_short_line_in_the_log() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let big = vec![1u8; 65_507];
    assert_eq!(Peer::new()?.ask(addr, &big)?, big, "echoed whole");
    let line = s.expect(p, "received 65507 bytes")?;
    testkit::screen_flood::assert_capped(&line, 1000, 65379);
    Ok(())
}

/// The attack on the log: one address floods the server with datagrams of 128 control
/// characters, 682 bytes of log each, 117 MB in 5 s. Now an address gets a share of the log,
/// 100 lines at once, then 10 a second, as udp-chat's screen: a friend's line comes after at
/// most that many of the stranger's, and what was not shown is counted.
#[test]
fn a_flood_from_one_address_gets_only_its_share_of_the_log() -> Result<(), Failure> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let started = std::time::Instant::now();
    let stranger = Peer::on("127.0.0.2:0")?;
    for _ in 0..2000 {
        stranger.send(addr, &[1u8; 128])?;
    }
    // The flood may fill the server's receive buffer, where the kernel drops what does not
    // fit: the friend asks until it is answered.
    Peer::new()?.ask_until_answered(addr, b"hello from your friend", Duration::from_secs(60))?;
    s.expect(p, ": hello from your friend")?;
    let seconds = started.elapsed().as_secs();
    let from_stranger = s
        .output(p, Stream::Stdout)
        .iter()
        .take_while(|line| !line.contains(": hello from your friend"))
        .filter(|line| line.starts_with("received 128 bytes from 127.0.0.2:"))
        .count() as u64;
    assert!(
        from_stranger <= 101 + 10 * seconds,
        "the friend's line came after {from_stranger} of the stranger's, in {seconds} s"
    );
    // The stranger goes on, one datagram a millisecond, until its next line is shown: it
    // comes after the count of those that were not.
    let done = Arc::new(AtomicBool::new(false));
    let sending = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) && stranger.send(addr, &[1u8; 128]).is_ok() {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let note = s.expect(p, "datagrams from 127.0.0.2 not shown: ");
    done.store(true, Ordering::Relaxed);
    let _ = sending.join();
    assert!(
        note?.ends_with("not shown: more than 100 at once or 10 a second)"),
        "the count of what was not shown"
    );
    Ok(())
}

/// Many addresses add up their shares: 10,000 addresses (127.1.x.y), a datagram of 128
/// control characters each, wrote 42 MB of log in 5 s. All together now get 1,000 lines at
/// once, then 100 a second, and the count of what was not shown comes with the next line.
#[test]
fn many_addresses_together_get_only_the_logs_share() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let started = std::time::Instant::now();
    // Each waits for its answer: a flood sent at once would overflow the server's receive
    // buffer, and the kernel would drop most of it (on a busy machine, more than 2,000).
    for i in 0..3000u32 {
        let [_, _, x, y] = (0x7f01_0000 + i).to_be_bytes();
        Peer::on(format!("127.1.{x}.{y}:0"))?.ask(addr, &[1u8; 128])?;
    }
    // The last one, once the flood is read: its line says how many were not shown.
    Peer::new()?.ask_until_answered(addr, b"hello from your friend", Duration::from_secs(60))?;
    let seconds = started.elapsed().as_secs();
    let note = s.expect(
        p,
        "not shown: more than 1000 at once or 100 a second from all",
    )?;
    let shown = s
        .output(p, Stream::Stdout)
        .iter()
        .filter(|line| line.starts_with("received 128 bytes from 127.1."))
        .count() as u64;
    assert!(
        shown <= 1000 + 100 * (seconds + 1),
        "{shown} lines from 3,000 addresses in {seconds} s"
    );
    assert!(note.starts_with('('), "{note}");
    Ok(())
}

#[test]
fn decodes_gbk_when_asked() -> Result<(), Failure> {
    let mut s = Scene::new();
    // Encoding names are taken as people write them, in any case.
    let (p, addr) = server(&mut s, &["--encoding", "GBK"])?;
    Peer::new()?.ask(addr, b"\xc4\xe3\xba\xc3")?;
    assert!(s.expect(p, "received 4 bytes")?.ends_with(": 你好"));
    Ok(())
}

#[test]
fn interactive_answers_with_the_typed_line_and_ends_on_eof() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--interactive", "--encoding", "gbk"])?;
    let peer = Peer::new()?;
    peer.send(addr, b"hi")?;
    s.expect(p, "received 2 bytes")?;
    s.send_line(p, "你好")?;
    assert_eq!(peer.recv("an answer")?.0, b"\xc4\xe3\xba\xc3");
    peer.send(addr, b"again")?;
    s.expect(p, "received 5 bytes")?;
    s.close_stdin(p)?;
    s.wait_success(p)
}

/// The attack: the operator types a line too many while answering one peer, and a
/// stranger writes next. Before the fix, the stranger got the extra line ("hunter2").
#[test]
fn interactive_never_sends_a_line_typed_before_the_peer_was_named() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--interactive"])?;
    let (friend, stranger) = (Peer::new()?, Peer::new()?);
    friend.send(addr, b"hi")?;
    s.expect(p, "received 2 bytes")?;
    s.send_bytes(p, b"hello friend\nhunter2\n")?;
    assert_eq!(friend.recv("the friend's answer")?.0, b"hello friend");
    s.expect(p, "sent 12 bytes")?;
    stranger.send(addr, b"me too")?;
    let stranger_addr = stranger.addr();
    assert_eq!(
        s.expect(p, "not sent")?,
        format!("not sent to {stranger_addr}: typed before it was named: hunter2")
    );
    s.send_line(p, "who are you?")?;
    assert_eq!(stranger.recv("an answer")?.0, b"who are you?");
    // No prompt when stdin is not a terminal.
    assert!(
        s.output(p, Stream::Stderr).is_empty(),
        "{:?}",
        s.output(p, Stream::Stderr)
    );
    Ok(())
}

#[test]
fn interactive_refuses_a_line_it_cannot_encode_and_asks_again() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--interactive", "--encoding", "gbk"])?;
    let peer = Peer::new()?;
    peer.send(addr, b"hi")?;
    s.expect(p, "received 2 bytes")?;
    s.send_line(p, "smile 😀")?;
    s.expect_on(p, Stream::Stderr, "cannot be written in GBK")?;
    s.expect_on(p, Stream::Stderr, "hint: ")?;
    s.send_line(p, "plain")?;
    assert_eq!(peer.recv("an answer")?.0, b"plain");
    Ok(())
}

/// The attack: a datagram whose source is the server's own port. Forged, it would make the
/// server answer itself for ever; here a socket on the same port of another loopback address
/// (a server like this one, on another machine) sends it, and would get the answer.
#[test]
fn a_datagram_from_its_own_port_is_not_answered() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let twin = Peer::on(("127.0.0.2", addr.port()))?;
    twin.send(addr, b"loop?")?;
    let line = s.expect(p, "not answering")?;
    assert!(
        line.starts_with(&format!("not answering 127.0.0.2:{}: ", addr.port())),
        "{line}"
    );
    assert!(line.contains("own port"), "{line}");
    // The server goes on serving others; once it has answered one, an answer to the twin
    // would have been sent before it, and on loopback it would have arrived already.
    assert_eq!(Peer::new()?.ask(addr, b"ping")?, b"ping");
    let got = twin.waiting();
    assert!(got.is_empty(), "the server answered its own port: {got:?}");
    Ok(())
}

/// The attack: the server and another echo server answering each other. The test plays the
/// other server, echoing everything back, and counts how long the ping-pong lasts: without a
/// limit it would never end (the test stops it at LOOP_CAP).
#[test]
fn an_echo_loop_with_another_server_dies_out() -> Result<(), Failure> {
    const LOOP_CAP: usize = 2_000;
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let other = Peer::on("127.0.0.1:0")?;
    other
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    other.send(addr, b"ping-pong")?;
    let mut answers = 0;
    while answers < LOOP_CAP {
        match other.recv("the server's answer") {
            Ok((data, _)) => {
                answers += 1;
                other.send(addr, &data)?;
            }
            // The server has stopped answering: the loop is over.
            Err(_) => break,
        }
    }
    assert!(
        answers < 100,
        "the server answered {answers} times in a loop (stopped at {LOOP_CAP})"
    );
    let line = s.expect(p, "limiting")?;
    assert!(line.starts_with("limiting 127.0.0.1: "), "{line}");
    // Said once for the spell, not once per datagram.
    let limiting = s
        .output(p, Stream::Stdout)
        .iter()
        .filter(|l| l.starts_with("limiting"))
        .count();
    assert_eq!(limiting, 1);
    Ok(())
}

/// The attack: text that reorders itself on screen (U+202E, right-to-left override), and
/// terminal escapes. Shown escaped, it cannot disguise itself.
#[test]
fn bidirectional_controls_and_escapes_from_a_peer_are_shown_escaped() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    Peer::new()?.ask(addr, "abc\u{202e}txt.exe \x1b[2J".as_bytes())?;
    let line = s.expect(p, "received")?;
    assert!(line.ends_with(": abc\\u{202e}txt.exe \\u{1b}[2J"), "{line}");
    assert!(
        !line.contains('\u{202e}') && !line.contains('\x1b'),
        "{line:?}"
    );
    Ok(())
}

#[test]
fn once_serves_one_datagram_and_exits() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--once"])?;
    assert_eq!(Peer::new()?.ask(addr, b"one")?, b"one");
    s.wait_success(p)
}

#[test]
fn listens_on_ipv6_loopback() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (_, addr) = server(&mut s, &["--bind", "::1"])?;
    assert_eq!(addr.ip().to_string(), "::1");
    let peer = Peer::on("[::1]:0")?;
    assert_eq!(peer.ask(addr, b"six")?, b"six");
    Ok(())
}

#[test]
fn a_port_in_use_is_a_clear_error_with_a_hint() {
    let busy = testkit::BusyPort::udp().unwrap();
    let out = cargo_bin_cmd!("udp-server")
        .args(["--port", &busy.port()])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    busy.assert_refused(&out);
    assert!(out.stdout.is_empty());
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

/// `udp-server | head -1`: once the reader of its output has gone, the server ends quietly,
/// as a program killed by SIGPIPE does (status 141), with no panic and no backtrace.
#[test]
fn a_closed_stdout_ends_the_server_quietly() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_udp-server"))
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    // The reader is dropped here: the pipe's read end is closed.
    let addr: SocketAddr = ready.split_whitespace().nth(2).unwrap().parse().unwrap();
    let peer = Peer::new().unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Bounded by time, not by a count of datagrams: the answers come back at once, but the
    // log's own thread, which meets the closed pipe, may wait for a CPU on a busy machine (50
    // datagrams took a few milliseconds, and once ended before it ran).
    let mut status = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        peer.send(addr, b"hello").unwrap();
        let _ = peer.recv_from(&mut [0; 64]);
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Some(status) = status else {
        child.kill().unwrap();
        let _ = child.wait();
        panic!("the server went on writing into a closed pipe");
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(141), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

/// udp-server bound to 0.0.0.0 in a private network namespace of its own (as root; `None`
/// after saying `skipped` otherwise).
fn server_in_netns(
    tag: &str,
    bind: &str,
) -> Result<Option<(testkit::netns::Netns, Scene, Proc, SocketAddr)>, Failure> {
    let netns = match testkit::netns::Netns::new(tag) {
        Ok(netns) => netns,
        Err(why) => {
            eprintln!("skipped: {why}");
            return Ok(None);
        }
    };
    let mut s = Scene::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-server"));
    cmd.args(["--bind", bind, "--port", "0"]);
    let (p, addr) = s.start("server", netns.exec(&cmd))?;
    Ok(Some((netns, s, p, addr)))
}

/// The attack (Fraggle): a datagram sent to the network's broadcast address reaches every
/// server on the network, and all of them would answer its (forged) source at once. Run in
/// a private network namespace, with a /24 of its own; a unicast datagram sent after it is
/// answered, and is the first answer to arrive. Bound to `0.0.0.0`, and to `::`, where the
/// same datagram comes from a v4-mapped address.
#[test]
fn a_datagram_sent_to_a_broadcast_address_is_not_answered() -> Result<(), Failure> {
    for bind in ["0.0.0.0", "::"] {
        broadcast_not_answered(bind)?;
    }
    Ok(())
}

fn broadcast_not_answered(bind: &str) -> Result<(), Failure> {
    let Some((netns, mut s, p, addr)) = server_in_netns("udpsrv", bind)? else {
        return Ok(());
    };
    let port = addr.port().to_string();
    let script = "import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind((sys.argv[1], 0))
s.settimeout(10)
s.sendto(b'to everyone', (sys.argv[2], int(sys.argv[4])))
s.sendto(b'to you', (sys.argv[3], int(sys.argv[4])))
print('first answer:', s.recvfrom(100)[0].decode())";
    let mut python = Command::new("python3");
    let (me, all) = (netns.addr.to_string(), netns.broadcast.to_string());
    python.args(["-c", script, &me, &all, &me, &port]);
    let client = s.spawn("client", netns.exec(&python))?;
    let refused = s.expect(p, "not answering")?;
    assert!(refused.contains("sent to a broadcast address"), "{refused}");
    s.expect(client, "first answer: to you")?;
    s.wait_success(client)
}

/// The attack: a datagram whose source is a multicast group (written with a raw socket, which
/// the kernel accepts from this machine). Answering it sends the answer to every member of
/// the group: here a socket that joined it got the server's answer. Run in a private network
/// namespace, as root; skipped otherwise. Bound to `::`, the server saw the group as
/// `[::ffff:239.1.2.3]`, took it for no group, and answered it.
#[test]
fn a_datagram_from_a_multicast_source_is_not_answered_to_the_group() -> Result<(), Failure> {
    for bind in ["0.0.0.0", "::"] {
        multicast_source_not_answered(bind)?;
    }
    Ok(())
}

fn multicast_source_not_answered(bind: &str) -> Result<(), Failure> {
    let Some((netns, mut s, p, addr)) = server_in_netns("udpmc", bind)? else {
        return Ok(());
    };
    let script = "import socket, struct, sys
me, port, group = sys.argv[1], int(sys.argv[2]), '239.1.2.3'
member = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
member.bind(('0.0.0.0', 40000))
member.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton(group) + socket.inet_aton(me))
data = b'to the group'
udp = struct.pack('!HHHH', 40000, port, 8 + len(data), 0) + data
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                 socket.inet_aton(group), socket.inet_aton(me))
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).sendto(ip + udp, (me, 0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((me, 0))
s.settimeout(10)
s.sendto(b'to you', (me, port))
print('first answer:', s.recvfrom(100)[0].decode())
# The group's answer, if any, was sent before ours.
member.settimeout(1)
try:
    print('the group got:', member.recvfrom(100)[0].decode())
except socket.timeout:
    print('the group got nothing')";
    let mut python = Command::new("python3");
    let (me, port) = (netns.addr.to_string(), addr.port().to_string());
    python.args(["-c", script, &me, &port]);
    let client = s.spawn("client", netns.exec(&python))?;
    let refused = s.expect(p, "not answering")?;
    // `239.1.2.3:40000`, or `[::ffff:239.1.2.3]:40000` on a dual-stack socket.
    assert!(
        refused.contains("239.1.2.3") && refused.contains(":40000"),
        "{refused}"
    );
    s.expect(client, "first answer: to you")?;
    assert_eq!(s.expect(client, "the group got")?, "the group got nothing");
    s.wait_success(client)
}

/// The attack (line-wrap spoofing): on a terminal of 80 columns, a peer pads its text so that
/// the terminal wraps the rest of the server's `received` line onto a row of its own, where
/// it reads like a line of the log from another address. On a terminal, the log cuts a long
/// line itself, and what follows starts with `  | `.
#[test]
fn a_peer_cannot_make_a_row_of_the_log_on_a_terminal() {
    let bin = env!("CARGO_BIN_EXE_udp-server");
    let Some(mut tty) = testkit::pty::Pty::spawn(bin, &["--port", "0"]) else {
        eprintln!("skipped: script(1), which makes the terminal, is not installed");
        return;
    };
    let shown = tty.wait_for("(udp)").unwrap();
    let port = shown
        .split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = peer.local_addr().unwrap();
    let fake = "received 21 bytes from 10.0.0.1:50000: I am the teacher";
    // The server's line is `received N bytes from ME: TEXT`; N is the length of TEXT.
    let payload = (60..130)
        .map(|n| {
            let prefix = format!("received {n} bytes from {me}: ");
            format!("{}.{fake}", " ".repeat(79 - prefix.len()))
        })
        .find(|p| {
            format!("received {} bytes from {me}: ", p.len()).len() + p.len() == 80 + fake.len()
        })
        .unwrap();
    peer.send_to(payload.as_bytes(), format!("127.0.0.1:{port}"))
        .unwrap();
    let shown = tty.wait_for("teacher").unwrap();
    // The rows an 80-column terminal shows: every line cut every 80 characters.
    let rows: Vec<String> = shown
        .split('\n')
        .flat_map(|line| {
            let chars: Vec<char> = line.trim_end_matches('\r').chars().collect();
            chars
                .chunks(80)
                .map(|c| c.iter().collect())
                .collect::<Vec<String>>()
        })
        .collect();
    assert!(
        !rows
            .iter()
            .any(|row| row.starts_with("received 21 bytes from 10.0.0.1")),
        "{rows:#?}"
    );
}

/// The attack: the server's log is on a full disk (here /dev/full) and peers keep sending.
/// `println!` panics on the failed write: the server exited with status 101 once its log
/// had filled a 64 KiB disk. It now drops the lines, says so once on stderr, and goes on
/// answering.
#[test]
fn a_full_disk_under_the_log_does_not_stop_the_server() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_udp-server"))
        .args(["--port", &port.to_string()])
        .stdout(testkit::full_disk::full())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let to = format!("127.0.0.1:{port}");
    let mut answered = 0;
    // Ten peers, five datagrams each (within the guard's burst), each waiting for its echo.
    for peer in 0..10 {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        for n in 0..5 {
            let message = format!("peer {peer} datagram {n}");
            let mut buf = [0u8; 64];
            // The first datagram may come before the server is bound: tried again.
            for _ in 0..50 {
                socket.send_to(message.as_bytes(), &to).unwrap();
                // `retry`: a signal (SIGCHLD: see testkit::udp::Peer::quiet_count) is not
                // "no answer yet"; sending again would leave an echo behind for the next.
                if let Ok((len, _)) = common::net::retry(|| socket.recv_from(&mut buf)) {
                    answered += usize::from(buf.get(..len) == Some(message.as_bytes()));
                    break;
                }
                assert!(server.try_wait().unwrap().is_none(), "the server exited");
            }
        }
    }
    let (alive, said) = testkit::full_disk::stop_once_said(&mut server, Duration::from_secs(10));
    assert!(alive, "the server exited: {said}");
    assert_eq!(answered, 50, "{said}");
    testkit::full_disk::said_once_it_drops_lines(&said);
}

/// The attack (attack12): the server's stdout is a pipe that nobody reads (`udp-server |
/// slow-program`), and peers send datagrams, each from its own address so that each gets its
/// share of the log. Each line was written at once: once the pipe's 64 KiB were full, the
/// server waited in `write(1)` and answered nobody (362 datagrams answered, then none). The
/// lines now go through the log's queue, which drops what it cannot write.
#[test]
fn a_log_nobody_reads_does_not_stop_the_server() {
    let unread = testkit::unread_log::start(
        Command::new(env!("CARGO_BIN_EXE_udp-server")).args(["--port", "0"]),
    );
    let addr = unread.addr;
    // About 190 bytes of log each: 1,000 datagrams make three pipes' worth.
    for i in 0..1000u32 {
        let from = format!("127.0.{}.{}:0", 1 + i / 200, 1 + i % 200);
        let peer = Peer::on(&from).unwrap();
        peer.send_to(&[b'x'; 100], addr).unwrap();
        let answered = peer.recv("an answer");
        assert!(answered.is_ok(), "datagram {i} from {from}: {answered:?}");
    }
}
