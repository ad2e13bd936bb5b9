//! `cargo xtask`: runs the lessons in pairs, as a user would, from their built binaries.
//!
//! ```text
//! cargo xtask list              the lessons, their pairs and chapters
//! cargo xtask demo [PAIR|all]   run a pair in front of a class, each side's lines labelled
//! cargo xtask e2e               run every pair and check what each side printed
//! cargo xtask check             the book's includes and anchors, and every lesson's checklist
//! cargo xtask transcripts       rerun every pair and write its output for the book
//! cargo xtask bench echo        tcp-server under load: round trips per second, memory
//! cargo xtask bench download    file-download against socat: MB/s, both sides' memory
//! ```
#![forbid(unsafe_code)]

mod bench;
mod book;
mod exercise;
mod manifest;
mod scenes;
mod transcript;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use manifest::{Bins, LESSONS, PAIRS, Pair};
use testkit::{Scene, Stream};

const USAGE: &str = "\
usage: cargo xtask <command>

  list              the lessons, their pairs and chapters
  demo [PAIR|all]   run a pair (default: all), each side's lines labelled
  e2e               run every pair and check what each side printed
  check             the book's includes and anchors, and every lesson's checklist
  transcripts       rerun every pair and write its output to docs/src/transcripts/
  exercise list | show ID [--hint N] | check ID | prove
                    the exercises, checked on the wire against the lessons as they are
  bench echo [--clients N] [--hold N] [--seconds S]
                    tcp-server, release build: round trips per second, connections, memory
  bench download [--size 1G] [--runs 3]
                    file-download and socat over loopback: MB/s and peak memory";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["list"] => {
            list();
            Ok(())
        }
        ["demo"] | ["demo", "all"] => demo(PAIRS.iter().collect()),
        ["demo", name] => match PAIRS.iter().find(|p| p.name == *name) {
            Some(pair) => demo(vec![pair]),
            None => Err(format!(
                "no pair named {name:?}; `cargo xtask list` shows them"
            )),
        },
        ["e2e"] => e2e(),
        ["check"] => check(),
        ["transcripts"] => transcripts(),
        ["bench", "echo", rest @ ..] => bench_echo(rest),
        ["bench", "download", rest @ ..] => bench_download(rest),
        ["exercise", rest @ ..] => exercise::main_with(rest).map_err(|e| format!("{e:#}")),
        [] | ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list() {
    println!("{:<14} {:<6} {:<22} teaches", "lesson", "port", "chapter");
    for l in LESSONS {
        println!(
            "{:<14} {:<6} {:<22} {}",
            l.name,
            l.default_port,
            format!("docs/src/{}", l.chapter),
            l.teaches
        );
    }
    println!();
    println!("{:<10} {:<30} about", "pair", "lessons");
    for p in PAIRS {
        println!("{:<10} {:<30} {}", p.name, p.lessons.join(" + "), p.about);
    }
}

fn demo(pairs: Vec<&Pair>) -> Result<(), String> {
    let bins = build(&pairs)?;
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for pair in pairs {
        println!("\n== {}: {} ==", pair.name, pair.about);
        if let Err(why) = pair.runnable() {
            println!("skipped: {why}");
            continue;
        }
        let mut scene = Scene::new().echo(move |label, line| print_line(colour, label, line));
        (pair.script)(&mut scene, &bins).map_err(|f| format!("demo {} failed: {f}", pair.name))?;
    }
    Ok(())
}

fn print_line(colour: bool, label: &str, line: &testkit::Line) {
    let err = line.stream == Stream::Stderr;
    if !colour {
        println!("{}", plain_line(label, line));
        return;
    }
    let hue = match label {
        "server" | "listen" | "serve" => "36",
        _ => "33",
    };
    let dim = if err { "\x1b[2m" } else { "" };
    println!("\x1b[{hue}m{label:>11} │\x1b[0m {dim}{}\x1b[0m", line.text);
}

fn plain_line(label: &str, line: &testkit::Line) -> String {
    let mark = if line.stream == Stream::Stderr {
        "!"
    } else {
        "│"
    };
    format!("{label:>11} {mark} {}", line.text)
}

/// Reruns every pair and writes what it printed to `docs/src/transcripts/<pair>.txt`, with
/// the ports the OS chose replaced by stable ones, so the book shows real output.
fn transcripts() -> Result<(), String> {
    let pairs: Vec<&Pair> = PAIRS.iter().collect();
    let bins = build(&pairs)?;
    let dir = repo_root().join("docs/src/transcripts");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for pair in pairs {
        let lines = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let sink = lines.clone();
        let mut scene = Scene::new().echo(move |label, line| {
            sink.borrow_mut().push(plain_line(label, line));
        });
        (pair.script)(&mut scene, &bins).map_err(|f| format!("{} failed: {f}", pair.name))?;
        drop(scene);
        let text = transcript::normalise(&lines.borrow().join("\n"));
        let path = dir.join(format!("{}.txt", pair.name));
        std::fs::write(&path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn e2e() -> Result<(), String> {
    let pairs: Vec<&Pair> = PAIRS.iter().collect();
    let bins = build(&pairs)?;
    let mut failures = Vec::new();
    println!("{:<14} {:<6} time", "pair", "result");
    let mut skipped = 0;
    for pair in pairs {
        if let Err(why) = pair.runnable() {
            println!("{:<14} {:<6} {why}", pair.name, "skip");
            skipped += 1;
            continue;
        }
        let started = Instant::now();
        let mut scene = Scene::new();
        let result = (pair.script)(&mut scene, &bins);
        // Dropping the scene kills and reaps whatever the script left running.
        drop(scene);
        let verdict = if result.is_ok() { "pass" } else { "FAIL" };
        println!("{:<14} {verdict:<6} {:.2?}", pair.name, started.elapsed());
        if let Err(f) = result {
            failures.push(format!("--- {} ---\n{f}", pair.name));
        }
    }
    let passed = PAIRS.len() - failures.len() - skipped;
    if failures.is_empty() {
        match skipped {
            0 => println!("{passed} passed, 0 failed"),
            _ => println!("{passed} passed, 0 failed, {skipped} skipped"),
        }
        Ok(())
    } else {
        for f in &failures {
            eprintln!("{f}");
        }
        Err(format!(
            "{} of {} pairs failed",
            failures.len(),
            PAIRS.len()
        ))
    }
}

fn bench_echo(flags: &[&str]) -> Result<(), String> {
    let mut options = bench::EchoOptions {
        clients: 500,
        hold: 1000,
        seconds: 3.0,
    };
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let value = flags
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag} {value}: not a number");
        match *flag {
            "--clients" => options.clients = value.parse().map_err(|_| bad())?,
            "--hold" => options.hold = value.parse().map_err(|_| bad())?,
            "--seconds" => options.seconds = value.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    let bins = build_release(&["tcp-server"])?;
    bench::echo(&bins, &options)
}

fn bench_download(flags: &[&str]) -> Result<(), String> {
    let mut options = bench::DownloadOptions {
        size: 1 << 30,
        runs: 3,
    };
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let value = flags
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match *flag {
            "--size" => options.size = bench::parse_size(value)?,
            "--runs" => {
                options.runs = value
                    .parse()
                    .map_err(|_| format!("--runs {value}: not a number"))?
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    let bins = build_release(&["file-download"])?;
    let target = bins.dir.parent().map(Path::to_path_buf).unwrap_or_default();
    bench::download(&bins, &target, &options)
}

fn check() -> Result<(), String> {
    let problems = book::check(&repo_root());
    if problems.is_empty() {
        println!(
            "book and lessons: all includes resolve, all anchors pair up, every lesson complete"
        );
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Builds the lessons of `pairs` with cargo, echoing the command, and says where they are.
fn build(pairs: &[&Pair]) -> Result<Bins, String> {
    let mut lessons: Vec<&str> = pairs
        .iter()
        .flat_map(|p| p.lessons.iter().copied())
        .collect();
    lessons.sort_unstable();
    lessons.dedup();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--quiet"]);
    for lesson in &lessons {
        cmd.args(["--package", lesson]);
    }
    cmd.current_dir(repo_root());
    run(&mut cmd)?;
    // The lessons land beside this binary: same target directory, same profile.
    let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask's binary: {e}"))?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(Bins { dir })
}

/// Builds `lessons` optimised, for benchmarks.
fn build_release(lessons: &[&str]) -> Result<Bins, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--quiet", "--release"]);
    for lesson in lessons {
        cmd.args(["--package", lesson]);
    }
    cmd.current_dir(repo_root());
    run(&mut cmd)?;
    // This binary is in <target>/debug (or release); the optimised lessons in <target>/release.
    let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask's binary: {e}"))?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(Bins {
        dir: target.join("release"),
    })
}

/// Runs `cmd`, echoing it first, and turns a failure into an error that names it.
fn run(cmd: &mut Command) -> Result<(), String> {
    let program = Path::new(cmd.get_program());
    let shown = format!(
        "{} {}",
        program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed: {status}"))
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
