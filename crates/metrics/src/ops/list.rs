//! ListMetrics: the series with data, filtered and paged 500 at a time.

use super::{check_len, offset_of, token_at};
use crate::{Metrics, MetricsError};
use berth_model::cloudwatch::{Dimension, ListMetricsInput, ListMetricsOutput, Metric, RecentlyActive};

/// Metrics per page, as CloudWatch pages them.
const PAGE: usize = 500;

pub(crate) fn list_metrics(metrics: &Metrics, input: ListMetricsInput) -> Result<ListMetricsOutput, MetricsError> {
    let filters = input.dimensions.unwrap_or_default();
    if filters.len() > 10 {
        return Err(MetricsError::invalid("The collection Dimensions must not have a size greater than 10."));
    }
    for (i, f) in filters.iter().enumerate() {
        check_len(&f.name, 1, 255, &format!("Dimensions.member.{}.Name", i + 1))?;
    }
    let start = offset_of(input.next_token.as_deref())?;
    let active_since = input.recently_active.map(|RecentlyActive::Pt3h| metrics.clock.now() - 3.0 * 3600.0);
    let mut found = metrics.points.read(|all| {
        all.filter(|(key, series)| {
            input.namespace.as_ref().is_none_or(|n| *n == key.namespace)
                && input.metric_name.as_ref().is_none_or(|n| *n == key.name)
                && filters.iter().all(|f| {
                    key.dimensions.iter().any(|(n, v)| *n == f.name && f.value.as_ref().is_none_or(|fv| fv == v))
                })
                && active_since.is_none_or(|t| series.last_write >= t)
        })
        .map(|(key, _)| key.clone())
        .collect::<Vec<_>>()
    });
    found.sort();
    if start > found.len() {
        return Err(MetricsError::invalid("The NextToken is invalid for this listing."));
    }
    let end = (start + PAGE).min(found.len());
    let page = found[start..end]
        .iter()
        .map(|k| Metric {
            namespace: Some(k.namespace.clone()),
            metric_name: Some(k.name.clone()),
            dimensions: Some(
                k.dimensions.iter().map(|(n, v)| Dimension { name: n.clone(), value: v.clone() }).collect(),
            ),
        })
        .collect();
    Ok(ListMetricsOutput {
        metrics: Some(page),
        next_token: (end < found.len()).then(|| token_at(end)),
        owning_accounts: None,
    })
}
