//! The crate's errors: invalid expressions, constraints and strategies (each becomes ECS's
//! `InvalidParameterException`), and unknown instances in state updates.

use thiserror::Error;

/// A cluster query language expression that does not parse: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} at position {position} in expression '{expression}'")]
pub struct ExprError {
    /// What is wrong, e.g. `unexpected token ')'`.
    pub message: String,
    /// Byte offset of the problem in the expression.
    pub position: usize,
    /// The whole expression.
    pub expression: String,
}

impl ExprError {
    /// Builds an error.
    pub fn new(message: impl Into<String>, position: usize, expression: &str) -> ExprError {
        ExprError { message: message.into(), position, expression: expression.to_string() }
    }
}

/// An invalid placement constraint or strategy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlacementError {
    /// The constraint `type` is not `distinctInstance` or `memberOf`.
    #[error("invalid placement constraint type '{kind}'; valid values are distinctInstance and memberOf")]
    UnknownConstraintType {
        /// The type as given.
        kind: String,
    },
    /// A `distinctInstance` constraint was given an expression.
    #[error("a distinctInstance placement constraint cannot have an expression")]
    UnexpectedExpression,
    /// A `memberOf` constraint has no (or an empty) expression.
    #[error("a memberOf placement constraint requires an expression")]
    MissingExpression,
    /// The expression is longer than ECS allows.
    #[error("placement constraint expression is {length} characters long; the maximum is {max}")]
    ExpressionTooLong {
        /// Length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// The `memberOf` expression does not parse.
    #[error("invalid placement constraint expression: {0}")]
    Expression(#[from] ExprError),
    /// The strategy `type` is not `random`, `spread` or `binpack`.
    #[error("invalid placement strategy type '{kind}'; valid values are random, spread and binpack")]
    UnknownStrategyType {
        /// The type as given.
        kind: String,
    },
    /// `binpack`/`spread` without a field.
    #[error("a {kind} placement strategy requires a field")]
    MissingField {
        /// `binpack` or `spread`.
        kind: String,
    },
    /// `random` with a field.
    #[error("a random placement strategy does not take a field, got '{field}'")]
    UnexpectedField {
        /// The field as given.
        field: String,
    },
    /// A `binpack` field other than `cpu` or `memory`.
    #[error("invalid binpack placement strategy field '{field}'; valid values are cpu and memory")]
    InvalidBinpackField {
        /// The field as given.
        field: String,
    },
    /// A `spread` field other than `instanceId`, `host` or `attribute:NAME`.
    #[error("invalid spread placement strategy field '{field}'; valid values are instanceId, host and attribute:NAME")]
    InvalidSpreadField {
        /// The field as given.
        field: String,
    },
    /// More strategies than ECS allows.
    #[error("{count} placement strategies were given; the maximum is {max}")]
    TooManyStrategies {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More constraints than ECS allows.
    #[error("{count} placement constraints were given; the maximum is {max}")]
    TooManyConstraints {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// A state update about a container instance the scheduler does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StateError {
    /// No instance has this ARN.
    #[error("container instance '{arn}' is not in the cluster state")]
    UnknownInstance {
        /// The ARN as given.
        arn: String,
    },
}
