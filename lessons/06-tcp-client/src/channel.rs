//! The loop's end of the channel, which gives the tokens back and, after our FIN, waits for
//! the server no longer than --timeout.

use std::cell::Cell;
use std::io;
use std::sync::mpsc::{Receiver, RecvError, RecvTimeoutError};
use std::time::Duration;

use crate::Event;

/// The loop's end of the channel; gives each read's token back to `shown`, and each piped
/// line's to `sent`. Once the end of input has gone by (the loop then sends our FIN), the
/// server has --timeout to send its next byte or close: one that does neither would keep the
/// client, and its script, for ever.
pub struct Next {
    events: Receiver<Event>,
    shown: Receiver<()>,
    sent: Receiver<()>,
    timeout: Duration,
    fin_sent: Cell<bool>,
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
        }
    }

    pub fn recv(&self) -> Result<Event, RecvError> {
        let event = if !self.fin_sent.get() {
            let event = self.events.recv()?;
            self.fin_sent.set(matches!(event, Event::EndOfInput(_)));
            event
        } else {
            match self.events.recv_timeout(self.timeout) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => Event::Failed(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the server has sent nothing for {:?} since our FIN, and has not closed",
                        self.timeout
                    ),
                )),
                Err(RecvTimeoutError::Disconnected) => return Err(RecvError),
            }
        };
        let _ = match event {
            Event::Received(_) => self.shown.try_recv(),
            Event::Typed(_) => self.sent.try_recv(),
            _ => Ok(()),
        };
        Ok(event)
    }
}
