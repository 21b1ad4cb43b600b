//! The source tree's promise to a newcomer: calls go one way, down the stages, so a stage can
//! be read without the ones above it. Checked on the source text, as a reviewer would grep it.

use std::fs;
use std::path::Path;

/// Top to bottom. A module may name only modules after it in this list (and itself).
const ORDER: &[&str] = &[
    "cli", "commands", "evidence", "erase", "receive", "pack", "ledger", "keys", "remote", "home",
    "util", "fsx", "error", "fault", "report", "manifest", "bag",
];

/// The module a source file belongs to: its folder under src/, or its file stem.
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    ORDER.contains(&name.as_str()).then_some(name)
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::MODULE` a file's code names, outside its comments and its own tests.
fn named_modules(text: &str) -> Vec<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.as_str();
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push(name);
    }
    // `use crate::{a, b::c}`
    for (i, _) in code.match_indices("crate::{") {
        let inner = &code[i + "crate::{".len()..];
        let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
        for part in inner.split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

#[test]
fn no_stage_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let Some(me) = module_of(rel) else { continue };
        let my_rank = ORDER.iter().position(|m| *m == me).unwrap();
        for named in named_modules(&fs::read_to_string(f).unwrap()) {
            let Some(rank) = ORDER.iter().position(|m| *m == named) else {
                continue;
            };
            checked += 1;
            if rank < my_rank {
                wrong.push(format!("{} names crate::{named}", rel.display()));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} imports seen: is the source tree where expected?"
    );
    assert!(
        wrong.is_empty(),
        "imports that run back up the stages:\n{}",
        wrong.join("\n")
    );
}
