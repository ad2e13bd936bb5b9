//! UDP server: prints the datagrams it receives and answers their senders.
//!
//! Terminal 1:  cargo run -p udp-server
//! Terminal 2:  cargo run -p udp-client
//!
//! Pitfall: the answer goes to the address `recv_from` returned, and anyone can forge that
//! address. A server that answers everything can be made to answer itself, or another server,
//! for ever; `guard` decides whom to answer and how often.

mod guard;
mod operator;

use std::borrow::Cow;
use std::io;
use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use common::datagram::{self, Datagram};
use common::limit::{ScreenShare, Show};
use common::{BindArgs, CannotBind, Encoding, Hexdump, Proto, text};

use guard::Guard;
use operator::Operator;

/// The seed's server port.
const SERVER_PORT: u16 = 8080;

/// UDP server: receives datagrams, prints them and answers each sender.
/// Chapter: "UDP server".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    bind: BindArgs<SERVER_PORT>,

    /// Answer with a line typed on stdin instead of echoing the datagram, as the seed does.
    #[arg(long)]
    interactive: bool,

    /// Receive buffer in bytes; a longer datagram is cut to it (the seed's recvfrom(1024)).
    #[arg(long, value_name = "N", default_value_t = 65535,
          value_parser = clap::value_parser!(u16).range(1..))]
    buffer: u16,

    /// Answer one datagram, then exit.
    #[arg(long)]
    once: bool,

    /// How text is turned into bytes and back.
    #[arg(long, value_enum, ignore_case = true, default_value_t)]
    encoding: Encoding,

    /// Show every datagram's bytes on stderr.
    #[arg(long)]
    hexdump: bool,
}

fn main() -> ExitCode {
    common::run(serve)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    let operator = args.interactive.then(|| Operator::spawn(args.encoding));

    // ANCHOR: bind
    let local = args.bind.local_addr()?;
    let socket = UdpSocket::bind(local).with_context(|| CannotBind::new(local, Proto::Udp))?;
    // With --port 0 the OS picked the port: the socket knows which one.
    let local = socket.local_addr()?;
    // Each datagram will come with the address it was sent to (IP_PKTINFO), so that the
    // guard can tell a datagram sent to us from one sent to everyone.
    datagram::want_destination(&socket).context("cannot ask for destination addresses")?;
    common::announce_listening(local, Proto::Udp);
    // ANCHOR_END: bind
    let mut guard = Guard::new(local);
    // Each address's share of the log (see `print_received`); the operator sees all.
    let mut share = (!args.interactive).then(ScreenShare::for_log);

    let mut buf = vec![0u8; usize::from(args.buffer)];
    loop {
        // ANCHOR: recv
        // recv_from, through common's `datagram::recv`: the sender, and also the datagram's
        // real length (MSG_TRUNC) and where it was sent (IP_PKTINFO).
        let got = match datagram::recv(&socket, &mut buf) {
            Ok(got) => got,
            // An ICMP "port unreachable" for an earlier reply, which Windows reports here
            // (Linux tells only connected sockets, or those with IP_RECVERR): that client
            // has gone, the others have not.
            Err(e) if gone(&e) => {
                common::outln!("a client has gone: {e}");
                continue;
            }
            Err(e) => return Err(e).context("recvfrom failed"),
        };
        let (peer, data) = (got.from, &buf[..got.copied]);
        // From this moment the operator can see who wrote: `--interactive` sends this
        // peer only what was typed after it.
        let named_at = Instant::now();
        hexdump.received(peer, data);
        let shown = print_received(&mut share, &got, data, args.encoding);
        // ANCHOR_END: recv

        // ANCHOR: guard
        if !guard.admit(&got, named_at, shown) {
            continue;
        }
        // ANCHOR_END: guard

        // ANCHOR: reply
        let reply = match &operator {
            Some(operator) => match operator.reply_to(peer, named_at, &mut io::stdout().lock()) {
                Some(bytes) => Cow::Owned(bytes),
                None => return Ok(()), // stdin closed: the operator has left.
            },
            None => Cow::Borrowed(data),
        };
        // Send to `peer`, the address this datagram came from.
        match socket.send_to(&reply, peer) {
            Ok(sent) => {
                hexdump.sent(peer, &reply);
                if shown {
                    let sent = text::count(sent as u64, "byte", "bytes");
                    common::outln!("sent {sent} to {peer}");
                }
            }
            Err(e) => common::log_error(format_args!("cannot answer {peer}"), e),
        }
        // ANCHOR_END: reply

        if args.once {
            return Ok(());
        }
    }
}

/// `received 10 bytes from 127.0.0.1:56985: 0123`, and a second line if it was cut, unless
/// the sender's address has had its `share` of the log (100 lines, then 10 a second: a peer
/// must not fill our disk); says whether they were printed. At most 128 bytes are shown.
fn print_received(
    share: &mut Option<ScreenShare>,
    got: &Datagram,
    data: &[u8],
    encoding: Encoding,
) -> bool {
    if let Some(share) = share {
        match share.admit(got.from.ip()) {
            Show::Yes => {}
            Show::After(note) => common::outln!("{note}"),
            Show::No => return false,
        }
    }
    common::outln!(
        "received {} from {}: {}",
        text::count(got.len as u64, "byte", "bytes"),
        got.from,
        text::show_capped(data, encoding, common::log::SHOWN_PER_CHUNK)
    );
    if got.is_cut() {
        common::outln!(
            "  (cut: the buffer holds {}; {} lost)",
            got.copied,
            text::count((got.len - got.copied) as u64, "byte", "bytes")
        );
    }
    true
}

/// Whether a receive error concerns one earlier client only (see `recv` above).
fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}
