//! Makes a run's output stable enough to commit: the ports the OS chose, the scratch
//! directories' names and the timings differ every run.

/// Everything that differs from run to run, made stable.
pub fn normalise(text: &str) -> String {
    let text = normalise_ports(text);
    text.lines()
        .map(|line| {
            let words: Vec<String> = line.split(' ').map(normalise_word).collect();
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A duration (`40.27µs`, `0.01s`, `1.2ms,`) becomes `…`; a scratch directory loses its pid;
/// a rate before `MB/s` is left to the caller's eye as `…`.
fn normalise_word(word: &str) -> String {
    let core = word.trim_end_matches([',', ';', ':']);
    let tail = &word[core.len()..];
    for unit in ["µs", "ms", "ns", "s"] {
        if let Some(number) = core.strip_suffix(unit)
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            return format!("…{tail}");
        }
    }
    if let Some(at) = word.find("socket-lessons-") {
        let rest = &word[at + "socket-lessons-".len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with('-') {
            return format!("{}socket-lessons-{}", &word[..at], &rest[digits + 1..]);
        }
    }
    if !core.is_empty()
        && core.chars().all(|c| c.is_ascii_digit() || c == '.')
        && core.contains('.')
    {
        return format!("…{tail}");
    }
    word.to_string()
}

/// Replaces every port after `127.0.0.1:` or `[::1]:` with a stable one, numbered in order of
/// first appearance from 50001, so that the same port keeps the same number throughout.
pub fn normalise_ports(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = ["127.0.0.1:", "[::1]:"]
            .iter()
            .filter_map(|host| rest.find(host).map(|at| (at, host.len())))
            .min();
        let Some((at, len)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at + len]);
        rest = &rest[at + len..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let port = &rest[..digits];
        if !port.is_empty() {
            let index = match seen.iter().position(|p| p == port) {
                Some(i) => i,
                None => {
                    seen.push(port.to_string());
                    seen.len() - 1
                }
            };
            out.push_str(&(50_001 + index).to_string());
        }
        rest = &rest[digits..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_port_keeps_the_same_number() {
        let run = "listening on 127.0.0.1:39257 (udp)\nfrom 127.0.0.1:51779 to [::1]:39257, 127.0.0.1:39257";
        assert_eq!(
            normalise_ports(run),
            "listening on 127.0.0.1:50001 (udp)\nfrom 127.0.0.1:50002 to [::1]:50001, 127.0.0.1:50001"
        );
        assert_eq!(
            normalise_ports("no ports, 127.0.0.1: here"),
            "no ports, 127.0.0.1: here"
        );
    }
}
