//! Test images built in memory: gzip'd tar layers, a config, a manifest; and OCI layouts for skopeo.

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::path::Path;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A file in a layer: path, contents; `None` contents makes a directory.
pub struct Entry<'a>(pub &'a str, pub Option<&'a [u8]>);

pub struct Layer {
    pub blob: Vec<u8>,
    pub digest: String,
    pub diff_id: String,
}

pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for Entry(path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_600_000_000);
        header.set_uid(0);
        header.set_gid(0);
        match data {
            Some(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                header.set_cksum();
                builder.append_data(&mut header, path, *bytes).unwrap();
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                header.set_cksum();
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    std::io::Write::write_all(&mut enc, data).unwrap();
    enc.finish().unwrap()
}

pub fn layer(entries: &[Entry]) -> Layer {
    let raw = tar(entries);
    let blob = gzip(&raw);
    Layer { digest: sha256(&blob), diff_id: sha256(&raw), blob }
}

/// A layer of `size` pseudo-random (incompressible) bytes in one file.
pub fn random_layer(seed: u64, size: usize) -> Layer {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut data = vec![0u8; size];
    for chunk in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    let name = format!("data/blob-{seed}.bin");
    let raw = tar(&[Entry("data/", None), Entry(&name, Some(&data))]);
    // Store (no compression) so the layer keeps its size; still a valid gzip stream.
    let mut enc = GzEncoder::new(Vec::new(), Compression::none());
    std::io::Write::write_all(&mut enc, &raw).unwrap();
    let blob = enc.finish().unwrap();
    Layer { digest: sha256(&blob), diff_id: sha256(&raw), blob }
}

pub struct TestImage {
    pub layers: Vec<Layer>,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

pub fn image(layers: Vec<Layer>, media_type: &str, label: &str) -> TestImage {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"test": label}, "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        "history": layers.iter().map(|_| json!({"created_by": "berth test"})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let docker = media_type == DOCKER_MANIFEST;
    let (config_type, layer_type) = if docker {
        ("application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip")
    } else {
        ("application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip")
    };
    let config_digest = sha256(&config);
    let manifest = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": layer_type, "digest": l.digest, "size": l.blob.len()})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let digest = sha256(&manifest);
    TestImage { layers, config, config_digest, manifest, media_type: media_type.into(), digest }
}

/// A small image with `n` distinct small layers.
pub fn small_image(label: &str, n: usize) -> TestImage {
    let layers = (0..n)
        .map(|i| {
            let content = format!("{label} layer {i}\n");
            let path = format!("etc/{label}-{i}.txt");
            layer(&[Entry("etc/", None), Entry(&path, Some(content.as_bytes()))])
        })
        .collect();
    image(layers, OCI_MANIFEST, label)
}

/// Writes an OCI image layout at `dir` holding `img` as `tag` (for `skopeo copy oci:<dir>:<tag>`).
pub fn write_oci_layout(dir: &Path, img: &TestImage, tag: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let d = sha256(data);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), data).unwrap();
    };
    for l in &img.layers {
        put(&l.blob);
    }
    put(&img.config);
    put(&img.manifest);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": img.media_type, "digest": img.digest, "size": img.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}
