//! The crate's one error type: every invalid input and every GPU failure comes back as a value.

use thiserror::Error;

/// Everything that can go wrong in wgpu-rnn. Each variant names the problem precisely.
#[derive(Debug, Error)]
pub enum Error {
    /// A tensor has the wrong shape or element count.
    #[error("shape mismatch for `{name}`: expected {expected}, got {got}")]
    Shape { name: String, expected: String, got: String },
    /// A required tensor is missing from a weights or case file.
    #[error("missing tensor `{0}`")]
    MissingTensor(String),
    /// A tensor has an unsupported element type.
    #[error("tensor `{name}` has dtype {dtype}, expected {expected}")]
    DType { name: String, dtype: String, expected: String },
    /// A configuration value is invalid (unknown activation, bad direction, ...).
    #[error("invalid {what}: {why}")]
    Invalid { what: String, why: String },
    /// A sequence length is outside `1..=T`.
    #[error("sequence length {len} for batch entry {index} is outside 1..={steps}")]
    Length { index: usize, len: i64, steps: usize },
    /// A size exceeds what the engine or adapter supports.
    #[error("too large: {0}")]
    TooLarge(String),
    /// A file could not be read or parsed.
    #[error("{path}: {why}")]
    File { path: String, why: String },
    /// No GPU adapter is available and the caller demanded one.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// wgpu reported an error (validation, out of memory, device loss, mapping).
    #[error("GPU error: {0}")]
    Gpu(String),
}

/// Shorthand for `Result<T, wgpu_rnn::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Invalid`] naming what is wrong and why.
    pub fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), why: why.into() }
    }
    pub(crate) fn shape(name: impl Into<String>, expected: impl ToString, got: impl ToString) -> Self {
        Error::Shape { name: name.into(), expected: expected.to_string(), got: got.to_string() }
    }
}
