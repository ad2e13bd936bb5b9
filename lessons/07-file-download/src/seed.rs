//! The seed's protocol, kept so that the lesson and the seed's Python programs can talk: the
//! client sends the bare name, the server sends the file's bytes and closes. There is no size
//! and no way to say "no such file"; the chapter shows what that costs.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;

use anyhow::bail;
use common::outln;
use common::size::amount;
use common::text::count;

use crate::part::{self, Part};
use crate::protocol::Connection;
use crate::server::{Server, is_stall};

// ANCHOR: serve_seed
/// One read for the name (the seed's `recv(1024)`), then the file's bytes, then close. A
/// refused or missing file gets nothing at all: the protocol has no way to say why.
pub fn serve_client(server: &Server, mut stream: &TcpStream) -> anyhow::Result<()> {
    let peer = stream.peer_addr()?;
    // One read: its timeout bounds the whole request.
    stream.set_read_timeout(Some(server.args.request_timeout))?;
    let mut buf = [0u8; 1024];
    let len = match stream.read(&mut buf) {
        Ok(len) => len,
        Err(e) if is_stall(&e) => {
            let line = format_args!("{peer} timed out: no name within --request-timeout; closing");
            common::connlog::refused(peer, line);
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    // `read` never returns more than the buffer holds; if it did, that is a bug to report,
    // not an empty name to look up.
    let Some(name) = buf.get(..len) else {
        bail!("read returned {len} bytes into a buffer of {}", buf.len());
    };
    let name = String::from_utf8_lossy(name);
    let name = name.trim_end_matches(['\r', '\n']);
    let shown = crate::protocol::quoted(name);
    let file = match server.root.open(name) {
        Ok(file) => file,
        Err(refusal) => {
            let line =
                format_args!("refused {peer}: {shown}: {refusal} (seed protocol: sent nothing)");
            common::connlog::request(peer, line);
            return Ok(());
        }
    };
    let size = file.metadata()?.len();
    // The same sendfile, with the same limits on a slow reader, as the framed protocol's.
    match server.send_file(&file, stream, 0, size, None) {
        Ok(sent) => {
            let sent = count(sent, "byte", "bytes");
            // Within the address's share of request lines, as the framed protocol's.
            common::connlog::request(
                peer,
                format_args!("sent {shown} to {peer}: {sent} (seed protocol)"),
            );
            Ok(())
        }
        Err(cut) => Ok(server.cut(&Connection::new(stream, server.hexdump)?, cut)?),
    }
}
// ANCHOR_END: serve_seed

// ANCHOR: get_seed
/// Sends the bare name, and takes every byte until the server closes, or until the download
/// reaches its limit (the disk's room, `--max-size`): a server that never stops cannot fill
/// the disk. Nothing can be resumed in this protocol, so a failed download leaves no `.part`.
pub fn get(mut stream: TcpStream, name: &str, target: &Path, mut part: Part) -> anyhow::Result<()> {
    stream.write_all(name.as_bytes())?;
    let limit = part.limit()?;
    let file = part.begin(0, None)?;
    // One byte past the limit tells "exactly the limit" from "more than the limit".
    let received = match io::copy(&mut (&stream).take(limit.saturating_add(1)), file) {
        Ok(received) => received,
        Err(e) if part::is_disk_full(&e) => return crate::client::disk_full(part, e),
        Err(e) => {
            part.discard()?;
            bail!("the transfer failed: {e}; the seed's protocol cannot resume, so nothing is kept")
        }
    };
    if received > limit {
        part.discard()?;
        bail!(
            "the server sent more than {}, the most this download may write (--max-size, or \
             the disk's free space less a margin): stopped, and kept nothing",
            amount(limit)
        );
    }
    if received == 0 {
        part.discard()?;
        bail!(
            "no file downloaded: in the seed's protocol, a missing file and an empty one look the same"
        );
    }
    part.finish(target)?;
    outln!(
        "downloaded {name:?} to {}: {} (seed protocol: no size was sent, so a cut transfer would look complete)",
        target.display(),
        count(received, "byte", "bytes")
    );
    Ok(())
}
// ANCHOR_END: get_seed
