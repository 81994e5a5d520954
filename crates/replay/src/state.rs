//! The replay state file: per file, the byte offset (in its decompressed stream) before which
//! everything is done, and whether the file is done. Written atomically (temporary file,
//! fsync, rename, directory fsync) so a `kill -9` leaves the old or the new state, never half.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ReplayError;

/// One file's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProgress {
    /// Everything before this byte offset is done.
    pub offset: u64,
    /// The whole file is done (skipped on resume).
    pub done: bool,
}

/// The whole state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayState {
    /// Keyed by the file's name as listed.
    pub files: BTreeMap<String, FileProgress>,
}

impl ReplayState {
    /// Reads the state; a missing file is a fresh start.
    pub fn load(path: &Path) -> Result<ReplayState, ReplayError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ReplayError::State {
                path: path.display().to_string(),
                message: format!(
                    "{e}; it is not a replay state file: pass another --state, or delete it to start over"
                ),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ReplayState::default()),
            Err(e) => Err(ReplayError::State {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// Writes the state atomically.
    pub fn save(&self, path: &Path) -> Result<(), ReplayError> {
        let err = |e: std::io::Error| ReplayError::State {
            path: path.display().to_string(),
            message: format!("{e}; check the directory is writable"),
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(&bytes).map_err(err)?;
        f.sync_data().map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(err)?;
        #[cfg(unix)]
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
        #[cfg(not(unix))]
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        assert_eq!(ReplayState::load(&p).unwrap(), ReplayState::default());
        let mut s = ReplayState::default();
        s.files.insert(
            "a".into(),
            FileProgress {
                offset: 7,
                done: false,
            },
        );
        s.save(&p).unwrap();
        assert_eq!(ReplayState::load(&p).unwrap(), s);
        std::fs::write(&p, "nonsense").unwrap();
        let e = ReplayState::load(&p).unwrap_err().to_string();
        assert!(e.contains("delete it to start over"), "{e}");
    }
}
