//! The tests of an echo server on tcp-server's wire, as a user runs it: the real binary on
//! loopback, port 0, with real TCP clients. tcp-server, tcp-poll and tcp-async are the same
//! server written three ways, so they pass the same tests: one suite, many implementations,
//! as ripgrep's `rgtest!` runs one test body per engine.
//!
//! A test file of an echo server runs the whole suite with one line:
//!
//! ```ignore
//! testkit::echo_server_suite!(env!("CARGO_BIN_EXE_tcp-server"));
//! ```
//!
//! which makes a module `echo_server` of `#[test]` functions that run that binary.

/// The shared suite of the echo servers: `echo_server_suite!(path_of_the_binary)` defines a
/// module `echo_server` with one `#[test]` per behaviour of tcp-server's wire.
#[macro_export]
macro_rules! echo_server_suite {
    ($bin:expr) => {
        #[allow(clippy::unwrap_used, clippy::expect_used)]
        mod echo_server {
            /// The binary under test.
            const BIN: &str = $bin;

            use std::io::{ErrorKind, Read, Write};
            use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
            use std::process::Command;
            use std::thread;
            use std::time::Duration;

            use $crate::{Failure, Proc, Scene, Stream};
            // Every read or write on a socket with a timeout goes through `retry`: a test
            // binary with assert_cmd's timeouts has a SIGCHLD handler, and a child of another
            // test that ends interrupts such a call (EINTR; SA_RESTART does not restart it).
            use ::common::net::retry;

            fn server(bin: &str, scene: &mut Scene, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
                let mut cmd = Command::new(bin);
                // Every test client comes from 127.0.0.1: the per-address limit is tested on its own.
                cmd.args(["--port", "0", "--max-per-address", "4096"])
                    .args(args);
                scene.start("server", cmd)
            }

            fn connect(addr: SocketAddr) -> TcpStream {
                $crate::echo::connect(addr).unwrap()
            }

            /// Sends `data` in pieces of `piece` bytes, half-closes, and returns all that comes back.
            fn echo_in_pieces(addr: SocketAddr, data: &[u8], piece: usize) -> Vec<u8> {
                $crate::echo::echo_in_pieces(addr, data, piece).unwrap()
            }

            /// Writes `message` on each stream, each from its own thread, and counts the streams that
            /// get exactly their own bytes back.
            fn each_gets_its_own_echo(streams: Vec<TcpStream>) -> usize {
                let workers: Vec<_> = streams
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut stream)| {
                        thread::spawn(move || {
                            let mine = format!("client {i} says {}\n", "x".repeat(i % 700)).into_bytes();
                            stream.write_all(&mine).unwrap();
                            let mut back = vec![0u8; mine.len()];
                            stream.read_exact(&mut back).unwrap();
                            back == mine
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join())
                    .filter(|r| matches!(r, Ok(true)))
                    .count()
            }

            #[test]
            fn echoes_text_and_every_byte_value_in_pieces_of_any_size() -> Result<(), Failure> {
                let mut s = Scene::new();
                // Not --quiet: it prints nothing per connection in tcp-poll and tcp-async, and
                // this test waits for the close line.
                let (p, addr) = server(BIN, &mut s, &[])?;
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
            fn an_echo_the_client_reads_late_comes_back_whole() -> Result<(), Failure> {
                // The client writes without reading until its writes stall: the server's writes have met
                // a full client window (WouldBlock), its unwritten echo waits in the server, and the
                // server has stopped reading. Then the client sends FIN and only reads. No more bytes will
                // come in to wake the server: the rest of the echo goes out only if the server asked to
                // be told when the socket is writable again.
                let mut s = Scene::new();
                let (_, addr) = server(BIN, &mut s, &["--quiet"])?;
                let mut stream = connect(addr);
                // A write that moves nothing for half a second: both directions are full.
                stream
                    .set_write_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let chunk: Vec<u8> = (0..64 * 1024).map(|i: u32| (i % 251) as u8).collect();
                let mut sent = Vec::new();
                while sent.len() < 256 * 1024 * 1024 {
                    match retry(|| stream.write(&chunk)) {
                        Ok(n) => sent.extend_from_slice(&chunk[..n]),
                        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                        Err(e) => panic!("write failed after {} bytes: {e}", sent.len()),
                    }
                }
                stream.shutdown(Shutdown::Write).unwrap();
                let mut back = Vec::new();
                let read = stream.read_to_end(&mut back);
                assert!(
                    read.is_ok() && back == sent,
                    "{} of {} bytes came back ({read:?})",
                    back.len(),
                    sent.len()
                );
                Ok(())
            }

            #[test]
            fn logs_accept_chunks_and_an_orderly_close() -> Result<(), Failure> {
                let mut s = Scene::new();
                let (p, addr) = server(BIN, &mut s, &["--encoding", "GBK"])?;
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
                stream.write_all(b"\xff").unwrap();
                stream.read_exact(&mut back[..1]).unwrap();
                assert_eq!(
                    s.expect(p, "received")?,
                    format!("received 1 byte from {client}: \u{fffd} [not valid GBK: shown as \u{fffd}]")
                );
                stream.shutdown(Shutdown::Write).unwrap();
                // The server answers our FIN with its own: read returns 0.
                assert_eq!(retry(|| stream.read(&mut back)).unwrap(), 0);
                assert_eq!(
                    s.expect(p, "closed")?,
                    format!("{client} closed the connection (FIN) after 5 bytes; closing ours")
                );
                Ok(())
            }

            #[test]
            fn a_client_that_resets_with_unread_data_does_not_stop_the_server() -> Result<(), Failure> {
                let mut s = Scene::new();
                let (p, addr) = server(BIN, &mut s, &[])?;
                // The seed's client: send, read only recv(10), close with the rest unread.
                // Closing a socket with unread data makes the kernel send RST instead of FIN.
                let mut rude = connect(addr);
                let rude_addr = rude.local_addr().unwrap();
                rude.write_all(&[b'x'; 100]).unwrap();
                let mut ten = [0u8; 10];
                rude.read_exact(&mut ten).unwrap();
                s.expect(p, "received 100 bytes")?;
                drop(rude);
                s.expect(p, &format!("{rude_addr} reset the connection (RST)"))?;
                assert_eq!(echo_in_pieces(addr, b"next", 4), b"next");
                let stderr = s.output(p, Stream::Stderr);
                assert!(stderr.is_empty(), "{stderr:?}");
                Ok(())
            }

            #[test]
            fn three_hundred_concurrent_clients_each_get_their_own_bytes() -> Result<(), Failure> {
                let mut s = Scene::new();
                let (_, addr) = server(BIN, &mut s, &["--quiet"])?;
                // Connect all of them first, so that all 300 connections are open at once.
                let streams: Vec<TcpStream> = (0..300).map(|_| connect(addr)).collect();
                assert_eq!(each_gets_its_own_echo(streams), 300);
                Ok(())
            }

            #[test]
            fn a_burst_of_500_connects_loses_none() -> Result<(), Failure> {
                // 500 connects as fast as one thread makes them, more than the default backlog
                // of 128: the server must empty its accept queue on every wake-up.
                let mut s = Scene::new();
                let (p, addr) = server(BIN, &mut s, &["--quiet"])?;
                let streams: Vec<TcpStream> = (0..500).map(|_| connect(addr)).collect();
                assert_eq!(each_gets_its_own_echo(streams), 500);
                let accepted = s.output(p, Stream::Stdout);
                let refused = accepted.iter().filter(|l| l.starts_with("refused")).count();
                assert_eq!(refused, 0);
                Ok(())
            }

            #[test]
            fn idle_half_closed_and_slow_clients_do_not_block_others() -> Result<(), Failure> {
                let mut s = Scene::new();
                let (_, addr) = server(BIN, &mut s, &["--quiet"])?;
                let _idle = connect(addr);
                let half = connect(addr);
                half.shutdown(Shutdown::Write).unwrap();
                // A client that sends and never reads: its echo fills both socket buffers.
                let mut hog = connect(addr);
                hog.set_write_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                let block = vec![b'h'; 64 * 1024];
                while hog.write_all(&block).is_ok() {}
                assert_eq!(echo_in_pieces(addr, b"still served", 3), b"still served");
                Ok(())
            }

            #[test]
            fn a_silent_client_is_closed_after_the_idle_timeout() -> Result<(), Failure> {
                let mut s = Scene::new();
                let (p, addr) = server(BIN, &mut s, &["--idle-timeout", "0.3"])?;
                let mut silent = connect(addr);
                let silent_addr = silent.local_addr().unwrap();
                assert_eq!(
                    s.expect(p, "sent nothing")?,
                    format!("{silent_addr} sent nothing for 0.3 s (--idle-timeout): closed after 0 bytes")
                );
                // The server closed: our read ends.
                let mut one = [0u8; 1];
                assert_eq!(retry(|| silent.read(&mut one)).unwrap(), 0);
                Ok(())
            }

            #[test]
            fn a_client_that_never_reads_is_closed_after_the_idle_timeout() -> Result<(), Failure> {
                let mut s = Scene::new();
                let (p, addr) = server(BIN, &mut s, &["--idle-timeout", "0.5"])?;
                let mut hog = connect(addr);
                let hog_addr = hog.local_addr().unwrap();
                let writer = thread::spawn(move || {
                    // Writes until the server gives up on us and the connection breaks.
                    let block = vec![b'h'; 64 * 1024];
                    while hog.write_all(&block).is_ok() {}
                });
                s.expect(
                    p,
                    &format!("{hog_addr} read none of its echo for 0.5 s (--idle-timeout)"),
                )?;
                writer.join().unwrap();
                Ok(())
            }

            #[test]
            fn refuses_clients_past_the_limit_with_a_log_line() -> Result<(), Failure> {
                // Past --max-per-address. (Past --max-clients, the client idle longest makes
                // room instead: see idle_connections_from_many_addresses_make_room_for_a_new_client.)
                let mut s = Scene::new();
                let mut cmd = Command::new(BIN);
                cmd.args(["--port", "0", "--max-per-address", "1"]);
                let (p, addr) = s.start("server", cmd)?;
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
            fn idle_connections_from_many_addresses_make_room_for_a_new_client() -> Result<(), Failure> {
                // The idle lockout, scaled down: 4 addresses x 4 connections (the per-address
                // limit), each sending now and then, hold all 16 places; with the defaults, 64
                // addresses (aliases of one network card) x 64 connections hold all 4,096. A
                // newcomer must still be served: the connection idle longest makes room.
                let mut s = Scene::new();
                let mut cmd = Command::new(BIN);
                cmd.args(["--port", "0", "--max-clients", "16", "--max-per-address", "4"]);
                let (p, addr) = s.start("server", cmd)?;
                let mut held = Vec::new();
                for n in 2..6u8 {
                    for _ in 0..4 {
                        let mut stream = $crate::echo::connect_from([127, 0, 0, n], addr).unwrap();
                        // Served: its byte comes back.
                        stream.write_all(b"x").unwrap();
                        let mut one = [0u8; 1];
                        stream.read_exact(&mut one).unwrap();
                        held.push(stream);
                    }
                }
                // The first connection is now the one idle longest: the others move a byte.
                thread::sleep(Duration::from_millis(50));
                for stream in held.iter_mut().skip(1) {
                    stream.write_all(b"y").unwrap();
                    let mut one = [0u8; 1];
                    stream.read_exact(&mut one).unwrap();
                }
                let oldest = held[0].local_addr().unwrap();
                // All places are taken, and the newcomer's address has none: served.
                assert_eq!(echo_in_pieces(addr, b"let me in", 3), b"let me in");
                let line = s.expect(p, "made room for a new client")?;
                let head = format!("{oldest} made room for a new client, all places being taken (idle ");
                assert!(line.starts_with(&head), "{line}");
                assert!(line.ends_with(" (--max-clients)"), "{line}");
                // The idle one was closed: its read ends.
                let mut rest = Vec::new();
                assert!(matches!(held[0].read_to_end(&mut rest), Ok(0) | Err(_)));
                // An address at its own limit still evicts nobody: refused.
                let mut fifth = $crate::echo::connect_from([127, 0, 0, 3], addr).unwrap();
                s.expect(p, "this address already has 4 connections")?;
                assert_eq!(fifth.read_to_end(&mut rest).unwrap_or(0), 0);
                // The other 15 are still served.
                for stream in held.iter_mut().skip(1) {
                    stream.write_all(b"z").unwrap();
                    let mut one = [0u8; 1];
                    stream.read_exact(&mut one).unwrap();
                    assert_eq!(&one, b"z");
                }
                Ok(())
            }

            #[test]
            fn busy_connections_from_many_addresses_cannot_push_out_a_quiet_client() -> Result<(), Failure> {
                // Eviction abused, scaled down: a person's one connection from 127.0.0.1 is
                // quiet (someone thinking before the next line); the attacker fills every
                // other place from 127.0.0.2-5, keeps its connections busier, and opens more
                // from 127.0.0.6-7, as it would reconnect each one that made room. Idle longest
                // alone closed the person at the first newcomer; with the defaults, 64
                // addresses sending one byte a second each closed a person typing a line
                // every 3 s 20 times in 30 s. The address with the most places gives first.
                let mut s = Scene::new();
                let mut cmd = Command::new(BIN);
                cmd.args(["--port", "0", "--max-clients", "16", "--max-per-address", "4"]);
                let (p, addr) = s.start("server", cmd)?;
                let served = |from: [u8; 4]| {
                    let mut stream = $crate::echo::connect_from(from, addr).unwrap();
                    stream.write_all(b"x").unwrap();
                    let mut one = [0u8; 1];
                    stream.read_exact(&mut one).unwrap();
                    stream
                };
                let mut person = served([127, 0, 0, 1]);
                let me = person.local_addr().unwrap();
                thread::sleep(Duration::from_millis(50));
                let mut attacker = Vec::new();
                for n in 2..6u8 {
                    let per = if n == 5 { 3 } else { 4 };
                    for _ in 0..per {
                        attacker.push(served([127, 0, 0, n]));
                    }
                }
                // All 16 places are taken; the person is idle longest. Eight newcomers.
                for n in [6u8, 6, 6, 6, 7, 7, 7, 7] {
                    attacker.push(served([127, 0, 0, n]));
                    let line = s.expect(p, "made room for a new client")?;
                    assert!(!line.starts_with(&format!("{me} ")), "{line}");
                }
                person.write_all(b"still here").unwrap();
                let mut back = [0u8; 10];
                person.read_exact(&mut back).unwrap();
                assert_eq!(&back, b"still here");
                Ok(())
            }

            #[test]
            fn ipv6_machines_of_one_lan_each_get_their_own_share() -> Result<(), Failure> {
                // Every machine of a LAN has its IPv6 address in the LAN's one /64. Counted by
                // /64, one classmate's idle connections (64 with the defaults, 2 here) had
                // every other IPv6 client of the LAN refused. In a private network namespace
                // (root; skipped without), 2001:db8::2 and ::3 are two machines of one LAN.
                let netns = match $crate::netns::Netns::new("v6lan") {
                    Ok(netns) => netns,
                    Err(why) => {
                        eprintln!("skipped: {why}");
                        return Ok(());
                    }
                };
                for a in ["2001:db8::1", "2001:db8::2", "2001:db8::3"] {
                    netns.add_v6(a).map_err(Failure::new)?;
                }
                let mut s = Scene::new();
                let mut cmd = Command::new(BIN);
                cmd.args(["--bind", "2001:db8::1", "--port", "0", "--max-per-address", "2"]);
                let (p, addr) = s.start("server", netns.exec(&cmd))?;
                let script = "import socket, sys
def conn(me):
    s = socket.socket(socket.AF_INET6)
    s.settimeout(10)
    s.bind((me, 0))
    s.connect(('2001:db8::1', int(sys.argv[1])))
    return s
held = [conn('2001:db8::2') for _ in range(2)]
other = conn('2001:db8::3')
other.sendall(b'in')
print('echo:', other.recv(10).decode())";
                let mut python = Command::new("python3");
                python.args(["-c", script, &addr.port().to_string()]);
                let client = s.spawn("client", netns.exec(&python))?;
                s.expect(client, "echo: in")?;
                s.wait_success(client)?;
                let log = s.output(p, $crate::Stream::Stdout).join("\n");
                assert!(!log.contains("refused"), "{log}");
                Ok(())
            }

            #[test]
            fn idle_connections_cannot_take_every_descriptor_either() -> Result<(), Failure> {
                // The same lockout where the open-file limit is below --max-clients: under
                // `ulimit -n 128` (soft and hard), 128 idle connections from two addresses would
                // take every descriptor, and accept() would fail (EMFILE) for the newcomer. The
                // server holds only as many clients as the limit leaves room for (128 - 32), so
                // the client idle longest makes room before the descriptors run out.
                let mut s = Scene::new();
                let mut cmd = $crate::fdlimit::with_limit(128, BIN);
                cmd.args(["--port", "0"]);
                let (p, addr) = s.start("server", cmd)?;
                let mut held = Vec::new();
                for n in [2u8, 3] {
                    for _ in 0..64 {
                        let mut stream = $crate::echo::connect_from([127, 0, 0, n], addr).unwrap();
                        let mut one = [0u8; 1];
                        if stream.write_all(b"x").is_ok() && stream.read_exact(&mut one).is_ok() {
                            held.push(stream);
                        }
                    }
                }
                assert_eq!(
                    $crate::echo::echo_in_pieces(addr, b"let me in", 3).ok(),
                    Some(b"let me in".to_vec())
                );
                s.expect(p, "open-file limit 128: room for 96 clients at once, not 4096")?;
                s.expect(p, "made room for a new client")?;
                Ok(())
            }

            #[test]
            fn a_client_that_never_reads_holds_little_of_the_kernels_memory() -> Result<(), Failure> {
                // A client sends until nothing more goes in and never reads its echo. Linux
                // grew the server's send buffer to 4 MiB for it (net.ipv4.tcp_wmem): 64 such
                // clients held 269 MB of send queues on the server's side, and the machine's
                // TCP memory (net.ipv4.tcp_mem) is shared by every program. --socket-buffer
                // (64 KiB) caps it.
                let mut s = Scene::new();
                let (_p, addr) = server(BIN, &mut s, &[])?;
                let mut hog = connect(addr);
                hog.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
                let block = vec![b'h'; 64 * 1024];
                let mut sent = 0;
                // Until a write takes nothing for a second: the server's buffers are full.
                while let Ok(n) = retry(|| hog.write(&block)) {
                    sent += n;
                    assert!(sent < 1 << 30, "the server took 1 GiB and still reads");
                }
                let queued = $crate::echo::send_queue(addr, hog.local_addr().unwrap()).unwrap();
                assert!(queued <= 512 * 1024, "the server's send queue holds {queued} bytes");
                Ok(())
            }

            /// Sends `per_connection` bytes one at a time, each waiting for its echo, on each of
            /// `connections` connections in turn; returns the bytes of `received` lines the
            /// server logged, the seconds it took, and whether the log said what it left out.
            fn one_byte_at_a_time(connections: usize, per_connection: usize) -> Result<(usize, u64, bool), Failure> {
                let mut s = Scene::new();
                let (p, addr) = server(BIN, &mut s, &[])?;
                let started = std::time::Instant::now();
                for _ in 0..connections {
                    let mut stream = connect(addr);
                    stream.set_nodelay(true).unwrap();
                    let mut one = [0u8; 1];
                    for _ in 0..per_connection {
                        stream.write_all(b"x").unwrap();
                        stream.read_exact(&mut one).unwrap();
                    }
                    stream.shutdown(Shutdown::Write).unwrap();
                    assert_eq!(retry(|| stream.read(&mut one)).unwrap(), 0);
                    s.expect(p, "closed the connection (FIN)")?;
                }
                let seconds = started.elapsed().as_secs() + 1;
                let lines = s.output(p, Stream::Stdout);
                let said = lines.iter().any(|l| l.ends_with("not shown: log budget)"));
                let logged = lines
                    .iter()
                    .filter(|l| l.starts_with("received"))
                    .map(|l| l.len() + 1)
                    .sum();
                Ok((logged, seconds, said))
            }

            #[test]
            fn one_byte_chunks_cannot_make_the_log_much_bigger_than_the_traffic() -> Result<(), Failure> {
                // A client sends 5,000 bytes one at a time, each waiting for its echo: one TCP
                // segment and one read each. A line per read was about 45 bytes of log per
                // byte; within the log budget it is one byte per byte, plus the server's
                // allowance (16 KiB, refilled at 1 KiB a second).
                let (logged, seconds, said) = one_byte_at_a_time(1, 5_000)?;
                let bound = 5_000 + 16 * 1024 + 1024 * seconds as usize;
                assert!(logged <= bound, "{logged} bytes of log for 5000 bytes sent in {seconds} s");
                assert!(said, "the log does not say what it left out");
                Ok(())
            }

            #[test]
            fn many_connections_cannot_multiply_the_log_budget() -> Result<(), Failure> {
                // The same, 50 bytes on each of 100 connections in turn: a budget per connection
                // (4 KiB each) let every new connection log its 50 lines, 60 bytes of log per byte.
                let (logged, seconds, said) = one_byte_at_a_time(100, 50)?;
                let bound = 5_000 + 16 * 1024 + 1024 * seconds as usize;
                assert!(logged <= bound, "{logged} bytes of log for 5000 bytes sent in {seconds} s");
                assert!(said, "the log does not say what it left out");
                Ok(())
            }

            #[test]
            fn connecting_and_closing_cannot_fill_the_log() -> Result<(), Failure> {
                // Every connection made two lines, `accepted` and its end, though it sent
                // nothing: connect and close in a loop wrote 650 kB of log a second (3.2 MB
                // in 5 s, tcp-server). One address's connections are told 256 at once, then
                // two a second (common::connlog); 127.0.0.2's one connection has its own share.
                let mut s = Scene::new();
                let (p, addr) = server(BIN, &mut s, &[])?;
                let started = std::time::Instant::now();
                for _ in 0..2_000 {
                    drop(connect(addr));
                }
                let mut last = $crate::echo::connect_from([127, 0, 0, 2], addr).unwrap();
                last.write_all(b"x").unwrap();
                let mut one = [0u8; 1];
                last.read_exact(&mut one).unwrap();
                // Accepted after all of them: their `accepted` lines come before its own.
                let line = s.expect(p, "127.0.0.2")?;
                assert!(line.starts_with("accepted 127.0.0.2"), "{line}");
                let seconds = started.elapsed().as_secs() + 1;
                let lines = s.output(p, Stream::Stdout);
                let accepted = lines.iter().filter(|l| l.starts_with("accepted 127.0.0.1:")).count();
                assert!(accepted <= 256 + 2 * seconds as usize, "{accepted} of 2000 told in {seconds} s");
                Ok(())
            }

            #[test]
            fn a_port_in_use_is_a_clear_error() -> Result<(), Failure> {
                let taken = TcpListener::bind("127.0.0.1:0").unwrap();
                let port = taken.local_addr().unwrap().port().to_string();
                let mut s = Scene::new();
                let mut cmd = Command::new(BIN);
                cmd.args(["--port", &port]);
                let p = s.spawn("server", cmd)?;
                let error = s.expect_on(p, Stream::Stderr, "error")?;
                assert_eq!(
                    error,
                    format!("error: cannot bind 127.0.0.1:{port} (tcp): Address already in use (os error 98)")
                );
                assert!(s.expect_on(p, Stream::Stderr, "hint")?.contains("--port 0"));
                assert_eq!(s.wait(p)?.code(), Some(1));
                Ok(())
            }

            #[test]
            fn listens_on_ipv6_loopback() -> Result<(), Failure> {
                let mut s = Scene::new();
                let (_, addr) = server(BIN, &mut s, &["--bind", "[::1]"])?;
                assert!(addr.is_ipv6());
                assert_eq!(echo_in_pieces(addr, b"v6", 1), b"v6");
                Ok(())
            }

            #[test]
            fn refusals_past_the_descriptor_limit_cannot_fill_the_log() -> Result<(), Failure> {
                // With every descriptor taken, each newcomer is accepted into the spare one and
                // closed at once, and its `refused` line was written outside the log's share in
                // tcp-poll and tcp-async: churn.py under `ulimit -n 40` made 3.3 MB and 1.5 MB of
                // log in 5 s (tcp-server, within it, 22 kB). One address's refusals are told
                // 256 at once, then two a second (common::connlog), as the other refusals are.
                let mut s = Scene::new();
                let mut cmd = $crate::fdlimit::with_limit(24, BIN);
                cmd.args(["--port", "0", "--max-per-address", "4096"]);
                let (p, addr) = s.start("server", cmd)?;
                let _held: Vec<TcpStream> = (0..30).map(|_| connect(addr)).collect();
                s.expect(p, "Too many open files")?;
                let started = std::time::Instant::now();
                let refused = |from: [u8; 4]| {
                    let mut c = $crate::echo::connect_from(from, addr).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let _ = c.read_to_end(&mut Vec::new());
                };
                for _ in 0..1_000 {
                    refused([127, 0, 0, 2]);
                }
                // Refused after all of them: their lines come before its own.
                refused([127, 0, 0, 3]);
                s.expect(p, "refused 127.0.0.3")?;
                let seconds = started.elapsed().as_secs() + 1;
                let lines = s.output(p, Stream::Stdout);
                let told = lines.iter().filter(|l| l.starts_with("refused 127.0.0.2:")).count();
                assert!(told <= 256 + 2 * seconds as usize, "{told} of 1000 told in {seconds} s");
                Ok(())
            }

            #[test]
            fn out_of_descriptors_no_client_is_left_hanging() -> Result<(), Failure> {
                // A hostile peer opens connections until the server has no file descriptor left: accept()
                // fails (EMFILE, "Too many open files") and the rest wait in the listen queue. A queued
                // connection must not hang: the server either refuses it at once (it accepts it with a
                // descriptor kept in reserve and closes it), or serves it when the peer's other
                // connections close, although nobody new connects. Then the server serves again.
                // `ulimit -n 24` (soft and hard) gives the server room for about 18 clients.
                let mut s = Scene::new();
                let mut cmd = $crate::fdlimit::with_limit(24, BIN);
                cmd.args(["--port", "0", "--max-per-address", "4096"]);
                let (p, addr) = s.start("server", cmd)?;
                let mut streams: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();
                s.expect(p, "Too many open files")?;
                // Accept is first come, first served: the first ones hold every descriptor the server has.
                let mut last = streams.pop().unwrap();
                drop(streams);
                let _ = last.write_all(b"queued");
                // Refused: the end of the stream or a reset. Served: its echo. Hanging: the read times out.
                let mut back = [0u8; 6];
                let mut got = 0;
                while got < back.len() {
                    match retry(|| last.read(&mut back[got..])) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) => {
                            assert!(
                                matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                                "{e}"
                            );
                            break;
                        }
                    }
                }
                assert!(got == 0 || &back == b"queued", "{back:?}");
                // The server frees a descriptor when it has read that client's FIN, a moment
                // after we closed: until then a new client may still be refused at once.
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                loop {
                    match $crate::echo::echo_in_pieces(addr, b"room again", 4) {
                        Ok(back) if back == b"room again" => break,
                        other => assert!(std::time::Instant::now() < deadline, "{other:?}"),
                    }
                    thread::sleep(Duration::from_millis(50));
                }
                Ok(())
            }
        }
    };
}
