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

use clap::ValueEnum;
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

/// The other modes of IP Messenger, which `feiq listen` only names in its log.
pub const IPMSG_BR_ISGETLIST: u32 = 0x0000_0010;
pub const IPMSG_OKGETLIST: u32 = 0x0000_0011;
pub const IPMSG_GETLIST: u32 = 0x0000_0012;
pub const IPMSG_ANSLIST: u32 = 0x0000_0013;
pub const IPMSG_BR_ISGETLIST2: u32 = 0x0000_0018;
pub const IPMSG_READMSG: u32 = 0x0000_0030;
pub const IPMSG_DELMSG: u32 = 0x0000_0031;
pub const IPMSG_ANSREADMSG: u32 = 0x0000_0032;
pub const IPMSG_GETINFO: u32 = 0x0000_0040;
pub const IPMSG_SENDINFO: u32 = 0x0000_0041;
pub const IPMSG_GETABSENCEINFO: u32 = 0x0000_0050;
pub const IPMSG_SENDABSENCEINFO: u32 = 0x0000_0051;
pub const IPMSG_GETFILEDATA: u32 = 0x0000_0060;
pub const IPMSG_RELEASEFILES: u32 = 0x0000_0061;
pub const IPMSG_GETDIRFILES: u32 = 0x0000_0062;
pub const IPMSG_GETPUBKEY: u32 = 0x0000_0072;
pub const IPMSG_ANSPUBKEY: u32 = 0x0000_0073;

/// The name of a command mode, for logs.
pub fn mode_name(command: u32) -> Option<&'static str> {
    Some(match mode(command) {
        IPMSG_NOOPERATION => "NOOPERATION",
        IPMSG_BR_ENTRY => "BR_ENTRY",
        IPMSG_BR_EXIT => "BR_EXIT",
        IPMSG_ANSENTRY => "ANSENTRY",
        IPMSG_BR_ABSENCE => "BR_ABSENCE",
        IPMSG_BR_ISGETLIST => "BR_ISGETLIST",
        IPMSG_OKGETLIST => "OKGETLIST",
        IPMSG_GETLIST => "GETLIST",
        IPMSG_ANSLIST => "ANSLIST",
        IPMSG_BR_ISGETLIST2 => "BR_ISGETLIST2",
        IPMSG_SENDMSG => "SENDMSG",
        IPMSG_RECVMSG => "RECVMSG",
        IPMSG_READMSG => "READMSG",
        IPMSG_DELMSG => "DELMSG",
        IPMSG_ANSREADMSG => "ANSREADMSG",
        IPMSG_GETINFO => "GETINFO",
        IPMSG_SENDINFO => "SENDINFO",
        IPMSG_GETABSENCEINFO => "GETABSENCEINFO",
        IPMSG_SENDABSENCEINFO => "SENDABSENCEINFO",
        IPMSG_GETFILEDATA => "GETFILEDATA",
        IPMSG_RELEASEFILES => "RELEASEFILES",
        IPMSG_GETDIRFILES => "GETDIRFILES",
        IPMSG_GETPUBKEY => "GETPUBKEY",
        IPMSG_ANSPUBKEY => "ANSPUBKEY",
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

/// The packet number that an acknowledgement (RECVMSG) names: its extra section, as
/// decimal text.
pub fn acked_number(ack: &Packet) -> Option<u64> {
    std::str::from_utf8(&ack.text).ok()?.trim().parse().ok()
}

// ANCHOR: decode
/// The encoding of a packet's text, from what the receiver knows, strongest first: the user
/// said so (`--encoding`); the packet says UTF-8 (UTF8OPT); the sender announced one in an
/// earlier entry packet; its version field names a client whose encoding is known. Only
/// when nothing is known is it guessed.
pub fn encoding_of(
    packet: &Packet,
    forced: Option<Encoding>,
    announced: Option<Encoding>,
) -> Encoding {
    if let Some(encoding) = forced {
        return encoding;
    }
    if packet.has(IPMSG_UTF8OPT) {
        return Encoding::Utf8;
    }
    if let Some(encoding) = announced.or_else(|| client_encoding(&packet.version)) {
        return encoding;
    }
    guess(&[&packet.user, &packet.host, &packet.text])
}

/// The encoding an entry packet announces. iptux ends its entries with
/// `nickname\0group\0icon\0utf-8`: the fourth part names the encoding it writes.
pub fn announced_encoding(packet: &Packet) -> Option<Encoding> {
    if !matches!(
        packet.mode(),
        IPMSG_BR_ENTRY | IPMSG_ANSENTRY | IPMSG_BR_ABSENCE
    ) {
        return None;
    }
    let label = std::str::from_utf8(packet.parts.get(2)?).ok()?;
    // The names `--encoding` takes; others (iptux also knows "utf-16") say nothing we can use.
    Encoding::from_str(label.trim(), true).ok()
}

/// The encoding of the client named in the version field: iptux (`1_iptux 0.10.0`) writes
/// UTF-8 unless it announces otherwise, Feiq (`1_lbt6_0#128#...`) writes GBK. IP Messenger
/// and the seed send a plain `1`, which says nothing.
fn client_encoding(version: &[u8]) -> Option<Encoding> {
    if version.windows(5).any(|w| w == b"iptux") {
        Some(Encoding::Utf8)
    } else if version.starts_with(b"1_lbt") {
        Some(Encoding::Gbk)
    } else {
        None
    }
}

/// Guesses UTF-8 or GBK. Bytes that are not valid UTF-8 are GBK. Bytes valid in both are
/// ambiguous (GBK `谢谢`, D0 BB D0 BB, is UTF-8 `лл`): GBK's two-byte characters, read as
/// UTF-8, give two-byte UTF-8 characters (U+0080 to U+07FF: Latin, Greek, Cyrillic...),
/// while Chinese in UTF-8 takes three bytes a character. So a UTF-8 reading with a two-byte
/// character, of bytes that are also valid GBK, is taken as GBK.
pub fn guess(fields: &[&[u8]]) -> Encoding {
    let mut two_byte_chars = false;
    for field in fields {
        match std::str::from_utf8(field) {
            Ok(text) => two_byte_chars |= text.chars().any(|c| c.len_utf8() == 2),
            Err(_) => return Encoding::Gbk,
        }
    }
    let valid_gbk = fields.iter().all(|field| !Encoding::Gbk.decode(field).1);
    if two_byte_chars && valid_gbk {
        Encoding::Gbk
    } else {
        Encoding::Utf8
    }
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

// ANCHOR: numbers
/// Packet numbers: a random start, then one more for each packet, kept to the 32 bits that
/// receivers parse. An acknowledgement names a packet by its number, so a number someone
/// else can guess (the clock in seconds, as IP Messenger uses, or in milliseconds) lets them
/// forge the acknowledgement of a message that never arrived. A random start also keeps two
/// runs from one address and port apart, almost always (one chance in 2^31 per pair).
pub struct PacketNumbers {
    last: u64,
}

impl PacketNumbers {
    pub fn new() -> PacketNumbers {
        // std's hash maps seed each hasher with fresh random keys from the OS: hashing
        // nothing with one gives 64 random bits, with no extra crate.
        use std::hash::BuildHasher;
        let random = std::collections::hash_map::RandomState::new().hash_one(());
        PacketNumbers {
            last: random % (1 << 31),
        }
    }

    pub fn next(&mut self) -> u64 {
        self.last = (self.last + 1) % (1 << 32);
        self.last
    }
}
// ANCHOR_END: numbers

impl Default for PacketNumbers {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::text::show;
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
        // Version 1 and no UTF8OPT: nothing is known, and the bytes are not valid UTF-8.
        let encoding = encoding_of(&p, None, None);
        assert_eq!(encoding, Encoding::Gbk);
        assert_eq!(show(&p.user, encoding), "小道士");
        assert_eq!(show(&p.host, encoding), "ubuntu");
        assert_eq!(show(&p.text, encoding), "你好");
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
        let p = Packet::parse(b"1:1:u:h:32:ok\x81").unwrap();
        assert_eq!(encoding_of(&p, None, None), Encoding::Gbk);
        assert_eq!(
            show(&p.text, Encoding::Gbk),
            "ok\u{fffd} [not valid GBK: shown as \u{fffd}]"
        );
    }

    #[test]
    fn what_is_known_wins_over_the_guess() {
        // GBK 你 (C4 E3) is not valid UTF-8, but UTF8OPT says UTF-8: the sender is believed.
        let p = Packet::parse(b"1:1:u:h:8388640:\xc4\xe3").unwrap();
        assert_eq!(encoding_of(&p, None, None), Encoding::Utf8);
        // --encoding wins over everything.
        assert_eq!(encoding_of(&p, Some(Encoding::Gbk), None), Encoding::Gbk);
        // What the sender announced wins over the guess.
        let p = Packet::parse(b"1:1:u:h:32:\xd0\xbb").unwrap();
        assert_eq!(encoding_of(&p, None, None), Encoding::Gbk);
        assert_eq!(encoding_of(&p, None, Some(Encoding::Utf8)), Encoding::Utf8);
        // The version field names the client.
        let iptux = Packet::parse(b"1_iptux 0.10.0:1:u:h:288:\xd0\xbb").unwrap();
        assert_eq!(encoding_of(&iptux, None, None), Encoding::Utf8);
        let feiq = Packet::parse("1_lbt6_0#128#000C294BBCAF#0#0#0#4001#9:1:u:h:288:ok".as_bytes())
            .unwrap();
        assert_eq!(encoding_of(&feiq, None, None), Encoding::Gbk);
    }

    #[test]
    fn iptux_announces_its_encoding_in_its_entry() {
        let entry = Packet::parse(b"1_iptux 0.8.3:1:root:vm:257:iptuxbot\0\0icon-tux.png\0utf-8\0")
            .unwrap();
        assert_eq!(announced_encoding(&entry), Some(Encoding::Utf8));
        let gbk = Packet::parse(b"1_iptux 0.8.3:1:root:vm:3:bot\0\0icon.png\0GB18030\0").unwrap();
        assert_eq!(announced_encoding(&gbk), Some(Encoding::Gb18030));
        // Only entries announce; unknown names say nothing.
        let message = Packet::parse(b"1:1:u:h:288:hi\0\0icon\0utf-8").unwrap();
        assert_eq!(announced_encoding(&message), None);
        let odd = Packet::parse(b"1:1:u:h:1:hi\0\0icon\0utf-16").unwrap();
        assert_eq!(announced_encoding(&odd), None);
        assert_eq!(
            announced_encoding(&Packet::parse(b"1:1:u:h:1:hi").unwrap()),
            None
        );
    }

    /// The bytes the chapter shows: short GBK text that is also valid UTF-8, and back.
    #[test]
    fn short_chinese_is_valid_in_both_encodings() {
        let gbk = |s: &str| Encoding::Gbk.encode(s).unwrap().into_owned();
        assert_eq!(gbk("谢谢"), b"\xd0\xbb\xd0\xbb");
        assert_eq!(std::str::from_utf8(&gbk("谢谢")), Ok("лл"));
        assert_eq!(std::str::from_utf8(&gbk("哦")), Ok("Ŷ"));
        assert_eq!(std::str::from_utf8(&gbk("小")), Ok("С"));
        assert!(std::str::from_utf8(&gbk("好的")).is_err());
        assert!(std::str::from_utf8(&gbk("在吗")).is_err());
        // 谢谢 in UTF-8 is valid GBK too, and 你 in UTF-8 is not.
        assert_eq!("谢谢".as_bytes(), b"\xe8\xb0\xa2\xe8\xb0\xa2");
        assert_eq!(
            Encoding::Gbk.decode("谢谢".as_bytes()),
            ("璋㈣阿".into(), false)
        );
        assert!(Encoding::Gbk.decode("你".as_bytes()).1);
    }

    #[test]
    fn the_guess_reads_short_chinese_right_both_ways() {
        for word in ["谢谢", "哦", "小", "好的", "在吗", "晚上一起吃饭吗？"] {
            let bytes = Encoding::Gbk.encode(word).unwrap();
            assert_eq!(guess(&[b"tester", &bytes]), Encoding::Gbk, "{word} in GBK");
            assert_eq!(
                guess(&[b"tester", word.as_bytes()]),
                Encoding::Utf8,
                "{word} in UTF-8"
            );
        }
        for utf8 in ["谢谢", "你a", "😀", "ok"] {
            assert_eq!(guess(&[utf8.as_bytes()]), Encoding::Utf8, "{utf8}");
        }
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
    fn packet_numbers_start_at_random_and_count_in_32_bits() {
        let (mut a, mut b) = (PacketNumbers::new(), PacketNumbers::new());
        let (first, other) = (a.next(), b.next());
        // Two runs start far apart (equal once in 2^31), and far from the clock.
        assert_ne!(first, other);
        assert_eq!(a.next(), first + 1);
        let mut wrap = PacketNumbers {
            last: (1 << 32) - 2,
        };
        assert_eq!((wrap.next(), wrap.next()), ((1 << 32) - 1, 0));
    }

    proptest! {
        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Packet::parse(&bytes);
            let _ = guess(&[&bytes]);
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
