//! Berth's web console at `/ui`, on the API's own listener.
//!
//! # Background
//! People who do not live in a terminal want to see clusters, services, tasks, images and load balancers, and to
//! scale or redeploy a service, from a browser. The console is that, with the API's own access control: a browser
//! signs in with an access key pair (an IAM user's, or the root's) or with the console password the operator set
//! (`--console-password-file`: that signs in as the root), and every page and action is an API call signed with
//! that principal's keys. A read-only IAM user sees the pages and is refused Scale with the API's own
//! `AccessDeniedException`.
//!
//! # Design
//! - [`client`]: each call is SigV4-signed with the session's keys and handed in-process to the API router the
//!   listener serves (not over the network): so it passes signature verification, the principal's throttle and
//!   the one authorization hook exactly as an aws CLI call would, and a TLS listener needs no trust set-up.
//! - [`session`]: sessions in memory (random 256-bit ids, idle and absolute expiry, a CSRF token each). The cookie
//!   is `HttpOnly; SameSite=Strict; Path=/ui` and `Secure` on a TLS listener. Every POST checks the session's CSRF
//!   token; the sign-in form double-submits a token cookie instead (there is no session yet).
//! - [`pages`]: server-rendered HTML (hand-written, every value through [`html::esc`]); charts are SVG drawn on the
//!   server ([`chart`]); the CSS and a little JavaScript (auto-refresh) are embedded in the binary. A strict
//!   Content-Security-Policy (`default-src 'self'`, no inline script or style) keeps every request on the listener.
//! - `GET /` redirects a browser (`Accept: text/html`) to `/ui`; other `GET /`s are answered as before (405).
//!
//! # Limitations
//! Sessions do not survive a restart of the server. Lists are read to a bound (ECS: 50 pages of 100). The charts
//! show the last hour at one-minute resolution; there is no range picker. The console does not create or
//! delete resources: it shows them, scales services and forces new deployments.

pub mod chart;
pub mod client;
pub mod html;
mod pages;
pub mod session;
pub mod web;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_model::clock::Clock;
use client::{Api, Keys};
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// What the console needs.
pub struct ConsoleSettings {
    /// The API router the listener serves (without the console): the console's calls go through it.
    pub api: Router,
    /// The server's clock (session expiry, signing times).
    pub clock: Arc<dyn Clock>,
    /// The region signatures are scoped to.
    pub region: String,
    /// The root key pair, which the console password signs in as.
    pub root: Keys,
    /// The console password (`--console-password-file`); without it only key pairs sign in.
    pub password: Option<String>,
    /// Whether the listener serves HTTPS (cookies get `Secure`).
    pub tls: bool,
}

/// The console's shared state.
#[derive(Clone)]
pub(crate) struct Console {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) api: Api,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sessions: session::Sessions,
    pub(crate) root: Keys,
    pub(crate) password: Option<String>,
    pub(crate) tls: bool,
}

impl std::ops::Deref for Console {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// The console's routes: `/ui/...` and `GET /` (a browser's redirect). Merge it into the API router.
pub fn router(settings: ConsoleSettings) -> Router {
    let console = Console {
        inner: Arc::new(Inner {
            api: Api::new(settings.api, settings.clock.clone(), settings.region),
            clock: settings.clock,
            sessions: session::Sessions::default(),
            root: settings.root,
            password: settings.password.filter(|p| !p.is_empty()),
            tls: settings.tls,
        }),
    };
    Router::new()
        .route("/", get(root))
        .route("/ui", get(home))
        .route("/ui/", get(home))
        .route("/ui/assets/{name}", get(asset))
        .route("/ui/sign-in", get(pages::sign_in::form).post(pages::sign_in::submit))
        .route("/ui/sign-out", post(pages::sign_in::sign_out))
        .route("/ui/clusters", get(pages::clusters::list))
        .route("/ui/clusters/{cluster}", get(pages::cluster::show))
        .route("/ui/clusters/{cluster}/services/{service}", get(pages::service::show))
        .route("/ui/clusters/{cluster}/services/{service}/scale", post(pages::service::scale))
        .route("/ui/clusters/{cluster}/services/{service}/redeploy", post(pages::service::redeploy))
        .route("/ui/clusters/{cluster}/tasks/{task}", get(pages::task::show))
        .route("/ui/registry", get(pages::registry::list))
        .route("/ui/registry/{*repository}", get(pages::registry::repository))
        .route("/ui/load-balancers", get(pages::load_balancers::list))
        .route("/ui/{*rest}", get(pages::not_found))
        .with_state(console)
}

/// `GET /`: a browser goes to the console; anything else gets what it got before the console existed (405: the
/// API takes `POST /`).
async fn root(request: Request) -> Response {
    if web::wants_html(request.headers()) {
        return html::redirect("/ui");
    }
    let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// `/ui`: the clusters (or the sign-in form, which the clusters page sends a browser without a session to).
async fn home() -> Response {
    html::redirect("/ui/clusters")
}

/// The embedded stylesheet.
const CSS: &str = include_str!("../assets/console.css");
/// The embedded script.
const JS: &str = include_str!("../assets/console.js");

/// `/ui/assets/<name>`: the embedded CSS and script.
async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (content_type, body) = match name.as_str() {
        "console.css" => ("text/css; charset=utf-8", CSS),
        "console.js" => ("text/javascript; charset=utf-8", JS),
        _ => return pages::not_found_page(),
    };
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    html::secure(&mut response);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    response
}

#[cfg(test)]
mod tests;
