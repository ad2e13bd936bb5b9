//! Step 2: many clients at once, one thread each. The accept loop goes on accepting while
//! the threads echo, and every line says which client it is about.
//!
//! Terminal 1:  cargo run -p tcp-server --example step2-thread-per-client
//! Terminal 2 and 3:  cargo run -p tcp-client
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1);
    let addr = addr.as_deref().unwrap_or("127.0.0.1:10050");
    let listener = TcpListener::bind(addr)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    // ANCHOR: accept
    loop {
        let (client, peer) = listener.accept()?;
        println!("accepted {peer}");
        // The thread owns the client's socket; the loop goes back to accept() at once.
        thread::spawn(move || echo(client, peer));
    }
    // ANCHOR_END: accept
}

/// Echoes until the client closes; a failed read or write ends this client only.
fn echo(mut client: TcpStream, peer: SocketAddr) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) => break println!("{peer} closed the connection (FIN)"),
            Ok(n) => n,
            Err(e) => break println!("{peer}: {e}"),
        };
        println!(
            "received {n} bytes from {peer}: b'{}'",
            buf[..n].escape_ascii()
        );
        if let Err(e) = client.write_all(&buf[..n]) {
            break println!("{peer}: {e}");
        }
    }
}
