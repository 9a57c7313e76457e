//! Argon2id hashing, run on blocking threads with a bound on concurrency.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
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

/// Hashes and verifies passwords off the async executor.
#[derive(Clone)]
pub(crate) struct Hasher {
    params: Argon2Params,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

impl Hasher {
    pub(crate) fn new(params: Argon2Params, max_concurrent: usize) -> Result<Self, argon2::Error> {
        params.argon2()?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: Arc::new(OnceCell::new()),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let argon = self
            .params
            .argon2()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || f(argon))
            .await
            .map_err(ApiError::internal)
    }

    /// A PHC string for `password`.
    pub(crate) async fn hash(&self, password: String) -> Result<String, ApiError> {
        let password = zeroize::Zeroizing::new(password);
        self.blocking(move |argon| {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))
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
            .blocking(move |argon| match PasswordHash::new(&phc) {
                Ok(parsed) => argon.verify_password(password.as_bytes(), &parsed).is_ok(),
                Err(_) => false,
            })
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
