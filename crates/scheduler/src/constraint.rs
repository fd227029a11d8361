//! Placement constraints: `distinctInstance` and `memberOf`, parsed and validated as ECS does.

use std::fmt;

use crate::error::PlacementError;
use crate::expr::{Expr, parse_expression};

/// ECS's limit on the number of placement constraints of a task or service.
pub const MAX_CONSTRAINTS: usize = 10;

/// ECS's limit on the length of a constraint expression, in characters.
pub const MAX_EXPRESSION_LENGTH: usize = 2000;

/// A placement constraint; binding, unlike strategies.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// `distinctInstance`: each task of the group on a different container instance.
    DistinctInstance,
    /// `memberOf`: only container instances the expression selects.
    MemberOf(Expr),
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::DistinctInstance => f.write_str("distinctInstance"),
            Constraint::MemberOf(e) => write!(f, "memberOf({e})"),
        }
    }
}

/// Parses one constraint from its ECS `type` and `expression`.
///
/// `distinctInstance` must not have an expression; `memberOf` must have one (at most
/// [`MAX_EXPRESSION_LENGTH`] characters) that parses.
pub fn parse_constraint(kind: &str, expression: Option<&str>) -> Result<Constraint, PlacementError> {
    match kind {
        "distinctInstance" => match expression {
            Some(e) if !e.trim().is_empty() => Err(PlacementError::UnexpectedExpression),
            _ => Ok(Constraint::DistinctInstance),
        },
        "memberOf" => {
            let Some(text) = expression.filter(|e| !e.trim().is_empty()) else {
                return Err(PlacementError::MissingExpression);
            };
            let length = text.chars().count();
            if length > MAX_EXPRESSION_LENGTH {
                return Err(PlacementError::ExpressionTooLong { length, max: MAX_EXPRESSION_LENGTH });
            }
            Ok(Constraint::MemberOf(parse_expression(text)?))
        }
        other => Err(PlacementError::UnknownConstraintType { kind: other.to_string() }),
    }
}

/// Parses a list of `(type, expression)` constraints, enforcing ECS's limit of [`MAX_CONSTRAINTS`].
pub fn parse_constraints<'a>(
    items: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<Vec<Constraint>, PlacementError> {
    let list = items.into_iter().map(|(k, e)| parse_constraint(k, e)).collect::<Result<Vec<_>, _>>()?;
    validate_constraints(&list)?;
    Ok(list)
}

/// Checks ECS's limit on the number of constraints.
pub fn validate_constraints(list: &[Constraint]) -> Result<(), PlacementError> {
    if list.len() > MAX_CONSTRAINTS {
        return Err(PlacementError::TooManyConstraints { count: list.len(), max: MAX_CONSTRAINTS });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_types() {
        assert_eq!(parse_constraint("distinctInstance", None).unwrap(), Constraint::DistinctInstance);
        assert_eq!(parse_constraint("distinctInstance", Some("  ")).unwrap(), Constraint::DistinctInstance);
        let c = parse_constraint("memberOf", Some("attribute:ecs.instance-type =~ t2.*")).unwrap();
        assert!(matches!(c, Constraint::MemberOf(_)));
        assert_eq!(c.to_string(), "memberOf(attribute:ecs.instance-type =~ 't2.*')");
    }

    #[test]
    fn rejects_what_ecs_rejects() {
        assert_eq!(
            parse_constraint("distinctInstance", Some("runningTasksCount == 0")),
            Err(PlacementError::UnexpectedExpression)
        );
        assert_eq!(parse_constraint("memberOf", None), Err(PlacementError::MissingExpression));
        assert_eq!(parse_constraint("memberOf", Some("")), Err(PlacementError::MissingExpression));
        assert!(matches!(
            parse_constraint("spread", None),
            Err(PlacementError::UnknownConstraintType { kind }) if kind == "spread"
        ));
        assert!(matches!(
            parse_constraint("DistinctInstance", None),
            Err(PlacementError::UnknownConstraintType { .. })
        ));
        let err = parse_constraint("memberOf", Some("attribute:a == (")).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid placement constraint expression: expected a value, found token '('"),
            "{err}"
        );
        let long = format!("attribute:a in [{}]", vec!["x"; 1000].join(","));
        assert!(matches!(
            parse_constraint("memberOf", Some(&long)),
            Err(PlacementError::ExpressionTooLong { max: 2000, .. })
        ));
    }

    #[test]
    fn limits_the_list_length() {
        let ok = vec![("distinctInstance", None); 10];
        assert_eq!(parse_constraints(ok).unwrap().len(), 10);
        let too_many = vec![("distinctInstance", None); 11];
        assert_eq!(parse_constraints(too_many), Err(PlacementError::TooManyConstraints { count: 11, max: 10 }));
    }
}
