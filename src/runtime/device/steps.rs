//! Running kernels on a device with tensors: binding device tensors to kernel arguments,
//! allocating outputs in device memory, and the generated kernels the device needs besides
//! the fused ones (the tiled matrix product's kernel, a gather to C order).

use super::{DeviceRuntime, LaunchArg, PreparedKernel};
use crate::error::{EmberError, Result};
use crate::profile::Direction;
use crate::runtime::transfers;
use crate::storage::Storage;
use crate::tensor::Tensor;
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::{reshape_strides, Kernel};
use ember_ir::shape::contiguous_strides;
use ember_ir::{DType, ReduceOp, ValueType};
use std::sync::Arc;

/// A kernel prepared for one device and the types of the values it writes.
#[derive(Debug, Clone)]
pub struct DeviceKernel {
    rt: Arc<dyn DeviceRuntime>,
    prepared: Arc<dyn PreparedKernel>,
    outs: Vec<ValueType>,
}

impl DeviceKernel {
    /// Prepares (compiles) `kernel` on `rt`; its output arguments make values of `outs`.
    pub fn new(rt: Arc<dyn DeviceRuntime>, kernel: &Kernel, outs: Vec<ValueType>) -> Result<Self> {
        let prepared = rt.prepare(kernel)?;
        Ok(DeviceKernel { rt, prepared, outs })
    }

    /// The device it runs on.
    pub fn device(&self) -> ember_ir::Device {
        self.rt.device()
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        self.prepared.kernel()
    }

    /// Runs the kernel with `inputs` (device tensors on this device) bound to its input
    /// arguments in order; returns its outputs, fresh device tensors in C order.
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let k = self.prepared.kernel();
        let outs: Vec<Tensor> = self
            .outs
            .iter()
            .map(|ty| device_output(self.rt.as_ref(), ty))
            .collect::<Result<_>>()?;
        if outs.iter().all(|t| t.numel() == 0) {
            return Ok(outs);
        }
        let mut args = Vec::with_capacity(k.args.len());
        let (mut ins, mut os) = (inputs.iter(), outs.iter());
        for (i, decl) in k.args.iter().enumerate() {
            let t = if decl.output {
                os.next()
            } else {
                ins.next().copied()
            };
            let t = t.ok_or_else(|| arg_error(k, i, "missing value"))?;
            if let Some(why) = crate::runtime::launch::arg_mismatch(decl, t) {
                return Err(arg_error(k, i, &why));
            }
            // A layout the kernel cannot view is gathered to C order first (which any
            // argument shape can view).
            let (t, strides) = match reshape_strides(t.shape(), &t.strides(), &decl.shape) {
                Some(s) => (t.clone(), s),
                None => (
                    contiguous_on_device(t)?,
                    contiguous_strides(&decl.shape).to_vec(),
                ),
            };
            args.push(self.bind(&t, strides, i)?);
        }
        self.rt.launch(self.prepared.as_ref(), &args)?;
        Ok(outs)
    }

    fn bind(&self, t: &Tensor, strides: Vec<isize>, i: usize) -> Result<LaunchArg> {
        let k = self.prepared.kernel();
        if t.device() != self.rt.device() {
            return Err(arg_error(
                k,
                i,
                &format!(
                    "a value on {} bound to a kernel on {}",
                    t.device(),
                    self.rt.device()
                ),
            ));
        }
        let b = t.buffer()?;
        let mem = b
            .storage
            .device_memory()
            .ok_or_else(|| arg_error(k, i, "a device tensor without device memory"))?;
        Ok(LaunchArg {
            mem: mem.clone(),
            offset: b.offset,
            strides,
        })
    }
}

fn arg_error(k: &Kernel, i: usize, why: &str) -> EmberError {
    EmberError::Backend(format!("kernel {} argument {i}: {why}", k.name))
}

/// A fresh C-contiguous device tensor of type `ty` that a kernel will fill.
pub fn device_output(rt: &dyn DeviceRuntime, ty: &ValueType) -> Result<Tensor> {
    let mem = rt.alloc(ty.nbytes())?;
    Tensor::from_storage(ty.dtype, &ty.shape, Arc::new(Storage::on_device(mem)))
}

/// `t` (on a device) in C order, gathered by a generated kernel on the same device when its
/// layout is strided; recorded in the ledger as a device-side copy.
pub fn contiguous_on_device(t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() {
        return Ok(t.clone());
    }
    let rt = super::runtime(t.device())?;
    let k = DeviceKernel::new(
        rt,
        &gather_kernel(t.dtype(), t.shape()),
        vec![t.value_type().clone()],
    )?;
    let cause = format!(
        "a strided {} on {} gathered to C order",
        t.value_type(),
        t.device()
    );
    let bytes = t.value_type().nbytes();
    transfers::copy(
        bytes,
        Direction::DeviceToDevice,
        t.device(),
        &cause,
        false,
        || {
            // The gather's input argument has `t`'s own shape: any strides bind as they are.
            let mut out = k.run(&[t])?;
            out.pop()
                .ok_or_else(|| EmberError::Backend("gather kernel wrote nothing".into()))
        },
    )
}

/// `out[idx] = in[idx]` over `shape`: reads any strided view, writes C order.
pub fn gather_kernel(dtype: DType, shape: &[usize]) -> Kernel {
    let mut b = Builder::new("gather");
    let input = b.arg(dtype, shape, false);
    let output = b.arg(dtype, shape, true);
    let idx: Vec<_> = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| b.open_loop(n, d == 0))
        .collect();
    let v = b.load(input, &idx);
    b.store(output, &idx, v);
    b.finish()
}

/// `c = a @ b` for an `m x k` and a `k x n` matrix of `dtype`, or for `batch` of them
/// (arguments `[batch, m, k]`, `[batch, k, n]`, `[batch, m, n]`; a shared right operand binds
/// with batch stride 0). The CUDA backend renders this form as its tiled GEMM
/// (`ember_codegen::cuda::gemm`); other backends run the loops as written.
pub fn matmul_kernel(dtype: DType, batch: Option<usize>, m: usize, k: usize, n: usize) -> Kernel {
    let mut b = Builder::new("matmul");
    let dims = |r: usize, c: usize| -> Vec<usize> { batch.into_iter().chain([r, c]).collect() };
    let a = b.arg(dtype, &dims(m, k), false);
    let bm = b.arg(dtype, &dims(k, n), false);
    let c = b.arg(dtype, &dims(m, n), true);
    let bv = batch.map(|nb| b.open_loop(nb, true));
    let i = b.open_loop(m, bv.is_none());
    let j = b.open_loop(n, false);
    let acc = b.acc(ReduceOp::Sum, dtype);
    let p = b.open_loop(k, false);
    let at = |x, y| -> Vec<_> { bv.into_iter().chain([x, y]).collect() };
    let x = b.load(a, &at(i, p));
    let y = b.load(bm, &at(p, j));
    let xy = b.binary(ember_ir::BinaryOp::Mul, x, y);
    b.update(acc, xy);
    b.close_loop();
    b.store(c, &at(i, j), acc);
    b.close_loop();
    b.close_loop();
    if bv.is_some() {
        b.close_loop();
    }
    b.finish()
}
