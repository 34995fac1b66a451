//! Numbers in arguments, read exactly as Redis reads them.
//!
//! Clients and test suites rely on what Redis refuses as much as on what it accepts: `+1`,
//! ` 1`, `01` and `-0` are not integers to Redis, so they are not to us either.

/// An integer as Redis's `string2ll` reads it: an optional `-`, then digits with no leading
/// zero (except `0` itself); no `+`, no spaces, no overflow. Exactly the texts `i64` prints.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    // 20 characters hold every i64; Redis refuses anything longer before looking at it.
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // -(2^63) is i64::MIN; anything larger in magnitude overflows.
        (value <= 1 << 63).then(|| 0i64.wrapping_sub_unsigned(value))
    } else {
        i64::try_from(value).ok()
    }
}

/// A float as Redis's `string2ld` reads it (`strtold` over the whole text): decimal digits with
/// an optional sign, point and exponent, or `inf`/`infinity`. No spaces, no trailing bytes, no
/// NaN, and no finite text so large that it overflows to infinity.
///
/// Unlike `strtold`, hexadecimal floats (`0x1p3`) are not accepted.
pub fn parse_f64(text: &[u8]) -> Option<f64> {
    // Redis's buffer for the conversion; longer texts are refused outright.
    const MAX_CHARS: usize = 5 * 1024;
    if text.is_empty() || text.len() >= MAX_CHARS {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    let value: f64 = text.parse().ok()?;
    if value.is_nan() {
        return None;
    }
    if value.is_infinite() && !is_infinity_literal(text) {
        // strtold's ERANGE: a finite number out of range.
        return None;
    }
    Some(value)
}

fn is_infinity_literal(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity")
}

/// A `SCAN` cursor as Redis reads it with `strtoul`: unsigned 64-bit, an optional sign (a
/// negative cursor wraps, as in C), no leading whitespace, nothing after the digits. The empty
/// text is cursor 0, as it is to Redis.
pub(crate) fn parse_cursor(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn integers_like_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "-0",
            "+1",
            " 1",
            "1 ",
            "01",
            "00",
            "9223372036854775808",
            "-9223372036854775809",
            "1.0",
            "1e3",
            "0x10",
            "99999999999999999999",
        ] {
            assert_eq!(parse_i64(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn floats_like_string2ld() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"+1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-.5"), Some(-0.5));
        assert_eq!(parse_f64(b"5."), Some(5.0));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"010"), Some(10.0));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-Infinity"), Some(f64::NEG_INFINITY));
        for bad in [
            "", " 1", "1 ", "1.5x", "nan", "NaN", "-nan", "1e400", "-1e400", ".", "e5", "abc",
        ] {
            assert_eq!(parse_f64(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn cursors_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"007"), Some(7));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        for bad in ["18446744073709551616", " 1", "1 ", "-", "+", "x", "1x"] {
            assert_eq!(parse_cursor(bad.as_bytes()), None, "{bad:?}");
        }
    }

    proptest! {
        /// string2ll accepts exactly the canonical decimal texts of i64.
        #[test]
        fn integers_are_exactly_canonical(text in "[-+ 0-9]{0,21}") {
            let canonical = text.parse::<i64>().ok().filter(|v| v.to_string() == text);
            prop_assert_eq!(parse_i64(text.as_bytes()), canonical);
        }

        #[test]
        fn every_integer_reads_back(value in any::<i64>()) {
            prop_assert_eq!(parse_i64(value.to_string().as_bytes()), Some(value));
        }

        #[test]
        fn finite_floats_read_back(value in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            prop_assert_eq!(parse_f64(value.to_string().as_bytes()), Some(value));
        }
    }
}
