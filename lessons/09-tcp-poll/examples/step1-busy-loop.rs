//! tcp-poll, step 1: one thread and non-blocking sockets, but no readiness API: the loop tries
//! the listener and every client in turn, for ever. It serves everyone, and keeps a core busy
//! doing nothing (watch it in `top`). Standard library only.
//!
//! Terminal 1:  cargo run -p tcp-poll --example step1-busy-loop
//! Terminal 2:  cargo run -p tcp-client
//!
//! Pitfall: `write_all` on a non-blocking socket fails with `WouldBlock` when the send buffer
//! is full, and this step then drops the client. Step 2 keeps the rest for later.
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or("10050".into());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    // O_NONBLOCK: accept() on an empty queue returns WouldBlock instead of waiting.
    listener.set_nonblocking(true)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    let mut clients: Vec<TcpStream> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                stream.set_nonblocking(true)?;
                println!("accepted {peer}");
                clients.push(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        // Keep a client while its read says WouldBlock ("nothing now") or its echo was sent.
        clients.retain_mut(|stream| match stream.read(&mut buf) {
            Ok(0) => false, // FIN: dropping the stream closes ours.
            Ok(n) => {
                println!("received {n} bytes");
                stream.write_all(&buf[..n]).is_ok()
            }
            Err(e) => e.kind() == ErrorKind::WouldBlock,
        });
    }
}
