//! Services under strategies of node group capacity providers, on an in-memory store with pretend agents: the split
//! holds as a service scales, UpdateService takes a new strategy, and DAEMON services take none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::services::controller::reconcile_all;
use berth_control::{Control, ControlConfig};
use berth_model::agent::{AgentResources, RegisterRequest};
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;

async fn control() -> Arc<Control> {
    let config = ControlConfig { deployment_stabilization: std::time::Duration::ZERO, ..ControlConfig::default() };
    Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), config).await.unwrap()
}

/// Joins an agent of node group `group`; returns its instance ARN.
async fn join(control: &Control, host: &str, group: &str) -> String {
    let attributes =
        BTreeMap::from([("com.amazonaws.ecs.capability.docker-remote-api.1.18".to_string(), String::new())]);
    control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: host.into(),
            resources: AgentResources { cpu: 4096, memory_mib: 4096, ..Default::default() },
            attributes,
            node_group: Some(group.into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .container_instance_arn
}

fn item(provider: &str, weight: i32, base: Option<i32>) -> CapacityProviderStrategyItem {
    CapacityProviderStrategyItem { capacity_provider: provider.into(), weight: Some(weight), base }
}

/// The service's tasks that are not stopped, counted per capacity provider, checking each is on its group's agent.
fn split(control: &Control, instances: &BTreeMap<String, &str>) -> BTreeMap<String, usize> {
    let state = control.cache().read();
    let mut out = BTreeMap::new();
    for task in state.tasks.values().filter(|t| t.record.group.as_deref() == Some("service:web")) {
        if task.record.desired_status == berth_control::status::DesiredStatus::Stopped {
            continue;
        }
        let provider = task.record.capacity_provider_name.clone().unwrap();
        assert_eq!(instances[&task.record.container_instance_arn()], provider, "{}", task.record.arn);
        *out.entry(provider).or_default() += 1;
    }
    out
}

#[tokio::test]
async fn a_service_keeps_its_split_as_it_scales_and_takes_a_new_strategy() {
    let control = control().await;
    let blue = join(&control, "blue-host", "blue").await;
    let green = join(&control, "green-host", "green").await;
    let instances = BTreeMap::from([(blue, "blue-cp"), (green, "green-cp")]);
    for (name, group) in [("blue-cp", "blue"), ("green-cp", "green")] {
        control
            .create_capacity_provider(CreateCapacityProviderRequest {
                name: name.into(),
                auto_scaling_group_provider: Some(AutoScalingGroupProvider {
                    auto_scaling_group_arn: group.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    control
        .put_cluster_capacity_providers(PutClusterCapacityProvidersRequest {
            cluster: "default".into(),
            capacity_providers: vec!["blue-cp".into(), "green-cp".into()],
            default_capacity_provider_strategy: Vec::new(),
        })
        .await
        .unwrap();
    common::register_app(&control, "web", "x").await;
    let strategy = vec![item("blue-cp", 1, Some(2)), item("green-cp", 1, None)];
    control
        .create_service(CreateServiceRequest {
            service_name: "web".into(),
            task_definition: Some("web".into()),
            desired_count: Some(8),
            capacity_provider_strategy: Some(strategy.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
    }
    // Base 2 on blue, then 6 by 1:1.
    assert_eq!(split(&control, &instances), BTreeMap::from([("blue-cp".into(), 5), ("green-cp".into(), 3)]));
    control
        .update_service(UpdateServiceRequest { service: "web".into(), desired_count: Some(12), ..Default::default() })
        .await
        .unwrap();
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
    }
    // The 4 new tasks follow what the service already runs: 12 = base 2 + 10 by 1:1.
    assert_eq!(split(&control, &instances), BTreeMap::from([("blue-cp".into(), 7), ("green-cp".into(), 5)]));

    // A new strategy on UpdateService is shown and used by the new deployment's tasks.
    let updated = control
        .update_service(UpdateServiceRequest {
            service: "web".into(),
            capacity_provider_strategy: Some(vec![item("green-cp", 1, None)]),
            force_new_deployment: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .service
        .unwrap();
    assert_eq!(updated.capacity_provider_strategy.unwrap()[0].capacity_provider, "green-cp");
    assert_eq!(updated.launch_type, None, "a service launched by a strategy shows no launch type");
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
    }
    let state = control.cache().read();
    let newest = state
        .tasks
        .values()
        .filter(|t| t.record.group.as_deref() == Some("service:web"))
        .max_by(|a, b| a.record.created_at.total_cmp(&b.record.created_at))
        .unwrap();
    assert_eq!(newest.record.capacity_provider_name.as_deref(), Some("green-cp"));
    drop(state);

    // DAEMON services take no strategy.
    let err = control
        .create_service(CreateServiceRequest {
            service_name: "daemon".into(),
            task_definition: Some("web".into()),
            scheduling_strategy: Some(SchedulingStrategy::Daemon),
            capacity_provider_strategy: Some(strategy),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("DAEMON scheduling strategy does not support a capacity provider strategy"),
        "{err}"
    );
}
