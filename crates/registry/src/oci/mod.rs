//! The OCI Distribution API (v1.1) under `/v2/`, plus the Docker token endpoint `/v2/token`.
//!
//! Repository names contain slashes, so routing is done here on the path's tail rather than by the router:
//! `<name>/blobs/uploads/[<id>]`, `<name>/blobs/<digest>`, `<name>/manifests/<ref>`, `<name>/tags/list`,
//! `<name>/referrers/<digest>`, `_catalog`. Every request is authenticated first; handlers are thin: they parse
//! the HTTP request, call one registry function and render its result or error.

mod blobs;
mod catalog;
mod errors;
mod manifests;
mod referrers;
mod tags;
mod token;
mod uploads;

use crate::Registry;
use crate::auth::{Claims, Credentials};
use crate::error::RegistryError;
use crate::storage::ByteStream;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use std::sync::Arc;

pub(crate) use errors::error_response;
#[cfg(test)]
pub(crate) use errors::status_and_code;

/// The router for `/v2/`.
pub(crate) fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*path}", any(dispatch))
        .with_state(registry)
}

/// A parsed `/v2/` route.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Base,
    Token,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Referrers(String, String),
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/v2").unwrap_or(path);
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        match rest {
            "" => return Some(Route::Base),
            "token" => return Some(Route::Token),
            "_catalog" => return Some(Route::Catalog),
            _ => {}
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Some(Route::Tags(name.to_string()));
        }
        if let Some(name) = rest.strip_suffix("/blobs/uploads/").or_else(|| rest.strip_suffix("/blobs/uploads")) {
            return Some(Route::UploadStart(name.to_string()));
        }
        let (head, last) = rest.rsplit_once('/')?;
        if last.is_empty() {
            return None;
        }
        if let Some(name) = head.strip_suffix("/blobs/uploads") {
            return Some(Route::Upload(name.to_string(), last.to_string()));
        }
        if let Some(name) = head.strip_suffix("/blobs") {
            return Some(Route::Blob(name.to_string(), last.to_string()));
        }
        if let Some(name) = head.strip_suffix("/manifests") {
            return Some(Route::Manifest(name.to_string(), last.to_string()));
        }
        if let Some(name) = head.strip_suffix("/referrers") {
            return Some(Route::Referrers(name.to_string(), last.to_string()));
        }
        None
    }

    fn repository(&self) -> Option<&str> {
        match self {
            Route::Base | Route::Token | Route::Catalog => None,
            Route::Tags(n)
            | Route::Manifest(n, _)
            | Route::Blob(n, _)
            | Route::UploadStart(n)
            | Route::Upload(n, _)
            | Route::Referrers(n, _) => Some(n),
        }
    }
}

/// The query parameters of a request, decoded, in order.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn of(request: &Request) -> Query {
        let pairs =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(request.uri()).map(|q| q.0).unwrap_or_default();
        Query(pairs)
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

async fn dispatch(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    let mut response = route(&registry, request).await;
    response.headers_mut().insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
    response
}

async fn route(registry: &Arc<Registry>, request: Request) -> Response {
    let Some(route) = Route::parse(request.uri().path()) else {
        return error_response(&RegistryError::RepositoryNotFound { name: request.uri().path().into() });
    };
    if route == Route::Token {
        return token::handle(registry, &request);
    }
    let query = Query::of(&request);
    let method = request.method().clone();
    let claims = match authorize(registry, &route, &method, request.headers(), &query) {
        Ok(claims) => claims,
        Err(e) => return error_response(&e).into_challenge(registry, &route, &method),
    };
    if let Some(name) = route.repository()
        && let Some(reason) = crate::names::repository_name_problem(name)
    {
        return error_response(&RegistryError::InvalidName { reason });
    }
    if matches!((&route, &method), (Route::UploadStart(_), &Method::POST) | (Route::Manifest(..), &Method::PUT))
        && let Some(name) = route.repository()
        && let Err(e) = registry.create_on_push(name, &claims.ak).await
    {
        return error_response(&e);
    }
    let result = match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(json_response(StatusCode::OK, b"{}".to_vec())),
        (Route::Catalog, Method::GET) => catalog::list(registry, &query),
        (Route::Tags(name), Method::GET) => tags::list(registry, &name, &query),
        (Route::Referrers(name, digest), Method::GET) => referrers::list(registry, &name, &digest, &query),
        (Route::Manifest(name, reference), Method::GET) => {
            manifests::get(registry, &name, &reference, true, &claims.ak, &claims.sub).await
        }
        (Route::Manifest(name, reference), Method::HEAD) => {
            manifests::get(registry, &name, &reference, false, &claims.ak, &claims.sub).await
        }
        (Route::Manifest(name, reference), Method::PUT) => {
            manifests::put(registry, &name, &reference, &query, request).await
        }
        (Route::Manifest(name, reference), Method::DELETE) => manifests::delete(registry, &name, &reference).await,
        (Route::Blob(name, digest), Method::GET) => {
            blobs::get(registry, &name, &digest, request.headers(), true, &claims.ak).await
        }
        (Route::Blob(name, digest), Method::HEAD) => {
            blobs::get(registry, &name, &digest, request.headers(), false, &claims.ak).await
        }
        (Route::Blob(_, _), Method::DELETE) => Err(RegistryError::Denied {
            reason: "blobs are deleted by garbage collection once no manifest references them".into(),
        }),
        (Route::UploadStart(name), Method::POST) => uploads::start(registry, &name, &query, request).await,
        (Route::Upload(name, id), Method::GET) => uploads::status(registry, &name, &id).await,
        (Route::Upload(name, id), Method::PATCH) => uploads::patch(registry, &name, &id, request).await,
        (Route::Upload(name, id), Method::PUT) => uploads::put(registry, &name, &id, &query, request).await,
        (Route::Upload(name, id), Method::DELETE) => uploads::cancel(registry, &name, &id).await,
        _ => return method_not_allowed(),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

fn method_not_allowed() -> Response {
    let body = br#"{"errors":[{"code":"UNSUPPORTED","message":"the operation is unsupported"}]}"#.to_vec();
    json_response(StatusCode::METHOD_NOT_ALLOWED, body)
}

/// Checks the request's credentials against what the route needs.
fn authorize(
    registry: &Registry,
    route: &Route,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
) -> Result<Claims, RegistryError> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let credentials = Credentials::parse(header)?;
    let push = !matches!(*method, Method::GET | Method::HEAD);
    // Layer download URLs (GetDownloadUrlForLayer) carry a token scoped to one blob in the query.
    if let (Credentials::None, Route::Blob(name, digest), false, Some(token)) =
        (&credentials, route, push, query.get("X-Berth-Token"))
    {
        let claims = registry.auth.verify(token, registry.now())?;
        if claims.blob.as_deref() == Some(digest.as_str()) && claims.allows(Some(name), false) {
            return Ok(claims);
        }
        return Err(RegistryError::Denied { reason: "the download URL is for another layer".into() });
    }
    let token = credentials.token().ok_or_else(|| RegistryError::Unauthorized { reason: "no credentials".into() })?;
    if let Credentials::Basic { user, .. } = &credentials
        && user != crate::auth::USER
    {
        return Err(RegistryError::Unauthorized { reason: format!("log in as user {}", crate::auth::USER) });
    }
    let claims = registry.auth.verify(token, registry.now())?;
    if claims.acct != registry.config.account_id || claims.blob.is_some() {
        return Err(RegistryError::Unauthorized { reason: "the token is not for this registry".into() });
    }
    if !claims.allows(route.repository(), push) {
        return Err(RegistryError::Denied {
            reason: format!("the credentials do not allow {} access", if push { "push" } else { "pull" }),
        });
    }
    if let Some(action) = ecr_action(route, method) {
        registry.check_access(&claims.ak, action, route.repository())?;
    }
    Ok(claims)
}

/// The ECR API action a `/v2/` request stands for, as IAM policies name it.
fn ecr_action(route: &Route, method: &Method) -> Option<&'static str> {
    Some(match (route, method) {
        (Route::Base | Route::Token, _) => return None,
        (Route::Catalog, _) => "ecr:DescribeRepositories",
        (Route::Tags(_), _) | (Route::Referrers(..), _) => "ecr:ListImages",
        (Route::Manifest(..), &Method::GET | &Method::HEAD) => "ecr:BatchGetImage",
        (Route::Manifest(..), &Method::DELETE) => "ecr:BatchDeleteImage",
        (Route::Manifest(..), _) => "ecr:PutImage",
        (Route::Blob(..), &Method::HEAD) => "ecr:BatchCheckLayerAvailability",
        (Route::Blob(..), &Method::GET) => "ecr:GetDownloadUrlForLayer",
        (Route::Blob(..), _) => "ecr:BatchDeleteImage",
        (Route::UploadStart(_), _) => "ecr:InitiateLayerUpload",
        (Route::Upload(..), &Method::PUT) => "ecr:CompleteLayerUpload",
        (Route::Upload(..), _) => "ecr:UploadLayerPart",
    })
}

trait Challenge {
    fn into_challenge(self, registry: &Registry, route: &Route, method: &Method) -> Response;
}

impl Challenge for Response {
    /// Adds the Docker token-auth challenge to a 401.
    fn into_challenge(mut self, registry: &Registry, route: &Route, method: &Method) -> Response {
        if self.status() != StatusCode::UNAUTHORIZED {
            return self;
        }
        let endpoint = &registry.config.public_endpoint;
        let scheme = &registry.config.public_scheme;
        let mut challenge = format!("Bearer realm=\"{scheme}://{endpoint}/v2/token\",service=\"{endpoint}\"");
        if let Some(name) = route.repository() {
            let actions = if matches!(*method, Method::GET | Method::HEAD) { "pull" } else { "pull,push" };
            challenge.push_str(&format!(",scope=\"repository:{name}:{actions}\""));
        }
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            self.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        self
    }
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An empty response with a status.
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// Sets a header from text (skipped if the text is not a valid header value, which our values always are).
pub(crate) fn set(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

/// A request body as a byte stream.
pub(crate) fn body_stream(request: Request) -> ByteStream {
    Box::pin(request.into_body().into_data_stream().map(|r| r.map_err(std::io::Error::other)))
}

/// The declared Content-Length.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// The `Link` header for the next page of a listing.
pub(crate) fn next_link(path: &str, n: usize, last: &str) -> String {
    format!("<{path}?n={n}&last={last}>; rel=\"next\"")
}

/// Parses `n` and `last` paging parameters.
pub(crate) fn paging(query: &Query) -> Result<(Option<usize>, Option<String>), RegistryError> {
    let n = match query.get("n") {
        None | Some("") => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| RegistryError::InvalidParameter {
            reason: format!("n={v:?} is not a non-negative integer"),
        })?),
    };
    Ok((n, query.get("last").filter(|l| !l.is_empty()).map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_from_the_tail() {
        let d = "sha256:abc";
        assert_eq!(Route::parse("/v2/"), Some(Route::Base));
        assert_eq!(Route::parse("/v2"), Some(Route::Base));
        assert_eq!(Route::parse("/v2/token"), Some(Route::Token));
        assert_eq!(Route::parse("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(Route::parse("/v2/a/b/tags/list"), Some(Route::Tags("a/b".into())));
        assert_eq!(Route::parse("/v2/a/b/manifests/latest"), Some(Route::Manifest("a/b".into(), "latest".into())));
        assert_eq!(Route::parse(&format!("/v2/app/blobs/{d}")), Some(Route::Blob("app".into(), d.into())));
        assert_eq!(Route::parse("/v2/app/blobs/uploads/"), Some(Route::UploadStart("app".into())));
        assert_eq!(Route::parse("/v2/app/blobs/uploads"), Some(Route::UploadStart("app".into())));
        assert_eq!(Route::parse("/v2/app/blobs/uploads/u1"), Some(Route::Upload("app".into(), "u1".into())));
        assert_eq!(Route::parse(&format!("/v2/x/referrers/{d}")), Some(Route::Referrers("x".into(), d.into())));
        assert_eq!(
            Route::parse("/v2/a/manifests/b/manifests/v1"),
            Some(Route::Manifest("a/manifests/b".into(), "v1".into()))
        );
        assert_eq!(Route::parse("/v2/app/unknown/x"), None);
        assert_eq!(Route::parse("/v2/app/manifests/"), None);
    }
}
