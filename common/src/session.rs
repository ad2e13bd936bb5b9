//! How a TCP client's session with an echo server ended, told the same way by tcp-server,
//! tcp-poll and tcp-async.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::text;

/// How a client's session ended.
#[derive(Debug)]
pub enum End {
    /// The client sent FIN: an orderly end.
    Fin,
    /// The client sent nothing for this long (`--idle-timeout`).
    Silent(Duration),
    /// The client read none of its echo for this long (`--idle-timeout`).
    NotReading(Duration),
    /// Every place was taken and this client, idle this long, made room for a new one
    /// (`--max-clients`): the client idle longest of the address holding the most places
    /// (`crate::slots`), not always the client idle longest of all.
    Evicted(Duration),
    /// A read or write failed: a reset, or another error.
    Failed(io::Error),
}

/// Prints the line that ends a client's session: `127.0.0.1:50002 closed the connection (FIN)
/// after 13 bytes; closing ours`, and the like. `received` is what the client sent in all.
pub fn log_end(peer: SocketAddr, end: End, received: u64) {
    match end_line(peer, end, received) {
        Ok(line) => println!("{line}"),
        Err((what, e)) => crate::log_error(what, e),
    }
}

/// [`log_end`] through [`crate::log`]: queued, never blocking or panicking. `note` goes at
/// the end of the line: [`ChunkLog::not_shown`](crate::chunklog::ChunkLog::not_shown), the
/// reads the log left out since its last line, or nothing.
pub fn queue_end(peer: SocketAddr, end: End, received: u64, note: &str) {
    match end_line(peer, end, received) {
        // Not told if its start was not (a peer's share of lines about connections).
        Ok(line) => crate::connlog::ended(peer, format_args!("{line}{note}")),
        Err((what, e)) => crate::log::error(what, e),
    }
}

/// The line of [`log_end`], or what failed and why for an error line.
fn end_line(peer: SocketAddr, end: End, received: u64) -> Result<String, (String, io::Error)> {
    let total = text::count(received, "byte", "bytes");
    let idle = |limit: Duration| format!("{} s (--idle-timeout)", limit.as_secs_f64());
    Ok(match end {
        End::Fin => format!("{peer} closed the connection (FIN) after {total}; closing ours"),
        End::Silent(limit) => format!(
            "{peer} sent nothing for {}: closed after {total}",
            idle(limit)
        ),
        End::NotReading(limit) => format!(
            "{peer} read none of its echo for {}: closed after {total}",
            idle(limit)
        ),
        End::Evicted(idle) => format!(
            "{peer} made room for a new client, all places being taken (idle {:.1} s): closed \
             after {total} (--max-clients)",
            idle.as_secs_f64()
        ),
        End::Failed(e) if is_reset(&e) => {
            format!("{peer} reset the connection (RST) after {total}")
        }
        End::Failed(e) => return Err((format!("connection with {peer} failed"), e)),
    })
}

/// After an RST, the first read or write fails with ECONNRESET, and the writes after that with
/// EPIPE (also when the client's FIN came before its RST).
pub fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_is_econnreset_then_epipe() {
        assert!(is_reset(&io::Error::from(io::ErrorKind::ConnectionReset)));
        assert!(is_reset(&io::Error::from(io::ErrorKind::BrokenPipe)));
        assert!(!is_reset(&io::Error::from(io::ErrorKind::TimedOut)));
    }
}
