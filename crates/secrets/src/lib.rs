//! Berth's Secrets Manager, SSM Parameter Store and KMS subset: three AWS JSON 1.1 APIs on one envelope-encrypted
//! value store.
//!
//! # Background
//! ECS task definitions take database passwords and API keys from Secrets Manager secrets and SSM parameters
//! (`secrets[].valueFrom`), encrypted under KMS keys. Berth serves the operations the aws CLI, the SDKs and deploy
//! tools use for them (`secretsmanager/2017-10-17`, `ssm/2014-11-06` for Parameter Store, `kms/2014-11-01` for
//! symmetric keys and aliases), and [`Secrets::resolve`] reads a `valueFrom` for the task starter.
//!
//! # Design
//! - **Envelope encryption** ([`crypto`]): each stored value is sealed with its own random 256-bit data key under
//!   AES-256-GCM (random 96-bit nonce; associated data binding the value to its record: ARN, version, kind); the data
//!   key is sealed by the KMS key's material (associated data: the KMS key ARN and the value's context); each KMS
//!   key's material is sealed by the **master key**, which never enters the store ([`master`]: a 0600 file in the
//!   data dir, created on first start, or `BERTH_MASTER_KEY`). A check record (a known text sealed by the master key)
//!   tells a wrong master key at start. Every value is sealed, String parameters included. No plaintext reaches the
//!   store, a log or an error message; plaintext buffers are zeroized.
//! - **Master key rotation** ([`master::rotate`], `berth secrets rotate-master-key`, offline): re-wraps every KMS
//!   key's material under a new master key in one transaction; values and data keys are not touched. The new key is
//!   written to `<file>.new` first and renamed after the commit; an interrupted rotation finishes at the next start.
//! - **Records** in `berth_store` (schema 1): `/kms/key/`, `/kms/alias/`, `/kms/master-check`; `/secrets/secret/`
//!   (metadata, versions and labels) and `/secrets/value/<name>/<version>`; `/ssm/param/` and
//!   `/ssm/value/<name>/<version>`. Writes are serialized by one lock and compare-and-swapped.
//! - **Secrets Manager** ([`sm`]): versions with staging labels (AWSCURRENT moves and leaves AWSPREVIOUS;
//!   UpdateSecretVersionStage's rules in [`sm::stages`]), ClientRequestToken idempotence, lookups by name, ARN or
//!   ARN without the random suffix; DeleteSecret's recovery window ends in a purge by a `berth_runtime` timer on the
//!   `Clock` (a secret past its purge time is gone for every lookup even before the purge runs). Resource policies
//!   ([`sm::policy`]) live in the secret's record; [`Secrets::secret_access`] hands the front door's authorization
//!   hook the secret's full ARN, policy and tags.
//! - **Parameter Store** ([`ssm`]): versions (100 kept), labels, `name:version`/`name:label` selectors, tiers
//!   (Standard 4 KiB, Advanced 8 KiB, Intelligent-Tiering), hierarchies up to 15 levels, filters. Every other SSM
//!   operation is refused by name.
//! - **KMS** ([`kms`]): SYMMETRIC_DEFAULT keys, aliases, Enable/DisableKey (a disabled key fails reads through
//!   Secrets Manager with `DecryptionFailure` and through SSM with `InvalidKeyId`, as AWS), tags, Encrypt, Decrypt,
//!   GenerateDataKey; `alias/aws/secretsmanager` and `alias/aws/ssm` are AWS managed keys created on first use.
//!
//! # Limitations
//! No rotation Lambdas (RotateSecret), replication, parameter policies, shared parameters,
//! asymmetric or HMAC KMS keys, key policies, grants or key deletion: each is refused at the call. Changing a
//! secret's KmsKeyId applies to new versions. [`ResolveAuthorizer`] is the hook for task secrets: [`IamExecutionRole`]
//! checks the task's execution role with IAM (trust policy and policies); [`authorize_execution_role`] is the
//! fallback without IAM (a named role is allowed). [`Secrets::seal_opaque`] seals other crates' secrets (IAM's
//! access keys) the same way. Master key rotation needs the server stopped.

pub mod crypto;
mod error;
pub mod execution_role;
pub mod kms;
pub mod master;
pub mod records;
mod resolve;
mod service;
pub mod sm;
pub mod ssm;
mod wire;

#[cfg(test)]
mod tests;

pub use error::{MasterKeyError, SecretsError};
pub use execution_role::{ExecutionRole, IamExecutionRole, authorize_execution_role};
pub use resolve::{
    AllowAll, OnResource, RegistryLogin, ResolveAuthorizer, ResolveError, SecretValue, ValueFrom, parse_value_from,
};
pub use service::{Secrets, SecretsConfig};
