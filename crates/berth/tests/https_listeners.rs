//! HTTPS listeners with ACM certificates, with the unchanged aws CLI: a CA and a server certificate made with the
//! `openssl` CLI are imported (`aws acm import-certificate`), an HTTPS listener serves them in front of a plain
//! HTTP target (a small server in this test), a request verified against the CA gets 200 with
//! `X-Forwarded-Proto: https`, the certificate cannot be deleted while the listener uses it, and a re-import to the
//! same ARN changes the certificate the listener serves, also after a restart. No Docker is needed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly and wait in real time

mod common;

use common::{elb, s};

use berth_testkit::{Berth, BerthOptions, wait_for_blocking};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const VPC: &str = "vpc-0be7f000000000001";
const NAME: &str = "app.example.test";

/// Runs `openssl` in `dir`; its standard output.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl CLI is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server certificate for NAME signed by the CA in `dir`, with its own key: `<stem>.pem`, `<stem>.key`.
fn server_certificate(dir: &Path, stem: &str, organization: &str) {
    let key = format!("{stem}.key");
    let csr = format!("{stem}.csr");
    let pem = format!("{stem}.pem");
    let subject = format!("/CN={NAME}/O={organization}");
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &subject]);
    std::fs::write(dir.join("ext"), format!("subjectAltName=DNS:{NAME}\n")).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "30",
            "-extfile",
            "ext",
        ],
    );
}

/// A target that answers every request 200 with the `X-Forwarded-Proto` it got; its port.
fn echo_target() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut proto = String::from("none");
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("x-forwarded-proto")
                {
                    proto = value.trim().to_string();
                }
            }
            let body = format!("proto={proto}");
            let _ =
                write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    port
}

/// A loopback /24 of this test's own, its first load balancer's address, and a port to listen on there.
fn own_range() -> (String, Ipv4Addr, u16) {
    let pid = std::process::id();
    let net = (100 + pid % 100, (pid / 100 + 7) % 250 + 1);
    let address = Ipv4Addr::new(127, net.0 as u8, net.1 as u8, 1);
    let port = match TcpListener::bind((address, 443)) {
        Ok(_) => 443,
        Err(_) => TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port(),
    };
    (format!("127.{}.{}.0/24", net.0, net.1), address, port)
}

/// `curl https://NAME:port/` to `address`, verified against the CA: the status and body.
fn https_get(dir: &Path, address: Ipv4Addr, port: u16) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert", "ca.pem", "--resolve"])
        .arg(format!("{NAME}:{port}:{address}"))
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{NAME}:{port}/"))
        .current_dir(dir)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_string())).filter(|_| out.status.success())
}

/// The serial of the certificate served at `address:port` for NAME.
fn served_serial(address: Ipv4Addr, port: u16) -> String {
    let script = format!(
        "openssl s_client -connect {address}:{port} -servername {NAME} </dev/null 2>/dev/null | openssl x509 -noout -serial"
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn acm(berth: &Berth, args: &[&str]) -> Value {
    common::aws_ok(berth, "acm", args)
}

#[test]
fn an_https_listener_serves_an_imported_certificate_and_follows_a_reimport() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Berth e2e CA",
        ],
    );
    server_certificate(d, "first", "first");
    server_certificate(d, "second", "second");
    let file = |name: &str| format!("fileb://{}", d.join(name).display());

    let (range, address, port) = own_range();
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--elb-address-range".into(), range],
    })
    .expect("berth server starts");

    // A key that is not the certificate's is refused; the right one imports.
    let wrong = common::aws_err(
        &berth,
        "acm",
        &[
            "import-certificate",
            "--certificate",
            &file("first.pem"),
            "--private-key",
            &file("second.key"),
            "--certificate-chain",
            &file("ca.pem"),
        ],
    );
    assert!(wrong.contains("ValidationException") && wrong.contains("does not match"), "{wrong}");
    let imported = acm(
        &berth,
        &[
            "import-certificate",
            "--certificate",
            &file("first.pem"),
            "--private-key",
            &file("first.key"),
            "--certificate-chain",
            &file("ca.pem"),
            "--tags",
            "Key=app,Value=web",
        ],
    );
    let cert = s(&imported["CertificateArn"]);
    let described = acm(&berth, &["describe-certificate", "--certificate-arn", &cert]);
    let c = &described["Certificate"];
    assert_eq!((c["Type"].as_str(), c["Status"].as_str()), (Some("IMPORTED"), Some("ISSUED")), "{c}");
    assert_eq!(c["DomainName"], NAME);
    assert_eq!(c["KeyAlgorithm"], "RSA_2048");
    let listed = acm(&berth, &["list-certificates"]);
    assert_eq!(listed["CertificateSummaryList"][0]["CertificateArn"], cert.as_str());

    // An HTTPS listener in front of a plain HTTP target.
    let target_port = echo_target();
    let lb = elb(&berth, &["create-load-balancer", "--name", "secure"]);
    let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
    let tg = elb(
        &berth,
        &[
            "create-target-group",
            "--name",
            "echo",
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            VPC,
            "--target-type",
            "ip",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
        ],
    );
    let tg = s(&tg["TargetGroups"][0]["TargetGroupArn"]);
    let target = format!("Id=127.0.0.1,Port={target_port},AvailabilityZone=all");
    elb(&berth, &["register-targets", "--target-group-arn", &tg, "--targets", &target]);
    let listener = elb(
        &berth,
        &[
            "create-listener",
            "--load-balancer-arn",
            &lb_arn,
            "--protocol",
            "HTTPS",
            "--port",
            &port.to_string(),
            "--certificates",
            &format!("CertificateArn={cert}"),
            "--ssl-policy",
            "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tg}"),
        ],
    );
    let l = &listener["Listeners"][0];
    assert_eq!(
        (l["Protocol"].as_str(), l["SslPolicy"].as_str()),
        (Some("HTTPS"), Some("ELBSecurityPolicy-TLS13-1-2-2021-06"))
    );
    let listener_arn = s(&l["ListenerArn"]);

    let (status, body) = wait_for_blocking("an HTTPS answer", Duration::from_secs(20), || https_get(d, address, port))
        .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));
    assert_eq!((status, body.as_str()), (200, "proto=https"));
    let first_serial = openssl(d, &["x509", "-in", "first.pem", "-noout", "-serial"]).trim().to_string();
    assert_eq!(served_serial(address, port), first_serial);

    // In use: InUseBy names the load balancer, and the certificate is not deleted.
    let described = acm(&berth, &["describe-certificate", "--certificate-arn", &cert]);
    assert_eq!(described["Certificate"]["InUseBy"], serde_json::json!([lb_arn]));
    let refused = common::aws_err(&berth, "acm", &["delete-certificate", "--certificate-arn", &cert]);
    assert!(refused.contains("ResourceInUseException"), "{refused}");
    let certs = elb(&berth, &["describe-listener-certificates", "--listener-arn", &listener_arn]);
    assert_eq!(certs["Certificates"][0]["IsDefault"], true);
    let policies = elb(&berth, &["describe-ssl-policies", "--names", "ELBSecurityPolicy-2016-08"]);
    assert_eq!(policies["SslPolicies"][0]["SslProtocols"], serde_json::json!(["TLSv1", "TLSv1.1", "TLSv1.2"]));

    // A re-import to the same ARN reaches the listener.
    let again = acm(
        &berth,
        &[
            "import-certificate",
            "--certificate-arn",
            &cert,
            "--certificate",
            &file("second.pem"),
            "--private-key",
            &file("second.key"),
            "--certificate-chain",
            &file("ca.pem"),
        ],
    );
    assert_eq!(s(&again["CertificateArn"]), cert);
    let second_serial = openssl(d, &["x509", "-in", "second.pem", "-noout", "-serial"]).trim().to_string();
    wait_for_blocking("the re-imported certificate served", Duration::from_secs(20), || {
        (served_serial(address, port) == second_serial).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));
    assert_eq!(https_get(d, address, port), Some((200, "proto=https".into())));

    // A restart keeps the certificate, its sealed key (opened under the master key) and the listener.
    berth.restart().expect("berth restarts");
    let (status, _) =
        wait_for_blocking("an HTTPS answer after a restart", Duration::from_secs(20), || https_get(d, address, port))
            .unwrap_or_else(|e| panic!("{e}\n{}", berth.log()));
    assert_eq!((status, served_serial(address, port)), (200, second_serial));

    // Without the listener the certificate can go.
    elb(&berth, &["delete-listener", "--listener-arn", &listener_arn]);
    acm(&berth, &["delete-certificate", "--certificate-arn", &cert]);
    let gone = common::aws_err(&berth, "acm", &["describe-certificate", "--certificate-arn", &cert]);
    assert!(gone.contains("ResourceNotFoundException"), "{gone}");
}
