//! The embedded directory (placeholder while it is being written).

use super::*;

/// The embedded SQLite directory.
pub struct SqliteBackend;

impl SqliteBackend {
    /// Opens (creating if needed) the directory file at `path`.
    pub fn open(path: &str) -> Result<Self, BackendError> {
        Err(BackendError::InvalidAddress(path.to_string()))
    }
}

impl Backend for SqliteBackend {
    fn describe(&self) -> String {
        String::new()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    fn organizations(&self) -> Result<Vec<Name>, BackendError> {
        Ok(vec![])
    }
    fn snapshot(&self, _organization: &Name) -> Result<LiveOrg, BackendError> {
        Ok(LiveOrg::default())
    }
    fn write(
        &mut self,
        _request: WriteRequest,
        _progress: &mut dyn FnMut(usize),
    ) -> Result<WriteOutcome, BackendError> {
        Ok(WriteOutcome {
            revision: 0,
            results: vec![],
        })
    }
    fn history(&self, _organization: Option<&Name>, _limit: usize) -> Result<Vec<AuditEntry>, BackendError> {
        Ok(vec![])
    }
}
