//! The keyboard and the screen of a chat, which two threads share.
//!
//! On a terminal, a message that arrives while you type must not land in the middle of your
//! half-typed line. A line editor (rustyline) owns the line you are typing: the receiving
//! thread hands it each message, and it prints the message above the line and redraws the
//! prompt with what you had typed. When the input is a pipe or a file, there is no one typing:
//! no editor, no prompt, and messages go straight to stdout.

use std::io::{self, BufRead, IsTerminal};

use common::text;
use rustyline::error::ReadlineError;
use rustyline::{Config, DefaultEditor, ExternalPrinter};

/// Where typed lines come from.
pub enum Keyboard {
    /// A person at a terminal, with a line editor.
    Editor(Box<DefaultEditor>),
    /// A pipe or a file: plain lines, no prompt.
    Lines(text::Lines<Box<dyn BufRead>>),
}

/// Where the receiving thread prints.
pub enum Screen {
    /// Above the line being typed, which the editor then redraws.
    AboveTheLine(Box<dyn ExternalPrinter + Send>),
    Stdout,
}

/// The keyboard and the screen: a line editor when stdin and stdout are a terminal,
/// plain lines and stdout otherwise.
pub fn open() -> (Keyboard, Screen) {
    if io::stdin().is_terminal() && io::stdout().is_terminal() {
        let config = Config::builder().auto_add_history(true).build();
        if let Ok(mut editor) = DefaultEditor::with_config(config) {
            if let Ok(printer) = editor.create_external_printer() {
                return (
                    Keyboard::Editor(Box::new(editor)),
                    Screen::AboveTheLine(Box::new(printer)),
                );
            }
        }
    }
    (Keyboard::piped(io::stdin().lock()), Screen::Stdout)
}

impl Keyboard {
    /// Plain lines from `input`, without prompts.
    pub fn piped(input: impl BufRead + 'static) -> Keyboard {
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
    /// Prints one line, as one write, so that it never mixes with another thread's.
    pub fn print(&mut self, line: String) {
        match self {
            Screen::AboveTheLine(printer) => {
                if printer.print(format!("{line}\n")).is_err() {
                    println!("{line}");
                }
            }
            Screen::Stdout => println!("{line}"),
        }
    }
}

/// The prompt: who a plain line goes to.
pub fn prompt(peer: Option<std::net::SocketAddr>) -> String {
    match peer {
        Some(peer) => format!("to {peer}> "),
        None => "(no peer: /peer ADDR)> ".to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_prompt_names_the_peer() {
        let peer = "127.0.0.1:6667".parse().ok();
        assert_eq!(prompt(peer), "to 127.0.0.1:6667> ");
        assert_eq!(prompt(None), "(no peer: /peer ADDR)> ");
    }

    #[test]
    fn piped_input_gives_plain_lines_and_ends() {
        let mut keyboard = Keyboard::piped(&b"hello\r\n/quit\n"[..]);
        assert!(
            matches!(keyboard, Keyboard::Lines(_)),
            "no editor, so no prompt"
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
            assert!(matches!(screen, Screen::Stdout));
        }
    }
}
