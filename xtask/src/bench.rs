//! `cargo xtask bench`: how fast and how lean the lessons are, measured on loopback.
//!
//! Benchmarks print a table and write their figure beside the build, or into the book when
//! asked (`--update-book`): a reader's run never rewrites the tracked figure. Timing belongs
//! here, never in tests: a loaded CI machine makes timed tests fail for no fault of the code.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use common::fdlimit::Raised;
use common::report::{Proto, holders};
use testkit::free_port::free_tcp_port;
use testkit::{Proc, Scene, pattern};

use crate::bins::{
    Bins, Profile, build, installed, mkdir, output, read, repo_root, sh, target_dir, write,
};
use crate::flags::escape;

#[derive(clap::Subcommand)]
pub enum Bench {
    /// tcp-server, tcp-poll, tcp-async and a C epoll server on the same loads, interleaved:
    /// exchanges/s, CPU per exchange, memory, connect times; writes the book's figure.
    Echo(EchoOptions),
    /// file-download against cat, nc and socat, on tmpfs and on disk, fsync'd: time, MB/s,
    /// the paired ratio to cat, and the client's peak memory.
    Download {
        /// Bytes, or with a unit: 64K, 200M, 1G.
        #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = common::size::parse_size)]
        size: u64,
        /// Downloads of each kind; the median is shown.
        #[arg(long, value_name = "N", default_value_t = 3)]
        runs: usize,
    },
    /// http-server vs nginx (one worker, sendfile) and python3 -m http.server: a large file
    /// by curl, a small one over keep-alive by wrk, CPU per request (apt-get install
    /// nginx-light wrk curl).
    Http(HttpOptions),
}

pub fn run(bench: Bench) -> Result<()> {
    let target = target_dir()?;
    let release = |lessons: &[&str]| build(lessons, Profile::Release);
    match bench {
        Bench::Echo(options) => echo(&release(ECHO_LESSONS)?, &options, &target),
        Bench::Download { size, runs } => {
            download(&release(&["file-download"])?, &target, size, runs)
        }
        Bench::Http(options) => http(&release(&["http-server"])?, &target, &options),
    }
}

#[derive(clap::Args)]
pub struct EchoOptions {
    /// Connections of the largest load.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    hold: usize,
    /// Times each server meets each load; the median is shown.
    #[arg(long, value_name = "N", default_value_t = 3)]
    rounds: usize,
    /// Write the figure and the table into the book (docs/src/figures), not into
    /// target/bench-echo.
    #[arg(long)]
    update_book: bool,
}

/// The echo servers that `bench echo` builds; the C epoll server is compiled beside them.
const ECHO_LESSONS: &[&str] = &["tcp-server", "tcp-poll", "tcp-async"];

/// The C epoll server's name in the tables; its binary is `c_echo_epoll` beside the lessons'.
const C_EPOLL: &str = "c-epoll";

/// What one server did under one load.
#[derive(Clone, Copy, Default)]
struct Row {
    per_second: f64,
    server_us: f64,
    generator_us: f64,
    peak_mib: f64,
    kb_per_connection: f64,
    connect: Duration,
    slowest_connect: Duration,
    /// Accept-queue overflows and segments sent again during the burst, machine-wide
    /// (`nstat`'s TcpExtListenOverflows and TcpRetransSegs).
    overflows: u64,
    retransmits: u64,
    errors: usize,
}

/// Runs the echo servers on the same loads, interleaved (every server meets a load before the
/// next load starts, in a rotating order, so that a slow moment of the machine does not fall on
/// one server), prints the medians, and draws `bench-echo.svg` from them.
fn echo(bins: &Bins, options: &EchoOptions, target: &Path) -> Result<()> {
    let (hold, rounds) = (options.hold, options.rounds);
    // (connections, exchanges): connections opened in a burst, then round trips on each.
    let loads = [(1, 20_000), (500, 100), (1_000, 20), (hold, 10)];
    // The largest load, which is not `hold` when it is under 1,000.
    let most = loads.iter().map(|load| load.0).max().unwrap_or(hold);
    let mut servers = ECHO_LESSONS.to_vec();
    // Notes that the table needs beside it: printed now, and kept for the report.
    let mut report = String::new();
    let mut note = |line: String| {
        println!("{line}");
        let _ = writeln!(report, "{line}");
    };
    let cc = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(bins.dir.join("c_echo_epoll"))
        .arg(repo_root().join("loadgen/c_echo_epoll.c"))
        .status();
    match cc {
        Ok(status) if status.success() => servers.push(C_EPOLL),
        _ => note("c-epoll: skipped (cc cannot build loadgen/c_echo_epoll.c)".into()),
    }
    // Ten thousand connections need twenty thousand descriptors, ours and the servers'. main
    // has raised the soft limit to the hard one already; this reads it.
    note(match common::fdlimit::raise_limit() {
        Ok(Raised::From(_, limit) | Raised::Already(limit)) => {
            format!("open files: soft limit {limit}, enough for this run")
        }
        Err(e) => format!("open files: cannot raise the soft limit: {e}"),
    });
    let load_before = loadgen::load_average().unwrap_or(f64::NAN);
    let cores = thread::available_parallelism().map_or(1, |n| n.get());

    // samples[load][server]: one row per round.
    let mut samples = vec![vec![Vec::new(); servers.len()]; loads.len()];
    for round in 0..rounds {
        for (l, &(c, e)) in loads.iter().enumerate() {
            for k in 0..servers.len() {
                // Rotated, so that no server always runs first, or right after another.
                let s = (k + round + l) % servers.len();
                let (server, round) = (servers[s], round + 1);
                eprint!("\rround {round}/{rounds}: {c:>5} x {e:<5} on {server:<10}");
                let _ = std::io::stderr().flush();
                samples[l][s].push(run_load(bins, server, (c, e), most, cores)?);
            }
        }
    }
    eprintln!();
    let load_after = loadgen::load_average().unwrap_or(f64::NAN);
    let conditions = format!(
        "{rounds} round{}, interleaved, median shown; {cores} cores; load average {load_before:.1} before, {load_after:.1} after",
        if rounds == 1 { "" } else { "s" }
    );
    let printed = report.len();
    let _ = writeln!(
        report,
        "64-byte echo exchanges on loopback, release builds; {conditions}"
    );
    report.push_str(concat!(
        "load         server        exch/s   server  loadgen  peak RSS   RSS per     connect burst  overflow/ errors\n",
        "                                   µs/exch  µs/exch       MiB conn, KiB   total (slowest)    retrans       \n",
    ));
    let medians: Vec<Vec<Row>> = samples
        .iter()
        .map(|load| load.iter().map(|rows| median_row(rows)).collect())
        .collect();
    for ((connections, exchanges), rows) in loads.iter().zip(&medians) {
        for (server, row) in servers.iter().zip(rows) {
            let _ = writeln!(
                report,
                "{:<12} {:<10} {:>9.0} {:>8.2} {:>8.2} {:>9.1} {:>9.1} {:>8.0} ms ({:>4.0}) {:>10} {:>6}",
                format!("{connections} x {exchanges}"),
                server,
                row.per_second,
                row.server_us,
                row.generator_us,
                row.peak_mib,
                row.kb_per_connection,
                row.connect.as_secs_f64() * 1e3,
                row.slowest_connect.as_secs_f64() * 1e3,
                format!("{}/{}", row.overflows, row.retransmits),
                row.errors
            );
        }
    }
    let _ = writeln!(report);
    idle(bins, &servers, &mut report)?;
    print!("{}", &report[printed..]);

    let cpu: Vec<f64> = medians[1].iter().map(|row| row.server_us).collect();
    let memory: Vec<f64> = medians[3].iter().map(|row| row.peak_mib).collect();
    let svg = figure(&servers, &cpu, &memory, hold, &conditions);
    // The book shows the figure and the table of the same run.
    let out = echo_dir(options.update_book, target);
    for (name, text) in [("bench-echo.svg", svg), ("bench-echo.txt", report)] {
        write(&out.join(name), text)?;
        println!("wrote {}", out.join(name).display());
    }
    Ok(())
}

/// Where `bench echo` writes its figure and table: into the book only when asked.
fn echo_dir(update_book: bool, target: &Path) -> PathBuf {
    match update_book {
        true => repo_root().join("docs/src/figures"),
        false => target.join("bench-echo"),
    }
}

/// Starts `server`, puts `load` on it, and measures both sides.
fn run_load(
    bins: &Bins,
    server: &str,
    (connections, exchanges): (usize, usize),
    most: usize,
    cores: usize,
) -> Result<Row> {
    let mut scene = Scene::new();
    let (p, addr) = start(&mut scene, bins, server, most)?;
    let usage = || {
        let usage = scene.pid(p).and_then(loadgen::usage);
        usage.with_context(|| format!("{server} has gone"))
    };
    let fresh = usage()?;
    let counted = loadgen::tcp_counters().unwrap_or_default();
    let burst = loadgen::connect_burst(addr, connections);
    let counters = loadgen::tcp_counters().unwrap_or_default();
    let before = usage()?;
    // One generator thread per core; one connection needs one thread.
    let done = loadgen::exchange(burst.streams, exchanges, cores.min(connections));
    let after = usage()?;
    let open = done.streams.len().max(1) as f64;
    drop(done.streams);
    let exchanges = done.exchanges.max(1) as f64;
    Ok(Row {
        per_second: done.exchanges as f64 / done.elapsed.as_secs_f64().max(1e-9),
        server_us: (after.cpu.saturating_sub(before.cpu)).as_secs_f64() * 1e6 / exchanges,
        generator_us: done.generator_cpu.as_secs_f64() * 1e6 / exchanges,
        peak_mib: after.peak_rss_kb as f64 / 1024.0,
        kb_per_connection: after.rss_kb.saturating_sub(fresh.rss_kb) as f64 / open,
        connect: burst.total,
        slowest_connect: burst.slowest,
        overflows: counters
            .listen_overflows
            .saturating_sub(counted.listen_overflows),
        retransmits: counters.retrans_segs.saturating_sub(counted.retrans_segs),
        errors: burst.failed + done.failed,
    })
}

/// Starts `server` on a free loopback port, with room for `most` connections, and waits until
/// it is ready.
fn start(scene: &mut Scene, bins: &Bins, server: &str, most: usize) -> Result<(Proc, SocketAddr)> {
    if server == C_EPOLL {
        // The C server takes a port and prints `ready`.
        let port = free_tcp_port()?;
        let mut cmd = Command::new(bins.dir.join("c_echo_epoll"));
        cmd.arg(port.to_string());
        let p = scene.spawn(server, cmd)?;
        scene.expect(p, "ready")?;
        return Ok((p, SocketAddr::from(([127, 0, 0, 1], port))));
    }
    // The default backlog (4096, the C server's), and room for every connection, all of which
    // come from 127.0.0.1.
    let max = (most + 100).to_string();
    let limits = ["--max-clients", &max, "--max-per-address", &max];
    let mut cmd = bins.lesson(server, &["--port", "0", "--quiet"]);
    cmd.args(limits);
    Ok(scene.start(server, cmd)?)
}

/// CPU time and wake-ups of each server, started and left alone for two seconds.
fn idle(bins: &Bins, servers: &[&str], report: &mut String) -> Result<()> {
    const WINDOW: Duration = Duration::from_secs(2);
    let _ = writeln!(report, "idle, no clients, {} s:", WINDOW.as_secs());
    for server in servers {
        let mut scene = Scene::new();
        let (p, _) = start(&mut scene, bins, server, 0)?;
        let usage = || scene.pid(p).and_then(loadgen::usage).unwrap_or_default();
        // The window opens once the server has been still for 100 ms (2 s at most), not at its
        // ready line: it prints that on its way to its first wait, and the rest of that way is
        // not idleness (tcp-poll's one wake-up of 54 µs in stop 27's run).
        let mut before = usage();
        for _ in 0..20 {
            thread::sleep(Duration::from_millis(100));
            let now = usage();
            if now.runs == before.runs {
                break;
            }
            before = now;
        }
        let started = Instant::now();
        // The measuring window: a sleep that synchronises nothing.
        thread::sleep(WINDOW);
        let (after, secs) = (usage(), started.elapsed().as_secs_f64());
        let wakeups = after.runs.saturating_sub(before.runs);
        let us = after.cpu.saturating_sub(before.cpu).as_secs_f64() * 1e6;
        let line = format!("{server:<10} {wakeups:>4} wake-ups, {us:>6.0} µs CPU in {secs:.1} s");
        let _ = writeln!(report, "  {line}");
    }
    Ok(())
}

/// The round whose server CPU per exchange is the median, with the errors of all rounds.
fn median_row(rows: &[Row]) -> Row {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| a.server_us.total_cmp(&b.server_us));
    let mut row = rows.get(rows.len() / 2).copied().unwrap_or_default();
    row.errors = rows.iter().map(|r| r.errors).sum();
    row
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The figure of the book's "One thread, many clients": CPU per exchange at 500 × 100 and
/// peak memory at `hold` connections, one bar per server. The book shows it as an image, which
/// does not inherit the theme's text colour: a transparent background, mid-grey text and
/// saturated bars read on the light and the dark themes alike.
fn figure(names: &[&str], cpu: &[f64], memory: &[f64], hold: usize, conditions: &str) -> String {
    let (bar_h, left, width) = (22.0, 100.0, 380.0);
    let panel_h = 40.0 + names.len() as f64 * (bar_h + 8.0);
    let height = 2.0 * panel_h + 60.0;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 620 {height:.0}" width="620" height="{height:.0}" font-family="sans-serif" font-size="13" fill="#888888" stroke="none">"##
    );
    let cpu_title = "Server CPU per exchange, 500 connections × 100 exchanges (µs)";
    let hold = thousands(hold);
    let memory_title = format!("Peak resident memory, {hold} connections (MiB)");
    let panels = [
        (cpu_title, cpu, "#3b82f6"),
        (&memory_title, memory, "#f59e0b"),
    ];
    for (i, (title, values, colour)) in panels.into_iter().enumerate() {
        let top = 10.0 + i as f64 * panel_h;
        let y = top + 16.0;
        let _ = write!(
            svg,
            "\n  <text x=\"0\" y=\"{y:.0}\" font-weight=\"bold\">{title}</text>"
        );
        let max = values.iter().copied().fold(1e-9, f64::max);
        for (j, (name, value)) in names.iter().zip(values).enumerate() {
            let y = top + 30.0 + j as f64 * (bar_h + 8.0);
            let (w, name_x, text_y) = (value / max * width, left - 8.0, y + 16.0);
            let value_x = left + w + 6.0;
            let _ = write!(
                svg,
                r#"
  <text x="{name_x:.0}" y="{text_y:.0}" text-anchor="end">{name}</text>
  <rect x="{left:.0}" y="{y:.0}" width="{w:.1}" height="{bar_h:.0}" fill="{colour}"/>
  <text x="{value_x:.1}" y="{text_y:.0}">{value:.1}</text>"#
            );
        }
    }
    let caption = "cargo xtask bench echo: 64-byte exchanges on loopback, release builds";
    for (i, line) in [caption, conditions].into_iter().enumerate() {
        let (y, line) = (height - 26.0 + i as f64 * 15.0, escape(line));
        let _ = write!(
            svg,
            "\n  <text x=\"0\" y=\"{y:.0}\" font-size=\"11\">{line}</text>"
        );
    }
    svg + "\n</svg>\n"
}

/// `10000` as `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string().into_bytes();
    // Groups of three digits, counted from the right.
    let groups = digits.rchunks(3).rev().map(String::from_utf8_lossy);
    groups.collect::<Vec<_>>().join(",")
}

/// The ways to copy the file besides the lesson, each doing the same job with less care, as a
/// shell script serving `{src}` on `{port}` (none for cat) and one writing `{dst}`: `cat` (no
/// network: the floor; GNU cat 9 calls `copy_file_range`, one copy inside the kernel, as the
/// lesson's `splice` makes), OpenBSD netcat on both sides
/// (a read/write loop through a buffer; -d: the client sends no FIN, it ends at the server's),
/// socat on both sides (the same, with larger buffers).
const TOOLS: [(&str, &str, &str); 3] = [
    ("cat", "", "cat '{src}' > '{dst}'"),
    (
        "nc",
        "nc -N -l 127.0.0.1 {port} < '{src}'",
        "nc -d 127.0.0.1 {port} > '{dst}'",
    ),
    (
        "socat",
        "socat -u 'FILE:{src}' TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
        "socat -u TCP:127.0.0.1:{port} 'CREATE:{dst}'",
    ),
];

/// Downloads a file of `size` bytes over loopback with file-download, and copies it with the
/// [`TOOLS`], on tmpfs (`/dev/shm`) and on disk (the target directory), every copy fsync'd
/// before it counts as done (the lesson fsyncs before its rename). Each run times every copier
/// once, in turn; "x cat" is the median of each run's own ratio of times (copier's over cat's:
/// 1.10x is 10% slower), so that a slow moment of the machine weighs on both sides of a ratio
/// alike. `XTASK_DOWNLOAD_BIN=PATH` measures another build of file-download (an older
/// commit's) in place of the one just built.
fn download(bins: &Bins, target: &Path, size: u64, runs: usize) -> Result<()> {
    let other = std::env::var_os("XTASK_DOWNLOAD_BIN").map(PathBuf::from);
    let lesson = other.clone().unwrap_or(bins.dir.join("file-download"));
    let tools: Vec<_> = TOOLS.iter().filter(|(tool, ..)| installed(tool)).collect();
    if tools.len() < TOOLS.len() {
        println!("not installed, so not compared: apt-get install netcat-openbsd socat");
    }
    // Which build was measured, when it is not the one just built.
    let which = other.map(|p| format!(", {}", p.display()));
    let which = which.unwrap_or_default();
    let mib = size >> 20;
    println!("{mib} MiB over loopback, median of {runs} runs{which}");
    let mut places = vec![("disk", target.join("bench-download"))];
    if Path::new("/dev/shm").is_dir() {
        let tmpfs = PathBuf::from("/dev/shm/socket-lessons-bench-download");
        places.insert(0, ("tmpfs", tmpfs));
    }
    for (place, dir) in places {
        println!(
            "\n{place:<16} {:>8} {:>8} {:>10} {:>14}",
            "s", "MB/s", "x cat", "client peak"
        );
        let result = download_in(&lesson, &dir, &tools, size, runs);
        let _ = std::fs::remove_dir_all(&dir);
        result?;
    }
    Ok(())
}

/// One place's table: every copier, `runs` times, in turn.
fn download_in(
    lesson: &Path,
    dir: &Path,
    tools: &[&(&str, &str, &str)],
    size: u64,
    runs: usize,
) -> Result<()> {
    let (root, out) = (dir.join("root"), dir.join("out"));
    let (src, dst) = (root.join("big.bin"), out.join("big.bin"));
    let _ = std::fs::remove_dir_all(dir);
    make_file(&src, size)?;
    mkdir(&out)?;
    let mut scene = Scene::new();
    let mut serve = Command::new(lesson);
    serve.args(["serve", "--port", "0", "--root"]).arg(&root);
    let (server, addr) = scene.start("serve", serve)?;
    let fill = |script: &str, port: u16| {
        let script = script.replace("{src}", &src.to_string_lossy());
        script
            .replace("{dst}", &dst.to_string_lossy())
            .replace("{port}", &port.to_string())
    };
    // times[copier][run]: seconds, and the client's peak memory; the lesson last.
    let mut times = vec![Vec::new(); tools.len() + 1];
    for _ in 0..runs {
        for (i, times) in times.iter_mut().enumerate() {
            let _ = std::fs::remove_file(&dst);
            let measured = match tools.get(i) {
                // The lesson fsyncs its copy itself, before its rename.
                None => {
                    let mut get = Command::new(lesson);
                    get.args(["get", "big.bin", "--to", &addr.to_string()]);
                    get.current_dir(&out);
                    measure(get, None)?
                }
                Some((tool, server, client)) => {
                    let port = free_tcp_port()?;
                    let _server = match *server {
                        "" => None,
                        script => Some(
                            listening(sh(&fill(script, port)), port)
                                .with_context(|| format!("{tool} did not listen"))?,
                        ),
                    };
                    measure(copier(&fill(client, port)), Some(&dst))?
                }
            };
            // A copier that stopped early would look fast.
            let copied = std::fs::metadata(&dst).map_or(0, |m| m.len());
            ensure!(copied == size, "copier {i} copied {copied} of {size} bytes");
            times.push(measured);
        }
    }
    let server_peak = scene.pid(server).and_then(loadgen::usage);
    let server_peak = server_peak.map_or(0, |u| u.peak_rss_kb);
    let names = tools.iter().map(|(tool, ..)| format!("{tool} + fsync"));
    for (name, mine) in names.chain(["file-download".into()]).zip(&times) {
        let secs = median(mine.iter().map(|r| r.0).collect());
        let ratios = mine
            .iter()
            .zip(&times[0])
            .map(|(m, cat)| m.0 / cat.0.max(1e-9));
        let ratio = median(ratios.collect());
        let peak = mine.iter().map(|r| r.1).max().unwrap_or(0);
        let rate = size as f64 / secs.max(1e-9) / 1e6;
        println!("{name:<16} {secs:>8.2} {rate:>8.0} {ratio:>9.2}x {peak:>11} kB");
    }
    println!("(file-download serve's peak: {server_peak} kB)");
    Ok(())
}

/// A child process, killed and reaped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A contender's client script, run so that the process measured is the copier itself: the
/// shell does the script's redirections and then `exec`s the copier in its own place (exec
/// starts a fresh peak). Without `exec`, the "client peak" column was dash's for every
/// contender.
fn copier(script: &str) -> Command {
    sh(&format!("exec {script}"))
}

/// Runs `cmd` to its end, then fsyncs `fsync` as `sync FILE` would (after `exec` no shell is
/// left to do it), since the lesson's `get` fsyncs before its rename: the seconds both took,
/// and the peak memory in kB (VmHWM) of `cmd`'s process, sampled from /proc while it runs.
/// The last sample counts, not the largest: a shell that `exec`s a copier is sampled first,
/// and VmHWM starts again at the exec.
fn measure(mut cmd: Command, fsync: Option<&Path>) -> Result<(f64, u64)> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let mut peak = 0;
    loop {
        peak = loadgen::usage(child.id()).map_or(peak, |u| u.peak_rss_kb);
        match child.try_wait()? {
            Some(status) if status.success() => break,
            Some(status) => bail!("{cmd:?} failed: {status}"),
            None => thread::sleep(Duration::from_millis(10)),
        }
    }
    if let Some(path) = fsync {
        File::open(path)
            .and_then(|file| file.sync_all())
            .with_context(|| format!("cannot fsync {}", path.display()))?;
    }
    Ok((started.elapsed().as_secs_f64(), peak))
}

/// Starts `cmd` and waits until it listens on 127.0.0.1:`port`, by reading /proc/net/tcp (a
/// test connection would use up a tool's one accept). Bounded: 10 s.
fn listening(mut cmd: Command, port: u16) -> Result<Running> {
    let mut child = Running(cmd.stdout(Stdio::null()).spawn().context("cannot start")?);
    let here = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if holders(Proto::Tcp, "", port).contains(&here) {
            return Ok(child);
        }
        if let Some(status) = child.0.try_wait()? {
            bail!("it exited: {status}");
        }
        thread::sleep(Duration::from_millis(5));
    }
    bail!("nothing listened on port {port} within 10 s")
}

/// Writes `size` bytes of a pattern to `path`, 1 MiB at a time.
fn make_file(path: &Path, size: u64) -> Result<()> {
    mkdir(path.parent().unwrap_or(path))?;
    let mut file =
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let block = pattern(1 << 20);
    for start in (0..size).step_by(block.len()) {
        file.write_all(block.get(..(size - start) as usize).unwrap_or(&block))?;
    }
    Ok(())
}

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

/// Runs of the large file per server: its speed on loopback moves from run to run by more
/// than the servers differ (1,652 to 4,008 MB/s in one set of four benches here, every
/// server alike), and a median of five runs said mostly how the machine went meanwhile.
const RUNS: usize = 11;

/// http-server against nginx (its configuration: xtask/nginx.conf) and `python3 -m
/// http.server`, in one run: a large file fetched by curl (MB/s, the median of [`RUNS`]), and
/// a small one over keep-alive connections by wrk (requests per second, and the server's CPU
/// time per request). http-server runs with `--quiet`, as nginx without its access log.
fn http(bins: &Bins, target: &Path, options: &HttpOptions) -> Result<()> {
    for tool in ["curl", "wrk"] {
        ensure!(installed(tool), "{tool} not found (apt-get install {tool})");
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
        let (port, max) = (free_tcp_port()?, "10000");
        let cmd = match name {
            "http-server" => {
                let args = ["--quiet", "--max-clients", max, "--max-per-address", max];
                let mut cmd = bins.lesson("http-server", &args);
                cmd.args(["--port", &port.to_string(), "--root"]).arg(&root);
                Ok(cmd)
            }
            "nginx (1 worker)" => nginx(&dir, &root, port),
            _ => {
                let mut cmd = Command::new("python3");
                cmd.args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"]);
                cmd.arg(&root).arg(port.to_string()).stderr(Stdio::null());
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
            // Rotated, so that no server always goes first.
            let s = (k + run) % servers.len();
            rates[s].push(curl_rate(servers[s].2, big)?);
        }
    }
    println!(
        "{:<24} {:>12} {:>11} {:>14} {:>16}",
        "server", "large MB/s", "(range)", "small req/s", "CPU µs/request"
    );
    for ((name, server, addr), rates) in servers.iter().zip(rates) {
        // The range too: a run's speed moves with the machine more than between servers.
        let lowest = rates.iter().copied().fold(f64::MAX, f64::min);
        let highest = rates.iter().copied().fold(0.0, f64::max);
        let range = format!("{lowest:.0}-{highest:.0}");
        let rate = median(rates);
        // From /proc/PID/stat, which counts the threads that have ended too (http-server's
        // connection threads end with wrk's connections; loadgen::usage sees only live ones).
        let before = cpu_seconds(server.0.id())?;
        let (requests, rps) = wrk(*addr, options)?;
        let per_request = (cpu_seconds(server.0.id())? - before) * 1e6 / requests.max(1) as f64;
        println!("{name:<24} {rate:>12.0} {range:>11} {rps:>14.0} {per_request:>16.1}");
    }
    Ok(())
}

/// nginx, its configuration xtask/nginx.conf filled in and written into `dir`.
fn nginx(dir: &Path, root: &Path, port: u16) -> Result<Command> {
    let exe = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|n| installed(n))
        .context("not installed (apt-get install nginx-light)")?;
    let conf = include_str!("../nginx.conf")
        .replace("{dir}", &dir.to_string_lossy())
        .replace("{root}", &root.to_string_lossy())
        .replace("{port}", &port.to_string());
    let path = dir.join("nginx.conf");
    write(&path, conf)?;
    let mut cmd = Command::new(exe);
    cmd.arg("-p").arg(dir);
    cmd.arg("-c").arg(path).stderr(Stdio::null());
    Ok(cmd)
}

/// curl fetching big.bin into /dev/null: MB/s.
fn curl_rate(addr: SocketAddr, size: u64) -> Result<f64> {
    let mut curl = Command::new("curl");
    curl.args(["-sS", "-o", "/dev/null"]);
    curl.args(["-w", "%{size_download} %{time_total}"]);
    let text = output(curl.arg(format!("http://{addr}/big.bin")))?;
    let (got, secs) = text.split_once(' ').unwrap_or_default();
    let (got, secs): (u64, f64) = (got.parse().unwrap_or(0), secs.parse().unwrap_or(0.0));
    ensure!(
        got == size && secs > 0.0,
        "curl got {got} of {size} bytes from {addr}: {text}"
    );
    Ok(got as f64 / secs / 1e6)
}

/// wrk on small.html: (requests, requests per second).
fn wrk(addr: SocketAddr, options: &HttpOptions) -> Result<(u64, f64)> {
    let mut wrk = Command::new("wrk");
    wrk.args(["-t1", "-c", &options.connections.to_string()]);
    wrk.args(["-d", &format!("{}s", options.seconds)]);
    let text = output(wrk.arg(format!("http://{addr}/small.html")))?;
    // "  123456 requests in 5.00s, 150.00MB read" and "Requests/sec:  24691.20"
    let requests = text.lines().find(|l| l.contains(" requests in "));
    let requests = requests.and_then(|l| l.split_whitespace().next()?.parse().ok());
    let requests = requests.with_context(|| format!("wrk said: {text}"))?;
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:")?.trim().parse().ok());
    Ok((requests, rps.unwrap_or(0.0)))
}

/// The process's CPU time so far, user and system, of all its threads, live or ended, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = read(Path::new(&format!("/proc/{pid}/stat")))?;
    // After the command's name in parentheses, fields 12 and 13 are utime and stime, in ticks.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields = rest.split_whitespace().skip(11).take(2);
    let ticks: f64 = fields.map(|f| f.parse().unwrap_or(0.0)).sum();
    Ok(ticks / rustix::param::clock_ticks_per_second() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_echo_writes_into_the_book_only_when_asked() {
        let target = Path::new("/tmp/target");
        assert_eq!(echo_dir(false, target), target.join("bench-echo"));
        assert!(echo_dir(true, target).ends_with("docs/src/figures"));
    }

    #[test]
    fn a_contenders_peak_is_the_copiers_not_the_shells() {
        // awk (mawk or gawk) doubles a string to 64 MiB and then counts for a while: dash's
        // peak is under 2 MiB, so a peak over 64 MiB can only be awk's own.
        let hungry = "awk 'BEGIN { s = \"x\"; for (i = 0; i < 26; i++) s = s s; \
                      while (j++ < 5000000) ; }'";
        let (_, peak) = measure(copier(hungry), None).unwrap();
        assert!(peak > 64 << 10, "peak {peak} kB");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(500), "500");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
