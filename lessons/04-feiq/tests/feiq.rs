//! feiq as users run it: `send` and `listen` on loopback, against each other and against
//! UDP peers that play IP Messenger clients, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use testkit::udp::Peer;
use testkit::{Failure, Proc, Scene, Stream};

fn feiq(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_feiq"));
    cmd.args(["--user", "tester", "--host", "box"]).args(args);
    cmd
}

fn listen(s: &mut Scene, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = feiq(&["listen", "--port", "0"]);
    cmd.args(args);
    s.start("listen", cmd)
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
    assert_eq!(line, format!("{from} tester@box: 你好, 飞秋"));
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
    let p = Peer::new()?;
    p.send(addr, seed)?;
    let from = p.addr();
    assert_eq!(
        s.expect(l, "ubuntu")?,
        format!("{from} 小道士@ubuntu: 你好")
    );
    // The seed numbers every message 324244. Without SENDCHECKOPT nothing is ever resent,
    // so the same number again is a new message, and it is shown.
    p.send(addr, b"1:324244:x:y:32:again")?;
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
    let p = Peer::new()?;
    let packet = b"1:1700000001:iptux:mac:288:twice\0";
    for _ in 0..2 {
        p.send(addr, packet)?;
        let (ack, _) = p.recv("a packet")?;
        assert_eq!(field(&ack, 4), "33", "RECVMSG");
        assert_eq!(
            field(&ack, 5),
            "1700000001",
            "the acknowledged packet number"
        );
    }
    p.send_to(b"1:1700000002:iptux:mac:288:next\0", addr)
        .unwrap();
    p.recv("a packet")?;
    s.expect(l, "next")?;
    let out = s.output(l, Stream::Stdout);
    let shown = out.iter().filter(|l| l.ends_with(": twice")).count();
    assert_eq!(shown, 1);
    // The copy is not silent: listen says what it was.
    let copies = out.iter().filter(|l| l.contains("a copy")).count();
    assert_eq!(copies, 1, "{out:?}");
    Ok(())
}

/// iptux numbers its packets 1, 2, 3...: a forger who sends those numbers first, from the
/// friend's address and port, must not make the friend's real messages pass for copies
/// (acknowledged, so "delivered" for the friend, and never shown).
#[test]
fn a_number_sent_first_by_a_forger_does_not_hide_the_real_message() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let p = Peer::new()?;
    for n in 1..=3 {
        p.send(
            addr,
            format!("1:{n}:friend:pc:288:the exam moved to room 9\0").as_bytes(),
        )?;
        p.recv("the forged message's acknowledgement")?;
    }
    p.send(
        addr,
        b"1:1:friend:pc:288:the exam is in room 3, as planned\0",
    )?;
    let (ack, _) = p.recv("the real message's acknowledgement")?;
    assert_eq!(field(&ack, 5), "1");
    let line = s.expect(l, "as planned")?;
    assert_eq!(
        line,
        format!("{} friend@pc: the exam is in room 3, as planned", p.addr())
    );
    // Its copy, resent byte for byte, is a copy.
    p.send(
        addr,
        b"1:1:friend:pc:288:the exam is in room 3, as planned\0",
    )?;
    p.recv("the copy's acknowledgement")?;
    s.expect(l, "a copy")?;
    Ok(())
}

#[test]
fn listen_answers_an_entry_and_decodes_utf8() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let p = Peer::new()?;
    // iptux's entry: BR_ENTRY|ABSENCEOPT, UTF-8 text without the UTF8OPT bit.
    p.send_to(
        "1_iptux 0.10.0:5:lidaobing:mac:257:李\0group\0".as_bytes(),
        addr,
    )
    .unwrap();
    let (answer, _) = p.recv("a packet")?;
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
    let p = Peer::new()?;
    for bad in [
        &b""[..],
        b"hello",
        b"1:2:3:4:5",
        b"1:abc:u:h:32:x",
        b"1:99999999999999999999999:u:h:32:x",
        b"1:1:u:h:99999999999:x",
        b"\xff\xfe\xfd:\x00",
    ] {
        p.send(addr, bad)?;
        s.expect(l, "not an IPMsg packet")?;
    }
    // Bad GBK in a good packet is shown, not fatal.
    p.send(addr, b"1:9:u:h:32:ok\x81")?;
    s.expect(l, "ok\u{fffd} [not valid GBK")?;
    p.send(addr, b"1:10:u:h:32:still here")?;
    s.expect(l, "u@h")?;
    assert!(s.output(l, Stream::Stderr).is_empty());
    Ok(())
}

#[test]
fn send_reports_no_acknowledgement_within_its_timeout() -> Result<(), Failure> {
    let silent = Peer::new()?;
    let mut s = Scene::new();
    let to = silent.addr().to_string();
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
    let numbers: Vec<String> = (0..4)
        .map(|_| silent.recv("a packet").map(|(packet, _)| field(&packet, 1)))
        .collect::<Result<_, _>>()?;
    assert!(numbers.iter().all(|n| *n == numbers[0]), "{numbers:?}");
    s.expect(send, &format!("no acknowledgement from {to}"))?;
    assert_eq!(s.wait(send)?.code(), Some(1));
    Ok(())
}

/// The attack: an acknowledgement forged from another port of the peer's address (another
/// user of the same machine, or anyone who can write that source address). `send` resends
/// until the real peer, at the exact address and port it sent to, acknowledges.
#[test]
fn send_resends_until_the_peer_itself_acknowledges_and_ignores_a_forged_ack() -> Result<(), Failure>
{
    let peer_in = Peer::new()?;
    let forger = Peer::new()?;
    let mut s = Scene::new();
    let (send, sender) = s.start(
        "send",
        feiq(&[
            "send",
            "--bind",
            "127.0.0.1:0",
            "--to",
            &peer_in.addr().to_string(),
            "--timeout",
            "0.3",
            "--encoding",
            "utf-8",
            "late ack",
        ]),
    )?;
    let (first, _) = peer_in.recv("a packet")?;
    // UTF-8 sets UTF8OPT: SENDMSG | SENDCHECKOPT | UTF8OPT.
    assert_eq!(field(&first, 4), (0x20 | 0x100 | 0x80_0000).to_string());
    assert_eq!(field(&first, 5), "late ack");
    // The first try is acknowledged by the forger only.
    let ack = format!("1:1:peer:host:33:{}\0", field(&first, 1));
    forger.send(sender, ack.as_bytes())?;
    let (second, _) = peer_in.recv("a packet")?;
    assert_eq!(field(&second, 1), field(&first, 1));
    peer_in.send(sender, ack.as_bytes())?;
    s.expect(send, "delivered to")?;
    s.wait_success(send)?;
    let out = s.output(send, Stream::Stdout);
    assert_eq!(
        out.iter().filter(|l| l.starts_with("delivered")).count(),
        1,
        "{out:?}"
    );
    Ok(())
}

/// The attack: every acknowledgement forged, from every port but the peer's. Nothing is
/// delivered.
#[test]
fn forged_acknowledgements_deliver_nothing() -> Result<(), Failure> {
    let peer_in = Peer::new()?;
    let forger = Peer::new()?;
    let mut s = Scene::new();
    let to = peer_in.addr().to_string();
    let send = [
        "send",
        "--bind",
        "127.0.0.1:0",
        "--to",
        &to,
        "--timeout",
        "0.2",
        "x",
    ];
    let (send, sender) = s.start("send", feiq(&send))?;
    for _ in 0..4 {
        let (packet, _) = peer_in.recv("a packet")?;
        let ack = format!("1:1:peer:host:33:{}\0", field(&packet, 1));
        forger.send(sender, ack.as_bytes())?;
    }
    s.expect(send, "no acknowledgement from")?;
    let status = s.wait(send)?;
    assert_eq!(status.code(), Some(1));
    Ok(())
}

/// Ctrl-Z and `fg` while `send` waits for its acknowledgement: SIGSTOP and SIGCONT make the
/// receive (which has a timeout) fail with EINTR. Before the fix, `send` exited 1 with
/// "Interrupted system call".
#[test]
fn send_survives_being_stopped_and_continued_while_it_waits() -> Result<(), Failure> {
    let peer_in = Peer::new()?;
    let mut s = Scene::new();
    let to = peer_in.addr().to_string();
    let send = [
        "send",
        "--bind",
        "127.0.0.1:0",
        "--to",
        &to,
        "--timeout",
        "30",
        "x",
    ];
    let (send, sender) = s.start("send", feiq(&send))?;
    let (packet, _) = peer_in.recv("a packet")?;
    // Now it waits in recv_from, for up to 30 s.
    let pid = s.pid(send).unwrap().to_string();
    signal("-STOP", &pid);
    wait_for_state(&pid, 'T');
    signal("-CONT", &pid);
    let ack = format!("1:1:peer:host:33:{}\0", field(&packet, 1));
    peer_in.send(sender, ack.as_bytes())?;
    s.expect(send, "delivered to")?;
    s.wait_success(send)
}

fn signal(which: &str, pid: &str) {
    let status = Command::new("kill").args([which, pid]).status().unwrap();
    assert!(status.success());
}

/// Waits (up to 10 s) until process `pid` is in `state` (`/proc/PID/stat`'s third field).
fn wait_for_state(pid: &str, state: char) {
    for _ in 0..1000 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let now = stat
            .rsplit(") ")
            .next()
            .and_then(|rest| rest.chars().next());
        if now == Some(state) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("process {pid} never reached state {state}");
}

#[test]
fn no_check_sends_the_seeds_command_32_once() -> Result<(), Failure> {
    let p = Peer::new()?;
    let mut s = Scene::new();
    let send = s.spawn(
        "send",
        feiq(&[
            "send",
            "--bind",
            "127.0.0.1:0",
            "--to",
            &p.addr().to_string(),
            "--no-check",
            "plain",
        ]),
    )?;
    let (packet, _) = p.recv("a packet")?;
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
    let p = Peer::new()?;
    let mut s = Scene::new();
    let (l, _) = listen(&mut s, &["--announce", &p.addr().to_string()])?;
    let (entry, from) = p.recv("a packet")?;
    assert_eq!(field(&entry, 4), "1", "BR_ENTRY");
    // Answer as a client does; listen shows it.
    p.send(from, b"1:2:peer:host:3:nick\0")?;
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

fn send_to(to: SocketAddr, args: &[&str]) -> Command {
    let mut cmd = feiq(&["send", "--bind", "127.0.0.1", "--port", "0", "--to"]);
    cmd.arg(to.to_string()).args(args);
    cmd
}

/// A UDP port that was free a moment ago.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Issue 9, bug 1: six `send` runs in the same second, each acknowledged, were shown once.
#[test]
fn several_send_runs_in_one_second_are_all_shown() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let runs: Vec<_> = (0..6)
        .map(|i| s.spawn("send", send_to(addr, &[&format!("message {i}")])))
        .collect::<Result<_, _>>()?;
    for run in runs {
        s.expect(run, "delivered to")?;
        s.wait_success(run)?;
    }
    // Three runs one after the other from the same port, as `feiq send` runs on port 2425.
    let port = free_port().to_string();
    for word in ["first", "second", "third"] {
        let mut cmd = feiq(&["send", "--bind", "127.0.0.1", "--port", &port, "--to"]);
        cmd.arg(addr.to_string()).arg(word);
        let run = s.spawn("send", cmd)?;
        s.wait_success(run)?;
    }
    // Two programs on one host that both count from 1, as iptux does: not copies.
    for sender in [Peer::new()?, Peer::new()?] {
        sender
            .send_to(b"1:1:iptux:mac:288:counting from 1\0", addr)
            .unwrap();
        sender.recv("a packet")?;
    }
    // Both are shown, and so, before them, is everything else.
    s.expect(l, ": counting from 1")?;
    s.expect(l, ": counting from 1")?;
    let out = s.output(l, Stream::Stdout);
    for i in 0..6 {
        let text = format!(": message {i}");
        assert!(
            out.iter().any(|l| l.ends_with(&text)),
            "{text} not shown: {out:?}"
        );
    }
    for text in [": first", ": second", ": third"] {
        assert!(out.iter().any(|l| l.ends_with(text)), "{text}: {out:?}");
    }
    assert!(!out.iter().any(|l| l.contains("a copy")), "{out:?}");
    Ok(())
}

/// Issue 9, bug 2: short Chinese in GBK that is also valid UTF-8 (谢谢 is D0 BB D0 BB, UTF-8
/// "лл") is shown as Chinese, from the lesson's own sender and from Feiq-like senders.
#[test]
fn short_chinese_in_gbk_is_shown_right() -> Result<(), Failure> {
    const WORDS: [&str; 5] = ["谢谢", "哦", "小", "好的", "在吗"];
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    // `feiq send`, GBK by default: version 1, no UTF8OPT, nothing announced.
    let send = s.spawn("send", send_to(addr, &[]))?;
    for word in WORDS {
        s.send_line(send, word)?;
    }
    s.close_stdin(send)?;
    for word in WORDS {
        let line = s.expect(l, "tester@box")?;
        assert!(line.ends_with(&format!(": {word}")), "{line}");
    }
    s.wait_success(send)?;
    // A Feiq-like sender: Feiq's version field, GBK, SENDMSG|SENDCHECKOPT.
    let p = Peer::new()?;
    for (i, word) in WORDS.iter().enumerate() {
        let mut packet =
            format!("1_lbt6_0#128#000C294BBCAF#0#0#0#4001#9:{i}:feiq:pc:288:").into_bytes();
        packet.extend(common::Encoding::Gbk.encode(word).unwrap().iter());
        packet.push(0);
        p.send(addr, &packet)?;
        let line = s.expect(l, "feiq@pc")?;
        assert!(line.ends_with(&format!(": {word}")), "{line}");
    }
    Ok(())
}

/// iptux writes UTF-8 without UTF8OPT and says so in its entry: `...\0icon-tux.png\0utf-8`.
/// listen remembers it for that sender (address and port), even for text that a guess would
/// take for GBK ("café" in UTF-8 is valid GBK, "caf茅").
#[test]
fn an_announced_encoding_is_remembered_for_that_sender() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let iptux = Peer::new()?;
    iptux
        .send_to(
            b"1_iptux 0.8.3:1:root:vm:257:iptuxbot\0\0icon-tux.png\0utf-8\0",
            addr,
        )
        .unwrap();
    s.expect(l, "is online: iptuxbot")?;
    iptux
        .send_to("1_iptux 0.8.3:2:root:vm:288:谢谢\0".as_bytes(), addr)
        .unwrap();
    assert!(s.expect(l, "root@vm")?.ends_with(": 谢谢"));
    iptux
        .send_to("1:3:root:vm:288:café\0".as_bytes(), addr)
        .unwrap();
    let line = s.expect(l, "root@vm")?;
    assert!(line.ends_with(": café"), "{line}");
    Ok(())
}

/// The attack on the screen's share, which counts lines: a message of 65,000 control
/// characters, each shown as an escape, made a line of about 325,000 bytes (4,100 rows of an
/// 80-column terminal). Each field now shows its first 1,024 bytes.
#[test]
fn a_long_message_makes_a_short_line() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let p = Peer::new()?;
    let mut packet = b"1:1:u:h:32:".to_vec();
    packet.extend([1u8; 65_000]);
    p.send_to(&packet, addr).unwrap();
    let line = s.expect(l, "u@h")?;
    testkit::screen_flood::assert_capped(&line, 7000, 63976);
    Ok(())
}

/// Issue 10, item 12: a right-to-left override in any field a peer writes is shown escaped,
/// so `abc\u{202e}txt.exe` cannot display as `abcexe.txt`.
#[test]
fn bidi_controls_from_a_peer_are_escaped_everywhere() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let p = Peer::new()?;
    let rlo = "\u{202e}";
    p.send_to(
        format!("1:1:u{rlo}x:h{rlo}y:32:abc{rlo}txt.exe").as_bytes(),
        addr,
    )
    .unwrap();
    p.send_to(format!("1:2:u:h:1:nick{rlo}name\0").as_bytes(), addr)
        .unwrap();
    let message = s.expect(l, "abc")?;
    assert_eq!(
        message,
        format!(
            "{} u\\u{{202e}}x@h\\u{{202e}}y: abc\\u{{202e}}txt.exe",
            p.addr()
        )
    );
    let entry = s.expect(l, "is online")?;
    assert!(entry.ends_with("nick\\u{202e}name"), "{entry}");
    let everything = s.output(l, Stream::Stdout).join("\n");
    assert!(!everything.contains(rlo), "{everything}");
    Ok(())
}

/// Issue 10, item 11: an 8-byte BR_ENTRY from a (forged) source gets an answer several times
/// its size. A flood of them from one address gets a bounded number of answers.
#[test]
fn a_flood_of_entries_from_one_address_gets_few_answers() -> Result<(), Failure> {
    const FLOOD: usize = 100;
    let mut s = Scene::new();
    let (l, addr) = listen(
        &mut s,
        &["--user", "a-rather-long-nickname-for-amplification"],
    )?;
    let victim = Peer::new()?;
    for _ in 0..FLOOD {
        victim.send(addr, b"1:1:a:b:1:")?;
    }
    // Another address marks the end of the flood: packets are handled in order, and on
    // loopback an answer is queued at the victim before send_to returns.
    let marker = Peer::on("127.0.0.2:0")?;
    marker.send(addr, b"1:1:end:of:32:flood")?;
    s.expect(l, "end@of")?;
    let waiting = victim.waiting();
    let answers = waiting.len();
    let bytes: usize = waiting.iter().map(Vec::len).sum();
    assert!(
        (1..=30).contains(&answers),
        "{answers} answers, {bytes} bytes for {FLOOD} entries"
    );
    let limited: Vec<String> = s
        .output(l, Stream::Stdout)
        .into_iter()
        .filter(|l| l.starts_with("not answering 127.0.0.1"))
        .collect();
    assert_eq!(limited.len(), 1, "{limited:?}");
    Ok(())
}

/// The attack: spend a victim's answers, then name 256 other (forged) sources, which
/// pushed the victim out of a table of the last 256 and gave it a fresh budget: 4,890
/// answers in 5 s against a design limit of 70. Here 300 loopback addresses play the forged
/// sources; the victim gets its burst and what the rate earns while the test runs.
#[test]
fn other_sources_do_not_refill_a_victims_answers() -> Result<(), Failure> {
    const ROUNDS: usize = 5;
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let victim = Peer::new()?;
    let others: Vec<Peer> = (0..300u32)
        .map(|i| {
            let [_, _, a, b] = (i + 2).to_be_bytes();
            Peer::on((std::net::Ipv4Addr::new(127, 0, a, b), 0))
        })
        .collect::<Result<_, _>>()?;
    // A marker source after every hundred packets: packets are handled in order, so once
    // listen has shown the marker it has answered everything before it (and the next
    // hundred fit in its receive buffer).
    let marker = Peer::on("127.0.99.1:0")?;
    let mut marks = 0;
    let mut sync = |s: &mut Scene| -> Result<(), Failure> {
        marks += 1;
        let mark = format!("1:1:mark:{marks}:32:x");
        marker.send(addr, mark.as_bytes())?;
        s.expect(l, &format!("mark@{marks}:"))?;
        Ok(())
    };
    let start = std::time::Instant::now();
    for _ in 0..ROUNDS {
        for _ in 0..30 {
            victim.send(addr, b"1:1:a:b:1:")?;
        }
        for hundred in others.chunks(100) {
            sync(&mut s)?;
            for other in hundred {
                other.send(addr, b"1:1:a:b:1:")?;
            }
        }
        sync(&mut s)?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let answers = victim.waiting().len() as f64;
    let allowed = 20.0 + 10.0 * elapsed;
    assert!(
        answers <= allowed + 1.0,
        "{answers} answers to the victim in {elapsed:.2} s (allowed {allowed:.0})"
    );
    Ok(())
}

#[test]
fn send_says_bound_not_listening_and_prompts_nothing_into_a_pipe() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let send = s.spawn("send", send_to(addr, &[]))?;
    s.send_line(send, "piped")?;
    s.close_stdin(send)?;
    s.expect(l, ": piped")?;
    s.wait_success(send)?;
    let out = s.output(send, Stream::Stdout);
    assert!(out[0].starts_with("bound to 127.0.0.1:"), "{out:?}");
    assert!(!out.iter().any(|l| l.contains("message>")), "{out:?}");
    assert_eq!(out.len(), 3, "bound, sent, delivered: {out:?}");
    Ok(())
}

#[test]
fn to_repeats_and_port_sets_our_end() -> Result<(), Failure> {
    let (a, b) = (Peer::new()?, Peer::new()?);
    let port = free_port();
    let mut s = Scene::new();
    let mut cmd = feiq(&["send", "--no-check", "--bind", "127.0.0.1", "--port"]);
    cmd.arg(port.to_string())
        .args(["--to", &a.addr().to_string()])
        .args(["--to", &b.addr().to_string(), "to both"]);
    let send = s.spawn("send", cmd)?;
    for p in [&a, &b] {
        let (packet, from) = p.recv("a packet")?;
        assert_eq!(from.port(), port);
        assert_eq!(field(&packet, 5), "to both");
    }
    s.wait_success(send)
}

#[test]
fn gb18030_writes_what_gbk_cannot_and_names_are_taken_in_any_case() -> Result<(), Failure> {
    let p = Peer::new()?;
    let to = p.addr().to_string();
    let mut s = Scene::new();
    let mut cmd = feiq(&["send", "--no-check", "--encoding", "GB18030", "--port", "0"]);
    cmd.args(["--to", &to, "笑😀"]);
    let send = s.spawn("send", cmd)?;
    let (packet, _) = p.recv("a packet")?;
    // 笑 in GBK, then 😀 as a GB18030 four-byte sequence; no UTF8OPT.
    assert!(
        packet.ends_with(b":32:\xd0\xa6\x94\x39\xfc\x36\0"),
        "{packet:x?}"
    );
    s.wait_success(send)?;
    // And listen reads it back, guessed or forced.
    for args in [&[][..], &["--encoding", "gb18030"]] {
        let (l, addr) = listen(&mut s, args)?;
        p.send(addr, &packet)?;
        assert!(s.expect(l, "tester@box")?.ends_with(": 笑😀"));
    }
    // GBK cannot write 😀: an error that names the way out.
    cargo_bin_cmd!("feiq")
        .args([
            "send",
            "--encoding",
            "GBK",
            "--port",
            "0",
            "--to",
            &to,
            "😀",
        ])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--encoding utf-8 (or gb18030)"));
    cargo_bin_cmd!("feiq")
        .args([
            "send",
            "--encoding",
            "UTF8",
            "--no-check",
            "--port",
            "0",
            "--to",
            &to,
            "ok",
        ])
        .timeout(Duration::from_secs(10))
        .assert()
        .success();
    Ok(())
}

#[test]
fn a_busy_port_hint_names_port_and_no_time_wait() {
    let busy = testkit::BusyPort::udp().unwrap();
    for sub in [&["send", "--to", "127.0.0.1", "hi"][..], &["listen"]] {
        let out = cargo_bin_cmd!("feiq")
            .args(sub)
            .args(["--bind", "127.0.0.1", "--port", &busy.port()])
            .timeout(Duration::from_secs(10))
            .output()
            .unwrap();
        busy.assert_refused(&out);
    }
}

/// feiq must answer a BR_ENTRY sent to the network's broadcast address (that is how clients
/// find each other), and its answers stay limited: 30 forged broadcasts from one address get
/// 20 answers. Run in a private network namespace, as root; skipped otherwise.
#[test]
fn a_broadcast_entry_is_answered_within_the_limit() -> Result<(), Failure> {
    let netns = match testkit::netns::Netns::new("feiq") {
        Ok(netns) => netns,
        Err(why) => {
            eprintln!("skipped: {why}");
            return Ok(());
        }
    };
    let mut s = Scene::new();
    let cmd = feiq(&["listen", "--bind", "0.0.0.0", "--port", "0"]);
    let (l, addr) = s.start("listen", netns.exec(&cmd))?;
    let script = "import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind((sys.argv[1], 0))
for _ in range(30):
    s.sendto(b'1:1:a:b:1:', (sys.argv[2], int(sys.argv[3])))
s.settimeout(2)
n = 0
try:
    while True:
        s.recvfrom(4096); n += 1
except socket.timeout:
    pass
print('answers:', n)";
    let mut python = Command::new("python3");
    let (me, all, port) = (
        netns.addr.to_string(),
        netns.broadcast.to_string(),
        addr.port().to_string(),
    );
    python.args(["-c", script, &me, &all, &port]);
    let client = s.spawn("client", netns.exec(&python))?;
    s.expect(l, "is online")?;
    s.expect(l, "answered")?;
    assert_eq!(s.expect(client, "answers:")?, "answers: 20");
    s.wait_success(client)
}

/// The attack: `listen --announce` keeps SO_BROADCAST on its socket, and an entry forged from
/// the LAN's broadcast address (a raw socket writes any source) had its ANSENTRY sent to every
/// machine of the LAN: here three sockets on the forged port each got one. SO_BROADCAST now
/// goes once the announcement is out: none. Run in a private network namespace, as root;
/// skipped otherwise.
#[test]
fn an_entry_forged_from_the_broadcast_address_is_not_answered_to_all() -> Result<(), Failure> {
    // From the network's broadcast address, and from the all-hosts group, which every
    // machine's interface has joined; bound to `::`, the source is seen as `[::ffff:...]`.
    for bind in ["0.0.0.0", "::"] {
        forged_from(bind, None)?;
        forged_from(bind, Some("224.0.0.1"))?;
    }
    Ok(())
}

/// An entry forged from `source` (the namespace's broadcast address if `None`).
fn forged_from(bind: &str, source: Option<&str>) -> Result<(), Failure> {
    let netns = match testkit::netns::Netns::new("feiqsrc") {
        Ok(netns) => netns,
        Err(why) => {
            eprintln!("skipped: {why}");
            return Ok(());
        }
    };
    let mut s = Scene::new();
    let announce = format!("{}:9", netns.broadcast);
    let cmd = feiq(&[
        "listen",
        "--bind",
        bind,
        "--port",
        "0",
        "--announce",
        &announce,
    ]);
    let (l, addr) = s.start("listen", netns.exec(&cmd))?;
    s.expect(l, "announced ourselves")?;
    let script = "import socket, struct, sys
me, all, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
rs = []
for _ in range(3):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    r.bind(('0.0.0.0', 40000)); r.settimeout(1); rs.append(r)
data = b'1:1:a:b:1:'
udp = struct.pack('!HHHH', 40000, port, 8 + len(data), 0) + data
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                 socket.inet_aton(all), socket.inet_aton(me))
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).sendto(ip + udp, (me, 0))
n = 0
for r in rs:
    try:
        r.recvfrom(4096); n += 1
    except socket.timeout:
        pass
print('answers:', n)";
    let mut python = Command::new("python3");
    let (me, all, port) = (
        netns.addr.to_string(),
        source.map_or(netns.broadcast.to_string(), String::from),
        addr.port().to_string(),
    );
    python.args(["-c", script, &me, &all, &port]);
    let client = s.spawn("client", netns.exec(&python))?;
    s.expect(l, "is online")?;
    if let Some(source) = source {
        let refused = s.expect(l, "not answering")?;
        let seen = match bind {
            "::" => format!("not answering [::ffff:{source}]:40000"),
            _ => format!("not answering {source}:40000"),
        };
        assert!(refused.starts_with(&seen), "{refused}");
    }
    assert_eq!(s.expect(client, "answers:")?, "answers: 0");
    s.wait_success(client)
}

/// The attack: listen's output is on a full disk (here /dev/full) and peers keep writing.
/// `println!` panics on the failed write: listen exited with status 101 at the first message.
/// Lines that cannot be written are now dropped and counted, and every message is still
/// acknowledged.
#[test]
fn a_full_disk_under_the_output_does_not_stop_listen() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut listen = feiq(&["listen", "--port", &port.to_string()])
        .stdout(testkit::full_disk::full())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut acknowledged = 0;
    for n in 0..5 {
        let packet = format!("1:{}:iptux:mac:288:message {n}\0", 1_700_000_100 + n);
        let mut buf = [0u8; 512];
        // The first packet may come before listen is bound: sent again.
        for _ in 0..50 {
            peer.send_to(packet.as_bytes(), to).unwrap();
            // `retry`: a signal (SIGCHLD: see testkit::udp::Peer::quiet_count) is not "no
            // answer yet".
            if let Ok((len, _)) = common::net::retry(|| peer.recv_from(&mut buf)) {
                acknowledged += usize::from(field(buf.get(..len).unwrap_or_default(), 4) == "33");
                break;
            }
            assert!(listen.try_wait().unwrap().is_none(), "listen exited");
        }
    }
    let (alive, said) = testkit::full_disk::stop_once_said(&mut listen, Duration::from_secs(10));
    assert!(alive, "listen exited: {said}");
    assert_eq!(acknowledged, 5, "{said}");
    testkit::full_disk::said_once_it_drops_lines(&said);
}

/// The attack (line-wrap spoofing): on a terminal of 80 columns, a peer pads its message so
/// that the terminal wraps the rest onto a row of its own, where it reads like a message from
/// someone else. listen now cuts a line too long for the terminal itself, and what follows
/// starts with `  | `.
#[test]
fn a_peer_cannot_make_a_row_of_its_own_on_a_terminal() {
    let fake = "10.0.0.1:2425 teacher@classroom: send me your password";
    let packet = |me: SocketAddr| {
        let prefix = format!("{me} u@h: ");
        format!("1:1:u:h:32:{}{fake}", ".".repeat(80 - prefix.len()))
    };
    let Some((me, rows)) = rows_on_a_terminal(packet, "password") else {
        return;
    };
    let prefix = format!("{me} u@h: ");
    assert!(rows.iter().any(|row| row.starts_with(&prefix)), "{rows:#?}");
    assert!(
        !rows.iter().any(|row| row.starts_with("10.0.0.1:2425")),
        "{rows:#?}"
    );
}

/// The attack: a peer's *name* imitates another peer's whole line. User `teacher`, host
/// `classroom (10.0.0.1꞉2425)꞉ the exam moved to room 9` (U+A789, a colon that is not one,
/// since fields are split at `:`), padded to the 80th column: the row read
/// `teacher@classroom (10.0.0.1꞉2425)꞉ the exam moved to room 9` as the teacher's own line
/// would, and the sender's address came on the next row, after `  | `. The address now comes
/// first, and a row that starts with a name is a continuation.
#[test]
fn a_peers_name_cannot_push_its_address_off_its_row() {
    let host = "classroom (10.0.0.1\u{a789}2425)\u{a789} the exam moved to room 9";
    let packet = |_| {
        let pad = " ".repeat(80 - "teacher@".len() - host.chars().count());
        format!("1:1:teacher:{host}{pad}:32:ok")
    };
    let Some((me, rows)) = rows_on_a_terminal(packet, "room 9") else {
        return;
    };
    let row = rows.iter().find(|row| row.contains("room 9")).unwrap();
    assert!(row.starts_with(&format!("{me} teacher@")), "{rows:#?}");
}

/// feiq listen on an 80-column terminal gets one packet, `packet(its sender)`: the sender and
/// the rows the terminal shows once `until` is shown. `None` when script(1) is missing.
fn rows_on_a_terminal(
    packet: impl Fn(SocketAddr) -> String,
    until: &str,
) -> Option<(SocketAddr, Vec<String>)> {
    let bin = env!("CARGO_BIN_EXE_feiq");
    let args = ["--user", "tester", "--host", "box", "listen", "--port", "0"];
    let Some(mut tty) = testkit::pty::Pty::spawn(bin, &args) else {
        eprintln!("skipped: script(1), which makes the terminal, is not installed");
        return None;
    };
    let shown = tty.wait_for("(udp)").unwrap();
    let port = shown
        .split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = peer.local_addr().unwrap();
    peer.send_to(packet(me).as_bytes(), format!("127.0.0.1:{port}"))
        .unwrap();
    let shown = tty.wait_for(until).unwrap();
    // The rows an 80-column terminal shows: every line cut every 80 characters.
    let rows = shown
        .split('\n')
        .flat_map(|line| {
            let chars: Vec<char> = line.trim_end_matches('\r').chars().collect();
            chars
                .chunks(80)
                .map(|c| c.iter().collect())
                .collect::<Vec<String>>()
        })
        .collect();
    Some((me, rows))
}

/// `feiq send` with its stdout on a full disk (/dev/full): `println!` panicked at
/// `sending to ...` (status 101 and a backtrace); it now stops with an error and status 1,
/// before sending what it could not report on.
#[test]
fn a_full_disk_under_stdout_stops_send_with_an_error() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (_listen, addr) = listen(&mut s, &[])?;
    let mut cmd = feiq(&["send", "--port", "0", "--to", &addr.to_string(), "hello"]);
    cmd.args(["--timeout", "1"]);
    let (code, said) = testkit::full_disk::run_client(cmd, b"", Duration::from_secs(20));
    testkit::full_disk::stopped_with_an_error(code, &said);
    Ok(())
}

/// `feiq send` reading a terminal, its stdout on a full disk: the prompt, `message> `, was
/// written with `print!`, which panicked (status 101 and a backtrace) before a line was read.
/// The line typed is now read, and the first line written stops it with an error.
#[test]
fn a_full_disk_under_the_prompt_stops_send_with_an_error() {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = peer.local_addr().unwrap().to_string();
    let bin = env!("CARGO_BIN_EXE_feiq");
    let line = format!("exec '{bin}' send --port 0 --to {to} > /dev/full");
    let Some(mut tty) = testkit::pty::Pty::spawn("sh", &["-c", &line]) else {
        eprintln!("skipped: script(1), which makes the terminal, is not installed");
        return;
    };
    tty.type_keys("hello\r");
    let said = tty.wait_for_end().unwrap();
    assert!(!said.contains("panicked"), "{said}");
    assert!(
        said.contains("error: cannot write to stdout: No space left on device"),
        "{said}"
    );
}

/// A stranger at 127.0.0.2 sends 2,000 messages, then a friend one: the friend's line came
/// after every one of the stranger's (19,944 of them in a flood of 20,000). Now an address
/// shows 100 lines at once, then 10 a second, and a count of what it was not shown.
#[test]
fn a_flood_from_one_address_does_not_bury_anothers_messages() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (listen, at) = listen(&mut s, &[])?;
    let spam = |i: usize| format!("1:{i}:spam:box:32:spam {i}").into_bytes();
    let hello = b"1:1:friend:pc:32:hi from your friend";
    testkit::screen_flood::check(&mut s, listen, at, spam, hello, "hi from your friend")
}

/// The attack (attack12): listen's stdout is a pipe that nobody reads (`feiq listen |
/// slow-program`), and peers announce themselves (BR_ENTRY), each from its own address. Each
/// line was written at once: once the pipe's 64 KiB were full, listen waited in `write(1)` and
/// answered nobody. The lines now go through the log's queue, which drops what it cannot write.
#[test]
fn a_log_nobody_reads_does_not_stop_listen() {
    let unread = testkit::unread_log::start(&mut feiq(&["listen", "--port", "0"]));
    let addr = unread.addr;
    // Two lines each, about 200 bytes: 1,000 entries make three pipes' worth.
    let name = "x".repeat(60);
    for i in 0..1000u32 {
        let from = format!("127.0.{}.{}:0", 1 + i / 200, 1 + i % 200);
        let peer = UdpSocket::bind(&from).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let entry = format!("1:{i}:{name}:host:1:{name}\0");
        peer.send_to(entry.as_bytes(), addr).unwrap();
        let answered = common::net::retry(|| peer.recv_from(&mut [0u8; 1024]));
        assert!(answered.is_ok(), "entry {i} from {from}: {answered:?}");
    }
}

/// The attack (attack13): BR_ENTRYs forged from many addresses, each within its own budget
/// of answers. From 10,000 addresses, 25 each, listen sent 136,481 ANSENTRYs in 4 s (3.7 MB
/// for 2.5 MB in). All addresses together now get 1,000 answers at once, then 100 a second:
/// here entries from up to 5,000 addresses, one each, in turn, until one is not answered.
#[test]
fn entries_from_many_addresses_get_answers_within_a_total() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = s.start("listen", feiq(&["listen", "--port", "0"]))?;
    let mut answered = 0;
    for i in 0..5000u32 {
        let peer = UdpSocket::bind(format!("127.3.{}.{}:0", i / 250, 1 + i % 250)).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        peer.send_to(format!("1:{i}:a:b:1:").as_bytes(), addr)
            .unwrap();
        // `retry`: a signal (SIGCHLD: see testkit::udp::Peer::quiet_count) is not "no answer".
        if common::net::retry(|| peer.recv_from(&mut [0u8; 1024])).is_err() {
            break;
        }
        answered += 1;
    }
    assert!(answered < 5000, "all 5,000 entries were answered");
    assert!(answered >= 1000, "only {answered} entries were answered");
    s.expect(l, "to all addresses together")?;
    Ok(())
}

/// The attack (attack22): datagrams from a friend's IP address, 50 a second from any port
/// (a forger writes that source with a raw socket; here another socket on 127.0.0.1), keep
/// the address's screen share empty. The friend's 10 messages were all acknowledged, so
/// `send` said "delivered" 10 times, and 1 was shown. A message not shown is now not
/// acknowledged: it is shown when a resend finds the share refilled, or the sender hears of
/// no acknowledgement.
#[test]
fn a_message_not_shown_is_not_acknowledged() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (l, addr) = listen(&mut s, &[])?;
    let forger = Peer::new()?;
    let friend = Peer::new()?;
    // The share refills at 10 a second: a stall of 0.1 s in listen just before the message
    // would give it a line of its own, and then its acknowledgement. Three tries.
    let mut hidden = None;
    for n in 1..=3u64 {
        for _ in 0..150 {
            forger.send(addr, b"x")?;
        }
        let message = format!("1:{n}:friend:pc:288:the exam moved to room {n}\0");
        friend.send(addr, message.as_bytes())?;
        // An entry from the same socket is answered, over the share or not: its answer
        // comes first if the message, before it, got none.
        friend.send(
            addr,
            format!("1:{}:friend:pc:1:friend\0", 100 + n).as_bytes(),
        )?;
        let (answer, _) = friend.recv("an answer to the entry")?;
        let command: u32 = field(&answer, 4).parse().unwrap_or_default();
        if command & 0xff == 0x03 {
            hidden = Some((n, message));
            break;
        }
        // The message was acknowledged: then it must have been shown.
        s.expect(l, &format!("friend@pc: the exam moved to room {n}"))?;
        friend.recv("the answer to the entry, after the acknowledgement")?;
    }
    let Some((n, message)) = hidden else {
        return Err(Failure::new(
            "each of 3 messages over the share was acknowledged (RECVMSG before ANSENTRY)",
        ));
    };
    // Sent again, as `send` does, until the share has room: shown, then acknowledged.
    let ack = friend.ask_until_answered(addr, message.as_bytes(), Duration::from_secs(5))?;
    assert_eq!(field(&ack, 5), n.to_string());
    let line = s.expect(l, &format!("room {n}"))?;
    assert_eq!(
        line,
        format!("{} friend@pc: the exam moved to room {n}", friend.addr())
    );
    Ok(())
}

/// The attack (attack22): listen's stdout is a pipe that nobody reads (`feiq listen | less`,
/// nobody scrolling), and 6,000 lines from strangers fill it and the log's queue. The lines
/// after are dropped (`common::log`), and a friend's 10 messages were all acknowledged and
/// none was shown. A message whose line is dropped is not acknowledged either.
#[test]
fn a_message_whose_line_is_dropped_is_not_acknowledged() -> Result<(), Failure> {
    let unread = testkit::unread_log::start(&mut feiq(&["listen", "--port", "0"]));
    let addr = unread.addr;
    // 80 addresses, each 100 lines (its share at once) and an entry, whose answer says that
    // listen has taken them all: 8,000 lines (the entry, each address's 101st datagram, shows
    // none), more than the pipe and the queue hold.
    for i in 0..80u8 {
        let stranger = Peer::on(format!("127.0.9.{}:0", 1 + i))?;
        for _ in 0..100 {
            stranger.send(addr, b"not IPMsg")?;
        }
        stranger.ask(addr, b"1:1:a:b:1:\0")?;
    }
    let friend = Peer::new()?;
    friend.send(addr, b"1:7:friend:pc:288:the exam moved to room 9\0")?;
    friend.send(addr, b"1:8:friend:pc:1:friend\0")?;
    let (answer, _) = friend.recv("an answer to the entry")?;
    let command: u32 = field(&answer, 4).parse().unwrap_or_default();
    assert_eq!(
        command & 0xff,
        0x03,
        "the first answer was not ANSENTRY: {}",
        String::from_utf8_lossy(&answer)
    );
    Ok(())
}
