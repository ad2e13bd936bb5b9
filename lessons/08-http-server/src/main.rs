//! HTTP file server: serves the files under one directory to curl and to a real browser,
//! over HTTP/1.1 on a plain TCP socket.
//!
//! Terminal 1:  cargo run -p http-server -- --root docs/book
//! Terminal 2:  curl -v http://127.0.0.1:8000/   (or open that address in a browser)
//!
//! Pitfall: a browser is a client you did not write. It opens connections before it has
//! anything to ask, keeps them open after its answer, and sends several requests on one: a
//! server that reads one request per connection, or serves one connection at a time, hangs.
#![forbid(unsafe_code)]

mod limits;
mod reply;
mod request;

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Parser;
use common::net::is_timeout;
use common::pace::{Cut, Pace};
use common::root::{Entry, FileInfo, Refusal};
use common::text::printable;
use common::{BindArgs, CannotBind, Proto, Root};
use limits::{Place, Places};
use reply::{Range, Validators};
use request::{Bad, Request};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// Port 80 is HTTP's, but binding a port below 1024 needs root: 8000 is what
/// `python3 -m http.server` uses, and needs nothing.
const HTTP_PORT: u16 = 8000;
/// The largest request body read (and thrown away) to keep a connection: GET has none.
const MAX_BODY: u64 = 64 * 1024;
/// The send buffer asked for each connection (Linux doubles it for its own bookkeeping).
const SEND_BUFFER: usize = 256 * 1024;
/// The most entries a directory listing shows.
const MAX_LISTED: usize = 1000;
/// The most directory entries one listing looks at (links and other left-out ones included).
const MAX_EXAMINED: usize = 10_000;

/// HTTP file server: serves the files under a directory to curl and browsers (HTTP/1.1).
/// Chapter: "HTTP server".
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The directory whose files are served; nothing outside it ever is.
    #[arg(long, value_name = "DIR", default_value = ".")]
    root: PathBuf,

    #[command(flatten)]
    bind: BindArgs<HTTP_PORT>,

    /// Most connections served at once; one more is answered 503.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_clients: usize,

    /// Most connections from one address at once (a browser opens up to 6 per host name,
    /// and localhost and 127.0.0.1 are two names).
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_per_address: usize,

    /// A request's head must arrive whole within SECS of its first byte, and an answer that
    /// makes no progress for SECS (the client reads nothing) is dropped.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = common::seconds)]
    timeout: Duration,

    /// The slowest a client may read an answer, in bytes per second (K, M: KiB, MiB),
    /// averaged from its start once --timeout has passed: a slower reader is dropped.
    #[arg(long, value_name = "BYTES", default_value = "16K", value_parser = common::size::parse_size)]
    min_rate: u64,

    /// A connection that sends no new request for SECS is closed.
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = common::seconds)]
    idle_timeout: Duration,

    /// Log connections and refusals only, not every request.
    #[arg(long)]
    quiet: bool,
}

/// What serving one connection needs to know.
#[derive(Clone)]
struct Options {
    root: Root,
    timeout: Duration,
    pace: Pace,
    idle_timeout: Duration,
    quiet: bool,
}

fn main() -> ExitCode {
    common::run(serve)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let root =
        Root::new(&args.root).with_context(|| format!("cannot serve {}", args.root.display()))?;
    let local = args.bind.local_addr()?;

    // ANCHOR: listen
    // socket, SO_REUSEADDR, bind and listen, as in the TCP server chapter: a browser opens
    // several connections at once, so the accept queue is long.
    let socket = Socket::new(
        Domain::for_address(local),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&local.into())
        .with_context(|| CannotBind::new(local, Proto::Tcp))?;
    socket
        .listen(1024)
        .with_context(|| format!("cannot listen on {local}"))?;
    let listener = TcpListener::from(socket);
    common::announce_listening(listener.local_addr()?, Proto::Tcp);
    println!("serving the files under {}", root.path().display());
    // ANCHOR_END: listen

    let options = Options {
        root,
        timeout: args.timeout,
        pace: Pace {
            timeout: args.timeout,
            min_rate: args.min_rate,
        },
        idle_timeout: args.idle_timeout,
        quiet: args.quiet,
    };
    // ANCHOR: accept
    let places = Places::new(args.max_clients, args.max_per_address);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                common::log_error("accept failed", e);
                // Out of file descriptors, most likely: wait for clients to leave.
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // All places taken: the connection idle longest is closed to make room.
        let place = match places.take(peer.ip(), &stream) {
            Ok(place) => place,
            Err(full) => {
                println!("refused {peer}: {full} (--max-clients, --max-per-address)");
                // A short answer into an empty send buffer: this write does not wait.
                let _ = (&stream).write_all(BUSY);
                continue;
            }
        };
        println!("accepted {peer}");
        // SO_SNDBUF: bytes in the send buffer count as sent, though the client has not read
        // them; a small buffer bounds that credit (and the kernel memory a slow reader pins).
        if let Err(e) = SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER) {
            common::log_error(format_args!("cannot set SO_SNDBUF for {peer}"), e);
        }
        let options = options.clone();
        // A thread per connection: a browser's idle connections each hold one, asleep.
        let spawned = thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || Connection::new(stream, peer, place, options).run());
        if let Err(e) = spawned {
            common::log_error(format_args!("cannot start a thread for {peer}"), e);
        }
    }
    // ANCHOR_END: accept
}

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
Content-Length: 0\r\nConnection: close\r\n\r\n";

/// One client's connection: the bytes it sent that are not yet used, and what it asked.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Its place among --max-clients.
    place: Place,
    /// Received and not yet used: the rest of a head, or the next pipelined requests.
    buf: Vec<u8>,
    read_timeout: Option<Duration>,
    /// The request being answered is a HEAD: heads only, never a body.
    head_only: bool,
    requests: u64,
    options: Options,
}

/// Why a connection ends.
enum End {
    /// The client sent FIN between requests: the usual end.
    Closed,
    /// FIN in the middle of a head.
    Cut,
    /// No new request for --idle-timeout.
    Idle,
    /// Closed while it waited for a request, to make room for a new client.
    MadeRoom,
    /// A head that did not arrive whole within --timeout.
    Slow,
    /// A request the server does not keep the connection after (answered).
    Refused(u16),
    /// The client asked to close (`Connection: close`, or HTTP/1.0).
    Asked,
    /// The client read nothing for --timeout while an answer was sent.
    NotReading,
    /// The client read an answer slower than --min-rate: this many bytes in this long.
    TooSlow(u64, Duration),
    Failed(io::Error),
}

/// What a request was answered.
struct Answer {
    status: u16,
    /// Bytes of body sent.
    sent: u64,
    /// Keep the connection for another request.
    keep: bool,
}

impl Connection {
    fn new(stream: TcpStream, peer: SocketAddr, place: Place, options: Options) -> Connection {
        Connection {
            stream,
            peer,
            place,
            buf: Vec::with_capacity(4096),
            read_timeout: None,
            head_only: false,
            requests: 0,
            options,
        }
    }

    // ANCHOR: run
    /// Answers requests in the order they came until the client closes, goes quiet, asks to
    /// close, or sends what cannot be answered.
    fn run(mut self) {
        let end = self.serve();
        match end {
            End::Refused(_) => self.linger(),
            // A client too slow to read: what is still queued for it would go on being sent
            // after close, at its pace, for minutes. SO_LINGER 0 makes close send RST and
            // throw the queue away (nginx's reset_timedout_connection).
            End::NotReading | End::TooSlow(..) => {
                let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
            }
            _ => {}
        }
        let peer = self.peer;
        let requests = self.requests;
        // Closing the socket sends our FIN, and gives its place back.
        drop(self);
        let why = match end {
            End::Closed => "the client closed the connection".to_string(),
            End::Cut => "the client closed it in the middle of a request".to_string(),
            End::Idle => "no new request within --idle-timeout".to_string(),
            End::MadeRoom => {
                "closed to make room: all places taken, and it had waited longest".to_string()
            }
            End::Slow => "no complete request within --timeout".to_string(),
            End::Refused(code) => format!("answered {code} and closed"),
            End::Asked => "the client asked to close".to_string(),
            End::NotReading => "the client read nothing for --timeout".to_string(),
            End::TooSlow(sent, took) => format!(
                "the client read too slowly: {} in {took:.0?}, under --min-rate",
                common::size::amount(sent)
            ),
            End::Failed(e) => format!("{e}"),
        };
        println!(
            "closed {peer}: {why} ({})",
            common::text::count(requests, "request", "requests")
        );
    }

    fn serve(&mut self) -> End {
        // SO_SNDTIMEO: a write that can put nothing into the send buffer for --timeout fails.
        if let Err(e) = self.stream.set_write_timeout(Some(self.options.timeout)) {
            return End::Failed(e);
        }
        loop {
            let request = match self.read_request() {
                Ok(request) => request,
                Err(Ok(end)) => return end,
                Err(Err(bad)) => return self.refuse(&bad),
            };
            self.requests += 1;
            let answer = match self.answer(&request) {
                Ok(answer) => answer,
                Err(Cut::Stalled) => return End::NotReading,
                Err(Cut::TooSlow(sent, took)) => return End::TooSlow(sent, took),
                Err(Cut::Failed(e)) => return End::Failed(e),
            };
            if !self.options.quiet {
                let line = format!("{} {} {}", request.method, request.target, request.version);
                println!(
                    "{} \"{}\" {} {}",
                    self.peer,
                    printable(&line),
                    answer.status,
                    answer.sent
                );
            }
            if !answer.keep {
                return if answer.status >= 400 {
                    End::Refused(answer.status)
                } else {
                    End::Asked
                };
            }
        }
    }
    // ANCHOR_END: run

    // ANCHOR: read_request
    /// The next request: from bytes already received (pipelined) or read now. The first
    /// byte may take up to --idle-timeout to come; from then on, the whole head must be
    /// here within --timeout, however slowly it trickles in.
    fn read_request(&mut self) -> Result<Request, Result<End, Bad>> {
        let mut deadline = None;
        let mut chunk = [0u8; 8 * 1024];
        loop {
            if !self.buf.is_empty() {
                if let Some(end) = request::head_end(&self.buf).map_err(Err)? {
                    let head: Vec<u8> = self.buf.drain(..end).collect();
                    let request = Request::parse(&head).map_err(Err)?;
                    self.skip_body(&request)?;
                    return Ok(request);
                }
                deadline.get_or_insert(Instant::now() + self.options.timeout);
            }
            let wait = match deadline {
                None => self.options.idle_timeout,
                Some(at) => at.saturating_duration_since(Instant::now()),
            };
            if wait.is_zero() {
                return Err(Ok(End::Slow));
            }
            self.set_read_timeout(wait)
                .map_err(|e| Ok(End::Failed(e)))?;
            // Between two requests, this connection may be closed to make room.
            let between = self.buf.is_empty();
            if between {
                self.place.idle();
            }
            let read = self.stream.read(&mut chunk);
            if between && !self.place.busy() {
                return Err(Ok(End::MadeRoom));
            }
            match read {
                // Ok(0): FIN. Between two requests, the usual end of a connection.
                Ok(0) if self.buf.is_empty() => return Err(Ok(End::Closed)),
                Ok(0) => return Err(Ok(End::Cut)),
                Ok(len) => self
                    .buf
                    .extend_from_slice(chunk.get(..len).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) && deadline.is_none() => return Err(Ok(End::Idle)),
                Err(e) if is_timeout(&e) => return Err(Ok(End::Slow)),
                Err(e) => return Err(Ok(End::Failed(e))),
            }
        }
    }
    // ANCHOR_END: read_request

    // ANCHOR: skip_body
    /// A GET may carry a body nobody reads: it must still be taken off the stream, or its
    /// bytes would be read as the next request. Only `Content-Length` says where it ends.
    fn skip_body(&mut self, request: &Request) -> Result<(), Result<End, Bad>> {
        if request.header("transfer-encoding").is_some() {
            return Err(Err(Bad::Malformed(
                "request bodies in chunks are not read here",
            )));
        }
        let len = request.content_length().map_err(Err)?;
        if len > MAX_BODY {
            return Err(Err(Bad::Malformed("the request body is too large")));
        }
        let deadline = Instant::now() + self.options.timeout;
        let mut chunk = [0u8; 8 * 1024];
        while (self.buf.len() as u64) < len {
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return Err(Ok(End::Slow));
            }
            self.set_read_timeout(wait)
                .map_err(|e| Ok(End::Failed(e)))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Ok(End::Cut)),
                Ok(n) => self
                    .buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(Ok(End::Slow)),
                Err(e) => return Err(Ok(End::Failed(e))),
            }
        }
        self.buf.drain(..len as usize);
        Ok(())
    }
    // ANCHOR_END: skip_body

    fn set_read_timeout(&mut self, wait: Duration) -> io::Result<()> {
        // SO_RCVTIMEO, changed only when it changes: one system call fewer per request.
        if self.read_timeout != Some(wait) {
            self.stream.set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        Ok(())
    }

    // ANCHOR: answer
    /// Answers one request: a file, a directory, or why not.
    fn answer(&mut self, request: &Request) -> Result<Answer, Cut> {
        let keep = request.keep_alive();
        self.head_only = request.method == "HEAD";
        if request.method != "GET" && request.method != "HEAD" {
            let why = "only GET and HEAD are answered here";
            let allow = "Allow: GET, HEAD\r\n";
            return Ok(self.send_error(405, "Method Not Allowed", allow, why, keep)?);
        }
        // "/docs/a.txt" is "docs/a.txt" beneath the root; "/" and "/docs/" are directories.
        let name = request.path.trim_start_matches('/');
        if name.is_empty() || name.ends_with('/') {
            return match self.options.root.open_dir(name) {
                Ok(dir) => self.send_directory(request, &dir, keep),
                Err(refusal) => Ok(self.send_refusal(&refusal, keep)?),
            };
        }
        let (file, info) = match self.options.root.open_file(name) {
            Ok(opened) => opened,
            // A directory named without its '/': send the browser to the name with it, so
            // that the links in its listing are relative to the directory.
            Err(Refusal::NotAFile) if self.options.root.open_dir(name).is_ok() => {
                // One leading slash, whatever the request had: `//host` in a Location is
                // another site to a browser (an open redirect, as CPython's CVE-2021-28861).
                let path = request.path.trim_start_matches('/');
                let location = format!("Location: /{}/\r\n", request::percent_encode(path));
                return Ok(self.send_error(
                    301,
                    "Moved Permanently",
                    &location,
                    "see Location",
                    keep,
                )?);
            }
            Err(refusal) => return Ok(self.send_refusal(&refusal, keep)?),
        };
        self.send_file(request, &file, info, name, keep)
    }
    // ANCHOR_END: answer

    // ANCHOR: send_file
    /// A file, or the part of it that `Range` asks for, unless the client already has it.
    fn send_file(
        &mut self,
        request: &Request,
        file: &File,
        info: FileInfo,
        name: &str,
        keep: bool,
    ) -> Result<Answer, Cut> {
        // From the fstat of the open file: the size and version of what will be sent.
        let size = info.size;
        let validators = Validators::of(&info);
        let mut headers = format!(
            "Content-Type: {}\r\nLast-Modified: {}\r\nETag: {}\r\nAccept-Ranges: bytes\r\n",
            reply::content_type(name),
            validators.last_modified,
            validators.etag
        );
        // The client's cache has this very version: say so, and send nothing more.
        if request
            .header("if-none-match")
            .is_some_and(|tags| validators.none_match(tags))
        {
            self.send_head(304, "Not Modified", &headers, None, keep, false)?;
            return Ok(Answer {
                status: 304,
                sent: 0,
                keep,
            });
        }
        // A Range counts only if the client's part is of this version (If-Range), as
        // file-download's --continue sends the version it has.
        let range = match request.header("range") {
            Some(r)
                if request
                    .header("if-range")
                    .is_none_or(|v| validators.if_range(v)) =>
            {
                reply::range(r, size)
            }
            _ => Range::Ignored,
        };
        let (status, reason, start, len) = match range {
            Range::Ignored => (200, "OK", 0, size),
            Range::Part { start, end } => {
                headers += &format!("Content-Range: bytes {start}-{end}/{size}\r\n");
                (206, "Partial Content", start, end - start + 1)
            }
            Range::Unsatisfiable => {
                headers += &format!("Content-Range: bytes */{size}\r\n");
                let why = format!("the file has {size} bytes");
                return Ok(self.send_error(416, "Range Not Satisfiable", &headers, &why, keep)?);
            }
        };
        // The head says how many bytes follow, as file-download's header does: the client
        // knows where this answer ends and the next one begins.
        let more = !self.head_only && len > 0;
        self.send_head(status, reason, &headers, Some(len), keep, more)?;
        if !more {
            return Ok(Answer {
                status,
                sent: 0,
                keep,
            });
        }
        // The body by sendfile, as long as the client keeps up with --min-rate.
        let sent = common::pace::send_file(file, &self.stream, start, len, self.options.pace)?;
        if sent < len {
            // The file shrank: the client counts on len bytes, so the connection must end.
            return Ok(Answer {
                status,
                sent,
                keep: false,
            });
        }
        Ok(Answer { status, sent, keep })
    }
    // ANCHOR_END: send_file

    /// A directory: its `index.html` if it has one, else the list of what is in it.
    fn send_directory(&mut self, request: &Request, dir: &Root, keep: bool) -> Result<Answer, Cut> {
        if let Ok((index, info)) = dir.open_file("index.html") {
            return self.send_file(request, &index, info, "index.html", keep);
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut truncated = false;
        // Bounded by the entries examined, not only those listed: a directory of links lists
        // nothing and would cost a look at every one.
        for (examined, entry) in dir.contents()?.enumerate() {
            if entries.len() == MAX_LISTED || examined == MAX_EXAMINED {
                truncated = true;
                break;
            }
            if let Ok(Some(entry)) = entry {
                entries.push(entry);
            }
        }
        let page = reply::listing(&request.path, entries, truncated);
        let headers = "Content-Type: text/html; charset=utf-8\r\n";
        let len = page.len() as u64;
        Ok(self.send_whole(200, "OK", headers, page.as_bytes(), len, keep)?)
    }

    /// Why the root jail refused a name, as a status.
    fn send_refusal(&mut self, refusal: &Refusal, keep: bool) -> io::Result<Answer> {
        let (status, reason) = match refusal {
            Refusal::NotFound | Refusal::NotAFile | Refusal::Empty => (404, "Not Found"),
            Refusal::TooLong => (414, "URI Too Long"),
            _ => (403, "Forbidden"),
        };
        self.send_error(status, reason, "", &refusal.to_string(), keep)
    }

    /// A short text answer: an error, or a redirect.
    fn send_error(
        &mut self,
        status: u16,
        reason: &str,
        headers: &str,
        why: &str,
        keep: bool,
    ) -> io::Result<Answer> {
        let body = format!("{status} {reason}: {why}\n");
        let headers = format!("{headers}Content-Type: text/plain; charset=utf-8\r\n");
        self.send_whole(
            status,
            reason,
            &headers,
            body.as_bytes(),
            body.len() as u64,
            keep,
        )
    }

    /// The head and `body` in one write (`len` is what GET would send, for HEAD).
    fn send_whole(
        &mut self,
        status: u16,
        reason: &str,
        headers: &str,
        body: &[u8],
        len: u64,
        keep: bool,
    ) -> io::Result<Answer> {
        let mut bytes = head(status, reason, headers, Some(len), keep).into_bytes();
        let body = if self.head_only { &[][..] } else { body };
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)?;
        Ok(Answer {
            status,
            sent: body.len() as u64,
            keep,
        })
    }

    // ANCHOR: send_head
    fn send_head(
        &mut self,
        status: u16,
        reason: &str,
        headers: &str,
        len: Option<u64>,
        keep: bool,
        more: bool,
    ) -> io::Result<()> {
        let head = head(status, reason, headers, len, keep);
        if more {
            // MSG_MORE: the body follows at once, by sendfile; without it, the head would
            // leave as a small segment of its own.
            send_more(&self.stream, head.as_bytes())
        } else {
            self.stream.write_all(head.as_bytes())
        }
    }
    // ANCHOR_END: send_head

    /// A request the server will not go on after: answer it, and end the connection.
    fn refuse(&mut self, bad: &Bad) -> End {
        let (status, reason) = bad.status();
        println!("bad request from {}: {bad} ({status})", self.peer);
        match self.send_error(status, reason, "", &bad.to_string(), false) {
            Ok(_) => End::Refused(status),
            Err(e) => End::Failed(e),
        }
    }

    // ANCHOR: linger
    /// Closing a socket with unread bytes in its receive buffer sends RST, and an RST can
    /// destroy the answer before the client reads it. So: FIN first, then read and throw
    /// away what the client still sends, for a second at most, as nginx's lingering close.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(1)));
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut chunk = [0u8; 8 * 1024];
        while Instant::now() < deadline {
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    // ANCHOR_END: linger
}

// ANCHOR: head
/// A response head: the status line, the headers every answer has, `headers`, an empty line.
fn head(status: u16, reason: &str, headers: &str, len: Option<u64>, keep: bool) -> String {
    let date = httpdate::fmt_http_date(SystemTime::now());
    let mut head =
        format!("HTTP/1.1 {status} {reason}\r\nDate: {date}\r\nServer: http-server\r\n{headers}");
    if let Some(len) = len {
        head += &format!("Content-Length: {len}\r\n");
    }
    if !keep {
        head += "Connection: close\r\n";
    }
    head += "\r\n";
    head
}
// ANCHOR_END: head

/// `send(2)` with `MSG_MORE`, until every byte is taken.
fn send_more(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::net::send(stream, bytes, rustix::net::SendFlags::MORE) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
