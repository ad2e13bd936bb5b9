//! `--hexdump`: the bytes on the wire, as `hexdump -C` shows them, on stderr.
//!
//! ```text
//! >> 6 bytes to 127.0.0.1:8080
//! 00000000  e4 bd a0 e5 a5 bd                                 |......|
//! ```

use std::fmt::{Display, Write as _};
use std::io::Write as _;

/// Prints every datagram or chunk sent and received, when enabled (by default, not).
#[derive(Clone, Copy, Debug, Default)]
pub struct Hexdump {
    enabled: bool,
}

impl Hexdump {
    pub fn new(enabled: bool) -> Self {
        Hexdump { enabled }
    }

    /// Shows bytes about to leave for `peer`.
    pub fn sent(&self, peer: impl Display, bytes: &[u8]) {
        // Asked here, not in `show`: off, as it mostly is, costs a test and no call.
        if self.enabled {
            self.show(format_args!(">> {} bytes to {peer}", bytes.len()), bytes);
        }
    }

    /// Shows bytes that arrived from `peer`.
    pub fn received(&self, peer: impl Display, bytes: &[u8]) {
        if self.enabled {
            self.show(format_args!("<< {} bytes from {peer}", bytes.len()), bytes);
        }
    }

    fn show(&self, title: std::fmt::Arguments<'_>, bytes: &[u8]) {
        let text = format!("{title}\n{}", dump(bytes));
        // A server's log lines wait in common::log's queue: the dump waits there too, or it
        // would come out before the `received` line that came first (udp-server, facts41a).
        if crate::log::running() {
            crate::log::eline(format_args!("{}", text.trim_end()));
            return;
        }
        // One write for the whole dump, so that two threads' dumps do not interleave.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// `bytes` in the canonical hex + ASCII layout, sixteen bytes a line, each line ending in `\n`.
fn dump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(16) * 78);
    for (i, line) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x} ", i * 16);
        for col in 0..16 {
            if col == 8 {
                out.push(' ');
            }
            match line.get(col) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        out.extend(line.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hexdump_c() {
        assert_eq!(
            dump("你好".as_bytes()),
            "00000000  e4 bd a0 e5 a5 bd                                 |......|\n"
        );
        assert_eq!(
            dump(b"1:324244:xds:ubuntu:32:hi"),
            "00000000  31 3a 33 32 34 32 34 34  3a 78 64 73 3a 75 62 75  |1:324244:xds:ubu|\n\
             00000010  6e 74 75 3a 33 32 3a 68  69                       |ntu:32:hi|\n"
        );
    }

    #[test]
    fn empty_input_prints_no_lines() {
        assert_eq!(dump(b""), "");
    }

    #[test]
    fn every_byte_value_fits_the_layout() {
        let all: Vec<u8> = (0..=255).collect();
        let out = dump(&all);
        assert_eq!(out.lines().count(), 16);
        assert!(out.lines().all(|l| l.len() == 78), "{out}");
    }
}
