//! `cargo xtask bench`: how fast and how lean the lessons are, measured on loopback.
//!
//! Benchmarks print a table and change nothing. Timing belongs here, never in tests: a
//! loaded CI machine makes timed tests fail for no fault of the code.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use testkit::{Proc, Scene};

use crate::bins::Bins;

pub struct EchoOptions {
    pub clients: usize,
    pub hold: usize,
    pub seconds: f64,
}

/// Round trips per second of 64-byte messages for one client and for many, the most
/// connections held open at once, and the server's peak memory.
pub fn echo(bins: &Bins, options: &EchoOptions) -> Result<(), String> {
    let mut scene = Scene::new();
    let mut cmd = bins.lesson("tcp-server", &[]);
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

pub struct DownloadOptions {
    pub size: u64,
    pub runs: usize,
}

/// Parses sizes such as `1G`, `200M`, `64K` or a plain number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let unit = match unit {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        _ => return Err(format!("{s:?}: the unit is K, M or G")),
    };
    n.checked_mul(unit)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Downloads a file of `size` bytes over loopback with file-download, then with socat, and
/// prints the speed and each side's peak memory: the median of `runs` runs.
pub fn download(
    bins: &Bins,
    target: &std::path::Path,
    options: &DownloadOptions,
) -> Result<(), String> {
    let dir = target.join("bench-download");
    let (root, out) = (dir.join("root"), dir.join("out"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let file = root.join("big.bin");
    make_file(&file, options.size)?;

    let mut scene = Scene::new();
    let mut cmd = bins.lesson("file-download", &[]);
    cmd.args(["serve", "--port", "0", "--root"]).arg(&root);
    let server = scene.spawn("serve", cmd).map_err(|f| f.to_string())?;
    let addr = scene.ready(server).map_err(|f| f.to_string())?;

    println!(
        "{} MiB over loopback, median of {} runs",
        options.size >> 20,
        options.runs
    );
    println!(
        "{:<28} {:>10} {:>16} {:>16}",
        "", "MB/s", "client peak", "server peak"
    );
    let mut ours = Vec::new();
    for _ in 0..options.runs {
        let _ = std::fs::remove_file(out.join("big.bin"));
        let mut get = bins.lesson("file-download", &[]);
        get.args(["get", "big.bin", "--to", &addr.to_string()])
            .current_dir(&out);
        ours.push(measure(get, options.size)?);
    }
    let (rate, client_kb) = median(&mut ours);
    let server_kb = peak_memory(&scene, server);
    println!(
        "{:<28} {rate:>10.0} {:>13} kB {server_kb:>16}",
        "file-download", client_kb
    );
    drop(scene);

    if Command::new("socat").arg("-V").output().is_err() {
        println!("{:<28} not installed (apt-get install socat)", "socat");
        return Ok(());
    }
    let mut theirs = Vec::new();
    for _ in 0..options.runs {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let mut server = Command::new("socat")
            .args([
                "-u",
                &format!("FILE:{}", file.display()),
                &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr"),
            ])
            .spawn()
            .map_err(|e| format!("cannot start socat: {e}"))?;
        let _ = std::fs::remove_file(out.join("big.bin"));
        let mut get = Command::new("socat");
        get.args([
            "-u",
            &format!("TCP:127.0.0.1:{port},retry=100,interval=0.05"),
            &format!("CREATE:{}", out.join("big.bin").display()),
        ]);
        let result = measure(get, options.size);
        let _ = server.kill();
        let _ = server.wait();
        theirs.push(result?);
    }
    let (rate, client_kb) = median(&mut theirs);
    println!(
        "{:<28} {rate:>10.0} {:>13} kB {:>16}",
        "socat (no fsync, no checks)", client_kb, "-"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Runs `cmd` to its end; returns MB/s for `bytes` and its peak memory in kB, sampled from
/// /proc while it runs (the last sample before it exits).
fn measure(mut cmd: Command, bytes: u64) -> Result<(f64, u64), String> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let mut peak = 0;
    loop {
        if let Some(kb) = vm_hwm(child.id()) {
            peak = peak.max(kb);
        }
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(status)) => return Err(format!("{cmd:?} failed: {status}")),
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    Ok((bytes as f64 / secs / 1e6, peak))
}

fn median(runs: &mut [(f64, u64)]) -> (f64, u64) {
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let rate = runs.get(runs.len() / 2).map_or(0.0, |r| r.0);
    let peak = runs.iter().map(|r| r.1).max().unwrap_or(0);
    (rate, peak)
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Writes `size` bytes of a pattern to `path`, 1 MiB at a time.
fn make_file(path: &std::path::Path, size: u64) -> Result<(), String> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
    );
    let block: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left).map_or(block.len(), |l| l.min(block.len()));
        file.write_all(&block[..n]).map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    file.flush().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("200M"), Ok(200 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1T").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }
}
