//! The controller on a `ManualClock`, in process: a memory store, the control plane, the metric store and its
//! alarms, and this service; alarm evaluation and the controller's passes are run by hand.

use crate::{Scaling, ScalingConfig};
use berth_control::{Control, ControlConfig};
use berth_metrics::{Metrics, MetricsConfig};
use berth_model::clock::{Clock, ManualClock};
use serde_json::{Value, json};
use std::sync::Arc;

const START: f64 = 1_800_000_000.0;

struct World {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    control: Arc<Control>,
    metrics: Arc<Metrics>,
    scaling: Arc<Scaling>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
    let clock = Arc::new(ManualClock::new(START));
    let control = Control::start(store.clone(), clock.clone(), ControlConfig::default()).await.unwrap();
    let config = MetricsConfig::new(dir.path().join("metrics"), "us-east-1", "000000000000");
    let metrics = Metrics::open(config, store.clone(), clock.clone()).await.unwrap();
    let scaling = Scaling::new(
        ScalingConfig::new("us-east-1", "000000000000"),
        store,
        clock.clone(),
        control.clone(),
        metrics.clone(),
    );
    let td = json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]});
    control.register_task_definition(serde_json::from_value(td).unwrap()).await.unwrap();
    let svc = json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1});
    control.create_service(serde_json::from_value(svc).unwrap()).await.unwrap();
    World { _dir: dir, clock, control, metrics, scaling }
}

impl World {
    async fn call(&self, op: &str, body: Value) -> Value {
        let out = self.scaling.call(op, body.to_string().as_bytes()).await.unwrap_or_else(|e| panic!("{op}: {e}"));
        serde_json::from_slice(&out).unwrap()
    }

    /// An operation that must fail; its error as text.
    async fn call_err(&self, op: &str, body: Value) -> String {
        match self.scaling.call(op, body.to_string().as_bytes()).await {
            Ok(out) => panic!("{op} succeeded: {}", String::from_utf8_lossy(&out)),
            Err(e) => e.to_string(),
        }
    }

    /// A CloudWatch operation.
    async fn metrics_call(&self, op: &str, body: Value) -> Value {
        let out = self.metrics.call(op, body.to_string().as_bytes()).await.unwrap_or_else(|e| panic!("{op}: {e}"));
        serde_json::from_slice(&out).unwrap()
    }

    fn desired(&self) -> i32 {
        crate::ecs::service_state(&self.control, "service/default/web").unwrap().desired
    }

    /// Load values in each of the last `minutes` whole minutes (`weight` samples each).
    fn load(&self, value: f64, minutes: i64, weight: usize) {
        let now = self.clock.now();
        for m in 1..=minutes {
            for _ in 0..weight {
                let t = (now / 60.0).floor() * 60.0 - m as f64 * 60.0 + 1.0;
                self.metrics.put("App", "Load", &[("Service", "web")], t, value, None).unwrap();
            }
        }
    }

    /// One alarm evaluation and one controller pass over the events it queued.
    async fn tick(&self) {
        self.metrics.evaluate_alarms().await.unwrap();
        self.scaling.run_alarms().await.unwrap();
    }

    async fn activities(&self) -> Vec<Value> {
        let out = self
            .call("DescribeScalingActivities", json!({"ServiceNamespace": "ecs", "ResourceId": "service/default/web"}))
            .await;
        out["ScalingActivities"].as_array().unwrap().clone()
    }
}

fn target(min: i32, max: i32, suspended: Value) -> Value {
    json!({"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
           "ResourceId": "service/default/web", "MinCapacity": min, "MaxCapacity": max, "SuspendedState": suspended})
}

fn tracking(out_cooldown: i32, in_cooldown: i32) -> Value {
    json!({"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
           "ResourceId": "service/default/web", "PolicyName": "load", "PolicyType": "TargetTrackingScaling",
           "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0, "ScaleOutCooldown": out_cooldown,
             "ScaleInCooldown": in_cooldown, "CustomizedMetricSpecification": {"Namespace": "App",
             "MetricName": "Load", "Dimensions": [{"Name": "Service", "Value": "web"}], "Statistic": "Average"}}})
}

#[tokio::test]
async fn target_tracking_scales_out_in_proportion_and_counts_cooldown_capacity() {
    let w = world().await;
    w.call("RegisterScalableTarget", target(1, 10, json!({}))).await;
    w.call("PutScalingPolicy", tracking(120, 60)).await;
    // No data: no action.
    w.tick().await;
    assert_eq!(w.desired(), 1);
    w.load(150.0, 3, 1);
    w.tick().await;
    assert_eq!(w.desired(), 3, "ceil(1 × 150 / 50)");
    // The alarm repeats; during the cooldown the base stays 1 task, so the same load adds nothing.
    w.tick().await;
    assert_eq!(w.desired(), 3);
    // A minute later the load is twice as high: capacity added during the cooldown counts toward it (1 → 6).
    w.clock.advance(60.0);
    w.load(300.0, 1, 1);
    w.tick().await;
    assert_eq!(w.desired(), 6, "ceil(1 × 300 / 50), not ceil(3 × 300 / 50)");
    // Never above the maximum.
    w.clock.advance(200.0);
    w.load(5000.0, 3, 1);
    w.tick().await;
    assert_eq!(w.desired(), 10);
    let acts = w.activities().await;
    assert_eq!(acts.len(), 3);
    assert_eq!(acts[0]["Description"], "Setting desired count to 10.");
    assert!(
        acts[0]["Cause"].as_str().unwrap().starts_with("monitor alarm TargetTracking-service/default/web-AlarmHigh-")
    );
    assert!(acts[0]["Cause"].as_str().unwrap().ends_with("in state ALARM triggered policy load"));
}

#[tokio::test]
async fn target_tracking_acts_once_per_datapoint_when_alarms_repeat_faster_than_their_period() {
    let w = world().await;
    w.call("RegisterScalableTarget", target(1, 10, json!({}))).await;
    w.call("PutScalingPolicy", tracking(0, 0)).await;
    w.load(150.0, 3, 1);
    w.tick().await;
    assert_eq!(w.desired(), 3, "ceil(1 × 150 / 50)");
    // Without a cooldown the alarm repeats on the same minute's value: acting again would compound (3 → 9).
    w.clock.advance(5.0);
    w.tick().await;
    w.tick().await;
    assert_eq!(w.desired(), 3, "the same datapoint is acted on once");
    // The next minute's datapoint is acted on.
    w.clock.advance(60.0);
    w.load(100.0, 1, 1);
    w.tick().await;
    assert_eq!(w.desired(), 6, "ceil(3 × 100 / 50)");
}

#[tokio::test]
async fn alb_request_count_per_target_tracks_the_load_balancer_series_of_its_resource_label() {
    let w = world().await;
    w.call("RegisterScalableTarget", target(1, 10, json!({}))).await;
    let label = "app/web/50dc6c495c0c9188/targetgroup/web-tg/73e2d6bc24d8a067";
    let mut policy = tracking(0, 0);
    policy["TargetTrackingScalingPolicyConfiguration"] = json!({"TargetValue": 100.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label}});
    let put = w.call("PutScalingPolicy", policy.clone()).await;
    let high = put["Alarms"][0]["AlarmName"].as_str().unwrap().to_string();
    let alarms = w.metrics_call("DescribeAlarms", json!({"AlarmNames": [high]})).await;
    let alarm = &alarms["MetricAlarms"][0];
    assert_eq!(
        (alarm["Namespace"].as_str(), alarm["MetricName"].as_str()),
        (Some("AWS/ApplicationELB"), Some("RequestCountPerTarget"))
    );
    assert_eq!(alarm["Statistic"], "Sum");
    assert_eq!(
        alarm["Dimensions"],
        json!([{"Name": "LoadBalancer", "Value": "app/web/50dc6c495c0c9188"}, {"Name": "TargetGroup", "Value": "targetgroup/web-tg/73e2d6bc24d8a067"}])
    );
    // 250 requests a target a minute (published in pieces, as the load balancer does every 10 s) against 100.
    let now = w.clock.now();
    for m in 1..=3 {
        for _ in 0..5 {
            let t = (now / 60.0).floor() * 60.0 - f64::from(m) * 60.0 + 1.0;
            let dims =
                [("LoadBalancer", "app/web/50dc6c495c0c9188"), ("TargetGroup", "targetgroup/web-tg/73e2d6bc24d8a067")];
            w.metrics.put("AWS/ApplicationELB", "RequestCountPerTarget", &dims, t, 50.0, None).unwrap();
        }
    }
    w.tick().await;
    assert_eq!(w.desired(), 3, "ceil(1 × 250 / 100)");
    // A label that is not a load balancer's and target group's final ARN parts is refused.
    policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["ResourceLabel"] =
        json!("app/web");
    let err = w.call_err("PutScalingPolicy", policy).await;
    assert!(err.contains("Invalid ResourceLabel app/web"), "{err}");
}

#[tokio::test]
async fn a_scale_in_may_act_on_the_datapoint_a_scale_out_acted_on() {
    let w = world().await;
    w.call("RegisterScalableTarget", target(1, 10, json!({}))).await;
    w.call("PutScalingPolicy", tracking(0, 0)).await;
    w.load(150.0, 3, 1);
    w.tick().await;
    assert_eq!(w.desired(), 3);
    // Late datapoints drag the same minutes far below the target: the scale-in acts now, not a minute later.
    w.load(1.0, 15, 1000);
    w.clock.advance(5.0);
    w.tick().await;
    assert!(w.desired() < 3, "scaled in on the same minute's datapoint: {}", w.desired());
}

#[tokio::test]
async fn target_tracking_scales_in_by_smaller_steps_after_its_cooldown_unless_suspended() {
    let w = world().await;
    w.call("RegisterScalableTarget", target(2, 10, json!({}))).await;
    w.control
        .update_service(serde_json::from_value(json!({"service": "web", "desiredCount": 8})).unwrap())
        .await
        .unwrap();
    w.call("PutScalingPolicy", tracking(0, 60)).await;
    w.call("RegisterScalableTarget", target(2, 10, json!({"DynamicScalingInSuspended": true}))).await;
    w.load(5.0, 15, 1);
    w.tick().await;
    assert_eq!(w.desired(), 8, "scale-in is suspended");
    w.call("RegisterScalableTarget", target(2, 10, json!({"DynamicScalingInSuspended": false}))).await;
    w.tick().await;
    // ceil(8 × 5 / 50) = 1: half the gap of 7 (3 tasks) at a time.
    assert_eq!(w.desired(), 5);
    w.tick().await;
    assert_eq!(w.desired(), 5, "within the scale-in cooldown");
    w.clock.advance(61.0);
    w.load(5.0, 1, 1);
    w.tick().await;
    assert_eq!(w.desired(), 3);
    w.clock.advance(61.0);
    w.load(5.0, 1, 1);
    w.tick().await;
    assert_eq!(w.desired(), 2, "never below the minimum");
}

#[tokio::test]
async fn no_scale_in_during_a_deployment_nor_while_another_policy_disagrees() {
    let w = world().await;
    w.call("RegisterScalableTarget", target(1, 10, json!({}))).await;
    w.control
        .update_service(serde_json::from_value(json!({"service": "web", "desiredCount": 8})).unwrap())
        .await
        .unwrap();
    w.call("PutScalingPolicy", tracking(0, 0)).await;
    // A rollout replacing the running deployment (no controller runs here to finish it).
    w.control
        .update_service(serde_json::from_value(json!({"service": "web", "forceNewDeployment": true})).unwrap())
        .await
        .unwrap();
    assert!(crate::ecs::service_state(&w.control, "service/default/web").unwrap().deploying);
    w.load(5.0, 15, 1);
    w.tick().await;
    assert_eq!(w.desired(), 8, "no scale-in while a deployment is in progress");
    // A second policy on another metric that is not low: scale-in needs both.
    let w = world().await;
    w.call("RegisterScalableTarget", target(1, 10, json!({}))).await;
    w.control
        .update_service(serde_json::from_value(json!({"service": "web", "desiredCount": 8})).unwrap())
        .await
        .unwrap();
    w.call("PutScalingPolicy", tracking(0, 0)).await;
    let mut other = tracking(0, 0);
    other["PolicyName"] = json!("other");
    other["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]["MetricName"] = json!("Other");
    w.call("PutScalingPolicy", other).await;
    w.load(5.0, 15, 1);
    w.tick().await;
    assert_eq!(w.desired(), 8, "the other policy has no data below its target");
    let now = w.clock.now();
    for m in 1..=15 {
        let t = (now / 60.0).floor() * 60.0 - f64::from(m) * 60.0 + 1.0;
        w.metrics.put("App", "Other", &[("Service", "web")], t, 1.0, None).unwrap();
    }
    w.tick().await;
    w.tick().await;
    assert!(w.desired() < 8, "both low: scale-in");
}

#[tokio::test]
async fn scheduled_actions_run_at_their_time_and_are_skipped_while_suspended() {
    let w = world().await;
    w.call("RegisterScalableTarget", target(1, 3, json!({}))).await;
    w.call(
        "PutScheduledAction",
        json!({"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
               "ResourceId": "service/default/web", "ScheduledActionName": "every5", "Schedule": "rate(5 minutes)",
               "ScalableTargetAction": {"MinCapacity": 4, "MaxCapacity": 8}}),
    )
    .await;
    w.scaling.run_schedules().await.unwrap();
    assert_eq!(w.desired(), 1, "not yet");
    w.clock.advance(300.0);
    w.call("RegisterScalableTarget", target(1, 3, json!({"ScheduledScalingSuspended": true}))).await;
    w.scaling.run_schedules().await.unwrap();
    assert_eq!(w.desired(), 1, "suspended: the run is skipped");
    w.call("RegisterScalableTarget", target(1, 3, json!({"ScheduledScalingSuspended": false}))).await;
    w.scaling.run_schedules().await.unwrap();
    assert_eq!(w.desired(), 1, "a skipped run is not made up on resume");
    w.clock.advance(300.0);
    w.scaling.run_schedules().await.unwrap();
    assert_eq!(w.desired(), 4);
    let acts = w.activities().await;
    assert_eq!(acts[0]["Description"], "Setting desired count to 4.");
    assert_eq!(acts[1]["Description"], "Setting min capacity to 4 and max capacity to 8");
    assert_eq!(acts[1]["Cause"], "scheduled action name every5 was triggered");
}

#[tokio::test]
async fn a_predefined_cpu_policy_watches_the_services_aws_ecs_series() {
    let w = world().await;
    w.call("RegisterScalableTarget", target(1, 4, json!({}))).await;
    let put = w
        .call(
            "PutScalingPolicy",
            json!({"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
                   "ResourceId": "service/default/web", "PolicyName": "cpu", "PolicyType": "TargetTrackingScaling",
                   "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70.0, "DisableScaleIn": true,
                     "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}}),
        )
        .await;
    let alarms = put["Alarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 1, "no AlarmLow with DisableScaleIn: {put}");
    let name = alarms[0]["AlarmName"].as_str().unwrap();
    let out = w.metrics.call("DescribeAlarms", json!({"AlarmNames": [name]}).to_string().as_bytes()).await.unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    let alarm = &out["MetricAlarms"][0];
    assert_eq!(alarm["Namespace"], "AWS/ECS");
    assert_eq!(alarm["MetricName"], "CPUUtilization");
    assert_eq!(
        alarm["Dimensions"],
        json!([{"Name": "ClusterName", "Value": "default"}, {"Name": "ServiceName", "Value": "web"}])
    );
    assert_eq!(alarm["Threshold"], json!(70.0));
    assert_eq!(alarm["EvaluationPeriods"], json!(3));
    let policy_arn = put["PolicyARN"].as_str().unwrap();
    assert_eq!(
        alarm["AlarmDescription"],
        format!("DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy_arn}.")
    );
    let now = w.clock.now();
    for m in 1..=3 {
        let t = (now / 60.0).floor() * 60.0 - f64::from(m) * 60.0 + 1.0;
        w.metrics
            .put("AWS/ECS", "CPUUtilization", &[("ClusterName", "default"), ("ServiceName", "web")], t, 140.0, None)
            .unwrap();
    }
    w.tick().await;
    assert_eq!(w.desired(), 2, "ceil(1 × 140 / 70)");
    let policies = w.call("DescribeScalingPolicies", json!({"ServiceNamespace": "ecs", "PolicyNames": ["cpu"]})).await;
    let config = &policies["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(config["DisableScaleIn"], true);
    assert_eq!(config["ScaleInCooldown"], json!(300));
}
