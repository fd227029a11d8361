//! Account settings on an in-memory store (issue 9, point 1): values each setting accepts, effective values
//! (own, account default, AWS default), paging and filters, and the containerInsights default of new clusters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::{Control, ControlConfig, ControlError, EcsException};
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::sync::Arc;

async fn control() -> Arc<Control> {
    Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), ControlConfig::default()).await.unwrap()
}

fn invalid(result: Result<impl std::fmt::Debug, ControlError>, needle: &str) {
    let error = result.expect_err("expected InvalidParameterException");
    assert_eq!(error.exception(), EcsException::InvalidParameterException, "{error}");
    assert!(error.to_string().contains(needle), "{error} should contain {needle:?}");
}

async fn put(
    control: &Control,
    name: SettingName,
    value: &str,
    principal: Option<&str>,
) -> Result<Setting, ControlError> {
    control
        .put_account_setting(PutAccountSettingRequest {
            name,
            value: value.into(),
            principal_arn: principal.map(str::to_string),
        })
        .await
        .map(|r| r.setting.unwrap())
}

fn effective(control: &Control, name: SettingName, principal: Option<&str>) -> Setting {
    let out = control
        .list_account_settings(ListAccountSettingsRequest {
            name: Some(name),
            principal_arn: principal.map(str::to_string),
            effective_settings: true,
            ..Default::default()
        })
        .unwrap();
    let settings = out.settings.unwrap();
    assert_eq!(settings.len(), 1);
    settings[0].clone()
}

const BOB: &str = "arn:aws:iam::000000000000:role/bob";

#[tokio::test]
async fn values_are_checked_per_setting() {
    let c = control().await;
    for (name, good, bad) in [
        (SettingName::ContainerInsights, "enhanced", "on"),
        (SettingName::AwsvpcTrunking, "enabled", "enhanced"),
        (SettingName::FargateTaskRetirementWaitPeriod, "14", "3"),
        (SettingName::DefaultLogDriverMode, "non-blocking", "enabled"),
        (SettingName::TagResourceAuthorization, "on", "maybe"),
        (SettingName::FargateFIPSMode, "disabled", "0"),
    ] {
        put(&c, name, good, None).await.unwrap();
        invalid(put(&c, name, bad, None).await, "Invalid value");
    }
    for name in
        [SettingName::ServiceLongArnFormat, SettingName::TaskLongArnFormat, SettingName::ContainerInstanceLongArnFormat]
    {
        put(&c, name, "enabled", None).await.unwrap();
        invalid(put(&c, name, "disabled", None).await, "only the long ARN format");
    }
    invalid(put(&c, SettingName::GuardDutyActivate, "on", None).await, "read-only");
    invalid(put(&c, SettingName::FargateTaskRetirementWaitPeriod, "0", Some(BOB)).await, "root user");
    invalid(
        put(&c, SettingName::AwsvpcTrunking, "enabled", Some("arn:aws:iam::111111111111:user/x")).await,
        "principalArn",
    );
    invalid(put(&c, SettingName::AwsvpcTrunking, "enabled", Some("bob")).await, "principalArn");
}

#[tokio::test]
async fn effective_values_fall_back_from_principal_to_default_to_aws() {
    let c = control().await;
    let s = effective(&c, SettingName::AwsvpcTrunking, Some(BOB));
    assert_eq!(s.value.as_deref(), Some("disabled"));
    assert_eq!(s.r#type, Some(SettingType::AwsManaged));
    assert_eq!(s.principal_arn.as_deref(), Some(BOB));

    c.put_account_setting_default(PutAccountSettingDefaultRequest {
        name: SettingName::AwsvpcTrunking,
        value: "enabled".into(),
    })
    .await
    .unwrap();
    let s = effective(&c, SettingName::AwsvpcTrunking, Some(BOB));
    assert_eq!((s.value.as_deref(), s.r#type), (Some("enabled"), Some(SettingType::User)));

    put(&c, SettingName::AwsvpcTrunking, "disabled", Some(BOB)).await.unwrap();
    assert_eq!(effective(&c, SettingName::AwsvpcTrunking, Some(BOB)).value.as_deref(), Some("disabled"));
    assert_eq!(effective(&c, SettingName::AwsvpcTrunking, None).value.as_deref(), Some("enabled"));

    let deleted = c
        .delete_account_setting(DeleteAccountSettingRequest {
            name: SettingName::AwsvpcTrunking,
            principal_arn: Some(BOB.into()),
        })
        .await
        .unwrap();
    assert_eq!(deleted.setting.unwrap().value.as_deref(), Some("disabled"));
    assert_eq!(effective(&c, SettingName::AwsvpcTrunking, Some(BOB)).value.as_deref(), Some("enabled"));
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let c = control().await;
    // Without effectiveSettings only explicit settings are listed.
    let own = c.list_account_settings(ListAccountSettingsRequest::default()).unwrap();
    assert!(own.settings.unwrap().is_empty());
    put(&c, SettingName::ContainerInsights, "enabled", None).await.unwrap();
    let own = c.list_account_settings(ListAccountSettingsRequest::default()).unwrap();
    assert_eq!(own.settings.unwrap().len(), 1);

    // Every setting, three at a time, once each.
    let mut token = None;
    let mut names = Vec::new();
    loop {
        let page = c
            .list_account_settings(ListAccountSettingsRequest {
                effective_settings: true,
                max_results: 3,
                next_token: token.clone(),
                ..Default::default()
            })
            .unwrap();
        let items = page.settings.unwrap();
        assert!(items.len() <= 3);
        names.extend(items.into_iter().map(|s| s.name.unwrap()));
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(names.len(), SettingName::VALUES.len());

    // value filters (needs name); maxResults is 1..=10.
    let hit = c
        .list_account_settings(ListAccountSettingsRequest {
            name: Some(SettingName::ContainerInsights),
            value: Some("enabled".into()),
            effective_settings: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hit.settings.unwrap().len(), 1);
    invalid(
        c.list_account_settings(ListAccountSettingsRequest { value: Some("enabled".into()), ..Default::default() }),
        "name",
    );
    invalid(
        c.list_account_settings(ListAccountSettingsRequest { max_results: 11, ..Default::default() }),
        "maxResults",
    );
}

#[tokio::test]
async fn new_clusters_take_container_insights_from_the_account() {
    let c = control().await;
    let insights = |cluster: &Cluster| {
        cluster
            .settings
            .clone()
            .unwrap()
            .into_iter()
            .find(|s| s.name == Some(ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value)
    };
    let create = |name: &str, settings: Option<Vec<ClusterSetting>>| CreateClusterRequest {
        cluster_name: Some(name.into()),
        settings,
        ..Default::default()
    };
    let before = c.create_cluster(create("before", None)).await.unwrap().cluster.unwrap();
    assert_eq!(insights(&before).as_deref(), Some("disabled"));
    c.put_account_setting_default(PutAccountSettingDefaultRequest {
        name: SettingName::ContainerInsights,
        value: "enhanced".into(),
    })
    .await
    .unwrap();
    let after = c.create_cluster(create("after", None)).await.unwrap().cluster.unwrap();
    assert_eq!(insights(&after).as_deref(), Some("enhanced"));
    let explicit = c
        .create_cluster(create(
            "explicit",
            Some(vec![ClusterSetting {
                name: Some(ClusterSettingName::ContainerInsights),
                value: Some("disabled".into()),
            }]),
        ))
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(insights(&explicit).as_deref(), Some("disabled"), "an explicit setting wins");
}
