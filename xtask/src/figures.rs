//! The figures in Chinese: `docs/src/figures/zh-CN/NAME.svg`, made from the English
//! `docs/src/figures/NAME.svg` and one table of labels, `docs/src/figures/zh-CN.tsv`, so that a
//! figure is drawn once and a changed English figure cannot leave a stale Chinese one behind.
//! `cargo xtask check` compares, `--fix` writes.

use std::fs;
use std::path::Path;

use crate::bins::{read, walk, write};

/// What differs from the figures the table makes; with `fix`, writes them instead.
pub fn check(root: &Path, fix: bool) -> anyhow::Result<Vec<String>> {
    let dir = root.join("docs/src/figures");
    let labels = parse_table(&read(&dir.join("zh-CN.tsv"))?);
    let mut problems = Vec::new();
    let svgs = walk(&dir).into_iter().filter(|p| p.parent() == Some(&dir));
    for name in svgs
        .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
        .filter(|n| n.ends_with(".svg"))
    {
        let (chinese, missing) = translate(&read(&dir.join(&name))?, &labels);
        for label in missing {
            problems.push(format!(
                "figures/{name}: no Chinese for {label:?} in figures/zh-CN.tsv"
            ));
        }
        let out = dir.join("zh-CN").join(&name);
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
fn translate(svg: &str, labels: &[(String, String)]) -> (String, Vec<String>) {
    let (mut out, mut missing) = (String::with_capacity(svg.len()), Vec::new());
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let is_label = ["<text", "<title"].iter().any(|tag| {
            let after = rest.strip_prefix(tag);
            after.is_some_and(|a| a.starts_with(|c: char| c == '>' || c.is_whitespace()))
        });
        let Some(close) = rest.find('>') else { break };
        out.push_str(&rest[..=close]);
        rest = &rest[close + 1..];
        if is_label {
            let label = &rest[..rest.find('<').unwrap_or(rest.len())];
            let (template, numbers) = numbers_out(label);
            match labels.iter().find(|(en, _)| *en == template) {
                Some((_, zh)) if zh == "=" => out.push_str(label),
                // Each `{}` is the next of the label's numbers, in order.
                Some((_, zh)) => {
                    let (mut numbers, mut parts) = (numbers.iter(), zh.split("{}"));
                    out.push_str(parts.next().unwrap_or_default());
                    for part in parts {
                        out.push_str(numbers.next().map_or("", String::as_str));
                        out.push_str(part);
                    }
                }
                None => {
                    if template.chars().any(|c| c.is_ascii_alphabetic()) {
                        missing.push(label.to_string());
                    }
                    out.push_str(label);
                }
            }
            rest = &rest[label.len()..];
        }
    }
    out.push_str(rest);
    let out = out.replacen("<svg ", "<svg xml:lang=\"zh-CN\" ", 1);
    (out, missing)
}

/// `label` with each number (`13.1`, `10,000`, `0x00800120`) replaced by `{}`, and the numbers.
fn numbers_out(label: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = label.chars().collect();
    let mut template = String::new();
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if chars[i].is_ascii_digit() && starts_word {
            let start = i;
            if chars[i] == '0' && chars.get(i + 1) == Some(&'x') {
                i += 2;
                while i < chars.len() && chars[i].is_ascii_hexdigit() {
                    i += 1;
                }
            } else {
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || ([',', '.'].contains(&chars[i])
                            && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
                {
                    i += 1;
                }
            }
            numbers.push(chars[start..i].iter().collect());
            template.push_str("{}");
        } else {
            template.push(chars[i]);
            i += 1;
        }
    }
    (template, numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_carried_over_and_names_kept() {
        let labels = parse_table(
            "# c\nload average {} before, {} after\t负载 运行前 {}，运行后 {}\n\
             FIN-WAIT-{}\t=\nclient\t客户端\n",
        );
        let svg = "<svg x=\"1\"><title id=\"t\">client</title><text x=\"3\">load average 2.5 \
                   before, 10,000 after</text><text>FIN-WAIT-1</text><text>13.1</text>\
                   <text>server</text><textPath>x</textPath></svg>";
        let (zh, missing) = translate(svg, &labels);
        assert_eq!(
            zh,
            "<svg xml:lang=\"zh-CN\" x=\"1\"><title id=\"t\">客户端</title><text x=\"3\">负载 \
             运行前 2.5，运行后 10,000</text><text>FIN-WAIT-1</text><text>13.1</text>\
             <text>server</text><textPath>x</textPath></svg>"
        );
        assert_eq!(missing, ["server"]);
        assert_eq!(
            numbers_out("0x100: please ack, bit 31"),
            (
                "{}: please ack, bit {}".into(),
                vec!["0x100".into(), "31".into()]
            )
        );
    }
}
