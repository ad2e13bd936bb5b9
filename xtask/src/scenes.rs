//! The pairs, and one script per pair: the same run is a demo (shown live), an e2e check
//! (asserted) and a transcript in the book (shown as the script reached it).
//!
//! Each step waits for the line it causes before the next step, never for a fixed time:
//! the sender's "sent" before the receiver's "received", the client's "sending FIN" before
//! the server's "closed the connection (FIN)". Every wait has the scene's timeout, so a hang
//! fails the pair instead of blocking.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    pair("chat", &["udp-chat"], chat, "two udp-chat instances talk in both directions"),
    pair("chat-seed", &["udp-chat"], chat_seed, "udp-chat against the seed's menu chat"),
    pair("feiq", &["feiq"], feiq, "feiq send delivers a message to feiq listen, which acknowledges it"),
    pair("feiq-seed", &["feiq"], feiq_seed, "feiq listen shows what the seed's Python sender sends"),
    pair("tcp", &["tcp-server", "tcp-client"], tcp, "tcp-client sends two lines and half-closes, tcp-server echoes and closes"),
    pair("backlog", &["tcp-server", "tcp-client"], backlog, "tcp-server --sequential: the second client waits in the accept queue"),
    pair("tcp-seed", &["tcp-server", "tcp-client"], tcp_seed, "each TCP lesson against the seed's own Python program"),
    pair("poll", &["tcp-poll", "tcp-client"], tcp, "tcp-client against tcp-poll: one thread, an epoll loop (mio)"),
    pair("poll-seed", &["tcp-poll"], seed_client, "the seed's TCP client against tcp-poll"),
    pair("async", &["tcp-async", "tcp-client"], tcp, "tcp-client against tcp-async: a tokio task per client"),
    pair("async-seed", &["tcp-async"], seed_client, "the seed's TCP client against tcp-async"),
    pair("poll-step1-busy-loop", &["tcp-poll", "tcp-client"], poll_step, "tcp-poll's step 1: non-blocking sockets tried in turn, for ever (std only)"),
    pair("poll-step2-epoll", &["tcp-poll", "tcp-client"], poll_step, "tcp-poll's step 2: epoll through mio, read until WouldBlock, a pending buffer"),
    pair("async-step1-task-per-client", &["tcp-async", "tcp-client"], poll_step, "tcp-async's step 1: a tokio task per client, no limits or timeouts"),
    pair("download", &["file-download"], download, "get a text and a binary file, a missing one, a refused ../, a resumed one"),
    pair("download-seed", &["file-download"], download_seed, "file-download against the seed's Python client and server (seed protocol)"),
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

/// The seed's Python programs and the lessons on the same wire, in both roles.
fn udp_seed(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    // The lesson's server, the seed's client.
    let (server, addr) = s.start("server", bins.lesson("udp-server", &["--port", "0"]))?;
    let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
    let seed = s.spawn("seed-client", bins.seed("udp_client.py", &[&ip, &port]))?;
    s.send_line(seed, "你好, seed")?;
    s.expect(server, "received 12 bytes from 127.0.0.1:")?;
    s.expect(server, "sent 12 bytes to 127.0.0.1:")?;
    s.expect(seed, &format!("('127.0.0.1', {port})"))?;
    s.expect(seed, "你好, seed")?;
    s.wait_success(seed)?;
    s.kill(server)?;

    // The seed's server, the lesson's client.
    let (seed, addr) = s.start("seed-server", bins.seed("udp_server.py", &[]))?;
    let to = addr.to_string();
    let client = bins.lesson(
        "udp-client",
        &["--to", &to, "--bind", "127.0.0.1", "--port", "0"],
    );
    let (client, local) = s.start("client", client)?;
    s.expect(client, &format!("sending to {addr}"))?;
    s.send_line(client, "hello, seed")?;
    s.expect(client, &format!("sent 11 bytes to {addr}"))?;
    s.expect(seed, &format!("('127.0.0.1', {})", local.port()))?;
    s.expect(seed, "hello, seed")?;
    s.send_line(seed, "欢迎")?;
    s.expect(client, &format!("received 6 bytes from {addr}: 欢迎"))?;
    s.close_stdin(client)?;
    s.wait_success(client)?;
    s.kill(seed)
}

fn chat(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (alice, a) = s.start("alice", bins.lesson("udp-chat", &["--port", "0"]))?;
    let to_alice = a.to_string();
    let bob = bins.lesson("udp-chat", &["--port", "0", "--to", &to_alice]);
    let (bob, b) = s.start("bob", bob)?;

    s.send_line(bob, "hi alice, 你好")?;
    s.expect(bob, &format!("sent 16 bytes to {a}"))?;
    s.expect(alice, &format!("from {b}: hi alice, 你好"))?;
    s.send_line(alice, "/reply hello bob")?;
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
    let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
    let seed = s.spawn("seed-feiq", bins.seed("feiq.py", &[&ip, &port]))?;
    s.send_line(seed, "晚上一起吃饭吗？")?;
    s.expect(listen, "小道士@ubuntu (127.0.0.1:")?;
    s.close_stdin(seed)?;
    s.wait_success(seed)?;
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

/// The seed's TCP programs and the lessons on the same wire, in both roles.
fn tcp_seed(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    seed_client_against(s, bins, "tcp-server")?;

    // The seed's server, the lesson's client.
    let (seed, addr) = s.start("seed-server", bins.seed("tcp_server.py", &[]))?;
    let client = bins.lesson("tcp-client", &["--to", &addr.to_string()]);
    let (client, _) = connect(s, "client", client)?;
    s.send_line(client, "hello, seed")?;
    s.expect(seed, "b'hello, seed\\n'")?;
    s.expect(client, "received 12 bytes: hello, seed\\n")?;
    s.close_stdin(client)?;
    s.expect(client, "end of input: sending FIN")?;
    s.expect(seed, "客户端已关闭")?;
    s.expect(client, "the server closed the connection (FIN)")?;
    s.wait_success(client)?;
    s.wait_success(seed)
}

/// The seed's client against the pair's server, an echo on tcp-server's wire.
fn seed_client(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    match pair.lessons {
        [server] => seed_client_against(s, bins, server),
        _ => Err(Failure::new(format!("{}: needs one server", pair.name))),
    }
}

/// A step of tcp-poll or tcp-async (`lessons/<dir>/examples/<step>.rs`, the pair's name after
/// `poll-` or `async-`) on port 0, against tcp-client: two lines echoed, then the client's FIN.
fn poll_step(s: &mut Scene, bins: &Bins, pair: &Pair) -> Result<(), Failure> {
    let (server, client) = pair.server_and_client()?;
    let step = pair
        .name
        .split_once('-')
        .map_or(pair.name, |(_, step)| step);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "-q", "-p", server, "--example", step]);
    crate::bins::run(&mut build).map_err(|e| Failure::new(format!("{e:#}")))?;
    let mut cmd = std::process::Command::new(bins.dir.join("examples").join(step));
    cmd.arg("0");
    let (server, addr) = s.start(step, cmd)?;
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

/// The lesson's server, the seed's client (GBK, no newline, recv(10)).
fn seed_client_against(s: &mut Scene, bins: &Bins, server: &str) -> Result<(), Failure> {
    let server = bins.lesson(server, &["--port", "0", "--encoding", "gbk"]);
    let (server, addr) = s.start("server", server)?;
    let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
    let seed = s.spawn("seed-client", bins.seed("tcp_client.py", &[&ip, &port]))?;
    s.expect(server, "accepted 127.0.0.1:")?;
    s.send_line(seed, "你好")?;
    s.expect(server, "received 4 bytes from 127.0.0.1:")?;
    s.expect(seed, "收到数据你好")?;
    s.close_stdin(seed)?;
    s.wait_success(seed)?;
    s.expect(server, "closed the connection (FIN) after 4 bytes")?;
    s.kill(server)
}

fn download(s: &mut Scene, bins: &Bins, _: &Pair) -> Result<(), Failure> {
    let (_scratch, root, here) = scratch()?;
    let notes = "第一课: sockets\n".as_bytes();
    let binary: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    write(&root.join("notes.txt"), notes)?;
    write(&root.join("data.bin"), &binary)?;

    let mut serve = bins.lesson("file-download", &["serve", "--port", "0", "--root"]);
    serve.arg(&root);
    let (serve, addr) = s.start("serve", serve)?;
    s.expect(serve, "serving the files under")?;

    for (name, bytes) in [("notes.txt", notes), ("data.bin", &binary)] {
        let get = s.spawn("get", client(bins, &here, addr, &["get", name]))?;
        s.expect(serve, &format!("sent \"{name}\""))?;
        s.wait_success(get)?;
        check(s, read(&here.join(name)) == bytes, name)?;
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
    check(
        s,
        !here.join("missing.txt").exists(),
        "missing.txt must not exist",
    )?;
    check(s, !here.join("passwd").exists(), "passwd must not exist")?;

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
    check(
        s,
        read(&here.join("again.bin")) == binary,
        "resumed again.bin",
    )?;
    check(
        s,
        !here.join("again.bin.part").exists(),
        "the .part file must be gone",
    )?;
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
    let mut seed = bins.seed("download_client.py", &[]);
    seed.current_dir(&here);
    let seed = s.spawn("seed-get", seed)?;
    s.send_line(seed, &addr.ip().to_string())?;
    s.send_line(seed, &addr.port().to_string())?;
    s.send_line(seed, "hello.txt")?;
    s.expect(serve, "sent \"hello.txt\"")?;
    s.expect(seed, "文件传输完毕")?;
    s.wait_success(seed)?;
    check(
        s,
        read(&here.join("hello.txt")) == hello,
        "the seed client's hello.txt",
    )?;
    s.kill(serve)?;

    // The seed's server, the lesson's client in seed mode.
    let mut seed = bins.seed("download_server.py", &[]);
    seed.current_dir(&root);
    let (seed, addr) = s.start("seed-serve", seed)?;
    let get = ["get", "hello.txt", "--protocol", "seed", "-o", "copy.txt"];
    let get = s.spawn("get", client(bins, &here, addr, &get))?;
    s.expect(seed, "b'\\xe4\\xbd\\xa0")?;
    s.wait_success(get)?;
    check(s, read(&here.join("copy.txt")) == hello, "copy.txt")?;
    let get = ["get", "missing.txt", "--protocol", "seed"];
    let get = s.spawn("get", client(bins, &here, addr, &get))?;
    s.expect(seed, "你下载的文件不存在")?;
    s.expect_on(get, Stream::Stderr, "look the same")?;
    exits_with(s, get, 1)?;
    s.kill(seed)
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
