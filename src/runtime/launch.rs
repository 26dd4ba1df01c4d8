//! Running compiled kernels and GEMMs on tensors: binds tensors to kernel arguments (views with
//! strides, copies only when a layout cannot be viewed), allocates outputs, and checks every
//! size the unsafe launch relies on.

use crate::error::{EmberError, Result};
use crate::storage::Storage;
use crate::tensor::Tensor;
use ember_codegen::cpu::gemm::{
    batched_gemm_with, bool_matmul, int_matmul, BatchStrides, Epilogue, GemmScalar, IntScalar, Mat,
    MatMut,
};
use ember_codegen::cpu::{CompiledKernel, KernelArg};
use ember_ir::kernel::{reshape_strides, LoopNest};
use ember_ir::shape::contiguous_strides;
use ember_ir::{DType, ValueType};
use std::sync::{Arc, Mutex};

/// Re-looped compilations of one kernel (see [`super::layout`]), by loops.
type Variants = Mutex<Vec<(LoopNest, Arc<CompiledKernel>)>>;

/// At most this many re-looped compilations are kept per kernel (layouts seldom vary).
const MAX_VARIANTS: usize = 8;

/// A compiled kernel and the types of the values it writes.
#[derive(Debug, Clone)]
pub struct CpuKernel {
    compiled: Arc<CompiledKernel>,
    outs: Vec<ValueType>,
    /// The kernel's loops when it is elementwise or a one-phase reduction: it can run over
    /// other loops, to view operands whose layout its own loops cannot.
    nest: Option<LoopNest>,
    /// Whether its outputs may take the operands' memory order (NumPy's `order='K'`): set
    /// for kernels whose results nothing else in the plan reads.
    keep_order: bool,
    /// For a full reduction indifferent to the order it reads (see
    /// [`ember_ir::kernel::Kernel::flat_reduction`]): which arguments it reads along its loop.
    flat: Option<Vec<bool>>,
    /// Elementwise without math functions (no accumulator, no transcendental op): its
    /// scalar loop over 64-bit elements is about as fast as packing them first (see
    /// [`packs`]).
    light: bool,
    variants: Arc<Variants>,
}

impl CpuKernel {
    /// Wraps a compiled kernel whose output arguments produce values of types `outs`.
    pub fn new(compiled: Arc<CompiledKernel>, outs: Vec<ValueType>) -> Self {
        let same_shape = outs.windows(2).all(|w| w[0].shape == w[1].shape);
        let nest = (same_shape && !outs.is_empty())
            .then(|| compiled.kernel().loop_nest())
            .flatten();
        let flat = compiled.kernel().flat_reduction();
        let light = !compiled.kernel().body.iter().any(|i| match i {
            ember_ir::kernel::Inst::Acc { .. } => true,
            ember_ir::kernel::Inst::Unary { op, .. } => op.is_transcendental(),
            _ => false,
        });
        CpuKernel {
            compiled,
            outs,
            nest,
            keep_order: false,
            flat,
            light,
            variants: Arc::default(),
        }
    }

    /// The compiled kernel.
    pub fn compiled(&self) -> &CompiledKernel {
        &self.compiled
    }

    /// Lets an elementwise kernel or a reduction write its outputs in its operands' memory order (as NumPy
    /// does) instead of C order; the caller promises that only steps which take any strides
    /// read them (the plan's caller, views, CPU kernels).
    pub(crate) fn keep_operand_order(&mut self) {
        self.keep_order = true;
    }

    /// The kernel compiled over `loops` (cached), or `None` when that fails (the caller then
    /// runs the kernel as it is).
    fn variant(&self, loops: &LoopNest) -> Option<Arc<CompiledKernel>> {
        let mut v = self.variants.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = v.iter().find(|(l, _)| l == loops) {
            return Some(c.clone());
        }
        let kernel = self.compiled.kernel().relooped(loops).ok()?;
        let compiled = super::executable::cpu_backend()
            .ok()?
            .compile(&kernel)
            .ok()?;
        if v.len() >= MAX_VARIANTS {
            v.remove(0);
        }
        v.push((loops.clone(), compiled.clone()));
        Some(compiled)
    }
}

/// A fresh C-contiguous tensor whose every element the caller will write.
fn output_tensor(ty: &ValueType, near: Option<usize>) -> Result<Tensor> {
    let storage = Arc::new(Storage::for_overwrite_near(ty.nbytes(), near)?);
    Tensor::from_storage(ty.dtype, &ty.shape, storage)
}

/// The address of the first input with data: outputs are placed at its page offset.
fn first_input_address(inputs: &[&Tensor]) -> Option<usize> {
    inputs
        .iter()
        .find(|t| t.numel() > 0)
        .and_then(|t| t.data_ptr().ok())
        .map(|p| p as usize)
}

/// Runs a kernel over other loops than its own when an operand is not C-ordered (see
/// [`super::layout`]): an elementwise kernel or a reduction whose results only steps that
/// take any strides read runs over its operands' memory order and its outputs get NumPy's
/// `order='K'` strides; one whose results other steps read keeps C-ordered outputs but splits the
/// loops that an operand's layout cannot be viewed over (a kernel that merged axes assuming
/// C order, called with a transposed operand), instead of copying the operand; a full
/// reduction indifferent to order reads operands that share one dense layout as flat
/// arrays in memory order. `None` when the kernel runs as it is (copying what it cannot
/// view).
fn launch_relooped(k: &CpuKernel, inputs: &[&Tensor]) -> Result<Option<Vec<Tensor>>> {
    // C-ordered operands give a C-ordered result: nothing to plan (and nothing to allocate on
    // the cached-call path, W4).
    if inputs.iter().all(|t| t.is_contiguous()) {
        return Ok(None);
    }
    let decls = &k.compiled.kernel().args;
    let n_in = decls.iter().filter(|d| !d.output).count();
    if inputs.len() != n_in || inputs.iter().any(|t| t.is_traced()) {
        return Ok(None);
    }
    let layouts: Vec<(&[usize], crate::tensor::Strides)> =
        inputs.iter().map(|t| (t.shape(), t.strides())).collect();
    let viewable = || {
        decls
            .iter()
            .filter(|d| !d.output)
            .zip(inputs)
            .all(|(d, t)| reshape_strides(t.shape(), &t.strides(), &d.shape).is_some())
    };
    if let Some(loops) = &k.nest {
        let out_shape = &k.outs[0].shape;
        let plan = match k.keep_order {
            true => super::layout::plan(loops, decls, &layouts, out_shape, false),
            false => None,
        };
        let plan = match plan {
            None if !viewable() => super::layout::plan(loops, decls, &layouts, out_shape, true),
            p => p,
        };
        return match plan {
            Some(plan) => match k.variant(&plan.loops) {
                Some(compiled) => run_planned(k, &compiled, inputs, &plan).map(Some),
                None => Ok(None),
            },
            None => Ok(None),
        };
    }
    match &k.flat {
        Some(along) if !viewable() => launch_flat(k, inputs, along),
        _ => Ok(None),
    }
}

/// Runs `compiled` (`k` re-looped over `plan.loops`) with the plan's strides.
fn run_planned(
    k: &CpuKernel,
    compiled: &CompiledKernel,
    inputs: &[&Tensor],
    plan: &super::layout::Relayout,
) -> Result<Vec<Tensor>> {
    let near = first_input_address(inputs);
    let outs: Vec<Tensor> = k
        .outs
        .iter()
        .map(|ty| {
            let storage = Arc::new(Storage::for_overwrite_near(ty.nbytes(), near)?);
            Tensor::from_buffer(
                ty.dtype,
                &ty.shape,
                crate::tensor::Buffer {
                    storage,
                    strides: plan.out_strides.clone(),
                    offset: 0,
                },
            )
        })
        .collect::<Result<_>>()?;
    let new_decls = &compiled.kernel().args;
    let mut args = Vec::with_capacity(new_decls.len());
    let (mut next_in, mut next_out) = (0, 0);
    for (i, decl) in new_decls.iter().enumerate() {
        let t = if decl.output {
            next_out += 1;
            outs.get(next_out - 1)
        } else {
            next_in += 1;
            inputs.get(next_in - 1).copied()
        }
        .ok_or_else(|| arg_error(k, i, "missing argument"))?;
        if let Some(why) = arg_mismatch(decl, t) {
            return Err(arg_error(k, i, &why));
        }
        let strides = plan
            .strides
            .get(i)
            .filter(|s| s.len() == decl.shape.len())
            .ok_or_else(|| arg_error(k, i, "no strides for the re-looped kernel"))?;
        args.push(KernelArg::new(
            t.data_ptr()? as *mut u8,
            decl.dtype,
            strides,
        ));
    }
    // SAFETY: the plan gives every argument strides that view exactly its tensor's elements
    // over the new loops (the inputs' from their own layouts, checked by `reshape_strides`;
    // the outputs' from the permuted contiguous layout they were allocated with); element
    // counts and dtypes checked above; outputs are fresh and alias nothing.
    unsafe { compiled.run(&args) }.map_err(|e| EmberError::Backend(e.to_string()))?;
    Ok(outs)
}

/// Runs a full reduction indifferent to order (`along`: the arguments it reads along its
/// loop) over operands that share one dense layout, each read as a flat array from its
/// lowest address. `None` when they do not share one.
fn launch_flat(k: &CpuKernel, inputs: &[&Tensor], along: &[bool]) -> Result<Option<Vec<Tensor>>> {
    let decls = &k.compiled.kernel().args;
    let mut shared: Option<(&[usize], crate::tensor::Strides)> = None;
    let mut next_in = 0;
    for (decl, &a) in decls.iter().zip(along) {
        if decl.output {
            continue;
        }
        let t = inputs[next_in];
        next_in += 1;
        if !a {
            continue;
        }
        match &shared {
            Some((shape, st)) if *shape != t.shape() || *st != t.strides() => return Ok(None),
            Some(_) => {}
            None => shared = Some((t.shape(), t.strides())),
        }
    }
    let Some((shape, strides)) = shared else {
        return Ok(None);
    };
    let Some(base) = super::layout::dense_base(shape, &strides) else {
        return Ok(None);
    };
    let outs: Vec<Tensor> = k
        .outs
        .iter()
        .map(|ty| output_tensor(ty, None))
        .collect::<Result<_>>()?;
    let mut args = Vec::with_capacity(decls.len());
    let (mut next_in, mut next_out) = (0, 0);
    for (i, (decl, &a)) in decls.iter().zip(along).enumerate() {
        let (t, strides, offset) = if decl.output {
            next_out += 1;
            let t = outs
                .get(next_out - 1)
                .ok_or_else(|| arg_error(k, i, "missing output"))?;
            (t, contiguous_strides(&decl.shape).to_vec(), 0)
        } else {
            next_in += 1;
            let t = *inputs
                .get(next_in - 1)
                .ok_or_else(|| arg_error(k, i, "missing input"))?;
            if a {
                (t, vec![1], base)
            } else {
                match reshape_strides(t.shape(), &t.strides(), &decl.shape) {
                    Some(s) => (t, s, 0),
                    None => return Ok(None),
                }
            }
        };
        if let Some(why) = arg_mismatch(decl, t) {
            return Err(arg_error(k, i, &why));
        }
        let ptr = (t.data_ptr()? as *mut u8).wrapping_offset(offset * decl.dtype.size() as isize);
        args.push(KernelArg::new(ptr, decl.dtype, &strides));
    }
    // SAFETY: the flat operands' elements are one dense block from their lowest address
    // (`dense_base`), `numel` of them as declared (checked above); every other argument
    // views exactly its tensor's elements; the reduction's result does not depend on the
    // order it reads them in (`flat_reduction`); outputs are fresh and alias nothing.
    unsafe { k.compiled.run(&args) }.map_err(|e| EmberError::Backend(e.to_string()))?;
    Ok(Some(outs))
}

/// Bytes from which an operand that no loop order reads with unit stride (see [`packs`]) is
/// copied to C order before a kernel runs on it.
const PACK_MIN_BYTES: usize = 64 << 10;

/// Whether `t` has no axis of stride 1 to run a kernel's innermost loop along (every moving
/// axis reversed or stepped: `a[:, ::-1]`, `a[:, ::2]`) and is big enough that copying it
/// first pays: the CPU kernels' vector loops need unit strides and leave such views to their
/// scalar loops, and re-looping (see [`super::layout`]) finds no unit-stride axis to put
/// innermost. Not packed: views with a broadcast (stride 0) axis (a copy would repeat their
/// elements), and 64-bit operands of light kernels, whose vector loops gain little over
/// their scalar ones (`a[:, ::2] + 1` of a (1000, 2000) float64 array: 0.57 ms in place,
/// 0.82 ms packed first). `np.tanh(v)` of a reversed (6250, 128) float32 view: 2.5 ms in
/// place, 0.42 ms packed first, 0.21 ms on a C-order copy.
fn packs(k: &CpuKernel, t: &Tensor) -> bool {
    // Checked on every call of a compiled function: C-ordered operands (the common case, and
    // W4's) leave at once, without looking at strides.
    if t.is_contiguous()
        || t.is_traced()
        || t.device() != ember_ir::Device::Cpu
        || k.light && t.dtype().size() >= 8
        || t.value_type().nbytes() < PACK_MIN_BYTES
    {
        return false;
    }
    let strides = t.strides();
    let mut moving = t
        .shape()
        .iter()
        .zip(strides.iter())
        .filter(|(&n, _)| n > 1)
        .map(|(_, &s)| s)
        .peekable();
    moving.peek().is_some() && moving.all(|s| s != 1 && s != 0)
}

/// `inputs` with the operands that [`packs`] copied to C order (each copy in the profile
/// with its cause), or `None` when none needs it.
fn packed_inputs(k: &CpuKernel, inputs: &[&Tensor]) -> Result<Option<Vec<Tensor>>> {
    if !inputs.iter().any(|t| packs(k, t)) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(inputs.len());
    for (i, &t) in inputs.iter().enumerate() {
        if !packs(k, t) {
            out.push(t.clone());
            continue;
        }
        let cause = format!(
            "kernel {} input {i}: a {} layout with no unit-stride axis (reversed or stepped), \
             packed to C order for the vector loops",
            k.compiled.kernel().name,
            t.value_type()
        );
        out.push(super::transfers::copy(
            t.value_type().nbytes(),
            crate::profile::Direction::HostToHost,
            ember_ir::Device::Cpu,
            &cause,
            false,
            || t.contiguous(),
        )?);
    }
    Ok(Some(out))
}

/// Runs `k` with `inputs` bound to its input arguments in order; returns its outputs.
pub fn launch(k: &CpuKernel, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    // A full reduction indifferent to order reads a dense reversed operand in place.
    if let Some(along) = &k.flat {
        if inputs.iter().any(|t| packs(k, t)) {
            if let Some(outs) = launch_flat(k, inputs, along)? {
                return Ok(outs);
            }
        }
    }
    match packed_inputs(k, inputs)? {
        Some(packed) => launch_in_place(k, &packed.iter().collect::<Vec<_>>()),
        None => launch_in_place(k, inputs),
    }
}

/// [`launch`] on operands read where they are (viewed, re-looped, or copied when a kernel
/// cannot view them).
fn launch_in_place(k: &CpuKernel, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    if let Some(outs) = launch_relooped(k, inputs)? {
        return Ok(outs);
    }
    let decls = &k.compiled.kernel().args;
    let near = first_input_address(inputs);
    let outs: Vec<Tensor> = k
        .outs
        .iter()
        .map(|ty| output_tensor(ty, near))
        .collect::<Result<_>>()?;
    // Nothing to write at all: skip the launch. (With only some outputs empty the kernel
    // still runs: a reduction of an empty input must store its identity, and loops over the
    // empty outputs touch nothing.)
    if outs.iter().all(|t| t.numel() == 0) {
        return Ok(outs);
    }
    // Inputs whose layout the kernel cannot view are copied to C order and kept alive here.
    let mut held: Vec<Tensor> = Vec::new();
    let mut args = Vec::with_capacity(decls.len());
    let (mut next_in, mut next_out) = (0, 0);
    for (i, decl) in decls.iter().enumerate() {
        let (t, strides) = if decl.output {
            let t = outs
                .get(next_out)
                .ok_or_else(|| arg_error(k, i, "missing output"))?;
            next_out += 1;
            (t, contiguous_strides(&decl.shape).to_vec())
        } else {
            let t = *inputs
                .get(next_in)
                .ok_or_else(|| arg_error(k, i, "missing input"))?;
            next_in += 1;
            let view = reshape_strides(t.shape(), &t.strides(), &decl.shape);
            let across = view
                .as_ref()
                .is_some_and(|s| k.nest.is_none() && reads_across(t, &decl.shape, s));
            match view {
                Some(s) if !across => (t, s),
                _ => {
                    let why = if across {
                        "it would read across its rows"
                    } else {
                        "it cannot view"
                    };
                    let cause = format!(
                        "kernel {} argument {i}: a {} layout {why}, copied to C order",
                        k.compiled.kernel().name,
                        t.value_type()
                    );
                    let nbytes = t.value_type().nbytes();
                    held.push(super::transfers::copy(
                        nbytes,
                        crate::profile::Direction::HostToHost,
                        ember_ir::Device::Cpu,
                        &cause,
                        false,
                        || t.contiguous(),
                    )?);
                    let c = held.last().ok_or_else(|| arg_error(k, i, "copy failed"))?;
                    (c, contiguous_strides(&decl.shape).to_vec())
                }
            }
        };
        if let Some(why) = arg_mismatch(decl, t) {
            return Err(arg_error(k, i, &why));
        }
        args.push(KernelArg::new(
            t.data_ptr()? as *mut u8,
            decl.dtype,
            &strides,
        ));
    }
    // SAFETY: every argument views exactly its tensor's elements (element counts and dtypes
    // checked above; strides come from the tensor's own layout or C order); outputs are fresh
    // buffers that no input aliases and that nobody else can see yet.
    unsafe { k.compiled.run(&args) }.map_err(|e| EmberError::Backend(e.to_string()))?;
    drop(held);
    Ok(outs)
}

/// Bytes from which a kernel that cannot re-loop (a row kernel: a reduction and the
/// elementwise work on its rows, phase after phase) copies an operand it would read across
/// its rows (see [`reads_across`]) rather than reading it in place. Below this the strided
/// rows stay in cache between phases.
const ACROSS_COPY_MIN_BYTES: usize = 256 << 10;

/// Whether binding `t` as `shape` with the strides `view` makes a kernel's rows (its innermost
/// dimension) step across memory while another of its axes is contiguous: a Fortran or
/// transposed operand of a row kernel, which reads one element per cache line in each
/// phase. (`a.var(axis=-1, keepdims=True) + a` for a Fortran (31, 25000) float64 array:
/// 4.7 ms read in place, ~1.4 ms copied first, NumPy 2.9 ms.)
fn reads_across(t: &Tensor, shape: &[usize], view: &[isize]) -> bool {
    let inner = shape
        .iter()
        .zip(view)
        .rev()
        .find(|(&n, _)| n > 1)
        .map_or(1, |(_, s)| s.unsigned_abs());
    inner != 1
        && t.value_type().nbytes() >= ACROSS_COPY_MIN_BYTES
        && t.shape()
            .iter()
            .zip(t.strides().iter())
            .any(|(&n, &s)| n > 1 && s.unsigned_abs() == 1)
}

/// Why `t` cannot be bound to the kernel argument `decl` (a different dtype or element
/// count), or `None` when it can (any layout: the caller views or copies it).
pub(crate) fn arg_mismatch(decl: &ember_ir::kernel::ArgDecl, t: &Tensor) -> Option<String> {
    (t.dtype() != decl.dtype || t.numel() != decl.shape.iter().product::<usize>()).then(|| {
        format!(
            "expected {} with shape {:?}, got {}",
            decl.dtype,
            decl.shape.as_slice(),
            t.value_type()
        )
    })
}

fn arg_error(k: &CpuKernel, i: usize, why: &str) -> EmberError {
    EmberError::Backend(format!(
        "kernel {} argument {i}: {why}",
        k.compiled.kernel().name
    ))
}

/// Whether `a @ b` with result type `ty` runs on the GEMM: float matrices of the result's
/// dtype, stacks of them with equal batch shapes, or a stack and one matrix that broadcasts
/// over it. Other broadcast-batch and 1-d products run on the eager kernel (tracing
/// reshapes 1-d operands to matrices first); integer and bool ones on [`int_gemm_applies`].
pub fn gemm_applies(a: &ValueType, b: &ValueType, ty: &ValueType) -> bool {
    ty.dtype.is_float() && product_applies(a, b, ty)
}

/// Whether `a @ b` with result type `ty` runs on the integer / bool product of
/// `ember_codegen::cpu::gemm` (the shapes [`gemm_applies`] takes, of an int or bool dtype).
pub fn int_gemm_applies(a: &ValueType, b: &ValueType, ty: &ValueType) -> bool {
    !ty.dtype.is_float() && product_applies(a, b, ty)
}

fn product_applies(a: &ValueType, b: &ValueType, ty: &ValueType) -> bool {
    let (na, nb) = (a.shape.len(), b.shape.len());
    a.dtype == ty.dtype
        && b.dtype == ty.dtype
        && na >= 2
        && nb >= 2
        && (na == 2 || nb == 2 || a.shape[..na - 2] == b.shape[..nb - 2])
}

/// `a @ b` with the result type `ty`: on the multithreaded GEMM when [`gemm_applies`], on
/// the integer / bool product when [`int_gemm_applies`], else on the eager kernel.
pub fn run_matmul(a: &Tensor, b: &Tensor, ty: &ValueType) -> Result<Tensor> {
    if int_gemm_applies(a.value_type(), b.value_type(), ty) {
        return match ty.dtype {
            DType::Bool => with_views::<u8>(a, b, ty, |batch, m, k, n, av, bv, cv, st| {
                // SAFETY: `with_views`' views; bool elements are bytes 0 / 1.
                unsafe { bool_matmul(batch, m, k, n, av, bv, cv, st) }
            }),
            DType::I32 => int_product::<i32>(a, b, ty),
            DType::I64 => int_product::<i64>(a, b, ty),
            d => Err(EmberError::Backend(format!("integer GEMM of {d}"))),
        };
    }
    if !gemm_applies(a.value_type(), b.value_type(), ty) {
        let op = ember_ir::Op::MatMul;
        return crate::eager::execute(&op, &[a, b], ty);
    }
    run_matmul_fused(a, b, ty, None, false)
}

fn int_product<T: IntScalar>(a: &Tensor, b: &Tensor, ty: &ValueType) -> Result<Tensor> {
    with_views::<T>(a, b, ty, |batch, m, k, n, av, bv, cv, st| {
        // SAFETY: `with_views`' views.
        unsafe { int_matmul(batch, m, k, n, av, bv, cv, st) }
    })
}

/// `maximum(a @ b + addend, 0)` (without the addend when `None`, without the maximum when
/// `relu` is false) in one GEMM whose micro-kernels apply the epilogue as they store C. The
/// addend broadcasts to the product's last two dimensions and has no batch dimension of its
/// own; the product must be one [`gemm_applies`] to.
pub fn run_matmul_fused(
    a: &Tensor,
    b: &Tensor,
    ty: &ValueType,
    addend: Option<&Tensor>,
    relu: bool,
) -> Result<Tensor> {
    if !gemm_applies(a.value_type(), b.value_type(), ty) {
        return Err(EmberError::Backend(format!(
            "plan error: a fused GEMM epilogue on {} @ {} -> {ty}",
            a.value_type(),
            b.value_type()
        )));
    }
    match ty.dtype {
        DType::F32 => gemm_into::<f32>(a, b, ty, addend, relu),
        DType::F64 => gemm_into::<f64>(a, b, ty, addend, relu),
        d => Err(EmberError::Backend(format!("GEMM of {d}"))),
    }
}

/// The addend of a fused epilogue as an `m x n` view: its last two dimensions broadcast to
/// the product's (zero strides), every other dimension must be 1.
fn addend_view<T>(d: &Tensor, ty: &ValueType, m: usize, n: usize) -> Result<Mat<T>> {
    let (shape, strides) = (d.shape(), d.strides());
    let nd = shape.len();
    let dim = |back: usize| {
        if nd >= back {
            (shape[nd - back], strides[nd - back])
        } else {
            (1, 0)
        }
    };
    let ((r, rs), (c, cs)) = (dim(2), dim(1));
    let fits = d.dtype() == ty.dtype
        && (r == 1 || r == m)
        && (c == 1 || c == n)
        && shape[..nd.saturating_sub(2)].iter().all(|&s| s == 1);
    if !fits {
        return Err(EmberError::Backend(format!(
            "plan error: GEMM epilogue addend {} does not broadcast to {ty} per matrix",
            d.value_type()
        )));
    }
    Ok(Mat {
        ptr: d.data_ptr()? as *const T,
        rs: if r == 1 { 0 } else { rs },
        cs: if c == 1 { 0 } else { cs },
    })
}

fn gemm_into<T: GemmScalar>(
    a: &Tensor,
    b: &Tensor,
    ty: &ValueType,
    addend: Option<&Tensor>,
    relu: bool,
) -> Result<Tensor> {
    let (na, nb) = (a.ndim(), b.ndim());
    let (m, n) = (a.shape()[na - 2], b.shape()[nb - 1]);
    let epi = Epilogue {
        addend: addend.map(|d| addend_view(d, ty, m, n)).transpose()?,
        relu,
    };
    with_views::<T>(a, b, ty, |batch, m, k, n, av, bv, cv, st| {
        // SAFETY: `with_views`' views; the addend is m x n after its broadcasting (zero)
        // strides.
        unsafe { batched_gemm_with::<T>(batch, m, k, n, av, bv, cv, st, &epi) }
    })
}

/// A fresh C-contiguous result of type `ty` written by `run(batch, m, k, n, A, B, C,
/// strides)` on views of the operands' matrices (copied first when their batches are not
/// one uniform stride apart); empty results skip `run`.
fn with_views<T>(
    a: &Tensor,
    b: &Tensor,
    ty: &ValueType,
    run: impl FnOnce(usize, usize, usize, usize, Mat<T>, Mat<T>, MatMut<T>, BatchStrides),
) -> Result<Tensor> {
    // The GEMM streams through its packed panels, not through `a` or `b`: no placement hint.
    let out = output_tensor(ty, None)?;
    if out.numel() == 0 {
        return Ok(out);
    }
    let (na, nb) = (a.ndim(), b.ndim());
    let (m, k, n) = (a.shape()[na - 2], a.shape()[na - 1], b.shape()[nb - 1]);
    // A plain matrix broadcasts over the other operand's stack (batch stride 0).
    let batch: usize = ty.shape[..ty.shape.len() - 2].iter().product();
    // One GEMM call needs each operand's batches one uniform stride apart; copy otherwise.
    let (a, b) = (with_uniform_batches(a)?, with_uniform_batches(b)?);
    let (sa, sb) = (a.strides(), b.strides());
    let strides = BatchStrides {
        a: batch_stride(&a).unwrap_or(0),
        b: batch_stride(&b).unwrap_or(0),
        c: (m * n) as isize,
    };
    // Each view addresses exactly its tensor's elements: shapes m x k, k x n, m x n with the
    // tensors' own strides; the output is fresh and aliases nothing.
    run(
        batch,
        m,
        k,
        n,
        Mat {
            ptr: a.data_ptr()? as *const T,
            rs: sa[na - 2],
            cs: sa[na - 1],
        },
        Mat {
            ptr: b.data_ptr()? as *const T,
            rs: sb[nb - 2],
            cs: sb[nb - 1],
        },
        MatMut {
            ptr: out.data_ptr()? as *mut T,
            rs: n as isize,
            cs: 1,
        },
        strides,
    );
    Ok(out)
}

/// The distance between consecutive matrices of a stack, when all batch dimensions collapse
/// into one stride (`Some(0)` for a plain matrix or a stack of one). Size-1 dimensions are
/// skipped: their strides are arbitrary (a C-contiguous NumPy array may have any there, and
/// `contiguous()` keeps them), so the stride of a size-1 innermost batch dimension is not
/// the batch stride.
fn batch_stride(t: &Tensor) -> Option<isize> {
    let (s, sh) = (t.strides(), t.shape());
    let dims: Vec<usize> = (0..t.ndim().saturating_sub(2))
        .filter(|&d| sh[d] != 1)
        .collect();
    let Some(&inner) = dims.last() else {
        return Some(0);
    };
    dims.windows(2)
        .all(|w| s[w[0]] == s[w[1]] * sh[w[1]] as isize)
        .then(|| s[inner])
}

fn with_uniform_batches(t: &Tensor) -> Result<Tensor> {
    match batch_stride(t) {
        Some(_) => Ok(t.clone()),
        None => t.contiguous(),
    }
}
