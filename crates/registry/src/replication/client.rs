//! The client side of replication: another Berth server reached as its ECR API (SigV4-signed AWS JSON 1.1 calls
//! with the destination's access key and the [`super::SOURCE_HEADER`] mark: GetAuthorizationToken,
//! CreateRepository) and its `/v2/` API (blob uploads and manifest puts with the token as Basic credentials, as
//! `docker login -u AWS` uses it). It shares the pull-through cache's HTTP client.

use super::Destination;
use serde_json::{Value, json};

/// The `X-Amz-Target` prefix of the ECR API.
const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";

/// One destination, as one replication run talks to it.
pub(crate) struct DestinationClient<'a> {
    http: &'a reqwest::Client,
    destination: &'a Destination,
    /// `Basic base64(AWS:token)`, once logged in.
    authorization: Option<String>,
    /// The time requests are signed at (the registry's clock).
    now: std::time::SystemTime,
    /// This registry's id, sent as [`super::SOURCE_HEADER`] on every ECR call.
    source: &'a str,
}

fn unreachable(what: &str, e: &reqwest::Error) -> String {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    format!("{what}: the destination could not be reached: {reason}")
}

/// The first 300 characters of a response body, for a failure reason.
async fn body_excerpt(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    text.chars().take(300).collect()
}

impl<'a> DestinationClient<'a> {
    /// A client for `destination` on behalf of registry `source`, signing at `now` (epoch seconds from the
    /// registry's clock).
    pub(crate) fn new(
        http: &'a reqwest::Client,
        destination: &'a Destination,
        source: &'a str,
        now: berth_model::Timestamp,
    ) -> Self {
        let now = std::time::UNIX_EPOCH + std::time::Duration::try_from_secs_f64(now).unwrap_or_default();
        DestinationClient { http, destination, authorization: None, now, source }
    }

    /// Calls an ECR operation of the destination, signed with its access key and marked with this registry's id
    /// (so that its CreateRepository takes the destination's REPLICATION creation template); the JSON answer, or
    /// the failure.
    pub(crate) async fn ecr(&self, operation: &str, body: &Value) -> Result<Value, String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let d = self.destination;
        let identity = aws_credential_types::Credentials::new(
            d.access_key_id.clone(),
            d.secret_access_key.clone(),
            None,
            None,
            "berth-replication",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&d.region)
            .name("ecr")
            .time(self.now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("{operation}: signing the request: {e}"))?
            .into();
        let url = format!("{}/", d.url);
        let bytes = serde_json::to_vec(body).map_err(|e| format!("{operation}: encoding the request: {e}"))?;
        let host = d.url.split_once("://").map_or(d.url.as_str(), |(_, h)| h).to_string();
        let target = format!("{TARGET_PREFIX}{operation}");
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
            (super::SOURCE_HEADER, self.source),
        ];
        let signable = SignableRequest::new("POST", &url, headers.iter().copied(), SignableBody::Bytes(&bytes))
            .map_err(|e| format!("{operation}: signing the request: {e}"))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| format!("{operation}: signing the request: {e}"))?.into_parts();
        let mut request = self.http.post(&url).body(bytes);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| unreachable(operation, &e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| unreachable(operation, &e))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let kind = value["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("").to_string();
        let message = value["message"].as_str().or(value["Message"].as_str()).unwrap_or(&text).to_string();
        Err(format!("{operation}: the destination answered {} {kind}: {message}", status.as_u16()))
    }

    /// Logs in: GetAuthorizationToken with the destination's key; its token is the `/v2/` Basic credential.
    pub(crate) async fn login(&mut self) -> Result<(), String> {
        let answer = self.ecr("GetAuthorizationToken", &json!({})).await?;
        let token = answer["authorizationData"][0]["authorizationToken"]
            .as_str()
            .ok_or_else(|| "GetAuthorizationToken: the destination answered no token".to_string())?;
        self.authorization = Some(format!("Basic {token}"));
        Ok(())
    }

    /// Creates the repository at the destination unless it exists (ECR creates it on replication): only the name,
    /// so the destination applies its REPLICATION creation template, if one matches.
    pub(crate) async fn ensure_repository(&self, name: &str) -> Result<(), String> {
        match self.ecr("CreateRepository", &json!({ "repositoryName": name })).await {
            Ok(_) => Ok(()),
            Err(e) if e.contains("RepositoryAlreadyExistsException") => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn v2(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.authorization {
            Some(auth) => request.header(http::header::AUTHORIZATION, auth),
            None => request,
        }
    }

    /// Whether the destination repository has blob `digest` already.
    pub(crate) async fn has_blob(&self, repo: &str, digest: &str) -> Result<bool, String> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.destination.url);
        let what = format!("checking blob {digest}");
        let response = self.v2(reqwest::Method::HEAD, &url).send().await.map_err(|e| unreachable(&what, &e))?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            s => Err(format!("{what}: the destination answered {s}")),
        }
    }

    /// Uploads a blob to the destination repository (a POST for a session, then one PUT of the whole body).
    pub(crate) async fn upload_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), String> {
        let what = format!("uploading blob {digest}");
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.destination.url);
        let response = self.v2(reqwest::Method::POST, &url).send().await.map_err(|e| unreachable(&what, &e))?;
        if response.status().as_u16() != 202 {
            let status = response.status().as_u16();
            return Err(format!("{what}: the destination answered {status}: {}", body_excerpt(response).await));
        }
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("{what}: the destination's upload answer has no Location"))?;
        let mut put_url = if location.starts_with('/') {
            format!("{}{location}", self.destination.url)
        } else {
            location.to_string()
        };
        put_url.push(if put_url.contains('?') { '&' } else { '?' });
        put_url.push_str(&format!("digest={digest}"));
        let response = self
            .v2(reqwest::Method::PUT, &put_url)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header(http::header::CONTENT_LENGTH, size)
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(&what, &e))?;
        if response.status().as_u16() != 201 {
            let status = response.status().as_u16();
            return Err(format!("{what}: the destination answered {status}: {}", body_excerpt(response).await));
        }
        Ok(())
    }

    /// Puts a manifest at `reference` (a tag or its digest) in the destination repository.
    pub(crate) async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        manifest: bytes::Bytes,
    ) -> Result<(), String> {
        let what = format!("putting manifest {repo}:{reference}");
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.destination.url);
        let response = self
            .v2(reqwest::Method::PUT, &url)
            .header(http::header::CONTENT_TYPE, media_type)
            .body(manifest)
            .send()
            .await
            .map_err(|e| unreachable(&what, &e))?;
        if response.status().as_u16() != 201 {
            let status = response.status().as_u16();
            return Err(format!("{what}: the destination answered {status}: {}", body_excerpt(response).await));
        }
        Ok(())
    }
}
