//! Executing optimized graphs: the executable plan, kernel launches and their buffers.

pub mod device;
pub mod devices;
pub mod executable;
mod gemm_epilogue;
pub mod launch;
mod layout;
pub mod transfers;

pub use devices::{check_device, devices};
pub use executable::{cpu_backend, Executable};
