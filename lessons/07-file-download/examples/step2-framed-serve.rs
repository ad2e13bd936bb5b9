//! Step 2 (server): a header before the bytes. The request is one line, `GET 0 - NAME`; the
//! answer is `OK <size> 0 <version>` and then exactly that many bytes, or `ERR <reason>` and
//! nothing. A missing file is now an error the client can read, not an empty file. Files are
//! looked for under a root directory (the second argument), but any name is still taken as
//! it comes: `../secret.txt` leads out of the root (step 3 closes that hole).
//!
//!     cargo run -p file-download --example step2-framed-serve -- 127.0.0.1:6664 docs
//!     cargo run -p file-download -- get book.toml -o /tmp/book.toml
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let local = args.next().unwrap_or("127.0.0.1:6664".into());
    let root = args.next().unwrap_or(".".into());
    let listener = TcpListener::bind(local)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    for stream in listener.incoming() {
        if let Err(e) = serve(&stream?, Path::new(&root)) {
            println!("error: {e}");
        }
    }
    Ok(())
}

// ANCHOR: serve
fn serve(stream: &TcpStream, root: &Path) -> io::Result<()> {
    // One line, 4096 bytes at most: the newline says where the request ends.
    let mut request = String::new();
    BufReader::new(stream).take(4096).read_line(&mut request)?;
    let Some(name) = request.trim_end().strip_prefix("GET 0 - ") else {
        return answer(stream, "ERR expected GET 0 - <name>");
    };
    let file = match File::open(root.join(name)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            println!("refused {name:?}: no such file");
            return answer(stream, "ERR no such file");
        }
        Err(e) => return answer(stream, &format!("ERR {e}")),
    };
    // The size goes first, then exactly that many bytes: fewer, and the client knows.
    let meta = file.metadata()?;
    let size = meta.len();
    let version = format!("{size}-{}.{:09}", meta.mtime(), meta.mtime_nsec());
    answer(stream, &format!("OK {size} 0 {version}"))?;
    let sent = io::copy(&mut file.take(size), &mut &*stream)?;
    println!("sent {name:?}: {sent} bytes");
    Ok(())
}
// ANCHOR_END: serve

fn answer(mut stream: &TcpStream, line: &str) -> io::Result<()> {
    stream.write_all(format!("{line}\n").as_bytes())
}
