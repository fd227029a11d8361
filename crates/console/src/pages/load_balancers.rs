//! `/ui/load-balancers`: ELBv2 load balancers, and every target group with its targets' health.

use super::{SignedIn, badge, table};
use crate::Console;
use crate::client::aws;
use crate::html::{self, Section, esc, opt, short_arn};
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

/// `GET /ui/load-balancers`.
pub(crate) async fn list(State(console): State<Console>, signed_in: SignedIn) -> Response {
    let caller = signed_in.caller();
    let mut status = StatusCode::OK;
    let mut body = String::new();
    match aws::load_balancers(&console.api, caller).await {
        Ok(balancers) => {
            let rows: Vec<Vec<String>> = balancers
                .iter()
                .map(|b| {
                    vec![
                        esc(&b.name),
                        format!("<code>{}</code>", opt(Some(&b.dns_name))),
                        opt(Some(&b.kind)),
                        opt(Some(&b.scheme)),
                        badge(&b.state),
                    ]
                })
                .collect();
            body.push_str(&table(
                "load-balancers",
                &["Load balancer", "DNS name", "Type", "Scheme", "State"],
                &rows,
                "There are no load balancers.",
            ));
        }
        Err(e) => {
            status = e.status();
            body.push_str(&html::error_box(&e));
        }
    }
    body.push_str("<h2>Target groups</h2>");
    match aws::target_groups(&console.api, caller).await {
        Ok(groups) if groups.is_empty() => {
            body.push_str("<p class=\"empty\" id=\"target-groups\">There are no target groups.</p>")
        }
        Ok(groups) => {
            body.push_str("<div id=\"target-groups\">");
            for group in &groups {
                let balancers: Vec<&str> = group.load_balancer_arns.iter().map(|a| lb_name(a)).collect();
                body.push_str(&format!(
                    "<h3>{} <small>{} \u{b7} {} targets \u{b7} {}</small></h3>",
                    esc(&group.name),
                    esc(&group.protocol_port),
                    esc(&group.target_type),
                    if balancers.is_empty() {
                        "no load balancer".to_string()
                    } else {
                        format!("behind {}", esc(&balancers.join(", ")))
                    },
                ));
                let rows: Vec<Vec<String>> = group
                    .targets
                    .iter()
                    .map(|t| {
                        vec![
                            esc(&t.id),
                            opt(Some(&t.port)),
                            badge(&t.state),
                            opt(Some(&t.reason)),
                            opt(Some(&t.description)),
                        ]
                    })
                    .collect();
                body.push_str(&table(
                    &format!("targets-{}", group.name),
                    &["Target", "Port", "Health", "Reason", "Description"],
                    &rows,
                    "No targets are registered.",
                ));
            }
            body.push_str("</div>");
        }
        Err(e) => body.push_str(&html::error_box(&e)),
    }
    signed_in.page(status, "Load balancers", Section::LoadBalancers, true, &body)
}

/// A load balancer's name from its ARN (`.../app/<name>/<id>`).
fn lb_name(arn: &str) -> &str {
    let parts: Vec<&str> = arn.rsplit('/').collect();
    match parts.as_slice() {
        [_id, name, ..] => name,
        _ => short_arn(arn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_balancer_names_come_from_their_arns() {
        assert_eq!(lb_name("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc6c495c0c9188"), "web");
        assert_eq!(lb_name("plain"), "plain");
    }
}
