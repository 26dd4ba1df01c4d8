//! Matrix products on a device: cuBLAS when the device's runtime has it, else the tiled
//! generated kernel (a shared-memory GEMM rendered from the kernel IR, see
//! `ember_codegen::cuda::gemm`), with the reason the library was not used.
//!
//! Operands are float matrices or stacks of them (`[..., m, k] @ [..., k, n]`, the batch axes
//! broadcast like NumPy's). Both engines read strided views as they are (transposed operands,
//! a right operand shared by the whole batch); cuBLAS needs one unit stride per matrix, so an
//! operand without one is first gathered to C order on the device (recorded in the ledger as
//! a device-side copy).
//!
//! The epilogue a plan fuses after a matmul (bias, activation, casts, extra outputs) is
//! stored by the tiled kernel itself when it can be (`ember_codegen::cuda::epilogue`): one
//! kernel computes the product and applies the epilogue to each element as it leaves the
//! registers, and the product never goes through device memory. After cuBLAS, or when the
//! epilogue does not fit the tiled kernel, it is its own generated kernel, and
//! [`DeviceMatMul::epilogue_apart`] says why.

use super::steps::{contiguous_on_device, device_output, matmul_kernel, DeviceKernel};
use super::{DeviceRuntime, LaunchArg};
use crate::error::{EmberError, Result};
use crate::tensor::Tensor;
use ember_codegen::cuda::blas::{self, BlasGemm, Strides};
use ember_codegen::cuda::epilogue;
use ember_ir::kernel::{reshape_strides, ArgId, Kernel};
use ember_ir::passes::fuse::KernelStep;
use ember_ir::shape::contiguous_strides;
use ember_ir::{DType, Device, NodeId, ValueType};
use std::sync::Arc;

/// How the product runs.
#[derive(Debug, Clone)]
enum Engine {
    /// `cublas<t>gemmStridedBatched`.
    Blas,
    /// The tiled generated kernel, and why cuBLAS is not used.
    Tiled(DeviceKernel, String),
}

/// The elementwise kernel a plan runs after a matrix product, offered to the tiled kernel.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// The kernel.
    pub kernel: &'a Kernel,
    /// Its input arguments bound to the product's result.
    pub product_args: &'a [ArgId],
    /// The types of the values its outputs make, in output-argument order.
    pub outs: &'a [ValueType],
}

/// A matrix product prepared for one device.
#[derive(Debug, Clone)]
pub struct DeviceMatMul {
    rt: Arc<dyn DeviceRuntime>,
    dtype: DType,
    /// The result's batch axes.
    batch: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
    out: ValueType,
    engine: Engine,
    /// The tiled kernel stores the epilogue: it takes the epilogue's other inputs after the
    /// operands and makes the epilogue's outputs instead of the product.
    fused: bool,
    /// Why the epilogue offered runs as a kernel of its own.
    apart: Option<String>,
}

impl DeviceMatMul {
    /// Prepares `a @ b` (types `a`, `b`, result `out`) on `rt`: cuBLAS when it is available
    /// and the sizes suit it, else the tiled kernel (compiled now). With an `epilogue`, the
    /// tiled kernel stores it when it can (see [`DeviceMatMul::fused`]).
    pub fn new(
        rt: Arc<dyn DeviceRuntime>,
        a: &ValueType,
        b: &ValueType,
        out: &ValueType,
        epilogue: Option<Epilogue<'_>>,
    ) -> Result<DeviceMatMul> {
        let (sa, sb, so) = (&a.shape, &b.shape, &out.shape);
        let float = out.dtype.is_float() && a.dtype == out.dtype && b.dtype == out.dtype;
        if sa.len() < 2 || sb.len() < 2 || so.len() < 2 || !float {
            return Err(EmberError::Value(format!(
                "plan error: a device matmul needs float operands of at least 2 dimensions, \
                 got {a} @ {b} -> {out}"
            )));
        }
        let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
        let batch = so[..so.len() - 2].to_vec();
        let nb: usize = batch.iter().product();
        let why_not_blas = match rt.blas() {
            Err(why) => Some(why),
            Ok(()) if k == 0 => Some("there is nothing to sum (k = 0)".to_string()),
            Ok(()) => {
                let c = |r: usize, col: usize| Strides {
                    batch: (r * col) as isize,
                    row: col as isize,
                    col: 1,
                };
                blas::plan(nb, m, k, n, c(m, k), c(k, n))
                    .is_none()
                    .then(|| "the sizes exceed cuBLAS's 32-bit dimensions".to_string())
            }
        };
        let (mut fused, mut apart) = (false, None);
        let engine = match why_not_blas {
            None => {
                apart = epilogue.map(|_| "cuBLAS computes the product".to_string());
                Engine::Blas
            }
            Some(why) => {
                let kernel = matmul_kernel(out.dtype, (!batch.is_empty()).then_some(nb), m, k, n);
                // The product with its epilogue when they combine and compile, else alone.
                let with = epilogue.map(|e| {
                    let k = epilogue::fuse(&kernel, e.kernel, e.product_args, &out.shape)?;
                    DeviceKernel::new(rt.clone(), &k, e.outs.to_vec())
                        .map_err(|err| format!("the combined kernel did not compile: {err}"))
                });
                let dk = match with {
                    Some(Ok(dk)) => {
                        fused = true;
                        dk
                    }
                    other => {
                        apart = other.and_then(Result::err);
                        DeviceKernel::new(rt.clone(), &kernel, vec![out.clone()])?
                    }
                };
                Engine::Tiled(dk, why)
            }
        };
        Ok(DeviceMatMul {
            rt,
            dtype: out.dtype,
            batch,
            m,
            k,
            n,
            out: out.clone(),
            engine,
            fused,
            apart,
        })
    }

    /// Whether the tiled kernel stores the epilogue offered to [`DeviceMatMul::new`]: then
    /// [`DeviceMatMul::run`] takes the epilogue's other inputs after the two operands and
    /// returns the epilogue's outputs.
    pub fn fused(&self) -> bool {
        self.fused
    }

    /// Why the epilogue offered to [`DeviceMatMul::new`] runs as a kernel of its own after the
    /// product (`None`: none was offered, or the tiled kernel stores it).
    pub fn epilogue_apart(&self) -> Option<&str> {
        self.apart.as_deref()
    }

    /// The device it runs on.
    pub fn device(&self) -> Device {
        self.rt.device()
    }

    /// Why the tiled kernel runs instead of cuBLAS (`None`: cuBLAS runs).
    pub fn fallback(&self) -> Option<&str> {
        match &self.engine {
            Engine::Blas => None,
            Engine::Tiled(_, why) => Some(why),
        }
    }

    /// The tiled kernel, when that is the engine.
    pub fn kernel(&self) -> Option<&Kernel> {
        match &self.engine {
            Engine::Blas => None,
            Engine::Tiled(k, _) => Some(k.kernel()),
        }
    }

    /// `a @ b` for device tensors of the prepared types (`operands`: `a`, `b`, then, when the
    /// epilogue is [`fused`](DeviceMatMul::fused), the epilogue's other inputs in order): the
    /// product, or the epilogue's outputs; fresh C-contiguous tensors.
    pub fn run(&self, operands: &[&Tensor]) -> Result<Vec<Tensor>> {
        let [a, b, rest @ ..] = operands else {
            return Err(EmberError::Backend("a matmul needs two operands".into()));
        };
        let full = |r: usize, c: usize| -> Vec<usize> {
            self.batch.iter().copied().chain([r, c]).collect()
        };
        // The batch axes broadcast as views (stride 0): no copy.
        let a = crate::eager::movement::broadcast(a, &full(self.m, self.k))?;
        let b = crate::eager::movement::broadcast(b, &full(self.k, self.n))?;
        match &self.engine {
            Engine::Tiled(k, _) => {
                let ins: Vec<&Tensor> = [&a, &b].into_iter().chain(rest.iter().copied()).collect();
                k.run(&ins)
            }
            Engine::Blas => Ok(vec![self.run_blas(&a, &b)?]),
        }
    }

    fn run_blas(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let out = device_output(self.rt.as_ref(), &self.out)?;
        if out.numel() == 0 {
            return Ok(out);
        }
        let nb: usize = self.batch.iter().product();
        let (m, k, n) = (self.m, self.k, self.n);
        let (mut a, mut b) = (a.clone(), b.clone());
        let mut g = self.plan(&a, &b, nb);
        if g.is_none() {
            // An operand without a unit stride: gathered to C order, which cuBLAS reads.
            for (t, left) in [(&mut a, true), (&mut b, false)] {
                if !self.plan_one(t, nb, left).1 {
                    *t = contiguous_on_device(t)?;
                }
            }
            g = self.plan(&a, &b, nb);
        }
        let g = g.ok_or_else(|| {
            EmberError::Backend(format!(
                "no cuBLAS call for a {nb} x {m}x{k} @ {k}x{n} product of {}",
                self.dtype
            ))
        })?;
        self.rt
            .gemm(self.dtype, &g, &arg(&a)?, &arg(&b)?, &arg(&out)?)?;
        Ok(out)
    }

    /// The cuBLAS call for `a @ b` as they are laid out, if cuBLAS can read them.
    fn plan(&self, a: &Tensor, b: &Tensor, nb: usize) -> Option<BlasGemm> {
        let (sa, _) = self.plan_one(a, nb, true);
        let (sb, _) = self.plan_one(b, nb, false);
        blas::plan(nb, self.m, self.k, self.n, sa, sb)
    }

    /// The strides of `t` (the `left` or the right operand) as a stack of `nb` matrices, and
    /// whether cuBLAS can read it (asked with a C-order partner). A layout that is not a
    /// stack of strided matrices gets strides no plan accepts.
    fn plan_one(&self, t: &Tensor, nb: usize, left: bool) -> (Strides, bool) {
        let (m, k, n) = (self.m, self.k, self.n);
        let (r, c) = if left { (m, k) } else { (k, n) };
        let strides = |s: &[isize]| Strides {
            batch: s[0],
            row: s[1],
            col: s[2],
        };
        let s = reshape_strides(t.shape(), &t.strides(), &[nb, r, c])
            .map_or(strides(&[-1, -1, -1]), |s| strides(&s));
        let (pr, pc) = if left { (k, n) } else { (m, k) };
        let partner = strides(&contiguous_strides(&[nb, pr, pc]));
        let ok = if left {
            blas::plan(nb, m, k, n, s, partner)
        } else {
            blas::plan(nb, m, k, n, partner, s)
        };
        (s, ok.is_some())
    }
}

/// The input arguments of epilogue `e` bound to the matmul's result `out`.
pub fn product_args(e: &KernelStep, out: NodeId) -> Vec<ArgId> {
    let inputs = e.kernel.args.iter().enumerate().filter(|(_, a)| !a.output);
    inputs
        .zip(&e.inputs)
        .filter(|(_, &v)| v == out)
        .map(|((i, _), _)| i as ArgId)
        .collect()
}

/// A device tensor as an argument of a library call (its memory and element offset).
fn arg(t: &Tensor) -> Result<LaunchArg> {
    let b = t.buffer()?;
    let mem = b
        .storage
        .device_memory()
        .ok_or_else(|| EmberError::Backend("a device tensor without device memory".into()))?;
    Ok(LaunchArg {
        mem: mem.clone(),
        offset: b.offset,
        strides: b.strides.to_vec(),
    })
}
