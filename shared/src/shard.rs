//! `--shard I/N`: which part of a table one of N independent processes covers.
//!
//! The rule needs no coordination, so N processes on N machines agree by computing it
//! alone: the shard key is the table's first primary-key column (an integer). Each shard
//! reads `MIN` and `MAX` of it from the source; with `span = max - min + 1` the boundaries
//! are `b_k = min + floor(span * k / N)` for `k = 1..N-1`, and shard `i` takes the rows with
//! `b_i <= key < b_{i+1}`. Shard 0 has no lower bound and shard N-1 no upper bound, so
//! every possible key falls in exactly one shard, even one outside `min..max` (a row added
//! after the bounds were read) — the bounds only decide how even the shards are. Every tool
//! that reads a shard records the bounds it used ([`ShardRange`]), so a loader can check
//! it loads the range it was told, and `verify --combine` can check the ranges tile.

use crate::FerryError;
use serde::{Deserialize, Serialize};

/// `--shard I/N`: shard `index` of `count`, counted from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0 ≤ index < count.
    pub index: u32,
    /// How many shards the table is cut into.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = FerryError;
    fn from_str(s: &str) -> Result<Self, FerryError> {
        let bad = || {
            FerryError::Usage(format!(
                "--shard {s:?}: expected I/N with 0 <= I < N, e.g. 0/4 (the first of four)"
            ))
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The key range of this shard, from the source's smallest and largest key (`None`
    /// when the table is empty: then shard 0 takes the keys below 0 and the last shard the
    /// rest, which still covers every key once).
    pub fn range(self, column: &str, min_max: Option<(i128, i128)>) -> ShardRange {
        let (min, max) = min_max.unwrap_or((0, 0));
        let span = max - min + 1;
        let bound = |k: u32| min + span * i128::from(k) / i128::from(self.count);
        ShardRange {
            index: self.index,
            count: self.count,
            column: column.to_string(),
            from: (self.index > 0).then(|| bound(self.index)),
            to: (self.index + 1 < self.count).then(|| bound(self.index + 1)),
        }
    }
}

/// `--shard I/N`, flattened into the tools that can work on one shard of a table.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ShardArgs {
    /// Only shard I of N of the table (0 <= I < N): a range of the first key column that
    /// every process computes alike from the source (docs/scale-out.md).
    #[arg(long, env = "FERRY_SHARD", value_name = "I/N")]
    pub shard: Option<Shard>,
}

impl ShardArgs {
    /// `SEPshard-I-of-N` for the names of a shard's default files (checkpoint, rejects), so
    /// shards started side by side in one folder never write one file; empty without
    /// `--shard`.
    pub fn file_tag(&self, sep: char) -> String {
        self.shard.map_or(String::new(), |s| {
            format!("{sep}shard-{}-of-{}", s.index, s.count)
        })
    }
}

/// The rows one shard covers: `from <= column < to`, either bound absent at the ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRange {
    /// Shard number, from 0.
    pub index: u32,
    /// Shards in all.
    pub count: u32,
    /// The shard key: the first primary-key column.
    pub column: String,
    /// Smallest key of the range (absent for shard 0).
    #[serde(default, with = "key_text")]
    pub from: Option<i128>,
    /// First key after the range (absent for the last shard).
    #[serde(default, with = "key_text")]
    pub to: Option<i128>,
}

impl ShardRange {
    /// The shard these bounds belong to.
    pub fn shard(&self) -> Shard {
        Shard {
            index: self.index,
            count: self.count,
        }
    }

    /// The range as a condition, the column quoted with `quote`; `None` for a single shard
    /// (every row). The bounds are integers this module computed, never user text.
    pub fn condition(&self, quote: fn(&str) -> String) -> Option<String> {
        let col = quote(&self.column);
        match (self.from, self.to) {
            (None, None) => None,
            (Some(f), None) => Some(format!("{col} >= {f}")),
            (None, Some(t)) => Some(format!("{col} < {t}")),
            (Some(f), Some(t)) => Some(format!("{col} >= {f} AND {col} < {t}")),
        }
    }

    /// The range for people: `id in [1000, 2000)`.
    pub fn describe(&self) -> String {
        let f = self.from.map_or("-inf".to_string(), |v| v.to_string());
        let t = self.to.map_or("+inf".to_string(), |v| v.to_string());
        format!(
            "shard {}/{}: {} in [{f}, {t})",
            self.index, self.count, self.column
        )
    }
}

/// Bounds are written as decimal strings: keys reach 2^64-1 (`BIGINT UNSIGNED`) and below
/// -2^63, which JSON readers (and serde's buffered formats) do not all take as numbers.
mod key_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<i128>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_str(&n.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i128>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Key {
            Text(String),
            Signed(i64),
            Unsigned(u64),
        }
        Ok(match Option::<Key>::deserialize(d)? {
            None => None,
            Some(Key::Text(t)) => Some(t.parse().map_err(serde::de::Error::custom)?),
            Some(Key::Signed(n)) => Some(n.into()),
            Some(Key::Unsigned(n)) => Some(n.into()),
        })
    }
}

/// Checks that `ranges` are all N shards of one cut, each once, and that each ends where
/// the next begins (so together they cover every key exactly once). Returns the problems.
pub fn tiling_problems(ranges: &[ShardRange]) -> Vec<String> {
    let Some(first) = ranges.first() else {
        return vec!["no shard".into()];
    };
    let n = first.count;
    let mut problems = Vec::new();
    let mut by_index: Vec<Option<&ShardRange>> = vec![None; n as usize];
    for r in ranges {
        if r.count != n || r.column != first.column {
            problems.push(format!(
                "{} does not belong to the same cut as {}",
                r.describe(),
                first.describe()
            ));
        } else if by_index[r.index as usize].replace(r).is_some() {
            problems.push(format!("shard {}/{n} appears more than once", r.index));
        }
    }
    for (i, r) in by_index.iter().enumerate() {
        match r {
            None => problems.push(format!("shard {i}/{n} is missing")),
            Some(r) if i == 0 && r.from.is_some() => {
                problems.push(format!("{} should have no lower bound", r.describe()));
            }
            Some(r) if i + 1 == n as usize && r.to.is_some() => {
                problems.push(format!("{} should have no upper bound", r.describe()));
            }
            Some(r) => {
                if let Some(Some(next)) = by_index.get(i + 1) {
                    if r.to != next.from {
                        problems.push(format!(
                            "{} and {} do not meet: the bounds were computed from different data",
                            r.describe(),
                            next.describe()
                        ));
                    }
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(n: u32, min_max: Option<(i128, i128)>) -> Vec<ShardRange> {
        (0..n)
            .map(|i| Shard { index: i, count: n }.range("id", min_max))
            .collect()
    }

    /// Every key from well below min to well above max is in exactly one shard.
    #[test]
    fn every_key_in_exactly_one_shard() {
        for (n, mm) in [
            (4, Some((1, 4_000_000))),
            (3, Some((-5, 7))),
            (4, Some((5, 6))),
            (7, None),
            (1, Some((10, 20))),
            (4, Some((0, u64::MAX as i128))),
        ] {
            let ranges = all(n, mm);
            assert!(tiling_problems(&ranges).is_empty(), "{ranges:?}");
            let (lo, hi) = mm.unwrap_or((0, 0));
            for key in [lo - 3, lo, lo + 1, (lo + hi) / 2, hi - 1, hi, hi + 5] {
                let inside = ranges
                    .iter()
                    .filter(|r| r.from.is_none_or(|f| key >= f) && r.to.is_none_or(|t| key < t))
                    .count();
                assert_eq!(inside, 1, "key {key} with {n} shards of {mm:?}");
            }
        }
    }

    #[test]
    fn even_split_and_condition() {
        let r = all(4, Some((1, 4_000_000)));
        assert_eq!(r[1].from, Some(1_000_001));
        assert_eq!(r[1].to, Some(2_000_001));
        let q = |s: &str| format!("\"{s}\"");
        assert_eq!(r[0].condition(q).unwrap(), "\"id\" < 1000001");
        assert_eq!(
            r[1].condition(q).unwrap(),
            "\"id\" >= 1000001 AND \"id\" < 2000001"
        );
        assert_eq!(r[3].condition(q).unwrap(), "\"id\" >= 3000001");
        assert!(all(1, Some((1, 9)))[0].condition(q).is_none());
    }

    /// Through a buffered deserializer (as in a checkpoint's untagged state) and back.
    #[test]
    fn bounds_round_trip_as_text() {
        let r = Shard { index: 1, count: 3 }.range("id", Some((-5, u64::MAX as i128)));
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"from\":\""), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let back: ShardRange = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        let old: ShardRange =
            serde_json::from_str(r#"{"index":0,"count":2,"column":"id","from":null,"to":7}"#)
                .unwrap();
        assert_eq!(old.to, Some(7));
    }

    #[test]
    fn parse_and_tiling_problems() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["4/4", "1", "-1/4", "a/b", "0/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let mut r = all(4, Some((1, 100)));
        r.remove(2);
        assert_eq!(
            tiling_problems(&r),
            vec!["shard 2/4 is missing".to_string()]
        );
        let mut r = all(4, Some((1, 100)));
        r[2] = Shard { index: 2, count: 4 }.range("id", Some((1, 120)));
        assert_eq!(tiling_problems(&r).len(), 2, "{:?}", tiling_problems(&r));
    }
}
