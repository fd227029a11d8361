//! Task definition volumes, `mountPoints`, `volumesFrom` and `links` on a real Docker Engine, and the settings
//! Berth cannot run yet refused with `UnsupportedFeatureException` instead of being ignored.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{HostVolumeProperties, LogConfiguration, LogDriver, MountPoint, Volume, VolumeFrom};
use berth_testkit::{Berth, BerthOptions, docker};
use common::*;
use std::time::Duration;

fn mount(volume: &str, path: &str, read_only: bool) -> MountPoint {
    MountPoint::builder().source_volume(volume).container_path(path).read_only(read_only).build()
}

/// `docker inspect` of one field of a container, as JSON.
fn inspect(container: &str, format: &str) -> serde_json::Value {
    let out = docker(&["inspect", "--format", format, container]).expect("docker inspect");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("inspect {format} of {container}: {e}: {out}"))
}

/// The host port of the container named `app`.
fn app_port(task: &aws_sdk_ecs::types::Task) -> u16 {
    let app = task.containers().iter().find(|c| c.name() == Some("app")).expect("the app container");
    app.network_bindings()[0].host_port.expect("a host port") as u16
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_task_volumes_volumes_from_and_links() {
    berth_testkit::require_docker();
    berth_testkit::workload_image().expect("the workload image builds");
    let host_dir = tempfile::tempdir().unwrap();
    let host_path = host_dir.path().to_string_lossy().into_owned();
    // Host bind mounts need an agent that allows their path.
    let berth = Berth::start(BerthOptions {
        binary: env!("CARGO_BIN_EXE_berth").into(),
        role: "up",
        extra_args: vec!["--cleanup-wait-seconds".into(), "1".into(), "--allow-host-path".into(), host_path.clone()],
    })
    .expect("berth up starts");
    let client = ecs_client(&berth);
    wait_for_instances(&client, "default", 1).await;

    client
        .register_task_definition()
        .family("vols")
        .volumes(
            Volume::builder()
                .name("data")
                .host(HostVolumeProperties::builder().source_path(&host_path).build())
                .build(),
        )
        .volumes(Volume::builder().name("scratch").build())
        .container_definitions(
            workload_container("app")
                .mount_points(mount("data", "/data", true))
                .mount_points(mount("scratch", "/scratch", false))
                .links("side:helper")
                .build(),
        )
        .container_definitions(
            workload_container("reader")
                .essential(false)
                .volumes_from(VolumeFrom::builder().source_container("app").read_only(true).build())
                .build(),
        )
        .container_definitions(workload_container("side").essential(false).build())
        .send()
        .await
        .unwrap();
    let run = client.run_task().task_definition("vols").send().await.unwrap();
    assert!(run.failures().is_empty(), "{:?}", run.failures());
    let arn = run.tasks()[0].task_arn.clone().unwrap();
    let task = wait_status(&client, &arn, "RUNNING", Duration::from_secs(60)).await;
    let id = arn.rsplit('/').next().unwrap();
    let name = |container: &str| format!("berth-vols-1-{container}-{id}");
    let scratch = format!("berth-{id}-scratch");

    // The host directory is bound read-only; the empty volume is the task's own Docker volume.
    let mounts = inspect(&name("app"), "{{json .Mounts}}");
    let find = |dest: &str| mounts.as_array().unwrap().iter().find(|m| m["Destination"] == dest).cloned().unwrap();
    let data = find("/data");
    assert_eq!(
        (data["Type"].as_str(), data["Source"].as_str(), data["RW"].as_bool()),
        (Some("bind"), Some(host_path.as_str()), Some(false))
    );
    let scratch_mount = find("/scratch");
    assert_eq!(
        (scratch_mount["Type"].as_str(), scratch_mount["Name"].as_str()),
        (Some("volume"), Some(scratch.as_str()))
    );

    // volumesFrom: the reader sees app's mounts, read-only.
    let reader = inspect(&name("reader"), "{{json .Mounts}}");
    let reader_scratch = reader.as_array().unwrap().iter().find(|m| m["Destination"] == "/scratch").cloned().unwrap();
    assert_eq!(
        (reader_scratch["Name"].as_str(), reader_scratch["RW"].as_bool()),
        (Some(scratch.as_str()), Some(false))
    );

    // links: app reaches side as `helper`; Docker's legacy links put its address in app's environment.
    let body = wait_http_ok(&format!("http://127.0.0.1:{}/", app_port(&task))).await;
    assert!(body.contains("\"HELPER_PORT\":\"tcp://"), "app's environment names the linked container: {body}");

    // Stopping the task removes its containers and, with them, its task-scoped volume (not the host directory).
    client.stop_task().task(&arn).send().await.unwrap();
    wait_status(&client, &arn, "STOPPED", Duration::from_secs(60)).await;
    berth_testkit::wait_for("the task volume to be removed", Duration::from_secs(30), || async {
        docker(&["volume", "inspect", &scratch]).is_err().then_some(())
    })
    .await
    .unwrap();
    assert!(host_dir.path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_berth_cannot_run_yet_are_refused_not_ignored() {
    let (_berth, client) = berth_up().await;
    // repositoryCredentials run (tests/registry_credentials.rs); environmentFiles need S3, which Berth lacks.
    client
        .register_task_definition()
        .family("with-environment-files")
        .container_definitions(
            workload_container("app")
                .environment_files(
                    aws_sdk_ecs::types::EnvironmentFile::builder()
                        .value("arn:aws:s3:::config-bucket/app.env")
                        .r#type(aws_sdk_ecs::types::EnvironmentFileType::S3)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("registering works as on ECS");
    let err = client.run_task().task_definition("with-environment-files").send().await.unwrap_err();
    assert_eq!(err.code(), Some("UnsupportedFeatureException"));
    assert!(err.message().unwrap_or_default().contains("environmentFiles are not supported by Berth"), "{err:?}");

    client
        .register_task_definition()
        .family("with-firelens")
        .container_definitions(
            workload_container("app")
                .log_configuration(
                    LogConfiguration::builder()
                        .log_driver(LogDriver::Awsfirelens)
                        .options("Name", "cloudwatch")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let err = client
        .create_service()
        .service_name("logs")
        .task_definition("with-firelens")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnsupportedFeatureException"));
    assert!(err.message().unwrap_or_default().contains("awsfirelens"), "{err:?}");
    assert!(client.list_services().send().await.unwrap().service_arns().is_empty(), "nothing was created");
}
