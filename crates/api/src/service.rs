//! AWS services behind the one listener: chosen by the `X-Amz-Target` prefix (AWS JSON), the `/service/<prefix>/`
//! path (Smithy RPC v2 CBOR) or the credential scope's service (AWS query).

use crate::auth::Caller;
use crate::error::ApiError;
use berth_control::Control;
use berth_model::schema::Schema;
use futures::future::BoxFuture;
use std::sync::Arc;

/// What the authorization hook learns about the resource a call acts on, from the service that keeps it.
#[derive(Debug, Default)]
pub struct ResourceFacts {
    /// The resource's ARN as the service knows it, when the request names it another way (a secret's full ARN,
    /// with its random suffix, for a request that names the secret by name): policies are matched against it.
    pub arn: Option<String>,
    /// The resource's policy (an ECR repository's and the registry's, a secret's).
    pub policy: Option<berth_iam::policy::NamedPolicy>,
    /// The resource's tags, for `aws:ResourceTag/...` and `<prefix>:ResourceTag/...`: looked up only when a
    /// policy in play reads them (empty otherwise).
    pub tags: Vec<(String, String)>,
}

/// The tags in a service's answer to its own tag-listing operation (ELBv2's DescribeTags, CloudWatch's and Logs'
/// ListTagsForResource, KMS's ListResourceTags, IAM's ListRoleTags ...), for `aws:ResourceTag/...`: `member` holds
/// either a list of `{key: K, value: V}` objects or a map of K to V (found at the top level or in the first entry of
/// a list, as DescribeTags nests it). A failed call (a resource that does not exist yet) has no tags.
pub(crate) fn tags_in<E>(answer: Result<Vec<u8>, E>, member: &str, key: &str, value: &str) -> Vec<(String, String)> {
    let Ok(bytes) = answer else { return Vec::new() };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return Vec::new() };
    let found =
        json.get(member).or_else(|| json.as_object()?.values().find_map(|v| v.as_array()?.first()?.get(member)));
    match found {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|t| {
                let k = t.get(key)?.as_str()?;
                Some((k.to_string(), t.get(value).and_then(|v| v.as_str()).unwrap_or_default().to_string()))
            })
            .collect(),
        Some(serde_json::Value::Object(map)) => {
            map.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
        }
        _ => Vec::new(),
    }
}

/// Whether a call on `arn` should read the resource's tags: a policy in play reads them and the call names one
/// resource.
pub(crate) fn tags_wanted(want_tags: bool, arn: &str) -> bool {
    want_tags && arn.starts_with("arn:") && !arn.ends_with('*')
}

/// A service spoken over AWS JSON 1.1 (ECS, ECR ...).
pub trait AwsJsonService: Send + Sync + 'static {
    /// The `X-Amz-Target` prefix before the `.`, e.g. `AmazonEC2ContainerServiceV20141113`.
    fn target_prefix(&self) -> &'static str;
    /// The service name in SigV4 credential scopes (`ecs`, `ecr`): requests scoped to another are refused.
    fn signing_name(&self) -> &'static str;
    /// The service prefix of its IAM actions (`ecs` in `ecs:RunTask`): the signing name, except CloudWatch's.
    fn action_prefix(&self) -> &'static str {
        self.signing_name()
    }
    /// The largest request body accepted, in bytes.
    fn max_body_bytes(&self) -> usize;
    /// The model's shape table, for a service that also speaks Smithy RPC v2 CBOR and the AWS query protocol
    /// (CloudWatch): the front door translates those to and from the JSON [`AwsJsonService::call`] takes.
    fn schema(&self) -> Option<&'static Schema> {
        None
    }
    /// The content type of its JSON protocol (`application/x-amz-json-1.1`, or `-1.0` for CloudWatch).
    fn json_content_type(&self) -> &'static str {
        crate::protocol::json11::CONTENT_TYPE
    }
    /// The resource a call creates with tags, when the caller must also be allowed `<prefix>:TagResource` on it
    /// (ECS's tag-on-create authorization, its `tagResourceAuthorization` account setting); `None` otherwise.
    /// `input` is the request's JSON, `principal_arn` the caller's.
    fn tag_on_create(&self, operation: &str, input: &serde_json::Value, principal_arn: &str) -> Option<String> {
        let _ = (operation, input, principal_arn);
        None
    }
    /// The resource policy of the resource a call acts on (an ECR repository's policy), evaluated with the caller's
    /// identity policies; `None` when the resource has none.
    fn resource_policy(&self, operation: &str, input: &serde_json::Value) -> Option<berth_iam::policy::NamedPolicy> {
        let _ = (operation, input);
        None
    }
    /// The facts about the resource `arn` a call acts on (computed by the hook from the request; `*` for none): its
    /// policy, its tags when `want_tags` (a policy of the caller reads a resource tag), its ARN as the service
    /// knows it. The default: [`AwsJsonService::resource_policy`] and no tags.
    fn resource_facts<'a>(
        &'a self,
        operation: &'a str,
        input: &'a serde_json::Value,
        arn: &'a str,
        want_tags: bool,
    ) -> BoxFuture<'a, ResourceFacts> {
        let _ = (arn, want_tags);
        Box::pin(async move { ResourceFacts { policy: self.resource_policy(operation, input), ..Default::default() } })
    }
    /// Calls an operation; returns the JSON response body.
    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>>;
    /// Calls an operation whose response carries the request id in its body (EC2's XML `requestId`); the others
    /// ignore it.
    fn call_with_request_id<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        caller: &'a Caller,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        let _ = request_id;
        self.call(operation, body, caller)
    }
}

/// Amazon ECS, served by the control plane.
pub struct EcsService {
    control: Arc<Control>,
}

impl EcsService {
    /// ECS on this control plane.
    pub fn new(control: Arc<Control>) -> Self {
        Self { control }
    }
}

impl AwsJsonService for EcsService {
    fn target_prefix(&self) -> &'static str {
        berth_model::ecs::TARGET_PREFIX
    }

    fn signing_name(&self) -> &'static str {
        "ecs"
    }

    fn max_body_bytes(&self) -> usize {
        // Task definitions are the largest ECS requests; ECS allows 64 KiB of container definitions.
        1024 * 1024
    }

    fn tag_on_create(&self, operation: &str, input: &serde_json::Value, principal_arn: &str) -> Option<String> {
        crate::ecs::tag_on_create(&self.control, operation, input, principal_arn)
    }

    fn resource_facts<'a>(
        &'a self,
        _operation: &'a str,
        _input: &'a serde_json::Value,
        arn: &'a str,
        want_tags: bool,
    ) -> BoxFuture<'a, ResourceFacts> {
        // Clusters, services, tasks, task definitions, container instances, capacity providers, task sets and
        // daemons: their tags from the control plane's cache (an ARN that names none has none).
        let tags = if want_tags && arn.starts_with("arn:") {
            let request = berth_model::ecs::ListTagsForResourceRequest { resource_arn: arn.to_string() };
            let listed = self.control.list_tags_for_resource(request).ok().and_then(|r| r.tags).unwrap_or_default();
            listed.into_iter().filter_map(|t| Some((t.key?, t.value.unwrap_or_default()))).collect()
        } else {
            Vec::new()
        };
        Box::pin(async move { ResourceFacts { tags, ..Default::default() } })
    }

    fn call<'a>(
        &'a self,
        operation: &'a str,
        body: &'a [u8],
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Vec<u8>, ApiError>> {
        if operation == "ExecuteCommand" {
            if let Err(denied) = crate::ecs::authorize(operation, caller.agent.as_ref()) {
                return Box::pin(async move { Err(denied) });
            }
            // The one ECS operation that needs the caller: its session is audited under the caller's access key,
            // and its stream URL points where the caller reached the server.
            return Box::pin(async move { crate::exec::execute_command(&self.control, body, caller) });
        }
        Box::pin(crate::ecs::dispatch(&self.control, operation, body, caller.agent.as_ref()))
    }
}
