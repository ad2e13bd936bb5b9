//! Step 2: flags, errors with hints, an echo, and text shown safely.
//!
//! Terminal 1:  cargo run -p udp-server --example step2-flags -- --port 8080
//! Terminal 2:  python3 xtask/peers/udp_client.py 127.0.0.1 8080
//!
//! What step 1 did, with the lesson's conventions: `--bind` and `--port` (clap, through
//! `common::BindArgs`), an error that says what failed and a hint (`common::run`), the ready
//! line, every datagram echoed to its sender, and its text printed escaped in the chosen
//! `--encoding`.

// ANCHOR: all
use std::net::UdpSocket;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::{BindArgs, CannotBind, Encoding, Proto, text};

/// Step 2 of the UDP server: flags, hints, an echo.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    bind: BindArgs<8080>,

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

    let mut buf = vec![0u8; 65535];
    loop {
        let (len, peer) = socket.recv_from(&mut buf).context("recvfrom failed")?;
        let data = &buf[..len];
        let size = text::count(len as u64, "byte", "bytes");
        println!(
            "received {size} from {peer}: {}",
            text::show(data, args.encoding)
        );
        let sent = socket.send_to(data, peer).context("sendto failed")?;
        println!(
            "sent {} to {peer}",
            text::count(sent as u64, "byte", "bytes")
        );
    }
}
// ANCHOR_END: all
