//! Feiq (飞秋): send and receive real IP Messenger messages over UDP port 2425.
//!
//! Terminal 1:  cargo run -p feiq -- listen
//! Terminal 2:  cargo run -p feiq -- send --to 127.0.0.1 "你好"
//!
//! Pitfall: IP Messenger clients send their answers to port 2425 of the sender's address,
//! whatever port the message came from. A sender on any other port never hears the
//! acknowledgement.
#![forbid(unsafe_code)]

mod ipmsg;

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::{BindArgs, Encoding, Hexdump, HostPort, Proto, text};
use ipmsg::{Packet, PacketNumbers};

/// The IP Messenger port, UDP (and TCP for files).
const IPMSG_PORT: u16 = 2425;

/// Feiq / IP Messenger: send messages and know they arrived, or listen for them.
/// Chapter: "Feiq: a real protocol".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Cmd,

    /// The user name sent in every packet [default: your login name].
    #[arg(long, global = true, value_name = "NAME")]
    user: Option<String>,

    /// The host name sent in every packet [default: this machine's name].
    #[arg(long, global = true, value_name = "NAME")]
    host: Option<String>,

    /// Text encoding: gbk as Feiq [default]; utf-8 sets the UTF8OPT bit. For received text,
    /// forces this encoding instead of guessing.
    #[arg(long, global = true, value_enum)]
    encoding: Option<Encoding>,

    /// Show every packet's bytes on stderr.
    #[arg(long, global = true)]
    hexdump: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send a message to one or more peers and wait for each acknowledgement.
    Send {
        /// A peer, HOST[:PORT] (port 2425 if none); repeat for several.
        #[arg(long, value_name = "ADDR", required = true)]
        to: Vec<HostPort>,

        /// Local address [default: every interface, port 2425, where answers come back].
        #[arg(long, value_name = "ADDR")]
        bind: Option<HostPort>,

        /// Send the seed's plain command 32, asking for no acknowledgement.
        #[arg(long)]
        no_check: bool,

        /// Seconds between tries; a message is tried 4 times in all.
        #[arg(long, value_name = "SECS", default_value = "1", value_parser = common::seconds)]
        timeout: Duration,

        /// The message [default: each line of stdin is one message].
        message: Vec<String>,
    },
    /// Print the messages that arrive, and answer as an IP Messenger client does.
    Listen {
        #[command(flatten)]
        bind: BindArgs<IPMSG_PORT>,

        /// Announce yourself to ADDR (BR_ENTRY) at start, as clients do to the LAN's
        /// broadcast address; nothing is broadcast without it.
        #[arg(long, value_name = "ADDR")]
        announce: Option<HostPort>,
    },
}

/// Who we are on the wire, and how we write text.
struct Me {
    user: Vec<u8>,
    host: Vec<u8>,
    encoding: Encoding,
    forced: Option<Encoding>,
    numbers: PacketNumbers,
    hexdump: Hexdump,
}

impl Me {
    /// A packet from us, with the next packet number.
    fn packet(&mut self, command: u32, text: Vec<u8>) -> Packet {
        let utf8 = if self.encoding == Encoding::Utf8 {
            ipmsg::IPMSG_UTF8OPT
        } else {
            0
        };
        Packet {
            version: b"1".to_vec(),
            packet_no: self.numbers.next(),
            user: self.user.clone(),
            host: self.host.clone(),
            command: command | utf8,
            text,
            parts: Vec::new(),
        }
    }

    fn send(&self, socket: &UdpSocket, packet: &Packet, to: SocketAddr) -> io::Result<()> {
        let bytes = packet.to_bytes();
        socket.send_to(&bytes, to)?;
        self.hexdump.sent(to, &bytes);
        Ok(())
    }

    fn show(&self, bytes: &[u8], command: u32) -> String {
        ipmsg::decode(bytes, command, self.forced)
    }
}

fn main() -> ExitCode {
    common::run(feiq)
}

fn feiq(args: Args) -> anyhow::Result<()> {
    let encoding = args.encoding.unwrap_or(Encoding::Gbk);
    let name = |given: Option<String>, fallback: String| -> anyhow::Result<Vec<u8>> {
        let name = ipmsg::clean_name(&given.unwrap_or(fallback));
        Ok(encoding
            .encode(&name)
            .context("cannot write the user or host name")?
            .into_owned())
    };
    let mut me = Me {
        user: name(args.user, login_name())?,
        host: name(args.host, host_name())?,
        encoding,
        forced: args.encoding,
        numbers: PacketNumbers::new(),
        hexdump: Hexdump::new(args.hexdump),
    };
    match args.command {
        Cmd::Send {
            to,
            bind,
            no_check,
            timeout,
            message,
        } => send(&mut me, &to, bind.as_ref(), no_check, timeout, message),
        Cmd::Listen { bind, announce } => listen(&mut me, &bind, announce.as_ref()),
    }
}

// ANCHOR: send
fn send(
    me: &mut Me,
    to: &[HostPort],
    bind: Option<&HostPort>,
    no_check: bool,
    timeout: Duration,
    message: Vec<String>,
) -> anyhow::Result<()> {
    let peers = to
        .iter()
        .map(|p| p.resolve_one(IPMSG_PORT))
        .collect::<Result<Vec<_>, _>>()?;
    let local = match (bind, peers.first()) {
        (Some(b), _) => b.resolve_one(IPMSG_PORT)?,
        (None, Some(&first)) => SocketAddr::new(common::addr::unspecified_for(first), IPMSG_PORT),
        (None, None) => anyhow::bail!("no peer to send to: give --to ADDR"),
    };
    // Port 2425, because that is where IP Messenger clients send their acknowledgements.
    let socket = UdpSocket::bind(local).with_context(|| format!("cannot bind {local}"))?;
    common::announce_listening(socket.local_addr()?, Proto::Udp);

    let messages: Box<dyn Iterator<Item = io::Result<String>>> = if message.is_empty() {
        Box::new(text::lines(io::stdin().lock()))
    } else {
        Box::new(std::iter::once(Ok(message.join(" "))))
    };
    let mut all_delivered = true;
    for message in messages {
        let message = message.context("cannot read stdin")?;
        let text = match me.encoding.encode(&message) {
            Ok(text) => text.into_owned(),
            Err(e) => {
                common::log_error("message not sent", e);
                all_delivered = false;
                continue;
            }
        };
        let command = if no_check {
            ipmsg::IPMSG_SENDMSG
        } else {
            ipmsg::IPMSG_SENDMSG | ipmsg::IPMSG_SENDCHECKOPT
        };
        // One packet (one packet number) per peer: each acknowledgement names its packet.
        let mut waiting: Vec<(Packet, SocketAddr)> = Vec::new();
        for &peer in &peers {
            let packet = me.packet(command, text.clone());
            me.send(&socket, &packet, peer)
                .with_context(|| format!("cannot send to {peer}"))?;
            println!("sent packet {} to {peer}", packet.packet_no);
            if !no_check {
                waiting.push((packet, peer));
            }
        }
        all_delivered &= wait_for_acks(me, &socket, waiting, timeout)?;
    }
    if all_delivered {
        Ok(())
    } else {
        anyhow::bail!("some messages were not acknowledged")
    }
}
// ANCHOR_END: send

// ANCHOR: acks
/// Waits for the RECVMSG that names each packet, resending every `timeout`, four tries in
/// all, as IP Messenger and iptux do. Returns whether every packet was acknowledged.
fn wait_for_acks(
    me: &Me,
    socket: &UdpSocket,
    mut waiting: Vec<(Packet, SocketAddr)>,
    timeout: Duration,
) -> anyhow::Result<bool> {
    const TRIES: u32 = 4;
    let mut buf = vec![0u8; 65535];
    let mut all = true;
    for attempt in 1..=TRIES {
        if attempt > 1 {
            for (packet, peer) in &waiting {
                // The same packet number again: the receiver shows it once, acks every copy.
                me.send(socket, packet, *peer)
                    .with_context(|| format!("cannot send to {peer}"))?;
                println!(
                    "resent packet {} to {peer} (try {attempt} of {TRIES})",
                    packet.packet_no
                );
            }
        }
        let deadline = Instant::now() + timeout;
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            socket.set_read_timeout(Some(left))?;
            let (len, from) = match socket.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                // A "port unreachable" for one peer: the others may still answer.
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionRefused
                        || e.kind() == io::ErrorKind::ConnectionReset =>
                {
                    continue;
                }
                Err(e) => return Err(e).context("recv_from failed"),
            };
            me.hexdump.received(from, &buf[..len]);
            let Ok(ack) = Packet::parse(&buf[..len]) else {
                continue;
            };
            if ack.mode() != ipmsg::IPMSG_RECVMSG {
                continue;
            }
            // The acknowledgement carries the acknowledged packet's number as text. It comes
            // from the peer's address, but not necessarily from the port we sent to.
            let acked: Option<u64> = std::str::from_utf8(&ack.text)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            if let Some(i) = waiting
                .iter()
                .position(|(p, peer)| Some(p.packet_no) == acked && peer.ip() == from.ip())
            {
                let (packet, peer) = waiting.swap_remove(i);
                println!(
                    "delivered to {peer}: packet {} acknowledged",
                    packet.packet_no
                );
            }
        }
        if waiting.is_empty() {
            return Ok(all);
        }
    }
    for (packet, peer) in waiting {
        println!(
            "no acknowledgement from {peer} for packet {} after {TRIES} tries",
            packet.packet_no
        );
        all = false;
    }
    Ok(all)
}
// ANCHOR_END: acks

// ANCHOR: listen
fn listen(
    me: &mut Me,
    bind: &BindArgs<IPMSG_PORT>,
    announce: Option<&HostPort>,
) -> anyhow::Result<()> {
    let local = bind.local_addr()?;
    let socket = UdpSocket::bind(local).with_context(|| format!("cannot bind {local}"))?;
    common::announce_listening(socket.local_addr()?, Proto::Udp);
    if let Some(target) = announce {
        let target = target.resolve_one(IPMSG_PORT)?;
        // Sending to a broadcast address needs SO_BROADCAST; the kernel refuses without it.
        socket.set_broadcast(true)?;
        let entry = me.packet(ipmsg::IPMSG_BR_ENTRY, me.user.clone());
        me.send(&socket, &entry, target)
            .with_context(|| format!("cannot announce to {target}"))?;
        println!("announced ourselves to {target} (BR_ENTRY)");
    }

    // The last packets shown, by sender and number: a resent copy is acknowledged again
    // but shown only once.
    let mut seen: VecDeque<(IpAddr, u64)> = VecDeque::with_capacity(64);
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
            Err(e) => return Err(e).context("recv_from failed"),
        };
        let datagram = &buf[..len];
        me.hexdump.received(from, datagram);
        let packet = match Packet::parse(datagram) {
            Ok(packet) => packet,
            Err(why) => {
                println!("not an IPMsg packet from {from} ({len} bytes): {why}");
                continue;
            }
        };
        let who = format!(
            "{}@{} ({from})",
            me.show(&packet.user, packet.command),
            me.show(&packet.host, packet.command)
        );
        let answer = match packet.mode() {
            ipmsg::IPMSG_SENDMSG => {
                let checked = packet.has(ipmsg::IPMSG_SENDCHECKOPT);
                // Only a message that asks for acknowledgement is ever resent, so only such
                // a message can be a copy. (The seed numbers all its messages 324244.)
                let copy = checked && seen.contains(&(from.ip(), packet.packet_no));
                if !copy {
                    if checked {
                        if seen.len() == 64 {
                            seen.pop_front();
                        }
                        seen.push_back((from.ip(), packet.packet_no));
                    }
                    println!("{who}: {}", me.show(&packet.text, packet.command));
                }
                // Acknowledge, unless it was sent to many or is an automatic answer.
                let wants_ack = checked
                    && !packet.has(ipmsg::IPMSG_BROADCASTOPT)
                    && !packet.has(ipmsg::IPMSG_AUTORETOPT);
                wants_ack.then(|| {
                    me.packet(
                        ipmsg::IPMSG_RECVMSG,
                        packet.packet_no.to_string().into_bytes(),
                    )
                })
            }
            ipmsg::IPMSG_BR_ENTRY => {
                println!("{who} is online: {}", me.show(&packet.text, packet.command));
                // ANSENTRY with our nickname: the newcomer adds us to its list.
                Some(me.packet(ipmsg::IPMSG_ANSENTRY, me.user.clone()))
            }
            ipmsg::IPMSG_ANSENTRY => {
                println!(
                    "{who} answered our entry: {}",
                    me.show(&packet.text, packet.command)
                );
                None
            }
            ipmsg::IPMSG_BR_EXIT => {
                println!("{who} has left");
                None
            }
            ipmsg::IPMSG_RECVMSG => {
                println!(
                    "{who} acknowledged packet {}",
                    me.show(&packet.text, packet.command)
                );
                None
            }
            _ => {
                let name = ipmsg::mode_name(packet.command).unwrap_or("an unknown command");
                println!("{who} sent {name} (command 0x{:x})", packet.command);
                None
            }
        };
        // Answer the address the packet came from.
        if let Some(answer) = answer {
            match me.send(&socket, &answer, from) {
                Ok(()) => println!(
                    "answered {from} with {}",
                    ipmsg::mode_name(answer.command).unwrap_or("?")
                ),
                Err(e) => common::log_error(format_args!("cannot answer {from}"), e),
            }
        }
    }
}
// ANCHOR_END: listen

/// The login name, as IP Messenger clients send it.
fn login_name() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "rust".into())
}

/// This machine's host name (Linux keeps it in /proc; elsewhere, $HOSTNAME).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
