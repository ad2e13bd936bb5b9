//! tcp-server as a user runs it: the real binary on loopback, port 0, with real TCP clients.
//! The tests of the echo wire itself are in `echo_server`, which tcp-poll and tcp-async run
//! too; the ones here are tcp-server's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_tcp-server");

mod echo_server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
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
    let _ = client.read(&mut one);
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

/// The attack: as many clients as --max-clients connect and say nothing. Without an idle
/// timeout they hold every place for ever, and everyone else is refused.
#[test]
fn idle_clients_cannot_hold_every_place() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--max-clients", "2", "--idle-timeout", "1"])?;
    let mut idle: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    let idle_addrs: Vec<SocketAddr> = idle.iter().map(|c| c.local_addr().unwrap()).collect();
    s.expect(p, &format!("accepted {}", idle_addrs[0]))?;
    s.expect(p, &format!("accepted {}", idle_addrs[1]))?;
    let turned_away = connect(addr);
    s.expect(
        p,
        &format!(
            "refused {}: all 2 places are taken",
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
        assert_eq!(c.read(&mut [0u8; 1]).unwrap(), 0);
    }
    assert_eq!(echo_in_pieces(addr, b"my turn", 3), b"my turn");
    Ok(())
}

/// The attack: a client sends and never reads. The echo fills its receive buffer and our
/// send buffer, and without a send timeout the server's write blocks for ever.
#[test]
fn a_client_that_never_reads_cannot_hold_its_place() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(
        &mut s,
        &["--max-clients", "1", "--idle-timeout", "1", "--quiet"],
    )?;
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
