//! Health of the instance: whether its store answers and is ready to serve.

use std::time::Duration;

use super::{Core, Error, Result};

/// How long a health check waits for the store.
pub const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Health checks of the instance ([`Slipway::health`](crate::Slipway::health)),
/// as `GET /health` and `GET /health/ready` run them. Neither needs a
/// principal: they reveal nothing but whether the store answers.
pub struct Health<'a> {
    pub(crate) core: &'a Core,
}

impl Health<'_> {
    /// The store answers ([`Store::ping`](crate::store::Store::ping)) within
    /// [`HEALTH_CHECK_TIMEOUT`]; [`Error::Unavailable`] otherwise.
    pub async fn check(&self) -> Result<()> {
        within_limit(self.core.store.ping()).await
    }

    /// The store answers and holds every migration this build knows
    /// ([`Store::ready`](crate::store::Store::ready)), within
    /// [`HEALTH_CHECK_TIMEOUT`]; [`Error::Unavailable`] otherwise.
    pub async fn ready(&self) -> Result<()> {
        within_limit(self.core.store.ready()).await
    }
}

/// `check` within [`HEALTH_CHECK_TIMEOUT`], any failure as unavailable.
async fn within_limit(
    check: impl std::future::Future<Output = crate::store::StoreResult<()>>,
) -> Result<()> {
    match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::Unavailable(Box::new(e))),
        Err(_) => Err(Error::Unavailable(
            format!(
                "the store did not answer within {} s",
                HEALTH_CHECK_TIMEOUT.as_secs()
            )
            .into(),
        )),
    }
}
