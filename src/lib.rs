//! # ember
//!
//! A graph compiler with eager fallback. [`Tensor`]s run NumPy-like operations eagerly;
//! [`jit()`] traces a function of tensors into an IR graph, optimizes and compiles it, and
//! caches the result by signature.

pub mod builder;
pub mod eager;
pub mod element;
pub mod error;
pub mod jit;
pub mod ops;
pub mod pool;
pub mod profile;
pub mod runtime;
pub mod storage;
pub mod strided_copy;
pub mod tensor;
pub mod trace;
pub mod viz;

pub use element::Element;
pub use ember_codegen as codegen;
pub use ember_ir as ir;
pub use ember_ir::{DType, Device, Scalar};
pub use error::{EmberError, Result};
pub use jit::{jit, JitFn};
pub use tensor::Tensor;
