//! One scenario per pair: the same run is a demo (printed live) and an e2e check (asserted).
//!
//! Each step waits for a line the lesson prints, never for a fixed time, and every wait has
//! the scene's timeout, so a hang fails the pair instead of blocking.

use testkit::{Failure, Scene};

use crate::manifest::Bins;

pub fn udp(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let mut server = bins.command("udp-server");
    server.args(["--port", "0"]);
    let (server, addr) = s.start("server", server)?;

    let mut client = bins.command("udp-client");
    client.arg(addr.to_string()).args(["--bind", "127.0.0.1:0"]);
    let (client, local) = s.start("client", client)?;

    for (line, bytes) in [("hello", 5), ("你好", 6), ("", 0)] {
        s.send_line(client, line)?;
        let got = s.expect(server, "received")?;
        check(
            s,
            got.starts_with(&format!("received {bytes} bytes from {local}")),
            &got,
        )?;
        let got = s.expect(client, "received")?;
        let want = match line {
            "" => format!("received 0 bytes from {addr} (an empty datagram)"),
            _ => format!("received {bytes} bytes from {addr}: {line}"),
        };
        check(s, got == want, &got)?;
    }
    s.close_stdin(client)?;
    s.wait_success(client)?;
    s.kill(server)
}

/// The seed's Python programs and the lessons on the same wire, in both roles.
pub fn udp_seed(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    // The lesson's server, the seed's client.
    let mut server = bins.command("udp-server");
    server.args(["--port", "0"]);
    let (server, addr) = s.start("server", server)?;
    let mut seed = bins.seed("udp_client.py");
    seed.arg(addr.ip().to_string()).arg(addr.port().to_string());
    let seed = s.spawn("seed-client", seed)?;
    s.send_line(seed, "你好, seed")?;
    s.expect(server, "received 12 bytes from 127.0.0.1:")?;
    s.expect(seed, &format!("('127.0.0.1', {})", addr.port()))?;
    let echoed = s.expect(seed, "seed")?;
    check(s, echoed == "你好, seed", &echoed)?;
    s.wait_success(seed)?;
    s.kill(server)?;

    // The seed's server, the lesson's client.
    let (seed, addr) = s.start("seed-server", bins.seed("udp_server.py"))?;
    let mut client = bins.command("udp-client");
    client
        .arg(addr.to_string())
        .args(["--bind", "127.0.0.1:0", "--timeout", "10"]);
    let client = s.spawn("client", client)?;
    s.ready(client)?;
    s.send_line(client, "hello, seed")?;
    s.expect(seed, "hello, seed")?;
    s.send_line(seed, "欢迎")?;
    let got = s.expect(client, "received")?;
    check(
        s,
        got == format!("received 6 bytes from {addr}: 欢迎"),
        &got,
    )?;
    s.close_stdin(client)?;
    s.wait_success(client)?;
    s.kill(seed)
}

fn check(s: &Scene, ok: bool, line: &str) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(s.fail(format!("unexpected line: {line:?}")))
    }
}

pub fn tcp(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let mut server = bins.command("tcp-server");
    server.args(["--port", "0"]);
    let (server, addr) = s.start("server", server)?;

    let mut client = bins.command("tcp-client");
    client.args(["--to", &addr.to_string()]);
    let client = s.spawn("client", client)?;
    let hello = s.expect(client, "connected to")?;
    let local = hello.rsplit(' ').next().unwrap_or_default().to_string();

    for (line, bytes) in [("hello", 6), ("你好", 7)] {
        s.send_line(client, line)?;
        let got = s.expect(server, "received")?;
        check(
            s,
            got == format!("received {bytes} bytes from {local}: {line}\\n"),
            &got,
        )?;
        let got = s.expect(client, "received")?;
        check(s, got == format!("received {bytes} bytes: {line}\\n"), &got)?;
    }
    s.close_stdin(client)?;
    s.expect(client, "end of input: sending FIN")?;
    s.expect(
        server,
        &format!("{local} closed the connection (FIN) after 13 bytes"),
    )?;
    s.expect(client, "the server closed the connection (FIN)")?;
    s.wait_success(client)?;
    s.kill(server)
}

/// `--sequential`: the second client connects at once (the kernel completes the handshake
/// and queues it) but is served only when the first one leaves.
pub fn backlog(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let mut server = bins.command("tcp-server");
    server.args(["--port", "0", "--sequential"]);
    let (server, addr) = s.start("server", server)?;

    let mut first = bins.command("tcp-client");
    first.args(["--to", &addr.to_string()]);
    let first = s.spawn("first", first)?;
    s.expect(first, "connected to")?;
    s.send_line(first, "first")?;
    s.expect(first, "received 6 bytes: first")?;

    let mut second = bins.command("tcp-client");
    second.args(["--to", &addr.to_string()]);
    let second = s.spawn("second", second)?;
    s.expect(second, "connected to")?;
    s.send_line(second, "second")?;
    // The server is busy with the first client: nothing comes back yet.
    s.send_line(first, "still me")?;
    s.expect(first, "received 9 bytes: still me")?;
    let early = s.output(second, testkit::Stream::Stdout);
    check(
        s,
        !early.iter().any(|l| l.starts_with("received")),
        "second got an echo early",
    )?;

    s.close_stdin(first)?;
    s.wait_success(first)?;
    s.expect(server, "accepted")?;
    s.expect(second, "received 7 bytes: second")?;
    s.close_stdin(second)?;
    s.wait_success(second)?;
    s.kill(server)
}

/// The seed's TCP programs and the lessons on the same wire, in both roles.
pub fn tcp_seed(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    // The lesson's server, the seed's client (GBK, no newline, recv(10)).
    let mut server = bins.command("tcp-server");
    server.args(["--port", "0", "--encoding", "gbk"]);
    let (server, addr) = s.start("server", server)?;
    let mut seed = bins.seed("tcp_client.py");
    seed.arg(addr.ip().to_string()).arg(addr.port().to_string());
    let seed = s.spawn("seed-client", seed)?;
    s.send_line(seed, "你好")?;
    s.expect(server, "received 4 bytes from 127.0.0.1:")?;
    s.expect(seed, "收到数据你好")?;
    s.close_stdin(seed)?;
    s.wait_success(seed)?;
    s.expect(server, "closed the connection (FIN) after 4 bytes")?;
    s.kill(server)?;

    // The seed's server, the lesson's client.
    let (seed, addr) = s.start("seed-server", bins.seed("tcp_server.py"))?;
    let mut client = bins.command("tcp-client");
    client.args(["--to", &addr.to_string()]);
    let client = s.spawn("client", client)?;
    s.expect(client, "connected to")?;
    s.send_line(client, "hello, seed")?;
    s.expect(seed, "b'hello, seed\\n'")?;
    s.expect(client, "received 12 bytes: hello, seed\\n")?;
    s.close_stdin(client)?;
    s.expect(seed, "客户端已关闭")?;
    s.expect(client, "the server closed the connection (FIN)")?;
    s.wait_success(client)?;
    s.wait_success(seed)
}

pub fn chat(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let mut alice = bins.command("udp-chat");
    alice.args(["--port", "0"]);
    let (alice, alice_addr) = s.start("alice", alice)?;
    let mut bob = bins.command("udp-chat");
    bob.args(["--port", "0", "--peer", &alice_addr.to_string()]);
    let (bob, bob_addr) = s.start("bob", bob)?;

    s.send_line(bob, "hi alice, 你好")?;
    let got = s.expect(alice, "from")?;
    check(s, got == format!("from {bob_addr}: hi alice, 你好"), &got)?;
    s.send_line(alice, "/reply hello bob")?;
    let got = s.expect(bob, "from")?;
    check(s, got == format!("from {alice_addr}: hello bob"), &got)?;
    s.send_line(alice, "how are you?")?;
    s.expect(bob, &format!("from {alice_addr}: how are you?"))?;
    s.send_line(bob, "/quit")?;
    s.wait_success(bob)?;
    s.close_stdin(alice)?;
    s.wait_success(alice)
}

/// The seed's menu chat: its "2. receive" echoes what it got, and "1. send" writes to us.
pub fn chat_seed(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let (seed, seed_addr) = s.start("seed-chat", bins.seed("udp_chat.py"))?;
    let mut chat = bins.command("udp-chat");
    chat.args(["--port", "0", "--peer", &seed_addr.to_string()]);
    let (chat, chat_addr) = s.start("chat", chat)?;

    // "2": the menu blocks in recvfrom until our message comes, then echoes it back.
    s.send_line(seed, "2")?;
    s.send_line(chat, "你好, seed")?;
    s.expect(seed, "的数据：你好, seed")?;
    let got = s.expect(chat, "from")?;
    check(s, got == format!("from {seed_addr}: 你好, seed"), &got)?;
    // "1": the menu asks for an address, a port and a text, and sends it to us.
    s.send_line(seed, "1")?;
    s.send_line(seed, &chat_addr.ip().to_string())?;
    s.send_line(seed, &chat_addr.port().to_string())?;
    s.send_line(seed, "来自菜单的消息")?;
    s.expect(chat, &format!("from {seed_addr}: 来自菜单的消息"))?;
    s.send_line(seed, "3")?;
    s.wait_success(seed)?;
    s.send_line(chat, "/quit")?;
    s.wait_success(chat)
}

pub fn feiq(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let mut listen = bins.command("feiq");
    listen.args([
        "listen",
        "--port",
        "0",
        "--user",
        "小道士",
        "--host",
        "ubuntu",
    ]);
    let (listen, addr) = s.start("listen", listen)?;

    let mut send = bins.command("feiq");
    send.args(["send", "--bind", "127.0.0.1:0", "--to", &addr.to_string()])
        .args(["--user", "student", "--host", "laptop", "你好, 飞秋"]);
    let (send, from) = s.start("send", send)?;
    let got = s.expect(listen, "student@laptop")?;
    check(
        s,
        got == format!("student@laptop ({from}): 你好, 飞秋"),
        &got,
    )?;
    s.expect(listen, "answered")?;
    s.expect(send, &format!("delivered to {addr}"))?;
    s.wait_success(send)?;
    s.kill(listen)
}

/// The seed's own sender: its GBK packet with command 32, shown by `feiq listen`.
pub fn feiq_seed(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let mut listen = bins.command("feiq");
    listen.args(["listen", "--port", "0"]);
    let (listen, addr) = s.start("listen", listen)?;
    let mut seed = bins.seed("feiq.py");
    seed.arg(addr.ip().to_string()).arg(addr.port().to_string());
    let seed = s.spawn("seed-feiq", seed)?;
    s.send_line(seed, "晚上一起吃饭吗？")?;
    let got = s.expect(listen, "小道士@ubuntu")?;
    check(s, got.ends_with(": 晚上一起吃饭吗？"), &got)?;
    s.close_stdin(seed)?;
    s.wait_success(seed)?;
    s.kill(listen)
}

/// A scratch directory under the system's temporary directory, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(what: &str) -> Result<Scratch, Failure> {
        let dir =
            std::env::temp_dir().join(format!("socket-lessons-{}-{what}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Scratch(dir))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), Failure> {
        std::fs::write(self.0.join(name), bytes)
            .map_err(|e| Failure::new(format!("cannot write {name}: {e}")))
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `file-download` with `args` in `cwd` against `server`, waits for it, and returns
/// its exit code and its last line.
fn download_client(
    s: &mut Scene,
    bins: &Bins,
    cwd: &Scratch,
    server: std::net::SocketAddr,
    args: &[&str],
) -> Result<(Option<i32>, String), Failure> {
    let mut cmd = bins.command("file-download");
    cmd.args(args)
        .args(["--server", &server.to_string()])
        .current_dir(&cwd.0);
    let p = s.spawn("get", cmd)?;
    let status = s.wait(p)?;
    let last = [testkit::Stream::Stdout, testkit::Stream::Stderr]
        .into_iter()
        .flat_map(|stream| s.output(p, stream))
        .rfind(|l| l.starts_with("downloaded") || l.starts_with("error:"))
        .unwrap_or_default();
    Ok((status.code(), last))
}

pub fn download(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let root = Scratch::new("download-root")?;
    let here = Scratch::new("download-here")?;
    let binary: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    root.write("notes.txt", "第一课: sockets\n".as_bytes())?;
    root.write("data.bin", &binary)?;

    let mut serve = bins.command("file-download");
    serve.args(["serve", "--port", "0", "--root"]).arg(&root.0);
    let (serve, addr) = s.start("serve", serve)?;

    let (code, _) = download_client(s, bins, &here, addr, &["get", "notes.txt"])?;
    check(
        s,
        code == Some(0) && here.read("notes.txt") == root.read("notes.txt"),
        "notes.txt",
    )?;
    let (code, _) = download_client(s, bins, &here, addr, &["get", "data.bin"])?;
    check(
        s,
        code == Some(0) && here.read("data.bin") == binary,
        "data.bin",
    )?;

    let (code, last) = download_client(s, bins, &here, addr, &["get", "missing.txt"])?;
    check(s, code == Some(1) && last.ends_with("no such file"), &last)?;
    check(
        s,
        !here.0.join("missing.txt").exists(),
        "missing.txt must not exist",
    )?;
    let (code, last) = download_client(s, bins, &here, addr, &["get", "../../etc/passwd"])?;
    check(
        s,
        code == Some(1) && last.contains("'..' is not allowed"),
        &last,
    )?;
    check(s, !here.0.join("passwd").exists(), "passwd must not exist")?;

    // An earlier download was cut after 300,000 bytes: --continue fetches only the rest.
    here.write("again.bin.part", &binary[..300_000])?;
    let (code, _) = download_client(
        s,
        bins,
        &here,
        addr,
        &["get", "data.bin", "-o", "again.bin", "--continue"],
    )?;
    s.expect(serve, "from offset 300000")?;
    check(
        s,
        code == Some(0) && here.read("again.bin") == binary,
        "resumed again.bin",
    )?;
    check(
        s,
        !here.0.join("again.bin.part").exists(),
        "the .part file must be gone",
    )?;
    s.kill(serve)
}

/// The seed's download client and server against the lesson's, on the seed's raw protocol.
pub fn download_seed(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let root = Scratch::new("seed-root")?;
    let here = Scratch::new("seed-here")?;
    root.write("hello.txt", "你好, seed!\n".as_bytes())?;

    // The lesson's server in seed mode, the seed's client (which keeps at most 1024 bytes).
    let mut serve = bins.command("file-download");
    serve
        .args(["serve", "--port", "0", "--protocol", "seed", "--root"])
        .arg(&root.0);
    let (serve, addr) = s.start("serve", serve)?;
    let mut seed = bins.seed("download_client.py");
    seed.current_dir(&here.0);
    let seed = s.spawn("seed-get", seed)?;
    s.send_line(seed, &addr.ip().to_string())?;
    s.send_line(seed, &addr.port().to_string())?;
    s.send_line(seed, "hello.txt")?;
    s.expect(seed, "文件传输完毕")?;
    s.wait_success(seed)?;
    check(
        s,
        here.read("hello.txt") == root.read("hello.txt"),
        "seed client's hello.txt",
    )?;
    s.kill(serve)?;

    // The seed's server, the lesson's client in seed mode.
    let mut seed = bins.seed("download_server.py");
    seed.current_dir(&root.0);
    let (seed, addr) = s.start("seed-serve", seed)?;
    let (code, last) = download_client(
        s,
        bins,
        &here,
        addr,
        &["get", "hello.txt", "--protocol", "seed", "-o", "copy.txt"],
    )?;
    check(
        s,
        code == Some(0) && here.read("copy.txt") == root.read("hello.txt"),
        &last,
    )?;
    let (code, last) = download_client(
        s,
        bins,
        &here,
        addr,
        &["get", "missing.txt", "--protocol", "seed"],
    )?;
    check(s, code == Some(1) && last.contains("look the same"), &last)?;
    s.kill(seed)
}
