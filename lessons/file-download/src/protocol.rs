//! The download protocol: one request line, one response header line, then the bytes.
//!
//! A TCP connection is a byte stream without boundaries, so the protocol makes its own: every
//! header is one line of text ending in `\n`, and the header says how many bytes follow.
//!
//! ```text
//! client -> server   GET <offset> <name>\n      the file from byte <offset> on
//!                    LIST\n                     the files offered
//! server -> client   OK <size> <offset>\n       then size - offset bytes of the file
//!                    OK <count>\n               then <count> lines "<size> <name>\n" (LIST)
//!                    ERR <reason>\n             and the server closes
//! ```
//!
//! Text, so that a student can speak it with `nc`:
//! `printf 'GET 0 notes.txt\n' | nc 127.0.0.1 6664`.

use std::fmt;
use std::io::{self, BufRead};

/// The longest request or header line, newline included. A peer that sends more without a
/// newline is not speaking this protocol.
pub const MAX_LINE: usize = 4096;

// ANCHOR: request
/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A file, from byte `offset` on (0 for all of it; more to resume a download).
    Get { offset: u64, name: String },
    /// The names and sizes of the files offered.
    List,
}

impl Request {
    pub fn parse(line: &str) -> Result<Request, String> {
        if line == "LIST" {
            return Ok(Request::List);
        }
        let Some(rest) = line.strip_prefix("GET ") else {
            return Err("expected GET <offset> <name> or LIST".into());
        };
        let (offset, name) = rest.split_once(' ').ok_or("expected GET <offset> <name>")?;
        let offset = offset
            .parse()
            .map_err(|_| format!("{offset:?} is not an offset (a number of bytes)"))?;
        if name.is_empty() {
            return Err("the file name is empty".into());
        }
        Ok(Request::Get {
            offset,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Get { offset, name } => write!(f, "GET {offset} {name}"),
            Request::List => f.write_str("LIST"),
        }
    }
}
// ANCHOR_END: request

// ANCHOR: response
/// The server's header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Header {
    /// The file is `size` bytes long; `size - offset` bytes follow.
    File { size: u64, offset: u64 },
    /// `count` lines of the listing follow.
    Listing { count: u64 },
    /// No file follows, and why.
    Refused(String),
}

impl Header {
    pub fn parse(line: &str) -> Result<Header, String> {
        if let Some(reason) = line.strip_prefix("ERR ") {
            return Ok(Header::Refused(reason.to_string()));
        }
        let Some(rest) = line.strip_prefix("OK ") else {
            return Err(format!("not a response header: {line:?}"));
        };
        let numbers = rest
            .split(' ')
            .map(str::parse)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| format!("not a response header: {line:?}"))?;
        match numbers[..] {
            [size, offset] if offset <= size => Ok(Header::File { size, offset }),
            [count] => Ok(Header::Listing { count }),
            _ => Err(format!("not a response header: {line:?}")),
        }
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Header::File { size, offset } => write!(f, "OK {size} {offset}"),
            Header::Listing { count } => write!(f, "OK {count}"),
            // A reason is one line: a newline in it would end the header early.
            Header::Refused(reason) => write!(f, "ERR {}", reason.replace(['\n', '\r'], " ")),
        }
    }
}
// ANCHOR_END: response

/// Why a line could not be read.
#[derive(Debug)]
pub enum LineError {
    /// The peer closed the connection before sending a whole line (`Some(bytes)` if it sent
    /// part of one).
    Closed(usize),
    /// More than [`MAX_LINE`] bytes without a newline.
    TooLong,
    /// The line is not valid UTF-8 or contains control characters (NUL included).
    NotText,
    Io(io::Error),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Closed(0) => write!(f, "the connection closed before a line was sent"),
            LineError::Closed(n) => write!(f, "the connection closed after {n} bytes of a line"),
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
/// the reader wait (a read timeout bounds that), but not make it store an endless line.
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

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::List,
            Request::Get {
                offset: 0,
                name: "notes.txt".into(),
            },
            Request::Get {
                offset: 42,
                name: "a dir/with spaces.bin".into(),
            },
        ] {
            assert_eq!(Request::parse(&r.to_string()), Ok(r));
        }
    }

    #[test]
    fn rejects_bad_requests_with_a_reason() {
        for bad in [
            "",
            "get 0 x",
            "GET",
            "GET 0",
            "GET 0 ",
            "GET -1 x",
            "GET x y",
            "LIST please",
            "GET 99999999999999999999 x",
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
            },
            Header::File {
                size: 10,
                offset: 10,
            },
            Header::Listing { count: 3 },
            Header::Refused("no such file".into()),
        ] {
            assert_eq!(Header::parse(&h.to_string()), Ok(h));
        }
        for bad in [
            "OK",
            "OK 1 2 3",
            "OK 5 9",
            "OK x",
            "HTTP/1.1 200 OK",
            "OK -1 0",
            "",
        ] {
            assert!(Header::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Header::Refused("a\nb".into()).to_string(), "ERR a b");
    }

    #[test]
    fn reads_lines_within_the_limit() {
        let mut input: &[u8] = b"GET 0 a\r\nLIST\n";
        assert_eq!(read_line(&mut input).unwrap(), "GET 0 a");
        assert_eq!(read_line(&mut input).unwrap(), "LIST");
        assert!(matches!(read_line(&mut input), Err(LineError::Closed(0))));
        let mut half: &[u8] = b"GET 0";
        assert!(matches!(read_line(&mut half), Err(LineError::Closed(5))));
        let long = vec![b'x'; MAX_LINE + 10];
        assert!(matches!(read_line(&mut &long[..]), Err(LineError::TooLong)));
        let mut exact = vec![b'x'; MAX_LINE - 1];
        exact.push(b'\n');
        assert_eq!(read_line(&mut &exact[..]).unwrap().len(), MAX_LINE - 1);
        for bad in [&b"GET 0 a\0b\n"[..], b"GET 0 \xff\n", b"GET 0 \x1b[2J\n"] {
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
        }

        #[test]
        fn reading_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let _ = read_line(&mut &bytes[..]);
        }
    }
}
