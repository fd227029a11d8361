//! Account settings: PutAccountSetting, PutAccountSettingDefault, ListAccountSettings, DeleteAccountSetting.
//!
//! A setting is stored per principal under `/ecs/accountsettings/<name>/<principal ARN>`; the account default is
//! the root user's setting (as in ECS, where PutAccountSettingDefault sets it for every principal without its
//! own). The value in effect for a principal is its own, else the account default, else AWS's default (shown with
//! type `aws_managed`). Berth has no per-user identities in the control plane: a request without `principalArn`
//! acts for the account's root user.
//!
//! Berth only has long ARNs, so `serviceLongArnFormat`, `taskLongArnFormat` and `containerInstanceLongArnFormat`
//! refuse `disabled` (ECS itself stopped accepting the opt-out in 2021). `containerInsights` is the default of
//! new clusters; `guardDutyActivate` is read-only (AWS-managed) as in ECS.

use crate::optimistic::Attempt;
use crate::paging::{page_size, paginate};
use crate::records::{AccountSettingRecord, keys};
use crate::{Control, ControlError, Result, encode};
use berth_model::ecs::{
    DeleteAccountSettingRequest, DeleteAccountSettingResponse, ListAccountSettingsRequest, ListAccountSettingsResponse,
    PutAccountSettingDefaultRequest, PutAccountSettingDefaultResponse, PutAccountSettingRequest,
    PutAccountSettingResponse, Setting, SettingName, SettingType,
};
use berth_store::Txn;

/// ECS's page size bound for ListAccountSettings (1..=10, default 10).
const MAX_PAGE: usize = 10;

/// The values a setting accepts, and AWS's default.
fn allowed(name: SettingName) -> (&'static [&'static str], &'static str) {
    const ON_OFF: &[&str] = &["enabled", "disabled"];
    match name {
        SettingName::ServiceLongArnFormat
        | SettingName::TaskLongArnFormat
        | SettingName::ContainerInstanceLongArnFormat => (ON_OFF, "enabled"),
        SettingName::AwsvpcTrunking | SettingName::FargateFIPSMode | SettingName::FargateEventWindows => {
            (ON_OFF, "disabled")
        }
        SettingName::ContainerInsights => (&["enabled", "disabled", "enhanced"], "disabled"),
        SettingName::TagResourceAuthorization => (&["on", "off"], "on"),
        SettingName::FargateTaskRetirementWaitPeriod => (&["0", "7", "14"], "7"),
        SettingName::GuardDutyActivate => (&["on", "off"], "off"),
        SettingName::DefaultLogDriverMode => (&["blocking", "non-blocking"], "non-blocking"),
    }
}

/// AWS's default value of a setting (what an account that never set it has).
fn aws_default(name: SettingName) -> &'static str {
    allowed(name).1
}

fn is_long_arn_format(name: SettingName) -> bool {
    matches!(
        name,
        SettingName::ServiceLongArnFormat
            | SettingName::TaskLongArnFormat
            | SettingName::ContainerInstanceLongArnFormat
    )
}

/// Checks a value for a setting; ECS's InvalidParameterException otherwise.
fn validate_value(name: SettingName, value: &str) -> Result<()> {
    if name == SettingName::GuardDutyActivate {
        return Err(ControlError::invalid("guardDutyActivate is an AWS-managed account setting and is read-only."));
    }
    let (values, _) = allowed(name);
    if !values.contains(&value) {
        return Err(ControlError::invalid(format!(
            "Invalid value {value:?} for account setting {name}: use {}.",
            values.join(", ")
        )));
    }
    if is_long_arn_format(name) && value == "disabled" {
        // ECS's own answer since April 2021, then why: Berth never had the short format.
        return Err(ControlError::invalid(format!(
            "You can no longer disable Long Arn settings ({name}): Berth supports only the long ARN format."
        )));
    }
    Ok(())
}

impl Control {
    /// The account's root user, `arn:aws:iam::<account>:root`: the principal of the account default.
    pub fn root_principal(&self) -> String {
        format!("arn:aws:iam::{}:root", self.config.account_id)
    }

    /// The principal a request names (the root user when absent), checked to be an IAM principal of this account.
    fn principal(&self, principal_arn: Option<&str>) -> Result<String> {
        let Some(arn) = principal_arn.map(str::trim).filter(|a| !a.is_empty()) else {
            return Ok(self.root_principal());
        };
        let prefix = format!("arn:aws:iam::{}:", self.config.account_id);
        let rest = arn.strip_prefix(&prefix).ok_or_else(|| {
            ControlError::invalid(format!(
                "principalArn {arn:?} is not a user, role or root user ARN of account {}.",
                self.config.account_id
            ))
        })?;
        let printable = arn.bytes().all(|b| (0x21..0x7f).contains(&b));
        let shaped = rest == "root"
            || rest.strip_prefix("user/").or_else(|| rest.strip_prefix("role/")).is_some_and(|n| !n.is_empty());
        if !printable || !shaped || arn.len() > 2048 {
            return Err(ControlError::invalid(format!(
                "principalArn {arn:?} is not a user, role or root user ARN of account {}.",
                self.config.account_id
            )));
        }
        Ok(arn.to_string())
    }

    /// The setting in effect for a principal: its own, else the account default, else AWS's default.
    pub fn effective_account_setting(&self, name: SettingName, principal_arn: &str) -> Setting {
        let state = self.cache.read();
        let root = self.root_principal();
        for p in [principal_arn, root.as_str()] {
            if let Some(v) = state.account_settings.get(&(name.as_str().to_string(), p.to_string())) {
                let mut s = v.record.setting.clone();
                s.principal_arn = Some(principal_arn.to_string());
                return s;
            }
        }
        Setting {
            name: Some(name),
            value: Some(aws_default(name).to_string()),
            principal_arn: Some(principal_arn.to_string()),
            r#type: Some(SettingType::AwsManaged),
        }
    }

    async fn write_account_setting(&self, name: SettingName, value: &str, principal: &str) -> Result<Setting> {
        validate_value(name, value)?;
        if name == SettingName::FargateTaskRetirementWaitPeriod && principal != self.root_principal() {
            return Err(ControlError::invalid("fargateTaskRetirementWaitPeriod can only be set for the root user."));
        }
        let setting = Setting {
            name: Some(name),
            value: Some(value.to_string()),
            principal_arn: Some(principal.to_string()),
            r#type: Some(SettingType::User),
        };
        let key = keys::account_setting(name.as_str(), principal);
        let record = AccountSettingRecord { setting: setting.clone() };
        let setting_key = (name.as_str().to_string(), principal.to_string());
        self.write("putting an account setting", |state, _| {
            let revision = state.account_settings.get(&setting_key).map(|v| v.mod_revision).unwrap_or(0);
            let txn = Txn::new().expect(key.clone(), revision).put(key.clone(), encode(&record)?);
            Ok(Attempt::Commit(txn, setting.clone()))
        })
        .await
    }

    /// `PutAccountSetting`: sets a setting for a principal (the root user when `principalArn` is absent).
    pub async fn put_account_setting(&self, req: PutAccountSettingRequest) -> Result<PutAccountSettingResponse> {
        let principal = self.principal(req.principal_arn.as_deref())?;
        let setting = self.write_account_setting(req.name, req.value.trim(), &principal).await?;
        Ok(PutAccountSettingResponse { setting: Some(setting) })
    }

    /// `PutAccountSettingDefault`: sets the account default (the root user's setting).
    pub async fn put_account_setting_default(
        &self,
        req: PutAccountSettingDefaultRequest,
    ) -> Result<PutAccountSettingDefaultResponse> {
        let root = self.root_principal();
        let setting = self.write_account_setting(req.name, req.value.trim(), &root).await?;
        Ok(PutAccountSettingDefaultResponse { setting: Some(setting) })
    }

    /// `DeleteAccountSetting`: removes a principal's own setting; the principal falls back to the account default.
    /// Returns the deleted setting (absent when there was none, as ECS answers success either way).
    pub async fn delete_account_setting(
        &self,
        req: DeleteAccountSettingRequest,
    ) -> Result<DeleteAccountSettingResponse> {
        let principal = self.principal(req.principal_arn.as_deref())?;
        let name = req.name;
        if name == SettingName::GuardDutyActivate {
            return Err(ControlError::invalid("guardDutyActivate is an AWS-managed account setting and is read-only."));
        }
        let key = keys::account_setting(name.as_str(), &principal);
        let setting_key = (name.as_str().to_string(), principal.clone());
        let deleted = self
            .write("deleting an account setting", |state, _| {
                let Some(v) = state.account_settings.get(&setting_key) else { return Ok(Attempt::Done(None)) };
                let txn = Txn::new().expect(key.clone(), v.mod_revision).delete(key.clone());
                Ok(Attempt::Commit(txn, Some(v.record.setting.clone())))
            })
            .await?;
        // ECS answers success either way; without a setting of the principal's own, it echoes the name.
        let setting = deleted.unwrap_or(Setting {
            name: Some(name),
            value: None,
            principal_arn: Some(principal),
            r#type: Some(SettingType::User),
        });
        Ok(DeleteAccountSettingResponse { setting: Some(setting) })
    }

    /// `ListAccountSettings`: a principal's own settings, or with `effectiveSettings` the value in effect for every
    /// setting; filtered by `name` and `value`, paged by `maxResults` (1..=10) and `nextToken`.
    pub fn list_account_settings(&self, req: ListAccountSettingsRequest) -> Result<ListAccountSettingsResponse> {
        if req.value.is_some() && req.name.is_none() {
            return Err(ControlError::invalid("value can only be used together with name."));
        }
        let principal = self.principal(req.principal_arn.as_deref())?;
        let max = (req.max_results != 0).then_some(req.max_results);
        let size = page_size(max, MAX_PAGE, MAX_PAGE)?;
        let names: Vec<SettingName> = match req.name {
            Some(n) => vec![n],
            None => SettingName::VALUES.iter().filter_map(|v| SettingName::parse(v)).collect(),
        };
        let mut items = Vec::new();
        for name in names {
            let setting = if req.effective_settings {
                Some(self.effective_account_setting(name, &principal))
            } else {
                let state = self.cache.read();
                state
                    .account_settings
                    .get(&(name.as_str().to_string(), principal.clone()))
                    .map(|v| v.record.setting.clone())
            };
            let Some(setting) = setting else { continue };
            if req.value.as_deref().is_some_and(|want| setting.value.as_deref() != Some(want)) {
                continue;
            }
            items.push((name.as_str().to_string(), setting));
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let page = paginate(items, req.next_token.as_deref(), size)?;
        Ok(ListAccountSettingsResponse { settings: Some(page.items), next_token: page.next_token })
    }
}
