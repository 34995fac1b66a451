//! Charts as SVG, drawn by hand: grouped bars and lines, with axes, ticks and a legend. No
//! dependency and no fonts beyond the viewer's sans-serif.

use std::fmt::Write as _;

use super::report::Plot;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 110.0;
const COLORS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

/// The SVG of `plot`.
pub fn svg(plot: &Plot) -> String {
    match plot {
        Plot::Bars {
            title,
            unit,
            series,
            groups,
            log,
            ..
        } => bars(title, unit, series, groups, *log),
        Plot::Lines {
            title,
            x_label,
            y_label,
            series,
            ..
        } => lines(title, x_label, y_label, series),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn header(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{x}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{title}</text>
"#,
        x = WIDTH / 2.0,
        title = escape(title)
    );
}

fn legend(out: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 10.0 + i as f64 * 20.0;
        let x = WIDTH - RIGHT + 15.0;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="{y}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            COLORS[i % COLORS.len()],
            x + 18.0,
            y + 10.0,
            escape(name)
        );
    }
}

/// A value axis from `lo` to `hi` mapped onto the plot's height.
#[derive(Debug, Clone, Copy)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>, log: bool) -> Axis {
        let values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        if log {
            let min = values
                .iter()
                .copied()
                .filter(|v| *v > 0.0)
                .fold(f64::MAX, f64::min);
            let (min, max) = if min > max { (1.0, 10.0) } else { (min, max) };
            Axis {
                lo: 10f64.powf(min.log10().floor()),
                hi: 10f64.powf(max.log10().ceil().max(min.log10().floor() + 1.0)),
                log: true,
            }
        } else {
            let max = if max > 0.0 { max } else { 1.0 };
            let step = nice_step(max / 5.0);
            Axis {
                lo: 0.0,
                hi: (max / step).ceil() * step,
                log: false,
            }
        }
    }

    /// The share of the axis `value` sits at, 0 at the bottom.
    fn share(&self, value: f64) -> f64 {
        let share = if self.log {
            (value.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (value - self.lo) / (self.hi - self.lo)
        };
        share.clamp(0.0, 1.0)
    }

    fn y(&self, value: f64) -> f64 {
        HEIGHT - BOTTOM - self.share(value) * (HEIGHT - TOP - BOTTOM)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut ticks = Vec::new();
            let mut t = self.lo;
            while t <= self.hi * 1.0001 {
                ticks.push(t);
                t *= 10.0;
            }
            ticks
        } else {
            let step = nice_step(self.hi / 5.0);
            (0..=((self.hi / step).round() as usize))
                .map(|i| i as f64 * step)
                .collect()
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

/// A short label for a tick: 1500 → 1.5k, 2000000 → 2M.
fn short(value: f64) -> String {
    let (v, suffix) = match value.abs() {
        a if a >= 1e9 => (value / 1e9, "G"),
        a if a >= 1e6 => (value / 1e6, "M"),
        a if a >= 1e3 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    let text = if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{suffix}")
}

fn value_axis(out: &mut String, axis: &Axis, label: &str) {
    for tick in axis.ticks() {
        let y = axis.y(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            short(tick)
        );
    }
    let mid = (TOP + HEIGHT - BOTTOM) / 2.0;
    let _ = writeln!(
        out,
        r#"<text x="18" y="{mid}" text-anchor="middle" transform="rotate(-90 18 {mid})">{}</text>"#,
        escape(label)
    );
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="black"/><line x1="{LEFT}" x2="{}" y1="{b}" y2="{b}" stroke="black"/>"#,
        HEIGHT - BOTTOM,
        WIDTH - RIGHT,
        b = HEIGHT - BOTTOM
    );
}

fn bars(
    title: &str,
    unit: &str,
    series: &[String],
    groups: &[(String, Vec<Option<f64>>)],
    log: bool,
) -> String {
    let mut out = String::new();
    header(&mut out, title);
    let axis = Axis::new(
        groups.iter().flat_map(|(_, v)| v.iter().flatten().copied()),
        log,
    );
    value_axis(
        &mut out,
        &axis,
        &if log {
            format!("{unit} (log scale)")
        } else {
            unit.to_owned()
        },
    );
    let span = WIDTH - LEFT - RIGHT;
    let group_width = span / groups.len().max(1) as f64;
    let bar_width = (group_width * 0.8) / series.len().max(1) as f64;
    for (g, (label, values)) in groups.iter().enumerate() {
        let x0 = LEFT + g as f64 * group_width + group_width * 0.1;
        for (s, value) in values.iter().enumerate() {
            let Some(value) = value else { continue };
            let x = x0 + s as f64 * bar_width;
            let y = axis.y(*value);
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                bar_width * 0.92,
                (HEIGHT - BOTTOM - y).max(0.0),
                COLORS[s % COLORS.len()],
                escape(&series[s.min(series.len().saturating_sub(1))]),
                short(*value)
            );
        }
        let (x, y) = (x0 + group_width * 0.4, HEIGHT - BOTTOM + 16.0);
        if groups.len() > 4 {
            // Many groups: slanted labels, so long ones do not run into each other.
            let _ = writeln!(
                out,
                r#"<text x="{x:.1}" y="{y}" text-anchor="end" font-size="10" transform="rotate(-35 {x:.1} {y})">{}</text>"#,
                escape(label)
            );
        } else {
            let _ = writeln!(
                out,
                r#"<text x="{x:.1}" y="{y}" text-anchor="middle">{}</text>"#,
                escape(label)
            );
        }
    }
    let names: Vec<&str> = series.iter().map(String::as_str).collect();
    legend(&mut out, &names);
    out.push_str("</svg>\n");
    out
}

fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let mut out = String::new();
    header(&mut out, title);
    let axis = Axis::new(
        series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y)),
        false,
    );
    value_axis(&mut out, &axis, y_label);
    let xs = series.iter().flat_map(|(_, p)| p.iter().map(|&(x, _)| x));
    let (x_min, x_max) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (x_min, x_max) = if x_min < x_max {
        (x_min, x_max)
    } else {
        (0.0, 1.0)
    };
    let span = WIDTH - LEFT - RIGHT;
    let x_of = |x: f64| LEFT + (x - x_min) / (x_max - x_min) * span;
    let step = nice_step((x_max - x_min) / 6.0);
    let mut tick = (x_min / step).ceil() * step;
    while tick <= x_max + step * 1e-9 {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x_of(tick),
            HEIGHT - BOTTOM + 18.0,
            short(tick)
        );
        tick += step;
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + span / 2.0,
        HEIGHT - BOTTOM + 42.0,
        escape(x_label)
    );
    for (i, (_, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), axis.y(y)))
            .collect();
        let color = COLORS[i % COLORS.len()];
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for &(x, y) in points {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                x_of(x),
                axis.y(y)
            );
        }
    }
    let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
    legend(&mut out, &names);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels_are_round() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(13.0), 20.0);
        assert_eq!(nice_step(4100.0), 5000.0);
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(2_000_000.0), "2M");
        assert_eq!(short(0.25), "0.25");
    }

    #[test]
    fn a_log_axis_spans_whole_decades() {
        let axis = Axis::new([30.0, 45_000.0].into_iter(), true);
        assert_eq!((axis.lo, axis.hi), (10.0, 100_000.0));
        assert!((axis.share(1000.0) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn bars_draw_one_rect_per_value_and_escape_labels() {
        let plot = Plot::Bars {
            name: "x".into(),
            title: "a < b".into(),
            unit: "ops/s".into(),
            series: vec!["files".into(), "cache".into()],
            groups: vec![
                ("by id".into(), vec![Some(10.0), Some(1000.0)]),
                ("query".into(), vec![None, Some(5.0)]),
            ],
            log: true,
        };
        let text = svg(&plot);
        assert!(text.starts_with("<svg"));
        assert!(text.contains("a &lt; b"));
        // Three bars plus the white background and two legend swatches.
        assert_eq!(text.matches("<rect").count(), 6);
    }
}
