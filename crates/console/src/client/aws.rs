//! The other services' calls the pages make: STS (who signed in), ECR (repositories, images, scan findings),
//! CloudWatch Logs (a log stream's tail), CloudWatch (a metric's series) and ELBv2 (load balancers, target groups,
//! target health). JSON answers stay `serde_json::Value`s read by the pages; the query protocol's XML is read here.

use super::xml::Element;
use super::{Api, ApiError, CLOUDWATCH, Caller, ECR, LOGS};
use serde_json::{Value, json};

/// The most pages of one list the console reads.
const MAX_PAGES: usize = 20;

/// ELBv2's API version.
const ELBV2_VERSION: &str = "2015-12-01";

/// The ARN of the principal whose keys these are (STS GetCallerIdentity, which needs no permission).
pub async fn caller_identity(api: &Api, caller: Caller<'_>) -> Result<String, ApiError> {
    let doc = api
        .query(caller, berth_model::sts::SIGNING_NAME, &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")])
        .await?;
    doc.find("Arn").map(|a| a.text.clone()).filter(|a| !a.is_empty()).ok_or_else(|| ApiError::Internal {
        operation: "GetCallerIdentity".into(),
        detail: "the answer names no ARN".into(),
    })
}

/// Every page of a JSON list operation (`nextToken`), at most `max_pages` of them: the items of `member`.
pub(super) async fn pages(
    api: &Api,
    caller: Caller<'_>,
    service: super::JsonService,
    operation: &str,
    input: Value,
    member: &str,
    max_pages: usize,
) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..max_pages {
        let mut request = input.clone();
        if let (Some(token), Some(object)) = (&token, request.as_object_mut()) {
            object.insert("nextToken".into(), json!(token));
        }
        let page = api.json(caller, service, operation, &request).await?;
        if let Some(items) = page.get(member).and_then(Value::as_array) {
            out.extend(items.iter().cloned());
        }
        token = page.get("nextToken").and_then(Value::as_str).map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// ECR's repositories.
pub async fn repositories(api: &Api, caller: Caller<'_>) -> Result<Vec<Value>, ApiError> {
    pages(api, caller, ECR, "DescribeRepositories", json!({}), "repositories", MAX_PAGES).await
}

/// A repository's images, newest push first.
pub async fn images(api: &Api, caller: Caller<'_>, repository: &str) -> Result<Vec<Value>, ApiError> {
    let mut images =
        pages(api, caller, ECR, "DescribeImages", json!({ "repositoryName": repository }), "imageDetails", MAX_PAGES)
            .await?;
    let pushed = |v: &Value| v.get("imagePushedAt").and_then(Value::as_f64).unwrap_or(0.0);
    images.sort_by(|a, b| pushed(b).total_cmp(&pushed(a)));
    Ok(images)
}

/// An image's scan findings (the first page: up to 1000).
pub async fn scan_findings(api: &Api, caller: Caller<'_>, repository: &str, digest: &str) -> Result<Value, ApiError> {
    let input = json!({ "repositoryName": repository, "imageId": { "imageDigest": digest }, "maxResults": 1000 });
    api.json(caller, ECR, "DescribeImageScanFindings", &input).await
}

/// A log event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    /// Milliseconds since the epoch.
    pub timestamp: f64,
    /// The message.
    pub message: String,
}

/// The last `limit` events of a log stream, oldest first.
pub async fn log_tail(
    api: &Api,
    caller: Caller<'_>,
    group: &str,
    stream: &str,
    limit: u32,
) -> Result<Vec<LogEvent>, ApiError> {
    let input = json!({ "logGroupName": group, "logStreamName": stream, "limit": limit, "startFromHead": false });
    let answer = api.json(caller, LOGS, "GetLogEvents", &input).await?;
    Ok(answer
        .get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .map(|e| LogEvent {
                    timestamp: e.get("timestamp").and_then(Value::as_f64).unwrap_or(0.0),
                    message: e.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default())
}

/// A metric's average per `period` seconds between `start` and `end` (epoch seconds), in time order.
pub async fn metric_averages(
    api: &Api,
    caller: Caller<'_>,
    namespace: &str,
    metric: &str,
    dimensions: &[(&str, &str)],
    (start, end, period): (f64, f64, u32),
) -> Result<Vec<(f64, f64)>, ApiError> {
    let dimensions: Vec<Value> = dimensions.iter().map(|(n, v)| json!({ "Name": n, "Value": v })).collect();
    let input = json!({
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": dimensions,
        "StartTime": start.floor(),
        "EndTime": end.ceil(),
        "Period": period,
        "Statistics": ["Average"],
    });
    let answer = api.json(caller, CLOUDWATCH, "GetMetricStatistics", &input).await?;
    let mut points: Vec<(f64, f64)> = answer
        .get("Datapoints")
        .and_then(Value::as_array)
        .map(|points| {
            points.iter().filter_map(|p| Some((p.get("Timestamp")?.as_f64()?, p.get("Average")?.as_f64()?))).collect()
        })
        .unwrap_or_default();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(points)
}

/// A load balancer as the console shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadBalancer {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its DNS name.
    pub dns_name: String,
    /// `application` or `network`.
    pub kind: String,
    /// `internet-facing` or `internal`.
    pub scheme: String,
    /// `active`, `provisioning` ...
    pub state: String,
}

/// A target group with its targets' health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Protocol and port (`HTTP:80`).
    pub protocol_port: String,
    /// `instance`, `ip` ...
    pub target_type: String,
    /// The load balancers that route to it.
    pub load_balancer_arns: Vec<String>,
    /// Its targets.
    pub targets: Vec<TargetHealth>,
}

/// A target's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetHealth {
    /// The target's id (an instance id or an address).
    pub id: String,
    /// Its port.
    pub port: String,
    /// `healthy`, `unhealthy`, `initial`, `draining` ...
    pub state: String,
    /// The reason code, when not healthy.
    pub reason: String,
    /// The description, when not healthy.
    pub description: String,
}

/// ELBv2 operation through the query protocol.
async fn elb(api: &Api, caller: Caller<'_>, action: &str, params: &[(&str, &str)]) -> Result<Element, ApiError> {
    let mut all = vec![("Action", action), ("Version", ELBV2_VERSION)];
    all.extend_from_slice(params);
    api.query(caller, berth_model::elbv2::SIGNING_NAME, &all).await
}

/// The `*Result` element of an answer.
fn result<'a>(doc: &'a Element, action: &str) -> Option<&'a Element> {
    doc.child(&format!("{action}Result"))
}

/// Every load balancer.
pub async fn load_balancers(api: &Api, caller: Caller<'_>) -> Result<Vec<LoadBalancer>, ApiError> {
    let doc = elb(api, caller, "DescribeLoadBalancers", &[]).await?;
    let text = |e: &Element, name: &str| e.child_text(name).unwrap_or_default().to_string();
    Ok(result(&doc, "DescribeLoadBalancers")
        .map(|r| r.members("LoadBalancers"))
        .unwrap_or_default()
        .into_iter()
        .map(|m| LoadBalancer {
            arn: text(m, "LoadBalancerArn"),
            name: text(m, "LoadBalancerName"),
            dns_name: text(m, "DNSName"),
            kind: text(m, "Type"),
            scheme: text(m, "Scheme"),
            state: m.path_text(&["State", "Code"]).unwrap_or_default().to_string(),
        })
        .collect())
}

/// Every target group, each with its targets' health.
pub async fn target_groups(api: &Api, caller: Caller<'_>) -> Result<Vec<TargetGroup>, ApiError> {
    let doc = elb(api, caller, "DescribeTargetGroups", &[]).await?;
    let text = |e: &Element, name: &str| e.child_text(name).unwrap_or_default().to_string();
    let mut groups: Vec<TargetGroup> = result(&doc, "DescribeTargetGroups")
        .map(|r| r.members("TargetGroups"))
        .unwrap_or_default()
        .into_iter()
        .map(|m| TargetGroup {
            arn: text(m, "TargetGroupArn"),
            name: text(m, "TargetGroupName"),
            protocol_port: format!("{}:{}", text(m, "Protocol"), text(m, "Port")),
            target_type: text(m, "TargetType"),
            load_balancer_arns: m.members("LoadBalancerArns").into_iter().map(|a| a.text.clone()).collect(),
            targets: Vec::new(),
        })
        .collect();
    for group in &mut groups {
        let doc = elb(api, caller, "DescribeTargetHealth", &[("TargetGroupArn", &group.arn)]).await?;
        group.targets = result(&doc, "DescribeTargetHealth")
            .map(|r| r.members("TargetHealthDescriptions"))
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let health = |name: &str| m.path_text(&["TargetHealth", name]).unwrap_or_default().to_string();
                TargetHealth {
                    id: m.path_text(&["Target", "Id"]).unwrap_or_default().to_string(),
                    port: m.path_text(&["Target", "Port"]).unwrap_or_default().to_string(),
                    state: health("State"),
                    reason: health("Reason"),
                    description: health("Description"),
                }
            })
            .collect();
    }
    Ok(groups)
}
