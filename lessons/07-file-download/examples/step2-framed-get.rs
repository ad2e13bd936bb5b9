//! Step 2: a header before the bytes. The client asks `GET 0 - NAME`, and the server first
//! says how many bytes follow (`OK <size> <offset> <version>`) or why none do
//! (`ERR <reason>`). Now a missing file is an error, and a cut transfer is noticed. Run the
//! lesson's server first:
//!
//!     cargo run -p file-download -- serve --root docs
//!     cargo run -p file-download --example step2-framed-get -- 127.0.0.1:6664 book.toml
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let server = args.get(1).map_or("127.0.0.1:6664", String::as_str);
    let name = args.get(2).map_or("hello.txt", String::as_str);

    let mut stream = TcpStream::connect(server)?;
    // ANCHOR: header
    // One line, ended by a newline: the server knows where the request ends.
    stream.write_all(format!("GET 0 - {name}\n").as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header)?;
    let fields: Vec<&str> = header.trim_end().split(' ').collect();
    let size: u64 = match fields.as_slice() {
        ["OK", size, _offset, _version] => size.parse()?,
        _ => return Err(format!("the server answered {:?}", header.trim_end()).into()),
    };
    // ANCHOR_END: header

    // ANCHOR: body
    // Exactly `size` bytes, however the server sends them; fewer means the transfer was cut.
    let mut file = File::create(name)?;
    let got = std::io::copy(&mut reader.take(size), &mut file)?;
    if got < size {
        return Err(format!("cut short at {got} of {size} bytes; {name} is incomplete").into());
    }
    println!("downloaded {name}: {size} bytes");
    // ANCHOR_END: body
    Ok(())
}
