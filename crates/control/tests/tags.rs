//! Tags on an in-memory control plane: service tagging, propagation precedence, managed tags, limits and errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_control::services::controller::reconcile_all;
use berth_control::{Control, ControlConfig, EcsException};
use berth_model::agent::{AgentResources, RegisterRequest};
use berth_model::clock::SystemClock;
use berth_model::ecs::*;
use berth_store::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;

async fn control() -> Arc<Control> {
    Control::start(Arc::new(MemoryStore::new()), Arc::new(SystemClock), ControlConfig::default()).await.unwrap()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag { key: Some(k.into()), value: Some(v.into()) }
}

fn sorted(mut tags: Vec<Tag>) -> Vec<(String, String)> {
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    tags.into_iter().map(|t| (t.key.unwrap(), t.value.unwrap_or_default())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    out.sort();
    out
}

async fn agent(control: &Control) {
    let mut attributes = BTreeMap::new();
    attributes.insert("com.amazonaws.ecs.capability.docker-remote-api.1.18".to_string(), String::new());
    control
        .register_agent(RegisterRequest {
            cluster: "default".into(),
            hostname: "host-a".into(),
            resources: AgentResources { cpu: 4096, memory_mib: 4096, ..Default::default() },
            attributes,
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn task_definition(control: &Control, tags: Vec<Tag>) -> String {
    control
        .register_task_definition(RegisterTaskDefinitionRequest {
            family: "web".into(),
            container_definitions: vec![ContainerDefinition {
                name: Some("app".into()),
                image: Some("x".into()),
                memory: Some(64),
                ..Default::default()
            }],
            tags: Some(tags),
            ..Default::default()
        })
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}

fn describe_task(control: &Control, arn: &str, with_tags: bool) -> Task {
    control
        .describe_tasks(DescribeTasksRequest {
            tasks: vec![arn.into()],
            include: with_tags.then(|| vec![TaskField::Tags]),
            ..Default::default()
        })
        .unwrap()
        .tasks
        .unwrap()
        .remove(0)
}

#[tokio::test]
async fn run_task_request_tags_win_over_task_definition_tags_and_managed_tags_are_added() {
    let control = control().await;
    agent(&control).await;
    task_definition(&control, vec![tag("team", "core"), tag("tier", "web")]).await;
    let out = control
        .run_task(RunTaskRequest {
            task_definition: "web".into(),
            propagate_tags: Some(PropagateTags::TaskDefinition),
            enable_ecs_managed_tags: true,
            tags: Some(vec![tag("tier", "batch"), tag("job", "42")]),
            ..Default::default()
        })
        .await
        .unwrap();
    let arn = out.tasks.unwrap()[0].task_arn.clone().unwrap();
    let task = describe_task(&control, &arn, true);
    assert_eq!(
        sorted(task.tags.unwrap()),
        pairs(&[("aws:ecs:clusterName", "default"), ("job", "42"), ("team", "core"), ("tier", "batch")])
    );
    assert_eq!(describe_task(&control, &arn, false).tags, None, "tags are omitted without include TAGS");

    // Without propagateTags nothing is copied from the task definition; no managed tags without the flag.
    let out = control
        .run_task(RunTaskRequest {
            task_definition: "web".into(),
            tags: Some(vec![tag("a", "1")]),
            ..Default::default()
        })
        .await
        .unwrap();
    let arn = out.tasks.unwrap()[0].task_arn.clone().unwrap();
    assert_eq!(sorted(describe_task(&control, &arn, true).tags.unwrap()), pairs(&[("a", "1")]));

    // A user may not remove a managed tag; the 50-tag limit ignores aws: tags (3 user tags + 47 = 50 is fine).
    let first = control
        .list_tasks(ListTasksRequest::default())
        .unwrap()
        .task_arns
        .unwrap()
        .into_iter()
        .find(|a| *a != arn)
        .unwrap();
    let err = control
        .untag_resource(UntagResourceRequest {
            resource_arn: first.clone(),
            tag_keys: vec!["aws:ecs:clusterName".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(err.exception(), EcsException::InvalidParameterException);
    let fifty: Vec<Tag> = (0..47).map(|i| tag(&format!("k{i}"), "v")).collect();
    control.tag_resource(TagResourceRequest { resource_arn: first.clone(), tags: fifty }).await.unwrap();
    let err = control
        .tag_resource(TagResourceRequest { resource_arn: first.clone(), tags: vec![tag("one-more", "v")] })
        .await
        .unwrap_err();
    assert_eq!(err.exception(), EcsException::InvalidParameterException);
    assert!(err.to_string().contains("at most 50 tags"), "{err}");
}

#[tokio::test]
async fn run_task_refuses_propagate_service_and_too_many_merged_tags() {
    let control = control().await;
    agent(&control).await;
    let td_tags: Vec<Tag> = (0..30).map(|i| tag(&format!("td{i}"), "v")).collect();
    task_definition(&control, td_tags).await;
    let err = control
        .run_task(RunTaskRequest {
            task_definition: "web".into(),
            propagate_tags: Some(PropagateTags::Service),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.exception(), EcsException::InvalidParameterException);
    assert!(err.to_string().contains("SERVICE"), "{err}");
    let own: Vec<Tag> = (0..30).map(|i| tag(&format!("own{i}"), "v")).collect();
    let err = control
        .run_task(RunTaskRequest {
            task_definition: "web".into(),
            propagate_tags: Some(PropagateTags::TaskDefinition),
            tags: Some(own),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.exception(), EcsException::InvalidParameterException);
    let err = control
        .run_task(RunTaskRequest {
            task_definition: "web".into(),
            tags: Some(vec![tag("AWS:mine", "x")]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.exception(), EcsException::InvalidParameterException);
    assert!(err.to_string().contains("reserved"), "{err}");
}

#[tokio::test]
async fn service_tasks_get_the_service_tags_and_managed_tags_and_services_are_taggable() {
    let control = control().await;
    agent(&control).await;
    task_definition(&control, vec![tag("from", "td")]).await;
    let service = control
        .create_service(CreateServiceRequest {
            service_name: "api".into(),
            task_definition: Some("web".into()),
            desired_count: Some(1),
            propagate_tags: Some(PropagateTags::Service),
            enable_ecs_managed_tags: true,
            tags: Some(vec![tag("from", "service"), tag("owner", "me")]),
            ..Default::default()
        })
        .await
        .unwrap()
        .service
        .unwrap();
    let service_arn = service.service_arn.unwrap();
    control
        .tag_resource(TagResourceRequest { resource_arn: service_arn.clone(), tags: vec![tag("added", "later")] })
        .await
        .unwrap();
    control
        .untag_resource(UntagResourceRequest { resource_arn: service_arn.clone(), tag_keys: vec!["owner".into()] })
        .await
        .unwrap();
    let listed = control
        .list_tags_for_resource(ListTagsForResourceRequest { resource_arn: service_arn.clone() })
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(sorted(listed), pairs(&[("added", "later"), ("from", "service")]));
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
    }
    let arns = control.list_tasks(ListTasksRequest::default()).unwrap().task_arns.unwrap();
    assert_eq!(arns.len(), 1);
    assert_eq!(
        sorted(describe_task(&control, &arns[0], true).tags.unwrap()),
        pairs(&[
            ("added", "later"),
            ("aws:ecs:clusterName", "default"),
            ("aws:ecs:serviceName", "api"),
            ("from", "service")
        ])
    );
    // An unknown capacity provider, and a task set the service does not have: ResourceNotFoundException.
    for (arn, what) in [
        ("arn:aws:ecs:us-east-1:000000000000:capacity-provider/cp", "could not be found"),
        ("arn:aws:ecs:us-east-1:000000000000:task-set/default/api/ecs-svc/1", "could not be found"),
    ] {
        let err = control
            .tag_resource(TagResourceRequest { resource_arn: arn.into(), tags: vec![tag("a", "b")] })
            .await
            .unwrap_err();
        assert_eq!(err.exception(), EcsException::ResourceNotFoundException);
        assert!(err.to_string().contains(what), "{err}");
    }
    let missing = service_arn.replace("/api", "/nope");
    let err = control.list_tags_for_resource(ListTagsForResourceRequest { resource_arn: missing }).unwrap_err();
    assert_eq!(err.exception(), EcsException::ResourceNotFoundException);
}

#[tokio::test]
async fn update_service_changes_tagging_for_new_tasks_only() {
    let control = control().await;
    agent(&control).await;
    task_definition(&control, vec![tag("from", "td")]).await;
    control
        .create_service(CreateServiceRequest {
            service_name: "api".into(),
            task_definition: Some("web".into()),
            desired_count: Some(1),
            propagate_tags: Some(PropagateTags::TaskDefinition),
            enable_ecs_managed_tags: true,
            ..Default::default()
        })
        .await
        .unwrap();
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
    }
    let first = control.list_tasks(ListTasksRequest::default()).unwrap().task_arns.unwrap();
    assert_eq!(first.len(), 1);
    control
        .update_service(UpdateServiceRequest {
            service: "api".into(),
            desired_count: Some(2),
            propagate_tags: Some(PropagateTags::None),
            enable_ecs_managed_tags: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    for _ in 0..3 {
        reconcile_all(&control).await.unwrap();
    }
    let all = control.list_tasks(ListTasksRequest::default()).unwrap().task_arns.unwrap();
    assert_eq!(all.len(), 2);
    for arn in &all {
        let tags = sorted(describe_task(&control, arn, true).tags.unwrap());
        if first.contains(arn) {
            assert_eq!(
                tags,
                pairs(&[("aws:ecs:clusterName", "default"), ("aws:ecs:serviceName", "api"), ("from", "td")]),
                "a running task keeps its tags"
            );
        } else {
            assert_eq!(tags, pairs(&[]), "a new task follows the updated settings");
        }
    }
    let service = control
        .describe_services(DescribeServicesRequest { services: vec!["api".into()], ..Default::default() })
        .unwrap()
        .services
        .unwrap()
        .remove(0);
    assert_eq!(service.propagate_tags, Some(PropagateTags::None));
    assert!(!service.enable_ecs_managed_tags);
}
