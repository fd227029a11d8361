use super::config::{self, Shift};
use super::progress::{self, advance, desired_weights, finish_rollbacks, weights_for};
use crate::records::{DeploymentState, HookStatus, ServiceRecord, Stage};
use crate::services::env::Env;
use crate::status::{DeploymentStatus, RolloutState, ServiceDeploymentStatus};
use berth_model::ecs::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentConfiguration, DeploymentLifecycleHook,
    DeploymentLifecycleHookStage, DeploymentLifecycleHookTargetType, DeploymentStrategy, LinearConfiguration,
    LoadBalancer,
};

fn env(now: f64) -> Env {
    Env {
        now,
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        stabilization: 0.0,
        minute: 60.0,
        alarms_in_alarm: Default::default(),
    }
}

fn lb() -> LoadBalancer {
    LoadBalancer {
        target_group_arn: Some("tg-a".into()),
        container_name: Some("web".into()),
        container_port: Some(80),
        advanced_configuration: Some(AdvancedConfiguration {
            alternate_target_group_arn: Some("tg-b".into()),
            production_listener_rule: Some("rule-prod".into()),
            test_listener_rule: Some("rule-test".into()),
            role_arn: Some("arn:aws:iam::000000000000:role/ecs".into()),
        }),
        ..Default::default()
    }
}

fn config(strategy: DeploymentStrategy, bake: i32) -> DeploymentConfiguration {
    let mut c =
        DeploymentConfiguration { strategy: Some(strategy), bake_time_in_minutes: Some(bake), ..Default::default() };
    config::normalise(&mut c, false).unwrap();
    c
}

/// A service with a completed blue deployment, then a new (green) deployment of `td:2`.
fn service(config: DeploymentConfiguration) -> ServiceRecord {
    let e = env(0.0);
    let mut record = ServiceRecord {
        name: "web".into(),
        cluster: "default".into(),
        desired_count: 2,
        deployment_configuration: Some(config),
        load_balancers: Some(vec![lb()]),
        ..Default::default()
    };
    let mut blue: DeploymentState = e.new_deployment(&mut record, "td:1", false);
    blue.rollout_state = RolloutState::Completed;
    record.deployments.insert(0, blue);
    record.last_completed_task_definition = Some("td:1".into());
    record.service_deployments[0].status = ServiceDeploymentStatus::Successful;
    let green = e.new_deployment(&mut record, "td:2", false);
    record.deployments.insert(0, green);
    record
}

fn stage(record: &ServiceRecord) -> Stage {
    progress::active(record).map(|p| p.stage).unwrap_or(Stage::CleanUp)
}

#[test]
fn a_blue_green_deployment_goes_through_the_stages_in_order() {
    let mut record = service(config(DeploymentStrategy::BlueGreen, 1));
    assert_eq!(record.service_deployments.len(), 2);
    assert!(record.service_deployments[0].blue_green.is_none(), "the first deployment just starts");
    assert_eq!(stage(&record), Stage::PreScaleUp);
    assert_eq!(progress::placement_side(&record), 1, "green registers in the alternate target group");
    // Green not ready: held at SCALE_UP.
    assert!(advance(&env(1.0), &mut record, false));
    assert_eq!(stage(&record), Stage::ScaleUp);
    assert!(!advance(&env(2.0), &mut record, false));
    // Ready: on to the test traffic shift, which stops the pass so the test rule moves first.
    advance(&env(3.0), &mut record, true);
    assert_eq!(stage(&record), Stage::TestTrafficShift);
    let weights = desired_weights(&record);
    assert_eq!(weights[0], ("rule-prod".into(), vec![("tg-a".into(), 1), ("tg-b".into(), 0)]));
    assert_eq!(weights[1], ("rule-test".into(), vec![("tg-a".into(), 0), ("tg-b".into(), 1)]));
    // The shift is given time to reach the data plane before the deployment goes on.
    advance(&env(4.0), &mut record, true);
    assert_eq!(stage(&record), Stage::TestTrafficShift);
    advance(&env(5.0), &mut record, true);
    assert_eq!(stage(&record), Stage::ProductionTrafficShift);
    assert_eq!(desired_weights(&record)[0].1, vec![("tg-a".into(), 0), ("tg-b".into(), 1)]);
    // Then the bake time (a minute) holds blue.
    advance(&env(7.0), &mut record, true);
    assert_eq!(stage(&record), Stage::BakeTime);
    advance(&env(60.0), &mut record, true);
    assert_eq!(stage(&record), Stage::BakeTime);
    advance(&env(67.0), &mut record, true);
    assert_eq!(stage(&record), Stage::CleanUp);
    // Completing swaps the sides.
    let arn = record.deployments[0].service_deployment_arn.clone();
    progress::complete(&mut record, &arn);
    assert_eq!(record.production_side, 1);
}

#[test]
fn linear_and_canary_shift_production_traffic_in_steps_with_bake_times() {
    let mut c = config(DeploymentStrategy::Linear, 0);
    c.linear_configuration = Some(LinearConfiguration { step_percent: 25.0, step_bake_time_in_minutes: 2 });
    let mut record = service(c);
    advance(&env(1.0), &mut record, true);
    advance(&env(3.0), &mut record, true);
    assert_eq!(stage(&record), Stage::ProductionTrafficShift);
    let share = |r: &ServiceRecord| progress::active(r).map(|p| p.production_weight).unwrap_or(-1.0);
    assert_eq!(share(&record), 25.0);
    advance(&env(100.0), &mut record, true);
    assert_eq!(share(&record), 25.0, "the step bake time (2 minutes) is not over");
    advance(&env(124.0), &mut record, true);
    assert_eq!(share(&record), 50.0);
    advance(&env(245.0), &mut record, true);
    advance(&env(366.0), &mut record, true);
    assert_eq!(share(&record), 100.0);
    advance(&env(369.0), &mut record, true);
    assert_eq!(stage(&record), Stage::CleanUp, "no bake after 100% and a bake time of 0");

    assert_eq!(Shift::Canary { percent: 12.5, bake_minutes: 1 }.weight_at(1), (12.5, false));
    assert_eq!(Shift::Canary { percent: 12.5, bake_minutes: 1 }.weight_at(2), (100.0, true));
    assert_eq!(Shift::Linear { step: 30.0, bake_minutes: 1 }.weight_at(4), (100.0, true));
    assert_eq!(weights_for(20.0), (800, 200));
    assert_eq!(weights_for(0.1), (999, 1));
}

fn pause_at(stage: DeploymentLifecycleHookStage) -> DeploymentLifecycleHook {
    DeploymentLifecycleHook {
        target_type: Some(DeploymentLifecycleHookTargetType::Pause),
        lifecycle_stages: Some(vec![stage]),
        ..Default::default()
    }
}

#[test]
fn a_pause_hook_holds_the_deployment_and_a_failed_one_rolls_back_to_blue() {
    let mut c = config(DeploymentStrategy::BlueGreen, 0);
    c.lifecycle_hooks = Some(vec![pause_at(DeploymentLifecycleHookStage::PostTestTrafficShift)]);
    let mut record = service(c);
    for t in 1..12 {
        advance(&env(f64::from(t)), &mut record, true);
    }
    assert_eq!(stage(&record), Stage::PostTestTrafficShift);
    let hook = progress::active(&record).unwrap().hooks[0].clone();
    assert!(hook.hook_id.starts_with("ecs-pause-"));
    assert_eq!(hook.status, HookStatus::AwaitingAction);
    assert_eq!(hook.expires_at - hook.started_at, 1440.0 * 60.0, "ECS default timeout: 24 hours");
    // ContinueServiceDeployment with ROLLBACK marks it failed; the next pass rolls back.
    let arn = record.deployments[0].service_deployment_arn.clone();
    let sd = record.service_deployments.iter_mut().find(|d| d.arn == arn).unwrap();
    sd.blue_green.as_mut().unwrap().hooks[0].status = HookStatus::Failed;
    assert!(advance(&env(10.0), &mut record, true));
    assert!(progress::active(&record).is_none());
    assert_eq!(record.deployments[0].task_definition, "td:1", "blue is PRIMARY again");
    assert_eq!(record.deployments[0].status, DeploymentStatus::Primary);
    assert_eq!(record.deployments[1].rollout_state, RolloutState::Failed);
    let sd = record.service_deployments.iter().find(|d| d.arn == arn).unwrap();
    assert_eq!(sd.status, ServiceDeploymentStatus::RollbackInProgress);
    assert_eq!(desired_weights(&record)[0].1, vec![("tg-a".into(), 1), ("tg-b".into(), 0)]);
    assert_eq!(desired_weights(&record)[1].1, vec![("tg-a".into(), 1), ("tg-b".into(), 0)]);
    // Once green has no task left (the scheduler dropped its deployment), the rollback is done.
    record.deployments.truncate(1);
    assert!(finish_rollbacks(&env(20.0), &mut record));
    let sd = record.service_deployments.iter().find(|d| d.arn == arn).unwrap();
    assert_eq!(sd.status, ServiceDeploymentStatus::RollbackSuccessful);
    assert_eq!(record.production_side, 0);
}

#[test]
fn a_hook_that_times_out_takes_its_timeout_action() {
    let mut c = config(DeploymentStrategy::BlueGreen, 0);
    let mut hook = pause_at(DeploymentLifecycleHookStage::PreScaleUp);
    hook.timeout_configuration = Some(berth_model::ecs::DeploymentLifecycleHookTimeoutConfiguration {
        timeout_in_minutes: Some(1),
        action: Some(berth_model::ecs::DeploymentLifecycleHookAction::Continue),
    });
    c.lifecycle_hooks = Some(vec![hook]);
    let mut record = service(c);
    assert!(!advance(&env(30.0), &mut record, true));
    assert_eq!(stage(&record), Stage::PreScaleUp);
    advance(&env(61.0), &mut record, true);
    assert_eq!(stage(&record), Stage::TestTrafficShift, "timed out with CONTINUE: the deployment went on");
}

#[test]
fn the_settings_are_checked_as_ecs_documents_them() {
    let mut c = DeploymentConfiguration { strategy: Some(DeploymentStrategy::Linear), ..Default::default() };
    config::normalise(&mut c, false).unwrap();
    assert_eq!(c.linear_configuration.as_ref().map(|l| l.step_percent), Some(10.0), "ECS's default");
    let mut bad = DeploymentConfiguration {
        strategy: Some(DeploymentStrategy::Canary),
        canary_configuration: Some(CanaryConfiguration { canary_percent: 0.05, canary_bake_time_in_minutes: 1 }),
        ..Default::default()
    };
    assert!(config::normalise(&mut bad, false).is_err());
    let mut rolling_hooks = DeploymentConfiguration {
        lifecycle_hooks: Some(vec![pause_at(DeploymentLifecycleHookStage::PreScaleUp)]),
        ..Default::default()
    };
    assert!(config::normalise(&mut rolling_hooks, false).is_err());
    let mut lambda = config(DeploymentStrategy::BlueGreen, 0);
    lambda.lifecycle_hooks = Some(vec![DeploymentLifecycleHook {
        hook_target_arn: Some("arn:aws:lambda:us-east-1:000000000000:function:check".into()),
        lifecycle_stages: Some(vec![DeploymentLifecycleHookStage::PreScaleUp]),
        ..Default::default()
    }]);
    let err = config::normalise(&mut lambda, false).unwrap_err();
    assert_eq!(err.exception(), crate::EcsException::UnsupportedFeatureException);
    let mut daemon = config(DeploymentStrategy::BlueGreen, 0);
    assert!(config::normalise(&mut daemon, true).is_err());
    let bg = config(DeploymentStrategy::BlueGreen, 0);
    assert!(config::check_pairing(Some(&bg), &[lb()]).is_ok());
    assert!(config::check_pairing(Some(&bg), &[]).is_err());
    let plain = LoadBalancer { advanced_configuration: None, ..lb() };
    assert!(config::check_pairing(Some(&bg), &[plain]).is_err());
    assert!(config::check_pairing(None, &[lb()]).is_err(), "advancedConfiguration needs a blue/green strategy");
}
