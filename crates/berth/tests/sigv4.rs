//! SigV4: requests that are not signed, signed badly, signed by strangers or signed too long ago are refused with
//! AWS's exceptions and status codes.

#![allow(clippy::disallowed_methods)] // signatures from the past and the future need the real clock
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::*;
use std::time::{Duration, SystemTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_rejections() {
    let (berth, client) = berth_up().await;
    let target = ecs_target("ListClusters");

    let (status, body) = raw_request(&berth, Some(&target), b"{}", Some("not-the-secret"), None, None).await;
    assert_eq!((status, body["__type"].as_str()), (403, Some("InvalidSignatureException")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("does not match"));

    let (status, body) = raw_request(&berth, Some(&target), b"{}", None, Some("AKIAUNKNOWN0000000000"), None).await;
    assert_eq!((status, body["__type"].as_str()), (403, Some("UnrecognizedClientException")), "{body}");

    let old = SystemTime::now() - Duration::from_secs(16 * 60);
    let (status, body) = raw_request(&berth, Some(&target), b"{}", None, None, Some(old)).await;
    assert_eq!((status, body["__type"].as_str()), (403, Some("InvalidSignatureException")), "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("Signature expired:"), "{body}");

    let future = SystemTime::now() + Duration::from_secs(16 * 60);
    let (status, body) = raw_request(&berth, Some(&target), b"{}", None, None, Some(future)).await;
    assert_eq!((status, body["__type"].as_str()), (403, Some("InvalidSignatureException")), "{body}");

    let url = format!("{}/", berth.url());
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-target", target.parse().unwrap());
    headers.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
    let (status, body) = send(&url, &headers, b"{}".to_vec()).await;
    assert_eq!((status, body["__type"].as_str()), (403, Some("MissingAuthenticationTokenException")), "{body}");

    headers.insert("authorization", "AWS4-HMAC-SHA256 Credential=garbage".parse().unwrap());
    headers.insert("x-amz-date", "20260101T000000Z".parse().unwrap());
    let (status, body) = send(&url, &headers, b"{}".to_vec()).await;
    assert_eq!((status, body["__type"].as_str()), (400, Some("IncompleteSignatureException")), "{body}");

    headers.insert("authorization", "Bearer something".parse().unwrap());
    let (status, body) = send(&url, &headers, b"{}".to_vec()).await;
    assert_eq!((status, body["__type"].as_str()), (400, Some("IncompleteSignatureException")), "{body}");

    // The SDK with a wrong secret sees the same exception.
    let mut wrong = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new("us-east-1"))
        .endpoint_url(berth.url());
    wrong.set_credentials_provider(Some(aws_sdk_ecs::config::SharedCredentialsProvider::new(
        aws_credential_types::Credentials::new(&berth.access_key_id, "wrong", None, None, "test"),
    )));
    let wrong = aws_sdk_ecs::Client::from_conf(wrong.build());
    assert_error(wrong.list_clusters().send().await, "InvalidSignatureException", "does not match");

    // The right credentials still work.
    assert_eq!(client.list_clusters().send().await.unwrap().cluster_arns().len(), 1);
}
