//! Signing in and out. A key pair is checked by calling STS GetCallerIdentity with it (through the API, as every
//! console call): what the API accepts, the console accepts, and the principal's ARN is what it answers. The
//! console password signs in with the root key pair. The sign-in form double-submits a random token in a cookie
//! and a hidden field (login CSRF); a failed password costs half a second.

use super::SignedIn;
use crate::client::{Caller, Keys, Origin, aws};
use crate::html::{self, Chrome, Section, esc};
use crate::session::{random_token, same_secret};
use crate::{Console, web};
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use std::time::Duration;

/// How long the sign-in form's token cookie lives.
const SIGN_IN_TOKEN_SECONDS: u64 = 3600;
/// The longest access key id, secret or session token accepted.
const MAX_KEY_BYTES: usize = 4096;
/// How long a wrong console password waits before its answer.
const WRONG_PASSWORD_DELAY: Duration = Duration::from_millis(500);

/// `GET /ui/sign-in`.
pub(crate) async fn form(State(console): State<Console>) -> Response {
    render(&console, StatusCode::OK, None)
}

/// The sign-in page with a fresh form token, and an error when the last attempt failed.
fn render(console: &Console, status: StatusCode, error: Option<&str>) -> Response {
    let token = random_token();
    let error = error
        .map(|e| format!("<div class=\"error\" role=\"alert\" id=\"sign-in-error\"><strong>{}</strong></div>", esc(e)));
    let hidden = format!("<input type=\"hidden\" name=\"signin\" value=\"{}\">", esc(&token));
    let password = if console.password.is_some() {
        format!(
            "<form method=\"post\" action=\"/ui/sign-in\" class=\"card\" id=\"password-form\">{hidden}\
             <h2>Console password</h2><p>Signs in as the account's root.</p>\
             <label>Password <input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"current-password\" required></label>\
             <button type=\"submit\">Sign in</button></form>"
        )
    } else {
        String::new()
    };
    let body = format!(
        "{error}<div class=\"sign-in\"><form method=\"post\" action=\"/ui/sign-in\" class=\"card\" id=\"keys-form\">{hidden}\
         <h2>Access key</h2><p>An IAM user's access key pair, or the root's (<code>berth up</code> prints it).</p>\
         <label>Access key ID <input name=\"access_key_id\" id=\"access_key_id\" autocomplete=\"username\" required></label>\
         <label>Secret access key <input type=\"password\" name=\"secret_access_key\" id=\"secret_access_key\" autocomplete=\"current-password\" required></label>\
         <label>Session token (temporary credentials only) <input name=\"session_token\" id=\"session_token\"></label>\
         <button type=\"submit\" id=\"sign-in\">Sign in</button></form>{password}</div>",
        error = error.unwrap_or_default(),
    );
    let chrome = Chrome { title: "Sign in to Berth", section: Section::SignIn, signed_in: None, refresh: false };
    let mut response = html::respond(status, html::document(&chrome, &body));
    let cookie = web::set_cookie(web::SIGN_IN_COOKIE, &token, console.tls, Some(SIGN_IN_TOKEN_SECONDS));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /ui/sign-in`.
pub(crate) async fn submit(State(console): State<Console>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let form = match web::read_form(&parts.headers, body).await {
        Ok(form) => form,
        Err(e) => return super::bad_form(&e),
    };
    let cookie = web::cookie(&parts.headers, web::SIGN_IN_COOKIE).unwrap_or_default();
    match form.get("signin") {
        Some(token) if !cookie.is_empty() && same_secret(token, cookie) => {}
        _ => return super::forbidden_form(),
    }
    let origin = Origin::of(&parts.extensions);
    let field = |name: &str| form.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let keys = if let Some(password) = form.get("password") {
        match &console.password {
            Some(expected) if same_secret(password, expected) => console.root.clone(),
            Some(_) => {
                tokio::time::sleep(WRONG_PASSWORD_DELAY).await;
                return render(
                    &console,
                    StatusCode::UNAUTHORIZED,
                    Some("Sign-in failed: the console password is wrong."),
                );
            }
            None => {
                return render(
                    &console,
                    StatusCode::UNAUTHORIZED,
                    Some("Sign-in failed: this server has no console password (berth server --console-password-file)."),
                );
            }
        }
    } else {
        let (Some(access_key_id), Some(secret_access_key)) = (field("access_key_id"), field("secret_access_key"))
        else {
            return render(
                &console,
                StatusCode::BAD_REQUEST,
                Some("Sign-in failed: give an access key ID and its secret."),
            );
        };
        let session_token = field("session_token");
        let too_long = [Some(&access_key_id), Some(&secret_access_key), session_token.as_ref()]
            .into_iter()
            .flatten()
            .any(|v| v.len() > MAX_KEY_BYTES);
        if too_long {
            return render(&console, StatusCode::BAD_REQUEST, Some("Sign-in failed: the key is too long."));
        }
        Keys { access_key_id, secret_access_key, session_token }
    };
    let principal = match aws::caller_identity(&console.api, Caller { keys: &keys, origin: &origin }).await {
        Ok(arn) => arn,
        Err(e) => {
            let status = if e.status().is_client_error() { StatusCode::UNAUTHORIZED } else { e.status() };
            return render(&console, status, Some(&format!("Sign-in failed: {e}")));
        }
    };
    tracing::info!(%principal, "console sign-in");
    let (id, _) = console.sessions.create(keys, principal, console.clock.now());
    let mut response = html::redirect("/ui/clusters");
    for cookie in [
        web::set_cookie(web::SESSION_COOKIE, &id, console.tls, None),
        web::set_cookie(web::SIGN_IN_COOKIE, "", console.tls, Some(0)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// `POST /ui/sign-out`.
pub(crate) async fn sign_out(State(console): State<Console>, signed_in: SignedIn, request: Request) -> Response {
    if let Err(refused) = signed_in.checked_form(request).await {
        return refused;
    }
    console.sessions.remove(&signed_in.id);
    let mut response = html::redirect("/ui/sign-in");
    if let Ok(v) = HeaderValue::from_str(&web::set_cookie(web::SESSION_COOKIE, "", console.tls, Some(0))) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}
