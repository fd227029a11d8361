//! The registry's keys in the Berth store, all under [`PREFIX`].
//!
//! Repository names contain neither `@` nor `:`, and tags contain neither, so `<name>@<digest>` and `<name>:<tag>`
//! split unambiguously.

/// The prefix of every registry key.
pub const PREFIX: &str = "/ecr/";

/// A parsed registry key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `/ecr/repo/<name>`: the repository record.
    Repo(String),
    /// `/ecr/image/<name>@<digest>`: a manifest in a repository.
    Image(String, String),
    /// `/ecr/tag/<name>:<tag>`: a tag.
    Tag(String, String),
    /// `/ecr/layer/<name>@<digest>`: a blob uploaded (or mounted) into a repository.
    Link(String, String),
    /// `/ecr/scan/<name>@<digest>`: an image's scan status and findings.
    Scan(String, String),
    /// `/ecr/pull/<name>@<digest>`: an image's last recorded pull time.
    Pull(String, String),
    /// `/ecr/preview/<name>`: the repository's last lifecycle policy preview.
    Preview(String),
}

impl Key {
    /// The repository the key belongs to.
    pub fn repository(&self) -> &str {
        match self {
            Key::Repo(n) | Key::Preview(n) => n,
            Key::Image(n, _) | Key::Tag(n, _) | Key::Link(n, _) | Key::Scan(n, _) | Key::Pull(n, _) => n,
        }
    }

    /// The key's text.
    pub fn render(&self) -> String {
        match self {
            Key::Repo(n) => format!("{PREFIX}repo/{n}"),
            Key::Image(n, d) => format!("{PREFIX}image/{n}@{d}"),
            Key::Tag(n, t) => format!("{PREFIX}tag/{n}:{t}"),
            Key::Link(n, d) => format!("{PREFIX}layer/{n}@{d}"),
            Key::Scan(n, d) => format!("{PREFIX}scan/{n}@{d}"),
            Key::Pull(n, d) => format!("{PREFIX}pull/{n}@{d}"),
            Key::Preview(n) => format!("{PREFIX}preview/{n}"),
        }
    }

    /// Parses a key's text; `None` for keys this version does not know.
    pub fn parse(key: &str) -> Option<Key> {
        let rest = key.strip_prefix(PREFIX)?;
        let (kind, rest) = rest.split_once('/')?;
        let at = |rest: &str| rest.split_once('@').map(|(n, d)| (n.to_string(), d.to_string()));
        match kind {
            "repo" => Some(Key::Repo(rest.to_string())),
            "preview" => Some(Key::Preview(rest.to_string())),
            "image" => at(rest).map(|(n, d)| Key::Image(n, d)),
            "layer" => at(rest).map(|(n, d)| Key::Link(n, d)),
            "scan" => at(rest).map(|(n, d)| Key::Scan(n, d)),
            "pull" => at(rest).map(|(n, d)| Key::Pull(n, d)),
            "tag" => rest.split_once(':').map(|(n, t)| Key::Tag(n.to_string(), t.to_string())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let d = format!("sha256:{}", "a".repeat(64));
        for key in [
            Key::Repo("team/app".into()),
            Key::Image("team/app".into(), d.clone()),
            Key::Tag("team/app".into(), "v1.0".into()),
            Key::Link("a.b".into(), d.clone()),
            Key::Scan("ab".into(), d.clone()),
            Key::Pull("ab".into(), d),
            Key::Preview("x/y/z".into()),
        ] {
            assert_eq!(Key::parse(&key.render()), Some(key));
        }
        assert_eq!(Key::parse("/ecs/task/x"), None);
        assert_eq!(Key::parse("/ecr/unknown/x"), None);
    }
}
