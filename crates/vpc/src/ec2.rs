//! The EC2 networking operations Berth serves (`ec2/2016-11-15`, EC2's own query protocol): DescribeVpcs,
//! DescribeSubnets, DescribeAvailabilityZones, DescribeSecurityGroups, CreateSecurityGroup, DeleteSecurityGroup,
//! Authorize/RevokeSecurityGroupIngress/Egress and DescribeNetworkInterfaces, with filters. Any other action is
//! `UnsupportedOperation`.
//!
//! Requests are form posts (`Filter.1.Name=vpc-id&Filter.1.Value.1=...`, `IpPermissions.1.IpRanges.1.CidrIp=...`);
//! responses are EC2's XML (`<DescribeVpcsResponse xmlns=...><requestId/><vpcSet><item>...`), errors EC2's
//! `<Response><Errors><Error>` document ([`crate::xml::error`]).

use crate::form::Params;
use crate::groups::{self, SecurityGroupRecord};
use crate::layout::VPC_ID;
use crate::service::{InterfaceView, Vpc, VpcError, all_out, group_not_found};
use crate::xml::Xml;
use crate::{Permission, SubnetLayout};

/// The actions served.
pub const ACTIONS: &[&str] = &[
    "DescribeVpcs",
    "DescribeSubnets",
    "DescribeAvailabilityZones",
    "DescribeSecurityGroups",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "DescribeNetworkInterfaces",
];

/// One resource's filterable attributes: filter name and its values (tags come as `tag:<key>` and `tag-key`).
type Attributes = Vec<(String, Vec<String>)>;

/// Whether `value` matches an EC2 filter value (`*` any run of characters, `?` one character).
fn glob(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Checks the filters' names against those a resource knows (EC2 refuses others) and returns a matcher.
fn check_filters(filters: &[(String, Vec<String>)], known: &[&str]) -> Result<(), VpcError> {
    for (name, _) in filters {
        if !(known.contains(&name.as_str()) || name.starts_with("tag:") || name == "tag-key") {
            return Err(VpcError::client("InvalidParameterValue", format!("The filter '{name}' is invalid")));
        }
    }
    Ok(())
}

/// Whether a resource with `attributes` passes every filter (one of a filter's values must match one of its).
fn matches(filters: &[(String, Vec<String>)], attributes: &Attributes) -> bool {
    filters.iter().all(|(name, values)| {
        let have = attributes.iter().filter(|(n, _)| n == name).flat_map(|(_, v)| v.iter());
        let have: Vec<&String> = have.collect();
        values.iter().any(|want| have.iter().any(|h| glob(want, h)))
    })
}

fn tag_attributes(tags: &[(String, String)]) -> Attributes {
    let mut out: Attributes = tags.iter().map(|(k, v)| (format!("tag:{k}"), vec![v.clone()])).collect();
    out.push(("tag-key".into(), tags.iter().map(|(k, _)| k.clone()).collect()));
    out
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

impl Vpc {
    /// Runs an EC2 action on a form body; returns the XML response.
    pub async fn call(&self, action: &str, body: &[u8], request_id: &str) -> Result<String, VpcError> {
        let params = Params::parse(body);
        if params.get("DryRun").is_some_and(|v| v == "true") {
            return Err(VpcError::client("DryRunOperation", "Request would have succeeded, but DryRun flag is set."));
        }
        match action {
            "DescribeVpcs" => self.describe_vpcs(&params, request_id),
            "DescribeSubnets" => self.describe_subnets(&params, request_id),
            "DescribeAvailabilityZones" => self.describe_zones(&params, request_id),
            "DescribeSecurityGroups" => self.describe_groups(&params, request_id),
            "CreateSecurityGroup" => self.create_security_group(&params, request_id).await,
            "DeleteSecurityGroup" => self.delete_security_group(&params, request_id).await,
            "AuthorizeSecurityGroupIngress" => self.change_rules(action, &params, true, true, request_id).await,
            "AuthorizeSecurityGroupEgress" => self.change_rules(action, &params, false, true, request_id).await,
            "RevokeSecurityGroupIngress" => self.change_rules(action, &params, true, false, request_id).await,
            "RevokeSecurityGroupEgress" => self.change_rules(action, &params, false, false, request_id).await,
            "DescribeNetworkInterfaces" => self.describe_interfaces(&params, request_id),
            "" => Err(VpcError::client("MissingAction", "The request must contain the parameter Action.")),
            other => Err(VpcError::client(
                "UnsupportedOperation",
                format!(
                    "The operation {other} is not supported by Berth's EC2 subset; it serves {}.",
                    ACTIONS.join(", ")
                ),
            )),
        }
    }

    fn describe_vpcs(&self, params: &Params, request_id: &str) -> Result<String, VpcError> {
        let filters = params.filters();
        check_filters(
            &filters,
            &[
                "vpc-id",
                "is-default",
                "cidr",
                "cidr-block",
                "cidr-block-association.cidr-block",
                "state",
                "owner-id",
                "dhcp-options-id",
            ],
        )?;
        let ids = params.list("VpcId");
        if let Some(missing) = ids.iter().find(|id| *id != VPC_ID) {
            return Err(VpcError::client("InvalidVpcID.NotFound", format!("The vpc ID '{missing}' does not exist")));
        }
        let l = self.layout();
        let cidr = l.cidr.to_string();
        let attributes: Attributes = vec![
            ("vpc-id".into(), vec![VPC_ID.into()]),
            ("is-default".into(), vec!["true".into()]),
            ("cidr".into(), vec![cidr.clone()]),
            ("cidr-block".into(), vec![cidr.clone()]),
            ("cidr-block-association.cidr-block".into(), vec![cidr.clone()]),
            ("state".into(), vec!["available".into()]),
            ("owner-id".into(), vec![l.account_id.clone()]),
            ("dhcp-options-id".into(), vec!["default".into()]),
        ];
        let mut xml = Xml::response("DescribeVpcs", request_id);
        xml.open("vpcSet");
        if matches(&filters, &attributes) {
            xml.open("item")
                .leaf("vpcId", VPC_ID)
                .leaf("ownerId", &l.account_id)
                .leaf("state", "available")
                .leaf("cidrBlock", &cidr)
                .open("cidrBlockAssociationSet")
                .open("item")
                .leaf("cidrBlock", &cidr)
                .leaf("associationId", "vpc-cidr-assoc-0be7f000000000001")
                .open("cidrBlockState")
                .leaf("state", "associated")
                .close("cidrBlockState")
                .close("item")
                .close("cidrBlockAssociationSet")
                .leaf("dhcpOptionsId", "default")
                .tags(&[])
                .leaf("instanceTenancy", "default")
                .leaf("isDefault", "true")
                .close("item");
        }
        xml.close("vpcSet");
        Ok(xml.finish("DescribeVpcs"))
    }

    fn subnet_attributes(&self, s: &SubnetLayout) -> Attributes {
        vec![
            ("subnet-id".into(), vec![s.id.clone()]),
            ("vpc-id".into(), vec![VPC_ID.into()]),
            ("default-for-az".into(), vec!["true".into()]),
            ("defaultForAz".into(), vec!["true".into()]),
            ("availability-zone".into(), vec![s.availability_zone.clone()]),
            ("availabilityZone".into(), vec![s.availability_zone.clone()]),
            ("cidr-block".into(), vec![s.cidr.to_string()]),
            ("cidrBlock".into(), vec![s.cidr.to_string()]),
            ("cidr".into(), vec![s.cidr.to_string()]),
            ("state".into(), vec!["available".into()]),
            ("owner-id".into(), vec![self.layout().account_id.clone()]),
            ("map-public-ip-on-launch".into(), vec!["false".into()]),
        ]
    }

    fn describe_subnets(&self, params: &Params, request_id: &str) -> Result<String, VpcError> {
        let filters = params.filters();
        check_filters(
            &filters,
            &[
                "subnet-id",
                "vpc-id",
                "default-for-az",
                "defaultForAz",
                "availability-zone",
                "availabilityZone",
                "cidr-block",
                "cidrBlock",
                "cidr",
                "state",
                "owner-id",
                "map-public-ip-on-launch",
            ],
        )?;
        let ids = params.list("SubnetId");
        let l = self.layout();
        if let Some(missing) = ids.iter().find(|id| l.subnet(id).is_none()) {
            return Err(VpcError::client(
                "InvalidSubnetID.NotFound",
                format!("The subnet ID '{missing}' does not exist"),
            ));
        }
        let mut xml = Xml::response("DescribeSubnets", request_id);
        xml.open("subnetSet");
        for s in &l.subnets {
            if (!ids.is_empty() && !ids.contains(&s.id)) || !matches(&filters, &self.subnet_attributes(s)) {
                continue;
            }
            let used = self.interfaces().iter().filter(|i| i.subnet_id == s.id).count();
            // AWS keeps 5 addresses of a subnet; Berth keeps the network, gateway and broadcast of each slice.
            let available = (s.cidr.size() as usize).saturating_sub(3 * crate::layout::MAX_SLOTS as usize + used);
            xml.open("item")
                .leaf("subnetId", &s.id)
                .leaf("subnetArn", &format!("arn:aws:ec2:{}:{}:subnet/{}", l.region, l.account_id, s.id))
                .leaf("state", "available")
                .leaf("ownerId", &l.account_id)
                .leaf("vpcId", VPC_ID)
                .leaf("cidrBlock", &s.cidr.to_string())
                .open("ipv6CidrBlockAssociationSet")
                .close("ipv6CidrBlockAssociationSet")
                .leaf("availableIpAddressCount", &available.to_string())
                .leaf("availabilityZone", &s.availability_zone)
                .leaf("availabilityZoneId", &zone_id(&l.region, &s.availability_zone))
                .leaf("defaultForAz", "true")
                .leaf("mapPublicIpOnLaunch", "false")
                .leaf("assignIpv6AddressOnCreation", "false")
                .tags(&[])
                .close("item");
        }
        xml.close("subnetSet");
        Ok(xml.finish("DescribeSubnets"))
    }

    fn describe_zones(&self, params: &Params, request_id: &str) -> Result<String, VpcError> {
        let filters = params.filters();
        check_filters(&filters, &["zone-name", "zone-id", "state", "region-name", "zone-type"])?;
        let names = params.list("ZoneName");
        let l = self.layout();
        let mut xml = Xml::response("DescribeAvailabilityZones", request_id);
        xml.open("availabilityZoneInfo");
        for s in &l.subnets {
            let zone = &s.availability_zone;
            let attributes: Attributes = vec![
                ("zone-name".into(), vec![zone.clone()]),
                ("zone-id".into(), vec![zone_id(&l.region, zone)]),
                ("state".into(), vec!["available".into()]),
                ("region-name".into(), vec![l.region.clone()]),
                ("zone-type".into(), vec!["availability-zone".into()]),
            ];
            if (!names.is_empty() && !names.contains(zone)) || !matches(&filters, &attributes) {
                continue;
            }
            xml.open("item")
                .leaf("zoneName", zone)
                .leaf("zoneId", &zone_id(&l.region, zone))
                .leaf("zoneState", "available")
                .leaf("regionName", &l.region)
                .leaf("zoneType", "availability-zone")
                .leaf("optInStatus", "opt-in-not-required")
                .leaf("groupName", &l.region)
                .leaf("networkBorderGroup", &l.region)
                .open("messageSet")
                .close("messageSet")
                .close("item");
        }
        xml.close("availabilityZoneInfo");
        Ok(xml.finish("DescribeAvailabilityZones"))
    }

    fn describe_groups(&self, params: &Params, request_id: &str) -> Result<String, VpcError> {
        let filters = params.filters();
        check_filters(&filters, &["group-id", "group-name", "vpc-id", "description", "owner-id"])?;
        let ids = params.list("GroupId");
        let names = params.list("GroupName");
        let all = self.groups();
        if let Some(missing) = ids.iter().find(|id| !all.iter().any(|g| &g.id == *id)) {
            return Err(group_not_found(missing));
        }
        if let Some(missing) = names.iter().find(|n| !all.iter().any(|g| &g.name == *n)) {
            return Err(VpcError::client(
                "InvalidGroup.NotFound",
                format!("The security group '{missing}' does not exist in default VPC '{VPC_ID}'"),
            ));
        }
        let mut xml = Xml::response("DescribeSecurityGroups", request_id);
        xml.open("securityGroupInfo");
        for g in &all {
            let mut attributes: Attributes = vec![
                ("group-id".into(), vec![g.id.clone()]),
                ("group-name".into(), vec![g.name.clone()]),
                ("vpc-id".into(), vec![g.vpc_id.clone()]),
                ("description".into(), vec![g.description.clone()]),
                ("owner-id".into(), vec![g.owner_id.clone()]),
            ];
            attributes.extend(tag_attributes(&g.tags));
            if (!ids.is_empty() && !ids.contains(&g.id))
                || (!names.is_empty() && !names.contains(&g.name))
                || !matches(&filters, &attributes)
            {
                continue;
            }
            self.write_group(&mut xml, g);
        }
        xml.close("securityGroupInfo");
        Ok(xml.finish("DescribeSecurityGroups"))
    }

    fn write_group(&self, xml: &mut Xml, g: &SecurityGroupRecord) {
        let l = self.layout();
        xml.open("item")
            .leaf("ownerId", &g.owner_id)
            .leaf("groupId", &g.id)
            .leaf("groupName", &g.name)
            .leaf("groupDescription", &g.description)
            .leaf("vpcId", &g.vpc_id)
            .leaf("securityGroupArn", &format!("arn:aws:ec2:{}:{}:security-group/{}", l.region, g.owner_id, g.id));
        self.write_permissions(xml, "ipPermissions", &g.ingress, &g.owner_id);
        self.write_permissions(xml, "ipPermissionsEgress", &g.egress, &g.owner_id);
        xml.tags(&g.tags).close("item");
    }

    fn write_permissions(&self, xml: &mut Xml, tag: &str, rules: &[Permission], owner: &str) {
        xml.open(tag);
        for p in rules {
            xml.open("item").leaf("ipProtocol", &p.protocol);
            if let Some(from) = p.from_port {
                xml.leaf("fromPort", &from.to_string());
            }
            if let Some(to) = p.to_port {
                xml.leaf("toPort", &to.to_string());
            }
            xml.open("groups");
            for group in &p.groups {
                xml.open("item").leaf("userId", owner).leaf("groupId", group).close("item");
            }
            xml.close("groups").open("ipRanges");
            for cidr in &p.cidrs {
                xml.open("item").leaf("cidrIp", cidr).close("item");
            }
            xml.close("ipRanges")
                .open("ipv6Ranges")
                .close("ipv6Ranges")
                .open("prefixListIds")
                .close("prefixListIds")
                .close("item");
        }
        xml.close(tag);
    }

    async fn create_security_group(&self, params: &Params, request_id: &str) -> Result<String, VpcError> {
        let name = params.get("GroupName").unwrap_or_default().to_string();
        let description = params.get("GroupDescription").unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(VpcError::client("MissingParameter", "The request must contain the parameter groupName"));
        }
        if description.is_empty() {
            return Err(VpcError::client(
                "MissingParameter",
                "The request must contain the parameter groupDescription",
            ));
        }
        if name.len() > 255 || description.len() > 255 {
            return Err(VpcError::client(
                "InvalidParameterValue",
                "Group names and descriptions can be up to 255 characters long.",
            ));
        }
        if name.starts_with("sg-") {
            return Err(VpcError::client("InvalidParameterValue", "Group names may not be in the format sg-*."));
        }
        let vpc_id = params.get("VpcId").unwrap_or(VPC_ID).to_string();
        if vpc_id != VPC_ID {
            return Err(VpcError::client("InvalidVpcID.NotFound", format!("The vpc ID '{vpc_id}' does not exist")));
        }
        let mut tags = Vec::new();
        for i in params.indexes("TagSpecification") {
            let kind = params.get(&format!("TagSpecification.{i}.ResourceType")).unwrap_or("security-group");
            if kind != "security-group" {
                return Err(VpcError::client(
                    "InvalidParameterValue",
                    format!("'{kind}' is not a valid taggable resource type for this operation."),
                ));
            }
            for t in params.indexes(&format!("TagSpecification.{i}.Tag")) {
                let key = params.get(&format!("TagSpecification.{i}.Tag.{t}.Key")).unwrap_or_default();
                let value = params.get(&format!("TagSpecification.{i}.Tag.{t}.Value")).unwrap_or_default();
                tags.push((key.to_string(), value.to_string()));
            }
        }
        let owner = self.layout().account_id.clone();
        let record = self
            .create_group(|existing| {
                if existing.iter().any(|g| g.vpc_id == vpc_id && g.name == name) {
                    return Err(VpcError::client(
                        "InvalidGroup.Duplicate",
                        format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
                    ));
                }
                Ok(SecurityGroupRecord {
                    id: new_group_id(),
                    name: name.clone(),
                    description: description.clone(),
                    vpc_id: vpc_id.clone(),
                    owner_id: owner,
                    ingress: Vec::new(),
                    egress: vec![all_out()],
                    tags: tags.clone(),
                })
            })
            .await?;
        let l = self.layout();
        let mut xml = Xml::response("CreateSecurityGroup", request_id);
        xml.leaf("return", "true")
            .leaf("groupId", &record.id)
            .leaf(
                "securityGroupArn",
                &format!("arn:aws:ec2:{}:{}:security-group/{}", l.region, record.owner_id, record.id),
            )
            .tags(&record.tags);
        Ok(xml.finish("CreateSecurityGroup"))
    }

    /// The group a request names by `GroupId`, or by `GroupName` in the default VPC.
    fn named_group(&self, params: &Params) -> Result<String, VpcError> {
        if let Some(id) = params.get("GroupId").filter(|v| !v.is_empty()) {
            return self.group(id).map(|g| g.id).ok_or_else(|| group_not_found(id));
        }
        if let Some(name) = params.get("GroupName").filter(|v| !v.is_empty()) {
            return self.groups().into_iter().find(|g| g.name == name).map(|g| g.id).ok_or_else(|| {
                VpcError::client(
                    "InvalidGroup.NotFound",
                    format!("The security group '{name}' does not exist in default VPC '{VPC_ID}'"),
                )
            });
        }
        Err(VpcError::client("MissingParameter", "The request must contain the parameter groupId or groupName"))
    }

    async fn delete_security_group(&self, params: &Params, request_id: &str) -> Result<String, VpcError> {
        let id = self.named_group(params)?;
        let in_use = self.interfaces().iter().any(|i| i.security_groups.contains(&id));
        self.delete_group(&id, |record, all| {
            if record.name == crate::layout::DEFAULT_SECURITY_GROUP_NAME {
                return Err(VpcError::client(
                    "CannotDelete",
                    format!("the specified group: \"{}\" name: \"default\" cannot be deleted by a user", record.id),
                ));
            }
            if in_use {
                return Err(VpcError::client(
                    "DependencyViolation",
                    format!("resource {} has a dependent object", record.id),
                ));
            }
            let referenced = all
                .iter()
                .filter(|g| g.id != record.id)
                .find(|g| g.ingress.iter().chain(&g.egress).any(|p| p.groups.contains(&record.id)));
            if let Some(other) = referenced {
                return Err(VpcError::client(
                    "DependencyViolation",
                    format!("resource {} has a dependent object (a rule of {})", record.id, other.id),
                ));
            }
            Ok(())
        })
        .await?;
        let mut xml = Xml::response("DeleteSecurityGroup", request_id);
        xml.leaf("return", "true").leaf("groupId", &id);
        Ok(xml.finish("DeleteSecurityGroup"))
    }

    /// The permissions of an Authorize/Revoke request: `IpPermissions.N.*`, or the top-level shorthand
    /// (`IpProtocol`, `FromPort`, `ToPort`, `CidrIp`, `SourceSecurityGroupName`).
    fn permissions(&self, params: &Params) -> Result<Vec<Permission>, VpcError> {
        let int = |name: &str| -> Result<Option<i32>, VpcError> {
            match params.get(name) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| VpcError::client("InvalidParameterValue", format!("Invalid value '{v}' for {name}"))),
            }
        };
        let protocol = |p: &str| -> String {
            match p.to_ascii_lowercase().as_str() {
                "6" => "tcp".into(),
                "17" => "udp".into(),
                "1" => "icmp".into(),
                "all" => "-1".into(),
                other => other.to_string(),
            }
        };
        let mut out = Vec::new();
        for i in params.indexes("IpPermissions") {
            let at = |field: &str| format!("IpPermissions.{i}.{field}");
            let groups: Vec<String> = params
                .indexes(&at("Groups"))
                .into_iter()
                .filter_map(|g| {
                    params
                        .get(&at(&format!("Groups.{g}.GroupId")))
                        .map(str::to_string)
                        .or_else(|| self.group_id_by_name(params.get(&at(&format!("Groups.{g}.GroupName")))?))
                })
                .collect();
            out.push(Permission {
                protocol: protocol(params.get(&at("IpProtocol")).unwrap_or("-1")),
                from_port: int(&at("FromPort"))?,
                to_port: int(&at("ToPort"))?,
                cidrs: params
                    .indexes(&at("IpRanges"))
                    .into_iter()
                    .filter_map(|r| params.get(&at(&format!("IpRanges.{r}.CidrIp"))).map(str::to_string))
                    .collect(),
                groups,
            });
        }
        if let Some(p) = params.get("IpProtocol") {
            let mut groups = Vec::new();
            if let Some(name) = params.get("SourceSecurityGroupName") {
                groups.push(self.group_id_by_name(name).ok_or_else(|| group_not_found(name))?);
            }
            out.push(Permission {
                protocol: protocol(p),
                from_port: int("FromPort")?,
                to_port: int("ToPort")?,
                cidrs: params.get("CidrIp").map(|c| vec![c.to_string()]).unwrap_or_default(),
                groups,
            });
        }
        for p in &mut out {
            if p.protocol == "-1" || p.protocol == "icmp" {
                // All ports (EC2 shows -1 ports for icmp "all"; Berth keeps none).
                if p.protocol == "-1" {
                    p.from_port = None;
                    p.to_port = None;
                }
            }
            for g in &p.groups {
                if self.group(g).is_none() {
                    return Err(group_not_found(g));
                }
            }
        }
        if out.is_empty() {
            return Err(VpcError::client("MissingParameter", "The request must contain the parameter ipPermissions"));
        }
        Ok(out)
    }

    fn group_id_by_name(&self, name: &str) -> Option<String> {
        self.groups().into_iter().find(|g| g.name == name).map(|g| g.id)
    }

    async fn change_rules(
        &self,
        action: &str,
        params: &Params,
        ingress: bool,
        add: bool,
        request_id: &str,
    ) -> Result<String, VpcError> {
        let id = self.named_group(params)?;
        let permissions = self.permissions(params)?;
        self.update_group(&id, |record| {
            let rules = if ingress { &mut record.ingress } else { &mut record.egress };
            let result = if add {
                groups::authorize(rules, &permissions, &id)
            } else {
                groups::revoke(rules, &permissions, &id)
            };
            result.map_err(|e| VpcError::client(e.code, e.message))
        })
        .await?;
        let mut xml = Xml::response(action, request_id);
        xml.leaf("return", "true");
        Ok(xml.finish(action))
    }

    fn describe_interfaces(&self, params: &Params, request_id: &str) -> Result<String, VpcError> {
        let filters = params.filters();
        check_filters(
            &filters,
            &[
                "network-interface-id",
                "subnet-id",
                "vpc-id",
                "availability-zone",
                "group-id",
                "private-ip-address",
                "addresses.private-ip-address",
                "mac-address",
                "status",
                "attachment.attachment-id",
                "description",
                "private-dns-name",
            ],
        )?;
        let ids = params.list("NetworkInterfaceId");
        let all = self.interfaces();
        if let Some(missing) = ids.iter().find(|id| !all.iter().any(|i| &i.id == *id)) {
            return Err(VpcError::client(
                "InvalidNetworkInterfaceID.NotFound",
                format!("The networkInterface ID '{missing}' does not exist"),
            ));
        }
        let l = self.layout();
        let mut xml = Xml::response("DescribeNetworkInterfaces", request_id);
        xml.open("networkInterfaceSet");
        for i in &all {
            let zone = l.subnet(&i.subnet_id).map(|s| s.availability_zone.clone()).unwrap_or_default();
            let attributes: Attributes = vec![
                ("network-interface-id".into(), vec![i.id.clone()]),
                ("subnet-id".into(), vec![i.subnet_id.clone()]),
                ("vpc-id".into(), vec![VPC_ID.into()]),
                ("availability-zone".into(), vec![zone.clone()]),
                ("group-id".into(), i.security_groups.clone()),
                ("private-ip-address".into(), vec![i.address.clone()]),
                ("addresses.private-ip-address".into(), vec![i.address.clone()]),
                ("mac-address".into(), vec![i.mac_address.clone()]),
                ("status".into(), vec!["in-use".into()]),
                ("attachment.attachment-id".into(), vec![i.attachment_id.clone()]),
                ("description".into(), vec![i.description.clone()]),
                ("private-dns-name".into(), vec![i.private_dns_name.clone()]),
            ];
            if (!ids.is_empty() && !ids.contains(&i.id)) || !matches(&filters, &attributes) {
                continue;
            }
            self.write_interface(&mut xml, i, &zone);
        }
        xml.close("networkInterfaceSet");
        Ok(xml.finish("DescribeNetworkInterfaces"))
    }

    fn write_interface(&self, xml: &mut Xml, i: &InterfaceView, zone: &str) {
        let l = self.layout();
        xml.open("item")
            .leaf("networkInterfaceId", &i.id)
            .leaf("subnetId", &i.subnet_id)
            .leaf("vpcId", VPC_ID)
            .leaf("availabilityZone", zone)
            .leaf("description", &i.description)
            .leaf("ownerId", &l.account_id)
            .leaf("requesterId", "berth-ecs")
            .leaf("requesterManaged", "true")
            .leaf("status", "in-use")
            .leaf("macAddress", &i.mac_address)
            .leaf("privateIpAddress", &i.address)
            .leaf("privateDnsName", &i.private_dns_name)
            .leaf("sourceDestCheck", "true")
            .leaf("interfaceType", "interface")
            .open("groupSet");
        for g in &i.security_groups {
            let name = self.group(g).map(|r| r.name).unwrap_or_default();
            xml.open("item").leaf("groupId", g).leaf("groupName", &name).close("item");
        }
        xml.close("groupSet")
            .open("attachment")
            .leaf("attachmentId", &i.attachment_id)
            .leaf("deviceIndex", "1")
            .leaf("status", "attached")
            .leaf("deleteOnTermination", bool_text(true))
            .close("attachment")
            .open("privateIpAddressesSet")
            .open("item")
            .leaf("privateIpAddress", &i.address)
            .leaf("privateDnsName", &i.private_dns_name)
            .leaf("primary", "true")
            .close("item")
            .close("privateIpAddressesSet")
            .open("ipv6AddressesSet")
            .close("ipv6AddressesSet")
            .tags(&[])
            .close("item");
    }
}

/// An Availability Zone's id, as EC2 names them (`use1-az1` for `us-east-1a`).
fn zone_id(region: &str, zone: &str) -> String {
    // `us-east-1` is `use1`: the first part, the initial of the second, the number.
    let mut parts = region.split('-');
    let first = parts.next().unwrap_or_default();
    let second: String = parts.next().and_then(|p| p.chars().next()).map(String::from).unwrap_or_default();
    let digits: String = region.chars().filter(char::is_ascii_digit).collect();
    let letter = zone.chars().last().unwrap_or('a');
    let index = u32::from(letter).saturating_sub(u32::from('a')) + 1;
    format!("{first}{second}{digits}-az{index}")
}

/// A new security group id: `sg-` and 17 random hex digits.
fn new_group_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let digits: String = (0..17).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect();
    format!("sg-{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_zone_ids() {
        assert!(glob("vpc-*", "vpc-123") && glob("a?c", "abc") && !glob("a?c", "abbc") && glob("*", ""));
        assert_eq!(zone_id("us-east-1", "us-east-1b"), "use1-az2");
        assert_eq!(zone_id("eu-west-3", "eu-west-3a"), "euw3-az1");
    }

    async fn vpc() -> std::sync::Arc<Vpc> {
        let store: berth_store::SharedStore = std::sync::Arc::new(berth_store::MemoryStore::new());
        Vpc::open(crate::VpcLayout::default_for("us-east-1", "000000000000"), store).await.unwrap()
    }

    #[tokio::test]
    async fn groups_are_created_described_changed_and_deleted() {
        let vpc = vpc().await;
        let created = vpc
            .call("CreateSecurityGroup", b"GroupName=web&GroupDescription=web+tier&VpcId=vpc-0be7f000000000001", "r")
            .await
            .unwrap();
        let id = created.split("<groupId>").nth(1).unwrap().split('<').next().unwrap().to_string();
        let dup = vpc.call("CreateSecurityGroup", b"GroupName=web&GroupDescription=x", "r").await.unwrap_err();
        assert_eq!(dup.code, "InvalidGroup.Duplicate");
        let body = format!(
            "GroupId={id}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=80&IpPermissions.1.ToPort=80&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8&IpPermissions.1.Groups.1.GroupId=sg-0be7f000000000001"
        );
        vpc.call("AuthorizeSecurityGroupIngress", body.as_bytes(), "r").await.unwrap();
        let again = vpc.call("AuthorizeSecurityGroupIngress", body.as_bytes(), "r").await.unwrap_err();
        assert_eq!(again.code, "InvalidPermission.Duplicate");
        let described =
            vpc.call("DescribeSecurityGroups", b"Filter.1.Name=group-name&Filter.1.Value.1=w*", "r").await.unwrap();
        assert!(described.contains("<groupName>web</groupName>") && !described.contains(">default<"), "{described}");
        assert!(described.contains("<cidrIp>10.0.0.0/8</cidrIp>"));
        assert_eq!(crate::SecurityGroupDirectory::ingress(vpc.as_ref(), &id).len(), 1);
        let bad = vpc.call("DescribeSecurityGroups", b"Filter.1.Name=nope&Filter.1.Value.1=x", "r").await.unwrap_err();
        assert_eq!(bad.code, "InvalidParameterValue");
        let default_delete = vpc.call("DeleteSecurityGroup", b"GroupName=default", "r").await.unwrap_err();
        assert_eq!(default_delete.code, "CannotDelete");
        vpc.call("RevokeSecurityGroupIngress", body.as_bytes(), "r").await.unwrap();
        vpc.call("DeleteSecurityGroup", format!("GroupId={id}").as_bytes(), "r").await.unwrap();
        let gone = vpc.call("DescribeSecurityGroups", format!("GroupId.1={id}").as_bytes(), "r").await.unwrap_err();
        assert_eq!(gone.code, "InvalidGroup.NotFound");
        let unsupported = vpc.call("RunInstances", b"", "r").await.unwrap_err();
        assert_eq!(unsupported.code, "UnsupportedOperation");
    }

    #[tokio::test]
    async fn subnets_filter_by_zone_and_default() {
        let vpc = vpc().await;
        let one = vpc
            .call("DescribeSubnets", b"Filter.1.Name=availability-zone&Filter.1.Value.1=us-east-1b&Filter.2.Name=default-for-az&Filter.2.Value.1=true", "r")
            .await
            .unwrap();
        assert_eq!(one.matches("<subnetId>").count(), 1);
        assert!(one.contains("subnet-0be7f00000000000b"));
        let none = vpc.call("DescribeVpcs", b"Filter.1.Name=tag:Name&Filter.1.Value.1=x", "r").await.unwrap();
        assert!(!none.contains("<vpcId>"));
        let all = vpc
            .call("DescribeVpcs", b"Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-0be7f000000000001", "r")
            .await
            .unwrap();
        assert!(all.contains("<isDefault>true</isDefault>"));
    }
}
