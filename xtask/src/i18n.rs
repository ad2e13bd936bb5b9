//! The Chinese book: `extract` takes the English prose into `po/messages.pot` with
//! mdbook-xgettext and merges it into `po/zh-CN.po` with GNU gettext's `msgmerge`, as
//! Comprehensive Rust does: a changed paragraph keeps its old translation, marked fuzzy (with the
//! old English beside it), and `cargo xtask check` fails until a translator has looked at it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use polib::po_file;

use crate::bins::{read, run, walk, with_ext, write};

/// The Chinese book's title (book.toml holds the English one).
const TITLE: &str = "socket-lessons：用 Rust 学 TCP 与 UDP 套接字编程";
const GETTEXT: &str = "GNU gettext's tools (apt-get install gettext)";
const MDBOOK: &str = "cargo install --locked mdbook@0.5.4 mdbook-i18n-helpers@0.4.0";

/// Writes `po/messages.pot` from the English book and merges it into `po/zh-CN.po`.
///
/// Only prose is extracted: headings, paragraphs, lists, tables, captions. mdbook-xgettext
/// also takes the comments and strings out of code blocks, but listings and transcripts are
/// code and real output, and stay as they are in both books: so it reads a copy of the book
/// whose code blocks are blank lines.
pub fn extract(root: &Path) -> Result<()> {
    let (pot, po) = (root.join("po/messages.pot"), root.join("po/zh-CN.po"));
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let (docs, prose) = (root.join("docs"), scratch.path().join("prose"));
    for file in walk(&docs)
        .iter()
        .filter(|f| !f.starts_with(docs.join("book")))
    {
        let to = prose.join(file.strip_prefix(&docs)?);
        fs::create_dir_all(to.parent().unwrap_or(&prose))?;
        match file.extension().is_some_and(|e| e == "md") {
            true => write(&to, blank_code_blocks(&read(file)?))?,
            false => fs::copy(file, &to).map(drop)?,
        }
    }
    let out = scratch.path().join("pot");
    let config = r#"{"xgettext": {"pot-file": "messages.pot", "granularity": 0}}"#;
    let mut xgettext = Command::new("mdbook");
    xgettext.arg("build").arg(&prose).arg("-d").arg(&out);
    run(xgettext.env("MDBOOK_OUTPUT", config)).context(MDBOOK)?;
    // msgcat wraps the lines as the other gettext tools do, so that po/ changes only where the
    // English does.
    let wrapped = scratch.path().join("wrapped.pot");
    let mut msgcat = Command::new("msgcat");
    run(msgcat.arg(out.join("messages.pot")).arg("-o").arg(&wrapped)).context(GETTEXT)?;
    // The header stays the one po/messages.pot has: mdbook-xgettext dates its own, and a date
    // would change po/ at every run. msgmerge carries it into the PO file.
    let new = read(&wrapped)?;
    let (header, body) = new.split_once("\n\n").unwrap_or((&new, ""));
    let old = fs::read_to_string(&pot).unwrap_or_default();
    let header = old.split_once("\n\n").map_or(header, |(old, _)| old);
    write(&pot, format!("{header}\n\n{body}"))?;
    if !po.exists() {
        fs::copy(&pot, &po)?;
    }
    let merge = ["--quiet", "--update", "--backup=none", "--previous"];
    run(Command::new("msgmerge").args(merge).arg(&po).arg(&pot)).context(GETTEXT)?;
    run(Command::new("msgattrib")
        .args(["--no-obsolete", "-o"])
        .arg(&po)
        .arg(&po))?;
    run(Command::new("msgfmt")
        .args(["--statistics", "-o", "/dev/null"])
        .arg(&po))
}

/// `markdown` with each line of its fenced code blocks (``` or ~~~, of any length, closed by
/// the same) blank.
fn blank_code_blocks(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut fence: Option<&str> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker = &trimmed[..trimmed.len() - trimmed.trim_start_matches(['`', '~']).len()];
        match fence {
            None if marker.len() >= 3 => fence = Some(marker),
            None => out.push_str(line),
            Some(open) if marker.starts_with(open) && trimmed.trim_end() == marker => fence = None,
            Some(_) => {}
        }
        out.push('\n');
    }
    out
}

/// The messages of `po/zh-CN.po` that are not done: untranslated, fuzzy, or missing (English
/// in `po/messages.pot` that the PO file lacks), as `msgcmp` finds them; and a figure whose
/// Chinese page does not show the Chinese figure, which `cargo xtask check --fix` makes.
pub fn problems(root: &Path) -> Result<Vec<String>> {
    let po = root.join("po/zh-CN.po");
    let out = Command::new("msgcmp")
        .arg(&po)
        .arg(root.join("po/messages.pot"))
        .output()
        .context(GETTEXT)?;
    let mut problems: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(": this message") && !l.contains("warning:"))
        .map(|l| format!("{l} (translate it; `cargo xtask i18n extract` first if it is missing)"))
        .collect();
    if !out.status.success() && problems.is_empty() {
        bail!("msgcmp failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let catalog = po_file::parse(&po).map_err(|e| anyhow::anyhow!("{}: {e}", po.display()))?;
    for m in catalog.messages().filter(|m| m.is_translated()) {
        let figures = m.msgid().split("](figures/").skip(1);
        for name in figures.filter_map(|rest| rest.split(')').next()) {
            let chinese = format!("](figures/zh-CN/{name})");
            if name.ends_with(".svg") && !m.msgstr().unwrap_or_default().contains(&chinese) {
                problems.push(format!(
                    "{}: the Chinese shows figures/{name}, not figures/zh-CN/{name}",
                    m.source()
                ));
            }
        }
    }
    Ok(problems)
}

/// Builds the English book into `docs/book/` and the Chinese one into `docs/book/zh-CN/`, and
/// checks that both have the same pages and that every link inside them leads somewhere.
pub fn book(root: &Path) -> Result<()> {
    let docs = root.join("docs");
    let (english, chinese) = (docs.join("book"), docs.join("book/zh-CN"));
    run(Command::new("mdbook").arg("build").arg(&docs)).context(MDBOOK)?;
    let mut zh = Command::new("mdbook");
    zh.arg("build").arg(&docs).arg("-d").arg(&chinese);
    run(zh
        .env("MDBOOK_BOOK__LANGUAGE", "zh-CN")
        .env("MDBOOK_BOOK__TITLE", TITLE))?;
    let pages = |dir: &Path| -> Vec<PathBuf> {
        let skip = ["print.html", "toc.html", "404.html"];
        let pages = with_ext(dir, "html").into_iter();
        let pages = pages.filter(|p| !skip.iter().any(|n| p.ends_with(n)));
        pages
            .filter(|p| dir == chinese || !p.starts_with(&chinese))
            .collect()
    };
    let mut problems = Vec::new();
    for page in pages(&english) {
        let relative = page.strip_prefix(&english).unwrap_or(&page);
        if !chinese.join(relative).exists() {
            problems.push(format!("{}: no Chinese page", relative.display()));
        }
    }
    for page in pages(&english).iter().chain(&pages(&chinese)) {
        problems.extend(broken_links(page)?);
    }
    if !problems.is_empty() {
        bail!("the books are not whole:\n{}", problems.join("\n"));
    }
    let (en, zh) = (english.display(), chinese.display());
    println!("{en} and {zh}: the same pages, every internal link resolves");
    Ok(())
}

/// The links of `page` to a file of the book that does not exist, or to a `#fragment` that the
/// page it names has no element for.
fn broken_links(page: &Path) -> Result<Vec<String>> {
    let html = read(page)?;
    let mut broken = Vec::new();
    let targets = html
        .split("href=\"")
        .chain(html.split("src=\"").skip(1))
        .skip(1);
    for target in targets.filter_map(|rest| rest.split('"').next()) {
        let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
        let file = file.split('?').next().unwrap_or("");
        if file.contains(':') || file.starts_with("//") || file.contains('{') {
            continue; // another site, or a template
        }
        let linked = page.with_file_name(file);
        let linked = if file.is_empty() { page } else { &linked };
        let id = format!("id=\"{fragment}\"");
        if !linked.exists() {
            broken.push(format!("{}: broken link {target}", page.display()));
        } else if !fragment.is_empty() && !fs::read_to_string(linked).is_ok_and(|t| t.contains(&id))
        {
            broken.push(format!(
                "{}: link {target}: no #{fragment} there",
                page.display()
            ));
        }
    }
    Ok(broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workflow end to end, on a copy of the book and its translation: one changed English
    /// paragraph makes exactly one more problem, its message fuzzy. Needs mdbook,
    /// mdbook-i18n-helpers and gettext (CI installs them before the tests); without them it says
    /// so, and fails only in CI.
    #[test]
    fn changing_one_paragraph_makes_exactly_one_message_fuzzy() {
        let installed = crate::bins::installed;
        if !installed("mdbook-xgettext") || !installed("msgmerge") {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install the book's tools"
            );
            return eprintln!("skipped: mdbook-xgettext or msgmerge is not installed");
        }
        let repo = crate::bins::repo_root();
        let copy = tempfile::tempdir().unwrap();
        let root = copy.path();
        for dir in ["docs", "po"] {
            for file in walk(&repo.join(dir)) {
                let to = root.join(file.strip_prefix(&repo).unwrap());
                fs::create_dir_all(to.parent().unwrap()).unwrap();
                fs::copy(&file, to).unwrap();
            }
        }
        extract(root).unwrap();
        let before = problems(root).unwrap();
        let chapter = root.join("docs/src/glossary.md");
        let text = fs::read_to_string(&chapter).unwrap();
        let changed = text.replacen("best pages on sockets", "best pages about sockets", 1);
        assert_ne!(
            text, changed,
            "the test's paragraph is gone from glossary.md"
        );
        fs::write(&chapter, changed).unwrap();
        extract(root).unwrap();
        let after = problems(root).unwrap();
        assert_eq!(after.len(), before.len() + 1, "{after:#?}");
        let catalog = po_file::parse(&root.join("po/zh-CN.po")).unwrap();
        let mut fuzzy = catalog.messages().filter(|m| m.is_fuzzy());
        assert!(fuzzy.any(|m| m.msgid().contains("pages about sockets")));
    }

    #[test]
    fn code_blocks_are_left_out_of_the_prose() {
        let md = "# Title\n\nText.\n\n```rust\n// a comment\n```\n\n~~~~text\n```\n~~~~\nMore.\n";
        assert_eq!(
            blank_code_blocks(md),
            "# Title\n\nText.\n\n\n\n\n\n\n\n\nMore.\n"
        );
    }
}
