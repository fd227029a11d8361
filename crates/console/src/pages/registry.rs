//! `/ui/registry`: ECR repositories; `/ui/registry/<repository>`: its images with their scan status and finding
//! counts, and with `?digest=` one image's findings.

use super::{SignedIn, badge, table};
use crate::Console;
use crate::client::aws;
use crate::html::{self, Section, enc, esc, opt};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::Value;
use std::collections::HashMap;

/// A string member of a JSON object.
fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// `GET /ui/registry`.
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn) -> Response {
    let (status, body) = match aws::repositories(&console.api, signed_in.caller()).await {
        Ok(repositories) => {
            let rows: Vec<Vec<String>> = repositories
                .iter()
                .map(|r| {
                    let name = text(r, "repositoryName").unwrap_or_default();
                    let scan = r.pointer("/imageScanningConfiguration/scanOnPush").and_then(Value::as_bool);
                    vec![
                        format!("<a href=\"/ui/registry/{}\">{}</a>", repository_path(name), esc(name)),
                        format!("<code>{}</code>", opt(text(r, "repositoryUri"))),
                        opt(text(r, "imageTagMutability")),
                        if scan == Some(true) { "on push".into() } else { "off".into() },
                        html::time(r.get("createdAt").and_then(Value::as_f64)),
                    ]
                })
                .collect();
            (
                StatusCode::OK,
                table(
                    "repositories",
                    &["Repository", "URI", "Tags", "Scanning", "Created"],
                    &rows,
                    "There are no repositories yet.",
                ),
            )
        }
        Err(e) => (e.status(), html::error_box(&e)),
    };
    signed_in.page(status, "Registry", Section::Registry, false, &body)
}

/// A repository name as a path (each `/`-separated part encoded).
fn repository_path(name: &str) -> String {
    name.split('/').map(enc).collect::<Vec<_>>().join("/")
}

/// `GET /ui/registry/<repository>[?digest=sha256:...]`.
pub(crate) async fn repository(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let title = format!("Repository {name}");
    let mut body = "<p class=\"crumbs\"><a href=\"/ui/registry\">\u{2190} registry</a></p>".to_string();
    let images = match aws::images(&console.api, signed_in.caller(), &name).await {
        Ok(images) => images,
        Err(e) => return signed_in.page(e.status(), &title, Section::Registry, false, &html::error_box(&e)),
    };
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|i| {
            let digest = text(i, "imageDigest").unwrap_or_default();
            let tags: Vec<&str> = i
                .get("imageTags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let counts = i
                .pointer("/imageScanFindingsSummary/findingSeverityCounts")
                .and_then(Value::as_object)
                .map(|c| c.iter().map(|(k, v)| format!("{} {}", esc(k), v)).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            vec![
                format!(
                    "<a href=\"/ui/registry/{}?digest={}\"><code>{}</code></a>",
                    repository_path(&name),
                    enc(digest),
                    esc(digest.get(..19).unwrap_or(digest))
                ),
                opt(Some(tags.join(", ").as_str())),
                opt(i
                    .get("imageSizeInBytes")
                    .and_then(Value::as_u64)
                    .map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
                    .as_deref()),
                html::time(i.get("imagePushedAt").and_then(Value::as_f64)),
                i.pointer("/imageScanStatus/status")
                    .and_then(Value::as_str)
                    .map(badge)
                    .unwrap_or_else(|| "\u{2014}".into()),
                opt(Some(counts.as_str())),
            ]
        })
        .collect();
    body.push_str(&table(
        "images",
        &["Image", "Tags", "Size", "Pushed", "Scan", "Findings"],
        &rows,
        "No images in this repository.",
    ));
    if let Some(digest) = query.get("digest") {
        body.push_str(&format!("<h2>Scan findings of <code>{}</code></h2>", esc(digest)));
        match aws::scan_findings(&console.api, signed_in.caller(), &name, digest).await {
            Ok(answer) => body.push_str(&findings(&answer)),
            Err(e) => body.push_str(&html::error_box(&e)),
        }
    }
    signed_in.page(StatusCode::OK, &title, Section::Registry, false, &body)
}

/// DescribeImageScanFindings' answer as a table.
fn findings(answer: &Value) -> String {
    let status = answer.pointer("/imageScanStatus/status").and_then(Value::as_str).unwrap_or("?");
    let description = answer.pointer("/imageScanStatus/description").and_then(Value::as_str);
    let list = answer.pointer("/imageScanFindings/findings").and_then(Value::as_array).cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            let name = text(f, "name").unwrap_or_default();
            let name = match text(f, "uri") {
                Some(uri) if uri.starts_with("https://") || uri.starts_with("http://") => {
                    // A link people may follow on purpose; the console itself never loads it.
                    format!("<a href=\"{}\" rel=\"noreferrer noopener\" target=\"_blank\">{}</a>", esc(uri), esc(name))
                }
                _ => esc(name),
            };
            vec![name, badge(text(f, "severity").unwrap_or("?")), opt(text(f, "description"))]
        })
        .collect();
    format!(
        "<p>Scan {}{}</p>{}",
        badge(status),
        description.map(|d| format!(": {}", esc(d))).unwrap_or_default(),
        table("findings", &["Finding", "Severity", "Description"], &rows, "No findings.")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_repository_names_keep_their_slashes() {
        assert_eq!(repository_path("team/app name"), "team/app%20name");
    }

    #[test]
    fn findings_are_escaped_and_only_web_links_are_links() {
        let answer = json!({
            "imageScanStatus": { "status": "COMPLETE", "description": "done <ok>" },
            "imageScanFindings": { "findings": [
                { "name": "CVE-1", "severity": "HIGH", "description": "<script>", "uri": "javascript:alert(1)" },
                { "name": "CVE-2", "severity": "LOW", "uri": "https://example.invalid/CVE-2" }
            ]}
        });
        let html = findings(&answer);
        assert!(html.contains("done &lt;ok&gt;"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("javascript:"));
        assert!(html.contains("href=\"https://example.invalid/CVE-2\""));
    }
}
