//! Feiq (飞秋): send and receive real IP Messenger messages over UDP port 2425.
//!
//! Terminal 1:  cargo run -p feiq -- listen
//! Terminal 2:  cargo run -p feiq -- send --port 0 --to 127.0.0.1 "你好"
//!
//! Pitfall: IP Messenger clients send their answers to port 2425 of the sender's address,
//! whatever port the message came from. A sender on any other port never hears the
//! acknowledgement; on one machine, though, `listen` holds 2425, hence `--port 0`.

mod answer;
mod ipmsg;
mod peers;
mod send;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::limit::{Limit, ScreenShare, Show};
use common::outln;
use common::{BindArgs, CannotBind, ClientBindArgs, Encoding, Hexdump, HostPort, Proto, text};
use ipmsg::{Packet, PacketNumbers};
use peers::Peers;

/// The IP Messenger port, UDP (and TCP for files).
const IPMSG_PORT: u16 = 2425;

/// Feiq / IP Messenger: send messages and know they arrived, or listen for them.
/// Chapter: "Feiq: a real protocol".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Cmd,

    /// The user name sent in every packet [default: $USER, $USERNAME or $LOGNAME, else "rust"].
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

/// Who we are on the wire, and how we write text. It makes packets; it sends none.
struct Me {
    user: Vec<u8>,
    host: Vec<u8>,
    encoding: Encoding,
    /// `--encoding`, which also forces how received text is read.
    forced: Option<Encoding>,
    numbers: PacketNumbers,
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
    };
    let hexdump = Hexdump::new(args.hexdump);
    match args.command {
        Cmd::Send(send_args) => send::send(&mut me, send_args, hexdump),
        Cmd::Listen(listen_args) => listen(&mut me, &listen_args, hexdump),
    }
}

// ANCHOR: listen
fn listen(me: &mut Me, args: &ListenArgs, hexdump: Hexdump) -> anyhow::Result<()> {
    let local = args.bind.local_addr()?;
    let socket = UdpSocket::bind(local).with_context(|| CannotBind::new(local, Proto::Udp))?;
    common::announce_listening(socket.local_addr()?, Proto::Udp);
    if let Some(target) = &args.announce {
        let target = target.resolve_one(IPMSG_PORT)?;
        // Sending to a broadcast address needs SO_BROADCAST; the kernel refuses without it.
        socket.set_broadcast(true)?;
        let entry = me.packet(ipmsg::IPMSG_BR_ENTRY, me.user.clone());
        send_packet(&socket, hexdump, &entry, target)
            .with_context(|| format!("cannot announce to {target}"))?;
        outln!("announced ourselves to {target} (BR_ENTRY)");
        // And no more: an entry forged from the LAN's broadcast address had its answer
        // sent to every machine of the LAN.
        socket.set_broadcast(false)?;
    }

    let mut peers = Peers::new();
    // One address cannot fill the screen: past its share, its packets are counted rather
    // than shown, and the count is shown with its next line. They are still answered (within
    // their own limit), except a message, which is acknowledged only once it is shown.
    let mut share = ScreenShare::new();
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, from) = match recv_from(&socket, &mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
            Err(e) => return Err(e).context("recv_from failed"),
        };
        let datagram = &buf[..len];
        hexdump.received(from, datagram);
        let show = share.admit(from.ip());
        peers.showing(show.line());
        if let Show::After(note) = &show {
            outln!("{note}");
        }
        let packet = match Packet::parse(datagram) {
            Ok(packet) => packet,
            Err(why) if show.line() => {
                let size = text::count(len as u64, "byte", "bytes");
                outln!("not an IPMsg packet from {from} ({size}): {why}");
                continue;
            }
            Err(_) => continue,
        };
        let (line, answer) = answer::on_packet(&packet, from, me, &mut peers);
        if show.line() {
            outln!("{line}");
        }
        // Answer the address the packet came from, but only so often: that address may be
        // forged, and the answer would then go to someone who never asked for it.
        if let Some(answer) = answer {
            if answer_allowed(&mut peers, from) {
                match send_packet(&socket, hexdump, &answer, from) {
                    Ok(()) => outln!(
                        "answered {from} with {}",
                        ipmsg::mode_name(answer.command).unwrap_or("?")
                    ),
                    Err(e) => common::log_error(format_args!("cannot answer {from}"), e),
                }
            }
        }
    }
}
// ANCHOR_END: listen

/// Whether `from` may get one more answer now; says so when it may not, once per spell.
fn answer_allowed(peers: &mut Peers, from: SocketAddr) -> bool {
    if let Some(why) = common::datagram::forged_source(from) {
        outln!("not answering {from}: {why}");
        return false;
    }
    let limit = peers.may_answer(from.ip(), Instant::now());
    match limit {
        Limit::Limited { first: true } => outln!(
            "not answering {}: more than {} answers at once or {} a second asked for; \
             answers resume when it slows down",
            from.ip(),
            peers::ANSWER_BURST,
            peers::ANSWERS_PER_SEC
        ),
        Limit::TooManyPeers => {
            outln!("not answering {from}: too many peers at once to keep track of");
        }
        Limit::Yes | Limit::Again(_) | Limit::Limited { first: false } => {}
    }
    if !limit.allows() {
        return false;
    }
    let all = peers.may_answer_anyone(Instant::now());
    if all == (Limit::Limited { first: true }) {
        outln!(
            "not answering {}: more than {} answers at once or {} a second to all addresses \
             together; answers resume when they slow down",
            from.ip(),
            peers::ALL_ANSWERS_BURST,
            peers::ALL_ANSWERS_PER_SEC
        );
    }
    all.allows()
}

/// Sends one packet, and shows it with `--hexdump`.
fn send_packet(
    socket: &UdpSocket,
    hexdump: Hexdump,
    packet: &Packet,
    to: SocketAddr,
) -> io::Result<()> {
    let bytes = packet.to_bytes();
    socket.send_to(&bytes, to)?;
    hexdump.sent(to, &bytes);
    Ok(())
}

/// `recv_from`, again when a signal interrupted it: after Ctrl-Z and `fg` (SIGSTOP and
/// SIGCONT), a receive with a timeout fails with EINTR (`man 7 signal`), and nothing is lost.
fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    loop {
        match socket.recv_from(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            got => return got,
        }
    }
}

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
