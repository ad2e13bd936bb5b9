//! The figures in Chinese: `docs/src/figures/zh-CN/NAME.svg`, made from the English
//! `docs/src/figures/NAME.svg` and one table of labels, `docs/src/figures/zh-CN.tsv`, so that a
//! figure is drawn once and a changed English figure cannot leave a stale Chinese one behind.
//! `cargo xtask check` compares, `--fix` writes.

use std::fs;
use std::path::Path;

use regex::{Captures, Regex};

use crate::bins::{read, with_ext, write};

/// What differs from the figures the table makes; with `fix`, writes them instead.
pub fn check(root: &Path, fix: bool) -> anyhow::Result<Vec<String>> {
    let dir = root.join("docs/src/figures");
    let labels = parse_table(&read(&dir.join("zh-CN.tsv"))?);
    let mut problems = Vec::new();
    let svgs = with_ext(&dir, "svg");
    for svg in svgs.iter().filter(|p| p.parent() == Some(&dir)) {
        let name = svg.file_name().unwrap_or_default().to_string_lossy();
        let (chinese, missing) = translate(&read(svg)?, &labels)?;
        let no_chinese =
            |label| format!("figures/{name}: no Chinese for {label:?} in figures/zh-CN.tsv");
        problems.extend(missing.iter().map(no_chinese));
        let out = dir.join("zh-CN").join(&*name);
        if fs::read_to_string(&out).is_ok_and(|now| now == chinese) {
            continue;
        }
        if fix {
            write(&out, chinese)?;
            println!("wrote {}", out.display());
        } else {
            problems.push(format!(
                "figures/zh-CN/{name} is not what figures/{name} and zh-CN.tsv make: \
                 `cargo xtask check --fix` writes it"
            ));
        }
    }
    Ok(problems)
}

/// `English\tChinese` lines; `#` starts a comment line.
fn parse_table(text: &str) -> Vec<(String, String)> {
    let lines = text.lines().filter(|l| !l.starts_with('#'));
    let pairs = lines.filter_map(|l| l.split_once('\t'));
    pairs.map(|(en, zh)| (en.into(), zh.into())).collect()
}

/// The figure with each `<text>` and `<title>` label in Chinese, and the labels the table
/// lacks (those with a letter outside their numbers: `0x20` or `13.1` needs no translation).
fn translate(svg: &str, labels: &[(String, String)]) -> anyhow::Result<(String, Vec<String>)> {
    let tag = Regex::new(r"(<(?:text|title)(?:\s[^>]*)?>)([^<]*)")?;
    // A number in a label (`13.1`, `10,000`, `0x00800120`) where a word starts, after what
    // comes before it.
    let number = Regex::new(r"(^|[^A-Za-z0-9])(0x[0-9A-Fa-f]*|[0-9]+(?:[.,][0-9]+)*)")?;
    let mut missing = Vec::new();
    let out = tag.replace_all(svg, |c: &Captures| {
        let (template, numbers) = numbers_out(&number, &c[2]);
        let chinese = match labels.iter().find(|(en, _)| *en == template) {
            // Each `{}` is the next of the label's numbers, in order.
            Some((_, zh)) if zh != "=" => numbers
                .iter()
                .fold(zh.clone(), |zh, n| zh.replacen("{}", n, 1)),
            None if template.chars().any(|c| c.is_ascii_alphabetic()) => {
                missing.push(c[2].to_string());
                c[2].to_string()
            }
            // `=` in the table, or only numbers.
            _ => c[2].to_string(),
        };
        format!("{}{chinese}", &c[1])
    });
    let out = out.replacen("<svg ", "<svg xml:lang=\"zh-CN\" ", 1);
    Ok((out, missing))
}

/// `label` with each number replaced by `{}`, and the numbers.
fn numbers_out(number: &Regex, label: &str) -> (String, Vec<String>) {
    let mut numbers = Vec::new();
    let template = number.replace_all(label, |c: &Captures| {
        numbers.push(c[2].to_string());
        format!("{}{{}}", &c[1])
    });
    (template.into_owned(), numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_carried_over_and_names_kept() {
        let labels = parse_table(
            "# c\nload average {} before, {} after\t负载 运行前 {}，运行后 {}\n\
             FIN-WAIT-{}\t=\nclient\t客户端\n{}: ack bit {}\t{}：确认位 {}\n",
        );
        let svg = "<svg x=\"1\"><title id=\"t\">client</title><text x=\"3\">load average 2.5 \
                   before, 10,000 after</text><text>FIN-WAIT-1</text><text>13.1</text>\
                   <text>server</text><textPath>x</textPath><text>0x100: ack bit 31</text></svg>";
        let (zh, missing) = translate(svg, &labels).unwrap();
        assert_eq!(
            zh,
            "<svg xml:lang=\"zh-CN\" x=\"1\"><title id=\"t\">客户端</title><text x=\"3\">负载 \
             运行前 2.5，运行后 10,000</text><text>FIN-WAIT-1</text><text>13.1</text>\
             <text>server</text><textPath>x</textPath><text>0x100：确认位 31</text></svg>"
        );
        assert_eq!(missing, ["server"]);
    }
}
