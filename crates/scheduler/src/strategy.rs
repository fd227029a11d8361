//! Placement strategies: `binpack`, `spread` and `random`, parsed and validated as ECS does, and the
//! defaults ECS applies when none are given.

use std::fmt;

use crate::error::PlacementError;

/// ECS's limit on the number of placement strategies.
pub const MAX_STRATEGIES: usize = 5;

/// The resource a `binpack` strategy packs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinpackField {
    /// `cpu`.
    Cpu,
    /// `memory`.
    Memory,
}

/// A placement strategy. Strategies rank feasible instances: the first ranks, later ones break its ties.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// `binpack`: the instance with the least remaining amount of the resource that still fits the task.
    Binpack(BinpackField),
    /// `spread` over a field: `instanceId` (or `host`, the same) or `attribute:NAME`. Tasks of the same group
    /// are spread evenly over the field's values; instances without the attribute share one bucket.
    Spread(String),
    /// `random`: any feasible instance, uniformly at random when it is the first strategy.
    Random,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Binpack(BinpackField::Cpu) => f.write_str("binpack(cpu)"),
            Strategy::Binpack(BinpackField::Memory) => f.write_str("binpack(memory)"),
            Strategy::Spread(field) => write!(f, "spread({field})"),
            Strategy::Random => f.write_str("random"),
        }
    }
}

/// What a `spread` field spreads over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SpreadOver {
    /// Each instance is its own bucket (`instanceId`, `host`).
    Instance,
    /// Instances are bucketed by the value of this attribute.
    Attribute(String),
}

/// Interprets a spread field; fields that are neither `instanceId`/`host` nor `attribute:NAME` (which
/// [`parse_strategy`] rejects) are taken as bare attribute names.
pub(crate) fn spread_over(field: &str) -> SpreadOver {
    if field.eq_ignore_ascii_case("instanceId") || field.eq_ignore_ascii_case("host") {
        SpreadOver::Instance
    } else {
        SpreadOver::Attribute(field.strip_prefix("attribute:").unwrap_or(field).to_string())
    }
}

/// Parses one strategy from its ECS `type` and `field`.
///
/// `binpack` needs `cpu` or `memory` (case-insensitive, as ECS accepts `MEMORY`); `spread` needs
/// `instanceId`, `host` or `attribute:NAME`; `random` takes no field.
pub fn parse_strategy(kind: &str, field: Option<&str>) -> Result<Strategy, PlacementError> {
    let field = field.map(str::trim).filter(|f| !f.is_empty());
    match kind {
        "random" => match field {
            None => Ok(Strategy::Random),
            Some(f) => Err(PlacementError::UnexpectedField { field: f.to_string() }),
        },
        "binpack" => match field {
            None => Err(PlacementError::MissingField { kind: kind.to_string() }),
            Some(f) if f.eq_ignore_ascii_case("cpu") => Ok(Strategy::Binpack(BinpackField::Cpu)),
            Some(f) if f.eq_ignore_ascii_case("memory") => Ok(Strategy::Binpack(BinpackField::Memory)),
            Some(f) => Err(PlacementError::InvalidBinpackField { field: f.to_string() }),
        },
        "spread" => match field {
            None => Err(PlacementError::MissingField { kind: kind.to_string() }),
            Some(f) if f.eq_ignore_ascii_case("instanceId") || f.eq_ignore_ascii_case("host") => {
                Ok(Strategy::Spread(f.to_string()))
            }
            Some(f) => match f.strip_prefix("attribute:") {
                Some(name) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                    Ok(Strategy::Spread(f.to_string()))
                }
                _ => Err(PlacementError::InvalidSpreadField { field: f.to_string() }),
            },
        },
        other => Err(PlacementError::UnknownStrategyType { kind: other.to_string() }),
    }
}

/// Parses a list of `(type, field)` strategies, enforcing ECS's limit of [`MAX_STRATEGIES`].
pub fn parse_strategies<'a>(
    items: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<Vec<Strategy>, PlacementError> {
    let list = items.into_iter().map(|(k, f)| parse_strategy(k, f)).collect::<Result<Vec<_>, _>>()?;
    validate_strategies(&list)?;
    Ok(list)
}

/// Checks ECS's limit on the number of strategies.
pub fn validate_strategies(list: &[Strategy]) -> Result<(), PlacementError> {
    if list.len() > MAX_STRATEGIES {
        return Err(PlacementError::TooManyStrategies { count: list.len(), max: MAX_STRATEGIES });
    }
    Ok(())
}

/// The strategy ECS uses for RunTask when none is given: `random`.
pub fn default_run_task_strategy() -> Vec<Strategy> {
    vec![Strategy::Random]
}

/// The strategy ECS uses for services when none is given: spread over Availability Zones, then over
/// instances (the console's "AZ balanced spread").
pub fn default_service_strategy() -> Vec<Strategy> {
    vec![Strategy::Spread("attribute:ecs.availability-zone".to_string()), Strategy::Spread("instanceId".to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_type() {
        assert_eq!(parse_strategy("random", None).unwrap(), Strategy::Random);
        assert_eq!(parse_strategy("binpack", Some("memory")).unwrap(), Strategy::Binpack(BinpackField::Memory));
        assert_eq!(parse_strategy("binpack", Some("MEMORY")).unwrap(), Strategy::Binpack(BinpackField::Memory));
        assert_eq!(parse_strategy("binpack", Some("cpu")).unwrap(), Strategy::Binpack(BinpackField::Cpu));
        assert_eq!(parse_strategy("spread", Some("host")).unwrap(), Strategy::Spread("host".into()));
        assert_eq!(parse_strategy("spread", Some("instanceId")).unwrap(), Strategy::Spread("instanceId".into()));
        assert_eq!(
            parse_strategy("spread", Some("attribute:ecs.availability-zone")).unwrap(),
            Strategy::Spread("attribute:ecs.availability-zone".into())
        );
    }

    #[test]
    fn rejects_what_ecs_rejects() {
        assert!(matches!(parse_strategy("binpack", None), Err(PlacementError::MissingField { .. })));
        assert!(matches!(parse_strategy("spread", Some(" ")), Err(PlacementError::MissingField { .. })));
        assert!(matches!(parse_strategy("binpack", Some("disk")), Err(PlacementError::InvalidBinpackField { .. })));
        assert!(matches!(parse_strategy("random", Some("cpu")), Err(PlacementError::UnexpectedField { .. })));
        assert!(matches!(parse_strategy("spread", Some("zone")), Err(PlacementError::InvalidSpreadField { .. })));
        assert!(matches!(parse_strategy("spread", Some("attribute:")), Err(PlacementError::InvalidSpreadField { .. })));
        assert!(matches!(parse_strategy("pack", None), Err(PlacementError::UnknownStrategyType { .. })));
        let err = parse_strategy("binpack", Some("disk")).unwrap_err();
        assert_eq!(err.to_string(), "invalid binpack placement strategy field 'disk'; valid values are cpu and memory");
    }

    #[test]
    fn limits_the_list_length() {
        assert_eq!(parse_strategies(vec![("random", None); 5]).unwrap().len(), 5);
        assert_eq!(
            parse_strategies(vec![("random", None); 6]),
            Err(PlacementError::TooManyStrategies { count: 6, max: 5 })
        );
    }

    #[test]
    fn defaults_and_spread_fields() {
        assert_eq!(default_run_task_strategy(), vec![Strategy::Random]);
        assert_eq!(default_service_strategy().len(), 2);
        assert_eq!(spread_over("host"), SpreadOver::Instance);
        assert_eq!(spread_over("InstanceId"), SpreadOver::Instance);
        assert_eq!(spread_over("attribute:zone"), SpreadOver::Attribute("zone".into()));
        assert_eq!(spread_over("zone"), SpreadOver::Attribute("zone".into()));
        assert_eq!(Strategy::Binpack(BinpackField::Memory).to_string(), "binpack(memory)");
    }
}
