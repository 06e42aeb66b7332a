//! DynamoDB's numbers, checked as text: the grammar, at most 38 significant digits, a
//! magnitude between 1E-130 and 9.9999999999999999999999999999999999999E+125 (or zero), and
//! the canonical form that tells `1` and `1.0` are the same number (duplicate NS members,
//! numeric keys). Nothing here goes through a float: the digits are kept as written.

/// DynamoDB keeps at most this many significant digits.
pub const MAX_DIGITS: usize = 38;
/// The largest power of ten of a number's leading digit (9.99…E+125).
const MAX_EXPONENT: i64 = 125;
/// The smallest (1E-130).
const MIN_EXPONENT: i64 = -130;

/// A number reduced to sign, significant digits and the power of ten of its first digit:
/// `-120.50` is `(true, "1205", 2)`. Zero has no digits (and no sign).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    /// Parses decimal text: an optional sign, digits with an optional point (at least one
    /// digit), an optional exponent. `None` when it is not a number.
    pub fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let exp = match exp {
            None => 0,
            Some(e) => parse_exponent(e)?,
        };
        let joined: String = int.chars().chain(frac.chars()).collect();
        let core = joined.trim_start_matches('0');
        let digits = core.trim_end_matches('0');
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits: String::new(),
                exponent: 0,
            });
        }
        // joined = core with `leading` zeros before it; the point sits after `int.len()`
        // digits of joined, so core's first digit is worth 10^(int.len() - leading - 1).
        let leading = (joined.len() - core.len()) as i64;
        let exponent = exp.saturating_add(int.len() as i64 - leading - 1);
        Some(Decimal {
            negative,
            digits: digits.to_string(),
            exponent,
        })
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The same number as canonical text (`-1.205E2`), equal for equal numbers.
    pub fn canonical(&self) -> String {
        if self.is_zero() {
            return "0".into();
        }
        let sign = if self.negative { "-" } else { "" };
        let (first, rest) = self.digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        format!("{sign}{first}{point}{rest}E{}", self.exponent)
    }
}

/// The exponent's value; one too large for any number saturates (its number is then out of
/// range unless it is zero).
fn parse_exponent(e: &str) -> Option<i64> {
    let (neg, digits) = match e.as_bytes().first()? {
        b'-' => (true, &e[1..]),
        b'+' => (false, &e[1..]),
        _ => (false, e),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    let v: i64 = if digits.len() > 15 {
        i64::MAX / 2
    } else {
        digits.parse().unwrap_or(0)
    };
    Some(if neg { -v } else { v })
}

/// Checks one number as DynamoDB will: returns its canonical form, or why DynamoDB would
/// refuse it (the text is quoted in the message as written).
pub fn check(text: &str) -> Result<Decimal, String> {
    let d = Decimal::parse(text).ok_or_else(|| format!("N {text:?} is not a number"))?;
    if d.digits.len() > MAX_DIGITS {
        return Err(format!(
            "N {text:?} has {} significant digits (DynamoDB keeps at most {MAX_DIGITS})",
            d.digits.len()
        ));
    }
    if !d.is_zero() && d.exponent > MAX_EXPONENT {
        return Err(format!(
            "N {text:?} is beyond 9.9999999999999999999999999999999999999E+125 (DynamoDB's largest magnitude)"
        ));
    }
    if !d.is_zero() && d.exponent < MIN_EXPONENT {
        return Err(format!(
            "N {text:?} is nearer zero than 1E-130 (DynamoDB's smallest magnitude)"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Decimal::parse(s).unwrap().canonical()
    }

    #[test]
    fn equal_numbers_have_one_canonical_form() {
        for s in ["1", "1.0", "+1", "1e0", "10E-1", "0.1e1", "001.000"] {
            assert_eq!(canon(s), "1E0", "{s}");
        }
        assert_eq!(canon("-120.50"), "-1.205E2");
        assert_eq!(canon("0.00012"), "1.2E-4");
        assert_eq!(canon("12345678901234567890.5"), "1.23456789012345678905E19");
        for s in ["0", "-0", "0.000", "0e999999999999999999999", ".0"] {
            assert_eq!(canon(s), "0", "{s}");
        }
        assert_eq!(canon(".5"), "5E-1");
        assert_eq!(canon("5."), "5E0");
    }

    #[test]
    fn not_numbers() {
        for s in [
            "", "-", ".", "e5", "1e", "1e+", "1.2.3", "1-2", "12x", "NaN", "Infinity", " 1",
            "0x10", "1_000",
        ] {
            assert!(Decimal::parse(s).is_none(), "{s:?}");
        }
    }

    #[test]
    fn digits_and_range_as_dynamodb_counts_them() {
        let ok = [
            "12345678901234567890123456789012345678",
            "1234567890123456789012345678901234567800000",
            "9.9999999999999999999999999999999999999E+125",
            "-9.9999999999999999999999999999999999999E+125",
            "1E-130",
            "-1E-130",
            "0E-999",
            "0",
        ];
        for s in ok {
            assert!(check(s).is_ok(), "{s}: {:?}", check(s));
        }
        // 1E-130 written out, and one place further.
        let smallest = format!("0.{}1", "0".repeat(129));
        assert_eq!(check(&smallest).map(|d| d.canonical()), Ok("1E-130".into()));
        assert!(check(&format!("-0.{}1", "0".repeat(130))).is_err());
        assert_eq!(
            check("123456789012345678901234567890123456789").unwrap_err(),
            "N \"123456789012345678901234567890123456789\" has 39 significant digits (DynamoDB keeps at most 38)"
        );
        assert!(check("1.00000000000000000000000000000000000001").is_err());
        assert!(check("1E126").unwrap_err().contains("is beyond"));
        assert!(check("-10E125").unwrap_err().contains("is beyond"));
        assert!(check("1E-131").unwrap_err().contains("nearer zero"));
        assert!(check("-0.1E-130").unwrap_err().contains("nearer zero"));
        assert!(check("1e99999999999999999999999")
            .unwrap_err()
            .contains("is beyond"));
        assert!(check("1e-99999999999999999999999")
            .unwrap_err()
            .contains("nearer zero"));
        assert_eq!(check("12x").unwrap_err(), "N \"12x\" is not a number");
    }
}
