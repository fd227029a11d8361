//! What the client commands (`berth exec`, `berth logs`) share to call Berth's AWS APIs: the SDK configuration
//! from the aws CLI's environment and files, and errors worded as `Code: message`.

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};

/// The SDK configuration a user's aws CLI would use (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, profiles ...), with
/// the CA certificates of `AWS_CA_BUNDLE` trusted besides the system's roots (an `https://` Berth with its own CA,
/// such as `berth up --tls`'s), as the aws CLI does. An `AWS_CA_BUNDLE` that cannot be read is an error.
pub async fn config() -> anyhow::Result<aws_config::SdkConfig> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some((_, pem)) = ca_bundle()? {
        loader = loader.http_client(https_client(pem).map_err(|e| anyhow::anyhow!("AWS_CA_BUNDLE: {e}"))?);
    }
    Ok(loader.load().await)
}

/// An HTTPS client for the SDKs that trusts the CA certificates in `pem` besides the system's roots.
pub fn https_client(pem: Vec<u8>) -> anyhow::Result<aws_sdk_ecs::config::SharedHttpClient> {
    use aws_smithy_http_client::tls;
    let store = tls::TrustStore::empty().with_native_roots(true).with_pem_certificate(pem);
    let context = tls::TlsContext::builder().with_trust_store(store).build().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
}

/// `AWS_CA_BUNDLE`'s path and contents (PEM), when it is set.
pub fn ca_bundle() -> anyhow::Result<Option<(std::path::PathBuf, Vec<u8>)>> {
    let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) else { return Ok(None) };
    let path = std::path::PathBuf::from(path);
    let pem = std::fs::read(&path).map_err(|e| anyhow::anyhow!("AWS_CA_BUNDLE {}: {e}", path.display()))?;
    Ok(Some((path, pem)))
}

/// A reqwest client that trusts `AWS_CA_BUNDLE` besides the system's roots.
fn http_client() -> anyhow::Result<reqwest::Client> {
    match ca_bundle()? {
        Some((path, pem)) => {
            reqwest_client(Some(&pem)).map_err(|e| anyhow::anyhow!("AWS_CA_BUNDLE {}: {e:#}", path.display()))
        }
        None => reqwest_client(None),
    }
}

/// A reqwest client that trusts the CA certificates in `pem` (if any) besides the system's roots.
pub fn reqwest_client(pem: Option<&[u8]>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if let Some(pem) = pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| anyhow::anyhow!("{e}"))?;
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))
}

/// A failed call as `Code: message` when the server answered with an AWS error, else the SDK's own account of
/// what went wrong (no connection, a timeout ...), naming the operation.
pub fn api_error<E>(operation: &str, error: E) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => anyhow::anyhow!("{code}: {message}"),
        _ => anyhow::anyhow!("{operation} failed: {}", DisplayErrorContext(&error)),
    }
}

/// Calls an AWS JSON 1.1 operation of one of Berth's own APIs (which no AWS SDK knows) with the same endpoint,
/// region and credentials as the SDK configuration, signed with SigV4 as `signing_name`; returns the response's JSON,
/// or its AWS error as `Code: message`.
pub async fn call_json(
    config: &aws_config::SdkConfig,
    signing_name: &str,
    target: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    call_json_with(&http_client()?, config, signing_name, target, body).await
}

/// [`call_json`] through `http` (a client that trusts the server's CA).
pub async fn call_json_with(
    http: &reqwest::Client,
    config: &aws_config::SdkConfig,
    signing_name: &str,
    target: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let bytes = serde_json::to_vec(body)?;
    let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target)];
    let (status, text) = signed_post(http, config, signing_name, &headers, bytes, target).await?;
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let code = json.get("__type").and_then(|v| v.as_str()).unwrap_or("Error");
        let code = code.rsplit('#').next().unwrap_or(code);
        let message = json.get("message").or_else(|| json.get("Message")).and_then(|v| v.as_str()).unwrap_or(&text);
        anyhow::bail!("{code}: {message}");
    }
    Ok(json)
}

/// Calls an AWS query-protocol operation (EC2, ELBv2, ...) of Berth with the SDK configuration's endpoint, region
/// and credentials, signed as `signing_name`: `Action`, `Version` and `params` form-encoded. Returns the answer's
/// XML, or its AWS error as `Code: message`.
pub async fn call_query(
    config: &aws_config::SdkConfig,
    signing_name: &str,
    version: &str,
    action: &str,
    params: &[(&str, &str)],
) -> anyhow::Result<berth_console::client::xml::Element> {
    use anyhow::Context;
    let mut form = vec![("Action", action), ("Version", version)];
    form.extend_from_slice(params);
    let body = berth_console::client::form_body(&form).into_bytes();
    let headers = [("content-type", "application/x-www-form-urlencoded; charset=utf-8")];
    let (status, text) = signed_post(&http_client()?, config, signing_name, &headers, body, action).await?;
    let document =
        berth_console::client::xml::parse(&text).with_context(|| format!("reading the answer to {action}: {text}"))?;
    if !status.is_success() {
        let code = document.find("Code").map(|c| c.text.as_str()).unwrap_or("Error");
        let message = document.find("Message").map(|m| m.text.as_str()).unwrap_or(&text);
        anyhow::bail!("{code}: {message}");
    }
    Ok(document)
}

/// POSTs `body` to the configured endpoint with `headers`, signed with SigV4 as `signing_name`; returns the status
/// and the answer's text. `what` names the call in errors.
async fn signed_post(
    http: &reqwest::Client,
    config: &aws_config::SdkConfig,
    signing_name: &str,
    headers: &[(&str, &str)],
    bytes: Vec<u8>,
    what: &str,
) -> anyhow::Result<(reqwest::StatusCode, String)> {
    use anyhow::Context;
    use aws_credential_types::provider::ProvideCredentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let endpoint = config
        .endpoint_url()
        .context("no endpoint: set AWS_ENDPOINT_URL to Berth's address (berth up prints it)")?
        .trim_end_matches('/')
        .to_string();
    let region = config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let provider =
        config.credentials_provider().context("no credentials: set AWS_ACCESS_KEY_ID/SECRET or a profile")?;
    let credentials = provider.provide_credentials().await.context("reading the credentials")?;
    let identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name(signing_name)
        .time(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_secs_f64(berth_model::clock::Clock::now(&berth_model::clock::SystemClock)),
        )
        .settings(SigningSettings::default())
        .build()
        .context("signing the request")?
        .into();
    let url = format!("{endpoint}/");
    let uri: http::Uri = url.parse().with_context(|| format!("the endpoint {endpoint}"))?;
    let host = uri.authority().map(|a| a.to_string()).context("the endpoint has no host")?;
    let mut all = vec![("host", host.as_str())];
    all.extend_from_slice(headers);
    let signable = SignableRequest::new("POST", &url, all.iter().copied(), SignableBody::Bytes(&bytes))
        .context("signing the request")?;
    let (instructions, _) = sign(signable, &params).context("signing the request")?.into_parts();
    let mut request = http::Request::builder().method("POST").uri(&url);
    for (name, value) in &all {
        request = request.header(*name, *value);
    }
    let mut request = request.body(()).context("building the request")?;
    instructions.apply_to_request_http1x(&mut request);
    let response = http
        .post(&url)
        .headers(request.headers().clone())
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("calling {what} at {endpoint}"))?;
    let status = response.status();
    let text = response.text().await.with_context(|| format!("reading the answer to {what}"))?;
    Ok((status, text))
}
