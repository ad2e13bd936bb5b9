//! The person who types the replies in `--interactive` mode, as in the seed's server.

use std::cell::Cell;
use std::io::{self, IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::Instant;

use common::{Encoding, text};

/// The person who types the replies in `--interactive` mode.
///
/// A thread reads their lines as they come, each with the moment it was read. A reply goes
/// only to the peer the person saw named: a line read before the server printed
/// `received ... from PEER` was typed for someone else (an answer to an earlier peer, a
/// line too many), and is shown and dropped, never sent to whoever wrote next.
pub struct Operator {
    lines: Receiver<(Instant, String)>,
    encoding: Encoding,
    on_terminal: bool,
}

/// A reader that remembers when its last read returned.
struct Arrival<R> {
    inner: R,
    at: Rc<Cell<Instant>>,
}

impl<R: Read> Read for Arrival<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at.set(Instant::now());
        Ok(n)
    }
}

impl Operator {
    pub fn spawn(encoding: Encoding) -> Operator {
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            // A line's moment is when its bytes arrived, not when this thread got round to
            // it: two lines that came in one read were typed together, however late the
            // second one is handled on a busy machine.
            let arrived = Rc::new(Cell::new(Instant::now()));
            let input = io::BufReader::new(Arrival {
                inner: io::stdin(),
                at: Rc::clone(&arrived),
            });
            for line in text::lines(input) {
                // An error reading stdin ends the input, like its end.
                let Ok(line) = line else { break };
                if tx.send((arrived.get(), line)).is_err() {
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
    pub fn reply_to(
        &self,
        peer: SocketAddr,
        named_at: Instant,
        out: &mut impl Write,
    ) -> Option<Vec<u8>> {
        // The log's lines are queued (common::log): `received ... from PEER` goes out before
        // the prompt that asks for its reply.
        common::log::flush(std::time::Duration::from_secs(2));
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
