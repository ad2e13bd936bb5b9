//! The lines a user types: a message, or a command that starts with '/'.

/// A line typed by the user.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Send(&'a str),
    Peer(&'a str),
    Reply(Option<&'a str>),
    Help,
    Quit,
    Unknown(&'a str),
}

impl<'a> Command<'a> {
    pub fn parse(line: &'a str) -> Command<'a> {
        let Some(rest) = line.strip_prefix('/') else {
            return Command::Send(line);
        };
        if rest.starts_with('/') {
            return Command::Send(rest);
        }
        let (word, arg) = match rest.split_once(' ') {
            Some((word, arg)) => (word, arg.trim()),
            None => (rest, ""),
        };
        match (word, arg) {
            ("quit", _) => Command::Quit,
            ("help", _) => Command::Help,
            ("peer", addr) => Command::Peer(addr),
            ("reply", "") => Command::Reply(None),
            ("reply", _) => Command::Reply(rest.split_once(' ').map(|(_, m)| m)),
            _ => Command::Unknown(word),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Command::{self, *};

    #[test]
    fn parses_the_commands() {
        assert_eq!(Command::parse("hello"), Send("hello"));
        assert_eq!(Command::parse(""), Send(""));
        assert_eq!(Command::parse("//etc"), Send("/etc"));
        assert_eq!(Command::parse("/peer 127.0.0.1:7"), Peer("127.0.0.1:7"));
        assert_eq!(Command::parse("/peer"), Peer(""));
        assert_eq!(Command::parse("/reply"), Reply(None));
        assert_eq!(Command::parse("/reply  hi there"), Reply(Some(" hi there")));
        assert_eq!(Command::parse("/quit"), Quit);
        assert_eq!(Command::parse("/help"), Help);
        assert_eq!(Command::parse("/nope x"), Unknown("nope"));
        assert_eq!(Command::parse("/"), Unknown(""));
    }
}
