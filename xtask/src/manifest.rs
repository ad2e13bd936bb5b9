//! The one list of lessons that `list`, the flag table and the book check read. The pairs that
//! run them are in `scenes.rs`, beside their scripts.

pub struct Lesson {
    pub name: &'static str,
    /// Its directory under `lessons/`: the course order, then the name.
    pub dir: &'static str,
    pub teaches: &'static str,
    /// The chapter's file under `docs/src/`.
    pub chapter: &'static str,
    /// Its default ports (the seed's), and whose each one is.
    pub ports: &'static str,
}

pub const LESSONS: &[Lesson] = &[
    Lesson {
        name: "udp-server",
        dir: "01-udp-server",
        teaches: "bind, recv_from, answering the sender's address; truncation",
        chapter: "udp-server.md",
        ports: "listens on 8080",
    },
    Lesson {
        name: "udp-client",
        dir: "02-udp-client",
        teaches: "send_to vs connect, timeouts, \"port unreachable\"",
        chapter: "udp-client.md",
        ports: "binds 10086, sends to 8080",
    },
    Lesson {
        name: "udp-chat",
        dir: "03-udp-chat",
        teaches: "one socket, two threads (try_clone): receiving while you type",
        chapter: "udp-chat.md",
        ports: "binds 6666, sends to 6666",
    },
    Lesson {
        name: "feiq",
        dir: "04-feiq",
        teaches: "a real protocol on UDP: IP Messenger packets, GBK, acknowledgements and resends",
        chapter: "feiq.md",
        ports: "binds 2425, sends to 2425",
    },
    Lesson {
        name: "tcp-server",
        dir: "05-tcp-server",
        teaches: "socket, SO_REUSEADDR, bind, listen(backlog), accept; a thread per client",
        chapter: "tcp-server.md",
        ports: "listens on 10050",
    },
    Lesson {
        name: "tcp-client",
        dir: "06-tcp-client",
        teaches: "connect, a byte stream without boundaries, half-close, FIN vs RST",
        chapter: "tcp-client.md",
        ports: "connects to 10050",
    },
    Lesson {
        name: "file-download",
        dir: "07-file-download",
        teaches: "framing a byte stream, a root jail, atomic writes, resuming, sendfile",
        chapter: "file-download.md",
        ports: "serve listens on 6664, get/list connect",
    },
    Lesson {
        name: "http-server",
        dir: "08-http-server",
        teaches: "HTTP/1.1 to curl and a browser: request parsing with limits, Content-Length, keep-alive, ranges, caching",
        chapter: "http-server.md",
        ports: "listens on 8000",
    },
    Lesson {
        name: "tcp-poll",
        dir: "09-tcp-poll",
        teaches: "non-blocking sockets, WouldBlock, an epoll loop (mio); one thread, many clients",
        chapter: "tcp-poll.md",
        ports: "listens on 10050",
    },
    Lesson {
        name: "tcp-async",
        dir: "10-tcp-async",
        teaches: "the same server with tokio: a task per client, what each .await does",
        chapter: "tcp-async.md",
        ports: "listens on 10050",
    },
];

/// The dependencies whose features a lesson's own build (`cargo run -p LESSON`) leaves out but
/// the workspace's (`cargo test --workspace`) turns on: each one means a rebuild in the
/// student's second terminal. Empty when every shared dependency is declared with the same
/// features for everyone (in `[workspace.dependencies]`).
pub fn feature_drift(root: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let all = features(root, &["--workspace", "-e", "normal,build,dev"])?;
    let mut drift = Vec::new();
    for lesson in LESSONS {
        for (package, on) in features(root, &["-p", lesson.name, "-e", "normal,build"])? {
            let more: Vec<&String> = all
                .get(&package)
                .map(|every| every.difference(&on).collect())
                .unwrap_or_default();
            if !more.is_empty() {
                drift.push(format!(
                    "{}: `cargo run -p {}` builds {package} without {more:?}, which the \
                     workspace's build turns on: declare them in [workspace.dependencies]",
                    lesson.name, lesson.name
                ));
            }
        }
    }
    Ok(drift)
}

type Features = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// Each package `cargo tree ARGS` shows, with the features it is built with.
fn features(root: &std::path::Path, args: &[&str]) -> anyhow::Result<Features> {
    let out = crate::bins::cargo()
        .args(["tree", "--prefix", "none", "-f", "{p}|{f}"])
        .args(args)
        .current_dir(root)
        .output()?;
    anyhow::ensure!(out.status.success(), "cargo tree {} failed", args.join(" "));
    let mut found = Features::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((package, on)) = line.split_once('|') else {
            continue;
        };
        let package = package.split(" (").next().unwrap_or(package).to_string();
        let on = on.trim_end_matches(" (*)");
        found
            .entry(package)
            .or_default()
            .extend(on.split(',').filter(|f| !f.is_empty()).map(String::from));
    }
    Ok(found)
}
