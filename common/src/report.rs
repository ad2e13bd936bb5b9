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

/// Prints the ready line of a program that waits for peers, `listening on 127.0.0.1:8080 (udp)`,
/// and flushes it.
///
/// It is the first line on stdout of every server (and of the peers that receive from
/// anyone: udp-chat, feiq listen). With `--port 0` it is the only way to learn the port, and
/// tests and `cargo xtask` wait for it instead of sleeping.
pub fn announce_listening(addr: SocketAddr, proto: Proto) {
    ready_line(format_args!("listening on {addr} ({proto})"));
}

/// Prints the ready line of a client that bound a local address but waits for nobody,
/// `bound to 0.0.0.0:10086 (udp)`, and flushes it. Tests wait for it as for
/// [`announce_listening`]'s.
pub fn announce_bound(addr: SocketAddr, proto: Proto) {
    ready_line(format_args!("bound to {addr} ({proto})"));
}

fn ready_line(line: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The context of a failed `bind`: `cannot bind 127.0.0.1:8080 (tcp)`. Naming the transport
/// lets the hint mention TIME_WAIT only where it can be the cause.
#[derive(Debug, Clone, Copy)]
pub struct CannotBind {
    pub addr: SocketAddr,
    pub proto: Proto,
}

impl CannotBind {
    pub fn new(addr: SocketAddr, proto: Proto) -> CannotBind {
        CannotBind { addr, proto }
    }
}

impl fmt::Display for CannotBind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot bind {} ({})", self.addr, self.proto)
    }
}

/// The context of a failed TCP `connect`: `cannot connect to 127.0.0.1:10050`. A connect that
/// times out then gets a hint that names the server's accept queue, a cause that a UDP
/// timeout never has.
#[derive(Debug, Clone, Copy)]
pub struct CannotConnect {
    pub addr: SocketAddr,
}

impl CannotConnect {
    pub fn new(addr: SocketAddr) -> CannotConnect {
        CannotConnect { addr }
    }
}

impl fmt::Display for CannotConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}", self.addr)
    }
}

/// Parses the arguments of `A`, runs a lesson's body with them, and turns its result into the
/// exit status: 0 on success, 1 on failure, after printing `error: <what failed>: <why>` and,
/// where a common mistake explains it, a `hint:` line that names only flags this program has.
/// (clap exits with 2 on bad usage before the body runs.)
pub fn run<A: clap::Parser>(body: impl FnOnce(A) -> anyhow::Result<()>) -> ExitCode {
    quiet_on_closed_stdout();
    let cmd = A::command();
    let matches = cmd.clone().get_matches();
    let flags = Flags::of(&cmd, &matches);
    let args = match A::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(err) => err.exit(),
    };
    let result = body(args);
    // Lines still queued by `log` go out before the program does (a bounded wait: stdout
    // may be a pipe that nobody reads).
    crate::log::finish(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(io::stderr(), "{}", describe_for(&err, &flags));
            ExitCode::FAILURE
        }
    }
}

/// Ends the program quietly when its reader has gone: `udp-server | head -1`.
///
/// Rust ignores SIGPIPE, so a write to a closed pipe fails with EPIPE, and `println!` turns
/// that into a panic with a backtrace hint. A C program would simply have been killed by the
/// signal; this does the same without a signal (the exit status is 141, as the shell reports
/// a program killed by SIGPIPE), and leaves every other panic to the default hook.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Prints, on stderr, a failure that the lesson survives and goes on after:
/// `error: <what>: <why>` and a hint where one applies.
pub fn log_error(what: impl fmt::Display, err: impl Into<anyhow::Error>) {
    let err = err.into().context(what.to_string());
    let _ = writeln!(io::stderr(), "{}", describe(&err));
}

/// The long flags that the running program (or subcommand) accepts, so that a hint never
/// names one it does not have.
#[derive(Debug, Default, Clone)]
struct Flags(Vec<String>);

impl Flags {
    /// The flags of `cmd` and of the subcommands that `matches` says were used.
    fn of(cmd: &clap::Command, matches: &clap::ArgMatches) -> Flags {
        let mut flags = Vec::new();
        let (mut cmd, mut matches) = (cmd, matches);
        loop {
            flags.extend(
                cmd.get_arguments()
                    .filter_map(|a| a.get_long())
                    .map(String::from),
            );
            let Some((name, sub_matches)) = matches.subcommand() else {
                break;
            };
            let Some(sub) = cmd.find_subcommand(name) else {
                break;
            };
            (cmd, matches) = (sub, sub_matches);
        }
        Flags(flags)
    }

    /// Flags given by name, for tests.
    #[cfg(test)]
    fn named(names: &[&str]) -> Flags {
        Flags(names.iter().map(|n| n.to_string()).collect())
    }

    fn has(&self, long: &str) -> bool {
        self.0.iter().any(|f| f == long)
    }
}

/// The `error:` line of `err`, followed by a `hint:` line when one applies and names no flag.
pub fn describe(err: &anyhow::Error) -> String {
    describe_for(err, &Flags::default())
}

/// The `error:` line of `err`, followed by a `hint:` line that names only `flags`.
fn describe_for(err: &anyhow::Error, flags: &Flags) -> String {
    let mut text = format!("error: {err:#}");
    let hint = match err.chain().find_map(|e| e.downcast_ref::<io::Error>()) {
        Some(io) if io.kind() == ErrorKind::AddrInUse => {
            Some(addr_in_use_hint(flags, err.downcast_ref::<CannotBind>()))
        }
        Some(io) if is_timeout(io) && err.downcast_ref::<CannotConnect>().is_some() => {
            Some(CONNECT_TIMED_OUT.to_string())
        }
        _ => err.chain().find_map(hint_for).map(String::from),
    };
    if let Some(hint) = hint {
        text.push_str("\nhint: ");
        text.push_str(&hint);
    }
    text
}

/// A TCP connect with no answer: the SYN went unanswered.
const CONNECT_TIMED_OUT: &str = "no answer to the SYN in time: the host may be down, a firewall \
     may drop it, or the server's accept queue is full (it accepts too slowly for its listen \
     backlog, and the kernel drops new SYNs until it catches up)";

fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
}

/// "Address already in use", told in terms of what this program accepts.
fn addr_in_use_hint(flags: &Flags, bind: Option<&CannotBind>) -> String {
    let mut hint = String::from("another program, or an earlier run, holds this port");
    if flags.has("port") {
        hint.push_str(": pick another with --port, or --port 0 to let the OS choose");
    } else if flags.has("bind") {
        hint.push_str(": pick another with --bind HOST:PORT, or port 0 to let the OS choose");
    } else {
        hint.push_str(": stop it, or wait until it is gone");
    }
    if bind.is_some_and(|b| b.proto == Proto::Tcp) {
        hint.push_str(
            " (a TCP port can stay taken for up to a minute after its program stops, \
             while its connections are in TIME_WAIT)",
        );
    }
    hint
}

/// The hint for one error in a chain, if a common mistake explains it.
fn hint_for(err: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
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
        return Some("choose an encoding that can write it: --encoding utf-8 (or gb18030)");
    }
    None
}

/// The hint for an operating-system error, if a common mistake explains it. (Address in use
/// is told by [`describe_for`], which knows the program's flags.)
fn io_hint(err: &io::Error) -> Option<&'static str> {
    Some(match err.kind() {
        ErrorKind::ConnectionRefused => {
            "nothing listens there: is the server running, and on this address and port?"
        }
        ErrorKind::PermissionDenied => {
            "ports below 1024 are well-known ports, and binding one needs privileges \
             (unless net.ipv4.ip_unprivileged_port_start says otherwise): use a port of 1024 \
             or above, or --port 0"
        }
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            "no answer in time: is the address right, is the peer up, does a firewall drop packets?"
        }
        ErrorKind::AddrNotAvailable => {
            "that address is not one of this machine's: bind 127.0.0.1, 0.0.0.0, or an \
             address that `ip addr` lists"
        }
        ErrorKind::ConnectionReset => {
            "the peer reset the connection: it closed with data it had not read, it was \
             killed with data waiting, or it closed its listening socket while this connection \
             still waited in its accept queue"
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
        let text = describe_for(&err, &Flags::named(&["bind", "port"]));
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

    fn in_use(proto: Proto) -> anyhow::Error {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        Err::<(), _>(io::Error::from(ErrorKind::AddrInUse))
            .context(CannotBind::new(addr, proto))
            .unwrap_err()
    }

    #[test]
    fn the_address_in_use_hint_names_only_flags_the_program_has() {
        let with_port = describe_for(&in_use(Proto::Udp), &Flags::named(&["bind", "port"]));
        assert!(
            with_port.contains("pick another with --port, or --port 0"),
            "{with_port}"
        );
        let bind_only = describe_for(&in_use(Proto::Udp), &Flags::named(&["bind"]));
        assert!(bind_only.contains("--bind HOST:PORT"), "{bind_only}");
        assert!(!bind_only.contains("--port"), "{bind_only}");
        let neither = describe_for(&in_use(Proto::Udp), &Flags::default());
        assert!(!neither.contains("--"), "{neither}");
    }

    #[test]
    fn time_wait_is_mentioned_for_tcp_only() {
        let flags = Flags::named(&["port"]);
        assert!(describe_for(&in_use(Proto::Tcp), &flags).contains("TIME_WAIT"));
        assert!(!describe_for(&in_use(Proto::Udp), &flags).contains("TIME_WAIT"));
        assert!(
            describe_for(&in_use(Proto::Tcp), &flags)
                .starts_with("error: cannot bind 127.0.0.1:8080 (tcp): ")
        );
    }

    #[test]
    fn a_connect_timeout_names_the_accept_queue() {
        let addr: SocketAddr = "127.0.0.1:10050".parse().unwrap();
        let err = Err::<(), _>(io::Error::from(ErrorKind::TimedOut))
            .context(CannotConnect::new(addr))
            .unwrap_err();
        let text = describe(&err);
        assert!(text.starts_with("error: cannot connect to 127.0.0.1:10050: "));
        assert!(
            text.contains("\nhint: ") && text.contains("backlog"),
            "{text}"
        );
        let read = Err::<(), _>(io::Error::from(ErrorKind::TimedOut))
            .context("no answer")
            .unwrap_err();
        assert!(!describe(&read).contains("backlog"));
    }

    #[test]
    fn flags_come_from_the_subcommand_that_ran() {
        use clap::{Arg, Command};
        let cmd = Command::new("feiq")
            .arg(Arg::new("hexdump").long("hexdump").num_args(0))
            .subcommand(Command::new("send").arg(Arg::new("to").long("to")))
            .subcommand(Command::new("listen").arg(Arg::new("port").long("port")));
        let m = cmd.clone().get_matches_from(["feiq", "send", "--to", "x"]);
        let flags = Flags::of(&cmd, &m);
        assert!(flags.has("hexdump") && flags.has("to") && !flags.has("port"));
    }

    #[test]
    fn every_named_mistake_has_a_hint() {
        for kind in [
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
