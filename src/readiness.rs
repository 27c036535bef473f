//! What the gateway tells `/readyz` and `/metrics`, kept outside the gateway's own module so
//! that the probes and the metrics compile (and say "off") when the gateway is compiled out.
//!
//! `/readyz` answers 503 only when the gateway has stopped for good (a refused token, a refused
//! shard or intents: reconnecting cannot help) and it was the only way interactions arrive.
//! With the HTTP endpoint on as well, interactions still arrive there: 200, "degraded", with the
//! reason, so that a readiness probe does not take the endpoint and the Alertmanager webhook out
//! of service. While it reconnects, `/readyz` says so and stays 200; the
//! `FlinkChatopsGatewayDown` alert pages when it stays down.

use std::sync::Mutex;

use prometheus::core::Collector;
use prometheus::{IntCounter, IntGauge};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayState {
    /// Not configured (or compiled out).
    Off,
    /// Started, no session yet.
    Connecting,
    Up,
    /// Lost; reconnecting with backoff.
    Reconnecting {
        failures: u32,
        last: String,
    },
    /// Stopped for good: the reason.
    Down {
        reason: String,
    },
}

pub struct GatewayHealth {
    state: Mutex<GatewayState>,
    /// Interactions also arrive at `POST /discord/interactions`.
    endpoint: Mutex<bool>,
    pub up: IntGauge,
    pub reconnects: IntCounter,
    pub identifies: IntCounter,
    pub identify_remaining: IntGauge,
}

impl GatewayHealth {
    pub fn new() -> GatewayHealth {
        GatewayHealth {
            state: Mutex::new(GatewayState::Off),
            endpoint: Mutex::new(false),
            up: IntGauge::new(
                "flink_chatops_gateway_up",
                "1 while the gateway session is live (READY or RESUMED), else 0.",
            )
            .expect("valid gauge"),
            reconnects: IntCounter::new(
                "flink_chatops_gateway_reconnects_total",
                "Gateway connection attempts after the first (resumes and identifies).",
            )
            .expect("valid counter"),
            identifies: IntCounter::new(
                "flink_chatops_gateway_identifies_total",
                "IDENTIFYs sent (Discord allows about 1,000 a day per bot).",
            )
            .expect("valid counter"),
            identify_remaining: IntGauge::new(
                "flink_chatops_gateway_identify_remaining",
                "IDENTIFYs left in Discord's daily budget (session_start_limit of GET /gateway/bot, less those sent since).",
            )
            .expect("valid gauge"),
        }
    }

    /// The gateway is on (and whether the HTTP endpoint is on too).
    pub fn start(&self, endpoint: bool) {
        *self.endpoint.lock().unwrap_or_else(|e| e.into_inner()) = endpoint;
        self.set(GatewayState::Connecting);
    }

    pub fn set(&self, state: GatewayState) {
        self.up.set(i64::from(state == GatewayState::Up));
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    pub fn state(&self) -> GatewayState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn is_on(&self) -> bool {
        self.state() != GatewayState::Off
    }

    /// The metrics, to register when the gateway is on (an absent gateway is not "down").
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.up.clone()),
            Box::new(self.reconnects.clone()),
            Box::new(self.identifies.clone()),
            Box::new(self.identify_remaining.clone()),
        ]
    }

    /// The `gateway` part of `/readyz`, and the error that makes the bot unready, if any.
    pub fn report(&self) -> Option<(Value, Option<String>)> {
        let endpoint = *self.endpoint.lock().unwrap_or_else(|e| e.into_inner());
        let (status, detail) = match self.state() {
            GatewayState::Off => return None,
            GatewayState::Connecting => ("connecting", None),
            GatewayState::Up => ("up", None),
            GatewayState::Reconnecting { failures, last } => (
                "reconnecting",
                Some(format!("{last}; {failures} failed attempt(s) in a row")),
            ),
            GatewayState::Down { reason } => {
                let mut part = json!({ "status": "down", "reason": reason });
                let error = if endpoint {
                    part["interactions"] = "still answered at POST /discord/interactions".into();
                    None
                } else {
                    Some(format!(
                        "gateway down, buttons and slash commands go unanswered: {reason}"
                    ))
                };
                return Some((part, error));
            }
        };
        let mut part = json!({ "status": status });
        if let Some(detail) = detail {
            part["last"] = detail.into();
        }
        Some((part, None))
    }
}

impl Default for GatewayHealth {
    fn default() -> Self {
        GatewayHealth::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_part_per_state() {
        let h = GatewayHealth::new();
        assert_eq!(h.report(), None, "off: no gateway part");
        h.start(false);
        assert_eq!(h.report().unwrap().0["status"], "connecting");
        h.set(GatewayState::Up);
        assert_eq!(h.up.get(), 1);
        h.set(GatewayState::Reconnecting {
            failures: 2,
            last: "closed by the gateway with code 4000".into(),
        });
        assert_eq!(h.up.get(), 0);
        let (part, error) = h.report().unwrap();
        assert_eq!(part["status"], "reconnecting");
        assert!(part["last"].as_str().unwrap().contains("4000"), "{part}");
        assert_eq!(error, None, "reconnecting is still ready");
        h.set(GatewayState::Down {
            reason: "close code 4004".into(),
        });
        let (part, error) = h.report().unwrap();
        assert_eq!(part["status"], "down");
        assert!(
            error.unwrap().contains("4004"),
            "the only way in: not ready"
        );
        h.start(true);
        h.set(GatewayState::Down {
            reason: "close code 4004".into(),
        });
        let (part, error) = h.report().unwrap();
        assert_eq!(error, None, "the endpoint still answers");
        assert!(part["interactions"].as_str().unwrap().contains("POST"));
    }
}
