//! Secrets Manager, SSM Parameter Store and KMS end to end: the unchanged aws CLI against `berth server`. Each
//! operation, AWS's errors for bad input, deletion with a recovery window and restore, a disabled KMS key, state
//! across a restart, master key rotation with `berth secrets rotate-master-key`, and no secret in clear in any file
//! of the data dir (the SQLite WAL and the server log included).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions};
use serde_json::{Value, json};

/// A value no other test uses, to look for on disk.
const KNOWN: &str = "berth-known-secret-4f1c2e9a-not-on-disk";

fn server() -> Berth {
    Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "server", extra_args: Vec::new() })
        .expect("berth server starts")
}

fn ok(berth: &Berth, service: &str, args: &[&str]) -> Value {
    common::aws_ok(berth, service, args)
}

fn err(berth: &Berth, service: &str, args: &[&str]) -> String {
    common::aws_err(berth, service, args)
}

#[test]
fn secrets_manager_operations_and_errors() {
    let berth = server();
    let sm = |args: &[&str]| ok(&berth, "secretsmanager", args);
    let sm_err = |args: &[&str]| err(&berth, "secretsmanager", args);

    let created = sm(&[
        "create-secret",
        "--name",
        "prod/db",
        "--description",
        "database",
        "--secret-string",
        r#"{"user":"admin","password":"pw1"}"#,
        "--tags",
        "Key=team,Value=payments",
    ]);
    let arn = created["ARN"].as_str().unwrap().to_string();
    let prefix = format!("arn:aws:secretsmanager:us-east-1:{}:secret:prod/db-", berth.account_id);
    assert!(arn.starts_with(&prefix) && arn.len() == prefix.len() + 6, "{arn}");
    let v1 = created["VersionId"].as_str().unwrap().to_string();
    let partial = &arn[..arn.len() - 7];
    for id in ["prod/db", arn.as_str(), partial] {
        let got = sm(&["get-secret-value", "--secret-id", id]);
        assert_eq!(got["SecretString"], r#"{"user":"admin","password":"pw1"}"#, "{id}");
    }
    let e = sm_err(&["get-secret-value", "--secret-id", "prod/nope"]);
    assert!(
        e.contains("(ResourceNotFoundException)") && e.contains("Secrets Manager can't find the specified secret."),
        "{e}"
    );

    // A new value moves AWSCURRENT; the old version becomes AWSPREVIOUS.
    let put = sm(&["put-secret-value", "--secret-id", "prod/db", "--secret-string", "pw2"]);
    let v2 = put["VersionId"].as_str().unwrap().to_string();
    assert_eq!(put["VersionStages"], json!(["AWSCURRENT"]));
    let previous = sm(&["get-secret-value", "--secret-id", "prod/db", "--version-stage", "AWSPREVIOUS"]);
    assert_eq!(previous["VersionId"], v1.as_str());
    let by_id = sm(&["get-secret-value", "--secret-id", "prod/db", "--version-id", &v2]);
    assert_eq!(by_id["SecretString"], "pw2");
    let described = sm(&["describe-secret", "--secret-id", &arn]);
    assert_eq!(described["VersionIdsToStages"][&v1], json!(["AWSPREVIOUS"]));
    assert_eq!(described["Tags"], json!([{"Key": "team", "Value": "payments"}]));
    assert!(described["CreatedDate"].is_number() && described["LastChangedDate"].is_number());

    // Staging labels: a pending version, then moving AWSCURRENT onto it.
    let pending =
        sm(&["put-secret-value", "--secret-id", "prod/db", "--secret-string", "pw3", "--version-stages", "AWSPENDING"]);
    let v3 = pending["VersionId"].as_str().unwrap().to_string();
    assert_eq!(sm(&["get-secret-value", "--secret-id", "prod/db"])["SecretString"], "pw2");
    let e = sm_err(&[
        "update-secret-version-stage",
        "--secret-id",
        "prod/db",
        "--version-stage",
        "AWSCURRENT",
        "--move-to-version-id",
        &v3,
    ]);
    assert!(e.contains("(InvalidParameterException)") && e.contains("RemoveFromVersionId"), "{e}");
    sm(&[
        "update-secret-version-stage",
        "--secret-id",
        "prod/db",
        "--version-stage",
        "AWSCURRENT",
        "--move-to-version-id",
        &v3,
        "--remove-from-version-id",
        &v2,
    ]);
    assert_eq!(sm(&["get-secret-value", "--secret-id", "prod/db"])["SecretString"], "pw3");
    let versions = sm(&["list-secret-version-ids", "--secret-id", "prod/db", "--include-deprecated"]);
    assert_eq!(versions["Versions"].as_array().unwrap().len(), 3);

    // UpdateSecret, tags, listing with filters, a binary secret, a random password.
    sm(&["update-secret", "--secret-id", "prod/db", "--description", "the database"]);
    sm(&["tag-resource", "--secret-id", "prod/db", "--tags", "Key=env,Value=prod"]);
    sm(&["untag-resource", "--secret-id", "prod/db", "--tag-keys", "team"]);
    assert_eq!(sm(&["describe-secret", "--secret-id", "prod/db"])["Tags"], json!([{"Key": "env", "Value": "prod"}]));
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("blob.bin");
    std::fs::write(&binary, [0_u8, 159, 146, 150]).unwrap();
    sm(&["create-secret", "--name", "dev/blob", "--secret-binary", &format!("fileb://{}", binary.display())]);
    assert_eq!(sm(&["get-secret-value", "--secret-id", "dev/blob"])["SecretBinary"], "AJ+Slg==");
    let listed = sm(&["list-secrets", "--filters", "Key=name,Values=prod/"]);
    assert_eq!(listed["SecretList"].as_array().unwrap().len(), 1);
    assert_eq!(listed["SecretList"][0]["Name"], "prod/db");
    let listed = sm(&["list-secrets", "--filters", "Key=tag-key,Values=env", "Key=description,Values=the"]);
    assert_eq!(listed["SecretList"].as_array().unwrap().len(), 1);
    let listed = sm(&["list-secrets", "--max-results", "1"]);
    assert!(listed["NextToken"].is_string(), "{listed}");
    let password = sm(&["get-random-password", "--password-length", "24", "--exclude-punctuation"]);
    assert_eq!(password["RandomPassword"].as_str().unwrap().len(), 24);

    // Bad input.
    let big = dir.path().join("big.txt");
    std::fs::write(&big, "x".repeat(65_537)).unwrap();
    let e = sm_err(&["create-secret", "--name", "big", "--secret-string", &format!("file://{}", big.display())]);
    assert!(e.contains("(ValidationException)") && e.contains("65536"), "{e}");
    let e = sm_err(&["create-secret", "--name", "bad name", "--secret-string", "x"]);
    assert!(e.contains("(ValidationException)") && e.contains("Invalid name"), "{e}");
    let e = sm_err(&["create-secret", "--name", "prod/db", "--secret-string", "x"]);
    assert!(e.contains("(ResourceExistsException)"), "{e}");
    let e = sm_err(&["get-secret-value", "--secret-id", "prod/db", "--version-stage", "NOPE"]);
    assert!(e.contains("(ResourceNotFoundException)") && e.contains("staging label: NOPE"), "{e}");
    let e = sm_err(&["rotate-secret", "--secret-id", "prod/db"]);
    assert!(e.contains("not supported by Berth"), "{e}");

    // Deletion with a recovery window, restore, and deletion without recovery.
    let e = sm_err(&["delete-secret", "--secret-id", "prod/db", "--recovery-window-in-days", "3"]);
    assert!(e.contains("(InvalidParameterException)") && e.contains("between 7 and 30"), "{e}");
    let deleted = sm(&["delete-secret", "--secret-id", "prod/db", "--recovery-window-in-days", "7"]);
    let described = sm(&["describe-secret", "--secret-id", "prod/db"]);
    let deleted_at = described["DeletedDate"].as_f64().unwrap();
    let days = (deleted["DeletionDate"].as_f64().unwrap() - deleted_at) / 86_400.0;
    assert!((days - 7.0).abs() < 0.01, "{days}");
    let e = sm_err(&["get-secret-value", "--secret-id", "prod/db"]);
    assert!(e.contains("(InvalidRequestException)") && e.contains("marked for deletion"), "{e}");
    assert_eq!(sm(&["list-secrets"])["SecretList"].as_array().unwrap().len(), 1);
    assert_eq!(sm(&["list-secrets", "--include-planned-deletion"])["SecretList"].as_array().unwrap().len(), 2);
    sm(&["restore-secret", "--secret-id", "prod/db"]);
    assert_eq!(sm(&["get-secret-value", "--secret-id", "prod/db"])["SecretString"], "pw3");
    sm(&["delete-secret", "--secret-id", "dev/blob", "--force-delete-without-recovery"]);
    let e = sm_err(&["describe-secret", "--secret-id", "dev/blob"]);
    assert!(e.contains("(ResourceNotFoundException)"), "{e}");
}

#[test]
fn parameter_store_operations_and_errors() {
    let berth = server();
    let ssm = |args: &[&str]| ok(&berth, "ssm", args);
    let ssm_err = |args: &[&str]| err(&berth, "ssm", args);

    assert_eq!(ssm(&["put-parameter", "--name", "/app/db/url", "--value", "one", "--type", "String"])["Version"], 1);
    let e = ssm_err(&["put-parameter", "--name", "/app/db/url", "--value", "two", "--type", "String"]);
    assert!(e.contains("(ParameterAlreadyExists)") && e.contains("overwrite option"), "{e}");
    assert_eq!(ssm(&["put-parameter", "--name", "/app/db/url", "--value", "two", "--overwrite"])["Version"], 2);
    ssm(&["put-parameter", "--name", "/app/db/pass", "--value", "s3cret", "--type", "SecureString"]);
    ssm(&[
        "put-parameter",
        "--name",
        "/app/hosts",
        "--value",
        "a,b",
        "--type",
        "StringList",
        "--tags",
        "Key=env,Value=dev",
    ]);
    ssm(&["put-parameter", "--name", "plain", "--value", "top"]);

    let got = ssm(&["get-parameter", "--name", "/app/db/url"]);
    assert_eq!(got["Parameter"]["Value"], "two");
    assert_eq!(
        got["Parameter"]["ARN"],
        format!("arn:aws:ssm:us-east-1:{}:parameter/app/db/url", berth.account_id).as_str()
    );
    assert_eq!(ssm(&["get-parameter", "--name", "/app/db/url:1"])["Parameter"]["Value"], "one");
    let hidden = ssm(&["get-parameter", "--name", "/app/db/pass"]);
    assert_ne!(hidden["Parameter"]["Value"], "s3cret");
    assert_eq!(ssm(&["get-parameter", "--name", "/app/db/pass", "--with-decryption"])["Parameter"]["Value"], "s3cret");
    let many = ssm(&["get-parameters", "--names", "/app/hosts", "/app/none", "plain"]);
    assert_eq!(many["Parameters"].as_array().unwrap().len(), 2);
    assert_eq!(many["InvalidParameters"], json!(["/app/none"]));

    // Labels and history.
    let labelled =
        ssm(&["label-parameter-version", "--name", "/app/db/url", "--parameter-version", "1", "--labels", "stable"]);
    assert_eq!(labelled["ParameterVersion"], 1);
    assert_eq!(ssm(&["get-parameter", "--name", "/app/db/url:stable"])["Parameter"]["Value"], "one");
    let history = ssm(&["get-parameter-history", "--name", "/app/db/url"]);
    assert_eq!(history["Parameters"].as_array().unwrap().len(), 2);
    assert_eq!(history["Parameters"][0]["Labels"], json!(["stable"]));
    let unlabelled =
        ssm(&["unlabel-parameter-version", "--name", "/app/db/url", "--parameter-version", "1", "--labels", "stable"]);
    assert_eq!(unlabelled["RemovedLabels"], json!(["stable"]));

    // Paths, filters, descriptions (the CLI pages through GetParametersByPath by itself).
    let top = ssm(&["get-parameters-by-path", "--path", "/app"]);
    assert_eq!(top["Parameters"].as_array().unwrap().len(), 1);
    let all = ssm(&["get-parameters-by-path", "--path", "/app", "--recursive", "--with-decryption"]);
    let values: Vec<&str> =
        all["Parameters"].as_array().unwrap().iter().map(|p| p["Value"].as_str().unwrap()).collect();
    assert_eq!(values.len(), 3);
    assert!(values.contains(&"s3cret"), "{values:?}");
    let secure = ssm(&[
        "get-parameters-by-path",
        "--path",
        "/app",
        "--recursive",
        "--parameter-filters",
        "Key=Type,Values=SecureString",
    ]);
    assert_eq!(secure["Parameters"].as_array().unwrap().len(), 1);
    let described = ssm(&["describe-parameters", "--parameter-filters", "Key=Name,Option=BeginsWith,Values=/app/db"]);
    assert_eq!(described["Parameters"].as_array().unwrap().len(), 2);
    let described = ssm(&["describe-parameters", "--filters", "Key=Type,Values=SecureString"]);
    assert_eq!(described["Parameters"][0]["KeyId"], "alias/aws/ssm");

    // Tags.
    let tags = ssm(&["list-tags-for-resource", "--resource-type", "Parameter", "--resource-id", "/app/hosts"]);
    assert_eq!(tags["TagList"], json!([{"Key": "env", "Value": "dev"}]));
    ssm(&[
        "add-tags-to-resource",
        "--resource-type",
        "Parameter",
        "--resource-id",
        "/app/hosts",
        "--tags",
        "Key=team,Value=a",
    ]);
    ssm(&[
        "remove-tags-from-resource",
        "--resource-type",
        "Parameter",
        "--resource-id",
        "/app/hosts",
        "--tag-keys",
        "env",
    ]);
    let tags = ssm(&["list-tags-for-resource", "--resource-type", "Parameter", "--resource-id", "/app/hosts"]);
    assert_eq!(tags["TagList"], json!([{"Key": "team", "Value": "a"}]));

    // Bad input.
    let e = ssm_err(&["get-parameter", "--name", "/app/unknown"]);
    assert!(e.contains("(ParameterNotFound)"), "{e}");
    let e = ssm_err(&["get-parameter", "--name", "/app/db/url:7"]);
    assert!(e.contains("(ParameterVersionNotFound)"), "{e}");
    let e = ssm_err(&["put-parameter", "--name", "/big", "--value", &"x".repeat(4097), "--type", "String"]);
    assert!(e.contains("(ValidationException)") && e.contains("maximum parameter value of 4096"), "{e}");
    assert_eq!(
        ssm(&["put-parameter", "--name", "/big", "--value", &"x".repeat(4097), "--tier", "Advanced"])["Tier"],
        "Advanced"
    );
    let deep = "/l".repeat(16);
    let e = ssm_err(&["put-parameter", "--name", &deep, "--value", "x"]);
    assert!(e.contains("(HierarchyLevelLimitExceededException)"), "{e}");
    let e = ssm_err(&["put-parameter", "--name", "awsthing", "--value", "x"]);
    assert!(e.contains("(ValidationException)"), "{e}");
    let e = ssm_err(&["describe-instance-information"]);
    assert!(e.contains("not supported by Berth"), "{e}");

    // Deletion.
    ssm(&["delete-parameter", "--name", "plain"]);
    let e = ssm_err(&["delete-parameter", "--name", "plain"]);
    assert!(e.contains("(ParameterNotFound)"), "{e}");
    let deleted = ssm(&["delete-parameters", "--names", "/app/hosts", "/nope"]);
    assert_eq!(deleted["DeletedParameters"], json!(["/app/hosts"]));
    assert_eq!(deleted["InvalidParameters"], json!(["/nope"]));
}

#[test]
fn kms_keys_aliases_and_a_disabled_key() {
    let berth = server();
    let kms = |args: &[&str]| ok(&berth, "kms", args);
    let created = kms(&["create-key", "--description", "app key"]);
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    assert_eq!(created["KeyMetadata"]["KeyState"], "Enabled");
    assert_eq!(created["KeyMetadata"]["KeySpec"], "SYMMETRIC_DEFAULT");
    kms(&["create-alias", "--alias-name", "alias/app", "--target-key-id", &key_id]);
    assert_eq!(kms(&["describe-key", "--key-id", "alias/app"])["KeyMetadata"]["KeyId"], key_id.as_str());
    let keys = kms(&["list-keys"]);
    assert!(keys["Keys"].as_array().unwrap().iter().any(|k| k["KeyId"] == key_id.as_str()));
    let e = err(&berth, "kms", &["create-alias", "--alias-name", "alias/app", "--target-key-id", &key_id]);
    assert!(e.contains("(AlreadyExistsException)"), "{e}");
    let e = err(&berth, "kms", &["create-key", "--key-spec", "RSA_2048", "--key-usage", "SIGN_VERIFY"]);
    assert!(e.contains("(UnsupportedOperationException)"), "{e}");
    let e = err(&berth, "kms", &["describe-key", "--key-id", "alias/none"]);
    assert!(e.contains("(NotFoundException)"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, "hello").unwrap();
    let encrypted = kms(&["encrypt", "--key-id", "alias/app", "--plaintext", &format!("fileb://{}", plain.display())]);
    let blob = dir.path().join("blob.bin");
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(encrypted["CiphertextBlob"].as_str().unwrap()).unwrap();
    std::fs::write(&blob, raw).unwrap();
    let decrypted = kms(&["decrypt", "--ciphertext-blob", &format!("fileb://{}", blob.display())]);
    assert_eq!(decrypted["Plaintext"], "aGVsbG8=");

    // A disabled key fails reads through Secrets Manager and SSM as AWS does.
    ok(
        &berth,
        "secretsmanager",
        &["create-secret", "--name", "k", "--secret-string", "v", "--kms-key-id", "alias/app"],
    );
    ok(
        &berth,
        "ssm",
        &["put-parameter", "--name", "/k", "--value", "v", "--type", "SecureString", "--key-id", "alias/app"],
    );
    kms(&["disable-key", "--key-id", &key_id]);
    assert_eq!(kms(&["describe-key", "--key-id", &key_id])["KeyMetadata"]["KeyState"], "Disabled");
    let e = err(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "k"]);
    assert!(e.contains("(DecryptionFailure)"), "{e}");
    let e = err(&berth, "ssm", &["get-parameter", "--name", "/k", "--with-decryption"]);
    assert!(e.contains("(InvalidKeyId)") && e.contains("is disabled"), "{e}");
    let e = err(&berth, "kms", &["decrypt", "--ciphertext-blob", &format!("fileb://{}", blob.display())]);
    assert!(e.contains("(DisabledException)"), "{e}");
    kms(&["enable-key", "--key-id", &key_id]);
    assert_eq!(ok(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "k"])["SecretString"], "v");

    // The AWS managed keys exist once used.
    let aliases = kms(&["list-aliases"]);
    let names: Vec<&str> =
        aliases["Aliases"].as_array().unwrap().iter().filter_map(|a| a["AliasName"].as_str()).collect();
    assert!(names.contains(&"alias/aws/secretsmanager") || names.contains(&"alias/app"), "{names:?}");
    let managed = kms(&["describe-key", "--key-id", "alias/aws/secretsmanager"]);
    assert_eq!(managed["KeyMetadata"]["KeyManager"], "AWS");
    kms(&["delete-alias", "--alias-name", "alias/app"]);
    let e = err(&berth, "kms", &["describe-key", "--key-id", "alias/app"]);
    assert!(e.contains("(NotFoundException)"), "{e}");
}

fn assert_nowhere_on_disk(berth: &Berth) {
    use base64::Engine as _;
    let root = berth.data_dir.path();
    let files = common::files_containing(root, KNOWN.as_bytes());
    assert!(files.is_empty(), "the known secret is in clear in {files:?}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(KNOWN);
    let files = common::files_containing(root, encoded.as_bytes());
    assert!(files.is_empty(), "the known secret is in base64 in {files:?}");
    let wal: Vec<_> = std::fs::read_dir(root.join("data")).unwrap().filter_map(|e| e.ok()).collect();
    assert!(wal.iter().any(|e| e.file_name().to_string_lossy().ends_with("-wal")), "the WAL was looked at");
}

#[test]
fn values_stay_encrypted_on_disk_across_a_restart_and_a_master_key_rotation() {
    let mut berth = server();
    ok(&berth, "secretsmanager", &["create-secret", "--name", "known", "--secret-string", KNOWN]);
    ok(&berth, "ssm", &["put-parameter", "--name", "/known/secure", "--value", KNOWN, "--type", "SecureString"]);
    ok(&berth, "ssm", &["put-parameter", "--name", "/known/plain", "--value", KNOWN]);
    let read = |berth: &Berth| {
        assert_eq!(ok(berth, "secretsmanager", &["get-secret-value", "--secret-id", "known"])["SecretString"], KNOWN);
        let got = ok(berth, "ssm", &["get-parameter", "--name", "/known/secure", "--with-decryption"]);
        assert_eq!(got["Parameter"]["Value"], KNOWN);
        assert_eq!(ok(berth, "ssm", &["get-parameter", "--name", "/known/plain"])["Parameter"]["Value"], KNOWN);
    };
    read(&berth);
    assert_nowhere_on_disk(&berth);

    let key_file = berth.data_dir.path().join("data").join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    berth.restart().expect("berth restarts");
    read(&berth);

    // Rotation, offline.
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    berth.interrupt().expect("berth stops");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["secrets", "rotate-master-key", "--data-dir"])
        .arg(berth.data_dir.path().join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Re-wrapped"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), old_key);
    berth.restart().expect("berth restarts after the rotation");
    read(&berth);
    assert_nowhere_on_disk(&berth);

    // The old key no longer opens the data dir: the server refuses to start with it.
    berth.interrupt().expect("berth stops");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(berth.data_dir.path().join("data"))
        .env("BERTH_MASTER_KEY", old_key.trim())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not match"), "{stderr}");
}
