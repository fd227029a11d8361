//! The hidden test knob `--schema-ceiling KIND=N[,KIND=N...]` (also `BERTH_SCHEMA_CEILING`): the server reads and
//! writes kind KIND as a release whose newest version of it is N would (it refuses newer values, writes N at
//! most, and advertises N). It simulates the previous release's binary in the rolling-upgrade test, where building
//! an old commit would be too slow. Only N from the kind's oldest written version to its newest is accepted: a
//! build cannot write anything older.

use crate::stored::KINDS;
use std::collections::BTreeMap;

/// Parses the knob's text (empty: no ceiling). Kinds are named as in errors, with `-` for spaces
/// (`task`, `container-instance`, `task-definition-family` ...).
pub fn parse(text: &str) -> Result<BTreeMap<&'static str, u32>, String> {
    let mut out = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((name, version)) = item.split_once('=') else {
            return Err(format!("--schema-ceiling: {item:?} is not KIND=VERSION"));
        };
        let wanted = name.trim().replace('-', " ");
        let Some(kind) = KINDS.iter().find(|k| k.kind == wanted) else {
            let known: Vec<String> = KINDS.iter().map(|k| k.kind.replace(' ', "-")).collect();
            return Err(format!("--schema-ceiling: no record kind {name:?} (kinds: {})", known.join(", ")));
        };
        let version: u32 =
            version.trim().parse().map_err(|_| format!("--schema-ceiling: {item:?}: the version is not a number"))?;
        if version < kind.oldest_written || version > kind.schema {
            return Err(format!(
                "--schema-ceiling: {item:?}: this Berth can act as a release reading {name} records up to version \
                 {} to {}, not {version}",
                kind.oldest_written, kind.schema
            ));
        }
        out.insert(kind.kind, version);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_with_dashes_and_versions_checked() {
        assert_eq!(parse("").unwrap(), BTreeMap::new());
        let ceiling = parse("task=2, container-instance=2").unwrap();
        assert_eq!(ceiling.get("task"), Some(&2));
        assert_eq!(ceiling.get("container instance"), Some(&2));
        assert!(parse("task=1").unwrap_err().contains("up to version 2 to 3"));
        assert!(parse("cluster=1").is_err(), "clusters cannot be written at version 1 by this build");
        assert!(parse("task=4").is_err());
        assert!(parse("tasks=2").unwrap_err().contains("no record kind"));
        assert!(parse("task").unwrap_err().contains("KIND=VERSION"));
        assert!(parse("task=two").unwrap_err().contains("not a number"));
    }
}
