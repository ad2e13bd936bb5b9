//! UDP chat: one socket, a thread that prints every message as it arrives, and you typing.
//!
//! Terminal 1:  cargo run -p udp-chat -- --port 6666 --to 127.0.0.1:6667
//! Terminal 2:  cargo run -p udp-chat -- --port 6667 --to 127.0.0.1:6666
//!
//! Pitfall: one thread cannot wait for the keyboard and for the network at once. The seed's
//! menu does one or the other, and misses whatever the other would have brought.

mod command;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use anyhow::Context;
use clap::Parser;
use command::Command;
use common::console::{self, Screen};
use common::limit::{ScreenShare, Show};
use common::net::{DATAGRAM_TOO_BIG_HINT, MAX_DATAGRAM};
use common::{BindArgs, CannotBind, Encoding, Hexdump, HostPort, Proto, text};

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
  /reply [TEXT]  talk to whoever wrote last; TEXT is sent only if they were already
                 your peer (the one your prompt named), never to someone new
  //TEXT         send a line that starts with '/'
  /help          this list
  /quit          leave (so does end of input, Ctrl-D)";

/// Whoever wrote last: the receiving thread sets it, `/reply` reads it.
type LastSender = Arc<Mutex<Option<SocketAddr>>>;

fn main() -> ExitCode {
    common::run(chat)
}

/// The chat's state: the socket, where plain lines go, and who wrote last.
struct Chat {
    socket: UdpSocket,
    peer: Option<SocketAddr>,
    last_sender: LastSender,
    encoding: Encoding,
    hexdump: Hexdump,
}

fn chat(args: Args) -> anyhow::Result<()> {
    let peer = match &args.to {
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
    let mut chat = Chat {
        socket,
        peer,
        last_sender: LastSender::default(),
        encoding: args.encoding,
        hexdump: Hexdump::new(args.hexdump),
    };
    // On a terminal, the receiving thread prints above the line you are typing.
    let (mut keyboard, screen) = console::open();
    {
        let last_sender = Arc::clone(&chat.last_sender);
        let (encoding, hexdump) = (chat.encoding, chat.hexdump);
        thread::spawn(move || receive(&receiver, &last_sender, screen, encoding, hexdump));
    }
    // ANCHOR_END: spawn

    // ANCHOR: input
    while let Some(line) = keyboard.read_line(&prompt(chat.peer)) {
        let line = line.context("cannot read stdin")?;
        match Command::parse(&line) {
            Command::Quit => break,
            command => chat.obey(command),
        }
    }
    // ANCHOR_END: input
    // Returning from main ends the process, and with it the receiving thread, which is
    // blocked in recv_from and holds nothing that has not been printed.
    common::sayln!("bye");
    Ok(())
}

impl Chat {
    /// Whoever wrote last, as the receiving thread recorded it.
    fn last_sender(&self) -> Option<SocketAddr> {
        *self
            .last_sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Carries out one typed command.
    fn obey(&mut self, command: Command<'_>) {
        let message = match command {
            Command::Send(message) => message,
            Command::Help => return common::sayln!("{HELP}"),
            Command::Peer(addr) => match resolve_peer(addr) {
                Ok(addr) => return self.talk_to(addr),
                Err(e) => return common::log_error(format_args!("cannot talk to {addr:?}"), e),
            },
            Command::Reply(message) => {
                let Some(addr) = self.last_sender() else {
                    return eprintln!(
                        "error: nobody has written yet, so there is nobody to reply to\n\
                         hint: /reply answers whoever wrote last; wait for a message, \
                         or choose a peer with /peer HOST:PORT"
                    );
                };
                // A line goes only to the peer the prompt named while it was typed: whoever
                // wrote last may have changed a moment before Enter (a stranger's datagram).
                if self.peer != Some(addr) {
                    self.talk_to(addr);
                    if message.is_some() {
                        eprintln!(
                            "error: not sent: /reply TEXT goes only to the peer you were \
                             talking to, and {addr} is new; send it again if it is meant for {addr}"
                        );
                    }
                    return;
                }
                match message {
                    Some(message) => message,
                    None => return,
                }
            }
            Command::Unknown(word) => {
                return eprintln!(
                    "error: unknown command {word:?}; /help lists them (//TEXT sends a '/')"
                );
            }
            Command::Quit => return,
        };
        match self.peer {
            Some(to) => self.send(message, to),
            None => eprintln!(
                "error: no peer yet; choose one with /peer ADDR, or /reply after someone writes"
            ),
        }
    }

    fn talk_to(&mut self, addr: SocketAddr) {
        self.peer = Some(addr);
        common::sayln!("now talking to {addr}");
    }

    // ANCHOR: send
    fn send(&self, message: &str, to: SocketAddr) {
        let data = match self.encoding.encode(message) {
            Ok(data) => data,
            Err(e) => return common::log_error("message not sent", e),
        };
        // Hold stdout from the send to its "sent" line: an answer that comes back at once is
        // then printed by the receiving thread after it, never before its cause.
        let stdout = io::stdout().lock();
        match self.socket.send_to(&data, to) {
            Ok(sent) => {
                self.hexdump.sent(to, &data);
                common::sayln!("sent {} to {to}", text::count(sent as u64, "byte", "bytes"));
            }
            Err(e) if data.len() > MAX_DATAGRAM => eprintln!(
                "error: message not sent: {} do not fit in one UDP datagram: {e}\n\
                 hint: {DATAGRAM_TOO_BIG_HINT}",
                text::count(data.len() as u64, "byte", "bytes")
            ),
            Err(e) => common::log_error(format_args!("cannot send to {to}"), e),
        }
        drop(stdout);
    }
    // ANCHOR_END: send
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
    // One address cannot fill the screen: past its share, its datagrams are counted (and not
    // remembered for /reply), and the count is shown with its next line.
    let mut share = ScreenShare::new();
    loop {
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                match share.admit(from.ip()) {
                    Show::Yes => {}
                    Show::After(note) => screen.line(note),
                    Show::No => continue,
                }
                // Remember the sender first: once the message is on screen, the user may
                // /reply to it.
                *last_sender.lock().unwrap_or_else(PoisonError::into_inner) = Some(from);
                let data = &buf[..len];
                hexdump.received(from, data);
                let shown = text::show_capped(data, encoding, common::limit::SHOWN_BYTES);
                screen.line(format_args!("from {from}: {shown}"));
            }
            // An ICMP error about an earlier send (a peer that has gone), which Windows reports
            // here (Linux tells only connected sockets, or those with IP_RECVERR): not this
            // socket's end.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                ) =>
            {
                screen.line(format_args!("(a peer is unreachable: {e})"));
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

/// The prompt: who a plain line goes to.
fn prompt(peer: Option<SocketAddr>) -> String {
    match peer {
        Some(peer) => format!("to {peer}> "),
        None => "(no peer: /peer ADDR)> ".to_string(),
    }
}

/// A typed address, HOST[:PORT], with the chat's port 6666 where none is given.
fn resolve_peer(typed: &str) -> anyhow::Result<SocketAddr> {
    let host_port: HostPort = typed.parse().map_err(anyhow::Error::msg)?;
    Ok(host_port.resolve_one(CHAT_PORT)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_prompt_names_the_peer() {
        let peer = "127.0.0.1:6667".parse().ok();
        assert_eq!(super::prompt(peer), "to 127.0.0.1:6667> ");
        assert_eq!(super::prompt(None), "(no peer: /peer ADDR)> ");
    }
}
