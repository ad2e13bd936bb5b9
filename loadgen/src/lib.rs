//! The echo benchmark's load generator, and what Linux's `/proc` says about a server under it.
//!
//! `cargo xtask bench echo` drives the echo servers with this crate. The generator is built to
//! cost less than the servers it measures: blocking sockets, one thread per core, and each
//! thread keeps one 64-byte message in flight on every one of its connections (write to all,
//! then read from all), so a round of N exchanges costs it 2N system calls and no wake-up per
//! connection. Each thread measures its own CPU time, as precisely as the server's
//! (nanoseconds, `CLOCK_THREAD_CPUTIME_ID`), so the report can show that the generator was not the bottleneck.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// The message of every exchange: 64 bytes, sent and echoed.
pub const MESSAGE: [u8; 64] = [b'x'; 64];

/// What a burst of connects achieved.
pub struct Burst {
    pub streams: Vec<TcpStream>,
    /// From the first connect to the last one's completion.
    pub total: Duration,
    /// The longest single connect, from its SYN to its completion: a second or more means a
    /// SYN was dropped and resent, because the server's accept queue (its backlog) was full.
    pub slowest: Duration,
    pub failed: usize,
}

/// Opens `n` connections to `addr` at once: every connect is fired (non-blocking, its SYN
/// sent) before any completes is waited for, as a crowd of clients would.
pub fn connect_burst(addr: SocketAddr, n: usize) -> Burst {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use socket2::{Domain, Socket, Type};
    let started = Instant::now();
    let fire = || -> io::Result<Socket> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => Ok(socket),
            // EINPROGRESS: the SYN is out, the handshake goes on without us.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {
                Ok(socket)
            }
            Err(e) => Err(e),
        }
    };
    let mut waiting: Vec<(Socket, Instant)> = Vec::with_capacity(n);
    let mut failed = 0;
    for _ in 0..n {
        let one = Instant::now();
        match fire() {
            Ok(socket) => waiting.push((socket, one)),
            Err(_) => failed += 1,
        }
    }
    // A connect has completed (or failed) when its socket becomes writable.
    let (mut streams, mut slowest) = (Vec::with_capacity(n), Duration::ZERO);
    let second = Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    while !waiting.is_empty() && started.elapsed() < Duration::from_secs(30) {
        let mut fds: Vec<PollFd> = (waiting.iter())
            .map(|(socket, _)| PollFd::new(socket, PollFlags::OUT))
            .collect();
        if poll(&mut fds, Some(&second)).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        drop(fds);
        let mut still = Vec::with_capacity(waiting.len());
        for ((socket, fired), ready) in waiting.into_iter().zip(ready) {
            if !ready {
                still.push((socket, fired));
                continue;
            }
            slowest = slowest.max(fired.elapsed());
            match (socket.take_error(), socket.set_nonblocking(false)) {
                (Ok(None), Ok(())) => streams.push(finish(socket.into())),
                _ => failed += 1,
            }
        }
        waiting = still;
    }
    Burst {
        streams,
        total: started.elapsed(),
        slowest,
        failed: failed + waiting.len(),
    }
}

/// A connected stream as the exchanges use it.
fn finish(stream: TcpStream) -> TcpStream {
    // Each message is a whole request: send it now, do not wait to fill a segment.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    stream
}

/// The kernel's TCP counters that tell of a burst the server did not keep up with, as
/// `nstat -az TcpExtListenOverflows TcpRetransSegs` shows them: machine-wide, since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Connections dropped because an accept queue was full (`/proc/net/netstat`).
    pub listen_overflows: u64,
    /// Segments sent again, SYNs included (`/proc/net/snmp`).
    pub retrans_segs: u64,
}

/// Reads [`TcpCounters`] from `/proc/net`.
pub fn tcp_counters() -> Option<TcpCounters> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    Some(TcpCounters {
        listen_overflows: counter(&netstat, "TcpExt:", "ListenOverflows")?,
        retrans_segs: counter(&snmp, "Tcp:", "RetransSegs")?,
    })
}

/// One counter of a `/proc/net/netstat` or `/proc/net/snmp` table: a line of names, then a
/// line of values, both starting with `prefix`.
fn counter(table: &str, prefix: &str, name: &str) -> Option<u64> {
    let mut lines = table.lines().filter(|l| l.starts_with(prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// What a run of exchanges achieved.
pub struct Exchanged {
    /// Exchanges whose echo came back whole.
    pub exchanges: u64,
    pub elapsed: Duration,
    /// Connections that failed (and stopped) during the run.
    pub failed: usize,
    /// CPU time the generator's own threads spent (`CLOCK_THREAD_CPUTIME_ID`, nanoseconds).
    pub generator_cpu: Duration,
    /// The connections that are still good, for the caller to close.
    pub streams: Vec<TcpStream>,
}

/// On each of `streams`, `rounds` exchanges of [`MESSAGE`], spread over `threads` threads.
pub fn exchange(streams: Vec<TcpStream>, rounds: usize, threads: usize) -> Exchanged {
    let threads = threads.clamp(1, streams.len().max(1));
    let mut shares: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, stream) in streams.into_iter().enumerate() {
        if let Some(share) = shares.get_mut(i % threads) {
            share.push(stream);
        }
    }
    let started = Instant::now();
    let workers: Vec<_> = shares
        .into_iter()
        .map(|share| thread::spawn(move || exchange_on(share, rounds)))
        .collect();
    let mut result = Exchanged {
        exchanges: 0,
        elapsed: Duration::ZERO,
        failed: 0,
        generator_cpu: Duration::ZERO,
        streams: Vec::new(),
    };
    for worker in workers {
        if let Ok(done) = worker.join() {
            result.exchanges += done.exchanges;
            result.failed += done.failed;
            result.generator_cpu += done.generator_cpu;
            result.streams.extend(done.streams);
        }
    }
    result.elapsed = started.elapsed();
    result
}

/// One generator thread: write to every connection, then read every echo; `rounds` times.
fn exchange_on(mut streams: Vec<TcpStream>, rounds: usize) -> Exchanged {
    let cpu_before = thread_cpu();
    let (mut exchanges, mut failed) = (0, 0);
    let mut back = [0u8; MESSAGE.len()];
    for _ in 0..rounds {
        let before = streams.len();
        streams.retain_mut(|s| s.write_all(&MESSAGE).is_ok());
        streams.retain_mut(|s| s.read_exact(&mut back).is_ok() && back == MESSAGE);
        failed += before - streams.len();
        exchanges += streams.len() as u64;
    }
    Exchanged {
        exchanges,
        elapsed: Duration::ZERO,
        failed,
        generator_cpu: thread_cpu().saturating_sub(cpu_before),
        streams,
    }
}

/// The CPU time of the calling thread, in nanoseconds as the server's is measured
/// (`CLOCK_THREAD_CPUTIME_ID`: exact at the moment of the call, where `schedstat`'s figure for
/// a running thread can lag by a scheduler tick).
fn thread_cpu() -> Duration {
    use rustix::time::{ClockId, clock_gettime};
    let now = clock_gettime(ClockId::ThreadCPUTime);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// What Linux tells about a running process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Time on a CPU, summed over its live threads (from `schedstat`, in nanoseconds).
    pub cpu: Duration,
    /// How many times its threads were put on a CPU: each wake-up counts one.
    pub runs: u64,
    /// Resident memory now (VmRSS) and at its peak (VmHWM), in kB.
    pub rss_kb: u64,
    pub peak_rss_kb: u64,
}

/// Reads [`Usage`] of process `pid` from `/proc`, or `None` if it has gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.get(key.len()..)?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    let mut usage = Usage {
        rss_kb: kb("VmRSS:")?,
        peak_rss_kb: kb("VmHWM:")?,
        ..Usage::default()
    };
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue; // The thread ended while we looked.
        };
        let mut fields = schedstat.split_whitespace();
        let ns: u64 = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
        let runs: u64 = fields.nth(1).and_then(|f| f.parse().ok()).unwrap_or(0);
        usage.cpu += Duration::from_nanos(ns);
        usage.runs += runs;
    }
    Some(usage)
}

/// The system's load average over the last minute, from `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_counts_this_threads_work_only() {
        let before = thread_cpu();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let spent = thread_cpu() - before;
        assert!(
            spent > Duration::ZERO && spent < Duration::from_secs(10),
            "{spent:?}"
        );
    }

    #[test]
    fn counters_are_found_by_name() {
        let table = "TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 0 42\nIpExt: A\nIpExt: 1\n";
        assert_eq!(counter(table, "TcpExt:", "ListenOverflows"), Some(42));
        assert_eq!(counter(table, "TcpExt:", "Missing"), None);
        assert!(tcp_counters().is_some());
    }

    #[test]
    fn exchanges_with_an_echo_server_and_measures_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            for _ in 0..3 {
                let (mut s, _) = listener.accept().unwrap();
                thread::spawn(move || {
                    let mut buf = [0u8; 256];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let burst = connect_burst(addr, 3);
        assert_eq!((burst.streams.len(), burst.failed), (3, 0));
        let done = exchange(burst.streams, 10, 2);
        assert_eq!((done.exchanges, done.failed), (30, 0));
        server.join().unwrap();
        let me = usage(std::process::id()).unwrap();
        assert!(me.peak_rss_kb >= me.rss_kb && me.runs > 0);
    }
}
