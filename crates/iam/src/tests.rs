//! IAM end to end in memory: keys authenticate as their user, the compiled-policy cache follows every change,
//! groups' policies apply to their users, AssumeRole checks the trust policy and its sessions expire on the clock,
//! and the state reloads from the store with secrets sealed.

use crate::ops::Caller;
use crate::policy::{Context, Decision};
use crate::{Authz, EncodeOnly, Iam, IamConfig, Identity};
use berth_model::clock::{Clock, ManualClock};
use berth_store::{MemoryStore, SharedStore};
use serde_json::{Value, json};
use std::sync::Arc;

const ACCOUNT: &str = "111122223333";

async fn open(store: &SharedStore, clock: &Arc<ManualClock>) -> Arc<Iam> {
    let clock: Arc<dyn Clock> = clock.clone();
    Iam::open(IamConfig::new(ACCOUNT), store.clone(), clock, Arc::new(EncodeOnly)).await.unwrap()
}

fn root() -> Caller {
    Caller { arn: format!("arn:aws:iam::{ACCOUNT}:root"), identity: None }
}

async fn iam_ok(iam: &Iam, op: &str, input: Value) -> Value {
    let out = iam.call_iam(op, input.to_string().as_bytes(), &root()).await.unwrap_or_else(|e| panic!("{op}: {e}"));
    serde_json::from_slice(&out).unwrap()
}

fn decide(iam: &Iam, identity: &Identity, arn: &str, action: &str, resource: &str) -> Decision {
    iam.authorize(Authz { identity, arn, action, resource, context: Context::new(), resource_policy: None })
}

const ALLOW_LIST: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:List*","Resource":"*"}}"#;
const DENY_LIST: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"ecs:ListClusters","Resource":"*"}}"#;

#[tokio::test]
async fn keys_policies_groups_sessions_and_reload() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let iam = open(&store, &clock).await;

    iam_ok(&iam, "CreateUser", json!({"UserName": "alice"})).await;
    let key = iam_ok(&iam, "CreateAccessKey", json!({"UserName": "alice"})).await;
    let id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string();
    let secret = key["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string();
    let found = iam.lookup_key(&id).expect("the key authenticates");
    assert_eq!(found.secret, secret);
    assert_eq!(found.identity, Identity::User("alice".into()));
    let alice = found.identity;
    let arn = found.arn;

    // The cache follows changes: nothing, then an allow, then a deny through a group.
    assert_eq!(decide(&iam, &alice, &arn, "ecs:ListClusters", "*"), Decision::ImplicitDeny);
    iam_ok(&iam, "PutUserPolicy", json!({"UserName": "alice", "PolicyName": "list", "PolicyDocument": ALLOW_LIST}))
        .await;
    assert!(decide(&iam, &alice, &arn, "ecs:ListClusters", "*").allowed());
    iam_ok(&iam, "CreateGroup", json!({"GroupName": "no-list"})).await;
    iam_ok(&iam, "PutGroupPolicy", json!({"GroupName": "no-list", "PolicyName": "d", "PolicyDocument": DENY_LIST}))
        .await;
    assert!(decide(&iam, &alice, &arn, "ecs:ListClusters", "*").allowed(), "not in the group yet");
    iam_ok(&iam, "AddUserToGroup", json!({"GroupName": "no-list", "UserName": "alice"})).await;
    assert!(matches!(decide(&iam, &alice, &arn, "ecs:ListClusters", "*"), Decision::ExplicitDeny { .. }));
    assert!(decide(&iam, &alice, &arn, "ecs:ListServices", "*").allowed());

    // A managed policy quota and a deletion conflict.
    iam_ok(&iam, "CreateRole", json!({"RoleName": "r", "AssumeRolePolicyDocument": format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}}}"#
    )})).await;
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    iam_ok(&iam, "AttachRolePolicy", json!({"RoleName": "r", "PolicyArn": admin})).await;
    let e = iam.call_iam("DeleteRole", br#"{"RoleName":"r"}"#, &root()).await.unwrap_err();
    assert_eq!(e.code, "DeleteConflict");

    // The trust policy names the account: alice needs sts:AssumeRole herself.
    let alice_caller = Caller { arn: arn.clone(), identity: Some(alice.clone()) };
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/r");
    let assume = json!({"RoleArn": role_arn, "RoleSessionName": "s1", "DurationSeconds": 900}).to_string();
    let e = iam.call_sts("AssumeRole", assume.as_bytes(), &alice_caller).await.unwrap_err();
    assert_eq!((e.code, e.status), ("AccessDenied", 403));
    let may_assume = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{role_arn}"}}}}"#
    );
    iam_ok(&iam, "PutUserPolicy", json!({"UserName": "alice", "PolicyName": "assume", "PolicyDocument": may_assume}))
        .await;
    let out = iam.call_sts("AssumeRole", assume.as_bytes(), &alice_caller).await.unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    let session_id = out["Credentials"]["AccessKeyId"].as_str().unwrap().to_string();
    let token = out["Credentials"]["SessionToken"].as_str().unwrap().to_string();
    let session = iam.lookup_key(&session_id).expect("the session authenticates");
    let (token_hash, expires) = session.session.clone().expect("session credentials");
    assert_eq!(token_hash, crate::ops::sts::token_sha256(&token));
    assert_eq!(expires, 1_800_000_900);
    assert!(decide(&iam, &session.identity, &session.arn, "ecs:CreateCluster", "*").allowed(), "the role's policy");

    // Durations outside 900..=MaxSessionDuration are refused.
    let long = json!({"RoleArn": role_arn, "RoleSessionName": "s2", "DurationSeconds": 7200}).to_string();
    assert_eq!(iam.call_sts("AssumeRole", long.as_bytes(), &alice_caller).await.unwrap_err().code, "ValidationError");

    // Reloaded from the store: the same keys, policies and session; a session past its expiry is gone.
    let reopened = open(&store, &clock).await;
    assert_eq!(reopened.lookup_key(&id).map(|k| k.secret), Some(secret.clone()));
    assert!(matches!(decide(&reopened, &alice, &arn, "ecs:ListClusters", "*"), Decision::ExplicitDeny { .. }));
    assert!(reopened.lookup_key(&session_id).is_some());
    clock.advance(901.0);
    assert!(open(&store, &clock).await.lookup_key(&session_id).is_none());
    // Nothing in the store holds a secret in clear (EncodeOnly is base64; the real sealer encrypts).
    let range = store.range("/iam/").await.unwrap();
    for kv in range.kvs {
        let text = String::from_utf8_lossy(&kv.value);
        assert!(!text.contains(&secret) && !text.contains(&token), "{}", kv.key);
    }
}

#[tokio::test]
async fn execution_roles_need_ecs_tasks_trust_and_permission() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let iam = open(&store, &clock).await;
    let trust = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
    iam_ok(&iam, "CreateRole", json!({"RoleName": "exec", "AssumeRolePolicyDocument": trust})).await;
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/exec");
    assert!(iam.service_may_assume(&arn, "ecs-tasks.amazonaws.com").is_ok());
    assert!(iam.service_may_assume(&arn, "lambda.amazonaws.com").is_err());
    assert!(iam.service_may_assume(&format!("arn:aws:iam::{ACCOUNT}:role/none"), "ecs-tasks.amazonaws.com").is_err());
    let secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf";
    assert!(!iam.role_allows(&arn, "secretsmanager:GetSecretValue", secret).allowed());
    iam_ok(
        &iam,
        "AttachRolePolicy",
        json!({"RoleName": "exec", "PolicyArn": "arn:aws:iam::aws:policy/SecretsManagerReadWrite"}),
    )
    .await;
    assert!(iam.role_allows(&arn, "secretsmanager:GetSecretValue", secret).allowed());
}

#[tokio::test]
async fn task_role_sessions_need_ecs_tasks_trust_and_last_the_roles_maximum_capped() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let iam = open(&store, &clock).await;
    let trust = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
    iam_ok(&iam, "CreateRole", json!({"RoleName": "app", "AssumeRolePolicyDocument": trust})).await;
    iam_ok(&iam, "PutRolePolicy", json!({"RoleName": "app", "PolicyName": "list", "PolicyDocument": ALLOW_LIST})).await;
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let task_id = "0123456789abcdef0123456789abcdef";
    let session = iam.issue_service_session(&arn, "ecs-tasks.amazonaws.com", task_id, 6 * 3600).await.unwrap();
    // The role's MaxSessionDuration (1 hour by default) under the 6-hour cap.
    assert_eq!((session.issued_at, session.expiration), (1_800_000_000, 1_800_003_600));
    assert_eq!(session.arn, format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/{task_id}"));
    // An ordinary session: it authenticates as the role and the role's policies decide.
    let key = iam.lookup_key(&session.access_key_id).unwrap();
    assert_eq!(key.secret, session.secret_access_key);
    assert_eq!(key.session.as_ref().map(|s| s.0.clone()), Some(crate::ops::sts::token_sha256(&session.session_token)));
    assert!(decide(&iam, &key.identity, &key.arn, "ecs:ListClusters", "*").allowed());
    assert!(!decide(&iam, &key.identity, &key.arn, "ecs:RunTask", "*").allowed());
    // A longer MaxSessionDuration is capped.
    iam_ok(
        &iam,
        "CreateRole",
        json!({"RoleName": "long", "AssumeRolePolicyDocument": trust, "MaxSessionDuration": 43200}),
    )
    .await;
    let long = format!("arn:aws:iam::{ACCOUNT}:role/long");
    let session = iam.issue_service_session(&long, "ecs-tasks.amazonaws.com", task_id, 6 * 3600).await.unwrap();
    assert_eq!(session.expiration - session.issued_at, 6 * 3600);
    // A role ECS tasks may not assume, or none, gives no session.
    let lambda = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
    iam_ok(&iam, "CreateRole", json!({"RoleName": "fn", "AssumeRolePolicyDocument": lambda})).await;
    for role in [format!("arn:aws:iam::{ACCOUNT}:role/fn"), format!("arn:aws:iam::{ACCOUNT}:role/none")] {
        let refused = iam.issue_service_session(&role, "ecs-tasks.amazonaws.com", task_id, 3600).await;
        assert!(matches!(refused, Err(crate::ServiceSessionError::NotTrusted(_))), "{role}");
    }
}
