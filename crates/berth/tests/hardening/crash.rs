//! Crash safety: `kill -9` of the server, round after round, under a mixed load of RunTask, StopTask,
//! CreateService and registry pushes. Every write the server acknowledged must be there after the restart, the
//! SQLite file must pass `PRAGMA integrity_check`, and no container may outlive its task.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use aws_sdk_ecs::Client;
use berth_testkit::{Berth, wait_for};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Rounds in the acceptance suite (`tools/test`).
const ACCEPTANCE_ROUNDS: usize = 3;
/// Rounds in the heavy suite (`tools/test --heavy`).
const SOAK_ROUNDS: usize = 20;

/// What the server acknowledged, per kind.
#[derive(Default)]
struct Acked {
    tasks: Vec<String>,
    stopped: Vec<String>,
    services: Vec<String>,
    images: Vec<(String, String)>,
}

fn aws_text(berth: &Berth, args: &[&str]) -> String {
    aws_cli(berth, args).trim().to_string()
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Pushes a one-layer image under `tag` with the OCI API (monolithic uploads); returns the manifest digest once
/// the server acknowledged the manifest.
async fn push(http: &reqwest::Client, base: &str, token: &str, repo: &str, tag: &str) -> Option<String> {
    let auth = format!("Bearer {token}");
    let mut digests = Vec::new();
    for blob in [format!("layer {tag}").into_bytes(), br#"{"architecture":"amd64","os":"linux"}"#.to_vec()] {
        let d = digest(&blob);
        let started =
            http.post(format!("{base}/v2/{repo}/blobs/uploads/")).header("authorization", &auth).send().await.ok()?;
        if started.status().as_u16() != 202 {
            return None;
        }
        let location = started.headers().get("location")?.to_str().ok()?.to_string();
        let url = if location.starts_with("http") { location } else { format!("{base}{location}") };
        let sep = if url.contains('?') { '&' } else { '?' };
        let put = http
            .put(format!("{url}{sep}digest={d}"))
            .header("authorization", &auth)
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .ok()?;
        if put.status().as_u16() != 201 {
            return None;
        }
        digests.push((d, blob.len()));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[1].0, "size": digests[1].1},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digests[0].0, "size": digests[0].1}],
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let put = http
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("authorization", &auth)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(bytes.clone())
        .send()
        .await
        .ok()?;
    (put.status().as_u16() == 201).then(|| digest(&bytes))
}

/// One round of load until `stop` flips: each worker does one kind of write in a loop and records acknowledgements.
async fn load(
    client: Client,
    berth_url: String,
    token: String,
    repo: String,
    round: usize,
    acked: Arc<Mutex<Acked>>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let run = {
        let (client, acked, stop) = (client.clone(), acked.clone(), stop.clone());
        async move {
            while !*stop.borrow() {
                if let Ok(out) = client.run_task().task_definition("crash").count(1).send().await {
                    for task in out.tasks() {
                        acked.lock().unwrap().tasks.push(task.task_arn().unwrap().to_string());
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let stopper = {
        let (client, acked, stop) = (client.clone(), acked.clone(), stop.clone());
        async move {
            while !*stop.borrow() {
                let victim = {
                    let a = acked.lock().unwrap();
                    a.tasks.iter().find(|t| !a.stopped.contains(t)).cloned()
                };
                if let Some(arn) = victim
                    && client.stop_task().task(&arn).reason("crash test").send().await.is_ok()
                {
                    acked.lock().unwrap().stopped.push(arn);
                }
                tokio::time::sleep(Duration::from_millis(80)).await;
            }
        }
    };
    let services = {
        let (client, acked, stop) = (client.clone(), acked.clone(), stop.clone());
        async move {
            let mut n = 0;
            while !*stop.borrow() {
                n += 1;
                let name = format!("crash-{round}-{n}");
                let created =
                    client.create_service().service_name(&name).task_definition("crash").desired_count(0).send().await;
                if created.is_ok() {
                    acked.lock().unwrap().services.push(name);
                }
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        }
    };
    let pushes = {
        let (acked, stop) = (acked.clone(), stop.clone());
        async move {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
            let mut n = 0;
            while !*stop.borrow() {
                n += 1;
                let tag = format!("r{round}-{n}");
                if let Some(d) = push(&http, &berth_url, &token, &repo, &tag).await {
                    acked.lock().unwrap().images.push((tag, d));
                }
            }
        }
    };
    tokio::join!(run, stopper, services, pushes);
}

/// Checks that every acknowledged write is visible.
async fn verify(client: &Client, berth: &Berth, token: &str, repo: &str, acked: &Acked) {
    for chunk in acked.tasks.chunks(100) {
        let out = client.describe_tasks().set_tasks(Some(chunk.to_vec())).send().await.expect("describe tasks");
        assert!(out.failures().is_empty(), "acknowledged tasks are missing: {:?}", out.failures());
        for task in out.tasks() {
            let arn = task.task_arn().unwrap();
            if acked.stopped.iter().any(|s| s == arn) {
                assert_eq!(task.desired_status(), Some("STOPPED"), "an acknowledged StopTask was lost for {arn}");
            }
        }
    }
    for chunk in acked.services.chunks(10) {
        let out =
            client.describe_services().set_services(Some(chunk.to_vec())).send().await.expect("describe services");
        assert!(out.failures().is_empty(), "acknowledged services are missing: {:?}", out.failures());
        assert_eq!(out.services().len(), chunk.len());
    }
    let http = reqwest::Client::new();
    for (tag, d) in &acked.images {
        let response = http
            .get(format!("{}/v2/{repo}/manifests/{tag}", berth.url()))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .expect("get a manifest");
        assert_eq!(response.status().as_u16(), 200, "an acknowledged push of {tag} is missing");
        let got = response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(got.as_deref(), Some(d.as_str()), "the manifest of {tag} changed");
    }
}

fn integrity_check(berth: &Berth) {
    let db = berth.data_dir.path().join("data").join("state.db");
    let conn = rusqlite::Connection::open(&db).expect("open state.db");
    let result: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("integrity_check");
    assert_eq!(result, "ok", "PRAGMA integrity_check");
}

fn running_containers(berth: &Berth) -> Vec<String> {
    running_task_containers(berth).into_iter().map(|(_, arn)| arn).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_mixed_load_loses_no_acknowledged_write_and_leaks_no_container() {
    kill_9_rounds(ACCEPTANCE_ROUNDS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "heavy: tools/test --heavy (the 20-round soak)"]
async fn soak_20_kill_9_rounds_under_mixed_load() {
    kill_9_rounds(SOAK_ROUNDS).await;
}

/// `rounds` kill -9 rounds under the mixed load, then the checks of the module comment.
async fn kill_9_rounds(rounds: usize) {
    let (mut berth, client) = berth_up().await;
    client
        .register_task_definition()
        .family("crash")
        .container_definitions(workload_container("app").memory(16).build())
        .send()
        .await
        .expect("register");
    let repo = "crash".to_string();
    aws_text(&berth, &["ecr", "create-repository", "--repository-name", &repo]);
    let acked = Arc::new(Mutex::new(Acked::default()));
    // Registry tokens are signed with a key kept in the data dir, so one token outlives every restart.
    let token = aws_text(&berth, &["ecr", "get-login-password"]);
    for round in 0..rounds {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker =
            tokio::spawn(load(client.clone(), berth.url(), token.clone(), repo.clone(), round, acked.clone(), stop_rx));
        // Kill somewhere between 0.3 s and 1.5 s into the load, in the middle of writes.
        tokio::time::sleep(Duration::from_millis(300 + (round as u64 * 397) % 1200)).await;
        berth.kill();
        let _ = stop_tx.send(true);
        worker.await.expect("the load stops");
        berth.restart().expect("berth restarts after kill -9");
        let snapshot = {
            let a = acked.lock().unwrap();
            Acked {
                tasks: a.tasks.clone(),
                stopped: a.stopped.clone(),
                services: a.services.clone(),
                images: a.images.clone(),
            }
        };
        verify(&client, &berth, &token, &repo, &snapshot).await;
        // Keep the host light: stop what this round started.
        for arn in snapshot.tasks.iter().filter(|t| !snapshot.stopped.contains(t)) {
            if client.stop_task().task(arn).send().await.is_ok() {
                acked.lock().unwrap().stopped.push(arn.clone());
            }
        }
    }
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap();
    eprintln!(
        "acknowledged over {rounds} kill -9 rounds: {} RunTask, {} StopTask, {} CreateService, {} pushes",
        acked.tasks.len(),
        acked.stopped.len(),
        acked.services.len(),
        acked.images.len()
    );
    assert!(acked.tasks.len() >= rounds && acked.services.len() >= rounds && acked.images.len() >= rounds);

    // The store file is sound after all those kills.
    berth.interrupt().expect("berth stops");
    integrity_check(&berth);
    berth.restart().expect("berth restarts");

    // No container outlives its task. Requests cut by a kill may have been committed without an answer, so stop
    // whatever still runs, then nothing of this account may keep a container running.
    let mut pending = Vec::new();
    let mut pages =
        client.list_tasks().desired_status(aws_sdk_ecs::types::DesiredStatus::Running).into_paginator().send();
    while let Some(page) = pages.next().await {
        pending.extend(page.expect("list tasks").task_arns().iter().cloned());
    }
    for arn in &pending {
        client.stop_task().task(arn).send().await.expect("stop a leftover task");
    }
    let leaked = wait_for("every container of the test to stop", Duration::from_secs(90), || async {
        running_containers(&berth).is_empty().then_some(())
    })
    .await;
    assert!(leaked.is_ok(), "containers outlived their tasks: {:?}", running_containers(&berth));
}
