//! Paged lists: `?limit=N&after=<id>`.

/// Which part of a list to answer: at most `limit` items after the item with
/// id `after`. Without `limit` the whole list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageRequest {
    /// At most this many items (1-1000); `None`: all of them.
    pub limit: Option<usize>,
    /// Start after the item with this id.
    pub after: Option<String>,
}

impl PageRequest {
    /// The largest `limit` accepted.
    pub const MAX_LIMIT: usize = 1000;

    /// Everything.
    pub fn all() -> Self {
        PageRequest::default()
    }

    /// At most `limit` items after `after`.
    pub fn new(limit: Option<usize>, after: Option<String>) -> Self {
        PageRequest { limit, after }
    }

    /// Checks the limit.
    pub(crate) fn check(&self) -> super::Result<()> {
        if let Some(limit) = self.limit {
            if !(1..=Self::MAX_LIMIT).contains(&limit) {
                return Err(super::Error::invalid(
                    "limit",
                    "limit must be an integer between 1 and 1000",
                ));
            }
        }
        Ok(())
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// The id to pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<String>,
}
