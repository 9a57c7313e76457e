//! Test helpers (feature `testing`): throwaway database files.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The prefix of the directories [`TempDb`] makes.
const PREFIX: &str = "slipway-sqlite-";

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
            .join(format!("{PREFIX}{}", uuid::Uuid::new_v4().simple()));
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

/// Removes the directories [`TempDb`] made under `parent` that have not
/// changed for `age`: those of earlier test runs whose stores outlived their
/// `TempDb` ([`TempDb::keep`]). Returns how many it removed; a directory that
/// cannot be read or removed is left as it is.
pub fn remove_stale(parent: impl AsRef<Path>, age: Duration) -> std::io::Result<usize> {
    let Some(cutoff) = SystemTime::now().checked_sub(age) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in std::fs::read_dir(parent)? {
        let Ok(entry) = entry else { continue };
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let stale = meta.is_dir() && meta.modified().is_ok_and(|m| m < cutoff);
        if stale && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_stale_takes_only_old_tempdb_directories() {
        let parent = TempDb::new().unwrap();
        let old = TempDb::new_in(parent.dir()).unwrap().keep();
        let fresh = TempDb::new_in(parent.dir()).unwrap().keep();
        let other = parent.dir().join("not-a-tempdb");
        std::fs::create_dir(&other).unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
        for dir in [&old, &other] {
            std::fs::File::open(dir)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        let removed = remove_stale(parent.dir(), Duration::from_secs(3600)).unwrap();
        assert_eq!(removed, 1);
        assert!(!old.exists());
        assert!(fresh.exists());
        assert!(other.exists());
    }
}
