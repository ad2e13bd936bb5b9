//! What a lesson prints about itself: the ready line and its errors.

use std::borrow::Cow;
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

/// The ready line's address and transport, read back: what tests and `cargo xtask` wait for.
/// `None` for any other line.
pub fn parse_ready_line(line: &str) -> Option<(SocketAddr, Proto)> {
    let rest = ["listening on ", "bound to "]
        .iter()
        .find_map(|prefix| line.strip_prefix(prefix))?;
    let (addr, proto) = rest.split_once(' ')?;
    let proto = match proto {
        "(udp)" => Proto::Udp,
        "(tcp)" => Proto::Tcp,
        _ => return None,
    };
    Some((addr.parse().ok()?, proto))
}

/// The `error:` and `hint:` lines a program with the flags `flags` prints when it cannot bind
/// `addr` because another socket holds it: for the tests that check it (testkit's
/// `BusyPort`), so they do not restate the wording.
pub fn address_in_use_text(addr: SocketAddr, proto: Proto, flags: &[&str]) -> String {
    let err = anyhow::Error::new(io::Error::from_raw_os_error(
        rustix::io::Errno::ADDRINUSE.raw_os_error(),
    ))
    .context(CannotBind::new(addr, proto));
    describe_for(&err, &Flags(flags.iter().map(|f| f.to_string()).collect()))
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

/// A hint that the code which failed knows best: attached with [`HintExt::hint`], printed as
/// the `hint:` line instead of one guessed from the error's kind. It adds nothing to the
/// `error:` line.
#[derive(Debug, Clone)]
pub struct Hint(pub Cow<'static, str>);

impl fmt::Display for Hint {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// `.hint("…")` on a result, beside anyhow's `.context(…)`:
///
/// ```
/// use common::report::HintExt;
/// # fn f() -> anyhow::Result<()> {
/// std::fs::File::create("/proc/x.part")
///     .map(drop)
///     .hint("the download directory must be writable: choose another with --out")?;
/// # Ok(()) }
/// ```
///
/// [`run`] and [`log_error`] then print `error: <what failed>: <why>` and `hint: <the hint>`,
/// so no lesson builds those lines by hand. The innermost hint wins when there are several.
pub trait HintExt<T, E> {
    /// Attaches `hint` to the error, if any.
    fn hint(self, hint: impl Into<Cow<'static, str>>) -> anyhow::Result<T>;
    /// Attaches a hint made only when there is an error.
    fn with_hint<H: Into<Cow<'static, str>>>(self, hint: impl FnOnce() -> H) -> anyhow::Result<T>;
}

impl<T, E, R: anyhow::Context<T, E>> HintExt<T, E> for R {
    fn hint(self, hint: impl Into<Cow<'static, str>>) -> anyhow::Result<T> {
        self.context(Hint(hint.into()))
    }

    fn with_hint<H: Into<Cow<'static, str>>>(self, hint: impl FnOnce() -> H) -> anyhow::Result<T> {
        self.with_context(|| Hint(hint().into()))
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
            crate::console::say_err(describe_for(&err, &flags));
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

/// Ends the program where an error cannot be handed back to [`run`] (a client's output that
/// stdout cannot take, see [`crate::console::say`]): prints it as `run` does, and exits with
/// status 1.
pub fn fail(err: &anyhow::Error) -> ! {
    crate::log::finish(std::time::Duration::from_secs(2));
    crate::console::say_err(describe(err));
    std::process::exit(1)
}

/// Prints, on stderr, a failure that the lesson survives and goes on after:
/// `error: <what>: <why>` and a hint where one applies.
pub fn log_error(what: impl fmt::Display, err: impl Into<anyhow::Error>) {
    let err = err.into().context(what.to_string());
    crate::console::say_err(describe(&err));
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
    // `{:#}` would print a `Hint`'s empty text as an empty step: leave those out.
    let steps: Vec<String> = err
        .chain()
        .map(ToString::to_string)
        .filter(|step| !step.is_empty())
        .collect();
    let mut text = format!("error: {}", steps.join(": "));
    let bind = err.downcast_ref::<CannotBind>();
    let hint = match err.chain().find_map(|e| e.downcast_ref::<io::Error>()) {
        _ if err.downcast_ref::<Hint>().is_some() => {
            err.downcast_ref::<Hint>().map(|h| h.0.to_string())
        }
        Some(io) if io.kind() == ErrorKind::AddrInUse => Some(addr_in_use_hint(flags, bind)),
        Some(io) if crate::net::is_timeout(io) && err.downcast_ref::<CannotConnect>().is_some() => {
            Some(CONNECT_TIMED_OUT.to_string())
        }
        Some(io) if io.kind() == ErrorKind::PermissionDenied => bind
            .filter(|b| (1..1024).contains(&b.addr.port()))
            .map(|_| PRIVILEGED_PORT.to_string()),
        _ => err.chain().find_map(hint_for).map(String::from),
    };
    if let Some(hint) = hint {
        text.push_str("\nhint: ");
        text.push_str(&hint);
    }
    text
}

/// EACCES from the bind of a port below 1024. Only there: a `.part` that cannot be created,
/// a refused rename and a send to 255.255.255.255 (which needs SO_BROADCAST) fail with the
/// same error and have nothing to do with ports.
const PRIVILEGED_PORT: &str = "ports below 1024 are well-known ports, and binding one needs \
     privileges (unless net.ipv4.ip_unprivileged_port_start says otherwise): use a port of 1024 \
     or above, or --port 0";

/// A TCP connect with no answer: the SYN went unanswered.
const CONNECT_TIMED_OUT: &str = "no answer to the SYN in time: the host may be down, a firewall \
     may drop it, or the server's accept queue is full (it accepts too slowly for its listen \
     backlog, and the kernel drops new SYNs until it catches up)";

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
    if let Some(holder) = bind.and_then(dual_stack_holder) {
        hint.push_str(&format!(
            " (here a socket on {holder} holds it: on Linux a socket bound to the IPv6 address \
             :: also takes the port for IPv4, dual stack, unless it sets IPV6_V6ONLY; \
             net.ipv6.bindv6only is 0 by default)"
        ));
    } else if bind.is_some_and(|b| b.proto == Proto::Tcp) {
        hint.push_str(
            " (a TCP port can stay taken for up to a minute after its program stops, \
             while its connections are in TIME_WAIT)",
        );
    }
    hint
}

/// When a bind failed with "address in use", whether the holder is on the other side of the
/// dual stack: a socket on `[::]:P`, which takes IPv4's port P too, when we bound IPv4 and no
/// IPv4 socket has port P; or the IPv4 socket on port P when we bound `::` and no IPv6 socket
/// has it. Read from the kernel's tables (`/proc/net/tcp`, `tcp6`, `udp`, `udp6`). A test bind
/// of the other family could not tell `[::]:P` from `[::1]:P`, or a socket with IPV6_V6ONLY
/// set, which take nothing from IPv4.
fn dual_stack_holder(bind: &CannotBind) -> Option<SocketAddr> {
    let port = bind.addr.port();
    if port == 0 {
        return None;
    }
    let (v4, v6) = (
        holders(bind.proto, "", port),
        holders(bind.proto, "6", port),
    );
    match bind.addr {
        SocketAddr::V4(_) if v4.is_empty() => v6.into_iter().find(|a| a.ip().is_unspecified()),
        SocketAddr::V6(a) if a.ip().is_unspecified() && v6.is_empty() => v4.into_iter().next(),
        _ => None,
    }
}

/// The local addresses on `port` in `/proc/net/{tcp,udp}{family}` (`family` is "" for IPv4,
/// "6" for IPv6): every UDP socket, and the TCP sockets that listen (state 0A), the only ones
/// a bind with SO_REUSEADDR cannot share a port with. Empty where the table cannot be read.
pub fn holders(proto: Proto, family: &str, port: u16) -> Vec<SocketAddr> {
    let table = std::fs::read_to_string(format!("/proc/net/{proto}{family}")).unwrap_or_default();
    let holder = |line: &str| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, state) = (fields.get(1)?, fields.get(3)?);
        let (ip, at) = local.split_once(':')?;
        let listed = u16::from_str_radix(at, 16).ok() == Some(port);
        (listed && (proto == Proto::Udp || *state == "0A")).then_some(())?;
        Some(SocketAddr::new(proc_ip(ip)?, port))
    };
    table.lines().skip(1).filter_map(holder).collect()
}

/// An address as `/proc/net` writes it: the address's bytes, in the order they travel, read
/// as 32-bit words in the machine's byte order, each in hex (`0100007F` is 127.0.0.1 on x86).
fn proc_ip(hex: &str) -> Option<std::net::IpAddr> {
    let word = |i: usize| u32::from_str_radix(hex.get(i..i + 8)?, 16).ok();
    let bytes: Vec<u8> = (0..hex.len() / 8)
        .map(|i| word(i * 8).map(u32::to_ne_bytes))
        .collect::<Option<Vec<_>>>()?
        .concat();
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(Into::into),
        16 => <[u8; 16]>::try_from(bytes).ok().map(Into::into),
        _ => None,
    }
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
        // After a reset the socket is no longer connected: a later shutdown() or
        // getpeername() fails with ENOTCONN rather than ECONNRESET.
        ErrorKind::NotConnected => {
            "the connection has already ended: the peer reset it (it closed with data it had \
             not read, or it was killed)"
        }
        // ENETUNREACH is this machine's own routing table; EHOSTUNREACH may also be an ICMP
        // "host unreachable" from a router or a firewall on the way, or an unanswered ARP.
        ErrorKind::NetworkUnreachable => {
            "this machine has no route to that address: check it, and that the network is up \
             (`ip route get ADDRESS`)"
        }
        ErrorKind::HostUnreachable => {
            "that host cannot be reached: nobody answered for it on its network, or a router or \
             firewall on the way answered \"host unreachable\" (`ip route get ADDRESS`, `ip neigh`)"
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
    fn host_and_network_unreachable_get_different_hints() {
        let host = describe(&anyhow::Error::from(io::Error::from(
            ErrorKind::HostUnreachable,
        )));
        let net = describe(&anyhow::Error::from(io::Error::from(
            ErrorKind::NetworkUnreachable,
        )));
        assert!(host.contains("firewall"), "{host}");
        assert!(net.contains("no route"), "{net}");
        assert!(!net.contains("firewall"), "{net}");
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
    fn permission_denied_names_privileged_ports_only_for_a_bind_below_1024() {
        let denied = || Err::<(), _>(io::Error::from(ErrorKind::PermissionDenied));
        let low: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let bind = denied()
            .context(CannotBind::new(low, Proto::Tcp))
            .unwrap_err();
        assert!(
            describe(&bind).contains("\nhint: ports below 1024"),
            "{}",
            describe(&bind)
        );
        let high: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let bind_high = denied()
            .context(CannotBind::new(high, Proto::Udp))
            .unwrap_err();
        // Not a file, a rename, or a send to 255.255.255.255 (SO_BROADCAST) either.
        let part = denied()
            .context("cannot create notes.txt.part")
            .unwrap_err();
        let rename = denied()
            .context("cannot rename notes.txt.part to notes.txt")
            .unwrap_err();
        let broadcast = denied()
            .context("cannot send to 255.255.255.255:8080")
            .unwrap_err();
        for err in [bind_high, part, rename, broadcast] {
            assert!(!describe(&err).contains("1024"), "{}", describe(&err));
        }
    }

    #[test]
    fn a_hint_given_by_the_code_replaces_the_guess_and_adds_nothing_to_the_error() {
        let err = Err::<(), _>(io::Error::from(ErrorKind::PermissionDenied))
            .context("cannot send to 255.255.255.255:8080")
            .hint("a broadcast needs SO_BROADCAST: --broadcast sets it")
            .unwrap_err();
        let text = describe(&err);
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        assert!(
            first.starts_with("error: cannot send to 255.255.255.255:8080: "),
            "{text}"
        );
        assert!(!first.ends_with(": "), "{text}");
        assert!(!first.contains(": : "), "{text}");
        assert_eq!(
            lines.next(),
            Some("hint: a broadcast needs SO_BROADCAST: --broadcast sets it")
        );
        assert_eq!(lines.next(), None);
        // On an Option, an anyhow error, and made lazily.
        let none: anyhow::Result<()> = None::<()>
            .context("no reply")
            .with_hint(|| format!("wait {} s", 2));
        assert_eq!(
            describe(&none.unwrap_err()),
            "error: no reply\nhint: wait 2 s"
        );
        let inner = Err::<(), _>(anyhow::anyhow!("bad"))
            .hint("inner")
            .context("outer")
            .unwrap_err();
        assert_eq!(describe(&inner), "error: outer: bad\nhint: inner");
    }

    /// `--bind ::` running, then `--bind 0.0.0.0` (or 127.0.0.1) on its port: the hint names
    /// the IPv6 socket and the dual stack, not TIME_WAIT. The holder listens, as a server does:
    /// the kernel lists no TCP socket that is only bound.
    #[test]
    fn a_dual_stack_conflict_is_named_as_such() {
        use rustix::net::{AddressFamily, SocketType, sockopt};
        let holder = rustix::net::socket(AddressFamily::INET6, SocketType::STREAM, None).unwrap();
        if sockopt::set_ipv6_v6only(&holder, false).is_err() {
            return;
        }
        let any6: SocketAddr = "[::]:0".parse().unwrap();
        if rustix::net::bind(&holder, &any6).is_err() {
            eprintln!("skipped: no IPv6 on this machine");
            return;
        }
        rustix::net::listen(&holder, 1).unwrap();
        let port = SocketAddr::try_from(rustix::net::getsockname(&holder).unwrap())
            .unwrap()
            .port();
        let flags = Flags::named(&["bind", "port"]);
        for ours in ["0.0.0.0", "127.0.0.1"] {
            let addr: SocketAddr = format!("{ours}:{port}").parse().unwrap();
            let err = Err::<(), _>(io::Error::from(ErrorKind::AddrInUse))
                .context(CannotBind::new(addr, Proto::Tcp))
                .unwrap_err();
            let text = describe_for(&err, &flags);
            assert!(
                text.contains(&format!("a socket on [::]:{port} holds it")),
                "{text}"
            );
            assert!(
                text.contains("dual stack") && !text.contains("TIME_WAIT"),
                "{text}"
            );
        }
        drop(holder);
        // With no IPv6 holder, the usual hint.
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let err = Err::<(), _>(io::Error::from(ErrorKind::AddrInUse))
            .context(CannotBind::new(addr, Proto::Tcp))
            .unwrap_err();
        let text = describe_for(&err, &flags);
        assert!(
            !text.contains("dual stack") && text.contains("TIME_WAIT"),
            "{text}"
        );
    }

    /// The other way round: an IPv4 socket holds the port, and `--bind ::` wants it too.
    #[test]
    fn an_ipv4_holder_is_named_when_binding_the_ipv6_any_address() {
        let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let addr: SocketAddr = format!("[::]:{port}").parse().unwrap();
        let err = Err::<(), _>(io::Error::from(ErrorKind::AddrInUse))
            .context(CannotBind::new(addr, Proto::Udp))
            .unwrap_err();
        let text = describe(&err);
        assert!(
            text.contains(&format!("a socket on 127.0.0.1:{port} holds it")),
            "{text}"
        );
    }

    /// IPv6 sockets that take nothing from IPv4, on the port that an IPv4 socket holds: one
    /// on `[::1]`, one on `[::]` with IPV6_V6ONLY. The hint must not blame them (it did, when
    /// it asked by binding a test socket: a feiq test failed when another test's socket got
    /// the same port number on `::`).
    #[test]
    fn ipv6_sockets_that_take_no_ipv4_are_not_named() {
        use socket2::{Domain, Socket, Type};
        for on in ["[::1]", "[::]"] {
            let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = holder.local_addr().unwrap();
            let other: SocketAddr = format!("{on}:{}", addr.port()).parse().unwrap();
            let v6 = Socket::new(Domain::IPV6, Type::DGRAM, None).unwrap();
            v6.set_only_v6(true).unwrap();
            if let Err(e) = v6.bind(&other.into()) {
                eprintln!("skipped: cannot bind {other}: {e}");
                return;
            }
            let err = Err::<(), _>(io::Error::from(ErrorKind::AddrInUse))
                .context(CannotBind::new(addr, Proto::Udp))
                .unwrap_err();
            let text = describe(&err);
            assert!(!text.contains("holds it:"), "{on}: {text}");
        }
    }

    #[test]
    fn a_ready_line_reads_back() {
        let addr: SocketAddr = "[::1]:10050".parse().unwrap();
        for (line, proto) in [
            (format!("listening on {addr} ({})", Proto::Tcp), Proto::Tcp),
            (format!("bound to {addr} ({})", Proto::Udp), Proto::Udp),
        ] {
            assert_eq!(parse_ready_line(&line), Some((addr, proto)), "{line}");
        }
        for other in [
            "listening on nowhere (tcp)",
            "accepted 127.0.0.1:1",
            "bound to 1.2.3.4:5",
        ] {
            assert_eq!(parse_ready_line(other), None, "{other}");
        }
    }

    #[test]
    fn the_address_in_use_text_is_what_a_lesson_prints() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let text = address_in_use_text(addr, Proto::Tcp, &["port"]);
        assert!(
            text.starts_with("error: cannot bind 127.0.0.1:1 (tcp): Address already in use"),
            "{text}"
        );
        assert!(
            text.contains("\nhint: ") && text.contains("--port 0") && text.contains("TIME_WAIT")
        );
    }

    #[test]
    fn other_errors_get_no_hint() {
        let err = anyhow::anyhow!("something else");
        assert_eq!(describe(&err), "error: something else");
    }
}
