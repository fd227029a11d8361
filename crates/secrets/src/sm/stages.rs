//! Staging labels, as Secrets Manager moves them: pure functions on a secret's versions.

use super::records::VersionMeta;
use crate::SecretsError;
use std::collections::BTreeMap;

/// The label of the current version.
pub const CURRENT: &str = "AWSCURRENT";
/// The label AWSCURRENT leaves behind when it moves.
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// The most labels one version may carry.
pub const MAX_STAGES: usize = 20;

/// The version carrying `stage`.
pub fn holder<'a>(versions: &'a BTreeMap<String, VersionMeta>, stage: &str) -> Option<&'a str> {
    versions.iter().find(|(_, v)| v.stages.iter().any(|s| s == stage)).map(|(id, _)| id.as_str())
}

/// Moves `stage` onto `to` (taking it off any other version). Moving AWSCURRENT gives AWSPREVIOUS to the version
/// that had it.
pub fn attach(versions: &mut BTreeMap<String, VersionMeta>, stage: &str, to: &str) {
    let from = holder(versions, stage).map(str::to_string);
    if from.as_deref() == Some(to) {
        return;
    }
    if let Some(from) = &from
        && let Some(v) = versions.get_mut(from)
    {
        v.stages.retain(|s| s != stage);
    }
    if let Some(v) = versions.get_mut(to) {
        v.stages.push(stage.to_string());
    }
    if stage == CURRENT
        && let Some(from) = from
    {
        attach(versions, PREVIOUS, &from);
    }
}

/// Checks staging label names (1–256 characters) and how many a request gives.
pub fn check_labels(stages: &[String]) -> Result<(), SecretsError> {
    if stages.is_empty() || stages.len() > MAX_STAGES {
        return Err(SecretsError::constraint(
            "versionStages",
            &format!("Member must have length less than or equal to {MAX_STAGES}"),
        ));
    }
    for s in stages {
        crate::wire::check_len("versionStages.member", s, 1, 256)?;
    }
    Ok(())
}

/// UpdateSecretVersionStage's rules: `MoveToVersionId` gets `stage`; if another version has it, it must be named
/// in `RemoveFromVersionId`; AWSCURRENT cannot be removed without being moved.
pub fn update(
    versions: &mut BTreeMap<String, VersionMeta>,
    stage: &str,
    remove_from: Option<&str>,
    move_to: Option<&str>,
) -> Result<(), SecretsError> {
    crate::wire::check_len("versionStage", stage, 1, 256)?;
    let current = holder(versions, stage).map(str::to_string);
    for id in [remove_from, move_to].into_iter().flatten() {
        if !versions.contains_key(id) {
            return Err(SecretsError::new(
                "ResourceNotFoundException",
                format!("Secrets Manager can't find the specified secret value for VersionId: {id}"),
            ));
        }
    }
    if let Some(from) = remove_from
        && current.as_deref() != Some(from)
    {
        return Err(SecretsError::new(
            "InvalidParameterException",
            format!("The staging label {stage} is not attached to version {from}, so you can't remove it."),
        ));
    }
    match move_to {
        Some(to) => {
            if let Some(holder) = current.as_deref()
                && holder != to
                && remove_from.is_none()
            {
                return Err(SecretsError::new(
                    "InvalidParameterException",
                    format!(
                        "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {holder}, so you must explicitly reference that version in RemoveFromVersionId."
                    ),
                ));
            }
            if versions.get(to).is_some_and(|v| v.stages.len() >= MAX_STAGES && !v.stages.iter().any(|s| s == stage)) {
                return Err(SecretsError::new(
                    "LimitExceededException",
                    format!("A version can have at most {MAX_STAGES} staging labels."),
                ));
            }
            attach(versions, stage, to);
        }
        None => {
            let Some(from) = remove_from else {
                return Err(SecretsError::new(
                    "InvalidParameterException",
                    "You must specify MoveToVersionId or RemoveFromVersionId (or both).",
                ));
            };
            if stage == CURRENT {
                return Err(SecretsError::new(
                    "InvalidParameterException",
                    "You can't remove the staging label AWSCURRENT from a version without moving it: specify MoveToVersionId.",
                ));
            }
            if let Some(v) = versions.get_mut(from) {
                v.stages.retain(|s| s != stage);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(spec: &[(&str, &[&str])]) -> BTreeMap<String, VersionMeta> {
        spec.iter()
            .map(|(id, stages)| {
                let meta = VersionMeta {
                    created: 0.0,
                    stages: stages.iter().map(|s| s.to_string()).collect(),
                    key_arn: String::new(),
                    last_accessed: None,
                };
                (id.to_string(), meta)
            })
            .collect()
    }

    fn stages_of(v: &BTreeMap<String, VersionMeta>, id: &str) -> Vec<String> {
        let mut s = v[id].stages.clone();
        s.sort();
        s
    }

    #[test]
    fn moving_current_leaves_previous_behind_and_takes_it_from_the_older_one() {
        let mut v = versions(&[("a", &["AWSPREVIOUS"]), ("b", &["AWSCURRENT"]), ("c", &[])]);
        attach(&mut v, CURRENT, "c");
        assert_eq!(stages_of(&v, "c"), ["AWSCURRENT"]);
        assert_eq!(stages_of(&v, "b"), ["AWSPREVIOUS"]);
        assert!(stages_of(&v, "a").is_empty());
        // Re-attaching where it already is changes nothing.
        attach(&mut v, CURRENT, "c");
        assert_eq!(stages_of(&v, "b"), ["AWSPREVIOUS"]);
    }

    #[test]
    fn update_needs_remove_from_when_the_label_is_elsewhere() {
        let mut v = versions(&[("a", &["AWSCURRENT"]), ("b", &["AWSPENDING"])]);
        let e = update(&mut v, "AWSCURRENT", None, Some("b")).unwrap_err();
        assert_eq!(e.exception, "InvalidParameterException");
        assert!(e.message.contains("currently attached to version a"), "{}", e.message);
        let e = update(&mut v, "AWSCURRENT", Some("b"), Some("b")).unwrap_err();
        assert_eq!(e.exception, "InvalidParameterException");
        let e = update(&mut v, "AWSCURRENT", Some("a"), Some("zzz")).unwrap_err();
        assert_eq!(e.exception, "ResourceNotFoundException");
        update(&mut v, "AWSCURRENT", Some("a"), Some("b")).unwrap();
        assert_eq!(stages_of(&v, "b"), ["AWSCURRENT", "AWSPENDING"]);
        assert_eq!(stages_of(&v, "a"), ["AWSPREVIOUS"]);
    }

    #[test]
    fn removing_a_label_alone_works_except_for_current() {
        let mut v = versions(&[("a", &["AWSCURRENT"]), ("b", &["AWSPENDING"])]);
        update(&mut v, "AWSPENDING", Some("b"), None).unwrap();
        assert!(stages_of(&v, "b").is_empty());
        let e = update(&mut v, "AWSCURRENT", Some("a"), None).unwrap_err();
        assert_eq!(e.exception, "InvalidParameterException");
        let e = update(&mut v, "X", None, None).unwrap_err();
        assert_eq!(e.exception, "InvalidParameterException");
        // A new label moves without RemoveFromVersionId.
        update(&mut v, "blue", None, Some("b")).unwrap();
        assert_eq!(stages_of(&v, "b"), ["blue"]);
    }

    #[test]
    fn label_counts_and_lengths_are_checked() {
        assert!(check_labels(&[]).is_err());
        assert!(check_labels(&vec!["x".to_string(); 21]).is_err());
        assert!(check_labels(&["x".repeat(257)]).is_err());
        assert!(check_labels(&["AWSCURRENT".to_string()]).is_ok());
    }
}
