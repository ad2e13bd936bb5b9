//! udp-chat: the check's UDP sockets are the other people in the chat; it types the
//! commands on the chat's stdin.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use testkit::{Proc, Stream};

use crate::wire::Udp;
use crate::{Check, Failure, shown};

/// `udp-chat --port 0` and `extra`.
fn chat(c: &mut Check, extra: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut args = vec!["--port", "0"];
    args.extend(extra);
    let (p, addr) = c.start("udp-chat", &args)?;
    c.pass(format!(
        "udp-chat {} is listening on {addr}",
        args.join(" ")
    ));
    Ok((p, addr))
}

fn type_line(c: &mut Check, p: Proc, line: &str) -> Result<(), Failure> {
    c.scene
        .send_line(p, line)
        .map_err(|e| c.fail(e.to_string()))
}

/// Varied text without spaces: ASCII, Chinese, accents, an emoji.
fn word(c: &mut Check) -> String {
    let len = c.rng().below(1..8);
    let text: String = c.rng().text(len).chars().filter(|&ch| ch != ' ').collect();
    format!("w{text}")
}

/// Varied text with spaces inside, none at the ends.
fn message(c: &mut Check) -> String {
    let len = c.rng().below(1..12);
    format!("m{}m", c.rng().text(len).trim())
}

/// A nickname: two or three words with spaces between them, or a long one (more than 24
/// bytes, its first 25 ASCII) with a word after it.
fn name(c: &mut Check) -> String {
    if c.rng().below(0..2) == 0 {
        return long_name(c);
    }
    let words: Vec<String> = (0..c.rng().below(2..4)).map(|_| word(c)).collect();
    words.join(" ")
}

/// A long nickname: 33 to 80 ASCII characters and a word after them (no cap at 24 bytes, 32
/// characters or any other length).
fn long_name(c: &mut Check) -> String {
    let len = c.rng().below(33..80);
    let long: String = (0..len)
        .filter_map(|_| c.rng().pick(&['a', 'z', 'Q', '7', '-']).copied())
        .collect();
    format!("{long} {}", word(c))
}

/// Spaces typed around an argument: none, one or two.
fn pad(c: &mut Check) -> &'static str {
    ["", " ", "  "][c.rng().below(0..3)]
}

/// Characters whose GBK bytes the check knows (ASCII is itself in GBK).
const GBK: &[(char, &[u8])] = &[
    ('a', b"a"),
    ('Q', b"Q"),
    ('7', b"7"),
    (' ', b" "),
    ('你', &[0xc4, 0xe3]),
    ('好', &[0xba, 0xc3]),
    ('网', &[0xcd, 0xf8]),
    ('络', &[0xc2, 0xe7]),
    ('李', &[0xc0, 0xee]),
    ('雷', &[0xc0, 0xd7]),
    ('中', &[0xd6, 0xd0]),
    ('文', &[0xce, 0xc4]),
];

/// Chinese text: `start` (ASCII or characters of [`GBK`]), `len` characters more and 你;
/// and its GBK bytes.
pub(crate) fn gbk_text(c: &mut Check, start: &str, len: usize) -> (String, Vec<u8>) {
    let mut chars: Vec<char> = start.chars().collect();
    chars.extend((0..len).filter_map(|_| c.rng().pick(GBK).map(|&(ch, _)| ch)));
    chars.push('你');
    let mut bytes = Vec::new();
    for ch in &chars {
        match GBK.iter().find(|(known, _)| known == ch) {
            Some((_, b)) => bytes.extend_from_slice(b),
            // Other ASCII is itself in GBK.
            None => bytes.extend_from_slice(ch.to_string().as_bytes()),
        }
    }
    (chars.into_iter().collect(), bytes)
}

/// When the check sent a datagram, and when it saw the chat show it: the chat heard it in
/// between.
#[derive(Clone, Copy)]
struct Wrote {
    sent: Instant,
    seen: Instant,
}

/// `peer` writes to the chat, and the chat shows it: then the chat has heard `peer`.
fn write_to(c: &mut Check, p: Proc, peer: &Udp, chat: SocketAddr) -> Result<Wrote, Failure> {
    let text = message(c);
    write_text(c, p, peer, chat, &text)
}

/// `peer` writes `text`, which the chat must show as it is.
fn write_text(
    c: &mut Check,
    p: Proc,
    peer: &Udp,
    chat: SocketAddr,
    text: &str,
) -> Result<Wrote, Failure> {
    let sent = Instant::now();
    peer.send(c, chat, text.as_bytes())?;
    c.expect_line(
        p,
        &format!("from {}: {text}", peer.addr()),
        "the chat should show every message that arrives",
    )?;
    c.pass(format!("{} wrote {text:?} to the chat", peer.addr()));
    Ok(Wrote {
        sent,
        seen: Instant::now(),
    })
}

/// Waits for the datagram that typing `typed` should have sent to `peer`.
fn expect_datagram(c: &Check, peer: &Udp, typed: &str, want: &[u8]) -> Result<(), Failure> {
    let (got, _) = peer.recv(c, &format!("{} after typing {typed:?}", shown(want)))?;
    if got != want {
        return Err(c.fail(format!(
            "after typing {typed:?}, expected {} to receive {}, got {}",
            peer.addr(),
            shown(want),
            shown(&got)
        )));
    }
    c.pass(format!(
        "typing {typed:?} sent {} to {}",
        shown(want),
        peer.addr()
    ));
    Ok(())
}

/// Fails if `peer` has received anything more than the check waited for.
fn nothing_more(c: &Check, peer: &Udp, why: &str) -> Result<(), Failure> {
    let more = peer.waiting();
    if let Some(first) = more.first() {
        return Err(c.fail(format!(
            "{why}, but {} received {} more datagram(s), the first {}",
            peer.addr(),
            more.len(),
            shown(first)
        )));
    }
    Ok(())
}

/// Types `line` and expects `want` at `peer`.
fn says(c: &mut Check, p: Proc, peer: &Udp, line: &str, want: &str) -> Result<(), Failure> {
    type_line(c, p, line)?;
    expect_datagram(c, peer, line, want.as_bytes())
}

pub fn nick(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = chat(c, &[])?;
    let (friend, other) = (Udp::new(c)?, Udp::new(c)?);
    type_line(c, p, &format!("/peer {}", friend.addr()))?;
    let plain = message(c);
    says(c, p, &friend, &plain, &plain)?;
    // One name is always long: a name is as long as the student likes.
    let names = [name(c), name(c), long_name(c)];
    let [first, second, third] = &names;

    // NAME is what follows /nick, spaces inside kept, spaces around dropped.
    let (before, after) = (pad(c), [" ", "  "][c.rng().below(0..2)]);
    type_line(c, p, &format!("/nick {before}{first}{after}"))?;
    let text = message(c);
    says(c, p, &friend, &text, &format!("[{first}] {text}"))?;
    // A line that starts with '/', sent with //: a message like any other.
    let slashed = message(c);
    says(
        c,
        p,
        &friend,
        &format!("//{slashed}"),
        &format!("[{first}] /{slashed}"),
    )?;

    // The name is the chat's, not the peer's: it stays when the peer changes, and /reply
    // sends messages too.
    type_line(c, p, &format!("/peer {}", other.addr()))?;
    write_to(c, p, &other, addr)?;
    let text = message(c);
    says(
        c,
        p,
        &other,
        &format!("/reply {text}"),
        &format!("[{first}] {text}"),
    )?;
    // /nick with no name is an error, and so is a longer word that starts with it (a command
    // is a whole word): the name stays.
    let not_nick = format!("/nickname {second}");
    for empty in ["/nick", "/nick   ", not_nick.as_str()] {
        type_line(c, p, empty)?;
        let text = message(c);
        says(c, p, &other, &text, &format!("[{first}] {text}"))?;
    }

    // A second /nick changes the name, and a third.
    for name in [second, third] {
        let (before, after) = (pad(c), pad(c));
        type_line(c, p, &format!("/nick {before}{name}{after}"))?;
        let text = message(c);
        says(c, p, &other, &text, &format!("[{name}] {text}"))?;
    }
    nothing_more(c, &friend, "every message was checked")?;
    nothing_more(c, &other, "every message was checked")?;

    // With --encoding gbk the whole datagram, the name too, is GBK.
    let (p, _) = chat(c, &["--encoding", "gbk"])?;
    let peer = Udp::new(c)?;
    type_line(c, p, &format!("/peer {}", peer.addr()))?;
    let len = c.rng().below(1..5);
    let (name, name_gbk) = gbk_text(c, "李 ", len);
    let len = c.rng().below(1..8);
    let (text, text_gbk) = gbk_text(c, "m", len);
    type_line(c, p, &format!("/nick {name}"))?;
    type_line(c, p, &text)?;
    let want = [b"[", &name_gbk[..], b"] ", &text_gbk[..]].concat();
    expect_datagram(c, &peer, &text, &want)?;
    nothing_more(c, &peer, "every message was checked")
}

/// One peer the check has had write: its socket, and its last write.
struct Heard<'a> {
    peer: &'a Udp,
    last: Wrote,
}

/// What the check knows of /who's answer: asked after `asked`, answered before `answered`.
struct Asked {
    asked: Instant,
    answered: Instant,
    window: Duration,
}

impl Asked {
    /// The whole seconds /who may print for a peer that last wrote at `w`, and whether the
    /// peer must be listed (`Some(true)`), must not (`Some(false)`), or either, because the
    /// check cannot tell on which side of the window the chat's clock was.
    fn expect(&self, w: Wrote) -> (u64, u64, Option<bool>) {
        let least = self.asked.saturating_duration_since(w.seen);
        let most = self.answered.saturating_duration_since(w.sent);
        let listed = if most <= self.window {
            Some(true)
        } else if least > self.window {
            Some(false)
        } else {
            None
        };
        (least.as_secs(), most.as_secs(), listed)
    }
}

/// Types /who and checks what it prints against the peers `heard` (and `silent`, whom the
/// chat only sent to). `/peer silent` after it marks the end of what /who printed.
fn who_says(
    c: &mut Check,
    p: Proc,
    silent: &Udp,
    window: u64,
    heard: &[Heard<'_>],
    when: &str,
) -> Result<(), Failure> {
    let before = c.scene.output(p, Stream::Stdout).len();
    let asked = Instant::now();
    type_line(c, p, "/who")?;
    let marker = format!("now talking to {}", silent.addr());
    type_line(c, p, &format!("/peer {}", silent.addr()))?;
    c.expect_line(p, &marker, "/peer should still work after /who")?;
    let said = Asked {
        asked,
        answered: Instant::now(),
        window: Duration::from_secs(window),
    };
    let out = c.scene.output(p, Stream::Stdout);
    let after: Vec<&String> = out
        .iter()
        .skip(before)
        .skip_while(|l| !l.starts_with("heard from"))
        .take_while(|l| l.trim() != marker)
        .collect();
    let Some((header, listed)) = after.split_first() else {
        return Err(c.fail(format!(
            "after /who ({when}), expected a line `heard from N peers in the last {window} s:`, \
             and there was none"
        )));
    };
    let (mut must, mut may) = (0, 0);
    for h in heard {
        match said.expect(h.last).2 {
            Some(true) => must += 1,
            None => may += 1,
            Some(false) => {}
        }
    }
    let header_for = |n: usize| {
        let peers = if n == 1 { "peer" } else { "peers" };
        format!("heard from {n} {peers} in the last {window} s:")
    };
    let n = listed.len();
    if !(must..=must + may).contains(&n) || header.as_str() != header_for(n) {
        return Err(c.fail(format!(
            "/who ({when}): {must} peer(s) wrote within the last {window} s, so expected the \
             line {:?} and as many lines after it; got {header:?} and {listed:?}",
            header_for(must)
        )));
    }
    c.pass(format!("/who ({when}) printed {header:?}"));
    for line in listed {
        who_line(c, line, &said, heard, silent, when)?;
    }
    for h in heard {
        let peer = h.peer.addr();
        let prefix = format!("  {peer} (");
        if said.expect(h.last).2 == Some(true) && !listed.iter().any(|l| l.starts_with(&prefix)) {
            return Err(c.fail(format!(
                "/who ({when}): {peer} wrote within the last {window} s, but no line is \
                 `  {peer} (N s ago)`: {listed:?}"
            )));
        }
    }
    Ok(())
}

/// One line of /who: `  ADDR (N s ago)`, for a peer heard within the window, N in bounds.
fn who_line(
    c: &Check,
    line: &str,
    said: &Asked,
    heard: &[Heard<'_>],
    silent: &Udp,
    when: &str,
) -> Result<(), Failure> {
    let addr = line
        .strip_prefix("  ")
        .and_then(|l| l.split_once(" ("))
        .map(|(a, _)| a);
    if addr == Some(silent.addr().to_string().as_str()) {
        return Err(c.fail(format!(
            "/who ({when}) lists {line:?}, but {} never wrote (the chat only sent to it)",
            silent.addr()
        )));
    }
    let Some(h) = heard
        .iter()
        .find(|h| Some(h.peer.addr().to_string().as_str()) == addr)
    else {
        return Err(c.fail(format!(
            "/who ({when}): expected lines `  ADDR (N s ago)`, two spaces first, ADDR one of \
             the peers that wrote; got {line:?}"
        )));
    };
    let (least, most, listed) = said.expect(h.last);
    let peer = h.peer.addr();
    if listed == Some(false) {
        return Err(c.fail(format!(
            "/who ({when}) lists {line:?}, but {peer} last wrote more than {} s before /who: \
             it should be forgotten",
            said.window.as_secs()
        )));
    }
    let ok = (least..=most).any(|n| line == format!("  {peer} ({n} s ago)"));
    if !ok {
        return Err(c.fail(format!(
            "{peer} last wrote {:.2} s before /who ({when}), so expected `  {peer} (N s ago)`, N \
             the whole seconds from {least} to {most}; got {line:?}",
            said.asked
                .saturating_duration_since(h.last.seen)
                .as_secs_f64()
        )));
    }
    c.pass(format!("/who lists {line:?}"));
    Ok(())
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

pub fn who(c: &mut Check) -> Result<(), Failure> {
    let window = c.rng().below(4..6) as u64;
    let (p, addr) = chat(c, &["--who-window", &window.to_string()])?;
    let (old, early, silent) = (Udp::new(c)?, Udp::new(c)?, Udp::new(c)?);
    let writers: Vec<Udp> = (0..c.rng().below(2..4))
        .map(|_| Udp::new(c))
        .collect::<Result<_, _>>()?;
    who_says(c, p, &silent, window, &[], "before anyone wrote")?;
    // `old` writes once.
    let first = write_to(c, p, &old, addr)?;
    let mut heard = vec![Heard {
        peer: &old,
        last: first,
    }];
    who_says(c, p, &silent, window, &heard, "one peer wrote")?;
    // `early` writes now and again a second later: /who says when each was heard LAST.
    write_to(c, p, &early, addr)?;
    sleep_until(first.sent + Duration::from_millis(1000));
    let last = write_to(c, p, &early, addr)?;
    heard.push(Heard { peer: &early, last });
    // The writers write twice each, in turns: the count is of peers, not of messages.
    for _ in 0..2 {
        for w in &writers {
            let last = write_to(c, p, w, addr)?;
            match heard.iter_mut().find(|h| h.peer.addr() == w.addr()) {
                Some(h) => h.last = last,
                None => heard.push(Heard { peer: w, last }),
            }
        }
    }
    // The chat answers `old` after everyone wrote: sending to a peer is not hearing from it.
    type_line(c, p, &format!("/peer {}", old.addr()))?;
    c.expect_line(
        p,
        &format!("now talking to {}", old.addr()),
        "/peer says whom the chat talks to",
    )?;
    let text = message(c);
    type_line(c, p, &text)?;
    old.recv(c, &format!("{text:?}, typed for the first writer"))?;
    // `silent` never writes, though the chat sends to it: the chat has not heard it.
    type_line(c, p, &format!("/peer {}", silent.addr()))?;
    c.expect_line(
        p,
        &format!("now talking to {}", silent.addr()),
        "/peer says whom the chat talks to",
    )?;
    let text = message(c);
    type_line(c, p, &text)?;
    silent.recv(c, &format!("{text:?}, typed for the silent peer"))?;
    // Past 1.5 s since `old` wrote: whole seconds say 1, rounding would say 2.
    sleep_until(first.seen + Duration::from_millis(1550));
    who_says(c, p, &silent, window, &heard, "1.5 s after the first write")?;
    // Past the window since `old` wrote, not since the others did: `old` is forgotten.
    sleep_until(first.seen + Duration::from_millis(window * 1000 + 250));
    who_says(
        c,
        p,
        &silent,
        window,
        &heard,
        "the first writer has been silent too long",
    )?;
    c.pass("/who forgets a peer silent for longer than --who-window");
    // Without --who-window, the window is the statement's default.
    let (p, addr) = chat(c, &[])?;
    let one = Udp::new(c)?;
    let silent = Udp::new(c)?;
    let wrote = write_to(c, p, &one, addr)?;
    let heard = [Heard {
        peer: &one,
        last: wrote,
    }];
    who_says(c, p, &silent, 60, &heard, "without --who-window")?;
    heard_bounded(c, "the table of peers heard")
}

/// `table`, of the peers that wrote, is capped: a forged flood names a new sender in every
/// datagram. 200,000 senders, each on an address of its own, must not grow the chat's peak
/// memory (VmHWM) by 6 MiB; a table that kept them all grew it by about 18 MiB.
fn heard_bounded(c: &mut Check, table: &str) -> Result<(), Failure> {
    const SENDERS: u32 = 200_000;
    let (p, addr) = chat(c, &[])?;
    let peak = |c: &Check| -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", c.scene.pid(p)?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    };
    let before = peak(c);
    for i in 0..SENDERS {
        // 127.1.0.1 and on: every sender on an address of its own, as forged ones are.
        let ip = std::net::Ipv4Addr::from(0x7f01_0001 + i * 2);
        let sent = std::net::UdpSocket::bind((ip, 0)).and_then(|s| s.send_to(b"hi\n", addr));
        if let Err(e) = sent {
            return Err(c.fail(format!("cannot send from {ip}: {e}")));
        }
        // Paced, so that the chat's receive buffer does not overflow.
        if i % 500 == 499 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // A moment for the chat to read the last of them.
    std::thread::sleep(Duration::from_millis(500));
    let (Some(before), Some(after)) = (before, peak(c)) else {
        c.pass("(the chat's peak memory is not known here: /proc/PID/status has no VmHWM)");
        return Ok(());
    };
    let grew = after.saturating_sub(before) >> 10;
    if grew >= 6 {
        return Err(c.fail(format!(
            "{SENDERS} senders, each on an address of its own, wrote once, and the chat's peak \
             memory grew by {grew} MiB: {table} must be capped (at 10,000, as udp-server's \
             are), or a forged flood makes it grow for ever"
        )));
    }
    c.pass(format!(
        "{SENDERS} senders wrote once each, and the chat's peak memory grew by {grew} MiB"
    ));
    Ok(())
}

/// The line `Chat::send` prints after sending `len` bytes to `to`.
fn sent_line(len: usize, to: SocketAddr) -> String {
    let bytes = if len == 1 { "byte" } else { "bytes" };
    format!("sent {len} {bytes} to {to}")
}

/// What to type, and the bytes it must send.
type Typed = (String, Vec<u8>);

/// Types `/all TEXT` and then a line `just` for `current`: each writer must receive `want`
/// once, with its `sent` line, and `current` then `just`, whose `sent` line (another length
/// than `want`'s) marks the end of what /all printed.
fn all_says(
    c: &mut Check,
    p: Proc,
    (writers, current): (&[Udp], &Udp),
    (text, want): Typed,
    (just, just_bytes): Typed,
) -> Result<(), Failure> {
    let before = c.scene.output(p, Stream::Stdout).len();
    let typed = format!("/all {text}");
    type_line(c, p, &typed)?;
    type_line(c, p, &just)?;
    for w in writers {
        expect_datagram(c, w, &typed, &want)?;
    }
    let what = format!("{just:?}, typed for the current peer after /all");
    // A current peer that wrote got TEXT first, checked above.
    let (got, _) = current.recv(c, &what)?;
    if got != just_bytes {
        return Err(c.fail(format!(
            "/all should not change the current peer, nor reach it unless it has written; \
             after /all, {} received {} where {just:?} was expected",
            current.addr(),
            shown(&got)
        )));
    }
    c.expect_line(
        p,
        &sent_line(just_bytes.len(), current.addr()),
        "each line sent says so",
    )?;
    let out = c.scene.output(p, Stream::Stdout);
    for w in writers {
        let line = sent_line(want.len(), w.addr());
        let n = out.iter().skip(before).filter(|l| l.trim() == line).count();
        if n != 1 {
            return Err(c.fail(format!(
                "/all sends each datagram as a typed line is sent, with its line {line:?}: \
                 expected it once, it came {n} times"
            )));
        }
    }
    c.pass(format!(
        "/all printed one `sent` line per writer for {typed:?}"
    ));
    Ok(())
}

pub fn all(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = chat(c, &[])?;
    let writers: Vec<Udp> = (0..c.rng().below(3..6))
        .map(|_| Udp::new(c))
        .collect::<Result<_, _>>()?;
    let silent = Udp::new(c)?;
    // Each writer twice, in turns, others in between: one datagram each all the same.
    for _ in 0..2 {
        let start = c.rng().below(0..writers.len());
        for i in 0..writers.len() {
            if let Some(w) = writers.get((start + i) % writers.len()) {
                write_to(c, p, w, addr)?;
            }
        }
    }
    // The current peer never wrote: /all does not reach it, nor change it.
    type_line(c, p, &format!("/peer {}", silent.addr()))?;
    let text = format!(
        "{}{}{}",
        [" ", "  "][c.rng().below(0..2)],
        message(c),
        pad(c)
    );
    let just = utf8(message(c));
    all_says(c, p, (&writers, &silent), utf8(text), just)?;
    c.pass("/all did not go to the current peer, who has never written, nor change it");
    // Now the current peer is one of the writers: it gets /all too.
    let k = c.rng().below(0..writers.len());
    let Some(current) = writers.get(k) else {
        return Ok(());
    };
    type_line(c, p, &format!("/peer {}", current.addr()))?;
    let text = format!("{}{}", message(c), [" ", "  "][c.rng().below(0..2)]);
    // The line after /all, to the same peer, has another length: its `sent` line differs.
    let mut just = message(c);
    if just.len() == text.len() {
        just.push('x');
    }
    all_says(c, p, (&writers, current), utf8(text), utf8(just))?;
    for w in &writers {
        nothing_more(c, w, "/all sends one datagram to each address heard")?;
    }
    nothing_more(c, &silent, "only the line typed for it")?;
    c.pass("one datagram each, however many times each had written");

    // With --encoding gbk, /all sends GBK, as a typed line.
    let (p, addr) = chat(c, &["--encoding", "gbk"])?;
    let writers = [Udp::new(c)?, Udp::new(c)?];
    let silent = Udp::new(c)?;
    for w in &writers {
        // ASCII, which reads the same in GBK.
        let text = format!("hi {}", c.rng().below(0..1000));
        write_text(c, p, w, addr, &text)?;
    }
    type_line(c, p, &format!("/peer {}", silent.addr()))?;
    let len = c.rng().below(1..8);
    let text = gbk_text(c, " ", len);
    let len = c.rng().below(1..8);
    let just = gbk_text(c, "m", len);
    all_says(c, p, (&writers, &silent), text, just)?;

    // With --hexdump, /all's datagrams are shown as every datagram sent is.
    let (p, addr) = chat(c, &["--hexdump"])?;
    let writer = Udp::new(c)?;
    write_to(c, p, &writer, addr)?;
    let text = message(c);
    type_line(c, p, &format!("/all {text}"))?;
    expect_datagram(c, &writer, &format!("/all {text}"), text.as_bytes())?;
    let title = format!(">> {} bytes to {}", text.len(), writer.addr());
    c.scene
        .expect_on(p, Stream::Stderr, &title)
        .map_err(|_| c.fail(format!("with --hexdump, expected /all's datagram dumped on stderr as every datagram sent is (no line {title:?})")))?;
    c.pass("with --hexdump, /all's datagram was dumped as every datagram sent is");
    heard_bounded(c, "the list of everyone who has written")
}

fn utf8(text: String) -> Typed {
    let bytes = text.as_bytes().to_vec();
    (text, bytes)
}
