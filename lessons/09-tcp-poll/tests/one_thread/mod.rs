//! Attacks on an echo server that serves every client from one thread (tcp-poll, tcp-async):
//! a client that hogs the loop, one address that takes every place, a client past the
//! descriptor limit, and a log that a peer could fill. Each test file names its binary as
//! `BIN` and includes this module.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{Failure, Scene};

/// How long `other`'s echoes of one byte take while a hog client keeps the server busy: the
/// slowest of `tries`, one after the other.
fn slowest_echo(other: &mut TcpStream, tries: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..tries {
        let started = Instant::now();
        other.write_all(b"p").unwrap();
        let mut one = [0u8; 1];
        other.read_exact(&mut one).unwrap();
        slowest = slowest.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    slowest
}

#[test]
fn a_client_that_sends_and_reads_as_fast_as_it_can_does_not_starve_another() -> Result<(), Failure>
{
    // The hog writes 64 KiB blocks from one thread and reads its echo from another, as fast as
    // both go: the server's socket for it never runs dry, so a turn that reads until
    // WouldBlock never ends. Another client's one-byte echo must still come back at once.
    // Before tcp-poll had a budget per turn and a cap on pending echo, it waited seconds. The
    // cap alone ends most turns (the first write that falls short fills it: 5 to 60 ms here
    // with the budget removed), so the budget has its own test, in tcp-poll's client.rs.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let mut s = Scene::new();
    let (_, addr) = s.start("server", {
        let mut cmd = Command::new(crate::BIN);
        cmd.args(["--port", "0", "--quiet"]);
        cmd
    })?;
    let hog = TcpStream::connect(addr).unwrap();
    let mut other = TcpStream::connect(addr).unwrap();
    other.set_nodelay(true).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // One exchange before the attack, so that the server has accepted both.
    assert!(slowest_echo(&mut other, 1) < Duration::from_secs(10));
    let stop = Arc::new(AtomicBool::new(false));
    let echoed = Arc::new(AtomicU64::new(0));
    let mut reader = hog.try_clone().unwrap();
    let reading = {
        let (stop, echoed) = (Arc::clone(&stop), Arc::clone(&echoed));
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            while !stop.load(Ordering::Relaxed) {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => echoed.fetch_add(n as u64, Ordering::Relaxed),
                };
            }
        })
    };
    let mut writer = hog;
    let writing = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let block = vec![b'h'; 64 * 1024];
            while !stop.load(Ordering::Relaxed) && writer.write_all(&block).is_ok() {}
        })
    };
    // Let the hog get going: its echo flows.
    let deadline = Instant::now() + Duration::from_secs(10);
    while echoed.load(Ordering::Relaxed) < 8 << 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = echoed.load(Ordering::Relaxed);
    let started = Instant::now();
    let slowest = slowest_echo(&mut other, 20);
    let rate = (echoed.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    eprintln!(
        "slowest echo of the other client {slowest:?}; the hog's echo meanwhile {:.0} MB/s",
        rate / 1e6
    );
    // Both are served: the hog keeps most of the loop's time, the other gets its turn.
    assert!(rate > 1e6, "the hog was starved: {rate:.0} B/s");
    assert!(
        slowest < Duration::from_millis(250),
        "the other client waited {slowest:?} for its echo"
    );
    drop(s); // Kills the server, which ends both hog threads.
    writing.join().unwrap();
    reading.join().unwrap();
    Ok(())
}

/// A server under `ulimit -n 24`: room for about 18 clients.
fn server_with_24_descriptors(s: &mut Scene, bin: &str) -> Result<std::net::SocketAddr, Failure> {
    let mut cmd = testkit::fdlimit::with_limit(24, bin);
    cmd.args(["--port", "0", "--max-per-address", "4096"]);
    Ok(s.start("server", cmd)?.1)
}

#[test]
fn a_client_past_the_descriptor_limit_is_refused_at_once_not_left_hanging() -> Result<(), Failure> {
    // 30 connections held open take every descriptor the server has. The next one waits in
    // the listen queue, unseen, until a client leaves; with a spare descriptor the server
    // accepts it anyway, only to close it: the client learns at once.
    let mut s = Scene::new();
    let addr = server_with_24_descriptors(&mut s, crate::BIN)?;
    let _held: Vec<TcpStream> = (0..30).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut last = TcpStream::connect(addr).unwrap();
    last.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut back = Vec::new();
    let started = Instant::now();
    let read = last.read_to_end(&mut back);
    assert!(read.is_ok(), "{read:?} after {:?}", started.elapsed());
    let line = s.expect(testkit::Proc(0), "closed at once (ulimit -n)")?;
    assert!(line.starts_with("refused 127.0.0.1:"), "{line}");
    Ok(())
}

#[test]
fn one_address_gets_at_most_max_per_address_places() -> Result<(), Failure> {
    let mut s = Scene::new();
    let mut cmd = Command::new(crate::BIN);
    cmd.args(["--port", "0", "--max-per-address", "3"]);
    let (p, addr) = s.start("server", cmd)?;
    let _held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for _ in 0..3 {
        s.expect(p, "accepted")?;
    }
    let mut fourth = testkit::echo::connect(addr).unwrap();
    let line = s.expect(p, "refused")?;
    assert!(
        line.ends_with(
            ": this address already has 3 connections (--max-clients, --max-per-address)"
        ),
        "{line}"
    );
    let mut rest = Vec::new();
    let _ = fourth.read_to_end(&mut rest);
    assert!(rest.is_empty());
    Ok(())
}

#[test]
fn quiet_prints_nothing_per_connection() -> Result<(), Failure> {
    // A peer must not be able to fill the log: with --quiet, no line per connection at all,
    // refused ones included.
    let mut s = Scene::new();
    let mut cmd = Command::new(crate::BIN);
    cmd.args(["--port", "0", "--quiet", "--max-per-address", "1"]);
    let (p, addr) = s.start("server", cmd)?;
    let mut first = testkit::echo::connect(addr).unwrap();
    first.write_all(b"quiet").unwrap();
    let mut back = [0u8; 5];
    first.read_exact(&mut back).unwrap();
    let mut refused = testkit::echo::connect(addr).unwrap();
    let mut rest = Vec::new();
    let _ = refused.read_to_end(&mut rest);
    drop(first);
    s.kill(p)?;
    let printed = s.output(p, testkit::Stream::Stdout);
    assert_eq!(printed.len(), 1, "{printed:?}");
    Ok(())
}
