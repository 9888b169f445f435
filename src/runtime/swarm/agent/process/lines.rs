//! A bounded line reader: yields `\n`-terminated lines of at most `max`
//! bytes. A longer line is discarded up to its newline and reported once
//! with its length, and reading goes on; memory never exceeds `max` plus
//! the read buffer, whatever the child writes.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One item read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A complete line, without its `\n` (and without a trailing `\r`).
    Complete(Vec<u8>),
    /// A line longer than the bound; this many bytes were discarded.
    TooLong(usize),
}

/// See the module documentation.
pub(crate) struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    discarding: Option<usize>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Reads lines of at most `max` bytes from `inner`.
    pub(crate) fn new(inner: R, max: usize) -> Self {
        Self { inner, max, buf: Vec::new(), discarding: None }
    }

    /// The next line; `None` at end of input.
    pub(crate) async fn next(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                if let Some(n) = self.discarding.take() {
                    return Ok(Some(Line::TooLong(n)));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(Line::Complete(trim_cr(std::mem::take(&mut self.buf)))));
            }
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    let out = if let Some(n) = self.discarding.take() {
                        Line::TooLong(n + i)
                    } else if self.buf.len() + i > self.max {
                        let n = self.buf.len() + i;
                        self.buf.clear();
                        Line::TooLong(n)
                    } else {
                        self.buf.extend_from_slice(&chunk[..i]);
                        Line::Complete(trim_cr(std::mem::take(&mut self.buf)))
                    };
                    self.inner.consume(i + 1);
                    return Ok(Some(out));
                }
                None => {
                    let n = chunk.len();
                    match self.discarding.as_mut() {
                        Some(d) => *d += n,
                        None if self.buf.len() + n > self.max => {
                            self.discarding = Some(self.buf.len() + n);
                            self.buf = Vec::new();
                        }
                        None => self.buf.extend_from_slice(chunk),
                    }
                    self.inner.consume(n);
                }
            }
        }
    }
}

fn trim_cr(mut v: Vec<u8>) -> Vec<u8> {
    if v.last() == Some(&b'\r') {
        v.pop();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8], max: usize, buf: usize) -> Vec<Line> {
        let reader = tokio::io::BufReader::with_capacity(buf, input);
        let mut r = LineReader::new(reader, max);
        let mut out = Vec::new();
        while let Some(l) = r.next().await.unwrap() {
            out.push(l);
        }
        out
    }

    fn c(s: &str) -> Line {
        Line::Complete(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn splits_lines_across_small_buffers() {
        assert_eq!(all(b"ab\ncd\r\n\nlast", 10, 3).await, [c("ab"), c("cd"), c(""), c("last")]);
    }

    #[tokio::test]
    async fn over_long_line_is_discarded_to_its_newline_and_reading_goes_on() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nok\n");
        assert_eq!(all(&input, 10, 7).await, [Line::TooLong(100), c("ok")]);
        // Exactly at the bound is fine; one more byte is not.
        assert_eq!(all(b"0123456789\n01234567890\n", 10, 4).await, [c("0123456789"), Line::TooLong(11)]);
    }

    #[tokio::test]
    async fn over_long_unterminated_tail_is_reported() {
        assert_eq!(all(&[b'y'; 50], 10, 8).await, [Line::TooLong(50)]);
    }

    #[tokio::test]
    async fn ten_megabyte_line_uses_bounded_memory() {
        let mut input = vec![b'z'; 10 << 20];
        input.extend_from_slice(b"\n{\"type\":\"ready\"}\n");
        let reader = tokio::io::BufReader::with_capacity(64 << 10, &input[..]);
        let mut r = LineReader::new(reader, 1 << 20);
        assert_eq!(r.next().await.unwrap(), Some(Line::TooLong(10 << 20)));
        assert!(r.buf.capacity() <= (1 << 20) + (64 << 10));
        assert_eq!(r.next().await.unwrap(), Some(c("{\"type\":\"ready\"}")));
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;
        use super::all;

        use crate::proptest_cases::cases;

        /// The model: split at every `\n`; a last piece without one is a
        /// line if it is not empty; `\r` before the end is dropped; a
        /// line over `max` is its length.
        fn model(input: &[u8], max: usize) -> Vec<Line> {
            let mut pieces: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
            if pieces.last().is_some_and(|p| p.is_empty()) {
                pieces.pop();
            }
            pieces
                .into_iter()
                .map(|p| match p.len() > max {
                    true => Line::TooLong(p.len()),
                    false => Line::Complete(p.strip_suffix(b"\r").unwrap_or(p).to_vec()),
                })
                .collect()
        }

        proptest! {
            #![proptest_config(cases())]

            /// Whatever the input, the bound and the read buffer's size, the
            /// reader yields the model's lines.
            #[test]
            fn lines_are_those_of_the_model(
                input in prop::collection::vec(prop_oneof![4 => Just(b'x'), 1 => Just(b'\n'), 1 => Just(b'\r'), 1 => any::<u8>()], 0..300),
                max in 0..40usize,
                buf in 1..64usize,
            ) {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let got = rt.block_on(all(&input, max, buf));
                prop_assert_eq!(got, model(&input, max));
            }
        }
    }
}
