//! argmax / argmin accumulators of vector loops (`update_arg acc, x, i` with `i` the loop
//! variable). Each unrolled vector keeps the best value of each lane and its index, updated
//! with the scalar loop's rule (strictly better, or the first NaN: `Lower::arg_better`), so
//! each lane holds the first best of the elements it saw. After the loop the lanes merge into
//! the scalar accumulator, ties going to the smaller index, which gives NumPy's first index of
//! the maximum (or of the first NaN). Lanes that never updated hold index `MAX`, which loses
//! every tie.
//!
//! Indices are `i64` lanes in 64-bit loops; 32-bit loops (float32, int32: 4 lanes) keep `i32`
//! offsets from the loop's start, so the plan takes them only for loops shorter than 2^31.

use crate::cpu::lower::{arg_start, AccVars, Lower, Mode};
use crate::cpu::math::vconst;
use crate::cpu::ops::cl_type;
use crate::error::Result;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, Type, Value};
use cranelift_frontend::Variable;
use ember_ir::DType;

/// An argmax / argmin accumulator of a vector loop.
pub(super) struct ArgVAcc {
    pub(super) scalar: AccVars,
    /// Best value, per unrolled vector.
    vals: Vec<Variable>,
    /// Its index (64-bit loops) or offset from the loop's start (32-bit loops), per unrolled
    /// vector.
    idx: Vec<Variable>,
}

/// The index lanes' type in `mode`.
fn index_type(mode: Mode) -> Type {
    if mode == Mode::Vec64 {
        types::I64X2
    } else {
        types::I32X4
    }
}

impl Lower<'_, '_> {
    /// A fresh vector argmax / argmin accumulator for `a`: `unroll` chains at the start
    /// value, indices at `MAX`.
    pub(super) fn arg_vacc(&mut self, a: AccVars, unroll: usize, mode: Mode) -> ArgVAcc {
        let t = cl_type(a.dtype, mode);
        let it = index_type(mode);
        let s = self.scalar_const(arg_start(a.op, a.dtype));
        let init = self.broadcast_scalar(a.dtype, s, mode);
        let none = if mode == Mode::Vec64 {
            i64::MAX.to_le_bytes().repeat(2)
        } else {
            i32::MAX.to_le_bytes().repeat(4)
        };
        let none = vconst(&mut self.b, it, none);
        let mut vals = Vec::with_capacity(unroll);
        let mut idx = Vec::with_capacity(unroll);
        for _ in 0..unroll {
            let v = self.b.declare_var(t);
            self.b.def_var(v, init);
            vals.push(v);
            let i = self.b.declare_var(it);
            self.b.def_var(i, none);
            idx.push(i);
        }
        ArgVAcc {
            scalar: a,
            vals,
            idx,
        }
    }

    /// One iteration's update: `xs[u]` holds the elements at `i + u * lanes + k` (`i` the
    /// iteration's first index, `lo` the loop's start).
    pub(super) fn update_arg_vacc(
        &mut self,
        va: &ArgVAcc,
        xs: &[Value],
        i: Value,
        lo: Value,
        mode: Mode,
    ) -> Result<()> {
        let lanes = mode.lanes();
        let it = index_type(mode);
        let (idt, base) = if mode == Mode::Vec64 {
            (DType::I64, i)
        } else {
            let off = self.b.ins().isub(i, lo);
            (DType::I32, self.b.ins().ireduce(types::I32, off))
        };
        let base = self.b.ins().splat(it, base);
        for (u, &x) in xs.iter().enumerate() {
            let iota: Vec<u8> = (0..lanes)
                .flat_map(|k| {
                    let n = (u * lanes + k) as i64;
                    if mode == Mode::Vec64 {
                        n.to_le_bytes().to_vec()
                    } else {
                        (n as i32).to_le_bytes().to_vec()
                    }
                })
                .collect();
            let iota = vconst(&mut self.b, it, iota);
            let at = self.b.ins().iadd(base, iota);
            let cur = self.b.use_var(va.vals[u]);
            let better = self.arg_better(va.scalar.op, va.scalar.dtype, x, cur);
            let nv = self.select(va.scalar.dtype, better, x, cur, mode);
            self.b.def_var(va.vals[u], nv);
            let ci = self.b.use_var(va.idx[u]);
            let ni = self.select(idt, better, at, ci, mode);
            self.b.def_var(va.idx[u], ni);
        }
        Ok(())
    }

    /// Merges every lane into the scalar accumulator: better values win, equal ones (NaN
    /// equal to NaN) go to the smaller index.
    pub(super) fn fold_arg_vacc(&mut self, va: &ArgVAcc, lo: Value, mode: Mode) {
        let a = va.scalar;
        let Some(aux) = a.aux else { return };
        for (&vv, &iv) in va.vals.iter().zip(&va.idx) {
            let vals = self.b.use_var(vv);
            let idxs = self.b.use_var(iv);
            for k in 0..mode.lanes() as u8 {
                let v = self.b.ins().extractlane(vals, k);
                let raw = self.b.ins().extractlane(idxs, k);
                let at = if mode == Mode::Vec64 {
                    raw
                } else {
                    // An offset from `lo`; `MAX` (never updated) stays the largest index.
                    let none = self.b.ins().icmp_imm_s(IntCC::Equal, raw, i32::MAX as i64);
                    let wide = self.b.ins().sextend(types::I64, raw);
                    let abs = self.b.ins().iadd(lo, wide);
                    let max = self.b.ins().iconst(types::I64, i64::MAX);
                    self.b.ins().select(none, max, abs)
                };
                let cur = self.b.use_var(a.val);
                let ci = self.b.use_var(aux);
                let better = self.arg_better(a.op, a.dtype, v, cur);
                let same = self.arg_same(a.dtype, v, cur);
                let earlier = self.b.ins().icmp(IntCC::SignedLessThan, at, ci);
                let tie = self.b.ins().band(same, earlier);
                let take = self.b.ins().bor(better, tie);
                let nv = self.b.ins().select(take, v, cur);
                self.b.def_var(a.val, nv);
                let ni = self.b.ins().select(take, at, ci);
                self.b.def_var(aux, ni);
            }
        }
    }
}
