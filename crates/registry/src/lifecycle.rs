//! Lifecycle policies in ECR's JSON format: parsing with ECR's validation rules, evaluation as ECR documents it,
//! and application on a timer.
//!
//! Evaluation, per the ECR documentation:
//! - rules run in `rulePriority` order, lowest first;
//! - an image that matches the tag selection of a rule cannot be expired by a later (lower-priority) rule, so
//!   each image is expired by at most one rule;
//! - a later rule still *counts* images a former rule selected or expired, as if they had not been expired;
//! - `tagPrefixList` / `tagPatternList` select an image when every entry matches at least one of its tags;
//! - `imageCountMoreThan` keeps the N most recently pushed selected images; `sinceImagePushed` acts on selected
//!   images pushed more than N days ago, `sinceImagePulled` on those last pulled (or, never pulled, pushed) more
//!   than N days ago, `sinceImageTransitioned` on archived images archived more than N days ago. Older images first.
//! - A rule selects images of one storage class (`selection.storageClass`, standard by default; archive only with
//!   `sinceImageTransitioned`); its action expires them (`expire`) or moves standard images to the archive
//!   (`transition` with `targetStorageClass: archive`). Archived images are expired no sooner than 90 days after
//!   they were archived (ECR's minimum archive storage duration).

use crate::Registry;
use crate::error::{RegistryError, Result};
use crate::names;
use berth_model::Timestamp;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

/// ECR's limit on `*` wildcards in one `tagPatternList` entry.
pub const MAX_PATTERN_WILDCARDS: usize = 4;
/// Seconds in a day (`countUnit: days`).
const DAY: f64 = 86_400.0;

/// Which images a rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSelection {
    /// Images with no tag.
    Untagged,
    /// Every image.
    Any,
    /// Tagged images where every prefix starts one of the image's tags.
    Prefixes(Vec<String>),
    /// Tagged images where every pattern matches one of the image's tags.
    Patterns(Vec<String>),
}

/// When selected images are acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Keep the N newest.
    MoreThan(u32),
    /// Those pushed more than N days ago.
    SincePushedDays(u32),
    /// Those last pulled (never pulled: pushed) more than N days ago.
    SincePulledDays(u32),
    /// Archived images archived more than N days ago.
    SinceTransitionedDays(u32),
}

/// What a rule does to the images it picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// Delete them.
    Expire,
    /// Move them to the archive storage class.
    Archive,
}

/// ECR's minimum archive storage duration: archived images are not expired by a lifecycle rule sooner, in days.
pub const MIN_ARCHIVE_DAYS: u32 = 90;

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `rulePriority`.
    pub priority: i64,
    /// `description`.
    pub description: Option<String>,
    /// The tag selection.
    pub selection: TagSelection,
    /// The count condition.
    pub count: Count,
    /// The storage class it selects from: archive (true) or standard.
    pub archived: bool,
    /// What it does.
    pub action: RuleAction,
}

/// A parsed, validated policy; rules sorted by priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The rules.
    pub rules: Vec<Rule>,
}

/// An image as the lifecycle sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The manifest digest.
    pub digest: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// When it was pushed.
    pub pushed_at: Timestamp,
    /// When it was last pulled, if ever.
    pub pulled_at: Option<Timestamp>,
    /// When it was archived, if it is in the archive storage class.
    pub archived_at: Option<Timestamp>,
}

/// An image a policy acts on, the rule that does, and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Expiry {
    /// The manifest digest.
    pub digest: String,
    /// The rule's priority.
    pub rule_priority: i64,
    /// Expire or archive.
    pub action: RuleAction,
}

fn bad(reason: impl Into<String>) -> RegistryError {
    RegistryError::InvalidParameter {
        reason: format!("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '{}'", reason.into()),
    }
}

fn strings(rule: usize, v: Option<&Value>, field: &str) -> Result<Option<Vec<String>>> {
    let Some(v) = v else { return Ok(None) };
    let list = v.as_array().ok_or_else(|| bad(format!("rule {rule}: {field} must be a list of strings")))?;
    let mut out = Vec::new();
    for item in list {
        let s = item.as_str().ok_or_else(|| bad(format!("rule {rule}: {field} must be a list of strings")))?;
        if s.is_empty() {
            return Err(bad(format!("rule {rule}: {field} entries must not be empty")));
        }
        out.push(s.to_string());
    }
    if out.is_empty() {
        return Err(bad(format!("rule {rule}: {field} must not be empty")));
    }
    Ok(Some(out))
}

impl Policy {
    /// Parses and validates a policy text.
    pub fn parse(text: &str) -> Result<Policy> {
        if text.len() < 100 || text.len() > 30_720 {
            return Err(bad("lifecycle policy text must be between 100 and 30720 characters"));
        }
        let doc: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("lifecycle policy is not valid JSON: {e}")))?;
        let rules =
            doc.get("rules").and_then(Value::as_array).ok_or_else(|| bad("lifecycle policy needs a rules list"))?;
        if rules.is_empty() {
            return Err(bad("lifecycle policy needs at least one rule"));
        }
        let mut parsed = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            parsed.push(Self::parse_rule(i + 1, rule)?);
        }
        parsed.sort_by_key(|r| r.priority);
        let mut priorities = HashSet::new();
        let mut selections = HashSet::new();
        for r in &parsed {
            if !priorities.insert(r.priority) {
                return Err(bad(format!("rulePriority {} is used by more than one rule", r.priority)));
            }
            let key = format!("{:?}/{}", r.selection, r.archived);
            if !selections.insert(key) && !matches!(r.selection, TagSelection::Any) {
                return Err(bad("rules must select unique sets of tags".to_string()));
            }
        }
        for archived in [false, true] {
            if parsed.iter().filter(|r| r.selection == TagSelection::Untagged && r.archived == archived).count() > 1 {
                return Err(bad("only one rule per storage class may select untagged images"));
            }
        }
        // Among the rules of one storage class, a rule for any image comes last.
        for archived in [false, true] {
            let class: Vec<&Rule> = parsed.iter().filter(|r| r.archived == archived).collect();
            if let Some(pos) = class.iter().position(|r| r.selection == TagSelection::Any)
                && pos != class.len() - 1
            {
                return Err(bad("a rule with tagStatus any must have the highest rulePriority"));
            }
        }
        Ok(Policy { rules: parsed })
    }

    fn parse_rule(i: usize, rule: &Value) -> Result<Rule> {
        let priority = rule
            .get("rulePriority")
            .and_then(Value::as_i64)
            .filter(|p| *p >= 1)
            .ok_or_else(|| bad(format!("rule {i}: rulePriority must be an integer of at least 1")))?;
        let description = rule.get("description").and_then(Value::as_str).map(str::to_string);
        let action = rule.get("action").ok_or_else(|| bad(format!("rule {i}: action is required")))?;
        let target = action.get("targetStorageClass");
        let action = match (action.get("type").and_then(Value::as_str), target) {
            (Some("expire"), None) => RuleAction::Expire,
            (Some("expire"), Some(_)) => {
                return Err(bad(format!("rule {i}: targetStorageClass is only allowed with action type transition")));
            }
            (Some("transition"), Some(t)) if t.as_str() == Some("archive") => RuleAction::Archive,
            (Some("transition"), _) => {
                return Err(bad(format!("rule {i}: action transition needs targetStorageClass archive")));
            }
            _ => return Err(bad(format!("rule {i}: action.type must be expire or transition"))),
        };
        let sel = rule.get("selection").ok_or_else(|| bad(format!("rule {i}: selection is required")))?;
        let archived = match sel.get("storageClass").map(Value::as_str) {
            None | Some(Some("standard")) => false,
            Some(Some("archive")) => true,
            Some(_) => return Err(bad(format!("rule {i}: storageClass must be standard or archive"))),
        };
        let prefixes = strings(i, sel.get("tagPrefixList"), "tagPrefixList")?;
        let patterns = strings(i, sel.get("tagPatternList"), "tagPatternList")?;
        let selection = match (sel.get("tagStatus").and_then(Value::as_str), prefixes, patterns) {
            (Some("tagged"), Some(_), Some(_)) => {
                return Err(bad(format!("rule {i}: use tagPrefixList or tagPatternList, not both")));
            }
            (Some("tagged"), Some(p), None) => TagSelection::Prefixes(p),
            (Some("tagged"), None, Some(p)) => {
                for pattern in &p {
                    if let Some(reason) = names::wildcard_problem(pattern, MAX_PATTERN_WILDCARDS) {
                        return Err(bad(format!("rule {i}: tagPatternList: {reason}")));
                    }
                }
                TagSelection::Patterns(p)
            }
            (Some("tagged"), None, None) => {
                return Err(bad(format!("rule {i}: tagStatus tagged needs tagPrefixList or tagPatternList")));
            }
            (Some("untagged" | "any"), Some(_), _) | (Some("untagged" | "any"), _, Some(_)) => {
                return Err(bad(format!("rule {i}: tag lists are only allowed with tagStatus tagged")));
            }
            (Some("untagged"), None, None) => TagSelection::Untagged,
            (Some("any"), None, None) => TagSelection::Any,
            _ => return Err(bad(format!("rule {i}: tagStatus must be tagged, untagged or any"))),
        };
        let number =
            sel.get("countNumber")
                .and_then(Value::as_u64)
                .filter(|n| *n >= 1 && *n <= u32::MAX as u64)
                .ok_or_else(|| bad(format!("rule {i}: countNumber must be a positive integer")))? as u32;
        let count = match (sel.get("countType").and_then(Value::as_str), sel.get("countUnit")) {
            (Some("imageCountMoreThan"), None) => Count::MoreThan(number),
            (Some("imageCountMoreThan"), Some(_)) => {
                return Err(bad(format!("rule {i}: countUnit is not allowed with imageCountMoreThan")));
            }
            (Some("sinceImagePushed"), Some(unit)) if unit.as_str() == Some("days") => Count::SincePushedDays(number),
            (Some("sinceImagePushed"), _) => {
                return Err(bad(format!("rule {i}: sinceImagePushed needs countUnit days")));
            }
            (Some("sinceImagePulled"), Some(unit)) if unit.as_str() == Some("days") => Count::SincePulledDays(number),
            (Some("sinceImageTransitioned"), Some(unit)) if unit.as_str() == Some("days") => {
                Count::SinceTransitionedDays(number)
            }
            (Some(t @ ("sinceImagePulled" | "sinceImageTransitioned")), _) => {
                return Err(bad(format!("rule {i}: {t} needs countUnit days")));
            }
            _ => {
                return Err(bad(format!(
                    "rule {i}: countType must be imageCountMoreThan, sinceImagePushed, sinceImagePulled or sinceImageTransitioned"
                )));
            }
        };
        match (count, archived, action) {
            (Count::SinceTransitionedDays(_), false, _) => {
                return Err(bad(format!("rule {i}: sinceImageTransitioned needs storageClass archive")));
            }
            (Count::SinceTransitionedDays(days), true, RuleAction::Expire) if days < MIN_ARCHIVE_DAYS => {
                return Err(bad(format!(
                    "rule {i}: archived images are kept at least {MIN_ARCHIVE_DAYS} days: countNumber must be at least {MIN_ARCHIVE_DAYS}"
                )));
            }
            (_, true, RuleAction::Archive) => {
                return Err(bad(format!("rule {i}: archived images cannot transition to the archive again")));
            }
            (Count::SinceTransitionedDays(_), true, _) => {}
            (_, true, _) => {
                return Err(bad(format!("rule {i}: storageClass archive is only allowed with sinceImageTransitioned")));
            }
            _ => {}
        }
        Ok(Rule { priority, description, selection, count, archived, action })
    }
}

impl TagSelection {
    /// Whether an image with these tags is selected.
    pub fn matches(&self, tags: &[String]) -> bool {
        match self {
            TagSelection::Untagged => tags.is_empty(),
            TagSelection::Any => true,
            TagSelection::Prefixes(prefixes) => {
                !tags.is_empty() && prefixes.iter().all(|p| tags.iter().any(|t| t.starts_with(p.as_str())))
            }
            TagSelection::Patterns(patterns) => {
                !tags.is_empty() && patterns.iter().all(|p| tags.iter().any(|t| names::wildcard_match(p, t)))
            }
        }
    }
}

/// The images `policy` acts on at `now`, each with the rule that does and its action; oldest first.
pub fn evaluate(policy: &Policy, images: &[Candidate], now: Timestamp) -> Vec<Expiry> {
    let mut claimed: HashSet<&str> = HashSet::new();
    let mut expired = Vec::new();
    for rule in &policy.rules {
        let mut selected: Vec<&Candidate> = images
            .iter()
            .filter(|c| c.archived_at.is_some() == rule.archived && rule.selection.matches(&c.tags))
            .collect();
        // Newest first; ties broken by digest so the result is deterministic.
        selected.sort_by(|a, b| b.pushed_at.total_cmp(&a.pushed_at).then_with(|| a.digest.cmp(&b.digest)));
        let doomed: Vec<&Candidate> = match rule.count {
            Count::MoreThan(n) => selected.iter().skip(n as usize).copied().collect(),
            Count::SincePushedDays(days) => {
                selected.iter().filter(|c| c.pushed_at < now - f64::from(days) * DAY).copied().collect()
            }
            Count::SincePulledDays(days) => selected
                .iter()
                .filter(|c| c.pulled_at.unwrap_or(c.pushed_at) < now - f64::from(days) * DAY)
                .copied()
                .collect(),
            Count::SinceTransitionedDays(days) => selected
                .iter()
                .filter(|c| c.archived_at.is_some_and(|a| a < now - f64::from(days) * DAY))
                .copied()
                .collect(),
        };
        for c in doomed.into_iter().rev() {
            if !claimed.contains(c.digest.as_str()) {
                let e = Expiry { digest: c.digest.clone(), rule_priority: rule.priority, action: rule.action };
                expired.push((c.pushed_at, e));
            }
        }
        claimed.extend(selected.iter().map(|c| c.digest.as_str()));
    }
    expired.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.digest.cmp(&b.1.digest)));
    expired.into_iter().map(|(_, e)| e).collect()
}

impl Registry {
    /// The lifecycle candidates of a repository (every manifest with its tags and push time).
    pub(crate) fn lifecycle_candidates(&self, repo: &str) -> Result<Vec<Candidate>> {
        let state = self.index.read();
        let entry = state.existing_repo(repo)?;
        Ok(entry
            .images
            .values()
            .map(|i| {
                let digest = i.record.digest.clone();
                let archived = i.record.image_status() == berth_model::ecr::ImageStatus::Archived;
                Candidate {
                    tags: entry.tags_for(&digest),
                    pushed_at: i.record.pushed_at,
                    pulled_at: self.last_pull(repo, &digest, entry.pulls.get(&digest).copied()),
                    archived_at: archived.then(|| i.record.last_archived_at.unwrap_or(i.record.pushed_at)),
                    digest,
                }
            })
            .collect())
    }

    /// Applies one repository's lifecycle policy now; returns the images it expired.
    pub async fn apply_lifecycle_policy(&self, repo: &str) -> Result<Vec<Expiry>> {
        let record = self.repository(repo)?;
        let Some(text) = &record.lifecycle_policy else { return Ok(Vec::new()) };
        let policy = Policy::parse(text)?;
        let now = self.now();
        let expiries = evaluate(&policy, &self.lifecycle_candidates(repo)?, now);
        let mut done = Vec::new();
        // Children of an index cannot go before the index: retry those after the rest.
        let mut pending: Vec<Expiry> = expiries;
        for _ in 0..3 {
            let mut retry = Vec::new();
            for e in pending {
                if e.action == RuleAction::Archive {
                    match self.set_storage_class(repo, &e.digest, true).await {
                        Ok(_) => done.push(e),
                        // An image a manifest list references moves with the list, not on its own.
                        Err(crate::storage_class::StorageClassError::NotSupported(_)) => {}
                        Err(crate::storage_class::StorageClassError::Registry(RegistryError::ManifestUnknown {
                            ..
                        })) => {}
                        Err(crate::storage_class::StorageClassError::Registry(err)) => return Err(err),
                    }
                    continue;
                }
                match self.delete_manifest(repo, &e.digest).await {
                    Ok(()) => done.push(e),
                    Err(RegistryError::ReferencedByIndex { .. }) => retry.push(e),
                    Err(RegistryError::ManifestUnknown { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            if retry.is_empty() {
                break;
            }
            pending = retry;
        }
        self.update_repository(repo, |r| {
            r.lifecycle_evaluated_at = Some(now);
            Ok(())
        })
        .await?;
        if !done.is_empty() {
            let archived = done.iter().filter(|e| e.action == RuleAction::Archive).count();
            tracing::info!(%repo, expired = done.len() - archived, archived, "lifecycle policy applied");
        }
        Ok(done)
    }

    /// Applies every repository's lifecycle policy; returns how many images were expired.
    pub async fn apply_lifecycle_policies(&self) -> Result<usize> {
        let repos: BTreeSet<String> = self
            .index
            .read()
            .repos
            .iter()
            .filter(|(_, r)| r.record.as_ref().is_some_and(|(rec, _)| rec.lifecycle_policy.is_some()))
            .map(|(n, _)| n.clone())
            .collect();
        let mut total = 0;
        for repo in repos {
            match self.apply_lifecycle_policy(&repo).await {
                Ok(expired) => total += expired.len(),
                Err(RegistryError::RepositoryNotFound { .. }) => {}
                Err(e) => tracing::warn!(%repo, error = %e, "lifecycle policy failed"),
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests;
