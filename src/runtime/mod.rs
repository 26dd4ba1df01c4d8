//! Executing optimized graphs: the executable plan, kernel launches and their buffers.

pub mod executable;
pub mod launch;

pub use executable::{cpu_backend, Executable};
