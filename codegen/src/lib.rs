//! # ember-codegen
//!
//! Kernel IR ([`ember_ir::kernel`]) to executable code. [`cpu`] lowers kernels to Cranelift IR,
//! JIT-compiles them with explicit SIMD and runs them over a thread pool; it also wraps a
//! multithreaded GEMM for matmul steps. Errors are [`CodegenError`].

pub mod cpu;
pub mod cuda;
pub mod error;

pub use error::{CodegenError, Result};
