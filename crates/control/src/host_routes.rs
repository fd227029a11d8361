//! Routing between the hosts of the VPC: which host's slices each agent routes where.
//!
//! Every container instance that holds a VPC slot (`network_slot`) owns the slot's `/24` slice of each subnet
//! on its host. Its agent registered the address other hosts reach it at (`host_address`). An agent's desired
//! state carries, for every *other* registered (ACTIVE or DRAINING) instance that holds a slot and a host address,
//! one route per subnet: `<slice> via <host address>`; the agent makes its routing table hold exactly those
//! (`berth_agent::routes`). An instance at the same host address as the agent (several agents on one machine) is
//! left out: its slices are bridges of this very host. Instances of every cluster count (slots are the VPC's, not
//! a cluster's), so a Fargate pool host is routed to as well.

use crate::cache::State;
use crate::status::InstanceStatus;
use crate::{ControlError, Result};
use berth_model::agent::{HostNetwork, HostRoute};
use berth_vpc::VpcLayout;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Checks the host address an agent registered with: an IPv4 unicast address another host can route to.
pub fn parse_host_address(given: Option<&str>) -> Result<Option<Ipv4Addr>> {
    let Some(text) = given else { return Ok(None) };
    let address: Ipv4Addr = text.trim().parse().map_err(|_| {
        ControlError::invalid(format!("The host address {text:?} is not an IPv4 address (such as 192.0.2.10)."))
    })?;
    if address.is_loopback() || address.is_unspecified() || address.is_multicast() || address.is_broadcast() {
        return Err(ControlError::invalid(format!(
            "The host address {address} cannot be routed to from another host: give the host's own unicast address."
        )));
    }
    Ok(Some(address))
}

/// An instance that routes VPC traffic: its VPC slot and host address (see [`State::vpc_hosts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpcHost {
    /// The instance's VPC slot: its slice of each subnet.
    pub slot: u32,
    /// The host address other hosts route the slot's slices to.
    pub address: Ipv4Addr,
}

impl VpcHost {
    /// The routing part of `record`, when it routes VPC traffic: ACTIVE or DRAINING, with a slot and an address.
    pub fn of(record: &crate::records::InstanceRecord) -> Option<Self> {
        if !matches!(record.status, InstanceStatus::Active | InstanceStatus::Draining) {
            return None;
        }
        Some(Self { slot: record.network_slot?, address: record.host_address? })
    }
}

/// The VPC as instance `instance_id` of `cluster` sees it: the VPC's CIDR and a route to each slice of the other
/// hosts, sorted. Walks only the instances that route VPC traffic ([`State::vpc_hosts`]), not every instance.
pub fn host_network(state: &State, layout: &VpcLayout, cluster: &str, instance_id: &str) -> HostNetwork {
    let own = state.instances.get(&(cluster.to_string(), instance_id.to_string())).and_then(|v| v.record.host_address);
    let others = state
        .vpc_hosts
        .iter()
        .filter(|(_, host)| Some(host.address) != own)
        .filter(|((c, id), _)| !(c == cluster && id == instance_id))
        .map(|(_, host)| *host);
    let mut routes: Vec<HostRoute> = others
        .flat_map(|host| {
            layout.subnets.iter().filter_map(move |subnet| {
                layout
                    .slice(subnet, host.slot)
                    .map(|slice| HostRoute { destination: slice.to_string(), gateway: host.address.to_string() })
            })
        })
        .collect();
    routes.sort();
    routes.dedup_by(|a, b| a.destination == b.destination);
    HostNetwork { vpc_cidr: layout.cidr.to_string(), routes }
}

/// The registered host addresses (of ACTIVE or DRAINING instances) that are this server's own: the addresses its
/// load balancer connects from to tasks on other hosts (through the routes of the agent on its host). An address
/// is this machine's when a socket can be bound to it; the answer is remembered per address for the life of the
/// process (a desired state is computed often, and a host's addresses rarely change).
pub fn local_host_addresses(state: &State) -> Vec<String> {
    static KNOWN: std::sync::Mutex<BTreeMap<Ipv4Addr, bool>> = std::sync::Mutex::new(BTreeMap::new());
    host_addresses_where(state, |a| {
        let mut known = KNOWN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *known.entry(a).or_insert_with(|| std::net::UdpSocket::bind((a, 0)).is_ok())
    })
}

/// The registered host addresses (ACTIVE or DRAINING instances) for which `is_local` holds, sorted, once each.
fn host_addresses_where(state: &State, is_local: impl Fn(Ipv4Addr) -> bool) -> Vec<String> {
    let mut addresses: Vec<Ipv4Addr> = state
        .instances
        .values()
        .map(|v| &v.record)
        .filter(|r| matches!(r.status, InstanceStatus::Active | InstanceStatus::Draining))
        .filter_map(|r| r.host_address)
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses.into_iter().filter(|a| is_local(*a)).map(|a| a.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Versioned;
    use crate::records::InstanceRecord;
    use std::sync::Arc;

    fn instance(cluster: &str, id: &str, slot: Option<u32>, address: Option<&str>, status: InstanceStatus) -> State {
        let mut state = State::default();
        add(&mut state, cluster, id, slot, address, status);
        state
    }

    fn add(state: &mut State, cluster: &str, id: &str, slot: Option<u32>, address: Option<&str>, s: InstanceStatus) {
        let record = InstanceRecord {
            cluster: cluster.into(),
            id: id.into(),
            status: s,
            network_slot: slot,
            host_address: address.map(|a| a.parse().unwrap()),
            ..Default::default()
        };
        state.instances.insert((cluster.into(), id.into()), Versioned { record: Arc::new(record), mod_revision: 1 });
        state.index_vpc_host(cluster, id);
    }

    #[test]
    fn each_other_host_with_a_slot_gets_one_route_per_subnet() {
        let layout = VpcLayout::default_for("us-east-1", "000000000000");
        let mut state = instance("default", "a", Some(0), Some("192.0.2.1"), InstanceStatus::Active);
        add(&mut state, "default", "b", Some(3), Some("192.0.2.2"), InstanceStatus::Draining);
        add(&mut state, "other", "c", Some(5), Some("192.0.2.3"), InstanceStatus::Active);
        add(&mut state, "default", "gone", Some(6), Some("192.0.2.4"), InstanceStatus::Inactive);
        add(&mut state, "default", "no-slot", None, Some("192.0.2.5"), InstanceStatus::Active);
        add(&mut state, "default", "no-address", Some(7), None, InstanceStatus::Active);
        add(&mut state, "default", "same-host", Some(8), Some("192.0.2.1"), InstanceStatus::Active);
        let network = host_network(&state, &layout, "default", "a");
        assert_eq!(network.vpc_cidr, "172.31.0.0/16");
        let routes: Vec<String> =
            network.routes.iter().map(|r| format!("{} via {}", r.destination, r.gateway)).collect();
        assert_eq!(
            routes,
            [
                "172.31.19.0/24 via 192.0.2.2",
                "172.31.21.0/24 via 192.0.2.3",
                "172.31.3.0/24 via 192.0.2.2",
                "172.31.5.0/24 via 192.0.2.3",
            ]
        );
        // The host itself without a slot still routes to the others.
        let state = instance("default", "b", Some(3), Some("192.0.2.2"), InstanceStatus::Active);
        assert!(host_network(&state, &layout, "default", "b").routes.is_empty());
    }

    #[test]
    fn the_servers_own_host_addresses_are_the_local_ones_of_live_instances() {
        let mut state = instance("default", "a", Some(0), Some("10.0.0.1"), InstanceStatus::Active);
        add(&mut state, "default", "b", None, Some("10.0.0.2"), InstanceStatus::Draining);
        add(&mut state, "other", "c", Some(1), Some("10.0.0.1"), InstanceStatus::Active);
        add(&mut state, "default", "gone", Some(2), Some("10.0.0.3"), InstanceStatus::Inactive);
        add(&mut state, "default", "far", Some(3), Some("10.0.0.9"), InstanceStatus::Active);
        let local = |a: Ipv4Addr| a.octets()[3] < 9;
        assert_eq!(host_addresses_where(&state, local), ["10.0.0.1", "10.0.0.2"]);
        // 198.51.100.0/24 is documentation space, bound to no interface of a machine running the tests.
        let state = instance("default", "a", Some(0), Some("198.51.100.254"), InstanceStatus::Active);
        assert!(local_host_addresses(&state).is_empty());
    }

    #[test]
    fn host_addresses_are_unicast_ipv4() {
        assert_eq!(parse_host_address(None).unwrap(), None);
        assert_eq!(parse_host_address(Some("10.0.0.7")).unwrap(), Some(Ipv4Addr::new(10, 0, 0, 7)));
        for bad in ["127.0.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "fe80::1", "host"] {
            assert!(parse_host_address(Some(bad)).is_err(), "{bad}");
        }
    }
}
