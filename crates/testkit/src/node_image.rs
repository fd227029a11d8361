//! The node image of the fault environment ([`crate::fault_cluster`]): the test's own `berth` binary and the
//! machine's `etcd`, with the shared libraries `ldd` lists for them and the dynamic loader, in a `FROM scratch`
//! image. Nothing is pulled: the image is built from a temporary context with the legacy builder.
//!
//! Design: one image serves the three roles (etcd member, `berth server`, `berth agent`), the command line picks
//! the role. The tag is the first 12 hex digits of a SHA-256 over every file's path and digest (and the
//! Dockerfile), so a warm run costs the hashing and one `docker image inspect`; older `berth-node` tags no
//! container uses are removed when a new one is built (a debug `berth` is large).
//!
//! What the agent needs at run time for bridge-mode tasks: the Docker socket (mounted by the cluster) and nothing
//! else. It calls `ip` only to claim its DNS address and `iptables` only for awsvpc tasks and task role
//! credentials; neither is in the image, so agents here log that they have no DNS forwarder and the fault tests run
//! bridge-mode tasks without roles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::TestkitError;
use crate::docker::{docker, run};

/// The repository name of the node image.
pub const NODE_REPO: &str = "berth-node";

/// The image label carrying the content hash.
pub const NODE_HASH_LABEL: &str = "org.berth.node.sha256";

/// Where `berth` is in the image.
pub const BERTH_PATH: &str = "/usr/local/bin/berth";

/// Where `etcd` is in the image.
pub const ETCD_PATH: &str = "/usr/bin/etcd";

/// The etcd binary of this machine: `$BERTH_ETCD_BIN`, else `etcd` on `PATH`.
pub fn etcd_binary() -> Result<PathBuf, TestkitError> {
    if let Some(path) = std::env::var_os("BERTH_ETCD_BIN") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join("etcd")).find(|p| p.is_file()).ok_or_else(|| TestkitError::Io {
        context: "find etcd".into(),
        message: "no etcd on PATH (Debian's etcd-server package; tools/test installs it) and BERTH_ETCD_BIN unset"
            .into(),
    })
}

/// Builds (or finds) the node image holding `berth` (the test's binary) and this machine's etcd; returns its name,
/// `berth-node:<hash>`.
pub fn node_image(berth: &Path) -> Result<String, TestkitError> {
    let etcd = etcd_binary()?;
    let mut files: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    files.insert(BERTH_PATH.into(), berth.to_path_buf());
    files.insert(ETCD_PATH.into(), etcd.clone());
    for binary in [berth, etcd.as_path()] {
        for library in shared_libraries(binary)? {
            files.insert(library.clone(), library);
        }
    }
    let dockerfile = dockerfile(files.keys());
    // The files' digests come from `sha256sum` (a debug `berth` is hundreds of MB, slow to hash in a debug test).
    let digests = run(Command::new("sha256sum").args(files.values()))?;
    let mut hasher = Sha256::new();
    hasher.update(dockerfile.as_bytes());
    for ((inside, _), line) in files.iter().zip(digests.lines()) {
        hasher.update(inside.to_string_lossy().as_bytes());
        hasher.update(line.split_whitespace().next().unwrap_or_default().as_bytes());
    }
    let hash = hex::encode(hasher.finalize());
    let name = format!("{NODE_REPO}:{}", &hash[..12]);
    let existing = docker(&[
        "image",
        "inspect",
        "--format",
        &format!("{{{{index .Config.Labels \"{NODE_HASH_LABEL}\"}}}}"),
        &name,
    ]);
    if existing.as_deref().is_ok_and(|label| label == hash) {
        return Ok(name);
    }
    let context = tempfile::Builder::new()
        .prefix("berth-node-image-")
        .tempdir()
        .map_err(|e| TestkitError::io("create the node image's build context", &e))?;
    for (inside, source) in &files {
        let target = context.path().join("root").join(inside.strip_prefix("/").unwrap_or(inside.as_path()));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| TestkitError::io("create a context dir", &e))?;
        }
        // A copy (following symlinks: ldd names a library by its soname link) keeps the mode bits.
        std::fs::copy(source, &target).map_err(|e| TestkitError::io(format!("copy {}", source.display()), &e))?;
    }
    std::fs::create_dir_all(context.path().join("root").join("tmp"))
        .map_err(|e| TestkitError::io("create tmp in the context", &e))?;
    std::fs::write(context.path().join("Dockerfile"), format!("{dockerfile}LABEL {NODE_HASH_LABEL}=\"{hash}\"\n"))
        .map_err(|e| TestkitError::io("write the Dockerfile", &e))?;
    let context_dir = context.path().to_string_lossy().into_owned();
    run(Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--quiet", "--tag", &name])
        .arg(&context_dir))?;
    remove_older(&name);
    Ok(name)
}

/// The Dockerfile (without its hash label): the context's `root/` copied over an empty image.
fn dockerfile<'a>(paths: impl Iterator<Item = &'a PathBuf>) -> String {
    let listing: Vec<String> = paths.map(|p| p.display().to_string()).collect();
    format!("FROM scratch\n# {}\nCOPY root/ /\nENV PATH=/usr/local/bin:/usr/bin\n", listing.join(" "))
}

/// Removes the other `berth-node` tags (best effort: one a container still uses stays).
fn remove_older(keep: &str) {
    let Ok(listing) = docker(&["images", NODE_REPO, "--format", "{{.Repository}}:{{.Tag}}"]) else { return };
    for tag in listing.lines().filter(|t| *t != keep) {
        let _ = docker(&["rmi", tag]);
    }
}

/// The shared libraries `binary` loads and its dynamic loader, from `ldd` (none for a static binary).
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, TestkitError> {
    let output = Command::new("ldd").arg(binary).output().map_err(|e| TestkitError::io("run ldd", &e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // `ldd` of a static binary says so and fails.
        let err = String::from_utf8_lossy(&output.stderr);
        if text.contains("statically linked") || err.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(TestkitError::Command {
            command: format!("ldd {}", binary.display()),
            status: output.status.to_string(),
            stderr: err.into_owned(),
        });
    }
    parse_ldd(&text)
}

/// The absolute paths of an `ldd` listing; a library `ldd` could not find is an error.
pub fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, TestkitError> {
    let mut paths = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("statically linked") {
            continue;
        }
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(TestkitError::Io {
                        context: "ldd".into(),
                        message: format!("the shared library {} is not found", name.trim()),
                    });
                }
                rest.split_whitespace().next().unwrap_or_default()
            }
            None => line.split_whitespace().next().unwrap_or_default(),
        };
        // The vDSO (`linux-vdso.so.1 (0x...)`, or `=> (0x...)` on old glibc) is no file.
        if target.starts_with('/') {
            paths.push(PathBuf::from(target));
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_listings_name_libraries_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x1)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x2)\n\t/lib64/ld-linux-x86-64.so.2 (0x3)\n";
        let paths = parse_ldd(text).unwrap();
        assert_eq!(
            paths,
            ["/lib/x86_64-linux-gnu/libgcc_s.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]
                .map(PathBuf::from)
        );
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err().to_string().contains("libfoo.so.1"));
    }

    #[test]
    fn a_system_binary_has_libc_and_the_loader() {
        let paths = shared_libraries(Path::new("/bin/ls")).unwrap();
        assert!(paths.iter().any(|p| p.to_string_lossy().contains("libc.so")), "{paths:?}");
        assert!(paths.iter().any(|p| p.to_string_lossy().contains("ld-linux")), "{paths:?}");
    }

    #[test]
    fn dockerfile_copies_the_root_over_scratch() {
        let paths = [PathBuf::from(BERTH_PATH)];
        let d = dockerfile(paths.iter());
        assert!(d.starts_with("FROM scratch\n"));
        assert!(d.contains("COPY root/ /"));
        assert!(d.contains(BERTH_PATH));
    }
}
