//! The policy engine's table: each row is policies, a request and the expected decision. Rows follow IAM's
//! documented evaluation examples (policy evaluation logic, condition operators, policy variables, NotAction and
//! NotResource) and edge cases of our own; a second table lists documents IAM refuses.

use super::*;
use std::sync::Arc;

const ACCT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const CLUSTER: &str = "arn:aws:ecs:us-east-1:111122223333:cluster/prod";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf";

/// The expected decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum E {
    /// Allowed.
    A,
    /// Explicitly denied.
    D,
    /// Implicitly denied.
    I,
}
use E::*;

/// One row: identity policies, a resource policy, action, resource, extra condition keys, expectation.
struct Case {
    name: &'static str,
    identity: &'static [&'static str],
    resource_policy: Option<&'static str>,
    action: &'static str,
    resource: &'static str,
    context: &'static [(&'static str, &'static str)],
    expect: E,
}

const fn c(
    name: &'static str,
    identity: &'static [&'static str],
    action: &'static str,
    resource: &'static str,
    context: &'static [(&'static str, &'static str)],
    expect: E,
) -> Case {
    Case { name, identity, resource_policy: None, action, resource, context, expect }
}

const fn r(
    name: &'static str,
    identity: &'static [&'static str],
    resource_policy: &'static str,
    action: &'static str,
    resource: &'static str,
    expect: E,
) -> Case {
    Case { name, identity, resource_policy: Some(resource_policy), action, resource, context: &[], expect }
}

const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
const ALLOW_ECS_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:Describe*","ecs:List*"],"Resource":"*"}]}"#;
const ALLOW_PROD: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Prod","Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:*:111122223333:cluster/prod*"}]}"#;
const DENY_DELETE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoDelete","Effect":"Deny","Action":"ecs:Delete*","Resource":"*"}]}"#;
const NOT_ACTION_IAM: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#;
const DENY_NOT_RESOURCE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ecs:*","NotResource":"arn:aws:ecs:us-east-1:111122223333:cluster/prod"}]}"#;
const ALLOW_NOT_RESOURCE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","NotResource":"arn:aws:secretsmanager:*:*:secret:admin/*"}]}"#;
const USER_FOLDER: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:111122223333:secret:home/${aws:username}/*"}]}"#;
const USER_FOLDER_2008: &str = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:111122223333:secret:home/${aws:username}/*"}]}"#;
const NO_VERSION: &str = r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:111122223333:secret:home/${aws:username}/*"}]}"#;
const TAG_VAR: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:us-east-1:111122223333:cluster/${aws:PrincipalTag/team}-*"}]}"#;
const DEFAULT_VAR: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:us-east-1:111122223333:cluster/${aws:PrincipalTag/team, 'shared'}"}]}"#;
const LITERAL_STAR_VAR: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:us-east-1:111122223333:cluster/a${*}b"}]}"#;
const IP_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.7"]}}}]}"#;
const DENY_OUTSIDE_IP: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8"]}}}]}"#;
const IPV6: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}}]}"#;
const BEFORE_2030: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}]}"#;
const AFTER_2020: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateGreaterThanEquals":{"aws:CurrentTime":"2020-01-01"}}}]}"#;
const WINDOW: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2026-02-01T00:00:00Z"}}}]}"#;
const DATE_EQ_EPOCH: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateEquals":{"aws:EpochTime":1767225600}}}]}"#;
const SECURE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
const DENY_INSECURE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}]}"#;
const TEAM_EQ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":["web","api"]}}}]}"#;
const TEAM_NE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalTag/team":["web","api"]}}}]}"#;
const TEAM_NE_IFEXISTS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:PrincipalTag/team":"web"}}}]}"#;
const TEAM_IGNORE_CASE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"WEB"}}}]}"#;
const TEAM_NOT_IGNORE_CASE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"WEB"}}}]}"#;
const TEAM_LIKE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringLike":{"aws:PrincipalTag/team":["w?b","api-*"]}}}]}"#;
const TEAM_NOT_LIKE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringNotLike":{"aws:PrincipalTag/team":"w*"}}}]}"#;
const KEY_NAME_CASE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEquals":{"AWS:PRINCIPALTAG/TEAM":"web"}}}]}"#;
const TAG_PRESENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"Null":{"aws:PrincipalTag/team":"false"}}}]}"#;
const TAG_ABSENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"Null":{"aws:PrincipalTag/team":"true"}}}]}"#;
const TWO_KEYS_AND: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"web","ecs:cluster":"arn:aws:ecs:us-east-1:111122223333:cluster/prod"}}}]}"#;
const TWO_OPS_AND: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"web"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
const NUM_LT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"berth:count":10}}}]}"#;
const NUM_LE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThanEquals":{"berth:count":"10"}}}]}"#;
const NUM_GT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericGreaterThan":{"berth:count":1.5}}}]}"#;
const NUM_GE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericGreaterThanEquals":{"berth:count":2}}}]}"#;
const NUM_EQ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"berth:count":[3,5]}}}]}"#;
const NUM_NE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericNotEquals":{"berth:count":3}}}]}"#;
const NUM_LT_IFEXISTS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThanIfExists":{"berth:count":10}}}]}"#;
const ARN_LIKE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/a*"}}}]}"#;
const ARN_EQUALS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}}]}"#;
const ARN_NOT_LIKE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/admin-*"}}},{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const SOURCE_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}]}"#;
const ECS_CLUSTER_COND: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:RunTask","Resource":"*","Condition":{"ArnEquals":{"ecs:cluster":"arn:aws:ecs:us-east-1:111122223333:cluster/prod"}}}]}"#;
const FOR_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}}]}"#;
const FOR_ANY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}}]}"#;
const FOR_ANY_NOT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["env"]}}}]}"#;
const FOR_ALL_LIKE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["team-*"]}}}]}"#;
const FOR_ANY_IFEXISTS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"env"}}}]}"#;
const VAR_IN_COND: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/owner":"${aws:username}"}}}]}"#;
const VAR_IN_LIKE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"aws:ResourceTag/owner":"${aws:username}-*"}}}]}"#;
const REQ_TAG: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:CreateCluster","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/env":"dev"}}}]}"#;
const MULTI_STMT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"arn:aws:ecr:us-east-1:111122223333:repository/app"},{"Sid":"B","Effect":"Allow","Action":["ecr:GetAuthorizationToken"],"Resource":"*"},{"Sid":"C","Effect":"Deny","Action":"ecr:PutImage","Resource":"*"}]}"#;
const QMARK_RESOURCE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"arn:aws:logs:us-east-1:111122223333:log-group:/ecs/app-?:*"}]}"#;
const DENY_PASSROLE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iam:PassRole","Resource":"arn:aws:iam::111122223333:role/admin"}]}"#;
const ALLOW_PASSROLE_ECS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:PassRole","Resource":"*","Condition":{"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}}]}"#;
const CASE_ACTION: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ECS:describeclusters","Resource":"*"}}"#;
const CASE_RESOURCE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:us-east-1:111122223333:cluster/Prod"}}"#;
const DENY_NOT_ACTION: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":["ecs:Describe*","ecs:List*"],"Resource":"*"}]}"#;
const REGION_STAR: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:*:*:*"}}"#;
const TASKDEF: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:RegisterTaskDefinition","Resource":"arn:aws:ecs:us-east-1:111122223333:task-definition/web:*"}}"#;
const STAR_CROSS_SLASH: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecs:*","Resource":"arn:aws:ecs:us-east-1:111122223333:task/*"}}"#;
const NUM_MALFORMED_CTX: &str = NUM_LT;

const SECRET_POLICY_ALICE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
const SECRET_POLICY_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
const SECRET_POLICY_ACCOUNT_ID: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"secretsmanager:*","Resource":"*"}]}"#;
const SECRET_POLICY_DENY_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
const SECRET_POLICY_DENY_BOB: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"*","Resource":"*"}]}"#;
const SECRET_POLICY_NOT_PRINCIPAL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"*","Resource":"*"}]}"#;
const SECRET_POLICY_NOT_PRINCIPAL_BOB: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"*","Resource":"*"}]}"#;
const SECRET_POLICY_OTHER_ACTION: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"secretsmanager:DescribeSecret","Resource":"*"}]}"#;
const SECRET_POLICY_ROLE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
const SECRET_POLICY_COND: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
const REPO_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:user/carol"]},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}"#;

const TAG_BLUE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}}]}"#;
const TAG_BLUE_IF_EXISTS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:ResourceTag/team":"blue"}}}]}"#;
const TAG_BLUE_SERVICE_KEY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"secretsmanager:ResourceTag/team":"blue"}}}]}"#;
const TAG_NOT_RED: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"StringNotEquals":{"ecs:ResourceTag/team":"red"}}}]}"#;
const TAG_UNTAGGED: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*","Condition":{"Null":{"aws:ResourceTag/team":"true"}}}]}"#;
const TAG_DENY_PROD: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ecs:Delete*","Resource":"*","Condition":{"StringLike":{"aws:ResourceTag/env":"prod*"}}}]}"#;
const TAG_OWNER_SELF: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:UpdateService","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/owner":"${aws:username}"}}}]}"#;
const TAG_MATCHES_PRINCIPAL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}]}"#;
const SECRET_POLICY_TAG: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}}]}"#;
const SECRET_POLICY_DENY_RED: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"secretsmanager:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"red"}}}]}"#;
const REPO: &str = "arn:aws:ecr:us-east-1:111122223333:repository/app";
const SERVICE: &str = "arn:aws:ecs:us-east-1:111122223333:service/prod/api";

/// A resource-policy row with condition keys.
const fn rc(
    name: &'static str,
    identity: &'static [&'static str],
    resource_policy: &'static str,
    action: &'static str,
    resource: &'static str,
    context: &'static [(&'static str, &'static str)],
    expect: E,
) -> Case {
    Case { name, identity, resource_policy: Some(resource_policy), action, resource, context, expect }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // --- the basics: default deny, allow, explicit deny wins
        c("no policies: implicit deny", &[], "ecs:ListClusters", "*", &[], I),
        c("allow all", &[ALLOW_ALL], "ecs:CreateCluster", "*", &[], A),
        c("allow all covers any service", &[ALLOW_ALL], "iam:CreateUser", "arn:aws:iam::111122223333:user/bob", &[], A),
        c("read-only allows Describe", &[ALLOW_ECS_READ], "ecs:DescribeClusters", CLUSTER, &[], A),
        c("read-only allows List", &[ALLOW_ECS_READ], "ecs:ListClusters", "*", &[], A),
        c("read-only does not allow Create", &[ALLOW_ECS_READ], "ecs:CreateCluster", "*", &[], I),
        c("read-only does not allow Run", &[ALLOW_ECS_READ], "ecs:RunTask", CLUSTER, &[], I),
        c("read-only is ecs only", &[ALLOW_ECS_READ], "ecr:DescribeRepositories", "*", &[], I),
        c("explicit deny over allow all", &[ALLOW_ALL, DENY_DELETE], "ecs:DeleteCluster", CLUSTER, &[], D),
        c("deny order does not matter", &[DENY_DELETE, ALLOW_ALL], "ecs:DeleteService", CLUSTER, &[], D),
        c("deny does not touch other actions", &[ALLOW_ALL, DENY_DELETE], "ecs:CreateCluster", "*", &[], A),
        c("deny alone is still a deny", &[DENY_DELETE], "ecs:DeleteCluster", CLUSTER, &[], D),
        c("deny alone does not allow others", &[DENY_DELETE], "ecs:ListClusters", "*", &[], I),
        // --- action matching
        c("action wildcard prefix", &[ALLOW_PROD], "ecs:UpdateService", CLUSTER, &[], A),
        c("action case-insensitive (policy upper)", &[CASE_ACTION], "ecs:DescribeClusters", "*", &[], A),
        c("action case-insensitive (request lower)", &[CASE_ACTION], "ecs:describeclusters", "*", &[], A),
        c("action exact needs the same name", &[CASE_ACTION], "ecs:DescribeServices", "*", &[], I),
        c("action wildcard does not cross services", &[ALLOW_ECS_READ], "ecsx:DescribeClusters", "*", &[], I),
        c("multi-statement first", &[MULTI_STMT], "ecr:BatchGetImage", "arn:aws:ecr:us-east-1:111122223333:repository/app", &[], A),
        c("multi-statement other repo", &[MULTI_STMT], "ecr:BatchGetImage", "arn:aws:ecr:us-east-1:111122223333:repository/db", &[], I),
        c("multi-statement token", &[MULTI_STMT], "ecr:GetAuthorizationToken", "*", &[], A),
        c("multi-statement deny", &[MULTI_STMT, ALLOW_ALL], "ecr:PutImage", "arn:aws:ecr:us-east-1:111122223333:repository/app", &[], D),
        c("unknown action is just not matched", &[ALLOW_ECS_READ], "ecs:MadeUpAction", "*", &[], I),
        c("star matches unknown actions", &[ALLOW_ALL], "berth:Anything", "*", &[], A),
        // --- NotAction
        c("NotAction allows other services", &[NOT_ACTION_IAM], "ecs:RunTask", CLUSTER, &[], A),
        c("NotAction leaves iam out", &[NOT_ACTION_IAM], "iam:CreateUser", "*", &[], I),
        c("NotAction is case-insensitive", &[NOT_ACTION_IAM], "IAM:CreateUser", "*", &[], I),
        c("Deny NotAction denies the rest", &[DENY_NOT_ACTION], "ecs:RunTask", CLUSTER, &[], D),
        c("Deny NotAction spares the listed", &[DENY_NOT_ACTION], "ecs:DescribeTasks", CLUSTER, &[], A),
        c("Deny NotAction spares List", &[DENY_NOT_ACTION], "ecs:ListServices", CLUSTER, &[], A),
        // --- resource matching
        c("resource wildcard in the name", &[ALLOW_PROD], "ecs:DescribeClusters", CLUSTER, &[], A),
        c("resource wildcard suffix", &[ALLOW_PROD], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/prod-b", &[], A),
        c("resource wildcard region", &[ALLOW_PROD], "ecs:DescribeClusters", "arn:aws:ecs:eu-west-1:111122223333:cluster/prod", &[], A),
        c("resource other cluster", &[ALLOW_PROD], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/dev", &[], I),
        c("resource other account", &[ALLOW_PROD], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:999999999999:cluster/prod", &[], I),
        c("resource ARN pattern does not match *", &[ALLOW_PROD], "ecs:ListClusters", "*", &[], I),
        c("resource is case-sensitive", &[CASE_RESOURCE], "ecs:DescribeClusters", CLUSTER, &[], I),
        c("resource exact case matches", &[CASE_RESOURCE], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/Prod", &[], A),
        c("resource ? matches one char", &[QMARK_RESOURCE], "logs:PutLogEvents", "arn:aws:logs:us-east-1:111122223333:log-group:/ecs/app-1:log-stream:x", &[], A),
        c("resource ? needs exactly one", &[QMARK_RESOURCE], "logs:PutLogEvents", "arn:aws:logs:us-east-1:111122223333:log-group:/ecs/app-12:log-stream:x", &[], I),
        c("resource star crosses / and :", &[REGION_STAR], "ecs:DescribeTasks", "arn:aws:ecs:us-east-1:111122223333:task/prod/abc", &[], A),
        c("resource segments keep service", &[REGION_STAR], "ecs:DescribeTasks", "arn:aws:ecr:us-east-1:111122223333:repository/x", &[], I),
        c("task definition any revision", &[TASKDEF], "ecs:RegisterTaskDefinition", "arn:aws:ecs:us-east-1:111122223333:task-definition/web:7", &[], A),
        c("task definition other family", &[TASKDEF], "ecs:RegisterTaskDefinition", "arn:aws:ecs:us-east-1:111122223333:task-definition/webapp:7", &[], I),
        c("star crosses slashes", &[STAR_CROSS_SLASH], "ecs:StopTask", "arn:aws:ecs:us-east-1:111122223333:task/prod/0123", &[], A),
        // --- NotResource
        c("Deny NotResource denies elsewhere", &[ALLOW_ALL, DENY_NOT_RESOURCE], "ecs:RunTask", "arn:aws:ecs:us-east-1:111122223333:cluster/dev", &[], D),
        c("Deny NotResource spares the named", &[ALLOW_ALL, DENY_NOT_RESOURCE], "ecs:RunTask", CLUSTER, &[], A),
        c("Deny NotResource on * resource", &[ALLOW_ALL, DENY_NOT_RESOURCE], "ecs:ListClusters", "*", &[], D),
        c("Allow NotResource allows others", &[ALLOW_NOT_RESOURCE], "secretsmanager:GetSecretValue", SECRET, &[], A),
        c("Allow NotResource leaves out admin", &[ALLOW_NOT_RESOURCE], "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:admin/root-AbCdEf", &[], I),
        // --- policy variables
        c("username variable: own folder", &[USER_FOLDER], "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/alice/db-AbCdEf", &[], A),
        c("username variable: other folder", &[USER_FOLDER], "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/bob/db-AbCdEf", &[], I),
        c("2008 version keeps ${} literal", &[USER_FOLDER_2008], "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/alice/db-AbCdEf", &[], I),
        c("2008 version literal text matches itself", &[USER_FOLDER_2008], "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/${aws:username}/db-AbCdEf", &[], A),
        c("no version is 2008", &[NO_VERSION], "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/alice/db-AbCdEf", &[], I),
        c("tag variable", &[TAG_VAR], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/web-1", &[("aws:PrincipalTag/team", "web")], A),
        c("tag variable other team", &[TAG_VAR], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/api-1", &[("aws:PrincipalTag/team", "web")], I),
        c("tag variable missing matches nothing", &[TAG_VAR], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/-1", &[], I),
        c("variable default used", &[DEFAULT_VAR], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/shared", &[], A),
        c("variable default not used when set", &[DEFAULT_VAR], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/shared", &[("aws:PrincipalTag/team", "web")], I),
        c("variable value used when set", &[DEFAULT_VAR], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/web", &[("aws:PrincipalTag/team", "web")], A),
        c("${*} is a literal star", &[LITERAL_STAR_VAR], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/a*b", &[], A),
        c("${*} is not a wildcard", &[LITERAL_STAR_VAR], "ecs:DescribeClusters", "arn:aws:ecs:us-east-1:111122223333:cluster/axxb", &[], I),
        c("variable in condition value", &[VAR_IN_COND], "ecs:StopTask", "*", &[("aws:ResourceTag/owner", "alice")], A),
        c("variable in condition value mismatch", &[VAR_IN_COND], "ecs:StopTask", "*", &[("aws:ResourceTag/owner", "bob")], I),
        c("variable in StringLike", &[VAR_IN_LIKE], "ecs:StopTask", "*", &[("aws:ResourceTag/owner", "alice-dev")], A),
        c("variable in StringLike mismatch", &[VAR_IN_LIKE], "ecs:StopTask", "*", &[("aws:ResourceTag/owner", "bob-dev")], I),
        // --- IP addresses
        c("IpAddress in range", &[IP_ONLY], "ecs:ListClusters", "*", &[("aws:SourceIp", "10.1.2.3")], A),
        c("IpAddress single address", &[IP_ONLY], "ecs:ListClusters", "*", &[("aws:SourceIp", "192.0.2.7")], A),
        c("IpAddress out of range", &[IP_ONLY], "ecs:ListClusters", "*", &[("aws:SourceIp", "192.0.2.8")], I),
        c("IpAddress missing key", &[IP_ONLY], "ecs:ListClusters", "*", &[], I),
        c("IpAddress garbage address", &[IP_ONLY], "ecs:ListClusters", "*", &[("aws:SourceIp", "not-an-ip")], I),
        c("NotIpAddress deny outside", &[ALLOW_ALL, DENY_OUTSIDE_IP], "ecs:ListClusters", "*", &[("aws:SourceIp", "172.16.0.1")], D),
        c("NotIpAddress spares inside", &[ALLOW_ALL, DENY_OUTSIDE_IP], "ecs:ListClusters", "*", &[("aws:SourceIp", "10.9.9.9")], A),
        c("NotIpAddress missing key is true", &[ALLOW_ALL, DENY_OUTSIDE_IP], "ecs:ListClusters", "*", &[], D),
        c("IPv6 in range", &[IPV6], "ecs:ListClusters", "*", &[("aws:SourceIp", "2001:db8::1")], A),
        c("IPv6 out of range", &[IPV6], "ecs:ListClusters", "*", &[("aws:SourceIp", "2001:db9::1")], I),
        c("IPv4 against IPv6 range", &[IPV6], "ecs:ListClusters", "*", &[("aws:SourceIp", "10.0.0.1")], I),
        // --- dates
        c("DateLessThan now", &[BEFORE_2030], "ecs:ListClusters", "*", &[("aws:CurrentTime", "2026-11-29T20:00:00Z")], A),
        c("DateLessThan past the date", &[BEFORE_2030], "ecs:ListClusters", "*", &[("aws:CurrentTime", "2031-01-01T00:00:00Z")], I),
        c("DateLessThan at the date", &[BEFORE_2030], "ecs:ListClusters", "*", &[("aws:CurrentTime", "2030-01-01T00:00:00Z")], I),
        c("DateGreaterThanEquals date only", &[AFTER_2020], "ecs:ListClusters", "*", &[("aws:CurrentTime", "2020-01-01T00:00:00Z")], A),
        c("DateGreaterThanEquals before", &[AFTER_2020], "ecs:ListClusters", "*", &[("aws:CurrentTime", "2019-12-31T23:59:59Z")], I),
        c("date window inside", &[WINDOW], "ecs:ListClusters", "*", &[("aws:CurrentTime", "2026-01-15T00:00:00Z")], A),
        c("date window after", &[WINDOW], "ecs:ListClusters", "*", &[("aws:CurrentTime", "2026-02-15T00:00:00Z")], I),
        c("date window before", &[WINDOW], "ecs:ListClusters", "*", &[("aws:CurrentTime", "2025-12-31T00:00:00Z")], I),
        c("date missing key", &[BEFORE_2030], "ecs:ListClusters", "*", &[], I),
        c("DateEquals epoch seconds", &[DATE_EQ_EPOCH], "ecs:ListClusters", "*", &[("aws:EpochTime", "1767225600")], A),
        c("DateEquals epoch against ISO", &[DATE_EQ_EPOCH], "ecs:ListClusters", "*", &[("aws:EpochTime", "2026-01-01T00:00:00Z")], A),
        c("DateEquals other time", &[DATE_EQ_EPOCH], "ecs:ListClusters", "*", &[("aws:EpochTime", "1767225601")], I),
        // --- Bool
        c("Bool true", &[SECURE], "ecs:ListClusters", "*", &[("aws:SecureTransport", "true")], A),
        c("Bool false", &[SECURE], "ecs:ListClusters", "*", &[("aws:SecureTransport", "false")], I),
        c("Bool is case-insensitive", &[SECURE], "ecs:ListClusters", "*", &[("aws:SecureTransport", "TRUE")], A),
        c("Bool missing", &[SECURE], "ecs:ListClusters", "*", &[], I),
        c("Bool deny when false (JSON boolean)", &[DENY_INSECURE], "ecs:ListClusters", "*", &[("aws:SecureTransport", "false")], D),
        c("Bool deny spares true", &[DENY_INSECURE], "ecs:ListClusters", "*", &[("aws:SecureTransport", "true")], A),
        c("Bool deny missing key is false", &[DENY_INSECURE], "ecs:ListClusters", "*", &[], A),
        // --- strings
        c("StringEquals any of the values", &[TEAM_EQ], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "api")], A),
        c("StringEquals none of the values", &[TEAM_EQ], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "db")], I),
        c("StringEquals is case-sensitive", &[TEAM_EQ], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "Web")], I),
        c("StringEquals missing key", &[TEAM_EQ], "ecs:ListClusters", "*", &[], I),
        c("StringNotEquals other value", &[TEAM_NE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "db")], A),
        c("StringNotEquals listed value (NOR)", &[TEAM_NE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "api")], I),
        c("StringNotEquals missing key is true", &[TEAM_NE], "ecs:ListClusters", "*", &[], A),
        c("StringEqualsIfExists missing", &[TEAM_NE_IFEXISTS], "ecs:ListClusters", "*", &[], A),
        c("StringEqualsIfExists present match", &[TEAM_NE_IFEXISTS], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "web")], A),
        c("StringEqualsIfExists present mismatch", &[TEAM_NE_IFEXISTS], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "db")], I),
        c("StringEqualsIgnoreCase", &[TEAM_IGNORE_CASE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "web")], A),
        c("StringEqualsIgnoreCase mismatch", &[TEAM_IGNORE_CASE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "webs")], I),
        c("StringNotEqualsIgnoreCase same", &[TEAM_NOT_IGNORE_CASE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "Web")], I),
        c("StringNotEqualsIgnoreCase other", &[TEAM_NOT_IGNORE_CASE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "db")], A),
        c("StringLike ?", &[TEAM_LIKE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "wab")], A),
        c("StringLike *", &[TEAM_LIKE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "api-v2")], A),
        c("StringLike no match", &[TEAM_LIKE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "webb")], I),
        c("StringNotLike match is false", &[TEAM_NOT_LIKE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "web")], I),
        c("StringNotLike no match is true", &[TEAM_NOT_LIKE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "api")], A),
        c("condition key names are case-insensitive", &[KEY_NAME_CASE], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "web")], A),
        c("Null false: present", &[TAG_PRESENT], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "x")], A),
        c("Null false: absent", &[TAG_PRESENT], "ecs:ListClusters", "*", &[], I),
        c("Null true: absent", &[TAG_ABSENT], "ecs:ListClusters", "*", &[], A),
        c("Null true: present", &[TAG_ABSENT], "ecs:ListClusters", "*", &[("aws:PrincipalTag/team", "x")], I),
        c("two keys AND: both", &[TWO_KEYS_AND], "ecs:RunTask", "*", &[("aws:PrincipalTag/team", "web"), ("ecs:cluster", CLUSTER)], A),
        c("two keys AND: one", &[TWO_KEYS_AND], "ecs:RunTask", "*", &[("aws:PrincipalTag/team", "web")], I),
        c("two operators AND: both", &[TWO_OPS_AND], "ecs:RunTask", "*", &[("aws:PrincipalTag/team", "web"), ("aws:SourceIp", "10.0.0.9")], A),
        c("two operators AND: one", &[TWO_OPS_AND], "ecs:RunTask", "*", &[("aws:PrincipalTag/team", "web"), ("aws:SourceIp", "11.0.0.9")], I),
        c("aws:SourceAccount", &[SOURCE_ACCOUNT], "ecs:ListClusters", "*", &[("aws:SourceAccount", ACCT)], A),
        c("aws:SourceAccount other", &[SOURCE_ACCOUNT], "ecs:ListClusters", "*", &[("aws:SourceAccount", "999999999999")], I),
        c("ecs:cluster condition", &[ECS_CLUSTER_COND], "ecs:RunTask", "arn:aws:ecs:us-east-1:111122223333:task-definition/web:1", &[("ecs:cluster", CLUSTER)], A),
        c("ecs:cluster condition other", &[ECS_CLUSTER_COND], "ecs:RunTask", "arn:aws:ecs:us-east-1:111122223333:task-definition/web:1", &[("ecs:cluster", "arn:aws:ecs:us-east-1:111122223333:cluster/dev")], I),
        c("aws:RequestTag", &[REQ_TAG], "ecs:CreateCluster", "*", &[("aws:RequestTag/env", "dev")], A),
        c("aws:RequestTag other", &[REQ_TAG], "ecs:CreateCluster", "*", &[("aws:RequestTag/env", "prod")], I),
        // --- numbers
        c("NumericLessThan", &[NUM_LT], "ecs:RunTask", "*", &[("berth:count", "9")], A),
        c("NumericLessThan equal", &[NUM_LT], "ecs:RunTask", "*", &[("berth:count", "10")], I),
        c("NumericLessThanEquals equal", &[NUM_LE], "ecs:RunTask", "*", &[("berth:count", "10")], A),
        c("NumericLessThanEquals above", &[NUM_LE], "ecs:RunTask", "*", &[("berth:count", "10.5")], I),
        c("NumericGreaterThan float", &[NUM_GT], "ecs:RunTask", "*", &[("berth:count", "2")], A),
        c("NumericGreaterThan below", &[NUM_GT], "ecs:RunTask", "*", &[("berth:count", "1")], I),
        c("NumericGreaterThanEquals", &[NUM_GE], "ecs:RunTask", "*", &[("berth:count", "2")], A),
        c("NumericEquals one of", &[NUM_EQ], "ecs:RunTask", "*", &[("berth:count", "5")], A),
        c("NumericEquals none of", &[NUM_EQ], "ecs:RunTask", "*", &[("berth:count", "4")], I),
        c("NumericNotEquals", &[NUM_NE], "ecs:RunTask", "*", &[("berth:count", "4")], A),
        c("NumericNotEquals same", &[NUM_NE], "ecs:RunTask", "*", &[("berth:count", "3.0")], I),
        c("Numeric not a number", &[NUM_MALFORMED_CTX], "ecs:RunTask", "*", &[("berth:count", "many")], I),
        c("Numeric missing", &[NUM_LT], "ecs:RunTask", "*", &[], I),
        c("NumericLessThanIfExists missing", &[NUM_LT_IFEXISTS], "ecs:RunTask", "*", &[], A),
        c("NumericLessThanIfExists present false", &[NUM_LT_IFEXISTS], "ecs:RunTask", "*", &[("berth:count", "11")], I),
        // --- ARNs
        c("ArnLike", &[ARN_LIKE], "ecs:ListClusters", "*", &[("aws:PrincipalArn", ALICE)], A),
        c("ArnLike other", &[ARN_LIKE], "ecs:ListClusters", "*", &[("aws:PrincipalArn", "arn:aws:iam::111122223333:user/bob")], I),
        c("ArnEquals", &[ARN_EQUALS], "ecs:ListClusters", "*", &[("aws:PrincipalArn", ALICE)], A),
        c("ArnEquals other account", &[ARN_EQUALS], "ecs:ListClusters", "*", &[("aws:PrincipalArn", "arn:aws:iam::999999999999:user/alice")], I),
        c("ArnNotLike deny non-admins", &[ARN_NOT_LIKE], "ecs:ListClusters", "*", &[("aws:PrincipalArn", ALICE)], D),
        c("ArnNotLike spares admins", &[ARN_NOT_LIKE], "ecs:ListClusters", "*", &[("aws:PrincipalArn", "arn:aws:iam::111122223333:user/admin-1")], A),
        // --- set operators
        c("ForAllValues subset", &[FOR_ALL], "ecs:TagResource", "*", &[("aws:TagKeys", "env")], A),
        c("ForAllValues empty set is true", &[FOR_ALL], "ecs:TagResource", "*", &[], A),
        c("ForAnyValue missing is false", &[FOR_ANY], "ecs:TagResource", "*", &[], I),
        c("ForAnyValue one matches", &[FOR_ANY], "ecs:TagResource", "*", &[("aws:TagKeys", "team")], A),
        c("ForAnyValue none match", &[FOR_ANY], "ecs:TagResource", "*", &[("aws:TagKeys", "cost")], I),
        c("ForAnyValue:StringNotEquals", &[FOR_ANY_NOT], "ecs:TagResource", "*", &[("aws:TagKeys", "cost")], A),
        c("ForAnyValue:StringNotEquals only env", &[FOR_ANY_NOT], "ecs:TagResource", "*", &[("aws:TagKeys", "env")], I),
        c("ForAllValues:StringLike", &[FOR_ALL_LIKE], "ecs:TagResource", "*", &[("aws:TagKeys", "team-a")], A),
        c("ForAllValues:StringLike mismatch", &[FOR_ALL_LIKE], "ecs:TagResource", "*", &[("aws:TagKeys", "env")], I),
        c("ForAnyValue IfExists missing", &[FOR_ANY_IFEXISTS], "ecs:TagResource", "*", &[], A),
        // --- PassRole
        c("PassRole denied for admin role", &[DENY_PASSROLE], "iam:PassRole", "arn:aws:iam::111122223333:role/admin", &[], D),
        c("PassRole allowed for another role", &[DENY_PASSROLE], "iam:PassRole", "arn:aws:iam::111122223333:role/app", &[], A),
        c("PassRole to ECS tasks", &[ALLOW_PASSROLE_ECS], "iam:PassRole", "arn:aws:iam::111122223333:role/app", &[("iam:PassedToService", "ecs-tasks.amazonaws.com")], A),
        c("PassRole to another service", &[ALLOW_PASSROLE_ECS], "iam:PassRole", "arn:aws:iam::111122223333:role/app", &[("iam:PassedToService", "lambda.amazonaws.com")], I),
        // --- resource policies (same account)
        r("resource policy alone allows the named user", &[], SECRET_POLICY_ALICE, "secretsmanager:GetSecretValue", SECRET, A),
        r("resource policy other action", &[], SECRET_POLICY_OTHER_ACTION, "secretsmanager:GetSecretValue", SECRET, I),
        r("resource policy naming the account needs an identity allow", &[], SECRET_POLICY_ACCOUNT, "secretsmanager:GetSecretValue", SECRET, I),
        r("resource policy naming the account plus identity allow", &[ALLOW_ALL], SECRET_POLICY_ACCOUNT, "secretsmanager:GetSecretValue", SECRET, A),
        r("resource policy account id form", &[], SECRET_POLICY_ACCOUNT_ID, "secretsmanager:GetSecretValue", SECRET, I),
        r("resource policy deny everyone wins", &[ALLOW_ALL], SECRET_POLICY_DENY_ALL, "secretsmanager:GetSecretValue", SECRET, D),
        r("resource policy deny someone else", &[ALLOW_ALL], SECRET_POLICY_DENY_BOB, "secretsmanager:GetSecretValue", SECRET, A),
        r("NotPrincipal deny spares the named", &[ALLOW_ALL], SECRET_POLICY_NOT_PRINCIPAL, "secretsmanager:GetSecretValue", SECRET, A),
        r("NotPrincipal deny hits the others", &[ALLOW_ALL], SECRET_POLICY_NOT_PRINCIPAL_BOB, "secretsmanager:GetSecretValue", SECRET, D),
        r("resource policy naming a role does not name a user", &[], SECRET_POLICY_ROLE, "secretsmanager:GetSecretValue", SECRET, I),
        r("resource policy condition unmet", &[], SECRET_POLICY_COND, "secretsmanager:GetSecretValue", SECRET, I),
        r("repository policy allows pull", &[], REPO_POLICY, "ecr:BatchGetImage", "arn:aws:ecr:us-east-1:111122223333:repository/app", A),
        r("repository policy not push", &[], REPO_POLICY, "ecr:PutImage", "arn:aws:ecr:us-east-1:111122223333:repository/app", I),
        r("identity deny beats resource allow", &[DENY_DELETE, r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"secretsmanager:*","Resource":"*"}}"#], SECRET_POLICY_ALICE, "secretsmanager:GetSecretValue", SECRET, D),
        // --- resource tags (aws:ResourceTag/<key> and <service>:ResourceTag/<key>, filled from the resource's tags)
        c("ResourceTag equals: blue secret", &[TAG_BLUE], "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/team", "blue")], A),
        c("ResourceTag equals: red secret", &[TAG_BLUE], "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/team", "red")], I),
        c("ResourceTag equals: untagged secret", &[TAG_BLUE], "secretsmanager:GetSecretValue", SECRET, &[], I),
        c("ResourceTag values are case-sensitive", &[TAG_BLUE], "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/team", "Blue")], I),
        c("ResourceTag other key does not count", &[TAG_BLUE], "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/owner", "blue")], I),
        c("ResourceTag key name is case-insensitive", &[TAG_BLUE], "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/TEAM", "blue")], A),
        c("ResourceTag IfExists: untagged", &[TAG_BLUE_IF_EXISTS], "secretsmanager:GetSecretValue", SECRET, &[], A),
        c("ResourceTag IfExists: red", &[TAG_BLUE_IF_EXISTS], "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/team", "red")], I),
        c("service-prefixed ResourceTag", &[TAG_BLUE_SERVICE_KEY], "secretsmanager:GetSecretValue", SECRET, &[("secretsmanager:ResourceTag/team", "blue")], A),
        c("service-prefixed ResourceTag absent", &[TAG_BLUE_SERVICE_KEY], "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/team", "blue")], I),
        c("StringNotEquals ResourceTag: untagged is true", &[TAG_NOT_RED], "ecs:UpdateService", SERVICE, &[], A),
        c("StringNotEquals ResourceTag: red", &[TAG_NOT_RED], "ecs:UpdateService", SERVICE, &[("ecs:ResourceTag/team", "red")], I),
        c("StringNotEquals ResourceTag: blue", &[TAG_NOT_RED], "ecs:UpdateService", SERVICE, &[("ecs:ResourceTag/team", "blue")], A),
        c("Null ResourceTag: untagged", &[TAG_UNTAGGED], "ecs:DescribeClusters", CLUSTER, &[], A),
        c("Null ResourceTag: tagged", &[TAG_UNTAGGED], "ecs:DescribeClusters", CLUSTER, &[("aws:ResourceTag/team", "x")], I),
        c("Deny on prod tag wins", &[ALLOW_ALL, TAG_DENY_PROD], "ecs:DeleteService", SERVICE, &[("aws:ResourceTag/env", "production")], D),
        c("Deny on prod tag spares dev", &[ALLOW_ALL, TAG_DENY_PROD], "ecs:DeleteService", SERVICE, &[("aws:ResourceTag/env", "dev")], A),
        c("Deny on prod tag spares untagged", &[ALLOW_ALL, TAG_DENY_PROD], "ecs:DeleteService", SERVICE, &[], A),
        c("ResourceTag owner is the caller", &[TAG_OWNER_SELF], "ecs:UpdateService", SERVICE, &[("aws:ResourceTag/owner", "alice")], A),
        c("ResourceTag owner is someone else", &[TAG_OWNER_SELF], "ecs:UpdateService", SERVICE, &[("aws:ResourceTag/owner", "bob")], I),
        c("ResourceTag matches PrincipalTag", &[TAG_MATCHES_PRINCIPAL], "ssm:GetParameter", "arn:aws:ssm:us-east-1:111122223333:parameter/a", &[("aws:ResourceTag/team", "blue"), ("aws:PrincipalTag/team", "blue")], A),
        c("ResourceTag differs from PrincipalTag", &[TAG_MATCHES_PRINCIPAL], "ssm:GetParameter", "arn:aws:ssm:us-east-1:111122223333:parameter/a", &[("aws:ResourceTag/team", "red"), ("aws:PrincipalTag/team", "blue")], I),
        rc("resource policy with a ResourceTag condition: blue", &[], SECRET_POLICY_TAG, "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/team", "blue")], A),
        rc("resource policy with a ResourceTag condition: untagged", &[], SECRET_POLICY_TAG, "secretsmanager:GetSecretValue", SECRET, &[], I),
        rc("resource policy deny on a tag beats identity allow", &[ALLOW_ALL], SECRET_POLICY_DENY_RED, "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/team", "red")], D),
        rc("resource policy deny on a tag spares other tags", &[ALLOW_ALL], SECRET_POLICY_DENY_RED, "secretsmanager:GetSecretValue", SECRET, &[("aws:ResourceTag/team", "blue")], A),
        rc("repository ResourceTag through identity", &[TAG_BLUE_IF_EXISTS, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"ecr:ResourceTag/team":"blue"}}}}"#], REPO_POLICY, "ecr:PutImage", REPO, &[("ecr:ResourceTag/team", "blue")], A),
    ]
}

fn run(case: &Case) -> Decision {
    let principal = RequestPrincipal { arn: ALICE.into(), account: ACCT.into(), role_arn: None, service: None };
    let mut context = Context::new();
    context.set("aws:username", "alice").set("aws:userid", "AIDAEXAMPLE");
    for (k, v) in case.context {
        context.set(k, *v);
    }
    let identity: Vec<NamedPolicy> = case
        .identity
        .iter()
        .enumerate()
        .map(|(i, text)| NamedPolicy {
            name: Arc::from(format!("policy{i}")),
            document: Arc::new(
                PolicyDocument::parse(text, PolicyKind::Identity)
                    .unwrap_or_else(|e| panic!("{}: policy {i} does not parse: {e}", case.name)),
            ),
        })
        .collect();
    let resource = case.resource_policy.map(|text| NamedPolicy {
        name: Arc::from("resource"),
        document: Arc::new(
            PolicyDocument::parse(text, PolicyKind::Resource)
                .unwrap_or_else(|e| panic!("{}: resource policy does not parse: {e}", case.name)),
        ),
    });
    let request = Request { principal: &principal, action: case.action, resource: case.resource, context: &context };
    let scanned = evaluate(&request, &identity, resource.as_ref());
    // The indexed evaluation reads fewer statements and must decide the same, naming the same statement.
    let set = PolicySet::new(identity);
    let indexed = evaluate_set(&request, &set, resource.as_ref());
    assert_eq!(indexed, scanned, "{}: the indexed evaluation differs", case.name);
    // Asked again, the statements that apply to the action come from the set's cache: the same decision.
    let cached = evaluate_set(&request, &set, resource.as_ref());
    assert_eq!(cached, scanned, "{}: the cached evaluation differs", case.name);
    scanned
}

#[test]
fn the_per_action_cache_is_bounded_and_decides_alike_past_its_bound() {
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"ecs:Describe*","Resource":"*"},
        {"Effect":"Deny","NotAction":"ecs:*","Resource":"*"}]}"#;
    let set = PolicySet::new(vec![NamedPolicy {
        name: Arc::from("p"),
        document: Arc::new(PolicyDocument::parse(policy, PolicyKind::Identity).unwrap()),
    }]);
    let principal = RequestPrincipal {
        arn: "arn:aws:iam::111122223333:user/u".into(),
        account: "111122223333".into(),
        ..RequestPrincipal::default()
    };
    let context = Context::new();
    let ask = |action: &str| {
        evaluate_set(&Request { principal: &principal, action, resource: "*", context: &context }, &set, None)
    };
    // More distinct actions than the cache holds (an attacker's made-up names), then the usual ones again.
    for n in 0..super::evaluate::ACTIONS_CACHED + 10 {
        assert!(matches!(ask(&format!("s3:Get{n}")), Decision::ExplicitDeny { .. }));
    }
    assert!(ask("ecs:DescribeTasks").allowed(), "an action past the cache's bound is still evaluated");
    assert_eq!(ask("ecs:RunTask"), Decision::ImplicitDeny);
    assert!(set.cached_actions() <= super::evaluate::ACTIONS_CACHED);
}

/// Documents IAM refuses, with the kind they are put as.
#[rustfmt::skip]
const MALFORMED: &[(&str, PolicyKind, &str)] = &[
    ("not json", PolicyKind::Identity, "{"),
    ("an array", PolicyKind::Identity, "[]"),
    ("no statement", PolicyKind::Identity, r#"{"Version":"2012-10-17"}"#),
    ("empty statement list", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":[]}"#),
    ("bad version", PolicyKind::Identity, r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#),
    ("unknown top element", PolicyKind::Identity, r#"{"Version":"2012-10-17","Foo":1,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#),
    ("unknown statement element", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Extra":1}}"#),
    ("bad effect", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"*","Resource":"*"}}"#),
    ("no effect", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Action":"*","Resource":"*"}}"#),
    ("no action", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#),
    ("action and NotAction", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","NotAction":"iam:*","Resource":"*"}}"#),
    ("action without vendor", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"RunTask","Resource":"*"}}"#),
    ("action not a string", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":5,"Resource":"*"}}"#),
    ("empty action list", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#),
    ("no resource in identity policy", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*"}}"#),
    ("principal in identity policy", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#),
    ("resource not an ARN", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"cluster/prod"}}"#),
    ("wildcard service in resource", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:e*:us-east-1:1:x"}}"#),
    ("Resource and NotResource", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}}"#),
    ("unknown condition operator", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringSortOf":{"a:b":"c"}}}}"#),
    ("ForAllValues:Null", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:Null":{"a:b":"true"}}}}"#),
    ("bad date", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}}"#),
    ("bad number", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"a:b":"ten"}}}}"#),
    ("bad cidr", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}"#),
    ("bad bool", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}}"#),
    ("condition value object", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"a:b":{"c":1}}}}}"#),
    ("duplicate sid", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}]}"#),
    ("sid with a dash", PolicyKind::Identity, r#"{"Version":"2012-10-17","Statement":{"Sid":"a-b","Effect":"Allow","Action":"*","Resource":"*"}}"#),
    ("trust policy without principal", PolicyKind::Trust, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#),
    ("trust policy with resource", PolicyKind::Trust, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}}"#),
    ("bad principal type", PolicyKind::Trust, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Robot":"x"},"Action":"sts:AssumeRole"}}"#),
    ("principal not an ARN", PolicyKind::Trust, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"sts:AssumeRole"}}"#),
    ("resource policy without principal", PolicyKind::Resource, r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*"}}"#),
];

#[test]
fn the_evaluation_table() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let decision = run(case);
        let got = match decision {
            Decision::Allow { .. } => A,
            Decision::ExplicitDeny { .. } => D,
            Decision::ImplicitDeny => I,
        };
        if got != case.expect {
            failures.push(format!("{}: expected {:?}, got {decision:?}", case.name, case.expect));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(cases.len() + MALFORMED.len() >= 150, "the table has {} rows", cases.len() + MALFORMED.len());
}

#[test]
fn malformed_documents_are_refused() {
    for (name, kind, text) in MALFORMED {
        assert!(PolicyDocument::parse(text, *kind).is_err(), "{name} was accepted");
    }
}

#[test]
fn well_formed_trust_and_resource_policies_parse() {
    let trust = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":["ecs-tasks.amazonaws.com"],"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}}"#;
    let doc = PolicyDocument::parse(trust, PolicyKind::Trust).expect("parses");
    let ecs = RequestPrincipal { service: Some("ecs-tasks.amazonaws.com".into()), ..Default::default() };
    let ctx = Context::new();
    let req = |p| Request {
        principal: p,
        action: "sts:AssumeRole",
        resource: "arn:aws:iam::111122223333:role/r",
        context: &ctx,
    };
    assert_eq!(evaluate_trust(&doc, &req(&ecs)), Trust::Direct);
    let alice = RequestPrincipal { arn: ALICE.into(), account: ACCT.into(), ..Default::default() };
    assert_eq!(evaluate_trust(&doc, &req(&alice)), Trust::Direct);
    let bob = RequestPrincipal {
        arn: "arn:aws:iam::111122223333:user/bob".into(),
        account: ACCT.into(),
        ..Default::default()
    };
    assert_eq!(evaluate_trust(&doc, &req(&bob)), Trust::Denied);
    let account = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}"#;
    let doc = PolicyDocument::parse(account, PolicyKind::Trust).expect("parses");
    assert_eq!(evaluate_trust(&doc, &req(&bob)), Trust::ThroughAccount);
    assert_eq!(evaluate_trust(&doc, &req(&ecs)), Trust::Denied);
}

#[test]
fn denial_messages_are_aws_words() {
    let d = Decision::ImplicitDeny;
    assert_eq!(
        d.denial_message(ALICE, "ecs:CreateCluster", "arn:aws:ecs:us-east-1:111122223333:cluster/x"),
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: ecs:CreateCluster on resource: \
         arn:aws:ecs:us-east-1:111122223333:cluster/x because no identity-based policy allows the ecs:CreateCluster action"
    );
    let d = Decision::ExplicitDeny { policy: Arc::from("p"), statement: "#1".into(), source: Source::Identity };
    assert!(
        d.denial_message(ALICE, "ecs:DeleteCluster", "*")
            .ends_with("with an explicit deny in an identity-based policy")
    );
}

#[test]
fn policies_that_read_resource_tags_are_known_when_compiled() {
    let named = |text: &str| NamedPolicy {
        name: Arc::from("p"),
        document: Arc::new(PolicyDocument::parse(text, PolicyKind::Identity).unwrap()),
    };
    assert!(PolicySet::new(vec![named(ALLOW_ALL), named(TAG_BLUE)]).uses_resource_tags());
    assert!(PolicySet::new(vec![named(TAG_BLUE_SERVICE_KEY)]).uses_resource_tags());
    assert!(PolicySet::new(vec![named(TAG_MATCHES_PRINCIPAL)]).uses_resource_tags());
    let variable = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:ResourceTag/team}"}}}}"#;
    assert!(PolicySet::new(vec![named(variable)]).uses_resource_tags());
    assert!(
        !PolicySet::new(vec![named(ALLOW_ALL), named(VAR_IN_LIKE.replace("ResourceTag", "RequestTag").as_str())])
            .uses_resource_tags()
    );
    assert!(!PolicySet::new(Vec::new()).uses_resource_tags());
}

#[test]
fn public_statements_are_found() {
    let parse = |text: &str| PolicyDocument::parse(text, PolicyKind::Resource).unwrap();
    let star = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Open","Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    assert_eq!(parse(star).public_statement().as_deref(), Some("Open"));
    let aws_star = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"secretsmanager:*","Resource":"*"}]}"#;
    assert_eq!(parse(aws_star).public_statement().as_deref(), Some("#1"));
    let pinned = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}}]}"#;
    assert_eq!(parse(pinned).public_statement(), None);
    let pinned_to_anyone = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:*","Resource":"*","Condition":{"StringLike":{"aws:PrincipalAccount":"*"}}}]}"#;
    assert!(parse(pinned_to_anyone).public_statement().is_some());
    let negated = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}}]}"#;
    assert!(parse(negated).public_statement().is_some());
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"secretsmanager:*","Resource":"*"}]}"#;
    assert_eq!(parse(deny).public_statement(), None);
    let not_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"secretsmanager:*","Resource":"*"}]}"#;
    assert!(parse(not_principal).public_statement().is_some());
    assert_eq!(parse(SECRET_POLICY_ALICE).public_statement(), None);
    assert_eq!(parse(SECRET_POLICY_ACCOUNT).public_statement(), None);
}
