//! Upgrading the agent in place when the control plane asks (UpdateContainerAgent).
//!
//! The agent resolves its own binary when it starts ([`SelfUpdate`]); asked to update, it checks that a binary is
//! there (STAGING, STAGED), says UPDATING and re-executes it with the same arguments. Whatever binary is at that
//! path now runs: a binary replaced on disk since the agent started is picked up. The new process adopts the
//! running containers and registers again as the same container instance with its version, which settles the
//! update on the server. If the binary is missing or the exec fails, the agent keeps running and reports FAILED.

use crate::client::ServerClient;
use berth_model::agent::AgentUpdateReport;
use std::ffi::OsString;
use std::path::PathBuf;

/// How the agent re-executes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfUpdate {
    /// The binary, resolved when the agent started.
    pub exe: PathBuf,
    /// The arguments to run it with (without the program name).
    pub args: Vec<OsString>,
}

impl SelfUpdate {
    /// This process's binary and arguments, without the flag `--{drop_flag}` and its value (in either the
    /// `--flag value` or the `--flag=value` form).
    pub fn from_current_process(drop_flag: &str) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        Ok(Self { exe, args: without_flag(std::env::args_os().skip(1), drop_flag) })
    }
}

/// `args` without `--{flag} value` and `--{flag}=value`.
pub fn without_flag(args: impl IntoIterator<Item = OsString>, flag: &str) -> Vec<OsString> {
    let long = format!("--{flag}");
    let with_value = format!("--{flag}=");
    let mut out = Vec::new();
    let mut skip_next = false;
    for arg in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        let text = arg.to_string_lossy();
        if text == long {
            skip_next = true;
            continue;
        }
        if text.starts_with(&with_value) {
            continue;
        }
        out.push(arg);
    }
    out
}

/// Checks that the binary is a file the agent may execute.
fn check_binary(exe: &std::path::Path) -> Result<(), String> {
    let meta = std::fs::metadata(exe).map_err(|e| format!("cannot read the agent binary {}: {e}", exe.display()))?;
    if !meta.is_file() {
        return Err(format!("the agent binary {} is not a file", exe.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(format!("the agent binary {} is not executable", exe.display()));
        }
    }
    Ok(())
}

async fn say(client: &ServerClient, token: &str, status: &str, reason: Option<String>) -> bool {
    let report = AgentUpdateReport { status: status.into(), reason };
    match client.agent_update(token, &report).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, status, "cannot report the agent update's progress");
            false
        }
    }
}

/// Runs an update the server asked for. Returns only if the update failed (a successful one replaces the
/// process).
pub async fn run(client: &ServerClient, token: &str, update: Option<&SelfUpdate>, target: &str) {
    let Some(update) = update else {
        let reason = "this agent is embedded in the server process and cannot replace itself".to_string();
        say(client, token, "FAILED", Some(reason)).await;
        return;
    };
    tracing::info!(target_version = %target, exe = %update.exe.display(), "the server asked this agent to update itself");
    if !say(client, token, "STAGING", None).await {
        return; // asked again on the next stream
    }
    if let Err(reason) = check_binary(&update.exe) {
        say(client, token, "FAILED", Some(reason)).await;
        return;
    }
    if !say(client, token, "STAGED", None).await || !say(client, token, "UPDATING", None).await {
        return;
    }
    let error = exec(update);
    tracing::error!(%error, "the agent could not re-execute itself");
    say(client, token, "FAILED", Some(format!("re-executing {} failed: {error}", update.exe.display()))).await;
}

#[cfg(unix)]
fn exec(update: &SelfUpdate) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    tracing::info!(exe = %update.exe.display(), "re-executing the agent");
    std::process::Command::new(&update.exe).args(&update.args).exec()
}

#[cfg(not(unix))]
fn exec(_update: &SelfUpdate) -> std::io::Error {
    std::io::Error::other("in-place updates need a Unix exec")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_test_flag_is_dropped_in_both_forms() {
        let flag = "test-report-agent-version";
        assert_eq!(
            without_flag(args(&["agent", "--test-report-agent-version", "0.0.1", "--cluster", "c"]), flag),
            args(&["agent", "--cluster", "c"])
        );
        assert_eq!(
            without_flag(args(&["agent", "--test-report-agent-version=0.0.1", "--x"]), flag),
            args(&["agent", "--x"])
        );
        assert_eq!(without_flag(args(&["agent"]), flag), args(&["agent"]));
    }

    #[test]
    fn a_missing_binary_is_refused_before_exec() {
        assert!(check_binary(std::path::Path::new("/nonexistent/berth")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth");
        std::fs::write(&file, b"#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            assert!(check_binary(&file).unwrap_err().contains("not executable"));
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert!(check_binary(&file).is_ok());
    }
}
