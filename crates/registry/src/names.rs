//! Repository names and image tags, validated as ECR and the OCI Distribution Spec validate them, and the `*`
//! wildcard used by tag-mutability exclusion filters and lifecycle `tagPatternList`.

/// The longest repository name ECR accepts.
pub const MAX_REPOSITORY_NAME: usize = 256;
/// The longest tag the OCI Distribution Spec allows in a URL reference.
pub const MAX_OCI_TAG: usize = 128;
/// The longest tag the ECR API accepts.
pub const MAX_ECR_TAG: usize = 300;

/// Why a repository name is rejected (the message is what the client sees).
pub fn repository_name_problem(name: &str) -> Option<String> {
    if name.len() < 2 || name.len() > MAX_REPOSITORY_NAME {
        return Some(format!("repository name {name:?} must be between 2 and {MAX_REPOSITORY_NAME} characters"));
    }
    if !name.split('/').all(valid_component) {
        return Some(format!(
            "repository name {name:?} must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*"
        ));
    }
    None
}

/// Whether `name` is a valid repository name.
pub fn is_valid_repository_name(name: &str) -> bool {
    repository_name_problem(name).is_none()
}

/// Whether one `/`-separated component of a repository name matches `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub(crate) fn valid_component(component: &str) -> bool {
    // alnum+ ( sep alnum+ )*, where sep is ".", "_", "__" or one or more "-".
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let run = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && alnum(bytes[*i]) {
            *i += 1;
        }
        *i > start
    };
    if !run(&mut i) {
        return false;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !run(&mut i) {
            return false;
        }
    }
    true
}

/// Why a tag is rejected, given the length limit of the API it came through.
pub fn tag_problem(tag: &str, max_len: usize) -> Option<String> {
    if tag.is_empty() || tag.len() > max_len {
        return Some(format!("image tag {tag:?} must be between 1 and {max_len} characters"));
    }
    let bytes = tag.as_bytes();
    let first_ok = bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_';
    let rest_ok = bytes[1..].iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !first_ok || !rest_ok {
        return Some(format!("image tag {tag:?} must match [a-zA-Z0-9_][a-zA-Z0-9._-]*"));
    }
    None
}

/// Whether `tag` is a valid tag in an OCI URL reference.
pub fn is_valid_oci_tag(tag: &str) -> bool {
    tag_problem(tag, MAX_OCI_TAG).is_none()
}

/// Why a wildcard filter (tag-mutability exclusion or lifecycle tag pattern) is rejected.
pub fn wildcard_problem(pattern: &str, max_wildcards: usize) -> Option<String> {
    if pattern.is_empty() || pattern.len() > 128 {
        return Some(format!("filter {pattern:?} must be between 1 and 128 characters"));
    }
    if !pattern.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'*' | b'-')) {
        return Some(format!("filter {pattern:?} must match ^[0-9a-zA-Z._*-]{{1,128}}$"));
    }
    if pattern.bytes().filter(|&b| b == b'*').count() > max_wildcards {
        return Some(format!("filter {pattern:?} has more than {max_wildcards} wildcards"));
    }
    None
}

pub use berth_model::wildcard::wildcard_match;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_ecr() {
        for ok in ["ab", "my-app", "team/app", "a.b_c__d---e/f0", "project-a/nginx-web-app", "0x"] {
            assert!(is_valid_repository_name(ok), "{ok} rejected");
        }
        let long = "a".repeat(257);
        for bad in
            ["a", "", "My-App", "app/", "/app", "a//b", "a_-b", "a___b", "-ab", "ab-", "a..b", "a:b", "a@b", &long]
        {
            assert!(!is_valid_repository_name(bad), "{bad} accepted");
        }
        assert!(is_valid_repository_name(&"a".repeat(256)));
    }

    #[test]
    fn tags_follow_the_distribution_grammar() {
        for ok in ["latest", "v1.2.3", "_x", "A-b_c.d", &"t".repeat(128)] {
            assert!(is_valid_oci_tag(ok), "{ok} rejected");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a b", &"t".repeat(129)] {
            assert!(!is_valid_oci_tag(bad), "{bad} accepted");
        }
        assert!(tag_problem(&"t".repeat(300), MAX_ECR_TAG).is_none());
        assert!(tag_problem(&"t".repeat(301), MAX_ECR_TAG).is_some());
    }

    #[test]
    fn wildcards_have_a_bounded_number_of_stars() {
        // The matching itself is tested in `berth_model::wildcard`.
        assert!(wildcard_problem("*a*b*c*d", 4).is_none());
        assert!(wildcard_problem("*a*b*c*d*", 4).is_some());
        assert!(wildcard_problem("a/b", 4).is_some());
    }
}
