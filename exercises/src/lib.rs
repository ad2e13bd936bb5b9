//! The exercises: a change a student makes to a lesson, and a check that runs the student's
//! own binary against real peers on loopback and says what it saw.
//!
//! A check judges the program, not its source (the one exception: where a statement asks the
//! student to change a lesson test, the check runs that test or looks for its new line). It
//! starts the lesson as a user would (`--port 0`, waiting for the ready line), plays the other side itself (a UDP socket, a TCP listener, a file
//! server's client) and compares what comes over the wire with what the exercise asks for.
//! Every wait is bounded, so a program that hangs fails instead of blocking.
//!
//! The statements and hints are in the book (`docs/src/exercises/<lesson>.md`); the
//! solutions are patches against the lesson as shipped (`exercises/solutions/<ID>.patch`).

mod chat;
mod download;
mod feiq;
mod http;
mod many;
mod promises;
mod tcp;
mod udp;
mod wire;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use testkit::Failure;
use testkit::udp::shown;
use testkit::{Proc, Scene, Stream};

/// One exercise: which lesson it changes, and the check that says whether it is done.
pub struct Exercise {
    pub id: &'static str,
    pub lesson: &'static str,
    pub title: &'static str,
    pub check: fn(&mut Check) -> Result<(), Failure>,
}

/// Every exercise, lesson by lesson in the book's order, each lesson's from small to real.
pub const EXERCISES: &[Exercise] = &[
    Exercise {
        id: "udp-server-1",
        lesson: "udp-server",
        title: "Answer backwards (`--reverse`)",
        check: udp::server_reverse,
    },
    Exercise {
        id: "udp-server-2",
        lesson: "udp-server",
        title: "Number the answers per sender (`--number`)",
        check: udp::server_number,
    },
    Exercise {
        id: "udp-server-3",
        lesson: "udp-server",
        title: "Refuse a datagram that did not fit",
        check: udp::server_too_long,
    },
    Exercise {
        id: "udp-client-1",
        lesson: "udp-client",
        title: "Time the round trip",
        check: udp::client_round_trip,
    },
    Exercise {
        id: "udp-client-2",
        lesson: "udp-client",
        title: "Try again, waiting longer each time (`--retries N`)",
        check: udp::client_retries,
    },
    Exercise {
        id: "udp-client-3",
        lesson: "udp-client",
        title: "Number the datagrams, ignore stale answers (`--seq`)",
        check: udp::client_seq,
    },
    Exercise {
        id: "udp-chat-1",
        lesson: "udp-chat",
        title: "/nick NAME",
        check: chat::nick,
    },
    Exercise {
        id: "udp-chat-2",
        lesson: "udp-chat",
        title: "/who: the peers heard in the last minute",
        check: chat::who,
    },
    Exercise {
        id: "udp-chat-3",
        lesson: "udp-chat",
        title: "/all TEXT: send to everyone heard",
        check: chat::all,
    },
    Exercise {
        id: "feiq-1",
        lesson: "feiq",
        title: "Answer GETINFO with your version",
        check: feiq::getinfo,
    },
    Exercise {
        id: "feiq-2",
        lesson: "feiq",
        title: "Sealed messages: say when one was read",
        check: feiq::sealed,
    },
    Exercise {
        id: "feiq-3",
        lesson: "feiq",
        title: "An absence message (`--away TEXT`)",
        check: feiq::away,
    },
    Exercise {
        id: "tcp-server-1",
        lesson: "tcp-server",
        title: "Greet each client by its address (`--greet`)",
        check: tcp::server_greet,
    },
    Exercise {
        id: "tcp-server-2",
        lesson: "tcp-server",
        title: "A line protocol: ECHO, TIME, QUIT (`--commands`)",
        check: tcp::server_commands,
    },
    Exercise {
        id: "tcp-server-3",
        lesson: "tcp-server",
        title: "Length-prefixed messages (`--framed`)",
        check: tcp::server_framed,
    },
    Exercise {
        id: "tcp-client-1",
        lesson: "tcp-client",
        title: "Count what arrived",
        check: tcp::client_total,
    },
    Exercise {
        id: "tcp-client-2",
        lesson: "tcp-client",
        title: "Print whole lines (`--lines`)",
        check: tcp::client_lines,
    },
    Exercise {
        id: "tcp-client-3",
        lesson: "tcp-client",
        title: "Connect again, with back-off (`--retry N`)",
        check: tcp::client_retry,
    },
    Exercise {
        id: "connection-life-1",
        lesson: "tcp-server",
        title: "Half-close after a limit (`--limit BYTES`)",
        check: many::half_close,
    },
    Exercise {
        id: "file-download-1",
        lesson: "file-download",
        title: "SIZE: the size without the bytes",
        check: download::size,
    },
    Exercise {
        id: "file-download-2",
        lesson: "file-download",
        title: "Several requests on one connection",
        check: download::keep_alive,
    },
    Exercise {
        id: "http-server-1",
        lesson: "http-server",
        title: "If-Modified-Since",
        check: http::if_modified_since,
    },
    Exercise {
        id: "http-server-2",
        lesson: "http-server",
        title: "Several ranges in one answer (multipart/byteranges)",
        check: http::multipart_ranges,
    },
    Exercise {
        id: "tcp-poll-1",
        lesson: "tcp-poll",
        title: "A chat relay (`--relay`)",
        check: many::poll_relay,
    },
    Exercise {
        id: "tcp-poll-2",
        lesson: "tcp-poll",
        title: "Stop on Ctrl-C, let clients finish (`--grace SECS`)",
        check: many::poll_stop,
    },
    Exercise {
        id: "tcp-async-1",
        lesson: "tcp-async",
        title: "A heartbeat drops a silent client (`--heartbeat SECS`)",
        check: many::async_heartbeat,
    },
    Exercise {
        id: "tcp-async-2",
        lesson: "tcp-async",
        title: "A chat relay that skips for a slow reader (`--relay`)",
        check: many::async_relay,
    },
];

impl Exercise {
    /// The chapter whose exercises include this one: the ID without its number. It is the
    /// lesson's own chapter, except for the concept chapters' exercises (connection-life-1
    /// changes tcp-server).
    pub fn chapter(&self) -> &'static str {
        self.id
            .rsplit_once('-')
            .map_or(self.id, |(chapter, _)| chapter)
    }
}

/// The exercise named `id`.
pub fn find(id: &str) -> Option<&'static Exercise> {
    EXERCISES.iter().find(|e| e.id == id)
}

/// Runs `exercise`'s check against the lesson binaries in `bins`. With `report`, each step
/// that passed is printed as it passes. `seed` chooses the check's varied inputs: the same
/// seed gives the same inputs, so a failure can be repeated.
pub fn run(exercise: &Exercise, bins: &Path, report: bool, seed: u64) -> Result<(), Failure> {
    let mut check = Check {
        bins: bins.to_path_buf(),
        scene: Scene::new().timeout(WAIT),
        report,
        help: HashMap::new(),
        procs: Vec::new(),
        killed: Vec::new(),
        quiet: Vec::new(),
        failed: RefCell::new(None),
        rng: Rng::new(seed),
    };
    // The check's own connections are closed when it returns (its locals are dropped): the
    // promises every lesson keeps are checked after that, on everything the programs printed.
    let result = (exercise.check)(&mut check).and_then(|()| check.promises_kept());
    let what = check.failed.borrow_mut().take();
    match (result, what) {
        (Err(_), Some(what)) => Err(check.with_everything_printed(what)),
        (result, _) => result,
    }
}

/// How long a check waits for any one thing: far longer than loopback ever takes, short
/// enough that a program that never answers fails soon.
const WAIT: Duration = Duration::from_secs(5);

/// One run of a check: the processes it started, and where their binaries are.
pub struct Check {
    bins: PathBuf,
    scene: Scene,
    report: bool,
    help: HashMap<String, String>,
    /// Every process the check started, with its lesson.
    procs: Vec<(Proc, String)>,
    /// The processes the check stopped with SIGKILL: what they had not printed yet is lost.
    killed: Vec<Proc>,
    /// The processes started with `--quiet`.
    quiet: Vec<Proc>,
    /// The last failure's sentence, to show again with all that the programs printed.
    failed: RefCell<Option<String>>,
    /// Where the check's varied inputs come from.
    rng: Rng,
}

/// A small, seeded source of varied inputs (SplitMix64): checks need variety that repeats,
/// not secrecy.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `range` (start included, end excluded); `range.start` when it is empty.
    pub fn below(&mut self, range: std::ops::Range<usize>) -> usize {
        let span = range.end.saturating_sub(range.start);
        if span == 0 {
            return range.start;
        }
        range.start + (self.next_u64() % span as u64) as usize
    }

    /// `len` arbitrary bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(0..items.len()))
    }

    /// Text of `len` characters mixing ASCII, Chinese and other scripts, for checks whose
    /// answers must survive non-ASCII text.
    pub fn text(&mut self, len: usize) -> String {
        const CHARS: &[char] = &[
            'a', 'z', 'Q', '7', ' ', '-', '你', '好', '网', '络', 'é', 'ß', 'Ж', 'λ', '🦀', '،',
        ];
        (0..len).filter_map(|_| self.pick(CHARS).copied()).collect()
    }
}

impl Check {
    /// The check's source of varied inputs.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Says that one step passed.
    fn pass(&self, what: impl Display) {
        if self.report {
            println!("  ok: {what}");
        }
    }

    /// A failed step: what the check saw and what it expected, with what the programs printed.
    fn fail(&self, what: impl Into<String>) -> Failure {
        let what = what.into();
        *self.failed.borrow_mut() = Some(what.clone());
        self.scene.fail(what)
    }

    /// The failure `what`, with every line the programs printed until now: lines printed
    /// after the check's last wait are collected first, for a moment.
    fn with_everything_printed(mut self, what: String) -> Failure {
        let mut scene = std::mem::take(&mut self.scene).timeout(Duration::from_millis(200));
        for &(p, _) in &self.procs {
            let _ = scene.expect(p, "\u{0}");
        }
        scene.fail(what)
    }

    fn command(&self, lesson: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bins.join(lesson));
        cmd.args(args);
        cmd
    }

    /// Starts `lesson` with `args` and waits for its ready line.
    fn start(&mut self, lesson: &str, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
        let p = self.spawn(lesson, args)?;
        match self.scene.ready(p) {
            Ok(addr) => Ok((p, addr)),
            Err(_) => Err(self.did_not_start(p, lesson, args)),
        }
    }

    /// Starts `lesson` with `args` without waiting for anything.
    fn spawn(&mut self, lesson: &str, args: &[&str]) -> Result<Proc, Failure> {
        let cmd = self.command(lesson, args);
        let p = self.scene.spawn(lesson, cmd)?;
        self.procs.push((p, lesson.to_string()));
        if args.contains(&"--quiet") {
            self.quiet.push(p);
        }
        Ok(p)
    }

    /// Stops `p` (SIGKILL): its sessions end unlogged, as they would on a crash.
    fn kill(&mut self, p: Proc) {
        let _ = self.scene.kill(p);
        self.killed.push(p);
    }

    /// Why `p` ended before its ready line, in a student's words: clap's complaint about a
    /// flag the exercise adds, most often.
    fn did_not_start(&mut self, p: Proc, lesson: &str, args: &[&str]) -> Failure {
        self.kill(p);
        let said = self.scene.output(p, Stream::Stderr);
        let said = said
            .iter()
            .find(|l| l.starts_with("error"))
            .or(said.first())
            .map_or("nothing on stderr", String::as_str)
            .to_string();
        self.fail(format!(
            "`{lesson} {}` did not start: it said {said:?}",
            args.join(" ")
        ))
    }

    /// Whether `lesson --help` mentions `flag`: the checks follow the lessons' own flags for
    /// what the exercise does not change (how a client names its server, for one).
    fn has_flag(&mut self, lesson: &str, flag: &str) -> bool {
        if !self.help.contains_key(lesson) {
            let help = self
                .command(lesson, &["--help"])
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                .unwrap_or_default();
            self.help.insert(lesson.to_string(), help);
        }
        // A flag is a word of its own in the help: `-p, --port <N>`, or `--lines` alone.
        self.help.get(lesson).is_some_and(|help| {
            help.split_whitespace()
                .any(|word| word.trim_end_matches(',') == flag)
        })
    }

    /// The arguments that make a client talk to `server`: `--to ADDR` where the lesson has
    /// that flag, the positional SERVER where it does not.
    fn peer_args(&mut self, lesson: &str, server: SocketAddr) -> Vec<String> {
        if self.has_flag(lesson, "--to") {
            vec!["--to".into(), server.to_string()]
        } else {
            vec![server.to_string()]
        }
    }

    /// The arguments that bind a client to 127.0.0.1 on a port the OS chooses.
    fn loopback_args(&mut self, lesson: &str) -> Vec<String> {
        if self.has_flag(lesson, "--port") {
            ["--bind", "127.0.0.1", "--port", "0"]
                .map(String::from)
                .to_vec()
        } else {
            ["--bind", "127.0.0.1:0"].map(String::from).to_vec()
        }
    }

    /// Waits for a line of `p`, on either stream, that contains `needle`; `fail` says what
    /// was expected when it does not come.
    fn expect(&mut self, p: Proc, needle: &str, fail: &str) -> Result<String, Failure> {
        self.scene
            .expect(p, needle)
            .map_err(|_| self.fail(format!("{fail} (no line with {needle:?})")))
    }
}

impl Check {
    /// Waits for a line of `p` that is exactly `line` (blanks at its ends aside): a substring
    /// the program prints anyway does not count.
    fn expect_line(&mut self, p: Proc, line: &str, fail: &str) -> Result<String, Failure> {
        self.expect_matching(p, line, fail, |l| l.trim() == line.trim())
    }

    /// Waits for a line of `p` that begins with `start`.
    fn expect_line_starting(
        &mut self,
        p: Proc,
        start: &str,
        fail: &str,
    ) -> Result<String, Failure> {
        self.expect_matching(p, start, fail, |l| l.starts_with(start))
    }

    fn expect_matching(
        &mut self,
        p: Proc,
        needle: &str,
        fail: &str,
        good: impl Fn(&str) -> bool,
    ) -> Result<String, Failure> {
        let key = needle.trim();
        loop {
            match self.scene.expect(p, key) {
                Ok(l) if good(&l) => return Ok(l),
                Ok(_) => continue,
                Err(_) => return Err(self.fail(format!("{fail} (no line {needle:?})"))),
            }
        }
    }
}

/// The workspace whose lessons the binaries under test were built from: the one their target
/// directory is in (`cargo exercise check`), or the scratch copy `ws` beside it (`cargo xtask
/// exercise prove`); failing those, the checkout `cargo xtask` runs from (a target directory
/// outside it, CARGO_TARGET_DIR), or the one the check runs in.
pub(crate) fn workspace(c: &Check) -> Option<PathBuf> {
    let is_root = |d: &Path| d.join("Cargo.toml").is_file() && d.join("lessons").is_dir();
    let from_bins = c.bins.ancestors().find_map(|d| {
        [d.join("ws"), d.to_path_buf()]
            .into_iter()
            .find(|r| is_root(r))
    });
    let run_from = || {
        let xtask = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
        xtask.parent().filter(|d| is_root(d)).map(Path::to_path_buf)
    };
    let here = || {
        let here = std::env::current_dir().ok()?;
        here.ancestors().find(|d| is_root(d)).map(Path::to_path_buf)
    };
    from_bins.or_else(run_from).or_else(here)
}

/// A changed test that passes may still test nothing: its body must name the new answer
/// (a test that no longer compares the answer passes on the old server too).
pub(crate) fn test_expects(
    c: &mut Check,
    file: &str,
    name: &str,
    answer: &str,
) -> Result<(), Failure> {
    test_does(
        c,
        file,
        name,
        &format!("expects the new answer {answer:?}..."),
        |body| body.contains(answer),
    )
}

/// The body of the lesson's test `name` in `file` must pass `good` (`what` says how).
pub(crate) fn test_does(
    c: &mut Check,
    file: &str,
    name: &str,
    what: &str,
    good: impl Fn(&str) -> bool,
) -> Result<(), Failure> {
    let Some(ws) = workspace(c) else {
        return Err(c.fail(format!("cannot find the workspace to read {file}")));
    };
    let source = std::fs::read_to_string(ws.join(file)).unwrap_or_default();
    // The function's body ends at the `}` indented as its `fn` line is.
    let body = source
        .split_once(&format!("fn {name}("))
        .map(|(before, rest)| {
            let indent = before.rsplit('\n').next().unwrap_or_default();
            let indent: String = indent.chars().take_while(|c| c.is_whitespace()).collect();
            rest.split(&format!("\n{indent}}}\n"))
                .next()
                .unwrap_or(rest)
        });
    let body = body.unwrap_or_default();
    if !good(body) {
        return Err(c.fail(format!(
            "the lesson's test {name} (in {file}) passes, but it no longer {what}: it must \
             check what the server does now, or it would pass on the old server too"
        )));
    }
    c.pass(format!("the lesson's test {name} {what}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let first: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(first, (0..4).map(|_| c.next_u64()).collect::<Vec<_>>());
        for _ in 0..1000 {
            assert!((3..9).contains(&a.below(3..9)));
        }
        assert_eq!(a.below(5..5), 5);
        assert_eq!(a.text(12).chars().count(), 12);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_in_hex() {
        assert_eq!(shown("你".as_bytes()), "\"你\"");
        assert_eq!(
            shown(&[0xa0, 0xbd, 0xe4]),
            "\"\u{fffd}\u{fffd}\u{fffd}\" (not UTF-8; the bytes: a0 bd e4)"
        );
    }

    #[test]
    fn two_to_four_per_lesson_and_ids_in_order() {
        let chapters = [
            "udp-server",
            "udp-client",
            "udp-chat",
            "feiq",
            "tcp-server",
            "tcp-client",
            "file-download",
            "http-server",
            "tcp-poll",
            "tcp-async",
        ];
        assert!(EXERCISES.len() >= 26);
        for chapter in chapters {
            let ids: Vec<&str> = EXERCISES
                .iter()
                .filter(|e| e.chapter() == chapter)
                .map(|e| e.id)
                .collect();
            assert!((2..=4).contains(&ids.len()), "{chapter}: {ids:?}");
            for (i, id) in ids.iter().enumerate() {
                assert_eq!(*id, format!("{chapter}-{}", i + 1));
            }
        }
        // A concept chapter's exercises change a lesson of the same part.
        assert_eq!(
            find("connection-life-1").map(|e| (e.chapter(), e.lesson)),
            Some(("connection-life", "tcp-server"))
        );
        let known = |e: &&Exercise| {
            chapters.contains(&e.lesson)
                && (chapters.contains(&e.chapter()) || e.chapter() == "connection-life")
        };
        assert!(EXERCISES.iter().all(|e| known(&e)));
    }

    #[test]
    fn every_exercise_has_a_solution_and_a_place_in_the_book() {
        let root = root();
        let solutions = std::fs::read_to_string(root.join("docs/src/exercises/solutions.md"))
            .unwrap_or_default();
        for e in EXERCISES {
            let patch = root.join(format!("exercises/solutions/{}.patch", e.id));
            assert!(patch.is_file(), "{} has no solution", e.id);
            let chapter = root.join(format!("docs/src/exercises/{}.md", e.chapter()));
            let text = std::fs::read_to_string(&chapter).unwrap_or_default();
            assert!(
                text.contains(&format!("### {}: {}", e.id, e.title)),
                "{} has no section `### {}: {}` in {}",
                e.id,
                e.id,
                e.title,
                chapter.display()
            );
            assert!(
                solutions.contains(&format!(
                    "{{{{#include ../../../exercises/solutions/{}.patch}}}}",
                    e.id
                )),
                "{} is missing from the solutions appendix",
                e.id
            );
        }
    }
}
