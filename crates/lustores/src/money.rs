//! Money and quantities: the legacy `double` values as exact decimals, rounded to the
//! target's two places with the rounding recorded, never silently.

use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// A legacy double as the decimal a person reads: the shortest text that reads back to the
/// same double (`1.365`, not `1.36499999999999999`), so rounding follows the written value.
/// `None` for NaN and infinities, which no target column holds.
pub fn exact(v: f64) -> Option<Decimal> {
    if !v.is_finite() {
        return None;
    }
    Decimal::from_str(&format!("{v}"))
        .ok()
        .or_else(|| Decimal::from_scientific(&format!("{v:e}")).ok())
}

/// Rounded to two places, halves away from zero (as PostgreSQL rounds numeric).
pub fn round2(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounded to four places (VAT rates, `numeric(5,4)`).
pub fn round4(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
}

/// A value as the target stores it, and whether that differs from the legacy value.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub legacy: Decimal,
    pub stored: Decimal,
}

impl Stored {
    /// The legacy double rounded to two places.
    pub fn of(v: f64) -> Option<Stored> {
        let legacy = exact(v)?;
        Some(Stored {
            legacy,
            stored: round2(legacy),
        })
    }

    /// Whether the target holds a different value than the legacy row.
    pub fn rounded(&self) -> bool {
        self.legacy != self.stored
    }
}

/// Whether `v` fits `numeric(precision, 2)`.
pub fn fits(v: Decimal, precision: u32) -> bool {
    let limit = Decimal::from(10i64.pow(precision - 2));
    v.abs() < limit
}

/// Text of a decimal with exactly two places (`"3.10"`), as the NDJSON contract writes
/// numerics.
pub fn text2(v: Decimal) -> String {
    let mut v = round2(v);
    v.rescale(2);
    v.to_string()
}

/// Text of a decimal with exactly four places.
pub fn text4(v: Decimal) -> String {
    let mut v = round4(v);
    v.rescale(4);
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_the_written_value_half_away_from_zero() {
        let s = Stored::of(1.365).unwrap();
        assert_eq!(text2(s.stored), "1.37");
        assert!(s.rounded());
        assert_eq!(text2(Stored::of(-3.305).unwrap().stored), "-3.31");
        assert_eq!(text2(Stored::of(22.82).unwrap().stored), "22.82");
        assert!(!Stored::of(22.82).unwrap().rounded());
        assert_eq!(text2(Stored::of(0.025).unwrap().stored), "0.03");
        assert!(Stored::of(f64::NAN).is_none());
        assert_eq!(
            text2(Stored::of(1e20).unwrap().stored),
            "100000000000000000000.00"
        );
        assert_eq!(text4(Decimal::new(2, 1)), "0.2000");
    }
}
