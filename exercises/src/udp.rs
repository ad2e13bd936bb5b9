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
    let (p, server) = c.start("udp-server", &["--port", "0", "--reverse"])?;
    c.pass(format!("udp-server --reverse is listening on {server}"));
    let peer = Udp::on(c, "127.0.0.2")?;
    answers(c, &peer, server, "stressed", "desserts")?;
    // Reversing the bytes of 你 (e4 bd a0) would give bytes that are not UTF-8 at all.
    answers(c, &peer, server, "你好, world", "dlrow ,好你")?;
    answers(c, &peer, server, "", "")?;
    // Varied text, spaces at both ends included: every character counts, none is trimmed.
    for _ in 0..4 {
        let len = c.rng().below(1..40);
        let text = format!(" {} ", c.rng().text(len));
        let want: String = text.chars().rev().collect();
        answers(c, &peer, server, &text, &want)?;
    }
    not_past_the_guard(c, p, server, b"x")?;
    // `--encoding gbk`: the characters are two bytes each, and not UTF-8.
    let (_, server) = c.start(
        "udp-server",
        &["--port", "0", "--reverse", "--encoding", "gbk"],
    )?;
    c.pass(format!(
        "udp-server --reverse --encoding gbk is listening on {server}"
    ));
    const UNITS: &[&[u8]] = &[
        b"a",
        b"b",
        b"7",
        b" ",
        b",",
        &[0xc4, 0xe3],
        &[0xba, 0xc3],
        &[0xcd, 0xf8],
        &[0xc2, 0xe7],
    ];
    for _ in 0..3 {
        let n = c.rng().below(2..12);
        let mut units: Vec<&[u8]> = (0..n)
            .filter_map(|_| c.rng().pick(UNITS).copied())
            .collect();
        units.push(&[0xc4, 0xe3]); // 你, at least once
        let sent = units.concat();
        units.reverse();
        let want = units.concat();
        let got = peer.ask(c, server, &sent)?;
        if got != want {
            return Err(c.fail(format!(
                "with --encoding gbk, sent the GBK bytes {}, expected them reversed character \
                 by character: {}, got {}",
                hex(&sent),
                hex(&want),
                hex(&got)
            )));
        }
        c.pass(format!("GBK {} was answered {}", hex(&sent), hex(&want)));
    }
    Ok(())
}

pub fn server_number(c: &mut Check) -> Result<(), Failure> {
    let (p, server) = c.start("udp-server", &["--port", "0", "--number"])?;
    c.pass(format!("udp-server --number is listening on {server}"));
    // Two senders on one address (two ports) and a third on another address.
    let (a, b, d) = (
        Udp::on(c, "127.0.0.2")?,
        Udp::on(c, "127.0.0.2")?,
        Udp::on(c, "127.0.0.3")?,
    );
    c.pass(format!(
        "three peers: a = {}, b = {}, d = {}",
        a.addr(),
        b.addr(),
        d.addr()
    ));
    let mut counts = [0u64; 3];
    let peers = [&a, &b, &d];
    // a and b first (one address, two ports), then in an order the seed chooses.
    for step in 0..14 {
        let i = match step {
            0 | 1 => step,
            _ => c.rng().below(0..3),
        };
        let Some(n) = counts.get_mut(i) else { continue };
        *n += 1;
        let n = *n;
        let len = c.rng().below(0..12);
        let text = c.rng().text(len);
        let Some(peer) = peers.get(i) else { continue };
        answers(c, peer, server, &text, &format!("#{n} {text}"))?;
    }
    // Bytes that are not text come back as they are, after the number.
    let raw = {
        let len = c.rng().below(1..20);
        let mut raw = c.rng().bytes(len);
        raw.push(0xff);
        raw
    };
    counts[0] += 1;
    let got = a.ask(c, server, &raw)?;
    let mut want = format!("#{} ", counts[0]).into_bytes();
    want.extend_from_slice(&raw);
    if got != want {
        return Err(c.fail(format!(
            "sent the bytes {}, expected {}, got {}",
            hex(&raw),
            hex(&want),
            hex(&got)
        )));
    }
    c.pass("bytes that are not UTF-8 come back as they are after the number");
    // Past 255: a u8 counter wraps. One sender may get 25 answers a second after a burst
    // of 50 (the guard), so the check paces itself at 20 a second once the burst is spent.
    let e = Udp::on(c, "127.0.0.4")?;
    let start = Instant::now();
    for n in 1..=300u64 {
        if n > 45 {
            let due = start + Duration::from_millis(50 * (n - 45));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let got = e.ask(c, server, b"x")?;
        if got != format!("#{n} x").as_bytes() {
            return Err(c.fail(format!(
                "a fourth sender's datagram number {n} was answered {}, expected \"#{n} x\"",
                shown(&got)
            )));
        }
    }
    c.pass("one sender's answers count on past 255: \"#300 x\"");
    not_past_the_guard(c, p, server, b"x")
}

pub fn server_too_long(c: &mut Check) -> Result<(), Failure> {
    let size = c.rng().below(5..200);
    let arg = size.to_string();
    let (p, server) = c.start("udp-server", &["--port", "0", "--buffer", &arg])?;
    c.pass(format!(
        "udp-server --buffer {size} is listening on {server}"
    ));
    let peer = Udp::on(c, "127.0.0.2")?;
    let err = format!("ERR datagram longer than {size} bytes");
    // Exact fit, one byte short, one byte over, far over; then a short one again.
    let fits = c.rng().bytes(size);
    let short = c.rng().bytes(size - 1);
    let over = c.rng().bytes(size + 1);
    let far = c.rng().bytes(size * 3 + 17);
    for (data, want, what) in [
        (
            &fits,
            fits.as_slice(),
            "exactly --buffer bytes fit: it must come back as it is",
        ),
        (&short, short.as_slice(), "one byte less than --buffer fits"),
        (
            &over,
            err.as_bytes(),
            "one byte more than --buffer does not fit",
        ),
        (
            &far,
            err.as_bytes(),
            "a datagram far longer than --buffer does not fit",
        ),
    ] {
        let got = peer.ask(c, server, data)?;
        if got != want {
            return Err(c.fail(format!(
                "{what}: sent {} bytes, expected {}, got {}",
                data.len(),
                shown(want),
                shown(&got)
            )));
        }
        c.pass(format!(
            "{} bytes were answered {}",
            data.len(),
            shown(want)
        ));
        if data.len() > size {
            let line = format!(
                "  (cut: the buffer holds {size}; {} lost)",
                count(data.len() - size)
            );
            c.expect_line(
                p,
                &line,
                "the server should still say on its terminal that the datagram was cut",
            )?;
            c.pass(format!("the server printed {line:?}"));
        }
    }
    answers(c, &peer, server, "short", "short")?;
    // The ERR answer too is an answer: the guard limits it like any other.
    not_past_the_guard(c, p, server, &far)
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

/// Bytes in hex, for answers that are not UTF-8.
fn hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(" ")
}

/// `1 byte`, `N bytes`, as the lesson counts.
fn count(n: usize) -> String {
    if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    }
}

/// The guard's promise, on the exercise's code path: a burst of datagrams from one address
/// gets at most the guard's burst of answers (50, and the one or two its rate refills),
/// not one answer each.
fn not_past_the_guard(
    c: &mut Check,
    p: testkit::Proc,
    server: std::net::SocketAddr,
    payload: &[u8],
) -> Result<(), Failure> {
    const SENT: usize = 150;
    let flood = Udp::on(c, "127.0.0.9")?;
    for _ in 0..SENT {
        flood.send(c, server, payload)?;
    }
    // The server says when it starts limiting: after that line every answer has been sent.
    c.expect_line_starting(
        p,
        "limiting 127.0.0.9:",
        "150 datagrams at once from one address must make the guard limit it",
    )?;
    let answered = flood.quiet_count(Duration::from_millis(300));
    if !(45..=55).contains(&answered) {
        return Err(c.fail(format!(
            "sent {SENT} datagrams at once from 127.0.0.9; the guard answers a burst of 50 \
             and then 25 a second, but {answered} answers came"
        )));
    }
    c.pass(format!(
        "{SENT} datagrams at once from one address got {answered} answers: the guard still limits"
    ));
    Ok(())
}
