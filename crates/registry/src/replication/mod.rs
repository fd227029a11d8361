//! ECR replication: the registry's replication configuration (rules of destinations and PREFIX_MATCH repository
//! filters, kept in the registry settings record), the operator's map from a destination (region and registry id)
//! to another Berth server with the credentials to reach it ([`Destination`]), and the asynchronous copy of pushed
//! images to those servers ([`run`]) whose progress is recorded per image and destination ([`status`]).

pub(crate) mod client;
pub mod policy;
pub(crate) mod run;
pub(crate) mod status;

use berth_model::ecr::{ReplicationConfiguration, ReplicationDestination};

/// The Berth-specific header a replicating server sends on its ECR calls to a destination, naming its own registry
/// id: the destination's CreateRepository then takes its REPLICATION creation template, as ECR's does.
pub const SOURCE_HEADER: &str = "x-berth-replication-source";

/// The most rules a replication configuration holds (the model's list maximum).
pub const MAX_RULES: usize = 10;
/// The most destinations one rule names (the model's list maximum).
pub const MAX_DESTINATIONS: usize = 100;
/// The most repository filters one rule holds (the model's list maximum).
pub const MAX_FILTERS: usize = 100;

/// Another Berth server standing for an ECR registry (a region and an account) that images replicate to: an
/// operator's configuration (`berth server --replication-destination REGION:ACCOUNT=URL` with the access key pair
/// from `--replication-credentials-file`).
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    /// The region the destination stands for.
    pub region: String,
    /// The destination's registry id (account).
    pub registry_id: String,
    /// The destination server's base URL (`http://host:port`), serving both its ECR API and `/v2/`.
    pub url: String,
    /// The access key id the source signs the destination's ECR calls with.
    pub access_key_id: String,
    /// The secret of that access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("region", &self.region)
            .field("registry_id", &self.registry_id)
            .field("url", &self.url)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Destination {
    /// The `REGION:ACCOUNT` name of the destination.
    pub fn name(&self) -> String {
        format!("{}:{}", self.region, self.registry_id)
    }
}

/// Parses `REGION:ACCOUNT=URL` (one `--replication-destination`) into (region, account, url).
pub fn parse_destination_spec(spec: &str) -> Result<(String, String, String), String> {
    let bad = |why: &str| format!("replication destination {spec:?}: {why} (expected REGION:ACCOUNT=URL)");
    let (name, url) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
    let (region, account) = name.split_once(':').ok_or_else(|| bad("no ':' between the region and the account"))?;
    if let Some(why) = region_problem(region) {
        return Err(bad(&why));
    }
    if let Some(why) = registry_id_problem(account) {
        return Err(bad(&why));
    }
    let url = url.trim_end_matches('/');
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    if rest.is_none_or(|r| r.is_empty() || r.contains('/')) {
        return Err(bad("the URL must be http://host:port or https://host[:port] with no path"));
    }
    Ok((region.to_string(), account.to_string(), url.to_string()))
}

/// Parses a replication credentials file: one line per destination, `REGION:ACCOUNT ACCESS_KEY_ID SECRET`; blank
/// lines and lines starting with `#` are skipped. The answer maps `REGION:ACCOUNT` to the key pair.
pub fn parse_credentials(text: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, key, secret] = fields[..] else {
            return Err(format!(
                "replication credentials line {}: expected REGION:ACCOUNT ACCESS_KEY_ID SECRET_ACCESS_KEY",
                n + 1
            ));
        };
        out.push((name.to_string(), key.to_string(), secret.to_string()));
    }
    Ok(out)
}

/// Builds the destinations from the `--replication-destination` specs and the credentials file's text: every
/// destination needs credentials, and a destination is named once.
pub fn destinations(specs: &[String], credentials: Option<&str>) -> Result<Vec<Destination>, String> {
    let credentials = match credentials {
        Some(text) => parse_credentials(text)?,
        None => Vec::new(),
    };
    let mut out: Vec<Destination> = Vec::new();
    for spec in specs {
        let (region, registry_id, url) = parse_destination_spec(spec)?;
        let name = format!("{region}:{registry_id}");
        if out.iter().any(|d| d.name() == name) {
            return Err(format!("replication destination {name} is given twice"));
        }
        let (_, access_key_id, secret_access_key) =
            credentials.iter().find(|(n, _, _)| n == &name).cloned().ok_or_else(|| {
                format!("replication destination {name} has no credentials in the replication credentials file")
            })?;
        out.push(Destination { region, registry_id, url, access_key_id, secret_access_key });
    }
    Ok(out)
}

/// Why a region does not match the model's pattern (`[0-9a-z-]{2,25}`).
pub fn region_problem(region: &str) -> Option<String> {
    let ok = (2..=25).contains(&region.len())
        && region.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-');
    (!ok).then(|| format!("region {region:?} must be 2 to 25 characters of [0-9a-z-]"))
}

/// Why a registry id does not match the model's pattern (12 digits).
pub fn registry_id_problem(id: &str) -> Option<String> {
    let ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
    (!ok).then(|| format!("registryId {id:?} must be 12 digits"))
}

/// Why a PREFIX_MATCH filter does not match the model's `RepositoryFilterValue` (2 to 256 characters; path
/// segments of `[a-z0-9._-]`, each but the last starting with a letter or digit).
pub fn filter_problem(filter: &str) -> Option<String> {
    if !(2..=256).contains(&filter.len()) {
        return Some(format!("filter {filter:?} must be 2 to 256 characters long"));
    }
    let segments: Vec<&str> = filter.split('/').collect();
    let allowed = |s: &str| s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        let starts_ok = i == last || segment.as_bytes().first().is_some_and(|b| b.is_ascii_alphanumeric());
        if !allowed(segment) || !starts_ok {
            return Some(format!(
                "filter {filter:?} is not a repository name prefix (lowercase letters, digits, '.', '_', '-' and '/')"
            ));
        }
    }
    None
}

pub use crate::error::ConfigProblem;

/// Checks a replication configuration: the model's limits and patterns, at least one destination per rule, no
/// destination that is the registry itself (`own`: region and account), and every destination known to the
/// server's configuration.
pub fn check_configuration(
    config: &ReplicationConfiguration,
    own: (&str, &str),
    known: &[Destination],
) -> Result<(), ConfigProblem> {
    use ConfigProblem::{Constraint, Invalid};
    if config.rules.len() > MAX_RULES {
        return Err(Constraint(format!(
            "Value at 'replicationConfiguration.rules' failed to satisfy constraint: Member must have length less \
             than or equal to {MAX_RULES}"
        )));
    }
    for (i, rule) in config.rules.iter().enumerate() {
        let at = format!("replicationConfiguration.rules.{}", i + 1);
        if rule.destinations.len() > MAX_DESTINATIONS {
            return Err(Constraint(format!(
                "Value at '{at}.destinations' failed to satisfy constraint: Member must have length less than or \
                 equal to {MAX_DESTINATIONS}"
            )));
        }
        if rule.destinations.is_empty() {
            return Err(Invalid(format!("Invalid parameter at '{at}.destinations': a rule needs a destination")));
        }
        if rule.delete_replication.is_some() {
            return Err(Invalid(format!(
                "Invalid parameter at '{at}.deleteReplication': replicating deletions is not supported by Berth's \
                 registry"
            )));
        }
        if let Some(filters) = &rule.repository_filters {
            if filters.is_empty() || filters.len() > MAX_FILTERS {
                return Err(Constraint(format!(
                    "Value at '{at}.repositoryFilters' failed to satisfy constraint: Member must have length \
                     between 1 and {MAX_FILTERS}"
                )));
            }
            for filter in filters {
                if let Some(why) = filter_problem(&filter.filter) {
                    return Err(Constraint(format!(
                        "Value at '{at}.repositoryFilters' failed to satisfy constraint: {why}"
                    )));
                }
            }
        }
        for destination in &rule.destinations {
            if let Some(why) =
                region_problem(&destination.region).or_else(|| registry_id_problem(&destination.registry_id))
            {
                return Err(Constraint(format!("Value at '{at}.destinations' failed to satisfy constraint: {why}")));
            }
            if (destination.region.as_str(), destination.registry_id.as_str()) == own {
                return Err(Invalid(format!(
                    "Invalid parameter at '{at}.destinations': the destination {}:{} is this registry; a registry \
                     cannot replicate to itself",
                    destination.region, destination.registry_id
                )));
            }
            if !known.iter().any(|d| d.region == destination.region && d.registry_id == destination.registry_id) {
                return Err(Invalid(format!(
                    "Invalid parameter at '{at}.destinations': no Berth server is configured for the destination \
                     {}:{} (the operator maps it with berth server --replication-destination REGION:ACCOUNT=URL)",
                    destination.region, destination.registry_id
                )));
            }
        }
    }
    Ok(())
}

/// The destinations an image pushed to repository `name` replicates to under `config`: those of every rule with no
/// filter or a filter that is a prefix of the name, each once, in the order the rules name them.
pub fn destinations_for(config: &ReplicationConfiguration, name: &str) -> Vec<ReplicationDestination> {
    let mut out: Vec<ReplicationDestination> = Vec::new();
    for rule in &config.rules {
        let matches = match &rule.repository_filters {
            None => true,
            Some(filters) => filters.iter().any(|f| name.starts_with(f.filter.as_str())),
        };
        if matches {
            for d in &rule.destinations {
                if !out.contains(d) {
                    out.push(d.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
