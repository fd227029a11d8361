//! A whole compose file through parsing and translation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::translate::{Deploy, Placement, create_service, register_task_definition, update_service};
use std::collections::BTreeMap;

fn deploy<'a>(image: &'a str, region: &'a str, arns: &'a BTreeMap<String, String>) -> Deploy<'a> {
    Deploy { image, region, execution_role: None, secret_arns: arns }
}
use crate::{Condition, Project, parse};
use serde_json::json;
use std::path::Path;

fn env(name: &str) -> Option<String> {
    match name {
        "TAG" => Some("1.2".into()),
        "FROM_SHELL" => Some("shell".into()),
        _ => None,
    }
}

fn load(text: &str, dir: &Path) -> Project {
    parse(text, "compose.yaml", dir, None, &env).unwrap()
}

fn error(text: &str) -> String {
    parse(text, "compose.yaml", Path::new("/srv/app"), None, &env).unwrap_err().to_string()
}

const FULL: &str = r#"
name: Shop
services:
  web:
    image: "registry.example/web:${TAG}"
    ports: ["8080:80", "9000-9001:9000-9001/udp", {target: 443, published: 8443, protocol: tcp, name: https}, "3000"]
    environment: {A: "1", FROM_SHELL: null, MISSING: null}
    env_file: [web.env, {path: absent.env, required: false}]
    command: sh -c "echo 'hi there'"
    entrypoint: ["/bin/tini", "--"]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost/"]
      interval: 1m30s
      timeout: 500ms
      retries: 3
      start_period: 10s
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.5", memory: 512m}
        reservations: {memory: 256M}
    volumes: ["data:/var/lib/data:ro", "./conf:/etc/conf", "/scratch", {type: tmpfs, target: /cache}]
    privileged: true
    init: true
    user: "1000:1000"
    working_dir: /app
    hostname: web1
    labels: ["tier=front"]
    stop_grace_period: 1m
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    tmpfs: ["/run:size=32m,mode=1777"]
    read_only: true
    extra_hosts: ["db.local:10.0.0.5", "other=10.0.0.6"]
    dns: 10.0.0.2
    cap_add: [NET_ADMIN]
    cap_drop: [CAP_MKNOD]
    restart: "no"
    cap_add_typo: x
    networks: [front]
    container_name: shop-web
  db:
    image: redis:7
    healthcheck: {test: "redis-cli ping"}
    mem_limit: 1g
  migrate:
    build: {context: ./migrate, dockerfile: Dockerfile.migrate, args: {V: "2"}, target: final}
    command: ["migrate", "up"]
    depends_on: [db]
    deploy: {mode: global}
volumes:
  data: {driver: local, labels: {owner: shop}}
networks:
  front: {}
x-common: {anything: true}
version: "3.8"
"#;

fn full() -> (Project, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web.env"), "A=from-file\nB=2\n# comment\n").unwrap();
    let project = load(FULL, dir.path());
    (project, dir)
}

#[test]
fn every_supported_key_is_translated() {
    let (project, dir) = full();
    assert_eq!(project.name, "shop");
    let web = project.service("web").unwrap();
    let mut warnings = Vec::new();
    let request = register_task_definition(
        &project,
        web,
        &deploy("registry.example/web:1.2", "us-east-1", &BTreeMap::new()),
        &mut warnings,
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(request["family"], "shop-web");
    assert_eq!(request["networkMode"], "awsvpc", "an address of its own, found by name");
    assert_eq!(web.networks, ["front"]);
    let c = &request["containerDefinitions"][0];
    assert_eq!(c["name"], "web");
    assert_eq!(c["image"], "registry.example/web:1.2");
    assert_eq!(web.image.as_deref(), Some("registry.example/web:1.2"), "interpolated");
    assert_eq!(
        c["portMappings"],
        json!([
            {"containerPort": 80, "protocol": "tcp"},
            {"containerPort": 9000, "protocol": "udp"},
            {"containerPort": 9001, "protocol": "udp"},
            {"containerPort": 443, "protocol": "tcp"},
            {"containerPort": 3000, "protocol": "tcp"},
        ]),
        "awsvpc: the ports of the task's own address"
    );
    assert_eq!(
        c["dockerLabels"],
        json!({"tier": "front", "berth.publish": "8080:80/tcp,9000:9000/udp,9001:9001/udp,8443:443/tcp"}),
        "the host ports published through Berth's label"
    );
    assert_eq!(c["dnsSearchDomains"], json!(["shop.compose.internal"]));
    assert_eq!(
        c["environment"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "FROM_SHELL", "value": "shell"}]),
        "env_file under environment, a bare name from the shell, an unset one left out"
    );
    assert_eq!(c["command"], json!(["sh", "-c", "echo 'hi there'"]));
    assert_eq!(c["entryPoint"], json!(["/bin/tini", "--"]));
    assert_eq!(
        c["healthCheck"],
        json!({"command": ["CMD", "curl", "-f", "http://localhost/"], "interval": 90, "timeout": 1, "retries": 3,
               "startPeriod": 10})
    );
    assert_eq!(
        (c["cpu"].clone(), c["memory"].clone(), c["memoryReservation"].clone()),
        (json!(512), json!(512), json!(256))
    );
    assert_eq!(c["privileged"], true);
    assert_eq!(c["user"], "1000:1000");
    assert_eq!(c["workingDirectory"], "/app");
    assert!(c.get("hostname").is_none() && c.get("extraHosts").is_none(), "ECS refuses them in awsvpc");
    assert_eq!(c["stopTimeout"], 60);
    assert_eq!(
        c["ulimits"],
        json!([{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}, {"name": "nproc", "softLimit": 512, "hardLimit": 512}])
    );
    assert_eq!(c["readonlyRootFilesystem"], true);
    assert_eq!(c["dnsServers"], json!(["10.0.0.2"]));
    let linux = &c["linuxParameters"];
    assert_eq!(linux["initProcessEnabled"], true);
    assert_eq!(linux["capabilities"], json!({"add": ["NET_ADMIN"], "drop": ["MKNOD"]}));
    assert_eq!(
        linux["tmpfs"],
        json!([{"containerPath": "/cache", "size": 64}, {"containerPath": "/run", "size": 32, "mountOptions": ["mode=1777"]}])
    );
    let conf = dir.path().join("conf").display().to_string();
    assert_eq!(
        request["volumes"],
        json!([
            {"name": "shop_data", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true,
              "driver": "local", "labels": {"owner": "shop"}}},
            {"name": "bind-1", "host": {"sourcePath": conf}},
            {"name": "anonymous-2"},
        ])
    );
    assert_eq!(
        c["mountPoints"],
        json!([
            {"sourceVolume": "shop_data", "containerPath": "/var/lib/data", "readOnly": true},
            {"sourceVolume": "bind-1", "containerPath": "/etc/conf", "readOnly": false},
            {"sourceVolume": "anonymous-2", "containerPath": "/scratch", "readOnly": false},
        ])
    );
    assert_eq!(
        c["logConfiguration"],
        json!({"logDriver": "awslogs", "options": {"awslogs-group": "/berth/compose/shop", "awslogs-region": "us-east-1",
               "awslogs-stream-prefix": "compose", "awslogs-create-group": "true"}})
    );
    let placement = Placement {
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        security_groups: vec!["sg-front".into(), "sg-published".into()],
        registry_arn: "arn:aws:servicediscovery:us-east-1:0:service/srv-web".into(),
    };
    let create = create_service(&project, web, "default", "shop-web:1", Some(&placement));
    assert_eq!(create["serviceName"], "shop-web");
    assert_eq!(create["desiredCount"], 3);
    assert_eq!(
        create["networkConfiguration"],
        json!({"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-front", "sg-published"],
               "assignPublicIp": "DISABLED"}})
    );
    assert_eq!(create["serviceRegistries"], json!([{"registryArn": placement.registry_arn}]));
    let update = update_service(&project, web, "prod", "arn", Some(&placement));
    assert_eq!(update["desiredCount"], 3);
    assert_eq!(update["networkConfiguration"], create["networkConfiguration"], "networks may change");
    let fixed = json!({"minimumHealthyPercent": 0, "maximumPercent": 100});
    assert_eq!(create["deploymentConfiguration"], fixed, "a fixed host port: stop the old task first");
    assert_eq!(update["deploymentConfiguration"], fixed);
    let db = project.service("db").unwrap();
    assert_eq!(db.networks, ["default"]);
    assert!(create_service(&project, db, "default", "x", None).get("deploymentConfiguration").is_none());
}

#[test]
fn a_bridge_service_keeps_host_ports_hostname_and_extra_hosts() {
    let text = "services:\n  web:\n    image: x\n    network_mode: bridge\n    hostname: web1\n    \
                extra_hosts: [\"db.local:10.0.0.5\"]\n    ports: [\"8080:80\", \"3000\"]\n  db: {image: y}\n";
    let project = load(text, Path::new("/srv/app"));
    let web = project.service("web").unwrap();
    let mut warnings = Vec::new();
    let request = register_task_definition(&project, web, &deploy("x", "us-east-1", &BTreeMap::new()), &mut warnings);
    assert_eq!(request["networkMode"], "bridge");
    let c = &request["containerDefinitions"][0];
    assert_eq!(
        c["portMappings"],
        json!([{"containerPort": 80, "hostPort": 8080, "protocol": "tcp"}, {"containerPort": 3000, "protocol": "tcp"}])
    );
    assert_eq!(c["hostname"], "web1");
    assert_eq!(c["extraHosts"], json!([{"hostname": "db.local", "ipAddress": "10.0.0.5"}]));
    assert!(c.get("dnsSearchDomains").is_none() && c.get("dockerLabels").is_none());
    assert!(web.networks.is_empty());
    assert!(
        project.warnings.iter().any(|w| w.contains("services.web.network_mode: with bridge")),
        "{:?}",
        project.warnings
    );
    let networks = "services:\n  a: {image: x, network_mode: bridge, networks: [default]}\n";
    assert!(error(networks).contains("cannot also join networks"));
    assert!(error("services:\n  a: {image: x, networks: [nope]}\n").contains("\"nope\" is not declared"));
}

#[test]
fn unsupported_keys_are_named_in_warnings() {
    let (project, _dir) = full();
    let has = |needle: &str| project.warnings.iter().any(|w| w.contains(needle));
    assert!(has("services.web.cap_add_typo is not supported by Berth and is ignored"), "{:?}", project.warnings);
    assert!(has("services.web.hostname is not supported by Berth and is ignored (the service has an address"));
    assert!(has("services.web.extra_hosts is not supported"));
    assert!(has("services.web.ports: 3000/tcp gets no host port"));
    assert!(has("services.web.container_name is not supported"));
    assert!(has("services.web.restart: \"no\" is not supported"));
    assert!(has("services.web.volumes[1]: the bind mount names"));
    assert!(has("version is obsolete"));
    assert!(has("services.web.ports[2].name is not supported"));
    assert!(!has("cannot reach"), "awsvpc services reach each other by name");
    assert!(!has("x-common"), "extension fields are for the file's own use");
    assert!(!has("MISSING"), "an environment entry without a value is not interpolation");
}

#[test]
fn other_services_builds_and_global_mode() {
    let (project, dir) = full();
    let db = project.service("db").unwrap();
    let mut warnings = Vec::new();
    let request =
        register_task_definition(&project, db, &deploy("redis:7", "eu-west-1", &BTreeMap::new()), &mut warnings);
    let c = &request["containerDefinitions"][0];
    assert_eq!(c["healthCheck"], json!({"command": ["CMD-SHELL", "redis-cli ping"]}));
    assert_eq!(c["memory"], 1024);
    let migrate = project.service("migrate").unwrap();
    let build = migrate.build.as_ref().unwrap();
    assert_eq!(build.context, dir.path().join("migrate"));
    assert_eq!(build.dockerfile, "Dockerfile.migrate");
    assert_eq!(build.args.get("V").map(String::as_str), Some("2"));
    assert_eq!(build.target.as_deref(), Some("final"));
    assert_eq!(create_service(&project, migrate, "default", "x", None)["schedulingStrategy"], "DAEMON");
    let mut warnings = Vec::new();
    register_task_definition(&project, migrate, &deploy("img", "us-east-1", &BTreeMap::new()), &mut warnings);
    assert!(warnings[0].contains("Berth reserves 128 MiB"), "{warnings:?}");
}

#[test]
fn depends_on_orders_creation() {
    let (project, _dir) = full();
    let names: Vec<&str> = project.order.iter().map(|i| project.services[*i].name.as_str()).collect();
    assert_eq!(names, ["db", "migrate", "web"]);
    let web = project.service("web").unwrap();
    assert_eq!(web.depends_on[0].condition, Condition::Healthy);
    assert_eq!(web.depends_on[1].condition, Condition::CompletedSuccessfully);
    assert_eq!(project.service("migrate").unwrap().depends_on[0].condition, Condition::Started);
}

#[test]
fn cycles_and_unknown_dependencies_are_refused() {
    let cycle = error(
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n",
    );
    assert!(cycle.contains("dependency cycle: a -> b -> c -> a"), "{cycle}");
    let unhealthy =
        error("services:\n  a: {image: x, depends_on: {b: {condition: service_healthy}}}\n  b: {image: x}\n");
    assert!(unhealthy.contains("service_healthy needs a healthcheck on b"), "{unhealthy}");
    let unknown = error("services:\n  a: {image: x, depends_on: [nope]}\n");
    assert!(unknown.contains("\"nope\" is not a service"), "{unknown}");
}

#[test]
fn invalid_files_are_refused_with_the_key() {
    assert!(error("services:\n  a: {ports: [\"80\"]}\n").contains("needs `image` or `build`"));
    assert!(error("services:\n  a: {image: x, ports: [\"99999:80\"]}\n").contains("services.a.ports[0]"));
    assert!(error("services:\n  a: {image: x, ports: [\"80/sctp\"]}\n").contains("ECS takes tcp or udp"));
    assert!(
        error("services:\n  a: {image: x, healthcheck: {test: [\"WHAT\"]}}\n").contains("services.a.healthcheck.test")
    );
    assert!(error("services:\n  a: {image: x, healthcheck: {test: x, interval: soon}}\n").contains("not a duration"));
    assert!(error("services:\n  a: {image: x, command: \"echo 'open\"}\n").contains("unterminated"));
    assert!(error("services:\n  a: {image: x, volumes: [\"data:/d\"]}\n").contains("not declared"));
    assert!(error("services:\n  a: {image: x, network_mode: \"service:b\"}\n").contains("not supported by Berth"));
    assert!(
        error("services:\n  a: {image: x, network_mode: host, ports: [\"8080:80\"]}\n").contains("must be the same")
    );
    assert!(error("services:\n  a: {image: x, env_file: nope.env}\n").contains("nope.env"));
    assert!(error("services:\n  a: {image: \"${REQUIRED:?set it}\"}\n").contains("set it"));
    assert!(error("services: [\n").contains("not valid YAML"));
    assert!(error("volumes: {}\n").contains("no services"));
}

#[test]
fn project_names_and_host_mode() {
    let dir = Path::new("/srv/My App");
    let project = load("services:\n  a: {image: x, network_mode: host, ports: [\"80\"]}\n", dir);
    assert_eq!(project.name, "myapp", "the directory's name, normalised");
    let a = project.service("a").unwrap();
    assert_eq!(a.ports[0].host, Some(80), "host mode publishes the container's port");
    let named = parse("services:\n  a: {image: x}\n", "f", dir, Some("Other_1"), &env).unwrap();
    assert_eq!(named.name, "other_1");
    assert!(crate::normalise_name("__").is_err());
    let both = parse("services:\n  a: {image: x, build: .}\n", "f", dir, None, &env).unwrap();
    assert!(both.warnings.iter().any(|w| w.starts_with("services.a.image: \"x\" is not the built image's name")));
    let global = parse("services:\n  a: {image: x, deploy: {placement: {}}}\n", "f", dir, None, &env).unwrap();
    assert!(global.warnings.iter().any(|w| w.contains("services.a.deploy.placement is not supported")));
}

#[test]
fn dot_env_feeds_interpolation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "IMAGE_TAG=3\nTAG=from-dot-env\n").unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, "services:\n  a: {image: \"x:${IMAGE_TAG}-${TAG}\"}\n").unwrap();
    let project = crate::load(&file, Some("p"), &env).unwrap();
    assert_eq!(project.service("a").unwrap().image.as_deref(), Some("x:3-1.2"), "the shell wins over .env");
}

#[test]
fn secrets_become_file_mode_container_secrets() {
    let text = r#"
services:
  web:
    image: x
    mem_limit: 64m
    secrets: [db_password, {source: api_key, target: keys/api, mode: 0400}, {source: shared, target: /etc/shared}]
secrets:
  db_password: {file: ./secrets/db.txt}
  api_key: {environment: API_KEY}
  shared: {external: true, name: team/shared}
"#;
    let project = load(text, Path::new("/srv/shop"));
    assert!(project.warnings.iter().any(|w| w.contains("services.web.secrets[1].mode is not supported")));
    let secrets = &project.secrets;
    assert_eq!(secrets["db_password"].source, crate::secrets::SecretSource::File("/srv/shop/secrets/db.txt".into()));
    assert_eq!(secrets["api_key"].source, crate::secrets::SecretSource::Environment("API_KEY".into()));
    assert_eq!(secrets["shared"].store_name("shop", "shared"), "team/shared");
    assert_eq!(secrets["db_password"].store_name("shop", "db_password"), "compose/shop/db_password");
    let arns = BTreeMap::from([("compose/shop/db_password".to_string(), "arn:db".to_string())]);
    let web = project.service("web").unwrap();
    let mut warnings = Vec::new();
    let request = register_task_definition(
        &project,
        web,
        &Deploy { image: "x", region: "us-east-1", execution_role: Some("arn:role"), secret_arns: &arns },
        &mut warnings,
    );
    assert_eq!(request["executionRoleArn"], "arn:role");
    assert_eq!(
        request["containerDefinitions"][0]["secrets"],
        json!([
            {"name": "berth:file=/run/secrets/db_password", "valueFrom": "arn:db"},
            {"name": "berth:file=/run/secrets/keys/api", "valueFrom": "compose/shop/api_key"},
            {"name": "berth:file=/etc/shared", "valueFrom": "team/shared"},
        ])
    );
    assert!(error("services:\n  a: {image: x, secrets: [nope]}\n").contains("\"nope\" is not declared"));
    assert!(
        error("services:\n  a: {image: x, configs: [{source: nope, target: /etc/n/n}]}\n")
            .contains("top-level `configs`")
    );
    assert!(error("services:\n  a: {image: x}\nsecrets:\n  s: {}\n").contains("needs `file`"));
}

#[test]
fn configs_become_parameters_mounted_as_files() {
    let text = r#"
services:
  web:
    image: x
    mem_limit: 64m
    configs: [{source: nginx, target: /etc/nginx/nginx.conf}, {source: inline, target: /app/inline.txt}]
configs:
  nginx: {file: ./nginx.conf}
  inline: {content: "hello ${TAG}"}
"#;
    let project = load(text, Path::new("/srv/shop"));
    assert_eq!(project.configs["inline"].source, crate::secrets::SecretSource::Content("hello 1.2".into()));
    assert_eq!(project.configs["nginx"].store_name("shop", "nginx"), "/compose/shop/nginx");
    let web = project.service("web").unwrap();
    let request = register_task_definition(&project, web, &deploy("x", "us-east-1", &BTreeMap::new()), &mut Vec::new());
    assert_eq!(
        request["containerDefinitions"][0]["secrets"],
        json!([
            {"name": "berth:file=/etc/nginx/nginx.conf", "valueFrom": "/compose/shop/nginx"},
            {"name": "berth:file=/app/inline.txt", "valueFrom": "/compose/shop/inline"},
        ])
    );
    let root = error("services:\n  a: {image: x, configs: [c]}\nconfigs:\n  c: {content: x}\n");
    assert!(root.contains("services.a.configs[0]: /c is a file directly in /"), "{root}");
    assert!(error("services:\n  a: {image: x}\nsecrets:\n  s: {content: x}\n").contains("needs `file`"));
}
