//! The files Berth keeps in its data dir: root credentials and the agents' join token.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The root identity's access key, kept in `<data-dir>/credentials.json` (mode 0600).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RootCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

/// Writes a file readable by its owner only, atomically.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(contents).with_context(|| format!("writing {}", tmp.display()))?;
        file.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Creates `dir` (and its parents) if needed and makes it private to its owner (0700), whatever the umask: the
/// data dir holds the store, credentials, tokens and blobs.
pub fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (0700)", dir.display()))?;
    }
    Ok(())
}

/// Makes sure `path` exists as a file readable by its owner only (0600), without touching its contents. SQLite
/// gives its `-wal` and `-shm` files the mode of the database file, so creating the database this way first keeps
/// all three private under any umask.
pub fn private_file(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("making {} private (0600)", file.display()))?;
            }
        }
    }
    Ok(())
}

/// The root credentials: from `BERTH_ROOT_ACCESS_KEY_ID`/`BERTH_ROOT_SECRET_ACCESS_KEY` when both are set, else
/// from the data dir, else new ones saved there. Returns them and whether they were just created.
pub fn root_credentials(data_dir: &Path) -> Result<(RootCredentials, bool)> {
    let from_env = (std::env::var("BERTH_ROOT_ACCESS_KEY_ID"), std::env::var("BERTH_ROOT_SECRET_ACCESS_KEY"));
    if let (Ok(access_key_id), Ok(secret_access_key)) = from_env {
        if access_key_id.is_empty() || secret_access_key.is_empty() {
            anyhow::bail!("BERTH_ROOT_ACCESS_KEY_ID and BERTH_ROOT_SECRET_ACCESS_KEY must not be empty");
        }
        return Ok((RootCredentials { access_key_id, secret_access_key }, false));
    }
    let path = data_dir.join("credentials.json");
    if path.exists() {
        private_file(&path)?;
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let creds = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
        return Ok((creds, false));
    }
    let creds = RootCredentials {
        access_key_id: format!("AKIA{}", berth_model::ids::new_token(16).to_ascii_uppercase()),
        secret_access_key: berth_model::ids::new_token(40),
    };
    write_private(&path, &serde_json::to_vec_pretty(&creds)?)?;
    Ok((creds, true))
}

/// The join token agents present to create a new container instance, kept in `<data-dir>/join-token` (0600). With
/// `rotate`, a new token replaces the old one, which then joins nothing new; instances already joined rejoin with
/// their own instance secrets and are not affected.
pub fn join_token(data_dir: &Path, rotate: bool) -> Result<String> {
    let path = data_dir.join("join-token");
    if !rotate && path.exists() {
        private_file(&path)?;
        let token = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let token = token.trim().to_string();
        if !token.is_empty() {
            return Ok(token);
        }
    }
    let token = berth_model::ids::new_token(48);
    write_private(&path, token.as_bytes())?;
    Ok(token)
}
