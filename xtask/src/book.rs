//! House rules for the book, checked by `cargo xtask check` and by `cargo test`.
//!
//! mdBook prints nothing for a misspelled anchor, so a chapter could lose its listing without
//! anyone noticing. This check makes that an error, along with the other ways a lesson can
//! be left half done: no chapter, no README row, no pair, no SUMMARY entry.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::bins::walk;
use crate::manifest::LESSONS;
use crate::scenes::PAIRS;

/// Every problem found under the repository at `root`; empty when all is well.
pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let docs = root.join("docs/src");
    let chapters = files_with_ext(&docs, "md");
    if chapters.is_empty() {
        problems.push(format!("no chapters under {}", docs.display()));
    }
    for chapter in &chapters {
        let text = read(chapter, &mut problems);
        // An indented include (in a list item) indents only the listing's first line: the
        // rest falls out of the code block and renders as a paragraph.
        if let Some(line) = text.lines().find(|l| {
            l.trim_start().starts_with("{{#include") && l.starts_with(char::is_whitespace)
        }) {
            problems.push(format!(
                "{}: an indented include: {}",
                chapter.display(),
                line.trim()
            ));
        }
        for include in includes(&text) {
            check_include(chapter, &include, &mut problems);
        }
    }
    for source in files_with_ext(&root.join("lessons"), "rs")
        .into_iter()
        .chain(files_with_ext(&root.join("common/src"), "rs"))
    {
        let text = read(&source, &mut problems);
        check_anchor_pairs(&source, &text, &mut problems);
    }
    check_lessons(root, &mut problems);
    problems
}

fn check_lessons(root: &Path, problems: &mut Vec<String>) {
    let summary = fs::read_to_string(root.join("docs/src/SUMMARY.md")).unwrap_or_default();
    let readme = fs::read_to_string(root.join("README.md")).unwrap_or_default();
    for lesson in LESSONS {
        let chapter = root.join("docs/src").join(lesson.chapter());
        let text = fs::read_to_string(&chapter).unwrap_or_default();
        if !text.contains(&format!("lessons/{}/", lesson.dir)) {
            problems.push(format!(
                "{}: chapter {} does not include the lesson's sources",
                lesson.name,
                lesson.chapter()
            ));
        }
        if !summary.contains(&format!("]({})", lesson.chapter())) {
            problems.push(format!(
                "{}: SUMMARY.md does not list {}",
                lesson.name,
                lesson.chapter()
            ));
        }
        if !readme.contains(&format!("| `{}` |", lesson.name)) {
            problems.push(format!(
                "{}: no row in README.md's lesson table",
                lesson.name
            ));
        }
        if !PAIRS.iter().any(|p| p.lessons.contains(&lesson.name)) {
            problems.push(format!(
                "{}: in no pair of cargo xtask demo/e2e",
                lesson.name
            ));
        }
    }
    check_readmes(root, &readme, problems);
    let dirs = fs::read_dir(root.join("lessons"))
        .into_iter()
        .flatten()
        .flatten();
    for dir in dirs {
        let name = dir.file_name().to_string_lossy().into_owned();
        if !LESSONS.iter().any(|l| l.dir == name) {
            problems.push(format!("lessons/{name} is not in xtask's manifest"));
        }
    }
}

/// README.zh-CN.md translates README.md whole: the same commands, in the same order, and a row
/// for every lesson.
fn check_readmes(root: &Path, english: &str, problems: &mut Vec<String>) {
    let chinese = fs::read_to_string(root.join("README.zh-CN.md")).unwrap_or_default();
    for lesson in LESSONS {
        if !chinese.contains(&format!("| `{}` |", lesson.name)) {
            problems.push(format!(
                "{}: no row in README.zh-CN.md's lesson table",
                lesson.name
            ));
        }
    }
    let (en, zh) = (commands(english), commands(&chinese));
    if en != zh {
        let differ = en
            .iter()
            .zip(&zh)
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("`{a}` against `{b}`"))
            .unwrap_or_else(|| format!("{} commands against {}", en.len(), zh.len()));
        problems.push(format!(
            "README.zh-CN.md's commands are not README.md's: {differ}"
        ));
    }
}

/// The commands of a README's console blocks, without their comments.
fn commands(readme: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut inside = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            inside = line.trim() == "```console";
            continue;
        }
        if inside {
            let command = line.split(" # ").next().unwrap_or(line).trim();
            if !command.is_empty() {
                found.push(command.to_string());
            }
        }
    }
    found
}

/// The `{{#include PATH[:ANCHOR]}}` directives of a chapter, as `(path, suffix)`.
fn includes(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{#include ") {
        let after = &rest[start + "{{#include ".len()..];
        let Some(end) = after.find("}}") else { break };
        found.push(after[..end].trim().to_string());
        rest = &after[end..];
    }
    found
}

fn check_include(chapter: &Path, include: &str, problems: &mut Vec<String>) {
    let here = chapter.display();
    let (path, anchor) = match include.split_once(':') {
        Some((p, a)) => (p, Some(a)),
        None => (include, None),
    };
    let dir = chapter.parent().unwrap_or(Path::new("."));
    let target = dir.join(path);
    let Ok(text) = fs::read_to_string(&target) else {
        problems.push(format!("{here}: includes {path}, which does not exist"));
        return;
    };
    let Some(anchor) = anchor else {
        if text.trim().is_empty() {
            problems.push(format!("{here}: includes {path}, which is empty"));
        }
        return;
    };
    if anchor
        .split(':')
        .all(|n| n.is_empty() || n.chars().all(|c| c.is_ascii_digit()))
    {
        problems.push(format!(
            "{here}: includes {path} by line numbers ({anchor}); use an ANCHOR, lines drift"
        ));
        return;
    }
    let body = anchored(&text, anchor);
    match body {
        Some(body) if !body.trim().is_empty() => {}
        Some(_) => problems.push(format!("{here}: anchor {anchor} in {path} is empty")),
        None => problems.push(format!("{here}: anchor {anchor} is not in {path}")),
    }
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name`, other anchor lines left out.
fn anchored(text: &str, name: &str) -> Option<String> {
    let mut body = None::<String>;
    for line in text.lines() {
        match (anchor_of(line, "ANCHOR:"), anchor_of(line, "ANCHOR_END:")) {
            (Some(n), _) if n == name => body = Some(String::new()),
            (_, Some(n)) if n == name => return body,
            (Some(_), _) | (_, Some(_)) => {}
            (None, None) => {
                if let Some(b) = body.as_mut() {
                    b.push_str(line);
                    b.push('\n');
                }
            }
        }
    }
    None
}

fn anchor_of<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.find(marker)?;
    line[at + marker.len()..].split_whitespace().next()
}

fn check_anchor_pairs(source: &Path, text: &str, problems: &mut Vec<String>) {
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(name) = anchor_of(line, "ANCHOR:") {
            if open.insert(name, i + 1).is_some() {
                problems.push(format!(
                    "{}:{}: ANCHOR {name} opened twice",
                    source.display(),
                    i + 1
                ));
            }
        } else if let Some(name) = anchor_of(line, "ANCHOR_END:")
            && open.remove(name).is_none()
        {
            problems.push(format!(
                "{}:{}: ANCHOR_END {name} without its ANCHOR",
                source.display(),
                i + 1
            ));
        }
    }
    for (name, line) in open {
        problems.push(format!(
            "{}:{line}: ANCHOR {name} is never closed",
            source.display()
        ));
    }
}

fn read(path: &Path, problems: &mut Vec<String>) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| {
        problems.push(format!("cannot read {}: {e}", path.display()));
        String::new()
    })
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files = walk(dir);
    files.retain(|p| p.extension().is_some_and(|e| e == ext));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_and_the_lessons_keep_the_house_rules() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let problems = check(&root);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn finds_anchored_text_and_reports_what_is_missing() {
        let src =
            "a\n// ANCHOR: x\nline\n// ANCHOR: y\ninner\n// ANCHOR_END: y\n// ANCHOR_END: x\n";
        assert_eq!(anchored(src, "x").as_deref(), Some("line\ninner\n"));
        assert_eq!(anchored(src, "y").as_deref(), Some("inner\n"));
        assert_eq!(anchored(src, "z"), None);
        let mut problems = Vec::new();
        check_anchor_pairs(
            Path::new("f.rs"),
            "// ANCHOR: a\n// ANCHOR_END: b\n",
            &mut problems,
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn parses_include_directives() {
        let md = "x {{#include ../../a.rs:bind}} y\n{{#include b.txt}}";
        assert_eq!(includes(md), ["../../a.rs:bind", "b.txt"]);
    }
}
