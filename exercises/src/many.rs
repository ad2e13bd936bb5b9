//! The many-clients part: tcp-poll, tcp-async, and the connection-life exercise on
//! tcp-server. Every check here holds several connections at once, each with its own reader
//! thread, so that what one client does (or does not do) can be seen not to hold up another.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use testkit::{Proc, Stream};

use crate::{Check, Failure, WAIT, shown};

/// How much later than its due time a timed event may come on a loaded machine.
const LATE: Duration = Duration::from_millis(400);

/// What a client's reader thread saw: a line (newline included), or the end of the stream.
enum Seen {
    Line(Vec<u8>, Instant),
    /// The bytes after the last newline, and how the stream ended: `None` for a FIN, the
    /// error's kind for a reset or another failure.
    End(Vec<u8>, Option<io::ErrorKind>, Instant),
}

/// A connection to the lesson whose incoming bytes a thread reads as they come, line by
/// line, so that the check can write, and wait on several clients, without blocking on one.
struct Peer {
    name: &'static str,
    stream: TcpStream,
    addr: SocketAddr,
    seen: mpsc::Receiver<Seen>,
    /// Holds the reader thread back until dropped: a client that reads nothing for now.
    gate: Option<mpsc::Sender<()>>,
    /// The end of the stream, when `bytes_are` met it right after the bytes it waited for.
    ended: Option<Seen>,
}

impl Peer {
    /// Connects to `to` and waits for the lesson's `accepted ADDR` line for it.
    fn connect(
        c: &mut Check,
        p: Proc,
        to: SocketAddr,
        name: &'static str,
    ) -> Result<Peer, Failure> {
        let stream = TcpStream::connect_timeout(&to, WAIT)
            .map_err(|e| c.fail(format!("client {name} cannot connect to {to}: {e}")))?;
        Peer::new(c, p, stream, name, None)
    }

    /// Like `connect`, with a receive buffer of 4 KiB set before the handshake: a client
    /// whose window stays small, so that a server's buffers for it fill soon.
    fn connect_small(
        c: &mut Check,
        p: Proc,
        to: SocketAddr,
        name: &'static str,
    ) -> Result<Peer, Failure> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .and_then(|s| s.set_recv_buffer_size(4096).map(|()| s))
            .and_then(|s| s.connect_timeout(&to.into(), WAIT).map(|()| s))
            .map_err(|e| c.fail(format!("client {name} cannot connect to {to}: {e}")))?;
        let (gate, wait) = mpsc::channel::<()>();
        let mut peer = Peer::new(c, p, socket.into(), name, Some(wait))?;
        peer.gate = Some(gate);
        Ok(peer)
    }

    /// A client that read nothing so far starts reading.
    fn read_from_now(&mut self) {
        self.gate = None;
    }

    /// With `wait`, the reader thread reads nothing until that channel closes.
    fn new(
        c: &mut Check,
        p: Proc,
        stream: TcpStream,
        name: &'static str,
        wait: Option<mpsc::Receiver<()>>,
    ) -> Result<Peer, Failure> {
        let addr = stream
            .local_addr()
            .map_err(|e| c.fail(format!("client {name} has no address: {e}")))?;
        let reading = stream
            .set_nodelay(true)
            .and_then(|()| stream.set_write_timeout(Some(WAIT)))
            .and_then(|()| stream.try_clone())
            .map_err(|e| c.fail(format!("cannot set up client {name}: {e}")))?;
        let (tx, seen) = mpsc::channel();
        thread::spawn(move || {
            if let Some(wait) = wait {
                let _ = wait.recv();
            }
            read_lines(reading, tx);
        });
        c.expect_line(
            p,
            &format!("accepted {addr}"),
            &format!("expected the server to accept client {name} ({addr})"),
        )?;
        Ok(Peer {
            name,
            stream,
            addr,
            seen,
            gate: None,
            ended: None,
        })
    }

    fn write(&mut self, c: &Check, data: &[u8]) -> Result<(), Failure> {
        self.stream.write_all(data).map_err(|e| {
            c.fail(format!(
                "client {} ({}) cannot send {}: {e}",
                self.name,
                self.addr,
                shown(data)
            ))
        })
    }

    /// Sends `data` in pieces cut at points the seed chooses, a moment apart.
    fn write_in_pieces(&mut self, c: &mut Check, data: &[u8]) -> Result<(), Failure> {
        let mut cuts: Vec<usize> = (0..c.rng().below(1..4))
            .map(|_| c.rng().below(1..data.len().max(2)))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut from = 0;
        for cut in cuts.into_iter().chain([data.len()]) {
            self.write(c, data.get(from..cut.max(from)).unwrap_or_default())?;
            from = cut.max(from);
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn finish(&mut self, c: &Check) -> Result<(), Failure> {
        self.stream
            .shutdown(Shutdown::Write)
            .map_err(|e| c.fail(format!("client {} cannot send its FIN: {e}", self.name)))
    }

    /// What the reader saw next, within `within`.
    fn next(&self, c: &Check, within: Duration, what: &str) -> Result<Seen, Failure> {
        self.seen.recv_timeout(within).map_err(|_| {
            c.fail(format!(
                "client {} ({}) expected {what}, but nothing came within {:.1} s",
                self.name,
                self.addr,
                within.as_secs_f64()
            ))
        })
    }

    /// The next line, which must be exactly `want` (newline included); when it came.
    fn line_is(&self, c: &Check, want: &[u8], what: &str) -> Result<Instant, Failure> {
        match self.next(c, WAIT, what)? {
            Seen::Line(got, at) if got == want => Ok(at),
            Seen::Line(got, _) => Err(c.fail(format!(
                "client {} ({}) expected {what}, {}, but got the line {}",
                self.name,
                self.addr,
                shown(want),
                shown(&got)
            ))),
            Seen::End(rest, how, _) => Err(self.ended_early(c, what, &rest, how)),
        }
    }

    /// Exactly the bytes `want`, in whatever lines they come, then nothing more until later.
    fn bytes_are(&mut self, c: &Check, want: &[u8], what: &str) -> Result<(), Failure> {
        let mut got = Vec::new();
        while got.len() < want.len() {
            match self.next(c, WAIT, what)? {
                Seen::Line(line, _) => got.extend(line),
                Seen::End(rest, how, at) => {
                    got.extend(rest);
                    if got == want {
                        self.ended = Some(Seen::End(Vec::new(), how, at));
                        break;
                    }
                    return Err(self.ended_early(c, what, &got, how));
                }
            }
        }
        if got != want {
            return Err(c.fail(format!(
                "client {} ({}) expected {what}, {}, but got {}",
                self.name,
                self.addr,
                shown(want),
                shown(&got)
            )));
        }
        Ok(())
    }

    /// Waits for the end of the stream: a FIN (`fin_only`), or also a reset. Returns when.
    fn ends(
        &mut self,
        c: &Check,
        within: Duration,
        fin_only: bool,
        what: &str,
    ) -> Result<Instant, Failure> {
        let next = match self.ended.take() {
            Some(end) => end,
            None => self.next(c, within, what)?,
        };
        match next {
            Seen::End(rest, how, at) if rest.is_empty() && (how.is_none() || !fin_only) => Ok(at),
            Seen::End(rest, how, _) => Err(self.ended_early(c, what, &rest, how)),
            Seen::Line(line, _) => Err(c.fail(format!(
                "client {} ({}) expected {what}, but got the line {}",
                self.name,
                self.addr,
                shown(&line)
            ))),
        }
    }

    fn ended_early(
        &self,
        c: &Check,
        what: &str,
        rest: &[u8],
        how: Option<io::ErrorKind>,
    ) -> Failure {
        let how = match how {
            None => "the server closed the connection (FIN)".to_string(),
            Some(kind) => format!("the connection failed ({kind:?}: a reset?)"),
        };
        let after = if rest.is_empty() {
            String::new()
        } else {
            format!(" after {}", shown(rest))
        };
        c.fail(format!(
            "client {} ({}) expected {what}, but {how}{after}",
            self.name, self.addr
        ))
    }
}

/// A client the check is done with leaves: its reader thread holds a clone of the socket,
/// which would keep the connection open for as long as the server keeps it.
impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// The reader thread of a `Peer`: every line, then the end of the stream.
fn read_lines(stream: TcpStream, tx: mpsc::Sender<Seen>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        let end = match reader.read_until(b'\n', &mut line) {
            Ok(_) if line.ends_with(b"\n") => None,
            Ok(_) => Some(None),
            Err(e) => Some(Some(e.kind())),
        };
        let seen = match end {
            None => Seen::Line(line, Instant::now()),
            Some(how) => Seen::End(line, how, Instant::now()),
        };
        let last = matches!(seen, Seen::End(..));
        if tx.send(seen).is_err() || last {
            return;
        }
    }
}

fn server(c: &mut Check, lesson: &str, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    let (p, addr) = c.start(lesson, &all)?;
    c.pass(format!(
        "{lesson} {} is listening on {addr}",
        args.join(" ")
    ));
    Ok((p, addr))
}

/// A line of varied text that the seed chooses, with a tag to tell lines apart.
fn text_line(c: &mut Check, tag: &str) -> Vec<u8> {
    let len = c.rng().below(3..25);
    let mut line = format!("{tag} {}", c.rng().text(len)).into_bytes();
    line.push(b'\n');
    line
}

/// Waits for the log line `line` of `p`, which may have come before lines already waited for:
/// the clients' events happen at once, and the log has them in their order, not the check's.
fn logged(c: &mut Check, p: Proc, line: &str, fail: &str) -> Result<(), Failure> {
    if c.scene
        .output(p, Stream::Stdout)
        .iter()
        .any(|l| l.trim() == line)
    {
        return Ok(());
    }
    c.expect_line(p, line, fail).map(drop)
}

/// Fails if the lesson's log shows a control character a peer sent, raw.
fn log_is_escaped(c: &mut Check, p: Proc) -> Result<(), Failure> {
    // Every line printed until now, waited for a moment: no line has a NUL.
    c.scene = std::mem::take(&mut c.scene).timeout(Duration::from_millis(300));
    let _ = c.scene.expect(p, "\u{0}");
    c.scene = std::mem::take(&mut c.scene).timeout(WAIT);
    let raw = c
        .scene
        .output(p, Stream::Stdout)
        .into_iter()
        .find(|l| l.contains('\u{1b}'));
    if let Some(line) = raw {
        return Err(c.fail(format!(
            "a client sent ESC (\\x1b); the lesson's log shows peer text escaped, but printed \
             it raw: {line:?}"
        )));
    }
    c.pass("the ESC a client sent is escaped in the log");
    Ok(())
}

/// What a relay does with a client that reads too slowly.
#[derive(Clone, Copy, PartialEq)]
enum Slow {
    /// tcp-poll-1: closes it.
    Closed,
    /// tcp-async-2: skips lines for it, and says how many.
    Missed,
}

pub fn poll_relay(c: &mut Check) -> Result<(), Failure> {
    relay(c, "tcp-poll", Slow::Closed)
}

pub fn async_relay(c: &mut Check) -> Result<(), Failure> {
    relay(c, "tcp-async", Slow::Missed)
}

fn relay(c: &mut Check, lesson: &str, slow: Slow) -> Result<(), Failure> {
    let (p, addr) = server(c, lesson, &["--relay"])?;
    let mut a = Peer::connect(c, p, addr, "A")?;
    let mut b = Peer::connect(c, p, addr, "B")?;
    let mut third = Peer::connect(c, p, addr, "C")?;
    // A line with an ESC and a byte that is not UTF-8, in pieces: relayed whole, unchanged.
    let mut first = text_line(c, "a1");
    first.splice(2..2, b"\x1b[2J\xff".iter().copied());
    // Its first part, then a whole line from B: C gets B's line first, and A's whole.
    let cut = c.rng().below(3..first.len() - 1);
    let (start, rest) = first.split_at(cut);
    a.write(c, start)?;
    thread::sleep(Duration::from_millis(50));
    let b0 = text_line(c, "b0");
    b.write(c, &b0)?;
    third.line_is(c, &b0, "B's line, while A's line was not yet complete")?;
    a.write_in_pieces(c, rest)?;
    b.line_is(c, &first, "A's line, relayed unchanged")?;
    third.line_is(c, &first, "A's line, relayed unchanged")?;
    a.line_is(c, &b0, "B's line")?;
    c.pass(format!(
        "A's line {} reached B and C whole, after B's line that came while it was incomplete",
        shown(&first)
    ));
    // Two lines in one write.
    let (b1, b2) = (text_line(c, "b1"), text_line(c, "b2"));
    b.write(c, &[b1.clone(), b2.clone()].concat())?;
    for (line, what) in [(&b1, "B's first line"), (&b2, "B's second line")] {
        // A's next line back is B's: a sender never gets its own line.
        a.line_is(c, line, &format!("{what} (and never its own)"))?;
        third.line_is(c, line, what)?;
    }
    c.pass("two lines in one write reached the two others, in order; A did not get its own");
    // Hundreds of short lines in one write: one read of the server brings them all at once,
    // and a client that reads as fast as it can still gets every one.
    let short: Vec<Vec<u8>> = (0..c.rng().below(500..700))
        .map(|i| format!("s{i}\n").into_bytes())
        .collect();
    a.write(c, &short.concat())?;
    for (i, line) in short.iter().enumerate() {
        let what = format!(
            "A's short line {i} of {}, all sent in one write",
            short.len()
        );
        b.line_is(c, line, &what)?;
        third.line_is(c, line, &what)?;
    }
    c.pass(format!(
        "{} short lines in one write from A reached B and C, every one, in order",
        short.len()
    ));
    // Exactly the longest line there may be, then one byte more.
    let mut longest = vec![b'x'; 1023];
    longest[0] = b'c';
    longest.push(b'\n');
    // In two pieces: all but the newline waits whole, then the newline ends it.
    let (body, newline) = longest.split_at(1023);
    third.write(c, body)?;
    thread::sleep(Duration::from_millis(50));
    third.write(c, newline)?;
    a.line_is(c, &longest, "C's line of exactly 1024 bytes")?;
    b.line_is(c, &longest, "C's line of exactly 1024 bytes")?;
    c.pass("a line of exactly 1024 bytes (newline included) was relayed");
    // One byte over, both ways: 1,025 bytes with the newline, and 1,025 without one. Each
    // begins with terminal escape sequences: whatever the log says of them, it says escaped.
    let mut over = [RAW_START, &[b'y'; 1024 - RAW_START.len()]].concat();
    over.push(b'\n');
    third.write(c, &over)?;
    third.ends(
        c,
        WAIT,
        false,
        "its connection closed after a line of 1025 bytes, newline included",
    )?;
    let mut fourth = Peer::connect(c, p, addr, "E")?;
    fourth.write(c, &[RAW_START, &[b'z'; 1025 - RAW_START.len()]].concat())?;
    fourth.ends(
        c,
        WAIT,
        false,
        "its connection closed after 1025 bytes without a newline",
    )?;
    end_logged(c, p, &third)?;
    end_logged(c, p, &fourth)?;
    c.pass("a line of 1025 bytes, and 1025 bytes without a newline, closed their senders");
    // The start of a line, then FIN: those bytes are dropped, never relayed. Once the server
    // has closed F, whatever it would have relayed is already on its way, before B's next line.
    let mut leaver = Peer::connect(c, p, addr, "F")?;
    let mut unfinished = text_line(c, "f");
    unfinished.pop();
    leaver.write(c, &unfinished)?;
    leaver.finish(c)?;
    leaver.ends(c, WAIT, true, "the server's FIN after its own")?;
    let b3 = text_line(c, "b3");
    b.write(c, &b3)?;
    a.line_is(
        c,
        &b3,
        "B's next line (F's line, cut short by its FIN, is dropped)",
    )?;
    c.pass(format!(
        "F's unfinished {} was dropped at its FIN, not relayed",
        shown(&unfinished)
    ));
    log_is_escaped(c, p)?;
    flood(c, p, addr, [a, b], slow)?;
    if slow == Slow::Missed {
        stuck_writer_bounded(c, lesson)?;
    }
    relay_evicts(c, lesson)?;
    quiet_too(c, lesson, &["--relay"], |c, _, addr| {
        let mut a = raw_client(c, addr)?;
        let b = raw_client(c, addr)?;
        thread::sleep(Duration::from_millis(100));
        let mut got = Vec::new();
        let relayed = a
            .write_all(b"\x1b[2J quiet\n")
            .and_then(|()| BufReader::new(&b).read_until(b'\n', &mut got));
        relayed
            .map_err(|e| c.fail(format!("with --relay --quiet, a line was not relayed: {e}")))?;
        let long = [RAW_START, &[b'q'; 1100]].concat();
        let mut rest = Vec::new();
        let _ = a.write_all(&long).and_then(|()| a.read_to_end(&mut rest));
        let _ = b.shutdown(Shutdown::Both);
        Ok(())
    })
}

/// Terminal escape sequences (clear the screen, set the window's title), a CR and a
/// right-to-left override: the start of the lines that are too long.
const RAW_START: &[u8] = b"\x1b[2J\x1b]0;owned\x07\r\xe2\x80\xae";

/// The peak memory of `p` in KiB (VmHWM in /proc/PID/status), where Linux says it.
fn peak_kib(c: &Check, p: Proc) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.scene.pid(p)?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok()
}

/// A client that reads nothing and sends lines, while the others' lines wait for it: what
/// the relay keeps for it must stay bounded while its writes wait (up to --idle-timeout,
/// 300 s). The numbers of its own lines, listed until its writing task passed them, grew the
/// server by 8 bytes a line: 147 MiB in 20 s of empty lines.
fn stuck_writer_bounded(c: &mut Check, lesson: &str) -> Result<(), Failure> {
    const FLOOD: usize = 4 << 20;
    let (p, addr) = server(c, lesson, &["--relay", "--quiet"])?;
    // Small send buffers: once our last write to the server is done, it has read nearly all
    // we sent (Linux lets a send buffer grow to 4 MiB, a whole flood, not yet read).
    let client = |recv_buffer: Option<usize>| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        if let Some(size) = recv_buffer {
            s.set_recv_buffer_size(size)?;
        }
        s.set_send_buffer_size(4096)?;
        s.connect(&addr.into())?;
        s.set_write_timeout(Some(WAIT))?;
        io::Result::Ok(TcpStream::from(s))
    };
    let (stuck, mut other) = match (client(Some(4096)), client(None)) {
        (Ok(stuck), Ok(other)) => (stuck, other),
        (Err(e), _) | (_, Err(e)) => return Err(c.fail(format!("cannot connect to {addr}: {e}"))),
    };
    let mut from = other
        .try_clone()
        .map_err(|e| c.fail(format!("cannot clone a socket: {e}")))?;
    // The other client reads all it gets (the stuck one's empty lines).
    let reading = thread::spawn(move || io::copy(&mut from, &mut io::sink()));
    // Its lines wait for the stuck client, which reads none of them: once the server has
    // read them (our write is done), its writes to the stuck client wait, the first 150 KB or
    // so of them having filled the buffers.
    let line = [vec![b'o'; 999], vec![b'\n']].concat();
    other
        .write_all(&line.repeat(2000))
        .map_err(|e| c.fail(format!("cannot send 2,000 lines: {e}")))?;
    let before = peak_kib(c, p);
    // Its empty lines: a server that stops reading them while its writes wait is bounded too.
    let empty = vec![b'\n'; 1 << 20];
    let mut sent = 0;
    while sent < FLOOD && (&stuck).write_all(&empty).is_ok() {
        sent += empty.len();
    }
    let after = peak_kib(c, p);
    let _ = (
        stuck.shutdown(Shutdown::Both),
        other.shutdown(Shutdown::Both),
    );
    let _ = reading.join();
    let (Some(before), Some(after)) = (before, after) else {
        c.pass("(the server's peak memory is not known here: /proc/PID/status has no VmHWM)");
        return Ok(());
    };
    let grew = after.saturating_sub(before) >> 10;
    if grew > 16 {
        return Err(c.fail(format!(
            "a client that reads nothing sent {sent} empty lines while the other's lines waited \
             for it, and the server's peak memory grew by {grew} MiB: what the relay keeps for \
             a client whose writes wait must be bounded (the numbers of its own lines too: \
             those further back than the channel keeps need only be counted)"
        )));
    }
    c.pass(format!(
        "a client that reads nothing sent {sent} empty lines while the other's lines waited \
         for it; the server's peak memory grew by {grew} MiB"
    ));
    Ok(())
}

/// `--max-clients` holds on the relay path too: when every place is taken, the client idle
/// longest is closed to make room, and logged as the lesson logs it.
fn relay_evicts(c: &mut Check, lesson: &str) -> Result<(), Failure> {
    let (p, addr) = server(c, lesson, &["--relay", "--max-clients", "2"])?;
    let mut a = Peer::connect(c, p, addr, "A")?;
    thread::sleep(Duration::from_millis(100));
    let mut b = Peer::connect(c, p, addr, "B")?;
    thread::sleep(Duration::from_millis(100));
    // Neither has sent anything: A, there longest, is idle longest when C comes.
    let mut third = Peer::connect(c, p, addr, "C")?;
    a.ends(
        c,
        WAIT,
        false,
        "its connection closed: with --max-clients 2, C's arrival takes the place of A, the \
         client idle longest",
    )?;
    let want = format!("{} made room for a new client", a.addr);
    // The line may come before C's `accepted` line, which the check waited for.
    let before = c.scene.output(p, Stream::Stdout);
    if !before.iter().any(|l| l.trim_start().starts_with(&want)) {
        c.expect_matching(
            p,
            &want,
            "with --max-clients 2 and --relay, A made room for C: expected the lesson's line \
         `ADDR made room for a new client, all places being taken (idle N s): ...`",
            |l| l.trim_start().starts_with(&want),
        )?;
    }
    let c0 = text_line(c, "c0");
    third.write(c, &c0)?;
    b.line_is(c, &c0, "C's line, C having taken A's place")?;
    let b0 = text_line(c, "b0");
    b.write(c, &b0)?;
    third.line_is(c, &b0, "B's line")?;
    third.finish(c)?;
    b.finish(c)?;
    third.ends(c, WAIT, false, "the server to close after C's FIN")?;
    b.ends(c, WAIT, false, "the server to close after B's FIN")?;
    c.pass(
        "with --relay --max-clients 2, C's arrival closed A (idle longest) with the lesson's \
         line, and B and C relay to each other",
    );
    Ok(())
}

/// The most bytes of the flood on their way to B at once: half the lines that may wait for a
/// client before the lesson calls it too slow (64 KiB).
const AHEAD: usize = 32 * 1024;

/// What the check tells A's sending thread.
enum Progress {
    /// B has the flood's lines up to this many bytes.
    Took(usize),
    /// B has the first half, and D has sent its own lines: send the second half.
    Go,
}

/// A floods; B reads everything, and D, which reads nothing for now, falls behind.
fn flood(
    c: &mut Check,
    p: Proc,
    addr: SocketAddr,
    peers: [Peer; 2],
    slow: Slow,
) -> Result<(), Failure> {
    let [mut a, mut b] = peers;
    let mut d = Peer::connect_small(c, p, addr, "D")?;
    // About 8 MB in lines of varied length: far more than D's window, the server's buffers
    // for D (on loopback, a new connection's send buffer can grow to 2.6 MB at once) and 64 KiB
    // of lines waiting.
    let lines: Vec<Vec<u8>> = (0..c.rng().below(38_000..42_000))
        .map(|i| {
            let pad = c.rng().below(100..300);
            format!("f{i:06} {}\n", "z".repeat(pad)).into_bytes()
        })
        .collect();
    // A sends the first half, then waits: D's own lines go between the halves.
    let half = lines.len() / 2;
    let (first, second) = lines.split_at(half);
    let (first, second) = (first.concat(), second.concat());
    let (tell, told) = mpsc::channel::<Progress>();
    let mut writer = a
        .stream
        .try_clone()
        .map_err(|e| c.fail(format!("cannot clone a socket: {e}")))?;
    // A keeps at most AHEAD bytes on their way to B: however late the machine runs B's reader,
    // B is never a client that reads too slowly (a busy CI machine made it one).
    let sending = thread::spawn(move || {
        let (mut sent, mut taken, mut go) = (0, 0, false);
        let first = first.chunks(AHEAD / 4).map(|part| (part, false));
        let second = second.chunks(AHEAD / 4).map(|part| (part, true));
        for (part, after_go) in first.chain(second) {
            sent += part.len();
            while sent - taken > AHEAD || (after_go && !go) {
                match told.recv() {
                    Ok(Progress::Took(bytes)) => taken = bytes,
                    Ok(Progress::Go) => go = true,
                    Err(_) => return Ok(()),
                }
            }
            writer.write_all(part)?;
        }
        Ok::<(), io::Error>(())
    });
    let started = Instant::now();
    let mut got = 0;
    for (i, line) in lines.iter().enumerate() {
        if i == half {
            if slow == Slow::Missed {
                // D, far behind by now, sends lines of its own: B gets them, and D does not;
                // they are not lines D missed.
                let own: Vec<Vec<u8>> = (0..200)
                    .map(|k| format!("d{k:03}\n").into_bytes())
                    .collect();
                d.write(c, &own.concat())?;
                for (k, line) in own.iter().enumerate() {
                    let what = format!("D's own line {k} of 200, sent while it lagged");
                    b.line_is(c, line, &what)?;
                    a.line_is(c, line, &what)?;
                }
            }
            let _ = tell.send(Progress::Go);
        }
        b.line_is(c, line, &format!("flood line {i} of A's {}", lines.len()))?;
        got += line.len();
        let _ = tell.send(Progress::Took(got));
    }
    let took = started.elapsed();
    if !matches!(sending.join(), Ok(Ok(()))) {
        return Err(c.fail("client A could not send all its lines: the server stopped reading it"));
    }
    c.pass(format!(
        "B got all {} of A's lines ({} bytes) in {:.2} s, while D read none",
        lines.len(),
        lines.iter().map(Vec::len).sum::<usize>(),
        took.as_secs_f64()
    ));
    let end = b"end\n";
    a.write(c, end)?;
    b.line_is(c, end, "A's line after the flood")?;
    d.read_from_now();
    match slow {
        Slow::Closed => {
            slow_closed(c, &d, &lines)?;
            end_logged(c, p, &d)?;
            slow_reason(c, p, &d)?;
        }
        Slow::Missed => slow_missed(c, &d, &lines, end)?,
    }
    a.finish(c)?;
    b.finish(c)?;
    a.ends(c, WAIT, false, "the server to close after A's FIN")?;
    b.ends(c, WAIT, false, "the server to close after B's FIN")?;
    c.pass("A and B sent FIN, and the server closed both");
    Ok(())
}

/// D was closed for the lines waiting for it, within moments: its end line gives that reason,
/// not another one of the lesson's (the idle timeout never passed, nor did D send FIN or RST).
fn slow_reason(c: &mut Check, p: Proc, d: &Peer) -> Result<(), Failure> {
    let addr = d.addr.to_string();
    let ends: Vec<String> = c
        .scene
        .output(p, Stream::Stdout)
        .into_iter()
        .chain(c.scene.output(p, Stream::Stderr))
        .filter(|l| {
            crate::promises::ends_session(l, &addr) || l.contains(&format!("{addr} made room"))
        })
        .collect();
    let false_reason = ["--idle-timeout", "(FIN)", "(RST)", "made room", "error"];
    if let Some(line) = ends
        .iter()
        .find(|l| false_reason.iter().any(|w| l.contains(w)))
    {
        return Err(c.fail(format!(
            "the server closed D because too many lines waited for it (MAX_PENDING), within \
             moments; its log line gives another reason: {line:?}"
        )));
    }
    c.pass(format!("D's end was logged with its reason: {ends:?}"));
    Ok(())
}

/// D got A's lines in order, from the first, until the server closed it part-way.
/// The server says how a connection ended, whatever ended it: a line naming the client, other
/// than its `accepted` and `received` lines.
fn end_logged(c: &mut Check, p: Proc, who: &Peer) -> Result<(), Failure> {
    let addr = who.addr.to_string();
    let names = |l: &str| {
        l.ends_with(&addr) || l.contains(&format!("{addr} ")) || l.contains(&format!("{addr}:"))
    };
    let is_end = |l: &str| {
        let l = l.trim_start();
        names(l) && !l.starts_with("accepted") && !l.starts_with("received")
    };
    if !c.scene.output(p, Stream::Stdout).iter().any(|l| is_end(l)) {
        let fail = format!(
            "the server closed client {} ({addr}); expected a line in its log saying how that \
             connection ended, as the lesson logs every end",
            who.name
        );
        c.expect_matching(p, &addr, &fail, is_end)?;
    }
    c.pass(format!("the end of {}'s connection was logged", who.name));
    Ok(())
}

fn slow_closed(c: &mut Check, d: &Peer, lines: &[Vec<u8>]) -> Result<(), Failure> {
    let mut got = 0;
    loop {
        match d.next(c, WAIT, "A's lines, and then its connection closed")? {
            Seen::Line(line, _) => {
                if lines.get(got) != Some(&line) {
                    return Err(c.fail(format!(
                        "client D, too slow, expected A's lines in order until the server \
                         closed it: line {got} should be {}, got {}",
                        shown(lines.get(got).map_or(&[][..], Vec::as_slice)),
                        shown(&line)
                    )));
                }
                got += 1;
            }
            Seen::End(rest, _, _) => {
                let next = lines.get(got).map_or(&[][..], Vec::as_slice);
                if got >= lines.len() || !next.starts_with(&rest) {
                    return Err(c.fail(format!(
                        "client D never read, so the server should have closed it before A's \
                         {} lines were all relayed; D got {got} lines and then {}",
                        lines.len(),
                        shown(&rest)
                    )));
                }
                break;
            }
        }
    }
    c.pass(format!(
        "D, reading nothing, was closed after {got} of A's {} lines, in order",
        lines.len()
    ));
    Ok(())
}

/// D got A's lines in order, with `* missed N lines` where it fell behind, and the last.
fn slow_missed(c: &mut Check, d: &Peer, lines: &[Vec<u8>], end: &[u8]) -> Result<(), Failure> {
    let (mut next, mut notes, mut skipped) = (0usize, 0, 0);
    loop {
        let line = match d.next(c, WAIT, "A's lines, with notes of those it missed")? {
            Seen::Line(line, _) => line,
            Seen::End(rest, how, _) => {
                return Err(d.ended_early(c, "A's lines up to `end`", &rest, how));
            }
        };
        if line == end && next == lines.len() {
            break;
        }
        let note = std::str::from_utf8(&line).ok().and_then(|l| {
            l.strip_prefix("* missed ")?
                .strip_suffix(" lines\n")?
                .parse::<usize>()
                .ok()
        });
        if let Some(n) = note.filter(|&n| n > 0) {
            next += n;
            notes += 1;
            skipped += n;
            continue;
        }
        if lines.get(next) != Some(&line) {
            return Err(c.fail(format!(
                "client D, too slow, expected {} (A's line {next}, counting the lines its \
                 `* missed N lines` notes skipped), got {}",
                shown(lines.get(next).map_or(end, Vec::as_slice)),
                shown(&line)
            )));
        }
        next += 1;
    }
    if notes == 0 {
        return Err(c.fail(
            "client D read nothing during A's flood, so it fell behind, but it got every line \
             and no `* missed N lines`: the server kept them all for it",
        ));
    }
    c.pass(format!(
        "D, reading late, got A's lines in order, {notes} notes `* missed N lines` for the \
         {skipped} it missed, and `end`"
    ));
    Ok(())
}

/// Sends `signal` to `p`.
fn signal(c: &mut Check, p: Proc, signal: &str) -> Result<(), Failure> {
    let pid = c
        .scene
        .pid(p)
        .map(|pid| pid.to_string())
        .unwrap_or_default();
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, &pid])
        .status();
    match sent {
        Ok(status) if status.success() => Ok(()),
        _ => Err(c.fail(format!("cannot send SIG{signal} to the server (pid {pid})"))),
    }
}

/// Waits for `p` to exit, and says when; it must exit 0.
fn exits(c: &mut Check, p: Proc, what: &str) -> Result<Instant, Failure> {
    let status = c
        .scene
        .wait(p)
        .map_err(|e| c.fail(format!("{what}: {e}")))?;
    // Seen when its output ended, even if the check waited for another thing first.
    let at = c.scene.ended_at(p).unwrap_or_else(Instant::now);
    if !status.success() {
        return Err(c.fail(format!("{what}, with status 0; it ended with {status}")));
    }
    Ok(at)
}

fn refused(c: &Check, addr: SocketAddr) -> Result<(), Failure> {
    match TcpStream::connect_timeout(&addr, WAIT) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
        Err(e) => Err(c.fail(format!(
            "after the signal, expected a new connection to be refused (nobody listens), \
             got: {e}"
        ))),
        Ok(_) => Err(c.fail(
            "after the signal, a new connection was accepted by the kernel: the server still \
             listens (it should close its listening socket)",
        )),
    }
}

/// How late the exit may come after --grace runs out, or after the last client left: the loop's
/// timeout is computed from the deadline, so a few ms; a loop that only looks once a second
/// would be up to a second late.
const EXIT_LATE: Duration = Duration::from_millis(150);

/// `at` is `want` after a signal sent between `sent[0]` and `sent[1]`, within EXIT_LATE.
fn about(
    c: &Check,
    at: Instant,
    sent: [Instant; 2],
    want: Duration,
    what: &str,
) -> Result<(), Failure> {
    let [first, last] = sent;
    let gap = at - last;
    if at - first < want.mul_f64(0.95) || gap > want + EXIT_LATE {
        return Err(c.fail(format!(
            "{what} came {:.3} s after the signal; expected {:.3} s",
            gap.as_secs_f64(),
            want.as_secs_f64()
        )));
    }
    c.pass(format!(
        "{what} came {:.3} s after the signal",
        gap.as_secs_f64()
    ));
    Ok(())
}

/// The server's `stopping: ...` line, which must be `line`, in its log: stdout, where the
/// lesson logs every event (a line on stderr is not in the log).
fn stopping_logged(c: &mut Check, p: Proc, line: &str, fail: &str) -> Result<(), Failure> {
    match c.scene.expect_on(p, Stream::Stdout, "stopping:") {
        Ok(got) if got.trim() == line => Ok(()),
        Ok(got) => Err(c.fail(format!("{fail} {line:?} in the log (stdout), got {got:?}"))),
        Err(_) => {
            let stderr = c.scene.output(p, Stream::Stderr);
            let elsewhere = if stderr.iter().any(|l| l.trim() == line) {
                " (it came on stderr: the log is stdout)"
            } else {
                ""
            };
            Err(c.fail(format!("{fail} {line:?} in the log (stdout){elsewhere}")))
        }
    }
}

pub fn poll_stop(c: &mut Check) -> Result<(), Failure> {
    let signals = if c.rng().below(0..2) == 0 {
        ["INT", "TERM"]
    } else {
        ["TERM", "INT"]
    };
    let tenths = c.rng().below(12..20);
    let grace = Duration::from_millis(tenths as u64 * 100);
    let grace_arg = format!("{:.1}", grace.as_secs_f64());
    let (p, addr) = server(c, "tcp-poll", &["--grace", &grace_arg])?;
    // A twin, started half a second later with a client that stays silent too: a server that
    // looks at the time only once a second (an idle sweep) cannot end both graces on time,
    // since their seconds are half a second apart.
    let up = Instant::now();
    thread::sleep(Duration::from_millis(450));
    let (twin, twin_addr) = server(c, "tcp-poll", &["--grace", &grace_arg])?;
    let apart = (up.elapsed().as_secs_f64()).fract();
    let mut twin_idle = Peer::connect(c, twin, twin_addr, "G")?;
    // D comes and goes before the signal: "connected" counts who is there, not who came.
    let mut gone = Peer::connect(c, p, addr, "D")?;
    fin_end(c, p, &mut gone, 0)?;
    let mut idle = Peer::connect(c, p, addr, "A")?;
    let mut talker = Peer::connect(c, p, addr, "B")?;
    let mut leaving = Peer::connect(c, p, addr, "C")?;
    let hello = text_line(c, "before");
    talker.write(c, &hello)?;
    talker.line_is(c, &hello, "the echo before the signal")?;
    // Each grace began between the call that sends its signal and the return of that call:
    // the exit may come no sooner than a grace after the one, nor later than just after the
    // other (a loaded machine took long enough to run `kill` to matter).
    let before = Instant::now();
    signal(c, p, signals[0])?;
    let (sent, twin_before) = (Instant::now(), Instant::now());
    signal(c, twin, signals[0])?;
    let twin_sent = Instant::now();
    let stopping = format!("stopping: 3 clients connected, {grace_arg} s to finish (--grace)");
    stopping_logged(
        c,
        p,
        &stopping,
        &format!("after SIG{}, expected the line", signals[0]),
    )?;
    refused(c, addr)?;
    c.pass(format!(
        "on SIG{}, the server said so and stopped listening",
        signals[0]
    ));
    // One client is `1 client`, as the lesson counts.
    let stopping = format!("stopping: 1 client connected, {grace_arg} s to finish (--grace)");
    stopping_logged(
        c,
        twin,
        &stopping,
        &format!(
            "after SIG{}, with G alone connected, expected the twin server's line",
            signals[0]
        ),
    )?;
    // The clients already connected are served until they leave.
    let more = [text_line(c, "after"), c.rng().bytes(40), b"\n".to_vec()].concat();
    talker.write_in_pieces(c, &more)?;
    talker.bytes_are(c, &more, "the echo of what it sent after the signal")?;
    let last = text_line(c, "bye");
    leaving.write(c, &last)?;
    leaving.finish(c)?;
    leaving.line_is(c, &last, "the echo of its last line")?;
    leaving.ends(c, WAIT, true, "the server's FIN after its own")?;
    talker.finish(c)?;
    talker.ends(c, WAIT, true, "the server's FIN after its own")?;
    c.pass("B and C were still echoed after the signal, and closed after their FIN");
    // A sends nothing and stays: the grace period ends it, and the server.
    let ended = exits(
        c,
        p,
        "with A still connected, expected the server to exit when --grace ran out",
    )?;
    about(
        c,
        ended,
        [before, sent],
        grace,
        "with A still connected, the exit",
    )?;
    idle.ends(
        c,
        WAIT,
        false,
        "its connection closed when the server stopped",
    )?;
    let ended = exits(
        c,
        twin,
        "with G still connected, expected the twin server to exit when --grace ran out",
    )?;
    about(
        c,
        ended,
        [twin_before, twin_sent],
        grace,
        &format!("the twin server's exit (its clock {apart:.2} s out of step)"),
    )?;
    twin_idle.ends(
        c,
        WAIT,
        false,
        "its connection closed when the twin server stopped",
    )?;

    // Everyone leaves in time: the server exits then, without waiting for the rest of --grace.
    let (q, addr) = server(c, "tcp-poll", &["--grace", "30"])?;
    let mut one = Peer::connect(c, q, addr, "E")?;
    let mut two = Peer::connect(c, q, addr, "F")?;
    signal(c, q, signals[1])?;
    let line = "stopping: 2 clients connected, 30 s to finish (--grace)";
    stopping_logged(
        c,
        q,
        line,
        &format!("after SIG{}, expected the line", signals[1]),
    )?;
    refused(c, addr)?;
    for peer in [&mut one, &mut two] {
        let data = text_line(c, "last");
        peer.write(c, &data)?;
        peer.line_is(c, &data, "its echo after the signal")?;
        peer.finish(c)?;
        peer.ends(c, WAIT, true, "the server's FIN after its own")?;
    }
    let left = Instant::now();
    let ended = exits(
        c,
        q,
        "once its last client had left, expected the server to exit",
    )?;
    if ended - left > EXIT_LATE {
        return Err(c.fail(format!(
            "the last client left {:.3} s before the server exited: it should exit as soon \
             as no client is left",
            (ended - left).as_secs_f64()
        )));
    }
    c.pass(format!(
        "on SIG{}, the server served its two clients to their end, and exited at once after",
        signals[1]
    ));

    // Nobody connected at the signal: there is nobody to wait for. Without --grace, 10 s.
    let (r, _) = server(c, "tcp-poll", &[])?;
    signal(c, r, signals[0])?;
    let sent = Instant::now();
    let line = "stopping: 0 clients connected, 10 s to finish (--grace)";
    stopping_logged(
        c,
        r,
        line,
        &format!("after SIG{}, expected the line", signals[0]),
    )?;
    let ended = exits(
        c,
        r,
        "with no client connected, expected the server to exit at once",
    )?;
    if ended - sent > EXIT_LATE {
        return Err(c.fail(format!(
            "with no client connected at SIG{}, the server exited {:.3} s after it: it should \
             exit at once",
            signals[0],
            (ended - sent).as_secs_f64()
        )));
    }
    c.pass(format!(
        "on SIG{} with no client connected, the server exited at once",
        signals[0]
    ));
    // SECS as every lesson takes seconds: more than 0, at most a day. Anything else is bad
    // usage, said at once, not a panic (or a server that never stops) at the signal.
    // (`--grace=-1`: `--grace -1` would be refused by clap as an unknown flag `-1`.)
    for bad in ["-1", "1e30"] {
        let flag = format!("--grace={bad}");
        let p = c.spawn("tcp-poll", &["--port", "0", &flag])?;
        match c.scene.wait(p) {
            Ok(status) if status.code() == Some(2) => {}
            Ok(status) => {
                return Err(c.fail(format!(
                    "`tcp-poll {flag}`: no number of seconds to wait; expected the \
                     usage error of a bad value (status 2), got {status}"
                )));
            }
            Err(_) => {
                c.kill(p);
                return Err(c.fail(format!(
                    "`tcp-poll {flag}` started serving; expected the usage error of a \
                     bad value (status 2): seconds are more than 0 and at most a day"
                )));
            }
        }
    }
    c.pass("--grace=-1 and --grace=1e30 were refused as bad usage (status 2)");
    quiet_too(c, "tcp-poll", &["--grace", "0.5"], |c, p, addr| {
        let mut silent = raw_client(c, addr)?;
        thread::sleep(Duration::from_millis(200));
        signal(c, p, "INT")?;
        c.scene.wait_success(p).map_err(|e| c.fail(e.what()))?;
        let mut rest = Vec::new();
        let _ = silent.read_to_end(&mut rest);
        Ok(())
    })
}

pub fn async_heartbeat(c: &mut Check) -> Result<(), Failure> {
    let tenths = c.rng().below(6..10);
    let beat = Duration::from_millis(tenths as u64 * 100);
    let beat_arg = format!("{:.1}", beat.as_secs_f64());
    let (p, addr) = server(
        c,
        "tcp-async",
        &["--heartbeat", &beat_arg, "--idle-timeout", "30"],
    )?;
    // Each time is taken before what starts the server's timer (A's connect, H's line, B's
    // answer): a check thread that a loaded machine runs late never makes a PING look early.
    let since = Instant::now();
    let mut silent = Peer::connect(c, p, addr, "A")?;
    let b_since = Instant::now();
    let mut answers = Peer::connect(c, p, addr, "B")?;
    let mut chatty = Peer::connect(c, p, addr, "C")?;
    // H sends a line, then nothing: its end line counts that line's bytes.
    let mut dropped = Peer::connect(c, p, addr, "H")?;
    let h_line = text_line(c, "h");
    let h_sent = Instant::now();
    dropped.write(c, &h_line)?;
    // C sends a little every third of the heartbeat, from another thread: it is never silent
    // long enough for a PING, and its echoes must come back exactly.
    let mut c_writer = chatty
        .stream
        .try_clone()
        .map_err(|e| c.fail(format!("cannot clone a socket: {e}")))?;
    // It goes on until the check turns to it (a heartbeat of 0.9 s and 200 lines: a minute).
    let pieces: Vec<Vec<u8>> = (0..200).map(|i| text_line(c, &format!("c{i}"))).collect();
    let (stop, stopped) = mpsc::channel::<()>();
    let sending = thread::spawn(move || {
        let mut sent = Vec::new();
        for piece in pieces {
            if stopped.try_recv().is_ok() {
                break;
            }
            c_writer.write_all(&piece)?;
            sent.extend_from_slice(&piece);
            thread::sleep(beat / 3);
        }
        Ok::<Vec<u8>, io::Error>(sent)
    });
    // B sends, then answers each PING with a line the seed chooses, a while after it: the
    // next PING is due a heartbeat after the answer, not after the PING.
    let mut b_total = 0;
    let (mut pings, mut closes) = (Late::new("PING"), Late::new("close after a PING"));
    // B's first PING is counted from its connect: C and H connected since.
    let mut last = b_since;
    for round in 0..3 {
        let ping = answers.line_is(c, b"PING\n", "PING after a heartbeat of silence")?;
        pings.due(c, ping - last, beat, &format!("B's PING {}", round + 1))?;
        thread::sleep(beat.mul_f64(c.rng().below(30..60) as f64 / 100.0));
        let answer = text_line(c, "pong");
        last = Instant::now();
        answers.write(c, &answer)?;
        b_total += answer.len();
        answers.line_is(c, &answer, "the echo of its answer")?;
    }
    // Any bytes answer a PING, not only a line: B answers the next one with "x" alone. Its
    // echo then comes before the PING a heartbeat later, on the same line.
    let ping = answers.line_is(c, b"PING\n", "PING after a heartbeat of silence")?;
    pings.due(c, ping - last, beat, "B's PING 4")?;
    thread::sleep(beat.mul_f64(c.rng().below(30..60) as f64 / 100.0));
    let last = Instant::now();
    answers.write(c, b"x")?;
    b_total += 1;
    let ping = answers.line_is(
        c,
        b"xPING\n",
        "the echo of its answer \"x\" (no newline), then a PING a heartbeat after it",
    )?;
    pings.due(c, ping - last, beat, "B's PING after its answer \"x\"")?;
    // B leaves now, before another heartbeat of silence brings another PING.
    fin_end(c, p, &mut answers, b_total)?;
    // A: one PING, a heartbeat after it connected, then closed one more heartbeat later.
    let ping = silent.line_is(c, b"PING\n", "PING after a heartbeat of silence")?;
    pings.due(c, ping - since, beat, "A's PING, counted from its connect,")?;
    let closed = silent.ends(
        c,
        WAIT,
        false,
        "its connection closed, since it never answered",
    )?;
    let soonest = closed - ping.min(since + beat);
    closes.due_after(
        c,
        soonest,
        closed - ping,
        beat,
        "A's close, counted from its PING,",
    )?;
    let line = format!("{} missed its heartbeat: closed after 0 bytes", silent.addr);
    logged(c, p, &line, "expected the line")?;
    c.pass("A never answered, and its end was logged");
    dropped.line_is(c, &h_line, "the echo of its line")?;
    let ping = dropped.line_is(c, b"PING\n", "PING after a heartbeat of silence")?;
    pings.due(c, ping - h_sent, beat, "H's PING, counted from its line,")?;
    let closed = dropped.ends(
        c,
        WAIT,
        false,
        "its connection closed, since it never answered",
    )?;
    let soonest = closed - ping.min(h_sent + beat);
    closes.due_after(
        c,
        soonest,
        closed - ping,
        beat,
        "H's close, counted from its PING,",
    )?;
    pings.on_time(c)?;
    closes.on_time(c)?;
    let line = format!(
        "{} missed its heartbeat: closed after {} bytes",
        dropped.addr,
        h_line.len()
    );
    logged(c, p, &line, "expected the line, with all the bytes H sent")?;
    c.pass("H sent a line and then nothing, and its end was logged with its bytes");
    let _ = stop.send(());
    let Ok(Ok(c_sent)) = sending.join() else {
        return Err(c.fail("client C could not send all its lines"));
    };
    // C's last line went a third of a heartbeat ago at most: it leaves before a PING is due.
    chatty.bytes_are(
        c,
        &c_sent,
        "the echo of all it sent, and no PING (it was never silent)",
    )?;
    fin_end(c, p, &mut chatty, c_sent.len())?;
    c.pass("C, never silent for a heartbeat, got its echo and no PING");
    c.pass("B and C sent FIN, and their sessions ended as the lesson logs them");
    // Without --heartbeat, the lesson's --idle-timeout is what ends a silent client.
    let (q, addr) = server(c, "tcp-async", &["--idle-timeout", "0.5"])?;
    let since = Instant::now();
    let mut quiet = Peer::connect(c, q, addr, "E")?;
    let closed = quiet.ends(
        c,
        WAIT,
        true,
        "its connection closed after --idle-timeout 0.5",
    )?;
    let gap = closed - since;
    if gap < Duration::from_millis(450) || gap > Duration::from_millis(500) + LATE {
        return Err(c.fail(format!(
            "without --heartbeat, a silent client is closed after --idle-timeout 0.5; E was \
             closed after {:.3} s",
            gap.as_secs_f64()
        )));
    }
    let line = format!(
        "{} sent nothing for 0.5 s (--idle-timeout): closed after 0 bytes",
        quiet.addr
    );
    logged(c, q, &line, "expected the lesson's line")?;
    c.pass("without --heartbeat, --idle-timeout still closes a silent client, without a PING");
    // --max-clients still evicts a client waiting for its answer to a PING, at once.
    let (e, addr) = server(
        c,
        "tcp-async",
        &["--heartbeat", "0.6", "--max-clients", "1"],
    )?;
    let mut waiting = Peer::connect(c, e, addr, "A")?;
    match waiting.next(c, WAIT, "PING")? {
        Seen::Line(line, _) if line == b"PING\n" => {}
        Seen::Line(line, _) => {
            return Err(c.fail(format!("client A expected PING, got {}", shown(&line))));
        }
        Seen::End(..) => return Err(c.fail("client A expected PING, but the connection ended")),
    }
    let newcomer = Peer::connect(c, e, addr, "B")?;
    let came = Instant::now();
    waiting.ends(
        c,
        Duration::from_millis(400),
        false,
        "its connection closed at once: with --max-clients 1, B takes the place of A, which \
         waits for its answer to a PING",
    )?;
    let want = format!("{} made room for a new client", waiting.addr);
    if !c
        .scene
        .output(e, Stream::Stdout)
        .iter()
        .any(|l| l.trim_start().starts_with(&want))
    {
        c.expect_matching(
            e,
            &want,
            "A made room for B: expected the lesson's line `ADDR made room for a new client, all \
             places being taken (idle N s): ...`",
            |l| l.trim_start().starts_with(&want),
        )?;
    }
    c.pass(format!(
        "A, waiting for its answer to a PING, was evicted for B within {:.2} s, with the \
         lesson's line",
        came.elapsed().as_secs_f64()
    ));
    drop(newcomer);
    // With --hexdump, the PING is dumped as every chunk the server sends is.
    let (h, addr) = server(c, "tcp-async", &["--heartbeat", "0.3", "--hexdump"])?;
    let mut pinged = raw_client(c, addr)?;
    let me = pinged
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut ping = [0u8; 5];
    pinged.read_exact(&mut ping).map_err(|e| {
        c.fail(format!(
            "with --heartbeat 0.3 --hexdump, expected PING: {e}"
        ))
    })?;
    c.dumped(h, true, &me, b"PING\n", "the PING")?;
    drop(pinged);
    quiet_too(c, "tcp-async", &["--heartbeat", "0.3"], |c, _, addr| {
        let mut silent = raw_client(c, addr)?;
        let mut rest = Vec::new();
        // PING, then nothing answered: the server closes it.
        let _ = silent.read_to_end(&mut rest);
        Ok(())
    })
}

/// `peer` sends FIN: the server closes too, and logs the lesson's line with `total`.
fn fin_end(c: &mut Check, p: Proc, peer: &mut Peer, total: usize) -> Result<(), Failure> {
    peer.finish(c)?;
    peer.ends(c, WAIT, true, "the server's FIN after its own")?;
    let line = format!(
        "{} closed the connection (FIN) after {total} bytes; closing ours",
        peer.addr
    );
    logged(c, p, &line, "expected the line")?;
    Ok(())
}

/// How late the first of a kind of heartbeat event (a PING, a close) may come: a timer of a
/// task on an idle server fires within a few ms; 150 ms leaves room for a loaded machine, and
/// not for a grace period of a quarter second added to SECS.
const HEARTBEAT_LATE: Duration = Duration::from_millis(150);

/// The heartbeat events of one kind, each due a heartbeat after what the check did: none may
/// come early, none more than `LATE` late, and the one that came the least late within
/// `HEARTBEAT_LATE`. A loaded machine delays one event now and then (one PING came 170 ms
/// late, with two CPU hogs at nice -5, 2 runs in 13), a server that adds time to a timer
/// delays them all.
struct Late {
    kind: &'static str,
    least: Option<(Duration, String)>,
}

impl Late {
    fn new(kind: &'static str) -> Late {
        Late { kind, least: None }
    }

    fn due(&mut self, c: &Check, gap: Duration, want: Duration, what: &str) -> Result<(), Failure> {
        self.due_after(c, gap, gap, want, what)
    }

    /// As `due`, for an event counted from one the check saw (a PING), which its reader thread
    /// may have seen late: no sooner than `want` after `soonest`, a gap from the earliest moment
    /// that event can have had (its silence began, and a heartbeat passed), and no later than
    /// LATE after `gap`.
    fn due_after(
        &mut self,
        c: &Check,
        soonest: Duration,
        gap: Duration,
        want: Duration,
        what: &str,
    ) -> Result<(), Failure> {
        if soonest < want.mul_f64(0.95) || gap > want + LATE {
            return Err(c.fail(format!(
                "{what} came after {:.3} s; with --heartbeat {:.1}, expected {:.3} s",
                gap.as_secs_f64(),
                want.as_secs_f64(),
                want.as_secs_f64()
            )));
        }
        c.pass(format!("{what} came after {:.3} s", gap.as_secs_f64()));
        let late = gap.saturating_sub(want);
        if self.least.as_ref().is_none_or(|(least, _)| late < *least) {
            self.least = Some((
                late,
                format!("{what} came after {:.3} s", gap.as_secs_f64()),
            ));
        }
        Ok(())
    }

    fn on_time(&self, c: &Check) -> Result<(), Failure> {
        let Some((late, said)) = &self.least else {
            return Ok(());
        };
        if *late > HEARTBEAT_LATE {
            return Err(c.fail(format!(
                "every {} came late; the least late, {said}, {:.0} ms later than its \
                 heartbeat: a timer fires within a few ms",
                self.kind,
                late.as_secs_f64() * 1000.0
            )));
        }
        c.pass(format!(
            "the least late {}: {:.0} ms after its heartbeat",
            self.kind,
            late.as_secs_f64() * 1000.0
        ));
        Ok(())
    }
}

pub fn half_close(c: &mut Check) -> Result<(), Failure> {
    let limit = c.rng().below(600..3000);
    let (p, addr) = server(
        c,
        "tcp-server",
        &["--limit", &limit.to_string(), "--idle-timeout", "2"],
    )?;
    let mut exact = Peer::connect(c, p, addr, "A")?;
    let mut over = Peer::connect(c, p, addr, "B")?;
    let mut under = Peer::connect(c, p, addr, "C")?;
    let mut quiet = Peer::connect(c, p, addr, "D")?;
    // A: exactly the limit, in pieces; B: more in one write; C: less; D: the limit, then quiet.
    let a_data = c.rng().bytes(limit);
    let b_extra = c.rng().below(1..500);
    let b_data = c.rng().bytes(limit + b_extra);
    let c_len = c.rng().below(1..limit - 1);
    let mut c_data = c.rng().bytes(c_len);
    // Its echo is read line by line, and the server does not close it: it ends a line.
    c_data.push(b'\n');
    let d_data = c.rng().bytes(limit);
    exact.write_in_pieces(c, &a_data)?;
    over.write(c, &b_data)?;
    under.write_in_pieces(c, &c_data)?;
    quiet.write(c, &d_data)?;
    for (peer, data) in [
        (&mut exact, &a_data),
        (&mut over, &b_data),
        (&mut quiet, &d_data),
    ] {
        let want = data.get(..limit).unwrap_or_default();
        peer.bytes_are(c, want, &format!("the echo of its first {limit} bytes"))?;
        peer.ends(
            c,
            WAIT,
            true,
            &format!("the server's FIN after {limit} bytes"),
        )?;
    }
    c.pass(format!(
        "A ({limit} bytes), B ({} bytes) and D got the echo of exactly {limit} bytes, then FIN",
        limit + b_extra
    ));
    // D sends a little more after our FIN, in three pieces 0.9 s apart, then nothing: its idle
    // line counts those bytes too, and --idle-timeout counts from its last byte, not our FIN.
    let d_more_len = c.rng().below(3..300);
    let d_more = c.rng().bytes(d_more_len);
    let mut d_writer = quiet
        .stream
        .try_clone()
        .map_err(|e| c.fail(format!("cannot clone a socket: {e}")))?;
    let d_sending = thread::spawn(move || {
        let third = d_more.len() / 3;
        let (first, rest) = d_more.split_at(third);
        let (second, last) = rest.split_at(third);
        for (k, piece) in [first, second, last].into_iter().enumerate() {
            if k > 0 {
                thread::sleep(Duration::from_millis(900));
            }
            d_writer.write_all(piece)?;
        }
        Ok::<Instant, io::Error>(Instant::now())
    });
    let d_total = limit + d_more_len;
    // After the server's FIN, A and B go on sending: the server still reads, so no reset.
    let mut after = Vec::new();
    for (peer, before) in [(&mut exact, 0), (&mut over, b_extra)] {
        let len = c.rng().below(1..5000);
        let more = c.rng().bytes(len);
        peer.write_in_pieces(c, &more)?;
        after.push(before + more.len());
    }
    // C, under the limit, is served as before.
    under.bytes_are(c, &c_data, "the echo of all it sent (less than the limit)")?;
    under.finish(c)?;
    under.ends(c, WAIT, true, "the server's FIN after its own")?;
    let line = format!(
        "{} closed the connection (FIN) after {} bytes; closing ours",
        under.addr,
        c_data.len()
    );
    logged(c, p, &line, "expected the lesson's line for C")?;
    for (peer, n) in [(&mut exact, after[0]), (&mut over, after[1])] {
        peer.finish(c)?;
        let line = format!("{} sent {n} bytes after our FIN", peer.addr);
        logged(c, p, &line, "expected the line")?;
        let mut rest = Vec::new();
        if let Err(e) = peer.stream.read_to_end(&mut rest) {
            return Err(c.fail(format!(
                "client {} sent more after the server's FIN; the server should have read it, \
                 but the connection was reset: {e}",
                peer.name
            )));
        }
    }
    c.pass("A and B sent more after the server's FIN: read, counted, logged, and no reset");
    // E: exactly the limit, then its FIN and nothing more: 0 bytes after our FIN.
    let mut nothing_more = Peer::connect(c, p, addr, "E")?;
    let e_data = c.rng().bytes(limit);
    nothing_more.write_in_pieces(c, &e_data)?;
    nothing_more.bytes_are(c, &e_data, &format!("the echo of its {limit} bytes"))?;
    nothing_more.ends(
        c,
        WAIT,
        true,
        &format!("the server's FIN after {limit} bytes"),
    )?;
    nothing_more.finish(c)?;
    let line = format!("{} sent 0 bytes after our FIN", nothing_more.addr);
    logged(c, p, &line, "expected the line, with N = 0")?;
    c.pass("E sent its FIN right after ours: logged as 0 bytes after our FIN");
    // D sends nothing after the FIN: --idle-timeout still closes it.
    let Ok(Ok(d_last)) = d_sending.join() else {
        return Err(c.fail(
            "client D could not send its bytes after our FIN, 0.9 s apart: the server closed it",
        ));
    };
    let line = format!(
        "{} sent nothing for 2 s (--idle-timeout): closed after {d_total} bytes",
        quiet.addr
    );
    // Timed only if the line comes while we wait for it (the check is quicker than 2 s).
    let timed = !c
        .scene
        .output(p, Stream::Stdout)
        .iter()
        .any(|l| l.trim() == line);
    logged(
        c,
        p,
        &line,
        "expected D, silent after the server's FIN, to be closed",
    )?;
    let gap = d_last.elapsed();
    let late = timed && gap > Duration::from_millis(2250);
    if gap < Duration::from_millis(1900) || late {
        return Err(c.fail(format!(
            "D was closed {:.3} s after its last byte; --idle-timeout 2 says 2 s",
            gap.as_secs_f64()
        )));
    }
    c.pass(format!(
        "D, silent after the FIN, was closed after {:.2} s (--idle-timeout 2)",
        gap.as_secs_f64()
    ));
    bounded_after_fin(c, p, addr, limit)?;
    quiet_too(c, "tcp-server", &["--limit", "4"], |c, _, addr| {
        let mut over = raw_client(c, addr)?;
        let mut echo = [0u8; 4];
        let sent = over
            .write_all(b"0123456789")
            .and_then(|()| over.read_exact(&mut echo))
            .and_then(|()| over.write_all(b"abc"))
            .and_then(|()| over.shutdown(Shutdown::Write));
        sent.map_err(|e| c.fail(format!("with --limit 4 --quiet, a client failed: {e}")))?;
        let mut rest = Vec::new();
        let _ = over.read_to_end(&mut rest);
        Ok(())
    })
}

/// What a client sends after our FIN is read and counted, not kept: F sends 128 MiB after
/// it, and the server's peak memory (VmHWM) must not grow by anything like that.
fn bounded_after_fin(
    c: &mut Check,
    p: Proc,
    addr: SocketAddr,
    limit: usize,
) -> Result<(), Failure> {
    const BULK: usize = 128 << 20;
    let peak = |c: &Check| peak_kib(c, p);
    let Some(before) = peak(c) else {
        c.pass("(the server's peak memory is not known here: /proc/PID/status has no VmHWM)");
        return Ok(());
    };
    let mut bulk = Peer::connect(c, p, addr, "F")?;
    let data = c.rng().bytes(limit);
    bulk.write(c, &data)?;
    bulk.bytes_are(c, &data, &format!("the echo of its {limit} bytes"))?;
    bulk.ends(
        c,
        WAIT,
        true,
        &format!("the server's FIN after {limit} bytes"),
    )?;
    let piece = c.rng().bytes(1 << 20);
    for _ in 0..BULK >> 20 {
        bulk.write(c, &piece)?;
    }
    bulk.finish(c)?;
    let line = format!("{} sent {BULK} bytes after our FIN", bulk.addr);
    logged(
        c,
        p,
        &line,
        "expected the line for 128 MiB sent after our FIN",
    )?;
    let grew = peak(c).unwrap_or(before).saturating_sub(before) >> 10;
    if grew > 48 {
        return Err(c.fail(format!(
            "client F sent 128 MiB after our FIN, and the server's peak memory grew by {grew} \
             MiB: what comes after our FIN is to be read and counted, not kept"
        )));
    }
    c.pass(format!(
        "F sent 128 MiB after our FIN: counted, and the server's peak memory grew by {grew} MiB"
    ));
    Ok(())
}

/// The exercise's code path with `--quiet` too: `drive` plays a short session against the
/// server started with `args` and `--quiet`, and promises.rs then finds no line per
/// connection in its log.
fn quiet_too(
    c: &mut Check,
    lesson: &str,
    args: &[&str],
    drive: impl FnOnce(&mut Check, Proc, SocketAddr) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut all = args.to_vec();
    all.push("--quiet");
    let (p, addr) = server(c, lesson, &all)?;
    drive(c, p, addr)?;
    c.pass(format!("{lesson} {} served a short session", all.join(" ")));
    Ok(())
}

/// A plain client socket, with timeouts: `--quiet` prints no `accepted` line to wait for.
fn raw_client(c: &Check, addr: SocketAddr) -> Result<TcpStream, Failure> {
    TcpStream::connect_timeout(&addr, WAIT)
        .and_then(|s| {
            s.set_read_timeout(Some(WAIT))?;
            s.set_write_timeout(Some(WAIT))?;
            Ok(s)
        })
        .map_err(|e| c.fail(format!("cannot connect to {addr}: {e}")))
}
