//! Step 2: a thread prints whatever arrives, as it arrives, while the main thread sends the
//! lines you type; at the end of input, shutdown(Write) sends FIN and the client reads on
//! until the server closes. A read is no longer "the answer to the line just sent".
//!
//! Terminal 1:  cargo run -p tcp-server
//! Terminal 2:  cargo run -p tcp-client --example step2-reader-thread
//!
//! Optional argument: the server (127.0.0.1:10050).

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

fn main() -> io::Result<()> {
    let server = std::env::args().nth(1).unwrap_or("127.0.0.1:10050".into());
    let mut stream = TcpStream::connect(&server)?;
    println!(
        "connected to {} from {}",
        stream.peer_addr()?,
        stream.local_addr()?
    );

    // ANCHOR: thread
    let mut incoming = stream.try_clone()?;
    let reader = thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 16384];
        loop {
            match incoming.read(&mut buf)? {
                0 => break,
                len => println!(
                    "received {len} bytes: {:?}",
                    String::from_utf8_lossy(&buf[..len])
                ),
            }
        }
        println!("the server closed the connection (FIN)");
        Ok(())
    });
    for line in io::stdin().lock().lines() {
        stream.write_all(format!("{}\n", line?).as_bytes())?;
    }
    println!("end of input: sending FIN (shutdown Write), reading until the server closes");
    stream.shutdown(Shutdown::Write)?;
    reader.join().unwrap_or(Ok(()))
    // ANCHOR_END: thread
}
