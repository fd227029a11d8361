//! The three APIs together on a memory store and a manual clock: values, keys, deletion, the master key.

use crate::master::MasterKeySource;
use crate::{AllowAll, Secrets, SecretsConfig, SecretsError};
use berth_model::clock::{Clock, ManualClock};
use berth_store::{MemoryStore, SharedStore, Txn};
use serde_json::{Value, json};
use std::sync::Arc;

const SECRET: &str = "correct-horse-battery-staple-7f3a";

struct Fixture {
    store: SharedStore,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
    s: Arc<Secrets>,
}

fn config(dir: &std::path::Path) -> SecretsConfig {
    SecretsConfig {
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        master_key: MasterKeySource::File(dir.join("master.key")),
    }
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000.0));
    let s = Secrets::open(config(dir.path()), store.clone(), clock.clone()).await.unwrap();
    Fixture { store, clock, dir, s }
}

async fn sm(s: &Secrets, op: &str, input: Value) -> Result<Value, SecretsError> {
    let out = s.call_secrets_manager(op, input.to_string().as_bytes()).await?;
    Ok(serde_json::from_slice(&out).unwrap())
}

async fn ssm(s: &Secrets, op: &str, input: Value) -> Result<Value, SecretsError> {
    let out = s.call_ssm(op, input.to_string().as_bytes()).await?;
    Ok(serde_json::from_slice(&out).unwrap())
}

async fn kms(s: &Secrets, op: &str, input: Value) -> Result<Value, SecretsError> {
    let out = s.call_kms(op, input.to_string().as_bytes()).await?;
    Ok(serde_json::from_slice(&out).unwrap())
}

/// Every byte of the store, as text.
async fn store_text(store: &SharedStore) -> String {
    let range = store.range("/").await.unwrap();
    range.kvs.iter().map(|kv| format!("{} {}\n", kv.key, String::from_utf8_lossy(&kv.value))).collect()
}

#[tokio::test]
async fn versions_move_current_and_previous_and_every_id_form_finds_the_secret() {
    let f = fixture().await;
    let created = sm(&f.s, "CreateSecret", json!({"Name": "prod/db", "SecretString": "v1"})).await.unwrap();
    let arn = created["ARN"].as_str().unwrap().to_string();
    let suffix = arn.rsplit('-').next().unwrap();
    assert_eq!(suffix.len(), 6);
    assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-"));
    let partial = arn[..arn.len() - 7].to_string();
    for id in ["prod/db", arn.as_str(), partial.as_str()] {
        let got = sm(&f.s, "GetSecretValue", json!({"SecretId": id})).await.unwrap();
        assert_eq!(got["SecretString"], "v1", "{id}");
        assert_eq!(got["VersionStages"], json!(["AWSCURRENT"]));
    }
    let e = sm(&f.s, "GetSecretValue", json!({"SecretId": format!("{partial}-zzzzzz")})).await.unwrap_err();
    assert_eq!((e.exception, e.message.as_str()), ("ResourceNotFoundException", super::sm::NOT_FOUND));

    let v1 = created["VersionId"].as_str().unwrap().to_string();
    let put = sm(&f.s, "PutSecretValue", json!({"SecretId": "prod/db", "SecretString": "v2"})).await.unwrap();
    let v2 = put["VersionId"].as_str().unwrap().to_string();
    let previous =
        sm(&f.s, "GetSecretValue", json!({"SecretId": "prod/db", "VersionStage": "AWSPREVIOUS"})).await.unwrap();
    assert_eq!((previous["SecretString"].as_str(), previous["VersionId"].as_str()), (Some("v1"), Some(&*v1)));
    let described = sm(&f.s, "DescribeSecret", json!({"SecretId": "prod/db"})).await.unwrap();
    assert_eq!(described["VersionIdsToStages"][&v2], json!(["AWSCURRENT"]));
    assert_eq!(described["VersionIdsToStages"][&v1], json!(["AWSPREVIOUS"]));

    // An idempotent retry, and a conflicting reuse of a token.
    let token = "0123456789abcdef0123456789abcdef";
    let a = json!({"SecretId": "prod/db", "SecretString": "v3", "ClientRequestToken": token});
    sm(&f.s, "PutSecretValue", a.clone()).await.unwrap();
    sm(&f.s, "PutSecretValue", a).await.unwrap();
    let b = json!({"SecretId": "prod/db", "SecretString": "other", "ClientRequestToken": token});
    assert_eq!(sm(&f.s, "PutSecretValue", b).await.unwrap_err().exception, "ResourceExistsException");
    let listed = sm(&f.s, "ListSecretVersionIds", json!({"SecretId": "prod/db", "IncludeDeprecated": true})).await;
    assert_eq!(listed.unwrap()["Versions"].as_array().unwrap().len(), 3);

    // Bad input.
    let big = "x".repeat(65_537);
    let e = sm(&f.s, "CreateSecret", json!({"Name": "big", "SecretString": big})).await.unwrap_err();
    assert_eq!(e.exception, "ValidationException");
    assert!(!e.message.contains("xxxx"));
    let e = sm(&f.s, "CreateSecret", json!({"Name": "bad name!", "SecretString": "x"})).await.unwrap_err();
    assert_eq!(e.exception, "ValidationException");
    let e = sm(&f.s, "CreateSecret", json!({"Name": "prod/db", "SecretString": "x"})).await.unwrap_err();
    assert_eq!(e.exception, "ResourceExistsException");
    let e = sm(&f.s, "CreateSecret", json!({"Name": "both", "SecretString": "x", "SecretBinary": "eA=="}))
        .await
        .unwrap_err();
    assert_eq!(e.exception, "InvalidParameterException");
}

#[tokio::test]
async fn deletion_waits_out_the_recovery_window_and_restore_undoes_it() {
    let f = fixture().await;
    sm(&f.s, "CreateSecret", json!({"Name": "gone", "SecretString": "x"})).await.unwrap();
    let e = sm(&f.s, "DeleteSecret", json!({"SecretId": "gone", "RecoveryWindowInDays": 6})).await.unwrap_err();
    assert_eq!(e.exception, "InvalidParameterException");
    let e = sm(
        &f.s,
        "DeleteSecret",
        json!({"SecretId": "gone", "RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": true}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.exception, "InvalidParameterException");
    let deleted = sm(&f.s, "DeleteSecret", json!({"SecretId": "gone", "RecoveryWindowInDays": 7})).await.unwrap();
    assert_eq!(deleted["DeletionDate"].as_f64().unwrap(), f.clock.now() + 7.0 * 86_400.0);
    let e = sm(&f.s, "GetSecretValue", json!({"SecretId": "gone"})).await.unwrap_err();
    assert_eq!(e.exception, "InvalidRequestException");
    let e = sm(&f.s, "CreateSecret", json!({"Name": "gone", "SecretString": "y"})).await.unwrap_err();
    assert_eq!(e.exception, "InvalidRequestException");
    assert!(sm(&f.s, "DescribeSecret", json!({"SecretId": "gone"})).await.unwrap()["DeletedDate"].is_number());
    let listed = sm(&f.s, "ListSecrets", json!({})).await.unwrap();
    assert_eq!(listed["SecretList"].as_array().unwrap().len(), 0);
    let listed = sm(&f.s, "ListSecrets", json!({"IncludePlannedDeletion": true})).await.unwrap();
    assert_eq!(listed["SecretList"].as_array().unwrap().len(), 1);

    sm(&f.s, "RestoreSecret", json!({"SecretId": "gone"})).await.unwrap();
    assert_eq!(sm(&f.s, "GetSecretValue", json!({"SecretId": "gone"})).await.unwrap()["SecretString"], "x");

    sm(&f.s, "DeleteSecret", json!({"SecretId": "gone", "RecoveryWindowInDays": 7})).await.unwrap();
    f.clock.advance(6.0 * 86_400.0);
    assert_eq!(f.s.purge_due().await.unwrap(), 0);
    f.clock.advance(86_400.0);
    assert_eq!(f.s.purge_due().await.unwrap(), 1);
    let e = sm(&f.s, "DescribeSecret", json!({"SecretId": "gone"})).await.unwrap_err();
    assert_eq!(e.exception, "ResourceNotFoundException");
    assert!(f.store.range("/secrets/").await.unwrap().kvs.is_empty(), "values purged too");

    // Force deletion is immediate, and the name is free again.
    sm(&f.s, "CreateSecret", json!({"Name": "gone", "SecretString": "z"})).await.unwrap();
    sm(&f.s, "DeleteSecret", json!({"SecretId": "gone", "ForceDeleteWithoutRecovery": true})).await.unwrap();
    sm(&f.s, "CreateSecret", json!({"Name": "gone", "SecretString": "again"})).await.unwrap();
}

#[tokio::test]
async fn the_purge_controller_runs_on_the_clock() {
    let f = fixture().await;
    f.s.spawn_background();
    sm(&f.s, "CreateSecret", json!({"Name": "timed", "SecretString": "x"})).await.unwrap();
    sm(&f.s, "DeleteSecret", json!({"SecretId": "timed", "RecoveryWindowInDays": 7})).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    f.clock.advance(7.0 * 86_400.0 + 1.0);
    for _ in 0..1000 {
        if f.store.range("/secrets/").await.unwrap().kvs.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the secret was not purged");
}

#[tokio::test]
async fn nothing_in_the_store_is_plaintext_and_swapped_values_do_not_open() {
    let f = fixture().await;
    sm(&f.s, "CreateSecret", json!({"Name": "a", "SecretString": SECRET})).await.unwrap();
    sm(&f.s, "CreateSecret", json!({"Name": "b", "SecretString": "other"})).await.unwrap();
    ssm(&f.s, "PutParameter", json!({"Name": "/p/secure", "Value": SECRET, "Type": "SecureString"})).await.unwrap();
    ssm(&f.s, "PutParameter", json!({"Name": "/p/plain", "Value": SECRET})).await.unwrap();
    let text = store_text(&f.store).await;
    assert!(!text.contains(SECRET), "a plaintext value reached the store");
    assert!(!text.contains(&base64_of(SECRET)));

    // Move a's value record onto b's version: the AAD (ARN + version) no longer matches.
    let a_values = f.store.range("/secrets/value/a/").await.unwrap().kvs;
    let b_values = f.store.range("/secrets/value/b/").await.unwrap().kvs;
    f.store.txn(Txn::new().put(b_values[0].key.clone(), a_values[0].value.clone())).await.unwrap();
    let e = sm(&f.s, "GetSecretValue", json!({"SecretId": "b"})).await.unwrap_err();
    assert_eq!(e.exception, "DecryptionFailure");
    assert!(!e.message.contains(SECRET));
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn a_disabled_key_fails_reads_through_both_services() {
    let f = fixture().await;
    let key = kms(&f.s, "CreateKey", json!({"Description": "app"})).await.unwrap();
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    kms(&f.s, "CreateAlias", json!({"AliasName": "alias/app", "TargetKeyId": key_id})).await.unwrap();
    sm(&f.s, "CreateSecret", json!({"Name": "k", "SecretString": "x", "KmsKeyId": "alias/app"})).await.unwrap();
    ssm(&f.s, "PutParameter", json!({"Name": "/k", "Value": "x", "Type": "SecureString", "KeyId": "alias/app"}))
        .await
        .unwrap();
    kms(&f.s, "DisableKey", json!({"KeyId": key_id})).await.unwrap();
    let e = sm(&f.s, "GetSecretValue", json!({"SecretId": "k"})).await.unwrap_err();
    assert_eq!(e.exception, "DecryptionFailure");
    let e = ssm(&f.s, "GetParameter", json!({"Name": "/k", "WithDecryption": true})).await.unwrap_err();
    assert_eq!(e.exception, "InvalidKeyId");
    assert!(e.message.contains("is disabled"), "{}", e.message);
    // Without decryption the ciphertext is still shown.
    assert!(ssm(&f.s, "GetParameter", json!({"Name": "/k"})).await.is_ok());
    let e = sm(&f.s, "PutSecretValue", json!({"SecretId": "k", "SecretString": "y"})).await.unwrap_err();
    assert_eq!(e.exception, "EncryptionFailure");
    let e = kms(&f.s, "Encrypt", json!({"KeyId": "alias/app", "Plaintext": "eA=="})).await.unwrap_err();
    assert_eq!(e.exception, "DisabledException");
    kms(&f.s, "EnableKey", json!({"KeyId": key_id})).await.unwrap();
    assert_eq!(sm(&f.s, "GetSecretValue", json!({"SecretId": "k"})).await.unwrap()["SecretString"], "x");

    let blob =
        kms(&f.s, "Encrypt", json!({"KeyId": "alias/app", "Plaintext": "aGk=", "EncryptionContext": {"a": "b"}}))
            .await
            .unwrap()["CiphertextBlob"]
            .clone();
    let plain = kms(&f.s, "Decrypt", json!({"CiphertextBlob": blob, "EncryptionContext": {"a": "b"}})).await.unwrap();
    assert_eq!(plain["Plaintext"], "aGk=");
    let e = kms(&f.s, "Decrypt", json!({"CiphertextBlob": blob})).await.unwrap_err();
    assert_eq!(e.exception, "InvalidCiphertextException");

    // An AWS managed key exists once used (here: described).
    let managed = kms(&f.s, "DescribeKey", json!({"KeyId": "alias/aws/ssm"})).await.unwrap();
    assert_eq!(managed["KeyMetadata"]["KeyManager"], "AWS");
    let aliases = kms(&f.s, "ListAliases", json!({})).await.unwrap();
    let names: Vec<&str> =
        aliases["Aliases"].as_array().unwrap().iter().filter_map(|a| a["AliasName"].as_str()).collect();
    assert!(names.contains(&"alias/aws/ssm") && names.contains(&"alias/app"), "{names:?}");
    let e = kms(&f.s, "DisableKey", json!({"KeyId": "alias/aws/ssm"})).await.unwrap_err();
    assert_eq!(e.exception, "KMSInvalidStateException");
    let e = kms(&f.s, "DescribeKey", json!({"KeyId": "alias/nope"})).await.unwrap_err();
    assert_eq!(e.exception, "NotFoundException");
    let e = kms(&f.s, "CreateKey", json!({"KeySpec": "RSA_2048"})).await.unwrap_err();
    assert_eq!(e.exception, "UnsupportedOperationException");
}

#[tokio::test]
async fn the_master_key_is_checked_and_rotates_without_touching_values() {
    let f = fixture().await;
    sm(&f.s, "CreateSecret", json!({"Name": "r", "SecretString": SECRET})).await.unwrap();
    ssm(&f.s, "PutParameter", json!({"Name": "/r", "Value": SECRET, "Type": "SecureString"})).await.unwrap();
    let values_before = f.store.range("/secrets/value/").await.unwrap().kvs;
    let key_file = f.dir.path().join("master.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions();
    #[cfg(unix)]
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);

    // Another data dir's key is refused at open.
    let other = tempfile::tempdir().unwrap();
    let e = Secrets::open(config(other.path()), f.store.clone(), f.clock.clone()).await.err().unwrap();
    assert!(matches!(e, crate::MasterKeyError::Mismatch { .. }), "{e}");
    let e = Secrets::open(
        SecretsConfig {
            master_key: MasterKeySource::Env { text: "bm90IGEga2V5".into(), file: key_file.clone() },
            ..config(f.dir.path())
        },
        f.store.clone(),
        f.clock.clone(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(e, crate::MasterKeyError::Malformed { .. }), "{e}");

    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let rotation = crate::master::rotate(&f.store, &MasterKeySource::File(key_file.clone())).await.unwrap();
    assert!(rotation.keys >= 2, "{rotation:?}");
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), old_key);
    assert_eq!(f.store.range("/secrets/value/").await.unwrap().kvs, values_before, "values untouched");

    let s = Secrets::open(config(f.dir.path()), f.store.clone(), f.clock.clone()).await.unwrap();
    assert_eq!(sm(&s, "GetSecretValue", json!({"SecretId": "r"})).await.unwrap()["SecretString"], SECRET);
    let got = ssm(&s, "GetParameter", json!({"Name": "/r", "WithDecryption": true})).await.unwrap();
    assert_eq!(got["Parameter"]["Value"], SECRET);
    // The old key no longer opens the store.
    let e = Secrets::open(
        SecretsConfig {
            master_key: MasterKeySource::Env { text: old_key.clone(), file: key_file.clone() },
            ..config(f.dir.path())
        },
        f.store.clone(),
        f.clock.clone(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(e, crate::MasterKeyError::Mismatch { .. }), "{e}");

    // A server still holding the old key (a rotation run with it up) refuses to create keys under it.
    let e = kms(&f.s, "CreateKey", json!({})).await.unwrap_err();
    assert_eq!((e.exception, e.status), ("KMSInternalException", 500));
    // Nor can it open the re-wrapped keys: it fails rather than writing anything the store cannot read.
    let e = ssm(&f.s, "PutParameter", json!({"Name": "/new", "Value": "x"})).await.unwrap_err();
    assert_eq!((e.exception, e.status), ("InternalServerError", 500));

    // A rotation interrupted after its commit (the new key still in `.new`) is finished at open.
    let current = crate::crypto::Key256::from_base64(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let next = crate::crypto::Key256::random();
    std::fs::write(key_file.with_extension("key.new"), next.to_base64().as_bytes()).unwrap();
    crate::master::rewrap(&f.store, &current, &next).await.unwrap();
    let s = Secrets::open(config(f.dir.path()), f.store.clone(), f.clock.clone()).await.unwrap();
    assert_eq!(sm(&s, "GetSecretValue", json!({"SecretId": "r"})).await.unwrap()["SecretString"], SECRET);
    assert!(!key_file.with_extension("key.new").exists());
}

#[tokio::test]
async fn parameters_version_label_and_list_by_path() {
    let f = fixture().await;
    let put = ssm(&f.s, "PutParameter", json!({"Name": "/app/db/url", "Value": "one"})).await.unwrap();
    assert_eq!(put, json!({"Version": 1, "Tier": "Standard"}));
    let e = ssm(&f.s, "PutParameter", json!({"Name": "/app/db/url", "Value": "two"})).await.unwrap_err();
    assert_eq!(e.exception, "ParameterAlreadyExists");
    ssm(&f.s, "PutParameter", json!({"Name": "/app/db/url", "Value": "two", "Overwrite": true})).await.unwrap();
    ssm(&f.s, "PutParameter", json!({"Name": "/app/db/pass", "Value": SECRET, "Type": "SecureString"})).await.unwrap();
    ssm(&f.s, "PutParameter", json!({"Name": "/app/name", "Value": "a,b", "Type": "StringList"})).await.unwrap();

    let got = ssm(&f.s, "GetParameter", json!({"Name": "/app/db/url:1"})).await.unwrap();
    assert_eq!((got["Parameter"]["Value"].as_str(), got["Parameter"]["Selector"].as_str()), (Some("one"), Some(":1")));
    let labelled = ssm(
        &f.s,
        "LabelParameterVersion",
        json!({"Name": "/app/db/url", "ParameterVersion": 1, "Labels": ["stable", "1bad"]}),
    )
    .await
    .unwrap();
    assert_eq!(labelled["InvalidLabels"], json!(["1bad"]));
    assert_eq!(
        ssm(&f.s, "GetParameter", json!({"Name": "/app/db/url:stable"})).await.unwrap()["Parameter"]["Value"],
        "one"
    );
    let e = ssm(&f.s, "GetParameter", json!({"Name": "/app/db/url:9"})).await.unwrap_err();
    assert_eq!(e.exception, "ParameterVersionNotFound");
    let e = ssm(&f.s, "GetParameter", json!({"Name": "/nope"})).await.unwrap_err();
    assert_eq!(e.exception, "ParameterNotFound");

    let secure = ssm(&f.s, "GetParameter", json!({"Name": "/app/db/pass"})).await.unwrap();
    assert_ne!(secure["Parameter"]["Value"], SECRET);
    let secure = ssm(&f.s, "GetParameter", json!({"Name": "/app/db/pass", "WithDecryption": true})).await.unwrap();
    assert_eq!(secure["Parameter"]["Value"], SECRET);

    let many = ssm(&f.s, "GetParameters", json!({"Names": ["/app/name", "/missing"]})).await.unwrap();
    assert_eq!(many["InvalidParameters"], json!(["/missing"]));
    let one_level = ssm(&f.s, "GetParametersByPath", json!({"Path": "/app"})).await.unwrap();
    assert_eq!(one_level["Parameters"].as_array().unwrap().len(), 1);
    let all =
        ssm(&f.s, "GetParametersByPath", json!({"Path": "/app", "Recursive": true, "MaxResults": 2})).await.unwrap();
    assert_eq!(all["Parameters"].as_array().unwrap().len(), 2);
    assert!(all["NextToken"].is_string());
    let filtered = ssm(
        &f.s,
        "GetParametersByPath",
        json!({"Path": "/app", "Recursive": true, "ParameterFilters": [{"Key": "Type", "Values": ["SecureString"]}]}),
    )
    .await
    .unwrap();
    assert_eq!(filtered["Parameters"].as_array().unwrap().len(), 1);
    let described = ssm(
        &f.s,
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": ["/app/db"]}]}),
    )
    .await
    .unwrap();
    assert_eq!(described["Parameters"].as_array().unwrap().len(), 2);
    let history = ssm(&f.s, "GetParameterHistory", json!({"Name": "/app/db/url"})).await.unwrap();
    assert_eq!(history["Parameters"][0]["Labels"], json!(["stable"]));
    assert_eq!(history["Parameters"][1]["Value"], "two");

    let e = ssm(&f.s, "PutParameter", json!({"Name": "/big", "Value": "x".repeat(4097)})).await.unwrap_err();
    assert!(e.message.starts_with("Standard tier parameters support a maximum parameter value of 4096"));
    let e = ssm(
        &f.s,
        "PutParameter",
        json!({"Name": "/t", "Value": "x", "Overwrite": true, "Tags": [{"Key": "a", "Value": "b"}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.exception, "ValidationException");
    let e = ssm(&f.s, "SendCommand", json!({})).await.unwrap_err();
    assert!(e.message.contains("not supported by Berth"), "{}", e.message);

    ssm(
        &f.s,
        "AddTagsToResource",
        json!({"ResourceType": "Parameter", "ResourceId": "/app/name", "Tags": [{"Key": "env", "Value": "prod"}]}),
    )
    .await
    .unwrap();
    let tags = ssm(&f.s, "ListTagsForResource", json!({"ResourceType": "Parameter", "ResourceId": "/app/name"}))
        .await
        .unwrap();
    assert_eq!(tags["TagList"], json!([{"Key": "env", "Value": "prod"}]));
    let deleted = ssm(&f.s, "DeleteParameters", json!({"Names": ["/app/name", "/zzz"]})).await.unwrap();
    assert_eq!(
        (deleted["DeletedParameters"].clone(), deleted["InvalidParameters"].clone()),
        (json!(["/app/name"]), json!(["/zzz"]))
    );
    assert!(f.store.range("/ssm/value/%2Fapp%2Fname/").await.unwrap().kvs.is_empty());
}

#[tokio::test]
async fn resolve_reads_what_ecs_value_from_names() {
    let f = fixture().await;
    let created =
        sm(&f.s, "CreateSecret", json!({"Name": "db", "SecretString": r#"{"user":"admin","password":"pw1"}"#}))
            .await
            .unwrap();
    let arn = created["ARN"].as_str().unwrap().to_string();
    sm(&f.s, "PutSecretValue", json!({"SecretId": "db", "SecretString": r#"{"user":"admin","password":"pw2"}"#}))
        .await
        .unwrap();
    ssm(&f.s, "PutParameter", json!({"Name": "/app/token", "Value": "tok", "Type": "SecureString"})).await.unwrap();

    let read = |v: String| {
        let s = f.s.clone();
        async move { s.resolve(&v, &AllowAll).await }
    };
    assert_eq!(read(format!("{arn}:password::")).await.unwrap().expose(), "pw2");
    assert_eq!(read(format!("{arn}:password:AWSPREVIOUS:")).await.unwrap().expose(), "pw1");
    let partial = arn[..arn.len() - 7].to_string();
    assert!(read(partial.clone()).await.unwrap().expose().contains("pw2"));
    assert_eq!(read("/app/token".into()).await.unwrap().expose(), "tok");
    assert_eq!(read("arn:aws:ssm:us-east-1:000000000000:parameter/app/token".into()).await.unwrap().expose(), "tok");

    let e = read(format!("{arn}:nokey::")).await.unwrap_err().to_string();
    assert!(e.ends_with("did not contain json key nokey"), "{e}");
    let e = read(format!("{partial}x")).await.unwrap_err().to_string();
    assert!(e.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm"), "{e}");
    assert!(e.ends_with("ResourceNotFoundException: Secrets Manager can't find the specified secret."), "{e}");
    let e = read("/app/missing".into()).await.unwrap_err().to_string();
    assert!(e.ends_with("unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid parameters: /app/missing"), "{e}");

    struct Deny;
    impl crate::ResolveAuthorizer for Deny {
        fn authorize(&self, action: &str, resource: &str) -> Result<(), String> {
            Err(format!("not authorized to perform: {action} on resource: {resource}"))
        }
    }
    let e = f.s.resolve("/app/token", &Deny).await.unwrap_err();
    assert!(matches!(e, crate::ResolveError::Denied { .. }), "{e}");
}

#[tokio::test]
async fn registry_credentials_come_from_a_secret_by_name_or_arn() {
    let f = fixture().await;
    let login = r#"{"username":"puller","password":"pw-9f2"}"#;
    let created = sm(&f.s, "CreateSecret", json!({"Name": "reg/creds", "SecretString": login})).await.unwrap();
    let arn = created["ARN"].as_str().unwrap().to_string();
    sm(&f.s, "CreateSecret", json!({"Name": "reg/plain", "SecretString": "not json"})).await.unwrap();
    sm(&f.s, "CreateSecret", json!({"Name": "reg/nouser", "SecretString": r#"{"password":"x"}"#})).await.unwrap();
    for id in [arn.clone(), arn[..arn.len() - 7].to_string(), "reg/creds".into()] {
        let got = f.s.resolve_registry_credentials(&id, &AllowAll).await.unwrap();
        assert_eq!((got.username.as_str(), got.password.expose()), ("puller", "pw-9f2"), "{id}");
        assert!(!format!("{got:?}").contains("pw-9f2"));
    }
    for bad in ["reg/plain", "reg/nouser"] {
        let e = f.s.resolve_registry_credentials(bad, &AllowAll).await.unwrap_err().to_string();
        assert!(e.contains("is not a JSON object with string members username and password"), "{e}");
        assert!(!e.contains("not json"), "{e}");
    }
    let e = f.s.resolve_registry_credentials("reg/missing", &AllowAll).await.unwrap_err().to_string();
    assert!(e.ends_with("ResourceNotFoundException: Secrets Manager can't find the specified secret."), "{e}");
    let e = f.s.resolve_registry_credentials(&format!("{arn}:password::"), &AllowAll).await.unwrap_err();
    assert!(matches!(e, crate::ResolveError::Malformed { .. }), "{e}");
    let e = f.s.resolve_registry_credentials("arn:aws:ssm:us-east-1:000000000000:parameter/p", &AllowAll).await;
    assert!(matches!(e, Err(crate::ResolveError::Malformed { .. })));
}

#[tokio::test]
async fn a_customer_key_needs_kms_decrypt_for_the_execution_role() {
    let f = fixture().await;
    let key = kms(&f.s, "CreateKey", json!({"Description": "app"})).await.unwrap();
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    kms(&f.s, "CreateAlias", json!({"AliasName": "alias/reg", "TargetKeyId": key_arn})).await.unwrap();
    let login = r#"{"username":"u","password":"p"}"#;
    sm(&f.s, "CreateSecret", json!({"Name": "own-key", "SecretString": login, "KmsKeyId": "alias/reg"})).await.unwrap();
    sm(&f.s, "CreateSecret", json!({"Name": "aws-key", "SecretString": login})).await.unwrap();

    /// Allows everything but kms:Decrypt.
    struct NoDecrypt(std::sync::Mutex<Vec<String>>);
    impl crate::ResolveAuthorizer for NoDecrypt {
        fn authorize(&self, action: &str, resource: &str) -> Result<(), String> {
            self.0.lock().unwrap().push(format!("{action} {resource}"));
            if action == "kms:Decrypt" {
                Err(format!("not authorized to perform: {action} on resource: {resource}"))
            } else {
                Ok(())
            }
        }
    }
    let role = NoDecrypt(std::sync::Mutex::default());
    let e = f.s.resolve_registry_credentials("own-key", &role).await.unwrap_err();
    assert!(matches!(e, crate::ResolveError::Denied { .. }) && e.to_string().contains(&key_arn), "{e}");
    assert!(f.s.resolve("arn:aws:secretsmanager:us-east-1:000000000000:secret:own-key", &role).await.is_err());
    // The AWS managed key asks for nothing more.
    assert!(f.s.resolve_registry_credentials("aws-key", &role).await.is_ok());
    assert!(role.0.lock().unwrap().iter().all(|a| !a.contains("alias/aws")));
    assert!(f.s.resolve_registry_credentials("own-key", &AllowAll).await.is_ok());
}

#[tokio::test]
async fn resource_policies_are_kept_with_the_secret_checked_and_go_with_it() {
    let f = fixture().await;
    let created = sm(
        &f.s,
        "CreateSecret",
        json!({"Name": "db", "SecretString": "x", "Tags": [{"Key": "team", "Value": "blue"}]}),
    )
    .await
    .unwrap();
    let arn = created["ARN"].as_str().unwrap().to_string();
    let alice = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let public = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;

    let got = sm(&f.s, "GetResourcePolicy", json!({"SecretId": "db"})).await.unwrap();
    assert_eq!(got["ARN"], arn.as_str());
    assert!(got.get("ResourcePolicy").is_none(), "{got}");
    let put = sm(&f.s, "PutResourcePolicy", json!({"SecretId": arn, "ResourcePolicy": alice})).await.unwrap();
    assert_eq!(put["Name"], "db");
    let got = sm(&f.s, "GetResourcePolicy", json!({"SecretId": "db"})).await.unwrap();
    assert_eq!(got["ResourcePolicy"], alice);

    // What authorization sees: the full ARN, the parsed policy, the tags.
    let access = f.s.secret_access("db").await.unwrap().unwrap();
    assert_eq!(access.arn, arn);
    assert_eq!(access.tags, vec![("team".to_string(), "blue".to_string())]);
    assert_eq!(access.policy.unwrap().document.statements.len(), 1);
    assert!(f.s.secret_access("nope").await.unwrap().is_none());

    // BlockPublicPolicy refuses a policy open to anyone; without it the policy is taken (AWS's default).
    let e =
        sm(&f.s, "PutResourcePolicy", json!({"SecretId": "db", "ResourcePolicy": public, "BlockPublicPolicy": true}))
            .await
            .unwrap_err();
    assert_eq!(e.exception, "PublicPolicyException");
    assert!(e.message.starts_with("The BlockPublicPolicy parameter is set to true"), "{}", e.message);
    assert_eq!(sm(&f.s, "GetResourcePolicy", json!({"SecretId": "db"})).await.unwrap()["ResourcePolicy"], alice);
    let e = sm(&f.s, "PutResourcePolicy", json!({"SecretId": "db", "ResourcePolicy": "{"})).await.unwrap_err();
    assert_eq!(e.exception, "MalformedPolicyDocumentException");
    let no_principal =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}"#;
    let e = sm(&f.s, "PutResourcePolicy", json!({"SecretId": "db", "ResourcePolicy": no_principal})).await.unwrap_err();
    assert_eq!(e.exception, "MalformedPolicyDocumentException");
    let e = sm(&f.s, "PutResourcePolicy", json!({"SecretId": "db", "ResourcePolicy": "x".repeat(20_481)}))
        .await
        .unwrap_err();
    assert_eq!(e.exception, "ValidationException");
    let e = sm(&f.s, "PutResourcePolicy", json!({"SecretId": "nope", "ResourcePolicy": alice})).await.unwrap_err();
    assert_eq!(e.exception, "ResourceNotFoundException");

    // ValidateResourcePolicy answers instead of failing.
    let ok = sm(&f.s, "ValidateResourcePolicy", json!({"ResourcePolicy": alice})).await.unwrap();
    assert_eq!(ok, json!({"PolicyValidationPassed": true, "ValidationErrors": []}));
    let open = sm(&f.s, "ValidateResourcePolicy", json!({"SecretId": "db", "ResourcePolicy": public})).await.unwrap();
    assert_eq!(open["PolicyValidationPassed"], false);
    assert_eq!(open["ValidationErrors"][0]["CheckName"], "PUBLIC_ACCESS_CHECKING");
    let bad = sm(&f.s, "ValidateResourcePolicy", json!({"ResourcePolicy": no_principal})).await.unwrap();
    assert_eq!(bad["ValidationErrors"][0]["CheckName"], "SYNTAX_CHECKING");
    assert!(bad["ValidationErrors"][0]["ErrorMessage"].as_str().unwrap().contains("Principal"), "{bad}");
    let e = sm(&f.s, "ValidateResourcePolicy", json!({"SecretId": "nope", "ResourcePolicy": alice})).await.unwrap_err();
    assert_eq!(e.exception, "ResourceNotFoundException");

    // It survives a reopen of the store, goes on DeleteResourcePolicy, and is gone with the secret.
    let reopened = Secrets::open(config(f.dir.path()), f.store.clone(), f.clock.clone()).await.unwrap();
    assert_eq!(sm(&reopened, "GetResourcePolicy", json!({"SecretId": "db"})).await.unwrap()["ResourcePolicy"], alice);
    sm(&f.s, "DeleteResourcePolicy", json!({"SecretId": "db"})).await.unwrap();
    assert!(sm(&f.s, "GetResourcePolicy", json!({"SecretId": "db"})).await.unwrap().get("ResourcePolicy").is_none());
    sm(&f.s, "PutResourcePolicy", json!({"SecretId": "db", "ResourcePolicy": public})).await.unwrap();
    sm(&f.s, "DeleteSecret", json!({"SecretId": "db", "ForceDeleteWithoutRecovery": true})).await.unwrap();
    sm(&f.s, "CreateSecret", json!({"Name": "db", "SecretString": "new"})).await.unwrap();
    assert!(sm(&f.s, "GetResourcePolicy", json!({"SecretId": "db"})).await.unwrap().get("ResourcePolicy").is_none());
}

#[tokio::test]
async fn the_execution_role_reads_task_secrets_under_the_secrets_policy_and_tags() {
    let f = fixture().await;
    let clock: Arc<dyn Clock> = f.clock.clone();
    let iam = berth_iam::Iam::open(
        berth_iam::IamConfig::new("000000000000"),
        f.store.clone(),
        clock,
        Arc::new(berth_iam::EncodeOnly),
    )
    .await
    .unwrap();
    let root = berth_iam::ops::Caller { arn: "arn:aws:iam::000000000000:root".into(), identity: None };
    let trust = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
    let blue_only = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","ssm:GetParameters"],"Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}}}"#;
    for (op, input) in [
        ("CreateRole", json!({"RoleName": "exec", "AssumeRolePolicyDocument": trust})),
        ("PutRolePolicy", json!({"RoleName": "exec", "PolicyName": "blue", "PolicyDocument": blue_only})),
    ] {
        iam.call_iam(op, input.to_string().as_bytes(), &root).await.unwrap();
    }
    let role = crate::IamExecutionRole { iam, role: Some("arn:aws:iam::000000000000:role/exec".into()) };
    let tags = |team: &str| json!([{"Key": "team", "Value": team}]);
    let blue =
        sm(&f.s, "CreateSecret", json!({"Name": "blue", "SecretString": "b", "Tags": tags("blue")})).await.unwrap();
    let blue = blue["ARN"].as_str().unwrap().to_string();
    let red = sm(&f.s, "CreateSecret", json!({"Name": "red", "SecretString": "r", "Tags": tags("red")})).await.unwrap();
    let red = red["ARN"].as_str().unwrap().to_string();
    ssm(&f.s, "PutParameter", json!({"Name": "/p/blue", "Value": "pb", "Type": "String", "Tags": tags("blue")}))
        .await
        .unwrap();
    ssm(&f.s, "PutParameter", json!({"Name": "/p/red", "Value": "pr", "Type": "String", "Tags": tags("red")}))
        .await
        .unwrap();

    assert_eq!(f.s.resolve(&blue, &role).await.unwrap().expose(), "b");
    assert!(matches!(f.s.resolve(&red, &role).await, Err(crate::ResolveError::Denied { .. })));
    assert_eq!(f.s.resolve("/p/blue", &role).await.unwrap().expose(), "pb");
    assert!(matches!(f.s.resolve("/p/red", &role).await, Err(crate::ResolveError::Denied { .. })));
    // The secret's policy: an explicit Deny for the role wins; an Allow naming the role lets it read the red one.
    let policy = |effect: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Principal":{{"AWS":"arn:aws:iam::000000000000:role/exec"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}]}}"#
        )
    };
    sm(&f.s, "PutResourcePolicy", json!({"SecretId": "blue", "ResourcePolicy": policy("Deny")})).await.unwrap();
    let e = f.s.resolve(&blue, &role).await.unwrap_err().to_string();
    assert!(e.contains("with an explicit deny in a resource-based policy"), "{e}");
    sm(&f.s, "PutResourcePolicy", json!({"SecretId": "red", "ResourcePolicy": policy("Allow")})).await.unwrap();
    assert_eq!(f.s.resolve(&red, &role).await.unwrap().expose(), "r");
}
