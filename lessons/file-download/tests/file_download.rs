//! file-download as users run it: the real `serve`, `get` and `list` on loopback, port 0,
//! in temporary directories, plus raw clients and fake servers that misbehave on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use tempfile::TempDir;
use testkit::{Failure, Proc, Scene, Stream};

/// Bytes that differ everywhere, so that a shifted or repeated piece cannot go unnoticed.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

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
        .args(["--server", &addr.to_string(), "--timeout", "10"])
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
    #[cfg(unix)]
    std::os::unix::fs::symlink(
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
        ("link.txt", "the name leads outside the served directory"),
        ("sub", "not a regular file"),
    ] {
        let (code, _, stderr) = client(out.path(), addr, &["get", name, "-o", "x"]);
        assert_eq!(code, Some(1), "{name}");
        assert!(stderr.contains(reason), "{name}: {stderr}");
        s.expect(p, "refused")?;
    }
    for request in [
        &b"GET 0 a\0b\n"[..],
        b"GET 0 \x1b[2Jx\n",
        b"GET 0 \xff\xfe\n",
        b"PUT 0 x\n",
        b"GET -5 hello.txt\n",
        b"GET 99 hello.txt\n",
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
        &["--timeout", "0.3", "--max-clients", "1"],
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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        (&stream).write_all(&answer).unwrap();
        line
    });
    (addr, handle)
}

#[test]
fn a_cut_transfer_leaves_only_the_part_file_and_continue_finishes_it() {
    let body = pattern(100);
    let out = tempfile::tempdir().unwrap();
    // The server announces 100 bytes, sends 40, and closes.
    let mut cut = b"OK 100 0\n".to_vec();
    cut.extend_from_slice(&body[..40]);
    let (addr, server) = fake_server(cut);
    let (code, _, stderr) = client(out.path(), addr, &["get", "data.bin"]);
    assert_eq!(server.join().unwrap(), "GET 0 data.bin\n");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cut short at 40 of 100 bytes"), "{stderr}");
    assert!(stderr.contains("--continue"), "{stderr}");
    assert_eq!(
        files_in(out.path()),
        ["data.bin.part"],
        "never a complete-looking file"
    );
    // Resume: the client asks from byte 40, and gets the rest.
    let mut rest = b"OK 100 40\n".to_vec();
    rest.extend_from_slice(&body[40..]);
    let (addr, server) = fake_server(rest);
    let (code, stdout, stderr) = client(out.path(), addr, &["get", "data.bin", "--continue"]);
    assert_eq!(server.join().unwrap(), "GET 40 data.bin\n");
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
    let (code, stdout, _) = client(tempfile::tempdir().unwrap().path(), addr, &["list"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, "256 all-bytes.bin\n14 hello.txt\n");
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
