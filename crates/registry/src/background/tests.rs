use super::*;
use crate::RegistryConfig;
use crate::digest::Algorithm;
use crate::meta::records::RepositoryRecord;
use crate::storage::{BlobStore, MemoryBlobStore};
use berth_model::clock::ManualClock;
use berth_model::ecr::ImageTagMutability;
use berth_store::MemoryStore;

/// A lifecycle policy that expires nothing here (the repository has no image); running it stamps the repository.
const POLICY: &str = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#;

async fn registry(upload_ttl: Duration) -> (Arc<Registry>, Arc<ManualClock>, tempfile::TempDir) {
    registry_with(|config| config.upload_ttl = upload_ttl).await
}

async fn registry_with(
    configure: impl FnOnce(&mut RegistryConfig),
) -> (Arc<Registry>, Arc<ManualClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000.0));
    let mut config = RegistryConfig::new(dir.path(), "us-east-1", "000000000000", "127.0.0.1:1");
    configure(&mut config);
    let blobs: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
    let r = Registry::open_with(config, Arc::new(MemoryStore::new()), clock.clone(), blobs).await.unwrap();
    r.create_repository(RepositoryRecord {
        name: "app".into(),
        created_at: 0.0,
        image_tag_mutability: ImageTagMutability::Mutable,
        exclusion_filters: vec![],
        scan_on_push: false,
        encryption: None,
        tags: vec![],
        lifecycle_policy: Some(POLICY.into()),
        lifecycle_evaluated_at: None,
        policy: None,
    })
    .await
    .unwrap();
    (r, clock, dir)
}

/// Lets the controller and the jobs it started run; a short real wait for their async work, never for a timer
/// (the clock does not move).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[test]
fn periods_follow_the_config_with_the_upload_sweep_bounded() {
    let mut config = RegistryConfig::new("/nonexistent", "us-east-1", "000000000000", "127.0.0.1:1");
    config.lifecycle_interval = Duration::from_secs(600);
    config.gc_interval = Duration::ZERO;
    let periods = periods(&config);
    assert_eq!(
        periods,
        [
            (Job::FlushPulls, 30.0),
            (Job::Lifecycle, 600.0),
            (Job::ExpireUploads, 3600.0),
            (Job::Gc, 0.01),
            (Job::ContinuousScan, 60.0)
        ]
    );
    config.upload_ttl = Duration::from_millis(1);
    assert_eq!(super::periods(&config)[2], (Job::ExpireUploads, 1.0));
}

#[tokio::test]
async fn upload_expiry_runs_when_the_manual_clock_passes_its_period_and_not_before() {
    let (r, clock, _d) = registry(Duration::from_secs(60)).await;
    r.upload_start("app", Algorithm::Sha256).await.unwrap();
    // The session is stale already, but nothing has swept it: no job runs at the start.
    clock.advance(61.0);
    r.spawn_background();
    settle().await;
    assert_eq!(r.upload_count(), 1, "no job runs when the controller starts");
    clock.advance(59.999);
    settle().await;
    assert_eq!(r.upload_count(), 1, "the sweep is one period (60 s) after the start, not before");
    clock.advance(0.001);
    swept(&r).await;
    // And again a period after that run.
    r.upload_start("app", Algorithm::Sha256).await.unwrap();
    clock.advance(120.0);
    swept(&r).await;
}

/// Waits (for the async work, not for a timer: the clock does not move) until no upload session is left.
async fn swept(r: &Registry) {
    let gone = async {
        while r.upload_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone).await.expect("the sweep ran when the clock reached its period");
}

#[tokio::test]
async fn lifecycle_policies_apply_on_their_own_period_of_the_manual_clock() {
    let (r, clock, _d) = registry_with(|config| config.lifecycle_interval = Duration::from_secs(600)).await;
    let evaluated = |r: &Registry| r.repository("app").unwrap().lifecycle_evaluated_at;
    r.spawn_background();
    settle().await;
    clock.advance(599.999); // past the pull flush (30 s), not the lifecycle period
    settle().await;
    assert_eq!(evaluated(&r), None, "not before its period");
    clock.advance(0.001);
    let applied = async {
        while evaluated(&r).is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), applied).await.expect("the policy ran at its period");
    assert_eq!(evaluated(&r), Some(1_600.0));
}
