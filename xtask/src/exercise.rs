//! `cargo exercise` (a student's: the variants of [`Cmd`]) and `cargo xtask exercise prove` (the
//! maintainers'): the exercises at the end of each chapter, checked on the wire.
//!
//! The checks live in the `exercises` crate; the statements and hints in the book
//! (`docs/src/exercises/<lesson>.md`), which `show` reads, so they are written once. A check's
//! inputs vary from run to run: each run prints its seed when it fails, and `--seed` repeats it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use exercises::{EXERCISES, Exercise};

use crate::bins::{
    self, Bins, Profile, cargo, output, repo_root, run as run_cmd, target_dir, walk,
};
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
        /// The exercises to prove (all if none is named).
        ids: Vec<String>,
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
        Cmd::Prove { ids, seed } if ids.is_empty() => prove(&Vec::from_iter(EXERCISES), seed),
        Cmd::Prove { ids, seed } => {
            let chosen = ids.iter().map(|id| find(id));
            prove(&chosen.collect::<Result<Vec<_>, _>>()?, seed)
        }
    }
}

/// A seed that differs from run to run, small enough to type back: a failed check prints it.
fn new_seed() -> u64 {
    let now = SystemTime::UNIX_EPOCH.elapsed().unwrap_or_default();
    (now.as_nanos() as u64 ^ u64::from(std::process::id())) % 1_000_000
}

fn find(id: &str) -> anyhow::Result<&'static Exercise> {
    exercises::find(id)
        .with_context(|| format!("no exercise {id:?}; `cargo xtask exercise list` shows them"))
}

/// The lessons of `exercises`, built in this workspace.
fn build<'a>(exercises: impl IntoIterator<Item = &'a Exercise>) -> anyhow::Result<Bins> {
    let lessons: Vec<&str> = exercises.into_iter().map(|e| e.lesson).collect();
    bins::build(&lessons, Profile::Lessons)
}

fn passes(e: &Exercise, bins: &Bins, seed: u64) -> bool {
    exercises::run(e, &bins.dir, false, seed).is_ok()
}

fn list() -> anyhow::Result<()> {
    let bins = build(EXERCISES)?;
    let mut done = 0;
    for e in EXERCISES {
        let passes = passes(e, &bins, new_seed());
        done += usize::from(passes);
        let state = if passes { "done" } else { "todo" };
        println!("{:<16} {:<14} {:<52} {state}", e.id, e.lesson, e.title);
    }
    let all = EXERCISES.len();
    println!("\n{done} of {all} done. `cargo exercise show ID` tells you what to do.");
    Ok(())
}

fn check(e: &Exercise, seed: u64) -> anyhow::Result<()> {
    let (id, lesson) = (e.id, e.lesson);
    let bins = build([e])?;
    let binary = bins.dir.join(lesson).display().to_string();
    println!("checking {id}: {}, against {binary} (seed {seed})", e.title);
    if let Err(failure) = exercises::run(e, &bins.dir, true, seed) {
        println!("  FAILED: {failure}");
        bail!(
            "{id} is not done yet (`cargo exercise show {id} --hint` helps; \
             `cargo exercise check {id} --seed {seed}` repeats this run)"
        );
    }
    // The lesson's promises still hold: its own tests, which the exercise may have asked to
    // update, pass too.
    println!("  the wire check passed; now {lesson}'s own tests");
    if let Err(err) = lesson_tests(&repo_root(), &target_dir()?, lesson) {
        println!("  FAILED: {err:#}");
        bail!(
            "{id} does what the exercise asks, but {lesson}'s own tests fail: a promise of the \
             lesson is broken (or a test the statement asks you to update is not)"
        );
    }
    println!("{id} done: every step passed, and {lesson}'s tests too");
    Ok(())
}

/// `cargo test` of one lesson, quietly: only a failure shows the end of what the tests printed.
fn lesson_tests(root: &Path, target: &Path, lesson: &str) -> anyhow::Result<()> {
    let mut cmd = cargo();
    cmd.args(["test", "--quiet", "--package", lesson, "--target-dir"])
        .arg(target);
    output(cmd.current_dir(root)).map(drop)
}

/// Checks one exercise after another: again at every save of its lesson's sources, and on to
/// the next that is not done once it passes.
fn watch(first: Option<&str>) -> anyhow::Result<()> {
    let mut current = match first {
        Some(id) => find(id)?,
        None => {
            let bins = build(EXERCISES)?;
            let Some(todo) = EXERCISES.iter().find(|e| !passes(e, &bins, new_seed())) else {
                println!("every exercise is done");
                return Ok(());
            };
            todo
        }
    };
    loop {
        if check(current, new_seed()).is_ok() {
            let Some(next) = EXERCISES.iter().skip_while(|e| e.id != current.id).nth(1) else {
                println!("that was the last exercise");
                return Ok(());
            };
            println!("\non to {}: `cargo exercise show {}`\n", next.id, next.id);
            current = next;
            continue;
        }
        let lesson = LESSONS.iter().find(|l| l.name == current.lesson);
        let dir = Path::new("lessons").join(lesson.map_or("", |l| l.dir));
        println!(
            "\nwatching {} for a save (Ctrl-C to stop)...",
            dir.display()
        );
        let dir = [repo_root().join(dir)];
        let before = bins::newest(&dir);
        while bins::newest(&dir) == before {
            std::thread::sleep(Duration::from_millis(400));
        }
    }
}

fn show(e: &Exercise, hint: Option<usize>) -> anyhow::Result<()> {
    let path = repo_root().join(format!("docs/src/exercises/{}.md", e.chapter()));
    let book = bins::read(&path)?;
    let (statement, hints) = section(&book, e.id)
        .with_context(|| format!("{} has no section for {}", path.display(), e.id))?;
    let (id, count) = (e.id, hints.len());
    let Some(n) = hint else {
        println!("{id} ({}): {}\n\n{}", e.lesson, e.title, statement.trim());
        println!("\nCheck it: `cargo exercise check {id}`");
        if count > 0 {
            println!("\n{count} hints: `cargo exercise show {id} --hint 1`, then 2, ...");
        }
        return Ok(());
    };
    let Some(h) = n.checked_sub(1).and_then(|i| hints.get(i)) else {
        bail!("{id} has hints 1 to {count}");
    };
    println!("{id} hint {n} of {count}:\n\n{}", h.trim());
    if n < count {
        println!("\nnext: `cargo exercise show {id} --hint {}`", n + 1);
    }
    Ok(())
}

/// The section `### ID: ...` of a chapter's exercises: its statement, the text up to the first
/// folded `<details>`; and its hints, one a `<details>` block (whose `<summary>` only says
/// "Hint N", on its line or as a paragraph of its own up to `</summary>`).
fn section(book: &str, id: &str) -> Option<(String, Vec<String>)> {
    let heading = format!("### {id}:");
    let mut lines = book.lines().skip_while(|l| !l.starts_with(&heading));
    lines.next()?;
    let (mut statement, mut hints) = (String::new(), Vec::<String>::new());
    let (mut in_hint, mut in_summary) = (false, false);
    for line in lines.take_while(|l| !l.starts_with("## ") && !l.starts_with("### ")) {
        let trimmed = line.trim();
        if trimmed.starts_with("<details") {
            in_hint = true;
            hints.push(String::new());
        } else if trimmed.starts_with("</details") {
            in_hint = false;
        } else if trimmed.starts_with("<summary") || in_summary {
            in_summary = !trimmed.ends_with("</summary>");
        } else {
            let into = hints
                .last_mut()
                .filter(|_| in_hint)
                .unwrap_or(&mut statement);
            *into += &format!("{line}\n");
        }
    }
    Some((statement, hints))
}

fn prove(chosen: &[&Exercise], seed: Option<u64>) -> anyhow::Result<()> {
    let (started, seed) = (Instant::now(), seed.unwrap_or_else(new_seed));
    let work = target_dir()?.join("exercise-proof");
    let (ws, target) = (work.join("ws"), work.join("target"));
    copy_workspace(&repo_root(), &ws)?;
    let build = |lessons: &[&str]| bins::build_in(&ws, &target, lessons, Profile::Lessons);
    let bins = build(&chosen.iter().map(|e| e.lesson).collect::<Vec<_>>())?;
    println!(
        "scratch copy in {}; lessons built in {:.0?}; seed {seed} (`--seed {seed}` repeats it)\n",
        ws.display(),
        started.elapsed()
    );
    // Every check fails on the lessons as shipped.
    let shipped: Vec<bool> = chosen.iter().map(|e| !passes(e, &bins, seed)).collect();
    println!(
        "{:<16} {:<11} {:<11} {:<11} {:<13} {:<10} time",
        "exercise", "as shipped", "solution", "its tests", "other checks", "wrong ones"
    );
    let (mut problems, mut unproved) = (Vec::new(), 0);
    for (e, shipped_fails) in chosen.iter().zip(shipped) {
        let (t, before) = (Instant::now(), problems.len());
        let mut said = |problem: String| problems.push(format!("--- {} ---\n{problem}", e.id));
        if !shipped_fails {
            said("its check passes on the lesson as shipped".into());
        }
        // As `cargo exercise check` does: the wire check, then the lesson's tests.
        let tests = || lesson_tests(&ws, &target, e.lesson);
        let (mut solved, mut tests_pass, mut others_fail) = (false, false, true);
        let solution = format!("exercises/solutions/{}.patch", e.id);
        with_patch(&ws, &solution, |applied| {
            if let Err(err) = applied.and_then(|()| build(&[e.lesson])) {
                return said(format!("{err:#}"));
            }
            if let Err(failure) = exercises::run(e, &bins.dir, false, seed) {
                said(format!("its check fails with its solution: {failure}"));
            } else {
                solved = true;
            }
            match tests() {
                Ok(()) => tests_pass = true,
                Err(err) => said(format!(
                    "the lesson's tests fail with the solution: {err:#}"
                )),
            }
            let others = EXERCISES
                .iter()
                .filter(|o| o.lesson == e.lesson && o.id != e.id);
            for other in others.filter(|o| passes(o, &bins, seed)) {
                others_fail = false;
                said(format!(
                    "the check of {} passes with this solution",
                    other.id
                ));
            }
        })?;
        let prefix = format!("exercises/wrong/{}--", e.id);
        let wrong: Vec<String> = walk(&ws.join("exercises/wrong"))
            .iter()
            .filter_map(|p| Some(p.strip_prefix(&ws).ok()?.to_str()?.to_string()))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        let mut rejected = 0;
        for patch in &wrong {
            with_patch(&ws, patch, |applied| {
                match applied.and_then(|()| build(&[e.lesson])) {
                    // A wrong solution that does not build proves nothing about the check: the
                    // catalogue is of programs that run.
                    Err(err) => said(format!("{patch} does not build: {err:#}")),
                    // A wrong solution may leave a test the statement asks to update failing.
                    Ok(_) if !passes(e, &bins, seed) || tests().is_err() => rejected += 1,
                    Ok(_) => said(format!("its check accepts the wrong solution {patch}")),
                }
            })?;
        }
        // The scratch copy is back to the lessons as shipped for the next exercise.
        build(&[e.lesson])?;
        unproved += usize::from(problems.len() > before);
        let said = |ok, yes, no| if ok { yes } else { no };
        println!(
            "{:<16} {:<11} {:<11} {:<11} {:<13} {:<10} {:.1?}",
            e.id,
            said(shipped_fails, "fails", "PASSES"),
            said(solved, "passes", "FAILS"),
            said(tests_pass, "pass", "FAIL"),
            said(others_fail, "still fail", "SOME PASS"),
            format!("{rejected}/{} out", wrong.len()),
            t.elapsed()
        );
    }
    let all = chosen.len();
    let proved = all - unproved;
    println!(
        "\n{all} exercises, {proved} proved, in {:.0?} (seed {seed})",
        started.elapsed()
    );
    if unproved > 0 {
        eprintln!("{}", problems.join("\n"));
        bail!(
            "{unproved} of {all} exercises are not proved (`cargo xtask exercise prove --seed {seed}` repeats it)"
        );
    }
    Ok(())
}

/// Applies `patch` in `ws`, runs `with` (told whether it applied), and undoes the patch.
fn with_patch(ws: &Path, patch: &str, with: impl FnOnce(anyhow::Result<()>)) -> anyhow::Result<()> {
    let git_apply = |reverse: &[&str]| {
        let mut git = Command::new("git");
        run_cmd(git.arg("apply").args(reverse).arg(patch).current_dir(ws))
            .with_context(|| format!("{patch} does not apply"))
    };
    let applied = git_apply(&[]);
    let undo = applied.is_ok();
    with(applied);
    if undo {
        git_apply(&["--reverse"])?;
    }
    Ok(())
}

/// Copies the files git knows of (committed or not, but not ignored; a file deleted in the
/// working copy but not yet in git is left out) into a fresh `ws`, and makes it a repository of
/// its own, so that `git apply` works there as in a checkout.
fn copy_workspace(root: &Path, ws: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(ws);
    bins::mkdir(ws)?;
    let files = "git ls-files -z --cached --others --exclude-standard";
    let copy =
        format!("{files} | tar --null -T - --ignore-failed-read -cf - | tar -xf - -C \"$0\"");
    run_cmd(bins::sh(&copy).arg(ws).current_dir(root))?;
    run_cmd(
        Command::new("git")
            .args(["init", "--quiet"])
            .current_dir(ws),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_its_statement_and_its_hints() {
        let book = "## Exercises\n\n### x-1: One\n\nDo this.\n\n<details>\n<summary>Hint 1</summary>\n\nFirst.\n</details>\n\n<details>\n<summary>\n\nHint 2\n\n</summary>\n\nSecond.\n</details>\n\n### x-2: Two\n\nOther.\n";
        let (statement, hints) = section(book, "x-1").unwrap_or_else(|| panic!("no section"));
        assert_eq!(statement.trim(), "Do this.");
        let hints: Vec<&str> = hints.iter().map(|h| h.trim()).collect();
        assert_eq!(hints, ["First.", "Second."]);
        assert!(section(book, "x-3").is_none());
    }

    #[test]
    fn every_exercise_has_a_statement_and_hints_in_the_book() {
        for e in EXERCISES {
            let path =
                crate::bins::repo_root().join(format!("docs/src/exercises/{}.md", e.chapter()));
            let book = std::fs::read_to_string(&path).unwrap_or_default();
            let (statement, hints) =
                section(&book, e.id).unwrap_or_else(|| panic!("{}: no section", e.id));
            assert!(statement.contains("check"), "{}: no check", e.id);
            assert!(!hints.is_empty(), "{}: no hints", e.id);
        }
    }
}
