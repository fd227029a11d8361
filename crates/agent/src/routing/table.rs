//! The host's routes to the other hosts' slices, in the main routing table.
//!
//! The agent's routes carry their own protocol number ([`PROTO`]) and metric ([`METRIC`]): the protocol is how the
//! agent finds the routes it installed (it never lists, changes or removes another), the metric keeps them apart
//! from every other route to the same destination (`ip route replace` matches on destination and metric, so a
//! slice that is also a bridge on this host keeps its connected route, metric 0, which wins).

use berth_model::agent::HostRoute;
use berth_model::cidr::Cidr;
use std::net::Ipv4Addr;

/// The routing protocol number of Berth's routes (`ip route ... proto 147`; unassigned in iproute2's table).
pub const PROTO: &str = "147";

/// The metric of Berth's routes.
pub const METRIC: &str = "147";

/// The `ip` binary.
const IP: &str = "ip";

/// What to change so that the installed routes become the wanted ones.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Routes to add or point elsewhere (`ip route replace`).
    pub replace: Vec<HostRoute>,
    /// Routes the agent installed that are no longer wanted.
    pub remove: Vec<HostRoute>,
}

/// Parses `ip -4 route show proto 147` (one route a line, `<destination> via <gateway> dev ...`); lines of another
/// shape are skipped.
pub fn parse_installed(listing: &str) -> Vec<HostRoute> {
    listing
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let destination = words.next()?;
            Cidr::parse(destination)?;
            let gateway = words.skip_while(|w| *w != "via").nth(1)?;
            gateway.parse::<Ipv4Addr>().ok()?;
            Some(HostRoute { destination: destination.to_string(), gateway: gateway.to_string() })
        })
        .collect()
}

/// The changes from `installed` to `wanted`, inside `vpc` only: a route of this protocol outside the VPC belongs
/// to another Berth (another VPC on the same host) and is left alone, and a wanted route outside it is ignored.
pub fn plan(installed: &[HostRoute], wanted: &[HostRoute], vpc: &Cidr) -> Plan {
    let inside = |r: &&HostRoute| Cidr::parse(&r.destination).is_some_and(|c| vpc.contains(c.network));
    let valid = |r: &&HostRoute| r.gateway.parse::<Ipv4Addr>().is_ok();
    let wanted: Vec<&HostRoute> = wanted.iter().filter(inside).filter(valid).collect();
    Plan {
        replace: wanted.iter().filter(|w| !installed.contains(w)).map(|w| (*w).clone()).collect(),
        remove: installed
            .iter()
            .filter(inside)
            .filter(|i| !wanted.iter().any(|w| w.destination == i.destination))
            .cloned()
            .collect(),
    }
}

async fn ip(args: &[&str]) -> Result<String, String> {
    let output =
        tokio::process::Command::new(IP).args(args).output().await.map_err(|e| format!("running {IP}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("{IP} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// The routes the agent installed (all of its protocol, in any VPC).
pub async fn installed() -> Result<Vec<HostRoute>, String> {
    Ok(parse_installed(&ip(&["-4", "route", "show", "table", "main", "proto", PROTO]).await?))
}

/// Makes the routing table hold exactly `wanted` among the agent's routes inside `vpc`. Every change is tried;
/// the failures are returned together (a gateway that is not on a directly connected network cannot be routed
/// through: the hosts must share a network, or the operator an overlay).
pub async fn apply(wanted: &[HostRoute], vpc: &Cidr) -> Result<(), String> {
    let plan = plan(&installed().await?, wanted, vpc);
    let mut failures = Vec::new();
    for route in &plan.replace {
        let args = ["route", "replace", &route.destination, "via", &route.gateway, "proto", PROTO, "metric", METRIC];
        match ip(&args).await {
            Ok(_) => {
                tracing::info!(destination = %route.destination, gateway = %route.gateway, "route to a host's slice")
            }
            Err(e) => failures.push(e),
        }
    }
    for route in &plan.remove {
        let args = ["route", "del", &route.destination, "via", &route.gateway, "proto", PROTO, "metric", METRIC];
        match ip(&args).await {
            Ok(_) => tracing::info!(destination = %route.destination, "route to a host that left removed"),
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(failures.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(destination: &str, gateway: &str) -> HostRoute {
        HostRoute { destination: destination.into(), gateway: gateway.into() }
    }

    #[test]
    fn the_listing_is_parsed() {
        let listing = "10.5.3.0/24 via 10.188.0.2 dev vb-host metric 147 \n\
                       10.5.19.0/24 via 10.188.0.2 dev vb-host metric 147 onlink\n\
                       unreachable 10.9.0.0/16 metric 147\n";
        assert_eq!(parse_installed(listing), [route("10.5.3.0/24", "10.188.0.2"), route("10.5.19.0/24", "10.188.0.2")]);
    }

    #[test]
    fn the_plan_adds_moves_and_removes_only_inside_the_vpc() {
        let vpc = Cidr::parse("10.5.0.0/16").unwrap();
        let installed = [
            route("10.5.3.0/24", "10.188.0.2"), // kept
            route("10.5.4.0/24", "10.188.0.3"), // moved to another host
            route("10.5.5.0/24", "10.188.0.4"), // that host left
            route("10.6.3.0/24", "10.188.0.9"), // another VPC's: untouched
        ];
        let wanted = [
            route("10.5.3.0/24", "10.188.0.2"),
            route("10.5.4.0/24", "10.188.0.5"),
            route("10.5.6.0/24", "10.188.0.6"),
            route("10.7.0.0/24", "10.188.0.7"),     // outside the VPC: ignored
            route("10.5.8.0/24", "not-an-address"), // ignored
        ];
        let plan = plan(&installed, &wanted, &vpc);
        assert_eq!(plan.replace, [route("10.5.4.0/24", "10.188.0.5"), route("10.5.6.0/24", "10.188.0.6")]);
        assert_eq!(plan.remove, [route("10.5.5.0/24", "10.188.0.4")]);
        let none = super::plan(&installed, &[], &vpc);
        assert_eq!(none.remove.len(), 3, "no other host: every route of this VPC goes");
    }
}
