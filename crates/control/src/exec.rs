//! ECS Exec: `ExecuteCommand`'s checks, the single-use session tokens it issues, and the hand-off of a session
//! to the agent that runs the task.
//!
//! # Background
//! ECS answers `ExecuteCommand` with a `session{sessionId, streamUrl, tokenValue}` that the client opens to reach
//! the container. Berth's `streamUrl` is a WebSocket on its own API listener (served by the API crate); the token
//! is the only credential of that stream. This module issues and checks the tokens and tells the task's agent
//! (through its desired-state stream) when a client is waiting; the bytes never pass through here.
//!
//! # Design
//! - Sessions live in memory ([`ExecSessions`]): a token is random (256 bits), kept as its SHA-256, valid for
//!   [`TOKEN_TTL`] and claimed at most once. A server restart forgets pending sessions (the client asks again).
//! - A claimed session is announced to its instance's agent ([`ExecSessions::announce`]); the agent dials back and
//!   [`ExecSessions::agent_dial`] checks that the session is claimed, belongs to that instance, and was not dialled
//!   already.
//! - Every step is audited as an `info` log line with the caller's access key id, the task, the container and the
//!   command (target `berth::exec::audit`).

use crate::records::ContainerState;
use crate::status::{ContainerStatus, DesiredStatus, TaskStatus};
use crate::{Control, ControlError, EcsException, Result};
use berth_model::Timestamp;
use berth_model::agent::{ContainerSpec, ExecStart};
use berth_model::clock::Clock;
use berth_model::ecs::{
    ClusterConfiguration, ExecuteCommandLogging, ExecuteCommandRequest, ExecuteCommandResponse, ManagedAgent,
    ManagedAgentName, Session, Task,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// How long a session token may wait to be used.
pub const TOKEN_TTL: Duration = Duration::from_secs(60);

/// How many sessions may wait for their client at once (older ones are dropped first past this).
const MAX_PENDING: usize = 4096;

/// The longest `command` ExecuteCommand accepts, in bytes (Berth's limit; ECS documents none).
pub const MAX_COMMAND_BYTES: usize = 8192;

/// ECS's message when a task cannot be exec'd into (exec not enabled, not running, or its agent is not running).
pub const NOT_ENABLED: &str = "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn\u{2019}t running. Wait and try again or run a new task with execute command enabled and try again.";

/// The message for `interactive: false`.
pub const INTERACTIVE_ONLY: &str = "Interactive is the only mode supported currently.";

/// The path of a session's client stream, before the session id; the id is followed by [`STREAM_PATH_SUFFIX`].
pub const STREAM_PATH_PREFIX: &str = "/exec/v1/sessions/";

/// The path of a session's client stream, after the session id.
pub const STREAM_PATH_SUFFIX: &str = "/stream";

/// What a session may do, as decided by ExecuteCommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecGrant {
    /// The session id.
    pub session_id: String,
    /// Who asked (the access key id).
    pub principal: String,
    /// The task's cluster (short name).
    pub cluster: String,
    /// The id of the container instance running the task.
    pub instance_id: String,
    /// The task's ARN.
    pub task_arn: String,
    /// The container's name.
    pub container_name: String,
    /// The command as given.
    pub command: String,
    /// The command split into words.
    pub argv: Vec<String>,
}

impl ExecGrant {
    /// What the agent is told to start for this session.
    pub fn start(&self, tty: bool, size: Option<(u16, u16)>) -> ExecStart {
        ExecStart {
            session_id: self.session_id.clone(),
            task_arn: self.task_arn.clone(),
            container_name: self.container_name.clone(),
            command: self.argv.clone(),
            tty,
            size,
        }
    }
}

#[derive(Debug)]
struct Pending {
    grant: ExecGrant,
    token_sha256: [u8; 32],
    /// When the token was issued, on the control plane's clock.
    issued: Timestamp,
    claimed: bool,
    dialled: bool,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Pending>,
    /// Sessions waiting for their agent to dial back, per instance id, with when each was queued here.
    announced: HashMap<String, Vec<(Timestamp, ExecStart)>>,
}

/// The exec sessions of this control plane (in memory).
pub struct ExecSessions {
    inner: Mutex<Inner>,
    changes: tokio::sync::watch::Sender<u64>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

impl std::fmt::Debug for ExecSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecSessions").field("inner", &self.inner).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// Why a session could not be claimed or dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExecRefusal {
    /// No such session, a wrong token, an expired token or one used already (not told apart, on purpose).
    #[error("the session does not exist, its token is wrong or expired, or it was used already")]
    Denied,
}

impl ExecSessions {
    /// Sessions whose tokens are valid for [`TOKEN_TTL`] on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_ttl(clock, TOKEN_TTL)
    }

    /// Sessions whose tokens are valid for `ttl` on `clock`.
    pub fn with_ttl(clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self { inner: Mutex::new(Inner::default()), changes: tokio::sync::watch::channel(0).0, clock, ttl }
    }

    /// How long ago (seconds, on the clock) a token issued at `issued` was issued.
    fn age(&self, issued: Timestamp) -> f64 {
        self.clock.now() - issued
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a session; returns its token (shown once).
    pub fn issue(&self, grant: ExecGrant) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let mut inner = self.lock();
        // Unclaimed sessions live for their token's time; claimed ones until their agent dials (then until
        // [`ExecSessions::finish`]).
        let (ttl, now) = (self.ttl.as_secs_f64(), self.clock.now());
        inner.sessions.retain(|_, p| p.dialled || now - p.issued <= ttl * 2.0);
        if inner.sessions.len() >= MAX_PENDING
            && let Some(oldest) = inner
                .sessions
                .iter()
                .filter(|(_, p)| !p.claimed)
                .min_by(|(_, a), (_, b)| a.issued.total_cmp(&b.issued))
                .map(|(k, _)| k.clone())
        {
            inner.sessions.remove(&oldest);
        }
        let pending = Pending {
            token_sha256: Sha256::digest(token.as_bytes()).into(),
            grant: grant.clone(),
            issued: now,
            claimed: false,
            dialled: false,
        };
        inner.sessions.insert(grant.session_id, pending);
        token
    }

    /// Claims a session with its token: succeeds once, within [`TOKEN_TTL`] of its issue.
    pub fn claim(&self, session_id: &str, token: &str) -> std::result::Result<ExecGrant, ExecRefusal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut inner = self.lock();
        let pending = inner.sessions.get_mut(session_id).ok_or(ExecRefusal::Denied)?;
        let matches = pending.token_sha256.iter().zip(digest).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !matches || pending.claimed || self.age(pending.issued) > self.ttl.as_secs_f64() {
            return Err(ExecRefusal::Denied);
        }
        pending.claimed = true;
        Ok(pending.grant.clone())
    }

    /// Queues a session for the agent of `instance_id`, for whichever stream of that agent this server holds (the
    /// announcements of every server arrive here through the store: `crate::exec_announce`). Queued sessions
    /// older than the token lifetime are dropped (their client has given up).
    pub fn deliver(&self, instance_id: &str, start: ExecStart) {
        let now = self.clock.now();
        let ttl = self.ttl.as_secs_f64();
        {
            let mut inner = self.lock();
            inner.announced.retain(|_, queued| {
                queued.retain(|(at, _)| now - at <= ttl);
                !queued.is_empty()
            });
            let queue = inner.announced.entry(instance_id.to_string()).or_default();
            if queue.iter().any(|(_, s)| s.session_id == start.session_id) {
                return;
            }
            queue.push((now, start));
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Drops a queued session that no agent stream took (its announcement was removed).
    pub fn withdraw(&self, instance_id: &str, session_id: &str) {
        let mut inner = self.lock();
        if let Some(queued) = inner.announced.get_mut(instance_id) {
            queued.retain(|(_, s)| s.session_id != session_id);
            if queued.is_empty() {
                inner.announced.remove(instance_id);
            }
        }
    }

    /// Whether a session is queued for `instance_id`.
    pub fn has_announced(&self, instance_id: &str) -> bool {
        self.lock().announced.get(instance_id).is_some_and(|q| !q.is_empty())
    }

    /// The sessions queued for an instance since the last call (each is handed out once), freshest within the token
    /// lifetime.
    pub fn take_announced(&self, instance_id: &str) -> Vec<ExecStart> {
        let now = self.clock.now();
        let ttl = self.ttl.as_secs_f64();
        let queued = self.lock().announced.remove(instance_id).unwrap_or_default();
        queued.into_iter().filter(|(at, _)| now - at <= ttl).map(|(_, start)| start).collect()
    }

    /// Wakes whenever a session is announced.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Admits the agent of `instance_id` dialling back for a session: the session must be claimed, on that
    /// instance, and not dialled before.
    pub fn agent_dial(&self, instance_id: &str, session_id: &str) -> std::result::Result<ExecGrant, ExecRefusal> {
        let mut inner = self.lock();
        let pending = inner.sessions.get_mut(session_id).ok_or(ExecRefusal::Denied)?;
        if !pending.claimed || pending.dialled || pending.grant.instance_id != instance_id {
            return Err(ExecRefusal::Denied);
        }
        pending.dialled = true;
        Ok(pending.grant.clone())
    }

    /// Forgets a session (it ended).
    pub fn finish(&self, session_id: &str) {
        self.lock().sessions.remove(session_id);
    }
}

/// Splits a command into words as a POSIX shell would, without expanding anything: blanks separate words, single
/// quotes keep everything, double quotes keep everything but `\"` and `\\`, a backslash outside quotes escapes the
/// next character. (ECS runs the command without a shell too: `sh -c '...'` runs one.)
pub fn split_command(command: &str) -> std::result::Result<Vec<String>, &'static str> {
    berth_model::words::split(command, berth_model::words::Quoting::EXEC).map_err(|e| e.words())
}

/// Refuses the parts of a cluster's `executeCommandConfiguration` Berth cannot honour: session logs to CloudWatch
/// or S3 (`logging: OVERRIDE`, `logConfiguration`) and KMS encryption (`kmsKeyId`). `NONE` and `DEFAULT` are
/// accepted: Berth keeps no session transcript either way (it has no awslogs driver for DEFAULT to follow), and
/// audits every session in its log.
pub fn validate_cluster_configuration(configuration: Option<&ClusterConfiguration>) -> Result<()> {
    let Some(exec) = configuration.and_then(|c| c.execute_command_configuration.as_ref()) else { return Ok(()) };
    let unsupported = |why: &str| ControlError::ecs(EcsException::UnsupportedFeatureException, why.to_string());
    if exec.logging == Some(ExecuteCommandLogging::Override) {
        return Err(unsupported(
            "executeCommandConfiguration logging OVERRIDE is not supported by Berth: it cannot send ECS Exec session \
             logs to CloudWatch Logs or S3. Use NONE or DEFAULT; every session is audited in Berth's server log.",
        ));
    }
    if exec.log_configuration.is_some() {
        return Err(unsupported(
            "executeCommandConfiguration.logConfiguration is not supported by Berth: it cannot send ECS Exec session \
             logs to CloudWatch Logs or S3.",
        ));
    }
    if exec.kms_key_id.is_some() {
        return Err(unsupported(
            "executeCommandConfiguration.kmsKeyId is not supported by Berth: it has no KMS to encrypt ECS Exec \
             sessions with.",
        ));
    }
    Ok(())
}

/// Shows ECS's `managedAgents` (`ExecuteCommandAgent`) on each container of a task run with exec enabled: RUNNING
/// while the container runs (Berth's agent serves exec itself), PENDING before, STOPPED after.
pub fn render_managed_agents(task: &mut Task) {
    if !task.enable_execute_command {
        return;
    }
    for container in task.containers.iter_mut().flatten() {
        let status = match container.last_status.as_deref() {
            Some("RUNNING") => "RUNNING",
            Some("STOPPED") => "STOPPED",
            _ => "PENDING",
        };
        container.managed_agents = Some(vec![ManagedAgent {
            name: Some(ManagedAgentName::ExecuteCommandAgent),
            last_status: Some(status.to_string()),
            last_started_at: (status != "PENDING").then_some(task.started_at).flatten(),
            reason: None,
        }]);
    }
}

impl Control {
    /// The exec sessions.
    pub fn exec_sessions(&self) -> &ExecSessions {
        &self.exec
    }

    /// `ExecuteCommand` for the caller `principal` (access key id), whose request reached the server at `host`
    /// (`host:port`, for the stream URL).
    pub fn execute_command(
        &self,
        req: ExecuteCommandRequest,
        principal: &str,
        host: &str,
    ) -> Result<ExecuteCommandResponse> {
        let cluster = self.cluster_name(req.cluster.as_deref())?;
        if !req.interactive {
            return Err(ControlError::invalid(INTERACTIVE_ONLY));
        }
        if req.command.trim().is_empty() {
            return Err(ControlError::invalid("command must not be empty."));
        }
        if req.command.len() > MAX_COMMAND_BYTES {
            return Err(ControlError::invalid(format!(
                "command can have up to {MAX_COMMAND_BYTES} bytes; this one has {}.",
                req.command.len()
            )));
        }
        let argv = split_command(&req.command)
            .map_err(|why| ControlError::invalid(format!("command cannot be split into words: {why}.")))?;
        let key = crate::tasks::stop::parse_task_ref(&cluster, &req.task)
            .map_err(|_| ControlError::invalid(format!("The task {} could not be found.", req.task)))?;
        let state = self.cache.read();
        let Some(task) = state.tasks.get(&key) else {
            return Err(ControlError::invalid(format!("The task {} could not be found.", req.task)));
        };
        let record = &task.record;
        if !record.enable_execute_command
            || record.last_status() != Some(TaskStatus::Running)
            || record.desired_status() != Some(DesiredStatus::Running)
            || !self.agents.is_connected(&record.instance_id, self.config.agent_timeout)
        {
            return Err(ControlError::invalid(NOT_ENABLED));
        }
        let containers: Vec<(&ContainerSpec, &ContainerState)> =
            record.containers.iter().zip(&record.container_states).collect();
        let (spec, state) = match req.container.as_deref().filter(|c| !c.is_empty()) {
            Some(name) => {
                *containers.iter().find(|(c, _)| c.definition.name.as_deref() == Some(name)).ok_or_else(|| {
                    ControlError::invalid(format!("The container {name} does not exist in the task {}.", req.task))
                })?
            }
            None => match containers.as_slice() {
                [only] => *only,
                _ => {
                    return Err(ControlError::invalid(
                        "The task has more than one container; specify the container to execute the command in.",
                    ));
                }
            },
        };
        if state.last_status != ContainerStatus::Running {
            return Err(ControlError::invalid(NOT_ENABLED));
        }
        let task_arn = record.arn.clone();
        let container_name = spec.definition.name.clone().unwrap_or_default();
        let session_id = format!("ecs-execute-command-{}", berth_model::ids::new_hex_id());
        let grant = ExecGrant {
            session_id: session_id.clone(),
            principal: principal.to_string(),
            cluster: cluster.clone(),
            instance_id: record.instance_id.clone(),
            task_arn: task_arn.clone(),
            container_name: container_name.clone(),
            command: req.command.clone(),
            argv,
        };
        let token = self.exec.issue(grant);
        // An HTTPS listener (its advertised URL is https://) serves the stream over TLS too.
        let https = self.config.advertised_url.as_deref().is_some_and(|url| url.starts_with("https://"));
        let scheme = if https { "wss" } else { "ws" };
        tracing::info!(
            target: "berth::exec::audit",
            event = "ExecuteCommand",
            principal,
            task = %task_arn,
            container = %container_name,
            command = %req.command,
            session = %session_id,
            "exec session issued"
        );
        Ok(ExecuteCommandResponse {
            cluster_arn: Some(record.cluster_arn.clone()),
            container_arn: Some(spec.container_arn.clone()),
            container_name: Some(container_name),
            interactive: true,
            session: Some(Session {
                stream_url: Some(format!("{scheme}://{host}{STREAM_PATH_PREFIX}{session_id}{STREAM_PATH_SUFFIX}")),
                session_id: Some(session_id),
                token_value: Some(token),
            }),
            task_arn: Some(task_arn),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: &str) -> ExecGrant {
        ExecGrant {
            session_id: id.into(),
            principal: "AKID".into(),
            cluster: "default".into(),
            instance_id: "i-1".into(),
            task_arn: "arn:task".into(),
            container_name: "app".into(),
            command: "ls".into(),
            argv: vec!["ls".into()],
        }
    }

    #[test]
    fn a_token_is_claimed_once_and_only_with_the_right_value() {
        let sessions = ExecSessions::new(Arc::new(berth_model::clock::ManualClock::new(0.0)));
        let token = sessions.issue(grant("s1"));
        assert_eq!(token.len(), 64);
        assert_eq!(sessions.claim("s1", "wrong"), Err(ExecRefusal::Denied));
        assert_eq!(sessions.claim("s2", &token), Err(ExecRefusal::Denied));
        assert_eq!(sessions.claim("s1", &token).unwrap().container_name, "app");
        assert_eq!(sessions.claim("s1", &token), Err(ExecRefusal::Denied), "single use");
    }

    #[test]
    fn an_unused_token_expires() {
        let clock = Arc::new(berth_model::clock::ManualClock::new(1_000.0));
        let sessions = ExecSessions::with_ttl(clock.clone(), Duration::from_secs(60));
        let token = sessions.issue(grant("s1"));
        clock.advance(60.5);
        assert_eq!(sessions.claim("s1", &token), Err(ExecRefusal::Denied), "past its 60 s");
        let token = sessions.issue(grant("s2"));
        clock.advance(59.5);
        assert!(sessions.claim("s2", &token).is_ok(), "within its 60 s");
    }

    #[test]
    fn only_the_tasks_agent_dials_a_claimed_session_once() {
        let sessions = ExecSessions::new(Arc::new(berth_model::clock::ManualClock::new(0.0)));
        let token = sessions.issue(grant("s1"));
        assert_eq!(sessions.agent_dial("i-1", "s1"), Err(ExecRefusal::Denied), "not claimed yet");
        let g = sessions.claim("s1", &token).unwrap();
        let changes = sessions.subscribe();
        sessions.deliver("i-1", g.start(true, Some((24, 80))));
        assert!(changes.has_changed().unwrap());
        assert!(sessions.take_announced("i-2").is_empty());
        let announced = sessions.take_announced("i-1");
        assert_eq!(announced.len(), 1);
        assert_eq!((announced[0].tty, announced[0].size), (true, Some((24, 80))));
        assert!(sessions.take_announced("i-1").is_empty(), "handed out once");
        assert_eq!(sessions.agent_dial("i-2", "s1"), Err(ExecRefusal::Denied), "another instance");
        assert!(sessions.agent_dial("i-1", "s1").is_ok());
        assert_eq!(sessions.agent_dial("i-1", "s1"), Err(ExecRefusal::Denied), "dialled once");
        sessions.finish("s1");
        assert_eq!(sessions.agent_dial("i-1", "s1"), Err(ExecRefusal::Denied));
    }

    #[test]
    fn a_queued_session_nobody_takes_expires_and_is_queued_once() {
        let clock = Arc::new(berth_model::clock::ManualClock::new(1_000.0));
        let sessions = ExecSessions::with_ttl(clock.clone(), Duration::from_secs(60));
        sessions.deliver("i-1", grant("s1").start(false, None));
        sessions.deliver("i-1", grant("s1").start(false, None));
        assert_eq!(sessions.take_announced("i-1").len(), 1, "the same session once");
        sessions.deliver("i-1", grant("s2").start(false, None));
        clock.advance(61.0);
        assert!(sessions.take_announced("i-1").is_empty(), "its client has given up");
        sessions.deliver("i-1", grant("s3").start(false, None));
        sessions.withdraw("i-1", "s3");
        assert!(!sessions.has_announced("i-1"));
    }

    #[test]
    fn commands_split_like_a_shell_without_expansion() {
        let split = |s: &str| split_command(s).unwrap();
        assert_eq!(split("ls -la  /tmp"), ["ls", "-la", "/tmp"]);
        assert_eq!(split(r#"sh -c 'echo "$HOME" | wc'"#), ["sh", "-c", r#"echo "$HOME" | wc"#]);
        assert_eq!(split(r#"echo "a \"b\" \c" x\ y ''"#), ["echo", r#"a "b" \c"#, "x y", ""]);
        assert!(split_command("echo 'oops").is_err());
        assert!(split_command("echo \"oops").is_err());
        assert!(split_command("echo \\").is_err());
    }

    #[test]
    fn only_logging_none_or_default_is_accepted() {
        use berth_model::ecs::{ExecuteCommandConfiguration, ExecuteCommandLogConfiguration};
        let config = |exec: ExecuteCommandConfiguration| ClusterConfiguration {
            execute_command_configuration: Some(exec),
            ..Default::default()
        };
        assert!(validate_cluster_configuration(None).is_ok());
        for logging in [None, Some(ExecuteCommandLogging::None), Some(ExecuteCommandLogging::Default)] {
            let c = config(ExecuteCommandConfiguration { logging, ..Default::default() });
            assert!(validate_cluster_configuration(Some(&c)).is_ok());
        }
        let refused = [
            ExecuteCommandConfiguration { logging: Some(ExecuteCommandLogging::Override), ..Default::default() },
            ExecuteCommandConfiguration {
                log_configuration: Some(ExecuteCommandLogConfiguration {
                    s3_bucket_name: Some("b".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ExecuteCommandConfiguration { kms_key_id: Some("k".into()), ..Default::default() },
        ];
        for exec in refused {
            let err = validate_cluster_configuration(Some(&config(exec))).unwrap_err();
            assert_eq!(err.exception(), EcsException::UnsupportedFeatureException);
        }
    }
}
