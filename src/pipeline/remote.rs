//! The remote cache: entries shared through object storage (`object_store`: a local or shared
//! folder, S3 and S3-compatible servers; GCS and Azure sit behind the same API), like Bazel's,
//! Turborepo's or DVC's remotes.
//!
//! Layout under the URL's prefix: `objects/<blake3>` holds each output file once, whatever
//! entry it belongs to; `entries/<key digest>.json` ([`RemoteEntry`]) names an entry's files.
//! Both are write-once: a push checks for each first and skips what is there, and writes
//! the manifest last, so a reader never sees an entry whose objects are missing. A pull
//! checks every object's hash and the manifest's key against the digest before anything
//! reaches the local cache. Credentials come from the standard environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT`, `AWS_REGION`, ...) and are
//! never written anywhere.

use fs_err as fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use super::cache::{Cache, Entry, OutFile};
use super::key::StageKey;
use crate::contract::Versioned;
use crate::pipeline::remote_entry::{FORMAT, RemoteEntry};

/// Whether `url` names a remote cache this build can use.
pub fn check_url(url: &str) -> Result<(), String> {
    match url.split_once("://") {
        Some(("file", path)) if path.starts_with('/') => Ok(()),
        Some(("file", _)) => Err("a file:// URL needs an absolute path (file:///srv/cache)".into()),
        Some(("s3", rest)) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        Some(("s3", _)) => Err("an s3:// URL names a bucket (s3://bucket/prefix)".into()),
        Some((scheme, _)) => Err(format!("the `{scheme}` scheme is not supported")),
        None => Err("not a URL".into()),
    }
}

/// What a push sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// Objects uploaded (the others were there already).
    pub objects: usize,
    pub bytes: u64,
    /// Whether the manifest was new.
    pub entry: bool,
}

pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    rt: tokio::runtime::Runtime,
}

impl Remote {
    pub fn open(url: &str) -> anyhow::Result<Remote> {
        check_url(url).map_err(|why| anyhow::anyhow!("remote cache `{url}`: {why}"))?;
        let (scheme, rest) = url.split_once("://").unwrap_or_default();
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match scheme {
            "file" => {
                fs::create_dir_all(rest)
                    .with_context(|| format!("creating the remote cache folder {rest}"))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(rest)
                    .with_context(|| format!("opening the remote cache folder {rest}"))?;
                (Arc::new(fs), String::new())
            }
            _ => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let s3 = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .with_context(|| format!("configuring the S3 remote `{url}`"))?;
                (Arc::new(s3), prefix.trim_matches('/').to_string())
            }
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the remote cache's I/O threads")?;
        Ok(Remote {
            url: url.to_string(),
            store,
            prefix,
            rt,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, rel: &str) -> ObjectPath {
        match self.prefix.as_str() {
            "" => ObjectPath::from(rel),
            p => ObjectPath::from(format!("{p}/{rel}")),
        }
    }

    fn exists(&self, at: &ObjectPath) -> anyhow::Result<bool> {
        match self.rt.block_on(self.store.head(at)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("asking {} for {at}", self.url)),
        }
    }

    fn get(&self, at: &ObjectPath) -> anyhow::Result<Option<Vec<u8>>> {
        let got = self.rt.block_on(async {
            match self.store.get(at).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec()))
            .with_context(|| format!("reading {at} from {}", self.url))
    }

    fn put(&self, at: &ObjectPath, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.rt
            .block_on(self.store.put(at, PutPayload::from(bytes)))
            .with_context(|| format!("writing {at} to {}", self.url))?;
        Ok(())
    }

    /// Sends a committed entry: its objects not yet there (each checked, so a push repairs
    /// an object a pull found damaged and removed), then its manifest if new.
    pub fn push(&self, entry: &Entry, key: &StageKey) -> anyhow::Result<Pushed> {
        let manifest = self.path(&format!("entries/{}.json", key.digest()));
        let mut pushed = Pushed::default();
        for (rel, f) in &entry.meta.files {
            let at = self.path(&format!("objects/{}", f.blake3));
            if self.exists(&at)? {
                continue;
            }
            let bytes = fs::read(entry.out_dir().join(rel))?;
            pushed.bytes += bytes.len() as u64;
            self.put(&at, bytes)?;
            pushed.objects += 1;
        }
        if self.exists(&manifest)? {
            return Ok(pushed);
        }
        let m = RemoteEntry {
            format: FORMAT,
            stage: entry.meta.stage.clone(),
            files: entry.meta.files.clone(),
            key: key.clone(),
        };
        self.put(&manifest, serde_json::to_vec_pretty(&m)?)?;
        pushed.entry = true;
        Ok(pushed)
    }

    /// Fetches the entry for `digest` into the local cache, every file checked against its
    /// hash and the key against the digest; `None` when the remote does not have it.
    pub fn pull(&self, digest: &str, cache: &Cache) -> anyhow::Result<Option<Entry>> {
        let manifest = self.path(&format!("entries/{digest}.json"));
        let Some(bytes) = self.get(&manifest)? else {
            return Ok(None);
        };
        let m: RemoteEntry = serde_json::from_slice(&bytes).with_context(|| {
            format!("{manifest} on {} is not a {}", self.url, RemoteEntry::WHAT)
        })?;
        crate::contract::check_format(
            Path::new(manifest.as_ref()),
            RemoteEntry::WHAT,
            m.format,
            FORMAT,
        )?;
        if m.key.digest() != digest {
            bail!("{manifest} on {} holds the key of another entry", self.url);
        }
        let pending = cache.begin(digest)?;
        let out = pending.out_dir();
        for (rel, f) in &m.files {
            let dest = safe_join(&out, rel)
                .with_context(|| format!("{manifest} on {} names the file `{rel}`", self.url))?;
            let at = self.path(&format!("objects/{}", f.blake3));
            let data = self
                .get(&at)?
                .with_context(|| format!("{at} is missing on {}", self.url))?;
            if let Err(e) = check(&data, f) {
                // named by a hash its content does not have: garbage whoever reads it, so it
                // goes, and the next push of that file puts it back whole
                let removed = self.rt.block_on(self.store.delete(&at)).is_ok();
                let what = if removed { "; removed it" } else { "" };
                bail!("{at} on {}: {e}{what}", self.url);
            }
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(&dest, data)?;
        }
        let entry = cache.commit(pending, &m.stage, &m.key)?;
        Ok(Some(entry))
    }
}

/// Whether `data` is the file `f` describes.
fn check(data: &[u8], f: &OutFile) -> anyhow::Result<()> {
    if data.len() as u64 != f.size {
        bail!("{} bytes, expected {}", data.len(), f.size);
    }
    if blake3::hash(data).to_hex().as_str() != f.blake3 {
        bail!("its content does not match its hash");
    }
    Ok(())
}

/// `root/rel` for a relative, `/`-separated path with no `..`: a manifest cannot write
/// outside the entry.
fn safe_join(root: &Path, rel: &str) -> anyhow::Result<std::path::PathBuf> {
    let ok = !rel.is_empty()
        && !rel.starts_with('/')
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if !ok {
        bail!("not a plain relative path");
    }
    Ok(root.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_from_a_manifest_are_checked() {
        assert!(check_url("file:///srv/cache").is_ok());
        assert!(check_url("s3://bucket/team/cache").is_ok());
        assert!(check_url("file://relative").is_err());
        assert!(check_url("s3:///nobucket").is_err());
        assert!(check_url("gopher://x").is_err());
        let root = Path::new("/c/out");
        assert!(safe_join(root, "a/b.json").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"] {
            assert!(safe_join(root, bad).is_err(), "{bad}");
        }
    }
}
