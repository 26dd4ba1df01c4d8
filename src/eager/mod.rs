//! Reference kernels on ndarray: eager mode, the fallback path and the test oracle.

use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use ember_ir::{Op, ValueType};

/// Executes one primitive `op` on concrete `inputs`, producing a tensor of type `out`
/// (already inferred by `Op::infer`).
pub fn execute(op: &Op, inputs: &[&Tensor], out: &ValueType) -> Result<Tensor> {
    let _ = (inputs, out);
    Err(EmberError::Backend(format!("eager kernel for {} is being written", op.name())))
}
