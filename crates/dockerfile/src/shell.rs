//! A light reading of the shell scripts `RUN` executes: enough to find the simple commands in them (split at `&&`,
//! `||`, `;`, `|`, `&`, newlines and parentheses, with quotes removed), not a shell. Command substitutions stay
//! inside their word; `if`/`then`/`do`-style keywords before a command are skipped.

/// A simple command of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Its words, quotes removed, as written (assignments and `sudo` included).
    pub words: Vec<String>,
    /// Whether it runs in a `( ... )` subshell.
    pub subshell: bool,
}

/// A script split into simple commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// The simple commands, in order.
    pub commands: Vec<Command>,
    /// Whether a `|` pipe joins two commands.
    pub has_pipe: bool,
}

const KEYWORDS: &[&str] = &["if", "then", "else", "elif", "do", "while", "until", "!", "time", "{", "fi", "done", "}"];

impl Command {
    /// The words from the program on: leading `NAME=value` assignments and `sudo` (with its options) skipped.
    pub fn argv(&self) -> &[String] {
        let mut i = 0;
        while i < self.words.len() {
            let w = &self.words[i];
            if is_assignment(w) {
                i += 1;
            } else if w == "sudo" {
                i += 1;
                while i < self.words.len() && self.words[i].starts_with('-') {
                    i += if self.words[i] == "-u" { 2 } else { 1 };
                }
            } else {
                break;
            }
        }
        &self.words[i.min(self.words.len())..]
    }

    /// The program's name without its directory (`/usr/bin/apt-get` is `apt-get`); `python -m pip` is `pip`.
    pub fn program(&self) -> &str {
        let argv = self.argv();
        let Some(first) = argv.first() else { return "" };
        let name = first.rsplit('/').next().unwrap_or(first);
        if name.starts_with("python")
            && argv.get(1).is_some_and(|w| w == "-m")
            && argv.get(2).is_some_and(|w| w.starts_with("pip"))
        {
            return "pip";
        }
        name
    }

    /// The arguments after the program (after `-m pip` for `python -m pip`).
    pub fn args(&self) -> &[String] {
        let argv = self.argv();
        let skip = if self.program() == "pip" && argv.first().is_some_and(|w| w.contains("python")) { 3 } else { 1 };
        &argv[skip.min(argv.len())..]
    }

    /// The first argument that is not an option (nor the value of `-o`/`-c`): `install` in `apt-get -y install x`.
    pub fn subcommand(&self) -> Option<&str> {
        let args = self.args();
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "-o" | "-c" => i += 2,
                w if w.starts_with('-') => i += 1,
                w => return Some(w),
            }
        }
        None
    }

    /// Whether the program is one of `programs` and its subcommand one of `subcommands`.
    pub fn is(&self, programs: &[&str], subcommands: &[&str]) -> bool {
        programs.contains(&self.program()) && self.subcommand().is_some_and(|s| subcommands.contains(&s))
    }

    /// Whether an argument is one of `long` or a short-option cluster (`-qy`) holding `short`.
    pub fn has_option(&self, long: &[&str], short: Option<char>) -> bool {
        self.args().iter().any(|w| {
            long.contains(&w.as_str())
                || short.is_some_and(|c| w.starts_with('-') && !w.starts_with("--") && w[1..].contains(c))
        })
    }

    /// Whether any argument equals `word` or starts with it.
    pub fn mentions(&self, prefix: &str) -> bool {
        self.args().iter().any(|w| w.starts_with(prefix))
    }
}

/// `2>&1`, `>/dev/null`, `<in`: a redirection written as one word.
fn is_redirection(word: &str) -> bool {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit() || c == '&');
    rest.starts_with('>') || rest.starts_with('<')
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Splits `script` into simple commands.
pub fn parse(script: &str) -> Script {
    let mut out = Script::default();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut depth = 0usize;
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0;
    let finish_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let finish = |out: &mut Script, words: &mut Vec<String>, depth: usize| {
        let start =
            words.iter().position(|w| !KEYWORDS.contains(&w.as_str()) && !is_redirection(w)).unwrap_or(words.len());
        let rest: Vec<String> = words.drain(..).skip(start).collect();
        if !rest.is_empty() {
            out.commands.push(Command { words: rest, subshell: depth > 0 });
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1) == Some(&'\n') => i += 2,
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    word.push(n);
                }
                in_word = true;
                i += 2;
            }
            '\'' => {
                let close = chars[i + 1..].iter().position(|&x| x == '\'').map_or(chars.len(), |p| i + 1 + p);
                word.extend(&chars[i + 1..close]);
                in_word = true;
                i = close + 1;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    word.push(chars[i]);
                    i += 1;
                }
                in_word = true;
                i += 1;
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                let mut level = 0;
                while i < chars.len() {
                    word.push(chars[i]);
                    match chars[i] {
                        '(' => level += 1,
                        ')' => {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                in_word = true;
                i += 1;
            }
            '`' => {
                let close = chars[i + 1..].iter().position(|&x| x == '`').map_or(chars.len(), |p| i + 1 + p);
                word.extend(&chars[i..(close + 1).min(chars.len())]);
                in_word = true;
                i = close + 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '&' if i > 0 && chars[i - 1] == '>' || chars.get(i + 1) == Some(&'>') => {
                // `2>&1`, `&>`: a redirection, not an operator.
                word.push(c);
                in_word = true;
                i += 1;
            }
            '&' | '|' | ';' | '\n' | '(' | ')' => {
                finish_word(&mut words, &mut word, &mut in_word);
                let double = chars.get(i + 1) == Some(&c);
                if c == '|' && !double {
                    out.has_pipe = true;
                }
                finish(&mut out, &mut words, depth);
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                i += if double && c != '(' && c != ')' { 2 } else { 1 };
            }
            c if c.is_whitespace() => {
                finish_word(&mut words, &mut word, &mut in_word);
                i += 1;
            }
            _ => {
                word.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    finish_word(&mut words, &mut word, &mut in_word);
    finish(&mut out, &mut words, depth);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(script: &str) -> Vec<String> {
        parse(script).commands.iter().map(|c| c.program().to_string()).collect()
    }

    #[test]
    fn splits_at_operators_and_keywords() {
        assert_eq!(
            programs("apt-get update && apt-get install -y x; rm -rf /a || true"),
            ["apt-get", "apt-get", "rm", "true"]
        );
        assert_eq!(programs("if [ -f x ]; then make; fi\nfor a in b; do echo $a; done"), ["[", "make", "for", "echo"]);
        assert_eq!(programs("(cd /src && make) 2>&1 | tee log"), ["cd", "make", "tee"]);
        let s = parse("(cd /src && make) 2>&1 | tee log");
        assert!(s.has_pipe && s.commands[0].subshell && !s.commands[2].subshell);
        assert!(!parse("a || b").has_pipe);
    }

    #[test]
    fn quotes_substitutions_and_comments() {
        let s = parse("echo \"a && b\" 'c; d' $(date +%s; true) `x` # not && this\nls");
        assert_eq!(s.commands.len(), 2);
        assert_eq!(s.commands[0].words, ["echo", "a && b", "c; d", "$(date +%s; true)", "`x`"]);
    }

    #[test]
    fn argv_skips_assignments_and_sudo() {
        let s = parse(
            "DEBIAN_FRONTEND=noninteractive sudo -u root /usr/bin/apt-get -qy install --no-install-recommends curl",
        );
        let c = &s.commands[0];
        assert_eq!(c.program(), "apt-get");
        assert_eq!(c.subcommand(), Some("install"));
        assert!(c.has_option(&["--yes"], Some('y')));
        assert!(c.has_option(&["--no-install-recommends"], None));
        let pip = &parse("python3 -m pip install --no-cache-dir -r requirements.txt").commands[0];
        assert!(pip.is(&["pip"], &["install"]));
        assert!(pip.mentions("--no-cache-dir"));
    }
}
