//! File download over TCP: a server that sends the files under one directory, and a client
//! that fetches one safely, resumably and at full speed.
//!
//! Terminal 1:  cargo run -p file-download -- serve --root docs
//! Terminal 2:  cargo run -p file-download -- get book.toml -o /tmp/book.toml
//!
//! Pitfall: when the connection ends, TCP tells you that the sender closed, not that you
//! have everything. Only a size sent before the bytes tells a whole file from a cut one.

mod args;
mod client;
mod part;
mod protocol;
mod seed;
mod server;

use std::process::ExitCode;

use anyhow::{Context, bail};
use args::{GetArgs, ListArgs, ServeArgs, Wire};
use clap::{Parser, Subcommand};
use common::{Hexdump, Root, Slots, fdlimit};
use part::Part;

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

fn main() -> ExitCode {
    common::run(download)
}

fn download(args: Args) -> anyhow::Result<()> {
    let hexdump = Hexdump::new(args.hexdump);
    match args.command {
        Cmd::Serve(serve) => {
            let root = Root::new(&serve.root)
                .with_context(|| format!("cannot serve {}", serve.root.display()))?;
            // Each place takes up to three descriptors (the socket, the handle that closes it
            // to make room, the file sent): the soft open-file limit is raised and the places
            // fitted to it, so that accept() does not fail (EMFILE) and leave a newcomer hanging.
            let max_clients = fdlimit::fit_places(serve.max_clients, 3, "--max-clients");
            let slots = Slots::evicting(max_clients, serve.max_per_address)
                .patience(server::SLOW_REQUEST, server::STALLED_ANSWER);
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
