//! The operations on a memory store with a manual clock and an encode-only sealer.

use super::*;
use base64::Engine;
use berth_model::clock::ManualClock;
use serde_json::{Value, json};
use std::sync::Arc;

const CA: &str = include_str!("../testdata/ca.pem");
const APP: &str = include_str!("../testdata/app.pem");
const APP_KEY: &str = include_str!("../testdata/app.key");
const EC: &str = include_str!("../testdata/ec.pem");
const EC_KEY: &str = include_str!("../testdata/ec.key");

struct Users(std::sync::Mutex<Vec<String>>);

impl CertificateUsers for Users {
    fn users(&self, _arn: &str) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn acm(store: berth_store::SharedStore) -> Arc<Acm> {
    let config = AcmConfig { region: "us-east-1".into(), account_id: "000000000000".into() };
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    Acm::open(config, store, clock, Arc::new(berth_iam::EncodeOnly)).await.unwrap()
}

async fn call(acm: &Acm, op: &str, input: Value) -> Result<Value, AcmError> {
    let out = acm.call(op, &serde_json::to_vec(&input).unwrap()).await?;
    Ok(serde_json::from_slice(&out).unwrap())
}

#[tokio::test]
async fn import_describe_list_get_delete_and_restart() {
    let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
    let s = acm(store.clone()).await;
    let users = Arc::new(Users(Default::default()));
    s.set_users(users.clone());
    let out = call(
        &s,
        "ImportCertificate",
        json!({"Certificate": b64(APP), "PrivateKey": b64(APP_KEY), "CertificateChain": b64(CA),
               "Tags": [{"Key": "env", "Value": "test"}]}),
    )
    .await
    .unwrap();
    let arn = out["CertificateArn"].as_str().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:acm:us-east-1:000000000000:certificate/"), "{arn}");
    let d = call(&s, "DescribeCertificate", json!({"CertificateArn": arn})).await.unwrap();
    let c = &d["Certificate"];
    assert_eq!(c["DomainName"], "app.example.test");
    assert_eq!(c["Type"], "IMPORTED");
    assert_eq!(c["Status"], "ISSUED");
    assert_eq!(c["KeyAlgorithm"], "RSA_2048");
    assert_eq!(c["InUseBy"], json!([]));
    assert_eq!(c["SubjectAlternativeNames"], json!(["app.example.test", "www.example.test"]));

    // The key is not stored in clear.
    let kv = store.get(&records::key(&arn)).await.unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&kv.value).contains("BEGIN PRIVATE KEY"));
    assert!(s.material(&arn).await.unwrap().key_pem.contains("BEGIN PRIVATE KEY"));

    // An EC certificate is listed only when asked for by key type.
    call(&s, "ImportCertificate", json!({"Certificate": b64(EC), "PrivateKey": b64(EC_KEY)})).await.unwrap();
    let l = call(&s, "ListCertificates", json!({})).await.unwrap();
    assert_eq!(l["CertificateSummaryList"].as_array().unwrap().len(), 1);
    let l =
        call(&s, "ListCertificates", json!({"Includes": {"keyTypes": ["RSA_2048", "EC_prime256v1"]}, "MaxItems": 1}))
            .await
            .unwrap();
    assert_eq!(l["CertificateSummaryList"].as_array().unwrap().len(), 1);
    let token = l["NextToken"].as_str().unwrap();
    let l = call(
        &s,
        "ListCertificates",
        json!({"Includes": {"keyTypes": ["RSA_2048", "EC_prime256v1"]}, "NextToken": token, "CertificateStatuses": ["ISSUED"]}),
    )
    .await
    .unwrap();
    assert_eq!(l["CertificateSummaryList"].as_array().unwrap().len(), 1);
    assert!(l.get("NextToken").is_none());
    let l = call(&s, "ListCertificates", json!({"CertificateStatuses": ["EXPIRED"]})).await.unwrap();
    assert_eq!(l["CertificateSummaryList"], json!([]));

    let g = call(&s, "GetCertificate", json!({"CertificateArn": arn})).await.unwrap();
    assert!(g["Certificate"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(g["CertificateChain"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));

    // Tags.
    call(&s, "AddTagsToCertificate", json!({"CertificateArn": arn, "Tags": [{"Key": "team", "Value": "web"}]}))
        .await
        .unwrap();
    call(&s, "RemoveTagsFromCertificate", json!({"CertificateArn": arn, "Tags": [{"Key": "env", "Value": "other"}]}))
        .await
        .unwrap();
    let t = call(&s, "ListTagsForCertificate", json!({"CertificateArn": arn})).await.unwrap();
    assert_eq!(t["Tags"], json!([{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "web"}]));
    let e = call(&s, "AddTagsToCertificate", json!({"CertificateArn": arn, "Tags": [{"Key": "aws:x", "Value": "1"}]}))
        .await
        .unwrap_err();
    assert_eq!(e.exception, "InvalidTagException");

    // State survives a restart.
    let again = acm(store.clone()).await;
    assert!(again.exists(&arn));
    assert!(again.material(&arn).await.unwrap().chain_pem.matches("BEGIN CERTIFICATE").count() == 2);

    // In use: not deleted.
    users.0.lock().unwrap().push("arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/1".into());
    let e = call(&s, "DeleteCertificate", json!({"CertificateArn": arn})).await.unwrap_err();
    assert_eq!(e.exception, "ResourceInUseException");
    let d = call(&s, "DescribeCertificate", json!({"CertificateArn": arn})).await.unwrap();
    assert_eq!(d["Certificate"]["InUseBy"].as_array().unwrap().len(), 1);
    users.0.lock().unwrap().clear();
    call(&s, "DeleteCertificate", json!({"CertificateArn": arn})).await.unwrap();
    let e = call(&s, "DescribeCertificate", json!({"CertificateArn": arn})).await.unwrap_err();
    assert_eq!(e.exception, "ResourceNotFoundException");
    let e = call(&s, "DescribeCertificate", json!({"CertificateArn": "nope"})).await.unwrap_err();
    assert_eq!(e.exception, "InvalidArnException");
}

#[tokio::test]
async fn reimport_keeps_the_arn_and_refuses_tags_and_requests_are_refused() {
    let s = acm(Arc::new(berth_store::MemoryStore::new())).await;
    let out = call(&s, "ImportCertificate", json!({"Certificate": b64(EC), "PrivateKey": b64(EC_KEY)})).await.unwrap();
    let arn = out["CertificateArn"].as_str().unwrap().to_string();
    let changes = s.subscribe();
    let again = call(
        &s,
        "ImportCertificate",
        json!({"CertificateArn": arn, "Certificate": b64(APP), "PrivateKey": b64(APP_KEY), "CertificateChain": b64(CA)}),
    )
    .await
    .unwrap();
    assert_eq!(again["CertificateArn"], arn.as_str());
    assert!(changes.has_changed().unwrap());
    assert_eq!(
        call(&s, "DescribeCertificate", json!({"CertificateArn": arn})).await.unwrap()["Certificate"]["DomainName"],
        "app.example.test"
    );
    let e = call(
        &s,
        "ImportCertificate",
        json!({"CertificateArn": arn, "Certificate": b64(EC), "PrivateKey": b64(EC_KEY), "Tags": [{"Key": "a"}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.exception, "ValidationException");
    let missing = "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000";
    let e = call(
        &s,
        "ImportCertificate",
        json!({"CertificateArn": missing, "Certificate": b64(EC), "PrivateKey": b64(EC_KEY)}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.exception, "ResourceNotFoundException");
    let e = call(&s, "RequestCertificate", json!({"DomainName": "example.com"})).await.unwrap_err();
    assert!(e.message.contains("ImportCertificate"), "{}", e.message);
    let e = call(&s, "ExportCertificate", json!({})).await.unwrap_err();
    assert_eq!(e.exception, "ValidationException");
}
