//! ELBv2 on the wire: `berth server` embeds the load-balancer data plane, so a load balancer created with the
//! unchanged `aws elbv2` CLI serves traffic on its own address to two workload containers (run here with
//! `docker run -p 0:8080`), DescribeTargetHealth shows the proxy's own health checks, a sick target stops getting
//! traffic, a fixed-response rule answers, and a deregistered target drains.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly and wait in real time

mod common;

use common::{elb, s};

use berth_testkit::{Berth, BerthOptions, docker, http_get_timeout, wait_for_blocking};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

const VPC: &str = "vpc-0be7f000000000001";

/// Two workload containers, removed when dropped.
struct Workloads(Vec<String>);

impl Drop for Workloads {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = docker(&["rm", "-f", name]);
        }
    }
}

/// Runs a workload container named `name` (its hostname too) publishing 8080 on a free host port; the port.
fn run_workload(image: &str, name: &str) -> u16 {
    docker(&["run", "-d", "--name", name, "--hostname", name, "-p", "0:8080", image]).expect("docker run");
    let ports = docker(&["port", name, "8080/tcp"]).expect("docker port");
    ports
        .lines()
        .find_map(|l| l.trim().rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
        .unwrap_or_else(|| panic!("no host port for {name}: {ports:?}"))
}

/// `GET http://addr/path`: status and body (`None` when the request failed).
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    http_get_timeout(&format!("http://{addr}{path}"), Duration::from_secs(5)).ok()
}

/// The hostname the workload reports for `GET /` through `addr`.
fn hostname_via(addr: SocketAddr) -> Option<String> {
    let (status, body) = get(addr, "/")?;
    let v: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
    v["hostname"].as_str().map(str::to_string)
}

/// Each target's (port, state, reason).
fn health(berth: &Berth, tg: &str) -> Vec<(u16, String, String)> {
    let out = elb(berth, &["describe-target-health", "--target-group-arn", tg]);
    let mut v: Vec<(u16, String, String)> = out["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let h = &d["TargetHealth"];
            (
                d["Target"]["Port"].as_u64().unwrap() as u16,
                h["State"].as_str().unwrap_or_default().to_string(),
                h["Reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A /24 of loopback of this test's own (`--elb-address-range`), so that tests running at once do not share load
/// balancer addresses, the first load balancer's address in it, and the port to listen on there: 80 when this
/// user may bind it (root, or CAP_NET_BIND_SERVICE), else a free high port.
fn own_range(k: u32) -> (String, Ipv4Addr, u16) {
    let pid = std::process::id();
    let net = (100 + pid % 100, (pid / 100 + k) % 250 + 1);
    let address = Ipv4Addr::new(127, net.0 as u8, net.1 as u8, 1);
    let port = match TcpListener::bind((address, 80)) {
        Ok(_) => 80,
        Err(_) => TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port(),
    };
    (format!("127.{}.{}.0/24", net.0, net.1), address, port)
}

#[test]
fn a_load_balancer_serves_containers_with_health_checks_rules_and_draining() {
    berth_testkit::require_docker();
    let image = berth_testkit::workload_image().expect("the workload image builds");
    let pid = std::process::id();
    let (range, address, port) = own_range(0);
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--elb-address-range".into(), range],
    })
    .expect("berth server starts");

    let names = [format!("lbw-{pid}-a"), format!("lbw-{pid}-b")];
    let workloads = Workloads(names.to_vec());
    let ports: Vec<u16> = workloads.0.iter().map(|n| run_workload(&image, n)).collect();

    let lb = elb(&berth, &["create-load-balancer", "--name", "web"]);
    let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
    let tg = elb(
        &berth,
        &[
            "create-target-group",
            "--name",
            "app",
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            VPC,
            "--target-type",
            "ip",
            "--health-check-path",
            "/health",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
            "--unhealthy-threshold-count",
            "2",
        ],
    );
    let tg = s(&tg["TargetGroups"][0]["TargetGroupArn"]);
    let targets: Vec<String> = ports.iter().map(|p| format!("Id=127.0.0.1,Port={p},AvailabilityZone=all")).collect();
    let mut args = vec!["register-targets", "--target-group-arn", tg.as_str(), "--targets"];
    args.extend(targets.iter().map(String::as_str));
    elb(&berth, &args);
    let listener = elb(
        &berth,
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            &port.to_string(),
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
    );
    let listener = s(&listener["Listeners"][0]["ListenerArn"]);
    let front = SocketAddr::new(address.into(), port);

    // The proxy's health checks pass: both targets turn healthy.
    wait_for_blocking("both targets healthy", Duration::from_secs(30), || {
        let h = health(&berth, &tg);
        (h.len() == 2 && h.iter().all(|(_, state, _)| state == "healthy")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", health(&berth, &tg), berth.log()));
    assert!(berth.log().contains(&format!("load balancer listening on http://{front}")), "{}", berth.log());

    // Requests through the load balancer's address reach both containers.
    let seen: BTreeSet<String> = (0..10).filter_map(|_| hostname_via(front)).collect();
    assert_eq!(seen, names.iter().cloned().collect::<BTreeSet<_>>(), "hostnames through {front}");

    // A target whose /health answers 503 turns unhealthy with the code, and gets no more traffic.
    let sick = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), ports[0]);
    assert_eq!(get(sick, "/sick").map(|r| r.0), Some(200));
    wait_for_blocking("the sick target unhealthy", Duration::from_secs(40), || {
        let h = health(&berth, &tg);
        h.iter()
            .any(|(p, state, reason)| *p == ports[0] && state == "unhealthy" && reason == "Target.ResponseCodeMismatch")
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", health(&berth, &tg)));
    let described = elb(&berth, &["describe-target-health", "--target-group-arn", &tg]);
    assert!(described.to_string().contains("Health checks failed with these codes: [503]"), "{described}");
    let after: Vec<String> = (0..10).filter_map(|_| hostname_via(front)).collect();
    assert_eq!(after, vec![names[1].clone(); 10], "only the healthy target gets traffic");

    // CloudWatch has the target group's traffic as AWS/ApplicationELB metrics: every one of the 20 requests, and
    // the one healthy host left.
    let tg_dimension = format!("Name=TargetGroup,Value={}", tg.rsplit_once(':').unwrap().1);
    let sum_of = |metric: &str, statistic: &str| -> Option<f64> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let out = common::aws_ok(
            &berth,
            "cloudwatch",
            &[
                "get-metric-statistics",
                "--namespace",
                "AWS/ApplicationELB",
                "--metric-name",
                metric,
                "--dimensions",
                &tg_dimension,
                "--start-time",
                &(now - 900).to_string(),
                "--end-time",
                &(now + 60).to_string(),
                "--period",
                "60",
                "--statistics",
                statistic,
            ],
        );
        let points = out["Datapoints"].as_array()?;
        (!points.is_empty()).then(|| points.iter().filter_map(|p| p[statistic].as_f64()).sum())
    };
    wait_for_blocking("20 requests in RequestCount", Duration::from_secs(40), || {
        (sum_of("RequestCount", "Sum") == Some(20.0)).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: RequestCount {:?}", sum_of("RequestCount", "Sum")));
    assert_eq!(sum_of("HTTPCode_Target_2XX_Count", "Sum"), Some(20.0));
    assert!(sum_of("TargetResponseTime", "Average").is_some_and(|t| t > 0.0 && t < 1.0));
    wait_for_blocking("one healthy host", Duration::from_secs(30), || {
        let hosts = common::aws_ok(&berth, "cloudwatch", &["list-metrics", "--namespace", "AWS/ApplicationELB"]);
        hosts.to_string().contains("HealthyHostCount").then_some(())
    })
    .unwrap();

    // A rule with a path pattern answers with a fixed response.
    let actions = json!([{"Type": "fixed-response",
        "FixedResponseConfig": {"StatusCode": "418", "ContentType": "text/plain", "MessageBody": "short and stout"}}]);
    let conditions = json!([{"Field": "path-pattern", "Values": ["/teapot/*"]}]);
    elb(
        &berth,
        &[
            "create-rule",
            "--listener-arn",
            &listener,
            "--priority",
            "10",
            "--conditions",
            &conditions.to_string(),
            "--actions",
            &actions.to_string(),
        ],
    );
    let fixed = wait_for_blocking("the rule served", Duration::from_secs(10), || {
        get(front, "/teapot/pot").filter(|(status, _)| *status == 418)
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", get(front, "/teapot/pot")));
    assert_eq!(fixed.1, "short and stout");
    assert_eq!(hostname_via(front).as_deref(), Some(names[1].as_str()), "other paths still forward");

    // A deregistered target drains.
    let healthy = format!("Id=127.0.0.1,Port={}", ports[1]);
    elb(&berth, &["deregister-targets", "--target-group-arn", &tg, "--targets", &healthy]);
    let h = health(&berth, &tg);
    assert!(h.contains(&(ports[1], "draining".into(), "Target.DeregistrationInProgress".into())), "{h:?}");

    // Bad input is still the API's: a second listener on the same port is refused before reaching the proxy.
    let dup = common::aws_err(
        &berth,
        "elbv2",
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            &port.to_string(),
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
    );
    assert!(dup.contains("DuplicateListener"), "{dup}");
    drop(workloads);
}

/// An `instance` target: a task RunTask placed with a dynamic host port, registered by its container instance's
/// ec2InstanceId and that port; `berth up`'s local agent is reached at 127.0.0.1.
#[tokio::test]
async fn an_instance_target_is_a_task_on_its_container_instance() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let (range, address, port) = own_range(1);
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec!["--elb-address-range".into(), range],
    })
    .expect("berth up starts");
    let client = common::ecs_client(&berth);
    common::wait_for_instances(&client, "default", 1).await;
    let family = format!("lbw-{}", std::process::id());
    let td = common::register_workload(&client, &family, &[]).await;
    let run = client.run_task().task_definition(&td).send().await.expect("run the task");
    let arn = run.tasks().first().and_then(|t| t.task_arn()).expect("a task").to_string();
    let task = common::wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    let host_port = common::host_port(&task);
    let instance = client
        .describe_container_instances()
        .container_instances(task.container_instance_arn().unwrap())
        .send()
        .await
        .unwrap();
    let ec2_id = instance.container_instances()[0].ec2_instance_id().unwrap().to_string();

    let lb = elb(&berth, &["create-load-balancer", "--name", "tasks"]);
    let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
    let tg = elb(
        &berth,
        &[
            "create-target-group",
            "--name",
            "tasks",
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            VPC,
            "--target-type",
            "instance",
            "--health-check-path",
            "/health",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
        ],
    );
    let tg = s(&tg["TargetGroups"][0]["TargetGroupArn"]);
    let target = format!("Id={ec2_id},Port={host_port}");
    elb(&berth, &["register-targets", "--target-group-arn", &tg, "--targets", &target]);
    elb(
        &berth,
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTP",
            "--port",
            &port.to_string(),
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
    );
    wait_for_blocking("the task healthy", Duration::from_secs(30), || {
        (health(&berth, &tg) == [(host_port, "healthy".to_string(), String::new())]).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", health(&berth, &tg), berth.log()));
    let front = SocketAddr::new(address.into(), port);
    let (status, body) = get(front, "/").expect("a response through the load balancer");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ECS_CONTAINER_METADATA_URI_V4\""), "the task answered: {body}");
    client.stop_task().task(&arn).send().await.expect("stop the task");
}
