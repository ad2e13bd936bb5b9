//! `cargo exercise` (a student's) and `cargo xtask exercise prove` (the maintainers'): the
//! exercises at the end of each chapter, checked on the wire.
//!
//! ```text
//! cargo exercise list               every exercise, done or todo in this working copy
//! cargo exercise show ID [--hint N] the statement and how it is checked; one hint
//! cargo exercise check ID [--seed S] build the lesson, run the check, then the lesson's tests
//! cargo exercise watch [ID]         check again at every save; on to the next when it passes
//! cargo xtask exercise prove        in a scratch copy: each check fails as shipped, passes with
//!                                   exercises/solutions/ID.patch (the lesson's tests too), and
//!                                   fails with every exercises/wrong/ID--*.patch
//! ```
//!
//! The checks live in the `exercises` crate; the statements and hints in the book
//! (`docs/src/exercises/<lesson>.md`), which `show` reads, so they are written once. A check's
//! inputs vary from run to run: each run prints its seed when it fails, and `--seed` repeats it.
//! The commands work on the workspace they are run in (cargo's `locate-project`), not on the one
//! this binary was built from.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use exercises::{EXERCISES, Exercise};

use crate::manifest::LESSONS;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Every exercise, one line each: ID, lesson, title, done or todo in this working copy.
    List,
    /// The statement of an exercise and what its check does; with --hint, one hint.
    Show {
        /// The exercise, like udp-server-1.
        id: String,
        /// Show hint N instead (1 if no N is given).
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1")]
        hint: Option<usize>,
    },
    /// Build the lesson, run the exercise's check against it, then the lesson's own tests.
    Check {
        /// The exercise, like udp-server-1.
        id: String,
        /// Repeat the inputs of an earlier run (a failed check prints its seed).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
    },
    /// Check an exercise (the first not done, if none is named) each time its lesson's source
    /// is saved; when it passes, go on to the next.
    Watch {
        /// The exercise to start with.
        id: Option<String>,
    },
    /// In a scratch copy of the workspace, show that every check fails on the lessons as they
    /// are, passes once its solution patch is applied (and the lesson's tests pass too), and
    /// fails with each of its wrong solutions.
    Prove {
        /// The seed of every check's inputs (a new one each run if not given).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
    },
}

pub fn run(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::List => list(),
        Cmd::Show { id, hint } => show(find(&id)?, hint),
        Cmd::Check { id, seed } => check(find(&id)?, seed.unwrap_or_else(new_seed)),
        Cmd::Watch { id } => watch(id.as_deref()),
        Cmd::Prove { seed } => prove(seed.unwrap_or_else(new_seed)),
    }
}

/// A seed that differs from run to run.
fn new_seed() -> u64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    // Small enough to type back: a failed check prints it.
    (now.as_nanos() as u64 ^ u64::from(std::process::id())) % 1_000_000
}

fn find(id: &str) -> anyhow::Result<&'static Exercise> {
    match exercises::find(id) {
        Some(e) => Ok(e),
        None => bail!("no exercise {id:?}; `cargo xtask exercise list` shows them"),
    }
}

fn list() -> anyhow::Result<()> {
    let lessons = lessons(EXERCISES.iter());
    let bins = build(&repo_root()?, None, &lessons)?;
    let mut done = 0;
    for e in EXERCISES {
        let state = if exercises::run(e, &bins, false, new_seed()).is_ok() {
            done += 1;
            "done"
        } else {
            "todo"
        };
        println!("{:<16} {:<14} {:<52} {state}", e.id, e.lesson, e.title);
    }
    println!(
        "\n{done} of {} done. `cargo exercise show ID` tells you what to do.",
        EXERCISES.len()
    );
    Ok(())
}

fn check(e: &Exercise, seed: u64) -> anyhow::Result<()> {
    let root = repo_root()?;
    let bins = build(&root, None, &[e.lesson])?;
    println!(
        "checking {}: {}, against {} (seed {seed})",
        e.id,
        e.title,
        bins.join(e.lesson).display()
    );
    if let Err(failure) = exercises::run(e, &bins, true, seed) {
        println!("  FAILED: {failure}");
        bail!(
            "{} is not done yet (`cargo exercise show {} --hint` helps; \
             `cargo exercise check {} --seed {seed}` repeats this run)",
            e.id,
            e.id,
            e.id
        );
    }
    // The lesson's promises still hold: its own tests, which the exercise may have asked to
    // update, pass too.
    println!("  the wire check passed; now {}'s own tests", e.lesson);
    if let Err(err) = lesson_tests(&root, None, e.lesson) {
        println!("  FAILED: {err:#}");
        bail!(
            "{} does what the exercise asks, but {}'s own tests fail: a promise of the lesson \
             is broken (or a test the statement asks you to update is not)",
            e.id,
            e.lesson
        );
    }
    println!(
        "{} done: every step passed, and {}'s tests too",
        e.id, e.lesson
    );
    Ok(())
}

/// `cargo test` of one lesson, quietly: only a failure shows what the tests printed.
fn lesson_tests(root: &Path, target: Option<&Path>, lesson: &str) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--quiet", "--package", lesson]);
    if let Some(target) = target {
        cmd.arg("--target-dir").arg(target);
    }
    let out = cmd
        .current_dir(root)
        .output()
        .with_context(|| format!("cannot run the tests of {lesson}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = said.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "`cargo test -p {lesson}` failed:\n{}\n{}",
            tail.join("\n"),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(())
}

/// Checks one exercise after another: again at every save of its lesson's sources, and on to
/// the next that is not done once it passes.
fn watch(first: Option<&str>) -> anyhow::Result<()> {
    let root = repo_root()?;
    let mut current = match first {
        Some(id) => find(id)?,
        None => {
            let lessons = lessons(EXERCISES.iter());
            let bins = build(&root, None, &lessons)?;
            let Some(todo) = EXERCISES
                .iter()
                .find(|e| exercises::run(e, &bins, false, new_seed()).is_err())
            else {
                println!("every exercise is done");
                return Ok(());
            };
            todo
        }
    };
    loop {
        let dir = lesson_dir(&root, current.lesson)?;
        let passed = check(current, new_seed()).is_ok();
        if passed {
            let next = EXERCISES.iter().skip_while(|e| e.id != current.id).nth(1);
            match next {
                Some(next) => {
                    println!("\non to {}: `cargo exercise show {}`\n", next.id, next.id);
                    current = next;
                    continue;
                }
                None => {
                    println!("that was the last exercise");
                    return Ok(());
                }
            }
        }
        println!(
            "\nwatching {} for a save (Ctrl-C to stop)...",
            dir.strip_prefix(&root).unwrap_or(&dir).display()
        );
        let before = crate::bins::newest_under(&dir);
        while crate::bins::newest_under(&dir) == before {
            std::thread::sleep(Duration::from_millis(400));
        }
    }
}

/// The directory of `lesson`'s crate in the workspace at `root`.
fn lesson_dir(root: &Path, lesson: &str) -> anyhow::Result<PathBuf> {
    match LESSONS.iter().find(|l| l.name == lesson) {
        Some(l) => Ok(root.join("lessons").join(l.dir)),
        None => bail!("{lesson} is not in xtask's manifest"),
    }
}

/// One exercise's part of the book: its statement, and its hints.
struct Text {
    statement: String,
    hints: Vec<String>,
}

fn show(e: &Exercise, hint: Option<usize>) -> anyhow::Result<()> {
    let path = repo_root()?.join(format!("docs/src/exercises/{}.md", e.chapter()));
    let book = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let Some(text) = section(&book, e.id) else {
        bail!("{} has no section for {}", path.display(), e.id);
    };
    match hint {
        None => {
            println!("{} ({}): {}\n", e.id, e.lesson, e.title);
            println!("{}", text.statement.trim());
            println!("\nCheck it: `cargo exercise check {}`", e.id);
            if !text.hints.is_empty() {
                println!(
                    "\n{} hints: `cargo exercise show {} --hint 1`, then 2, ...",
                    text.hints.len(),
                    e.id
                );
            }
        }
        Some(n) => {
            let Some(h) = n.checked_sub(1).and_then(|i| text.hints.get(i)) else {
                bail!("{} has hints 1 to {}", e.id, text.hints.len());
            };
            println!("{} hint {n} of {}:\n\n{}", e.id, text.hints.len(), h.trim());
            if n < text.hints.len() {
                println!("\nnext: `cargo exercise show {} --hint {}`", e.id, n + 1);
            }
        }
    }
    Ok(())
}

/// The section `### ID: ...` of a chapter's exercises: the text up to the first folded
/// `<details>` is the statement; each `<details>` block is a hint.
fn section(book: &str, id: &str) -> Option<Text> {
    let heading = format!("### {id}:");
    let mut lines = book.lines().skip_while(|l| !l.starts_with(&heading));
    lines.next()?;
    let mut text = Text {
        statement: String::new(),
        hints: Vec::new(),
    };
    let mut in_hint = false;
    for line in lines.take_while(|l| !l.starts_with("## ") && !l.starts_with("### ")) {
        let trimmed = line.trim();
        if trimmed.starts_with("<details") {
            in_hint = true;
            text.hints.push(String::new());
        } else if trimmed.starts_with("</details") {
            in_hint = false;
        } else if trimmed.starts_with("<summary") {
            // The summary only says "Hint N".
        } else if in_hint {
            if let Some(h) = text.hints.last_mut() {
                h.push_str(line);
                h.push('\n');
            }
        } else {
            text.statement.push_str(line);
            text.statement.push('\n');
        }
    }
    Some(text)
}

/// How one exercise fared in the proof.
struct Proof {
    id: &'static str,
    problems: Vec<String>,
}

fn prove(seed: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let root = repo_root()?;
    let work = target_dir(&root)?.join("exercise-proof");
    let ws = work.join("ws");
    copy_workspace(&root, &ws)?;
    let target = work.join("target");
    let all = lessons(EXERCISES.iter());
    let bins = build(&ws, Some(&target), &all)?;
    println!(
        "scratch copy in {}; lessons built in {:.0?}; seed {seed} (`--seed {seed}` repeats it)\n",
        ws.display(),
        started.elapsed()
    );

    let mut proofs: Vec<Proof> = EXERCISES
        .iter()
        .map(|e| Proof {
            id: e.id,
            problems: Vec::new(),
        })
        .collect();
    for (e, proof) in EXERCISES.iter().zip(&mut proofs) {
        if exercises::run(e, &bins, false, seed).is_ok() {
            proof
                .problems
                .push("its check passes on the lesson as shipped".into());
        }
    }

    println!(
        "{:<16} {:<11} {:<11} {:<11} {:<13} {:<10} time",
        "exercise", "as shipped", "solution", "its tests", "other checks", "wrong ones"
    );
    for (e, proof) in EXERCISES.iter().zip(&mut proofs) {
        let t = Instant::now();
        let shipped_fails = proof.problems.is_empty();
        let solution = format!("exercises/solutions/{}.patch", e.id);
        let mut passes = false;
        let mut tests_pass = false;
        let mut others_fail = true;
        with_patch(&ws, &solution, |applied| {
            if let Err(err) = applied.and_then(|()| build(&ws, Some(&target), &[e.lesson])) {
                proof.problems.push(format!("{err:#}"));
                return;
            }
            match exercises::run(e, &bins, false, seed) {
                Ok(()) => passes = true,
                Err(f) => proof
                    .problems
                    .push(format!("its check fails with its solution: {f}")),
            }
            match lesson_tests(&ws, Some(&target), e.lesson) {
                Ok(()) => tests_pass = true,
                Err(err) => proof.problems.push(format!(
                    "the lesson's tests fail with the solution: {err:#}"
                )),
            }
            for other in EXERCISES
                .iter()
                .filter(|o| o.lesson == e.lesson && o.id != e.id)
            {
                if exercises::run(other, &bins, false, seed).is_ok() {
                    others_fail = false;
                    proof.problems.push(format!(
                        "the check of {} passes with this solution",
                        other.id
                    ));
                }
            }
        })?;
        let wrong = wrong_patches(&ws, e.id)?;
        let mut rejected = 0;
        for patch in &wrong {
            with_patch(&ws, patch, |applied| {
                let built = applied.and_then(|()| build(&ws, Some(&target), &[e.lesson]));
                match built {
                    // A wrong solution that does not even build is rejected, but proves nothing
                    // about the check: the catalogue is of programs that run.
                    Err(err) => proof
                        .problems
                        .push(format!("{patch} does not build: {err:#}")),
                    // As `cargo exercise check` does: the wire check, then the lesson's tests
                    // (a wrong solution may leave a test the statement asks to update failing).
                    Ok(_) => match exercises::run(e, &bins, false, seed) {
                        Err(_) => rejected += 1,
                        Ok(()) if lesson_tests(&ws, Some(&target), e.lesson).is_err() => {
                            rejected += 1
                        }
                        Ok(()) => proof
                            .problems
                            .push(format!("its check accepts the wrong solution {patch}")),
                    },
                }
            })?;
        }
        // The scratch copy is back to the lessons as shipped for the next exercise.
        build(&ws, Some(&target), &[e.lesson])?;
        let verdict = |ok: bool, yes: &str, no: &str| if ok { yes } else { no }.to_string();
        println!(
            "{:<16} {:<11} {:<11} {:<11} {:<13} {:<10} {:.1?}",
            e.id,
            verdict(shipped_fails, "fails", "PASSES"),
            verdict(passes, "passes", "FAILS"),
            verdict(tests_pass, "pass", "FAIL"),
            verdict(others_fail, "still fail", "SOME PASS"),
            format!("{rejected}/{} out", wrong.len()),
            t.elapsed()
        );
    }
    let bad: Vec<&Proof> = proofs.iter().filter(|p| !p.problems.is_empty()).collect();
    println!(
        "\n{} exercises, {} proved, in {:.0?} (seed {seed})",
        proofs.len(),
        proofs.len() - bad.len(),
        started.elapsed()
    );
    if bad.is_empty() {
        return Ok(());
    }
    for p in &bad {
        for problem in &p.problems {
            eprintln!("--- {} ---\n{problem}", p.id);
        }
    }
    bail!(
        "{} of {} exercises are not proved (`cargo xtask exercise prove --seed {seed}` repeats it)",
        bad.len(),
        proofs.len()
    )
}

/// Applies `patch` in `ws`, runs `with` (told whether it applied), and undoes the patch.
fn with_patch(ws: &Path, patch: &str, with: impl FnOnce(anyhow::Result<()>)) -> anyhow::Result<()> {
    let applied = git_apply(ws, patch, false);
    let undo = applied.is_ok();
    with(applied);
    if undo {
        git_apply(ws, patch, true)?;
    }
    Ok(())
}

/// The wrong solutions of exercise `id`: `exercises/wrong/ID--what.patch`, relative to `ws`.
fn wrong_patches(ws: &Path, id: &str) -> anyhow::Result<Vec<String>> {
    let dir = ws.join("exercises/wrong");
    let prefix = format!("{id}--");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix) && name.ends_with(".patch"))
        .map(|name| format!("exercises/wrong/{name}"))
        .collect();
    found.sort();
    Ok(found)
}

/// Copies the files git knows of (committed or not, but not ignored) into a fresh `ws`, and
/// makes it a repository of its own, so that `git apply` works there as in a checkout.
fn copy_workspace(root: &Path, ws: &Path) -> anyhow::Result<()> {
    if ws.exists() {
        std::fs::remove_dir_all(ws).with_context(|| format!("cannot remove {}", ws.display()))?;
    }
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .context("cannot run git ls-files")?;
    if !out.status.success() {
        bail!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name);
        let from = root.join(name.as_ref());
        if !from.is_file() {
            continue; // Deleted in the working copy, but not yet in git.
        }
        let to = ws.join(name.as_ref());
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::copy(&from, &to).with_context(|| format!("cannot copy {name}"))?;
    }
    crate::bins::run(
        Command::new("git")
            .args(["init", "--quiet"])
            .current_dir(ws),
    )
}

/// `git apply` (or, with `reverse`, its undoing) of `patch` in `ws`.
fn git_apply(ws: &Path, patch: &str, reverse: bool) -> anyhow::Result<()> {
    let mut cmd = Command::new("git");
    cmd.arg("apply");
    if reverse {
        cmd.arg("--reverse");
    }
    cmd.arg(patch).current_dir(ws);
    crate::bins::run(&mut cmd).with_context(|| format!("{patch} does not apply"))
}

/// Builds `lessons` in the workspace at `root` (into `target`, or the usual target
/// directory) and returns the directory of the binaries.
fn build(root: &Path, target: Option<&Path>, lessons: &[&str]) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet"]);
    if let Some(target) = target {
        cmd.arg("--target-dir").arg(target);
    }
    for lesson in lessons {
        cmd.args(["--package", lesson]);
    }
    cmd.current_dir(root);
    crate::bins::run(&mut cmd)?;
    Ok(match target {
        Some(target) => target.join("debug"),
        None => target_dir(root)?.join("debug"),
    })
}

fn lessons<'a>(exercises: impl Iterator<Item = &'a Exercise>) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = exercises.map(|e| e.lesson).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The target directory of the workspace at `root`, as cargo says (`CARGO_TARGET_DIR` and
/// `.cargo/config.toml` included).
fn target_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let out = cargo_says(root, &["metadata", "--format-version", "1", "--no-deps"])?;
    let key = "\"target_directory\":\"";
    let Some(start) = out.find(key).map(|i| i + key.len()) else {
        bail!("cargo metadata names no target directory");
    };
    let Some(len) = out[start..].find('"') else {
        bail!("cargo metadata's target directory is not a string");
    };
    Ok(PathBuf::from(out[start..start + len].replace("\\\\", "\\")))
}

/// The workspace the command is run in: cargo's own answer, so that a copied checkout checks
/// itself and not the tree this binary was built from.
fn repo_root() -> anyhow::Result<PathBuf> {
    let out = cargo_says(
        Path::new("."),
        &["locate-project", "--workspace", "--message-format", "plain"],
    )?;
    let manifest = PathBuf::from(out.trim());
    let Some(root) = manifest.parent() else {
        bail!("cargo locate-project said {out:?}");
    };
    if !root.join("exercises/src/lib.rs").is_file() {
        bail!(
            "{} is not a socket-lessons checkout: run this inside one",
            root.display()
        );
    }
    Ok(root.to_path_buf())
}

/// What `cargo ARGS` prints, run in `dir`.
fn cargo_says(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "cargo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_its_statement_and_its_hints() {
        let book = "## Exercises\n\n### x-1: One\n\nDo this.\n\n<details>\n<summary>Hint 1</summary>\n\nFirst.\n</details>\n\n<details>\n<summary>Hint 2</summary>\n\nSecond.\n</details>\n\n### x-2: Two\n\nOther.\n";
        let text = section(book, "x-1").unwrap_or_else(|| panic!("no section"));
        assert_eq!(text.statement.trim(), "Do this.");
        let hints: Vec<&str> = text.hints.iter().map(|h| h.trim()).collect();
        assert_eq!(hints, ["First.", "Second."]);
        assert!(section(book, "x-3").is_none());
    }

    #[test]
    fn every_exercise_has_a_statement_and_hints_in_the_book() {
        for e in EXERCISES {
            let path =
                crate::bins::repo_root().join(format!("docs/src/exercises/{}.md", e.chapter()));
            let book = std::fs::read_to_string(&path).unwrap_or_default();
            let text = section(&book, e.id).unwrap_or_else(|| panic!("{}: no section", e.id));
            assert!(text.statement.contains("check"), "{}: no check", e.id);
            assert!(!text.hints.is_empty(), "{}: no hints", e.id);
        }
    }
}
