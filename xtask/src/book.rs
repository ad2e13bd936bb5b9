//! House rules for the book, checked by `cargo xtask check` and by `cargo test`.
//!
//! mdBook prints nothing for a misspelled anchor, so a chapter could lose its listing without
//! anyone noticing. This check makes that an error, along with the other ways a lesson can
//! be left half done: no chapter, no README row, no pair, no SUMMARY entry.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::bins::with_ext;
use crate::manifest::LESSONS;
use crate::scenes::PAIRS;

/// Every problem found under the repository at `root`; empty when all is well.
pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let read = |path: &Path| fs::read_to_string(path).unwrap_or_default();
    let with_ext = |dir: &str, ext| with_ext(&root.join(dir), ext);
    for chapter in with_ext("docs/src", "md") {
        let text = read(&chapter);
        // An indented include (in a list item) indents only the listing's first line: the
        // rest falls out of the code block and renders as a paragraph.
        let indented = |l: &&str| {
            l.starts_with(char::is_whitespace) && l.trim_start().starts_with("{{#include")
        };
        let indented = text.lines().find(indented).map(str::trim);
        let here = chapter.display();
        problems.extend(indented.map(|line| format!("{here}: an indented include: {line}")));
        for include in text
            .split("{{#include ")
            .skip(1)
            .filter_map(|rest| rest.split_once("}}"))
        {
            problems.extend(check_include(&chapter, include.0.trim()));
        }
    }
    for source in [with_ext("lessons", "rs"), with_ext("common/src", "rs")].concat() {
        problems.extend(check_anchor_pairs(&source, &read(&source)));
    }
    let (summary, readme) = (
        read(&root.join("docs/src/SUMMARY.md")),
        read(&root.join("README.md")),
    );
    let chinese = read(&root.join("README.zh-CN.md"));
    for lesson in LESSONS {
        let (name, chapter) = (lesson.name, format!("{}.md", lesson.name));
        let text = read(&root.join("docs/src").join(&chapter));
        let (sources, row) = (format!("lessons/{}/", lesson.dir), format!("| `{name}` |"));
        let missing = [
            (
                text.contains(&sources),
                "its chapter does not include the lesson's sources",
            ),
            (
                summary.contains(&format!("]({chapter})")),
                "SUMMARY.md does not list its chapter",
            ),
            (readme.contains(&row), "no row in README.md's lesson table"),
            (
                chinese.contains(&row),
                "no row in README.zh-CN.md's lesson table",
            ),
            (
                PAIRS.iter().any(|p| p.lessons.contains(&name)),
                "in no pair of cargo xtask demo/e2e",
            ),
        ];
        let missing = missing.iter().filter(|(ok, _)| !ok);
        problems.extend(missing.map(|(_, what)| format!("{name}: {what} ({chapter})")));
    }
    // README.zh-CN.md translates README.md whole: the same commands, in the same order.
    let (en, zh) = (commands(&readme), commands(&chinese));
    if en != zh {
        let differ = en.iter().zip(&zh).find(|(a, b)| a != b);
        let differ = differ.map_or(
            format!("{} commands against {}", en.len(), zh.len()),
            |(a, b)| format!("`{a}` against `{b}`"),
        );
        problems.push(format!(
            "README.zh-CN.md's commands are not README.md's: {differ}"
        ));
    }
    let dirs = fs::read_dir(root.join("lessons"))
        .into_iter()
        .flatten()
        .flatten();
    let dirs = dirs.map(|dir| dir.file_name().to_string_lossy().into_owned());
    let strays = dirs.filter(|name| !LESSONS.iter().any(|l| l.dir == name));
    problems.extend(strays.map(|name| format!("lessons/{name} is not in xtask's manifest")));
    problems
}

/// The commands of a README's console blocks, without their comments.
fn commands(readme: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut inside = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            inside = line.trim() == "```console";
        } else if inside {
            let command = line.split(" # ").next().unwrap_or(line).trim();
            found.extend((!command.is_empty()).then(|| command.to_string()));
        }
    }
    found
}

/// What is wrong with `{{#include PATH[:ANCHOR]}}` in `chapter`.
fn check_include(chapter: &Path, include: &str) -> Option<String> {
    let (path, anchor) = include.split_once(':').unwrap_or((include, ""));
    let target = chapter.parent().unwrap_or(Path::new(".")).join(path);
    let here = chapter.display();
    let Ok(text) = fs::read_to_string(&target) else {
        return Some(format!("{here}: includes {path}, which does not exist"));
    };
    if anchor
        .split(':')
        .all(|n| n.chars().all(|c| c.is_ascii_digit()))
        && !anchor.is_empty()
    {
        return Some(format!(
            "{here}: includes {path} by line numbers ({anchor}); use an ANCHOR, lines drift"
        ));
    }
    match anchored(&text, anchor) {
        Some(body) if !body.trim().is_empty() => None,
        Some(_) if anchor.is_empty() => Some(format!("{here}: includes {path}, which is empty")),
        Some(_) => Some(format!("{here}: anchor {anchor} in {path} is empty")),
        None => Some(format!("{here}: anchor {anchor} is not in {path}")),
    }
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name`, other anchor lines left out; the
/// whole text for the name "".
fn anchored(text: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(text.to_string());
    }
    let mut body = None::<String>;
    for line in text.lines() {
        match (anchor_of(line, "ANCHOR:"), anchor_of(line, "ANCHOR_END:")) {
            (Some(n), _) if n == name => body = Some(String::new()),
            (_, Some(n)) if n == name => return body,
            (Some(_), _) | (_, Some(_)) => {}
            (None, None) => body.iter_mut().for_each(|b| *b += &format!("{line}\n")),
        }
    }
    None
}

fn anchor_of<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.find(marker)?;
    line[at + marker.len()..].split_whitespace().next()
}

/// Anchors opened twice, closed without being opened, or never closed.
fn check_anchor_pairs(source: &Path, text: &str) -> Vec<String> {
    let (mut problems, source) = (Vec::new(), source.display());
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if let Some(name) = anchor_of(line, "ANCHOR:") {
            if open.insert(name, n).is_some() {
                problems.push(format!("{source}:{n}: ANCHOR {name} opened twice"));
            }
        } else if let Some(name) = anchor_of(line, "ANCHOR_END:")
            && open.remove(name).is_none()
        {
            problems.push(format!(
                "{source}:{n}: ANCHOR_END {name} without its ANCHOR"
            ));
        }
    }
    let unclosed = open.into_iter();
    problems
        .extend(unclosed.map(|(name, n)| format!("{source}:{n}: ANCHOR {name} is never closed")));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_and_the_lessons_keep_the_house_rules() {
        let problems = check(&crate::bins::repo_root());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn finds_anchored_text_and_reports_what_is_missing() {
        let src =
            "a\n// ANCHOR: x\nline\n// ANCHOR: y\ninner\n// ANCHOR_END: y\n// ANCHOR_END: x\n";
        assert_eq!(anchored(src, "x").as_deref(), Some("line\ninner\n"));
        assert_eq!(anchored(src, "y").as_deref(), Some("inner\n"));
        assert_eq!(anchored(src, "z"), None);
        let problems = check_anchor_pairs(Path::new("f.rs"), "// ANCHOR: a\n// ANCHOR_END: b\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
