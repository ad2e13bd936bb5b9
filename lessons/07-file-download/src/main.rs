//! File download over TCP: a server that sends the files under one directory, and a client
//! that fetches one safely, resumably and at full speed.
//!
//! Terminal 1:  cargo run -p file-download -- serve --root docs
//! Terminal 2:  cargo run -p file-download -- get book.toml
//!
//! Pitfall: when the connection ends, TCP tells you that the sender closed, not that you
//! have everything. Only a size sent before the bytes tells a whole file from a cut one.
#![forbid(unsafe_code)]

mod part;
mod protocol;
mod seed;

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};
use common::text::{count, printable};
use common::{BindArgs, CannotBind, ClientBindArgs, Hexdump, HostPort, Proto, Root, Slots};
use part::Part;
use protocol::{Connection, DOWNLOAD_PORT, Header, LineError, ListLine, Request, Version};

/// The most files one listing shows: a listing costs the server time and the client screen
/// space, so it has a bound, and says when it stopped there.
const MAX_LISTED: u64 = 1000;

/// File download over TCP: serve a directory, get a file, list what is offered.
/// Chapter: "File download".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Cmd,

    /// Show the request, header and listing lines' bytes on stderr (not the file's).
    #[arg(long, global = true)]
    hexdump: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the regular files under a directory.
    Serve {
        /// The directory whose files are served; nothing outside it ever is.
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,

        #[command(flatten)]
        bind: BindArgs<DOWNLOAD_PORT>,

        /// The wire protocol: this lesson's framed one, or the seed's raw one.
        #[arg(long, value_enum, default_value_t = Wire::Framed)]
        protocol: Wire,

        /// Most clients served at once; one more gets "ERR busy".
        #[arg(long, value_name = "N", default_value_t = 64)]
        max_clients: usize,

        /// How long to wait for a client: it has SECS to send its whole request, and a
        /// transfer that makes no progress for SECS (the client reads nothing) is dropped.
        #[arg(long, value_name = "SECS", default_value = "10", value_parser = common::seconds)]
        timeout: Duration,
    },
    /// Download one file into the current directory.
    Get {
        /// The file's name on the server.
        name: String,

        #[command(flatten)]
        peer: Peer,

        /// Where to write it [default: the last part of NAME, in the current directory].
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,

        /// Overwrite the file if it exists; discard an earlier NAME.part.
        #[arg(long)]
        force: bool,

        /// Resume: keep what an earlier, cut download left in NAME.part, fetch the rest
        /// (all of it again if the file changed on the server).
        #[arg(long = "continue")]
        resume: bool,

        /// The wire protocol: this lesson's framed one, or the seed's raw one.
        #[arg(long, value_enum, default_value_t = Wire::Framed)]
        protocol: Wire,
    },
    /// List the files the server offers, with their sizes.
    List {
        #[command(flatten)]
        peer: Peer,
    },
}

/// The server a client talks to, and its own end of the connection.
#[derive(clap::Args)]
struct Peer {
    /// The server, HOST[:PORT] (port 6664 if none is given).
    #[arg(long, value_name = "HOST[:PORT]", default_value = "127.0.0.1")]
    to: HostPort,

    #[command(flatten)]
    local: ClientBindArgs<0>,

    /// How long to wait for the server: to connect, to answer, and while a transfer stalls.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = common::seconds)]
    timeout: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Wire {
    /// A request line, then a header with the size, then exactly that many bytes.
    Framed,
    /// The seed's: the bare name, then the file's bytes until the server closes.
    Seed,
}

fn main() -> ExitCode {
    common::run(download)
}

fn download(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    match args.command {
        Cmd::Serve {
            root,
            bind,
            protocol,
            max_clients,
            timeout,
        } => {
            let root =
                Root::new(&root).with_context(|| format!("cannot serve {}", root.display()))?;
            serve(
                &root,
                &bind,
                protocol,
                Slots::new(max_clients, max_clients),
                timeout,
                hexdump,
            )
        }
        Cmd::Get {
            name,
            peer,
            output,
            force,
            resume,
            protocol,
        } => {
            let target = match output {
                Some(path) => path,
                None => local_name(&name)?,
            };
            if target.exists() && !force {
                bail!("{} exists; --force overwrites it", target.display());
            }
            if protocol == Wire::Seed && resume {
                bail!("the seed's protocol cannot resume: it has no offsets");
            }
            // What an earlier run left is looked at, and told, before the network is used.
            let part = Part::prepare(&target, resume, force)?;
            let stream = connect(&peer)?;
            match protocol {
                Wire::Framed => get(&stream, &name, &target, part, hexdump),
                Wire::Seed => seed::get(stream, &name, &target, part),
            }
        }
        Cmd::List { peer } => list(&connect(&peer)?, hexdump),
    }
}

// ANCHOR: serve
fn serve(
    root: &Root,
    bind: &BindArgs<DOWNLOAD_PORT>,
    wire: Wire,
    slots: Slots,
    timeout: Duration,
    hexdump: Hexdump,
) -> anyhow::Result<()> {
    let local = bind.local_addr()?;
    // socket, SO_REUSEADDR, bind and listen(128) in one call (see the TCP server chapter).
    let listener = TcpListener::bind(local).with_context(|| CannotBind::new(local, Proto::Tcp))?;
    common::announce_listening(listener.local_addr()?, Proto::Tcp);
    println!("serving the files under {}", root.path().display());
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                common::log_error("accept failed", e);
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                println!("refused {peer}: {full} (--max-clients)");
                // One short line into an empty send buffer: this write does not wait.
                let _ = Connection::new(&stream, hexdump)
                    .and_then(|mut conn| conn.send(Header::Refused("busy".into())));
                continue;
            }
        };
        let root = root.clone();
        thread::spawn(move || {
            // SO_SNDTIMEO: a write that can put nothing into the send buffer for --timeout,
            // because the client reads nothing, fails instead of holding the thread for ever.
            let served = match stream.set_write_timeout(Some(timeout)) {
                Err(e) => Err(e.into()),
                Ok(()) if wire == Wire::Seed => seed::serve_client(&stream, &root, timeout),
                Ok(()) => serve_client(&stream, &root, timeout, hexdump),
            };
            if let Err(e) = served {
                common::log_error(format_args!("{peer}"), e);
            }
            drop(slot);
        });
    }
}
// ANCHOR_END: serve

// ANCHOR: serve_client
/// Reads one request and answers it: a header line, then the file's bytes or the listing.
fn serve_client(
    stream: &TcpStream,
    root: &Root,
    timeout: Duration,
    hexdump: Hexdump,
) -> anyhow::Result<()> {
    let mut conn = Connection::new(stream, hexdump)?;
    let peer = conn.peer();
    // The whole request must arrive within --timeout, however slowly its bytes trickle in.
    let line = match conn.read_line_by(Instant::now() + timeout) {
        Ok(line) => line,
        Err(e) if e.is_timeout() => {
            println!("{peer} timed out: no complete request within --timeout; closing");
            return Ok(());
        }
        // A client that has gone cannot be told anything.
        Err(e @ (LineError::Closed(_) | LineError::Io(_))) => {
            println!("no request from {peer}: {e}");
            return Ok(());
        }
        Err(e) => {
            println!("bad request from {peer}: {e}");
            return Ok(conn.send(Header::Refused(e.to_string()))?);
        }
    };
    let (offset, version, name) = match Request::parse(&line) {
        Ok(Request::Get {
            offset,
            version,
            name,
        }) => (offset, version, name),
        Ok(Request::List) => return send_listing(&mut conn, root),
        Err(why) => {
            println!("bad request from {peer}: {why}");
            return Ok(conn.send(Header::Refused(why))?);
        }
    };
    let file = match root.open(&name) {
        Ok(file) => file,
        Err(refusal) => {
            println!("refused {peer}: {name:?}: {refusal}");
            return Ok(conn.send(Header::Refused(refusal.to_string()))?);
        }
    };
    // fstat on the open file: the size and version of what will be sent.
    let meta = file.metadata()?;
    let size = meta.len();
    let current = Version::new(size, meta.mtime(), meta.mtime_nsec());
    // As HTTP's If-Range: the rest of the version the client has, or else all of it.
    let offset = match version {
        Some(theirs) if theirs != current => {
            println!("{peer} has {name:?} at version {theirs}, now {current}: sending all of it");
            0
        }
        _ => offset,
    };
    if offset > size {
        println!("refused {peer}: {name:?}: offset {offset} is past the end ({size} bytes)");
        let why = format!("offset {offset} is past the end of the file ({size} bytes)");
        return Ok(conn.send(Header::Refused(why))?);
    }

    // The header says how many bytes follow, before the first one is sent.
    conn.send(Header::File {
        size,
        offset,
        version: current,
    })?;
    let started = Instant::now();
    let sent = match send_file(&file, conn.stream(), offset, size - offset) {
        Ok(sent) => sent,
        Err(e) if is_stall(&e) => {
            println!("{peer} stalled: it read nothing for --timeout; dropping it");
            return Ok(());
        }
        Err(e) => return Err(e).context(format!("sending {name:?} failed")),
    };
    if sent < size - offset {
        bail!(
            "{name:?} shrank while it was sent: {sent} of {} bytes",
            size - offset
        );
    }
    println!(
        "sent {name:?} to {peer}: {} from offset {offset} in {:.2?}",
        count(sent, "byte", "bytes"),
        started.elapsed()
    );
    Ok(())
}
// ANCHOR_END: serve_client

// ANCHOR: send_file
/// Sends `len` bytes of `file`, from byte `offset` on, down the connection.
#[cfg(target_os = "linux")]
fn send_file(file: &File, stream: &TcpStream, mut offset: u64, len: u64) -> io::Result<u64> {
    let mut sent = 0;
    while sent < len {
        let chunk = usize::try_from(len - sent)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        // sendfile(2): the kernel moves the bytes from the page cache to the socket; they
        // never pass through this program's memory. It advances `offset` itself.
        match rustix::fs::sendfile(stream, file, Some(&mut offset), chunk) {
            Ok(0) => break, // The file ended early: it shrank while we sent it.
            Ok(n) => sent += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(sent)
}

/// Elsewhere, a plain copy through a buffer.
#[cfg(not(target_os = "linux"))]
fn send_file(mut file: &File, mut stream: &TcpStream, offset: u64, len: u64) -> io::Result<u64> {
    use std::io::Seek;
    file.seek(io::SeekFrom::Start(offset))?;
    io::copy(&mut file.take(len), &mut stream)
}
// ANCHOR_END: send_file

// ANCHOR: send_listing
/// Answers LIST: a header, one line per regular file as the directory yields it, and an
/// `END` line with the count, which says so if the listing stopped at [`MAX_LISTED`].
fn send_listing(conn: &mut Connection<'_>, root: &Root) -> anyhow::Result<()> {
    let peer = conn.peer();
    conn.queue(Header::Listing)?;
    let mut listed = 0;
    let mut note = None;
    let sent = (|| -> io::Result<()> {
        for file in root.files()? {
            let (name, size) = file?;
            if listed == MAX_LISTED {
                note = Some(format!(
                    "stopped at {MAX_LISTED} files, the most one listing shows"
                ));
                break;
            }
            // Lines leave as the buffer fills: memory stays flat, however many files.
            conn.queue(ListLine::File { size, name })?;
            listed += 1;
        }
        conn.send(ListLine::End {
            count: listed,
            note: note.clone(),
        })
    })();
    match sent {
        Ok(()) => {}
        Err(e) if is_stall(&e) => {
            println!("{peer} stalled: it read nothing for --timeout; dropping it");
            return Ok(());
        }
        Err(e) => return Err(e).context("listing failed"),
    }
    let stopped = if note.is_some() {
        " (stopped there)"
    } else {
        ""
    };
    println!(
        "listed {} for {peer}{stopped}",
        count(listed, "file", "files")
    );
    Ok(())
}
// ANCHOR_END: send_listing

/// Whether a write failed because the peer read nothing for the whole write timeout.
fn is_stall(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

// ANCHOR: get
/// Downloads `name` into `target`, through `target.part`, which becomes `target` only when
/// every byte the header announced has arrived.
fn get(
    stream: &TcpStream,
    name: &str,
    target: &Path,
    mut part: Part,
    hexdump: Hexdump,
) -> anyhow::Result<()> {
    let mut conn = Connection::new(stream, hexdump)?;
    // What an earlier, cut download left: ask for the rest, of the version it came from.
    let (offset, version) = part.resume_point();
    conn.send(Request::Get {
        offset,
        version: version.cloned(),
        name: name.to_string(),
    })
    .context("cannot send the request")?;

    let line = conn.read_line().map_err(no_answer)?;
    let (size, from, version) = match Header::parse(&line).map_err(anyhow::Error::msg)? {
        // From where we asked, or from 0 when the file changed since the .part was written.
        Header::File {
            size,
            offset: from,
            version,
        } if from == offset || from == 0 => (size, from, version),
        Header::Refused(reason) => bail!("the server refused {name:?}: {reason}"),
        other => bail!("the server answered {other}, not the file from offset {offset}"),
    };

    // Only now, with the file on its way, touch the disk: a refusal leaves nothing behind.
    part.check_space(size, size - from)?;
    let kept = part.kept();
    let file = part.begin(from, Some(&version))?;
    if from > 0 {
        println!("resuming {name:?} at byte {from} of {size}");
    }
    let started = Instant::now();
    let received = receive(conn.body(), file, from, size).context(kept.clone())?;
    if received < size - from {
        bail!(
            "the transfer was cut short at {} of {size} bytes; {kept}",
            from + received
        );
    }
    // On disk first, then renamed: the name appears only for a whole file.
    part.finish(target)?;
    println!(
        "downloaded {name:?} to {}: {}",
        target.display(),
        summary(size, received, started.elapsed())
    );
    Ok(())
}
// ANCHOR_END: get

/// Copies the body, bytes `done..size` of the file, into `file`, 256 KiB at a time, with a
/// progress bar when a person is watching. Returns how many arrived before the server closed.
fn receive(body: &mut impl Read, file: &mut File, done: u64, size: u64) -> io::Result<u64> {
    let bar = if io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(size).with_position(done);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bytes}/{total_bytes} {wide_bar} {bytes_per_sec}, {eta} left",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let len = size - done;
    // One buffer for the whole file: memory stays flat whatever its size.
    let mut buf = vec![0u8; 256 * 1024];
    let mut received = 0;
    while received < len {
        // Never more than the header announced, whatever the server sends.
        let want = usize::try_from(len - received).map_or(buf.len(), |left| left.min(buf.len()));
        let n = match body.read(&mut buf[..want]) {
            Ok(0) => break, // The server closed early.
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        file.write_all(&buf[..n])?;
        received += n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(received)
}

/// Lists the files the server offers, as they come.
fn list(stream: &TcpStream, hexdump: Hexdump) -> anyhow::Result<()> {
    let mut conn = Connection::new(stream, hexdump)?;
    conn.send(Request::List)?;
    let line = conn.read_line().map_err(no_answer)?;
    match Header::parse(&line).map_err(anyhow::Error::msg)? {
        Header::Listing => {}
        Header::Refused(reason) => bail!("the server refused to list: {reason}"),
        other => bail!("the server answered {other}, not a listing"),
    }
    let mut seen = 0;
    loop {
        let line = conn.read_line().context("the listing was cut short")?;
        match ListLine::parse(&line).map_err(anyhow::Error::msg)? {
            ListLine::File { size, name } => {
                println!("{size} {}", printable(&name));
                seen += 1;
            }
            ListLine::End { count, .. } if count != seen => {
                bail!("the listing was cut short: {seen} of {count} files arrived")
            }
            ListLine::End { note, .. } => {
                if let Some(note) = note {
                    eprintln!("note: the server {}", printable(&note));
                }
                return Ok(());
            }
        }
    }
}

/// The error for a header that did not come.
fn no_answer(e: LineError) -> anyhow::Error {
    match e {
        LineError::Closed(0) => anyhow!(
            "the server closed the connection without answering\n\
             hint: a server started with `serve --protocol seed` answers only \
             `get --protocol seed`"
        ),
        e => anyhow::Error::new(e).context("no answer from the server"),
    }
}

/// Connects to the first of the server's addresses that answers.
fn connect(peer: &Peer) -> anyhow::Result<TcpStream> {
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
fn local_name(name: &str) -> anyhow::Result<PathBuf> {
    match Path::new(name).file_name() {
        Some(last) => Ok(PathBuf::from(last)),
        None => bail!("{name:?} does not end in a file name; give one with -o PATH"),
    }
}

/// The end of the final line: `200 bytes in 1.2ms`, or for a large file
/// `1024 MiB in 3.1s, 330 MiB/s`; and how much of it came now, after a resume.
fn summary(size: u64, received: u64, took: Duration) -> String {
    let mut text = format!("{} in {took:.1?}", amount(size));
    // A rate means something only for a transfer long enough to measure.
    if received >= 10 << 20 {
        let rate = received as f64 / took.as_secs_f64().max(1e-9);
        text.push_str(&format!(", {}/s", amount(rate as u64)));
    }
    if received < size {
        text.push_str(&format!(" ({} of it now)", amount(received)));
    }
    text
}

/// A number of bytes as people read it: exact while small, then in whole KiB, MiB or GiB.
fn amount(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if bytes < 10 * KIB {
        count(bytes, "byte", "bytes")
    } else if bytes < 10 * MIB {
        format!("{} KiB", bytes / KIB)
    } else if bytes < 10 * GIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} GiB", bytes / GIB)
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

    #[test]
    fn the_final_line_reads_well_for_small_and_large_files() {
        let ms = Duration::from_millis(2);
        assert_eq!(summary(1, 1, ms), "1 byte in 2.0ms");
        assert_eq!(summary(200, 200, ms), "200 bytes in 2.0ms");
        assert_eq!(
            summary(1_000_000, 700_000, ms),
            "976 KiB in 2.0ms (683 KiB of it now)"
        );
        let gib = 2 << 30;
        assert_eq!(
            summary(gib, gib, Duration::from_secs(4)),
            "2048 MiB in 4.0s, 512 MiB/s"
        );
        assert_eq!(amount(30 << 30), "30 GiB");
    }
}
