//! The `ember` crate's error type. Every fallible public function returns [`Result`].

use ember_ir::IrError;
use thiserror::Error;

/// What went wrong, with enough context to tell the user which argument and what was
/// expected. The Python layer maps each variant to a Python exception class.
#[derive(Debug, Clone, Error)]
pub enum EmberError {
    /// Shape, dtype or axis errors found by type inference (shared with the IR).
    #[error(transparent)]
    Ir(#[from] IrError),
    /// An argument of the wrong type or dtype (Python `TypeError`).
    #[error("{0}")]
    Type(String),
    /// An argument with a bad value (Python `ValueError`).
    #[error("{0}")]
    Value(String),
    /// An index out of range (Python `IndexError`).
    #[error("{0}")]
    Index(String),
    /// Tracing met something it cannot record; the message says what and where.
    #[error("{0}")]
    Trace(String),
    /// A backend failed to compile or run a kernel.
    #[error("backend error: {0}")]
    Backend(String),
    /// A device is unavailable or failed.
    #[error("device error: {0}")]
    Device(String),
    /// Memory for a buffer could not be allocated (Python `MemoryError`).
    #[error("{0}")]
    OutOfMemory(String),
    /// An implicit copy or transfer refused by the transfer guard.
    #[error("{0}")]
    Transfer(String),
    /// A value (after integer overflow checks) does not fit the target dtype (Python
    /// `OverflowError`).
    #[error("{0}")]
    Overflow(String),
}

/// Result alias of the `ember` crate.
pub type Result<T, E = EmberError> = std::result::Result<T, E>;

/// Builds an [`EmberError::Type`] from format arguments.
#[macro_export]
macro_rules! type_err {
    ($($t:tt)*) => { $crate::error::EmberError::Type(format!($($t)*)) };
}

/// Builds an [`EmberError::Value`] from format arguments.
#[macro_export]
macro_rules! value_err {
    ($($t:tt)*) => { $crate::error::EmberError::Value(format!($($t)*)) };
}
