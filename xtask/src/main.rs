//! `cargo xtask`: runs the lessons in pairs, as a user would, from their built binaries;
//! checks the book; measures the servers. `cargo xtask --help` lists the commands, which are
//! the variants of [`Command`] below.

mod bench;
mod bench_http;
mod bins;
mod book;
mod exercise;
mod figures;
mod flags;
mod i18n;
mod manifest;
mod scenes;
mod transcript;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, builder::PossibleValuesParser};
use testkit::{Kind, Scene, Shown};

use bins::{Bins, Profile, build, repo_root};
use manifest::LESSONS;
use scenes::{PAIRS, Pair};

#[derive(Parser)]
#[command(about = "Runs the lessons in pairs, checks the book, measures the servers.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The lessons, their ports and chapters, and the pairs.
    List,
    /// Run pairs in front of a class: every line labelled with the program it concerns.
    Demo {
        /// The pair to run.
        #[arg(default_value = "all", value_parser = pair_names())]
        pair: String,
        /// Wait for Enter before each step.
        #[arg(long)]
        step: bool,
    },
    /// Run every pair and check what each side printed.
    E2e,
    /// The book's includes and anchors, every lesson's checklist, the introduction's flag table.
    Check {
        /// Rewrite the flag table from the programs' --help instead of failing.
        #[arg(long)]
        fix: bool,
    },
    /// Rerun every pair and write what it showed to docs/src/transcripts/, for the book.
    Transcripts,
    /// Measure the servers, built optimised.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// The Chinese book's translation, po/zh-CN.po.
    #[command(subcommand)]
    I18n(I18n),
    /// Build both books: English into docs/book/, Chinese into docs/book/zh-CN/.
    Book {
        /// Then serve both on http://127.0.0.1:PORT/ (the course's own http-server) and build
        /// them again whenever a chapter, the translation or a lesson's source changes.
        #[arg(long, value_name = "PORT", num_args = 0..=1, default_missing_value = "3000")]
        serve: Option<u16>,
    },
    /// The exercises at the end of each chapter, checked on the wire.
    #[command(subcommand)]
    Exercise(exercise::Cmd),
}

#[derive(Subcommand)]
enum I18n {
    /// Extract the English prose into po/messages.pot and merge it into po/zh-CN.po: a
    /// changed paragraph keeps its old translation, marked fuzzy, until it is translated again.
    Extract,
}

fn main() -> ExitCode {
    // The servers raise their soft open-file limit to the hard one at start, and log it when
    // they do. Raised here first, they inherit it: a transcript reads the same on a machine
    // whose soft limit is 1,024 and on one where it is already the hard limit.
    let _ = loadgen::raise_open_files_limit();
    let result = match Cli::parse().command {
        Command::List => list(),
        Command::Demo { pair, step } => demo(&pair, step),
        Command::E2e => e2e(false),
        Command::Check { fix } => check(fix),
        Command::Transcripts => e2e(true),
        Command::Exercise(cmd) => exercise::run(cmd),
        Command::I18n(I18n::Extract) => i18n::extract(&repo_root()),
        Command::Book { serve: None } => i18n::book(&repo_root()),
        Command::Book { serve: Some(port) } => serve_books(port),
        Command::Bench(bench) => bench::run(bench),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn pair_names() -> PossibleValuesParser {
    PossibleValuesParser::new(PAIRS.iter().map(|p| p.name).chain(["all"]))
}

fn list() -> anyhow::Result<()> {
    let lessons = LESSONS.iter().map(|l| {
        let chapter = format!("docs/src/{}", l.chapter());
        [
            l.name.to_string(),
            l.ports.to_string(),
            chapter,
            l.teaches.to_string(),
        ]
    });
    print_table(["lesson", "default ports", "chapter", "teaches"], lessons);
    println!();
    let pairs = PAIRS.iter().map(|p| {
        [
            p.name.to_string(),
            p.lessons.join(" + "),
            p.about.to_string(),
        ]
    });
    print_table(["pair", "lessons", "about"], pairs);
    Ok(())
}

/// Prints rows under a header, each column as wide as its widest cell.
fn print_table<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) {
    let rows: Vec<[String; N]> = std::iter::once(header.map(String::from))
        .chain(rows)
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..N).map(width).collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

/// The pairs named on the command line, built.
fn pairs(name: &str) -> anyhow::Result<(Vec<&'static Pair>, Bins)> {
    let pairs: Vec<&Pair> = PAIRS
        .iter()
        .filter(|p| name == "all" || p.name == name)
        .collect();
    let lessons: Vec<&str> = pairs
        .iter()
        .flat_map(|p| p.lessons.iter().copied())
        .collect();
    let bins = build(&lessons, Profile::Dev)?;
    Ok((pairs, bins))
}

fn demo(name: &str, step: bool) -> anyhow::Result<()> {
    let (pairs, bins) = pairs(name)?;
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for pair in pairs {
        println!("\n== {}: {} ==", pair.name, pair.about);
        if let Err(why) = pair.runnable() {
            println!("skipped: {why}");
            continue;
        }
        let mut scene = Scene::new().echo(move |entry| print_live(colour, entry));
        if step {
            scene = scene.before_step(wait_for_enter);
        }
        pair.run(&mut scene, &bins)
            .map_err(|f| anyhow::anyhow!("demo {} failed: {f}", pair.name))?;
    }
    Ok(())
}

fn print_live(colour: bool, entry: &Shown) {
    if !colour {
        println!("{}", transcript::line(entry));
        return;
    }
    let hue = match entry.label.as_str() {
        l if l.contains("serve") || l.contains("listen") => "36",
        _ => "33",
    };
    let style = match entry.kind {
        Kind::Started | Kind::Stderr => "\x1b[2m",
        Kind::Typed | Kind::EndOfInput => "\x1b[1m",
        Kind::Stdout => "",
    };
    let mark = transcript::mark(entry.kind);
    let text = transcript::text(entry);
    println!(
        "\x1b[{hue}m{:>11} {mark}\x1b[0m {style}{text}\x1b[0m",
        entry.label
    );
}

/// Waits for Enter on the terminal, then removes the prompt's line.
fn wait_for_enter() {
    let terminal = std::io::stderr().is_terminal();
    eprint!("{:>13}(Enter: next step)", "");
    let _ = std::io::stderr().flush();
    let _ = std::io::stdin().lock().read_line(&mut String::new());
    if terminal {
        // Up one line (the Enter moved the cursor down) and clear it.
        eprint!("\x1b[1A\x1b[2K");
    } else {
        eprintln!();
    }
}

/// Runs every pair and checks what each side printed; with `transcripts`, writes what each pair
/// showed, normalised, to `docs/src/transcripts/<pair>.txt` (a failed pair's is kept): the book
/// shows real runs, and a rerun changes nothing.
fn e2e(transcripts: bool) -> anyhow::Result<()> {
    let (pairs, bins) = pairs("all")?;
    let dir = repo_root().join("docs/src/transcripts");
    let width = pairs.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let (mut failures, mut skipped) = (Vec::new(), 0);
    println!("{:<width$}  {:<6}  time", "pair", "result");
    for pair in &pairs {
        if let Err(why) = pair.runnable() {
            println!("{:<width$}  {:<6}  {why}", pair.name, "skip");
            skipped += 1;
            continue;
        }
        let started = Instant::now();
        // The scene, dropped at the end of the iteration, kills and reaps whatever the script
        // left running.
        let mut scene = Scene::new();
        let result = pair.run(&mut scene, &bins);
        let verdict = if result.is_ok() { "pass" } else { "FAIL" };
        println!(
            "{:<width$}  {verdict:<6}  {:.2?}",
            pair.name,
            started.elapsed()
        );
        match result {
            Err(f) => failures.push(format!("--- {} ---\n{f}", pair.name)),
            Ok(()) if transcripts => {
                let path = dir.join(format!("{}.txt", pair.name));
                std::fs::write(&path, transcript::for_the_book(scene.shown()))
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(()) => {}
        }
    }
    let passed = pairs.len() - failures.len() - skipped;
    println!(
        "{passed} passed, {} failed, {skipped} skipped",
        failures.len()
    );
    if transcripts {
        println!(
            "wrote the transcripts of the pairs that passed to {}",
            dir.display()
        );
    }
    for failure in &failures {
        eprintln!("{failure}");
    }
    if !failures.is_empty() {
        bail!("{} of {} pairs failed", failures.len(), pairs.len());
    }
    Ok(())
}

/// Builds both books, serves them with the course's http-server, and rebuilds them on a change.
fn serve_books(port: u16) -> anyhow::Result<()> {
    let root = repo_root();
    i18n::book(&root)?;
    let bins = build(&["http-server"], Profile::Dev)?;
    let port = port.to_string();
    let root_dir = root.join("docs/book");
    let mut server = bins
        .lesson("http-server", &["--port", &port, "--quiet", "--root"])
        .arg(&root_dir)
        .spawn()
        .context("cannot start http-server")?;
    println!(
        "\nthe books: http://127.0.0.1:{port}/ and http://127.0.0.1:{port}/zh-CN/ \
         (Ctrl-C stops); rebuilt when docs/src, po/ or a lesson changes"
    );
    let watched = ["docs/src", "po", "lessons", "common/src"].map(|d| root.join(d));
    let newest = || watched.iter().filter_map(|d| bins::newest_under(d)).max();
    let mut seen = newest();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        if let Ok(Some(status)) = server.try_wait() {
            bail!("http-server stopped: {status}");
        }
        let now = newest();
        if now != seen {
            seen = now;
            if let Err(e) = i18n::book(&root) {
                eprintln!("error: {e:#}");
            }
        }
    }
}

fn check(fix: bool) -> anyhow::Result<()> {
    let root = repo_root();
    let mut problems = book::check(&root);
    let lessons: Vec<&str> = LESSONS.iter().map(|l| l.name).collect();
    let table = flags::table(&build(&lessons, Profile::Dev)?)?;
    problems.extend(flags::check(
        &root.join("docs/src/introduction.md"),
        &table,
        fix,
    )?);
    problems.extend(figures::check(&root, fix)?);
    problems.extend(manifest::feature_drift(&root)?);
    problems.extend(i18n::problems(&root)?);
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    println!(
        "book and lessons: all includes resolve, all anchors pair up, every lesson complete, \
         the flag table matches the programs, no lesson's build differs from the workspace's, \
         the Chinese figures are up to date, \
         po/zh-CN.po translates every message and shows the Chinese figures"
    );
    Ok(())
}
