//! Smithy RPC v2 CBOR: `POST /service/<service>/operation/<Operation>` with `smithy-protocol: rpc-v2-cbor` and a
//! CBOR body. Bodies are translated to and from the JSON the generated shapes use, with the model's shape table
//! ([`berth_model::schema`]) telling timestamps (CBOR tag 1, epoch seconds), floats and integers apart.

use crate::error::ApiError;
use base64::Engine;
use berth_model::schema::{Kind, Schema};
use ciborium::value::{Integer, Value as Cbor};
use serde_json::{Map, Number, Value as Json};

/// The content type of CBOR requests and responses.
pub const CONTENT_TYPE: &str = "application/cbor";
/// The `smithy-protocol` header value.
pub const PROTOCOL: &str = "rpc-v2-cbor";

/// Decodes a CBOR request body into JSON. An empty body is an empty object. A NaN or infinite number becomes a
/// string, so that the shape's decoding refuses it by name instead of taking it for an absent member.
pub fn to_json(body: &[u8]) -> Result<Json, ApiError> {
    if body.is_empty() {
        return Ok(Json::Object(Map::new()));
    }
    let value: Cbor = ciborium::de::from_reader(body)
        .map_err(|e| ApiError::serialization(format!("Malformed CBOR request body: {e}")))?;
    if !value.is_map() {
        return Err(ApiError::serialization("Malformed CBOR request body: the body must be a CBOR map."));
    }
    cbor_to_json(value)
}

fn cbor_to_json(value: Cbor) -> Result<Json, ApiError> {
    Ok(match value {
        Cbor::Null => Json::Null,
        Cbor::Bool(b) => Json::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            match i64::try_from(i) {
                Ok(i) => Json::Number(i.into()),
                Err(_) => Json::String(i.to_string()),
            }
        }
        Cbor::Float(f) => Number::from_f64(f).map_or_else(|| Json::String(f.to_string()), Json::Number),
        Cbor::Text(s) => Json::String(s),
        Cbor::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        // Tag 1 (epoch-seconds timestamps) and any other tag: the tagged value.
        Cbor::Tag(_, inner) => cbor_to_json(*inner)?,
        Cbor::Array(items) => Json::Array(items.into_iter().map(cbor_to_json).collect::<Result<_, _>>()?),
        Cbor::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let Cbor::Text(k) = k else {
                    return Err(ApiError::serialization("Malformed CBOR request body: map keys must be text."));
                };
                // A null member is an absent one.
                if !v.is_null() {
                    map.insert(k, cbor_to_json(v)?);
                }
            }
            Json::Object(map)
        }
        other => return Err(ApiError::serialization(format!("Malformed CBOR request body: unexpected {other:?}."))),
    })
}

/// Encodes a JSON output of shape `shape` as CBOR. Members the table does not know are encoded by their JSON type.
pub fn from_json(value: &Json, schema: &Schema, shape: Option<&str>) -> Vec<u8> {
    let cbor = json_to_cbor(value, schema, shape.and_then(|s| schema.shape(s)));
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = ciborium::ser::into_writer(&cbor, &mut out);
    out
}

/// A CBOR error body: `{"__type": code, "message": message}`.
pub fn error_body(code: &str, message: &str) -> Vec<u8> {
    let value = Cbor::Map(vec![
        (Cbor::Text("__type".into()), Cbor::Text(code.into())),
        (Cbor::Text("message".into()), Cbor::Text(message.into())),
    ]);
    let mut out = Vec::new();
    let _ = ciborium::ser::into_writer(&value, &mut out);
    out
}

fn number(n: &Number, float: bool) -> Cbor {
    match (n.as_i64(), float) {
        (Some(i), false) => Cbor::Integer(Integer::from(i)),
        _ => Cbor::Float(n.as_f64().unwrap_or_default()),
    }
}

fn json_to_cbor(value: &Json, schema: &Schema, kind: Option<Kind>) -> Cbor {
    match (value, kind) {
        (Json::Null, _) => Cbor::Null,
        (Json::Bool(b), _) => Cbor::Bool(*b),
        (Json::Number(n), Some(Kind::Timestamp)) => Cbor::Tag(1, Box::new(Cbor::Float(n.as_f64().unwrap_or_default()))),
        (Json::Number(n), Some(Kind::Double)) => number(n, true),
        (Json::Number(n), _) => number(n, false),
        (Json::String(s), Some(Kind::Blob)) => match base64::engine::general_purpose::STANDARD.decode(s) {
            Ok(bytes) => Cbor::Bytes(bytes),
            Err(_) => Cbor::Text(s.clone()),
        },
        (Json::String(s), _) => Cbor::Text(s.clone()),
        (Json::Array(items), kind) => {
            let item = match kind {
                Some(Kind::List(item)) => schema.shape(item),
                _ => None,
            };
            Cbor::Array(items.iter().map(|v| json_to_cbor(v, schema, item)).collect())
        }
        (Json::Object(map), kind) => {
            let entries = map
                .iter()
                .map(|(k, v)| {
                    let target = match kind {
                        Some(Kind::Structure(members)) => {
                            members.iter().find(|(m, _)| m == k).and_then(|(_, t)| schema.shape(t))
                        }
                        Some(Kind::Map(_, value)) => schema.shape(value),
                        _ => None,
                    };
                    (Cbor::Text(k.clone()), json_to_cbor(v, schema, target))
                })
                .collect();
            Cbor::Map(entries)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::cloudwatch::SCHEMA;
    use serde_json::json;

    #[test]
    fn outputs_tag_timestamps_and_keep_doubles_floats() {
        let out = json!({"Label": "x", "Datapoints": [{"Timestamp": 1800000000.0, "Sum": 3, "Unit": "Count"}]});
        let bytes = from_json(&out, &SCHEMA, Some("GetMetricStatisticsOutput"));
        let back: Cbor = ciborium::de::from_reader(bytes.as_slice()).unwrap();
        let get = |v: &Cbor, key: &str| -> Cbor {
            let Cbor::Map(entries) = v else { panic!("{v:?}") };
            entries.iter().find(|(k, _)| *k == Cbor::Text(key.into())).unwrap().1.clone()
        };
        let Cbor::Array(points) = get(&back, "Datapoints") else { panic!() };
        assert_eq!(get(&points[0], "Timestamp"), Cbor::Tag(1, Box::new(Cbor::Float(1.8e9))));
        assert_eq!(get(&points[0], "Sum"), Cbor::Float(3.0), "a Double is a float even when whole");
        // Round trip back to JSON: the same values.
        let json_again = to_json(&bytes).unwrap();
        assert_eq!(json_again["Datapoints"][0]["Sum"], json!(3.0));
        assert_eq!(json_again["Datapoints"][0]["Timestamp"], json!(1.8e9));
    }

    #[test]
    fn inputs_decode_to_the_shapes_json() {
        let input = Cbor::Map(vec![
            (Cbor::Text("Namespace".into()), Cbor::Text("App".into())),
            (
                Cbor::Text("MetricData".into()),
                Cbor::Array(vec![Cbor::Map(vec![
                    (Cbor::Text("MetricName".into()), Cbor::Text("m".into())),
                    (Cbor::Text("Timestamp".into()), Cbor::Tag(1, Box::new(Cbor::Integer(1_800_000_000.into())))),
                    (Cbor::Text("Value".into()), Cbor::Float(f64::NAN)),
                    (Cbor::Text("Unit".into()), Cbor::Null),
                ])]),
            ),
        ]);
        let mut bytes = Vec::new();
        ciborium::ser::into_writer(&input, &mut bytes).unwrap();
        let json = to_json(&bytes).unwrap();
        assert_eq!(json["MetricData"][0]["Timestamp"], json!(1_800_000_000));
        assert_eq!(json["MetricData"][0]["Value"], json!("NaN"), "refused by the shape, not dropped");
        assert!(json["MetricData"][0].get("Unit").is_none());
        assert_eq!(to_json(b"").unwrap(), json!({}));
        assert_eq!(to_json(&[0x83, 1, 2, 3]).unwrap_err().code, "SerializationException");
        assert_eq!(to_json(&[0xff, 0x00]).unwrap_err().code, "SerializationException");
    }
}
