//! Numbers appended as text on the hot paths (extract's dates, load-mysql's rows) without
//! `core::fmt`: its machinery (`write!`, padding, `Display`) was a sixth of load-mysql's
//! profile, and a fifth of extract's when dates were pushed char by char.

/// Where text is appended: a `String` (extract's cells) or a byte buffer (LOAD DATA rows).
pub(crate) trait Out {
    fn put(&mut self, s: &str);
}

impl Out for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

impl Out for Vec<u8> {
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
}

/// Appends `v` as at least `width` decimal digits (zeros in front), itoa's text whole.
pub(crate) fn push_num(out: &mut impl Out, v: u32, width: usize) {
    const ZEROS: &str = "000000000";
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    let mut pad = width.saturating_sub(digits.len());
    while pad > 0 {
        let n = pad.min(ZEROS.len());
        out.put(&ZEROS[..n]);
        pad -= n;
    }
    out.put(digits);
}

/// Appends an integer of any width.
pub(crate) fn push_int(out: &mut impl Out, v: i128) {
    out.put(itoa::Buffer::new().format(v));
}

/// Appends bytes as upper-case hexadecimal, two digits each.
pub(crate) fn push_hex_upper(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_zero_padded_to_their_width() {
        for (v, width, want) in [
            (5, 2, "05"),
            (0, 4, "0000"),
            (2024, 4, "2024"),
            (7, 6, "000007"),
            (123_456, 6, "123456"),
            (838, 2, "838"),
            (u32::MAX, 2, "4294967295"),
            (3, 0, "3"),
            (12, 14, "00000000000012"),
        ] {
            let mut s = String::from("x");
            push_num(&mut s, v, width);
            assert_eq!(s, format!("x{want}"));
            let mut b = b"x".to_vec();
            push_num(&mut b, v, width);
            assert_eq!(b, format!("x{want}").into_bytes());
        }
    }

    #[test]
    fn integers_and_hex_match_the_formatter() {
        for v in [
            0i128,
            1,
            -1,
            42,
            i128::from(i64::MIN),
            i128::from(u64::MAX),
            i128::MIN,
            i128::MAX,
        ] {
            let mut b = Vec::new();
            push_int(&mut b, v);
            assert_eq!(b, v.to_string().into_bytes());
        }
        let bytes: Vec<u8> = (0..=255).collect();
        let mut b = Vec::new();
        push_hex_upper(&mut b, &bytes);
        let want: String = bytes.iter().map(|x| format!("{x:02X}")).collect();
        assert_eq!(b, want.into_bytes());
    }
}
