//! UDP chat: one socket, a thread that prints every message as it arrives, and you typing.
//!
//! Terminal 1:  cargo run -p udp-chat -- --port 6666 --to 127.0.0.1:6667
//! Terminal 2:  cargo run -p udp-chat -- --port 6667 --to 127.0.0.1:6666
//!
//! Pitfall: one thread cannot wait for the keyboard and for the network at once. The seed's
//! menu does one or the other, and misses whatever the other would have brought.
#![forbid(unsafe_code)]

mod keyboard;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use anyhow::Context;
use clap::Parser;
use common::{BindArgs, CannotBind, Encoding, Hexdump, HostPort, Proto, text};

use keyboard::Screen;

/// The seed's chat port.
const CHAT_PORT: u16 = 6666;

/// UDP chat: sends what you type to a peer and shows messages as they arrive.
/// Chapter: "UDP chat".
#[derive(Parser)]
#[command(version, after_help = HELP)]
struct Args {
    #[command(flatten)]
    bind: BindArgs<CHAT_PORT>,

    /// Where plain lines go, HOST[:PORT] (port 6666 if none); `/peer` changes it.
    #[arg(long, value_name = "HOST[:PORT]")]
    to: Option<HostPort>,

    /// How text is turned into bytes and back.
    #[arg(long, value_enum, ignore_case = true, default_value_t)]
    encoding: Encoding,

    /// Show every datagram's bytes on stderr.
    #[arg(long)]
    hexdump: bool,
}

const HELP: &str = "\
Commands, typed as lines:
  TEXT           send TEXT to the current peer
  /peer ADDR     talk to ADDR from now on (HOST[:PORT])
  /reply [TEXT]  talk to whoever wrote last, and send TEXT if given
  //TEXT         send a line that starts with '/'
  /help          this list
  /quit          leave (so does end of input, Ctrl-D)";

/// The most bytes one UDP datagram carries over IPv4: 65,535 for the IP packet, less
/// 20 for the IP header and 8 for the UDP header.
const MAX_DATAGRAM: usize = 65_507;

/// Whoever wrote last: the receiving thread sets it, `/reply` reads it.
type LastSender = Arc<Mutex<Option<SocketAddr>>>;

fn main() -> ExitCode {
    common::run(chat)
}

fn chat(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    let mut peer = match &args.to {
        Some(p) => Some(p.resolve_one(CHAT_PORT)?),
        None => None,
    };

    // ANCHOR: bind
    let local = args.bind.local_addr()?;
    let socket = UdpSocket::bind(local).with_context(|| CannotBind::new(local, Proto::Udp))?;
    common::announce_listening(socket.local_addr()?, Proto::Udp);
    // ANCHOR_END: bind

    // ANCHOR: spawn
    // A second handle on the same socket. The receiving thread blocks in recv_from on it,
    // while this thread blocks reading the keyboard; each wakes up for its own event.
    let receiver = socket.try_clone().context("cannot clone the socket")?;
    let last_sender = LastSender::default();
    // On a terminal, the receiving thread prints above the line you are typing.
    let (mut keyboard, screen) = keyboard::open();
    {
        let last_sender = Arc::clone(&last_sender);
        let encoding = args.encoding;
        thread::spawn(move || receive(&receiver, &last_sender, screen, encoding, hexdump));
    }
    // ANCHOR_END: spawn

    // ANCHOR: input
    while let Some(line) = keyboard.read_line(&keyboard::prompt(peer)) {
        let line = line.context("cannot read stdin")?;
        let message = match Command::parse(&line) {
            Command::Quit => break,
            Command::Help => {
                println!("{HELP}");
                continue;
            }
            Command::Peer(addr) => {
                match resolve_peer(addr) {
                    Ok(addr) => {
                        peer = Some(addr);
                        println!("now talking to {addr}");
                    }
                    Err(e) => common::log_error(format_args!("cannot talk to {addr:?}"), e),
                }
                continue;
            }
            Command::Reply(message) => {
                let last = *last_sender.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(addr) = last else {
                    eprintln!(
                        "error: nobody has written yet, so there is nobody to reply to\n\
                         hint: /reply answers whoever wrote last; wait for a message, \
                         or choose a peer with /peer HOST:PORT"
                    );
                    continue;
                };
                if peer != Some(addr) {
                    peer = Some(addr);
                    println!("now talking to {addr}");
                }
                match message {
                    Some(message) => message,
                    None => continue,
                }
            }
            Command::Unknown(word) => {
                eprintln!("error: unknown command {word:?}; /help lists them (//TEXT sends a '/')");
                continue;
            }
            Command::Send(message) => message,
        };
        let Some(to) = peer else {
            eprintln!(
                "error: no peer yet; choose one with /peer ADDR, or /reply after someone writes"
            );
            continue;
        };
        let data = match args.encoding.encode(message) {
            Ok(data) => data,
            Err(e) => {
                common::log_error("message not sent", e);
                continue;
            }
        };
        // Hold stdout from the send to its "sent" line: an answer that comes back at once is
        // then printed by the receiving thread after it, never before its cause.
        let stdout = io::stdout().lock();
        match socket.send_to(&data, to) {
            Ok(sent) => {
                hexdump.sent(to, &data);
                println!("sent {} to {to}", text::count(sent as u64, "byte", "bytes"));
            }
            Err(e) if data.len() > MAX_DATAGRAM => eprintln!(
                "error: message not sent: {} do not fit in one UDP datagram: {e}\n\
                 hint: a UDP datagram carries at most {MAX_DATAGRAM} bytes over IPv4; \
                 send less at a time",
                text::count(data.len() as u64, "byte", "bytes")
            ),
            Err(e) => common::log_error(format_args!("cannot send to {to}"), e),
        }
        drop(stdout);
    }
    // ANCHOR_END: input
    // Returning from main ends the process, and with it the receiving thread, which is
    // blocked in recv_from and holds nothing that has not been printed.
    println!("bye");
    Ok(())
}

// ANCHOR: receive
/// Prints every datagram that arrives, and remembers who sent it, until the socket fails.
fn receive(
    socket: &UdpSocket,
    last_sender: &LastSender,
    mut screen: Screen,
    encoding: Encoding,
    hexdump: Hexdump,
) {
    let mut buf = vec![0u8; 65535];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                // Remember the sender first: once the message is on screen, the user may
                // /reply to it.
                *last_sender.lock().unwrap_or_else(PoisonError::into_inner) = Some(from);
                let data = &buf[..len];
                hexdump.received(from, data);
                screen.print(format!("from {from}: {}", text::show(data, encoding)));
            }
            // An ICMP error about an earlier send (a peer that has gone): not this socket's end.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                ) =>
            {
                screen.print(format!("(a peer is unreachable: {e})"));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                common::log_error("cannot receive any more", e);
                return;
            }
        }
    }
}
// ANCHOR_END: receive

/// A typed address, HOST[:PORT], with the chat's port 6666 where none is given.
fn resolve_peer(typed: &str) -> anyhow::Result<SocketAddr> {
    let host_port: HostPort = typed.parse().map_err(anyhow::Error::msg)?;
    Ok(host_port.resolve_one(CHAT_PORT)?)
}

/// A line typed by the user.
#[derive(Debug, PartialEq, Eq)]
enum Command<'a> {
    Send(&'a str),
    Peer(&'a str),
    Reply(Option<&'a str>),
    Help,
    Quit,
    Unknown(&'a str),
}

impl<'a> Command<'a> {
    fn parse(line: &'a str) -> Command<'a> {
        let Some(rest) = line.strip_prefix('/') else {
            return Command::Send(line);
        };
        if rest.starts_with('/') {
            return Command::Send(rest);
        }
        let (word, arg) = match rest.split_once(' ') {
            Some((word, arg)) => (word, arg.trim()),
            None => (rest, ""),
        };
        match (word, arg) {
            ("quit", _) => Command::Quit,
            ("help", _) => Command::Help,
            ("peer", addr) => Command::Peer(addr),
            ("reply", "") => Command::Reply(None),
            ("reply", _) => Command::Reply(rest.split_once(' ').map(|(_, m)| m)),
            _ => Command::Unknown(word),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Command::{self, *};

    #[test]
    fn parses_the_commands() {
        assert_eq!(Command::parse("hello"), Send("hello"));
        assert_eq!(Command::parse(""), Send(""));
        assert_eq!(Command::parse("//etc"), Send("/etc"));
        assert_eq!(Command::parse("/peer 127.0.0.1:7"), Peer("127.0.0.1:7"));
        assert_eq!(Command::parse("/peer"), Peer(""));
        assert_eq!(Command::parse("/reply"), Reply(None));
        assert_eq!(Command::parse("/reply  hi there"), Reply(Some(" hi there")));
        assert_eq!(Command::parse("/quit"), Quit);
        assert_eq!(Command::parse("/help"), Help);
        assert_eq!(Command::parse("/nope x"), Unknown("nope"));
        assert_eq!(Command::parse("/"), Unknown(""));
    }
}
