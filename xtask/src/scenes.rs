//! The pairs, and one script per pair: the same run is a demo (shown live), an e2e check
//! (asserted) and a transcript in the book (shown as the script reached it).
//!
//! Each step waits for the line it causes before the next step, never for a fixed time:
//! the sender's "sent" before the receiver's "received", the client's "sending FIN" before
//! the server's "closed the connection (FIN)". Every wait has the scene's timeout, so a hang
//! fails the pair instead of blocking.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{Failure, Proc, Scene, Stream};

use crate::bins::Bins;

/// A scenario: starts the pair's lessons in a scene, drives them, checks what they print.
pub type Script = fn(&mut Scene, &Bins, &Pair) -> Result<(), Failure>;

pub struct Pair {
    pub name: &'static str,
    /// The lessons it runs: the server first.
    pub lessons: &'static [&'static str],
    pub script: Script,
    pub about: &'static str,
}

const fn pair(
    name: &'static str,
    lessons: &'static [&'static str],
    script: Script,
    about: &'static str,
) -> Pair {
    Pair {
        name,
        lessons,
        script,
        about,
    }
}

/// The scripts `tcp` and `backlog` run any server on tcp-server's wire (a byte-for-byte
/// echo, with tcp-server's flags) against tcp-client: another such server is one more line.
#[rustfmt::skip]
pub const PAIRS: &[Pair] = &[
    pair("udp", &["udp-server", "udp-client"], udp, "udp-client sends three lines, udp-server echoes each one"),
    pair("udp-seed", &["udp-server", "udp-client"], udp_seed, "each UDP lesson against the seed's own Python program"),
    pair("step1-seed-udp-client", &["udp-client"], step1_udp_client, "udp-client's step 1 (the seed's client in Rust) against the seed's server"),
    pair("step2-each-line-waits", &["udp-client"], step2_udp_client, "udp-client's step 2 (each line a datagram, a reply awaited 2 s) against the seed's server"),
    pair("step3-connected", &["udp-client"], step3_udp_client, "udp-client's step 3 (a connected socket) against the seed's server, then against nobody"),
    pair("step1-seed-udp-server", &["udp-server"], udp_step1, "udp-server's step 1, the seed's server in Rust, answers the seed's client"),
    pair("step2-flags", &["udp-server"], udp_step2, "udp-server's step 2 (flags, hints, an echo) against the seed's client"),
    pair("step3-truncation", &["udp-server"], udp_step3, "udp-server's step 3 sees and reports a datagram cut by its buffer"),
    pair("chat", &["udp-chat"], chat, "two udp-chat instances talk in both directions"),
    pair("chat-seed", &["udp-chat"], chat_seed, "udp-chat against the seed's menu chat"),
    pair("step1-seed-udp-chat", &["udp-chat"], step1_udp_chat, "udp-chat's step 1 (the seed's menu in Rust) against the seed's menu chat"),
    pair("step2-receiving-thread", &["udp-chat"], step2_udp_chat, "udp-chat's step 2 (a receiving thread) against the seed's menu chat"),
    pair("step3-reply", &["udp-chat"], step3_udp_chat, "udp-chat's step 3 (/peer and /reply name whom a line goes to) against the seed's menu chat"),
    pair("step4-escaping", &["udp-chat"], step4_udp_chat, "udp-chat's step 4 (a peer's text escaped) against the seed's menu chat"),
    pair("step5-line-editor", &["udp-chat"], step5_udp_chat, "udp-chat's step 5 (a line editor; plain lines on a pipe) against the seed's menu chat"),
    pair("feiq", &["feiq"], feiq, "feiq send delivers a message to feiq listen, which acknowledges it"),
    pair("feiq-seed", &["feiq"], feiq_seed, "feiq listen shows what the seed's Python sender sends"),
    pair("step1-seed-feiq", &["feiq"], feiq_step1, "feiq's step 1 sends the seed's bytes, as the seed does"),
    pair("step2-ack", &["feiq"], feiq_step2, "feiq's step 2 asks for an acknowledgement, and feiq listen gives it"),
    pair("step3-listen", &["feiq"], feiq_step3, "feiq's step 3 shows the seed's message and acknowledges step 2's"),
    pair("tcp", &["tcp-server", "tcp-client"], tcp, "tcp-client sends two lines and half-closes, tcp-server echoes and closes"),
    pair("backlog", &["tcp-server", "tcp-client"], backlog, "tcp-server --sequential: the second client waits in the accept queue"),
    pair("tcp-seed", &["tcp-server", "tcp-client"], tcp_seed, "each TCP lesson against the seed's own Python program"),
    pair("step1-seed-tcp-client", &["tcp-client"], step1_tcp_client, "tcp-client's step 1 (the seed's client in Rust) against the seed's server"),
    pair("step2-reader-thread", &["tcp-client"], tcp_client_step, "tcp-client's step 2 (a reading thread, FIN at the end of input) against the seed's server"),
    pair("step3-one-loop", &["tcp-client"], tcp_client_step, "tcp-client's step 3 (events on one channel, one loop) against the seed's server"),
    pair("step1-seed-tcp-server", &["tcp-server"], tcp_server_step, "tcp-server's step 1 (the seed's server in Rust) against the seed's client"),
    pair("step2-thread-per-client", &["tcp-server"], tcp_server_step, "tcp-server's step 2 (a thread per client) against the seed's client"),
    pair("step3-timeouts", &["tcp-server"], tcp_server_step, "tcp-server's step 3 (read and write timeouts) against the seed's client"),
    pair("step4-limits", &["tcp-server"], tcp_server_step, "tcp-server's step 4 (places in all and per address) against the seed's client"),
    pair("step5-socket2", &["tcp-server"], tcp_server_step, "tcp-server's step 5 (SO_REUSEADDR and a backlog of 4096) against the seed's client"),
    pair("poll", &["tcp-poll", "tcp-client"], tcp, "tcp-client against tcp-poll: one thread, an epoll loop (mio)"),
    pair("poll-seed", &["tcp-poll"], seed_client, "the seed's TCP client against tcp-poll"),
    pair("async", &["tcp-async", "tcp-client"], tcp, "tcp-client against tcp-async: a tokio task per client"),
    pair("async-seed", &["tcp-async"], seed_client, "the seed's TCP client against tcp-async"),
    pair("step1-busy-loop", &["tcp-poll", "tcp-client"], poll_step, "tcp-poll's step 1: non-blocking sockets tried in turn, for ever (std only)"),
    pair("step2-epoll", &["tcp-poll", "tcp-client"], poll_step, "tcp-poll's step 2: epoll through mio, read until WouldBlock, a pending buffer"),
    pair("step1-task-per-client", &["tcp-async", "tcp-client"], poll_step, "tcp-async's step 1: a tokio task per client, no limits or timeouts"),
    pair("download", &["file-download"], download, "get a text and a binary file, a missing one, a refused ../, a resumed one"),
    pair("download-seed", &["file-download"], download_seed, "file-download against the seed's Python client and server (seed protocol)"),
    pair("step1-fixed-response", &["http-server"], http_step1, "step 1: the seed's server answers curl with one fixed HTTP/1.0 page"),
    pair("step2-files", &["http-server"], http_step2, "step 2: a file per request, Content-Length, then close"),
    pair("step3-keep-alive", &["http-server"], http_step3, "step 3: keep-alive: two files on one connection, then Connection: close"),
    pair("http", &["http-server"], http, "curl against http-server: a file, a HEAD, a range, a resume, a listing, a 404, a refused ../"),
    pair("step1-seed-get", &["file-download"], download_step1, "file-download's step 1, the seed's client in Rust, against the seed's Python server"),
    pair("step2-framed-get", &["file-download"], download_step2, "file-download's step 2: a header before the bytes; a missing file is an error"),
    pair("step3-part-rename", &["file-download"], download_step3, "file-download's step 3: NAME.part, fsync, then rename; a cut transfer leaves no NAME"),
    pair("step1-seed-serve", &["file-download"], download_serve_step1, "file-download's server step 1, the seed's server in Rust, against the seed's Python client"),
    pair("step2-framed-serve", &["file-download"], download_serve_step, "file-download's server step 2: a header before the bytes, against get; ../ still leads out"),
    pair("step3-root-jail", &["file-download"], download_serve_step, "file-download's server step 3: the root jail refuses ../, against get"),
    pair("step4-sendfile", &["file-download"], download_serve_step, "file-download's server step 4: sendfile, against get"),
    pair("step5-limits", &["file-download"], download_serve_step, "file-download's server step 5: a thread per client, time limits, against get"),
];

impl Pair {
    /// The `-seed` pairs and the steps' pairs run the seed's Python programs, so they need
    /// `python3`; http-server's pairs run curl.
    pub fn runnable(&self) -> Result<(), String> {
        let needs = |tool: &str, why: &str| match Command::new(tool).arg("--version").output() {
            Ok(out) if out.status.success() => Ok(()),
            _ => Err(format!("{tool} not found: {why}")),
        };
        if self.lessons.contains(&"http-server") {
            needs("curl", "it is the HTTP client (apt-get install curl)")
        } else if self.name.ends_with("-seed") || self.name.contains("step") {
            needs("python3", "it runs the seed's programs")
        } else {
            Ok(())
        }
    }

    /// The server and the client of a two-lesson pair.
    fn server_and_client(&self) -> Result<(&'static str, &'static str), Failure> {
        match self.lessons {
            [server, client] => Ok((server, client)),
            _ => Err(Failure::new(format!(
                "{}: needs a server and a client",
                self.name
            ))),
        }
    }
}

fn udp(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    let (server, client) = pair.server_and_client()?;
    let (server, addr) = s.start("server", bins.lesson(server, &["--port", "0"]))?;
    let to = addr.to_string();
    let client = bins.lesson(client, &["--to", &to, "--bind", "127.0.0.1", "--port", "0"]);
    let (client, local) = s.start("client", client)?;
    s.expect(client, &format!("sending to {addr}"))?;

    for (line, bytes) in [("hello", 5), ("你好", 6), ("", 0)] {
        s.send_line(client, line)?;
        s.expect(client, &format!("sent {bytes} bytes to {addr}"))?;
        s.expect(server, &format!("received {bytes} bytes from {local}"))?;
        s.expect(server, &format!("sent {bytes} bytes to {local}"))?;
        let got = s.expect(client, &format!("received {bytes} bytes from {addr}"))?;
        check(s, got.ends_with(line), &got)?;
    }
    s.close_stdin(client)?;
    s.wait_success(client)?;
    s.kill(server)
}

/// Starts `client` with the server's IP address and port as its last two arguments.
fn to(s: &mut Scene, label: &str, mut client: Command, addr: SocketAddr) -> Result<Proc, Failure> {
    client.args([addr.ip().to_string(), addr.port().to_string()]);
    s.spawn(label, client)
}

/// The seed's Python programs and the lessons on the same wire, in both roles.
fn udp_seed(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    // The lesson's server, the seed's client.
    let (server, addr) = s.start("server", bins.lesson("udp-server", &["--port", "0"]))?;
    let seed = to(s, "seed-client", bins.seed("udp_client.py", &[]), addr)?;
    s.send_line(seed, "你好, seed")?;
    s.expect(server, "received 12 bytes from 127.0.0.1:")?;
    s.expect(server, "sent 12 bytes to 127.0.0.1:")?;
    s.expect(seed, &format!("('127.0.0.1', {})", addr.port()))?;
    s.expect(seed, "你好, seed")?;
    s.wait_success(seed)?;
    s.kill(server)?;

    // The seed's server, the lesson's client.
    let client = |to: &str| {
        bins.lesson(
            "udp-client",
            &["--to", to, "--bind", "127.0.0.1", "--port", "0"],
        )
    };
    udp_client_step(s, bins, "client", client, false)
}

/// The seed's server; the step sends one line and prints every answer, as the seed does.
fn step1_udp_client(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (seed, addr) = s.start("seed-server", bins.seed("udp_server.py", &[]))?;
    let step = bins.example("step1-seed-udp-client", &[&addr.to_string(), "127.0.0.1:0"]);
    let (step, local) = s.start("step1", step)?;
    s.send_line(step, "hello, seed")?;
    s.expect(seed, &format!("('127.0.0.1', {})", local.port()))?;
    s.expect(seed, "hello, seed")?;
    s.send_line(seed, "欢迎")?;
    s.expect(step, &addr.to_string())?;
    s.expect(step, "欢迎")?;
    // Like the seed, step 1 waits for answers until it is stopped.
    s.kill(step)?;
    s.kill(seed)
}

fn step2_udp_client(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let step = |to: &str| bins.example("step2-each-line-waits", &[to, "127.0.0.1:0"]);
    udp_client_step(s, bins, "step2", step, false)
}

/// A connected socket: the seed's server answers; once it is gone, the kernel says so.
fn step3_udp_client(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let step = |to: &str| bins.example("step3-connected", &[to, "127.0.0.1:0"]);
    udp_client_step(s, bins, "step3", step, true)
}

/// The seed's server and a client made by `client(ADDRESS)`: a line, the seed's answer; with
/// `then_nobody`, a line after the seed is gone, which the kernel's "port unreachable" answers.
fn udp_client_step(
    s: &mut Scene,
    bins: &Bins,
    label: &str,
    client: impl FnOnce(&str) -> Command,
    then_nobody: bool,
) -> Result<(), Failure> {
    let (seed, addr) = s.start("seed-server", bins.seed("udp_server.py", &[]))?;
    let (step, local) = s.start(label, client(&addr.to_string()))?;
    if label == "client" {
        // The lesson says where it sends before it reads a line; the steps do not.
        s.expect(step, &format!("sending to {addr}"))?;
    }
    s.send_line(step, "hello, seed")?;
    s.expect(step, &format!("sent 11 bytes to {addr}"))?;
    if !then_nobody {
        s.expect(seed, &format!("('127.0.0.1', {})", local.port()))?;
    }
    s.expect(seed, "hello, seed")?;
    s.send_line(seed, "欢迎")?;
    s.expect(step, &format!("received 6 bytes from {addr}: 欢迎"))?;
    if then_nobody {
        s.kill(seed)?;
        s.send_line(step, "anyone?")?;
        s.expect(step, &format!("nothing listens on {addr}"))?;
        s.close_stdin(step)?;
        return s.wait_success(step);
    }
    s.close_stdin(step)?;
    s.wait_success(step)?;
    s.kill(seed)
}

/// Two menus: each receives only when its user chooses 2.
fn step1_udp_chat(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (seed, seed_addr) = s.start("seed-chat", bins.seed("udp_chat.py", &[]))?;
    s.expect(seed, "请选择功能")?;
    let (step, step_addr) = s.start(
        "step1",
        bins.example("step1-seed-udp-chat", &["127.0.0.1:0"]),
    )?;
    s.expect(step, "choose: 1 send, 2 receive, 3 quit")?;
    let (ip, port) = (seed_addr.ip().to_string(), seed_addr.port().to_string());
    for (line, next) in [("1", "IP address:"), (&ip, "port:"), (&port, "message:")] {
        s.send_line(step, line)?;
        s.expect(step, next)?;
    }
    s.send_line(step, "你好, seed")?;
    s.expect(step, "choose")?;
    s.send_line(seed, "2")?;
    s.expect(seed, "的数据：你好, seed")?;
    s.send_line(step, "2")?;
    s.expect(step, &format!("from {seed_addr}: 你好, seed"))?;
    s.expect(seed, "请选择功能")?;
    let (ip, port) = (step_addr.ip().to_string(), step_addr.port().to_string());
    for line in ["1", &ip, &port, "来自菜单的消息"] {
        s.send_line(seed, line)?;
    }
    s.expect(seed, "输入内容请选择功能")?;
    s.send_line(step, "2")?;
    s.expect(step, &format!("from {seed_addr}: 来自菜单的消息"))?;
    s.send_line(step, "3")?;
    s.wait_success(step)?;
    s.send_line(seed, "3")?;
    s.wait_success(seed)
}

fn step2_udp_chat(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (seed, seed_addr) = s.start("seed-chat", bins.seed("udp_chat.py", &[]))?;
    s.expect(seed, "请选择功能")?;
    let to_seed = seed_addr.to_string();
    let step = bins.example("step2-receiving-thread", &["127.0.0.1:0", &to_seed]);
    let (step, _) = s.start("step2", step)?;
    s.send_line(step, "你好, seed")?;
    s.expect(step, &format!("sent 12 bytes to {seed_addr}"))?;
    s.send_line(seed, "2")?;
    s.expect(seed, "的数据：你好, seed")?;
    s.expect(step, &format!("from {seed_addr}: 你好, seed"))?;
    s.close_stdin(step)?;
    s.wait_success(step)?;
    s.send_line(seed, "3")?;
    s.wait_success(seed)
}

/// The seed's menu chat against udp-chat's step 3: its "1" writes to the step, `/reply`
/// turns the step to it, and its "2" receives the step's line and echoes it.
fn step3_udp_chat(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    chat_step(s, bins, "step3-reply", "来自菜单的消息", "来自菜单的消息")
}

/// As step 3, with an escape sequence in the seed's message: step 4 shows it escaped.
fn step4_udp_chat(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    chat_step(
        s,
        bins,
        "step4-escaping",
        "\u{1b}[2J来自菜单",
        "\\u{1b}[2J来自菜单",
    )
}

/// As step 4: on a pipe the line editor is not there, and the lines are the same.
fn step5_udp_chat(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    chat_step(
        s,
        bins,
        "step5-line-editor",
        "\u{1b}[2J来自菜单",
        "\\u{1b}[2J来自菜单",
    )
}

/// The seed's menu sends `message` to the step, which shows it as `shown`; the step's
/// `/reply` names the seed, and the seed's "2" receives the step's line and echoes it.
fn chat_step(
    s: &mut Scene,
    bins: &Bins,
    name: &str,
    message: &str,
    shown: &str,
) -> Result<(), Failure> {
    let (seed, seed_addr) = s.start("seed-chat", bins.seed("udp_chat.py", &[]))?;
    s.expect(seed, "请选择功能")?;
    let label = name.split('-').next().unwrap_or(name);
    let (step, step_addr) = s.start(label, bins.example(name, &["127.0.0.1:0"]))?;
    s.send_line(step, "hello?")?;
    s.expect(step, "no peer yet")?;
    let (ip, port) = (step_addr.ip().to_string(), step_addr.port().to_string());
    for line in ["1", &ip, &port, message] {
        s.send_line(seed, line)?;
    }
    s.expect(seed, "输入内容请选择功能")?;
    s.expect(step, &format!("from {seed_addr}: {shown}"))?;
    s.send_line(step, "/reply")?;
    s.expect(step, &format!("now talking to {seed_addr}"))?;
    s.send_line(step, "你好, seed")?;
    s.expect(step, &format!("sent 12 bytes to {seed_addr}"))?;
    s.send_line(seed, "2")?;
    s.expect(seed, "的数据：你好, seed")?;
    s.expect(step, &format!("from {seed_addr}: 你好, seed"))?;
    s.close_stdin(step)?;
    s.wait_success(step)?;
    s.send_line(seed, "3")?;
    s.wait_success(seed)
}

/// The seed's client against udp-server's step 1: it prints the sender and the text, and
/// answers with the line typed.
fn udp_step1(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (server, addr) = s.start("step1", bins.example("step1-seed-udp-server", &["0"]))?;
    let seed = to(s, "seed-client", bins.seed("udp_client.py", &[]), addr)?;
    s.send_line(seed, "你好, seed")?;
    s.expect(server, "你好, seed")?;
    s.send_line(server, "欢迎")?;
    s.expect(seed, &format!("('127.0.0.1', {})", addr.port()))?;
    s.expect(seed, "欢迎")?;
    s.wait_success(seed)?;
    s.kill(server)
}

/// The seed's client against udp-server's step 2: an echo, shown.
fn udp_step2(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let step2 = bins.example("step2-flags", &["--port", "0"]);
    let (server, addr) = s.start("step2", step2)?;
    let seed = to(s, "seed-client", bins.seed("udp_client.py", &[]), addr)?;
    s.send_line(seed, "你好, seed")?;
    s.expect(server, "sent 12 bytes to 127.0.0.1:")?;
    s.expect(seed, "你好, seed")?;
    s.wait_success(seed)?;
    s.kill(server)
}

/// The seed's client against udp-server's step 3 with a 4-byte buffer: the cut is told.
fn udp_step3(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let step3 = bins.example("step3-truncation", &["--port", "0", "--buffer", "4"]);
    let (server, addr) = s.start("step3", step3)?;
    let seed = to(s, "seed-client", bins.seed("udp_client.py", &[]), addr)?;
    s.send_line(seed, "0123456789")?;
    s.expect(server, "(cut: the buffer holds 4; 6 bytes lost)")?;
    s.expect(server, "sent 4 bytes")?;
    s.expect(seed, "0123")?;
    s.wait_success(seed)?;
    s.kill(server)
}

fn chat(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (alice, a) = s.start("alice", bins.lesson("udp-chat", &["--port", "0"]))?;
    let to_alice = a.to_string();
    let bob = bins.lesson("udp-chat", &["--port", "0", "--to", &to_alice]);
    let (bob, b) = s.start("bob", bob)?;

    s.send_line(bob, "hi alice, 你好")?;
    s.expect(bob, &format!("sent 16 bytes to {a}"))?;
    s.expect(alice, &format!("from {b}: hi alice, 你好"))?;
    s.send_line(alice, "/reply")?;
    s.expect(alice, &format!("now talking to {b}"))?;
    s.send_line(alice, "hello bob")?;
    s.expect(alice, &format!("sent 9 bytes to {b}"))?;
    s.expect(bob, &format!("from {a}: hello bob"))?;
    s.send_line(alice, "how are you?")?;
    s.expect(alice, &format!("sent 12 bytes to {b}"))?;
    s.expect(bob, &format!("from {a}: how are you?"))?;
    s.send_line(bob, "/quit")?;
    s.wait_success(bob)?;
    s.close_stdin(alice)?;
    s.wait_success(alice)
}

/// The seed's menu chat: its "2. receive" echoes what it got, and "1. send" writes to us.
/// Its prompts end without a newline, so they run into the next line it prints.
fn chat_seed(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (seed, seed_addr) = s.start("seed-chat", bins.seed("udp_chat.py", &[]))?;
    s.expect(seed, "请选择功能")?;
    let to_seed = seed_addr.to_string();
    let chat = bins.lesson("udp-chat", &["--port", "0", "--to", &to_seed]);
    let (chat, chat_addr) = s.start("chat", chat)?;

    // Our message waits in the seed's socket until its menu's "2" calls recvfrom; then the
    // menu echoes it back.
    s.send_line(chat, "你好, seed")?;
    s.expect(chat, &format!("sent 12 bytes to {seed_addr}"))?;
    s.send_line(seed, "2")?;
    s.expect(seed, "的数据：你好, seed")?;
    s.expect(chat, &format!("from {seed_addr}: 你好, seed"))?;
    // "1": the menu asks for an address, a port and a text, sends it to us, shows the menu.
    s.expect(seed, "请选择功能")?;
    s.send_line(seed, "1")?;
    s.send_line(seed, &chat_addr.ip().to_string())?;
    s.send_line(seed, &chat_addr.port().to_string())?;
    s.send_line(seed, "来自菜单的消息")?;
    s.expect(seed, "输入内容请选择功能")?;
    s.expect(chat, &format!("from {seed_addr}: 来自菜单的消息"))?;
    s.send_line(seed, "3")?;
    s.wait_success(seed)?;
    s.send_line(chat, "/quit")?;
    s.wait_success(chat)
}

fn feiq(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let listen = [
        "listen",
        "--port",
        "0",
        "--user",
        "小道士",
        "--host",
        "ubuntu",
    ];
    let (listen, addr) = s.start("listen", bins.lesson("feiq", &listen))?;
    let to = addr.to_string();
    let mut send = bins.lesson("feiq", &["send", "--to", &to, "--bind", "127.0.0.1"]);
    send.args([
        "--port",
        "0",
        "--user",
        "student",
        "--host",
        "laptop",
        "你好, 飞秋",
    ]);
    let (send, from) = s.start("send", send)?;
    s.expect(send, &format!("to {addr}"))?;
    s.expect(listen, &format!("student@laptop ({from}): 你好, 飞秋"))?;
    s.expect(listen, &format!("answered {from}"))?;
    s.expect(send, &format!("delivered to {addr}"))?;
    s.wait_success(send)?;
    s.kill(listen)
}

/// The seed's own sender: its GBK packet with command 32, shown by `feiq listen`.
fn feiq_seed(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (listen, addr) = s.start("listen", bins.lesson("feiq", &["listen", "--port", "0"]))?;
    let seed = to(s, "seed-feiq", bins.seed("feiq.py", &[]), addr)?;
    s.send_line(seed, "晚上一起吃饭吗？")?;
    s.expect(listen, "小道士@ubuntu (127.0.0.1:")?;
    s.close_stdin(seed)?;
    s.wait_success(seed)?;
    s.kill(listen)
}

/// The seed's sender and feiq's step 1 send the same bytes: `feiq listen --hexdump` shows.
fn feiq_step1(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let listen = ["listen", "--port", "0", "--hexdump"];
    let (listen, addr) = s.start("listen", bins.lesson("feiq", &listen))?;
    for (label, cmd) in [
        ("seed-feiq", bins.seed("feiq.py", &[])),
        ("step1", bins.example("step1-seed-feiq", &[])),
    ] {
        let sender = to(s, label, cmd, addr)?;
        s.send_line(sender, "你好")?;
        s.expect_on(listen, Stream::Stderr, "00000010")?;
        s.expect(listen, "小道士@ubuntu (127.0.0.1:")?;
        s.close_stdin(sender)?;
        s.wait_success(sender)?;
    }
    s.kill(listen)
}

/// feiq's step 2 asks for an acknowledgement; feiq listen gives it.
fn feiq_step2(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let listen = ["listen", "--port", "0", "--user", "rust", "--host", "vm"];
    let (listen, addr) = s.start("listen", bins.lesson("feiq", &listen))?;
    let step2 = to(s, "step2", bins.example("step2-ack", &[]), addr)?;
    s.send_line(step2, "晚上好")?;
    s.expect(step2, &format!("sending to {addr}"))?;
    s.expect(listen, "小道士@ubuntu (127.0.0.1:")?;
    s.expect(listen, "answered 127.0.0.1:")?;
    s.expect(step2, &format!("delivered to {addr} (acknowledged)"))?;
    s.close_stdin(step2)?;
    s.wait_success(step2)?;
    s.kill(listen)
}

/// feiq's step 3 shows the seed's message (which asks for no acknowledgement), then
/// acknowledges step 2's.
fn feiq_step3(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (listen, addr) = s.start("step3", bins.example("step3-listen", &["0"]))?;
    let seed = to(s, "seed-feiq", bins.seed("feiq.py", &[]), addr)?;
    s.send_line(seed, "晚上一起吃饭吗？")?;
    s.expect(listen, "小道士@ubuntu (127.0.0.1:")?;
    s.close_stdin(seed)?;
    s.wait_success(seed)?;
    let step2 = to(s, "step2", bins.example("step2-ack", &[]), addr)?;
    s.send_line(step2, "好的")?;
    s.expect(step2, &format!("sending to {addr}"))?;
    s.expect(listen, "acknowledged packet")?;
    s.expect(step2, &format!("delivered to {addr} (acknowledged)"))?;
    s.close_stdin(step2)?;
    s.wait_success(step2)?;
    s.kill(listen)
}

fn tcp(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    let (server, client) = pair.server_and_client()?;
    let (server, addr) = s.start("server", bins.lesson(server, &["--port", "0"]))?;
    let (client, local) = connect(
        s,
        "client",
        bins.lesson(client, &["--to", &addr.to_string()]),
    )?;
    s.expect(server, &format!("accepted {local}"))?;

    for (line, bytes) in [("hello", 6), ("你好", 7)] {
        s.send_line(client, line)?;
        s.expect(
            server,
            &format!("received {bytes} bytes from {local}: {line}\\n"),
        )?;
        s.expect(client, &format!("received {bytes} bytes: {line}\\n"))?;
    }
    finish(s, client, server, local, 13)?;
    s.kill(server)
}

/// `--sequential`: the second client connects at once (the kernel completes the handshake
/// and queues it) but is served only when the first one leaves.
fn backlog(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    let (server, client) = pair.server_and_client()?;
    let server = bins.lesson(server, &["--port", "0", "--sequential"]);
    let (server, addr) = s.start("server", server)?;
    let to = addr.to_string();

    let (first, one) = connect(s, "first", bins.lesson(client, &["--to", &to]))?;
    s.expect(server, &format!("accepted {one}"))?;
    s.send_line(first, "first")?;
    s.expect(server, &format!("received 6 bytes from {one}"))?;
    s.expect(first, "received 6 bytes: first")?;

    let (second, two) = connect(s, "second", bins.lesson(client, &["--to", &to]))?;
    s.send_line(second, "second")?;
    // The server is busy with the first client: the second one's line waits unread.
    s.send_line(first, "still me")?;
    s.expect(server, &format!("received 9 bytes from {one}"))?;
    s.expect(first, "received 9 bytes: still me")?;
    let early = s.output(second, Stream::Stdout);
    check(
        s,
        !early.iter().any(|l| l.starts_with("received")),
        "second got an echo early",
    )?;

    finish(s, first, server, one, 15)?;
    s.expect(server, &format!("accepted {two}"))?;
    s.expect(server, &format!("received 7 bytes from {two}"))?;
    s.expect(second, "received 7 bytes: second")?;
    finish(s, second, server, two, 7)?;
    s.kill(server)
}

/// Starts a TCP client and waits for `connected to SERVER from LOCAL`; returns LOCAL.
fn connect(
    s: &mut Scene,
    label: &str,
    client: std::process::Command,
) -> Result<(Proc, String), Failure> {
    let client = s.spawn(label, client)?;
    let line = s.expect(client, "connected to")?;
    let local = line.rsplit(' ').next().unwrap_or_default().to_string();
    Ok((client, local))
}

/// The client's end of input: its FIN, the server's, and the client's exit.
fn finish(
    s: &mut Scene,
    client: Proc,
    server: Proc,
    local: String,
    bytes: u32,
) -> Result<(), Failure> {
    s.close_stdin(client)?;
    s.expect(client, "end of input: sending FIN")?;
    s.expect(
        server,
        &format!("{local} closed the connection (FIN) after {bytes} bytes"),
    )?;
    s.expect(client, "the server closed the connection (FIN)")?;
    s.wait_success(client)
}

/// The seed's echo server; the step reads once after each line, 10 bytes at most.
fn step1_tcp_client(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (seed, addr) = s.start("seed-server", bins.seed("tcp_server.py", &[]))?;
    let step = bins.example("step1-seed-tcp-client", &[&addr.to_string()]);
    let (step, _) = connect(s, "step1", step)?;
    s.send_line(step, "hello")?;
    s.expect(seed, "b'hello'")?;
    s.expect(step, "received: hello")?;
    s.close_stdin(step)?;
    s.wait_success(step)?;
    s.expect(seed, "客户端已关闭")?;
    s.wait_success(seed)
}

/// A later step of tcp-client (the example named like the pair) against the seed's server.
fn tcp_client_step(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    let label = pair.name.split('-').next().unwrap_or(pair.name);
    let step = |to: &str| bins.example(pair.name, &[to]);
    seed_tcp_server(
        s,
        bins,
        label,
        step,
        "received 12 bytes: \"hello, seed\\n\"",
    )
}

/// The seed's echo server and a client made by `client(ADDRESS)`: a line, its echo, the end of
/// input, the seed's FIN.
fn seed_tcp_server(
    s: &mut Scene,
    bins: &Bins,
    label: &str,
    client: impl FnOnce(&str) -> Command,
    received: &str,
) -> Result<(), Failure> {
    let (seed, addr) = s.start("seed-server", bins.seed("tcp_server.py", &[]))?;
    let (step, _) = connect(s, label, client(&addr.to_string()))?;
    s.send_line(step, "hello, seed")?;
    s.expect(seed, "b'hello, seed\\n'")?;
    s.expect(step, received)?;
    s.close_stdin(step)?;
    s.expect(step, "end of input: sending FIN")?;
    s.expect(seed, "客户端已关闭")?;
    s.expect(step, "the server closed the connection (FIN)")?;
    s.wait_success(step)?;
    s.wait_success(seed)
}

/// The seed's TCP programs and the lessons on the same wire, in both roles.
fn tcp_seed(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    seed_client_against(s, bins, "tcp-server")?;
    let client = |to: &str| bins.lesson("tcp-client", &["--to", to]);
    seed_tcp_server(
        s,
        bins,
        "client",
        client,
        "received 12 bytes: hello, seed\\n",
    )
}

/// A step of tcp-server (the example named like the pair) and the seed's client. Step 1 serves
/// that one client and exits, as the seed does.
fn tcp_server_step(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    let label = pair.name.split('-').next().unwrap_or(pair.name);
    let step = bins.example(pair.name, &["127.0.0.1:0"]);
    let closed = match label {
        "step1" => "the client closed the connection",
        _ => "closed the connection (FIN)",
    };
    seed_tcp_client(s, bins, label, step, "b'\\xc4\\xe3\\xba\\xc3'", closed)
}

/// The seed's client against the pair's server, an echo on tcp-server's wire.
fn seed_client(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    match pair.lessons {
        [server] => seed_client_against(s, bins, server),
        _ => Err(Failure::new(format!("{}: needs one server", pair.name))),
    }
}

/// A step of tcp-poll or tcp-async (`lessons/<dir>/examples/<step>.rs`, the pair's name, after
/// `poll-` or `async-` if it has one) on port 0, against tcp-client: two lines echoed, then the client's FIN.
fn poll_step(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    let (_, client) = pair.server_and_client()?;
    let step = ["poll-", "async-"]
        .iter()
        .find_map(|lesson| pair.name.strip_prefix(lesson))
        .unwrap_or(pair.name);
    let (server, addr) = s.start(step, bins.example(step, &["0"]))?;
    let to = addr.to_string();
    let (client, local) = connect(s, "client", bins.lesson(client, &["--to", &to]))?;
    s.expect(server, &format!("accepted {local}"))?;
    for (line, bytes) in [("hello", 6), ("你好", 7)] {
        s.send_line(client, line)?;
        s.expect(server, &format!("received {bytes} bytes"))?;
        s.expect(client, &format!("received {bytes} bytes: {line}\\n"))?;
    }
    s.close_stdin(client)?;
    s.expect(client, "the server closed the connection (FIN)")?;
    s.wait_success(client)?;
    s.kill(server)
}

/// The lesson's server, the seed's client.
fn seed_client_against(s: &mut Scene, bins: &Bins, server: &str) -> Result<(), Failure> {
    let server = bins.lesson(server, &["--port", "0", "--encoding", "gbk"]);
    let (received, closed) = (
        "received 4 bytes from 127.0.0.1:",
        "closed the connection (FIN) after 4 bytes",
    );
    seed_tcp_client(s, bins, "server", server, received, closed)
}

/// `server` and the seed's client (GBK, no newline, recv(10)): what the server prints when it
/// has `received` the line, and when the client has `closed` the connection. tcp-server's
/// step 1 accepts silently, and exits after its one client.
fn seed_tcp_client(
    s: &mut Scene,
    bins: &Bins,
    label: &str,
    server: Command,
    received: &str,
    closed: &str,
) -> Result<(), Failure> {
    let (server, addr) = s.start(label, server)?;
    let seed = to(s, "seed-client", bins.seed("tcp_client.py", &[]), addr)?;
    let step1 = label == "step1";
    if !step1 {
        s.expect(server, "accepted 127.0.0.1:")?;
    }
    s.send_line(seed, "你好")?;
    s.expect(server, received)?;
    s.expect(seed, "收到数据你好")?;
    s.close_stdin(seed)?;
    s.wait_success(seed)?;
    s.expect(server, closed)?;
    if step1 {
        s.wait_success(server)
    } else {
        s.kill(server)
    }
}

fn download(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = scratch()?;
    let notes = "第一课: sockets\n".as_bytes();
    let binary: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    write(&root.join("notes.txt"), notes)?;
    write(&root.join("data.bin"), &binary)?;

    let (serve, addr) = serve(s, bins, "file-download", &root)?;

    for (name, bytes) in [("notes.txt", notes), ("data.bin", &binary)] {
        let get = s.spawn("get", client(bins, &here, addr, &["get", name]))?;
        s.expect(serve, &format!("sent \"{name}\""))?;
        s.wait_success(get)?;
        same(s, &here.join(name), bytes)?;
    }
    for (name, why) in [
        ("missing.txt", "no such file"),
        ("../../etc/passwd", "'..' is not allowed"),
    ] {
        let get = s.spawn("get", client(bins, &here, addr, &["get", name]))?;
        s.expect(serve, &format!("\"{name}\": {why}"))?;
        s.expect_on(get, Stream::Stderr, why)?;
        exits_with(s, get, 1)?;
    }
    gone(s, &here.join("missing.txt"))?;
    gone(s, &here.join("passwd"))?;

    // An earlier download was cut after 300,000 bytes: --continue fetches only the rest of
    // the version it came from (the size and modification time the server names).
    write(&here.join("again.bin.part"), &binary[..300_000])?;
    let meta =
        std::fs::metadata(root.join("data.bin")).map_err(|e| s.fail(format!("data.bin: {e}")))?;
    let version = {
        use std::os::unix::fs::MetadataExt;
        format!("{}-{}.{:09}\n", meta.len(), meta.mtime(), meta.mtime_nsec())
    };
    write(&here.join("again.bin.part.version"), version.as_bytes())?;
    let resume = ["get", "data.bin", "-o", "again.bin", "--continue"];
    let get = s.spawn("get", client(bins, &here, addr, &resume))?;
    s.expect(get, "resuming")?;
    s.expect(serve, "from offset 300000")?;
    s.wait_success(get)?;
    same(s, &here.join("again.bin"), &binary)?;
    gone(s, &here.join("again.bin.part"))?;
    s.kill(serve)
}

/// The seed's download client and server against the lesson's, on the seed's raw protocol.
fn download_seed(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = scratch()?;
    let hello = "你好, seed!\n".as_bytes();
    write(&root.join("hello.txt"), hello)?;

    // The lesson's server in seed mode, the seed's client (which keeps at most 1024 bytes).
    let serve = ["serve", "--port", "0", "--protocol", "seed", "--root"];
    let mut serve = bins.lesson("file-download", &serve);
    serve.arg(&root);
    let (serve, addr) = s.start("serve", serve)?;
    s.expect(serve, "serving the files under")?;
    let seed = s.spawn(
        "seed-get",
        in_dir(bins.seed("download_client.py", &[]), &here),
    )?;
    s.send_line(seed, &addr.ip().to_string())?;
    s.send_line(seed, &addr.port().to_string())?;
    s.send_line(seed, "hello.txt")?;
    s.expect(serve, "sent \"hello.txt\"")?;
    s.expect(seed, "文件传输完毕")?;
    s.wait_success(seed)?;
    same(s, &here.join("hello.txt"), hello)?;
    s.kill(serve)?;

    // The seed's server, the lesson's client in seed mode.
    let seed = in_dir(bins.seed("download_server.py", &[]), &root);
    let (seed, addr) = s.start("seed-serve", seed)?;
    let get = ["get", "hello.txt", "--protocol", "seed", "-o", "copy.txt"];
    let get = s.spawn("get", client(bins, &here, addr, &get))?;
    s.expect(seed, "b'\\xe4\\xbd\\xa0")?;
    s.wait_success(get)?;
    same(s, &here.join("copy.txt"), hello)?;
    let get = ["get", "missing.txt", "--protocol", "seed"];
    let get = s.spawn("get", client(bins, &here, addr, &get))?;
    s.expect(seed, "你下载的文件不存在")?;
    s.expect_on(get, Stream::Stderr, "look the same")?;
    exits_with(s, get, 1)?;
    s.kill(seed)
}

/// A scratch root for the HTTP pairs: a text file, a binary file, a directory, and a secret
/// beside the root.
fn http_root() -> Result<(tempfile::TempDir, PathBuf, PathBuf), Failure> {
    let (scratch, root, here) = scratch()?;
    write(&root.join("notes.txt"), "第八课: HTTP\n".as_bytes())?;
    let binary: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    write(&root.join("data.bin"), &binary)?;
    std::fs::create_dir(root.join("docs"))
        .map_err(|e| Failure::new(format!("cannot create docs/: {e}")))?;
    write(&root.join("docs/a <b>.txt"), b"escaped\n")?;
    write(&here.join("secret.txt"), b"not served\n")?;
    Ok((scratch, root, here))
}

/// curl with ARGS, run in `dir`: quiet but for errors.
fn curl(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--max-time", "10"])
        .args(args)
        .current_dir(dir);
    cmd
}

fn http_step1(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let step = bins.example("step1-fixed-response", &["--port", "0"]);
    let (server, addr) = s.start("step1", step)?;
    let (_scratch, _, here) = http_root()?;
    for path in ["/", "/any/thing.txt"] {
        let get = s.spawn("curl", curl(&here, &[&format!("http://{addr}{path}")]))?;
        s.expect(server, &format!("GET {path} HTTP/1.1"))?;
        s.expect(get, "<h1>Hello from Rust</h1>")?;
        s.wait_success(get)?;
    }
    s.kill(server)
}

fn http_step2(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = http_root()?;
    let root = root.to_string_lossy().into_owned();
    let step = bins.example("step2-files", &["--port", "0", "--root", &root]);
    let (server, addr) = s.start("step2", step)?;
    let out = "%{http_code} %{size_download} bytes\\n";
    for (path, answer) in [
        ("/notes.txt", "第八课: HTTP"),
        ("/data.bin", "200 100000 bytes"),
        ("/missing.txt", "404"),
    ] {
        let url = format!("http://{addr}{path}");
        let args = match path.ends_with(".txt") {
            true => vec!["-w", "%{http_code}\\n", &url],
            false => vec!["-o", "/dev/null", "-w", out, &url],
        };
        let get = s.spawn("curl", curl(&here, &args))?;
        s.expect(server, &format!("GET {path} HTTP/1.1"))?;
        s.expect(get, answer)?;
        s.wait_success(get)?;
    }
    s.kill(server)
}

fn http_step3(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = http_root()?;
    let root = root.to_string_lossy().into_owned();
    let step = bins.example("step3-keep-alive", &["--port", "0", "--root", &root]);
    let (server, addr) = s.start("step3", step)?;
    // Two URLs: curl sends the second on the connection of the first.
    let (a, b) = (
        format!("http://{addr}/notes.txt"),
        format!("http://{addr}/data.bin"),
    );
    let out = "%{http_code} %{size_download} bytes, connection %{num_connects}\\n";
    let args = ["-w", out, "-o", "/dev/null", &a, "-o", "/dev/null", &b];
    let get = s.spawn("curl", curl(&here, &args))?;
    s.expect(server, "GET /notes.txt HTTP/1.1")?;
    s.expect(server, "GET /data.bin HTTP/1.1")?;
    s.expect(get, "200 16 bytes, connection 1")?;
    s.expect(get, "200 100000 bytes, connection 0")?;
    s.wait_success(get)?;
    s.expect(server, "after 2 requests")?;
    s.kill(server)
}

fn http(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = http_root()?;
    let (server, addr) = serve(s, bins, "http-server", &root)?;
    let url = |path: &str| format!("http://{addr}{path}");
    let fields =
        "%{http_code} %header{content-type} %{size_download} bytes %header{content-range}\\n";
    let steps: [(&[&str], &str, &str); 7] = [
        (&[], "/notes.txt", "\"GET /notes.txt HTTP/1.1\" 200 16"),
        (
            &["-I", "-o", "/dev/null", "-w", fields],
            "/notes.txt",
            "\"HEAD /notes.txt HTTP/1.1\" 200 0",
        ),
        (
            &["-r", "0-9", "-o", "/dev/null", "-w", fields],
            "/data.bin",
            "\"GET /data.bin HTTP/1.1\" 206 10",
        ),
        (
            &["-C", "-", "-o", "data.bin", "-w", fields],
            "/data.bin",
            "\"GET /data.bin HTTP/1.1\" 206 40000",
        ),
        (
            &["-o", "/dev/null", "-w", fields],
            "/docs/",
            "\"GET /docs/ HTTP/1.1\" 200",
        ),
        (
            &["-w", "%{http_code}\\n"],
            "/missing.txt",
            "\"GET /missing.txt HTTP/1.1\" 404",
        ),
        (
            &["--path-as-is", "-w", "%{http_code}\\n"],
            "/../secret.txt",
            "\"GET /../secret.txt HTTP/1.1\" 403",
        ),
    ];
    // The resume: 60,000 of data.bin's 100,000 bytes are already here.
    let binary = read(&root.join("data.bin"));
    write(
        &here.join("data.bin"),
        binary.get(..60_000).unwrap_or_default(),
    )?;
    for (args, path, logged) in steps {
        let url = url(path);
        let get = s.spawn("curl", curl(&here, &[args, &[url.as_str()]].concat()))?;
        s.expect(server, logged)?;
        s.wait_success(get)?;
        s.expect(server, "the client closed the connection (1 request)")?;
    }
    same(s, &here.join("data.bin"), &binary)?;
    s.kill(server)
}

/// The lesson `lesson` serving the files under `root` (file-download's `serve`, http-server).
fn serve(
    s: &mut Scene,
    bins: &Bins,
    lesson: &str,
    root: &Path,
) -> Result<(Proc, SocketAddr), Failure> {
    let (serve, label) = match lesson {
        "file-download" => (&["serve", "--port", "0", "--root"][..], "serve"),
        _ => (&["--port", "0", "--root"][..], "server"),
    };
    let mut cmd = bins.lesson(lesson, serve);
    cmd.arg(root);
    let (server, addr) = s.start(label, cmd)?;
    s.expect(server, "serving the files under")?;
    Ok((server, addr))
}

/// `cmd`, run in `dir`.
fn in_dir(mut cmd: Command, dir: &Path) -> Command {
    cmd.current_dir(dir);
    cmd
}

/// Step 1, the seed's client in Rust, against the seed's own Python server: the same bytes on
/// the wire, and the same blind spot (a missing file is "no file downloaded").
fn download_step1(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = scratch()?;
    let hello = "你好, seed!\n".as_bytes();
    write(&root.join("hello.txt"), hello)?;
    let seed = in_dir(bins.seed("download_server.py", &[]), &root);
    let (seed, addr) = s.start("seed-serve", seed)?;
    let server = addr.to_string();
    let get = s.spawn(
        "step1",
        in_dir(
            bins.example("step1-seed-get", &[&server, "hello.txt"]),
            &here,
        ),
    )?;
    s.expect(seed, "b'\\xe4\\xbd\\xa0")?;
    s.expect(get, "downloaded hello.txt")?;
    s.wait_success(get)?;
    same(s, &here.join("hello.txt"), hello)?;
    let get = s.spawn(
        "step1",
        in_dir(
            bins.example("step1-seed-get", &[&server, "missing.txt"]),
            &here,
        ),
    )?;
    s.expect(seed, "你下载的文件不存在")?;
    s.expect(get, "no file downloaded")?;
    s.wait_success(get)?;
    s.kill(seed)
}

/// Step 2 against the lesson's server: the header tells a missing file from an empty one.
fn download_step2(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = scratch()?;
    write(&root.join("notes.txt"), "第一课: sockets\n".as_bytes())?;
    write(&root.join("empty.txt"), b"")?;
    let (serve, addr) = serve(s, bins, "file-download", &root)?;
    let server = addr.to_string();
    for name in ["notes.txt", "empty.txt"] {
        let get = s.spawn(
            "step2",
            in_dir(bins.example("step2-framed-get", &[&server, name]), &here),
        )?;
        s.expect(serve, &format!("sent \"{name}\""))?;
        s.expect(get, &format!("downloaded {name}"))?;
        s.wait_success(get)?;
    }
    let get = s.spawn(
        "step2",
        in_dir(
            bins.example("step2-framed-get", &[&server, "missing.txt"]),
            &here,
        ),
    )?;
    s.expect_on(get, Stream::Stderr, "ERR no such file")?;
    exits_with(s, get, 1)?;
    s.kill(serve)
}

/// Step 3 against the lesson's server: a whole file is renamed into place, no .part is left.
fn download_step3(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = scratch()?;
    let notes = "第一课: sockets\n".as_bytes();
    write(&root.join("notes.txt"), notes)?;
    let (serve, addr) = serve(s, bins, "file-download", &root)?;
    let get = s.spawn(
        "step3",
        in_dir(
            bins.example("step3-part-rename", &[&addr.to_string(), "notes.txt"]),
            &here,
        ),
    )?;
    s.expect(serve, "sent \"notes.txt\"")?;
    s.expect(get, "downloaded notes.txt")?;
    s.wait_success(get)?;
    same(s, &here.join("notes.txt"), notes)?;
    gone(s, &here.join("notes.txt.part"))?;
    s.kill(serve)
}

/// The seed's client against the server's step 1: the bytes of the file, then close. A
/// missing file gets nothing, which the lesson's client in seed mode cannot tell from empty.
fn download_serve_step1(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = scratch()?;
    let hello = "你好, seed!\n".as_bytes();
    write(&root.join("hello.txt"), hello)?;
    let name = pair.name.trim_start_matches("download-");
    let (serve, addr) = s.start("step1", in_dir(bins.example(name, &["127.0.0.1:0"]), &root))?;
    let mut seed = bins.seed("download_client.py", &[]);
    seed.current_dir(&here);
    let seed = s.spawn("seed-get", seed)?;
    s.send_line(seed, &addr.ip().to_string())?;
    s.send_line(seed, &addr.port().to_string())?;
    s.send_line(seed, "hello.txt")?;
    s.expect(serve, "sent \"hello.txt\": 14 bytes")?;
    s.expect(seed, "文件传输完毕")?;
    s.wait_success(seed)?;
    check(
        s,
        read(&here.join("hello.txt")) == hello,
        "the seed's hello.txt",
    )?;
    let get = ["get", "missing.txt", "--protocol", "seed"];
    let get = s.spawn("get", client(bins, &here, addr, &get))?;
    s.expect(serve, "nothing sent for \"missing.txt\"")?;
    s.expect_on(get, Stream::Stderr, "look the same")?;
    exits_with(s, get, 1)?;
    s.kill(serve)
}

/// `file-download get` against one of the server's later steps: a file, a missing one, and
/// `../secret.txt`, which step 2 sends from outside its root and the later steps refuse.
fn download_serve_step(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    let (scratch, root, here) = scratch()?;
    let notes = "第七课: 下载\n".as_bytes();
    write(&root.join("notes.txt"), notes)?;
    write(&scratch.path().join("secret.txt"), b"not served\n")?;
    let name = pair.name.trim_start_matches("download-");
    let label = name.split('-').next().unwrap_or(name);
    let root_arg = root.to_string_lossy().into_owned();
    let step = in_dir(bins.example(name, &["127.0.0.1:0", &root_arg]), &here);
    let (serve, addr) = s.start(label, step)?;
    let get = s.spawn("get", client(bins, &here, addr, &["get", "notes.txt"]))?;
    s.expect(serve, "sent \"notes.txt\": 18 bytes")?;
    s.wait_success(get)?;
    check(s, read(&here.join("notes.txt")) == notes, "notes.txt")?;
    let get = s.spawn("get", client(bins, &here, addr, &["get", "missing.txt"]))?;
    s.expect(serve, "refused \"missing.txt\": no such file")?;
    s.expect_on(get, Stream::Stderr, "no such file")?;
    exits_with(s, get, 1)?;
    let get = s.spawn("get", client(bins, &here, addr, &["get", "../secret.txt"]))?;
    if label == "step2" {
        s.expect(serve, "sent \"../secret.txt\"")?;
        s.wait_success(get)?;
        check(
            s,
            here.join("secret.txt").exists(),
            "step 2 sends ../secret.txt",
        )?;
    } else {
        s.expect(serve, "refused \"../secret.txt\": '..' is not allowed")?;
        exits_with(s, get, 1)?;
        check(s, !here.join("secret.txt").exists(), "no secret.txt")?;
    }
    s.kill(serve)
}

/// `file-download ARGS --to SERVER`, run in `dir`.
fn client(bins: &Bins, dir: &Path, server: SocketAddr, args: &[&str]) -> std::process::Command {
    let mut cmd = bins.lesson("file-download", args);
    cmd.args(["--to", &server.to_string()]).current_dir(dir);
    cmd
}

/// A scratch directory, removed when dropped, with a `root` to serve and a `here` to get into.
fn scratch() -> Result<(tempfile::TempDir, PathBuf, PathBuf), Failure> {
    let scratch = tempfile::Builder::new()
        .prefix("socket-lessons-")
        .tempdir()
        .map_err(|e| Failure::new(format!("cannot create a scratch directory: {e}")))?;
    let (root, here) = (scratch.path().join("root"), scratch.path().join("here"));
    for dir in [&root, &here] {
        std::fs::create_dir(dir)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok((scratch, root, here))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// The file at `path` holds `bytes`.
fn same(s: &Scene, path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    check(
        s,
        read(path) == bytes,
        &format!("the bytes of {}", path.display()),
    )
}

/// Nothing is at `path`.
fn gone(s: &Scene, path: &Path) -> Result<(), Failure> {
    check(
        s,
        !path.exists(),
        &format!("{} must not exist", path.display()),
    )
}

fn exits_with(s: &mut Scene, p: Proc, code: i32) -> Result<(), Failure> {
    let status = s.wait(p)?;
    check(
        s,
        status.code() == Some(code),
        &format!("exit status {status}, not {code}"),
    )
}

fn check(s: &Scene, ok: bool, what: &str) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(s.fail(format!("unexpected: {what}")))
    }
}
