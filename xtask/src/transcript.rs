//! Makes a run's output stable enough to commit: the ports the OS chose differ every run.

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
