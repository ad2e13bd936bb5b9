//! The root jail: the server sends regular files under its root directory, and nothing else.
//!
//! The seed's server opens whatever name it is sent, so `../../etc/passwd` is served to
//! anyone who asks. Every check here closes one way out of the root:
//!
//! - an absolute name (`/etc/passwd`) would ignore the root;
//! - a `..` component would climb out of it;
//! - a symbolic link inside the root may point anywhere, and can be swapped in *between* a
//!   check of the name and an open of the name. So nothing checks a name and opens it later:
//!   the file is opened beneath the root directory's descriptor by `openat2` with
//!   `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, and the kernel refuses every link and every way
//!   out while it resolves the name, in the same call that opens it. Where `openat2` is
//!   missing (Linux before 5.6, other Unix systems), one `openat` per component, each with
//!   `O_NOFOLLOW`, relative to the directory the previous one opened, does the same;
//! - a directory, a device or a FIFO is not a file to send. The file is opened with
//!   `O_NONBLOCK` (opening a FIFO would otherwise wait for a writer, for ever), and `fstat` on
//!   the open descriptor, which is what will be sent, must say "regular file".

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The longest file name the server will look at.
pub const MAX_NAME: usize = 1024;

/// A directory whose regular files may be served.
#[derive(Clone, Debug)]
pub struct Root {
    dir: PathBuf,
    fd: Arc<OwnedFd>,
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
    Link,
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
            Refusal::Link => write!(f, "symbolic links are not followed"),
            Refusal::OutsideRoot => write!(f, "the name leads outside the served directory"),
            Refusal::NotAFile => write!(f, "not a regular file"),
            Refusal::Unreadable(e) => write!(f, "cannot read the file: {e}"),
        }
    }
}

impl From<Errno> for Refusal {
    fn from(e: Errno) -> Refusal {
        match e {
            // No file has a name longer than the file system's limit (255 bytes a part):
            // `403 cannot read the file: File name too long` said more than there was.
            Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG => Refusal::NotFound,
            // RESOLVE_NO_SYMLINKS and O_NOFOLLOW both answer a link with ELOOP.
            Errno::LOOP => Refusal::Link,
            Errno::XDEV => Refusal::OutsideRoot,
            // Opening a Unix socket gives ENXIO.
            Errno::NXIO => Refusal::NotAFile,
            e => Refusal::Unreadable(e.into()),
        }
    }
}

/// How a file to send is opened: for reading, never a link as the last component, never
/// waiting (a FIFO), never becoming this process's terminal (a tty).
const OPEN_FILE: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

// ANCHOR: resolve
impl Root {
    /// The root, opened once: every file is then opened relative to this descriptor.
    pub fn new(dir: &Path) -> io::Result<Root> {
        let dir = dir.canonicalize()?;
        let fd = rustix::fs::open(
            &dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            dir,
            fd: Arc::new(fd),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Opens the file that `name` names under the root, if the server may send it.
    pub fn open(&self, name: &str) -> Result<File, Refusal> {
        check_name(name)?;
        let fd = open_beneath(self.fd.as_fd(), name)?;
        // What was opened, not what the name means by now: fstat asks the descriptor.
        let stat = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(Refusal::NotAFile);
        }
        // O_NONBLOCK was for the open; a regular file is read as usual from here on.
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
        Ok(File::from(fd))
    }
}

/// The checks on the name itself, before the file system is asked anything: they give a
/// clear reason for the common mistakes and attacks.
fn check_name(name: &str) -> Result<(), Refusal> {
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
    Ok(())
}

/// Opens `name` beneath the directory `root`: the kernel resolves the name, refuses any
/// symbolic link and any way out of `root`, and opens the file, all in one system call.
#[cfg(target_os = "linux")]
fn open_beneath(root: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    use rustix::fs::ResolveFlags;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
    match rustix::fs::openat2(root, name, OPEN_FILE, Mode::empty(), resolve) {
        // openat2 came with Linux 5.6: before it, walk the name one component at a time.
        Err(Errno::NOSYS) => walk_beneath(root, name),
        opened => opened,
    }
}
// ANCHOR_END: resolve

#[cfg(not(target_os = "linux"))]
fn open_beneath(root: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    walk_beneath(root, name)
}

/// The same open without `openat2`: one `openat` per component, each relative to the
/// directory the previous one opened and each with `O_NOFOLLOW`, so that no link is followed
/// and no name is looked up twice.
fn walk_beneath(root: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    let mut parts = name
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .peekable();
    let mut dir: Option<OwnedFd> = None;
    while let Some(part) = parts.next() {
        if part == ".." {
            return Err(Errno::XDEV);
        }
        let at = dir.as_ref().map_or(root, |d| d.as_fd());
        let last = parts.peek().is_none();
        if last && !name.ends_with('/') {
            return rustix::fs::openat(at, part, OPEN_FILE, Mode::empty());
        }
        let directory = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(at, part, directory, Mode::empty()) {
            Ok(opened) => dir = Some(opened),
            // With O_DIRECTORY, a link is "not a directory": say that it is a link.
            Err(Errno::NOTDIR) if is_link(at, part) => return Err(Errno::LOOP),
            Err(e) => return Err(e),
        }
    }
    match dir {
        // "sub/": a directory, which fstat will refuse.
        Some(dir) => Ok(dir),
        // Only "." components: the root itself.
        None => rustix::fs::openat(root, ".", OPEN_FILE, Mode::empty()),
    }
}

fn is_link(dir: BorrowedFd<'_>, name: &str) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Symlink)
}

impl Root {
    /// The regular files directly in the root, with their sizes, in the order the directory
    /// gives them: read one entry at a time, so that listing a million files takes no more
    /// memory than listing ten. Names that could not be asked for are left out.
    pub fn files(&self) -> io::Result<impl Iterator<Item = io::Result<(String, u64)>> + '_> {
        Ok(self.entries()?.filter_map(Result::transpose))
    }

    /// Every entry of the root as it is examined: `Some((name, size))` for a regular file
    /// that [`open`](Root::open) would serve, `None` for one left out (a link, a directory, a
    /// name that could not be asked for). A caller that must bound its work counts these
    /// items, not only the files: a directory of 300,000 links lists no file, and costs as
    /// many entries. A link or a directory is told by the type the directory itself records
    /// (`d_type`), without a `stat`; only the other entries are `stat`'ed.
    pub fn entries(
        &self,
    ) -> io::Result<impl Iterator<Item = io::Result<Option<(String, u64)>>> + '_> {
        let dir = rustix::fs::Dir::read_from(self.fd.as_fd())?;
        Ok(dir.map(move |entry| {
            let entry = entry?;
            let known = entry.file_type();
            if known != FileType::RegularFile && known != FileType::Unknown {
                return Ok(None);
            }
            let Some(name) = entry.file_name().to_str().ok() else {
                return Ok(None);
            };
            if check_name(name).is_err() || name == "." || name == ".." {
                return Ok(None);
            }
            // Without following a link: only what `open` would serve is listed.
            let Ok(stat) = rustix::fs::statat(self.fd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW)
            else {
                return Ok(None);
            };
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Ok(None);
            }
            Ok(u64::try_from(stat.st_size)
                .ok()
                .map(|size| (name.to_string(), size)))
        }))
    }
}

/// One entry of a directory listing: a regular file or a directory, never anything else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    /// The size in bytes (0 for a directory).
    pub size: u64,
}

impl Root {
    /// The directory `name` beneath the root, opened the way [`Root::open`] opens a file (no
    /// link, no way out), as a root of its own: http-server lists it or serves its
    /// `index.html`. An empty name, or `.`, is the root itself.
    pub fn open_dir(&self, name: &str) -> Result<Root, Refusal> {
        if name.is_empty() || name == "." {
            return Ok(self.clone());
        }
        check_name(name)?;
        // A name ending in '/' makes both ways of opening stop at a directory.
        let fd = open_dir_beneath(self.fd.as_fd(), &format!("{}/", name.trim_end_matches('/')))?;
        let stat = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
            return Err(Refusal::NotFound);
        }
        Ok(Root {
            dir: self.dir.join(name),
            fd: Arc::new(fd),
        })
    }

    /// The regular files and directories directly in this root, in the order the directory
    /// gives them, without following links: what [`Root::open`] and [`Root::open_dir`] would
    /// open (http-server's listing). Like [`Root::entries`], one item per entry examined,
    /// `None` for one left out (a link, a device, a name that could not be asked for), so a
    /// caller bounds the entries it examines, not only those it lists: 200,000 links in one
    /// directory cost 0.7 s of CPU per listing when every one was `stat`'ed and none was
    /// counted. A link or a directory is told by the directory's own record (`d_type`).
    pub fn contents(&self) -> io::Result<impl Iterator<Item = io::Result<Option<Entry>>> + '_> {
        let dir = rustix::fs::Dir::read_from(self.fd.as_fd())?;
        Ok(dir.map(move |entry| {
            let entry = entry?;
            let known = entry.file_type();
            let Some(name) = entry.file_name().to_str().ok() else {
                return Ok(None);
            };
            if check_name(name).is_err() || name == "." || name == ".." {
                return Ok(None);
            }
            let (is_dir, size) = match known {
                FileType::Directory => (true, 0),
                FileType::RegularFile | FileType::Unknown => {
                    let Ok(stat) =
                        rustix::fs::statat(self.fd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW)
                    else {
                        return Ok(None);
                    };
                    match FileType::from_raw_mode(stat.st_mode) {
                        FileType::RegularFile => (false, u64::try_from(stat.st_size).unwrap_or(0)),
                        FileType::Directory => (true, 0),
                        _ => return Ok(None),
                    }
                }
                _ => return Ok(None),
            };
            Ok(Some(Entry {
                name: name.to_string(),
                is_dir,
                size,
            }))
        }))
    }
}

/// What [`Root::open_file`] learnt of the file it opened, from its one `fstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub size: u64,
    /// The modification time: seconds since 1970, and the nanoseconds within that second.
    pub mtime: i64,
    pub mtime_nsec: i64,
}

impl Root {
    /// [`Root::open`] for a server that answers many small requests (http-server): the same
    /// checks and the same open, the size and times from the `fstat` that checked the file,
    /// and `O_NONBLOCK` left set, which reads and `sendfile` of a regular file do not heed on
    /// Linux. Three system calls fewer per file than `open` and then `metadata`.
    pub fn open_file(&self, name: &str) -> Result<(File, FileInfo), Refusal> {
        check_name(name)?;
        let fd = open_beneath(self.fd.as_fd(), name)?;
        let stat = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(Refusal::NotAFile);
        }
        let info = FileInfo {
            size: u64::try_from(stat.st_size).unwrap_or(0),
            mtime: stat.st_mtime,
            mtime_nsec: i64::try_from(stat.st_mtime_nsec).unwrap_or(0),
        };
        Ok((File::from(fd), info))
    }
}

/// [`open_beneath`] for a directory: `name` ends in '/'.
#[cfg(target_os = "linux")]
fn open_dir_beneath(root: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    use rustix::fs::ResolveFlags;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat2(root, name, flags, Mode::empty(), resolve) {
        Err(Errno::NOSYS) => walk_beneath(root, name),
        opened => opened,
    }
}

#[cfg(not(target_os = "linux"))]
fn open_dir_beneath(root: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    walk_beneath(root, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Read;
    use std::os::unix::fs::symlink;

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

    fn read(file: File) -> String {
        let mut text = String::new();
        (&file).read_to_string(&mut text).unwrap();
        text
    }

    /// Both ways of opening beneath the root: openat2, and the walk it falls back to.
    fn both(root: &Root, name: &str) -> [Result<File, Refusal>; 2] {
        let walked = check_name(name).and_then(|()| {
            let fd = walk_beneath(root.fd.as_fd(), name)?;
            let stat = rustix::fs::fstat(&fd)?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Err(Refusal::NotAFile);
            }
            Ok(File::from(fd))
        });
        [root.open(name), walked]
    }

    #[test]
    fn serves_regular_files_under_the_root() {
        let (_dir, root) = root();
        for name in ["a.txt", "./a.txt", "sub/b.txt", "./sub/b.txt", "sub//b.txt"] {
            for opened in both(&root, name) {
                let text = read(opened.unwrap_or_else(|e| panic!("{name}: {e}")));
                assert!(text == "inside" || text == "deeper", "{name}");
            }
        }
    }

    #[test]
    fn a_name_too_long_for_the_file_system_is_not_found() {
        let (_dir, root) = root();
        for name in ["a".repeat(300), format!("sub/{}", "b".repeat(256))] {
            for opened in both(&root, &name) {
                assert!(
                    matches!(opened, Err(Refusal::NotFound)),
                    "{name}: {opened:?}"
                );
            }
        }
    }

    #[test]
    fn refuses_every_way_out() {
        let (dir, root) = root();
        symlink(
            dir.path().join("secret.txt"),
            dir.path().join("served/link"),
        )
        .unwrap();
        symlink("/etc", dir.path().join("served/etc")).unwrap();
        symlink("a.txt", dir.path().join("served/fine")).unwrap();
        symlink("sub", dir.path().join("served/subdir")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("served/fifo"),
            FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )
        .unwrap();
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
            ("a.txt/", "no such file"),
            ("sub", "not a regular file"),
            ("sub/", "not a regular file"),
            (".", "not a regular file"),
            ("fifo", "not a regular file"),
            // Every link is refused, even one that stays inside: a link can be changed
            // between two requests, and checking where it points is what the race defeats.
            ("link", "symbolic links"),
            ("etc/passwd", "symbolic links"),
            ("fine", "symbolic links"),
            ("subdir/b.txt", "symbolic links"),
        ] {
            for opened in both(&root, name) {
                let got = opened.unwrap_err().to_string();
                assert!(got.contains(reason), "{name:?}: {got}");
            }
        }
        assert!(matches!(
            root.open(&"x".repeat(MAX_NAME + 1)),
            Err(Refusal::TooLong)
        ));
        assert!(matches!(
            Root::new(Path::new("/dev")).unwrap().open("null"),
            Err(Refusal::NotAFile)
        ));
    }

    /// The attack on a check-then-open server: a link to a file outside is swapped, again and
    /// again, with a regular file inside. Whatever the timing, what is opened is never the
    /// outside file.
    #[test]
    fn a_link_swapped_in_during_the_open_is_never_followed() {
        let (dir, root) = root();
        let served = dir.path().join("served");
        symlink(dir.path().join("secret.txt"), served.join("swap")).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (stop, served) = (Arc::clone(&stop), served.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        served.join("a.txt"),
                        rustix::fs::CWD,
                        served.join("swap"),
                        rustix::fs::RenameFlags::EXCHANGE,
                    )
                    .unwrap();
                }
            })
        };
        let mut opened = 0;
        for _ in 0..20_000 {
            for file in both(&root, "a.txt").into_iter().flatten() {
                assert_eq!(read(file), "inside");
                opened += 1;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(opened > 0, "the regular file was never there to open");
    }

    #[test]
    fn lists_only_what_it_would_serve() {
        let (dir, root) = root();
        symlink(
            dir.path().join("secret.txt"),
            dir.path().join("served/link"),
        )
        .unwrap();
        let files: Vec<_> = root.files().unwrap().map(Result::unwrap).collect();
        assert_eq!(files, [("a.txt".to_string(), 6)]);
        // Every entry is examined once, "." and ".." too; only one is a file.
        let examined: Vec<_> = root.entries().unwrap().map(Result::unwrap).collect();
        assert_eq!(examined.len(), 5);
        assert_eq!(examined.iter().flatten().count(), 1);
    }

    #[test]
    fn the_root_must_be_a_directory() {
        let (dir, _) = root();
        assert!(Root::new(&dir.path().join("secret.txt")).is_err());
        assert!(Root::new(&dir.path().join("nope")).is_err());
    }

    #[test]
    fn opens_directories_beneath_the_root_and_lists_them() {
        let (dir, root) = root();
        symlink(dir.path(), dir.path().join("served/up")).unwrap();
        let (file, info) = root.open_file("a.txt").unwrap();
        assert_eq!((read(file), info.size), ("inside".to_string(), 6));
        assert!(matches!(root.open_file("sub"), Err(Refusal::NotAFile)));
        assert!(matches!(
            root.open_file("up/secret.txt"),
            Err(Refusal::Link)
        ));
        let sub = root.open_dir("sub").unwrap();
        assert_eq!(read(sub.open("b.txt").unwrap()), "deeper");
        assert!(root.open_dir("").is_ok() && root.open_dir("sub/").is_ok());
        for (name, reason) in [
            ("..", "'..'"),
            ("sub/../..", "'..'"),
            ("/etc", "absolute"),
            ("up", "symbolic links"),
            ("a.txt", "no such file"),
            ("missing", "no such file"),
        ] {
            let got = root.open_dir(name).unwrap_err().to_string();
            assert!(got.contains(reason), "{name:?}: {got}");
        }
        let mut entries: Vec<_> = root
            .contents()
            .unwrap()
            .filter_map(Result::unwrap)
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<_> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.is_dir))
            .collect();
        assert_eq!(names, [("a.txt", false), ("sub", true)]);
        assert_eq!(entries[0].size, 6);
        // Every entry examined is an item, the link `up`, `.` and `..` too, so a caller can
        // bound its work.
        assert_eq!(root.contents().unwrap().count(), 5);
    }
}
