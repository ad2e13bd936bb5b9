//! One client's connection: requests read in the order they came, each answered (`answer`),
//! until the connection ends, and why it ended.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::log::SHOWN_PER_CHUNK;
use common::net::is_timeout;
use common::pace::Cut;
use common::text::{Encoding, show_capped};

use crate::Options;
use crate::limits::Place;
use crate::request::{self, Bad, Request, Version};

/// The largest request body read (and thrown away) to keep a connection: GET has none.
const MAX_BODY: u64 = 64 * 1024;

/// One client's connection: the bytes it sent that are not yet used, and what it asked.
/// (`answer.rs` writes on `stream`, for the request of `head_only`, with `options`, and
/// tells `place` when the client stops taking the answer.)
pub struct Connection {
    pub(crate) stream: TcpStream,
    peer: SocketAddr,
    /// Its place among --max-clients.
    pub(crate) place: Place,
    /// Received and not yet used: the rest of a head, or the next pipelined requests.
    buf: Vec<u8>,
    read_timeout: Option<Duration>,
    /// The request being answered is a HEAD: heads only, never a body.
    pub(crate) head_only: bool,
    /// The request being answered is HTTP/1.0, whose connections close after each answer
    /// unless the answer says `Connection: keep-alive`.
    pub(crate) http10: bool,
    requests: u64,
    pub(crate) options: Options,
}

/// Why a connection ends.
pub enum End {
    /// The client sent FIN between requests: the usual end.
    Closed,
    /// FIN in the middle of a head.
    Cut,
    /// No new request for --idle-timeout.
    Idle,
    /// Closed to make room for a new client: waiting for a request, slow with its head, or
    /// not taking its answer (why it was the one).
    MadeRoom(&'static str),
    /// A head that did not arrive whole within --timeout.
    Slow,
    /// A request the server does not keep the connection after (answered).
    Refused(u16),
    /// The client asked to close (`Connection: close`, or HTTP/1.0).
    Asked,
    /// Nothing of an answer could be sent for --timeout: the client read nothing, or too
    /// little to make room in the send buffer.
    NotReading,
    /// The client read an answer slower than --min-rate: this many bytes in this long.
    TooSlow(u64, Duration),
    Failed(io::Error),
}

impl Connection {
    pub fn new(stream: TcpStream, peer: SocketAddr, place: Place, options: Options) -> Connection {
        Connection {
            stream,
            peer,
            place,
            buf: Vec::with_capacity(4096),
            read_timeout: None,
            head_only: false,
            http10: false,
            requests: 0,
            options,
        }
    }

    // ANCHOR: run
    /// Answers requests in the order they came until the client closes, goes quiet, asks to
    /// close, or sends what cannot be answered.
    pub fn run(mut self) {
        let mut end = self.serve();
        match end {
            // Answered, and no more requests will be read: bytes the client sent after them
            // would be unread at close, and closing then sends RST (see `linger`).
            End::Refused(_) | End::Asked => {
                self.linger();
                if let Some(why) = self.place.closed_for_room() {
                    end = End::MadeRoom(why);
                }
            }
            // A client too slow to read: what is still queued for it would go on being sent
            // after close, at its pace, for minutes. SO_LINGER 0 makes close send RST and
            // throw the queue away (nginx's reset_timedout_connection).
            End::NotReading | End::TooSlow(..) => common::pace::reset_on_close(&self.stream),
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
            End::MadeRoom(why) => format!("closed to make room: all places taken, and {why}"),
            End::Slow => "no complete request within --timeout".to_string(),
            End::Refused(code) => format!("answered {code} and closed"),
            End::Asked => "the client asked to close".to_string(),
            End::NotReading => "nothing could be sent to it for --timeout".to_string(),
            End::TooSlow(sent, took) => format!(
                "the client read too slowly: {} in {took:.0?}, under --min-rate",
                common::size::amount(sent)
            ),
            End::Failed(e) => format!("{e}"),
        };
        common::connlog::ended(
            peer,
            format_args!(
                "closed {peer}: {why} ({})",
                common::text::count(requests, "request", "requests")
            ),
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
                // Closed to make room in the middle of the answer: the write failed for that.
                Err(_) if let Some(why) = self.place.closed_for_room() => {
                    return End::MadeRoom(why);
                }
                Err(Cut::Stalled) => return End::NotReading,
                Err(Cut::TooSlow(sent, took)) => return End::TooSlow(sent, took),
                Err(Cut::Failed(e)) => return End::Failed(e),
            };
            if !self.options.quiet {
                // At most SHOWN_PER_CHUNK bytes of it, as the other servers show what a peer
                // sent: an 8 KiB target made an 8 KiB line, and 4096 of them queued for a
                // log nobody read held 49 MB.
                let line = format!("{} {} {}", request.method, request.target, request.version);
                let shown = show_capped(line.as_bytes(), Encoding::Utf8, SHOWN_PER_CHUNK);
                common::connlog::request(
                    self.peer,
                    format_args!(
                        "{} \"{shown}\" {} {}",
                        self.peer, answer.status, answer.sent
                    ),
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
                    self.place.answering();
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
            // Between two requests, or with a head slow to arrive, this connection may be
            // closed to make room.
            if self.buf.is_empty() {
                self.place.idle();
            } else {
                self.place.heading();
            }
            let read = self.stream.read(&mut chunk);
            if !self.place.busy() {
                let why = self.place.closed_for_room().unwrap_or("it was chosen");
                return Err(Ok(End::MadeRoom(why)));
            }
            match read {
                // Ok(0): FIN. Between two requests, the usual end of a connection.
                Ok(0) if self.buf.is_empty() => return Err(Ok(End::Closed)),
                Ok(0) => return Err(Ok(End::Cut)),
                Ok(len) => self.buf.extend_from_slice(&chunk[..len]),
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
    /// While it arrives, the place counts it as part of the head: a body announced and never
    /// sent held its place, never to be closed for a newcomer, until --timeout.
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
        // `Expect: 100-continue`: the client waits to be told to send its body (curl for a
        // second, before it sends it anyway). An HTTP/1.0 client cannot ask it (RFC 9110).
        let expects = request.header("expect");
        if expects.is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
            && request.version == Version::Http11
            && (self.buf.len() as u64) < len
        {
            self.write_watched(b"HTTP/1.1 100 Continue\r\n\r\n", false)
                .map_err(|e| Ok(End::Failed(e)))?;
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
            self.place.heading();
            let read = self.stream.read(&mut chunk);
            if let Some(why) = self.place.closed_for_room() {
                return Err(Ok(End::MadeRoom(why)));
            }
            match read {
                Ok(0) => return Err(Ok(End::Cut)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
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

    /// A request the server will not go on after: answer it, and end the connection.
    fn refuse(&mut self, bad: &Bad) -> End {
        // Its body is sent, whatever the request before it was: after a HEAD, a 400 said
        // `Content-Length: 49` and sent nothing, as nginx does not.
        self.head_only = false;
        let (status, reason) = bad.status();
        // Once a connection: told if the connection was (common::connlog).
        let line = format_args!("bad request from {}: {bad} ({status})", self.peer);
        common::connlog::during(self.peer, line);
        match self.send_error(status, reason, "", &bad.to_string(), false) {
            Ok(_) => End::Refused(status),
            Err(_) if let Some(why) = self.place.closed_for_room() => End::MadeRoom(why),
            Err(e) => End::Failed(e),
        }
    }

    // ANCHOR: linger
    /// Closing a socket with unread bytes in its receive buffer sends RST, and an RST can
    /// destroy the answer before the client reads it. So: FIN first, then read and throw
    /// away what the client still sends, for a second at most, as nginx's lingering close.
    /// Meanwhile its place may go to a newcomer at once. (After `Connection: close` too: a
    /// client that pipelined 64 KiB more lost the last 50 to 400 KB of a 3 MB answer.)
    fn linger(&mut self) {
        self.place.closing();
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
