//! The Secrets Manager operations that write or read values: CreateSecret, PutSecretValue, UpdateSecret,
//! GetSecretValue; and the dispatch of every operation.

use super::records::{SecretRecord, VersionMeta, secret_key, value_key};
use super::{Plain, arn_suffix, check_name, stages};
use crate::records::{self, SCHEMA, encode};
use crate::wire::{check_len, out, parse};
use crate::{Secrets, SecretsError};
use berth_model::Blob;
use berth_model::secretsmanager::*;
use berth_store::Txn;
use zeroize::Zeroizing;

/// The largest SecretString or SecretBinary, in bytes.
pub const MAX_VALUE_BYTES: usize = 65_536;
/// Versions kept per secret: beyond, the oldest without a label is removed.
pub const MAX_VERSIONS: usize = 100;

/// Runs one Secrets Manager operation.
pub(crate) async fn dispatch(s: &Secrets, operation: &str, input: &[u8]) -> Result<Vec<u8>, SecretsError> {
    use super::{list, manage, password, policy};
    match operation {
        "CreateSecret" => out(create(s, parse(input)?).await?),
        "GetSecretValue" => out(get_value(s, parse(input)?).await?),
        "PutSecretValue" => out(put_value(s, parse(input)?).await?),
        "UpdateSecret" => out(update(s, parse(input)?).await?),
        "DescribeSecret" => out(manage::describe(s, parse(input)?).await?),
        "ListSecrets" => out(list::list(s, parse(input)?).await?),
        "DeleteSecret" => out(manage::delete(s, parse(input)?).await?),
        "RestoreSecret" => out(manage::restore(s, parse(input)?).await?),
        "UpdateSecretVersionStage" => out(manage::update_stage(s, parse(input)?).await?),
        "ListSecretVersionIds" => out(manage::list_versions(s, parse(input)?).await?),
        "TagResource" => out(manage::tag(s, parse(input)?).await?),
        "UntagResource" => out(manage::untag(s, parse(input)?).await?),
        "PutResourcePolicy" => out(policy::put(s, parse(input)?).await?),
        "GetResourcePolicy" => out(policy::get(s, parse(input)?).await?),
        "DeleteResourcePolicy" => out(policy::delete(s, parse(input)?).await?),
        "ValidateResourcePolicy" => out(policy::validate(s, parse(input)?).await?),
        "GetRandomPassword" => out(password::get_random_password(parse(input)?)?),
        op if OPERATIONS.contains(&op) => Err(SecretsError::unsupported("Secrets Manager", op)),
        op => Err(SecretsError::unknown_operation(op)),
    }
}

/// The value a request gives (SecretString or SecretBinary, not both), checked against the size limit.
fn value_of(string: Option<String>, binary: Option<Blob>) -> Result<Option<Plain>, SecretsError> {
    match (string, binary) {
        (Some(_), Some(_)) => Err(SecretsError::new(
            "InvalidParameterException",
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (Some(text), None) => {
            let text = Zeroizing::new(text);
            if text.len() > MAX_VALUE_BYTES {
                return Err(SecretsError::constraint(
                    "secretString",
                    &format!("Member must have length less than or equal to {MAX_VALUE_BYTES}"),
                ));
            }
            Ok(Some(Plain::Text(text)))
        }
        (None, Some(Blob(bytes))) => {
            let bytes = Zeroizing::new(bytes);
            if bytes.len() > MAX_VALUE_BYTES {
                return Err(SecretsError::constraint(
                    "secretBinary",
                    &format!("Member must have length less than or equal to {MAX_VALUE_BYTES}"),
                ));
            }
            Ok(Some(Plain::Binary(bytes)))
        }
        (None, None) => Ok(None),
    }
}

fn same(a: &Plain, b: &Plain) -> bool {
    match (a, b) {
        (Plain::Text(a), Plain::Text(b)) => a.as_bytes() == b.as_bytes(),
        (Plain::Binary(a), Plain::Binary(b)) => a.as_slice() == b.as_slice(),
        _ => false,
    }
}

/// The version ID a request's ClientRequestToken gives (32–64 characters), or a new one.
fn version_id(token: Option<&str>) -> Result<String, SecretsError> {
    match token.filter(|t| !t.is_empty()) {
        Some(t) => {
            check_len("clientRequestToken", t, 32, 64)?;
            Ok(t.to_string())
        }
        None => Ok(uuid::Uuid::new_v4().to_string()),
    }
}

/// What adding a version produced.
pub(crate) enum Added {
    /// A new version, its value record to write.
    New(Box<super::records::ValueRecord>),
    /// The version existed with the same value: nothing to write (an idempotent retry).
    Existing,
}

/// Adds version `id` with `value` to `secret` (in memory), moving `labels` onto it; a retry with the same token and
/// value is idempotent, a different value under an existing version is ResourceExistsException.
pub(crate) async fn add_version(
    s: &Secrets,
    secret: &mut SecretRecord,
    id: &str,
    value: &Plain,
    labels: &[String],
) -> Result<Added, SecretsError> {
    if secret.versions.contains_key(id) {
        let existing = s.open_secret_value(secret, id).await?;
        if same(&existing, value) {
            return Ok(Added::Existing);
        }
        return Err(SecretsError::new(
            "ResourceExistsException",
            "You can't modify an existing version, you can only create a new version.",
        ));
    }
    let record = s.seal_secret_value(secret, id, value).await?;
    let now = s.now();
    secret.versions.insert(
        id.to_string(),
        VersionMeta { created: now, stages: Vec::new(), key_arn: record.envelope.key_arn.clone(), last_accessed: None },
    );
    for label in labels {
        stages::attach(&mut secret.versions, label, id);
    }
    secret.last_changed = now;
    Ok(Added::New(Box::new(record)))
}

/// Writes `secret` (compare-and-swapped at `revision`, 0: new) with a new version's value, and removes the oldest
/// unlabelled versions beyond [`MAX_VERSIONS`].
pub(crate) async fn write(
    s: &Secrets,
    mut secret: SecretRecord,
    revision: i64,
    added: Option<(&str, Added)>,
) -> Result<SecretRecord, SecretsError> {
    let mut txn = Txn::new();
    if let Some((id, Added::New(value))) = added {
        txn = txn.put(value_key(&secret.name, id), encode(&*value)?);
    }
    while secret.versions.len() > MAX_VERSIONS {
        let oldest = secret
            .versions
            .iter()
            .filter(|(_, v)| v.stages.is_empty())
            .min_by(|a, b| a.1.created.total_cmp(&b.1.created))
            .map(|(id, _)| id.clone());
        let Some(oldest) = oldest else { break };
        secret.versions.remove(&oldest);
        txn = txn.delete(value_key(&secret.name, &oldest));
    }
    let key = secret_key(&secret.name);
    txn = txn.expect(key.clone(), revision).put(key, encode(&secret)?);
    records::commit_or_conflict(&s.store, txn).await?;
    Ok(secret)
}

fn tags_of(tags: Option<Vec<Tag>>) -> Result<Vec<(String, String)>, SecretsError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for tag in tags.unwrap_or_default() {
        let key = tag.key.unwrap_or_default();
        let value = tag.value.unwrap_or_default();
        check_len("tags.member.key", &key, 1, 128)?;
        check_len("tags.member.value", &value, 0, 256)?;
        if key.starts_with("aws:") {
            return Err(SecretsError::new("InvalidParameterException", "Tag keys beginning with aws: are reserved."));
        }
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(existing) => existing.1 = value,
            None => out.push((key, value)),
        }
    }
    Ok(out)
}

/// Merges tags (a key given again replaces its value); at most 50.
pub(crate) fn merge_tags(into: &mut Vec<(String, String)>, tags: Option<Vec<Tag>>) -> Result<(), SecretsError> {
    for (k, v) in tags_of(tags)? {
        match into.iter_mut().find(|(key, _)| *key == k) {
            Some(existing) => existing.1 = v,
            None => into.push((k, v)),
        }
    }
    if into.len() > 50 {
        return Err(SecretsError::new("LimitExceededException", "A secret can have at most 50 tags."));
    }
    Ok(())
}

async fn check_key_id(s: &Secrets, key_id: &Option<String>) -> Result<Option<String>, SecretsError> {
    let Some(key) = key_id.as_deref().filter(|k| !k.is_empty()) else { return Ok(None) };
    check_len("kmsKeyId", key, 0, 2048)?;
    match s.find_key(key).await {
        Ok(_) => Ok(Some(key.to_string())),
        Err(crate::kms::KeyUseError::Internal(e)) => Err(e),
        Err(_) => Err(SecretsError::new("ResourceNotFoundException", format!("KMS key {key} not found."))),
    }
}

async fn create(s: &Secrets, req: CreateSecretRequest) -> Result<CreateSecretResponse, SecretsError> {
    check_name(&req.name)?;
    if req.add_replica_regions.as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(SecretsError::new(
            "InvalidParameterException",
            "Berth has one region: AddReplicaRegions is not supported.",
        ));
    }
    if let Some(d) = &req.description {
        check_len("description", d, 0, 2048)?;
    }
    let value = value_of(req.secret_string, req.secret_binary)?;
    let version = version_id(req.client_request_token.as_deref())?;
    let tags = tags_of(req.tags)?;
    if tags.len() > 50 {
        return Err(SecretsError::new("LimitExceededException", "A secret can have at most 50 tags."));
    }
    let _writes = s.writes.lock().await;
    let kms_key_id = check_key_id(s, &req.kms_key_id).await?;
    if let Some((existing, _)) = s.find_secret(&req.name).await? {
        if existing.deleted.is_some() {
            return Err(SecretsError::new(
                "InvalidRequestException",
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ));
        }
        // A retry of the same request (same token, same value) succeeds again.
        if let Some(value) = &value
            && existing.versions.contains_key(&version)
            && same(&s.open_secret_value(&existing, &version).await?, value)
        {
            return Ok(CreateSecretResponse {
                arn: Some(existing.arn),
                name: Some(existing.name),
                version_id: Some(version),
                replication_status: None,
            });
        }
        return Err(SecretsError::new(
            "ResourceExistsException",
            format!("The operation failed because the secret {} already exists.", req.name),
        ));
    }
    // A purged secret's leftover record (the purge job has not run yet) is replaced.
    let revision = records::get::<SecretRecord>(&s.store, &secret_key(&req.name)).await?.map_or(0, |(_, r)| r);
    let now = s.now();
    let mut secret = SecretRecord {
        schema: SCHEMA,
        arn: s.arn("secretsmanager", &format!("secret:{}-{}", req.name, arn_suffix())),
        name: req.name,
        description: req.description.filter(|d| !d.is_empty()),
        kms_key_id,
        secret_type: req.r#type.filter(|t| !t.is_empty()),
        created: now,
        last_changed: now,
        last_accessed: None,
        deleted: None,
        purge_at: None,
        tags,
        versions: Default::default(),
        policy: None,
    };
    let added = match &value {
        Some(value) => Some(add_version(s, &mut secret, &version, value, &[stages::CURRENT.to_string()]).await?),
        None => None,
    };
    let has_value = added.is_some();
    if revision != 0 {
        crate::sm::purge::purge_values(s, &secret.name).await?;
    }
    let secret = write(s, secret, revision, added.map(|a| (version.as_str(), a))).await?;
    Ok(CreateSecretResponse {
        arn: Some(secret.arn),
        name: Some(secret.name),
        version_id: has_value.then_some(version),
        replication_status: None,
    })
}

async fn get_value(s: &Secrets, req: GetSecretValueRequest) -> Result<GetSecretValueResponse, SecretsError> {
    let version_id = req.version_id.filter(|v| !v.is_empty());
    let stage = req.version_stage.filter(|v| !v.is_empty());
    let (secret, _) = s.live_secret(&req.secret_id).await?;
    let id = Secrets::select_version(&secret, version_id.as_deref(), stage.as_deref())?;
    let value = s.open_secret_value(&secret, &id).await?;
    touch(s, &secret.name, &id).await;
    let meta = &secret.versions[&id];
    let (secret_string, secret_binary) = match value {
        Plain::Text(t) => (Some(t.to_string()), None),
        Plain::Binary(b) => (None, Some(Blob(b.to_vec()))),
    };
    Ok(GetSecretValueResponse {
        arn: Some(secret.arn.clone()),
        name: Some(secret.name.clone()),
        version_id: Some(id.clone()),
        secret_string,
        secret_binary,
        version_stages: Some(meta.stages.clone()),
        created_date: Some(meta.created),
    })
}

/// Records the day a secret and a version were last read (AWS keeps LastAccessedDate to the day), writing only when
/// the day changes. Best effort: a failure is logged, the read still succeeds.
pub(crate) async fn touch(s: &Secrets, name: &str, version: &str) {
    let day = (s.now() / 86_400.0).floor() * 86_400.0;
    let _writes = s.writes.lock().await;
    let key = secret_key(name);
    let Ok(Some((mut secret, revision))) = records::get::<SecretRecord>(&s.store, &key).await else { return };
    let version_day = secret.versions.get(version).and_then(|v| v.last_accessed);
    if secret.last_accessed == Some(day) && version_day == Some(day) {
        return;
    }
    secret.last_accessed = Some(day);
    if let Some(v) = secret.versions.get_mut(version) {
        v.last_accessed = Some(day);
    }
    let Ok(value) = encode(&secret) else { return };
    if let Err(error) = records::commit(&s.store, Txn::new().expect(key.clone(), revision).put(key, value)).await {
        tracing::warn!(%error, "secretsmanager: cannot record the last access");
    }
}

async fn put_value(s: &Secrets, req: PutSecretValueRequest) -> Result<PutSecretValueResponse, SecretsError> {
    if req.rotation_token.as_deref().is_some_and(|t| !t.is_empty()) {
        return Err(SecretsError::new(
            "InvalidParameterException",
            "Berth does not rotate secrets: RotationToken is not supported.",
        ));
    }
    let Some(value) = value_of(req.secret_string, req.secret_binary)? else {
        return Err(SecretsError::new(
            "InvalidRequestException",
            "You must provide either SecretString or SecretBinary.",
        ));
    };
    let labels = match req.version_stages {
        Some(labels) if !labels.is_empty() => {
            stages::check_labels(&labels)?;
            labels
        }
        _ => vec![stages::CURRENT.to_string()],
    };
    let id = version_id(req.client_request_token.as_deref())?;
    let _writes = s.writes.lock().await;
    let (mut secret, revision) = s.live_secret(&req.secret_id).await?;
    let added = add_version(s, &mut secret, &id, &value, &labels).await?;
    let secret = match added {
        Added::Existing => secret,
        added => write(s, secret, revision, Some((id.as_str(), added))).await?,
    };
    Ok(PutSecretValueResponse {
        arn: Some(secret.arn.clone()),
        name: Some(secret.name.clone()),
        version_stages: secret.versions.get(&id).map(|v| v.stages.clone()),
        version_id: Some(id),
    })
}

async fn update(s: &Secrets, req: UpdateSecretRequest) -> Result<UpdateSecretResponse, SecretsError> {
    let value = value_of(req.secret_string, req.secret_binary)?;
    if let Some(d) = &req.description {
        check_len("description", d, 0, 2048)?;
    }
    let id = version_id(req.client_request_token.as_deref())?;
    let _writes = s.writes.lock().await;
    let (mut secret, revision) = s.live_secret(&req.secret_id).await?;
    if let Some(key) = check_key_id(s, &req.kms_key_id).await? {
        secret.kms_key_id = Some(key);
    }
    if let Some(d) = req.description {
        secret.description = Some(d).filter(|d| !d.is_empty());
    }
    if let Some(t) = req.r#type.filter(|t| !t.is_empty()) {
        secret.secret_type = Some(t);
    }
    secret.last_changed = s.now();
    let (secret, version_id) = match value {
        Some(value) => {
            let added = add_version(s, &mut secret, &id, &value, &[stages::CURRENT.to_string()]).await?;
            (write(s, secret, revision, Some((id.as_str(), added))).await?, Some(id))
        }
        None => (write(s, secret, revision, None).await?, None),
    };
    Ok(UpdateSecretResponse { arn: Some(secret.arn), name: Some(secret.name), version_id })
}
