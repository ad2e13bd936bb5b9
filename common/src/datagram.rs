//! Receiving one datagram, with two things std's `UdpSocket::recv_from` does not tell:
//!
//! - its **real length**, even when the buffer was too small and the kernel cut it
//!   (`recvmsg(2)` with `MSG_TRUNC`: Linux then returns the datagram's length, not what it
//!   copied; `man 7 udp`);
//! - the **address it was sent to** (`IP_PKTINFO`, `IPV6_RECVPKTINFO`; `man 7 ip`, `man 7 ipv6`):
//!   this machine's own address, or a broadcast or multicast address that reached every
//!   machine of the network at once. A server must not answer the second kind: one forged
//!   datagram would make every such server on the network answer the victim together
//!   (the "Fraggle" attack on echo services).
//!
//! ```text
//! received 10 bytes from 127.0.0.1:56985: 0123
//!   (cut: the buffer holds 4; 6 bytes lost)
//! ```
//!
//! `recv` also retries a receive that a signal interrupted (`EINTR`), which a socket with a
//! receive timeout sees after Ctrl-Z and `fg` (SIGSTOP, SIGCONT; `man 7 signal`).

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};

/// One received datagram: where it came from, where it was sent, how long it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The sender, where an answer goes.
    pub from: SocketAddr,
    /// The datagram's real length.
    pub len: usize,
    /// How many of its bytes are in the buffer: `len`, or the buffer's size if it was cut.
    pub copied: usize,
    /// Where it was sent, when the kernel said.
    pub to: Option<Destination>,
}

/// The destination of a datagram, as `IP_PKTINFO` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The destination address in the datagram's IP header.
    pub addr: IpAddr,
    /// The local address the kernel would answer from. For a datagram sent to this machine
    /// it is `addr` itself; for a broadcast (which names no machine) it is another one.
    pub local: Option<IpAddr>,
}

impl Datagram {
    /// Whether the kernel cut it to fit the buffer.
    pub fn is_cut(&self) -> bool {
        self.len > self.copied
    }

    /// Why this datagram was sent to many machines at once, if it was: a broadcast or a
    /// multicast address.
    pub fn sent_to_many(&self) -> Option<&'static str> {
        let to = self.to?;
        if to.addr.is_multicast() {
            return Some("multicast");
        }
        match to.addr {
            IpAddr::V4(v4) if v4.is_broadcast() => Some("broadcast"),
            // A directed broadcast (10.1.2.255 on a /24) is no address of ours: the
            // kernel's answer-from address then differs from it.
            IpAddr::V4(_) if to.local.is_some_and(|local| local != to.addr) => Some("broadcast"),
            _ => None,
        }
    }
}

/// Why no datagram from `from` may be answered, if none may: a multicast, broadcast or
/// unspecified source is no one machine's, so it is forged, and an answer would go to many.
/// (A LAN's directed broadcast address, 10.1.2.255, looks like any other: the kernel
/// refuses to send to it because the socket has no SO_BROADCAST.)
pub fn forged_source(from: SocketAddr) -> Option<&'static str> {
    // On a dual-stack socket (`--bind ::`) an IPv4 sender is `[::ffff:a.b.c.d]`: look at the
    // IPv4 address inside, or a forged group, `[::ffff:239.1.2.3]`, passes for a peer.
    let ip = from.ip().to_canonical();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    (ip.is_multicast() || broadcast || ip.is_unspecified())
        .then_some("a multicast or broadcast source is no one peer's: it is forged")
}

/// Asks the kernel to say, with each datagram, where it was sent (see [`Datagram::to`]).
pub fn want_destination(socket: &UdpSocket) -> io::Result<()> {
    match socket.local_addr()? {
        SocketAddr::V4(_) => setsockopt(socket, sockopt::Ipv4PacketInfo, &true)?,
        SocketAddr::V6(_) => {
            setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true)?;
            // IPv4 datagrams on a dual-stack socket (`--bind ::`) carry IP_PKTINFO too,
            // with the answer-from address that tells a directed broadcast.
            let _ = setsockopt(socket, sockopt::Ipv4PacketInfo, &true);
        }
    }
    Ok(())
}

/// Receives one datagram into `buf` (a longer one is cut, and its real length told), with
/// its sender and, after [`want_destination`], its destination. Retries when a signal
/// interrupts the wait.
pub fn recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    loop {
        match recv_once(socket, buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            got => return got,
        }
    }
}

fn recv_once(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    let capacity = buf.len();
    let mut iov = [IoSliceMut::new(buf)];
    let mut control = nix::cmsg_space!(nix::libc::in_pktinfo, nix::libc::in6_pktinfo);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_TRUNC,
    )?;
    let from = msg
        .address
        .as_ref()
        .and_then(socket_addr)
        .ok_or_else(|| io::Error::other("a datagram without an IP sender"))?;
    let mut to = None;
    // A full control buffer (MSG_CTRUNC) only costs the destination; the datagram is whole.
    if let Ok(cmsgs) = msg.cmsgs() {
        for cmsg in cmsgs {
            match cmsg {
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    to = Some(Destination {
                        addr: IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))),
                        local: Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            info.ipi_spec_dst.s_addr,
                        )))),
                    });
                }
                ControlMessageOwned::Ipv6PacketInfo(info) if to.is_none() => {
                    let addr = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                    to = Some(Destination {
                        addr: addr.to_ipv4_mapped().map_or(IpAddr::V6(addr), IpAddr::V4),
                        local: None,
                    });
                }
                _ => {}
            }
        }
    }
    Ok(Datagram {
        from,
        len: msg.bytes,
        copied: msg.bytes.min(capacity),
        to,
    })
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        Some(SocketAddr::from((v4.ip(), v4.port())))
    } else {
        addr.as_sockaddr_in6()
            .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_cut_datagram_tells_its_real_length_and_its_destination() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        want_destination(&server).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .send_to(b"0123456789", server.local_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 4];
        let got = recv(&server, &mut buf).unwrap();
        assert_eq!((got.len, got.copied, got.is_cut()), (10, 4, true));
        assert_eq!(&buf, b"0123");
        assert_eq!(got.from, client.local_addr().unwrap());
        let to = got.to.unwrap();
        assert_eq!(to.addr, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(got.sent_to_many(), None);
    }

    #[test]
    fn ipv6_and_empty_datagrams() {
        let Ok(server) = UdpSocket::bind("[::1]:0") else {
            eprintln!("skipped: no IPv6 loopback");
            return;
        };
        want_destination(&server).unwrap();
        let client = UdpSocket::bind("[::1]:0").unwrap();
        client.send_to(b"", server.local_addr().unwrap()).unwrap();
        let got = recv(&server, &mut [0u8; 16]).unwrap();
        assert_eq!((got.len, got.copied), (0, 0));
        assert_eq!(got.to.unwrap().addr, IpAddr::from(Ipv6Addr::LOCALHOST));
        assert_eq!(got.sent_to_many(), None);
    }

    #[test]
    fn broadcast_and_multicast_destinations_are_many() {
        let at = |addr: [u8; 4], local: [u8; 4]| Datagram {
            from: "10.1.2.3:4000".parse().unwrap(),
            len: 1,
            copied: 1,
            to: Some(Destination {
                addr: IpAddr::from(addr),
                local: Some(IpAddr::from(local)),
            }),
        };
        assert_eq!(
            at([255, 255, 255, 255], [10, 1, 2, 1]).sent_to_many(),
            Some("broadcast")
        );
        assert_eq!(
            at([10, 1, 2, 255], [10, 1, 2, 1]).sent_to_many(),
            Some("broadcast")
        );
        assert_eq!(
            at([224, 0, 0, 1], [10, 1, 2, 1]).sent_to_many(),
            Some("multicast")
        );
        assert_eq!(at([10, 1, 2, 1], [10, 1, 2, 1]).sent_to_many(), None);
        let mut v6 = at([0; 4], [0; 4]);
        v6.to = Some(Destination {
            addr: "ff02::1".parse().unwrap(),
            local: None,
        });
        assert_eq!(v6.sent_to_many(), Some("multicast"));
    }

    #[test]
    fn a_multicast_broadcast_or_unspecified_source_is_forged() {
        for from in [
            "224.0.0.1:2425",
            "255.255.255.255:2425",
            "0.0.0.0:2425",
            "[ff02::1]:2425",
            "[::]:2425",
            // As a dual-stack socket (`--bind ::`) sees IPv4 senders.
            "[::ffff:239.1.2.3]:2425",
            "[::ffff:255.255.255.255]:2425",
        ] {
            assert!(forged_source(from.parse().unwrap()).is_some(), "{from}");
        }
        assert!(forged_source("10.1.2.3:2425".parse().unwrap()).is_none());
        assert!(forged_source("[fe80::1]:2425".parse().unwrap()).is_none());
        assert!(forged_source("[::ffff:10.1.2.3]:2425".parse().unwrap()).is_none());
    }
}
