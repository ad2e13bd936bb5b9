//! One scenario per pair: the same run is a demo (printed live) and an e2e check (asserted).
//!
//! Each step waits for a line the lesson prints, never for a fixed time, and every wait has
//! the scene's timeout, so a hang fails the pair instead of blocking.

use testkit::{Failure, Scene};

use crate::manifest::Bins;

pub fn udp(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    let mut server = bins.command("udp-server");
    server.args(["--port", "0"]);
    let server = s.spawn("server", server)?;
    let addr = s.ready(server)?;

    let mut client = bins.command("udp-client");
    client.arg(addr.to_string()).args(["--bind", "127.0.0.1:0"]);
    let client = s.spawn("client", client)?;
    let local = s.ready(client)?;

    for (line, bytes) in [("hello", 5), ("你好", 6), ("", 0)] {
        s.send_line(client, line)?;
        let got = s.expect(server, "received")?;
        check(
            s,
            got.starts_with(&format!("received {bytes} bytes from {local}")),
            &got,
        )?;
        let got = s.expect(client, "received")?;
        let want = match line {
            "" => format!("received 0 bytes from {addr} (an empty datagram)"),
            _ => format!("received {bytes} bytes from {addr}: {line}"),
        };
        check(s, got == want, &got)?;
    }
    s.close_stdin(client)?;
    s.wait_success(client)?;
    s.kill(server)
}

fn check(s: &Scene, ok: bool, line: &str) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(s.fail(format!("unexpected line: {line:?}")))
    }
}
