//! The answer to one request: a file or the part of it asked for, a directory's index or
//! listing, or an error; each a head and a body framed by `Content-Length`.

use std::fs::File;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use common::Root;
use common::pace::Cut;
use common::root::{Entry, FileInfo, Refusal};

use crate::connection::Connection;
use crate::reply::{self, Range, Validators};
use crate::request::{self, Request, Version};

/// The most entries a directory listing shows.
const MAX_LISTED: usize = 1000;
/// The most directory entries one listing looks at (links and other left-out ones included).
const MAX_EXAMINED: usize = 10_000;
/// The longest a client may take nothing of an answer when what it took pays for the pause at
/// --min-rate (`Pace::may_pause`): nginx's `send_timeout`. `curl --limit-rate 500K` takes
/// several MB at once, then nothing for up to 14 s, and was cut at --timeout 3 times in 3.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// What a request was answered.
pub struct Answer {
    pub status: u16,
    /// Bytes of body sent.
    pub sent: u64,
    /// Keep the connection for another request.
    pub keep: bool,
}

impl Answer {
    fn new(status: u16, sent: u64, keep: bool) -> Answer {
        Answer { status, sent, keep }
    }
}

impl Connection {
    // ANCHOR: answer
    /// Answers one request: a file, a directory, or why not.
    pub fn answer(&mut self, request: &Request) -> Result<Answer, Cut> {
        let keep = request.keep_alive();
        self.head_only = request.method == "HEAD";
        self.http10 = request.version == Version::Http10;
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
            return Ok(Answer::new(304, 0, keep));
        }
        let range = range_asked(request, &validators, size);
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
            return Ok(Answer::new(status, 0, keep));
        }
        // The body by sendfile, as long as the client keeps up with --min-rate; a pause past
        // --timeout only if what it took pays for it (MAX_PAUSE at most). While it waits for
        // room, the place knows since when the client has taken nothing.
        let (stream, pace, place) = (&self.stream, self.options.pace, &self.place);
        let (began, max_pause) = (Instant::now(), pace.timeout.max(MAX_PAUSE));
        let sent =
            common::pace::send_file_paced(file, stream, start, len, pace, max_pause, |last| {
                place.stalled(last, began)
            })?;
        // If the file shrank, the client counts on len bytes: the connection must end.
        Ok(Answer::new(status, sent, keep && sent == len))
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
    pub fn send_error(
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
        let mut bytes = head(status, reason, headers, Some(len), keep, self.http10).into_bytes();
        let body = if self.head_only { &[][..] } else { body };
        bytes.extend_from_slice(body);
        self.write_watched(&bytes, false)?;
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
        let head = head(status, reason, headers, len, keep, self.http10);
        // MSG_MORE: the body follows at once, by sendfile; without it, the head would leave
        // as a small segment of its own.
        self.write_watched(head.as_bytes(), more)
    }
    // ANCHOR_END: send_head

    // ANCHOR: write_watched
    /// Writes `bytes`, all of them (with `MSG_MORE` if `more`). A write waits only when the
    /// send buffer is full, when the client has not taken the answers before this one: while
    /// it waits, the place counts the client as taking nothing, as `send_file_watched` does.
    /// (Pipelined requests whose answers nobody read held every place, each blocked here
    /// until --timeout.)
    pub(crate) fn write_watched(&self, bytes: &[u8], more: bool) -> io::Result<()> {
        let now = Instant::now();
        self.place.stalled(now, now);
        let written = match more {
            true => send_more(&self.stream, bytes),
            false => (&self.stream).write_all(bytes),
        };
        self.place.answering();
        written
    }
    // ANCHOR_END: write_watched
}

/// The part of the file that `Range` asks for. It counts only if the client's part is of
/// this version (If-Range), as file-download's --continue sends the version it has.
fn range_asked(request: &Request, validators: &Validators, size: u64) -> Range {
    match request.header("range") {
        Some(r)
            if request
                .header("if-range")
                .is_none_or(|v| validators.if_range(v)) =>
        {
            reply::range(r, size)
        }
        _ => Range::Ignored,
    }
}

// ANCHOR: head
/// A response head: the status line, the headers every answer has, `headers`, an empty line.
/// (`http10`: the request was HTTP/1.0, and a connection kept must be said to be.)
fn head(
    status: u16,
    reason: &str,
    headers: &str,
    len: Option<u64>,
    keep: bool,
    http10: bool,
) -> String {
    let date = httpdate::fmt_http_date(SystemTime::now());
    let mut head =
        format!("HTTP/1.1 {status} {reason}\r\nDate: {date}\r\nServer: http-server\r\n{headers}");
    if let Some(len) = len {
        head += &format!("Content-Length: {len}\r\n");
    }
    if !keep {
        head += "Connection: close\r\n";
    } else if http10 {
        // HTTP/1.0 closes after each answer unless this says otherwise: `ab -k` sent
        // `Connection: keep-alive`, was not told it was kept, and waited 15 s for the close.
        head += "Connection: keep-alive\r\n";
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
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
