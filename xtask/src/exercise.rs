//! `cargo xtask exercise`: the exercises at the end of each chapter, checked on the wire.
//!
//! ```text
//! cargo xtask exercise list              every exercise, done or todo on this working copy
//! cargo xtask exercise show ID [--hint N] the statement and how it is checked; one hint
//! cargo xtask exercise check ID          build the lesson, run the check, say what passed
//! cargo xtask exercise prove             in a scratch copy: each check fails as shipped and
//!                                        passes with exercises/solutions/ID.patch
//! ```
//!
//! The checks live in the `exercises` crate; the statements and hints in the book
//! (`docs/src/exercises/<lesson>.md`), which `show` reads, so they are written once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use exercises::{EXERCISES, Exercise};

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Every exercise, one line each: ID, lesson, title, done or todo on this working copy.
    List,
    /// The statement of an exercise and what its check does; with --hint, one hint.
    Show {
        /// The exercise, like udp-server-1.
        id: String,
        /// Show hint N instead (1 if no N is given).
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1")]
        hint: Option<usize>,
    },
    /// Build the lesson and run the exercise's check against it.
    Check {
        /// The exercise, like udp-server-1.
        id: String,
    },
    /// In a scratch copy of the workspace, show that every check fails on the lessons as they
    /// are and passes once its solution patch is applied.
    Prove,
}

pub fn run(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::List => list(),
        Cmd::Show { id, hint } => show(find(&id)?, hint),
        Cmd::Check { id } => check(find(&id)?),
        Cmd::Prove => prove(),
    }
}

fn find(id: &str) -> anyhow::Result<&'static Exercise> {
    match exercises::find(id) {
        Some(e) => Ok(e),
        None => bail!("no exercise {id:?}; `cargo xtask exercise list` shows them"),
    }
}

fn list() -> anyhow::Result<()> {
    let lessons = lessons(EXERCISES.iter());
    let bins = build(&repo_root(), None, &lessons)?;
    let mut done = 0;
    for e in EXERCISES {
        let state = if exercises::run(e, &bins, false).is_ok() {
            done += 1;
            "done"
        } else {
            "todo"
        };
        println!("{:<16} {:<14} {:<52} {state}", e.id, e.lesson, e.title);
    }
    println!(
        "\n{done} of {} done. `cargo xtask exercise show ID` tells you what to do.",
        EXERCISES.len()
    );
    Ok(())
}

fn check(e: &Exercise) -> anyhow::Result<()> {
    let bins = build(&repo_root(), None, &[e.lesson])?;
    println!(
        "checking {}: {}, against {}",
        e.id,
        e.title,
        bins.join(e.lesson).display()
    );
    match exercises::run(e, &bins, true) {
        Ok(()) => {
            println!("{} done: every step passed", e.id);
            Ok(())
        }
        Err(failure) => {
            println!("  FAILED: {failure}");
            bail!(
                "{} is not done yet (`cargo xtask exercise show {} --hint` helps)",
                e.id,
                e.id
            )
        }
    }
}

/// One exercise's part of the book: its statement, and its hints.
struct Text {
    statement: String,
    hints: Vec<String>,
}

fn show(e: &Exercise, hint: Option<usize>) -> anyhow::Result<()> {
    let path = repo_root().join(format!("docs/src/exercises/{}.md", e.lesson));
    let book = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let Some(text) = section(&book, e.id) else {
        bail!("{} has no section for {}", path.display(), e.id);
    };
    match hint {
        None => {
            println!("{} ({}): {}\n", e.id, e.lesson, e.title);
            println!("{}", text.statement.trim());
            println!("\nCheck it: `cargo xtask exercise check {}`", e.id);
            if !text.hints.is_empty() {
                println!(
                    "\n{} hints: `cargo xtask exercise show {} --hint 1`, then 2, ...",
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
                println!(
                    "\nnext: `cargo xtask exercise show {} --hint {}`",
                    e.id,
                    n + 1
                );
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
    shipped_fails: bool,
    patched_passes: bool,
    others_fail: bool,
    problems: Vec<String>,
}

fn prove() -> anyhow::Result<()> {
    let started = Instant::now();
    let root = repo_root();
    let work = target_dir().join("exercise-proof");
    let ws = work.join("ws");
    copy_workspace(&root, &ws)?;
    let target = work.join("target");
    let all = lessons(EXERCISES.iter());
    let bins = build(&ws, Some(&target), &all)?;
    println!(
        "scratch copy in {}; lessons built in {:.0?}\n",
        ws.display(),
        started.elapsed()
    );

    let mut proofs: Vec<Proof> = EXERCISES
        .iter()
        .map(|e| Proof {
            id: e.id,
            shipped_fails: false,
            patched_passes: false,
            others_fail: true,
            problems: Vec::new(),
        })
        .collect();
    let shipped = Instant::now();
    for (e, proof) in EXERCISES.iter().zip(&mut proofs) {
        match exercises::run(e, &bins, false) {
            Ok(()) => proof
                .problems
                .push("its check passes on the lesson as shipped".into()),
            Err(_) => proof.shipped_fails = true,
        }
    }

    println!(
        "every check run on the lessons as shipped in {:.1?}\n",
        shipped.elapsed()
    );
    println!(
        "{:<16} {:<15} {:<15} {:<22} time",
        "exercise", "as shipped", "with patch", "its lesson's others"
    );
    for (e, proof) in EXERCISES.iter().zip(&mut proofs) {
        let t = Instant::now();
        let patch = format!("exercises/solutions/{}.patch", e.id);
        match git_apply(&ws, &patch, false) {
            Ok(()) => {
                let built = build(&ws, Some(&target), &[e.lesson]);
                match built {
                    Ok(_) => match exercises::run(e, &bins, false) {
                        Ok(()) => proof.patched_passes = true,
                        Err(f) => proof
                            .problems
                            .push(format!("its check fails with the patch applied: {f}")),
                    },
                    Err(err) => proof
                        .problems
                        .push(format!("the lesson does not build with the patch: {err:#}")),
                }
                for other in EXERCISES
                    .iter()
                    .filter(|o| o.lesson == e.lesson && o.id != e.id)
                {
                    if exercises::run(other, &bins, false).is_ok() {
                        proof.others_fail = false;
                        proof
                            .problems
                            .push(format!("the check of {} passes with this patch", other.id));
                    }
                }
                git_apply(&ws, &patch, true)?;
            }
            Err(err) => proof.problems.push(format!("{err:#}")),
        }
        let verdict = |ok: bool, yes: &str, no: &str| if ok { yes } else { no }.to_string();
        println!(
            "{:<16} {:<15} {:<15} {:<22} {:.1?}",
            e.id,
            verdict(proof.shipped_fails, "fails (good)", "PASSES"),
            verdict(proof.patched_passes, "passes (good)", "FAILS"),
            verdict(proof.others_fail, "still fail (good)", "SOME PASS"),
            t.elapsed()
        );
    }
    let bad: Vec<&Proof> = proofs.iter().filter(|p| !p.problems.is_empty()).collect();
    println!(
        "\n{} exercises, {} proved, in {:.0?}",
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
    bail!("{} of {} exercises are not proved", bad.len(), proofs.len())
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
        // The lessons land beside this binary: same target directory, same profile.
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    })
}

fn lessons<'a>(exercises: impl Iterator<Item = &'a Exercise>) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = exercises.map(|e| e.lesson).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// This binary's target directory: `<target>/debug/xtask`.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| repo_root().join("target"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
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
            let path = repo_root().join(format!("docs/src/exercises/{}.md", e.lesson));
            let book = std::fs::read_to_string(&path).unwrap_or_default();
            let text = section(&book, e.id).unwrap_or_else(|| panic!("{}: no section", e.id));
            assert!(text.statement.contains("check"), "{}: no check", e.id);
            assert!(!text.hints.is_empty(), "{}: no hints", e.id);
        }
    }
}
