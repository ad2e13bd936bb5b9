//! Step 3: one connection, many requests. Each answer's `Content-Length` tells the client
//! where it ends, so the connection stays open for the next request (HTTP/1.1's default)
//! until the client says `Connection: close`, closes, or stays quiet for 5 s. Requests sent
//! back to back (pipelined) wait in the reader's buffer and are answered in order.
//!
//! Terminal 1:  cargo run -p http-server --example step3-keep-alive -- --root docs
//! Terminal 2:  curl -v http://127.0.0.1:8000/book.toml http://127.0.0.1:8000/src/SUMMARY.md
//!
//! Pitfall: nothing bounds a request yet: a line without an end fills memory, and a client
//! that sends one byte every 4 s holds its thread for ever. The lesson adds the limits.
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;
use std::{fs, io, thread};

fn main() -> io::Result<()> {
    let root = PathBuf::from(arg("--root", "."));
    let listener = TcpListener::bind(format!("127.0.0.1:{}", arg("--port", "8000")))?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    for stream in listener.incoming().flatten() {
        let root = root.clone();
        thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            match serve(&stream, &root) {
                Ok(n) => println!("closed {peer} after {n} requests"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => println!("closed {peer}: idle"),
                Err(e) => println!("closed {peer}: {e}"),
            }
        });
    }
    Ok(())
}

// ANCHOR: serve
/// Answers requests until the client closes or asks to; returns how many.
fn serve(stream: &TcpStream, root: &Path) -> io::Result<u64> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream);
    let mut answered = 0;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(answered); // FIN between two requests: the usual end.
        }
        let mut close = request_line.ends_with("HTTP/1.0\r\n");
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 && !line.trim_end().is_empty() {
            let (name, value) = line.split_once(':').unwrap_or_default();
            if name.eq_ignore_ascii_case("connection") {
                close = value.trim().eq_ignore_ascii_case("close");
            }
            line.clear();
        }
        println!("{} {}", stream.peer_addr()?, request_line.trim_end());
        let path = request_line.split(' ').nth(1).unwrap_or("/");
        let name = path.trim_start_matches('/');
        let (status, body) = if name.split('/').any(|part| part == "..") {
            ("403 Forbidden", b"'..' is not served\n".to_vec())
        } else {
            match fs::read(root.join(name)) {
                Ok(bytes) => ("200 OK", bytes),
                Err(e) => ("404 Not Found", format!("{e}\n").into_bytes()),
            }
        };
        let connection = if close { "close" } else { "keep-alive" };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
            body.len()
        );
        let mut stream = stream;
        stream.write_all(head.as_bytes())?;
        stream.write_all(&body)?;
        answered += 1;
        if close {
            return Ok(answered);
        }
    }
}
// ANCHOR_END: serve

/// The value after `name` on the command line, or `default`.
fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    let value = args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1));
    value.cloned().unwrap_or_else(|| default.to_string())
}
