//! Feiq (飞秋): send and receive real IP Messenger messages over UDP port 2425.
//!
//! Terminal 1:  cargo run -p feiq -- listen
//! Terminal 2:  cargo run -p feiq -- send --port 0 --to 127.0.0.1 "你好"
//!
//! Pitfall: IP Messenger clients send their answers to port 2425 of the sender's address,
//! whatever port the message came from. A sender on any other port never hears the
//! acknowledgement; on one machine, though, `listen` holds 2425, hence `--port 0`.
#![forbid(unsafe_code)]

mod ipmsg;
mod peers;

use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::{BindArgs, CannotBind, ClientBindArgs, Encoding, Hexdump, HostPort, Proto, text};
use ipmsg::{Packet, PacketNumbers};
use peers::{Answer, Peers};

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

    /// Text encoding: gbk as Feiq [default], gb18030 (GBK and the rest of Unicode), or utf-8,
    /// which sets the UTF8OPT bit. For received text, forces this encoding instead of what
    /// the sender announced or a guess.
    #[arg(long, global = true, value_enum, ignore_case = true)]
    encoding: Option<Encoding>,

    /// Show every packet's bytes on stderr.
    #[arg(long, global = true)]
    hexdump: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send a message to one or more peers and wait for each acknowledgement.
    Send(SendArgs),
    /// Print the messages that arrive, and answer as an IP Messenger client does.
    Listen(ListenArgs),
}

#[derive(clap::Args)]
struct SendArgs {
    /// A peer, HOST[:PORT] (port 2425 if none); repeat for several.
    #[arg(long, value_name = "HOST[:PORT]", required = true)]
    to: Vec<HostPort>,

    /// Our end: port 2425 by default, because that is where clients send acknowledgements.
    #[command(flatten)]
    bind: ClientBindArgs<IPMSG_PORT>,

    /// Send the seed's plain command 32, asking for no acknowledgement.
    #[arg(long)]
    no_check: bool,

    /// How long to wait for each acknowledgement before sending again; 4 tries in all.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = common::seconds)]
    timeout: Duration,

    /// The message [default: each line of stdin is one message].
    message: Vec<String>,
}

#[derive(clap::Args)]
struct ListenArgs {
    #[command(flatten)]
    bind: BindArgs<IPMSG_PORT>,

    /// Announce yourself to HOST[:PORT] (BR_ENTRY) at start, as clients do to the LAN's
    /// broadcast address; nothing is broadcast without it.
    #[arg(long, value_name = "HOST[:PORT]")]
    announce: Option<HostPort>,
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
        Cmd::Send(send_args) => send(&mut me, send_args),
        Cmd::Listen(listen_args) => listen(&mut me, &listen_args),
    }
}

// ANCHOR: send
fn send(me: &mut Me, args: SendArgs) -> anyhow::Result<()> {
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
                undelivered += deliver(me, &socket, command, &text, &peers, args.timeout)?;
            }
            Err(e) => {
                common::log_error("message not sent", e);
                undelivered += peers.len();
            }
        }
    }
    if undelivered > 0 {
        anyhow::bail!(
            "{} not delivered",
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
            print!("message> ");
            let _ = io::stdout().flush();
        }
        lines.next()
    }))
}

// ANCHOR: acks
/// Sends one message to each peer and, if it asks for acknowledgement, waits for each: the
/// same packet again every `timeout` while one is missing, four tries in all, as IP
/// Messenger and iptux do. Returns how many peers did not acknowledge it.
fn deliver(
    me: &mut Me,
    socket: &UdpSocket,
    command: u32,
    text: &[u8],
    peers: &[SocketAddr],
    timeout: Duration,
) -> anyhow::Result<usize> {
    const TRIES: u32 = 4;
    // One packet, with its own number, for each peer: an acknowledgement names its packet.
    let mut waiting: Vec<(Packet, SocketAddr)> = peers
        .iter()
        .map(|&peer| (me.packet(command, text.to_vec()), peer))
        .collect();
    for attempt in 1..=TRIES {
        for (packet, peer) in &waiting {
            // Said before `send_to`: on loopback the answer can come before the next line.
            if attempt == 1 {
                println!("sending to {peer}");
            } else {
                println!(
                    "no acknowledgement yet: sending the same packet to {peer} again (try {attempt} of {TRIES})"
                );
            }
            me.send(socket, packet, *peer)
                .with_context(|| format!("cannot send to {peer}"))?;
        }
        if command & ipmsg::IPMSG_SENDCHECKOPT == 0 {
            return Ok(0);
        }
        let deadline = Instant::now() + timeout;
        while !waiting.is_empty() {
            let Some((number, from)) = next_ack(me, socket, deadline)? else {
                break;
            };
            // The acknowledgement comes from the peer's address, but not necessarily from
            // the port we sent to (iptux answers from its own 2425).
            let acked = waiting
                .iter()
                .position(|(packet, peer)| packet.packet_no == number && peer.ip() == from.ip());
            if let Some(i) = acked {
                let (_, peer) = waiting.swap_remove(i);
                println!("delivered to {peer} (acknowledged)");
            }
        }
        if waiting.is_empty() {
            return Ok(0);
        }
    }
    for (_, peer) in &waiting {
        println!("no acknowledgement from {peer} after {TRIES} tries");
    }
    Ok(waiting.len())
}

/// Waits until `deadline` for an acknowledgement (RECVMSG) and returns the packet number
/// it names and who sent it; `None` once the deadline has passed.
fn next_ack(
    me: &Me,
    socket: &UdpSocket,
    deadline: Instant,
) -> anyhow::Result<Option<(u64, SocketAddr)>> {
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
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
        me.hexdump.received(from, &buf[..len]);
        let acked = Packet::parse(&buf[..len])
            .ok()
            .filter(|packet| packet.mode() == ipmsg::IPMSG_RECVMSG)
            .and_then(|ack| ipmsg::acked_number(&ack));
        if let Some(number) = acked {
            return Ok(Some((number, from)));
        }
    }
}
// ANCHOR_END: acks

// ANCHOR: listen
fn listen(me: &mut Me, args: &ListenArgs) -> anyhow::Result<()> {
    let local = args.bind.local_addr()?;
    let socket = UdpSocket::bind(local).with_context(|| CannotBind::new(local, Proto::Udp))?;
    common::announce_listening(socket.local_addr()?, Proto::Udp);
    if let Some(target) = &args.announce {
        let target = target.resolve_one(IPMSG_PORT)?;
        // Sending to a broadcast address needs SO_BROADCAST; the kernel refuses without it.
        socket.set_broadcast(true)?;
        let entry = me.packet(ipmsg::IPMSG_BR_ENTRY, me.user.clone());
        me.send(&socket, &entry, target)
            .with_context(|| format!("cannot announce to {target}"))?;
        println!("announced ourselves to {target} (BR_ENTRY)");
    }

    let mut peers = Peers::new();
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
                println!(
                    "not an IPMsg packet from {from} ({}): {why}",
                    text::count(len as u64, "byte", "bytes")
                );
                continue;
            }
        };
        if let Some(encoding) = ipmsg::announced_encoding(&packet) {
            peers.announced(from, encoding);
        }
        let encoding = ipmsg::encoding_of(&packet, me.forced, peers.encoding(from));
        // Everything the peer wrote is shown through `show`, which escapes control and
        // bidirectional characters: a peer cannot rewrite our screen.
        let show = |bytes: &[u8]| text::show(bytes, encoding);
        let who = format!("{}@{} ({from})", show(&packet.user), show(&packet.host));
        let answer = match packet.mode() {
            ipmsg::IPMSG_SENDMSG => {
                // Only a message that asks for acknowledgement is ever resent, so only such
                // a message can be a copy. (The seed numbers all its messages 324244.)
                let checked = packet.has(ipmsg::IPMSG_SENDCHECKOPT);
                if checked && !peers.first_time(from, packet.packet_no) {
                    println!("{who} resent a message already shown (a copy: acknowledged again)");
                } else {
                    println!("{who}: {}", show(&packet.text));
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
                println!("{who} is online: {}", show(&packet.text));
                // ANSENTRY with our nickname: the newcomer adds us to its list.
                Some(me.packet(ipmsg::IPMSG_ANSENTRY, me.user.clone()))
            }
            ipmsg::IPMSG_ANSENTRY => {
                println!("{who} answered our entry: {}", show(&packet.text));
                None
            }
            ipmsg::IPMSG_BR_EXIT => {
                println!("{who} has left");
                None
            }
            ipmsg::IPMSG_RECVMSG => {
                println!("{who} acknowledged packet {}", show(&packet.text));
                None
            }
            _ => {
                let name = ipmsg::mode_name(packet.command).unwrap_or("an unknown command");
                println!("{who} sent {name} (command 0x{:x})", packet.command);
                None
            }
        };
        // Answer the address the packet came from, but only so often: that address may be
        // forged, and the answer would then go to someone who never asked for it.
        let Some(answer) = answer else { continue };
        match peers.may_answer(from.ip(), Instant::now()) {
            Answer::Yes => match me.send(&socket, &answer, from) {
                Ok(()) => println!(
                    "answered {from} with {}",
                    ipmsg::mode_name(answer.command).unwrap_or("?")
                ),
                Err(e) => common::log_error(format_args!("cannot answer {from}"), e),
            },
            Answer::Limited { first: true } => println!(
                "not answering {}: more than {} answers a second asked for; answers resume when it slows down",
                from.ip(),
                peers::ANSWERS_PER_SEC
            ),
            Answer::Limited { first: false } => {}
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
