//! Task role credentials: the agent asks the server for a task's role session when it starts the task
//! ([`CredentialsSource`], the server's `POST /agent/v1/credentials`), keeps it in memory under a random
//! credentials id, serves it to the task's containers at `http://169.254.170.2/v2/credentials/<id>` as ECS's agent
//! does ([`endpoint`]), and asks again half-way to its expiry ([`TaskCredentials::refresh_every`]).
//!
//! # Reaching the endpoint
//! Many agents may share one host (and one Docker engine), so 169.254.170.2 cannot be sent to one agent by a
//! host-wide rule. Each task gets its own NAT rules instead ([`nat`]): a packet to 169.254.170.2:80 whose source is
//! one of the task's addresses (a bridge container's address, or an awsvpc task's interface) is sent to this
//! agent's listener on the Docker bridge's gateway. The rules are added before the task's containers can call (an
//! awsvpc task's address, before its containers are created; a bridge container's, right after its start, as Docker
//! assigns it then) and removed when the task stops.
//!
//! Host-mode containers share the host's addresses, so no rule can tell their tasks apart: they get
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI` on a loopback listener (the SDKs accept plain HTTP on loopback) and
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN`, a per-task secret the endpoint requires.
//!
//! # Who gets what
//! The endpoint answers an id only to a caller whose source address is one of its task's addresses (bridge and
//! awsvpc tasks), or over loopback with the task's token (host tasks); any other request, and an unknown id, get
//! the same 400, so one task can never read another's credentials or learn that an id exists.
//!
//! # Agent restarts
//! The containers of a running task keep the URI they were created with, so the ids, the addresses allowed to call
//! them and host tasks' tokens are saved in the agent's data dir ([`saved`], 0600, without the credentials). A
//! restarted agent restores them for the tasks it adopted ([`TaskCredentials::restore`]): it sends their addresses
//! to its new listener again (NAT rules) and asks the server for their credentials again.

pub mod endpoint;
pub mod nat;
pub mod saved;

use berth_model::agent::{RoleCredentials, TaskCredentialsRequest, TaskCredentialsResponse, TaskSpec};
use berth_model::clock::Clock;
use berth_model::ecs::NetworkMode;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The address containers reach the credentials endpoint at, as on ECS.
pub const ADDRESS: &str = "169.254.170.2";

/// How often the refresher looks for credentials past half their lifetime.
const REFRESH_CHECK_EVERY: Duration = Duration::from_secs(30);

/// Reads a task's role credentials (the server call, with the instance token); `Err` is why it could not ask.
pub type CredentialsSource = Arc<
    dyn Fn(TaskCredentialsRequest) -> futures::future::BoxFuture<'static, Result<TaskCredentialsResponse, String>>
        + Send
        + Sync,
>;

/// The environment variables a task's containers get for its role.
pub type CredentialsEnv = Vec<(String, String)>;

struct Entry {
    task_arn: String,
    /// `None` for an entry restored after a restart until the server answered again.
    credentials: Option<RoleCredentials>,
    /// Source addresses the task's containers call from (bridge and awsvpc tasks).
    addresses: Vec<IpAddr>,
    /// The token a host-mode task's containers must present (over loopback).
    token: Option<String>,
}

/// What the agent keeps of every task's role credentials, and where its endpoint listens.
pub struct TaskCredentials {
    entries: RwLock<HashMap<String, Entry>>,
    source: CredentialsSource,
    /// Where 169.254.170.2:80 is sent for a task's addresses: the listener on the bridge gateway.
    target: Option<SocketAddr>,
    /// The loopback listener host-mode tasks call.
    loopback: Option<SocketAddr>,
    /// Whether to manage NAT rules (off in unit tests).
    manage_nat: bool,
    /// Where the ids are saved ([`saved`]), when they are.
    saved: Option<std::path::PathBuf>,
}

fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

const PREFIX: &str = "ResourceInitializationError: unable to get the task role's credentials";

impl TaskCredentials {
    /// Credentials served on `target` (bridge and awsvpc tasks, through NAT rules when `manage_nat`) and
    /// `loopback` (host tasks), read from `source`.
    pub fn new(
        source: CredentialsSource,
        target: Option<SocketAddr>,
        loopback: Option<SocketAddr>,
        manage_nat: bool,
    ) -> Self {
        Self { entries: RwLock::default(), source, target, loopback, manage_nat, saved: None }
    }

    /// Saves the ids in `path` (see [`saved`]) from now on.
    pub fn with_saved_file(mut self, path: std::path::PathBuf) -> Self {
        self.saved = Some(path);
        self
    }

    /// Writes the ids to the saved file, if there is one; a failure is logged (the task keeps its credentials
    /// until the agent restarts).
    fn save(&self) {
        let Some(path) = &self.saved else { return };
        let entries: Vec<saved::SavedEntry> = self
            .read()
            .iter()
            .map(|(id, e)| saved::SavedEntry {
                id: id.clone(),
                task_arn: e.task_arn.clone(),
                addresses: e.addresses.clone(),
                token: e.token.clone(),
            })
            .collect();
        if let Err(error) = saved::save(path, &entries) {
            tracing::warn!(path = %path.display(), %error, "cannot save the task credentials ids");
        }
    }

    /// After a restart: takes back the saved ids of the tasks in `adopted` (the others' NAT rules are removed),
    /// sends their addresses to this agent's listener again and asks the server for their credentials.
    pub async fn restore(&self, adopted: &std::collections::BTreeSet<String>) {
        let Some(path) = &self.saved else { return };
        let mut routes = Vec::new();
        let mut gone = Vec::new();
        {
            let mut entries = self.write();
            for e in saved::load(path) {
                if !adopted.contains(&e.task_arn) {
                    gone.push(e.task_arn);
                    continue;
                }
                routes.extend(e.addresses.iter().map(|a| (e.task_arn.clone(), *a)));
                entries.insert(
                    e.id,
                    Entry { task_arn: e.task_arn, credentials: None, addresses: e.addresses, token: e.token },
                );
            }
        }
        self.save();
        tracing::info!(tasks = self.read().len(), "task credentials ids restored");
        if self.manage_nat {
            for task_arn in gone {
                nat::remove(&task_arn).await;
            }
            if let Some(target) = self.target {
                for (task_arn, address) in routes {
                    if let Err(error) = nat::route(&task_arn, address, target).await {
                        tracing::warn!(task = %task_arn, %address, %error, "cannot restore a credentials NAT rule");
                    }
                }
            }
        }
        // Restored entries have no credentials yet: every one is due.
        self.refresh_due(i64::MIN).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Gets `task`'s role credentials (once per task) and returns the environment its containers get; `Ok(empty)`
    /// for a task without a role; `Err` is the task's stopped reason.
    pub async fn prepare(&self, task: &TaskSpec) -> Result<CredentialsEnv, String> {
        let Some(role) = task.task_role_arn.as_deref().filter(|r| !r.is_empty()) else { return Ok(Vec::new()) };
        let host = task.network_mode == NetworkMode::Host;
        let existing =
            self.read().iter().find(|(_, e)| e.task_arn == task.task_arn).map(|(id, e)| (id.clone(), e.token.clone()));
        let (id, token) = match existing {
            Some(found) => found,
            None => {
                let response = (self.source)(TaskCredentialsRequest { task_arn: task.task_arn.clone() })
                    .await
                    .map_err(|why| format!("{PREFIX}: {why}"))?;
                if let Some(failure) = response.failure {
                    return Err(failure);
                }
                let credentials =
                    response.credentials.ok_or_else(|| format!("{PREFIX}: the server answered no credentials"))?;
                tracing::info!(task = %task.task_arn, role, key = %credentials.access_key_id, "task role credentials");
                let id = random_hex(16);
                let token = host.then(|| random_hex(32));
                self.write().insert(
                    id.clone(),
                    Entry {
                        task_arn: task.task_arn.clone(),
                        credentials: Some(credentials),
                        addresses: Vec::new(),
                        token: token.clone(),
                    },
                );
                self.save();
                (id, token)
            }
        };
        let path = format!("/v2/credentials/{id}");
        match token {
            Some(token) => {
                let Some(loopback) = self.loopback else {
                    return Err(format!("{PREFIX}: this agent has no loopback credentials endpoint for host tasks"));
                };
                Ok(vec![
                    ("AWS_CONTAINER_CREDENTIALS_FULL_URI".into(), format!("http://{loopback}{path}")),
                    ("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), token),
                ])
            }
            None => Ok(vec![("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".into(), path)]),
        }
    }

    /// Lets `address` (a container's or the task's interface) call for `task_arn`'s credentials: records it and
    /// sends its packets to 169.254.170.2:80 to this agent's listener. Nothing for a task without credentials.
    pub async fn route(&self, task_arn: &str, address: IpAddr) -> Result<(), String> {
        {
            let mut entries = self.write();
            let Some(entry) = entries.values_mut().find(|e| e.task_arn == task_arn) else { return Ok(()) };
            if entry.token.is_some() || entry.addresses.contains(&address) {
                return Ok(());
            }
            entry.addresses.push(address);
        }
        self.save();
        let Some(target) = self.target else {
            return Err(format!("{PREFIX}: this agent has no credentials endpoint on the bridge network"));
        };
        if self.manage_nat {
            nat::route(task_arn, address, target).await.map_err(|e| format!("{PREFIX}: {e}"))?;
        }
        Ok(())
    }

    /// Forgets `task_arn`'s credentials and removes its NAT rules (the task stopped). The rules are looked for even
    /// when this agent holds no credentials for the task: an earlier run of the agent may have left them.
    pub async fn forget(&self, task_arn: &str) {
        let before = self.read().len();
        self.write().retain(|_, e| e.task_arn != task_arn);
        if self.read().len() != before {
            self.save();
        }
        if self.manage_nat && self.target.is_some() {
            nat::remove(task_arn).await;
        }
    }

    /// The credentials `id` names, for a caller at `peer` presenting `authorization`; `None` when the id is unknown
    /// or the caller is not its task.
    pub fn answer(&self, id: &str, peer: Option<IpAddr>, authorization: Option<&str>) -> Option<RoleCredentials> {
        let entries = self.read();
        let entry = entries.get(id)?;
        let peer = peer.map(|p| p.to_canonical())?;
        let allowed = match &entry.token {
            Some(token) => peer.is_loopback() && authorization.is_some_and(|a| constant_time_eq(a, token)),
            None => entry.addresses.contains(&peer),
        };
        if allowed { entry.credentials.clone() } else { None }
    }

    /// Asks the server again for every task's credentials past half their lifetime (and for those restored
    /// without any); a failure keeps the old ones (they stay valid until they expire) and is retried at the next
    /// check.
    pub async fn refresh_due(&self, now: i64) {
        let due: Vec<(String, String)> = self
            .read()
            .iter()
            .filter(|(_, e)| match &e.credentials {
                Some(c) => now >= c.issued_at + (c.expiration - c.issued_at) / 2,
                None => true,
            })
            .map(|(id, e)| (id.clone(), e.task_arn.clone()))
            .collect();
        for (id, task_arn) in due {
            match (self.source)(TaskCredentialsRequest { task_arn: task_arn.clone() }).await {
                Ok(TaskCredentialsResponse { credentials: Some(credentials), .. }) => {
                    tracing::info!(task = %task_arn, key = %credentials.access_key_id, "task role credentials refreshed");
                    if let Some(entry) = self.write().get_mut(&id) {
                        entry.credentials = Some(credentials);
                    }
                }
                Ok(TaskCredentialsResponse { failure, .. }) => {
                    tracing::warn!(task = %task_arn, ?failure, "cannot refresh a task's role credentials");
                }
                Err(error) => tracing::warn!(task = %task_arn, %error, "cannot refresh a task's role credentials"),
            }
        }
    }

    /// Runs [`TaskCredentials::refresh_due`] every 30 s on `clock`, for as long as the agent runs.
    pub async fn refresh_every(self: Arc<Self>, clock: Arc<dyn Clock>) {
        let period = REFRESH_CHECK_EVERY.as_secs_f64();
        loop {
            clock.sleep_until(clock.now() + period).await;
            self.refresh_due(clock.now() as i64).await;
        }
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
