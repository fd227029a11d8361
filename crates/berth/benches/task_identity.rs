//! What a task's identity adds to its start (issue 12, item 8): the task role's credentials issued and ten secrets
//! resolved through the execution role, against the same task without them, on a release `berth up` with the real
//! Docker Engine.
//!
//! Two task definitions of the workload image: `plain` (no role, no secrets) and `identity` (a task role, an
//! execution role, five Secrets Manager JSON-key references and five SSM SecureString parameters). Rounds alternate
//! them: each runs 5 tasks at once, waits until they run, and stops them. Figures:
//!
//! - the agent's own timings of the two steps it adds before it pulls or creates anything
//!   (`berth_agent_task_credentials_duration_seconds`, `berth_agent_task_secrets_duration_seconds` on `/metrics`:
//!   the server call that issues the role session, and the one that resolves and decrypts the ten values), as their
//!   mean and the histogram buckets that hold p50 and p99;
//! - each task's start time (`createdAt` to `startedAt`) for both definitions, p50 and p90, and their ratio.
//!
//! Run with `cargo bench -p berth --bench task_identity` (the aws CLI and boto3 of `tools/test --setup-only` on
//! PATH: `PATH=$PWD/.venv/bin:$PATH`; Docker). Results in docs/BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark fails loudly

use berth_testkit::{Berth, BerthOptions, workload_image};
use std::collections::BTreeMap;
use std::process::Command;

const ROUNDS: usize = 12;
const TASKS_PER_ROUND: usize = 5;

/// The driver, in one boto3 process: set-up, then the rounds; prints one JSON object of start times by definition.
const DRIVER: &str = r#"
import boto3, json, sys, time
image, rounds, per_round = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
iam, sm, ssm, ecs = (boto3.client(n) for n in ("iam", "secretsmanager", "ssm", "ecs"))
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
execution = iam.create_role(RoleName="bench-execution", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
iam.put_role_policy(RoleName="bench-execution", PolicyName="read", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
    "Action": ["secretsmanager:GetSecretValue", "ssm:GetParameters", "kms:Decrypt"]}]}))
task_role = iam.create_role(RoleName="bench-task", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
iam.put_role_policy(RoleName="bench-task", PolicyName="list", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:ListClusters", "Resource": "*"}]}))
secret = sm.create_secret(Name="bench/db", SecretString=json.dumps({f"k{i}": f"value-{i}" for i in range(5)}))["ARN"]
secrets = [{"name": f"SM_{i}", "valueFrom": f"{secret}:k{i}::"} for i in range(5)]
for i in range(5):
    ssm.put_parameter(Name=f"/bench/p{i}", Value=f"parameter-{i}", Type="SecureString")
    secrets.append({"name": f"SSM_{i}", "valueFrom": f"/bench/p{i}"})
container = {"name": "app", "image": image, "memory": 32, "essential": True}
ecs.register_task_definition(family="plain", containerDefinitions=[container])
ecs.register_task_definition(family="identity", taskRoleArn=task_role, executionRoleArn=execution,
    containerDefinitions=[dict(container, secrets=secrets)])

def round_of(family):
    arns = [t["taskArn"] for t in ecs.run_task(taskDefinition=family, count=per_round)["tasks"]]
    assert len(arns) == per_round, family
    deadline = time.time() + 120
    while True:
        tasks = ecs.describe_tasks(tasks=arns)["tasks"]
        stopped = [t for t in tasks if t["lastStatus"] == "STOPPED"]
        assert not stopped, json.dumps(stopped, default=str)
        if all(t["lastStatus"] == "RUNNING" for t in tasks):
            break
        assert time.time() < deadline, "tasks did not run in 120 s"
        time.sleep(0.05)
    for arn in arns:
        ecs.stop_task(task=arn)
    while not all(t["lastStatus"] == "STOPPED" for t in ecs.describe_tasks(tasks=arns)["tasks"]):
        time.sleep(0.2)
    return [(t["startedAt"] - t["createdAt"]).total_seconds() for t in tasks]

starts = {"plain": [], "identity": []}
round_of("plain"); round_of("identity")  # warm-up: the image cache, the first role session
for _ in range(rounds):
    for family in ("plain", "identity"):
        starts[family] += round_of(family)
print(json.dumps(starts))
"#;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// One Prometheus histogram from a `/metrics` text: cumulative bucket counts by upper bound, sum and count.
struct Histogram {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

fn histogram(text: &str, name: &str) -> Histogram {
    let mut buckets = Vec::new();
    let (mut sum, mut count) = (0.0, 0.0);
    for line in text.lines().filter(|l| l.starts_with(name)) {
        let (key, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap();
        if let Some(rest) = key.strip_prefix(&format!("{name}_bucket{{le=\"")) {
            let bound = rest.trim_end_matches("\"}");
            buckets.push((if bound == "+Inf" { f64::INFINITY } else { bound.parse().unwrap() }, value));
        } else if key == format!("{name}_sum") {
            sum = value;
        } else if key == format!("{name}_count") {
            count = value;
        }
    }
    assert!(count > 0.0, "{name} has no samples in /metrics");
    Histogram { buckets, sum, count }
}

impl Histogram {
    /// The upper bound of the bucket that holds quantile `q`.
    fn bound(&self, q: f64) -> f64 {
        let rank = q * self.count;
        self.buckets.iter().find(|(_, c)| *c >= rank).map(|(b, _)| *b).unwrap_or(f64::INFINITY)
    }
}

fn main() {
    berth_testkit::require_docker();
    let image = workload_image().expect("the workload image builds");
    let berth =
        Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "up", extra_args: Vec::new() })
            .expect("berth up starts");
    let env = [
        ("AWS_ENDPOINT_URL", berth.url()),
        ("AWS_ACCESS_KEY_ID", berth.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", berth.secret_access_key.clone()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
        ("AWS_CONFIG_FILE", "/dev/null".to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_string()),
    ];
    let out = Command::new("python3")
        .args(["-c", DRIVER, &image, &ROUNDS.to_string(), &TASKS_PER_ROUND.to_string()])
        .envs(env)
        .output()
        .expect("python3 with boto3 (tools/test --setup-only, its .venv first on PATH)");
    assert!(out.status.success(), "driver: {}", String::from_utf8_lossy(&out.stderr));
    let starts: BTreeMap<String, Vec<f64>> = serde_json::from_slice(&out.stdout).expect("the driver prints JSON");
    let metrics = berth_testkit::http_get(&format!("{}/metrics", berth.url())).expect("GET /metrics").1;
    println!("task start (createdAt to startedAt), {ROUNDS} rounds of {TASKS_PER_ROUND} tasks each:");
    let mut p50s = BTreeMap::new();
    for (family, values) in &starts {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let (p50, p90) = (percentile(&sorted, 0.5), percentile(&sorted, 0.9));
        p50s.insert(family.clone(), p50);
        println!("  {family:<9} n={:<3} p50 {:.1} ms, p90 {:.1} ms", sorted.len(), p50 * 1e3, p90 * 1e3);
    }
    println!("  identity / plain at p50: {:.2}x", p50s["identity"] / p50s["plain"]);
    for (what, name) in [
        ("role credentials issued", "berth_agent_task_credentials_duration_seconds"),
        ("10 secrets resolved", "berth_agent_task_secrets_duration_seconds"),
    ] {
        let h = histogram(&metrics, name);
        println!(
            "{what} (agent, per task): n={} mean {:.2} ms, p50 <= {} ms, p99 <= {} ms",
            h.count,
            h.sum / h.count * 1e3,
            h.bound(0.5) * 1e3,
            h.bound(0.99) * 1e3
        );
    }
    berth.remove_containers();
}
