//! The lesson binaries: built by cargo, run from the target directory as a user runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, bail};

/// Where the built lesson binaries are.
pub struct Bins {
    pub dir: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The demos' build, quick to compile: the lessons and their steps, which the pairs run.
    Dev,
    /// The lessons alone, quietly: what the exercises check.
    Lessons,
    /// Optimised, for benchmarks.
    Release,
}

impl Bins {
    /// The lesson binary `lesson`, with `args`.
    pub fn lesson(&self, lesson: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.dir.join(lesson));
        cmd.args(args);
        cmd
    }

    /// The example `name` of a lesson (`examples/step1-*.rs`), with `args`.
    pub fn example(&self, name: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.dir.join("examples").join(name));
        cmd.args(args);
        cmd
    }

    /// One of the seed's Python programs in `xtask/peers/`, made runnable, with `args`.
    pub fn seed(&self, script: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("python3");
        // -u: unbuffered, so each print reaches the pipe when it happens.
        cmd.arg("-u")
            .arg(repo_root().join("xtask/peers").join(script))
            .args(args);
        cmd
    }
}

/// Builds `packages` of this workspace with cargo, letting cargo show its progress.
pub fn build(packages: &[&str], profile: Profile) -> anyhow::Result<Bins> {
    build_in(&repo_root(), None, packages, profile)
}

/// Builds `packages` (each once) of the workspace at `root` into `target` (by default, the target
/// directory this binary is in), and says where they are.
pub fn build_in(
    root: &Path,
    target: Option<&Path>,
    packages: &[&str],
    profile: Profile,
) -> anyhow::Result<Bins> {
    let mut cmd = cargo();
    cmd.arg("build").current_dir(root);
    cmd.args(match profile {
        Profile::Dev => &["--bins", "--examples"][..],
        Profile::Lessons => &["--quiet"],
        Profile::Release => &["--release"],
    });
    if let Some(target) = target {
        cmd.arg("--target-dir").arg(target);
    }
    let mut packages = packages.to_vec();
    packages.sort_unstable();
    packages.dedup();
    for package in packages {
        cmd.args(["--package", package]);
    }
    run(&mut cmd)?;
    let dir = if profile == Profile::Release {
        "release"
    } else {
        "debug"
    };
    let target = target.map_or_else(target_dir, |t| Ok(t.to_path_buf()))?;
    Ok(Bins {
        dir: target.join(dir),
    })
}

/// The target directory this binary is in: it is <target>/<its profile>/xtask.
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find xtask's own binary")?;
    Ok(exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .to_path_buf())
}

/// cargo, as the `CARGO` variable names it.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cmd`, echoing it first, and turns a failure into an error that names it.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    // The program by its name alone: cargo's full path under ~/.rustup says nothing more.
    let program = Path::new(cmd.get_program());
    let shown = std::iter::once(program.file_name().unwrap_or(program.as_os_str()))
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed: {status}");
    }
    Ok(())
}

/// What `cmd` prints on stdout; its stderr in the error when it fails.
pub fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("{cmd:?} failed: {}\n{}", out.status, stderr.trim_end());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The workspace: the one `cargo run` runs this in (a copied checkout checks itself), or the one
/// this binary was built from.
pub fn repo_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let manifest = manifest.unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    manifest.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Every file under `dir`, `target` directories aside, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("target") {
                    stack.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The newest modification time under `dir`, `target` directories aside.
pub fn newest_under(dir: &Path) -> Option<SystemTime> {
    walk(dir)
        .iter()
        .filter_map(|f| f.metadata().and_then(|m| m.modified()).ok())
        .max()
}
