//! Wire protocols: AWS JSON 1.0 and 1.1, Smithy RPC v2 CBOR, and AWS query (form requests, XML responses).

pub mod cbor;
pub mod json11;
pub mod query;

/// The content type of AWS JSON 1.0 requests and responses (CloudWatch); bodies are as in [`json11`].
pub const JSON10_CONTENT_TYPE: &str = "application/x-amz-json-1.0";
