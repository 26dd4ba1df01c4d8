//! Executing optimized graphs: the executable plan and its buffers.

pub mod executable;

pub use executable::Executable;
