//! Splitting an inline request line into arguments, exactly as Redis's `sdssplitargs` does.
//!
//! Arguments are separated by whitespace. An argument may be double-quoted, with the escapes
//! `\n \r \t \b \a \\ \"` and `\xHH`, or single-quoted, where only `\'` is an escape; a quote
//! may also start in the middle of a word (`a"b c"` is `ab c`). A closing quote must be followed
//! by whitespace or the end of the line, and a quote never closed is an error.
//!
//! Redis splits a C string, so the line ends at its first NUL byte; we do the same so that the
//! same bytes mean the same command on both servers. Unquoted arguments are slices of the line;
//! only quoted ones, whose escapes change their bytes, are copied.

use bytes::Bytes;

use crate::error::ProtocolError;

/// The arguments of an inline line (without its line ending). Empty for a blank line.
pub fn split_args(line: &Bytes) -> Result<Vec<Bytes>, ProtocolError> {
    let text = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => &line[..],
    };
    // The byte at `i`, or NUL past the end, as C's `*p` reads it.
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < text.len() && is_space(text[p]) {
            p += 1;
        }
        if p >= text.len() {
            return Ok(args);
        }
        let start = p;
        // Filled only once a quote makes the argument differ from the bytes of the line.
        let mut copied: Option<Vec<u8>> = None;
        let mut quote = Quote::None;
        let end = loop {
            let c = at(p);
            match quote {
                Quote::Double => {
                    let buf = copied.get_or_insert_with(Vec::new);
                    if c == b'\\'
                        && at(p + 1) == b'x'
                        && at(p + 2).is_ascii_hexdigit()
                        && at(p + 3).is_ascii_hexdigit()
                    {
                        buf.push(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3)));
                        p += 3;
                    } else if c == b'\\' && at(p + 1) != 0 {
                        p += 1;
                        buf.push(unescape(at(p)));
                    } else if c == b'"' {
                        close_quote(at(p + 1))?;
                        p += 1;
                        break p;
                    } else if c == 0 {
                        return Err(ProtocolError::UnbalancedQuotes);
                    } else {
                        buf.push(c);
                    }
                }
                Quote::Single => {
                    let buf = copied.get_or_insert_with(Vec::new);
                    if c == b'\\' && at(p + 1) == b'\'' {
                        p += 1;
                        buf.push(b'\'');
                    } else if c == b'\'' {
                        close_quote(at(p + 1))?;
                        p += 1;
                        break p;
                    } else if c == 0 {
                        return Err(ProtocolError::UnbalancedQuotes);
                    } else {
                        buf.push(c);
                    }
                }
                Quote::None => match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break p,
                    b'"' | b'\'' => {
                        // Keep what came before the quote: `ab"cd"` is `abcd`.
                        copied = Some(text[start..p].to_vec());
                        quote = if c == b'"' {
                            Quote::Double
                        } else {
                            Quote::Single
                        };
                    }
                    _ => {}
                },
            }
            p += 1;
        };
        args.push(match copied {
            Some(bytes) => Bytes::from(bytes),
            None => line.slice(start..end),
        });
        p = end;
    }
}

#[derive(Clone, Copy)]
enum Quote {
    None,
    Single,
    Double,
}

/// A closing quote must end the argument: the next byte is whitespace or the end of the line.
fn close_quote(next: u8) -> Result<(), ProtocolError> {
    if next == 0 || is_space(next) {
        Ok(())
    } else {
        Err(ProtocolError::UnbalancedQuotes)
    }
}

/// C's `isspace` in the C locale, which decides where arguments start.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn unescape(c: u8) -> u8 {
    match c {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<String>, ProtocolError> {
        let args = split_args(&Bytes::copy_from_slice(line.as_bytes()))?;
        Ok(args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect())
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(split("set  k\tv").unwrap(), ["set", "k", "v"]);
        assert_eq!(split("   ").unwrap(), Vec::<String>::new());
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        // \v is skipped between arguments but does not end one, as in Redis.
        assert_eq!(split("\x0ba\x0bb").unwrap(), ["a\x0bb"]);
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(
            split(r#"set "a b" "\x41\x4a\n\r\t\b\a\\\"\q""#).unwrap(),
            ["set", "a b", "AJ\n\r\t\x08\x07\\\"q"]
        );
        assert_eq!(split(r#""" x"#).unwrap(), ["", "x"]);
        assert_eq!(split(r#"a"b c"d"#), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(split(r#"a"b c""#).unwrap(), ["ab c"]);
        // An incomplete \x escape is kept literally.
        assert_eq!(split(r#""\x4g""#).unwrap(), ["x4g"]);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(split(r"'it\'s' '\n'").unwrap(), ["it's", "\\n"]);
        assert_eq!(split("'a'b"), Err(ProtocolError::UnbalancedQuotes));
    }

    #[test]
    fn unbalanced_quotes() {
        assert_eq!(split(r#"get "k"#), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(split("get 'k"), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(split(r#"get "k\"#), Err(ProtocolError::UnbalancedQuotes));
    }

    #[test]
    fn the_line_ends_at_nul_like_a_c_string() {
        assert_eq!(split("get k\0 ignored").unwrap(), ["get", "k"]);
        assert_eq!(split("get \"k\0\""), Err(ProtocolError::UnbalancedQuotes));
    }
}
