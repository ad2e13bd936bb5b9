//! udp-chat: the check's UDP sockets are the other people in the chat; it types the
//! commands on the chat's stdin.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use testkit::{Proc, Stream};

use crate::wire::Udp;
use crate::{Check, Failure, shown};

fn chat(c: &mut Check) -> Result<(Proc, SocketAddr), Failure> {
    let (p, addr) = c.start("udp-chat", &["--port", "0"])?;
    c.pass(format!("udp-chat is listening on {addr}"));
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

/// `peer` writes `text` to the chat, and the chat shows it: then the chat has heard `peer`.
fn write_to(c: &mut Check, p: Proc, peer: &Udp, chat: SocketAddr) -> Result<(), Failure> {
    let text = message(c);
    peer.send(c, chat, text.as_bytes())?;
    c.expect(
        p,
        &format!("from {}: {text}", peer.addr()),
        "the chat should show every message that arrives",
    )?;
    c.pass(format!("{} wrote {text:?} to the chat", peer.addr()));
    Ok(())
}

/// Waits for the datagram that typing `typed` should have sent to `peer`.
fn expect_datagram(c: &Check, peer: &Udp, typed: &str, want: &str) -> Result<(), Failure> {
    let (got, _) = peer.recv(c, &format!("{want:?} after typing {typed:?}"))?;
    if got != want.as_bytes() {
        return Err(c.fail(format!(
            "after typing {typed:?}, expected {} to receive {want:?}, got {}",
            peer.addr(),
            shown(&got)
        )));
    }
    c.pass(format!("typing {typed:?} sent {want:?} to {}", peer.addr()));
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

pub fn nick(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = chat(c)?;
    let (friend, other) = (Udp::new(c)?, Udp::new(c)?);
    type_line(c, p, &format!("/peer {}", friend.addr()))?;
    let plain = message(c);
    type_line(c, p, &plain)?;
    expect_datagram(c, &friend, &plain, &plain)?;
    let names = [word(c), word(c), word(c)];
    let [first, second, third] = &names;

    type_line(c, p, &format!("/nick {first}"))?;
    let text = message(c);
    type_line(c, p, &text)?;
    expect_datagram(c, &friend, &text, &format!("[{first}] {text}"))?;
    // A line that starts with '/', sent with //: a message like any other.
    let slashed = message(c);
    type_line(c, p, &format!("//{slashed}"))?;
    expect_datagram(c, &friend, &slashed, &format!("[{first}] /{slashed}"))?;

    // The name is the chat's, not the peer's: it stays when the peer changes, and /reply
    // sends messages too.
    type_line(c, p, &format!("/peer {}", other.addr()))?;
    write_to(c, p, &other, addr)?;
    let text = message(c);
    type_line(c, p, &format!("/reply {text}"))?;
    expect_datagram(
        c,
        &other,
        &format!("/reply {text}"),
        &format!("[{first}] {text}"),
    )?;

    // A second /nick changes the name, and a third.
    for name in [second, third] {
        type_line(c, p, &format!("/nick {name}"))?;
        let text = message(c);
        type_line(c, p, &text)?;
        expect_datagram(c, &other, &text, &format!("[{name}] {text}"))?;
    }
    nothing_more(c, &friend, "every message was checked")?;
    nothing_more(c, &other, "every message was checked")
}

pub fn who(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = chat(c)?;
    let writers: Vec<Udp> = (0..c.rng().below(1..3))
        .map(|_| Udp::new(c))
        .collect::<Result<_, _>>()?;
    let (old, early, silent) = (Udp::new(c)?, Udp::new(c)?, Udp::new(c)?);
    // `old` writes once, and `early` twice, the second time 1.2 s later: /who says when
    // each was heard LAST, in whole seconds.
    write_to(c, p, &old, addr)?;
    let mut heard = vec![(old.addr(), Instant::now())];
    write_to(c, p, &early, addr)?;
    std::thread::sleep(Duration::from_millis(1200));
    write_to(c, p, &early, addr)?;
    heard.push((early.addr(), Instant::now()));
    for w in &writers {
        // Each writer twice: the count is of peers, not of messages.
        write_to(c, p, w, addr)?;
        write_to(c, p, w, addr)?;
        heard.push((w.addr(), Instant::now()));
    }
    // `silent` never writes, though the chat sends to it: the chat has not heard it.
    type_line(c, p, &format!("/peer {}", silent.addr()))?;
    let text = message(c);
    type_line(c, p, &text)?;
    silent.recv(c, &format!("{text:?}, typed for the silent peer"))?;
    let asked = Instant::now();
    type_line(c, p, "/who")?;
    // A command that prints a known line marks the end of what /who printed.
    type_line(c, p, "/peer 127.0.0.1:9")?;
    c.expect(p, "now talking to 127.0.0.1:9", "/peer should still work")?;
    let answered = Instant::now();
    let out = c.scene.output(p, Stream::Stdout);
    let Some(start) = out.iter().rposition(|l| l.contains("heard from")) else {
        return Err(c.fail(
            "after /who, expected a line `heard from N peers in the last minute:`, \
             and there was none",
        ));
    };
    let n = heard.len();
    let want = format!(
        "heard from {n} {} in the last minute:",
        if n == 1 { "peer" } else { "peers" }
    );
    let header = out[start].as_str();
    if header != want {
        return Err(c.fail(format!(
            "{n} different addresses have written (some twice), so expected the line {want:?}, \
             got {header:?}"
        )));
    }
    c.pass(format!("/who printed {header:?}"));
    let listed: Vec<&str> = out[start + 1..]
        .iter()
        .map(|l| l.trim_start())
        .take_while(|l| !l.starts_with("now talking to"))
        .collect();
    if listed.len() != n {
        return Err(c.fail(format!(
            "expected one line per peer heard, {n} in all, after the header; got {listed:?}"
        )));
    }
    for (peer, at) in &heard {
        let prefix = format!("{peer} (");
        let Some(line) = listed.iter().find(|l| l.starts_with(&prefix)) else {
            return Err(c.fail(format!(
                "{peer} wrote to the chat, but no line after the header is `  {peer} (N s ago)`: \
                 {listed:?}"
            )));
        };
        let ago = line
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(" s ago)"))
            .and_then(|n| n.parse::<u64>().ok());
        let least = asked.duration_since(*at).as_secs();
        let most = (answered.duration_since(*at) + Duration::from_millis(300)).as_secs();
        match ago {
            Some(s) if (least..=most).contains(&s) => c.pass(format!("/who lists {line:?}")),
            _ => {
                return Err(c.fail(format!(
                    "{peer} last wrote {:.1} s before /who, so expected `  {peer} (N s ago)` \
                     with N from {least} to {most} (whole seconds); got {line:?}",
                    asked.duration_since(*at).as_secs_f64()
                )));
            }
        }
    }
    let silent = silent.addr().to_string();
    if listed.iter().any(|l| l.contains(&silent)) {
        return Err(c.fail(format!(
            "{silent} never wrote (the chat only sent to it), but /who lists it: {listed:?}"
        )));
    }
    c.pass("/who does not list a socket that never wrote");
    Ok(())
}

pub fn all(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = chat(c)?;
    let writers: Vec<Udp> = (0..c.rng().below(2..4))
        .map(|_| Udp::new(c))
        .collect::<Result<_, _>>()?;
    let silent = Udp::new(c)?;
    for w in &writers {
        // Each writer twice: one datagram each all the same.
        write_to(c, p, w, addr)?;
        write_to(c, p, w, addr)?;
    }
    type_line(c, p, &format!("/peer {}", silent.addr()))?;
    let text = message(c);
    let typed = format!("/all {text}");
    type_line(c, p, &typed)?;
    let just = message(c);
    type_line(c, p, &just)?;
    for w in &writers {
        expect_datagram(c, w, &typed, &text)?;
    }
    // /all goes to those heard, not to the current peer, who never wrote.
    let (got, _) = silent.recv(c, &format!("{just:?}, typed for the current peer"))?;
    if got != just.as_bytes() {
        return Err(c.fail(format!(
            "the current peer has never written, so /all should not reach it, and {just:?} \
             typed after it should; it received {} first",
            shown(&got)
        )));
    }
    c.pass("/all did not go to the current peer, who has never written, nor change it");
    for w in &writers {
        nothing_more(c, w, "/all sends one datagram to each address heard")?;
    }
    nothing_more(c, &silent, "only the line typed for it")?;
    c.pass("one datagram each, however many times each had written");
    Ok(())
}
