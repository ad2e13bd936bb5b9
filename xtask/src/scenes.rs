//! One scenario per pair: the same run is a demo (printed live) and an e2e check (asserted).
//!
//! Each step waits for a line the lesson prints, never for a fixed time, and every wait has
//! the scene's timeout, so a hang fails the pair instead of blocking.

use testkit::{Failure, Scene};

use crate::manifest::Bins;

pub fn udp(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let mut server = bins.command("udp-server");
    server.args(["--port", "0"]);
    let server = s.spawn("server", server)?;
    let addr = s.ready(server)?;

    let mut client = bins.command("udp-client");
    client.arg(addr.to_string()).args(["--bind", "127.0.0.1:0"]);
    let client = s.spawn("client", client)?;
    let local = s.ready(client)?;

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
    let server = s.spawn("server", server)?;
    let addr = s.ready(server)?;
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
    let seed = s.spawn("seed-server", bins.seed("udp_server.py"))?;
    let addr = s.ready(seed)?;
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
    let server = s.spawn("server", server)?;
    let addr = s.ready(server)?;

    let mut client = bins.command("tcp-client");
    client.arg(addr.to_string());
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
    let server = s.spawn("server", server)?;
    let addr = s.ready(server)?;

    let mut first = bins.command("tcp-client");
    first.arg(addr.to_string());
    let first = s.spawn("first", first)?;
    s.expect(first, "connected to")?;
    s.send_line(first, "first")?;
    s.expect(first, "received 6 bytes: first")?;

    let mut second = bins.command("tcp-client");
    second.arg(addr.to_string());
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
    let server = s.spawn("server", server)?;
    let addr = s.ready(server)?;
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
    let seed = s.spawn("seed-server", bins.seed("tcp_server.py"))?;
    let addr = s.ready(seed)?;
    let mut client = bins.command("tcp-client");
    client.arg(addr.to_string());
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
    let alice = s.spawn("alice", alice)?;
    let alice_addr = s.ready(alice)?;
    let mut bob = bins.command("udp-chat");
    bob.args(["--port", "0", "--peer", &alice_addr.to_string()]);
    let bob = s.spawn("bob", bob)?;
    let bob_addr = s.ready(bob)?;

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
    let seed = s.spawn("seed-chat", bins.seed("udp_chat.py"))?;
    let seed_addr = s.ready(seed)?;
    let mut chat = bins.command("udp-chat");
    chat.args(["--port", "0", "--peer", &seed_addr.to_string()]);
    let chat = s.spawn("chat", chat)?;
    let chat_addr = s.ready(chat)?;

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
    let listen = s.spawn("listen", listen)?;
    let addr = s.ready(listen)?;

    let mut send = bins.command("feiq");
    send.args(["send", "--bind", "127.0.0.1:0", "--to", &addr.to_string()])
        .args(["--user", "student", "--host", "laptop", "你好, 飞秋"]);
    let send = s.spawn("send", send)?;
    let from = s.ready(send)?;
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
    let listen = s.spawn("listen", listen)?;
    let addr = s.ready(listen)?;
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
