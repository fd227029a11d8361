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

/// One request for the table: how it is signed, and what is changed after signing.
struct Case {
    name: &'static str,
    region: &'static str,
    service: &'static str,
    access_key: &'static str,
    secret: &'static str,
    /// Seconds between the signing time and the server's clock.
    skew: i64,
    /// Headers present when signing (besides host).
    signed: &'static [(&'static str, &'static str)],
    /// The payload hash to sign with instead of the body's (`UNSIGNED-PAYLOAD`, `STREAMING-...`), also sent as
    /// `x-amz-content-sha256`.
    payload: Option<&'static str>,
    /// Changes after signing: headers set (an empty value removes the header).
    after: &'static [(&'static str, &'static str)],
    /// The body sent, if not the one signed.
    body_sent: Option<&'static [u8]>,
    /// `None`: accepted; else (status, exception, message prefix).
    expect: Option<(u16, &'static str, &'static str)>,
}

const KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_790_000_000;
const BODY: &[u8] = br#"{"maxResults":10}"#;
const LIST: &str = "AmazonEC2ContainerServiceV20141113.ListServices";
const JSON: (&str, &str) = ("content-type", "application/x-amz-json-1.1");
const MISMATCH: (u16, &str, &str) = (403, "InvalidSignatureException", SIGNATURE_MISMATCH);

const OK: Case = Case {
    name: "signed by aws-sigv4",
    region: "us-east-1",
    service: "ecs",
    access_key: KEY,
    secret: SECRET,
    skew: 0,
    signed: &[JSON, ("x-amz-target", LIST)],
    payload: None,
    after: &[],
    body_sent: None,
    expect: None,
};

fn sign_case(case: &Case) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let identity = aws_credential_types::Credentials::new(case.access_key, case.secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if case.payload.is_some() {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs((NOW + case.skew) as u64);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(case.region)
        .name(case.service)
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut headers: Vec<(&str, &str)> = vec![("host", "127.0.0.1:7700")];
    headers.extend(case.signed.iter().copied());
    let body = match case.payload {
        Some("UNSIGNED-PAYLOAD") => SignableBody::UnsignedPayload,
        Some(other) => SignableBody::Precomputed(other.to_string()),
        None => SignableBody::Bytes(BODY),
    };
    let signable = SignableRequest::new("POST", "http://127.0.0.1:7700/", headers.iter().copied(), body).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method("POST").uri("http://127.0.0.1:7700/");
    for (k, v) in &headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    for (k, v) in case.after {
        if v.is_empty() {
            req.headers_mut().remove(*k);
        } else {
            req.headers_mut().insert(*k, v.parse().unwrap());
        }
    }
    req.headers().iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string())).collect()
}

fn run_case(case: &Case) -> Result<crate::auth::Caller, crate::error::ApiError> {
    use crate::auth::{Credentials, Principal, Scope, authenticate};
    let credentials = Credentials::new([Principal {
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        account_id: "123456789012".into(),
        arn: "arn:aws:iam::123456789012:root".into(),
        identity: None,
        session: None,
    }]);
    let mut headers = http::HeaderMap::new();
    for (k, v) in sign_case(case) {
        headers.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    let uri: http::Uri = "/".parse().unwrap();
    let scope = Scope { region: "us-east-1", service: "ecs" };
    authenticate(&credentials, "POST", &uri, &headers, case.body_sent.unwrap_or(BODY), scope, NOW).map_err(Into::into)
}

/// Every way a SigV4 request is refused, with the status, exception and message AWS gives (issue 8, point 4).
#[test]
fn table_of_sigv4_cases() {
    let cases = [
        OK,
        Case { name: "14 minutes of skew is fine", skew: 14 * 60, ..OK },
        Case { name: "content-type need not be signed", signed: &[("x-amz-target", LIST)], after: &[JSON], ..OK },
        Case {
            name: "user-agent and x-amzn-trace-id need not be signed",
            after: &[("user-agent", "aws-cli/2"), ("x-amzn-trace-id", "Root=1-abc")],
            ..OK
        },
        Case {
            name: "no Authorization header",
            after: &[("authorization", "")],
            expect: Some((403, "MissingAuthenticationTokenException", "Missing Authentication Token")),
            ..OK
        },
        Case {
            name: "garbage Authorization header",
            after: &[("authorization", "Bearer abc")],
            expect: Some((400, "IncompleteSignatureException", "Authorization header does not use")),
            ..OK
        },
        Case {
            name: "unknown access key",
            access_key: "AKIAUNKNOWN",
            expect: Some((
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )),
            ..OK
        },
        Case { name: "wrong secret", secret: "not-the-secret", expect: Some(MISMATCH), ..OK },
        Case { name: "body swapped", body_sent: Some(br#"{"cluster":"prod"}"#), expect: Some(MISMATCH), ..OK },
        Case {
            name: "captured ListServices replayed as DeleteCluster",
            after: &[("x-amz-target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")],
            expect: Some(MISMATCH),
            ..OK
        },
        Case {
            name: "signed 16 minutes ago",
            skew: -16 * 60,
            expect: Some((
                403,
                "InvalidSignatureException",
                "Signature expired: 20260921T135720Z is now earlier than 20260921T135820Z (20260921T141320Z - 15 min.)",
            )),
            ..OK
        },
        Case {
            name: "signed 16 minutes ahead",
            skew: 16 * 60,
            expect: Some((403, "InvalidSignatureException", "Signature not yet current:")),
            ..OK
        },
        Case {
            name: "scoped to another region",
            region: "eu-west-1",
            expect: Some((403, "InvalidSignatureException", "Credential should be scoped to a valid region.")),
            ..OK
        },
        Case {
            name: "scoped to another service",
            service: "ecr",
            expect: Some((403, "InvalidSignatureException", "Credential should be scoped to correct service: 'ecs'.")),
            ..OK
        },
        Case {
            name: "X-Amz-Target not signed",
            signed: &[JSON],
            after: &[("x-amz-target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")],
            expect: Some((
                403,
                "InvalidSignatureException",
                "There were headers present in the request which were not signed: x-amz-target.",
            )),
            ..OK
        },
        Case {
            name: "x-amz-security-token not signed",
            after: &[("x-amz-security-token", "token")],
            expect: Some((
                403,
                "InvalidSignatureException",
                "There were headers present in the request which were not signed: x-amz-security-token.",
            )),
            ..OK
        },
        Case {
            name: "UNSIGNED-PAYLOAD on a JSON 1.1 API",
            payload: Some("UNSIGNED-PAYLOAD"),
            body_sent: Some(br#"{"cluster":"prod"}"#),
            expect: Some(MISMATCH),
            ..OK
        },
        Case {
            name: "UNSIGNED-PAYLOAD even with the signed body",
            payload: Some("UNSIGNED-PAYLOAD"),
            expect: Some(MISMATCH),
            ..OK
        },
        Case {
            name: "STREAMING payload on a JSON 1.1 API",
            payload: Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            expect: Some(MISMATCH),
            ..OK
        },
        Case {
            name: "x-amz-content-sha256 that is not the body's",
            payload: Some("0000000000000000000000000000000000000000000000000000000000000000"),
            expect: Some((
                403,
                "InvalidSignatureException",
                "The provided x-amz-content-sha256 header does not match what was computed.",
            )),
            ..OK
        },
        Case {
            name: "X-Amz-Date missing",
            after: &[("x-amz-date", "")],
            expect: Some((400, "IncompleteSignatureException", "The request must carry an X-Amz-Date header")),
            ..OK
        },
    ];
    for case in &cases {
        let result = run_case(case);
        match (case.expect, result) {
            (None, Ok(caller)) => assert_eq!(caller.access_key_id, KEY, "{}", case.name),
            (None, Err(e)) => panic!("{}: refused: {e:?}", case.name),
            (Some(expected), Ok(_)) => panic!("{}: accepted, expected {expected:?}", case.name),
            (Some((status, code, message)), Err(e)) => {
                assert_eq!((e.status.as_u16(), e.code.as_str()), (status, code), "{}: {e:?}", case.name);
                assert!(
                    e.message.starts_with(message),
                    "{}: {:?} does not start with {message:?}",
                    case.name,
                    e.message
                );
            }
        }
    }
}

#[test]
fn x_amz_date_left_out_of_signed_headers_is_named() {
    let header = parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-target, Signature={}",
        "a".repeat(64)
    ))
    .unwrap();
    let err = check_signed_headers(&header, ["host", "X-Amz-Date", "x-amz-target", "content-type"]).unwrap_err();
    assert!(err.to_string().contains("not signed: x-amz-date."), "{err}");
    check_signed_headers(&header, ["host", "x-amz-target", "content-type", "x-amzn-trace-id"]).unwrap();
}
