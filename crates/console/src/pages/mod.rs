//! The pages: each handler reads the session, makes its API calls as the signed-in principal and renders HTML.
//! A failed call is shown on the page (with the API's status), never hidden.

pub mod cluster;
pub mod clusters;
pub mod load_balancers;
pub mod registry;
pub mod service;
pub mod sign_in;
pub mod task;

use crate::client::{Caller, Origin};
use crate::html::{self, Chrome, Section};
use crate::session::Session;
use crate::{Console, web};
use axum::extract::FromRequestParts;
use axum::response::Response;
use http::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;

/// A request with a live session; without one, the browser is sent to the sign-in form.
pub(crate) struct SignedIn {
    /// The session's id (its cookie's value).
    pub id: String,
    /// The session.
    pub session: Arc<Session>,
    /// The browser's connection.
    pub origin: Origin,
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut http::request::Parts, console: &Console) -> Result<Self, Response> {
        let now = console.clock.now();
        let id = web::cookie(&parts.headers, web::SESSION_COOKIE).unwrap_or_default();
        match console.sessions.get(id, now) {
            Some(session) => Ok(SignedIn { id: id.to_string(), session, origin: Origin::of(&parts.extensions) }),
            None => Err(html::redirect("/ui/sign-in")),
        }
    }
}

impl SignedIn {
    /// The caller every API call of this request is made as.
    pub fn caller(&self) -> Caller<'_> {
        Caller { keys: &self.session.keys, origin: &self.origin }
    }

    /// A whole page for this session.
    pub fn page(&self, status: StatusCode, title: &str, section: Section, refresh: bool, body: &str) -> Response {
        let chrome = Chrome { title, section, signed_in: Some((&self.session.principal, &self.session.csrf)), refresh };
        html::respond(status, html::document(&chrome, body))
    }

    /// The hidden CSRF field of this session's forms.
    pub fn csrf_field(&self) -> String {
        format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", html::esc(&self.session.csrf))
    }

    /// Whether a form carries this session's CSRF token (else it is answered with [`forbidden_form`]).
    pub fn csrf_ok(&self, form: &HashMap<String, String>) -> bool {
        form.get("csrf").is_some_and(|token| crate::session::same_secret(token, &self.session.csrf))
    }

    /// Reads a POSTed form of this session: the form when it is well formed and carries this session's CSRF token,
    /// else the page that refuses it ([`bad_form`] or [`forbidden_form`]).
    pub(crate) async fn checked_form(
        &self,
        request: axum::extract::Request,
    ) -> Result<HashMap<String, String>, Response> {
        let (parts, body) = request.into_parts();
        let form = web::read_form(&parts.headers, body).await.map_err(|e| bad_form(&e))?;
        if !self.csrf_ok(&form) {
            return Err(forbidden_form());
        }
        Ok(form)
    }
}

/// The answer to a form without a valid CSRF token.
pub(crate) fn forbidden_form() -> Response {
    let chrome = Chrome { title: "Forbidden", section: Section::SignIn, signed_in: None, refresh: false };
    let body = "<div class=\"error\" role=\"alert\"><strong>The form's CSRF token is missing or does not belong to \
                your session.</strong> Go back, reload the page and try again.</div>";
    html::respond(StatusCode::FORBIDDEN, html::document(&chrome, body))
}

/// The answer to a form that could not be read.
pub(crate) fn bad_form(error: &web::FormError) -> Response {
    let chrome = Chrome { title: "Bad request", section: Section::SignIn, signed_in: None, refresh: false };
    let body = format!("<div class=\"error\" role=\"alert\"><strong>{}</strong></div>", html::esc(&error.to_string()));
    html::respond(StatusCode::BAD_REQUEST, html::document(&chrome, &body))
}

/// A page that does not exist.
pub(crate) fn not_found_page() -> Response {
    let chrome = Chrome { title: "Not found", section: Section::SignIn, signed_in: None, refresh: false };
    html::respond(
        StatusCode::NOT_FOUND,
        html::document(&chrome, "<p>There is no such console page. <a href=\"/ui/clusters\">Clusters</a></p>"),
    )
}

/// `/ui/<anything else>`.
pub(crate) async fn not_found() -> Response {
    not_found_page()
}

/// A table: header cells and rows of ready markup; `empty` when there are no rows.
pub(crate) fn table(id: &str, headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\" id=\"{}\">{}</p>", html::esc(id), html::esc(empty));
    }
    let mut out = format!("<table id=\"{}\"><thead><tr>", html::esc(id));
    for h in headers {
        out.push_str(&format!("<th>{}</th>", html::esc(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{cell}</td>"));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A status word as a badge (`RUNNING`, `healthy` ...).
pub(crate) fn badge(status: &str) -> String {
    let class = match status.to_ascii_uppercase().as_str() {
        "RUNNING" | "ACTIVE" | "HEALTHY" | "COMPLETED" | "PRIMARY" | "ACTIVE_IMPAIRED" => "good",
        "STOPPED" | "INACTIVE" | "UNHEALTHY" | "FAILED" | "DRAINING" | "DEREGISTERING" => "bad",
        _ => "neutral",
    };
    format!("<span class=\"badge {class}\">{}</span>", html::esc(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_ids_and_headers_and_say_when_empty() {
        assert_eq!(table("t", &["A"], &[], "none <yet>"), "<p class=\"empty\" id=\"t\">none &lt;yet&gt;</p>");
        let t = table("t", &["<A>"], &[vec!["<b>x</b>".into()]], "");
        assert!(t.contains("<th>&lt;A&gt;</th>"));
        assert!(t.contains("<td><b>x</b></td>"), "cells are markup the caller escaped");
    }

    #[test]
    fn badges_escape_and_colour() {
        assert_eq!(badge("RUNNING"), "<span class=\"badge good\">RUNNING</span>");
        assert_eq!(badge("<x>"), "<span class=\"badge neutral\">&lt;x&gt;</span>");
    }
}
