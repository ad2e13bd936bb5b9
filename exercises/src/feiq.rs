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

fn listen(c: &mut Check, extra: &[&str]) -> Result<SocketAddr, Failure> {
    let mut args = vec!["listen", "--port", "0"];
    args.extend(extra);
    let (_, addr) = c.start("feiq", &args)?;
    c.pass(format!("feiq {} is listening on {addr}", args.join(" ")));
    Ok(addr)
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
    let to = listen(c, &[])?;
    let peer = Udp::new(c)?;
    send(c, &peer, to, 1001, GETINFO, "")?;
    send(c, &peer, to, 1002, BR_ENTRY, "bob")?;
    let info = expect(
        c,
        &peer,
        SENDINFO,
        "SENDINFO",
        None,
        "the answer to GETINFO",
    )?;
    if info.text.trim().is_empty() {
        return Err(c.fail(format!(
            "SENDINFO should carry a version text, got an empty one: {}",
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
    Ok(())
}

pub fn sealed(c: &mut Check) -> Result<(), Failure> {
    let to = listen(c, &[])?;
    let peer = Udp::new(c)?;
    let sealed = SENDMSG | SENDCHECKOPT | SECRETOPT;
    send(c, &peer, to, 2001, sealed, "for your eyes only")?;
    send(c, &peer, to, 2002, BR_ENTRY, "bob")?;
    expect(
        c,
        &peer,
        RECVMSG,
        "RECVMSG",
        Some("2001"),
        "a sealed message is acknowledged",
    )?;
    expect(
        c,
        &peer,
        READMSG,
        "READMSG",
        Some("2001"),
        "once shown, a sealed message is reported read",
    )?;
    expect(
        c,
        &peer,
        ANSENTRY,
        "ANSENTRY",
        None,
        "then the answer to BR_ENTRY",
    )?;
    // A resent copy is acknowledged again, but it was read once: no second READMSG.
    send(c, &peer, to, 2001, sealed, "for your eyes only")?;
    expect(
        c,
        &peer,
        RECVMSG,
        "RECVMSG",
        Some("2001"),
        "a resent copy is acknowledged again",
    )?;
    entry(
        c,
        &peer,
        to,
        2003,
        "the copy's RECVMSG (it was read once already)",
    )?;
    // A message that is not sealed is not reported read.
    send(c, &peer, to, 2004, SENDMSG | SENDCHECKOPT, "not sealed")?;
    expect(
        c,
        &peer,
        RECVMSG,
        "RECVMSG",
        Some("2004"),
        "an ordinary message is acknowledged",
    )?;
    entry(c, &peer, to, 2005, "an ordinary message's RECVMSG")
}

pub fn away(c: &mut Check) -> Result<(), Failure> {
    let to = listen(c, &["--away", "out for lunch"])?;
    let peer = Udp::new(c)?;
    send(c, &peer, to, 3001, SENDMSG | SENDCHECKOPT, "are you there?")?;
    expect(
        c,
        &peer,
        RECVMSG,
        "RECVMSG",
        Some("3001"),
        "the message is acknowledged first",
    )?;
    let reply = expect(
        c,
        &peer,
        SENDMSG,
        "SENDMSG",
        Some("out for lunch"),
        "then the absence message follows",
    )?;
    if reply.command & AUTORETOPT == 0 {
        return Err(c.fail(format!(
            "an absence message must carry AUTORETOPT (0x2000), so that the other side does \
             not answer it in turn; got {}",
            reply.name()
        )));
    }
    c.pass("the absence message carries AUTORETOPT");
    entry(c, &peer, to, 3002, "the absence message")?;
    // An automatic answer is never answered: two absent users would answer each other forever.
    send(
        c,
        &peer,
        to,
        3003,
        SENDMSG | SENDCHECKOPT | AUTORETOPT,
        "I am away too",
    )?;
    entry(
        c,
        &peer,
        to,
        3004,
        "an automatic answer (no absence message to it)",
    )
}
