//! The content-addressed run cache: `.pneumo/cache/v1/runs/<key digest>/{entry.json,out/}`.
//!
//! An entry appears by renaming a finished temp folder, so it is complete or absent.
//! A damaged entry is reported as [`Lookup::Corrupt`] (a warning and a miss), never an error.

use fs_err as fs;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::inputs::hash_file;
use super::key::{CACHE_SCHEMA, StageKey};
use crate::contract::atomic::{sync_dir, write_atomic};

/// One output file of a cached run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutFile {
    pub size: u64,
    pub blake3: String,
}

/// `entry.json`: which stage made the entry and its output files. The full key sits beside
/// it in `key.json` (read only to explain why a later key differs: it lists every input).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryMeta {
    pub stage: String,
    pub files: BTreeMap<String, OutFile>,
}

/// A committed cache entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub meta: EntryMeta,
}

impl Entry {
    /// The folder holding the stage's output files.
    pub fn out_dir(&self) -> PathBuf {
        self.dir.join("out")
    }
}

pub enum Lookup {
    Hit(Entry),
    Miss,
    Corrupt(String),
}

/// A run in progress: its output folder, to be committed or dropped.
pub struct Pending {
    dir: PathBuf,
}

impl Pending {
    /// A folder made elsewhere (a cluster job's), `out/` inside it, to be committed as if
    /// [`Cache::begin`] had made it. It must be on the cache's filesystem (it is renamed).
    pub fn adopt(dir: PathBuf) -> Pending {
        Pending { dir }
    }

    pub fn out_dir(&self) -> PathBuf {
        self.dir.join("out")
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(workspace: &Path) -> Self {
        Self {
            root: workspace.join(format!(".pneumo/cache/v{CACHE_SCHEMA}")),
        }
    }

    fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Folder of the entry for `digest` (which may not exist).
    pub fn entry_dir(&self, digest: &str) -> PathBuf {
        self.runs().join(digest)
    }

    /// Removes leftovers of runs that were killed (the tmp folder's contents; the folder
    /// itself stays, so a cache made read-only has nothing to remove). Call only under the
    /// run lock.
    pub fn clear_tmp(&self) -> io::Result<()> {
        let listing = match fs::read_dir(self.tmp()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => other?,
        };
        for entry in listing {
            let path = entry?.path();
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&path)?,
                Ok(_) => fs::remove_file(&path)?,
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// A fresh, empty output folder for a run of `digest`.
    pub fn begin(&self, digest: &str) -> io::Result<Pending> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = self
            .tmp()
            .join(format!("{digest}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(dir.join("out"))?;
        Ok(Pending { dir })
    }

    /// Hashes the outputs, writes entry.json, makes the files read-only and renames the
    /// folder into place.
    pub fn commit(&self, pending: Pending, stage: &str, key: &StageKey) -> io::Result<Entry> {
        let out = pending.out_dir();
        let mut paths = Vec::new();
        for e in walkdir::WalkDir::new(&out).sort_by_file_name() {
            let e = e.map_err(io::Error::from)?;
            if e.file_type().is_file() {
                paths.push(e.into_path());
            }
        }
        let files: io::Result<BTreeMap<String, OutFile>> = paths
            .par_iter()
            .map(|p| {
                let size = fs::metadata(p)?.len();
                let blake3 = hash_file(p)?;
                let rel = rel_string(p.strip_prefix(&out).unwrap_or(p));
                fs::File::open(p)?.sync_all()?;
                fs::set_permissions(p, std::fs::Permissions::from_mode(0o444))?;
                Ok((rel, OutFile { size, blake3 }))
            })
            .collect();
        let meta = EntryMeta {
            stage: stage.to_string(),
            files: files?,
        };
        let key_json = serde_json::to_vec(key).map_err(io::Error::other)?;
        write_atomic(&pending.dir.join("key.json"), &key_json)?;
        let json = serde_json::to_vec_pretty(&meta).map_err(io::Error::other)?;
        write_atomic(&pending.dir.join("entry.json"), &json)?;
        let target = self.entry_dir(&key.digest());
        fs::create_dir_all(self.runs())?;
        if target.exists() {
            fs::remove_dir_all(&target)?; // a corrupt entry being replaced
        }
        fs::rename(&pending.dir, &target)?;
        sync_dir(&self.runs())?;
        Ok(Entry { dir: target, meta })
    }

    /// Finds the entry for `digest`. Checks sizes always and content hashes when `verify`.
    pub fn lookup(&self, digest: &str, verify: bool) -> Lookup {
        let dir = self.entry_dir(digest);
        let json = match fs::read(dir.join("entry.json")) {
            Ok(j) => j,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !dir.exists() => return Lookup::Miss,
            Err(e) => return Lookup::Corrupt(format!("{}: {e}", dir.join("entry.json").display())),
        };
        let meta: EntryMeta = match serde_json::from_slice(&json) {
            Ok(m) => m,
            Err(e) => return Lookup::Corrupt(format!("{}: {e}", dir.join("entry.json").display())),
        };
        let entry = Entry { dir, meta };
        let out = entry.out_dir();
        let bad = entry.meta.files.par_iter().find_map_any(|(rel, f)| {
            let path = out.join(rel);
            match fs::metadata(&path) {
                Err(e) => Some(format!("{}: {e}", path.display())),
                Ok(m) if m.len() != f.size => Some(format!(
                    "{}: {} bytes, expected {}",
                    path.display(),
                    m.len(),
                    f.size
                )),
                Ok(_) if verify => match hash_file(&path) {
                    Ok(h) if h == f.blake3 => None,
                    Ok(_) => Some(format!(
                        "{}: content does not match its hash",
                        path.display()
                    )),
                    Err(e) => Some(format!("{}: {e}", path.display())),
                },
                Ok(_) => None,
            }
        });
        match bad {
            Some(why) => Lookup::Corrupt(why),
            None => Lookup::Hit(entry),
        }
    }

    /// The full key an entry was made with, if it is still cached and readable.
    pub fn key_of(&self, digest: &str) -> Option<StageKey> {
        let bytes = fs::read(self.entry_dir(digest).join("key.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Every entry digest in the cache.
    pub fn digests(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        match fs::read_dir(self.runs()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
            Ok(rd) => {
                for e in rd {
                    out.push(e?.file_name().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Deletes one entry; returns the bytes freed.
    pub fn remove(&self, digest: &str) -> io::Result<u64> {
        let dir = self.entry_dir(digest);
        let mut bytes = 0;
        for e in walkdir::WalkDir::new(&dir).into_iter().flatten() {
            if e.file_type().is_file() {
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        fs::remove_dir_all(&dir)?;
        Ok(bytes)
    }
}

/// A relative path as a `/`-separated string.
pub fn rel_string(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
