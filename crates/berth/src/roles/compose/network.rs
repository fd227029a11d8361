//! The project's networks on Berth (`berth_compose::networks` says what they are): the default VPC's default
//! subnets, a security group per compose network (members reach each other on every port) and per service that
//! publishes ports (those ports open to every source), a private DNS namespace in Cloud Map, and a Cloud Map service
//! per awsvpc compose service whose A records ECS keeps at the service's task addresses. `up` makes what is
//! missing ([`ensure`]); `down` removes what the project made ([`remove`]). Every call goes through the signed EC2
//! and Cloud Map APIs, as the aws CLI would make them.

use super::api::Api;
use anyhow::{Context, bail};
use berth_compose::networks::{self, Network};
use berth_compose::translate::{PROJECT_TAG, Placement};
use berth_compose::{Project, Service};
use berth_console::client::xml::Element;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// EC2's API version.
const EC2_VERSION: &str = "2016-11-15";
/// The TTL of the services' A records (seconds): short, as compose's names follow containers at once.
const RECORD_TTL: u64 = 5;

/// The `<item>` children of the child list `name` (EC2's list shape).
fn items<'a>(element: &'a Element, name: &str) -> Vec<&'a Element> {
    element.child(name).map(|list| list.children.iter().filter(|c| c.name == "item").collect()).unwrap_or_default()
}

/// The project's networks as made: each awsvpc service's placement by its compose name.
pub struct ProjectNetwork {
    /// Placement per awsvpc service.
    pub placements: BTreeMap<String, Placement>,
}

impl Api {
    /// Calls an EC2 action.
    async fn ec2(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<Element> {
        crate::roles::aws::call_query(self.sdk(), "ec2", EC2_VERSION, action, params).await
    }

    /// Calls a Cloud Map action.
    async fn cloud_map(&self, action: &str, body: Value) -> anyhow::Result<Value> {
        crate::roles::aws::call_json(
            self.sdk(),
            "servicediscovery",
            &format!("Route53AutoNaming_v20170314.{action}"),
            &body,
        )
        .await
    }
}

/// Makes the project's networks, groups, namespace and Cloud Map services exist; returns each awsvpc service's
/// placement.
pub async fn ensure(api: &Api, project: &Project) -> anyhow::Result<ProjectNetwork> {
    let services: Vec<&Service> = project.services.iter().filter(|s| s.network_mode == "awsvpc").collect();
    if services.is_empty() {
        return Ok(ProjectNetwork { placements: BTreeMap::new() });
    }
    let vpc = default_vpc(api).await?;
    let subnets = default_subnets(api, &vpc).await?;
    let mut groups: BTreeMap<&str, String> = BTreeMap::new();
    for (name, network) in &project.networks {
        if services.iter().any(|s| s.networks.iter().any(|n| n == name)) {
            groups.insert(name, network_group(api, project, &vpc, network).await?);
        }
    }
    let namespace = ensure_namespace(api, project, &vpc).await?;
    let mut placements = BTreeMap::new();
    for service in services {
        let mut security_groups: Vec<String> =
            service.networks.iter().filter_map(|n| groups.get(n.as_str()).cloned()).collect();
        if let Some(published) = published_group(api, project, &vpc, service).await? {
            security_groups.push(published);
        }
        let registry_arn = ensure_registry(api, &namespace, &service.name).await?;
        placements.insert(service.name.clone(), Placement { subnets: subnets.clone(), security_groups, registry_arn });
    }
    Ok(ProjectNetwork { placements })
}

/// The default VPC's id.
async fn default_vpc(api: &Api) -> anyhow::Result<String> {
    let answer = api.ec2("DescribeVpcs", &[("Filter.1.Name", "is-default"), ("Filter.1.Value.1", "true")]).await?;
    items(&answer, "vpcSet")
        .first()
        .and_then(|v| v.child_text("vpcId"))
        .map(str::to_string)
        .context("Berth has no default VPC (DescribeVpcs is-default=true found none)")
}

/// The default VPC's default subnet of each availability zone.
async fn default_subnets(api: &Api, vpc: &str) -> anyhow::Result<Vec<String>> {
    let answer = api
        .ec2(
            "DescribeSubnets",
            &[
                ("Filter.1.Name", "vpc-id"),
                ("Filter.1.Value.1", vpc),
                ("Filter.2.Name", "default-for-az"),
                ("Filter.2.Value.1", "true"),
            ],
        )
        .await?;
    let subnets: Vec<String> =
        items(&answer, "subnetSet").iter().filter_map(|s| s.child_text("subnetId").map(str::to_string)).collect();
    if subnets.is_empty() {
        bail!("the default VPC {vpc} has no default subnets");
    }
    Ok(subnets)
}

/// The group named `name` in `vpc`, as DescribeSecurityGroups answers it.
async fn find_group(api: &Api, vpc: &str, name: &str) -> anyhow::Result<Option<Element>> {
    let filter = if name.starts_with("sg-") { "group-id" } else { "group-name" };
    let answer = api
        .ec2(
            "DescribeSecurityGroups",
            &[
                ("Filter.1.Name", "vpc-id"),
                ("Filter.1.Value.1", vpc),
                ("Filter.2.Name", filter),
                ("Filter.2.Value.1", name),
            ],
        )
        .await?;
    Ok(items(&answer, "securityGroupInfo").first().map(|g| (*g).clone()))
}

/// Creates the group `name` tagged with the project; returns its id.
async fn create_group(
    api: &Api,
    project: &Project,
    vpc: &str,
    name: &str,
    description: &str,
) -> anyhow::Result<String> {
    let answer = api
        .ec2(
            "CreateSecurityGroup",
            &[
                ("GroupName", name),
                ("GroupDescription", description),
                ("VpcId", vpc),
                ("TagSpecification.1.ResourceType", "security-group"),
                ("TagSpecification.1.Tag.1.Key", PROJECT_TAG),
                ("TagSpecification.1.Tag.1.Value", &project.name),
            ],
        )
        .await
        .with_context(|| format!("creating the security group {name}"))?;
    answer.find("groupId").map(|g| g.text.clone()).context("CreateSecurityGroup answered no groupId")
}

/// The ingress permissions of a described group as (protocol, from, to, source) with the source a group id or a
/// CIDR.
fn ingress(group: &Element) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for permission in items(group, "ipPermissions") {
        let text = |name: &str| permission.child_text(name).unwrap_or_default().to_string();
        let (protocol, from, to) = (text("ipProtocol"), text("fromPort"), text("toPort"));
        for pair in items(permission, "groups") {
            out.push((
                protocol.clone(),
                from.clone(),
                to.clone(),
                pair.child_text("groupId").unwrap_or_default().into(),
            ));
        }
        for range in items(permission, "ipRanges") {
            out.push((
                protocol.clone(),
                from.clone(),
                to.clone(),
                range.child_text("cidrIp").unwrap_or_default().into(),
            ));
        }
    }
    out
}

/// The security group of a compose network: found (an external one must exist), or created with ingress on every
/// protocol and port from its own members.
async fn network_group(api: &Api, project: &Project, vpc: &str, network: &Network) -> anyhow::Result<String> {
    let name = &network.group_name;
    let found = find_group(api, vpc, name).await?;
    if network.external {
        let group = found.with_context(|| format!("the external network {name:?} names no security group in {vpc}"))?;
        return group.child_text("groupId").map(str::to_string).context("a group without an id");
    }
    let (id, rules) = match found {
        Some(group) => (group.child_text("groupId").unwrap_or_default().to_string(), ingress(&group)),
        None => {
            let description = format!("compose network of project {}", project.name);
            (create_group(api, project, vpc, name, &description).await?, Vec::new())
        }
    };
    if !rules.iter().any(|(protocol, _, _, source)| protocol == "-1" && *source == id) {
        api.ec2(
            "AuthorizeSecurityGroupIngress",
            &[("GroupId", &id), ("IpPermissions.1.IpProtocol", "-1"), ("IpPermissions.1.Groups.1.GroupId", &id)],
        )
        .await
        .with_context(|| format!("letting the members of {name} reach each other"))?;
    }
    Ok(id)
}

/// The group that opens a service's `ports` (its container ports, whether or not a host port publishes them too) to
/// every source, its rules made to match the file (ports no longer listed are revoked); `None` when the service
/// lists none (a group left by an earlier `up` is deleted then).
async fn published_group(api: &Api, project: &Project, vpc: &str, service: &Service) -> anyhow::Result<Option<String>> {
    let name = networks::published_group_name(&project.name, &service.name);
    let mut wanted: Vec<(String, String)> =
        service.ports.iter().map(|p| (p.protocol.clone(), p.container.to_string())).collect();
    wanted.sort();
    wanted.dedup();
    let found = find_group(api, vpc, &name).await?;
    if wanted.is_empty() {
        if let Some(group) = found {
            let id = group.child_text("groupId").unwrap_or_default().to_string();
            // Still used by the service's running tasks until its update replaces them: left for `down` then.
            let _ = api.ec2("DeleteSecurityGroup", &[("GroupId", &id)]).await;
        }
        return Ok(None);
    }
    let (id, rules) = match found {
        Some(group) => (group.child_text("groupId").unwrap_or_default().to_string(), ingress(&group)),
        None => {
            let description = format!("published ports of {} in project {}", service.name, project.name);
            (create_group(api, project, vpc, &name, &description).await?, Vec::new())
        }
    };
    for (protocol, from, to, source) in &rules {
        if from != to || !wanted.contains(&(protocol.clone(), from.clone())) || source != "0.0.0.0/0" {
            let (p, f, t, s) = (protocol.as_str(), from.as_str(), to.as_str(), source.as_str());
            api.ec2(
                "RevokeSecurityGroupIngress",
                &[
                    ("GroupId", &id),
                    ("IpPermissions.1.IpProtocol", p),
                    ("IpPermissions.1.FromPort", f),
                    ("IpPermissions.1.ToPort", t),
                    ("IpPermissions.1.IpRanges.1.CidrIp", s),
                ],
            )
            .await
            .with_context(|| format!("closing {f}/{p} in {name}"))?;
        }
    }
    for (protocol, port) in &wanted {
        if rules.iter().any(|(p, f, t, s)| p == protocol && f == port && t == port && s == "0.0.0.0/0") {
            continue;
        }
        api.ec2(
            "AuthorizeSecurityGroupIngress",
            &[
                ("GroupId", &id),
                ("IpPermissions.1.IpProtocol", protocol),
                ("IpPermissions.1.FromPort", port),
                ("IpPermissions.1.ToPort", port),
                ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
            ],
        )
        .await
        .with_context(|| format!("opening {port}/{protocol} in {name}"))?;
    }
    Ok(Some(id))
}

/// The project's namespace's id, created (tagged with the project) when missing.
async fn ensure_namespace(api: &Api, project: &Project, vpc: &str) -> anyhow::Result<String> {
    let name = networks::namespace(&project.name);
    if let Some(id) = find_namespace(api, &name).await? {
        return Ok(id);
    }
    let created = api
        .cloud_map(
            "CreatePrivateDnsNamespace",
            json!({"Name": name, "Vpc": vpc, "Tags": [{"Key": PROJECT_TAG, "Value": project.name}],
                   "Description": format!("compose project {}", project.name)}),
        )
        .await
        .with_context(|| format!("creating the namespace {name}"))?;
    let operation = created["OperationId"].as_str().context("CreatePrivateDnsNamespace answered no OperationId")?;
    for _ in 0..100 {
        let answer = api.cloud_map("GetOperation", json!({"OperationId": operation})).await?;
        match answer["Operation"]["Status"].as_str() {
            Some("SUCCESS") => {
                return answer["Operation"]["Targets"]["NAMESPACE"]
                    .as_str()
                    .map(str::to_string)
                    .context("the namespace's operation names no namespace");
            }
            Some("FAIL") => bail!("creating the namespace {name} failed: {}", answer["Operation"]["ErrorMessage"]),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    bail!("the namespace {name} was not created within 10 s")
}

/// The id of the DNS namespace named `name`.
async fn find_namespace(api: &Api, name: &str) -> anyhow::Result<Option<String>> {
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"Filters": [{"Name": "TYPE", "Values": ["DNS_PRIVATE"]}]});
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let page = api.cloud_map("ListNamespaces", body).await?;
        let found = page["Namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["Name"].as_str().is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(name)));
        if let Some(namespace) = found {
            return Ok(namespace["Id"].as_str().map(str::to_string));
        }
        token = page["NextToken"].as_str().map(String::from);
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// The Cloud Map services of a namespace: (name, id, ARN).
async fn registries(api: &Api, namespace: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [namespace]}]});
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let page = api.cloud_map("ListServices", body).await?;
        for s in page["Services"].as_array().into_iter().flatten() {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            out.push((text("Name"), text("Id"), text("Arn")));
        }
        token = page["NextToken"].as_str().map(String::from);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The ARN of the Cloud Map service `name` (A records, health from ECS), created when missing.
async fn ensure_registry(api: &Api, namespace: &str, name: &str) -> anyhow::Result<String> {
    if let Some((_, _, arn)) = registries(api, namespace).await?.into_iter().find(|(n, _, _)| n == name) {
        return Ok(arn);
    }
    let created = api
        .cloud_map(
            "CreateService",
            json!({"Name": name, "NamespaceId": namespace,
                   "DnsConfig": {"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": RECORD_TTL}]},
                   "HealthCheckCustomConfig": {"FailureThreshold": 1}}),
        )
        .await
        .with_context(|| format!("creating the Cloud Map service {name}"))?;
    created["Service"]["Arn"].as_str().map(str::to_string).context("CreateService answered no ARN")
}

/// Removes what `up` made once the project's tasks are stopped: the Cloud Map services and namespace, then the
/// security groups (not external ones). Each is retried for a while (ECS deregisters a task's records and its
/// interface shortly after it stops); what still cannot go is reported, not fatal.
pub async fn remove(api: &Api, project: &Project) -> anyhow::Result<Vec<String>> {
    let mut left = Vec::new();
    if !project.services.iter().any(|s| s.network_mode == "awsvpc") {
        return Ok(left);
    }
    let name = networks::namespace(&project.name);
    if let Some(namespace) = find_namespace(api, &name).await? {
        for (service, id, _) in registries(api, &namespace).await? {
            if let Err(e) = retry(|| api.cloud_map("DeleteService", json!({"Id": id}))).await {
                left.push(format!("the Cloud Map service {service}.{name}: {e:#}"));
            }
        }
        if let Err(e) = retry(|| api.cloud_map("DeleteNamespace", json!({"Id": namespace}))).await {
            left.push(format!("the namespace {name}: {e:#}"));
        }
    }
    let vpc = default_vpc(api).await?;
    let mut names: Vec<String> =
        project.networks.values().filter(|n| !n.external).map(|n| n.group_name.clone()).collect();
    names.extend(project.services.iter().map(|s| networks::published_group_name(&project.name, &s.name)));
    for group in names {
        let Some(found) = find_group(api, &vpc, &group).await? else { continue };
        let id = found.child_text("groupId").unwrap_or_default().to_string();
        let params = [("GroupId", id.as_str())];
        if let Err(e) = retry(|| api.ec2("DeleteSecurityGroup", &params)).await {
            left.push(format!("the security group {group} ({id}): {e:#}"));
        }
    }
    Ok(left)
}

/// Runs `call` until it succeeds, for up to 15 s (resources in use are freed as tasks finish stopping).
async fn retry<T, F, Fut>(mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut attempts = 0;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if attempts >= 30 => return Err(e),
            Err(_) => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_rules_of_a_described_group() {
        let xml = "<item><groupId>sg-1</groupId><ipPermissions><item><ipProtocol>-1</ipProtocol><groups><item>\
                   <groupId>sg-1</groupId></item></groups><ipRanges/></item><item><ipProtocol>tcp</ipProtocol>\
                   <fromPort>80</fromPort><toPort>80</toPort><groups/><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp>\
                   </item></ipRanges></item></ipPermissions></item>";
        let group = berth_console::client::xml::parse(xml).unwrap();
        let rules = ingress(&group);
        assert_eq!(
            rules,
            vec![
                ("-1".into(), "".into(), "".into(), "sg-1".into()),
                ("tcp".into(), "80".into(), "80".into(), "0.0.0.0/0".into()),
            ]
        );
    }
}
