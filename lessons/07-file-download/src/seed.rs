//! The seed's protocol, kept so that the lesson and the seed's Python programs can talk: the
//! client sends the bare name, the server sends the file's bytes and closes. There is no size
//! and no way to say "no such file"; the chapter shows what that costs.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use common::text::count;

use crate::part::Part;
use common::Root;

// ANCHOR: serve_seed
/// One read for the name (the seed's `recv(1024)`), then the file's bytes, then close. A
/// refused or missing file gets nothing at all: the protocol has no way to say why.
pub fn serve_client(mut stream: &TcpStream, root: &Root, timeout: Duration) -> anyhow::Result<()> {
    let peer = stream.peer_addr()?;
    // One read: its timeout bounds the whole request.
    stream.set_read_timeout(Some(timeout))?;
    let mut buf = [0u8; 1024];
    let len = match stream.read(&mut buf) {
        Ok(len) => len,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            println!("{peer} timed out: no name within --timeout; closing");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let name = String::from_utf8_lossy(buf.get(..len).unwrap_or_default());
    let name = name.trim_end_matches(['\r', '\n']);
    match root.open(name) {
        Ok(mut file) => {
            let sent = io::copy(&mut file, &mut stream)?;
            let sent = count(sent, "byte", "bytes");
            println!("sent {name:?} to {peer}: {sent} (seed protocol)");
        }
        Err(refusal) => {
            println!("refused {peer}: {name:?}: {refusal} (seed protocol: sent nothing)")
        }
    }
    Ok(())
}
// ANCHOR_END: serve_seed

/// Sends the bare name, and takes every byte until the server closes.
pub fn get(mut stream: TcpStream, name: &str, target: &Path, mut part: Part) -> anyhow::Result<()> {
    stream.write_all(name.as_bytes())?;
    let kept = part.kept();
    let file = part.begin(0, None)?;
    let received = io::copy(&mut stream, file).context(kept)?;
    if received == 0 {
        part.discard()?;
        bail!(
            "no file downloaded: in the seed's protocol, a missing file and an empty one look the same"
        );
    }
    part.finish(target)?;
    println!(
        "downloaded {name:?} to {}: {} (seed protocol: no size was sent, so a cut transfer would look complete)",
        target.display(),
        count(received, "byte", "bytes")
    );
    Ok(())
}
