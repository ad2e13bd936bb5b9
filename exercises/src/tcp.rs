//! tcp-server and tcp-client: the check is the client of the one, the server of the other.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::{Proc, Stream};

use crate::wire::{Conn, Listener};
use crate::{Check, Failure, shown};

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

/// A line of the server's log that is exactly `want`; `fail` says what it is about.
fn log_line(c: &mut Check, p: Proc, want: &str, fail: &str) -> Result<(), Failure> {
    c.expect_line(p, want, fail)?;
    c.pass(format!("the server logged {want:?}"));
    Ok(())
}

/// Sends `data` in pieces cut where the seed says and expects exactly `data` back.
fn echoed(c: &mut Check, conn: &mut Conn, data: &[u8]) -> Result<(), Failure> {
    let cut = c.rng().below(1..data.len().max(2));
    let (first, rest) = data.split_at(cut.min(data.len()));
    conn.write(c, first)?;
    std::thread::sleep(Duration::from_millis(20));
    conn.write(c, rest)?;
    let got = conn.bytes(c, data.len(), &format!("the echo of {}", shown(data)))?;
    if got != data {
        return Err(c.fail(format!(
            "sent {}, expected exactly those bytes back (the echo, as before), got {}",
            shown(data),
            shown(&got)
        )));
    }
    c.pass(format!("{} was echoed", shown(data)));
    Ok(())
}

pub fn server_greet(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = c.start("tcp-server", &["--port", "0", "--greet"])?;
    c.pass(format!("tcp-server --greet is listening on {addr}"));
    // Several clients at once, each greeted with its own address before it sends anything.
    let clients = c.rng().below(3..6);
    let mut conns = Vec::new();
    for n in 1..=clients {
        let (conn, me) = greeted(
            c,
            addr,
            &format!(
                "connecting (client {n} of {clients}, the others still connected), before sending anything"
            ),
        )?;
        conns.push((conn, me, 0usize));
    }
    // Then each echoes what it is sent, as before: bytes of any kind, a line or not, twice,
    // and nothing else (one greeting, not one per read).
    for round in 0..2 {
        for (conn, _, sent) in conns.iter_mut().rev() {
            let len = c.rng().below(1..40);
            let mut data = c.rng().text(len).into_bytes();
            if round == 1 {
                data.extend(c.rng().bytes(3));
            }
            echoed(c, conn, &data)?;
            *sent += data.len();
        }
    }
    // Our FIN: the server closes too, and logs the session's end as it always did, counting
    // what the client sent (the greeting is not part of it).
    for (mut conn, me, sent) in conns {
        conn.finish(c)?;
        conn.closed(c, "the server to close after our FIN")?;
        let want = format!("{me} closed the connection (FIN) after {sent} bytes; closing ours");
        log_line(
            c,
            p,
            &want,
            "expected the server's log to end the session as before",
        )?;
    }
    c.pass("after each client's FIN, the server closed too");
    greeting_not_received(c, p)?;
    // Over IPv6, an address is written in brackets, as accept returns it.
    let (_, addr6) = c.start("tcp-server", &["--bind", "::1", "--port", "0", "--greet"])?;
    let (mut conn, _) = greeted(c, addr6, "connecting over IPv6")?;
    echoed(c, &mut conn, b"ping\n")?;
    greet_dual_stack(c)?;
    greet_one_at_a_time(c)?;
    greet_quiet_or_refused(c)?;
    greet_dumped(c)
}

/// `--quiet` silences the log, not the greeting: a quiet server greets as any other. A client
/// refused for `--max-per-address` is not served, so not greeted: it is closed with nothing.
fn greet_quiet_or_refused(c: &mut Check) -> Result<(), Failure> {
    let (_, addr) = c.start(
        "tcp-server",
        &[
            "--port",
            "0",
            "--greet",
            "--quiet",
            "--max-per-address",
            "1",
        ],
    )?;
    let (mut first, _) = greeted(
        c,
        addr,
        "connecting to --greet --quiet (the log is quiet, the greeting is not)",
    )?;
    // A second client from the same address, while the first holds the address's one place.
    let mut refused = Conn::connect(c, addr)?;
    refused.closed(
        c,
        "a second client from 127.0.0.1 under --max-per-address 1 to be refused: closed as \
         before, with nothing sent (no greeting: it is never served)",
    )?;
    c.pass("a client refused for --max-per-address was closed without a greeting");
    echoed(c, &mut first, b"still here\n")?;
    first.finish(c)?;
    first.closed(c, "the server to close after our FIN")
}

/// Connects to a `--greet` server and reads its greeting, which must be `welcome, ADDR`,
/// ADDR our own address: the connection, and that address as the server writes it.
fn greeted(c: &Check, addr: SocketAddr, after: &str) -> Result<(Conn, String), Failure> {
    let mut conn = Conn::connect(c, addr)?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    line_is(c, &mut conn, after, &format!("welcome, {me}"))?;
    Ok((conn, me))
}

/// With `--hexdump`, the greeting is dumped as every chunk the server sends is.
fn greet_dumped(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = c.start("tcp-server", &["--port", "0", "--greet", "--hexdump"])?;
    let (_conn, me) = greeted(c, addr, "connecting to --greet --hexdump")?;
    let greeting = format!("welcome, {me}");
    c.dumped(
        p,
        true,
        &me,
        format!("{greeting}\n").as_bytes(),
        "the greeting",
    )
}

/// The greeting is sent, not received: no `received ... from ADDR` line of the log shows it.
fn greeting_not_received(c: &mut Check, p: Proc) -> Result<(), Failure> {
    let shown: Vec<String> = c
        .scene
        .output(p, Stream::Stdout)
        .into_iter()
        .chain(c.scene.output(p, Stream::Stderr))
        .filter(|l| l.starts_with("received ") && l.contains("welcome"))
        .collect();
    if !shown.is_empty() {
        return Err(c.fail(format!(
            "the server logged its own greeting as if a client had sent it: {shown:?}; the log \
             shows what clients send, and the greeting is not part of it"
        )));
    }
    c.pass("the log shows what the clients sent, and not the greeting");
    Ok(())
}

/// On a dual-stack listener (`--bind ::`), an IPv4 client is accepted with an IPv4-mapped
/// IPv6 address, and greeted with it, as accept returned it.
fn greet_dual_stack(c: &mut Check) -> Result<(), Failure> {
    let v6only = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").unwrap_or_default();
    if v6only.trim() != "0" {
        c.pass("(this system's IPv6 sockets are IPv6-only: no dual-stack step)");
        return Ok(());
    }
    let (_, any) = c.start("tcp-server", &["--bind", "::", "--port", "0", "--greet"])?;
    let mut conn = Conn::connect(c, SocketAddr::from(([127, 0, 0, 1], any.port())))?;
    let me = conn.local_addr().map_or(0, |a| a.port());
    line_is(
        c,
        &mut conn,
        "an IPv4 client connecting to a server bound to :: (dual stack)",
        &format!("welcome, [::ffff:127.0.0.1]:{me}"),
    )?;
    echoed(c, &mut conn, b"v4 over v6\n")
}

/// With --sequential, the next client waits in the accept queue: it is greeted when it is
/// accepted, once the one before has gone. With --once, the one client is greeted too.
fn greet_one_at_a_time(c: &mut Check) -> Result<(), Failure> {
    let (sequential, addr) = c.start("tcp-server", &["--port", "0", "--greet", "--sequential"])?;
    let (mut first, _) = greeted(c, addr, "connecting to --sequential")?;
    let mut second = Conn::connect(c, addr)?;
    let next = second
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    nothing_for(
        c,
        &mut second,
        Duration::from_millis(300),
        "with --sequential, a second client waits in the accept queue while the first is served: \
         it is not accepted yet, so not greeted yet",
    )?;
    // A third client gives up while it waits, with an RST: when it is accepted, its greeting
    // cannot be written, and its session ends with a line in the log as any other.
    let third = Conn::connect(c, addr)?;
    let gone = third
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    third.reset(c)?;
    echoed(c, &mut first, b"first\n")?;
    first.finish(c)?;
    first.closed(c, "the server to close after our FIN")?;
    line_is(
        c,
        &mut second,
        "the first client's end, with --sequential (now the second is accepted)",
        &format!("welcome, {next}"),
    )?;
    echoed(c, &mut second, b"second\n")?;
    second.finish(c)?;
    second.closed(c, "the server to close after our FIN")?;
    let said = c.expect_matching(
        sequential,
        &gone,
        "a queued client that reset its connection before it was accepted: when accepted, its \
         greeting fails, and its session ends with a line in the log, as every session does \
         (`ADDR reset the connection (RST) after 0 bytes` or the like)",
        |l| crate::promises::ends_session(l, &gone),
    )?;
    c.pass(format!(
        "a client that reset while queued was accepted, and its session ended in the log: {said:?}"
    ));
    let (once, addr) = c.start("tcp-server", &["--port", "0", "--greet", "--once"])?;
    let (mut only, _) = greeted(c, addr, "connecting to --once")?;
    echoed(c, &mut only, b"once\n")?;
    only.finish(c)?;
    only.closed(c, "the server to close after our FIN")?;
    c.scene.wait_success(once).map_err(|e| c.fail(e.what()))?;
    c.pass("with --sequential and --once, each client was greeted when accepted");
    Ok(())
}

/// Fails if anything (or the end of the stream) comes on `conn` within `quiet`.
fn nothing_for(c: &Check, conn: &mut Conn, quiet: Duration, why: &str) -> Result<(), Failure> {
    use std::io::BufRead;
    let set = |conn: &Conn, t| {
        conn.reader
            .get_ref()
            .set_read_timeout(Some(t))
            .map_err(|e| c.fail(format!("cannot set a read timeout: {e}")))
    };
    set(conn, quiet)?;
    let got = conn.reader.fill_buf().map(<[u8]>::to_vec);
    set(conn, crate::WAIT)?;
    match got {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(())
        }
        Ok(data) if data.is_empty() => Err(c.fail(format!("{why}; but the connection was closed"))),
        Ok(data) => Err(c.fail(format!("{why}; but {} came", shown(&data)))),
        Err(e) => Err(c.fail(format!("{why}; but reading failed: {e}"))),
    }
}

/// The longest command line --commands takes, its line end included.
const MAX_LINE: usize = 1024;

/// The next line of `conn` as bytes, without its `\n`; `what` names it when it does not come.
fn raw_line(c: &Check, conn: &mut Conn, what: &str) -> Result<Vec<u8>, Failure> {
    use std::io::BufRead;
    let mut line = Vec::new();
    match conn.reader.read_until(b'\n', &mut line) {
        Ok(_) if line.ends_with(b"\n") => {
            line.pop();
            Ok(line)
        }
        Ok(_) => Err(c.fail(format!(
            "expected {what}, but the connection was closed after {}",
            shown(&line)
        ))),
        Err(e) => Err(c.fail(format!("expected {what}, but reading failed: {e}"))),
    }
}

/// Sends the command `line` (its line end included) and expects exactly the line `want`.
fn answered(c: &mut Check, conn: &mut Conn, line: &[u8], want: &[u8]) -> Result<(), Failure> {
    conn.write(c, line)?;
    let sent = shown(line);
    let got = raw_line(c, conn, &format!("the answer to {sent}"))?;
    if got != want {
        return Err(c.fail(format!(
            "after {sent}, expected the line {} (byte for byte), got {}",
            shown(want),
            shown(&got)
        )));
    }
    c.pass(format!("{sent} was answered {}", shown(want)));
    Ok(())
}

/// Sends `line`, which is no command, and expects a line that begins with `ERR`.
fn refused(c: &mut Check, conn: &mut Conn, line: &[u8], why: &str) -> Result<(), Failure> {
    conn.write(c, line)?;
    let sent = shown(line);
    let got = raw_line(c, conn, &format!("an answer to {sent}"))?;
    if !got.starts_with(b"ERR") {
        return Err(c.fail(format!(
            "after {sent}, expected a line starting with \"ERR\" ({why}), got {}",
            shown(&got)
        )));
    }
    c.pass(format!("{sent} was answered {}", shown(&got)));
    Ok(())
}

/// ECHO's TEXT for the check: arbitrary bytes, not UTF-8 too, but no line end.
fn echo_text(c: &mut Check, len: usize) -> Vec<u8> {
    let mut text = c.rng().text(len).into_bytes();
    for b in c.rng().bytes(len) {
        if b != b'\n' && b != b'\r' {
            let at = c.rng().below(0..text.len() + 1);
            text.insert(at, b);
        }
    }
    text.push(b' ');
    text
}

/// `word` with its letters in a case chosen by the seed, never all upper case.
fn other_case(c: &mut Check, word: &str) -> String {
    loop {
        let w: String = word
            .chars()
            .map(|ch| match c.rng().below(0..2) {
                0 => ch.to_ascii_lowercase(),
                _ => ch,
            })
            .collect();
        if w != word {
            return w;
        }
    }
}

/// tcp-server with `flag` and a seeded `--idle-timeout` of 1 or 2 s, listening: the timeout,
/// the process and its address.
fn server_with_idle_timeout(
    c: &mut Check,
    flag: &str,
) -> Result<(usize, Proc, SocketAddr), Failure> {
    let idle = c.rng().below(1..3);
    let idle_flag = idle.to_string();
    let (p, addr) = c.start(
        "tcp-server",
        &["--port", "0", flag, "--idle-timeout", &idle_flag],
    )?;
    c.pass(format!(
        "tcp-server {flag} --idle-timeout {idle} is listening on {addr}"
    ));
    Ok((idle, p, addr))
}

pub fn server_commands(c: &mut Check) -> Result<(), Failure> {
    let (idle, p, addr) = server_with_idle_timeout(c, "--commands")?;
    let mut conn = Conn::connect(c, addr)?;
    // Two commands in one write: the server must find the line ends itself.
    conn.write(c, b"ECHO hello there\nTIME\n")?;
    line_is(c, &mut conn, "ECHO hello there", "hello there")?;
    time_answer(c, &mut conn, "TIME")?;
    refused(c, &mut conn, b"NOPE\n", "it is no command")?;
    // Commands are whole words, in upper case: QUITE is not QUIT, quit is not QUIT either.
    for wrong in ["QUITE", "TIMES", "ECHOES x"] {
        refused(
            c,
            &mut conn,
            format!("{wrong}\n").as_bytes(),
            "it is no command",
        )?;
    }
    let quit = other_case(c, "QUIT");
    let time = other_case(c, "TIME");
    let echo = format!("{} x", other_case(c, "ECHO"));
    for wrong in [quit, time, echo] {
        refused(
            c,
            &mut conn,
            format!("{wrong}\n").as_bytes(),
            "commands are upper case",
        )?;
    }
    // A line may end in \r\n, as telnet sends it: the \r is part of the line end.
    answered(c, &mut conn, b"ECHO crlf \r\n", b"crlf ")?;
    // Only the \r just before the \n: another \r before it is part of the text.
    answered(c, &mut conn, b"ECHO cr\r\r\n", b"cr\r")?;
    conn.write(c, b"TIME\r\n")?;
    time_answer(c, &mut conn, "TIME\\r\\n")?;
    // ECHO's text as it came, byte for byte (non-UTF-8 too), split at a point the seed
    // chooses.
    let len = c.rng().below(1..30);
    let text = echo_text(c, len);
    let line = [b"ECHO ".as_slice(), &text, b"\n"].concat();
    let cut = c.rng().below(1..line.len());
    let (first, rest) = line.split_at(cut);
    conn.write(c, first)?;
    // A second client meanwhile: the server serves both at once.
    let mut other = Conn::connect(c, addr)?;
    answered(c, &mut other, b"ECHO second client\n", b"second client")?;
    conn.write(c, rest)?;
    let got = raw_line(c, &mut conn, "the answer to ECHO in two pieces")?;
    if got != text {
        return Err(c.fail(format!(
            "sent ECHO {} in two pieces, expected exactly those bytes back, got {}",
            shown(&text),
            shown(&got)
        )));
    }
    c.pass(format!("ECHO {} in two pieces was answered", shown(&text)));
    // The longest line: exactly MAX_LINE bytes, its newline included.
    let fit = echo_text(c, 8);
    let mut fit = fit.repeat(MAX_LINE / fit.len() + 1);
    fit.truncate(MAX_LINE - "ECHO \n".len());
    answered(
        c,
        &mut conn,
        &[b"ECHO ".as_slice(), &fit, b"\n"].concat(),
        &fit,
    )?;
    // One command in two pieces: nothing may be answered until the line is complete.
    conn.write(c, b"QU")?;
    std::thread::sleep(Duration::from_millis(100));
    conn.write(c, b"IT\n")?;
    line_is(c, &mut conn, "QUIT in two pieces", "BYE")?;
    conn.closed(c, "the server to close the connection after BYE")?;
    c.pass("after BYE, the server closed the connection");
    // --idle-timeout is a limit on silence, not on a line: a line typed slowly, its pieces
    // 0.6 S apart, is answered.
    let mut slow = Conn::connect(c, addr)?;
    let gap = Duration::from_secs(idle as u64).mul_f64(0.6);
    for piece in [b"EC".as_slice(), b"HO ", b"slowly typed\n"] {
        slow.write(c, piece)?;
        if !piece.ends_with(b"\n") {
            std::thread::sleep(gap);
        }
    }
    line_is(
        c,
        &mut slow,
        "ECHO slowly typed, in three pieces 0.6 S apart",
        "slowly typed",
    )?;
    commands_limits(c, p, addr, idle)?;
    busy_not_evicted(c, "--commands")?;
    commands_once(c)?;
    commands_quiet(c)
}

/// With `--quiet`, the command path prints nothing per connection either: not how QUIT or a
/// line too long ended it.
fn commands_quiet(c: &mut Check) -> Result<(), Failure> {
    let (_, addr) = c.start("tcp-server", &["--port", "0", "--commands", "--quiet"])?;
    let mut conn = Conn::connect(c, addr)?;
    conn.write(c, b"ECHO \x1b[2J\r\nQUIT\n")?;
    let _ = conn.line(c, "the answer to ECHO")?;
    line_is(c, &mut conn, "QUIT, with --quiet", "BYE")?;
    conn.closed(c, "the server to close after BYE")?;
    let mut long = Conn::connect(c, addr)?;
    long.write(c, &[b'x'; 1100])?;
    let answer = long.line(c, "ERR for a line too long, with --quiet")?;
    if !answer.starts_with("ERR") {
        return Err(c.fail(format!(
            "with --quiet, 1100 bytes without a newline: expected a line beginning with ERR, \
             got {answer:?}"
        )));
    }
    long.closed(c, "the server to close after a line too long")?;
    c.pass("with --commands --quiet, QUIT and a line too long were served");
    Ok(())
}

/// Expects the answer to TIME: the seconds since 1970, within a minute of our clock.
fn time_answer(c: &mut Check, conn: &mut Conn, sent: &str) -> Result<(), Failure> {
    let time = conn.line(c, &format!("the answer to {sent}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match time.parse::<u64>() {
        Ok(t) if t.abs_diff(now) <= 60 => c.pass(format!("{sent} was answered {time:?}")),
        _ => {
            return Err(c.fail(format!(
                "after {sent}, expected the seconds since 1970 (about {now}), got {time:?}"
            )));
        }
    }
    Ok(())
}

/// A line longer than MAX_LINE bytes gets an ERR line and the connection closed, at once;
/// a client that goes silent is closed after --idle-timeout, as in the echo.
fn commands_limits(c: &mut Check, p: Proc, addr: SocketAddr, idle: usize) -> Result<(), Failure> {
    let mut long = Conn::connect(c, addr)?;
    let over = c.rng().below(MAX_LINE + 1..MAX_LINE + 200);
    let mut line = b"ECHO ".to_vec();
    line.resize(over, b'x');
    long.write(c, &line)?;
    let t = Instant::now();
    let got = raw_line(
        c,
        &mut long,
        &format!("an ERR line after {over} bytes without a newline (the limit is {MAX_LINE})"),
    )?;
    if !got.starts_with(b"ERR") || t.elapsed() > Duration::from_secs(idle as u64) / 2 {
        return Err(c.fail(format!(
            "after {over} bytes without a newline, more than the {MAX_LINE} a line may have, \
             expected at once a line starting with \"ERR\", got {} after {:.2} s",
            shown(&got),
            t.elapsed().as_secs_f64()
        )));
    }
    long.closed(
        c,
        "the server to close the connection after a line too long",
    )?;
    c.pass(format!(
        "a line of more than {MAX_LINE} bytes was refused, and the connection closed"
    ));
    // One byte over with its line end: 1025 bytes, the `\n` or the `\r\n` included.
    for end in [b"\n".as_slice(), b"\r\n"] {
        let mut over_by_one = Conn::connect(c, addr)?;
        let mut line = b"ECHO ".to_vec();
        line.resize(MAX_LINE + 1 - end.len(), b'y');
        line.extend_from_slice(end);
        over_by_one.write(c, &line)?;
        let what = format!(
            "a line of {} bytes, its {} included",
            line.len(),
            shown(end)
        );
        let got = raw_line(c, &mut over_by_one, &format!("an ERR line after {what}"))?;
        if !got.starts_with(b"ERR") {
            return Err(c.fail(format!(
                "sent {what} (the limit is {MAX_LINE}), expected a line starting with \"ERR\", \
                 got {}",
                shown(&got)
            )));
        }
        over_by_one.closed(
            c,
            "the server to close the connection after a line one byte too long",
        )?;
        c.pass(format!("{what} was refused too"));
    }
    let mut silent = Conn::connect(c, addr)?;
    let silent_me = silent
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    silent.write(c, b"ECH")?;
    let took = closes(
        c,
        &mut silent,
        "the server to close a client that went silent",
    )?;
    let limit = Duration::from_secs(idle as u64);
    if took < limit.mul_f64(0.9) || took > limit + LATE {
        return Err(c.fail(format!(
            "a client sent half a command and went silent; with --idle-timeout {idle} the \
             server must close it after {idle} s, as the echo does; it did after {:.2} s",
            took.as_secs_f64()
        )));
    }
    let want =
        format!("{silent_me} sent nothing for {idle} s (--idle-timeout): closed after 3 bytes");
    c.expect_line(
        p,
        &want,
        "silence ends the connection, logged as in the echo",
    )?;
    c.pass(format!(
        "a silent client was closed after {:.2} s (--idle-timeout {idle}), logged as in the echo",
        took.as_secs_f64()
    ));
    Ok(())
}

/// With --once, the one client is served with commands too, and then the server exits.
fn commands_once(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = c.start("tcp-server", &["--port", "0", "--commands", "--once"])?;
    let mut conn = Conn::connect(c, addr)?;
    answered(c, &mut conn, b"ECHO once\n", b"once")?;
    answered(c, &mut conn, b"QUIT\n", b"BYE")?;
    conn.closed(c, "the server to close the connection after BYE")?;
    c.scene.wait_success(p).map_err(|e| c.fail(e.what()))?;
    c.pass("with --once, the client was served with commands, and the server exited");
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

/// The longest message the statement allows: 1 MiB.
const MAX_MESSAGE: usize = 1 << 20;

/// Expects the answer to the message `sent`: its length in 4 bytes, then its bytes in ASCII
/// upper case (every other byte as it was).
fn expect_frame(c: &Check, conn: &mut Conn, sent: &[u8]) -> Result<(), Failure> {
    let want = sent.to_ascii_uppercase();
    let name = if sent.len() <= 40 {
        shown(sent)
    } else {
        format!("of {} bytes", sent.len())
    };
    let what = format!("the answer to the message {name}");
    let header = conn.bytes(c, 4, &format!("the 4-byte length of {what}"))?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if len as usize != want.len() {
        let mut peek = header.clone();
        if len < 1024 {
            peek.extend(conn.bytes(c, len as usize, &what).unwrap_or_default());
        }
        return Err(c.fail(format!(
            "expected {what}: the length {} (big-endian 4 bytes) and its bytes; got the length \
             {len} in {}",
            want.len(),
            shown(&peek)
        )));
    }
    let got = conn.bytes(c, want.len(), &what)?;
    if got != want {
        let at = got.iter().zip(&want).position(|(g, w)| g != w).unwrap_or(0);
        return Err(c.fail(format!(
            "expected {what} to be the same bytes, ASCII letters in upper case and every other \
             byte unchanged; byte {at} differs: expected {}, got {}",
            shown(want.get(at..(at + 16).min(want.len())).unwrap_or_default()),
            shown(got.get(at..(at + 16).min(got.len())).unwrap_or_default())
        )));
    }
    c.pass(format!("the message {name} was answered"));
    Ok(())
}

/// A message of `len` bytes: letters of both cases, spaces, and bytes of every other kind.
fn message(c: &mut Check, len: usize) -> Vec<u8> {
    let mut m = c.rng().bytes(len);
    for b in m.iter_mut().step_by(3) {
        *b = b'a' + *b % 26;
    }
    m
}

/// Writes `data` in pieces cut at points the seed chooses, waiting a little between them.
fn write_in_pieces(c: &mut Check, conn: &mut Conn, data: &[u8]) -> Result<usize, Failure> {
    let mut cuts: Vec<usize> = (0..c.rng().below(2..6))
        .map(|_| c.rng().below(1..data.len().max(2)))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut from = 0;
    let mut pieces = 0;
    for cut in cuts.into_iter().chain([data.len()]) {
        if cut <= from || cut > data.len() {
            continue;
        }
        let piece = data.get(from..cut).unwrap_or_default();
        if conn.write(c, piece).is_err() {
            return Err(c.fail("the server closed the connection before all the messages were sent: each must be answered, and the connection go on"));
        }
        std::thread::sleep(Duration::from_millis(15));
        from = cut;
        pieces += 1;
    }
    Ok(pieces)
}

/// Waits for the server to close `conn`, and says how long that took.
fn closes(c: &Check, conn: &mut Conn, what: &str) -> Result<Duration, Failure> {
    let t = Instant::now();
    conn.closed(c, what)?;
    Ok(t.elapsed())
}

pub fn server_framed(c: &mut Check) -> Result<(), Failure> {
    let (idle, p, addr) = server_with_idle_timeout(c, "--framed")?;
    let mut conn = Conn::connect(c, addr)?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    // Several messages in one stream cut anywhere: empty, short, and one past 65,535 bytes.
    let count = c.rng().below(3..6);
    let mut messages = vec![Vec::new()];
    for _ in 0..count {
        let len = c.rng().below(1..300);
        messages.push(message(c, len));
    }
    // A length whose last byte is an ASCII letter (97 to 122 bytes): the length is no text.
    let letter = c.rng().below(97..123);
    messages.push(message(c, letter));
    let big = c.rng().below(65_536..140_000);
    messages.insert(c.rng().below(1..count), message(c, big));
    let stream: Vec<u8> = messages.iter().flat_map(|m| frame(m)).collect();
    let pieces = write_in_pieces(c, &mut conn, &stream)?;
    c.pass(format!(
        "sent {} messages ({} bytes in all) in {pieces} writes cut anywhere",
        messages.len(),
        stream.len()
    ));
    for m in &messages {
        expect_frame(c, &mut conn, m)?;
    }
    let mut received = stream.len();

    // Several clients at once: one halfway through a message does not hold up another.
    let mut other = Conn::connect(c, addr)?;
    let half = frame(&message(c, 20));
    let cut = c.rng().below(1..half.len());
    other.write(c, half.get(..cut).unwrap_or_default())?;
    let mut third = Conn::connect(c, addr)?;
    let m = message(c, 12);
    third.write(c, &frame(&m))?;
    expect_frame(c, &mut third, &m)?;
    c.pass("a second client's message was answered while a third was halfway through one");
    other.write(c, half.get(cut..).unwrap_or_default())?;
    expect_frame(c, &mut other, half.get(4..).unwrap_or_default())?;

    // One message at a time, each sent when the last is answered: each answer comes at once,
    // not after the 40 ms a delayed ACK holds up a second small write (Nagle).
    let segments_before = data_segments_in(c, &conn)?;
    let mut times = Vec::new();
    for _ in 0..15 {
        let len = c.rng().below(1..20);
        let m = message(c, len);
        let t = Instant::now();
        conn.write(c, &frame(&m))?;
        expect_frame(c, &mut conn, &m)?;
        times.push(t.elapsed());
        received += 4 + m.len();
    }
    times.sort_unstable();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    if median > Duration::from_millis(20) {
        return Err(c.fail(format!(
            "15 messages, one at a time: the median round trip was {:.1} ms; on loopback it is \
             well under a millisecond, unless an answer goes out in two writes and the second \
             waits for the ACK of the first (Nagle): send each answer in one write",
            median.as_secs_f64() * 1000.0
        )));
    }
    c.pass(format!(
        "15 messages one at a time: median round trip {:.2} ms",
        median.as_secs_f64() * 1000.0
    ));
    // Each answer in one write: one TCP segment each, as `ss -tni` counts them on our side.
    let segments = data_segments_in(c, &conn)? - segments_before;
    if segments != 15 {
        return Err(c.fail(format!(
            "15 small answers came in {segments} TCP segments (`ss -tni`: data_segs_in); each \
             answer, its length and its bytes, goes out in one write, and so in one segment"
        )));
    }
    c.pass("15 answers came in 15 segments: each in one write");
    // --idle-timeout limits a silence, not a message: a message whose pieces come slowly, but
    // each well within the limit, is answered however long it takes in all.
    let slow = message(c, 40);
    let framed = frame(&slow);
    let gap = Duration::from_secs(idle as u64).mul_f64(0.35);
    let slowly = format!(
        "a message of {} bytes, sent in 5 pieces {:.2} s apart (with --idle-timeout {idle}: \
         each piece well within it), to be answered",
        slow.len(),
        gap.as_secs_f64()
    );
    for piece in framed.chunks(framed.len().div_ceil(5)) {
        if conn.write(c, piece).is_err() {
            return Err(c.fail(format!(
                "expected {slowly}, but the server closed the connection before the last piece: \
                 --idle-timeout limits a silence, not a message"
            )));
        }
        std::thread::sleep(gap);
    }
    expect_frame(c, &mut conn, &slow).map_err(|_| c.fail(format!("expected {slowly}")))?;
    received += framed.len();
    c.pass(format!(
        "a message sent in 5 pieces {:.2} s apart, longer than --idle-timeout {idle} in all, \
         was answered",
        gap.as_secs_f64()
    ));

    // The limit: exactly 1 MiB is a message; one byte more closes the connection at once.
    let m = message(c, MAX_MESSAGE);
    conn.write(c, &frame(&m))?;
    expect_frame(c, &mut conn, &m)?;
    received += 4 + m.len();
    conn.finish(c)?;
    conn.closed(
        c,
        "the server to close after our FIN, sent between two messages",
    )?;
    let want = format!("{me} closed the connection (FIN) after {received} bytes; closing ours");
    c.expect_line(p, &want, "a FIN between two messages is the orderly end")?;
    c.pass(format!(
        "after our FIN between messages, the server closed and logged {want:?}"
    ));
    let peak = vm_peak(c, p);
    let huge = c.rng().below(1 << 30..(u32::MAX as usize)) as u32;
    for len in [MAX_MESSAGE as u32 + 1, huge, u32::MAX] {
        let mut over = Conn::connect(c, addr)?;
        over.write(c, &len.to_be_bytes())?;
        let took = closes(
            c,
            &mut over,
            &format!("the server to close after the length {len}"),
        )?;
        if took > Duration::from_secs(idle as u64) / 2 {
            return Err(c.fail(format!(
                "after the length {len} (over 1 MiB), the server closed only {:.2} s later \
                 (--idle-timeout {idle}): it waited for the bytes instead of closing at once",
                took.as_secs_f64()
            )));
        }
        c.pass(format!("the length {len} closed the connection at once"));
    }
    if let (Some(before), Some(after)) = (peak, vm_peak(c, p)) {
        if after > before + (512 << 20) {
            return Err(c.fail(format!(
                "the lengths over 1 MiB made the server's peak memory (VmPeak in /proc/PID/status) \
                 grow from {} MiB to {} MiB: it set memory aside for a message it refuses; check \
                 the length first",
                before >> 20,
                after >> 20
            )));
        }
        c.pass(format!(
            "the server's peak memory stayed at {} MiB: nothing was set aside for a message \
             it refused",
            after >> 20
        ));
    }

    // A FIN in the middle of a message is no orderly end, in its length as in its bytes;
    // silence ends after --idle-timeout.
    let partial = frame(&message(c, 10));
    let in_length = c.rng().below(1..4);
    let in_bytes = c.rng().below(5..partial.len());
    for (at, where_) in [(in_length, "its length"), (in_bytes, "its bytes")] {
        let mut cut_off = Conn::connect(c, addr)?;
        let cut_me = cut_off
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        cut_off.write(c, partial.get(..at).unwrap_or_default())?;
        cut_off.finish(c)?;
        cut_off.closed(
            c,
            "the server to close after a FIN in the middle of a message",
        )?;
        let failed = format!("error: connection with {cut_me} failed");
        c.expect_line_starting(
            p,
            &failed,
            &format!("a FIN in the middle of a message ({where_}) is a failed connection"),
        )?;
        let clean = format!("{cut_me} closed the connection (FIN)");
        if c.scene
            .output(p, Stream::Stdout)
            .iter()
            .any(|l| l.starts_with(&clean))
        {
            return Err(c.fail(format!(
                "we sent FIN after {at} of the {} bytes of a message (in {where_}); the server \
                 logged it as an orderly end ({clean:?}), but the message was cut short",
                partial.len()
            )));
        }
        c.pass(format!(
            "a FIN after {at} bytes of a message (in {where_}) was logged as a failure"
        ));
    }
    let mut silent = Conn::connect(c, addr)?;
    let silent_me = silent
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let at = c.rng().below(1..partial.len());
    silent.write(c, partial.get(..at).unwrap_or_default())?;
    let took = closes(
        c,
        &mut silent,
        "the server to close a client that went silent",
    )?;
    let limit = Duration::from_secs(idle as u64);
    if took < limit.mul_f64(0.9) || took > limit + LATE {
        return Err(c.fail(format!(
            "a client sent {at} bytes of a message and went silent; with --idle-timeout {idle} \
             the server must close it after {idle} s, it did after {:.2} s",
            took.as_secs_f64()
        )));
    }
    let bytes = if at == 1 { "byte" } else { "bytes" };
    let want = format!(
        "{silent_me} sent nothing for {idle} s (--idle-timeout): closed after {at} {bytes}"
    );
    c.expect_line(p, &want, "silence ends the connection as in the echo")?;
    c.pass(format!(
        "a silent client was closed after {:.2} s",
        took.as_secs_f64()
    ));
    not_reading(c, p, addr, idle)?;
    busy_not_evicted(c, "--framed")?;
    framed_log_bounded(c)?;
    framed_quiet_hexdump(c)
}

/// The same log as the echo's means its budget too (common::chunklog): a flood of empty
/// messages, 4 bytes each, must not make the log much bigger than the traffic. A line of about
/// 60 bytes for each made 3.4 MB of log for 256 KiB.
fn framed_log_bounded(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = c.start("tcp-server", &["--port", "0", "--framed"])?;
    let mut conn = Conn::connect(c, addr)?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let flood = vec![0u8; 4 << 16];
    let len = flood.len();
    // Sent by a thread of its own while the answers are read here: with nobody reading them,
    // the server's writes would wait, and so would our write.
    let mut writer = conn
        .reader
        .get_ref()
        .try_clone()
        .map_err(|e| c.fail(format!("cannot clone a socket: {e}")))?;
    let sending = std::thread::spawn(move || {
        std::io::Write::write_all(&mut writer, &flood)
            .and_then(|()| writer.shutdown(std::net::Shutdown::Write))
    });
    let answers = conn.bytes(c, len, "the answers to 65,536 empty messages")?;
    let sent = sending
        .join()
        .map_err(|_| c.fail("the sending thread panicked"))?;
    sent.map_err(|e| c.fail(format!("cannot send 65,536 empty messages: {e}")))?;
    if answers.iter().any(|&b| b != 0) {
        return Err(c.fail(
            "65,536 empty messages must be answered by 65,536 empty messages (4 zero bytes each)",
        ));
    }
    conn.closed(c, "the server to close after our FIN")?;
    c.expect_line_starting(
        p,
        &format!("{me} closed the connection (FIN) after {len} bytes; closing ours"),
        "a FIN after 65,536 empty messages is the orderly end",
    )?;
    let log: usize = (c.scene.output(p, Stream::Stdout).iter())
        .skip(1)
        .map(|l| l.len() + 1)
        .sum();
    if log > len / 4 {
        return Err(c.fail(format!(
            "65,536 empty messages ({len} bytes) made {log} bytes of log: the framed connection \
             keeps the echo's log, and its budget (common::chunklog: each client's lines paid for \
             with its own bytes, then from its address's allowance), so that a peer cannot make \
             the log much bigger than its traffic"
        )));
    }
    c.pass(format!(
        "65,536 empty messages ({len} bytes) were answered, and made {log} bytes of log"
    ));
    Ok(())
}

/// One message and its answer, with `--framed` or `--commands`.
fn exchanged(c: &mut Check, conn: &mut Conn, flag: &str) -> Result<(), Failure> {
    if flag == "--framed" {
        let m = message(c, 16);
        conn.write(c, &frame(&m))?;
        expect_frame(c, conn, &m)
    } else {
        let n = c.rng().below(0..1_000_000);
        conn.write(c, format!("ECHO busy {n}\n").as_bytes())?;
        line_is(c, conn, &format!("ECHO busy {n}"), &format!("busy {n}"))
    }
}

/// Every message (`--framed`) or command (`--commands`) is activity: when every place is
/// taken, the client idle longest makes room, not a busy one that happened to connect first.
fn busy_not_evicted(c: &mut Check, flag: &str) -> Result<(), Failure> {
    let (p, addr) = c.start("tcp-server", &["--port", "0", flag, "--max-clients", "2"])?;
    let mut busy = Conn::connect(c, addr)?;
    // The busy one connects clearly first (the server counts activity in milliseconds): a
    // server that never marks a message as activity would take it for the idler.
    std::thread::sleep(Duration::from_millis(100));
    let mut idle = Conn::connect(c, addr)?;
    let idle_me = idle.local_addr().map(|a| a.to_string()).unwrap_or_default();
    for _ in 0..4 {
        exchanged(c, &mut busy, flag)?;
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut newcomer = Conn::connect(c, addr)?;
    exchanged(c, &mut newcomer, flag)?;
    idle.closed(
        c,
        &format!(
            "with {flag} --max-clients 2 and a third client, the idle one closed to make room"
        ),
    )?;
    c.expect_line_starting(
        p,
        &format!("{idle_me} made room for a new client"),
        "the client idle longest makes room, as the lesson logs it",
    )?;
    exchanged(c, &mut busy, flag)?;
    c.pass(format!(
        "{flag}: with every place taken, the idle client made room, and the busy one \
         (connected first, a message every 0.15 s) was still served"
    ));
    Ok(())
}

/// A client that sends messages and never reads the answers: once they fill the buffers, the
/// server's write waits, and after --idle-timeout it closes, logged as the echo logs it.
fn not_reading(c: &mut Check, p: Proc, addr: SocketAddr, idle: usize) -> Result<(), Failure> {
    use socket2::{Domain, Socket, Type};
    let hog = Socket::new(Domain::IPV4, Type::STREAM, None)
        .and_then(|s| s.set_recv_buffer_size(4096).map(|()| s))
        .and_then(|s| s.connect(&addr.into()).map(|()| s))
        .map(std::net::TcpStream::from)
        .map_err(|e| c.fail(format!("cannot connect to {addr}: {e}")))?;
    let me = hog.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let message = frame(&message(c, 60 * 1024));
    let mut writer = hog
        .try_clone()
        .map_err(|e| c.fail(format!("cannot clone a socket: {e}")))?;
    // Messages until the server stops taking them (it is blocked writing answers), and then
    // until it closes: the write fails.
    let sending =
        std::thread::spawn(
            move || {
                while std::io::Write::write_all(&mut writer, &message).is_ok() {}
            },
        );
    let want = format!("{me} read none of its echo for {idle} s (--idle-timeout): closed after");
    // The buffers take a few seconds to fill (zero-window probes let a few bytes through now
    // and then, and each restarts the write's timeout): up to three waits of the usual length.
    let mut seen = false;
    for _ in 0..3 {
        if c.scene.expect(p, &want).is_ok() {
            seen = true;
            break;
        }
    }
    if !seen {
        return Err(c.fail(format!(
            "a client that never reads its answers is closed as the echo closes one: no line \
             {want:?}..."
        )));
    }
    drop(hog);
    let _ = sending.join();
    c.pass(format!(
        "a client that never read its answers was closed after --idle-timeout {idle}, as the \
         lesson logs it"
    ));
    Ok(())
}

/// With --quiet and --hexdump: the bytes on the wire are shown, the log is silent.
fn framed_quiet_hexdump(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = c.start(
        "tcp-server",
        &["--port", "0", "--framed", "--quiet", "--hexdump"],
    )?;
    let mut conn = Conn::connect(c, addr)?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let len = c.rng().below(1..30);
    let m = message(c, len);
    conn.write(c, &frame(&m))?;
    expect_frame(c, &mut conn, &m)?;
    c.expect_line_starting(p, "<< ", "with --hexdump, the bytes received are shown")?;
    let sent = format!(">> {} bytes to {me}", m.len() + 4);
    c.expect_line(
        p,
        &sent,
        "with --hexdump, the answer is shown as it leaves, in one piece",
    )?;
    conn.finish(c)?;
    conn.closed(c, "the server to close after our FIN")?;
    // Another client's answer, shown after the first client's end would have been logged.
    let mut next = Conn::connect(c, addr)?;
    let next_me = next.local_addr().map(|a| a.to_string()).unwrap_or_default();
    next.write(c, &frame(b"x"))?;
    expect_frame(c, &mut next, b"x")?;
    c.expect_line(
        p,
        &format!(">> 5 bytes to {next_me}"),
        "the second client's answer",
    )?;
    std::thread::sleep(Duration::from_millis(200));
    let logged: Vec<String> = c
        .scene
        .output(p, Stream::Stdout)
        .into_iter()
        .chain(c.scene.output(p, Stream::Stderr))
        .filter(|l| l.contains(&me) && !l.starts_with(">> ") && !l.starts_with("<< "))
        .collect();
    if !logged.is_empty() {
        return Err(c.fail(format!(
            "with --quiet, the server logs nothing of a client; it logged {logged:?}"
        )));
    }
    c.pass("with --hexdump the bytes were shown, and with --quiet nothing was logged");
    framed_once(c)
}

/// With --once, the one client speaks --framed too, and the server exits after it.
fn framed_once(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = c.start("tcp-server", &["--port", "0", "--framed", "--once"])?;
    let mut conn = Conn::connect(c, addr)?;
    let len = c.rng().below(1..30);
    let m = message(c, len);
    conn.write(c, &frame(&m))?;
    expect_frame(c, &mut conn, &m)?;
    conn.finish(c)?;
    conn.closed(c, "the server to close after our FIN")?;
    c.scene.wait_success(p).map_err(|e| c.fail(e.what()))?;
    c.pass("with --once, the client was served --framed, and the server exited");
    Ok(())
}

/// The peak virtual memory of `p` in bytes (`VmPeak` in /proc/PID/status), where Linux says.
fn vm_peak(c: &Check, p: Proc) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.scene.pid(p)?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmPeak:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// How many TCP segments with data `conn` has received, as `ss -tni` says (`data_segs_in`):
/// the check's way to see how many writes the other end made.
fn data_segments_in(c: &Check, conn: &Conn) -> Result<u64, Failure> {
    let stream = conn.reader.get_ref();
    let (Ok(me), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else {
        return Err(c.fail("cannot find the addresses of our connection"));
    };
    let out = std::process::Command::new("ss")
        .args(["-tniH", "src", &me.to_string(), "dst", &peer.to_string()])
        .output()
        .map_err(|e| {
            c.fail(format!(
                "this step counts TCP segments with `ss -tni` (iproute2), which did not run: {e}"
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.contains(&me.to_string()) {
        return Err(c.fail(format!(
            "`ss -tni src {me} dst {peer}` did not show our connection: {text:?}"
        )));
    }
    // ss leaves the field out while it is 0.
    Ok(text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("data_segs_in:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
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

/// How much later than `want` a timed event may come on a loaded machine.
const LATE: Duration = Duration::from_millis(250);

/// A `--lines` line as the lesson prints peer text: control characters escaped.
fn printable(text: &str) -> String {
    text.chars()
        .map(|ch| {
            if ch.is_control() {
                ch.escape_debug().to_string()
            } else {
                ch.to_string()
            }
        })
        .collect()
}

pub fn client_total(c: &mut Check) -> Result<(), Failure> {
    let listener = Listener::bind(c, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let p = client(c, listener.addr, &[])?;
    let mut conn = listener.accept(c, "tcp-client to connect")?;
    c.pass("tcp-client connected");
    // What the client sends is not what came: a typed line, echoed by nobody.
    let typed = format!("typed {}", c.rng().below(0..1000));
    c.scene
        .send_line(p, &typed)
        .map_err(|e| c.fail(e.to_string()))?;
    let got = conn.line(c, "the line typed on the client")?;
    if got != typed {
        return Err(c.fail(format!("typed {typed:?}, the server received {got:?}")));
    }
    // Past 65,535 (a counter in a u16), in arbitrary bytes (not characters), in writes of
    // varied sizes; the last byte begins a character that never ends.
    let total = c.rng().below(65_600..90_000);
    let mut data = c.rng().bytes(total - 1);
    data.push(0xe4);
    let mut at = 0;
    let mut writes = 0;
    while at < data.len() {
        let len = c.rng().below(1..20_000).min(data.len() - at);
        conn.write(c, data.get(at..at + len).unwrap_or_default())?;
        at += len;
        writes += 1;
        if writes == 1 {
            // "In all": a line typed once bytes have come changes nothing in the count.
            type_between(c, p, &mut conn)?;
        }
        if writes % 3 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(conn);
    // Piped input is still sent after the server's FIN: its end ends the client.
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    c.pass(format!(
        "the server sent {total} arbitrary bytes in {writes} writes and closed"
    ));
    fin_line(
        c,
        p,
        total,
        &format!("the server sent {total} bytes in all"),
    )?;
    // The lesson's promise: a character cut at the end of the stream is still reported.
    c.scene.wait(p).map_err(|e| c.fail(e.to_string()))?;
    let all = c.scene.output(p, Stream::Stdout);
    if !all
        .iter()
        .any(|l| l.contains("the stream ended inside a character"))
    {
        return Err(c.fail(
            "the last byte the server sent (e4) begins a character that never ends; the \
             lesson says so (`(the stream ended inside a character: ...)`), and no longer did",
        ));
    }
    c.pass("the character cut at the end is still reported");
    // A server that sends nothing: 0 bytes is a count too.
    let listener = Listener::bind(c, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let p = client(c, listener.addr, &[])?;
    let conn = listener.accept(c, "tcp-client to connect")?;
    drop(conn);
    // Piped input is still sent after the server's FIN: its end ends the client.
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    fin_line(c, p, 0, "the server sent nothing and closed")?;
    // One byte: the lesson writes a count as its other lines do, `1 byte` (text::count).
    let listener = Listener::bind(c, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let p = client(c, listener.addr, &[])?;
    let mut conn = listener.accept(c, "tcp-client to connect")?;
    let byte = b"!?xz7".get(c.rng().below(0..5)).copied().unwrap_or(b'!');
    conn.write(c, &[byte])?;
    drop(conn);
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    fin_line(c, p, 1, "the server sent one byte and closed")?;
    test_changed(c)
}

/// Once the client has shown some of the server's bytes, a line typed on it, which the
/// server receives: the count goes on across it (no new count per question, nothing taken off).
fn type_between(c: &mut Check, p: Proc, conn: &mut Conn) -> Result<(), Failure> {
    c.expect_line_starting(
        p,
        "received ",
        "expected the client to show the bytes the server sent",
    )?;
    let typed = format!("again {}", c.rng().below(0..1000));
    c.scene
        .send_line(p, &typed)
        .map_err(|e| c.fail(e.to_string()))?;
    let got = conn.line(c, "the second line typed on the client")?;
    if got != typed {
        return Err(c.fail(format!("typed {typed:?}, the server received {got:?}")));
    }
    c.pass(format!(
        "once the client showed bytes from the server, {typed:?} was typed and reached it"
    ));
    Ok(())
}

/// The client's line when the server closed: exactly `... (FIN) after TOTAL bytes` (`1 byte`).
fn fin_line(c: &mut Check, p: Proc, total: usize, sent: &str) -> Result<(), Failure> {
    let unit = if total == 1 { "byte" } else { "bytes" };
    let want = format!("the server closed the connection (FIN) after {total} {unit}");
    let line = c.expect(
        p,
        "closed the connection",
        "expected the client to say that the server closed the connection",
    )?;
    if line != want {
        return Err(c.fail(format!(
            "{sent}, so expected the line {want:?}, got {line:?}"
        )));
    }
    c.pass(format!("{line:?}"));
    Ok(())
}

/// The line the lesson's test `half_closes_on_eof_and_reads_until_the_server_closes` must
/// expect now: its server sends `bye\n`, 4 bytes.
const CHANGED_TEST_LINE: &str = "the server closed the connection (FIN) after 4 bytes";

/// The statement asks to change the lesson's exact comparison of that line, not to delete it:
/// some test of the lesson must expect the new line.
fn test_changed(c: &mut Check) -> Result<(), Failure> {
    let Some(root) = crate::workspace(c) else {
        return Err(
            c.fail("cannot find the workspace the lesson was built from, to look at its tests")
        );
    };
    let dir = root.join("lessons/06-tcp-client/tests");
    let tests: String = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    // In the exact comparison of the client's output, right after the line of what came.
    let tests = tests.split_whitespace().collect::<Vec<_>>().join(" ");
    let compared = format!("\"received 4 bytes: bye\\\\n\", {CHANGED_TEST_LINE:?}");
    if !tests.contains(&compared) {
        return Err(c.fail(format!(
            "the lesson's test half_closes_on_eof_and_reads_until_the_server_closes compares the \
             client's output exactly; the statement asks to change it, so that it expects \
             {CHANGED_TEST_LINE:?} (its server sends \"bye\\n\") right after \
             \"received 4 bytes: bye\\\\n\", and no test in {} does",
            dir.display()
        )));
    }
    c.pass(format!("the lesson's test expects {CHANGED_TEST_LINE:?}"));
    Ok(())
}

/// GBK, for `--encoding gbk`: characters and their bytes.
const GBK: &[(char, &[u8])] = &[
    ('你', &[0xc4, 0xe3]),
    ('好', &[0xba, 0xc3]),
    ('网', &[0xcd, 0xf8]),
    ('络', &[0xc2, 0xe7]),
    ('中', &[0xd6, 0xd0]),
    ('文', &[0xce, 0xc4]),
    ('a', b"a"),
    ('7', b"7"),
    (' ', b" "),
];

/// A line of text for `--lines`, its bytes in `--encoding` and the text the client must show.
struct Line {
    bytes: Vec<u8>,
    text: String,
}

impl Line {
    fn utf8(text: String) -> Line {
        Line {
            bytes: text.clone().into_bytes(),
            text,
        }
    }

    fn gbk(c: &mut Check, len: usize) -> Line {
        let mut line = Line::utf8("g".into());
        for _ in 0..len {
            if let Some(&(ch, bytes)) = c.rng().pick(GBK) {
                line.text.push(ch);
                line.bytes.extend_from_slice(bytes);
            }
        }
        line
    }

    fn push(&mut self, ch: char) {
        self.text.push(ch);
        let mut buf = [0u8; 4];
        self.bytes
            .extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
}

pub fn client_lines(c: &mut Check) -> Result<(), Failure> {
    // Lines of varied text, some with a control character the lesson escapes, one ending in
    // a carriage return (part of the line: only \n ends one), then a tail without a newline.
    let count = c.rng().below(3..7);
    let with_cr = c.rng().below(0..count);
    let mut lines = Vec::new();
    for n in 0..count {
        let len = c.rng().below(1..15);
        let mut line = Line::utf8(format!("l{}", c.rng().text(len)));
        if n % 2 == 1 {
            let control = *c.rng().pick(&['\u{1b}', '\t', '\r']).unwrap_or(&'\t');
            line.push(control);
            line.push('x');
        }
        if n == with_cr {
            line.push('\r');
        }
        lines.push(line);
    }
    let len = c.rng().below(1..10);
    let tail = Line::utf8(format!("t{}", c.rng().text(len)));
    lines_session(c, &[], &lines, &tail)?;
    // Ending with a newline: there is no last piece to print. An empty line among them is a
    // line too.
    let mut lines: Vec<Line> = (0..c.rng().below(2..4))
        .map(|_| {
            let len = c.rng().below(1..12);
            Line::utf8(format!("e{}", c.rng().text(len)))
        })
        .collect();
    lines.insert(1, Line::utf8(String::new()));
    lines_session(c, &[], &lines, &Line::utf8(String::new()))?;
    // In another encoding: the lesson's --encoding decodes the lines.
    let count = c.rng().below(2..5);
    let lines: Vec<Line> = (0..count)
        .map(|_| {
            let len = c.rng().below(1..10);
            Line::gbk(c, len)
        })
        .collect();
    let tail = Line::gbk(c, 3);
    lines_session(c, &["--encoding", "gbk"], &lines, &tail)?;
    // A read that ends inside a character, in each encoding: `你好\n` with the first read
    // ending after one byte of 你.
    split_character(c, &[], &[b"\xe4", b"\xbd\xa0\xe5\xa5", b"\xbd\n"])?;
    split_character(
        c,
        &["--encoding", "gbk"],
        &[b"\xc4", b"\xe3\xba", b"\xc3\n"],
    )?;
    long_line(c)
}

/// The `line:` lines `p` printed, once it has ended; with `--lines`, no `received` line.
fn printed_lines(c: &mut Check, p: Proc) -> Result<Vec<String>, Failure> {
    c.scene.wait(p).map_err(|e| c.fail(e.to_string()))?;
    let out = c.scene.output(p, Stream::Stdout);
    if let Some(read) = out.iter().find(|l| l.starts_with("received ")) {
        return Err(c.fail(format!(
            "with --lines, the client prints lines instead of reads, but it printed {read:?}"
        )));
    }
    Ok(out
        .into_iter()
        .filter(|l| l.starts_with("line: "))
        .collect())
}

/// One line far longer than any read: printed whole, as one `line:` line. At least 150,000
/// bytes: a client that cuts a line at 64 KiB, checking only after each 16 KiB read, printed
/// a line of up to 81,919 bytes whole (the newline came in the read that crossed 64 KiB).
fn long_line(c: &mut Check) -> Result<(), Failure> {
    let listener = Listener::bind(c, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let p = client(c, listener.addr, &["--lines"])?;
    let mut conn = listener.accept(c, "tcp-client to connect")?;
    let len = c.rng().below(150_000..300_000);
    let text: String = (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    conn.write(c, text.as_bytes())?;
    conn.write(c, b"\n")?;
    drop(conn);
    // Piped input is still sent after the server's FIN: its end ends the client.
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    let got = printed_lines(c, p)?;
    let want = format!("line: {text}");
    if got.len() != 1 || got.first() != Some(&want) {
        let lens: Vec<usize> = got.iter().map(|l| l.len() - "line: ".len()).collect();
        return Err(c.fail(format!(
            "the server sent one line of {len} bytes (a to z, again and again) and a newline: \
             expected one `line:` line with all of it, got {} `line:` lines of {lens:?} bytes",
            got.len()
        )));
    }
    c.pass(format!(
        "a line of {len} bytes was printed whole, as one `line:` line"
    ));
    Ok(())
}

/// Sends `你好\n` in `pieces`, 40 ms apart: the client must print `line: 你好`.
fn split_character(c: &mut Check, flags: &[&str], pieces: &[&[u8]]) -> Result<(), Failure> {
    let listener = Listener::bind(c, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let mut args = vec!["--lines"];
    args.extend_from_slice(flags);
    let p = client(c, listener.addr, &args)?;
    let mut conn = listener.accept(c, "tcp-client to connect")?;
    for piece in pieces {
        conn.write(c, piece)?;
        std::thread::sleep(Duration::from_millis(40));
    }
    drop(conn);
    // Piped input is still sent after the server's FIN: its end ends the client.
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    let got = printed_lines(c, p)?;
    let shown_pieces: Vec<String> = pieces
        .iter()
        .map(|b| {
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    if got != ["line: 你好"] {
        return Err(c.fail(format!(
            "the server sent 你好 and a newline ({}) in reads of {shown_pieces:?}, each read \
             ending inside a character: expected [\"line: 你好\"] (decode whole lines, not \
             reads), got {got:?}",
            flags.get(1).unwrap_or(&"UTF-8")
        )));
    }
    c.pass(format!(
        "你好 in {} pieces cut inside its characters: the client printed {got:?}",
        flags.get(1).unwrap_or(&"UTF-8")
    ));
    Ok(())
}

/// The offsets in `data` (UTF-8, or GBK) that fall inside a character.
fn inside_characters(data: &[u8], gbk: bool) -> Vec<usize> {
    if !gbk {
        return (1..data.len())
            .filter(|&i| data.get(i).is_some_and(|b| (0x80..0xc0).contains(b)))
            .collect();
    }
    let mut inside = Vec::new();
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        if b >= 0x81 && b != 0xff {
            inside.push(i + 1);
            i += 2;
        } else {
            i += 1;
        }
    }
    inside.retain(|&i| i < data.len());
    inside
}

/// Runs `tcp-client --lines` with `flags`, sends it `lines` and `tail` in pieces cut
/// anywhere, and expects exactly their `line:` lines.
fn lines_session(
    c: &mut Check,
    flags: &[&str],
    lines: &[Line],
    tail: &Line,
) -> Result<(), Failure> {
    let listener = Listener::bind(c, SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let mut args = vec!["--lines"];
    args.extend_from_slice(flags);
    let p = client(c, listener.addr, &args)?;
    let mut conn = listener.accept(c, "tcp-client to connect")?;
    c.pass(format!("tcp-client {} connected", args.join(" ")));
    let mut data = Vec::new();
    let mut ends = Vec::new();
    for l in lines {
        data.extend_from_slice(&l.bytes);
        data.push(b'\n');
        ends.push(data.len());
    }
    data.extend_from_slice(&tail.bytes);
    // Cut anywhere, inside characters too, never only at line ends; and one piece holds two
    // whole lines, so that one read brings two.
    let mut cuts: Vec<usize> = (0..c.rng().below(4..10))
        .map(|_| c.rng().below(1..data.len()))
        .collect();
    let two = c.rng().below(0..lines.len().saturating_sub(1));
    let from = two
        .checked_sub(1)
        .and_then(|i| ends.get(i))
        .copied()
        .unwrap_or(0);
    let to = ends.get(two + 1).copied().unwrap_or(0);
    cuts.retain(|&cut| cut <= from || cut >= to);
    // And the last piece holds the last two lines and the tail: nothing is left for a later
    // read to take out.
    let last_two = lines
        .len()
        .checked_sub(3)
        .and_then(|i| ends.get(i))
        .copied();
    let last_two = last_two.unwrap_or(0);
    cuts.retain(|&cut| cut <= last_two);
    // And at least one cut inside a character, where one can be: a client that decodes each
    // read shows it as two U+FFFD.
    let gbk = flags.contains(&"gbk");
    let inside: Vec<usize> = inside_characters(&data, gbk)
        .into_iter()
        .filter(|&cut| (cut <= from || cut >= to) && cut <= last_two)
        .collect();
    if let Some(&cut) = c.rng().pick(&inside) {
        cuts.push(cut);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([data.len()]) {
        pieces.push(data.get(from..cut).unwrap_or_default().to_vec());
        from = cut;
    }
    for piece in &pieces {
        conn.write(c, piece)?;
        std::thread::sleep(Duration::from_millis(40));
    }
    drop(conn);
    // Piped input is still sent after the server's FIN: its end ends the client.
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    c.pass(format!(
        "the server sent {} lines and {}, in {} pieces cut anywhere (two whole lines in one \
         of them), and closed",
        lines.len(),
        if tail.bytes.is_empty() {
            "nothing after the last newline"
        } else {
            "a tail without a newline"
        },
        pieces.len()
    ));
    let got = printed_lines(c, p)?;
    let mut want: Vec<String> = lines
        .iter()
        .map(|l| format!("line: {}", printable(&l.text)))
        .collect();
    if !tail.bytes.is_empty() {
        want.push(format!(
            "line: {} (no newline at the end)",
            printable(&tail.text)
        ));
    }
    if got != want {
        let sent: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        return Err(c.fail(format!(
            "the server sent the lines {sent:?} (in {}) and then {:?}; expected exactly \
             {want:?} (control characters escaped as the lesson escapes them), got {got:?}",
            flags.get(1).unwrap_or(&"UTF-8"),
            tail.text
        )));
    }
    c.pass(format!("the client printed {got:?}"));
    Ok(())
}

/// Waits for the next `trying again` line of `p` and says when it came.
fn trying_again(c: &mut Check, p: Proc, n: usize) -> Result<std::time::Instant, Failure> {
    c.expect(
        p,
        "trying again",
        &format!("with nobody listening, expected a line `trying again` (try {n})"),
    )?;
    Ok(std::time::Instant::now())
}

/// Fails unless `gap` is about `want`; keeps both, for the sum of all waits.
fn about(
    c: &Check,
    waits: &mut Vec<(Duration, Duration)>,
    gap: Duration,
    want: Duration,
    what: &str,
) -> Result<(), Failure> {
    if gap < want.mul_f64(0.9) || gap > want + LATE {
        return Err(c.fail(format!(
            "{what} came {:.3} s after the one before; the waits are 0.2 s, then twice as \
             long each time, so expected about {:.3} s",
            gap.as_secs_f64(),
            want.as_secs_f64()
        )));
    }
    c.pass(format!(
        "{what} came {:.3} s after the one before (the wait: {:.3} s)",
        gap.as_secs_f64(),
        want.as_secs_f64()
    ));
    waits.push((gap, want));
    Ok(())
}

/// How much longer all the waits together may take than they should: a loaded machine wakes
/// a sleeper a little late, but not 20% of every wait late.
const ALL_LATE: Duration = Duration::from_millis(120);

/// Fails unless the waits took, in all, what they should: exactly 0.2 s, doubled each time,
/// with no random part (jitter) added.
fn waits_exact(c: &Check, waits: &[(Duration, Duration)]) -> Result<(), Failure> {
    let took: Duration = waits.iter().map(|(gap, _)| *gap).sum();
    let want: Duration = waits.iter().map(|(_, want)| *want).sum();
    if took > want + ALL_LATE {
        return Err(c.fail(format!(
            "the {} waits took {:.3} s in all, where 0.2 s doubled each time makes {:.3} s: \
             they are longer than asked ({:.0} ms in all; a random part, jitter, is for real \
             clients, not for this exercise)",
            waits.len(),
            took.as_secs_f64(),
            want.as_secs_f64(),
            (took - want).as_secs_f64() * 1000.0
        )));
    }
    c.pass(format!(
        "the {} waits took {:.3} s in all, for {:.3} s asked",
        waits.len(),
        took.as_secs_f64(),
        want.as_secs_f64()
    ));
    Ok(())
}

pub fn client_retry(c: &mut Check) -> Result<(), Failure> {
    let mut waits = Vec::new();
    // A port that nobody listens on, for now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| c.fail(format!("cannot find a free port: {e}")))?;
    // --bind: the lesson's connect still binds where it is told, on every try.
    let p = client(c, addr, &["--retry", "5", "--bind", "127.0.0.2"])?;
    let first = trying_again(c, p, 1)?;
    let second = trying_again(c, p, 2)?;
    about(
        c,
        &mut waits,
        second - first,
        Duration::from_millis(200),
        "the second `trying again`",
    )?;
    let third = trying_again(c, p, 3)?;
    about(
        c,
        &mut waits,
        third - second,
        Duration::from_millis(400),
        "the third `trying again`",
    )?;
    let listener = Listener::bind(c, addr)?;
    let mut conn = listener.accept(c, "tcp-client to connect once the server is up")?;
    about(
        c,
        &mut waits,
        third.elapsed(),
        Duration::from_millis(800),
        "the connection, once the server was up,",
    )?;
    let from = conn.reader.get_ref().peer_addr().ok();
    if from.map(|a| a.ip()) != Some([127, 0, 0, 2].into()) {
        return Err(c.fail(format!(
            "with --bind 127.0.0.2, expected the connection to come from 127.0.0.2, it came \
             from {from:?}"
        )));
    }
    c.pass(format!(
        "a server came up on {addr}, and the client connected from {from:?}"
    ));
    let typed = format!("made it {}", c.rng().below(0..1000));
    c.scene
        .send_line(p, &typed)
        .map_err(|e| c.fail(e.to_string()))?;
    let got = conn.line(c, "the line the client types")?;
    if got != typed {
        return Err(c.fail(format!(
            "typed {typed:?}, expected the server to receive it, got {got:?}"
        )));
    }
    c.pass("what was typed arrived");
    drop(conn);
    drop(listener);

    // Nobody ever listens: the client gives up after its tries, and fails.
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| c.fail(format!("cannot find a free port: {e}")))?;
    // 4 or 5: a wait of 1.6 s at least, so that a wait capped at a second shows.
    let retries = c.rng().below(4..6);
    let q = client(c, dead, &["--retry", &retries.to_string()])?;
    let mut last = trying_again(c, q, 1)?;
    let mut wait = Duration::from_millis(200);
    for n in 2..=retries {
        let now = trying_again(c, q, n)?;
        about(
            c,
            &mut waits,
            now - last,
            wait,
            &format!("`trying again` {n}"),
        )?;
        last = now;
        wait *= 2;
    }
    let status = c.scene.wait(q).map_err(|e| c.fail(e.to_string()))?;
    let ended = last.elapsed();
    let tries = c
        .scene
        .output(q, Stream::Stdout)
        .into_iter()
        .chain(c.scene.output(q, Stream::Stderr))
        .filter(|l| l.contains("trying again"))
        .count();
    if status.success() || tries != retries {
        return Err(c.fail(format!(
            "with nobody listening and --retry {retries}, expected {retries} lines \"trying \
             again\" and then a failure; saw {tries} such lines and {status}"
        )));
    }
    if ended < wait.mul_f64(0.9) || ended > wait + LATE {
        return Err(c.fail(format!(
            "after the last `trying again`, the client waits {:.3} s and tries once more; it \
             ended {:.3} s after that line",
            wait.as_secs_f64(),
            ended.as_secs_f64()
        )));
    }
    waits.push((ended, wait));
    c.pass(format!(
        "with nobody listening, it tried {retries} times more, waiting 0.2 s and doubling, \
         and then failed"
    ));
    waits_exact(c, &waits)?;
    not_retried(c)?;
    retry_after_timeout(c)
}

/// How soon a client that cannot bind must have failed: well under the 1.4 s that the three
/// waits of `--retry 3` take, even on a loaded machine.
const NOT_RETRIED_WITHIN: Duration = Duration::from_secs(1);

/// Only a server that cannot be reached is tried again: an address this machine does not
/// have (`--bind 192.0.2.1`, a documentation address) fails in `bind`, before any packet, and
/// no wait mends it.
fn not_retried(c: &mut Check) -> Result<(), Failure> {
    let nobody = SocketAddr::from(([127, 0, 0, 1], 9));
    let started = Instant::now();
    let p = client(c, nobody, &["--retry", "3", "--bind", "192.0.2.1"])?;
    let status = c.scene.wait(p).map_err(|e| c.fail(e.to_string()))?;
    let took = started.elapsed();
    let printed: Vec<String> = [Stream::Stdout, Stream::Stderr]
        .into_iter()
        .flat_map(|stream| c.scene.output(p, stream))
        .collect();
    // At once: three waits, even silent ones, would take 0.2 + 0.4 + 0.8 = 1.4 s.
    if status.success()
        || printed.iter().any(|l| l.contains("trying again"))
        || took > NOT_RETRIED_WITHIN
    {
        return Err(c.fail(format!(
            "with --bind 192.0.2.1 (an address this machine does not have) and --retry 3, \
             expected the bind error at once (within {} s), no `trying again`, and a non-zero \
             exit; got {status} after {:.2} s, printing {printed:?}",
            NOT_RETRIED_WITHIN.as_secs(),
            took.as_secs_f64()
        )));
    }
    c.pass(format!(
        "an address that cannot be bound failed at once ({:.2} s): only an unreachable server \
         is tried again",
        took.as_secs_f64()
    ));
    Ok(())
}

/// A server that cannot be reached in time: its accept queue is full, so the kernel drops
/// the client's SYN and connect gives up after --timeout. That is tried again too, and once
/// the queue has room, the client gets in.
fn retry_after_timeout(c: &mut Check) -> Result<(), Failure> {
    use socket2::{Domain, Socket, Type};
    let here = SocketAddr::from(([127, 0, 0, 1], 0));
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None)
        .and_then(|s| s.bind(&here.into()).map(|()| s))
        .and_then(|s| s.listen(0).map(|()| TcpListener::from(s)))
        .map_err(|e| c.fail(format!("cannot listen: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| c.fail(format!("cannot listen: {e}")))?;
    // Connections that nobody accepts yet, until the queue takes no more.
    let mut fillers = Vec::new();
    while let Ok(filler) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
        fillers.push(filler);
        if fillers.len() > 8 {
            return Err(c.fail("cannot fill a listener's accept queue (listen backlog 0)"));
        }
    }
    let q = client(c, addr, &["--retry", "2", "--timeout", "0.5"])?;
    c.expect(
        q,
        "trying again",
        "a server whose accept queue is full answers no SYN: connect fails after --timeout \
         0.5, and that server cannot be reached either, so expected a line `trying again`",
    )?;
    let first = Instant::now();
    // The wait comes after the failed try, whatever the try took: 0.2 s, then a try that
    // times out after 0.5 s, and the second line.
    c.expect(
        q,
        "trying again",
        "after the second try timed out too, expected a second line `trying again`",
    )?;
    let gap = first.elapsed();
    let want = Duration::from_millis(700);
    if gap < want.mul_f64(0.9) || gap > want + LATE {
        return Err(c.fail(format!(
            "against a full accept queue, the second `trying again` came {:.3} s after the \
             first; expected 0.7 s: the wait of 0.2 s after the try that failed, then a try \
             that times out after --timeout 0.5",
            gap.as_secs_f64()
        )));
    }
    c.pass(format!(
        "a connect that timed out (a full accept queue) was tried again, twice, {:.3} s apart \
         (0.2 s of wait after the try, 0.5 s of try)",
        gap.as_secs_f64()
    ));
    // Room in the queue: take the waiting connections off it, then the client's.
    listener
        .set_nonblocking(true)
        .map_err(|e| c.fail(format!("cannot set up the listener: {e}")))?;
    let deadline = Instant::now() + crate::WAIT;
    let mut accepted = 0;
    let client_conn = loop {
        match listener.accept() {
            Ok((stream, from)) => {
                accepted += 1;
                if accepted > fillers.len() {
                    break Some((stream, from));
                }
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let Some((stream, _)) = client_conn else {
        return Err(c.fail(
            "once the accept queue had room, expected the client's next try to connect; no \
             connection came",
        ));
    };
    let _ = stream.set_nonblocking(false);
    let mut conn = Conn::new(c, stream)?;
    let typed = format!("in at last {}", c.rng().below(0..1000));
    c.scene
        .send_line(q, &typed)
        .map_err(|e| c.fail(e.to_string()))?;
    let got = conn.line(c, "the line the client types")?;
    if got != typed {
        return Err(c.fail(format!(
            "typed {typed:?}, expected the server to receive it, got {got:?}"
        )));
    }
    c.pass("once the queue had room, the client's next try got in");
    Ok(())
}
