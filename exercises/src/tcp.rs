//! tcp-server and tcp-client: the check is the client of the one, the server of the other.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use testkit::{Proc, Stream};

use crate::wire::{Conn, Listener};
use crate::{Check, Failure, shown};

fn server(c: &mut Check, flag: &str) -> Result<SocketAddr, Failure> {
    let (_, addr) = c.start("tcp-server", &["--port", "0", flag])?;
    c.pass(format!("tcp-server {flag} is listening on {addr}"));
    Ok(addr)
}

fn line_is(c: &Check, conn: &mut Conn, after: &str, want: &str) -> Result<(), Failure> {
    let what = format!("the line {want:?}");
    let got = conn.line(c, &what)?;
    if got != want {
        return Err(c.fail(format!(
            "after {after}, expected the line {want:?}, got {got:?}"
        )));
    }
    c.pass(format!("{after} was answered {want:?}"));
    Ok(())
}

pub fn server_greet(c: &mut Check) -> Result<(), Failure> {
    let addr = server(c, "--greet")?;
    let mut conn = Conn::connect(c, addr)?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    // Sent at once: the greeting must still come before the echo.
    conn.write(c, b"ping\n")?;
    let want = format!("welcome, {me}");
    line_is(c, &mut conn, "connecting", &want)?;
    line_is(c, &mut conn, "\"ping\\n\"", "ping")?;
    conn.finish(c)?;
    conn.closed(c, "the server to close after our FIN")?;
    c.pass("after our FIN, the server closed too");
    Ok(())
}

pub fn server_commands(c: &mut Check) -> Result<(), Failure> {
    let addr = server(c, "--commands")?;
    let mut conn = Conn::connect(c, addr)?;
    // Two commands in one write: the server must find the line ends itself.
    conn.write(c, b"ECHO hello there\nTIME\n")?;
    line_is(c, &mut conn, "ECHO hello there", "hello there")?;
    let time = conn.line(c, "the answer to TIME")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match time.trim().parse::<u64>() {
        Ok(t) if t.abs_diff(now) <= 60 => c.pass(format!("TIME was answered {time:?}")),
        _ => {
            return Err(c.fail(format!(
                "after TIME, expected the seconds since 1970 (about {now}), got {time:?}"
            )));
        }
    }
    conn.write(c, b"NOPE\n")?;
    let got = conn.line(c, "an answer to NOPE")?;
    if !got.starts_with("ERR") {
        return Err(c.fail(format!(
            "after NOPE, expected a line starting with \"ERR\", got {got:?}"
        )));
    }
    c.pass(format!("NOPE was answered {got:?}"));
    // Commands are whole words: QUITE is not QUIT, TIMES is not TIME.
    for wrong in ["QUITE", "TIMES", "ECHOES x"] {
        conn.write(c, format!("{wrong}\n").as_bytes())?;
        let got = conn.line(c, &format!("an answer to {wrong}"))?;
        if !got.starts_with("ERR") {
            return Err(c.fail(format!(
                "after {wrong}, expected a line starting with \"ERR\" (it is no command), got {got:?}"
            )));
        }
        c.pass(format!("{wrong} was answered {got:?}"));
    }
    // ECHO's text as it came, non-ASCII and inner spaces included, split at a point the
    // seed chooses.
    let len = c.rng().below(1..30);
    let text = format!("{} {} ", c.rng().text(len), c.rng().text(3));
    let line = format!("ECHO {text}\n").into_bytes();
    let cut = c.rng().below(1..line.len());
    let (first, rest) = line.split_at(cut);
    conn.write(c, first)?;
    // A second client meanwhile: the server serves both at once.
    let mut other = Conn::connect(c, addr)?;
    other.write(c, b"ECHO second client\n")?;
    line_is(
        c,
        &mut other,
        "a second client's ECHO, while the first is connected",
        "second client",
    )?;
    conn.write(c, rest)?;
    line_is(c, &mut conn, &format!("ECHO {text:?} in two pieces"), &text)?;
    // One command in two pieces: nothing may be answered until the line is complete.
    conn.write(c, b"QU")?;
    std::thread::sleep(Duration::from_millis(100));
    conn.write(c, b"IT\n")?;
    line_is(c, &mut conn, "QUIT in two pieces", "BYE")?;
    conn.closed(c, "the server to close the connection after BYE")?;
    c.pass("after BYE, the server closed the connection");
    Ok(())
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    f.extend_from_slice(payload);
    f
}

fn expect_frame(c: &Check, conn: &mut Conn, sent: &str, want: &str) -> Result<(), Failure> {
    let what = format!("the answer to the message {sent:?}");
    let header = conn.bytes(c, 4, &format!("the 4-byte length of {what}"))?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if len as usize != want.len() {
        let mut peek = header.clone();
        if len < 1024 {
            peek.extend(conn.bytes(c, len as usize, &what).unwrap_or_default());
        }
        return Err(c.fail(format!(
            "expected {what}: the length {} (big-endian 4 bytes) and {want:?}; got the length \
             {len} in {}",
            want.len(),
            shown(&peek)
        )));
    }
    let got = conn.bytes(c, want.len(), &what)?;
    if got != want.as_bytes() {
        return Err(c.fail(format!(
            "expected {what} to be {want:?}, got {}",
            shown(&got)
        )));
    }
    c.pass(format!("the message {sent:?} was answered {want:?}"));
    Ok(())
}

pub fn server_framed(c: &mut Check) -> Result<(), Failure> {
    let addr = server(c, "--framed")?;
    let mut conn = Conn::connect(c, addr)?;
    // Three messages in one write, one of them empty.
    let mut three = frame(b"hello");
    three.extend(frame(b""));
    three.extend(frame(b"wor ld"));
    conn.write(c, &three)?;
    expect_frame(c, &mut conn, "hello", "HELLO")?;
    expect_frame(c, &mut conn, "", "")?;
    expect_frame(c, &mut conn, "wor ld", "WOR LD")?;
    // One message in three pieces, the length itself cut in two.
    let split = frame(b"split message");
    for piece in [&split[..2], &split[2..7], &split[7..]] {
        conn.write(c, piece)?;
        std::thread::sleep(Duration::from_millis(50));
    }
    expect_frame(c, &mut conn, "split message", "SPLIT MESSAGE")?;
    // A length no message may have: the server must not try to allocate 4 GiB.
    conn.write(c, &[0xff, 0xff, 0xff, 0xff])?;
    conn.closed(
        c,
        "the server to close the connection after a length of 4294967295",
    )?;
    c.pass("a length over the limit made the server close the connection");
    let mut again = Conn::connect(c, addr)?;
    again.write(c, &frame(b"still here"))?;
    expect_frame(c, &mut again, "still here", "STILL HERE")
}

/// Starts tcp-client talking to `server` with `extra` flags.
fn client(c: &mut Check, server: SocketAddr, extra: &[&str]) -> Result<Proc, Failure> {
    // A client that rejects its flags never connects: say so now, rather than wait for it.
    for flag in extra.iter().filter(|a| a.starts_with("--")) {
        if !c.has_flag("tcp-client", flag) {
            return Err(c.fail(format!(
                "`tcp-client --help` lists no {flag}: the exercise adds that flag"
            )));
        }
    }
    let mut args = c.peer_args("tcp-client", server);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.spawn("tcp-client", &args)
}

pub fn client_total(c: &mut Check) -> Result<(), Failure> {
    let listener = Listener::bind(c, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let p = client(c, listener.addr, &[])?;
    let mut conn = listener.accept(c, "tcp-client to connect")?;
    c.pass("tcp-client connected");
    for chunk in [&b"abc"[..], &[b'x'; 500][..], &[b'y'; 497][..]] {
        conn.write(c, chunk)?;
    }
    drop(conn);
    c.pass("the server sent 1000 bytes in three writes and closed");
    let line = c.expect(
        p,
        "closed the connection",
        "expected the client to say that the server closed the connection",
    )?;
    if !line.contains("1000 bytes") {
        return Err(c.fail(format!(
            "the server sent 1000 bytes in all, so expected \"1000 bytes\" in the line, got \
             {line:?}"
        )));
    }
    c.pass(format!("{line:?}"));
    Ok(())
}

pub fn client_lines(c: &mut Check) -> Result<(), Failure> {
    let listener = Listener::bind(c, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let p = client(c, listener.addr, &["--lines"])?;
    let mut conn = listener.accept(c, "tcp-client to connect")?;
    c.pass("tcp-client --lines connected");
    // Line ends in the middle of writes, never at their end.
    for piece in ["hel", "lo\nwor", "ld\n", "", "one\ntwo\n", "tail"] {
        conn.write(c, piece.as_bytes())?;
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(conn);
    c.pass(
        "the server sent \"hel\", \"lo\\nwor\", \"ld\\n\", \"one\\ntwo\\n\", \"tail\" and closed",
    );
    c.scene.wait(p).map_err(|e| c.fail(e.to_string()))?;
    let lines: Vec<String> = c
        .scene
        .output(p, Stream::Stdout)
        .into_iter()
        .filter(|l| l.starts_with("line: "))
        .collect();
    let want = ["line: hello", "line: world", "line: one", "line: two"];
    let complete = lines.len() == 5
        && lines.iter().zip(want).all(|(l, w)| l == w)
        && lines.get(4).is_some_and(|l| l.starts_with("line: tail"));
    if !complete {
        return Err(c.fail(format!(
            "expected the lines {want:?} and then one starting \"line: tail\", got {lines:?}"
        )));
    }
    c.pass(format!("the client printed {lines:?}"));
    Ok(())
}

pub fn client_retry(c: &mut Check) -> Result<(), Failure> {
    // A port that nobody listens on, for now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| c.fail(format!("cannot find a free port: {e}")))?;
    let p = client(c, addr, &["--retry", "5"])?;
    c.expect(
        p,
        "trying again",
        "with nobody listening, expected the client to say it is trying again",
    )?;
    c.pass("connection refused: the client says it is trying again");
    let listener = Listener::bind(c, addr)?;
    let mut conn = listener.accept(c, "tcp-client to connect once the server is up")?;
    c.pass(format!(
        "a server came up on {addr}, and the client connected"
    ));
    c.scene
        .send_line(p, "made it")
        .map_err(|e| c.fail(e.to_string()))?;
    let got = conn.line(c, "the line the client types")?;
    if got != "made it" {
        return Err(c.fail(format!(
            "typed \"made it\", expected the server to receive it, got {got:?}"
        )));
    }
    c.pass("what was typed arrived");
    drop(conn);
    drop(listener);

    // Nobody ever listens: the client gives up after its tries, and fails.
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| c.fail(format!("cannot find a free port: {e}")))?;
    let q = client(c, dead, &["--retry", "2"])?;
    let status = c.scene.wait(q).map_err(|e| c.fail(e.to_string()))?;
    let tries = c
        .scene
        .output(q, Stream::Stdout)
        .into_iter()
        .chain(c.scene.output(q, Stream::Stderr))
        .filter(|l| l.contains("trying again"))
        .count();
    if status.success() || tries != 2 {
        return Err(c.fail(format!(
            "with nobody listening and --retry 2, expected 2 lines \"trying again\" and then a \
             failure; saw {tries} such lines and {status}"
        )));
    }
    c.pass("with nobody listening, it tried twice more and then failed");
    Ok(())
}
