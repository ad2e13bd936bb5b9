//! What a scene showed, as lines for the terminal and the book.
//!
//! A line is `LABEL MARK TEXT`: `$` a command the scene started, `>` a line it typed, `│` a
//! line the program printed on stdout, `!` on stderr. For the book, whatever differs from run
//! to run is made stable ([`for_the_book`]), so that regenerating the transcripts changes nothing.

use std::collections::HashMap;

use common::text::printable;
use regex::{Captures, Regex};
use testkit::{Kind, Shown};

/// One entry as a line, labelled and marked (`[Enter]` or `[Ctrl-D]` where nothing was typed).
pub fn line(entry: &Shown) -> String {
    let text = entry.text.clone();
    let (mark, text) = match entry.kind {
        Kind::Started => ('$', text),
        Kind::Typed if text.is_empty() => ('>', "[Enter]".into()),
        // A typed escape sequence is shown as the lessons show a peer's, not obeyed by the terminal.
        Kind::Typed => ('>', printable(&text).into_owned()),
        Kind::EndOfInput => ('>', "[Ctrl-D]".into()),
        Kind::Stdout => ('│', text),
        Kind::Stderr => ('!', text),
    };
    let line = format!("{:>11} {mark} {text}", entry.label);
    line.trim_end().to_string()
}

/// A whole transcript for the book: each entry's [`line()`], with what differs between runs
/// made stable:
/// - a port the OS chose, after `127.0.0.1:`, `[::1]:` or in Python's `('127.0.0.1', 45098)`,
///   and then as a bare number typed or given as an argument, becomes 50001, 50002, ... in
///   order of first appearance, so one port keeps one number (port 0 stays: it was typed);
/// - a packet number of seven digits or more (feiq's come from the clock), likewise: 1000001...;
/// - a duration (`40.27µs`, `0.01s`) or a rate (`12.5` before `MB/s`) becomes `…`;
/// - a scratch directory `/tmp/socket-lessons-XXXXXX` loses its random part.
pub fn for_the_book(shown: &[Shown]) -> anyhow::Result<String> {
    let host_port = Regex::new(r"(127\.0\.0\.1:|\[::1\]:|\('127\.0\.0\.1', )([0-9]+)")?;
    // A duration (`40.27µs`, `0.01s`, `1.2ms,`) or a decimal number, not an address.
    let timing = Regex::new(r"^(?:[0-9.]+(?:µs|ms|ns|s)|[0-9]*\.[0-9]*)([,;:]*)$")?;
    let scratch = std::env::temp_dir().join("socket-lessons-");
    let scratch = Regex::new(&(regex::escape(&scratch.to_string_lossy()) + "[A-Za-z0-9]*"))?;
    let (mut ports, mut packets) = (HashMap::new(), HashMap::new());
    let mut out = String::new();
    for entry in shown {
        let text = line(entry);
        let text = scratch.replace_all(&text, "/tmp/socket-lessons");
        let text = host_port.replace_all(&text, |c: &Captures| match &c[2] {
            "0" => c[0].to_string(),
            port => format!("{}{}", &c[1], number(&mut ports, port, 50_001)),
        });
        let typed = matches!(entry.kind, Kind::Started | Kind::Typed);
        let mut words: Vec<String> = Vec::new();
        for word in text.split(' ') {
            let packet = words.last().is_some_and(|w| w == "packet");
            let word = if typed && ports.contains_key(word) {
                number(&mut ports, word, 50_001)
            } else if packet && word.len() >= 7 && word.chars().all(|c| c.is_ascii_digit()) {
                number(&mut packets, word, 1_000_001)
            } else {
                timing.replace(word, "…${1}").into_owned()
            };
            words.push(word);
        }
        out += &(words.join(" ") + "\n");
    }
    Ok(out)
}

/// The stable number of `value`: `first` for the first value seen, and so on.
fn number(seen: &mut HashMap<String, usize>, value: &str, first: usize) -> String {
    let next = first + seen.len();
    seen.entry(value.to_string()).or_insert(next).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_differs_between_runs_is_made_stable() {
        let tmp = std::env::temp_dir().join("socket-lessons-Xy12Zq/root");
        let serving = format!("serving {}", tmp.display());
        #[rustfmt::skip]
        let run = [
            ("server", Kind::Started, "udp-server --bind 127.0.0.1:0"),
            ("server", Kind::Stdout, "listening on 127.0.0.1:39257 (udp)"),
            ("seed", Kind::Started, "python3 -u udp_client.py 127.0.0.1 39257"),
            ("seed", Kind::Stdout, "('127.0.0.1', 51779)"),
            ("seed", Kind::Typed, "51779"),
            ("seed", Kind::Typed, "\u{1b}[2J来自 'it'"),
            ("client", Kind::Stdout, "from [::1]:39257 got 51779 bytes"),
            ("send", Kind::Stdout, "sent packet 1795742171 to 127.0.0.1:39257"),
            ("send", Kind::Stdout, "packet 1795742171 acknowledged, packet 324244 not"),
            ("get", Kind::Stdout, "19 bytes in 40.27µs, 12.5 MB/s; 3 files"),
            ("serve", Kind::Stdout, &serving),
            ("client", Kind::Typed, ""),
            ("client", Kind::EndOfInput, ""),
        ]
        .map(|(label, kind, text)| Shown { label: label.into(), kind, text: text.into() });
        let want = "     server $ udp-server --bind 127.0.0.1:0
     server │ listening on 127.0.0.1:50001 (udp)
       seed $ python3 -u udp_client.py 127.0.0.1 50001
       seed │ ('127.0.0.1', 50002)
       seed > 50002
       seed > \\u{1b}[2J来自 'it'
     client │ from [::1]:50001 got 51779 bytes
       send │ sent packet 1000001 to 127.0.0.1:50001
       send │ packet 1000001 acknowledged, packet 324244 not
        get │ 19 bytes in …, … MB/s; 3 files
      serve │ serving /tmp/socket-lessons/root
     client > [Enter]
     client > [Ctrl-D]
";
        assert_eq!(for_the_book(&run).unwrap(), want);
    }
}
