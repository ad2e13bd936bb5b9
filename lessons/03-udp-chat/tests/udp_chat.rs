//! udp-chat as users run it: two real chat processes on loopback, port 0, and strangers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use testkit::udp::Peer;
use testkit::{Failure, Proc, Scene, Stream};

fn chat(scene: &mut Scene, label: &str, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-chat"));
    cmd.args(["--port", "0"]).args(args);
    scene.start(label, cmd)
}

#[test]
fn two_chats_talk_both_ways() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (a, a_addr) = chat(&mut s, "a", &[])?;
    let (b, b_addr) = chat(&mut s, "b", &["--to", &a_addr.to_string()])?;
    s.send_line(b, "hi a, 你好")?;
    assert_eq!(s.expect(b, "sent")?, format!("sent 12 bytes to {a_addr}"));
    assert_eq!(s.expect(a, "from")?, format!("from {b_addr}: hi a, 你好"));
    // a has no peer yet: /reply talks to whoever wrote last.
    s.send_line(a, "/reply")?;
    assert_eq!(
        s.expect(a, "now talking to")?,
        format!("now talking to {b_addr}")
    );
    s.send_line(a, "/reply hello b")?;
    assert_eq!(s.expect(b, "from")?, format!("from {a_addr}: hello b"));
    // Both keep going in both directions.
    s.send_line(a, "and again")?;
    s.expect(b, "from")?;
    s.send_line(b, "bye")?;
    s.expect(a, &format!("from {b_addr}: bye"))?;
    Ok(())
}

#[test]
fn peer_switches_where_lines_go() -> Result<(), Failure> {
    let mut s = Scene::new();
    let first = Peer::new()?;
    let second = Peer::new()?;
    let first_addr = first.addr().to_string();
    let (a, _) = chat(&mut s, "a", &["--to", &first_addr])?;
    s.send_line(a, "one")?;
    assert_eq!(first.recv("\"one\"")?.0, b"one");
    s.send_line(a, &format!("/peer {}", second.addr()))?;
    s.expect(a, "now talking to")?;
    s.send_line(a, "two")?;
    assert_eq!(second.recv("\"two\"")?.0, b"two");
    Ok(())
}

#[test]
fn a_message_from_an_unknown_address_is_shown() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (a, a_addr) = chat(&mut s, "a", &["--to", "127.0.0.1:9"])?;
    let stranger = Peer::new()?;
    stranger.send(a_addr, b"who am I?")?;
    assert_eq!(
        s.expect(a, "from")?,
        format!("from {}: who am I?", stranger.addr())
    );
    Ok(())
}

/// The attack on the screen's share, which counts lines: one datagram of 65,507 control
/// characters, each shown as an escape, made a line of 327,557 bytes (4,368 rows of an
/// 80-column terminal), and one stranger's 5 s of them 617,955 rows. A line now shows the
/// first 1,024 bytes of a datagram.
#[test]
fn a_long_datagram_makes_a_short_line() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (a, a_addr) = chat(&mut s, "a", &[])?;
    let stranger = Peer::new()?;
    stranger.send(a_addr, &[1u8; 65_507])?;
    let line = s.expect(a, "from")?;
    testkit::screen_flood::assert_capped(&line, 7000, 64483);
    Ok(())
}

/// 500 combining acute accents after one letter: all 500 reached the terminal, stacked on
/// one column (1,000 bytes of marks). A letter now keeps four; the rest are escapes.
#[test]
fn a_flood_of_combining_marks_is_escaped() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (a, a_addr) = chat(&mut s, "a", &[])?;
    let stranger = Peer::new()?;
    let flood = format!("a{}bc", "\u{301}".repeat(500));
    stranger.send(a_addr, flood.as_bytes())?;
    let line = s.expect(a, "from")?;
    assert!(line.ends_with("bc"), "{line:?}");
    assert_eq!(line.matches('\u{301}').count(), 4, "{line:?}");
    assert_eq!(line.matches("\\u{301}").count(), 496, "{line:?}");
    Ok(())
}

#[test]
fn bad_datagrams_do_not_stop_the_receiving_thread() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (a, a_addr) = chat(&mut s, "a", &[])?;
    let stranger = Peer::new()?;
    for bad in [
        &b"\xff\xfe\x00"[..],
        b"",
        b"\x1b[2J",
        "abc\u{202e}txt.exe".as_bytes(),
    ] {
        stranger.send(a_addr, bad)?;
    }
    stranger.send(a_addr, b"still listening?")?;
    let from = stranger.addr();
    s.expect(a, "[not valid UTF-8")?;
    // An empty datagram is shown as one, as in every lesson.
    assert_eq!(s.expect(a, "from")?, format!("from {from}: [0 bytes]"));
    assert_eq!(s.expect(a, "from")?, format!("from {from}: \\u{{1b}}[2J"));
    // A right-to-left override cannot make "abc<RLO>txt.exe" look like "abcexe.txt".
    assert_eq!(
        s.expect(a, "from")?,
        format!("from {from}: abc\\u{{202e}}txt.exe")
    );
    s.expect(a, ": still listening?")?;
    // Piped input: no prompt anywhere.
    assert!(!s.output(a, Stream::Stdout).iter().any(|l| l.contains("> ")));
    assert!(s.output(a, Stream::Stderr).is_empty());
    Ok(())
}

#[test]
fn an_unresolvable_peer_is_an_error_line_and_the_chat_goes_on() -> Result<(), Failure> {
    let mut s = Scene::new();
    let friend = Peer::new()?;
    let (a, _) = chat(&mut s, "a", &["--to", &friend.addr().to_string()])?;
    s.send_line(a, "/peer no-such-host.invalid")?;
    s.expect_on(
        a,
        Stream::Stderr,
        "error: cannot talk to \"no-such-host.invalid\"",
    )?;
    s.expect_on(a, Stream::Stderr, "hint: check the spelling")?;
    s.send_line(a, "/peer 127.0.0.1:99999")?;
    s.expect_on(a, Stream::Stderr, "not a port")?;
    s.send_line(a, "/nonsense")?;
    s.expect_on(a, Stream::Stderr, "unknown command \"nonsense\"")?;
    // The peer is unchanged, and the chat still works.
    s.send_line(a, "still here")?;
    assert_eq!(friend.recv("\"still here\"")?.0, b"still here");
    Ok(())
}

/// A stranger's datagram a moment before Enter made it "whoever wrote last": `/reply TEXT`
/// used to send TEXT to the stranger. It goes only to the peer the prompt named.
#[test]
fn a_reply_never_goes_to_a_sender_the_prompt_did_not_name() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (friend, attacker) = (Peer::new()?, Peer::new()?);
    let friend_addr = friend.addr();
    let attacker_addr = attacker.addr();
    let (a, a_addr) = chat(&mut s, "a", &[])?;
    friend.send(a_addr, b"what is the password?")?;
    s.expect(a, &format!("from {friend_addr}: what is"))?;
    s.send_line(a, "/reply")?;
    s.expect(a, &format!("now talking to {friend_addr}"))?;
    attacker.send(a_addr, b"")?;
    s.expect(a, &format!("from {attacker_addr}: [0 bytes]"))?;
    s.send_line(a, "/reply hunter2")?;
    s.expect_on(
        a,
        Stream::Stderr,
        "error: not sent: /reply TEXT goes only to",
    )?;
    s.send_line(a, "/quit")?;
    s.wait_success(a)?;
    assert!(
        !s.output(a, Stream::Stdout)
            .iter()
            .any(|l| l.starts_with("sent")),
        "nothing may be sent"
    );
    // A send on loopback is queued at the receiver before send_to returns.
    assert!(attacker.waiting().is_empty(), "the attacker got it");
    Ok(())
}

#[test]
fn without_a_peer_a_line_gets_an_error_and_reply_needs_a_sender() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (a, _) = chat(&mut s, "a", &[])?;
    s.send_line(a, "into the void")?;
    s.expect_on(a, Stream::Stderr, "error: no peer yet")?;
    s.send_line(a, "/reply")?;
    s.expect_on(a, Stream::Stderr, "error: nobody has written yet")?;
    s.expect_on(
        a,
        Stream::Stderr,
        "hint: /reply answers whoever wrote last; wait for a message, \
         or choose a peer with /peer HOST:PORT",
    )?;
    s.send_line(a, "/quit")?;
    s.wait_success(a)
}

#[test]
fn ends_cleanly_on_quit_and_on_eof() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (a, _) = chat(&mut s, "a", &[])?;
    s.send_line(a, "/quit")?;
    s.expect(a, "bye")?;
    s.wait_success(a)?;
    let (b, _) = chat(&mut s, "b", &[])?;
    s.close_stdin(b)?;
    s.wait_success(b)
}

#[test]
fn gbk_both_ways() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (a, a_addr) = chat(&mut s, "a", &["--encoding", "GBK"])?;
    let (b, _) = chat(
        &mut s,
        "b",
        &["--encoding", "gbk", "--to", &a_addr.to_string()],
    )?;
    s.send_line(b, "你好")?;
    s.expect(b, "sent 4 bytes")?;
    assert!(s.expect(a, "from")?.ends_with(": 你好"));
    Ok(())
}

#[test]
fn a_message_too_long_for_a_datagram_is_an_error_naming_the_limit() -> Result<(), Failure> {
    let mut s = Scene::new();
    let friend = Peer::new()?;
    let (a, _) = chat(&mut s, "a", &["--to", &friend.addr().to_string()])?;
    s.send_line(a, &"x".repeat(70_000))?;
    s.expect_on(
        a,
        Stream::Stderr,
        "error: message not sent: 70000 bytes do not fit in one UDP datagram",
    )?;
    s.expect_on(
        a,
        Stream::Stderr,
        "hint: a UDP datagram carries at most 65507 bytes over IPv4",
    )?;
    s.send_line(a, "short")?;
    assert_eq!(friend.recv("\"short\"")?.0, b"short");
    Ok(())
}

#[test]
fn a_port_in_use_is_an_error_whose_hint_names_its_own_flags() {
    use assert_cmd::cargo::cargo_bin_cmd;
    let busy = testkit::BusyPort::udp().unwrap();
    let out = cargo_bin_cmd!("udp-chat")
        .args(["--port", &busy.port()])
        .write_stdin("")
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    busy.assert_refused(&out);
    assert!(out.stdout.is_empty());
}

#[test]
fn the_peer_is_named_with_to_not_peer() {
    use assert_cmd::cargo::cargo_bin_cmd;
    cargo_bin_cmd!("udp-chat")
        .args(["--port", "0", "--peer", "127.0.0.1:6667"])
        .write_stdin("")
        .timeout(Duration::from_secs(10))
        .assert()
        .code(2);
}

/// A peer that answers at once: each "sent" line comes before the answer it caused, however
/// the two threads are scheduled (the sender holds stdout from `send_to` to its line).
#[test]
fn an_answer_is_never_printed_before_the_message_that_caused_it() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let echo = Peer::new().unwrap();
    let echo_addr = echo.addr();
    let rounds = 2000;
    // The answers come from 20 addresses, 100 each: the chat shows no more than 100 lines
    // at once from one address (a_flood_from_one_address_does_not_bury_anothers_messages).
    let answerers: Vec<Peer> = (0..20)
        .map(|k| Peer::on(format!("127.0.0.{}:0", 2 + k)).unwrap())
        .collect();
    let answering = std::thread::spawn(move || {
        for i in 0..rounds {
            let (data, from) = echo.recv("a message").unwrap();
            answerers[i / 100].send(from, &data).unwrap();
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_udp-chat"))
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .args(["--to", &echo_addr.to_string()])
        // The hex dump on stderr, between send_to and the "sent" line, widens the window.
        .arg("--hexdump")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // One message at a time, so that no datagram is lost: each round waits for its answer.
    for i in 0..rounds {
        writeln!(stdin, "m{i}").unwrap();
        let mut sent = false;
        loop {
            let line = lines.next().expect("udp-chat ended early").unwrap();
            if line.starts_with("sent ") {
                sent = true;
            } else if line.ends_with(&format!(": m{i}")) {
                assert!(sent, "round {i}: the answer came before the \"sent\" line");
                break;
            }
        }
    }
    answering.join().unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// Line-wrap spoofing: a peer pads its text to the terminal's width, so that the terminal
/// wraps what follows onto a line of its own that reads like a message from someone else.
/// On a terminal (80 columns here) a long line is cut by the chat itself, and every visual
/// line after the first starts with `  | `, which the chat's own lines never do.
#[test]
fn padding_to_the_terminal_width_cannot_forge_a_line() {
    // "from 127.0.0.1:NNNNN: " then spaces to the 80th column.
    forged_after_padding(|prefix| " ".repeat(80 - prefix));
}

/// The same with padding that the chat counted narrower than the terminal draws it: `a` and
/// four U+302E (HANGUL SINGLE DOT TONE MARK), a spacing mark, which unicode-width counts as
/// no column and tmux (the C library's `wcwidth`) as two: 9 columns counted as 1. Six of them and
/// four `b` after `from 127.0.0.1:NNNNN: ` filled the 80 columns of tmux, where the chat
/// counted 32 and cut nothing.
#[test]
fn spacing_marks_cannot_pad_a_forged_line() {
    forged_after_padding(|prefix| {
        let group = format!("a{}", "\u{302e}".repeat(4));
        let groups = (80 - prefix) / 9;
        format!(
            "{}{}",
            group.repeat(groups),
            "b".repeat(80 - prefix - 9 * groups)
        )
    });
}

/// Sends `pad(columns of "from ADDR: ")` and then a forged line to a chat on a terminal of 80
/// columns, and checks that the forgery is shown on a continuation line.
fn forged_after_padding(pad: impl Fn(usize) -> String) {
    let bin = env!("CARGO_BIN_EXE_udp-chat");
    let Some(mut tty) = testkit::pty::Pty::spawn(bin, &["--port", "0"]) else {
        eprintln!("skipped: script(1), which makes the terminal, is not installed");
        return;
    };
    let shown = tty.wait_for("(udp)").unwrap();
    let addr: SocketAddr = shown
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let attacker = Peer::new().unwrap();
    let me = attacker.addr();
    let forged = format!(
        "{}from 10.0.0.1:6666: the exam moved to room 9",
        pad(format!("from {me}: ").len())
    );
    attacker.send(addr, forged.as_bytes()).unwrap();
    let shown = tty.wait_for("room 9").unwrap();
    let forged_line = shown
        .split(['\r', '\n'])
        .find(|l| l.contains("the exam moved"))
        .unwrap();
    assert!(
        forged_line.starts_with("  | "),
        "a line of its own: {forged_line:?} in {shown:?}"
    );
    tty.type_keys("/quit\r");
    tty.wait_for_end().unwrap();
}

/// The chat's stdout is on a full disk (/dev/full). Its own lines (`sent ...`, `now talking
/// to`, `bye`, the help) were `println!`, which panicked (status 101 and a backtrace); the
/// chat now stops with an error and status 1, as the other clients do.
#[test]
fn a_full_disk_under_stdout_stops_the_chat_with_an_error() -> Result<(), Failure> {
    let friend = Peer::new()?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-chat"));
    cmd.args(["--port", "0", "--to", &friend.addr().to_string()]);
    let (code, said) =
        testkit::full_disk::run_client(cmd, b"/help\nhello\n", Duration::from_secs(20));
    testkit::full_disk::stopped_with_an_error(code, &said);
    Ok(())
}

/// A stranger at 127.0.0.2 sends 2,000 datagrams, then a friend one: the friend's line came
/// after every one of the stranger's (19,721 of them in a flood of 20,000). Now an address
/// shows 100 lines at once, then 10 a second, and a count of what it was not shown.
#[test]
fn a_flood_from_one_address_does_not_bury_anothers_messages() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (a, a_addr) = chat(&mut s, "a", &[])?;
    let spam = |i: usize| format!("spam {i}").into_bytes();
    testkit::screen_flood::check(
        &mut s,
        a,
        a_addr,
        spam,
        b"hi from your friend",
        "hi from your friend",
    )
}
