//! ECR managed signing: the registry's signing configuration (rules naming a signing profile, with optional
//! WILDCARD_MATCH repository filters, kept in the registry settings record), the operator's signing profiles (a
//! key, and its certificate, standing for an AWS Signer profile: [`SigningProfile`], [`load_profiles`]), the
//! asynchronous signing of pushed images ([`run`]) and its status per image and profile ([`status`]).

pub(crate) mod run;
pub(crate) mod status;

use berth_model::ecr::SigningConfiguration;
use berth_signature::Signer;
use std::path::Path;
use std::sync::Arc;

/// The most rules a signing configuration holds (the model's list maximum).
pub const MAX_RULES: usize = 10;
/// The most repository filters one rule holds (the model's list maximum).
pub const MAX_FILTERS: usize = 100;
/// The longest signing profile ARN (the model's maximum).
pub const MAX_ARN_LENGTH: usize = 200;

/// A signing profile the operator configured (`--signing-profile NAME=KEY.pem[,CERT.pem]`): the key and
/// certificate chain AWS Signer would hold for the profile `arn:aws:signer:REGION:ACCOUNT:/signing-profiles/NAME`.
#[derive(Debug, Clone)]
pub struct SigningProfile {
    /// The profile's name (the last part of its ARN).
    pub name: String,
    /// The key and certificate chain.
    pub signer: Arc<Signer>,
}

/// The parts of a signing profile ARN: (partition, region, account, name); `None` when it does not match the
/// model's pattern `^arn:aws(-[a-z]+)*:signer:[a-z0-9-]+:[0-9]{12}:\/signing-profiles\/[a-zA-Z0-9_]{2,}$`.
pub fn parse_profile_arn(arn: &str) -> Option<(&str, &str, &str, &str)> {
    if arn.len() > MAX_ARN_LENGTH {
        return None;
    }
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let suffix_ok = partition
        .strip_prefix("aws")?
        .split('-')
        .skip(1)
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()));
    let partition_ok = suffix_ok && (partition == "aws" || partition.starts_with("aws-"));
    let rest = rest.strip_prefix("signer:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, rest) = rest.split_once(':')?;
    let name = rest.strip_prefix("/signing-profiles/")?;
    let region_ok =
        !region.is_empty() && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (partition_ok && region_ok && account_ok && profile_name_ok(name)).then_some((partition, region, account, name))
}

/// Whether `name` is a signing profile name (`[a-zA-Z0-9_]{2,}`; Berth also caps it at 64 characters).
pub fn profile_name_ok(name: &str) -> bool {
    (2..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `filter` matches the model's `SigningRepositoryFilterValue`: 1 to 256 characters, path segments of
/// components of `[a-z0-9*]` joined by one of `._-`.
pub fn filter_ok(filter: &str) -> bool {
    let component =
        |c: &str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'*');
    (1..=256).contains(&filter.len()) && filter.split('/').all(|segment| segment.split(['.', '_', '-']).all(component))
}

pub use crate::error::ConfigProblem;

/// Checks a signing configuration: the model's limits and patterns, and every profile one of `known` in this
/// registry's region and account.
pub fn check_configuration(
    config: &SigningConfiguration,
    region: &str,
    account: &str,
    known: &[SigningProfile],
) -> Result<(), ConfigProblem> {
    use ConfigProblem::{Constraint, Invalid};
    if config.rules.len() > MAX_RULES {
        return Err(Constraint(format!(
            "Value at 'signingConfiguration.rules' failed to satisfy constraint: Member must have length less than \
             or equal to {MAX_RULES}"
        )));
    }
    for (i, rule) in config.rules.iter().enumerate() {
        let at = format!("signingConfiguration.rules.{}", i + 1);
        let arn = &rule.signing_profile_arn;
        let Some((_, arn_region, arn_account, name)) = parse_profile_arn(arn) else {
            return Err(Constraint(format!(
                "Value '{arn}' at '{at}.signingProfileArn' failed to satisfy constraint: Member must satisfy regular \
                 expression pattern: ^arn:aws(-[a-z]+)*:signer:[a-z0-9-]+:[0-9]{{12}}:\\/signing-profiles\\/\
                 [a-zA-Z0-9_]{{2,}}$ and have length less than or equal to {MAX_ARN_LENGTH}"
            )));
        };
        if let Some(filters) = &rule.repository_filters {
            if filters.is_empty() || filters.len() > MAX_FILTERS {
                return Err(Constraint(format!(
                    "Value at '{at}.repositoryFilters' failed to satisfy constraint: Member must have length between \
                     1 and {MAX_FILTERS}"
                )));
            }
            if let Some(bad) = filters.iter().find(|f| !filter_ok(&f.filter)) {
                return Err(Constraint(format!(
                    "Value '{}' at '{at}.repositoryFilters.member.filter' failed to satisfy constraint: Member must \
                     be 1 to 256 characters of lowercase letters, digits and '*', in path segments joined by '.', \
                     '_' or '-'",
                    bad.filter
                )));
            }
        }
        if (arn_region, arn_account) != (region, account) {
            return Err(Invalid(format!(
                "Invalid parameter at '{at}.signingProfileArn': the signing profile {arn} is not in this registry's \
                 region and account ({region}, {account})"
            )));
        }
        if !known.iter().any(|p| p.name == name) {
            return Err(Invalid(format!(
                "Invalid parameter at '{at}.signingProfileArn': no signing profile named {name:?} is configured on \
                 this Berth server (the operator adds one with berth server --signing-profile {name}=KEY.pem)"
            )));
        }
    }
    Ok(())
}

/// The signing profile ARNs whose rules match repository `name` under `config`: a rule without filters matches
/// every repository, else one of its WILDCARD_MATCH filters must; each profile once, in rule order.
pub fn profiles_for(config: &SigningConfiguration, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for rule in &config.rules {
        let matches = match &rule.repository_filters {
            None => true,
            Some(filters) => filters.iter().any(|f| crate::names::wildcard_match(&f.filter, name)),
        };
        if matches && !out.contains(&rule.signing_profile_arn) {
            out.push(rule.signing_profile_arn.clone());
        }
    }
    out
}

/// Parses one `--signing-profile NAME=KEY.pem[,CERT.pem]` into (name, key path, certificate path).
pub fn parse_profile_spec(spec: &str) -> Result<(String, String, Option<String>), String> {
    let bad = |why: &str| format!("signing profile {spec:?}: {why} (expected NAME=KEY.pem[,CERT.pem])");
    let (name, files) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
    if !profile_name_ok(name) {
        return Err(bad("the name must be 2 to 64 letters, digits or '_' (AWS Signer's profile names)"));
    }
    let (key, cert) = match files.split_once(',') {
        Some((key, cert)) => (key, Some(cert.to_string())),
        None => (files, None),
    };
    if key.is_empty() || cert.as_deref() == Some("") {
        return Err(bad("a file name is empty"));
    }
    Ok((name.to_string(), key.to_string(), cert))
}

/// Loads the operator's signing profiles. A profile given without a certificate gets a self-signed code-signing
/// certificate for its key, made once and kept in `dir` as `NAME.pem` (so the certificate agents trust stays the
/// same across restarts; it is made again only if the key changed). `now` is Unix seconds.
pub fn load_profiles(specs: &[String], dir: &Path, now: i64) -> Result<Vec<SigningProfile>, String> {
    let mut out: Vec<SigningProfile> = Vec::new();
    for spec in specs {
        let (name, key_path, cert_path) = parse_profile_spec(spec)?;
        if out.iter().any(|p| p.name == name) {
            return Err(format!("signing profile {name} is given twice"));
        }
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("signing profile {name}: reading {}: {e}", path.display()))
        };
        let key = read(Path::new(&key_path))?;
        let signer = match cert_path {
            Some(cert_path) => Signer::new(&key, &read(Path::new(&cert_path))?),
            None => {
                let kept = dir.join(format!("{name}.pem"));
                match std::fs::read_to_string(&kept).ok().and_then(|pem| Signer::new(&key, &pem).ok()) {
                    Some(signer) => Ok(signer),
                    None => {
                        let pem = Signer::self_signed_certificate(&key, &format!("Berth signing profile {name}"), now)
                            .map_err(|e| format!("signing profile {name}: {e}"))?;
                        std::fs::create_dir_all(dir)
                            .and_then(|()| std::fs::write(&kept, &pem))
                            .map_err(|e| format!("signing profile {name}: writing {}: {e}", kept.display()))?;
                        tracing::info!(profile = %name, certificate = %kept.display(), "made a self-signed signing certificate");
                        Signer::new(&key, &pem)
                    }
                }
            }
        }
        .map_err(|e| format!("signing profile {name}: {e}"))?;
        out.push(SigningProfile { name, signer: Arc::new(signer) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
