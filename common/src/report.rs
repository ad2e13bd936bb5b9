//! What a lesson prints about itself: the ready line and its errors.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use crate::addr::ResolveError;
use crate::text::Unencodable;

/// The transport named in the ready line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        })
    }
}

/// Prints the ready line, `listening on 127.0.0.1:8080 (udp)`, and flushes it.
///
/// It is the first line on stdout of every lesson that binds. With `--port 0` it is the only
/// way to learn the port, and tests and `cargo xtask` wait for it instead of sleeping.
pub fn announce_listening(addr: SocketAddr, proto: Proto) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "listening on {addr} ({proto})");
    let _ = out.flush();
}

/// Runs a lesson's body and turns its result into the exit status: 0 on success, 1 on
/// failure, after printing `error: <what failed>: <why>` and, where a common mistake
/// explains it, a `hint:` line. (clap exits with 2 on bad usage before the body runs.)
pub fn run(body: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", describe(&err));
            ExitCode::FAILURE
        }
    }
}

/// Prints, on stderr, a failure that the lesson survives and goes on after:
/// `error: <what>: <why>` and a hint where one applies.
pub fn log_error(what: impl fmt::Display, err: impl Into<anyhow::Error>) {
    let err = err.into().context(what.to_string());
    eprintln!("{}", describe(&err));
}

/// The `error:` line of `err`, followed by a `hint:` line when one applies.
pub fn describe(err: &anyhow::Error) -> String {
    let mut text = format!("error: {err:#}");
    if let Some(hint) = err.chain().find_map(hint_for) {
        text.push_str("\nhint: ");
        text.push_str(hint);
    }
    text
}

/// The hint for one error in a chain, if a common mistake explains it.
pub fn hint_for(err: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    if let Some(io) = err.downcast_ref::<io::Error>() {
        return io_hint(io);
    }
    if err.is::<ResolveError>() {
        return Some(
            "check the spelling: a name must be known to DNS or /etc/hosts \
             (an IP address such as 127.0.0.1 needs no lookup)",
        );
    }
    if err.is::<Unencodable>() {
        return Some("choose an encoding that can write it: --encoding utf-8");
    }
    None
}

/// The hint for an operating-system error, if a common mistake explains it.
pub fn io_hint(err: &io::Error) -> Option<&'static str> {
    Some(match err.kind() {
        ErrorKind::AddrInUse => {
            "another program, or an earlier run, holds this port: pick another with --port, \
             or --port 0 to let the OS choose (a TCP port stays taken in TIME_WAIT for up to \
             a minute after its server stops)"
        }
        ErrorKind::ConnectionRefused => {
            "nothing listens there: is the server running, and on this address and port?"
        }
        ErrorKind::PermissionDenied => {
            "ports below 1024 are well-known ports, and binding one needs privileges: \
             use a port of 1024 or above, or --port 0"
        }
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            "no answer in time: is the address right, is the peer up, does a firewall drop packets?"
        }
        ErrorKind::AddrNotAvailable => {
            "that address is not one of this machine's: bind 127.0.0.1, 0.0.0.0, or an \
             address that `ip addr` lists"
        }
        ErrorKind::ConnectionReset => {
            "the peer reset the connection: it closed with data left unread, or it crashed"
        }
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            "no route to that address: check it, and that the network is up (`ip route`)"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn an_os_error_gets_its_context_and_a_hint() {
        let err = Err::<(), _>(io::Error::from(ErrorKind::AddrInUse))
            .context("cannot bind 127.0.0.1:8080")
            .unwrap_err();
        let text = describe(&err);
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("error: cannot bind 127.0.0.1:8080: ")
        );
        assert!(lines.next().unwrap().starts_with("hint: another program"));
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn every_named_mistake_has_a_hint() {
        for kind in [
            ErrorKind::AddrInUse,
            ErrorKind::ConnectionRefused,
            ErrorKind::PermissionDenied,
            ErrorKind::TimedOut,
            ErrorKind::AddrNotAvailable,
            ErrorKind::ConnectionReset,
        ] {
            assert!(io_hint(&io::Error::from(kind)).is_some(), "{kind:?}");
        }
        let resolve = "nope.invalid"
            .parse::<crate::HostPort>()
            .unwrap()
            .resolve(1)
            .unwrap_err();
        let err = anyhow::Error::new(resolve).context("cannot reach the server");
        assert!(describe(&err).contains("\nhint: check the spelling"));
    }

    #[test]
    fn other_errors_get_no_hint() {
        let err = anyhow::anyhow!("something else");
        assert_eq!(describe(&err), "error: something else");
    }
}
