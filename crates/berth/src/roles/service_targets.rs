//! The control plane's [`ServiceTargets`] over this server's ELBv2 and Cloud Map: ECS services register their
//! tasks in target groups (`instance` targets: the container instance's `ec2InstanceId` and the task's host port;
//! `ip` targets: an awsvpc task's own address and the container port) and in Cloud Map services (instance id =
//! task id), and awsvpc tasks' security groups learn which groups the load balancers are in.

use berth_control::services::targets::{ListenerRuleInfo, RegistryInfo, ServiceTargets, TargetGroupInfo, TargetHealth};
use berth_discovery::Discovery;
use berth_discovery::records::RecordKind;
use berth_elb::Elb;
use berth_model::elbv2::TargetHealthStateEnum as State;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;

/// ELBv2 and Cloud Map, as the service scheduler uses them.
pub struct ElbAndCloudMap {
    elb: Arc<Elb>,
    discovery: Arc<Discovery>,
}

impl ElbAndCloudMap {
    /// The hook over this server's services.
    pub fn new(elb: Arc<Elb>, discovery: Arc<Discovery>) -> Self {
        Self { elb, discovery }
    }
}

impl ServiceTargets for ElbAndCloudMap {
    fn target_group(&self, arn: &str) -> Option<TargetGroupInfo> {
        let facts = self.elb.target_group_facts(arn)?;
        Some(TargetGroupInfo {
            target_type: facts.target_type,
            load_balancers: facts.load_balancers,
            deregistration_delay: facts.deregistration_delay,
            targets: facts.targets,
        })
    }

    fn target_health(&self, target_group: &str, id: &str, port: u16) -> TargetHealth {
        let Some(health) = self.elb.target_health(target_group, id, port) else { return TargetHealth::NotRegistered };
        match health.state.unwrap_or_default() {
            State::Healthy | State::Unavailable => TargetHealth::Healthy,
            State::Initial => TargetHealth::Initial,
            State::Unhealthy | State::UnhealthyDraining => TargetHealth::Unhealthy {
                reason: health.reason.map(|r| r.as_str().to_string()).unwrap_or_default(),
                description: health.description.unwrap_or_default(),
            },
            other => TargetHealth::Other(format!("{other:?}")),
        }
    }

    fn register_targets(&self, target_group: String, targets: Vec<(String, u16)>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let targets: Vec<(String, Option<u16>)> = targets.into_iter().map(|(id, p)| (id, Some(p))).collect();
            self.elb.register_targets(&target_group, &targets).await.map_err(|e| e.to_string())
        })
    }

    fn deregister_targets(
        &self,
        target_group: String,
        targets: Vec<(String, u16)>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let targets: Vec<(String, Option<u16>)> = targets.into_iter().map(|(id, p)| (id, Some(p))).collect();
            self.elb.deregister_targets(&target_group, &targets).await.map_err(|e| e.to_string())
        })
    }

    fn registry(&self, arn: &str) -> Option<RegistryInfo> {
        let facts = self.discovery.registry_facts(arn)?;
        Some(RegistryInfo {
            arn: facts.arn,
            srv: facts.record_kinds.contains(&RecordKind::Srv),
            address_records: facts.record_kinds.iter().any(|k| matches!(k, RecordKind::A | RecordKind::Aaaa)),
            instances: facts.instances,
            namespace: facts.namespace_arn,
        })
    }

    fn namespace_arn(&self, name_or_arn: &str) -> Option<String> {
        self.discovery.namespace_arn(name_or_arn)
    }

    fn register_instance(
        &self,
        registry: String,
        instance_id: String,
        attributes: BTreeMap<String, String>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.discovery
                .register_task_instance(&registry, &instance_id, None, None, attributes)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn load_balancer_security_groups(&self) -> std::collections::BTreeSet<String> {
        self.elb.load_balancer_security_groups()
    }

    fn listener_rule(&self, arn: &str) -> Option<ListenerRuleInfo> {
        Some(ListenerRuleInfo { forward: self.elb.rule_forward(arn)? })
    }

    fn set_forward_weights(&self, rule: String, weights: Vec<(String, u32)>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.elb.set_forward_weights(&rule, &weights).await.map_err(|e| e.to_string()) })
    }

    fn deregister_instance(&self, registry: String, instance_id: String) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.discovery
                .deregister_task_instance(&registry, &instance_id)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
