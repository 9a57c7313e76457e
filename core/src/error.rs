//! [`StoreError`]: what a storage backend answers instead of a result.

/// The error every [`Store`](crate::store::Store) method returns.
///
/// Backends keep their own typed errors and convert once into one of these
/// variants; core maps them to HTTP statuses (404, 409, 503, 500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist, or it belongs to someone else.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; `field` names the API field at fault
    /// (`email`, `sourceId`, `vmId`, `path`, `domain`, `main`, ...).
    #[error("conflict on {field}")]
    Conflict {
        /// API name of the conflicting field.
        field: String,
    },
    /// The backend cannot be reached right now (connection refused, timeout).
    #[error("store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug or an unexpected backend answer.
    #[error("store error: {0}")]
    Other(#[source] BoxError),
}

/// Boxed error used as the source of [`StoreError`] variants.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    /// Shorthand for [`StoreError::Conflict`].
    pub fn conflict(field: impl Into<String>) -> Self {
        StoreError::Conflict {
            field: field.into(),
        }
    }

    /// Wraps any error as [`StoreError::Other`].
    pub fn other(err: impl Into<BoxError>) -> Self {
        StoreError::Other(err.into())
    }

    /// Wraps any error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        StoreError::Unavailable(err.into())
    }
}
