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

fn type_line(c: &mut Check, p: testkit::Proc, line: &str) -> Result<(), Failure> {
    c.scene
        .send_line(p, line)
        .map_err(|e| c.fail(e.to_string()))
}

/// A line of varied text a student's client must carry as it is: ASCII, Chinese, accents,
/// an emoji; never empty, and no space at either end.
fn varied_line(c: &mut Check, len: std::ops::Range<usize>) -> String {
    let len = c.rng().below(len);
    let text = c.rng().text(len);
    format!("m{}m", text.trim())
}

/// How much later than `want` a timed event may come on a loaded machine.
const LATE: Duration = Duration::from_millis(250);

pub fn client_round_trip(c: &mut Check) -> Result<(), Failure> {
    let server = Udp::new(c)?;
    let p = client(c, server.addr(), &["--timeout", "1"])?;
    // The client idles first: a clock started with the program, or at the first line
    // only, runs long before the datagram it times is sent.
    let idle = c.rng().below(400..800) as u64;
    std::thread::sleep(Duration::from_millis(idle));
    let lines = c.rng().below(3..5);
    let silent_at = c.rng().below(1..lines);
    for n in 0..lines {
        let line = varied_line(c, 1..12);
        type_line(c, p, &line)?;
        let (data, from) = server.recv(c, &format!("the datagram {line:?} from udp-client"))?;
        if n == silent_at {
            // One datagram gets no answer: there is no round trip to print for it.
            c.expect(
                p,
                "no reply from",
                "with --timeout 1 and no answer, expected the client's line `no reply from ...`",
            )?;
            c.pass(format!("{line:?} got no answer, and the client said so"));
            continue;
        }
        // The server takes its time: the client must measure at least this much.
        let delay = c.rng().below(150..600) as u64;
        std::thread::sleep(Duration::from_millis(delay));
        server.send(c, from, &data)?;
        c.pass(format!("the server answered {line:?} after {delay} ms"));
        let ms = round_trip(c, p)?;
        let most = delay + LATE.as_millis() as u64;
        if !(delay..=most).contains(&ms) {
            return Err(c.fail(format!(
                "the server answered {delay} ms after the datagram arrived, so the round trip \
                 is at least {delay} ms and at most about {most} ms; the client printed \
                 `round trip: {ms} ms`"
            )));
        }
        c.pass(format!(
            "`round trip: {ms} ms`: between {delay} and {most} ms"
        ));
        // Between lines, the client idles again.
        let idle = c.rng().below(200..500) as u64;
        std::thread::sleep(Duration::from_millis(idle));
    }
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    c.scene.wait(p).map_err(|e| c.fail(e.to_string()))?;
    // Exactly one `round trip` line per answer: none for the datagram that got none.
    let printed = c
        .scene
        .output(p, testkit::Stream::Stdout)
        .into_iter()
        .filter(|l| l.contains("round trip"))
        .count();
    if printed != lines - 1 {
        return Err(c.fail(format!(
            "{} answers came, so expected {} `round trip` lines, one after each answer; the \
             client printed {printed}",
            lines - 1,
            lines - 1
        )));
    }
    c.pass("one `round trip` line per answer, none for the datagram without one");
    Ok(())
}

/// The next `round trip: N ms` line of `p`, exactly that: N in whole milliseconds.
fn round_trip(c: &mut Check, p: testkit::Proc) -> Result<u64, Failure> {
    let line = c.expect(
        p,
        "round trip",
        "after the answer, expected a line `round trip: N ms`",
    )?;
    line.strip_prefix("round trip: ")
        .and_then(|rest| rest.strip_suffix(" ms"))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            c.fail(format!(
                "expected the line `round trip: N ms`, N a whole number of milliseconds, got \
                 {line:?}"
            ))
        })
}

/// Receives the copies of `want` until `copies` have come, and checks the gaps between
/// them: `first`, then twice as long each time, give or take what a loaded machine adds.
fn copies(
    c: &mut Check,
    server: &Udp,
    want: &[u8],
    copies: usize,
    first: Duration,
) -> Result<std::net::SocketAddr, Failure> {
    let mut last = None;
    let mut from = server.addr();
    let mut wait = first;
    for n in 1..=copies {
        let (data, sender) = server.recv(c, &format!("copy {n} of {}", shown(want)))?;
        let now = Instant::now();
        if data != want {
            return Err(c.fail(format!(
                "expected copy {n} of {}, got {}",
                shown(want),
                shown(&data)
            )));
        }
        if let Some(before) = last {
            let gap = now.duration_since(before);
            let least = wait.mul_f64(0.85);
            if gap < least || gap > wait + LATE {
                return Err(c.fail(format!(
                    "copy {n} of {} came {:.3} s after copy {}; with --timeout {:.2}, the wait \
                     before it is {:.3} s ({:.2} s, doubled at each try)",
                    shown(want),
                    gap.as_secs_f64(),
                    n - 1,
                    first.as_secs_f64(),
                    wait.as_secs_f64(),
                    first.as_secs_f64(),
                )));
            }
            c.pass(format!(
                "copy {n} came {:.3} s after copy {} (the wait: {:.3} s)",
                gap.as_secs_f64(),
                n - 1,
                wait.as_secs_f64()
            ));
            wait *= 2;
        }
        last = Some(now);
        from = sender;
    }
    Ok(from)
}

pub fn client_retries(c: &mut Check) -> Result<(), Failure> {
    let server = Udp::new(c)?;
    let timeout_ms = *c.rng().pick(&[150u64, 200, 250]).unwrap_or(&200);
    let timeout = Duration::from_millis(timeout_ms);
    let flag = format!("{:.2}", timeout.as_secs_f64());
    let retries = c.rng().below(2..4);
    let p = client(
        c,
        server.addr(),
        &["--timeout", &flag, "--retries", &retries.to_string()],
    )?;

    // Answered at copy k: no more copies after it.
    let answered = c.rng().below(2..retries + 2);
    let line = varied_line(c, 1..10);
    type_line(c, p, &line)?;
    let from = copies(c, &server, line.as_bytes(), answered, timeout)?;
    server.send(c, from, line.as_bytes())?;
    let got = c.expect(p, "received", "the answer should be printed")?;
    if !got.ends_with(&format!(": {line}")) {
        return Err(c.fail(format!(
            "the server answered {line:?} to copy {answered}; expected the client's \
             `received ...: {line}` line, got {got:?}"
        )));
    }
    c.pass(format!("the answer to copy {answered} was printed"));

    // A line nobody answers: one datagram and N more tries, then the client says so.
    let lost = varied_line(c, 1..10);
    type_line(c, p, &lost)?;
    copies(c, &server, lost.as_bytes(), retries + 1, timeout)?;
    // The whole wait: t + 2t + 4t ...
    let whole = timeout * ((1u32 << (retries + 1)) - 1);
    let expected = format!("no reply from {} within {whole:?} (", server.addr());
    let started = Instant::now();
    let said = c.expect(
        p,
        "no reply from",
        "after the last try, expected the client's line `no reply from ADDR within T (...)`",
    )?;
    if !said.starts_with(&expected) {
        return Err(c.fail(format!(
            "after {} tries waiting {timeout:?}, doubled each time, expected the line to start \
             with {expected:?} (T is the whole wait), got {said:?}",
            retries + 1
        )));
    }
    let last_wait = timeout * (1u32 << retries);
    if started.elapsed() < last_wait.mul_f64(0.8) {
        return Err(c.fail(format!(
            "the last try waits {last_wait:?}, but the client gave up {:.3} s after sending it",
            started.elapsed().as_secs_f64()
        )));
    }
    c.pass(format!("{said:?}"));
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    c.scene.wait(p).map_err(|e| c.fail(e.to_string()))?;
    let extra = server.waiting().len();
    if extra > 0 {
        return Err(c.fail(format!(
            "--retries {retries} means {} datagrams in all, but {extra} more copies arrived",
            retries + 1
        )));
    }
    c.pass(format!("{lost:?} was sent {} times in all", retries + 1));

    // Without --retries, nothing changes: one datagram, one wait.
    let q = client(c, server.addr(), &["--timeout", "0.2"])?;
    type_line(c, q, "once")?;
    server.recv(c, "the datagram \"once\"")?;
    let expected = format!("no reply from {} within 200ms (", server.addr());
    let said = c.expect(
        q,
        "no reply from",
        "without --retries, one try and then the line",
    )?;
    if !said.starts_with(&expected) {
        return Err(c.fail(format!(
            "without --retries and with --timeout 0.2, expected the line to start with \
             {expected:?}, got {said:?}"
        )));
    }
    c.scene.close_stdin(q).map_err(|e| c.fail(e.to_string()))?;
    c.scene.wait(q).map_err(|e| c.fail(e.to_string()))?;
    let extra = server.waiting().len();
    if extra > 0 {
        return Err(c.fail(format!(
            "without --retries, one datagram per line, but {extra} more copies arrived"
        )));
    }
    c.pass("without --retries: one datagram, `no reply ... within 200ms`");
    Ok(())
}

pub fn client_seq(c: &mut Check) -> Result<(), Failure> {
    let server = Udp::new(c)?;
    let p = client(c, server.addr(), &["--seq", "--timeout", "1"])?;
    // Past 9 (a second digit), and past 255 (a counter in a u8).
    let total = c.rng().below(258..262);
    let mut tested = vec![1, 2, 10, 11, 256, 257];
    tested.push(c.rng().below(3..255));
    for n in 1..=total {
        let test = tested.contains(&n);
        let line = if test {
            varied_line(c, 1..10)
        } else {
            format!("l{n}")
        };
        type_line(c, p, &line)?;
        let want = format!("{n} {line}");
        let (data, from) = server.recv(c, &format!("the datagram {want:?}"))?;
        if data != want.as_bytes() {
            return Err(c.fail(format!(
                "typed {line:?} as line {n}, expected the datagram {want:?}, got {}",
                shown(&data)
            )));
        }
        if !test {
            server.send(c, from, want.as_bytes())?;
            let got = c.expect(p, "received", &format!("expected the answer {want:?}"))?;
            if !got.ends_with(&format!(": {want}")) {
                return Err(c.fail(format!(
                    "expected the answer {want:?} to be printed, got {got:?}"
                )));
            }
            continue;
        }
        c.pass(format!("typing {line:?} sent {want:?}"));
        // Late answers to earlier datagrams arrive first, then the right one: an earlier
        // number, and numbers that begin with the same digits (`1` and `12 ...`).
        let stales = [
            format!("{} stale", n - 1),
            format!("{n}{} stale", c.rng().below(0..10)),
            format!("{n}stale"),
        ];
        for stale in &stales {
            server.send(c, from, stale.as_bytes())?;
        }
        server.send(c, from, want.as_bytes())?;
        for stale in &stales {
            let said = c.expect(
                p,
                "stale",
                &format!("expected the line `ignored a stale answer: {stale}`"),
            )?;
            if said != format!("ignored a stale answer: {stale}") {
                return Err(c.fail(format!(
                    "the server sent {stale:?} (not an answer to datagram {n}); expected the \
                     line `ignored a stale answer: {stale}`, got {said:?}"
                )));
            }
        }
        let got = c.expect(p, "received", &format!("expected the answer {want:?}"))?;
        if !got.ends_with(&format!(": {want}")) {
            return Err(c.fail(format!(
                "the server sent {stales:?} (none an answer to datagram {n}) and then {want:?}; \
                 expected the client's `received ...: {want}` line, got {got:?}"
            )));
        }
        c.pass(format!("{stales:?} were ignored; {want:?} was taken"));
    }

    // Stale answers keep coming: the client still gives up at its deadline, not later.
    let n = total + 1;
    type_line(c, p, "late")?;
    let (_, from) = server.recv(c, &format!("the datagram \"{n} late\""))?;
    let stale = format!("{} stale", n - 1).into_bytes();
    let sender = server.clone_socket(c)?;
    let started = Instant::now();
    // A thread keeps sending stale answers, every 0.1 s, for 2.5 s.
    std::thread::spawn(move || {
        while started.elapsed() < Duration::from_millis(2500) {
            let _ = sender.send_to(&stale, from);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    c.expect(
        p,
        "no reply from",
        "with --timeout 1 and only stale answers coming, expected `no reply from ...`",
    )?;
    let took = started.elapsed();
    if took > Duration::from_secs(1) + LATE || took < Duration::from_millis(900) {
        return Err(c.fail(format!(
            "with --timeout 1 and only stale answers coming, every 0.1 s, expected `no reply \
             from ...` after 1 s, the same deadline; it came after {:.2} s",
            took.as_secs_f64()
        )));
    }
    c.pass(format!(
        "with stale answers only, the client gave up after {:.2} s",
        took.as_secs_f64()
    ));
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
