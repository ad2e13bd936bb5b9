//! UDP server: prints every datagram it receives and answers its sender.
//!
//! Terminal 1:  cargo run -p udp-server
//! Terminal 2:  cargo run -p udp-client
//!
//! Pitfall: the answer goes to the address `recv_from` returned, and anyone can forge that
//! address. A server that answers everything can be made to answer itself, or another server,
//! for ever; `guard` decides whom to answer and how often.
#![forbid(unsafe_code)]

mod guard;

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use common::datagram::{self, Datagram};
use common::{BindArgs, CannotBind, Encoding, Hexdump, Proto, text};

use guard::Guard;

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
                println!("a client has gone: {e}");
                continue;
            }
            Err(e) => return Err(e).context("recvfrom failed"),
        };
        let (peer, data) = (got.from, &buf[..got.copied]);
        hexdump.received(peer, data);
        print_received(&got, data, args.encoding);
        let named_at = Instant::now();
        // ANCHOR_END: recv

        // ANCHOR: guard
        if !guard.admit(&got, named_at) {
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
                println!(
                    "sent {} to {peer}",
                    text::count(sent as u64, "byte", "bytes")
                );
            }
            Err(e) => common::log_error(format_args!("cannot answer {peer}"), e),
        }
        // ANCHOR_END: reply

        if args.once {
            return Ok(());
        }
    }
}

/// `received 10 bytes from 127.0.0.1:56985: 0123`, and a second line if it was cut.
fn print_received(got: &Datagram, data: &[u8], encoding: Encoding) {
    println!(
        "received {} from {}: {}",
        text::count(got.len as u64, "byte", "bytes"),
        got.from,
        text::show(data, encoding)
    );
    if got.is_cut() {
        println!(
            "  (cut: the buffer holds {}; {} lost)",
            got.copied,
            text::count((got.len - got.copied) as u64, "byte", "bytes")
        );
    }
}

/// Whether a receive error concerns one earlier client only (see `recv` above).
fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

/// The person who types the replies in `--interactive` mode.
///
/// A thread reads their lines as they come, each with the moment it was read. A reply goes
/// only to the peer the person saw named: a line read before the server printed
/// `received ... from PEER` was typed for someone else (an answer to an earlier peer, a
/// line too many), and is shown and dropped, never sent to whoever wrote next.
struct Operator {
    lines: Receiver<(Instant, String)>,
    encoding: Encoding,
    on_terminal: bool,
}

impl Operator {
    fn spawn(encoding: Encoding) -> Operator {
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in text::lines(io::stdin().lock()) {
                // An error reading stdin ends the input, like its end.
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Operator {
            lines,
            encoding,
            on_terminal: io::stdin().is_terminal(),
        }
    }

    /// The operator's answer to `peer`, named on screen at `named_at`: the next line typed
    /// after that, with a prompt on a terminal. Lines typed before are shown on `out` as not
    /// sent. Asks again when a line cannot be encoded. `None` when stdin has ended.
    fn reply_to(
        &self,
        peer: SocketAddr,
        named_at: Instant,
        out: &mut impl Write,
    ) -> Option<Vec<u8>> {
        loop {
            let (typed_at, line) = match self.lines.try_recv() {
                Ok(typed) => typed,
                Err(TryRecvError::Empty) => {
                    if self.on_terminal {
                        eprint!("reply to {peer}> ");
                        let _ = io::stderr().flush();
                    }
                    self.lines.recv().ok()?
                }
                Err(TryRecvError::Disconnected) => return None,
            };
            if typed_at < named_at {
                let _ = writeln!(
                    out,
                    "not sent to {peer}: typed before it was named: {}",
                    text::printable(&line)
                );
                continue;
            }
            match self.encoding.encode(&line) {
                Ok(bytes) => return Some(bytes.into_owned()),
                Err(e) => common::log_error("reply not sent", e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    type Typist = Option<mpsc::Sender<(Instant, String)>>;

    /// An operator who typed `typed` at `at`; stdin stays open unless `close`.
    fn operator(typed: &[&str], at: Instant, close: bool) -> (Operator, Typist) {
        let (tx, lines) = mpsc::channel();
        for line in typed {
            tx.send((at, line.to_string())).unwrap();
        }
        let operator = Operator {
            lines,
            encoding: Encoding::Gbk,
            on_terminal: false,
        };
        (operator, (!close).then_some(tx))
    }

    fn peer() -> SocketAddr {
        "127.0.0.1:10086".parse().unwrap()
    }

    /// The attack: the operator answered one peer and typed a line too many; a stranger
    /// writes next. The extra line is shown as not sent, and the stranger gets only what is
    /// typed after it was named.
    #[test]
    fn a_line_typed_before_the_peer_was_named_is_never_sent_to_it() {
        let earlier = Instant::now();
        let named_at = earlier + Duration::from_millis(1);
        let (op, tx) = operator(&["hunter2"], earlier, false);
        let tx = tx.unwrap();
        tx.send((named_at, "早".to_string())).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            op.reply_to(peer(), named_at, &mut out),
            Some(b"\xd4\xe7".to_vec())
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "not sent to 127.0.0.1:10086: typed before it was named: hunter2\n"
        );
    }

    #[test]
    fn a_line_typed_after_the_datagram_is_sent_without_a_note_and_no_prompt_when_piped() {
        let (op, tx) = operator(&[], Instant::now(), false);
        let named_at = Instant::now();
        let typist = thread::spawn(move || {
            // reply_to finds nothing typed yet and waits; this line ends the wait.
            tx.unwrap()
                .send((Instant::now(), "ok".to_string()))
                .unwrap();
        });
        let mut out = Vec::new();
        assert_eq!(
            op.reply_to(peer(), named_at, &mut out),
            Some(b"ok".to_vec())
        );
        typist.join().unwrap();
        assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn an_unencodable_line_is_skipped_and_the_end_of_input_is_none() {
        let named_at = Instant::now();
        let (op, _) = operator(&["😀", "好\u{202e}txt"], named_at, true);
        let mut out = Vec::new();
        assert_eq!(
            op.reply_to(peer(), named_at, &mut out),
            None,
            "GBK has no U+202E either"
        );
        let (op, _) = operator(&["😀", "好"], named_at, true);
        assert_eq!(
            op.reply_to(peer(), named_at, &mut out),
            Some(b"\xba\xc3".to_vec())
        );
        assert_eq!(op.reply_to(peer(), named_at, &mut Vec::new()), None);
        // What is shown of a dropped line is escaped like everything else.
        let (op, _) = operator(
            &["好\u{202e}txt"],
            named_at - Duration::from_millis(1),
            true,
        );
        let mut out = Vec::new();
        assert_eq!(op.reply_to(peer(), named_at, &mut out), None);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains(": 好\\u{202e}txt\n"), "{out}");
    }
}
