//! Markup: the one escape function every interpolated value goes through ([`esc`]), URL path segments
//! ([`enc`]), the page around each body ([`document`]), times, and the answers with the console's security headers
//! ([`respond`], [`redirect`]).
//!
//! Pages are built as strings: constant markup is written by hand, and every value that comes from a request or an
//! API answer passes [`esc`] (text and attribute values alike: it escapes `&`, `<`, `>`, `"` and `'`).

use crate::client::ApiError;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// The characters a URL component keeps as they are (RFC 3986's unreserved ones).
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The console's Content-Security-Policy: nothing but the listener itself, no inline script or style.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
                       object-src 'none'";

/// Text made safe for HTML text and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value as one URL path segment (or query value).
pub fn enc(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, COMPONENT).to_string()
}

/// A value that may be missing, escaped; a dash when it is.
pub fn opt(text: Option<&str>) -> String {
    match text {
        Some(t) if !t.is_empty() => esc(t),
        _ => "\u{2014}".to_string(),
    }
}

/// An epoch-seconds time as `<time>` (UTC, to the second); a dash when missing.
pub fn time(seconds: Option<f64>) -> String {
    match seconds.and_then(|s| jiff::Timestamp::from_millisecond((s * 1000.0) as i64).ok()) {
        Some(t) => format!(
            "<time datetime=\"{}\">{}</time>",
            esc(&t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
            esc(&t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        ),
        None => "\u{2014}".to_string(),
    }
}

/// The last part of an ARN (`.../name` or `...:name`).
pub fn short_arn(arn: &str) -> &str {
    arn.rsplit(['/', ':']).next().unwrap_or(arn)
}

/// A task definition's `family:revision` from its ARN (or the name as given).
pub fn family_revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// An error box for a failed call; AccessDenied-like errors are worded for people.
pub fn error_box(error: &ApiError) -> String {
    format!("<div class=\"error\" role=\"alert\"><strong>{}</strong></div>", esc(&error.to_string()))
}

/// A notice box (an action's result).
pub fn notice_box(text: &str) -> String {
    format!("<div class=\"notice\" role=\"status\">{}</div>", esc(text))
}

/// The console's sections, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Clusters and what is in them.
    Clusters,
    /// The registry.
    Registry,
    /// Load balancers.
    LoadBalancers,
    /// The sign-in page (no navigation).
    SignIn,
}

/// What surrounds a page's body.
pub struct Chrome<'a> {
    /// The page's title.
    pub title: &'a str,
    /// The section it belongs to.
    pub section: Section,
    /// The signed-in principal and the session's CSRF token (for the sign-out form).
    pub signed_in: Option<(&'a str, &'a str)>,
    /// Reload the page every few seconds while nobody types in it.
    pub refresh: bool,
}

/// A whole page.
pub fn document(chrome: &Chrome<'_>, body: &str) -> String {
    let nav = match chrome.signed_in {
        Some((principal, csrf)) => {
            let link = |section: Section, href: &str, label: &str| {
                let current = if chrome.section == section { " aria-current=\"page\"" } else { "" };
                format!("<a href=\"{href}\"{current}>{label}</a>")
            };
            format!(
                "<nav>{}{}{}</nav><div class=\"who\"><span title=\"{p}\">{p}</span>\
                 <form method=\"post\" action=\"/ui/sign-out\"><input type=\"hidden\" name=\"csrf\" value=\"{c}\">\
                 <button type=\"submit\" id=\"sign-out\">Sign out</button></form></div>",
                link(Section::Clusters, "/ui/clusters", "Clusters"),
                link(Section::Registry, "/ui/registry", "Registry"),
                link(Section::LoadBalancers, "/ui/load-balancers", "Load balancers"),
                p = esc(principal),
                c = esc(csrf),
            )
        }
        None => String::new(),
    };
    let refresh = if chrome.refresh { " data-refresh=\"10\"" } else { "" };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} \u{b7} Berth</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/ui/assets/console.css\">\
         <script src=\"/ui/assets/console.js\" defer></script></head>\
         <body{refresh}><header><a class=\"brand\" href=\"/ui/clusters\">Berth</a>{nav}</header>\
         <main><h1>{title}</h1>\n{body}\n</main></body></html>\n",
        title = esc(chrome.title),
    )
}

/// The security headers of every console answer.
pub fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// An HTML answer.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure(&mut response);
    response
}

/// A 303 to `location` (a path on this listener).
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    secure(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("plain-name_1"), "plain-name_1");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("a/b c?d#e"), "a%2Fb%20c%3Fd%23e");
        assert_eq!(enc("web-1.x_y~"), "web-1.x_y~");
    }

    #[test]
    fn times_are_utc_and_missing_ones_a_dash() {
        assert_eq!(
            time(Some(1_700_000_000.5)),
            "<time datetime=\"2023-11-14T22:13:20Z\">2023-11-14 22:13:20 UTC</time>"
        );
        assert_eq!(time(None), "\u{2014}");
        assert_eq!(opt(Some("")), "\u{2014}");
        assert_eq!(opt(Some("<b>")), "&lt;b&gt;");
    }

    #[test]
    fn pages_escape_the_principal_and_title_and_load_only_own_assets() {
        let page = document(
            &Chrome {
                title: "<t>",
                section: Section::Clusters,
                signed_in: Some(("arn:aws:iam::1:user/<x>", "tok\"en")),
                refresh: true,
            },
            "<p>body</p>",
        );
        assert!(page.contains("<title>&lt;t&gt; \u{b7} Berth</title>"));
        assert!(page.contains("user/&lt;x&gt;"));
        assert!(page.contains("value=\"tok&quot;en\""));
        assert!(page.contains("data-refresh"));
        for url in ["http://", "https://", "//"] {
            assert!(!page.replace("<!DOCTYPE html>", "").contains(&format!("=\"{url}")), "{page}");
        }
    }

    #[test]
    fn answers_carry_the_security_headers() {
        let response = respond(StatusCode::OK, "x".into());
        assert_eq!(response.headers()[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
        let response = redirect("/ui/clusters");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/ui/clusters");
    }

    #[test]
    fn short_arns_are_the_last_part() {
        assert_eq!(short_arn("arn:aws:ecs:us-east-1:1:service/default/web"), "web");
        assert_eq!(short_arn("web"), "web");
        assert_eq!(family_revision("arn:aws:ecs:us-east-1:1:task-definition/web:3"), "web:3");
        assert_eq!(family_revision("web:3"), "web:3");
    }
}
