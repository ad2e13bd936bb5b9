//! The pairs, and one script per pair, `xtask/scenes/NAME.scene`: the same run is a demo (shown
//! live), an e2e check (asserted) and the book's transcript (`docs/src/transcripts/PAIR.txt`).
//!
//! A script has one step a line and reads like the transcript it makes. A step waits for the
//! line it causes, never for a fixed time (the sender's "sent" before the receiver's
//! "received"), and every wait has the scene's timeout, so a hang fails the pair.
//!
//! ```text
//! start LABEL PROGRAM ARGS   start a server (or a client that binds), wait for its ready line
//! connect LABEL PROGRAM ARGS start a TCP client, wait for "connected to"; after either, {LABEL}
//!                            is its own address, {LABEL.ip} and {LABEL.port} its parts
//! run LABEL PROGRAM ARGS     start a program, wait for nothing
//! send LABEL TEXT            type TEXT and Enter (`\n`, `\\` and `\u{1b}` are escapes)
//! eof LABEL                  close its stdin (Ctrl-D)
//! expect LABEL TEXT          wait for its next line, on stdout or stderr, that contains TEXT
//! stderr LABEL TEXT          the same, on stderr
//! not-yet LABEL TEXT         no line on its stdout so far starts with TEXT
//! exit LABEL [CODE]          wait for it to exit with CODE (0)
//! kill LABEL                 stop it
//! cd DIR                     the programs started after this run in DIR
//! file PATH TEXT             write TEXT (escapes as in send) to PATH
//! binary PATH SIZE           write SIZE bytes that are not text to PATH
//! head PATH FROM SIZE        write the first SIZE bytes of FROM to PATH
//! version PATH FROM          write file-download's resume version of FROM (size, mtime) to PATH
//! same PATH FROM             PATH holds the bytes of FROM
//! exists PATH, gone PATH     something is, or nothing is, at PATH
//! ```
//!
//! PROGRAM is a lesson (`udp-server`), a step (`step2-flags`, an example of a lesson), one of
//! the seed's programs in `xtask/peers/` (`udp_client.py`) or `curl`. The word after the step,
//! or one of ARGS, is quoted if it has spaces: `'a b'`. A PATH, FROM or DIR is in the scene's
//! scratch directory, with `root/` (served, `{root}`) and `here/` (downloaded into, `{here}`).
//! `{pair}` is the pair's name, `{step}` its first word, `{server-lesson}` and `{client-lesson}`
//! its lessons; names nest (`{{step}.port}`), other braces stay. `#` starts a comment line.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail, ensure};
use regex::{Captures, Regex};
use testkit::{Failure, Proc, Scene, Stream, pattern};

use crate::bins::{Bins, installed, mkdir, read, repo_root, write};
use crate::manifest::LESSONS;

pub struct Pair {
    pub name: &'static str,
    /// The lessons it runs: the server first.
    pub lessons: &'static [&'static str],
    /// Its script: `xtask/scenes/<scene>.scene`.
    pub scene: &'static str,
    pub about: &'static str,
}

/// The scripts `tcp` and `backlog` run any server on tcp-server's wire (a byte-for-byte
/// echo, with tcp-server's flags) against tcp-client: another such server is one more line.
#[rustfmt::skip]
pub const PAIRS: &[Pair] = &[
    Pair { name: "udp", lessons: &["udp-server", "udp-client"], scene: "udp", about: "udp-client sends three lines, udp-server echoes each one" },
    Pair { name: "udp-seed", lessons: &["udp-server", "udp-client"], scene: "udp-seed", about: "each UDP lesson against the seed's own Python program" },
    Pair { name: "step1-seed-udp-client", lessons: &["udp-client"], scene: "step1-seed-udp-client", about: "udp-client's step 1 (the seed's client in Rust) against the seed's server" },
    Pair { name: "step2-each-line-waits", lessons: &["udp-client"], scene: "step2-each-line-waits", about: "udp-client's step 2 (each line a datagram, a reply awaited 2 s) against the seed's server" },
    Pair { name: "step3-connected", lessons: &["udp-client"], scene: "step3-connected", about: "udp-client's step 3 (a connected socket) against the seed's server, then against nobody" },
    Pair { name: "step1-seed-udp-server", lessons: &["udp-server"], scene: "step1-seed-udp-server", about: "udp-server's step 1, the seed's server in Rust, answers the seed's client" },
    Pair { name: "step2-flags", lessons: &["udp-server"], scene: "step2-flags", about: "udp-server's step 2 (flags, hints, an echo) against the seed's client" },
    Pair { name: "step3-truncation", lessons: &["udp-server"], scene: "step3-truncation", about: "udp-server's step 3 sees and reports a datagram cut by its buffer" },
    Pair { name: "chat", lessons: &["udp-chat"], scene: "chat", about: "two udp-chat instances talk in both directions" },
    Pair { name: "chat-seed", lessons: &["udp-chat"], scene: "chat-seed", about: "udp-chat against the seed's menu chat" },
    Pair { name: "step1-seed-udp-chat", lessons: &["udp-chat"], scene: "step1-seed-udp-chat", about: "udp-chat's step 1 (the seed's menu in Rust) against the seed's menu chat" },
    Pair { name: "step2-receiving-thread", lessons: &["udp-chat"], scene: "step2-receiving-thread", about: "udp-chat's step 2 (a receiving thread) against the seed's menu chat" },
    Pair { name: "step3-reply", lessons: &["udp-chat"], scene: "step3-reply", about: "udp-chat's step 3 (/peer and /reply name whom a line goes to) against the seed's menu chat" },
    Pair { name: "step4-escaping", lessons: &["udp-chat"], scene: "chat-escaping", about: "udp-chat's step 4 (a peer's text escaped) against the seed's menu chat" },
    Pair { name: "step5-line-editor", lessons: &["udp-chat"], scene: "chat-escaping", about: "udp-chat's step 5 (a line editor; plain lines on a pipe) against the seed's menu chat" },
    Pair { name: "feiq", lessons: &["feiq"], scene: "feiq", about: "feiq send delivers a message to feiq listen, which acknowledges it" },
    Pair { name: "feiq-seed", lessons: &["feiq"], scene: "feiq-seed", about: "feiq listen shows what the seed's Python sender sends" },
    Pair { name: "step1-seed-feiq", lessons: &["feiq"], scene: "step1-seed-feiq", about: "feiq's step 1 sends the seed's bytes, as the seed does" },
    Pair { name: "step2-ack", lessons: &["feiq"], scene: "step2-ack", about: "feiq's step 2 asks for an acknowledgement, and feiq listen gives it" },
    Pair { name: "step3-listen", lessons: &["feiq"], scene: "step3-listen", about: "feiq's step 3 shows the seed's message and acknowledges step 2's" },
    Pair { name: "tcp", lessons: &["tcp-server", "tcp-client"], scene: "tcp", about: "tcp-client sends two lines and half-closes, tcp-server echoes and closes" },
    Pair { name: "backlog", lessons: &["tcp-server", "tcp-client"], scene: "backlog", about: "tcp-server --sequential: the second client waits in the accept queue" },
    Pair { name: "tcp-seed", lessons: &["tcp-server", "tcp-client"], scene: "tcp-seed", about: "each TCP lesson against the seed's own Python program" },
    Pair { name: "step1-seed-tcp-client", lessons: &["tcp-client"], scene: "step1-seed-tcp-client", about: "tcp-client's step 1 (the seed's client in Rust) against the seed's server" },
    Pair { name: "step2-reader-thread", lessons: &["tcp-client"], scene: "tcp-client-step", about: "tcp-client's step 2 (a reading thread, FIN at the end of input) against the seed's server" },
    Pair { name: "step3-one-loop", lessons: &["tcp-client"], scene: "tcp-client-step", about: "tcp-client's step 3 (events on one channel, one loop) against the seed's server" },
    Pair { name: "step1-seed-tcp-server", lessons: &["tcp-server"], scene: "step1-seed-tcp-server", about: "tcp-server's step 1 (the seed's server in Rust) against the seed's client" },
    Pair { name: "step2-thread-per-client", lessons: &["tcp-server"], scene: "tcp-server-step", about: "tcp-server's step 2 (a thread per client) against the seed's client" },
    Pair { name: "step3-timeouts", lessons: &["tcp-server"], scene: "tcp-server-step", about: "tcp-server's step 3 (read and write timeouts) against the seed's client" },
    Pair { name: "step4-limits", lessons: &["tcp-server"], scene: "tcp-server-step", about: "tcp-server's step 4 (places in all and per address) against the seed's client" },
    Pair { name: "step5-socket2", lessons: &["tcp-server"], scene: "tcp-server-step", about: "tcp-server's step 5 (SO_REUSEADDR and a backlog of 4096) against the seed's client" },
    Pair { name: "poll", lessons: &["tcp-poll", "tcp-client"], scene: "tcp", about: "tcp-client against tcp-poll: one thread, an epoll loop (mio)" },
    Pair { name: "poll-seed", lessons: &["tcp-poll"], scene: "seed-client", about: "the seed's TCP client against tcp-poll" },
    Pair { name: "async", lessons: &["tcp-async", "tcp-client"], scene: "tcp", about: "tcp-client against tcp-async: a tokio task per client" },
    Pair { name: "async-seed", lessons: &["tcp-async"], scene: "seed-client", about: "the seed's TCP client against tcp-async" },
    Pair { name: "step1-busy-loop", lessons: &["tcp-poll", "tcp-client"], scene: "poll-step", about: "tcp-poll's step 1: non-blocking sockets tried in turn, for ever (std only)" },
    Pair { name: "step2-epoll", lessons: &["tcp-poll", "tcp-client"], scene: "poll-step", about: "tcp-poll's step 2: epoll through mio, read until WouldBlock, a pending buffer" },
    Pair { name: "step1-task-per-client", lessons: &["tcp-async", "tcp-client"], scene: "poll-step", about: "tcp-async's step 1: a tokio task per client, no limits or timeouts" },
    Pair { name: "download", lessons: &["file-download"], scene: "download", about: "get a text and a binary file, a missing one, a refused ../, a resumed one" },
    Pair { name: "download-seed", lessons: &["file-download"], scene: "download-seed", about: "file-download against the seed's Python client and server (seed protocol)" },
    Pair { name: "step1-fixed-response", lessons: &["http-server"], scene: "step1-fixed-response", about: "step 1: the seed's server answers curl with one fixed HTTP/1.0 page" },
    Pair { name: "step2-files", lessons: &["http-server"], scene: "step2-files", about: "step 2: a file per request, Content-Length, then close" },
    Pair { name: "step3-keep-alive", lessons: &["http-server"], scene: "step3-keep-alive", about: "step 3: keep-alive: two files on one connection, then Connection: close" },
    Pair { name: "http", lessons: &["http-server"], scene: "http", about: "curl against http-server: a file, a HEAD, a range, a resume, a listing, a 404, a refused ../" },
    Pair { name: "step1-seed-get", lessons: &["file-download"], scene: "step1-seed-get", about: "file-download's step 1, the seed's client in Rust, against the seed's Python server" },
    Pair { name: "step2-framed-get", lessons: &["file-download"], scene: "step2-framed-get", about: "file-download's step 2: a header before the bytes; a missing file is an error" },
    Pair { name: "step3-part-rename", lessons: &["file-download"], scene: "step3-part-rename", about: "file-download's step 3: NAME.part, fsync, then rename; a cut transfer leaves no NAME" },
    Pair { name: "step1-seed-serve", lessons: &["file-download"], scene: "step1-seed-serve", about: "file-download's server step 1, the seed's server in Rust, against the seed's Python client" },
    Pair { name: "step2-framed-serve", lessons: &["file-download"], scene: "step2-framed-serve", about: "file-download's server step 2: a header before the bytes, against get; ../ still leads out" },
    Pair { name: "step3-root-jail", lessons: &["file-download"], scene: "download-serve-step", about: "file-download's server step 3: the root jail refuses ../, against get" },
    Pair { name: "step4-sendfile", lessons: &["file-download"], scene: "download-serve-step", about: "file-download's server step 4: sendfile, against get" },
    Pair { name: "step5-limits", lessons: &["file-download"], scene: "download-serve-step", about: "file-download's server step 5: a thread per client, time limits, against get" },
];

impl Pair {
    /// The `-seed` pairs and the steps' pairs run the seed's Python programs, so they need
    /// `python3`; http-server's pairs run curl.
    pub fn runnable(&self) -> anyhow::Result<()> {
        let (tool, why) = if self.lessons.contains(&"http-server") {
            ("curl", "it is the HTTP client (apt-get install curl)")
        } else if self.name.ends_with("-seed") || self.name.contains("step") {
            ("python3", "it runs the seed's programs")
        } else {
            return Ok(());
        };
        ensure!(installed(tool), "{tool} not found: {why}");
        Ok(())
    }

    /// Runs the pair's script in `s`; a failure names the script's line.
    pub fn run(&self, s: &mut Scene, bins: &Bins) -> anyhow::Result<()> {
        let path = format!("xtask/scenes/{}.scene", self.scene);
        let script = read(&repo_root().join(&path))?;
        let scratch = tempfile::Builder::new()
            .prefix("socket-lessons-")
            .tempdir()?;
        let mut run = Run {
            bins: bins.dir.clone(),
            scratch: scratch.path().into(),
            ..Run::default()
        };
        for dir in ["root", "here"] {
            let path = scratch.path().join(dir);
            mkdir(&path)?;
            run.set(dir, path.to_string_lossy());
        }
        let lesson = |i: usize| self.lessons.get(i).copied().unwrap_or_default();
        run.set("pair", self.name);
        run.set("step", self.name.split('-').next().unwrap_or_default());
        run.set("server-lesson", lesson(0));
        run.set("client-lesson", lesson(1));
        let lines = script.lines().map(str::trim_end).zip(1..);
        for (line, n) in lines.filter(|(l, _)| !l.is_empty() && !l.starts_with('#')) {
            run.step(s, line).map_err(|e| {
                // A scene's own failure carries the transcript, which `fail` adds again.
                let what = e.downcast_ref::<Failure>().map(|f| f.what().to_string());
                let what = what.unwrap_or(format!("{e:#}"));
                s.fail(format!("{path}:{n}: {what}"))
            })?;
        }
        Ok(())
    }
}

/// A script being run: the programs it started, by label, and what `{NAME}` stands for.
#[derive(Default)]
struct Run {
    /// Where the built lessons are.
    bins: PathBuf,
    scratch: PathBuf,
    /// Where the programs start: the last `cd`.
    dir: Option<PathBuf>,
    procs: HashMap<String, Proc>,
    vars: HashMap<String, String>,
}

impl Run {
    fn set(&mut self, name: &str, value: impl Into<String>) {
        self.vars.insert(name.to_string(), value.into());
    }

    fn step(&mut self, s: &mut Scene, line: &str) -> anyhow::Result<()> {
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (label, text) = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.split_once("' ").unwrap_or((quoted, "")),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        let (label, text) = (&self.substitute(label), self.substitute(text));
        let path = self.scratch.join(label);
        let proc = self.procs.get(label).copied();
        let proc = proc.with_context(|| format!("no program is labelled {label}"));
        match command {
            "start" | "connect" | "run" => {
                let p = s.spawn(label, self.command(&text)?)?;
                self.procs.insert(label.into(), p);
                let addr = match command {
                    "start" => s.ready(p)?,
                    "connect" => {
                        let line = s.expect(p, "connected to")?;
                        let from = line.rsplit(' ').next().unwrap_or_default();
                        from.parse().context(format!("not an address: {from}"))?
                    }
                    _ => return Ok(()),
                };
                self.set(&format!("{label}.ip"), addr.ip().to_string());
                self.set(&format!("{label}.port"), addr.port().to_string());
                self.set(label, addr.to_string());
            }
            "send" => s.send_line(proc?, &unescape(&text)?)?,
            "eof" => s.close_stdin(proc?)?,
            "expect" => drop(s.expect(proc?, &text)?),
            "stderr" => drop(s.expect_on(proc?, Stream::Stderr, &text)?),
            "not-yet" => {
                let early = s.output(proc?, Stream::Stdout);
                let early = early.iter().find(|l| l.starts_with(text.as_str()));
                ensure!(early.is_none(), "unexpected: {label} printed {early:?}");
            }
            "exit" if text.is_empty() => s.wait_success(proc?)?,
            "exit" => {
                let status = s.wait(proc?)?;
                let ok = status.code().is_some_and(|c| c.to_string() == text);
                ensure!(ok, "unexpected: {label} exited with {status}, not {text}");
            }
            "kill" => s.kill(proc?)?,
            "cd" => self.dir = Some(path),
            "file" => write(&path, unescape(&text)?)?,
            "binary" => write(&path, pattern(text.parse().context("not a size")?))?,
            "head" => {
                let (from, size) = text.split_once(' ').unwrap_or((&text, ""));
                let size: usize = size.parse().context("not a size")?;
                let bytes = std::fs::read(self.scratch.join(from)).context(from.to_string())?;
                write(&path, bytes.get(..size).context("shorter than that")?)?;
            }
            "version" => {
                use std::os::unix::fs::MetadataExt;
                let meta = std::fs::metadata(self.scratch.join(&text)).context(text)?;
                let (len, secs, nanos) = (meta.len(), meta.mtime(), meta.mtime_nsec());
                write(&path, format!("{len}-{secs}.{nanos:09}\n"))?;
            }
            "same" => ensure!(
                std::fs::read(&path).ok() == std::fs::read(self.scratch.join(&text)).ok(),
                "unexpected: the bytes of {label}, not those of {text}"
            ),
            "exists" => ensure!(path.exists(), "unexpected: no {label}"),
            "gone" => ensure!(!path.exists(), "unexpected: {label} exists"),
            _ => bail!("no such step: {command}"),
        }
        Ok(())
    }

    /// Each `{NAME}` replaced by what NAME stands for, until none is left, so that names nest
    /// (`{{step}.port}`); other braces (curl's `%{http_code}`, an escape's `\u{1b}`) are kept.
    fn substitute(&self, text: &str) -> String {
        let mut text = text.to_string();
        let braced = |name: &str| format!("{{{name}}}");
        while let Some((name, value)) = self.vars.iter().find(|(n, _)| text.contains(&braced(n))) {
            text = text.replace(&braced(name), value);
        }
        text
    }

    /// PROGRAM ARGS as a command, run in the directory of the last `cd`.
    fn command(&self, text: &str) -> anyhow::Result<Command> {
        let words = split(text);
        let (program, args) = words.split_first().context("no program to run")?;
        let mut cmd = if LESSONS.iter().any(|l| l.name == program) {
            Command::new(self.bins.join(program))
        } else if program.ends_with(".py") {
            // -u: unbuffered, so each print reaches the pipe when it happens.
            let peer = repo_root().join("xtask/peers").join(program);
            let mut python = Command::new("python3");
            python.arg("-u").arg(peer);
            python
        } else if program == "curl" {
            let mut curl = Command::new("curl");
            curl.args(["-sS", "--max-time", "10"]);
            curl
        } else {
            Command::new(self.bins.join("examples").join(program))
        };
        cmd.args(args);
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        Ok(cmd)
    }
}

/// `\n`, `\\` and `\u{HEX}` as the characters they name.
fn unescape(text: &str) -> anyhow::Result<String> {
    let escape = Regex::new(r"\\(n|\\|u\{([^}]*)\})")?;
    let named = |c: &Captures| match &c[1] {
        "n" => Some('\n'),
        "\\" => Some('\\'),
        _ => char::from_u32(u32::from_str_radix(&c[2], 16).ok()?),
    };
    let unescaped = |c: &Captures| named(c).unwrap_or(char::REPLACEMENT_CHARACTER).to_string();
    Ok(escape.replace_all(text, unescaped).into_owned())
}

/// Words split at spaces; `'a b'` is one word.
fn split(text: &str) -> Vec<String> {
    let parts = text.split('\'').enumerate();
    let words = parts.flat_map(|(i, part)| match i % 2 {
        1 => vec![part.to_string()],
        _ => part.split_whitespace().map(String::from).collect(),
    });
    words.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scene_exists_and_has_known_steps_only() {
        let known = "start connect run send eof expect stderr not-yet exit kill cd file binary \
                     head version same exists gone";
        for pair in PAIRS {
            let path = repo_root().join(format!("xtask/scenes/{}.scene", pair.scene));
            let script = read(&path).unwrap();
            assert!(!script.is_empty(), "{} is empty", path.display());
            let steps = script.lines().filter_map(|l| l.split(' ').next());
            for step in steps.filter(|s| !s.is_empty() && !s.starts_with('#')) {
                let known = known.split_whitespace().any(|k| k == step);
                assert!(known, "{}: unknown step {step:?}", path.display());
            }
        }
    }

    #[test]
    fn names_nest_and_other_braces_stay() {
        let mut run = Run::default();
        run.set("step", "step4");
        run.set("step4.port", "5000");
        let text = run.substitute("{{step}.port} %{http_code} \\u{1b} {nobody}");
        assert_eq!(text, "5000 %{http_code} \\u{1b} {nobody}");
    }

    #[test]
    fn quotes_keep_spaces_and_escapes_are_characters() {
        let words = split("-w '%{a} %{b}\\n' http://x/");
        assert_eq!(words, ["-w", "%{a} %{b}\\n", "http://x/"]);
        assert_eq!(unescape("a\\n\\u{1b}[2J\\\\b").unwrap(), "a\n\u{1b}[2J\\b");
    }
}
