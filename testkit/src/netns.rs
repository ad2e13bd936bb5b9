//! A private network namespace for the tests that need a LAN: broadcast and multicast.
//!
//! [`Netns::new`] makes a namespace with a veth pair whose first end has `10.N.M.1/24` (a
//! private address that exists only inside the namespace) and the multicast route, removed
//! again on drop. Making one
//! needs root (CI runs as root); without it, `new` says why, and the test skips with a
//! message. Nothing a test does in it can reach a real network.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// A network namespace with one /24 on a veth pair; deleted on drop.
pub struct Netns {
    name: String,
    /// The namespace's own address, `10.N.M.1`.
    pub addr: Ipv4Addr,
    /// The directed broadcast address of its /24, `10.N.M.255`.
    pub broadcast: Ipv4Addr,
}

impl Netns {
    /// A namespace named after `tag` and this process; `Err` says why there is none.
    pub fn new(tag: &str) -> Result<Netns, String> {
        let pid = std::process::id();
        let name = format!("sl-{tag}-{pid}");
        let [_, _, n, m] = pid.to_be_bytes();
        let net = Ipv4Addr::new(10, n, m, 0).octets();
        let addr = Ipv4Addr::new(10, net[1], net[2], 1);
        let broadcast = Ipv4Addr::new(10, net[1], net[2], 255);
        ip(&["netns", "add", &name])?;
        let ns = Netns {
            name,
            addr,
            broadcast,
        };
        let (veth, peer) = (format!("v{m}a"), format!("v{m}b"));
        ns.ip(&["link", "set", "lo", "up"])?;
        ns.ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])?;
        ns.ip(&[
            "addr",
            "add",
            &format!("{addr}/24"),
            "brd",
            "+",
            "dev",
            &veth,
        ])?;
        ns.ip(&["link", "set", &veth, "up"])?;
        ns.ip(&["link", "set", &peer, "up"])?;
        // Multicast goes out of the veth, as it would out of a LAN's interface.
        ns.ip(&["route", "add", "224.0.0.0/4", "dev", &veth])?;
        Ok(ns)
    }

    /// `cmd`, to be run inside the namespace (`ip netns exec NAME cmd...`).
    pub fn exec(&self, cmd: &Command) -> Command {
        let mut inside = Command::new("ip");
        inside
            .args(["netns", "exec", &self.name])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        inside
    }

    /// Gives the namespace's loopback one more IPv6 address of a /64 (`2001:db8::2`): a
    /// machine of the same LAN, as far as addresses go.
    pub fn add_v6(&self, addr: &str) -> Result<(), String> {
        let cidr = format!("{addr}/64");
        self.ip(&["-6", "addr", "add", &cidr, "dev", "lo", "nodad"])
    }

    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed (a network namespace needs root): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
