//! Step 3 (server): the root jail. Step 2 joined the name to the root, so `../secret.txt` or
//! `/etc/passwd` led out of it. Now `common::Root` opens the root once, and every file beneath
//! that descriptor (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): an absolute name, a
//! `..`, a symbolic link or anything but a regular file is refused, with a reason the client
//! reads in the `ERR` line.
//!
//!     cargo run -p file-download --example step3-root-jail -- 127.0.0.1:6664 docs
//!     cargo run -p file-download -- get ../README.md
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::Root;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let local = args.next().unwrap_or("127.0.0.1:6664".into());
    let root = Root::new(Path::new(&args.next().unwrap_or(".".into())))?;
    let listener = TcpListener::bind(local)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    for stream in listener.incoming() {
        if let Err(e) = serve(&stream?, &root) {
            println!("error: {e}");
        }
    }
    Ok(())
}

fn serve(stream: &TcpStream, root: &Root) -> io::Result<()> {
    // One line, 4096 bytes at most: the newline says where the request ends.
    let mut request = String::new();
    BufReader::new(stream).take(4096).read_line(&mut request)?;
    let Some(name) = request.trim_end().strip_prefix("GET 0 - ") else {
        return answer(stream, "ERR expected GET 0 - <name>");
    };
    // ANCHOR: jail
    let file = match root.open(name) {
        Ok(file) => file,
        Err(why) => {
            println!("refused {name:?}: {why}");
            return answer(stream, &format!("ERR {why}"));
        }
    };
    // ANCHOR_END: jail
    // The size goes first, then exactly that many bytes: fewer, and the client knows.
    let meta = file.metadata()?;
    let size = meta.len();
    let version = format!("{size}-{}.{:09}", meta.mtime(), meta.mtime_nsec());
    answer(stream, &format!("OK {size} 0 {version}"))?;
    let sent = io::copy(&mut file.take(size), &mut &*stream)?;
    println!("sent {name:?}: {sent} bytes");
    Ok(())
}

fn answer(mut stream: &TcpStream, line: &str) -> io::Result<()> {
    stream.write_all(format!("{line}\n").as_bytes())
}
