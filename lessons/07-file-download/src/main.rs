//! File download over TCP: a server that sends the files under one directory, and a client
//! that fetches one safely, resumably and at full speed.
//!
//! Terminal 1:  cargo run -p file-download -- serve --root docs
//! Terminal 2:  cargo run -p file-download -- get book.toml -o /tmp/book.toml
//!
//! Pitfall: when the connection ends, TCP tells you that the sender closed, not that you
//! have everything. Only a size sent before the bytes tells a whole file from a cut one.
#![forbid(unsafe_code)]

mod client;
mod part;
mod protocol;
mod seed;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use common::{BindArgs, ClientBindArgs, Hexdump, HostPort, Root, Slots};
use part::Part;
use protocol::DOWNLOAD_PORT;

/// File download over TCP: serve a directory, get a file, list what is offered.
/// Chapter: "File download".
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Cmd,

    /// Show the request, header and listing lines' bytes on stderr (not the file's).
    #[arg(long, global = true)]
    hexdump: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the regular files under a directory.
    Serve(ServeArgs),
    /// Download one file into the current directory.
    Get(GetArgs),
    /// List the files the server offers, with their sizes.
    List(ListArgs),
}

/// `serve`: what is served, where, and how far a client may go.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The directory whose files are served; nothing outside it ever is.
    #[arg(long, value_name = "DIR", default_value = ".")]
    root: PathBuf,

    #[command(flatten)]
    bind: BindArgs<DOWNLOAD_PORT>,

    /// The wire protocol: this lesson's framed one, or the seed's raw one.
    #[arg(long, value_enum, default_value_t = Wire::Framed)]
    protocol: Wire,

    /// Most clients served at once; one more gets "ERR busy".
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_clients: usize,

    /// Most clients served at once from one address (an IPv6 /64 counts as one): one machine
    /// cannot take every place.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_per_address: usize,

    /// How long a client has to send its whole request line.
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = common::seconds)]
    pub request_timeout: Duration,

    /// How long a transfer may make no progress (the client reads nothing) before it is
    /// dropped; also the grace period before --min-rate applies.
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

fn main() -> ExitCode {
    common::run(download)
}

fn download(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    match args.command {
        Cmd::Serve(serve) => {
            let root = Root::new(&serve.root)
                .with_context(|| format!("cannot serve {}", serve.root.display()))?;
            let slots = Slots::new(serve.max_clients, serve.max_per_address);
            server::Server {
                root,
                slots,
                args: serve,
                hexdump,
            }
            .run()
        }
        Cmd::Get(get) => {
            let target = match &get.output {
                Some(path) => path.clone(),
                None => client::local_name(&get.name)?,
            };
            if target.exists() && !get.force {
                bail!("{} exists; --force overwrites it", target.display());
            }
            if get.protocol == Wire::Seed && get.resume {
                bail!("the seed's protocol cannot resume: it has no offsets");
            }
            // What an earlier run left is looked at, locked, and told, before the network
            // is used.
            let part = Part::prepare(&target, get.resume, get.force, get.max_size)?;
            let stream = client::connect(&get.peer)?;
            match get.protocol {
                Wire::Framed => client::get(&stream, &get.name, &target, part, hexdump),
                Wire::Seed => seed::get(stream, &get.name, &target, part),
            }
        }
        Cmd::List(list) => client::list(&client::connect(&list.peer)?, hexdump),
    }
}
