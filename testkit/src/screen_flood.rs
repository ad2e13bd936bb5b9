//! The screen flood: a stranger at 127.0.0.2 sends 2,000 datagrams to a program that prints
//! what peers send (udp-chat, feiq listen), then a friend at 127.0.0.1 sends one. Every line
//! of the stranger's used to be printed, and the friend's came after all of them; now one
//! address gets only its share of the screen ([`common::limit::ScreenShare`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::udp::Peer;
use crate::{Failure, Proc, Scene, Stream};

/// Floods `victim` (process `p`, bound at `at`) from 127.0.0.2 with `spam(i)`, sends `hello`
/// from 127.0.0.1, and checks that the friend's line (it contains `friend_says`) came after at
/// most 110 of the stranger's, and that the stranger, once shown again, is shown after a
/// count of what was not.
pub fn check(
    s: &mut Scene,
    p: Proc,
    at: SocketAddr,
    spam: impl Fn(usize) -> Vec<u8> + Send + 'static,
    hello: &[u8],
    friend_says: &str,
) -> Result<(), Failure> {
    let stranger = Peer::on("127.0.0.2:0")?;
    let friend = Peer::new()?;
    for i in 0..2000 {
        stranger.send(at, &spam(i))?;
    }
    // The flood may have filled the chat's receive buffer, where the kernel drops what does
    // not fit: the friend says it again until it is shown.
    let hello = hello.to_vec();
    sending_until(s, p, friend, at, move |_| hello.clone(), friend_says)?;
    let from_stranger = s
        .output(p, Stream::Stdout)
        .iter()
        .take_while(|line| !line.contains(friend_says))
        .filter(|line| line.contains("127.0.0.2"))
        .count();
    if from_stranger > 110 {
        return Err(s.fail(format!(
            "the friend's line came after {from_stranger} lines of the stranger's"
        )));
    }
    // The stranger goes on until its next line is shown: within a tenth of a second its
    // share has one line more, and the line comes after a count of what was not shown.
    let note = sending_until(s, p, stranger, at, spam, "from 127.0.0.2 not shown")?;
    let told = note
        .strip_prefix('(')
        .and_then(|rest| rest.split_once(" datagrams from 127.0.0.2 not shown: "))
        .and_then(|(n, why)| Some((n.parse::<u64>().ok()?, why)));
    match told {
        Some((n, "more than 100 at once or 10 a second)")) if n >= 1 => Ok(()),
        _ => Err(s.fail(format!("not the note expected: {note:?}"))),
    }
}

/// `peer` sends `datagram(i)` to `at`, one a millisecond (a pace, not a wait), until `p`
/// prints a line with `needle`, which is returned.
fn sending_until(
    s: &mut Scene,
    p: Proc,
    peer: Peer,
    at: SocketAddr,
    datagram: impl Fn(usize) -> Vec<u8> + Send + 'static,
    needle: &str,
) -> Result<String, Failure> {
    let done = Arc::new(AtomicBool::new(false));
    let sending = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            for i in 0..20_000 {
                if done.load(Ordering::Relaxed) || peer.send(at, &datagram(i)).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let line = s.expect(p, needle);
    done.store(true, Ordering::Relaxed);
    let _ = sending.join();
    line
}

/// A line showing a datagram of control characters (each `\u{1}`) that was cut: shorter than
/// `below` bytes, and ending with how many `more` bytes were not shown.
pub fn assert_capped(line: &str, below: usize, more: usize) {
    let head = line.chars().take(120).collect::<String>();
    assert!(
        line.len() < below,
        "a line of {} bytes: {head}...",
        line.len()
    );
    let end = format!("\\u{{1}}\\u{{1}} \u{2026} ({more} more bytes)");
    assert!(line.ends_with(&end), "{head}...");
}
