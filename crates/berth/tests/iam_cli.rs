//! IAM and STS with the unchanged aws CLI: a user with an access key and a policy on one cluster can list and
//! describe but not create (AccessDeniedException in AWS's words); an explicit deny wins; AssumeRole under a trust
//! policy gives session credentials that work until they expire and are refused after (ExpiredTokenException); a
//! caller the trust policy does not name is refused; quotas and malformed documents get IAM's errors; the root key
//! still does everything; IAM's state survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use berth_testkit::Berth;
use common::{aws_err, aws_json, aws_ok};
use serde_json::Value;
use std::time::Duration;

/// Credentials of a non-root caller.
struct Keys {
    id: String,
    secret: String,
    token: Option<String>,
}

impl Keys {
    fn env(&self) -> Vec<(&str, &str)> {
        let mut env = vec![("AWS_ACCESS_KEY_ID", self.id.as_str()), ("AWS_SECRET_ACCESS_KEY", self.secret.as_str())];
        if let Some(token) = &self.token {
            env.push(("AWS_SESSION_TOKEN", token.as_str()));
        }
        env
    }
}

fn as_caller(berth: &Berth, keys: &Keys, service: &str, args: &[&str]) -> Result<Value, String> {
    aws_json(berth, service, args, &keys.env())
}

fn new_user(berth: &Berth, name: &str) -> Keys {
    aws_ok(berth, "iam", &["create-user", "--user-name", name]);
    let key = aws_ok(berth, "iam", &["create-access-key", "--user-name", name]);
    Keys {
        id: key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(),
        secret: key["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string(),
        token: None,
    }
}

#[test]
fn users_policies_sessions_and_the_root_with_the_aws_cli() {
    let mut berth = Berth::start(berth_testkit::BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: vec!["--iam-min-session-seconds".into(), "2".into()],
    })
    .expect("berth server starts");
    let account = berth.account_id.clone();
    let prod = format!("arn:aws:ecs:us-east-1:{account}:cluster/prod");
    aws_ok(&berth, "ecs", &["create-cluster", "--cluster-name", "prod"]);
    aws_ok(&berth, "ecs", &["create-cluster", "--cluster-name", "dev"]);

    // A user whose policy lists everything and describes one cluster.
    let alice = new_user(&berth, "alice");
    let alice_arn = format!("arn:aws:iam::{account}:user/alice");
    let read_prod = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"List","Effect":"Allow","Action":"ecs:List*","Resource":"*"}},{{"Sid":"DescribeProd","Effect":"Allow","Action":"ecs:Describe*","Resource":"{prod}"}}]}}"#
    );
    aws_ok(
        &berth,
        "iam",
        &["put-user-policy", "--user-name", "alice", "--policy-name", "read-prod", "--policy-document", &read_prod],
    );
    let policy = aws_ok(&berth, "iam", &["get-user-policy", "--user-name", "alice", "--policy-name", "read-prod"]);
    assert_eq!(policy["PolicyDocument"]["Statement"][1]["Resource"], prod.as_str(), "{policy}");

    let listed = as_caller(&berth, &alice, "ecs", &["list-clusters"]).expect("alice lists clusters");
    assert!(listed["clusterArns"].to_string().contains(&prod), "{listed}");
    let described = as_caller(&berth, &alice, "ecs", &["describe-clusters", "--clusters", "prod"]).expect("prod");
    assert_eq!(described["clusters"][0]["clusterName"], "prod");
    let e = as_caller(&berth, &alice, "ecs", &["describe-clusters", "--clusters", "dev"]).unwrap_err();
    assert!(e.contains("(AccessDeniedException)"), "{e}");
    // EC2 (awsvpc's networking API) goes through the same hook, with EC2's own error code.
    let e = as_caller(&berth, &alice, "ec2", &["describe-vpcs"]).unwrap_err();
    assert!(
        e.contains("(UnauthorizedOperation)") && e.contains("is not authorized to perform: ec2:DescribeVpcs"),
        "{e}"
    );
    let e = as_caller(&berth, &alice, "ecs", &["create-cluster", "--cluster-name", "mine"]).unwrap_err();
    let expected = format!(
        "An error occurred (AccessDeniedException) when calling the CreateCluster operation: User: {alice_arn} is not \
         authorized to perform: ecs:CreateCluster on resource: arn:aws:ecs:us-east-1:{account}:cluster/mine because \
         no identity-based policy allows the ecs:CreateCluster action"
    );
    assert!(e.contains(&expected), "{e}");
    let me = as_caller(&berth, &alice, "sts", &["get-caller-identity"]).expect("anyone may ask who they are");
    assert_eq!(me["Arn"], alice_arn.as_str());
    assert_eq!(me["Account"], account.as_str());
    // IAM's own calls are authorized too.
    let e = as_caller(&berth, &alice, "iam", &["list-users"]).unwrap_err();
    assert!(e.contains("(AccessDenied)") && e.contains("iam:ListUsers"), "{e}");

    // An explicit deny wins over the allow, through a group's managed policy.
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ecs:ListClusters","Resource":"*"}]}"#;
    let created = aws_ok(&berth, "iam", &["create-policy", "--policy-name", "no-listing", "--policy-document", deny]);
    let deny_arn = created["Policy"]["Arn"].as_str().unwrap().to_string();
    aws_ok(&berth, "iam", &["create-group", "--group-name", "auditors"]);
    aws_ok(&berth, "iam", &["attach-group-policy", "--group-name", "auditors", "--policy-arn", &deny_arn]);
    aws_ok(&berth, "iam", &["add-user-to-group", "--group-name", "auditors", "--user-name", "alice"]);
    let e = as_caller(&berth, &alice, "ecs", &["list-clusters"]).unwrap_err();
    assert!(e.contains("with an explicit deny in an identity-based policy"), "{e}");
    assert!(as_caller(&berth, &alice, "ecs", &["list-services", "--cluster", "prod"]).is_ok());
    aws_ok(&berth, "iam", &["remove-user-from-group", "--group-name", "auditors", "--user-name", "alice"]);
    as_caller(&berth, &alice, "ecs", &["list-clusters"]).expect("the deny is gone with the group");

    // AWS managed policies exist by name and can be attached.
    let managed = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";
    let got = aws_ok(&berth, "iam", &["get-policy", "--policy-arn", managed]);
    assert_eq!(got["Policy"]["PolicyName"], "AmazonECSTaskExecutionRolePolicy");

    // A role alice may assume; its session credentials work until they expire.
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{alice_arn}"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let role =
        aws_ok(&berth, "iam", &["create-role", "--role-name", "deployer", "--assume-role-policy-document", &trust]);
    let role_arn = role["Role"]["Arn"].as_str().unwrap().to_string();
    let create_any =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:CreateCluster","Resource":"*"}]}"#;
    aws_ok(
        &berth,
        "iam",
        &["put-role-policy", "--role-name", "deployer", "--policy-name", "create", "--policy-document", create_any],
    );
    // The CLI checks DurationSeconds >= 900 itself: a config without parameter validation lets the test's short
    // session (the server's minimum is lowered to 2 s) through.
    let config = berth.data_dir.path().join("aws-config-no-validation");
    std::fs::write(&config, "[default]\nparameter_validation = false\n").unwrap();
    let config = config.display().to_string();
    let assume = |keys: &Keys, seconds: &str| {
        let mut env = keys.env();
        env.push(("AWS_CONFIG_FILE", config.as_str()));
        let args =
            ["assume-role", "--role-arn", &role_arn, "--role-session-name", "deploy-1", "--duration-seconds", seconds];
        aws_json(&berth, "sts", &args, &env)
    };
    let e = assume(&alice, "1").unwrap_err();
    assert!(e.contains("(ValidationError)") && e.contains("DurationSeconds"), "{e}");
    let assumed = assume(&alice, "10").expect("alice assumes the role");
    let creds = &assumed["Credentials"];
    let session = Keys {
        id: creds["AccessKeyId"].as_str().unwrap().to_string(),
        secret: creds["SecretAccessKey"].as_str().unwrap().to_string(),
        token: Some(creds["SessionToken"].as_str().unwrap().to_string()),
    };
    assert!(session.id.starts_with("ASIA"), "{assumed}");
    let session_arn = format!("arn:aws:sts::{account}:assumed-role/deployer/deploy-1");
    assert_eq!(assumed["AssumedRoleUser"]["Arn"], session_arn.as_str());
    let who = as_caller(&berth, &session, "sts", &["get-caller-identity"]).expect("the session works");
    assert_eq!(who["Arn"], session_arn.as_str());
    as_caller(&berth, &session, "ecs", &["create-cluster", "--cluster-name", "by-role"]).expect("the role may create");
    let e = as_caller(&berth, &session, "ecs", &["list-clusters"]).unwrap_err();
    assert!(e.contains(&format!("User: {session_arn} is not authorized to perform: ecs:ListClusters")), "{e}");
    // Without its token the session key is not accepted.
    let tokenless = Keys { id: session.id.clone(), secret: session.secret.clone(), token: None };
    let e = as_caller(&berth, &tokenless, "sts", &["get-caller-identity"]).unwrap_err();
    assert!(
        e.contains("InvalidClientTokenId") || e.contains("UnrecognizedClient") || e.contains("security token"),
        "{e}"
    );
    // After the expiry, ExpiredTokenException.
    let expired = berth_testkit::wait_for_blocking("the session to expire", Duration::from_secs(30), || {
        as_caller(&berth, &session, "sts", &["get-caller-identity"]).err()
    })
    .expect("the session expires");
    assert!(expired.contains("ExpiredToken"), "{expired}");

    // A caller the trust policy does not name is refused.
    let bob = new_user(&berth, "bob");
    let e = as_caller(&berth, &bob, "sts", &["assume-role", "--role-arn", &role_arn, "--role-session-name", "bob-1"])
        .unwrap_err();
    assert!(e.contains("(AccessDenied)") && e.contains("sts:AssumeRole"), "{e}");

    // The registry's /v2/ is authorized as the ECR action each request stands for, for the key that got the token.
    aws_ok(&berth, "ecr", &["create-repository", "--repository-name", "app"]);
    let may_token = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}}"#;
    aws_ok(
        &berth,
        "iam",
        &["put-user-policy", "--user-name", "alice", "--policy-name", "ecr-token", "--policy-document", may_token],
    );
    let auth = as_caller(&berth, &alice, "ecr", &["get-authorization-token"]).expect("alice gets a registry token");
    let basic = format!("Basic {}", auth["authorizationData"][0]["authorizationToken"].as_str().unwrap());
    let tags = format!("{}/v2/app/tags/list", berth.url());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let get = |url: &str| {
        runtime.block_on(async {
            let response = reqwest::Client::new().get(url).header("authorization", &basic).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    let (status, body) = get(&tags);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(&format!("User: {alice_arn} is not authorized to perform: ecr:ListImages")), "{body}");
    let may_list = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"ecr:ListImages","Resource":"arn:aws:ecr:us-east-1:{account}:repository/app"}}}}"#
    );
    aws_ok(
        &berth,
        "iam",
        &["put-user-policy", "--user-name", "alice", "--policy-name", "ecr-list", "--policy-document", &may_list],
    );
    let (status, body) = get(&tags);
    assert_eq!(status, 200, "{body}");

    // Quotas and malformed documents.
    aws_ok(&berth, "iam", &["create-access-key", "--user-name", "bob"]);
    let e = aws_err(&berth, "iam", &["create-access-key", "--user-name", "bob"]);
    assert!(e.contains("(LimitExceeded)") && e.contains("AccessKeysPerUser: 2"), "{e}");
    let e = aws_err(
        &berth,
        "iam",
        &["put-user-policy", "--user-name", "bob", "--policy-name", "p", "--policy-document", "{\"Statement\":"],
    );
    assert!(e.contains("(MalformedPolicyDocument)"), "{e}");
    let e = aws_err(
        &berth,
        "iam",
        &[
            "put-user-policy",
            "--user-name",
            "bob",
            "--policy-name",
            "p",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringSortOf":{"a:b":"c"}}}}"#,
        ],
    );
    assert!(e.contains("(MalformedPolicyDocument)") && e.contains("StringSortOf"), "{e}");
    let e = aws_err(&berth, "iam", &["create-user", "--user-name", "ALICE"]);
    assert!(e.contains("(EntityAlreadyExists)"), "{e}");
    let e = aws_err(&berth, "iam", &["get-role", "--role-name", "nobody"]);
    assert!(e.contains("(NoSuchEntity)"), "{e}");

    // The root key still does everything.
    aws_ok(&berth, "ecs", &["create-cluster", "--cluster-name", "root-made"]);
    let users = aws_ok(&berth, "iam", &["list-users"]);
    assert_eq!(users["Users"].as_array().map(Vec::len), Some(2), "{users}");
    let root = aws_ok(&berth, "sts", &["get-caller-identity"]);
    assert_eq!(root["Arn"], format!("arn:aws:iam::{account}:root").as_str());

    // IAM's state survives a restart: alice's key, her policy, the role.
    berth.restart().expect("berth restarts");
    as_caller(&berth, &alice, "ecs", &["list-clusters"]).expect("alice's key survives the restart");
    let e = as_caller(&berth, &alice, "ecs", &["create-cluster", "--cluster-name", "mine"]).unwrap_err();
    assert!(e.contains("(AccessDeniedException)"), "{e}");
    let role = aws_ok(&berth, "iam", &["get-role", "--role-name", "deployer"]);
    assert_eq!(role["Role"]["Arn"], role_arn.as_str());
    // Secrets are stored sealed: no access key secret in the store.
    let db = std::fs::read(berth.data_dir.path().join("state.db")).unwrap_or_default();
    let wal = std::fs::read(berth.data_dir.path().join("state.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(alice.secret.len()).any(|w| w == alice.secret.as_bytes()), "a secret key in clear");
    }
}

#[test]
fn creating_with_tags_needs_tag_resource_while_tag_resource_authorization_is_on() {
    let berth = Berth::start(berth_testkit::BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let account = berth.account_id.clone();
    let bob = new_user(&berth, "bob");
    let bob_arn = format!("arn:aws:iam::{account}:user/bob");
    let create_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:CreateCluster","ecs:RegisterTaskDefinition"],"Resource":"*"}]}"#;
    aws_ok(
        &berth,
        "iam",
        &["put-user-policy", "--user-name", "bob", "--policy-name", "create", "--policy-document", create_only],
    );

    // On by default (ECS's default): a tagged create is refused naming ecs:TagResource on the new cluster; untagged
    // works.
    let e =
        as_caller(&berth, &bob, "ecs", &["create-cluster", "--cluster-name", "tagged", "--tags", "key=team,value=a"])
            .unwrap_err();
    assert!(e.contains("(AccessDeniedException)"), "{e}");
    assert!(e.contains("ecs:TagResource") && e.contains(":cluster/tagged"), "{e}");
    let listed = aws_ok(&berth, "ecs", &["list-clusters"]);
    assert!(!listed.to_string().contains("cluster/tagged"), "a refused create creates nothing: {listed}");
    as_caller(&berth, &bob, "ecs", &["create-cluster", "--cluster-name", "plain"]).expect("untagged create");
    let td = r#"[{"name":"app","image":"berth-workload:latest","memory":64}]"#;
    let e = as_caller(
        &berth,
        &bob,
        "ecs",
        &["register-task-definition", "--family", "web", "--container-definitions", td, "--tags", "key=a,value=b"],
    )
    .unwrap_err();
    assert!(e.contains("ecs:TagResource") && e.contains(":task-definition/web:*"), "{e}");

    // Turned off for bob by the root: the tagged create works without the permission.
    aws_ok(
        &berth,
        "ecs",
        &["put-account-setting", "--name", "tagResourceAuthorization", "--value", "off", "--principal-arn", &bob_arn],
    );
    let made =
        as_caller(&berth, &bob, "ecs", &["create-cluster", "--cluster-name", "tagged", "--tags", "key=team,value=a"])
            .expect("tagged create with the setting off");
    assert_eq!(made["cluster"]["tags"][0]["key"], "team", "{made}");

    // On again, with ecs:TagResource allowed only for CreateCluster (ECS's ecs:CreateAction condition key).
    aws_ok(
        &berth,
        "ecs",
        &["put-account-setting", "--name", "tagResourceAuthorization", "--value", "on", "--principal-arn", &bob_arn],
    );
    let tag_on_create = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:TagResource","Resource":"*","Condition":{"StringEquals":{"ecs:CreateAction":"CreateCluster"}}}]}"#;
    aws_ok(
        &berth,
        "iam",
        &["put-user-policy", "--user-name", "bob", "--policy-name", "tag", "--policy-document", tag_on_create],
    );
    as_caller(&berth, &bob, "ecs", &["create-cluster", "--cluster-name", "tagged2", "--tags", "key=team,value=b"])
        .expect("tagging allowed on CreateCluster");
    let e = as_caller(
        &berth,
        &bob,
        "ecs",
        &["register-task-definition", "--family", "web", "--container-definitions", td, "--tags", "key=a,value=b"],
    )
    .unwrap_err();
    assert!(e.contains("ecs:TagResource"), "the condition names CreateCluster only: {e}");
}
