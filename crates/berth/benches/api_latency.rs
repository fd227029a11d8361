//! End-to-end API latency with and without IAM policies (issue 12, item 8): `DescribeClusters` through the real
//! front door (SigV4, identity lookup, authorization, the ECS handler) of a release `berth server` on loopback,
//! signed by the Rust ECS SDK, as three callers:
//!
//! - the account's root key (full access);
//! - a user with one inline policy allowing `ecs:Describe*`;
//! - a role session (AssumeRole) whose role has 100 attached managed policies of 20 statements each, only the last
//!   of which allows the call (the quota raised with `--iam-policies-per-role`), so that every applicable statement
//!   of the other 99 is read first.
//!
//! Rounds alternate the callers so that the machine's load drifts over all three alike. Run with
//! `cargo bench -p berth --bench api_latency` (needs the aws CLI and boto3 of `tools/test --setup-only` on PATH:
//! `PATH=$PWD/.venv/bin:$PATH`); results in docs/BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // a benchmark fails loudly and reads the real clock

use aws_sdk_ecs::config::{Credentials, Region};
use berth_testkit::{Berth, BerthOptions};
use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 10;
const CALLS_PER_ROUND: usize = 300;
const POLICIES: usize = 100;
const STATEMENTS: usize = 20;

/// The environment the aws CLI and boto3 need to reach this Berth as its root.
fn root_env(berth: &Berth) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), berth.url()),
        ("AWS_ACCESS_KEY_ID".into(), berth.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY".into(), berth.secret_access_key.clone()),
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
    ]
}

/// The set-up, in one boto3 process (200 IAM calls; the aws CLI would start Python 200 times): a user with an
/// inline policy and an access key, a role it may assume with the attached policies, and the role's session.
/// Prints a JSON object with both credentials.
const SETUP: &str = r#"
import boto3, json, sys
policies, statements = int(sys.argv[1]), int(sys.argv[2])
iam, sts = boto3.client("iam"), boto3.client("sts")
iam.create_user(UserName="bench")
iam.put_user_policy(UserName="bench", PolicyName="describe", PolicyDocument=json.dumps({"Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"},
                  {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
key = iam.create_access_key(UserName="bench")["AccessKey"]
user_arn = iam.get_user(UserName="bench")["User"]["Arn"]
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn},
    "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="bench-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
for p in range(policies):
    body = []
    for s in range(statements):
        kind = s % 5
        if kind == 0:
            body.append({"Effect": "Allow", "Action": [f"ecs:List{p}x{s}*", "ecs:CreateService"],
                         "Resource": f"arn:aws:ecs:*:*:service/team-{p}-{s}/*"})
        elif kind == 1:
            body.append({"Effect": "Allow", "Action": "ecs:Describe*",
                         "Resource": f"arn:aws:ecs:us-west-2:*:cluster/team-{p}-{s}-*"})
        elif kind == 2:
            body.append({"Effect": "Allow", "Action": "ecs:*", "Resource": "*",
                         "Condition": {"IpAddress": {"aws:SourceIp": f"10.{p}.{s}.0/24"}}})
        elif kind == 3:
            body.append({"Effect": "Deny", "NotAction": ["ecs:*", "sts:*", "iam:Get*"],
                         "Resource": f"arn:aws:iam::*:role/forbidden-{p}-{s}"})
        else:
            body.append({"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*",
                         "Condition": {"StringEquals": {"aws:PrincipalTag/team": f"team-{p}-{s}"}}})
    if p == policies - 1:
        body[-1] = {"Effect": "Allow", "Action": "ecs:DescribeClusters", "Resource": "*"}
    arn = iam.create_policy(PolicyName=f"bench-{p}", PolicyDocument=json.dumps({"Version": "2012-10-17",
        "Statement": body}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="bench-role", PolicyArn=arn)
user = boto3.client("sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
creds = user.assume_role(RoleArn=role["Arn"], RoleSessionName="bench", DurationSeconds=3600)["Credentials"]
print(json.dumps({"user": [key["AccessKeyId"], key["SecretAccessKey"]],
                  "role": [creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]]}))
"#;

fn client(berth: &Berth, id: &str, secret: &str, token: Option<&str>) -> aws_sdk_ecs::Client {
    let credentials = Credentials::new(id, secret, token.map(str::to_string), None, "bench");
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(berth.url())
        .credentials_provider(credentials)
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--iam-policies-per-role".into(), POLICIES.to_string()],
    };
    let berth = Berth::start(options).expect("berth server starts");
    let setup_started = Instant::now();
    let out = Command::new("python3")
        .args(["-c", SETUP, &POLICIES.to_string(), &STATEMENTS.to_string()])
        .envs(root_env(&berth))
        .output()
        .expect("python3 with boto3 (tools/test --setup-only, its .venv first on PATH)");
    assert!(out.status.success(), "set-up: {}", String::from_utf8_lossy(&out.stderr));
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the set-up prints its keys");
    eprintln!("set-up: {POLICIES} policies of {STATEMENTS} statements in {:?}", setup_started.elapsed());
    let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    let callers = [
        ("root key", client(&berth, &berth.access_key_id, &berth.secret_access_key, None)),
        ("user, 1 inline policy", client(&berth, &s(&keys["user"][0]), &s(&keys["user"][1]), None)),
        (
            "role session, 100 x 20 statements",
            client(&berth, &s(&keys["role"][0]), &s(&keys["role"][1]), Some(&s(&keys["role"][2]))),
        ),
    ];
    for (name, c) in &callers {
        for _ in 0..100 {
            c.describe_clusters().clusters("default").send().await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); callers.len()];
    for _ in 0..ROUNDS {
        for (i, (_, c)) in callers.iter().enumerate() {
            for _ in 0..CALLS_PER_ROUND {
                let started = Instant::now();
                c.describe_clusters().clusters("default").send().await.unwrap();
                samples[i].push(started.elapsed());
            }
        }
    }
    let base = {
        let mut v = samples[0].clone();
        v.sort();
        (percentile(&v, 0.5), percentile(&v, 0.99))
    };
    println!("| caller | calls | p50 | p99 | p50 vs root | p99 vs root |");
    println!("|---|---|---|---|---|---|");
    for (i, (name, _)) in callers.iter().enumerate() {
        let mut v = samples[i].clone();
        v.sort();
        let (p50, p99) = (percentile(&v, 0.5), percentile(&v, 0.99));
        println!(
            "| {name} | {} | {:.0} µs | {:.0} µs | {:.2}x | {:.2}x |",
            v.len(),
            micros(p50),
            micros(p99),
            micros(p50) / micros(base.0),
            micros(p99) / micros(base.1)
        );
    }
}
