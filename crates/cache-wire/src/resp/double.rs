//! Doubles as Redis prints them in replies.
//!
//! Redis 7.2's `d2string`: `nan`, `inf`, `-inf`, `0`, `-0`; integral values up to 2^62 as
//! integers; anything else with the shortest digits that read back to the same value, laid out
//! by fpconv's rules: plain notation for moderate exponents (`0.1`, `123.456`, `0.000001`),
//! scientific otherwise (`1e-7`, `1.5e+300`, with no zero padding of the exponent). Rust's `{:e}`
//! already yields the shortest digits; this module only lays them out, on the stack.

use std::fmt::{self, Write as _};

/// The text of a double, held inline (the longest, `-1.2345678901234567e-308`, is 24 bytes).
#[derive(Clone, Copy)]
pub struct DoubleText {
    bytes: [u8; 32],
    len: usize,
}

impl DoubleText {
    /// The text as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or("nan")
    }

    fn push(&mut self, bytes: &[u8]) {
        // The layouts below never exceed 24 bytes; clamp rather than panic if that were wrong.
        let room = self.bytes.len() - self.len;
        let n = bytes.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }
}

impl fmt::Write for DoubleText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

impl fmt::Debug for DoubleText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for DoubleText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `value` as Redis prints a double.
pub fn format_double(value: f64) -> DoubleText {
    let mut out = DoubleText {
        bytes: [0; 32],
        len: 0,
    };
    if value.is_nan() {
        out.push(b"nan");
        return out;
    }
    if value.is_infinite() {
        out.push(if value > 0.0 { b"inf" } else { b"-inf" });
        return out;
    }
    if value == 0.0 {
        out.push(if value.is_sign_negative() {
            b"-0"
        } else {
            b"0"
        });
        return out;
    }
    // Redis's double2ll: integral and within ±(i64::MAX / 2) prints as an integer.
    const INTEGRAL_LIMIT: f64 = (i64::MAX / 2) as f64;
    if (-INTEGRAL_LIMIT..=INTEGRAL_LIMIT).contains(&value) && value.fract() == 0.0 {
        let mut buf = itoa::Buffer::new();
        out.push(buf.format(value as i64).as_bytes());
        return out;
    }
    // Shortest round-trip digits as `d.ddde<x>`.
    let mut sci = DoubleText {
        bytes: [0; 32],
        len: 0,
    };
    let _ = write!(sci, "{:e}", value.abs());
    let text = sci.as_bytes();
    let e = text.iter().position(|&b| b == b'e').unwrap_or(text.len());
    let x: i32 = std::str::from_utf8(text.get(e + 1..).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut digits = [b'0'; 24];
    let mut n = 0;
    for &b in text[..e].iter().filter(|b| b.is_ascii_digit()) {
        if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    let digits = &digits[..n.max(1)];
    if value < 0.0 {
        out.push(b"-");
    }
    emit_digits(&mut out, digits, x);
    out
}

/// fpconv's `emit_digits`, with `value = digits × 10^k` and `x` the decimal exponent of the
/// first digit.
fn emit_digits(out: &mut DoubleText, digits: &[u8], x: i32) {
    let n = digits.len() as i32;
    let k = x - n + 1;
    let exp = x.abs();
    if k >= 0 && exp < n + 7 {
        out.push(digits);
        for _ in 0..k {
            out.push(b"0");
        }
    } else if k < 0 && (k > -7 || exp < 4) {
        let offset = n + k;
        if offset <= 0 {
            out.push(b"0.");
            for _ in 0..-offset {
                out.push(b"0");
            }
            out.push(digits);
        } else {
            let (int, frac) = digits.split_at(offset as usize);
            out.push(int);
            out.push(b".");
            out.push(frac);
        }
    } else {
        out.push(&digits[..1]);
        if digits.len() > 1 {
            out.push(b".");
            out.push(&digits[1..]);
        }
        out.push(if x < 0 { b"e-" } else { b"e+" });
        let mut buf = itoa::Buffer::new();
        out.push(buf.format(exp).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_redis() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-3.0, "-3"),
            (1.5, "1.5"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (10.5, "10.5"),
            (1200.0, "1200"),
            (1e17, "100000000000000000"),
            (4e18, "4000000000000000000"),
            (1e19, "1e+19"),
            (1.2345678901234567e19, "12345678901234567000"),
            (0.0001, "0.0001"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123.456, "123.456"),
            (12345.678901234, "1.2345678901234e+4"),
            (1.5e300, "1.5e+300"),
            (-2.5e-300, "-2.5e-300"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (6.02214, "6.02214"),
        ];
        for &(value, text) in cases {
            assert_eq!(format_double(value).as_str(), text, "{value:?}");
        }
    }

    #[test]
    fn round_trips() {
        for value in [
            0.1,
            1.0 / 3.0,
            2.0f64.powi(60),
            1e-7,
            123e45,
            -9.87654321e-10,
        ] {
            let text = format_double(value);
            assert_eq!(text.as_str().parse::<f64>().unwrap(), value, "{text}");
        }
    }
}
