//! What the service scheduler does outside the store for blue/green deployments: it makes the listener rules'
//! forward weights agree with the record ([`apply_weights`], level-triggered: each pass compares and repairs), and
//! calls the webhook hooks that are due ([`call_due_webhooks`]) through the server's [`HookCaller`], as ECS invokes
//! a Lambda hook: with the deployment's context, waiting for SUCCEEDED, FAILED or IN_PROGRESS (called again after
//! `callBackDelay` seconds, 30 by default).

use crate::records::{HookKind, HookStatus, ServiceRecord};
use crate::services::env::Env;
use crate::{Control, Result};
use futures::future::BoxFuture;
use serde_json::{Value, json};

/// How long ECS waits before calling an IN_PROGRESS hook again, in seconds, unless it says otherwise.
pub const DEFAULT_CALLBACK_DELAY: f64 = 30.0;

/// Calls webhook hooks: the server implements it over HTTP ([`Control::set_hook_caller`]).
pub trait HookCaller: Send + Sync + 'static {
    /// POSTs `payload` (JSON) to `url` and answers the JSON object it replied with; an error when the call failed,
    /// timed out or did not answer 2xx JSON.
    fn call(&self, url: String, payload: Value) -> BoxFuture<'_, Result<Value, String>>;
}

/// Makes every listener rule of the service's blue/green load balancers forward as
/// [`super::progress::desired_weights`] says. Failures are logged and retried on the next pass.
pub async fn apply_weights(control: &Control, record: &ServiceRecord) {
    let wanted = super::progress::desired_weights(record);
    if wanted.is_empty() {
        return;
    }
    let Some(targets) = control.service_targets() else { return };
    for (rule, weights) in wanted {
        let current = targets.listener_rule(&rule).map(|r| r.forward);
        if current.as_ref().is_some_and(|c| same_weights(c, &weights)) {
            continue;
        }
        if let Err(error) = targets.set_forward_weights(rule.clone(), weights).await {
            tracing::warn!(service = %record.name, %rule, %error, "setting blue/green weights failed");
        }
    }
}

/// Whether two forward lists send the same weights to the same groups (in any order; weight-0 groups absent on one
/// side count as 0).
fn same_weights(a: &[(String, u32)], b: &[(String, u32)]) -> bool {
    let weight = |list: &[(String, u32)], g: &str| list.iter().filter(|(x, _)| x == g).map(|(_, w)| *w).sum::<u32>();
    a.iter().chain(b).all(|(g, _)| weight(a, g) == weight(b, g))
}

/// The payload a hook gets: ECS's Lambda payload (service, target revision, test and production weights by
/// revision, the stage), Berth's hook id and execution, and the hook's `hookDetails`.
fn payload(record: &ServiceRecord, arn: &str, run: &crate::records::HookRun) -> Option<Value> {
    let sd = record.service_deployments.iter().find(|d| d.arn == arn)?;
    let progress = sd.blue_green.as_ref()?;
    let mut test = serde_json::Map::new();
    let mut production = serde_json::Map::new();
    for source in &sd.source_revisions {
        test.insert(source.clone(), json!(100.0 - progress.test_weight));
        production.insert(source.clone(), json!(100.0 - progress.production_weight));
    }
    test.insert(sd.target_revision.clone(), json!(progress.test_weight));
    production.insert(sd.target_revision.clone(), json!(progress.production_weight));
    let stage = match progress.stage.hook_stage() {
        Some(s) => s.as_str().to_string(),
        None => progress.stage.to_wire().as_str().to_string(),
    };
    Some(json!({
        "executionId": run.hook_id,
        "hookId": run.hook_id,
        "lifecycleStage": stage,
        "resourceArn": sd.arn,
        "executionDetails": {
            "serviceArn": record.arn,
            "targetServiceRevisionArn": sd.target_revision,
            "testTrafficWeights": test,
            "productionTrafficWeights": production,
        },
        "serviceArn": record.arn,
        "targetServiceRevisionArn": sd.target_revision,
        "testTrafficWeights": test,
        "productionTrafficWeights": production,
        "hookDetails": run.details.clone().unwrap_or(Value::Null),
    }))
}

/// What a webhook's reply means for its run.
fn apply_reply(env: &Env, run: &mut crate::records::HookRun, reply: std::result::Result<Value, String>) {
    run.calls += 1;
    let reply = match reply {
        Ok(reply) => reply,
        Err(error) => {
            run.status = HookStatus::Failed;
            run.reason = Some(format!("the webhook call failed: {error}"));
            run.next_call_at = None;
            return;
        }
    };
    match reply.get("hookStatus").and_then(Value::as_str) {
        Some("SUCCEEDED") => {
            run.status = HookStatus::Succeeded;
            run.next_call_at = None;
        }
        Some("FAILED") => {
            run.status = HookStatus::Failed;
            run.reason = Some("the webhook answered FAILED.".into());
            run.next_call_at = None;
        }
        Some("IN_PROGRESS") => {
            let delay = reply.get("callBackDelay").and_then(Value::as_f64).filter(|d| *d >= 0.0);
            run.next_call_at = Some(env.now + delay.unwrap_or(DEFAULT_CALLBACK_DELAY));
            if let Some(details) = reply.get("hookDetails").filter(|d| !d.is_null()) {
                run.details = Some(details.clone());
            }
        }
        other => {
            run.status = HookStatus::Failed;
            run.reason = Some(format!(
                "the webhook answered no valid hookStatus (SUCCEEDED, FAILED or IN_PROGRESS){}.",
                other.map(|o| format!(": {o}")).unwrap_or_default()
            ));
            run.next_call_at = None;
        }
    }
}

/// Calls the due webhook hooks of the PRIMARY deployment's blue/green progress and records their answers in
/// `record` (written by the caller with the rest of the pass). Returns whether any was called.
pub async fn call_due_webhooks(control: &Control, env: &Env, record: &mut ServiceRecord) -> bool {
    let Some(caller) = control.hook_caller() else { return false };
    let Some(arn) = super::active(record).map(|_| record.deployments[0].service_deployment_arn.clone()) else {
        return false;
    };
    let due: Vec<(usize, String, Value)> = {
        let Some(progress) = super::active(record) else { return false };
        progress
            .hooks
            .iter()
            .enumerate()
            .filter(|(_, h)| h.kind == HookKind::Webhook && h.status == HookStatus::InProgress)
            .filter(|(_, h)| h.next_call_at.is_some_and(|t| t <= env.now))
            .filter_map(|(i, h)| Some((i, h.target.clone()?, payload(record, &arn, h)?)))
            .collect()
    };
    if due.is_empty() {
        return false;
    }
    let mut replies = Vec::new();
    for (i, url, body) in due {
        replies.push((i, caller.call(url, body).await));
    }
    let Some(progress) =
        record.service_deployments.iter_mut().find(|d| d.arn == arn).and_then(|d| d.blue_green.as_mut())
    else {
        return false;
    };
    for (i, reply) in replies {
        if let Some(run) = progress.hooks.get_mut(i) {
            apply_reply(env, run, reply);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{HookAction, HookRun};

    fn run() -> HookRun {
        HookRun {
            hook_id: "ecs-webhook-x".into(),
            kind: HookKind::Webhook,
            target: Some("http://127.0.0.1:1/hook".into()),
            status: HookStatus::InProgress,
            started_at: 0.0,
            expires_at: 100.0,
            timeout_action: HookAction::Rollback,
            next_call_at: Some(0.0),
            details: None,
            calls: 0,
            reason: None,
        }
    }

    fn env() -> Env {
        Env {
            now: 10.0,
            region: "r".into(),
            account_id: "a".into(),
            stabilization: 0.0,
            minute: 60.0,
            alarms_in_alarm: Default::default(),
        }
    }

    #[test]
    fn a_webhook_reply_sets_the_hook_run() {
        let mut r = run();
        apply_reply(
            &env(),
            &mut r,
            Ok(json!({"hookStatus": "IN_PROGRESS", "callBackDelay": 5, "hookDetails": {"n": 1}})),
        );
        assert_eq!((r.status, r.next_call_at, r.calls), (HookStatus::InProgress, Some(15.0), 1));
        assert_eq!(r.details, Some(json!({"n": 1})));
        apply_reply(&env(), &mut r, Ok(json!({"hookStatus": "IN_PROGRESS"})));
        assert_eq!(r.next_call_at, Some(10.0 + DEFAULT_CALLBACK_DELAY));
        apply_reply(&env(), &mut r, Ok(json!({"hookStatus": "SUCCEEDED"})));
        assert!(r.passed());
        let mut r = run();
        apply_reply(&env(), &mut r, Ok(json!({"status": "ok"})));
        assert!(r.failed() && r.reason.as_deref().unwrap().contains("hookStatus"));
        let mut r = run();
        apply_reply(&env(), &mut r, Err("connection refused".into()));
        assert!(r.failed());
    }

    #[test]
    fn weights_compare_by_group() {
        let a = vec![("b".to_string(), 1), ("g".to_string(), 0)];
        assert!(same_weights(&a, &[("b".to_string(), 1)]));
        assert!(!same_weights(&a, &[("g".to_string(), 1)]));
    }
}
