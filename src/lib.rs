//! # ember
//!
//! A graph compiler with eager fallback. [`Tensor`]s run NumPy-like operations eagerly;
//! [`jit`] traces a function of tensors into an IR graph, optimizes and compiles it, and
//! caches the result by signature.

pub mod element;
pub mod eager;
pub mod error;
pub mod storage;
pub mod tensor;
pub mod trace;

pub use element::Element;
pub use error::{EmberError, Result};
pub use ember_ir as ir;
pub use ember_ir::{DType, Device, Scalar};
pub use tensor::Tensor;
