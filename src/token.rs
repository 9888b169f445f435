//! Shared-secret tokens, compared in constant time: the HTTP adapter's
//! bearer tokens (`src/http/auth.rs`) and the ZeroMQ gateway's `hello`
//! tokens (`src/gateway/dispatcher/workers.rs`) both check theirs here, so the
//! runtime needs nothing of the HTTP layer for it.

use subtle::ConstantTimeEq;

/// Whether `given` equals `expected`, in time that does not depend on where
/// they differ (the length of the expected token may leak, its content does
/// not).
pub(crate) fn matches(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn tokens_compare_whole() {
        assert!(matches("secret", "secret"));
        assert!(!matches("secre", "secret"));
        assert!(!matches("secret2", "secret"));
        assert!(!matches("", "secret"));
    }
}
