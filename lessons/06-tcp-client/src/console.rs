//! The client's output and its prompt: `> ` before each line you type, on a terminal only.
//!
//! Two threads print: the main one (what it sends, the end of input) and the reader (what
//! arrives). A line that arrives while the prompt is shown would land after `> `, so the
//! prompt is erased first and drawn again after the line. (What you had half typed stays in
//! the terminal's line buffer, and is sent when you press Enter, but it is no longer shown: a
//! line editor such as rustyline redraws it too.)

use std::fmt;
use std::io::{self, IsTerminal, Stdout, Write};
use std::sync::{Mutex, PoisonError};

const PROMPT: &str = "> ";
/// Carriage return, then "erase to the end of the line" (ANSI `EL`): the prompt disappears.
const ERASE_LINE: &str = "\r\x1b[K";

/// Where the client prints, shared by its two threads.
pub struct Console<W: Write> {
    out: Mutex<Screen<W>>,
}

struct Screen<W> {
    out: W,
    /// A prompt is shown only when a person types and reads: stdin and stdout are terminals.
    prompting: bool,
    /// The prompt is on the screen now, with the cursor after it.
    prompt_shown: bool,
}

impl Console<Stdout> {
    /// Standard output, with a prompt if stdin and stdout are both terminals. Piped (a test,
    /// a script, `printf ... |`), the output is exactly the events, one per line.
    pub fn stdout() -> Console<Stdout> {
        Console::new(
            io::stdout(),
            io::stdin().is_terminal() && io::stdout().is_terminal(),
        )
    }
}

impl<W: Write> Console<W> {
    pub fn new(out: W, prompting: bool) -> Console<W> {
        Console {
            out: Mutex::new(Screen {
                out,
                prompting,
                prompt_shown: false,
            }),
        }
    }

    /// Shows the prompt before a line is read from stdin.
    pub fn prompt(&self) {
        let mut screen = self.lock();
        if screen.prompting && !screen.prompt_shown {
            screen.prompt_shown = true;
            screen.write(format_args!("{PROMPT}"));
        }
    }

    /// A line was typed: Enter moved the cursor to a new, empty line, so the prompt is no
    /// longer on the screen, and the next [`Console::prompt`] draws it again.
    pub fn typed(&self) {
        self.lock().prompt_shown = false;
    }

    /// Prints one line, keeping the prompt (if any) below it.
    pub fn line(&self, line: impl fmt::Display) {
        let mut screen = self.lock();
        let redraw = std::mem::take(&mut screen.prompt_shown);
        let erase = if redraw { ERASE_LINE } else { "" };
        screen.write(format_args!("{erase}{line}\n"));
        if redraw {
            screen.prompt_shown = true;
            screen.write(format_args!("{PROMPT}"));
        }
    }

    /// No more input: the prompt goes, and does not come back.
    pub fn end_of_input(&self) {
        let mut screen = self.lock();
        if std::mem::take(&mut screen.prompt_shown) {
            screen.write(format_args!("{ERASE_LINE}"));
        }
        screen.prompting = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Screen<W>> {
        // A thread that panicked while printing left nothing half done that matters here.
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .out
    }
}

impl<W: Write> Screen<W> {
    /// Writes and flushes: a prompt has no newline to flush it. Output that cannot be
    /// written (a closed pipe) is not worth stopping the connection for.
    fn write(&mut self, what: fmt::Arguments<'_>) {
        let _ = self.out.write_fmt(what).and_then(|()| self.out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(prompting: bool, steps: impl FnOnce(&Console<Vec<u8>>)) -> String {
        let console = Console::new(Vec::new(), prompting);
        steps(&console);
        String::from_utf8(console.into_inner()).unwrap_or_default()
    }

    fn session(console: &Console<Vec<u8>>) {
        console.line("connected");
        console.prompt();
        console.line("received 6 bytes: hello\\n");
        console.prompt();
        console.end_of_input();
        console.line("end of input");
    }

    #[test]
    fn piped_output_is_the_events_only() {
        assert_eq!(
            shown(false, session),
            "connected\nreceived 6 bytes: hello\\n\nend of input\n"
        );
    }

    #[test]
    fn a_typed_line_gets_a_new_prompt_even_when_nothing_arrives() {
        let typed_twice = |console: &Console<Vec<u8>>| {
            console.prompt();
            console.typed();
            console.prompt();
            console.typed();
            console.prompt();
        };
        assert_eq!(shown(true, typed_twice), "> > > ");
        assert_eq!(shown(false, typed_twice), "");
    }

    #[test]
    fn on_a_terminal_the_prompt_stays_below_what_arrives() {
        assert_eq!(
            shown(true, session),
            "connected\n> \r\x1b[Kreceived 6 bytes: hello\\n\n> \r\x1b[Kend of input\n"
        );
    }
}
