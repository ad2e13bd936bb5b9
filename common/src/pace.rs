//! Sending a file to a client that must keep up: a transfer ends when nothing can be sent for
//! `timeout` (the send buffer stays full), or, once `timeout` has passed, the client reads
//! slower than `min_rate`
//! (file-download and http-server).
//!
//! `SO_SNDTIMEO` alone notices only a client that reads *nothing*: a blocked `sendfile` goes
//! on as long as the client reads a little now and then, and a reader taking 500 bytes a
//! second holds its place for the whole file (64 MiB: 37 hours). So while the bytes go out,
//! the socket is non-blocking: each `sendfile` moves what the send buffer has room for and
//! returns at once, `poll(2)` waits for more room a [`TICK`] at most, and between calls the
//! loop looks at the clock.
//!
//! "Sent" here means taken by the kernel: bytes still in the socket's send buffer count,
//! though the client has not read them. So a transfer starts with the send buffer capped
//! ([`SLOW_BUFFER`]): a client slow from its start gets that much credit, once, and pins no
//! more of the kernel's memory. A client that proves it reads ([`proves_fast`]) gets the
//! large buffer Linux would have grown by itself ([`FAST_BUFFER`]): the capped one costs
//! speed, a wake-up of the sender for every 512 KiB.

use std::fs::File;
use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use socket2::SockRef;

/// How long the loop waits for room in the send buffer before it looks at the clock: often
/// enough to drop a client that reads too slowly, rarely enough to cost nothing.
pub const TICK: Duration = Duration::from_secs(1);

/// The send buffer a transfer starts with (`SO_SNDBUF`; Linux doubles it for its
/// bookkeeping: 512 KiB, `tb524288` in `ss -tm`).
pub const SLOW_BUFFER: usize = 256 * 1024;
/// The send buffer of a client that has proven it reads: 4 MiB as Linux counts it, what it
/// grows a loopback socket's buffer to by itself (the third number of
/// `/proc/sys/net/ipv4/tcp_wmem`). `net.core.wmem_max` bounds what a program may ask for.
pub const FAST_BUFFER: usize = 2 << 20;
/// A client proves it reads by taking this much: more than its kernel can hold unread
/// (`SO_RCVBUF` is at most `net.core.rmem_max`, 4 MiB, which Linux doubles)...
pub const PROOF: u64 = 16 << 20;
/// ...at this many bytes a second at least, from the start of the transfer.
pub const FAST_RATE: u64 = 4 << 20;

/// The slowest a client may be.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// No progress for this long ends the transfer; also the grace before `min_rate` applies.
    pub timeout: Duration,
    /// Bytes per second, averaged from the start of the transfer once `timeout` has passed.
    pub min_rate: u64,
}

/// Why a transfer ended before its last byte.
#[derive(Debug)]
pub enum Cut {
    /// Nothing could be sent for the timeout: the send buffer stayed full. The client read
    /// nothing, or too little for the kernel to make room (it may still be reading, slowly).
    Stalled,
    /// The client read, but slower than the minimum rate: this many bytes in this long.
    TooSlow(u64, Duration),
    /// Anything else: the client reset the connection, the disk failed.
    Failed(io::Error),
}

/// A write that failed: a timeout (`SO_SNDTIMEO`) is a write that could put nothing into the
/// send buffer.
impl From<io::Error> for Cut {
    fn from(e: io::Error) -> Cut {
        if crate::net::is_timeout(&e) {
            Cut::Stalled
        } else {
            Cut::Failed(e)
        }
    }
}

impl Pace {
    /// Whether `sent` bytes `elapsed` after the start keep up with the pace.
    pub fn keeps_up(&self, sent: u64, elapsed: Duration) -> bool {
        let late = elapsed.saturating_sub(self.timeout);
        sent as f64 >= late.as_secs_f64() * self.min_rate as f64
    }

    /// Whether a client that has taken nothing for `paused`, and `taken` bytes `elapsed` after
    /// the start, may go on: for `timeout`, always; then up to `max_pause` if what it took
    /// pays for the whole time at `min_rate` (no grace). `curl --limit-rate 500K` reads in
    /// bursts: several MB at once, then nothing for as long as they last at its rate, 14 s.
    /// (`taken` leaves out what the send buffer holds: those bytes may never be read.)
    pub fn may_pause(
        &self,
        taken: u64,
        elapsed: Duration,
        paused: Duration,
        max_pause: Duration,
    ) -> bool {
        paused < self.timeout
            || (paused < max_pause && taken as f64 >= elapsed.as_secs_f64() * self.min_rate as f64)
    }
}

/// Whether a client that has taken `sent` bytes `elapsed` after the start has proven it
/// reads: [`PROOF`] bytes at [`FAST_RATE`] at least.
pub fn proves_fast(sent: u64, elapsed: Duration) -> bool {
    sent >= PROOF && sent as f64 >= elapsed.as_secs_f64() * FAST_RATE as f64
}

// ANCHOR: send_file
/// Sends `len` bytes of `file`, from byte `offset` on, down the connection, as long as the
/// client reads at `pace.min_rate` at least (after `pace.timeout`) and never stops for
/// `pace.timeout`, or for up to `max_pause` if what it took pays for the pause
/// ([`Pace::may_pause`]). Returns the bytes sent: fewer than `len` if the file shrank
/// meanwhile. Each time it waits for room, it tells `waiting` when the last byte went out:
/// http-server's places see by it an answer that its client does not read.
/// ([`send_file_watched`] is this loop with no pause past `pace.timeout`, [`send_file`] with
/// nobody to tell either.)
pub fn send_file_paced(
    file: &File,
    stream: &TcpStream,
    mut offset: u64,
    len: u64,
    pace: Pace,
    max_pause: Duration,
    mut waiting: impl FnMut(Instant),
) -> Result<u64, Cut> {
    // Non-blocking while the bytes go out: each sendfile moves what the send buffer has
    // room for and returns at once, and between calls the loop looks at the clock.
    stream.set_nonblocking(true).map_err(Cut::Failed)?;
    // The small send buffer first (a body that fits in it needs no cap): bytes in it count
    // as sent, so a client slow from its start gets that much credit at most.
    let mut proven = len <= SLOW_BUFFER as u64;
    if !proven {
        set_send_buffer(stream, SLOW_BUFFER)?;
    }
    let started = Instant::now();
    let mut progress = started;
    let mut sent = 0;
    while sent < len {
        let chunk = usize::try_from(len - sent)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        match send_some(file, stream, &mut offset, chunk) {
            Ok(0) => break, // The file ended early: it shrank while we sent it.
            Ok(n) => {
                sent += n as u64;
                progress = Instant::now();
                // A client that keeps up gets the large buffer: fewer wake-ups, more speed.
                if !proven && proves_fast(sent, started.elapsed()) {
                    proven = true;
                    set_send_buffer(stream, FAST_BUFFER)?;
                }
                // Fewer bytes than asked: the send buffer is full (or the file ended). Asked
                // again at once, sendfile would move the few KiB the client drained meanwhile;
                // after a wait for room (poll says so when a third of the buffer is free), it
                // moves a third of the buffer at least.
                if n < chunk && sent < len {
                    waiting(progress);
                    wait_for_room(stream).map_err(Cut::Failed)?;
                }
            }
            // The send buffer is full: wait for room, a TICK at most.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                waiting(progress);
                wait_for_room(stream).map_err(Cut::Failed)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Cut::Failed(e)),
        }
        // What the send buffer can hold (Linux counts twice what was asked) is no proof.
        let buffer = 2 * if proven { FAST_BUFFER } else { SLOW_BUFFER } as u64;
        let taken = sent.saturating_sub(buffer);
        if !pace.may_pause(taken, started.elapsed(), progress.elapsed(), max_pause) {
            return Err(Cut::Stalled);
        }
        if sent < len && !pace.keeps_up(sent, started.elapsed()) {
            return Err(Cut::TooSlow(sent, started.elapsed()));
        }
    }
    // What follows (another answer, on a connection that carries several) blocks again.
    stream.set_nonblocking(false).map_err(Cut::Failed)?;
    Ok(sent)
}
// ANCHOR_END: send_file

/// [`send_file_paced`] with no pause past `pace.timeout`: file-download's server.
pub fn send_file_watched(
    file: &File,
    stream: &TcpStream,
    offset: u64,
    len: u64,
    pace: Pace,
    waiting: impl FnMut(Instant),
) -> Result<u64, Cut> {
    send_file_paced(file, stream, offset, len, pace, pace.timeout, waiting)
}

/// [`send_file_watched`] without a watcher.
pub fn send_file(
    file: &File,
    stream: &TcpStream,
    offset: u64,
    len: u64,
    pace: Pace,
) -> Result<u64, Cut> {
    send_file_watched(file, stream, offset, len, pace, |_| {})
}

/// Makes closing `stream` send a reset (RST) and throw away what is still queued for the
/// client: `SO_LINGER` with 0. For a client dropped because it is too slow to read: after a
/// plain close, the kernel would go on sending it the send buffer, at its pace, for minutes
/// (nginx's `reset_timedout_connection`). Failing to set it changes only how the end looks.
pub fn reset_on_close(stream: &TcpStream) {
    let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// `SO_SNDBUF`: the most bytes the kernel holds for this connection (it doubles `size`).
fn set_send_buffer(stream: &TcpStream, size: usize) -> Result<(), Cut> {
    SockRef::from(stream)
        .set_send_buffer_size(size)
        .map_err(Cut::Failed)
}

/// One `sendfile(2)`: the kernel moves the bytes from the page cache to the socket; they
/// never pass through this program's memory. It advances `offset` itself.
#[cfg(target_os = "linux")]
fn send_some(file: &File, stream: &TcpStream, offset: &mut u64, len: usize) -> io::Result<usize> {
    Ok(rustix::fs::sendfile(stream, file, Some(offset), len)?)
}

/// Elsewhere, a plain copy through a buffer.
#[cfg(not(target_os = "linux"))]
fn send_some(file: &File, stream: &TcpStream, offset: &mut u64, len: usize) -> io::Result<usize> {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; len.min(256 * 1024)];
    let n = file.read_at(&mut buf, *offset)?;
    let n = (&*stream).write(buf.get(..n).ok_or(io::ErrorKind::InvalidData)?)?;
    *offset += n as u64;
    Ok(n)
}

/// poll(2) for POLLOUT: returns when the send buffer has room, or after a [`TICK`].
fn wait_for_room(stream: &TcpStream) -> io::Result<()> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let tick = Timespec {
        tv_sec: TICK.as_secs() as i64,
        tv_nsec: 0,
    };
    match poll(&mut [PollFd::new(stream, PollFlags::OUT)], Some(&tick)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_applies_only_after_the_grace() {
        let pace = Pace {
            timeout: Duration::from_secs(10),
            min_rate: 1000,
        };
        assert!(pace.keeps_up(0, Duration::from_secs(10)));
        assert!(pace.keeps_up(1000, Duration::from_secs(11)));
        assert!(!pace.keeps_up(999, Duration::from_secs(11)));
        assert!(!pace.keeps_up(500, Duration::from_secs(20)));
        assert!(pace.keeps_up(u64::MAX, Duration::from_secs(1_000_000)));
        assert!(!pace.keeps_up(0, Duration::MAX));
    }

    #[test]
    fn a_pause_past_the_timeout_must_be_paid_for_at_the_minimum_rate() {
        let pace = Pace {
            timeout: Duration::from_secs(10),
            min_rate: 1000,
        };
        let (s, max) = (Duration::from_secs, Duration::from_secs(60));
        assert!(pace.may_pause(0, s(9), s(9), max));
        assert!(!pace.may_pause(0, s(10), s(10), max));
        // 14 s of nothing after 20,000 bytes in 2 s: paid for until 20 s from the start.
        assert!(pace.may_pause(20_000, s(16), s(14), max));
        assert!(!pace.may_pause(20_000, s(21), s(19), max));
        assert!(!pace.may_pause(u64::MAX, s(70), s(60), max));
        // Without a longer max_pause, the timeout alone.
        assert!(!pace.may_pause(u64::MAX, s(12), s(10), s(10)));
    }

    #[test]
    fn a_client_proves_it_reads_by_enough_bytes_fast_enough() {
        assert!(!proves_fast(PROOF - 1, Duration::ZERO));
        assert!(proves_fast(PROOF, Duration::from_secs(4)));
        assert!(!proves_fast(PROOF, Duration::from_secs(5)));
        assert!(proves_fast(u64::MAX, Duration::from_secs(1_000_000)));
    }

    /// A sparse file of `len` bytes, and a connection on loopback: (server's end, client's).
    #[cfg(target_os = "linux")]
    fn file_and_connection(len: u64) -> (tempfile::NamedTempFile, TcpStream, TcpStream) {
        let file = tempfile::NamedTempFile::new().unwrap();
        file.as_file().set_len(len).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (file, server, client)
    }

    /// The send buffer as Linux counts it (twice what was asked for, within wmem_max).
    #[cfg(target_os = "linux")]
    fn send_buffer(stream: &TcpStream) -> usize {
        SockRef::from(stream).send_buffer_size().unwrap()
    }

    /// A client that reads nothing keeps the small buffer: without the cap, Linux would grow
    /// it to megabytes on loopback, all of it credit.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_client_that_reads_nothing_keeps_the_small_buffer() {
        let (file, server, _client) = file_and_connection(64 << 20);
        let pace = Pace {
            timeout: Duration::from_secs(1),
            min_rate: 1,
        };
        let cut = send_file(file.as_file(), &server, 0, 64 << 20, pace);
        assert!(matches!(cut, Err(Cut::Stalled)), "{cut:?}");
        assert!(
            send_buffer(&server) <= 2 * SLOW_BUFFER,
            "{}",
            send_buffer(&server)
        );
    }

    /// A client that reads gets the large buffer (as much of it as net.core.wmem_max allows).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_client_that_reads_gets_the_large_buffer() {
        let (file, server, mut client) = file_and_connection(64 << 20);
        let reader = std::thread::spawn(move || io::copy(&mut client, &mut io::sink()));
        let pace = Pace {
            timeout: Duration::from_secs(10),
            min_rate: 1,
        };
        let sent = send_file(file.as_file(), &server, 0, 64 << 20, pace).unwrap();
        assert_eq!(sent, 64 << 20);
        let wmem_max = std::fs::read_to_string("/proc/sys/net/core/wmem_max").unwrap();
        let wmem_max: usize = wmem_max.trim().parse().unwrap();
        assert_eq!(send_buffer(&server), 2 * FAST_BUFFER.min(wmem_max));
        drop(server);
        assert_eq!(reader.join().unwrap().unwrap(), 64 << 20);
    }
}
