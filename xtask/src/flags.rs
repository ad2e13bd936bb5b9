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
/// two spaces, what it does (and `[default: ...]`). Each is its name (`--bind`, `-o/--output`,
/// or an argument as the usage writes it: `[MESSAGE]...`) and its description in HTML.
fn parse(help: &str) -> Vec<(String, String)> {
    let usage = help.lines().find(|l| l.starts_with("Usage:"));
    let usage = usage.unwrap_or_default();
    let entries = section(help, "Arguments:").chain(section(help, "Options:"));
    let entries = entries.map(str::trim_start).filter(|l| !l.is_empty());
    let entries = entries.map(|l| l.split_once("  ").unwrap_or((l, "")));
    let entries = entries.filter(|(head, _)| !["-h, --help", "-V, --version"].contains(head));
    entries
        .map(|(head, about)| describe(head, about.trim(), usage))
        .collect()
}

/// One entry's name, and its description: `--port N` (`8080`), `--to ADDR` (required),
/// `--hexdump`.
fn describe(head: &str, about: &str, usage: &str) -> (String, String) {
    // The default, up to the bracket that closes `[default: `.
    let default = about.split_once("[default: ").map(|(_, rest)| {
        let mut depth = 0;
        let inside = |&c: &char| {
            depth += i32::from(c == '[') - i32::from(c == ']');
            depth >= 0
        };
        rest.chars().take_while(inside).collect::<String>()
    });
    let (name, shown, required) = if !head.starts_with('-') {
        let name = head.trim_matches(['<', '>']).to_string();
        (name.clone(), name, head.starts_with('<'))
    } else {
        let (names, value) = head.split_once(" <").unwrap_or((head, ""));
        let long = names.rsplit(' ').next().unwrap_or(names);
        let name = names.replace(", ", "/");
        let shown = match value.trim_end_matches('>') {
            "" => name.clone(),
            value => format!("{name} {value}"),
        };
        (name, shown, usage.split_whitespace().any(|w| w == long))
    };
    let shown = code(&shown);
    let described = match default {
        _ if required => format!("{shown} (required)"),
        Some(d) if d.contains(' ') => format!("{shown} ({})", escape(&d)),
        Some(d) => format!("{shown} ({})", code(&d)),
        None => shown,
    };
    (name, described)
}

/// One list item a program: the flags the rule gives every program first, in the rule's order,
/// then its own. A list wraps at any width, where a table of every flag overflowed the page. It
/// is one block of HTML, so that the Chinese book shows it as it is (it is code and the
/// programs' own words, and a new flag does not wait for a translation): mdbook-xgettext
/// extracts no HTML block.
fn item(program: &str, flags: &[(String, String)]) -> String {
    let shared = SHARED
        .iter()
        .filter_map(|s| flags.iter().find(|f| f.0 == *s));
    let own = flags.iter().filter(|f| !SHARED.contains(&f.0.as_str()));
    let shown: Vec<&str> = shared.chain(own).map(|f| f.1.as_str()).collect();
    format!("<li>{}: {}</li>\n", code(program), shown.join(", "))
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
        let names: Vec<_> = flags.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            names,
            ["[MESSAGE]...", "--to", "--port", "-o/--output", "--hexdump"]
        );
        assert_eq!(
            item("feiq send", &flags),
            "<li><code>feiq send</code>: <code>--to ADDR</code> (required), <code>--port N</code> \
             (<code>2425</code>), <code>--hexdump</code> (<code>no</code>), \
             <code>[MESSAGE]...</code> (each line of stdin is one message), \
             <code>-o/--output PATH</code></li>\n"
        );
    }
}
