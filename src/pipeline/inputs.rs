//! Content hashes of a stage's input files, with a stat cache so that an unchanged
//! file (same size, mtime and inode) is not read again. The key only ever sees the
//! content hash: touching a file re-hashes it and finds the same bytes.

use fs_err as fs;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::contract::atomic::write_atomic;

/// One hashed file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileHash {
    pub size: u64,
    /// blake3, hex; for an unusable entry, `!` and the reason (so the key sees it).
    pub hash: String,
    /// Why the entry cannot be used as a file (a symlink loop or a dangling link, an
    /// unreadable file, a name that is not UTF-8), for the stage to report; not a run error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl FileHash {
    fn unusable(why: String) -> FileHash {
        FileHash {
            size: 0,
            hash: format!("!{why}"),
            problem: Some(why),
        }
    }
}

/// Hashed input files by workspace-relative path (`/`-separated).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
                entries.insert(unescape_path(p), (stat, hash.to_string()));
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
                "{h}\t{}\t{}\t{}\t{}\n",
                s.size,
                s.mtime_ns,
                s.ino,
                escape_path(p)
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
        // (key, path, a problem to report that does not stop hashing)
        let mut listed: Vec<(String, PathBuf, Option<String>)> = Vec::new();
        let mut set = InputSet::default();
        for root in roots {
            let abs = workspace.join(root);
            if !abs.exists() {
                return Err(InputError::Missing(root.clone()));
            }
            // links are followed (data/chest_xray -> elsewhere, or linked split and class
            // folders), but a link to a folder deeper than that is not: a fan-out of links
            // (`/sys`) would otherwise be walked for minutes; walkdir stats only the links
            // themselves, other entries come with their type
            let mut deep_links: Vec<PathBuf> = Vec::new();
            let walker = walkdir::WalkDir::new(&abs)
                .follow_links(true)
                .into_iter()
                .filter_entry(|e| {
                    if e.depth() == 0 {
                        return true;
                    }
                    if is_ignored(e.file_name()) {
                        return false;
                    }
                    if e.depth() > MAX_LINKED_DIR_DEPTH
                        && e.path_is_symlink()
                        && e.file_type().is_dir()
                    {
                        deep_links.push(e.path().to_path_buf());
                        return false;
                    }
                    true
                });
            let rel_of = |p: &Path| rel_key(root, p.strip_prefix(&abs).unwrap_or(Path::new("")));
            for entry in walker {
                let entry = match entry {
                    Ok(e) => e,
                    // a loop or a dangling link below the root is that entry's problem only
                    Err(e) if e.depth() > 0 && e.path().is_some() => {
                        let path = e.path().unwrap_or(&abs);
                        let (rel, _) = rel_of(path);
                        let why = if e.loop_ancestor().is_some() {
                            "a symlink loop".to_string()
                        } else if fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) {
                            "a symlink to nothing (dangling)".to_string()
                        } else {
                            format!(
                                "unreadable: {}",
                                e.io_error().map_or(e.to_string(), |io| io.to_string())
                            )
                        };
                        set.files.insert(rel, FileHash::unusable(why));
                        continue;
                    }
                    Err(e) => {
                        return Err(InputError::Io {
                            path: e
                                .path()
                                .map(Path::to_path_buf)
                                .unwrap_or_else(|| abs.clone()),
                            source: e.into(),
                        });
                    }
                };
                let kind = entry.file_type();
                if kind.is_file() {
                    let (rel, utf8) = rel_of(entry.path());
                    // still hashed, so a `cmd` stage that reads it sees it change
                    let note = (!utf8).then(|| "its name is not valid UTF-8 (rename it)".into());
                    listed.push((rel, entry.into_path(), note));
                } else if kind.is_dir()
                    && entry.depth() > 0
                    && named_like_an_image(entry.file_name())
                {
                    // a folder named `x.jpeg` is no image: said, not silently passed over
                    // (recorded only where such a folder exists, so other keys are unchanged)
                    let (rel, _) = rel_of(entry.path());
                    set.files.insert(
                        rel,
                        FileHash::unusable("a folder, not an image file".into()),
                    );
                } else if !kind.is_dir() {
                    // a FIFO (reading it would wait forever), a device, a socket: never read
                    let (rel, _) = rel_of(entry.path());
                    let why = format!("{}, not a regular file", special_kind(&kind));
                    set.files.insert(rel, FileHash::unusable(why));
                }
            }
            for link in &deep_links {
                let (rel, _) = rel_of(link);
                let why = format!(
                    "a link to a folder below the split and class folders (depth > {MAX_LINKED_DIR_DEPTH}), not followed"
                );
                set.files.insert(rel, FileHash::unusable(why));
            }
        }
        type Found = (String, PathBuf, Result<Stat, String>, Option<String>);
        let found: Vec<Found> = listed
            .into_par_iter()
            .filter_map(|(rel, path, note)| match fs::metadata(&path) {
                Ok(m) if m.is_file() => Some((rel, path, Ok(stat_of(&m)), note)),
                Ok(_) => None,
                Err(e) => Some((rel, path, Err(format!("unreadable: {e}")), note)),
            })
            .collect();
        type Hashed = (String, Result<(Stat, String, bool), String>, Option<String>);
        let hashed: Vec<Hashed> = found
            .into_par_iter()
            .map(|(rel, abs, stat, note)| {
                let got = stat.and_then(|stat| match self.entries.get(&rel) {
                    Some((s, h))
                        if s.size == stat.size
                            && s.mtime_ns == stat.mtime_ns
                            && s.ino == stat.ino =>
                    {
                        Ok((stat, h.clone(), false))
                    }
                    _ => match hash_file(&abs) {
                        Ok(hash) => Ok((stat, hash, true)),
                        Err(e) => Err(format!("unreadable: {e}")),
                    },
                });
                (rel, got, note)
            })
            .collect();
        for (rel, got, note) in hashed {
            let (stat, hash, fresh) = match got {
                Ok(x) => x,
                Err(why) => {
                    set.files.insert(rel, FileHash::unusable(why));
                    continue;
                }
            };
            set.files.insert(
                rel.clone(),
                FileHash {
                    size: stat.size,
                    hash: hash.clone(),
                    problem: note,
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

/// The `/`-joined key of `root/inner`, and whether every component was UTF-8. A component
/// that is not becomes its lossy text, `//` and its bytes in hex: `//` never occurs in a key
/// otherwise, so two such names (which `to_string_lossy` alone would collapse) stay apart.
fn rel_key(root: &str, inner: &Path) -> (String, bool) {
    use std::os::unix::ffi::OsStrExt;
    let root = root.trim_end_matches('/');
    let mut utf8 = true;
    let inner: Vec<String> = inner
        .components()
        .map(|c| {
            let os = c.as_os_str();
            match os.to_str() {
                Some(s) => s.to_string(),
                None => {
                    utf8 = false;
                    let hex: String = os.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
                    format!("{}//{hex}", os.to_string_lossy())
                }
            }
        })
        .collect();
    let key = if inner.is_empty() {
        root.to_string()
    } else {
        format!("{root}/{}", inner.join("/"))
    };
    (key, utf8)
}

/// hashes.tsv holds one path a line: `\`, tab, newline and carriage return are escaped.
fn escape_path(p: &str) -> String {
    p.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn stat_of(meta: &std::fs::Metadata) -> Stat {
    Stat {
        size: meta.len(),
        mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        ino: meta.ino(),
    }
}

/// How deep below an input folder a link to a folder is still followed: 2, the split and
/// class folders of the dataset layout.
pub const MAX_LINKED_DIR_DEPTH: usize = 2;

fn named_like_an_image(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy().to_ascii_lowercase();
    [".jpeg", ".jpg", ".png"].iter().any(|e| name.ends_with(e))
}

fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a file or folder"
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
