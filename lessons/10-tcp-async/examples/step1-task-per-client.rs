//! tcp-async, step 1: tcp-server's loop with `.await`s, a tokio task per client on one thread.
//! No limits and no timeouts yet: a client that never sends holds its task for ever, and any
//! number of them can connect. The lesson adds `Slots`, the spare descriptor and `timeout`.
//!
//! Terminal 1:  cargo run -p tcp-async --example step1-task-per-client
//! Terminal 2:  cargo run -p tcp-client
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or("10050".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(format!("127.0.0.1:{port}")).await?;
        println!("listening on {} (tcp)", listener.local_addr()?);
        loop {
            let (mut stream, peer) = listener.accept().await?;
            println!("accepted {peer}");
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                // Ok(0) is the client's FIN; an error ends the task too.
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    println!("received {n} bytes");
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}
