//! tcp-poll as a user runs it: tcp-server's tests of the echo wire (`echo_server`), and its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_tcp-poll");

#[path = "../../05-tcp-server/tests/echo_server/mod.rs"]
mod echo_server;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use testkit::{Failure, Scene};

/// The peak resident memory of a process in KiB, from Linux's /proc.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn clients_that_never_read_hold_at_most_64_kib_each() -> Result<(), Failure> {
    // 100 clients send without reading their echo. Each one's echo fills its small receive
    // buffer, then the server's send buffer, then the server's pending buffer, which must stop
    // at MAX_PENDING (64 KiB): 100 × 64 KiB is 6.25 MiB. (A server whose reads overshoot the
    // cap by one 64 KiB read grows by twice that.)
    const CLIENTS: u64 = 100;
    let mut s = Scene::new();
    let (p, addr) = s.start("server", {
        let mut cmd = Command::new(BIN);
        cmd.args(["--port", "0", "--quiet", "--max-per-address", "1000"]);
        cmd
    })?;
    let pid = s.pid(p).unwrap();
    let before = peak_kib(pid);
    let mut hogs: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            // Small buffers on our side, so that the bytes soon have nowhere to wait but the
            // server.
            socket.set_recv_buffer_size(4096).unwrap();
            socket.set_send_buffer_size(4096).unwrap();
            socket.connect(&addr.into()).unwrap();
            socket.set_nonblocking(true).unwrap();
            socket.into()
        })
        .collect();
    // Send up to 16 MiB on each, round after round, until the server takes no more: a few MiB
    // fill the kernel's buffers on the way.
    let block = vec![b'h'; 64 * 1024];
    let mut sent = vec![0usize; hogs.len()];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stalled_rounds = 0;
    while stalled_rounds < 10 && Instant::now() < deadline {
        let mut moved = false;
        for (hog, sent) in hogs.iter_mut().zip(sent.iter_mut()) {
            if *sent >= 16 * 1024 * 1024 {
                continue;
            }
            match hog.write(&block) {
                Ok(n) => (*sent, moved) = (*sent + n, true),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("the server dropped a client: {e}"),
            }
        }
        if moved {
            stalled_rounds = 0;
        } else {
            stalled_rounds += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let grown = peak_kib(pid).saturating_sub(before);
    // 64 KiB of pending echo a client, and 2 MiB for everything else (the table of clients).
    let bound = CLIENTS * 64 + 2 * 1024;
    assert!(
        grown <= bound,
        "the server grew by {grown} KiB for {CLIENTS} clients (bound {bound} KiB)"
    );
    Ok(())
}

/// How long `other`'s echoes of one byte take while a hog client keeps the server busy: the
/// slowest of `tries`, one after the other.
fn slowest_echo(other: &mut TcpStream, tries: usize) -> Duration {
    use std::io::Read;
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
    // Without the budget per turn it waited seconds (up to the whole 10 s timeout here).
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let mut s = Scene::new();
    let (_, addr) = s.start("server", {
        let mut cmd = Command::new(BIN);
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
        slowest < Duration::from_millis(500),
        "the other client waited {slowest:?} for its echo"
    );
    drop(s); // Kills the server, which ends both hog threads.
    writing.join().unwrap();
    reading.join().unwrap();
    Ok(())
}

/// A server under `ulimit -n 24`: room for about 18 clients.
fn server_with_24_descriptors(s: &mut Scene, bin: &str) -> Result<std::net::SocketAddr, Failure> {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#"ulimit -n 24 && exec "$0" --port 0 --max-per-address 4096"#,
        bin,
    ]);
    Ok(s.start("server", cmd)?.1)
}

#[test]
fn a_client_past_the_descriptor_limit_is_refused_at_once_not_left_hanging() -> Result<(), Failure> {
    // 30 connections held open take every descriptor the server has. The next one waits in
    // the listen queue, unseen, until a client leaves; with a spare descriptor the server
    // accepts it anyway, only to close it: the client learns at once.
    let mut s = Scene::new();
    let addr = server_with_24_descriptors(&mut s, BIN)?;
    let _held: Vec<TcpStream> = (0..30).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut last = TcpStream::connect(addr).unwrap();
    last.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut back = Vec::new();
    let started = Instant::now();
    use std::io::Read;
    let read = last.read_to_end(&mut back);
    assert!(read.is_ok(), "{read:?} after {:?}", started.elapsed());
    let line = s.expect(testkit::Proc(0), "out of file descriptors")?;
    assert!(line.starts_with("refused 127.0.0.1:"), "{line}");
    Ok(())
}

#[test]
fn one_address_gets_at_most_max_per_address_places() -> Result<(), Failure> {
    let mut s = Scene::new();
    let mut cmd = Command::new(BIN);
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
    use std::io::Read;
    let _ = fourth.read_to_end(&mut rest);
    assert!(rest.is_empty());
    Ok(())
}

#[test]
fn quiet_prints_nothing_per_connection() -> Result<(), Failure> {
    // A peer must not be able to fill the log: with --quiet, no line per connection at all,
    // refused ones included.
    let mut s = Scene::new();
    let mut cmd = Command::new(BIN);
    cmd.args(["--port", "0", "--quiet", "--max-per-address", "1"]);
    let (p, addr) = s.start("server", cmd)?;
    let first = TcpStream::connect(addr).unwrap();
    let mut refused = testkit::echo::connect(addr).unwrap();
    let mut rest = Vec::new();
    use std::io::Read;
    let _ = refused.read_to_end(&mut rest);
    drop(first);
    assert_eq!(
        testkit::echo::echo_in_pieces(addr, b"quiet", 2).unwrap(),
        b"quiet"
    );
    s.kill(p)?;
    let printed = s.output(p, testkit::Stream::Stdout);
    assert_eq!(printed.len(), 1, "{printed:?}");
    Ok(())
}
