//! `flink-chatops healthcheck`: asks the running bot's `/readyz` and exits 0 only when it
//! answers 200. It exists for container HEALTHCHECKs: the runtime image has no shell and no
//! curl. The address comes from the same config and environment as `serve`; an unspecified
//! listen address (`0.0.0.0`, `[::]`) is asked on loopback.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;

pub async fn run(
    url: Option<String>,
    config: Option<PathBuf>,
    env: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let url = match url {
        Some(url) => url,
        None => readyz_url(Config::load(config.as_deref(), env.clone())?.server.listen),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url}: no answer"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    println!("{body}");
    Ok(())
}

/// Where a bot listening on `listen` answers `/readyz` from this host.
pub fn readyz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/readyz", SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::readyz_url;

    #[test]
    fn unspecified_addresses_are_asked_on_loopback() {
        for (listen, want) in [
            ("0.0.0.0:9094", "http://127.0.0.1:9094/readyz"),
            ("[::]:9094", "http://[::1]:9094/readyz"),
            ("127.0.0.1:1234", "http://127.0.0.1:1234/readyz"),
            ("10.1.2.3:9094", "http://10.1.2.3:9094/readyz"),
        ] {
            assert_eq!(readyz_url(listen.parse().unwrap()), want, "{listen}");
        }
    }
}
