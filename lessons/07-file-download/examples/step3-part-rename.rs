//! Step 3: the bytes go to `NAME.part`, and only a whole file, on disk (`fsync`), is renamed
//! to `NAME`: a cut transfer never leaves a file that looks complete. Run the lesson's server
//! first:
//!
//!     cargo run -p file-download -- serve --root docs
//!     cargo run -p file-download --example step3-part-rename -- 127.0.0.1:6664 book.toml
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let server = args.get(1).map_or("127.0.0.1:6664", String::as_str);
    let name = args.get(2).map_or("hello.txt", String::as_str);

    let mut stream = TcpStream::connect(server)?;
    stream.write_all(format!("GET 0 - {name}\n").as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header)?;
    let fields: Vec<&str> = header.trim_end().split(' ').collect();
    let size: u64 = match fields.as_slice() {
        ["OK", size, _offset, _version] => size.parse()?,
        _ => return Err(format!("the server answered {:?}", header.trim_end()).into()),
    };

    // ANCHOR: part
    let part = format!("{name}.part");
    // create_new: never through a file (or a link) that is already there.
    let mut file = File::create_new(&part)?;
    let got = std::io::copy(&mut reader.take(size), &mut file)?;
    if got < size {
        return Err(format!("cut short at {got} of {size} bytes; {part} keeps them").into());
    }
    // On disk first, then the name: a rename in one directory is atomic, so `name` is
    // either absent or whole.
    file.sync_all()?;
    std::fs::rename(&part, name)?;
    // ANCHOR_END: part
    println!("downloaded {name}: {size} bytes");
    Ok(())
}
