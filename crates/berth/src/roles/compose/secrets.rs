//! A project's secrets and configs in Berth's value stores: a secret is the Secrets Manager secret
//! `compose/PROJECT/NAME`, a config the SSM parameter `/compose/PROJECT/NAME`, each written from the file, variable
//! or content the compose file names (an external one looked up); removed again by `down`.

use super::api::Api;
use anyhow::{Context, bail};
use berth_compose::Project;
use berth_compose::secrets::{Kind, Secret, SecretSource};
use serde_json::json;
use std::collections::BTreeMap;

/// The top-level secrets and configs some service uses, with their compose names.
fn used(project: &Project) -> Vec<(&String, &Secret)> {
    let uses: Vec<_> = project.services.iter().flat_map(|s| &s.secrets).collect();
    project
        .secrets
        .iter()
        .chain(&project.configs)
        .filter(|(name, def)| uses.iter().any(|u| &u.source == *name && u.kind == def.kind))
        .collect()
}

/// Writes each used secret's and config's value; returns their ARNs by store name.
pub async fn store(api: &Api, project: &Project) -> anyhow::Result<BTreeMap<String, String>> {
    let mut arns = BTreeMap::new();
    for (name, definition) in used(project) {
        let key = format!("{}.{name}", definition.kind.key());
        let id = definition.store_name(&project.name, name);
        let value = match &definition.source {
            SecretSource::File(path) => {
                std::fs::read_to_string(path).with_context(|| format!("{key}: reading {}", path.display()))?
            }
            SecretSource::Environment(variable) => {
                std::env::var(variable).with_context(|| format!("{key}: the variable {variable} is not set"))?
            }
            SecretSource::Content(content) => content.clone(),
            SecretSource::External(_) => {
                let arn = match definition.kind {
                    Kind::Secret => {
                        api.secrets("DescribeSecret", json!({"SecretId": id})).await.map(|d| d["ARN"].clone())
                    }
                    Kind::Config => {
                        api.ssm("GetParameter", json!({"Name": id})).await.map(|d| d["Parameter"]["ARN"].clone())
                    }
                };
                let arn = arn.with_context(|| format!("{key}: the external {id}"))?;
                arns.insert(id.clone(), arn.as_str().unwrap_or(&id).to_string());
                continue;
            }
        };
        let arn = match definition.kind {
            Kind::Secret => write_secret(api, project, &id, &value).await,
            Kind::Config => write_parameter(api, &id, &value).await,
        };
        let arn = arn.with_context(|| format!("{key}: writing {id}"))?;
        println!("{key}: stored as {id}");
        arns.insert(id, arn);
    }
    Ok(arns)
}

/// Creates the secret, or gives it a new value; its ARN.
async fn write_secret(api: &Api, project: &Project, id: &str, value: &str) -> anyhow::Result<String> {
    let tags = json!([{"Key": berth_compose::translate::PROJECT_TAG, "Value": project.name}]);
    let created = api.secrets("CreateSecret", json!({"Name": id, "SecretString": value, "Tags": tags})).await;
    let answer = match created {
        Ok(answer) => answer,
        Err(error) if error.to_string().starts_with("ResourceExistsException") => {
            api.secrets("PutSecretValue", json!({"SecretId": id, "SecretString": value})).await?
        }
        Err(error) => return Err(error),
    };
    answer["ARN"].as_str().map(String::from).context("the answer named no ARN")
}

/// Writes the parameter (a `String`, overwritten); its ARN.
async fn write_parameter(api: &Api, id: &str, value: &str) -> anyhow::Result<String> {
    api.ssm("PutParameter", json!({"Name": id, "Value": value, "Type": "String", "Overwrite": true})).await?;
    let answer = api.ssm("GetParameter", json!({"Name": id})).await?;
    answer["Parameter"]["ARN"].as_str().map(String::from).context("the answer named no ARN")
}

/// Refuses a project whose services read secrets or configs when no execution role is given (the role reads them).
pub fn check_role(project: &Project, role: Option<&str>) -> anyhow::Result<()> {
    if role.is_none()
        && let Some(service) = project.services.iter().find(|s| !s.secrets.is_empty())
    {
        bail!(
            "services.{}: a task reads its secrets and configs with its execution role: pass --execution-role-arn \
             with a role that ecs-tasks.amazonaws.com may assume and that may secretsmanager:GetSecretValue and \
             ssm:GetParameters",
            service.name
        );
    }
    Ok(())
}

/// Deletes the secrets and parameters `up` wrote (not external ones); a secret without a recovery window.
pub async fn remove(api: &Api, project: &Project) -> anyhow::Result<()> {
    for (name, definition) in used(project) {
        if matches!(definition.source, SecretSource::External(_)) {
            continue;
        }
        let id = definition.store_name(&project.name, name);
        let deleted = match definition.kind {
            Kind::Secret => {
                api.secrets("DeleteSecret", json!({"SecretId": id, "ForceDeleteWithoutRecovery": true})).await
            }
            Kind::Config => api.ssm("DeleteParameter", json!({"Name": id})).await,
        };
        match deleted {
            Ok(_) => println!("{}.{name}: deleted {id}", definition.kind.key()),
            Err(error) if error.to_string().contains("NotFound") => {}
            Err(error) => return Err(error.context(format!("deleting {id}"))),
        }
    }
    Ok(())
}
