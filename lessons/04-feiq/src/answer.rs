//! What `feiq listen` does with one packet: the line it shows and the answer it sends, if
//! any. No I/O here: the socket loop in `main.rs` receives, calls [`on_packet`], prints the
//! line and sends the answer; the tests call [`on_packet`] directly.

use std::net::SocketAddr;

use common::text;

use crate::Me;
use crate::ipmsg::{self, Packet};
use crate::peers::Peers;

// ANCHOR: on_packet
/// The line to show for `packet`, which came from `from`, and the packet to answer with.
pub fn on_packet(
    packet: &Packet,
    from: SocketAddr,
    me: &mut Me,
    peers: &mut Peers,
) -> (String, Option<Packet>) {
    if let Some(encoding) = ipmsg::announced_encoding(packet) {
        peers.announced(from, encoding);
    }
    let encoding = ipmsg::encoding_of(packet, me.forced, peers.encoding(from));
    // A number already shown with other content is no copy: see `Peers::heard`.
    peers.heard(from, packet);
    // Everything the peer wrote is shown through `show`, which escapes control and
    // bidirectional characters: a peer cannot rewrite our screen. At most 1,024 bytes of
    // each field: a field can be 65,000 bytes long.
    let show = |bytes: &[u8]| text::show_capped(bytes, encoding, common::limit::SHOWN_BYTES);
    // The address first: it is the one thing the peer did not write. After a name, it could
    // be pushed to a row of its own by a name that imitates another peer's whole line.
    let who = format!("{from} {}@{}", show(&packet.user), show(&packet.host));
    match packet.mode() {
        ipmsg::IPMSG_SENDMSG => {
            // Only a message that asks for acknowledgement is ever resent, so only such a
            // message can be a copy. (The seed numbers all its messages 324244.)
            let checked = packet.has(ipmsg::IPMSG_SENDCHECKOPT);
            let line = if checked && !peers.first_time(from, packet.packet_no) {
                format!("{who} resent a message already shown (a copy: acknowledged again)")
            } else {
                format!("{who}: {}", show(&packet.text))
            };
            // Acknowledge, unless it was sent to many or is an automatic answer.
            let wants_ack = checked
                && !packet.has(ipmsg::IPMSG_BROADCASTOPT)
                && !packet.has(ipmsg::IPMSG_AUTORETOPT);
            let number = packet.packet_no.to_string().into_bytes();
            (
                line,
                wants_ack.then(|| me.packet(ipmsg::IPMSG_RECVMSG, number)),
            )
        }
        ipmsg::IPMSG_BR_ENTRY => {
            // ANSENTRY with our nickname: the newcomer adds us to its list.
            let answer = me.packet(ipmsg::IPMSG_ANSENTRY, me.user.clone());
            (
                format!("{who} is online: {}", show(&packet.text)),
                Some(answer),
            )
        }
        ipmsg::IPMSG_ANSENTRY => (
            format!("{who} answered our entry: {}", show(&packet.text)),
            None,
        ),
        ipmsg::IPMSG_BR_EXIT => (format!("{who} has left"), None),
        ipmsg::IPMSG_RECVMSG => (
            format!("{who} acknowledged packet {}", show(&packet.text)),
            None,
        ),
        _ => {
            let name = ipmsg::mode_name(packet.command).unwrap_or("an unknown command");
            (
                format!("{who} sent {name} (command 0x{:x})", packet.command),
                None,
            )
        }
    }
}
// ANCHOR_END: on_packet

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use common::Encoding;

    fn me() -> Me {
        Me {
            user: b"rust".to_vec(),
            host: b"vm".to_vec(),
            encoding: Encoding::Gbk,
            forced: None,
            numbers: ipmsg::PacketNumbers::new(),
        }
    }

    fn from() -> SocketAddr {
        "127.0.0.1:2425".parse().unwrap()
    }

    #[test]
    fn a_checked_message_is_shown_once_and_acknowledged_every_time() {
        let (mut me, mut peers) = (me(), Peers::new());
        let packet = Packet::parse(b"1:77:bob:box:288:hi\0").unwrap();
        let (line, ack) = on_packet(&packet, from(), &mut me, &mut peers);
        assert_eq!(line, "127.0.0.1:2425 bob@box: hi");
        let ack = ack.unwrap();
        assert_eq!(
            (ack.mode(), ack.text.as_slice()),
            (ipmsg::IPMSG_RECVMSG, &b"77"[..])
        );
        let (line, ack) = on_packet(&packet, from(), &mut me, &mut peers);
        assert!(line.ends_with("(a copy: acknowledged again)"), "{line}");
        assert!(ack.is_some());
    }

    #[test]
    fn answers_only_what_the_protocol_answers() {
        let (mut me, mut peers) = (me(), Peers::new());
        let mut answer = |datagram: &[u8]| {
            let packet = Packet::parse(datagram).unwrap();
            on_packet(&packet, from(), &mut me, &mut peers)
                .1
                .map(|p| p.mode())
        };
        assert_eq!(answer(b"1:1:a:b:1:nick"), Some(ipmsg::IPMSG_ANSENTRY));
        assert_eq!(answer(b"1:1:a:b:32:the seed's plain message"), None);
        assert_eq!(answer(b"1:2:a:b:1312:to many (BROADCASTOPT)"), None);
        assert_eq!(answer(b"1:3:a:b:8480:automatic (AUTORETOPT)"), None);
        assert_eq!(answer(b"1:4:a:b:3:an answer"), None);
        assert_eq!(answer(b"1:5:a:b:33:5"), None);
        assert_eq!(answer(b"1:6:a:b:2:"), None);
        assert_eq!(answer(b"1:7:a:b:64:"), None);
    }

    #[test]
    fn what_a_peer_wrote_is_escaped() {
        let (mut me, mut peers) = (me(), Peers::new());
        let packet = Packet::parse("1:1:u\u{1b}[2J:h:32:abc\u{202e}txt".as_bytes()).unwrap();
        let (line, _) = on_packet(&packet, from(), &mut me, &mut peers);
        assert_eq!(line, "127.0.0.1:2425 u\\u{1b}[2J@h: abc\\u{202e}txt");
    }
}
