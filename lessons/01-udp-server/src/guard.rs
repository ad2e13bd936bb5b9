//! Whom a UDP server may answer, and how often; the guard decides and says why.
//!
//! A UDP server answers the source address a datagram carries, and anyone who can send
//! packets can write any source address into them. Answering blindly lets a forged datagram
//! start a loop that never ends, or turn the server into a weapon:
//!
//! - a source that is the server itself: it answers itself, receives its answer, answers
//!   that, and so on for ever;
//! - a source that is another server which answers everything: an echo server like this one
//!   (on the same port on another machine, or on any port), or a well-known service such as
//!   echo (port 7), daytime (13), qotd (17), chargen (19) or time (37). The two answer each
//!   other for ever: the old "echo/chargen loop";
//! - a datagram sent to a broadcast or multicast address: every server of the network gets
//!   it, and all of them answer the one forged source at once (the "Fraggle" attack).
//!
//! Two rules stop it:
//!
//! - [`refusal`]: some datagrams are never answered. Those sent to many machines at once,
//!   those from a multicast or broadcast source (forged: an answer would go to many), those
//!   from port 0 (no program sends from it), from this server's own port (it is either
//!   this server or a server like it), and from the ports below 1024, where the services
//!   that answer whatever arrives live. (Some clients do send from low ports, such as NTP
//!   from 123 and DHCP from 68; they do not talk to an echo server.)
//! - every other peer gets a token bucket ([`common::limit`]): each answer takes a token;
//!   tokens come back at a steady rate, up to a small burst. A loop runs out within a
//!   fraction of a second, and the one datagram that is not answered ends it.

use std::net::SocketAddr;
use std::time::Instant;

use common::datagram::{self, Datagram};
use common::limit::{Limit, Limiter};
use common::text;

/// How many answers a peer may get at once, after a quiet moment.
pub const BURST: u32 = 50;

/// How many answers a peer may get per second, for as long as it likes.
pub const PER_SECOND: u32 = 25;

/// How many peers the guard keeps track of. A forged flood can name a new source address
/// in every datagram, so the table of buckets must not grow without bound.
const MAX_PEERS: usize = 10_000;

/// Why a datagram must never be answered by a server bound to `local`, if it must not.
pub fn refusal(got: &Datagram, local: SocketAddr) -> Option<&'static str> {
    let peer = got.from;
    if let Some(many) = got.sent_to_many() {
        Some(match many {
            "multicast" => {
                "it was sent to a multicast address: every server of the group got it, and all would answer"
            }
            _ => {
                "it was sent to a broadcast address: every server of the network got it, and all would answer"
            }
        })
    } else if let Some(why) = datagram::forged_source(peer) {
        Some(why)
    } else if peer.port() == 0 {
        Some("port 0 is no program's address, so the source is forged")
    } else if peer == local || peer.port() == local.port() {
        Some(
            "it comes from this server's own port: answering could start a loop \
             between this server and itself, or a server like it",
        )
    } else if peer.port() < 1024 {
        Some(
            "it comes from a well-known port (below 1024), where services such as echo (7) \
             and chargen (19) answer everything: answering could start a loop",
        )
    } else {
        None
    }
}

/// The guard of a server bound to `local`: the rules, and the buckets of its peers.
pub struct Guard {
    local: SocketAddr,
    limiter: Limiter,
}

impl Guard {
    pub fn new(local: SocketAddr) -> Guard {
        Guard {
            local,
            limiter: Limiter::new(BURST, PER_SECOND, MAX_PEERS),
        }
    }

    /// Whether to answer this datagram, which arrived at `now`. Says why not, once per
    /// spell of a limited peer rather than once per datagram, and only if `say` (the
    /// datagram's line was printed: see `log_share` in main.rs).
    pub fn admit(&mut self, got: &Datagram, now: Instant, say: bool) -> bool {
        let peer = got.from;
        if let Some(why) = refusal(got, self.local) {
            if say {
                common::outln!("not answering {peer}: {why}");
            }
            return false;
        }
        let limit = self.limiter.take(peer.ip(), now);
        if !say {
            return limit.allows();
        }
        match limit {
            Limit::Yes => {}
            Limit::Again(unanswered) => common::outln!(
                "answering {} again ({} went unanswered while it was limited)",
                peer.ip(),
                text::count(unanswered, "datagram", "datagrams")
            ),
            Limit::Limited { first: true } => common::outln!(
                "limiting {}: more than {BURST} answers at once or {PER_SECOND} a second; \
                 its datagrams go unanswered until it slows down",
                peer.ip(),
            ),
            Limit::Limited { first: false } => {}
            Limit::TooManyPeers => {
                common::outln!("not answering {peer}: too many peers at once to keep track of");
            }
        }
        limit.allows()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use common::datagram::Destination;

    fn from(source: &str) -> Datagram {
        Datagram {
            from: source.parse().unwrap(),
            len: 1,
            copied: 1,
            to: None,
        }
    }

    #[test]
    fn refuses_sources_that_could_start_a_loop() {
        let local = "127.0.0.1:8080".parse().unwrap();
        for source in [
            "127.0.0.1:8080", // itself
            "10.0.0.7:8080",  // a server like it, on another machine
            "127.0.0.1:0",
            "127.0.0.1:7",  // echo
            "127.0.0.1:13", // daytime
            "127.0.0.1:17", // qotd
            "127.0.0.1:19", // chargen
            "127.0.0.1:37", // time
            "[::1]:53",     // DNS
            "127.0.0.1:1023",
            "239.1.2.3:40000", // a multicast source: forged, the answer would go to a group
        ] {
            assert!(refusal(&from(source), local).is_some(), "{source}");
        }
        for source in ["127.0.0.1:1024", "127.0.0.1:10086", "[::1]:45000"] {
            assert_eq!(refusal(&from(source), local), None, "{source}");
        }
    }

    #[test]
    fn refuses_what_was_sent_to_many() {
        let local = "0.0.0.0:8080".parse().unwrap();
        let mut got = from("10.1.2.3:40000");
        got.to = Some(Destination {
            addr: [10, 1, 2, 255].into(),
            local: Some([10, 1, 2, 1].into()),
        });
        assert!(refusal(&got, local).unwrap().contains("broadcast"));
        got.to = Some(Destination {
            addr: [10, 1, 2, 1].into(),
            local: Some([10, 1, 2, 1].into()),
        });
        assert_eq!(refusal(&got, local), None);
    }

    #[test]
    fn a_loop_is_answered_a_burst_then_not() {
        let mut guard = Guard::new("127.0.0.1:8080".parse().unwrap());
        let now = Instant::now();
        let peer = from("127.0.0.1:40000");
        let answered = (0..200).filter(|_| guard.admit(&peer, now, true)).count();
        assert_eq!(answered, BURST as usize);
    }
}
