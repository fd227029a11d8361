//! IPv4 networks (`a.b.c.d/n`): parsing, containment, overlap, sub-networks and host addresses; shared by the VPC
//! (subnets, slices, security group ranges) and ELBv2 (load balancer addresses, `ip` targets).

use std::net::Ipv4Addr;

/// An IPv4 network: an address with zero host bits and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// The network address.
    pub network: Ipv4Addr,
    /// The prefix length (0-32).
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; the host bits must be zero.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, len) = text.split_once('/')?;
        let network: Ipv4Addr = addr.parse().ok()?;
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = len.parse().ok().filter(|p| *p <= 32)?;
        let cidr = Self { network, prefix };
        (u32::from(network) & !cidr.mask() == 0).then_some(cidr)
    }

    /// The network mask as a number.
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) }
    }

    /// How many addresses the network spans.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// Whether the network holds `addr`.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.network)
    }

    /// Whether the two networks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The `index`-th sub-network of prefix `prefix` (`None` when it is not inside this one).
    pub fn subnet(&self, prefix: u8, index: u32) -> Option<Cidr> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let count = 1u64 << u32::from(prefix - self.prefix);
        if u64::from(index) >= count {
            return None;
        }
        let step = 1u64 << (32 - u32::from(prefix));
        let base = u64::from(u32::from(self.network)) + u64::from(index) * step;
        Some(Cidr { network: Ipv4Addr::from(u32::try_from(base).ok()?), prefix })
    }

    /// The usable host addresses (without the network and broadcast addresses of a network larger than /31).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let base = u64::from(u32::from(self.network));
        let size = self.size();
        let (first, last) = if size > 2 { (base + 1, base + size - 2) } else { (base, base + size - 1) };
        (first..=last).filter_map(|a| u32::try_from(a).ok()).map(Ipv4Addr::from)
    }

    /// The address `offset` places after the network address (`None` outside the network).
    pub fn nth(&self, offset: u32) -> Option<Ipv4Addr> {
        (u64::from(offset) < self.size()).then(|| Ipv4Addr::from(u32::from(self.network).wrapping_add(offset)))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cidr::parse(s).ok_or_else(|| format!("{s:?} is not an IPv4 network (a.b.c.d/n with zero host bits)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_computes_subnets() {
        let vpc = Cidr::parse("172.31.0.0/16").unwrap();
        assert_eq!(vpc.subnet(20, 1).unwrap().to_string(), "172.31.16.0/20");
        assert_eq!(vpc.subnet(20, 16), None);
        let subnet = vpc.subnet(20, 1).unwrap();
        assert_eq!(subnet.subnet(24, 3).unwrap().to_string(), "172.31.19.0/24");
        assert!(vpc.overlaps(&subnet) && subnet.overlaps(&vpc));
        assert!(!subnet.overlaps(&vpc.subnet(20, 0).unwrap()));
        assert_eq!(subnet.nth(1).unwrap().to_string(), "172.31.16.1");
        assert_eq!(subnet.nth(4096), None);
        for bad in ["172.31.0.1/16", "172.31.0.0", "172.31.0.0/33", "x/1", "1.2.3.0/+8", "1.2.3.0/"] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }
}
