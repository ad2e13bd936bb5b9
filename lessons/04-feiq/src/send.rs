//! `feiq send`: send each message, wait for its acknowledgement, send it again until one
//! comes, four tries in all.

use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::Context;
use common::{CannotBind, Hexdump, Proto, text};

use crate::ipmsg::{self, Packet};
use crate::{IPMSG_PORT, Me, SendArgs, recv_from, send_packet};

// ANCHOR: send
pub fn send(me: &mut Me, args: SendArgs, hexdump: Hexdump) -> anyhow::Result<()> {
    let peers = args
        .to
        .iter()
        .map(|p| p.resolve_one(IPMSG_PORT))
        .collect::<Result<Vec<_>, _>>()?;
    let first = *peers
        .first()
        .context("no peer to send to: give --to HOST")?;
    let local = args.bind.local_addr(first)?;
    let socket = UdpSocket::bind(local).with_context(|| CannotBind::new(local, Proto::Udp))?;
    common::announce_bound(socket.local_addr()?, Proto::Udp);

    let command = if args.no_check {
        ipmsg::IPMSG_SENDMSG
    } else {
        ipmsg::IPMSG_SENDMSG | ipmsg::IPMSG_SENDCHECKOPT
    };
    let mut undelivered = 0;
    for message in messages(args.message) {
        let message = message.context("cannot read stdin")?;
        match me.encoding.encode(&message) {
            Ok(text) => {
                let wanted = Wanted {
                    command,
                    text: &text,
                    timeout: args.timeout,
                };
                undelivered += deliver(me, &socket, hexdump, &wanted, &peers)?;
            }
            Err(e) => {
                common::log_error("message not sent", e);
                undelivered += peers.len();
            }
        }
    }
    // Not acknowledged is all `send` knows: the message may have arrived, and its
    // acknowledgement been lost, or withheld (a listener out of answers for the moment).
    if undelivered > 0 {
        anyhow::bail!(
            "{} not acknowledged",
            text::count(undelivered as u64, "message", "messages")
        );
    }
    Ok(())
}
// ANCHOR_END: send

/// The messages to send: the one on the command line, or else each line of stdin. A person
/// typing at a terminal gets a prompt; a pipe gets none, so its output stays clean.
fn messages(given: Vec<String>) -> Box<dyn Iterator<Item = io::Result<String>>> {
    if !given.is_empty() {
        return Box::new(std::iter::once(Ok(given.join(" "))));
    }
    let prompt = io::stdin().is_terminal();
    let mut lines = text::lines(io::stdin().lock());
    Box::new(std::iter::from_fn(move || {
        if prompt {
            // Not `print!`, which panics when stdout cannot take it (on a full disk: status
            // 101 and a backtrace); the next line, written with `sayln!`, stops with an error.
            let mut out = io::stdout().lock();
            let _ = out.write_all(b"message> ").and_then(|()| out.flush());
        }
        lines.next()
    }))
}

// ANCHOR: acks
/// One message to deliver: its command (with or without SENDCHECKOPT), its text, and how
/// long to wait for each acknowledgement.
struct Wanted<'a> {
    command: u32,
    text: &'a [u8],
    timeout: Duration,
}

/// Sends one message to each peer and, if it asks for acknowledgement, waits for each: the
/// same packet again every `timeout` while one is missing, four tries in all, as IP
/// Messenger and iptux do. Returns how many peers did not acknowledge it.
fn deliver(
    me: &mut Me,
    socket: &UdpSocket,
    hexdump: Hexdump,
    wanted: &Wanted<'_>,
    peers: &[SocketAddr],
) -> anyhow::Result<usize> {
    const TRIES: u32 = 4;
    // One packet, with its own number, for each peer: an acknowledgement names its packet.
    let mut waiting: Vec<(Packet, SocketAddr)> = peers
        .iter()
        .map(|&peer| (me.packet(wanted.command, wanted.text.to_vec()), peer))
        .collect();
    for attempt in 1..=TRIES {
        for (packet, peer) in &waiting {
            // Said before `send_to`: on loopback the answer can come before the next line.
            if attempt == 1 {
                common::sayln!("sending to {peer}");
            } else {
                common::sayln!(
                    "no acknowledgement yet: sending the same packet to {peer} again (try {attempt} of {TRIES})"
                );
            }
            send_packet(socket, hexdump, packet, *peer)
                .with_context(|| format!("cannot send to {peer}"))?;
        }
        if wanted.command & ipmsg::IPMSG_SENDCHECKOPT == 0 {
            return Ok(0);
        }
        let deadline = Instant::now() + wanted.timeout;
        while !waiting.is_empty() {
            let Some((number, from)) = next_ack(socket, hexdump, deadline)? else {
                break;
            };
            // Only from the exact address and port the packet went to, with its number:
            // anyone else could forge an acknowledgement of a message nobody received.
            let acked = waiting
                .iter()
                .position(|(packet, peer)| packet.packet_no == number && *peer == from);
            if let Some(i) = acked {
                let (_, peer) = waiting.swap_remove(i);
                common::sayln!("delivered to {peer} (acknowledged)");
            }
        }
        if waiting.is_empty() {
            return Ok(0);
        }
    }
    for (_, peer) in &waiting {
        common::sayln!("no acknowledgement from {peer} after {TRIES} tries");
    }
    Ok(waiting.len())
}

/// Waits until `deadline` for an acknowledgement (RECVMSG) and returns the packet number
/// it names and who sent it; `None` once the deadline has passed.
fn next_ack(
    socket: &UdpSocket,
    hexdump: Hexdump,
    deadline: Instant,
) -> anyhow::Result<Option<(u64, SocketAddr)>> {
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        let (len, from) = match recv_from(socket, &mut buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            // An ICMP "port unreachable" from one peer: the others may still answer.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e).context("recv_from failed"),
        };
        let datagram = &buf[..len];
        hexdump.received(from, datagram);
        let acked = Packet::parse(datagram)
            .ok()
            .filter(|packet| packet.mode() == ipmsg::IPMSG_RECVMSG)
            .and_then(|ack| ipmsg::acked_number(&ack));
        if let Some(number) = acked {
            return Ok(Some((number, from)));
        }
    }
}
// ANCHOR_END: acks
