//! ELB's predefined security policies (DescribeSSLPolicies, a listener's SslPolicy) with the protocols and ciphers
//! AWS lists for them, and what Berth's data plane serves for each.
//!
//! Berth's load balancer terminates TLS with rustls, which implements TLS 1.2 and TLS 1.3 only, with AEAD cipher
//! suites only (AES-GCM and ChaCha20-Poly1305, ECDHE key exchange). So every accepted policy is served as TLS 1.2
//! and 1.3 with rustls' suites: a client limited to TLS 1.0/1.1 or to CBC or RSA-key-exchange ciphers that the
//! policy allows cannot connect, and a TLS 1.2-only policy also offers TLS 1.3. A policy without TLS 1.2
//! (TLS 1.3 only) is refused by name, as Berth cannot narrow a listener to TLS 1.3 yet.

/// The policy a listener gets when it names none.
pub const DEFAULT_POLICY: &str = "ELBSecurityPolicy-2016-08";

/// A predefined policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SslPolicy {
    /// Its name.
    pub name: &'static str,
    /// SslProtocols, as AWS lists them.
    pub protocols: &'static [&'static str],
    /// Ciphers, by priority (1 first).
    pub ciphers: &'static [&'static str],
}

impl SslPolicy {
    /// Whether Berth's data plane can serve it (it allows TLS 1.2).
    pub fn servable(&self) -> bool {
        self.protocols.contains(&"TLSv1.2")
    }
}

const TLS13: [&str; 3] = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];

/// The TLS 1.0-1.2 ciphers of ELBSecurityPolicy-2016-08.
const CLASSIC: [&str; 18] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES128-SHA256",
    "AES128-SHA",
    "AES256-GCM-SHA384",
    "AES256-SHA256",
    "AES256-SHA",
];

const TLS13_CLASSIC: [&str; 21] = [
    TLS13[0],
    TLS13[1],
    TLS13[2],
    CLASSIC[0],
    CLASSIC[1],
    CLASSIC[2],
    CLASSIC[3],
    CLASSIC[4],
    CLASSIC[5],
    CLASSIC[6],
    CLASSIC[7],
    CLASSIC[8],
    CLASSIC[9],
    CLASSIC[10],
    CLASSIC[11],
    CLASSIC[12],
    CLASSIC[13],
    CLASSIC[14],
    CLASSIC[15],
    CLASSIC[16],
    CLASSIC[17],
];

const TLS13_1_2: [&str; 11] = [
    TLS13[0], TLS13[1], TLS13[2], CLASSIC[0], CLASSIC[1], CLASSIC[2], CLASSIC[3], CLASSIC[6], CLASSIC[7], CLASSIC[8],
    CLASSIC[9],
];

const GCM_ECDHE: [&str; 4] = [CLASSIC[0], CLASSIC[1], CLASSIC[6], CLASSIC[7]];

const TLS13_1_2_RES: [&str; 7] = [TLS13[0], TLS13[1], TLS13[2], CLASSIC[0], CLASSIC[1], CLASSIC[6], CLASSIC[7]];

const TLS_1_2: [&str; 12] = [
    CLASSIC[0],
    CLASSIC[1],
    CLASSIC[2],
    CLASSIC[3],
    CLASSIC[6],
    CLASSIC[7],
    CLASSIC[8],
    CLASSIC[9],
    CLASSIC[12],
    CLASSIC[13],
    CLASSIC[15],
    CLASSIC[16],
];

/// The predefined policies Berth knows, newest recommendations first.
pub const POLICIES: &[SslPolicy] = &[
    SslPolicy { name: "ELBSecurityPolicy-TLS13-1-2-2021-06", protocols: &["TLSv1.2", "TLSv1.3"], ciphers: &TLS13_1_2 },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        protocols: &["TLSv1.2", "TLSv1.3"],
        ciphers: &TLS13_1_2_RES,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
        protocols: &["TLSv1.2", "TLSv1.3"],
        ciphers: &TLS13_CLASSIC,
    },
    SslPolicy { name: "ELBSecurityPolicy-TLS13-1-3-2021-06", protocols: &["TLSv1.3"], ciphers: &TLS13 },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-1-2021-06",
        protocols: &["TLSv1.1", "TLSv1.2", "TLSv1.3"],
        ciphers: &TLS13_CLASSIC,
    },
    SslPolicy {
        name: "ELBSecurityPolicy-TLS13-1-0-2021-06",
        protocols: &["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"],
        ciphers: &TLS13_CLASSIC,
    },
    SslPolicy { name: "ELBSecurityPolicy-2016-08", protocols: &["TLSv1", "TLSv1.1", "TLSv1.2"], ciphers: &CLASSIC },
    SslPolicy { name: "ELBSecurityPolicy-TLS-1-1-2017-01", protocols: &["TLSv1.1", "TLSv1.2"], ciphers: &CLASSIC },
    SslPolicy { name: "ELBSecurityPolicy-TLS-1-2-2017-01", protocols: &["TLSv1.2"], ciphers: &TLS_1_2 },
    SslPolicy { name: "ELBSecurityPolicy-FS-1-2-Res-2020-10", protocols: &["TLSv1.2"], ciphers: &GCM_ECDHE },
];

/// A policy by name.
pub fn find(name: &str) -> Option<&'static SslPolicy> {
    POLICIES.iter().find(|p| p.name == name)
}

/// The wire shape of a policy.
pub(crate) fn render(p: &SslPolicy) -> berth_model::elbv2::SslPolicy {
    berth_model::elbv2::SslPolicy {
        ssl_protocols: Some(p.protocols.iter().map(|s| (*s).to_string()).collect()),
        ciphers: Some(
            p.ciphers
                .iter()
                .zip(1..)
                .map(|(c, i)| berth_model::elbv2::Cipher { name: Some((*c).to_string()), priority: Some(i) })
                .collect(),
        ),
        name: Some(p.name.to_string()),
        supported_load_balancer_types: Some(vec!["application".into(), "network".into()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_known_and_servable() {
        let p = find(DEFAULT_POLICY).unwrap();
        assert!(p.servable());
        assert_eq!(p.ciphers.len(), 18);
        assert!(!find("ELBSecurityPolicy-TLS13-1-3-2021-06").unwrap().servable());
        assert!(find("nope").is_none());
        let w = render(p);
        assert_eq!(w.ciphers.unwrap()[0].priority, Some(1));
    }
}
