//! StopServiceDeployment through the AWS SDK against `berth up`: a deployment stuck on an image that does not exist
//! is stopped and the service rolls back to the revision it replaced, though no rollback was configured.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::types::{ServiceDeploymentStatus, StopServiceDeploymentStopType};
use berth_testkit::wait_for;
use common::*;
use std::time::Duration;

async fn newest_deployment(client: &aws_sdk_ecs::Client, service: &str) -> aws_sdk_ecs::types::ServiceDeploymentBrief {
    let out = client.list_service_deployments().cluster("default").service(service).send().await.unwrap();
    out.service_deployments().first().cloned().expect("the service has a deployment")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_deployment_rolls_back_to_the_revision_it_replaced() {
    let (_berth, client) = berth_up().await;
    let good = register_workload(&client, "stop-good", &[]).await;
    let broken = client
        .register_task_definition()
        .family("stop-broken")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("berth-test/does-not-exist:nope")
                .memory(32)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    client
        .create_service()
        .cluster("default")
        .service_name("stopper")
        .task_definition(&good)
        .desired_count(1)
        .send()
        .await
        .unwrap();
    wait_stable(&client, "default", "stopper", Duration::from_secs(60)).await;
    let first = newest_deployment(&client, "stopper").await;

    // A deployment that cannot finish: its image does not exist, and no circuit breaker stops it.
    client.update_service().cluster("default").service("stopper").task_definition(&broken).send().await.unwrap();
    let stuck = newest_deployment(&client, "stopper").await;
    assert_ne!(stuck.service_deployment_arn, first.service_deployment_arn);
    assert_eq!(stuck.status, Some(ServiceDeploymentStatus::InProgress));
    let stuck_arn = stuck.service_deployment_arn.clone().unwrap();

    let abort = client
        .stop_service_deployment()
        .service_deployment_arn(&stuck_arn)
        .stop_type(StopServiceDeploymentStopType::Abort)
        .send()
        .await;
    assert_error(abort, "InvalidParameterException", "ROLLBACK");
    let stopped = client.stop_service_deployment().service_deployment_arn(&stuck_arn).send().await.unwrap();
    assert_eq!(stopped.service_deployment_arn.as_deref(), Some(stuck_arn.as_str()));

    // The service goes back to the good revision and settles there; the deployment says it rolled back.
    let service = wait_stable(&client, "default", "stopper", Duration::from_secs(60)).await;
    assert_eq!(service.task_definition.as_deref(), Some(good.as_str()));
    assert!(events(&service).iter().any(|e| e.contains("stopped by request")), "{:?}", events(&service));
    let rolled_back = wait_for("the rollback to succeed", Duration::from_secs(60), || async {
        let d = client
            .describe_service_deployments()
            .service_deployment_arns(&stuck_arn)
            .send()
            .await
            .ok()?
            .service_deployments()
            .first()
            .cloned()?;
        (d.status == Some(ServiceDeploymentStatus::RollbackSuccessful)).then_some(d)
    })
    .await
    .unwrap();
    assert!(rolled_back.rollback.is_some());

    // A finished deployment cannot be stopped; an unknown one is not found.
    let again = client.stop_service_deployment().service_deployment_arn(&stuck_arn).send().await;
    assert_error(again, "ConflictException", "cannot be stopped");
    let unknown = stuck_arn.rsplit_once('/').map(|(head, _)| format!("{head}/nosuchdeployment")).unwrap();
    let missing = client.stop_service_deployment().service_deployment_arn(unknown).send().await;
    assert_error(missing, "ServiceDeploymentNotFoundException", "does not exist");
}
