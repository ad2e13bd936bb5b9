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
    /// The text's bytes as they came, up to the first NUL.
    text_bytes: Vec<u8>,
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
        text_bytes: text.to_vec(),
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

/// The packet's command must be exactly `want`: its mode, and no option bit but those the
/// listener's own packets carry.
fn exact(c: &Check, packet: &Packet, want: u32, why: &str) -> Result<(), Failure> {
    if packet.command != want {
        return Err(c.fail(format!(
            "{why}: expected the command 0x{want:x} exactly, got 0x{:x}: {}",
            packet.command,
            packet.name()
        )));
    }
    Ok(())
}

/// What `feiq --version` prints, without its newline.
fn version(c: &mut Check) -> Result<String, Failure> {
    let out = c
        .command("feiq", &["--version"])
        .output()
        .map_err(|e| c.fail(format!("cannot run `feiq --version`: {e}")))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version.is_empty() {
        return Err(c.fail(format!(
            "`feiq --version` should print the version, and it printed {version:?}"
        )));
    }
    c.pass(format!("`feiq --version` prints {version:?}"));
    Ok(version)
}

/// Sends GETINFO (with `options`) from `peer`, and expects SENDINFO with the version.
fn asks_version(
    c: &Check,
    peer: &Udp,
    to: SocketAddr,
    no: u64,
    (options, text): (u32, &str),
    version: &str,
) -> Result<(), Failure> {
    send(c, peer, to, no, GETINFO | options, text)?;
    let why = format!(
        "the answer to GETINFO (command 0x{:x}) from {}",
        GETINFO | options,
        peer.addr()
    );
    let name = format!("SENDINFO, {why}");
    let info = expect(c, peer, SENDINFO, &name, None, &why)?;
    exact(c, &info, SENDINFO, &why)?;
    if info.text_bytes != version.as_bytes() {
        return Err(c.fail(format!(
            "{why}: SENDINFO's text must be the version as `feiq --version` prints it, \
             {version:?}; got {}",
            shown(&info.text_bytes)
        )));
    }
    c.pass(format!("the version is {:?}", info.text));
    Ok(())
}

pub fn getinfo(c: &mut Check) -> Result<(), Failure> {
    let version = version(c)?;
    let (p, to) = listen_proc(c, &[])?;
    let peer = Udp::on(c, "127.0.0.2")?;
    // The command's option bits vary (UTF8OPT, others, or none): GETINFO is its low byte,
    // and the answer carries none of them.
    let seeded = [
        SECRETOPT,
        BROADCASTOPT,
        AUTORETOPT,
        0x1_0000,
        SENDCHECKOPT | UTF8OPT,
    ];
    let other_bits = c.rng().pick(&seeded).copied().unwrap_or(SECRETOPT);
    let base = 1000 + c.rng().below(0..100_000) as u64;
    // The question's text is the asker's, and shown escaped if shown at all: one carries an
    // escape sequence and a bidirectional override (the promise is checked on every line
    // listen printed).
    let asked = ["", "", "\u{1b}[2J\u{202e}version?", ""];
    let first = c.rng().below(0..asked.len());
    for (k, (no, options)) in [
        (base, 0),
        (base + 2, UTF8OPT),
        (base + 4, SENDCHECKOPT),
        (base + 6, other_bits),
    ]
    .into_iter()
    .enumerate()
    {
        let text = asked.get((first + k) % asked.len()).copied().unwrap_or("");
        asks_version(c, &peer, to, no, (options, text), &version)?;
        entry(c, &peer, to, no + 1, "SENDINFO")?;
    }
    // Every one of those bits, from an address of its own: GETINFO is answered whatever bits
    // it carries, BROADCASTOPT and AUTORETOPT too (they spare a message its acknowledgement,
    // not a question its answer).
    let bits = Udp::on(c, "127.0.0.6")?;
    for (k, &options) in seeded.iter().enumerate() {
        let no = base + 50 + 2 * k as u64;
        asks_version(c, &bits, to, no, (options, ""), &version)?;
        entry(c, &bits, to, no + 1, "SENDINFO")?;
    }
    // A second asker on another address, and a third on the first one's address (another
    // port): each gets its own answer.
    let other = Udp::on(c, "127.0.0.3")?;
    asks_version(c, &other, to, base + 100, (0, ""), &version)?;
    let neighbour = Udp::on(c, "127.0.0.2")?;
    asks_version(c, &neighbour, to, base, (0, ""), &version)?;
    entry(c, &peer, to, base + 101, "the other askers' answers")?;
    // A name with control characters: the server's terminal shows it escaped, never raw.
    escaped_sender(c, p, to, GETINFO)?;
    limited(c, p, to, GETINFO, 1)?;
    // Under --encoding utf-8 every packet of listen carries UTF8OPT: SENDINFO too.
    let (_, to8) = listen_proc(c, &["--encoding", "utf-8"])?;
    for (no, options) in [(base + 200, 0), (base + 202, UTF8OPT)] {
        send(c, &peer, to8, no, GETINFO | options, "")?;
        let why = format!(
            "under --encoding utf-8, the answer to GETINFO (command 0x{:x})",
            GETINFO | options
        );
        let info = expect(c, &peer, SENDINFO, "SENDINFO", None, &why)?;
        exact(c, &info, SENDINFO | UTF8OPT, &why)?;
    }
    c.pass("under --encoding utf-8, SENDINFO carries UTF8OPT and no other bit");
    // The lesson's test that GETINFO gets no answer is changed, not deleted.
    crate::test_expects(
        c,
        "lessons/04-feiq/src/answer.rs",
        "answers_only_what_the_protocol_answers",
        "SENDINFO",
    )
}

/// Sends a sealed message `no` from `peer`, then BR_ENTRY: expects RECVMSG, READMSG (the
/// command exactly, with `bits`: UTF8OPT under `--encoding utf-8`), ANSENTRY.
fn read_once(
    c: &Check,
    (peer, to): (&Udp, SocketAddr),
    no: u64,
    text: &str,
    who: &str,
    bits: u32,
) -> Result<(), Failure> {
    send(c, peer, to, no, SEALED, text)?;
    send(c, peer, to, no + 1, BR_ENTRY, "bob")?;
    let want = no.to_string();
    let why = format!("{who}: a sealed message is acknowledged");
    let ack = expect(c, peer, RECVMSG, "RECVMSG", Some(&want), &why)?;
    exact(c, &ack, RECVMSG | bits, &why)?;
    let why = format!("{who}: once shown, a sealed message is reported read");
    let read = expect(c, peer, READMSG, "READMSG", Some(&want), &why)?;
    exact(c, &read, READMSG | bits, &why)?;
    expect(
        c,
        peer,
        ANSENTRY,
        "ANSENTRY",
        None,
        "then the answer to BR_ENTRY",
    )
    .map(drop)
}

/// Sends a copy of the sealed message `no` from `peer`: RECVMSG, and nothing more.
fn copy_not_read(
    c: &Check,
    peer: &Udp,
    to: SocketAddr,
    no: u64,
    text: &str,
) -> Result<(), Failure> {
    send(c, peer, to, no, SEALED, text)?;
    expect(
        c,
        peer,
        RECVMSG,
        "RECVMSG",
        Some(&no.to_string()),
        "a resent copy is acknowledged again",
    )?;
    entry(
        c,
        peer,
        to,
        no + 2,
        "the copy's RECVMSG (it was read once already)",
    )
}

const SEALED: u32 = SENDMSG | SENDCHECKOPT | SECRETOPT;

/// A peer on 127.0.0.3 on `port` if that is free, else on a port of its own.
fn same_port(c: &Check, port: u16) -> Result<Udp, Failure> {
    match Udp::at(c, SocketAddr::from(([127, 0, 0, 3], port))) {
        Ok(peer) => Ok(peer),
        Err(_) => Udp::on(c, "127.0.0.3"),
    }
}

pub fn sealed(c: &mut Check) -> Result<(), Failure> {
    let (p, to) = listen_proc(c, &[])?;
    // Three senders: a; a2 on a's address, another port; b on another address, a's port.
    let a = Udp::on(c, "127.0.0.2")?;
    let a2 = Udp::on(c, "127.0.0.2")?;
    let b = same_port(c, a.addr().port())?;
    // A packet number the seed chooses, past 65,535, the same for the three senders: the
    // state is per sender (address and port) and message, not per number alone.
    let no = 70_000 + c.rng().below(0..1_000_000) as u64;
    let len = c.rng().below(1..30);
    let text = c.rng().text(len);
    for (peer, who) in [
        (&a, "a"),
        (
            &a2,
            "a2 (a's address, another port, the same packet number)",
        ),
        (&b, "b (another address, a's port, the same packet number)"),
    ] {
        read_once(c, (peer, to), no, &text, who, 0)?;
    }
    // Resent copies are acknowledged again, but each was read once: no second READMSG.
    copy_not_read(c, &a, to, no, &text)?;
    copy_not_read(c, &a, to, no, &text)?;
    copy_not_read(c, &a2, to, no, &text)?;
    copy_not_read(c, &b, to, no, &text)?;
    // Several sealed messages in a row, each read once; a copy of the first of them after.
    let e = Udp::on(c, "127.0.0.5")?;
    let base = no + 10;
    for k in 0..3 {
        send(c, &e, to, base + k, SEALED, &text)?;
    }
    for k in 0..3 {
        let want = (base + k).to_string();
        expect(
            c,
            &e,
            RECVMSG,
            "RECVMSG",
            Some(&want),
            "each of three sealed messages is acknowledged",
        )?;
        expect(c, &e, READMSG, "READMSG", Some(&want), "and reported read")?;
    }
    copy_not_read(c, &e, to, base, &text)?;
    // Sealed without SENDCHECKOPT: no acknowledgement is asked for, but it is read all the same.
    send(c, &e, to, base + 6, SENDMSG | SECRETOPT, &text)?;
    let why = "a sealed message that asks for no acknowledgement is still reported read";
    let read = expect(
        c,
        &e,
        READMSG,
        "READMSG",
        Some(&(base + 6).to_string()),
        why,
    )?;
    exact(c, &read, READMSG, why)?;
    entry(c, &e, to, base + 7, "READMSG")?;
    // A message that is not sealed is not reported read.
    send(c, &e, to, base + 8, SENDMSG | SENDCHECKOPT, "not sealed")?;
    expect(
        c,
        &e,
        RECVMSG,
        "RECVMSG",
        Some(&(base + 8).to_string()),
        "an ordinary message is acknowledged",
    )?;
    entry(c, &e, to, base + 9, "an ordinary message's RECVMSG")?;
    forgotten(c, to, no + 1000, &text)?;
    escaped_sender(c, p, to, SEALED)?;
    limited(c, p, to, SEALED, 2)?;
    // Under --encoding utf-8 every packet of listen carries UTF8OPT: READMSG too.
    let (_, to8) = listen_proc(c, &["--encoding", "utf-8"])?;
    let g = Udp::on(c, "127.0.0.9")?;
    read_once(
        c,
        (&g, to8),
        no + 5000,
        &text,
        "under --encoding utf-8",
        UTF8OPT,
    )?;
    c.pass("under --encoding utf-8, RECVMSG and READMSG carry UTF8OPT");
    Ok(())
}

/// `listen` remembers the last 256 messages shown: a copy that comes after 300 newer ones is
/// shown again, so read again; what was read is kept within the same bound.
fn forgotten(c: &mut Check, to: SocketAddr, no: u64, text: &str) -> Result<(), Failure> {
    let (f, sync) = (Udp::on(c, "127.0.0.7")?, Udp::on(c, "127.0.0.6")?);
    read_once(c, (&f, to), no, text, "f", 0)?;
    copy_not_read(c, &f, to, no, text)?;
    // 300 newer messages, 50 at a time, each batch from an address of its own (one address
    // shows 100 lines at once, and a message not shown is not remembered), and followed by
    // a BR_ENTRY from a third address: its ANSENTRY says the batch was taken in.
    for batch in 0..6u64 {
        let flood = Udp::on(c, &format!("127.0.1.{}", batch + 1))?;
        for k in 0..50 {
            send(
                c,
                &flood,
                to,
                10_000 + batch * 100 + k,
                SENDMSG | SENDCHECKOPT,
                "newer",
            )?;
        }
        send(c, &sync, to, 900 + batch, BR_ENTRY, "sync")?;
        expect(
            c,
            &sync,
            ANSENTRY,
            "ANSENTRY",
            None,
            "the answer to a BR_ENTRY sent after 50 messages from 127.0.1.x",
        )?;
    }
    c.pass("300 newer messages were taken in");
    let want = no.to_string();
    send(c, &f, to, no, SEALED, text)?;
    send(c, &f, to, no + 1, BR_ENTRY, "bob")?;
    expect(
        c,
        &f,
        RECVMSG,
        "RECVMSG",
        Some(&want),
        "a copy that comes after 300 newer messages is acknowledged",
    )?;
    expect(
        c,
        &f,
        READMSG,
        "READMSG",
        Some(&want),
        "and, as listen remembers only the last 256 messages, shown and so read again (the \
         memory of what was read must stay bounded too)",
    )?;
    expect(
        c,
        &f,
        ANSENTRY,
        "ANSENTRY",
        None,
        "then the answer to BR_ENTRY",
    )
    .map(drop)
}

/// The absence message after a message: SENDMSG|AUTORETOPT (and `bits`) exactly, `away` as
/// its text, byte for byte.
fn absence(c: &Check, peer: &Udp, away: &[u8], bits: u32, why: &str) -> Result<(), Failure> {
    let name = format!("SENDMSG, the absence message ({why})");
    let reply = expect(c, peer, SENDMSG, &name, None, why)?;
    exact(c, &reply, SENDMSG | AUTORETOPT | bits, why)?;
    if reply.text_bytes != away {
        return Err(c.fail(format!(
            "{why}: expected the absence message's text to be the --away text, {}, exactly; \
             got {}",
            shown(away),
            shown(&reply.text_bytes)
        )));
    }
    Ok(())
}

pub fn away(c: &mut Check) -> Result<(), Failure> {
    // The text varies: not always the example's, Chinese and other scripts included, spaces
    // at both ends; always a colon, which separates a packet's fields but not its text's
    // (the text is the last field: a name's colons are replaced, the text's are not), and an
    // emoji, which GBK cannot write but UTF-8 can.
    let len = c.rng().below(3..20);
    let away = format!(" out: {} 🦀 ", c.rng().text(len).trim());
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
            absence(
                c,
                peer,
                away.as_bytes(),
                UTF8OPT,
                "then the absence message follows, with the --away text",
            )?;
            entry(c, peer, to, n + 1, "the absence message")?;
        }
    }
    c.pass("every message of two senders got the absence message, with AUTORETOPT");
    // A message that asks for no acknowledgement still gets the absence message. It is never
    // a copy (it is never resent), even with a number heard before: the seed numbers all its
    // messages 324244, none with SENDCHECKOPT.
    for (text, why) in [
        (
            "no ack wanted",
            "a message without SENDCHECKOPT gets the absence message too",
        ),
        (
            "no ack wanted, again",
            "a second message without SENDCHECKOPT, with the same number (as the seed numbers \
             all its messages), gets the absence message too: only a message that asks for an \
             acknowledgement is resent, so only such a message is a copy",
        ),
    ] {
        send(c, &a, to, no + 100, SENDMSG, text)?;
        absence(c, &a, away.as_bytes(), UTF8OPT, why)?;
        entry(c, &a, to, no + 101, "the absence message")?;
    }
    // A resent copy is acknowledged again, and that is all: one absence message a message.
    send(c, &b, to, no, SENDMSG | SENDCHECKOPT, "are you there?")?;
    expect(
        c,
        &b,
        RECVMSG,
        "RECVMSG",
        Some(&no.to_string()),
        "a resent copy is acknowledged again",
    )?;
    entry(
        c,
        &b,
        to,
        no + 102,
        "a resent copy's RECVMSG (no second absence message)",
    )?;
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
    limited(c, p, to, SENDMSG | SENDCHECKOPT, 2)?;
    away_in_gbk(c)
}

/// Without --encoding, listen writes GBK: the --away text too; and a text GBK cannot write
/// is refused before listening.
fn away_in_gbk(c: &mut Check) -> Result<(), Failure> {
    let len = c.rng().below(2..10);
    let (text, gbk) = crate::chat::gbk_text(c, "out: ", len);
    let (_, to) = listen_proc(c, &["--away", &text])?;
    let peer = Udp::on(c, "127.0.0.5")?;
    let no = 3000 + c.rng().below(0..1000) as u64;
    send(c, &peer, to, no, SENDMSG | SENDCHECKOPT, "are you there?")?;
    let why = "without --encoding (GBK), the message is acknowledged";
    let ack = expect(c, &peer, RECVMSG, "RECVMSG", Some(&no.to_string()), why)?;
    exact(c, &ack, RECVMSG, why)?;
    absence(
        c,
        &peer,
        &gbk,
        0,
        "without --encoding, the absence message carries the GBK bytes of the --away text",
    )?;
    entry(c, &peer, to, no + 1, "the absence message")?;
    c.pass("the absence message is written in GBK without --encoding");

    let args = ["listen", "--port", "0", "--away", "out 🦀"];
    let p = c.spawn("feiq", &args)?;
    let status = c.scene.wait(p);
    let listened = c
        .scene
        .output(p, testkit::Stream::Stdout)
        .iter()
        .any(|l| l.contains("listening on"));
    let stderr = c.scene.output(p, testkit::Stream::Stderr);
    match status {
        Ok(status) if !status.success() && !listened => {
            // Refused as an error of the program's (`error: ...`, status 1, or 2 as a usage
            // error), not a panic (status 101): no panic from what the user typed.
            let said = stderr.iter().any(|l| l.starts_with("error"));
            let panicked = stderr.iter().any(|l| l.contains("panicked"));
            if !matches!(status.code(), Some(1 | 2)) || !said || panicked {
                let stderr: Vec<&String> =
                    stderr.iter().filter(|l| !l.is_empty()).take(3).collect();
                return Err(c.fail(format!(
                    "`feiq listen --away \"out 🦀\"` (GBK, which has no emoji) exited with \
                     {status} and printed {stderr:?} (and so on) on stderr; expected an `error: ...` line \
                     and exit status 1 (or 2, as a usage error), not a panic: the lesson never \
                     panics on what a user typed"
                )));
            }
            c.pass("`--away` with an emoji, which GBK cannot write, is refused before listening");
            Ok(())
        }
        _ => {
            c.kill(p);
            Err(c.fail(
                "`feiq listen --away \"out 🦀\"` without --encoding writes GBK, which has no \
                 emoji: it should say so and exit with a failure before listening",
            ))
        }
    }
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
            "what a peer wrote (a name, a text) reached the terminal raw, escape sequence and \
             all: {line:?}; \
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
