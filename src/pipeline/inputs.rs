//! Content hashes of a stage's input files, with a stat cache so that an unchanged
//! file (same size, mtime and inode) is not read again. The key only ever sees the
//! content hash: touching a file re-hashes it and finds the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::atomic::write_atomic;

/// One hashed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHash {
    pub size: u64,
    /// blake3, hex.
    pub hash: String,
}

/// Hashed input files by workspace-relative path (`/`-separated).
#[derive(Debug, Default, Clone)]
pub struct InputSet {
    pub files: BTreeMap<String, FileHash>,
}

impl InputSet {
    /// Files below `root` (a path given in the config), with their path relative to it.
    pub fn under<'a>(&'a self, root: &'a str) -> impl Iterator<Item = (&'a str, &'a FileHash)> {
        let prefix = format!("{}/", root.trim_end_matches('/'));
        let n = prefix.len();
        self.files
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(move |(k, v)| (&k[n..], v))
    }
}

/// An input path that is not there.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("input `{0}` does not exist")]
    Missing(String),
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InputError + '_ {
    move |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
struct Stat {
    size: u64,
    mtime_ns: i128,
    ino: u64,
}

/// `.pneumo/state/hashes.tsv`: the stat -> hash cache.
#[derive(Default)]
pub struct HashCache {
    path: PathBuf,
    entries: HashMap<String, (Stat, String)>,
    dirty: bool,
}

impl HashCache {
    /// Loads the cache; an unreadable or corrupt one is simply empty (a miss, not an error).
    pub fn load(path: &Path) -> Self {
        let mut entries = HashMap::new();
        if let Ok(text) = fs::read_to_string(path) {
            for line in text.lines() {
                let mut f = line.splitn(5, '\t');
                let (Some(hash), Some(size), Some(mtime), Some(ino), Some(p)) =
                    (f.next(), f.next(), f.next(), f.next(), f.next())
                else {
                    continue;
                };
                let (Ok(size), Ok(mtime_ns), Ok(ino)) = (size.parse(), mtime.parse(), ino.parse())
                else {
                    continue;
                };
                let stat = Stat {
                    size,
                    mtime_ns,
                    ino,
                };
                entries.insert(p.to_string(), (stat, hash.to_string()));
            }
        }
        Self {
            path: path.to_path_buf(),
            entries,
            dirty: false,
        }
    }

    /// Writes the cache back if anything changed.
    pub fn save(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut rows: Vec<_> = self.entries.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let mut text = String::with_capacity(rows.len() * 120);
        for (p, (s, h)) in rows {
            text.push_str(&format!(
                "{h}\t{}\t{}\t{}\t{p}\n",
                s.size, s.mtime_ns, s.ino
            ));
        }
        write_atomic(&self.path, text.as_bytes())?;
        self.dirty = false;
        Ok(())
    }

    /// Hashes every file under each of `roots` (files or folders, workspace-relative),
    /// skipping hidden entries and macOS `__MACOSX` folders.
    pub fn hash_inputs(
        &mut self,
        workspace: &Path,
        roots: &[String],
    ) -> Result<InputSet, InputError> {
        // walking reads folder listings only; the stat calls, one per file, run in parallel
        let mut listed: Vec<(String, PathBuf)> = Vec::new();
        for root in roots {
            let abs = workspace.join(root);
            if !abs.exists() {
                return Err(InputError::Missing(root.clone()));
            }
            // links are followed (data/chest_xray -> elsewhere, or linked split folders);
            // walkdir stats only the links themselves, other entries come with their type
            let walker = walkdir::WalkDir::new(&abs)
                .follow_links(true)
                .into_iter()
                .filter_entry(|e| e.depth() == 0 || !is_ignored(e.file_name()));
            for entry in walker {
                let entry = entry.map_err(|e| InputError::Io {
                    path: e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| abs.clone()),
                    source: e.into(),
                })?;
                let ft = entry.file_type();
                if ft.is_file() {
                    let rel = rel_key(
                        root,
                        entry.path().strip_prefix(&abs).unwrap_or(Path::new("")),
                    );
                    listed.push((rel, entry.into_path()));
                }
            }
        }
        let found: Vec<(String, PathBuf, Stat)> = listed
            .into_par_iter()
            .filter_map(|(rel, path)| match fs::metadata(&path) {
                Ok(m) if m.is_file() => Some(Ok((rel, path, stat_of(&m)))),
                Ok(_) => None,
                Err(e) => Some(Err(InputError::Io { path, source: e })),
            })
            .collect::<Result<_, _>>()?;
        let hashed: Vec<Result<(String, Stat, String, bool), InputError>> = found
            .into_par_iter()
            .map(|(rel, abs, stat)| match self.entries.get(&rel) {
                Some((s, h))
                    if s.size == stat.size && s.mtime_ns == stat.mtime_ns && s.ino == stat.ino =>
                {
                    Ok((rel, stat, h.clone(), false))
                }
                _ => {
                    let hash = hash_file(&abs).map_err(io_err(&abs))?;
                    Ok((rel, stat, hash, true))
                }
            })
            .collect();
        let mut set = InputSet::default();
        for item in hashed {
            let (rel, stat, hash, fresh) = item?;
            set.files.insert(
                rel.clone(),
                FileHash {
                    size: stat.size,
                    hash: hash.clone(),
                },
            );
            if fresh {
                self.entries.insert(rel, (stat, hash));
                self.dirty = true;
            }
        }
        Ok(set)
    }
}

fn is_ignored(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') || name == "__MACOSX"
}

fn rel_key(root: &str, inner: &Path) -> String {
    let root = root.trim_end_matches('/');
    let inner: Vec<String> = inner
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if inner.is_empty() {
        root.to_string()
    } else {
        format!("{root}/{}", inner.join("/"))
    }
}

fn stat_of(meta: &fs::Metadata) -> Stat {
    Stat {
        size: meta.len(),
        mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        ino: meta.ino(),
    }
}

/// blake3 of a file's bytes, hex.
pub fn hash_file(path: &Path) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let file = fs::File::open(path)?;
    if file.metadata()?.len() > 16 << 20 {
        hasher.update_mmap_rayon(path)?;
    } else {
        hasher.update_reader(file)?;
    }
    Ok(hasher.finalize().to_hex().to_string())
}
