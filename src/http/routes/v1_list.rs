//! The shape of an `/api/v1` list: Sol's `{items, total, page, per_page}`
//! and `has_more` (more items follow this page). Filters are closed enums
//! of each route's query, read by [`Filters`] (an unknown value is a 400
//! `bad_filter` naming the valid ones); `?sort=` is a
//! [`Sort`](crate::http::page::Sort) over a closed field enum per resource,
//! in its own query struct (an unknown field is a 400 `bad_query` naming
//! the valid ones).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::ErrorCode;
use crate::http::error::ApiError;
use crate::http::page::{V1Page, V1PageQuery};

/// A list's filters from the query string: a value outside a filter's
/// closed set is a 400 `bad_filter` whose message names the valid ones
/// (serde's "unknown variant `x`, expected one of ...").
pub(crate) struct Filters<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Filters<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Filters(q.0))
            .map_err(|e| ApiError::new(ErrorCode::BadFilter, e.body_text()))
    }
}

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
