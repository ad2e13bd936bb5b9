//! udp-chat: the check's UDP sockets are the other people in the chat; it types the
//! commands on the chat's stdin.

use testkit::{Proc, Stream};

use crate::wire::Udp;
use crate::{Check, Failure, shown};

fn chat(c: &mut Check) -> Result<(Proc, std::net::SocketAddr), Failure> {
    let (p, addr) = c.start("udp-chat", &["--port", "0"])?;
    c.pass(format!("udp-chat is listening on {addr}"));
    Ok((p, addr))
}

fn type_line(c: &mut Check, p: Proc, line: &str) -> Result<(), Failure> {
    c.scene
        .send_line(p, line)
        .map_err(|e| c.fail(e.to_string()))
}

/// `peer` writes `text` to the chat, and the chat shows it: then the chat has heard `peer`.
fn write_to(c: &mut Check, p: Proc, peer: &Udp, chat: std::net::SocketAddr) -> Result<(), Failure> {
    let text = format!("hi from {}", peer.addr());
    peer.send(c, chat, text.as_bytes())?;
    c.expect(p, &text, "the chat should show every message that arrives")?;
    c.pass(format!("{} wrote to the chat", peer.addr()));
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

pub fn nick(c: &mut Check) -> Result<(), Failure> {
    let (p, _) = chat(c)?;
    let friend = Udp::new(c)?;
    type_line(c, p, &format!("/peer {}", friend.addr()))?;
    type_line(c, p, "plain")?;
    expect_datagram(c, &friend, "plain", "plain")?;
    type_line(c, p, "/nick ada")?;
    type_line(c, p, "hello")?;
    expect_datagram(c, &friend, "hello", "[ada] hello")?;
    type_line(c, p, "/nick grace")?;
    type_line(c, p, "hi again")?;
    expect_datagram(c, &friend, "hi again", "[grace] hi again")
}

pub fn who(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = chat(c)?;
    let (a, b, silent) = (Udp::new(c)?, Udp::new(c)?, Udp::new(c)?);
    write_to(c, p, &a, addr)?;
    write_to(c, p, &b, addr)?;
    // `silent` never writes: the chat has not heard it.
    type_line(c, p, "/who")?;
    // A command that prints a known line marks the end of what /who printed.
    type_line(c, p, "/peer 127.0.0.1:9")?;
    c.expect(p, "now talking to 127.0.0.1:9", "/peer should still work")?;
    let out = c.scene.output(p, Stream::Stdout);
    let Some(start) = out.iter().rposition(|l| l.contains("heard from")) else {
        return Err(c.fail(
            "after /who, expected a line `heard from N peers in the last minute:`, \
             and there was none",
        ));
    };
    let header = &out[start];
    if !header.contains("heard from 2 peers") {
        return Err(c.fail(format!(
            "two peers have written, so expected `heard from 2 peers ...`, got {header:?}"
        )));
    }
    c.pass(format!("/who printed {header:?}"));
    let listed: Vec<&String> = out[start + 1..]
        .iter()
        .take_while(|l| !l.contains("now talking to"))
        .collect();
    for peer in [&a, &b] {
        let addr = peer.addr().to_string();
        if !listed.iter().any(|l| l.contains(&addr)) {
            return Err(c.fail(format!(
                "{addr} wrote to the chat, but the lines after the header do not name it: \
                 {listed:?}"
            )));
        }
        c.pass(format!("/who lists {addr}"));
    }
    let silent = silent.addr().to_string();
    if listed.iter().any(|l| l.contains(&silent)) {
        return Err(c.fail(format!(
            "{silent} never wrote, but /who lists it: {listed:?}"
        )));
    }
    c.pass("/who does not list a socket that never wrote");
    Ok(())
}

pub fn all(c: &mut Check) -> Result<(), Failure> {
    let (p, addr) = chat(c)?;
    let (a, b, silent) = (Udp::new(c)?, Udp::new(c)?, Udp::new(c)?);
    write_to(c, p, &a, addr)?;
    write_to(c, p, &b, addr)?;
    type_line(c, p, &format!("/peer {}", silent.addr()))?;
    type_line(c, p, "/all hello everyone")?;
    type_line(c, p, "just you")?;
    // Then a line for `a` alone, so that `a` does not wait in vain when /all sent nothing.
    type_line(c, p, &format!("/peer {}", a.addr()))?;
    type_line(c, p, "and now a")?;
    expect_datagram(c, &a, "/all hello everyone", "hello everyone")?;
    expect_datagram(c, &b, "/all hello everyone", "hello everyone")?;
    // /all goes to those heard, not to the current peer, who never wrote.
    let (got, _) = silent.recv(c, "\"just you\", typed for the current peer")?;
    if got != b"just you" {
        return Err(c.fail(format!(
            "the current peer has never written, so /all should not reach it; it received {} \
             before \"just you\"",
            shown(&got)
        )));
    }
    c.pass("/all did not go to the current peer, who has never written");
    Ok(())
}
