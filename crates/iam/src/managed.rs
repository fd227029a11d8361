//! AWS managed policies that ECS users attach, built in and read-only under `arn:aws:iam::aws:policy/...`. Their
//! documents are Berth's own, granting the equivalent Berth actions (not AWS's text).

/// One built-in managed policy.
#[derive(Debug, Clone, Copy)]
pub struct ManagedPolicy {
    /// Its name.
    pub name: &'static str,
    /// Its path.
    pub path: &'static str,
    /// Its description.
    pub description: &'static str,
    /// Its document.
    pub document: &'static str,
}

impl ManagedPolicy {
    /// Its ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::aws:policy{}{}", self.path, self.name)
    }

    /// A stable id (`ANPA` and the name's hash).
    pub fn id(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.name.as_bytes());
        let mut id = String::from("ANPA");
        id.extend(digest.iter().take(16).map(|b| char::from(b'A' + b % 26)));
        id
    }
}

const TASK_EXECUTION: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"PullImagesAndShipLogs","Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#;

const REGISTRY_READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadRepositories","Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:Describe*","ecr:List*","ecr:GetRepositoryPolicy","ecr:GetLifecyclePolicy","ecr:GetLifecyclePolicyPreview"],"Resource":"*"}]}"#;

const ECS_FULL: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Orchestration","Effect":"Allow","Action":["ecs:*","elasticloadbalancing:*","application-autoscaling:*","cloudwatch:*","logs:*","servicediscovery:*","ecr:Describe*","ecr:List*","iam:ListRoles","iam:GetRole","iam:ListAttachedRolePolicies"],"Resource":"*"},{"Sid":"PassRolesToTasks","Effect":"Allow","Action":"iam:PassRole","Resource":"*","Condition":{"StringLike":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}}]}"#;

const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadEverything","Effect":"Allow","Action":["ecs:Describe*","ecs:List*","ecr:Describe*","ecr:List*","ecr:Get*","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability","logs:Describe*","logs:Get*","logs:FilterLogEvents","logs:List*","cloudwatch:Describe*","cloudwatch:Get*","cloudwatch:List*","application-autoscaling:Describe*","elasticloadbalancing:Describe*","servicediscovery:Get*","servicediscovery:List*","servicediscovery:DiscoverInstances","secretsmanager:DescribeSecret","secretsmanager:List*","ssm:DescribeParameters","ssm:ListTagsForResource","kms:Describe*","kms:List*","iam:Get*","iam:List*","sts:GetCallerIdentity"],"Resource":"*"}]}"#;

const ADMINISTRATOR: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

const SECRETS_READ_WRITE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Secrets","Effect":"Allow","Action":["secretsmanager:*","kms:DescribeKey","kms:ListKeys","kms:ListAliases","kms:Decrypt","kms:GenerateDataKey"],"Resource":"*"}]}"#;

const LOGS_FULL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Sid":"Logs","Effect":"Allow","Action":["logs:*"],"Resource":"*"}]}"#;

/// Every built-in managed policy.
pub const MANAGED: &[ManagedPolicy] = &[
    ManagedPolicy {
        name: "AmazonECSTaskExecutionRolePolicy",
        path: "/service-role/",
        description: "Lets ECS tasks pull images from ECR and write their logs to CloudWatch Logs.",
        document: TASK_EXECUTION,
    },
    ManagedPolicy {
        name: "AmazonEC2ContainerRegistryReadOnly",
        path: "/",
        description: "Read-only access to ECR repositories and images.",
        document: REGISTRY_READ_ONLY,
    },
    ManagedPolicy {
        name: "AmazonECS_FullAccess",
        path: "/",
        description: "Full access to ECS and the services it drives, and passing roles to tasks.",
        document: ECS_FULL,
    },
    ManagedPolicy {
        name: "ReadOnlyAccess",
        path: "/",
        description: "Read-only access to Berth's APIs (secret values excluded).",
        document: READ_ONLY,
    },
    ManagedPolicy {
        name: "AdministratorAccess",
        path: "/",
        description: "Full access to every API.",
        document: ADMINISTRATOR,
    },
    ManagedPolicy {
        name: "SecretsManagerReadWrite",
        path: "/",
        description: "Full access to Secrets Manager and the KMS calls it needs.",
        document: SECRETS_READ_WRITE,
    },
    ManagedPolicy {
        name: "CloudWatchLogsFullAccess",
        path: "/",
        description: "Full access to CloudWatch Logs.",
        document: LOGS_FULL,
    },
];

/// The built-in managed policy with this ARN.
pub fn by_arn(arn: &str) -> Option<&'static ManagedPolicy> {
    MANAGED.iter().find(|p| p.arn() == arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicyDocument, PolicyKind};

    #[test]
    fn every_managed_policy_parses_and_has_a_stable_arn() {
        for p in MANAGED {
            assert!(PolicyDocument::parse(p.document, PolicyKind::Identity).is_ok(), "{}", p.name);
            assert_eq!(by_arn(&p.arn()).map(|m| m.name), Some(p.name));
        }
        assert_eq!(MANAGED[0].arn(), "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy");
    }
}
