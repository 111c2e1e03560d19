//! Reading an image file someone named (`predict`'s arguments): regular files only, the
//! format told from the first bytes before the rest is read, and a bound on what is read,
//! so a device (`/dev/zero`), a FIFO or a large non-image neither hangs nor fills memory.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::decode::{SNIFF_BYTES, sniff};

/// The largest file read: a 64 Mpx 16-bit PNG stored uncompressed is 128 MB.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The file's bytes, or why it is not read (a message for the user, without the path).
pub fn read_image_file(path: &Path) -> Result<Vec<u8>, String> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; it
    // changes nothing for a regular file
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_dir() {
            "a folder"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(format!("{what}, not an image file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} MB, over the {} MB a chest film can take; not read",
            meta.len() >> 20,
            MAX_FILE_BYTES >> 20
        ));
    }
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read it: {e}"))?;
    sniff(&head).map_err(|e| format!("not a usable image: {e}"))?;
    let mut bytes = head;
    bytes.reserve(meta.len() as usize);
    // bounded even when the file grows while it is read
    file.take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_folders_and_non_images_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let zero = read_image_file(Path::new("/dev/zero")).unwrap_err();
        assert!(zero.contains("a device"), "{zero}");
        let fifo = dir.path().join("x.jpeg");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_image_file(&fifo).unwrap_err();
        assert!(err.contains("a FIFO"), "{err}");
        assert!(
            read_image_file(dir.path())
                .unwrap_err()
                .contains("a folder")
        );
        let gif = dir.path().join("g.jpeg");
        std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
        let err = read_image_file(&gif).unwrap_err();
        assert!(err.contains("a GIF file, not a JPEG or PNG"), "{err}");
        let text = dir.path().join("t.jpeg");
        std::fs::write(&text, vec![b'a'; 4096]).unwrap();
        assert!(read_image_file(&text).unwrap_err().contains("not an image"));
    }
}
