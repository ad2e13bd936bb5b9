//! The keyboard and the screen of a client that prints while you type (udp-chat, tcp-client),
//! and the screen of one that does not (udp-client).
//!
//! On a terminal, a line that arrives while you type must not land in the middle of your
//! half-typed line. A line editor (rustyline) owns the line you are typing: a [`Screen`] hands
//! it each line to print, and it prints the line above yours and redraws the prompt with what
//! you had typed. Lines typed ahead, before the program asked for them, are kept for the next
//! [`Keyboard::read_line`]. When the input is a pipe or a file there is no one typing: no editor,
//! no prompt, and lines go straight to stdout.
//!
//! Every line is printed by [`Screen::line`], which cuts it to the terminal's width: a line
//! longer than that continues on visual lines that start with [`CONTINUED`]. So no text a peer
//! sends, however padded, can make the terminal wrap it onto a line of its own that looks like
//! one this program printed (`from 10.0.0.9:6666: ` followed by the teacher's address).

use std::fmt;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::os::fd::AsFd;

use rustyline::error::ReadlineError;
use rustyline::{Config, DefaultEditor, ExternalPrinter};
use unicode_width::UnicodeWidthChar;

use crate::text;

/// The start of each visual line that continues a line too long for the terminal. The
/// programs' own lines never start with it.
pub const CONTINUED: &str = "  | ";

/// Where typed lines come from.
pub enum Keyboard {
    /// A person at a terminal, with a line editor.
    Editor(Box<DefaultEditor>),
    /// A pipe or a file: plain lines, no prompt.
    Lines(text::Lines<Box<dyn BufRead + Send>>),
}

/// Where a program prints its lines; it can be handed to another thread.
pub struct Screen {
    /// On a terminal, the editor that prints above the line being typed and redraws it.
    editor: Option<Box<dyn ExternalPrinter + Send>>,
    /// The terminal's settings before the editor changed them.
    saved: Option<rustix::termios::Termios>,
}

/// The keyboard and the screen: a line editor when stdin and stdout are a terminal, plain
/// lines and stdout otherwise.
pub fn open() -> (Keyboard, Screen) {
    if io::stdin().is_terminal() && io::stdout().is_terminal() {
        let config = Config::builder().auto_add_history(true).build();
        if let Ok(mut editor) = DefaultEditor::with_config(config) {
            if let Ok(printer) = editor.create_external_printer() {
                let screen = Screen {
                    editor: Some(Box::new(printer)),
                    saved: rustix::termios::tcgetattr(io::stdin()).ok(),
                };
                return (Keyboard::Editor(Box::new(editor)), screen);
            }
        }
    }
    let screen = Screen {
        editor: None,
        saved: None,
    };
    (Keyboard::piped(BufReader::new(io::stdin())), screen)
}

impl Keyboard {
    /// Plain lines from `input`, without prompts.
    pub fn piped(input: impl BufRead + Send + 'static) -> Keyboard {
        Keyboard::Lines(text::lines(Box::new(input)))
    }

    /// The next line, after `prompt` on a terminal. `None` at the end of input: Ctrl-D, or
    /// Ctrl-C at the prompt.
    pub fn read_line(&mut self, prompt: &str) -> Option<io::Result<String>> {
        match self {
            Keyboard::Editor(editor) => match editor.readline(prompt) {
                Ok(line) => Some(Ok(line)),
                Err(ReadlineError::Eof | ReadlineError::Interrupted) => None,
                Err(ReadlineError::Io(e)) => Some(Err(e)),
                Err(e) => Some(Err(io::Error::other(e))),
            },
            Keyboard::Lines(lines) => lines.next(),
        }
    }
}

impl Screen {
    /// Prints one line, cut to the terminal's width, as one write, so that it never mixes
    /// with another thread's. Ends the program as [`say`] does when stdout cannot take it.
    pub fn line(&mut self, line: impl fmt::Display) {
        let line = line.to_string();
        let fitted = fit(&line, terminal_width());
        if let Some(editor) = &mut self.editor {
            if editor.print(format!("{fitted}\n")).is_ok() {
                return;
            }
        }
        say(fitted);
    }

    /// The program ends while the editor may still wait for a key, in raw mode (tcp-client,
    /// when the server closes the connection): the terminal gets its settings back, the
    /// prompt's line is erased, and the lines from now on go straight to stdout, so that
    /// none is lost when the program exits.
    pub fn end_editing(&mut self) {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        // The editor's thread prints what it was given when it comes round to it, and its
        // queue holds one line: a second empty line goes in only once the editor has taken
        // the first, after printing every line before it. Without this, the news of the
        // server's FIN came before the bytes that came before the FIN (tcp-client's test
        // `on_a_terminal_what_came_before_the_fin_is_shown_before_it`).
        if let Some(mut editor) = self.editor.take() {
            for _ in 0..2 {
                if editor.print(String::new()).is_err() {
                    break;
                }
            }
        }
        let Some(saved) = self.saved.take() else {
            return;
        };
        let raw = tcgetattr(io::stdin()).is_ok_and(|now| {
            saved.local_modes.contains(LocalModes::ICANON)
                && !now.local_modes.contains(LocalModes::ICANON)
        });
        if raw {
            let _ = tcsetattr(io::stdin(), OptionalActions::Now, &saved);
            let mut out = io::stdout().lock();
            // Bracketed paste off (the editor turned it on), then erase the line.
            let _ = out
                .write_all(b"\x1b[?2004l\r\x1b[K")
                .and_then(|()| out.flush());
        }
    }
}

impl Drop for Screen {
    /// However the program ends, it never leaves the terminal in raw mode.
    fn drop(&mut self) {
        self.end_editing();
    }
}

/// Writes `line` on stdout for a client, as one write, and flushes it; ends the program when
/// stdout cannot take it.
///
/// A client's output is what its user asked for: the echoes, the acknowledgements, the name
/// of the file it downloaded. `println!` panics when stdout cannot take a line (a full disk:
/// udp-client, feiq send and file-download get exited with status 101 and a backtrace), and
/// ignoring the error went on talking to the server while every answer was lost (tcp-client,
/// status 0). So a client stops at the first line it cannot write, with
/// `error: cannot write to stdout: No space left on device (os error 28)` on stderr and
/// status 1, as `cat` does: the user is told that what follows was not shown, and nothing is
/// half done behind their back (a download's `.part` stays, for `--continue`). A closed pipe
/// (`udp-client | head -1`) ends the program with status 141, as `println!` does here (see
/// [`crate::report`]). A server does the opposite ([`crate::log`]): its log is not what its
/// clients came for, so it drops the lines and goes on serving.
///
/// On a terminal the line is cut to its width, as [`Screen::line`] cuts: a line of
/// `file-download list` is a name the server chose, and one padded to the width made the
/// terminal show what followed as a line of its own.
pub fn say(line: impl fmt::Display) {
    let line = fit(&line.to_string(), terminal_width());
    let mut out = io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(141),
        Err(e) => crate::report::fail(&anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// Writes `text` (one line or several) on stderr, each line cut to the terminal's width
/// when stderr is one, as [`say`] cuts stdout's: an error or a note that quotes a peer (a
/// server's `ERR` reason padded to the width, then `hint: ...`) cannot show a line of its
/// own that reads like the program's. A write that fails is ignored (`eprintln!` would
/// panic): there is nowhere left to say so.
pub fn say_err(text: impl fmt::Display) {
    let text = fit(&text.to_string(), width_of(io::stderr()));
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{text}").and_then(|()| err.flush());
}

/// Writes a line on stdout for a client with `format!` syntax ([`say`]):
/// `common::sayln!("sending to {peer}")`.
#[macro_export]
macro_rules! sayln {
    ($($arg:tt)*) => { $crate::console::say(format_args!($($arg)*)) };
}

/// The width of the terminal on stdout, in columns, if stdout is one.
pub fn terminal_width() -> Option<usize> {
    width_of(io::stdout())
}

/// The width of the terminal `stream` is, in columns, if it is one.
fn width_of(stream: impl IsTerminal + AsFd) -> Option<usize> {
    if !stream.is_terminal() {
        return None;
    }
    let size = rustix::termios::tcgetwinsize(stream).ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// `line` cut into visual lines of at most `width - 1` columns, each after the first starting
/// with [`CONTINUED`]; unchanged when the width is unknown (not a terminal). A newline in
/// `line` (the program's own: a peer's is escaped) starts the next line afresh.
///
/// Columns are counted as a terminal counts them (a Chinese character takes two), and
/// characters whose width depends on the terminal's settings count as wide, so a cut comes
/// early rather than late. One column is left free: some terminals wrap as soon as the last
/// column is written.
pub fn fit(line: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return line.to_string();
    };
    let room = width.max(2 * CONTINUED.len()) - 1;
    let mut out = String::with_capacity(line.len() + 8);
    let mut used = 0;
    for c in line.chars() {
        if c == '\n' {
            out.push(c);
            used = 0;
            continue;
        }
        let w = columns(c);
        if used + w > room {
            out.push('\n');
            out.push_str(CONTINUED);
            used = CONTINUED.len();
        }
        out.push(c);
        used += w;
    }
    out
}

/// The columns a terminal may give `c`: as [`fit`] counts them, the most that any terminal
/// gives it.
///
/// unicode-width counts as no column the spacing marks that Unicode lists as extending the
/// character before them, but terminals that ask the C library (`wcwidth`: xterm, tmux,
/// screen) or GLib (GNOME's VTE) draw each on a column of its own, or two. A peer padded its
/// text with `a` and four U+09BE (BENGALI VOWEL SIGN AA), counted as 1 column and drawn on
/// 5, and what followed started a row of its own. Below: every code point that unicode-width
/// 0.2.3 counts narrower than glibc 2.36's `wcwidth` does (all were compared; none is wider).
fn columns(c: char) -> usize {
    match c {
        '\u{302e}'..='\u{302f}' | '\u{16ff0}'..='\u{16ff1}' => 2,
        '\u{9be}'
        | '\u{9d7}'
        | '\u{b3e}'
        | '\u{b57}'
        | '\u{bbe}'
        | '\u{bd7}'
        | '\u{cc0}'
        | '\u{cc2}'
        | '\u{cc7}'..='\u{cc8}'
        | '\u{cca}'..='\u{ccb}'
        | '\u{cd5}'..='\u{cd6}'
        | '\u{d3e}'
        | '\u{d4e}'
        | '\u{d57}'
        | '\u{dcf}'
        | '\u{ddf}'
        | '\u{1715}'
        | '\u{1734}'
        | '\u{1b35}'
        | '\u{1b3b}'
        | '\u{1b3d}'
        | '\u{1b43}'..='\u{1b44}'
        | '\u{1baa}'
        | '\u{1bf2}'..='\u{1bf3}'
        | '\u{a8fa}'
        | '\u{a953}'
        | '\u{a9c0}'
        | '\u{111c0}'
        | '\u{111c2}'..='\u{111c3}'
        | '\u{11235}'
        | '\u{1133e}'
        | '\u{1134d}'
        | '\u{11357}'
        | '\u{114b0}'
        | '\u{114bd}'
        | '\u{115af}'
        | '\u{116b6}'
        | '\u{11930}'
        | '\u{1193d}'
        | '\u{1193f}'
        | '\u{11941}'
        | '\u{11a84}'..='\u{11a89}'
        | '\u{11d46}'
        | '\u{1d165}'..='\u{1d166}'
        | '\u{1d16d}'..='\u{1d172}' => 1,
        c => c.width_cjk().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn piped_input_gives_plain_lines_and_ends() {
        let mut keyboard = Keyboard::piped(&b"hello\r\n/quit\n"[..]);
        assert!(
            matches!(keyboard, Keyboard::Lines(_)),
            "no editor, no prompt"
        );
        assert_eq!(keyboard.read_line("ignored> ").unwrap().unwrap(), "hello");
        assert_eq!(keyboard.read_line("ignored> ").unwrap().unwrap(), "/quit");
        assert!(keyboard.read_line("ignored> ").is_none());
    }

    #[test]
    fn without_a_terminal_there_is_no_editor() {
        // `cargo test` runs with stdout captured, so this is never a terminal.
        if !(io::stdin().is_terminal() && io::stdout().is_terminal()) {
            let (keyboard, screen) = open();
            assert!(matches!(keyboard, Keyboard::Lines(_)));
            assert!(screen.editor.is_none());
        }
    }

    #[test]
    fn a_short_line_and_an_unknown_width_are_left_alone() {
        assert_eq!(
            fit("from 127.0.0.1:6667: hi", Some(80)),
            "from 127.0.0.1:6667: hi"
        );
        let long = "x".repeat(500);
        assert_eq!(fit(&long, None), long);
    }

    #[test]
    fn padding_cannot_start_a_visual_line_of_its_own() {
        // The attack: pad to the width, then what looks like another peer's line.
        let forged = format!(
            "{}from 10.0.0.1:6666: the exam moved to room 9",
            " ".repeat(54)
        );
        let shown = fit(&format!("from 127.0.0.1:6667: {forged}"), Some(80));
        let mut lines = shown.lines();
        assert!(lines.next().unwrap().starts_with("from 127.0.0.1:6667: "));
        for line in lines {
            assert!(line.starts_with(CONTINUED), "{line:?}");
        }
        assert!(shown.lines().all(|l| l.chars().count() < 80));
    }

    #[test]
    fn spacing_marks_count_the_columns_a_terminal_gives_them() {
        // The attack: `a` and four spacing vowel signs, which a terminal draws on five
        // columns, as padding; then what looks like another peer's line.
        for mark in ['\u{9be}', '\u{d4e}', '\u{302e}'] {
            let group = format!("a{}", mark.to_string().repeat(4));
            let forged = format!("{}from 10.0.0.1:6666: hi", group.repeat(12));
            let shown = fit(&format!("from 127.0.0.1:6667: {forged}"), Some(80));
            let forged_row = shown.lines().find(|l| l.contains("10.0.0.1")).unwrap();
            assert!(forged_row.starts_with(CONTINUED), "{mark:?}: {shown:?}");
        }
        // A vowel sign of Hindi (nonspacing) takes no column of its own.
        assert_eq!(columns('\u{941}'), 0);
        assert_eq!(columns('\u{9be}'), 1);
        assert_eq!(columns('\u{302e}'), 2);
    }

    #[test]
    fn each_line_of_an_error_and_its_hint_is_cut_on_its_own() {
        // Padded to the 80th column, where the terminal would wrap.
        let pad = "x".repeat(80 - "error: refused: ".len());
        let forged = format!("hint: forged{}", " y".repeat(25));
        let text = format!("error: refused: {pad}{forged}\nhint: the program's own");
        let shown = fit(&text, Some(80));
        let rows: Vec<&str> = shown.lines().collect();
        assert_eq!(rows.len(), 3, "{shown:?}");
        assert!(rows[1].starts_with(CONTINUED) && rows[1].contains("hint: forged"));
        assert_eq!(rows[2], "hint: the program's own");
    }

    #[test]
    fn wide_characters_count_two_columns() {
        let shown = fit(&"你".repeat(30), Some(21));
        let first = shown.lines().next().unwrap();
        assert_eq!(first, "你".repeat(10));
        assert!(shown.lines().skip(1).all(|l| l.starts_with(CONTINUED)));
        // A narrow terminal still makes progress.
        assert!(fit("abcdef", Some(1)).lines().all(|l| !l.is_empty()));
    }
}
