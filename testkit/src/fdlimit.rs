//! A server under a small open-file limit, for the tests of what it does when descriptors
//! run out.

use std::ffi::OsStr;
use std::process::Command;

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
