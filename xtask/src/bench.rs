//! `cargo xtask bench`: how fast and how lean the lessons are, measured on loopback.
//!
//! Benchmarks print a table and change nothing. Timing belongs here, never in tests: a
//! loaded CI machine makes timed tests fail for no fault of the code.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use testkit::{Proc, Scene};

use crate::manifest::Bins;

pub struct EchoOptions {
    pub clients: usize,
    pub hold: usize,
    pub seconds: f64,
}

/// Round trips per second of 64-byte messages for one client and for many, the most
/// connections held open at once, and the server's peak memory.
pub fn echo(bins: &Bins, options: &EchoOptions) -> Result<(), String> {
    let mut scene = Scene::new();
    let mut cmd = bins.command("tcp-server");
    let max = (options.hold.max(options.clients) + 64).to_string();
    cmd.args(["--port", "0", "--quiet", "--max-clients", &max]);
    let server = scene.spawn("server", cmd).map_err(|f| f.to_string())?;
    let addr = scene.ready(server).map_err(|f| f.to_string())?;
    let window = Duration::from_secs_f64(options.seconds);

    println!(
        "tcp-server echo on {addr}, {}s per row, 64-byte messages",
        options.seconds
    );
    println!("{:<34} {:>14}", "measure", "result");
    let one = round_trips(addr, 1, window)?;
    println!("{:<34} {:>10.0} rt/s", "1 client", one);
    let many = round_trips(addr, options.clients, window)?;
    println!(
        "{:<34} {:>10.0} rt/s",
        format!("{} concurrent clients", options.clients),
        many
    );
    let held = hold(addr, options.hold)?;
    println!(
        "{:<34} {:>14}",
        format!("connections held at once (of {})", options.hold),
        held
    );
    println!(
        "{:<34} {:>14}",
        "server peak memory (VmHWM)",
        peak_memory(&scene, server)
    );
    Ok(())
}

/// Runs `clients` threads, each sending 64 bytes and reading the echo in a loop for `window`.
fn round_trips(addr: SocketAddr, clients: usize, window: Duration) -> Result<f64, String> {
    let streams = (0..clients)
        .map(|_| connect(addr))
        .collect::<Result<Vec<_>, _>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let (stop, count) = (Arc::clone(&stop), Arc::clone(&count));
            thread::spawn(move || -> std::io::Result<()> {
                let msg = [b'x'; 64];
                let mut back = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    stream.write_all(&msg)?;
                    stream.read_exact(&mut back)?;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    // The measuring window: the one sleep in this program, and it synchronises nothing.
    thread::sleep(window);
    stop.store(true, Ordering::Relaxed);
    let mut failed = 0;
    for w in workers {
        if !matches!(w.join(), Ok(Ok(()))) {
            failed += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if failed > 0 {
        return Err(format!("{failed} of {clients} clients failed"));
    }
    Ok(count.load(Ordering::Relaxed) as f64 / elapsed)
}

/// Opens `n` connections, keeps them all open, and checks that each one echoes.
fn hold(addr: SocketAddr, n: usize) -> Result<String, String> {
    let mut streams = Vec::with_capacity(n);
    for i in 0..n {
        streams.push(connect(addr).map_err(|e| format!("connection {i}: {e}"))?);
    }
    let mut echoed = 0;
    for stream in &mut streams {
        let mut one = [0u8; 1];
        if stream.write_all(b"!").is_ok() && stream.read_exact(&mut one).is_ok() {
            echoed += 1;
        }
    }
    Ok(format!("{echoed} echoed"))
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect: {e}"))?;
    // Each message is a whole request: send it now, do not wait to fill a segment.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    Ok(stream)
}

/// The peak resident memory of a process, from Linux's /proc.
pub fn peak_memory(scene: &Scene, p: Proc) -> String {
    scene
        .pid(p)
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
