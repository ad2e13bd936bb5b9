//! Step 3: a datagram longer than the buffer is cut, and the server says so.
//!
//! Terminal 1:  cargo run -p udp-server --example step3-truncation -- --buffer 4
//! Terminal 2:  printf 0123456789 | nc -u -w1 127.0.0.1 8080
//!
//! Step 2 with `--buffer N` (the seed's `recvfrom(1024)` is N = 1024), and the receive
//! through `common::datagram::recv`: `recvmsg` with `MSG_TRUNC`, which returns the
//! datagram's real length beside what fit in the buffer. std's `recv_from` returns only
//! what fit, so a cut datagram looks whole.

use std::net::UdpSocket;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::datagram;
use common::{BindArgs, CannotBind, Encoding, Proto, text};

/// Step 3 of the UDP server: truncation seen and reported.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    bind: BindArgs<8080>,

    /// Receive buffer in bytes; a longer datagram is cut to it.
    #[arg(long, value_name = "N", default_value_t = 65535,
          value_parser = clap::value_parser!(u16).range(1..))]
    buffer: u16,

    /// How text is turned into bytes and back.
    #[arg(long, value_enum, ignore_case = true, default_value_t)]
    encoding: Encoding,
}

fn main() -> ExitCode {
    common::run(serve)
}

fn serve(args: Args) -> anyhow::Result<()> {
    let local = args.bind.local_addr()?;
    let socket = UdpSocket::bind(local).with_context(|| CannotBind::new(local, Proto::Udp))?;
    common::announce_listening(socket.local_addr()?, Proto::Udp);

    let mut buf = vec![0u8; usize::from(args.buffer)];
    loop {
        // ANCHOR: recv
        let got = datagram::recv(&socket, &mut buf).context("recvfrom failed")?;
        let (peer, data) = (got.from, &buf[..got.copied]);
        let size = text::count(got.len as u64, "byte", "bytes");
        println!(
            "received {size} from {peer}: {}",
            text::show(data, args.encoding)
        );
        if got.is_cut() {
            let lost = text::count((got.len - got.copied) as u64, "byte", "bytes");
            println!("  (cut: the buffer holds {}; {lost} lost)", got.copied);
        }
        // ANCHOR_END: recv
        let sent = socket.send_to(data, peer).context("sendto failed")?;
        println!(
            "sent {} to {peer}",
            text::count(sent as u64, "byte", "bytes")
        );
    }
}
