//! The load balancers' CloudWatch metrics (`AWS/ApplicationELB`), from the proxy's per-target-group traffic
//! counters and health, written into Berth's metric store every [`METRICS_EVERY`] (a minute holds several writes;
//! counts add up, so a minute's `Sum` is the minute's count).
//!
//! Published for each target group a load balancer forwards to (ELBv2 lets a target group serve one load balancer),
//! with the dimensions `{TargetGroup}` and `{LoadBalancer, TargetGroup}` (values the ARNs' last parts,
//! `targetgroup/<name>/<id>` and `app/<name>/<id>`, as AWS names them):
//! - `RequestCount`, `HTTPCode_Target_2XX_Count` ... `5XX`, `TargetConnectionErrorCount` (Count, when non-zero, as
//!   AWS reports them), `TargetResponseTime` (Seconds, the mean time to the response head, when requests were
//!   answered);
//! - `RequestCountPerTarget` (Count, always): requests over the healthy targets (all registered ones when none is
//!   healthy), which Application Auto Scaling's `ALBRequestCountPerTarget` tracks with the `Sum` statistic;
//! - `HealthyHostCount`, `UnHealthyHostCount` (Count, always).
//!
//! Not published: the load balancer's own metrics (`HTTPCode_ELB_*`, `ActiveConnectionCount`, processed bytes,
//! LCUs).

use berth_elb::ElbView;
use berth_lb::{Proxy, TargetState, TrafficCounts};
use berth_model::clock::Clock;
use berth_model::cloudwatch::StandardUnit;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How often the counters are read and written.
pub const METRICS_EVERY: Duration = Duration::from_secs(10);

/// The namespace.
pub const NAMESPACE: &str = "AWS/ApplicationELB";

/// Where datapoints go (the server writes them into its metric store).
pub trait MetricSink: Send + Sync {
    /// Records one datapoint of `metric` in [`NAMESPACE`] at `timestamp` (epoch seconds).
    fn put(&self, metric: &str, dimensions: &[(&str, &str)], timestamp: f64, value: f64, unit: StandardUnit);
}

/// One datapoint to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    /// The metric name.
    pub metric: &'static str,
    /// `TargetGroup`, and `LoadBalancer` in the second series of each pair.
    pub dimensions: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: StandardUnit,
}

/// A target group's traffic and health as the publisher reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupReading {
    /// The counters gained since the last reading.
    pub gained: TrafficCounts,
    /// Targets passing their checks.
    pub healthy: u64,
    /// Targets failing them.
    pub unhealthy: u64,
    /// Targets registered (not draining).
    pub registered: u64,
}

/// The last part of an ARN after `marker` (`app/<name>/<id>` after `:loadbalancer/`, `targetgroup/<name>/<id>` after
/// the last `:`).
fn dimension_value(arn: &str, marker: &str) -> String {
    arn.rsplit_once(marker).map_or(arn, |(_, tail)| tail).to_string()
}

/// The datapoints of one target group's reading, for a target group served by the load balancer `lb_arn`.
pub fn datapoints(lb_arn: &str, tg_arn: &str, reading: &GroupReading) -> Vec<Datapoint> {
    let tg = dimension_value(tg_arn, ":");
    let lb = dimension_value(lb_arn, ":loadbalancer/");
    let g = &reading.gained;
    let mut values: Vec<(&'static str, f64, StandardUnit)> = Vec::new();
    let counts = [
        ("RequestCount", g.requests),
        ("HTTPCode_Target_2XX_Count", g.target_2xx),
        ("HTTPCode_Target_3XX_Count", g.target_3xx),
        ("HTTPCode_Target_4XX_Count", g.target_4xx),
        ("HTTPCode_Target_5XX_Count", g.target_5xx),
        ("TargetConnectionErrorCount", g.target_errors),
    ];
    values.extend(counts.iter().filter(|(_, n)| *n > 0).map(|(m, n)| (*m, *n as f64, StandardUnit::Count)));
    if g.responses > 0 {
        let mean = g.response_micros as f64 / g.responses as f64 / 1_000_000.0;
        values.push(("TargetResponseTime", mean, StandardUnit::Seconds));
    }
    let per = if reading.healthy > 0 { reading.healthy } else { reading.registered };
    if per > 0 {
        values.push(("RequestCountPerTarget", g.requests as f64 / per as f64, StandardUnit::Count));
    }
    values.push(("HealthyHostCount", reading.healthy as f64, StandardUnit::Count));
    values.push(("UnHealthyHostCount", reading.unhealthy as f64, StandardUnit::Count));
    let mut out = Vec::with_capacity(values.len() * 2);
    for (metric, value, unit) in values {
        out.push(Datapoint { metric, dimensions: vec![("TargetGroup", tg.clone())], value, unit });
        out.push(Datapoint {
            metric,
            dimensions: vec![("LoadBalancer", lb.clone()), ("TargetGroup", tg.clone())],
            value,
            unit,
        });
    }
    out
}

/// The load balancer each target group is forwarded to from (by a listener's default action or a rule).
fn served_by(view: &ElbView) -> HashMap<&str, &str> {
    let mut out = HashMap::new();
    for lb in &view.load_balancers {
        for listener in &lb.listeners {
            for rule in &listener.rules {
                for action in &rule.actions {
                    for tg in action.target_groups() {
                        out.entry(tg).or_insert(lb.arn.as_str());
                    }
                }
            }
        }
    }
    out
}

/// Reads the counters and health of every served target group and writes their datapoints, every [`METRICS_EVERY`]
/// on `clock`, until dropped.
pub(crate) async fn publish(
    elb: Arc<berth_elb::Elb>,
    proxy: Arc<Proxy>,
    sink: Arc<dyn MetricSink>,
    clock: Arc<dyn Clock>,
) {
    let mut last: HashMap<String, TrafficCounts> = HashMap::new();
    loop {
        clock.sleep_until(clock.now() + METRICS_EVERY.as_secs_f64()).await;
        let view = elb.view();
        let now = clock.now();
        let mut seen = HashMap::new();
        for (tg_arn, lb_arn) in served_by(&view) {
            let Some(counts) = proxy.traffic(tg_arn) else { continue };
            let gained = counts.since(last.get(tg_arn).unwrap_or(&TrafficCounts::default()));
            seen.insert(tg_arn.to_string(), counts);
            let health = proxy.target_health(tg_arn);
            let count = |state: TargetState| health.iter().filter(|h| h.state == state).count() as u64;
            let reading = GroupReading {
                gained,
                healthy: count(TargetState::Healthy),
                unhealthy: count(TargetState::Unhealthy),
                registered: health.iter().filter(|h| h.state != TargetState::Draining).count() as u64,
            };
            for point in datapoints(lb_arn, tg_arn, &reading) {
                let dimensions: Vec<(&str, &str)> = point.dimensions.iter().map(|(k, v)| (*k, v.as_str())).collect();
                sink.put(point.metric, &dimensions, now, point.value, point.unit);
            }
        }
        last = seen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc6c495c0c9188";
    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-tg/73e2d6bc24d8a067";

    fn value(points: &[Datapoint], metric: &str) -> Option<f64> {
        points.iter().find(|p| p.metric == metric && p.dimensions.len() == 1).map(|p| p.value)
    }

    #[test]
    fn counts_become_aws_metrics_with_both_dimension_sets() {
        let gained = TrafficCounts {
            requests: 30,
            target_2xx: 27,
            target_5xx: 3,
            responses: 30,
            response_micros: 1_500_000,
            ..TrafficCounts::default()
        };
        let points = datapoints(LB, TG, &GroupReading { gained, healthy: 3, unhealthy: 1, registered: 4 });
        assert_eq!(value(&points, "RequestCount"), Some(30.0));
        assert_eq!(value(&points, "RequestCountPerTarget"), Some(10.0), "over the healthy targets");
        assert_eq!(value(&points, "HTTPCode_Target_2XX_Count"), Some(27.0));
        assert_eq!(value(&points, "HTTPCode_Target_5XX_Count"), Some(3.0));
        assert_eq!(value(&points, "HTTPCode_Target_4XX_Count"), None, "zero counts are not reported");
        assert_eq!(value(&points, "TargetResponseTime"), Some(0.05));
        assert_eq!((value(&points, "HealthyHostCount"), value(&points, "UnHealthyHostCount")), (Some(3.0), Some(1.0)));
        let pair = points.iter().find(|p| p.metric == "RequestCount" && p.dimensions.len() == 2).unwrap();
        assert_eq!(
            pair.dimensions,
            [
                ("LoadBalancer", "app/web/50dc6c495c0c9188".to_string()),
                ("TargetGroup", "targetgroup/web-tg/73e2d6bc24d8a067".to_string())
            ]
        );
    }

    #[test]
    fn an_idle_group_still_reports_requests_per_target_and_hosts() {
        let points =
            datapoints(LB, TG, &GroupReading { healthy: 0, unhealthy: 0, registered: 2, ..Default::default() });
        assert_eq!(value(&points, "RequestCountPerTarget"), Some(0.0), "scale-in needs the zeros");
        assert_eq!(value(&points, "RequestCount"), None);
        assert_eq!(value(&points, "TargetResponseTime"), None);
        let empty = datapoints(LB, TG, &GroupReading::default());
        assert_eq!(value(&empty, "RequestCountPerTarget"), None, "no targets: no per-target figure");
        assert_eq!(value(&empty, "HealthyHostCount"), Some(0.0));
    }
}
