use super::*;
use berth_model::ecr::{ReplicationRule, RepositoryFilter, RepositoryFilterType};

fn dest(region: &str, id: &str) -> ReplicationDestination {
    ReplicationDestination { region: region.into(), registry_id: id.into() }
}

fn rule(destinations: Vec<ReplicationDestination>, filters: Option<&[&str]>) -> ReplicationRule {
    ReplicationRule {
        destinations,
        repository_filters: filters.map(|fs| {
            fs.iter()
                .map(|f| RepositoryFilter { filter: f.to_string(), filter_type: RepositoryFilterType::PrefixMatch })
                .collect()
        }),
        delete_replication: None,
    }
}

fn known() -> Vec<Destination> {
    destinations(
        &["us-west-2:222222222222=http://127.0.0.1:9000".into(), "eu-west-1:111111111111=https://b.example".into()],
        Some("# keys\nus-west-2:222222222222 AKIA2 s2\n\neu-west-1:111111111111 AKIA1 s1\n"),
    )
    .unwrap()
}

const OWN: (&str, &str) = ("us-east-1", "111111111111");

#[test]
fn destination_specs_and_credentials_parse() {
    let d = known();
    assert_eq!(d[0].name(), "us-west-2:222222222222");
    assert_eq!(d[0].url, "http://127.0.0.1:9000");
    assert_eq!((d[1].access_key_id.as_str(), d[1].secret_access_key.as_str()), ("AKIA1", "s1"));
    assert!(!format!("{:?}", d[1]).contains("s1"), "the secret stays out of logs");
    for bad in [
        "us-west-2:222222222222",
        "us-west-2=http://x:1",
        "US:222222222222=http://x:1",
        "us-west-2:2222=http://x:1",
        "us-west-2:222222222222=ftp://x",
        "us-west-2:222222222222=http://x/path",
        "us-west-2:222222222222=http://",
    ] {
        assert!(parse_destination_spec(bad).is_err(), "{bad}");
    }
    let e = destinations(&["us-west-2:222222222222=http://x:1".into()], None).unwrap_err();
    assert!(e.contains("no credentials"), "{e}");
    let twice = ["us-west-2:222222222222=http://x:1".to_string(), "us-west-2:222222222222=http://y:1".to_string()];
    assert!(destinations(&twice, Some("us-west-2:222222222222 a b")).unwrap_err().contains("twice"));
    assert!(parse_credentials("us-west-2:222222222222 only-key").is_err());
}

#[test]
fn filters_follow_the_model_pattern() {
    for ok in ["ab", "team/", "team/app", "a.b-c_d", "prod-", "team/sub/x"] {
        assert_eq!(filter_problem(ok), None, "{ok}");
    }
    for bad in ["a", "Team", "team//x", "/team", "a b", "-a/x", &"a".repeat(257)] {
        assert!(filter_problem(bad).is_some(), "{bad}");
    }
}

#[test]
fn configurations_are_checked() {
    let known = known();
    let ok = ReplicationConfiguration { rules: vec![rule(vec![dest("us-west-2", "222222222222")], Some(&["prod-"]))] };
    assert_eq!(check_configuration(&ok, OWN, &known), Ok(()));
    assert_eq!(check_configuration(&ReplicationConfiguration { rules: vec![] }, OWN, &known), Ok(()));
    let to_self = ReplicationConfiguration { rules: vec![rule(vec![dest(OWN.0, OWN.1)], None)] };
    assert!(
        matches!(check_configuration(&to_self, OWN, &known), Err(ConfigProblem::Invalid(m)) if m.contains("itself"))
    );
    // The same account in another region is a destination (cross-region replication).
    let other_region = ReplicationConfiguration { rules: vec![rule(vec![dest("eu-west-1", OWN.1)], None)] };
    assert_eq!(check_configuration(&other_region, OWN, &known), Ok(()));
    let unknown = ReplicationConfiguration { rules: vec![rule(vec![dest("ap-south-1", "333333333333")], None)] };
    assert!(
        matches!(check_configuration(&unknown, OWN, &known), Err(ConfigProblem::Invalid(m)) if m.contains("--replication-destination"))
    );
    let empty = ReplicationConfiguration { rules: vec![rule(vec![], None)] };
    assert!(matches!(check_configuration(&empty, OWN, &known), Err(ConfigProblem::Invalid(_))));
    let too_many = ReplicationConfiguration { rules: vec![ok.rules[0].clone(); 11] };
    assert!(matches!(check_configuration(&too_many, OWN, &known), Err(ConfigProblem::Constraint(_))));
    let bad_id = ReplicationConfiguration { rules: vec![rule(vec![dest("us-west-2", "12")], None)] };
    assert!(matches!(check_configuration(&bad_id, OWN, &known), Err(ConfigProblem::Constraint(_))));
    let no_filters = ReplicationConfiguration { rules: vec![rule(vec![dest("us-west-2", "222222222222")], Some(&[]))] };
    assert!(matches!(check_configuration(&no_filters, OWN, &known), Err(ConfigProblem::Constraint(_))));
    let bad_filter =
        ReplicationConfiguration { rules: vec![rule(vec![dest("us-west-2", "222222222222")], Some(&["A"]))] };
    assert!(matches!(check_configuration(&bad_filter, OWN, &known), Err(ConfigProblem::Constraint(_))));
    let mut deletes = ok.clone();
    deletes.rules[0].delete_replication = Some(Default::default());
    assert!(
        matches!(check_configuration(&deletes, OWN, &known), Err(ConfigProblem::Invalid(m)) if m.contains("deleteReplication"))
    );
}

#[test]
fn rules_match_repositories_by_prefix() {
    let west = dest("us-west-2", "222222222222");
    let eu = dest("eu-west-1", "111111111111");
    let config = ReplicationConfiguration {
        rules: vec![
            rule(vec![west.clone()], Some(&["prod-", "team/"])),
            rule(vec![eu.clone(), west.clone()], Some(&["prod-web"])),
        ],
    };
    assert_eq!(destinations_for(&config, "prod-api"), vec![west.clone()]);
    assert_eq!(destinations_for(&config, "prod-web"), vec![west.clone(), eu.clone()], "each destination once");
    assert_eq!(destinations_for(&config, "team/app"), vec![west.clone()]);
    assert!(destinations_for(&config, "dev-web").is_empty());
    assert!(destinations_for(&config, "teamx").is_empty());
    let all = ReplicationConfiguration { rules: vec![rule(vec![eu.clone()], None)] };
    assert_eq!(destinations_for(&all, "anything"), vec![eu]);
}

#[test]
fn a_cross_account_destination_must_allow_the_source_account() {
    let west = &known()[0];
    let policy = |principal: &str, actions: &str, resource: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":{actions},"Resource":"{resource}"}}]}}"#
        )
    };
    let all = "arn:aws:ecr:us-west-2:222222222222:repository/*";
    let both = r#"["ecr:ReplicateImage","ecr:CreateRepository"]"#;
    let source = "arn:aws:iam::111111111111:root";
    assert_eq!(policy::policy_refusal(&policy(source, both, all), west, "111111111111", "prod-web"), None);
    assert_eq!(policy::policy_refusal(&policy("111111111111", r#""ecr:*""#, all), west, "111111111111", "x"), None);
    let other = policy("arn:aws:iam::333333333333:root", both, all);
    assert!(policy::policy_refusal(&other, west, "111111111111", "prod-web").unwrap().contains("ecr:ReplicateImage"));
    let only_replicate = policy(source, r#"["ecr:ReplicateImage"]"#, all);
    let refusal = policy::policy_refusal(&only_replicate, west, "111111111111", "prod-web").unwrap();
    assert!(refusal.contains("ecr:CreateRepository"), "{refusal}");
    let narrow = policy(source, both, "arn:aws:ecr:us-west-2:222222222222:repository/prod-*");
    assert_eq!(policy::policy_refusal(&narrow, west, "111111111111", "prod-web"), None);
    assert!(policy::policy_refusal(&narrow, west, "111111111111", "dev-web").is_some());
    assert!(policy::policy_refusal("not json", west, "111111111111", "x").unwrap().contains("does not parse"));
}
