//! Step 1: the seed's `tcp_server.py` in Rust, with the standard library only. It accepts one
//! client, sends back every byte it receives, and exits when that client closes.
//!
//! Terminal 1:  cargo run -p tcp-server --example step1-seed-tcp-server
//! Terminal 2:  python3 xtask/peers/tcp_client.py 127.0.0.1 10050   (the seed's client)
//!
//! Pitfall: a second client connects at once (the kernel queues it) but is never served.
use std::io::{Read, Write};
use std::net::TcpListener;

// ANCHOR: all
fn main() -> std::io::Result<()> {
    // The seed binds ("", 10050), every address of the machine; we stay on 127.0.0.1.
    // An address on the command line (127.0.0.1:0) lets the OS choose the port.
    let addr = std::env::args().nth(1);
    let addr = addr.as_deref().unwrap_or("127.0.0.1:10050");
    // socket(), bind() and listen() in one call; std asks for a backlog of 128, as the seed.
    let listener = TcpListener::bind(addr)?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    // accept() waits for a client: a new socket for it, and its address.
    let (mut client, _peer) = listener.accept()?;
    let mut buf = [0u8; 1024];
    loop {
        // recv(1024): up to 1024 bytes, as many as have arrived.
        let n = client.read(&mut buf)?;
        if n == 0 {
            // Zero bytes: the client sent FIN. Dropping `client` closes our side.
            println!("the client closed the connection");
            break;
        }
        // The seed's send() may send only a part; write_all sends it all.
        client.write_all(&buf[..n])?;
        // Printed as Python prints bytes: b'\xc4\xe3\xba\xc3' is "你好" in GBK.
        println!("b'{}'", buf[..n].escape_ascii());
    }
    Ok(())
}
// ANCHOR_END: all
