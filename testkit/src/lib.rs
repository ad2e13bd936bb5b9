//! Runs lesson binaries as processes, the way a user runs them, and waits for what they print.
//!
//! A [`Scene`] holds every process of one test or demo. Each line a process prints arrives on
//! one channel, in the order it was printed, so a scene can wait for "the server printed its
//! ready line" or "the client printed the reply" instead of sleeping, and every wait has a
//! timeout, so a hang fails instead of blocking. When a scene is dropped, every process in it
//! is killed and reaped, on every path, panics included.
//!
//! A scene also keeps what it [`shows`](Scene::shown): the commands it started, the lines it
//! typed, and each printed line at the moment the script reaches it (an `expect` that matches
//! it or passes over it, or the process's exit). Two processes' lines arrive through two pipes
//! in either order; shown in the order the script waits for them, a cause always comes before
//! its effect, and a rerun shows the same lines in the same order.

mod busy;
pub mod echo;
mod echo_suite;
pub mod fdlimit;
pub mod free_port;
pub mod full_disk;
pub mod netns;
pub mod pty;
pub mod screen_flood;
pub mod udp;
pub mod unread_log;

pub use busy::BusyPort;

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// `len` bytes that are not text and differ everywhere, so that a shifted or repeated piece of
/// a copy cannot go unnoticed (xorshift).
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x >> 24) as u8
    };
    (0..len).map(|_| next()).collect()
}

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

/// One entry of what a scene shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// The label of the process it concerns.
    pub label: String,
    pub kind: Kind,
    /// The command line, the typed line, or the printed line.
    pub text: String,
}

/// What a [`Shown`] entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The scene started the process with this command line.
    Started,
    /// The scene typed this line into the process's stdin.
    Typed,
    /// The scene closed the process's stdin (Ctrl-D on a terminal).
    EndOfInput,
    /// The process printed this line on stdout.
    Stdout,
    /// The process printed this line on stderr.
    Stderr,
}

enum Event {
    Line(Line),
    /// A stream of a process ended (its reader thread met EOF then).
    Closed(usize, Instant),
}

struct Running {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Every line printed so far, one list per stream: the order of lines within a stream is
    /// meaningful, the order between stdout and stderr is not.
    printed: [Vec<String>; 2],
    /// Per stream, the first line that no expect has matched or passed over.
    unread: [usize; 2],
    /// Per stream, how many lines have been shown.
    shown: [usize; 2],
    open_streams: u8,
    /// When its last stream ended: the moment it exited, whenever the script waits for it.
    ended: Option<Instant>,
    status: Option<ExitStatus>,
}

type Echo = Box<dyn FnMut(&Shown)>;
type Step = Box<dyn FnMut()>;

/// The processes of one test or demo, and everything they printed.
pub struct Scene {
    procs: Vec<Running>,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    /// Every line in the order it arrived, for a failure's transcript.
    log: Vec<Line>,
    shown: Vec<Shown>,
    timeout: Duration,
    echo: Option<Echo>,
    before_step: Option<Step>,
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

    /// What failed, without the transcript.
    pub fn what(&self) -> &str {
        &self.what
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
            shown: Vec::new(),
            timeout: Duration::from_secs(secs),
            echo: None,
            before_step: None,
        }
    }

    /// Calls `echo` with each entry as the scene shows it (a demo prints them).
    pub fn echo(mut self, echo: impl FnMut(&Shown) + 'static) -> Scene {
        self.echo = Some(Box::new(echo));
        self
    }

    /// Calls `step` before each process is started and before each line is typed or stdin
    /// closed (a demo waits there for the presenter).
    pub fn before_step(mut self, step: impl FnMut() + 'static) -> Scene {
        self.before_step = Some(Box::new(step));
        self
    }

    /// Sets how long each wait may take.
    pub fn timeout(mut self, timeout: Duration) -> Scene {
        self.timeout = timeout;
        self
    }

    /// What the scene has shown so far, in order.
    pub fn shown(&self) -> &[Shown] {
        &self.shown
    }

    /// Starts `cmd` with piped stdin, stdout and stderr.
    pub fn spawn(&mut self, label: &str, mut cmd: Command) -> Result<Proc, Failure> {
        self.step();
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
            printed: [Vec::new(), Vec::new()],
            unread: [0, 0],
            shown: [0, 0],
            open_streams: 2,
            ended: None,
            status: None,
        });
        self.show(label.to_string(), Kind::Started, command_line(&cmd));
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
        let addr = common::report::parse_ready_line(&line).map(|(addr, _)| addr);
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
        let streams = match stream {
            Some(s) => vec![s],
            None => vec![Stream::Stdout, Stream::Stderr],
        };
        // Lines already looked at in this wait are not looked at again: a process that prints
        // thousands of lines before the one we wait for must not cost a scan per line.
        let mut scanned = [0usize; 2];
        loop {
            let running = self.proc_mut(p)?;
            for &stream in &streams {
                let q = stream as usize;
                let from = running.unread[q].max(scanned[q]);
                scanned[q] = running.printed[q].len();
                let found = running.printed[q]
                    .iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, l)| l.contains(needle))
                    .map(|(at, l)| (at, l.clone()));
                if let Some((at, line)) = found {
                    // Lines of this stream before the match are passed over: the next
                    // expect on it starts after the match.
                    running.unread[q] = at + 1;
                    self.show_printed(p, stream, at + 1);
                    return Ok(line);
                }
            }
            self.wait_for_more(p, deadline, &format!("{needle:?}"))?;
        }
    }

    /// Waits until each of `needles` is in a line of `p`, on either stream, after the last
    /// line an expect matched: in any order, for lines that two threads print (a connection
    /// closed to make room, and the newcomer's line that says so). Returns the lines, one per
    /// needle; the next expect starts after the last of them.
    pub fn expect_each(&mut self, p: Proc, needles: &[&str]) -> Result<Vec<String>, Failure> {
        let deadline = Instant::now() + self.timeout;
        let from = self.proc_mut(p)?.unread;
        loop {
            let running = self.proc_mut(p)?;
            // (stream, index) of each needle's first line, if it has come.
            let found: Vec<Option<(usize, usize)>> = needles
                .iter()
                .map(|needle| {
                    (0..2).find_map(|q| {
                        let mut lines = running.printed[q].iter().enumerate().skip(from[q]);
                        lines
                            .find(|(_, l)| l.contains(needle))
                            .map(|(at, _)| (q, at))
                    })
                })
                .collect();
            if let Some(found) = found.iter().copied().collect::<Option<Vec<_>>>() {
                let lines = found.iter().map(|&(q, at)| running.printed[q][at].clone());
                let lines = lines.collect();
                for (q, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
                    let last = found.iter().filter(|f| f.0 == q).map(|f| f.1 + 1).max();
                    if let Some(upto) = last {
                        self.proc_mut(p)?.unread[q] = upto;
                        self.show_printed(p, stream, upto);
                    }
                }
                return Ok(lines);
            }
            self.wait_for_more(p, deadline, &format!("each of {needles:?}"))?;
        }
    }

    /// Waits until `p` prints more, or fails saying it was waited for to print `what`: when
    /// it has closed its output, or at `deadline`.
    fn wait_for_more(&mut self, p: Proc, deadline: Instant, what: &str) -> Result<(), Failure> {
        if self.proc_mut(p)?.open_streams == 0 {
            let label = self.label(p);
            return Err(self.fail(format!("{label} ended without printing {what}")));
        }
        if !self.pump(deadline) {
            let label = self.label(p);
            return Err(self.fail(format!(
                "timed out after {:?} waiting for {label} to print {what}",
                self.timeout
            )));
        }
        Ok(())
    }

    /// Writes `line` and a newline to the stdin of `p`.
    pub fn send_line(&mut self, p: Proc, line: &str) -> Result<(), Failure> {
        self.step();
        self.show(self.label(p), Kind::Typed, line.to_string());
        self.write_stdin(p, format!("{line}\n").as_bytes())
    }

    /// Writes raw bytes to the stdin of `p`.
    pub fn send_bytes(&mut self, p: Proc, bytes: &[u8]) -> Result<(), Failure> {
        self.step();
        let text = String::from_utf8_lossy(bytes);
        for line in text.strip_suffix('\n').unwrap_or(&text).split('\n') {
            self.show(self.label(p), Kind::Typed, line.to_string());
        }
        self.write_stdin(p, bytes)
    }

    fn write_stdin(&mut self, p: Proc, bytes: &[u8]) -> Result<(), Failure> {
        let label = self.label(p);
        let result = match self.proc_mut(p)?.stdin.as_mut() {
            Some(stdin) => stdin.write_all(bytes).and_then(|()| stdin.flush()),
            None => Err(io::Error::other("stdin already closed")),
        };
        result.map_err(|e| self.fail(format!("cannot write to {label}'s stdin: {e}")))
    }

    /// Closes the stdin of `p`: the process reads EOF.
    pub fn close_stdin(&mut self, p: Proc) -> Result<(), Failure> {
        self.step();
        self.proc_mut(p)?.stdin = None;
        self.show(self.label(p), Kind::EndOfInput, String::new());
        Ok(())
    }

    /// Waits for `p` to exit, reading all it prints, and returns its exit status. What it
    /// printed and the script has not reached yet is shown now, stdout before stderr.
    pub fn wait(&mut self, p: Proc) -> Result<ExitStatus, Failure> {
        let status = self.reap(p)?;
        for stream in [Stream::Stdout, Stream::Stderr] {
            let all = self.proc_mut(p)?.printed[stream as usize].len();
            self.show_printed(p, stream, all);
        }
        Ok(status)
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

    /// Stops `p` (SIGKILL) and reaps it. Lines the script did not wait for are not shown:
    /// whether they arrived before the kill is a matter of timing.
    pub fn kill(&mut self, p: Proc) -> Result<(), Failure> {
        let running = self.proc_mut(p)?;
        let _ = running.child.kill();
        self.reap(p).map(|_| ())
    }

    fn reap(&mut self, p: Proc) -> Result<ExitStatus, Failure> {
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

    /// When `p` exited, as its output's end was seen (both pipes closed), once `wait` has
    /// seen it: a script that waits for `p` after something else still gets the time of its
    /// exit, not the time of its own wait.
    pub fn ended_at(&self, p: Proc) -> Option<Instant> {
        self.procs.get(p.0).and_then(|r| r.ended)
    }

    /// The operating system's process id of `p`.
    pub fn pid(&self, p: Proc) -> Option<u32> {
        self.procs.get(p.0).map(|r| r.child.id())
    }

    /// Every line `p` printed so far on `stream`, in order.
    pub fn output(&self, p: Proc, stream: Stream) -> Vec<String> {
        self.procs
            .get(p.0)
            .map(|r| r.printed[stream as usize].clone())
            .unwrap_or_default()
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

    /// Shows the lines of `p` on `stream` not shown yet, up to (not including) `upto`.
    fn show_printed(&mut self, p: Proc, stream: Stream, upto: usize) {
        let q = stream as usize;
        let Some(running) = self.procs.get_mut(p.0) else {
            return;
        };
        let from = running.shown[q];
        if upto <= from {
            return;
        }
        running.shown[q] = upto;
        let lines: Vec<String> = running.printed[q]
            .get(from..upto)
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        let label = running.label.clone();
        let kind = match stream {
            Stream::Stdout => Kind::Stdout,
            Stream::Stderr => Kind::Stderr,
        };
        for text in lines {
            self.show(label.clone(), kind, text);
        }
    }

    fn show(&mut self, label: String, kind: Kind, text: String) {
        let shown = Shown { label, kind, text };
        if let Some(echo) = self.echo.as_mut() {
            echo(&shown);
        }
        self.shown.push(shown);
    }

    fn step(&mut self) {
        if let Some(step) = self.before_step.as_mut() {
            step();
        }
    }

    /// Receives one event, or returns false at the deadline.
    fn pump(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(Event::Line(line)) => {
                if let Some(running) = self.procs.get_mut(line.proc) {
                    running.printed[line.stream as usize].push(line.text.clone());
                }
                self.log.push(line);
                true
            }
            Ok(Event::Closed(id, at)) => {
                if let Some(running) = self.procs.get_mut(id) {
                    running.open_streams = running.open_streams.saturating_sub(1);
                    if running.open_streams == 0 {
                        running.ended = Some(at);
                    }
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

/// The command line as a person would type it: the program's name, not its path, and a
/// file given as an argument by its name alone.
fn command_line(cmd: &Command) -> String {
    let short = |arg: &std::ffi::OsStr| {
        let path = Path::new(arg);
        let name = match path.file_name() {
            Some(name) if path.is_absolute() && path.is_file() => name,
            _ => arg,
        };
        name.to_string_lossy().into_owned()
    };
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program());
    std::iter::once(program.to_string_lossy().into_owned())
        .chain(cmd.get_args().map(short))
        .collect::<Vec<_>>()
        .join(" ")
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
        let _ = tx.send(Event::Closed(id, Instant::now()));
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

    fn shown(s: &Scene) -> Vec<String> {
        s.shown()
            .iter()
            .map(|e| format!("{} {:?} {}", e.label, e.kind, e.text))
            .collect()
    }

    #[test]
    fn shows_lines_in_the_order_the_script_reaches_them() {
        let mut s = Scene::new();
        let a = s.spawn("a", sh("echo early")).unwrap();
        let b = s.spawn("b", sh("read x; echo got $x")).unwrap();
        s.send_line(b, "go").unwrap();
        s.expect(b, "got").unwrap();
        // "early" arrived first, but the script reaches it only now.
        s.expect(a, "early").unwrap();
        s.wait_success(a).unwrap();
        s.close_stdin(b).unwrap();
        s.wait_success(b).unwrap();
        assert_eq!(
            shown(&s),
            [
                "a Started sh -c echo early",
                "b Started sh -c read x; echo got $x",
                "b Typed go",
                "b Stdout got go",
                "a Stdout early",
                "b EndOfInput ",
            ]
        );
    }

    #[test]
    fn an_exit_shows_the_rest_and_a_kill_shows_only_what_was_reached() {
        let mut s = Scene::new();
        let p = s
            .spawn("p", sh("echo one; echo two; echo oops >&2"))
            .unwrap();
        s.expect(p, "one").unwrap();
        s.wait(p).unwrap();
        // An expect after the exit still finds the line, and shows it only once.
        s.expect(p, "two").unwrap();
        let q = s
            .spawn("q", sh("echo ready; echo more; exec sleep 30"))
            .unwrap();
        s.expect(q, "ready").unwrap();
        s.kill(q).unwrap();
        assert_eq!(
            shown(&s)[1..],
            [
                "p Stdout one",
                "p Stdout two",
                "p Stderr oops",
                "q Started sh -c echo ready; echo more; exec sleep 30",
                "q Stdout ready",
            ]
        );
    }

    #[test]
    fn a_command_line_names_programs_and_files_as_typed() {
        let mut cmd = Command::new("/usr/bin/env");
        cmd.arg(env!("CARGO_MANIFEST_PATH")).args(["--port", "0"]);
        assert_eq!(command_line(&cmd), "env Cargo.toml --port 0");
    }

    #[test]
    fn a_process_that_exits_ends_the_wait_at_once() {
        let mut s = Scene::new();
        let p = s.spawn("true", Command::new("true")).unwrap();
        let err = s.expect(p, "anything").unwrap_err().to_string();
        assert!(err.contains("ended without printing"), "{err}");
    }
}
