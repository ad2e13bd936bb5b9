//! The echo benchmark's load generator, and what Linux's `/proc` says about a server under it.
//!
//! `cargo xtask bench echo` drives the echo servers with this crate. The generator is built to
//! cost less than the servers it measures: blocking sockets, one thread per core, and each
//! thread keeps one 64-byte message in flight on every one of its connections (write to all,
//! then read from all), so a round of N exchanges costs it 2N system calls and no wake-up per
//! connection. Each thread measures its own CPU time, so the report can show that the
//! generator was not the bottleneck.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// The message of every exchange: 64 bytes, sent and echoed.
pub const MESSAGE: [u8; 64] = [b'x'; 64];

/// Raises this process's soft limit on open files to its hard limit, so that it can hold
/// thousands of connections; the servers it starts inherit the new limit.
/// Returns the soft limit before and after.
pub fn raise_open_files_limit() -> io::Result<(u64, u64)> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current.unwrap_or(u64::MAX);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised)?;
    Ok((before, raised.current.unwrap_or(u64::MAX)))
}

/// What a burst of connects achieved.
pub struct Burst {
    pub streams: Vec<TcpStream>,
    /// From the first connect to the last one's return.
    pub total: Duration,
    /// The longest single connect: a second or more means a SYN was dropped and resent,
    /// because the server's accept queue (its backlog) was full.
    pub slowest: Duration,
    pub failed: usize,
}

/// Opens `n` connections to `addr`, one after the other, as fast as the kernel completes them.
pub fn connect_burst(addr: SocketAddr, n: usize) -> Burst {
    let mut streams = Vec::with_capacity(n);
    let (mut slowest, mut failed) = (Duration::ZERO, 0);
    let started = Instant::now();
    for _ in 0..n {
        let one = Instant::now();
        match TcpStream::connect(addr) {
            Ok(stream) => {
                // Each message is a whole request: send it now, do not wait to fill a segment.
                let _ = stream.set_nodelay(true);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                streams.push(stream);
            }
            Err(_) => failed += 1,
        }
        slowest = slowest.max(one.elapsed());
    }
    Burst {
        streams,
        total: started.elapsed(),
        slowest,
        failed,
    }
}

/// What a run of exchanges achieved.
pub struct Exchanged {
    /// Exchanges whose echo came back whole.
    pub exchanges: u64,
    pub elapsed: Duration,
    /// Connections that failed (and stopped) during the run.
    pub failed: usize,
    /// CPU time the generator's own threads spent, user and system.
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

/// The CPU time of the calling thread, user and system, from `/proc/thread-self/stat`.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| stat_cpu(&stat))
        .unwrap_or_default()
}

/// utime + stime, fields 14 and 15 of a `stat` file, in clock ticks. The fields are counted
/// after the command name, which is in parentheses and may itself hold spaces.
fn stat_cpu(stat: &str) -> Option<Duration> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    Some(Duration::from_micros((utime + stime) * 1_000_000 / ticks))
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
    fn stat_fields_are_counted_after_the_name() {
        let ticks = rustix::param::clock_ticks_per_second();
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 300 200 0 0 20 0 1";
        assert_eq!(
            stat_cpu(stat),
            Some(Duration::from_micros(500 * 1_000_000 / ticks))
        );
        assert_eq!(stat_cpu("garbage"), None);
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
