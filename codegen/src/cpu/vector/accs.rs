//! Vector accumulators: float sums (pairwise over the unrolled vectors, then TwoSum into a
//! compensated accumulator), max/min (one `maxps`/`minps` plus a NaN mask), any/all of bools
//! (lane masks or'ed/and'ed, one `vany_true`/`vall_true` at the end), and the fold of the
//! lanes into the scalar accumulator after the loop.

use crate::cpu::lower::{AccVars, Lower, Mode};
use crate::cpu::ops::cl_type;
use crate::error::Result;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::Variable;
use ember_ir::kernel::{acc_identity, Inst, Var};
use ember_ir::{BinaryOp, DType, ReduceOp};
use std::collections::HashSet;

/// An accumulator of a vector loop.
#[derive(Clone)]
pub(super) struct VAcc {
    pub(super) scalar: AccVars,
    pub(super) vals: Vec<Variable>,
    pub(super) comp: Vec<Variable>,
    /// Float max/min: lanes that saw a NaN (the vector update is a compare-select that
    /// lowers to one `maxps`/`minps`, where Cranelift's NaN-exact `fmax` is about nine
    /// instructions). One mask for all unrolled vectors when lanes fold at the end, one per
    /// unrolled vector for lane accumulators.
    pub(super) nan: Vec<Variable>,
    /// One chain (`vals`, `comp`) for all unrolled vectors, fed their pairwise sum (float sums
    /// folded across lanes at the end); otherwise one chain per unrolled vector.
    pub(super) grouped: bool,
    /// An int64 sum or product of int32 vectors (NumPy accumulates int32 in int64): each
    /// chain is two `i64x2` registers, `vals[2 u]` for the low lanes of unrolled vector `u`
    /// (`swiden_low`), `vals[2 u + 1]` for the high ones.
    pub(super) wide: bool,
}

impl Lower<'_, '_> {
    /// `a op b` for the binary operation that reduction `op` folds with.
    pub(super) fn vfold(
        &mut self,
        op: ReduceOp,
        dt: DType,
        a: Value,
        b: Value,
        mode: Mode,
    ) -> Result<Value> {
        let bop = match op {
            ReduceOp::Sum => BinaryOp::Add,
            ReduceOp::Prod => BinaryOp::Mul,
            ReduceOp::Max => BinaryOp::Max,
            ReduceOp::Any => BinaryOp::Or,
            ReduceOp::All => BinaryOp::And,
            _ => BinaryOp::Min,
        };
        self.binary(bop, dt, a, b, mode)
    }

    /// Adds `x` to the compensated sum `s - c` (`s` the running sum, `c` minus the rounding
    /// errors so far): returns the new `(s, c)`. Knuth's TwoSum gives the exact rounding error
    /// `e` of `s + x` (branch-free, any magnitudes), and `c` collects `-e` in a separate chain,
    /// so each chain is one add long per iteration (Kahan's update feeds the compensation back
    /// into the next addend: four dependent operations per iteration). The result is as
    /// accurate as summing in twice the precision (Ogita, Rump and Oishi's Sum2). Infinities
    /// and NaN make `c` NaN; [`Self::compensated`] then returns `s`.
    pub(super) fn two_sum(&mut self, s: Value, c: Value, x: Value) -> (Value, Value) {
        let t = self.b.ins().fadd(s, x);
        let bp = self.b.ins().fsub(t, s);
        let ap = self.b.ins().fsub(t, bp);
        let da = self.b.ins().fsub(s, ap);
        let db = self.b.ins().fsub(x, bp);
        let e = self.b.ins().fadd(da, db);
        (t, self.b.ins().fsub(c, e))
    }

    /// The value of a compensated sum `s - c`: `s` itself when `s` is infinite or NaN (the
    /// compensation is then meaningless, and `inf - inf` must not turn the sum into NaN).
    fn compensated(&mut self, dt: DType, s: Value, c: Value, mode: Mode) -> Value {
        let v = self.b.ins().fsub(s, c);
        let a = self.b.ins().fabs(s);
        let inf = self.konst(dt, f64::INFINITY, 0, mode);
        let finite = self.b.ins().fcmp(FloatCC::LessThan, a, inf);
        self.select(dt, finite, v, s, mode)
    }

    /// Folds the vectors of `xs` (one per unrolled copy) into `va`.
    pub(super) fn update_vector_acc(
        &mut self,
        va: &VAcc,
        mut xs: Vec<Value>,
        mode: Mode,
    ) -> Result<()> {
        if va.wide {
            for (u, x) in xs.into_iter().enumerate() {
                let halves = [self.b.ins().swiden_low(x), self.b.ins().swiden_high(x)];
                for (h, part) in halves.into_iter().enumerate() {
                    let var = va.vals[2 * u + h];
                    let cur = self.b.use_var(var);
                    let r = self.vfold(va.scalar.op, DType::I64, cur, part, Mode::Vec64)?;
                    self.b.def_var(var, r);
                }
            }
            return Ok(());
        }
        if va.grouped {
            // Pairwise: ((x0 + x1) + (x2 + x3)), then one compensated add.
            while xs.len() > 1 {
                let half = xs.len().div_ceil(2);
                let mut next = Vec::with_capacity(half);
                for pair in xs.chunks(2) {
                    next.push(match pair {
                        [a, b] => self.b.ins().fadd(*a, *b),
                        _ => pair[0],
                    });
                }
                xs = next;
            }
        }
        if va.nan.len() == 1 {
            // One mask for every unrolled vector: `unordered(a, b)` tests two at once.
            let mut any: Option<Value> = None;
            for pair in xs.chunks(2) {
                let (a, b) = (pair[0], *pair.last().unwrap_or(&pair[0]));
                let m = self.b.ins().fcmp(FloatCC::Unordered, a, b);
                any = Some(match any {
                    Some(p) => self.b.ins().bor(p, m),
                    None => m,
                });
            }
            if let Some(m) = any {
                let n = self.b.use_var(va.nan[0]);
                let n = self.b.ins().bor(n, m);
                self.b.def_var(va.nan[0], n);
            }
        }
        for (u, x) in xs.into_iter().enumerate() {
            let cur = self.b.use_var(va.vals[u]);
            let r = if let Some(&cv) = va.comp.get(u) {
                let c = self.b.use_var(cv);
                let (t, nc) = self.two_sum(cur, c, x);
                self.b.def_var(cv, nc);
                t
            } else if !va.nan.is_empty() {
                if va.nan.len() > 1 {
                    // One mask per unrolled vector (lane accumulators).
                    let nv = va.nan[u];
                    let isnan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                    let n = self.b.use_var(nv);
                    let n = self.b.ins().bor(n, isnan);
                    self.b.def_var(nv, n);
                }
                // `cur < x ? x : cur` (`x < cur` for min) is one `maxps x, cur`
                // (`minps`); NaN lanes of `x` keep `cur` and are in the NaN mask.
                let better = if va.scalar.op == ReduceOp::Max {
                    self.b.ins().fcmp(FloatCC::LessThan, cur, x)
                } else {
                    self.b.ins().fcmp(FloatCC::LessThan, x, cur)
                };
                self.select(va.scalar.dtype, better, x, cur, mode)
            } else {
                self.vfold(va.scalar.op, va.scalar.dtype, cur, x, mode)?
            };
            self.b.def_var(va.vals[u], r);
        }
        Ok(())
    }

    /// Folds a vector accumulator (unrolled copies, then lanes, pairwise) into its scalar
    /// accumulator after the loop.
    pub(super) fn fold_vector_acc(&mut self, va: &VAcc, lanes: usize, mode: Mode) -> Result<()> {
        let a = va.scalar;
        // Widened int32 accumulators hold int64 pairs.
        let (lanes, mode) = if va.wide {
            (2, Mode::Vec64)
        } else {
            (lanes, mode)
        };
        let mut parts: Vec<Value> = Vec::new();
        for (u, &val) in va.vals.iter().enumerate() {
            let v = self.b.use_var(val);
            let v = match va.comp.get(u) {
                Some(&c) => {
                    let c = self.b.use_var(c);
                    self.compensated(a.dtype, v, c, mode)
                }
                None => v,
            };
            parts.push(v);
        }
        while parts.len() > 1 {
            let b = parts.pop().unwrap_or(parts[0]);
            let a0 = parts.pop().unwrap_or(b);
            let f = self.vfold(a.op, a.dtype, a0, b, mode)?;
            parts.insert(0, f);
        }
        let v = parts[0];
        if matches!(a.op, ReduceOp::Any | ReduceOp::All) {
            // Lane masks: one test of every lane gives the 0/1 bool the scalar holds.
            let r = if a.op == ReduceOp::Any {
                self.b.ins().vany_true(v)
            } else {
                self.b.ins().vall_true(v)
            };
            return self.acc_fold_scalar(&a, r);
        }
        let mut lanes_v: Vec<Value> = (0..lanes as u8)
            .map(|j| self.b.ins().extractlane(v, j))
            .collect();
        while lanes_v.len() > 1 {
            let mut next = Vec::new();
            for pair in lanes_v.chunks(2) {
                next.push(if pair.len() == 2 {
                    self.vfold(a.op, a.dtype, pair[0], pair[1], Mode::Scalar)?
                } else {
                    pair[0]
                });
            }
            lanes_v = next;
        }
        self.acc_fold_scalar(&a, lanes_v[0])?;
        if !va.nan.is_empty() {
            // A NaN anywhere makes the result NaN (NumPy's max/min propagate it).
            let mut n = self.b.use_var(va.nan[0]);
            for &nv in &va.nan[1..] {
                let m = self.b.use_var(nv);
                n = self.b.ins().bor(n, m);
            }
            let any = self.b.ins().vany_true(n);
            let cur = self.b.use_var(a.val);
            let nan = self.scalar_const(if a.dtype == DType::F32 {
                ember_ir::Scalar::F32(f32::NAN)
            } else {
                ember_ir::Scalar::F64(f64::NAN)
            });
            let r = self.b.ins().select(any, nan, cur);
            self.b.def_var(a.val, r);
        }
        Ok(())
    }

    /// NaN masks for float max/min accumulators (none otherwise): `count` of them.
    pub(super) fn nan_masks(
        &mut self,
        op: ReduceOp,
        dtype: DType,
        mode: Mode,
        count: usize,
    ) -> Vec<Variable> {
        if !(matches!(op, ReduceOp::Max | ReduceOp::Min) && dtype.is_float()) {
            return Vec::new();
        }
        let mt = cl_type(DType::Bool, mode);
        (0..count)
            .map(|_| {
                let v = self.b.declare_var(mt);
                let z = self.konst(DType::Bool, 0.0, 0, mode);
                self.b.def_var(v, z);
                v
            })
            .collect()
    }

    /// Declares an accumulator with one lane per element of the vectorized loop.
    pub(super) fn lane_acc(&mut self, op: ReduceOp, dtype: DType, mode: Mode) -> VAcc {
        let t = cl_type(dtype, mode);
        let s = self.scalar_const(acc_identity(op, dtype));
        let init = self.broadcast_scalar(dtype, s, mode);
        let zs = self.scalar_const(acc_identity(ReduceOp::Sum, dtype));
        let zero = self.broadcast_scalar(dtype, zs, mode);
        let mut vals = Vec::new();
        let mut comp = Vec::new();
        for _ in 0..self.unroll {
            let v = self.b.declare_var(t);
            self.b.def_var(v, init);
            vals.push(v);
            if op == ReduceOp::Sum && dtype.is_float() {
                let c = self.b.declare_var(t);
                self.b.def_var(c, zero);
                comp.push(c);
            }
        }
        let nan = self.nan_masks(op, dtype, mode, self.unroll);
        // Only `op` and `dtype` of the scalar registers are used for lane accumulators.
        let dummy = self.b.declare_var(t);
        self.b.def_var(dummy, init);
        VAcc {
            scalar: AccVars {
                op,
                dtype,
                val: dummy,
                aux: None,
            },
            vals,
            comp,
            nan,
            grouped: false,
            wide: false,
        }
    }

    /// A vector accumulator of int32 vectors into the int64 accumulator `a` (sum or
    /// product): `chains` chains of two `i64x2` registers at the identity.
    pub(super) fn wide_acc(&mut self, a: AccVars, chains: usize) -> VAcc {
        let s = self.scalar_const(acc_identity(a.op, DType::I64));
        let init = self.broadcast_scalar(DType::I64, s, Mode::Vec64);
        let vals = (0..2 * chains)
            .map(|_| {
                let v = self.b.declare_var(cl_type(DType::I64, Mode::Vec64));
                self.b.def_var(v, init);
                v
            })
            .collect();
        VAcc {
            scalar: a,
            vals,
            comp: Vec::new(),
            nan: Vec::new(),
            grouped: false,
            wide: true,
        }
    }

    /// The current per-lane values of a lane accumulator.
    pub(super) fn read_lane_acc(
        &mut self,
        vals: &[Variable],
        comp: &[Variable],
        nan: &[Variable],
        dtype: DType,
        mode: Mode,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        for (u, &val) in vals.iter().enumerate().take(self.unroll) {
            let v = self.b.use_var(val);
            let v = match comp.get(u) {
                Some(&c) => {
                    let c = self.b.use_var(c);
                    self.compensated(dtype, v, c, mode)
                }
                None => v,
            };
            let v = match nan.get(u) {
                Some(&nv) => {
                    let m = self.b.use_var(nv);
                    let nan = self.konst(dtype, f64::NAN, 0, mode);
                    self.select(dtype, m, nan, v, mode)
                }
                None => v,
            };
            out.push(v);
        }
        out
    }
}

/// The int32 -> int64 casts of a flat loop body (loop variable `var`) that only feed int64
/// sums or products declared outside the loop, from int32 loads that index `var`: the
/// vector loop keeps them int32 vectors and widens them in the accumulator
/// ([`Lower::wide_acc`]). Empty unless every update of such an accumulator is one of them
/// and nothing else in the body reads it.
pub(super) fn widened_casts(l: &Lower, body: &[Inst], var: Var) -> HashSet<Var> {
    let loaded: HashSet<Var> = body
        .iter()
        .filter_map(|i| match i {
            Inst::Load { dst, arg, index }
                if index.contains(&var) && l.k.args[*arg as usize].dtype == DType::I32 =>
            {
                Some(*dst)
            }
            _ => None,
        })
        .collect();
    let casts: HashSet<Var> = body
        .iter()
        .filter_map(|i| match i {
            Inst::Cast {
                dst,
                to: DType::I64,
                x,
            } if loaded.contains(x) => Some(*dst),
            _ => None,
        })
        .collect();
    let mut wide = HashSet::new();
    for inst in body {
        let ok = match inst {
            Inst::Update { acc, value } if casts.contains(value) => {
                l.accs.get(acc).is_some_and(|a| {
                    a.dtype == DType::I64 && matches!(a.op, ReduceOp::Sum | ReduceOp::Prod)
                }) && body.iter().all(|j| match j {
                    Inst::Update { acc: a2, value: v2 } if a2 == acc => casts.contains(v2),
                    _ => !j.uses().contains(acc),
                }) && body.iter().filter(|j| j.uses().contains(value)).count() == 1
            }
            _ => true,
        };
        if let (Inst::Update { value, .. }, true) = (inst, ok) {
            if casts.contains(value) {
                wide.insert(*value);
            }
        }
    }
    wide
}
