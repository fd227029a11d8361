//! The operations: ImportCertificate (and re-import), DescribeCertificate, ListCertificates, GetCertificate,
//! DeleteCertificate and the tag operations. RequestCertificate and the rest of the model are refused by name.

use crate::records::{self, CertificateRecord, SCHEMA};
use crate::{Acm, AcmError};
use berth_model::acm::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Runs one operation.
pub(crate) async fn dispatch(s: &Acm, operation: &str, input: &[u8]) -> Result<Vec<u8>, AcmError> {
    match operation {
        "ImportCertificate" => out(import(s, parse(input)?).await?),
        "DescribeCertificate" => out(describe(s, parse(input)?)?),
        "ListCertificates" => out(list(s, parse(input)?)?),
        "GetCertificate" => out(get(s, parse(input)?)?),
        "DeleteCertificate" => out(delete(s, parse(input)?).await?),
        "AddTagsToCertificate" => out(add_tags(s, parse(input)?).await?),
        "RemoveTagsFromCertificate" => out(remove_tags(s, parse(input)?).await?),
        "ListTagsForCertificate" => out(list_tags(s, parse(input)?)?),
        "RequestCertificate" => Err(request(parse(input)?)),
        op if OPERATIONS.contains(&op) => Err(AcmError::unsupported(op)),
        op => Err(AcmError::unknown_operation(op)),
    }
}

fn parse<T: DeserializeOwned>(input: &[u8]) -> Result<T, AcmError> {
    berth_model::input::decode(input, berth_model::input::Naming::LastMemberCamel).map_err(AcmError::validation)
}

#[derive(Serialize)]
struct Empty {}

fn out<T: Serialize>(value: T) -> Result<Vec<u8>, AcmError> {
    Ok(serde_json::to_vec(&value)?)
}

/// Checks the form of a certificate ARN.
fn check_arn(arn: &str) -> Result<(), AcmError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "acm"
        && parts[5].strip_prefix("certificate/").is_some_and(|id| !id.is_empty() && !id.contains('/'));
    if ok { Ok(()) } else { Err(AcmError::new("InvalidArnException", format!("String '{arn}' is not a valid ARN."))) }
}

/// The record of an ARN, or ResourceNotFoundException.
fn find(s: &Acm, arn: &str) -> Result<CertificateRecord, AcmError> {
    check_arn(arn)?;
    s.snapshot().get(arn).cloned().ok_or_else(|| AcmError::not_found(arn))
}

/// Checks tags as ACM does (1-128 character keys, 0-256 character values, no `aws:` prefix).
fn check_tags(tags: &[Tag], removing: bool) -> Result<(), AcmError> {
    let allowed = |v: &str| v.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c));
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 || !allowed(&t.key) {
            return Err(AcmError::new("InvalidTagException", format!("The tag key '{}' is not valid.", t.key)));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(AcmError::new(
                "InvalidTagException",
                format!("The tag key '{}' uses the reserved prefix 'aws:'.", t.key),
            ));
        }
        if let Some(v) = &t.value
            && (v.chars().count() > 256 || !allowed(v))
        {
            return Err(AcmError::new("InvalidTagException", format!("The value of tag '{}' is not valid.", t.key)));
        }
    }
    if !removing && tags.is_empty() {
        return Err(AcmError::validation("At least one tag must be specified."));
    }
    Ok(())
}

fn apply_tags(into: &mut BTreeMap<String, String>, tags: &[Tag]) -> Result<(), AcmError> {
    for t in tags {
        into.insert(t.key.clone(), t.value.clone().unwrap_or_default());
    }
    if into.len() > 50 {
        return Err(AcmError::new("TooManyTagsException", "A certificate can have at most 50 tags."));
    }
    Ok(())
}

/// `ImportCertificate`: a new certificate, or a re-import to `CertificateArn` (same ARN, new certificate and key).
async fn import(s: &Acm, req: ImportCertificateRequest) -> Result<ImportCertificateResponse, AcmError> {
    if let Some(arn) = &req.certificate_arn {
        find(s, arn)?;
        if req.tags.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(AcmError::validation("Tags cannot be specified when reimporting a certificate."));
        }
    }
    let tags = req.tags.clone().unwrap_or_default();
    if !tags.is_empty() {
        check_tags(&tags, false)?;
    }
    let now = s.now();
    let facts = crate::pem::check_import(
        &req.certificate.0,
        &req.private_key.0,
        req.certificate_chain.as_ref().map(|c| c.0.as_slice()),
        now,
    )?;
    let _guard = s.writes.lock().await;
    let existing = match &req.certificate_arn {
        Some(arn) => Some(find(s, arn)?),
        None => None,
    };
    let arn =
        existing.as_ref().map_or_else(|| s.arn(&format!("certificate/{}", uuid::Uuid::new_v4())), |r| r.arn.clone());
    let key_nonce = uuid::Uuid::new_v4().to_string();
    let sealed_key = s
        .sealer
        .seal(&records::key_context(&arn, Some(&key_nonce), now), &req.private_key.0)
        .await
        .map_err(|e| AcmError::internal(&format!("sealing the private key of {arn}: {e}")))?;
    let mut record_tags = existing.as_ref().map(|r| r.tags.clone()).unwrap_or_default();
    apply_tags(&mut record_tags, &tags)?;
    let record = CertificateRecord {
        schema: SCHEMA,
        arn: arn.clone(),
        facts: facts.into(),
        sealed_key,
        key_nonce: Some(key_nonce),
        created_at: existing.as_ref().map_or(now, |r| r.created_at),
        imported_at: now,
        tags: record_tags,
    };
    s.commit(&arn, Some(record)).await?;
    Ok(ImportCertificateResponse { certificate_arn: Some(arn) })
}

fn status(s: &Acm, r: &CertificateRecord) -> CertificateStatus {
    if s.now() > r.facts.not_after { CertificateStatus::Expired } else { CertificateStatus::Issued }
}

fn key_algorithm(name: &str) -> Option<KeyAlgorithm> {
    KeyAlgorithm::parse(name)
}

/// `DescribeCertificate`.
fn describe(s: &Acm, req: DescribeCertificateRequest) -> Result<DescribeCertificateResponse, AcmError> {
    let r = find(s, &req.certificate_arn)?;
    let f = &r.facts;
    Ok(DescribeCertificateResponse {
        certificate: Some(CertificateDetail {
            certificate_arn: Some(r.arn.clone()),
            domain_name: Some(f.domain_name.clone()),
            subject_alternative_names: Some(f.subject_alternative_names.clone()),
            serial: Some(f.serial.clone()),
            subject: Some(f.subject.clone()),
            issuer: Some(f.issuer.clone()),
            created_at: Some(r.created_at),
            imported_at: Some(r.imported_at),
            status: Some(status(s, &r)),
            not_before: Some(f.not_before),
            not_after: Some(f.not_after),
            key_algorithm: key_algorithm(&f.key_algorithm),
            signature_algorithm: Some(f.signature_algorithm.clone()),
            in_use_by: Some(s.users_of(&r.arn)),
            r#type: Some(CertificateType::Imported),
            renewal_eligibility: Some(RenewalEligibility::Ineligible),
            ..Default::default()
        }),
    })
}

/// `ListCertificates`: by status and key type (RSA_2048 only when no key type is given, as ACM does), newest
/// first when sorted by CREATED_AT, paged by an offset token.
fn list(s: &Acm, req: ListCertificatesRequest) -> Result<ListCertificatesResponse, AcmError> {
    let includes = req.includes.clone().unwrap_or_default();
    if includes.extended_key_usage.as_ref().is_some_and(|v| !v.is_empty())
        || includes.key_usage.as_ref().is_some_and(|v| !v.is_empty())
        || includes.export_option.is_some()
        || includes.managed_by.is_some()
    {
        return Err(AcmError::validation(
            "Berth's ACM filters certificates by status and keyTypes only (extendedKeyUsage, keyUsage, exportOption \
             and managedBy filters are not supported).",
        ));
    }
    let key_types = includes.key_types.unwrap_or_else(|| vec![KeyAlgorithm::Rsa2048]);
    let statuses = req.certificate_statuses.unwrap_or_default();
    let max = match req.max_items {
        None => 1000,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(AcmError::validation(format!(
                "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must \
                 have value between 1 and 1000"
            )));
        }
    };
    if req.sort_order.is_some() && req.sort_by.is_none() {
        return Err(AcmError::validation("SortOrder can only be specified with SortBy."));
    }
    let snapshot = s.snapshot();
    let mut found: Vec<&CertificateRecord> = snapshot
        .values()
        .filter(|r| statuses.is_empty() || statuses.contains(&status(s, r)))
        .filter(|r| key_algorithm(&r.facts.key_algorithm).is_some_and(|k| key_types.contains(&k)))
        .collect();
    if req.sort_by.is_some() {
        found.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then_with(|| a.arn.cmp(&b.arn)));
        if req.sort_order != Some(SortOrder::Ascending) {
            found.reverse();
        }
    }
    let start = match &req.next_token {
        None => 0,
        Some(t) => t
            .strip_prefix("berth-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| AcmError::new("InvalidArgsException", "The NextToken is not valid."))?,
    };
    let total = found.len();
    let page = found.into_iter().skip(start).take(max).map(|r| summary(s, r)).collect();
    let next_token = (start + max < total).then(|| format!("berth-{}", start + max));
    Ok(ListCertificatesResponse { next_token, certificate_summary_list: Some(page) })
}

fn summary(s: &Acm, r: &CertificateRecord) -> CertificateSummary {
    let f = &r.facts;
    let sans: Vec<String> = f.subject_alternative_names.iter().take(100).cloned().collect();
    CertificateSummary {
        certificate_arn: Some(r.arn.clone()),
        domain_name: Some(f.domain_name.clone()),
        has_additional_subject_alternative_names: Some(f.subject_alternative_names.len() > sans.len()),
        subject_alternative_name_summaries: Some(sans),
        status: Some(status(s, r)),
        r#type: Some(CertificateType::Imported),
        key_algorithm: key_algorithm(&f.key_algorithm),
        in_use: Some(!s.users_of(&r.arn).is_empty()),
        renewal_eligibility: Some(RenewalEligibility::Ineligible),
        not_before: Some(f.not_before),
        not_after: Some(f.not_after),
        created_at: Some(r.created_at),
        imported_at: Some(r.imported_at),
        ..Default::default()
    }
}

/// `GetCertificate`: the certificate and its chain, PEM (never the key).
fn get(s: &Acm, req: GetCertificateRequest) -> Result<GetCertificateResponse, AcmError> {
    let r = find(s, &req.certificate_arn)?;
    Ok(GetCertificateResponse { certificate: Some(r.facts.certificate_pem), certificate_chain: r.facts.chain_pem })
}

/// `DeleteCertificate`: refused while a listener serves it.
async fn delete(s: &Acm, req: DeleteCertificateRequest) -> Result<Empty, AcmError> {
    let _guard = s.writes.lock().await;
    let r = find(s, &req.certificate_arn)?;
    let users = s.users_of(&r.arn);
    if !users.is_empty() {
        return Err(AcmError::new(
            "ResourceInUseException",
            format!("Certificate {} in use by {}", r.arn, users.join(", ")),
        ));
    }
    s.commit(&r.arn, None).await?;
    Ok(Empty {})
}

async fn add_tags(s: &Acm, req: AddTagsToCertificateRequest) -> Result<Empty, AcmError> {
    check_tags(&req.tags, false)?;
    let _guard = s.writes.lock().await;
    let mut r = find(s, &req.certificate_arn)?;
    apply_tags(&mut r.tags, &req.tags)?;
    s.commit(&r.arn.clone(), Some(r)).await?;
    Ok(Empty {})
}

/// `RemoveTagsFromCertificate`: a tag given with a value is removed only when the value matches.
async fn remove_tags(s: &Acm, req: RemoveTagsFromCertificateRequest) -> Result<Empty, AcmError> {
    check_tags(&req.tags, true)?;
    let _guard = s.writes.lock().await;
    let mut r = find(s, &req.certificate_arn)?;
    for t in &req.tags {
        if t.value.as_ref().is_none_or(|v| r.tags.get(&t.key) == Some(v)) {
            r.tags.remove(&t.key);
        }
    }
    s.commit(&r.arn.clone(), Some(r)).await?;
    Ok(Empty {})
}

fn list_tags(s: &Acm, req: ListTagsForCertificateRequest) -> Result<ListTagsForCertificateResponse, AcmError> {
    let r = find(s, &req.certificate_arn)?;
    let tags = r.tags.iter().map(|(k, v)| Tag { key: k.clone(), value: Some(v.clone()) }).collect();
    Ok(ListTagsForCertificateResponse { tags: Some(tags) })
}

/// `RequestCertificate`: refused. AMAZON_ISSUED certificates need a public CA that validates the domain (DNS or
/// email); Berth has none, and private CAs (ACM PCA) are not served.
fn request(req: RequestCertificateRequest) -> AcmError {
    AcmError::validation(format!(
        "Berth cannot issue a certificate for {}: RequestCertificate needs a public CA that validates the domain \
         (DNS or email) or an ACM Private CA, and Berth has neither. Import a certificate with ImportCertificate.",
        req.domain_name
    ))
}
