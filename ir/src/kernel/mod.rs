//! The kernel IR: what one fused group of graph nodes lowers to, and what every backend renders.
//!
//! A [`Kernel`] is a flat list of [`Inst`]ructions in SSA form with structured loops
//! (`Loop` ... `EndLoop`). It reads and writes *arguments*: buffers the caller passes, each
//! declared with a dtype and the shape the kernel views it as ([`ArgDecl`]). Element `idx` of an
//! argument lives at `base + sum(idx[d] * stride[d])` elements, with the strides supplied at run
//! time, so a kernel reads broadcast (stride 0) and strided views without change. Outputs are
//! normally written C-contiguously, but the same rule applies to them.
//!
//! The IR is device-neutral: a loop marked `parallel` is a grid dimension (CPU threads split its
//! range, a CUDA renderer maps it to `blockIdx * blockDim + threadIdx`); only the outermost loop
//! may be parallel. Loop extents are compile-time constants so backends can specialize.
//!
//! Values are typed ([`DType`]); loop variables are `i64`. Binary operands always share a dtype
//! (the fusion pass inserts casts), and a unary op's result is its operand's dtype except for the
//! predicates (`isnan`, `isinf`, `isfinite`, `logical_not`), which give `bool`. Reductions use
//! *accumulators*: `Acc` declares one (initialized to the identity of its [`ReduceOp`]),
//! `Update`/`UpdateArg` fold a value in inside loops, and after its loops the accumulator's
//! value is read like any SSA value.
//!
//! *Reading back outputs.* A `Load` may read an output argument: it gives the value this
//! kernel stored at that element earlier in the same *row*, where the row is one iteration of
//! the parallel loop (or the whole kernel when there is no parallel loop), and the store was
//! made inside a loop directly in the row that has closed since (an earlier phase of a row
//! kernel). Stores of the currently open row-level loop, stores at row level itself and stores
//! of other rows are never read back, so a backend may split each row-level loop across
//! threads and only needs a barrier between it and a later loop that reads its stores
//! (`__syncthreads()` in CUDA's block-per-row plan). [`Kernel::verify`] checks this per
//! argument, the interpreter per element; the fusion pass uses it to store an expensive
//! value (softmax's `exp(x - max)`) once and read it back in a later phase instead of
//! recomputing it.
//!
//! The meaning of every instruction is defined by the interpreter ([`interp`]) and the scalar
//! functions of [`eval`]; backends are tested against them.

pub mod build;
pub mod eval;
pub mod interp;
pub mod parse;
pub mod print;
pub mod reloop;

pub use reloop::LoopNest;

use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::literal::Scalar;
use crate::op::{BinaryOp, ReduceOp, UnaryOp};
use smallvec::SmallVec;
use std::hash::{Hash, Hasher};

/// An SSA value (printed `%n`). Numbered densely from 0 in definition order after
/// [`Kernel::normalized`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(pub u32);

/// The index of an argument in [`Kernel::args`].
pub type ArgId = u32;

/// One argument: a buffer the kernel reads or writes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArgDecl {
    /// Element type.
    pub dtype: DType,
    /// The shape the kernel views the buffer as (its element count equals the buffer's; strides
    /// for this view come at run time).
    pub shape: SmallVec<[usize; 4]>,
    /// True when the kernel writes this argument.
    pub output: bool,
}

/// A constant value, hashed and compared by its bits so kernels with NaN constants still have
/// a well-defined structural key.
#[derive(Clone, Copy, Debug)]
pub struct Const(pub Scalar);

impl Const {
    fn bits(&self) -> (DType, u64) {
        let b = match self.0 {
            Scalar::Bool(v) => v as u64,
            Scalar::I32(v) => v as u32 as u64,
            Scalar::I64(v) => v as u64,
            Scalar::F32(v) => v.to_bits() as u64,
            Scalar::F64(v) => v.to_bits(),
        };
        (self.0.dtype(), b)
    }
}

impl PartialEq for Const {
    fn eq(&self, other: &Self) -> bool {
        self.bits() == other.bits()
    }
}
impl Eq for Const {}
impl Hash for Const {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bits().hash(state)
    }
}

/// One instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Inst {
    /// Opens a loop: `var` runs over `0..extent` (an `i64`). Closed by the matching `EndLoop`.
    Loop {
        /// The loop variable.
        var: Var,
        /// Number of iterations.
        extent: usize,
        /// A grid dimension: iterations are independent and may run concurrently.
        parallel: bool,
    },
    /// Closes the innermost open loop.
    EndLoop,
    /// `dst = value`.
    Const {
        /// Result.
        dst: Var,
        /// The constant (its dtype is the result's).
        value: Const,
    },
    /// `dst = arg[index]`, one `i64` index per dimension of the argument's view.
    Load {
        /// Result.
        dst: Var,
        /// The argument read.
        arg: ArgId,
        /// One index per dimension.
        index: SmallVec<[Var; 4]>,
    },
    /// `arg[index] = value`.
    Store {
        /// The argument written (an output).
        arg: ArgId,
        /// One index per dimension.
        index: SmallVec<[Var; 4]>,
        /// The value stored (of the argument's dtype).
        value: Var,
    },
    /// `dst = op(x)`.
    Unary {
        /// Result.
        dst: Var,
        /// The function.
        op: UnaryOp,
        /// Operand.
        x: Var,
    },
    /// `dst = op(a, b)`; `a` and `b` have the same dtype.
    Binary {
        /// Result.
        dst: Var,
        /// The function.
        op: BinaryOp,
        /// Left operand.
        a: Var,
        /// Right operand.
        b: Var,
    },
    /// `dst = cond ? a : b` with a `bool` condition.
    Select {
        /// Result.
        dst: Var,
        /// Condition (`bool`).
        cond: Var,
        /// Value when true.
        a: Var,
        /// Value when false.
        b: Var,
    },
    /// `dst = x as to` (NumPy `astype` on x86-64: floats to ints truncate; NaN, ±inf and
    /// out-of-range values give the minimum integer).
    Cast {
        /// Result.
        dst: Var,
        /// Target dtype.
        to: DType,
        /// Operand.
        x: Var,
    },
    /// Declares accumulator `dst`, initialized to the identity of `op` for values of `dtype`.
    /// Reading `dst` (after the loops that update it) gives the reduction's result, whose dtype
    /// is `bool` for any/all, `i64` for argmax/argmin and `dtype` otherwise.
    Acc {
        /// The accumulator.
        dst: Var,
        /// The reduction.
        op: ReduceOp,
        /// The dtype of the values folded in (`bool` for any/all).
        dtype: DType,
    },
    /// Folds `value` into accumulator `acc` (not argmax/argmin).
    Update {
        /// The accumulator.
        acc: Var,
        /// The value folded in.
        value: Var,
    },
    /// Folds `value` found at position `index` into an argmax/argmin accumulator: the first
    /// maximum (minimum) wins, and the first NaN wins over everything.
    UpdateArg {
        /// The accumulator.
        acc: Var,
        /// The value.
        value: Var,
        /// Its position along the reduced axis (`i64`).
        index: Var,
    },
}

impl Inst {
    /// The value this instruction defines, if any.
    pub fn def(&self) -> Option<Var> {
        match self {
            Inst::Loop { var, .. } => Some(*var),
            Inst::Const { dst, .. }
            | Inst::Load { dst, .. }
            | Inst::Unary { dst, .. }
            | Inst::Binary { dst, .. }
            | Inst::Select { dst, .. }
            | Inst::Cast { dst, .. }
            | Inst::Acc { dst, .. } => Some(*dst),
            Inst::EndLoop | Inst::Store { .. } | Inst::Update { .. } | Inst::UpdateArg { .. } => {
                None
            }
        }
    }

    /// The values this instruction reads (accumulators included for updates).
    pub fn uses(&self) -> SmallVec<[Var; 4]> {
        match self {
            Inst::Loop { .. } | Inst::EndLoop | Inst::Const { .. } | Inst::Acc { .. } => {
                SmallVec::new()
            }
            Inst::Load { index, .. } => index.clone(),
            Inst::Store { index, value, .. } => {
                let mut v = index.clone();
                v.push(*value);
                v
            }
            Inst::Unary { x, .. } | Inst::Cast { x, .. } => smallvec::smallvec![*x],
            Inst::Binary { a, b, .. } => smallvec::smallvec![*a, *b],
            Inst::Select { cond, a, b, .. } => smallvec::smallvec![*cond, *a, *b],
            Inst::Update { acc, value } => smallvec::smallvec![*acc, *value],
            Inst::UpdateArg { acc, value, index } => smallvec::smallvec![*acc, *value, *index],
        }
    }

    /// Replaces every value it defines or uses (loop variables included) by `f` of it.
    pub fn rename(&mut self, f: &mut impl FnMut(Var) -> Var) {
        let idx = |index: &mut SmallVec<[Var; 4]>, f: &mut dyn FnMut(Var) -> Var| {
            for v in index.iter_mut() {
                *v = f(*v);
            }
        };
        match self {
            Inst::Loop { var, .. } => *var = f(*var),
            Inst::EndLoop => {}
            Inst::Const { dst, .. } | Inst::Acc { dst, .. } => *dst = f(*dst),
            Inst::Load { dst, index, .. } => {
                idx(index, f);
                *dst = f(*dst);
            }
            Inst::Store { index, value, .. } => {
                idx(index, f);
                *value = f(*value);
            }
            Inst::Unary { dst, x, .. } | Inst::Cast { dst, x, .. } => {
                *x = f(*x);
                *dst = f(*dst);
            }
            Inst::Binary { dst, a, b, .. } => {
                *a = f(*a);
                *b = f(*b);
                *dst = f(*dst);
            }
            Inst::Select { dst, cond, a, b } => {
                *cond = f(*cond);
                *a = f(*a);
                *b = f(*b);
                *dst = f(*dst);
            }
            Inst::Update { acc, value } => {
                *acc = f(*acc);
                *value = f(*value);
            }
            Inst::UpdateArg { acc, value, index } => {
                *acc = f(*acc);
                *value = f(*value);
                *index = f(*index);
            }
        }
    }
}

/// A kernel: a name (for messages and symbols only), its arguments and its body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// A human-readable name; not part of the structural key.
    pub name: String,
    /// Arguments in call order.
    pub args: Vec<ArgDecl>,
    /// The instructions.
    pub body: Vec<Inst>,
}

/// The dtype a unary op gives inside a kernel, or an error when the operand must be cast first
/// (the kernel IR never promotes implicitly).
pub fn unary_result(op: UnaryOp, x: DType) -> Result<DType> {
    use UnaryOp::*;
    if matches!(op, IsNan | IsInf | IsFinite | LogicalNot) {
        return Ok(DType::Bool);
    }
    let want = op.result_dtype(x)?;
    if want != x {
        return Err(IrError::DType {
            op: op.name().into(),
            dtype: x,
            why: format!("kernel operands must be cast to {want} first"),
        });
    }
    Ok(x)
}

/// The dtype a binary op gives inside a kernel for operands of dtype `t` (both the same).
pub fn binary_result(op: BinaryOp, t: DType) -> Result<DType> {
    use BinaryOp::*;
    if matches!(op, And | Or | Xor) {
        return Ok(DType::Bool);
    }
    let c = op.compute_dtype(t, t)?;
    if c != t {
        return Err(IrError::DType {
            op: op.name().into(),
            dtype: t,
            why: format!("kernel operands must be cast to {c} first"),
        });
    }
    Ok(if op.is_predicate() { DType::Bool } else { t })
}

/// The identity an accumulator starts from.
pub fn acc_identity(op: ReduceOp, dtype: DType) -> Scalar {
    use ReduceOp::*;
    let by = |f: f64, i: i64, b: bool| match dtype {
        DType::Bool => Scalar::Bool(b),
        DType::I32 => Scalar::I32(i as i32),
        DType::I64 => Scalar::I64(i),
        DType::F32 => Scalar::F32(f as f32),
        DType::F64 => Scalar::F64(f),
    };
    match op {
        Sum => by(0.0, 0, false),
        Prod => by(1.0, 1, true),
        Max => match dtype {
            DType::I32 => Scalar::I32(i32::MIN),
            _ => by(f64::NEG_INFINITY, i64::MIN, false),
        },
        Min => match dtype {
            DType::I32 => Scalar::I32(i32::MAX),
            _ => by(f64::INFINITY, i64::MAX, true),
        },
        ArgMax | ArgMin => Scalar::I64(0),
        Any => Scalar::Bool(false),
        All => Scalar::Bool(true),
    }
}

/// The dtype an accumulator's result has.
pub fn acc_result(op: ReduceOp, dtype: DType) -> DType {
    match op {
        ReduceOp::Any | ReduceOp::All => DType::Bool,
        ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I64,
        _ => dtype,
    }
}

fn verr(kernel: &Kernel, why: String) -> IrError {
    IrError::Verify(format!("kernel {}: {why}", kernel.name))
}

impl Kernel {
    /// Checks the kernel and returns the dtype of every value (indexed by `Var.0`; values that
    /// are never defined get `None`). Checks: SSA (one definition, defined before use, used
    /// only inside the loops that enclose its definition), balanced loops, the only parallel
    /// loop outermost, operand dtypes, index ranks, stores only to outputs, loads only from
    /// inputs, accumulators updated only in loops nested deeper than their declaration and read
    /// only outside those loops, loads from an output only after a row-level loop that stored
    /// to it has closed within the same row (see the module docs).
    pub fn verify(&self) -> Result<Vec<Option<DType>>> {
        let n = self
            .body
            .iter()
            .flat_map(|i| i.def().into_iter().chain(i.uses()))
            .map(|v| v.0 as usize + 1)
            .max()
            .unwrap_or(0);
        let mut ty: Vec<Option<DType>> = vec![None; n];
        // Loop depth at which each value was defined, and whether it is still in scope.
        let mut depth_of: Vec<usize> = vec![0; n];
        let mut live: Vec<bool> = vec![false; n];
        let mut is_acc: Vec<bool> = vec![false; n];
        let mut scopes: Vec<Vec<Var>> = vec![Vec::new()];
        // Accumulators updated inside the currently open loops (cannot be read there).
        let mut updated_in: Vec<Option<usize>> = vec![None; n];
        // Read-back tracking, one entry per open scope: (the scope is a row, the scope is a
        // parallel loop's body, outputs stored inside it). `readable`: outputs stored by
        // row-level loops that have closed in the current row.
        let has_par = self
            .body
            .iter()
            .any(|i| matches!(i, Inst::Loop { parallel: true, .. }));
        let mut rows: Vec<(bool, bool, Vec<ArgId>)> = vec![(!has_par, false, Vec::new())];
        let mut readable: Vec<ArgId> = Vec::new();
        for inst in &self.body {
            let depth = scopes.len() - 1;
            for u in inst.uses() {
                let i = u.0 as usize;
                if !live[i] {
                    return Err(verr(self, format!("%{} used where it is not defined", u.0)));
                }
                if is_acc[i]
                    && !matches!(inst, Inst::Update { acc, .. } | Inst::UpdateArg { acc, .. } if *acc == u)
                {
                    if let Some(d) = updated_in[i] {
                        if d <= depth {
                            return Err(verr(
                                self,
                                format!(
                                    "accumulator %{} read inside the loop that updates it",
                                    u.0
                                ),
                            ));
                        }
                    }
                }
            }
            let t = |v: Var| ty[v.0 as usize].unwrap_or(DType::Bool);
            let out_ty = match inst {
                Inst::Loop { parallel, .. } => {
                    if *parallel && depth != 0 {
                        return Err(verr(self, "only the outermost loop may be parallel".into()));
                    }
                    if *parallel {
                        readable.clear();
                    }
                    rows.push((*parallel, *parallel, Vec::new()));
                    Some(DType::I64)
                }
                Inst::EndLoop => {
                    if depth == 0 {
                        return Err(verr(self, "end of a loop that was not opened".into()));
                    }
                    if let Some((_, par, stored)) = rows.pop() {
                        match rows.last_mut() {
                            _ if par => readable.clear(),
                            Some((true, _, _)) => readable.extend(stored),
                            Some((false, _, outer)) => outer.extend(stored),
                            None => {}
                        }
                    }
                    for v in scopes.pop().unwrap_or_default() {
                        live[v.0 as usize] = false;
                    }
                    for d in updated_in.iter_mut() {
                        if d.is_some_and(|d| d >= depth) {
                            *d = None;
                        }
                    }
                    None
                }
                Inst::Const { value, .. } => Some(value.0.dtype()),
                Inst::Load { arg, index, .. } | Inst::Store { arg, index, .. } => {
                    let decl = self
                        .args
                        .get(*arg as usize)
                        .ok_or_else(|| verr(self, format!("argument {arg} does not exist")))?;
                    if index.len() != decl.shape.len() {
                        return Err(verr(
                            self,
                            format!(
                                "argument {arg} has {} dimensions, indexed with {}",
                                decl.shape.len(),
                                index.len()
                            ),
                        ));
                    }
                    if index.iter().any(|&v| t(v) != DType::I64) {
                        return Err(verr(self, "indices must be i64".into()));
                    }
                    match inst {
                        Inst::Store { value, .. } => {
                            if !decl.output {
                                return Err(verr(self, format!("store to input argument {arg}")));
                            }
                            if let Some((_, _, stored)) = rows.last_mut() {
                                stored.push(*arg);
                            }
                            if t(*value) != decl.dtype {
                                return Err(verr(
                                    self,
                                    format!(
                                        "store of {} into {} argument {arg}",
                                        t(*value),
                                        decl.dtype
                                    ),
                                ));
                            }
                            None
                        }
                        _ => {
                            if decl.output && !readable.contains(arg) {
                                return Err(verr(
                                    self,
                                    format!(
                                        "load from output argument {arg} before a closed loop \
                                         of the same row stored to it"
                                    ),
                                ));
                            }
                            Some(decl.dtype)
                        }
                    }
                }
                Inst::Unary { op, x, .. } => Some(unary_result(*op, t(*x))?),
                Inst::Binary { op, a, b, .. } => {
                    if t(*a) != t(*b) {
                        return Err(verr(
                            self,
                            format!("{} of {} and {}", op.name(), t(*a), t(*b)),
                        ));
                    }
                    Some(binary_result(*op, t(*a))?)
                }
                Inst::Select { cond, a, b, .. } => {
                    if t(*cond) != DType::Bool || t(*a) != t(*b) {
                        return Err(verr(
                            self,
                            "select needs a bool condition and equal operand dtypes".into(),
                        ));
                    }
                    Some(t(*a))
                }
                Inst::Cast { to, .. } => Some(*to),
                Inst::Acc { op, dtype, dst } => {
                    if matches!(op, ReduceOp::Any | ReduceOp::All) && *dtype != DType::Bool {
                        return Err(verr(self, "any/all accumulate bool values".into()));
                    }
                    is_acc[dst.0 as usize] = true;
                    Some(acc_result(*op, *dtype))
                }
                Inst::Update { acc, value } | Inst::UpdateArg { acc, value, .. } => {
                    let i = acc.0 as usize;
                    let decl = self.body.iter().find_map(|x| match x {
                        Inst::Acc { dst, op, dtype } if dst == acc => Some((*op, *dtype)),
                        _ => None,
                    });
                    let Some((op, dtype)) = decl else {
                        return Err(verr(self, format!("%{} is not an accumulator", acc.0)));
                    };
                    if depth <= depth_of[i] {
                        return Err(verr(
                            self,
                            format!(
                                "accumulator %{} updated outside a loop nested in its declaration",
                                acc.0
                            ),
                        ));
                    }
                    if t(*value) != dtype {
                        return Err(verr(
                            self,
                            format!("update of {dtype} accumulator with {}", t(*value)),
                        ));
                    }
                    let is_arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
                    if is_arg != matches!(inst, Inst::UpdateArg { .. }) {
                        return Err(verr(
                            self,
                            "argmax/argmin use update_arg, other reductions update".into(),
                        ));
                    }
                    let outer = depth_of[i] + 1;
                    updated_in[i] = Some(updated_in[i].map_or(outer, |d| d.min(outer)));
                    None
                }
            };
            if let Some(d) = inst.def() {
                let i = d.0 as usize;
                if ty[i].is_some() {
                    return Err(verr(self, format!("%{} defined twice", d.0)));
                }
                ty[i] = out_ty;
                live[i] = true;
                if matches!(inst, Inst::Loop { .. }) {
                    scopes.push(vec![d]);
                    depth_of[i] = depth + 1;
                } else {
                    depth_of[i] = depth;
                    if let Some(s) = scopes.last_mut() {
                        s.push(d);
                    }
                }
            }
        }
        if scopes.len() != 1 {
            return Err(verr(self, "a loop is not closed".into()));
        }
        Ok(ty)
    }

    /// The same kernel with values renumbered densely in definition order and the name cleared:
    /// two kernels with the same structure normalize to equal values (the cache key).
    pub fn normalized(&self) -> Kernel {
        let mut map = std::collections::HashMap::new();
        let mut next = 0u32;
        let mut body = self.body.clone();
        for inst in &mut body {
            // Uses are renamed through the map; a def gets the next number.
            let def = inst.def();
            inst.rename(&mut |v| {
                if Some(v) == def && !map.contains_key(&v) {
                    map.insert(v, Var(next));
                    next += 1;
                }
                *map.get(&v).unwrap_or(&v)
            });
        }
        Kernel {
            name: String::new(),
            args: self.args.clone(),
            body,
        }
    }

    /// For each `Loop` of the body, the position of its `EndLoop` (0 at other positions):
    /// every backend and the interpreter jump over or into loops with it.
    pub fn loop_ends(&self) -> Vec<usize> {
        let mut ends = vec![0; self.body.len()];
        let mut open = Vec::new();
        for (i, inst) in self.body.iter().enumerate() {
            match inst {
                Inst::Loop { .. } => open.push(i),
                Inst::EndLoop => {
                    if let Some(s) = open.pop() {
                        ends[s] = i;
                    }
                }
                _ => {}
            }
        }
        ends
    }

    /// The outermost loop when it is parallel: `(var, extent)`.
    pub fn parallel_loop(&self) -> Option<(Var, usize)> {
        match self.body.first() {
            Some(Inst::Loop {
                var,
                extent,
                parallel: true,
            }) => Some((*var, *extent)),
            _ => None,
        }
    }

    /// Total element count of the arguments' views (a rough measure of the work).
    pub fn work(&self) -> usize {
        self.args
            .iter()
            .map(|a| a.shape.iter().product::<usize>())
            .max()
            .unwrap_or(0)
    }
}

/// Strides (in elements) that view a buffer of shape `from` with strides `from_strides` as
/// shape `to` (same element count) without copying, like NumPy's no-copy reshape; `None` when
/// the buffer's layout does not allow it (then copy it to C order first). The runtime uses this
/// to pass a buffer to a kernel argument whose view [`ArgDecl::shape`] differs from the graph
/// value's shape.
pub fn reshape_strides(from: &[usize], from_strides: &[isize], to: &[usize]) -> Option<Vec<isize>> {
    let numel: usize = from.iter().product();
    if numel != to.iter().product::<usize>() || from.len() != from_strides.len() {
        return None;
    }
    if numel == 0 {
        return Some(crate::shape::contiguous_strides(to).to_vec());
    }
    // Drop size-1 dims of the source: they constrain nothing.
    let src: Vec<(usize, isize)> = from
        .iter()
        .zip(from_strides)
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &s)| (d, s))
        .collect();
    let mut out = vec![0isize; to.len()];
    let (mut i, mut j) = (0usize, 0usize);
    while j < to.len() {
        if to[j] == 1 {
            out[j] = 0;
            j += 1;
            continue;
        }
        // Take source dims until their product equals target dims' product.
        let (i0, j0) = (i, j);
        let (mut ps, mut pt) = (src.get(i)?.0, to[j]);
        while ps != pt {
            if ps < pt {
                i += 1;
                ps *= src.get(i)?.0;
            } else {
                j += 1;
                while j < to.len() && to[j] == 1 {
                    j += 1;
                }
                pt *= *to.get(j)?;
            }
        }
        // The source chunk must be contiguous among itself.
        for k in i0..i {
            if src[k].1 != src[k + 1].1 * src[k + 1].0 as isize {
                return None;
            }
        }
        let mut stride = src[i].1;
        for jj in (j0..=j).rev() {
            out[jj] = if to[jj] == 1 { 0 } else { stride };
            stride *= to[jj] as isize;
        }
        i += 1;
        j += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_strides_follow_numpy() {
        assert_eq!(reshape_strides(&[2, 3], &[3, 1], &[6]), Some(vec![1]));
        assert_eq!(reshape_strides(&[2, 3], &[1, 2], &[6]), None);
        assert_eq!(
            reshape_strides(&[4, 6], &[12, 1], &[4, 2, 3]),
            Some(vec![12, 3, 1])
        );
        assert_eq!(reshape_strides(&[1, 5], &[0, 2], &[5, 1]), Some(vec![2, 0]));
        assert_eq!(reshape_strides(&[6], &[1], &[2, 1, 3]), Some(vec![3, 0, 1]));
    }
}
