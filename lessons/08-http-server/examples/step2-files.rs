//! Step 2: a file for each request. The head is read up to its empty line, the request
//! line's path names a file under --root, and `Content-Length` says how long the answer is.
//! A thread per connection: a silent connection now holds only its own thread.
//!
//! Terminal 1:  cargo run -p http-server --example step2-files -- --root docs
//! Terminal 2:  curl -v http://127.0.0.1:8000/book.toml
//!
//! Pitfall: still one request per connection (`Connection: close`): a browser must open a
//! new connection, with its handshake, for every file of a page.
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::{fs, io, thread};

fn main() -> io::Result<()> {
    let root = PathBuf::from(arg("--root", "."));
    let listener = TcpListener::bind(format!("127.0.0.1:{}", arg("--port", "8000")))?;
    println!("listening on {} (tcp)", listener.local_addr()?);
    for stream in listener.incoming().flatten() {
        let root = root.clone();
        thread::spawn(move || {
            if let Err(e) = serve(&stream, &root) {
                println!("error: {e}");
            }
        });
    }
    Ok(())
}

// ANCHOR: serve
fn serve(stream: &TcpStream, root: &Path) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers, up to the empty line that ends the head: read, and not used yet.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 && !line.trim_end().is_empty() {
        line.clear();
    }
    println!("{} {}", stream.peer_addr()?, request_line.trim_end());
    let mut words = request_line.split(' ');
    let (method, path) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or("/"),
    );
    let name = path.trim_start_matches('/');
    let (status, body) = if method != "GET" {
        ("405 Method Not Allowed", b"only GET\n".to_vec())
    } else if name.split('/').any(|part| part == "..") {
        ("403 Forbidden", b"'..' is not served\n".to_vec())
    } else {
        match fs::read(root.join(name)) {
            Ok(bytes) => ("200 OK", bytes),
            Err(e) => ("404 Not Found", format!("{e}\n").into_bytes()),
        }
    };
    // The length before the bytes, as file-download's header: the client knows the end.
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = stream;
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)
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
