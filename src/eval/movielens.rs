//! Loads MovieLens-style rating files as implicit interactions (every rating
//! is a positive with weight 1). Accepts a RecBole `*.inter` file (typed
//! header `user_id:token\titem_id:token\trating:float\ttimestamp:float`) or
//! the GroupLens `u.data` layout (same four columns, no header).

use crate::model::interactions::{Interaction, Interactions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("no *.inter or u.data file in {0}")]
    NoRatings(PathBuf),
    #[error("{path}:{line}: {msg}")]
    Parse { path: PathBuf, line: usize, msg: String },
}

/// Finds the ratings file of a dataset directory (or takes a file as is).
fn ratings_file(dir: &Path) -> Result<PathBuf, LoadError> {
    if dir.is_file() {
        return Ok(dir.to_path_buf());
    }
    let io = |source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "inter") || p.file_name().is_some_and(|n| n == "u.data")
        })
        .collect();
    // Sorted so the choice is stable when a directory holds several.
    found.sort();
    found
        .into_iter()
        .next()
        .ok_or_else(|| LoadError::NoRatings(dir.to_path_buf()))
}

/// Loads the ratings of `dir`. Users and items are indexed in order of first
/// appearance; timestamps (seconds) become milliseconds.
pub fn load(dir: &Path) -> Result<Interactions, LoadError> {
    let path = ratings_file(dir)?;
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
        path: path.clone(),
        source,
    })?;
    parse(&text, &path)
}

/// Parses file contents; `path` only labels errors.
pub fn parse(text: &str, path: &Path) -> Result<Interactions, LoadError> {
    let (mut users, mut items) = (Vec::new(), Vec::new());
    let (mut uidx, mut iidx) = (HashMap::new(), HashMap::new());
    let mut latest: HashMap<(u32, u32), i64> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        // The typed header names its columns `name:type`.
        if line.is_empty() || (n == 0 && line.contains(":token")) {
            continue;
        }
        let err = |msg: &str| LoadError::Parse {
            path: path.to_path_buf(),
            line: n + 1,
            msg: msg.to_owned(),
        };
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 4 {
            return Err(err("expected 4 tab-separated columns"));
        }
        let ts: f64 = cols[3].trim().parse().map_err(|_| err("bad timestamp"))?;
        cols[2].trim().parse::<f64>().map_err(|_| err("bad rating"))?;
        let id = |s: &str, names: &mut Vec<String>, index: &mut HashMap<String, u32>| {
            *index.entry(s.to_owned()).or_insert_with(|| {
                names.push(s.to_owned());
                (names.len() - 1) as u32
            })
        };
        let u = id(cols[0].trim(), &mut users, &mut uidx);
        let i = id(cols[1].trim(), &mut items, &mut iidx);
        // A repeated (user, item) rating keeps its latest time.
        let t = latest.entry((u, i)).or_insert(i64::MIN);
        *t = (*t).max((ts * 1000.0) as i64);
    }
    let entries = latest
        .into_iter()
        .map(|((user, course), ts_ms)| Interaction {
            user,
            course,
            weight: 1.0,
            ts_ms,
            start_ms: ts_ms,
            taken: true,
        })
        .collect();
    Ok(Interactions::from_parts(users, items, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_layouts_from_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t5\t100\n2\t10\t3\t50\n1\t11\t1\t70\n";
        std::fs::write(dir.path().join("x.inter"), inter).unwrap();
        let d = load(dir.path()).unwrap();
        assert_eq!(d.users, vec!["1", "2"]);
        assert_eq!(d.courses, vec!["10", "11"]);
        assert_eq!(d.entries.len(), 3);
        assert_eq!(
            d.entries[1],
            Interaction {
                user: 0,
                course: 1,
                weight: 1.0,
                ts_ms: 70_000,
                start_ms: 70_000,
                taken: true
            }
        );

        let dir2 = tempfile::tempdir().unwrap();
        std::fs::write(
            dir2.path().join("u.data"),
            "1\t10\t5\t100\n2\t10\t3\t50\n1\t11\t1\t70\n",
        )
        .unwrap();
        assert_eq!(load(dir2.path()).unwrap().entries, d.entries);
    }

    #[test]
    fn reports_bad_lines_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()), Err(LoadError::NoRatings(_))));
        let e = parse("1\t2\t3\n", Path::new("f")).unwrap_err();
        assert!(e.to_string().contains("f:1"), "{e}");
    }

    #[test]
    fn loads_shared_ml_100k_when_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/ml-100k");
        if !dir.exists() {
            return;
        }
        let d = load(&dir).unwrap();
        assert_eq!(
            (d.users.len(), d.courses.len(), d.entries.len()),
            (943, 1682, 100_000)
        );
    }
}
