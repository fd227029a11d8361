//! Account settings through the AWS SDK and the aws CLI against a real `berth up` (issue 9, point 1):
//! PutAccountSetting / PutAccountSettingDefault / ListAccountSettings / DeleteAccountSetting, effective values, the
//! errors ECS gives, the containerInsights default of new clusters, and survival across a server restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{ClusterSettingName, Setting, SettingName, SettingType};
use common::*;
use std::process::Command;

/// An IAM user ARN of the Berth's account (the account id is read from a cluster ARN).
async fn alice(client: &aws_sdk_ecs::Client) -> String {
    let out = client.describe_clusters().clusters("default").send().await.unwrap();
    let arn = out.clusters()[0].cluster_arn().unwrap().to_string();
    let account = arn.split(':').nth(4).unwrap();
    format!("arn:aws:iam::{account}:user/alice")
}

async fn effective(client: &aws_sdk_ecs::Client, name: SettingName, principal: Option<&str>) -> Setting {
    let out = client
        .list_account_settings()
        .name(name)
        .set_principal_arn(principal.map(str::to_string))
        .effective_settings(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.settings().len(), 1, "{out:?}");
    out.settings()[0].clone()
}

async fn insights_of_new_cluster(client: &aws_sdk_ecs::Client, name: &str) -> Option<String> {
    let cluster = client.create_cluster().cluster_name(name).send().await.unwrap().cluster.unwrap();
    cluster
        .settings()
        .iter()
        .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
        .and_then(|s| s.value().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_settings_work_as_in_ecs_and_survive_a_restart() {
    let (mut berth, client) = berth_up().await;
    let alice = alice(&client).await;
    let alice = alice.as_str();

    // Nothing set: effective values are AWS's defaults, shown as aws_managed; the principal's own list is empty.
    let s = effective(&client, SettingName::ContainerInsights, None).await;
    assert_eq!((s.value(), s.r#type()), (Some("disabled"), Some(&SettingType::AwsManaged)));
    let s = effective(&client, SettingName::TaskLongArnFormat, None).await;
    assert_eq!(s.value(), Some("enabled"));
    let own = client.list_account_settings().send().await.unwrap();
    assert!(own.settings().is_empty(), "{own:?}");
    let all = client.list_account_settings().effective_settings(true).max_results(10).send().await.unwrap();
    assert_eq!(all.settings().len(), 10, "a full first page");
    let rest = client
        .list_account_settings()
        .effective_settings(true)
        .max_results(10)
        .next_token(all.next_token().expect("a second page"))
        .send()
        .await
        .unwrap();
    assert_eq!(all.settings().len() + rest.settings().len(), SettingName::values().len());
    assert!(rest.next_token().is_none());

    // The account default, then a principal's own value overriding it.
    let put = client
        .put_account_setting_default()
        .name(SettingName::ContainerInsights)
        .value("enabled")
        .send()
        .await
        .unwrap();
    assert_eq!(put.setting().unwrap().value(), Some("enabled"));
    let put = client
        .put_account_setting()
        .name(SettingName::ContainerInsights)
        .value("enhanced")
        .principal_arn(alice)
        .send()
        .await
        .unwrap();
    assert_eq!(put.setting().unwrap().principal_arn(), Some(alice));
    let listed = client.list_account_settings().principal_arn(alice).send().await.unwrap();
    assert_eq!(listed.settings().len(), 1);
    assert_eq!(listed.settings()[0].value(), Some("enhanced"));
    assert_eq!(listed.settings()[0].r#type(), Some(&SettingType::User));
    let s = effective(&client, SettingName::ContainerInsights, Some(alice)).await;
    assert_eq!((s.value(), s.r#type()), (Some("enhanced"), Some(&SettingType::User)));
    let s = effective(&client, SettingName::ContainerInsights, None).await;
    assert_eq!(s.value(), Some("enabled"), "the root user sees the account default");
    // Filters: name + value.
    let filtered = client
        .list_account_settings()
        .name(SettingName::ContainerInsights)
        .value("disabled")
        .effective_settings(true)
        .send()
        .await
        .unwrap();
    assert!(filtered.settings().is_empty());

    // Stored settings accepted: awsvpcTrunking, tagResourceAuthorization.
    client.put_account_setting().name(SettingName::AwsvpcTrunking).value("enabled").send().await.unwrap();
    client.put_account_setting().name(SettingName::TagResourceAuthorization).value("off").send().await.unwrap();

    // A new cluster gets containerInsights from the account default; an explicit setting wins.
    assert_eq!(insights_of_new_cluster(&client, "acct-insights").await.as_deref(), Some("enabled"));

    // Delete: alice falls back to the account default.
    client.delete_account_setting().name(SettingName::ContainerInsights).principal_arn(alice).send().await.unwrap();
    let s = effective(&client, SettingName::ContainerInsights, Some(alice)).await;
    assert_eq!(s.value(), Some("enabled"), "back to the account default");

    // Errors as ECS gives them.
    assert_error(
        client.list_account_settings().name(SettingName::from("noSuchSetting")).send().await,
        "InvalidParameterException",
        "noSuchSetting",
    );
    assert_error(
        client.put_account_setting().name(SettingName::from("noSuchSetting")).value("enabled").send().await,
        "InvalidParameterException",
        "noSuchSetting",
    );
    assert_error(
        client.put_account_setting().name(SettingName::ContainerInsights).value("maybe").send().await,
        "InvalidParameterException",
        "enhanced",
    );
    assert_error(
        client.put_account_setting_default().name(SettingName::FargateTaskRetirementWaitPeriod).value("3").send().await,
        "InvalidParameterException",
        "0, 7, 14",
    );
    assert_error(
        client.put_account_setting().name(SettingName::ServiceLongArnFormat).value("disabled").send().await,
        "InvalidParameterException",
        "only the long ARN format",
    );
    assert_error(
        client.put_account_setting().name(SettingName::GuardDutyActivate).value("on").send().await,
        "InvalidParameterException",
        "read-only",
    );
    assert_error(client.list_account_settings().value("enabled").send().await, "InvalidParameterException", "name");

    // Everything survives a restart of the server.
    berth.restart().unwrap();
    let client = ecs_client(&berth);
    let s = effective(&client, SettingName::ContainerInsights, Some(alice)).await;
    assert_eq!((s.value(), s.r#type()), (Some("enabled"), Some(&SettingType::User)));
    let s = effective(&client, SettingName::AwsvpcTrunking, None).await;
    assert_eq!(s.value(), Some("enabled"));
    let s = effective(&client, SettingName::TagResourceAuthorization, None).await;
    assert_eq!(s.value(), Some("off"));
    assert_eq!(insights_of_new_cluster(&client, "acct-after-restart").await.as_deref(), Some("enabled"));

    // The aws CLI path: list-account-settings --effective-settings.
    let env = [
        ("AWS_ENDPOINT_URL", berth.url()),
        ("AWS_ACCESS_KEY_ID", berth.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", berth.secret_access_key.clone()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
    ];
    let output = Command::new("aws")
        .args(["ecs", "list-account-settings", "--effective-settings", "--name", "containerInsights"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .output()
        .expect("the aws CLI is installed (pip install awscli); this test needs it");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["settings"][0]["name"], "containerInsights");
    assert_eq!(json["settings"][0]["value"], "enabled");
}
