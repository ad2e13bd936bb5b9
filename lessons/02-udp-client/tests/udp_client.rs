//! udp-client as a user runs it: the real binary on loopback, talking to a real UDP peer
//! that plays the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use testkit::udp::Peer;
use testkit::{Failure, Proc, Scene, Stream};

fn client(
    scene: &mut Scene,
    server: SocketAddr,
    args: &[&str],
) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-client"));
    cmd.args([
        "--to",
        &server.to_string(),
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
    ])
    .args(args);
    scene.start("client", cmd)
}

#[test]
fn sends_each_line_as_one_datagram_and_prints_the_reply() -> Result<(), Failure> {
    let server = Peer::new()?;
    let addr = server.addr();
    let mut s = Scene::new();
    let (p, local) = client(&mut s, addr, &[])?;
    // The first line said where the client is bound; the next one says where it sends.
    assert_eq!(s.expect(p, "sending")?, format!("sending to {addr}"));
    s.send_line(p, "hello")?;
    let (data, from) = server.recv("a datagram from the client")?;
    assert_eq!((data.as_slice(), from), (&b"hello"[..], local));
    server.send(from, "你好".as_bytes())?;
    assert_eq!(
        s.expect(p, "received")?,
        format!("received 6 bytes from {addr}: 你好")
    );
    // An empty line is an empty datagram: UDP allows them, unlike a TCP read of 0 bytes.
    s.send_line(p, "")?;
    assert_eq!(server.recv("a datagram from the client")?.0, b"");
    server.send(from, b"")?;
    assert_eq!(
        s.expect(p, "received")?,
        format!("received 0 bytes from {addr}: [0 bytes]")
    );
    s.send_line(p, "x")?;
    assert_eq!(s.expect(p, "sent")?, format!("sent 1 byte to {addr}"));
    s.close_stdin(p)?;
    s.wait_success(p)?;
    // Piped input gets no prompt: stderr has nothing at all.
    assert_eq!(s.output(p, Stream::Stderr), Vec::<String>::new());
    Ok(())
}

/// A server that answers each line with 65,507 control characters: each reply, every byte
/// an escape (`\u{1}`), made a line of 327,535 bytes of escapes, 4,368 rows of an 80-column
/// terminal. The reply now shows its first 1,024 bytes and how many more there were, as
/// udp-chat shows a datagram.
#[test]
fn a_huge_reply_makes_a_short_line() -> Result<(), Failure> {
    let server = Peer::new()?;
    let mut s = Scene::new();
    let (p, _) = client(&mut s, server.addr(), &[])?;
    s.send_line(p, "hello")?;
    let (_, from) = server.recv("a datagram from the client")?;
    server.send(from, &[1u8; 65_507])?;
    let line = s.expect(p, "received")?;
    assert!(line.starts_with("received 65507 bytes from "), "{line:?}");
    testkit::screen_flood::assert_capped(&line, 7000, 64483);
    s.close_stdin(p)?;
    s.wait_success(p)?;
    Ok(())
}

#[test]
fn says_when_no_reply_comes_and_goes_on() -> Result<(), Failure> {
    let server = Peer::new()?;
    let addr = server.addr();
    let mut s = Scene::new();
    let (p, _) = client(&mut s, addr, &["--timeout", "0.2"])?;
    s.send_line(p, "lost?")?;
    server.recv("a datagram from the client")?;
    s.expect(p, &format!("no reply from {addr} within 200ms"))?;
    s.send_line(p, "second")?;
    let (data, from) = server.recv("a datagram from the client")?;
    assert_eq!(data, b"second");
    server.send(from, b"ok")?;
    s.expect(p, "received 2 bytes")?;
    Ok(())
}

/// Waits until every thread of `pid` sleeps in a system call (state S): after its "sent"
/// line, the client's only blocking call is its receive. Bounded, and it never sleeps.
fn wait_until_blocked(pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name, which is in parentheses.
        if stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('S'))
        {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{pid} never blocked");
        std::thread::yield_now();
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill").args([name, &pid.to_string()]).status();
    assert!(status.unwrap().success(), "kill {name} {pid}");
}

/// Ctrl-Z and fg during a receive: after SIGSTOP and SIGCONT, Linux ends a recv that has a
/// timeout (SO_RCVTIMEO) with EINTR although the client has no signal handler. It used to
/// exit 1 with "Interrupted system call", and the lines typed after were lost.
#[test]
fn a_stop_and_continue_while_waiting_for_a_reply_loses_nothing() -> Result<(), Failure> {
    let server = Peer::new()?;
    let addr = server.addr();
    let mut s = Scene::new();
    let (p, _) = client(&mut s, addr, &["--timeout", "30"])?;
    s.send_line(p, "first")?;
    s.send_line(p, "typed ahead")?;
    let (_, from) = server.recv("a datagram from the client")?;
    s.expect(p, "sent 5 bytes")?;
    let pid = s.pid(p).unwrap();
    wait_until_blocked(pid);
    signal(pid, "-STOP");
    signal(pid, "-CONT");
    server.send(from, b"answer")?;
    s.expect(p, "received 6 bytes")?;
    assert_eq!(server.recv("a datagram from the client")?.0, b"typed ahead");
    server.send(from, b"again")?;
    s.expect(p, "received 5 bytes")?;
    s.close_stdin(p)?;
    s.wait_success(p)
}

#[test]
fn says_when_nothing_listens() -> Result<(), Failure> {
    // Bind a port, then free it: nothing listens there any more.
    let server = Peer::new()?;
    let addr = server.addr();
    drop(server);
    let mut s = Scene::new();
    let (p, _) = client(&mut s, addr, &["--timeout", "5"])?;
    s.send_line(p, "anyone?")?;
    s.expect(p, &format!("nothing listens on {addr}"))?;
    s.close_stdin(p)?;
    s.wait_success(p)
}

/// An ICMP "port unreachable" about a datagram from `client` to `server`, as the server's
/// machine would send it, but from a raw socket: anyone on the path can send one. Needs root.
fn forge_port_unreachable(client: SocketAddr, server: SocketAddr) -> std::io::Result<()> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let (SocketAddr::V4(client), SocketAddr::V4(server)) = (client, server) else {
        panic!("IPv4 only");
    };
    fn checksum(bytes: &[u8]) -> [u8; 2] {
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        (!(sum as u16)).to_be_bytes()
    }
    // The start of the datagram it is about: its IP header, then its UDP header.
    let mut quoted = vec![0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0];
    quoted.extend(client.ip().octets());
    quoted.extend(server.ip().octets());
    let sum = checksum(&quoted);
    quoted[10..12].copy_from_slice(&sum);
    quoted.extend(client.port().to_be_bytes());
    quoted.extend(server.port().to_be_bytes());
    quoted.extend([0, 12, 0, 0]);
    // Type 3 (destination unreachable), code 3 (port unreachable).
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend(quoted);
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum);
    let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
    raw.send_to(&icmp, &SockAddr::from(SocketAddr::V4(client)))?;
    Ok(())
}

/// A "port unreachable" forged while the client waits for the next line (here, as a late
/// one would arrive): the kernel kept it for the socket's next call and failed the next
/// `send` with it, and the line was lost with `error: cannot send ...: Connection refused`
/// and a hint that nothing listens, although the server was there.
#[test]
fn a_forged_port_unreachable_does_not_lose_the_next_line() -> Result<(), Failure> {
    let server = Peer::new()?;
    let addr = server.addr();
    let mut s = Scene::new();
    let (p, local) = client(&mut s, addr, &[])?;
    s.send_line(p, "one")?;
    let (_, from) = server.recv("a datagram from the client")?;
    server.send(from, b"one")?;
    s.expect(p, "received 3 bytes")?;
    // A second connected socket gets a forged ICMP too, after the client's: once its error
    // shows, the client's has been handled as well.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.connect(addr).unwrap();
    if let Err(e) = forge_port_unreachable(local, addr) {
        eprintln!("skipped: no raw socket (run as root): {e}");
        return Ok(());
    }
    forge_port_unreachable(probe.local_addr().unwrap(), addr).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while probe.take_error().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe got no ICMP"
        );
        std::thread::yield_now();
    }
    s.send_line(p, "two")?;
    assert_eq!(
        s.expect(p, "(a")?,
        "(a \"port unreachable\" about an earlier datagram was pending: ignored)"
    );
    let (data, _) = server.recv("the line typed after the forged ICMP")?;
    assert_eq!(data, b"two");
    s.expect(p, "sent 3 bytes")?;
    server.send(from, b"two")?;
    s.expect(p, "received 3 bytes")?;
    s.close_stdin(p)?;
    s.wait_success(p)?;
    assert_eq!(s.output(p, Stream::Stderr), Vec::<String>::new());
    Ok(())
}

#[test]
fn encodes_with_gbk_and_refuses_what_gbk_cannot_write() -> Result<(), Failure> {
    let server = Peer::new()?;
    let addr = server.addr();
    let mut s = Scene::new();
    // Encoding names are taken in any case.
    let (p, _) = client(&mut s, addr, &["--encoding", "GBK"])?;
    s.send_line(p, "smile 😀")?;
    s.expect_on(
        p,
        Stream::Stderr,
        "error: line not sent: '😀' (U+1F600) cannot be written in GBK",
    )?;
    s.send_line(p, "你好")?;
    let (data, from) = server.recv("a datagram from the client")?;
    assert_eq!(
        data, b"\xc4\xe3\xba\xc3",
        "the emoji line must not have been sent"
    );
    server.send(from, b"\xc4\xe3\xba\xc3")?;
    assert!(s.expect(p, "received 4 bytes")?.ends_with(": 你好"));
    Ok(())
}

#[test]
fn ignores_datagrams_from_anyone_but_the_server() -> Result<(), Failure> {
    let server = Peer::new()?;
    let addr = server.addr();
    let mut s = Scene::new();
    let (p, local) = client(&mut s, addr, &[])?;
    s.send_line(p, "hi")?;
    server.recv("a datagram from the client")?;
    let stranger = Peer::new()?;
    stranger.send(local, b"spoofed")?;
    server.send(local, b"real")?;
    assert!(s.expect(p, "received")?.ends_with(": real"));
    Ok(())
}

/// The attack: a stranger's datagram that reaches the client's port after `bind` and before
/// `connect`. The kernel keeps it, and a `recv` after `connect` returns it as if the server
/// had answered. To hold the client in that window, its stdout is a pipe filled to the brim:
/// the ready line, written between `bind` and `connect`, waits until the test reads.
#[cfg(target_os = "linux")]
#[test]
fn a_datagram_queued_before_connect_is_not_taken_for_the_servers() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Instant;

    let server = Peer::new().unwrap();
    let addr = server.addr();
    let (out_read, out_write) = rustix::pipe::pipe().unwrap();
    let size = rustix::pipe::fcntl_setpipe_size(&out_write, 4096).unwrap();
    std::fs::File::from(out_write.try_clone().unwrap())
        .write_all(&vec![b'.'; size])
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_udp-client"))
        .args(["--to", &addr.to_string(), "--bind", "127.0.0.1"])
        .args(["--port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(out_write))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    let _child = Kill(child);

    // Wait (bounded) until the client's socket is bound, and read its port off the kernel's
    // table: the line whose inode is one of the client's descriptors (its own output, which
    // says the port, waits behind the full pipe).
    let pid = _child.0.id();
    let bound = || {
        let ours: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter_map(|l| {
                Some(
                    l.to_str()?
                        .strip_prefix("socket:[")?
                        .trim_end_matches(']')
                        .to_owned(),
                )
            })
            .collect();
        let table = std::fs::read_to_string("/proc/net/udp").unwrap();
        table.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let ours = f.len() > 9 && ours.iter().any(|i| i == f[9]);
            ours.then(|| u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok())?
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Some(port) = bound() {
            break port;
        }
        assert!(Instant::now() < deadline, "the client never bound a port");
        std::thread::yield_now();
    };
    let stranger = Peer::new().unwrap();
    stranger.send_to(b"spoofed", ("127.0.0.1", port)).unwrap();

    // Let the client go on: read what fills the pipe, then its lines.
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = BufReader::new(std::fs::File::from(out_read));
        out.read_exact(&mut vec![0; size]).unwrap();
        for line in out.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(next().starts_with("bound to 127.0.0.1:"));
    assert_eq!(next(), format!("sending to {addr}"));
    stdin.write_all(b"hello\n").unwrap();
    let (_, from) = server.recv("a datagram from the client").unwrap();
    server.send(from, b"real").unwrap();
    next(); // sent 5 bytes
    let stranger = stranger.addr();
    assert_eq!(
        next(),
        format!("ignored 7 bytes from {stranger}: not the server")
    );
    assert_eq!(next(), format!("received 4 bytes from {addr}: real"));
}

#[test]
fn a_line_too_long_for_a_datagram_is_an_error_naming_the_limit() -> Result<(), Failure> {
    let server = Peer::new()?;
    let addr = server.addr();
    let mut s = Scene::new();
    let (p, _) = client(&mut s, addr, &[])?;
    s.send_line(p, &"x".repeat(70_000))?;
    s.expect_on(
        p,
        Stream::Stderr,
        "error: line not sent: 70000 bytes do not fit in one UDP datagram",
    )?;
    s.expect_on(
        p,
        Stream::Stderr,
        "hint: a UDP datagram carries at most 65507 bytes over IPv4",
    )?;
    // The client goes on, and the biggest datagram that fits is sent whole.
    s.send_line(p, &"y".repeat(65_507))?;
    assert_eq!(server.recv("a datagram from the client")?.0.len(), 65_507);
    s.expect(p, "sent 65507 bytes")?;
    Ok(())
}

#[test]
fn a_port_in_use_is_an_error_whose_hint_names_its_own_flags() {
    let busy = testkit::BusyPort::udp().unwrap();
    let out = cargo_bin_cmd!("udp-client")
        .args(["--bind", "127.0.0.1", "--port", &busy.port()])
        .write_stdin("")
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    busy.assert_refused(&out);
    assert!(out.stdout.is_empty());
}

#[test]
fn the_server_is_named_with_to_and_defaults_to_port_8080() {
    // `--to localhost` means port 8080; the client says where it sends before reading.
    cargo_bin_cmd!("udp-client")
        .args(["--to", "127.0.0.1", "--bind", "127.0.0.1", "--port", "0"])
        .write_stdin("")
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .stdout(predicate::str::starts_with("bound to 127.0.0.1:"))
        .stdout(predicate::str::ends_with(
            "(udp)\nsending to 127.0.0.1:8080\n",
        ));
    // The old positional SERVER is gone.
    cargo_bin_cmd!("udp-client")
        .arg("127.0.0.1:8080")
        .timeout(Duration::from_secs(10))
        .assert()
        .code(2);
}

#[test]
fn binds_the_seeds_port_by_default() -> Result<(), Failure> {
    let server = Peer::new()?;
    let addr = server.addr();
    let mut s = Scene::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-client"));
    cmd.args(["--to", &addr.to_string()]);
    let p = s.spawn("client", cmd)?;
    match s.ready(p) {
        Ok(local) => assert_eq!(local.to_string(), "0.0.0.0:10086"),
        // Another program may hold 10086 on this machine: then the error must say so.
        Err(_) => {
            s.expect_on(p, Stream::Stderr, "error: cannot bind 0.0.0.0:10086")?;
        }
    }
    Ok(())
}

#[test]
fn talks_to_an_ipv6_server() -> Result<(), Failure> {
    let server = Peer::on("[::1]:0")?;
    let addr = server.addr();
    let mut s = Scene::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-client"));
    cmd.args(["--to", &addr.to_string(), "--bind", "::1", "--port", "0"]);
    let p = s.spawn("client", cmd)?;
    s.ready(p)?;
    s.send_line(p, "v6")?;
    let (data, from) = server.recv("a datagram from the client")?;
    assert_eq!(data, b"v6");
    server.send(from, b"six")?;
    s.expect(p, "received 3 bytes from [::1]")?;
    Ok(())
}

#[test]
fn an_unknown_host_is_a_clear_error_with_a_hint() {
    cargo_bin_cmd!("udp-client")
        .args(["--to", "no-such-host.invalid:8080"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot resolve host 'no-such-host.invalid'",
        ))
        .stderr(predicate::str::contains("\nhint: check the spelling"));
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["--to", "127.0.0.1:99999"][..],
        &["--to", "[::1]:http"],
        &["--port", "65536"],
        &["--timeout", "0"],
        &["--timeout", "soon"],
    ] {
        cargo_bin_cmd!("udp-client")
            .args(args)
            .timeout(Duration::from_secs(10))
            .assert()
            .code(2);
    }
}

#[test]
fn help_names_the_chapter() {
    cargo_bin_cmd!("udp-client")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Chapter: \"UDP client\""));
}

/// On a terminal, Ctrl-D at the prompt ends the prompt's line: the shell's prompt that comes
/// next starts on a line of its own, not after `to 127.0.0.1:9> `.
#[test]
fn ctrl_d_on_a_terminal_ends_the_prompt_line() {
    let bin = env!("CARGO_BIN_EXE_udp-client");
    let args = ["--to", "127.0.0.1:9", "--bind", "127.0.0.1", "--port", "0"];
    let Some(mut tty) = testkit::pty::Pty::spawn(bin, &args) else {
        eprintln!("skipped: script(1), which makes the terminal, is not installed");
        return;
    };
    let prompt = "to 127.0.0.1:9> ";
    tty.wait_for(prompt).unwrap();
    tty.type_keys("\x04");
    let shown = tty.wait_for_end().unwrap();
    let after = shown.rsplit(prompt).next().unwrap_or_default();
    assert!(
        after.contains('\n'),
        "the prompt's line was left open: {shown:?}"
    );
}

/// The client's stdout is on a full disk (/dev/full). `println!` panicked at its first line
/// (status 101 and a backtrace); a client now stops with an error and status 1.
#[test]
fn a_full_disk_under_stdout_stops_the_client_with_an_error() -> Result<(), Failure> {
    let server = Peer::new()?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_udp-client"));
    cmd.args(["--to", &server.addr().to_string(), "--port", "0"]);
    let (code, said) = testkit::full_disk::run_client(cmd, b"one\ntwo\n", Duration::from_secs(20));
    testkit::full_disk::stopped_with_an_error(code, &said);
    Ok(())
}
