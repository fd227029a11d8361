//! Online garbage collection: unreferenced blobs go after the grace period; blobs a concurrent push is about to
//! reference never go.

use crate::common::image::{self, OCI_MANIFEST, sha256};
use crate::common::{Oci, Options, TestServer, oci_code};
use reqwest::Method;
use std::time::Duration;

async fn server() -> (TestServer, Oci) {
    let server =
        TestServer::start_with(Options { manual_clock: true, gc_grace: Duration::from_secs(60), ..Options::default() })
            .await;
    server.create_repo("app").await;
    let oci = Oci::new(&server).await;
    (server, oci)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_blobs_go_after_the_grace_period() {
    let (server, oci) = server().await;
    let clock = server.clock.clone().unwrap();
    let shared = image::layer(&[image::Entry("shared.txt", Some(b"shared"))]);
    let shared_copy =
        image::Layer { blob: shared.blob.clone(), digest: shared.digest.clone(), diff_id: shared.diff_id.clone() };
    let a = image::image(vec![shared], OCI_MANIFEST, "a");
    let b = image::image(vec![shared_copy, image::layer(&[image::Entry("b.txt", Some(b"b"))])], OCI_MANIFEST, "b");
    oci.push_image("app", "a", &a).await;
    oci.push_image("app", "b", &b).await;
    let r = oci.req(Method::DELETE, &format!("/v2/app/manifests/{}", a.digest)).send().await.unwrap();
    assert_eq!(r.status(), 202);
    // Within the grace period nothing goes.
    assert_eq!(server.registry.collect_garbage().await.unwrap().blobs_deleted, 0);
    clock.advance(61.0);
    let report = server.registry.collect_garbage().await.unwrap();
    assert_eq!(report.blobs_deleted, 1, "{report:?}"); // a's config; the shared layer is still b's
    assert!(report.links_removed >= 4, "{report:?}");
    let r = oci.req(Method::GET, &format!("/v2/app/blobs/{}", a.config_digest)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    for blob in b.layers.iter().map(|l| &l.blob).chain([&b.config]) {
        let r = oci.req(Method::GET, &format!("/v2/app/blobs/{}", sha256(blob))).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap().to_vec(), *blob);
    }
    // A second run finds nothing more.
    assert_eq!(server.registry.collect_garbage().await.unwrap().blobs_deleted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_under_concurrent_pushes_never_deletes_a_blob_a_push_references() {
    let (server, oci) = server().await;
    let clock = server.clock.clone().unwrap();
    // Garbage: a base layer whose image was deleted, and a blob uploaded but never referenced.
    let base = image::layer(&[image::Entry("base.txt", Some(b"base layer"))]);
    let first = image::image(
        vec![image::Layer { blob: base.blob.clone(), digest: base.digest.clone(), diff_id: base.diff_id.clone() }],
        OCI_MANIFEST,
        "first",
    );
    oci.push_image("app", "first", &first).await;
    oci.req(Method::DELETE, &format!("/v2/app/manifests/{}", first.digest)).send().await.unwrap();
    let orphan = oci.push_blob("app", b"orphan blob").await;
    clock.advance(61.0);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc = {
        let registry = server.registry.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut runs = 0;
            let mut deleted = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                deleted += registry.collect_garbage().await.unwrap().blobs_deleted;
                runs += 1;
                tokio::task::yield_now().await;
            }
            (runs, deleted)
        })
    };
    let mut pushers = Vec::new();
    for p in 0..6 {
        let oci = oci.clone();
        let base_blob = base.blob.clone();
        let base_digest = base.digest.clone();
        let base_diff = base.diff_id.clone();
        pushers.push(tokio::spawn(async move {
            let mut pushed = Vec::new();
            for i in 0..8 {
                // Like docker: HEAD each blob, upload only the missing ones, then the manifest.
                let own = image::layer(&[image::Entry("own.txt", Some(format!("{p}-{i}").as_bytes()))]);
                let base_layer =
                    image::Layer { blob: base_blob.clone(), digest: base_digest.clone(), diff_id: base_diff.clone() };
                let img = image::image(vec![base_layer, own], OCI_MANIFEST, &format!("{p}-{i}"));
                for blob in img.layers.iter().map(|l| l.blob.clone()).chain([img.config.clone()]) {
                    let r = oci.req(Method::HEAD, &format!("/v2/app/blobs/{}", sha256(&blob))).send().await.unwrap();
                    if r.status() != 200 {
                        oci.push_blob("app", &blob).await;
                    }
                    tokio::task::yield_now().await;
                }
                let r = oci.put_manifest("app", &format!("p{p}-{i}"), OCI_MANIFEST, &img.manifest).await;
                let status = r.status().as_u16();
                assert_eq!(status, 201, "push {p}-{i}: {:?}", oci_code(r).await);
                pushed.push(img);
            }
            pushed
        }));
    }
    let mut images = Vec::new();
    for p in pushers {
        images.extend(p.await.unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (runs, deleted) = gc.await.unwrap();
    assert!(runs > 1, "the collector ran {runs} times");
    // Every pushed image is whole.
    for img in &images {
        for blob in img.layers.iter().map(|l| &l.blob).chain([&img.config]) {
            let r = oci.req(Method::GET, &format!("/v2/app/blobs/{}", sha256(blob))).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.bytes().await.unwrap().to_vec(), *blob);
        }
    }
    // And the collector did collect: the orphan is gone, and so is the first image's config.
    assert!(deleted >= 2, "deleted {deleted}");
    assert!(
        server
            .registry
            .blob_store()
            .stat(&berth_registry::digest::Digest::parse(&orphan).unwrap())
            .await
            .unwrap()
            .is_none()
    );
}
