//! Validated protocol value types named after the RFC 3501 grammar.

use std::fmt;

/// A message flag (RFC 3501 §2.3.2): a system flag or a keyword atom.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// `\Recent`: session-only, never stored.
    Recent,
    /// A keyword (`$Forwarded`, `Junk`, …), kept with the client's spelling.
    Keyword(String),
}

impl Flag {
    /// Parses `flag` / `flag-keyword`; `None` for unknown `\Extension` flags and bad atoms.
    pub fn parse(s: &str) -> Option<Flag> {
        if let Some(sys) = s.strip_prefix('\\') {
            return match sys.to_ascii_lowercase().as_str() {
                "seen" => Some(Flag::Seen),
                "answered" => Some(Flag::Answered),
                "flagged" => Some(Flag::Flagged),
                "deleted" => Some(Flag::Deleted),
                "draft" => Some(Flag::Draft),
                "recent" => Some(Flag::Recent),
                _ => None,
            };
        }
        (!s.is_empty() && s.len() <= 128 && s.bytes().all(super::encode::is_atom_char))
            .then(|| Flag::Keyword(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
            Flag::Recent => "\\Recent",
            Flag::Keyword(k) => k,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One end of a `seq-range`: a number or `*` (the largest number in use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqNum {
    Value(u32),
    Star,
}

/// `sequence-set` (RFC 3501 §9): ranges of message sequence numbers or UIDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqSet(pub Vec<(SeqNum, SeqNum)>);

impl SeqSet {
    /// Resolves the set against `largest` (the value of `*`), returning sorted, merged inclusive
    /// ranges. With `largest == 0` (`*` in an empty mailbox) `*` resolves to 0, matching nothing.
    pub fn resolve(&self, largest: u32) -> Vec<(u32, u32)> {
        let v = |n: SeqNum| match n {
            SeqNum::Value(v) => v,
            SeqNum::Star => largest,
        };
        let mut ranges: Vec<(u32, u32)> = self
            .0
            .iter()
            .map(|&(a, b)| {
                let (a, b) = (v(a), v(b));
                (a.min(b), a.max(b))
            })
            .filter(|&(_, hi)| hi > 0)
            .map(|(lo, hi)| (lo.max(1), hi))
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        merged
    }

    /// Builds the compact form of a sorted list of numbers, e.g. `1:3,7` (for COPYUID, SEARCH).
    pub fn from_sorted(nums: &[u32]) -> SeqSet {
        let mut out: Vec<(SeqNum, SeqNum)> = Vec::new();
        for &n in nums {
            if let Some((_, SeqNum::Value(end))) = out.last_mut() {
                if *end + 1 == n {
                    *end = n;
                    continue;
                }
            }
            out.push((SeqNum::Value(n), SeqNum::Value(n)));
        }
        SeqSet(out)
    }
}

impl fmt::Display for SeqSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |n: &SeqNum| match n {
            SeqNum::Value(v) => v.to_string(),
            SeqNum::Star => "*".into(),
        };
        for (i, (a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                f.write_str(&one(a))?;
            } else {
                write!(f, "{}:{}", one(a), one(b))?;
            }
        }
        Ok(())
    }
}

/// A mailbox name as stored: UTF-8, `/`-delimited, with `INBOX` in canonical upper case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(String);

impl MailboxName {
    /// Validates and normalises a decoded (UTF-8) name: not empty, no empty levels, no control
    /// characters, no wildcards; `inbox` in any case at the top level becomes `INBOX`.
    pub fn new(name: &str) -> Result<MailboxName, &'static str> {
        let name = name.strip_suffix('/').unwrap_or(name);
        if name.is_empty() || name.len() > 512 {
            return Err("Invalid mailbox name length");
        }
        if name.chars().any(|c| c.is_control() || c == '%' || c == '*') {
            return Err("Mailbox name contains invalid characters");
        }
        if name.split('/').any(str::is_empty) {
            return Err("Mailbox name has an empty hierarchy level");
        }
        let (first, rest) = name
            .split_once('/')
            .map_or((name, None), |(a, b)| (a, Some(b)));
        if first.eq_ignore_ascii_case("INBOX") {
            return Ok(MailboxName(match rest {
                Some(r) => format!("INBOX/{r}"),
                None => "INBOX".into(),
            }));
        }
        Ok(MailboxName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// STATUS data items (RFC 3501 §6.3.10, RFC 7162, RFC 8438).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Size,
    HighestModSeq,
}

impl StatusItem {
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        }
    }
}

/// `date-time` (RFC 3501 §9): a UTC instant plus the zone it was given in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub unix: i64,
    /// Zone offset in minutes east of UTC.
    pub zone_minutes: i16,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl DateTime {
    pub fn now() -> DateTime {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        DateTime {
            unix,
            zone_minutes: 0,
        }
    }

    /// Parses `dd-Mon-yyyy hh:mm:ss +zzzz` (day may be space-padded).
    pub fn parse(s: &str) -> Option<DateTime> {
        let s = s.trim_start();
        let (date, rest) = s.split_once(' ')?;
        let (time, zone) = rest.split_once(' ')?;
        let (day, month, year) = parse_date_parts(date)?;
        let mut t = time.split(':');
        let (h, mi, sec): (i64, i64, i64) = (
            t.next()?.parse().ok()?,
            t.next()?.parse().ok()?,
            t.next()?.parse().ok()?,
        );
        if t.next().is_some() || h > 23 || mi > 59 || sec > 60 || zone.len() != 5 {
            return None;
        }
        let sign = match &zone[..1] {
            "+" => 1,
            "-" => -1,
            _ => return None,
        };
        let zh: i64 = zone[1..3].parse().ok()?;
        let zm: i64 = zone[3..5].parse().ok()?;
        let offset = sign * (zh * 60 + zm);
        let local = days_from_civil(year, month, day) * 86400 + h * 3600 + mi * 60 + sec;
        Some(DateTime {
            unix: local - offset * 60,
            zone_minutes: offset as i16,
        })
    }

    /// Formats as RFC 3501 `date-time` without quotes: `17-Jul-1996 02:44:25 -0700`.
    pub fn format(&self) -> String {
        let offset = i64::from(self.zone_minutes);
        let local = self.unix + offset * 60;
        let (y, m, d) = civil_from_days(local.div_euclid(86400));
        let secs = local.rem_euclid(86400);
        let sign = if offset < 0 { '-' } else { '+' };
        format!(
            "{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            d,
            MONTHS[(m - 1) as usize],
            y,
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            sign,
            offset.abs() / 60,
            offset.abs() % 60
        )
    }
}

/// Parses `d-Mon-yyyy` / `dd-Mon-yyyy` into (day, month, year).
fn parse_date_parts(s: &str) -> Option<(i64, i64, i64)> {
    let mut p = s.split('-');
    let day: i64 = p.next()?.trim().parse().ok()?;
    let mon = p.next()?;
    let year: i64 = p.next()?.parse().ok()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as i64 + 1;
    (p.next().is_none() && (1..=31).contains(&day) && (1..=9999).contains(&year))
        .then_some((day, month, year))
}

/// `date` (RFC 3501 §9) as the unix time of that day's midnight UTC (for SEARCH).
pub fn parse_date(s: &str) -> Option<i64> {
    let (d, m, y) = parse_date_parts(s)?;
    Some(days_from_civil(y, m, d) * 86400)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqset_resolve_and_format() {
        let s = SeqSet(vec![
            (SeqNum::Value(5), SeqNum::Value(3)),
            (SeqNum::Value(4), SeqNum::Star),
            (SeqNum::Value(20), SeqNum::Value(20)),
        ]);
        assert_eq!(s.resolve(10), vec![(3, 10), (20, 20)]);
        assert_eq!(s.to_string(), "5:3,4:*,20");
        assert_eq!(
            SeqSet::from_sorted(&[1, 2, 3, 7, 9, 10]).to_string(),
            "1:3,7,9:10"
        );
        let star = SeqSet(vec![(SeqNum::Star, SeqNum::Star)]);
        assert_eq!(star.resolve(0), vec![]);
    }

    #[test]
    fn date_time_roundtrip() {
        let d = DateTime::parse("17-Jul-1996 02:44:25 -0700").unwrap();
        assert_eq!(d.unix, 837_596_665); // 1996-07-17 09:44:25 UTC
        assert_eq!(d.format(), "17-Jul-1996 02:44:25 -0700");
        let d = DateTime::parse(" 1-Feb-2024 00:00:00 +0000").unwrap();
        assert_eq!(d.format(), "01-Feb-2024 00:00:00 +0000");
        assert!(DateTime::parse("32-Jan-2024 00:00:00 +0000").is_none());
        assert!(DateTime::parse("01-Foo-2024 00:00:00 +0000").is_none());
    }

    #[test]
    fn mailbox_names() {
        assert_eq!(MailboxName::new("inbox").unwrap().as_str(), "INBOX");
        assert_eq!(MailboxName::new("Inbox/Sub").unwrap().as_str(), "INBOX/Sub");
        assert_eq!(MailboxName::new("a/b/").unwrap().as_str(), "a/b");
        assert!(MailboxName::new("a//b").is_err());
        assert!(MailboxName::new("a*").is_err());
        assert_eq!(MailboxName::new("a/b/c").unwrap().as_str(), "a/b/c");
    }
}
