//! The client's side of the disk. A download is written to `NAME.part`; beside it,
//! `NAME.part.version` keeps the version of the server's file that those bytes came from; and
//! `NAME` appears, by a rename, only when every byte has arrived.
//!
//! The directory may not be only the user's (`/tmp`, a shared folder), so nothing here writes
//! through a name that someone else could have prepared: a `.part` is created with `O_EXCL`
//! (it must be new) and opened with `O_NOFOLLOW` (never through a symbolic link), and what was
//! opened is checked with `fstat`. A `.part` to resume must be the user's own and writable by
//! no one else, or another user could have planted its bytes; and it is locked (`flock`) while
//! a download writes it, so that two runs of one download cannot interleave their bytes.
//!
//! A server says how large its file is, or (the seed's protocol) says nothing and sends until
//! it closes: either way it could fill the disk. A download must fit with a margin left free,
//! and within `--max-size`; a `.part` that filled the disk anyway is removed.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use common::size::amount;
use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::protocol::Version;

/// The most space a download leaves free, at least: 5% of the file system, up to this.
const MAX_MARGIN: u64 = 64 << 20;

/// The `.part` file of one download, and what is known about it before the server answers.
pub struct Part {
    path: PathBuf,
    version_path: PathBuf,
    /// An earlier `.part` to resume.
    resume: Option<Resume>,
    /// An earlier `.part` to remove once the server has said that the file is on its way.
    discard: bool,
    /// The file being written, once the server has answered.
    file: Option<File>,
    /// The largest file the user accepts (`--max-size`).
    max_size: Option<u64>,
    /// The server the bytes come from, kept beside the version.
    server: Option<SocketAddr>,
    /// Whether the finished file may replace one of the same name (`--force`).
    overwrite: bool,
}

/// An earlier `.part`, open, with the version its bytes belong to.
struct Resume {
    file: File,
    len: u64,
    version: Version,
    /// The server its bytes came from (none in a version file written before it was kept).
    server: Option<SocketAddr>,
}

/// Renames `from` to `to` unless `to` exists (`renameat2` with `RENAME_NOREPLACE`): a plain
/// rename would replace a file made at `to` during the download.
fn rename_new(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        // A file system that cannot (some network ones): one more look, then the plain rename.
        Err(Errno::INVAL) if fs::symlink_metadata(to).is_err() => fs::rename(from, to),
        renamed => renamed.map_err(io::Error::from),
    }
}

/// Opening an existing `.part` for more bytes: never through a link, never waiting on a FIFO.
/// (Not `O_APPEND`: `splice` refuses to write to such a file; the offset is set instead.)
const APPEND: OFlags = OFlags::WRONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// Creating a new one: it must not exist, not even as a link.
const CREATE: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Part {
    /// Looks at what an earlier run left for `target`, before anything goes on the network,
    /// and says what will be done with it.
    pub fn prepare(
        target: &Path,
        resume: bool,
        force: bool,
        max_size: Option<u64>,
    ) -> anyhow::Result<Part> {
        let path = with_suffix(target, ".part");
        let version_path = with_suffix(target, ".part.version");
        let mut part = Part {
            path,
            version_path,
            resume: None,
            discard: false,
            file: None,
            max_size,
            server: None,
            overwrite: force,
        };
        let Ok(meta) = fs::symlink_metadata(&part.path) else {
            if resume {
                common::sayln!(
                    "nothing to resume: {} does not exist; fetching all of it",
                    part.path.display()
                );
            }
            return Ok(part);
        };
        check_what_is_there(&meta, &part.path, resume, force)?;
        let shown = part.path.display();
        if !resume {
            common::sayln!("discarding {shown} ({})", amount(meta.len()));
            part.discard = true;
            return Ok(part);
        }
        let file = open_existing(&part.path)?;
        let len = file.metadata()?.len();
        check_owned(&file, &part.path)?;
        match read_version(&part.version_path) {
            Some((version, server)) => {
                part.resume = Some(Resume {
                    file,
                    len,
                    version,
                    server,
                });
            }
            None => {
                common::sayln!(
                    "{shown} has no version beside it ({}): there is no telling which file its \
                     bytes came from, so starting over",
                    part.version_path.display()
                );
                part.discard = true;
            }
        }
        Ok(part)
    }

    /// The server this download talks to, before it asks. A `.part` whose bytes came from
    /// another server is started over: its version is what that server said, and a server
    /// that lied, giving the real version with bytes of its own, made `--continue` from the
    /// real one join its bytes to the real end and say `downloaded`.
    pub fn talking_to(&mut self, server: SocketAddr) {
        self.server = Some(server);
        let from = self.resume.as_ref().and_then(|r| r.server);
        if let Some(from) = from.filter(|&from| from != server) {
            common::sayln!(
                "{} came from {from}, not from {server}: starting over",
                self.path.display()
            );
            self.resume = None;
            self.discard = true;
        }
    }

    /// Where to ask the server to start, and the version those first bytes belong to.
    pub fn resume_point(&self) -> (u64, Option<&Version>) {
        self.resume
            .as_ref()
            .map_or((0, None), |r| (r.len, Some(&r.version)))
    }

    /// Refuses a download larger than `--max-size`, or one that would not leave the disk a
    /// margin free, before a byte of it is written.
    pub fn check_space(&self, size: u64, to_write: u64) -> anyhow::Result<()> {
        if let Some(max) = self.max_size.filter(|&max| size > max) {
            bail!(
                "the server announces a file of {}, more than --max-size {}",
                amount(size),
                amount(max)
            );
        }
        let (room, dir, free) = self.room()?;
        if to_write > room {
            bail!(
                "the server announces a file of {}, and {} of it would not fit: {} has {} free, \
                 and a download leaves 5% of the disk (at most {}) free\n\
                 hint: free some space, or download elsewhere with -o PATH",
                amount(size),
                amount(to_write),
                dir.display(),
                amount(free),
                amount(MAX_MARGIN)
            );
        }
        Ok(())
    }

    /// The most bytes this download may write: the free space less the margin, and no more
    /// than `--max-size`. (The seed's protocol sends no size: its client stops here.)
    pub fn limit(&self) -> anyhow::Result<u64> {
        let (room, _, _) = self.room()?;
        Ok(self.max_size.map_or(room, |max| max.min(room)))
    }

    /// The room for this download: the free space less the margin; the directory; its free
    /// space.
    fn room(&self) -> anyhow::Result<(u64, &Path, u64)> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let fs = rustix::fs::statvfs(dir)
            .with_context(|| format!("cannot see the free space in {}", dir.display()))?;
        let free = fs.f_bavail.saturating_mul(fs.f_frsize);
        let margin = (fs.f_blocks.saturating_mul(fs.f_frsize) / 20).min(MAX_MARGIN);
        Ok((free.saturating_sub(margin), dir, free))
    }

    /// The file to write the body into, once the server has answered: the `.part` it sends
    /// from byte `from` of `version` (none in the seed's protocol).
    pub fn begin(&mut self, from: u64, version: Option<&Version>) -> anyhow::Result<&mut File> {
        let file = match self.resume.take() {
            Some(Resume { mut file, len, .. }) if from == len => {
                // The rest goes after what is there.
                file.seek(io::SeekFrom::Start(len))?;
                file
            }
            Some(Resume { file, .. }) => {
                // The server sends all of it: its file is not the one these bytes came from.
                common::sayln!(
                    "the file changed on the server since {} was written: starting over",
                    self.path.display()
                );
                file.set_len(0)?;
                self.write_version(version)?;
                file
            }
            None => {
                if self.discard {
                    remove_if_there(&self.path)?;
                }
                let file = create_new(&self.path)?;
                // Nothing is left behind when the version cannot be written beside it.
                if let Err(e) = self.write_version(version) {
                    let _ = fs::remove_file(&self.path);
                    return Err(e);
                }
                file
            }
        };
        Ok(self.file.insert(file))
    }

    /// A whole file: on disk first, then renamed, so that `target` appears only complete.
    pub fn finish(self, target: &Path) -> anyhow::Result<()> {
        if let Some(file) = &self.file {
            file.sync_all()
                .map_err(|e| disk_error(format!("cannot write {}", self.path.display()), e))?;
        }
        let renamed = if self.overwrite {
            fs::rename(&self.path, target)
        } else {
            rename_new(&self.path, target)
        };
        renamed.map_err(|e| {
            let (part, target) = (self.path.display(), target.display());
            if e.kind() == io::ErrorKind::AlreadyExists {
                // It was not there when the download began: someone made it meanwhile.
                return anyhow::anyhow!(
                    "{target} appeared while downloading; the download is kept in {part}\n\
                     hint: compare the two, then `mv {part} {target}` if you want ours"
                );
            }
            disk_error(format!("cannot rename {part} to {target}"), e)
        })?;
        remove_if_there(&self.version_path)?;
        Ok(())
    }

    /// Nothing worth keeping arrived: removes what `begin` created.
    pub fn discard(self) -> anyhow::Result<()> {
        drop(self.file);
        remove_if_there(&self.path)?;
        remove_if_there(&self.version_path)?;
        Ok(())
    }

    /// Where the download is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the user is told when a transfer is cut short.
    pub fn kept(&self) -> String {
        format!(
            "{} keeps what arrived: run again with --continue to fetch the rest",
            self.path.display()
        )
    }

    fn write_version(&self, version: Option<&Version>) -> anyhow::Result<()> {
        remove_if_there(&self.version_path)?;
        if let Some(version) = version {
            let mut file = create_new(&self.version_path)?;
            writeln!(file, "{version}")?;
            if let Some(server) = self.server {
                writeln!(file, "from {server}")?;
            }
        }
        Ok(())
    }
}

/// Opens an existing `.part` to append to it: a link is refused, and so is anything but a
/// regular file.
fn open_existing(path: &Path) -> anyhow::Result<File> {
    let fd: OwnedFd = match rustix::fs::open(path, APPEND, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => bail!(
            "{} is a symbolic link: refusing to write through it",
            path.display()
        ),
        Err(e) => {
            return Err(io::Error::from(e)).context(format!("cannot open {}", path.display()));
        }
    };
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        bail!("{} is not a regular file", path.display());
    }
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
    lock(fd.as_fd(), path)?;
    Ok(File::from(fd))
}

// ANCHOR: lock
/// Takes the `.part`'s lock, or refuses at once if another download holds it: two runs
/// appending to one file would interleave their bytes. The lock is the kernel's (`flock`),
/// held by the open file, and so released however this program ends.
fn lock(fd: rustix::fd::BorrowedFd<'_>, path: &Path) -> anyhow::Result<()> {
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => bail!(
            "{} is being written by another download of the same file: refusing to write \
             it too\nhint: wait for that one to finish, or stop it and run again with --continue",
            path.display()
        ),
        Err(e) => {
            return Err(io::Error::from(e)).context(format!("cannot lock {}", path.display()));
        }
    }
    // The other download may have finished, and renamed this file, just before the lock was
    // ours: the name must still lead to the file that is locked.
    let named = rustix::fs::lstat(path).ok();
    let locked = rustix::fs::fstat(fd)?;
    if named.is_none_or(|n| (n.st_dev, n.st_ino) != (locked.st_dev, locked.st_ino)) {
        bail!(
            "{} was renamed or removed by another download while this one started",
            path.display()
        );
    }
    Ok(())
}
// ANCHOR_END: lock

// ANCHOR: owned
/// A `.part` to resume must be this user's and writable by no one else: in a shared
/// directory, another user could have put it there, with bytes of their choosing.
fn check_owned(file: &File, path: &Path) -> anyhow::Result<()> {
    let meta = file.metadata()?;
    let me = rustix::process::geteuid().as_raw();
    let hint = "hint: --force discards it and downloads all of the file again";
    if meta.uid() != me {
        bail!(
            "{} belongs to another user (uid {}): refusing to resume it, as its bytes may be \
             anyone's\n{hint}",
            path.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "{} is writable by other users (mode {:o}): refusing to resume it, as its bytes \
             may be anyone's\n{hint}",
            path.display(),
            meta.mode() & 0o7777
        );
    }
    Ok(())
}
// ANCHOR_END: owned

/// An error of the local disk, told as such: without the OS error in the chain, so that no
/// hint meant for sockets (ports below 1024) is given for a file, and with the disk's own.
pub fn disk_error(what: String, e: io::Error) -> anyhow::Error {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied => {
            "\nhint: you may not write there: download into a directory of yours with -o PATH"
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            "\nhint: that file system is read-only: download elsewhere with -o PATH"
        }
        _ => "",
    };
    anyhow::anyhow!("{what}: {e}{hint}")
}

/// Whether a write failed because the disk (or the user's quota) is full.
pub fn is_disk_full(e: &io::Error) -> bool {
    matches!(Errno::from_io_error(e), Some(Errno::NOSPC | Errno::DQUOT))
}

/// Creates `path`, which must not exist in any form, a link included.
fn create_new(path: &Path) -> anyhow::Result<File> {
    let mode = Mode::RUSR | Mode::WUSR | Mode::RGRP | Mode::ROTH;
    match rustix::fs::open(path, CREATE, mode) {
        Ok(fd) => {
            lock(fd.as_fd(), path)?;
            Ok(File::from(fd))
        }
        Err(Errno::EXIST) => bail!(
            "{} appeared while this download started: refusing to write to it",
            path.display()
        ),
        Err(e) => Err(disk_error(
            format!("cannot create {}", path.display()),
            e.into(),
        )),
    }
}

/// The version kept beside a `.part`, if it is there and readable (never through a link),
/// and the server it came from, if the file says.
fn read_version(path: &Path) -> Option<(Version, Option<SocketAddr>)> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = File::from(rustix::fs::open(path, flags, Mode::empty()).ok()?);
    let meta = file.metadata().ok()?;
    // Planted by another user, or writable by one: no version, so no resume.
    let me = rustix::process::geteuid().as_raw();
    if !meta.is_file() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        return None;
    }
    let mut text = String::new();
    file.take(200).read_to_string(&mut text).ok()?;
    let mut lines = text.lines();
    let version = Version::parse(lines.next()?.trim_end()).ok()?;
    let server = lines
        .next()
        .and_then(|line| line.strip_prefix("from "))
        .and_then(|addr| addr.trim_end().parse().ok());
    Some((version, server))
}

/// Refuses what an earlier run did not leave, or what the user did not say to do with it: a
/// link (unless --force), anything but a file, and a `.part` with neither --continue nor
/// --force.
fn check_what_is_there(
    meta: &fs::Metadata,
    path: &Path,
    resume: bool,
    force: bool,
) -> anyhow::Result<()> {
    let shown = path.display();
    if meta.is_symlink() {
        if !force {
            bail!(
                "{shown} is a symbolic link: refusing to write through it (someone may \
                 have put it there to make this download overwrite another file)\n\
                 hint: look at it with `ls -l {shown}`; --force removes the link (not \
                 what it points to) and starts over"
            );
        }
    } else if !meta.is_file() {
        // Nothing a download left: --force would fail to remove a directory, and
        // --continue to append to it.
        bail!(
            "{shown} is {}, not what a download leaves: nothing was changed\n\
             hint: move it away, or download under another name with --output",
            file_kind(meta)
        );
    } else if !resume && !force {
        bail!(
            "{shown} holds {} from an earlier download\n\
             hint: --continue resumes it; --force discards it and starts over",
            amount(meta.len())
        );
    }
    Ok(())
}

/// What `meta` is, for a message: `a directory`, `a named pipe` ...
fn file_kind(meta: &fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Removes a file or a link (never what a link points to); gone already is fine. A failure
/// names the file: in a shared directory with the sticky bit (`/tmp`), another user's
/// `x.part.version` cannot be removed, and a bare `Operation not permitted` named nothing.
fn remove_if_there(path: &Path) -> anyhow::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(disk_error(format!("cannot remove {}", path.display()), e)),
        Ok(()) => Ok(()),
    }
}

/// `notes.txt` downloads into `notes.txt.part`.
pub fn with_suffix(target: &Path, suffix: &str) -> PathBuf {
    let mut path = target.as_os_str().to_owned();
    path.push(suffix);
    PathBuf::from(path)
}
