//! CreateRepository called by a replicating Berth server: the destination side of ECR's rule that a repository
//! replication creates takes the destination's REPLICATION creation template.
//!
//! A source Berth marks the ECR calls of its replication with the `x-berth-replication-source` header (its
//! registry id); the API layer passes it on as [`Caller::replication_source`]. The header only selects settings
//! this registry's owner configured (a template), and the caller still needs `ecr:CreateRepository`, so it grants
//! nothing a caller could not set on CreateRepository itself.

use super::{Caller, EcrError, invalid};
use crate::Registry;
use crate::meta::records::RepositoryRecord;
use crate::templates::AppliedFor;
use berth_model::ecr::CreateRepositoryRequest;

/// Whether the request sets nothing of its own (only the name and registry id), as a replication's does.
fn sets_nothing(req: &CreateRepositoryRequest) -> bool {
    req.tags.as_ref().is_none_or(Vec::is_empty)
        && req.image_tag_mutability.is_none()
        && req.image_tag_mutability_exclusion_filters.as_ref().is_none_or(Vec::is_empty)
        && req.image_scanning_configuration.is_none()
        && req.encryption_configuration.is_none()
}

/// The record a replication's CreateRepository creates from the matching REPLICATION template, or `None` for the
/// ordinary path: no replication source, settings in the request, or no template applied for REPLICATION.
pub(crate) fn templated_record(
    registry: &Registry,
    req: &CreateRepositoryRequest,
    caller: &Caller,
) -> Result<Option<RepositoryRecord>, EcrError> {
    let Some(source) = caller.replication_source.as_deref() else { return Ok(None) };
    if let Some(reason) = crate::replication::registry_id_problem(source) {
        return Err(invalid(format!("x-berth-replication-source: {reason}")));
    }
    if !sets_nothing(req) {
        return Ok(None);
    }
    let record = registry.templated_repository(&req.repository_name, AppliedFor::Replication);
    if record.is_some() {
        tracing::info!(
            repository = req.repository_name.as_str(),
            source,
            "creating a replicated repository from a REPLICATION creation template"
        );
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RegistryConfig;
    use crate::storage::{BlobStore, MemoryBlobStore};
    use berth_model::clock::ManualClock;
    use serde_json::{Value, json};
    use std::sync::Arc;

    const ACCOUNT: &str = "000000000000";
    const LIFECYCLE: &str = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"expire"}}]}"#;

    fn caller(source: Option<&str>) -> Caller {
        Caller {
            access_key_id: "AKID".into(),
            account_id: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:root"),
            replication_source: source.map(str::to_string),
        }
    }

    async fn call(r: &Registry, op: &str, body: Value, source: Option<&str>) -> Result<Value, EcrError> {
        let out = r.ecr(op, body.to_string().as_bytes(), &caller(source)).await?;
        Ok(serde_json::from_slice(&out).unwrap())
    }

    async fn template(r: &Registry, prefix: &str, applied_for: &[&str], extra: Value) {
        let mut body = json!({"prefix": prefix, "appliedFor": applied_for});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        call(r, "CreateRepositoryCreationTemplate", body, None).await.unwrap();
    }

    /// The repository's mutability, its tags, and whether it has a lifecycle policy.
    async fn settings(r: &Registry, name: &str) -> (String, Value, bool) {
        let repo = call(r, "DescribeRepositories", json!({"repositoryNames": [name]}), None).await.unwrap();
        let repo = &repo["repositories"][0];
        let arn = repo["repositoryArn"].as_str().unwrap();
        let tags = call(r, "ListTagsForResource", json!({"resourceArn": arn}), None).await.unwrap()["tags"].clone();
        let lifecycle = call(r, "GetLifecyclePolicy", json!({"repositoryName": name}), None).await.is_ok();
        (repo["imageTagMutability"].as_str().unwrap().to_string(), tags, lifecycle)
    }

    #[tokio::test]
    async fn a_replications_create_takes_the_replication_template() {
        let dir = tempfile::tempdir().unwrap();
        let config = RegistryConfig::new(dir.path(), "us-east-1", ACCOUNT, "127.0.0.1:1");
        let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
        let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
        let clock = Arc::new(ManualClock::new(1_790_000_000.0));
        let r = Registry::open_with(config, store, clock, blobs).await.unwrap();
        let source = Some("111111111111");
        let prod_tags = json!([{"Key": "team", "Value": "prod"}]);
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "ecr:BatchGetImage"}]});
        template(
            &r,
            "prod",
            &["REPLICATION"],
            json!({"imageTagMutability": "IMMUTABLE", "resourceTags": prod_tags, "lifecyclePolicy": LIFECYCLE,
                "repositoryPolicy": policy.to_string()}),
        )
        .await;
        template(&r, "push", &["CREATE_ON_PUSH"], json!({"imageTagMutability": "IMMUTABLE"})).await;
        let create = |name: &str, source: Option<&'static str>| {
            let r = r.clone();
            let name = name.to_string();
            async move { call(&r, "CreateRepository", json!({"repositoryName": name}), source).await }
        };

        // The longest prefix applied for REPLICATION: all of its settings.
        let created = create("prod/app", source).await.unwrap();
        assert_eq!(created["repository"]["imageTagMutability"], "IMMUTABLE");
        assert_eq!(settings(&r, "prod/app").await, ("IMMUTABLE".into(), prod_tags.clone(), true));
        let got = call(&r, "GetRepositoryPolicy", json!({"repositoryName": "prod/app"}), None).await.unwrap();
        assert!(got["policyText"].as_str().unwrap().contains("ecr:BatchGetImage"));

        // The same name from an ordinary caller, and explicit settings from a replicating one, keep the defaults
        // or the request's own settings.
        create("prod/plain", None).await.unwrap();
        assert_eq!(settings(&r, "prod/plain").await, ("MUTABLE".into(), json!([]), false));
        let explicit = json!({"repositoryName": "prod/explicit", "imageTagMutability": "MUTABLE"});
        call(&r, "CreateRepository", explicit, source).await.unwrap();
        assert_eq!(settings(&r, "prod/explicit").await, ("MUTABLE".into(), json!([]), false));

        // A CREATE_ON_PUSH-only template is not applied; nothing else matches yet, so the defaults.
        create("push/one", source).await.unwrap();
        assert_eq!(settings(&r, "push/one").await, ("MUTABLE".into(), json!([]), false));

        // ROOT is the fallback for names no REPLICATION template covers.
        let root_tags = json!([{"Key": "from", "Value": "root"}]);
        template(&r, "ROOT", &["REPLICATION", "PULL_THROUGH_CACHE"], json!({"resourceTags": root_tags})).await;
        create("push/two", source).await.unwrap();
        assert_eq!(settings(&r, "push/two").await, ("MUTABLE".into(), root_tags.clone(), false));
        create("other", source).await.unwrap();
        assert_eq!(settings(&r, "other").await.1, root_tags);
        create("prod/again", source).await.unwrap();
        assert_eq!(settings(&r, "prod/again").await.1, prod_tags);

        // An existing repository is not replaced; a malformed source is refused.
        let e = create("prod/app", source).await.unwrap_err();
        assert_eq!(e.exception(), "RepositoryAlreadyExistsException");
        let e = create("prod/bad", Some("nope")).await.unwrap_err();
        assert_eq!(e.exception(), "InvalidParameterException");
        assert!(e.message().contains("x-berth-replication-source"), "{}", e.message());
    }

    fn request(json: &str) -> CreateRepositoryRequest {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn only_a_bare_request_takes_a_template() {
        assert!(sets_nothing(&request(r#"{"repositoryName": "a"}"#)));
        assert!(sets_nothing(&request(r#"{"repositoryName": "a", "registryId": "000000000000", "tags": []}"#)));
        for explicit in [
            r#"{"repositoryName": "a", "imageTagMutability": "MUTABLE"}"#,
            r#"{"repositoryName": "a", "tags": [{"Key": "k", "Value": "v"}]}"#,
            r#"{"repositoryName": "a", "imageScanningConfiguration": {"scanOnPush": false}}"#,
            r#"{"repositoryName": "a", "encryptionConfiguration": {"encryptionType": "AES256"}}"#,
        ] {
            assert!(!sets_nothing(&request(explicit)), "{explicit}");
        }
    }
}
