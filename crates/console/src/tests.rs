//! The console's routes against a stand-in API router (the end-to-end test, `crates/berth/tests/console_ui.rs`,
//! runs them on the real one in Chromium): the root redirect, the session gate, the sign-in form's token, the
//! cookie's attributes, sign-out's CSRF check and the embedded assets.

use super::*;
use axum::body::Body;
use tower::ServiceExt;

/// Answers STS GetCallerIdentity for requests signed with the key `AKIAGOOD` (by the credential the
/// `Authorization` header names) and an AWS query error for any other key.
fn api() -> Router {
    Router::new().route(
        "/",
        post(|request: Request| async move {
            let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
            if auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAGOOD/") && auth.contains("/us-east-1/sts/aws4_request") {
                let xml = "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::1:user/alice</Arn>\
                           </GetCallerIdentityResult></GetCallerIdentityResponse>";
                (StatusCode::OK, xml)
            } else {
                let xml = "<ErrorResponse><Error><Code>InvalidClientTokenId</Code><Message>no such key</Message></Error>\
                           </ErrorResponse>";
                (StatusCode::FORBIDDEN, xml)
            }
        }),
    )
}

fn console() -> Router {
    router(ConsoleSettings {
        api: api(),
        clock: Arc::new(berth_model::clock::SystemClock),
        region: "us-east-1".into(),
        root: Keys { access_key_id: "AKIAGOOD".into(), secret_access_key: "s".into(), session_token: None },
        password: Some("open sesame".into()),
        tls: true,
    })
}

async fn send(app: &Router, request: http::Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str, cookie: Option<&str>) -> http::Request<Body> {
    let mut request = http::Request::get(path).header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

fn post_form(path: &str, cookie: &str, form: &str) -> http::Request<Body> {
    http::Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(form.to_string()))
        .unwrap()
}

/// The `name=value` of a Set-Cookie header for `name`.
fn set_cookie(headers: &http::HeaderMap, name: &str) -> String {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {headers:?}"))
}

/// The sign-in form's token cookie and field value.
async fn sign_in_token(app: &Router) -> String {
    let (status, headers, body) = send(app, get("/ui/sign-in", None)).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = set_cookie(&headers, web::SIGN_IN_COOKIE);
    let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
    assert!(body.contains(&format!("name=\"signin\" value=\"{token}\"")), "{body}");
    token
}

#[tokio::test]
async fn get_root_sends_browsers_to_the_console_and_others_get_405() {
    let app = console();
    let (status, headers, _) = send(&app, get("/", None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui");
    let (status, headers, _) = send(&app, http::Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
}

#[tokio::test]
async fn pages_without_a_session_go_to_the_sign_in_form() {
    let app = console();
    for path in ["/ui/clusters", "/ui/clusters/default/services/web", "/ui/registry/a/b", "/ui/load-balancers"] {
        let (status, headers, _) = send(&app, get(path, Some("berth_console=00ff"))).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], "/ui/sign-in", "{path}");
    }
    let (status, headers, _) = send(&app, get("/ui", None)).await;
    assert_eq!((status, &headers[header::LOCATION]), (StatusCode::SEE_OTHER, &"/ui/clusters".parse().unwrap()));
}

#[tokio::test]
async fn sign_in_checks_the_form_token_and_the_key_then_sets_a_strict_http_only_cookie() {
    let app = console();
    let token = sign_in_token(&app).await;
    let cookie = format!("{}={token}", web::SIGN_IN_COOKIE);
    let keys = |id: &str| format!("signin={token}&access_key_id={id}&secret_access_key=x");
    // Without the token cookie, or with another token: login CSRF.
    let (status, _, _) = send(&app, post_form("/ui/sign-in", "", &keys("AKIAGOOD"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) =
        send(&app, post_form("/ui/sign-in", &format!("{}=other", web::SIGN_IN_COOKIE), &keys("AKIAGOOD"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A key the API refuses.
    let (status, _, body) = send(&app, post_form("/ui/sign-in", &cookie, &keys("AKIABAD"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Sign-in failed: InvalidClientTokenId: no such key"), "{body}");
    let (status, _, body) =
        send(&app, post_form("/ui/sign-in", &cookie, &format!("signin={token}&access_key_id=A"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A key it accepts.
    let (status, headers, _) = send(&app, post_form("/ui/sign-in", &cookie, &keys("AKIAGOOD"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/clusters");
    let session = set_cookie(&headers, web::SESSION_COOKIE);
    let (pair, attributes) = session.split_once(';').unwrap();
    assert_eq!(pair.len(), web::SESSION_COOKIE.len() + 1 + 64, "{session}");
    assert_eq!(attributes, " Path=/ui; HttpOnly; SameSite=Strict; Secure");
    // The session opens the sign-out form, which needs its CSRF token.
    let (status, _, body) = send(&app, get("/ui/no-such-page", Some(pair))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, _) = send(&app, post_form("/ui/sign-out", pair, "csrf=wrong")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(send(&app, get("/ui/registry/x", Some(pair))).await.0, StatusCode::BAD_GATEWAY, "still signed in");
}

#[tokio::test]
async fn the_console_password_signs_in_as_the_root() {
    let app = console();
    let token = sign_in_token(&app).await;
    let cookie = format!("{}={token}", web::SIGN_IN_COOKIE);
    let (status, _, body) =
        send(&app, post_form("/ui/sign-in", &cookie, &format!("signin={token}&password=guess"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("the console password is wrong"), "{body}");
    let (status, headers, _) =
        send(&app, post_form("/ui/sign-in", &cookie, &format!("signin={token}&password=open+sesame"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    set_cookie(&headers, web::SESSION_COOKIE);
}

#[tokio::test]
async fn assets_are_embedded_and_carry_the_csp() {
    let app = console();
    for (name, content_type) in [("console.css", "text/css"), ("console.js", "text/javascript")] {
        let (status, headers, body) = send(&app, get(&format!("/ui/assets/{name}"), None)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with(content_type));
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], html::CSP);
        assert!(!body.contains("http://") && !body.contains("https://"), "{name} loads nothing from elsewhere");
    }
    assert_eq!(send(&app, get("/ui/assets/other.js", None)).await.0, StatusCode::NOT_FOUND);
}
