//! The flags of the three echo servers (tcp-server, tcp-poll, tcp-async), written once.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use clap::Args;

use crate::{BindArgs, Encoding};

/// The seed's port for its TCP echo server.
pub const ECHO_PORT: u16 = 10050;

pub use crate::fdlimit::OWN_DESCRIPTORS;

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
        crate::fdlimit::fit_places(self.max_clients, 1, "--max-clients")
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

    /// Sets SO_SNDBUF and SO_RCVBUF on a listening socket to [`socket_buffer`](Self::socket_buffer),
    /// unless it is `None`, through tokio's socket type (tcp-async). tcp-server's `listen` makes
    /// the two calls itself, where its chapter explains them, and `net::listen` for tcp-poll.
    pub fn size_buffers(&self, socket: &impl AsFd) -> io::Result<()> {
        if let Some(size) = self.socket_buffer() {
            let socket = socket2::SockRef::from(socket);
            socket.set_send_buffer_size(size)?;
            socket.set_recv_buffer_size(size)?;
        }
        Ok(())
    }

    /// The backlog as `listen(2)` takes it.
    pub fn backlog(&self) -> i32 {
        i32::try_from(self.backlog).unwrap_or(i32::MAX)
    }
}
