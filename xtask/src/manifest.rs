//! The one list of lessons and pairs that `list`, `demo`, `e2e` and the book check all read.

use crate::scenes;
use testkit::{Failure, Scene};

pub struct Lesson {
    pub name: &'static str,
    pub teaches: &'static str,
    /// The chapter's file under `docs/src/`.
    pub chapter: &'static str,
    pub default_port: u16,
}

pub const LESSONS: &[Lesson] = &[
    Lesson {
        name: "udp-server",
        teaches: "bind, recv_from, answering the sender's address; truncation",
        chapter: "udp-server.md",
        default_port: 8080,
    },
    Lesson {
        name: "udp-client",
        teaches: "send_to vs connect, timeouts, \"port unreachable\"",
        chapter: "udp-client.md",
        default_port: 10086,
    },
    Lesson {
        name: "udp-chat",
        teaches: "one socket, two threads (try_clone): receiving while you type",
        chapter: "udp-chat.md",
        default_port: 6666,
    },
    Lesson {
        name: "feiq",
        teaches: "a real protocol on UDP: IP Messenger packets, GBK, acknowledgements and resends",
        chapter: "feiq.md",
        default_port: 2425,
    },
    Lesson {
        name: "tcp-server",
        teaches: "socket, SO_REUSEADDR, bind, listen(backlog), accept; a thread per client",
        chapter: "tcp-server.md",
        default_port: 10050,
    },
    Lesson {
        name: "tcp-client",
        teaches: "connect, a byte stream without boundaries, half-close, FIN vs RST",
        chapter: "tcp-client.md",
        default_port: 10050,
    },
    Lesson {
        name: "file-download",
        teaches: "framing a byte stream, a root jail, atomic writes, resuming, sendfile",
        chapter: "file-download.md",
        default_port: 6664,
    },
];

/// A scenario: starts the lessons of a pair in `scene`, drives them, checks what they print.
pub type Script = fn(&mut Scene, &Bins) -> Result<(), Failure>;

pub struct Pair {
    pub name: &'static str,
    pub lessons: &'static [&'static str],
    pub about: &'static str,
    pub script: Script,
}

pub const PAIRS: &[Pair] = &[
    Pair {
        name: "udp",
        lessons: &["udp-server", "udp-client"],
        about: "udp-client sends three lines, udp-server echoes each one",
        script: scenes::udp,
    },
    Pair {
        name: "udp-seed",
        lessons: &["udp-server", "udp-client"],
        about: "each UDP lesson against the seed's own Python program",
        script: scenes::udp_seed,
    },
    Pair {
        name: "chat",
        lessons: &["udp-chat"],
        about: "two udp-chat instances talk in both directions",
        script: scenes::chat,
    },
    Pair {
        name: "chat-seed",
        lessons: &["udp-chat"],
        about: "udp-chat against the seed's menu chat",
        script: scenes::chat_seed,
    },
    Pair {
        name: "feiq",
        lessons: &["feiq"],
        about: "feiq send delivers a message to feiq listen, which acknowledges it",
        script: scenes::feiq,
    },
    Pair {
        name: "feiq-seed",
        lessons: &["feiq"],
        about: "feiq listen shows what the seed's Python sender sends",
        script: scenes::feiq_seed,
    },
    Pair {
        name: "tcp",
        lessons: &["tcp-server", "tcp-client"],
        about: "tcp-client sends two lines and half-closes, tcp-server echoes and closes",
        script: scenes::tcp,
    },
    Pair {
        name: "backlog",
        lessons: &["tcp-server", "tcp-client"],
        about: "tcp-server --sequential: the second client waits in the accept queue",
        script: scenes::backlog,
    },
    Pair {
        name: "tcp-seed",
        lessons: &["tcp-server", "tcp-client"],
        about: "each TCP lesson against the seed's own Python program",
        script: scenes::tcp_seed,
    },
    Pair {
        name: "download",
        lessons: &["file-download"],
        about: "get a text and a binary file, a missing one, a refused ../, a resumed one",
        script: scenes::download,
    },
    Pair {
        name: "download-seed",
        lessons: &["file-download"],
        about: "file-download against the seed's Python client and server (seed protocol)",
        script: scenes::download_seed,
    },
];

impl Pair {
    /// The `-seed` pairs run the seed's Python programs, so they need `python3`.
    pub fn runnable(&self) -> Result<(), String> {
        if !self.name.ends_with("-seed") {
            return Ok(());
        }
        match std::process::Command::new("python3")
            .arg("--version")
            .output()
        {
            Ok(out) if out.status.success() => Ok(()),
            _ => Err("python3 not found: it runs the seed's programs".into()),
        }
    }
}

/// Where the lesson binaries are: beside the xtask binary, built with the same profile.
pub struct Bins {
    pub dir: std::path::PathBuf,
}

impl Bins {
    pub fn command(&self, lesson: &str) -> std::process::Command {
        std::process::Command::new(self.dir.join(lesson))
    }

    /// One of the seed's Python programs in `xtask/peers/`, made runnable.
    pub fn seed(&self, script: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("python3");
        // -u: unbuffered, so each print reaches the pipe when it happens.
        cmd.arg("-u").arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("peers")
                .join(script),
        );
        cmd
    }
}
