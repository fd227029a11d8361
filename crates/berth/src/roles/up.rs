//! `berth up`: the control plane and a local agent in one process, on the local Docker Engine.

use super::server::{export_lines, serve, start};
use crate::cli::UpArgs;
use anyhow::{Context, Result};
use berth_model::clock::SystemClock;
use std::sync::Arc;

/// `berth up`.
pub async fn run(mut args: UpArgs) -> Result<()> {
    let runtime = super::agent::docker().await?;
    let local_tls = if args.tls {
        let endpoint = super::server::public_endpoint(&args.server);
        let names = super::tls::server_names(&endpoint, super::tls::machine_host_name().as_deref());
        let now = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs_f64(berth_model::clock::Clock::now(&SystemClock).max(0.0));
        let tls = super::tls::ensure_local(&args.server.data_dir, &names, now)
            .context("preparing the local CA and the server certificate (--tls)")?;
        if tls.ca_created {
            tracing::info!(ca = %tls.ca_pem.display(), "created a local CA");
        }
        if tls.cert_issued {
            tracing::info!(cert = %tls.cert.display(), names = ?names, "issued the server certificate");
        }
        args.server.tls_cert = Some(tls.cert.clone());
        args.server.tls_key = Some(tls.key.clone());
        args.server.local_ca = Some(tls.ca_pem.clone());
        Some(tls)
    } else {
        None
    };
    let server = start(&args.server, Some(&args.node)).await?;
    let listen = args.server.listen;
    let scheme = args.server.scheme();
    let mut agent_config = super::agent::config(
        format!("{scheme}://{listen}"),
        server.join_token.clone(),
        "default".into(),
        args.server.data_dir.join("agent"),
        &args.node,
        &args.server.region,
        &[listen.port()],
    )?;
    // The local agent trusts the local CA (or, with --tls-cert, the system's roots).
    agent_config.server_ca = local_tls.as_ref().map(|t| t.ca_pem.clone());
    // The local agent serves both launch types by default: one instance record, so a Fargate reservation on it
    // reduces what EC2 placement sees.
    agent_config.capacity =
        super::agent::capacity(&args.node, &[berth_model::agent::Capacity::Ec2, berth_model::agent::Capacity::Fargate]);
    if args.dev {
        agent_config.engine.host_access = berth_model::host_access::HostAccess::everything();
        tracing::warn!("development mode: the local agent lets tasks reach the host (privileged, host paths, ...)");
    }
    tokio::spawn(async move {
        if let Err(error) = berth_agent::run(runtime, agent_config, Arc::new(SystemClock)).await {
            tracing::error!(%error, "the local agent stopped");
        }
    });
    let (creds, created) = &server.credentials;
    println!("Berth is up on {scheme}://{listen} (region {}, account {}).", args.server.region, args.server.account_id);
    if *created {
        println!("New root credentials were saved in {}.", args.server.data_dir.join("credentials.json").display());
    }
    if let Some(dns) = &server.dns {
        println!("DNS for Cloud Map namespaces on {} (UDP and TCP).", dns.local_addr());
    }
    println!("Point the aws CLI and the AWS SDKs at it:\n\n{}\n", export_lines(&args.server, creds));
    if let Some(tls) = &local_tls {
        println!("{}", super::tls::trust_lines(&tls.ca_pem, &super::server::public_endpoint(&args.server)));
    }
    serve(server.listener, server.app, args.server.listener_limits(), server.tls).await.context("berth up")?;
    if let Some(lb) = &server.load_balancer {
        lb.shutdown(std::time::Duration::from_secs(2)).await;
    }
    if let Some(election) = server.election {
        election.resign().await;
    }
    Ok(())
}
