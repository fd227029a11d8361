//! ECS's blue/green family of deployments on `berth up` with real containers, driven by the aws CLI and measured
//! through Berth's load balancer: a LINEAR deployment (a webhook hook at POST_SCALE_UP, PAUSE hooks after the test
//! traffic shift and at each production step) whose test listener reaches green before any production traffic
//! moves and whose production shares match each step over 400 requests; a CANARY deployment measured at its canary
//! share and rolled back by ContinueServiceDeployment under a constant stream of requests with no error; a green
//! revision that fails its load balancer health checks, rolled back by the circuit breaker, and one whose deployment
//! alarm goes to ALARM, rolled back by it, again with no error; StopServiceDeployment during the test traffic shift.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly and time real processes

mod common;

use berth_testkit::{Berth, BerthOptions, wait_for};
use common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ROLE: &str = "arn:aws:iam::000000000000:role/ecsInfrastructureRole";

/// A /24 of loopback of this test's own (`--elb-address-range`; task sets use 60-99, others 100-249), its first
/// load balancer's address, and two ports free there (production and test listeners).
fn own_range() -> (String, Ipv4Addr, u16, u16) {
    let pid = std::process::id();
    let net = (20 + pid % 40, pid / 40 % 250 + 1);
    let address = Ipv4Addr::new(127, net.0 as u8, net.1 as u8, 1);
    let free = || TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port();
    let (production, test) = (free(), free());
    (format!("127.{}.{}.0/24", net.0, net.1), address, production, test)
}

/// A forward action to `blue` only, with `green` attached at weight 0.
fn forward_to(blue: &str, green: &str) -> String {
    json!([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": blue, "Weight": 1}, {"TargetGroupArn": green, "Weight": 0}]}}])
    .to_string()
}

/// `n` requests (a new connection each); the `V` of each answer.
fn versions(front: SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let (status, body) = berth_testkit::http_get_timeout(&format!("http://{front}/"), Duration::from_secs(5))
                .expect("the load balancer answers");
            assert_eq!(status, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            s(&v["env"]["V"])
        })
        .collect()
}

/// The share of `version` among `n` answers, in percent.
fn share(front: SocketAddr, n: usize, version: &str) -> f64 {
    let answers = versions(front, n);
    answers.iter().filter(|v| *v == version).count() as f64 * 100.0 / n as f64
}

/// Requests sent without pause until stopped: how many, and every answer that was not a 200.
struct Stream {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(usize, Vec<String>)>,
}

impl Stream {
    fn start(front: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut sent, mut errors) = (0, Vec::new());
            while !flag.load(Ordering::SeqCst) {
                sent += 1;
                match berth_testkit::http_get_timeout(&format!("http://{front}/"), Duration::from_secs(5)) {
                    Ok((200, _)) => {}
                    Ok((status, body)) => errors.push(format!("{status}: {body}")),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            (sent, errors)
        });
        Self { stop, handle }
    }

    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

/// A webhook hook target: answers IN_PROGRESS (call again in 1 s) the first time, SUCCEEDED after; keeps the
/// payloads it got.
fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let body = loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                data.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&data).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        break Some(body[..length].to_string());
                    }
                }
            };
            let Some(body) = body else { continue };
            let payload: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let first = {
                let mut seen = kept.lock().unwrap();
                seen.push(payload);
                seen.len() == 1
            };
            let reply = if first {
                json!({"hookStatus": "IN_PROGRESS", "callBackDelay": 1, "hookDetails": {"round": 2}})
            } else {
                json!({"hookStatus": "SUCCEEDED"})
            }
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, seen)
}

/// The service's newest service deployment, described.
fn newest_deployment(berth: &Berth) -> Value {
    let list = ecs(berth, &["list-service-deployments", "--cluster", "default", "--service", "web"]);
    let arn = s(&list["serviceDeployments"][0]["serviceDeploymentArn"]);
    ecs(berth, &["describe-service-deployments", "--service-deployment-arns", &arn])["serviceDeployments"][0].clone()
}

/// Waits until the newest service deployment has a PAUSE hook awaiting action at `stage` (and, when given, green's
/// production share is `weight`); answers the deployment and the hook's id.
async fn wait_paused(berth: &Berth, stage: &str, weight: Option<f64>) -> (Value, String) {
    wait_for(&format!("a PAUSE hook awaiting action at {stage} ({weight:?})"), Duration::from_secs(120), || async {
        let d = newest_deployment(berth);
        let hook = d["lifecycleHookDetails"]
            .as_array()?
            .iter()
            .find(|h| h["targetType"] == "PAUSE" && h["status"] == "AWAITING_ACTION")?
            .clone();
        let at_weight =
            weight.is_none_or(|w| d["targetServiceRevision"]["requestedProductionTrafficWeight"].as_f64() == Some(w));
        (d["lifecycleStage"] == json!(stage) && at_weight).then(|| (d.clone(), s(&hook["hookId"])))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", newest_deployment(berth)))
}

async fn wait_status(berth: &Berth, status: &str) -> Value {
    wait_for(&format!("the newest service deployment {status}"), Duration::from_secs(150), || async {
        let d = newest_deployment(berth);
        (d["status"] == json!(status)).then_some(d)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", newest_deployment(berth)))
}

fn continue_hook(berth: &Berth, arn: &str, hook: &str, action: &str) {
    let out = ecs(
        berth,
        &["continue-service-deployment", "--service-deployment-arn", arn, "--hook-id", hook, "--action", action],
    );
    assert_eq!(out["serviceDeploymentArn"], json!(arn), "{out}");
}

fn update(berth: &Berth, td: &str, config: &Value) {
    ecs(
        berth,
        &[
            "update-service",
            "--cluster",
            "default",
            "--service",
            "web",
            "--task-definition",
            td,
            "--deployment-configuration",
            &config.to_string(),
        ],
    );
}

fn pause_at(stages: &[&str]) -> Value {
    json!({"targetType": "PAUSE", "lifecycleStages": stages, "timeoutConfiguration": {"timeoutInMinutes": 600}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linear_and_canary_deployments_shift_traffic_through_the_load_balancer_and_roll_back_without_errors() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let (range, address, production_port, test_port) = own_range();
    let production = SocketAddr::new(address.into(), production_port);
    let test = SocketAddr::new(address.into(), test_port);
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        // A "minute" of bake times and hook timeouts lasts a second.
        extra_args: vec!["--elb-address-range".into(), range, "--deployment-minute-seconds".into(), "1".into()],
    })
    .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    let v1 = register_workload(&client, "web", &[("V", "1")]).await;
    let v2 = register_workload(&client, "web", &[("V", "2")]).await;
    let v3 = register_workload(&client, "web", &[("V", "3")]).await;
    // Serves on 9090 while its port mapping and the health checks say 8080: never healthy.
    let v4 = register_workload(&client, "web", &[("V", "4"), ("PORT", "9090")]).await;
    let tg_a = fast_target_group(&berth, "tg-a");
    let tg_b = fast_target_group(&berth, "tg-b");
    let lb = elb(&berth, &["create-load-balancer", "--name", "front"]);
    let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
    let listener = |port: u16| {
        let l = elb(
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
                &json!([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]).to_string(),
            ],
        );
        s(&l["Listeners"][0]["ListenerArn"])
    };
    let production_listener = listener(production_port);
    let test_listener = listener(test_port);
    let rule = |listener: &str| {
        let r = elb(
            &berth,
            &[
                "create-rule",
                "--listener-arn",
                listener,
                "--priority",
                "10",
                "--conditions",
                "Field=path-pattern,Values=/*",
                "--actions",
                &forward_to(&tg_a, &tg_b),
            ],
        );
        s(&r["Rules"][0]["RuleArn"])
    };
    let production_rule = rule(&production_listener);
    let test_rule = rule(&test_listener);
    let (hook_url, hook_calls) = webhook();
    let load_balancers = json!([{
        "targetGroupArn": tg_a, "containerName": "app", "containerPort": 8080,
        "advancedConfiguration": {"alternateTargetGroupArn": tg_b, "productionListenerRule": production_rule,
            "testListenerRule": test_rule, "roleArn": ROLE}}])
    .to_string();
    let linear = json!({
        "strategy": "LINEAR",
        "linearConfiguration": {"stepPercent": 34.0, "stepBakeTimeInMinutes": 0},
        "bakeTimeInMinutes": 1,
        "deploymentCircuitBreaker": {"enable": true, "rollback": true},
        "lifecycleHooks": [
            {"hookTargetArn": hook_url, "roleArn": ROLE, "lifecycleStages": ["POST_SCALE_UP"],
             "hookDetails": {"suite": "smoke"}},
            pause_at(&["POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"]),
        ],
    });

    // ECS's refusals first: a Lambda ARN (Berth has no Lambda), hooks on a rolling service.
    let create = |config: &Value| {
        aws_json(
            &berth,
            "ecs",
            &[
                "create-service",
                "--service-name",
                "web",
                "--task-definition",
                &v1,
                "--desired-count",
                "2",
                "--load-balancers",
                &load_balancers,
                "--deployment-configuration",
                &config.to_string(),
            ],
            &[],
        )
    };
    let mut lambda = linear.clone();
    lambda["lifecycleHooks"][0]["hookTargetArn"] = json!("arn:aws:lambda:us-east-1:000000000000:function:check");
    let e = create(&lambda).unwrap_err();
    assert!(e.contains("UnsupportedFeatureException") && e.contains("Lambda"), "{e}");
    let e = create(&json!({"strategy": "ROLLING", "lifecycleHooks": [pause_at(&["PRE_SCALE_UP"])]})).unwrap_err();
    assert!(e.contains("InvalidParameterException") && e.contains("Lifecycle hooks"), "{e}");
    let created = create(&linear).unwrap();
    assert_eq!(created["service"]["deploymentConfiguration"]["strategy"], "LINEAR", "{created}");

    // The first deployment just starts blue in the primary target group; the rules send everything there.
    let steady = wait_status(&berth, "SUCCESSFUL").await;
    assert!(steady.get("lifecycleStage").is_none(), "the first deployment has no blue: {steady}");
    wait_for("blue serves production and test traffic", Duration::from_secs(60), || async {
        let ok = berth_testkit::http_get_timeout(&format!("http://{production}/"), Duration::from_secs(2))
            .is_ok_and(|(status, _)| status == 200);
        ok.then_some(())
    })
    .await
    .unwrap();
    assert_eq!(share(production, 20, "1"), 100.0);
    assert_eq!(share(test, 20, "1"), 100.0);

    // LINEAR to v2: green starts in the alternate group; the webhook is called (again after IN_PROGRESS).
    update(&berth, &v2, &linear);
    let (d, hook) = wait_paused(&berth, "POST_TEST_TRAFFIC_SHIFT", Some(0.0)).await;
    let arn = s(&d["serviceDeploymentArn"]);
    {
        let calls = hook_calls.lock().unwrap();
        assert_eq!(calls.len(), 2, "IN_PROGRESS, then SUCCEEDED: {calls:?}");
        assert_eq!(calls[0]["lifecycleStage"], "POST_SCALE_UP", "{}", calls[0]);
        assert_eq!(calls[0]["hookDetails"], json!({"suite": "smoke"}), "{}", calls[0]);
        assert_eq!(calls[1]["hookDetails"], json!({"round": 2}), "what IN_PROGRESS answered is passed on");
        assert_eq!(calls[0]["executionDetails"]["targetServiceRevisionArn"], d["targetServiceRevision"]["arn"]);
    }
    assert_eq!(d["targetServiceRevision"]["requestedTestTrafficWeight"], 100.0, "{d}");
    // The test listener reaches green before any production traffic moves.
    assert_eq!(share(test, 100, "2"), 100.0);
    assert_eq!(share(production, 100, "1"), 100.0);
    continue_hook(&berth, &arn, &hook, "CONTINUE");
    let e =
        aws_err(&berth, "ecs", &["continue-service-deployment", "--service-deployment-arn", &arn, "--hook-id", &hook]);
    assert!(e.contains("InvalidParameterException") || e.contains("ClientException"), "{e}");

    // Each production step: paused by its hook, measured over 400 requests.
    let mut measured = Vec::new();
    for step in [34.0, 68.0, 100.0] {
        let (_, hook) = wait_paused(&berth, "PRODUCTION_TRAFFIC_SHIFT", Some(step)).await;
        let green = share(production, 400, "2");
        measured.push((step, green));
        assert!((green - step).abs() <= 5.0, "step {step}%: green answered {green}% of 400 requests");
        continue_hook(&berth, &arn, &hook, "CONTINUE");
    }
    println!("LINEAR steps (configured %, measured % of 400): {measured:?}");
    let done = wait_status(&berth, "SUCCESSFUL").await;
    assert_eq!(done["lifecycleStage"], "CLEAN_UP", "{done}");
    assert_eq!(share(production, 50, "2"), 100.0);
    let service = ecs(&berth, &["describe-services", "--services", "web"])["services"][0].clone();
    assert_eq!(service["taskDefinition"], json!(v2), "{service}");

    // CANARY to v3 (green is now in the primary group: the sides swapped), measured at its canary share, then
    // rolled back by ContinueServiceDeployment while requests keep coming.
    let canary = json!({
        "strategy": "CANARY",
        "canaryConfiguration": {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 0},
        "bakeTimeInMinutes": 0,
        "lifecycleHooks": [pause_at(&["PRODUCTION_TRAFFIC_SHIFT"])],
    });
    update(&berth, &v3, &canary);
    let (d, hook) = wait_paused(&berth, "PRODUCTION_TRAFFIC_SHIFT", Some(20.0)).await;
    let arn = s(&d["serviceDeploymentArn"]);
    let green = share(production, 400, "3");
    println!("CANARY 20%: green answered {green}% of 400 requests");
    assert!((green - 20.0).abs() <= 5.0, "canary 20%: green answered {green}%");
    let stream = Stream::start(production);
    tokio::time::sleep(Duration::from_millis(500)).await;
    continue_hook(&berth, &arn, &hook, "ROLLBACK");
    let rolled = wait_status(&berth, "ROLLBACK_SUCCESSFUL").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (sent, errors) = stream.finish();
    assert!(errors.is_empty(), "{} of {sent} requests failed during the rollback: {errors:?}", errors.len());
    assert!(sent >= 20, "only {sent} requests were sent");
    println!("CANARY rollback: {sent} requests, {} errors", errors.len());
    assert!(s(&rolled["rollback"]["reason"]).contains("ContinueServiceDeployment"), "{rolled}");
    assert_eq!(share(production, 50, "2"), 100.0);

    // A green that never passes its health checks: the circuit breaker rolls back; production never sees it.
    let blue_green = json!({
        "strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0,
        "deploymentCircuitBreaker": {"enable": true, "rollback": true},
    });
    let stream = Stream::start(production);
    update(&berth, &v4, &blue_green);
    let failed = wait_status(&berth, "ROLLBACK_SUCCESSFUL").await;
    let (sent, errors) = stream.finish();
    assert!(errors.is_empty(), "{} of {sent} requests failed: {errors:?}", errors.len());
    println!("failing green: {sent} requests, {} errors; {}", errors.len(), failed["statusReason"]);
    assert!(s(&failed["statusReason"]).contains("Circuit breaker"), "{failed}");
    assert_eq!(share(production, 50, "2"), 100.0);
    let service = ecs(&berth, &["describe-services", "--services", "web"])["services"][0].clone();
    assert_eq!(service["taskDefinition"], json!(v2), "{service}");

    // A green whose deployment alarm goes to ALARM (after the test traffic shift): back to blue, no error.
    aws_ok(
        &berth,
        "cloudwatch",
        &[
            "put-metric-alarm",
            "--alarm-name",
            "web-5xx",
            "--namespace",
            "App",
            "--metric-name",
            "Errors",
            "--statistic",
            "Sum",
            "--period",
            "60",
            "--evaluation-periods",
            "1",
            "--threshold",
            "1",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
        ],
    );
    let alarmed = json!({
        "strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0,
        "alarms": {"alarmNames": ["web-5xx"], "enable": true, "rollback": true},
        "lifecycleHooks": [pause_at(&["POST_TEST_TRAFFIC_SHIFT"])],
    });
    let stream = Stream::start(production);
    update(&berth, &v3, &alarmed);
    wait_paused(&berth, "POST_TEST_TRAFFIC_SHIFT", Some(0.0)).await;
    let alarm = ["set-alarm-state", "--alarm-name", "web-5xx", "--state-value", "ALARM", "--state-reason", "5xx"];
    aws_ok(&berth, "cloudwatch", &alarm);
    let tripped = wait_status(&berth, "ROLLBACK_SUCCESSFUL").await;
    let (sent, errors) = stream.finish();
    assert!(errors.is_empty(), "{} of {sent} requests failed: {errors:?}", errors.len());
    println!("alarm on green: {sent} requests, {} errors", errors.len());
    assert_eq!(tripped["alarms"]["triggeredAlarmNames"], json!(["web-5xx"]), "{tripped}");
    assert_eq!(share(production, 50, "2"), 100.0);
    assert_eq!(share(test, 50, "2"), 100.0, "the test rule is back on blue too");

    // StopServiceDeployment during the test traffic shift: back to blue as well.
    let paused = json!({
        "strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0,
        "lifecycleHooks": [pause_at(&["POST_TEST_TRAFFIC_SHIFT"])],
    });
    update(&berth, &v3, &paused);
    let (d, _) = wait_paused(&berth, "POST_TEST_TRAFFIC_SHIFT", Some(0.0)).await;
    assert_eq!(share(test, 20, "3"), 100.0);
    let arn = s(&d["serviceDeploymentArn"]);
    ecs(&berth, &["stop-service-deployment", "--service-deployment-arn", &arn, "--stop-type", "ROLLBACK"]);
    let stopped = wait_status(&berth, "ROLLBACK_SUCCESSFUL").await;
    assert!(s(&stopped["statusReason"]).contains("StopServiceDeployment"), "{stopped}");
    assert_eq!(share(test, 50, "2"), 100.0);
    assert_eq!(share(production, 50, "2"), 100.0);
}
