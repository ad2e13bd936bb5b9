//! IP Messenger (IPMsg) packets, the protocol that Feiq (飞秋), IP Messenger and iptux speak.
//!
//! A packet is one UDP datagram of text:
//!
//! ```text
//! version:packet_no:user:host:command:extra
//! 1:1700000000:xds:ubuntu:288:hello\0
//! ```
//!
//! Only the first five `:` separate fields: the extra section is "the rest" and may contain
//! `:` itself. It may also hold NUL-separated parts: an entry packet carries
//! `nickname\0group`. Senders usually end the packet with a NUL; a parser must not require it.
//! The command is a *mode* in its low byte plus *option* bits above it.
//!
//! The fields are bytes, in the sender's encoding (GBK for Feiq, UTF-8 when the UTF8OPT bit
//! says so). Splitting at `:` and NUL is safe in both: neither encoding uses those byte
//! values inside a multi-byte character.

use std::fmt;

use common::Encoding;

// ANCHOR: commands
/// Command modes: the low byte of the command number (names as in the protocol's ipmsg.h).
pub const IPMSG_NOOPERATION: u32 = 0x0000_0000;
pub const IPMSG_BR_ENTRY: u32 = 0x0000_0001;
pub const IPMSG_BR_EXIT: u32 = 0x0000_0002;
pub const IPMSG_ANSENTRY: u32 = 0x0000_0003;
pub const IPMSG_BR_ABSENCE: u32 = 0x0000_0004;
pub const IPMSG_SENDMSG: u32 = 0x0000_0020;
pub const IPMSG_RECVMSG: u32 = 0x0000_0021;
pub const IPMSG_READMSG: u32 = 0x0000_0030;
pub const IPMSG_GETINFO: u32 = 0x0000_0040;
pub const IPMSG_SENDINFO: u32 = 0x0000_0041;

/// Option bits for SENDMSG: ask for a RECVMSG; sent to many; an automatic answer.
pub const IPMSG_SENDCHECKOPT: u32 = 0x0000_0100;
pub const IPMSG_BROADCASTOPT: u32 = 0x0000_0400;
pub const IPMSG_AUTORETOPT: u32 = 0x0000_2000;
/// Option bit for any command: the text is UTF-8 (else the sender's local code page).
pub const IPMSG_UTF8OPT: u32 = 0x0080_0000;

/// GET_MODE: the mode of a command number, without its option bits.
pub const fn mode(command: u32) -> u32 {
    command & 0x0000_00ff
}
// ANCHOR_END: commands

/// The name of a command mode, for logs.
pub fn mode_name(command: u32) -> Option<&'static str> {
    Some(match mode(command) {
        IPMSG_NOOPERATION => "NOOPERATION",
        IPMSG_BR_ENTRY => "BR_ENTRY",
        IPMSG_BR_EXIT => "BR_EXIT",
        IPMSG_ANSENTRY => "ANSENTRY",
        IPMSG_BR_ABSENCE => "BR_ABSENCE",
        0x10 => "BR_ISGETLIST",
        0x11 => "OKGETLIST",
        0x12 => "GETLIST",
        0x13 => "ANSLIST",
        IPMSG_SENDMSG => "SENDMSG",
        IPMSG_RECVMSG => "RECVMSG",
        IPMSG_READMSG => "READMSG",
        0x31 => "DELMSG",
        0x32 => "ANSREADMSG",
        IPMSG_GETINFO => "GETINFO",
        IPMSG_SENDINFO => "SENDINFO",
        0x50 => "GETABSENCEINFO",
        0x51 => "SENDABSENCEINFO",
        0x60 => "GETFILEDATA",
        0x61 => "RELEASEFILES",
        0x62 => "GETDIRFILES",
        0x72 => "GETPUBKEY",
        0x73 => "ANSPUBKEY",
        _ => return None,
    })
}

/// One packet, its text fields still in the sender's encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// `1` from IP Messenger; longer from others (`1_iptux 0.10.0`, `1_lbt6_0#128#...`).
    pub version: Vec<u8>,
    pub packet_no: u64,
    pub user: Vec<u8>,
    pub host: Vec<u8>,
    pub command: u32,
    /// The extra section up to its first NUL: the message text, a nickname, a packet number.
    pub text: Vec<u8>,
    /// The NUL-separated parts after it (an entry's group name, ...), trailing empties dropped.
    pub parts: Vec<Vec<u8>>,
}

/// Why a datagram is not an IPMsg packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    MissingFields(usize),
    EmptyField(&'static str),
    NotANumber(&'static str),
    TooLarge(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "empty datagram"),
            ParseError::MissingFields(n) => {
                write!(f, "only {n} of the 6 ':'-separated fields")
            }
            ParseError::EmptyField(name) => write!(f, "the {name} field is empty"),
            ParseError::NotANumber(name) => write!(f, "the {name} field is not a decimal number"),
            ParseError::TooLarge(name) => write!(f, "the {name} field is too large"),
        }
    }
}

impl std::error::Error for ParseError {}

// ANCHOR: parse
impl Packet {
    /// Parses one datagram.
    pub fn parse(datagram: &[u8]) -> Result<Packet, ParseError> {
        if datagram.is_empty() {
            return Err(ParseError::Empty);
        }
        // The first five ':' separate fields; the sixth part is everything after them.
        let mut fields = datagram.splitn(6, |&b| b == b':');
        let mut next = |count| fields.next().ok_or(ParseError::MissingFields(count));
        let version = next(0)?;
        let packet_no = next(1)?;
        let user = next(2)?;
        let host = next(3)?;
        let command = next(4)?;
        let extra = next(5)?;
        if version.is_empty() {
            return Err(ParseError::EmptyField("version"));
        }
        let mut parts: Vec<Vec<u8>> = extra.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
        while parts.len() > 1 && parts.last().is_some_and(Vec::is_empty) {
            parts.pop();
        }
        let text = if parts.is_empty() {
            Vec::new()
        } else {
            parts.remove(0)
        };
        Ok(Packet {
            version: version.to_vec(),
            packet_no: number(packet_no, "packet number")?,
            user: user.to_vec(),
            host: host.to_vec(),
            command: u32::try_from(number(command, "command")?)
                .map_err(|_| ParseError::TooLarge("command"))?,
            text,
            parts,
        })
    }
    // ANCHOR_END: parse

    // ANCHOR: format
    /// The datagram for this packet: the fields joined by ':', the parts by NUL, and a final
    /// NUL, as IP Messenger, iptux and Feiq send them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.text.len());
        out.extend_from_slice(&self.version);
        out.extend_from_slice(format!(":{}:", self.packet_no).as_bytes());
        out.extend_from_slice(&self.user);
        out.push(b':');
        out.extend_from_slice(&self.host);
        out.extend_from_slice(format!(":{}:", self.command).as_bytes());
        out.extend_from_slice(&self.text);
        for part in &self.parts {
            out.push(0);
            out.extend_from_slice(part);
        }
        out.push(0);
        out
    }
    // ANCHOR_END: format

    /// The mode of the command, without option bits.
    pub fn mode(&self) -> u32 {
        mode(self.command)
    }

    /// Whether the command has all of `bits` set.
    pub fn has(&self, bits: u32) -> bool {
        self.command & bits == bits
    }
}

fn number(field: &[u8], name: &'static str) -> Result<u64, ParseError> {
    if field.is_empty() {
        return Err(ParseError::EmptyField(name));
    }
    if !field.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::NotANumber(name));
    }
    // All ASCII digits, so this is valid UTF-8; only the size can fail.
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ParseError::TooLarge(name))
}

// ANCHOR: decode
/// Decodes a text field. `--encoding` wins when given; otherwise UTF-8 when the UTF8OPT bit
/// says so or the bytes are valid UTF-8 (not every client sets the bit), else GBK (its
/// GB18030 superset), which is what Feiq and Chinese IP Messenger send.
pub fn decode(bytes: &[u8], command: u32, forced: Option<Encoding>) -> String {
    let encoding = forced.unwrap_or(
        if command & IPMSG_UTF8OPT != 0 || std::str::from_utf8(bytes).is_ok() {
            Encoding::Utf8
        } else {
            Encoding::Gbk
        },
    );
    common::text::show(bytes, encoding)
}
// ANCHOR_END: decode

/// Makes a user or host name safe to send: ':' would split the packet, so it becomes ';' as
/// the protocol advises; an empty field would shift every later one, so it gets a name.
pub fn clean_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c == ':' || c.is_control() { ';' } else { c })
        .collect();
    if cleaned.trim().is_empty() {
        "unknown".to_string()
    } else {
        cleaned
    }
}

/// Packet numbers as real clients make them: the Unix time in seconds, then one more for
/// each packet, so that they increase even within a second and across restarts.
pub struct PacketNumbers {
    last: u64,
}

impl PacketNumbers {
    pub fn new() -> PacketNumbers {
        PacketNumbers { last: 0 }
    }

    pub fn next(&mut self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last = now.max(self.last + 1);
        self.last
    }
}

impl Default for PacketNumbers {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packet(text: &[u8]) -> Packet {
        Packet {
            version: b"1".to_vec(),
            packet_no: 324244,
            user: "小道士".as_bytes().to_vec(),
            host: b"ubuntu".to_vec(),
            command: IPMSG_SENDMSG,
            text: text.to_vec(),
            parts: Vec::new(),
        }
    }

    #[test]
    fn parses_the_seeds_packet_in_gbk() {
        // "1:324244:小道士:ubuntu:32:你好" encoded in GBK, as the seed sends it (no final NUL).
        let mut datagram = b"1:324244:".to_vec();
        datagram.extend(Encoding::Gbk.encode("小道士").unwrap().iter());
        datagram.extend(b":ubuntu:32:");
        datagram.extend(Encoding::Gbk.encode("你好").unwrap().iter());
        let p = Packet::parse(&datagram).unwrap();
        assert_eq!(
            (p.packet_no, p.command, p.mode()),
            (324244, 32, IPMSG_SENDMSG)
        );
        assert_eq!(decode(&p.user, p.command, None), "小道士");
        assert_eq!(decode(&p.host, p.command, None), "ubuntu");
        assert_eq!(decode(&p.text, p.command, None), "你好");
    }

    #[test]
    fn the_extra_section_keeps_its_colons_and_splits_at_nul() {
        let p = Packet::parse(b"1:7:u:h:288:time: 12:30\0").unwrap();
        assert_eq!(p.text, b"time: 12:30");
        assert!(p.parts.is_empty());
        let p = Packet::parse(
            b"1_iptux 0.8.0-b1:6:lidaobing:mac.local:259:nick\0\0icon-tux.png\0utf-8\0",
        )
        .unwrap();
        assert_eq!(p.version, b"1_iptux 0.8.0-b1");
        assert_eq!(p.mode(), IPMSG_ANSENTRY);
        assert!(p.has(0x100));
        assert_eq!(p.text, b"nick");
        assert_eq!(p.parts, [&b""[..], b"icon-tux.png", b"utf-8"]);
    }

    #[test]
    fn accepts_feiqs_long_version_and_an_empty_extra() {
        let p =
            Packet::parse(b"1_lbt6_0#128#000C294BBCAF#0#0#0#4001#9:1652447021:zz:WIN10-WRK:209:\0")
                .unwrap();
        assert_eq!(p.packet_no, 1652447021);
        assert_eq!(mode_name(p.command), None);
        assert!(p.text.is_empty());
        let p = Packet::parse(b"1:1:u:h:2:").unwrap();
        assert_eq!(mode_name(p.command), Some("BR_EXIT"));
    }

    #[test]
    fn modes_ignore_option_bits() {
        assert_eq!(mode(0x121), IPMSG_RECVMSG);
        assert_eq!(mode(0x10002), IPMSG_BR_EXIT);
        assert_eq!(
            mode(IPMSG_SENDMSG | IPMSG_SENDCHECKOPT | IPMSG_UTF8OPT),
            IPMSG_SENDMSG
        );
    }

    #[test]
    fn rejects_hostile_datagrams_with_a_reason() {
        use ParseError::*;
        for (input, why) in [
            (&b""[..], Empty),
            (b"hello", MissingFields(1)),
            (b"1:2:3:4:5", MissingFields(5)),
            (b":1:u:h:32:x", EmptyField("version")),
            (b"1::u:h:32:x", EmptyField("packet number")),
            (b"1:12a:u:h:32:x", NotANumber("packet number")),
            (b"1:-1:u:h:32:x", NotANumber("packet number")),
            (b"1:1:u:h:0x20:x", NotANumber("command")),
            (b"1:1:u:h: 32:x", NotANumber("command")),
            (
                b"1:99999999999999999999999:u:h:32:x",
                TooLarge("packet number"),
            ),
            (b"1:1:u:h:4294967296:x", TooLarge("command")),
            (
                b"\xff\xfe:\x00:\x01:\x02:\x03:",
                NotANumber("packet number"),
            ),
        ] {
            assert_eq!(Packet::parse(input), Err(why.clone()), "{input:?}");
            assert!(!why.to_string().is_empty());
        }
    }

    #[test]
    fn bad_gbk_shows_replacement_characters() {
        assert_eq!(
            decode(b"ok\x81", IPMSG_SENDMSG, None),
            "ok\u{fffd} [not valid GBK: shown as \u{fffd}]"
        );
        // UTF8OPT forces UTF-8, even for bytes that are not.
        assert!(
            decode(b"\xc4\xe3", IPMSG_SENDMSG | IPMSG_UTF8OPT, None).contains("not valid UTF-8")
        );
        // --encoding wins over the guess.
        assert_eq!(
            decode("你".as_bytes(), 0, Some(Encoding::Gbk)),
            "浣\u{fffd} [not valid GBK: shown as \u{fffd}]"
        );
    }

    #[test]
    fn formats_what_it_parses() {
        let mut p = packet("你好".as_bytes());
        p.parts = vec![b"group".to_vec()];
        let bytes = p.to_bytes();
        assert!(bytes.ends_with(b"\0group\0"));
        assert_eq!(Packet::parse(&bytes), Ok(p));
    }

    #[test]
    fn names_never_break_the_packet() {
        assert_eq!(clean_name("a:b"), "a;b");
        assert_eq!(clean_name(""), "unknown");
        assert_eq!(clean_name("x\ny"), "x;y");
    }

    #[test]
    fn packet_numbers_increase_from_the_clock() {
        let mut n = PacketNumbers::new();
        let a = n.next();
        let b = n.next();
        assert!(a > 1_600_000_000, "{a}");
        assert_eq!(b, a + 1);
    }

    proptest! {
        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Packet::parse(&bytes);
            let _ = decode(&bytes, 0, None);
        }

        #[test]
        fn parsing_any_packet_shaped_bytes_never_panics(
            fields in proptest::collection::vec("[0-9a-z:\\x00]{0,12}", 6),
        ) {
            let _ = Packet::parse(fields.join(":").as_bytes());
        }

        #[test]
        fn what_is_formatted_parses_back(
            packet_no in any::<u64>(),
            command in any::<u32>(),
            user in "[^:\\x00]{1,16}",
            host in "[^:\\x00]{1,16}",
            text in proptest::collection::vec(any::<u8>().prop_filter("no NUL", |b| *b != 0), 0..64),
            group in proptest::collection::vec(1u8..=255, 1..16),
        ) {
            let p = Packet {
                version: b"1".to_vec(),
                packet_no,
                user: user.into_bytes(),
                host: host.into_bytes(),
                command,
                text,
                parts: vec![group],
            };
            prop_assert_eq!(Packet::parse(&p.to_bytes()), Ok(p));
        }
    }
}
