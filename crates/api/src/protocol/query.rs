//! The AWS query protocol: a form-encoded `POST /` (`Action=<Operation>&Version=<api version>&...`) answered in XML.
//!
//! Requests flatten the input shape into dotted names (`MetricData.member.1.Dimensions.member.1.Name`, maps as
//! `Name.entry.1.key` / `.value`); this module rebuilds the JSON the generated shapes use, typing each value by the
//! model's shape table ([`berth_model::schema`]). Responses wrap the output in `<OperationResponse><OperationResult>`
//! with lists as `<member>` elements and timestamps in ISO 8601; errors are `<ErrorResponse><Error>`.

use crate::error::ApiError;
use berth_model::schema::{Kind, Schema};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The content type of query requests.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The content type of query responses.
pub const XML_CONTENT_TYPE: &str = "text/xml";

/// A query request's parameters.
pub type Params = BTreeMap<String, String>;

/// Parses a form body.
pub fn parse_form(body: &[u8]) -> Params {
    let mut out = Params::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        out.insert(form_decode(k), form_decode(v));
    }
    out
}

fn form_decode(raw: &[u8]) -> String {
    let plus_as_space: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    percent_encoding::percent_decode(&plus_as_space).decode_utf8_lossy().into_owned()
}

/// Rebuilds the JSON input of shape `shape` from the parameters (all but `Action` and `Version`).
pub fn to_json(params: &Params, schema: &Schema, shape: Option<&str>) -> Result<Json, ApiError> {
    let Some(kind) = shape.and_then(|s| schema.shape(s)) else { return Ok(Json::Object(Map::new())) };
    Ok(decode(params, schema, kind, "")?.unwrap_or_else(|| Json::Object(Map::new())))
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

/// The parameters under `prefix.` (excluding `prefix` itself).
fn under<'a>(params: &'a Params, prefix: &str) -> impl Iterator<Item = (&'a String, &'a String)> {
    let start = format!("{prefix}.");
    params.range(start.clone()..).take_while(move |(k, _)| k.starts_with(&start))
}

fn invalid(name: &str, value: &str, what: &str) -> ApiError {
    ApiError::bad_request("InvalidParameterValue", format!("The value {value} for parameter {name} is not {what}."))
}

/// Decodes the value at `prefix` (the top-level structure when empty); `None` when nothing was sent for it.
fn decode(params: &Params, schema: &Schema, kind: Kind, prefix: &str) -> Result<Option<Json>, ApiError> {
    match kind {
        Kind::Structure(members) => {
            let mut map = Map::new();
            for (member, target) in members {
                let name = join(prefix, member);
                let Some(kind) = schema.shape(target) else { continue };
                if let Some(v) = decode(params, schema, kind, &name)? {
                    map.insert((*member).to_string(), v);
                }
            }
            let sent = prefix.is_empty() || !map.is_empty() || params.contains_key(prefix);
            Ok(sent.then_some(Json::Object(map)))
        }
        Kind::List(item) => {
            let member = format!("{prefix}.member");
            let mut indices: Vec<usize> = under(params, &member)
                .filter_map(|(k, _)| k[member.len() + 1..].split('.').next()?.parse().ok())
                .collect();
            indices.sort_unstable();
            indices.dedup();
            if indices.is_empty() {
                // `Name=` alone sends an empty list.
                return Ok(params.get(prefix).filter(|v| v.is_empty()).map(|_| Json::Array(Vec::new())));
            }
            let Some(item) = schema.shape(item) else { return Ok(None) };
            let mut out = Vec::with_capacity(indices.len());
            for i in indices {
                if let Some(v) = decode(params, schema, item, &format!("{member}.{i}"))? {
                    out.push(v);
                }
            }
            Ok(Some(Json::Array(out)))
        }
        Kind::Map(key, value) => {
            let entry = format!("{prefix}.entry");
            let mut indices: Vec<usize> = under(params, &entry)
                .filter_map(|(k, _)| k[entry.len() + 1..].split('.').next()?.parse().ok())
                .collect();
            indices.sort_unstable();
            indices.dedup();
            if indices.is_empty() {
                return Ok(None);
            }
            let (Some(_), Some(value)) = (schema.shape(key), schema.shape(value)) else { return Ok(None) };
            let mut map = Map::new();
            for i in indices {
                let Some(k) = params.get(&format!("{entry}.{i}.key")) else { continue };
                if let Some(v) = decode(params, schema, value, &format!("{entry}.{i}.value"))? {
                    map.insert(k.clone(), v);
                }
            }
            Ok(Some(Json::Object(map)))
        }
        scalar => {
            let Some(raw) = params.get(prefix) else { return Ok(None) };
            Ok(Some(match scalar {
                Kind::Integer | Kind::Long => {
                    Json::Number(raw.trim().parse::<i64>().map_err(|_| invalid(prefix, raw, "an integer"))?.into())
                }
                Kind::Double => {
                    let f: f64 = raw.trim().parse().map_err(|_| invalid(prefix, raw, "a number"))?;
                    serde_json::Number::from_f64(f).map_or_else(|| Json::String(raw.clone()), Json::Number)
                }
                Kind::Boolean => match raw.as_str() {
                    "true" => Json::Bool(true),
                    "false" => Json::Bool(false),
                    _ => return Err(invalid(prefix, raw, "a boolean")),
                },
                Kind::Timestamp => {
                    let t = parse_timestamp(raw).ok_or_else(|| invalid(prefix, raw, "a valid ISO 8601 timestamp"))?;
                    serde_json::Number::from_f64(t).map_or(Json::Null, Json::Number)
                }
                _ => Json::String(raw.clone()),
            }))
        }
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` (or epoch seconds) to epoch seconds.
pub fn parse_timestamp(raw: &str) -> Option<f64> {
    if let Ok(n) = raw.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    let b = raw.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| raw.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &raw[19..];
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        frac = format!("0.{}", &r[..digits]).parse().ok()?;
        rest = &r[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        tz if tz.len() == 6 && matches!(&tz[..1], "+" | "-") && &tz[3..4] == ":" => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (tz[1..3].parse::<i64>().ok()? * 3600 + tz[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + s - offset) as f64 + frac)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch seconds as `YYYY-MM-DDTHH:MM:SS.fffZ`.
pub fn format_timestamp(t: f64) -> String {
    let millis = (t * 1000.0).round() as i64;
    let (secs, ms) = (millis.div_euclid(1000), millis.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Escapes text for XML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The XML response of `operation` for its JSON output.
pub fn response(
    schema: &Schema,
    operation: &str,
    output: Option<&str>,
    wrapper: Option<&str>,
    value: &Json,
    request_id: &str,
) -> String {
    let ns = schema.xml_namespace;
    let mut xml = format!("<{operation}Response xmlns=\"{ns}\">");
    if let (Some(output), Some(wrapper)) = (output, wrapper) {
        let _ = write!(xml, "<{wrapper}>");
        if let Some(kind) = schema.shape(output) {
            write_members(&mut xml, schema, kind, value);
        }
        let _ = write!(xml, "</{wrapper}>");
    }
    let _ = write!(
        xml,
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{operation}Response>",
        escape(request_id)
    );
    xml
}

/// An error response.
pub fn error(namespace: &str, fault: &str, code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message></Error>\
         <RequestId>{}</RequestId></ErrorResponse>",
        escape(code),
        escape(message),
        escape(request_id)
    )
}

/// Writes a structure's members (in model order) as elements.
fn write_members(xml: &mut String, schema: &Schema, kind: Kind, value: &Json) {
    let (Kind::Structure(members), Json::Object(map)) = (kind, value) else { return };
    for (member, target) in members {
        if let (Some(v), Some(kind)) = (map.get(*member), schema.shape(target)) {
            let _ = write!(xml, "<{member}>");
            write_value(xml, schema, kind, v);
            let _ = write!(xml, "</{member}>");
        }
    }
}

fn write_value(xml: &mut String, schema: &Schema, kind: Kind, value: &Json) {
    match (kind, value) {
        (Kind::Structure(_), _) => write_members(xml, schema, kind, value),
        (Kind::List(item), Json::Array(items)) => {
            let Some(item) = schema.shape(item) else { return };
            for v in items {
                xml.push_str("<member>");
                write_value(xml, schema, item, v);
                xml.push_str("</member>");
            }
        }
        (Kind::Map(_, v), Json::Object(map)) => {
            let Some(vk) = schema.shape(v) else { return };
            for (k, v) in map {
                let _ = write!(xml, "<entry><key>{}</key><value>", escape(k));
                write_value(xml, schema, vk, v);
                xml.push_str("</value></entry>");
            }
        }
        (Kind::Timestamp, Json::Number(n)) => xml.push_str(&format_timestamp(n.as_f64().unwrap_or_default())),
        (_, Json::String(s)) => xml.push_str(&escape(s)),
        (_, Json::Number(n)) => xml.push_str(&n.to_string()),
        (_, Json::Bool(b)) => xml.push_str(if *b { "true" } else { "false" }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::cloudwatch::SCHEMA;
    use serde_json::json;

    #[test]
    fn flattened_forms_become_the_input_json() {
        let body =
            b"Action=PutMetricData&Version=2010-08-01&Namespace=My+App&MetricData.member.1.MetricName=Lat%2Fency\
&MetricData.member.1.Value=1.5&MetricData.member.1.Timestamp=2027-01-15T08%3A00%3A00.500Z\
&MetricData.member.1.Dimensions.member.2.Name=b&MetricData.member.1.Dimensions.member.2.Value=2\
&MetricData.member.1.Dimensions.member.1.Name=a&MetricData.member.1.Dimensions.member.1.Value=1\
&MetricData.member.2.MetricName=x&MetricData.member.2.Values.member.1=3&MetricData.member.2.StorageResolution=1";
        let params = parse_form(body);
        assert_eq!(params["Action"], "PutMetricData");
        let json = to_json(&params, &SCHEMA, Some("PutMetricDataInput")).unwrap();
        assert_eq!(
            json,
            json!({"Namespace": "My App", "MetricData": [
                {"MetricName": "Lat/ency", "Value": 1.5, "Timestamp": 1800000000.5,
                 "Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "b", "Value": "2"}]},
                {"MetricName": "x", "Values": [3.0], "StorageResolution": 1}]})
        );
        let bad = parse_form(b"Namespace=a&MetricData.member.1.Value=abc");
        assert_eq!(to_json(&bad, &SCHEMA, Some("PutMetricDataInput")).unwrap_err().code, "InvalidParameterValue");
        let empty = parse_form(b"AlarmNames=");
        assert_eq!(to_json(&empty, &SCHEMA, Some("DescribeAlarmsInput")).unwrap(), json!({"AlarmNames": []}));
    }

    #[test]
    fn outputs_become_xml() {
        let out = json!({"Label": "L<1>", "Datapoints": [{"Timestamp": 1800000000.0, "Sum": 3.0, "Unit": "Count"}]});
        let xml = response(
            &SCHEMA,
            "GetMetricStatistics",
            Some("GetMetricStatisticsOutput"),
            Some("GetMetricStatisticsResult"),
            &out,
            "rid",
        );
        assert_eq!(
            xml,
            "<GetMetricStatisticsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
<GetMetricStatisticsResult><Label>L&lt;1&gt;</Label><Datapoints><member><Timestamp>2027-01-15T08:00:00.000Z</Timestamp>\
<Sum>3.0</Sum><Unit>Count</Unit></member></Datapoints></GetMetricStatisticsResult>\
<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetMetricStatisticsResponse>"
        );
        let xml = response(&SCHEMA, "PutMetricData", None, None, &json!({}), "r");
        assert!(xml.starts_with("<PutMetricDataResponse xmlns=") && xml.contains("<RequestId>r</RequestId>"));
    }

    #[test]
    fn elbv2_nested_lists_and_its_namespace() {
        use berth_model::elbv2::SCHEMA as ELB;
        let body = b"Action=CreateListener&Version=2015-12-01&LoadBalancerArn=arn&Protocol=HTTP&Port=80\
&DefaultActions.member.1.Type=forward&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=a\
&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight=3\
&DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled=true";
        let json = to_json(&parse_form(body), &ELB, Some("CreateListenerInput")).unwrap();
        assert_eq!(
            json,
            json!({"LoadBalancerArn": "arn", "Protocol": "HTTP", "Port": 80, "DefaultActions": [{"Type": "forward",
                "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "a", "Weight": 3}],
                                  "TargetGroupStickinessConfig": {"Enabled": true}}}]})
        );
        let out = json!({"Rules": [{"RuleArn": "r", "Priority": "default", "IsDefault": true, "Conditions": []}]});
        let xml = response(&ELB, "DescribeRules", Some("DescribeRulesOutput"), Some("DescribeRulesResult"), &out, "id");
        assert!(xml.starts_with(
            "<DescribeRulesResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">"
        ));
        assert!(xml.contains("<Rules><member><RuleArn>r</RuleArn><Priority>default</Priority><Conditions></Conditions><IsDefault>true</IsDefault></member></Rules>"), "{xml}");
    }

    #[test]
    fn timestamps_both_ways() {
        assert_eq!(parse_timestamp("2027-01-15T08:00:00Z"), Some(1_800_000_000.0));
        assert_eq!(parse_timestamp("2027-01-15T09:00:00+01:00"), Some(1_800_000_000.0));
        assert_eq!(parse_timestamp("1800000000"), Some(1_800_000_000.0));
        assert_eq!(parse_timestamp("2027-13-15T08:00:00Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(format_timestamp(1_800_000_000.25), "2027-01-15T08:00:00.250Z");
        assert_eq!(format_timestamp(0.0), "1970-01-01T00:00:00.000Z");
    }
}
