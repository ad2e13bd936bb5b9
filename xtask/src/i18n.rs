//! The Chinese book: extract the English text into `po/messages.pot`, carry the translations
//! of `po/zh-CN.po` over to it, and check that every message is translated.
//!
//! The English chapters are the source. mdbook-i18n-helpers keys each translation by its
//! English paragraph, so a changed paragraph no longer finds its translation: `extract` then
//! keeps the old translation beside the new English, marked fuzzy, and `check` fails until a
//! translator has looked at it. (This is what `msgmerge` does; doing it here spares students
//! and CI the GNU gettext tools.)

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use polib::catalog::Catalog;
use polib::message::Message;
use polib::metadata::CatalogMetadata;
use polib::po_file;

/// The language of the translated book, as mdBook and the PO file name it.
pub const LANGUAGE: &str = "zh-CN";

/// The Chinese book's title (book.toml holds the English one).
const TITLE: &str = "socket-lessons：用 Rust 学 TCP 与 UDP 套接字编程";

/// Writes `po/messages.pot` from the English book and merges it into `po/zh-CN.po`.
///
/// Only prose is extracted: headings, paragraphs, lists, tables, captions. mdbook-xgettext
/// also takes the comments and strings out of code blocks, but listings and transcripts are
/// code and real output, and stay as they are in both books; so the book is extracted a second
/// time with its code blocks removed, and only messages found there are kept.
pub fn extract(root: &Path) -> Result<()> {
    let stats = extract_in(root)?;
    println!(
        "{}: {} messages: {} kept, {} fuzzy (their English changed), {} new; {} dropped",
        po_file(root).display(),
        stats.total,
        stats.kept,
        stats.fuzzy,
        stats.new,
        stats.dropped
    );
    Ok(())
}

fn extract_in(root: &Path) -> Result<MergeStats> {
    let everything = xgettext(&root.join("docs"))?;
    let without_code = tempfile::tempdir().context("cannot create a scratch directory")?;
    copy_without_code(&root.join("docs"), without_code.path())?;
    let prose = xgettext(without_code.path())?;
    let prose_ids: HashSet<&str> = prose.messages().map(|m| m.msgid()).collect();

    let mut pot = Catalog::new(metadata());
    for m in everything
        .messages()
        .filter(|m| prose_ids.contains(m.msgid()))
    {
        pot.append_or_update(
            Message::build_singular()
                .with_msgid(m.msgid().to_string())
                .with_source(m.source().to_string())
                .with_extracted_comments(m.extracted_comments().to_string())
                .with_msgstr(String::new())
                .done(),
        );
    }
    std::fs::create_dir_all(po_dir(root))?;
    let pot_path = po_dir(root).join("messages.pot");
    write(&pot, &pot_path)?;

    let po_path = po_file(root);
    let old = if po_path.exists() {
        read(&po_path)?
    } else {
        Catalog::new(metadata())
    };
    let (merged, stats) = merge(&pot, &old);
    write(&merged, &po_path)?;
    Ok(stats)
}

/// The messages of the book in `docs`, as mdbook-xgettext extracts them.
fn xgettext(docs: &Path) -> Result<Catalog> {
    let out = tempfile::tempdir().context("cannot create a scratch directory")?;
    run(Command::new("mdbook")
        .arg("build")
        .arg(docs)
        .arg("--dest-dir")
        .arg(out.path())
        .env(
            "MDBOOK_OUTPUT",
            r#"{"xgettext": {"pot-file": "messages.pot", "granularity": 0}}"#,
        ))?;
    read(&out.path().join("messages.pot"))
}

/// Copies the book in `from` to `to`, leaving out every fenced code block of its chapters.
fn copy_without_code(from: &Path, to: &Path) -> Result<()> {
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            if entry.file_name() == "book" {
                continue;
            }
            std::fs::create_dir_all(&dst)?;
            copy_without_code(&src, &dst)?;
        } else if src.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&src)?;
            std::fs::write(&dst, strip_code_blocks(&text))?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// `markdown` without its fenced code blocks (``` or ~~~, of any length, closed by the same).
fn strip_code_blocks(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut fence: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|&c| c == '`' || c == '~')
            .collect();
        match &fence {
            None if marker.len() >= 3 => fence = Some(marker),
            None => {
                out.push_str(line);
                out.push('\n');
            }
            Some(open) => {
                if marker.starts_with(open.as_str()) && trimmed.trim_end() == marker {
                    fence = None;
                }
            }
        }
    }
    out
}

/// What [`merge`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MergeStats {
    pub total: usize,
    pub kept: usize,
    pub fuzzy: usize,
    pub new: usize,
    pub dropped: usize,
}

/// The messages of `pot`, each with its translation from `old`: the same English keeps its
/// translation (and its fuzzy mark, if it had one); a changed English paragraph takes the
/// translation of the most similar paragraph that is gone, marked fuzzy; new text is empty.
pub fn merge(pot: &Catalog, old: &Catalog) -> (Catalog, MergeStats) {
    let current: HashSet<&str> = pot.messages().map(|m| m.msgid()).collect();
    // Translations whose English is no longer in the book: candidates for a changed paragraph.
    let gone: Vec<(&str, &str)> = old
        .messages()
        .filter(|m| !current.contains(m.msgid()))
        .filter_map(|m| Some((m.msgid(), m.msgstr().ok()?)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    let mut used = HashSet::new();

    let mut merged = Catalog::new(metadata());
    let mut stats = MergeStats {
        total: pot.count(),
        ..MergeStats::default()
    };
    for m in pot.messages() {
        let mut builder = Message::build_singular();
        builder
            .with_msgid(m.msgid().to_string())
            .with_source(m.source().to_string())
            .with_extracted_comments(m.extracted_comments().to_string());
        if let Some(prev) = old.find_message(None, m.msgid(), None) {
            builder
                .with_msgstr(prev.msgstr().unwrap_or("").to_string())
                .with_flags(prev.flags().clone())
                .with_translator_comments(prev.translator_comments().to_string());
            stats.kept += 1;
        } else if let Some((i, (_, msgstr))) = gone
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
            .map(|(i, g)| (i, g, similarity(m.msgid(), g.0)))
            .filter(|(_, _, s)| *s >= 0.6)
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(i, g, _)| (i, *g))
        {
            used.insert(i);
            let mut flags = polib::message::MessageFlags::new();
            flags.add_flag("fuzzy");
            builder.with_msgstr(msgstr.to_string()).with_flags(flags);
            stats.fuzzy += 1;
        } else {
            builder.with_msgstr(String::new());
            stats.new += 1;
        }
        merged.append_or_update(builder.done());
    }
    stats.dropped = gone.len() - used.len();
    (merged, stats)
}

/// How alike two texts are, from 0 to 1: twice the longest common subsequence of their
/// words over their total length, the measure `msgmerge` approximates for fuzzy matches.
fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<&str> = a.split_whitespace().collect();
    let b: Vec<&str> = b.split_whitespace().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let mut row = vec![0usize; b.len() + 1];
    for x in &a {
        let mut diag = 0;
        for (j, y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
            diag = up;
        }
    }
    2.0 * row[b.len()] as f64 / (a.len() + b.len()) as f64
}

/// The messages of `po/zh-CN.po` that are not done: untranslated, fuzzy, or missing because
/// `po/messages.pot` has English that the PO file does not (run `cargo xtask i18n extract`).
pub fn problems(root: &Path) -> Result<Vec<String>> {
    let po = read(&po_file(root))?;
    let mut problems = Vec::new();
    for m in po.messages() {
        let what = if m.is_fuzzy() {
            "fuzzy (its English changed)"
        } else if !m.is_translated() {
            "not translated"
        } else {
            continue;
        };
        problems.push(format!("{}: {what}: {}", m.source(), first_line(m.msgid())));
    }
    // A figure's Chinese page shows the Chinese figure, which `cargo xtask check --fix` makes.
    for m in po.messages().filter(|m| m.is_translated()) {
        let Ok(msgstr) = m.msgstr() else { continue };
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
    let pot_path = po_dir(root).join("messages.pot");
    if pot_path.exists() {
        let pot = read(&pot_path)?;
        for m in pot.messages() {
            if po.find_message(None, m.msgid(), None).is_none() {
                problems.push(format!(
                    "{}: missing from {}: {} (run cargo xtask i18n extract)",
                    m.source(),
                    po_file(root).display(),
                    first_line(m.msgid())
                ));
            }
        }
    }
    Ok(problems)
}

/// Builds the English book into `docs/book/` and the Chinese one into `docs/book/zh-CN/`.
pub fn book(root: &Path) -> Result<()> {
    let docs = root.join("docs");
    run(Command::new("mdbook").arg("build").arg(&docs))?;
    run(Command::new("mdbook")
        .arg("build")
        .arg(&docs)
        .arg("--dest-dir")
        .arg(docs.join("book").join(LANGUAGE))
        .env("MDBOOK_BOOK__LANGUAGE", LANGUAGE)
        .env("MDBOOK_BOOK__TITLE", TITLE))?;

    // Both books have the same pages, and every link inside them leads somewhere.
    let english = docs.join("book");
    let chinese = english.join(LANGUAGE);
    let mut problems = Vec::new();
    for page in html_pages(&english, &chinese)? {
        let relative = page.strip_prefix(&english).unwrap_or(&page);
        if !chinese.join(relative).exists() {
            problems.push(format!("{}: no Chinese page", relative.display()));
        }
    }
    for book in [&english, &chinese] {
        for page in html_pages(book, &chinese)? {
            problems.extend(broken_links(&page)?);
        }
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

/// The chapter pages of the book in `dir` (not `print.html`, `toc.html` or `404.html`, nor
/// the other book's pages under `skip`).
fn html_pages(dir: &Path, skip: &Path) -> Result<Vec<PathBuf>> {
    let mut pages = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                if path != skip && !path.ends_with("fonts") && !path.ends_with("FontAwesome") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "html")
                && !["print.html", "toc.html", "404.html"]
                    .iter()
                    .any(|n| path.ends_with(n))
            {
                pages.push(path);
            }
        }
    }
    pages.sort();
    Ok(pages)
}

/// The links of `page` to a file of the book that does not exist, or to a `#fragment` that the
/// page it names has no element for.
fn broken_links(page: &Path) -> Result<Vec<String>> {
    let html = std::fs::read_to_string(page)?;
    let dir = page.parent().unwrap_or(Path::new("."));
    let mut broken = Vec::new();
    for attr in ["href=\"", "src=\""] {
        for (start, _) in html.match_indices(attr) {
            let rest = &html[start + attr.len()..];
            let target = rest.split('"').next().unwrap_or("");
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target, None),
            };
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
                continue;
            }
            let Some(fragment) = fragment.filter(|f| !f.is_empty()) else {
                continue;
            };
            let text = if linked == page {
                html.clone()
            } else {
                std::fs::read_to_string(&linked).unwrap_or_default()
            };
            if !text.contains(&format!("id=\"{fragment}\"")) {
                broken.push(format!(
                    "{}: link {target}: {} has no #{fragment}",
                    page.display(),
                    file
                ));
            }
        }
    }
    Ok(broken)
}

/// Runs an mdbook command, echoing it, and says what to install when it is missing.
fn run(cmd: &mut Command) -> Result<()> {
    crate::bins::run(cmd).map_err(|e| {
        let missing = e.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
        });
        if missing {
            e.context(
                "the books need mdbook and mdbook-i18n-helpers: \
                 cargo install --locked mdbook@0.5.4 mdbook-i18n-helpers@0.4.0",
            )
        } else {
            e
        }
    })
}

/// Writes `catalog` with the full header that mdbook-gettext's parser requires (polib leaves
/// out empty fields, and mdbook-gettext's older polib then panics).
fn write(catalog: &Catalog, path: &Path) -> Result<()> {
    let mut buf = std::io::BufWriter::new(Vec::new());
    po_file::write(catalog, &mut buf)?;
    let text = String::from_utf8(buf.into_inner()?)?;
    let body = text.split_once("\n\n").map_or("", |(_, body)| body);
    let header: String = HEADER
        .iter()
        .map(|line| format!("\"{line}\\n\"\n"))
        .collect();
    std::fs::write(path, format!("msgid \"\"\nmsgstr \"\"\n{header}\n{body}"))
        .with_context(|| format!("cannot write {}", path.display()))
}

const HEADER: &[&str] = &[
    "Project-Id-Version: socket-lessons",
    "POT-Creation-Date: 2026-11-27 00:00+0000",
    "PO-Revision-Date: 2026-11-27 00:00+0000",
    "Last-Translator: socket-lessons developers",
    "Language-Team: socket-lessons developers",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: 8bit",
    "Language: zh-CN",
    "Plural-Forms: nplurals=1; plural=0;",
];

fn read(path: &Path) -> Result<Catalog> {
    if !path.exists() {
        bail!(
            "{} does not exist (run cargo xtask i18n extract)",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // polib panics on an empty comment line, `#` alone, which some PO editors write.
    let text: String = text
        .lines()
        .filter(|line| *line != "#")
        .flat_map(|line| [line, "\n"])
        .collect();
    po_file::parse_from_reader(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

fn po_dir(root: &Path) -> PathBuf {
    root.join("po")
}

fn po_file(root: &Path) -> PathBuf {
    po_dir(root).join(format!("{LANGUAGE}.po"))
}

/// The header of a new catalog (the written file always gets [`HEADER`]).
fn metadata() -> CatalogMetadata {
    CatalogMetadata::parse(&HEADER.join("\n")).unwrap_or_default()
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut short: String = line.chars().take(70).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use polib::message::{MessageMutView, MessageView};

    fn catalog(entries: &[(&str, &str)]) -> Catalog {
        let mut c = Catalog::new(metadata());
        for (id, s) in entries {
            c.append_or_update(
                Message::build_singular()
                    .with_msgid(id.to_string())
                    .with_msgstr(s.to_string())
                    .done(),
            );
        }
        c
    }

    #[test]
    fn a_changed_paragraph_and_only_it_becomes_fuzzy() {
        let old = catalog(&[
            ("UDP has no connection.", "UDP 没有连接。"),
            (
                "A socket is an endpoint of communication.",
                "套接字是通信的端点。",
            ),
        ]);
        let pot = catalog(&[
            ("UDP has no connection.", ""),
            ("A socket is one endpoint of a communication.", ""),
            ("Something entirely new here.", ""),
        ]);
        let (merged, stats) = merge(&pot, &old);
        assert_eq!(
            stats,
            MergeStats {
                total: 3,
                kept: 1,
                fuzzy: 1,
                new: 1,
                dropped: 0
            }
        );
        let kept = merged
            .find_message(None, "UDP has no connection.", None)
            .unwrap();
        assert!(!kept.is_fuzzy() && kept.msgstr().unwrap() == "UDP 没有连接。");
        let changed = merged
            .find_message(None, "A socket is one endpoint of a communication.", None)
            .unwrap();
        assert!(changed.is_fuzzy());
        assert_eq!(changed.msgstr().unwrap(), "套接字是通信的端点。");
        let new = merged
            .find_message(None, "Something entirely new here.", None)
            .unwrap();
        assert!(!new.is_translated());
    }

    /// The workflow end to end, on a copy of the repository: a complete translation passes
    /// the check; one changed English paragraph makes exactly one message fuzzy, and the check
    /// fails until it is translated again. Needs mdbook and mdbook-i18n-helpers (CI installs
    /// them before the tests); without them it says so and fails only in CI.
    #[test]
    fn changing_one_paragraph_makes_exactly_one_message_fuzzy() {
        if Command::new("mdbook-xgettext")
            .arg("--help")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install mdbook-i18n-helpers before the tests"
            );
            eprintln!("skipped: mdbook-xgettext is not installed");
            return;
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let copy = tempfile::tempdir().unwrap();
        for dir in ["docs", "po", "lessons", "common", "exercises", "xtask"] {
            if repo.join(dir).exists() {
                copy_tree(&repo.join(dir), &copy.path().join(dir));
            }
        }
        let root = copy.path();
        extract_in(root).unwrap();
        // Translate everything (the test's own stand-in translation) and check it passes.
        let mut po = read(&po_file(root)).unwrap();
        for mut m in po.messages_mut() {
            // A figure's Chinese is the Chinese figure, as a translator writes it.
            let zh = format!("译：{}", m.msgid()).replace("](figures/", "](figures/zh-CN/");
            m.set_msgstr(zh).unwrap();
            m.flags_mut().remove_flag("fuzzy");
        }
        write(&po, &po_file(root)).unwrap();
        assert_eq!(problems(root).unwrap(), Vec::<String>::new());

        // Change one word of one paragraph.
        let chapter = root.join("docs/src/glossary.md");
        let text = std::fs::read_to_string(&chapter).unwrap();
        let changed = text.replacen(
            "the best pages on sockets",
            "the best pages about sockets",
            1,
        );
        assert_ne!(
            text, changed,
            "the test's paragraph is gone from glossary.md"
        );
        std::fs::write(&chapter, changed).unwrap();

        let stats = extract_in(root).unwrap();
        assert_eq!(
            (stats.fuzzy, stats.new, stats.dropped),
            (1, 0, 0),
            "{stats:?}"
        );
        let problems = problems(root).unwrap();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("fuzzy") && problems[0].contains("glossary.md"));
    }

    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name == "target" || name == "book" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&entry.path(), &to.join(name));
            } else {
                std::fs::copy(entry.path(), to.join(name)).unwrap();
            }
        }
    }

    #[test]
    fn code_blocks_are_left_out_of_the_prose() {
        let md = "# Title\n\nText.\n\n```rust\n// a comment\n```\n\n~~~~text\n```\n~~~~\nMore.\n";
        assert_eq!(strip_code_blocks(md), "# Title\n\nText.\n\n\nMore.\n");
    }

    #[test]
    fn similarity_is_by_words() {
        assert_eq!(similarity("a b c", "a b c"), 1.0);
        assert_eq!(similarity("a b c", "d e f"), 0.0);
        assert!(similarity("the server binds a port", "the server binds the port") > 0.7);
    }
}
