//! A server's per-event lines (`accepted ...`, `received ...`, `... closed the connection`),
//! printed so that a peer cannot stop the server through its log.
//!
//! `println!` is the wrong tool for a server's log: it panics when the write fails (a full
//! disk: every echo server exited with status 101 after about 14 MB of traffic), and it blocks
//! its caller while stdout is a pipe that nobody reads (an event-loop server stuck in
//! `write(1)` stops accepting, and its accept queue fills). Here:
//!
//! - [`line`] (and the macro [`logln!`](crate::logln)) queues a line for stdout, [`eline`]
//!   (and [`elogln!`](crate::elogln)) one for stderr, [`error`] an `error:` line with its hint,
//!   as [`log_error`](crate::log_error) prints it. None of them waits and none of them panics:
//!   the lines go through a bounded queue to one writer thread, which writes them in the
//!   order they were queued.
//! - A line that finds the queue full, or that the writer cannot write (ENOSPC, EPIPE), is
//!   dropped and counted. The first time lines are dropped, the writer says so on stderr
//!   (once); when stdout works again it writes `log: N lines dropped` there, and
//!   [`finish`] (which [`run`](crate::run) calls when the program's body returns) prints the
//!   total.
//! - On a terminal, a line longer than the terminal is wide is cut as the clients cut theirs
//!   ([`console::fit`](crate::console::fit)): what does not fit continues on lines that start
//!   with `  | `. Without it a peer padded its text to the width, and the terminal wrapped the
//!   rest onto a row of its own that read like a line of the log
//!   (`received 21 bytes from 10.0.0.1:50000: I am the teacher`).
//! - What a peer sent is shown through [`StreamDecoder::show_capped`](crate::text::StreamDecoder::show_capped):
//!   at most [`SHOWN_PER_CHUNK`] bytes of one chunk, then `… (M more bytes)`, so the log
//!   stays far smaller than the traffic (4 MiB of 0x7f made 25 MB of tcp-server's log, now
//!   220 kB).
//!
//! Adopting it in a server: `println!(...)` of a per-event line becomes `common::logln!(...)`,
//! `common::log_error(what, e)` becomes `common::log::error(what, e)`, and a chunk is shown
//! with `decoder.show_capped(chunk, false, common::log::SHOWN_PER_CHUNK)`. The ready line stays
//! [`announce_listening`](crate::announce_listening): it is printed and flushed before any
//! peer exists, and tests wait for it.

use std::fmt;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How many bytes of one received chunk a log line shows.
pub const SHOWN_PER_CHUNK: usize = 128;

/// How many lines may wait for the writer. At a few hundred bytes a line, at most about a
/// megabyte of memory; a server that logs faster than its stdout takes drops the rest.
pub const QUEUE_LINES: usize = 4096;

/// Queues `text` as one line on stdout, as [`line`] does (never blocking, never panicking:
/// a line that cannot be written, a full disk, is dropped and counted), except that a closed
/// pipe ends the program as `println!` does here (`udp-server | head -1`, status 141). For a
/// program whose output is its log and has no other end: udp-server, feiq listen. They
/// wrote each line at once, under stdout's lock, until attack12 found that with stdout a pipe
/// nobody reads udp-server answered 362 datagrams, then none (stuck in `write(1)` once the
/// pipe's 64 KiB were full). A program that must have its lines on screen before it asks
/// something (udp-server's `--interactive` prompt) calls [`flush`] first.
pub fn print(text: fmt::Arguments<'_>) {
    PRINT_ENDS_ON_EPIPE.store(true, Ordering::Relaxed);
    line(text);
}

/// Whether [`print`] was used: the writer then ends the program when stdout's reader has gone.
static PRINT_ENDS_ON_EPIPE: AtomicBool = AtomicBool::new(false);

/// Waits (at most `within`) until the lines queued so far are written: a program that is
/// about to prompt on stderr, or write to stdout itself, keeps its lines in order.
pub fn flush(within: Duration) {
    if let Some(logger) = LOGGER.get() {
        logger.wait_written(within);
    }
}

/// Queues `text` as one line on stdout. Never blocks, never panics.
pub fn line(text: fmt::Arguments<'_>) {
    global().send(Target::Out, text);
}

/// Queues `text` as one line on stderr. Never blocks, never panics.
pub fn eline(text: fmt::Arguments<'_>) {
    global().send(Target::Err, text);
}

/// Queues the `error: <what>: <why>` line of a failure the server survives, with its `hint:`
/// line where one applies, on stderr: [`log_error`](crate::log_error) without the waiting.
pub fn error(what: impl fmt::Display, err: impl Into<anyhow::Error>) {
    let err = err.into().context(what.to_string());
    eline(format_args!("{}", crate::report::describe(&err)));
}

/// Whether a program's lines go through the queue: then what else it shows on stderr (the
/// hexdump) goes through it too, and comes out in the order it happened.
pub fn running() -> bool {
    LOGGER.get().is_some()
}

/// How many lines were dropped so far.
pub fn dropped() -> u64 {
    LOGGER
        .get()
        .map_or(0, |l| l.shared.dropped.load(Ordering::Relaxed))
}

/// How many lines found no room in the queue so far: the caller's own line is among them as
/// soon as it is queued, unlike a line that the writer later fails to write (a full disk),
/// which [`dropped`] also counts, at a moment no caller can foresee.
pub fn unqueued() -> u64 {
    LOGGER
        .get()
        .map_or(0, |l| l.shared.unqueued.load(Ordering::Relaxed))
}

/// Waits (at most `within`) until the lines queued so far are written, then prints on stderr
/// how many were dropped, if any. A program calls it before it exits; [`run`](crate::run)
/// does.
pub fn finish(within: Duration) {
    let dropped = LOGGER.get().map_or(0, |logger| {
        logger.wait_written(within);
        logger.shared.dropped.load(Ordering::Relaxed)
    });
    if dropped > 0 {
        let _ = writeln!(
            io::stderr(),
            "log: {} dropped in all (stdout failed or did not keep up)",
            crate::text::count(dropped, "line", "lines")
        );
    }
}

/// Queues a line for stdout with `format!` syntax: `common::logln!("accepted {peer}")`.
#[macro_export]
macro_rules! logln {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}

/// Queues a line for stdout with `format!` syntax; a closed pipe ends the program ([`print`]).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::log::print(format_args!($($arg)*)) };
}

/// Queues a line for stderr with `format!` syntax.
#[macro_export]
macro_rules! elogln {
    ($($arg:tt)*) => { $crate::log::eline(format_args!($($arg)*)) };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Out,
    Err,
}

/// The counters the callers and the writer share.
#[derive(Default)]
struct Shared {
    queued: AtomicU64,
    done: AtomicU64,
    dropped: AtomicU64,
    /// Of `dropped`, the lines that found no room in the queue (or no writer).
    unqueued: AtomicU64,
    said: AtomicBool,
}

struct Logger {
    tx: Mutex<Option<SyncSender<(Target, String)>>>,
    shared: std::sync::Arc<Shared>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

fn global() -> &'static Logger {
    LOGGER.get_or_init(|| {
        // The writer writes to its own descriptors (duplicates of 1 and 2), unbuffered by std:
        // a failed write is lost, not kept in a buffer to fail again. When they cannot be
        // duplicated, std's handles do.
        let out: Box<dyn Write + Send> = match io::stdout().as_fd().try_clone_to_owned() {
            Ok(fd) => Box::new(File::from(fd)),
            Err(_) => Box::new(io::stdout()),
        };
        let err: Box<dyn Write + Send> = match io::stderr().as_fd().try_clone_to_owned() {
            Ok(fd) => Box::new(File::from(fd)),
            Err(_) => Box::new(io::stderr()),
        };
        Logger::start(out, err, QUEUE_LINES, terminal_width)
    })
}

/// The width of the terminal `target` writes to, if it is one (see [`console::fit`](crate::console::fit)).
/// Whether it is one is asked once: a log that goes to a file or a pipe would otherwise
/// cost a failed `ioctl` per line; a terminal's width is asked at every line, since the
/// window may be resized.
fn terminal_width(target: Target) -> Option<usize> {
    static OUT: OnceLock<bool> = OnceLock::new();
    static ERR: OnceLock<bool> = OnceLock::new();
    let size = match target {
        Target::Out if *OUT.get_or_init(|| io::stdout().is_terminal()) => {
            rustix::termios::tcgetwinsize(io::stdout())
        }
        Target::Err if *ERR.get_or_init(|| io::stderr().is_terminal()) => {
            rustix::termios::tcgetwinsize(io::stderr())
        }
        _ => return None,
    };
    let size = size.ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

impl Logger {
    fn start(
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        capacity: usize,
        width: fn(Target) -> Option<usize>,
    ) -> Logger {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let shared = std::sync::Arc::new(Shared::default());
        let writer_shared = shared.clone();
        let spawned = thread::Builder::new()
            .name("log".into())
            .spawn(move || write_lines(rx, out, err, width, &writer_shared));
        Logger {
            // Without its writer there is no log: every line is dropped and counted.
            tx: Mutex::new(spawned.ok().map(|_| tx)),
            shared,
        }
    }

    fn send(&self, target: Target, text: fmt::Arguments<'_>) {
        let line = text.to_string();
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        let sent = match self.tx.lock() {
            Ok(tx) => match tx.as_ref() {
                Some(tx) => match tx.try_send((target, line)) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
                },
                None => false,
            },
            Err(_) => false,
        };
        if !sent {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            self.shared.unqueued.fetch_add(1, Ordering::Relaxed);
            self.shared.done.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn wait_written(&self, within: Duration) {
        let target = self.shared.queued.load(Ordering::Relaxed);
        let deadline = Instant::now() + within;
        while self.shared.done.load(Ordering::Relaxed) < target && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The writer thread: writes what is queued, a batch at a time, until every sender is gone.
fn write_lines(
    rx: Receiver<(Target, String)>,
    mut out: Box<dyn Write + Send>,
    mut err: Box<dyn Write + Send>,
    width: fn(Target) -> Option<usize>,
    shared: &Shared,
) {
    let mut reported: u64 = 0;
    let mut batch: Vec<(Target, String)> = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.push(first);
        // Whatever else is already queued goes out with it, up to a bound.
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut failure: Option<io::Error> = None;
        // A run of lines for one target at a time, in the order they were queued: a server's
        // lines on stderr (its hexdump) and on stdout come out as they happened.
        for run in batch.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(target, _)) = run.first() else {
                continue;
            };
            let mut bytes = Vec::new();
            let lines = run.len() as u64;
            // Asked once a run: the terminal may have been resized.
            let width = width(target);
            for (_, text) in run {
                match width {
                    Some(_) => bytes.extend_from_slice(crate::console::fit(text, width).as_bytes()),
                    None => bytes.extend_from_slice(text.as_bytes()),
                }
                bytes.push(b'\n');
            }
            // Lines dropped since stdout last worked are counted in stdout itself, once it
            // works again.
            let dropped = shared.dropped.load(Ordering::Relaxed);
            if target == Target::Out && dropped > reported {
                let note = format!(
                    "log: {} dropped\n",
                    crate::text::count(dropped - reported, "line", "lines")
                );
                if out.write_all(note.as_bytes()).is_ok() {
                    reported = dropped;
                }
            }
            let sink = match target {
                Target::Out => &mut out,
                Target::Err => &mut err,
            };
            if let Err(e) = sink.write_all(&bytes).and_then(|()| sink.flush()) {
                if target == Target::Out
                    && e.kind() == io::ErrorKind::BrokenPipe
                    && PRINT_ENDS_ON_EPIPE.load(Ordering::Relaxed)
                {
                    // The reader has gone (see `print`): end as `println!` ends there (see
                    // crate::report), with the status of SIGPIPE.
                    std::process::exit(141);
                }
                shared.dropped.fetch_add(lines, Ordering::Relaxed);
                failure.get_or_insert(e);
            }
        }
        let dropped = shared.dropped.load(Ordering::Relaxed);
        if dropped > 0 && !shared.said.swap(true, Ordering::Relaxed) {
            let why = match &failure {
                Some(e) => format!("cannot write to it: {e}"),
                None => "it did not keep up".to_string(),
            };
            let _ = writeln!(
                err,
                "log: lines for stdout are being dropped ({why}); the server goes on serving \
                 and counts them"
            );
        }
        shared.done.fetch_add(batch.len() as u64, Ordering::Relaxed);
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A sink that keeps what it is given, for tests.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Kept {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// A disk that is full: /dev/full.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A pipe nobody reads: writes block while the flag is set.
    struct Stuck(Arc<AtomicBool>, Kept);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            while self.0.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(1));
            }
            self.1.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_come_out_in_order_on_their_streams() {
        let (out, err) = (Kept::default(), Kept::default());
        let log = Logger::start(Box::new(out.clone()), Box::new(err.clone()), 8, |_| None);
        for i in 0..100 {
            log.send(Target::Out, format_args!("line {i}"));
            // The queue is small: give the writer time, so nothing is dropped here.
            log.wait_written(Duration::from_secs(5));
        }
        log.send(Target::Err, format_args!("error: x"));
        log.wait_written(Duration::from_secs(5));
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(out.text(), expected);
        assert_eq!(err.text(), "error: x\n");
        assert_eq!(log.shared.dropped.load(Ordering::Relaxed), 0);
    }

    /// Lines for stdout and stderr queued in one batch come out as they were queued, on one
    /// terminal: each stream's lines were written together, and udp-server's `--hexdump`
    /// (stderr) showed the dump of its answer after the `sent` line (stdout) that followed it.
    #[test]
    fn stdout_and_stderr_lines_of_one_batch_keep_their_order() {
        let screen = Kept::default();
        let (tx, rx) = mpsc::sync_channel(8);
        for (target, text) in [
            (Target::Out, "received"),
            (Target::Err, ">> dump"),
            (Target::Out, "sent"),
        ] {
            tx.send((target, text.to_string())).unwrap();
        }
        drop(tx);
        let out = Box::new(screen.clone());
        write_lines(
            rx,
            out,
            Box::new(screen.clone()),
            |_| None,
            &Shared::default(),
        );
        assert_eq!(screen.text(), "received\n>> dump\nsent\n");
    }

    #[test]
    fn a_full_disk_drops_lines_counts_them_and_says_so_once() {
        let err = Kept::default();
        let log = Logger::start(Box::new(Full), Box::new(err.clone()), 8, |_| None);
        for i in 0..50 {
            log.send(Target::Out, format_args!("line {i}"));
            log.wait_written(Duration::from_secs(5));
        }
        assert_eq!(log.shared.dropped.load(Ordering::Relaxed), 50);
        // Each was queued: the writer failed, later.
        assert_eq!(log.shared.unqueued.load(Ordering::Relaxed), 0);
        let said = err.text();
        assert_eq!(said.lines().count(), 1, "{said}");
        assert!(said.contains("No space left on device"), "{said}");
    }

    #[test]
    fn a_stuck_stdout_never_blocks_the_caller() {
        let gate = Arc::new(AtomicBool::new(true));
        let (out, err) = (Kept::default(), Kept::default());
        let log = Logger::start(
            Box::new(Stuck(gate.clone(), out.clone())),
            Box::new(err.clone()),
            4,
            |_| None,
        );
        let started = Instant::now();
        for i in 0..10_000 {
            log.send(Target::Out, format_args!("line {i}"));
        }
        // Ten thousand lines while the writer is stuck: all but the few that the writer and
        // its queue hold were dropped, and the caller never waited.
        assert!(started.elapsed() < Duration::from_secs(2));
        let dropped = log.shared.dropped.load(Ordering::Relaxed);
        assert!((10_000 - 4 - 256..10_000).contains(&dropped), "{dropped}");
        assert_eq!(log.shared.unqueued.load(Ordering::Relaxed), dropped);
        // Unstick it: the writer writes what it held, then counts the drops in stdout.
        gate.store(false, Ordering::Relaxed);
        log.wait_written(Duration::from_secs(5));
        log.send(Target::Out, format_args!("after"));
        log.wait_written(Duration::from_secs(5));
        let text = out.text();
        // Every dropped line is counted in stdout, in one note or in several.
        let counted: u64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("log: ")?.strip_suffix(" lines dropped"))
            .map(|n| n.parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, dropped, "{text}");
        assert!(err.text().contains("did not keep up"), "{}", err.text());
    }
}
