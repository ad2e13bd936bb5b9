//! The root jail: the server sends regular files under its root directory, and nothing else.
//!
//! The seed's server opens whatever name it is sent, so `../../etc/passwd` is served to
//! anyone who asks. Every check here closes one way out of the root:
//!
//! - an absolute name (`/etc/passwd`) would ignore the root;
//! - a `..` component would climb out of it;
//! - a symbolic link inside the root may point outside it: the name is resolved
//!   (`canonicalize` follows every link) and the result must still lie under the root;
//! - a directory, a device or a FIFO is not a file to send (opening a FIFO would block).

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The longest file name the server will look at.
pub const MAX_NAME: usize = 1024;

/// A directory whose regular files may be served.
#[derive(Clone, Debug)]
pub struct Root {
    dir: PathBuf,
}

/// Why a name is not served: the reason goes back to the client in the `ERR` line.
#[derive(Debug)]
pub enum Refusal {
    Empty,
    TooLong,
    BadCharacter,
    Absolute,
    Parent,
    NotFound,
    OutsideRoot,
    NotAFile,
    Unreadable(io::Error),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Empty => write!(f, "the file name is empty"),
            Refusal::TooLong => write!(f, "the file name is longer than {MAX_NAME} bytes"),
            Refusal::BadCharacter => write!(f, "the file name contains a control character"),
            Refusal::Absolute => write!(f, "absolute paths are not served"),
            Refusal::Parent => write!(f, "'..' is not allowed in a file name"),
            Refusal::NotFound => write!(f, "no such file"),
            Refusal::OutsideRoot => write!(f, "the name leads outside the served directory"),
            Refusal::NotAFile => write!(f, "not a regular file"),
            Refusal::Unreadable(e) => write!(f, "cannot read the file: {e}"),
        }
    }
}

// ANCHOR: resolve
impl Root {
    /// The root, as an absolute path without links, so that "is under the root" is a plain
    /// comparison of path components.
    pub fn new(dir: &Path) -> io::Result<Root> {
        let dir = fs::canonicalize(dir)?;
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Root { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The file that `name` names under the root, if the server may send it.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, Refusal> {
        if name.is_empty() {
            return Err(Refusal::Empty);
        }
        if name.len() > MAX_NAME {
            return Err(Refusal::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(Refusal::BadCharacter);
        }
        for component in Path::new(name).components() {
            match component {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => return Err(Refusal::Parent),
                Component::RootDir | Component::Prefix(_) => return Err(Refusal::Absolute),
            }
        }
        // canonicalize follows every symbolic link: what it returns is where the bytes are.
        let real = fs::canonicalize(self.dir.join(name)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Refusal::NotFound,
            _ => Refusal::Unreadable(e),
        })?;
        if !real.starts_with(&self.dir) {
            return Err(Refusal::OutsideRoot);
        }
        let meta = fs::metadata(&real).map_err(Refusal::Unreadable)?;
        if !meta.is_file() {
            return Err(Refusal::NotAFile);
        }
        Ok(real)
    }
    // ANCHOR_END: resolve

    /// The regular files directly in the root that [`Root::resolve`] would serve, with their
    /// sizes, by name.
    pub fn list(&self) -> io::Result<Vec<(String, u64)>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue; // Not UTF-8: it could not be named in a request line.
            };
            if let Ok(path) = self.resolve(&name)
                && let Ok(meta) = fs::metadata(path)
            {
                files.push((name, meta.len()));
            }
        }
        files.sort();
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("served")).unwrap();
        fs::write(dir.path().join("secret.txt"), "outside").unwrap();
        fs::write(dir.path().join("served/a.txt"), "inside").unwrap();
        fs::create_dir(dir.path().join("served/sub")).unwrap();
        fs::write(dir.path().join("served/sub/b.txt"), "deeper").unwrap();
        let root = Root::new(&dir.path().join("served")).unwrap();
        (dir, root)
    }

    #[test]
    fn serves_regular_files_under_the_root() {
        let (_dir, root) = root();
        assert!(root.resolve("a.txt").unwrap().ends_with("served/a.txt"));
        assert!(
            root.resolve("./sub/b.txt")
                .unwrap()
                .ends_with("served/sub/b.txt")
        );
        assert!(root.resolve("sub//b.txt").is_ok());
    }

    #[test]
    fn refuses_every_way_out() {
        let (dir, root) = root();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                dir.path().join("secret.txt"),
                dir.path().join("served/link"),
            )
            .unwrap();
            std::os::unix::fs::symlink("/etc", dir.path().join("served/etc")).unwrap();
            std::os::unix::fs::symlink("a.txt", dir.path().join("served/fine")).unwrap();
            assert!(matches!(root.resolve("link"), Err(Refusal::OutsideRoot)));
            assert!(matches!(
                root.resolve("etc/passwd"),
                Err(Refusal::OutsideRoot)
            ));
            // A link that stays inside is fine.
            assert!(root.resolve("fine").unwrap().ends_with("served/a.txt"));
        }
        for (name, reason) in [
            ("", "empty"),
            ("../secret.txt", "'..'"),
            ("sub/../../secret.txt", "'..'"),
            ("sub/..", "'..'"),
            ("/etc/passwd", "absolute"),
            ("a\0b", "control character"),
            ("a\nb", "control character"),
            ("missing.txt", "no such file"),
            ("a.txt/x", "no such file"),
            ("sub", "not a regular file"),
        ] {
            let got = root.resolve(name).unwrap_err().to_string();
            assert!(got.contains(reason), "{name:?}: {got}");
        }
        assert!(matches!(
            root.resolve(&"x".repeat(MAX_NAME + 1)),
            Err(Refusal::TooLong)
        ));
        #[cfg(target_os = "linux")]
        assert!(matches!(
            Root::new(Path::new("/dev")).unwrap().resolve("null"),
            Err(Refusal::NotAFile)
        ));
    }

    #[test]
    fn lists_only_what_it_would_serve() {
        let (dir, root) = root();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            dir.path().join("secret.txt"),
            dir.path().join("served/link"),
        )
        .unwrap();
        assert_eq!(root.list().unwrap(), [("a.txt".to_string(), 6)]);
    }

    #[test]
    fn the_root_must_be_a_directory() {
        let (dir, _) = root();
        assert!(Root::new(&dir.path().join("secret.txt")).is_err());
        assert!(Root::new(&dir.path().join("nope")).is_err());
    }
}
