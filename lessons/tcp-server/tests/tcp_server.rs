//! tcp-server as a user runs it: the real binary on loopback, port 0, with real TCP clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
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
fn echoes_text_and_every_byte_value_in_pieces_of_any_size() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--quiet"])?;
    let all: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
    for piece in [1, 2, 3, 7, 255, 256, 1000, 4096, all.len()] {
        assert_eq!(echo_in_pieces(addr, &all, piece), all, "pieces of {piece}");
    }
    assert_eq!(
        echo_in_pieces(addr, "你好, world\n".as_bytes(), 5),
        "你好, world\n".as_bytes()
    );
    s.expect(p, "closed the connection (FIN)")?;
    Ok(())
}

#[test]
fn logs_accept_chunks_and_an_orderly_close() -> Result<(), Failure> {
    let mut s = Scene::new();
    // The encoding's name in any case, as people write it.
    let (p, addr) = server(&mut s, &["--encoding", "GBK"])?;
    let mut stream = connect(addr);
    let client = stream.local_addr().unwrap();
    stream.write_all(b"\xc4\xe3\xba\xc3").unwrap();
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(s.expect(p, "accepted")?, format!("accepted {client}"));
    assert_eq!(
        s.expect(p, "received")?,
        format!("received 4 bytes from {client}: 你好")
    );
    stream.shutdown(Shutdown::Write).unwrap();
    // The server answers our FIN with its own: read returns 0.
    assert_eq!(stream.read(&mut back).unwrap(), 0);
    assert_eq!(
        s.expect(p, "closed")?,
        format!("{client} closed the connection (FIN) after 4 bytes; closing ours")
    );
    Ok(())
}

#[test]
fn a_client_that_resets_with_unread_data_does_not_stop_the_server() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &[])?;
    // The seed's client: send, read only recv(10), close with the rest of the echo unread.
    // Closing a socket with unread data makes the kernel send RST instead of FIN.
    let mut rude = connect(addr);
    let rude_addr = rude.local_addr().unwrap();
    rude.write_all(&[b'x'; 100]).unwrap();
    let mut ten = [0u8; 10];
    rude.read_exact(&mut ten).unwrap();
    s.expect(p, "received 100 bytes")?;
    drop(rude);
    s.expect(p, &format!("{rude_addr} reset the connection (RST)"))?;
    // The next client is served.
    assert_eq!(echo_in_pieces(addr, b"next", 4), b"next");
    let stderr = s.output(p, Stream::Stderr);
    assert!(stderr.is_empty(), "{stderr:?}");
    Ok(())
}

#[test]
fn two_hundred_concurrent_clients_each_get_their_own_bytes() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (_, addr) = server(&mut s, &["--quiet"])?;
    // Connect all of them first, so that all 200 connections are open at once.
    let streams: Vec<TcpStream> = (0..200).map(|_| connect(addr)).collect();
    let workers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, mut stream)| {
            thread::spawn(move || {
                let mine = format!("client {i} says {}\n", "x".repeat(i)).into_bytes();
                stream.write_all(&mine).unwrap();
                let mut back = vec![0u8; mine.len()];
                stream.read_exact(&mut back).unwrap();
                back == mine
            })
        })
        .collect();
    let good = workers
        .into_iter()
        .map(|w| w.join())
        .filter(|r| matches!(r, Ok(true)))
        .count();
    assert_eq!(good, 200);
    Ok(())
}

#[test]
fn idle_and_half_closed_clients_do_not_block_others() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (_, addr) = server(&mut s, &[])?;
    let _idle = connect(addr);
    let half = connect(addr);
    half.shutdown(Shutdown::Write).unwrap();
    assert_eq!(echo_in_pieces(addr, b"still served", 3), b"still served");
    Ok(())
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
fn refuses_clients_past_the_limit_with_a_log_line() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (p, addr) = server(&mut s, &["--max-clients", "1"])?;
    let mut first = connect(addr);
    first.write_all(b"a").unwrap();
    let mut one = [0u8; 1];
    first.read_exact(&mut one).unwrap();
    let mut second = connect(addr);
    s.expect(p, "refused")?;
    // The refused connection is closed: its read ends at once.
    let mut rest = Vec::new();
    let _ = second.read_to_end(&mut rest);
    assert!(rest.is_empty());
    drop(first);
    s.expect(p, "closed the connection")?;
    // The place is free again.
    assert_eq!(echo_in_pieces(addr, b"b", 1), b"b");
    Ok(())
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
            "refused {}: 2 clients already",
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

#[test]
fn listens_on_ipv6_loopback() -> Result<(), Failure> {
    let mut s = Scene::new();
    let (_, addr) = server(&mut s, &["--bind", "[::1]"])?;
    assert!(addr.is_ipv6());
    assert_eq!(echo_in_pieces(addr, b"v6", 1), b"v6");
    Ok(())
}
