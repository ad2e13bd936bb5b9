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

/// The seed's Python programs and the lessons on the same wire, in both roles.
pub fn udp_seed(s: &mut Scene, bins: &Bins) -> Result<(), Failure> {
    // The lesson's server, the seed's client.
    let mut server = bins.command("udp-server");
    server.args(["--port", "0"]);
    let server = s.spawn("server", server)?;
    let addr = s.ready(server)?;
    let mut seed = bins.seed("udp_client.py");
    seed.arg(addr.ip().to_string()).arg(addr.port().to_string());
    let seed = s.spawn("seed-client", seed)?;
    s.send_line(seed, "你好, seed")?;
    s.expect(server, "received 12 bytes from 127.0.0.1:")?;
    s.expect(seed, &format!("('127.0.0.1', {})", addr.port()))?;
    let echoed = s.expect(seed, "seed")?;
    check(s, echoed == "你好, seed", &echoed)?;
    s.wait_success(seed)?;
    s.kill(server)?;

    // The seed's server, the lesson's client.
    let seed = s.spawn("seed-server", bins.seed("udp_server.py"))?;
    let addr = s.ready(seed)?;
    let mut client = bins.command("udp-client");
    client
        .arg(addr.to_string())
        .args(["--bind", "127.0.0.1:0", "--timeout", "10"]);
    let client = s.spawn("client", client)?;
    s.ready(client)?;
    s.send_line(client, "hello, seed")?;
    s.expect(seed, "hello, seed")?;
    s.send_line(seed, "欢迎")?;
    let got = s.expect(client, "received")?;
    check(s, got == format!("received 6 bytes from {addr}: 欢迎"), &got)?;
    s.close_stdin(client)?;
    s.wait_success(client)?;
    s.kill(seed)
}

fn check(s: &Scene, ok: bool, line: &str) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(s.fail(format!("unexpected line: {line:?}")))
    }
}
