//! awsvpc tasks end to end on `berth up` and the real Docker Engine: a task's own address in the default VPC
//! (its pause container holding the namespace, its containers on localhost), the interface in DescribeTasks, the
//! metadata endpoint and `aws ec2 describe-network-interfaces`, the network configuration's errors, a service of
//! awsvpc tasks, and the EC2 networking subset through the unchanged aws CLI.
//!
//! Each test runs its own Berth with its own VPC CIDR (`10.N.0.0/16`), so tests side by side on one engine get
//! disjoint Docker networks; the networks are removed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, KeyValuePair, NetworkConfiguration, NetworkMode,
    PortMapping,
};
use berth_testkit::{Berth, BerthOptions, docker, http_get};
use common::*;
use serde_json::Value;
use std::time::Duration;

const SUBNET_A: &str = "subnet-0be7f00000000000a";
const SUBNET_B: &str = "subnet-0be7f00000000000b";

/// `berth up` on its own VPC CIDR, with its agent registered.
async fn up() -> (VpcNetworks, Berth, aws_sdk_ecs::Client) {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    // A /16 in 10.64.0.0/10 that no other test of this run is likely to pick.
    let (cidr, networks) = own_vpc(64, 64, 0, 1);
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec!["--vpc-cidr".into(), cidr],
    })
    .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    (networks, berth, client)
}

fn network(subnets: &[&str], groups: &[&str], public: Option<AssignPublicIp>) -> NetworkConfiguration {
    let mut vpc = AwsVpcConfiguration::builder().set_assign_public_ip(public);
    for s in subnets {
        vpc = vpc.subnets(*s);
    }
    for g in groups {
        vpc = vpc.security_groups(*g);
    }
    NetworkConfiguration::builder().awsvpc_configuration(vpc.build().unwrap()).build()
}

fn workload(name: &str, port: i32) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name(name)
        .image("berth-workload:latest")
        .memory(64)
        .environment(KeyValuePair::builder().name("PORT").value(port.to_string()).build())
        .port_mappings(PortMapping::builder().container_port(port).build())
        .build()
}

/// Registers the two-container awsvpc task definition `family`: `app` on 8080 and `side` on 9090.
async fn register_pair(client: &aws_sdk_ecs::Client, family: &str) {
    client
        .register_task_definition()
        .family(family)
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(workload("app", 8080))
        .container_definitions(workload("side", 9090))
        .send()
        .await
        .expect("register the awsvpc task definition");
}

/// A security group letting TCP 8080 and 9090 in from anywhere; its id.
fn open_group(berth: &Berth, name: &str) -> String {
    let created = aws_ok(berth, "ec2", &["create-security-group", "--group-name", name, "--description", "web"]);
    let id = created["GroupId"].as_str().unwrap().to_string();
    for port in ["8080", "9090"] {
        aws_ok(
            berth,
            "ec2",
            &[
                "authorize-security-group-ingress",
                "--group-id",
                &id,
                "--protocol",
                "tcp",
                "--port",
                port,
                "--cidr",
                "0.0.0.0/0",
            ],
        );
    }
    id
}

/// The task's interface details from its attachment.
fn attachment_detail(task: &aws_sdk_ecs::types::Task, name: &str) -> String {
    let attachment = &task.attachments()[0];
    attachment.details().iter().find(|d| d.name() == Some(name)).and_then(|d| d.value()).unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awsvpc_task_has_its_own_address_namespace_and_interface() {
    let (_networks, berth, client) = up().await;
    let n = _networks.0;
    register_pair(&client, "pair").await;
    let group = open_group(&berth, "web");

    // The instance runs awsvpc tasks.
    let instance = client.list_container_instances().send().await.unwrap().container_instance_arns()[0].clone();
    let described = client.describe_container_instances().container_instances(&instance).send().await.unwrap();
    let attributes = described.container_instances()[0].attributes();
    assert!(attributes.iter().any(|a| a.name() == "ecs.capability.task-eni"), "{attributes:?}");

    // ECS's refusals.
    let refusal = |e: aws_sdk_ecs::error::SdkError<_>| {
        use aws_sdk_ecs::error::ProvideErrorMetadata;
        let e: aws_sdk_ecs::operation::run_task::RunTaskError = e.into_service_error();
        (e.code().unwrap_or_default().to_string(), e.message().unwrap_or_default().to_string())
    };
    let missing = client.run_task().task_definition("pair").send().await.unwrap_err();
    assert_eq!(
        refusal(missing),
        (
            "InvalidParameterException".into(),
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.".into()
        )
    );
    let public = client
        .run_task()
        .task_definition("pair")
        .network_configuration(network(&[SUBNET_A], &[], Some(AssignPublicIp::Enabled)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refusal(public).1, "Assign public IP is not supported for this launch type.");
    let unknown = client
        .run_task()
        .task_definition("pair")
        .network_configuration(network(&["subnet-0123456789abcdef0"], &[], None))
        .send()
        .await
        .unwrap_err();
    assert!(refusal(unknown).1.contains("subnet-0123456789abcdef0"));
    let no_group = client
        .run_task()
        .task_definition("pair")
        .network_configuration(network(&[SUBNET_A], &["sg-0000000000000dead"], None))
        .send()
        .await
        .unwrap_err();
    assert!(refusal(no_group).1.contains("The security group 'sg-0000000000000dead' does not exist"));

    // The task: its address is known at once (PROVISIONING), in the subnet of the instance's zone.
    let run = client
        .run_task()
        .task_definition("pair")
        .network_configuration(network(&[SUBNET_B, SUBNET_A], &[&group], None))
        .send()
        .await
        .unwrap();
    assert!(run.failures().is_empty(), "{:?}", run.failures());
    let provisioning = &run.tasks()[0];
    let arn = provisioning.task_arn().unwrap().to_string();
    let ip = attachment_detail(provisioning, "privateIPv4Address");
    assert!(ip.starts_with(&format!("10.{n}.")), "{provisioning:?}");
    assert_eq!(attachment_detail(provisioning, "subnetId"), SUBNET_A, "the agent is in us-east-1a");
    let task = wait_status(&client, &arn, "RUNNING", Duration::from_secs(90)).await;
    let attachment = &task.attachments()[0];
    assert_eq!((attachment.r#type(), attachment.status()), (Some("ElasticNetworkInterface"), Some("ATTACHED")));
    let eni = attachment_detail(&task, "networkInterfaceId");
    assert!(eni.starts_with("eni-"), "{eni}");
    assert!(attachment_detail(&task, "macAddress").starts_with("0a:b7:"));
    assert_eq!(attachment_detail(&task, "privateDnsName"), format!("ip-{}.ec2.internal", ip.replace('.', "-")));
    for c in task.containers() {
        assert_eq!(c.network_interfaces()[0].private_ipv4_address(), Some(ip.as_str()), "{c:?}");
        assert_eq!(c.network_interfaces()[0].attachment_id(), attachment.id());
        assert!(c.network_bindings().is_empty(), "awsvpc ports are not published on the host: {c:?}");
    }

    // The host reaches the task at its address; its containers reach each other on localhost.
    let base = format!("http://{ip}:8080");
    let own: Value = serde_json::from_str(&wait_http_ok(&format!("{base}/")).await).unwrap();
    assert_eq!(own["env"]["PORT"], "8080");
    let side = wait_http_ok(&format!("{base}/fetch?url=http://127.0.0.1:9090/")).await;
    assert!(side.contains("\\\"PORT\\\":\\\"9090\\\"") || side.contains("9090"), "{side}");
    let (status, _) = http_get(&format!("http://{ip}:9090/health")).unwrap();
    assert_eq!(status, 200);

    // The metadata endpoint shows the interface.
    let uri = own["env"]["ECS_CONTAINER_METADATA_URI_V4"].as_str().expect("the metadata URI").to_string();
    let meta: Value = serde_json::from_str(&wait_http_ok(&format!("{base}/fetch?url={uri}/task")).await).unwrap();
    let net = &meta["Containers"][0]["Networks"][0];
    assert_eq!(net["NetworkMode"], "awsvpc", "{meta}");
    assert_eq!(net["IPv4Addresses"][0], ip.as_str());
    assert_eq!(net["IPv4SubnetCIDRBlock"], format!("10.{n}.0.0/20"));
    assert_eq!(net["PrivateDNSName"], attachment_detail(&task, "privateDnsName"));

    // EC2 shows the interface.
    let enis = aws_ok(
        &berth,
        "ec2",
        &["describe-network-interfaces", "--filters", &format!("Name=addresses.private-ip-address,Values={ip}")],
    );
    let found = &enis["NetworkInterfaces"];
    assert_eq!(found.as_array().unwrap().len(), 1, "{enis}");
    assert_eq!(found[0]["NetworkInterfaceId"], eni.as_str());
    assert_eq!(found[0]["SubnetId"], SUBNET_A);
    assert_eq!(found[0]["Groups"][0]["GroupId"], group.as_str());
    assert_eq!(found[0]["Status"], "in-use");

    // The pause container holds the address; stopping the task stops it and frees the interface.
    let task_id = arn.rsplit('/').next().unwrap();
    let pause = format!("berth-pause-{task_id}");
    let address =
        docker(&["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &pause]).unwrap();
    assert_eq!(address.trim(), ip);
    client.stop_task().task(&arn).send().await.unwrap();
    let stopped = wait_status(&client, &arn, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(stopped.attachments()[0].status(), Some("DELETED"));
    let running = docker(&["inspect", "--format", "{{.State.Running}}", &pause]).unwrap();
    assert_eq!(running.trim(), "false");
    let gone = common::aws_err(&berth, "ec2", &["describe-network-interfaces", "--network-interface-ids", &eni]);
    assert!(gone.contains("InvalidNetworkInterfaceID.NotFound"), "the stopped task's interface is gone: {gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_of_awsvpc_tasks_gives_each_task_its_own_address() {
    let (_networks, berth, client) = up().await;
    register_pair(&client, "svc-pair").await;
    let group = open_group(&berth, "svc");
    let refused =
        client.create_service().service_name("no-net").task_definition("svc-pair").desired_count(1).send().await;
    assert_error(refused, "InvalidParameterException", "Network Configuration must be provided");
    client
        .create_service()
        .service_name("web")
        .task_definition("svc-pair")
        .desired_count(2)
        .network_configuration(network(&[SUBNET_A, SUBNET_B], &[&group], None))
        .send()
        .await
        .unwrap();
    let service = wait_stable(&client, "default", "web", Duration::from_secs(120)).await;
    let shown = service.network_configuration().and_then(|n| n.awsvpc_configuration()).unwrap();
    assert_eq!(shown.subnets(), [SUBNET_A, SUBNET_B]);
    let arns = client.list_tasks().service_name("web").send().await.unwrap().task_arns().to_vec();
    let tasks = client.describe_tasks().set_tasks(Some(arns)).send().await.unwrap().tasks().to_vec();
    assert_eq!(tasks.len(), 2);
    let mut ips: Vec<String> = tasks.iter().map(|t| attachment_detail(t, "privateIPv4Address")).collect();
    for ip in &ips {
        wait_http_ok(&format!("http://{ip}:8080/health")).await;
    }
    ips.dedup();
    assert_eq!(ips.len(), 2, "each task has its own address: {ips:?}");

    // UpdateService with another network configuration starts a deployment on it.
    client
        .update_service()
        .service("web")
        .network_configuration(network(&[SUBNET_A], &[&group], None))
        .send()
        .await
        .unwrap();
    let updated = describe_service(&client, "default", "web").await;
    assert_eq!(updated.deployments().len(), 2, "{updated:?}");
    client.update_service().service("web").desired_count(0).send().await.unwrap();
    client.delete_service().service("web").send().await.unwrap();
}

#[test]
fn the_ec2_subset_answers_the_aws_cli() {
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--no-load-balancer".into(), "--vpc-cidr".into(), "172.31.0.0/16".into()],
    })
    .expect("berth server starts");
    let vpcs = aws_ok(&berth, "ec2", &["describe-vpcs", "--filters", "Name=is-default,Values=true"]);
    assert_eq!(vpcs["Vpcs"][0]["VpcId"], "vpc-0be7f000000000001");
    assert_eq!(vpcs["Vpcs"][0]["CidrBlock"], "172.31.0.0/16");
    let subnets = aws_ok(
        &berth,
        "ec2",
        &[
            "describe-subnets",
            "--filters",
            "Name=vpc-id,Values=vpc-0be7f000000000001",
            "Name=default-for-az,Values=true",
        ],
    );
    let subnets = subnets["Subnets"].as_array().unwrap().clone();
    assert_eq!(subnets.len(), 2);
    assert_eq!(subnets[1]["CidrBlock"], "172.31.16.0/20");
    assert_eq!(subnets[1]["AvailabilityZone"], "us-east-1b");
    let zones = aws_ok(&berth, "ec2", &["describe-availability-zones"]);
    assert_eq!(zones["AvailabilityZones"].as_array().unwrap().len(), 2);
    let default = aws_ok(&berth, "ec2", &["describe-security-groups", "--group-names", "default"]);
    let default_id = default["SecurityGroups"][0]["GroupId"].as_str().unwrap().to_string();
    assert_eq!(default["SecurityGroups"][0]["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"], default_id.as_str());

    let created = aws_ok(
        &berth,
        "ec2",
        &[
            "create-security-group",
            "--group-name",
            "db",
            "--description",
            "database tier",
            "--vpc-id",
            "vpc-0be7f000000000001",
            "--tag-specifications",
            "ResourceType=security-group,Tags=[{Key=Name,Value=db}]",
        ],
    );
    let id = created["GroupId"].as_str().unwrap().to_string();
    aws_ok(
        &berth,
        "ec2",
        &[
            "authorize-security-group-ingress",
            "--group-id",
            &id,
            "--protocol",
            "tcp",
            "--port",
            "5432",
            "--source-group",
            &default_id,
        ],
    );
    aws_ok(
        &berth,
        "ec2",
        &[
            "authorize-security-group-ingress",
            "--group-id",
            &id,
            "--protocol",
            "tcp",
            "--port",
            "5432",
            "--cidr",
            "10.1.0.0/16",
        ],
    );
    let dup = common::aws_err(
        &berth,
        "ec2",
        &[
            "authorize-security-group-ingress",
            "--group-id",
            &id,
            "--protocol",
            "tcp",
            "--port",
            "5432",
            "--cidr",
            "10.1.0.0/16",
        ],
    );
    assert!(dup.contains("InvalidPermission.Duplicate"), "{dup}");
    let tagged = aws_ok(&berth, "ec2", &["describe-security-groups", "--filters", "Name=tag:Name,Values=db"]);
    let g = &tagged["SecurityGroups"][0];
    assert_eq!(g["GroupId"], id.as_str(), "{tagged}");
    assert_eq!(g["IpPermissions"][0]["FromPort"], 5432);
    assert_eq!(g["IpPermissions"][0]["IpRanges"][0]["CidrIp"], "10.1.0.0/16");
    assert_eq!(g["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"], default_id.as_str());
    assert_eq!(g["IpPermissionsEgress"][0]["IpProtocol"], "-1");
    aws_ok(
        &berth,
        "ec2",
        &[
            "revoke-security-group-egress",
            "--group-id",
            &id,
            "--ip-permissions",
            "IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]",
        ],
    );
    let in_use = common::aws_err(&berth, "ec2", &["delete-security-group", "--group-id", &default_id]);
    assert!(in_use.contains("CannotDelete") || in_use.contains("DependencyViolation"), "{in_use}");
    aws_ok(&berth, "ec2", &["delete-security-group", "--group-id", &id]);
    let gone = common::aws_err(&berth, "ec2", &["describe-security-groups", "--group-ids", &id]);
    assert!(gone.contains("InvalidGroup.NotFound"), "{gone}");
    let unsupported = common::aws_err(&berth, "ec2", &["describe-instances"]);
    assert!(unsupported.contains("UnsupportedOperation"), "{unsupported}");
    let bad_filter = common::aws_err(&berth, "ec2", &["describe-subnets", "--filters", "Name=nonsense,Values=x"]);
    assert!(bad_filter.contains("InvalidParameterValue"), "{bad_filter}");
}

/// Runs the pair task definition with one security group; its address.
async fn run_in_group(client: &aws_sdk_ecs::Client, group: &str) -> (String, String) {
    let run = client
        .run_task()
        .task_definition("pair")
        .network_configuration(network(&[SUBNET_A], &[group], None))
        .send()
        .await
        .unwrap();
    assert!(run.failures().is_empty(), "{:?}", run.failures());
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    let task = wait_status(client, &arn, "RUNNING", Duration::from_secs(90)).await;
    (arn, attachment_detail(&task, "privateIPv4Address"))
}

/// What a task at `from` gets when it GETs `url` (its `/fetch`): the status it relays (502 when it could not
/// connect within the workload's 5 s).
fn fetch_from(from: &str, url: &str) -> u16 {
    http_get(&format!("http://{from}:9090/fetch?url={url}")).map(|(status, _)| status).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_groups_let_in_only_what_they_allow() {
    let (_networks, berth, client) = up().await;
    let n = _networks.0;
    register_pair(&client, "pair").await;
    let group = |name: &str| {
        let created = aws_ok(&berth, "ec2", &["create-security-group", "--group-name", name, "--description", name]);
        created["GroupId"].as_str().unwrap().to_string()
    };
    let (server, client_group, other) = (group("server"), group("client"), group("other"));
    // The server: 8080 from members of `client` (by source group), 9090 from the host (by CIDR: the host reaches a
    // slice from its bridge, the slice's first address). The others: 9090 from the host, so the test drives them.
    let host = format!("10.{n}.0.1/32");
    let allow = |group: &str, port: &str, source: (&str, &str)| {
        aws_ok(
            &berth,
            "ec2",
            &[
                "authorize-security-group-ingress",
                "--group-id",
                group,
                "--protocol",
                "tcp",
                "--port",
                port,
                source.0,
                source.1,
            ],
        );
    };
    allow(&server, "8080", ("--source-group", &client_group));
    for g in [&server, &client_group, &other] {
        allow(g, "9090", ("--cidr", &host));
    }
    let (server_arn, server_ip) = run_in_group(&client, &server).await;
    let (client_arn, client_ip) = run_in_group(&client, &client_group).await;
    let (_, other_ip) = run_in_group(&client, &other).await;
    for ip in [&server_ip, &client_ip, &other_ip] {
        wait_http_ok(&format!("http://{ip}:9090/health")).await;
    }

    // Task to task: allowed from a member of the source group, dropped from another task.
    let target = format!("http://{server_ip}:8080/health");
    assert_eq!(fetch_from(&client_ip, &target), 200, "a member of the client group reaches the server");
    assert_eq!(fetch_from(&other_ip, &target), 502, "a task outside the client group is dropped");
    // Host to task: 9090 is allowed by CIDR, 8080 is not.
    assert_eq!(http_get(&format!("http://{server_ip}:9090/health")).unwrap().0, 200);
    let refused = berth_testkit::http_get_timeout(&target, Duration::from_secs(2));
    assert!(refused.is_err(), "the host is not allowed on 8080: {refused:?}");

    // Egress: `client` may first reach `other` on 9090 (other lets the client group in there); once client's
    // default allow-all egress is revoked and only 8080 to the server group is allowed, the same fetch is dropped
    // on the way out while the server still answers, and the host still reaches the client (replies pass).
    allow(&other, "9090", ("--source-group", &client_group));
    let to_other = format!("http://{other_ip}:9090/health");
    let eventually = |from: &str, url: &str, status: u16, what: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = fetch_from(from, url);
            if got == status {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: still {got}, expected {status}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    eventually(&client_ip, &to_other, 200, "client reaches other while egress is open");
    aws_ok(
        &berth,
        "ec2",
        &["revoke-security-group-egress", "--group-id", &client_group, "--protocol", "-1", "--cidr", "0.0.0.0/0"],
    );
    aws_ok(
        &berth,
        "ec2",
        &[
            "authorize-security-group-egress",
            "--group-id",
            &client_group,
            "--ip-permissions",
            &format!(
                r#"[{{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{{"GroupId": "{server}"}}]}}]"#
            ),
        ],
    );
    eventually(&client_ip, &to_other, 502, "client's egress to other is dropped");
    assert_eq!(fetch_from(&client_ip, &target), 200, "egress to the server group on 8080 is allowed");
    assert_eq!(http_get(&format!("http://{client_ip}:9090/health")).unwrap().0, 200, "replies go out");
    let client_chain = format!("BERTH-E-{}", &client_arn.rsplit('/').next().unwrap()[..16]);
    assert!(std::process::Command::new("iptables").args(["-S", &client_chain]).output().unwrap().status.success());

    // The rules go with the task.
    let chain = format!("BERTH-T-{}", &server_arn.rsplit('/').next().unwrap()[..16]);
    assert!(std::process::Command::new("iptables").args(["-S", &chain]).output().unwrap().status.success());
    client.stop_task().task(&server_arn).send().await.unwrap();
    wait_status(&client, &server_arn, "STOPPED", Duration::from_secs(60)).await;
    let listing = std::process::Command::new("iptables").args(["-S", "BERTH-SG"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&listing.stdout).contains(&chain), "the task's jump is gone");
    assert!(!std::process::Command::new("iptables").args(["-S", &chain]).output().unwrap().status.success());
}
