//! What the node shows on its admin HTTP port: the health report and the Prometheus metrics,
//! read from the live node at request time.

use std::sync::atomic::Ordering;

use cache_health::NodeHealth;
use cache_health::admin::AdminSource;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::info;
use crate::node::Node;

impl AdminSource for Node {
    fn health(&self) -> NodeHealth {
        NodeHealth {
            generation: self.run_id.clone(),
            uptime_seconds: self.uptime_ms() / 1000,
            used_memory: self.store.used_memory() as u64,
            maxmemory: self.store.max_memory() as u64,
        }
    }

    fn encode_metrics(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let store = self.store.stats();
        let counters: [(&str, &str, u64); 13] = [
            (
                "cache_keyspace_hits",
                "Lookups that found a key",
                store.hits,
            ),
            (
                "cache_keyspace_misses",
                "Lookups that found no key",
                store.misses,
            ),
            (
                "cache_evicted_keys",
                "Keys evicted to stay within maxmemory",
                store.evictions,
            ),
            (
                "cache_expired_keys",
                "Keys removed because their TTL passed",
                store.expired,
            ),
            (
                "cache_commands_processed",
                "Commands executed",
                self.stats.total_commands(),
            ),
            (
                "cache_connections_received",
                "Connections accepted",
                self.stats.connections_received.load(Ordering::Relaxed),
            ),
            (
                "cache_rejected_connections",
                "Connections refused because of maxclients",
                self.stats.rejected_connections.load(Ordering::Relaxed),
            ),
            (
                "cache_denied_connections",
                "Connections refused by protected mode",
                self.stats.denied_connections.load(Ordering::Relaxed),
            ),
            (
                "cache_query_limit_disconnections",
                "Connections closed for a request over limits.query_buffer_limit",
                self.stats
                    .query_limit_disconnections
                    .load(Ordering::Relaxed),
            ),
            (
                "cache_output_limit_disconnections",
                "Connections closed for replies over limits.output_buffer_limit",
                self.stats
                    .output_limit_disconnections
                    .load(Ordering::Relaxed),
            ),
            (
                "cache_net_input_bytes",
                "Bytes read from clients",
                self.stats.net_input_bytes.load(Ordering::Relaxed),
            ),
            (
                "cache_net_output_bytes",
                "Bytes written to clients",
                self.stats.net_output_bytes.load(Ordering::Relaxed),
            ),
            (
                "cache_uptime_seconds",
                "Seconds since the node started",
                self.uptime_ms() / 1000,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let gauges: [(&str, &str, i64); 5] = [
            (
                "cache_used_memory_bytes",
                "Bytes charged to stored entries",
                store_i64(self.store.used_memory()),
            ),
            (
                "cache_maxmemory_bytes",
                "The byte budget, 0 = unlimited",
                store_i64(self.store.max_memory()),
            ),
            (
                "cache_resident_memory_bytes",
                "Resident set size of the process",
                store_i64(info::rss_bytes() as usize),
            ),
            ("cache_keys", "Keys stored", store_i64(self.store.len())),
            (
                "cache_connected_clients",
                "Client connections open",
                store_i64(self.stats.connected_clients.load(Ordering::Relaxed)),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

fn store_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
