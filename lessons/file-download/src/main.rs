//! File download over TCP: a server that sends the files under one directory, and a client
//! that fetches one safely, resumably and at full speed.
//!
//! Terminal 1:  cargo run -p file-download -- serve --root docs
//! Terminal 2:  cargo run -p file-download -- get book.toml
//!
//! Pitfall: when the connection ends, TCP tells you that the sender closed, not that you
//! have everything. Only a size sent before the bytes tells a whole file from a cut one.
#![forbid(unsafe_code)]

mod protocol;
mod root;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, IsTerminal, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use common::{BindArgs, Hexdump, HostPort, Proto, Slots};
use protocol::{Header, Request};
use root::Root;

/// File download over TCP: serve a directory, get a file, list what is offered.
/// Chapter: "File download".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Cmd,

    /// Show the request and header lines' bytes on stderr (not the file's).
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
        bind: BindArgs<6664>,

        /// The wire protocol: this lesson's framed one, or the seed's raw one.
        #[arg(long, value_enum, default_value_t = Wire::Framed)]
        protocol: Wire,

        /// Most clients served at once; one more gets "ERR busy".
        #[arg(long, value_name = "N", default_value_t = 64)]
        max_clients: usize,

        /// Seconds a client may take to send its request, or stall while receiving.
        #[arg(long, value_name = "SECS", default_value = "10", value_parser = common::seconds)]
        timeout: Duration,
    },
    /// Download one file into the current directory.
    Get {
        /// The file's name on the server.
        name: String,

        #[command(flatten)]
        server: ServerArgs,

        /// Where to write it [default: the last part of NAME, in the current directory].
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,

        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,

        /// Resume: keep what an earlier, cut download left in NAME.part, fetch the rest.
        #[arg(long = "continue")]
        resume: bool,

        /// The wire protocol: this lesson's framed one, or the seed's raw one.
        #[arg(long, value_enum, default_value_t = Wire::Framed)]
        protocol: Wire,
    },
    /// List the files the server offers, with their sizes.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(clap::Args)]
struct ServerArgs {
    /// The server, HOST[:PORT].
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:6664")]
    server: HostPort,

    /// Seconds to wait for the connection, and for data while it stalls.
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
                Slots::new(max_clients),
                timeout,
                hexdump,
            )
        }
        Cmd::Get {
            name,
            server,
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
            let stream = connect(&server)?;
            match protocol {
                Wire::Framed => get(stream, &name, &target, resume, hexdump),
                Wire::Seed if resume => {
                    bail!("the seed's protocol cannot resume: it has no offsets")
                }
                Wire::Seed => get_seed(stream, &name, &target),
            }
        }
        Cmd::List { server } => list(connect(&server)?, hexdump),
    }
}

// ANCHOR: serve
fn serve(
    root: &Root,
    bind: &BindArgs<6664>,
    wire: Wire,
    slots: Slots,
    timeout: Duration,
    hexdump: Hexdump,
) -> anyhow::Result<()> {
    let local = bind.local_addr()?;
    // socket, SO_REUSEADDR, bind and listen(128) in one call (see the TCP server chapter).
    let listener = TcpListener::bind(local).with_context(|| format!("cannot bind {local}"))?;
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
        let Some(slot) = slots.take() else {
            println!(
                "refused {peer}: {} clients already (--max-clients)",
                slots.max()
            );
            let _ = (&stream).write_all(format!("{}\n", Header::Refused("busy".into())).as_bytes());
            continue;
        };
        let root = root.clone();
        thread::spawn(move || {
            // A client that stops sending or stops reading must not hold a thread forever.
            let timeouts = stream
                .set_read_timeout(Some(timeout))
                .and_then(|()| stream.set_write_timeout(Some(timeout)));
            let served = match (timeouts, wire) {
                (Err(e), _) => Err(e.into()),
                (Ok(()), Wire::Framed) => serve_client(&stream, peer, &root, hexdump),
                (Ok(()), Wire::Seed) => serve_seed_client(&stream, peer, &root),
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
    peer: SocketAddr,
    root: &Root,
    hexdump: Hexdump,
) -> anyhow::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    let refuse = |mut writer: &TcpStream, why: &str| -> anyhow::Result<()> {
        let header = format!("{}\n", Header::Refused(why.to_string()));
        hexdump.sent(peer, header.as_bytes());
        writer.write_all(header.as_bytes())?;
        Ok(())
    };
    let line = match protocol::read_line(&mut reader) {
        Ok(line) => line,
        Err(protocol::LineError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            println!("{peer} timed out: no complete request within --timeout; closing");
            return Ok(());
        }
        // A client that has gone cannot be told anything.
        Err(e @ (protocol::LineError::Closed(_) | protocol::LineError::Io(_))) => {
            println!("no request from {peer}: {e}");
            return Ok(());
        }
        Err(e) => {
            println!("bad request from {peer}: {e}");
            return refuse(writer, &e.to_string());
        }
    };
    hexdump.received(peer, format!("{line}\n").as_bytes());
    let (offset, name) = match Request::parse(&line) {
        Ok(Request::Get { offset, name }) => (offset, name),
        Ok(Request::List) => return send_listing(writer, peer, root, hexdump),
        Err(why) => {
            println!("bad request from {peer}: {why}");
            return refuse(writer, &why);
        }
    };
    let path = match root.resolve(&name) {
        Ok(path) => path,
        Err(refusal) => {
            println!("refused {peer}: {name:?}: {refusal}");
            return refuse(writer, &refusal.to_string());
        }
    };
    let mut file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata()?.len();
    if offset > size {
        println!("refused {peer}: {name:?}: offset {offset} is past the end ({size} bytes)");
        return refuse(
            writer,
            &format!("offset {offset} is past the end of the file ({size} bytes)"),
        );
    }
    file.seek(SeekFrom::Start(offset))?;

    // The header says how many bytes follow, before the first one is sent.
    let header = format!("{}\n", Header::File { size, offset });
    hexdump.sent(peer, header.as_bytes());
    writer.write_all(header.as_bytes())?;
    let started = Instant::now();
    let sent = send_file(&file, writer, size - offset)
        .with_context(|| format!("sending {name:?} failed"))?;
    if sent < size - offset {
        bail!(
            "{name:?} shrank while it was sent: {sent} of {} bytes",
            size - offset
        );
    }
    println!(
        "sent {name:?} to {peer}: {sent} bytes from offset {offset} in {:.2?}",
        started.elapsed()
    );
    Ok(())
}
// ANCHOR_END: serve_client

// ANCHOR: send_file
/// Sends `len` bytes of `file`, from its current position, down the connection.
#[cfg(target_os = "linux")]
fn send_file(file: &File, stream: &TcpStream, len: u64) -> io::Result<u64> {
    let mut sent = 0;
    while sent < len {
        let chunk = usize::try_from(len - sent)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        // sendfile(2): the kernel moves the bytes from the page cache to the socket; they
        // never pass through this program's memory.
        match rustix::fs::sendfile(stream, file, None, chunk) {
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
fn send_file(file: &File, mut stream: &TcpStream, len: u64) -> io::Result<u64> {
    io::copy(&mut file.take(len), &mut stream)
}
// ANCHOR_END: send_file

/// Answers LIST: a header with the count, then one line per file.
fn send_listing(
    mut writer: &TcpStream,
    peer: SocketAddr,
    root: &Root,
    hexdump: Hexdump,
) -> anyhow::Result<()> {
    let files = root.list().context("cannot list the root")?;
    let mut out = format!(
        "{}\n",
        Header::Listing {
            count: files.len() as u64
        }
    );
    hexdump.sent(peer, out.as_bytes());
    for (name, size) in &files {
        out.push_str(&format!("{size} {name}\n"));
    }
    writer.write_all(out.as_bytes())?;
    println!("listed {} files for {peer}", files.len());
    Ok(())
}

/// The seed's protocol: one read for the name, then the file's bytes, then close. A refused
/// or missing file gets nothing at all: the protocol has no way to say why.
fn serve_seed_client(stream: &TcpStream, peer: SocketAddr, root: &Root) -> anyhow::Result<()> {
    let mut buf = [0u8; 1024];
    let len = (&*stream).read(&mut buf)?;
    let name = String::from_utf8_lossy(&buf[..len])
        .trim_end_matches(['\r', '\n'])
        .to_string();
    match root.resolve(&name) {
        Ok(path) => {
            let sent = io::copy(&mut File::open(&path)?, &mut &*stream)?;
            println!("sent {name:?} to {peer}: {sent} bytes (seed protocol)");
        }
        Err(refusal) => {
            println!("refused {peer}: {name:?}: {refusal} (seed protocol: sent nothing)")
        }
    }
    Ok(())
}

// ANCHOR: get
/// Downloads `name` into `target`, through `target.part`, which becomes `target` only when
/// every byte the header announced has arrived.
fn get(
    stream: TcpStream,
    name: &str,
    target: &Path,
    resume: bool,
    hexdump: Hexdump,
) -> anyhow::Result<()> {
    let server = stream.peer_addr()?;
    let part = part_path(target);
    // What an earlier, cut download left: ask only for the rest.
    let offset = match fs::metadata(&part) {
        Ok(meta) if resume => meta.len(),
        _ => 0,
    };
    let request = format!(
        "{}\n",
        Request::Get {
            offset,
            name: name.to_string()
        }
    );
    hexdump.sent(server, request.as_bytes());
    (&stream)
        .write_all(request.as_bytes())
        .context("cannot send the request")?;

    let mut reader = BufReader::new(&stream);
    let line = protocol::read_line(&mut reader).context("no answer from the server")?;
    hexdump.received(server, format!("{line}\n").as_bytes());
    let size = match Header::parse(&line).map_err(anyhow::Error::msg)? {
        Header::File { size, offset: from } if from == offset => size,
        Header::Refused(reason) => bail!("the server refused {name:?}: {reason}"),
        other => bail!("the server answered {other}, not the file from offset {offset}"),
    };

    // Only now, with the file on its way, touch the disk: a refusal leaves nothing behind.
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&part)
        .with_context(|| format!("cannot write {}", part.display()))?;
    if offset == 0 {
        file.set_len(0)?;
    } else {
        println!("resuming {name:?} at byte {offset} of {size}");
    }
    let expected = size - offset;
    let started = Instant::now();
    let received = receive(&mut reader, &mut file, expected, offset, size)
        .with_context(|| cut_short(&part))?;
    if received < expected {
        bail!(
            "the transfer was cut short at {} of {size} bytes; {}",
            offset + received,
            cut_short(&part)
        );
    }
    // On disk first, then renamed: the name appears only for a whole file.
    file.sync_all()?;
    fs::rename(&part, target)
        .with_context(|| format!("cannot rename {} to {}", part.display(), target.display()))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "downloaded {name:?} to {}: {size} bytes ({received} now) in {secs:.2}s, {:.1} MB/s",
        target.display(),
        received as f64 / secs.max(1e-9) / 1e6
    );
    Ok(())
}
// ANCHOR_END: get

/// Copies `len` bytes of the body into the file, 256 KiB at a time, with a progress bar when
/// a person is watching. Returns how many arrived before the server closed.
fn receive(
    body: &mut impl Read,
    file: &mut File,
    len: u64,
    done: u64,
    size: u64,
) -> io::Result<u64> {
    let bar = if io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(size).with_position(done);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bytes}/{total_bytes} {wide_bar} {bytes_per_sec} {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    // One buffer for the whole file: memory stays flat whatever its size.
    let mut buf = vec![0u8; 256 * 1024];
    let mut received = 0;
    while received < len {
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

fn cut_short(part: &Path) -> String {
    format!(
        "{} keeps what arrived: run again with --continue to fetch the rest",
        part.display()
    )
}

/// The seed's protocol: send the bare name, take every byte until the server closes.
fn get_seed(mut stream: TcpStream, name: &str, target: &Path) -> anyhow::Result<()> {
    stream.write_all(name.as_bytes())?;
    let part = part_path(target);
    let mut file =
        File::create(&part).with_context(|| format!("cannot write {}", part.display()))?;
    let received = io::copy(&mut stream, &mut file).with_context(|| cut_short(&part))?;
    if received == 0 {
        drop(file);
        fs::remove_file(&part)?;
        bail!(
            "no file downloaded: in the seed's protocol, a missing file and an empty one look the same"
        );
    }
    file.sync_all()?;
    fs::rename(&part, target)?;
    println!(
        "downloaded {name:?} to {}: {received} bytes (seed protocol: no size was sent, so a cut transfer would look complete)",
        target.display()
    );
    Ok(())
}

fn list(stream: TcpStream, hexdump: Hexdump) -> anyhow::Result<()> {
    let server = stream.peer_addr()?;
    (&stream).write_all(b"LIST\n")?;
    hexdump.sent(server, b"LIST\n");
    let mut reader = BufReader::new(&stream);
    let line = protocol::read_line(&mut reader).context("no answer from the server")?;
    hexdump.received(server, format!("{line}\n").as_bytes());
    let count = match Header::parse(&line).map_err(anyhow::Error::msg)? {
        Header::Listing { count } => count,
        Header::Refused(reason) => bail!("the server refused to list: {reason}"),
        other => bail!("the server answered {other}, not a listing"),
    };
    for _ in 0..count {
        let entry = protocol::read_line(&mut reader).context("the listing was cut short")?;
        println!("{entry}");
    }
    Ok(())
}

/// Connects to the first address of the server that answers.
fn connect(server: &ServerArgs) -> anyhow::Result<TcpStream> {
    let mut failure = anyhow::anyhow!("the name resolved to no address");
    for addr in server.server.resolve(6664)? {
        match TcpStream::connect_timeout(&addr, server.timeout) {
            Ok(stream) => {
                stream.set_read_timeout(Some(server.timeout))?;
                return Ok(stream);
            }
            Err(e) => failure = anyhow::Error::new(e).context(format!("cannot connect to {addr}")),
        }
    }
    Err(failure)
}

/// The local name of a download: the last component of the requested name, so that no name
/// from the command line or the network can make the client write outside this directory.
fn local_name(name: &str) -> anyhow::Result<PathBuf> {
    match Path::new(name).file_name() {
        Some(last) => Ok(PathBuf::from(last)),
        None => bail!("{name:?} does not end in a file name; give one with -o PATH"),
    }
}

/// `notes.txt` downloads into `notes.txt.part`.
fn part_path(target: &Path) -> PathBuf {
    let mut part = target.as_os_str().to_owned();
    part.push(".part");
    PathBuf::from(part)
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
        assert_eq!(part_path(Path::new("d/x.bin")), Path::new("d/x.bin.part"));
    }
}
