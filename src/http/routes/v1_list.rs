//! The shape of an `/api/v1` list: Sol's `{items, total, page, per_page}`
//! and `has_more` (more items follow this page). Filters are closed enums
//! of each route's query and `sort=` is a [`Sort`](crate::http::page::Sort)
//! over a closed field enum per resource: an unknown value is a 400 that
//! names the valid ones.

use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::http::page::{V1Page, V1PageQuery};

/// A page of an `/api/v1` list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct V1List<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items in the whole list (after filters).
    pub total: usize,
    /// Page number, from 1.
    pub page: usize,
    /// Page size.
    pub per_page: usize,
    /// More items follow this page.
    pub has_more: bool,
}

impl<T> V1List<T> {
    /// A page whose items were cut at `offset` (of `total`) by the source.
    pub(crate) fn cut(items: Vec<T>, total: usize, offset: usize, per_page: usize) -> Self {
        let has_more = offset.saturating_add(items.len()) < total;
        let V1Page { items, total, page, per_page } = V1Page::cut(items, total, offset, per_page);
        Self { items, total, page, per_page, has_more }
    }

    /// Cuts the asked page out of `all`.
    pub(crate) fn of(q: &V1PageQuery, all: Vec<T>) -> Result<Self, ApiError> {
        let (offset, _) = q.window()?;
        let V1Page { items, total, page, per_page } = q.apply(all)?;
        let has_more = offset.saturating_add(items.len()) < total;
        Ok(Self { items, total, page, per_page, has_more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_more_says_whether_items_follow_the_page() {
        let q = |page| V1PageQuery { page: Some(page), per_page: Some(2), ..Default::default() };
        let p = V1List::of(&q(1), vec![1, 2, 3]).unwrap();
        assert_eq!((p.items, p.total, p.page, p.has_more), (vec![1, 2], 3, 1, true));
        let p = V1List::of(&q(2), vec![1, 2, 3]).unwrap();
        assert_eq!((p.items, p.has_more), (vec![3], false));
        assert!(!V1List::of(&q(9), vec![1, 2, 3]).unwrap().has_more);
    }
}
