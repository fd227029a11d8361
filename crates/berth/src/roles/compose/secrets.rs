//! A project's secrets in Berth's Secrets Manager: `compose/PROJECT/NAME` created (or given a new value) from the
//! file or variable the compose file names, an external one looked up; removed again by `down`.

use super::api::Api;
use anyhow::{Context, bail};
use berth_compose::Project;
use berth_compose::secrets::SecretSource;
use serde_json::json;
use std::collections::BTreeMap;

/// The top-level secrets some service uses.
fn used(project: &Project) -> impl Iterator<Item = (&String, &berth_compose::secrets::Secret)> {
    project
        .secrets
        .iter()
        .filter(|(name, _)| project.services.iter().any(|s| s.secrets.iter().any(|u| &u.source == *name)))
}

/// Stores each used secret's value; returns every used secret's ARN by its compose name.
pub async fn store(api: &Api, project: &Project) -> anyhow::Result<BTreeMap<String, String>> {
    let mut arns = BTreeMap::new();
    for (name, secret) in used(project) {
        let id = secret.secrets_manager_name(&project.name, name);
        let value = match &secret.source {
            SecretSource::File(path) => {
                std::fs::read_to_string(path).with_context(|| format!("secrets.{name}: reading {}", path.display()))?
            }
            SecretSource::Environment(variable) => std::env::var(variable)
                .with_context(|| format!("secrets.{name}: the variable {variable} is not set"))?,
            SecretSource::External(_) => {
                let described = api.secrets("DescribeSecret", json!({"SecretId": id})).await;
                let described = described.with_context(|| format!("secrets.{name}: the external secret {id}"))?;
                let arn = described["ARN"].as_str().context("DescribeSecret named no ARN")?;
                arns.insert(name.clone(), arn.to_string());
                continue;
            }
        };
        let tags = json!([{"Key": berth_compose::translate::PROJECT_TAG, "Value": project.name}]);
        let created = api.secrets("CreateSecret", json!({"Name": id, "SecretString": value, "Tags": tags})).await;
        let answer = match created {
            Ok(answer) => answer,
            Err(error) if error.to_string().starts_with("ResourceExistsException") => api
                .secrets("PutSecretValue", json!({"SecretId": id, "SecretString": value}))
                .await
                .with_context(|| format!("secrets.{name}: updating {id}"))?,
            Err(error) => return Err(error.context(format!("secrets.{name}: creating {id}"))),
        };
        let arn = answer["ARN"].as_str().context("the answer named no ARN")?;
        println!("secret {name}: stored as {id}");
        arns.insert(name.clone(), arn.to_string());
    }
    Ok(arns)
}

/// Refuses a project whose services read secrets when no execution role is given (the role reads them).
pub fn check_role(project: &Project, role: Option<&str>) -> anyhow::Result<()> {
    if role.is_none()
        && let Some(service) = project.services.iter().find(|s| !s.secrets.is_empty())
    {
        bail!(
            "services.{}.secrets: a task reads its secrets with its execution role: pass --execution-role-arn with a \
             role that ecs-tasks.amazonaws.com may assume and that may secretsmanager:GetSecretValue",
            service.name
        );
    }
    Ok(())
}

/// Deletes the secrets `up` created (not external ones), without a recovery window.
pub async fn remove(api: &Api, project: &Project) -> anyhow::Result<()> {
    for (name, secret) in used(project) {
        if matches!(secret.source, SecretSource::External(_)) {
            continue;
        }
        let id = secret.secrets_manager_name(&project.name, name);
        match api.secrets("DeleteSecret", json!({"SecretId": id, "ForceDeleteWithoutRecovery": true})).await {
            Ok(_) => println!("secret {name}: deleted {id}"),
            Err(error) if error.to_string().starts_with("ResourceNotFoundException") => {}
            Err(error) => return Err(error.context(format!("deleting the secret {id}"))),
        }
    }
    Ok(())
}
