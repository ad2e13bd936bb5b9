//! A program on a terminal: script(1) runs it on a pseudo-terminal of 80 columns, what the
//! test writes is typed on that terminal, and what the program shows (escape sequences and
//! all) is read back. For the clients' prompt and line editor, which only a terminal gets.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// A program running on a terminal, killed when dropped.
pub struct Pty {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Receiver<Vec<u8>>,
    shown: Vec<u8>,
}

impl Pty {
    /// Runs `program` with `args` on a terminal of 80 columns. `None` when script(1) is
    /// missing (the caller says the test is skipped).
    pub fn spawn(program: &str, args: &[&str]) -> Option<Pty> {
        Command::new("script").arg("--version").output().ok()?;
        let line = std::iter::once(program)
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args([
                "-qfec",
                &format!("stty cols 80 rows 24; exec {line}"),
                "/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take()?;
        let (tx, output) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Some(Pty {
            child,
            stdin,
            output,
            shown: Vec::new(),
        })
    }

    /// Types `keys` on the terminal (`\r` is Enter, `\x04` Ctrl-D).
    pub fn type_keys(&mut self, keys: &str) {
        if let Some(stdin) = &mut self.stdin {
            let _ = stdin
                .write_all(keys.as_bytes())
                .and_then(|()| stdin.flush());
        }
    }

    /// Waits, 10 s at most, until everything shown so far contains `needle`; returns it all.
    pub fn wait_for(&mut self, needle: &str) -> Result<String, String> {
        match self.wait_for_from(needle, 0) {
            Ok(_) => Ok(self.shown()),
            Err(_) => Err(format!("{needle:?} never shown; shown: {:?}", self.shown())),
        }
    }

    /// Waits, 10 s at most, until `needle` is shown at or after byte `from` of everything
    /// shown; returns where it ends. Only what came since the last look is searched, so it
    /// stays cheap when the program shows megabytes (a server flooding a client).
    pub fn wait_for_from(&mut self, needle: &str, from: usize) -> Result<usize, String> {
        let (needle, deadline) = (needle.as_bytes(), Instant::now() + Duration::from_secs(10));
        let mut start = from;
        loop {
            if let Some(at) = self
                .shown
                .get(start..)
                .and_then(|tail| tail.windows(needle.len()).position(|w| w == needle))
            {
                return Ok(start + at + needle.len());
            }
            start = start.max(self.shown.len().saturating_sub(needle.len()));
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.shown.extend(bytes),
                Err(_) => return Err(format!("{needle:?} never shown after byte {from}")),
            }
        }
    }

    /// Waits, 10 s at most, until the program ends; returns everything it showed.
    pub fn wait_for_end(&mut self) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.shown.extend(bytes),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(self.shown()),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("never ended; shown: {:?}", self.shown()));
                }
            }
        }
    }

    /// Everything shown so far.
    pub fn shown(&self) -> String {
        String::from_utf8_lossy(&self.shown).into_owned()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // The program first: it runs in a session of its own, which script(1) made, and the
        // SIGHUP it gets when script's end of the terminal closes does not end it if SIGHUP
        // was ignored when the tests started (as under `nohup`): then it ran on, writing to
        // a terminal gone, once for every test on a terminal.
        let pid = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
        for child in children.unwrap_or_default().split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", child]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
