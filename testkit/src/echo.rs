//! A TCP client for the tests of the echo servers (tcp-server, tcp-poll, tcp-async), which
//! speak one wire and so are tested the same way, and the client that holds a place of any
//! TCP server ([`holding`]); and what the kernel lists of a connection ([`send_queue`],
//! [`wait_out_of_close_wait`]).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// A connection to `addr` whose reads give up after ten seconds, so a silent server fails
/// the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// A connection to `addr` from the loopback address `from` (127.0.0.2, 127.0.0.3, …: all of
/// 127.0.0.0/8 is this machine on Linux), as if from another machine of the LAN.
pub fn connect_from(from: [u8; 4], addr: SocketAddr) -> io::Result<TcpStream> {
    let local = SocketAddr::from((from, 0));
    let stream = common::net::connect(addr, Some(local), Duration::from_secs(10))
        .map_err(io::Error::other)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// A client from the loopback address `from` that sends `sent` and then reads nothing: it
/// holds one of a server's places (a request that never ends, an answer nobody reads).
/// With `recv_buffer`, its receive buffer is that small, set before the connect so that
/// the window it offers is small from the start.
pub fn holding(
    from: [u8; 4],
    addr: SocketAddr,
    recv_buffer: Option<usize>,
    sent: &[u8],
) -> io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect(&addr.into())?;
    let mut stream = TcpStream::from(socket);
    stream.write_all(sent)?;
    Ok(stream)
}

/// The bytes queued to send on the server's end of a connection (`local` is the server's
/// address, `peer` the client's): the `tx_queue` column, what was written and not yet
/// acknowledged by the client.
pub fn send_queue(local: SocketAddr, peer: SocketAddr) -> io::Result<u64> {
    let fields = proc_row(local, peer)?.ok_or_else(|| {
        io::Error::other(format!("no connection {local} -> {peer} in /proc/net/tcp"))
    })?;
    let tx = fields[4].split(':').next().unwrap_or("0");
    u64::from_str_radix(tx, 16).map_err(io::Error::other)
}

/// Waits, for at most 10 s, until the kernel no longer lists the connection `local -> peer`
/// in state CLOSE_WAIT (the peer's FIN taken, ours not yet sent): a reset from the peer
/// closes it, and a closed socket is not listed. Polls `/proc`; it never sleeps.
pub fn wait_out_of_close_wait(local: SocketAddr, peer: SocketAddr) -> io::Result<()> {
    const CLOSE_WAIT: &str = "08";
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_row(local, peer)?.is_some_and(|fields| fields[3] == CLOSE_WAIT) {
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{local} -> {peer} still in CLOSE_WAIT after 10 s"
            )));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// The fields of the connection `local -> peer` in `/proc/net/tcp` or `/proc/net/tcp6`
/// (at least five: `sl`, the two addresses, the state, the queues), if the kernel lists it.
fn proc_row(local: SocketAddr, peer: SocketAddr) -> io::Result<Option<Vec<String>>> {
    let hex = |port: u16| format!(":{port:04X}");
    let (want_local, want_peer) = (hex(local.port()), hex(peer.port()));
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table)?;
        for line in text.lines().skip(1) {
            let fields: Vec<String> = line.split_whitespace().map(String::from).collect();
            if fields.len() >= 5
                && fields[1].ends_with(&want_local)
                && fields[2].ends_with(&want_peer)
            {
                return Ok(Some(fields));
            }
        }
    }
    Ok(None)
}

/// Sends `data` in pieces of `piece` bytes, half-closes, and returns all that comes back.
/// A second thread reads meanwhile, so a large echo never waits for the writes to finish.
pub fn echo_in_pieces(addr: SocketAddr, data: &[u8], piece: usize) -> io::Result<Vec<u8>> {
    let mut stream = connect(addr)?;
    let mut reader = stream.try_clone()?;
    let collector = thread::spawn(move || {
        let mut back = Vec::new();
        reader.read_to_end(&mut back).map(|_| back)
    });
    for chunk in data.chunks(piece.max(1)) {
        stream.write_all(chunk)?;
    }
    stream.shutdown(Shutdown::Write)?;
    collector
        .join()
        .map_err(|_| io::Error::other("the reading thread panicked"))?
}
