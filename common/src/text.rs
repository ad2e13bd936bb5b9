//! Text and bytes: a socket carries bytes, people type and read text.
//!
//! `str.encode("gbk")` and `bytes.decode("gbk")` in the seed become [`Encoding::encode`] and
//! [`Encoding::decode`] here. Decoding never fails: bytes that are not valid in the chosen
//! encoding show up as U+FFFD (�), and the caller learns that it happened.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead};

/// The text encodings the lessons speak: `--encoding utf-8|gbk|gb18030`.
///
/// Lessons declare the flag with `ignore_case = true`, so `GBK`, `UTF8` and `GB18030` work
/// as people write them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// UTF-8: Linux, macOS and the web. "你好" is 6 bytes.
    #[default]
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// GBK: Chinese Windows and Feiq. "你好" is 4 bytes. Decoding accepts all of GB18030.
    #[value(name = "gbk", alias = "cp936", alias = "gb2312")]
    Gbk,
    /// GB18030: GBK extended to all of Unicode with four-byte sequences (😀 is 94 39 FC 36).
    #[value(name = "gb18030")]
    Gb18030,
}

impl Encoding {
    fn codec(self) -> &'static encoding_rs::Encoding {
        match self {
            Encoding::Utf8 => encoding_rs::UTF_8,
            Encoding::Gbk => encoding_rs::GBK,
            Encoding::Gb18030 => encoding_rs::GB18030,
        }
    }

    // ANCHOR: encode
    /// Text to bytes. Fails, naming the character, when the encoding cannot write it
    /// (GBK has no emoji): sending a substitute instead would lose what the user typed.
    pub fn encode(self, text: &str) -> Result<Cow<'_, [u8]>, Unencodable> {
        let (bytes, _, had_errors) = self.codec().encode(text);
        if !had_errors {
            return Ok(bytes);
        }
        let ch = text
            .chars()
            .find(|c| self.codec().encode(c.encode_utf8(&mut [0; 4])).2)
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        Err(Unencodable { ch, encoding: self })
    }

    /// Bytes to text, lossily: invalid sequences become U+FFFD. The flag says whether any did.
    pub fn decode(self, bytes: &[u8]) -> (Cow<'_, str>, bool) {
        let (text, had_errors) = self.codec().decode_without_bom_handling(bytes);
        (text, had_errors)
    }
    // ANCHOR_END: encode

    /// A decoder for a byte stream, which keeps a character cut in two by `read` whole.
    pub fn stream_decoder(self) -> StreamDecoder {
        StreamDecoder {
            decoder: self.codec().new_decoder_without_bom_handling(),
            encoding: self,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Gbk => "GBK",
            Encoding::Gb18030 => "GB18030",
        })
    }
}

/// A character that the chosen encoding cannot represent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unencodable {
    pub ch: char,
    pub encoding: Encoding,
}

impl fmt::Display for Unencodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} (U+{:04X}) cannot be written in {}",
            self.ch, self.ch as u32, self.encoding
        )
    }
}

impl std::error::Error for Unencodable {}

/// Decodes a byte stream chunk by chunk.
///
/// TCP delivers bytes, not characters: one `read` can end in the middle of a character
/// ("你" in GBK is two bytes, and `recv(10)` may return only the first). The decoder keeps
/// such a partial character until the next chunk completes it.
pub struct StreamDecoder {
    decoder: encoding_rs::Decoder,
    encoding: Encoding,
}

impl StreamDecoder {
    /// Decodes `bytes`; `last` says the stream has ended, so an unfinished character is
    /// shown as U+FFFD instead of being kept. Returns the text and whether any byte was invalid.
    pub fn decode(&mut self, bytes: &[u8], last: bool) -> (String, bool) {
        let capacity = self
            .decoder
            .max_utf8_buffer_length(bytes.len())
            .unwrap_or(bytes.len().saturating_mul(3).saturating_add(4));
        let mut out = String::with_capacity(capacity);
        let (_, _, had_errors) = self.decoder.decode_to_string(bytes, &mut out, last);
        (out, had_errors)
    }

    /// A chunk of the stream as [`show`] shows a datagram: decoded, escaped, and with the
    /// same `[not valid ...: shown as �]` note when some bytes were not valid. A chunk that
    /// ends inside a character shows what it completed; the rest comes with the next chunk.
    pub fn show(&mut self, bytes: &[u8], last: bool) -> String {
        let (text, had_errors) = self.decode(bytes, last);
        let mut line = printable(&text).into_owned();
        if had_errors {
            line.push_str(&invalid_note(self.encoding));
        }
        line
    }
    /// Like [`show`](Self::show), but shows at most `max` bytes of the chunk, followed by
    /// ` … (M more bytes)`: a log line stays short however long the chunk, and however many
    /// escapes its bytes need. The decoder still takes the whole chunk, so the next chunk is
    /// decoded as if nothing had been left out.
    pub fn show_capped(&mut self, bytes: &[u8], last: bool, max: usize) -> String {
        let Some((head, rest)) = bytes.split_at_checked(max).filter(|(_, r)| !r.is_empty()) else {
            return self.show(bytes, last);
        };
        let (text, had_errors) = self.decode(head, false);
        let _ = self.decode(rest, last);
        let mut line = printable(&text).into_owned();
        let more = rest.len();
        let noun = if more == 1 { "byte" } else { "bytes" };
        line.push_str(&format!(" \u{2026} ({more} more {noun})"));
        if had_errors {
            line.push_str(&invalid_note(self.encoding));
        }
        line
    }
}

/// The note after text that had invalid bytes: ` [not valid UTF-8: shown as �]`.
fn invalid_note(encoding: Encoding) -> String {
    format!(" [not valid {encoding}: shown as \u{fffd}]")
}

/// Text as it can be shown on one line: control characters (newlines, escapes, NUL, the C1
/// controls) and every invisible formatting character are written as Rust escapes, so a peer
/// can neither break the one-line-per-event output, nor send terminal escape sequences to the
/// user's screen, nor make `abc\u{202e}txt.exe` display as `abcexe.txt`, nor make four
/// different names all read `notes.txt` (`notes\u{200b}.txt`, `\u{feff}notes.txt`, ...).
/// A character takes at most [`MAX_MARKS`] combining marks; the marks after those, and a
/// mark with no character of the peer's before it, are escaped too (`a\u{301}\u{301}...`):
/// 500 acute accents in one datagram stacked on one letter, drawn over the rows above.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) && marks_fit(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    // The marks on the last character shown; none may come before the first character.
    let mut marks = MAX_MARKS;
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
            marks = MAX_MARKS;
        } else if needs_escape(c) {
            out.extend(c.escape_unicode());
            marks = MAX_MARKS;
        } else if !is_mark(c) {
            out.push(c);
            marks = 0;
        } else if marks < MAX_MARKS {
            out.push(c);
            marks += 1;
        } else {
            out.extend(c.escape_unicode());
        }
    }
    Cow::Owned(out)
}

/// A file name as a listing shows it: [`printable`], and the blanks at its start and its end
/// escaped too. A blank at the end of a name shows as nothing: `notes.txt` followed by a
/// space, a no-break space (U+00A0), U+1680, U+2007, U+2800 (a braille cell with no dots) or
/// an ideographic space (U+3000) made six more files that all read `notes.txt`. A blank
/// between two words shows as a gap and is left alone.
pub fn printable_name(name: &str) -> Cow<'_, str> {
    let shown = printable(name);
    let blank = |c: char| c.is_whitespace() || c == '\u{2800}';
    let body = shown.trim_matches(blank);
    if body.len() == shown.len() {
        return shown;
    }
    let (head, rest) = shown.split_at(shown.len() - shown.trim_start_matches(blank).len());
    let tail = rest.get(body.len()..).unwrap_or_default();
    let escaped = |s: &str| s.chars().flat_map(char::escape_unicode).collect::<String>();
    Cow::Owned(format!("{}{body}{}", escaped(head), escaped(tail)))
}

/// The most combining marks [`printable`] shows on one character: Vietnamese needs two,
/// pointed Hebrew with its cantillation four.
pub const MAX_MARKS: usize = 4;

/// A character a terminal draws on the cell of the one before it, taking no column of its
/// own: the combining marks (an accent, a vowel sign) and the Hangul medial and final jamo.
fn is_mark(c: char) -> bool {
    use unicode_width::UnicodeWidthChar;
    c.width() == Some(0)
}

/// Whether no character in `text` has more than [`MAX_MARKS`] marks, and `text` does not
/// start with one.
fn marks_fit(text: &str) -> bool {
    let mut marks = MAX_MARKS;
    for c in text.chars() {
        if !is_mark(c) {
            marks = 0;
        } else if marks == MAX_MARKS {
            return false;
        } else {
            marks += 1;
        }
    }
    true
}

/// Control characters (Unicode category Cc: C0, DEL, C1) and the characters of categories Cf
/// (format: zero-width spaces and joiners, the bidirectional controls, the byte order mark,
/// the soft hyphen, tags), Zl and Zp (the line and paragraph separators, U+2028 and U+2029).
/// None of them shows as a glyph of its own; each can hide text, reorder it or break a line.
/// And the rest of Unicode's Default_Ignorable_Code_Point set, which terminals draw as nothing
/// though their category is a letter or a mark: the combining grapheme joiner, the Hangul
/// fillers, the Khmer inherent vowels, the Mongolian free variation selectors, the variation
/// selectors (an emoji's U+FE0F too: a name that hides one must not read like one without).
fn needs_escape(c: char) -> bool {
    c.is_control() || is_format_or_separator(c) || is_default_ignorable(c)
}

/// Default_Ignorable_Code_Point (Unicode 15.1, DerivedCoreProperties.txt) less what
/// [`is_format_or_separator`] already covers.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{34f}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{2065}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

/// Categories Cf, Zl and Zp of Unicode 15.1, as ranges. Made with Python's `unicodedata`
/// (`category(chr(cp)) in ("Cf", "Zl", "Zp")` for every code point), with the Egyptian
/// hieroglyph format controls that Unicode 15.0 added (U+13439..U+1343F).
fn is_format_or_separator(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

/// Received bytes as one line of text: decoded with `encoding`, control characters escaped,
/// and a note when some bytes were not valid in that encoding (they show as U+FFFD).
/// Nothing at all (an empty datagram) shows as `[0 bytes]`, never as an empty line.
pub fn show(bytes: &[u8], encoding: Encoding) -> String {
    if bytes.is_empty() {
        return "[0 bytes]".to_string();
    }
    let (text, had_errors) = encoding.decode(bytes);
    let mut line = printable(&text).into_owned();
    if had_errors {
        line.push_str(&invalid_note(encoding));
    }
    line
}

/// [`show`], but at most `max` bytes of them, then ` … (M more bytes)`, as a server's log
/// shows a chunk ([`StreamDecoder::show_capped`]): a log line stays short however long the
/// datagram, and however many escapes its bytes need.
pub fn show_capped(bytes: &[u8], encoding: Encoding, max: usize) -> String {
    if bytes.len() <= max {
        return show(bytes, encoding);
    }
    encoding.stream_decoder().show_capped(bytes, true, max)
}

/// A count with its noun, singular for one: `count(1, "byte", "bytes")` is `1 byte`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The lines of `input` without their `\n` or `\r\n`. A line that is not valid UTF-8
/// (a terminal set to another encoding) is taken lossily instead of ending the program.
pub fn lines<R: BufRead>(input: R) -> Lines<R> {
    Lines { input }
}

/// The iterator of [`lines`].
pub struct Lines<R> {
    input: R,
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = io::Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        match self.input.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                }
                Some(Ok(match String::from_utf8(buf) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                }))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nihao_is_six_bytes_in_utf8_and_four_in_gbk() {
        assert_eq!(
            Encoding::Utf8.encode("你好").unwrap().as_ref(),
            b"\xe4\xbd\xa0\xe5\xa5\xbd"
        );
        assert_eq!(
            Encoding::Gbk.encode("你好").unwrap().as_ref(),
            b"\xc4\xe3\xba\xc3"
        );
    }

    #[test]
    fn a_long_datagram_is_shown_capped_and_a_short_one_whole() {
        assert_eq!(show_capped(b"", Encoding::Utf8, 4), "[0 bytes]");
        assert_eq!(show_capped(b"abcd", Encoding::Utf8, 4), "abcd");
        assert_eq!(
            show_capped(&[1; 10], Encoding::Utf8, 4),
            "\\u{1}\\u{1}\\u{1}\\u{1} \u{2026} (6 more bytes)"
        );
        // A character cut by the cap is not shown as invalid.
        let nihao = Encoding::Gbk.encode("你好").unwrap();
        assert_eq!(
            show_capped(&nihao, Encoding::Gbk, 3),
            "你 \u{2026} (1 more byte)"
        );
    }

    #[test]
    fn round_trips() {
        for enc in [Encoding::Utf8, Encoding::Gbk] {
            let text = "小道士: hello, 世界!";
            let bytes = enc.encode(text).unwrap();
            assert_eq!(enc.decode(&bytes), (Cow::Borrowed(text), false));
        }
    }

    #[test]
    fn gbk_cannot_write_emoji_and_says_which_character() {
        let err = Encoding::Gbk.encode("ok 😀 ok").unwrap_err();
        assert_eq!(err.ch, '😀');
        assert_eq!(err.to_string(), "'😀' (U+1F600) cannot be written in GBK");
        assert!(Encoding::Utf8.encode("😀").is_ok());
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        // GBK bytes read as UTF-8: the Windows 调试助手 mix-up of the seed.
        let (text, bad) = Encoding::Utf8.decode(b"\xc4\xe3\xba\xc3");
        assert!(bad);
        assert!(text.chars().all(|c| c == '\u{fffd}'));
        // A lone lead byte at the end of GBK.
        let (text, bad) = Encoding::Gbk.decode(b"ok\xc4");
        assert!(bad);
        assert_eq!(text, "ok\u{fffd}");
        // UTF-8 read as GBK decodes to something, never panics.
        let (_, _) = Encoding::Gbk.decode("你好".as_bytes());
        let garbage: Vec<u8> = (0..=255).collect();
        for enc in [Encoding::Utf8, Encoding::Gbk] {
            let (text, bad) = enc.decode(&garbage);
            assert!(bad && !text.is_empty());
        }
    }

    #[test]
    fn gbk_decoding_accepts_gb18030_four_byte_sequences() {
        // U+1F600 in GB18030.
        let (text, bad) = Encoding::Gbk.decode(b"\x94\x39\xfc\x36");
        assert_eq!((text.as_ref(), bad), ("😀", false));
    }

    #[test]
    fn the_stream_decoder_keeps_a_split_character_whole() {
        let bytes = Encoding::Gbk.encode("你好").unwrap();
        let mut d = Encoding::Gbk.stream_decoder();
        assert_eq!(d.decode(&bytes[..1], false), (String::new(), false));
        assert_eq!(d.decode(&bytes[1..3], false), ("你".to_string(), false));
        assert_eq!(d.decode(&bytes[3..], false), ("好".to_string(), false));
        // A stream that ends in the middle of a character.
        let mut d = Encoding::Utf8.stream_decoder();
        assert_eq!(d.decode(b"a\xe4\xbd", false).0, "a");
        assert_eq!(d.decode(b"", true), ("\u{fffd}".to_string(), true));
    }

    #[test]
    fn printable_escapes_control_characters_only() {
        assert_eq!(printable("你好 world"), "你好 world");
        assert_eq!(printable("a\nb\r\t\0"), "a\\nb\\r\\t\\0");
        assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
    }

    #[test]
    fn printable_shows_a_few_combining_marks_and_escapes_a_flood() {
        // Vietnamese, Hindi, pointed Hebrew with a cantillation mark, Korean jamo: as typed.
        for text in ["Tiếng Việt", "नमस्ते", "בְּרֵאשִׁ֖ית", "\u{1100}\u{1161}\u{11a8}"]
        {
            assert_eq!(printable(text), text);
        }
        // 500 acute accents on one letter: four of them, then escapes.
        let flood = format!("a{}b", "\u{301}".repeat(500));
        let shown = printable(&flood);
        assert!(shown.starts_with(&format!("a{}\\u{{301}}", "\u{301}".repeat(MAX_MARKS))));
        assert_eq!(shown.matches('\u{301}').count(), MAX_MARKS);
        assert_eq!(shown.matches("\\u{301}").count(), 500 - MAX_MARKS);
        assert!(shown.ends_with('b'));
        // A mark with no character before it would sit on the program's own ": ".
        assert_eq!(printable("\u{301}x"), "\\u{301}x");
        // Nor on an escape: the escape's last character is the program's `}`.
        assert_eq!(printable("\u{1b}\u{301}"), "\\u{1b}\\u{301}");
    }

    #[test]
    fn a_name_shows_the_blanks_at_its_ends() {
        let blanks = [
            ' ', '\u{a0}', '\u{1680}', '\u{2007}', '\u{2800}', '\u{3000}',
        ];
        let mut shown: Vec<String> = blanks
            .iter()
            .map(|b| printable_name(&format!("notes.txt{b}")).into_owned())
            .collect();
        shown.push(printable_name("notes.txt").into_owned());
        let distinct: std::collections::HashSet<_> = shown.iter().collect();
        assert_eq!(distinct.len(), 7, "{shown:?}");
        assert_eq!(printable_name("notes.txt\u{a0}"), "notes.txt\\u{a0}");
        assert_eq!(printable_name(" a b "), "\\u{20}a b\\u{20}");
        assert_eq!(printable_name("  "), "\\u{20}\\u{20}");
        assert_eq!(printable_name("你好\u{3000}世界"), "你好\u{3000}世界");
        assert_eq!(printable_name("a\tb"), "a\\tb");
    }

    #[test]
    fn printable_escapes_bidirectional_controls() {
        // Right-to-left override: would display as "abcexe.txt".
        assert_eq!(printable("abc\u{202e}txt.exe"), "abc\\u{202e}txt.exe");
        for c in [
            '\u{200e}', '\u{200f}', '\u{061c}', '\u{202a}', '\u{2066}', '\u{2069}',
        ] {
            assert!(!printable(&format!("a{c}b")).contains(c), "{c:?}");
        }
        // Arabic and Hebrew letters themselves are text, not controls.
        assert_eq!(printable("שלום مرحبا"), "שלום مرحبا");
    }

    #[test]
    fn printable_escapes_invisible_format_characters_and_separators() {
        for (c, what) in [
            ('\u{200b}', "zero width space"),
            ('\u{200c}', "zero width non-joiner"),
            ('\u{200d}', "zero width joiner"),
            ('\u{2060}', "word joiner"),
            ('\u{2061}', "function application"),
            ('\u{feff}', "byte order mark"),
            ('\u{2028}', "line separator (Zl)"),
            ('\u{2029}', "paragraph separator (Zp)"),
            ('\u{00ad}', "soft hyphen"),
            ('\u{180e}', "Mongolian vowel separator"),
            ('\u{206a}', "inhibit symmetric swapping"),
            ('\u{fff9}', "interlinear annotation anchor"),
            ('\u{0600}', "Arabic number sign"),
            (
                '\u{1343f}',
                "Egyptian hieroglyph end walled enclosure (Unicode 15)",
            ),
            ('\u{e0001}', "language tag"),
            ('\u{e0041}', "tag latin capital A"),
            ('\u{e007f}', "cancel tag"),
            // Default ignorable, though not Cf: each made a name read "notes.txt".
            ('\u{34f}', "combining grapheme joiner"),
            ('\u{fe0f}', "variation selector 16"),
            ('\u{180b}', "Mongolian free variation selector one"),
            ('\u{17b4}', "Khmer vowel inherent aq"),
            ('\u{e0100}', "variation selector 17"),
            ('\u{115f}', "Hangul choseong filler"),
            ('\u{3164}', "Hangul filler"),
        ] {
            let shown = printable(&format!("notes{c}.txt")).into_owned();
            assert!(!shown.contains(c), "{what}: {shown:?}");
            assert_eq!(shown, format!("notes\\u{{{:x}}}.txt", c as u32), "{what}");
        }
        // Four names that all read "notes.txt" on a terminal are told apart.
        let names = [
            "notes.txt",
            "notes\u{200b}.txt",
            "\u{feff}notes.txt",
            "no\u{2060}tes.txt",
        ];
        let shown: std::collections::HashSet<_> = names.iter().map(|n| printable(n)).collect();
        assert_eq!(shown.len(), 4);
        // The C1 controls and DEL stay escaped as before.
        assert_eq!(
            printable("a\u{85}b\u{9b}c\u{7f}"),
            "a\\u{85}b\\u{9b}c\\u{7f}"
        );
        // Visible neighbours are text: the no-break space, the ideographic space,
        // the em space, the hyphen and CJK punctuation.
        for text in [
            "a\u{a0}b",
            "你\u{3000}好",
            "a\u{2003}b",
            "a\u{2010}b",
            "你好，世界。",
        ] {
            assert_eq!(printable(text), text);
        }
    }

    #[test]
    fn empty_input_and_counts_read_the_same_everywhere() {
        assert_eq!(show(b"", Encoding::Utf8), "[0 bytes]");
        assert_eq!(count(1, "byte", "bytes"), "1 byte");
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(2, "entry", "entries"), "2 entries");
    }

    #[test]
    fn gb18030_writes_what_gbk_cannot() {
        assert_eq!(
            Encoding::Gb18030.encode("😀").unwrap().as_ref(),
            b"\x94\x39\xfc\x36"
        );
        assert!(Encoding::Gbk.encode("😀").is_err());
        assert_eq!(
            Encoding::Gb18030.encode("你好").unwrap().as_ref(),
            b"\xc4\xe3\xba\xc3"
        );
    }

    #[test]
    fn encoding_names_are_taken_in_any_case() {
        use clap::ValueEnum;
        for (name, enc) in [
            ("UTF-8", Encoding::Utf8),
            ("utf8", Encoding::Utf8),
            ("UTF8", Encoding::Utf8),
            ("GBK", Encoding::Gbk),
            ("gb18030", Encoding::Gb18030),
            ("GB18030", Encoding::Gb18030),
        ] {
            assert_eq!(Encoding::from_str(name, true), Ok(enc), "{name}");
        }
    }

    #[test]
    fn a_stream_chunk_is_shown_like_a_datagram() {
        let mut gbk = Encoding::Gbk.stream_decoder();
        // The first byte of 你 waits for the second; an invalid byte gets the note.
        assert_eq!(gbk.show(b"\xc4", false), "");
        assert_eq!(gbk.show(b"\xe3\n", false), "你\\n");
        assert_eq!(
            gbk.show(b"\xff", false),
            "\u{fffd} [not valid GBK: shown as \u{fffd}]"
        );
        let mut utf8 = Encoding::Utf8.stream_decoder();
        assert_eq!(utf8.show(b"\xe4\xbd", false), "");
        assert_eq!(
            utf8.show(b"", true),
            "\u{fffd} [not valid UTF-8: shown as \u{fffd}]"
        );
    }

    #[test]
    fn a_capped_chunk_shows_its_start_and_counts_the_rest() {
        // 10 MiB of 0x7f was six times its size in the log: now each chunk costs a bounded line.
        let mut d = Encoding::Utf8.stream_decoder();
        let line = d.show_capped(&[0x7f; 16 * 1024], false, 128);
        assert_eq!(
            line,
            format!("{} \u{2026} (16256 more bytes)", "\\u{7f}".repeat(128))
        );
        // Short chunks are shown whole, as show() shows them.
        assert_eq!(d.show_capped(b"hello\n", false, 128), "hello\\n");
        assert_eq!(d.show_capped(b"abc", false, 3), "abc");
        assert_eq!(
            d.show_capped(b"abcd", false, 3),
            "abc \u{2026} (1 more byte)"
        );
        // A character cut by the cap is left out, and the next chunk still decodes cleanly.
        let nihao = "你好".as_bytes();
        assert_eq!(d.show_capped(nihao, false, 4), "你 \u{2026} (2 more bytes)");
        assert_eq!(d.show_capped("世界".as_bytes(), false, 128), "世界");
        // A cut in the middle of a character of the next chunk: kept across the chunks.
        assert_eq!(
            d.show_capped(&nihao[..4], false, 2),
            " \u{2026} (2 more bytes)"
        );
        assert_eq!(d.show_capped(&nihao[4..], false, 2), "好");
    }

    #[test]
    fn show_decodes_escapes_and_flags_invalid_bytes() {
        assert_eq!(show("你好\n".as_bytes(), Encoding::Utf8), "你好\\n");
        assert_eq!(show(b"\xc4\xe3\xba\xc3", Encoding::Gbk), "你好");
        assert_eq!(
            show(b"\xc4\xe3\xba\xc3", Encoding::Utf8),
            "\u{fffd}\u{fffd}\u{fffd} [not valid UTF-8: shown as \u{fffd}]"
        );
    }

    #[test]
    fn lines_strip_endings_and_survive_invalid_utf8() {
        let input: &[u8] = b"one\r\ntwo\n\xff\xfe\nlast";
        let got: Vec<String> = lines(input).map(Result::unwrap).collect();
        assert_eq!(got, ["one", "two", "\u{fffd}\u{fffd}", "last"]);
        let empty: &[u8] = b"\n";
        assert_eq!(lines(empty).map(Result::unwrap).collect::<Vec<_>>(), [""]);
    }
}
