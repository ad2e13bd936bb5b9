//! tcp-async as a user runs it: tcp-server's tests of the echo wire (`echo_server`), the same
//! server written with tokio, and its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_tcp-async");

testkit::echo_server_suite!(env!("CARGO_BIN_EXE_tcp-async"));
#[path = "../../09-tcp-poll/tests/one_thread/mod.rs"]
mod one_thread;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use testkit::{Failure, Scene, Stream};

#[test]
fn a_max_clients_larger_than_any_machine_serves_instead_of_panicking() -> Result<(), Failure> {
    // tokio's semaphore counts at most 2^61 - 1 permits and panics past that: the user's
    // number must not reach it as it is.
    let mut s = Scene::new();
    let mut cmd = Command::new(BIN);
    cmd.args(["--port", "0", "--max-clients", &usize::MAX.to_string()]);
    let (p, addr) = s.start("server", cmd)?;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"big").unwrap();
    let mut back = [0u8; 3];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"big");
    s.expect(p, "received 3 bytes")?;
    let stderr = s.output(p, Stream::Stderr);
    assert!(stderr.is_empty(), "{stderr:?}");
    Ok(())
}

/// Many clients that send and read as fast as they can: 400 connections from 127.0.1.1 to
/// 127.0.1.8, kept full from one thread. A task's turn used to end only on tokio's budget
/// (128 reads and writes, 128 KiB of echo here), so each round of the runtime was long, and
/// another client's one-byte echo waited 161 and 162 ms (median of 15, debug build; with 1000
/// such clients, about 0.3 s in a release build, where tcp-poll took 0.1 s). A turn is now one
/// chunk: 3.9 to 7.0 ms.
#[test]
fn many_clients_sending_as_fast_as_they_can_do_not_make_another_wait() -> Result<(), Failure> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};
    let mut s = Scene::new();
    let (_, addr) = s.start("server", {
        let mut cmd = Command::new(BIN);
        cmd.args(["--port", "0", "--quiet"]);
        cmd
    })?;
    let hogs: Vec<TcpStream> = (0..400u16)
        .map(|i| testkit::echo::holding([127, 0, 1, 1 + (i % 8) as u8], addr, None, b"").unwrap())
        .collect();
    let mut other = TcpStream::connect(addr).unwrap();
    other.set_nodelay(true).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut echo = || {
        // One echo every 20 ms, each timed alone.
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        other.write_all(b"p").unwrap();
        other.read_exact(&mut [0u8; 1]).unwrap();
        started.elapsed()
    };
    echo(); // The server has accepted it.
    let stop = Arc::new(AtomicBool::new(false));
    let echoed = Arc::new(AtomicU64::new(0));
    let hogging = {
        let (stop, echoed) = (Arc::clone(&stop), Arc::clone(&echoed));
        std::thread::spawn(move || {
            let (block, mut buf) = (vec![b'h'; 16 * 1024], vec![0u8; 256 * 1024]);
            for hog in &hogs {
                hog.set_nonblocking(true).unwrap();
            }
            while !stop.load(Ordering::Relaxed) {
                for mut hog in &hogs {
                    let _ = hog.write(&block);
                    while let Ok(n @ 1..) = hog.read(&mut buf) {
                        echoed.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    // The hogs' echo flows: 64 MiB of it (or 30 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    while echoed.load(Ordering::Relaxed) < 64 << 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut echoes: Vec<Duration> = (0..15).map(|_| echo()).collect();
    stop.store(true, Ordering::Relaxed);
    hogging.join().unwrap();
    echoes.sort();
    let median = echoes[echoes.len() / 2];
    eprintln!(
        "the other client's echoes: median {median:?}, slowest {:?}",
        echoes[14]
    );
    assert!(
        median < Duration::from_millis(50),
        "the other client waited {median:?} (median) for its echo"
    );
    Ok(())
}
