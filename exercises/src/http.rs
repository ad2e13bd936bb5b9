//! http-server: the check serves a scratch directory with the student's server and speaks
//! HTTP/1.1 to it by hand, on several keep-alive connections at once.

use std::fs::File;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use crate::wire::Conn;
use crate::{Check, Failure, shown};

/// The files served, each with a modification time chosen so that every date is known:
/// (name, size, seconds since 1970, nanoseconds).
const FILES: &[(&str, usize, u64, u32)] = &[
    // Mon, 06 May 2024 07:08:09 GMT, and half a second.
    ("a.txt", 14, 1_714_979_289, 500_000_000),
    // Sat, 01 Jan 2000 00:00:00 GMT exactly.
    ("b.bin", 5000, 946_684_800, 0),
];

/// The bytes of file `name`: differing everywhere, so that a shifted piece shows.
fn content(name: &str, len: usize) -> Vec<u8> {
    let mut x: u32 = name
        .bytes()
        .fold(0x9e37_79b9, |h, b| h.rotate_left(5) ^ u32::from(b));
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

struct Server {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

fn serve(c: &mut Check) -> Result<Server, Failure> {
    let dir = tempfile::tempdir().map_err(|e| c.fail(format!("cannot make a scratch dir: {e}")))?;
    for &(name, len, secs, nanos) in FILES {
        let path = dir.path().join(name);
        std::fs::write(&path, content(name, len))
            .map_err(|e| c.fail(format!("cannot write {name}: {e}")))?;
        let mtime = UNIX_EPOCH + Duration::new(secs, nanos);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .map_err(|e| c.fail(format!("cannot set {name}'s time: {e}")))?;
    }
    let root = dir.path().to_string_lossy().into_owned();
    let (_, addr) = c.start("http-server", &["--root", &root, "--port", "0"])?;
    c.pass(format!(
        "http-server is listening on {addr}, serving a.txt (14 bytes, modified \
         Mon, 06 May 2024 07:08:09.5 GMT) and b.bin (5000 bytes, modified Sat, 01 Jan 2000 \
         00:00:00 GMT)"
    ));
    Ok(Server { addr, _dir: dir })
}

/// One response as it came: status code, headers (names lower-cased), body.
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

/// Sends `request` (method, path, extra header lines) on `conn` and reads its response,
/// framed by Content-Length (a 304 and a HEAD have no body).
fn exchange(
    c: &Check,
    conn: &mut Conn,
    method: &str,
    path: &str,
    extra: &str,
) -> Result<Response, Failure> {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: check\r\n{extra}\r\n");
    conn.write(c, request.as_bytes())?;
    read_response(
        c,
        conn,
        method,
        &format!("the answer to {method} {path} with {extra:?}"),
    )
}

fn read_response(
    c: &Check,
    conn: &mut Conn,
    method: &str,
    what: &str,
) -> Result<Response, Failure> {
    let line = conn.line(c, &format!("the status line of {what}"))?;
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            c.fail(format!(
                "{what}: expected \"HTTP/1.1 NNN ...\", got {line:?}"
            ))
        })?;
    let mut headers = Vec::new();
    loop {
        let line = conn.line(c, &format!("a header line of {what}"))?;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(c.fail(format!("{what}: a header line without a colon: {line:?}")));
        };
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if method != "HEAD" && status != 304 {
        let len = response
            .header("content-length")
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| c.fail(format!("{what}: no Content-Length")))?;
        response.body = conn.bytes(c, len, &format!("the body of {what}"))?;
    }
    Ok(response)
}

/// A small generator with a fixed seed: the same "random" input on every run.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

pub fn if_modified_since(c: &mut Check) -> Result<(), Failure> {
    let server = serve(c)?;
    // Three connections at once, used in turn: each must stay usable after a 304.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(Conn::connect(c, server.addr)?);
    }
    let a_modified = "Mon, 06 May 2024 07:08:09 GMT";
    let cases: &[(&str, &str, &str, u16)] = &[
        // (path, header lines, what it means, status)
        (
            "/a.txt",
            &format!("If-Modified-Since: {a_modified}\r\n"),
            "the very Last-Modified",
            304,
        ),
        (
            "/a.txt",
            "If-Modified-Since: Mon, 06 May 2024 07:08:10 GMT\r\n",
            "a second later",
            304,
        ),
        (
            "/a.txt",
            "If-Modified-Since: Tue, 07 May 2024 00:00:00 GMT\r\n",
            "a day later",
            304,
        ),
        (
            "/a.txt",
            "If-Modified-Since: Mon, 06 May 2024 07:08:08 GMT\r\n",
            "a second earlier",
            200,
        ),
        (
            "/a.txt",
            "If-Modified-Since: Monday, 06-May-24 07:08:09 GMT\r\n",
            "the RFC 850 form",
            304,
        ),
        (
            "/a.txt",
            "If-Modified-Since: Mon May  6 07:08:09 2024\r\n",
            "the asctime form",
            304,
        ),
        (
            "/a.txt",
            "If-Modified-Since: Sun May  5 07:08:09 2024\r\n",
            "an asctime day earlier",
            200,
        ),
        (
            "/a.txt",
            "If-Modified-Since: yesterday\r\n",
            "not a date, so ignored",
            200,
        ),
        (
            "/a.txt",
            "If-Modified-Since: Tue, 07 May 2024 00:00:00 GMT\r\nIf-None-Match: \"other\"\r\n",
            "a later date, but If-None-Match names another version (it wins)",
            200,
        ),
        (
            "/b.bin",
            "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n",
            "b.bin's very Last-Modified",
            304,
        ),
        (
            "/b.bin",
            "If-Modified-Since: Fri, 31 Dec 1999 23:59:59 GMT\r\n",
            "a second before b.bin's",
            200,
        ),
        (
            "/b.bin",
            "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\nRange: bytes=0-4\r\n",
            "b.bin's very Last-Modified, with a Range: the condition comes first",
            304,
        ),
        (
            "/b.bin",
            "Range: bytes=0-4\r\nIf-Modified-Since: Fri, 31 Dec 1999 23:59:59 GMT\r\n",
            "a second before b.bin's, with a Range: the range",
            206,
        ),
        (
            "/b.bin",
            "Range: bytes=6000-7000\r\nIf-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n",
            "b.bin's very Last-Modified, with a Range past its end: the condition still first",
            304,
        ),
        ("/b.bin", "", "no condition", 200),
    ];
    let mut seeded = Seeded(0x5eed_1234_abcd);
    for (round, &(path, extra, meaning, want)) in cases.iter().enumerate() {
        for method in ["GET", "HEAD"] {
            let i = seeded.below(conns.len() as u64) as usize;
            let Some(conn) = conns.get_mut(i) else {
                continue;
            };
            let r = exchange(c, conn, method, path, extra)?;
            if r.status != want {
                return Err(c.fail(format!(
                    "{method} {path} with {} ({meaning}): expected {want}, got {}",
                    extra.trim_end().replace("\r\n", ", "),
                    r.status
                )));
            }
            let size = FILES
                .iter()
                .find(|f| path.ends_with(f.0))
                .map_or(0, |f| f.1);
            if want == 304 {
                if r.header("etag").is_none() || r.header("last-modified").is_none() {
                    return Err(c.fail(format!(
                        "{method} {path}: a 304 still names the version: expected ETag and \
                         Last-Modified headers, got {:?}",
                        r.headers
                    )));
                }
            } else if want == 206 {
                if method == "GET" && r.body != content(&path[1..], size)[..5] {
                    return Err(c.fail(format!(
                        "{method} {path} ({meaning}): expected its first 5 bytes, got {}",
                        shown(&r.body[..r.body.len().min(40)])
                    )));
                }
            } else if method == "GET" && r.body != content(&path[1..], size) {
                return Err(c.fail(format!(
                    "{method} {path} ({meaning}): expected the whole file ({size} bytes), got {}",
                    shown(&r.body[..r.body.len().min(40)])
                )));
            }
            if round == 0 && method == "GET" && r.header("last-modified") != Some(a_modified) {
                return Err(c.fail(format!(
                    "Last-Modified of a.txt: expected {a_modified:?}, got {:?}",
                    r.header("last-modified")
                )));
            }
        }
        c.pass(format!(
            "GET and HEAD {path} with {} ({meaning}): {want}",
            if extra.is_empty() {
                "no header"
            } else {
                extra.trim_end()
            }
        ));
    }
    // If-None-Match decides, both ways: naming the very version, it is a 304 even with an
    // If-Modified-Since before the file's date.
    for (i, conn) in conns.iter_mut().enumerate() {
        let etag = exchange(c, conn, "GET", "/a.txt", "")?
            .header("etag")
            .map(str::to_string)
            .ok_or_else(|| c.fail("GET /a.txt: no ETag"))?;
        let extra = format!(
            "If-Modified-Since: Mon, 06 May 2024 07:08:08 GMT\r\nIf-None-Match: {etag}\r\n"
        );
        let method = if i % 2 == 0 { "GET" } else { "HEAD" };
        let r = exchange(c, conn, method, "/a.txt", &extra)?;
        if r.status != 304 {
            return Err(c.fail(format!(
                "{method} /a.txt with If-None-Match: {etag} (its very ETag) and an \
                 If-Modified-Since a second before its date: If-None-Match decides, expected \
                 304, got {}",
                r.status
            )));
        }
    }
    c.pass(
        "GET and HEAD /a.txt with its very ETag in If-None-Match and an earlier \
         If-Modified-Since: 304 (If-None-Match decides)",
    );
    // After all these, each connection still answers a plain GET with the whole file.
    for conn in &mut conns {
        let r = exchange(c, conn, "GET", "/a.txt", "")?;
        if r.status != 200 || r.body != content("a.txt", 14) {
            return Err(c.fail(format!(
                "a plain GET after the 304s: expected 200 and a.txt, got {} {}",
                r.status,
                shown(&r.body)
            )));
        }
    }
    c.pass("every connection still serves after its 304s: no stray body bytes");
    Ok(())
}

/// One part of a multipart/byteranges body.
struct Part {
    content_range: String,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// The parts of a multipart/byteranges body.
fn parts(c: &Check, r: &Response, what: &str) -> Result<Vec<Part>, Failure> {
    let ctype = r.header("content-type").unwrap_or_default();
    let Some(boundary) = ctype
        .strip_prefix("multipart/byteranges")
        .and_then(|rest| rest.split_once("boundary="))
        .map(|(_, b)| b.trim_matches('"').to_string())
    else {
        return Err(c.fail(format!(
            "{what}: expected Content-Type: multipart/byteranges; boundary=..., got {ctype:?}"
        )));
    };
    let delimiter = format!("--{boundary}");
    let mut rest: &[u8] = &r.body;
    let mut found = Vec::new();
    // Skip any preamble up to the first delimiter.
    let Some(start) = find(rest, delimiter.as_bytes()) else {
        return Err(c.fail(format!("{what}: no {delimiter:?} in the body")));
    };
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            // The close delimiter `--<B>--` ends with its CRLF, and the body with it: the
            // statement asks for that much and no more.
            if rest != b"--\r\n" {
                return Err(c.fail(format!(
                    "{what}: after the last part, expected {delimiter:?} \"--\" CRLF and the \
                     end of the body, got {} after {delimiter:?}",
                    shown(rest)
                )));
            }
            return Ok(found);
        }
        let Some(rest_after) = rest.strip_prefix(b"\r\n") else {
            return Err(c.fail(format!("{what}: expected CRLF after {delimiter:?}")));
        };
        let Some(head_end) = find(rest_after, b"\r\n\r\n") else {
            return Err(c.fail(format!(
                "{what}: a part without the empty line after its headers"
            )));
        };
        let head = String::from_utf8_lossy(&rest_after[..head_end]).into_owned();
        let field = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let content_range = field("content-range")
            .ok_or_else(|| c.fail(format!("{what}: a part without Content-Range: {head:?}")))?;
        let body = &rest_after[head_end + 4..];
        let end_marker = format!("\r\n{delimiter}");
        let Some(end) = find(body, end_marker.as_bytes()) else {
            return Err(c.fail(format!(
                "{what}: a part that is not followed by CRLF {delimiter:?}"
            )));
        };
        found.push(Part {
            content_range,
            content_type: field("content-type"),
            bytes: body[..end].to_vec(),
        });
        rest = &body[end + end_marker.len()..];
    }
}

/// A Content-Type without its `boundary=` value: a server may choose a new boundary for each
/// answer (nginx does), and its length is all that Content-Length depends on.
fn without_boundary(ctype: &str) -> String {
    match ctype.split_once("boundary=") {
        Some((before, b)) => format!("{before}boundary=<{} bytes>", b.trim_matches('"').len()),
        None => ctype.to_string(),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn multipart_ranges(c: &mut Check) -> Result<(), Failure> {
    let server = serve(c)?;
    let data = content("b.bin", 5000);
    let size = data.len() as u64;
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(Conn::connect(c, server.addr)?);
    }
    // The type each part must name: b.bin's own, as a plain GET gives it.
    let first = conns.get_mut(0).ok_or_else(|| c.fail("no connection"))?;
    let plain = exchange(c, first, "GET", "/b.bin", "")?;
    let file_type = plain.header("content-type").unwrap_or_default().to_string();
    let etag = plain.header("etag").unwrap_or_default().to_string();
    // The head of the first case's answer, which a HEAD must repeat.
    let mut first_head: Option<(Option<String>, Option<String>)> = None;
    // Fixed cases, then seeded ones: (Range value, the byte ranges expected, inclusive).
    let mut cases: Vec<(String, Vec<(u64, u64)>)> = vec![
        ("bytes=0-1,5-6".into(), vec![(0, 1), (5, 6)]),
        ("bytes=4990-,-3".into(), vec![(4990, 4999), (4997, 4999)]),
        (
            "bytes=10-19, 100-100, 4000-9999".into(),
            vec![(10, 19), (100, 100), (4000, 4999)],
        ),
        ("bytes=0-1,6000-7000".into(), vec![(0, 1)]),
        // Overlapping, and exactly as long as the file together: still parts.
        (
            "bytes=0-2499,2000-4499".into(),
            vec![(0, 2499), (2000, 4499)],
        ),
    ];
    let mut seeded = Seeded(0xb17e_5a11);
    for _ in 0..6 {
        let n = 2 + seeded.below(4);
        let mut specs = Vec::new();
        let mut want = Vec::new();
        for _ in 0..n {
            let start = seeded.below(size);
            let end = (start + seeded.below(700)).min(size - 1);
            specs.push(format!("{start}-{end}"));
            want.push((start, end));
        }
        cases.push((format!("bytes={}", specs.join(",")), want));
    }
    for (k, (range, want)) in cases.iter().enumerate() {
        let conn = conns
            .get_mut(k % 3)
            .ok_or_else(|| c.fail("no connection"))?;
        let what = format!("GET /b.bin with Range: {range}");
        let r = exchange(c, conn, "GET", "/b.bin", &format!("Range: {range}\r\n"))?;
        if r.status != 206 {
            return Err(c.fail(format!("{what}: expected 206, got {}", r.status)));
        }
        let got = parts(c, &r, &what)?;
        if k == 0 {
            first_head = Some((
                r.header("content-length").map(str::to_string),
                r.header("content-type").map(without_boundary),
            ));
        }
        if got.len() != want.len() {
            return Err(c.fail(format!(
                "{what}: expected {} parts, got {}",
                want.len(),
                got.len()
            )));
        }
        for (part, &(start, end)) in got.iter().zip(want) {
            let expected = format!("bytes {start}-{end}/{size}");
            let (content_range, bytes) = (&part.content_range, &part.bytes);
            if part.content_type.as_deref() != Some(file_type.as_str()) {
                return Err(c.fail(format!(
                    "{what}: the part {expected:?}: expected its own Content-Type: {file_type}, \
                     got {:?}",
                    part.content_type
                )));
            }
            if *content_range != expected {
                return Err(c.fail(format!(
                    "{what}: a part's Content-Range: expected {expected:?}, got {content_range:?}"
                )));
            }
            if bytes.as_slice() != &data[start as usize..=end as usize] {
                return Err(c.fail(format!("{what}: the part {expected:?} has other bytes")));
            }
        }
        c.pass(format!(
            "{what}: 206, {}, each with its Content-Type, Content-Range and bytes",
            if want.len() == 1 {
                "1 part".to_string()
            } else {
                format!("{} parts", want.len())
            }
        ));
    }
    // Parts longer than the file together: a few bytes of request would ask for many copies
    // of it. The whole file instead, as nginx answers.
    let conn = conns.get_mut(0).ok_or_else(|| c.fail("no connection"))?;
    let copies = c.rng().below(1000..1500);
    let many = format!("bytes={}", vec!["0-"; copies].join(","));
    for range in ["bytes=0-2999,1000-3999".to_string(), many] {
        let r = exchange(c, conn, "GET", "/b.bin", &format!("Range: {range}\r\n"))?;
        let shown = if range.len() > 40 {
            format!("bytes=0-,0-,... ({copies} times)")
        } else {
            range
        };
        if r.status != 200 || r.body != data {
            return Err(c.fail(format!(
                "Range: {shown} asks for parts longer than the file together: expected 200 and \
                 the whole file once (a request must not make the server send many copies of \
                 a file); got {} with {} bytes",
                r.status,
                r.body.len()
            )));
        }
        c.pass(format!("Range: {shown}: 200, the whole file once"));
    }
    // More than 200 parts, each one byte and apart: each has a head of its own, and a small
    // request would make a large answer. The whole file instead, as Apache's MaxRanges.
    let count = c.rng().below(201..400);
    let apart: Vec<String> = (0..count).map(|i| format!("{0}-{0}", 2 * i)).collect();
    let range = format!("Range: bytes={}\r\n", apart.join(","));
    let r = exchange(c, conn, "GET", "/b.bin", &range)?;
    if r.status != 200 || r.body != data {
        return Err(c.fail(format!(
            "Range: bytes=0-0,2-2,4-4,... ({count} parts of one byte): expected 200 and the \
             whole file (more than 200 parts); got {} with {} bytes",
            r.status,
            r.body.len()
        )));
    }
    c.pass(format!(
        "Range: bytes=0-0,2-2,... ({count} parts): 200, the whole file"
    ));
    // One range: as before, no multipart.
    let r = exchange(c, conn, "GET", "/b.bin", "Range: bytes=7-9\r\n")?;
    if r.status != 206
        || r.header("content-range") != Some("bytes 7-9/5000")
        || r.body != data[7..10]
    {
        return Err(c.fail(format!(
            "a single range bytes=7-9: expected 206 with Content-Range: bytes 7-9/5000 and 3 \
             bytes, as before; got {} {:?}",
            r.status,
            r.header("content-range")
        )));
    }
    c.pass("a single range is answered as before, without multipart");
    // Each part names its own file's type: a.txt's is not b.bin's.
    let text = content("a.txt", 14);
    let a_type = exchange(c, conn, "GET", "/a.txt", "")?
        .header("content-type")
        .unwrap_or_default()
        .to_string();
    let what = "GET /a.txt with Range: bytes=0-2,10-13";
    let r = exchange(c, conn, "GET", "/a.txt", "Range: bytes=0-2,10-13\r\n")?;
    if r.status != 206 {
        return Err(c.fail(format!("{what}: expected 206, got {}", r.status)));
    }
    let got = parts(c, &r, what)?;
    let want = [(0usize, 2usize), (10, 13)];
    if got.len() != want.len() {
        return Err(c.fail(format!("{what}: expected 2 parts, got {}", got.len())));
    }
    for (part, (start, end)) in got.iter().zip(want) {
        if part.content_type.as_deref() != Some(a_type.as_str())
            || part.content_range != format!("bytes {start}-{end}/14")
            || text.get(start..=end) != Some(part.bytes.as_slice())
        {
            return Err(c.fail(format!(
                "{what}: expected the part bytes {start}-{end}/14 with a.txt's own \
                 Content-Type: {a_type}, got Content-Type {:?}, Content-Range {:?}",
                part.content_type, part.content_range
            )));
        }
    }
    c.pass(format!(
        "{what}: 206, 2 parts, each with Content-Type: {a_type}"
    ));
    // If-Range: the parts only if the client's copy is this version; else the whole file.
    let other = format!("\"{}-1.000000000\"", size + 1);
    let r = exchange(
        c,
        conn,
        "GET",
        "/b.bin",
        &format!("Range: bytes=0-1,5-6\r\nIf-Range: {other}\r\n"),
    )?;
    if r.status != 200 || r.body != data {
        return Err(c.fail(format!(
            "two ranges with If-Range: {other} (another version): expected 200 and the whole \
             file, as for one range; got {} with {} bytes",
            r.status,
            r.body.len()
        )));
    }
    let what = format!("two ranges with If-Range: {etag} (b.bin's own ETag)");
    let r = exchange(
        c,
        conn,
        "GET",
        "/b.bin",
        &format!("Range: bytes=0-1,5-6\r\nIf-Range: {etag}\r\n"),
    )?;
    if r.status != 206 || parts(c, &r, &what)?.len() != 2 {
        return Err(c.fail(format!(
            "{what}: expected 206 with 2 parts, got {}",
            r.status
        )));
    }
    // The same with dates: If-Range works as for one range, whichever validator it holds.
    let modified = plain
        .header("last-modified")
        .unwrap_or_default()
        .to_string();
    let older = "Sun, 06 Nov 1994 08:49:37 GMT";
    for (date, whole) in [(older, true), (modified.as_str(), false)] {
        let what = if whole {
            format!("two ranges with If-Range: {date} (a date b.bin was not modified at)")
        } else {
            format!("two ranges with If-Range: {date} (b.bin's own Last-Modified)")
        };
        let r = exchange(
            c,
            conn,
            "GET",
            "/b.bin",
            &format!("Range: bytes=0-1,5-6\r\nIf-Range: {date}\r\n"),
        )?;
        let right = if whole {
            r.status == 200 && r.body == data
        } else {
            r.status == 206 && parts(c, &r, &what)?.len() == 2
        };
        if !right {
            let want = if whole {
                "200 and the whole file"
            } else {
                "206 with 2 parts"
            };
            return Err(c.fail(format!(
                "{what}: expected {want}, as for one range; got {} with {} bytes",
                r.status,
                r.body.len()
            )));
        }
    }
    c.pass(
        "If-Range: another version gets the whole file, this version the two parts (by ETag \
         and by date)",
    );
    // HEAD: the same head, no body; the connection goes on.
    let r = exchange(c, conn, "HEAD", "/b.bin", "Range: bytes=0-1,5-6\r\n")?;
    if r.status != 206
        || !r
            .header("content-type")
            .unwrap_or_default()
            .starts_with("multipart/byteranges")
    {
        return Err(c.fail(format!(
            "HEAD with two ranges: expected 206 and multipart/byteranges, got {} {:?}",
            r.status,
            r.header("content-type")
        )));
    }
    let head = (
        r.header("content-length").map(str::to_string),
        r.header("content-type").map(without_boundary),
    );
    if Some(&head) != first_head.as_ref() {
        return Err(c.fail(format!(
            "HEAD with two ranges (bytes=0-1,5-6): expected the GET's Content-Length and \
             Content-Type (the boundary aside) {first_head:?}, got {head:?}"
        )));
    }
    c.pass("HEAD with two ranges: 206, the GET's Content-Length and Content-Type, no body");
    let r = exchange(c, conn, "GET", "/b.bin", "Range: bytes=6000-,7000-8000\r\n")?;
    if r.status != 416 || r.header("content-range") != Some("bytes */5000") {
        return Err(c.fail(format!(
            "no range satisfiable (bytes=6000-,7000-8000 of 5000 bytes): expected 416 with \
             Content-Range: bytes */5000, got {} {:?}",
            r.status,
            r.header("content-range")
        )));
    }
    c.pass("no range satisfiable: 416 with Content-Range: bytes */5000");
    let r = exchange(c, conn, "GET", "/a.txt", "")?;
    if r.status != 200 || r.body != content("a.txt", 14) {
        return Err(c.fail("after all that, a plain GET of a.txt on the same connection failed"));
    }
    c.pass("the connection still serves: each multipart answer's Content-Length was exact");
    // The lesson's test that several ranges get the whole file is changed, not deleted.
    crate::test_does(
        c,
        "lessons/08-http-server/tests/http_server.rs",
        "conditional_requests_and_ranges_follow_the_version",
        "asks for several ranges and expects something else than the whole file (200)",
        |body| {
            let several = body.split("Range: bytes=").skip(1).any(|rest| {
                let value = rest.split(['\\', '"']).next().unwrap_or_default();
                value.contains(',')
            });
            several && !body.contains(OLD_TEST_LINE)
        },
    )
}

/// The line of the lesson's test that http-server-2 asks to change.
const OLD_TEST_LINE: &str = r#"get("Range: bytes=0-1,3-4\r\n").status, 200)"#;
