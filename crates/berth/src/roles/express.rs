//! The server's side of Express services ([`berth_control::express::ExpressInfrastructure`]): each Express service
//! gets a load balancer of its own (so its URL is the load balancer's address, port 80, with no host name to
//! resolve), an `ip` target group on the container port health-checked on the service's path, an HTTP listener,
//! and an Application Auto Scaling target with one target tracking policy. They are made through Berth's own ELBv2
//! and Application Auto Scaling operations, so they show in `aws elbv2` and `aws application-autoscaling` as if
//! the caller had made them.

use berth_control::express::{ExpressInfrastructure, ExpressIngress, IngressRequest, ScalingRequest};
use berth_model::ecs::ExpressGatewayServiceScalingMetric;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::sync::Arc;

/// Express services' load balancers and scaling, over Berth's ELBv2 and Application Auto Scaling.
pub struct ExpressOverElb {
    elb: Arc<berth_elb::Elb>,
    scaling: Arc<berth_autoscaling::Scaling>,
    vpc: Arc<berth_vpc::Vpc>,
}

impl ExpressOverElb {
    /// Over these services.
    pub fn new(elb: Arc<berth_elb::Elb>, scaling: Arc<berth_autoscaling::Scaling>, vpc: Arc<berth_vpc::Vpc>) -> Self {
        Self { elb, scaling, vpc }
    }

    async fn elb(&self, operation: &str, input: Value) -> Result<Value, String> {
        let out =
            self.elb.call(operation, input.to_string().as_bytes()).await.map_err(|e| format!("{operation}: {e}"))?;
        serde_json::from_slice(&out).map_err(|e| format!("{operation}: {e}"))
    }

    async fn scaling(&self, operation: &str, input: Value) -> Result<Value, String> {
        let out = self
            .scaling
            .call(operation, input.to_string().as_bytes())
            .await
            .map_err(|e| format!("{operation}: {e}"))?;
        serde_json::from_slice(&out).map_err(|e| format!("{operation}: {e}"))
    }

    /// The VPC's default security group.
    fn default_group(&self) -> Result<String, String> {
        self.vpc
            .groups()
            .into_iter()
            .find(|g| g.name == "default")
            .map(|g| g.id)
            .ok_or_else(|| "the default VPC has no default security group".to_string())
    }

    async fn make_ingress(&self, request: &IngressRequest, made: &mut ExpressIngress) -> Result<(), String> {
        let name = resource_name(&request.cluster, &request.service);
        let groups = if request.security_groups.is_empty() {
            vec![self.default_group()?]
        } else {
            request.security_groups.clone()
        };
        let lb = self
            .elb(
                "CreateLoadBalancer",
                json!({"Name": name, "Subnets": request.subnets, "SecurityGroups": groups, "Type": "application",
                       "Scheme": "internet-facing",
                       "Tags": [{"Key": "AmazonECSManaged", "Value": "true"},
                                {"Key": "ecs:service", "Value": request.service}]}),
            )
            .await?;
        made.load_balancer_arn = text(&lb["LoadBalancers"][0]["LoadBalancerArn"])?;
        let dns_name = text(&lb["LoadBalancers"][0]["DNSName"])?;
        let tg = self
            .elb(
                "CreateTargetGroup",
                json!({"Name": name, "Protocol": "HTTP", "Port": request.container_port, "TargetType": "ip",
                       "VpcId": berth_vpc::layout::VPC_ID,
                       "HealthCheckPath": request.health_check_path, "HealthCheckIntervalSeconds": 10,
                       "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2}),
            )
            .await?;
        made.target_group_arn = text(&tg["TargetGroups"][0]["TargetGroupArn"])?;
        let listener = self
            .elb(
                "CreateListener",
                json!({"LoadBalancerArn": made.load_balancer_arn, "Protocol": "HTTP", "Port": 80,
                       "DefaultActions": [{"Type": "forward", "TargetGroupArn": made.target_group_arn}]}),
            )
            .await?;
        made.listener_arn = text(&listener["Listeners"][0]["ListenerArn"])?;
        let address = self.elb.address_of(&dns_name).map_or(dns_name, |a| a.to_string());
        made.endpoint = format!("http://{address}/");
        Ok(())
    }

    async fn remove(&self, cluster: &str, service: &str, ingress: &ExpressIngress) -> Result<(), String> {
        let resource = format!("service/{cluster}/{service}");
        let target = json!({"ServiceNamespace": "ecs", "ResourceId": resource,
                            "ScalableDimension": "ecs:service:DesiredCount"});
        if let Err(error) = self.scaling("DeregisterScalableTarget", target).await
            && !error.contains("ObjectNotFound")
            && !error.contains("No scalable target")
        {
            return Err(error);
        }
        if !ingress.listener_arn.is_empty() {
            ignore_missing(self.elb("DeleteListener", json!({"ListenerArn": ingress.listener_arn})).await)?;
        }
        if !ingress.load_balancer_arn.is_empty() {
            ignore_missing(
                self.elb("DeleteLoadBalancer", json!({"LoadBalancerArn": ingress.load_balancer_arn})).await,
            )?;
        }
        if !ingress.target_group_arn.is_empty() {
            ignore_missing(self.elb("DeleteTargetGroup", json!({"TargetGroupArn": ingress.target_group_arn})).await)?;
        }
        Ok(())
    }
}

impl ExpressInfrastructure for ExpressOverElb {
    fn create_ingress(&self, request: IngressRequest) -> BoxFuture<'_, Result<ExpressIngress, String>> {
        Box::pin(async move {
            let mut made = ExpressIngress::default();
            if let Err(error) = self.make_ingress(&request, &mut made).await {
                if let Err(cleanup) = self.remove(&request.cluster, &request.service, &made).await {
                    tracing::warn!(%cleanup, "removing the half-made load balancer of an Express service");
                }
                return Err(error);
            }
            Ok(made)
        })
    }

    fn set_health_check_path(&self, ingress: ExpressIngress, path: String) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let input = json!({"TargetGroupArn": ingress.target_group_arn, "HealthCheckPath": path});
            self.elb("ModifyTargetGroup", input).await.map(|_| ())
        })
    }

    fn set_scaling(&self, request: ScalingRequest) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let resource = format!("service/{}/{}", request.cluster, request.service);
            self.scaling(
                "RegisterScalableTarget",
                json!({"ServiceNamespace": "ecs", "ResourceId": resource,
                       "ScalableDimension": "ecs:service:DesiredCount",
                       "MinCapacity": request.min, "MaxCapacity": request.max}),
            )
            .await?;
            let mut metric = json!({"PredefinedMetricType": predefined_metric(&request.metric)});
            if request.metric == ExpressGatewayServiceScalingMetric::RequestCountPerTarget {
                metric["ResourceLabel"] = Value::String(resource_label(&request.ingress)?);
            }
            self.scaling(
                "PutScalingPolicy",
                json!({"PolicyName": "express-target-tracking", "ServiceNamespace": "ecs", "ResourceId": resource,
                       "ScalableDimension": "ecs:service:DesiredCount", "PolicyType": "TargetTrackingScaling",
                       "TargetTrackingScalingPolicyConfiguration": {
                           "TargetValue": request.target, "PredefinedMetricSpecification": metric}}),
            )
            .await
            .map(|_| ())
        })
    }

    fn delete(&self, cluster: String, service: String, ingress: ExpressIngress) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.remove(&cluster, &service, &ingress).await })
    }
}

/// The load balancer's and target group's name: `ecs-express-` and a hash of the cluster and service (ELBv2 names
/// have at most 32 characters).
fn resource_name(cluster: &str, service: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in cluster.bytes().chain([b'/']).chain(service.bytes()) {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    format!("ecs-express-{hash:08x}")
}

/// Application Auto Scaling's predefined metric for an Express metric.
fn predefined_metric(metric: &ExpressGatewayServiceScalingMetric) -> &'static str {
    match metric {
        ExpressGatewayServiceScalingMetric::AverageMemory => "ECSServiceAverageMemoryUtilization",
        ExpressGatewayServiceScalingMetric::RequestCountPerTarget => "ALBRequestCountPerTarget",
        _ => "ECSServiceAverageCPUUtilization",
    }
}

/// `app/<lb name>/<id>/targetgroup/<tg name>/<id>`, from the two ARNs.
fn resource_label(ingress: &ExpressIngress) -> Result<String, String> {
    let lb = ingress.load_balancer_arn.split_once(":loadbalancer/").map(|(_, r)| r);
    let tg = ingress.target_group_arn.rsplit_once(":targetgroup/").map(|(_, r)| r);
    match (lb, tg) {
        (Some(lb), Some(tg)) => Ok(format!("{lb}/targetgroup/{tg}")),
        _ => Err("the load balancer's ARNs have no resource label".into()),
    }
}

fn text(value: &Value) -> Result<String, String> {
    value.as_str().map(str::to_string).ok_or_else(|| format!("an ELBv2 answer lacks a member: {value}"))
}

fn ignore_missing(result: Result<Value, String>) -> Result<(), String> {
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.contains("NotFound") => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_elbv2_and_labels_follow_the_arns() {
        let name = resource_name("default", "a-service-with-a-rather-long-name-indeed");
        assert!(name.len() <= 32 && name.starts_with("ecs-express-"), "{name}");
        assert_ne!(name, resource_name("other", "a-service-with-a-rather-long-name-indeed"));
        let ingress = ExpressIngress {
            load_balancer_arn: "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/lb/50dc6c495c0c9188".into(),
            target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/tg/73e2d6bc24d8a067".into(),
            ..Default::default()
        };
        assert_eq!(resource_label(&ingress).unwrap(), "app/lb/50dc6c495c0c9188/targetgroup/tg/73e2d6bc24d8a067");
    }
}
