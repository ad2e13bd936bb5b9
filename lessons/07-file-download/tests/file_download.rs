//! file-download as users run it: the real `serve`, `get` and `list` on loopback, port 0,
//! in temporary directories, plus raw clients and fake servers that misbehave on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use testkit::{Failure, Proc, Scene, Stream, pattern};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_file-download"))
}

/// A served directory with a text file, a binary file, a subdirectory and a secret next to it.
fn served() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("hello.txt"), "你好, file!\n").unwrap();
    fs::write(root.join("all-bytes.bin"), (0..=255u8).collect::<Vec<_>>()).unwrap();
    fs::write(root.join("sub/inner.txt"), "inner\n").unwrap();
    fs::write(dir.path().join("secret.txt"), "outside the root\n").unwrap();
    dir
}

fn serve(s: &mut Scene, dir: &Path, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = bin();
    cmd.arg("serve")
        .arg("--root")
        .arg(dir.join("root"))
        .args(["--port", "0"])
        .args(args);
    s.start("serve", cmd)
}

/// Runs `get` (or another client subcommand) in `cwd` and returns (exit code, stdout, stderr).
fn client(cwd: &Path, addr: SocketAddr, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin()
        .args(args)
        .args(["--to", &addr.to_string(), "--timeout", "10"])
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The version the server names for a file: its size and modification time.
fn version_of(path: &Path) -> String {
    let meta = fs::metadata(path).unwrap();
    format!("{}-{}.{:09}\n", meta.len(), meta.mtime(), meta.mtime_nsec())
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Sends a raw request and returns everything the server answers before it closes.
fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

#[test]
fn text_and_binary_files_arrive_byte_identical() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, dir.path(), &[])?;
    let out = tempfile::tempdir().unwrap();
    for name in ["hello.txt", "all-bytes.bin"] {
        let (code, stdout, stderr) = client(out.path(), addr, &["get", name]);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(
            stdout.starts_with(&format!("downloaded {name:?} to {name}: ")),
            "{stdout}"
        );
        assert_eq!(
            fs::read(out.path().join(name)).unwrap(),
            fs::read(dir.path().join("root").join(name)).unwrap()
        );
    }
    assert_eq!(
        files_in(out.path()),
        ["all-bytes.bin", "hello.txt"],
        "no .part left"
    );
    s.expect(p, "sent \"hello.txt\" to")?;
    Ok(())
}

#[test]
fn a_large_file_arrives_byte_identical_and_two_clients_are_served_at_once() -> Result<(), Failure> {
    let dir = served();
    let big = pattern(40 << 20);
    fs::write(dir.path().join("root/big.bin"), &big).unwrap();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &[])?;
    let outs: Vec<TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let clients: Vec<_> = outs
        .iter()
        .map(|out| {
            let cwd = out.path().to_path_buf();
            thread::spawn(move || client(&cwd, addr, &["get", "big.bin"]))
        })
        .collect();
    for c in clients {
        let (code, _, stderr) = c.join().unwrap();
        assert_eq!(code, Some(0), "{stderr}");
    }
    for out in &outs {
        assert!(
            fs::read(out.path().join("big.bin")).unwrap() == big,
            "big.bin differs"
        );
    }
    Ok(())
}

#[test]
fn a_missing_file_is_a_clear_error_and_leaves_no_file() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, dir.path(), &[])?;
    let out = tempfile::tempdir().unwrap();
    let (code, _, stderr) = client(out.path(), addr, &["get", "nope.txt"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr.trim(),
        "error: the server refused \"nope.txt\": no such file"
    );
    assert!(files_in(out.path()).is_empty());
    s.expect(p, "refused")?;
    Ok(())
}

#[test]
fn nothing_outside_the_root_is_served_and_the_server_goes_on() -> Result<(), Failure> {
    let dir = served();
    symlink(
        dir.path().join("secret.txt"),
        dir.path().join("root/link.txt"),
    )
    .unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, dir.path(), &[])?;
    let out = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    for (name, reason) in [
        ("../secret.txt", "'..' is not allowed in a file name"),
        ("sub/../../secret.txt", "'..' is not allowed in a file name"),
        (secret.to_str().unwrap(), "absolute paths are not served"),
        ("/etc/passwd", "absolute paths are not served"),
        ("link.txt", "symbolic links are not followed"),
        ("sub", "not a regular file"),
    ] {
        let (code, _, stderr) = client(out.path(), addr, &["get", name, "-o", "x"]);
        assert_eq!(code, Some(1), "{name}");
        assert!(stderr.contains(reason), "{name}: {stderr}");
        s.expect(p, "refused")?;
    }
    for request in [
        &b"GET 0 - a\0b\n"[..],
        b"GET 0 - \x1b[2Jx\n",
        b"GET 0 - \xff\xfe\n",
        b"PUT 0 - x\n",
        b"GET 0 hello.txt\n",
        b"GET -5 - hello.txt\n",
        b"GET 99 - hello.txt\n",
    ] {
        let answer = raw(addr, request);
        assert!(answer.starts_with(b"ERR "), "{request:?}: {answer:?}");
        assert!(answer.ends_with(b"\n") && answer.iter().filter(|b| **b == b'\n').count() == 1);
    }
    let long = vec![b'x'; 10_000];
    assert_eq!(
        raw(addr, &long),
        b"ERR the line is longer than 4096 bytes\n"
    );
    assert!(files_in(out.path()).is_empty());
    // And the server still serves.
    let (code, _, _) = client(out.path(), addr, &["get", "sub/inner.txt"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        files_in(out.path()),
        ["inner.txt"],
        "the local name is the last component"
    );
    assert!(s.output(p, Stream::Stderr).is_empty());
    Ok(())
}

#[test]
fn a_request_that_never_finishes_times_out_and_frees_its_place() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (p, addr) = serve(
        &mut s,
        dir.path(),
        &["--request-timeout", "0.3", "--max-clients", "1"],
    )?;
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET 0 hel").unwrap();
    s.expect(p, "timed out")?;
    let mut rest = Vec::new();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = slow.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
    let (code, _, stderr) = client(tempfile::tempdir().unwrap().path(), addr, &["list"]);
    assert_eq!(code, Some(0), "{stderr}");
    Ok(())
}

#[test]
fn clients_past_the_limit_are_told_busy() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &["--max-clients", "1"])?;
    // Connections are accepted in the order they arrive: this one takes the only place.
    let _holder = TcpStream::connect(addr).unwrap();
    let answer = raw(addr, b"LIST\n");
    assert_eq!(answer, b"ERR busy\n");
    Ok(())
}

#[test]
fn never_overwrites_without_force() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &[])?;
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("hello.txt"), "mine").unwrap();
    let (code, _, stderr) = client(out.path(), addr, &["get", "hello.txt"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("hello.txt exists; --force overwrites it"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(out.path().join("hello.txt")).unwrap(),
        "mine"
    );
    let (code, _, _) = client(out.path(), addr, &["get", "hello.txt", "--force"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        fs::read_to_string(out.path().join("hello.txt")).unwrap(),
        "你好, file!\n"
    );
    Ok(())
}

/// A server that answers one request with `answer` and closes; returns the request line.
fn fake_server(answer: Vec<u8>) -> (SocketAddr, thread::JoinHandle<String>) {
    fake_server_at("127.0.0.1:0".parse().unwrap(), answer)
}

/// [`fake_server`] at `addr`: the same server again, for a `--continue` (a `.part` from
/// another address is started over).
fn fake_server_at(addr: SocketAddr, answer: Vec<u8>) -> (SocketAddr, thread::JoinHandle<String>) {
    let listener = TcpListener::bind(addr).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // A client that refuses the answer may close before all of it is written.
        let _ = (&stream).write_all(&answer);
        line
    });
    (addr, handle)
}

#[test]
fn a_cut_transfer_leaves_only_the_part_file_and_continue_finishes_it() {
    let body = pattern(100);
    let out = tempfile::tempdir().unwrap();
    // The server announces 100 bytes, sends 40, and closes.
    let mut cut = b"OK 100 0 100-1.000000000\n".to_vec();
    cut.extend_from_slice(&body[..40]);
    let (addr, server) = fake_server(cut);
    let (code, _, stderr) = client(out.path(), addr, &["get", "data.bin"]);
    assert_eq!(server.join().unwrap(), "GET 0 - data.bin\n");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cut short at 40 of 100 bytes"), "{stderr}");
    assert!(stderr.contains("--continue"), "{stderr}");
    assert_eq!(
        files_in(out.path()),
        ["data.bin.part", "data.bin.part.version"],
        "never a complete-looking file"
    );
    // Resume: the client asks from byte 40 of the version it has, and gets the rest.
    let mut rest = b"OK 100 40 100-1.000000000\n".to_vec();
    rest.extend_from_slice(&body[40..]);
    let (addr, server) = fake_server_at(addr, rest);
    let (code, stdout, stderr) = client(out.path(), addr, &["get", "data.bin", "--continue"]);
    assert_eq!(server.join().unwrap(), "GET 40 100-1.000000000 data.bin\n");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("resuming \"data.bin\" at byte 40 of 100"),
        "{stdout}"
    );
    assert_eq!(files_in(out.path()), ["data.bin"]);
    assert_eq!(fs::read(out.path().join("data.bin")).unwrap(), body);
}

#[test]
fn a_bad_header_leaves_no_file() {
    let out = tempfile::tempdir().unwrap();
    for answer in [
        &b"HTTP/1.1 200 OK\r\n\r\nhello"[..],
        b"OK 5 3\nxx",
        b"OK 5 3 v\nxx",
        b"",
        b"OK 5",
    ] {
        let (addr, server) = fake_server(answer.to_vec());
        let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin"]);
        server.join().unwrap();
        assert_eq!(code, Some(1), "{answer:?}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(files_in(out.path()).is_empty(), "{answer:?}");
    }
}

#[test]
fn resumes_against_the_real_server() -> Result<(), Failure> {
    let dir = served();
    let big = pattern(3 << 20);
    fs::write(dir.path().join("root/big.bin"), &big).unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, dir.path(), &[])?;
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("big.bin.part"), &big[..1_000_000]).unwrap();
    fs::write(
        out.path().join("big.bin.part.version"),
        version_of(&dir.path().join("root/big.bin")),
    )
    .unwrap();
    let (code, _, stderr) = client(out.path(), addr, &["get", "big.bin", "--continue"]);
    assert_eq!(code, Some(0), "{stderr}");
    s.expect(p, "from offset 1000000")?;
    assert!(fs::read(out.path().join("big.bin")).unwrap() == big);
    assert_eq!(files_in(out.path()), ["big.bin"]);
    Ok(())
}

#[test]
fn lists_names_and_sizes() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &[])?;
    let (code, stdout, stderr) = client(tempfile::tempdir().unwrap().path(), addr, &["list"]);
    assert_eq!(code, Some(0), "{stderr}");
    // In the order the directory gives them.
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, ["14 hello.txt", "256 all-bytes.bin"]);
    assert!(stderr.is_empty(), "{stderr}");
    Ok(())
}

#[test]
fn the_seed_protocol_works_and_cannot_tell_missing_from_empty() -> Result<(), Failure> {
    let dir = served();
    fs::write(dir.path().join("root/empty.txt"), "").unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, dir.path(), &["--protocol", "seed"])?;
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = client(
        out.path(),
        addr,
        &["get", "hello.txt", "--protocol", "seed"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("no size was sent"), "{stdout}");
    assert_eq!(
        fs::read_to_string(out.path().join("hello.txt")).unwrap(),
        "你好, file!\n"
    );
    for name in ["missing.txt", "empty.txt", "../secret.txt"] {
        let (code, _, stderr) = client(
            out.path(),
            addr,
            &["get", name, "--protocol", "seed", "-o", "y"],
        );
        assert_eq!(code, Some(1), "{name}");
        assert!(
            stderr.contains("a missing file and an empty one look the same"),
            "{stderr}"
        );
    }
    s.expect(p, "refused")?;
    assert_eq!(files_in(out.path()), ["hello.txt"]);
    Ok(())
}

/// Sends `request` and returns what the server answers within `wait`.
fn raw_within(addr: SocketAddr, request: &[u8], wait: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// Swaps two names in `dir` again and again (renameat2 RENAME_EXCHANGE) until dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<u64>>,
}

impl Swapper {
    fn start(dir: &Path, a: &str, b: &str) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let (a, b) = (dir.join(a), dir.join(b));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut swaps = 0;
            while !flag.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &a,
                    rustix::fs::CWD,
                    &b,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        });
        Swapper {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Issue 10, item 1: a link to a file outside the root is swapped with a file inside while
/// requests run. A server that checks a name, then opens it again, sends the outside file.
#[test]
fn a_link_swapped_in_during_requests_never_leaks_the_outside_file() -> Result<(), Failure> {
    let dir = served();
    let root = dir.path().join("root");
    symlink(dir.path().join("secret.txt"), root.join("swap")).unwrap();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &[])?;
    let swapper = Swapper::start(&root, "hello.txt", "swap");
    let (mut inside, mut leaked) = (0, 0);
    let started = Instant::now();
    for _ in 0..2000 {
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        let answer = raw(addr, b"GET 0 - hello.txt\n");
        if answer.ends_with(b"outside the root\n") {
            leaked += 1;
        } else if answer.starts_with(b"OK ") {
            inside += 1;
        }
    }
    let swaps = swapper.stop();
    assert_eq!(
        leaked, 0,
        "the outside file was sent ({inside} inside, {swaps} swaps)"
    );
    assert!(inside > 0, "the inside file was never sent");
    Ok(())
}

/// Issue 10, item 2: a FIFO swapped in between a check and an open makes `open` wait for a
/// writer for ever; two of those, and a server of two places answers everyone "busy".
#[test]
fn a_fifo_swapped_in_never_holds_a_place() -> Result<(), Failure> {
    let dir = served();
    let root = dir.path().join("root");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("swap"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        0,
    )
    .unwrap();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &["--max-clients", "2"])?;
    let swapper = Swapper::start(&root, "hello.txt", "swap");
    let started = Instant::now();
    for i in 0..1000 {
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        let answer = raw_within(addr, b"GET 0 - hello.txt\n", Duration::from_secs(5));
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("OK ") || answer == "ERR not a regular file\n",
            "request {i}: {answer:?}"
        );
    }
    swapper.stop();
    Ok(())
}

/// Issue 10, item 3: a request sent one byte at a time, each byte well within --timeout, must
/// still be whole within --timeout.
#[test]
fn a_request_trickled_byte_by_byte_is_cut_at_the_timeout() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (p, addr) = serve(
        &mut s,
        dir.path(),
        &["--request-timeout", "1", "--max-clients", "1"],
    )?;
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // 18 bytes, one every 0.25 s: every read is quick, the whole request takes 4.5 s.
    for byte in b"GET 0 - hello.txt\n" {
        if slow.write_all(&[*byte]).is_err() {
            break; // The server has closed: the attack is over.
        }
        thread::sleep(Duration::from_millis(250));
    }
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    s.expect(p, "timed out: no complete request within --request-timeout")?;
    Ok(())
}

/// Issue 10, item 3: a client that asks for a large file and reads nothing is dropped after
/// --timeout without progress, and its place is free again.
#[test]
fn a_client_that_stops_reading_is_dropped() -> Result<(), Failure> {
    let dir = served();
    fs::write(dir.path().join("root/big.bin"), pattern(64 << 20)).unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(
        &mut s,
        dir.path(),
        &["--timeout", "0.5", "--max-clients", "1"],
    )?;
    let mut sleeper = TcpStream::connect(addr).unwrap();
    sleeper.write_all(b"GET 0 - big.bin\n").unwrap();
    s.expect(
        p,
        "stalled: nothing could be sent to it for --timeout; dropping it",
    )?;
    // Dropped with a reset (SO_LINGER 0): the client reads what its own receive buffer holds,
    // then ECONNRESET, at once. After a plain close it would get the server's send buffer as
    // well, and then the FIN: an end that looks like a whole file.
    let read_started = Instant::now();
    let mut got = Vec::new();
    let read = sleeper.read_to_end(&mut got);
    assert!(
        matches!(&read, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "{read:?} after {} bytes",
        got.len()
    );
    assert!(read_started.elapsed() < Duration::from_secs(2));
    // The thread frees its place just after it prints that line: the next client may come a
    // moment too early and be told busy, so it tries for up to 5 s.
    let started = Instant::now();
    let (code, stderr) = loop {
        let (code, _, stderr) = client(tempfile::tempdir().unwrap().path(), addr, &["list"]);
        if code == Some(0) || started.elapsed() > Duration::from_secs(5) {
            break (code, stderr);
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "{stderr}");
    drop(sleeper);
    Ok(())
}

/// Issue 10, item 4: a listing stops at 1000 files and says so; it is sent as the directory
/// is read, not built whole first.
#[test]
fn a_huge_directory_is_listed_up_to_the_cap_and_the_reply_says_so() -> Result<(), Failure> {
    let dir = served();
    for i in 0..1100 {
        fs::write(dir.path().join(format!("root/f{i:04}")), "x").unwrap();
    }
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, dir.path(), &[])?;
    let (code, stdout, stderr) = client(tempfile::tempdir().unwrap().path(), addr, &["list"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 1000);
    assert_eq!(
        stderr,
        "note: the server stopped at 1000 files or 10000 entries, the most one listing shows or looks at\n"
    );
    s.expect(p, "listed 1000 files for 127.0.0.1:")?;
    Ok(())
}

/// Issue 10, item 5: the `.part` holds the start of an older version of the file. Resuming
/// it would give the old start and the new end, and exit 0.
#[test]
fn a_part_of_an_older_version_is_never_finished_with_the_new_one() -> Result<(), Failure> {
    let old = pattern(100);
    let new: Vec<u8> = old.iter().map(|b| b ^ 0xff).collect();
    let out = tempfile::tempdir().unwrap();
    // An earlier download of the old version was cut after 40 bytes (a version file that
    // names no server: the real server is on another port than this test could give it).
    fs::write(out.path().join("data.bin.part"), &old[..40]).unwrap();
    fs::write(
        out.path().join("data.bin.part.version"),
        "100-1.000000000\n",
    )
    .unwrap();
    // The file has changed on the server since: same name, same size, new bytes.
    let dir = served();
    fs::write(dir.path().join("root/data.bin"), &new).unwrap();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, dir.path(), &[])?;
    let (code, stdout, stderr) = client(out.path(), addr, &["get", "data.bin", "--continue"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(
            "the file changed on the server since data.bin.part was written: starting over"
        ),
        "{stdout}"
    );
    s.expect(p, "at version 100-1.000000000, now ")?;
    assert!(
        fs::read(out.path().join("data.bin")).unwrap() == new,
        "a mixed file"
    );
    assert_eq!(files_in(out.path()), ["data.bin"]);

    // A .part with no version beside it cannot be checked: all of it again, and said.
    fs::write(out.path().join("hello.txt.part"), "garbage").unwrap();
    let (code, stdout, stderr) = client(out.path(), addr, &["get", "hello.txt", "--continue"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("has no version beside it"), "{stdout}");
    assert_eq!(
        fs::read_to_string(out.path().join("hello.txt")).unwrap(),
        "你好, file!\n"
    );
    Ok(())
}

/// Issue 10, item 6: someone else put `NAME.part` there as a link to a file of yours.
#[test]
fn a_planted_part_link_is_never_written_through() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &[])?;
    let home = tempfile::tempdir().unwrap();
    let victim = home.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let out = tempfile::tempdir().unwrap();
    symlink(&victim, out.path().join("hello.txt.part")).unwrap();
    symlink(&victim, out.path().join("hello.txt.part.version")).unwrap();
    for args in [
        &["get", "hello.txt"][..],
        &["get", "hello.txt", "--continue"],
    ] {
        let (code, _, stderr) = client(out.path(), addr, args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(
            stderr.contains("hello.txt.part is a symbolic link: refusing to write through it"),
            "{stderr}"
        );
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    }
    // --force removes the links, not what they point to.
    let (code, _, stderr) = client(out.path(), addr, &["get", "hello.txt", "--force"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(files_in(out.path()), ["hello.txt"]);
    Ok(())
}

/// Issue 10, item 7: a lying server announces 2^64 - 1 bytes. Nothing is written.
#[test]
fn a_size_larger_than_the_free_space_is_refused_before_writing() {
    let out = tempfile::tempdir().unwrap();
    let mut lie = format!("OK {} 0 v\n", u64::MAX).into_bytes();
    lie.extend_from_slice(&pattern(1 << 20));
    let (addr, fake) = fake_server(lie);
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin"]);
    fake.join().unwrap();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("would not fit"), "{stderr}");
    assert!(stderr.contains("\nhint: free some space, or download elsewhere with -o PATH"));
    assert!(files_in(out.path()).is_empty());
}

#[test]
fn never_writes_past_the_announced_size() {
    let out = tempfile::tempdir().unwrap();
    let body = pattern(30);
    let mut more = b"OK 10 0 v\n".to_vec();
    more.extend_from_slice(&body);
    let (addr, fake) = fake_server(more);
    let (code, _, stderr) = client(out.path(), addr, &["get", "x.bin"]);
    fake.join().unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(fs::read(out.path().join("x.bin")).unwrap(), &body[..10]);
}

/// Issue 10, item 8: an earlier download's `.part` is not thrown away without a word.
#[test]
fn an_existing_part_is_told_about_not_discarded() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &[])?;
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("hello.txt.part"), vec![b'x'; 1000]).unwrap();
    let (code, _, stderr) = client(out.path(), addr, &["get", "hello.txt"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: hello.txt.part holds 1000 bytes from an earlier download\n\
         hint: --continue resumes it; --force discards it and starts over\n"
    );
    assert_eq!(
        fs::read(out.path().join("hello.txt.part")).unwrap().len(),
        1000
    );
    let (code, stdout, stderr) = client(out.path(), addr, &["get", "hello.txt", "--force"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with("discarding hello.txt.part (1000 bytes)\n"),
        "{stdout}"
    );
    assert_eq!(files_in(out.path()), ["hello.txt"]);
    Ok(())
}

/// Issue 11: a client names its server with --to, and its own end with --bind and --port.
#[test]
fn the_client_names_its_server_with_to_and_its_own_end_with_bind_and_port() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (p, addr) = serve(&mut s, dir.path(), &[])?;
    let out = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port = port.to_string();
    let (code, _, stderr) = client(
        out.path(),
        addr,
        &["get", "hello.txt", "--bind", "127.0.0.1", "--port", &port],
    );
    assert_eq!(code, Some(0), "{stderr}");
    s.expect(
        p,
        &format!("sent \"hello.txt\" to 127.0.0.1:{port}: 14 bytes"),
    )?;

    let old = bin()
        .args(["list", "--server", &addr.to_string()])
        .output()
        .unwrap();
    assert_eq!(old.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&old.stderr).contains("unexpected argument '--server'"));
    Ok(())
}

#[test]
fn a_local_port_in_use_gets_a_hint_that_names_port() -> Result<(), Failure> {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = served();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &[])?;
    let (code, _, stderr) = client(
        tempfile::tempdir().unwrap().path(),
        addr,
        &["list", "--bind", "127.0.0.1", "--port", &port],
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(&format!("error: cannot bind 127.0.0.1:{port} (tcp): ")),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "\nhint: another program, or an earlier run, holds this port: pick another with --port"
        ),
        "{stderr}"
    );
    let busy = bin()
        .args(["serve", "--port", &port])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert_eq!(busy.status.code(), Some(1));
    assert!(
        stderr.contains("pick another with --port") && stderr.contains("TIME_WAIT"),
        "{stderr}"
    );
    Ok(())
}

/// --timeout is how long to wait for the server: here, one that never answers.
#[test]
fn get_gives_up_on_a_silent_server_after_its_timeout() {
    // The kernel completes the handshake for a listener that never accepts.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = Instant::now();
    let out = bin()
        .args(["get", "x", "--to", &addr.to_string(), "--timeout", "0.5"])
        .current_dir(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: no whole answer from the server within --timeout"),
        "{stderr}"
    );
    assert!(stderr.contains("\nhint: no answer in time"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Issue 11, item 7: the framed client against a seed server is told which flag it needs.
#[test]
fn a_framed_get_against_a_seed_server_names_the_flag() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_, addr) = serve(&mut s, dir.path(), &["--protocol", "seed"])?;
    let out = tempfile::tempdir().unwrap();
    let (code, _, stderr) = client(out.path(), addr, &["get", "hello.txt"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: the server closed the connection without answering\n\
         hint: a server started with `serve --protocol seed` answers only `get --protocol seed`\n"
    );
    assert!(files_in(out.path()).is_empty());
    Ok(())
}

#[test]
fn help_says_what_each_flag_means() {
    let help = |args: &[&str]| {
        let out = bin().args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).replace('\n', " ")
    };
    let serve = help(&["serve", "--help"]);
    for words in [
        "--bind <ADDR>",
        "--port <N>",
        "to send its whole request line",
        "may make no progress",
        "--max-per-address <N>",
        "--min-rate <BYTES>",
    ] {
        assert!(serve.contains(words), "{words}: {serve}");
    }
    for sub in ["get", "list"] {
        let text = help(&[sub, "--help"]);
        for words in [
            "--to <HOST[:PORT]>",
            "--bind <ADDR>",
            "--port <N>",
            "How long to wait for the server",
        ] {
            assert!(text.contains(words), "{sub} {words}: {text}");
        }
    }
}
