//! udp-server and udp-client: the check plays the other side with its own UDP sockets.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::Stream;

use crate::wire::Udp;
use crate::{Check, Failure, Rng, WAIT, shown};

/// Sends `sent` to `server` and fails unless the answer is `want`.
fn answers(
    c: &Check,
    peer: &Udp,
    server: SocketAddr,
    sent: &[u8],
    want: &[u8],
) -> Result<(), Failure> {
    let got = peer.ask(c, server, sent)?;
    if got != want {
        return Err(c.fail(format!(
            "sent {}, expected the answer {}, got {}",
            shown(sent),
            shown(want),
            shown(&got)
        )));
    }
    c.pass(format!("{} was answered {}", shown(sent), shown(want)));
    Ok(())
}

/// Text as a datagram may carry it: the mixed scripts of [`Rng::text`], with line ends
/// (`\n`, `\r\n`, a lone `\r`), a tab, NUL, an escape sequence and a right-to-left override
/// among them.
fn rough_text(rng: &mut Rng, len: usize) -> String {
    const ROUGH: &[&str] = &[
        "\n",
        "\r\n",
        "\r",
        "\t",
        "\0",
        "\u{1b}[2J",
        "\u{202e}",
        "  ",
    ];
    let mut text = String::new();
    for _ in 0..len {
        if rng.below(0..4) == 0 {
            text.push_str(rng.pick(ROUGH).copied().unwrap_or("\n"));
        } else {
            text.push_str(&rng.text(1));
        }
    }
    text
}

/// Bytes that are not UTF-8: text with a lone continuation byte, 0xff and a character cut
/// short among it.
fn not_utf8(rng: &mut Rng, len: usize) -> Vec<u8> {
    const BAD: &[&[u8]] = &[&[0xff], &[0x80], &[0xe4, 0xbd], &[0xc3], &[0xfe, 0xfe]];
    let mut bytes = Vec::new();
    for _ in 0..len {
        if rng.below(0..3) == 0 {
            bytes.extend_from_slice(rng.pick(BAD).copied().unwrap_or(&[0xff]));
        } else {
            bytes.extend_from_slice(rough_text(rng, 1).as_bytes());
        }
    }
    bytes.push(0xff);
    bytes
}

fn reversed(text: &str) -> Vec<u8> {
    text.chars().rev().collect::<String>().into_bytes()
}

pub fn server_reverse(c: &mut Check) -> Result<(), Failure> {
    let (p, server) = c.start("udp-server", &["--port", "0", "--reverse"])?;
    c.pass(format!("udp-server --reverse is listening on {server}"));
    let peer = Udp::on(c, "127.0.0.2")?;
    for (sent, want) in [
        ("stressed", "desserts"),
        // Reversing the bytes of 你 (e4 bd a0) would give bytes that are not UTF-8 at all.
        ("你好, world", "dlrow ,好你"),
        ("", ""),
        // NUL is a character too, at the end as anywhere.
        ("\tnul\0", "\0lun\t"),
    ] {
        answers(c, &peer, server, sent.as_bytes(), want.as_bytes())?;
    }
    // Every character counts: a line end as nc sends it, several lines in one datagram,
    // control characters, spaces at both ends. Nothing is trimmed, nothing split.
    let mut texts = Vec::new();
    for end in ["\n", "\r\n"] {
        let len = c.rng().below(1..12);
        texts.push(format!("{}{end}", c.rng().text(len)));
    }
    let lines: Vec<String> = (0..c.rng().below(2..5))
        .map(|_| {
            let len = c.rng().below(1..8);
            c.rng().text(len)
        })
        .collect();
    texts.push(lines.join("\n"));
    for _ in 0..4 {
        let len = c.rng().below(1..40);
        texts.push(format!(" {} ", rough_text(c.rng(), len)));
    }
    // However long the datagram: a few thousand characters.
    let len = c.rng().below(1100..3000);
    texts.push(rough_text(c.rng(), len));
    for text in &texts {
        answers(c, &peer, server, text.as_bytes(), &reversed(text))?;
    }
    // Bytes that are not UTF-8 decode to U+FFFD, as the server shows them.
    for _ in 0..2 {
        let len = c.rng().below(2..20);
        let bytes = not_utf8(c.rng(), len);
        let want = reversed(&String::from_utf8_lossy(&bytes));
        answers(c, &peer, server, &bytes, &want)?;
    }
    // An answer no datagram can carry: 30,000 bytes `ff` reverse to 30,000 U+FFFD, 90,000
    // bytes. It is not sent, cut or replaced: the server says so, and goes on.
    peer.send(c, server, &[0xff; 30_000])?;
    c.expect(
        p,
        "error: cannot answer",
        "sent 30,000 bytes ff: reversed, they are 30,000 U+FFFD, 90,000 bytes in UTF-8, more \
         than a datagram carries; expected the server's `error: cannot answer ADDR: ...`",
    )?;
    let late = peer.waiting();
    if let Some(got) = late.first() {
        return Err(c.fail(format!(
            "sent 30,000 bytes ff, whose answer (90,000 bytes) no datagram can carry; expected \
             no answer and the server's `error: cannot answer ...`, but an answer of {} came",
            count(got.len())
        )));
    }
    c.pass("30,000 bytes ff: the 90,000-byte answer was not sent, and the server said so");
    answers(c, &peer, server, b"after", b"retfa")?;
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
        b"\n",
        b"\r",
        b"\t",
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
    // Bytes that are not GBK decode to U+FFFD, which GBK has no code for: the datagram
    // comes back as it came, neither empty, nor in UTF-8, nor with another character.
    for cut_short in [false, true] {
        let n = c.rng().below(1..6);
        let mut units: Vec<&[u8]> = (0..n)
            .filter_map(|_| c.rng().pick(UNITS).copied())
            .collect();
        if cut_short {
            // 你's first byte alone at the end, as a datagram cut by --buffer may end.
            units.push(&[0xc4]);
        } else {
            // ff is no GBK byte, between two characters.
            let at = c.rng().below(0..units.len() + 1);
            units.insert(at, &[0xff]);
        }
        let sent = units.concat();
        let got = peer.ask(c, server, &sent)?;
        if got != sent {
            return Err(c.fail(format!(
                "with --encoding gbk, sent {}, bytes that are not all GBK text: they decode to \
                 U+FFFD, which GBK cannot encode, so the answer must be the datagram as it \
                 came; got {}",
                hex(&sent),
                hex(&got)
            )));
        }
        c.pass(format!(
            "GBK {}, not all text, came back as it came",
            hex(&sent)
        ));
    }
    answer_dumped(c, "--reverse", b"ab\x1bc", b"c\x1bba")
}

/// With `--hexdump`, the new answer is dumped as every datagram the server sends is.
fn answer_dumped(c: &mut Check, flag: &str, sent: &[u8], want: &[u8]) -> Result<(), Failure> {
    let (p, server) = c.start("udp-server", &["--port", "0", flag, "--hexdump"])?;
    let peer = Udp::on(c, "127.0.0.3")?;
    let got = peer.ask(c, server, sent)?;
    if got != want {
        return Err(c.fail(format!(
            "with {flag} --hexdump, sent {}, expected the answer {}, got {}",
            shown(sent),
            shown(want),
            shown(&got)
        )));
    }
    c.dumped(p, true, peer.addr(), want, &format!("the {flag} answer"))
}

/// A peer on another address than 127.0.0.2 but on `port`: the same port number on two
/// addresses is two senders.
fn on_same_port(c: &Check, port: u16) -> Result<Udp, Failure> {
    for last in 3..40 {
        if let Ok(peer) = Udp::at(c, SocketAddr::from(([127, 0, 0, last], port))) {
            return Ok(peer);
        }
    }
    Err(c.fail(format!(
        "cannot bind a UDP socket on port {port} of any of 127.0.0.3 to 127.0.0.39"
    )))
}

/// Sends `data` from `peer`, which has sent `n - 1` datagrams before, and fails unless the
/// answer is `#n ` and `data`.
fn numbered(c: &Check, peer: &Udp, server: SocketAddr, n: u64, data: &[u8]) -> Result<(), Failure> {
    let mut want = format!("#{n} ").into_bytes();
    want.extend_from_slice(data);
    let got = peer.ask(c, server, data)?;
    if got != want {
        return Err(c.fail(format!(
            "{} sent its datagram number {n}, {}; expected the answer {}, got {}",
            peer.addr(),
            shown(data),
            shown(&want),
            shown(&got)
        )));
    }
    Ok(())
}

pub fn server_number(c: &mut Check) -> Result<(), Failure> {
    let (p, server) = c.start("udp-server", &["--port", "0", "--number"])?;
    c.pass(format!("udp-server --number is listening on {server}"));
    // Senders: two on one address (two ports), one on another address but the first's port
    // number, and more on addresses of their own.
    let a = Udp::on(c, "127.0.0.2")?;
    let b = Udp::on(c, "127.0.0.2")?;
    let d = on_same_port(c, a.addr().port())?;
    let mut peers = vec![a, b, d];
    for i in 0..c.rng().below(10..20) {
        peers.push(Udp::on(c, &format!("127.0.1.{}", i + 1))?);
    }
    let addrs: Vec<String> = peers.iter().map(|p| p.addr().to_string()).collect();
    c.pass(format!("{} senders: {}", peers.len(), addrs.join(", ")));
    let mut counts = vec![0u64; peers.len()];
    // The first three first (one address, two ports; then the same port on another
    // address), then in an order the seed chooses: text, line ends, bytes that are not UTF-8.
    for step in 0..peers.len() * 3 {
        let i = if step < 3 {
            step
        } else {
            c.rng().below(0..peers.len())
        };
        let len = c.rng().below(0..12);
        let data = if c.rng().below(0..4) == 0 {
            not_utf8(c.rng(), len)
        } else {
            rough_text(c.rng(), len).into_bytes()
        };
        let (Some(n), Some(peer)) = (counts.get_mut(i), peers.get(i)) else {
            continue;
        };
        *n += 1;
        numbered(c, peer, server, *n, &data)?;
    }
    c.pass(format!(
        "{} datagrams from {} senders, text and bytes, each answered #N and what was sent",
        counts.iter().sum::<u64>(),
        peers.len()
    ));
    // Every sender but the first speaks once more: the first is now the one heard from
    // longest ago, the one a table that forgets the oldest would give up first.
    for (peer, n) in peers.iter().zip(counts.iter_mut()).skip(1) {
        *n += 1;
        numbered(c, peer, server, *n, b"again")?;
    }
    let first_silent = Instant::now();
    refused_get_no_number(c, p, server)?;
    // Past 255: a u8 counter wraps. One sender may get 25 answers a second after a burst
    // of 50 (the guard), so the check paces itself at 20 a second once the burst is spent.
    let e = Udp::on(c, "127.0.0.4")?;
    let start = Instant::now();
    for n in 1..=300u64 {
        if n > 45 {
            let due = start + Duration::from_millis(50 * (n - 45));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        numbered(c, &e, server, n, b"x")?;
    }
    c.pass("one sender's answers count on past 255: \"#300 x\"");
    // The table holds 10,000 senders: after 10,000 in all, the first one, silent all this
    // time and heard from longest ago, still has its count.
    let others = MAX_SENDERS - (peers.len() + 2);
    many_senders(c, server, others)?;
    let (Some(first), Some(n)) = (peers.first(), counts.first_mut()) else {
        return Ok(());
    };
    // --number numbers the echo: with --interactive, a typed answer goes out as typed.
    let (q, typed_to) = c.start("udp-server", &["--port", "0", "--number", "--interactive"])?;
    let asker = Udp::on(c, "127.0.0.5")?;
    asker.send(c, typed_to, b"hi")?;
    c.expect(
        q,
        "received 2 bytes",
        "with --interactive, the server shows the datagram",
    )?;
    type_line(c, q, "typed answer")?;
    let (got, _) = asker.recv(c, "the typed answer")?;
    if got != b"typed answer" {
        return Err(c.fail(format!(
            "with --number --interactive, the operator typed \"typed answer\"; expected it sent \
             as typed, got {}",
            shown(&got)
        )));
    }
    c.kill(q);
    c.pass("with --number --interactive, the typed answer went out as typed, unnumbered");
    // A count is not forgotten while its sender is silent: not after 10 s, nor 30 s, the
    // windows a student might take from the chapter or from udp-chat's /who.
    let silence = first_silent.elapsed();
    std::thread::sleep(SILENCE.saturating_sub(silence));
    *n += 1;
    numbered(c, first, server, *n, b"still")?;
    c.pass(format!(
        "{} was silent for {:.0} s while {others} more senders came, each answered \"#1 y\", \
         and its count went on, #{n}: 10,000 senders are counted at once, none forgotten",
        first.addr(),
        first_silent.elapsed().as_secs_f64()
    ));
    answer_dumped(c, "--number", b"x\r\n", b"#1 x\r\n")
}

/// How long the first sender of udp-server-2's check stays silent before it must get its next
/// number: longer than the 30 s a count might wrongly be kept for.
const SILENCE: Duration = Duration::from_secs(32);

/// How many senders `--number` must count at once: hint 2's cap.
const MAX_SENDERS: usize = 10_000;

/// `count` senders, each on an address of its own (127.2.x.y), send one datagram each, a
/// hundred at a time, and each must be answered `#1 y`.
fn many_senders(c: &Check, server: SocketAddr, count: usize) -> Result<(), Failure> {
    let mut sent = 0;
    while sent < count {
        let batch: Vec<UdpSocket> = (sent..count.min(sent + 100))
            .map(|i| {
                let ip = [127, 2, (i / 250) as u8, (i % 250 + 1) as u8];
                let socket = testkit::udp::socket_on(ip.into())
                    .and_then(|s| s.set_read_timeout(Some(WAIT)).map(|()| s))
                    .map_err(|e| c.fail(format!("cannot bind a UDP socket on {ip:?}: {e}")))?;
                socket
                    .send_to(b"y", server)
                    .map_err(|e| c.fail(format!("cannot send to {server}: {e}")))?;
                Ok(socket)
            })
            .collect::<Result<_, Failure>>()?;
        let mut buf = [0u8; 64];
        for socket in &batch {
            let from = socket.local_addr().map_or(String::new(), |a| a.to_string());
            let got = match socket.recv(&mut buf) {
                Ok(len) => buf.get(..len).unwrap_or_default().to_vec(),
                Err(e) => {
                    return Err(c.fail(format!(
                        "sender {} of {count} new ones, {from}, sent \"y\" and expected \
                         \"#1 y\", but no answer came ({e})",
                        sent + 1
                    )));
                }
            };
            if got != b"#1 y" {
                return Err(c.fail(format!(
                    "sender {} of {count} new ones, {from}, sent \"y\": expected \"#1 y\", \
                     got {}",
                    sent + 1,
                    shown(&got)
                )));
            }
            sent += 1;
        }
    }
    Ok(())
}

/// The guard's promise on the new path, and the statement's "a datagram that the guard
/// refuses gets no answer and no number": a burst of 150 datagrams from one new sender gets
/// the guard's burst of answers numbered #1, #2, ... #K, and the next admitted one is K + 1.
fn refused_get_no_number(
    c: &mut Check,
    p: testkit::Proc,
    server: SocketAddr,
) -> Result<(), Failure> {
    const SENT: usize = 150;
    let flood = Udp::on(c, "127.0.0.9")?;
    for _ in 0..SENT {
        flood.send(c, server, b"x")?;
    }
    c.expect_line_starting(
        p,
        "limiting 127.0.0.9:",
        "150 datagrams at once from one address must make the guard limit it",
    )?;
    std::thread::sleep(Duration::from_millis(300));
    let got = flood.waiting();
    if !(45..=55).contains(&got.len()) {
        return Err(c.fail(format!(
            "sent {SENT} datagrams at once from 127.0.0.9; the guard answers a burst of 50 \
             and then 25 a second, but {} answers came",
            got.len()
        )));
    }
    for (i, answer) in got.iter().enumerate() {
        let want = format!("#{} x", i + 1);
        if answer != want.as_bytes() {
            return Err(c.fail(format!(
                "a burst of {SENT} datagrams \"x\" from one new sender: answer {} should be \
                 {want:?}, got {}",
                i + 1,
                shown(answer)
            )));
        }
    }
    // The guard gives a token back every 40 ms: the next datagram is answered, and numbered
    // after the answered ones, not after all that arrived.
    std::thread::sleep(Duration::from_millis(200));
    let n = got.len() as u64 + 1;
    numbered(c, &flood, server, n, b"x").map_err(|f| {
        c.fail(format!(
            "{} (of a burst of {SENT} datagrams from that sender the guard let {} through, so \
             the next one is its answered datagram number {n}: a datagram the guard refuses \
             gets no number)",
            f.what(),
            got.len()
        ))
    })?;
    c.pass(format!(
        "{SENT} datagrams at once got {} answers, #1 to #{}; the next one got #{n}",
        got.len(),
        got.len()
    ));
    Ok(())
}

pub fn server_too_long(c: &mut Check) -> Result<(), Failure> {
    let size = c.rng().below(5..200);
    let arg = size.to_string();
    let (p, server) = c.start(
        "udp-server",
        &["--port", "0", "--buffer", &arg, "--hexdump"],
    )?;
    c.pass(format!(
        "udp-server --buffer {size} --hexdump is listening on {server}"
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
        logged_as_sent(c, p, peer.addr(), want)?;
    }
    answers(c, &peer, server, b"short", b"short")?;
    // The ERR answer too is an answer: the guard limits it like any other.
    not_past_the_guard(c, p, server, &far)?;
    once_and_interactive(c, &arg, &err)?;
    // The lesson's test of a cut datagram is changed, not deleted.
    lesson_test(
        c,
        "udp-server",
        "udp_server",
        "a_datagram_longer_than_the_buffer_is_cut_and_the_server_says_by_how_much",
    )?;
    crate::test_expects(
        c,
        "lessons/01-udp-server/tests/udp_server.rs",
        "a_datagram_longer_than_the_buffer_is_cut_and_the_server_says_by_how_much",
        "ERR datagram longer than",
    )
}

/// An answer goes out as the lesson sends every answer: the line `sent N bytes to ADDR`
/// on stdout, and with `--hexdump` its bytes on stderr.
fn logged_as_sent(
    c: &mut Check,
    p: testkit::Proc,
    peer: SocketAddr,
    answer: &[u8],
) -> Result<(), Failure> {
    let line = format!("sent {} to {peer}", count(answer.len()));
    c.expect_line(
        p,
        &line,
        &format!("the answer {} is an answer like any other", shown(answer)),
    )?;
    let title = format!(">> {} bytes to {peer}", answer.len());
    c.scene.expect_on(p, Stream::Stderr, &title).map_err(|_| {
        c.fail(format!(
            "with --hexdump, the answer {} must be shown on stderr as every answer is \
                 (no line {title:?})",
            shown(answer)
        ))
    })?;
    let first: String = answer
        .iter()
        .take(16)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    c.scene
        .expect_on(p, Stream::Stderr, &format!("|{first}|"))
        .map_err(|_| {
            c.fail(format!(
                "with --hexdump, expected the bytes of the answer {} on stderr",
                shown(answer)
            ))
        })?;
    c.pass(format!(
        "the server printed {line:?} and the answer's hexdump"
    ));
    Ok(())
}

/// With `--once`, the ERR answer is the one answer and the server exits; with
/// `--interactive`, a datagram that did not fit is answered ERR without asking the operator.
fn once_and_interactive(c: &mut Check, buffer: &str, err: &str) -> Result<(), Failure> {
    let size: usize = buffer.parse().unwrap_or(8);
    let peer = Udp::on(c, "127.0.0.3")?;
    let more = c.rng().below(0..40);
    let long = c.rng().bytes(size + 1 + more);
    let (p, server) = c.start("udp-server", &["--port", "0", "--buffer", buffer, "--once"])?;
    answers(c, &peer, server, &long, err.as_bytes())?;
    match c.scene.wait(p) {
        Ok(status) if status.success() => {}
        Ok(status) => {
            return Err(c.fail(format!(
                "with --once, the server answered ERR and then exited with {status}"
            )));
        }
        Err(_) => {
            return Err(c.fail(
                "with --once, the ERR answer is the one answer: the server must exit after it",
            ));
        }
    }
    c.pass("with --once, the server exited after its ERR answer");
    let (p, server) = c.start(
        "udp-server",
        &["--port", "0", "--buffer", buffer, "--interactive"],
    )?;
    let got = peer.ask(c, server, &long)?;
    if got != err.as_bytes() {
        return Err(c.fail(format!(
            "with --interactive, a datagram of {} bytes that did not fit must be answered {err:?} \
             at once, whatever the operator types; got {}",
            long.len(),
            shown(&got)
        )));
    }
    c.kill(p);
    c.pass("with --interactive, the datagram that did not fit was answered ERR at once");
    Ok(())
}

/// Runs the lesson's test `name` (in `tests/{file}.rs` of `package`) alone: it must exist
/// under that name and pass.
fn lesson_test(c: &mut Check, package: &str, file: &str, name: &str) -> Result<(), Failure> {
    let Some(ws) = crate::workspace(c) else {
        return Err(c.fail(format!(
            "cannot find the workspace of {} to run the test {name}",
            c.bins.display()
        )));
    };
    let target = c.bins.parent().unwrap_or(&ws).to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--quiet", "--package", package, "--test", file])
        .arg("--target-dir")
        .arg(&target)
        .args(["--", "--exact", name])
        .current_dir(&ws)
        .output()
        .map_err(|e| c.fail(format!("cannot run cargo test: {e}")))?;
    let said = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && said.contains(" 1 passed") {
        c.pass(format!("the lesson's test {name} passes"));
        return Ok(());
    }
    let tail: Vec<&str> = said.lines().rev().take(12).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let err = String::from_utf8_lossy(&out.stderr);
    let err: Vec<&str> = err.lines().rev().take(6).collect();
    let err: Vec<&str> = err.into_iter().rev().collect();
    if out.status.success() {
        return Err(c.fail(format!(
            "the lesson's test {name} (in {}'s tests/{file}.rs) is gone: the statement asks \
             to change it, keeping its name, not to delete it (`cargo test -p {package} --test \
             {file} -- --exact {name}` ran no test)",
            package
        )));
    }
    Err(c.fail(format!(
        "the lesson's test {name} fails (`cargo test -p {package} --test {file} -- --exact \
         {name}`):\n{}\n{}",
        tail.join("\n"),
        err.join("\n")
    )))
}

/// Starts udp-client, bound to 127.0.0.1, talking to `server`, with `extra` flags.
fn client(c: &mut Check, server: SocketAddr, extra: &[&str]) -> Result<testkit::Proc, Failure> {
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

/// How much later than `want` a timed event may come on a loaded machine: the event is a line
/// the client prints, which comes to us through a pipe and a reader thread. CI once saw the end
/// of a 2.4 s wait 256 ms late. A margin added to every wait is caught by the copies' gaps
/// (`COPY_LATE`), not by this.
const LATE: Duration = Duration::from_millis(400);

/// How late a copy may come after its wait: a receive timeout fires within a few ms, so 120 ms
/// leaves room for a loaded machine and none for a margin added to every wait.
const COPY_LATE: Duration = Duration::from_millis(120);

/// Whole milliseconds, rounded down.
fn whole_ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// The client's `received ...: {want}` line, and the line right after it on stdout, which
/// must be `round trip: N ms`: returns N, and when the check saw the line.
fn round_trip_after(
    c: &mut Check,
    p: testkit::Proc,
    want: &str,
) -> Result<(u64, Instant), Failure> {
    let got = c.expect(
        p,
        "received",
        &format!("the answer {want:?} should be printed"),
    )?;
    if !got.ends_with(&format!(": {want}")) {
        return Err(c.fail(format!(
            "the server answered {want:?}; expected the client's `received ...: {want}` line, \
             got {got:?}"
        )));
    }
    let line = c.scene.expect_on(p, Stream::Stdout, "").map_err(|_| {
        c.fail(format!(
            "after the line {got:?}, expected the line `round trip: N ms` (no more lines came)"
        ))
    })?;
    let seen = Instant::now();
    line.strip_prefix("round trip: ")
        .and_then(|rest| rest.strip_suffix(" ms"))
        .and_then(|n| n.parse::<u64>().ok())
        .map(|n| (n, seen))
        .ok_or_else(|| {
            c.fail(format!(
                "right after the answer's line {got:?}, expected the line `round trip: N ms`, \
                 N a whole number of milliseconds, got {line:?}"
            ))
        })
}

/// How long after a datagram arrived the quick answers of udp-client-1's check go back: more
/// than half a millisecond, so that rounding to the nearest gives 1, and leaving the client
/// a third of a millisecond to send and receive, so that rounding down gives 0.
const QUICK_ANSWER: Duration = Duration::from_micros(650);

pub fn client_round_trip(c: &mut Check) -> Result<(), Failure> {
    let server = Udp::new(c)?;
    let p = client(c, server.addr(), &["--timeout", "1"])?;
    // The client idles first: a clock started with the program, or at the first line
    // only, runs long before the datagram it times is sent.
    let idle = c.rng().below(400..800) as u64;
    std::thread::sleep(Duration::from_millis(idle));
    let lines = c.rng().below(3..5);
    let silent_at = c.rng().below(1..lines);
    let mut answered = 0;
    for n in 0..lines {
        let line = varied_line(c, 1..12);
        let typed = Instant::now();
        type_line(c, p, &line)?;
        let (data, from) = server.recv(c, &format!("the datagram {line:?} from udp-client"))?;
        let arrived = Instant::now();
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
        let sent = Instant::now();
        server.send(c, from, &data)?;
        answered += 1;
        let (ms, seen) = round_trip_after(c, p, &line)?;
        // The datagram was sent before it arrived here, and its answer arrived there after
        // it was sent from here; the whole of it happened between typing and the line.
        let (least, most) = (whole_ms(sent - arrived), whole_ms(seen - typed));
        if !(least..=most).contains(&ms) {
            return Err(c.fail(format!(
                "the server answered {least} ms after the datagram arrived, and the line came \
                 {most} ms after the check typed it: the round trip in whole milliseconds \
                 (rounded down) is from {least} to {most} ms; the client printed `round trip: \
                 {ms} ms`"
            )));
        }
        c.pass(format!(
            "the server answered {line:?} after {delay} ms: `round trip: {ms} ms`, between \
             {least} and {most} ms"
        ));
        // Between lines, the client idles again.
        let idle = c.rng().below(200..500) as u64;
        std::thread::sleep(Duration::from_millis(idle));
    }
    // Answered 0.65 ms after each datagram arrived: on loopback the round trip is then
    // between 0.65 and 1 ms, which is 0 whole milliseconds rounded down, and 1 rounded to
    // the nearest. A loaded machine may make one take longer, not all of them.
    // Eight lines, and up to 24 on a busy machine until one shows 0 ms.
    let mut times = Vec::new();
    while times.len() < 8 || (!times.contains(&0) && times.len() < 24) {
        let line = varied_line(c, 1..6);
        let typed = Instant::now();
        type_line(c, p, &line)?;
        let (data, from) = server.recv(c, &format!("the datagram {line:?} from udp-client"))?;
        // A busy wait: a sleep's timer slack would eat the margin.
        let arrived = Instant::now();
        while arrived.elapsed() < QUICK_ANSWER {
            std::hint::spin_loop();
        }
        server.send(c, from, &data)?;
        answered += 1;
        let (ms, seen) = round_trip_after(c, p, &line)?;
        let most = whole_ms(seen - typed);
        if ms > most {
            return Err(c.fail(format!(
                "the server answered {line:?} 0.65 ms after it arrived, and the client's line \
                 came {most} ms after the check typed it, so the round trip is at most {most} \
                 whole milliseconds (rounded down); the client printed `round trip: {ms} ms`"
            )));
        }
        times.push(ms);
    }
    let quick = times.len();
    if !times.contains(&0) {
        return Err(c.fail(format!(
            "{quick} lines answered 0.65 ms after they arrived, on loopback: each round trip \
             0.65 ms and a little more, under 1 ms as a rule; in whole milliseconds, rounded \
             down (not to the nearest), at least one is `round trip: 0 ms`; the client printed \
             {times:?} ms"
        )));
    }
    c.pass(format!(
        "{quick} lines answered 0.65 ms after they arrived: round trips of {times:?} ms"
    ));
    // Nobody listens any more: the kernel's "port unreachable" is no answer either.
    let gone = server.addr();
    drop(server);
    type_line(c, p, "gone")?;
    c.expect(
        p,
        "nothing listens",
        &format!("with nobody on {gone}, expected the client's line `nothing listens on ...`"),
    )?;
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    c.scene.wait(p).map_err(|e| c.fail(e.to_string()))?;
    // Exactly one `round trip` line per answer: none for the datagrams that got none.
    let printed = c
        .scene
        .output(p, Stream::Stdout)
        .into_iter()
        .filter(|l| l.contains("round trip"))
        .count();
    if printed != answered {
        return Err(c.fail(format!(
            "{answered} answers came, so expected {answered} `round trip` lines, one after each \
             answer, none after `no reply` or `nothing listens`; the client printed {printed}"
        )));
    }
    c.pass("one `round trip` line per answer, none for the datagrams without one");
    Ok(())
}

/// Receives the copies of `want` until `copies` have come, and checks the gaps between
/// them: `first`, then twice as long each time, give or take what a loaded machine adds.
fn copies(
    c: &mut Check,
    server: &Udp,
    want: &[u8],
    copies: usize,
    first: Duration,
) -> Result<SocketAddr, Failure> {
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
            // A gap is measured between our receives: one that came to us late makes the
            // next gap look short by as much. 0.7 leaves 60 ms of that at the shortest wait,
            // and still tells a wait from half of it.
            let least = wait.mul_f64(0.7);
            if gap < least || gap > wait + COPY_LATE {
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

/// How soon after it arrives an answer must be printed. The check answers a copy from the
/// second on, at most a quarter into a wait of at least 0.4 s: a client that prints only when
/// the wait is over prints 0.3 s later or more, and a loaded machine has 250 ms.
const AT_ONCE: Duration = Duration::from_millis(250);

/// With `--retries retries`, a line nobody answers: one datagram and `retries` more copies,
/// then the client's line, which names the whole wait. Returns the datagram's bytes.
fn never_answered(
    c: &mut Check,
    p: testkit::Proc,
    server: &Udp,
    timeout: Duration,
    retries: u32,
    gbk: bool,
) -> Result<Vec<u8>, Failure> {
    // With --encoding gbk, Chinese text in GBK's bytes: every copy is the datagram first sent.
    let (lost, bytes) = if gbk {
        gbk_line(c)
    } else {
        let line = varied_line(c, 1..10);
        let bytes = line.clone().into_bytes();
        (line, bytes)
    };
    type_line(c, p, &lost)?;
    copies(c, server, &bytes, retries as usize + 1, timeout)?;
    let started = Instant::now();
    // The whole wait: t + 2t + 4t ...
    let whole = timeout * ((1u32 << (retries + 1)) - 1);
    let expected = format!("no reply from {} within {whole:?} (", server.addr());
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
    let took = started.elapsed();
    // From our receive of the last copy, which may come to us late: 0.7, as in `copies`.
    if took < last_wait.mul_f64(0.7) || took > last_wait + LATE {
        return Err(c.fail(format!(
            "the last try waits {last_wait:?}, but the client gave up {:.3} s after sending it",
            took.as_secs_f64()
        )));
    }
    c.pass(format!("{said:?}"));
    Ok(bytes)
}

/// A line of Chinese text and digits, and its bytes in GBK.
fn gbk_line(c: &mut Check) -> (String, Vec<u8>) {
    const GBK: &[(char, &[u8])] = &[
        ('你', &[0xc4, 0xe3]),
        ('好', &[0xba, 0xc3]),
        ('中', &[0xd6, 0xd0]),
        ('文', &[0xce, 0xc4]),
        ('网', &[0xcd, 0xf8]),
        ('7', b"7"),
    ];
    // 你 first: a line of 7s alone would be the same bytes in UTF-8.
    let (mut line, mut bytes) = (String::from("g你"), b"g\xc4\xe3".to_vec());
    for _ in 0..c.rng().below(2..8) {
        if let Some(&(ch, code)) = c.rng().pick(GBK) {
            line.push(ch);
            bytes.extend_from_slice(code);
        }
    }
    (line, bytes)
}

pub fn client_retries(c: &mut Check) -> Result<(), Failure> {
    let server = Udp::new(c)?;
    let timeout_ms = *c.rng().pick(&[200u64, 250, 300]).unwrap_or(&200);
    let timeout = Duration::from_millis(timeout_ms);
    let flag = format!("{:.2}", timeout.as_secs_f64());
    let retries = 3;
    let p = client(
        c,
        server.addr(),
        &["--timeout", &flag, "--retries", &retries.to_string()],
    )?;

    // Answered during the wait after copy k, early in it: no more copies after it, and the
    // answer printed at once, not when the wait is over.
    let answered = c.rng().below(2..retries + 2);
    let line = varied_line(c, 1..10);
    type_line(c, p, &line)?;
    let from = copies(c, &server, line.as_bytes(), answered, timeout)?;
    let wait = timeout * (1u32 << (answered - 1));
    let into = c.rng().below(0..25) as f64 / 100.0;
    std::thread::sleep(wait.mul_f64(into));
    let answered_at = Instant::now();
    server.send(c, from, line.as_bytes())?;
    let got = c.expect(p, "received", "the answer should be printed")?;
    let took = answered_at.elapsed();
    if !got.ends_with(&format!(": {line}")) {
        return Err(c.fail(format!(
            "the server answered {line:?} to copy {answered}; expected the client's \
             `received ...: {line}` line, got {got:?}"
        )));
    }
    if took > AT_ONCE {
        return Err(c.fail(format!(
            "the server answered copy {answered} {:.0}% into the {:.2} s wait after it; the \
             client printed the answer {:.3} s later: an answer is taken as soon as it arrives \
             (within {} ms), not when the wait is over",
            into * 100.0,
            wait.as_secs_f64(),
            took.as_secs_f64(),
            AT_ONCE.as_millis()
        )));
    }
    c.pass(format!(
        "the answer to copy {answered}, {:.0}% into its wait, was printed {:.0} ms later",
        into * 100.0,
        took.as_secs_f64() * 1000.0
    ));

    // A line nobody answers: one datagram and N more tries, then the client says so.
    never_answered(c, p, &server, timeout, retries as u32, false)?;
    c.scene.close_stdin(p).map_err(|e| c.fail(e.to_string()))?;
    c.scene.wait(p).map_err(|e| c.fail(e.to_string()))?;
    let extra = server.waiting().len();
    if extra > 0 {
        return Err(c.fail(format!(
            "--retries {retries} means {} datagrams at most per line, but {extra} more copies \
             arrived",
            retries + 1
        )));
    }
    c.pass(format!("no copy more than {} per line", retries + 1));

    // Another N, --retries 1, and another encoding: the copy is the datagram, in GBK too,
    // and goes out as the first did: dumped with --hexdump, as every datagram sent.
    let q = client(
        c,
        server.addr(),
        &[
            "--timeout",
            "0.2",
            "--retries",
            "1",
            "--encoding",
            "gbk",
            "--hexdump",
        ],
    )?;
    let bytes = never_answered(c, q, &server, Duration::from_millis(200), 1, true)?;
    c.scene.close_stdin(q).map_err(|e| c.fail(e.to_string()))?;
    c.scene.wait(q).map_err(|e| c.fail(e.to_string()))?;
    let title = format!(">> {} bytes to {}", bytes.len(), server.addr());
    let stderr = c.scene.output(q, Stream::Stderr);
    let dumped = crate::promises::dumps(&stderr, &title);
    let dumped = dumped.iter().filter(|d| **d == bytes).count();
    if dumped != 2 {
        return Err(c.fail(format!(
            "with --retries 1 --hexdump, the client sent {} twice; every datagram it sends is \
             dumped on stderr, the copy too: expected 2 dumps `{title}` of those bytes, found \
             {dumped}",
            hex(&bytes)
        )));
    }
    c.pass(format!(
        "--hexdump showed the datagram and its copy: `{title}` twice"
    ));

    // N may be large: nothing may overflow before the waits do.
    let q = client(c, server.addr(), &["--timeout", "0.2", "--retries", "100"])?;
    let line = varied_line(c, 1..10);
    type_line(c, q, &line)?;
    // The copies' timing is tested above: here only that copy 2 comes, and its answer is taken.
    let mut from = server.addr();
    for n in 1..=2 {
        let (data, sender) = server.recv(c, &format!("copy {n} of {line:?}"))?;
        if data != line.as_bytes() {
            return Err(c.fail(format!(
                "with --retries 100, expected copy {n} of {line:?}, got {}",
                shown(&data)
            )));
        }
        from = sender;
    }
    server.send(c, from, line.as_bytes())?;
    let got = c.expect(
        q,
        "received",
        "with --retries 100, the answer to copy 2 should be printed",
    )?;
    if !got.ends_with(&format!(": {line}")) {
        return Err(c.fail(format!(
            "with --retries 100, the server answered {line:?} to copy 2; expected the \
             client's `received ...: {line}` line, got {got:?}"
        )));
    }
    c.scene.close_stdin(q).map_err(|e| c.fail(e.to_string()))?;
    c.scene.wait_success(q).map_err(|e| c.fail(e.what()))?;
    c.pass("with --retries 100, the answer to copy 2 was printed, and the client exited 0");

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

/// A stale answer as the client must show it: decoded (UTF-8 here), control and format
/// characters escaped as the lesson escapes peer text, and the lesson's note when some bytes
/// were not UTF-8.
fn shown_by_lesson(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut line: String = text
        .chars()
        .map(|ch| {
            if ch.is_control() {
                ch.escape_debug().to_string()
            } else if ch == '\u{202e}' {
                ch.escape_unicode().to_string()
            } else {
                ch.to_string()
            }
        })
        .collect();
    if std::str::from_utf8(bytes).is_err() {
        line.push_str(" [not valid UTF-8: shown as \u{fffd}]");
    }
    line
}

/// Answers that are not line `n`'s: an earlier number, numbers that begin with the same
/// digits, the number without its space, with a leading zero, a sign or a space before it,
/// and peer text that must be shown escaped.
fn stales(c: &mut Check, n: usize) -> Vec<Vec<u8>> {
    let mut rough = format!("{} \u{1b}[2J\r", n - 1).into_bytes();
    rough.extend_from_slice(&[0xff, b'x']);
    rough.extend_from_slice("\u{202e}txt".as_bytes());
    let mut all = vec![
        format!("{} stale", n - 1).into_bytes(),
        format!("{n}{} stale", c.rng().below(0..10)).into_bytes(),
        format!("{n}stale").into_bytes(),
        format!("0{n} stale").into_bytes(),
        format!("+{n} stale").into_bytes(),
        // The datagram begins with N: not with a space, nothing is trimmed.
        format!(" {n} stale").into_bytes(),
        format!("{n}").into_bytes(),
        rough,
    ];
    // In an order the seed chooses.
    for i in (1..all.len()).rev() {
        let j = c.rng().below(0..i + 1);
        all.swap(i, j);
    }
    all
}

/// The failure when the line `expected` did not come on stdout: says if it came on stderr.
fn stale_not_on_stdout(c: &Check, p: testkit::Proc, expected: &str) -> Failure {
    let stderr = c.scene.output(p, Stream::Stderr);
    let elsewhere = if stderr.iter().any(|l| l.contains("stale")) {
        " (a line about a stale answer came on stderr: the client prints its events on \
         stdout, as its other lines, above a half-typed line)"
    } else {
        ""
    };
    c.fail(format!(
        "expected the line {expected:?} on stdout{elsewhere}"
    ))
}

/// Line `n`, `line`, was sent: the check sends answers that are not its own, then its own.
fn stale_then_right(
    c: &mut Check,
    p: testkit::Proc,
    server: &Udp,
    from: SocketAddr,
    n: usize,
    want: &str,
) -> Result<(), Failure> {
    let stales = stales(c, n);
    for stale in &stales {
        server.send(c, from, stale)?;
    }
    server.send(c, from, want.as_bytes())?;
    for stale in &stales {
        let expected = format!("ignored a stale answer: {}", shown_by_lesson(stale));
        // On stdout, where the client prints every event, above a half-typed line.
        let said = c
            .scene
            .expect_on(p, Stream::Stdout, "stale")
            .map_err(|_| stale_not_on_stdout(c, p, &expected))?;
        if said != expected {
            return Err(c.fail(format!(
                "the server sent {} (not an answer to datagram {n}); expected the line \
                 {expected:?} (peer text shown as the lesson shows it), got {said:?}",
                shown(stale)
            )));
        }
    }
    let got = c.expect(p, "received", &format!("expected the answer {want:?}"))?;
    if !got.ends_with(&format!(": {want}")) {
        return Err(c.fail(format!(
            "the server sent {} answers that are not datagram {n}'s, then {want:?}; expected \
             the client's `received ...: {want}` line, got {got:?}",
            stales.len()
        )));
    }
    c.pass(format!(
        "{} answers not for {n} were ignored and shown escaped; {want:?} was taken",
        stales.len()
    ));
    Ok(())
}

/// Types lines `first..=last` (each `l`) as fast as the client takes them, while a thread
/// plays the server: each datagram must be `N l`, and is answered at once.
fn many_lines(
    c: &mut Check,
    p: testkit::Proc,
    server: &Udp,
    first: usize,
    last: usize,
) -> Result<(), Failure> {
    let socket = server.clone_socket(c)?;
    let player = std::thread::spawn(move || {
        let mut buf = vec![0u8; 70_000];
        let mut wrong = None;
        for n in first..=last {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                return Some(format!("expected the datagram \"{n} l\", but none came"));
            };
            let got = buf.get(..len).unwrap_or_default();
            if wrong.is_none() && got != format!("{n} l").as_bytes() {
                wrong = Some(format!(
                    "typed \"l\" as line {n}, expected the datagram \"{n} l\", got {}",
                    shown(got)
                ));
            }
            let _ = socket.send_to(got, from);
        }
        wrong
    });
    let mut n = first;
    while n <= last {
        let upto = last.min(n + 999);
        let text = "l\n".repeat(upto - n + 1);
        c.scene
            .send_bytes(p, text.as_bytes())
            .map_err(|e| c.fail(e.to_string()))?;
        n = upto + 1;
    }
    match player.join() {
        Ok(None) => {}
        Ok(Some(wrong)) => return Err(c.fail(wrong)),
        Err(_) => return Err(c.fail("the check's server thread failed")),
    }
    let want = format!(": {last} l");
    c.expect(
        p,
        &want,
        &format!("expected the answer \"{last} l\" to be printed"),
    )?;
    c.pass(format!(
        "lines {first} to {last} were sent as \"N l\" and answered"
    ));
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Answered at once.
    Plain,
    /// Varied text, and answers that are not its own before its own.
    Tested,
    /// An empty line, tested as one.
    Empty,
    /// Never answered.
    Silent,
}

/// Types line `n` and plays the server for it as `kind` says.
fn seq_line(
    c: &mut Check,
    p: testkit::Proc,
    server: &Udp,
    n: usize,
    kind: Kind,
) -> Result<(), Failure> {
    let line = match kind {
        Kind::Empty => String::new(),
        Kind::Plain => format!("l{n}"),
        Kind::Tested | Kind::Silent => varied_line(c, 1..10),
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
    match kind {
        Kind::Silent => {
            c.expect(
                p,
                "no reply from",
                &format!("line {n} got no answer: expected `no reply from ...` after 1 s"),
            )?;
            c.pass(format!("line {n}, {want:?}, got no answer"));
        }
        Kind::Tested | Kind::Empty => {
            c.pass(format!("typing {line:?} sent {want:?}"));
            stale_then_right(c, p, server, from, n, &want)?;
        }
        Kind::Plain => {
            // The answer is the datagram that begins with `N `, whatever follows: not
            // always an echo.
            let answer = format!("{n} OK");
            server.send(c, from, answer.as_bytes())?;
            let got = c.expect(p, "received", &format!("expected the answer {answer:?}"))?;
            if !got.ends_with(&format!(": {answer}")) {
                return Err(c.fail(format!(
                    "sent {want:?}, the server answered {answer:?}: it begins with `{n} `, so \
                     it is the answer, and the client's `received ...: {answer}` line was \
                     expected; got {got:?}"
                )));
            }
        }
    }
    Ok(())
}

/// A line no datagram can carry (65,507 bytes of payload at most over IPv4).
const TOO_LONG_LINE: usize = 70_000;

pub fn client_seq(c: &mut Check) -> Result<(), Failure> {
    let server = Udp::new(c)?;
    let p = client(c, server.addr(), &["--seq", "--timeout", "1"])?;
    // Past 9 (a second digit), past 255 (a counter in a u8), past 65,535 (a u16).
    let total = c.rng().below(258..262);
    let mut tested = vec![1, 2, 10, 11, 256, 257];
    tested.push(c.rng().below(3..255));
    // One line gets no answer; the next line still has the next number, and the late
    // answer to the silent one is stale.
    let silent = c.rng().below(12..250);
    tested.retain(|&n| n != silent);
    tested.push(silent + 1);
    let mut empty = c.rng().below(3..total);
    while tested.contains(&empty) || empty == silent {
        empty += 1;
    }
    // A line too long for a datagram is not sent, and takes no number: the line typed after
    // it goes out with the number it would have had.
    let mut unsent = c.rng().below(3..total);
    while tested.contains(&unsent) || unsent == silent || unsent == empty {
        unsent += 1;
    }
    for n in 1..=total {
        if n == unsent {
            let long = "x".repeat(TOO_LONG_LINE);
            type_line(c, p, &long)?;
            c.expect(
                p,
                "line not sent",
                &format!(
                    "typed a line of {TOO_LONG_LINE} bytes, too long for a datagram, before \
                     line {n}: expected the lesson's `error: line not sent: ...`"
                ),
            )?;
            c.pass(format!(
                "a line of {TOO_LONG_LINE} bytes was not sent; the next line must be {n}"
            ));
        }
        let kind = if n == silent {
            Kind::Silent
        } else if n == empty {
            Kind::Empty
        } else if tested.contains(&n) {
            Kind::Tested
        } else {
            Kind::Plain
        };
        seq_line(c, p, &server, n, kind)?;
    }
    let bulk = 65_533 + c.rng().below(0..3);
    many_lines(c, p, &server, total + 1, bulk)?;
    for n in bulk + 1..=65_537 {
        seq_line(c, p, &server, n, Kind::Tested)?;
    }
    let n = 65_538;

    // Stale answers keep coming: the client still gives up at its deadline, not later.
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
    seq_in_gbk(c, &server)?;
    long_stale(c, p, &server, n + 1)
}

/// A stale answer as long as a datagram on loopback allows, every byte an escape: its line is
/// capped as the lesson caps an answer's (`text::show_capped`, `common::limit::SHOWN_BYTES`),
/// not 360,000 bytes of `\u{1b}` on the terminal.
fn long_stale(c: &mut Check, p: testkit::Proc, server: &Udp, n: usize) -> Result<(), Failure> {
    const ESCAPES: usize = 60_000;
    type_line(c, p, "long")?;
    let (_, from) = server.recv(c, &format!("the datagram \"{n} long\""))?;
    let stale = [format!("{} ", n - 1).into_bytes(), vec![0x1b; ESCAPES]].concat();
    server.send(c, from, &stale)?;
    server.send(c, from, format!("{n} long").as_bytes())?;
    let needle = format!("ignored a stale answer: {} ", n - 1);
    let said = c
        .scene
        .expect_on(p, Stream::Stdout, &needle)
        .map_err(|_| stale_not_on_stdout(c, p, &needle))?;
    if said.len() > 8_000 || !said.contains("more bytes") {
        return Err(c.fail(format!(
            "the server sent a stale answer of `{} ` and {ESCAPES} ESC bytes: expected its line \
             capped as the lesson caps an answer's (the first 1024 bytes shown, then `… (N \
             more bytes)`), got a line of {} bytes",
            n - 1,
            said.len()
        )));
    }
    c.expect(p, "received", &format!("expected the answer \"{n} long\""))?;
    c.pass(format!(
        "a stale answer of {} bytes, all escapes, made a line of {} bytes",
        stale.len(),
        said.len()
    ));
    Ok(())
}

/// `--seq --encoding gbk --hexdump`: the number in ASCII, the text in GBK, the datagram
/// dumped as sent; a stale answer decoded from GBK; a line GBK cannot encode takes no number.
fn seq_in_gbk(c: &mut Check, server: &Udp) -> Result<(), Failure> {
    let args = ["--seq", "--timeout", "1", "--encoding", "gbk", "--hexdump"];
    let q = client(c, server.addr(), &args)?;
    let mut first = Vec::new();
    for n in 1..=2 {
        if n == 2 {
            // 🦀 has no GBK code: the line is not sent, and the next one is still line 2.
            type_line(c, q, "m🦀m")?;
            c.expect(
                q,
                "line not sent",
                "with --encoding gbk, typed \"m🦀m\": expected the lesson's `error: line not \
                 sent: ...`",
            )?;
        }
        let (line, bytes) = gbk_line(c);
        type_line(c, q, &line)?;
        let want = [format!("{n} ").as_bytes(), &bytes].concat();
        let (data, from) = server.recv(c, &format!("the datagram \"{n} {line}\" in GBK"))?;
        if data != want {
            return Err(c.fail(format!(
                "with --encoding gbk, typed {line:?} as line {n}: expected the datagram `{n} ` \
                 and the line in GBK, {}; got {}",
                hex(&want),
                hex(&data)
            )));
        }
        // 0 你好, in GBK.
        server.send(c, from, b"0 \xc4\xe3\xba\xc3")?;
        server.send(c, from, &want)?;
        let expected = "ignored a stale answer: 0 你好";
        let said = c
            .scene
            .expect_on(q, Stream::Stdout, "stale")
            .map_err(|_| stale_not_on_stdout(c, q, expected))?;
        if said != expected {
            return Err(c.fail(format!(
                "with --encoding gbk, the server sent 0 你好 in GBK (c4 e3 ba c3) before line \
                 {n}'s answer: expected the line {expected:?}, got {said:?}"
            )));
        }
        let got = c.expect(q, "received", &format!("expected the answer {n} {line:?}"))?;
        if !got.ends_with(&format!(": {n} {line}")) {
            return Err(c.fail(format!(
                "with --encoding gbk, expected the client's `received ...: {n} {line}` line, \
                 got {got:?}"
            )));
        }
        c.pass(format!(
            "with --encoding gbk, {line:?} went out as {}, and a stale answer was shown decoded",
            hex(&want)
        ));
        if n == 1 {
            first = want;
        }
    }
    c.dumped(q, true, server.addr(), &first, "the numbered GBK datagram")?;
    c.scene.close_stdin(q).map_err(|e| c.fail(e.to_string()))?;
    c.scene.wait_success(q).map_err(|e| c.fail(e.what()))?;
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
