//! When a schedule fires, parsed: a cron expression in a time zone (by the
//! `croner` crate), a fixed period from an anchor, or one instant. All
//! times are ms since the epoch; a tick is the instant it is due, so the
//! same tick computes to the same number before and after a restart.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The shortest `every`.
pub const MIN_PERIOD_MS: u64 = 1_000;

/// When a schedule fires.
#[derive(Debug, Clone)]
pub enum Timing {
    /// Each time the expression matches, in its zone.
    Cron(Box<Cron>, chrono_tz::Tz),
    /// At `anchor + k × period` for k ≥ 1 (the anchor is when the schedule
    /// was made or its period last set).
    Every(u64),
    /// Once.
    At(u64),
}

impl Timing {
    /// A cron expression of 5 or 6 fields, in the IANA zone `tz`.
    pub fn cron(expr: &str, tz: &str) -> Result<Self, String> {
        let fields = expr.split_whitespace().count();
        if !(fields == 5 || fields == 6) {
            return Err(format!("a cron expression has 5 or 6 fields; '{expr}' has {fields}"));
        }
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(expr).map_err(|e| format!("bad cron expression '{expr}': {e}"))?;
        let zone = chrono_tz::Tz::from_str(tz)
            .map_err(|_| format!("unknown time zone '{tz}' (an IANA name such as Europe/Paris)"))?;
        Ok(Self::Cron(Box::new(cron), zone))
    }

    /// A period such as `30s` or `5m`, at least [`MIN_PERIOD_MS`].
    pub fn every(period: &str) -> Result<Self, String> {
        let d = humantime::parse_duration(period).map_err(|e| format!("bad period '{period}': {e}"))?;
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if ms < MIN_PERIOD_MS {
            return Err(format!("'every' is at least 1s; '{period}' is shorter"));
        }
        Ok(Self::Every(ms))
    }

    /// One instant, RFC 3339.
    pub fn at(at: &str) -> Result<Self, String> {
        let t = chrono::DateTime::parse_from_rfc3339(at).map_err(|e| format!("bad time '{at}' (RFC 3339): {e}"))?;
        u64::try_from(t.timestamp_millis()).map(Self::At).map_err(|_| format!("'{at}' is before 1970"))
    }

    /// The first tick strictly after `after_ms` (`anchor_ms`: where an
    /// `every` schedule's ticks start); `None` when there is none.
    pub fn next_after(&self, after_ms: u64, anchor_ms: u64) -> Option<u64> {
        match self {
            Self::Every(p) => {
                let k = if after_ms < anchor_ms { 1 } else { (after_ms - anchor_ms) / p + 1 };
                anchor_ms.checked_add(k.checked_mul(*p)?)
            }
            Self::At(at) => (*at > after_ms).then_some(*at),
            Self::Cron(cron, tz) => {
                let from = Utc.timestamp_millis_opt(i64::try_from(after_ms).ok()?).single()?.with_timezone(tz);
                let next = cron.find_next_occurrence(&from, false).ok()?;
                u64::try_from(next.timestamp_millis()).ok().filter(|n| *n > after_ms)
            }
        }
    }

    /// The ticks in `(after_ms, upto_ms]`: how many (counting at most
    /// `cap`) and the latest.
    pub fn due(&self, after_ms: u64, upto_ms: u64, anchor_ms: u64, cap: u64) -> Option<(u64, u64)> {
        let first = self.next_after(after_ms, anchor_ms).filter(|t| *t <= upto_ms)?;
        match self {
            Self::Every(p) => {
                let last = anchor_ms + (upto_ms - anchor_ms) / p * p;
                Some(((last - first) / p + 1, last))
            }
            Self::At(at) => Some((1, *at)),
            Self::Cron(..) => {
                let (mut n, mut last) = (1, first);
                while let Some(t) = self.next_after(last, anchor_ms).filter(|t| *t <= upto_ms) {
                    (n, last) = (n + 1, t);
                    if n >= cap {
                        // Past the cap only the latest matters: find it from the end.
                        last = self.latest_at_or_before(upto_ms).unwrap_or(last);
                        break;
                    }
                }
                Some((n, last))
            }
        }
    }

    /// The latest cron tick at or before `t` (cron only).
    fn latest_at_or_before(&self, t: u64) -> Option<u64> {
        let Self::Cron(cron, tz) = self else { return None };
        let from = Utc.timestamp_millis_opt(i64::try_from(t).ok()?).single()?.with_timezone(tz);
        let prev = cron.find_previous_occurrence(&from, true).ok()?;
        u64::try_from(prev.timestamp_millis()).ok()
    }

    /// The next `n` ticks after `after_ms`.
    pub fn upcoming(&self, after_ms: u64, anchor_ms: u64, n: usize) -> Vec<u64> {
        let mut out = Vec::with_capacity(n);
        let mut at = after_ms;
        while out.len() < n {
            let Some(t) = self.next_after(at, anchor_ms) else { break };
            out.push(t);
            at = t;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis() as u64
    }

    #[test]
    fn every_ticks_from_its_anchor() {
        let t = Timing::every("30s").unwrap();
        assert_eq!(t.next_after(0, 1_000), Some(31_000));
        assert_eq!(t.next_after(31_000, 1_000), Some(61_000));
        assert_eq!(t.next_after(31_001, 1_000), Some(61_000));
        assert_eq!(t.due(1_000, 100_000, 1_000, 10), Some((3, 91_000)));
        assert_eq!(t.due(91_000, 100_000, 1_000, 10), None);
        assert!(Timing::every("500ms").unwrap_err().contains("at least 1s"));
        assert!(Timing::every("soon").is_err());
    }

    #[test]
    fn cron_follows_its_time_zone_and_seconds() {
        // 03:00 in Paris is 02:00 UTC in winter.
        let t = Timing::cron("0 3 * * *", "Europe/Paris").unwrap();
        assert_eq!(t.next_after(ms("2026-12-03T00:00:00Z"), 0), Some(ms("2026-12-03T02:00:00Z")));
        assert_eq!(t.next_after(ms("2026-12-03T02:00:00Z"), 0), Some(ms("2026-12-04T02:00:00Z")));
        let s = Timing::cron("*/10 * * * * *", "UTC").unwrap();
        assert_eq!(s.next_after(ms("2026-12-03T00:00:00.500Z"), 0), Some(ms("2026-12-03T00:00:10Z")));
        assert_eq!(
            s.due(ms("2026-12-03T00:00:00Z"), ms("2026-12-03T00:01:00Z"), 0, 1_000),
            Some((6, ms("2026-12-03T00:01:00Z")))
        );
        let (n, last) = s.due(ms("2026-12-01T00:00:00Z"), ms("2026-12-03T00:00:05Z"), 0, 100).unwrap();
        assert_eq!((n, last), (100, ms("2026-12-03T00:00:00Z")));
    }

    #[test]
    fn bad_cron_and_zones_are_refused() {
        assert!(Timing::cron("* * *", "UTC").unwrap_err().contains("5 or 6 fields"));
        assert!(Timing::cron("61 * * * *", "UTC").is_err());
        assert!(Timing::cron("* * * * * * 2030", "UTC").is_err());
        assert!(Timing::cron("0 3 * * *", "Mars/Olympus").unwrap_err().contains("unknown time zone"));
    }

    #[test]
    fn at_fires_once() {
        let t = Timing::at("2026-12-03T10:00:00+01:00").unwrap();
        let at = ms("2026-12-03T09:00:00Z");
        assert_eq!(t.next_after(at - 1, 0), Some(at));
        assert_eq!(t.next_after(at, 0), None);
        assert_eq!(t.upcoming(0, 0, 5), vec![at]);
        assert!(Timing::at("tomorrow").is_err());
    }
}
