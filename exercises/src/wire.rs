//! The checks' own ends of the wire: a UDP peer, a TCP client and a TCP listener, each on
//! loopback, each wait bounded, each failure a sentence about what did not arrive.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::thread;

use testkit::udp::Peer;

use crate::{Check, Failure, WAIT, shown};

/// The checks' UDP peer: testkit's, waiting as long as a check waits, and failing with what
/// the programs printed.
pub struct Udp {
    peer: Peer,
}

impl Udp {
    /// A peer on 127.0.0.1, on a port the OS chose.
    pub fn new(c: &Check) -> Result<Udp, Failure> {
        Udp::waiting_as_checks_do(c, Peer::new())
    }

    /// A peer on `ip` (a loopback address such as 127.0.0.2), on a port the OS chose: the
    /// udp-server guard keeps one bucket per address, so the check's peers can have buckets
    /// of their own.
    pub fn on(c: &Check, ip: &str) -> Result<Udp, Failure> {
        Udp::waiting_as_checks_do(c, Peer::on((ip, 0)))
    }

    fn waiting_as_checks_do(c: &Check, peer: Result<Peer, Failure>) -> Result<Udp, Failure> {
        let peer = peer.map_err(|f| c.fail(f.what()))?;
        peer.set_read_timeout(Some(WAIT))
            .map_err(|e| c.fail(format!("cannot set a read timeout: {e}")))?;
        Ok(Udp { peer })
    }

    pub fn addr(&self) -> SocketAddr {
        self.peer.addr()
    }

    pub fn send(&self, c: &Check, to: SocketAddr, data: &[u8]) -> Result<(), Failure> {
        self.peer.send(to, data).map_err(|f| c.fail(f.what()))
    }

    /// The next datagram, or a failure that says `what` never came.
    pub fn recv(&self, c: &Check, what: &str) -> Result<(Vec<u8>, SocketAddr), Failure> {
        self.peer.recv(what).map_err(|f| c.fail(f.what()))
    }

    /// Sends `data` to `to` and returns the answer, which must come from `to`.
    pub fn ask(&self, c: &Check, to: SocketAddr, data: &[u8]) -> Result<Vec<u8>, Failure> {
        self.peer.ask(to, data).map_err(|f| c.fail(f.what()))
    }

    /// A second handle on the same socket, for a thread that sends while the check waits.
    pub fn clone_socket(&self, c: &Check) -> Result<UdpSocket, Failure> {
        self.peer
            .try_clone()
            .map_err(|e| c.fail(format!("cannot clone a UDP socket: {e}")))
    }

    /// The datagrams already waiting, without waiting for more.
    pub fn waiting(&self) -> Vec<Vec<u8>> {
        self.peer.waiting()
    }

    /// How many datagrams arrive until none has for `quiet`.
    pub fn quiet_count(&self, quiet: std::time::Duration) -> usize {
        self.peer.quiet_count(quiet).unwrap_or(0)
    }
}

/// A TCP connection to a lesson, with bounded reads and a buffered reader.
pub struct Conn {
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn connect(c: &Check, to: SocketAddr) -> Result<Conn, Failure> {
        let stream = TcpStream::connect_timeout(&to, WAIT)
            .map_err(|e| c.fail(format!("cannot connect to {to}: {e}")))?;
        Conn::new(c, stream)
    }

    pub fn new(c: &Check, stream: TcpStream) -> Result<Conn, Failure> {
        stream
            .set_read_timeout(Some(WAIT))
            .and_then(|()| stream.set_write_timeout(Some(WAIT)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| c.fail(format!("cannot set up the connection: {e}")))?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    }

    /// Closes the connection with an RST (SO_LINGER 0), as a client that crashes or gives up.
    pub fn reset(self, c: &Check) -> Result<(), Failure> {
        socket2::SockRef::from(self.reader.get_ref())
            .set_linger(Some(std::time::Duration::ZERO))
            .map_err(|e| c.fail(format!("cannot set SO_LINGER: {e}")))
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.reader.get_ref().local_addr().ok()
    }

    pub fn write(&mut self, c: &Check, data: &[u8]) -> Result<(), Failure> {
        self.reader
            .get_mut()
            .write_all(data)
            .map_err(|e| c.fail(format!("cannot send {}: {e}", shown(data))))
    }

    /// Sends FIN: the lesson reads end of stream.
    pub fn finish(&mut self, c: &Check) -> Result<(), Failure> {
        self.reader
            .get_ref()
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| c.fail(format!("cannot shut down the sending side: {e}")))
    }

    /// The next line, without its newline; `what` names it when it does not come.
    pub fn line(&mut self, c: &Check, what: &str) -> Result<String, Failure> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(_) if line.ends_with(b"\n") => {
                line.pop();
                Ok(String::from_utf8_lossy(&line).into_owned())
            }
            Ok(0) => Err(c.fail(format!("expected {what}, but the connection was closed"))),
            Ok(_) => Err(c.fail(format!(
                "expected {what}, but the connection was closed after {} without a newline",
                shown(&line)
            ))),
            Err(e) => Err(c.fail(failed_read(what, &e, &line))),
        }
    }

    /// Exactly `len` bytes.
    pub fn bytes(&mut self, c: &Check, len: usize, what: &str) -> Result<Vec<u8>, Failure> {
        let mut buf = Vec::new();
        let read = (&mut self.reader).take(len as u64).read_to_end(&mut buf);
        match read {
            Ok(n) if n == len => Ok(buf),
            Ok(n) => Err(c.fail(format!(
                "expected {what} ({len} bytes), but the connection was closed after {n}: {}",
                shown(&buf)
            ))),
            Err(e) => Err(c.fail(failed_read(what, &e, &buf))),
        }
    }

    /// Whether the lesson closes the connection (FIN or RST) with nothing more to send.
    pub fn closed(&mut self, c: &Check, what: &str) -> Result<(), Failure> {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) if rest.is_empty() => Ok(()),
            Ok(_) => Err(c.fail(format!("expected {what}, but {} came first", shown(&rest)))),
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset) && rest.is_empty() => {
                Ok(())
            }
            Err(e) => Err(c.fail(failed_read(what, &e, &rest))),
        }
    }
}

fn failed_read(what: &str, e: &io::Error, so_far: &[u8]) -> String {
    let so_far = if so_far.is_empty() {
        String::new()
    } else {
        format!(" (after {})", shown(so_far))
    };
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        format!(
            "expected {what}, but nothing more came within {} s{so_far}",
            WAIT.as_secs()
        )
    } else {
        format!("expected {what}, but reading failed: {e}{so_far}")
    }
}

/// A TCP listener on 127.0.0.1 whose accept gives up after a while.
pub struct Listener {
    pub addr: SocketAddr,
    accepted: mpsc::Receiver<io::Result<TcpStream>>,
}

impl Listener {
    pub fn bind(c: &Check, addr: SocketAddr) -> Result<Listener, Failure> {
        let listener =
            TcpListener::bind(addr).map_err(|e| c.fail(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| c.fail(format!("cannot listen on {addr}: {e}")))?;
        let (tx, accepted) = mpsc::channel();
        // A thread accepts, so that the check can wait for a connection with a deadline.
        // It ends with the first failed send, once the check has dropped the receiver.
        thread::spawn(move || {
            for stream in listener.incoming() {
                if tx.send(stream).is_err() {
                    return;
                }
            }
        });
        Ok(Listener { addr, accepted })
    }

    pub fn accept(&self, c: &Check, what: &str) -> Result<Conn, Failure> {
        match self.accepted.recv_timeout(WAIT) {
            Ok(Ok(stream)) => Conn::new(c, stream),
            Ok(Err(e)) => Err(c.fail(format!("accept failed: {e}"))),
            Err(_) => Err(c.fail(format!(
                "expected {what}, but no connection came within {} s",
                WAIT.as_secs()
            ))),
        }
    }
}

impl Udp {
    /// A peer bound to `addr` exactly (a loopback address and a chosen port): a check can
    /// then put two peers on one port of two addresses.
    pub fn at(c: &Check, addr: SocketAddr) -> Result<Udp, Failure> {
        Udp::waiting_as_checks_do(c, Peer::on(addr))
    }
}
