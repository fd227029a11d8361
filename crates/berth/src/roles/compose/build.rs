//! `build:`: the context tarred (honouring `.dockerignore`), built by the Docker Engine, tagged for the service's
//! repository in Berth's registry (created if missing) and pushed with ECR's authorization token.

use super::api::Api;
use anyhow::{Context, bail};
use base64::Engine;
use berth_compose::dockerignore::DockerIgnore;
use berth_compose::{Build, Project, Service};
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptions, PushImageOptions, TagImageOptions};
use futures::StreamExt;
use serde_json::json;
use std::path::Path;

/// Builds the service's image and pushes it; returns the image reference to run (`host/repo:build-<id>`).
pub async fn build_and_push(api: &Api, project: &Project, service: &Service, build: &Build) -> anyhow::Result<String> {
    let repository = berth_compose::translate::repository(&project.name, &service.name);
    let uri = repository_uri(api, &project.name, &repository).await?;
    let context = build.context.clone();
    let tarball =
        tokio::task::spawn_blocking(move || tar_context(&context)).await.context("tarring the build context")??;
    let docker = connect()?;
    let latest = format!("{uri}:latest");
    let options = BuildImageOptions {
        dockerfile: build.dockerfile.clone(),
        t: Some(latest.clone()),
        rm: true,
        buildargs: (!build.args.is_empty()).then(|| build.args.clone().into_iter().collect()),
        target: build.target.clone().unwrap_or_default(),
        ..BuildImageOptions::default()
    };
    let mut output = Vec::new();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(bytes::Bytes::from(tarball))));
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(detail) = info.error_detail.and_then(|d| d.message).or(info.error) {
                    bail!("building {}: {detail}\n{}", service.name, tail(&output));
                }
                if let Some(line) = info.stream {
                    output.push(line);
                }
            }
            Err(error) => bail!("building {}: {error}\n{}", service.name, tail(&output)),
        }
    }
    let id = docker.inspect_image(&latest).await.with_context(|| format!("inspecting {latest}"))?.id;
    let id = id.context("the built image has no id")?;
    let tag = format!("build-{}", id.trim_start_matches("sha256:").chars().take(12).collect::<String>());
    docker
        .tag_image(&latest, Some(TagImageOptions { repo: Some(uri.clone()), tag: Some(tag.clone()) }))
        .await
        .with_context(|| format!("tagging {uri}:{tag}"))?;
    let credentials = credentials(api).await?;
    for push_tag in [tag.as_str(), "latest"] {
        let mut push = docker.push_image(
            &uri,
            Some(PushImageOptions { tag: Some(push_tag.to_string()), ..PushImageOptions::default() }),
            Some(credentials.clone()),
        );
        while let Some(item) = push.next().await {
            item.with_context(|| format!("pushing {uri}:{push_tag}"))?;
        }
    }
    Ok(format!("{uri}:{tag}"))
}

/// The repository's URI, creating the repository when it does not exist.
async fn repository_uri(api: &Api, project: &str, repository: &str) -> anyhow::Result<String> {
    let tags = json!([{"Key": berth_compose::translate::PROJECT_TAG, "Value": project}]);
    let created = api.ecr("CreateRepository", json!({"repositoryName": repository, "tags": tags})).await;
    let answer = match created {
        Ok(answer) => answer["repository"].clone(),
        Err(error) if error.to_string().starts_with("RepositoryAlreadyExistsException") => {
            let found = api.ecr("DescribeRepositories", json!({"repositoryNames": [repository]})).await?;
            found["repositories"][0].clone()
        }
        Err(error) => return Err(error.context(format!("creating the ECR repository {repository}"))),
    };
    answer["repositoryUri"].as_str().map(String::from).context("the registry named no repositoryUri")
}

/// Docker credentials for Berth's registry from GetAuthorizationToken (`AWS:<token>`, base64).
async fn credentials(api: &Api) -> anyhow::Result<DockerCredentials> {
    let answer = api.ecr("GetAuthorizationToken", json!({})).await?;
    let data = &answer["authorizationData"][0];
    let token = data["authorizationToken"].as_str().context("no authorizationToken")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(token).context("the authorization token")?;
    let decoded = String::from_utf8(decoded).context("the authorization token")?;
    let (username, password) = decoded.split_once(':').context("the authorization token is not user:password")?;
    let server = data["proxyEndpoint"].as_str().unwrap_or_default();
    let server = server.trim_start_matches("https://").trim_start_matches("http://");
    Ok(DockerCredentials {
        username: Some(username.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(server.to_string()),
        ..DockerCredentials::default()
    })
}

/// The Docker Engine at `$DOCKER_HOST` (default: the local socket).
fn connect() -> anyhow::Result<Docker> {
    let docker = if std::env::var("DOCKER_HOST").is_ok_and(|h| !h.is_empty()) {
        Docker::connect_with_defaults()
    } else {
        Docker::connect_with_socket_defaults()
    };
    docker.context("connecting to the Docker Engine (set DOCKER_HOST, or start Docker)")
}

/// The last lines of the build's output, for an error.
fn tail(lines: &[String]) -> String {
    let text: String = lines.concat();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// The build context as a tar archive, without what `.dockerignore` leaves out (the Dockerfile and `.dockerignore`
/// are always sent, as Docker does).
pub fn tar_context(context: &Path) -> anyhow::Result<Vec<u8>> {
    if !context.is_dir() {
        bail!("the build context {} is not a directory", context.display());
    }
    let ignore = match std::fs::read_to_string(context.join(".dockerignore")) {
        Ok(text) => DockerIgnore::parse(&text),
        Err(_) => DockerIgnore::default(),
    };
    let mut archive = tar::Builder::new(Vec::new());
    archive.follow_symlinks(false);
    add_dir(&mut archive, context, "", &ignore)?;
    archive.into_inner().context("finishing the build context archive")
}

fn add_dir(
    archive: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    prefix: &str,
    ignore: &DockerIgnore,
) -> anyhow::Result<()> {
    let dir = root.join(prefix);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let keep = matches!(relative.as_str(), "Dockerfile" | ".dockerignore");
        if !keep && ignore.excludes(&relative) {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().with_context(|| format!("reading {}", path.display()))?;
        if kind.is_dir() {
            archive.append_dir(&relative, &path).with_context(|| format!("adding {}", path.display()))?;
            add_dir(archive, root, &relative, ignore)?;
        } else {
            archive.append_path_with_name(&path, &relative).with_context(|| format!("adding {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tar_context;

    #[test]
    fn the_context_honours_dockerignore() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "secret.txt\nlogs\nDockerfile\n").unwrap();
        std::fs::write(dir.path().join("app.txt"), "app").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        std::fs::write(dir.path().join("logs/a.log"), "no").unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "yes").unwrap();
        let bytes = tar_context(dir.path()).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        names.sort();
        assert_eq!(names, [".dockerignore", "Dockerfile", "app.txt", "src", "src/main.rs"]);
        assert!(tar_context(&dir.path().join("missing")).is_err());
    }
}
