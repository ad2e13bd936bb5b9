//! udp-server and udp-client: the check plays the other side with its own UDP sockets.

use std::time::{Duration, Instant};

use crate::wire::Udp;
use crate::{Check, Failure, shown};

/// Sends `sent` to `server` and fails unless the answer is `want`.
fn answers(
    c: &Check,
    peer: &Udp,
    server: std::net::SocketAddr,
    sent: &str,
    want: &str,
) -> Result<(), Failure> {
    let got = peer.ask(c, server, sent.as_bytes())?;
    if got != want.as_bytes() {
        return Err(c.fail(format!(
            "sent {sent:?}, expected the answer {want:?}, got {}",
            shown(&got)
        )));
    }
    c.pass(format!("{sent:?} was answered {want:?}"));
    Ok(())
}

pub fn server_reverse(c: &mut Check) -> Result<(), Failure> {
    let (_, server) = c.start("udp-server", &["--port", "0", "--reverse"])?;
    c.pass(format!("udp-server --reverse is listening on {server}"));
    let peer = Udp::new(c)?;
    answers(c, &peer, server, "stressed", "desserts")?;
    // Reversing the bytes of 你 (e4 bd a0) would give bytes that are not UTF-8 at all.
    answers(c, &peer, server, "你好, world", "dlrow ,好你")?;
    answers(c, &peer, server, "", "")
}

pub fn server_number(c: &mut Check) -> Result<(), Failure> {
    let (_, server) = c.start("udp-server", &["--port", "0", "--number"])?;
    c.pass(format!("udp-server --number is listening on {server}"));
    let (a, b) = (Udp::new(c)?, Udp::new(c)?);
    c.pass(format!("two peers: a = {}, b = {}", a.addr(), b.addr()));
    answers(c, &a, server, "one", "#1 one")?;
    answers(c, &a, server, "two", "#2 two")?;
    // A new sender address starts its own count.
    answers(c, &b, server, "hello", "#1 hello")?;
    answers(c, &a, server, "three", "#3 three")?;
    answers(c, &b, server, "again", "#2 again")
}

pub fn server_too_long(c: &mut Check) -> Result<(), Failure> {
    let (p, server) = c.start("udp-server", &["--port", "0", "--buffer", "8"])?;
    c.pass(format!("udp-server --buffer 8 is listening on {server}"));
    let peer = Udp::new(c)?;
    answers(c, &peer, server, "12345678", "12345678")?;
    answers(
        c,
        &peer,
        server,
        "0123456789abcdef",
        "ERR datagram longer than 8 bytes",
    )?;
    c.expect(
        p,
        "cut",
        "the server should still say on its terminal that the datagram was cut",
    )?;
    c.pass("the server says on its terminal that the datagram was cut");
    answers(c, &peer, server, "short", "short")
}

/// Starts udp-client, bound to 127.0.0.1, talking to `server`, with `extra` flags.
fn client(
    c: &mut Check,
    server: std::net::SocketAddr,
    extra: &[&str],
) -> Result<testkit::Proc, Failure> {
    let mut args = c.peer_args("udp-client", server);
    args.extend(c.loopback_args("udp-client"));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (p, local) = c.start("udp-client", &args)?;
    c.pass(format!("udp-client started on {local}"));
    Ok(p)
}

pub fn client_round_trip(c: &mut Check) -> Result<(), Failure> {
    let server = Udp::new(c)?;
    let p = client(c, server.addr(), &[])?;
    c.scene
        .send_line(p, "slow")
        .map_err(|e| c.fail(e.to_string()))?;
    let (data, from) = server.recv(c, "the datagram \"slow\" from udp-client")?;
    // The server takes its time: the client must measure at least this much.
    std::thread::sleep(Duration::from_millis(300));
    server.send(c, from, &data)?;
    c.pass("the server answered \"slow\" after 300 ms");
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    let line = c.expect(
        p,
        "round trip:",
        "after the answer, expected a line `round trip: N ms`",
    )?;
    let ms = line
        .split("round trip:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok());
    match ms {
        Some(ms) if (300.0..10_000.0).contains(&ms) => {
            c.pass(format!("{line:?}: at least the 300 ms the server waited"));
            Ok(())
        }
        Some(ms) => Err(c.fail(format!(
            "the server waited 300 ms before answering, so the round trip took at least that; \
             the client printed {line:?} ({ms} ms)"
        ))),
        None => Err(c.fail(format!(
            "expected `round trip: N ms` with N a number, got {line:?}"
        ))),
    }
}

pub fn client_retries(c: &mut Check) -> Result<(), Failure> {
    let server = Udp::new(c)?;
    let p = client(c, server.addr(), &["--timeout", "0.3", "--retries", "2"])?;
    c.scene
        .send_line(p, "hello")
        .map_err(|e| c.fail(e.to_string()))?;
    // Stay silent for the first two copies; answer the third, the last try.
    let mut times = Vec::new();
    let mut from = None;
    for n in 1..=3 {
        let (data, sender) = server.recv(c, &format!("copy {n} of \"hello\""))?;
        if data != b"hello" {
            return Err(c.fail(format!(
                "expected copy {n} of \"hello\", got {}",
                shown(&data)
            )));
        }
        times.push(Instant::now());
        from = Some(sender);
    }
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs_f64())
        .collect();
    c.pass(format!(
        "3 copies of \"hello\" arrived, {:.2} s and {:.2} s apart",
        gaps[0], gaps[1]
    ));
    if gaps[0] < 0.25 || gaps[1] < gaps[0] * 1.4 {
        return Err(c.fail(format!(
            "with --timeout 0.3, expected the first copy again after about 0.3 s and the next \
             after about 0.6 s (the wait doubles); the gaps were {:.2} s and {:.2} s",
            gaps[0], gaps[1]
        )));
    }
    c.pass("the wait grew: about 0.3 s, then about 0.6 s");
    if let Some(from) = from {
        server.send(c, from, b"hello")?;
    }
    c.expect(p, "hello", "the answer to the last try should be printed")?;
    c.pass("the answer to the third try was printed");

    // A line nobody answers: one datagram and two more tries, then the client says so.
    c.scene
        .send_line(p, "lost")
        .map_err(|e| c.fail(e.to_string()))?;
    for n in 1..=3 {
        server.recv(c, &format!("copy {n} of \"lost\""))?;
    }
    // The whole wait: 0.3 + 0.6 + 1.2 s.
    let expected = format!("no reply from {} within 2.1s (", server.addr());
    let line = c.expect(
        p,
        "no reply from",
        "after the last try, expected the client's line `no reply from ADDR within T (...)`",
    )?;
    if !line.starts_with(&expected) {
        return Err(c.fail(format!(
            "after three tries of 0.3, 0.6 and 1.2 s, expected the line to start with \
             {expected:?} (T is the whole wait), got {line:?}"
        )));
    }
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    c.scene.wait(p).map_err(|e| c.fail(e.to_string()))?;
    let extra = server.waiting().len();
    if extra > 0 {
        return Err(c.fail(format!(
            "--retries 2 means 3 datagrams in all, but {extra} more copies of \"lost\" arrived"
        )));
    }
    c.pass("\"lost\" was sent 3 times in all, then the client said there was no reply");
    Ok(())
}

pub fn client_seq(c: &mut Check) -> Result<(), Failure> {
    let server = Udp::new(c)?;
    let p = client(c, server.addr(), &["--seq"])?;
    for (n, line) in [(1, "hello"), (2, "again")] {
        c.scene
            .send_line(p, line)
            .map_err(|e| c.fail(e.to_string()))?;
        let want = format!("{n} {line}");
        let (data, from) = server.recv(c, &format!("the datagram {want:?}"))?;
        if data != want.as_bytes() {
            return Err(c.fail(format!(
                "typed {line:?} as line {n}, expected the datagram {want:?}, got {}",
                shown(&data)
            )));
        }
        c.pass(format!("typing {line:?} sent {want:?}"));
        // A late answer to an earlier datagram arrives first, then the right one.
        let stale = format!("{} stale", n - 1);
        server.send(c, from, stale.as_bytes())?;
        server.send(c, from, want.as_bytes())?;
        let shown_line = c.expect(
            p,
            "received",
            &format!("expected the answer {want:?} to be printed"),
        )?;
        if shown_line.contains("stale") {
            return Err(c.fail(format!(
                "the server sent {stale:?} (an answer to an earlier datagram) and then {want:?}; \
                 the client printed the stale one as the answer: {shown_line:?}"
            )));
        }
        if !shown_line.contains(&want) {
            return Err(c.fail(format!(
                "expected the answer {want:?} to be printed, got {shown_line:?}"
            )));
        }
        c.pass(format!(
            "{stale:?} was not taken for the answer; {want:?} was"
        ));
    }
    Ok(())
}
