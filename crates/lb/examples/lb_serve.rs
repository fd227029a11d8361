//! Runs the data plane on a configuration file: `lb_serve CONFIG.json` applies it (the JSON form of
//! `berth_lb::Config`) and serves until interrupted. Used by `bench/lb.sh`.

use berth_lb::{Config, Proxy, ProxyOptions};
use berth_model::clock::SystemClock;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: lb_serve CONFIG.json")?;
    let config: Config = serde_json::from_slice(&std::fs::read(&path)?)?;
    let proxy = Proxy::new(Arc::new(SystemClock), ProxyOptions::default());
    proxy.apply(config).await?;
    println!("listening on {:?}", proxy.listening());
    tokio::signal::ctrl_c().await?;
    proxy.shutdown(std::time::Duration::from_secs(1)).await;
    Ok(())
}
