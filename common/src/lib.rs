//! What every lesson needs and none of them teaches.
//!
//! A lesson's `main.rs` shows the socket calls; everything incidental lives here, so that a
//! reader never has to open this crate to see the networking:
//!
//! - [`addr`]: `HOST[:PORT]` arguments that resolve names and accept IPv6 literals,
//!   and the shared `--bind` / `--port` groups of servers and clients;
//! - [`text`]: turning typed text into bytes and received bytes into printable text
//!   (UTF-8 or GBK), and reading stdin line by line;
//! - [`console`]: the keyboard and the screen of a client that prints while you type;
//! - [`echo`]: the flags of the three echo servers;
//! - [`fdlimit`]: the open-file limit raised at start, and a spare descriptor that lets a
//!   server refuse a client instead of leaving it hanging when it has none left;
//! - [`hexdump`]: the `--hexdump` view of the bytes on the wire;
//! - [`net`]: the timeout test, the EINTR retry, the largest UDP datagram, a TCP connect
//!   that may bind first;
//! - [`log`]: a server's per-event lines, which never panic, never block the server, and
//!   show at most a bounded part of what a peer sent;
//! - [`chunklog`]: an echo server's line per read, within a log budget per client;
//! - [`pace`]: sending a file to a client that must read at a minimum rate (file-download
//!   and http-server);
//! - [`report`]: the ready line, and errors printed as `error:` with a `hint:`;
//! - [`root`]: the root jail, regular files beneath one directory and nothing else
//!   (file-download and http-server);
//! - [`size`]: byte sizes as people read and type them, and a transfer's progress bar;
//! - [`slots`]: a bound on how many clients a server serves at once, and who makes room when
//!   every place is taken;
//! - [`session`]: how a TCP client's session ended, told the same way by every echo server;
//! - [`datagram`]: receiving a datagram with its real length and its destination;
//! - [`limit`]: how often a UDP program answers each peer (one token bucket per address),
//!   and how much of a chat's screen each address may take.

pub mod addr;
pub mod chunklog;
pub mod connlog;
pub mod console;
pub mod datagram;
pub mod echo;
pub mod fdlimit;
pub mod hexdump;
pub mod limit;
pub mod log;
pub mod net;
pub mod pace;
pub mod report;
pub mod root;
pub mod session;
pub mod size;
pub mod slots;
pub mod text;

pub use addr::{BindArgs, ClientBindArgs, HostPort};
pub use echo::{ECHO_PORT, EchoArgs};
pub use hexdump::Hexdump;
pub use report::{
    CannotBind, CannotConnect, Hint, HintExt, Proto, announce_bound, announce_listening, log_error,
    run,
};
pub use root::Root;
pub use slots::{Evicted, Full, Slot, Slots};
pub use text::Encoding;

use std::time::Duration;

/// Parses `--timeout SECS`: a positive number of seconds, fractions allowed (`0.5`).
pub fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("{s} s: a timeout is more than 0 and at most a day"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_positive_and_finite() {
        assert_eq!(seconds("2"), Ok(Duration::from_secs(2)));
        assert_eq!(seconds("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "NaN", "inf", "1e9", "two", ""] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
