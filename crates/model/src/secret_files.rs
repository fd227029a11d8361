//! Berth's file-mode secrets (an extension of ECS's container `secrets`): an entry whose `name` is
//! `berth:file=<absolute path>` is not an environment variable but a file at that path in the container, on a tmpfs
//! the agent owns, mounted read-only; a new version of the secret replaces the file while the task runs.
//!
//! The form is an ordinary `name` string, so the aws CLI, the SDKs and deploy tools pass it through unchanged; ECS
//! itself would make it an environment variable of that odd name.

/// The prefix of a file-mode secret's `name`.
pub const PREFIX: &str = "berth:file=";

/// The path a file-mode secret's `name` names, or `None` for an ordinary (environment variable) secret.
pub fn target(name: &str) -> Option<&str> {
    name.strip_prefix(PREFIX)
}

/// Whether `path` can be a file-mode secret's file: absolute, normalized (no empty, `.` or `..` segments, no
/// trailing `/`), not directly in `/` (its directory is mounted over), no NUL or `:` (Docker's bind syntax).
pub fn check(path: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("the file path {path:?} must be absolute"));
    };
    if path.contains('\0') || path.contains(':') || path.contains(',') {
        return Err(format!("the file path {path:?} cannot contain NUL, ':' or ','"));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(format!("the file path {path:?} must be normalized (no empty, '.' or '..' parts)"));
    }
    if segments.len() < 2 {
        return Err(format!(
            "the file path {path:?} must be in a directory other than '/' (the directory is mounted over)"
        ));
    }
    Ok(())
}

/// `path`'s directory and file name (for a path [`check`] accepted).
pub fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("/", path))
}

/// Whether the directories `a` and `b` overlap (the same, or one inside the other).
pub fn nested(a: &str, b: &str) -> bool {
    let inside = |x: &str, y: &str| x == y || x.starts_with(&format!("{y}/"));
    inside(a, b) || inside(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_absolute_normalized_and_below_the_root() {
        assert_eq!(target("berth:file=/run/secrets/db"), Some("/run/secrets/db"));
        assert_eq!(target("DB_PASSWORD"), None);
        assert!(check("/run/secrets/db").is_ok());
        for bad in ["run/secrets/db", "/db", "/run//db", "/run/../etc/db", "/run/./db", "/run/secrets/", "/a:b/c", ""] {
            assert!(check(bad).is_err(), "{bad}");
        }
        assert_eq!(split("/run/secrets/db"), ("/run/secrets", "db"));
        assert!(nested("/run/secrets", "/run/secrets/sub") && nested("/run/a", "/run/a"));
        assert!(!nested("/run/secrets", "/run/secrets2"));
    }
}
