//! The HTTP pieces the console reads and writes by hand: cookies, urlencoded forms (with a size limit) and whether a
//! request comes from a browser.

use axum::body::Body;
use http::HeaderMap;
use std::collections::HashMap;

/// The most bytes of a form the console reads.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "berth_console";
/// The sign-in form's CSRF cookie (double-submitted with the form, before there is a session).
pub const SIGN_IN_COOKIE: &str = "berth_console_signin";

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value for a console cookie: HttpOnly, SameSite=Strict, scoped to `/ui`, Secure on TLS;
/// `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut out = format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict");
    if secure {
        out.push_str("; Secure");
    }
    if let Some(age) = max_age {
        out.push_str(&format!("; Max-Age={age}"));
    }
    out
}

/// Why a form could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    /// Not `application/x-www-form-urlencoded`.
    #[error("the form must be sent as application/x-www-form-urlencoded")]
    ContentType,
    /// Larger than [`MAX_FORM_BYTES`], or unreadable.
    #[error("the form is larger than {MAX_FORM_BYTES} bytes or could not be read")]
    Body,
}

/// Reads an urlencoded form body; repeated names keep their first value.
pub async fn read_form(headers: &HeaderMap, body: Body) -> Result<HashMap<String, String>, FormError> {
    let urlencoded = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !urlencoded {
        return Err(FormError::ContentType);
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| FormError::Body)?;
    Ok(parse_form(&String::from_utf8_lossy(&bytes)))
}

/// An urlencoded string's pairs (`+` is a space; undecodable escapes are kept as written).
pub fn parse_form(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode =
            |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
        out.entry(decode(k)).or_insert_with(|| decode(v));
    }
    out
}

/// Whether a request prefers HTML (a browser's navigation).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn cookies_are_found_by_name_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(http::header::COOKIE, HeaderValue::from_static("a=1; berth_console=abc"));
        headers.append(http::header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, "berth_console"), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "berth"), None);
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_on_tls() {
        assert_eq!(set_cookie("n", "v", false, None), "n=v; Path=/ui; HttpOnly; SameSite=Strict");
        assert_eq!(set_cookie("n", "", true, Some(0)), "n=; Path=/ui; HttpOnly; SameSite=Strict; Secure; Max-Age=0");
    }

    #[test]
    fn forms_decode_plus_and_percent_and_keep_the_first_value() {
        let form = parse_form("a=x+y%2Fz&b=&a=second&c&d=%E2%9C%93&e=%zz");
        assert_eq!(form["a"], "x y/z");
        assert_eq!(form["b"], "");
        assert_eq!(form["c"], "");
        assert_eq!(form["d"], "\u{2713}");
        assert_eq!(form["e"], "%zz");
    }

    #[tokio::test]
    async fn forms_need_their_content_type_and_a_bounded_body() {
        let mut headers = HeaderMap::new();
        assert_eq!(read_form(&headers, Body::from("a=1")).await, Err(FormError::ContentType));
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        assert_eq!(read_form(&headers, Body::from("a=1")).await.unwrap()["a"], "1");
        let big = "a=".to_string() + &"x".repeat(MAX_FORM_BYTES);
        assert_eq!(read_form(&headers, Body::from(big)).await, Err(FormError::Body));
    }

    #[test]
    fn browsers_are_told_apart_by_accept() {
        let mut headers = HeaderMap::new();
        assert!(!wants_html(&headers));
        headers
            .insert(http::header::ACCEPT, HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"));
        assert!(wants_html(&headers));
        headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_html(&headers));
    }
}
