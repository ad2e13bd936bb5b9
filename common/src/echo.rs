//! The flags of the three echo servers (tcp-server, tcp-poll, tcp-async), written once.

use std::time::Duration;

use clap::Args;
use rustix::process::{Resource, getrlimit};

use crate::{BindArgs, Encoding};

/// The seed's port for its TCP echo server.
pub const ECHO_PORT: u16 = 10050;

/// Descriptors an echo server keeps for itself beside its clients' sockets: standard input,
/// output and error, the listener, the spare, the log's, epoll's and the runtime's (about
/// ten), with room to spare.
pub const OWN_DESCRIPTORS: u64 = 32;

/// What every echo server is told on its command line.
#[derive(Args, Debug, Clone)]
pub struct EchoArgs {
    #[command(flatten)]
    pub bind: BindArgs<ECHO_PORT>,

    /// Length of the queue of connections that completed the handshake but were not yet
    /// accepted: listen(backlog). The kernel caps it at net.core.somaxconn.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub backlog: u32,

    /// Most clients served at once; past it, the client idle longest makes room for a new one.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_clients: usize,

    /// Most clients served at once from one address; a class behind one NAT still fits.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_per_address: usize,

    /// Close a client that sends nothing, or reads none of its echo, for SECS seconds.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = crate::seconds)]
    pub idle_timeout: Duration,

    /// Kernel buffer of each client's socket, each way (SO_SNDBUF and SO_RCVBUF; Linux
    /// doubles it for its bookkeeping). A client that sends and never reads keeps them full;
    /// 0 lets Linux grow them (the send buffer to 4 MiB).
    #[arg(long, value_name = "BYTES", default_value = "64K", value_parser = crate::size::parse_size)]
    pub socket_buffer: u64,

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
    /// Raises the open-file limit ([`crate::fdlimit::raise_and_log`]) and returns how many
    /// clients the server can hold at once: `--max-clients`, or fewer if the limit leaves
    /// room for fewer, said in the log. Past that many, the client idle longest makes room
    /// for a newcomer; were the descriptors to run out first, `accept` would fail (EMFILE)
    /// and the newcomer would be refused instead: under `ulimit -n 1024`, 16 addresses × 64
    /// idle connections took every descriptor, and no newcomer was served.
    ///
    /// A limit under twice [`OWN_DESCRIPTORS`] (a test's `ulimit -n 24`) is too small to
    /// share out: the server serves until EMFILE, and refuses with its spare descriptor.
    pub fn raise_fd_limit(&self) -> usize {
        crate::fdlimit::raise_and_log();
        let limit = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        if limit < 2 * OWN_DESCRIPTORS {
            return self.max_clients;
        }
        let room = usize::try_from(limit - OWN_DESCRIPTORS).unwrap_or(usize::MAX);
        if room >= self.max_clients {
            return self.max_clients;
        }
        crate::logln!(
            "open-file limit {limit}: room for {room} clients at once, not {} (--max-clients)",
            self.max_clients
        );
        room
    }

    /// The size to set with SO_SNDBUF and SO_RCVBUF on the listening socket, whose accepted
    /// sockets inherit it; `None` for `--socket-buffer 0`, Linux's own sizing.
    ///
    /// Linux grows a TCP socket's send buffer up to 4 MiB (the third number of
    /// `net.ipv4.tcp_wmem`) while the peer does not read: a client that sent and never read
    /// its echo left about 4.3 MB of the server machine's memory in its socket, and 64 of
    /// them, one address's share, 275 MB; the whole machine's TCP stops growing buffers at
    /// `net.ipv4.tcp_mem` (on a 24 GiB machine, pressure at 1.5 GB), for every program. An
    /// echo needs no more than a few round trips' worth: 64 KiB each way (128 KiB as Linux
    /// counts) bounds 4,096 clients to about 1 GB.
    pub fn socket_buffer(&self) -> Option<usize> {
        match self.socket_buffer {
            0 => None,
            n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    /// The backlog as `listen(2)` takes it.
    pub fn backlog(&self) -> i32 {
        i32::try_from(self.backlog).unwrap_or(i32::MAX)
    }
}
