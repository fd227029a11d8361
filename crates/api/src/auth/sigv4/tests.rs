use super::*;

fn request<'a>(headers: Vec<(&str, &str)>, body: &[u8]) -> SignedRequest<'a> {
    SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: headers.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        payload_hash: sha256_hex(body),
    }
}

/// Signs with the official `aws-sigv4` crate, as the AWS SDKs do.
fn sign_with_sdk(secret: &str, time: std::time::SystemTime, body: &[u8]) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let identity = aws_credential_types::Credentials::new("AKIDEXAMPLE", secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("ecs")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", "127.0.0.1:7700"),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "AmazonEC2ContainerServiceV20141113.ListClusters"),
    ];
    let signable =
        SignableRequest::new("POST", "http://127.0.0.1:7700/", headers.iter().copied(), SignableBody::Bytes(body))
            .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method("POST").uri("http://127.0.0.1:7700/");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    req.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string())).collect()
}

fn verify_headers(headers: &[(String, String)], body: &[u8], secret: &str, now: i64) -> Result<(), SigV4Error> {
    let get = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let header = parse_authorization(&get("authorization").ok_or(SigV4Error::Missing)?)?;
    let amz_date = get("x-amz-date").unwrap();
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: headers.to_vec(),
        payload_hash: sha256_hex(body),
    };
    verify(&header, &req, &amz_date, secret, now)
}

#[test]
fn accepts_signatures_made_by_the_aws_sdk() {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000);
    let body = br#"{"maxResults":10}"#;
    let headers = sign_with_sdk("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", time, body);
    verify_headers(&headers, body, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1_790_000_000).unwrap();
}

#[test]
fn rejects_a_wrong_secret_a_changed_body_and_skew() {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000);
    let body = br#"{"maxResults":10}"#;
    let headers = sign_with_sdk("right-secret", time, body);
    assert!(matches!(verify_headers(&headers, body, "wrong-secret", 1_790_000_000), Err(SigV4Error::Invalid(_))));
    assert!(matches!(verify_headers(&headers, b"{}", "right-secret", 1_790_000_000), Err(SigV4Error::Invalid(_))));
    let late = verify_headers(&headers, body, "right-secret", 1_790_000_000 + 16 * 60).unwrap_err();
    assert!(late.to_string().starts_with("Signature expired:"), "{late}");
    let early = verify_headers(&headers, body, "right-secret", 1_790_000_000 - 16 * 60).unwrap_err();
    assert!(early.to_string().starts_with("Signature not yet current:"), "{early}");
    // Within the window is fine.
    verify_headers(&headers, body, "right-secret", 1_790_000_000 + 14 * 60).unwrap();
}

#[test]
fn aws_documentation_example_signature() {
    // The IAM ListUsers example from the SigV4 documentation.
    let req = SignedRequest {
        method: "GET",
        path: "/",
        query: "Action=ListUsers&Version=2010-05-08",
        headers: vec![
            ("Content-Type".into(), "application/x-www-form-urlencoded; charset=utf-8".into()),
            ("Host".into(), "iam.amazonaws.com".into()),
            ("X-Amz-Date".into(), "20150830T123600Z".into()),
        ],
        payload_hash: sha256_hex(b""),
    };
    let signed: Vec<String> = vec!["content-type".into(), "host".into(), "x-amz-date".into()];
    let canonical = canonical_request(&req, &signed).unwrap();
    assert_eq!(sha256_hex(canonical.as_bytes()), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    let sts = format!(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n{}",
        sha256_hex(canonical.as_bytes())
    );
    assert_eq!(
        sign("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam", &sts),
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

#[test]
fn parses_and_rejects_headers() {
    let ok = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=".to_string()
        + &"a".repeat(64);
    let h = parse_authorization(&ok).unwrap();
    assert_eq!((h.access_key_id.as_str(), h.service.as_str()), ("AKID", "ecs"));
    assert!(matches!(parse_authorization("Basic abc"), Err(SigV4Error::Incomplete(_))));
    assert!(matches!(parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/x"), Err(SigV4Error::Incomplete(_))));
    let no_host = ok.replace("host;", "");
    assert!(matches!(parse_authorization(&no_host), Err(SigV4Error::Incomplete(_))));
    let req = request(vec![("host", "h")], b"");
    assert!(canonical_request(&req, &["host".into(), "x-amz-target".into()]).is_err());
}

#[test]
fn dates_round_trip() {
    assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
    assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
    assert_eq!(parse_amz_date("2015-08-30"), None);
    assert_eq!(parse_amz_date("20151330T123600Z"), None);
}

#[test]
fn canonical_forms() {
    assert_eq!(canonical_uri("/"), "/");
    assert_eq!(canonical_uri("/a b/c"), "/a%20b/c");
    assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(canonical_query("k=a%2Fb"), "k=a%2Fb");
}
