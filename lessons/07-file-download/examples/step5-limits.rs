//! Step 5 (server): limits. Step 4 served one client at a time, and a client that connected
//! and sent nothing held every other client up for good. Now each client gets a thread, and
//! each wait a limit: the request line must arrive within 3 s, and a send that moves no byte
//! for 10 s ends the connection (`SO_RCVTIMEO`, `SO_SNDTIMEO`). The lesson adds a limit on the
//! places (in all and per address) and a minimum speed.
//!
//!     cargo run -p file-download --example step5-limits -- 127.0.0.1:6664 docs
//!     nc 127.0.0.1 6664      (say nothing: after 3 s the server ends the connection)
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread;
use std::time::Duration;

use common::Root;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let local = args.next().unwrap_or("127.0.0.1:6664".into());
    let root = Root::new(Path::new(&args.next().unwrap_or(".".into())))?;
    let listener = TcpListener::bind(local)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    // ANCHOR: limits
    for stream in listener.incoming() {
        // Out of file descriptors, say: this client is lost, the server goes on.
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                println!("error: accept: {e}");
                continue;
            }
        };
        let root = root.clone();
        // A thread per client: a slow one holds up only itself.
        thread::spawn(move || {
            let limited = stream
                .set_read_timeout(Some(Duration::from_secs(3)))
                .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(10))));
            if let Err(e) = limited.and_then(|()| serve(&stream, &root)) {
                println!("error: {e}");
            }
        });
    }
    // ANCHOR_END: limits
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
    println!("sent {name:?}: {sent} bytes");
    Ok(())
}

fn answer(mut stream: &TcpStream, line: &str) -> io::Result<()> {
    stream.write_all(format!("{line}\n").as_bytes())
}
