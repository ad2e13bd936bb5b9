//! tcp-server as a user runs it: the real binary on loopback, port 0, with real TCP clients.
//! The tests of the echo wire itself are testkit's shared suite (`echo_server`), which
//! tcp-poll and tcp-async run too; the ones here are tcp-server's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_tcp-server");

testkit::echo_server_suite!(env!("CARGO_BIN_EXE_tcp-server"));

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
// Reads on sockets with a timeout go through `net::retry`: assert_cmd's timeouts put a SIGCHLD
// handler in this process, and a child of another test that ends interrupts them (EINTR).
use common::net;
use testkit::{Failure, Proc, Scene, Stream};

fn server(scene: &mut Scene, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tcp-server"));
    cmd.args(["--port", "0"]).args(args);
    scene.start("server", cmd)
}

fn connect(addr: SocketAddr) -> TcpStream {
    testkit::echo::connect(addr).unwrap()
}

/// Sends `data` in pieces of `piece` bytes, half-closes, and returns all that comes back.
fn echo_in_pieces(addr: SocketAddr, data: &[u8], piece: usize) -> Vec<u8> {
    testkit::echo::echo_in_pieces(addr, data, piece).unwrap()
}

#[test]
fn sequential_serves_the_second_client_after_the_first_leaves() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--sequential"])?;
    let mut first = connect(addr);
    first.write_all(b"1").unwrap();
    let mut one = [0u8; 1];
    first.read_exact(&mut one).unwrap();
    // The second connect succeeds at once: the kernel completes the handshake and queues
    // the connection, whether or not the program calls accept.
    let mut second = connect(addr);
    second.write_all(b"2").unwrap();
    s.expect(p, "received 1 byte from")?;
    drop(first);
    second.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"2");
    let lines = s.output(p, Stream::Stdout);
    let closed_first = lines
        .iter()
        .position(|l| l.contains("closed the connection"));
    let accepted_second = lines.iter().rposition(|l| l.starts_with("accepted"));
    assert!(closed_first < accepted_second, "{lines:?}");
    Ok(())
}

#[test]
fn once_serves_one_client_and_exits() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--once"])?;
    assert_eq!(echo_in_pieces(addr, b"only", 2), b"only");
    s.wait_success(p)
}

#[test]
fn restarts_on_the_same_port_while_connections_are_in_time_wait() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let mut client = connect(addr);
    client.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    client.read_exact(&mut one).unwrap();
    // Stop the server first: its side closes first and keeps the connection in TIME_WAIT.
    s.kill(p)?;
    let _ = net::retry(|| client.read(&mut one));
    drop(client);
    let port = addr.port().to_string();
    let mut s2 = Scene::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tcp-server"));
    cmd.args(["--port", &port]);
    let p2 = s2.spawn("server again", cmd)?;
    assert_eq!(
        s2.ready(p2)?,
        addr,
        "SO_REUSEADDR lets the port be bound again at once"
    );
    Ok(())
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let busy = testkit::BusyPort::tcp().unwrap();
    let out = cargo_bin_cmd!("tcp-server")
        .args(["--port", &busy.port()])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    busy.assert_refused(&out);
}

#[test]
fn invalid_text_is_shown_with_the_same_note_as_everywhere() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let mut stream = connect(addr);
    let client = stream.local_addr().unwrap();
    stream.write_all(b"\xff!").unwrap();
    let mut back = [0u8; 2];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(
        s.expect(p, "received")?,
        format!("received 2 bytes from {client}: \u{fffd}! [not valid UTF-8: shown as \u{fffd}]")
    );
    drop(stream);
    assert_eq!(
        s.expect(p, "closed")?,
        format!("{client} closed the connection (FIN) after 2 bytes; closing ours")
    );
    Ok(())
}

/// The attack: as many clients as --max-per-address allows connect and say nothing. Without
/// an idle timeout they hold their address's places for ever, and its other clients are
/// refused. (When they hold all --max-clients places, the one idle longest makes room: see
/// the suite's `idle_connections_from_many_addresses_make_room_for_a_new_client`.)
#[test]
fn idle_clients_cannot_hold_every_place() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--max-per-address", "2", "--idle-timeout", "1"])?;
    let mut idle: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    let idle_addrs: Vec<SocketAddr> = idle.iter().map(|c| c.local_addr().unwrap()).collect();
    s.expect(p, &format!("accepted {}", idle_addrs[0]))?;
    s.expect(p, &format!("accepted {}", idle_addrs[1]))?;
    let turned_away = connect(addr);
    s.expect(
        p,
        &format!(
            "refused {}: this address already has 2 connections",
            turned_away.local_addr().unwrap()
        ),
    )?;
    // Both are closed, in either order.
    let mut closed = vec![s.expect(p, "sent nothing")?, s.expect(p, "sent nothing")?];
    closed.sort();
    let mut expected: Vec<String> = idle_addrs
        .iter()
        .map(|a| format!("{a} sent nothing for 1 s (--idle-timeout): closed after 0 bytes"))
        .collect();
    expected.sort();
    assert_eq!(closed, expected);
    // The server closed them with FIN: each idle client reads the end of the stream.
    for c in &mut idle {
        assert_eq!(net::retry(|| c.read(&mut [0u8; 1])).unwrap(), 0);
    }
    assert_eq!(echo_in_pieces(addr, b"my turn", 3), b"my turn");
    Ok(())
}

/// The attack: a client sends and never reads. The echo fills its receive buffer and our
/// send buffer, and without a send timeout the server's write blocks for ever.
#[test]
fn a_client_that_never_reads_cannot_hold_its_place() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--max-clients", "1", "--idle-timeout", "1"])?;
    let mut flood = connect(addr);
    let flood_addr = flood.local_addr().unwrap();
    flood
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Write until the server gives up on us: then a write fails (reset) or times out.
    let writer = thread::spawn(move || {
        let block = [b'x'; 64 * 1024];
        while flood.write_all(&block).is_ok() {}
    });
    let closed = s.expect(p, &format!("{flood_addr} read none of its echo"))?;
    assert!(
        closed.contains("for 1 s (--idle-timeout): closed after"),
        "{closed}"
    );
    writer.join().unwrap();
    assert_eq!(echo_in_pieces(addr, b"next", 1), b"next");
    Ok(())
}

/// Kills the child when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The attack: the server's log is on a full disk (here /dev/full) and a peer sends 10 MiB.
/// println! panics on the failed write (the servers exited 101 after about 14 MB); the log
/// instead drops the lines, says so once on stderr, and the server goes on serving.
#[test]
fn a_full_disk_under_the_log_does_not_stop_the_server() {
    let (child, addr) = testkit::free_port::tcp_server_on_a_free_port(|port| {
        Command::new(BIN)
            .args(["--port", &port.to_string()])
            .stdout(testkit::full_disk::full())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    });
    let mut server = KillOnDrop(child);
    let flood: Vec<u8> = vec![0x7f; 10 << 20];
    assert_eq!(echo_in_pieces(addr, &flood, 64 * 1024), flood);
    assert_eq!(echo_in_pieces(addr, b"still here", 3), b"still here");
    let (alive, said) = testkit::full_disk::stop(&mut server.0);
    assert!(alive, "the server exited: {said}");
    testkit::full_disk::said_once_it_drops_lines(&said);
    assert!(said.contains("No space left on device"), "{said}");
}

/// The attack: the server's stdout is a pipe that nobody reads (a terminal paused with
/// Ctrl-S, `tcp-server | slow-reader`). Once the pipe is full, a println! blocks, and with it
/// the accept loop: new clients waited unserved. The log drops lines instead.
#[test]
fn a_log_nobody_reads_does_not_stop_the_accepting() {
    use std::io::BufRead;
    let mut cmd = Command::new(BIN);
    cmd.args(["--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut server = KillOnDrop(cmd.spawn().unwrap());
    // Read the ready line, then never read again.
    let mut out = std::io::BufReader::new(server.0.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    let addr: SocketAddr = ready
        .trim()
        .strip_prefix("listening on ")
        .and_then(|r| r.strip_suffix(" (tcp)"))
        .unwrap()
        .parse()
        .unwrap();
    // Ten thousand one-byte exchanges: far more log than a 64 KiB pipe holds.
    let mut chatty = connect(addr);
    for _ in 0..10_000 {
        chatty.write_all(b"x").unwrap();
        chatty.read_exact(&mut [0u8; 1]).unwrap();
    }
    // New clients are still accepted and served.
    for i in 0..20 {
        let hello = format!("client {i}");
        assert_eq!(echo_in_pieces(addr, hello.as_bytes(), 4), hello.as_bytes());
    }
    drop(out);
}

/// The attack: bytes that each take six characters to show (0x7f is `\u{7f}`) made the log
/// six times the traffic. A line shows at most the first 128 bytes of a chunk.
#[test]
fn a_peer_cannot_make_the_log_much_bigger_than_its_traffic() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    let flood = vec![0x7f; 4 << 20];
    assert_eq!(echo_in_pieces(addr, &flood, 64 * 1024), flood);
    s.expect(p, "closed the connection (FIN) after 4194304 bytes")?;
    let log: usize = s
        .output(p, Stream::Stdout)
        .iter()
        .map(|l| l.len() + 1)
        .sum();
    assert!(
        log < flood.len() / 10,
        "{log} bytes of log for {} bytes",
        flood.len()
    );
    let shown = s.output(p, Stream::Stdout);
    let capped = shown.iter().find(|l| l.contains(" more bytes)")).unwrap();
    assert!(
        capped.contains(&format!("{} \u{2026} (", "\\u{7f}".repeat(128))),
        "{capped}"
    );
    Ok(())
}

/// A TCP connection to `to` from the local address `from` (another loopback address, such as
/// 127.0.0.2: all of 127.0.0.0/8 is this machine).
fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let stream = TcpStream::from(socket);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// The lockout attack: one address opens as many idle connections as the server has places.
/// With a limit per address it gets only its share, and another address (127.0.0.2) is served.
#[test]
fn idle_connections_from_one_address_do_not_lock_out_another() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--max-clients", "8", "--max-per-address", "3"])?;
    let idle: Vec<TcpStream> = (0..8).map(|_| connect_from([127, 0, 0, 1], addr)).collect();
    for c in &idle[..3] {
        s.expect(p, &format!("accepted {}", c.local_addr().unwrap()))?;
    }
    for c in &idle[3..] {
        s.expect(
            p,
            &format!(
                "refused {}: this address already has 3 connections",
                c.local_addr().unwrap()
            ),
        )?;
    }
    let mut other = connect_from([127, 0, 0, 2], addr);
    other.write_all(b"let me in").unwrap();
    let mut back = [0u8; 9];
    other.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"let me in");
    s.expect(p, "received 9 bytes from 127.0.0.2:")?;
    drop(idle);
    Ok(())
}

/// Runs tcp-server under `ulimit -n LIMIT` (soft and hard, so it cannot raise it).
fn server_with_few_descriptors(
    scene: &mut Scene,
    limit: u32,
) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = testkit::fdlimit::with_limit(limit, BIN);
    cmd.args(["--port", "0", "--max-per-address", "4096"]);
    scene.start("server", cmd)
}

/// Out of file descriptors: `accept` fails with EMFILE and the connection stays queued. The
/// server used to sleep and retry while the client hung; now it accepts the connection with
/// its spare descriptor, closes it at once, logs it, and serves again when clients leave.
#[test]
fn out_of_descriptors_a_client_is_refused_not_left_hanging() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server_with_few_descriptors(&mut s, 24)?;
    let mut clients: Vec<TcpStream> = Vec::new();
    let mut refused = None;
    for _ in 0..40 {
        let mut c = connect(addr);
        let mut one = [0u8; 1];
        // Served: its echo. Refused: the end of the stream, or a reset, at once.
        match c
            .write_all(b"?")
            .and_then(|()| net::retry(|| c.read(&mut one)))
        {
            Ok(1) => clients.push(c),
            Ok(_) => {
                refused = Some(c.local_addr().unwrap());
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("a client was left hanging: {e}")
            }
            Err(_) => {
                refused = Some(c.local_addr().unwrap());
                break;
            }
        }
    }
    let refused = refused.expect("40 clients served under ulimit -n 24");
    s.expect(
        p,
        &format!("refused {refused}: Too many open files (os error 24), closed at once"),
    )?;
    // When clients leave, there is room again.
    let served = clients.len();
    assert!(served >= 10, "{served}");
    drop(clients);
    for _ in 0..served {
        s.expect(p, "closed the connection (FIN)")?;
    }
    assert_eq!(echo_in_pieces(addr, b"room again", 4), b"room again");
    Ok(())
}

/// A soft limit below the hard one (`ulimit -S -n 64`) is raised at start, and the log says so.
#[test]
fn the_open_file_limit_is_raised_to_the_hard_one() -> Result<(), Failure> {
    let hard = Command::new("sh")
        .args(["-c", "ulimit -H -n"])
        .output()
        .unwrap();
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_string();
    if hard == "unlimited" || hard.parse::<u64>().is_ok_and(|h| h <= 64) {
        eprintln!("skipped: the hard limit is {hard}");
        return Ok(());
    }
    let mut s = Scene::new();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -S -n 64 && exec \"$0\" --port 0")
        .arg(BIN);
    let (p, _) = s.start("server", cmd)?;
    s.expect(p, &format!("open-file limit raised from 64 to {hard}"))?;
    Ok(())
}

/// `--bind ::` holds the port for IPv4 too (dual stack): a second server on `--bind 0.0.0.0`
/// is told so, not sent to wait for TIME_WAIT. The holder listens, as the first server does
/// (the kernel's tables, where the hint looks, list no TCP socket that is only bound).
#[test]
fn a_dual_stack_conflict_is_named_in_the_hint() {
    use socket2::{Domain, Socket, Type};
    let holder = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
    let any: SocketAddr = "[::]:0".parse().unwrap();
    if holder.set_only_v6(false).is_err() || holder.bind(&any.into()).is_err() {
        eprintln!("skipped: no IPv6 dual stack here");
        return;
    }
    holder.listen(1).unwrap();
    let port = holder.local_addr().unwrap().as_socket().unwrap().port();
    let out = cargo_bin_cmd!("tcp-server")
        .args(["--bind", "0.0.0.0", "--port", &port.to_string()])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("a socket on [::]:{port} holds it"))
            && stderr.contains("dual stack"),
        "{stderr}"
    );
    assert!(!stderr.contains("TIME_WAIT"), "{stderr}");
}

/// Threads run out (`ulimit -u`) while clients keep coming: each one that found no thread was
/// an `error:` line and a `hint:` on stderr, outside any share (600 clients, 600 errors). It
/// is now the line that closes its connection, within its address's share.
#[test]
fn clients_that_find_no_thread_cannot_fill_the_log() -> Result<(), Failure> {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tcp-server"));
    testkit::fdlimit::threads_run_out(bin, &[])
}
