//! Wildcard patterns of actions (case-insensitive) and resource ARNs (case-sensitive, segment by segment), with
//! policy variables (`${aws:username}`) substituted at evaluation.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A character that matches itself.
    Lit(char),
    /// `*`: any run, including none.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A piece of a pattern with variables: literal text (with its wildcards) or a variable to substitute.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<Tok>),
    /// A variable name (lowercase) and its default value.
    Var(String, Option<String>),
}

/// A compiled action or resource pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// As written in the policy.
    pub text: String,
    /// Actions compare case-insensitively (both sides lowercased).
    case_insensitive: bool,
    pieces: Vec<Piece>,
}

/// Looks a policy variable's value up by its lowercase key.
pub trait Variables {
    /// The single value of a key, if the request has one.
    fn variable(&self, key: &str) -> Option<String>;
}

impl Pattern {
    /// An action pattern (`ecs:Describe*`, `*`).
    pub fn action(text: &str) -> Self {
        Self {
            text: text.to_string(),
            case_insensitive: true,
            pieces: vec![Piece::Text(compile(&text.to_lowercase()))],
        }
    }

    /// A resource pattern; with `variables`, `${...}` is a policy variable.
    pub fn resource(text: &str, variables: bool) -> Self {
        let pieces = if variables { split_variables(text) } else { vec![Piece::Text(compile(text))] };
        Self { text: text.to_string(), case_insensitive: false, pieces }
    }

    /// A pattern for condition values (`StringLike`, `ArnLike`): wildcards and, with `variables`, variables.
    pub fn value(text: &str, variables: bool, case_insensitive: bool) -> Self {
        let text = if case_insensitive { text.to_lowercase() } else { text.to_string() };
        let pieces = if variables { split_variables(&text) } else { vec![Piece::Text(compile(&text))] };
        Self { text, case_insensitive, pieces }
    }

    /// Whether it is `*` alone.
    pub fn is_star(&self) -> bool {
        matches!(self.pieces.as_slice(), [Piece::Text(t)] if t == &[Tok::Star])
    }

    /// The tokens with variables substituted; `None` when a variable has no value and no default (the pattern
    /// then matches nothing, as IAM does).
    fn tokens(&self, vars: &dyn Variables) -> Option<std::borrow::Cow<'_, [Tok]>> {
        if let [Piece::Text(t)] = self.pieces.as_slice() {
            return Some(std::borrow::Cow::Borrowed(t));
        }
        let mut out = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Var(name, default) => {
                    let value = match name.as_str() {
                        "*" => Some("*".to_string()),
                        "?" => Some("?".to_string()),
                        "$" => Some("$".to_string()),
                        _ => vars.variable(name).or_else(|| default.clone()),
                    }?;
                    let value = if self.case_insensitive { value.to_lowercase() } else { value };
                    out.extend(value.chars().map(Tok::Lit));
                }
            }
        }
        Some(std::borrow::Cow::Owned(out))
    }

    /// Whether an action name matches (case-insensitive).
    pub fn matches_action(&self, action_lower: &str) -> bool {
        self.matches_action_chars(&action_lower.chars().collect::<Vec<_>>())
    }

    /// [`Pattern::matches_action`] on the lowercased action already split into characters (once per request, not
    /// once per pattern: a caller with a hundred policies matches thousands of patterns per request).
    pub fn matches_action_chars(&self, action_lower: &[char]) -> bool {
        match self.pieces.as_slice() {
            [Piece::Text(t)] => glob(t, action_lower),
            _ => false,
        }
    }

    /// Whether a value matches the whole pattern (condition values).
    pub fn matches_value(&self, value: &str, vars: &dyn Variables) -> bool {
        let Some(tokens) = self.tokens(vars) else { return false };
        let value = if self.case_insensitive { value.to_lowercase() } else { value.to_string() };
        glob(&tokens, &value.chars().collect::<Vec<_>>())
    }

    /// Whether a resource ARN matches: `*` matches everything; otherwise the six colon-separated ARN segments
    /// match one by one (a wildcard never spans a colon that separates segments; within the resource segment it
    /// crosses `/` and `:`).
    pub fn matches_resource(&self, resource: &str, vars: &dyn Variables) -> bool {
        let chars: Vec<char> = resource.chars().collect();
        self.matches_resource_segments(&resource_segments(&chars), vars)
    }

    /// [`Pattern::matches_resource`] on a resource already split by [`resource_segments`] (once per request).
    pub fn matches_resource_segments(&self, resource: &[&[char]], vars: &dyn Variables) -> bool {
        if self.is_star() {
            return true;
        }
        let Some(tokens) = self.tokens(vars) else { return false };
        let mut pattern_segments = [&tokens[..0]; 6];
        let count = split_segments(&tokens, &mut pattern_segments);
        if count != resource.len() {
            // An ARN pattern never matches `*` (the resource of an action without resource-level permissions).
            return false;
        }
        // The last segment (the resource itself: `cluster/team5-*`) first: it is where patterns of many policies
        // differ, so most non-matching patterns are refused after a few characters instead of after five segments.
        pattern_segments[..count].iter().zip(resource).rev().all(|(p, r)| glob(p, r))
    }
}

/// A resource ARN's characters split into its (at most six) colon-separated segments, as
/// [`Pattern::matches_resource_segments`] takes them.
pub fn resource_segments(chars: &[char]) -> Vec<&[char]> {
    chars.splitn(6, |c| *c == ':').collect()
}

/// Splits tokens at the first five literal colons into `out`; returns how many segments there are.
fn split_segments<'t>(tokens: &'t [Tok], out: &mut [&'t [Tok]; 6]) -> usize {
    let mut count = 0;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        if count == 5 {
            break;
        }
        if *t == Tok::Lit(':') {
            out[count] = &tokens[start..i];
            count += 1;
            start = i + 1;
        }
    }
    out[count] = &tokens[start..];
    count + 1
}

fn compile(text: &str) -> Vec<Tok> {
    text.chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        })
        .collect()
}

/// Splits `a${aws:username}b` into text and variables. An unterminated `${` is literal text.
fn split_variables(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        if start > 0 {
            pieces.push(Piece::Text(compile(&rest[..start])));
        }
        let inner = &rest[start + 2..start + len];
        let (name, default) = match inner.split_once(',') {
            Some((name, default)) => {
                let d = default.trim();
                let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(d);
                (name.trim(), Some(d.to_string()))
            }
            None => (inner.trim(), None),
        };
        pieces.push(Piece::Var(name.to_lowercase(), default));
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(compile(rest)));
    }
    pieces
}

/// Glob matching with backtracking over the last star (linear in practice).
fn glob(pattern: &[Tok], text: &[char]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < text.len() {
        match pattern.get(pi) {
            Some(Tok::Star) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(Tok::One) => {
                pi += 1;
                ti += 1;
            }
            Some(Tok::Lit(c)) if *c == text[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[pi..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoVars;
    impl Variables for NoVars {
        fn variable(&self, _: &str) -> Option<String> {
            None
        }
    }

    #[test]
    fn globs_take_stars_and_question_marks() {
        let p = Pattern::action("ecs:Describe*");
        assert!(p.matches_action("ecs:describeclusters"));
        assert!(!p.matches_action("ecs:listclusters"));
        assert!(Pattern::action("ecs:List?lusters").matches_action("ecs:listclusters"));
        let r = Pattern::resource("arn:aws:ecs:*:1:cluster/prod-*", true);
        assert!(r.matches_resource("arn:aws:ecs:us-east-1:1:cluster/prod-a", &NoVars));
        assert!(!r.matches_resource("arn:aws:ecs:us-east-1:1:cluster/Prod-a", &NoVars));
        // a star within one segment does not reach into the next
        let r = Pattern::resource("arn:aws:ecs:*:1:cluster/x", true);
        assert!(!r.matches_resource("arn:aws:ecs:us-east-1:2:cluster/x", &NoVars));
        assert!(!r.matches_resource("*", &NoVars));
    }
}
