//! Pagination of lists: `?limit=&offset=` (limit default 100, at most 1000)
//! answering `{items, total, limit, offset}`; the `/api/v1` lists also take
//! `?page=&per_page=` and answer `{items, total, page, per_page}`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;

/// Default page size.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub(crate) const MAX_LIMIT: usize = 1000;

/// `?limit=&offset=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Items to skip.
    pub offset: Option<usize>,
}

/// `?page=&per_page=` (1-based), or `?limit=&offset=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct V1PageQuery {
    /// Page number, from 1.
    pub page: Option<usize>,
    /// Items per page (default 100, at most 1000).
    pub per_page: Option<usize>,
    /// Alternative: items per page.
    pub limit: Option<usize>,
    /// Alternative: items to skip.
    pub offset: Option<usize>,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items in the whole list.
    pub total: usize,
    /// Page size asked for.
    pub limit: usize,
    /// Items skipped.
    pub offset: usize,
}

/// A page of an `/api/v1` list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct V1Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items in the whole list.
    pub total: usize,
    /// Page number, from 1.
    pub page: usize,
    /// Page size.
    pub per_page: usize,
}

/// Checks a limit: default 100, 1..=1000.
pub(crate) fn limit(l: Option<usize>) -> Result<usize, ApiError> {
    match l.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(ApiError::bad_request("limit must be at least 1")),
        l if l > MAX_LIMIT => Err(ApiError::bad_request(format!("limit must be at most {MAX_LIMIT}"))),
        l => Ok(l),
    }
}

impl PageQuery {
    /// Cuts a page out of `all`.
    pub(crate) fn apply<T>(&self, all: Vec<T>) -> Result<Page<T>, ApiError> {
        let limit = limit(self.limit)?;
        let offset = self.offset.unwrap_or(0);
        let total = all.len();
        let items = all.into_iter().skip(offset).take(limit).collect();
        Ok(Page { items, total, limit, offset })
    }
}

impl V1PageQuery {
    /// `(offset, per_page)` of the asked page, for lists cut at the source.
    pub(crate) fn window(&self) -> Result<(usize, usize), ApiError> {
        let per_page = limit(self.per_page.or(self.limit))?;
        let offset = match (self.page, self.offset) {
            (Some(0), _) => return Err(ApiError::bad_request("page starts at 1")),
            (Some(p), _) => (p - 1).saturating_mul(per_page),
            (None, o) => o.unwrap_or(0),
        };
        Ok((offset, per_page))
    }

    /// Cuts a page out of `all`.
    pub(crate) fn apply<T>(&self, all: Vec<T>) -> Result<V1Page<T>, ApiError> {
        let (offset, per_page) = self.window()?;
        let total = all.len();
        let items = all.into_iter().skip(offset).take(per_page).collect();
        Ok(V1Page::cut(items, total, offset, per_page))
    }
}

impl<T> V1Page<T> {
    /// A page whose items were cut at `offset` (of `total`) by the source.
    pub(crate) fn cut(items: Vec<T>, total: usize, offset: usize, per_page: usize) -> Self {
        V1Page { items, total, page: offset / per_page + 1, per_page }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded_and_pages_cut() {
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(1001)).is_err());
        assert_eq!(limit(None).unwrap(), 100);
        let p = PageQuery { limit: Some(2), offset: Some(1) }.apply(vec![1, 2, 3, 4]).unwrap();
        assert_eq!((p.items, p.total), (vec![2, 3], 4));
        let p = V1PageQuery { page: Some(2), per_page: Some(3), ..Default::default() }.apply((0..7).collect()).unwrap();
        assert_eq!((p.items, p.page, p.per_page), (vec![3, 4, 5], 2, 3));
    }
}

/// `?limit=` of log-like reads.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LimitQuery {
    /// Newest entries to return (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// Newest entries of a log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogPage<T> {
    /// The entries.
    pub items: Vec<T>,
    /// How many.
    pub count: usize,
}

impl<T> LogPage<T> {
    pub(crate) fn of(items: Vec<T>) -> Self {
        Self { count: items.len(), items }
    }
}
