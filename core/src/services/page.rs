//! Paging of lists: [`PageRequest`] (which part of a list to answer) and
//! [`Page`] (that part, with the cursor of the next one).
//!
//! Every list is answered oldest first; a page is the items after the item
//! `after` names (from the start without it), at most `limit` of them.
//! Walking the pages by their [`Page::next_after`] cursor gives every item
//! of a list that does not change meanwhile exactly once.

use super::{Error, Result};

/// The largest `limit` a page may ask for.
pub const MAX_PAGE_LIMIT: usize = 1000;

/// Which part of a list to answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    limit: Option<usize>,
    after: Option<String>,
}

impl PageRequest {
    /// The whole list.
    pub fn all() -> Self {
        Self::default()
    }

    /// At most `limit` items (1 to [`MAX_PAGE_LIMIT`]) after the item `after`
    /// names (from the start when `None`); `limit: None` answers every item
    /// after it. A `limit` out of range is [`Error::Invalid`] naming `limit`.
    pub fn new(limit: Option<usize>, after: Option<String>) -> Result<Self> {
        if let Some(n) = limit {
            if !(1..=MAX_PAGE_LIMIT).contains(&n) {
                return Err(limit_error());
            }
        }
        Ok(Self { limit, after })
    }

    /// Parses the query parameters `limit` and `after` as given (`None`
    /// when absent): a `limit` that is not a whole number from 1 to
    /// [`MAX_PAGE_LIMIT`] is [`Error::Invalid`] naming `limit`.
    pub fn from_query(limit: Option<&str>, after: Option<&str>) -> Result<Self> {
        let limit = match limit {
            None => None,
            Some(text) => Some(text.parse::<usize>().map_err(|_| limit_error())?),
        };
        Self::new(limit, after.map(str::to_owned))
    }

    /// The most items a page holds (`None`: no bound).
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// The id of the item the page starts after.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// Cuts this page out of `items` (the whole list, oldest first); `id`
    /// gives an item's id. An `after` that names no item of the list (never
    /// one, or deleted since) is [`Error::Invalid`] naming `after`.
    pub fn apply<T>(&self, items: Vec<T>, id: impl Fn(&T) -> &str) -> Result<Page<T>> {
        let start = match &self.after {
            None => 0,
            Some(after) => match items.iter().position(|item| id(item) == after) {
                Some(i) => i + 1,
                None => {
                    return Err(Error::invalid(
                        "after",
                        "after must be the id of an item of this list (it may have been \
                         deleted): start again without after",
                    ))
                }
            },
        };
        let mut rest: Vec<T> = items.into_iter().skip(start).collect();
        let next_after = match self.limit {
            Some(limit) if rest.len() > limit => {
                rest.truncate(limit);
                rest.last().map(|item| id(item).to_owned())
            }
            _ => None,
        };
        Ok(Page {
            items: rest,
            next_after,
        })
    }
}

fn limit_error() -> Error {
    Error::invalid(
        "limit",
        format!("limit must be a whole number from 1 to {MAX_PAGE_LIMIT}"),
    )
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// When more items follow: the `after` of the next page (the id of this
    /// page's last item).
    pub next_after: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("id-{i}")).collect()
    }

    #[test]
    fn pages_cover_every_item_once() {
        for n in 0..8 {
            for limit in 1..5 {
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let page = PageRequest::new(Some(limit), after.clone())
                        .unwrap()
                        .apply(ids(n), |s| s.as_str())
                        .unwrap();
                    assert!(page.items.len() <= limit);
                    seen.extend(page.items);
                    match page.next_after {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                assert_eq!(seen, ids(n), "n={n} limit={limit}");
            }
        }
    }

    #[test]
    fn no_limit_is_the_whole_list_and_bad_input_names_the_field() {
        let page = PageRequest::all().apply(ids(3), |s| s.as_str()).unwrap();
        assert_eq!((page.items, page.next_after), (ids(3), None));
        for bad in ["0", "1001", "-1", "x", "", "2.5"] {
            let e = PageRequest::from_query(Some(bad), None).unwrap_err();
            assert!(
                matches!(e, Error::Invalid { ref field, .. } if field == "limit"),
                "{bad}"
            );
        }
        assert!(PageRequest::from_query(Some("1000"), None).is_ok());
        let e = PageRequest::new(Some(2), Some("gone".into()))
            .unwrap()
            .apply(ids(3), |s| s.as_str())
            .unwrap_err();
        assert!(matches!(e, Error::Invalid { ref field, .. } if field == "after"));
    }
}
