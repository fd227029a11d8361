//! Blue/green deployments' webhook hooks over HTTP: where ECS invokes a Lambda function, Berth POSTs the same
//! payload as JSON to the `http://` URL the hook names and reads its answer (`hookStatus`, `callBackDelay`,
//! `hookDetails`) from the JSON body of a 2xx reply.

use berth_control::services::blue_green::effects::HookCaller;
use futures::future::BoxFuture;
use std::time::Duration;

/// How long one webhook call may take (a Lambda hook that needs longer answers IN_PROGRESS and is called again).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest reply read, in bytes.
const MAX_REPLY: usize = 64 * 1024;

/// Calls webhook hooks with an HTTP client.
pub struct HttpHookCaller {
    client: reqwest::Client,
}

impl HttpHookCaller {
    /// A caller with its own client (no redirects followed: a hook answers where it is named).
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("building the webhook hook client: {e}"))?;
        Ok(Self { client })
    }
}

impl HookCaller for HttpHookCaller {
    fn call(&self, url: String, payload: serde_json::Value) -> BoxFuture<'_, Result<serde_json::Value, String>> {
        Box::pin(async move {
            let response =
                self.client.post(&url).json(&payload).send().await.map_err(|e| format!("POST {url}: {e}"))?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| format!("reading the reply of {url}: {e}"))?;
            if !status.is_success() {
                return Err(format!("{url} answered HTTP {}", status.as_u16()));
            }
            if body.len() > MAX_REPLY {
                return Err(format!("{url} answered more than {MAX_REPLY} bytes"));
            }
            serde_json::from_slice(&body).map_err(|e| format!("{url} answered no JSON object: {e}"))
        })
    }
}
