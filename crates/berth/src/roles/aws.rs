//! What the client commands (`berth exec`, `berth logs`) share to call Berth's AWS APIs: the SDK configuration
//! from the aws CLI's environment and files, and errors worded as `Code: message`.

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};

/// The SDK configuration a user's aws CLI would use (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, profiles ...).
pub async fn config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// A failed call as `Code: message` when the server answered with an AWS error, else the SDK's own account of
/// what went wrong (no connection, a timeout ...), naming the operation.
pub fn api_error<E>(operation: &str, error: E) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => anyhow::anyhow!("{code}: {message}"),
        _ => anyhow::anyhow!("{operation} failed: {}", DisplayErrorContext(&error)),
    }
}
