//! The download protocol: one request line, one response header line, then the bytes.
//!
//! A TCP connection is a byte stream without boundaries, so the protocol makes its own: every
//! header is one line of text ending in `\n`, and the header says how many bytes follow.
//!
//! ```text
//! client -> server   GET <offset> <version> <name>\n   the file from byte <offset> on, if it is
//!                                                      still at <version> ("-": any); else all of it
//!                    LIST\n                            the files offered
//! server -> client   OK <size> <offset> <version>\n    then size - offset bytes of the file
//!                    OK\n                              then "<size> <name>\n" per file, and
//!                                                      "END <count>[ <why it stopped>]\n" (LIST)
//!                    ERR <reason>\n                    and the server closes
//! ```
//!
//! Text, so that a student can speak it with `nc`:
//! `printf 'GET 0 - notes.txt\n' | nc -N 127.0.0.1 6664`.

use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use common::text::{Encoding, printable, show_capped};
use common::{Hexdump, Slot};

/// The port the seed's download server listens on, and so the lesson's default.
pub const DOWNLOAD_PORT: u16 = 6664;

/// The longest request or header line, newline included. A peer that sends more without a
/// newline is not speaking this protocol.
pub const MAX_LINE: usize = 4096;

// ANCHOR: request
/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A file, from byte `offset` on (0 for all of it; more to resume a download), provided it
    /// is still at `version`; if it changed, the server sends all of it instead.
    Get {
        offset: u64,
        version: Option<Version>,
        name: String,
    },
    /// The names and sizes of the files offered.
    List,
}

impl Request {
    pub fn parse(line: &str) -> Result<Request, String> {
        if line == "LIST" {
            return Ok(Request::List);
        }
        let Some(rest) = line.strip_prefix("GET ") else {
            return Err("expected GET <offset> <version> <name> or LIST".into());
        };
        let mut fields = rest.splitn(3, ' ');
        let (Some(offset), Some(version), Some(name)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err("expected GET <offset> <version> <name> (version - for any)".into());
        };
        let offset = offset
            .parse()
            .map_err(|_| format!("{} is not an offset (a number of bytes)", quoted(offset)))?;
        let version = match version {
            "-" => None,
            v => Some(Version::parse(v)?),
        };
        if name.is_empty() {
            return Err("the file name is empty".into());
        }
        Ok(Request::Get {
            offset,
            version,
            name: name.to_string(),
        })
    }
}

/// A word of a peer's, quoted for a line of log or an `ERR`: `{:?}` of the word escaped as
/// all of a peer's text is, and at most `SHOWN_PER_CHUNK` bytes of it, then `… (N more
/// bytes)`, as http-server shows a target. Whole, a name of 1,333 U+200B (3 bytes each,
/// logged as `\\u{200b}`, 9) made a line of 12 kB, and 21 MB of requests for such a missing
/// file made 64 MB of log in 5 s.
pub fn quoted(word: &str) -> String {
    if word.len() <= common::log::SHOWN_PER_CHUNK {
        format!("{:?}", printable(word))
    } else {
        let shown = show_capped(
            word.as_bytes(),
            Encoding::Utf8,
            common::log::SHOWN_PER_CHUNK,
        );
        format!("{shown:?}")
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Get {
                offset,
                version,
                name,
            } => match version {
                Some(version) => write!(f, "GET {offset} {version} {name}"),
                None => write!(f, "GET {offset} - {name}"),
            },
            Request::List => f.write_str("LIST"),
        }
    }
}
// ANCHOR_END: request

// ANCHOR: version
/// A version of a file, as HTTP's `ETag`: what the server says the file is now, so that a
/// client resuming a download can ask for the rest *of the same file*. The server makes it
/// from the file's size and modification time (`200-1719999999.123456789`); the client only
/// keeps it and compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version(String);

impl Version {
    /// The version of a file with this size and modification time.
    pub fn new(size: u64, mtime_secs: i64, mtime_nanos: i64) -> Version {
        Version(format!("{size}-{mtime_secs}.{mtime_nanos:09}"))
    }

    /// A version as it came over the wire: one word of at most 64 printable characters.
    pub fn parse(word: &str) -> Result<Version, String> {
        let ok = !word.is_empty()
            && word != "-"
            && word.len() <= 64
            && word.chars().all(|c| c.is_ascii_graphic());
        if ok {
            Ok(Version(word.to_string()))
        } else {
            Err(format!("{} is not a version", quoted(word)))
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
// ANCHOR_END: version

// ANCHOR: response
/// The server's header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Header {
    /// The file is `size` bytes long and at `version`; `size - offset` bytes follow.
    File {
        size: u64,
        offset: u64,
        version: Version,
    },
    /// Listing lines follow, up to an `END` line.
    Listing,
    /// No file follows, and why.
    Refused(String),
}

impl Header {
    pub fn parse(line: &str) -> Result<Header, String> {
        if let Some(reason) = line.strip_prefix("ERR ") {
            return Ok(Header::Refused(reason.to_string()));
        }
        if line == "OK" {
            return Ok(Header::Listing);
        }
        let bad = || format!("not a response header: \"{}\"", printable(line));
        let fields: Vec<&str> = line
            .strip_prefix("OK ")
            .ok_or_else(bad)?
            .split(' ')
            .collect();
        let [size, offset, version] = fields[..] else {
            return Err(bad());
        };
        let (Ok(size), Ok(offset)) = (size.parse::<u64>(), offset.parse::<u64>()) else {
            return Err(bad());
        };
        if offset > size {
            return Err(bad());
        }
        let version = Version::parse(version)?;
        Ok(Header::File {
            size,
            offset,
            version,
        })
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Header::File {
                size,
                offset,
                version,
            } => write!(f, "OK {size} {offset} {version}"),
            Header::Listing => f.write_str("OK"),
            // A reason is one line: a newline in it would end the header early.
            Header::Refused(reason) => write!(f, "ERR {}", reason.replace(['\n', '\r'], " ")),
        }
    }
}

/// A line of a listing: a file, or the end, with the count the client must have seen (a
/// listing cut short is noticed, as a file cut short is) and why the server stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListLine {
    File { size: u64, name: String },
    End { count: u64, note: Option<String> },
}

impl ListLine {
    pub fn parse(line: &str) -> Result<ListLine, String> {
        let bad = || format!("not a listing line: \"{}\"", printable(line));
        if let Some(rest) = line.strip_prefix("END ") {
            let (count, note) = match rest.split_once(' ') {
                Some((count, note)) => (count, Some(note.to_string())),
                None => (rest, None),
            };
            let count = count.parse().map_err(|_| bad())?;
            return Ok(ListLine::End { count, note });
        }
        let (size, name) = line.split_once(' ').ok_or_else(bad)?;
        let size = size.parse().map_err(|_| bad())?;
        Ok(ListLine::File {
            size,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for ListLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListLine::File { size, name } => write!(f, "{size} {name}"),
            ListLine::End { count, note: None } => write!(f, "END {count}"),
            ListLine::End {
                count,
                note: Some(note),
            } => write!(f, "END {count} {}", note.replace(['\n', '\r'], " ")),
        }
    }
}
// ANCHOR_END: response

// ANCHOR: connection
/// One end of a connection that speaks this protocol. Lines are read through a buffer and
/// sent through another, each shown by `--hexdump`: the sequence "format, show, write" lives
/// here once (as in mini-redis's `Connection`).
pub struct Connection<'s> {
    stream: &'s TcpStream,
    reader: BufReader<Deadline<'s>>,
    writer: BufWriter<&'s TcpStream>,
    peer: SocketAddr,
    hexdump: Hexdump,
    /// The server's place for this client, if it can be given to a newcomer (see
    /// [`read_line_by`](Connection::read_line_by)).
    slot: Option<&'s Slot>,
}

impl<'s> Connection<'s> {
    // `Read` and `Write` are implemented for `&TcpStream`, not only for `TcpStream`: the socket's
    // state lives in the kernel, so reading and writing through shared references is safe, and
    // the reader, the writer and `sendfile` can all use the one stream.
    pub fn new(stream: &'s TcpStream, hexdump: Hexdump) -> io::Result<Connection<'s>> {
        Ok(Connection {
            stream,
            reader: BufReader::new(Deadline {
                stream,
                deadline: None,
            }),
            writer: BufWriter::new(stream),
            peer: stream.peer_addr()?,
            hexdump,
            slot: None,
        })
    }

    /// A server's connection, which holds `slot`: while a request is arriving, the place may
    /// be given to a newcomer; while it is answered, it is kept.
    pub fn holding(self, slot: &'s Slot) -> Connection<'s> {
        Connection {
            slot: Some(slot),
            ..self
        }
    }

    pub fn stream(&self) -> &'s TcpStream {
        self.stream
    }

    pub fn slot(&self) -> Option<&'s Slot> {
        self.slot
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Sends one line (a request, a header, a listing line) at once, whole.
    pub fn send(&mut self, line: impl fmt::Display) -> io::Result<()> {
        self.queue(line)?;
        self.writer.flush()
    }

    /// Adds one line to the buffer, sent when the buffer fills or with the next [`send`].
    ///
    /// [`send`]: Connection::send
    pub fn queue(&mut self, line: impl fmt::Display) -> io::Result<()> {
        let line = format!("{line}\n");
        self.hexdump.sent(self.peer, line.as_bytes());
        self.writer.write_all(line.as_bytes())
    }

    /// Reads one line, waiting for each piece of it at most the stream's read timeout.
    pub fn read_line(&mut self) -> Result<String, LineError> {
        let line = read_line(&mut self.reader)?;
        self.hexdump
            .received(self.peer, format!("{line}\n").as_bytes());
        Ok(line)
    }

    /// Reads one line that must be whole by `deadline`, however slowly its bytes come.
    /// The socket's own read timeout is put back afterwards: the deadline shortened it.
    /// A server's place ([`holding`](Connection::holding)) may go to a newcomer while the
    /// line arrives, and is kept once it has.
    pub fn read_line_by(&mut self, deadline: Instant) -> Result<String, LineError> {
        let timeout = self.stream.read_timeout().map_err(LineError::Io)?;
        if let Some(slot) = self.slot {
            slot.wait();
        }
        self.reader.get_mut().deadline = Some(deadline);
        let line = self.read_line();
        self.reader.get_mut().deadline = None;
        self.stream
            .set_read_timeout(timeout)
            .map_err(LineError::Io)?;
        match self.slot {
            // Closed to make room (or the line came just as it was): the connection ends.
            Some(slot) if !slot.keep() => Err(LineError::Io(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for a newcomer: its request had not come whole",
            ))),
            _ => line,
        }
    }

    /// The bytes that came with the header and wait in the read buffer, taken out of it: a
    /// copy that reads the socket itself (`splice`) must write these first.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let buffered = self.reader.buffer().to_vec();
        self.reader.consume(buffered.len());
        buffered
    }
}

/// The stream as the line reader sees it: before each read, the socket's read timeout is cut
/// to what is left until the deadline, so that a peer sending one byte at a time cannot make a
/// line last longer than that.
struct Deadline<'s> {
    stream: &'s TcpStream,
    deadline: Option<Instant>,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        let mut stream = self.stream;
        stream.read(buf)
    }
}
// ANCHOR_END: connection

/// Why a line could not be read.
#[derive(Debug)]
pub enum LineError {
    /// The peer closed the connection before sending a whole line (after this many bytes of
    /// one).
    Closed(usize),
    /// More than [`MAX_LINE`] bytes without a newline.
    TooLong,
    /// The line is not valid UTF-8 or contains control characters (NUL included).
    NotText,
    Io(io::Error),
}

impl LineError {
    /// As the error of a report: an I/O error as itself, once, with its hint. (As a
    /// `LineError` it was told twice, as the error and again as its source: `Connection reset
    /// by peer (os error 104): Connection reset by peer (os error 104)`.)
    pub fn into_report(self) -> anyhow::Error {
        match self {
            LineError::Io(e) => anyhow::Error::new(e),
            e => anyhow::Error::new(e),
        }
    }

    /// Whether the peer simply took too long (a read timeout, or the deadline).
    pub fn is_timeout(&self) -> bool {
        matches!(self, LineError::Io(e)
            if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Closed(0) => write!(f, "the connection closed before a line was sent"),
            LineError::Closed(n) => write!(
                f,
                "the connection closed after {} of a line",
                common::text::count(*n as u64, "byte", "bytes")
            ),
            LineError::TooLong => write!(f, "the line is longer than {MAX_LINE} bytes"),
            LineError::NotText => write!(
                f,
                "the line is not text (invalid UTF-8 or control characters)"
            ),
            LineError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LineError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads one line, without its `\n` (and `\r`), at most [`MAX_LINE`] bytes: a peer can make
/// the reader wait (a timeout bounds that), but not make it store an endless line.
pub fn read_line(reader: &mut impl BufRead) -> Result<String, LineError> {
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    let read = io::Read::take(&mut *reader, limit)
        .read_until(b'\n', &mut line)
        .map_err(LineError::Io)?;
    if line.last() != Some(&b'\n') {
        return Err(if read >= MAX_LINE {
            LineError::TooLong
        } else {
            LineError::Closed(read)
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let line = String::from_utf8(line).map_err(|_| LineError::NotText)?;
    if line.chars().any(char::is_control) {
        return Err(LineError::NotText);
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn a_line_read_by_a_deadline_leaves_the_read_timeout_as_it_was() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let timeout = Some(std::time::Duration::from_secs(30));
        server.set_read_timeout(timeout).unwrap();
        io::Write::write_all(&mut client, b"LIST\n").unwrap();
        let mut conn = Connection::new(&server, Hexdump::new(false)).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        assert_eq!(conn.read_line_by(deadline).unwrap(), "LIST");
        assert_eq!(server.read_timeout().unwrap(), timeout);
    }

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::List,
            Request::Get {
                offset: 0,
                version: None,
                name: "notes.txt".into(),
            },
            Request::Get {
                offset: 42,
                version: Some(Version::new(100, 1_719_999_999, 5)),
                name: "a dir/with spaces.bin".into(),
            },
        ] {
            assert_eq!(Request::parse(&r.to_string()), Ok(r));
        }
        assert_eq!(
            Version::new(200, 1_719_999_999, 123).to_string(),
            "200-1719999999.000000123"
        );
    }

    #[test]
    fn rejects_bad_requests_with_a_reason() {
        for bad in [
            "",
            "get 0 - x",
            "GET",
            "GET 0",
            "GET 0 -",
            "GET 0 - ",
            "GET 0 x",
            "GET -1 - x",
            "GET x - y",
            "LIST please",
            "GET 99999999999999999999 - x",
        ] {
            assert!(Request::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn headers_round_trip_and_reject_nonsense() {
        for h in [
            Header::File {
                size: 10,
                offset: 0,
                version: v("10-1.0"),
            },
            Header::File {
                size: 10,
                offset: 10,
                version: v("x"),
            },
            Header::Listing,
            Header::Refused("no such file".into()),
        ] {
            assert_eq!(Header::parse(&h.to_string()), Ok(h));
        }
        for bad in [
            "OK 1",
            "OK 1 0",
            "OK 1 2 3 4",
            "OK 5 9 v",
            "OK x 0 v",
            "OK 5 0 -",
            "HTTP/1.1 200 OK",
            "OK -1 0 v",
            "",
        ] {
            assert!(Header::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Header::Refused("a\nb".into()).to_string(), "ERR a b");
    }

    #[test]
    fn listing_lines_round_trip() {
        for l in [
            ListLine::File {
                size: 3,
                name: "a b.txt".into(),
            },
            ListLine::End {
                count: 3,
                note: None,
            },
            ListLine::End {
                count: 1000,
                note: Some("stopped at 1000".into()),
            },
        ] {
            assert_eq!(ListLine::parse(&l.to_string()), Ok(l));
        }
        for bad in ["", "x y", "END", "END x", "12"] {
            assert!(ListLine::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_lines_within_the_limit() {
        let mut input: &[u8] = b"GET 0 - a\r\nLIST\n";
        assert_eq!(read_line(&mut input).unwrap(), "GET 0 - a");
        assert_eq!(read_line(&mut input).unwrap(), "LIST");
        assert!(matches!(read_line(&mut input), Err(LineError::Closed(0))));
        let mut half: &[u8] = b"GET 0";
        assert!(matches!(read_line(&mut half), Err(LineError::Closed(5))));
        let long = vec![b'x'; MAX_LINE + 10];
        assert!(matches!(read_line(&mut &long[..]), Err(LineError::TooLong)));
        let mut exact = vec![b'x'; MAX_LINE - 1];
        exact.push(b'\n');
        assert_eq!(read_line(&mut &exact[..]).unwrap().len(), MAX_LINE - 1);
        for bad in [
            &b"GET 0 - a\0b\n"[..],
            b"GET 0 - \xff\n",
            b"GET 0 - \x1b[2J\n",
        ] {
            assert!(
                matches!(read_line(&mut &bad[..]), Err(LineError::NotText)),
                "{bad:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn parsing_any_line_never_panics(line in "\\PC{0,64}") {
            let _ = Request::parse(&line);
            let _ = Header::parse(&line);
            let _ = ListLine::parse(&line);
        }

        #[test]
        fn reading_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let _ = read_line(&mut &bytes[..]);
        }
    }
}
