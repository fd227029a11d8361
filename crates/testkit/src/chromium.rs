//! Headless Chromium for the web console's end-to-end tests, driven over the DevTools protocol with a small client
//! of our own (a WebSocket and JSON messages): launch, navigate, run script in the page, wait for a condition,
//! read cookies, record every request the page makes, and take screenshots.
//!
//! Chromium is Debian's `chromium` package (`CHROMIUM` names another binary). It runs with `--headless=new
//! --no-sandbox` on a throwaway profile and `--remote-debugging-port=0`; the DevTools address is read from its
//! standard error. The client attaches to one page target (flattened sessions) and collects the events it does
//! not wait for, so tests can look at the page's requests (`Network.requestWillBeSent`).

// Waiting on a real browser: the deadline is real time by nature (the testkit may read the clock; clippy.toml).
#![allow(clippy::disallowed_methods)]

use crate::TestkitError;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long one DevTools call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A headless Chromium with one page.
pub struct Chromium {
    child: Child,
    _profile: tempfile::TempDir,
    socket: Socket,
    session: String,
    next_id: u64,
    /// Every event received so far, in order.
    pub events: Vec<Value>,
}

fn error(context: &str, detail: impl std::fmt::Display) -> TestkitError {
    TestkitError::Browser { context: context.to_string(), message: detail.to_string() }
}

impl Chromium {
    /// Starts Chromium and opens a page (1280x900). Fails loudly when Chromium is not installed.
    pub async fn launch() -> Result<Self, TestkitError> {
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let profile = tempfile::tempdir().map_err(|e| TestkitError::io("a Chromium profile dir", &e))?;
        let mut child = Command::new(&binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| error(&format!("starting {binary} (apt-get install chromium; tools/test installs it)"), e))?;
        let stderr = child.stderr.take().ok_or_else(|| error("Chromium", "no standard error"))?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Reads Chromium's standard error to its end (so the pipe never fills), handing over the DevTools address.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_string());
                    sent = true;
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                return Err(error("Chromium", "printed no DevTools address within 30 s"));
            }
        };
        let (socket, _) =
            tokio_tungstenite::connect_async(url.as_str()).await.map_err(|e| error("connecting to DevTools", e))?;
        let mut browser =
            Chromium { child, _profile: profile, socket, session: String::new(), next_id: 0, events: Vec::new() };
        let target = browser.browser_call("Target.createTarget", json!({ "url": "about:blank" })).await?;
        let target_id = target["targetId"].as_str().ok_or_else(|| error("Target.createTarget", &target))?.to_string();
        let attached =
            browser.browser_call("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true })).await?;
        browser.session =
            attached["sessionId"].as_str().ok_or_else(|| error("Target.attachToTarget", &attached))?.to_string();
        for domain in ["Page.enable", "Network.enable", "Runtime.enable"] {
            browser.call(domain, json!({})).await?;
        }
        browser.call("Page.setLifecycleEventsEnabled", json!({ "enabled": true })).await?;
        browser
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({ "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
            )
            .await?;
        Ok(browser)
    }

    /// Sends a command (to the page's session, or to the browser with `session` empty) and waits for its answer.
    async fn send(&mut self, session: Option<String>, method: &str, params: Value) -> Result<Value, TestkitError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket.send(Message::text(message.to_string())).await.map_err(|e| error(method, e))?;
        loop {
            let message = self.next_message(method).await?;
            if message.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(e) = message.get("error") {
                    return Err(error(method, e));
                }
                return Ok(message.get("result").cloned().unwrap_or(Value::Null));
            }
            self.events.push(message);
        }
    }

    /// The next message from Chromium.
    async fn next_message(&mut self, context: &str) -> Result<Value, TestkitError> {
        loop {
            let frame = tokio::time::timeout(CALL_TIMEOUT, self.socket.next())
                .await
                .map_err(|_| error(context, "Chromium did not answer within 30 s"))?
                .ok_or_else(|| error(context, "the DevTools connection closed"))?
                .map_err(|e| error(context, e))?;
            if let Message::Text(text) = frame {
                return serde_json::from_str(text.as_str()).map_err(|e| error(context, e));
            }
        }
    }

    async fn browser_call(&mut self, method: &str, params: Value) -> Result<Value, TestkitError> {
        self.send(None, method, params).await
    }

    /// A DevTools command on the page; its result.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, TestkitError> {
        let session = self.session.clone();
        self.send(Some(session), method, params).await
    }

    /// Waits for an event matching `wanted` among those after the first `since`; `what` names it in errors.
    async fn wait_event(
        &mut self,
        what: &str,
        since: usize,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<Value, TestkitError> {
        let started = std::time::Instant::now();
        loop {
            if let Some(found) = self.events[since.min(self.events.len())..].iter().find(|e| wanted(e)) {
                return Ok(found.clone());
            }
            if started.elapsed() > timeout {
                return Err(error(what, format!("no such event within {timeout:?}")));
            }
            let message = self.next_message(what).await?;
            self.events.push(message);
        }
    }

    /// Reads every event Chromium sent before now (a round trip), so that waits start after them: a page that
    /// reloads itself (the console's auto-refresh) leaves load events behind that must not end the next wait.
    async fn settle(&mut self) -> Result<usize, TestkitError> {
        self.call("Runtime.evaluate", json!({ "expression": "1", "returnByValue": true })).await?;
        Ok(self.events.len())
    }

    /// Waits until the document of the navigation `loader_id` has fired its load event.
    async fn wait_loaded(&mut self, since: usize, loader_id: &str) -> Result<(), TestkitError> {
        let loaded = |e: &Value| {
            e["method"] == "Page.lifecycleEvent"
                && e["params"]["name"] == "load"
                && e["params"]["loaderId"] == loader_id
        };
        self.wait_event("the page's load event", since, CALL_TIMEOUT, loaded).await.map(|_| ())
    }

    /// Loads `url` and waits for its load event.
    pub async fn navigate(&mut self, url: &str) -> Result<(), TestkitError> {
        let since = self.settle().await?;
        let answer = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(problem) = answer.get("errorText").and_then(Value::as_str) {
            return Err(error(&format!("loading {url}"), problem));
        }
        let loader_id = answer["loaderId"].as_str().ok_or_else(|| error("Page.navigate", &answer))?.to_string();
        self.wait_loaded(since, &loader_id).await
    }

    /// Runs `expression` in the page (promises awaited); its value.
    pub async fn eval(&mut self, expression: &str) -> Result<Value, TestkitError> {
        let answer = self
            .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }))
            .await?;
        if let Some(exception) = answer.get("exceptionDetails") {
            return Err(error(&format!("evaluating {expression}"), exception));
        }
        Ok(answer["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Runs `script` (which navigates: a click on a submit button, a form's submit) and waits for the next load.
    pub async fn submit(&mut self, script: &str) -> Result<(), TestkitError> {
        let since = self.settle().await?;
        self.eval(script).await?;
        let main_frame =
            |e: &Value| e["method"] == "Page.frameNavigated" && e["params"]["frame"].get("parentId").is_none();
        let navigated = self.wait_event("the main frame's navigation", since, CALL_TIMEOUT, main_frame).await?;
        let loader_id = navigated["params"]["frame"]["loaderId"].as_str().unwrap_or_default().to_string();
        self.wait_loaded(since, &loader_id).await
    }

    /// The page's URL.
    pub async fn location(&mut self) -> Result<String, TestkitError> {
        Ok(self.eval("location.href").await?.as_str().unwrap_or_default().to_string())
    }

    /// The page's visible text.
    pub async fn text(&mut self) -> Result<String, TestkitError> {
        Ok(self.eval("document.body ? document.body.innerText : ''").await?.as_str().unwrap_or_default().to_string())
    }

    /// The HTTP status of the main document's last response.
    pub fn last_document_status(&self) -> Option<u64> {
        self.events
            .iter()
            .rev()
            .find(|e| e["method"] == "Network.responseReceived" && e["params"]["type"] == "Document")
            .and_then(|e| e["params"]["response"]["status"].as_u64())
    }

    /// Every URL the page has requested so far (`Network.requestWillBeSent`).
    pub fn requested_urls(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_string))
            .collect()
    }

    /// The browser's cookies for `url`.
    pub async fn cookies(&mut self, url: &str) -> Result<Vec<Value>, TestkitError> {
        let answer = self.call("Network.getCookies", json!({ "urls": [url] })).await?;
        Ok(answer["cookies"].as_array().cloned().unwrap_or_default())
    }

    /// A PNG of the page (the whole page, not just the window) at `path`.
    pub async fn screenshot(&mut self, path: &Path) -> Result<(), TestkitError> {
        use base64::Engine;
        let answer =
            self.call("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true })).await?;
        let data = answer["data"].as_str().ok_or_else(|| error("Page.captureScreenshot", "no data"))?;
        let png = base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| error("a screenshot", e))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| TestkitError::io(dir.display().to_string(), &e))?;
        }
        std::fs::write(path, png).map_err(|e| TestkitError::io(path.display().to_string(), &e))
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
