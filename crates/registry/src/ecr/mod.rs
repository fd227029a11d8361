//! The ECR API (`AmazonEC2ContainerRegistry_V20150921.*`): decode the generated request shape, call the registry,
//! encode the generated response shape. The API crate's front door does SigV4, body limits and the error
//! envelope; [`Registry::ecr`] is what it calls.

mod account;
mod archive;
mod auth;
mod error;
mod images;
mod layers;
mod lifecycle;
mod policies;
mod pull_through;
mod referrers;
mod registry_policy;
mod replicated;
mod replication;
mod repositories;
mod scanning;
mod scanning_config;
mod signing;
mod templates;

pub use error::EcrError;
pub(crate) use error::invalid;

use crate::Registry;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The authenticated caller of an ECR operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The access key id the request was signed with.
    pub access_key_id: String,
    /// The caller's account.
    pub account_id: String,
    /// The caller's ARN.
    pub arn: String,
    /// The source registry id a replicating Berth server names in its `x-berth-replication-source` header: its
    /// CreateRepository (with no settings of its own) takes the matching REPLICATION creation template. `None` for
    /// every other call.
    pub replication_source: Option<String>,
}

/// Decodes a request body into an operation's input shape (an empty body is `{}`).
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, EcrError> {
    let body = if body.iter().all(|b| b.is_ascii_whitespace()) { b"{}".as_slice() } else { body };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." { inner.to_string() } else { format!("{path}: {inner}") };
        EcrError::Serialization { message }
    })?;
    de.end().map_err(|e| EcrError::Serialization { message: e.to_string() })?;
    Ok(value)
}

fn encode<T: Serialize>(response: &T) -> Result<Vec<u8>, EcrError> {
    serde_json::to_vec(response).map_err(|e| EcrError::Server { message: format!("encoding the response: {e}") })
}

/// Checks an optional `registryId` against this registry's account.
pub(crate) fn check_registry(registry: &Registry, registry_id: Option<&String>) -> Result<(), EcrError> {
    match registry_id {
        Some(id) if id != &registry.config.account_id => {
            Err(invalid(format!("registryId {id:?} is not this registry ({})", registry.config.account_id)))
        }
        _ => Ok(()),
    }
}

/// Validates a repository name as ECR does.
pub(crate) fn check_name(name: &str) -> Result<(), EcrError> {
    match crate::names::repository_name_problem(name) {
        Some(reason) => {
            Err(invalid(format!("Invalid parameter at 'repositoryName' failed to satisfy constraint: {reason}")))
        }
        None => Ok(()),
    }
}

/// Resolves an image id (a digest, a tag, or both, which must agree) in repository `name` to the image's digest;
/// `ImageNotFoundException` when there is no such image.
pub(crate) fn image_digest(
    registry: &Registry,
    name: &str,
    id: &berth_model::ecr::ImageIdentifier,
) -> Result<String, EcrError> {
    if let Some(d) = &id.image_digest
        && crate::digest::Digest::parse(d).is_err()
    {
        return Err(invalid(format!("Invalid parameter at 'imageId.imageDigest': {d:?} is not an image digest")));
    }
    let digest = {
        let state = registry.index.read();
        let entry = state.existing_repo(name).map_err(EcrError::from)?;
        let by_tag = id.image_tag.as_ref().map(|t| entry.tags.get(t).map(|(d, _)| d.clone()));
        match (&id.image_digest, by_tag) {
            (None, None) => return Err(invalid("Invalid parameter at 'imageId': an image digest or tag is required")),
            (_, Some(None)) => None,
            (Some(d), Some(Some(t))) if d != &t => None,
            (_, Some(Some(t))) => Some(t),
            (Some(d), None) => entry.images.contains_key(d).then(|| d.clone()),
        }
    };
    digest.ok_or_else(|| {
        let described = match (&id.image_digest, &id.image_tag) {
            (Some(d), Some(t)) => format!("{{imageDigest:'{d}', imageTag:'{t}'}}"),
            (Some(d), None) => format!("{{imageDigest:'{d}'}}"),
            (None, Some(t)) => format!("{{imageTag:'{t}'}}"),
            (None, None) => "{}".to_string(),
        };
        EcrError::ImageNotFound {
            message: format!(
                "The image with imageId {described} does not exist within the repository with name '{name}' in the \
                 registry with id '{}'",
                registry.config.account_id
            ),
        }
    })
}

/// Resolves `maxResults` (validated within `1..=max`) to a page size.
pub(crate) fn page_size(max_results: Option<i32>, default: usize, max: i32) -> Result<usize, EcrError> {
    match max_results {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(invalid(format!("maxResults {n} must be between 1 and {max}"))),
    }
}

/// A pagination token: the last item of the previous page, opaque to the client.
pub(crate) fn next_token(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("berth1:{last}"))
}

/// Decodes a pagination token.
pub(crate) fn after_token(token: Option<&String>) -> Result<Option<String>, EcrError> {
    let Some(token) = token else { return Ok(None) };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid("nextToken is invalid"))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid("nextToken is invalid"))?;
    text.strip_prefix("berth1:").map(|s| Some(s.to_string())).ok_or_else(|| invalid("nextToken is invalid"))
}

/// Splits a sorted list into the page after `after` and the token for the next page.
pub(crate) fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    after: Option<String>,
    size: usize,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = match &after {
        Some(a) => items.into_iter().filter(|i| &key(i) > a).collect(),
        None => items,
    };
    if rest.len() > size {
        rest.truncate(size);
        let token = rest.last().map(|i| next_token(&key(i)));
        (rest, token)
    } else {
        (rest, None)
    }
}

/// The operations of the installed model that Berth's registry does not serve, with the capability each belongs
/// to.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("StartReplicationBackfill", "replication"),
    ("StopReplicationBackfill", "replication"),
    ("DescribeReplicationBackfillResults", "replication"),
    ("ListReplicationBackfills", "replication"),
];

/// The refusal of an operation of the model that Berth does not serve, naming the capability it belongs to.
fn unsupported(operation: &str) -> String {
    match UNSUPPORTED.iter().find(|(op, _)| *op == operation) {
        Some((_, "replication")) => format!(
            "{operation} is not supported by Berth's registry: replication backfill is not built (images replicate \
             as they are pushed)"
        ),
        _ => format!("{operation} is not supported by Berth's registry"),
    }
}

macro_rules! dispatch {
    ($registry:ident, $operation:ident, $body:ident, $caller:ident; $($name:literal => $handler:path,)*) => {
        match $operation {
            $($name => encode(&$handler($registry, decode($body)?, $caller).await?),)*
            other if berth_model::ecr::OPERATIONS.contains(&other) => Err(EcrError::Validation {
                message: unsupported(other),
            }),
            other => Err(EcrError::UnknownOperation { message: format!("unknown operation {other}") }),
        }
    };
}

impl Registry {
    /// Runs the ECR operation `operation` (the part of `X-Amz-Target` after the dot) on a JSON request body and
    /// returns the JSON response body.
    pub async fn ecr(&self, operation: &str, body: &[u8], caller: &Caller) -> Result<Vec<u8>, EcrError> {
        let registry = self;
        dispatch! { registry, operation, body, caller;
            "CreateRepository" => repositories::create_repository,
            "DescribeRepositories" => repositories::describe_repositories,
            "DeleteRepository" => repositories::delete_repository,
            "PutImageTagMutability" => repositories::put_image_tag_mutability,
            "PutImageScanningConfiguration" => repositories::put_image_scanning_configuration,
            "TagResource" => repositories::tag_resource,
            "UntagResource" => repositories::untag_resource,
            "ListTagsForResource" => repositories::list_tags_for_resource,
            "ListImages" => images::list_images,
            "DescribeImages" => images::describe_images,
            "BatchGetImage" => images::batch_get_image,
            "BatchDeleteImage" => images::batch_delete_image,
            "PutImage" => images::put_image,
            "GetAuthorizationToken" => auth::get_authorization_token,
            "GetDownloadUrlForLayer" => layers::get_download_url_for_layer,
            "BatchCheckLayerAvailability" => layers::batch_check_layer_availability,
            "InitiateLayerUpload" => layers::initiate_layer_upload,
            "UploadLayerPart" => layers::upload_layer_part,
            "CompleteLayerUpload" => layers::complete_layer_upload,
            "PutLifecyclePolicy" => lifecycle::put_lifecycle_policy,
            "GetLifecyclePolicy" => lifecycle::get_lifecycle_policy,
            "DeleteLifecyclePolicy" => lifecycle::delete_lifecycle_policy,
            "StartLifecyclePolicyPreview" => lifecycle::start_lifecycle_policy_preview,
            "GetLifecyclePolicyPreview" => lifecycle::get_lifecycle_policy_preview,
            "StartImageScan" => scanning::start_image_scan,
            "DescribeImageScanFindings" => scanning::describe_image_scan_findings,
            "CreatePullThroughCacheRule" => pull_through::create_pull_through_cache_rule,
            "DescribePullThroughCacheRules" => pull_through::describe_pull_through_cache_rules,
            "UpdatePullThroughCacheRule" => pull_through::update_pull_through_cache_rule,
            "DeletePullThroughCacheRule" => pull_through::delete_pull_through_cache_rule,
            "ValidatePullThroughCacheRule" => pull_through::validate_pull_through_cache_rule,
            "CreateRepositoryCreationTemplate" => templates::create_repository_creation_template,
            "DescribeRepositoryCreationTemplates" => templates::describe_repository_creation_templates,
            "UpdateRepositoryCreationTemplate" => templates::update_repository_creation_template,
            "DeleteRepositoryCreationTemplate" => templates::delete_repository_creation_template,
            "SetRepositoryPolicy" => policies::set_repository_policy,
            "GetRepositoryPolicy" => policies::get_repository_policy,
            "DeleteRepositoryPolicy" => policies::delete_repository_policy,
            "PutRegistryPolicy" => registry_policy::put_registry_policy,
            "GetRegistryPolicy" => registry_policy::get_registry_policy,
            "DeleteRegistryPolicy" => registry_policy::delete_registry_policy,
            "PutRegistryScanningConfiguration" => scanning_config::put_registry_scanning_configuration,
            "GetRegistryScanningConfiguration" => scanning_config::get_registry_scanning_configuration,
            "BatchGetRepositoryScanningConfiguration" => scanning_config::batch_get_repository_scanning_configuration,
            "GetAccountSetting" => account::get_account_setting,
            "PutAccountSetting" => account::put_account_setting,
            "DescribeRegistry" => account::describe_registry,
            "RegisterPullTimeUpdateExclusion" => account::register_pull_time_update_exclusion,
            "DeregisterPullTimeUpdateExclusion" => account::deregister_pull_time_update_exclusion,
            "ListPullTimeUpdateExclusions" => account::list_pull_time_update_exclusions,
            "UpdateImageStorageClass" => archive::update_image_storage_class,
            "ListImageReferrers" => referrers::list_image_referrers,
            "PutReplicationConfiguration" => replication::put_replication_configuration,
            "DescribeImageReplicationStatus" => replication::describe_image_replication_status,
            "PutSigningConfiguration" => signing::put_signing_configuration,
            "GetSigningConfiguration" => signing::get_signing_configuration,
            "DeleteSigningConfiguration" => signing::delete_signing_configuration,
            "DescribeImageSigningStatus" => signing::describe_image_signing_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecr::CreateRepositoryRequest;

    #[test]
    fn decoding_reports_the_serde_path() {
        let err = decode::<CreateRepositoryRequest>(br#"{"repositoryName": 5}"#).unwrap_err();
        assert_eq!(err.exception(), "SerializationException");
        assert!(err.message().contains("repositoryName"), "{}", err.message());
        let err =
            decode::<CreateRepositoryRequest>(br#"{"repositoryName":"ab","imageTagMutability":"NOPE"}"#).unwrap_err();
        assert!(err.message().contains("imageTagMutability"), "{}", err.message());
        assert!(decode::<CreateRepositoryRequest>(b"{").is_err());
        assert!(decode::<CreateRepositoryRequest>(b"").is_err()); // repositoryName is required
        let ok: CreateRepositoryRequest = decode(br#"{"repositoryName":"ab"}"#).unwrap();
        assert_eq!(ok.repository_name, "ab");
    }

    #[test]
    fn unsupported_operations_are_in_the_model_and_name_their_capability() {
        for (op, capability) in UNSUPPORTED {
            assert!(berth_model::ecr::OPERATIONS.contains(op), "{op}");
            assert!(unsupported(op).contains(capability), "{}", unsupported(op));
        }
    }

    #[test]
    fn tokens_and_pages() {
        assert_eq!(after_token(Some(&next_token("abc"))).unwrap().as_deref(), Some("abc"));
        assert!(after_token(Some(&"!!".to_string())).is_err());
        assert!(after_token(Some(&URL_SAFE_NO_PAD.encode("x"))).is_err());
        let items: Vec<String> = (0..5).map(|i| format!("i{i}")).collect();
        let (page, token) = paginate(items.clone(), |s| s.clone(), None, 2);
        assert_eq!(page, vec!["i0", "i1"]);
        let (page, token) = paginate(items.clone(), |s| s.clone(), after_token(token.as_ref()).unwrap(), 2);
        assert_eq!(page, vec!["i2", "i3"]);
        let (page, token) = paginate(items, |s| s.clone(), after_token(token.as_ref()).unwrap(), 2);
        assert_eq!((page, token), (vec!["i4".to_string()], None));
        assert!(page_size(Some(0), 100, 1000).is_err());
        assert_eq!(page_size(None, 100, 1000).unwrap(), 100);
    }
}
