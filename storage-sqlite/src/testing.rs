//! Test helpers (feature `testing`): throwaway database files.

use std::path::{Path, PathBuf};

/// A fresh temporary directory holding one database file name; the
/// directory (database, WAL, lock and secret files) is removed on drop.
#[derive(Debug)]
pub struct TempDb {
    dir: PathBuf,
}

impl TempDb {
    /// Creates a new, empty directory under the system's temporary directory.
    pub fn new() -> std::io::Result<Self> {
        Self::new_in(std::env::temp_dir())
    }

    /// Creates a new, empty directory under `parent` (created when missing),
    /// e.g. an integration test's `env!("CARGO_TARGET_TMPDIR")`.
    pub fn new_in(parent: impl AsRef<Path>) -> std::io::Result<Self> {
        let dir = parent
            .as_ref()
            .join(format!("slipway-sqlite-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file (`<dir>/slipway.db`, not created yet).
    pub fn path(&self) -> PathBuf {
        self.dir.join("slipway.db")
    }

    /// `sqlite://<dir>/slipway.db`.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path().display())
    }

    /// Keeps the directory after the test (for a store that outlives this
    /// value); returns its path.
    pub fn keep(self) -> PathBuf {
        let dir = self.dir.clone();
        std::mem::forget(self);
        dir
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
