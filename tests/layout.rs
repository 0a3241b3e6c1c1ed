//! The module layout: no dependency cycle among the top-level modules of
//! `src/` (read from `crate::<module>` paths; comment lines are skipped), and
//! the pure modules name no async runtime, database or web framework.
//! `python3 scripts/module-deps.py src` prints the same graph.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Maths and seeded data only: no I/O, so no tokio, sqlx or axum. (`demo`
/// too: `marketing` draws its synthetic learners from it.)
const PURE: &[&str] = &[
    "model",
    "eval",
    "segment",
    "experiment",
    "marketing",
    "demo",
    "learners",
    "rules",
    "exploration",
];
const IO_CRATES: &[&str] = &["tokio", "sqlx", "axum"];

/// module → (module it uses → first place it does, as `file:line`).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules: `src/<m>.rs` and `src/<m>/`.
fn top_modules(src: &Path) -> BTreeSet<String> {
    fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            if p.is_dir() {
                Some(name)
            } else {
                let stem = name.strip_suffix(".rs")?;
                (stem != "lib" && stem != "main").then(|| stem.to_string())
            }
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn leading_ident(s: &str) -> &str {
    let s = s.trim_start();
    &s[..s.find(|c: char| !is_ident(c)).unwrap_or(s.len())]
}

/// Modules named right after `crate::` in `code`, including each first
/// segment of a `crate::{a::X, b}` group, with their byte offsets.
fn crate_refs(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = code[at..].find("crate::") {
        let before = code[..at + found].chars().next_back();
        at += found + "crate::".len();
        if before.is_some_and(|c| is_ident(c) || c == '$') {
            continue;
        }
        let rest = &code[at..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => item_start = true,
                    c if item_start && depth == 1 && is_ident(c) => {
                        out.push((at + 1 + i, leading_ident(&group[i..]).to_string()));
                        item_start = false;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        } else {
            out.push((at, leading_ident(rest).to_string()));
        }
    }
    out
}

/// `text` with comment lines emptied, so line numbers still hold.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| if l.trim_start().starts_with("//") { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

fn graph(src: &Path) -> Graph {
    let mods = top_modules(src);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut g = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
        let from = first.strip_suffix(".rs").unwrap_or(first);
        if !mods.contains(from) {
            continue;
        }
        let code = without_comments(&fs::read_to_string(&file).unwrap());
        for (at, to) in crate_refs(&code) {
            if to != from && mods.contains(&to) {
                let line = code[..at].matches('\n').count() + 1;
                g.entry(from.to_string())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| format!("{}:{line}", rel.display()));
            }
        }
    }
    g
}

/// Some cycle of `g` as a closed path (`[a, b, a]`), if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    // 0: unseen, 1: on the current path, 2: done.
    fn visit(
        g: &Graph,
        v: &str,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(v.to_string(), 1);
        path.push(v.to_string());
        for w in g.get(v).into_iter().flat_map(|e| e.keys()) {
            match state.get(w).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|p| p == w).unwrap();
                    let mut cycle = path[start..].to_vec();
                    cycle.push(w.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(g, w, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(v.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for v in g.keys() {
        if state.get(v).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(g, v, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn describe(g: &Graph, cycle: &[String]) -> String {
    cycle
        .windows(2)
        .map(|w| format!("  {} -> {} ({})", w[0], w[1], g[&w[0]][&w[1]]))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn top_level_modules_have_no_dependency_cycle() {
    let g = graph(&src());
    assert!(g.len() > 10, "the scan found too few modules: {g:?}");
    if let Some(cycle) = find_cycle(&g) {
        panic!(
            "dependency cycle among top-level modules: {}\n{}",
            cycle.join(" -> "),
            describe(&g, &cycle)
        );
    }
}

#[test]
fn pure_modules_name_no_runtime_database_or_web_framework() {
    let src = src();
    let mut found = Vec::new();
    for m in PURE {
        let mut files = Vec::new();
        let dir = src.join(m);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let file = src.join(format!("{m}.rs"));
        if file.is_file() {
            files.push(file);
        }
        assert!(!files.is_empty(), "no source for module {m}");
        for f in files {
            let code = without_comments(&fs::read_to_string(&f).unwrap());
            for (n, line) in code.lines().enumerate() {
                if line.split(|c: char| !is_ident(c)).any(|w| IO_CRATES.contains(&w)) {
                    let file = f.strip_prefix(&src).unwrap().display();
                    found.push(format!("{file}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "pure modules use I/O crates:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_reads_paths_groups_and_skips_comments() {
    let code = "use crate::{a::X, b,\n    c::{d, e::F}};\nlet x = crate::g::h(); $crate::no; mycrate::no";
    let names: Vec<String> = crate_refs(code).into_iter().map(|(_, m)| m).collect();
    assert_eq!(names, ["a", "b", "c", "g"]);
    let (at, _) = &crate_refs(code)[2];
    assert_eq!(&code[*at..*at + 1], "c");
    let code = without_comments("// crate::commented\n  /// crate::doc\nuse crate::real;");
    assert_eq!(code, "\n\nuse crate::real;");
    assert_eq!(crate_refs(&code), [(13, "real".to_string())]);
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let edge = |to: &str| (to.to_string(), "here".to_string());
    let mut g = Graph::new();
    g.insert("a".into(), [edge("b")].into());
    g.insert("b".into(), [edge("c"), edge("d")].into());
    g.insert("c".into(), [edge("d")].into());
    assert_eq!(find_cycle(&g), None);
    g.insert("d".into(), [edge("b")].into());
    let cycle = find_cycle(&g).unwrap();
    assert_eq!(cycle.first(), cycle.last());
    assert!(
        cycle.contains(&"b".to_string())
            && cycle.contains(&"d".to_string())
            && !cycle.contains(&"a".to_string())
    );
}
