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
    /// A sequence length is outside `1..=T`: `len` as the caller gave it (a `usize` or a
    /// file's int64, both exact in an i128).
    #[error("sequence length {len} for batch entry {index} is outside 1..={steps}")]
    Length { index: usize, len: i128, steps: usize },
    /// A size exceeds what the engine or adapter supports.
    #[error("too large: {0}")]
    TooLarge(String),
    /// A file could not be read or parsed.
    #[error("{path}: {why}")]
    File { path: String, why: String },
    /// No GPU adapter is available and the caller demanded one.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// wgpu reported an error while the engine was doing `during`: validation, out of memory,
    /// an internal error, or a failed request, mapping or poll. `source` keeps wgpu's error.
    #[error("GPU error while {during}: {source}")]
    Gpu { during: String, source: GpuFault },
    /// A training step met a NaN or infinity in the loss or a gradient. The step was not
    /// applied: the weights and optimizer state are as they were before it.
    #[error("training step {step}: {tensor} is not finite (NaN or infinity); the step was not applied")]
    NonFinite { step: u64, tensor: String },
    /// The device was lost (destroyed, or the driver gave it up). Models on it cannot run again:
    /// make a new engine.
    #[error("GPU device lost while {during}: {reason}")]
    DeviceLost { during: String, reason: String },
}

/// The wgpu failure behind an [`Error::Gpu`], kept as wgpu reported it.
#[derive(Debug, Error)]
pub enum GpuFault {
    /// Caught in an error scope: validation, out of memory or internal.
    #[error(transparent)]
    Scope(#[from] wgpu::Error),
    /// The adapter refused to make a device.
    #[error(transparent)]
    RequestDevice(#[from] wgpu::RequestDeviceError),
    /// A buffer could not be mapped for reading.
    #[error(transparent)]
    Map(#[from] wgpu::BufferAsyncError),
    /// A mapped buffer's range could not be read.
    #[error(transparent)]
    MapRange(#[from] wgpu::MapRangeError),
    /// Waiting for the device failed.
    #[error(transparent)]
    Poll(#[from] wgpu::PollError),
    /// A readback that never completed.
    #[error("the mapping did not complete within {seconds} s")]
    MapTimeout { seconds: u64 },
    /// An error no scope caught, reported by the device's uncaptured-error handler since the
    /// call before (in a browser: work recorded outside an async call, such as creating a model).
    #[error("{0}")]
    Uncaptured(String),
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
    /// An [`Error::Gpu`] for `source`, met while doing `during`.
    pub(crate) fn gpu(during: impl Into<String>, source: impl Into<GpuFault>) -> Self {
        Error::Gpu { during: during.into(), source: source.into() }
    }
}

/// Reads the file at `path` and parses its bytes with `parse`; a file error (from reading or
/// from parsing the bytes) names the path.
pub(crate) fn parse_file<T>(path: &std::path::Path, parse: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
    let at = |why: String| Error::File { path: path.display().to_string(), why };
    let bytes = std::fs::read(path).map_err(|e| at(e.to_string()))?;
    parse(&bytes).map_err(|e| match e {
        Error::File { why, .. } => at(why),
        other => other,
    })
}
