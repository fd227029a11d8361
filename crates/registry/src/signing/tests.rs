use super::*;
use berth_model::ecr::{SigningRepositoryFilter, SigningRepositoryFilterType, SigningRule};

const ARN: &str = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/prod_signer";

fn rule(arn: &str, filters: Option<&[&str]>) -> SigningRule {
    SigningRule {
        signing_profile_arn: arn.to_string(),
        repository_filters: filters.map(|f| {
            f.iter()
                .map(|f| SigningRepositoryFilter {
                    filter: f.to_string(),
                    filter_type: SigningRepositoryFilterType::WildcardMatch,
                })
                .collect()
        }),
    }
}

fn profile(name: &str) -> SigningProfile {
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let cert = Signer::self_signed_certificate(&key, name, 1_790_000_000).unwrap();
    SigningProfile { name: name.to_string(), signer: Arc::new(Signer::new(&key, &cert).unwrap()) }
}

#[test]
fn profile_arns_follow_the_model_pattern() {
    assert_eq!(parse_profile_arn(ARN), Some(("aws", "us-east-1", "123456789012", "prod_signer")));
    assert!(parse_profile_arn("arn:aws-cn:signer:cn-north-1:123456789012:/signing-profiles/ab").is_some());
    for bad in [
        "arn:aws:signer:us-east-1:123456789012:/signing-profiles/a",
        "arn:aws:signer:us-east-1:12345678901:/signing-profiles/ab",
        "arn:aws:kms:us-east-1:123456789012:/signing-profiles/ab",
        "arn:aws:signer:us-east-1:123456789012:signing-profiles/ab",
        "arn:aws:signer:us-east-1:123456789012:/signing-profiles/a-b",
        "arn:awsx:signer:us-east-1:123456789012:/signing-profiles/ab",
        "arn:aws-:signer:us-east-1:123456789012:/signing-profiles/ab",
    ] {
        assert!(parse_profile_arn(bad).is_none(), "{bad}");
    }
    assert!(parse_profile_arn(&format!("{ARN}{}", "x".repeat(200))).is_none());
}

#[test]
fn filters_follow_the_model_pattern() {
    for good in ["app", "*", "team/*", "*prod*", "a.b_c-d/e*"] {
        assert!(filter_ok(good), "{good}");
    }
    for bad in ["", "App", "a//b", "a/", "a..b", "-a", "a b"] {
        assert!(!filter_ok(bad), "{bad}");
    }
}

#[test]
fn configurations_are_checked() {
    let known = [profile("prod_signer")];
    let check = |rules: Vec<SigningRule>| {
        check_configuration(&SigningConfiguration { rules }, "us-east-1", "123456789012", &known)
    };
    assert_eq!(check(vec![]), Ok(()));
    assert_eq!(check(vec![rule(ARN, Some(&["team/*"]))]), Ok(()));
    assert!(
        matches!(check(vec![rule("nope", None)]), Err(ConfigProblem::Constraint(m)) if m.contains("signingProfileArn"))
    );
    assert!(matches!(check(vec![rule(ARN, Some(&[]))]), Err(ConfigProblem::Constraint(_))));
    assert!(matches!(check(vec![rule(ARN, Some(&["Bad"]))]), Err(ConfigProblem::Constraint(m)) if m.contains("'Bad'")));
    assert!(matches!(check(vec![rule(ARN, None); 11]), Err(ConfigProblem::Constraint(_))));
    let unknown = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/other";
    assert!(
        matches!(check(vec![rule(unknown, None)]), Err(ConfigProblem::Invalid(m)) if m.contains("--signing-profile other="))
    );
    let elsewhere = "arn:aws:signer:eu-west-1:123456789012:/signing-profiles/prod_signer";
    assert!(matches!(check(vec![rule(elsewhere, None)]), Err(ConfigProblem::Invalid(m)) if m.contains("region")));
}

#[test]
fn matching_rules_name_each_profile_once() {
    let other = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/other";
    let config = SigningConfiguration {
        rules: vec![rule(ARN, Some(&["team/*"])), rule(other, Some(&["*prod*"])), rule(ARN, None)],
    };
    assert_eq!(profiles_for(&config, "team/web"), vec![ARN.to_string()]);
    assert_eq!(profiles_for(&config, "team/prod-web"), vec![ARN.to_string(), other.to_string()]);
    let filtered = SigningConfiguration { rules: vec![rule(ARN, Some(&["team/*"]))] };
    assert!(profiles_for(&filtered, "web").is_empty());
}

#[test]
fn profile_specs_and_self_signed_certificates() {
    assert_eq!(parse_profile_spec("prod=k.pem").unwrap(), ("prod".into(), "k.pem".into(), None));
    assert_eq!(parse_profile_spec("prod=k.pem,c.pem").unwrap().2.as_deref(), Some("c.pem"));
    for bad in ["prod", "p=k.pem", "pr-od=k.pem", "prod=", "prod=k.pem,"] {
        assert!(parse_profile_spec(bad).is_err(), "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let spec = format!("prod={}", key.display());
    let kept = dir.path().join("profiles");
    let first = load_profiles(std::slice::from_ref(&spec), &kept, 1_790_000_000).unwrap();
    let cert = std::fs::read_to_string(kept.join("prod.pem")).unwrap();
    assert_eq!(first[0].signer.certificate_pem(), cert);
    // A restart keeps the same certificate, so agents that trust it keep trusting the profile.
    let again = load_profiles(std::slice::from_ref(&spec), &kept, 1_790_000_100).unwrap();
    assert_eq!(again[0].signer.chain(), first[0].signer.chain());
    assert!(load_profiles(&[spec.clone(), spec], &kept, 0).unwrap_err().contains("twice"));
    let missing = format!("prod={}", dir.path().join("nope.pem").display());
    assert!(load_profiles(&[missing], &kept, 0).unwrap_err().contains("reading"));
}
