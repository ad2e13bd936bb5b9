//! `cargo xtask bench http`: http-server against nginx and `python3 -m http.server`, in one run,
//! on loopback. A large file fetched by curl (MB/s, the median of a few runs), and one small
//! file over keep-alive connections by wrk (requests per second, and the server's CPU time
//! per request, read from /proc before and after).
//!
//! nginx runs as Debian's nginx-light does, with one process (`master_process off`, so its
//! one worker is the process measured), `sendfile on`, no access log, listening on 127.0.0.1
//! only, from a configuration written to a scratch directory. http-server runs with
//! `--quiet` (no line per request), as nginx without its access log.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bins::Bins;

pub struct HttpOptions {
    /// The large file's size in MiB.
    pub size: u64,
    /// Seconds of wrk per server.
    pub seconds: u64,
    /// wrk's connections.
    pub connections: u64,
}

/// One server under test: its process, and where it listens.
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http(bins: &Bins, target: &Path, options: &HttpOptions) -> Result<(), String> {
    for (tool, package) in [("curl", "curl"), ("wrk", "wrk")] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!("{tool} not found (apt-get install {package})"));
        }
    }
    let dir = target.join("bench-http");
    let root = dir.join("root");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let big = options.size << 20;
    write_file(&root.join("big.bin"), big)?;
    write_file(&root.join("small.html"), 1024)?;

    println!(
        "large: a {} MiB file by curl, median of 3 runs; small: a 1 KiB file by wrk, \
         {} keep-alive connections, {} s",
        options.size, options.connections, options.seconds
    );
    println!(
        "{:<24} {:>12} {:>14} {:>16}",
        "server", "large MB/s", "small req/s", "CPU µs/request"
    );
    let mut servers: Vec<Result<Server, String>> = vec![ours(bins, &root)];
    servers.push(nginx(&dir, &root));
    servers.push(python(&root));
    for server in servers {
        let server = match server {
            Ok(server) => server,
            Err(why) => {
                println!("{why}");
                continue;
            }
        };
        let mut rates = Vec::new();
        for _ in 0..3 {
            rates.push(curl_rate(server.addr, big)?);
        }
        rates.sort_by(f64::total_cmp);
        let rate = rates.get(1).copied().unwrap_or_default();
        let before = cpu_seconds(server.child.id())?;
        let (requests, rps) = wrk(server.addr, options)?;
        let after = cpu_seconds(server.child.id())?;
        let per_request = if requests > 0 {
            (after - before) * 1e6 / requests as f64
        } else {
            0.0
        };
        println!(
            "{:<24} {rate:>12.0} {rps:>14.0} {per_request:>16.1}",
            server.name
        );
    }
    Ok(())
}

fn write_file(path: &Path, len: u64) -> Result<(), String> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let block: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        file.write_all(block.get(..n).unwrap_or_default())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        left -= n as u64;
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Waits until `addr` accepts a connection: nginx and Python print no ready line we can wait
/// for. Bounded: 10 s.
fn wait_listening(addr: SocketAddr, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited: {status}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("nothing listens on {addr} after 10 s"))
}

fn ours(bins: &Bins, root: &Path) -> Result<Server, String> {
    let port = free_port()?.to_string();
    let mut cmd = bins.lesson("http-server", &["--quiet", "--port", &port]);
    cmd.args([
        "--max-clients",
        "10000",
        "--max-per-address",
        "10000",
        "--root",
    ])
    .arg(root)
    .stdout(Stdio::null());
    start("http-server", cmd, &port)
}

fn nginx(dir: &Path, root: &Path) -> Result<Server, String> {
    let name = "nginx (1 worker)";
    let exe = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|n| Command::new(n).arg("-v").output().is_ok())
        .ok_or(format!(
            "{name:<24} not installed (apt-get install nginx-light)"
        ))?;
    let port = free_port()?;
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
    std::fs::write(&path, conf).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    start(name, cmd, &port.to_string())
}

fn python(root: &Path) -> Result<Server, String> {
    let port = free_port()?.to_string();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
        .arg(root)
        .arg(&port)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    start("python3 -m http.server", cmd, &port)
}

fn start(name: &'static str, mut cmd: Command, port: &str) -> Result<Server, String> {
    let addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{name:<24} cannot start: {e}"))?;
    if let Err(why) = wait_listening(addr, &mut child) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{name:<24} {why}"));
    }
    Ok(Server { name, child, addr })
}

/// curl fetching big.bin into /dev/null: MB/s.
fn curl_rate(addr: SocketAddr, size: u64) -> Result<f64, String> {
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
        .map_err(|e| format!("curl: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split(' ');
    let got: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let secs: f64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0.0);
    if got != size || secs <= 0.0 {
        return Err(format!(
            "curl got {got} of {size} bytes from {addr}: {text}"
        ));
    }
    Ok(got as f64 / secs / 1e6)
}

/// wrk on small.html: (requests, requests per second).
fn wrk(addr: SocketAddr, options: &HttpOptions) -> Result<(u64, f64), String> {
    let out = Command::new("wrk")
        .args(["-t1", "-c", &options.connections.to_string()])
        .args(["-d", &format!("{}s", options.seconds)])
        .arg(format!("http://{addr}/small.html"))
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "  123456 requests in 5.00s, 150.00MB read" and "Requests/sec:  24691.20"
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or(format!("wrk said: {text}"))?;
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0.0);
    Ok((requests, rps))
}

/// The process's CPU time so far, user and system, all its threads, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
    // After the command's name in parentheses: field 14 and 15 are utime and stime.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> f64 {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of the whole line are 12 and 13 after the name (state is field 3).
    Ok((ticks(11) + ticks(12)) / clock_ticks())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
