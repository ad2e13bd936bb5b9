//! file-download: the check serves a scratch directory with the student's server and speaks
//! the protocol to it by hand, as `nc` would.

use std::net::SocketAddr;

use crate::wire::Conn;
use crate::{Check, Failure, shown};

/// The lesson's server: where it listens, and how its GET request is written.
struct Server {
    addr: SocketAddr,
    /// `GET <offset> - <name>` where requests carry a version (`-` for any), else
    /// `GET <offset> <name>`.
    versioned: bool,
    _dir: tempfile::TempDir,
}

impl Server {
    fn get(&self, offset: u64, name: &str) -> String {
        if self.versioned {
            format!("GET {offset} - {name}")
        } else {
            format!("GET {offset} {name}")
        }
    }
}

/// Starts `serve` on a scratch directory holding `a.txt` ("hello") and `b.txt` ("abc").
fn serve(c: &mut Check) -> Result<Server, Failure> {
    let dir = tempfile::tempdir().map_err(|e| c.fail(format!("cannot make a scratch dir: {e}")))?;
    for (name, body) in [("a.txt", "hello"), ("b.txt", "abc")] {
        std::fs::write(dir.path().join(name), body)
            .map_err(|e| c.fail(format!("cannot write {name}: {e}")))?;
    }
    let root = dir.path().to_string_lossy().into_owned();
    let (_, addr) = c.start("file-download", &["serve", "--root", &root, "--port", "0"])?;
    c.pass(format!(
        "file-download serve is listening on {addr}, serving a.txt (5 bytes) and b.txt (3 bytes)"
    ));
    // The exercise is not about the GET line: ask the server which form it takes.
    let (_, answer) = ask(c, addr, "GET 0 - b.txt")?;
    Ok(Server {
        addr,
        versioned: answer.starts_with("OK "),
        _dir: dir,
    })
}

/// Sends one request on a new connection and returns the answer's first line.
fn ask(c: &Check, addr: SocketAddr, request: &str) -> Result<(Conn, String), Failure> {
    let mut conn = Conn::connect(c, addr)?;
    conn.write(c, format!("{request}\n").as_bytes())?;
    let line = conn.line(c, &format!("an answer to {request:?}"))?;
    Ok((conn, line))
}

pub fn size(c: &mut Check) -> Result<(), Failure> {
    let server = serve(c)?;
    let addr = server.addr;
    for (name, size) in [("a.txt", 5), ("b.txt", 3)] {
        let request = format!("SIZE {name}");
        let (mut conn, line) = ask(c, addr, &request)?;
        let want = format!("OK {size}");
        if line != want {
            return Err(c.fail(format!("sent {request:?}, expected {want:?}, got {line:?}")));
        }
        conn.closed(
            c,
            &format!("the server to close after {want:?}, with no file bytes"),
        )?;
        c.pass(format!(
            "{request:?} was answered {want:?}, and nothing else"
        ));
    }
    for request in ["SIZE missing.txt", "SIZE ../a.txt", "SIZE "] {
        let (_, line) = ask(c, addr, request)?;
        if !line.starts_with("ERR ") {
            return Err(c.fail(format!(
                "sent {request:?}, expected a refusal \"ERR <reason>\", got {line:?}"
            )));
        }
        c.pass(format!("{request:?} was refused: {line:?}"));
    }
    let get = server.get(0, "b.txt");
    let (_, line) = ask(c, addr, &get)?;
    if !line.starts_with("OK 3") {
        return Err(c.fail(format!(
            "GET must still work: sent {get:?}, expected \"OK 3 0 ...\", got {line:?}"
        )));
    }
    c.pass("GET still works");
    Ok(())
}

/// Reads one file's answer: the header `OK <size> <offset> ...` (a version may follow), then
/// `size - offset` bytes.
fn file(c: &Check, conn: &mut Conn, request: &str, want: &str) -> Result<(), Failure> {
    let header = conn.line(c, &format!("the answer to {request:?}"))?;
    let mut fields = header.split(' ');
    let numbers = (fields.next(), fields.next(), fields.next());
    let (size, offset) = match numbers {
        (Some("OK"), Some(size), Some(offset)) => (size.parse::<u64>(), offset.parse::<u64>()),
        _ => {
            return Err(c.fail(format!(
                "sent {request:?}, expected a header \"OK <size> <offset>\", got {header:?}"
            )));
        }
    };
    let len = match (size, offset) {
        (Ok(size), Ok(offset)) if size >= offset => size - offset,
        _ => {
            return Err(c.fail(format!(
                "sent {request:?}, expected a header \"OK <size> <offset>\", got {header:?}"
            )));
        }
    };
    let body = conn.bytes(c, len as usize, &format!("the bytes after {header:?}"))?;
    if body != want.as_bytes() {
        return Err(c.fail(format!(
            "sent {request:?}, expected the bytes {want:?}, got {}",
            shown(&body)
        )));
    }
    c.pass(format!("{request:?} was answered {header:?} and {want:?}"));
    Ok(())
}

pub fn keep_alive(c: &mut Check) -> Result<(), Failure> {
    let server = serve(c)?;
    let mut conn = Conn::connect(c, server.addr)?;
    let (get_a, get_b) = (server.get(0, "a.txt"), server.get(0, "b.txt"));
    // Two requests in one write, as a client that knows what it wants sends them.
    conn.write(c, format!("{get_a}\n{get_b}\n").as_bytes())?;
    file(c, &mut conn, &get_a, "hello")?;
    file(c, &mut conn, &get_b, "abc")?;
    // A third, later, on the same connection.
    let get_rest = server.get(2, "a.txt");
    conn.write(c, format!("{get_rest}\n").as_bytes())?;
    file(c, &mut conn, &get_rest, "llo")?;
    let get_missing = server.get(0, "missing.txt");
    conn.write(c, format!("{get_missing}\n").as_bytes())?;
    let refused = conn.line(c, &format!("the answer to {get_missing:?}"))?;
    if !refused.starts_with("ERR ") {
        return Err(c.fail(format!(
            "sent {get_missing:?}, expected \"ERR <reason>\", got {refused:?}"
        )));
    }
    c.pass(format!("{get_missing:?} was refused: {refused:?}"));
    conn.write(c, format!("{get_b}\n").as_bytes())?;
    file(c, &mut conn, &get_b, "abc")?;
    // Our FIN: no more requests. The server must close its side in turn.
    conn.finish(c)?;
    conn.closed(c, "the server to close the connection after our FIN")?;
    c.pass("after our FIN, the server closed the connection");
    Ok(())
}
