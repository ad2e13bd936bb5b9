//! tcp-poll, step 2: the loop sleeps in `epoll_wait` (through mio) until a socket is ready,
//! reads until WouldBlock, and keeps what the kernel would not take in a `pending` buffer until
//! the socket is writable again. No budget yet: a client that sends as fast as it reads keeps
//! its turn for ever; no limit on `pending` either: a client that never reads grows it.
//!
//! Terminal 1:  cargo run -p tcp-poll --example step2-epoll
//! Terminal 2:  cargo run -p tcp-client
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or("10050".into());
    let addr = format!("127.0.0.1:{port}")
        .parse()
        .map_err(std::io::Error::other)?;
    let mut listener = TcpListener::bind(addr)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut clients: HashMap<Token, (TcpStream, Vec<u8>)> = HashMap::new();
    let (mut next, mut buf) = (0, vec![0u8; 64 * 1024]);
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                // Edge-triggered: accept until the queue is empty.
                while let Ok((mut stream, peer)) = listener.accept() {
                    let token = Token(next);
                    next += 1;
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    poll.registry().register(&mut stream, token, interest)?;
                    println!("accepted {peer}");
                    clients.insert(token, (stream, Vec::new()));
                }
                continue;
            }
            let Some((stream, pending)) = clients.get_mut(&event.token()) else {
                continue;
            };
            if !turn(stream, pending, &mut buf) {
                clients.remove(&event.token()); // Closes the socket.
            }
        }
    }
}

/// Writes what is pending, then reads until WouldBlock, echoing as far as the kernel takes it.
/// Returns whether to keep the client.
fn turn(stream: &mut TcpStream, pending: &mut Vec<u8>, buf: &mut [u8]) -> bool {
    loop {
        while !pending.is_empty() {
            match stream.write(pending) {
                Ok(n) if n > 0 => drop(pending.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true, // WRITABLE brings us back.
                _ => return false,
            }
        }
        match stream.read(buf) {
            Ok(0) => return false, // FIN (the last echo, if pending, is lost: the lesson waits).
            Ok(n) => {
                println!("received {n} bytes");
                pending.extend_from_slice(&buf[..n]);
            }
            Err(e) => return e.kind() == ErrorKind::WouldBlock,
        }
    }
}
