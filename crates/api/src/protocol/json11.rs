//! AWS JSON 1.1 bodies: decoding into the model's request shapes with errors that name the member, and encoding.

use crate::error::ApiError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The content type of AWS JSON 1.1 requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Decodes a request body. An empty body is an empty object. Malformed JSON and wrong member types are
/// `SerializationException`; a missing required member or a value outside an enumeration is
/// `InvalidParameterException`; both name the member's path.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    // Every AWS JSON request is an object; serde would also accept a struct written as an array.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::serialization("Malformed JSON request body: the body must be a JSON object."));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." { String::new() } else { format!(" at '{path}'") };
        let text = inner.to_string();
        match inner.classify() {
            serde_json::error::Category::Data
                if text.starts_with("missing field") || text.starts_with("unknown variant") =>
            {
                ApiError::bad_request("InvalidParameterException", format!("Invalid request{at}: {text}"))
            }
            serde_json::error::Category::Data => ApiError::serialization(format!("Invalid request{at}: {text}")),
            _ => ApiError::serialization(format!("Malformed JSON request body: {text}")),
        }
    })?;
    de.end().map_err(|e| ApiError::serialization(format!("Malformed JSON request body: {e}")))?;
    Ok(value)
}

/// Encodes a response body.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::ecs::{ListTasksRequest, RegisterTaskDefinitionRequest, RunTaskRequest};

    #[test]
    fn empty_body_is_an_empty_object() {
        let req: ListTasksRequest = decode(b"").unwrap();
        assert!(req.cluster.is_none());
    }

    #[test]
    fn wrong_types_name_the_member() {
        let err = decode::<RunTaskRequest>(br#"{"taskDefinition": "web", "count": "two"}"#).unwrap_err();
        assert_eq!(err.code, "SerializationException");
        assert!(err.message.contains("count"), "{}", err.message);
        let err = decode::<RunTaskRequest>(
            br#"{"taskDefinition": "web", "overrides": {"containerOverrides": [{"cpu": "x"}]}}"#,
        )
        .unwrap_err();
        assert!(err.message.contains("overrides.containerOverrides[0].cpu"), "{}", err.message);
    }

    #[test]
    fn malformed_json_and_trailing_garbage() {
        assert_eq!(decode::<ListTasksRequest>(b"{").unwrap_err().code, "SerializationException");
        assert_eq!(decode::<ListTasksRequest>(b"{} x").unwrap_err().code, "SerializationException");
        assert_eq!(decode::<ListTasksRequest>(b"[]").unwrap_err().code, "SerializationException");
    }

    #[test]
    fn missing_required_and_bad_enum_are_invalid_parameters() {
        let err = decode::<RegisterTaskDefinitionRequest>(br#"{"family": "web"}"#).unwrap_err();
        assert_eq!(err.code, "InvalidParameterException");
        assert!(err.message.contains("containerDefinitions"), "{}", err.message);
        let err = decode::<ListTasksRequest>(br#"{"desiredStatus": "SLEEPING"}"#).unwrap_err();
        assert_eq!(err.code, "InvalidParameterException");
        assert!(err.message.contains("desiredStatus"), "{}", err.message);
    }
}
