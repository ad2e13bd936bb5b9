//! A TCP client for the tests of the echo servers (tcp-server, tcp-poll, tcp-async), which
//! speak one wire and so are tested the same way, and the client that holds a place of any
//! TCP server ([`holding`]).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

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
/// address, `peer` the client's), from `/proc/net/tcp` or `/proc/net/tcp6`: the `tx_queue`
/// column, what was written and not yet acknowledged by the client.
pub fn send_queue(local: SocketAddr, peer: SocketAddr) -> io::Result<u64> {
    let hex = |port: u16| format!(":{port:04X}");
    let (want_local, want_peer) = (hex(local.port()), hex(peer.port()));
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table)?;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, l, r, _, queues, ..] = fields[..] else {
                continue;
            };
            if l.ends_with(&want_local) && r.ends_with(&want_peer) {
                let tx = queues.split(':').next().unwrap_or("0");
                return u64::from_str_radix(tx, 16).map_err(io::Error::other);
            }
        }
    }
    Err(io::Error::other(format!(
        "no connection {local} -> {peer} in /proc/net/tcp"
    )))
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
