//! ECR's exceptions, and the one mapping from [`RegistryError`] to them.

use crate::error::RegistryError;
use crate::manifest::ManifestError;

macro_rules! ecr_errors {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// An ECR operation's failure: an exception name from the ECR model (or the AWS JSON protocol) and a
        /// message. Every one is an HTTP 400 except `ServerException` (500).
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        pub enum EcrError {
            $(
                $(#[$doc])*
                #[error("{message}")]
                $variant {
                    /// The message for the client.
                    message: String,
                },
            )*
        }

        impl EcrError {
            /// The exception shape name (`__type`), e.g. `RepositoryNotFoundException`.
            pub fn exception(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => $name,)*
                }
            }

            /// The message for the client.
            pub fn message(&self) -> String {
                match self {
                    $(Self::$variant { message } => message.clone(),)*
                }
            }
        }
    };
}

ecr_errors! {
    /// The operation is not an ECR operation (the front door answers `UnknownOperationException`).
    UnknownOperation => "UnknownOperationException",
    /// The request body is not valid JSON of the operation's input shape.
    Serialization => "SerializationException",
    /// The request is valid but asks for something Berth does not implement, or breaks a model constraint.
    Validation => "ValidationException",
    /// A parameter is invalid.
    InvalidParameter => "InvalidParameterException",
    /// A resource tag is invalid.
    InvalidTagParameter => "InvalidTagParameterException",
    /// Too many resource tags.
    TooManyTags => "TooManyTagsException",
    /// The repository does not exist.
    RepositoryNotFound => "RepositoryNotFoundException",
    /// The repository already exists.
    RepositoryAlreadyExists => "RepositoryAlreadyExistsException",
    /// The repository still contains images.
    RepositoryNotEmpty => "RepositoryNotEmptyException",
    /// The image does not exist.
    ImageNotFound => "ImageNotFoundException",
    /// The image was already pushed with this tag.
    ImageAlreadyExists => "ImageAlreadyExistsException",
    /// The tag exists and is immutable.
    ImageTagAlreadyExists => "ImageTagAlreadyExistsException",
    /// The given digest does not match the manifest.
    ImageDigestDoesNotMatch => "ImageDigestDoesNotMatchException",
    /// The manifest references layers the repository does not hold.
    LayersNotFound => "LayersNotFoundException",
    /// The index references images the repository does not hold.
    ReferencedImagesNotFound => "ReferencedImagesNotFoundException",
    /// The layer already exists.
    LayerAlreadyExists => "LayerAlreadyExistsException",
    /// The uploaded layer's digest does not match.
    InvalidLayer => "InvalidLayerException",
    /// A layer part is out of order or malformed.
    InvalidLayerPart => "InvalidLayerPartException",
    /// The upload does not exist.
    UploadNotFound => "UploadNotFoundException",
    /// The upload is empty.
    EmptyUpload => "EmptyUploadException",
    /// The layer cannot be downloaded.
    LayerInaccessible => "LayerInaccessibleException",
    /// The repository has no lifecycle policy.
    LifecyclePolicyNotFound => "LifecyclePolicyNotFoundException",
    /// No lifecycle preview was run.
    LifecyclePolicyPreviewNotFound => "LifecyclePolicyPreviewNotFoundException",
    /// A lifecycle preview is running.
    LifecyclePolicyPreviewInProgress => "LifecyclePolicyPreviewInProgressException",
    /// The image was not scanned.
    ScanNotFound => "ScanNotFoundException",
    /// The image type cannot be scanned.
    UnsupportedImageType => "UnsupportedImageTypeException",
    /// A limit was exceeded.
    LimitExceeded => "LimitExceededException",
    /// No pull-through cache rule has this prefix.
    PullThroughCacheRuleNotFound => "PullThroughCacheRuleNotFoundException",
    /// A pull-through cache rule already has this prefix.
    PullThroughCacheRuleAlreadyExists => "PullThroughCacheRuleAlreadyExistsException",
    /// The upstream registry is not one ECR (or the operator) allows.
    UnsupportedUpstreamRegistry => "UnsupportedUpstreamRegistryException",
    /// The rule's Secrets Manager secret does not exist.
    SecretNotFound => "SecretNotFoundException",
    /// The rule's secret cannot be read.
    UnableToAccessSecret => "UnableToAccessSecretException",
    /// The rule's secret cannot be decrypted (or, in Berth, does not hold the credentials' JSON).
    UnableToDecryptSecretValue => "UnableToDecryptSecretValueException",
    /// No repository creation template has this prefix.
    TemplateNotFound => "TemplateNotFoundException",
    /// A repository creation template already has this prefix.
    TemplateAlreadyExists => "TemplateAlreadyExistsException",
    /// The repository has no policy.
    RepositoryPolicyNotFound => "RepositoryPolicyNotFoundException",
    /// The registry has no policy.
    RegistryPolicyNotFound => "RegistryPolicyNotFoundException",
    /// The principal is already excluded from pull-time updates.
    ExclusionAlreadyExists => "ExclusionAlreadyExistsException",
    /// The principal is not excluded from pull-time updates.
    ExclusionNotFound => "ExclusionNotFoundException",
    /// The storage class change is not supported for this image.
    ImageStorageClassUpdateNotSupported => "ImageStorageClassUpdateNotSupportedException",
    /// The image is archived (and so cannot be scanned).
    ImageArchived => "ImageArchivedException",
    /// The registry has no signing configuration.
    SigningConfigurationNotFound => "SigningConfigurationNotFoundException",
    /// The server failed.
    Server => "ServerException",
}

impl EcrError {
    /// The HTTP status of the error.
    pub fn status(&self) -> u16 {
        if matches!(self, EcrError::Server { .. }) { 500 } else { 400 }
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> EcrError {
    EcrError::InvalidParameter { message: message.into() }
}

impl From<RegistryError> for EcrError {
    fn from(e: RegistryError) -> Self {
        use RegistryError as R;
        let message = e.to_string();
        match e {
            R::RepositoryNotFound { .. } => EcrError::RepositoryNotFound { message },
            R::RepositoryAlreadyExists { .. } => EcrError::RepositoryAlreadyExists { message },
            R::RepositoryNotEmpty { .. } => EcrError::RepositoryNotEmpty { message },
            R::InvalidName { .. } | R::InvalidTag { .. } | R::InvalidDigest(_) | R::InvalidParameter { .. } => {
                EcrError::InvalidParameter { message }
            }
            R::UploadUnknown { .. } => EcrError::UploadNotFound { message },
            R::RangeInvalid { .. } | R::SizeInvalid { .. } => EcrError::InvalidLayerPart { message },
            R::DigestMismatch { .. } => EcrError::InvalidLayer { message },
            R::EmptyUpload { .. } => EcrError::EmptyUpload { message },
            R::Manifest(ManifestError::TooLarge { .. }) => EcrError::InvalidParameter { message },
            R::Manifest(_) => EcrError::InvalidParameter { message },
            R::ManifestBlobUnknown { .. } => EcrError::LayersNotFound { message },
            R::ReferencedManifestUnknown { .. } => EcrError::ReferencedImagesNotFound { message },
            R::ManifestUnknown { .. } => EcrError::ImageNotFound { message },
            R::BlobUnknown { .. } => EcrError::LayerInaccessible { message },
            R::TagImmutable { .. } => EcrError::ImageTagAlreadyExists { message },
            R::ImageAlreadyExists { .. } => EcrError::ImageAlreadyExists { message },
            R::ReferencedByIndex { .. } => EcrError::InvalidParameter { message },
            R::Unauthorized { .. } | R::Denied { .. } => EcrError::InvalidParameter { message },
            R::Contention { .. } | R::LimitExceeded { .. } => EcrError::LimitExceeded { message },
            R::Upstream { .. } => EcrError::Server { message },
            R::Quarantined { .. } => {
                tracing::error!(error = %message, "ECR operation refused");
                EcrError::Server { message }
            }
            R::Store(_) | R::Storage(_) | R::Record { .. } | R::Io { .. } => {
                tracing::error!(error = %message, "ECR operation failed");
                EcrError::Server { message: "an internal error occurred".into() }
            }
        }
    }
}

impl From<crate::error::ConfigProblem> for EcrError {
    fn from(problem: crate::error::ConfigProblem) -> EcrError {
        match problem {
            crate::error::ConfigProblem::Constraint(m) => {
                EcrError::Validation { message: format!("1 validation error detected: {m}") }
            }
            crate::error::ConfigProblem::Invalid(m) => EcrError::InvalidParameter { message: m },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_have_model_names_and_statuses() {
        let e: EcrError = RegistryError::RepositoryNotFound { name: "x".into() }.into();
        assert_eq!(e.exception(), "RepositoryNotFoundException");
        assert_eq!(e.status(), 400);
        assert!(e.message().contains("'x'"));
        let s = EcrError::Server { message: "m".into() };
        assert_eq!((s.exception(), s.status()), ("ServerException", 500));
        let t: EcrError = RegistryError::TagImmutable { name: "r".into(), tag: "t".into() }.into();
        assert_eq!(t.exception(), "ImageTagAlreadyExistsException");
    }
}
