//! What inline and attached policies hang on: a user, a role or a group, named by the operation.

use super::{groups, required, roles, users};
use crate::records::Permissions;
use crate::{Iam, IamError};
use serde_json::Value as Json;

/// The kind of entity an operation's policies are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    User,
    Role,
    Group,
}

impl Kind {
    /// From an operation name (`PutRolePolicy`, `ListAttachedUserPolicies` ...).
    pub(crate) fn of(operation: &str) -> Self {
        if operation.contains("Role") {
            Self::Role
        } else if operation.contains("Group") {
            Self::Group
        } else {
            Self::User
        }
    }

    /// The request member naming the entity.
    pub(crate) fn member(self) -> &'static str {
        match self {
            Self::User => "UserName",
            Self::Role => "RoleName",
            Self::Group => "GroupName",
        }
    }

    /// The managed-policy quota for the kind.
    pub(crate) fn managed_quota(self, iam: &Iam) -> (usize, &'static str) {
        let q = &iam.config.quotas;
        match self {
            Self::User => (q.managed_per_user, "PoliciesPerUser"),
            Self::Role => (q.managed_per_role, "PoliciesPerRole"),
            Self::Group => (q.managed_per_group, "PoliciesPerGroup"),
        }
    }

    /// The inline-policy size quota (total bytes, whitespace excluded) for the kind.
    pub(crate) fn inline_quota(self, iam: &Iam) -> usize {
        let q = &iam.config.quotas;
        match self {
            Self::User => q.user_inline_bytes,
            Self::Role => q.role_inline_bytes,
            Self::Group => q.group_inline_bytes,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
            Self::Group => "group",
        }
    }
}

/// The entity's name (as created) and permissions.
pub(crate) fn load(iam: &Iam, kind: Kind, input: &Json) -> Result<(String, Permissions), IamError> {
    let name = required(input, kind.member())?;
    Ok(match kind {
        Kind::User => {
            let u = users::find(iam, name)?;
            (u.name, u.permissions)
        }
        Kind::Role => {
            let r = roles::find(iam, name)?;
            (r.name, r.permissions)
        }
        Kind::Group => {
            let g = groups::find(iam, name)?;
            (g.name, g.permissions)
        }
    })
}

/// Writes the entity's new permissions (the caller holds the write lock).
pub(crate) async fn store(iam: &Iam, kind: Kind, name: &str, permissions: Permissions) -> Result<(), IamError> {
    match kind {
        Kind::User => {
            let mut u = users::find(iam, name)?;
            u.permissions = permissions;
            users::save(iam, u).await
        }
        Kind::Role => {
            let mut r = roles::find(iam, name)?;
            r.permissions = permissions;
            roles::save(iam, r).await
        }
        Kind::Group => {
            let mut g = groups::find(iam, name)?;
            g.permissions = permissions;
            groups::save(iam, g).await
        }
    }
}

/// `The <kind> policy with name <p> cannot be found.`
pub(crate) fn no_inline(kind: Kind, policy: &str) -> IamError {
    IamError::no_such_entity(format!("The {} policy with name {policy} cannot be found.", kind.word()))
}
