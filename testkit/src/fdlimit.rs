//! A server under a small open-file limit, or a small limit of threads, for the tests of what
//! it does when descriptors or threads run out.

use std::ffi::OsStr;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::{Failure, Scene, Stream};

/// A command that runs `program` (arguments may follow, with `arg`) under
/// `ulimit -n LIMIT`, soft and hard, so that it cannot raise it, with only standard input,
/// output and error open.
///
/// The limit counts descriptor numbers, not descriptors: one the test inherited without
/// close-on-exec (a CI runner may pass dozens) passes on to the server and takes a number
/// below the limit. With 27 of them, `ulimit -n 32` left the server room for its listener
/// and nothing else, and the test meant to see clients refused saw them hang. So the shell
/// closes every descriptor above 2 before it sets the limit.
pub fn with_limit(limit: u32, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!(
            r#"for fd in /proc/$$/fd/*; do fd=${{fd##*/}}; [ "$fd" -gt 2 ] && [ -e "/proc/$$/fd/$fd" ] && exec {{fd}}>&-; done; ulimit -n {limit} && exec "$0" "$@""#
        ))
        .arg(program);
    cmd
}

/// The newcomer past the descriptor limit: `last` (its request, if any, written) must be
/// closed at once, refused, or answered if a descriptor was freed meanwhile, not left
/// waiting in the accept queue; and server `p` must say so, `refused ADDR: ... closed at
/// once (ulimit -n)`.
pub fn newcomer_is_told(s: &mut Scene, p: crate::Proc, mut last: TcpStream) -> Result<(), Failure> {
    use std::io::Read;
    let wait = std::time::Duration::from_secs(5);
    last.set_read_timeout(Some(wait))
        .map_err(|e| s.fail(e.to_string()))?;
    let started = Instant::now();
    let got = last.read(&mut [0; 512]);
    let told =
        got.is_ok() || matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset);
    if !told {
        return Err(s.fail(format!("nothing after {:?}: {got:?}", started.elapsed())));
    }
    let line = s.expect(p, "closed at once (ulimit -n)")?;
    if !line.starts_with("refused 127.0.0.1:") {
        return Err(s.fail(format!("not a refusal: {line}")));
    }
    Ok(())
}

/// A command that runs `program` as the user `nobody` under `ulimit -u LIMIT`: that user may
/// have at most LIMIT processes and threads, so a server's next thread fails to start. (The
/// limit does not hold for root, hence `nobody`.) `Err` says why there is none: this is not
/// root, or `nobody` may not run `program`; whatever `program` reads must be readable by all.
pub fn with_thread_limit(limit: u32, program: &Path) -> Result<Command, String> {
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let can_run = Command::new("setpriv")
        .args(nobody)
        .arg("test")
        .arg("-x")
        .arg(program)
        .status();
    if !can_run.is_ok_and(|status| status.success()) {
        return Err(format!(
            "a thread limit needs root, and {} runnable by nobody",
            program.display()
        ));
    }
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nproc={limit}:{limit}"))
        .arg("setpriv")
        .args(nobody)
        .arg(program);
    Ok(cmd)
}

/// The attack on a thread-per-connection server when threads run out: `program` runs with
/// `args` under a limit of 3 threads (see [`with_thread_limit`]), one client holds the last
/// thread (if there was one), and 600 more connect and close; a client from 127.0.0.3 comes last. Fails if a
/// line about a thread that could not start went to stderr (no share bounds it there), or if
/// more of them reached stdout than a share allows (256, then two a second). `Ok` too when
/// there can be no limit here (not root), after saying `skipped`.
pub fn threads_run_out(program: &Path, args: &[&str]) -> Result<(), Failure> {
    let mut cmd = match with_thread_limit(3, program) {
        Ok(cmd) => cmd,
        Err(why) => {
            eprintln!("skipped: {why}");
            return Ok(());
        }
    };
    cmd.args(args).args(["--port", "0"]);
    let mut s = Scene::new();
    let (server, addr) = s.start("server", cmd)?;
    let started = Instant::now();
    let _holder = TcpStream::connect(addr).map_err(|e| s.fail(format!("connect: {e}")))?;
    for _ in 0..600 {
        drop(TcpStream::connect(addr).map_err(|e| s.fail(format!("connect: {e}")))?);
    }
    let _last = crate::echo::connect_from([127, 0, 0, 3], addr);
    s.expect(server, "127.0.0.3")?;
    let seconds = started.elapsed().as_secs() as usize + 1;
    let count = |stream| {
        let lines = s.output(server, stream);
        lines.iter().filter(|l| l.contains("thread")).count()
    };
    let (told, on_stderr) = (count(Stream::Stdout), count(Stream::Stderr));
    if on_stderr > 0 || told > 256 + 2 * seconds + 1 {
        let why = format!("{told} lines in the log and {on_stderr} on stderr for 601 clients");
        return Err(s.fail(why));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Descriptors the test's parent passed on (here 7 and 40, opened by a shell without
    /// close-on-exec) are closed before the program starts: `ls` lists 0, 1, 2 and its own.
    #[test]
    fn only_the_standard_descriptors_reach_the_program() {
        let inner = with_limit(24, "ls");
        let script = inner.get_args().nth(1).unwrap();
        let out = Command::new("bash")
            .args([
                "-c",
                r#"exec 7</dev/null 40</dev/null; exec bash -c "$SCRIPT" ls /proc/self/fd"#,
            ])
            .env("SCRIPT", script)
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout);
        let fds: Vec<&str> = listed.split_whitespace().collect();
        assert_eq!(
            fds.len(),
            4,
            "{listed} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!fds.contains(&"7") && !fds.contains(&"40"), "{listed}");
    }
}
