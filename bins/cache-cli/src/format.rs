//! Printing replies the way redis-cli does: `"text"`, `(integer) 1`, `(nil)`, `(error) ...`,
//! numbered array items; or raw, one value per line, for scripts.

use cache_wire::Response;

/// A reply as redis-cli prints it to a terminal.
pub fn pretty(reply: &Response) -> String {
    let mut out = String::new();
    write_pretty(reply, 0, &mut out);
    out
}

fn write_pretty(reply: &Response, indent: usize, out: &mut String) {
    match reply {
        Response::Ok => out.push_str("OK"),
        Response::Status(text) => out.push_str(text),
        Response::Error(text) => {
            out.push_str("(error) ");
            out.push_str(text);
        }
        Response::Integer(n) => out.push_str(&format!("(integer) {n}")),
        Response::Double(d) => out.push_str(&format!("(double) {d}")),
        Response::Boolean(b) => out.push_str(&format!("({b})")),
        Response::Nil => out.push_str("(nil)"),
        Response::Bulk(bytes) => quoted(bytes, out),
        Response::Verbatim(bytes) => out.push_str(&String::from_utf8_lossy(bytes)),
        Response::Array(items) if items.is_empty() => out.push_str("(empty array)"),
        Response::Array(items) => list(items.iter().map(|i| (None, i)), items.len(), indent, out),
        Response::Map(pairs) if pairs.is_empty() => out.push_str("(empty hash)"),
        Response::Map(pairs) => list(
            pairs.iter().map(|(k, v)| (Some(k), v)),
            pairs.len(),
            indent,
            out,
        ),
    }
}

fn list<'a>(
    items: impl Iterator<Item = (Option<&'a Response>, &'a Response)>,
    count: usize,
    indent: usize,
    out: &mut String,
) {
    let width = count.to_string().len();
    for (i, (key, value)) in items.enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
        }
        let label = format!("{:>width$}) ", i + 1);
        out.push_str(&label);
        let inner = indent + label.len();
        if let Some(key) = key {
            write_pretty(key, inner, out);
            out.push_str(" => ");
        }
        write_pretty(value, inner, out);
    }
}

/// Bytes in double quotes with redis-cli's escapes.
fn quoted(bytes: &[u8], out: &mut String) {
    out.push('"');
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            other => out.push_str(&format!("\\x{other:02x}")),
        }
    }
    out.push('"');
}

/// A reply as plain text: values one per line, no quotes or type labels.
pub fn raw(reply: &Response) -> String {
    match reply {
        Response::Ok => "OK".into(),
        Response::Status(text) | Response::Error(text) => text.to_string(),
        Response::Integer(n) => n.to_string(),
        Response::Double(d) => d.to_string(),
        Response::Boolean(b) => u8::from(*b).to_string(),
        Response::Nil => String::new(),
        Response::Bulk(bytes) | Response::Verbatim(bytes) => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        Response::Array(items) => items.iter().map(raw).collect::<Vec<_>>().join("\n"),
        Response::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{}\n{}", raw(k), raw(v)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn prints_like_redis_cli() {
        assert_eq!(
            pretty(&Response::Bulk(Bytes::from("a\"b\n\x01"))),
            r#""a\"b\n\x01""#
        );
        assert_eq!(pretty(&Response::Integer(3)), "(integer) 3");
        assert_eq!(pretty(&Response::Nil), "(nil)");
        assert_eq!(
            pretty(&Response::err("syntax error")),
            "(error) ERR syntax error"
        );
        let nested = Response::Array(vec![
            Response::Bulk(Bytes::from("x")),
            Response::Array(vec![Response::Integer(1), Response::Nil]),
        ]);
        assert_eq!(pretty(&nested), "1) \"x\"\n2) 1) (integer) 1\n   2) (nil)");
        assert_eq!(raw(&nested), "x\n1\n");
    }
}
