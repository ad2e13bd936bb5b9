//! The tests' UDP peer: a socket on loopback whose every wait is bounded, and whose every
//! failure is a [`Failure`] that says what did not arrive, instead of a hang or a bare panic.
//! It dereferences to its `UdpSocket` for what a test does by hand (`connect`, a raw
//! `send_to`).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::ops::Deref;
use std::time::Duration;

use crate::Failure;

/// How long a peer waits for a datagram before it says that none came.
pub const WAIT: Duration = Duration::from_secs(10);

/// The largest datagram a peer receives whole (more than UDP carries over IPv4 or IPv6).
const BUF: usize = 70_000;

/// A UDP socket on a loopback address, on a port the OS chose.
pub struct Peer {
    socket: UdpSocket,
}

impl Peer {
    /// A peer on 127.0.0.1.
    pub fn new() -> Result<Peer, Failure> {
        Peer::on("127.0.0.1:0")
    }

    /// A peer on `addr`: `"[::1]:0"`, or `("127.0.0.2", 0)` for an address of its own (the
    /// servers keep one rate limit per address).
    ///
    /// On an address of its own, a port the OS chose may be the one a server of the test uses
    /// on 127.0.0.1: the OS hands out ports per address. udp-server does not answer a
    /// datagram from its own port (a loop, for all it knows), so one test peer in about
    /// 28,000 got no answer: about one run in 28 of a test with 1,000 peers, one in three of
    /// udp-server-2's check with 10,000. The port is therefore one that is free on the
    /// loopback address of its family when the peer is made (the tests start their servers
    /// first). It is not held there: a test with 300 peers would need 600 descriptors.
    pub fn on(addr: impl ToSocketAddrs + fmt::Debug) -> Result<Peer, Failure> {
        let fail =
            |e: io::Error| Failure::new(format!("cannot open a UDP socket on {addr:?}: {e}"));
        let wanted = addr
            .to_socket_addrs()
            .map_err(fail)?
            .next()
            .ok_or_else(|| fail(io::Error::other("it names no address")))?;
        let socket = if wanted.port() != 0 || wanted.ip() == home(wanted.ip()) {
            UdpSocket::bind(wanted)
        } else {
            socket_on(wanted.ip())
        }
        .map_err(fail)?;
        socket.set_read_timeout(Some(WAIT)).map_err(fail)?;
        Ok(Peer { socket })
    }

    /// Where the peer is bound.
    pub fn addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn send(&self, to: SocketAddr, data: &[u8]) -> Result<(), Failure> {
        self.socket
            .send_to(data, to)
            .map(drop)
            .map_err(|e| Failure::new(format!("cannot send {} to {to}: {e}", shown(data))))
    }

    /// The next datagram and its sender, or a failure that says `what` never came.
    pub fn recv(&self, what: &str) -> Result<(Vec<u8>, SocketAddr), Failure> {
        let mut buf = vec![0u8; BUF];
        // A signal may cut the wait short (EINTR, as after SIGSTOP and SIGCONT): wait again.
        let got = loop {
            match self.socket.recv_from(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                got => break got,
            }
        };
        match got {
            Ok((len, from)) => {
                buf.truncate(len);
                Ok((buf, from))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(Failure::new(format!(
                    "expected {what}, but nothing came within {} s",
                    self.wait().as_secs_f64()
                )))
            }
            Err(e) => Err(Failure::new(format!(
                "expected {what}, but receiving failed: {e}"
            ))),
        }
    }

    /// Sends `data` to `to` and returns the answer, which must come from `to`.
    pub fn ask(&self, to: SocketAddr, data: &[u8]) -> Result<Vec<u8>, Failure> {
        self.send(to, data)?;
        let what = format!("an answer to {}", shown(data));
        let (answer, from) = self.recv(&what)?;
        if from != to {
            return Err(Failure::new(format!(
                "expected {what} from {to}, but it came from {from}"
            )));
        }
        Ok(answer)
    }

    /// [`Peer::ask`] again every 200 ms until an answer comes, for at most `within`: for a
    /// server whose receive buffer a flood may have filled, where the kernel drops what does
    /// not fit.
    pub fn ask_until_answered(
        &self,
        to: SocketAddr,
        data: &[u8],
        within: Duration,
    ) -> Result<Vec<u8>, Failure> {
        let started = std::time::Instant::now();
        loop {
            match self.with_wait(Duration::from_millis(200), |_| self.ask(to, data))? {
                Ok(answer) => return Ok(answer),
                Err(failure) if started.elapsed() >= within => return Err(failure),
                Err(_) => {}
            }
        }
    }

    /// How many datagrams arrive until none has for `quiet`.
    pub fn quiet_count(&self, quiet: Duration) -> Result<usize, Failure> {
        self.with_wait(quiet, |socket| {
            let mut buf = vec![0u8; BUF];
            let mut n = 0;
            // `retry`: a signal (SIGCHLD from a child of another test, with assert_cmd's
            // handler) cuts a wait with a timeout short; it is not the quiet that ends the count.
            while common::net::retry(|| socket.recv(&mut buf)).is_ok() {
                n += 1;
            }
            n
        })
    }

    /// The datagrams already waiting, without waiting for more.
    pub fn waiting(&self) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        if self.socket.set_nonblocking(true).is_err() {
            return all;
        }
        let mut buf = vec![0u8; BUF];
        while let Ok(len) = self.socket.recv(&mut buf) {
            all.push(buf[..len].to_vec());
        }
        let _ = self.socket.set_nonblocking(false);
        all
    }

    fn wait(&self) -> Duration {
        self.socket.read_timeout().ok().flatten().unwrap_or(WAIT)
    }

    /// Runs `f` with the read timeout set to `wait`, then puts the one before back.
    fn with_wait<T>(&self, wait: Duration, f: impl FnOnce(&UdpSocket) -> T) -> Result<T, Failure> {
        let before = self.wait();
        let set = |d| {
            self.socket
                .set_read_timeout(Some(d))
                .map_err(|e| Failure::new(format!("cannot set a read timeout: {e}")))
        };
        set(wait)?;
        let out = f(&self.socket);
        set(before)?;
        Ok(out)
    }
}

/// A UDP socket on `ip`, on a port that is free on the loopback address of its family now
/// (see [`Peer::on`]), so never the port of a server there.
pub fn socket_on(ip: IpAddr) -> io::Result<UdpSocket> {
    let mut last = None;
    for _ in 0..100 {
        let free = UdpSocket::bind((home(ip), 0))?.local_addr()?.port();
        match UdpSocket::bind((ip, free)) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no port free on both addresses")))
}

/// The loopback address of `ip`'s family.
fn home(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

impl Deref for Peer {
    type Target = UdpSocket;

    fn deref(&self) -> &UdpSocket {
        &self.socket
    }
}

/// Bytes as a failure message shows them: text in quotes, or, when they are not UTF-8, the
/// first 32 bytes in hex too.
pub fn shown(bytes: &[u8]) -> String {
    // A long message is named by its start: a failure stays a sentence, not a page.
    if bytes.len() > 64 {
        let head = shown(&bytes[..48]);
        return format!("{} bytes starting {head}", bytes.len());
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => {
            let hex: Vec<String> = bytes.iter().take(32).map(|b| format!("{b:02x}")).collect();
            let more = if bytes.len() > 32 { " ..." } else { "" };
            format!(
                "{:?} (not UTF-8; the bytes: {}{more})",
                String::from_utf8_lossy(bytes),
                hex.join(" ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Instant;

    /// assert_cmd's timeouts put a SIGCHLD handler (SA_RESTART) in the test process. A child
    /// of this thread that ends while the peer waits interrupts the wait, a socket call with a
    /// timeout, which is not restarted (EINTR): that is not the quiet the count waits for.
    #[test]
    fn a_child_that_ends_does_not_end_the_quiet() {
        assert_cmd::Command::new("true")
            .timeout(Duration::from_secs(10))
            .assert()
            .success();
        let peer = Peer::new().unwrap();
        let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
        let started = Instant::now();
        assert_eq!(peer.quiet_count(Duration::from_secs(2)).ok(), Some(0));
        let waited = started.elapsed();
        let _ = child.wait();
        assert!(
            waited >= Duration::from_secs(2),
            "the count ended after {waited:?}"
        );
    }
}
