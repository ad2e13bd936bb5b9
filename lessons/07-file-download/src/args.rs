//! The arguments of each subcommand: what `serve`, `get` and `list` are told on the command
//! line, each in one struct that the code of the subcommand receives.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use common::{BindArgs, ClientBindArgs, HostPort};

use crate::protocol::DOWNLOAD_PORT;

/// `serve`: what is served, where, and how far a client may go.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The directory whose files are served; nothing outside it ever is.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,

    #[command(flatten)]
    pub bind: BindArgs<DOWNLOAD_PORT>,

    /// The wire protocol: this lesson's framed one, or the seed's raw one.
    #[arg(long, value_enum, default_value_t = Wire::Framed)]
    pub protocol: Wire,

    /// Most clients served at once; one more gets "ERR busy".
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_clients: usize,

    /// Most clients served at once from one address: one machine cannot take every place.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_per_address: usize,

    /// How long a client has to send its whole request line.
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = common::seconds)]
    pub request_timeout: Duration,

    /// How long a transfer may make no progress (nothing can be sent: the client reads too
    /// little or nothing) before it is dropped; also the grace period before --min-rate applies.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = common::seconds)]
    pub timeout: Duration,

    /// The slowest a client may read, in bytes per second (K, M: KiB, MiB), averaged from
    /// the start of its transfer once --timeout has passed: a slower reader is dropped.
    #[arg(long, value_name = "BYTES", default_value = "16K", value_parser = common::size::parse_size)]
    pub min_rate: u64,
}

/// `get`: which file, from whom, into where.
#[derive(clap::Args)]
pub struct GetArgs {
    /// The file's name on the server.
    pub name: String,

    #[command(flatten)]
    pub peer: Peer,

    /// Where to write it [default: the last part of NAME, in the current directory].
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Overwrite the file if it exists; discard an earlier NAME.part.
    #[arg(long)]
    pub force: bool,

    /// Resume: keep what an earlier, cut download left in NAME.part, fetch the rest
    /// (all of it again if the file changed on the server).
    #[arg(long = "continue")]
    pub resume: bool,

    /// The largest file to accept (K, M, G: KiB, MiB, GiB) [default: what fits on the disk
    /// with 5% of it, at most 64 MiB, left free].
    #[arg(long, value_name = "SIZE", value_parser = common::size::parse_size)]
    pub max_size: Option<u64>,

    /// The wire protocol: this lesson's framed one, or the seed's raw one.
    #[arg(long, value_enum, default_value_t = Wire::Framed)]
    pub protocol: Wire,
}

/// `list`: from whom.
#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub peer: Peer,
}

/// The server a client talks to, and its own end of the connection.
#[derive(clap::Args)]
pub struct Peer {
    /// The server, HOST[:PORT] (port 6664 if none is given).
    #[arg(long, value_name = "HOST[:PORT]", default_value = "127.0.0.1")]
    pub to: HostPort,

    #[command(flatten)]
    pub local: ClientBindArgs<0>,

    /// How long to wait for the server: to connect, to answer, and while a transfer stalls.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = common::seconds)]
    pub timeout: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Wire {
    /// A request line, then a header with the size, then exactly that many bytes.
    Framed,
    /// The seed's: the bare name, then the file's bytes until the server closes.
    Seed,
}
