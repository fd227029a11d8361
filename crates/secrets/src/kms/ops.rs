//! The KMS operations Berth serves: keys (symmetric, ENCRYPT_DECRYPT, KMS-generated material only), aliases,
//! enabling and disabling, tags, and Encrypt/Decrypt/GenerateDataKey.

use super::records::{ALIASES_PREFIX, AliasRecord, KEYS_PREFIX, KeyRecord, alias_key, key_key};
use crate::records::{self, SCHEMA, encode};
use crate::wire::{Empty, out, parse};
use crate::{Secrets, SecretsError};
use berth_model::Blob;
use berth_model::kms::*;
use berth_store::Txn;
use std::collections::BTreeMap;

/// Runs one KMS operation.
pub(crate) async fn dispatch(s: &Secrets, operation: &str, input: &[u8]) -> Result<Vec<u8>, SecretsError> {
    match operation {
        "CreateKey" => out(create_key(s, parse(input)?).await?),
        "DescribeKey" => out(describe_key(s, parse(input)?).await?),
        "ListKeys" => out(list_keys(s, parse(input)?).await?),
        "EnableKey" => out(set_enabled(s, parse::<EnableKeyRequest>(input)?.key_id, true).await?),
        "DisableKey" => out(set_enabled(s, parse::<DisableKeyRequest>(input)?.key_id, false).await?),
        "CreateAlias" => out(create_alias(s, parse(input)?).await?),
        "UpdateAlias" => out(update_alias(s, parse(input)?).await?),
        "DeleteAlias" => out(delete_alias(s, parse(input)?).await?),
        "ListAliases" => out(list_aliases(s, parse(input)?).await?),
        "TagResource" => out(tag(s, parse(input)?).await?),
        "UntagResource" => out(untag(s, parse(input)?).await?),
        "ListResourceTags" => out(list_tags(s, parse(input)?).await?),
        "GetKeyRotationStatus" => out(rotation_status(s, parse(input)?).await?),
        "Encrypt" => out(encrypt(s, parse(input)?).await?),
        "Decrypt" => out(decrypt(s, parse(input)?).await?),
        "GenerateDataKey" => out(generate_data_key(s, parse(input)?).await?),
        op if OPERATIONS.contains(&op) => Err(SecretsError::unsupported("kms", op)),
        op => Err(SecretsError::unknown_operation(op)),
    }
}

fn unsupported(what: &str) -> SecretsError {
    SecretsError::new("UnsupportedOperationException", format!("{what} is not supported by Berth's KMS."))
}

async fn find(s: &Secrets, key_id: &str) -> Result<(KeyRecord, i64), SecretsError> {
    s.find_key(key_id).await.map_err(super::KeyUseError::into_kms)
}

fn metadata(s: &Secrets, key: &KeyRecord) -> KeyMetadata {
    KeyMetadata {
        aws_account_id: Some(s.config.account_id.clone()),
        key_id: key.key_id.clone(),
        arn: Some(key.arn.clone()),
        creation_date: Some(key.created),
        enabled: Some(key.enabled),
        description: Some(key.description.clone()),
        key_usage: Some(KeyUsageType::EncryptDecrypt),
        key_state: Some(if key.enabled { KeyState::Enabled } else { KeyState::Disabled }),
        origin: Some(OriginType::AwsKms),
        key_manager: Some(if key.managed_alias.is_some() { KeyManagerType::Aws } else { KeyManagerType::Customer }),
        customer_master_key_spec: Some(CustomerMasterKeySpec::SymmetricDefault),
        key_spec: Some(KeySpec::SymmetricDefault),
        encryption_algorithms: Some(vec![EncryptionAlgorithmSpec::SymmetricDefault]),
        multi_region: Some(false),
        ..KeyMetadata::default()
    }
}

fn check_tags(tags: &[Tag]) -> Result<BTreeMap<String, String>, SecretsError> {
    let mut out = BTreeMap::new();
    for tag in tags {
        if tag.tag_key.is_empty() || tag.tag_key.len() > 128 || tag.tag_value.len() > 256 {
            return Err(SecretsError::new("TagException", format!("Invalid tag: {}", tag.tag_key)));
        }
        if tag.tag_key.starts_with("aws:") {
            return Err(SecretsError::new("TagException", "Tags beginning with aws: are reserved"));
        }
        out.insert(tag.tag_key.clone(), tag.tag_value.clone());
    }
    if out.len() > 50 {
        return Err(SecretsError::new("TagException", "A key can have at most 50 tags"));
    }
    Ok(out)
}

async fn create_key(s: &Secrets, req: CreateKeyRequest) -> Result<CreateKeyResponse, SecretsError> {
    if req.key_spec.is_some_and(|k| k != KeySpec::SymmetricDefault)
        || req.customer_master_key_spec.is_some_and(|k| k != CustomerMasterKeySpec::SymmetricDefault)
    {
        return Err(unsupported("A KeySpec other than SYMMETRIC_DEFAULT"));
    }
    if req.key_usage.is_some_and(|u| u != KeyUsageType::EncryptDecrypt) {
        return Err(unsupported("A KeyUsage other than ENCRYPT_DECRYPT"));
    }
    if req.origin.is_some_and(|o| o != OriginType::AwsKms) {
        return Err(unsupported("An Origin other than AWS_KMS"));
    }
    if req.multi_region == Some(true) {
        return Err(unsupported("A multi-Region key"));
    }
    if req.custom_key_store_id.as_deref().is_some_and(|v| !v.is_empty())
        || req.xks_key_id.as_deref().is_some_and(|v| !v.is_empty())
    {
        return Err(unsupported("A custom key store"));
    }
    if req.policy.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(unsupported("A key policy (Berth authorizes KMS calls with IAM policies only)"));
    }
    let description = req.description.unwrap_or_default();
    crate::wire::check_len("description", &description, 0, 8192)?;
    let tags = check_tags(req.tags.as_deref().unwrap_or_default())?;
    let _writes = s.writes.lock().await;
    let key = s.new_key(&description, None, tags);
    let txn = Txn::new()
        .expect(crate::master::CHECK_KEY, s.check_revision)
        .expect(key_key(&key.key_id), 0)
        .put(key_key(&key.key_id), encode(&key)?);
    if !records::commit(&s.store, txn).await? {
        s.master_unchanged().await?;
        return Err(SecretsError::internal("KMSInternalException", &"a concurrent write to the new key's record"));
    }
    Ok(CreateKeyResponse { key_metadata: Some(metadata(s, &key)) })
}

async fn describe_key(s: &Secrets, req: DescribeKeyRequest) -> Result<DescribeKeyResponse, SecretsError> {
    let (key, _) = find(s, &req.key_id).await?;
    Ok(DescribeKeyResponse { key_metadata: Some(metadata(s, &key)) })
}

fn page_size(limit: Option<i32>, max: i32) -> Result<usize, SecretsError> {
    match limit {
        None => Ok(100.min(max) as usize),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(_) => {
            Err(SecretsError::constraint("limit", &format!("Member must have value less than or equal to {max}")))
        }
    }
}

fn paged<T>(items: Vec<T>, marker: Option<&str>, size: usize) -> Result<(Vec<T>, Option<String>), SecretsError> {
    records::page(items, marker, size)
        .ok_or_else(|| SecretsError::new("InvalidMarkerException", "The marker is not valid."))
}

async fn list_keys(s: &Secrets, req: ListKeysRequest) -> Result<ListKeysResponse, SecretsError> {
    let size = page_size(req.limit, 1000)?;
    let keys: Vec<(String, KeyRecord)> = records::list(&s.store, KEYS_PREFIX).await?;
    let entries =
        keys.into_iter().map(|(_, k)| KeyListEntry { key_id: Some(k.key_id), key_arn: Some(k.arn) }).collect();
    let (keys, next) = paged(entries, req.marker.as_deref(), size)?;
    Ok(ListKeysResponse { keys: Some(keys), truncated: Some(next.is_some()), next_marker: next })
}

async fn set_enabled(s: &Secrets, key_id: String, enabled: bool) -> Result<Empty, SecretsError> {
    let _writes = s.writes.lock().await;
    let (mut key, revision) = find(s, &key_id).await?;
    if key.managed_alias.is_some() {
        return Err(SecretsError::new(
            "KMSInvalidStateException",
            format!("{} is an AWS managed key: it cannot be enabled or disabled.", key.arn),
        ));
    }
    key.enabled = enabled;
    let k = key_key(&key.key_id);
    records::commit_or_conflict(&s.store, Txn::new().expect(k.clone(), revision).put(k, encode(&key)?)).await?;
    Ok(Empty {})
}

fn check_alias_name(s: &Secrets, name: &str) -> Result<(), SecretsError> {
    let valid = name.len() <= 256
        && name.strip_prefix("alias/").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
        });
    if !valid {
        return Err(SecretsError::new(
            "ValidationException",
            format!(
                "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
            ),
        ));
    }
    if name.starts_with("alias/aws/") {
        return Err(SecretsError::new(
            "InvalidAliasNameException",
            format!("{} is reserved for AWS managed keys.", s.arn("kms", name)),
        ));
    }
    Ok(())
}

/// The key an alias may point at: a key ID or key ARN of a customer managed key (not another alias).
async fn alias_target(s: &Secrets, target: &str) -> Result<KeyRecord, SecretsError> {
    if target.starts_with("alias/") || target.contains(":alias/") {
        return Err(SecretsError::validation("Aliases must refer to keys. Not aliases"));
    }
    let (key, _) = find(s, target).await?;
    if key.managed_alias.is_some() {
        return Err(SecretsError::new(
            "UnsupportedOperationException",
            format!("An alias cannot point at an AWS managed key ({}).", key.arn),
        ));
    }
    Ok(key)
}

async fn create_alias(s: &Secrets, req: CreateAliasRequest) -> Result<Empty, SecretsError> {
    check_alias_name(s, &req.alias_name)?;
    let _writes = s.writes.lock().await;
    let key = alias_target(s, &req.target_key_id).await?;
    let arn = s.arn("kms", &req.alias_name);
    if records::get::<AliasRecord>(&s.store, &alias_key(&req.alias_name)).await?.is_some() {
        return Err(SecretsError::new(
            "AlreadyExistsException",
            format!("An alias with the name {arn} already exists"),
        ));
    }
    let now = s.now();
    let record = AliasRecord {
        schema: SCHEMA,
        name: req.alias_name.clone(),
        arn,
        target_key_id: key.key_id,
        created: now,
        updated: now,
    };
    let k = alias_key(&req.alias_name);
    records::commit_or_conflict(&s.store, Txn::new().expect(k.clone(), 0).put(k, encode(&record)?)).await?;
    Ok(Empty {})
}

async fn update_alias(s: &Secrets, req: UpdateAliasRequest) -> Result<Empty, SecretsError> {
    check_alias_name(s, &req.alias_name)?;
    let _writes = s.writes.lock().await;
    let key = alias_target(s, &req.target_key_id).await?;
    let k = alias_key(&req.alias_name);
    let Some((mut record, revision)) = records::get::<AliasRecord>(&s.store, &k).await? else {
        return Err(SecretsError::new(
            "NotFoundException",
            format!("Alias {} is not found.", s.arn("kms", &req.alias_name)),
        ));
    };
    record.target_key_id = key.key_id;
    record.updated = s.now();
    records::commit_or_conflict(&s.store, Txn::new().expect(k.clone(), revision).put(k, encode(&record)?)).await?;
    Ok(Empty {})
}

async fn delete_alias(s: &Secrets, req: DeleteAliasRequest) -> Result<Empty, SecretsError> {
    check_alias_name(s, &req.alias_name)?;
    let _writes = s.writes.lock().await;
    let k = alias_key(&req.alias_name);
    if records::get::<AliasRecord>(&s.store, &k).await?.is_none() {
        return Err(SecretsError::new(
            "NotFoundException",
            format!("Alias {} is not found.", s.arn("kms", &req.alias_name)),
        ));
    }
    records::commit_or_conflict(&s.store, Txn::new().delete(k)).await?;
    Ok(Empty {})
}

async fn list_aliases(s: &Secrets, req: ListAliasesRequest) -> Result<ListAliasesResponse, SecretsError> {
    let size = page_size(req.limit, 100)?;
    let target = match req.key_id.as_deref().filter(|k| !k.is_empty()) {
        Some(k) => Some(find(s, k).await?.0.key_id),
        None => None,
    };
    let all: Vec<(String, AliasRecord)> = records::list(&s.store, ALIASES_PREFIX).await?;
    let entries = all
        .into_iter()
        .map(|(_, a)| a)
        .filter(|a| target.as_ref().is_none_or(|t| *t == a.target_key_id))
        .map(|a| AliasListEntry {
            alias_name: Some(a.name),
            alias_arn: Some(a.arn),
            target_key_id: Some(a.target_key_id),
            creation_date: Some(a.created),
            last_updated_date: Some(a.updated),
        })
        .collect();
    let (aliases, next) = paged(entries, req.marker.as_deref(), size)?;
    Ok(ListAliasesResponse { aliases: Some(aliases), truncated: Some(next.is_some()), next_marker: next })
}

async fn tag(s: &Secrets, req: TagResourceRequest) -> Result<Empty, SecretsError> {
    let tags = check_tags(&req.tags)?;
    let _writes = s.writes.lock().await;
    let (mut key, revision) = find(s, &req.key_id).await?;
    key.tags.extend(tags);
    if key.tags.len() > 50 {
        return Err(SecretsError::new("TagException", "A key can have at most 50 tags"));
    }
    let k = key_key(&key.key_id);
    records::commit_or_conflict(&s.store, Txn::new().expect(k.clone(), revision).put(k, encode(&key)?)).await?;
    Ok(Empty {})
}

async fn untag(s: &Secrets, req: UntagResourceRequest) -> Result<Empty, SecretsError> {
    let _writes = s.writes.lock().await;
    let (mut key, revision) = find(s, &req.key_id).await?;
    for t in &req.tag_keys {
        key.tags.remove(t);
    }
    let k = key_key(&key.key_id);
    records::commit_or_conflict(&s.store, Txn::new().expect(k.clone(), revision).put(k, encode(&key)?)).await?;
    Ok(Empty {})
}

async fn list_tags(s: &Secrets, req: ListResourceTagsRequest) -> Result<ListResourceTagsResponse, SecretsError> {
    let size = page_size(req.limit, 50)?;
    let (key, _) = find(s, &req.key_id).await?;
    let tags = key.tags.into_iter().map(|(tag_key, tag_value)| Tag { tag_key, tag_value }).collect();
    let (tags, next) = paged(tags, req.marker.as_deref(), size)?;
    Ok(ListResourceTagsResponse { tags: Some(tags), truncated: Some(next.is_some()), next_marker: next })
}

async fn rotation_status(
    s: &Secrets,
    req: GetKeyRotationStatusRequest,
) -> Result<GetKeyRotationStatusResponse, SecretsError> {
    let (key, _) = find(s, &req.key_id).await?;
    Ok(GetKeyRotationStatusResponse { key_rotation_enabled: Some(false), key_id: Some(key.arn), ..Default::default() })
}

const BLOB_MAGIC: &str = "berth-kms1:";

/// The associated data of an Encrypt ciphertext: the key and the encryption context (sorted).
fn encrypt_context(context: &Option<BTreeMap<String, String>>) -> String {
    serde_json::to_string(&context.clone().unwrap_or_default()).unwrap_or_default()
}

fn check_algorithm(algorithm: Option<EncryptionAlgorithmSpec>) -> Result<(), SecretsError> {
    if algorithm.is_some_and(|a| a != EncryptionAlgorithmSpec::SymmetricDefault) {
        return Err(SecretsError::new(
            "InvalidKeyUsageException",
            "Berth's KMS keys are symmetric: only SYMMETRIC_DEFAULT applies.",
        ));
    }
    Ok(())
}

/// Seals `plaintext` under a key into a ciphertext blob that names the key.
async fn seal_blob(
    s: &Secrets,
    key_id: &str,
    context: &Option<BTreeMap<String, String>>,
    plaintext: &[u8],
) -> Result<(KeyRecord, Vec<u8>), SecretsError> {
    let (key, _) = find(s, key_id).await?;
    let material = s.material(&key).map_err(super::KeyUseError::into_kms)?;
    let sealed = material.seal(format!("{}\0{}", key.arn, encrypt_context(context)).as_bytes(), plaintext);
    let blob = format!("{BLOB_MAGIC}{}:{sealed}", key.key_id).into_bytes();
    Ok((key, blob))
}

async fn encrypt(s: &Secrets, req: EncryptRequest) -> Result<EncryptResponse, SecretsError> {
    check_algorithm(req.encryption_algorithm)?;
    if req.plaintext.0.is_empty() || req.plaintext.0.len() > 4096 {
        return Err(SecretsError::constraint("plaintext", "Member must have length between 1 and 4096"));
    }
    let (key, blob) = seal_blob(s, &req.key_id, &req.encryption_context, &req.plaintext.0).await?;
    Ok(EncryptResponse {
        ciphertext_blob: Some(Blob(blob)),
        key_id: Some(key.arn),
        encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault),
    })
}

async fn decrypt(s: &Secrets, req: DecryptRequest) -> Result<DecryptResponse, SecretsError> {
    check_algorithm(req.encryption_algorithm)?;
    if req.recipient.is_some() {
        return Err(unsupported("Recipient (Nitro Enclaves attestation)"));
    }
    let invalid = || SecretsError::new("InvalidCiphertextException", "");
    let blob = req.ciphertext_blob.ok_or_else(invalid)?;
    let text = std::str::from_utf8(&blob.0).map_err(|_| invalid())?;
    let (key_id, sealed) = text.strip_prefix(BLOB_MAGIC).and_then(|r| r.split_once(':')).ok_or_else(invalid)?;
    let (key, _) = find(s, key_id).await?;
    if let Some(wanted) = req.key_id.as_deref().filter(|k| !k.is_empty()) {
        let (named, _) = find(s, wanted).await?;
        if named.key_id != key.key_id {
            return Err(SecretsError::new(
                "IncorrectKeyException",
                "The key ID in the request does not identify a KMS key that can perform this operation.",
            ));
        }
    }
    let material = s.material(&key).map_err(super::KeyUseError::into_kms)?;
    let plaintext = material
        .open(format!("{}\0{}", key.arn, encrypt_context(&req.encryption_context)).as_bytes(), sealed)
        .ok_or_else(invalid)?;
    Ok(DecryptResponse {
        key_id: Some(key.arn),
        plaintext: Some(Blob(plaintext.to_vec())),
        encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault),
        ..Default::default()
    })
}

async fn generate_data_key(s: &Secrets, req: GenerateDataKeyRequest) -> Result<GenerateDataKeyResponse, SecretsError> {
    if req.recipient.is_some() {
        return Err(unsupported("Recipient (Nitro Enclaves attestation)"));
    }
    let bytes = match (req.key_spec, req.number_of_bytes) {
        (Some(_), Some(_)) => {
            return Err(SecretsError::validation("Please specify either number of bytes or key spec."));
        }
        (Some(DataKeySpec::Aes256), None) => 32,
        (Some(DataKeySpec::Aes128), None) => 16,
        (None, Some(n)) if (1..=1024).contains(&n) => n as usize,
        (None, Some(_)) => {
            return Err(SecretsError::constraint("numberOfBytes", "Member must have value between 1 and 1024"));
        }
        (None, None) => return Err(SecretsError::validation("Please specify either number of bytes or key spec.")),
    };
    let mut plaintext = zeroize::Zeroizing::new(vec![0_u8; bytes]);
    rand::RngCore::fill_bytes(&mut rand::rng(), plaintext.as_mut_slice());
    let (key, blob) = seal_blob(s, &req.key_id, &req.encryption_context, &plaintext).await?;
    Ok(GenerateDataKeyResponse {
        ciphertext_blob: Some(Blob(blob)),
        plaintext: Some(Blob(plaintext.to_vec())),
        key_id: Some(key.arn),
        ..Default::default()
    })
}
