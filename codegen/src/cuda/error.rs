//! Errors of the CUDA backend. They convert into [`crate::CodegenError::Cuda`], so every
//! public function returns the crate's `Result`.

use thiserror::Error;

/// What the CUDA backend can report. None of these is a panic: a missing driver or NVRTC, a
/// kernel NVRTC rejects and a failing driver call all come back as values.
#[derive(Debug, Error)]
pub enum CudaError {
    /// No CUDA driver library could be loaded, so there are no CUDA devices.
    #[error("no CUDA driver found (looked for {}); CUDA devices are unavailable on this machine", .looked_for.join(", "))]
    NoDriver {
        /// The library names tried.
        looked_for: Vec<String>,
    },
    /// NVRTC (the run-time CUDA compiler) could not be found or loaded.
    #[error("NVRTC not found: {why}. Looked in: {}. Install the `nvidia-cuda-nvrtc-cu12` wheel into the project's .venv (scripts/setup.sh does) or set EMBER_NVRTC_PATH to libnvrtc.so.12", .looked_in.join(", "))]
    NoNvrtc {
        /// Why the search failed.
        why: String,
        /// The places searched.
        looked_in: Vec<String>,
    },
    /// cuBLAS could not be found or loaded (matrix products use the tiled kernel instead).
    #[error("cuBLAS is not available: {0}")]
    NoCublas(String),
    /// NVRTC rejected a kernel: its log and the source it was given.
    #[error("NVRTC could not compile kernel {kernel} ({status}) with options {options:?}\n--- NVRTC log ---\n{log}\n--- source ---\n{code}")]
    Compile {
        /// The kernel's name.
        kernel: String,
        /// NVRTC's status code.
        status: String,
        /// The options passed.
        options: Vec<String>,
        /// NVRTC's log.
        log: String,
        /// The CUDA C source.
        code: String,
    },
    /// A CUDA driver call failed.
    #[error("CUDA driver error in {call}: {msg}")]
    Driver {
        /// What was being done.
        call: String,
        /// The driver's message.
        msg: String,
    },
    /// A kernel construct or request the CUDA backend cannot handle.
    #[error("unsupported by the CUDA backend: {0}")]
    Unsupported(String),
    /// Reading or writing the on-disk kernel cache failed.
    #[error("CUDA kernel cache at {path}: {msg}")]
    Cache {
        /// The file or directory.
        path: String,
        /// What went wrong.
        msg: String,
    },
}

impl CudaError {
    /// A [`CudaError::Driver`] from a failed call.
    pub fn driver(call: &str, e: impl std::fmt::Display) -> Self {
        CudaError::Driver {
            call: call.into(),
            msg: e.to_string(),
        }
    }
}
