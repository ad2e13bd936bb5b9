//! http-server against clients nobody here wrote (curl, Python's http.client, ureq, headless
//! Chromium) and against raw sockets that misbehave on purpose. Loopback, port 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use testkit::echo::holding;
use testkit::{Failure, Proc, Scene, pattern};

/// A served directory: a text file, a binary file, a page, a subdirectory without an
/// index, a hostile name, and a secret next to the root.
fn served() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("sub dir")).unwrap();
    fs::create_dir_all(root.join("site")).unwrap();
    fs::write(root.join("hello.txt"), "你好, http!\n").unwrap();
    fs::write(root.join("data.bin"), pattern(3_000_000)).unwrap();
    fs::write(root.join("sub dir/inner.txt"), "inner\n").unwrap();
    fs::write(root.join("sub dir/<b>&bold.txt"), "x").unwrap();
    fs::write(
        root.join("site/index.html"),
        "<!DOCTYPE html><html><head><title>t</title><script>\
         document.addEventListener('DOMContentLoaded', () => \
         { document.getElementById('js').textContent = 'ran'; });</script></head>\
         <body><p id=\"js\">not run</p><img src=\"pic.png\"></body></html>\n",
    )
    .unwrap();
    fs::write(root.join("site/pic.png"), pattern(100)).unwrap();
    fs::write(dir.path().join("secret.txt"), "outside the root\n").unwrap();
    dir
}

fn start(s: &mut Scene, dir: &Path, args: &[&str]) -> Result<(Proc, SocketAddr), Failure> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_http-server"));
    cmd.arg("--root")
        .arg(dir.join("root"))
        .args(["--port", "0"])
        .args(args);
    let (p, addr) = s.start("server", cmd)?;
    s.expect(p, "serving the files under")?;
    Ok((p, addr))
}

/// One response: the status line, the headers (names lower-cased) and the body, framed by
/// Content-Length (or read to the end, for a HEAD pass `head` = true).
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn read_response(r: &mut impl BufRead, head: bool) -> Response {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(": ").unwrap();
        headers.push((n.to_ascii_lowercase(), v.to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let len: usize = match response.header("content-length") {
        Some(len) if !head && status != 304 => len.parse().unwrap(),
        _ => 0,
    };
    response.body = vec![0; len];
    r.read_exact(&mut response.body).unwrap();
    response
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends `request` on a new connection and reads one response.
fn ask(addr: SocketAddr, request: &str) -> Response {
    let mut stream = connect(addr);
    stream.write_all(request.as_bytes()).unwrap();
    read_response(&mut BufReader::new(stream), request.starts_with("HEAD"))
}

/// Whether the server closed `stream` (a read gives 0 or a reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn curl(args: &[&str], cwd: &Path) -> (bool, Vec<u8>, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_gets_heads_ranges_and_resumes() -> Result<(), Failure> {
    if !have("curl") {
        eprintln!("SKIPPED: curl is not installed (apt-get install curl)");
        return Ok(());
    }
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    let url = |path: &str| format!("http://{addr}{path}");
    let here = dir.path();
    let data = fs::read(here.join("root/data.bin")).unwrap();

    let (ok, body, err) = curl(&[&url("/hello.txt")], here);
    assert!(ok, "{err}");
    assert_eq!(body, "你好, http!\n".as_bytes());

    let (ok, head, _) = curl(&["-I", &url("/hello.txt")], here);
    let head = String::from_utf8(head).unwrap();
    assert!(ok);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 14\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(head.contains("Accept-Ranges: bytes\r\n"), "{head}");
    s.expect(server, "\"HEAD /hello.txt HTTP/1.1\" 200 0")?;

    let (ok, body, _) = curl(&["-r", "1000-1999", &url("/data.bin")], here);
    assert!(ok);
    assert_eq!(body, &data[1000..2000]);
    s.expect(server, "\"GET /data.bin HTTP/1.1\" 206 1000")?;

    // -C -: curl asks for the rest of what it has, from the file's size on.
    fs::write(here.join("data.bin"), &data[..1_234_567]).unwrap();
    let (ok, _, err) = curl(&["-C", "-", "-O", &url("/data.bin")], here);
    assert!(ok, "{err}");
    assert_eq!(fs::read(here.join("data.bin")).unwrap(), data);
    s.expect(server, &format!("206 {}", data.len() - 1_234_567))?;

    // Two URLs, one connection: one accept, two requests.
    let (ok, body, _) = curl(&[&url("/hello.txt"), &url("/sub%20dir/inner.txt")], here);
    assert!(ok);
    assert_eq!(body, "你好, http!\ninner\n".as_bytes());
    let accepted = s.expect(server, "accepted")?;
    let peer = accepted.trim_start_matches("accepted ").to_string();
    s.expect(server, &format!("{peer} \"GET /hello.txt HTTP/1.1\" 200"))?;
    s.expect(
        server,
        &format!("{peer} \"GET /sub%20dir/inner.txt HTTP/1.1\" 200"),
    )?;
    s.expect(
        server,
        &format!("closed {peer}: the client closed the connection (2 requests)"),
    )?;

    // A missing file is an error to curl -f.
    let (ok, _, err) = curl(&["-f", &url("/missing.txt")], here);
    assert!(!ok && err.contains("404"), "{err}");
    s.kill(server)
}

#[test]
fn python_http_client_sends_hundreds_of_requests_on_one_connection() -> Result<(), Failure> {
    if !have("python3") {
        eprintln!("SKIPPED: python3 is not installed");
        return Ok(());
    }
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &["--quiet"])?;
    let script = format!(
        "import http.client\n\
         c = http.client.HTTPConnection('{}', {}, timeout=10)\n\
         for i in range(500):\n\
         \x20   path = ['/hello.txt', '/sub%20dir/', '/missing', '/site/'][i % 4]\n\
         \x20   c.request('HEAD' if i % 7 == 0 else 'GET', path)\n\
         \x20   r = c.getresponse()\n\
         \x20   r.read()\n\
         \x20   assert r.status == (404 if i % 4 == 2 else 200), (i, r.status)\n\
         \x20   assert not r.will_close, i\n\
         print('ok', i + 1)\n",
        addr.ip(),
        addr.port()
    );
    let py = s.spawn("python", {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", &script]);
        cmd
    })?;
    s.expect(py, "ok 500")?;
    s.wait_success(py)?;
    s.expect(server, "(500 requests)")?;
    s.kill(server)
}

#[test]
fn ureq_fetches_files_ranges_and_errors() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let data = fs::read(dir.path().join("root/data.bin")).unwrap();
    let mut r = agent.get(format!("http://{addr}/data.bin")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.body_mut()
            .with_config()
            .limit(10_000_000)
            .read_to_vec()
            .unwrap(),
        data
    );
    let mut r = agent
        .get(format!("http://{addr}/data.bin"))
        .header("Range", "bytes=-10")
        .call()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.body_mut().read_to_vec().unwrap(),
        &data[data.len() - 10..]
    );
    let r = agent.get(format!("http://{addr}/nope.txt")).call().unwrap();
    assert_eq!(r.status(), 404);
    s.kill(server)
}

#[test]
fn headless_chromium_loads_a_page_and_a_listing() -> Result<(), Failure> {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| have(c))
    else {
        eprintln!("SKIPPED: no chromium to run (apt-get install chromium)");
        return Ok(());
    };
    let dir = served();
    let mut s = Scene::new().timeout(Duration::from_secs(60));
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    let profile = dir.path().join("profile");
    let dump = |path: &str| {
        let out = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--dump-dom", &format!("http://{addr}{path}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let page = dump("/site/");
    assert!(page.contains("<p id=\"js\">ran</p>"), "{page}");
    s.expect(server, "\"GET /site/pic.png HTTP/1.1\" 200 100")?;
    let listing = dump("/sub%20dir/");
    assert!(listing.contains(">inner.txt</a> 6 bytes"), "{listing}");
    assert!(listing.contains("&lt;b&gt;&amp;bold.txt"), "{listing}");
    s.kill(server)
}

#[test]
fn conditional_requests_and_ranges_follow_the_version() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    let meta = fs::metadata(dir.path().join("root/hello.txt")).unwrap();
    let etag = format!(
        "\"{}-{}.{:09}\"",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    let get = |extra: &str| {
        ask(
            addr,
            &format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"),
        )
    };
    let r = get("");
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let last_modified = r.header("last-modified").unwrap().to_string();
    let r = get(&format!("If-None-Match: \"other\", {etag}\r\n"));
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(get("If-None-Match: \"other\"\r\n").status, 200);
    let r = get(&format!("Range: bytes=8-\r\nIf-Range: {etag}\r\n"));
    assert_eq!(
        (r.status, r.header("content-range")),
        (206, Some("bytes 8-13/14"))
    );
    assert_eq!(r.body, "http!\n".as_bytes());
    let r = get(&format!("Range: bytes=8-\r\nIf-Range: {last_modified}\r\n"));
    assert_eq!(r.status, 206);
    // The client's part is of another version: all of the file instead.
    let r = get("Range: bytes=8-\r\nIf-Range: \"14-1.000000000\"\r\n");
    assert_eq!((r.status, r.body.len()), (200, 14));
    let r = get("Range: bytes=14-\r\n");
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, Some("bytes */14"))
    );
    // Several ranges are not served as parts here: the whole file.
    assert_eq!(get("Range: bytes=0-1,3-4\r\n").status, 200);
    s.kill(server)
}

#[test]
fn pipelined_requests_are_answered_in_order_and_close_is_honoured() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    let mut stream = connect(addr);
    // Three requests in one write, one with a body that must be skipped, then a close.
    stream
        .write_all(
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /missing HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
              HEAD /sub%20dir/inner.txt HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /sub%20dir/inner.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let got: Vec<(u16, Vec<u8>)> = [false, false, true, false]
        .into_iter()
        .map(|head| {
            let resp = read_response(&mut r, head);
            (resp.status, resp.body)
        })
        .collect();
    assert_eq!(got[0], (200, "你好, http!\n".as_bytes().to_vec()));
    assert_eq!(got[1].0, 404);
    assert_eq!(got[2], (200, vec![]));
    assert_eq!(got[3], (200, b"inner\n".to_vec()));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "after Connection: close the server closes");
    s.expect(server, "the client asked to close (4 requests)")?;

    // HTTP/1.0 closes unless asked to keep the connection.
    let mut stream = connect(addr);
    stream
        .write_all(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(stream);
    assert_eq!(read_response(&mut r, false).status, 200);
    assert!(closed_within(r.get_mut(), Duration::from_secs(5)));
    s.kill(server)
}

#[test]
fn malformed_and_oversized_requests_are_answered_4xx_and_survived() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let many = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        "X-A: b\r\n".repeat(200)
    );
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "b".repeat(20_000)
    );
    for (request, status) in [
        ("GARBAGE\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (long_target.as_str(), 414),
        (many.as_str(), 431),
        (huge.as_str(), 431),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n",
            400,
        ),
    ] {
        let r = ask(addr, request);
        assert_eq!(r.status, status, "{:?}", &request[..request.len().min(40)]);
        assert_eq!(r.header("connection"), Some("close"));
    }
    let r = ask(addr, "POST /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    s.expect(server, "bad request from")?;
    // And the server still serves.
    let r = ask(addr, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    s.kill(server)
}

#[test]
fn traversal_plain_or_encoded_is_refused() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    for (target, status) in [
        ("/../secret.txt", 403),
        ("/%2e%2e/secret.txt", 403),
        ("/sub%20dir/%2E%2E/%2e%2e/secret.txt", 403),
        ("/..%2fsecret.txt", 403),
        ("//etc/passwd", 404),
        ("/%2fetc%2fpasswd", 404),
        ("/hello.txt%00.png", 403),
    ] {
        let r = ask(addr, &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(r.status, status, "{target}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("outside"),
            "{target}"
        );
    }
    let r = ask(addr, "GET /sub%20dir HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.header("location")), (301, Some("/sub%20dir/")));
    // An open redirect: `//site/` in a Location is the host `site` to a browser.
    for target in ["//site", "/%2Fsite", "///site"] {
        let r = ask(addr, &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(
            (r.status, r.header("location")),
            (301, Some("/site/")),
            "{target}"
        );
    }
    s.kill(server)
}

#[test]
fn slow_and_idle_connections_are_cut_and_do_not_block_others() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(
        &mut s,
        dir.path(),
        &["--timeout", "1", "--idle-timeout", "2"],
    )?;
    // A browser's preconnect: a connection that sends nothing. Others are served meanwhile.
    let mut idle = connect(addr);
    let started = Instant::now();
    assert_eq!(
        ask(addr, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    // A head that trickles in, a byte at a time, never finishing.
    let mut slow = connect(addr);
    slow.write_all(b"GET /hello.txt HTTP/1.1\r\n").unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(5)));
    assert!(closed_within(&mut idle, Duration::from_secs(5)));
    assert!(started.elapsed() >= Duration::from_secs(2));
    // The slow head is cut a second after it came, the idle connection two seconds after it
    // came: on a loaded machine, where `ask` took over a second, the idle one was told first.
    let cuts = [
        "no complete request within --timeout",
        "no new request within --idle-timeout (0 requests)",
    ];
    s.expect_each(server, &cuts)?;
    s.kill(server)
}

#[test]
fn one_address_cannot_take_every_place() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &["--max-per-address", "2"])?;
    let _a = connect(addr);
    let _b = connect(addr);
    s.expect(server, "accepted")?;
    s.expect(server, "accepted")?;
    let mut third = connect(addr);
    let mut answer = String::new();
    third.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    s.expect(server, "this address already has 2 connections")?;
    drop(_a);
    s.expect(server, "closed")?;
    assert_eq!(ask(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    s.kill(server)
}

/// A keep-alive connection from `source` (a loopback address) that has had one answer.
fn kept_alive(addr: SocketAddr, source: &str) -> BufReader<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream = TcpStream::from(socket);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(stream);
    assert_eq!(read_response(&mut r, false).status, 200);
    r
}

/// Waits (10 s at most) until `n` of the server's threads sleep in a socket read
/// (`wait_woken` in `/proc/PID/task/*/wchan`): each has marked its place as waiting, idle
/// or for a head, before that read. A client that has read its answer may be ahead of the
/// server's thread, which still has to log it and come back to read: a newcomer arriving
/// then found no idle place, and the head in progress was closed instead (seen once in CI).
fn wait_for_readers(s: &Scene, server: Proc, n: usize) -> Result<(), Failure> {
    let pid = s
        .pid(server)
        .ok_or_else(|| s.fail("the server has no pid"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reading = fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|task| {
                fs::read_to_string(task.path().join("wchan")).is_ok_and(|w| w == "wait_woken")
            })
            .count();
        if reading >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(s.fail(format!("{reading} of the server's threads read, not {n}")));
        }
        std::thread::yield_now();
    }
}

/// Whether the server has closed `stream` (FIN or reset), without waiting.
fn closed_now(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0; 1];
    let closed = match (&*stream).read(&mut buf) {
        Ok(n) => n == 0,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).unwrap();
    closed
}

/// The keep-alive lockout, scaled down: two addresses hold every place with keep-alive
/// connections that each had one answer. A new client is served all the same, because the
/// connection idle longest is closed for it; one in the middle of a request never is.
#[test]
fn idle_keep_alive_connections_make_room_for_a_new_client() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(
        &mut s,
        dir.path(),
        &["--max-clients", "8", "--max-per-address", "4"],
    )?;
    // The oldest connection is in the middle of a request: its head has not ended.
    let mut busy = {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        socket.connect(&addr.into()).unwrap();
        TcpStream::from(socket)
    };
    busy.write_all(b"GET /hello.txt HTTP/1.1\r\n").unwrap();
    s.expect(server, "accepted 127.0.0.2")?;
    let idle: Vec<BufReader<TcpStream>> = ["127.0.0.2"; 3]
        .into_iter()
        .chain(["127.0.0.3"; 4])
        .map(|source| kept_alive(addr, source))
        .collect();
    wait_for_readers(&s, server, 8)?;
    // Every place is taken: a ninth client gets its file.
    let victim = ask(
        addr,
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(victim.status, 200, "the new client was not served");
    s.expect(server, "closed to make room")?;
    // The server's FIN may still be on its way through loopback: look until it is here.
    let deadline = Instant::now() + Duration::from_secs(5);
    let closed = loop {
        let closed: Vec<usize> = (0..idle.len())
            .filter(|&i| closed_now(idle[i].get_ref()))
            .collect();
        if !closed.is_empty() || Instant::now() > deadline {
            break closed;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(closed.len(), 1, "closed to make room: {closed:?}");
    // The connection in the middle of its request was left alone, and is answered.
    busy.write_all(b"Host: x\r\n\r\n").unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_response(&mut BufReader::new(busy), false).status, 200);
    s.kill(server)
}

/// Slowloris after keep-alive: heads that never end hold every place. None is idle, so
/// none was closed, and a new client got 503 until --timeout dropped them (and the attacker
/// came back at once). A head arriving for longer than a second is now closed to make room
/// when no connection is idle.
#[test]
fn heads_that_never_end_make_room_for_a_new_client() -> Result<(), Failure> {
    let head = b"GET /hello.txt HTTP/1.1\r\nX-a: b";
    let why = "its head had been arriving for a second or more";
    four_held_then_a_newcomer(head, None, "slow head", why)
}

/// Answers nobody reads, renewed before --timeout drops them, kept every place: a newcomer got
/// 503 for 69 of 78 tries. When no connection is idle and no head is slow, the answer whose
/// client has taken nothing longest (two seconds at least) is closed to make room.
#[test]
fn answers_nobody_reads_make_room_for_a_new_client() -> Result<(), Failure> {
    // 3 MB: far more than the capped send buffer and the small receive buffer hold.
    let request = b"GET /data.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    let why = "its client had taken nothing of the answer";
    four_held_then_a_newcomer(request, Some(4096), "stalled answer", why)
}

/// Heads that are never slow: two addresses hold every place (two each) with connections
/// that send one byte of a head and are closed and reopened at once, a quarter of a second
/// later, so that none is ever SLOW_HEAD old. A newcomer got 503 for 25 of 26 tries (16 x 16
/// addresses, reopened at 0.5 s). A head from an address holding two places more than the
/// newcomer's is closed for it, however young.
#[test]
fn heads_reopened_before_they_are_slow_still_make_room() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let flags = ["--max-clients", "4", "--max-per-address", "2"];
    let (server, addr) = start(&mut s, dir.path(), &flags)?;
    // Each attacker's connection sends one byte and is reopened a quarter of a second later.
    let served = served_under_attack(
        &mut s,
        (server, addr),
        [2, 2, 3, 3],
        "accepted",
        |last, addr| {
            if let Ok(held) = holding([127, 0, 0, last], addr, None, b"G") {
                std::thread::sleep(Duration::from_millis(250));
                drop(held);
            }
        },
    )?;
    if served < 15 {
        return Err(s.fail(format!("the newcomer was served {served} times in 20")));
    }
    s.expect(
        server,
        "its address held two places more than the newcomer's",
    )?;
    Ok(())
}

/// A new connection whose request is still on its way is not idle: a newcomer arriving a
/// moment after it took its place as the connection "that had waited longest for its next
/// request" (0 requests), and the person's request, sent then, went unanswered.
#[test]
fn a_new_connection_is_not_idle_before_its_first_request() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &["--max-clients", "2"])?;
    let _attacker = holding([127, 0, 0, 2], addr, None, b"G").unwrap();
    s.expect(server, "accepted 127.0.0.2")?;
    let person = holding([127, 0, 0, 3], addr, None, b"").unwrap();
    s.expect(server, "accepted 127.0.0.3")?;
    // Newcomers for a fifth of a second, while the person's request has not left.
    let request = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(20));
        let _ = ask(addr, request);
    }
    answered_200(&mut s, person, request.as_bytes(), "the person's request")
}

/// A head that announces a body and never sends it: the server reads the body to throw it
/// away, and while it did, the connection was neither idle, nor a head arriving, nor an
/// answer: it held its place until --timeout, and sixteen addresses doing it, again at once
/// when dropped, got a newcomer 503 for 58 of 59 tries. A body arriving is now part of its
/// head: slow after SLOW_HEAD. (Here on a connection's second request, whose head came
/// with the first: no wait for it marked the head as arriving.)
#[test]
fn bodies_that_never_come_make_room_for_a_new_client() -> Result<(), Failure> {
    let head = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n\
                 GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n";
    let why = "its head had been arriving for a second or more";
    four_held_then_a_newcomer(head, None, "body that never comes", why)
}

/// Pipelined requests whose answers nobody reads: a part of a file that nearly fills the
/// send buffer, then two thousand HEADs. The writes of their heads waited for room until
/// --timeout, the connection counted as answering, never stalled: sixteen addresses got a
/// newcomer 503 for 54 of 55 tries. A write that waits now counts as a stall.
#[test]
fn answers_blocked_behind_unread_ones_make_room_for_a_new_client() -> Result<(), Failure> {
    let mut requests =
        b"GET /data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-299999\r\n\r\n".to_vec();
    for _ in 0..2000 {
        requests.extend_from_slice(b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    let why = "its client had taken nothing of the answer";
    four_held_then_a_newcomer(&requests, Some(4096), "blocked answer", why)
}

/// Refused requests, each followed by a second of lingering (the server reads and throws
/// away what its client still sends, so that its answer is not destroyed by a reset): four
/// addresses sending a bad head again as soon as the server has closed held every place
/// (sixteen addresses: 49 `503`s in 59 tries). A lingering connection may now go at once.
#[test]
fn refused_requests_lingering_make_room_for_a_new_client() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let flags = ["--max-clients", "4", "--max-per-address", "2"];
    let (server, addr) = start(&mut s, dir.path(), &flags)?;
    let served = served_under_attack(
        &mut s,
        (server, addr),
        [2, 3, 4, 5],
        "bad request from",
        |last, addr| {
            let Ok(mut held) = holding([127, 0, 0, last], addr, None, b"x\r\n\r\n") else {
                return;
            };
            // A byte every 10 ms while the server lingers; once it has closed, a write fails (a
            // reset), and the attacker comes back at once.
            while held.write_all(b"x").is_ok() {
                std::thread::sleep(Duration::from_millis(10));
            }
        },
    )?;
    if served < 15 {
        return Err(s.fail(format!("the newcomer was served {served} times in 20")));
    }
    s.expect(server, "it was closing after a refused request")?;
    Ok(())
}

/// A person's head slow to arrive (a slow link) is not closed for a newcomer from an address
/// that holds as many places: the attacker's own reconnects (sixteen addresses, each
/// connection reopened every half second) closed a person's head that took 1.5 s to arrive 8
/// times in 10. Here the attacker's second connection comes when the person's head is a
/// second old, the server full: it is refused, and the person is answered.
#[test]
fn a_slow_head_is_not_closed_for_a_newcomer_from_an_address_as_rich() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &["--max-clients", "2"])?;
    let person = holding([127, 0, 0, 3], addr, None, b"GET /hello.txt HTTP/1.1\r\n").unwrap();
    s.expect(server, "accepted 127.0.0.3")?;
    std::thread::sleep(SLOW_HEAD);
    let _attacker = holding([127, 0, 0, 2], addr, None, b"G").unwrap();
    s.expect(server, "accepted 127.0.0.2")?;
    let mut second = holding([127, 0, 0, 2], addr, None, b"G").unwrap();
    let mut answer = String::new();
    let _ = second.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let rest = b"Host: x\r\nConnection: close\r\n\r\n";
    answered_200(&mut s, person, rest, "the person's slow request")
}

/// `person` sends `rest` of its request and is answered 200 within 5 s.
fn answered_200(
    s: &mut Scene,
    mut person: TcpStream,
    rest: &[u8],
    what: &str,
) -> Result<(), Failure> {
    person.write_all(rest).unwrap();
    person
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    let _ = person.read_to_string(&mut answer);
    if !answer.starts_with("HTTP/1.1 200") {
        return Err(s.fail(format!("{what} was answered {answer:?}")));
    }
    Ok(())
}

/// Answers read just fast enough: sixteen addresses, sixteen connections each, each reading
/// a large file at 20 KiB/s, above --min-rate, so never stalled and never too slow, held every
/// place (0 answers in 72 tries). Here two addresses hold the four places with answers read
/// at 160 KiB/s: an address holding two places more than the newcomer's gives one up.
#[test]
fn answers_read_just_fast_enough_from_a_rich_address_make_room() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let flags = ["--max-clients", "4", "--min-rate", "1K", "--timeout", "30"];
    let (server, addr) = start(&mut s, dir.path(), &flags)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let request = b"GET /data.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    let readers: Vec<_> = [2, 2, 3, 3]
        .into_iter()
        .map(|last| {
            let reader = holding([127, 0, 0, last], addr, Some(16 * 1024), request).unwrap();
            read_slowly(reader, &stop)
        })
        .collect();
    for _ in 0..4 {
        s.expect(server, "accepted 127.0.0.")?;
    }
    let served = served_within_5_s(addr);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let _ = reader.join();
    }
    if !served {
        return Err(s.fail("503 for 5 s: no answer of a rich address made room"));
    }
    s.expect(
        server,
        "its address held two places more than the newcomer's",
    )?;
    Ok(())
}

/// A classmate on a person's NAT made its address rich: four places, the person's answer
/// first, then three more from the same address, all read at 160 KiB/s. A newcomer from
/// another address takes one of them; the oldest went first, the person's (their download
/// cut within 5 s while the classmate's stayed): now the youngest goes.
#[test]
fn an_answer_from_a_rich_address_goes_youngest_first() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let flags = ["--max-clients", "4", "--min-rate", "1K", "--timeout", "30"];
    let (server, addr) = start(&mut s, dir.path(), &flags)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let request = b"GET /data.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    let (mut readers, mut person) = (Vec::new(), None);
    for _ in 0..4 {
        let mut reader = holding([127, 0, 0, 2], addr, Some(16 * 1024), request).unwrap();
        person = person.or(reader.local_addr().ok());
        s.expect(server, "accepted 127.0.0.2")?;
        // Its answer under way (not a head still arriving, which goes before any answer).
        let _ = reader.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = reader.read(&mut [0; 1024]);
        readers.push(read_slowly(reader, &stop));
    }
    let served = served_within_5_s(addr);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let _ = reader.join();
    }
    if !served {
        return Err(s.fail("503 for 5 s: no answer of a rich address made room"));
    }
    let closed = s.expect(server, "closed to make room")?;
    let person = person.map(|a| format!("closed {a}:"));
    if person.is_some_and(|p| closed.contains(&p)) {
        return Err(s.fail(format!(
            "the oldest answer, the person's, was cut: {closed}"
        )));
    }
    Ok(())
}

/// A newcomer from 127.0.0.1 asks every tenth of a second, for 5 s at most: whether it was
/// served.
fn served_within_5_s(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    let request = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    while Instant::now() < deadline {
        if ask(addr, request).status == 200 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A thread taking `reader`'s answer at 160 KiB/s (8 KiB every 50 ms) until it ends or `stop`
/// is set.
fn read_slowly(
    mut reader: TcpStream,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let stop = std::sync::Arc::clone(stop);
    std::thread::spawn(move || {
        let mut buf = vec![0; 8 * 1024];
        while !stop.load(std::sync::atomic::Ordering::Relaxed)
            && matches!(reader.read(&mut buf), Ok(1..))
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// SLOW_HEAD (1 s), and a little more.
const SLOW_HEAD: Duration = Duration::from_millis(1100);

/// A client taking its answer at a steady pace slower than a third of the send buffer a
/// second (160 KiB/s through a 16 KiB receive buffer) is not stalled. The server learns of
/// its progress only when a wait for room ends, a TICK (1 s) at most, so with STALLED at one
/// TICK a newcomer arriving just then found it idle for 1.0 s and took its place (the
/// attack on file-download's same rule cut a 100 KiB/s download 4 times in 4).
#[test]
fn a_steady_slow_reader_keeps_its_place_against_a_stream_of_newcomers() -> Result<(), Failure> {
    let dir = served();
    fs::write(dir.path().join("root/mid.bin"), pattern(1_500_000)).unwrap();
    let mut s = Scene::new();
    let (server, addr) = start(
        &mut s,
        dir.path(),
        &["--max-clients", "1", "--min-rate", "1K"],
    )?;
    let request = b"GET /mid.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut reader = holding([127, 0, 0, 2], addr, Some(16 * 1024), request).unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    let paced = std::thread::spawn(move || {
        let (mut buf, mut got) = (vec![0; 8 * 1024], 0);
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            got += n;
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = done.send(());
        got
    });
    // Newcomers as fast as they are refused, for the whole download (about 9 s).
    let mut refused = 0;
    while finished.try_recv().is_err() {
        let request = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if ask(addr, request).status == 503 {
            refused += 1;
        }
    }
    let got = paced.join().unwrap();
    if got <= 1_500_000 || refused < 100 {
        return Err(s.fail(format!(
            "the slow reader got {got} bytes of a 1,500,000-byte answer and its head \
             ({refused} newcomers refused)"
        )));
    }
    s.expect(server, "200 1500000")?;
    Ok(())
}

/// Four attackers, from 127.0.0.`lasts`, each doing `attack` on the server's address again
/// and again; once the server has printed `seen` for four of them, a newcomer from 127.0.0.1
/// asks 20 times, every 50 ms. How many times it was served.
fn served_under_attack(
    s: &mut Scene,
    (server, addr): (Proc, SocketAddr),
    lasts: [u8; 4],
    seen: &str,
    attack: impl Fn(u8, SocketAddr) + Send + Sync + 'static,
) -> Result<usize, Failure> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let attack = std::sync::Arc::new(attack);
    let attackers: Vec<_> = lasts
        .into_iter()
        .map(|last| {
            let (stop, attack) = (std::sync::Arc::clone(&stop), std::sync::Arc::clone(&attack));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    attack(last, addr);
                }
            })
        })
        .collect();
    for _ in 0..4 {
        s.expect(server, &format!("{seen} 127.0.0."))?;
    }
    let request = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let served = (0..20)
        .filter(|_| {
            std::thread::sleep(Duration::from_millis(50));
            ask(addr, request).status == 200
        })
        .count();
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        let _ = attacker.join();
    }
    Ok(served)
}

/// Every place of a server with four taken by connections from 127.0.0.2 to 127.0.0.5 that
/// each send `sent` (with a receive buffer of `recv_buffer` bytes, if given) and then
/// nothing: within 5 s (long before --timeout), a new client must be served, one of the four
/// having been closed for it (the server's line says `closed`). One place per address: no
/// address holds two more than the newcomer's, so a young head is never the one closed (with
/// two per address, it was, when the newcomer came before a head had been read whole).
fn four_held_then_a_newcomer(
    sent: &[u8],
    recv_buffer: Option<usize>,
    what: &str,
    closed: &str,
) -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(
        &mut s,
        dir.path(),
        &[
            "--max-clients",
            "4",
            "--max-per-address",
            "2",
            "--timeout",
            "30",
        ],
    )?;
    let _held: Vec<TcpStream> = (2..6)
        .map(|last| holding([127, 0, 0, last], addr, recv_buffer, sent).unwrap())
        .collect();
    for _ in 0..4 {
        s.expect(server, "accepted 127.0.0.")?;
    }
    if !served_within_5_s(addr) {
        return Err(s.fail(format!("503 for 5 s: no {what} made room")));
    }
    s.expect(server, closed)?;
    s.kill(server)
}

/// The slow reader: a client that takes a large file 1 KiB at a time, 20 KiB a second, with a
/// small receive buffer. It makes progress, so no write ever waits for --timeout; it is
/// dropped because it reads slower than --min-rate.
#[test]
fn a_slow_reader_is_dropped_under_min_rate() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &["--timeout", "3", "--min-rate", "1M"])?;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream = TcpStream::from(socket);
    stream
        .write_all(b"GET /data.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    let (mut got, mut buf) = (0, [0; 1024]);
    let closed = loop {
        if started.elapsed() > Duration::from_secs(20) {
            break false;
        }
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("{e}"),
        }
        // The pace of the attack, not a synchronisation: 1 KiB every 50 ms.
        std::thread::sleep(Duration::from_millis(50));
    };
    s.expect(server, "the client read too slowly")?;
    assert!(closed, "still connected after 20 s, {got} bytes read");
    assert!(got < 3_000_000, "the whole file was read: {got} bytes");
    s.kill(server)
}

/// The attack: the server's log is on a full disk (here /dev/full) and a client keeps asking.
/// `println!` panics on the failed write: the server exited with status 101 after 482
/// requests had filled a 64 KiB disk. It now drops the lines, says so once on stderr, and
/// goes on serving.
#[test]
fn a_full_disk_under_the_log_does_not_stop_the_server() {
    let dir = served();
    let (mut server, addr) = testkit::free_port::tcp_server_on_a_free_port(|port| {
        Command::new(env!("CARGO_BIN_EXE_http-server"))
            .args(["--port", &port.to_string()])
            .arg("--root")
            .arg(dir.path())
            .stdout(testkit::full_disk::full())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    });
    for n in 0..50 {
        let answer = ask(
            addr,
            &format!("GET /missing-{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(answer.status, 404);
    }
    let (alive, said) = testkit::full_disk::stop(&mut server);
    assert!(alive, "the server exited: {said}");
    testkit::full_disk::said_once_it_drops_lines(&said);
    assert!(said.contains("No space left on device"), "{said}");
}

/// Out of descriptors: under `ulimit -n 32`, 40 idle connections take every descriptor, and
/// `accept` fails with EMFILE. The newcomer used to wait in the accept queue unanswered (15 s
/// and more, and 155 `accept failed` lines); with a spare descriptor the server accepts it
/// anyway, only to close it: the client learns at once.
#[test]
fn a_client_past_the_descriptor_limit_is_refused_at_once_not_left_hanging() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let mut cmd = testkit::fdlimit::with_limit(32, env!("CARGO_BIN_EXE_http-server"));
    cmd.arg("--root").arg(dir.path().join("root")).args([
        "--port",
        "0",
        "--max-per-address",
        "4096",
    ]);
    let (p, addr) = s.start("server", cmd)?;
    let _held: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();
    let mut last = connect(addr);
    last.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    testkit::fdlimit::newcomer_is_told(&mut s, p, last)
}

/// Reads `stream` to its end or its first error: the bytes, and whether it ended cleanly.
fn read_all(stream: &mut TcpStream) -> (usize, bool) {
    let (mut got, mut buf) = (0, vec![0; 64 * 1024]);
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got += n,
            Err(_) => return (got, false),
        }
    }
}

/// `curl --limit-rate 500K` reads in bursts: several MB at once, then nothing for as long as
/// they last at its rate (14 s), and the server cut it at --timeout, 3 downloads in 3. Here a
/// client takes 1 MiB at once, then nothing for 5 s, past a --timeout of 2 s: what it took
/// pays for the pause at --min-rate, so it gets the whole file.
#[test]
fn a_pause_paid_for_at_min_rate_is_not_cut_at_timeout() -> Result<(), Failure> {
    let dir = served();
    let big = fs::File::create(dir.path().join("root/big.bin")).unwrap();
    big.set_len(16 << 20).unwrap();
    let mut s = Scene::new();
    let flags = ["--timeout", "2", "--min-rate", "16K"];
    let (server, addr) = start(&mut s, dir.path(), &flags)?;
    let request = b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut client = holding([127, 0, 0, 2], addr, Some(64 * 1024), request).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut first = vec![0; 1 << 20];
    client.read_exact(&mut first).unwrap();
    // The pace of the client, not a synchronisation: a burst's worth of nothing.
    std::thread::sleep(Duration::from_secs(5));
    let (rest, clean) = read_all(&mut client);
    if !clean || first.len() + rest < 16 << 20 {
        return Err(s.fail(format!(
            "cut after {} bytes of 16 MiB and a 5 s pause",
            first.len() + rest
        )));
    }
    s.expect(server, "the client asked to close")?;
    Ok(())
}

/// The same bursts, seen by the places: `curl --limit-rate 2M` takes nothing for 3 to 5 s
/// between bursts, and STALLED alone (2 s) made it a stalled answer, closed for a newcomer
/// from any poorer address (a download cut at 29.7 s). Here a person takes an answer at 160
/// KiB/s for 6 s, then nothing for 3 s, while newcomers ask again and again: a pause shorter
/// than half the answer's time is no stall, and the download comes whole.
#[test]
fn a_pause_late_in_a_download_is_not_closed_for_a_newcomer() -> Result<(), Failure> {
    let dir = served();
    let big = fs::File::create(dir.path().join("root/big.bin")).unwrap();
    big.set_len(4 << 20).unwrap();
    let mut s = Scene::new();
    let flags = ["--max-clients", "2", "--min-rate", "1K", "--timeout", "30"];
    let (server, addr) = start(&mut s, dir.path(), &flags)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let data = b"GET /data.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    let other = holding([127, 0, 0, 3], addr, Some(16 * 1024), data).unwrap();
    let other = read_slowly(other, &stop);
    let request = b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut person = holding([127, 0, 0, 2], addr, Some(16 * 1024), request).unwrap();
    person
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let newcomers = std::thread::spawn({
        let stop = std::sync::Arc::clone(&stop);
        move || {
            let ask_ = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ask(addr, ask_);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    // The person's pace: 8 KiB every 50 ms for 6 s, then nothing for 3 s, then the rest.
    let (started, mut got, mut buf) = (Instant::now(), 0, vec![0; 8 * 1024]);
    while started.elapsed() < Duration::from_secs(6) {
        match person.read(&mut buf) {
            Ok(n @ 1..) => got += n,
            _ => break,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    let (rest, clean) = read_all(&mut person);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = (newcomers.join(), other.join());
    if !clean || got + rest < 4 << 20 {
        return Err(s.fail(format!(
            "the person's download was cut after {} bytes of 4 MiB",
            got + rest
        )));
    }
    s.expect(server, "200 4194304")?;
    Ok(())
}

/// A request refused after a HEAD on the same connection: its 400 said `Content-Length: 49`
/// and sent no body (the HEAD's "no body" stuck), so the client waited for 49 bytes that
/// never came. nginx sends it.
#[test]
fn a_refusal_after_a_head_has_its_body() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_server, addr) = start(&mut s, dir.path(), &[])?;
    let mut stream = connect(addr);
    stream
        .write_all(b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nx\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(stream);
    assert_eq!(read_response(&mut r, true).status, 200);
    let mut line = String::new();
    let mut head = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
        head += &line;
        line.clear();
    }
    let mut body = String::new();
    let _ = r.read_to_string(&mut body);
    if !head.starts_with("HTTP/1.1 400") || !body.starts_with("400 Bad Request") {
        return Err(s.fail(format!("after a HEAD: {head:?} and body {body:?}")));
    }
    Ok(())
}

/// A client refused (503) that connects again at once, as fast as it can: 58,646 refusals in
/// 5 s, each a line of the log, --quiet or not (5.8 MB). A refusal counts as a connection in
/// its address's share of the log (common::connlog): 256 at once, then two a second.
#[test]
fn a_client_refused_again_and_again_does_not_flood_the_log() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let flags = ["--max-per-address", "1", "--quiet"];
    let (server, addr) = start(&mut s, dir.path(), &flags)?;
    let _held = kept_alive(addr, "127.0.0.2");
    let started = Instant::now();
    for _ in 0..1_000 {
        let mut again = holding([127, 0, 0, 2], addr, None, b"").unwrap();
        let _ = read_all(&mut again);
    }
    // Lines come out in order: once this one is seen, every refusal's line has been.
    let _last = kept_alive(addr, "127.0.0.3");
    s.expect(server, "accepted 127.0.0.3")?;
    let seconds = started.elapsed().as_secs() as usize + 1;
    let told = s
        .output(server, testkit::Stream::Stdout)
        .iter()
        .filter(|line| line.starts_with("refused 127.0.0.2"))
        .count();
    if told > 256 + 2 * seconds {
        let why = format!("{told} lines for 1000 refusals of one address in {seconds} s");
        return Err(s.fail(why));
    }
    Ok(())
}

/// Connect and close, in a loop: each connection was two lines of log (`accepted`, `closed`),
/// though it asked nothing, 2.1 MB of log in 5 s; three with a bad request (`x`, then an
/// empty line). One address's connections are told 256 at once, then two a second
/// (common::connlog), each with all its lines; the others are counted.
#[test]
fn connecting_and_closing_cannot_fill_the_log() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &["--max-per-address", "4096"])?;
    let started = Instant::now();
    for n in 0..2_000 {
        let sent: &[u8] = if n % 2 == 0 { b"" } else { b"x\r\n\r\n" };
        drop(holding([127, 0, 0, 2], addr, None, sent).unwrap());
    }
    // Lines come out in order: once this one is seen, every earlier `accepted` has been.
    let _last = kept_alive(addr, "127.0.0.3");
    s.expect(server, "accepted 127.0.0.3")?;
    let seconds = started.elapsed().as_secs() as usize + 1;
    let lines = s.output(server, testkit::Stream::Stdout);
    let count = |start: &str| lines.iter().filter(|l| l.starts_with(start)).count();
    let (told, bad) = (
        count("accepted 127.0.0.2"),
        count("bad request from 127.0.0.2"),
    );
    if told.max(bad) > 256 + 2 * seconds {
        let why = format!("{told} of 2000 connections told in {seconds} s, {bad} bad requests");
        return Err(s.fail(why));
    }
    Ok(())
}

/// With stdout a pipe nobody reads (a terminal paused with Ctrl-S, `http-server | slow`), the
/// log must not stop the server: each thread wrote its lines at once, and once the pipe was
/// full the 481st request got no answer in 5 s (threads stuck in `write(1)`, the accept loop
/// behind them). The lines now go through `common::log`'s queue, which drops what it cannot
/// write.
#[test]
fn a_log_nobody_reads_does_not_stop_the_server() {
    let dir = served();
    let unread = testkit::unread_log::start(
        Command::new(env!("CARGO_BIN_EXE_http-server"))
            .arg("--root")
            .arg(dir.path().join("root"))
            .args(["--port", "0"]),
    );
    let addr = unread.addr;
    // About 150 bytes of log each (accepted, the request, closed): 2000 requests make five
    // pipes' worth. From 20 addresses, 100 each, so that each address's share of the log
    // takes them all (one address would have 100 request lines, under a pipe's worth).
    for i in 0..2000 {
        let from = [127, 0, 1, 10 + (i % 20) as u8];
        let mut stream = testkit::echo::connect_from(from, addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert!(
            answer.starts_with(b"HTTP/1.1 200 "),
            "request {i}: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
}

/// HTTP/1.0 closes after each answer unless the answer says `Connection: keep-alive`. Asked
/// for it and not told, `ab -k` waited for a close at each request, which came at
/// --idle-timeout: 3 requests in 45.3 s (nginx: 0.002 s).
#[test]
fn an_http10_connection_kept_alive_is_told_so() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_server, addr) = start(&mut s, dir.path(), &[])?;
    let mut r = BufReader::new(connect(addr));
    for path in ["/hello.txt", "/missing", "/sub%20dir"] {
        let request = format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        r.get_mut().write_all(request.as_bytes()).unwrap();
        let answer = read_response(&mut r, false);
        if answer.header("connection") != Some("keep-alive") {
            let told = answer.header("connection");
            return Err(s.fail(format!(
                "{path}: {} with Connection {told:?}",
                answer.status
            )));
        }
    }
    Ok(())
}

/// A client that sends more after a request with `Connection: close` (64 KiB of pipelined
/// requests): the server closed with them unread, which sends RST, and the client lost the
/// end of its answer (2.59 to 2.95 MB of a 3 MB file, six runs; nginx: all of it).
#[test]
fn bytes_sent_after_connection_close_do_not_cut_the_answer() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_server, addr) = start(&mut s, dir.path(), &[])?;
    let mut stream = connect(addr);
    let mut requests = b"GET /data.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec();
    requests.extend(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2048));
    stream.write_all(&requests).unwrap();
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        return Err(s.fail(format!("{e} after {} bytes", answer.len())));
    }
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4);
    if body.map(|at| answer.len() - at) != Some(3_000_000) {
        return Err(s.fail(format!("an answer of {} bytes", answer.len())));
    }
    Ok(())
}

/// A file name is text a stranger chose: `abc\u{202e}txt.exe` (a right-to-left override)
/// read `abcexe.txt` in a listing, and `notes\u{200b}.txt` read `notes.txt`. They show as
/// the log shows them now, escaped; the links still lead to the files.
#[test]
fn a_listing_shows_invisible_characters_in_names_escaped() -> Result<(), Failure> {
    let dir = served();
    let sub = dir.path().join("root/sub dir");
    fs::write(sub.join("abc\u{202e}txt.exe"), "x").unwrap();
    fs::write(sub.join("notes\u{200b}.txt"), "y").unwrap();
    let mut s = Scene::new();
    let (_server, addr) = start(&mut s, dir.path(), &[])?;
    let page = ask(addr, "GET /sub%20dir/ HTTP/1.1\r\nHost: x\r\n\r\n").body;
    let page = String::from_utf8(page).unwrap();
    for shown in ["abc\\u{202e}txt.exe</a>", "notes\\u{200b}.txt</a>"] {
        if !page.contains(shown) || page.contains(['\u{202e}', '\u{200b}']) {
            return Err(s.fail(format!("{shown} not in the listing:\n{page}")));
        }
    }
    let file = ask(
        addr,
        "GET /sub%20dir/abc%E2%80%AEtxt.exe HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!((file.status, file.body), (200, b"x".to_vec()));
    Ok(())
}

/// A target in absolute-form (`GET http://host/hello.txt`), which RFC 9112 says a server
/// must accept, was answered 400 (attack16). curl sends one to a proxy (`-x`): the server,
/// asked as one, serves its own file.
#[test]
fn an_absolute_form_target_is_served() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    let asked = "GET http://example.invalid/hello.txt HTTP/1.1\r\nHost: example.invalid\r\n\r\n";
    let answer = ask(addr, asked);
    assert_eq!((answer.status, answer.body), (200, "你好, http!\n".into()));
    s.expect(
        server,
        "\"GET http://example.invalid/hello.txt HTTP/1.1\" 200 14",
    )?;
    if have("curl") {
        let proxy = format!("http://{addr}");
        let got = curl(
            &["-x", &proxy, "http://example.invalid/hello.txt"],
            dir.path(),
        );
        assert_eq!((got.0, got.1), (true, "你好, http!\n".into()), "{}", got.2);
    }
    Ok(())
}

/// A listing cut at 10,000 entries examined, all of them links it leaves out, said "Only the
/// first 1 entries are shown" (facts38). The note says only what is true of either cut.
#[test]
fn a_cut_listing_says_it_was_cut_and_nothing_more() -> Result<(), Failure> {
    let dir = served();
    let links = dir.path().join("root/links");
    fs::create_dir(&links).unwrap();
    fs::write(links.join("0 real"), "x").unwrap();
    for i in 0..10_001 {
        std::os::unix::fs::symlink("0 real", links.join(format!("link{i}"))).unwrap();
    }
    let many = dir.path().join("root/many");
    fs::create_dir(&many).unwrap();
    for i in 0..1001 {
        fs::write(many.join(format!("f{i}")), "").unwrap();
    }
    let mut s = Scene::new();
    let (_server, addr) = start(&mut s, dir.path(), &[])?;
    for (dir, shown) in [("links", None), ("many", Some(1000))] {
        let page = ask(addr, &format!("GET /{dir}/ HTTP/1.1\r\nHost: x\r\n\r\n")).body;
        let page = String::from_utf8(page).unwrap();
        let listed = page.matches(" bytes</li>").count();
        let note = "<p>The directory holds more entries than this page lists.</p>";
        if !page.contains(note) || page.contains("first") || shown.is_some_and(|n| n != listed) {
            return Err(s.fail(format!("/{dir}/ listed {listed}:\n{page:.600}")));
        }
    }
    Ok(())
}

/// Each request is a line of the log, and a target may be 8 KiB: with a log nobody reads,
/// the 4096 lines its queue holds held 49 MB of the server's memory (4.5 MB before). A line
/// shows 128 bytes of the request now, and how many more there were.
#[test]
fn a_long_target_makes_a_short_log_line() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    let target = format!("/missing?{}", "a".repeat(8000));
    let answer = ask(addr, &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(answer.status, 404);
    let line = s.expect(server, "\" 404 ")?;
    if line.len() > 300 || !line.contains("(7894 more bytes)") {
        return Err(s.fail(format!("a log line of {} bytes: {line:.400}", line.len())));
    }
    Ok(())
}

/// Every request answered was a line of log: 20,000 requests for a missing file, pipelined on
/// one connection (680 kB), made 940 kB of log; here 4,000.
/// An address's request lines now have a share: 100 at once, then 10 a second, and the next
/// line told says how many were not.
#[test]
fn pipelined_requests_cannot_fill_the_log() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (server, addr) = start(&mut s, dir.path(), &[])?;
    let started = Instant::now();
    let mut r = BufReader::new(connect(addr));
    let request = "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000);
    for _ in 0..2 {
        r.get_mut().write_all(request.as_bytes()).unwrap();
        for _ in 0..2000 {
            assert_eq!(read_response(&mut r, false).status, 404);
        }
    }
    // Lines come out in order: once this one is seen, every earlier request's has been.
    let mut last = kept_alive(addr, "127.0.0.3");
    last.get_mut()
        .write_all(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut last, false).status, 404);
    s.expect(server, "127.0.0.3:")?;
    let seconds = started.elapsed().as_secs() as usize + 1;
    let lines = s.output(server, testkit::Stream::Stdout);
    let told = lines.iter().filter(|l| l.contains("\" 404 ")).count();
    if told > 100 + 10 * seconds + 1 {
        return Err(s.fail(format!("{told} of 4001 requests told in {seconds} s")));
    }
    Ok(())
}

/// `Expect: 100-continue` with a body: the client waits to be told to send it. Nothing was
/// said, and curl sent its body after waiting 1.01 s (nginx: 0.01 s at most); a client that
/// waits longer than --timeout was cut unanswered. Now `100 Continue` first.
#[test]
fn a_client_that_expects_100_continue_is_told_to_go_on() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_server, addr) = start(&mut s, dir.path(), &[])?;
    let mut stream = connect(addr);
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let (mut status, mut empty) = (String::new(), String::new());
    let _ = r.read_line(&mut status);
    let _ = r.read_line(&mut empty);
    if status != "HTTP/1.1 100 Continue\r\n" || empty != "\r\n" {
        return Err(s.fail(format!("before the body: {status:?} {empty:?}")));
    }
    stream.write_all(b"hello").unwrap();
    assert_eq!(read_response(&mut r, false).status, 200);
    Ok(())
}

/// A header value may hold bytes that are not UTF-8 (RFC 9110's obs-text): a browser sends a
/// cookie set in Latin-1 as it was set, with every request to that host. The whole head was
/// refused (400, "the head is not UTF-8"); nginx answers. Such bytes are still refused in the
/// request line and in a header's name.
#[test]
fn a_header_value_that_is_not_utf8_is_not_refused() -> Result<(), Failure> {
    let dir = served();
    let mut s = Scene::new();
    let (_server, addr) = start(&mut s, dir.path(), &[])?;
    for (head, want) in [
        (
            &b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nCookie: n=caf\xe9\r\n\r\n"[..],
            200,
        ),
        (b"GET /hello\xe9.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nCaf\xe9: 1\r\n\r\n",
            400,
        ),
    ] {
        let mut stream = connect(addr);
        stream.write_all(head).unwrap();
        let status = read_response(&mut BufReader::new(stream), false).status;
        if status != want {
            let head = String::from_utf8_lossy(head);
            return Err(s.fail(format!("{head:?}: {status}, not {want}")));
        }
    }
    Ok(())
}

/// Threads run out (`ulimit -u`) while clients keep coming: each one that found no thread was
/// an `error:` line on stderr, outside any share. It is now the line that closes its
/// connection, within its address's share.
#[test]
fn clients_that_find_no_thread_cannot_fill_the_log() -> Result<(), Failure> {
    let dir = served();
    let root = dir.path().join("root");
    for path in [dir.path(), &root] {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_http-server"));
    testkit::fdlimit::threads_run_out(bin, &["--root", root.to_str().unwrap()])
}
