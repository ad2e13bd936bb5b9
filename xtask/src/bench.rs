//! `cargo xtask bench`: how fast and how lean the lessons are, measured on loopback.
//!
//! Benchmarks print a table and write their figure beside the build, or into the book when
//! asked (`--update-book`): a reader's run never rewrites the tracked figure. Timing belongs here, never in
//! tests: a loaded CI machine makes timed tests fail for no fault of the code.

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use loadgen::Usage;
use testkit::{Proc, Scene};

use crate::bins::{Bins, repo_root};

/// The echo servers that `bench echo` builds; the C epoll server is compiled beside them.
pub const ECHO_LESSONS: &[&str] = &["tcp-server", "tcp-poll", "tcp-async"];

pub struct EchoOptions {
    /// Connections of the largest load.
    pub hold: usize,
    /// How many times each server meets each load; the table shows the median.
    pub rounds: usize,
    /// Where the figure and the table go: the book's figures, or a directory of the reader's.
    pub out: PathBuf,
}

/// One load: `connections` opened in a burst, then `exchanges` round trips on each.
#[derive(Clone, Copy)]
struct Load {
    connections: usize,
    exchanges: usize,
}

/// What one server did under one load.
#[derive(Clone, Copy, Default)]
struct Row {
    per_second: f64,
    server_us: f64,
    generator_us: f64,
    peak_kb: u64,
    kb_per_connection: f64,
    connect: Duration,
    slowest_connect: Duration,
    /// The kernel's count of accept-queue overflows and of segments sent again, during the
    /// burst (machine-wide: `nstat`'s TcpExtListenOverflows and TcpRetransSegs).
    overflows: u64,
    retransmits: u64,
    errors: usize,
}

/// An echo server under test: a lesson binary, or the C program.
struct Server {
    name: &'static str,
    c_binary: Option<PathBuf>,
}

/// Runs tcp-server, tcp-poll, tcp-async and the C epoll server on the same loads, interleaved
/// (every server meets a load before the next load starts, in a rotating order), prints the
/// medians, and draws `bench-echo.svg` from them into `options.out` (the book's
/// `docs/src/figures` only when asked, with `--update-book`).
pub fn echo(bins: &Bins, options: &EchoOptions) -> Result<(), String> {
    let loads = [
        Load {
            connections: 1,
            exchanges: 20_000,
        },
        Load {
            connections: 500,
            exchanges: 100,
        },
        Load {
            connections: 1_000,
            exchanges: 20,
        },
        Load {
            connections: options.hold,
            exchanges: 10,
        },
    ];
    let mut servers: Vec<Server> = ECHO_LESSONS
        .iter()
        .map(|&name| Server {
            name,
            c_binary: None,
        })
        .collect();
    // Notes that the table needs beside it: printed now, and kept for the report.
    let mut report = String::new();
    let mut note = |line: String| {
        println!("{line}");
        let _ = writeln!(report, "{line}");
    };
    match build_c_server(&bins.dir) {
        Ok(binary) => servers.push(Server {
            name: "c-epoll",
            c_binary: Some(binary),
        }),
        Err(why) => note(format!("c-epoll: skipped ({why})")),
    }
    // Ten thousand connections need twenty thousand descriptors: ours and the servers'.
    note(match loadgen::raise_open_files_limit() {
        Ok((before, after)) if before == after => {
            format!("open files: soft limit {after}, enough for this run")
        }
        Ok((before, after)) => format!(
            "open files: soft limit raised from {before} to {after} for this run (the servers inherit it)"
        ),
        Err(e) => format!("open files: cannot raise the soft limit: {e}"),
    });
    let load_before = loadgen::load_average().unwrap_or(f64::NAN);
    let cores = thread::available_parallelism().map_or(1, |n| n.get());

    // samples[load][server]: one row per round.
    let mut samples = vec![vec![Vec::new(); servers.len()]; loads.len()];
    for round in 0..options.rounds {
        for (l, load) in loads.iter().enumerate() {
            for k in 0..servers.len() {
                // Rotate the order, so that no server always runs first, or right after another.
                let s = (k + round + l) % servers.len();
                let Some(server) = servers.get(s) else {
                    continue;
                };
                eprint!(
                    "\rround {}/{}: {:>5} x {:<5} on {:<10}",
                    round + 1,
                    options.rounds,
                    load.connections,
                    load.exchanges,
                    server.name
                );
                let _ = std::io::stderr().flush();
                let row = run_load(bins, server, *load, options.hold, cores)?;
                if let Some(cell) = samples.get_mut(l).and_then(|r| r.get_mut(s)) {
                    cell.push(row);
                }
            }
        }
    }
    eprintln!();
    let load_after = loadgen::load_average().unwrap_or(f64::NAN);
    let conditions = format!(
        "{} round{}, interleaved, median shown; {cores} cores; load average {load_before:.1} before, {load_after:.1} after",
        options.rounds,
        if options.rounds == 1 { "" } else { "s" }
    );
    let printed = report.len();
    let _ = writeln!(
        report,
        "64-byte echo exchanges on loopback, release builds; {conditions}"
    );
    let _ = writeln!(
        report,
        "{:<12} {:<10} {:>9} {:>8} {:>8} {:>9} {:>9} {:>17} {:>10} {:>6}",
        "load",
        "server",
        "exch/s",
        "server",
        "loadgen",
        "peak RSS",
        "RSS per",
        "connect burst",
        "overflow/",
        "errors"
    );
    let _ = writeln!(
        report,
        "{:<12} {:<10} {:>9} {:>8} {:>8} {:>9} {:>9} {:>17} {:>10} {:>6}",
        "", "", "", "µs/exch", "µs/exch", "MiB", "conn, KiB", "total (slowest)", "retrans", ""
    );
    let mut medians = vec![vec![Row::default(); servers.len()]; loads.len()];
    for (l, load) in loads.iter().enumerate() {
        for (s, server) in servers.iter().enumerate() {
            let rows = samples
                .get(l)
                .and_then(|r| r.get(s))
                .cloned()
                .unwrap_or_default();
            let row = median_row(rows);
            let _ = writeln!(
                report,
                "{:<12} {:<10} {:>9.0} {:>8.2} {:>8.2} {:>9.1} {:>9.1} {:>8.0} ms ({:>4.0}) {:>10} {:>6}",
                format!("{} x {}", load.connections, load.exchanges),
                server.name,
                row.per_second,
                row.server_us,
                row.generator_us,
                row.peak_kb as f64 / 1024.0,
                row.kb_per_connection,
                row.connect.as_secs_f64() * 1e3,
                row.slowest_connect.as_secs_f64() * 1e3,
                format!("{}/{}", row.overflows, row.retransmits),
                row.errors
            );
            if let Some(cell) = medians.get_mut(l).and_then(|r| r.get_mut(s)) {
                *cell = row;
            }
        }
    }
    let _ = writeln!(report);
    idle(bins, &servers, &mut report)?;
    print!("{}", report.get(printed..).unwrap_or_default());

    let names: Vec<&str> = servers.iter().map(|s| s.name).collect();
    let cpu: Vec<f64> = medians
        .get(1)
        .map(|r| r.iter().map(|row| row.server_us).collect())
        .unwrap_or_default();
    let memory: Vec<f64> = medians
        .get(3)
        .map(|r| r.iter().map(|row| row.peak_kb as f64 / 1024.0).collect())
        .unwrap_or_default();
    let svg = figure(&names, &cpu, &memory, options.hold, &conditions);
    // The book shows the figure and the table of the same run.
    let dir = &options.out;
    let _ = std::fs::create_dir_all(dir);
    for (name, text) in [("bench-echo.svg", svg), ("bench-echo.txt", report)] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Where `bench echo` writes its figure and table: into the book only when asked.
pub fn echo_dir(update_book: bool, target: &Path) -> PathBuf {
    match update_book {
        true => repo_root().join("docs/src/figures"),
        false => target.join("bench-echo"),
    }
}

/// Starts `server`, puts `load` on it, and measures both sides.
fn run_load(
    bins: &Bins,
    server: &Server,
    load: Load,
    hold: usize,
    cores: usize,
) -> Result<Row, String> {
    let mut scene = Scene::new();
    let (p, addr) = start(&mut scene, bins, server, hold)?;
    let pid = scene.pid(p).ok_or("the server has no process id")?;
    let usage = || loadgen::usage(pid).ok_or(format!("{} has gone", server.name));
    let fresh = usage()?;
    let counted = loadgen::tcp_counters().unwrap_or_default();
    let burst = loadgen::connect_burst(addr, load.connections);
    let counters = loadgen::tcp_counters().unwrap_or_default();
    let (connect, slowest_connect, refused) = (burst.total, burst.slowest, burst.failed);
    let before = usage()?;
    // One generator thread per core; one connection needs one thread.
    let threads = cores.min(load.connections);
    let done = loadgen::exchange(burst.streams, load.exchanges, threads);
    let after = usage()?;
    let open = done.streams.len().max(1) as f64;
    drop(done.streams);
    let exchanges = done.exchanges.max(1) as f64;
    Ok(Row {
        per_second: done.exchanges as f64 / done.elapsed.as_secs_f64().max(1e-9),
        server_us: after.cpu.saturating_sub(before.cpu).as_secs_f64() * 1e6 / exchanges,
        generator_us: done.generator_cpu.as_secs_f64() * 1e6 / exchanges,
        peak_kb: after.peak_rss_kb,
        kb_per_connection: after.rss_kb.saturating_sub(fresh.rss_kb) as f64 / open,
        connect,
        slowest_connect,
        overflows: counters
            .listen_overflows
            .saturating_sub(counted.listen_overflows),
        retransmits: counters.retrans_segs.saturating_sub(counted.retrans_segs),
        errors: refused + done.failed,
    })
}

/// Starts `server` on a free loopback port and waits until it is ready.
fn start(
    scene: &mut Scene,
    bins: &Bins,
    server: &Server,
    hold: usize,
) -> Result<(Proc, SocketAddr), String> {
    let Some(binary) = &server.c_binary else {
        // The default backlog (4096, the C server's), and room for every connection of the
        // largest load, all of which come from 127.0.0.1.
        let max_clients = (hold + 100).to_string();
        let mut cmd = bins.lesson(server.name, &[]);
        cmd.args(["--port", "0", "--quiet"])
            .args(["--max-clients", &max_clients])
            .args(["--max-per-address", &max_clients]);
        return scene.start(server.name, cmd).map_err(|f| f.to_string());
    };
    // The C server takes a port and prints `ready`: find a free port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot find a free port: {e}"))?
        .port();
    let mut cmd = Command::new(binary);
    cmd.arg(port.to_string());
    let p = scene.spawn(server.name, cmd).map_err(|f| f.to_string())?;
    scene.expect(p, "ready").map_err(|f| f.to_string())?;
    Ok((p, SocketAddr::from(([127, 0, 0, 1], port))))
}

/// Compiles the C epoll echo server (`loadgen/c_echo_epoll.c`) with `cc -O2` into `dir`.
fn build_c_server(dir: &Path) -> Result<PathBuf, String> {
    let source = repo_root().join("loadgen/c_echo_epoll.c");
    let binary = dir.join("c_echo_epoll");
    let built = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status();
    match built {
        Ok(status) if status.success() => Ok(binary),
        Ok(status) => Err(format!("cc failed: {status}")),
        Err(_) => Err("no cc to build it".into()),
    }
}

/// CPU time and wake-ups of each server, started and left alone for two seconds.
fn idle(bins: &Bins, servers: &[Server], report: &mut String) -> Result<(), String> {
    const WINDOW: Duration = Duration::from_secs(2);
    let _ = writeln!(report, "idle, no clients, {} s:", WINDOW.as_secs());
    for server in servers {
        let mut scene = Scene::new();
        let (p, _) = start(&mut scene, bins, server, 0)?;
        let pid = scene.pid(p).ok_or("the server has no process id")?;
        let before = loadgen::usage(pid).unwrap_or_default();
        let started = Instant::now();
        // The measuring window: a sleep that synchronises nothing.
        thread::sleep(WINDOW);
        let after = loadgen::usage(pid).unwrap_or_default();
        let _ = writeln!(
            report,
            "  {:<10} {:>4} wake-ups, {:>6.0} µs CPU in {:.1} s",
            server.name,
            after.runs.saturating_sub(before.runs),
            after.cpu.saturating_sub(before.cpu).as_secs_f64() * 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The round whose server CPU per exchange is the median, with the errors of all rounds.
fn median_row(mut rows: Vec<Row>) -> Row {
    let errors = rows.iter().map(|r| r.errors).sum();
    rows.sort_by(|a, b| a.server_us.total_cmp(&b.server_us));
    let mut row = rows.get(rows.len() / 2).copied().unwrap_or_default();
    row.errors = errors;
    row
}

/// The figure of the book's "One thread, many clients": CPU per exchange at 500 × 100 and
/// peak memory at `hold` connections, one bar per server. The book shows it as an image, which
/// does not inherit the theme's text colour: a transparent background, mid-grey text and
/// saturated bars read on the light and the dark themes alike.
fn figure(names: &[&str], cpu: &[f64], memory: &[f64], hold: usize, conditions: &str) -> String {
    let bar_h = 22.0;
    let panel_h = 40.0 + names.len() as f64 * (bar_h + 8.0);
    let (left, width) = (100.0, 380.0);
    let mut svg = String::new();
    let height = 2.0 * panel_h + 60.0;
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 620 {height:.0}" width="620" height="{height:.0}" font-family="sans-serif" font-size="13" fill="#888888" stroke="none">"##
    );
    let panels = [
        (
            "Server CPU per exchange, 500 connections × 100 exchanges (µs)".to_string(),
            cpu,
            "#3b82f6",
        ),
        (
            format!(
                "Peak resident memory, {} connections (MiB)",
                thousands(hold)
            ),
            memory,
            "#f59e0b",
        ),
    ];
    for (i, (title, values, colour)) in panels.iter().enumerate() {
        let top = 10.0 + i as f64 * panel_h;
        let _ = writeln!(
            svg,
            r#"  <text x="0" y="{:.0}" font-weight="bold">{title}</text>"#,
            top + 16.0
        );
        let max = values.iter().copied().fold(0.0, f64::max).max(1e-9);
        for (j, (name, value)) in names.iter().zip(values.iter()).enumerate() {
            let y = top + 30.0 + j as f64 * (bar_h + 8.0);
            let w = value / max * width;
            let _ = writeln!(
                svg,
                r#"  <text x="{:.0}" y="{:.0}" text-anchor="end">{name}</text>"#,
                left - 8.0,
                y + 16.0
            );
            let _ = writeln!(
                svg,
                r#"  <rect x="{left:.0}" y="{y:.0}" width="{w:.1}" height="{bar_h:.0}" fill="{colour}"/>"#
            );
            let _ = writeln!(
                svg,
                r#"  <text x="{:.1}" y="{:.0}">{value:.1}</text>"#,
                left + w + 6.0,
                y + 16.0
            );
        }
    }
    let caption = [
        "cargo xtask bench echo: 64-byte exchanges on loopback, release builds",
        conditions,
    ];
    for (i, line) in caption.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"  <text x="0" y="{:.0}" font-size="11">{}</text>"#,
            height - 26.0 + i as f64 * 15.0,
            line.replace('&', "&amp;").replace('<', "&lt;")
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// `10000` as `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The peak resident memory of a process, from Linux's /proc.
pub fn peak_memory(scene: &Scene, p: Proc) -> String {
    scene.pid(p).and_then(loadgen::usage).map_or_else(
        || "unknown".into(),
        |u: Usage| format!("{} kB", u.peak_rss_kb),
    )
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

/// A way to copy the file: the lesson, or a tool that does the same job with less care.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Copier {
    /// `cat SRC > DST`: no network, the floor of two copies (page cache to user, and back).
    Cat,
    /// OpenBSD netcat on both sides: a read/write loop through a buffer.
    Nc,
    /// socat on both sides: the same, with larger buffers.
    Socat,
    /// `file-download get` against `file-download serve`.
    Lesson,
}

impl Copier {
    const ALL: [Copier; 4] = [Copier::Cat, Copier::Nc, Copier::Socat, Copier::Lesson];

    fn name(self) -> &'static str {
        match self {
            Copier::Cat => "cat + fsync",
            Copier::Nc => "nc + fsync",
            Copier::Socat => "socat + fsync",
            Copier::Lesson => "file-download",
        }
    }

    /// The program it needs, to tell the reader what to install.
    fn tool(self) -> Option<&'static str> {
        match self {
            Copier::Cat | Copier::Lesson => None,
            Copier::Nc => Some("nc"),
            Copier::Socat => Some("socat"),
        }
    }
}

/// Downloads a file of `size` bytes over loopback with file-download, and copies it with
/// `cat`, nc and socat, on tmpfs (`/dev/shm`) and on disk (the target directory), every copy
/// fsync'd before it counts as done (the lesson fsyncs before its rename). Each run times every
/// copier once, in turn; the ratio to `cat` is the median of each run's own ratio, so that a
/// slow moment of the machine weighs on both sides of a ratio alike.
///
/// `XTASK_DOWNLOAD_BIN=PATH` measures another build of file-download (an older commit's) in
/// place of the one just built.
pub fn download(
    bins: &Bins,
    target: &std::path::Path,
    options: &DownloadOptions,
) -> Result<(), String> {
    let lesson = std::env::var_os("XTASK_DOWNLOAD_BIN").map(PathBuf::from);
    let present: Vec<Copier> = Copier::ALL
        .into_iter()
        .filter(|c| c.tool().is_none_or(installed))
        .collect();
    for missing in Copier::ALL.iter().filter(|c| !present.contains(c)) {
        println!(
            "{}: not installed (apt-get install netcat-openbsd socat)",
            missing.name()
        );
    }
    println!(
        "{} MiB over loopback, median of {} runs{}",
        options.size >> 20,
        options.runs,
        lesson.as_ref().map_or(String::new(), |p| format!(
            ", file-download from {}",
            p.display()
        ))
    );
    let mut places = vec![("disk", target.join("bench-download"))];
    if Path::new("/dev/shm").is_dir() {
        places.insert(
            0,
            (
                "tmpfs",
                PathBuf::from("/dev/shm/socket-lessons-bench-download"),
            ),
        );
    }
    for (place, dir) in places {
        println!();
        println!(
            "{:<16} {:>8} {:>8} {:>10} {:>14}",
            place, "s", "MB/s", "x cat", "client peak"
        );
        let result = download_in(bins, lesson.as_deref(), &dir, &present, options);
        let _ = std::fs::remove_dir_all(&dir);
        result?;
    }
    Ok(())
}

/// One place's table: every copier, `options.runs` times, in turn.
fn download_in(
    bins: &Bins,
    lesson: Option<&Path>,
    dir: &Path,
    present: &[Copier],
    options: &DownloadOptions,
) -> Result<(), String> {
    let (root, out) = (dir.join("root"), dir.join("out"));
    let _ = std::fs::remove_dir_all(dir);
    for d in [&root, &out] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let file = root.join("big.bin");
    make_file(&file, options.size)?;
    let lesson_cmd = |args: &[&str]| match lesson {
        Some(path) => {
            let mut cmd = Command::new(path);
            cmd.args(args);
            cmd
        }
        None => bins.lesson("file-download", args),
    };
    let mut scene = Scene::new();
    let mut serve = lesson_cmd(&["serve", "--port", "0", "--root"]);
    serve.arg(&root);
    let server = scene.spawn("serve", serve).map_err(|f| f.to_string())?;
    let addr = scene.ready(server).map_err(|f| f.to_string())?;

    // times[copier][run]: seconds, and the client's peak memory.
    let mut times = vec![Vec::new(); present.len()];
    for _ in 0..options.runs {
        for (i, copier) in present.iter().enumerate() {
            let dst = out.join("big.bin");
            let _ = std::fs::remove_file(&dst);
            let measured = match copier {
                Copier::Lesson => {
                    let mut get = lesson_cmd(&["get", "big.bin", "--to", &addr.to_string()]);
                    get.current_dir(&out);
                    measure(get, options.size)
                }
                other => copy_with(*other, &file, &dst, options.size),
            }?;
            // A copier that stopped early would look fast.
            let copied = std::fs::metadata(&dst).map_or(0, |m| m.len());
            if copied != options.size {
                return Err(format!(
                    "{} copied {copied} of {} bytes",
                    copier.name(),
                    options.size
                ));
            }
            times[i].push(measured);
        }
    }
    let server_peak = peak_memory(&scene, server);
    drop(scene);
    let cat = present.iter().position(|c| *c == Copier::Cat);
    for (i, copier) in present.iter().enumerate() {
        let runs = &times[i];
        let mut secs: Vec<f64> = runs
            .iter()
            .map(|r| options.size as f64 / r.0 / 1e6)
            .collect();
        secs.sort_by(f64::total_cmp);
        let median_secs = secs.get(secs.len() / 2).copied().unwrap_or(0.0);
        let ratio = cat.map_or(f64::NAN, |c| {
            let mut ratios: Vec<f64> = runs
                .iter()
                .zip(&times[c])
                .map(|(mine, cat)| cat.0 / mine.0)
                .collect();
            ratios.sort_by(f64::total_cmp);
            ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN)
        });
        let peak = runs.iter().map(|r| r.1).max().unwrap_or(0);
        println!(
            "{:<16} {median_secs:>8.2} {:>8.0} {ratio:>9.2}x {peak:>11} kB",
            copier.name(),
            options.size as f64 / median_secs.max(1e-9) / 1e6,
        );
    }
    println!("(file-download serve's peak: {server_peak})");
    Ok(())
}

/// Copies `src` to `dst` with a tool, fsync'd (`sync FILE`); the network ones over loopback.
fn copy_with(copier: Copier, src: &Path, dst: &Path, bytes: u64) -> Result<(f64, u64), String> {
    let sync = format!("sync '{}'", dst.display());
    let sh = |script: String| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script]);
        cmd
    };
    if copier == Copier::Cat {
        let script = format!("cat '{}' > '{}' && {sync}", src.display(), dst.display());
        return measure(sh(script), bytes);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let (server, client) = match copier {
        Copier::Nc => (
            format!("nc -N -l 127.0.0.1 {port} < '{}'", src.display()),
            // -d: the client reads no stdin, so it sends no FIN; it ends at the server's.
            format!("nc -d 127.0.0.1 {port} > '{}'", dst.display()),
        ),
        _ => (
            format!(
                "socat -u 'FILE:{}' TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
                src.display()
            ),
            format!("socat -u TCP:127.0.0.1:{port} 'CREATE:{}'", dst.display()),
        ),
    };
    let mut server = sh(server)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", copier.name()))?;
    let listening = wait_listening(port);
    let result = listening.and_then(|()| measure(sh(format!("{client} && {sync}")), bytes));
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// Waits until something listens on 127.0.0.1:`port`, by reading /proc/net/tcp: a test
/// connection would use up the tool's one accept.
fn wait_listening(port: u16) -> Result<(), String> {
    let needle = format!("0100007F:{port:04X} 00000000:0000 0A");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        if table.contains(&needle) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(5));
    }
    Err(format!("nothing listened on port {port} within 10 s"))
}

fn installed(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
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
    fn bench_echo_writes_into_the_book_only_when_asked() {
        let target = Path::new("/tmp/target");
        assert_eq!(echo_dir(false, target), target.join("bench-echo"));
        assert!(echo_dir(true, target).ends_with("docs/src/figures"));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(500), "500");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

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
