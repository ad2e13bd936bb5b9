//! Runs lesson binaries as processes, the way a user runs them, and waits for what they print.
//!
//! A [`Scene`] holds every process of one test or demo. Each line a process prints arrives on
//! one channel, in the order it was printed, so a scene can wait for "the server printed its
//! ready line" or "the client printed the reply" instead of sleeping, and every wait has a
//! timeout, so a hang fails instead of blocking. When a scene is dropped, every process in it
//! is killed and reaped, on every path, panics included.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

/// One line a process printed, without its newline.
#[derive(Clone, Debug)]
pub struct Line {
    pub proc: usize,
    pub stream: Stream,
    pub text: String,
}

/// A process of a scene, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc(pub usize);

enum Event {
    Line(Line),
    Closed(usize),
}

struct Running {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Lines not yet passed over by an expect, one queue per stream: the order of lines
    /// within a stream is meaningful, the order between stdout and stderr is not.
    unread: [VecDeque<Line>; 2],
    open_streams: u8,
    status: Option<ExitStatus>,
}

type Echo = Box<dyn FnMut(&str, &Line)>;

/// The processes of one test or demo, and everything they printed.
pub struct Scene {
    procs: Vec<Running>,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    log: Vec<Line>,
    timeout: Duration,
    echo: Option<Echo>,
}

/// Why a scene step failed, with the transcript of every process so far.
pub struct Failure {
    what: String,
    transcript: String,
}

impl Failure {
    /// A failure outside any scene, without a transcript.
    pub fn new(what: impl Into<String>) -> Failure {
        Failure {
            what: what.into(),
            transcript: String::new(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n--- transcript ---\n{}", self.what, self.transcript)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Failure {}

impl Default for Scene {
    fn default() -> Self {
        Self::new()
    }
}

impl Scene {
    /// A scene whose waits time out after 15 s (`TESTKIT_TIMEOUT_SECS` overrides): long
    /// enough for a loaded CI machine, short enough that a hang is noticed.
    pub fn new() -> Scene {
        let secs = std::env::var("TESTKIT_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(15);
        let (tx, rx) = mpsc::channel();
        Scene {
            procs: Vec::new(),
            tx,
            rx,
            log: Vec::new(),
            timeout: Duration::from_secs(secs),
            echo: None,
        }
    }

    /// Calls `echo` with each line as soon as it arrives (a demo prints them).
    pub fn echo(mut self, echo: impl FnMut(&str, &Line) + 'static) -> Scene {
        self.echo = Some(Box::new(echo));
        self
    }

    /// Sets how long each wait may take.
    pub fn timeout(mut self, timeout: Duration) -> Scene {
        self.timeout = timeout;
        self
    }

    /// Starts `cmd` with piped stdin, stdout and stderr.
    pub fn spawn(&mut self, label: &str, mut cmd: Command) -> Result<Proc, Failure> {
        let id = self.procs.len();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.fail(format!("cannot start {label} ({cmd:?}): {e}")))?;
        if let Some(out) = child.stdout.take() {
            forward(id, Stream::Stdout, out, self.tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward(id, Stream::Stderr, err, self.tx.clone());
        }
        self.procs.push(Running {
            label: label.to_string(),
            stdin: child.stdin.take(),
            child,
            unread: [VecDeque::new(), VecDeque::new()],
            open_streams: 2,
            status: None,
        });
        Ok(Proc(id))
    }

    /// Starts `cmd` and waits for its ready line: a lesson that binds, as a user starts it.
    pub fn start(&mut self, label: &str, cmd: Command) -> Result<(Proc, SocketAddr), Failure> {
        let p = self.spawn(label, cmd)?;
        let addr = self.ready(p)?;
        Ok((p, addr))
    }

    /// Waits for the ready line, the first on stdout: `listening on ADDR (udp|tcp)` from a
    /// server, `bound to ADDR (udp|tcp)` from a client. Returns ADDR.
    pub fn ready(&mut self, p: Proc) -> Result<SocketAddr, Failure> {
        let line = self.expect_on(p, Stream::Stdout, "")?;
        let addr = ["listening on ", "bound to "]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|a| a.parse().ok());
        addr.ok_or_else(|| self.fail(format!("not a ready line: {line:?}")))
    }

    /// Waits for the next line of `p`, on either stream, that contains `needle`.
    pub fn expect(&mut self, p: Proc, needle: &str) -> Result<String, Failure> {
        self.wait_line(p, None, needle)
    }

    /// Waits for the next line of `p` on `stream` that contains `needle`.
    pub fn expect_on(&mut self, p: Proc, stream: Stream, needle: &str) -> Result<String, Failure> {
        self.wait_line(p, Some(stream), needle)
    }

    fn wait_line(
        &mut self,
        p: Proc,
        stream: Option<Stream>,
        needle: &str,
    ) -> Result<String, Failure> {
        let deadline = Instant::now() + self.timeout;
        let queues = match stream {
            Some(s) => vec![s as usize],
            None => vec![Stream::Stdout as usize, Stream::Stderr as usize],
        };
        loop {
            let running = self.proc_mut(p)?;
            for &q in &queues {
                let queue = &mut running.unread[q];
                if let Some(i) = queue.iter().position(|l| l.text.contains(needle)) {
                    // Lines of this stream before the match are passed over: the next
                    // expect on it starts after the match.
                    let line = queue.drain(..=i).next_back();
                    return Ok(line.map(|l| l.text).unwrap_or_default());
                }
            }
            if self.proc_mut(p)?.open_streams == 0 {
                let label = self.label(p);
                return Err(self.fail(format!("{label} ended without printing {needle:?}")));
            }
            if !self.pump(deadline) {
                let label = self.label(p);
                return Err(self.fail(format!(
                    "timed out after {:?} waiting for {label} to print {needle:?}",
                    self.timeout
                )));
            }
        }
    }

    /// Writes `line` and a newline to the stdin of `p`.
    pub fn send_line(&mut self, p: Proc, line: &str) -> Result<(), Failure> {
        self.send_bytes(p, format!("{line}\n").as_bytes())
    }

    /// Writes raw bytes to the stdin of `p`.
    pub fn send_bytes(&mut self, p: Proc, bytes: &[u8]) -> Result<(), Failure> {
        let label = self.label(p);
        let result = match self.proc_mut(p)?.stdin.as_mut() {
            Some(stdin) => stdin.write_all(bytes).and_then(|()| stdin.flush()),
            None => Err(io::Error::other("stdin already closed")),
        };
        result.map_err(|e| self.fail(format!("cannot write to {label}'s stdin: {e}")))
    }

    /// Closes the stdin of `p`: the process reads EOF.
    pub fn close_stdin(&mut self, p: Proc) -> Result<(), Failure> {
        self.proc_mut(p)?.stdin = None;
        Ok(())
    }

    /// Waits for `p` to exit, reading all it prints, and returns its exit status.
    pub fn wait(&mut self, p: Proc) -> Result<ExitStatus, Failure> {
        let deadline = Instant::now() + self.timeout;
        while self.proc_mut(p)?.open_streams > 0 {
            if !self.pump(deadline) {
                let label = self.label(p);
                return Err(self.fail(format!(
                    "timed out after {:?} waiting for {label} to exit",
                    self.timeout
                )));
            }
        }
        // Both pipes are closed, so the process has exited or is about to.
        let label = self.label(p);
        let running = self.proc_mut(p)?;
        let status = running.child.wait();
        running.status = status.as_ref().ok().copied();
        status.map_err(|e| self.fail(format!("cannot reap {label}: {e}")))
    }

    /// Waits for `p` to exit with status 0.
    pub fn wait_success(&mut self, p: Proc) -> Result<(), Failure> {
        let status = self.wait(p)?;
        if status.success() {
            Ok(())
        } else {
            let label = self.label(p);
            Err(self.fail(format!("{label} exited with {status}")))
        }
    }

    /// Stops `p` (SIGKILL) and reaps it.
    pub fn kill(&mut self, p: Proc) -> Result<(), Failure> {
        let running = self.proc_mut(p)?;
        let _ = running.child.kill();
        self.wait(p).map(|_| ())
    }

    /// The operating system's process id of `p`.
    pub fn pid(&self, p: Proc) -> Option<u32> {
        self.procs.get(p.0).map(|r| r.child.id())
    }

    /// Every line `p` printed so far on `stream`, in order.
    pub fn output(&self, p: Proc, stream: Stream) -> Vec<String> {
        self.log
            .iter()
            .filter(|l| l.proc == p.0 && l.stream == stream)
            .map(|l| l.text.clone())
            .collect()
    }

    /// A failure of the scene, with the transcript so far.
    pub fn fail(&self, what: impl Into<String>) -> Failure {
        let mut transcript = String::new();
        for line in &self.log {
            let label = self.procs.get(line.proc).map_or("?", |r| r.label.as_str());
            let stream = match line.stream {
                Stream::Stdout => "out",
                Stream::Stderr => "err",
            };
            transcript.push_str(&format!("{label} {stream} | {}\n", line.text));
        }
        Failure {
            what: what.into(),
            transcript,
        }
    }

    /// Receives one event, or returns false at the deadline.
    fn pump(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(Event::Line(line)) => {
                if let Some(echo) = self.echo.as_mut() {
                    let label = self.procs.get(line.proc).map_or("?", |r| r.label.as_str());
                    echo(label, &line);
                }
                if let Some(running) = self.procs.get_mut(line.proc) {
                    running.unread[line.stream as usize].push_back(line.clone());
                }
                self.log.push(line);
                true
            }
            Ok(Event::Closed(id)) => {
                if let Some(running) = self.procs.get_mut(id) {
                    running.open_streams = running.open_streams.saturating_sub(1);
                }
                true
            }
            // The scene holds a sender itself, so the channel never disconnects.
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        }
    }

    fn proc_mut(&mut self, p: Proc) -> Result<&mut Running, Failure> {
        if p.0 < self.procs.len() {
            Ok(&mut self.procs[p.0])
        } else {
            Err(self.fail(format!("no process {}", p.0)))
        }
    }

    fn label(&self, p: Proc) -> String {
        self.procs
            .get(p.0)
            .map_or_else(|| format!("process {}", p.0), |r| r.label.clone())
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        for running in &mut self.procs {
            running.stdin = None;
            if running.status.is_none() {
                let _ = running.child.kill();
                let _ = running.child.wait();
            }
        }
    }
}

fn forward(id: usize, stream: Stream, pipe: impl Read + Send + 'static, tx: Sender<Event>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        buf.pop();
                    }
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let line = Line {
                        proc: id,
                        stream,
                        text,
                    };
                    if tx.send(Event::Line(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Event::Closed(id));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn waits_for_lines_in_order_and_reaps() {
        let mut s = Scene::new();
        let p = s
            .spawn(
                "sh",
                sh("echo 'listening on 127.0.0.1:9 (udp)'; read x; echo got $x; echo oops >&2"),
            )
            .unwrap();
        assert_eq!(s.ready(p).unwrap(), "127.0.0.1:9".parse().unwrap());
        s.send_line(p, "hello").unwrap();
        assert_eq!(s.expect(p, "got").unwrap(), "got hello");
        assert_eq!(s.expect_on(p, Stream::Stderr, "oops").unwrap(), "oops");
        assert!(s.wait(p).unwrap().success());
    }

    #[test]
    fn a_line_that_never_comes_fails_with_the_transcript() {
        let mut s = Scene::new().timeout(Duration::from_millis(300));
        let p = s.spawn("cat", Command::new("cat")).unwrap();
        s.send_line(p, "something else").unwrap();
        let err = s.expect(p, "never").unwrap_err().to_string();
        assert!(err.contains("timed out"), "{err}");
        assert!(err.contains("cat out | something else"), "{err}");
    }

    #[test]
    fn a_process_that_exits_ends_the_wait_at_once() {
        let mut s = Scene::new();
        let p = s.spawn("true", Command::new("true")).unwrap();
        let err = s.expect(p, "anything").unwrap_err().to_string();
        assert!(err.contains("ended without printing"), "{err}");
    }
}
