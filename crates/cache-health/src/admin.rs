//! The admin HTTP port of a node: `GET /health` (JSON [`NodeHealth`] plus `"status": "ok"`) and
//! `GET /metrics` (Prometheus text exposition). Served by axum; the node supplies the data
//! through [`AdminSource`] at request time, so nothing is cached or copied between scrapes.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::NodeHealth;

/// What a node exposes on its admin port.
pub trait AdminSource: Send + Sync + 'static {
    /// The health report, for `/health`.
    fn health(&self) -> NodeHealth;
    /// Encodes the node's metrics, for `/metrics`.
    fn encode_metrics(&self, encoder: DescriptorEncoder<'_>) -> std::fmt::Result;
}

struct SourceCollector(Arc<dyn AdminSource>);

impl std::fmt::Debug for SourceCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceCollector")
    }
}

impl Collector for SourceCollector {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        self.0.encode_metrics(encoder)
    }
}

#[derive(serde::Serialize)]
struct HealthBody {
    status: &'static str,
    #[serde(flatten)]
    health: NodeHealth,
}

/// Serves the admin port on `listener` until `shutdown` flips.
pub async fn serve(
    listener: TcpListener,
    source: Arc<dyn AdminSource>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SourceCollector(source.clone())));
    let registry = Arc::new(registry);
    let health_source = source.clone();
    let app = Router::new()
        .route(
            "/health",
            get(move || {
                let source = health_source.clone();
                async move {
                    let body = HealthBody {
                        status: "ok",
                        health: source.health(),
                    };
                    axum::Json(body)
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move {
                    let mut text = String::new();
                    match prometheus_client::encoding::text::encode(&mut text, &registry) {
                        Ok(()) => (
                            [(
                                header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            text,
                        )
                            .into_response(),
                        Err(_) => (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            "metrics encoding failed",
                        )
                            .into_response(),
                    }
                }
            }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
