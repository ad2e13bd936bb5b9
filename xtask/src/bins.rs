//! The lesson binaries, built by cargo and run from the target directory as a user runs them;
//! the other programs xtask runs, and the files it walks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, bail, ensure};
use walkdir::WalkDir;

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
}

/// Builds `packages` of this workspace with cargo, letting cargo show its progress.
pub fn build(packages: &[&str], profile: Profile) -> anyhow::Result<Bins> {
    build_in(&repo_root(), &target_dir()?, packages, profile)
}

/// Builds `packages` (each once) of the workspace at `root` into `target`, and says where they
/// are.
pub fn build_in(
    root: &Path,
    target: &Path,
    packages: &[&str],
    profile: Profile,
) -> anyhow::Result<Bins> {
    let packages: BTreeSet<&str> = packages.iter().copied().collect();
    let mut cmd = cargo();
    cmd.arg("build")
        .current_dir(root)
        .arg("--target-dir")
        .arg(target);
    cmd.args(match profile {
        Profile::Dev => &["--bins", "--examples"][..],
        Profile::Lessons => &["--quiet"],
        Profile::Release => &["--release"],
    });
    run(cmd.args(packages.iter().flat_map(|p| ["--package", p])))?;
    let dir = if profile == Profile::Release {
        "release"
    } else {
        "debug"
    };
    Ok(Bins {
        dir: target.join(dir),
    })
}

/// The target directory this binary is in: it is `TARGET/PROFILE/xtask`.
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find xtask's own binary")?;
    let target = exe.ancestors().nth(2).unwrap_or(Path::new("."));
    Ok(target.to_path_buf())
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
    ensure!(status.success(), "`{shown}` failed: {status}");
    Ok(())
}

/// `sh -c script`.
pub fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    cmd
}

/// What `cmd` prints on stdout; when it fails, the error ends with the last lines of its
/// stdout and stderr.
pub fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    if !out.status.success() {
        let tail = |bytes: &[u8], n: usize| {
            let text = text(bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        let (stdout, stderr) = (tail(&out.stdout, 40), tail(&out.stderr, 20));
        bail!("{cmd:?} failed: {}\n{stdout}\n{stderr}", out.status);
    }
    Ok(text(&out.stdout))
}

/// The text of `path`; an error names it.
pub fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes `text` to `path`, making its directory first; an error names it.
pub fn write(path: &Path, text: impl AsRef<[u8]>) -> anyhow::Result<()> {
    mkdir(path.parent().unwrap_or(path))?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Makes `dir` and the directories above it; an error names it.
pub fn mkdir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
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
    let entries = WalkDir::new(dir).sort_by_file_name().into_iter();
    let entries = entries.filter_entry(|e| !e.file_type().is_dir() || e.file_name() != "target");
    let files = entries.flatten().filter(|e| !e.file_type().is_dir());
    files.map(walkdir::DirEntry::into_path).collect()
}

/// The files under `dir` whose name ends in `.ext`, as [`walk`] finds them.
pub fn with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let files = walk(dir).into_iter();
    files
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

/// Whether `tool` can be started (it may still refuse `--version`: nc and nginx do).
pub fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// The newest modification time under `dirs`, `target` directories aside.
pub fn newest(dirs: &[PathBuf]) -> Option<SystemTime> {
    let files = dirs.iter().flat_map(|d| walk(d));
    files
        .filter_map(|f| f.metadata().ok()?.modified().ok())
        .max()
}
