//! An upload session's resumable state, kept in the metadata store: the objects written so far
//! and the hashing state after them, so any server, before or after a restart, continues the
//! upload and no byte is read twice.

use registry_core::blob::Part;
use registry_core::store::{StoreError, UploadSession};
use registry_core::{Algorithm, Hasher};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadState {
    /// The algorithm the bytes are hashed in as they arrive: the one the client announced
    /// (`digest-algorithm`, or the digest of a monolithic upload), sha256 by default.
    algorithm: String,
    /// `Hasher::save` after the parts, in hex.
    hash: String,
    pub parts: Vec<Part>,
}

impl UploadState {
    #[must_use]
    pub fn new(algorithm: Algorithm) -> Self {
        Self::after(Vec::new(), &Hasher::new(algorithm))
    }

    /// The state once `parts` are written and hashed into `hasher`.
    #[must_use]
    pub fn after(parts: Vec<Part>, hasher: &Hasher) -> Self {
        Self { algorithm: hasher.algorithm().as_str().to_owned(), hash: hex::encode(hasher.save()), parts }
    }

    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an upload state serialises")
    }

    /// The state of a session and its hasher, resumed after the session's bytes. A state this
    /// version cannot read (a session of an earlier version, whose chunks lay elsewhere) is an
    /// unknown upload: the client starts it again.
    pub fn of(session: &UploadSession) -> Result<(Self, Hasher), StoreError> {
        let unknown = || StoreError::UploadUnknown(session.id.clone());
        let state: Self = serde_json::from_slice(&session.state).map_err(|_| unknown())?;
        let algorithm = Algorithm::parse(&state.algorithm).map_err(|_| unknown())?;
        let saved = hex::decode(&state.hash).map_err(|_| unknown())?;
        let len: u64 = state.parts.iter().map(|p| p.size).sum();
        if len != session.offset {
            return Err(unknown());
        }
        let hasher = Hasher::resume(algorithm, &saved, len).ok_or_else(unknown)?;
        Ok((state, hasher))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(state: Vec<u8>, offset: u64) -> UploadSession {
        UploadSession { id: "u".into(), repository: "a/b".parse().unwrap(), offset, state, started_at: 0, updated_at: 0 }
    }

    #[test]
    fn a_state_resumes_hashing_where_it_stopped() {
        let mut hasher = Hasher::new(Algorithm::Sha512);
        hasher.update(b"first part|");
        let state = UploadState::after(vec![Part { name: "p1".into(), size: 11 }], &hasher);
        let (back, mut resumed) = UploadState::of(&session(state.encode(), 11)).unwrap();
        assert_eq!(back.parts, state.parts);
        resumed.update(b"second");
        assert_eq!(resumed.finish(), registry_core::Digest::compute(Algorithm::Sha512, b"first part|second"));
    }

    #[test]
    fn a_state_of_an_earlier_version_or_another_offset_is_an_unknown_upload() {
        let legacy = serde_json::to_vec(&["00000000000000000000-abc"]).unwrap();
        assert!(matches!(UploadState::of(&session(legacy, 0)), Err(StoreError::UploadUnknown(_))));
        let state = UploadState::new(Algorithm::Sha256).encode();
        assert!(matches!(UploadState::of(&session(state, 5)), Err(StoreError::UploadUnknown(_))));
    }
}
