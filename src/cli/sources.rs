//! Reads the files, directories (recursive, `.yaml`/`.yml`, sorted) and stdin
//! named on the command line into sources for the loader.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::load::tree::MAX_SOURCE_BYTES;
use crate::load::Source;

/// A path that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ReadError {
    /// The path.
    pub path: String,
    /// Why.
    pub reason: String,
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_yaml(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn read_limited(mut r: impl Read, path: &str) -> Result<String, ReadError> {
    let mut buf = Vec::new();
    r.by_ref()
        .take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ReadError {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    if buf.len() > MAX_SOURCE_BYTES {
        return Err(ReadError {
            path: path.to_string(),
            reason: format!("file is larger than the limit of {MAX_SOURCE_BYTES} bytes"),
        });
    }
    String::from_utf8(buf).map_err(|_| ReadError {
        path: path.to_string(),
        reason: "not UTF-8 text".to_string(),
    })
}

/// Reads every named path; reports every unreadable one.
pub fn read(paths: &[PathBuf]) -> Result<Vec<Source>, Vec<ReadError>> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            match read_limited(std::io::stdin().lock(), "<stdin>") {
                Ok(text) => sources.push(Source {
                    name: "<stdin>".into(),
                    text,
                }),
                Err(e) => errors.push(e),
            }
            continue;
        }
        let files = if p.is_dir() {
            let mut files = Vec::new();
            if let Err(e) = walk(p, &mut files) {
                errors.push(ReadError {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                });
            }
            if files.is_empty() {
                errors.push(ReadError {
                    path: p.display().to_string(),
                    reason: "no .yaml or .yml files in this directory".into(),
                });
            }
            files
        } else {
            vec![p.clone()]
        };
        for f in files {
            let name = f.display().to_string();
            match std::fs::File::open(&f) {
                Ok(file) => match read_limited(file, &name) {
                    Ok(text) => sources.push(Source { name, text }),
                    Err(e) => errors.push(e),
                },
                Err(e) => errors.push(ReadError {
                    path: name,
                    reason: e.to_string(),
                }),
            }
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}
