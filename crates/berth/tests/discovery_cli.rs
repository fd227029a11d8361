//! AWS Cloud Map end to end: the unchanged `aws servicediscovery` CLI against `berth server --dns-listen`, and
//! `dig` against its DNS server. Namespaces, services, instances, operations, DiscoverInstances (with
//! AWS_DISABLE_HOST_PREFIX_INJECTION), Cloud Map's errors, A and SRV answers, NXDOMAIN, a forwarded name (to a
//! stand-in upstream in the test, so no internet is needed), a record change seen within 2 s, and a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; timing uses the real clock

mod common;

use berth_testkit::{Berth, BerthOptions};
use serde_json::{Value, json};
use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

/// A stand-in upstream resolver on loopback: answers every query with one A record, 192.0.2.7.
fn upstream() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            // The question ends after its name's zero byte, then type and class.
            let mut end = 12;
            while end < n && buf[end] != 0 {
                end += buf[end] as usize + 1;
            }
            end += 5;
            if end > n {
                continue;
            }
            let mut out = buf[..end].to_vec();
            out[2] = 0x81; // response, RD
            out[3] = 0x80; // RA, NOERROR
            out[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
            out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 7]);
            let _ = socket.send_to(&out, peer);
        }
    });
    port
}

fn server(dns_port: u16, upstream_port: u16) -> Berth {
    Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec![
            "--dns-listen".into(),
            format!("127.0.0.1:{dns_port}"),
            "--dns-upstream".into(),
            format!("127.0.0.1:{upstream_port}"),
        ],
    })
    .expect("berth server starts")
}

fn sd(berth: &Berth, args: &[&str]) -> Value {
    common::aws_ok(berth, "servicediscovery", args)
}

fn sd_err(berth: &Berth, args: &[&str]) -> String {
    common::aws_err(berth, "servicediscovery", args)
}

/// `dig @127.0.0.1 -p <port> <args>`: its standard output.
fn dig(port: u16, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=3", "+tries=1"])
        .args(args)
        .output()
        .expect("dig is installed (tools/test installs bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sorted lines of `dig +short`.
fn short(port: u16, name: &str, kind: &str) -> Vec<String> {
    let mut lines: Vec<String> =
        dig(port, &["+short", name, kind]).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    lines.sort();
    lines
}

/// The operation's target of `kind` after checking it succeeded.
fn operation_target(berth: &Berth, op: &Value, kind: &str, target: &str) -> String {
    let got = sd(berth, &["get-operation", "--operation-id", op["OperationId"].as_str().unwrap()]);
    assert_eq!(got["Operation"]["Status"], "SUCCESS", "{got}");
    assert_eq!(got["Operation"]["Type"], kind, "{got}");
    got["Operation"]["Targets"][target].as_str().unwrap().to_string()
}

fn register(berth: &Berth, service: &str, id: &str, ip: &str, port: &str) -> Value {
    let attributes = format!("AWS_INSTANCE_IPV4={ip},AWS_INSTANCE_PORT={port},stage=prod");
    sd(berth, &["register-instance", "--service-id", service, "--instance-id", id, "--attributes", &attributes])
}

/// Waits until `dig +short` gives `want`; returns how long it took.
fn wait_for_answer(port: u16, name: &str, kind: &str, want: &[&str]) -> Duration {
    let start = Instant::now();
    loop {
        let got = short(port, name, kind);
        if got == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{name} {kind}: {got:?}, waiting for {want:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cloud_map_api_and_dns_with_the_aws_cli_and_dig() {
    let dns_port = berth_testkit::free_port();
    let mut berth = server(dns_port, upstream());

    // A private DNS namespace and a service with A and SRV records and a custom health check.
    let op = sd(&berth, &["create-private-dns-namespace", "--name", "corp.local", "--vpc", "vpc-0abc"]);
    let ns = operation_target(&berth, &op, "CREATE_NAMESPACE", "NAMESPACE");
    let dns_config =
        json!({"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 30}, {"Type": "SRV", "TTL": 10}]});
    let created = sd(
        &berth,
        &[
            "create-service",
            "--name",
            "web",
            "--namespace-id",
            &ns,
            "--dns-config",
            &dns_config.to_string(),
            "--health-check-custom-config",
            "FailureThreshold=1",
        ],
    );
    let service = created["Service"]["Id"].as_str().unwrap().to_string();
    assert_eq!(created["Service"]["Type"], "DNS_HTTP");
    assert!(created["Service"]["Arn"].as_str().unwrap().ends_with(&format!(":service/{service}")));
    let op = register(&berth, &service, "t1", "10.0.0.1", "8080");
    assert_eq!(operation_target(&berth, &op, "REGISTER_INSTANCE", "INSTANCE"), "t1");
    register(&berth, &service, "t2", "10.0.0.2", "8081");

    // Cloud Map's errors, as the CLI shows them.
    let e = sd_err(&berth, &["create-private-dns-namespace", "--name", "corp.local", "--vpc", "vpc-0abc"]);
    assert!(e.contains("NamespaceAlreadyExists"), "{e}");
    let e = sd_err(&berth, &["create-public-dns-namespace", "--name", "example.com"]);
    assert!(e.contains("InvalidInput") && e.contains("public DNS"), "{e}");
    let e = sd_err(&berth, &["delete-namespace", "--id", &ns]);
    assert!(e.contains("ResourceInUse"), "{e}");
    let e = sd_err(&berth, &["delete-service", "--id", &service]);
    assert!(e.contains("ResourceInUse"), "{e}");
    let e = sd_err(&berth, &["get-service", "--id", "srv-0000000000000000"]);
    assert!(e.contains("ServiceNotFound"), "{e}");
    let e = sd_err(&berth, &["get-instance", "--service-id", &service, "--instance-id", "nope"]);
    assert!(e.contains("InstanceNotFound"), "{e}");
    let e = sd_err(&berth, &["get-operation", "--operation-id", "nope"]);
    assert!(e.contains("OperationNotFound"), "{e}");
    let e = sd_err(
        &berth,
        &[
            "register-instance",
            "--service-id",
            &service,
            "--instance-id",
            "t3",
            "--attributes",
            "AWS_INSTANCE_IPV4=10.0.0.3",
        ],
    );
    assert!(e.contains("InvalidInput") && e.contains("AWS_INSTANCE_PORT"), "{e}");
    let e = sd_err(
        &berth,
        &[
            "create-service",
            "--name",
            "api",
            "--namespace-id",
            &ns,
            "--health-check-config",
            "Type=HTTP,ResourcePath=/",
        ],
    );
    assert!(e.contains("InvalidInput") && e.contains("HealthCheckConfig"), "{e}");

    // Lists and operations.
    let listed = sd(&berth, &["list-namespaces", "--filters", "Name=TYPE,Values=DNS_PRIVATE,Condition=EQ"]);
    assert_eq!(listed["Namespaces"][0]["Id"], ns.as_str());
    assert_eq!(listed["Namespaces"][0]["ServiceCount"], 1);
    let services = sd(&berth, &["list-services", "--filters", &format!("Name=NAMESPACE_ID,Values={ns},Condition=EQ")]);
    assert_eq!(services["Services"][0]["InstanceCount"], 2);
    let instances = sd(&berth, &["list-instances", "--service-id", &service]);
    assert_eq!(instances["Instances"].as_array().unwrap().len(), 2);
    let ops = sd(&berth, &["list-operations", "--filters", "Name=TYPE,Values=REGISTER_INSTANCE,Condition=IN"]);
    assert_eq!(ops["Operations"].as_array().unwrap().len(), 2);

    // DiscoverInstances: the SDKs put `data-` before the endpoint's host, which is no host at all for
    // http://127.0.0.1:PORT; AWS_DISABLE_HOST_PREFIX_INJECTION=true turns that off.
    let discover = ["discover-instances", "--namespace-name", "corp.local", "--service-name", "web"];
    let e = common::aws_json(
        &berth,
        "servicediscovery",
        &[&discover[..], &["--cli-connect-timeout", "2"]].concat(),
        &[("AWS_MAX_ATTEMPTS", "1"), ("AWS_RETRY_MODE", "standard")],
    )
    .expect_err("the data- host prefix makes an unreachable host");
    assert!(e.contains("data-127.0.0.1"), "{e}");
    let found =
        common::aws_json(&berth, "servicediscovery", &discover, &[("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")])
            .expect("discover-instances with host prefix injection off");
    let mut ids: Vec<&str> =
        found["Instances"].as_array().unwrap().iter().map(|i| i["InstanceId"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["t1", "t2"]);
    assert_eq!(found["Instances"][0]["HealthStatus"], "HEALTHY");

    // DNS with a real resolver: A and SRV answers, the SRV targets, NXDOMAIN, a forwarded name, TCP.
    assert_eq!(short(dns_port, "web.corp.local", "A"), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(
        short(dns_port, "web.corp.local", "SRV"),
        ["1 1 8080 t1.web.corp.local.", "1 1 8081 t2.web.corp.local."]
    );
    assert_eq!(short(dns_port, "t2.web.corp.local", "A"), ["10.0.0.2"]);
    let answer = dig(dns_port, &["+noall", "+answer", "web.corp.local", "A"]);
    assert!(answer.lines().all(|l| l.split_whitespace().nth(1) == Some("30")), "the service's TTL: {answer}");
    let missing = dig(dns_port, &["nope.corp.local", "A"]);
    assert!(missing.contains("status: NXDOMAIN") && missing.contains("SOA"), "{missing}");
    assert_eq!(short(dns_port, "example.com", "A"), ["192.0.2.7"], "other names go to the upstream");
    assert_eq!(dig(dns_port, &["+tcp", "+short", "t1.web.corp.local", "A"]).trim(), "10.0.0.1");

    // Changes reach DNS within 2 s: a health change, then a deregistration.
    sd(
        &berth,
        &[
            "update-instance-custom-health-status",
            "--service-id",
            &service,
            "--instance-id",
            "t1",
            "--status",
            "UNHEALTHY",
        ],
    );
    let took = wait_for_answer(dns_port, "web.corp.local", "A", &["10.0.0.2"]);
    assert!(took < Duration::from_secs(2), "a health change took {took:?}");
    sd(&berth, &["deregister-instance", "--service-id", &service, "--instance-id", "t2"]);
    let took = wait_for_answer(dns_port, "web.corp.local", "A", &["10.0.0.1"]);
    assert!(
        took < Duration::from_secs(2),
        "a deregistration took {took:?} (the unhealthy t1 is answered: none is healthy)"
    );

    // A restart keeps everything, and DNS answers from the reloaded state.
    berth.restart().expect("berth restarts");
    let health = sd(&berth, &["get-instances-health-status", "--service-id", &service]);
    assert_eq!(health["Status"], json!({"t1": "UNHEALTHY"}));
    wait_for_answer(dns_port, "web.corp.local", "A", &["10.0.0.1"]);
    sd(&berth, &["deregister-instance", "--service-id", &service, "--instance-id", "t1"]);
    sd(&berth, &["delete-service", "--id", &service]);
    let op = sd(&berth, &["delete-namespace", "--id", &ns]);
    operation_target(&berth, &op, "DELETE_NAMESPACE", "NAMESPACE");
    let gone = dig(dns_port, &["web.corp.local", "A"]);
    assert!(
        gone.contains("status: NOERROR") && gone.contains("192.0.2.7"),
        "a deleted namespace's names are forwarded: {gone}"
    );
}
