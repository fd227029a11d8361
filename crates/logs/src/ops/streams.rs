//! CreateLogStream, DeleteLogStream, DescribeLogStreams.

use super::limit;
use crate::meta::StreamRecord;
use crate::names::{self, check_group, check_stream};
use crate::{Logs, LogsError, tokens};
use berth_model::logs::{
    CreateLogStreamRequest, DeleteLogStreamRequest, DescribeLogStreamsRequest, DescribeLogStreamsResponse, LogStream,
    OrderBy,
};
use serde_json::{Value, json};

pub(super) async fn create(logs: &Logs, req: CreateLogStreamRequest) -> Result<Value, LogsError> {
    check_group(&req.log_group_name)?;
    check_stream(&req.log_stream_name)?;
    let record = StreamRecord { name: req.log_stream_name, creation_time: logs.now_millis() };
    logs.meta.create_stream(&req.log_group_name, &record).await?;
    Ok(json!({}))
}

pub(super) async fn delete(logs: &Logs, req: DeleteLogStreamRequest) -> Result<Value, LogsError> {
    check_group(&req.log_group_name)?;
    check_stream(&req.log_stream_name)?;
    let (group, _) = logs.meta.group(&req.log_group_name).await?;
    logs.meta.delete_stream(&req.log_group_name, &req.log_stream_name).await?;
    let stream = req.log_stream_name;
    logs.blocking(move |events| events.delete_stream(&group.dir, &stream)).await??;
    Ok(json!({}))
}

pub(super) async fn describe(
    logs: &Logs,
    req: DescribeLogStreamsRequest,
) -> Result<DescribeLogStreamsResponse, LogsError> {
    let group_name = names::group_of(req.log_group_name.as_deref(), req.log_group_identifier.as_deref())?;
    let limit = limit(req.limit, 50)?;
    let by_time = req.order_by == Some(OrderBy::LastEventTime);
    if by_time && req.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid("Cannot order by LastEventTime with a logStreamNamePrefix."));
    }
    let start = tokens::parse_offset(req.next_token.as_deref())?;
    let (group, _) = logs.meta.group(&group_name).await?;
    let records: Vec<StreamRecord> = logs
        .meta
        .streams(&group_name)
        .await?
        .into_iter()
        .filter(|s| req.log_stream_name_prefix.as_deref().is_none_or(|p| s.name.starts_with(p)))
        .collect();
    let cutoff = group.cutoff(logs.now_millis());
    let dir = group.dir.clone();
    let names: Vec<String> = records.iter().map(|s| s.name.clone()).collect();
    let stats = logs
        .blocking(move |events| names.iter().map(|n| events.stream_stats(&dir, n, cutoff)).collect::<Vec<_>>())
        .await?;
    let mut streams: Vec<(StreamRecord, crate::events::StreamStats)> = records.into_iter().zip(stats).collect();
    if by_time {
        streams.sort_by(|(a, sa), (b, sb)| (sa.last_event, &a.name).cmp(&(sb.last_event, &b.name)));
    }
    if req.descending.unwrap_or(false) {
        streams.reverse();
    }
    let total = streams.len();
    let page: Vec<LogStream> = streams
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|(s, stats)| LogStream {
            arn: Some(names::stream_arn(&logs.config.region, &logs.config.account_id, &group_name, &s.name)),
            log_stream_name: Some(s.name),
            creation_time: Some(s.creation_time),
            first_event_timestamp: stats.first_event,
            last_event_timestamp: stats.last_event,
            last_ingestion_time: stats.last_ingestion,
            // Reported as zero for streams since 2019, as AWS does; the group shows the bytes.
            stored_bytes: Some(0),
            upload_sequence_token: None,
        })
        .collect();
    let next = start + page.len();
    Ok(DescribeLogStreamsResponse { log_streams: Some(page), next_token: (next < total).then(|| tokens::offset(next)) })
}
