//! Comparators (RFC 4790) and match types (RFC 5228 §2.7.1).
//!
//! Strings are compared as sequences of Unicode scalar values; the
//! `i;ascii-casemap` comparator folds only ASCII letters. `:matches`
//! wildcards are `*` (any sequence) and `?` (one character), `\` escapes the
//! next character. Matching uses the linear-space "last star" algorithm:
//! worst case `O(len(value) * len(pattern))`, never exponential, and every
//! step is charged to a [`Budget`].

use super::{MAX_STEPS, RuntimeError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comparator {
    Octet,
    AsciiCasemap,
}

impl Comparator {
    pub(super) fn from_name(name: &str) -> Option<Comparator> {
        match name.to_ascii_lowercase().as_str() {
            "i;octet" => Some(Comparator::Octet),
            "i;ascii-casemap" => Some(Comparator::AsciiCasemap),
            _ => None,
        }
    }

    fn eq(self, a: char, b: char) -> bool {
        match self {
            Comparator::Octet => a == b,
            Comparator::AsciiCasemap => a.eq_ignore_ascii_case(&b),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MatchType {
    Is,
    Contains,
    Matches,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatTok {
    Lit(char),
    One,
    Many,
}

/// A key with its precomputed form (folded text or wildcard pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    /// Key text, ASCII-lowercased when the comparator is `i;ascii-casemap`.
    text: String,
    /// Wildcard pattern, only for `:matches`.
    pattern: Vec<PatTok>,
}

fn compile_pattern(key: &str) -> Vec<PatTok> {
    let mut out = Vec::with_capacity(key.len());
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        let t = match c {
            '*' => PatTok::Many,
            '?' => PatTok::One,
            '\\' => PatTok::Lit(chars.next().unwrap_or('\\')),
            c => PatTok::Lit(c),
        };
        // Consecutive stars are equivalent to one.
        if !(t == PatTok::Many && out.last() == Some(&PatTok::Many)) {
            out.push(t);
        }
    }
    out
}

/// Comparator, match type and keys of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Matcher {
    cmp: Comparator,
    mt: MatchType,
    keys: Vec<Key>,
}

impl Matcher {
    pub(super) fn new(cmp: Comparator, mt: MatchType, keys: Vec<String>) -> Matcher {
        let keys = keys
            .into_iter()
            .map(|k| {
                let pattern = if mt == MatchType::Matches {
                    compile_pattern(&k)
                } else {
                    Vec::new()
                };
                let text = match cmp {
                    Comparator::AsciiCasemap => k.to_ascii_lowercase(),
                    Comparator::Octet => k,
                };
                Key { text, pattern }
            })
            .collect();
        Matcher { cmp, mt, keys }
    }

    /// True if `value` matches any key.
    pub(super) fn matches(&self, value: &str, budget: &mut Budget) -> Result<bool, RuntimeError> {
        match self.mt {
            MatchType::Is => {
                for k in &self.keys {
                    budget.charge(1 + value.len().min(k.text.len()))?;
                    let eq = match self.cmp {
                        Comparator::Octet => value == k.text,
                        Comparator::AsciiCasemap => value.eq_ignore_ascii_case(&k.text),
                    };
                    if eq {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            MatchType::Contains => {
                budget.charge(value.len())?;
                let folded;
                let hay = match self.cmp {
                    Comparator::Octet => value,
                    Comparator::AsciiCasemap => {
                        folded = value.to_ascii_lowercase();
                        folded.as_str()
                    }
                };
                for k in &self.keys {
                    budget.charge(1 + hay.len() + k.text.len())?;
                    if hay.contains(k.text.as_str()) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            MatchType::Matches => {
                budget.charge(value.len())?;
                let chars: Vec<char> = value.chars().collect();
                for k in &self.keys {
                    if wildcard_match(self.cmp, &k.pattern, &chars, budget)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}

/// Glob match with single-point backtracking: when a literal fails, retry
/// from the most recent `*`, letting it absorb one more character. Earlier
/// stars never need revisiting, so the work is at most `(n + 1) * (m + 1)`.
fn wildcard_match(
    cmp: Comparator,
    pat: &[PatTok],
    val: &[char],
    budget: &mut Budget,
) -> Result<bool, RuntimeError> {
    let (mut p, mut v) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let mut pending = 0usize;
    while v < val.len() {
        pending += 1;
        if pending >= 4096 {
            budget.charge(pending)?;
            pending = 0;
        }
        match pat.get(p) {
            Some(PatTok::Many) => {
                star = Some((p, v));
                p += 1;
                continue;
            }
            Some(PatTok::One) => {
                p += 1;
                v += 1;
                continue;
            }
            Some(PatTok::Lit(c)) if cmp.eq(*c, val[v]) => {
                p += 1;
                v += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sv)) => {
                p = sp + 1;
                v = sv + 1;
                star = Some((sp, sv + 1));
            }
            None => {
                budget.charge(pending)?;
                return Ok(false);
            }
        }
    }
    budget.charge(pending)?;
    Ok(pat[p.min(pat.len())..].iter().all(|t| *t == PatTok::Many))
}

/// Remaining work units of one execution.
#[derive(Debug)]
pub(super) struct Budget {
    remaining: u64,
}

impl Budget {
    pub(super) fn new() -> Budget {
        Budget {
            remaining: MAX_STEPS,
        }
    }

    #[cfg(test)]
    pub(super) fn with_steps(remaining: u64) -> Budget {
        Budget { remaining }
    }

    pub(super) fn charge(&mut self, units: usize) -> Result<(), RuntimeError> {
        let units = u64::try_from(units).unwrap_or(u64::MAX);
        match self.remaining.checked_sub(units) {
            Some(r) => {
                self.remaining = r;
                Ok(())
            }
            None => {
                self.remaining = 0;
                Err(RuntimeError::EvaluationLimit)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn m(cmp: Comparator, mt: MatchType, key: &str, value: &str) -> bool {
        Matcher::new(cmp, mt, vec![key.to_string()])
            .matches(value, &mut Budget::new())
            .unwrap()
    }

    fn glob(key: &str, value: &str) -> bool {
        m(Comparator::AsciiCasemap, MatchType::Matches, key, value)
    }

    #[test]
    fn is_and_contains() {
        use Comparator::*;
        use MatchType::*;
        assert!(m(AsciiCasemap, Is, "Hello", "hELLO"));
        assert!(!m(Octet, Is, "Hello", "hELLO"));
        assert!(m(Octet, Is, "", ""));
        assert!(m(AsciiCasemap, Contains, "MONEY", "make money fast"));
        assert!(!m(Octet, Contains, "MONEY", "make money fast"));
        assert!(m(Octet, Contains, "", "anything"));
        // Non-ASCII letters are not folded by i;ascii-casemap.
        assert!(!m(AsciiCasemap, Is, "Ä", "ä"));
        assert!(m(AsciiCasemap, Contains, "GRÜßE", "liebe grÜße"));
    }

    #[test]
    fn wildcards() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("", ""));
        assert!(!glob("", "x"));
        assert!(glob("a*b", "ab"));
        assert!(glob("a*b", "aXXXb"));
        assert!(!glob("a*b", "aXXXbc"));
        assert!(glob("?", "ü"));
        assert!(!glob("?", ""));
        assert!(!glob("??", "a"));
        assert!(glob("*make*money*fast*", "MAKE MONEY FAST now"));
        assert!(glob(
            "*university*dipl*mas*",
            "Get your University Diplomas!"
        ));
        assert!(glob("*a?c*", "xxabcxx"));
        assert!(glob("*@example.com", "joe@EXAMPLE.com"));
        assert!(glob("a*a*a", "aaa"));
        assert!(!glob("a*a*a", "aa"));
        assert!(glob("*?*?", "ab"));
        assert!(!glob("*?*?", "a"));
    }

    #[test]
    fn escapes() {
        assert!(glob("a\\*b", "a*b"));
        assert!(!glob("a\\*b", "aXb"));
        assert!(glob("what\\?", "what?"));
        assert!(!glob("what\\?", "whatX"));
        assert!(glob("back\\\\slash", "back\\slash"));
        assert!(glob("trailing\\", "trailing\\"));
    }

    #[test]
    fn octet_matches_is_case_sensitive() {
        assert!(!m(Comparator::Octet, MatchType::Matches, "A*", "abc"));
        assert!(m(Comparator::Octet, MatchType::Matches, "a*", "abc"));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let value = "a".repeat(20_000);
        let pattern = format!("{}b", "*a".repeat(200));
        let start = Instant::now();
        assert!(!glob(&pattern, &value));
        let pattern2 = format!("{}*", "*a?".repeat(100));
        assert!(glob(&pattern2, &value));
        // Quadratic worst case: every start position re-scans 200 literals.
        let pattern3 = format!("*{}b", "a".repeat(200));
        assert!(!glob(&pattern3, &value));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn budget_is_enforced() {
        let value = "a".repeat(10_000);
        let pattern = format!("*{}b", "a".repeat(100));
        let matcher = Matcher::new(Comparator::Octet, MatchType::Matches, vec![pattern]);
        let mut small = Budget::with_steps(50_000);
        assert_eq!(
            matcher.matches(&value, &mut small),
            Err(RuntimeError::EvaluationLimit)
        );
        assert_eq!(small.charge(1), Err(RuntimeError::EvaluationLimit));
    }
}
