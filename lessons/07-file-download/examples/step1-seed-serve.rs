//! Step 1 (server): the seed's download server in Rust, with the standard library only. Each
//! client sends a file's name; the server sends the bytes of that file, from the current
//! directory, and closes the connection. A missing file gets nothing at all. The seed's client
//! (or `file-download get --protocol seed`) is its peer:
//!
//!     cargo run -p file-download --example step1-seed-serve -- 127.0.0.1:6664
// ANCHOR: all
use std::io::{Read, Write};
use std::net::TcpListener;

fn main() -> std::io::Result<()> {
    let local = std::env::args().nth(1).unwrap_or("0.0.0.0:6664".into());
    let listener = TcpListener::bind(local)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    for stream in listener.incoming() {
        let mut stream = stream?;
        // The whole request in one read, as the seed's recv(1024): TCP may deliver less.
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf)?;
        let name = String::from_utf8_lossy(&buf[..n]).into_owned();
        // Any name at all, ../ and /etc/passwd too: the seed's hole, kept on purpose.
        match std::fs::read(&name) {
            Ok(data) => {
                stream.write_all(&data)?;
                println!("sent {name:?}: {} bytes", data.len());
            }
            Err(e) => println!("nothing sent for {name:?}: {e}"),
        }
        // The stream is dropped here, which closes it: the only end this protocol has.
    }
    Ok(())
}
// ANCHOR_END: all
