//! The agent's `--require-signed-images` check: before a task's containers are created, each image must come from
//! Berth's registry and carry a signature (Notation or cosign, found through the OCI referrers API with the agent's
//! registry credentials) that verifies against the operator's trusted certificates. Otherwise the task fails to
//! start with `CannotPullContainerError: ... is not signed by a trusted key: <why>`.

use crate::client::ServerClient;
use crate::runtime::ContainerRuntime;
use berth_model::agent::RegistryAuth;
use berth_signature::{Format, TrustStore, verify_artifact};
use serde::Deserialize;

/// How many signature artifacts of one image are tried at most.
const MAX_SIGNATURES: usize = 16;

/// The trusted certificates, and the client reaching Berth's registry (on the control plane's listener).
#[derive(Debug, Clone)]
pub struct ImageTrust {
    trust: TrustStore,
    client: ServerClient,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Referrer {
    digest: String,
    #[serde(default)]
    artifact_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ReferrerIndex {
    #[serde(default)]
    manifests: Vec<Referrer>,
}

#[derive(Debug, Deserialize)]
struct Layers {
    #[serde(default)]
    layers: Vec<berth_signature::Descriptor>,
}

/// The repository of `image` on the registry at `server_address` (`host:port/repo[:tag|@digest]`), if it is there.
pub fn repository_of<'a>(image: &'a str, server_address: &str) -> Option<&'a str> {
    let rest = image.strip_prefix(server_address)?.strip_prefix('/')?;
    let rest = rest.split_once('@').map_or(rest, |(name, _)| name);
    // A tag follows the last ':' after the last '/'.
    let name = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => &rest[..i],
        _ => rest,
    };
    (!name.is_empty()).then_some(name)
}

impl ImageTrust {
    /// Trusts `trust`, reaching the registry through `client`.
    pub fn new(trust: TrustStore, client: ServerClient) -> Self {
        ImageTrust { trust, client }
    }

    /// Checks the image `image` as pulled: `Err` is the task's stop reason.
    pub async fn check<R: ContainerRuntime>(
        &self,
        runtime: &R,
        image: &str,
        auth: Option<&RegistryAuth>,
        now: i64,
    ) -> Result<(), String> {
        let refuse =
            |why: String| Err(format!("CannotPullContainerError: image {image} is not signed by a trusted key: {why}"));
        let Some(auth) = auth else {
            return refuse("the agent has no credentials for Berth's registry to look for signatures".into());
        };
        let Some(repo) = repository_of(image, &auth.server_address) else {
            return refuse(format!(
                "it is not in Berth's registry ({}), where signatures are looked up",
                auth.server_address
            ));
        };
        let info = match runtime.inspect_image(image).await {
            Ok(Some(info)) => info,
            Ok(None) => return refuse("the image is not on this host".into()),
            Err(e) => return refuse(format!("inspecting the image: {e}")),
        };
        let prefix = format!("{}/{repo}@", auth.server_address);
        let Some(digest) = info.repo_digests.iter().find_map(|d| d.strip_prefix(&prefix)) else {
            return refuse("the image on this host has no digest from Berth's registry".into());
        };
        match self.verify_digest(repo, digest, auth, now).await {
            Ok(signer) => {
                tracing::info!(%image, %digest, %signer, "image signature verified");
                Ok(())
            }
            Err(why) => refuse(format!("{digest}: {why}")),
        }
    }

    /// Looks up the signatures of `repo@digest` and verifies them until one holds; the signer, or why none held.
    async fn verify_digest(&self, repo: &str, digest: &str, auth: &RegistryAuth, now: i64) -> Result<String, String> {
        let creds = (auth.username.as_str(), auth.password.as_str());
        let index = self
            .client
            .registry_get(&format!("/v2/{repo}/referrers/{digest}"), creds, "application/vnd.oci.image.index.v1+json")
            .await
            .map_err(|e| format!("listing its referrers: {e}"))?;
        let index: ReferrerIndex = serde_json::from_slice(&index).map_err(|e| format!("the referrers list: {e}"))?;
        let signatures: Vec<&Referrer> = index
            .manifests
            .iter()
            .filter(|r| r.artifact_type.as_deref().and_then(Format::of_artifact_type).is_some())
            .take(MAX_SIGNATURES)
            .collect();
        if signatures.is_empty() {
            return Err("it has no signature".into());
        }
        let mut reasons = Vec::new();
        for signature in signatures {
            match self.verify_one(repo, digest, &signature.digest, creds, now).await {
                Ok(signer) => return Ok(signer),
                Err(why) => reasons.push(why),
            }
        }
        Err(reasons.join("; "))
    }

    async fn verify_one(
        &self,
        repo: &str,
        digest: &str,
        signature: &str,
        creds: (&str, &str),
        now: i64,
    ) -> Result<String, String> {
        let manifest = self
            .client
            .registry_get(&format!("/v2/{repo}/manifests/{signature}"), creds, berth_signature::OCI_MANIFEST)
            .await
            .map_err(|e| format!("fetching the signature {signature}: {e}"))?;
        if berth_signature::sha256_digest(&manifest) != signature {
            return Err(format!("the signature manifest {signature} does not match its digest"));
        }
        let layers: Layers = serde_json::from_slice(&manifest).map_err(|e| format!("the signature manifest: {e}"))?;
        let mut fetched = Vec::new();
        for layer in layers.layers.iter().take(1) {
            let blob = self
                .client
                .registry_get(&format!("/v2/{repo}/blobs/{}", layer.digest), creds, "*/*")
                .await
                .map_err(|e| format!("fetching {}: {e}", layer.digest))?;
            fetched.push((layer.digest.clone(), blob));
        }
        let verified = verify_artifact(&manifest, digest, &self.trust, now, |d| {
            fetched
                .iter()
                .find(|(digest, _)| digest == &d.digest)
                .map(|(_, b)| b.clone())
                .ok_or_else(|| "not fetched".into())
        })
        .map_err(|e| e.to_string())?;
        Ok(verified.signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_of_berth_images() {
        let host = "127.0.0.1:7700";
        assert_eq!(repository_of("127.0.0.1:7700/app:v1", host), Some("app"));
        assert_eq!(repository_of("127.0.0.1:7700/team/app", host), Some("team/app"));
        assert_eq!(repository_of("127.0.0.1:7700/team/app@sha256:ab", host), Some("team/app"));
        assert_eq!(repository_of("127.0.0.1:7700/app:v1@sha256:ab", host), Some("app"));
        assert_eq!(repository_of("berth-workload:latest", host), None);
        assert_eq!(repository_of("127.0.0.1:77001/app", host), None);
        assert_eq!(repository_of("127.0.0.1:7700/", host), None);
    }
}
