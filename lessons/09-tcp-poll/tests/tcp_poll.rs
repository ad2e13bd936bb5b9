//! tcp-poll as a user runs it: tcp-server's tests of the echo wire (`echo_server`), the
//! attacks on a server with one thread (`one_thread`, shared with tcp-async), and its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

const BIN: &str = env!("CARGO_BIN_EXE_tcp-poll");

testkit::echo_server_suite!(env!("CARGO_BIN_EXE_tcp-poll"));
mod one_thread;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use testkit::{Failure, Scene};

/// The peak resident memory of a process in KiB, from Linux's /proc.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn clients_that_never_read_hold_at_most_64_kib_each() -> Result<(), Failure> {
    // 100 clients send without reading their echo. Each one's echo fills its small receive
    // buffer, then the server's send buffer, then the server's pending buffer, which must stop
    // at MAX_PENDING (64 KiB): 100 × 64 KiB is 6.25 MiB. (A server whose reads overshoot the
    // cap by one 64 KiB read grows by twice that.)
    const CLIENTS: u64 = 100;
    let mut s = Scene::new();
    let (p, addr) = s.start("server", {
        let mut cmd = Command::new(BIN);
        cmd.args(["--port", "0", "--quiet", "--max-per-address", "1000"]);
        cmd
    })?;
    let pid = s.pid(p).unwrap();
    let before = peak_kib(pid);
    let mut hogs: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            // Small buffers on our side, so that the bytes soon have nowhere to wait but the
            // server.
            socket.set_recv_buffer_size(4096).unwrap();
            socket.set_send_buffer_size(4096).unwrap();
            socket.connect(&addr.into()).unwrap();
            socket.set_nonblocking(true).unwrap();
            socket.into()
        })
        .collect();
    // Send up to 16 MiB on each, round after round, until the server takes no more: a few MiB
    // fill the kernel's buffers on the way.
    let block = vec![b'h'; 64 * 1024];
    let mut sent = vec![0usize; hogs.len()];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stalled_rounds = 0;
    while stalled_rounds < 10 && Instant::now() < deadline {
        let mut moved = false;
        for (hog, sent) in hogs.iter_mut().zip(sent.iter_mut()) {
            if *sent >= 16 * 1024 * 1024 {
                continue;
            }
            match hog.write(&block) {
                Ok(n) => (*sent, moved) = (*sent + n, true),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("the server dropped a client: {e}"),
            }
        }
        if moved {
            stalled_rounds = 0;
        } else {
            stalled_rounds += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let grown = peak_kib(pid).saturating_sub(before);
    // 64 KiB of pending echo a client, and 2 MiB for everything else (the table of clients).
    let bound = CLIENTS * 64 + 2 * 1024;
    assert!(
        grown <= bound,
        "the server grew by {grown} KiB for {CLIENTS} clients (bound {bound} KiB)"
    );
    Ok(())
}

#[test]
fn clients_that_read_their_echo_hold_no_pending_buffer_to_speak_of() -> Result<(), Failure> {
    // 400 clients, 15 exchanges of 64 bytes each: every echo is written back at once, so the
    // pending buffers stay at the size of one read. (A buffer that doubled at every echo grew
    // to 64 KiB a client: 253 MB for 10,000 clients in the bench.)
    const CLIENTS: u64 = 400;
    let mut s = Scene::new();
    let (p, addr) = s.start("server", {
        let mut cmd = Command::new(BIN);
        cmd.args(["--port", "0", "--quiet", "--max-per-address", "1000"]);
        cmd
    })?;
    let pid = s.pid(p).unwrap();
    let before = peak_kib(pid);
    let mut clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let message = [b'e'; 64];
    let mut echo = [0u8; 64];
    for _ in 0..15 {
        for client in &mut clients {
            client.write_all(&message).unwrap();
        }
        for client in &mut clients {
            std::io::Read::read_exact(client, &mut echo).unwrap();
            assert_eq!(echo, message);
        }
    }
    let grown = peak_kib(pid).saturating_sub(before);
    // 4 KiB a client and 2 MiB for the rest.
    let bound = CLIENTS * 4 + 2 * 1024;
    assert!(
        grown <= bound,
        "the server grew by {grown} KiB for {CLIENTS} clients that read their echo (bound {bound} KiB)"
    );
    Ok(())
}
