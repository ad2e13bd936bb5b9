//! The promises every lesson keeps, whatever the exercise: checked after each check passed,
//! on everything its programs printed, so that a new code path cannot quietly drop them.
//!
//! - Text from a peer is shown escaped: no line any program prints holds a raw control
//!   character (an escape sequence, a CR, a NUL) or a bidirectional override.
//! - A TCP server (tcp-server, tcp-poll, tcp-async, http-server) ends every session it logged as
//!   `accepted ADDR` with exactly one line that says how it ended (`ADDR closed the connection
//!   (FIN) ...`, `ADDR sent nothing for ...`, `ADDR reset the connection (RST) ...`, `error:
//!   connection with ADDR failed ...`, or an exercise's own `ADDR ...: closed ...`, `ADDR sent
//!   N bytes after our FIN`; http-server's `closed ADDR: ...`), once the
//!   check's clients are gone: by then every connection the check made is closed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use testkit::{Failure, Proc, Stream};

use crate::Check;

/// The lessons whose log gives each accepted client one line at the end of its session.
const SESSION_LOGS: &[&str] = &["tcp-server", "tcp-poll", "tcp-async", "http-server"];

/// How long the servers have, once the check's clients are gone, to log the ends.
const ENDS_LOGGED: Duration = Duration::from_secs(4);

impl Check {
    pub(crate) fn promises_kept(&mut self) -> Result<(), Failure> {
        self.sessions_ended()?;
        self.quiet_is_quiet()?;
        self.nothing_raw()
    }

    /// A TCP server started with `--quiet` prints nothing per connection: after its ready
    /// line, no line of its stdout names a client.
    fn quiet_is_quiet(&mut self) -> Result<(), Failure> {
        let quiet: Vec<(Proc, String)> = self
            .procs
            .iter()
            .filter(|(p, lesson)| SESSION_LOGS.contains(&lesson.as_str()) && self.quiet.contains(p))
            .cloned()
            .collect();
        if quiet.is_empty() {
            return Ok(());
        }
        // What they print at the end of the check's last sessions, too.
        let mut scene = std::mem::take(&mut self.scene).timeout(Duration::from_millis(300));
        for (p, _) in &quiet {
            let _ = scene.expect(*p, "\u{0}");
        }
        self.scene = scene.timeout(crate::WAIT);
        for (p, lesson) in quiet {
            let stdout = self.scene.output(p, Stream::Stdout);
            if let Some(line) = stdout.iter().skip(1).find(|l| names_a_client(l)) {
                return Err(self.fail(format!(
                    "{lesson} was started with --quiet, which prints nothing per connection (no \
                     accepts, chunks, refusals or closes), on every code path; it printed {line:?}"
                )));
            }
        }
        self.pass("with --quiet, the server printed nothing per connection");
        Ok(())
    }

    /// Every line of `p`, stdout then stderr.
    fn printed(&self, p: Proc) -> Vec<String> {
        let mut lines = self.scene.output(p, Stream::Stdout);
        lines.extend(self.scene.output(p, Stream::Stderr));
        lines
    }

    fn nothing_raw(&mut self) -> Result<(), Failure> {
        for (p, lesson) in self.procs.clone() {
            for line in self.printed(p) {
                if let Some(raw) = line.chars().find(|&c| is_raw(c)) {
                    return Err(self.fail(format!(
                        "{lesson} printed a line with a raw control character ({raw:?}): {}; \
                         text from a peer is shown escaped in every line the lesson prints, \
                         the new ones too (the lesson's text::show or text::printable)",
                        line.escape_debug()
                    )));
                }
            }
        }
        self.pass("no line any program printed holds a raw control character");
        Ok(())
    }

    fn sessions_ended(&mut self) -> Result<(), Failure> {
        let servers: Vec<(Proc, String)> = self
            .procs
            .iter()
            .filter(|(p, lesson)| {
                SESSION_LOGS.contains(&lesson.as_str()) && !self.killed.contains(p)
            })
            .cloned()
            .collect();
        if servers.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut scene = std::mem::take(&mut self.scene).timeout(Duration::from_millis(200));
        let unended = loop {
            let round = Instant::now();
            let mut unended = Vec::new();
            for (p, lesson) in &servers {
                let _ = scene.expect(*p, "\u{0}");
                let mut lines = scene.output(*p, Stream::Stdout);
                lines.extend(scene.output(*p, Stream::Stderr));
                if let Some(wrong) = session_ends(&lines) {
                    unended.push((lesson.clone(), wrong));
                }
            }
            let too_many = unended.iter().any(|(_, w)| w.ends > w.accepted);
            if unended.is_empty() || too_many || started.elapsed() > ENDS_LOGGED {
                break unended;
            }
            std::thread::sleep(Duration::from_millis(100).saturating_sub(round.elapsed()));
        };
        self.scene = scene.timeout(crate::WAIT);
        if let Some((lesson, wrong)) = unended.first() {
            let Wrong {
                peer,
                accepted,
                ends,
            } = wrong;
            let said = if ends > accepted {
                format!("{ends} lines that end its session")
            } else if *ends == 0 {
                "no line that ends its session".to_string()
            } else {
                format!("only {ends} lines that end a session")
            };
            return Err(self.fail(format!(
                "{lesson} logged `accepted {peer}` {accepted} time(s), and {said}, {:.1} s after \
                 every client of the check was gone: the lesson ends each session with exactly \
                 one line that says how it ended (`{peer} closed the connection (FIN) after N \
                 bytes; closing ours`, `{peer} reset the connection (RST) ...`, `{peer} sent \
                 nothing for ...`, the exercise's own `{peer} ...: closed after N bytes`, or \
                 `error: connection with {peer} failed: ...`), on every code path",
                started.elapsed().as_secs_f64()
            )));
        }
        self.pass("every session the servers accepted ended with one line that says how");
        Ok(())
    }
}

impl Check {
    /// Waits until `p` has dumped (`--hexdump`, on stderr) exactly `bytes` under a title
    /// `{dir} {len} bytes {to_or_from} {peer}`; `what` says what the bytes are.
    pub(crate) fn dumped(
        &mut self,
        p: Proc,
        sent: bool,
        peer: impl std::fmt::Display,
        bytes: &[u8],
        what: &str,
    ) -> Result<(), Failure> {
        let title = if sent {
            format!(">> {} bytes to {peer}", bytes.len())
        } else {
            format!("<< {} bytes from {peer}", bytes.len())
        };
        let started = Instant::now();
        loop {
            let stderr = self.scene.output(p, Stream::Stderr);
            if dumps(&stderr, &title).iter().any(|d| d == bytes) {
                self.pass(format!("--hexdump showed {what}: `{title}` and its bytes"));
                return Ok(());
            }
            if started.elapsed() > crate::WAIT {
                return Err(self.fail(format!(
                    "with --hexdump, every chunk or datagram the program sends or receives is \
                     dumped on stderr, on the new code path too: expected `{title}` and the \
                     bytes of {what} ({}), found {} dump(s) with that title",
                    crate::shown(bytes),
                    dumps(&stderr, &title).len()
                )));
            }
            let mut scene = std::mem::take(&mut self.scene).timeout(Duration::from_millis(100));
            let _ = scene.expect(p, "\u{0}");
            self.scene = scene.timeout(crate::WAIT);
        }
    }
}

/// The bytes of each dump in `stderr` whose title is `title`: the hex columns of the lines
/// after it (`00000000  e4 bd a0 ...  |...|`).
pub(crate) fn dumps(stderr: &[String], title: &str) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in stderr {
        let is_row = line.len() > 10
            && line
                .get(..8)
                .is_some_and(|o| o.chars().all(|c| c.is_ascii_hexdigit()));
        if is_row {
            if let Some(bytes) = current.as_mut() {
                let hex = line.get(8..).unwrap_or_default();
                let hex = hex.split("  |").next().unwrap_or_default();
                bytes.extend(
                    hex.split_whitespace()
                        .filter_map(|b| u8::from_str_radix(b, 16).ok()),
                );
            }
            continue;
        }
        found.extend(current.take());
        if line.trim_end() == title {
            current = Some(Vec::new());
        }
    }
    found.extend(current);
    found
}

/// A character no line may hold raw: the C0 and C1 controls (a tab aside) and the invisible
/// characters that reorder or break a line.
fn is_raw(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

/// Whether `line` holds a loopback address with a port: a client's.
fn names_a_client(line: &str) -> bool {
    ["127.0.0.1:", "[::1]:", "[::ffff:127.0.0.1]:"]
        .iter()
        .any(|ip| line.contains(ip))
}

/// A peer whose `accepted` lines and session-ending lines do not pair up.
#[derive(Debug, PartialEq)]
struct Wrong {
    peer: String,
    accepted: usize,
    ends: usize,
}

/// The first peer, in the order of its `accepted` line, whose sessions did not each end with
/// one line: too few ends (a session not ended yet, or ended silently) or too many.
fn session_ends(lines: &[String]) -> Option<Wrong> {
    let mut order: Vec<String> = Vec::new();
    let mut accepted: HashMap<String, usize> = HashMap::new();
    for line in lines {
        if let Some(peer) = line.trim().strip_prefix("accepted ") {
            let peer = peer
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            if !accepted.contains_key(&peer) {
                order.push(peer.clone());
            }
            *accepted.entry(peer).or_default() += 1;
        }
    }
    order.into_iter().find_map(|peer| {
        let count = |ends: fn(&str, &str) -> bool| lines.iter().filter(|l| ends(l, &peer)).count();
        // connection-life-1's `ADDR sent N bytes after our FIN` ends a session where nothing
        // else does, and may come before the lesson's FIN line.
        let ends = match count(ends_session) {
            0 => count(half_closed),
            n => n,
        };
        let n = accepted.get(&peer).copied().unwrap_or_default();
        (ends != n).then_some(Wrong {
            peer,
            accepted: n,
            ends,
        })
    })
}

/// Whether `line` ends a session of `peer`: it begins with the address and says the
/// connection was closed or reset, or it is the error line of a failed connection.
pub(crate) fn ends_session(line: &str, peer: &str) -> bool {
    let line = line.trim();
    // http-server: `closed ADDR: the client closed the connection (3 requests)`.
    if line.starts_with(&format!("error: connection with {peer} failed"))
        || line.starts_with(&format!("closed {peer}: "))
    {
        return true;
    }
    line.strip_prefix(peer)
        .and_then(|rest| rest.strip_prefix(' '))
        .filter(|rest| !rest.starts_with('"'))
        .is_some_and(|rest| rest.contains("closed") || rest.contains("reset the connection"))
}

/// Whether `line` is connection-life-1's `ADDR sent N bytes after our FIN`.
pub(crate) fn half_closed(line: &str, peer: &str) -> bool {
    line.trim()
        .strip_prefix(peer)
        .is_some_and(|rest| rest.starts_with(" sent ") && rest.ends_with(" after our FIN"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn each_accepted_session_ends_with_one_line() {
        let a = "127.0.0.1:5000";
        let ok = lines(&format!(
            "accepted {a}\nreceived 3 bytes from {a}: \"closed\"\n{a} closed the connection \
             (FIN) after 3 bytes; closing ours\naccepted [::1]:7\nerror: connection with [::1]:7 \
             failed: Broken pipe"
        ));
        assert_eq!(session_ends(&ok), None);
        let silent = lines(&format!("accepted {a}\nreceived 3 bytes from {a}: \"x\""));
        assert_eq!(
            session_ends(&silent),
            Some(Wrong {
                peer: a.into(),
                accepted: 1,
                ends: 0
            })
        );
        let twice = lines(&format!(
            "accepted {a}\n{a} sent QUIT: closed after 5 bytes\n{a} reset the connection (RST) \
             after 5 bytes"
        ));
        assert_eq!(session_ends(&twice).map(|w| w.ends), Some(2));
        let half = lines(&format!("accepted {a}\n{a} sent 4 bytes after our FIN"));
        assert_eq!(session_ends(&half), None);
        let both = lines(&format!(
            "accepted {a}\n{a} sent 4 bytes after our FIN\n{a} closed the connection (FIN) after \
             9 bytes; closing ours"
        ));
        assert_eq!(session_ends(&both), None);
        // 127.0.0.1:50 is not 127.0.0.1:5000.
        let prefix = lines(&format!(
            "accepted 127.0.0.1:50\n{a} closed the connection (FIN) after 0 bytes; closing ours"
        ));
        assert_eq!(session_ends(&prefix).map(|w| w.ends), Some(0));
    }

    #[test]
    fn dumps_are_read_back() {
        let err = lines(
            ">> 18 bytes to 127.0.0.1:9\n00000000  68 65 6c 6c 6f 20 7c 20  61 62 63 64 65 66 67 68  |hello | abcdefgh|\n\
             00000010  0d 0a                                             |..|\nreceived 2 bytes\n\
             >> 1 bytes to 127.0.0.1:9\n00000000  7c                                                |||",
        );
        assert_eq!(
            dumps(&err, ">> 18 bytes to 127.0.0.1:9"),
            vec![b"hello | abcdefgh\r\n".to_vec()]
        );
        assert_eq!(
            dumps(&err, ">> 1 bytes to 127.0.0.1:9"),
            vec![b"|".to_vec()]
        );
    }

    #[test]
    fn raw_controls_are_found() {
        assert!("a\u{1b}[2J".chars().any(is_raw));
        assert!("x\u{202e}txt".chars().any(is_raw));
        assert!("\r".chars().any(is_raw));
        assert!(!"tab\there, 你好 🦀 \\u{1b}".chars().any(is_raw));
    }
}
