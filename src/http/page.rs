//! The list machinery of every route: pagination, `has_more`, sorting.
//!
//! * Pagination: `?limit=&offset=` (limit default 100, at most 1000)
//!   answering `{items, total, limit, offset, has_more}` ([`Page`]); the
//!   `/api/v1` lists also take `?page=&per_page=` and answer `{items, total,
//!   page, per_page}`. `/api` lists put their items under the resource's key
//!   instead of `items` (genswarms' shape): [`api_list!`] declares such a
//!   list type from a [`Page`].
//! * Sorting: `?sort=field` (ascending) or `?sort=-field` (descending) over a
//!   closed [`SortField`] enum per resource ([`Sort`]). An unknown field is a
//!   400 whose message names every valid value; the OpenAPI document lists
//!   them as the parameter's enum ([`sort_schema`]). Sorting is stable.
//! * Logs (`?limit=`, newest N, oldest first): [`LogPage`] and `has_more`
//!   from one extra entry read ([`LogPage::of_newest`]).

use std::cmp::Ordering;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, schema::SchemaType};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;

/// Default page size.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
pub(crate) const MAX_LIMIT: usize = 1000;
/// The largest `offset` and `page` a list takes (past its end a page is
/// empty; the bound keeps every number the document allows exact in JSON).
pub(crate) const MAX_OFFSET: u64 = 1 << 40;
/// The largest event sequence number or count of minutes a query takes
/// (2^53 - 1: every JSON number up to it is exact).
pub(crate) const MAX_COUNTER: u64 = (1 << 53) - 1;

/// `?limit=&offset=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Items to skip.
    pub offset: Option<usize>,
}

/// `?page=&per_page=` (1-based), or `?limit=&offset=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct V1PageQuery {
    /// Page number, from 1.
    #[param(minimum = 1)]
    pub page: Option<usize>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
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
    /// More items follow this page (`offset + items < total`).
    pub has_more: bool,
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

/// `value` of the query parameter `name`, if it is at most `max`.
pub(crate) fn at_most<T: Into<u64> + Copy>(name: &str, value: Option<T>, max: u64) -> Result<Option<T>, ApiError> {
    match value {
        Some(v) if v.into() > max => Err(ApiError::bad_request(format!("{name} must be at most {max}"))),
        v => Ok(v),
    }
}

/// `?offset=`, at most [`MAX_OFFSET`].
fn offset(o: Option<usize>) -> Result<usize, ApiError> {
    Ok(at_most("offset", o.map(|o| o as u64), MAX_OFFSET)?.unwrap_or(0) as usize)
}

impl PageQuery {
    /// Cuts a page out of `all`.
    pub(crate) fn apply<T>(&self, all: Vec<T>) -> Result<Page<T>, ApiError> {
        let limit = limit(self.limit)?;
        let offset = offset(self.offset)?;
        let total = all.len();
        let items: Vec<T> = all.into_iter().skip(offset).take(limit).collect();
        let has_more = offset.saturating_add(items.len()) < total;
        Ok(Page { items, total, limit, offset, has_more })
    }
}

impl<T> Page<T> {
    /// The same page with each item mapped.
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        let Page { items, total, limit, offset, has_more } = self;
        Page { items: items.into_iter().map(f).collect(), total, limit, offset, has_more }
    }
}

/// Declares an `/api` list type: `{<key>: [...], total, limit, offset,
/// has_more}`, made from a [`Page`] with `From`.
macro_rules! api_list {
    ($(#[$doc:meta])* $name:ident, $key:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub(crate) struct $name {
            /// The items of this page.
            pub $key: Vec<$item>,
            /// Items in the whole list (after filters).
            pub total: usize,
            /// Page size asked for.
            pub limit: usize,
            /// Items skipped.
            pub offset: usize,
            /// More items follow this page.
            pub has_more: bool,
        }

        impl From<$crate::http::page::Page<$item>> for $name {
            fn from(p: $crate::http::page::Page<$item>) -> Self {
                Self { $key: p.items, total: p.total, limit: p.limit, offset: p.offset, has_more: p.has_more }
            }
        }
    };
}
pub(crate) use api_list;

/// The fields a resource's list can be sorted by: a closed enum, each with
/// its query word. `compare` orders two items by one field, ascending.
pub(crate) trait SortField: Copy + Send + Sync + 'static {
    /// The items it sorts.
    type Item;
    /// Every field, in the order the valid values are listed.
    const ALL: &'static [Self];
    /// The query word (`name`, `started_at`, ...).
    fn name(self) -> &'static str;
    /// Orders `a` and `b` by this field, ascending.
    fn compare(self, a: &Self::Item, b: &Self::Item) -> Ordering;
}

/// `?sort=field` or `?sort=-field`: one [`SortField`] and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sort<F> {
    /// The field.
    pub field: F,
    /// `-field`: descending.
    pub descending: bool,
}

impl<F: SortField> Sort<F> {
    /// Every valid query value: `name`, `-name`, ...
    pub(crate) fn valid() -> Vec<String> {
        F::ALL.iter().flat_map(|f| [f.name().to_string(), format!("-{}", f.name())]).collect()
    }

    /// Reads `field` or `-field`; `Err` names the valid values.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let (descending, word) = match s.strip_prefix('-') {
            Some(w) => (true, w),
            None => (false, s),
        };
        match F::ALL.iter().find(|f| f.name() == word) {
            Some(&field) => Ok(Sort { field, descending }),
            None => Err(format!("unknown sort field '{s}'; valid values: {}", Self::valid().join(", "))),
        }
    }

    /// Sorts `items` (stable).
    pub(crate) fn apply(self, items: &mut [F::Item]) {
        items.sort_by(|a, b| {
            let o = self.field.compare(a, b);
            if self.descending { o.reverse() } else { o }
        });
    }
}

/// Sorts `items` by `sort`, when one is given.
pub(crate) fn sorted<F: SortField>(mut items: Vec<F::Item>, sort: Option<Sort<F>>) -> Vec<F::Item> {
    if let Some(s) = sort {
        s.apply(&mut items);
    }
    items
}

impl<'de, F: SortField> Deserialize<'de> for Sort<F> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<F>(PhantomData<F>);
        impl<F: SortField> serde::de::Visitor<'_> for V<F> {
            type Value = Sort<F>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "one of {}", Sort::<F>::valid().join(", "))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Sort<F>, E> {
                Sort::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// The OpenAPI schema of `?sort=` over `F`: a string enum of every valid
/// value. For `#[param(schema_with = sort_schema::<F>)]`.
pub(crate) fn sort_schema<F: SortField>() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some("`field` sorts ascending, `-field` descending."))
        .enum_values(Some(Sort::<F>::valid()))
        .into()
}

impl V1PageQuery {
    /// `(offset, per_page)` of the asked page, for lists cut at the source.
    pub(crate) fn window(&self) -> Result<(usize, usize), ApiError> {
        // Both may be given: each is checked, `per_page` wins.
        limit(self.limit)?;
        let per_page = limit(self.per_page.or(self.limit))?;
        let page = at_most("page", self.page.map(|p| p as u64), MAX_OFFSET)?;
        let offset = match (page, self.offset) {
            (Some(0), _) => return Err(ApiError::bad_request("page starts at 1")),
            (Some(p), o) => {
                offset(o)?;
                ((p - 1) as usize).saturating_mul(per_page)
            }
            (None, o) => offset(o)?,
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
        assert_eq!((p.items, p.total, p.has_more), (vec![2, 3], 4, true));
        let p = PageQuery { limit: Some(2), offset: Some(2) }.apply(vec![1, 2, 3, 4]).unwrap();
        assert!(!p.has_more);
        let p = V1PageQuery { page: Some(2), per_page: Some(3), ..Default::default() }.apply((0..7).collect()).unwrap();
        assert_eq!((p.items, p.page, p.per_page), (vec![3, 4, 5], 2, 3));
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum F {
        Name,
        Size,
    }

    impl SortField for F {
        type Item = (&'static str, u32);
        const ALL: &'static [Self] = &[F::Name, F::Size];
        fn name(self) -> &'static str {
            match self {
                F::Name => "name",
                F::Size => "size",
            }
        }
        fn compare(self, a: &Self::Item, b: &Self::Item) -> Ordering {
            match self {
                F::Name => a.0.cmp(b.0),
                F::Size => a.1.cmp(&b.1),
            }
        }
    }

    #[test]
    fn sort_reads_a_closed_set_and_both_directions() {
        assert_eq!(Sort::<F>::parse("name").unwrap(), Sort { field: F::Name, descending: false });
        assert_eq!(Sort::<F>::parse("-size").unwrap(), Sort { field: F::Size, descending: true });
        let e = Sort::<F>::parse("colour").unwrap_err();
        assert!(e.contains("name, -name, size, -size"), "{e}");
        let items = vec![("b", 1), ("a", 3), ("c", 2)];
        let by_size = sorted(items.clone(), Some(Sort { field: F::Size, descending: true }));
        assert_eq!(by_size, vec![("a", 3), ("c", 2), ("b", 1)]);
        assert_eq!(sorted(items.clone(), Some(Sort::<F>::parse("name").unwrap()))[0], ("a", 3));
        assert_eq!(sorted::<F>(items.clone(), None), items);
        let q: Sort<F> = serde_json::from_value(serde_json::json!("-name")).unwrap();
        assert!(q.descending);
        assert!(serde_json::from_value::<Sort<F>>(serde_json::json!("x")).unwrap_err().to_string().contains("-size"));
    }

    #[test]
    fn log_pages_keep_the_newest_and_say_if_more() {
        let p = LogPage::of_newest(vec![1, 2, 3], 2);
        assert_eq!((p.items, p.count, p.has_more), (vec![2, 3], 2, true));
        let p = LogPage::of_newest(vec![1, 2], 2);
        assert!(!p.has_more);
    }
}

/// `?limit=` of log-like reads.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LimitQuery {
    /// Newest entries to return (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// Newest entries of a log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogPage<T> {
    /// The entries.
    pub items: Vec<T>,
    /// How many.
    pub count: usize,
    /// Older entries were left out by `limit`.
    pub has_more: bool,
}

impl<T> LogPage<T> {
    /// Every entry of a log read whole.
    pub(crate) fn of(items: Vec<T>) -> Self {
        Self { count: items.len(), items, has_more: false }
    }

    /// The newest `limit` of `items` (oldest first), read with one more
    /// than `limit` so that `has_more` is known.
    pub(crate) fn of_newest(mut items: Vec<T>, limit: usize) -> Self {
        let has_more = items.len() > limit;
        if has_more {
            items.drain(..items.len() - limit);
        }
        Self { count: items.len(), items, has_more }
    }
}

/// Declares an `/api` log type: `{<key>: [...], count, has_more}`, made
/// from a [`LogPage`] with `From`.
macro_rules! api_log {
    ($(#[$doc:meta])* $name:ident, $key:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub(crate) struct $name {
            /// The entries, oldest first.
            pub $key: Vec<$item>,
            /// How many.
            pub count: usize,
            /// Older entries were left out by `limit`.
            pub has_more: bool,
        }

        impl From<$crate::http::page::LogPage<$item>> for $name {
            fn from(p: $crate::http::page::LogPage<$item>) -> Self {
                Self { $key: p.items, count: p.count, has_more: p.has_more }
            }
        }
    };
}
pub(crate) use api_log;
