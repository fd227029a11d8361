use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn creds(key: &str, issued_at: i64) -> RoleCredentials {
    RoleCredentials {
        access_key_id: key.into(),
        secret_access_key: "secret".into(),
        session_token: "token".into(),
        expiration: issued_at + 3600,
        issued_at,
        role_arn: "arn:aws:iam::000000000000:role/app".into(),
    }
}

/// A source answering keys `K1`, `K2`, ... issued at 1000, counting its calls.
fn counting(calls: Arc<AtomicUsize>) -> CredentialsSource {
    Arc::new(move |req: TaskCredentialsRequest| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            assert!(req.task_arn.starts_with("arn:task/"));
            Ok(TaskCredentialsResponse { credentials: Some(creds(&format!("K{n}"), 1000)), failure: None })
        })
    })
}

fn task(id: &str, mode: NetworkMode, role: Option<&str>) -> TaskSpec {
    TaskSpec {
        task_arn: format!("arn:task/{id}"),
        network_mode: mode,
        task_role_arn: role.map(str::to_string),
        ..Default::default()
    }
}

fn store(calls: Arc<AtomicUsize>) -> TaskCredentials {
    TaskCredentials::new(
        counting(calls),
        Some(SocketAddr::from(([172, 17, 0, 1], 40000))),
        Some(SocketAddr::from(([127, 0, 0, 1], 51679))),
        false,
    )
}

fn id_of(env: &CredentialsEnv) -> String {
    let uri = env.iter().find(|(k, _)| k.starts_with("AWS_CONTAINER_CREDENTIALS_")).unwrap().1.clone();
    uri.rsplit('/').next().unwrap().to_string()
}

const ROLE: Option<&str> = Some("arn:aws:iam::000000000000:role/app");

#[tokio::test]
async fn only_the_tasks_own_addresses_read_its_credentials() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = store(calls.clone());
    let a = task("a", NetworkMode::Bridge, ROLE);
    let env = store.prepare(&a).await.unwrap();
    assert_eq!(env.len(), 1);
    assert_eq!(env[0].0, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    assert!(env[0].1.starts_with("/v2/credentials/"));
    let id = id_of(&env);
    // A second attempt to start the task reuses its credentials.
    assert_eq!(store.prepare(&a).await.unwrap(), env);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let mine = IpAddr::from([172, 17, 0, 5]);
    let other = IpAddr::from([172, 17, 0, 6]);
    assert!(store.answer(&id, Some(mine), None).is_none(), "no address routed yet");
    store.route(&a.task_arn, mine).await.unwrap();
    assert_eq!(store.answer(&id, Some(mine), None).unwrap().access_key_id, "K1");
    assert!(store.answer(&id, Some(other), None).is_none());
    assert!(store.answer(&id, Some(IpAddr::from([127, 0, 0, 1])), None).is_none());
    assert!(store.answer(&id, None, None).is_none());
    assert!(store.answer("0123", Some(mine), None).is_none());

    // Another task's address does not read this one's id, nor this one's address the other's.
    let b = task("b", NetworkMode::Awsvpc, ROLE);
    let b_id = id_of(&store.prepare(&b).await.unwrap());
    store.route(&b.task_arn, other).await.unwrap();
    assert!(store.answer(&b_id, Some(other), None).is_some());
    assert!(store.answer(&b_id, Some(mine), None).is_none());
    assert!(store.answer(&id, Some(other), None).is_none());

    store.forget(&a.task_arn).await;
    assert!(store.answer(&id, Some(mine), None).is_none(), "gone with its task");
    assert!(store.answer(&b_id, Some(other), None).is_some());
}

#[tokio::test]
async fn host_tasks_get_a_loopback_uri_and_a_token() {
    let store = store(Arc::new(AtomicUsize::new(0)));
    let t = task("h", NetworkMode::Host, ROLE);
    let env = store.prepare(&t).await.unwrap();
    let full = &env.iter().find(|(k, _)| k == "AWS_CONTAINER_CREDENTIALS_FULL_URI").unwrap().1;
    assert!(full.starts_with("http://127.0.0.1:51679/v2/credentials/"), "{full}");
    let token = env.iter().find(|(k, _)| k == "AWS_CONTAINER_AUTHORIZATION_TOKEN").unwrap().1.clone();
    let id = id_of(&env);
    let lo = Some(IpAddr::from([127, 0, 0, 1]));
    assert!(store.answer(&id, lo, Some(&token)).is_some());
    assert!(store.answer(&id, lo, None).is_none());
    assert!(store.answer(&id, lo, Some("wrong")).is_none());
    assert!(store.answer(&id, Some(IpAddr::from([172, 17, 0, 1])), Some(&token)).is_none(), "loopback only");
    // Routing an address gives nothing to a host task.
    store.route(&t.task_arn, IpAddr::from([172, 17, 0, 9])).await.unwrap();
    assert!(store.answer(&id, Some(IpAddr::from([172, 17, 0, 9])), None).is_none());
}

#[tokio::test]
async fn no_role_asks_nothing_and_a_failure_is_the_stopped_reason() {
    let never: CredentialsSource = Arc::new(|_| panic!("asked"));
    let store = TaskCredentials::new(never, None, None, false);
    assert!(store.prepare(&task("n", NetworkMode::Bridge, None)).await.unwrap().is_empty());
    assert!(store.prepare(&task("n", NetworkMode::Bridge, Some(""))).await.unwrap().is_empty());

    let refusing: CredentialsSource = Arc::new(|_| {
        Box::pin(async {
            Ok(TaskCredentialsResponse { credentials: None, failure: Some("ECS was unable to assume".into()) })
        })
    });
    let store = TaskCredentials::new(refusing, None, None, false);
    assert_eq!(store.prepare(&task("f", NetworkMode::Bridge, ROLE)).await.unwrap_err(), "ECS was unable to assume");
    let down: CredentialsSource = Arc::new(|_| Box::pin(async { Err("connection refused".to_string()) }));
    let store = TaskCredentials::new(down, None, None, false);
    let why = store.prepare(&task("f", NetworkMode::Bridge, ROLE)).await.unwrap_err();
    assert!(why.starts_with("ResourceInitializationError: ") && why.contains("connection refused"), "{why}");
}

#[tokio::test]
async fn credentials_are_refreshed_half_way_to_expiry() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = store(calls.clone());
    let t = task("r", NetworkMode::Bridge, ROLE);
    let id = id_of(&store.prepare(&t).await.unwrap());
    let ip = IpAddr::from([172, 17, 0, 7]);
    store.route(&t.task_arn, ip).await.unwrap();
    // Issued at 1000 for an hour: not due before 2800.
    store.refresh_due(2799).await;
    assert_eq!(store.answer(&id, Some(ip), None).unwrap().access_key_id, "K1");
    store.refresh_due(2800).await;
    assert_eq!(store.answer(&id, Some(ip), None).unwrap().access_key_id, "K2", "same id, new session");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn expiration_is_iso_8601() {
    assert_eq!(endpoint::iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
}

#[tokio::test]
async fn a_restarted_agent_serves_the_adopted_tasks_ids_again_with_fresh_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(saved::FILE);
    let calls = Arc::new(AtomicUsize::new(0));
    let first = store(calls.clone()).with_saved_file(file.clone());
    let (a, b) = (task("a", NetworkMode::Bridge, ROLE), task("b", NetworkMode::Host, ROLE));
    let a_id = id_of(&first.prepare(&a).await.unwrap());
    let b_env = first.prepare(&b).await.unwrap();
    let b_token = b_env.iter().find(|(k, _)| k == "AWS_CONTAINER_AUTHORIZATION_TOKEN").unwrap().1.clone();
    let address = IpAddr::from([172, 17, 0, 9]);
    first.route(&a.task_arn, address).await.unwrap();
    // The saved file holds ids, addresses and tokens, never the credentials.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&a_id) && text.contains("172.17.0.9") && !text.contains("secret"), "{text}");
    drop(first);

    // The new run adopted both tasks: the same ids answer the same callers, with credentials asked for again.
    let second = store(calls.clone()).with_saved_file(file.clone());
    let adopted = [a.task_arn.clone(), b.task_arn.clone()].into_iter().collect();
    second.restore(&adopted).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4, "two at the start, two after the restart");
    assert!(second.answer(&a_id, Some(address), None).is_some());
    assert!(second.answer(&a_id, Some(IpAddr::from([172, 17, 0, 10])), None).is_none());
    let b_id = id_of(&b_env);
    assert!(second.answer(&b_id, Some(IpAddr::from([127, 0, 0, 1])), Some(&b_token)).is_some());
    // prepare() finds the restored id instead of making a new one.
    assert_eq!(id_of(&second.prepare(&a).await.unwrap()), a_id);

    // A run that adopted only `b` forgets `a`.
    let third = store(calls).with_saved_file(file.clone());
    third.restore(&[b.task_arn.clone()].into_iter().collect()).await;
    assert!(third.answer(&a_id, Some(address), None).is_none());
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&a_id));
}
