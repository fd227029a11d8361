//! Task roles end to end on `berth up` and the real Docker Engine: a task's containers get their role's
//! credentials from the agent's endpoint at 169.254.170.2 through botocore's container provider, unchanged, and
//! call Berth with them (STS GetCallerIdentity names the task's session, the role's policy allows one ECS call and
//! not another); bridge, awsvpc and host tasks; one task cannot read another's credentials (from its own
//! container, from a container Berth does not run, from the host network); the NAT rules go with the task; a role
//! ECS tasks may not assume fails the task with ECS's words.
//!
//! The probe image is built here with no pull: `FROM scratch` with the host's `/usr/bin/python3.11`, its shared
//! libraries (from `ldd`), a pruned `/usr/lib/python3.11`, and botocore (with only its `sts` and `ecs` models) and
//! its dependencies from the project's `.venv`. It is tagged by the hash of its inputs and built once per run.
//! A second probe, `berth-sdk-probe` (crates/sdk-probe), does the same with the Rust SDK's default credential
//! chain: the binary built with this test's profile, with its shared libraries (from `ldd`), in a `FROM scratch`
//! image.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions, docker, wait_for};
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

const PROBE: &str = include_str!("task_role/probe.py");

/// Assembles the image's root filesystem in `$1/root` from the host and the `.venv` at `$2`.
const ASSEMBLE: &str = r#"
set -euo pipefail
ctx=$1; venv=$2
root=$ctx/root
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/app"
cp -L /usr/bin/python3.11 "$root/usr/bin/python3"
tar -C /usr/lib -cf - \
  --exclude=python3.11/test --exclude=python3.11/idlelib --exclude=python3.11/tkinter \
  --exclude=python3.11/turtledemo --exclude=python3.11/ensurepip --exclude=python3.11/lib2to3 \
  --exclude=python3.11/pydoc_data --exclude=python3.11/config-3.11-x86_64-linux-gnu \
  --exclude=python3.11/site-packages --exclude=python3.11/dist-packages --exclude=python3.11/sitecustomize.py \
  --exclude='python3.11/lib-dynload/_test*' python3.11 | tar -C "$root/usr/lib" -xf -
for f in /usr/bin/python3.11 /usr/lib/python3.11/lib-dynload/*.so; do
  ldd "$f" | awk '/=>/ && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
done | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
sp=$venv/lib/python3.11/site-packages
cp -rL "$sp/botocore" "$sp/dateutil" "$sp/jmespath" "$sp/urllib3" "$sp/six.py" "$root/app/"
find "$root/app/botocore/data" -mindepth 1 -maxdepth 1 -type d ! -name sts ! -name ecs -exec rm -rf {} +
find "$root" -name __pycache__ -type d -prune -exec rm -rf {} +
"#;

/// Builds (once per process) the probe image and returns its tag.
fn probe_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(build_probe_image).clone()
}

fn build_probe_image() -> String {
    let venv = berth_testkit::workspace_root().join(".venv");
    let botocore = std::fs::read_to_string(venv.join("lib/python3.11/site-packages/botocore/__init__.py")).unwrap();
    let python = std::fs::metadata("/usr/bin/python3.11").expect("the host has /usr/bin/python3.11").len();
    let hash = hex::encode(Sha256::digest(format!("{PROBE}{ASSEMBLE}{botocore}{python}")));
    let tag = format!("berth-role-probe:{}", &hash[..12]);
    if docker(&["image", "inspect", "--format", "{{.Id}}", &tag]).is_ok() {
        return tag;
    }
    let context = tempfile::tempdir().unwrap();
    let ctx = context.path().to_str().unwrap();
    let status = std::process::Command::new("bash")
        .args(["-c", ASSEMBLE, "assemble", ctx, venv.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "assembling the probe image's files");
    std::fs::write(context.path().join("root/app/probe.py"), PROBE).unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY root/ /\nENV PYTHONPATH=/app PYTHONDONTWRITEBYTECODE=1 \
         LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu\n\
         ENTRYPOINT [\"/usr/bin/python3\", \"-S\", \"/app/probe.py\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--quiet", "--tag", &tag, ctx])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
    tag
}

/// Packs the binary at `$2` and its shared libraries (from `ldd`) into `$1/root`.
const ASSEMBLE_BINARY: &str = r#"
set -euo pipefail
root=$1/root; bin=$2
mkdir -p "$root/app" "$root/etc/ssl/certs"
cp -L "$bin" "$root/app/probe"
ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"; fi
"#;

/// Builds (once per process) the Rust SDK probe's image: `cargo build -p berth-sdk-probe` with this test's profile
/// and target directory (its dependencies are the workspace's, already built), then the binary and its libraries
/// `FROM scratch`.
fn rust_probe_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(build_rust_probe_image).clone()
}

fn build_rust_probe_image() -> String {
    // This test runs from <target>/<profile>/deps/; the probe lands in <target>/<profile>/.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let mut build = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build.current_dir(berth_testkit::workspace_root()).args(["build", "--quiet", "-p", "berth-sdk-probe"]);
    build.arg("--target-dir").arg(target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build -p berth-sdk-probe");
    let binary = profile_dir.join("berth-sdk-probe");
    let bytes = std::fs::read(&binary).unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let tag = format!("berth-sdk-probe:{}", &hex::encode(Sha256::digest(&bytes))[..12]);
    if docker(&["image", "inspect", "--format", "{{.Id}}", &tag]).is_ok() {
        return tag;
    }
    let context = tempfile::tempdir().unwrap();
    let ctx = context.path().to_str().unwrap();
    let status = std::process::Command::new("bash")
        .args(["-c", ASSEMBLE_BINARY, "assemble", ctx, binary.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "assembling the Rust probe image's files");
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY root/ /\nENV LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu\n\
         ENTRYPOINT [\"/app/probe\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--quiet", "--tag", &tag, ctx])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
    tag
}

/// Forwards a port on the Docker bridge's gateway to the Berth API on loopback, so bridge and awsvpc containers
/// reach it (the test's Berth listens on 127.0.0.1 only). Bytes pass unchanged: SigV4 signatures hold.
fn forward_to(berth: &Berth, gateway: &str) -> String {
    let listener = std::net::TcpListener::bind((gateway, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let port = berth.port;
    std::thread::spawn(move || {
        for inbound in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(outbound) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return };
                let (mut a, mut b) = (inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                let t = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
                let (mut a, mut b) = (outbound, inbound);
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
                let _ = t.join();
            });
        }
    });
    format!("http://{addr}")
}

/// The default bridge's gateway (engines that record none give the bridge the subnet's first address).
fn bridge_gateway() -> String {
    let config: Value =
        serde_json::from_str(&docker(&["network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"]).unwrap())
            .unwrap();
    if let Some(gateway) = config[0]["Gateway"].as_str().filter(|g| !g.is_empty()) {
        return gateway.to_string();
    }
    let subnet = config[0]["Subnet"].as_str().unwrap();
    let network: std::net::Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
    std::net::Ipv4Addr::from(u32::from(network) + 1).to_string()
}

const TRUST_ECS_TASKS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const LIST_CLUSTERS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:ListClusters","Resource":"*"}]}"#;

fn create_role(berth: &Berth, name: &str, trust: &str) -> String {
    let role = aws_ok(berth, "iam", &["create-role", "--role-name", name, "--assume-role-policy-document", trust]);
    aws_ok(
        berth,
        "iam",
        &["put-role-policy", "--role-name", name, "--policy-name", "list", "--policy-document", LIST_CLUSTERS],
    );
    role["Role"]["Arn"].as_str().unwrap().to_string()
}

fn register(berth: &Berth, family: &str, role: &str, mode: &str, endpoint: &str) {
    register_image(berth, family, role, mode, endpoint, &probe_image());
}

fn register_image(berth: &Berth, family: &str, role: &str, mode: &str, endpoint: &str, image: &str) {
    let input = json!({
        "family": family, "taskRoleArn": role, "networkMode": mode,
        "containerDefinitions": [{
            "name": "app", "image": image, "memory": 128,
            "environment": [
                {"name": "BERTH_ENDPOINT", "value": endpoint},
                {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"},
            ],
        }],
    });
    aws_ok(berth, "ecs", &["register-task-definition", "--cli-input-json", &input.to_string()]);
}

fn run(berth: &Berth, family: &str, extra: &[&str]) -> String {
    let mut args = vec!["run-task", "--task-definition", family];
    args.extend(extra);
    let out = aws_ok(berth, "ecs", &args);
    out["tasks"][0]["taskArn"].as_str().unwrap_or_else(|| panic!("{family}: {out}")).to_string()
}

/// The task's `app` container, if it exists yet.
fn try_container_of(task_arn: &str) -> Option<String> {
    let ids = docker(&["ps", "-a", "--filter", &format!("label=com.amazonaws.ecs.task-arn={task_arn}"), "-q"]).ok()?;
    // An awsvpc task's pause container carries the task's label too; the probe has the container name label.
    ids.split_whitespace()
        .find(|id| {
            docker(&["inspect", "--format", "{{index .Config.Labels \"com.amazonaws.ecs.container-name\"}}", id])
                .is_ok_and(|n| n.trim() == "app")
        })
        .map(str::to_string)
}

fn container_of(task_arn: &str) -> String {
    try_container_of(task_arn).unwrap_or_else(|| panic!("no app container for {task_arn}"))
}

/// The probe's `RESULT` lines, once it printed `last`.
async fn results(task_arn: &str, last: &str) -> BTreeMap<String, Value> {
    let id =
        wait_for(&format!("{task_arn}'s container"), Duration::from_secs(90), || async { try_container_of(task_arn) })
            .await
            .unwrap();
    let logs = wait_for(&format!("{task_arn} to print {last}"), Duration::from_secs(90), || async {
        let logs = docker(&["logs", &id]).unwrap_or_default();
        logs.contains(&format!("RESULT {last} ")).then_some(logs)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", docker(&["logs", &id]).unwrap_or_default()));
    logs.lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), serde_json::from_str(v).unwrap()))
        .collect()
}

/// The task container's environment variable `name`.
fn env_of(task_arn: &str, name: &str) -> Option<String> {
    let env = docker(&["inspect", "--format", "{{json .Config.Env}}", &container_of(task_arn)]).unwrap();
    let env: Vec<String> = serde_json::from_str(&env).unwrap();
    env.iter().find_map(|e| e.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// A one-off container Berth does not run: `probe.py fetch URL [TOKEN]`, with `docker run` arguments first.
fn fetch_from(run_args: &[&str], url: &str, token: Option<&str>) -> Value {
    let image = probe_image();
    let mut args = vec!["run", "--rm"];
    args.extend(run_args);
    args.extend([image.as_str(), "fetch", url]);
    args.extend(token);
    let out = docker(&args).unwrap();
    let line = out.lines().find_map(|l| l.strip_prefix("FETCH ")).unwrap_or_else(|| panic!("{out}"));
    serde_json::from_str(line).unwrap()
}

fn nat_rules() -> String {
    std::process::Command::new("iptables")
        .args(["-w", "5", "-t", "nat", "-S", "BERTH-CREDS"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap()
}

/// The checks every probe's own results pass: the document's fields, botocore's provider, the identity of the
/// task's session, the role's policy allowing one call and denying another.
fn assert_uses_its_role(results: &BTreeMap<String, Value>, berth: &Berth, role: &str, task_arn: &str) {
    let own = &results["own"];
    assert_eq!(own["status"], 200, "{results:?}");
    for key in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"] {
        assert!(own["document"].get(key).is_some(), "{key}: {own}");
    }
    assert_eq!(own["document"]["RoleArn"], role);
    let expiration = own["document"]["Expiration"].as_str().unwrap();
    assert!(expiration.len() == 20 && expiration.ends_with('Z') && &expiration[10..11] == "T", "{expiration}");
    assert_eq!(results["method"], "container-role", "{results:?}");
    let role_name = role.rsplit('/').next().unwrap();
    assert_eq!(
        results["identity"],
        format!("arn:aws:sts::{}:assumed-role/{role_name}/{}", berth.account_id, task_id(task_arn))
    );
    assert!(results["allowed"].to_string().contains(":cluster/default"), "{results:?}");
    assert_eq!(results["denied"]["code"], "AccessDeniedException", "{results:?}");
    assert!(results["denied"]["message"].as_str().unwrap().contains("ecs:ListTaskDefinitions"), "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_use_their_tasks_role_and_no_other_tasks() {
    berth_testkit::require_docker();
    let image = probe_image();
    assert!(image.starts_with("berth-role-probe:"));
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec!["--dev".into()],
    })
    .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    let gateway = bridge_gateway();
    let endpoint = forward_to(&berth, &gateway);
    let role = create_role(&berth, "taskApp", TRUST_ECS_TASKS);

    // A bridge task: its role's credentials through 169.254.170.2, used by botocore unchanged.
    register(&berth, "tr-bridge", &role, "bridge", &endpoint);
    // Running it passes the role: a user allowed ecs:RunTask but not iam:PassRole on the role is refused, whether
    // the definition names the role or the overrides do.
    aws_ok(&berth, "iam", &["create-user", "--user-name", "runner"]);
    let run_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:RunTask","Resource":"*"}]}"#;
    aws_ok(
        &berth,
        "iam",
        &["put-user-policy", "--user-name", "runner", "--policy-name", "run", "--policy-document", run_only],
    );
    let key = aws_ok(&berth, "iam", &["create-access-key", "--user-name", "runner"]);
    let (id, secret) =
        (key["AccessKey"]["AccessKeyId"].as_str().unwrap(), key["AccessKey"]["SecretAccessKey"].as_str().unwrap());
    let overrides = json!({"taskRoleArn": role}).to_string();
    for extra in [vec![], vec!["--overrides", overrides.as_str()]] {
        let mut args = vec!["run-task", "--task-definition", "tr-bridge"];
        args.extend(extra);
        let denied = aws_json(&berth, "ecs", &args, &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)])
            .unwrap_err();
        assert!(
            denied.contains("AccessDeniedException") && denied.contains("iam:PassRole") && denied.contains(&role),
            "{denied}"
        );
    }
    let a = run(&berth, "tr-bridge", &[]);
    wait_status(&client, &a, "RUNNING", Duration::from_secs(90)).await;
    let a_results = results(&a, "denied").await;
    assert_uses_its_role(&a_results, &berth, &role, &a);
    let a_uri = env_of(&a, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").expect("a relative URI");
    assert!(a_uri.starts_with("/v2/credentials/") && !a_uri.contains(task_id(&a)), "{a_uri}");
    assert_eq!(env_of(&a, "AWS_CONTAINER_AUTHORIZATION_TOKEN"), None);
    // Its NAT rule names it and sends 169.254.170.2:80 to this agent's listener on the bridge gateway.
    let rules = nat_rules();
    let a_rule = rules.lines().find(|l| l.contains(&format!("berth-creds-{}", task_id(&a)))).expect("a NAT rule");
    let listener = a_rule.rsplit(' ').next().unwrap().to_string();
    assert!(listener.starts_with(&format!("{gateway}:")), "{a_rule}");

    // Another task with a role asks for the first one's URI from its own container: nothing.
    let override_env =
        json!({"containerOverrides": [{"name": "app", "environment": [{"name": "OTHER_URI", "value": a_uri}]}]});
    let b = run(&berth, "tr-bridge", &["--overrides", &override_env.to_string()]);
    let b_results = results(&b, "other").await;
    assert_uses_its_role(&b_results, &berth, &role, &b);
    assert_eq!(b_results["other"]["status"], 400, "{b_results:?}");
    assert_eq!(b_results["other"]["document"]["code"], "InvalidIdInRequest");

    // A container Berth does not run: 169.254.170.2 leads nowhere, the agent's listener answers 400.
    let url = format!("http://{listener}{a_uri}");
    assert_eq!(fetch_from(&[], &url, None)["status"], 400);
    // (No answer at all, or whatever the host's network does with the packet: never the credentials.)
    let stray = fetch_from(&[], &format!("http://169.254.170.2{a_uri}"), None);
    assert!(stray["status"] != 200 && stray["document"].get("AccessKeyId").is_none(), "{stray}");
    // The host network: 400 too.
    assert_eq!(fetch_from(&["--network", "host"], &url, None)["status"], 400);

    // An awsvpc task reaches the endpoint from its own address.
    register(&berth, "tr-awsvpc", &role, "awsvpc", &endpoint);
    let network = "awsvpcConfiguration={subnets=[subnet-0be7f00000000000a]}";
    let v = run(&berth, "tr-awsvpc", &["--network-configuration", network]);
    let v_results = results(&v, "denied").await;
    assert_uses_its_role(&v_results, &berth, &role, &v);

    // A host task: the full URI on loopback with its token; without the token, nothing.
    register(&berth, "tr-host", &role, "host", &berth.url());
    let h = run(&berth, "tr-host", &[]);
    let h_results = results(&h, "denied").await;
    assert_uses_its_role(&h_results, &berth, &role, &h);
    let full = env_of(&h, "AWS_CONTAINER_CREDENTIALS_FULL_URI").expect("a full URI");
    assert!(full.starts_with("http://127.0.0.1:"), "{full}");
    let token = env_of(&h, "AWS_CONTAINER_AUTHORIZATION_TOKEN").expect("a token");
    assert_eq!(env_of(&h, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), None);
    assert_eq!(fetch_from(&["--network", "host"], &full, None)["status"], 400);
    assert_eq!(fetch_from(&["--network", "host"], &full, Some("wrong"))["status"], 400);
    assert_eq!(fetch_from(&["--network", "host"], &full, Some(&token))["status"], 200);
    // The token does not open a bridge task's id.
    let a_full = format!("http://{}{a_uri}", full.trim_start_matches("http://").split('/').next().unwrap());
    assert_eq!(fetch_from(&["--network", "host"], &a_full, Some(&token))["status"], 400);

    // The Rust SDK's default credential chain in a bridge task: the container provider, unchanged.
    register_image(&berth, "tr-rust", &role, "bridge", &endpoint, &rust_probe_image());
    let r = run(&berth, "tr-rust", &[]);
    let r_results = results(&r, "denied").await;
    let present = json!({"accessKeyId": true, "secretAccessKey": true, "sessionToken": true, "expires": true});
    assert_eq!(r_results["credentials"], present, "{r_results:?}");
    assert!(r_results["allowed"].to_string().contains(":cluster/default"), "{r_results:?}");
    assert_eq!(r_results["denied"]["code"], "AccessDeniedException", "{r_results:?}");
    let message = r_results["denied"]["message"].as_str().unwrap();
    let session = format!("assumed-role/{}/{}", role.rsplit('/').next().unwrap(), task_id(&r));
    assert!(message.contains(&session) && message.contains("ecs:ListTaskDefinitions"), "{message}");

    // Stopped, a task's NAT rules are gone.
    aws_ok(&berth, "ecs", &["stop-task", "--task", &a]);
    wait_status(&client, &a, "STOPPED", Duration::from_secs(60)).await;
    wait_for("the stopped task's NAT rules to go", Duration::from_secs(20), || async {
        (!nat_rules().contains(&format!("berth-creds-{}", task_id(&a)))).then_some(())
    })
    .await
    .unwrap();

    // A role ECS tasks may not assume fails the task before anything is created, in ECS's words.
    let untrusted = create_role(
        &berth,
        "lambdaOnly",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
    );
    register(&berth, "tr-untrusted", &untrusted, "bridge", &endpoint);
    let u = run(&berth, "tr-untrusted", &[]);
    let stopped = wait_status(&client, &u, "STOPPED", Duration::from_secs(60)).await;
    let reason = stopped.stopped_reason().unwrap_or_default();
    assert!(
        reason.contains(&format!("ECS was unable to assume the role '{untrusted}' that was provided for this task.")),
        "{reason}"
    );
    assert_eq!(stopped.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));
    assert!(stopped.containers().iter().all(|c| c.runtime_id().is_none()), "nothing was created: {stopped:?}");

    for task in [&b, &v, &h, &r] {
        aws_ok(&berth, "ecs", &["stop-task", "--task", task]);
    }
    for task in [&b, &v, &h, &r] {
        wait_status(&client, task, "STOPPED", Duration::from_secs(60)).await;
    }
    berth.remove_networks();
}

/// The agent restarts under a running task (killed, as a crash or an upgrade would leave it): the task's container
/// keeps getting its credentials from the URI it was created with, through the new run's listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_survive_an_agent_restart() {
    berth_testkit::require_docker();
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let agent_dir = berth.data_dir.path().join("agent-0");
    let agent = berth.start_agent(&agent_dir, &["--cpu-units", "4096", "--memory-mib", "4096"]).unwrap();
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;
    let endpoint = forward_to(&berth, &bridge_gateway());
    let role = create_role(&berth, "restartApp", TRUST_ECS_TASKS);
    register(&berth, "tr-restart", &role, "bridge", &endpoint);
    let task = run(&berth, "tr-restart", &[]);
    wait_status(&client, &task, "RUNNING", Duration::from_secs(90)).await;
    assert_uses_its_role(&results(&task, "denied").await, &berth, &role, &task);
    let uri = env_of(&task, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").expect("a relative URI");
    let url = format!("http://169.254.170.2{uri}");
    let container = container_of(&task);
    let in_task = format!("container:{container}");
    assert_eq!(fetch_from(&["--network", &in_task], &url, None)["status"], 200);
    // What the agent saved names the id, not the credentials, and only its owner reads it.
    let saved = agent_dir.join("task-credentials.json");
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains(uri.rsplit('/').next().unwrap()) && !text.contains("SecretAccessKey"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o600);

    berth.kill_agent(agent);
    berth.start_agent(&agent_dir, &["--cpu-units", "4096", "--memory-mib", "4096"]).unwrap();
    // From the task's own network namespace (its address), through the new listener: the same URI answers.
    let document = wait_for("the restarted agent to serve the task's credentials", Duration::from_secs(60), || {
        let args = ["--network", in_task.as_str()];
        let url = url.clone();
        async move {
            let answer = fetch_from(&args, &url, None);
            (answer["status"] == 200).then_some(answer)
        }
    })
    .await
    .unwrap();
    assert_eq!(document["document"]["RoleArn"], role);
    // One rule for the task's address, now to the new listener.
    let rules = nat_rules();
    let own: Vec<&str> = rules.lines().filter(|l| l.contains(&format!("berth-creds-{}", task_id(&task)))).collect();
    assert_eq!(own.len(), 1, "{rules}");
    // The task was neither restarted nor replaced.
    assert_eq!(container_of(&task), container);
    assert_eq!(describe(&client, &task).await.last_status.as_deref(), Some("RUNNING"));
    aws_ok(&berth, "ecs", &["stop-task", "--task", &task]);
    wait_status(&client, &task, "STOPPED", Duration::from_secs(60)).await;
    assert!(!nat_rules().contains(task_id(&task)), "the rule goes with the task");
}
