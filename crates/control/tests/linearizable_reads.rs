//! API calls answer linearizably on a server whose cache lags the store: `Control::catch_up_with_store` (which
//! the API runs before every call) waits until the cache holds every write committed before the call, including
//! when the newest writes were all outside the cache's prefix (the watch's progress report covers those).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_control::{Control, ControlConfig};
use berth_model::clock::{Clock, SystemClock};
use berth_model::ecs::*;
use berth_store::lagging::LaggingStore;
use berth_store::{MemoryStore, SharedStore, Txn};
use std::sync::Arc;
use std::time::Duration;

/// How far behind the lagging server's watch runs.
const LAG: Duration = Duration::from_millis(400);

fn describe(control: &Control, service: &str) -> DescribeServicesResponse {
    control.describe_services(DescribeServicesRequest { services: vec![service.into()], ..Default::default() }).unwrap()
}

#[tokio::test]
async fn a_lagging_server_answers_after_catching_up_with_the_store() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = Arc::new(SystemClock);
    let a = Control::start(store.clone(), clock.clone(), ControlConfig::default()).await.unwrap();
    let lagging: SharedStore = Arc::new(LaggingStore::new(store.clone(), LAG));
    let b = Control::start(lagging, clock.clone(), ControlConfig::default()).await.unwrap();

    common::register_app(&a, "web", "x").await;
    a.create_service(CreateServiceRequest {
        service_name: "web".into(),
        task_definition: Some("web".into()),
        desired_count: Some(0),
        ..Default::default()
    })
    .await
    .unwrap();

    // Without the barrier, b answers from the past: the service a just created is MISSING there.
    let stale = describe(&b, "web");
    assert_eq!(stale.failures.unwrap_or_default().len(), 1, "b's cache lags (the test's premise)");

    let started = clock.monotonic();
    b.catch_up_with_store().await.expect("b catches up");
    let waited = clock.monotonic().saturating_duration_since(started);
    let fresh = describe(&b, "web");
    assert!(fresh.failures.unwrap_or_default().is_empty(), "after catching up, b finds a's service");
    assert_eq!(fresh.services.unwrap()[0].status.as_deref(), Some("ACTIVE"));
    assert!(waited < LAG * 3, "b waited {waited:?} for a lag of {LAG:?}");

    // The newest write is outside the ECS prefix: the cache's own revision never reaches the store's, and only the
    // watch's progress report tells b that nothing it holds is missing.
    store.txn(Txn::new().put("/elsewhere/x", b"1".to_vec())).await.unwrap();
    assert!(b.cache().revision() < store.revision());
    let started = clock.monotonic();
    b.catch_up_with_store().await.expect("a progress report lets b answer");
    let waited = clock.monotonic().saturating_duration_since(started);
    assert!(waited < LAG * 3, "b waited {waited:?} (a progress report is due after {LAG:?})");

    // A store this process is the only writer of needs no wait.
    let started = clock.monotonic();
    a.catch_up_with_store().await.unwrap();
    assert!(clock.monotonic().saturating_duration_since(started) < Duration::from_millis(50));
}
