//! What to watch and how.

use std::time::Duration;

use cache_client::ConnectOptions;
use cache_wire::endpoint::Endpoint;

/// The monitor's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Servers to poll: a proxy (its nodes are shown through it), nodes, or any Redis-protocol
    /// server.
    pub targets: Vec<Endpoint>,
    /// Password, timeouts and TLS settings for every target.
    pub connect: ConnectOptions,
    /// Time between two polls of a target.
    pub interval: Duration,
    /// How far back the charts go.
    pub history: Duration,
}

impl Config {
    /// Watches `targets` every second, keeping five minutes of history.
    pub fn new(targets: Vec<Endpoint>) -> Config {
        Config {
            targets,
            connect: ConnectOptions::default(),
            interval: Duration::from_secs(1),
            history: Duration::from_secs(300),
        }
    }

    /// Samples the history keeps: one per interval.
    pub fn history_len(&self) -> usize {
        let interval = self.interval.as_secs_f64().max(0.001);
        ((self.history.as_secs_f64() / interval).ceil() as usize).clamp(2, 100_000)
    }
}

/// Parses `500ms`, `2s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration: write e.g. 500ms, 2s or 5m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}': use ms, s, m or h"
            ));
        }
    };
    if !(seconds > 0.0 && seconds < 1e9) {
        return Err(format!("'{text}' must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn history_holds_one_sample_per_interval() {
        let mut config = Config::new(Vec::new());
        assert_eq!(config.history_len(), 300);
        config.interval = Duration::from_millis(500);
        config.history = Duration::from_secs(60);
        assert_eq!(config.history_len(), 120);
    }
}
