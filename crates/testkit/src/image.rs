//! The workload image: `berth-workload` compiled statically and packed alone into a `FROM scratch` image.
//!
//! Design: the binary is built with `cargo build --release -p berth-workload --target x86_64-unknown-linux-gnu`
//! and `RUSTFLAGS="-C target-feature=+crt-static"` into its own target directory (`<workspace>/target/
//! workload-static`, or `$BERTH_WORKLOAD_TARGET_DIR`), so the flags never invalidate the main build's cache. The
//! image tag is the first 12 hex digits of the binary's SHA-256: when `berth-workload:<hash>` already exists only
//! `berth-workload:latest` is re-pointed, so a warm run costs a no-op cargo build and one `docker image inspect`.
//! The result is memoized per process.
//!
//! The binary must have no `PT_INTERP` program header (no dynamic loader): a scratch image has no libc, so a
//! dynamic binary would fail at start with a confusing "no such file or directory".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::TestkitError;
use crate::docker::{docker, run};

/// The repository name of the workload image.
pub const WORKLOAD_REPO: &str = "berth-workload";

/// The target triple the workload is built for (the only one installed on the build machines).
pub const WORKLOAD_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The image label carrying the binary's full SHA-256.
pub const HASH_LABEL: &str = "org.berth.workload.sha256";

/// The workspace root, two levels above this crate's manifest.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("..").join("..");
    root.canonicalize().unwrap_or(root)
}

/// Builds (once per process) the workload image and returns its unique name, `berth-workload:<hash>`; the image
/// is also tagged `berth-workload:latest`.
pub fn workload_image() -> Result<String, TestkitError> {
    static IMAGE: OnceLock<Result<String, TestkitError>> = OnceLock::new();
    IMAGE.get_or_init(build_image).clone()
}

fn build_image() -> Result<String, TestkitError> {
    let binary = build_static_binary()?;
    let bytes = std::fs::read(&binary).map_err(|e| TestkitError::io(format!("read {}", binary.display()), &e))?;
    check_static(&bytes).map_err(|detail| TestkitError::NotStatic { path: binary.display().to_string(), detail })?;
    let hash = hex::encode(Sha256::digest(&bytes));
    let name = format!("{WORKLOAD_REPO}:{}", &hash[..12]);
    let latest = format!("{WORKLOAD_REPO}:latest");
    let existing =
        docker(&["image", "inspect", "--format", &format!("{{{{index .Config.Labels \"{HASH_LABEL}\"}}}}"), &name]);
    if existing.as_deref().is_ok_and(|label| label == hash) {
        docker(&["tag", &name, &latest])?;
        return Ok(name);
    }
    let context = tempfile::Builder::new()
        .prefix("berth-workload-image-")
        .tempdir()
        .map_err(|e| TestkitError::io("create the image build context", &e))?;
    std::fs::write(context.path().join("berth-workload"), &bytes)
        .map_err(|e| TestkitError::io("copy the binary into the build context", &e))?;
    set_executable(&context.path().join("berth-workload"))?;
    std::fs::write(context.path().join("Dockerfile"), dockerfile(&hash))
        .map_err(|e| TestkitError::io("write the Dockerfile", &e))?;
    let context_dir = context.path().to_string_lossy().into_owned();
    run(Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--quiet", "--tag", &name, "--tag", &latest])
        .arg(&context_dir))?;
    Ok(name)
}

/// The Dockerfile of the workload image.
fn dockerfile(hash: &str) -> String {
    format!(
        "FROM scratch\nCOPY berth-workload /berth-workload\nEXPOSE 8080\nLABEL {HASH_LABEL}=\"{hash}\"\n\
         ENTRYPOINT [\"/berth-workload\"]\n"
    )
}

fn set_executable(path: &Path) -> Result<(), TestkitError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| TestkitError::io(format!("chmod {}", path.display()), &e))
}

/// Compiles the workload statically and returns the binary's path.
pub fn build_static_binary() -> Result<PathBuf, TestkitError> {
    let root = workspace_root();
    let target_dir = std::env::var_os("BERTH_WORKLOAD_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("workload-static"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .current_dir(&root)
        // The caller's flags (e.g. from a `cargo test` with CARGO_ENCODED_RUSTFLAGS) must not leak in.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env("RUSTFLAGS", "-C target-feature=+crt-static -C strip=debuginfo")
        .args(["build", "--release", "--quiet", "-p", "berth-workload", "--target", WORKLOAD_TARGET, "--target-dir"])
        .arg(&target_dir))?;
    Ok(target_dir.join(WORKLOAD_TARGET).join("release").join("berth-workload"))
}

/// Checks that `elf` is a 64-bit little-endian ELF executable with no `PT_INTERP` (dynamic loader) header.
pub fn check_static(elf: &[u8]) -> Result<(), String> {
    const PT_INTERP: u32 = 3;
    if elf.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".to_string());
    }
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF".to_string());
    }
    let u16_at = |off: usize| elf.get(off..off + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |off: usize| elf.get(off..off + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |off: usize| {
        elf.get(off..off + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(|a| u64::from_le_bytes(a) as usize)
    };
    let truncated = || "truncated ELF header".to_string();
    let phoff = u64_at(0x20).ok_or_else(truncated)?;
    let phentsize = u16_at(0x36).ok_or_else(truncated)?;
    let phnum = u16_at(0x38).ok_or_else(truncated)?;
    if phnum == 0 {
        return Err("no program headers".to_string());
    }
    for i in 0..phnum {
        let p_type = u32_at(phoff + i * phentsize).ok_or("truncated program header table")?;
        if p_type == PT_INTERP {
            return Err("it has a PT_INTERP header, so it needs a dynamic loader".to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with the given program header types.
    fn elf_with(types: &[u32]) -> Vec<u8> {
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for t in types {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&t.to_le_bytes());
            elf.extend(ph);
        }
        elf
    }

    #[test]
    fn static_check_reads_program_headers() {
        assert!(check_static(&elf_with(&[1, 1, 2, 0x6474e551])).is_ok());
        assert!(check_static(&elf_with(&[6, 3, 1])).unwrap_err().contains("PT_INTERP"));
        assert!(check_static(b"#!/bin/sh\n").is_err());
        assert!(check_static(&elf_with(&[1])[..66]).is_err());
    }

    #[test]
    fn a_dynamic_system_binary_is_refused() {
        let ls = std::fs::read("/bin/ls").unwrap();
        assert!(check_static(&ls).is_err());
    }

    #[test]
    fn dockerfile_is_scratch_with_entrypoint() {
        let d = dockerfile("abc");
        assert!(d.starts_with("FROM scratch\n"));
        assert!(d.contains("ENTRYPOINT [\"/berth-workload\"]"));
        assert!(d.contains("EXPOSE 8080"));
        assert!(d.contains("org.berth.workload.sha256=\"abc\""));
    }
}
