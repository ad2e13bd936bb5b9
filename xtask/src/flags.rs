//! The introduction's list of every program's flags, read from the programs' own `-h`, so that
//! it cannot drift from them: `cargo xtask check` compares, `--fix` rewrites.

use std::path::Path;

use anyhow::bail;

use crate::bins::{Bins, output, read, write};
use crate::manifest::LESSONS;

const BEGIN: &str =
    "<!-- flags: written by `cargo xtask check --fix` from each program's --help -->";
const END: &str = "<!-- end of flags -->";

/// The flags the rule gives every program, first and in this order.
const SHARED: &[&str] = &[
    "--to",
    "--bind",
    "--port",
    "--timeout",
    "--encoding",
    "--hexdump",
];

/// One option or argument, as `-h` describes it.
#[derive(Debug, PartialEq, Eq)]
struct Flag {
    /// `--bind`, `-o/--output`, or an argument as the usage writes it: `NAME`, `[MESSAGE]...`.
    name: String,
    value: Option<String>,
    default: Option<String>,
    required: bool,
}

/// The list as the introduction should have it, from the built lessons: one item a program
/// (each subcommand of one), its flags in HTML.
pub fn table(bins: &Bins) -> anyhow::Result<String> {
    let mut list = String::from("<ul class=\"flags\">\n");
    for lesson in LESSONS.iter().map(|l| l.name) {
        let top = output(&mut bins.lesson(lesson, &["-h"]))?;
        let commands = section(&top, "Commands:").filter_map(|l| l.split_whitespace().next());
        let commands: Vec<&str> = commands.filter(|c| *c != "help").collect();
        if commands.is_empty() {
            list += &item(lesson, &parse(&top));
        }
        for command in commands {
            let help = output(&mut bins.lesson(lesson, &[command, "-h"]))?;
            list += &item(&format!("{lesson} {command}"), &parse(&help));
        }
    }
    Ok(list + "</ul>\n")
}

/// Compares the introduction's list with `table`; with `fix`, rewrites it instead.
pub fn check(intro: &Path, table: &str, fix: bool) -> anyhow::Result<Vec<String>> {
    let text = read(intro)?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        bail!(
            "{}: no flag table between {BEGIN} and {END}",
            intro.display()
        );
    };
    let wanted = format!("\n{table}");
    if text.get(begin + BEGIN.len()..end) == Some(wanted.as_str()) {
        return Ok(Vec::new());
    }
    if !fix {
        return Ok(vec![format!(
            "{}: the flag table differs from the programs' --help; `cargo xtask check --fix` \
             rewrites it",
            intro.display()
        )]);
    }
    let fixed = format!("{}{BEGIN}{wanted}{}", &text[..begin], &text[end..]);
    write(intro, fixed)?;
    println!("rewrote the flag table in {}", intro.display());
    Ok(Vec::new())
}

/// The lines of the section that starts with the line `title`, up to the next title.
fn section<'a>(help: &'a str, title: &str) -> impl Iterator<Item = &'a str> {
    let lines = help.lines().skip_while(move |l| *l != title).skip(1);
    lines.take_while(|l| l.is_empty() || l.starts_with(' '))
}

/// The options and arguments of one program's `-h`, one a line in clap's layout: the entry,
/// two spaces, what it does (and `[default: ...]`).
fn parse(help: &str) -> Vec<Flag> {
    let usage = help.lines().find(|l| l.starts_with("Usage:"));
    let usage = usage.unwrap_or_default();
    let entries = section(help, "Arguments:").chain(section(help, "Options:"));
    let entries = entries.map(str::trim_start).filter(|l| !l.is_empty());
    let entries = entries.map(|l| l.split_once("  ").unwrap_or((l, "")));
    let entries = entries.filter(|(head, _)| !["-h, --help", "-V, --version"].contains(head));
    entries
        .map(|(head, about)| flag(head, about.trim(), usage))
        .collect()
}

fn flag(head: &str, about: &str, usage: &str) -> Flag {
    // The default, up to the bracket that closes `[default: `.
    let default = about.split_once("[default: ").map(|(_, rest)| {
        let mut depth = 0;
        let inside = |&c: &char| {
            depth += i32::from(c == '[') - i32::from(c == ']');
            depth >= 0
        };
        rest.chars().take_while(inside).collect()
    });
    if !head.starts_with('-') {
        let (name, required) = (head.trim_matches(['<', '>']).into(), head.starts_with('<'));
        return Flag {
            name,
            value: None,
            default,
            required,
        };
    }
    let (names, value) = match head.split_once(" <") {
        Some((names, value)) => (names, Some(value.trim_end_matches('>').to_string())),
        None => (head, None),
    };
    let long = names.rsplit(' ').next().unwrap_or(names);
    let required = usage.split_whitespace().any(|w| w == long);
    Flag {
        name: names.replace(", ", "/"),
        value,
        default,
        required,
    }
}

/// One list item a program: the flags the rule gives every program first, in the rule's order,
/// then its own; each with its value and, in brackets, its default or "required". A list wraps
/// at any width, where a table of every flag overflowed the page. It is one block of HTML, so
/// that the Chinese book shows it as it is (it is code and the programs' own words, and a new
/// flag does not wait for a translation): mdbook-xgettext extracts no HTML block.
fn item(program: &str, flags: &[Flag]) -> String {
    let shared = SHARED
        .iter()
        .filter_map(|s| flags.iter().find(|f| f.name == *s));
    let own = flags.iter().filter(|f| !SHARED.contains(&f.name.as_str()));
    let shown: Vec<String> = shared.chain(own).map(describe).collect();
    format!("<li>{}: {}</li>\n", code(program), shown.join(", "))
}

/// `--port N` (`8080`), `--to ADDR` (required), `--hexdump`, in HTML.
fn describe(f: &Flag) -> String {
    let name = match &f.value {
        Some(value) => code(&format!("{} {value}", f.name)),
        None => code(&f.name),
    };
    match (&f.default, f.required) {
        (_, true) => format!("{name} (required)"),
        (Some(d), _) if d.contains(' ') => format!("{name} ({})", escape(d)),
        (Some(d), _) => format!("{name} ({})", code(d)),
        (None, _) => name,
    }
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

/// `text` in HTML or SVG: `&`, `<` and `>` escaped.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "\
Send a message

Usage: feiq send [OPTIONS] --to <ADDR> [MESSAGE]...

Arguments:
  [MESSAGE]...  The message [default: each line of stdin is one message]

Options:
      --to <ADDR>      A peer, HOST[:PORT]
      --port <N>       Local port [default: 2425]
  -o, --output <PATH>  Where to write it
      --hexdump        Show every packet's bytes [default: no] [possible values: yes, no]
  -h, --help           Print help (see more with '--help')
";

    #[test]
    fn reads_clap_help() {
        let flags = parse(HELP);
        let names: Vec<_> = flags.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["[MESSAGE]...", "--to", "--port", "-o/--output", "--hexdump"]
        );
        assert!(flags[1].required && !flags[2].required);
        assert_eq!(flags[2].default.as_deref(), Some("2425"));
        assert_eq!(flags[3].value.as_deref(), Some("PATH"));
        assert_eq!(flags[4].default.as_deref(), Some("no"));
        assert_eq!(
            item("feiq send", &flags),
            "<li><code>feiq send</code>: <code>--to ADDR</code> (required), <code>--port N</code> \
             (<code>2425</code>), <code>--hexdump</code> (<code>no</code>), \
             <code>[MESSAGE]...</code> (each line of stdin is one message), \
             <code>-o/--output PATH</code></li>\n"
        );
    }
}
