//! The web console at `/ui` in headless Chromium (Debian's package, over the DevTools protocol): `GET /` takes a
//! browser to the sign-in form; a wrong key pair is refused there; the root key pair signs in (HttpOnly,
//! SameSite=Strict session cookie); every page is visited (clusters, cluster with its instance, service with
//! deployments, charts and events, task with its timeline, containers and awslogs tail, registry with images and
//! scan findings, load balancers with target health); Scale and Force new deployment change the service as the ECS
//! API shows; a form without its CSRF token gets 403; sign-out ends the session; the console password signs in as
//! the root; a read-only IAM user sees the pages and gets AccessDenied on Scale; the CPU chart draws the `AWS/ECS`
//! series once it exists; and no request of the page ever leaves the listener. Screenshots of each page go to
//! `target/ui-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; real time

mod common;

use berth_testkit::{Berth, BerthOptions, Chromium};
use common::{aws_json, aws_ok, s};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Where the screenshots go (kept as test artifacts).
fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target dir").join("ui-screenshots")
}

async fn shot(browser: &mut Chromium, name: &str) {
    browser.screenshot(&screenshots().join(format!("{name}.png"))).await.expect("a screenshot");
}

/// A JavaScript string literal.
fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// Fills the key-pair form and submits it.
async fn sign_in_with_keys(browser: &mut Chromium, berth: &Berth, id: &str, secret: &str) {
    browser.navigate(&format!("{}/ui/sign-in", berth.url())).await.unwrap();
    browser
        .submit(&format!(
            "document.getElementById('access_key_id').value = {}; \
             document.getElementById('secret_access_key').value = {}; \
             document.getElementById('sign-in').click()",
            js(id),
            js(secret)
        ))
        .await
        .unwrap();
}

/// Reloads `url` until its text contains `needle` (the console shows what the API has; some things take seconds).
async fn wait_for_text(browser: &mut Chromium, url: &str, needle: &str, timeout: Duration) -> String {
    let started = std::time::Instant::now();
    loop {
        browser.navigate(url).await.unwrap();
        let text = browser.text().await.unwrap();
        if text.contains(needle) {
            return text;
        }
        assert!(started.elapsed() < timeout, "{url} never showed {needle:?}; it shows:\n{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The service's desired count and its PRIMARY deployment's id, through the ECS API.
fn service_state(berth: &Berth) -> (i64, String) {
    let out = aws_ok(berth, "ecs", &["describe-services", "--cluster", "default", "--services", "web"]);
    let service = &out["services"][0];
    let primary = service["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["status"] == "PRIMARY")
        .map(|d| s(&d["id"]))
        .unwrap();
    (service["desiredCount"].as_i64().unwrap(), primary)
}

/// A POST from the page with `fetch` (same origin, so the session cookie goes with it); its status.
async fn post_from_page(browser: &mut Chromium, path: &str, body: &str) -> u64 {
    let script = format!(
        "fetch({}, {{ method: 'POST', headers: {{ 'Content-Type': 'application/x-www-form-urlencoded' }}, body: {}, \
         redirect: 'manual' }}).then(r => r.status)",
        js(path),
        js(body)
    );
    browser.eval(&script).await.unwrap().as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_headless_chromium() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("console-password");
    std::fs::write(&password_file, "open sesame\n").unwrap();
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec!["--console-password-file".into(), password_file.display().to_string()],
    })
    .expect("berth up starts");
    let client = common::ecs_client(&berth);
    common::wait_for_instances(&client, "default", 1).await;
    let base = berth.url();
    let account = berth.account_id.clone();

    // What the pages will show: a service whose task logs with awslogs, a scanned image, a load balancer with a
    // target group and a target, and a read-only IAM user.
    let containers = r#"[{"name":"app","image":"berth-workload:latest","cpu":128,"memory":64,
        "portMappings":[{"containerPort":8080,"hostPort":0}],
        "logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/console/web","awslogs-create-group":"true",
        "awslogs-region":"us-east-1","awslogs-stream-prefix":"web","awslogs-force-flush-interval-seconds":"1"}}}]"#;
    aws_ok(
        &berth,
        "ecs",
        &["register-task-definition", "--family", "console-web", "--container-definitions", containers],
    );
    aws_ok(
        &berth,
        "ecs",
        &[
            "create-service",
            "--cluster",
            "default",
            "--service-name",
            "web",
            "--task-definition",
            "console-web",
            "--desired-count",
            "1",
        ],
    );
    aws_ok(
        &berth,
        "ecr",
        &["create-repository", "--repository-name", "team/app", "--image-scanning-configuration", "scanOnPush=true"],
    );
    let layout = secrets.path().join("layout");
    common::oci_layout(&layout, "console\n");
    let creds = format!("AWS:{}", common::aws_cli(&berth, &["ecr", "get-login-password"]).trim());
    common::skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://127.0.0.1:{}/team/app:v1", berth.port),
    ])
    .expect("skopeo pushes the image");
    aws_ok(&berth, "elbv2", &["create-load-balancer", "--name", "console-lb"]);
    let tg = aws_ok(
        &berth,
        "elbv2",
        &[
            "create-target-group",
            "--name",
            "console-tg",
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            "vpc-0be7f000000000001",
            "--target-type",
            "instance",
        ],
    );
    let instances = aws_ok(
        &berth,
        "ecs",
        &[
            "describe-container-instances",
            "--cluster",
            "default",
            "--container-instances",
            &s(&aws_ok(&berth, "ecs", &["list-container-instances", "--cluster", "default"])["containerInstanceArns"]
                [0]),
        ],
    );
    let ec2_id = s(&instances["containerInstances"][0]["ec2InstanceId"]);
    aws_ok(
        &berth,
        "elbv2",
        &[
            "register-targets",
            "--target-group-arn",
            &s(&tg["TargetGroups"][0]["TargetGroupArn"]),
            "--targets",
            &format!("Id={ec2_id},Port=8080"),
        ],
    );
    aws_ok(&berth, "iam", &["create-user", "--user-name", "viewer"]);
    aws_ok(
        &berth,
        "iam",
        &["attach-user-policy", "--user-name", "viewer", "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess"],
    );
    let viewer = aws_ok(&berth, "iam", &["create-access-key", "--user-name", "viewer"]);
    let (viewer_id, viewer_secret) =
        (s(&viewer["AccessKey"]["AccessKeyId"]), s(&viewer["AccessKey"]["SecretAccessKey"]));

    // A non-browser GET / is answered as before the console; a browser's goes to the sign-in form.
    let (status, _) = berth_testkit::http_get(&format!("{base}/")).unwrap();
    assert_eq!(status, 405, "GET / without Accept: text/html");
    let mut browser = Chromium::launch().await.expect("headless Chromium starts (apt-get install chromium)");
    browser.navigate(&format!("{base}/")).await.unwrap();
    assert_eq!(browser.location().await.unwrap(), format!("{base}/ui/sign-in"));
    shot(&mut browser, "01-sign-in").await;

    // A wrong key pair is refused on the form.
    sign_in_with_keys(&mut browser, &berth, &berth.access_key_id, "not-the-secret").await;
    let text = browser.text().await.unwrap();
    assert!(text.contains("Sign-in failed: InvalidSignatureException"), "{text}");
    assert_eq!(browser.last_document_status(), Some(401));
    shot(&mut browser, "02-sign-in-refused").await;

    // The root key pair signs in.
    sign_in_with_keys(&mut browser, &berth, &berth.access_key_id, &berth.secret_access_key).await;
    assert_eq!(browser.location().await.unwrap(), format!("{base}/ui/clusters"));
    let text = browser.text().await.unwrap();
    assert!(text.contains("default") && text.contains(&format!("arn:aws:iam::{account}:root")), "{text}");
    let cookies = browser.cookies(&format!("{base}/ui/clusters")).await.unwrap();
    let session = cookies.iter().find(|c| c["name"] == "berth_console").expect("the session cookie");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");
    assert_eq!(session["path"], "/ui", "{session}");
    assert_eq!(s(&session["value"]).len(), 64, "a 256-bit id: {session}");
    shot(&mut browser, "03-clusters").await;

    // The cluster: its instance with free CPU and memory, the service, the tasks.
    let service_ready =
        wait_for_text(&mut browser, &format!("{base}/ui/clusters/default"), "1/1", Duration::from_secs(30)).await;
    assert!(
        service_ready.contains(&ec2_id) && service_ready.contains("MiB free") && service_ready.contains("web"),
        "{service_ready}"
    );
    shot(&mut browser, "04-cluster").await;

    // The service: deployments with progress, charts, events; Scale and Force new deployment.
    let service_url = format!("{base}/ui/clusters/default/services/web");
    browser.navigate(&service_url).await.unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("Deployments") && text.contains("1 of 1 running") && text.contains("Events"), "{text}");
    assert_eq!(browser.eval("document.querySelectorAll('#cpu-chart svg, #memory-chart svg').length").await.unwrap(), 2);
    shot(&mut browser, "05-service").await;
    let (_, first_deployment) = service_state(&berth);
    browser
        .submit("document.getElementById('desired-count').value = '2'; document.getElementById('scale').click()")
        .await
        .unwrap();
    assert_eq!(browser.location().await.unwrap(), format!("{service_url}?done=scaled"));
    assert!(browser.text().await.unwrap().contains("The desired count was changed."));
    assert_eq!(service_state(&berth).0, 2, "Scale went through UpdateService");
    shot(&mut browser, "06-service-scaled").await;
    browser.submit("document.getElementById('redeploy').click()").await.unwrap();
    assert!(browser.text().await.unwrap().contains("A new deployment was started."));
    let (desired, second_deployment) = service_state(&berth);
    assert_eq!(desired, 2);
    assert_ne!(first_deployment, second_deployment, "Force new deployment made a new PRIMARY deployment");
    shot(&mut browser, "07-service-redeployed").await;

    // A form without its session's CSRF token is refused, and changes nothing.
    assert_eq!(post_from_page(&mut browser, "/ui/clusters/default/services/web/scale", "desired_count=5").await, 403);
    assert_eq!(
        post_from_page(&mut browser, "/ui/clusters/default/services/web/scale", "desired_count=5&csrf=00").await,
        403
    );
    assert_eq!(post_from_page(&mut browser, "/ui/sign-out", "").await, 403);
    assert_eq!(service_state(&berth).0, 2);

    // A task: timeline, containers, and its log's tail from CloudWatch Logs.
    let tasks = aws_ok(&berth, "ecs", &["list-tasks", "--cluster", "default", "--service-name", "web"]);
    let task_id = s(&tasks["taskArns"][0]).rsplit('/').next().unwrap().to_string();
    let task_url = format!("{base}/ui/clusters/default/tasks/{task_id}");
    let text = wait_for_text(&mut browser, &task_url, "berth-workload listening", Duration::from_secs(30)).await;
    assert!(text.contains("Created (PROVISIONING)") && text.contains("Started (RUNNING)"), "{text}");
    assert!(text.contains("berth-workload:latest") && text.contains(&format!("web/app/{task_id}")), "{text}");
    shot(&mut browser, "08-task").await;

    // The registry: the repository, its scanned image, the findings.
    browser.navigate(&format!("{base}/ui/registry")).await.unwrap();
    assert!(browser.text().await.unwrap().contains("team/app"));
    shot(&mut browser, "09-registry").await;
    let text =
        wait_for_text(&mut browser, &format!("{base}/ui/registry/team/app"), "COMPLETE", Duration::from_secs(30)).await;
    assert!(text.contains("v1"), "{text}");
    browser.submit("document.querySelector('#images a').click()").await.unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("Scan findings of sha256:") && text.contains("No findings."), "{text}");
    shot(&mut browser, "10-repository").await;

    // Load balancers and target health.
    browser.navigate(&format!("{base}/ui/load-balancers")).await.unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("console-lb") && text.contains("console-tg") && text.contains(&ec2_id), "{text}");
    shot(&mut browser, "11-load-balancers").await;

    // An unknown page.
    browser.navigate(&format!("{base}/ui/no-such-page")).await.unwrap();
    assert_eq!(browser.last_document_status(), Some(404));

    // Sign-out ends the session.
    browser.navigate(&format!("{base}/ui/clusters")).await.unwrap();
    browser.submit("document.getElementById('sign-out').click()").await.unwrap();
    assert_eq!(browser.location().await.unwrap(), format!("{base}/ui/sign-in"));
    browser.navigate(&format!("{base}/ui/clusters")).await.unwrap();
    assert_eq!(browser.location().await.unwrap(), format!("{base}/ui/sign-in"), "the old session is gone");

    // The console password: a wrong one is refused; the right one signs in as the root.
    for (password, lands_on) in [("guess", "/ui/sign-in"), ("open sesame", "/ui/clusters")] {
        browser.navigate(&format!("{base}/ui/sign-in")).await.unwrap();
        browser
            .submit(&format!(
                "document.getElementById('password').value = {}; document.querySelector('#password-form button').click()",
                js(password)
            ))
            .await
            .unwrap();
        assert_eq!(browser.location().await.unwrap(), format!("{base}{lands_on}"));
    }
    assert!(browser.text().await.unwrap().contains(&format!("arn:aws:iam::{account}:root")));
    browser.submit("document.getElementById('sign-out').click()").await.unwrap();

    // A read-only IAM user sees the pages, and Scale is refused with the API's AccessDenied.
    sign_in_with_keys(&mut browser, &berth, &viewer_id, &viewer_secret).await;
    let text = browser.text().await.unwrap();
    assert!(text.contains(&format!("arn:aws:iam::{account}:user/viewer")) && text.contains("default"), "{text}");
    for page in
        ["/ui/clusters/default", "/ui/registry", "/ui/load-balancers", &format!("/ui/clusters/default/tasks/{task_id}")]
    {
        browser.navigate(&format!("{base}{page}")).await.unwrap();
        assert_eq!(browser.last_document_status(), Some(200), "{page}: {}", browser.text().await.unwrap());
    }
    browser.navigate(&service_url).await.unwrap();
    browser
        .submit("document.getElementById('desired-count').value = '5'; document.getElementById('scale').click()")
        .await
        .unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("AccessDeniedException") && text.contains("ecs:UpdateService"), "{text}");
    assert_eq!(browser.last_document_status(), Some(403));
    assert_eq!(service_state(&berth).0, 2, "the read-only user changed nothing");
    shot(&mut browser, "12-read-only-scale-denied").await;

    // Once the AWS/ECS series exist, the CPU chart draws them.
    let started = std::time::Instant::now();
    loop {
        let out = aws_json(
            &berth,
            "cloudwatch",
            &[
                "get-metric-statistics",
                "--namespace",
                "AWS/ECS",
                "--metric-name",
                "CPUUtilization",
                "--dimensions",
                "Name=ClusterName,Value=default",
                "Name=ServiceName,Value=web",
                "--start-time",
                &format!("{}", berth_now() - 3600),
                "--end-time",
                &format!("{}", berth_now() + 60),
                "--period",
                "60",
                "--statistics",
                "Average",
            ],
            &[],
        )
        .unwrap();
        if out["Datapoints"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no AWS/ECS CPUUtilization datapoint: {out}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let started = std::time::Instant::now();
    loop {
        browser.navigate(&service_url).await.unwrap();
        if browser.eval("document.querySelectorAll('#cpu-chart polyline').length").await.unwrap() == 1 {
            break;
        }
        let chart = browser.eval("document.getElementById('cpu-chart') ? document.getElementById('cpu-chart').outerHTML : document.body.innerText").await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(20), "the CPU chart draws no series: {chart}");
        eprintln!("the CPU chart has no series yet: {chart}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    shot(&mut browser, "13-service-charts").await;

    // How long each page takes to load in the browser (the API calls behind it included), for docs/BENCHMARKS.md.
    let mut timings = Vec::new();
    for page in [
        "/ui/clusters".to_string(),
        "/ui/clusters/default".to_string(),
        "/ui/clusters/default/services/web".to_string(),
        format!("/ui/clusters/default/tasks/{task_id}"),
        "/ui/registry/team/app".to_string(),
        "/ui/load-balancers".to_string(),
    ] {
        let mut ms: Vec<u128> = Vec::new();
        for _ in 0..3 {
            let started = std::time::Instant::now();
            browser.navigate(&format!("{base}{page}")).await.unwrap();
            ms.push(started.elapsed().as_millis());
        }
        ms.sort_unstable();
        timings.push(format!("{page} {} ms", ms[1]));
    }
    eprintln!("console page loads (median of 3): {}", timings.join(", "));

    // Every request the page made went to the listener, and every document came with the strict CSP.
    let urls = browser.requested_urls();
    assert!(urls.len() > 20, "{urls:?}");
    let foreign: Vec<&String> = urls
        .iter()
        .filter(|u| !u.starts_with(&format!("{base}/")) && !u.starts_with("data:") && *u != "about:blank")
        .collect();
    assert!(foreign.is_empty(), "requests that left the listener: {foreign:?}");
    let policies: Vec<Value> = browser
        .events
        .iter()
        .filter(|e| e["method"] == "Network.responseReceived" && e["params"]["type"] == "Document")
        .map(|e| e["params"]["response"]["headers"]["content-security-policy"].clone())
        .collect();
    assert!(policies.iter().all(|p| p.as_str().is_some_and(|p| p.starts_with("default-src 'self'"))), "{policies:?}");
}

/// Now, in epoch seconds.
fn berth_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
