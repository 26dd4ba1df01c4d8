//! Row loops as calls to Rust routines: float32 row kernels' loops to 512-bit routines
//! ([`crate::cpu::wide_rows`]), and bool `any` / `all` scans to byte scans that stop at the
//! first deciding block ([`crate::cpu::bool_rows`]).
//!
//! A (non-parallel) loop of one of these shapes, over the last, contiguous dimension of its
//! views, is one call when the views' last strides are 1 at run time (the loop as written
//! runs otherwise); the float32 shapes only on AVX-512 hosts:
//!
//! ```text
//! for c { v = load X[.., c]; update m, v }                        // m: acc max / min
//! for c { v = load X[.., c]; d = v - k; e = exp d; update s, e;   // s: acc sum, k invariant,
//!         store Y[.., c], e }                                    //   store and `- k` optional
//! for c { v = load Y[.., c]; q = v / k; store Z[.., c], q }       // or `v * k`
//! for c { v = load B[.., c]; update a, v }                        // B bool, a: acc any / all
//! ```
//!
//! A full `any` / `all` of a bool array is such a loop at the top of its kernel; it is not
//! split over the pool ([`super::split`]): one scan that stops early beats two that cannot.
//!
//! When an exp-sum loop's stored row is read back only by a later scale loop of the same row
//! that overwrites it (softmax: `e` stored to the output, then divided in place), the exp row
//! goes to a scratch row on the stack instead, and the scale loop reads it from there and
//! streams the output past the cache when the output is large: the output is then written once
//! and never read (W2 moves 64 MB less). Row kernels with row calls are not software-pipelined
//! (`rows`): the calls leave nothing to overlap.

use super::Lower;
use crate::cpu::wide;
use crate::cpu::wide_rows::{SCALE_MUL, SCALE_STREAM};
use crate::error::Result;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, StackSlotData, StackSlotKind, Value};
use ember_ir::kernel::{Inst, Kernel, Var};
use ember_ir::{BinaryOp, DType, ReduceOp, UnaryOp};
use std::collections::{HashMap, HashSet};

/// Outputs at least this large are streamed past the cache by redirected scale loops.
const STREAM_BYTES: usize = 8 << 20;
/// Scratch rows up to this size live on the stack.
const SCRATCH_BYTES: usize = 64 << 10;

/// A view access: argument and index variables.
type Access = (u32, Vec<Var>);

/// What one row loop becomes.
#[derive(Clone, Debug)]
pub enum RowCall {
    /// `acc = max/min(acc, max/min of the row)`.
    Extreme { x: Access, acc: Var, max: bool },
    /// `acc += sum(exp(x - k))`, the exp row stored to `store` (or to the scratch row).
    ExpSum {
        x: Access,
        sub: Option<Var>,
        acc: Var,
        store: Option<Access>,
    },
    /// `z = y / k` (or `y * k`).
    Scale {
        y: Access,
        op: BinaryOp,
        by: Var,
        store: Access,
    },
    /// `acc = acc or any(x)` (`and all(x)`), `x` a bool row.
    AnyAll { x: Access, acc: Var, any: bool },
}

impl RowCall {
    /// Whether the call is to a 512-bit routine (planned only where they are available).
    fn wide(&self) -> bool {
        !matches!(self, RowCall::AnyAll { .. })
    }
}

/// The row calls of a kernel.
#[derive(Clone, Debug, Default)]
pub struct RowPlan {
    /// By the loop's pc.
    pub calls: HashMap<usize, RowCall>,
    /// An exp-sum loop and the scale loop that reads its row back from the scratch row.
    pub redirect: Option<(usize, usize)>,
    /// The redirected scale loop streams its stores.
    pub stream: bool,
}

impl RowPlan {
    /// The row calls of `k` (its first `len` instructions; `ends[pc]` is the `EndLoop` of the
    /// loop at `pc`, as `Lower::ends`); the float32 ones only when the wide routines are
    /// available.
    pub fn of(k: &Kernel, len: usize, types: &[Option<DType>], ends: &[usize]) -> RowPlan {
        let mut plan = RowPlan::default();
        let wide_ok = wide::available();
        let body = &k.body[..len.min(k.body.len())];
        let ty = |v: Var| types.get(v.0 as usize).copied().flatten();
        for (pc, inst) in body.iter().enumerate() {
            let Inst::Loop {
                var,
                parallel: false,
                ..
            } = inst
            else {
                continue;
            };
            let Some(&end) = ends.get(pc).filter(|&&e| e > pc && e < body.len()) else {
                continue;
            };
            if let Some(c) = match_loop(k, &body[pc + 1..end], *var, &ty) {
                if wide_ok || !c.wide() {
                    plan.calls.insert(pc, c);
                }
            }
        }
        plan.redirect = find_redirect(k, body, ends, &plan.calls);
        if let Some((_, s)) = plan.redirect {
            if let Some(RowCall::Scale { store, .. }) = plan.calls.get(&s) {
                let a = &k.args[store.0 as usize];
                let bytes = a.shape.iter().product::<usize>() * a.dtype.size();
                plan.stream = a.output && bytes >= STREAM_BYTES;
            }
        }
        plan
    }

    /// The bool scans ([`RowCall::AnyAll`]) of `k`, without the other row calls.
    pub fn bool_scans(k: &Kernel, types: &[Option<DType>], ends: &[usize]) -> RowPlan {
        let mut calls = RowPlan::of(k, k.body.len(), types, ends).calls;
        calls.retain(|_, c| !c.wide());
        RowPlan {
            calls,
            ..RowPlan::default()
        }
    }
}

/// Whether loop `pc..end` of `k` (`end` its `EndLoop`) is an `any` / `all` scan of a bool
/// row (a [`RowCall::AnyAll`]).
pub fn is_bool_scan(k: &Kernel, pc: usize, end: usize) -> bool {
    let Some(Inst::Loop { var, .. }) = k.body.get(pc) else {
        return false;
    };
    let Some(body) = k.body.get(pc + 1..end) else {
        return false;
    };
    matches!(
        match_loop(k, body, *var, &|_| None),
        Some(RowCall::AnyAll { .. })
    )
}

/// The row call a loop body (without its `Loop`/`EndLoop`) is, if any.
fn match_loop(
    k: &Kernel,
    body: &[Inst],
    var: Var,
    ty: &dyn Fn(Var) -> Option<DType>,
) -> Option<RowCall> {
    let insts: Vec<&Inst> = body
        .iter()
        .filter(|i| !matches!(i, Inst::Const { .. }))
        .collect();
    let defined: HashSet<Var> = body.iter().filter_map(|i| i.def()).collect();
    let consts: HashSet<Var> = body
        .iter()
        .filter_map(|i| match i {
            Inst::Const { dst, .. } => Some(*dst),
            _ => None,
        })
        .collect();
    // Invariant operands: defined outside the loop (or a constant of the body).
    let invariant = |v: Var| (!defined.contains(&v) || consts.contains(&v)) && v != var;
    // A row of `dt`: the loop variable indexes the last dimension, and only it.
    let row_of = |dt: DType, arg: u32, index: &[Var]| -> Option<Access> {
        let a = k.args.get(arg as usize)?;
        let (last, rest) = index.split_last()?;
        (a.dtype == dt && *last == var && rest.iter().all(|v| *v != var && !defined.contains(v)))
            .then(|| (arg, index.to_vec()))
    };
    let f32_row = |arg: u32, index: &[Var]| row_of(DType::F32, arg, index);
    let bool_row = |arg: u32, index: &[Var]| row_of(DType::Bool, arg, index);
    let acc_f32 = |acc: Var| !defined.contains(&acc) && ty(acc) == Some(DType::F32);
    let acc_op = |acc: Var| {
        k.body.iter().find_map(|i| match i {
            Inst::Acc { dst, op, .. } if *dst == acc => Some(*op),
            _ => None,
        })
    };
    match insts.as_slice() {
        [Inst::Load { dst, arg, index }, Inst::Update { acc, value }]
            if value == dst
                && !defined.contains(acc)
                && matches!(acc_op(*acc), Some(ReduceOp::Any | ReduceOp::All))
                && bool_row(*arg, index).is_some() =>
        {
            Some(RowCall::AnyAll {
                x: bool_row(*arg, index)?,
                acc: *acc,
                any: acc_op(*acc)? == ReduceOp::Any,
            })
        }
        [Inst::Load { dst, arg, index }, Inst::Update { acc, value }]
            if value == dst && acc_f32(*acc) =>
        {
            let max = match acc_op(*acc)? {
                ReduceOp::Max => true,
                ReduceOp::Min => false,
                _ => return None,
            };
            Some(RowCall::Extreme {
                x: f32_row(*arg, index)?,
                acc: *acc,
                max,
            })
        }
        [Inst::Load { dst, arg, index }, rest @ ..] => {
            let x = f32_row(*arg, index)?;
            let mut cur = *dst;
            let mut rest = rest;
            let mut sub = None;
            if let [Inst::Binary {
                dst,
                op: BinaryOp::Sub,
                a,
                b,
            }, r @ ..] = rest
            {
                if *a == cur && invariant(*b) && ty(*b) == Some(DType::F32) {
                    sub = Some(*b);
                    cur = *dst;
                    rest = r;
                }
            }
            match rest {
                [Inst::Unary {
                    dst: e,
                    op: UnaryOp::Exp,
                    x: ex,
                }, Inst::Update { acc, value }, tail @ ..]
                    if *ex == cur && value == e && acc_f32(*acc) =>
                {
                    if acc_op(*acc)? != ReduceOp::Sum {
                        return None;
                    }
                    let store = match tail {
                        [] => None,
                        [Inst::Store { arg, index, value }] if value == e => {
                            Some(f32_row(*arg, index)?)
                        }
                        _ => return None,
                    };
                    Some(RowCall::ExpSum {
                        x,
                        sub,
                        acc: *acc,
                        store,
                    })
                }
                [Inst::Binary {
                    dst: q,
                    op: op @ (BinaryOp::Div | BinaryOp::Mul),
                    a,
                    b,
                }, Inst::Store { arg, index, value }]
                    if sub.is_none()
                        && *a == cur
                        && value == q
                        && invariant(*b)
                        && ty(*b) == Some(DType::F32) =>
                {
                    Some(RowCall::Scale {
                        y: x,
                        op: *op,
                        by: *b,
                        store: f32_row(*arg, index)?,
                    })
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// An exp-sum loop whose stored row only a later scale loop reads, overwriting it in place,
/// with nothing else touching that argument in between or after.
fn find_redirect(
    k: &Kernel,
    body: &[Inst],
    ends: &[usize],
    calls: &HashMap<usize, RowCall>,
) -> Option<(usize, usize)> {
    for (&pc, c) in calls {
        let RowCall::ExpSum {
            store: Some(st), ..
        } = c
        else {
            continue;
        };
        let Inst::Loop { extent, .. } = body[pc] else {
            continue;
        };
        if extent * 4 > SCRATCH_BYTES || !k.args[st.0 as usize].output {
            continue;
        }
        let end = ends[pc];
        // The next loop of the same body that touches the argument must be the scale loop.
        let touches = |i: &Inst| matches!(i, Inst::Load { arg, .. } | Inst::Store { arg, .. } if *arg == st.0);
        let Some(next) = (end + 1..body.len()).find(|&i| touches(&body[i])) else {
            continue;
        };
        let Some((&spc, RowCall::Scale { y, store, .. })) =
            calls.iter().find(|(&s, _)| s < next && ends[s] > next)
        else {
            continue;
        };
        let Inst::Loop { extent: e2, .. } = body[spc] else {
            continue;
        };
        // Same row (the index variables other than the loop's own), in place.
        let same = |a: &Access| a.0 == st.0 && a.1[..a.1.len() - 1] == st.1[..st.1.len() - 1];
        let send = ends[spc];
        if e2 != extent || !same(y) || !same(store) {
            continue;
        }
        // Nothing after the scale loop, up to the end of the enclosing loop body, reads it.
        let enclosing_end = (0..pc)
            .filter(|&s| matches!(body[s], Inst::Loop { .. }) && ends[s] > send)
            .map(|s| ends[s])
            .min()
            .unwrap_or(body.len());
        if (send + 1..enclosing_end).any(|i| touches(&body[i])) {
            continue;
        }
        return Some((pc, spc));
    }
    None
}

impl Lower<'_, '_> {
    /// Emits row loop `pc..end` as its call when the views' last strides are 1 at run time,
    /// as the loop otherwise. Returns `false` (emitting nothing) when it is not a row call.
    pub(super) fn emit_row_call(&mut self, pc: usize, end: usize) -> Result<bool> {
        let Some(call) = self.row_calls.calls.get(&pc).cloned() else {
            return Ok(false);
        };
        let Inst::Loop { var, extent, .. } = self.k.body[pc].clone() else {
            return Ok(false);
        };
        // The condition covers both loops of a redirected pair, so they agree on where the
        // exp row is.
        let pair = self.row_calls.redirect.filter(|&(a, b)| a == pc || b == pc);
        let mut views = accesses(&call);
        if let Some((a, b)) = pair {
            let other = if a == pc { b } else { a };
            if let Some(c) = self.row_calls.calls.get(&other) {
                views.extend(accesses(c));
            }
        }
        let mut ok = self.b.ins().iconst(types::I8, 1);
        for (arg, index) in &views {
            let s = self.strides[*arg as usize][index.len() - 1];
            let unit = self.b.ins().icmp_imm_s(IntCC::Equal, s, 1);
            ok = self.b.ins().band(ok, unit);
        }
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let join = self.b.create_block();
        self.b.ins().brif(ok, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        // The body's constants (a `- k` or `/ k` operand may be one).
        for i in pc + 1..end {
            if matches!(self.k.body[i], Inst::Const { .. }) {
                self.emit_scalar_inst(i)?;
            }
        }
        let n = self.b.ins().iconst(types::I64, extent as i64);
        let scratch = pair.map(|_| self.scratch_row(extent));
        match &call {
            RowCall::Extreme { x, acc, max } => {
                let name = if *max {
                    "ember_row_max_f32"
                } else {
                    "ember_row_min_f32"
                };
                self.row_fold_call(name, x, var, n, types::F32, *acc)?;
            }
            RowCall::ExpSum { x, sub, acc, store } => {
                let p = self.row_ptr(x, var)?;
                let m = match sub {
                    Some(v) => self.val(*v)?,
                    None => self.b.ins().f32const(0.0),
                };
                let y = match (scratch, store) {
                    (Some(s), _) => s,
                    (None, Some(st)) => self.row_ptr(st, var)?,
                    (None, None) => self.b.ins().iconst(types::I64, 0),
                };
                let r = self.call_ext(
                    "ember_row_exp_sum_f32",
                    &[types::I64, types::F32, types::I64, types::I64],
                    types::F32,
                    &[p, m, y, n],
                )?;
                let a = self.acc_vars(*acc)?;
                self.acc_fold_scalar(&a, r)?;
            }
            RowCall::Scale { y, op, by, store } => {
                let src = match scratch {
                    Some(s) => s,
                    None => self.row_ptr(y, var)?,
                };
                let dst = self.row_ptr(store, var)?;
                let k = self.val(*by)?;
                let mut flags = if *op == BinaryOp::Mul { SCALE_MUL } else { 0 };
                if scratch.is_some() && self.row_calls.stream {
                    flags |= SCALE_STREAM;
                }
                let f = self.b.ins().iconst(types::I32, flags as i64);
                self.call_ext_void(
                    "ember_row_scale_f32",
                    &[types::I64, types::F32, types::I64, types::I64, types::I32],
                    &[src, k, dst, n, f],
                )?;
            }
            RowCall::AnyAll { x, acc, any } => {
                let name = if *any {
                    "ember_row_any_u8"
                } else {
                    "ember_row_all_u8"
                };
                self.row_fold_call(name, x, var, n, types::I8, *acc)?;
            }
        }
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(slow);
        self.emit_plain_loop(pc, end)?;
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(join);
        Ok(true)
    }

    /// `acc = fold(acc, name(row, n))`: a routine that reduces row `x` to one `ret` value.
    fn row_fold_call(
        &mut self,
        name: &'static str,
        x: &Access,
        var: Var,
        n: Value,
        ret: cranelift_codegen::ir::Type,
        acc: Var,
    ) -> Result<()> {
        let p = self.row_ptr(x, var)?;
        let r = self.call_ext(name, &[types::I64, types::I64], ret, &[p, n])?;
        let a = self.acc_vars(acc)?;
        self.acc_fold_scalar(&a, r)
    }

    /// Address of `a`'s row: its index with the loop variable at 0.
    fn row_ptr(&mut self, a: &Access, var: Var) -> Result<Value> {
        let mut ix = Vec::with_capacity(a.1.len());
        for &v in &a.1 {
            ix.push(if v == var {
                self.b.ins().iconst(types::I64, 0)
            } else {
                self.val(v)?
            });
        }
        Ok(self.addr(a.0, &ix))
    }

    /// The kernel's scratch row (one stack slot of `extent` float32s, made once).
    fn scratch_row(&mut self, extent: usize) -> Value {
        let slot = *self.row_scratch.get_or_insert_with(|| {
            self.b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                (extent * 4) as u32,
                6,
            ))
        });
        self.b.ins().stack_addr(types::I64, slot, 0)
    }
}

/// Every view a row call reads or writes.
fn accesses(c: &RowCall) -> Vec<Access> {
    match c {
        RowCall::Extreme { x, .. } => vec![x.clone()],
        RowCall::ExpSum { x, store, .. } => {
            std::iter::once(x.clone()).chain(store.clone()).collect()
        }
        RowCall::Scale { y, store, .. } => vec![y.clone(), store.clone()],
        RowCall::AnyAll { x, .. } => vec![x.clone()],
    }
}
