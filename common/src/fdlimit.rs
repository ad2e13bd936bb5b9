//! File descriptors: every connection a server holds is one, and a process may have only
//! `ulimit -n` of them (RLIMIT_NOFILE; 1,024 by default on most Linux systems).
//!
//! Two things a server does about it, the way Go's runtime and libuv do:
//!
//! - [`raise_limit`] at start: the soft limit up to the hard one (often 524,288 or more).
//!   The soft limit of 1,024 is there for old programs that use `select(2)`, which cannot see
//!   a descriptor above 1,023; a server that uses threads, `poll` or `epoll` does not care.
//! - [`Spare`]: a descriptor held in reserve for the moment `accept` fails with EMFILE. The
//!   connection that caused it is still in the accept queue, and the listening socket stays
//!   readable: an event loop wakes at once and fails again (a busy loop), a blocking server
//!   either spins or sleeps while the client hangs. With the spare closed there is room to
//!   `accept` that connection, close it at once (the client sees its connection end instead
//!   of hanging), log it, and take the spare again.
//!
//! ```no_run
//! # use common::fdlimit::Accepted;
//! # fn f(listener: std::net::TcpListener) {
//! let mut spare = common::fdlimit::Spare::new();
//! match listener.accept() {
//!     Ok((stream, peer)) => { /* serve */ }
//!     Err(e) if common::fdlimit::is_out_of_descriptors(&e) => {
//!         match spare.accept_or_refuse(|| listener.accept()) {
//!             Ok(Accepted::Room(stream, peer)) => { /* serve */ }
//!             Ok(Accepted::Refused(peer)) => common::logln!("refused {peer}: {e}"),
//!             Err(e) => common::log::error("accept failed", e),
//!         }
//!     }
//!     Err(e) => common::log::error("accept failed", e),
//! }
//! # }
//! ```

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors a server keeps for itself beside its clients': standard input, output and
/// error, the listener, the spare, the log's, epoll's and the runtime's (about ten), with
/// room to spare.
pub const OWN_DESCRIPTORS: u64 = 32;

/// What [`raise_limit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raised {
    /// The soft limit was raised from the first number to the second.
    From(u64, u64),
    /// The soft limit already was the hard limit (or the hard limit is unlimited, which Linux
    /// does not let the soft limit become): nothing changed.
    Already(u64),
}

/// Raises the soft RLIMIT_NOFILE to the hard limit, as Go does at start.
pub fn raise_limit() -> io::Result<Raised> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let (Some(soft), Some(hard)) = (current, maximum) else {
        return Ok(Raised::Already(current.unwrap_or(u64::MAX)));
    };
    if soft >= hard {
        return Ok(Raised::Already(soft));
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        },
    )?;
    Ok(Raised::From(soft, hard))
}

/// [`raise_limit`], told in the server's log: `open-file limit raised from 1024 to 524288`,
/// or why it could not be raised. Nothing when the limit was already the hard one.
pub fn raise_and_log() {
    match raise_limit() {
        Ok(Raised::From(old, new)) => crate::logln!("open-file limit raised from {old} to {new}"),
        Ok(Raised::Already(_)) => {}
        Err(e) => crate::log::error("cannot raise the open-file limit", e),
    }
}

/// Raises the open-file limit ([`raise_and_log`]) and returns how many clients a server can
/// hold at once: `wanted` (the value of the flag `flag`), or fewer if the limit leaves room
/// for fewer, each client taking `per_client` descriptors, said in the log. Past that many,
/// the server makes room or refuses by its own rules; were the descriptors to run out
/// first, `accept` would fail (EMFILE) and the newcomer would hang in the accept queue.
///
/// A limit under twice [`OWN_DESCRIPTORS`] (a test's `ulimit -n 24`) is too small to
/// share out: the server serves until EMFILE, and refuses with its [`Spare`] descriptor.
pub fn fit_places(wanted: usize, per_client: u64, flag: &str) -> usize {
    raise_and_log();
    let limit = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if limit < 2 * OWN_DESCRIPTORS {
        return wanted;
    }
    let room = (limit - OWN_DESCRIPTORS) / per_client.max(1);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if room >= wanted {
        return wanted;
    }
    crate::logln!(
        "open-file limit {limit}: room for {room} clients at once, not {wanted} ({flag})"
    );
    room
}

/// Whether `accept` failed because the process (EMFILE) or the whole system (ENFILE) has no
/// file descriptor left.
pub fn is_out_of_descriptors(e: &io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(rustix::io::Errno::MFILE.raw_os_error())
        || code == Some(rustix::io::Errno::NFILE.raw_os_error())
}

/// One file descriptor kept in reserve (`/dev/null`, opened for reading).
#[derive(Debug)]
pub struct Spare(Option<File>);

impl Spare {
    /// Takes the spare descriptor.
    pub fn new() -> Spare {
        Spare(File::open("/dev/null").ok())
    }

    /// Whether the spare is held, after taking it back if it was lost. Another thread may
    /// open a file or a socket in the moment the spare is given up, and take the freed
    /// descriptor (the lowest free number); `accept` failed with EMFILE again, the spare could
    /// not be taken back, and without a second try every later newcomer waited in the queue
    /// (http-server's test
    /// `a_client_past_the_descriptor_limit_is_refused_at_once_not_left_hanging`, 3 runs in 50).
    pub fn is_ready(&mut self) -> bool {
        if self.0.is_none() {
            self.0 = File::open("/dev/null").ok();
        }
        self.0.is_some()
    }

    /// After an EMFILE: gives the spare descriptor up and accepts one connection with
    /// `accept`. If there is still no descriptor to spare after it, the connection is closed
    /// at once and `Refused` says whose it was; if descriptors were freed meanwhile (a
    /// blocking `accept` may wait long), the connection is handed back to be served. Either
    /// way the spare is taken again.
    ///
    /// Linux's `accept` fails with EMFILE before it looks at the queue, so EMFILE does not
    /// mean that a connection is waiting: a blocking `accept` here waits for the next one, a
    /// non-blocking one (an event loop's) fails with `WouldBlock`, which is returned.
    pub fn accept_or_refuse<S>(
        &mut self,
        accept: impl FnOnce() -> io::Result<(S, SocketAddr)>,
    ) -> io::Result<Accepted<S>> {
        self.0 = None;
        let accepted = accept();
        self.0 = File::open("/dev/null").ok();
        let (stream, peer) = accepted?;
        if self.0.is_some() {
            return Ok(Accepted::Room(stream, peer));
        }
        // Dropping the stream closes the connection, and gives its descriptor to the spare.
        drop(stream);
        self.0 = File::open("/dev/null").ok();
        Ok(Accepted::Refused(peer))
    }
}

impl Spare {
    /// After an `accept` that succeeded: the spare first. If it was lost (see
    /// [`Spare::is_ready`]) and no descriptor is free to take it back, `stream`, the
    /// connection just accepted, gives up its own: it is closed, and `None` says so. Without
    /// this, an accept loop took every freed descriptor for a newcomer, the spare never came
    /// back, and the next EMFILE left newcomers in the queue again (http-server, 2 runs of
    /// its attack script in 78).
    pub fn keep<S>(&mut self, stream: S) -> Option<S> {
        if self.is_ready() {
            return Some(stream);
        }
        drop(stream);
        self.0 = File::open("/dev/null").ok();
        None
    }
}

// ANCHOR: next_client
/// The next client off the accept queue of a server that blocks in `accept` (tcp-server,
/// file-download), or `None` after logging why there was none.
pub fn next_client(listener: &TcpListener, spare: &mut Spare) -> Option<(TcpStream, SocketAddr)> {
    // accept() takes the next connection off the queue: a new socket for this client, and
    // its address. The listening socket goes on listening.
    match listener.accept() {
        // The spare first: one lost to another thread is taken back now, with this
        // connection's descriptor if no other is free (`Spare::keep`).
        Ok((stream, peer)) => match spare.keep(stream) {
            Some(stream) => Some((stream, peer)),
            None => {
                let line = format_args!("refused {peer}: no descriptor to spare, closed at once");
                crate::connlog::refused(peer, line);
                None
            }
        },
        // EMFILE: no descriptor left for a new socket, and a client would wait in the queue
        // unserved. Give up the descriptor kept in reserve, accept, and close the connection
        // at once if there is still no room: the client is told, not left hanging.
        Err(e) if is_out_of_descriptors(&e) && spare.is_ready() => {
            match spare.accept_or_refuse(|| listener.accept()) {
                Ok(Accepted::Room(stream, peer)) => Some((stream, peer)),
                Ok(Accepted::Refused(peer)) => {
                    let line = format_args!("refused {peer}: {e}, closed at once (ulimit -n)");
                    crate::connlog::refused(peer, line);
                    None
                }
                Err(e) => {
                    crate::log::error("accept failed", e);
                    None
                }
            }
        }
        Err(e) => {
            crate::log::error("accept failed", e);
            // Out of descriptors with no spare left: wait for clients to leave.
            thread::sleep(Duration::from_millis(100));
            None
        }
    }
}
// ANCHOR_END: next_client

/// What [`Spare::accept_or_refuse`] did with the connection it accepted.
#[derive(Debug)]
pub enum Accepted<S> {
    /// Descriptors were freed meanwhile: serve it.
    Room(S, SocketAddr),
    /// Still none to spare: it was closed.
    Refused(SocketAddr),
}

impl Default for Spare {
    fn default() -> Spare {
        Spare::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn emfile_and_enfile_are_out_of_descriptors() {
        assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(
            rustix::io::Errno::MFILE.raw_os_error()
        )));
        assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(
            rustix::io::Errno::NFILE.raw_os_error()
        )));
        assert!(!is_out_of_descriptors(&io::Error::from(
            io::ErrorKind::WouldBlock
        )));
    }

    #[test]
    fn the_limit_is_raised_to_the_hard_one() {
        let raised = raise_limit().unwrap();
        let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
        match raised {
            Raised::From(old, new) => {
                assert!(old < new);
                assert_eq!((current, maximum), (Some(new), Some(new)));
            }
            Raised::Already(_) => assert!(maximum.is_none() || current == maximum),
        }
        // A second call changes nothing.
        assert!(matches!(raise_limit().unwrap(), Raised::Already(_)));
    }

    /// The refusal itself needs a process out of descriptors: tcp-server's test
    /// `out_of_descriptors_a_client_is_refused_not_left_hanging` runs one under `ulimit -n`.
    #[test]
    fn with_descriptors_to_spare_the_connection_is_handed_back() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut spare = Spare::new();
        assert!(spare.is_ready());
        let Ok(Accepted::Room(_, peer)) = spare.accept_or_refuse(|| listener.accept()) else {
            panic!("not handed back")
        };
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(spare.is_ready());
        // An event loop's listener with nothing queued: WouldBlock, and the spare is back.
        listener.set_nonblocking(true).unwrap();
        let err = spare.accept_or_refuse(|| listener.accept()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(spare.is_ready());
    }

    /// The spare lost and every descriptor in use: when one is freed (a client leaves), the
    /// next `accept` takes it, and `keep` gives it to the spare, closing that connection; the
    /// next EMFILE finds the spare again. Under a limit of its own, so in a child process.
    #[test]
    fn a_spare_lost_with_no_descriptor_free_is_taken_from_the_next_connection() {
        const NAME: &str = "fdlimit::tests::a_spare_lost_with_no_descriptor_free_is_taken_from_the_next_connection";
        if std::env::var_os("SPARE_CHILD").is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--test-threads", "1", "--nocapture"])
                .env("SPARE_CHILD", "1")
                .output()
                .unwrap();
            let printed = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{printed}");
            assert!(printed.contains("1 passed"), "{printed}");
            return;
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _first = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _second = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let maximum = getrlimit(Resource::Nofile).maximum;
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(64),
                maximum,
            },
        )
        .unwrap();
        let mut spare = Spare(None);
        let mut taken = Vec::new();
        while let Ok(file) = File::open("/dev/null") {
            taken.push(file);
        }
        let err = listener.accept().unwrap_err();
        assert!(is_out_of_descriptors(&err), "{err}");
        assert!(!spare.is_ready());
        // A client leaves: one descriptor is free, and the next connection takes it.
        taken.pop();
        let (stream, _) = listener.accept().unwrap();
        assert!(
            spare.keep(stream).is_none(),
            "no descriptor was free for the spare"
        );
        assert!(spare.0.is_some());
        // With one free, a connection is kept, and so is the spare.
        taken.pop();
        let (stream, _) = listener.accept().unwrap();
        assert!(spare.keep(stream).is_some());
        assert!(spare.0.is_some());
    }

    /// Another thread took the descriptor the spare gave up, `accept` failed with EMFILE
    /// again, and the spare could not be taken back (as `accept_or_refuse` leaves it then):
    /// it is taken back at the next EMFILE, not lost for good.
    #[test]
    fn a_spare_lost_to_another_thread_is_taken_back() {
        let mut spare = Spare(None);
        assert!(spare.is_ready());
        assert!(spare.0.is_some());
    }
}
