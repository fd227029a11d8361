//! The one authorization hook: every operation of every AWS API the front door serves (AWS JSON, CBOR and query
//! alike) passes here after authentication and before its service sees it.
//!
//! The action is `<service prefix>:<Operation>`; the resource is the ARN the request names where the operation acts
//! on one (clusters, services, tasks, task definitions, repositories, log groups, secrets, parameters, keys, load
//! balancers, target groups, alarms, users, roles, groups, policies), else `*`. Condition keys: `aws:SourceIp`,
//! `aws:CurrentTime`, `aws:EpochTime`, `aws:SecureTransport`, `aws:SourceAccount`, `aws:RequestedRegion`,
//! `aws:RequestTag/*` and `aws:TagKeys` from the request's tags, `ecs:cluster`, `aws:ResourceTag/*` and
//! `<prefix>:ResourceTag/*` from the resource's tags (looked up only when a policy in play reads one: ECS clusters,
//! services, tasks, task definitions, container instances ..., ECR repositories, secrets, SSM parameters, load
//! balancers and target groups, alarms, log groups, KMS keys, IAM roles and users), the
//! resource's policy (ECR repository and registry policies, secret policies), and the caller's own
//! (`aws:PrincipalArn`, `aws:PrincipalTag/*`, `aws:username` ..., added by IAM). Passing a role (a task
//! definition's or a task override's `taskRoleArn`/`executionRoleArn`, a service's `role`) also needs
//! `iam:PassRole` on that role; so does running a task definition that names roles its overrides do not replace.
//! Creating an ECS resource with tags also needs `ecs:TagResource` on it (with `ecs:CreateAction`) while the
//! caller's `tagResourceAuthorization` setting is `on`.
//!
//! The account root and agents (instance tokens, with their own checks) are not evaluated. Every decision is one
//! line on the tracing target `berth::audit` (IAM principals at `info`, the root at `debug`).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::AwsJsonService;
use berth_iam::policy::{Context, Decision};
use berth_iam::{Authz, Iam, Identity};
use http::StatusCode;
use serde_json::Value as Json;

/// Where the request is evaluated: the account and region ARNs are built in.
pub(crate) struct Place<'a> {
    /// Berth's region.
    pub region: &'a str,
    /// The account.
    pub account: &'a str,
    /// The current time (epoch seconds).
    pub now: f64,
    /// The roles (`taskRoleArn`, `executionRoleArn`) of the task definition a RunTask or StartTask names, which
    /// the caller passes unless the overrides name others; `None` where no task definition can be looked up.
    pub definition_roles: Option<&'a DefinitionRoles<'a>>,
}

/// Looks up a task definition's roles by the reference RunTask takes (family, `family:revision` or ARN).
pub(crate) type DefinitionRoles<'a> = dyn Fn(&str) -> Vec<(&'static str, String)> + Send + Sync + 'a;

/// Authorizes one call; `Err` is the denial in the API's own words.
pub(crate) async fn authorize(
    iam: Option<&Iam>,
    place: &Place<'_>,
    service: &dyn AwsJsonService,
    operation: &str,
    body: &[u8],
    caller: &Caller,
) -> Result<(), ApiError> {
    let prefix = service.action_prefix();
    let (Some(iam), Some(identity)) = (iam, caller.identity.as_ref()) else {
        tracing::debug!(target: "berth::audit", principal = %caller.arn, action = %format_args!("{prefix}:{operation}"),
            allowed = true, reason = if caller.agent.is_some() { "agent" } else { "account root" });
        return Ok(());
    };
    let action = format!("{prefix}:{operation}");
    // STS answers who the caller is to anyone, and AssumeRole evaluates the role's trust policy itself.
    if action == "sts:GetCallerIdentity" || action == "sts:AssumeRole" {
        tracing::info!(target: "berth::audit", principal = %caller.arn, %action, resource = "*", allowed = true,
            reason = "evaluated by STS");
        return Ok(());
    }
    let input: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
    let target = resource(iam, place, prefix, operation, &input);
    let mut context = base_context(place, caller);
    if let Some(cluster) = &target.cluster {
        context.set("ecs:cluster", cluster.clone());
    }
    add_request_tags(&input, &mut context);
    // The resource's policy, and its tags only when one of the caller's policies reads a resource tag (known when
    // the caller's policies were compiled; the service adds them when its resource policy reads one).
    let want_tags = iam.policies_of(identity).uses_resource_tags();
    let facts = service.resource_facts(operation, &input, &target.arn, want_tags).await;
    let arn = facts.arn.unwrap_or(target.arn);
    let mut on_resource = context.clone();
    on_resource.add_resource_tags(prefix, &facts.tags);
    check(iam, identity, caller, &action, &arn, on_resource, prefix, facts.policy.as_ref())?;
    if let Some(created) = service.tag_on_create(operation, &input, &caller.arn) {
        // Tags on create need the tagging action too, told apart from a later TagResource by `ecs:CreateAction`.
        let mut context = context.clone();
        context.set(&format!("{prefix}:CreateAction"), operation);
        check(iam, identity, caller, &format!("{prefix}:TagResource"), &created, context, prefix, None)?;
    }
    let mut roles = passed_roles(prefix, operation, &input);
    roles.extend(definition_roles(place, prefix, operation, &input));
    for role in roles {
        let mut context = context.clone();
        context.set("iam:PassedToService", "ecs-tasks.amazonaws.com");
        check(iam, identity, caller, "iam:PassRole", &role, context, prefix, None)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check(
    iam: &Iam,
    identity: &Identity,
    caller: &Caller,
    action: &str,
    resource: &str,
    context: Context,
    prefix: &str,
    resource_policy: Option<&berth_iam::policy::NamedPolicy>,
) -> Result<(), ApiError> {
    let decision = iam.authorize(Authz { identity, arn: &caller.arn, action, resource, context, resource_policy });
    let allowed = decision.allowed();
    tracing::info!(target: "berth::audit", principal = %caller.arn, %action, %resource, allowed,
        reason = %decision.reason());
    if allowed {
        return Ok(());
    }
    Err(denied(&decision, &caller.arn, action, resource, prefix))
}

/// The denial: `AccessDeniedException` (400) on the JSON APIs, `AccessDenied` (403) on the query APIs,
/// `UnauthorizedOperation` (403) on EC2's.
fn denied(decision: &Decision, principal: &str, action: &str, resource: &str, prefix: &str) -> ApiError {
    let message = decision.denial_message(principal, action, resource);
    if prefix == "ec2" {
        // EC2's own code and preamble (its error document carries no `__type`).
        let message = format!("You are not authorized to perform this operation. {message}");
        return ApiError::new(StatusCode::FORBIDDEN, "UnauthorizedOperation", message);
    }
    if matches!(prefix, "iam" | "sts" | "elasticloadbalancing" | "cloudwatch") {
        let mut e = ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", message);
        e.query_code = Some("AccessDenied".into());
        return e;
    }
    ApiError::bad_request("AccessDeniedException", message)
}

fn base_context(place: &Place<'_>, caller: &Caller) -> Context {
    let mut context = Context::new();
    let secs = place.now.floor() as i64;
    if let Ok(ts) = jiff::Timestamp::from_second(secs) {
        context.set("aws:CurrentTime", ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    context.set("aws:EpochTime", secs.to_string());
    context.set("aws:SecureTransport", "false");
    context.set("aws:SourceAccount", place.account);
    context.set("aws:RequestedRegion", place.region);
    if let Some(ip) = caller.source_ip {
        context.set("aws:SourceIp", ip.to_string());
    }
    context
}

/// `aws:RequestTag/<key>` and `aws:TagKeys` from ECS-style (`tags: [{key, value}]`) or AWS-style
/// (`Tags: [{Key, Value}]`) tags.
fn add_request_tags(input: &Json, context: &mut Context) {
    let tags = input.get("tags").or_else(|| input.get("Tags")).and_then(Json::as_array);
    let Some(tags) = tags else { return };
    let mut keys = Vec::new();
    for tag in tags {
        let key = tag.get("key").or_else(|| tag.get("Key")).and_then(Json::as_str);
        let value = tag.get("value").or_else(|| tag.get("Value")).and_then(Json::as_str);
        if let Some(key) = key {
            keys.push(key.to_string());
            context.set(&format!("aws:RequestTag/{key}"), value.unwrap_or_default());
        }
    }
    context.set_many("aws:TagKeys", keys);
}

/// The roles an operation passes (each needs `iam:PassRole`).
fn passed_roles(prefix: &str, operation: &str, input: &Json) -> Vec<String> {
    let mut out = Vec::new();
    let mut take = |v: Option<&Json>| {
        if let Some(arn) = v.and_then(Json::as_str).filter(|a| !a.is_empty()) {
            out.push(arn.to_string());
        }
    };
    match (prefix, operation) {
        ("ecs", "RegisterTaskDefinition") => {
            take(input.get("taskRoleArn"));
            take(input.get("executionRoleArn"));
        }
        ("ecs", "RunTask" | "StartTask") => {
            let overrides = input.get("overrides");
            take(overrides.and_then(|o| o.get("taskRoleArn")));
            take(overrides.and_then(|o| o.get("executionRoleArn")));
        }
        ("ecs", "CreateService") => take(input.get("role")),
        ("ecs", "RegisterDaemonTaskDefinition") => {
            take(input.get("taskRoleArn"));
            take(input.get("executionRoleArn"));
        }
        _ => {}
    }
    out
}

/// The roles of the task definition a RunTask or StartTask runs that its overrides do not replace: running it
/// passes them, as on ECS.
fn definition_roles(place: &Place<'_>, prefix: &str, operation: &str, input: &Json) -> Vec<String> {
    if let (Some(lookup), ("ecs", "CreateDaemon" | "UpdateDaemon")) = (place.definition_roles, (prefix, operation)) {
        // A daemon's tasks run with its daemon task definition's roles: creating or updating it passes them.
        let Some(td) = str_of(input, "daemonTaskDefinitionArn") else { return Vec::new() };
        let arn = if td.starts_with("arn:") {
            td.to_string()
        } else {
            format!("arn:aws:ecs:{}:{}:daemon-task-definition/{td}", place.region, place.account)
        };
        return lookup(&arn).into_iter().map(|(_, role)| role).collect();
    }
    let (Some(lookup), ("ecs", "RunTask" | "StartTask")) = (place.definition_roles, (prefix, operation)) else {
        return Vec::new();
    };
    let Some(td) = str_of(input, "taskDefinition") else { return Vec::new() };
    let overridden = |member: &str| input.get("overrides").and_then(|o| str_of(o, member)).is_some();
    lookup(td).into_iter().filter(|(member, _)| !overridden(member)).map(|(_, role)| role).collect()
}

/// The resource an operation acts on, and the cluster for `ecs:cluster`.
struct Target {
    arn: String,
    cluster: Option<String>,
}

fn str_of<'a>(input: &'a Json, member: &str) -> Option<&'a str> {
    input.get(member).and_then(Json::as_str).filter(|s| !s.is_empty())
}

/// The one element of a single-element list member.
fn single<'a>(input: &'a Json, member: &str) -> Option<&'a str> {
    match input.get(member).and_then(Json::as_array).map(Vec::as_slice) {
        Some([one]) => one.as_str(),
        _ => None,
    }
}

fn resource(iam: &Iam, place: &Place<'_>, prefix: &str, operation: &str, input: &Json) -> Target {
    let arn = |service: &str, rest: &str| format!("arn:aws:{service}:{}:{}:{rest}", place.region, place.account);
    let named = |service: &str, kind: &str, value: &str| {
        if value.starts_with("arn:") { value.to_string() } else { arn(service, &format!("{kind}/{value}")) }
    };
    let star = || Target { arn: "*".into(), cluster: None };
    match prefix {
        "ecs" => {
            let cluster_name = str_of(input, "cluster")
                .or_else(|| str_of(input, "clusterName"))
                .or_else(|| matches!(operation, "DescribeClusters").then(|| single(input, "clusters")).flatten());
            let cluster_arn = cluster_name.map(|c| named("ecs", "cluster", c));
            let short_cluster =
                cluster_name.map(|c| c.rsplit('/').next().unwrap_or(c).to_string()).unwrap_or_else(|| "default".into());
            let with = |arn: String| Target { arn, cluster: cluster_arn.clone() };
            let task_definition = |td: &str| {
                if td.starts_with("arn:") {
                    td.to_string()
                } else if td.contains(':') {
                    arn("ecs", &format!("task-definition/{td}"))
                } else {
                    arn("ecs", &format!("task-definition/{td}:*"))
                }
            };
            match operation {
                "RunTask" | "StartTask" => match str_of(input, "taskDefinition") {
                    Some(td) => with(task_definition(td)),
                    None => with("*".into()),
                },
                "DescribeTaskDefinition" | "DeregisterTaskDefinition" => match str_of(input, "taskDefinition") {
                    Some(td) => with(task_definition(td)),
                    None => star(),
                },
                "CreateService" => match str_of(input, "serviceName") {
                    Some(name) => with(arn("ecs", &format!("service/{short_cluster}/{name}"))),
                    None => with("*".into()),
                },
                "UpdateTaskSet" | "DeleteTaskSet" => match (str_of(input, "taskSet"), str_of(input, "service")) {
                    (Some(t), _) if t.starts_with("arn:") => with(t.to_string()),
                    (Some(t), Some(s)) => {
                        let service = s.rsplit('/').next().unwrap_or(s);
                        with(arn("ecs", &format!("task-set/{short_cluster}/{service}/{t}")))
                    }
                    _ => with("*".into()),
                },
                "UpdateService"
                | "DeleteService"
                | "DescribeServices"
                | "CreateTaskSet"
                | "DescribeTaskSets"
                | "UpdateServicePrimaryTaskSet" => {
                    match str_of(input, "service").or_else(|| single(input, "services")) {
                        Some(s) if s.starts_with("arn:") => with(s.to_string()),
                        Some(s) => with(arn("ecs", &format!("service/{short_cluster}/{s}"))),
                        None => with("*".into()),
                    }
                }
                "StopTask" | "DescribeTasks" => match str_of(input, "task").or_else(|| single(input, "tasks")) {
                    Some(t) if t.starts_with("arn:") => with(t.to_string()),
                    Some(t) => with(arn("ecs", &format!("task/{short_cluster}/{t}"))),
                    None => with("*".into()),
                },
                "CreateCapacityProvider"
                | "UpdateCapacityProvider"
                | "DeleteCapacityProvider"
                | "DescribeCapacityProviders" => {
                    match str_of(input, "name")
                        .or_else(|| str_of(input, "capacityProvider"))
                        .or_else(|| single(input, "capacityProviders"))
                    {
                        Some(p) => Target { arn: named("ecs", "capacity-provider", p), cluster: None },
                        None => star(),
                    }
                }
                "CreateDaemon" => {
                    let cluster =
                        str_of(input, "clusterArn").map(|c| c.rsplit('/').next().unwrap_or(c)).unwrap_or("default");
                    match str_of(input, "daemonName") {
                        Some(name) => Target {
                            arn: arn("ecs", &format!("daemon/{cluster}/{name}")),
                            cluster: Some(named("ecs", "cluster", cluster)),
                        },
                        None => star(),
                    }
                }
                "UpdateDaemon" | "DeleteDaemon" | "DescribeDaemon" | "ListDaemonDeployments" => {
                    str_of(input, "daemonArn").map_or_else(star, |d| Target { arn: d.to_string(), cluster: None })
                }
                "RegisterDaemonTaskDefinition" => match str_of(input, "family") {
                    Some(f) => Target { arn: arn("ecs", &format!("daemon-task-definition/{f}:*")), cluster: None },
                    None => star(),
                },
                "DescribeDaemonTaskDefinition" | "DeleteDaemonTaskDefinition" => {
                    match str_of(input, "daemonTaskDefinition") {
                        Some(td) if td.starts_with("arn:") => Target { arn: td.to_string(), cluster: None },
                        Some(td) if td.contains(':') => {
                            Target { arn: arn("ecs", &format!("daemon-task-definition/{td}")), cluster: None }
                        }
                        Some(td) => {
                            Target { arn: arn("ecs", &format!("daemon-task-definition/{td}:*")), cluster: None }
                        }
                        None => star(),
                    }
                }
                "TagResource" | "UntagResource" | "ListTagsForResource" => match str_of(input, "resourceArn") {
                    Some(r) => with(r.to_string()),
                    None => star(),
                },
                op if op.starts_with("List") || op == "RegisterTaskDefinition" => with("*".into()),
                _ => match &cluster_arn {
                    Some(c) => with(c.clone()),
                    None => star(),
                },
            }
        }
        "ecr" => match str_of(input, "repositoryName") {
            Some(r) => Target { arn: arn("ecr", &format!("repository/{r}")), cluster: None },
            None => str_of(input, "resourceArn").map_or_else(star, |r| Target { arn: r.into(), cluster: None }),
        },
        "logs" => {
            let group = str_of(input, "logGroupName").or_else(|| str_of(input, "logGroupIdentifier"));
            match group {
                Some(g) if g.starts_with("arn:") => {
                    Target { arn: g.trim_end_matches(":*").to_string() + ":*", cluster: None }
                }
                Some(g) => Target { arn: arn("logs", &format!("log-group:{g}:*")), cluster: None },
                None => star(),
            }
        }
        "secretsmanager" => match str_of(input, "SecretId").or_else(|| str_of(input, "Name")) {
            Some(s) if s.starts_with("arn:") => Target { arn: s.into(), cluster: None },
            Some(s) => Target { arn: arn("secretsmanager", &format!("secret:{s}")), cluster: None },
            None => star(),
        },
        "ssm" => match str_of(input, "Name").or_else(|| single(input, "Names")).or_else(|| str_of(input, "Path")) {
            Some(p) if p.starts_with("arn:") => Target { arn: p.into(), cluster: None },
            Some(p) => Target { arn: arn("ssm", &format!("parameter/{}", p.trim_start_matches('/'))), cluster: None },
            None => star(),
        },
        "kms" => match str_of(input, "KeyId") {
            Some(k) if k.starts_with("alias/") => Target { arn: arn("kms", k), cluster: None },
            Some(k) => Target { arn: named("kms", "key", k), cluster: None },
            None => star(),
        },
        "acm" => match str_of(input, "CertificateArn") {
            Some(c) => Target { arn: c.into(), cluster: None },
            None => star(),
        },
        "elasticloadbalancing" => {
            let member = ["ListenerArn", "RuleArn", "TargetGroupArn", "LoadBalancerArn"]
                .iter()
                .find_map(|m| str_of(input, m))
                .or_else(|| single(input, "ResourceArns"))
                .or_else(|| single(input, "LoadBalancerArns"))
                .or_else(|| single(input, "TargetGroupArns"));
            member.map_or_else(star, |a| Target { arn: a.into(), cluster: None })
        }
        "cloudwatch" => match str_of(input, "AlarmName").or_else(|| single(input, "AlarmNames")) {
            Some(a) => Target { arn: arn("cloudwatch", &format!("alarm:{a}")), cluster: None },
            None => star(),
        },
        "iam" => {
            let account = place.account;
            let state_arn = if let Some(role) = str_of(input, "RoleName") {
                Some(iam.role_arn(role).unwrap_or_else(|| format!("arn:aws:iam::{account}:role/{role}")))
            } else if let Some(user) = str_of(input, "UserName") {
                Some(format!("arn:aws:iam::{account}:user/{user}"))
            } else if let Some(group) = str_of(input, "GroupName") {
                Some(format!("arn:aws:iam::{account}:group/{group}"))
            } else if let Some(policy) = str_of(input, "PolicyArn") {
                Some(policy.to_string())
            } else {
                str_of(input, "PolicyName").map(|p| format!("arn:aws:iam::{account}:policy/{p}"))
            };
            Target { arn: state_arn.unwrap_or_else(|| "*".into()), cluster: None }
        }
        _ => star(),
    }
}

/// The registry's `/v2/` under IAM: a pull or push is the ECR action it stands for (`ecr:BatchGetImage`,
/// `ecr:GetDownloadUrlForLayer`, `ecr:PutImage`, `ecr:InitiateLayerUpload` ...) on the repository, with its
/// policies and tags, evaluated for the principal whose access key obtained the token (the root key and agents'
/// tokens pass).
pub struct RegistryAccess {
    /// IAM.
    pub iam: std::sync::Arc<Iam>,
    /// The root access key ids.
    pub root_keys: Vec<String>,
}

impl berth_registry::AccessPolicy for RegistryAccess {
    fn authorize(
        &self,
        access_key_id: &str,
        action: &str,
        resource: &str,
        resource_policy: Option<&berth_iam::policy::NamedPolicy>,
    ) -> Result<(), String> {
        self.authorize_tagged(access_key_id, action, resource, resource_policy, &[])
    }

    fn authorize_tagged(
        &self,
        access_key_id: &str,
        action: &str,
        resource: &str,
        resource_policy: Option<&berth_iam::policy::NamedPolicy>,
        tags: &[(String, String)],
    ) -> Result<(), String> {
        if self.root_keys.iter().any(|k| k == access_key_id) {
            tracing::debug!(target: "berth::audit", principal = "account root", %action, %resource, allowed = true,
                reason = "account root");
            return Ok(());
        }
        let Some(found) = self.iam.lookup_key(access_key_id) else {
            tracing::info!(target: "berth::audit", access_key = %access_key_id, %action, %resource, allowed = false,
                reason = "the key the token was issued to is gone");
            return Err(format!("the access key {access_key_id} this token was issued to no longer exists"));
        };
        let mut context = Context::new();
        context.add_resource_tags("ecr", tags);
        let decision = self.iam.authorize(Authz {
            identity: &found.identity,
            arn: &found.arn,
            action,
            resource,
            context,
            resource_policy,
        });
        let allowed = decision.allowed();
        tracing::info!(target: "berth::audit", principal = %found.arn, %action, %resource, allowed,
            reason = %decision.reason());
        if allowed { Ok(()) } else { Err(decision.denial_message(&found.arn, action, resource)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passed_roles_come_from_task_definitions_overrides_and_services() {
        let td = serde_json::json!({"family": "f", "taskRoleArn": "arn:aws:iam::1:role/t", "executionRoleArn": ""});
        assert_eq!(passed_roles("ecs", "RegisterTaskDefinition", &td), vec!["arn:aws:iam::1:role/t".to_string()]);
        let run = serde_json::json!({"overrides": {"executionRoleArn": "arn:aws:iam::1:role/e"}});
        assert_eq!(passed_roles("ecs", "RunTask", &run), vec!["arn:aws:iam::1:role/e".to_string()]);
        assert!(passed_roles("ecs", "ListClusters", &run).is_empty());
        let daemon =
            serde_json::json!({"family": "d", "taskRoleArn": "arn:aws:iam::1:role/d", "containerDefinitions": []});
        assert_eq!(
            passed_roles("ecs", "RegisterDaemonTaskDefinition", &daemon),
            vec!["arn:aws:iam::1:role/d".to_string()]
        );
    }

    #[test]
    fn running_a_definition_passes_the_roles_its_overrides_do_not_replace() {
        let lookup = |td: &str| {
            assert_eq!(td, "web:3");
            vec![("taskRoleArn", "arn:t".to_string()), ("executionRoleArn", "arn:e".to_string())]
        };
        let place = Place { region: "r", account: "1", now: 0.0, definition_roles: Some(&lookup) };
        let run = serde_json::json!({"taskDefinition": "web:3"});
        assert_eq!(definition_roles(&place, "ecs", "RunTask", &run), ["arn:t", "arn:e"]);
        let overridden = serde_json::json!({"taskDefinition": "web:3", "overrides": {"taskRoleArn": "arn:o"}});
        assert_eq!(definition_roles(&place, "ecs", "StartTask", &overridden), ["arn:e"]);
        assert!(definition_roles(&place, "ecs", "DescribeTaskDefinition", &run).is_empty());
        let none = Place { definition_roles: None, ..place };
        assert!(definition_roles(&none, "ecs", "RunTask", &run).is_empty());
    }

    async fn iam() -> std::sync::Arc<Iam> {
        let store: berth_store::SharedStore = std::sync::Arc::new(berth_store::MemoryStore::new());
        let clock: std::sync::Arc<dyn berth_model::clock::Clock> =
            std::sync::Arc::new(berth_model::clock::ManualClock::new(1_800_000_000.0));
        let config = berth_iam::IamConfig::new("111122223333");
        Iam::open(config, store, clock, std::sync::Arc::new(berth_iam::EncodeOnly)).await.unwrap()
    }

    #[tokio::test]
    async fn resources_are_the_arns_requests_name() {
        let iam = iam().await;
        let place = Place { region: "us-east-1", account: "111122223333", now: 0.0, definition_roles: None };
        let a = "arn:aws:ecs:us-east-1:111122223333";
        let cases: &[(&str, &str, serde_json::Value, &str)] = &[
            ("ecs", "CreateCluster", serde_json::json!({"clusterName": "prod"}), "cluster/prod"),
            ("ecs", "DescribeClusters", serde_json::json!({"clusters": ["prod"]}), "cluster/prod"),
            ("ecs", "DescribeClusters", serde_json::json!({"clusters": ["a", "b"]}), "*"),
            ("ecs", "ListServices", serde_json::json!({"cluster": "prod"}), "*"),
            (
                "ecs",
                "RunTask",
                serde_json::json!({"cluster": "prod", "taskDefinition": "web:3"}),
                "task-definition/web:3",
            ),
            ("ecs", "RunTask", serde_json::json!({"taskDefinition": "web"}), "task-definition/web:*"),
            ("ecs", "CreateService", serde_json::json!({"cluster": "prod", "serviceName": "api"}), "service/prod/api"),
            ("ecs", "UpdateService", serde_json::json!({"service": "api"}), "service/default/api"),
            ("ecs", "StopTask", serde_json::json!({"cluster": "prod", "task": "abc"}), "task/prod/abc"),
            ("ecs", "CreateTaskSet", serde_json::json!({"cluster": "prod", "service": "api"}), "service/prod/api"),
            (
                "ecs",
                "UpdateTaskSet",
                serde_json::json!({"cluster": "prod", "service": "api", "taskSet": "ecs-svc/12"}),
                "task-set/prod/api/ecs-svc/12",
            ),
            ("ecs", "UpdateCluster", serde_json::json!({"cluster": format!("{a}:cluster/x")}), "cluster/x"),
        ];
        for (prefix, op, input, want) in cases {
            let got = resource(&iam, &place, prefix, op, input).arn;
            let want = if *want == "*" { "*".to_string() } else { format!("{a}:{want}") };
            assert_eq!(got, want, "{prefix}:{op} {input}");
        }
        let other = |prefix: &str, input: serde_json::Value| resource(&iam, &place, prefix, "X", &input).arn;
        assert_eq!(
            other("ecr", serde_json::json!({"repositoryName": "app"})),
            "arn:aws:ecr:us-east-1:111122223333:repository/app"
        );
        assert_eq!(
            other("logs", serde_json::json!({"logGroupName": "/ecs/a"})),
            "arn:aws:logs:us-east-1:111122223333:log-group:/ecs/a:*"
        );
        assert_eq!(
            other("ssm", serde_json::json!({"Name": "/a/b"})),
            "arn:aws:ssm:us-east-1:111122223333:parameter/a/b"
        );
        assert_eq!(
            other("secretsmanager", serde_json::json!({"SecretId": "db"})),
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:db"
        );
        assert_eq!(other("iam", serde_json::json!({"UserName": "bob"})), "arn:aws:iam::111122223333:user/bob");
        assert_eq!(
            other("kms", serde_json::json!({"KeyId": "alias/app"})),
            "arn:aws:kms:us-east-1:111122223333:alias/app"
        );
        let cert = "arn:aws:acm:us-east-1:111122223333:certificate/1";
        assert_eq!(other("acm", serde_json::json!({"CertificateArn": cert})), cert);
        assert_eq!(other("acm", serde_json::json!({})), "*");
        assert_eq!(other("servicediscovery", serde_json::json!({"Id": "x"})), "*");
        // The cluster is a condition key wherever it is known.
        let run =
            resource(&iam, &place, "ecs", "RunTask", &serde_json::json!({"cluster": "prod", "taskDefinition": "w:1"}));
        assert_eq!(run.cluster.as_deref(), Some("arn:aws:ecs:us-east-1:111122223333:cluster/prod"));
    }

    #[tokio::test]
    async fn registry_pulls_see_the_repositorys_tags() {
        use berth_registry::AccessPolicy as _;
        let iam = iam().await;
        let root = berth_iam::ops::Caller { arn: "arn:aws:iam::111122223333:root".into(), identity: None };
        let call = |op: &'static str, input: serde_json::Value| {
            let iam = iam.clone();
            let root = root.clone();
            async move {
                let out = iam.call_iam(op, input.to_string().as_bytes(), &root).await.expect(op);
                serde_json::from_slice::<serde_json::Value>(&out).expect("json")
            }
        };
        call("CreateUser", serde_json::json!({"UserName": "puller"})).await;
        let key = call("CreateAccessKey", serde_json::json!({"UserName": "puller"})).await;
        let key_id = key["AccessKey"]["AccessKeyId"].as_str().expect("key").to_string();
        let blue = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"ecr:ResourceTag/team":"blue"}}}}"#;
        call("PutUserPolicy", serde_json::json!({"UserName": "puller", "PolicyName": "p", "PolicyDocument": blue}))
            .await;
        let access = RegistryAccess { iam: iam.clone(), root_keys: Vec::new() };
        let repo = "arn:aws:ecr:us-east-1:111122223333:repository/app";
        let tags = |team: &str| vec![("team".to_string(), team.to_string())];
        assert!(access.authorize_tagged(&key_id, "ecr:BatchGetImage", repo, None, &tags("blue")).is_ok());
        assert!(access.authorize_tagged(&key_id, "ecr:BatchGetImage", repo, None, &tags("red")).is_err());
        assert!(access.authorize(&key_id, "ecr:BatchGetImage", repo, None).is_err(), "untagged");
    }

    #[test]
    fn request_tags_become_condition_keys() {
        let mut context = Context::new();
        add_request_tags(&serde_json::json!({"tags": [{"key": "env", "value": "dev"}]}), &mut context);
        assert_eq!(context.get("aws:requesttag/env"), Some(&["dev".to_string()][..]));
        assert_eq!(context.get("aws:tagkeys"), Some(&["env".to_string()][..]));
    }
}
