//! The remote cache: entries shared through object storage.

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
