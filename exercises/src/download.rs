//! file-download: the check serves a scratch directory with the student's server and speaks
//! the protocol to it by hand, as `nc` would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use testkit::Proc;

use crate::wire::Conn;
use crate::{Check, Failure, shown};

/// The lesson's server: where it listens, and how its GET request is written.
struct Server {
    p: Proc,
    addr: SocketAddr,
    /// `GET <offset> - <name>` where requests carry a version (`-` for any), else
    /// `GET <offset> <name>`.
    versioned: bool,
    scratch: Scratch,
}

impl Server {
    fn get(&self, offset: u64, name: &str) -> String {
        if self.versioned {
            format!("GET {offset} - {name}")
        } else {
            format!("GET {offset} {name}")
        }
    }
}

/// A scratch directory: `root/`, which the server serves, and `secret.txt` beside it, which
/// it must never tell anything about.
struct Scratch {
    dir: tempfile::TempDir,
    /// The regular files under `root/`: name and bytes.
    files: Vec<(String, Vec<u8>)>,
}

impl Scratch {
    fn new(c: &mut Check) -> Result<Scratch, Failure> {
        let dir =
            tempfile::tempdir().map_err(|e| c.fail(format!("cannot make a scratch dir: {e}")))?;
        let mut scratch = Scratch {
            dir,
            files: Vec::new(),
        };
        scratch.write(c, "../secret.txt", b"not yours")?;
        scratch.files.clear();
        scratch.write(c, "a.txt", b"hello")?;
        scratch.write(c, "b.txt", b"abc")?;
        Ok(scratch)
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    fn write(&mut self, c: &Check, name: &str, body: &[u8]) -> Result<(), Failure> {
        let path = self.root().join(name);
        let made = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, body));
        made.map_err(|e| c.fail(format!("cannot write {name}: {e}")))?;
        self.files.push((name.to_string(), body.to_vec()));
        Ok(())
    }

    /// A file of seeded size and bytes, named with spaces and non-ASCII letters.
    fn seeded(&mut self, c: &mut Check, max: usize) -> Result<(String, Vec<u8>), Failure> {
        let len = c.rng().below(3..8);
        let name = format!(
            "f {}{}.bin",
            c.rng().text(len).replace('/', "-"),
            self.files.len()
        );
        let size = c.rng().below(0..max);
        let body = c.rng().bytes(size);
        self.write(c, &name, &body)?;
        Ok((name, body))
    }

    fn body(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }
}

/// Starts `serve` on `scratch`'s root with `extra` flags.
fn serve_with(c: &mut Check, scratch: Scratch, extra: &[&str]) -> Result<Server, Failure> {
    let root = scratch.root().to_string_lossy().into_owned();
    let mut args = vec!["serve", "--root", &root, "--port", "0"];
    args.extend_from_slice(extra);
    let (p, addr) = c.start("file-download", &args)?;
    c.pass(format!(
        "file-download {} is listening on {addr}, serving {} files",
        args.join(" "),
        scratch.files.len()
    ));
    // The exercise is not about the GET line: ask the server which form it takes.
    let (_, answer) = ask(c, addr, "GET 0 - b.txt")?;
    Ok(Server {
        p,
        addr,
        versioned: answer.starts_with("OK "),
        scratch,
    })
}

/// Sends one request on a new connection and returns the answer's first line.
fn ask(c: &Check, addr: SocketAddr, request: &str) -> Result<(Conn, String), Failure> {
    let mut conn = Conn::connect(c, addr)?;
    conn.write(c, format!("{request}\n").as_bytes())?;
    let line = conn.line(c, &format!("an answer to {request:?}"))?;
    Ok((conn, line))
}

/// How long a SIZE may take: it asks the file system, it does not read the file.
const SIZE_WITHIN: Duration = Duration::from_millis(500);

pub fn size(c: &mut Check) -> Result<(), Failure> {
    let mut scratch = Scratch::new(c)?;
    scratch.write(c, "empty.txt", b"")?;
    let (seeded, _) = scratch.seeded(c, 5000)?;
    // A name with a space at each end: the name is every byte after `SIZE `, as GET's is.
    let len = c.rng().below(1..5);
    let spaced = format!(" s{} ", c.rng().text(len).replace('/', "-"));
    let spaced_len = c.rng().below(6..3000);
    let spaced_body = c.rng().bytes(spaced_len);
    scratch.write(c, &spaced, &spaced_body)?;
    // A name with a right-to-left override and a quote: logged escaped, as GET logs it.
    scratch.write(c, "r\u{202e}txt\"q.exe", b"tricky")?;
    let sub = format!("sub/c{}.txt", c.rng().below(0..100));
    let sub_len = c.rng().below(1..2000);
    let sub_body = c.rng().bytes(sub_len);
    scratch.write(c, &sub, &sub_body)?;
    // A file past 4 GiB, sparse: it takes no room on the disk, and a size kept in a u32 is
    // wrong for it. Reading it through would take seconds.
    let huge = (4u64 << 30) + c.rng().below(1..(1 << 30)) as u64;
    let made = std::fs::File::create(scratch.root().join("huge.bin")).and_then(|f| f.set_len(huge));
    made.map_err(|e| c.fail(format!("cannot make a sparse file: {e}")))?;
    let links = std::os::unix::fs::symlink("a.txt", scratch.root().join("link.txt"))
        .and_then(|()| std::os::unix::fs::symlink("../secret.txt", scratch.root().join("out.txt")));
    links.map_err(|e| c.fail(format!("cannot make a link: {e}")))?;
    let mut sizes: Vec<(String, u64)> = scratch
        .files
        .iter()
        .map(|(n, b)| (n.clone(), b.len() as u64))
        .collect();
    sizes.push(("huge.bin".into(), huge));
    let server = serve_with(c, scratch, &[])?;
    let addr = server.addr;
    for (name, size) in sizes {
        let request = format!("SIZE {name}");
        let t = Instant::now();
        let (mut conn, line) = ask(c, addr, &request)?;
        let took = t.elapsed();
        let want = format!("OK {size}");
        if line != want {
            return Err(c.fail(format!("sent {request:?}, expected {want:?}, got {line:?}")));
        }
        if took > SIZE_WITHIN {
            return Err(c.fail(format!(
                "sent {request:?}, the answer {want:?} took {:.2} s: the size is the file \
                 system's answer, not a count of the bytes read",
                took.as_secs_f64()
            )));
        }
        let me = conn.local_addr();
        conn.closed(
            c,
            &format!("the server to close after {want:?}, with no file bytes"),
        )?;
        c.pass(format!(
            "{request:?} was answered {want:?} in {:.1} ms, and nothing else",
            took.as_secs_f64() * 1000.0
        ));
        size_logged(c, &server, me, &name, size)?;
    }
    // Whatever GET refuses, SIZE refuses: the size of what is not served is not told either.
    for request in [
        "SIZE missing.txt",
        "SIZE ../secret.txt",
        "SIZE sub/../../secret.txt",
        "SIZE sub",
        "SIZE link.txt",
        "SIZE out.txt",
        "SIZE /etc/hostname",
        "SIZE ",
        "SIZE  a.txt",
    ] {
        let (mut conn, line) = ask(c, addr, request)?;
        let me = conn.local_addr();
        if !line.starts_with("ERR ") || line.len() <= 4 {
            return Err(c.fail(format!(
                "sent {request:?}, expected a refusal \"ERR <reason>\" (as GET refuses that \
                 name), got {line:?}"
            )));
        }
        conn.closed(c, &format!("the server to close after {line:?}"))?;
        c.pass(format!("{request:?} was refused: {line:?}"));
        refusal_logged(c, &server, me, request)?;
    }
    // A name with a right-to-left override and a quote: logged escaped, as GET logs names,
    // or it would turn the rest of the server's line around on its terminal.
    let name = "x\u{202e}txt\"y.exe";
    let request = format!("SIZE {name}");
    let (mut conn, line) = ask(c, addr, &request)?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    if !line.starts_with("ERR ") {
        return Err(c.fail(format!(
            "sent {request:?}, a missing file, expected \"ERR <reason>\", got {line:?}"
        )));
    }
    conn.closed(c, &format!("the server to close after {line:?}"))?;
    let want = format!("refused {me}: {}: ", logged_name(name));
    c.expect_matching(
        server.p,
        &me,
        &format!("expected the refusal logged as GET logs one, starting {want:?}"),
        |l| l.starts_with(&want),
    )?;
    c.pass(format!(
        "the refusal of {request:?} was logged with the name escaped"
    ));
    // No requests, however near: refused, and logged as a line that is no request.
    for request in ["size a.txt", "SIZES a.txt", "SIZE_a.txt"] {
        let (conn, line) = ask(c, addr, request)?;
        if !line.starts_with("ERR ") {
            return Err(c.fail(format!(
                "sent {request:?}, which is no request, expected \"ERR <reason>\", got {line:?}"
            )));
        }
        let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let bad = format!("bad request from {me}: ");
        c.expect_matching(
            server.p,
            &me,
            &format!(
                "{request:?} is no request: expected it logged as GET's are, starting {bad:?}"
            ),
            |l| l.starts_with(&bad),
        )?;
        c.pass(format!("{request:?} was refused: {line:?}, and logged so"));
    }
    let get = server.get(0, &seeded);
    let mut conn = Conn::connect(c, addr)?;
    conn.write(c, format!("{get}\n").as_bytes())?;
    let want = server.scratch.body(&seeded).unwrap_or_default().to_vec();
    file(c, &mut conn, &get, &want, 0)?;
    c.pass("GET still works");
    Ok(())
}

/// The server's terminal says whom it told which size, as it says whom it sent which file: a
/// line with the client's address, the name as the lesson shows names, and the size.
fn size_logged(
    c: &mut Check,
    server: &Server,
    me: Option<SocketAddr>,
    name: &str,
    size: u64,
) -> Result<(), Failure> {
    let me = me.map(|a| a.to_string()).unwrap_or_default();
    let quoted = logged_name(name);
    let size_word = size.to_string();
    let fail = format!(
        "the server tells its terminal what it answers, as it does for GET: expected a line \
         with the client's address {me}, the name {quoted} and the size {size}"
    );
    c.expect_matching(server.p, &me, &fail, |l| {
        l.contains(&quoted)
            && l.split(|ch: char| !ch.is_ascii_digit())
                .any(|w| w == size_word)
    })?;
    c.pass(format!(
        "the server logged the size of {quoted} it told {me}"
    ));
    Ok(())
}

/// A name as the lesson logs it, `{:?}` of `text::printable(name)`, for the names this check
/// makes: control and bidirectional control characters escaped, the rest as it is.
fn logged_name(name: &str) -> String {
    let printable: String = name
        .chars()
        .map(|ch| match ch {
            _ if ch.is_control() => ch.escape_debug().to_string(),
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                ch.escape_unicode().to_string()
            }
            _ => ch.to_string(),
        })
        .collect();
    format!("{printable:?}")
}

/// A refused SIZE is logged as a refused GET is: `refused ADDR: "NAME": REASON`, or `bad
/// request from ADDR: ...` for a line that is no request.
fn refusal_logged(
    c: &mut Check,
    server: &Server,
    me: Option<SocketAddr>,
    request: &str,
) -> Result<(), Failure> {
    let me = me.map(|a| a.to_string()).unwrap_or_default();
    let (refused, bad) = (
        format!("refused {me}: "),
        format!("bad request from {me}: "),
    );
    let fail = format!(
        "a refused {request:?} is logged as a refused GET is: expected a line starting with \
         {refused:?} (or {bad:?})"
    );
    c.expect_matching(server.p, &me, &fail, |l| {
        l.starts_with(&refused) || l.starts_with(&bad)
    })?;
    c.pass(format!("the refusal of {request:?} was logged"));
    Ok(())
}

/// Reads one file's answer: the header `OK <size> <offset> ...` (a version may follow), then
/// `size - offset` bytes, which must be `body` from `offset` on.
fn file(
    c: &Check,
    conn: &mut Conn,
    request: &str,
    body: &[u8],
    offset: u64,
) -> Result<(), Failure> {
    let header = conn.line(c, &format!("the answer to {request:?}"))?;
    let mut fields = header.split(' ');
    let numbers = (fields.next(), fields.next(), fields.next());
    let (size, at) = match numbers {
        (Some("OK"), Some(size), Some(at)) => (size.parse::<u64>(), at.parse::<u64>()),
        _ => (Ok(u64::MAX), Ok(u64::MAX)),
    };
    let want_size = body.len() as u64;
    if size != Ok(want_size) || at != Ok(offset) {
        return Err(c.fail(format!(
            "sent {request:?}, expected a header \"OK {want_size} {offset} ...\", got {header:?}"
        )));
    }
    let want = body.get(offset as usize..).unwrap_or_default();
    let got = conn.bytes(c, want.len(), &format!("the bytes after {header:?}"))?;
    if got != want {
        return Err(c.fail(format!(
            "sent {request:?}, expected the bytes {}, got {}",
            shown(want),
            shown(&got)
        )));
    }
    c.pass(format!(
        "{request:?} was answered {header:?} and its {} bytes",
        want.len()
    ));
    Ok(())
}

/// What a request of the check must be answered with.
enum Want {
    /// A file's header and its bytes from this offset on.
    File(String, u64),
    /// `ERR <reason>`, and the connection goes on.
    Refused,
    /// `OK`, a line per file, `END <count>`.
    Listing,
}

/// A request line and the answer it must get.
fn request(c: &mut Check, server: &Server) -> (String, Want) {
    let mut files: Vec<(String, usize)> = server
        .scratch
        .files
        .iter()
        .map(|(n, b)| (n.clone(), b.len()))
        .collect();
    // The big file is for one request of its own (see `slow_answer`).
    files.retain(|(_, len)| *len <= 20_000);
    let (name, len) = c.rng().pick(&files).cloned().unwrap_or_default();
    match c.rng().below(0..10) {
        0 => ("LIST".into(), Want::Listing),
        1 => {
            let refused = ["missing.txt", "../secret.txt", "sub"];
            let name = c.rng().pick(&refused).copied().unwrap_or("sub");
            (server.get(0, name), Want::Refused)
        }
        2 => (server.get(len as u64 + 1, &name), Want::Refused),
        3 => (format!("GET x - {name}"), Want::Refused),
        _ => {
            let offset = c.rng().below(0..len + 1) as u64;
            (server.get(offset, &name), Want::File(name, offset))
        }
    }
}

/// A GET that parses and must be refused, for its name or its offset (`request`'s kinds 1
/// and 2), of a kind the seed picks.
fn refused_get(c: &mut Check, server: &Server) -> (String, Want) {
    for _ in 0..100 {
        let (line, want) = request(c, server);
        if matches!(want, Want::Refused) && !line.starts_with("GET x ") {
            return (line, want);
        }
    }
    (server.get(0, "missing.txt"), Want::Refused)
}

/// A line of text that is no request: the server refuses it and waits for the next.
fn not_a_request(c: &mut Check) -> String {
    let lines = ["GET x - notes.txt", "HELLO", "GET 0 -", "list"];
    c.rng().pick(&lines).copied().unwrap_or("HELLO").to_string()
}

/// Reads the answer to `line`.
fn answer(
    c: &Check,
    server: &Server,
    conn: &mut Conn,
    line: &str,
    want: &Want,
) -> Result<(), Failure> {
    match want {
        Want::File(name, offset) => {
            let body = server.scratch.body(name).unwrap_or_default();
            file(c, conn, line, body, *offset)
        }
        Want::Refused => {
            let got = conn.line(c, &format!("the answer to {line:?}"))?;
            if !got.starts_with("ERR ") {
                return Err(c.fail(format!(
                    "sent {line:?}, expected \"ERR <reason>\", got {got:?}"
                )));
            }
            c.pass(format!("{line:?} was refused: {got:?}"));
            Ok(())
        }
        Want::Listing => {
            let got = conn.line(c, "the header of the listing")?;
            if got != "OK" {
                return Err(c.fail(format!("sent \"LIST\", expected \"OK\", got {got:?}")));
            }
            let files = server.scratch.files.len();
            let end = format!("END {files}");
            for _ in 0..=files {
                let got = conn.line(c, "a line of the listing")?;
                if got == end {
                    c.pass(format!("LIST was answered, up to {end:?}"));
                    return Ok(());
                }
            }
            Err(c.fail(format!("sent \"LIST\", expected {files} files and {end:?}")))
        }
    }
}

/// Writes `data` in pieces cut at points the seed chooses, waiting a little between them.
fn write_in_pieces(c: &mut Check, conn: &mut Conn, data: &[u8]) -> Result<usize, Failure> {
    let mut cuts: Vec<usize> = (0..c.rng().below(2..6))
        .map(|_| c.rng().below(1..data.len().max(2)))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let (mut from, mut pieces) = (0, 0);
    for cut in cuts.into_iter().chain([data.len()]) {
        if cut <= from || cut > data.len() {
            continue;
        }
        let piece = data.get(from..cut).unwrap_or_default();
        if conn.write(c, piece).is_err() {
            return Err(c.fail("the server closed the connection before all the requests were sent: each must be answered, and the connection go on"));
        }
        std::thread::sleep(Duration::from_millis(15));
        from = cut;
        pieces += 1;
    }
    Ok(pieces)
}

/// How much later than `want` a timed event may come on a loaded machine.
const LATE: Duration = Duration::from_millis(250);

pub fn keep_alive(c: &mut Check) -> Result<(), Failure> {
    let mut scratch = Scratch::new(c)?;
    for _ in 0..3 {
        scratch.seeded(c, 20_000)?;
    }
    // More than the sockets' buffers hold: its answer lasts as long as the client makes it.
    scratch.write(c, BIG, &vec![0; 32 << 20])?;
    std::fs::create_dir(scratch.root().join("sub"))
        .map_err(|e| c.fail(format!("cannot make a directory: {e}")))?;
    let wait = c.rng().below(1..3);
    let wait_flag = wait.to_string();
    let server = serve_with(c, scratch, &["--request-timeout", &wait_flag])?;
    let mut conn = Conn::connect(c, server.addr)?;
    // Several requests in one stream, cut anywhere: files, refusals, lines that are no
    // request, a listing.
    let mut plan: Vec<(String, Want)> = (0..c.rng().below(6..10))
        .map(|_| request(c, &server))
        .collect();
    // Every kind of name refused: none of them ends the connection.
    for name in ["missing.txt", "../secret.txt", "sub"] {
        plan.insert(
            c.rng().below(0..plan.len()),
            (server.get(0, name), Want::Refused),
        );
    }
    plan.insert(
        c.rng().below(0..plan.len()),
        ("HELLO".into(), Want::Refused),
    );
    plan.insert(c.rng().below(0..plan.len()), ("LIST".into(), Want::Listing));
    let past = server.get(4, "b.txt");
    plan.insert(c.rng().below(0..plan.len()), (past, Want::Refused));
    let stream: String = plan.iter().map(|(line, _)| format!("{line}\n")).collect();
    let pieces = write_in_pieces(c, &mut conn, stream.as_bytes())?;
    c.pass(format!(
        "sent {} requests on one connection in {pieces} writes cut anywhere",
        plan.len()
    ));
    for (line, want) in &plan {
        answer(c, &server, &mut conn, line, want)?;
    }

    // Two clients at once: one halfway through a request line does not hold up another.
    let mut other = Conn::connect(c, server.addr)?;
    let get_a = server.get(1, "a.txt");
    other.write(c, get_a.get(..5).unwrap_or_default().as_bytes())?;
    let mut third = Conn::connect(c, server.addr)?;
    let get_b = server.get(0, "b.txt");
    third.write(c, format!("{get_b}\n").as_bytes())?;
    file(c, &mut third, &get_b, b"abc", 0)?;
    other.write(
        c,
        format!("{}\n", get_a.get(5..).unwrap_or_default()).as_bytes(),
    )?;
    file(c, &mut other, &get_a, b"hello", 1)?;
    // Our FIN between two requests: the server closes at once, not after --request-timeout.
    other.finish(c)?;
    let t = Instant::now();
    other.closed(c, "the server to close after our FIN")?;
    if t.elapsed() > Duration::from_secs(wait as u64) / 2 {
        return Err(c.fail(format!(
            "after our FIN the server closed only {:.2} s later (--request-timeout {wait}): \
             a client that closed its side has asked for all it wants",
            t.elapsed().as_secs_f64()
        )));
    }
    c.pass("after our FIN between requests, the server closed at once");

    // One request at a time, each sent when the last is answered: each answer comes at once.
    let mut times = Vec::new();
    for _ in 0..12 {
        let (line, want) = request(c, &server);
        let t = Instant::now();
        conn.write(c, format!("{line}\n").as_bytes())?;
        answer(c, &server, &mut conn, &line, &want)?;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    if median > Duration::from_millis(20) {
        return Err(c.fail(format!(
            "12 requests one at a time on one connection: the median round trip was {:.1} ms; \
             on loopback it is well under a millisecond",
            median.as_secs_f64() * 1000.0
        )));
    }
    c.pass(format!(
        "12 requests one at a time: median round trip {:.2} ms",
        median.as_secs_f64() * 1000.0
    ));

    slow_answer(c, &server, &mut conn, wait)?;
    // --request-timeout is the wait for each request, not for the connection: requests spread
    // over longer than that are answered, and a silence that long ends the connection.
    // The first two are refused: a refusal is an answer too, and the wait starts after it.
    // The first is no request at all, the second a GET refused for its name or offset: a
    // server that restarts the wait after only one of the two kinds (a GET refused goes the
    // way of a GET answered) closes before the third, whatever the seed.
    let gap = Duration::from_secs(wait as u64).mul_f64(0.6);
    for i in 0..3 {
        std::thread::sleep(gap);
        let (line, want) = match i {
            0 => (not_a_request(c), Want::Refused),
            1 => refused_get(c, &server),
            _ => request(c, &server),
        };
        if conn.write(c, format!("{line}\n").as_bytes()).is_err() {
            return Err(c.fail(format!(
                "requests {:.1} s apart, the first two refused: {line:?} found the connection \
                 closed; --request-timeout {wait} is the wait for each request, from the end of \
                 the answer before it, a refusal too",
                gap.as_secs_f64()
            )));
        }
        answer(c, &server, &mut conn, &line, &want).map_err(|_| {
            c.fail(format!(
                "requests {:.1} s apart, the first two refused: {line:?} was not answered; \
                 --request-timeout {wait} is the wait for each request, from the end of the \
                 answer before it, a refusal too",
                gap.as_secs_f64()
            ))
        })?;
    }
    c.pass(format!(
        "three requests {:.1} s apart, the first two refused, longer than --request-timeout \
         {wait} in all, were answered",
        gap.as_secs_f64()
    ));
    let t = Instant::now();
    conn.closed(c, "the server to close a connection that sends no request")?;
    let took = t.elapsed();
    let limit = Duration::from_secs(wait as u64);
    if took < limit.mul_f64(0.9) || took > limit + LATE {
        return Err(c.fail(format!(
            "after the last answer we sent nothing; with --request-timeout {wait} the server \
             must close the connection after {wait} s, it did after {:.2} s",
            took.as_secs_f64()
        )));
    }
    c.pass(format!(
        "a silent connection was closed after {:.2} s",
        took.as_secs_f64()
    ));
    trickled_request(c, &server, wait)?;
    out_of_step(c, &server)?;
    refusals_log_bounded(c, &server)?;
    requests_log_bounded(c, &server)?;
    dropped_ends(c)?;
    dropped_listing_ends(c)
}

/// A connection that goes on after a refusal must not make the log a line per byte: 100,000
/// empty lines, each refused and logged, made 8.1 MB of log. What the log says of 20,000 of
/// them must stay smaller than they are.
fn refusals_log_bounded(c: &mut Check, server: &Server) -> Result<(), Failure> {
    const LINES: usize = 20_000;
    const MOST_LINES: usize = 64;
    let mut conn = Conn::connect(c, server.addr)?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    // A few listings first: the first 16 refusals of the connection are logged, not those
    // among its first 16 requests.
    let lists = c.rng().below(1..9);
    // Among the empty lines, past the 16th, a few refused names: they count as refusals too.
    let (at, names) = (c.rng().below(16..1000), c.rng().below(1..5));
    // 20,000 bytes fit in the sockets' buffers: sent whole before we read the answers.
    let mut sent = "LIST\n".repeat(lists).into_bytes();
    sent.extend([b'\n'; LINES]);
    let missing = format!("{}\n", server.get(0, "missing.txt")).repeat(names);
    let at = sent.len() - LINES + at;
    sent.splice(at..at, missing.into_bytes());
    conn.write(c, &sent)?;
    conn.finish(c)?;
    let mut answers = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut conn.reader, &mut answers) {
        return Err(c.fail(format!(
            "{LINES} empty lines on one connection: each is refused (`ERR ...`) and the \
             connection goes on, then our FIN closes it; reading the answers failed after {} \
             bytes: {e}",
            answers.len()
        )));
    }
    let count = |start: &[u8]| {
        (answers.split(|&b| b == b'\n'))
            .filter(|l| l.starts_with(start))
            .count()
    };
    let (refused, listed) = (count(b"ERR "), count(b"END "));
    if refused != LINES + names || listed != lists {
        return Err(c.fail(format!(
            "{lists} LISTs then {LINES} empty lines and {names} refused names on one \
             connection, then our FIN: expected {lists} listings and {} answers `ERR ...`, got \
             {listed} and {refused}",
            LINES + names
        )));
    }
    // Every line the server has printed by now, waited for a moment: no line has a NUL.
    c.scene = std::mem::take(&mut c.scene).timeout(Duration::from_millis(300));
    let _ = c.scene.expect(server.p, "\u{0}");
    c.scene = std::mem::take(&mut c.scene).timeout(crate::WAIT);
    let about: Vec<usize> = (c.scene.output(server.p, testkit::Stream::Stdout).iter())
        .filter(|l| l.contains(&me))
        .map(|l| l.len() + 1)
        .collect();
    let log: usize = about.iter().sum();
    // A line per refusal within the address's share of the log (common::connlog) stays
    // just above 20,000 bytes: the lines are counted too.
    if about.len() > MOST_LINES {
        return Err(c.fail(format!(
            "{LINES} empty lines on one connection, each refused, made {} lines of log about \
             {me}: log the first refusals of a connection (16), and count the rest",
            about.len()
        )));
    }
    if log >= LINES {
        return Err(c.fail(format!(
            "{LINES} empty lines on one connection ({LINES} bytes), each refused, made {log} \
             bytes of log about {me}: a peer must not make the log bigger than what it sends \
             (log the first refusals of a connection, and count the rest)"
        )));
    }
    c.pass(format!(
        "{LINES} empty lines on one connection were each refused, and made {log} bytes of log"
    ));
    refusals_counted(c, server, &me, (lists, LINES + names))
}

/// What the log says of the refusals of `refusals_log_bounded`: a line for each of the first
/// 16 of the connection (those of other connections, and the requests answered before them,
/// do not count), and the number of the rest.
fn refusals_counted(
    c: &mut Check,
    server: &Server,
    me: &str,
    (lists, refusals): (usize, usize),
) -> Result<(), Failure> {
    const LOGGED: usize = 16;
    let out = c.scene.output(server.p, testkit::Stream::Stdout);
    let (bad, named) = (format!("bad request from {me}:"), format!("refused {me}:"));
    let logged = (out.iter())
        .filter(|l| l.contains(&bad) || l.contains(&named))
        .count();
    if logged != LOGGED {
        return Err(c.fail(format!(
            "{lists} LISTs then {refusals} refused lines on one connection: expected a line of \
             log for each of its first {LOGGED} refusals ({bad:?} or {named:?} ...), got \
             {logged}: the first 16 refusals of each connection are logged, of every kind, \
             whatever other connections and the requests answered did"
        )));
    }
    let rest = format!(
        "{me}: {} more refused requests, not logged",
        refusals - LOGGED
    );
    if !out.iter().any(|l| l.contains(&rest)) {
        return Err(c.fail(format!(
            "{lists} LISTs then {refusals} refused lines on one connection: expected the \
             refusals not logged counted when it ends, a line {rest:?}"
        )));
    }
    c.pass(format!(
        "the first {LOGGED} refusals of the connection were logged, and the rest counted: {rest:?}"
    ));
    Ok(())
}

/// A connection carries as many requests as its client likes, and each answered is a line of
/// log: they go through the address's share of such lines, as the lesson's do
/// (`common::connlog::request`: 100 at once, then 10 a second), or 2,000 `LIST`s on one
/// connection make 2,000 lines.
fn requests_log_bounded(c: &mut Check, server: &Server) -> Result<(), Failure> {
    const REQUESTS: usize = 2_000;
    let started = Instant::now();
    let mut conn = Conn::connect(c, server.addr)?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    // 10,000 bytes fit in the sockets' buffers: sent whole before we read the answers.
    conn.write(c, "LIST\n".repeat(REQUESTS).as_bytes())?;
    conn.finish(c)?;
    let mut answers = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut conn.reader, &mut answers) {
        return Err(c.fail(format!(
            "{REQUESTS} LISTs on one connection, then our FIN: reading the answers failed \
             after {} bytes: {e}",
            answers.len()
        )));
    }
    let listings = answers
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"END "))
        .count();
    if listings != REQUESTS {
        return Err(c.fail(format!(
            "{REQUESTS} LISTs on one connection, then our FIN: expected {REQUESTS} listings, \
             each ending `END <count>`, got {listings}"
        )));
    }
    // Every line the server has printed by now, waited for a moment: no line has a NUL.
    c.scene = std::mem::take(&mut c.scene).timeout(Duration::from_millis(300));
    let _ = c.scene.expect(server.p, "\u{0}");
    c.scene = std::mem::take(&mut c.scene).timeout(crate::WAIT);
    let told = (c.scene.output(server.p, testkit::Stream::Stdout).iter())
        .filter(|l| l.contains(&me))
        .count();
    let seconds = started.elapsed().as_secs() as usize + 1;
    if told > 100 + 10 * seconds {
        return Err(c.fail(format!(
            "{REQUESTS} LISTs on one connection, answered in {seconds} s or less, made {told} \
             lines of log about {me}: log each request within its address's share, as the \
             lesson does (common::connlog::request: 100 at once, then 10 a second)"
        )));
    }
    c.pass(format!(
        "{REQUESTS} LISTs on one connection were each answered, and made {told} lines of log"
    ));
    Ok(())
}

/// The big file of `keep_alive`'s root.
const BIG: &str = "big.bin";

/// The wait for the next request starts when the last answer is sent, not when its request
/// came: a GET of 32 MiB read only after 0.6 × S seconds, then a request half of S later.
fn slow_answer(
    c: &mut Check,
    server: &Server,
    conn: &mut Conn,
    wait: usize,
) -> Result<(), Failure> {
    let secs = Duration::from_secs(wait as u64);
    let get = server.get(0, BIG);
    conn.write(c, format!("{get}\n").as_bytes())?;
    std::thread::sleep(secs.mul_f64(0.6));
    let body = server.scratch.body(BIG).unwrap_or_default();
    file(c, conn, &get, body, 0)?;
    std::thread::sleep(secs.mul_f64(0.5));
    let (line, want) = request(c, server);
    if conn.write(c, format!("{line}\n").as_bytes()).is_err() {
        return Err(c.fail(format!(
            "{get:?} was read only {:.1} s after it was sent; {:.1} s after its last byte we \
             sent {line:?}, but the connection was closed: --request-timeout {wait} is the wait \
             for each request, from the end of the answer before it",
            secs.mul_f64(0.6).as_secs_f64(),
            secs.mul_f64(0.5).as_secs_f64()
        )));
    }
    answer(c, server, conn, &line, &want).map_err(|_| {
        c.fail(format!(
            "{get:?} was read only {:.1} s after it was sent; {:.1} s after its last byte we \
             sent {line:?}, and it was not answered: --request-timeout {wait} is the wait for \
             each request, from the end of the answer before it",
            secs.mul_f64(0.6).as_secs_f64(),
            secs.mul_f64(0.5).as_secs_f64()
        ))
    })?;
    c.pass(format!(
        "a request {:.1} s after a 32 MiB answer that took {:.1} s and more was answered",
        secs.mul_f64(0.5).as_secs_f64(),
        secs.mul_f64(0.6).as_secs_f64()
    ));
    Ok(())
}

/// The wait for each request, not only the first, is a deadline, not a read timeout: a
/// request after an answer, sent a byte every 0.3 × S seconds, must not hold the connection
/// past S seconds from the end of that answer.
fn trickled_request(c: &mut Check, server: &Server, wait: usize) -> Result<(), Failure> {
    let limit = Duration::from_secs(wait as u64);
    let mut conn = Conn::connect(c, server.addr)?;
    let (line, want) = request(c, server);
    conn.write(c, format!("{line}\n").as_bytes())?;
    answer(c, server, &mut conn, &line, &want)?;
    let t = Instant::now();
    // Three bytes of the next request, the last 0.9 × S seconds after the answer.
    let next = server.get(0, "a.txt");
    for byte in next.as_bytes().iter().take(3) {
        std::thread::sleep(limit.mul_f64(0.3));
        if conn.write(c, &[*byte]).is_err() {
            break;
        }
    }
    conn.closed(
        c,
        "the server to close a connection whose request came too slowly",
    )?;
    let took = t.elapsed();
    if took > limit + LATE {
        return Err(c.fail(format!(
            "after {line:?} was answered, we sent {next:?} a byte every {:.1} s: with \
             --request-timeout {wait} the server must close the connection {wait} s after the \
             answer, however the bytes come (a deadline, not a read timeout); it did after \
             {:.2} s",
            limit.mul_f64(0.3).as_secs_f64(),
            took.as_secs_f64()
        )));
    }
    c.pass(format!(
        "a request after an answer, sent a byte every {:.1} s, was cut {:.2} s after the answer",
        limit.mul_f64(0.3).as_secs_f64(),
        took.as_secs_f64()
    ));
    Ok(())
}

/// The longest request line, its newline included: the lesson's `MAX_LINE`.
const MAX_LINE: usize = 4096;

/// After a line too long, or one that is not text, where the next request starts is anybody's
/// guess: the server answers `ERR ...` and closes the connection.
fn out_of_step(c: &mut Check, server: &Server) -> Result<(), Failure> {
    let long = c.rng().below(MAX_LINE + 1..3 * MAX_LINE);
    let mut too_long = server.get(0, "a").into_bytes();
    too_long.resize(long, b'a');
    too_long.push(b'\n');
    let not_text = [
        b"GET 0 - a\x01b.txt\n".as_slice(),
        b"GET 0 - \xff\xfe.txt\n",
    ];
    let not_text = c
        .rng()
        .pick(&not_text)
        .copied()
        .unwrap_or_default()
        .to_vec();
    let cases = [
        (
            too_long,
            format!("a line of {long} bytes, more than the {MAX_LINE} a line may have"),
        ),
        (not_text, "a line that is not text".to_string()),
    ];
    // A request right behind it, in the same write: a server that went on would answer it.
    let next = server.get(0, "a.txt");
    for (mut line, what) in cases {
        let what = format!("{what}, and {next:?} behind it in the same write");
        line.extend_from_slice(format!("{next}\n").as_bytes());
        let mut conn = Conn::connect(c, server.addr)?;
        conn.write(c, &line)?;
        let got = conn.line(c, &format!("an answer to {what}"))?;
        if !got.starts_with("ERR ") {
            return Err(c.fail(format!(
                "sent {what}, expected \"ERR <reason>\", got {got:?}"
            )));
        }
        conn.closed(
            c,
            &format!("the server to close the connection after {what} (answered {got:?})"),
        )?;
        c.pass(format!(
            "{what} was answered {got:?}, and the connection closed"
        ));
    }
    Ok(())
}

/// Whether reading to the end saw the connection end: a FIN, or the reset that the lesson
/// sends a client it drops for being slow.
fn ended(read: &std::io::Result<usize>) -> bool {
    match read {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// A transfer dropped because the client read nothing for --timeout ends the connection, as
/// it always did: the server closes it at once, it does not wait for another request.
fn dropped_ends(c: &mut Check) -> Result<(), Failure> {
    let scratch = Scratch::new(c)?;
    // Sparse: 64 MiB that take no room on the disk, more than the sockets' buffers hold.
    let made =
        std::fs::File::create(scratch.root().join("big.bin")).and_then(|f| f.set_len(64 << 20));
    made.map_err(|e| c.fail(format!("cannot make a sparse file: {e}")))?;
    let server = serve_with(c, scratch, &["--timeout", "1", "--request-timeout", "4"])?;
    let mut conn = Conn::connect(c, server.addr)?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let get = server.get(0, "big.bin");
    // A second request right behind the first, in the same write: the transfer is dropped
    // before it, and so is the connection.
    let next = server.get(0, "a.txt");
    conn.write(c, format!("{get}\n{next}\n").as_bytes())?;
    let header = conn.line(c, &format!("the answer to {get:?}"))?;
    c.pass(format!(
        "{get:?} was answered {header:?}; now the client reads nothing"
    ));
    c.expect_matching(
        server.p,
        &me,
        "a client that reads nothing for --timeout 1 is dropped, as the lesson logs it",
        |l| l.contains("dropping it"),
    )?;
    let t = Instant::now();
    let mut rest = Vec::new();
    let read = std::io::Read::read_to_end(&mut conn.reader, &mut rest);
    let took = t.elapsed();
    // The lesson drops a slow client with a reset (SO_LINGER 0): ECONNRESET ends it too.
    if !ended(&read) || took > Duration::from_secs(1) {
        return Err(c.fail(format!(
            "the server dropped a transfer to a client that read nothing for --timeout 1; that \
             ends the connection, at once: expected the server to close it, but after {:.2} s \
             it had not ({read:?}; it waits for another request?)",
            took.as_secs_f64()
        )));
    }
    // Nothing more for that client: no other request read, answered or waited for.
    std::thread::sleep(Duration::from_millis(300));
    let more = said_after_the_drop(c, server.p, &me, |_| true);
    if !more.is_empty() {
        return Err(c.fail(format!(
            "after dropping {me}'s transfer (we had sent {next:?} behind {get:?}), the server \
             went on with that connection: {more:?}; a dropped transfer ends it"
        )));
    }
    c.pass(format!(
        "after dropping a stalled transfer, the server closed the connection ({:.2} s), and \
         did nothing more with it",
        took.as_secs_f64()
    ));
    Ok(())
}

/// The lines about client `me` (its address) that the server printed after the one saying
/// its transfer was dropped, on stdout, and on stderr at any time, that `keep` keeps.
fn said_after_the_drop(
    c: &Check,
    server: testkit::Proc,
    me: &str,
    keep: impl Fn(&str) -> bool,
) -> Vec<String> {
    let stdout = c.scene.output(server, testkit::Stream::Stdout);
    let stderr = c.scene.output(server, testkit::Stream::Stderr);
    let after = stdout
        .into_iter()
        .skip_while(|l| !(l.contains(me) && l.contains("dropping it")))
        .skip(1);
    after
        .chain(stderr)
        .filter(|l| l.contains(me) && keep(l))
        .collect()
}

/// A `LIST` dropped because the client reads nothing ends the connection too: the requests
/// behind it are not read. The listing of 1,000 long names is 200 KB, far more than a client
/// with a 2 KiB receive buffer takes in.
fn dropped_listing_ends(c: &mut Check) -> Result<(), Failure> {
    let mut scratch = Scratch::new(c)?;
    for i in 0..1000 {
        scratch.write(c, &format!("{i:04} {}", "n".repeat(200)), b"x")?;
    }
    let server = serve_with(c, scratch, &["--timeout", "1", "--request-timeout", "4"])?;
    let stream = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .and_then(|s| s.set_recv_buffer_size(2048).map(|()| s))
        .and_then(|s| {
            s.connect_timeout(&server.addr.into(), crate::WAIT)
                .map(|()| s)
        })
        .map_err(|e| c.fail(format!("cannot connect to {}: {e}", server.addr)))?;
    let mut conn = Conn::new(c, stream.into())?;
    let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let next = server.get(0, "a.txt");
    conn.write(c, format!("{}{next}\n", "LIST\n".repeat(40)).as_bytes())?;
    c.expect_matching(
        server.p,
        &me,
        "40 LISTs and a GET in one write, and the client reads nothing: with --timeout 1, the \
         first listing must be dropped, as the lesson logs a dropped transfer",
        |l| l.contains("dropping it"),
    )?;
    // Still reading nothing, for longer than --timeout: a server that read the next LIST
    // would drop it too, and say so again.
    std::thread::sleep(Duration::from_millis(1500));
    let more = said_after_the_drop(c, server.p, &me, |l| !l.starts_with("closed"));
    if !more.is_empty() {
        return Err(c.fail(format!(
            "after dropping the listing to {me}, which had sent 40 LISTs and {next:?} in one \
             write, the server went on with that connection: {more:?}; a dropped transfer, a \
             listing too, ends it"
        )));
    }
    let t = Instant::now();
    let mut rest = Vec::new();
    let read = std::io::Read::read_to_end(&mut conn.reader, &mut rest);
    if !ended(&read) || t.elapsed() > Duration::from_secs(1) {
        return Err(c.fail(format!(
            "the server dropped a listing to a client that read nothing for --timeout 1; that \
             ends the connection: expected it closed, but reading what was left took {:.2} s \
             ({read:?})",
            t.elapsed().as_secs_f64()
        )));
    }
    c.pass("a dropped listing ended the connection too: no request behind it was read");
    Ok(())
}
