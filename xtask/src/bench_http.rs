//! `cargo xtask bench http`: http-server against nginx and `python3 -m http.server`, in one run,
//! on loopback. A large file fetched by curl (MB/s, the median of a few runs), and one small
//! file over keep-alive connections by wrk (requests per second, and the server's CPU time
//! per request, read from /proc before and after).
//!
//! nginx runs as Debian's nginx-light does, with one process (`master_process off`, so its
//! one worker is the process measured), `sendfile on`, no access log, listening on 127.0.0.1
//! only, from a configuration written to a scratch directory. http-server runs with
//! `--quiet` (no line per request), as nginx without its access log.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::bench::{free_port, listening, make_file, median};
use crate::bins::Bins;

#[derive(clap::Args)]
pub struct HttpOptions {
    /// The large file's size in MiB.
    #[arg(long, default_value_t = 1024)]
    size: u64,
    /// Seconds of wrk per server.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// wrk's keep-alive connections.
    #[arg(long, default_value_t = 50)]
    connections: u64,
}

pub fn http(bins: &Bins, target: &Path, options: &HttpOptions) -> Result<()> {
    for tool in ["curl", "wrk"] {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!("{tool} not found (apt-get install {tool})");
        }
    }
    let dir = target.join("bench-http");
    let root = dir.join("root");
    let _ = std::fs::remove_dir_all(&dir);
    let big = options.size << 20;
    make_file(&root.join("big.bin"), big)?;
    make_file(&root.join("small.html"), 1024)?;

    println!(
        "large: a {} MiB file by curl, {RUNS} runs each, interleaved, median shown; \
         small: a 1 KiB file by wrk, {} keep-alive connections, {} s",
        options.size, options.connections, options.seconds
    );
    // Every server starts first and waits while the others are measured, so that the large
    // file's runs can take turns: a moment of load on the machine then falls on all of them.
    let mut servers = Vec::new();
    for name in ["http-server", "nginx (1 worker)", "python3 -m http.server"] {
        let port = free_port()?;
        let cmd = match name {
            "http-server" => {
                let mut cmd = bins.lesson("http-server", &["--quiet", "--port", &port.to_string()]);
                cmd.args([
                    "--max-clients",
                    "10000",
                    "--max-per-address",
                    "10000",
                    "--root",
                ]);
                cmd.arg(&root).stdout(Stdio::null());
                Ok(cmd)
            }
            "nginx (1 worker)" => nginx(&dir, &root, port),
            _ => {
                let mut cmd = Command::new("python3");
                cmd.args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
                    .arg(&root);
                cmd.arg(port.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                Ok(cmd)
            }
        };
        match cmd.and_then(|cmd| listening(cmd, port)) {
            Ok(server) => servers.push((name, server, SocketAddr::from(([127, 0, 0, 1], port)))),
            Err(why) => println!("{name:<24} {why:#}"),
        }
    }
    let mut rates = vec![Vec::new(); servers.len()];
    for run in 0..RUNS {
        for k in 0..servers.len() {
            // Rotate the order, so that no server always goes first.
            let s = (k + run) % servers.len();
            rates[s].push(curl_rate(servers[s].2, big)?);
        }
    }
    println!(
        "{:<24} {:>12} {:>14} {:>16}",
        "server", "large MB/s", "small req/s", "CPU µs/request"
    );
    for ((name, server, addr), rates) in servers.iter().zip(rates) {
        let rate = median(rates);
        // From /proc/PID/stat, which counts the threads that have ended too (http-server's
        // connection threads end with wrk's connections; loadgen::usage sees only live ones).
        let before = cpu_seconds(server.0.id())?;
        let (requests, rps) = wrk(*addr, options)?;
        let per_request = (cpu_seconds(server.0.id())? - before) * 1e6 / requests.max(1) as f64;
        println!("{name:<24} {rate:>12.0} {rps:>14.0} {per_request:>16.1}");
    }
    Ok(())
}

/// Runs of the large file per server.
const RUNS: usize = 5;

/// nginx from a configuration written into `dir`: one worker serving `root` on `port`.
fn nginx(dir: &Path, root: &Path, port: u16) -> Result<Command> {
    let exe = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|n| Command::new(n).arg("-v").output().is_ok())
        .context("not installed (apt-get install nginx-light)")?;
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log;\nevents {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
         \x20 client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
         \x20 fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n\
         \x20 scgi_temp_path {dir}/scgi;\n  types {{ text/html html; }}\n\
         \x20 server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n",
        dir = dir.display(),
        root = root.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).with_context(|| format!("cannot write {}", path.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Ok(cmd)
}

/// curl fetching big.bin into /dev/null: MB/s.
fn curl_rate(addr: SocketAddr, size: u64) -> Result<f64> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{time_total}",
        ])
        .arg(format!("http://{addr}/big.bin"))
        .output()
        .context("cannot run curl")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (got, secs) = text.split_once(' ').unwrap_or_default();
    let (got, secs): (u64, f64) = (got.parse().unwrap_or(0), secs.parse().unwrap_or(0.0));
    if got != size || secs <= 0.0 {
        bail!("curl got {got} of {size} bytes from {addr}: {text}");
    }
    Ok(got as f64 / secs / 1e6)
}

/// wrk on small.html: (requests, requests per second).
fn wrk(addr: SocketAddr, options: &HttpOptions) -> Result<(u64, f64)> {
    let out = Command::new("wrk")
        .args(["-t1", "-c", &options.connections.to_string()])
        .args(["-d", &format!("{}s", options.seconds)])
        .arg(format!("http://{addr}/small.html"))
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "  123456 requests in 5.00s, 150.00MB read" and "Requests/sec:  24691.20"
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("wrk said: {text}"))?;
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:")?.trim().parse().ok());
    Ok((requests, rps.unwrap_or(0.0)))
}

/// The process's CPU time so far, user and system, of all its threads, live or ended, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // After the command's name in parentheses, fields 12 and 13 are utime and stime, in ticks.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let ticks = fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0);
    let mut getconf = Command::new("getconf");
    let per_second = crate::bins::output(getconf.arg("CLK_TCK"))
        .map_or(100.0, |t| t.trim().parse().unwrap_or(100.0));
    Ok(ticks / per_second)
}
