//! Addresses as a user types them: `localhost`, `127.0.0.1:8080`, `[::1]:8080`, `::1`.
//!
//! Parsing (is this well formed?) is separate from resolving (does this name exist?): a
//! malformed address is a usage error that clap reports before the lesson starts, while a
//! name that DNS does not know is an error at run time, with a hint.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// A host (IP literal or name) and, if one was given, a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl HostPort {
    /// Every address the host resolves to, with `default_port` where none was typed.
    ///
    /// IPv4 addresses come first. `localhost` resolves to both `::1` and `127.0.0.1`, and the
    /// lessons' servers bind `127.0.0.1` by default, so a client that picks one address
    /// should pick that one.
    pub fn resolve(&self, default_port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let mut addrs: Vec<SocketAddr> = self.lookup(default_port)?.collect();
        if addrs.is_empty() {
            return Err(self.unknown(None));
        }
        addrs.sort_by_key(|a| !a.is_ipv4());
        Ok(addrs)
    }

    /// The one address a UDP socket sends to or binds: the first of [`HostPort::resolve`],
    /// IPv4 before IPv6.
    pub fn resolve_one(&self, default_port: u16) -> Result<SocketAddr, ResolveError> {
        let addrs: Vec<SocketAddr> = self.lookup(default_port)?.collect();
        let first = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first());
        first.copied().ok_or_else(|| self.unknown(None))
    }

    fn lookup(&self, default_port: u16) -> Result<std::vec::IntoIter<SocketAddr>, ResolveError> {
        let port = self.port.unwrap_or(default_port);
        (self.host.as_str(), port)
            .to_socket_addrs()
            .map_err(|source| self.unknown(Some(source)))
    }

    fn unknown(&self, source: Option<std::io::Error>) -> ResolveError {
        ResolveError {
            host: self.host.clone(),
            source,
        }
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the address is empty".into());
        }
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(HostPort {
                host: sa.ip().to_string(),
                port: Some(sa.port()),
            });
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(HostPort {
                host: ip.to_string(),
                port: None,
            });
        }
        if let Some(rest) = s.strip_prefix('[') {
            // `[::1]` alone, or a bracketed literal with a bad port after it.
            let (inner, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("'{s}': an opening '[' needs a closing ']'"))?;
            let ip: Ipv6Addr = inner
                .parse()
                .map_err(|_| format!("'{inner}' is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => Some(parse_port(after.strip_prefix(':').unwrap_or(after))?),
            };
            return Ok(HostPort {
                host: ip.to_string(),
                port,
            });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(format!(
                    "'{s}' is not an IPv6 address; with a port, write it in brackets: [::1]:8080"
                ));
            }
            Some((host, port)) => (host, Some(parse_port(port)?)),
            None => (s, None),
        };
        if host.is_empty() {
            return Err(format!("'{s}' has a port but no host (try 127.0.0.1{s})"));
        }
        if let Some(c) = host.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("'{s}' contains {c:?}, which no host name has"));
        }
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not a port: a port is a number from 0 to 65535"))
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bracket = self.host.contains(':');
        match (bracket, self.port) {
            (true, Some(p)) => write!(f, "[{}]:{p}", self.host),
            (false, Some(p)) => write!(f, "{}:{p}", self.host),
            _ => f.write_str(&self.host),
        }
    }
}

/// A host name that did not resolve.
#[derive(Debug)]
pub struct ResolveError {
    pub host: String,
    source: Option<std::io::Error>,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve host '{}'", self.host)
    }
}

impl std::error::Error for ResolveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The local address a lesson binds: `--bind ADDR` and `--port N`, with the lesson's own
/// default port (the seed's) as `PORT`.
///
/// `--bind` may carry a port of its own (`--bind 127.0.0.1:0`); it then wins over `--port`.
#[derive(clap::Args, Clone, Debug)]
pub struct BindArgs<const PORT: u16> {
    /// Local address to bind: an IP or a host name, optionally with :PORT.
    /// 0.0.0.0 (or ::) means every interface, the seed's bind(("", port)).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: HostPort,

    /// Local port; 0 lets the operating system choose a free one.
    #[arg(long, value_name = "N", default_value_t = PORT)]
    pub port: u16,
}

impl<const PORT: u16> BindArgs<PORT> {
    /// The address to hand to `bind`.
    pub fn local_addr(&self) -> Result<SocketAddr, ResolveError> {
        self.bind.resolve_one(self.port)
    }
}

/// The local address of a client: `--bind ADDR` and `--port N`, the same two flags as a
/// server's [`BindArgs`], with the lesson's own default port as `PORT` (0: the OS chooses).
///
/// Without `--bind`, a client binds the "any address" of its peer's family: a socket bound to
/// a loopback address could only talk to loopback peers.
#[derive(clap::Args, Clone, Debug)]
pub struct ClientBindArgs<const PORT: u16> {
    /// Local address to bind, optionally with :PORT [default: every interface, 0.0.0.0 or ::,
    /// of the peer's family].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<HostPort>,

    /// Local port; 0 lets the operating system choose a free one.
    #[arg(long, value_name = "N", default_value_t = PORT)]
    pub port: u16,
}

impl<const PORT: u16> ClientBindArgs<PORT> {
    /// The address to hand to `bind` for a socket that talks to `peer`.
    pub fn local_addr(&self, peer: SocketAddr) -> Result<SocketAddr, ResolveError> {
        match &self.bind {
            Some(bind) => bind.resolve_one(self.port),
            None => Ok(SocketAddr::new(unspecified_for(peer), self.port)),
        }
    }

    /// Whether the user asked for a local address or port of their own; if not, a TCP
    /// client can leave the choice to `connect`.
    pub fn is_default(&self) -> bool {
        self.bind.is_none() && self.port == 0
    }
}

/// The "any address" of the same family as `peer`: `0.0.0.0` for IPv4, `::` for IPv6.
///
/// A socket bound to a loopback address can only talk to loopback peers, so a client that
/// binds a fixed port (as the seed's does) binds it on every interface.
fn unspecified_for(peer: SocketAddr) -> IpAddr {
    match peer {
        SocketAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
        SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> Result<HostPort, String> {
        s.parse()
    }

    fn ok(host: &str, port: Option<u16>) -> Result<HostPort, String> {
        Ok(HostPort {
            host: host.into(),
            port,
        })
    }

    #[test]
    fn a_client_binds_the_any_address_of_its_peers_family() {
        use clap::Parser;
        #[derive(Parser)]
        struct A {
            #[command(flatten)]
            local: ClientBindArgs<10086>,
        }
        let v4: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        let a = A::parse_from(["a"]);
        assert_eq!(
            a.local.local_addr(v4).unwrap(),
            "0.0.0.0:10086".parse().unwrap()
        );
        assert_eq!(
            a.local.local_addr(v6).unwrap(),
            "[::]:10086".parse().unwrap()
        );
        assert!(!a.local.is_default());
        let a = A::parse_from(["a", "--bind", "127.0.0.1", "--port", "0"]);
        assert_eq!(
            a.local.local_addr(v4).unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        let a = A::parse_from(["a", "--bind", "127.0.0.1:7"]);
        assert_eq!(
            a.local.local_addr(v4).unwrap(),
            "127.0.0.1:7".parse().unwrap()
        );
    }

    #[test]
    fn parses_the_forms_users_type() {
        assert_eq!(hp("127.0.0.1"), ok("127.0.0.1", None));
        assert_eq!(hp("127.0.0.1:8080"), ok("127.0.0.1", Some(8080)));
        assert_eq!(hp("localhost:0"), ok("localhost", Some(0)));
        assert_eq!(hp("localhost"), ok("localhost", None));
        assert_eq!(hp("::1"), ok("::1", None));
        assert_eq!(hp("[::1]"), ok("::1", None));
        assert_eq!(hp("[::1]:8080"), ok("::1", Some(8080)));
        assert_eq!(hp(" example.org:80 "), ok("example.org", Some(80)));
    }

    #[test]
    fn rejects_bad_addresses_with_a_reason() {
        for (input, says) in [
            ("", "empty"),
            ("localhost:http", "not a port"),
            ("localhost:65536", "0 to 65535"),
            ("localhost:-1", "not a port"),
            (":8080", "no host"),
            ("::1:8080:x", "brackets"),
            ("[::1", "closing"),
            ("[nope]:80", "not an IPv6"),
            ("[::1]:99999", "not a port"),
            ("bad host", "no host name"),
            ("a\u{0}b", "no host name"),
        ] {
            let err = hp(input).expect_err(input);
            assert!(err.contains(says), "{input:?}: {err}");
        }
    }

    #[test]
    fn displays_as_typed() {
        assert_eq!(hp("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert_eq!(hp("localhost").unwrap().to_string(), "localhost");
        assert_eq!(hp("10.0.0.1:7").unwrap().to_string(), "10.0.0.1:7");
    }

    #[test]
    fn resolves_literals_and_localhost_ipv4_first() {
        let a = hp("127.0.0.1").unwrap().resolve_one(8080).unwrap();
        assert_eq!(a, "127.0.0.1:8080".parse().unwrap());
        let a = hp("[::1]:9").unwrap().resolve_one(8080).unwrap();
        assert_eq!(a, "[::1]:9".parse().unwrap());
        let all = hp("localhost").unwrap().resolve(1).unwrap();
        assert!(all[0].is_ipv4(), "{all:?}");
    }

    #[test]
    fn an_unknown_name_is_a_resolve_error() {
        // `.invalid` is reserved (RFC 2606): it never resolves, on any network.
        let err = hp("no-such-host.invalid").unwrap().resolve(1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot resolve host 'no-such-host.invalid'"
        );
    }

    #[test]
    fn bind_port_wins_over_the_default() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bind: BindArgs<8080>,
        }
        use clap::Parser;
        let cli = Cli::parse_from(["x"]);
        assert_eq!(cli.bind.local_addr().unwrap().to_string(), "127.0.0.1:8080");
        let cli = Cli::parse_from(["x", "--port", "0"]);
        assert_eq!(cli.bind.local_addr().unwrap().port(), 0);
        let cli = Cli::parse_from(["x", "--bind", "[::1]:7"]);
        assert_eq!(cli.bind.local_addr().unwrap().to_string(), "[::1]:7");
        assert!(Cli::try_parse_from(["x", "--port", "70000"]).is_err());
    }
}
