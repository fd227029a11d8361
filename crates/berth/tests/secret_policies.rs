//! Secret resource policies and resource tags in policies, with the unchanged aws CLI as IAM users: a user with no
//! identity permission reads a secret its resource policy names; an explicit Deny in a secret's policy wins over the
//! user's identity Allow; BlockPublicPolicy refuses a policy open to anyone (and ValidateResourcePolicy says why);
//! a policy conditioned on `aws:ResourceTag/team` reads the blue secret and not the red one, and describes the blue
//! cluster and not the red one (`ecs:ResourceTag/team`); the policy survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use berth_testkit::{Berth, BerthOptions};
use common::{aws_err, aws_json, aws_ok};
use serde_json::Value;

/// A user's access key, as environment variables for the aws CLI.
struct Keys {
    id: String,
    secret: String,
}

impl Keys {
    fn call(&self, berth: &Berth, service: &str, args: &[&str]) -> Result<Value, String> {
        let env = [("AWS_ACCESS_KEY_ID", self.id.as_str()), ("AWS_SECRET_ACCESS_KEY", self.secret.as_str())];
        aws_json(berth, service, args, &env)
    }
}

fn new_user(berth: &Berth, name: &str) -> Keys {
    aws_ok(berth, "iam", &["create-user", "--user-name", name]);
    let key = aws_ok(berth, "iam", &["create-access-key", "--user-name", name]);
    Keys {
        id: key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(),
        secret: key["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string(),
    }
}

fn secret_arn(berth: &Berth, name: &str, value: &str, tags: &[&str]) -> String {
    let mut args = vec!["create-secret", "--name", name, "--secret-string", value];
    if !tags.is_empty() {
        args.push("--tags");
        args.extend_from_slice(tags);
    }
    aws_ok(berth, "secretsmanager", &args)["ARN"].as_str().unwrap().to_string()
}

#[test]
fn secret_policies_and_resource_tags_with_the_aws_cli() {
    let mut berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let account = berth.account_id.clone();
    let shared = secret_arn(&berth, "app/shared", "s3cr3t-shared", &[]);
    let blue = secret_arn(&berth, "app/blue", "s3cr3t-blue", &["Key=team,Value=blue"]);
    let red = secret_arn(&berth, "app/red", "s3cr3t-red", &["Key=team,Value=red"]);

    // 1. A user with no identity policy reads a secret whose resource policy names it.
    let reader = new_user(&berth, "reader");
    let reader_arn = format!("arn:aws:iam::{account}:user/reader");
    let e = reader.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/shared"]).unwrap_err();
    assert!(
        e.contains("(AccessDeniedException)")
            && e.contains(&format!(
                "User: {reader_arn} is not authorized to perform: secretsmanager:GetSecretValue on resource: {shared}"
            )),
        "{e}"
    );
    let allow_reader = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Reader","Effect":"Allow","Principal":{{"AWS":"{reader_arn}"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}]}}"#
    );
    let put = aws_ok(
        &berth,
        "secretsmanager",
        &[
            "put-resource-policy",
            "--secret-id",
            "app/shared",
            "--resource-policy",
            &allow_reader,
            "--block-public-policy",
        ],
    );
    assert_eq!(put["ARN"], shared.as_str());
    let got = reader.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/shared"]).unwrap();
    assert_eq!(got["SecretString"], "s3cr3t-shared");
    // The policy names one action: the others stay denied.
    let e = reader.call(&berth, "secretsmanager", &["describe-secret", "--secret-id", "app/shared"]).unwrap_err();
    assert!(e.contains("(AccessDeniedException)"), "{e}");
    let e = reader.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/blue"]).unwrap_err();
    assert!(e.contains("(AccessDeniedException)"), "{e}");
    // Naming the account root delegates to the account: the user's own policies must allow too.
    let allow_account = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}]}}"#
    );
    aws_ok(
        &berth,
        "secretsmanager",
        &["put-resource-policy", "--secret-id", &red, "--resource-policy", &allow_account],
    );
    let e = reader.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/red"]).unwrap_err();
    assert!(e.contains("(AccessDeniedException)"), "{e}");
    aws_ok(&berth, "secretsmanager", &["delete-resource-policy", "--secret-id", "app/red"]);

    // 2. Resource tags: a user allowed GetSecretValue and DescribeClusters only on resources tagged team=blue.
    let tagged = new_user(&berth, "tagged");
    let tagged_arn = format!("arn:aws:iam::{account}:user/tagged");
    let by_tag = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"BlueSecrets","Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}},
        {"Sid":"BlueClusters","Effect":"Allow","Action":"ecs:DescribeClusters","Resource":"*","Condition":{"StringEquals":{"ecs:ResourceTag/team":"blue"}}}]}"#;
    aws_ok(
        &berth,
        "iam",
        &["put-user-policy", "--user-name", "tagged", "--policy-name", "blue", "--policy-document", by_tag],
    );
    let got = tagged.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/blue"]).unwrap();
    assert_eq!(got["SecretString"], "s3cr3t-blue");
    let got = tagged.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", &blue]).unwrap();
    assert_eq!(got["SecretString"], "s3cr3t-blue");
    let e = tagged.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/red"]).unwrap_err();
    assert!(e.contains("(AccessDeniedException)") && e.contains(&red), "{e}");
    let e = tagged.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/shared"]).unwrap_err();
    assert!(e.contains("(AccessDeniedException)"), "an untagged secret lacks the key: {e}");
    // Retagging the red secret blue lets the user in.
    aws_ok(&berth, "secretsmanager", &["tag-resource", "--secret-id", "app/red", "--tags", "Key=team,Value=blue"]);
    tagged.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/red"]).expect("retagged blue");
    aws_ok(&berth, "secretsmanager", &["tag-resource", "--secret-id", "app/red", "--tags", "Key=team,Value=red"]);

    aws_ok(&berth, "ecs", &["create-cluster", "--cluster-name", "blue-c", "--tags", "key=team,value=blue"]);
    aws_ok(&berth, "ecs", &["create-cluster", "--cluster-name", "red-c", "--tags", "key=team,value=red"]);
    let described = tagged.call(&berth, "ecs", &["describe-clusters", "--clusters", "blue-c"]).unwrap();
    assert_eq!(described["clusters"][0]["clusterName"], "blue-c", "{described}");
    let e = tagged.call(&berth, "ecs", &["describe-clusters", "--clusters", "red-c"]).unwrap_err();
    assert!(
        e.contains("(AccessDeniedException)")
            && e.contains(&format!("ecs:DescribeClusters on resource: arn:aws:ecs:us-east-1:{account}:cluster/red-c")),
        "{e}"
    );

    // 3. An explicit Deny in the secret's policy wins over the identity Allow.
    let deny_tagged = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"NotTagged","Effect":"Deny","Principal":{{"AWS":"{tagged_arn}"}},"Action":"secretsmanager:*","Resource":"*"}}]}}"#
    );
    aws_ok(
        &berth,
        "secretsmanager",
        &["put-resource-policy", "--secret-id", "app/blue", "--resource-policy", &deny_tagged],
    );
    let e = tagged.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/blue"]).unwrap_err();
    assert!(
        e.contains("(AccessDeniedException)") && e.contains("with an explicit deny in a resource-based policy"),
        "{e}"
    );
    aws_ok(&berth, "secretsmanager", &["delete-resource-policy", "--secret-id", "app/blue"]);
    tagged.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", "app/blue"]).expect("the deny is gone");

    // 4. BlockPublicPolicy refuses a policy open to anyone; ValidateResourcePolicy reports it.
    let public = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Anyone","Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let e = aws_err(
        &berth,
        "secretsmanager",
        &["put-resource-policy", "--secret-id", "app/blue", "--resource-policy", public, "--block-public-policy"],
    );
    assert!(
        e.contains("(PublicPolicyException)")
            && e.contains("The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret"),
        "{e}"
    );
    let checked = aws_ok(&berth, "secretsmanager", &["validate-resource-policy", "--resource-policy", public]);
    assert_eq!(checked["PolicyValidationPassed"], false, "{checked}");
    assert!(checked["ValidationErrors"][0]["ErrorMessage"].as_str().unwrap().contains("Anyone"), "{checked}");
    let checked = aws_ok(&berth, "secretsmanager", &["validate-resource-policy", "--resource-policy", &allow_reader]);
    assert_eq!(checked["PolicyValidationPassed"], true, "{checked}");
    let e = aws_err(
        &berth,
        "secretsmanager",
        &["put-resource-policy", "--secret-id", "app/blue", "--resource-policy", "{"],
    );
    assert!(e.contains("(MalformedPolicyDocumentException)"), "{e}");
    // A user may not attach policies without the permission.
    let e = reader
        .call(
            &berth,
            "secretsmanager",
            &["put-resource-policy", "--secret-id", "app/shared", "--resource-policy", public],
        )
        .unwrap_err();
    assert!(e.contains("(AccessDeniedException)") && e.contains("secretsmanager:PutResourcePolicy"), "{e}");

    // 5. The policy is kept across a restart.
    berth.restart().expect("berth restarts");
    let got = aws_ok(&berth, "secretsmanager", &["get-resource-policy", "--secret-id", "app/shared"]);
    assert_eq!(got["ResourcePolicy"], allow_reader.as_str());
    let got = reader.call(&berth, "secretsmanager", &["get-secret-value", "--secret-id", &shared]).unwrap();
    assert_eq!(got["SecretString"], "s3cr3t-shared");
}

/// The rest of the services whose resources carry tags, in one boto3 process (the root creates a `team=blue` and a
/// `team=red` resource of each kind; a user whose only policy allows reads on resources tagged `team=blue` calls
/// each). Prints `{"<service> <color>": "ok" | "<error code>: <message>"}`.
const TAGGED_RESOURCES: &str = r#"
import boto3, json, os
from botocore.exceptions import ClientError
root = {n: boto3.client(n) for n in ("elbv2", "cloudwatch", "logs", "kms", "iam")}
keys = {}
for color in ("blue", "red"):
    tags = [{"Key": "team", "Value": color}]
    keys["elbv2", color] = root["elbv2"].create_target_group(Name=f"tg-{color}", Protocol="HTTP", Port=80,
        VpcId=os.environ["VPC"], TargetType="ip", Tags=tags)["TargetGroups"][0]["TargetGroupArn"]
    root["cloudwatch"].put_metric_alarm(AlarmName=f"alarm-{color}", Namespace="App", MetricName="Errors",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        Tags=tags)
    root["logs"].create_log_group(logGroupName=f"group-{color}", tags={"team": color})
    keys["kms", color] = root["kms"].create_key(Tags=[{"TagKey": "team", "TagValue": color}])["KeyMetadata"]["KeyId"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    root["iam"].create_role(RoleName=f"role-{color}", AssumeRolePolicyDocument=json.dumps(trust), Tags=tags)
root["iam"].create_user(UserName="by-tag")
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
    "Action": ["elasticloadbalancing:DescribeTargetGroupAttributes", "cloudwatch:DescribeAlarms",
               "logs:DescribeLogStreams", "kms:DescribeKey", "iam:GetRole"],
    "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}}]}
root["iam"].put_user_policy(UserName="by-tag", PolicyName="blue", PolicyDocument=json.dumps(policy))
key = root["iam"].create_access_key(UserName="by-tag")["AccessKey"]
user = {n: boto3.client(n, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        for n in root}
results = {}
for color in ("blue", "red"):
    calls = {
        "cloudwatch": lambda: user["cloudwatch"].describe_alarms(AlarmNames=[f"alarm-{color}"]),
        "logs": lambda: user["logs"].describe_log_streams(logGroupName=f"group-{color}"),
        "kms": lambda: user["kms"].describe_key(KeyId=keys["kms", color]),
        "iam": lambda: user["iam"].get_role(RoleName=f"role-{color}"),
        "elbv2": lambda: user["elbv2"].describe_target_group_attributes(TargetGroupArn=keys["elbv2", color]),
    }
    for service, call in calls.items():
        try:
            call()
            results[f"{service} {color}"] = "ok"
        except ClientError as e:
            results[f"{service} {color}"] = e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"]
print(json.dumps(results))
"#;

#[test]
fn resource_tags_of_load_balancing_alarms_logs_keys_and_roles_decide_policies() {
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "server",
        extra_args: Vec::new(),
    })
    .expect("berth server starts");
    let vpc = aws_ok(&berth, "ec2", &["describe-vpcs"])["Vpcs"][0]["VpcId"].as_str().unwrap().to_string();
    let out = common::with_user_env(std::process::Command::new("python3").args(["-c", TAGGED_RESOURCES]), &berth)
        .env("VPC", &vpc)
        .output()
        .expect("python3 with boto3 (tools/test --setup-only)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: serde_json::Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let user = format!("arn:aws:iam::{}:user/by-tag", berth.account_id);
    for service in ["elbv2", "cloudwatch", "logs", "kms", "iam"] {
        assert_eq!(results[&format!("{service} blue")], "ok", "{service}: {results:?}");
        let red = results[&format!("{service} red")].as_str().unwrap();
        assert!(red.contains("AccessDenied") && red.contains(&user), "{service}: {red}");
    }
}
