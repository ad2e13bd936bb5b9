//! `get` and `list`: one connection, one request, one answer.

use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use common::report::Hint;
use common::size::{Progress, summary};
use common::text::{printable, printable_name};
use common::{CannotBind, ClientBindArgs, Hexdump, Proto};

use crate::args::Peer;
use crate::part::{self, Part};
use crate::protocol::{Connection, DOWNLOAD_PORT, Header, LineError, ListLine, Request, Version};
use crate::server::MAX_LISTED;

// ANCHOR: get
/// Downloads `name` into `target`, through `target.part`, which becomes `target` only when
/// every byte the header announced has arrived.
pub fn get(
    stream: &TcpStream,
    name: &str,
    target: &Path,
    mut part: Part,
    hexdump: Hexdump,
) -> anyhow::Result<()> {
    let mut conn = Connection::new(stream, hexdump)?;
    // What an earlier, cut download left (from this server): ask for the rest, of the version
    // it came from.
    part.talking_to(conn.peer());
    let (offset, ours) = part.resume_point();
    let ours = ours.cloned();
    conn.send(Request::Get {
        offset,
        version: ours.clone(),
        name: name.to_string(),
    })
    .context("cannot send the request")?;

    let line = read_line_in_time(&mut conn).map_err(no_answer)?;
    let (size, from, version) = match Header::parse(&line).map_err(anyhow::Error::msg)? {
        // From 0 (the file changed since the .part was written), or from where we asked, of
        // the version we have: the rest of another would make a file that never existed.
        Header::File {
            size,
            offset: from,
            version,
        } if from == 0 || (from == offset && ours.as_ref().is_none_or(|v| *v == version)) => {
            (size, from, version)
        }
        Header::File {
            offset: from,
            version,
            ..
        } if from == offset => return Err(other_version(name, ours.as_ref(), &version)),
        // The reason is the server's text: printed escaped, as everything a peer sends.
        Header::Refused(reason) => bail!("the server refused {name:?}: {}", printable(&reason)),
        other => bail!("the server answered {other}, not the file from offset {offset}"),
    };

    // Only now, with the file on its way, touch the disk: a refusal leaves nothing behind.
    part.check_space(size, size - from)?;
    let kept = part.kept();
    let file = part.begin(from, Some(&version))?;
    if from > 0 {
        common::sayln!("resuming {name:?} at byte {from} of {size}");
    }
    let started = Instant::now();
    let received = match receive(&mut conn, file, from, size) {
        Ok(received) => received,
        Err(e) if part::is_disk_full(&e) => return disk_full(part, e),
        Err(e) => return Err(e).context(kept),
    };
    if received < size - from {
        bail!(
            "the transfer was cut short at {} of {size} bytes; {kept}",
            from + received
        );
    }
    // On disk first, then renamed: the name appears only for a whole file.
    part.finish(target)?;
    common::sayln!(
        "downloaded {name:?} to {}: {}",
        target.display(),
        summary(size, received, started.elapsed())
    );
    Ok(())
}
// ANCHOR_END: get

/// The disk filled up although the file seemed to fit (something else wrote too): what
/// arrived is removed, so that the disk is not left full.
pub fn disk_full(part: Part, e: io::Error) -> anyhow::Result<()> {
    let path = part.path().display().to_string();
    part.discard()?;
    bail!("the disk filled up: {e}; removed {path}, so as not to leave the disk full")
}

// ANCHOR: receive
/// Copies the body, bytes `done..size` of the file, into `file`, with a progress bar when a
/// person is watching. Returns how many arrived before the server closed.
fn receive(conn: &mut Connection<'_>, file: &mut File, done: u64, size: u64) -> io::Result<u64> {
    let progress = Progress::new(size, done);
    let len = size - done;
    // The first bytes of the body may have come with the header, into the line reader's
    // buffer: they are written first (never more than the header announced).
    let head = conn.take_buffered();
    let head = head.get(..head.len().min(usize::try_from(len).unwrap_or(usize::MAX)));
    let head = head.ok_or(io::ErrorKind::InvalidData)?;
    file.write_all(head)?;
    progress.add(head.len() as u64);
    let head = head.len() as u64;
    Ok(head + copy(conn.stream(), file, len - head, &progress)?)
}

/// Moves up to `len` bytes from the socket to the file with `splice(2)`, through a pipe:
/// socket to pipe, pipe to file. The bytes go from the socket's buffers to the page cache
/// inside the kernel, as `sendfile` does on the server: one copy fewer than read and write.
#[cfg(target_os = "linux")]
fn copy(stream: &TcpStream, file: &File, len: u64, progress: &Progress) -> io::Result<u64> {
    use rustix::io::Errno;
    use rustix::pipe::{PipeFlags, SpliceFlags, splice};
    let (from_pipe, to_pipe) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
    // A larger pipe moves more per call (64 KiB by default; 1 MiB is what an unprivileged
    // process may ask for). Smaller is slower, not wrong.
    let _ = rustix::pipe::fcntl_setpipe_size(&to_pipe, 1 << 20);
    let mut received = 0;
    while received < len {
        let want = usize::try_from(len - received).map_or(1 << 20, |left| left.min(1 << 20));
        // The socket's read timeout applies here as to read(2).
        let n = match splice(stream, None, &to_pipe, None, want, SpliceFlags::MOVE) {
            Ok(0) => break, // The server closed early.
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut left = n;
        while left > 0 {
            match splice(&from_pipe, None, file, None, left, SpliceFlags::MOVE) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => left -= m,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        received += n as u64;
        progress.add(n as u64);
    }
    Ok(received)
}

/// Elsewhere, read and write through one buffer: memory stays flat whatever the file's size.
#[cfg(not(target_os = "linux"))]
fn copy(mut stream: &TcpStream, mut file: &File, len: u64, progress: &Progress) -> io::Result<u64> {
    use std::io::Read;
    let mut buf = vec![0u8; 256 * 1024];
    let mut received = 0;
    while received < len {
        // Never more than the header announced, whatever the server sends.
        let want = usize::try_from(len - received).map_or(buf.len(), |left| left.min(buf.len()));
        let n = match stream.read(buf.get_mut(..want).ok_or(io::ErrorKind::InvalidData)?) {
            Ok(0) => break, // The server closed early.
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        file.write_all(buf.get(..n).ok_or(io::ErrorKind::InvalidData)?)?;
        received += n as u64;
        progress.add(n as u64);
    }
    Ok(received)
}
// ANCHOR_END: receive

// ANCHOR: list
/// Lists the files the server offers, as they come: at most [`MAX_LISTED`] of them, as this
/// lesson's server sends, so that a lying server cannot print an endless listing.
pub fn list(stream: &TcpStream, hexdump: Hexdump) -> anyhow::Result<()> {
    let mut conn = Connection::new(stream, hexdump)?;
    conn.send(Request::List)?;
    let line = read_line_in_time(&mut conn).map_err(no_answer)?;
    match Header::parse(&line).map_err(anyhow::Error::msg)? {
        Header::Listing => {}
        Header::Refused(reason) => bail!("the server refused to list: {}", printable(&reason)),
        other => bail!("the server answered {other}, not a listing"),
    }
    // The whole listing within --timeout, not each line: a server that sent a line every
    // 0.9 s held `list --timeout 1` for as long as it liked, up to 1000 lines.
    let by = in_time(&conn).map_err(|e| e.into_report())?;
    let mut seen = 0;
    loop {
        let line = read_line_by(&mut conn, by).map_err(|e| match e.is_timeout() {
            true => late("the listing was cut short: not all of it within --timeout").context(
                Hint("the server sends it slowly: a longer --timeout gives it more time".into()),
            ),
            false => e.into_report().context("the listing was cut short"),
        })?;
        match ListLine::parse(&line).map_err(anyhow::Error::msg)? {
            ListLine::File { .. } if seen == MAX_LISTED => {
                bail!(
                    "the server sent more than {MAX_LISTED} files, the most a listing has: stopped"
                )
            }
            ListLine::File { size, name } => {
                common::sayln!("{size} {}", printable_name(&name));
                seen += 1;
            }
            ListLine::End { count, .. } if count != seen => {
                bail!("the listing was cut short: {seen} of {count} files arrived")
            }
            ListLine::End { note, .. } => {
                if let Some(note) = note {
                    common::console::say_err(format_args!("note: the server {}", printable(&note)));
                }
                return Ok(());
            }
        }
    }
}
// ANCHOR_END: list

/// The server's next line, which must come whole within --timeout (the socket's read
/// timeout): a server sending it a byte at a time, each just within the timeout, could
/// otherwise make one line of up to `MAX_LINE` bytes last 4,096 timeouts.
fn read_line_in_time(conn: &mut Connection<'_>) -> Result<String, LineError> {
    let by = in_time(conn)?;
    read_line_by(conn, by)
}

/// --timeout (the socket's read timeout) from now, if there is one.
fn in_time(conn: &Connection<'_>) -> Result<Option<Instant>, LineError> {
    let timeout = conn.stream().read_timeout().map_err(LineError::Io)?;
    Ok(timeout.and_then(|timeout| Instant::now().checked_add(timeout)))
}

/// The server's next line, whole by `deadline` if there is one.
fn read_line_by(conn: &mut Connection<'_>, deadline: Option<Instant>) -> Result<String, LineError> {
    match deadline {
        Some(deadline) => conn.read_line_by(deadline),
        None => conn.read_line(),
    }
}

/// The rest of another version than the one the `.part` holds: the two would not make one
/// file.
fn other_version(name: &str, ours: Option<&Version>, theirs: &Version) -> anyhow::Error {
    let ours = ours.map_or_else(String::new, Version::to_string);
    anyhow!(
        "the server sent the rest of version {theirs} of {name:?}, but what we have is of \
         version {ours}: the two would not make one file (the .part is kept)"
    )
    .context(Hint(
        "--force discards the .part and fetches the whole file".into(),
    ))
}

/// The error for a header that did not come.
fn no_answer(e: LineError) -> anyhow::Error {
    match e {
        LineError::Closed(0) => anyhow!(
            "the server closed the connection without answering\n\
             hint: a server started with `serve --protocol seed` answers only \
             `get --protocol seed`"
        ),
        e if e.is_timeout() => late("no whole answer from the server within --timeout"),
        e => e.into_report().context("no answer from the server"),
    }
}

/// A line that did not come in time: the timeout error brings its hint.
fn late(what: &'static str) -> anyhow::Error {
    anyhow::Error::new(io::Error::from(io::ErrorKind::TimedOut)).context(what)
}

/// Connects to the first of the server's addresses that answers.
pub fn connect(peer: &Peer) -> anyhow::Result<TcpStream> {
    let mut failure = anyhow!("the name resolved to no address");
    for addr in peer.to.resolve(DOWNLOAD_PORT)? {
        match connect_from(&peer.local, addr, peer.timeout) {
            Ok(stream) => {
                stream.set_read_timeout(Some(peer.timeout))?;
                stream.set_write_timeout(Some(peer.timeout))?;
                return Ok(stream);
            }
            Err(e) => failure = e,
        }
    }
    Err(failure)
}

/// connect(), from `--bind`/`--port` when they were given (bind first, then connect), else
/// from wherever the OS chooses.
fn connect_from(
    local: &ClientBindArgs<0>,
    addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<TcpStream> {
    let context = || format!("cannot connect to {addr}");
    if local.is_default() {
        return TcpStream::connect_timeout(&addr, timeout).with_context(context);
    }
    let from = local.local_addr(addr)?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket
        .bind(&from.into())
        .with_context(|| CannotBind::new(from, Proto::Tcp))?;
    socket
        .connect_timeout(&addr.into(), timeout)
        .with_context(context)?;
    Ok(socket.into())
}

/// The local name of a download: the last component of the requested name, so that no name
/// from the command line or the network can make the client write outside this directory.
pub fn local_name(name: &str) -> anyhow::Result<PathBuf> {
    match Path::new(name).file_name() {
        Some(last) => Ok(PathBuf::from(last)),
        None => bail!("{name:?} does not end in a file name; give one with -o PATH"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_stay_in_this_directory() {
        assert_eq!(local_name("notes.txt").unwrap(), Path::new("notes.txt"));
        assert_eq!(local_name("a/b/c.bin").unwrap(), Path::new("c.bin"));
        assert_eq!(local_name("/etc/passwd").unwrap(), Path::new("passwd"));
        assert_eq!(local_name("../../x").unwrap(), Path::new("x"));
        for bad in ["..", "a/..", "/", "."] {
            assert!(local_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            part::with_suffix(Path::new("d/x.bin"), ".part"),
            Path::new("d/x.bin.part")
        );
    }
}
