//! Typed errors of the backends.

use thiserror::Error;

/// Everything code generation and kernel launch can report. None of these is a panic: a
/// kernel Cranelift rejects comes back as [`CodegenError::Compile`] with the kernel's text.
#[derive(Debug, Error)]
pub enum CodegenError {
    /// The kernel failed the IR verifier.
    #[error("invalid kernel: {0}")]
    Kernel(#[from] ember_ir::IrError),
    /// A construct this backend cannot lower.
    #[error("unsupported by the CPU backend: {0}")]
    Unsupported(String),
    /// Cranelift rejected the generated function.
    #[error("cranelift could not compile kernel: {msg}\n{kernel}")]
    Compile {
        /// Cranelift's message.
        msg: String,
        /// The kernel's text form.
        kernel: String,
    },
    /// The JIT module failed (declaring, defining or finalizing a function).
    #[error("JIT module error: {0}")]
    Module(String),
    /// The host machine could not be targeted.
    #[error("cannot target this host: {0}")]
    Isa(String),
    /// Arguments passed to a kernel or GEMM do not match what it expects.
    #[error("bad arguments: {0}")]
    Args(String),
    /// The CUDA backend failed (no driver or NVRTC, an NVRTC compile error, a driver call).
    #[error(transparent)]
    Cuda(#[from] crate::cuda::CudaError),
    /// A bug in the backend (an invariant the verifier should have guaranteed).
    #[error("internal code generation error: {0}")]
    Internal(String),
}

/// Result alias of the codegen crate.
pub type Result<T, E = CodegenError> = std::result::Result<T, E>;
