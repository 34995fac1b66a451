//! Numbers as a person reads them at a glance: `12.3k`, `1.2M`, `93.4%`, `85us`, `3m`.

use std::time::Duration;

/// Bytes: `512B`, `12.3K`, `256M`, `1.5G` (powers of 1024, as `INFO` prints them).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64;
    let mut unit = "";
    for u in UNITS {
        value /= 1024.0;
        unit = u;
        if value < 999.95 {
            break;
        }
    }
    scaled(value, unit)
}

/// A count or a rate: `0`, `0.5`, `412`, `12.3k`, `1.2M`.
pub fn count(x: f64) -> String {
    if !x.is_finite() || x < 0.0 {
        return "-".to_owned();
    }
    if x < 1000.0 {
        return if x > 0.0 && x < 10.0 && x.fract() != 0.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.0}")
        };
    }
    let mut value = x;
    let mut unit = "";
    for u in ["k", "M", "G", "T"] {
        value /= 1000.0;
        unit = u;
        if value < 999.95 {
            break;
        }
    }
    scaled(value, unit)
}

fn scaled(value: f64, unit: &str) -> String {
    // One decimal while it says something (not for whole numbers: `64M`, not `64.0M`).
    if value < 99.95 && (value - value.round()).abs() >= 0.05 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// A ratio as a percentage with one decimal (`100%` exactly at one), `-` when unknown.
pub fn percent(ratio: Option<f64>) -> String {
    match ratio {
        None => "-".to_owned(),
        Some(r) if r >= 1.0 => "100%".to_owned(),
        Some(r) => format!("{:.1}%", (r * 100.0).max(0.0)),
    }
}

/// Microseconds: `0.8us`, `85us`, `1.2ms`, `2.50s`.
pub fn micros(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.1}us")
    } else if us < 1000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.1}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

/// A short age or uptime: `4s`, `12m`, `3h`, `2d`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The text with long hexadecimal ids (generations, run ids) cut to their first 8 digits, so
/// what follows them stays on screen.
pub fn short_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 16 {
            out.push_str(&run[..8]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts_stay_short() {
        assert_eq!(bytes(0), "0B");
        assert_eq!(bytes(1023), "1023B");
        assert_eq!(bytes(1024), "1K");
        assert_eq!(bytes(1536), "1.5K");
        assert_eq!(bytes(12_600), "12.3K");
        assert_eq!(bytes(256 * 1024 * 1024), "256M");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5G");
        assert_eq!(count(0.0), "0");
        assert_eq!(count(0.5), "0.5");
        assert_eq!(count(412.4), "412");
        assert_eq!(count(12_345.0), "12.3k");
        assert_eq!(count(999_960.0), "1M");
        assert_eq!(count(f64::NAN), "-");
        assert_eq!(percent(Some(0.9321)), "93.2%");
        assert_eq!(percent(Some(1.0)), "100%");
        assert_eq!(percent(None), "-");
        assert_eq!(micros(0.84), "0.8us");
        assert_eq!(micros(85.2), "85us");
        assert_eq!(micros(1234.0), "1.2ms");
        assert_eq!(age(Duration::from_secs(59)), "59s");
        assert_eq!(age(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn long_ids_are_cut() {
        assert_eq!(
            short_ids("node a:1 back (generation 58c7a4d294cc520ea2f1b75b443aff91): flushed"),
            "node a:1 back (generation 58c7a4d2): flushed"
        );
        assert_eq!(
            short_ids("node 127.0.0.1:7001 down"),
            "node 127.0.0.1:7001 down"
        );
    }
}
