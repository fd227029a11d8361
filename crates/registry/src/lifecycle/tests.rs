use super::*;
use serde_json::json;

const NOW: f64 = 1_700_000_000.0;

fn policy(rules: serde_json::Value) -> Result<Policy> {
    Policy::parse(&serde_json::to_string_pretty(&json!({ "rules": rules })).unwrap())
}

fn rule(priority: i64, selection: serde_json::Value) -> serde_json::Value {
    json!({"rulePriority": priority, "description": "test rule", "selection": selection, "action": {"type": "expire"}})
}

fn img(digest: &str, tags: &[&str], days_ago: f64) -> Candidate {
    Candidate {
        digest: digest.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        pushed_at: NOW - days_ago * DAY,
        pulled_at: None,
        archived_at: None,
    }
}

fn expired(p: &Policy, images: &[Candidate]) -> Vec<(String, i64)> {
    evaluate(p, images, NOW).into_iter().map(|e| (e.digest, e.rule_priority)).collect()
}

#[test]
fn image_count_keeps_the_newest() {
    let p = policy(json!([rule(1, json!({"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 2}))]))
        .unwrap();
    let images = [img("a", &["1"], 4.0), img("b", &[], 3.0), img("c", &["3"], 2.0), img("d", &["4"], 1.0)];
    assert_eq!(expired(&p, &images), vec![("a".into(), 1), ("b".into(), 1)]);
}

#[test]
fn since_pushed_counts_days() {
    let p = policy(json!([rule(
        1,
        json!({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14})
    )]))
    .unwrap();
    let images = [img("old", &[], 15.0), img("young", &[], 13.0), img("tagged-old", &["v1"], 30.0)];
    assert_eq!(expired(&p, &images), vec![("old".into(), 1)]);
}

#[test]
fn prefixes_need_every_prefix_on_some_tag() {
    let p = policy(json!([rule(
        1,
        json!({"tagStatus": "tagged", "tagPrefixList": ["alpha", "beta"], "countType": "imageCountMoreThan", "countNumber": 1})
    )]))
    .unwrap();
    let images = [
        img("both-old", &["alpha-1", "beta-1"], 3.0),
        img("both-new", &["alpha-2", "beta-2"], 1.0),
        img("alpha-only", &["alpha-3"], 5.0),
    ];
    assert_eq!(expired(&p, &images), vec![("both-old".into(), 1)]);
}

#[test]
fn patterns_match_with_wildcards() {
    let p = policy(json!([rule(
        1,
        json!({"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14})
    )]))
    .unwrap();
    let images = [img("p-old", &["prod-1"], 20.0), img("p-new", &["prod-2"], 2.0), img("dev-old", &["dev-1"], 20.0)];
    assert_eq!(expired(&p, &images), vec![("p-old".into(), 1)]);
    let p = policy(json!([rule(
        1,
        json!({"tagStatus": "tagged", "tagPatternList": ["*test*1*2*3"], "countType": "imageCountMoreThan", "countNumber": 1})
    )]))
    .unwrap();
    let images = [img("x", &["my-test-1-2-3"], 2.0), img("y", &["a-test-x1y2z3"], 1.0), img("z", &["test123x"], 3.0)];
    assert_eq!(expired(&p, &images), vec![("x".into(), 1)]);
}

#[test]
fn higher_priority_rules_claim_images() {
    // Rule 1 selects prod images and keeps 1; rule 2 (any, keep 1) cannot expire the prod images it also counts.
    let p = policy(json!([
        rule(1, json!({"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1})),
        rule(2, json!({"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1})),
    ]))
    .unwrap();
    let images = [
        img("prod-new", &["prod-2"], 1.0),
        img("prod-old", &["prod-1"], 5.0),
        img("dev-new", &["dev-2"], 2.0),
        img("dev-old", &["dev-1"], 6.0),
    ];
    // prod-old: expired by rule 1. Rule 2 keeps the newest of all four (prod-new, claimed) and would expire the rest,
    // but prod-old is claimed by rule 1, so it expires dev-new and dev-old only. Each image once.
    assert_eq!(expired(&p, &images), vec![("dev-old".into(), 2), ("prod-old".into(), 1), ("dev-new".into(), 2)]);
}

#[test]
fn an_image_is_expired_by_at_most_one_rule() {
    let p = policy(json!([
        rule(1, json!({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1})),
        rule(2, json!({"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1})),
        rule(3, json!({"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1})),
    ]))
    .unwrap();
    let images = [img("u1", &[], 9.0), img("u2", &[], 8.0), img("t1", &["v1"], 9.0)];
    let result = expired(&p, &images);
    assert_eq!(result, vec![("t1".into(), 2), ("u1".into(), 1)]);
    let digests: Vec<_> = result.iter().map(|(d, _)| d).collect();
    let unique: std::collections::HashSet<_> = digests.iter().collect();
    assert_eq!(unique.len(), digests.len());
}

#[test]
fn rules_run_in_priority_order_not_document_order() {
    let p = policy(json!([
        rule(20, json!({"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5})),
        rule(10, json!({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1})),
    ]))
    .unwrap();
    assert_eq!(p.rules.iter().map(|r| r.priority).collect::<Vec<_>>(), vec![10, 20]);
    let images = [img("a", &[], 2.0), img("b", &[], 1.0)];
    assert_eq!(expired(&p, &images), vec![("a".into(), 10)]);
}

#[test]
fn invalid_policies_are_refused() {
    let sel = json!({"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1});
    let cases = vec![
        json!([]),
        json!([
            rule(1, sel.clone()),
            rule(1, json!({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}))
        ]),
        json!([
            rule(1, sel.clone()),
            rule(2, json!({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}))
        ]),
        json!([rule(1, json!({"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1}))]),
        json!([rule(
            1,
            json!({"tagStatus": "tagged", "tagPrefixList": ["a"], "tagPatternList": ["b*"], "countType": "imageCountMoreThan", "countNumber": 1})
        )]),
        json!([rule(
            1,
            json!({"tagStatus": "untagged", "tagPrefixList": ["a"], "countType": "imageCountMoreThan", "countNumber": 1})
        )]),
        json!([rule(
            1,
            json!({"tagStatus": "tagged", "tagPatternList": ["a*b*c*d*e*f"], "countType": "imageCountMoreThan", "countNumber": 1})
        )]),
        json!([rule(1, json!({"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 0}))]),
        json!([rule(
            1,
            json!({"tagStatus": "any", "countType": "imageCountMoreThan", "countUnit": "days", "countNumber": 3})
        )]),
        json!([rule(1, json!({"tagStatus": "any", "countType": "sinceImagePushed", "countNumber": 3}))]),
        json!([rule(
            1,
            json!({"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "hours", "countNumber": 3})
        )]),
        json!([rule(1, json!({"tagStatus": "some", "countType": "imageCountMoreThan", "countNumber": 1}))]),
        json!([rule(0, sel.clone())]),
        json!([
            rule(1, json!({"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1})),
            rule(
                2,
                json!({"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1})
            )
        ]),
    ];
    for c in cases {
        assert!(policy(c.clone()).is_err(), "accepted {c}");
    }
    // Archive rules: a transition needs its target; sinceImageTransitioned needs the archive class and, to expire,
    // ECR's 90-day minimum; archived images cannot be archived again; the archive class takes no other count.
    let mut no_target = rule(1, sel.clone());
    no_target["action"] = json!({"type": "transition"});
    let mut expire_with_target = rule(1, sel.clone());
    expire_with_target["action"] = json!({"type": "expire", "targetStorageClass": "archive"});
    let days = |count_type: &str, n: u32, class: &str| json!({"tagStatus": "any", "storageClass": class, "countType": count_type, "countUnit": "days", "countNumber": n});
    let mut archive_again = rule(1, days("sinceImageTransitioned", 100, "archive"));
    archive_again["action"] = json!({"type": "transition", "targetStorageClass": "archive"});
    for c in [
        json!([no_target]),
        json!([expire_with_target]),
        json!([archive_again]),
        json!([rule(1, days("sinceImageTransitioned", 100, "standard"))]),
        json!([rule(1, days("sinceImageTransitioned", 30, "archive"))]),
        json!([rule(1, days("sinceImagePulled", 30, "archive"))]),
        json!([rule(1, days("sinceImagePulled", 30, "cold"))]),
    ] {
        assert!(policy(c.clone()).is_err(), "accepted {c}");
    }
    assert!(Policy::parse("{\"rules\": []}").is_err()); // under 100 characters
    assert!(Policy::parse(&format!("{}{}", "x".repeat(120), "{")).is_err());
}

fn archive_rule(priority: i64, selection: serde_json::Value) -> serde_json::Value {
    json!({"rulePriority": priority, "selection": selection, "action": {"type": "transition", "targetStorageClass": "archive"}})
}

#[test]
fn transition_rules_archive_and_archived_images_expire_after_their_archive_time() {
    // Untagged images not pulled for 30 days go to the archive; archived ones are deleted 90 days after that.
    let p = policy(json!([
        archive_rule(1, json!({"tagStatus": "untagged", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 30})),
        rule(2, json!({"tagStatus": "untagged", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 90})),
    ]))
    .unwrap();
    let mut pulled_lately = img("pulled-lately", &[], 100.0);
    pulled_lately.pulled_at = Some(NOW - 2.0 * DAY);
    let never_pulled = img("never-pulled", &[], 40.0);
    let young = img("young", &[], 10.0);
    let mut archived_long = img("archived-long", &[], 300.0);
    archived_long.archived_at = Some(NOW - 120.0 * DAY);
    let mut archived_lately = img("archived-lately", &[], 300.0);
    archived_lately.archived_at = Some(NOW - 20.0 * DAY);
    let images = [pulled_lately, never_pulled, young, archived_long, archived_lately];
    let acted: Vec<(String, RuleAction)> =
        evaluate(&p, &images, NOW).into_iter().map(|e| (e.digest, e.action)).collect();
    assert_eq!(
        acted,
        vec![("archived-long".into(), RuleAction::Expire), ("never-pulled".into(), RuleAction::Archive)],
        "an image last pulled 2 days ago, a 10-day-old one and one archived 20 days ago stay"
    );
}
