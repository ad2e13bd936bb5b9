//! What the server answers about a file: its validators (`ETag`, `Last-Modified`), the
//! conditional requests they answer (`If-None-Match`, `If-Range`), the one byte range of a
//! `Range` header, and the HTML page that lists a directory.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use common::root::{Entry, FileInfo};
use common::text::printable;

use crate::request::percent_encode;

// ANCHOR: validators
/// What a client may remember about a file to ask "has it changed?": file-download's
/// version (size and modification time, to the nanosecond) as a strong `ETag`, and the
/// modification time to the second as `Last-Modified`.
pub struct Validators {
    pub etag: String,
    pub last_modified: String,
}

impl Validators {
    pub fn of(info: &FileInfo) -> Validators {
        let etag = format!("\"{}-{}.{:09}\"", info.size, info.mtime, info.mtime_nsec);
        let modified = u64::try_from(info.mtime)
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap_or(UNIX_EPOCH);
        Validators {
            etag,
            last_modified: httpdate::fmt_http_date(modified),
        }
    }

    /// `If-None-Match: "a", W/"b"` or `*`: does the client have this very version? (The weak
    /// comparison: `W/` is ignored, as RFC 9110 says for this header.)
    pub fn none_match(&self, header: &str) -> bool {
        header.trim() == "*"
            || header
                .split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == self.etag)
    }

    /// `If-Range`: send only the range if the client's copy is still this version (an ETag,
    /// compared strongly, or exactly this Last-Modified date); otherwise all of the file.
    pub fn if_range(&self, header: &str) -> bool {
        let header = header.trim();
        if header.starts_with('"') {
            header == self.etag
        } else {
            header == self.last_modified
        }
    }
}
// ANCHOR_END: validators

// ANCHOR: range
/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Range {
    /// Bytes `start..=end`: answered 206 with `Content-Range`.
    Part { start: u64, end: u64 },
    /// Nothing of the file: answered 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
    /// A header this server does not act on (another unit, several ranges, bad syntax):
    /// the whole file, 200, as RFC 9110 allows.
    Ignored,
}

/// `bytes=0-99` (the first 100 bytes), `bytes=100-` (from byte 100 on), `bytes=-100` (the
/// last 100 bytes); `end` past the end of the file means up to the end.
pub fn range(header: &str, size: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Range::Ignored;
    };
    if spec.contains(',') {
        return Range::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Ignored;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => return Range::Unsatisfiable,
            Some(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            None => return Range::Ignored,
        },
        (start, "") => match number(start) {
            Some(start) => (start, size.saturating_sub(1)),
            None => return Range::Ignored,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start <= end => (start, end.min(size.saturating_sub(1))),
            _ => return Range::Ignored,
        },
    };
    if start >= size {
        return Range::Unsatisfiable;
    }
    Range::Part { start, end }
}
// ANCHOR_END: range

/// `text/html; charset=utf-8` for `index.html`, `image/png` for a PNG...: from the name's
/// extension alone, as every web server does; unknown ones are `application/octet-stream`.
pub fn content_type(name: &str) -> String {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    if mime.type_() == "text" || mime.subtype() == "javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

// ANCHOR: listing
/// The page that lists a directory: one link per entry, directories first, names escaped so
/// that a file named `<script>` is shown and not run, and shown as the log shows them
/// (`printable`), so that `abc\u{202e}txt.exe` does not read `abcexe.txt`.
pub fn listing(path: &str, mut entries: Vec<Entry>, truncated: bool) -> String {
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let title = html_escape(&printable(path));
    let mut page = format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body>\n<h1>Index of {title}</h1>\n<ul>\n"
    );
    if path != "/" {
        page.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for entry in &entries {
        let slash = if entry.is_dir { "/" } else { "" };
        let href = html_escape(&percent_encode(&entry.name));
        let name = html_escape(&printable(&entry.name));
        let _ = write!(page, "<li><a href=\"{href}{slash}\">{name}{slash}</a>");
        if !entry.is_dir {
            let _ = write!(page, " {} bytes", entry.size);
        }
        page.push_str("</li>\n");
    }
    page.push_str("</ul>\n");
    if truncated {
        // Cut at the entries shown or at those examined (links and all): the page cannot
        // say which were left out, only that some were.
        page.push_str("<p>The directory holds more entries than this page lists.</p>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}
// ANCHOR_END: listing

pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_curl_and_browsers_send_them() {
        let part = |start, end| Range::Part { start, end };
        for (header, want) in [
            ("bytes=0-99", part(0, 99)),
            ("bytes=100-", part(100, 999)),
            ("bytes=-100", part(900, 999)),
            ("bytes=-5000", part(0, 999)),
            ("bytes=990-5000", part(990, 999)),
            ("bytes=999-999", part(999, 999)),
            ("bytes=1000-", Range::Unsatisfiable),
            ("bytes=1000-2000", Range::Unsatisfiable),
            ("bytes=-0", Range::Unsatisfiable),
            ("bytes=5-4", Range::Ignored),
            ("bytes=0-1,5-6", Range::Ignored),
            ("items=0-1", Range::Ignored),
            ("bytes=a-b", Range::Ignored),
            ("bytes=-", Range::Ignored),
            ("bytes=+1-2", Range::Ignored),
            ("bytes=99999999999999999999999-", Range::Ignored),
        ] {
            assert_eq!(range(header, 1000), want, "{header}");
        }
        assert_eq!(range("bytes=0-", 0), Range::Unsatisfiable);
    }

    #[test]
    fn validators_compare_as_rfc_9110_says() {
        let v = Validators::of(&FileInfo {
            size: 5,
            mtime: 1,
            mtime_nsec: 2,
        });
        assert_eq!(v.etag, "\"5-1.000000002\"");
        assert!(v.none_match("\"5-1.000000002\""));
        assert!(v.none_match("\"x\", W/\"5-1.000000002\""));
        assert!(v.none_match("*"));
        assert!(!v.none_match("\"5-1.000000003\""));
        assert!(v.if_range("\"5-1.000000002\""));
        assert!(!v.if_range("W/\"5-1.000000002\""));
        assert!(v.if_range("Thu, 01 Jan 1970 00:00:01 GMT"));
        assert!(!v.if_range("Thu, 01 Jan 1970 00:00:02 GMT"));
    }

    #[test]
    fn a_listing_escapes_names_and_links() {
        let entries = vec![
            Entry {
                name: "<b>&'\".txt".into(),
                is_dir: false,
                size: 7,
            },
            Entry {
                name: "sub dir".into(),
                is_dir: true,
                size: 0,
            },
        ];
        let page = listing("/a<b>/", entries, false);
        assert!(
            page.contains("<title>Index of /a&lt;b&gt;/</title>"),
            "{page}"
        );
        assert!(
            page.contains("<li><a href=\"sub%20dir/\">sub dir/</a></li>"),
            "{page}"
        );
        assert!(
            page.contains(
                "<a href=\"%3Cb%3E%26%27%22.txt\">&lt;b&gt;&amp;&#39;&quot;.txt</a> 7 bytes"
            ),
            "{page}"
        );
        assert!(!page.contains("<b>"));
    }

    #[test]
    fn content_types_come_from_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a.png"), "image/png");
        assert_eq!(content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
