//! Step 1: the seed's download client in Rust, with the standard library only. It sends the
//! file's name, then saves every byte until the server closes. Run the seed's server (or
//! `file-download serve --protocol seed`) first:
//!
//!     cargo run -p file-download --example step1-seed-get -- 127.0.0.1:6664 hello.txt
// ANCHOR: all
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let server = args.get(1).map_or("127.0.0.1:6664", String::as_str);
    let name = args.get(2).map_or("hello.txt", String::as_str);

    let mut stream = TcpStream::connect(server)?;
    // The whole request is the bare name: no length, no end marker.
    stream.write_all(name.as_bytes())?;

    let mut file = File::create(name)?;
    let mut buf = [0u8; 1024];
    let mut count = 0;
    loop {
        // Ok(0): the server closed. That is the only end this protocol has.
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])?;
        count += n;
    }
    if count == 0 {
        // A missing file and an empty one look the same: the seed removes either.
        std::fs::remove_file(name)?;
        println!("no file downloaded");
    } else {
        println!("downloaded {name}: {count} bytes");
    }
    Ok(())
}
// ANCHOR_END: all
