//! The filters and the `sort=` of the `/api/v1` lists: each filter value
//! and each sort field is one of a closed set, and an unknown one is a 400
//! that names the valid ones (`bad_filter` for a filter, `bad_query` for a
//! sort). `sort=field` sorts ascending, `sort=-field` descending.

use std::cmp::Ordering;

use super::super::error::ApiError;
use crate::ErrorCode;

/// A closed set of words an `/api/v1` list accepts (filter values, sort
/// fields).
pub(crate) trait Word: Copy + 'static {
    /// Every value.
    const ALL: &'static [Self];
    /// Its name on the wire.
    fn word(self) -> &'static str;
}

fn valid<W: Word>() -> String {
    W::ALL.iter().map(|w| w.word()).collect::<Vec<_>>().join(", ")
}

/// The value of filter `name`, if given: one of `W`'s words.
pub(crate) fn filter<W: Word>(name: &str, given: Option<&str>) -> Result<Option<W>, ApiError> {
    let Some(given) = given else { return Ok(None) };
    W::ALL.iter().copied().find(|w| w.word() == given).map(Some).ok_or_else(|| {
        ApiError::new(ErrorCode::BadFilter, format!("unknown {name} '{given}'; valid values: {}", valid::<W>()))
    })
}

/// `sort=field` (ascending) or `sort=-field` (descending), if given.
pub(crate) fn sort<W: Word>(given: Option<&str>) -> Result<Option<(W, bool)>, ApiError> {
    let Some(given) = given else { return Ok(None) };
    let (field, descending) = match given.strip_prefix('-') {
        Some(f) => (f, true),
        None => (given, false),
    };
    match W::ALL.iter().copied().find(|w| w.word() == field) {
        Some(w) => Ok(Some((w, descending))),
        None => Err(ApiError::new(
            ErrorCode::BadQuery,
            format!("unknown sort field '{field}'; valid fields: {} (prefix '-' for descending)", valid::<W>()),
        )),
    }
}

/// Sorts `items` by `by` (stable: ties keep their order).
pub(crate) fn sort_by<T, W: Copy>(items: &mut [T], by: Option<(W, bool)>, cmp: impl Fn(W, &T, &T) -> Ordering) {
    if let Some((w, descending)) = by {
        items.sort_by(|a, b| {
            let o = cmp(w, a, b);
            if descending { o.reverse() } else { o }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum F {
        A,
        B,
    }

    impl Word for F {
        const ALL: &'static [F] = &[F::A, F::B];
        fn word(self) -> &'static str {
            match self {
                F::A => "a",
                F::B => "b",
            }
        }
    }

    #[test]
    fn words_are_closed_and_an_unknown_one_names_the_valid_ones() {
        assert_eq!(filter::<F>("kind", Some("b")).unwrap(), Some(F::B));
        assert_eq!(filter::<F>("kind", None).unwrap(), None);
        let e = filter::<F>("kind", Some("c")).unwrap_err();
        assert!(e.message.contains("valid values: a, b"), "{}", e.message);
        assert_eq!(sort::<F>(Some("-a")).unwrap(), Some((F::A, true)));
        assert_eq!(sort::<F>(Some("b")).unwrap(), Some((F::B, false)));
        let e = sort::<F>(Some("-z")).unwrap_err();
        assert!(e.message.contains("valid fields: a, b"), "{}", e.message);
        let mut v = vec![2, 3, 1];
        sort_by(&mut v, Some((F::A, true)), |_, a, b| a.cmp(b));
        assert_eq!(v, [3, 2, 1]);
    }
}
