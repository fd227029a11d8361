//! The service in process on a memory store and a `ManualClock`: the operations as the CLI calls them (JSON in, JSON
//! out), the task calls, and state rebuilt from the store.

use crate::{Discovery, DiscoveryConfig};
use berth_model::clock::ManualClock;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const START: f64 = 1_800_000_000.0;

async fn open(store: berth_store::SharedStore) -> Arc<Discovery> {
    Discovery::open(DiscoveryConfig::new("us-east-1", "000000000000"), store, Arc::new(ManualClock::new(START)))
        .await
        .unwrap()
}

async fn service() -> (berth_store::SharedStore, Arc<Discovery>) {
    let store: berth_store::SharedStore = Arc::new(berth_store::MemoryStore::new());
    let d = open(store.clone()).await;
    (store, d)
}

async fn call(d: &Discovery, op: &str, input: Value) -> Value {
    let out = d.call(op, input.to_string().as_bytes()).await.unwrap_or_else(|e| panic!("{op}: {e}"));
    serde_json::from_slice(&out).unwrap()
}

async fn fail(d: &Discovery, op: &str, input: Value) -> crate::DiscoveryError {
    d.call(op, input.to_string().as_bytes()).await.expect_err(op)
}

/// A private DNS namespace `corp.local` and a service `web` with A and SRV records and a custom health check.
async fn web(d: &Discovery) -> (String, String) {
    let op = call(d, "CreatePrivateDnsNamespace", json!({"Name": "corp.local", "Vpc": "vpc-1"})).await;
    let op = call(d, "GetOperation", json!({"OperationId": op["OperationId"]})).await;
    assert_eq!(op["Operation"]["Status"], "SUCCESS");
    assert_eq!(op["Operation"]["Type"], "CREATE_NAMESPACE");
    let ns = op["Operation"]["Targets"]["NAMESPACE"].as_str().unwrap().to_string();
    let svc = call(
        d,
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns, "HealthCheckCustomConfig": {"FailureThreshold": 3},
               "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 30}, {"Type": "SRV", "TTL": 10}]}}),
    )
    .await;
    assert_eq!(svc["Service"]["Type"], "DNS_HTTP");
    assert_eq!(svc["Service"]["HealthCheckCustomConfig"]["FailureThreshold"], 1, "Cloud Map always shows 1");
    assert_eq!(svc["Service"]["DnsConfig"]["RoutingPolicy"], "MULTIVALUE");
    (ns, svc["Service"]["Id"].as_str().unwrap().to_string())
}

fn attrs(ip: &str, port: &str) -> Value {
    json!({"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": port, "stage": "prod"})
}

#[tokio::test]
async fn namespaces_and_services_with_cloud_maps_errors() {
    let (_, d) = service().await;
    let (ns, srv) = web(&d).await;
    let e = fail(&d, "CreatePrivateDnsNamespace", json!({"Name": "CORP.local", "Vpc": "vpc-1"})).await;
    assert_eq!(e.exception, "NamespaceAlreadyExists");
    let e = fail(&d, "CreatePrivateDnsNamespace", json!({"Name": "x.local", "Vpc": "subnet-1"})).await;
    assert_eq!(e.exception, "InvalidInput");
    let e = fail(&d, "CreatePublicDnsNamespace", json!({"Name": "example.com"})).await;
    assert!(e.message.contains("public DNS namespaces"), "{}", e.message);
    let e = fail(
        &d,
        "CreateService",
        json!({"Name": "web", "NamespaceId": ns,
        "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 30}]}}),
    )
    .await;
    assert_eq!(e.exception, "ServiceAlreadyExists");
    let e = fail(
        &d,
        "CreateService",
        json!({"Name": "api", "NamespaceId": ns,
        "HealthCheckConfig": {"Type": "HTTP", "ResourcePath": "/"}}),
    )
    .await;
    assert!(e.message.contains("Route 53 health checks"), "{}", e.message);
    let e = fail(&d, "CreateService", json!({"Name": "api", "NamespaceId": "ns-nope"})).await;
    assert_eq!(e.exception, "NamespaceNotFound");
    let e = fail(&d, "GetService", json!({"Id": "srv-nope"})).await;
    assert_eq!(e.exception, "ServiceNotFound");
    let e = fail(&d, "GetOperation", json!({"OperationId": "nope"})).await;
    assert_eq!(e.exception, "OperationNotFound");

    let got = call(&d, "GetNamespace", json!({"Id": ns})).await;
    assert_eq!(got["Namespace"]["Type"], "DNS_PRIVATE");
    assert_eq!(got["Namespace"]["ServiceCount"], 1);
    assert_eq!(got["Namespace"]["Properties"]["DnsProperties"]["SOA"]["TTL"], 15);
    assert_eq!(got["Namespace"]["Properties"]["HttpProperties"]["HttpName"], "corp.local");
    let arn = got["Namespace"]["Arn"].as_str().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-"), "{arn}");
    assert_eq!(call(&d, "GetNamespace", json!({"Id": arn})).await["Namespace"]["Id"], ns.as_str(), "by ARN");

    call(&d, "CreateHttpNamespace", json!({"Name": "api"})).await;
    let http = call(&d, "ListNamespaces", json!({"Filters": [{"Name": "TYPE", "Values": ["HTTP"]}]})).await;
    assert_eq!(http["Namespaces"].as_array().unwrap().len(), 1);
    assert_eq!(http["Namespaces"][0]["Name"], "api");
    let e =
        fail(&d, "ListNamespaces", json!({"Filters": [{"Name": "TYPE", "Values": ["HTTP"], "Condition": "BETWEEN"}]}))
            .await;
    assert_eq!(e.exception, "InvalidInput");
    let listed = call(&d, "ListServices", json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [ns]}]})).await;
    assert_eq!(listed["Services"][0]["Id"], srv.as_str());

    let e = fail(&d, "DeleteNamespace", json!({"Id": ns})).await;
    assert_eq!(e.exception, "ResourceInUse");
    call(&d, "RegisterInstance", json!({"ServiceId": srv, "InstanceId": "t1", "Attributes": attrs("10.0.0.1", "80")}))
        .await;
    let e = fail(&d, "DeleteService", json!({"Id": srv})).await;
    assert_eq!(e.exception, "ResourceInUse");
    call(&d, "DeregisterInstance", json!({"ServiceId": srv, "InstanceId": "t1"})).await;
    call(&d, "DeleteService", json!({"Id": srv})).await;
    let op = call(&d, "DeleteNamespace", json!({"Id": ns})).await;
    let op = call(&d, "GetOperation", json!({"OperationId": op["OperationId"]})).await;
    assert_eq!(op["Operation"]["Type"], "DELETE_NAMESPACE");
    let e = fail(&d, "GetNamespace", json!({"Id": ns})).await;
    assert_eq!(e.exception, "NamespaceNotFound");
}

#[tokio::test]
async fn instances_health_and_discovery() {
    let (_, d) = service().await;
    let (_, srv) = web(&d).await;
    let e = fail(
        &d,
        "RegisterInstance",
        json!({"ServiceId": srv, "InstanceId": "t1", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1"}}),
    )
    .await;
    assert!(e.message.contains("AWS_INSTANCE_PORT"), "an SRV service needs the port: {}", e.message);
    let first = call(
        &d,
        "RegisterInstance",
        json!({"ServiceId": srv, "InstanceId": "t1", "CreatorRequestId": "req-1",
        "Attributes": attrs("10.0.0.1", "80")}),
    )
    .await;
    let again = call(
        &d,
        "RegisterInstance",
        json!({"ServiceId": srv, "InstanceId": "t1", "CreatorRequestId": "req-1",
        "Attributes": attrs("10.0.0.1", "80")}),
    )
    .await;
    assert_eq!(first["OperationId"], again["OperationId"], "a retried request is the same operation");
    call(&d, "RegisterInstance", json!({"ServiceId": srv, "InstanceId": "t2",
        "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "81", "stage": "dev", "AWS_INIT_HEALTH_STATUS": "UNHEALTHY"}}))
    .await;
    let health = call(&d, "GetInstancesHealthStatus", json!({"ServiceId": srv})).await;
    assert_eq!(health["Status"], json!({"t1": "HEALTHY", "t2": "UNHEALTHY"}));

    let discover = |filter: Value| {
        let d = d.clone();
        async move {
            let mut req = json!({"NamespaceName": "corp.local", "ServiceName": "web"});
            req.as_object_mut().unwrap().extend(filter.as_object().unwrap().clone());
            let out = call(&d, "DiscoverInstances", req).await;
            out["Instances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["InstanceId"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(discover(json!({})).await, vec!["t1"], "HEALTHY by default");
    assert_eq!(discover(json!({"HealthStatus": "ALL"})).await, vec!["t1", "t2"]);
    assert_eq!(discover(json!({"HealthStatus": "UNHEALTHY"})).await, vec!["t2"]);
    assert_eq!(discover(json!({"HealthStatus": "ALL", "QueryParameters": {"stage": "dev"}})).await, vec!["t2"]);
    assert_eq!(
        discover(json!({"HealthStatus": "ALL", "OptionalParameters": {"stage": "qa"}})).await,
        vec!["t1", "t2"],
        "optional parameters that match nothing are ignored"
    );
    let before =
        call(&d, "DiscoverInstancesRevision", json!({"NamespaceName": "corp.local", "ServiceName": "web"})).await;

    call(&d, "UpdateInstanceCustomHealthStatus", json!({"ServiceId": srv, "InstanceId": "t1", "Status": "UNHEALTHY"}))
        .await;
    assert_eq!(discover(json!({"HealthStatus": "HEALTHY"})).await, Vec::<String>::new());
    assert_eq!(discover(json!({"HealthStatus": "HEALTHY_OR_ELSE_ALL"})).await, vec!["t1", "t2"], "fails open");
    let after =
        call(&d, "DiscoverInstancesRevision", json!({"NamespaceName": "corp.local", "ServiceName": "web"})).await;
    assert!(after["InstancesRevision"].as_i64() > before["InstancesRevision"].as_i64());

    let e = fail(
        &d,
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": srv, "InstanceId": "t9", "Status": "HEALTHY"}),
    )
    .await;
    assert_eq!(e.exception, "InstanceNotFound");
    let e = fail(&d, "DiscoverInstances", json!({"NamespaceName": "nope", "ServiceName": "web"})).await;
    assert_eq!(e.exception, "NamespaceNotFound");
    let e = fail(&d, "DiscoverInstances", json!({"NamespaceName": "corp.local", "ServiceName": "nope"})).await;
    assert_eq!(e.exception, "ServiceNotFound");

    let got = call(&d, "GetInstance", json!({"ServiceId": srv, "InstanceId": "t1"})).await;
    assert_eq!(got["Instance"]["Attributes"]["stage"], "prod");
    assert_eq!(got["Instance"]["CreatorRequestId"], "req-1");
    let page = call(&d, "ListInstances", json!({"ServiceId": srv, "MaxResults": 1})).await;
    assert_eq!(page["Instances"].as_array().unwrap().len(), 1);
    let rest = call(&d, "ListInstances", json!({"ServiceId": srv, "NextToken": page["NextToken"]})).await;
    assert_eq!(rest["Instances"][0]["Id"], "t2");

    let ops = call(&d, "ListOperations", json!({"Filters": [{"Name": "TYPE", "Values": ["REGISTER_INSTANCE"]}]})).await;
    assert_eq!(ops["Operations"].as_array().unwrap().len(), 2, "the retried registration made no new operation");
}

#[tokio::test]
async fn task_calls_and_a_restart() {
    let (store, d) = service().await;
    let (_, srv) = web(&d).await;
    let arn = call(&d, "GetService", json!({"Id": srv})).await["Service"]["Arn"].as_str().unwrap().to_string();
    let ip = "10.1.2.3".parse().unwrap();
    let mut extra = BTreeMap::new();
    extra.insert("ECS_CLUSTER_NAME".to_string(), "default".to_string());
    d.register_task_instance(&arn, "0123abcd", Some(ip), Some(8080), extra).await.unwrap();
    d.set_health(&arn, "0123abcd", false).await.unwrap();
    let got = call(&d, "GetInstance", json!({"ServiceId": srv, "InstanceId": "0123abcd"})).await;
    assert_eq!(got["Instance"]["Attributes"]["AWS_INSTANCE_IPV4"], "10.1.2.3");
    assert_eq!(got["Instance"]["Attributes"]["AWS_INSTANCE_PORT"], "8080");
    assert_eq!(got["Instance"]["Attributes"]["ECS_CLUSTER_NAME"], "default");

    // A new service on the same store finds everything.
    drop(d);
    let d = open(store).await;
    let health = call(&d, "GetInstancesHealthStatus", json!({"ServiceId": srv})).await;
    assert_eq!(health["Status"], json!({"0123abcd": "UNHEALTHY"}));
    assert!(d.deregister_task_instance(&arn, "0123abcd").await.unwrap().is_some());
    assert!(d.deregister_task_instance(&arn, "0123abcd").await.unwrap().is_none(), "stopping twice is fine");
    assert!(d.set_health(&arn, "0123abcd", true).await.is_err());
}

#[tokio::test]
async fn tags_on_namespaces_and_services() {
    let (_, d) = service().await;
    let (ns, srv) = web(&d).await;
    let ns_arn = call(&d, "GetNamespace", json!({"Id": ns})).await["Namespace"]["Arn"].clone();
    let srv_arn = call(&d, "GetService", json!({"Id": srv})).await["Service"]["Arn"].clone();
    call(&d, "TagResource", json!({"ResourceARN": ns_arn, "Tags": [{"Key": "team", "Value": "a"}]})).await;
    call(&d, "TagResource", json!({"ResourceARN": srv_arn, "Tags": [{"Key": "tier", "Value": "web"}]})).await;
    assert_eq!(
        call(&d, "ListTagsForResource", json!({"ResourceARN": ns_arn})).await["Tags"],
        json!([{"Key": "team", "Value": "a"}])
    );
    call(&d, "UntagResource", json!({"ResourceARN": srv_arn, "TagKeys": ["tier"]})).await;
    assert_eq!(call(&d, "ListTagsForResource", json!({"ResourceARN": srv_arn})).await["Tags"], json!([]));
    let missing = "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-0000000000000000";
    assert_eq!(
        fail(&d, "ListTagsForResource", json!({"ResourceARN": missing})).await.exception,
        "ResourceNotFoundException"
    );
}
