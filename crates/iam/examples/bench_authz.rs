//! Authorization cost per call (issue 12, item 8): a user with 100 attached managed policies of 20 statements each
//! (quotas raised for it), asked 200,000 questions of the kinds an API sees (allowed early and late, implicitly
//! denied after every statement is read, explicitly denied, conditions on request keys), in-process through
//! `Iam::authorize` — the same call every Berth API makes. Prints p50/p99/p99.9/max per call; the goal is a p99
//! under 50 µs.
//!
//! Each call is timed twice: by the wall clock (what a caller waits, preemptions included) and by the thread's CPU
//! clock (`CLOCK_THREAD_CPUTIME_ID`: the work the call costs, which the other processes on a shared machine do not
//! inflate), overall and per kind of question.
//!
//! `cargo run --release -p berth-iam --example bench_authz`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark fails loudly; it times real work

use berth_iam::ops::Caller;
use berth_iam::policy::{Context, Decision, Request, evaluate_set};
use berth_iam::{Authz, EncodeOnly, Iam, IamConfig, Identity};
use berth_model::clock::{Clock, SystemClock};
use berth_store::{MemoryStore, SharedStore};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

/// The calling thread's CPU time in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The `q` quantile of sorted nanosecond samples, in µs.
fn quantile(sorted: &[u64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)] as f64 / 1000.0
}

const ACCOUNT: &str = "111122223333";
const POLICIES: usize = 100;
const STATEMENTS: usize = 20;
const CALLS: usize = 200_000;

/// Statement `s` of policy `p`: a mix of what real policies hold — action wildcards, resource ARN wildcards,
/// NotAction, Deny, and conditions on request keys (String*, Arn*, IpAddress, Bool, Numeric, Null, IfExists).
fn statement(p: usize, s: usize) -> Value {
    let team = format!("team{p}");
    match s % 10 {
        0 => json!({"Effect": "Allow", "Action": ["ecs:Describe*", "ecs:List*"],
                    "Resource": format!("arn:aws:ecs:*:{ACCOUNT}:cluster/{team}-*")}),
        1 => json!({"Effect": "Allow", "Action": "ecs:RunTask",
                    "Resource": format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{team}-*:*"),
                    "Condition": {"ArnLike": {"ecs:cluster": format!("arn:aws:ecs:*:{ACCOUNT}:cluster/{team}-*")}}}),
        2 => json!({"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    "Resource": format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{team}/*")}),
        3 => json!({"Effect": "Allow", "Action": "logs:*",
                    "Resource": format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/{team}/*:*"),
                    "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}}),
        4 => json!({"Effect": "Deny", "NotAction": ["ecs:*", "ecr:*", "logs:*", "secretsmanager:GetSecretValue"],
                    "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": format!("{team}-x")}}}),
        5 => json!({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                    "Resource": format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{team}/*"),
                    "Condition": {"StringEqualsIfExists": {"aws:ResourceTag/team": team}}}),
        6 => json!({"Effect": "Allow", "Action": "ecs:UpdateService",
                    "Resource": format!("arn:aws:ecs:us-east-1:{ACCOUNT}:service/{team}-*/*"),
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}, "NumericLessThan": {"s{s}:n": "5"}}}),
        7 => json!({"Effect": "Deny", "Action": "ecs:DeleteCluster",
                    "Resource": format!("arn:aws:ecs:*:{ACCOUNT}:cluster/{team}-prod*")}),
        8 => json!({"Effect": "Allow", "Action": ["elasticloadbalancing:Describe*", "cloudwatch:Get*"],
                    "Resource": "*", "Condition": {"Null": {format!("aws:RequestTag/{team}"): "true"}}}),
        _ => json!({"Effect": "Allow", "Action": "ecs:TagResource",
                    "Resource": format!("arn:aws:ecs:*:{ACCOUNT}:*/{team}-*"),
                    "Condition": {"StringLike": {"aws:RequestTag/owner": [format!("{team}-*"), "shared-*"]}}}),
    }
}

/// The questions asked, round robin: (action, resource, source IP); the decision each should get is checked once.
fn questions() -> Vec<(String, String, &'static str, &'static str)> {
    vec![
        // Allowed by the first policy's first statement.
        (
            "ecs:DescribeServices".into(),
            format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/team0-a"),
            "10.1.2.3",
            "allow",
        ),
        // Allowed only by the last policy.
        (
            "ecr:BatchGetImage".into(),
            format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team99/web"),
            "10.1.2.3",
            "allow",
        ),
        // Allowed by an IpAddress condition in the middle.
        (
            "logs:PutLogEvents".into(),
            format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/team50/web:*"),
            "192.168.1.1",
            "allow",
        ),
        // Nothing matches: every statement is read (the worst case).
        ("ecs:CreateCluster".into(), format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/other"), "10.1.2.3", "implicit"),
        // Explicitly denied by a late policy.
        (
            "ecs:DeleteCluster".into(),
            format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/team98-prod-1"),
            "10.1.2.3",
            "explicit",
        ),
        // A condition that fails (source address outside) and nothing else allows.
        (
            "logs:PutLogEvents".into(),
            format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/team50/web:*"),
            "8.8.8.8",
            "implicit",
        ),
    ]
}

fn kind(decision: &Decision) -> &'static str {
    match decision {
        d if d.allowed() => "allow",
        Decision::ExplicitDeny { .. } => "explicit",
        _ => "implicit",
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut config = IamConfig::new(ACCOUNT);
    config.quotas.managed_per_user = POLICIES;
    config.quotas.managed_policy_bytes = 64 * 1024;
    let iam = Iam::open(config, store, clock, Arc::new(EncodeOnly)).await.unwrap();
    let root = Caller { arn: format!("arn:aws:iam::{ACCOUNT}:root"), identity: None };
    let call = |op: &'static str, input: Value| {
        let iam = iam.clone();
        let root = root.clone();
        async move {
            let out =
                iam.call_iam(op, input.to_string().as_bytes(), &root).await.unwrap_or_else(|e| panic!("{op}: {e}"));
            serde_json::from_slice::<Value>(&out).unwrap()
        }
    };
    call("CreateUser", json!({"UserName": "bench"})).await;
    let mut bytes = 0;
    for p in 0..POLICIES {
        let document = json!({"Version": "2012-10-17",
                              "Statement": (0..STATEMENTS).map(|s| statement(p, s)).collect::<Vec<_>>()})
        .to_string();
        bytes += document.len();
        let created = call("CreatePolicy", json!({"PolicyName": format!("p{p}"), "PolicyDocument": document})).await;
        let arn = created["CreatePolicyResponse"]["CreatePolicyResult"]["Policy"]["Arn"]
            .as_str()
            .or_else(|| created["Policy"]["Arn"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("arn:aws:iam::{ACCOUNT}:policy/p{p}"));
        call("AttachUserPolicy", json!({"UserName": "bench", "PolicyArn": arn})).await;
    }
    let identity = Identity::User("bench".into());
    let arn = format!("arn:aws:iam::{ACCOUNT}:user/bench");
    let questions = questions();
    let ask = |(action, resource, ip, _): &(String, String, &'static str, &'static str)| {
        let mut context = Context::new();
        context.set("aws:SourceIp", *ip).set("aws:SecureTransport", "false");
        iam.authorize(Authz { identity: &identity, arn: &arn, action, resource, context, resource_policy: None })
    };
    for q in &questions {
        assert_eq!(kind(&ask(q)), q.3, "{} on {} from {}", q.0, q.1, q.2);
    }
    let mut samples: Vec<u64> = Vec::with_capacity(CALLS);
    let mut cpu: Vec<u64> = Vec::with_capacity(CALLS);
    let mut by_kind: Vec<(Vec<u64>, Vec<u64>)> = vec![(Vec::new(), Vec::new()); questions.len()];
    let started = Instant::now();
    for i in 0..CALLS {
        let k = i % questions.len();
        let q = &questions[k];
        let c = thread_cpu_ns();
        let t = Instant::now();
        let decision = ask(q);
        let wall_ns = t.elapsed().as_nanos() as u64;
        let cpu_ns = thread_cpu_ns().saturating_sub(c);
        samples.push(wall_ns);
        cpu.push(cpu_ns);
        by_kind[k].0.push(wall_ns);
        by_kind[k].1.push(cpu_ns);
        std::hint::black_box(decision);
    }
    let wall = started.elapsed();
    // The policy evaluation alone (the cached, indexed policy set; no principal lookup), for where the time goes.
    let set = iam.policies_of(&identity);
    let principal = iam.request_principal(&identity, &arn);
    let mut context = Context::new();
    context.set("aws:SourceIp", "10.1.2.3").set("aws:SecureTransport", "false");
    let mut alone: Vec<u64> = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let q = &questions[i % questions.len()];
        let request = Request { principal: &principal, action: &q.0, resource: &q.1, context: &context };
        let t = Instant::now();
        std::hint::black_box(evaluate_set(&request, &set, None));
        alone.push(t.elapsed().as_nanos() as u64);
    }
    alone.sort_unstable();
    let alone_at = |q: f64| alone[((alone.len() as f64 * q) as usize).min(alone.len() - 1)] as f64 / 1000.0;
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)] as f64 / 1000.0;
    println!(
        "{POLICIES} policies x {STATEMENTS} statements ({} KiB of documents), {CALLS} authorizations in {:.2} s",
        bytes / 1024,
        wall.as_secs_f64()
    );
    println!(
        "per call: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us (goal: p99 < 50 us)",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
    println!(
        "the evaluation alone: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us",
        alone_at(0.5),
        alone_at(0.99),
        alone_at(0.999)
    );
    cpu.sort_unstable();
    println!(
        "per call, thread CPU time: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
        quantile(&cpu, 0.5),
        quantile(&cpu, 0.99),
        quantile(&cpu, 0.999),
        quantile(&cpu, 1.0)
    );
    for (q, (wall, cpu)) in questions.iter().zip(by_kind.iter_mut()) {
        wall.sort_unstable();
        cpu.sort_unstable();
        println!(
            "  {:<30} {:<9} wall p50 {:>6.1} p99 {:>7.1} us | CPU p50 {:>6.1} p99 {:>6.1} us",
            format!("{} from {}", q.0, q.2),
            q.3,
            quantile(wall, 0.5),
            quantile(wall, 0.99),
            quantile(cpu, 0.5),
            quantile(cpu, 0.99)
        );
    }
}
