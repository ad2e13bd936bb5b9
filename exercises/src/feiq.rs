//! feiq: the check is another IP Messenger client, writing packets by hand.
//!
//! Each probe is followed by a BR_ENTRY, which `feiq listen` always answers with ANSENTRY.
//! UDP on loopback keeps one sender's order, so "the next answer is ANSENTRY" proves that
//! nothing else was sent in between, without waiting for a silence.

use std::net::SocketAddr;

use crate::wire::Udp;
use crate::{Check, Failure, shown};

const BR_ENTRY: u32 = 0x01;
const ANSENTRY: u32 = 0x03;
const SENDMSG: u32 = 0x20;
const RECVMSG: u32 = 0x21;
const READMSG: u32 = 0x30;
const GETINFO: u32 = 0x40;
const SENDINFO: u32 = 0x41;
const SENDCHECKOPT: u32 = 0x100;
const SECRETOPT: u32 = 0x200;
const AUTORETOPT: u32 = 0x2000;

/// One packet as it came: its command number and its text (extensions after a NUL cut off).
struct Packet {
    command: u32,
    text: String,
    raw: Vec<u8>,
}

impl Packet {
    fn mode(&self) -> u32 {
        self.command & 0xff
    }

    fn name(&self) -> String {
        let name = match self.mode() {
            BR_ENTRY => "BR_ENTRY",
            ANSENTRY => "ANSENTRY",
            SENDMSG => "SENDMSG",
            RECVMSG => "RECVMSG",
            READMSG => "READMSG",
            GETINFO => "GETINFO",
            SENDINFO => "SENDINFO",
            _ => return format!("command 0x{:x}", self.command),
        };
        format!("{name} ({})", shown(&self.raw))
    }
}

fn send(
    c: &Check,
    peer: &Udp,
    to: SocketAddr,
    no: u64,
    command: u32,
    text: &str,
) -> Result<(), Failure> {
    let packet = format!("1:{no}:bob:box:{command}:{text}");
    peer.send(c, to, packet.as_bytes())
}

fn next(c: &Check, peer: &Udp, what: &str) -> Result<Packet, Failure> {
    let (raw, _) = peer.recv(c, what)?;
    let mut fields = raw.splitn(6, |b| *b == b':');
    let command = fields
        .nth(4)
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(|f| f.parse().ok());
    let Some(command) = command else {
        return Err(c.fail(format!(
            "expected {what}, got {}, which is not an IP Messenger packet",
            shown(&raw)
        )));
    };
    let text = fields.next().unwrap_or_default();
    let text = text.split(|b| *b == 0).next().unwrap_or_default();
    Ok(Packet {
        command,
        text: String::from_utf8_lossy(text).into_owned(),
        raw,
    })
}

/// The next packet must be `mode` (and carry `text`, when given).
fn expect(
    c: &Check,
    peer: &Udp,
    mode: u32,
    name: &str,
    text: Option<&str>,
    why: &str,
) -> Result<Packet, Failure> {
    let packet = next(c, peer, name)?;
    if packet.mode() != mode {
        return Err(c.fail(format!("{why}: expected {name}, got {}", packet.name())));
    }
    if let Some(text) = text
        && packet.text != text
    {
        return Err(c.fail(format!(
            "{why}: expected {name} with the text {text:?}, got {}",
            packet.name()
        )));
    }
    c.pass(format!("{why}: {}", packet.name()));
    Ok(packet)
}

/// Sends BR_ENTRY and expects ANSENTRY: everything before it has been answered.
fn entry(c: &Check, peer: &Udp, to: SocketAddr, no: u64, after: &str) -> Result<(), Failure> {
    send(c, peer, to, no, BR_ENTRY, "bob")?;
    expect(
        c,
        peer,
        ANSENTRY,
        "ANSENTRY",
        None,
        &format!("nothing more after {after}, then the answer to our BR_ENTRY"),
    )
    .map(drop)
}

pub fn getinfo(c: &mut Check) -> Result<(), Failure> {
    let (p, to) = listen_proc(c, &[])?;
    let peer = Udp::on(c, "127.0.0.2")?;
    // The command's option bits vary (UTF8OPT, or none): GETINFO is its low byte.
    for (no, options) in [(1001, 0), (1003, UTF8OPT), (1005, 0x100)] {
        send(c, &peer, to, no, GETINFO | options, "")?;
        send(c, &peer, to, no + 1, BR_ENTRY, "bob")?;
        let info = expect(
            c,
            &peer,
            SENDINFO,
            "SENDINFO",
            None,
            &format!("the answer to GETINFO (command 0x{:x})", GETINFO | options),
        )?;
        if info.text.trim().is_empty() || info.text.trim() == no.to_string() {
            return Err(c.fail(format!(
                "SENDINFO should carry a version text, got {}",
                shown(&info.raw)
            )));
        }
        c.pass(format!("the version is {:?}", info.text));
        expect(
            c,
            &peer,
            ANSENTRY,
            "ANSENTRY",
            None,
            "the answer to BR_ENTRY",
        )?;
    }
    // A second asker, on another address, gets its own answer.
    let other = Udp::on(c, "127.0.0.3")?;
    send(c, &other, to, 1101, GETINFO, "")?;
    expect(
        c,
        &other,
        SENDINFO,
        "SENDINFO",
        None,
        "a second asker's answer",
    )?;
    // A name with control characters: the server's terminal shows it escaped, never raw.
    escaped_sender(c, p, to, GETINFO)?;
    limited(c, p, to, GETINFO, 1)
}

pub fn sealed(c: &mut Check) -> Result<(), Failure> {
    let (p, to) = listen_proc(c, &[])?;
    let (a, b) = (Udp::on(c, "127.0.0.2")?, Udp::on(c, "127.0.0.3")?);
    let sealed = SENDMSG | SENDCHECKOPT | SECRETOPT;
    // Packet numbers the seed chooses, past 65,535; b uses the same number as a: the state
    // is per sender and message, not per number alone.
    let no = 70_000 + c.rng().below(0..1_000_000) as u64;
    let len = c.rng().below(1..30);
    let text = c.rng().text(len);
    for (peer, who) in [
        (&a, "a"),
        (&b, "b (the same packet number, another sender)"),
    ] {
        send(c, peer, to, no, sealed, &text)?;
        send(c, peer, to, no + 1, BR_ENTRY, "bob")?;
        let want = no.to_string();
        expect(
            c,
            peer,
            RECVMSG,
            "RECVMSG",
            Some(&want),
            &format!("{who}: a sealed message is acknowledged"),
        )?;
        expect(
            c,
            peer,
            READMSG,
            "READMSG",
            Some(&want),
            &format!("{who}: once shown, a sealed message is reported read"),
        )?;
        expect(
            c,
            peer,
            ANSENTRY,
            "ANSENTRY",
            None,
            "then the answer to BR_ENTRY",
        )?;
    }
    // Resent copies are acknowledged again, but each was read once: no second READMSG.
    for (peer, n) in [(&a, 2), (&b, 1)] {
        for _ in 0..n {
            send(c, peer, to, no, sealed, &text)?;
            expect(
                c,
                peer,
                RECVMSG,
                "RECVMSG",
                Some(&no.to_string()),
                "a resent copy is acknowledged again",
            )?;
        }
        entry(
            c,
            peer,
            to,
            no + 2,
            "the copy's RECVMSG (it was read once already)",
        )?;
    }
    // Several sealed messages in a row, each read once; a copy of the first of them after.
    let base = no + 10;
    for k in 0..3 {
        send(c, &a, to, base + k, sealed, &text)?;
    }
    for k in 0..3 {
        let want = (base + k).to_string();
        expect(
            c,
            &a,
            RECVMSG,
            "RECVMSG",
            Some(&want),
            "each of three sealed messages is acknowledged",
        )?;
        expect(c, &a, READMSG, "READMSG", Some(&want), "and reported read")?;
    }
    send(c, &a, to, base, sealed, &text)?;
    expect(
        c,
        &a,
        RECVMSG,
        "RECVMSG",
        Some(&base.to_string()),
        "a copy of the first is acknowledged",
    )?;
    entry(c, &a, to, base + 5, "the copy's RECVMSG")?;
    // Sealed without SENDCHECKOPT: no acknowledgement is asked for, but it is read all the same.
    send(c, &a, to, base + 6, SENDMSG | SECRETOPT, &text)?;
    send(c, &a, to, base + 7, BR_ENTRY, "bob")?;
    expect(
        c,
        &a,
        READMSG,
        "READMSG",
        Some(&(base + 6).to_string()),
        "a sealed message that asks for no acknowledgement is still reported read",
    )?;
    expect(
        c,
        &a,
        ANSENTRY,
        "ANSENTRY",
        None,
        "then the answer to BR_ENTRY",
    )?;
    // A message that is not sealed is not reported read.
    send(c, &a, to, base + 8, SENDMSG | SENDCHECKOPT, "not sealed")?;
    expect(
        c,
        &a,
        RECVMSG,
        "RECVMSG",
        Some(&(base + 8).to_string()),
        "an ordinary message is acknowledged",
    )?;
    entry(c, &a, to, base + 9, "an ordinary message's RECVMSG")?;
    escaped_sender(c, p, to, sealed)?;
    limited(c, p, to, sealed, 2)
}

pub fn away(c: &mut Check) -> Result<(), Failure> {
    // The text varies: not always the example's, Chinese and other scripts included.
    let len = c.rng().below(3..20);
    let away = format!("out {}", c.rng().text(len));
    let (p, to) = listen_proc(c, &["--encoding", "utf-8", "--away", &away])?;
    let (a, b) = (Udp::on(c, "127.0.0.2")?, Udp::on(c, "127.0.0.3")?);
    let no = 70_000 + c.rng().below(0..1_000_000) as u64;
    // Every message gets the absence message: two senders, several messages each.
    for k in 0..3 {
        for peer in [&a, &b] {
            let n = no + 10 * k;
            send(c, peer, to, n, SENDMSG | SENDCHECKOPT, "are you there?")?;
            expect(
                c,
                peer,
                RECVMSG,
                "RECVMSG",
                Some(&n.to_string()),
                "the message is acknowledged first",
            )?;
            let reply = expect(
                c,
                peer,
                SENDMSG,
                "SENDMSG",
                Some(&away),
                "then the absence message follows, with the --away text",
            )?;
            if reply.command & AUTORETOPT == 0 {
                return Err(c.fail(format!(
                    "an absence message must carry AUTORETOPT (0x2000), so that the other side does \
                     not answer it in turn; got {}",
                    reply.name()
                )));
            }
            entry(c, peer, to, n + 1, "the absence message")?;
        }
    }
    c.pass("every message of two senders got the absence message, with AUTORETOPT");
    // A message that asks for no acknowledgement still gets the absence message.
    send(c, &a, to, no + 100, SENDMSG, "no ack wanted")?;
    expect(
        c,
        &a,
        SENDMSG,
        "SENDMSG",
        Some(&away),
        "a message without SENDCHECKOPT gets the absence message too",
    )?;
    entry(c, &a, to, no + 101, "the absence message")?;
    // An automatic answer is never answered: two absent users would answer each other
    // forever; nor is a message sent to many (BROADCASTOPT).
    for (n, command, what) in [
        (
            no + 200,
            SENDMSG | SENDCHECKOPT | AUTORETOPT,
            "an automatic answer (no absence message to it)",
        ),
        (
            no + 202,
            SENDMSG | AUTORETOPT,
            "an automatic answer without SENDCHECKOPT",
        ),
        (
            no + 204,
            SENDMSG | BROADCASTOPT,
            "a message sent to many (BROADCASTOPT)",
        ),
    ] {
        send(c, &a, to, n, command, "I am away too")?;
        entry(c, &a, to, n + 1, what)?;
    }
    escaped_sender(c, p, to, SENDMSG | SENDCHECKOPT)?;
    limited(c, p, to, SENDMSG | SENDCHECKOPT, 2)
}

const BROADCASTOPT: u32 = 0x400;

/// `feiq listen` with `extra`, and its process.
fn listen_proc(c: &mut Check, extra: &[&str]) -> Result<(testkit::Proc, SocketAddr), Failure> {
    let mut args = vec!["listen", "--port", "0"];
    args.extend(extra);
    let (p, addr) = c.start("feiq", &args)?;
    c.pass(format!("feiq {} is listening on {addr}", args.join(" ")));
    Ok((p, addr))
}

const UTF8OPT: u32 = 0x0080_0000;

/// The lesson's promise that a peer's text never reaches the terminal raw: a sender named
/// with an escape sequence sends `command`; no line the server prints may hold the ESC.
fn escaped_sender(
    c: &mut Check,
    p: testkit::Proc,
    to: SocketAddr,
    command: u32,
) -> Result<(), Failure> {
    let peer = Udp::on(c, "127.0.0.4")?;
    let no = 4000 + c.rng().below(0..1000);
    let packet = format!("1:{no}:eve\u{1b}[2J:box\u{202e}:{command}:hi");
    peer.send(c, to, packet.as_bytes())?;
    let _ = next(
        c,
        &peer,
        "an answer to a sender named with an escape sequence",
    )?;
    send(c, &peer, to, no as u64 + 1, BR_ENTRY, "eve")?;
    c.expect(
        p,
        "eve",
        "the server shows the packets of a sender named eve",
    )?;
    let raw = c
        .scene
        .output(p, testkit::Stream::Stdout)
        .into_iter()
        .find(|l| l.contains('\u{1b}') || l.contains('\u{202e}'));
    if let Some(line) = raw {
        return Err(c.fail(format!(
            "a peer's name reached the terminal raw, escape sequence and all: {line:?}; \
             the lesson shows everything a peer wrote escaped"
        )));
    }
    c.pass("a sender's name with ESC and U+202E is shown escaped");
    Ok(())
}

/// The lesson's answer limit, on the exercise's path: 60 packets of `command` at once from
/// one address (`per` answers each) get at most the limit's burst of 20 answers.
fn limited(
    c: &mut Check,
    p: testkit::Proc,
    to: SocketAddr,
    command: u32,
    per: usize,
) -> Result<(), Failure> {
    const SENT: u64 = 60;
    let flood = Udp::on(c, "127.0.0.9")?;
    for no in 0..SENT {
        send(c, &flood, to, 5000 + no, command, "flood")?;
    }
    c.expect(
        p,
        "not answering 127.0.0.9",
        "60 packets at once from one address must make the answer limit say so",
    )?;
    let answered = flood.quiet_count(std::time::Duration::from_millis(300));
    if !(15..=23).contains(&answered) {
        return Err(c.fail(format!(
            "sent {SENT} packets (command 0x{command:x}) at once from 127.0.0.9, each worth \
             {per} answer(s); the lesson answers a burst of 20 and then a few a second, but \
             {answered} answers came"
        )));
    }
    c.pass(format!(
        "{SENT} packets at once got {answered} answers: the answer limit holds"
    ));
    Ok(())
}
