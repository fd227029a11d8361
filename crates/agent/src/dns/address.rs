//! The agent's own DNS address: one link-local IPv4 address of [`RANGE`] on the loopback interface, which only
//! this agent serves port 53 on.
//!
//! Why not the bridges' gateways: every agent on a host shares Docker's `bridge` network (and agents of one server
//! share a slice's bridge), so port 53 of a gateway can belong to one process only, and a second Berth on the
//! host (the tests run many) would have its tasks answered by the first one's server. An address of its own per
//! agent needs no NAT rule per task, so a container's first query cannot race a rule (a bridge container's address
//! is known only once it has started), and it is the same for every network mode: a container reaches it through
//! its default route, like AWS's `169.254.169.253`. The host delivers it locally (Linux accepts a packet for any
//! of its addresses on any interface), and only forwarded traffic passes security groups, so no rule stops it.
//!
//! Claiming: the address the agent used before (kept in `<data dir>/dns-address`, so a restarted agent's running
//! containers keep their resolver) is tried first, then addresses of the range not on the interface (in a random
//! order, so agents starting together rarely try the same one), then addresses left on it by agents that are gone.
//! Binding port 53 is the lock: an address whose port 53 another process holds is someone else's.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The addresses agents serve DNS on: `169.254.53.1` to `169.254.53.254`.
pub const RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(169, 254, 53, 0), 24);

/// The file in the agent's data dir that keeps its address.
pub const FILE: &str = "dns-address";

/// The `ip` binary.
const IP: &str = "ip";

/// Whether `address` is in [`RANGE`] (an agent's DNS address: never an upstream).
pub fn in_range(address: Ipv4Addr) -> bool {
    let mask = u32::MAX << (32 - u32::from(RANGE.1));
    u32::from(address) & mask == u32::from(RANGE.0)
}

/// The address saved in `data_dir`, if any.
pub fn saved(data_dir: &Path) -> Option<Ipv4Addr> {
    let text = std::fs::read_to_string(path(data_dir)).ok()?;
    text.trim().parse().ok().filter(|a| in_range(*a))
}

/// Keeps `address` in `data_dir`.
pub fn save(data_dir: &Path, address: Ipv4Addr) -> std::io::Result<()> {
    std::fs::write(path(data_dir), format!("{address}\n"))
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// The addresses of [`RANGE`] on the loopback interface, from `ip -4 -o addr show dev lo`.
pub fn parse_assigned(listing: &str) -> Vec<Ipv4Addr> {
    listing
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.by_ref().find(|w| *w == "inet")?;
            let address: Ipv4Addr = words.next()?.split('/').next()?.parse().ok()?;
            in_range(address).then_some(address)
        })
        .collect()
}

/// The order to try addresses in: `saved` first, then the free ones shuffled, then the `assigned` ones (left by
/// agents that may be gone) shuffled.
pub fn candidates(saved: Option<Ipv4Addr>, assigned: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    use rand::seq::SliceRandom;
    let base = u32::from(RANGE.0);
    let all = (1..(1u32 << (32 - u32::from(RANGE.1))) - 1).map(|i| Ipv4Addr::from(base + i));
    let (mut taken, mut free): (Vec<Ipv4Addr>, Vec<Ipv4Addr>) =
        all.filter(|a| Some(*a) != saved).partition(|a| assigned.contains(a));
    let mut rng = rand::rng();
    free.shuffle(&mut rng);
    taken.shuffle(&mut rng);
    saved.into_iter().chain(free).chain(taken).collect()
}

/// The range's addresses on the loopback interface.
pub async fn assigned() -> Result<Vec<Ipv4Addr>, String> {
    let listing = ip(&["-4", "-o", "addr", "show", "dev", "lo"]).await?;
    Ok(parse_assigned(&listing))
}

/// Puts `address` on the loopback interface (already there is fine).
pub async fn assign(address: Ipv4Addr) -> Result<(), String> {
    match ip(&["addr", "add", &format!("{address}/32"), "dev", "lo"]).await {
        Ok(_) => Ok(()),
        Err(error) if error.contains("File exists") => Ok(()),
        Err(error) => Err(error),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_and_the_listing() {
        assert!(in_range(Ipv4Addr::new(169, 254, 53, 7)));
        assert!(!in_range(Ipv4Addr::new(169, 254, 170, 2)));
        let listing = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                       1: lo    inet 169.254.53.9/32 scope global lo\\       valid_lft forever\n\
                       1: lo    inet 169.254.54.1/32 scope global lo\n";
        assert_eq!(parse_assigned(listing), vec![Ipv4Addr::new(169, 254, 53, 9)]);
    }

    #[test]
    fn candidates_put_the_saved_address_first_and_taken_ones_last() {
        let saved = Ipv4Addr::new(169, 254, 53, 200);
        let taken = [Ipv4Addr::new(169, 254, 53, 1), Ipv4Addr::new(169, 254, 53, 2)];
        let order = candidates(Some(saved), &taken);
        assert_eq!(order.len(), 254);
        assert_eq!(order[0], saved);
        assert!(taken.contains(&order[252]) && taken.contains(&order[253]));
        assert!(order.iter().all(|a| in_range(*a) && a.octets()[3] != 0 && a.octets()[3] != 255));
        let fresh = candidates(None, &[]);
        assert_eq!(fresh.len(), 254);
    }

    #[test]
    fn the_saved_address_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(saved(dir.path()), None);
        save(dir.path(), Ipv4Addr::new(169, 254, 53, 4)).unwrap();
        assert_eq!(saved(dir.path()), Some(Ipv4Addr::new(169, 254, 53, 4)));
        std::fs::write(dir.path().join(FILE), "10.0.0.1\n").unwrap();
        assert_eq!(saved(dir.path()), None, "outside the range: ignored");
    }
}
