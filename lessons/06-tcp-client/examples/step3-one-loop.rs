//! Step 3: the two threads only report what happened, on one channel, and one loop in main
//! acts on each event in turn: it sends, prints, half-closes, and ends the program. When the
//! server closes first, the loop ends at once, whoever is still waiting for a line.
//!
//! Terminal 1:  cargo run -p tcp-server
//! Terminal 2:  cargo run -p tcp-client --example step3-one-loop
//!
//! Optional argument: the server (127.0.0.1:10050).

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread;

// ANCHOR: event
/// What the two threads report.
enum Event {
    Typed(String),
    EndOfInput,
    Received(Vec<u8>),
    Closed,
}
// ANCHOR_END: event

fn main() -> io::Result<()> {
    let server = std::env::args().nth(1).unwrap_or("127.0.0.1:10050".into());
    let mut stream = TcpStream::connect(&server)?;
    println!(
        "connected to {} from {}",
        stream.peer_addr()?,
        stream.local_addr()?
    );

    // ANCHOR: loop
    let (events, next) = mpsc::channel();
    let mut incoming = stream.try_clone()?;
    let socket_events = events.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(len @ 1..) = incoming.read(&mut buf) {
            let _ = socket_events.send(Event::Received(buf[..len].to_vec()));
        }
        // Ok(0), the server's FIN, or an error (step 3 does not tell them apart).
        let _ = socket_events.send(Event::Closed);
    });
    thread::spawn(move || {
        for line in io::stdin().lock().lines().map_while(Result::ok) {
            let _ = events.send(Event::Typed(line));
        }
        let _ = events.send(Event::EndOfInput);
    });
    while let Ok(event) = next.recv() {
        match event {
            Event::Typed(line) => stream.write_all(format!("{line}\n").as_bytes())?,
            Event::EndOfInput => {
                println!(
                    "end of input: sending FIN (shutdown Write), reading until the server closes"
                );
                stream.shutdown(Shutdown::Write)?;
            }
            Event::Received(data) => {
                println!(
                    "received {} bytes: {:?}",
                    data.len(),
                    String::from_utf8_lossy(&data)
                );
            }
            Event::Closed => break,
        }
    }
    println!("the server closed the connection (FIN)");
    // ANCHOR_END: loop
    Ok(())
}
