//! Byte sizes as people read and type them, and a transfer's progress.
//!
//! ```text
//! amount(200)            200 bytes
//! amount(1_000_000)      976 KiB
//! amount(2 << 30)        2048 MiB
//! parse_size("16K")      16384          (K, M, G: powers of 1024; no suffix: bytes)
//! ```

use std::io::{self, IsTerminal};
use std::time::Duration;

use crate::text::count;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A number of bytes as people read it: exact while small, then in whole KiB, MiB or GiB.
pub fn amount(bytes: u64) -> String {
    if bytes < 10 * KIB {
        count(bytes, "byte", "bytes")
    } else if bytes < 10 * MIB {
        format!("{} KiB", bytes / KIB)
    } else if bytes < 10 * GIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} GiB", bytes / GIB)
    }
}

/// The end of a transfer's final line: `200 bytes in 1.2ms`, or for a large one
/// `1024 MiB in 3.1s, 330 MiB/s`; and how much of it came now, after a resume.
pub fn summary(size: u64, received: u64, took: Duration) -> String {
    let mut text = format!("{} in {took:.1?}", amount(size));
    // A rate means something only for a transfer long enough to measure.
    if received >= 10 * MIB {
        let rate = received as f64 / took.as_secs_f64().max(1e-9);
        text.push_str(&format!(", {}/s", amount(rate as u64)));
    }
    if received < size {
        text.push_str(&format!(" ({} of it now)", amount(received)));
    }
    text
}

/// Parses a size typed on the command line: a number of bytes, or with `K`, `M` or `G`
/// (powers of 1024, `KiB` and `k` accepted too). For clap's `value_parser`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a size (a number of bytes, or with K, M or G)"))?;
    let unit = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => KIB,
        "M" | "MB" | "MIB" => MIB,
        "G" | "GB" | "GIB" => GIB,
        _ => {
            return Err(format!(
                "'{s}': the unit is one of K, M, G (or none, for bytes)"
            ));
        }
    };
    number
        .checked_mul(unit)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// A progress bar on stderr while a transfer runs, shown only to a person (stderr is a
/// terminal), never in a pipe or a log.
pub struct Progress(indicatif::ProgressBar);

impl Progress {
    /// A bar for a transfer of `size` bytes of which `done` are already there.
    pub fn new(size: u64, done: u64) -> Progress {
        if !io::stderr().is_terminal() {
            return Progress(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new(size).with_position(done);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bytes}/{total_bytes} {wide_bar} {bytes_per_sec}, {eta} left",
        ) {
            bar.set_style(style);
        }
        Progress(bar)
    }

    pub fn add(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_well_small_and_large() {
        assert_eq!(amount(1), "1 byte");
        assert_eq!(amount(10 * KIB - 1), "10239 bytes");
        assert_eq!(amount(10 * KIB), "10 KiB");
        assert_eq!(amount(30 << 30), "30 GiB");
    }

    #[test]
    fn the_final_line_reads_well_for_small_and_large_files() {
        let ms = Duration::from_millis(2);
        assert_eq!(summary(1, 1, ms), "1 byte in 2.0ms");
        assert_eq!(summary(200, 200, ms), "200 bytes in 2.0ms");
        assert_eq!(
            summary(1_000_000, 700_000, ms),
            "976 KiB in 2.0ms (683 KiB of it now)"
        );
        let gib = 2 << 30;
        assert_eq!(
            summary(gib, gib, Duration::from_secs(4)),
            "2048 MiB in 4.0s, 512 MiB/s"
        );
    }

    #[test]
    fn sizes_parse_with_units_and_refuse_nonsense_with_a_reason() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("16K"), Ok(16 * KIB));
        assert_eq!(parse_size("16 KiB"), Ok(16 * KIB));
        assert_eq!(parse_size("3m"), Ok(3 * MIB));
        assert_eq!(parse_size("2G"), Ok(2 * GIB));
        for bad in [
            "",
            "K",
            "-1",
            "1.5M",
            "3T",
            "99999999999999999999",
            "9999999999999G",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
