//! Step 4 (server): sendfile. Step 3 copied each file through a buffer in the program, `read`
//! from the file and `write` to the socket: every byte crossed into the program and back.
//! `sendfile(2)` asks the kernel to move the bytes from the file's page cache to the socket
//! itself (through rustix's safe wrapper).
//!
//!     cargo run -p file-download --example step4-sendfile -- 127.0.0.1:6664 docs
//!     cargo run -p file-download -- get book.toml -o /tmp/book.toml
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
    let file = match root.open(name) {
        Ok(file) => file,
        Err(why) => {
            println!("refused {name:?}: {why}");
            return answer(stream, &format!("ERR {why}"));
        }
    };
    // The size goes first, then exactly that many bytes: fewer, and the client knows.
    let meta = file.metadata()?;
    let size = meta.len();
    let version = format!("{size}-{}.{:09}", meta.mtime(), meta.mtime_nsec());
    answer(stream, &format!("OK {size} 0 {version}"))?;
    // ANCHOR: sendfile
    let mut sent = 0;
    while sent < size {
        let chunk = usize::try_from(size - sent)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        // The kernel advances `sent`, the offset in the file, by what it sent.
        if rustix::fs::sendfile(stream, &file, Some(&mut sent), chunk)? == 0 {
            break; // The file shrank while it was sent: the client sees fewer bytes.
        }
    }
    // ANCHOR_END: sendfile
    println!("sent {name:?}: {sent} bytes");
    Ok(())
}

fn answer(mut stream: &TcpStream, line: &str) -> io::Result<()> {
    stream.write_all(format!("{line}\n").as_bytes())
}
