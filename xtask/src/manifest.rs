//! The one list of lessons that `list`, the flag table and the book check read. The pairs that
//! run them are in `scenes.rs`, their scripts in `xtask/scenes/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::bins::{cargo, output};

pub struct Lesson {
    /// The package, whose chapter is `docs/src/<name>.md`.
    pub name: &'static str,
    /// Its directory under `lessons/`: the course order, then the name.
    pub dir: &'static str,
    /// Its default ports (the seed's), and whose each one is.
    pub ports: &'static str,
    pub teaches: &'static str,
}

/// The lesson in `lessons/NN-name`.
const fn lesson(dir: &'static str, ports: &'static str, teaches: &'static str) -> Lesson {
    let Ok(name) = std::str::from_utf8(dir.as_bytes().split_at(3).1) else {
        panic!("a lesson's directory is NN-name");
    };
    Lesson {
        name,
        dir,
        ports,
        teaches,
    }
}

#[rustfmt::skip]
pub const LESSONS: &[Lesson] = &[
    lesson("01-udp-server", "listens on 8080", "bind, recv_from, answering the sender's address; truncation"),
    lesson("02-udp-client", "binds 10086, sends to 8080", "send_to vs connect, timeouts, \"port unreachable\""),
    lesson("03-udp-chat", "binds 6666, sends to 6666", "one socket, two threads (try_clone): receiving while you type"),
    lesson("04-feiq", "binds 2425, sends to 2425", "a real protocol on UDP: IP Messenger packets, GBK, acknowledgements and resends"),
    lesson("05-tcp-server", "listens on 10050", "socket, SO_REUSEADDR, bind, listen(backlog), accept; a thread per client"),
    lesson("06-tcp-client", "connects to 10050", "connect, a byte stream without boundaries, half-close, FIN vs RST"),
    lesson("07-file-download", "serve listens on 6664, get/list connect", "framing a byte stream, a root jail, atomic writes, resuming, sendfile"),
    lesson("08-http-server", "listens on 8000", "HTTP/1.1 to curl and a browser: request parsing with limits, Content-Length, keep-alive, ranges, caching"),
    lesson("09-tcp-poll", "listens on 10050", "non-blocking sockets, WouldBlock, an epoll loop (mio); one thread, many clients"),
    lesson("10-tcp-async", "listens on 10050", "the same server with tokio: a task per client, what each .await does"),
];

/// The dependencies whose features a lesson's own build (`cargo run -p LESSON`) leaves out but
/// the workspace's (`cargo test --workspace`) turns on: each one means a rebuild in the
/// student's second terminal. Empty when every shared dependency is declared with the same
/// features for everyone (in `[workspace.dependencies]`).
pub fn feature_drift(root: &Path) -> anyhow::Result<Vec<String>> {
    let all = features(root, &["--workspace", "-e", "normal,build,dev"])?;
    let mut drift = Vec::new();
    for name in LESSONS.iter().map(|l| l.name) {
        for (package, on) in features(root, &["-p", name, "-e", "normal,build"])? {
            let every = all.get(&package).into_iter().flatten();
            let more: Vec<_> = every.filter(|f| !on.contains(*f)).collect();
            if !more.is_empty() {
                drift.push(format!(
                    "{name}: `cargo run -p {name}` builds {package} without {more:?}, which the \
                     workspace's build turns on: declare them in [workspace.dependencies]"
                ));
            }
        }
    }
    Ok(drift)
}

/// Each package `cargo tree ARGS` shows, with the features it is built with.
fn features(root: &Path, args: &[&str]) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut cargo = cargo();
    cargo.args(["tree", "--prefix", "none", "-f", "{p}|{f}"]);
    let tree = output(cargo.args(args).current_dir(root))?;
    let mut found = BTreeMap::<String, BTreeSet<String>>::new();
    for (package, on) in tree.lines().filter_map(|l| l.split_once('|')) {
        // `NAME vVERSION (PATH)`, features `a,b`, and ` (*)` where cargo showed it before.
        let package = package.split(" (").next().unwrap_or(package);
        let on = on.trim_end_matches(" (*)").split(',');
        let entry = found.entry(package.into()).or_default();
        entry.extend(on.filter(|f| !f.is_empty()).map(String::from));
    }
    Ok(found)
}
