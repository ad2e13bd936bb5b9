//! The loop's end of the channel, which gives the tokens back, holds the server's FIN until
//! the end of piped input, and after our FIN waits for the server no longer than --timeout.

use std::cell::Cell;
use std::io::{self, IsTerminal};
use std::sync::mpsc::{Receiver, RecvError, RecvTimeoutError};
use std::time::Duration;

use crate::Event;

/// The loop's end of the channel; gives each read's token back to `shown`, and each piped
/// line's to `sent`. Once the end of input has gone by (the loop then sends our FIN), the
/// server has --timeout to send its next byte or close: one that does neither would keep the
/// client, and its script, for ever.
///
/// The server's FIN says that it will send nothing more, not that it reads nothing more. A
/// person at a terminal sees it and is done, so it ends the loop at once; but input from a
/// pipe or a file (`printf 'one\ntwo\n' | tcp-client`) is still sent to its end, as `nc`
/// sends it, and the FIN is handed on after it. Against a server that half-closes as soon as
/// it accepts, the FIN often came first, and the client ended with exit status 0 having sent
/// none or part of a script's lines (9 runs in 20).
pub struct Next {
    events: Receiver<Event>,
    shown: Receiver<()>,
    sent: Receiver<()>,
    timeout: Duration,
    fin_sent: Cell<bool>,
    /// Input comes from a pipe or a file, not from a person at a terminal.
    piped: bool,
    /// The server's FIN, held until the end of piped input.
    held_fin: Cell<bool>,
}

impl Next {
    pub fn new(
        events: Receiver<Event>,
        shown: Receiver<()>,
        sent: Receiver<()>,
        timeout: Duration,
    ) -> Next {
        Next {
            events,
            shown,
            sent,
            timeout,
            fin_sent: Cell::new(false),
            piped: !io::stdin().is_terminal(),
            held_fin: Cell::new(false),
        }
    }

    pub fn recv(&self) -> Result<Event, RecvError> {
        if self.fin_sent.get() && self.held_fin.take() {
            return Ok(Event::Closed);
        }
        let event = if !self.fin_sent.get() {
            let event = self.events.recv()?;
            self.fin_sent.set(matches!(event, Event::EndOfInput(_)));
            event
        } else {
            match self.events.recv_timeout(self.timeout) {
                Ok(event) => event,
                // Not ErrorKind::TimedOut, whose hint asks whether the peer is up: it is,
                // and it answered; it only has not closed.
                Err(RecvTimeoutError::Timeout) => Event::Failed(io::Error::other(format!(
                    "the server has sent nothing for {:?} since our FIN, and has not closed",
                    self.timeout
                ))),
                Err(RecvTimeoutError::Disconnected) => return Err(RecvError),
            }
        };
        let _ = match event {
            Event::Received(_) => self.shown.try_recv(),
            Event::Typed(_) => self.sent.try_recv(),
            _ => Ok(()),
        };
        Ok(match event {
            Event::Closed if self.piped && !self.fin_sent.get() => {
                self.held_fin.set(true);
                Event::ServerFin
            }
            event => event,
        })
    }
}
