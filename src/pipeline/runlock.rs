//! One `run` per workspace at a time: an OS file lock on `.pneumo/run.lock`, released by
//! the kernel when the process ends, however it ends.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while a run writes to the workspace.
pub struct RunLock {
    _file: File,
}

/// The lock is held by someone else.
#[derive(Debug, thiserror::Error)]
#[error(
    "another pneumo-pipeline run{holder} is using this workspace ({path}); wait for it to finish, or leave out --no-wait to wait"
)]
pub struct Busy {
    pub path: PathBuf,
    pub holder: String,
}

impl RunLock {
    /// Takes the lock. When it is held: with `wait`, calls `on_wait` with the holder's
    /// description and blocks; without, returns [`Busy`].
    pub fn acquire(
        workspace: &Path,
        wait: bool,
        on_wait: impl FnOnce(&str),
    ) -> anyhow::Result<RunLock> {
        super::confine::state_dir(workspace)?;
        let dir = workspace.join(".pneumo");
        fs::create_dir_all(&dir)?;
        let path = dir.join("run.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => String::new(),
                    pid => format!(" (pid {pid})"),
                };
                if !wait {
                    return Err(Busy { path, holder }.into());
                }
                on_wait(&format!(
                    "waiting for another run{holder} to finish ({})",
                    path.display()
                ));
                file.lock()?;
            }
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        Ok(RunLock { _file: file })
    }
}
