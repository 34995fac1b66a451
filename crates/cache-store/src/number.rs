//! Numbers stored as strings: parsing and printing them as Redis does for `INCR` and
//! `INCRBYFLOAT`.

/// Parses a stored integer as Redis does: optional `-`, no `+`, no spaces, no leading zeros.
pub(crate) fn parse_i64(v: &[u8]) -> Option<i64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let (negative, digits) = match v[0] {
        b'-' => (true, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || negative)) {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        n = if negative {
            n.checked_mul(10)?.checked_sub(d)?
        } else {
            n.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(n)
}

/// Parses a stored float: no surrounding spaces, no NaN, no infinity.
pub(crate) fn parse_f64(v: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(v).ok()?;
    if text.is_empty() || text.trim() != text {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("inf") || lower.contains("nan") {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Formats like Redis's `INCRBYFLOAT`: plain decimal, no exponent, no trailing zeros.
pub(crate) fn format_f64(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    format!("{f}")
}
