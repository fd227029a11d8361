//! `berth up --tls`: the API listener serves HTTPS only, with a certificate from a local CA. The aws CLI trusts it
//! through `AWS_CA_BUNDLE` (and fails without it), plain HTTP is refused, the local agent verified the server (it
//! registered), `docker login`/push/pull work once the CA is in Docker's `certs.d`, and an agent given another CA
//! refuses to join. ECS Exec runs over it (the agent's `wss://` dial-back and `berth exec`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions, docker, wait_for};
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Removes Docker's trust directory for the registry when the test ends, however it ends.
struct CertsDir(std::path::PathBuf);

impl Drop for CertsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_up_tls_serves_https_that_the_cli_docker_and_agents_verify() {
    berth_testkit::require_docker();
    let workload = berth_testkit::workload_image().expect("the workload image builds");
    let options =
        BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "up", extra_args: vec!["--tls".into()] };
    let mut berth = Berth::start(options).expect("berth up --tls starts");
    let ca = berth.data_dir.path().join("data/tls/ca.pem");
    assert!(ca.exists(), "the local CA is at {}", ca.display());
    let host = format!("127.0.0.1:{}", berth.port);
    let log = berth.log();
    assert!(log.contains(&format!("Berth is up on https://{host}")), "{log}");
    assert!(log.contains("export AWS_CA_BUNDLE="), "berth up prints how to trust the CA:\n{log}");
    assert!(log.contains(&format!("/etc/docker/certs.d/{host}/ca.crt")), "{log}");

    // The aws CLI with the CA: the API answers, and the local agent joined (it verified the server's certificate).
    let ca_env = ("AWS_CA_BUNDLE", ca.to_str().unwrap());
    let instances = wait_for("the local agent to register over TLS", Duration::from_secs(30), || async {
        let out = aws_json(&berth, "ecs", &["list-container-instances"], &[ca_env]).ok()?;
        let arns = out["containerInstanceArns"].as_array()?.clone();
        (!arns.is_empty()).then_some(arns)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));
    assert_eq!(instances.len(), 1);
    let clusters = aws_json(&berth, "ecs", &["list-clusters"], &[ca_env]).unwrap();
    assert!(clusters["clusterArns"].to_string().contains("cluster/default"), "{clusters}");

    // Without the CA: a certificate error.
    let refused = aws_json(&berth, "ecs", &["list-clusters"], &[]).unwrap_err();
    assert!(refused.contains("CERTIFICATE_VERIFY_FAILED") || refused.contains("SSL"), "{refused}");
    // Plain HTTP to the port: refused with a sentence, by the aws CLI and by a bare client.
    let plain = aws_json(&berth, "ecs", &["list-clusters"], &[("AWS_ENDPOINT_URL", &format!("http://{host}"))]);
    assert!(plain.is_err(), "plain http must not work: {plain:?}");
    let (status, body) = berth_testkit::http_get(&format!("http://{host}/healthz")).unwrap();
    assert_eq!((status, body.contains("serves HTTPS")), (400, true), "{body}");

    // Berth's own client commands read AWS_CA_BUNDLE too (`berth usage` here).
    let usage = |with_ca: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        with_user_env(command.args(["usage", "--json"]), &berth);
        if with_ca {
            command.env(ca_env.0, ca_env.1);
        }
        command.output().unwrap()
    };
    let trusted = usage(true);
    assert!(trusted.status.success(), "berth usage: {}", String::from_utf8_lossy(&trusted.stderr));
    assert!(!usage(false).status.success(), "berth usage must not trust the server without the CA");

    // ECS Exec over TLS: the agent dials back with wss:// (verifying the server) and `berth exec` connects with
    // AWS_CA_BUNDLE.
    let definition = r#"[{"name": "app", "image": "berth-workload:latest", "memory": 64}]"#;
    let family = ["--family", "tls-exec", "--container-definitions", definition];
    aws_json(&berth, "ecs", &[&["register-task-definition"][..], &family[..]].concat(), &[ca_env]).unwrap();
    let run =
        aws_json(&berth, "ecs", &["run-task", "--task-definition", "tls-exec", "--enable-execute-command"], &[ca_env])
            .unwrap();
    let task = run["tasks"][0]["taskArn"].as_str().unwrap_or_else(|| panic!("{run}")).to_string();
    wait_for("the exec task to run", Duration::from_secs(60), || async {
        let out = aws_json(&berth, "ecs", &["describe-tasks", "--tasks", &task], &[ca_env]).ok()?;
        (out["tasks"][0]["lastStatus"] == "RUNNING").then_some(())
    })
    .await
    .unwrap();
    let exec = with_user_env(Command::new(env!("CARGO_BIN_EXE_berth")).arg("exec"), &berth)
        .args([&task, "--", "/berth-workload", "exec-probe", "print", "0", "over-tls"])
        .env(ca_env.0, ca_env.1)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let exec_out = String::from_utf8_lossy(&exec.stdout);
    assert_eq!(
        (exec.status.code(), exec_out.as_ref()),
        (Some(0), "args: over-tls\n"),
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );
    aws_json(&berth, "ecs", &["stop-task", "--task", &task], &[ca_env]).unwrap();

    // docker login, push and pull over TLS, with the CA in Docker's trust directory for this registry.
    let certs = CertsDir(format!("/etc/docker/certs.d/{host}").into());
    std::fs::create_dir_all(&certs.0).unwrap();
    std::fs::copy(&ca, certs.0.join("ca.crt")).unwrap();
    let repo = format!("tls-{}", &berth.account_id[..6]);
    let created = aws_json(&berth, "ecr", &["create-repository", "--repository-name", &repo], &[ca_env]).unwrap();
    assert_eq!(created["repository"]["repositoryUri"], format!("{host}/{repo}"));
    let token = aws_json(&berth, "ecr", &["get-authorization-token"], &[ca_env]).unwrap();
    assert_eq!(token["authorizationData"][0]["proxyEndpoint"], format!("https://{host}"));
    let password = with_user_env(Command::new("aws").args(["ecr", "get-login-password"]), &berth)
        .env(ca_env.0, ca_env.1)
        .output()
        .unwrap();
    assert!(password.status.success(), "{}", String::from_utf8_lossy(&password.stderr));
    let mut login = Command::new("docker")
        .args(["login", "--username", "AWS", "--password-stdin", &host])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(login.stdin.as_mut().unwrap(), &password.stdout).unwrap();
    drop(login.stdin.take());
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success(), "docker login over TLS: {}", String::from_utf8_lossy(&out.stderr));
    let image = format!("{host}/{repo}:v1");
    docker(&["tag", &workload, &image]).unwrap();
    let pushed = docker(&["push", &image]);
    let _ = docker(&["rmi", &image]);
    pushed.unwrap_or_else(|e| panic!("docker push over TLS: {e}"));
    let pulled = docker(&["pull", &image]);
    let _ = docker(&["logout", &host]);
    let _ = docker(&["rmi", &image]);
    pulled.unwrap_or_else(|e| panic!("docker pull over TLS: {e}"));
    let images = aws_json(&berth, "ecr", &["describe-images", "--repository-name", &repo], &[ca_env]).unwrap();
    assert_eq!(images["imageDetails"][0]["imageTags"][0], "v1");
    drop(certs);

    // An agent that trusts another CA refuses to join, with a certificate error, and exits.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let wrong_ca = berth.data_dir.path().join("wrong-ca.pem");
    std::fs::write(&wrong_ca, other.cert.pem()).unwrap();
    let agent_dir = berth.data_dir.path().join("wrong-agent");
    let index =
        berth.start_agent(&agent_dir, &["--server-ca", wrong_ca.to_str().unwrap(), "--metrics-listen", "off"]).unwrap();
    let agent_log = agent_dir.with_extension("log");
    let logged = wait_for("the agent to refuse the server's certificate", Duration::from_secs(20), || async {
        let text = std::fs::read_to_string(&agent_log).unwrap_or_default();
        text.contains("TLS with the Berth server").then_some(text)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", std::fs::read_to_string(&agent_log).unwrap_or_default()));
    assert!(logged.contains("certificate"), "{logged}");
    let pid = berth.agent_pid(index).unwrap();
    wait_for("the refusing agent to exit", Duration::from_secs(10), || async {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z ")))
        .then_some(())
    })
    .await
    .unwrap();
    let after = aws_json(&berth, "ecs", &["list-container-instances"], &[ca_env]).unwrap();
    assert_eq!(after["containerInstanceArns"].as_array().map(Vec::len), Some(1), "{after}");
}
