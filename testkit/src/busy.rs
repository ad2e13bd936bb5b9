//! A port that another program holds, for the tests of "address already in use".

use std::net::{TcpListener, UdpSocket};
use std::process::Output;

/// A loopback port held for as long as this value lives, by a TCP listener or a UDP socket.
pub enum BusyPort {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl BusyPort {
    /// Holds a free TCP port of 127.0.0.1.
    pub fn tcp() -> std::io::Result<BusyPort> {
        TcpListener::bind("127.0.0.1:0").map(BusyPort::Tcp)
    }

    /// Holds a free UDP port of 127.0.0.1.
    pub fn udp() -> std::io::Result<BusyPort> {
        UdpSocket::bind("127.0.0.1:0").map(BusyPort::Udp)
    }

    /// The port, as a lesson's `--port` takes it.
    pub fn port(&self) -> String {
        let addr = match self {
            BusyPort::Tcp(l) => l.local_addr(),
            BusyPort::Udp(s) => s.local_addr(),
        };
        addr.map(|a| a.port().to_string()).unwrap_or_default()
    }

    /// Panics unless `output` is a lesson's refusal to bind this port, as every lesson words
    /// it (common's [`address_in_use_text`](common::report::address_in_use_text) for a
    /// program with `--bind` and `--port`): exit status 1, `error: cannot bind
    /// 127.0.0.1:PORT (udp|tcp): ...`, a hint that names `--port`, TIME_WAIT for TCP only.
    pub fn assert_refused(&self, output: &Output) {
        use common::Proto;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let (addr, proto) = match self {
            BusyPort::Tcp(l) => (l.local_addr(), Proto::Tcp),
            BusyPort::Udp(s) => (s.local_addr(), Proto::Udp),
        };
        let Ok(addr) = addr else {
            panic!("the busy port has no address")
        };
        assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
        let expected = common::report::address_in_use_text(addr, proto, &["bind", "port"]);
        assert!(
            stderr.starts_with(&format!("{expected}\n")),
            "expected:\n{expected}\nstderr: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    }
}
