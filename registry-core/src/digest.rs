//! Content digests (`<algorithm>:<hex>`), the identity of every blob and manifest. The spec
//! registers two algorithms, `sha256` (64 hex digits) and `sha512` (128); both are accepted
//! everywhere, and nothing else in the registry may assume either length.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;
use sha2::digest::common::hazmat::SerializableState;

/// A digest algorithm the registry computes and verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

/// What the error messages list as supported.
pub const SUPPORTED_ALGORITHMS: &str = "sha256, sha512";

impl Algorithm {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Length of the encoded (hex) part.
    #[must_use]
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }

    /// The algorithm a name stands for (`sha256`, `sha512`).
    pub fn parse(name: &str) -> Result<Self, DigestError> {
        match name {
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            other => Err(DigestError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("digest `{0}` is not of the form <algorithm>:<lowercase hex> (sha256: 64 hex digits, sha512: 128)")]
    Malformed(String),
    #[error("digest algorithm `{0}` is not supported (supported: {SUPPORTED_ALGORITHMS})")]
    UnsupportedAlgorithm(String),
}

impl Digest {
    /// The digest of a byte slice held in memory (manifests, small documents), in sha256.
    #[must_use]
    pub fn of(data: &[u8]) -> Self {
        Self::compute(Algorithm::Sha256, data)
    }

    /// The digest of a byte slice held in memory, in `algorithm`.
    #[must_use]
    pub fn compute(algorithm: Algorithm, data: &[u8]) -> Self {
        let mut hasher = Hasher::new(algorithm);
        hasher.update(data);
        hasher.finish()
    }

    /// The lowercase hex part, without the algorithm prefix.
    #[must_use]
    pub fn hex(&self) -> &str {
        &self.hex
    }

    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(DigestError::Malformed(s.to_owned()));
        };
        // The spec's grammar: algorithm-component [+._-] ... ; anything else is malformed.
        let algorithm_ok = !algorithm.is_empty()
            && algorithm.split(['+', '.', '_', '-']).all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if !algorithm_ok {
            return Err(DigestError::Malformed(s.to_owned()));
        }
        let algorithm = Algorithm::parse(algorithm)?;
        if encoded.len() != algorithm.hex_len() || !encoded.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(DigestError::Malformed(s.to_owned()));
        }
        Ok(Self { algorithm, hex: encoded.to_owned() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Clone)]
enum State {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

/// Incremental hashing over a stream, in either algorithm, with a byte count. Its state can be
/// saved and resumed, so an upload received over several requests (on several servers) is
/// hashed once, as it arrives.
#[derive(Clone)]
pub struct Hasher {
    state: State,
    len: u64,
}

impl Hasher {
    #[must_use]
    pub fn new(algorithm: Algorithm) -> Self {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
        };
        Self { state, len: 0 }
    }

    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha512(_) => Algorithm::Sha512,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
        self.len += data.len() as u64;
    }

    /// Bytes hashed so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[must_use]
    pub fn finish(self) -> Digest {
        let algorithm = self.algorithm();
        let hex = match self.state {
            State::Sha256(h) => hex::encode(h.finalize()),
            State::Sha512(h) => hex::encode(h.finalize()),
        };
        Digest { algorithm, hex }
    }

    /// The hashing state, to be [`resume`](Self::resume)d later (the algorithm and length are
    /// kept apart, by whoever stores it).
    #[must_use]
    pub fn save(&self) -> Vec<u8> {
        match &self.state {
            State::Sha256(h) => h.serialize().to_vec(),
            State::Sha512(h) => h.serialize().to_vec(),
        }
    }

    /// A hasher continuing from a [`save`](Self::save)d state after `len` bytes; `None` when
    /// the state is not one of `algorithm`.
    #[must_use]
    pub fn resume(algorithm: Algorithm, saved: &[u8], len: u64) -> Option<Self> {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::deserialize(saved.try_into().ok()?).ok()?),
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::deserialize(saved.try_into().ok()?).ok()?),
        };
        Some(Self { state, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_algorithms() {
        let d = Digest::of(b"");
        assert_eq!(d.to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        let d = Digest::compute(Algorithm::Sha512, b"abc");
        assert_eq!(
            d.to_string(),
            "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(d.algorithm(), Algorithm::Sha512);
        assert_eq!(d.hex().len(), 128);
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "sha256:abc",
            "SHA256:00",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            ":abc",
            "sha256:../../etc/passwd",
            &format!("sha256:{}", "a".repeat(128)),
            &format!("sha512:{}", "a".repeat(64)),
        ] {
            assert!(matches!(bad.parse::<Digest>(), Err(DigestError::Malformed(_))), "{bad}");
        }
        let unknown = format!("md5:{}", "a".repeat(32)).parse::<Digest>().unwrap_err();
        assert_eq!(unknown, DigestError::UnsupportedAlgorithm("md5".into()));
        assert!(unknown.to_string().contains("sha256, sha512"), "{unknown}");
    }

    #[test]
    fn hasher_matches_one_shot_and_resumes() {
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let mut h = Hasher::new(algorithm);
            h.update(b"hello ");
            let saved = h.save();
            let mut resumed = Hasher::resume(algorithm, &saved, h.len()).unwrap();
            resumed.update(b"world");
            assert_eq!(resumed.len(), 11);
            assert_eq!(resumed.finish(), Digest::compute(algorithm, b"hello world"));
        }
        let saved = Hasher::new(Algorithm::Sha256).save();
        assert!(Hasher::resume(Algorithm::Sha512, &saved, 0).is_none(), "a state of another algorithm");
    }
}
