//! Step 1: the seed's TCP server, answering a browser. Whatever it is asked, it reads once,
//! writes one fixed HTTP/1.0 response and closes: the close is what ends the body.
//!
//! Terminal 1:  cargo run -p http-server --example step1-fixed-response
//! Terminal 2:  curl -v http://127.0.0.1:8000/   (or open it in a browser)
//!
//! Pitfall: one client at a time. A browser that opens a second connection and sends nothing
//! on it leaves this loop waiting in `read`, and every other request waits behind it.
use std::io::{Read, Write};
use std::net::TcpListener;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port = match args.iter().position(|a| a == "--port") {
        Some(i) => args.get(i + 1).cloned().unwrap_or_default(),
        None => "8000".to_string(),
    };
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    for stream in listener.incoming() {
        let mut stream = stream?;
        let mut buf = [0u8; 1024];
        let len = stream.read(&mut buf)?;
        let request = String::from_utf8_lossy(&buf[..len]);
        let first = request.lines().next().unwrap_or_default();
        println!("received {len} bytes from {}: {first}", stream.peer_addr()?);
        let body = "<h1>Hello from Rust</h1>\n";
        let response =
            format!("HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{body}");
        stream.write_all(response.as_bytes())?;
    } // Dropping `stream` closes it: for HTTP/1.0 without a length, the end of the body.
    Ok(())
}
