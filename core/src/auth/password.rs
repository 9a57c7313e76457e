//! Argon2id hashing, run on blocking threads with a bound on concurrency.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, PasswordHash, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{OnceCell, Semaphore};

use crate::error::ApiError;

/// Argon2id cost parameters. Defaults are OWASP's minimum (m=19 MiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    fn argon2(&self) -> Result<Argon2<'static>, argon2::Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Argon2 working memory, reused across hashes. Allocating a fresh 19 MiB
/// buffer per hash lets glibc keep freed buffers in per-thread arenas, so
/// server RSS grew to hundreds of MiB under sign-in load (found by
/// slipway-bench); at most one buffer per concurrent hash is kept.
type MemoryPool = Arc<Mutex<Vec<Vec<Block>>>>;

/// Hashes and verifies passwords off the async executor.
#[derive(Clone)]
pub(crate) struct Hasher {
    params: Argon2Params,
    permits: Arc<Semaphore>,
    memory: MemoryPool,
    dummy: Arc<OnceCell<String>>,
}

/// Computes a raw Argon2 output into `out` with pooled working memory, and
/// wipes that memory before returning it to the pool.
fn compute(
    argon: &Argon2<'_>,
    pool: &MemoryPool,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let need = argon.params().block_count();
    let take = || pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut memory = take()
        .filter(|m| m.len() >= need)
        .unwrap_or_else(|| vec![Block::new(); need]);
    let result = argon.hash_password_into_with_memory(password, salt, out, &mut memory[..need]);
    // Zero each block's words: this compiles to plain `memset`s over the
    // contiguous buffer (the sign-in benchmark measured it faster than
    // copying an empty `Block` into every element). The buffer goes back to
    // the pool and is read by the next hash, so the wipe is not elided.
    for block in memory.iter_mut() {
        block.as_mut().fill(0);
    }
    pool.lock().unwrap_or_else(|p| p.into_inner()).push(memory);
    result
}

fn phc_hash(argon: &Argon2<'_>, pool: &MemoryPool, password: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| e.to_string())?;
    let mut out = [0u8; 32];
    compute(argon, pool, password, salt_bytes, &mut out).map_err(|e| e.to_string())?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: argon
            .params()
            .try_into()
            .map_err(|e: argon2::password_hash::Error| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(hash.to_string())
}

/// Checks `password` against a PHC string in constant time. Argon2id hashes
/// use pooled memory; anything else falls back to the crate's verifier.
fn phc_verify(pool: &MemoryPool, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Argon2::default().verify_password(password, &parsed).is_ok();
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if compute(&argon, pool, password, salt_bytes, &mut out).is_err() {
        return false;
    }
    bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

impl Hasher {
    pub(crate) fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, argon2::Error> {
        params.argon2()?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            memory: Arc::new(Mutex::new(Vec::new())),
            dummy: Arc::new(OnceCell::new()),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Argon2<'static>, MemoryPool) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let argon = self
            .params
            .argon2()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || f(argon, pool))
            .await
            .map_err(ApiError::internal)
    }

    /// A PHC string for `password`.
    pub(crate) async fn hash(&self, password: String) -> Result<String, ApiError> {
        let password = zeroize::Zeroizing::new(password);
        self.blocking(move |argon, pool| phc_hash(&argon, &pool, password.as_bytes()))
            .await?
            .map_err(ApiError::internal)
    }

    /// Verifies `password` against a PHC string. With `None` (unknown user) it
    /// verifies against a dummy hash so both paths cost the same, then fails.
    pub(crate) async fn verify(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, ApiError> {
        let known = phc.is_some();
        let phc = match phc {
            Some(p) => p,
            None => self.dummy_hash().await?,
        };
        let password = zeroize::Zeroizing::new(password);
        let ok = self
            .blocking(move |_, pool| phc_verify(&pool, password.as_bytes(), &phc))
            .await?;
        Ok(ok && known)
    }

    async fn dummy_hash(&self) -> Result<String, ApiError> {
        self.dummy
            .get_or_try_init(|| self.hash(crate::crypto::random_token(24)))
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHasher as _;

    use super::*;

    /// The working memory goes back to the pool wiped: no password-derived
    /// block stays in the process between hashes.
    #[test]
    fn pooled_memory_is_wiped_after_each_hash() {
        let pool: MemoryPool = Arc::new(Mutex::new(Vec::new()));
        let params = Params::new(256, 1, 1, None).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = [0u8; 32];
        compute(&argon, &pool, b"password", b"saltsaltsalt", &mut out).unwrap();
        assert_ne!(out, [0u8; 32]);
        let pooled = pool.lock().unwrap();
        assert_eq!(pooled.len(), 1);
        assert_eq!(pooled[0].len(), 256);
        assert!(pooled[0].iter().all(|b| b.as_ref().iter().all(|w| *w == 0)));
    }

    fn small() -> Argon2Params {
        Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn pooled_hashes_interoperate_with_the_crates_own_verifier() {
        let pool = MemoryPool::default();
        let argon = small().argon2().unwrap();
        let phc = phc_hash(&argon, &pool, b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(argon.verify_password(b"correct horse", &parsed).is_ok());
        assert!(phc_verify(&pool, b"correct horse", &phc));
        assert!(!phc_verify(&pool, b"wrong horse", &phc));
        assert_eq!(
            pool.lock().unwrap().len(),
            1,
            "the buffer went back to the pool"
        );

        // A hash made by the crate itself (other parameters) verifies too.
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let other = Argon2Params {
            memory_kib: 512,
            ..small()
        }
        .argon2()
        .unwrap();
        let theirs = other.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(phc_verify(&pool, b"pw", &theirs));
        assert!(!phc_verify(&pool, b"pw2", &theirs));
        assert!(!phc_verify(&pool, b"pw", "not a phc string"));
    }
}
