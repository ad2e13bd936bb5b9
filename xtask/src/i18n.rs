//! The Chinese book: `extract` takes the English prose into `po/messages.pot` with
//! mdbook-xgettext and merges it into `po/zh-CN.po` with GNU gettext's `msgmerge`, as
//! Comprehensive Rust does: a changed paragraph keeps its old translation, marked fuzzy (with the
//! old English beside it), and `cargo xtask check` fails until a translator has looked at it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use polib::po_file;

use crate::bins::{run, walk};

/// The language of the translated book, as mdBook and the PO file name it.
pub const LANGUAGE: &str = "zh-CN";

/// The Chinese book's title (book.toml holds the English one).
const TITLE: &str = "socket-lessons：用 Rust 学 TCP 与 UDP 套接字编程";

/// The header of `po/messages.pot`, fixed: mdbook-xgettext dates its own, and a date would
/// change po/ at every run. msgmerge carries it into the PO file.
const HEADER: &str = r#"msgid ""
msgstr ""
"Project-Id-Version: socket-lessons\n"
"POT-Creation-Date: 2026-11-27 00:00+0000\n"
"PO-Revision-Date: 2026-11-27 00:00+0000\n"
"Last-Translator: socket-lessons developers\n"
"Language-Team: socket-lessons developers\n"
"MIME-Version: 1.0\n"
"Content-Type: text/plain; charset=UTF-8\n"
"Content-Transfer-Encoding: 8bit\n"
"Language: zh-CN\n"
"Plural-Forms: nplurals=1; plural=0;\n"
"#;

/// Writes `po/messages.pot` from the English book and merges it into `po/zh-CN.po`.
///
/// Only prose is extracted: headings, paragraphs, lists, tables, captions. mdbook-xgettext
/// also takes the comments and strings out of code blocks, but listings and transcripts are
/// code and real output, and stay as they are in both books: so it reads the book a second time
/// without its code blocks, and `msgcomm` keeps the messages found both times.
pub fn extract(root: &Path) -> Result<()> {
    let (pot, po) = (root.join("po/messages.pot"), po_file(root));
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let (docs, prose) = (root.join("docs"), scratch.path().join("prose"));
    for file in walk(&docs)
        .into_iter()
        .filter(|f| !f.starts_with(docs.join("book")))
    {
        let to = prose.join(file.strip_prefix(&docs)?);
        fs::create_dir_all(to.parent().unwrap_or(&prose))?;
        match file.extension().is_some_and(|e| e == "md") {
            true => fs::write(&to, strip_code_blocks(&fs::read_to_string(&file)?))?,
            false => fs::copy(&file, &to).map(drop)?,
        }
    }
    let all = xgettext(&docs, &scratch.path().join("all"))?;
    let only_prose = xgettext(&prose, &scratch.path().join("pot"))?;
    let common = scratch.path().join("common.pot");
    gettext(Command::new("msgcomm").args(["--more-than=1", "-o"]).args([
        &common,
        &all,
        &only_prose,
    ]))?;
    let text = fs::read_to_string(&common)?;
    let body = text.split_once("\n\n").map_or("", |(_, body)| body);
    fs::write(&pot, format!("{HEADER}\n{body}"))?;
    if !po.exists() {
        fs::copy(&pot, &po)?;
    }
    let merge = ["--quiet", "--update", "--backup=none", "--previous"];
    gettext(Command::new("msgmerge").args(merge).arg(&po).arg(&pot))?;
    gettext(
        Command::new("msgattrib")
            .args(["--no-obsolete", "-o"])
            .arg(&po)
            .arg(&po),
    )?;
    gettext(
        Command::new("msgfmt")
            .args(["--statistics", "-o", "/dev/null"])
            .arg(&po),
    )
}

/// The messages of the book in `book`, extracted into `out`/messages.pot.
fn xgettext(book: &Path, out: &Path) -> Result<PathBuf> {
    let config = r#"{"xgettext": {"pot-file": "messages.pot", "granularity": 0}}"#;
    let mut cmd = Command::new("mdbook");
    mdbook(
        cmd.arg("build")
            .arg(book)
            .arg("-d")
            .arg(out)
            .env("MDBOOK_OUTPUT", config),
    )?;
    Ok(out.join("messages.pot"))
}

/// `markdown` without its fenced code blocks (``` or ~~~, of any length, closed by the same).
fn strip_code_blocks(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut fence: Option<&str> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker = &trimmed[..trimmed.len() - trimmed.trim_start_matches(['`', '~']).len()];
        match fence {
            None if marker.len() >= 3 => fence = Some(marker),
            None => {
                out.push_str(line);
                out.push('\n');
            }
            Some(open) if marker.starts_with(open) && trimmed.trim_end() == marker => fence = None,
            Some(_) => {}
        }
    }
    out
}

/// The messages of `po/zh-CN.po` that are not done: untranslated, fuzzy, or missing (English
/// in `po/messages.pot` that the PO file lacks), as `msgcmp` finds them; and a figure whose
/// Chinese page does not show the Chinese figure, which `cargo xtask check --fix` makes.
pub fn problems(root: &Path) -> Result<Vec<String>> {
    let po = po_file(root);
    let out = Command::new("msgcmp")
        .arg(&po)
        .arg(root.join("po/messages.pot"))
        .output()
        .context("cannot run msgcmp (apt-get install gettext)")?;
    let mut problems: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(": this message") && !l.contains("warning:"))
        .map(|l| format!("{l} (translate it; `cargo xtask i18n extract` first if it is missing)"))
        .collect();
    if !out.status.success() && problems.is_empty() {
        bail!("msgcmp failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = fs::read_to_string(&po).with_context(|| format!("cannot read {}", po.display()))?;
    let catalog = po_file::parse_from_reader(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", po.display()))?;
    for m in catalog.messages().filter(|m| m.is_translated()) {
        let msgstr = m.msgstr().unwrap_or_default();
        for (at, _) in m.msgid().match_indices("](figures/") {
            let rest = &m.msgid()[at + "](figures/".len()..];
            let Some(name) = rest.split(')').next().filter(|n| n.ends_with(".svg")) else {
                continue;
            };
            if !msgstr.contains(&format!("](figures/zh-CN/{name})")) {
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
    let (english, chinese) = (docs.join("book"), docs.join("book").join(LANGUAGE));
    mdbook(Command::new("mdbook").arg("build").arg(&docs))?;
    mdbook(
        Command::new("mdbook")
            .arg("build")
            .arg(&docs)
            .arg("-d")
            .arg(&chinese)
            .env("MDBOOK_BOOK__LANGUAGE", LANGUAGE)
            .env("MDBOOK_BOOK__TITLE", TITLE),
    )?;
    let pages = |dir: &Path| -> Vec<PathBuf> {
        let skip = ["print.html", "toc.html", "404.html"];
        walk(dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "html"))
            .filter(|p| !skip.iter().any(|n| p.ends_with(n)))
            .filter(|p| dir == chinese || !p.starts_with(&chinese))
            .collect()
    };
    let mut problems = Vec::new();
    for page in pages(&english) {
        let relative = page.strip_prefix(&english).unwrap_or(&page);
        if !chinese.join(relative).exists() {
            problems.push(format!("{}: no Chinese page", relative.display()));
        }
        problems.extend(broken_links(&page)?);
    }
    for page in pages(&chinese) {
        problems.extend(broken_links(&page)?);
    }
    if !problems.is_empty() {
        bail!("the books are not whole:\n{}", problems.join("\n"));
    }
    println!(
        "{} and {}: the same pages, every internal link resolves",
        english.display(),
        chinese.display()
    );
    Ok(())
}

/// The links of `page` to a file of the book that does not exist, or to a `#fragment` that the
/// page it names has no element for.
fn broken_links(page: &Path) -> Result<Vec<String>> {
    let html = fs::read_to_string(page)?;
    let dir = page.parent().unwrap_or(Path::new("."));
    let mut broken = Vec::new();
    let targets = html
        .split("href=\"")
        .skip(1)
        .chain(html.split("src=\"").skip(1));
    for target in targets.filter_map(|rest| rest.split('"').next()) {
        let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
        let file = file.split('?').next().unwrap_or("");
        if file.contains(':') || file.starts_with("//") || file.contains('{') {
            continue; // another site, or a template
        }
        let linked = if file.is_empty() {
            page.to_path_buf()
        } else {
            dir.join(file)
        };
        if !linked.exists() {
            broken.push(format!("{}: broken link {target}", page.display()));
        } else if !fragment.is_empty()
            && !fs::read_to_string(&linked).is_ok_and(|t| t.contains(&format!("id=\"{fragment}\"")))
        {
            broken.push(format!(
                "{}: link {target}: no #{fragment} there",
                page.display()
            ));
        }
    }
    Ok(broken)
}

/// Runs an mdbook command, and says what to install when it is missing.
fn mdbook(cmd: &mut Command) -> Result<()> {
    installed(
        cmd,
        "cargo install --locked mdbook@0.5.4 mdbook-i18n-helpers@0.4.0",
    )
}

/// Runs a GNU gettext tool, and says what to install when it is missing.
fn gettext(cmd: &mut Command) -> Result<()> {
    installed(cmd, "apt-get install gettext")
}

fn installed(cmd: &mut Command, install: &str) -> Result<()> {
    run(cmd).map_err(|e| {
        let missing = e.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
        });
        if missing {
            e.context(format!("not installed: {install}"))
        } else {
            e
        }
    })
}

fn po_file(root: &Path) -> PathBuf {
    root.join("po").join(format!("{LANGUAGE}.po"))
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
        if Command::new("mdbook-xgettext")
            .arg("--help")
            .output()
            .is_err()
            || Command::new("msgmerge").arg("--version").output().is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install the book's tools"
            );
            eprintln!("skipped: mdbook-xgettext or msgmerge is not installed");
            return;
        }
        let repo = crate::bins::repo_root();
        let copy = tempfile::tempdir().unwrap();
        let root = copy.path();
        for dir in ["docs", "po", "lessons", "common", "exercises", "xtask"] {
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
        let changed = text.replacen(
            "the best pages on sockets",
            "the best pages about sockets",
            1,
        );
        assert_ne!(
            text, changed,
            "the test's paragraph is gone from glossary.md"
        );
        fs::write(&chapter, changed).unwrap();
        extract(root).unwrap();

        let after = problems(root).unwrap();
        assert_eq!(after.len(), before.len() + 1, "{after:#?}");
        let po = fs::read_to_string(po_file(root)).unwrap();
        let catalog = po_file::parse_from_reader(po.as_bytes()).unwrap();
        let fuzzy: Vec<_> = catalog
            .messages()
            .filter(|m| m.is_fuzzy())
            .map(|m| m.msgid())
            .collect();
        assert!(
            fuzzy.iter().any(|id| id.contains("pages about sockets")),
            "{fuzzy:?}"
        );
    }

    #[test]
    fn code_blocks_are_left_out_of_the_prose() {
        let md = "# Title\n\nText.\n\n```rust\n// a comment\n```\n\n~~~~text\n```\n~~~~\nMore.\n";
        assert_eq!(strip_code_blocks(md), "# Title\n\nText.\n\n\nMore.\n");
    }
}
