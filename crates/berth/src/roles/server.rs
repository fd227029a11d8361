//! `berth server`: the control plane, its API listener and its controllers.

use super::files::{RootCredentials, join_token, private_dir, private_file, root_credentials};
use crate::cli::{NodeArgs, ServerArgs};
use anyhow::{Context, Result};
use berth_api::auth::{Credentials, Principal};
use berth_api::{ApiSettings, router};
use berth_control::{Control, ControlConfig};
use berth_model::clock::SystemClock;
use berth_store::StoreSpec;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A started control plane, listening.
pub struct RunningServer {
    /// The bound listener (not yet serving).
    pub listener: TcpListener,
    /// The router to serve.
    pub app: axum::Router,
    /// The join token.
    pub join_token: String,
    /// The root credentials and whether they were created now.
    pub credentials: (RootCredentials, bool),
    /// The CloudWatch metrics service: where in-process writers put series and where an alarm hook is registered.
    pub metrics: Arc<berth_metrics::Metrics>,
    /// The DNS server (none with `--no-dns`; it stops when dropped).
    pub dns: Option<berth_discovery::DnsServer>,
    /// The load-balancer data plane serving the ELBv2 records (none with `--no-load-balancer`; it stops when
    /// dropped).
    pub load_balancer: Option<berth_lbsync::LbSync>,
    /// The listener's TLS settings (`--tls-cert`/`--tls-key`): it serves HTTPS only.
    pub tls: Option<berth_listener::Tls>,
    /// The leader election, on an etcd store (its controllers run while it leads); it stops when dropped.
    pub election: Option<berth_store::etcd::election::Election>,
    /// On etcd: the store and this server's id, whose schema advertisement is withdrawn when it stops.
    pub schema_advert: Option<(berth_store::SharedStore, String)>,
}

/// Opens the store, starts the control plane and its controllers, and binds the listener. `own_agent` is the agent
/// `berth up` runs in this process: what it offers is not left for local node providers.
pub async fn start(args: &ServerArgs, own_agent: Option<&NodeArgs>) -> Result<RunningServer> {
    let tls = listener_tls(args)?;
    let scheme = args.scheme();
    private_dir(&args.data_dir).context("preparing the data dir")?;
    let credentials = root_credentials(&args.data_dir)?;
    // Where `berth status` and the other client commands find this server when no AWS_* variable is set.
    let endpoint = super::console_cli::connect::Endpoint::of(args);
    super::console_cli::connect::write_endpoint(&args.data_dir, &endpoint).context("writing the client endpoint")?;
    let join_token = join_token(&args.data_dir, args.rotate_join_token)?;
    let rate_card = match &args.rate_card {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading the rate card {}", path.display()))?;
            berth_control::metering::RateCard::from_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => berth_control::metering::RateCard::default(),
    };
    if args.rotate_join_token {
        tracing::warn!("the join token was rotated: new agents need the new one; joined agents are not affected");
    }
    let store_spec = args.store_spec();
    if let StoreSpec::Sqlite(db) = &store_spec {
        private_file(db).context("preparing the store file")?;
    }
    tracing::info!(store = %store_spec, "opening the store");
    let store = store_spec.open().await.with_context(|| format!("opening the store {store_spec}"))?;
    let (store, election) = elect(args, &store_spec, store).await?;
    let clock = super::offset_clock::with_offset(Arc::new(SystemClock), args.clock_offset);
    if args.clock_offset != 0.0 {
        tracing::warn!(seconds = args.clock_offset, "test knob --clock-offset: this server's wall clock is skewed");
    }
    let schema_choice = join_schema(args, &store, clock.as_ref(), election.is_some()).await?;
    let vpc_cidr =
        berth_vpc::Cidr::parse(&args.vpc_cidr).context("--vpc-cidr must be an IPv4 CIDR such as 172.31.0.0/16")?;
    let vpc_layout = berth_vpc::VpcLayout::new(&args.region, &args.account_id, vpc_cidr)
        .map_err(anyhow::Error::msg)
        .context("--vpc-cidr")?;
    let zones = vpc_zones(&vpc_layout);
    let config = ControlConfig {
        vpc: vpc_layout.clone(),
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        agent_timeout: Duration::from_secs(args.agent_timeout_seconds),
        lost_instance_timeout: Duration::from_secs(args.lost_instance_timeout_seconds),
        max_tasks_per_service: args.max_tasks_per_service,
        advertised_url: Some(format!("{scheme}://{}", public_endpoint(args))),
        managed_scaling_interval: Duration::try_from_secs_f64(args.managed_scaling_interval_seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .context("--managed-scaling-interval-seconds must be a positive number")?,
        scale_in_after: Duration::from_secs(args.managed_scaling_scale_in_seconds),
        deployment_minute: Duration::try_from_secs_f64(args.deployment_minute_seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .context("--deployment-minute-seconds must be a positive number")?,
        ..ControlConfig::default()
    };
    let control = Control::start(store.clone(), clock.clone(), config).await.context("starting the control plane")?;
    let refusal = berth_control::schema::refuse_newer(&control.cache().read());
    if let Err(refusal) = refusal {
        if schema_choice.is_some() {
            berth_control::schema::advert::withdraw(&store, &server_id(args)).await;
        }
        anyhow::bail!(refusal);
    }
    let vpc = berth_vpc::Vpc::open(vpc_layout, store.clone()).await.context("opening the VPC's security groups")?;
    control.set_security_groups(vpc.clone());
    vpc.set_interface_source(Arc::new(TaskInterfaces(control.clone())));
    let mut registry_config = berth_registry::RegistryConfig::new(
        args.registry_dir.clone().unwrap_or_else(|| args.data_dir.join("registry")),
        &args.region,
        &args.account_id,
        public_endpoint(args),
    );
    registry_config.public_scheme = scheme.to_string();
    registry_config.pull_through_allow = args.pull_through_upstream_allow.clone();
    registry_config.pull_through_recheck = Duration::from_secs(args.pull_through_recheck_seconds);
    registry_config.pull_through_ca = args.pull_through_ca_file.clone();
    let replication_credentials = match &args.replication_credentials_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the replication credentials file {}", path.display()))?,
        ),
        None => None,
    };
    registry_config.replication_destinations =
        berth_registry::replication::destinations(&args.replication_destination, replication_credentials.as_deref())
            .map_err(anyhow::Error::msg)
            .context("configuring replication destinations")?;
    registry_config.signing_profiles = berth_registry::signing::load_profiles(
        &args.signing_profiles,
        &args.data_dir.join("registry").join("signing-profiles"),
        clock.now() as i64,
    )
    .map_err(anyhow::Error::msg)
    .context("configuring signing profiles")?;
    let registry = berth_registry::Registry::open(registry_config, store.clone(), clock.clone())
        .await
        .context("opening the registry")?;
    registry.spawn_background();
    let logs_config = berth_logs::LogsConfig::new(args.data_dir.join("logs"), &args.region, &args.account_id);
    let logs =
        berth_logs::Logs::open(logs_config, store.clone(), clock.clone()).await.context("opening the log store")?;
    logs.spawn_background();
    let mut metrics_config =
        berth_metrics::MetricsConfig::new(args.data_dir.join("metrics"), &args.region, &args.account_id);
    metrics_config.limits = berth_metrics::points::Limits {
        max_series: args.metrics_max_series,
        max_buckets: args.metrics_max_buckets,
        max_bins: args.metrics_max_bins,
    };
    metrics_config.evaluate_every = Duration::try_from_secs_f64(args.alarm_evaluation_seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--alarm-evaluation-seconds must be a positive number")?;
    let metrics = berth_metrics::Metrics::open(metrics_config, store.clone(), clock.clone())
        .await
        .context("opening the metric store")?;
    metrics.spawn_background();
    logs.set_metric_sink(Arc::new(LogMetricSink(metrics.clone())));
    tokio::spawn(publish_ecs_metrics(control.clone(), metrics.clone(), clock.clone()));
    control.set_reservation_sink(Arc::new(ReservationSink(metrics.clone())));
    if !args.node_providers.is_empty() {
        let context = super::node_providers::ServerContext {
            server_url: format!("{scheme}://{}", public_endpoint(args)),
            server_ca: args.local_ca.clone(),
            join_token: join_token.clone(),
            data_dir: args.data_dir.clone(),
            zones,
        };
        let budget = Arc::new(host_budget(&args.node_providers, own_agent).await?);
        let providers = super::node_providers::build(&args.node_providers, &context, budget)?;
        control.set_node_providers(providers);
    }
    let mut scaling_config = berth_autoscaling::ScalingConfig::new(&args.region, &args.account_id);
    scaling_config.evaluate_every = Duration::try_from_secs_f64(args.scaling_evaluation_seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--scaling-evaluation-seconds must be a positive number")?;
    scaling_config.target_tracking_datapoints = args.target_tracking_datapoints;
    let secrets_config = berth_secrets::SecretsConfig {
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        master_key: super::secrets::master_key_source(&args.data_dir, args.secrets_master_key_file.clone()),
    };
    let secrets = berth_secrets::Secrets::open(secrets_config, store.clone(), clock.clone())
        .await
        .context("opening the secrets store")?;
    secrets.spawn_background();
    registry.set_upstream_secrets(Arc::new(UpstreamSecrets(secrets.clone())));
    // Registers itself as the metrics' alarm hook: alarm actions naming scaling policies reach its controller.
    let scaling =
        berth_autoscaling::Scaling::new(scaling_config, store.clone(), clock.clone(), control.clone(), metrics.clone());
    scaling.spawn_background();
    let mut elb_config = berth_elb::ElbConfig::new(&args.region, &args.account_id);
    elb_config.address_range = berth_elb::config::Cidr::parse(&args.elb_address_range)
        .context("--elb-address-range must be an IPv4 CIDR such as 127.0.1.0/24")?;
    // `ip` targets are the VPC's addresses: awsvpc tasks' own.
    elb_config.awsvpc_cidr = Some(vpc_cidr);
    let elb =
        berth_elb::Elb::open(elb_config, store.clone(), clock.clone()).await.context("opening the ELBv2 records")?;
    elb.set_instance_directory(Arc::new(ContainerInstances(control.clone())));
    elb.spawn_watch();
    let acm_config = berth_acm::AcmConfig { region: args.region.clone(), account_id: args.account_id.clone() };
    let acm = berth_acm::Acm::open(acm_config, store.clone(), clock.clone(), Arc::new(SecretsSealer(secrets.clone())))
        .await
        .context("opening ACM")?;
    acm.set_users(Arc::new(ElbCertificateUsers(elb.clone())));
    elb.set_certificate_catalog(Arc::new(AcmCertificates(acm.clone())));
    let load_balancer = (!args.no_load_balancer).then(|| {
        let proxy = Arc::new(berth_lb::Proxy::new(clock.clone(), berth_lb::ProxyOptions::default()));
        let instances = Arc::new(InstanceAddresses(control.clone()));
        let sync = berth_lbsync::LbSync::start(
            elb.clone(),
            proxy,
            instances,
            Some(Arc::new(AcmCertificates(acm.clone()))),
            clock.clone(),
            berth_lbsync::SyncOptions::default(),
        );
        sync.publish_metrics(Arc::new(ElbMetricSink(metrics.clone())), clock.clone());
        sync
    });
    let discovery_config = berth_discovery::DiscoveryConfig::new(&args.region, &args.account_id);
    let discovery = berth_discovery::Discovery::open(discovery_config, store.clone(), clock.clone())
        .await
        .context("opening Cloud Map")?;
    let dns = match args.dns_listen() {
        Some(listen) => {
            let mut config = berth_discovery::DnsServerConfig::new(listen);
            config.upstreams = args.dns_upstream.clone();
            config.host_names = Some(Arc::new(LoadBalancerNames(elb.clone())));
            let server = berth_discovery::DnsServer::start(discovery.index().clone(), config)
                .await
                .with_context(|| format!("starting the DNS server on {listen} (--dns-listen; --no-dns for none)"))?;
            // Agents forward their tasks' queries here (an unspecified IP: where each agent reaches the server).
            control.set_dns_server(server.local_addr());
            Some(server)
        }
        None => None,
    };
    control.set_service_targets(Arc::new(super::service_targets::ElbAndCloudMap::new(elb.clone(), discovery.clone())));
    control.set_hook_caller(Arc::new(super::deployment_hooks::HttpHookCaller::new()?));
    control.set_deployment_alarms(Arc::new(super::deployment_alarms::CloudWatchAlarms(metrics.clone())));
    if load_balancer.is_some() {
        let express = super::express::ExpressOverElb::new(elb.clone(), scaling.clone(), vpc.clone());
        control.set_express_infrastructure(Arc::new(express));
    }
    berth_control::spawn_controllers(&control);
    // Every server follows exec announcements: a session issued on one reaches an agent streaming from another.
    tokio::spawn(berth_control::exec_announce::run(control.clone()));
    if election.is_some() {
        tokio::spawn(berth_control::peers::run(control.clone(), server_id(args)));
    }
    if let Some(choice) = schema_choice {
        tokio::spawn(berth_control::schema::advert::run(store.clone(), clock.clone(), server_id(args), choice));
    }
    let schema_advert = election.is_some().then(|| (store.clone(), server_id(args)));
    let mut iam_config = berth_iam::IamConfig::new(&args.account_id);
    iam_config.quotas.managed_per_role = args.iam_policies_per_role;
    iam_config.quotas.min_session_seconds = args.iam_min_session_seconds;
    let iam = berth_iam::Iam::open(iam_config, store.clone(), clock.clone(), Arc::new(SecretsSealer(secrets.clone())))
        .await
        .context("opening IAM")?;
    registry.set_access_policy(Arc::new(berth_api::authz::RegistryAccess {
        iam: iam.clone(),
        root_keys: vec![credentials.0.access_key_id.clone()],
    }));
    let principal = Principal {
        access_key_id: credentials.0.access_key_id.clone(),
        secret_access_key: credentials.0.secret_access_key.clone(),
        account_id: args.account_id.clone(),
        arn: format!("arn:aws:iam::{}:root", args.account_id),
        identity: None,
        session: None,
    };
    let agent_registry = registry.clone();
    let app = router(ApiSettings {
        control: control.clone(),
        credentials: Credentials::new([principal]).with_iam(iam.clone()),
        join_token: join_token.clone(),
        extra_services: vec![
            Arc::new(berth_api::EcrService::new(registry.clone())),
            Arc::new(berth_api::LogsService::new(logs.clone())),
            Arc::new(berth_api::CloudWatchService::new(metrics.clone())),
            Arc::new(berth_api::AutoScalingService::new(scaling)),
            Arc::new(berth_api::ElbService::new(elb)),
            Arc::new(berth_api::AcmService::new(acm)),
            Arc::new(berth_api::Ec2Service::new(vpc)),
            Arc::new(berth_api::ServiceDiscoveryService::new(discovery.clone())),
            Arc::new(berth_api::SecretsService::secrets_manager(secrets.clone())),
            Arc::new(berth_api::SecretsService::ssm(secrets.clone())),
            Arc::new(berth_api::SecretsService::kms(secrets.clone())),
            Arc::new(berth_api::IamService::new(iam.clone())),
            Arc::new(berth_api::StsService::new(iam.clone())),
            Arc::new(berth_api::CapacityService::new(control.clone(), rate_card)),
        ],
        registry_auth: Some(Box::new(move || agent_registry.agent_credentials())),
        rate_limit: berth_api::auth::throttle::RateLimit { per_second: args.api_rate_limit, burst: args.api_burst },
        task_secrets: Some(secrets.clone()),
    })
    .merge(registry.router());
    let app = app.clone().merge(berth_console::router(berth_console::ConsoleSettings {
        api: app,
        clock: clock.clone(),
        region: args.region.clone(),
        root: berth_console::client::Keys {
            access_key_id: credentials.0.access_key_id.clone(),
            secret_access_key: credentials.0.secret_access_key.clone(),
            session_token: None,
        },
        password: console_password(args)?,
        tls: tls.is_some(),
    }));
    // berth_store_bytes: the SQLite file and its log; etcd reports its own size (etcd_mvcc_db_total_size_in_bytes).
    let store_files = match &store_spec {
        StoreSpec::Sqlite(db) => vec![db.clone(), sqlite_wal(db)],
        StoreSpec::Etcd(_) => Vec::new(),
    };
    let app = super::prometheus::instrument(app, "api", super::prometheus::server_gauges(control.clone(), store_files));
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    Ok(RunningServer {
        listener,
        app,
        join_token,
        credentials,
        metrics,
        dns,
        load_balancer,
        tls,
        election,
        schema_advert,
    })
}

/// The console password from `--console-password-file` (its first line, without the line end); an empty one is
/// refused, as is a file that cannot be read.
fn console_password(args: &ServerArgs) -> Result<Option<String>> {
    let Some(path) = &args.console_password_file else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the console password file {}", path.display()))?;
    let password = text.lines().next().unwrap_or_default().trim_end_matches('\r').to_string();
    anyhow::ensure!(!password.is_empty(), "the console password file {} is empty", path.display());
    Ok(Some(password))
}

/// The write-ahead log beside a SQLite file (`state.db-wal`).
fn sqlite_wal(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push("-wal");
    name.into()
}

/// The listener's TLS settings from `--tls-cert` and `--tls-key` (both or neither; clap enforces it too). A file
/// that cannot be read or is not PEM fails the start with an error naming it.
fn listener_tls(args: &ServerArgs) -> Result<Option<berth_listener::Tls>> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(
            berth_listener::Tls::from_pem_files(cert, key)
                .context("the API listener's TLS certificate (--tls-cert, --tls-key)")?,
        )),
        (None, None) => Ok(None),
        _ => anyhow::bail!("--tls-cert and --tls-key go together: give both or neither"),
    }
}

/// Reads pull-through cache rules' upstream credentials from Secrets Manager, as ECR's service-linked role does
/// (not with the pulling caller's permissions).
struct UpstreamSecrets(Arc<berth_secrets::Secrets>);

impl berth_registry::pullthrough::UpstreamSecrets for UpstreamSecrets {
    fn read<'a>(
        &'a self,
        arn: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<String, berth_registry::pullthrough::SecretProblem>> {
        use berth_registry::pullthrough::SecretProblem;
        Box::pin(async move {
            match self.0.resolve(arn, &berth_secrets::AllowAll).await {
                Ok(value) => Ok(value.expose().to_string()),
                Err(berth_secrets::ResolveError::Secret { exception, message, .. })
                    if exception == "ResourceNotFoundException" =>
                {
                    Err(SecretProblem::NotFound(format!("The secret {arn} was not found: {message}")))
                }
                Err(e) => Err(SecretProblem::Unreadable(format!("The secret {arn} cannot be read: {e}"))),
            }
        })
    }
}

/// Installs the schema ceiling (`--schema-ceiling`, a test knob) and, on etcd (`several`), advertises the schema
/// versions this server reads and chooses what it writes before it writes anything (`berth_control::schema`).
async fn join_schema(
    args: &ServerArgs,
    store: &berth_store::SharedStore,
    clock: &dyn berth_model::clock::Clock,
    several: bool,
) -> Result<Option<berth_control::schema::choice::Choice>> {
    let ceiling = berth_control::schema::ceiling::parse(args.schema_ceiling.as_deref().unwrap_or_default())
        .map_err(anyhow::Error::msg)?;
    if !ceiling.is_empty() {
        tracing::warn!(
            ?ceiling,
            "test knob --schema-ceiling: reading and writing these record kinds as an older release"
        );
    }
    berth_control::schema::install_ceiling(ceiling);
    if !several {
        return Ok(None);
    }
    let choice = berth_control::schema::advert::join(store, clock, &server_id(args))
        .await
        .context("advertising this server's schema versions")?;
    Ok(Some(choice))
}

/// This server's id among several: `--server-id`, else `<host name>:<listen port>`.
fn server_id(args: &ServerArgs) -> String {
    args.server_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string());
        format!("{}:{}", host.ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "berth".into()), args.listen.port())
    })
}

/// On etcd, where several servers may share the store: starts campaigning for the leader key, installs this
/// process's leadership (every controller gates on it) and wraps the store so controller writes carry the fence.
/// On SQLite: the store as it is, no election (one server).
async fn elect(
    args: &ServerArgs,
    spec: &StoreSpec,
    store: berth_store::SharedStore,
) -> Result<(berth_store::SharedStore, Option<berth_store::etcd::election::Election>)> {
    let StoreSpec::Etcd(config) = spec else { return Ok((store, None)) };
    // Its own connection, so lease renewals never queue behind large ranges.
    let etcd = Arc::new(
        berth_store::EtcdStore::connect(config.clone()).await.context("connecting to etcd for the leader election")?,
    );
    let id = server_id(args);
    let election = etcd.elect(berth_store::etcd::election::ElectionConfig {
        server_id: id.clone(),
        ttl_seconds: args.leader_lease_seconds,
    });
    let leadership = election.leadership();
    if !berth_store::leader::install(leadership.clone()) {
        anyhow::bail!("a leader election already runs in this process");
    }
    tracing::info!(server = %id, lease_seconds = args.leader_lease_seconds, "campaigning for the leader key");
    let fenced: berth_store::SharedStore = Arc::new(berth_store::leader::FencedStore::new(store, leadership));
    Ok((fenced, Some(election)))
}

/// ACM's certificates for ELBv2 (an HTTPS listener's certificate must exist) and for the data plane (the PEM
/// chain and the key opened from its seal; a re-import is announced by ACM's generation).
struct AcmCertificates(Arc<berth_acm::Acm>);

impl berth_elb::CertificateCatalog for AcmCertificates {
    fn exists(&self, certificate_arn: &str) -> bool {
        self.0.exists(certificate_arn)
    }
}

impl berth_lbsync::CertificateSource for AcmCertificates {
    fn certificate<'a>(
        &'a self,
        arn: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<berth_lb::config::Certificate, String>> + Send + 'a>>
    {
        Box::pin(async move {
            let m = self.0.material(arn).await.map_err(|e| e.to_string())?;
            Ok(berth_lb::config::Certificate { chain_pem: m.chain_pem, key_pem: m.key_pem.to_string() })
        })
    }

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// ACM's InUseBy: the load balancers whose listeners serve a certificate.
struct ElbCertificateUsers(Arc<berth_elb::Elb>);

impl berth_acm::CertificateUsers for ElbCertificateUsers {
    fn users(&self, certificate_arn: &str) -> Vec<String> {
        self.0.certificate_users(certificate_arn)
    }
}

/// Seals IAM's secret access keys with the secrets store's envelope encryption (under the master key).
struct SecretsSealer(Arc<berth_secrets::Secrets>);

impl berth_iam::Sealer for SecretsSealer {
    fn seal<'a>(
        &'a self,
        context: &'a str,
        plaintext: &'a [u8],
    ) -> futures::future::BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { self.0.seal_opaque(context, plaintext).await.map_err(|e| e.to_string()) })
    }

    fn open<'a>(
        &'a self,
        context: &'a str,
        sealed: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(
            async move { self.0.open_opaque(context, sealed).await.map(|v| v.to_vec()).map_err(|e| e.to_string()) },
        )
    }
}

/// DescribeNetworkInterfaces' interfaces: those of the tasks that hold their address.
struct TaskInterfaces(Arc<Control>);

impl berth_vpc::InterfaceSource for TaskInterfaces {
    fn interfaces(&self) -> Vec<berth_vpc::InterfaceView> {
        let cache = self.0.cache().read();
        cache
            .tasks
            .values()
            .filter(|t| !t.record.released)
            .filter_map(|t| {
                let n = t.record.network.as_ref()?;
                Some(berth_vpc::InterfaceView {
                    id: n.interface_id.clone(),
                    attachment_id: n.attachment_id.clone(),
                    subnet_id: n.subnet_id.clone(),
                    address: n.address.clone(),
                    mac_address: n.mac_address.clone(),
                    private_dns_name: n.private_dns_name.clone(),
                    security_groups: n.security_groups.clone(),
                    description: format!(
                        "arn:aws:ecs:{}:{}:attachment/{}",
                        self.0.config().region,
                        self.0.config().account_id,
                        n.attachment_id
                    ),
                })
            })
            .collect()
    }
}

/// Load balancers' DNS names, answered by Berth's DNS server with their addresses.
struct LoadBalancerNames(Arc<berth_elb::Elb>);

impl berth_discovery::HostNames for LoadBalancerNames {
    fn address(&self, name: &str) -> Option<std::net::Ipv4Addr> {
        self.0.address_of(name)
    }
}

/// ELBv2 `instance` targets are container instances, named by their `ec2InstanceId` (the agent's host name).
struct ContainerInstances(Arc<Control>);

impl berth_elb::InstanceDirectory for ContainerInstances {
    fn is_instance(&self, id: &str) -> bool {
        self.0.cache().read().instances.values().any(|i| i.record.ec2_instance_id.as_deref() == Some(id))
    }
}

/// The attribute that gives a container instance's host address to load balancers (an agent's `--attribute
/// berth.host-address=10.0.0.7`, or PutAttributes).
pub const HOST_ADDRESS_ATTRIBUTE: &str = berth_control::services::targets::HOST_ADDRESS_ATTRIBUTE;

/// Where load balancers reach an `instance` target: its container instance's [`HOST_ADDRESS_ATTRIBUTE`], else
/// 127.0.0.1 (an agent without the attribute is taken to run on this machine, as `berth up`'s does).
struct InstanceAddresses(Arc<Control>);

impl berth_lbsync::InstanceAddresses for InstanceAddresses {
    fn address(&self, id: &str) -> Option<std::net::IpAddr> {
        let cache = self.0.cache().read();
        let instance = cache.instances.values().find(|i| i.record.ec2_instance_id.as_deref() == Some(id))?;
        let record = &instance.record;
        let custom = record.custom_attributes.get(HOST_ADDRESS_ATTRIBUTE).and_then(|v| v.as_deref());
        let given = custom.or_else(|| record.attribute(HOST_ADDRESS_ATTRIBUTE));
        match given.map(str::parse::<std::net::IpAddr>) {
            Some(Ok(ip)) => Some(ip),
            Some(Err(_)) => None,
            None => Some(std::net::Ipv4Addr::LOCALHOST.into()),
        }
    }
}

/// The availability zones of the VPC's subnets, each once, in order.
fn vpc_zones(layout: &berth_vpc::VpcLayout) -> Vec<String> {
    let mut zones: Vec<String> = Vec::new();
    for subnet in &layout.subnets {
        if !zones.contains(&subnet.availability_zone) {
            zones.push(subnet.availability_zone.clone());
        }
    }
    zones
}

/// What local node providers may offer in total: the host as Docker sees it (1024 CPU units per core, memory less
/// the 256 MiB an agent keeps back), less what `berth up`'s own agent offers. Without a local provider, nothing.
async fn host_budget(
    specs: &[crate::cli::NodeProviderSpec],
    own_agent: Option<&NodeArgs>,
) -> Result<super::node_providers::HostBudget> {
    use berth_agent::runtime::ContainerRuntime;
    if !specs.iter().any(|s| matches!(s.kind, crate::cli::NodeProviderKind::Local { .. })) {
        return Ok(super::node_providers::HostBudget::new(0, 0));
    }
    let info = super::agent::docker().await?.info().await.context("asking Docker for the host's size")?;
    let settings = berth_agent::resources::ResourceSettings::default();
    let host = berth_agent::resources::offered(&info, &settings);
    let (mut cpu, mut memory) = (host.cpu, host.memory_mib);
    if let Some(node) = own_agent {
        let own = berth_agent::resources::offered(
            &info,
            &berth_agent::resources::ResourceSettings {
                cpu_units: node.cpu_units,
                memory_mib: node.memory_mib,
                reserved_memory_mib: node.reserved_memory_mib,
                ..settings
            },
        );
        cpu -= own.cpu;
        memory -= own.memory_mib;
    }
    if cpu <= 0 || memory <= 0 {
        tracing::warn!(
            "local node providers can start no agent: the local agent offers the whole host (give it \
            --cpu-units and --memory-mib to leave room)"
        );
    }
    Ok(super::node_providers::HostBudget::new(cpu, memory))
}

/// The `host:port` clients reach this server at (the listen address, with a wildcard address made loopback).
pub fn public_endpoint(args: &ServerArgs) -> String {
    if let Some(endpoint) = &args.public_endpoint {
        return endpoint.clone();
    }
    let mut addr = args.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr.to_string()
}

/// The lines that point AWS clients at this server.
pub fn export_lines(args: &ServerArgs, creds: &RootCredentials) -> String {
    format!(
        "export AWS_ENDPOINT_URL={}://{} AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION={}",
        args.scheme(),
        args.listen,
        creds.access_key_id,
        creds.secret_access_key,
        args.region
    )
}

/// Serves until Ctrl-C or SIGTERM under `limits` (timeouts, connection cap), over HTTPS with `tls`, then gives
/// in-flight requests [`berth_listener::Limits::shutdown_grace`] (2 s); long-lived agent streams are cut and agents
/// reconnect to the next server. Containers are never stopped.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: berth_listener::Limits,
    tls: Option<berth_listener::Tls>,
) -> Result<()> {
    match tls {
        Some(tls) => berth_listener::serve_tls(listener, tls, app, limits, shutdown_signal()).await,
        None => berth_listener::serve(listener, app, limits, shutdown_signal()).await,
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down; containers keep running");
}

/// `berth server`.
pub async fn run(args: ServerArgs) -> Result<()> {
    let server = start(&args, None).await?;
    let (series, buckets) = server.metrics.size();
    tracing::info!(series, buckets, "metric store open");
    let scheme = args.scheme();
    println!(
        "Berth control plane on {scheme}://{} (region {}, account {}).",
        args.listen, args.region, args.account_id
    );
    println!("{}", export_lines(&args, &server.credentials.0));
    if args.rotate_join_token {
        println!(
            "The join token was rotated; the old one no longer joins new agents (joined agents are not affected)."
        );
    }
    println!("Agents join with: berth agent --server {scheme}://{} --join-token {}", args.listen, server.join_token);
    if let Some(dns) = &server.dns {
        println!("DNS for Cloud Map namespaces on {} (UDP and TCP).", dns.local_addr());
    }
    serve(server.listener, server.app, args.listener_limits(), server.tls).await?;
    if let Some(lb) = &server.load_balancer {
        lb.shutdown(Duration::from_secs(2)).await;
    }
    if let Some((store, id)) = &server.schema_advert {
        // The others stop counting this server's schema versions now rather than when its record expires.
        berth_control::schema::advert::withdraw(store, id).await;
    }
    if let Some(election) = server.election {
        // Another server takes over now rather than when the lease runs out.
        election.resign().await;
    }
    Ok(())
}

/// How often the `AWS/ECS` series get a datapoint (the agents sample every 10 s).
const ECS_METRICS_EVERY: f64 = 10.0;

/// Writes metric filters' data points (CloudWatch Logs) into the metric store, as CloudWatch does.
struct LogMetricSink(Arc<berth_metrics::Metrics>);

impl berth_logs::metric_filters::MetricSink for LogMetricSink {
    fn put(&self, points: &[berth_logs::metric_filters::MetricDatum]) {
        for point in points {
            let dimensions: Vec<(&str, &str)> =
                point.dimensions.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let unit = point.unit.as_deref().and_then(berth_model::cloudwatch::StandardUnit::parse);
            let at = point.timestamp as f64 / 1000.0;
            if let Err(error) = self.0.put(&point.namespace, &point.name, &dimensions, at, point.value, unit) {
                tracing::warn!(%error, filter = %point.filter_name, "cannot record a metric filter's datapoint");
            }
        }
    }
}

/// Writes the load balancers' `AWS/ApplicationELB` datapoints into the metric store.
struct ElbMetricSink(Arc<berth_metrics::Metrics>);

impl berth_lbsync::metrics::MetricSink for ElbMetricSink {
    fn put(
        &self,
        metric: &str,
        dimensions: &[(&str, &str)],
        timestamp: f64,
        value: f64,
        unit: berth_model::cloudwatch::StandardUnit,
    ) {
        let namespace = berth_lbsync::metrics::NAMESPACE;
        if let Err(error) = self.0.put(namespace, metric, dimensions, timestamp, value, Some(unit)) {
            tracing::warn!(%error, metric, "cannot record a load balancer datapoint");
        }
    }
}

/// Writes managed scaling's CapacityProviderReservation into the metric store (`AWS/ECS/ManagedScaling`).
struct ReservationSink(Arc<berth_metrics::Metrics>);

impl berth_control::managed_scaling::controller::ReservationSink for ReservationSink {
    fn publish(
        &self,
        point: &berth_control::managed_scaling::reservation::ProviderReservation,
        now: f64,
    ) -> Result<(), String> {
        use berth_control::managed_scaling::controller::{METRIC, NAMESPACE};
        let dimensions = [("CapacityProviderName", point.provider.as_str()), ("ClusterName", point.cluster.as_str())];
        self.0
            .put(NAMESPACE, METRIC, &dimensions, now, point.value, Some(berth_model::cloudwatch::StandardUnit::Percent))
            .map_err(|e| e.to_string())
    }
}

/// Writes the `AWS/ECS` utilisation and reservation series (`Control::ecs_metrics`) into the metric store every
/// [`ECS_METRICS_EVERY`] seconds on the server's clock; the store keeps them per minute (several samples each).
async fn publish_ecs_metrics(
    control: Arc<Control>,
    metrics: Arc<berth_metrics::Metrics>,
    clock: Arc<dyn berth_model::clock::Clock>,
) {
    use berth_model::cloudwatch::StandardUnit;
    loop {
        let now = clock.now();
        for point in control.ecs_metrics(now) {
            let dimensions: Vec<(&str, &str)> = point.dimensions.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Err(error) =
                metrics.put("AWS/ECS", point.metric, &dimensions, now, point.value, Some(StandardUnit::Percent))
            {
                tracing::warn!(%error, metric = point.metric, "cannot record an AWS/ECS datapoint");
            }
        }
        for point in control.container_insights_metrics(now) {
            use berth_control::insights::{InsightsUnit, NAMESPACE};
            let dimensions: Vec<(&str, &str)> = point.dimensions.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let unit = match point.unit {
                InsightsUnit::None => StandardUnit::None,
                InsightsUnit::Megabytes => StandardUnit::Megabytes,
                InsightsUnit::Count => StandardUnit::Count,
            };
            if let Err(error) = metrics.put(NAMESPACE, point.metric, &dimensions, now, point.value, Some(unit)) {
                tracing::warn!(%error, metric = point.metric, "cannot record a Container Insights datapoint");
            }
        }
        clock.sleep_until(now + ECS_METRICS_EVERY).await;
    }
}
