//! The ECR API through the official `aws-sdk-ecr` client.

use crate::common::TestServer;
use crate::common::image::{self, DOCKER_MANIFEST, sha256};
use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::primitives::Blob;
use aws_sdk_ecr::types::{
    ImageIdentifier, ImageScanningConfiguration, ImageTagMutability, ImageTagMutabilityExclusionFilter,
    ImageTagMutabilityExclusionFilterType, ListImagesFilter, Tag, TagStatus,
};
use base64::Engine as _;

fn client(server: &TestServer) -> aws_sdk_ecr::Client {
    let creds = aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
    let config = aws_sdk_ecr::Config::builder()
        .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
        .region(aws_sdk_ecr::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(server.url(""))
        .build();
    aws_sdk_ecr::Client::from_conf(config)
}

fn code<E: ProvideErrorMetadata>(e: E) -> String {
    e.code().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repositories_paging_tags_and_settings() {
    let server = TestServer::start().await;
    let ecr = client(&server);
    let created = ecr
        .create_repository()
        .repository_name("svc/api")
        .image_tag_mutability(ImageTagMutability::ImmutableWithExclusion)
        .image_tag_mutability_exclusion_filters(
            ImageTagMutabilityExclusionFilter::builder()
                .filter_type(ImageTagMutabilityExclusionFilterType::Wildcard)
                .filter("dev-*")
                .build()
                .unwrap(),
        )
        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(true).build())
        .tags(Tag::builder().key("team").value("core").build().unwrap())
        .send()
        .await
        .unwrap();
    let repo = created.repository.unwrap();
    assert_eq!(repo.repository_uri.as_deref(), Some(format!("{}/svc/api", server.addr).as_str()));
    assert_eq!(repo.repository_arn.as_deref(), Some("arn:aws:ecr:us-east-1:000000000000:repository/svc/api"));
    assert_eq!(repo.registry_id.as_deref(), Some("000000000000"));
    assert_eq!(repo.image_tag_mutability, Some(ImageTagMutability::ImmutableWithExclusion));
    let e = ecr.create_repository().repository_name("svc/api").send().await.unwrap_err();
    assert_eq!(code(e), "RepositoryAlreadyExistsException");
    for bad in ["A", "Upper/Case", "trailing/", "a__-b"] {
        let e = ecr.create_repository().repository_name(bad).send().await.unwrap_err();
        assert_eq!(code(e), "InvalidParameterException", "{bad}");
    }
    let e = ecr
        .create_repository()
        .repository_name("x1")
        .image_tag_mutability(ImageTagMutability::MutableWithExclusion)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidParameterException");
    for i in 0..5 {
        ecr.create_repository().repository_name(format!("page/r{i}")).send().await.unwrap();
    }
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = ecr.describe_repositories().max_results(2).set_next_token(token).send().await.unwrap();
        let repos = page.repositories.unwrap_or_default();
        assert!(repos.len() <= 2);
        names.extend(repos.into_iter().filter_map(|r| r.repository_name));
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, vec!["page/r0", "page/r1", "page/r2", "page/r3", "page/r4", "svc/api"]);
    let e = ecr.describe_repositories().repository_names("nope").send().await.unwrap_err();
    assert_eq!(code(e), "RepositoryNotFoundException");
    // Resource tags.
    let arn = "arn:aws:ecr:us-east-1:000000000000:repository/svc/api";
    ecr.tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key("env").value("prod").build().unwrap())
        .send()
        .await
        .unwrap();
    let tags = ecr.list_tags_for_resource().resource_arn(arn).send().await.unwrap().tags.unwrap();
    assert_eq!(
        tags.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect::<Vec<_>>(),
        vec![("team", "core"), ("env", "prod")]
    );
    ecr.untag_resource().resource_arn(arn).tag_keys("team").send().await.unwrap();
    assert_eq!(ecr.list_tags_for_resource().resource_arn(arn).send().await.unwrap().tags.unwrap().len(), 1);
    let e = ecr
        .tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key("aws:x").value("v").build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidTagParameterException");
    let too_many: Vec<Tag> = (0..51).map(|i| Tag::builder().key(format!("k{i}")).value("v").build().unwrap()).collect();
    let e = ecr.tag_resource().resource_arn(arn).set_tags(Some(too_many)).send().await.unwrap_err();
    assert_eq!(code(e), "TooManyTagsException");
    // Settings.
    let out = ecr
        .put_image_scanning_configuration()
        .repository_name("svc/api")
        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(false).build())
        .send()
        .await
        .unwrap();
    assert!(!out.image_scanning_configuration.unwrap().scan_on_push);
    for mode in [ImageTagMutability::Mutable, ImageTagMutability::Immutable] {
        let out = ecr
            .put_image_tag_mutability()
            .repository_name("svc/api")
            .image_tag_mutability(mode.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(out.image_tag_mutability, Some(mode));
    }
    // Deletion.
    let deleted = ecr.delete_repository().repository_name("page/r0").send().await.unwrap();
    assert_eq!(deleted.repository.unwrap().repository_name.as_deref(), Some("page/r0"));
    let e = ecr.delete_repository().repository_name("page/r0").send().await.unwrap_err();
    assert_eq!(code(e), "RepositoryNotFoundException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_uploads_images_and_auth_tokens() {
    let server = TestServer::start().await;
    let ecr = client(&server);
    ecr.create_repository().repository_name("sdk").send().await.unwrap();
    // GetAuthorizationToken.
    let auth = ecr.get_authorization_token().send().await.unwrap().authorization_data.unwrap().remove(0);
    assert_eq!(auth.proxy_endpoint.as_deref(), Some(format!("http://{}", server.addr).as_str()));
    let decoded = base64::engine::general_purpose::STANDARD.decode(auth.authorization_token.unwrap()).unwrap();
    assert!(String::from_utf8(decoded).unwrap().starts_with("AWS:"));
    let expires = auth.expires_at.unwrap().secs();
    let now = berth_model::clock::Clock::now(&berth_model::clock::SystemClock) as i64;
    assert!((expires - now - 12 * 3600).abs() < 60, "expires in {}s", expires - now);

    // Layer upload in parts, with an out-of-order part refused.
    let layer = image::layer(&[image::Entry("hello.txt", Some(b"hello from the sdk"))]);
    let img = image::image(vec![layer], DOCKER_MANIFEST, "sdk");
    let mut digests = Vec::new();
    for blob in [&img.layers[0].blob, &img.config] {
        let upload = ecr.initiate_layer_upload().repository_name("sdk").send().await.unwrap();
        let id = upload.upload_id.unwrap();
        assert!(upload.part_size.unwrap() > 0);
        let mid = blob.len() / 2;
        let e = ecr
            .upload_layer_part()
            .repository_name("sdk")
            .upload_id(&id)
            .part_first_byte(mid as i64)
            .part_last_byte(blob.len() as i64 - 1)
            .layer_part_blob(Blob::new(blob[mid..].to_vec()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(e), "InvalidLayerPartException");
        let out = ecr
            .upload_layer_part()
            .repository_name("sdk")
            .upload_id(&id)
            .part_first_byte(0)
            .part_last_byte(mid as i64 - 1)
            .layer_part_blob(Blob::new(blob[..mid].to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.last_byte_received, Some(mid as i64 - 1));
        ecr.upload_layer_part()
            .repository_name("sdk")
            .upload_id(&id)
            .part_first_byte(mid as i64)
            .part_last_byte(blob.len() as i64 - 1)
            .layer_part_blob(Blob::new(blob[mid..].to_vec()))
            .send()
            .await
            .unwrap();
        let digest = sha256(blob);
        let done = ecr
            .complete_layer_upload()
            .repository_name("sdk")
            .upload_id(&id)
            .layer_digests(&digest)
            .send()
            .await
            .unwrap();
        assert_eq!(done.layer_digest.as_deref(), Some(digest.as_str()));
        digests.push(digest);
    }
    // Wrong digest on completion; unknown upload.
    let upload = ecr.initiate_layer_upload().repository_name("sdk").send().await.unwrap().upload_id.unwrap();
    ecr.upload_layer_part()
        .repository_name("sdk")
        .upload_id(&upload)
        .part_first_byte(0)
        .part_last_byte(2)
        .layer_part_blob(Blob::new(b"abc".to_vec()))
        .send()
        .await
        .unwrap();
    let e = ecr
        .complete_layer_upload()
        .repository_name("sdk")
        .upload_id(&upload)
        .layer_digests(sha256(b"xyz"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidLayerException");
    let e = ecr
        .complete_layer_upload()
        .repository_name("sdk")
        .upload_id(&upload)
        .layer_digests(sha256(b"abc"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "UploadNotFoundException");
    let empty = ecr.initiate_layer_upload().repository_name("sdk").send().await.unwrap().upload_id.unwrap();
    let e = ecr
        .complete_layer_upload()
        .repository_name("sdk")
        .upload_id(&empty)
        .layer_digests(sha256(b""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "EmptyUploadException");

    let check = ecr
        .batch_check_layer_availability()
        .repository_name("sdk")
        .layer_digests(&digests[0])
        .layer_digests(sha256(b"missing"))
        .layer_digests("not-a-digest")
        .send()
        .await
        .unwrap();
    assert_eq!(check.layers.unwrap().len(), 1);
    assert_eq!(check.failures.unwrap().len(), 2);

    // PutImage (Docker schema 2), twice: the second is ImageAlreadyExistsException.
    let manifest = String::from_utf8(img.manifest.clone()).unwrap();
    let put = ecr.put_image().repository_name("sdk").image_manifest(&manifest).image_tag("v1").send().await.unwrap();
    assert_eq!(put.image.unwrap().image_id.unwrap().image_digest.as_deref(), Some(img.digest.as_str()));
    let e = ecr.put_image().repository_name("sdk").image_manifest(&manifest).image_tag("v1").send().await.unwrap_err();
    assert_eq!(code(e), "ImageAlreadyExistsException");
    let e = ecr
        .put_image()
        .repository_name("sdk")
        .image_manifest(&manifest)
        .image_digest(sha256(b"other"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ImageDigestDoesNotMatchException");
    let e =
        ecr.put_image().repository_name("sdk").image_manifest(&manifest).image_tag("bad tag").send().await.unwrap_err();
    assert_eq!(code(e), "InvalidParameterException");
    let missing_layers = image::image(vec![image::layer(&[image::Entry("x", Some(b"x"))])], DOCKER_MANIFEST, "sdk");
    let e = ecr
        .put_image()
        .repository_name("sdk")
        .image_manifest(String::from_utf8(missing_layers.manifest).unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "LayersNotFoundException");
    ecr.put_image().repository_name("sdk").image_manifest(&manifest).image_tag("v2").send().await.unwrap();
    ecr.put_image_tag_mutability()
        .repository_name("sdk")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .send()
        .await
        .unwrap();
    let second = image::image(
        vec![image::Layer { blob: vec![], digest: digests[0].clone(), diff_id: String::new() }],
        DOCKER_MANIFEST,
        "second",
    );
    // A second image on the same layer (its config uploaded with the OCI API) cannot take the immutable tag v1.
    let oci = crate::common::Oci::new(&server).await;
    oci.push_blob("sdk", &second.config).await;
    let fixed = String::from_utf8(second.manifest.clone())
        .unwrap()
        .replace("\"size\": 0", &format!("\"size\": {}", img.layers[0].blob.len()));
    let e = ecr.put_image().repository_name("sdk").image_manifest(&fixed).image_tag("v1").send().await.unwrap_err();
    assert_eq!(code(e), "ImageTagAlreadyExistsException");

    // Describe, list, get.
    let details = ecr.describe_images().repository_name("sdk").send().await.unwrap().image_details.unwrap();
    assert_eq!(details.len(), 1);
    let d = &details[0];
    assert_eq!(d.image_digest.as_deref(), Some(img.digest.as_str()));
    assert_eq!(d.image_tags.clone().unwrap(), vec!["v1", "v2"]);
    assert_eq!(d.image_size_in_bytes, Some(img.layers[0].blob.len() as i64));
    assert!(d.image_pushed_at.is_some());
    assert_eq!(d.image_manifest_media_type.as_deref(), Some(DOCKER_MANIFEST));
    assert_eq!(d.artifact_media_type.as_deref(), Some("application/vnd.docker.container.image.v1+json"));
    assert!(d.last_recorded_pull_time.is_none());
    let got = ecr
        .batch_get_image()
        .repository_name("sdk")
        .image_ids(ImageIdentifier::builder().image_tag("v1").build())
        .image_ids(ImageIdentifier::builder().image_tag("nope").build())
        .send()
        .await
        .unwrap();
    assert_eq!(got.images.unwrap()[0].image_manifest.as_deref(), Some(manifest.as_str()));
    assert_eq!(got.failures.unwrap()[0].failure_code.as_ref().unwrap().as_str(), "ImageNotFound");
    let pulled = ecr.describe_images().repository_name("sdk").send().await.unwrap().image_details.unwrap();
    assert!(pulled[0].last_recorded_pull_time.is_some(), "BatchGetImage records a pull");
    let e = ecr
        .describe_images()
        .repository_name("sdk")
        .image_ids(ImageIdentifier::builder().image_tag("nope").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ImageNotFoundException");
    let listed = ecr
        .list_images()
        .repository_name("sdk")
        .filter(ListImagesFilter::builder().tag_status(TagStatus::Tagged).build())
        .send()
        .await
        .unwrap()
        .image_ids
        .unwrap();
    assert_eq!(listed.len(), 2);
    let untagged = ecr
        .list_images()
        .repository_name("sdk")
        .filter(ListImagesFilter::builder().tag_status(TagStatus::Untagged).build())
        .send()
        .await
        .unwrap()
        .image_ids
        .unwrap();
    assert!(untagged.is_empty());
    let page = ecr.list_images().repository_name("sdk").max_results(1).send().await.unwrap();
    assert_eq!(page.image_ids.unwrap().len(), 1);
    let rest = ecr.list_images().repository_name("sdk").next_token(page.next_token.unwrap()).send().await.unwrap();
    assert_eq!(rest.image_ids.unwrap().len(), 1);
    assert!(rest.next_token.is_none());

    // GetDownloadUrlForLayer: a URL that works without other credentials.
    let url = ecr
        .get_download_url_for_layer()
        .repository_name("sdk")
        .layer_digest(&digests[0])
        .send()
        .await
        .unwrap()
        .download_url
        .unwrap();
    let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(sha256(&bytes), digests[0]);
    let other_blob = url.replace(&digests[0], &digests[1]);
    assert_eq!(reqwest::get(&other_blob).await.unwrap().status(), 403);
    let e =
        ecr.get_download_url_for_layer().repository_name("sdk").layer_digest(sha256(b"nope")).send().await.unwrap_err();
    assert_eq!(code(e), "LayersNotFoundException");

    // BatchDeleteImage: by tag removes the tag; the last tag takes the image with it.
    let out = ecr
        .batch_delete_image()
        .repository_name("sdk")
        .image_ids(ImageIdentifier::builder().image_tag("v2").build())
        .send()
        .await
        .unwrap();
    assert_eq!(out.image_ids.unwrap().len(), 1);
    assert_eq!(
        ecr.describe_images().repository_name("sdk").send().await.unwrap().image_details.unwrap()[0]
            .image_tags
            .clone()
            .unwrap(),
        vec!["v1"]
    );
    let e = ecr.delete_repository().repository_name("sdk").send().await.unwrap_err();
    assert_eq!(code(e), "RepositoryNotEmptyException");
    let out = ecr
        .batch_delete_image()
        .repository_name("sdk")
        .image_ids(ImageIdentifier::builder().image_tag("v1").build())
        .image_ids(ImageIdentifier::builder().image_digest(sha256(b"gone")).build())
        .send()
        .await
        .unwrap();
    assert_eq!(out.image_ids.unwrap().len(), 1);
    assert_eq!(out.failures.unwrap()[0].failure_code.as_ref().unwrap().as_str(), "ImageNotFound");
    assert!(ecr.describe_images().repository_name("sdk").send().await.unwrap().image_details.unwrap().is_empty());
    ecr.delete_repository().repository_name("sdk").send().await.unwrap();
}
