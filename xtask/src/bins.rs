//! The lesson binaries: built by cargo, run from the target directory as a user runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Where the built lesson binaries are.
pub struct Bins {
    pub dir: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The tests' and demos' build: quick to compile.
    Dev,
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
            .arg(repo_root().join("xtask/peers").join(script));
        cmd.args(args);
        cmd
    }

    /// The target directory the profiles' directories are in.
    pub fn target_dir(&self) -> PathBuf {
        self.dir.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// Builds `packages` with cargo, letting cargo show its progress, and says where they are.
pub fn build(packages: &[&str], profile: Profile) -> anyhow::Result<Bins> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build").current_dir(repo_root());
    match profile {
        Profile::Release => cmd.arg("--release"),
        // The lessons' steps too, which the pairs run.
        Profile::Dev => cmd.args(["--bins", "--examples"]),
    };
    for package in packages {
        cmd.args(["--package", package]);
    }
    run(&mut cmd)?;
    // This binary is <target>/<its profile>/xtask; the lessons are in <target>/<profile>.
    let exe = std::env::current_exe().context("cannot find xtask's own binary")?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let dir = match profile {
        Profile::Dev => "debug",
        Profile::Release => "release",
    };
    Ok(Bins {
        dir: target.join(dir),
    })
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

/// The repository: this crate's parent directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The newest modification time under `dir`, `target` directories aside.
pub fn newest_under(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if entry.file_name() != "target" {
                    stack.push(entry.path());
                }
            } else if let Ok(modified) = meta.modified() {
                newest = newest.max(Some(modified));
            }
        }
    }
    newest
}
