//! Exact decimal arithmetic for money: DynamoDB numbers are decimal text (up to 38 digits),
//! so amounts are computed as scaled integers and never pass through binary floats.

use std::fmt;

/// `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec {
    /// The digits as an integer.
    pub mantissa: i128,
    /// Digits after the point.
    pub scale: u32,
}

impl Dec {
    /// Zero.
    pub const ZERO: Dec = Dec {
        mantissa: 0,
        scale: 0,
    };

    /// Parses `-12.340`, `7`, `.5`; `None` for anything else (or more than 30 digits).
    pub fn parse(s: &str) -> Option<Dec> {
        let d = ferry_shared::value::Decimal::parse(s)?;
        if d.int.len() + d.frac.len() > 30 {
            return None;
        }
        let digits = format!("{}{}", d.int, d.frac);
        let m: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        Some(Dec {
            mantissa: if d.negative { -m } else { m },
            scale: d.frac.len() as u32,
        })
    }

    fn rescale(self, scale: u32) -> Option<Dec> {
        let f = 10i128.checked_pow(scale.checked_sub(self.scale)?)?;
        Some(Dec {
            mantissa: self.mantissa.checked_mul(f)?,
            scale,
        })
    }

    /// Exact sum.
    pub fn checked_add(self, o: Dec) -> Option<Dec> {
        let s = self.scale.max(o.scale);
        let (a, b) = (self.rescale(s)?, o.rescale(s)?);
        Some(Dec {
            mantissa: a.mantissa.checked_add(b.mantissa)?,
            scale: s,
        })
    }

    /// Exact product.
    pub fn checked_mul(self, o: Dec) -> Option<Dec> {
        Some(Dec {
            mantissa: self.mantissa.checked_mul(o.mantissa)?,
            scale: self.scale + o.scale,
        })
    }

    /// Rounded half away from zero to `scale` digits (money to the cent).
    pub fn round(self, scale: u32) -> Dec {
        if self.scale <= scale {
            return self.rescale(scale).unwrap_or(self);
        }
        let f = 10i128.pow(self.scale - scale);
        let q = self.mantissa / f;
        let r = self.mantissa % f;
        let q = if r.abs() * 2 >= f {
            q + self.mantissa.signum()
        } else {
            q
        };
        Dec { mantissa: q, scale }
    }

    /// Without trailing fraction zeros (DynamoDB compares numbers by value anyway).
    pub fn normalized(self) -> Dec {
        let mut d = self;
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let s = self.scale as usize;
        let (i, fr) = if digits.len() > s {
            (
                digits[..digits.len() - s].to_string(),
                digits[digits.len() - s..].to_string(),
            )
        } else {
            (
                "0".to_string(),
                format!("{}{digits}", "0".repeat(s - digits.len())),
            )
        };
        let sign = if neg { "-" } else { "" };
        if s == 0 {
            write!(f, "{sign}{i}")
        } else {
            write!(f, "{sign}{i}.{fr}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn exact() {
        let q = Dec::parse("12").unwrap();
        let p = Dec::parse("8.5000").unwrap();
        assert_eq!(q.checked_mul(p).unwrap().normalized().to_string(), "102");
        let t = Dec::parse("3")
            .unwrap()
            .checked_mul(Dec::parse("7.3333").unwrap())
            .unwrap();
        assert_eq!(t.to_string(), "21.9999");
        assert_eq!(t.round(2).to_string(), "22.00");
        assert_eq!(
            Dec::parse("0.1")
                .unwrap()
                .checked_add(Dec::parse("0.2").unwrap())
                .unwrap()
                .to_string(),
            "0.3"
        );
        assert_eq!(Dec::parse("-0.005").unwrap().round(2).to_string(), "-0.01");
        assert_eq!(Dec::parse("0.004").unwrap().round(2).to_string(), "0.00");
    }
}
