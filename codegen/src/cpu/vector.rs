//! Explicit SIMD (Cranelift does not auto-vectorize), 128-bit vectors (the widest Cranelift
//! supports on x86-64 today).
//!
//! *Inner loops.* A loop vectorizes across its iterations when it contains no loop, every
//! value in it is float32/int32/bool (4 lanes of 32 bits) or float64/int64/bool (2 lanes of 64
//! bits; int32 and float32 values at the edges of such a loop, loaded, stored or cast from
//! and to float64/int64, held two to a vector, see `narrow_values`), every load and store
//! indexes the loop variable in at most one dimension, and every op has a vector form
//! (others, e.g. integer `floor_divide` or float64 `pow`, call Rust or libm per element, so
//! such loops stay scalar). Bools are lane masks in registers and bytes in memory.
//! Loop-invariant values (constants, loads that do not use the loop variable and pure ops of
//! them, see `loop_invariants`) are computed once before the loop, in scalar form, and splat,
//! so they may have any type.
//!
//! *Outer loops.* A loop containing loops vectorizes across its own iterations when a load in
//! it indexes the contiguous (last) dimension with its variable, e.g. `out[n] = sum_m x[m, n]`:
//! nested loops run as scalar loops over lane-uniform variables and accumulators declared
//! inside hold one reduction per lane. Large column reductions instead run with the loops
//! interchanged, rows outer, over blocks of rows on the pool (`interchange`).
//!
//! At run time the vector loop runs only when every vectorized dimension's stride is 1; it
//! processes 2 vectors per iteration (4 for light bodies: more independent accumulator
//! chains) and leaves the tail, and strided views, to the scalar loop. Accesses whose other
//! indices are loop-invariant walk a pointer. Float sums add the unrolled vectors pairwise and
//! fold that into one compensated accumulator per lane (TwoSum, see `two_sum`), then combine
//! lanes pairwise at the end: within about 3 eps of `sum |x|` (NumPy's pairwise summation:
//! about `log2(n)` eps), a few ulp for same-sign terms (`codegen/tests/sums.rs`). Float
//! max/min are one `maxps`/`minps` per vector plus a NaN mask. Int32 values cast to int64 only
//! to feed an int64 sum or product (NumPy's int32 sums) stay int32 vectors, widened into two
//! `i64x2` accumulators each (`accs::widened_casts`).
//!
//! *Staged loops* (`staged`): on AVX-512 hosts a flat elementwise loop with float32 `exp`,
//! `tanh` or `sigmoid`, or a flat float64 loop (elementwise or reducing into accumulators
//! declared outside it: `np.exp(x).sum()`, `np.log(p).sum(axis=1)`) with float64 `exp`,
//! `tanh`, `sigmoid`, `log`, `cos`, `sin` or `expm1`, first runs blocks whose math is one
//! 512-bit call per block ([`super::wide`]), reductions updated after the calls with the
//! vector loop's accumulators; the vector and scalar loops take what is left.

mod accs;
mod argacc;
mod interchange;
mod staged;

pub use staged::staged_reductions;

use super::lower::{Lower, Mode};
use super::ops::{binary_vectorizes, cl_type, unary_vectorizes};
use crate::error::{CodegenError, Result};
use accs::VAcc;
use argacc::ArgVAcc;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::Variable;
use ember_ir::kernel::{acc_identity, Inst, Var};
use ember_ir::{BinaryOp, DType, ReduceOp};
use std::collections::{HashMap, HashSet};

/// Vectors per iteration for loops with heavy bodies (math functions, many ops): more would
/// spill registers.
const UNROLL_HEAVY: usize = 2;
/// Vectors per iteration for light bodies (reductions, copies, simple arithmetic): more
/// independent accumulator chains and full cache lines per column in column reductions.
const UNROLL_LIGHT: usize = 4;

/// What the vector loop needs.
pub struct Plan {
    mode: Mode,
    unroll: usize,
    /// `(arg, dim)` whose stride must be 1 at run time.
    unit: Vec<(u32, usize)>,
    /// Vectorized across a loop that contains loops (lane accumulators).
    outer: bool,
}

impl Plan {
    /// Iterations one pass of the vector loop covers (lanes x unrolled vectors).
    pub fn step(&self) -> usize {
        self.unroll * self.mode.lanes()
    }

    /// For a loop vectorized across its own iterations with several vectors per iteration,
    /// whose `extent` leaves a tail of whole vectors: the same plan with fewer vectors per
    /// iteration, one plan per power of two in the tail's vector count, widest first, for
    /// vector loops that take over from the first in turn (a column reduction's last columns
    /// would otherwise each walk every row in the scalar loop, one pass over the whole input
    /// per column). Only the last chunk of the parallel loop has a tail (the others are
    /// multiples of the first plan's step) and it is `extent % step`. Light plans only (more
    /// than 2 vectors per iteration), of outer loops, which have no bool loads or stores
    /// (those move 2 or 4 vectors at a time, `masks`).
    pub fn remainders(&self, extent: usize) -> Vec<Plan> {
        let lanes = self.mode.lanes();
        if !self.outer || self.unroll <= UNROLL_HEAVY {
            return Vec::new();
        }
        let left = (extent % (lanes * self.unroll)) / lanes;
        (0..self.unroll.trailing_zeros())
            .rev()
            .map(|b| 1usize << b)
            .filter(|u| left & u != 0)
            .map(|unroll| Plan {
                mode: self.mode,
                unroll,
                unit: self.unit.clone(),
                outer: true,
            })
            .collect()
    }
}

fn class_ok(dt: DType, mode: Mode) -> bool {
    match mode {
        Mode::Vec32 => matches!(dt, DType::F32 | DType::I32 | DType::Bool),
        Mode::Vec64 => matches!(dt, DType::F64 | DType::I64 | DType::Bool),
        Mode::Vec8 => dt == DType::Bool,
        Mode::Scalar => true,
    }
}

/// True when loop `pc..end` should be vectorized across its own iterations even though it
/// contains loops: some load inside a nested loop indexes the innermost (contiguous) dimension
/// of its view with this loop's variable, e.g. a column sum `out[n] = sum_m x[m, n]`, whose
/// inner loop walks a column (stride N) while neighbouring outer iterations are adjacent.
pub fn prefers_outer(l: &Lower, pc: usize, end: usize, var: Var) -> bool {
    let body = &l.k.body[pc + 1..end];
    body.iter().any(|i| matches!(i, Inst::Loop { .. }))
        && body
            .iter()
            .any(|i| matches!(i, Inst::Load { index, .. } if index.last() == Some(&var)))
}

/// Vectors per iteration of a light parallel loop vectorized across its iterations (a column
/// reduction `out[n] = sum_m x[m, n]`): each iteration of the nested row loop reads
/// `lanes x unroll` adjacent elements of a row, so rows are read in long runs. A run of one
/// cache line per row (the default unroll) leaves the hardware prefetchers a strided walk that
/// crosses a page every few rows (2-5 GB/s for 1M x 64 float32); 16 vectors (256 bytes) run
/// at 14-17 GB/s, even when that leaves one thread to read whole rows: splitting a row's
/// columns across threads is slower than one thread reading it in one run.
/// `CompiledKernel::run` splits the loop at multiples of the step.
fn outer_unroll(extent: usize, mode: Mode) -> usize {
    let lanes = mode.lanes();
    [16, 8]
        .into_iter()
        .find(|&u| extent >= lanes * u)
        .unwrap_or(UNROLL_LIGHT)
}

/// int32 values of a 64-bit loop held "narrow": the two lanes' int32s in the low half of an
/// `I32X4` (the form `cvttpd2dq` produces and an 8-byte load or store moves), so loops that
/// mix float64 or int64 with int32 at their edges vectorize. A narrow value is an int32 load
/// of the loop's own elements, or a cast to int32 of a float64 (`cvttpd2dq`: NaN, ±inf and
/// out-of-range lanes give `i32::MIN`, NumPy's result on x86-64) or of an int64 (one
/// `pshufd`); its every use is a cast to float64 or int64 (widening the low lanes) or a store
/// into an int32 buffer along the loop. Without this, `np.tanh(int32)`, `int32 / 2.0`,
/// `np.tanh(x).astype(np.int32)` and `x.mean(axis=0, dtype=np.int32)` ran as scalar loops.
/// Casts in `wide` (int32 into int64 sums: four lanes per vector in a 32-bit loop) keep
/// their int32 operands out.
///
/// Int32 `+ - * max min // %` of narrow values (or of int32 values from outside the loop,
/// splat) are narrow too (`a % a` or `a % 3` feeding a float64 `log1p`).
///
/// Float32 values likewise: a float32 load along the loop or a cast of a float64 to float32
/// (`cvtpd2ps`, the low two lanes of an `F32X4`), every use a cast to float64
/// (`cvtps2pd`) or a store into a float32 buffer along the loop (`x.astype(np.float64) <= y`
/// for a float32 `x` and float64 `y`).
fn narrow_values(l: &Lower, body: &[Inst], var: Var, wide: &HashSet<Var>) -> HashSet<Var> {
    let along =
        |index: &[Var]| index.last() == Some(&var) && !index[..index.len() - 1].contains(&var);
    let arg_dt = |arg: &u32| l.k.args[*arg as usize].dtype;
    let narrow_dt = |dt: DType| matches!(dt, DType::I32 | DType::F32);
    // int32 values from outside the loop (constants, hoisted invariants): splat.
    let defined: HashSet<Var> = body.iter().filter_map(|i| i.def()).collect();
    let outside_i32 = |v: &Var| *v != var && !defined.contains(v) && l.ty(*v) == DType::I32;
    let mut narrow: HashSet<Var> = body
        .iter()
        .filter_map(|i| match i {
            Inst::Load { dst, arg, index } if along(index) && narrow_dt(arg_dt(arg)) => Some(*dst),
            Inst::Cast {
                dst,
                to: DType::F32,
                x,
            } if l.ty(*x) == DType::F64 => Some(*dst),
            // `x86_cvtt2dq` on `f64x2` exists only on x86-64.
            Inst::Cast {
                dst,
                to: DType::I32,
                x,
            } if (cfg!(target_arch = "x86_64") && l.ty(*x) == DType::F64)
                || l.ty(*x) == DType::I64 =>
            {
                Some(*dst)
            }
            Inst::Binary { dst, op, a, .. } if l.ty(*a) == DType::I32 && narrow_int_op(*op) => {
                Some(*dst)
            }
            _ => None,
        })
        .collect();
    // Until nothing changes: drop the candidates with a use that is none of those, and the
    // int32 ops whose operands are not (all) narrow.
    loop {
        let keep: HashSet<Var> = narrow
            .iter()
            .copied()
            .filter(|d| {
                let operand = |v: &Var| narrow.contains(v) || outside_i32(v);
                let operands_ok = body.iter().all(|j| match j {
                    Inst::Binary { dst, a, b, .. } if dst == d => operand(a) && operand(b),
                    _ => true,
                });
                let mut uses = body.iter().filter(|j| j.uses().contains(d)).peekable();
                operands_ok
                    && uses.peek().is_some()
                    && uses.all(|j| match j {
                        Inst::Cast { dst, to, x } => {
                            x == d
                                && match l.ty(*d) {
                                    DType::F32 => *to == DType::F64,
                                    _ => matches!(to, DType::F64 | DType::I64),
                                }
                                && !wide.contains(dst)
                        }
                        Inst::Store { arg, index, value } => {
                            value == d && arg_dt(arg) == l.ty(*d) && along(index)
                        }
                        Inst::Binary { dst, .. } => narrow.contains(dst),
                        _ => false,
                    })
            })
            .collect();
        if keep.len() == narrow.len() {
            return narrow;
        }
        narrow = keep;
    }
}

/// int32 ops on narrow values (`narrow_values`): lane-wise on the `I32X4` (the unused lanes
/// hold zeros), `floor_divide` and `%` through float64 lanes (`Lower::int32_div_rem`).
fn narrow_int_op(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(op, Add | Sub | Mul | Max | Min)
        || (matches!(op, FloorDiv | Rem) && cfg!(target_arch = "x86_64"))
}

/// The instructions of loop `pc..end` (loop variable `var`) whose values are the same in
/// every iteration, as positions in the kernel body: constants, loads that index neither
/// `var` nor a value of the body, and pure ops (unary, binary, select, cast) of such values
/// and of values from outside the loop (accumulators the loop updates excepted). Only the
/// loop's own level, not its nested loops. `Lower::emit_plain_loop` computes them once, in
/// scalar form, before the loop, and the vector plan treats them as values from outside: a
/// float64 scalar (`tanh` of a 0-d input, a row's float32 mean compared and cast to float64)
/// no longer makes a loop mix widths, which has no vector form, and is no longer recomputed
/// per element in the scalar loop.
pub fn loop_invariants(l: &Lower, pc: usize, end: usize, var: Var) -> Vec<usize> {
    let body = &l.k.body[pc + 1..end];
    let defined: HashSet<Var> = body.iter().filter_map(|i| i.def()).collect();
    let updated: HashSet<Var> = body
        .iter()
        .filter_map(|i| match i {
            Inst::Update { acc, .. } | Inst::UpdateArg { acc, .. } => Some(*acc),
            _ => None,
        })
        .collect();
    let stored: HashSet<u32> = body
        .iter()
        .filter_map(|i| match i {
            Inst::Store { arg, .. } => Some(*arg),
            _ => None,
        })
        .collect();
    let mut inv: HashSet<Var> = HashSet::new();
    let mut out = Vec::new();
    let mut depth = 0usize;
    for (at, inst) in body.iter().enumerate() {
        match inst {
            Inst::Loop { .. } => depth += 1,
            Inst::EndLoop => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > 0 {
            continue;
        }
        let outside = |u: &Var| *u != var && !defined.contains(u) && !updated.contains(u);
        let ok = match inst {
            Inst::Const { .. } => true,
            Inst::Load { arg, index, .. } => !stored.contains(arg) && index.iter().all(outside),
            Inst::Unary { .. } | Inst::Binary { .. } | Inst::Select { .. } | Inst::Cast { .. } => {
                inst.uses().iter().all(|u| inv.contains(u) || outside(u))
            }
            _ => false,
        };
        if let (true, Some(d)) = (ok, inst.def()) {
            inv.insert(d);
            out.push(pc + 1 + at);
        }
    }
    out
}

/// The variables of the loops nested in `body`.
fn nested_loop_vars(body: &[Inst]) -> HashSet<Var> {
    body.iter()
        .filter_map(|i| match i {
            Inst::Loop { var, .. } => Some(*var),
            _ => None,
        })
        .collect()
}

/// Decides whether the loop `pc..end` (loop variable `var`) vectorizes across its iterations.
/// `outer` allows nested loops (run as scalar loops over lane-uniform variables) and
/// accumulators declared inside (one per lane).
pub fn plan(l: &Lower, pc: usize, end: usize, var: Var, outer: bool) -> Option<Plan> {
    plan_with(l, pc, end, var, outer, true)
}

/// [`plan`]; with `hoist` false, for loops emitted otherwise than by
/// `Lower::emit_plain_loop` (interchanged column reductions), loop-invariant values stay in
/// the body.
pub fn plan_with(
    l: &Lower,
    pc: usize,
    end: usize,
    var: Var,
    outer: bool,
    hoist: bool,
) -> Option<Plan> {
    // Loop-invariant values are computed before the loop: values from outside.
    let hoisted = if hoist {
        loop_invariants(l, pc, end, var)
    } else {
        Vec::new()
    };
    let body: Vec<Inst> = (pc + 1..end)
        .filter(|at| !hoisted.contains(at))
        .map(|at| l.k.body[at].clone())
        .collect();
    let body = &body[..];
    let defined: HashSet<Var> = body.iter().filter_map(|i| i.def()).collect();
    // Loop variables inside the body: the same in every lane.
    let uniform = nested_loop_vars(body);
    let lane_accs: HashMap<Var, (ReduceOp, DType)> = body
        .iter()
        .filter_map(|i| match i {
            Inst::Acc { dst, op, dtype } => Some((*dst, (*op, *dtype))),
            _ => None,
        })
        .collect();
    if !outer && (!uniform.is_empty() || !lane_accs.is_empty()) {
        return None;
    }
    let wide = if outer {
        HashSet::new()
    } else {
        accs::widened_casts(l, body, var)
    };
    let types_with = |narrow: &HashSet<Var>| -> Option<HashSet<DType>> {
        let mut dts: HashSet<DType> = HashSet::new();
        for inst in body {
            match inst {
                // argmax / argmin of the loop's own index (`argacc`), in flat loops.
                Inst::UpdateArg { index, .. } if outer || *index != var => return None,
                Inst::Loop { .. } | Inst::EndLoop => continue,
                Inst::Cast { dst, .. } if wide.contains(dst) => continue,
                Inst::Load { dst, .. } | Inst::Cast { dst, .. } | Inst::Binary { dst, .. }
                    if narrow.contains(dst) =>
                {
                    continue
                }
                Inst::Store { value, .. } if narrow.contains(value) => continue,
                Inst::Load { arg, .. } | Inst::Store { arg, .. } => {
                    dts.insert(l.k.args[*arg as usize].dtype);
                }
                _ => {}
            }
            if let Some(d) = inst.def() {
                dts.insert(l.ty(d));
            }
        }
        Some(dts)
    };
    let mut narrow = narrow_values(l, body, var, &wide);
    let mut dts = types_with(&narrow)?;
    if !narrow.is_empty() && !dts.iter().any(|d| matches!(d, DType::F64 | DType::I64)) {
        // Nothing 64-bit is left: a 32-bit loop (`x % x` of int32s), nothing narrow.
        narrow.clear();
        dts = types_with(&narrow)?;
    }
    let had_bool = dts.remove(&DType::Bool);
    let mode = if dts.is_empty() && had_bool && !outer {
        // Pure bool loops (masks combined, stored or reduced): a byte per lane.
        Mode::Vec8
    } else if dts.is_empty() && had_bool {
        // Lane accumulators of pure bool outer loops: 32-bit lane masks.
        Mode::Vec32
    } else if !dts.is_empty() && dts.iter().all(|d| matches!(d, DType::F32 | DType::I32)) {
        Mode::Vec32
    } else if !dts.is_empty() && dts.iter().all(|d| matches!(d, DType::F64 | DType::I64)) {
        Mode::Vec64
    } else {
        return None;
    };
    let mut unit = Vec::new();
    for inst in body {
        // The loop variable may only appear in indices.
        let index_uses: Vec<Var> = match inst {
            Inst::Load { index, .. } | Inst::Store { index, .. } => index.to_vec(),
            Inst::UpdateArg { index, .. } => vec![*index],
            _ => Vec::new(),
        };
        for u in inst.uses() {
            if (u == var || uniform.contains(&u)) && !index_uses.contains(&u) {
                return None;
            }
            if !defined.contains(&u) && u != var && !index_uses.contains(&u) {
                if matches!(inst, Inst::Update { acc, .. } | Inst::UpdateArg { acc, .. } if *acc == u)
                {
                    // The accumulator being updated: checked below.
                    continue;
                }
                // int32 operands of narrow int32 ops splat into `I32X4`s.
                let narrow_operand = mode == Mode::Vec64
                    && l.ty(u) == DType::I32
                    && matches!(inst, Inst::Binary { dst, .. } if narrow.contains(dst));
                if !class_ok(l.ty(u), mode) && !narrow_operand {
                    return None;
                }
            }
        }
        match inst {
            Inst::Load { arg, index, .. } | Inst::Store { arg, index, .. } => {
                let hits: Vec<usize> = index
                    .iter()
                    .enumerate()
                    .filter(|(_, &v)| v == var)
                    .map(|(d, _)| d)
                    .collect();
                if index
                    .iter()
                    .any(|v| defined.contains(v) && !uniform.contains(v))
                    || hits.len() > 1
                {
                    return None;
                }
                match (inst, hits.first()) {
                    (_, Some(&d)) => unit.push((*arg, d)),
                    (Inst::Store { .. }, None) => return None,
                    _ => {}
                }
            }
            Inst::Unary { op, x, .. } if !unary_vectorizes(*op, l.ty(*x)) => return None,
            Inst::Binary { op, a, .. } if !binary_vectorizes(*op, l.ty(*a)) => return None,
            Inst::Cast { to, x, .. } => {
                let from = l.ty(*x);
                let ok = from == *to
                    || *to == DType::Bool
                    || from == DType::Bool
                    || matches!(
                        (from, *to),
                        (DType::I32, DType::F32)
                            | (DType::F32, DType::I32)
                            | (DType::I64, DType::F64)
                            | (DType::F64, DType::I64)
                    );
                let widened = inst.def().is_some_and(|d| wide.contains(&d));
                let narrowed = (narrow.contains(x)
                    || inst.def().is_some_and(|d| narrow.contains(&d)))
                    && mode == Mode::Vec64;
                if !widened && !narrowed && (!ok || !class_ok(from, mode) || !class_ok(*to, mode)) {
                    return None;
                }
            }
            Inst::Update { value, .. } if wide.contains(value) => {}
            Inst::Update { acc, .. } | Inst::UpdateArg { acc, .. } | Inst::Acc { dst: acc, .. } => {
                let (op, dtype) = match lane_accs.get(acc) {
                    Some(&a) => a,
                    None => {
                        let a = l.accs.get(acc)?;
                        (a.op, a.dtype)
                    }
                };
                let ok = match op {
                    ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min => {
                        dtype != DType::Bool && class_ok(dtype, mode)
                    }
                    // 32-bit loops keep index offsets in int32 lanes (`argacc`).
                    ReduceOp::ArgMax | ReduceOp::ArgMin => {
                        dtype != DType::Bool
                            && class_ok(dtype, mode)
                            && (mode == Mode::Vec64
                                || matches!(l.k.body[pc], Inst::Loop { extent, .. } if extent < i32::MAX as usize))
                    }
                    // any/all of bools: lane masks or'ed/and'ed together.
                    ReduceOp::Any | ReduceOp::All => {
                        dtype == DType::Bool
                            && match inst {
                                Inst::Update { value, .. } => l.ty(*value) == DType::Bool,
                                _ => true,
                            }
                    }
                };
                if !ok {
                    return None;
                }
            }
            _ => {}
        }
    }
    let light = body.len() <= 24
        && body.iter().all(|i| match i {
            // Bool bytes move for 2 or 4 vectors at a time (`masks`): not in the wider
            // unrolls of outer loops.
            Inst::Load { arg, .. } | Inst::Store { arg, .. } => {
                l.k.args[*arg as usize].dtype != DType::Bool || mode == Mode::Vec8 || !outer
            }
            Inst::Unary { op, .. } => !op.is_transcendental(),
            Inst::Binary { op, .. } => !matches!(op, BinaryOp::Pow | BinaryOp::Atan2),
            _ => true,
        });
    let unroll = if light { UNROLL_LIGHT } else { UNROLL_HEAVY };
    let unroll = match (outer, light, &l.k.body[pc]) {
        (
            true,
            true,
            Inst::Loop {
                extent,
                parallel: true,
                ..
            },
        ) => outer_unroll(*extent, mode),
        _ => unroll,
    };
    Some(Plan {
        mode,
        unroll,
        unit,
        outer,
    })
}

/// The state of emitting a vectorized loop body.
struct VCtx {
    /// The vectorized loop's variable and its current (first-lane) value.
    var: Var,
    i: Value,
    mode: Mode,
    lanes: usize,
    /// Vector values (`unroll` registers each).
    vv: HashMap<Var, Vec<Value>>,
    /// Accumulators declared inside the loop (one reduction per lane).
    lane: HashSet<Var>,
    /// Accumulators: folded across lanes at the end (declared outside the loop) or kept per
    /// lane (declared inside it: one reduction per lane, as in a column sum).
    vaccs: HashMap<Var, VAcc>,
    /// argmax / argmin accumulators (`argacc`), folded at the end.
    argaccs: HashMap<Var, ArgVAcc>,
    /// The loop's start (argmax / argmin index offsets count from it).
    lo: Value,
    /// Pointer induction variables: the address of each access whose other indices are
    /// loop-invariant, advanced by one iteration's bytes at the latch.
    streams: HashMap<(u32, Vec<Var>), Variable>,
    /// Values of the body computed once before the loop (their operands are invariant).
    invariant: HashSet<Var>,
}

impl Lower<'_, '_> {
    /// Emits the vector copy of loop `pc..end`; leaves `iv` where the scalar loop continues.
    #[allow(clippy::too_many_arguments)]
    pub fn emit_vector_loop(
        &mut self,
        plan: &Plan,
        pc: usize,
        end: usize,
        var: Var,
        iv: Variable,
        lo: Value,
        hi: Value,
    ) -> Result<()> {
        let mode = plan.mode;
        let lanes = mode.lanes();
        self.unroll = plan.unroll;
        let step = (lanes * self.unroll) as i64;
        if self.k.parallel_loop().is_some_and(|(v, _)| v == var) {
            self.granule = self.granule.max(step as usize);
        }
        // Run-time check: every vectorized dimension has unit stride.
        let mut ok = self.b.ins().iconst(types::I8, 1);
        for &(arg, d) in &plan.unit {
            let s = self.strides[arg as usize][d];
            let e = self.b.ins().icmp_imm_s(IntCC::Equal, s, 1);
            ok = self.b.ins().band(ok, e);
        }
        let n = self.b.ins().isub(hi, lo);
        let nv = self.b.ins().band_imm_s(n, !(step - 1));
        let vend = self.b.ins().iadd(lo, nv);
        let vend = self.b.ins().select(ok, vend, lo);

        // Preheader: constants, invariant loads and outer values as vectors.
        // Loop-invariant values were computed before the loop (`loop_invariants`): values
        // from outside.
        let body: Vec<Inst> = self.k.body[pc + 1..end]
            .iter()
            .filter(|i| !i.def().is_some_and(|d| self.hoisted.contains(&d)))
            .cloned()
            .collect();
        let defined: HashSet<Var> = body.iter().filter_map(|i| i.def()).collect();
        let mut vv: HashMap<Var, Vec<Value>> = HashMap::new();
        let mut invariant: HashSet<Var> = HashSet::new();
        for inst in &body {
            let hoisted = match inst {
                Inst::Const { dst, value } => {
                    let s = self.scalar_const(value.0);
                    Some((*dst, self.broadcast_scalar(value.0.dtype(), s, mode)))
                }
                Inst::Load { dst, arg, index }
                    if !index.contains(&var) && index.iter().all(|v| !defined.contains(v)) =>
                {
                    let ix: Vec<Value> =
                        index.iter().map(|&v| self.val(v)).collect::<Result<_>>()?;
                    let addr = self.addr(*arg, &ix);
                    let dt = self.k.args[*arg as usize].dtype;
                    let s = self.b.ins().load(
                        cl_type(dt, Mode::Scalar),
                        MemFlagsData::trusted(),
                        addr,
                        0,
                    );
                    Some((*dst, self.broadcast_scalar(dt, s, mode)))
                }
                _ => None,
            };
            if let Some((d, v)) = hoisted {
                vv.insert(d, vec![v; self.unroll]);
            }
            let idx: Vec<Var> = match inst {
                Inst::Load { index, .. } | Inst::Store { index, .. } => index.to_vec(),
                _ => Vec::new(),
            };
            let updated = match inst {
                Inst::Update { acc, .. } | Inst::UpdateArg { acc, .. } => Some(*acc),
                _ => None,
            };
            for u in inst.uses() {
                if !defined.contains(&u)
                    && u != var
                    && !idx.contains(&u)
                    && Some(u) != updated
                    && !vv.contains_key(&u)
                {
                    let s = self.val(u)?;
                    let v = self.broadcast_scalar(self.ty(u), s, mode);
                    vv.insert(u, vec![v; self.unroll]);
                }
            }
            // Pure values of invariant operands are computed once, here, and anchored (layer
            // norm's `(x - sum / n) / sqrt(var / n + eps)` would otherwise divide three times
            // and take a square root per vector, log_softmax a log). Broadcasts are not: one
            // `vbroadcastss` per iteration costs less than the register it would hold.
            let pure = matches!(
                inst,
                Inst::Unary { .. } | Inst::Binary { .. } | Inst::Select { .. } | Inst::Cast { .. }
            );
            let uses = inst.uses();
            if let (true, Some(d)) = (pure, inst.def()) {
                if uses.iter().all(|u| *u != var && vv.contains_key(u)) {
                    let first = |v: &Var| vv[v][0];
                    let r = match inst {
                        Inst::Unary { op, x, .. } => {
                            let np = self.nonpositive.contains(x);
                            self.unary_many(*op, self.ty(*x), vec![first(x)], mode, np)?[0]
                        }
                        Inst::Binary { op, a, b, .. } => {
                            self.binary(*op, self.ty(*a), first(a), first(b), mode)?
                        }
                        Inst::Select { cond, a, b, .. } => {
                            self.select(self.ty(*a), first(cond), first(a), first(b), mode)
                        }
                        Inst::Cast { to, x, .. } => self.cast(self.ty(*x), *to, first(x), mode)?,
                        _ => continue,
                    };
                    self.anchor(r);
                    vv.insert(d, vec![r; self.unroll]);
                    invariant.insert(d);
                }
            }
        }
        // Vector accumulators.
        let mut vaccs: HashMap<Var, VAcc> = HashMap::new();
        for inst in &body {
            if let Inst::Update { acc, .. } = inst {
                if vaccs.contains_key(acc) || defined.contains(acc) {
                    continue;
                }
                let a = self.acc_vars(*acc)?;
                if mode == Mode::Vec32 && a.dtype == DType::I64 {
                    // Int32 values into an int64 sum or product (the plan checked).
                    let va = self.wide_acc(a, self.unroll);
                    vaccs.insert(*acc, va);
                    continue;
                }
                let t = cl_type(a.dtype, mode);
                let id = acc_identity(a.op, a.dtype);
                let s = self.scalar_const(id);
                let init = self.broadcast_scalar(a.dtype, s, mode);
                let zs = self.scalar_const(acc_identity(ReduceOp::Sum, a.dtype));
                let zero = self.broadcast_scalar(a.dtype, zs, mode);
                let mut vals = Vec::new();
                let mut comp = Vec::new();
                // Float sums: one compensated accumulator fed the pairwise sum of the unrolled
                // vectors (see `two_sum`); other reductions: one chain per unrolled vector.
                let float_sum = a.op == ReduceOp::Sum && a.dtype.is_float();
                let chains = if float_sum { 1 } else { self.unroll };
                for _ in 0..chains {
                    let v = self.b.declare_var(t);
                    self.b.def_var(v, init);
                    vals.push(v);
                    if float_sum {
                        let c = self.b.declare_var(t);
                        self.b.def_var(c, zero);
                        comp.push(c);
                    }
                }
                // Lanes fold at the end: one NaN mask for all unrolled vectors.
                let nan = self.nan_masks(a.op, a.dtype, mode, 1);
                vaccs.insert(
                    *acc,
                    VAcc {
                        scalar: a,
                        vals,
                        comp,
                        nan,
                        grouped: float_sum,
                        wide: false,
                    },
                );
            }
        }

        // argmax / argmin accumulators.
        let mut argaccs: HashMap<Var, ArgVAcc> = HashMap::new();
        for inst in &body {
            if let Inst::UpdateArg { acc, .. } = inst {
                if !argaccs.contains_key(acc) {
                    let a = self.acc_vars(*acc)?;
                    argaccs.insert(*acc, self.arg_vacc(a, self.unroll, mode));
                }
            }
        }

        // Accesses whose other indices are invariant walk a pointer (Cranelift does not hoist
        // the invariant part of `base + i * stride` out of the loop by itself).
        let uniform = nested_loop_vars(&body);
        let mut streams: HashMap<(u32, Vec<Var>), Variable> = HashMap::new();
        let mut steps: Vec<(Variable, i64)> = Vec::new();
        for inst in &body {
            let (Inst::Load { arg, index, .. } | Inst::Store { arg, index, .. }) = inst else {
                continue;
            };
            let key = (*arg, index.to_vec());
            let dt = self.k.args[*arg as usize].dtype;
            if !index.contains(&var)
                || streams.contains_key(&key)
                || index
                    .iter()
                    .any(|v| defined.contains(v) || uniform.contains(v))
            {
                continue;
            }
            let ix: Vec<Value> = index
                .iter()
                .map(|&v| if v == var { Ok(lo) } else { self.val(v) })
                .collect::<Result<_>>()?;
            let p0 = self.addr(*arg, &ix);
            let pv = self.b.declare_var(types::I64);
            self.b.def_var(pv, p0);
            streams.insert(key, pv);
            steps.push((pv, step * dt.size() as i64));
        }

        // Float32 / float64 math on AVX-512 hosts: whole blocks first, in stages around block
        // calls.
        if !plan.outer && matches!(mode, Mode::Vec32 | Mode::Vec64) {
            let streamed: HashSet<Var> = body
                .iter()
                .filter_map(|i| match i {
                    Inst::Load { dst, arg, index }
                        if streams.contains_key(&(*arg, index.to_vec())) =>
                    {
                        Some(*dst)
                    }
                    _ => None,
                })
                .collect();
            let extent = match self.k.body[pc] {
                Inst::Loop { extent, .. } => extent,
                _ => 0,
            };
            if let Some(st) = staged::Staging::plan(
                self, mode, &body, &vv, &invariant, &streamed, &vaccs, extent,
            ) {
                let bytes: HashMap<(u32, Vec<Var>), i64> = streams
                    .keys()
                    .map(|k| (k.clone(), self.k.args[k.0 as usize].dtype.size() as i64))
                    .collect();
                let cx = VCtx {
                    var,
                    i: lo,
                    mode,
                    lanes,
                    vv: vv.clone(),
                    lane: HashSet::new(),
                    vaccs: vaccs.clone(),
                    argaccs: HashMap::new(),
                    lo,
                    streams: HashMap::new(),
                    invariant: invariant.clone(),
                };
                self.emit_staged(&st, &body, &cx, iv, vend, &streams, &bytes)?;
            }
        }

        let header = self.b.create_block();
        let vbody = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(header);
        let i = self.b.use_var(iv);
        let c = self.b.ins().icmp(IntCC::SignedLessThan, i, vend);
        self.b.ins().brif(c, vbody, &[], exit, &[]);
        self.b.switch_to_block(vbody);
        let mut ctx = VCtx {
            var,
            i,
            mode,
            lanes,
            vv,
            lane: HashSet::new(),
            vaccs,
            argaccs,
            lo,
            streams,
            invariant,
        };
        self.emit_vector_range(pc + 1, end, &mut ctx)?;
        let VCtx {
            vaccs,
            lane,
            argaccs,
            ..
        } = ctx;
        let i2 = self.b.ins().iadd_imm_s(i, step);
        self.b.def_var(iv, i2);
        for (pv, bytes) in steps {
            let p = self.b.use_var(pv);
            let p2 = self.b.ins().iadd_imm_s(p, bytes);
            self.b.def_var(pv, p2);
        }
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(exit);

        // Fold the vector accumulators into the scalar ones.
        let mut keys: Vec<Var> = vaccs
            .keys()
            .copied()
            .filter(|k| !lane.contains(k))
            .collect();
        keys.sort();
        for k in keys {
            self.fold_vector_acc(&vaccs[&k], lanes, mode)?;
        }
        let mut keys: Vec<Var> = argaccs.keys().copied().collect();
        keys.sort();
        for k in keys {
            self.fold_arg_vacc(&argaccs[&k], lo, mode);
        }
        Ok(())
    }

    /// Emits instructions `from..to` of a vectorized loop's body; nested loops become scalar
    /// loops over their (lane-uniform) variables.
    fn emit_vector_range(&mut self, from: usize, to: usize, cx: &mut VCtx) -> Result<()> {
        let mut pc = from;
        while pc < to {
            let inst = self.k.body[pc].clone();
            match &inst {
                Inst::Loop { var, extent, .. } => {
                    let end = self.ends[pc];
                    let iv = self.b.declare_var(types::I64);
                    let zero = self.b.ins().iconst(types::I64, 0);
                    self.b.def_var(iv, zero);
                    let header = self.b.create_block();
                    let body = self.b.create_block();
                    let exit = self.b.create_block();
                    self.b.ins().jump(header, &[]);
                    self.b.switch_to_block(header);
                    let j = self.b.use_var(iv);
                    let c = self
                        .b
                        .ins()
                        .icmp_imm_s(IntCC::SignedLessThan, j, *extent as i64);
                    self.b.ins().brif(c, body, &[], exit, &[]);
                    self.b.switch_to_block(body);
                    self.vals.insert(*var, j);
                    self.emit_vector_range(pc + 1, end, cx)?;
                    let j2 = self.b.ins().iadd_imm_s(j, 1);
                    self.b.def_var(iv, j2);
                    self.b.ins().jump(header, &[]);
                    self.b.switch_to_block(exit);
                    pc = end + 1;
                    continue;
                }
                Inst::EndLoop => {}
                Inst::Acc { dst, op, dtype } => {
                    let va = self.lane_acc(*op, *dtype, cx.mode);
                    cx.vaccs.insert(*dst, va);
                    cx.lane.insert(*dst);
                }
                _ => {
                    // Lane accumulators read after their loops: their current lanes.
                    for u in inst.uses() {
                        let target = matches!(&inst, Inst::Update { acc, .. } if *acc == u);
                        if !target && cx.lane.contains(&u) {
                            let vs = match cx.vaccs.get(&u) {
                                Some(va) => {
                                    let (vals, comp, nan, dt) = (
                                        va.vals.clone(),
                                        va.comp.clone(),
                                        va.nan.clone(),
                                        va.scalar.dtype,
                                    );
                                    self.read_lane_acc(&vals, &comp, &nan, dt, cx.mode)
                                }
                                None => continue,
                            };
                            cx.vv.insert(u, vs);
                        }
                    }
                    self.emit_vector_inst(&inst, cx)?;
                }
            }
            pc += 1;
        }
        Ok(())
    }

    fn emit_vector_inst(&mut self, inst: &Inst, cx: &mut VCtx) -> Result<()> {
        if inst
            .def()
            .is_some_and(|d| cx.invariant.contains(&d) || self.hoisted.contains(&d))
        {
            return Ok(());
        }
        let (var, i, mode, lanes) = (cx.var, cx.i, cx.mode, cx.lanes);
        let (vv, vaccs) = (&mut cx.vv, &cx.vaccs);
        let get = |vv: &HashMap<Var, Vec<Value>>, v: Var| {
            vv.get(&v)
                .cloned()
                .ok_or_else(|| CodegenError::Internal(format!("vector value %{} missing", v.0)))
        };
        match inst {
            Inst::Const { .. } => {}
            Inst::Load { dst, arg, index }
            | Inst::Store {
                arg,
                index,
                value: dst,
            } => {
                if !index.contains(&var) {
                    // The same element in every lane: hoisted in the preheader when invariant,
                    // otherwise (indexed by a nested loop) loaded here and broadcast.
                    if let (Inst::Load { .. }, false) = (inst, vv.contains_key(dst)) {
                        let ix: Vec<Value> =
                            index.iter().map(|&v| self.val(v)).collect::<Result<_>>()?;
                        let addr = self.addr(*arg, &ix);
                        let dt = self.k.args[*arg as usize].dtype;
                        let s = self.b.ins().load(
                            cl_type(dt, Mode::Scalar),
                            MemFlagsData::trusted(),
                            addr,
                            0,
                        );
                        let v = self.broadcast_scalar(dt, s, mode);
                        vv.insert(*dst, vec![v; self.unroll]);
                    }
                    return Ok(());
                }
                let addr = match cx.streams.get(&(*arg, index.to_vec())) {
                    Some(&pv) => self.b.use_var(pv),
                    None => {
                        let ix: Vec<Value> = index
                            .iter()
                            .map(|&v| if v == var { Ok(i) } else { self.val(v) })
                            .collect::<Result<_>>()?;
                        self.addr(*arg, &ix)
                    }
                };
                let dt = self.k.args[*arg as usize].dtype;
                let t = cl_type(dt, mode);
                let size = (dt.size() * lanes) as i32;
                // Unaligned 128-bit accesses: NumPy buffers are not 16-byte aligned in general.
                let flags = MemFlagsData::new().with_notrap();
                if dt == DType::Bool && mode == Mode::Vec8 {
                    // A byte per lane: 16 bools per access, 0/1 in memory, 0/-1 in lanes.
                    if matches!(inst, Inst::Load { .. }) {
                        let zero = self.konst(DType::Bool, 0.0, 0, mode);
                        let vs = (0..self.unroll)
                            .map(|u| {
                                let x = self.b.ins().load(t, flags, addr, size * u as i32);
                                self.b.ins().icmp(IntCC::NotEqual, x, zero)
                            })
                            .collect();
                        vv.insert(*dst, vs);
                    } else {
                        let one = self.b.ins().iconst(types::I8, 1);
                        let ones = self.b.ins().splat(t, one);
                        for (u, v) in get(vv, *dst)?.into_iter().enumerate() {
                            let x = self.b.ins().band(v, ones);
                            self.b.ins().store(flags, x, addr, size * u as i32);
                        }
                    }
                    return Ok(());
                }
                if dt == DType::Bool {
                    // Bytes <-> lane masks: all the iteration's vectors' bools in one access.
                    if matches!(inst, Inst::Load { .. }) {
                        let vs = self.load_bools(addr, mode, flags, self.unroll)?;
                        vv.insert(*dst, vs);
                    } else {
                        let vs = get(vv, *dst)?;
                        self.store_bools(addr, &vs, mode, flags);
                    }
                    return Ok(());
                }
                let narrow = matches!(dt, DType::I32 | DType::F32) && mode == Mode::Vec64;
                if let (Inst::Load { .. }, true) = (inst, narrow) {
                    // A narrow load (`narrow_values`): two int32s or float32s per vector, low
                    // lanes.
                    let nt = if dt == DType::F32 {
                        types::F32X4
                    } else {
                        types::I32X4
                    };
                    let vs = (0..self.unroll)
                        .map(|u| {
                            let w = self.b.ins().load(types::I64, flags, addr, size * u as i32);
                            let v = self.b.ins().scalar_to_vector(types::I64X2, w);
                            let f = MemFlagsData::new()
                                .with_endianness(cranelift_codegen::ir::Endianness::Little);
                            self.b.ins().bitcast(nt, f, v)
                        })
                        .collect();
                    vv.insert(*dst, vs);
                } else if let (Inst::Store { .. }, true) = (inst, narrow) {
                    // A narrow store: the low lanes' two int32s or float32s as one float64
                    // lane (`movsd`, no move to a general register).
                    let f = MemFlagsData::new()
                        .with_endianness(cranelift_codegen::ir::Endianness::Little);
                    for (u, v) in get(vv, *dst)?.into_iter().enumerate() {
                        let d = self.b.ins().bitcast(types::F64X2, f, v);
                        let w = self.b.ins().extractlane(d, 0);
                        self.b.ins().store(flags, w, addr, size * u as i32);
                    }
                } else if matches!(inst, Inst::Load { .. }) {
                    let vs = (0..self.unroll)
                        .map(|u| self.b.ins().load(t, flags, addr, size * u as i32))
                        .collect();
                    vv.insert(*dst, vs);
                } else {
                    let vs = get(vv, *dst)?;
                    for (u, v) in vs.into_iter().enumerate() {
                        self.b.ins().store(flags, v, addr, size * u as i32);
                    }
                }
            }
            Inst::Unary { dst, op, x } => {
                let xs = get(vv, *x)?;
                let np = self.nonpositive.contains(x);
                let r = self.unary_many(*op, self.ty(*x), xs, mode, np)?;
                vv.insert(*dst, r);
            }
            Inst::Binary { dst, op, a, b } => {
                let (xa, xb) = (get(vv, *a)?, get(vv, *b)?);
                let dt = self.ty(*a);
                let r = xa
                    .into_iter()
                    .zip(xb)
                    .map(|(x, y)| self.binary(*op, dt, x, y, mode))
                    .collect::<Result<_>>()?;
                vv.insert(*dst, r);
            }
            Inst::Select { dst, cond, a, b } => {
                let (c, xa, xb) = (get(vv, *cond)?, get(vv, *a)?, get(vv, *b)?);
                let dt = self.ty(*a);
                let r = (0..self.unroll)
                    .map(|u| self.select(dt, c[u], xa[u], xb[u], mode))
                    .collect();
                vv.insert(*dst, r);
            }
            Inst::Cast { dst, to, x }
                if mode == Mode::Vec32 && self.ty(*x) == DType::I32 && *to == DType::I64 =>
            {
                // Widened in the int64 accumulator it feeds (the plan checked).
                let xs = get(vv, *x)?;
                vv.insert(*dst, xs);
            }
            Inst::Cast { dst, to, x } => {
                let xs = get(vv, *x)?;
                let from = self.ty(*x);
                let r = xs
                    .into_iter()
                    .map(|x| self.cast(from, *to, x, mode))
                    .collect::<Result<_>>()?;
                vv.insert(*dst, r);
            }
            Inst::Update { acc, value } => {
                let va = vaccs
                    .get(acc)
                    .ok_or_else(|| CodegenError::Internal("vector accumulator missing".into()))?;
                let xs = get(vv, *value)?;
                self.update_vector_acc(va, xs, mode)?;
            }
            Inst::UpdateArg { acc, value, .. } => {
                let va = cx.argaccs.get(acc).ok_or_else(|| {
                    CodegenError::Internal("vector argmax accumulator missing".into())
                })?;
                let xs = get(vv, *value)?;
                let lo = cx.lo;
                self.update_arg_vacc(va, &xs, i, lo, mode)?;
            }
            Inst::Loop { .. } | Inst::EndLoop | Inst::Acc { .. } => {
                return Err(CodegenError::Internal("not vectorizable".into()))
            }
        }
        Ok(())
    }
}
