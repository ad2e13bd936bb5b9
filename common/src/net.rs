//! Small facts about sockets that every lesson needs the same way: is this error a timeout,
//! retry a call that a signal interrupted, the largest UDP datagram, a TCP connect that may
//! first bind a chosen local address, and tcp-server's listening socket for the servers after
//! it.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};

use crate::report::{CannotBind, CannotConnect, Proto, announce_bound};

// ANCHOR: max_datagram
/// The most bytes one UDP datagram carries over IPv4: 65,535 for the IP packet, less
/// 20 for the IP header and 8 for the UDP header.
pub const MAX_DATAGRAM: usize = 65_507;
// ANCHOR_END: max_datagram

/// The hint after a send that failed because the datagram was longer than [`MAX_DATAGRAM`].
pub const DATAGRAM_TOO_BIG_HINT: &str = "a UDP datagram carries at most 65507 bytes over IPv4; \
     send less at a time, or use TCP for a stream of any length";

/// Whether `err` is what a receive or a send with a timeout (`SO_RCVTIMEO`, `SO_SNDTIMEO`)
/// returns when the time is up: Unix says `WouldBlock` (EAGAIN), Windows `TimedOut`.
pub fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

// ANCHOR: retry
/// Runs a blocking call again for as long as a signal interrupts it (EINTR).
///
/// After Ctrl-Z and `fg` (SIGSTOP, SIGCONT), Linux ends a `recv` or `read` that waits with a
/// timeout (`SO_RCVTIMEO`) with EINTR even when the program has no signal handler (signal(7),
/// "Interruption of system calls ... by a stop signal"). Nothing went wrong: call it again.
/// (A call with a timeout then waits its whole timeout again.)
pub fn retry<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
// ANCHOR_END: retry

// ANCHOR: connect
/// Connects to `addr` within `timeout`: the three-way handshake, SYN, SYN-ACK, ACK.
///
/// Without `local`, `connect()` gives this end the address of the route to the server and an
/// ephemeral port. With it: `socket()`, `bind()` to that address (announced with the ready
/// line `bound to ADDR (tcp)`), then `connect()`.
pub fn connect(
    addr: SocketAddr,
    local: Option<SocketAddr>,
    timeout: Duration,
) -> anyhow::Result<TcpStream> {
    let Some(me) = local else {
        return TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| CannotConnect::new(addr));
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket
        .bind(&me.into())
        .with_context(|| CannotBind::new(me, Proto::Tcp))?;
    if let Some(bound) = socket.local_addr()?.as_socket() {
        announce_bound(bound, Proto::Tcp);
    }
    socket
        .connect_timeout(&addr.into(), timeout)
        .with_context(|| CannotConnect::new(addr))?;
    Ok(TcpStream::from(socket))
}
// ANCHOR_END: connect

/// The listening socket of tcp-server's `listen`, for the servers after it (tcp-poll,
/// http-server): `socket()`, `SO_REUSEADDR`, `SO_SNDBUF` and `SO_RCVBUF` to `buffers` if
/// given (accepted sockets inherit them), `bind()`, `listen(backlog)`. The tcp-server chapter
/// reads each call.
pub fn listen(local: SocketAddr, backlog: i32, buffers: Option<usize>) -> anyhow::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(local),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if let Some(size) = buffers {
        socket.set_send_buffer_size(size)?;
        socket.set_recv_buffer_size(size)?;
    }
    socket
        .bind(&local.into())
        .with_context(|| CannotBind::new(local, Proto::Tcp))?;
    socket
        .listen(backlog)
        .with_context(|| format!("cannot listen on {local}"))?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn timeouts_are_told_apart_from_other_errors() {
        assert!(is_timeout(&io::Error::from(ErrorKind::WouldBlock)));
        assert!(is_timeout(&io::Error::from(ErrorKind::TimedOut)));
        assert!(!is_timeout(&io::Error::from(ErrorKind::Interrupted)));
        assert!(!is_timeout(&io::Error::from(ErrorKind::ConnectionRefused)));
    }

    #[test]
    fn retry_calls_again_after_eintr_only() {
        let mut calls = 0;
        let got = retry(|| {
            calls += 1;
            if calls < 3 {
                Err(io::Error::from(ErrorKind::Interrupted))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(got.ok(), Some(3));
        let mut calls = 0;
        let got: io::Result<()> = retry(|| {
            calls += 1;
            Err(io::Error::from(ErrorKind::WouldBlock))
        });
        assert_eq!(got.map_err(|e| e.kind()), Err(ErrorKind::WouldBlock));
        assert_eq!(calls, 1);
    }

    #[test]
    fn the_hint_names_the_limit() {
        assert!(DATAGRAM_TOO_BIG_HINT.contains(&MAX_DATAGRAM.to_string()));
    }

    #[test]
    fn connects_with_and_without_a_local_address() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let server = listener.local_addr()?;
        let plain = connect(server, None, Duration::from_secs(5))?;
        assert_eq!(plain.peer_addr()?, server);
        let local: SocketAddr = "127.0.0.1:0".parse()?;
        let bound = connect(server, Some(local), Duration::from_secs(5))?;
        assert_eq!(bound.local_addr()?.ip(), local.ip());
        Ok(())
    }

    #[test]
    fn a_refused_connect_names_the_address() -> anyhow::Result<()> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        // The listener is gone: nothing listens there now.
        let err = connect(addr, None, Duration::from_secs(5)).err();
        let err = err.map(|e| e.downcast_ref::<CannotConnect>().map(|c| c.addr));
        assert_eq!(err, Some(Some(addr)));
        Ok(())
    }
}
