//! GetRandomPassword: a password from the requested character classes, with each class present when asked.

use crate::SecretsError;
use berth_model::secretsmanager::{GetRandomPasswordRequest, GetRandomPasswordResponse};
use rand::Rng as _;
use rand::seq::SliceRandom as _;

const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

pub(crate) fn get_random_password(req: GetRandomPasswordRequest) -> Result<GetRandomPasswordResponse, SecretsError> {
    let length = req.password_length.unwrap_or(32);
    if !(1..=4096).contains(&length) {
        return Err(SecretsError::constraint(
            "passwordLength",
            "Member must have value less than or equal to 4096 and greater than or equal to 1",
        ));
    }
    let exclude = req.exclude_characters.unwrap_or_default();
    let keep = |set: &str| set.chars().filter(|c| !exclude.contains(*c)).collect::<Vec<char>>();
    let mut classes: Vec<Vec<char>> = Vec::new();
    if !req.exclude_lowercase.unwrap_or(false) {
        classes.push(keep("abcdefghijklmnopqrstuvwxyz"));
    }
    if !req.exclude_uppercase.unwrap_or(false) {
        classes.push(keep("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
    }
    if !req.exclude_numbers.unwrap_or(false) {
        classes.push(keep("0123456789"));
    }
    if !req.exclude_punctuation.unwrap_or(false) {
        classes.push(keep(PUNCTUATION));
    }
    if req.include_space.unwrap_or(false) {
        classes.push(keep(" "));
    }
    classes.retain(|c| !c.is_empty());
    let require_each = req.require_each_included_type.unwrap_or(true);
    if classes.is_empty() || (require_each && (length as usize) < classes.len()) {
        return Err(SecretsError::new(
            "InvalidParameterException",
            "The password length is too short, or every character type was excluded.",
        ));
    }
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    let mut rng = rand::rng();
    let mut password: Vec<char> = Vec::with_capacity(length as usize);
    if require_each {
        for class in &classes {
            password.push(class[rng.random_range(0..class.len())]);
        }
    }
    while password.len() < length as usize {
        password.push(all[rng.random_range(0..all.len())]);
    }
    password.shuffle(&mut rng);
    Ok(GetRandomPasswordResponse { random_password: Some(password.into_iter().collect()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_the_length_and_classes_asked_for() {
        let p = get_random_password(GetRandomPasswordRequest {
            password_length: Some(40),
            exclude_punctuation: Some(true),
            exclude_characters: Some("abc".into()),
            ..Default::default()
        })
        .unwrap()
        .random_password
        .unwrap();
        assert_eq!(p.chars().count(), 40);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric() && !"abc".contains(c)), "{p}");
        assert!(p.chars().any(|c| c.is_ascii_digit()) && p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(
            get_random_password(GetRandomPasswordRequest { password_length: Some(0), ..Default::default() }).is_err()
        );
        let all_out = GetRandomPasswordRequest {
            exclude_lowercase: Some(true),
            exclude_uppercase: Some(true),
            exclude_numbers: Some(true),
            exclude_punctuation: Some(true),
            ..Default::default()
        };
        assert!(get_random_password(all_out).is_err());
    }
}
