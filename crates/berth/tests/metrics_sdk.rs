//! CloudWatch through the official Rust SDK (`aws-sdk-cloudwatch`, which speaks Smithy RPC v2 CBOR), unchanged but
//! for the endpoint: typed outputs and errors, paginators; and the AWS query protocol (form in, XML out) with a
//! request signed as the SDKs sign.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests fail loudly; datapoints need the real clock

mod common;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, ScanBy, StandardUnit, StateValue,
    Statistic, StatisticSet, Tag,
};
use aws_sdk_cloudwatch::{Client, Config, config};
use berth_testkit::{Berth, BerthOptions};

fn client(berth: &Berth) -> Client {
    let creds =
        aws_credential_types::Credentials::new(&berth.access_key_id, &berth.secret_access_key, None, None, "test");
    let config = Config::builder()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(berth.url())
        .build();
    Client::from_conf(config)
}

fn server() -> Berth {
    Berth::start(BerthOptions { binary: env!("CARGO_BIN_EXE_berth").into(), role: "server", extra_args: Vec::new() })
        .expect("berth server starts")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn dim(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_puts_reads_lists_and_alarms_over_cbor() {
    let berth = server();
    let cw = client(&berth);
    let minute = now() / 60 * 60;
    // Ten minutes of one value each, and one minute with Values/Counts and a statistic set.
    let mut data = Vec::new();
    for i in 0..10 {
        data.push(
            MetricDatum::builder()
                .metric_name("Requests")
                .dimensions(dim("Service", "web"))
                .timestamp(DateTime::from_secs(minute - 600 + i * 60 + 1))
                .value(i as f64)
                .unit(StandardUnit::Count)
                .build(),
        );
    }
    data.push(
        MetricDatum::builder()
            .metric_name("Requests")
            .dimensions(dim("Service", "web"))
            .timestamp(DateTime::from_secs(minute - 600 + 2))
            .values(4.0)
            .counts(3.0)
            .statistic_values(StatisticSet::builder().sample_count(1.0).sum(1.0).minimum(1.0).maximum(1.0).build())
            .build(),
    );
    let mixed = cw.put_metric_data().namespace("Sdk").set_metric_data(Some(data.clone())).send().await.unwrap_err();
    assert!(mixed.into_service_error().is_invalid_parameter_combination_exception());
    data.pop();
    data.push(
        MetricDatum::builder()
            .metric_name("Requests")
            .dimensions(dim("Service", "web"))
            .timestamp(DateTime::from_secs(minute - 600 + 2))
            .values(4.0)
            .counts(3.0)
            .build(),
    );
    cw.put_metric_data().namespace("Sdk").set_metric_data(Some(data)).send().await.unwrap();

    let stats = cw
        .get_metric_statistics()
        .namespace("Sdk")
        .metric_name("Requests")
        .dimensions(dim("Service", "web"))
        .start_time(DateTime::from_secs(minute - 600))
        .end_time(DateTime::from_secs(minute))
        .period(300)
        .statistics(Statistic::Sum)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap();
    let mut points = stats.datapoints().to_vec();
    points.sort_by_key(|p| p.timestamp().unwrap().secs());
    assert_eq!(points.len(), 2);
    // First five minutes: 0+1+2+3+4 and 3 × 4.
    assert_eq!(points[0].timestamp().unwrap().secs(), minute - 600);
    assert_eq!(points[0].sum(), Some(22.0));
    assert_eq!(points[0].sample_count(), Some(8.0));
    assert_eq!(points[1].maximum(), Some(9.0));
    assert_eq!(points[1].unit(), Some(&StandardUnit::Count));
    // Percentiles: the first five minutes hold 0, 4, 4, 4, 1, 2, 3, 4.
    let pct = cw
        .get_metric_statistics()
        .namespace("Sdk")
        .metric_name("Requests")
        .dimensions(dim("Service", "web"))
        .start_time(DateTime::from_secs(minute - 600))
        .end_time(DateTime::from_secs(minute - 300))
        .period(300)
        .extended_statistics("p90")
        .extended_statistics("p25")
        .send()
        .await
        .unwrap();
    let extended = pct.datapoints()[0].extended_statistics().unwrap();
    assert!((extended["p90"] - 4.0).abs() <= 0.08, "{extended:?}");
    assert!((extended["p25"] - 1.0).abs() <= 0.02, "{extended:?}");

    // GetMetricData through its paginator, three values a page, oldest first.
    let query = MetricDataQuery::builder()
        .id("req")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("Sdk")
                        .metric_name("Requests")
                        .dimensions(dim("Service", "web"))
                        .build(),
                )
                .period(60)
                .stat("Sum")
                .build(),
        )
        .build();
    let pages: Vec<_> = cw
        .get_metric_data()
        .metric_data_queries(query.clone())
        .start_time(DateTime::from_secs(minute - 600))
        .end_time(DateTime::from_secs(minute))
        .scan_by(ScanBy::TimestampAscending)
        .max_datapoints(3)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 4);
    let values: Vec<f64> = pages.iter().flat_map(|p| p.metric_data_results()[0].values().to_vec()).collect();
    assert_eq!(values, [12.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let stamps: Vec<i64> =
        pages.iter().flat_map(|p| p.metric_data_results()[0].timestamps().iter().map(|t| t.secs())).collect();
    assert_eq!(stamps[0], minute - 600);
    let refused = cw
        .get_metric_data()
        .metric_data_queries(MetricDataQuery::builder().id("m").expression("SUM(METRICS())").build())
        .start_time(DateTime::from_secs(minute - 600))
        .end_time(DateTime::from_secs(minute))
        .send()
        .await
        .unwrap_err();
    assert!(format!("{:?}", refused.into_service_error()).contains("not supported"));

    let listed = cw.list_metrics().namespace("Sdk").send().await.unwrap();
    assert_eq!(listed.metrics().len(), 1);
    assert_eq!(listed.metrics()[0].dimensions(), [dim("Service", "web")]);

    // Typed errors, with the query-compatible codes.
    let e = cw
        .put_metric_data()
        .namespace("AWS/ECS")
        .metric_data(MetricDatum::builder().metric_name("x").value(1.0).build())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_value_exception(), "{e:?}");
    let e = cw
        .get_metric_statistics()
        .namespace("Sdk")
        .metric_name("Requests")
        .start_time(DateTime::from_secs(minute - 600))
        .end_time(DateTime::from_secs(minute))
        .period(90)
        .statistics(Statistic::Sum)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_value_exception(), "{e:?}");

    // Alarms: created, described with typed members, set, tagged, deleted.
    cw.put_metric_alarm()
        .alarm_name("sdk-high")
        .namespace("Sdk")
        .metric_name("Requests")
        .dimensions(dim("Service", "web"))
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(100.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .alarm_actions("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x")
        .tags(Tag::builder().key("team").value("web").build())
        .send()
        .await
        .unwrap();
    let described = cw.describe_alarms().alarm_names("sdk-high").send().await.unwrap();
    let alarm = &described.metric_alarms()[0];
    assert_eq!(alarm.state_value(), Some(&StateValue::InsufficientData));
    assert_eq!(alarm.datapoints_to_alarm(), Some(2));
    assert_eq!(alarm.threshold(), Some(100.0));
    assert!(alarm.state_updated_timestamp().unwrap().secs() >= minute - 60);
    cw.set_alarm_state()
        .alarm_name("sdk-high")
        .state_value(StateValue::Alarm)
        .state_reason("drill")
        .send()
        .await
        .unwrap();
    let alarm = cw.describe_alarms().state_value(StateValue::Alarm).send().await.unwrap();
    assert_eq!(alarm.metric_alarms()[0].state_reason(), Some("drill"));
    let arn = alarm.metric_alarms()[0].alarm_arn().unwrap().to_string();
    let tags = cw.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags(), [Tag::builder().key("team").value("web").build()]);
    let e = cw.set_alarm_state().alarm_name("nope").state_value(StateValue::Ok).state_reason("x").send().await;
    assert!(e.unwrap_err().into_service_error().is_resource_not_found());
    cw.delete_alarms().alarm_names("sdk-high").send().await.unwrap();
    let e = cw.delete_alarms().alarm_names("sdk-high").send().await.unwrap_err().into_service_error();
    assert!(e.is_resource_not_found(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_in_cbor() {
    use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
    let berth = server();
    let creds = aws_credential_types::Credentials::new(&berth.access_key_id, "wrong", None, None, "test");
    let config = Config::builder()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(berth.url())
        .build();
    let e = Client::from_conf(config).list_metrics().send().await.unwrap_err();
    let raw = e.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw, Some(403));
    assert_eq!(e.into_service_error().code(), Some("InvalidSignatureException"));
}

/// A form POST in the AWS query protocol, signed for `monitoring`; (status, body text).
async fn query(berth: &Berth, form: &str) -> (u16, String) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let url = format!("{}/", berth.url());
    let headers = [
        ("host".to_string(), format!("127.0.0.1:{}", berth.port)),
        ("content-type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string()),
    ];
    let identity =
        aws_credential_types::Credentials::new(&berth.access_key_id, &berth.secret_access_key, None, None, "test")
            .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("monitoring")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(form.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method("POST").uri(&url);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let mut out = reqwest::Client::new().post(&url).body(form.to_string());
    for (k, v) in req.headers() {
        if k != "host" {
            out = out.header(k.as_str(), v.to_str().unwrap());
        }
    }
    let response = out.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_protocol_takes_forms_and_answers_xml() {
    let berth = server();
    let minute = now() / 60 * 60;
    let put = format!(
        "Action=PutMetricData&Version=2010-08-01&Namespace=Q&MetricData.member.1.MetricName=Hits\
         &MetricData.member.1.Value=7&MetricData.member.1.Unit=Count&MetricData.member.1.Timestamp={}\
         &MetricData.member.1.Dimensions.member.1.Name=Route&MetricData.member.1.Dimensions.member.1.Value=%2Fhome",
        minute - 60
    );
    let (status, body) = query(&berth, &put).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("<PutMetricDataResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">"));
    let get = format!(
        "Action=GetMetricStatistics&Version=2010-08-01&Namespace=Q&MetricName=Hits&Period=60\
         &StartTime={}&EndTime={}&Statistics.member.1=Sum&Dimensions.member.1.Name=Route\
         &Dimensions.member.1.Value=%2Fhome",
        minute - 120,
        minute
    );
    let (status, body) = query(&berth, &get).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<GetMetricStatisticsResult><Label>Hits</Label><Datapoints><member>"), "{body}");
    assert!(body.contains("<Sum>7.0</Sum><Unit>Count</Unit>"), "{body}");
    let (status, body) = query(&berth, "Action=PutMetricData&Version=2010-08-01&Namespace=AWS%2FX").await;
    assert_eq!(status, 400);
    assert!(body.contains("<Type>Sender</Type><Code>InvalidParameterValue</Code>"), "{body}");
    let (status, body) = query(&berth, "Action=Nope&Version=2010-08-01").await;
    assert_eq!(status, 400);
    assert!(body.contains("<Code>InvalidAction</Code>"), "{body}");
}
