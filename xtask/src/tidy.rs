//! Tidy checks as tests, in the manner of rust-analyzer's `tidy.rs`: the boundaries the
//! design draws, enforced on the source so they cannot drift. Within img-core, SQL
//! (rusqlite) is spoken only in `index/`, HTTP (ureq) only in `registry/`, tar only in
//! `archive/`; a tool crate's `src` uses only `ops`, `cli`, `output`, `record`, `error`,
//! `settings` and img-core's root re-exports; a verb in `ops/` never imports another verb
//! (what two verbs share lives below them, in the modules [`OPS_SHARED`] lists). Exempt:
//! xtask, `tests/`, `testing/`, and `#[cfg(test)]` code.

#![cfg(test)]

use std::path::{Path, PathBuf};

use crate::util::project_root;

/// The img-core modules a tool's main may name.
const TOOL_MODULES: &[&str] = &["ops", "cli", "output", "record", "error", "settings"];

/// The modules of `ops/` below the verbs: what verbs share. Every other module of `ops/`
/// is a verb, and a verb may use these but no other verb.
const OPS_SHARED: &[&str] = &["filters", "parallel", "progress", "resolve"];

/// Each crate speaks to the outside world through one module: (crate name as it appears
/// in paths, the module of img-core/src that alone may use it).
const SPEAKERS: &[(&str, &str)] = &[
    ("rusqlite", "index"),
    ("ureq", "registry"),
    ("tar", "archive"),
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The file's code, without comments and without what follows a top-level `#[cfg(test)]`
/// (the unit tests at the end of a file); files that are test modules whole give nothing.
fn code_of(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name == "tests.rs" || name.ends_with("_tests.rs") || name == "proptests.rs" {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut code = String::new();
    for line in text.lines() {
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Whether `code` names the crate `krate` as a path (`krate::…`, `use krate`).
fn names_crate(code: &str, krate: &str) -> bool {
    code.match_indices(krate).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = &code[i + krate.len()..];
        let starts_word = !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        starts_word && (after.starts_with("::") || after.starts_with(';'))
    })
}

/// The first path segments after each `img_core::` in `code`, braces expanded one level
/// (`img_core::{cli, ops::pull}` gives `cli` and `ops`).
fn img_core_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, m) in code.match_indices("img_core::") {
        out.extend(first_segments(&code[i + m.len()..]));
    }
    out
}

/// The first path segment of the path that starts `rest`, or of each item of a brace
/// group there (`{cli, ops::pull}` gives `cli` and `ops`).
fn first_segments(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    match rest.strip_prefix('{') {
        Some(group) => group[..group.find('}').unwrap_or(group.len())]
            .split(',')
            .map(ident)
            .filter(|first| !first.is_empty())
            .collect(),
        None => vec![ident(rest)],
    }
}

/// The modules of `ops/` that `code` names, for a file `depth` modules below `ops`
/// (`ops/pull.rs` is 1, `ops/pull/download.rs` 2): through `crate::ops::…` and through
/// a chain of `depth` `super::`s.
fn ops_modules_named(code: &str, depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (i, m) in code.match_indices("crate::ops::") {
        out.extend(first_segments(&code[i + m.len()..]));
    }
    for (i, _) in code.match_indices("super::") {
        if code[..i].ends_with("super::") {
            continue; // inside a chain counted from its start
        }
        let mut rest = &code[i..];
        let mut supers = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            rest = r;
            supers += 1;
        }
        if supers == depth {
            out.extend(first_segments(rest));
        }
    }
    out
}

/// The names `img-core/src/lib.rs` re-exports at its root (`pub use x::{A, B};`).
fn root_reexports(root: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(root.join("img-core/src/lib.rs")).unwrap();
    let mut names = Vec::new();
    for line in lib.lines().filter(|l| l.starts_with("pub use ")) {
        let body = line.trim_start_matches("pub use ").trim_end_matches(';');
        let items = match body.find('{') {
            Some(i) => body[i + 1..].trim_end_matches('}').to_owned(),
            None => body.rsplit("::").next().unwrap_or_default().to_owned(),
        };
        names.extend(items.split(',').map(|s| s.trim().to_owned()));
    }
    names
}

#[test]
fn each_outside_crate_is_spoken_by_one_module_of_img_core() {
    let src = project_root().join("img-core/src");
    let mut wrong = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs");
        if top == "testing" {
            continue;
        }
        let code = code_of(&file);
        for (krate, module) in SPEAKERS {
            if top != *module && names_crate(&code, krate) {
                wrong.push(format!(
                    "img-core/src/{}: uses {krate}, which only {module}/ may",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "boundaries crossed:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn tool_mains_use_only_ops_cli_output_record_error_and_settings() {
    let root = project_root();
    let reexports = root_reexports(&root);
    let mut wrong = Vec::new();
    let mut tools = 0;
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("img-") || name == "img-core" {
            continue;
        }
        tools += 1;
        for file in rust_files(&entry.path().join("src")) {
            for module in img_core_modules(&code_of(&file)) {
                if !TOOL_MODULES.contains(&module.as_str()) && !reexports.contains(&module) {
                    wrong.push(format!(
                        "{}: uses img_core::{module}; a tool reaches img-core through {}",
                        file.strip_prefix(&root).unwrap().display(),
                        TOOL_MODULES.join(", ")
                    ));
                }
            }
        }
    }
    assert!(
        tools >= 7,
        "found only {tools} tool crates under {}",
        root.display()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_verb_in_ops_imports_another_verb() {
    let ops = project_root().join("img-core/src/ops");
    let mut verbs: Vec<String> = std::fs::read_dir(&ops)
        .unwrap()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .filter(|m| m != "mod" && !OPS_SHARED.contains(&m.as_str()))
        .collect();
    verbs.sort();
    verbs.dedup();
    assert!(
        verbs.len() >= 9 && verbs.iter().any(|v| v == "pull"),
        "found only these verbs in {}: {verbs:?}",
        ops.display()
    );
    let mut wrong = Vec::new();
    for file in rust_files(&ops) {
        let rel = file.strip_prefix(&ops).unwrap();
        let verb = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if !verbs.contains(&verb) {
            continue;
        }
        let depth = rel.components().count();
        for module in ops_modules_named(&code_of(&file), depth) {
            if module != verb && verbs.contains(&module) {
                wrong.push(format!(
                    "img-core/src/ops/{}: the verb {verb} uses the verb {module}; move what they share below the verbs ({})",
                    rel.display(),
                    OPS_SHARED.join(", ")
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_checks_see_what_they_look_for() {
    assert_eq!(
        ops_modules_named("use super::inspect::repo_tags;\nsuper::super::x", 1),
        ["inspect"]
    );
    assert_eq!(
        ops_modules_named(
            "use super::plan::plan;\nsuper::super::resolve::resolve(i)\nuse crate::ops::{pull, progress::P};",
            2
        ),
        ["pull", "progress", "resolve"]
    );
    assert!(names_crate("use rusqlite::Connection;", "rusqlite"));
    assert!(names_crate("fn f(e: rusqlite::Error) {}", "rusqlite"));
    assert!(!names_crate("let my_rusqlite = 1;", "rusqlite"));
    assert!(!names_crate("crate::archive::tar::x", "tar"));
    assert_eq!(
        img_core_modules("use img_core::{cli, ops::pull::pull};\nimg_core::store::Store::open"),
        ["cli", "ops", "store"]
    );
    assert!(code_of(&project_root().join("img-core/src/ops/ls/tests.rs")).is_empty());
}
