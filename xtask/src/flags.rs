//! The introduction's table of every program's flags, read from the programs' own `--help`,
//! so that it cannot drift from them: `cargo xtask check` compares, `--fix` rewrites.

use anyhow::{Context, bail};

use crate::bins::Bins;
use crate::manifest::LESSONS;

const BEGIN: &str =
    "<!-- flags: written by `cargo xtask check --fix` from each program's --help -->";
const END: &str = "<!-- end of flags -->";

/// The flags the rule gives every program, one column each.
const SHARED: &[&str] = &[
    "--to",
    "--bind",
    "--port",
    "--timeout",
    "--encoding",
    "--hexdump",
];

/// One option or argument, as `--help` describes it.
#[derive(Debug, PartialEq, Eq)]
struct Flag {
    /// `--bind`, `-o/--output`, or an argument as the usage writes it: `NAME`, `[MESSAGE]...`.
    name: String,
    value: Option<String>,
    default: Option<String>,
    required: bool,
}

/// The table as the introduction should have it, from the built lessons.
pub fn table(bins: &Bins) -> anyhow::Result<String> {
    let mut rows = Vec::new();
    for lesson in LESSONS {
        let top = help(bins, lesson.name, &[])?;
        let commands = section(&top, "Commands:");
        let commands: Vec<&str> = commands
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .collect();
        if commands.is_empty() {
            rows.push((lesson.name.to_string(), parse(&top)));
        }
        for command in commands {
            let help = help(bins, lesson.name, &[command])?;
            rows.push((format!("{} {command}", lesson.name), parse(&help)));
        }
    }
    Ok(render(&rows))
}

/// Compares the introduction's table with `table`; with `fix`, rewrites it instead.
pub fn check(intro: &std::path::Path, table: &str, fix: bool) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(intro)
        .with_context(|| format!("cannot read {}", intro.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        bail!(
            "{}: no flag table between {BEGIN} and {END}",
            intro.display()
        );
    };
    let current = text.get(begin + BEGIN.len()..end).unwrap_or_default();
    let wanted = format!("\n{table}");
    if current == wanted {
        return Ok(Vec::new());
    }
    if fix {
        let fixed = format!("{}{BEGIN}{wanted}{}", &text[..begin], &text[end..]);
        std::fs::write(intro, fixed)
            .with_context(|| format!("cannot write {}", intro.display()))?;
        println!("rewrote the flag table in {}", intro.display());
        return Ok(Vec::new());
    }
    Ok(vec![format!(
        "{}: the flag table differs from the programs' --help; `cargo xtask check --fix` rewrites it",
        intro.display()
    )])
}

fn help(bins: &Bins, lesson: &str, command: &[&str]) -> anyhow::Result<String> {
    crate::bins::output(bins.lesson(lesson, command).arg("--help"))
}

/// The lines of the section that starts with the line `title`, up to the next title.
fn section<'a>(help: &'a str, title: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect()
}

/// The options and arguments of one program's `--help`, in clap's layout: an entry starts at
/// an indent of at most 6 with `-`, `<` or `[`; its description follows on the same line
/// after two spaces, or on the lines below, indented further.
fn parse(help: &str) -> Vec<Flag> {
    let usage = help
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_default();
    let mut entries: Vec<(String, String)> = Vec::new();
    for title in ["Arguments:", "Options:"] {
        for line in section(help, title) {
            let body = line.trim_start();
            let indent = line.len() - body.len();
            if indent <= 6 && body.starts_with(['-', '<', '[']) {
                let (head, about) = body.split_once("  ").unwrap_or((body, ""));
                entries.push((head.to_string(), about.trim().to_string()));
            } else if let Some((_, about)) = entries.last_mut() {
                about.push(' ');
                about.push_str(body);
            }
        }
    }
    entries
        .into_iter()
        .filter(|(head, _)| !["-h, --help", "-V, --version"].contains(&head.as_str()))
        .map(|(head, about)| flag(&head, &about, usage))
        .collect()
}

fn flag(head: &str, about: &str, usage: &str) -> Flag {
    let default = about.find("[default: ").map(|at| {
        let rest = &about[at + "[default: ".len()..];
        // Up to the bracket that closes this one.
        let mut depth = 0;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '[' => 1,
                    ']' => -1,
                    _ => 0,
                };
                depth < 0
            })
            .map_or(rest.len(), |(i, _)| i);
        rest[..end].to_string()
    });
    if !head.starts_with('-') {
        let name = head.trim_matches(['<', '>']).to_string();
        return Flag {
            required: head.starts_with('<'),
            name,
            value: None,
            default,
        };
    }
    let (names, value) = match head.split_once(" <") {
        Some((names, value)) => (names, Some(value.trim_end_matches('>').to_string())),
        None => (head, None),
    };
    let long = names.rsplit(' ').next().unwrap_or(names).to_string();
    Flag {
        required: usage.split_whitespace().any(|w| w == long),
        name: names.replace(", ", "/"),
        value,
        default,
    }
}

/// One list item a program: the flags the rule gives every program first, in the rule's order,
/// then its own; each with its value and, in brackets, its default or "required". A list wraps
/// at any width, where a table of every flag overflowed the page. It is one block of HTML, so
/// that the Chinese book shows it as it is (it is code and the programs' own words, and a new
/// flag does not wait for a translation): mdbook-xgettext extracts no HTML block.
fn render(rows: &[(String, Vec<Flag>)]) -> String {
    let mut out = String::from("<ul class=\"flags\">\n");
    for (program, flags) in rows {
        let mut ordered: Vec<&Flag> = SHARED
            .iter()
            .filter_map(|shared| flags.iter().find(|f| f.name == *shared))
            .collect();
        ordered.extend(flags.iter().filter(|f| !SHARED.contains(&f.name.as_str())));
        let shown: Vec<String> = ordered.into_iter().map(describe).collect();
        out.push_str(&format!(
            "<li>{}: {}</li>\n",
            code(program),
            shown.join(", ")
        ));
    }
    out.push_str("</ul>\n");
    out
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

fn escape(text: &str) -> String {
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
  [MESSAGE]...
          The message [default: each line of stdin is one message]

Options:
      --to <ADDR>
          A peer, HOST[:PORT]

      --port <N>
          Local port
          
          [default: 2425]

  -o, --output <PATH>  Where to write it
      --hexdump  Show every packet's bytes
          on stderr [default: no]
  -h, --help
          Print help
";

    #[test]
    fn reads_clap_help_in_both_layouts() {
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
        let list = render(&[("feiq send".into(), flags)]);
        assert_eq!(
            list.lines()
                .last()
                .map(|l| format!("{l}\n"))
                .unwrap_or_default(),
            "</ul>\n"
        );
        assert_eq!(
            list.lines().nth(1).unwrap_or_default(),
            "<li><code>feiq send</code>: <code>--to ADDR</code> (required), <code>--port N</code> \
             (<code>2425</code>), <code>--hexdump</code> (<code>no</code>), \
             <code>[MESSAGE]...</code> (each line of stdin is one message), \
             <code>-o/--output PATH</code></li>"
        );
    }
}
