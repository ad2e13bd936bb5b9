//! `cargo xtask`: runs the lessons in pairs, as a user would, from their built binaries;
//! checks the book; measures the servers. `cargo xtask --help` lists the commands, which are
//! the variants of [`Command`] below.

mod bench;
mod bins;
mod book;
mod exercise;
mod figures;
mod flags;
mod i18n;
mod manifest;
mod scenes;
mod transcript;

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, builder::PossibleValuesParser};
use testkit::Scene;

use bins::{Profile, build, repo_root};
use manifest::LESSONS;
use scenes::{PAIRS, Pair};

/// Runs the lessons in pairs, checks the book, measures the servers.
#[derive(Parser)]
enum Command {
    /// The lessons, their ports and chapters, and the pairs.
    List,
    /// Run pairs in front of a class: every line labelled with the program it concerns.
    Demo {
        /// The pair to run.
        #[arg(default_value = "all", value_parser = PossibleValuesParser::new(
            PAIRS.iter().map(|p| p.name).chain(["all"])))]
        pair: String,
        /// Wait for Enter before each step.
        #[arg(long)]
        step: bool,
    },
    /// Run every pair and check what each side printed.
    E2e,
    /// The book's includes and anchors, every lesson's checklist, the introduction's flag table.
    Check {
        /// Rewrite the flag table and the Chinese figures instead of failing.
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
    /// Build both books: English into docs/book/, Chinese into docs/book/zh-CN/; `cargo run -p
    /// http-server -- --root docs/book` serves them.
    Book,
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
    let _ = common::fdlimit::raise_limit();
    let result = match Command::parse() {
        Command::List => list(),
        Command::Demo { pair, step } => demo(&pair, step),
        Command::E2e => e2e(false),
        Command::Check { fix } => check(fix),
        Command::Transcripts => e2e(true),
        Command::Exercise(cmd) => exercise::run(cmd),
        Command::I18n(I18n::Extract) => i18n::extract(&repo_root()),
        Command::Book => i18n::book(&repo_root()),
        Command::Bench(bench) => bench::run(bench),
    };
    if let Err(e) = &result {
        eprintln!("error: {e:#}");
    }
    ExitCode::from(u8::from(result.is_err()))
}

fn list() -> anyhow::Result<()> {
    println!(
        "{:<13}  {:<39}  {:<25}  teaches",
        "lesson", "default ports", "chapter"
    );
    for l in LESSONS {
        let chapter = format!("docs/src/{}.md", l.name);
        println!(
            "{:<13}  {:<39}  {chapter:<25}  {}",
            l.name, l.ports, l.teaches
        );
    }
    println!("\n{:<23}  {:<23}  about", "pair", "lessons");
    for p in PAIRS {
        println!("{:<23}  {:<23}  {}", p.name, p.lessons.join(" + "), p.about);
    }
    Ok(())
}

/// The pairs named on the command line, and their lessons built.
fn pairs(name: &str) -> anyhow::Result<(Vec<&'static Pair>, bins::Bins)> {
    let pairs: Vec<&Pair> = PAIRS
        .iter()
        .filter(|p| [p.name, "all"].contains(&name))
        .collect();
    let lessons: Vec<&str> = pairs.iter().flat_map(|p| p.lessons.to_vec()).collect();
    Ok((pairs, build(&lessons, Profile::Dev)?))
}

fn demo(name: &str, step: bool) -> anyhow::Result<()> {
    let (pairs, bins) = pairs(name)?;
    for pair in pairs {
        println!("\n== {}: {} ==", pair.name, pair.about);
        if let Err(why) = pair.runnable() {
            println!("skipped: {why}");
            continue;
        }
        let mut scene = Scene::new().echo(|entry| println!("{}", transcript::line(entry)));
        if step {
            scene = scene.before_step(|| {
                eprint!("{:>13}(Enter: next step)", "");
                let _ = std::io::stderr().flush();
                let _ = std::io::stdin().lock().read_line(&mut String::new());
            });
        }
        let run = pair.run(&mut scene, &bins);
        run.with_context(|| format!("demo {} failed", pair.name))?;
    }
    Ok(())
}

/// Runs every pair and checks what each side printed; with `transcripts`, writes what each pair
/// showed, normalised, to `docs/src/transcripts/<pair>.txt` (a failed pair's is kept): the book
/// shows real runs, and a rerun changes nothing.
fn e2e(transcripts: bool) -> anyhow::Result<()> {
    let (pairs, bins) = pairs("all")?;
    let dir = repo_root().join("docs/src/transcripts");
    let (mut failures, mut skipped) = (Vec::new(), 0);
    println!("{:<23}  {:<6}  time", "pair", "result");
    for pair in &pairs {
        if let Err(why) = pair.runnable() {
            println!("{:<23}  skip    {why}", pair.name);
            skipped += 1;
            continue;
        }
        let started = Instant::now();
        // The scene, dropped at the end of the iteration, kills and reaps whatever the script
        // left running.
        let mut scene = Scene::new();
        let result = pair.run(&mut scene, &bins);
        let verdict = if result.is_ok() { "pass" } else { "FAIL" };
        println!("{:<23}  {verdict:<6}  {:.2?}", pair.name, started.elapsed());
        match result {
            Err(f) => failures.push(format!("--- {} ---\n{f:#}", pair.name)),
            Ok(()) if transcripts => {
                let path = dir.join(format!("{}.txt", pair.name));
                bins::write(&path, transcript::for_the_book(scene.shown())?)?;
            }
            Ok(()) => {}
        }
    }
    let (failed, passed) = (failures.len(), pairs.len() - failures.len() - skipped);
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if transcripts {
        println!(
            "wrote the transcripts of the pairs that passed to {}",
            dir.display()
        );
    }
    if failed > 0 {
        eprintln!("{}", failures.join("\n"));
        bail!("{failed} of {} pairs failed", pairs.len());
    }
    Ok(())
}

fn check(fix: bool) -> anyhow::Result<()> {
    let root = repo_root();
    let mut problems = book::check(&root);
    let lessons: Vec<&str> = LESSONS.iter().map(|l| l.name).collect();
    let table = flags::table(&build(&lessons, Profile::Dev)?)?;
    let intro = root.join("docs/src/introduction.md");
    problems.extend(flags::check(&intro, &table, fix)?);
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
