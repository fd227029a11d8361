//! PutMetricFilter, DeleteMetricFilter, DescribeMetricFilters, TestMetricFilter.

use super::limit;
use crate::names::{check_filter, check_group};
use crate::pattern::Pattern;
use crate::{Logs, LogsError, tokens};
use berth_model::logs::{
    DeleteMetricFilterRequest, DescribeMetricFiltersRequest, DescribeMetricFiltersResponse, MetricFilter,
    MetricFilterMatchRecord, PutMetricFilterRequest, TestMetricFilterRequest, TestMetricFilterResponse,
};
use serde_json::{Value, json};

/// At most this many metric filters in a group.
const MAX_FILTERS: usize = 100;

fn parse_pattern(source: &str) -> Result<Pattern, LogsError> {
    Pattern::parse(source).map_err(|e| LogsError::invalid(e.to_string()))
}

pub(super) async fn put(logs: &Logs, req: PutMetricFilterRequest) -> Result<Value, LogsError> {
    check_group(&req.log_group_name)?;
    check_filter(&req.filter_name)?;
    parse_pattern(&req.filter_pattern)?;
    if req.metric_transformations.len() != 1 {
        return Err(LogsError::invalid("metricTransformations must hold exactly one transformation."));
    }
    for t in &req.metric_transformations {
        let value = t.metric_value.trim();
        if value.parse::<f64>().is_err() && !value.starts_with('$') {
            return Err(LogsError::invalid(format!(
                "Invalid metric value {value:?}: a number, a $.selector or a $field of the pattern."
            )));
        }
    }
    let existing = logs.meta.metric_filters(Some(&req.log_group_name)).await?;
    if existing.len() >= MAX_FILTERS && !existing.iter().any(|f| f.filter_name.as_deref() == Some(&req.filter_name)) {
        return Err(LogsError::limit(format!("A log group can have at most {MAX_FILTERS} metric filters.")));
    }
    let filter = MetricFilter {
        filter_name: Some(req.filter_name),
        filter_pattern: Some(req.filter_pattern),
        metric_transformations: Some(req.metric_transformations),
        creation_time: Some(logs.now_millis()),
        log_group_name: Some(req.log_group_name.clone()),
        apply_on_transformed_logs: req.apply_on_transformed_logs,
        field_selection_criteria: req.field_selection_criteria,
        emit_system_field_dimensions: req.emit_system_field_dimensions,
    };
    logs.meta.put_metric_filter(&req.log_group_name, &filter).await?;
    Ok(json!({}))
}

pub(super) async fn delete(logs: &Logs, req: DeleteMetricFilterRequest) -> Result<Value, LogsError> {
    check_group(&req.log_group_name)?;
    logs.meta.delete_metric_filter(&req.log_group_name, &req.filter_name).await?;
    Ok(json!({}))
}

pub(super) async fn describe(
    logs: &Logs,
    req: DescribeMetricFiltersRequest,
) -> Result<DescribeMetricFiltersResponse, LogsError> {
    let limit = limit(req.limit, 50)?;
    if req.filter_name_prefix.is_some() && req.log_group_name.is_none() {
        return Err(LogsError::invalid("filterNamePrefix requires logGroupName."));
    }
    if req.metric_name.is_some() != req.metric_namespace.is_some() {
        return Err(LogsError::invalid("metricName and metricNamespace must be given together."));
    }
    if let Some(group) = &req.log_group_name {
        logs.meta.group(group).await?;
    }
    let start = tokens::parse_offset(req.next_token.as_deref())?;
    let filters: Vec<MetricFilter> = logs
        .meta
        .metric_filters(req.log_group_name.as_deref())
        .await?
        .into_iter()
        .filter(|f| {
            req.filter_name_prefix
                .as_deref()
                .is_none_or(|p| f.filter_name.as_deref().unwrap_or_default().starts_with(p))
        })
        .filter(|f| {
            let (Some(name), Some(ns)) = (&req.metric_name, &req.metric_namespace) else { return true };
            f.metric_transformations.iter().flatten().any(|t| &t.metric_name == name && &t.metric_namespace == ns)
        })
        .collect();
    let total = filters.len();
    let page: Vec<MetricFilter> = filters.into_iter().skip(start).take(limit).collect();
    let next = start + page.len();
    Ok(DescribeMetricFiltersResponse {
        metric_filters: Some(page),
        next_token: (next < total).then(|| tokens::offset(next)),
    })
}

pub(super) fn test(req: TestMetricFilterRequest) -> Result<TestMetricFilterResponse, LogsError> {
    let pattern = parse_pattern(&req.filter_pattern)?;
    if !(1..=50).contains(&req.log_event_messages.len()) {
        return Err(LogsError::invalid("logEventMessages must hold between 1 and 50 messages."));
    }
    let matches = req
        .log_event_messages
        .iter()
        .enumerate()
        .filter(|(_, m)| pattern.matches(m))
        .map(|(i, m)| MetricFilterMatchRecord {
            event_number: Some(i as i64 + 1),
            event_message: Some(m.clone()),
            extracted_values: Some(pattern.extracted_values(m)),
        })
        .collect();
    Ok(TestMetricFilterResponse { matches: Some(matches) })
}
