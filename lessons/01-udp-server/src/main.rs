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
use common::{BindArgs, CannotBind, Encoding, Hexdump, Proto, text};
use rustix::net::RecvFlags;

use guard::{Guard, Verdict};

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
    common::announce_listening(local, Proto::Udp);
    // ANCHOR_END: bind
    let mut guard = Guard::new(local);

    // ANCHOR: recv
    let mut buf = vec![0u8; usize::from(args.buffer)];
    loop {
        // recvfrom(2) with MSG_TRUNC: Linux copies what fits into `buf` and returns the
        // datagram's real length, so a cut datagram is seen, and by how much. (std's
        // `recv_from` takes no flags and returns only what it copied.)
        let (copied, len, peer) = match rustix::net::recvfrom(&socket, &mut buf, RecvFlags::TRUNC) {
            Ok((copied, len, Some(from))) => match SocketAddr::try_from(from) {
                Ok(peer) => (copied, len, peer),
                Err(_) => continue, // Not an IP address: nobody to answer.
            },
            Ok((_, _, None)) => continue,
            // An ICMP "port unreachable" for an earlier reply, which Windows reports here
            // (Linux tells only connected sockets): that client has gone, the others have not.
            Err(e)
                if matches!(
                    e,
                    rustix::io::Errno::CONNRESET | rustix::io::Errno::CONNREFUSED
                ) =>
            {
                println!("a client has gone: {}", io::Error::from(e));
                continue;
            }
            Err(e) => return Err(io::Error::from(e)).context("recvfrom failed"),
        };
        let data = &buf[..copied];
        hexdump.received(peer, data);
        println!(
            "received {} from {peer}: {}",
            text::count(len as u64, "byte", "bytes"),
            text::show(data, args.encoding)
        );
        if len > copied {
            println!(
                "  (cut: the buffer holds {copied}; {} lost)",
                text::count((len - copied) as u64, "byte", "bytes")
            );
        }
        // ANCHOR_END: recv

        // ANCHOR: guard
        match guard.admit(peer, Instant::now()) {
            Verdict::Answer => {}
            Verdict::AnswerAgain(unanswered) => println!(
                "answering {} again ({} went unanswered while it was limited)",
                peer.ip(),
                text::count(unanswered, "datagram", "datagrams")
            ),
            Verdict::Refuse(why) => {
                println!("not answering {peer}: {why}");
                continue;
            }
            Verdict::Limited(first) => {
                if first {
                    println!(
                        "limiting {}: more than {} answers at once or {} a second; \
                         its datagrams go unanswered until it slows down",
                        peer.ip(),
                        guard::BURST,
                        guard::PER_SECOND
                    );
                }
                continue;
            }
        }
        // ANCHOR_END: guard

        // ANCHOR: reply
        let reply = match &operator {
            Some(operator) => match operator.reply_to(peer, &mut io::stdout().lock()) {
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

/// The person who types the replies in `--interactive` mode.
///
/// A thread reads their lines as they come, so that a line typed before a datagram arrived
/// is known as such: the server shows it before sending it, instead of sending, unseen,
/// something typed for another occasion.
struct Operator {
    lines: Receiver<String>,
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
                if tx.send(line).is_err() {
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

    /// The operator's answer to `peer`: a line typed already (shown on `out` first), or the
    /// next one, after a prompt on a terminal. Asks again when a line cannot be encoded.
    /// `None` when stdin has ended.
    fn reply_to(&self, peer: SocketAddr, out: &mut impl Write) -> Option<Vec<u8>> {
        loop {
            let line = match self.lines.try_recv() {
                Ok(line) => {
                    let _ = writeln!(
                        out,
                        "reply typed before this datagram arrived: {}",
                        text::printable(&line)
                    );
                    line
                }
                Err(TryRecvError::Empty) => {
                    if self.on_terminal {
                        eprint!("reply to {peer}> ");
                        let _ = io::stderr().flush();
                    }
                    self.lines.recv().ok()?
                }
                Err(TryRecvError::Disconnected) => return None,
            };
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

    fn operator(typed: &[&str], close: bool) -> (Operator, Option<mpsc::Sender<String>>) {
        let (tx, lines) = mpsc::channel();
        for line in typed {
            tx.send(line.to_string()).unwrap();
        }
        let operator = Operator {
            lines,
            encoding: Encoding::Gbk,
            on_terminal: false,
        };
        (operator, (!close).then_some(tx))
    }

    #[test]
    fn a_line_typed_before_the_datagram_is_shown_before_it_is_sent() {
        let peer: SocketAddr = "127.0.0.1:10086".parse().unwrap();
        let (op, _tx) = operator(&["早", "later"], false);
        let mut out = Vec::new();
        assert_eq!(op.reply_to(peer, &mut out), Some(b"\xd4\xe7".to_vec()));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "reply typed before this datagram arrived: 早\n"
        );
    }

    #[test]
    fn a_line_typed_after_the_datagram_is_sent_without_a_note_and_no_prompt_when_piped() {
        let peer: SocketAddr = "127.0.0.1:10086".parse().unwrap();
        let (op, tx) = operator(&[], false);
        let typist = thread::spawn(move || {
            // reply_to finds nothing typed yet and waits; this line ends the wait.
            tx.unwrap().send("ok".to_string()).unwrap();
        });
        let mut out = Vec::new();
        assert_eq!(op.reply_to(peer, &mut out), Some(b"ok".to_vec()));
        typist.join().unwrap();
        assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn an_unencodable_line_is_skipped_and_the_end_of_input_is_none() {
        let peer: SocketAddr = "127.0.0.1:10086".parse().unwrap();
        let (op, _) = operator(&["😀", "好\u{202e}txt"], true);
        let mut out = Vec::new();
        assert_eq!(
            op.reply_to(peer, &mut out),
            None,
            "GBK has no U+202E either"
        );
        let (op, _) = operator(&["😀", "好"], true);
        assert_eq!(op.reply_to(peer, &mut out), Some(b"\xba\xc3".to_vec()));
        let out = String::from_utf8(out).unwrap();
        // What is shown of a typed line is escaped like everything else.
        assert!(out.contains(": 好\\u{202e}txt\n"), "{out}");
        assert_eq!(op.reply_to(peer, &mut Vec::new()), None);
    }
}
