//! ECS Express Mode services (CreateExpressGatewayService and the three others): an image and a port become an
//! ordinary ECS service on FARGATE (awsvpc) behind a load balancer of its own, with a target group health-checked
//! on `healthCheckPath`, and Application Auto Scaling target tracking between `minTaskCount` and `maxTaskCount`.
//!
//! This crate builds the task definition and the service through its own operations; the load balancer and the
//! scaling policy are the server's ([`ExpressInfrastructure`], over Berth's ELBv2 and Application Auto Scaling), as
//! ECS creates them with the caller's infrastructure role. The Express record (`/ecs-express/<cluster>/<service>`)
//! keeps the configuration and the resources made for it; the service itself is a normal service record.

mod record;

pub use record::ExpressServiceRecord;

use crate::error::EcsException;
use crate::{Control, ControlError, Result};
use berth_model::ecs::{
    AssignPublicIp, AwsVpcConfiguration, ContainerDefinition, CreateExpressGatewayServiceRequest,
    CreateExpressGatewayServiceResponse, CreateServiceRequest, DeleteExpressGatewayServiceRequest,
    DeleteExpressGatewayServiceResponse, DeleteServiceRequest, DescribeExpressGatewayServiceRequest,
    DescribeExpressGatewayServiceResponse, ExpressGatewayContainer, ExpressGatewayScalingTarget,
    ExpressGatewayServiceConfiguration, ExpressGatewayServiceNetworkConfiguration, ExpressGatewayServiceScalingMetric,
    IngressPathSummary, LaunchType, LoadBalancer, LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode,
    PortMapping, RegisterTaskDefinitionRequest, RepositoryCredentials, UpdateExpressGatewayServiceRequest,
    UpdateExpressGatewayServiceResponse, UpdateServiceRequest, UpdatedExpressGatewayService,
};
use futures::future::BoxFuture;
use std::collections::BTreeMap;

/// The name of the task definition's one container (the target of the load balancer).
pub const CONTAINER_NAME: &str = "Main";
/// `cpu` when the request names none (the model's documented default).
pub const DEFAULT_CPU: &str = "256";
/// `memory` when the request names none (the model's documented default).
pub const DEFAULT_MEMORY: &str = "512";
/// `containerPort` when the request names none.
pub const DEFAULT_PORT: i32 = 80;
/// `healthCheckPath` when the request names none.
pub const DEFAULT_HEALTH_CHECK_PATH: &str = "/ping";
/// `minTaskCount` when the request names none.
pub const DEFAULT_MIN_TASKS: i32 = 1;
/// `maxTaskCount` when the request names none (Berth's choice: the model states no default).
pub const DEFAULT_MAX_TASKS: i32 = 20;
/// `autoScalingTargetValue` when the request names none.
pub const DEFAULT_TARGET_VALUE: i32 = 60;

/// What the server makes in front of an Express service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpressIngress {
    /// The load balancer.
    pub load_balancer_arn: String,
    /// Its target group (`ip` targets on the container port).
    pub target_group_arn: String,
    /// Its HTTP listener.
    pub listener_arn: String,
    /// The URL the service answers at.
    pub endpoint: String,
}

/// The load balancer an Express service asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRequest {
    /// The cluster.
    pub cluster: String,
    /// The service.
    pub service: String,
    /// The container port targets are registered on.
    pub container_port: i32,
    /// The health check path.
    pub health_check_path: String,
    /// The subnets (the load balancer's and the tasks').
    pub subnets: Vec<String>,
    /// The security groups (empty: the VPC's default).
    pub security_groups: Vec<String>,
}

/// The scaling an Express service asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingRequest {
    /// The cluster.
    pub cluster: String,
    /// The service.
    pub service: String,
    /// The fewest tasks.
    pub min: i32,
    /// The most tasks.
    pub max: i32,
    /// The metric tracked.
    pub metric: ExpressGatewayServiceScalingMetric,
    /// Its target value.
    pub target: i32,
    /// The ingress (for request counts per target).
    pub ingress: ExpressIngress,
}

/// The server's side of Express services: the load balancer and the scaling policy.
pub trait ExpressInfrastructure: Send + Sync {
    /// Creates the load balancer, target group and listener.
    fn create_ingress(&self, request: IngressRequest) -> BoxFuture<'_, std::result::Result<ExpressIngress, String>>;
    /// Changes the target group's health check path.
    fn set_health_check_path(
        &self,
        ingress: ExpressIngress,
        path: String,
    ) -> BoxFuture<'_, std::result::Result<(), String>>;
    /// Registers the scalable target and puts the target tracking policy (replacing an earlier one).
    fn set_scaling(&self, request: ScalingRequest) -> BoxFuture<'_, std::result::Result<(), String>>;
    /// Removes the scaling and the load balancer, listener and target group.
    fn delete(
        &self,
        cluster: String,
        service: String,
        ingress: ExpressIngress,
    ) -> BoxFuture<'_, std::result::Result<(), String>>;
}

fn infrastructure_error(what: &str) -> impl FnOnce(String) -> ControlError + '_ {
    move |message| ControlError::ecs(EcsException::ServerException, format!("{what}: {message}"))
}

impl Control {
    /// Sets the server's side of Express services (once); without it the Express operations are refused.
    pub fn set_express_infrastructure(&self, infrastructure: std::sync::Arc<dyn ExpressInfrastructure>) {
        let _ = self.express.set(infrastructure);
    }

    fn express_infrastructure(&self) -> Result<std::sync::Arc<dyn ExpressInfrastructure>> {
        self.express.get().cloned().ok_or_else(|| {
            ControlError::ecs(
                EcsException::UnsupportedFeatureException,
                "Express services need the load balancer; this server runs without it (--no-load-balancer).",
            )
        })
    }

    /// `CreateExpressGatewayService`.
    pub async fn create_express_gateway_service(
        &self,
        req: CreateExpressGatewayServiceRequest,
    ) -> Result<CreateExpressGatewayServiceResponse> {
        let infrastructure = self.express_infrastructure()?;
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        let name = match req.service_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => name.to_string(),
            None => format!("express-{}", crate::services::digits(8)),
        };
        require(req.execution_role_arn.as_deref(), "executionRoleArn")?;
        require(Some(req.infrastructure_role_arn.as_str()), "infrastructureRoleArn")?;
        let now = self.now();
        let config = configuration(
            ExpressGatewayServiceConfiguration {
                execution_role_arn: req.execution_role_arn.clone(),
                task_role_arn: req.task_role_arn.clone().filter(|r| !r.is_empty()),
                cpu: req.cpu.clone(),
                memory: req.memory.clone(),
                network_configuration: req.network_configuration.clone(),
                health_check_path: req.health_check_path.clone(),
                primary_container: req.primary_container.clone(),
                scaling_target: req.scaling_target.clone(),
                created_at: Some(now),
                ..Default::default()
            },
            &self.default_subnets(),
        )?;
        if self.load_express(&cluster, &name).await?.is_some_and(|r| r.status != "INACTIVE")
            || self
                .cache
                .read()
                .services
                .get(&(cluster.clone(), name.clone()))
                .is_some_and(|s| s.record.status == crate::status::ServiceStatus::Active)
        {
            return Err(ControlError::invalid(format!(
                "A service named {name} already exists in cluster {cluster}; Express service names are unique in their cluster."
            )));
        }
        let task_definition = self.register_express_task_definition(&name, &config).await?;
        let network = config.network_configuration.clone().unwrap_or_default();
        let container = config.primary_container.clone().unwrap_or_default();
        let ingress = infrastructure
            .create_ingress(IngressRequest {
                cluster: cluster.clone(),
                service: name.clone(),
                container_port: container.container_port.unwrap_or(DEFAULT_PORT),
                health_check_path: config.health_check_path.clone().unwrap_or_default(),
                subnets: network.subnets.clone().unwrap_or_default(),
                security_groups: network.security_groups.clone().unwrap_or_default(),
            })
            .await
            .map_err(infrastructure_error("creating the load balancer"))?;
        let created = self.create_express_service(&cluster, &name, &task_definition, &config, &ingress, &req).await;
        let service = match created {
            Ok(service) => service,
            Err(error) => {
                if let Err(cleanup) = infrastructure.delete(cluster.clone(), name.clone(), ingress).await {
                    tracing::warn!(%cleanup, "removing the load balancer of an Express service that failed");
                }
                return Err(error);
            }
        };
        let scaling = scaling_request(&cluster, &name, &config, &ingress);
        infrastructure.set_scaling(scaling).await.map_err(infrastructure_error("setting up auto scaling"))?;
        let mut config = config;
        config.task_definition_arn = Some(task_definition);
        config.service_revision_arn = service;
        config.ingress_paths = Some(vec![IngressPathSummary {
            access_type: berth_model::ecs::AccessType::Public,
            endpoint: ingress.endpoint.clone(),
        }]);
        let record = ExpressServiceRecord {
            cluster: cluster.clone(),
            service_name: name.clone(),
            service_arn: self.arn(&format!("service/{cluster}/{name}")),
            infrastructure_role_arn: req.infrastructure_role_arn.clone(),
            status: "ACTIVE".into(),
            configuration: config,
            ingress: ingress.into(),
            tags: req.tags.clone().unwrap_or_default(),
            created_at: now,
            updated_at: now,
        };
        self.save_express(&record).await?;
        Ok(CreateExpressGatewayServiceResponse { service: Some(record.render(true)) })
    }

    /// `DescribeExpressGatewayService`.
    pub async fn describe_express_gateway_service(
        &self,
        req: DescribeExpressGatewayServiceRequest,
    ) -> Result<DescribeExpressGatewayServiceResponse> {
        let record = self.express_by_arn(&req.service_arn).await?;
        let tags = req.include.as_deref().unwrap_or_default().iter().any(|i| i.as_str() == "TAGS");
        Ok(DescribeExpressGatewayServiceResponse { service: Some(record.render(tags)) })
    }

    /// `UpdateExpressGatewayService`: merges the members given into the configuration, registers a new task
    /// definition revision and rolls the service to it; the health check path and the scaling change in place.
    pub async fn update_express_gateway_service(
        &self,
        req: UpdateExpressGatewayServiceRequest,
    ) -> Result<UpdateExpressGatewayServiceResponse> {
        let infrastructure = self.express_infrastructure()?;
        let mut record = self.express_by_arn(&req.service_arn).await?;
        if record.status != "ACTIVE" {
            return Err(ControlError::ecs(EcsException::ServiceNotActiveException, "Service was not ACTIVE."));
        }
        let old = record.configuration.clone();
        let now = self.now();
        let merged = ExpressGatewayServiceConfiguration {
            execution_role_arn: req
                .execution_role_arn
                .clone()
                .filter(|r| !r.is_empty())
                .or(old.execution_role_arn.clone()),
            task_role_arn: req.task_role_arn.clone().or(old.task_role_arn.clone()).filter(|r| !r.is_empty()),
            cpu: req.cpu.clone().or(old.cpu.clone()),
            memory: req.memory.clone().or(old.memory.clone()),
            network_configuration: req.network_configuration.clone().or(old.network_configuration.clone()),
            health_check_path: req.health_check_path.clone().or(old.health_check_path.clone()),
            primary_container: req.primary_container.clone().or(old.primary_container.clone()),
            scaling_target: merge_scaling(old.scaling_target.as_ref(), req.scaling_target.as_ref()),
            created_at: Some(now),
            ..Default::default()
        };
        let mut config = configuration(merged, &self.default_subnets())?;
        let old_port = old.primary_container.as_ref().and_then(|c| c.container_port);
        let new_port = config.primary_container.as_ref().and_then(|c| c.container_port);
        if old_port != new_port || old.network_configuration != config.network_configuration {
            return Err(ControlError::invalid(
                "Berth cannot change an Express service's containerPort or networkConfiguration: its target group and \
                 load balancer are made for them. Create a new Express service.",
            ));
        }
        let ingress: ExpressIngress = record.ingress.clone().into();
        let task_definition = self.register_express_task_definition(&record.service_name, &config).await?;
        let update = UpdateServiceRequest {
            cluster: Some(record.cluster.clone()),
            service: record.service_name.clone(),
            task_definition: Some(task_definition.clone()),
            ..Default::default()
        };
        let updated = self.update_service(update).await?;
        if old.health_check_path != config.health_check_path {
            let path = config.health_check_path.clone().unwrap_or_default();
            infrastructure
                .set_health_check_path(ingress.clone(), path)
                .await
                .map_err(infrastructure_error("changing the health check path"))?;
        }
        if old.scaling_target != config.scaling_target {
            let scaling = scaling_request(&record.cluster, &record.service_name, &config, &ingress);
            infrastructure.set_scaling(scaling).await.map_err(infrastructure_error("changing auto scaling"))?;
        }
        config.task_definition_arn = Some(task_definition);
        config.service_revision_arn = revision_of(updated.service.as_ref());
        config.ingress_paths = old.ingress_paths.clone();
        record.configuration = config;
        record.updated_at = now;
        self.save_express(&record).await?;
        let rendered = record.render(false);
        Ok(UpdateExpressGatewayServiceResponse {
            service: Some(UpdatedExpressGatewayService {
                service_arn: rendered.service_arn,
                cluster: rendered.cluster,
                service_name: rendered.service_name,
                status: rendered.status,
                target_configuration: Some(record.configuration.clone()),
                created_at: rendered.created_at,
                updated_at: rendered.updated_at,
            }),
        })
    }

    /// `DeleteExpressGatewayService`: deletes the service (its tasks drain and stop), then the scaling and the load
    /// balancer; the Express record stays INACTIVE.
    pub async fn delete_express_gateway_service(
        &self,
        req: DeleteExpressGatewayServiceRequest,
    ) -> Result<DeleteExpressGatewayServiceResponse> {
        let infrastructure = self.express_infrastructure()?;
        let mut record = self.express_by_arn(&req.service_arn).await?;
        if record.status != "ACTIVE" {
            return Err(ControlError::ecs(EcsException::ServiceNotActiveException, "Service was not ACTIVE."));
        }
        let delete = DeleteServiceRequest {
            cluster: Some(record.cluster.clone()),
            service: record.service_name.clone(),
            force: Some(true),
        };
        match self.delete_service(delete).await {
            Ok(_) => {}
            Err(e) if e.exception() == EcsException::ServiceNotFoundException => {}
            Err(e) => return Err(e),
        }
        infrastructure
            .delete(record.cluster.clone(), record.service_name.clone(), record.ingress.clone().into())
            .await
            .map_err(infrastructure_error("removing the load balancer and auto scaling"))?;
        record.status = "INACTIVE".into();
        record.updated_at = self.now();
        self.save_express(&record).await?;
        Ok(DeleteExpressGatewayServiceResponse { service: Some(record.render(false)) })
    }

    /// The default VPC's subnets.
    fn default_subnets(&self) -> Vec<String> {
        self.config.vpc.subnets.iter().map(|s| s.id.clone()).collect()
    }

    async fn register_express_task_definition(
        &self,
        family: &str,
        config: &ExpressGatewayServiceConfiguration,
    ) -> Result<String> {
        let container = config.primary_container.clone().unwrap_or_default();
        let log = container.aws_logs_configuration.clone();
        let mut options = BTreeMap::new();
        options.insert(
            "awslogs-group".to_string(),
            log.as_ref().map(|l| l.log_group.clone()).unwrap_or_else(|| format!("/aws/ecs/express/{family}")),
        );
        options.insert(
            "awslogs-stream-prefix".to_string(),
            log.as_ref().map(|l| l.log_stream_prefix.clone()).unwrap_or_else(|| "ecs".into()),
        );
        options.insert("awslogs-region".to_string(), self.config.region.clone());
        options.insert("awslogs-create-group".to_string(), "true".into());
        let definition = ContainerDefinition {
            name: Some(CONTAINER_NAME.into()),
            image: Some(container.image.clone()),
            essential: Some(true),
            command: container.command.clone(),
            environment: container.environment.clone(),
            secrets: container.secrets.clone(),
            repository_credentials: container
                .repository_credentials
                .as_ref()
                .and_then(|r| r.credentials_parameter.clone())
                .map(|credentials_parameter| RepositoryCredentials { credentials_parameter }),
            port_mappings: Some(vec![PortMapping {
                container_port: Some(container.container_port.unwrap_or(DEFAULT_PORT)),
                ..Default::default()
            }]),
            log_configuration: Some(LogConfiguration {
                log_driver: LogDriver::Awslogs,
                options: Some(options),
                ..Default::default()
            }),
            ..Default::default()
        };
        let request = RegisterTaskDefinitionRequest {
            family: family.to_string(),
            container_definitions: vec![definition],
            network_mode: Some(NetworkMode::Awsvpc),
            requires_compatibilities: Some(vec![berth_model::ecs::Compatibility::Fargate]),
            cpu: config.cpu.clone(),
            memory: config.memory.clone(),
            execution_role_arn: config.execution_role_arn.clone(),
            task_role_arn: config.task_role_arn.clone(),
            ..Default::default()
        };
        let registered = self.register_task_definition(request).await?;
        registered
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .ok_or_else(|| ControlError::ecs(EcsException::ServerException, "the task definition has no ARN"))
    }

    async fn create_express_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
        config: &ExpressGatewayServiceConfiguration,
        ingress: &ExpressIngress,
        req: &CreateExpressGatewayServiceRequest,
    ) -> Result<Option<String>> {
        let network = config.network_configuration.clone().unwrap_or_default();
        let container = config.primary_container.clone().unwrap_or_default();
        let scaling = config.scaling_target.clone().unwrap_or_default();
        let request = CreateServiceRequest {
            cluster: Some(cluster.to_string()),
            service_name: name.to_string(),
            task_definition: Some(task_definition.to_string()),
            desired_count: scaling.min_task_count,
            launch_type: Some(LaunchType::Fargate),
            load_balancers: Some(vec![LoadBalancer {
                target_group_arn: Some(ingress.target_group_arn.clone()),
                container_name: Some(CONTAINER_NAME.into()),
                container_port: Some(container.container_port.unwrap_or(DEFAULT_PORT)),
                ..Default::default()
            }]),
            network_configuration: Some(NetworkConfiguration {
                awsvpc_configuration: Some(AwsVpcConfiguration {
                    subnets: network.subnets.clone().unwrap_or_default(),
                    security_groups: network.security_groups.clone().filter(|g| !g.is_empty()),
                    assign_public_ip: Some(AssignPublicIp::Disabled),
                }),
            }),
            tags: req.tags.clone().filter(|t| !t.is_empty()),
            ..Default::default()
        };
        let created = self.create_service(request).await?;
        Ok(revision_of(created.service.as_ref()))
    }

    async fn load_express(&self, cluster: &str, name: &str) -> Result<Option<ExpressServiceRecord>> {
        let key = record::key(cluster, name);
        let found = self.store.get(&key).await.map_err(ControlError::store("reading an Express service"))?;
        match found {
            None => Ok(None),
            Some(kv) => crate::stored::decode::<ExpressServiceRecord>(&kv.value)
                .map(Some)
                .map_err(|e| ControlError::ecs(EcsException::ServerException, format!("{key}: {e}"))),
        }
    }

    async fn express_by_arn(&self, arn: &str) -> Result<ExpressServiceRecord> {
        let prefix = self.arn("service/");
        let rest = arn.strip_prefix(&prefix).ok_or_else(|| {
            ControlError::invalid(format!("serviceArn {arn:?} is not a service ARN of this account and region."))
        })?;
        let (cluster, name) = rest.split_once('/').ok_or_else(|| {
            ControlError::invalid(format!("serviceArn {arn:?} does not name a cluster and a service."))
        })?;
        self.load_express(cluster, name).await?.ok_or_else(|| {
            ControlError::ecs(
                EcsException::ResourceNotFoundException,
                format!("The Express service {arn} does not exist."),
            )
        })
    }

    async fn save_express(&self, record: &ExpressServiceRecord) -> Result<()> {
        let value = crate::encode(record)?;
        let txn = berth_store::Txn::new().put(record::key(&record.cluster, &record.service_name), value);
        self.store.txn(txn).await.map_err(ControlError::store("saving an Express service"))?;
        Ok(())
    }
}

/// The service revision ARN of a service's newest deployment.
fn revision_of(service: Option<&berth_model::ecs::Service>) -> Option<String> {
    service?.current_service_revisions.as_ref()?.last()?.arn.clone()
}

fn require(value: Option<&str>, member: &str) -> Result<()> {
    if value.is_none_or(|v| v.trim().is_empty()) {
        return Err(ControlError::invalid(format!("{member} is required for an Express service.")));
    }
    Ok(())
}

/// A scaling target with what `update` names replacing what `old` had, member by member.
fn merge_scaling(
    old: Option<&ExpressGatewayScalingTarget>,
    update: Option<&ExpressGatewayScalingTarget>,
) -> Option<ExpressGatewayScalingTarget> {
    let Some(update) = update else { return old.cloned() };
    let old = old.cloned().unwrap_or_default();
    Some(ExpressGatewayScalingTarget {
        min_task_count: update.min_task_count.or(old.min_task_count),
        max_task_count: update.max_task_count.or(old.max_task_count),
        auto_scaling_metric: update.auto_scaling_metric.or(old.auto_scaling_metric),
        auto_scaling_target_value: update.auto_scaling_target_value.or(old.auto_scaling_target_value),
    })
}

/// The configuration with every default filled in, checked.
fn configuration(
    mut config: ExpressGatewayServiceConfiguration,
    default_subnets: &[String],
) -> Result<ExpressGatewayServiceConfiguration> {
    let mut container: ExpressGatewayContainer = config.primary_container.take().unwrap_or_default();
    if container.image.trim().is_empty() {
        return Err(ControlError::invalid("primaryContainer.image is required for an Express service."));
    }
    let port = container.container_port.unwrap_or(DEFAULT_PORT);
    if !(1..=65535).contains(&port) {
        return Err(ControlError::invalid(format!("containerPort {port} must be between 1 and 65535.")));
    }
    container.container_port = Some(port);
    config.primary_container = Some(container);
    let path = config.health_check_path.take().filter(|p| !p.is_empty()).unwrap_or(DEFAULT_HEALTH_CHECK_PATH.into());
    if !path.starts_with('/') || path.len() > 1024 {
        return Err(ControlError::invalid(format!(
            "healthCheckPath {path:?} must start with a forward slash and have at most 1024 characters."
        )));
    }
    config.health_check_path = Some(path);
    config.cpu = Some(config.cpu.take().filter(|c| !c.is_empty()).unwrap_or(DEFAULT_CPU.into()));
    config.memory = Some(config.memory.take().filter(|m| !m.is_empty()).unwrap_or(DEFAULT_MEMORY.into()));
    let mut scaling = config.scaling_target.take().unwrap_or_default();
    let min = scaling.min_task_count.unwrap_or(DEFAULT_MIN_TASKS);
    let max = scaling.max_task_count.unwrap_or(DEFAULT_MAX_TASKS.max(min));
    if min < 0 || max < 1 || min > max {
        return Err(ControlError::invalid(format!(
            "scalingTarget: minTaskCount ({min}) must be at least 0 and at most maxTaskCount ({max}), which must be at least 1."
        )));
    }
    let target = scaling.auto_scaling_target_value.unwrap_or(DEFAULT_TARGET_VALUE);
    if target < 1 {
        return Err(ControlError::invalid(format!("autoScalingTargetValue {target} must be positive.")));
    }
    scaling.min_task_count = Some(min);
    scaling.max_task_count = Some(max);
    scaling.auto_scaling_target_value = Some(target);
    scaling.auto_scaling_metric =
        Some(scaling.auto_scaling_metric.unwrap_or(ExpressGatewayServiceScalingMetric::AverageCpu));
    config.scaling_target = Some(scaling);
    let mut network: ExpressGatewayServiceNetworkConfiguration =
        config.network_configuration.take().unwrap_or_default();
    if network.subnets.as_ref().is_none_or(|s| s.is_empty()) {
        network.subnets = Some(default_subnets.to_vec());
    }
    config.network_configuration = Some(network);
    Ok(config)
}

fn scaling_request(
    cluster: &str,
    service: &str,
    config: &ExpressGatewayServiceConfiguration,
    ingress: &ExpressIngress,
) -> ScalingRequest {
    let scaling = config.scaling_target.clone().unwrap_or_default();
    ScalingRequest {
        cluster: cluster.to_string(),
        service: service.to_string(),
        min: scaling.min_task_count.unwrap_or(DEFAULT_MIN_TASKS),
        max: scaling.max_task_count.unwrap_or(DEFAULT_MAX_TASKS),
        metric: scaling.auto_scaling_metric.unwrap_or(ExpressGatewayServiceScalingMetric::AverageCpu),
        target: scaling.auto_scaling_target_value.unwrap_or(DEFAULT_TARGET_VALUE),
        ingress: ingress.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(image: &str) -> Option<ExpressGatewayContainer> {
        Some(ExpressGatewayContainer { image: image.into(), ..Default::default() })
    }

    #[test]
    fn defaults_are_filled_in_and_bad_values_refused() {
        let subnets = vec!["subnet-a".to_string(), "subnet-b".to_string()];
        let config = configuration(
            ExpressGatewayServiceConfiguration { primary_container: container("web:1"), ..Default::default() },
            &subnets,
        )
        .unwrap();
        assert_eq!(config.cpu.as_deref(), Some("256"));
        assert_eq!(config.memory.as_deref(), Some("512"));
        assert_eq!(config.health_check_path.as_deref(), Some("/ping"));
        assert_eq!(config.primary_container.unwrap().container_port, Some(80));
        let scaling = config.scaling_target.unwrap();
        assert_eq!((scaling.min_task_count, scaling.max_task_count), (Some(1), Some(20)));
        assert_eq!(scaling.auto_scaling_metric, Some(ExpressGatewayServiceScalingMetric::AverageCpu));
        assert_eq!(config.network_configuration.unwrap().subnets, Some(subnets.clone()));
        for bad in [
            ExpressGatewayServiceConfiguration { primary_container: container(""), ..Default::default() },
            ExpressGatewayServiceConfiguration {
                primary_container: container("web"),
                health_check_path: Some("health".into()),
                ..Default::default()
            },
            ExpressGatewayServiceConfiguration {
                primary_container: container("web"),
                scaling_target: Some(ExpressGatewayScalingTarget {
                    min_task_count: Some(5),
                    max_task_count: Some(2),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ] {
            assert!(configuration(bad, &subnets).is_err());
        }
    }

    #[test]
    fn an_update_replaces_only_the_scaling_members_it_names() {
        let old = ExpressGatewayScalingTarget {
            min_task_count: Some(1),
            max_task_count: Some(4),
            auto_scaling_metric: Some(ExpressGatewayServiceScalingMetric::AverageMemory),
            auto_scaling_target_value: Some(70),
        };
        let update = ExpressGatewayScalingTarget { max_task_count: Some(8), ..Default::default() };
        let merged = merge_scaling(Some(&old), Some(&update)).unwrap();
        assert_eq!(merged, ExpressGatewayScalingTarget { max_task_count: Some(8), ..old.clone() });
        assert_eq!(merge_scaling(Some(&old), None), Some(old));
    }
}
