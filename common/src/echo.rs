//! The flags of the three echo servers (tcp-server, tcp-poll, tcp-async), written once.

use std::time::Duration;

use clap::Args;

use crate::{BindArgs, Encoding};

/// The seed's port for its TCP echo server.
pub const ECHO_PORT: u16 = 10050;

/// What every echo server is told on its command line.
#[derive(Args, Debug, Clone)]
pub struct EchoArgs {
    #[command(flatten)]
    pub bind: BindArgs<ECHO_PORT>,

    /// Length of the queue of connections that completed the handshake but were not yet
    /// accepted: listen(backlog). The kernel caps it at net.core.somaxconn.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub backlog: u32,

    /// Most clients served at once; one more is accepted, told why, and closed.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_clients: usize,

    /// Most clients served at once from one address (one IPv6 /64); a class behind one
    /// NAT still fits.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_per_address: usize,

    /// Close a client that sends nothing, or reads none of its echo, for SECS seconds.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = crate::seconds)]
    pub idle_timeout: Duration,

    /// Print nothing per connection: no accepts, chunks, refusals or closes (for benchmarks,
    /// and wherever nobody reads the log).
    #[arg(long)]
    pub quiet: bool,

    /// How received bytes are shown as text (the echo itself is byte for byte).
    #[arg(long, value_enum, ignore_case = true, default_value_t)]
    pub encoding: Encoding,

    /// Show every chunk's bytes on stderr.
    #[arg(long)]
    pub hexdump: bool,
}

impl EchoArgs {
    /// The backlog as `listen(2)` takes it.
    pub fn backlog(&self) -> i32 {
        i32::try_from(self.backlog).unwrap_or(i32::MAX)
    }
}
