//! Lifecycle policies through the ECR API: preview, and application on the timer.

use crate::common::image;
use crate::common::{Oci, Options, TestServer};
use serde_json::{Value, json};
use std::time::Duration;

async fn tags(server: &TestServer, repo: &str) -> Vec<String> {
    let out = server.ecr_ok("ListImages", json!({"repositoryName": repo})).await;
    let mut tags: Vec<String> = out["imageIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["imageTag"].as_str().unwrap_or("<untagged>").to_string())
        .collect();
    tags.sort();
    tags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_then_apply() {
    let server = TestServer::start_with(Options { manual_clock: true, ..Options::default() }).await;
    let clock = server.clock.clone().unwrap();
    server.create_repo("life").await;
    // Day 0..4: prod-1..prod-3, dev-1, and an image that loses its tag.
    for (i, tag) in ["prod-1", "dev-1", "prod-2", "old", "prod-3"].iter().enumerate() {
        let img = image::small_image(&format!("life{i}"), 1);
        let oci = Oci::new(&server).await; // tokens last 12 hours of the manual clock
        oci.push_image("life", tag, &img).await;
        clock.advance(86_400.0);
    }
    Oci::new(&server).await.req(reqwest::Method::DELETE, "/v2/life/manifests/old").send().await.unwrap();
    clock.advance(20.0 * 86_400.0);
    let policy = json!({"rules": [
        {"rulePriority": 1, "description": "untagged after 14 days", "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}},
        {"rulePriority": 2, "description": "keep two prod", "selection": {"tagStatus": "tagged", "tagPatternList": ["prod-*"], "countType": "imageCountMoreThan", "countNumber": 2}, "action": {"type": "expire"}}
    ]}).to_string();
    let (status, out) = server.ecr("GetLifecyclePolicyPreview", json!({"repositoryName": "life"})).await;
    assert_eq!((status, out["__type"].as_str()), (400, Some("LifecyclePolicyPreviewNotFoundException")));
    let started = server
        .ecr_ok("StartLifecyclePolicyPreview", json!({"repositoryName": "life", "lifecyclePolicyText": policy}))
        .await;
    assert_eq!(started["status"], "IN_PROGRESS");
    let preview = server.ecr_ok("GetLifecyclePolicyPreview", json!({"repositoryName": "life"})).await;
    assert_eq!(preview["status"], "COMPLETE");
    assert_eq!(preview["summary"]["expiringImageTotalCount"], 2);
    let mut results: Vec<(Value, i64)> = preview["previewResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["imageTags"].clone(), r["appliedRulePriority"].as_i64().unwrap()))
        .collect();
    results.sort_by_key(|r| r.1);
    assert_eq!(results, vec![(Value::Null, 1), (json!(["prod-1"]), 2)]);
    let tagged = server
        .ecr_ok("GetLifecyclePolicyPreview", json!({"repositoryName": "life", "filter": {"tagStatus": "TAGGED"}}))
        .await;
    assert_eq!(tagged["previewResults"].as_array().unwrap().len(), 1);
    // A preview changes nothing.
    assert_eq!(tags(&server, "life").await.len(), 5);
    // Invalid policies are refused with InvalidParameterException.
    let (status, out) = server.ecr("PutLifecyclePolicy", json!({"repositoryName": "life", "lifecyclePolicyText": "{\"rules\": [{\"rulePriority\": 1, \"selection\": {\"tagStatus\": \"tagged\", \"countType\": \"imageCountMoreThan\", \"countNumber\": 1}, \"action\": {\"type\": \"expire\"}}]}"})).await;
    assert_eq!((status, out["__type"].as_str()), (400, Some("InvalidParameterException")));
    server.ecr_ok("PutLifecyclePolicy", json!({"repositoryName": "life", "lifecyclePolicyText": policy})).await;
    let expired = server.registry.apply_lifecycle_policies().await.unwrap();
    assert_eq!(expired, 2);
    assert_eq!(tags(&server, "life").await, vec!["dev-1", "prod-2", "prod-3"]);
    let got = server.ecr_ok("GetLifecyclePolicy", json!({"repositoryName": "life"})).await;
    assert_eq!(got["lifecyclePolicyText"], policy.as_str());
    assert!(got["lastEvaluatedAt"].is_number());
    let deleted = server.ecr_ok("DeleteLifecyclePolicy", json!({"repositoryName": "life"})).await;
    assert_eq!(deleted["lifecyclePolicyText"], policy.as_str());
    let (status, out) = server.ecr("GetLifecyclePolicy", json!({"repositoryName": "life"})).await;
    assert_eq!((status, out["__type"].as_str()), (400, Some("LifecyclePolicyNotFoundException")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_applies_policies() {
    let server =
        TestServer::start_with(Options { lifecycle_interval: Some(Duration::from_millis(100)), ..Options::default() })
            .await;
    server.create_repo("timer").await;
    let oci = Oci::new(&server).await;
    for i in 0..4 {
        oci.push_image("timer", &format!("v{i}"), &image::small_image(&format!("timer{i}"), 1)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let policy = json!({"rules": [{"rulePriority": 1, "description": "keep one", "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]});
    server
        .ecr_ok("PutLifecyclePolicy", json!({"repositoryName": "timer", "lifecyclePolicyText": policy.to_string()}))
        .await;
    for _ in 0..100 {
        if tags(&server, "timer").await == vec!["v3"] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the lifecycle timer did not expire images: {:?}", tags(&server, "timer").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transition_rules_archive_images_and_later_rules_expire_archived_ones() {
    let server = TestServer::start_with(Options { manual_clock: true, ..Options::default() }).await;
    let clock = server.clock.clone().unwrap();
    server.create_repo("arch").await;
    for (i, tag) in ["v1", "v2", "v3"].iter().enumerate() {
        let img = image::small_image(&format!("arch{i}"), 1);
        Oci::new(&server).await.push_image("arch", tag, &img).await;
        clock.advance(86_400.0);
    }
    // v3 is pulled now: only v1 and v2 have gone 2 days without a pull (never pulled: since their push).
    clock.advance(86_400.0);
    let oci = Oci::new(&server).await;
    let pulled = oci.req(reqwest::Method::GET, "/v2/arch/manifests/v3").send().await.unwrap();
    assert_eq!(pulled.status(), 200);
    clock.advance(86_400.0);
    let policy = json!({"rules": [
        {"rulePriority": 1, "description": "archive what nobody pulls", "selection": {"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 2}, "action": {"type": "transition", "targetStorageClass": "archive"}},
        {"rulePriority": 2, "description": "delete the archive after 90 days", "selection": {"tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 90}, "action": {"type": "expire"}}
    ]})
    .to_string();
    server
        .ecr_ok("StartLifecyclePolicyPreview", json!({"repositoryName": "arch", "lifecyclePolicyText": policy}))
        .await;
    let preview = server.ecr_ok("GetLifecyclePolicyPreview", json!({"repositoryName": "arch"})).await;
    assert_eq!(preview["summary"]["expiringImageTotalCount"], 0, "{preview}");
    assert_eq!(
        preview["summary"]["transitioningImageTotalCounts"],
        json!([{"targetStorageClass": "ARCHIVE", "imageTotalCount": 2}]),
        "{preview}"
    );
    let first = &preview["previewResults"][0];
    assert_eq!(first["action"], json!({"type": "TRANSITION", "targetStorageClass": "ARCHIVE"}), "{preview}");
    assert_eq!(first["storageClass"], "STANDARD");

    server.ecr_ok("PutLifecyclePolicy", json!({"repositoryName": "arch", "lifecyclePolicyText": policy})).await;
    assert_eq!(server.registry.apply_lifecycle_policies().await.unwrap(), 2);
    assert_eq!(tags(&server, "arch").await, vec!["v3"], "only active images are listed by default");
    let archived =
        server.ecr_ok("DescribeImages", json!({"repositoryName": "arch", "filter": {"imageStatus": "ARCHIVED"}})).await;
    let mut archived_tags: Vec<String> = archived["imageDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["imageTags"][0].as_str().unwrap().to_string())
        .collect();
    archived_tags.sort();
    assert_eq!(archived_tags, vec!["v1", "v2"]);
    let gone = Oci::new(&server).await.req(reqwest::Method::GET, "/v2/arch/manifests/v1").send().await.unwrap();
    assert_eq!(gone.status(), 404, "an archived image is not served");

    // 89 days later the archive is kept; past 90 days since the transition it is deleted.
    clock.advance(89.0 * 86_400.0);
    // (v3, pulled 91 days ago by now, goes to the archive meanwhile.)
    assert_eq!(server.registry.apply_lifecycle_policies().await.unwrap(), 1);
    clock.advance(2.0 * 86_400.0);
    assert_eq!(server.registry.apply_lifecycle_policies().await.unwrap(), 2);
    let left =
        server.ecr_ok("DescribeImages", json!({"repositoryName": "arch", "filter": {"imageStatus": "ANY"}})).await;
    let left: Vec<&str> =
        left["imageDetails"].as_array().unwrap().iter().map(|d| d["imageTags"][0].as_str().unwrap()).collect();
    assert_eq!(left, vec!["v3"], "v3 was archived 2 days ago: it stays");
}
