//! Lowers one fused group to a kernel: collapses the domain's dimensions where every buffer
//! allows it (never in a kernel that reads a permuted or sliced view: those keep their own
//! strides, which seldom collapse), opens the outer loops (the first one parallel), then one phase per reduction
//! level, each an inner loop nest that folds reductions and stores elementwise results.
//!
//! A value over the whole domain that an earlier phase computes and a later phase needs again
//! is recomputed, unless it is expensive (contains a transcendental op, see `expensive`) and
//! an output over the whole domain with its dtype, stored in the last phase that needs the
//! value or later, is free to hold it: then the first phase stores the value into that output
//! and the later phases read it back (the kernel IR's read-back rule) before the output gets
//! its own value. Softmax's row kernel computes `exp(x - max)` once this way: its sum phase
//! stores it in the result row, and the last phase divides what it reads back by the sum.

use super::{expensive, is_reduction, GroupView, KernelStep};
use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::kernel::build::Builder;
use crate::kernel::{ArgId, Inst, Var};
use crate::literal::Scalar;
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use std::collections::{HashMap, HashSet};

/// A run of adjacent domain dimensions iterated as one loop.
#[derive(Debug)]
struct DimGroup {
    dims: Vec<usize>,
    size: usize,
    reduced: bool,
}

struct Emitter<'a> {
    g: &'a Graph,
    mat: &'a HashSet<NodeId>,
    reshapes: &'a HashSet<NodeId>,
    in_group: HashSet<NodeId>,
    domain: &'a [usize],
    groups: Vec<DimGroup>,
    b: Builder,
    /// Loop variable of each dim group, when open.
    vars: Vec<Option<Var>>,
    memo: HashMap<NodeId, Var>,
    /// The value of each constant emitted (casts of them fold, see [`Self::cast`]).
    consts: HashMap<Var, Scalar>,
    accs: HashMap<NodeId, Var>,
    args: HashMap<(NodeId, Vec<bool>), ArgId>,
    inputs: Vec<NodeId>,
}

fn err(why: String) -> IrError {
    IrError::Verify(format!("fusion: {why}"))
}

/// Presence of a value of `shape` in each dim of `domain` (right-aligned broadcasting).
fn presence(shape: &[usize], domain: &[usize]) -> Vec<bool> {
    let n = domain.len();
    (0..n)
        .map(|i| {
            let j = (i + shape.len()).checked_sub(n);
            j.is_some_and(|j| shape[j] == domain[i] && domain[i] != 1)
        })
        .collect()
}

/// What `x op k` (`x` of dtype `dx`, converted to `c` as the op does) is in `dx` itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Narrowed {
    /// `x op' k'` with `k'` of dtype `dx`.
    Op(BinaryOp, Scalar),
    /// The same for every `x`.
    Const(bool),
}

/// `x op k` for `x` of dtype `dx` and a constant `k` of dtype `c` (the op's compute dtype),
/// rewritten in `dx`, when every `dx` value converts to `c` exactly (float32 to float64,
/// int32 to float64 or int64). Comparisons take the `dx` neighbours of `k`: with `lo <= k <=
/// hi` the nearest `dx` values (equal when `k` is exact), `x < k` and `x <= k` are `x < hi`
/// (or `x <= k` itself when exact), `x > k` and `x >= k` are `x > lo`, and an inexact `k` is
/// never equal to `x`; NaN `x` compares false both ways, as before. Logical ops only see
/// whether `k` is nonzero (NaN is).
pub(crate) fn narrow_predicate(op: BinaryOp, dx: DType, c: DType, k: Scalar) -> Option<Narrowed> {
    use BinaryOp::*;
    let exact = matches!(
        (dx, c),
        (DType::F32, DType::F64) | (DType::I32, DType::F64) | (DType::I32, DType::I64)
    );
    if !exact || !op.is_predicate() {
        return None;
    }
    if matches!(op, And | Or | Xor) {
        let nonzero = match k {
            Scalar::F64(v) => v != 0.0,
            Scalar::I64(v) => v != 0,
            _ => return None,
        };
        let one = if nonzero { 1.0 } else { 0.0 };
        return Some(Narrowed::Op(op, Scalar::F64(one).cast(dx)));
    }
    // The dx values next to k: (lo, hi), None beyond dx's range.
    let (lo, hi) = match (dx, k) {
        (DType::F32, Scalar::F64(v)) => {
            if v.is_nan() {
                return Some(Narrowed::Op(op, Scalar::F32(f32::NAN)));
            }
            let r = v as f32;
            let (lo, hi) = match (r as f64).partial_cmp(&v)? {
                std::cmp::Ordering::Equal => (r, r),
                std::cmp::Ordering::Less => (r, r.next_up()),
                std::cmp::Ordering::Greater => (r.next_down(), r),
            };
            (Some(Scalar::F32(lo)), Some(Scalar::F32(hi)))
        }
        (DType::I32, Scalar::F64(v)) => {
            if v.is_nan() {
                return Some(Narrowed::Const(op == Ne));
            }
            let int = |f: f64| {
                (f >= i32::MIN as f64 && f <= i32::MAX as f64).then_some(Scalar::I32(f as i32))
            };
            let lo = int(v.floor()).or((v > i32::MAX as f64).then_some(Scalar::I32(i32::MAX)));
            let hi = int(v.ceil()).or((v < i32::MIN as f64).then_some(Scalar::I32(i32::MIN)));
            (lo, hi)
        }
        (DType::I32, Scalar::I64(v)) => {
            let lo = i32::try_from(v)
                .ok()
                .or((v > i32::MAX as i64).then_some(i32::MAX));
            let hi = i32::try_from(v)
                .ok()
                .or((v < i32::MIN as i64).then_some(i32::MIN));
            (lo.map(Scalar::I32), hi.map(Scalar::I32))
        }
        _ => return None,
    };
    Some(match (op, lo, hi) {
        (_, Some(l), Some(h)) if l == h => Narrowed::Op(op, l),
        (Eq | Ne, ..) => Narrowed::Const(op == Ne),
        (Lt | Le, _, Some(h)) => Narrowed::Op(Lt, h),
        (Gt | Ge, Some(l), _) => Narrowed::Op(Gt, l),
        // k above (below) every dx value.
        (Lt | Le | Gt | Ge, ..) => Narrowed::Const(true),
        _ => return None,
    })
}

impl Emitter<'_> {
    /// True when `n` is read from a buffer (not computed here).
    fn is_load(&self, n: NodeId) -> bool {
        !self.in_group.contains(&n) && (self.mat.contains(&n) || self.reshapes.contains(&n))
    }

    fn buffer(&self, mut n: NodeId) -> NodeId {
        while self.reshapes.contains(&n) && !self.mat.contains(&n) {
            n = self.g.operands(n)[0];
        }
        n
    }

    fn splat(&self, n: NodeId) -> Option<Scalar> {
        match &self.g.node(n).op {
            Op::Const(l) if !self.mat.contains(&n) || !self.in_group.contains(&n) => {
                l.splat_value()
            }
            _ => None,
        }
    }

    fn dt(&self, n: NodeId) -> DType {
        self.g.node(n).ty.dtype
    }

    /// `x` as `to`. A constant's cast is a constant of `to`: a loop that mixes dtypes only
    /// through a cast constant (`np.clip(f64, np.float32(0.5), ..)`) then has one dtype class
    /// and vectorizes.
    fn cast(&mut self, x: Var, from: DType, to: DType) -> Var {
        if from == to {
            x
        } else if let Some(&s) = self.consts.get(&x) {
            self.konst(crate::kernel::eval::cast(s, to))
        } else {
            self.b.cast(to, x)
        }
    }

    /// A predicate between a value and a constant computed in `c`, where every value of the
    /// value's dtype is exact in `c`: the same predicate in the value's own dtype against an
    /// adjusted constant, or a constant (see [`narrow_predicate`]). The loop then needs no
    /// widening cast and keeps one dtype class: `x_f32 != np.int64(-2)` and
    /// `np.logical_or(x_f32, 2.5)` vectorize as float32 loops.
    fn narrowed_predicate(
        &mut self,
        op: BinaryOp,
        (a, da): (Var, DType),
        (b, db): (Var, DType),
        c: DType,
    ) -> Option<Var> {
        let (x, dx, k, op) = match (self.consts.get(&a), self.consts.get(&b)) {
            (None, Some(&k)) => (a, da, k, op),
            (Some(&k), None) => (b, db, k, op.swapped()?),
            _ => return None,
        };
        let k = crate::kernel::eval::cast(k, c);
        Some(match narrow_predicate(op, dx, c, k)? {
            Narrowed::Op(op, k) => {
                let k = self.konst(k);
                self.b.binary(op, x, k)
            }
            Narrowed::Const(v) => self.konst(Scalar::Bool(v)),
        })
    }

    fn konst(&mut self, s: Scalar) -> Var {
        let v = self.b.konst(s);
        self.consts.insert(v, s);
        v
    }

    fn emitted(&self, n: NodeId) -> bool {
        self.accs.contains_key(&n) || self.memo.contains_key(&n)
    }

    /// The operands [`Self::compute`] emits right where `n` is emitted (elementwise ops), or
    /// none (loads, splats, reductions: those open their own loops first).
    fn inline_operands(&self, n: NodeId) -> Vec<NodeId> {
        if self.emitted(n) || self.splat(n).is_some() || self.is_load(n) {
            return Vec::new();
        }
        match self.g.node(n).op {
            Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast(_) | Op::Broadcast(_) => {
                self.g.operands(n).to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// Emits `n`. Chains of elementwise operands are emitted first, deepest first, from an
    /// explicit stack (same order as the recursion would take), so a chain of thousands of
    /// ops does not overflow the thread's stack.
    fn emit(&mut self, n: NodeId) -> Result<Var> {
        if !self.inline_operands(n).is_empty() {
            let mut stack: Vec<(NodeId, bool)> = vec![(n, false)];
            while let Some((m, expanded)) = stack.pop() {
                if self.emitted(m) {
                    continue;
                }
                if expanded {
                    if m != n {
                        self.emit_one(m)?;
                    }
                    continue;
                }
                stack.push((m, true));
                let ops = self.inline_operands(m);
                stack.extend(ops.into_iter().rev().map(|o| (o, false)));
            }
        }
        self.emit_one(n)
    }

    fn emit_one(&mut self, n: NodeId) -> Result<Var> {
        if let Some(&v) = self.accs.get(&n) {
            return Ok(v);
        }
        if let Some(&v) = self.memo.get(&n) {
            return Ok(v);
        }
        let v = if let Some(s) = self.splat(n) {
            self.konst(s)
        } else if self.is_load(n) {
            self.load(n)?
        } else {
            self.compute(n)?
        };
        self.memo.insert(n, v);
        Ok(v)
    }

    fn load(&mut self, n: NodeId) -> Result<Var> {
        let buf = self.buffer(n);
        let pres = presence(&self.g.node(n).ty.shape, self.domain);
        let gp: Vec<bool> = self
            .groups
            .iter()
            .map(|g| g.dims.iter().any(|&d| pres[d]))
            .collect();
        let key = (n, gp.clone());
        let arg = match self.args.get(&key) {
            Some(&a) => a,
            None => {
                let shape: Vec<usize> = self
                    .groups
                    .iter()
                    .zip(&gp)
                    .filter(|(_, &p)| p)
                    .map(|(g, _)| g.size)
                    .collect();
                let a = self.b.arg(self.dt(buf), &shape, false);
                self.args.insert(key, a);
                self.inputs.push(buf);
                a
            }
        };
        let mut index = Vec::new();
        for (gi, &p) in gp.iter().enumerate() {
            if p {
                index.push(
                    self.vars[gi].ok_or_else(|| err(format!("loop of dim group {gi} not open")))?,
                );
            }
        }
        Ok(self.b.load(arg, &index))
    }

    fn compute(&mut self, n: NodeId) -> Result<Var> {
        let ops = self.g.operands(n);
        let nd = self.dt(n);
        let op = self.g.node(n).op.clone();
        Ok(match op {
            Op::Unary(u) => {
                let x = self.emit(ops[0])?;
                let xd = self.dt(ops[0]);
                if matches!(
                    u,
                    UnaryOp::IsNan | UnaryOp::IsInf | UnaryOp::IsFinite | UnaryOp::LogicalNot
                ) {
                    self.b.unary(u, x)
                } else {
                    let x = self.cast(x, xd, nd);
                    self.b.unary(u, x)
                }
            }
            Op::Binary(bop) => {
                let (a, b) = (self.emit(ops[0])?, self.emit(ops[1])?);
                let (da, db) = (self.dt(ops[0]), self.dt(ops[1]));
                let c = bop.compute_dtype(da, db)?;
                if let Some(r) = self.narrowed_predicate(bop, (a, da), (b, db), c) {
                    return Ok(self.cast(r, DType::Bool, nd));
                }
                let a = self.cast(a, da, c);
                let b = self.cast(b, db, c);
                let r = self.b.binary(bop, a, b);
                let rd = crate::kernel::binary_result(bop, c)?;
                self.cast(r, rd, nd)
            }
            Op::Where => {
                let c = self.emit(ops[0])?;
                let c = self.cast(c, self.dt(ops[0]), DType::Bool);
                let (a, b) = (self.emit(ops[1])?, self.emit(ops[2])?);
                let a = self.cast(a, self.dt(ops[1]), nd);
                let b = self.cast(b, self.dt(ops[2]), nd);
                self.b.select(c, a, b)
            }
            Op::Cast(to) => {
                let x = self.emit(ops[0])?;
                self.cast(x, self.dt(ops[0]), to)
            }
            Op::Broadcast(_) => self.emit(ops[0])?,
            // A reduction over no axes: each element folded into the identity alone.
            Op::Reduce { op, axes, .. } if axes.is_empty() => {
                let x = self.emit(ops[0])?;
                let xd = self.dt(ops[0]);
                match op {
                    // `0 + x`: -0.0 sums to +0.0, like NumPy.
                    ReduceOp::Sum if nd.is_float() => {
                        let x = self.cast(x, xd, nd);
                        let zero = self.b.konst(crate::kernel::acc_identity(op, nd));
                        self.b.binary(BinaryOp::Add, zero, x)
                    }
                    // `1 * x`, `max(-inf, x)`, `min(inf, x)` and the truth of `x` are `x`
                    // in the result dtype (sums and products of ints widen to int64).
                    ReduceOp::Sum
                    | ReduceOp::Prod
                    | ReduceOp::Max
                    | ReduceOp::Min
                    | ReduceOp::Any
                    | ReduceOp::All => self.cast(x, xd, nd),
                    ReduceOp::ArgMax | ReduceOp::ArgMin => {
                        return Err(err(format!("{} needs one axis", op.name())))
                    }
                }
            }
            other => {
                return Err(err(format!(
                    "cannot compute {} inside a kernel",
                    other.name()
                )))
            }
        })
    }

    /// The reductions of this group reachable from `n` without crossing a buffer.
    fn reduce_deps(
        &self,
        n: NodeId,
        root: NodeId,
        out: &mut HashSet<NodeId>,
        seen: &mut HashSet<NodeId>,
    ) {
        // An explicit stack, not recursion: chains of thousands of ops are common.
        let mut stack = vec![n];
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            if n != root && is_reduction(self.g, n) && self.in_group.contains(&n) {
                out.insert(n);
                continue;
            }
            if n != root && (self.is_load(n) || self.splat(n).is_some()) {
                continue;
            }
            stack.extend(self.g.operands(n));
        }
    }
}

/// An expensive value kept in an output between phases.
struct Spill {
    /// The root whose output argument holds the value until the root is stored.
    slot: NodeId,
    /// The phase that computes and stores the value.
    first: usize,
}

impl Emitter<'_> {
    /// True when `n` is not computed in a phase's loop: loaded, a splat or an accumulator.
    fn stops(&self, n: NodeId) -> bool {
        self.is_load(n)
            || self.splat(n).is_some()
            || (is_reduction(self.g, n) && self.in_group.contains(&n))
    }

    /// True when `n` varies along every iterated dimension of the domain.
    fn full_domain(&self, n: NodeId) -> bool {
        let p = presence(&self.g.node(n).ty.shape, self.domain);
        self.groups.iter().all(|g| g.dims.iter().all(|&d| p[d]))
    }

    /// True when computing `n` in a phase evaluates an expensive op (memoized in `memo`).
    fn heavy(&self, n: NodeId, memo: &mut HashMap<NodeId, bool>) -> bool {
        let mut stack = vec![(n, false)];
        while let Some((m, done)) = stack.pop() {
            if memo.contains_key(&m) {
                continue;
            }
            if self.stops(m) {
                memo.insert(m, false);
            } else if done {
                let h = expensive(&self.g.node(m).op)
                    || self
                        .g
                        .operands(m)
                        .iter()
                        .any(|o| memo.get(o) == Some(&true));
                memo.insert(m, h);
            } else {
                stack.push((m, true));
                stack.extend(self.g.operands(m).iter().map(|&o| (o, false)));
            }
        }
        memo.get(&n) == Some(&true)
    }

    /// Which values later phases read back instead of recomputing: the spills by value, and
    /// for each phase the values it reads back. Phases are walked in order from their roots
    /// (a reduction's operand, a stored value) down to loads, splats and accumulators; a value
    /// met again after an earlier phase computed it is read back when it is expensive, over the
    /// whole domain, and an output stored no earlier than this phase (not yet holding another
    /// value) can hold it.
    fn plan_spills(
        &self,
        order: &[NodeId],
        phase: &HashMap<NodeId, usize>,
        nphases: usize,
        stored: &HashMap<NodeId, ArgId>,
    ) -> (HashMap<NodeId, Spill>, Vec<Vec<NodeId>>) {
        let g = self.g;
        let slots: Vec<NodeId> = order
            .iter()
            .copied()
            .filter(|&r| stored.contains_key(&r) && !is_reduction(g, r) && self.full_domain(r))
            .collect();
        let mut spills: HashMap<NodeId, Spill> = HashMap::new();
        let mut reloads = vec![Vec::new(); nphases];
        if slots.is_empty() || nphases < 2 {
            return (spills, reloads);
        }
        let mut heavy = HashMap::new();
        let mut first_phase: HashMap<NodeId, usize> = HashMap::new();
        for (p, reload) in reloads.iter_mut().enumerate() {
            let mut stack: Vec<NodeId> = order
                .iter()
                .filter(|r| phase.get(r) == Some(&p))
                .filter_map(|&r| {
                    if is_reduction(g, r) {
                        g.operands(r).first().copied()
                    } else {
                        stored.contains_key(&r).then_some(r)
                    }
                })
                .collect();
            let mut seen = HashSet::new();
            let mut here = Vec::new();
            while let Some(n) = stack.pop() {
                if !seen.insert(n) || self.stops(n) {
                    continue;
                }
                if let Some(&p0) = first_phase.get(&n) {
                    if self.full_domain(n) && self.heavy(n, &mut heavy) {
                        let dt = g.node(n).ty.dtype;
                        let fits = |s: NodeId| phase.get(&s).is_some_and(|&q| q >= p);
                        let slot = match spills.get(&n) {
                            Some(sp) => fits(sp.slot).then_some(sp.slot),
                            None => slots.iter().copied().find(|&s| {
                                s != n
                                    && fits(s)
                                    && g.node(s).ty.dtype == dt
                                    && !spills.values().any(|sp| sp.slot == s)
                            }),
                        };
                        if let Some(slot) = slot {
                            spills.entry(n).or_insert(Spill { slot, first: p0 });
                            reload.push(n);
                            continue;
                        }
                    }
                }
                here.push(n);
                stack.extend(g.operands(n));
            }
            for n in here {
                first_phase.entry(n).or_insert(p);
            }
        }
        (spills, reloads)
    }
}

/// Emits the kernel for one group.
pub(super) fn emit_group(
    g: &Graph,
    mat: &HashSet<NodeId>,
    reshapes: &HashSet<NodeId>,
    view: &GroupView<'_>,
    group_of: &HashMap<NodeId, usize>,
    gi: usize,
    stored: &HashSet<NodeId>,
) -> Result<KernelStep> {
    let domain = view.domain;
    let in_group: HashSet<NodeId> = group_of
        .iter()
        .filter(|(_, &x)| x == gi)
        .map(|(&n, _)| n)
        .collect();
    let mut em = Emitter {
        g,
        mat,
        reshapes,
        in_group,
        domain,
        groups: Vec::new(),
        b: Builder::new(String::new()),
        vars: Vec::new(),
        memo: HashMap::new(),
        consts: HashMap::new(),
        accs: HashMap::new(),
        args: HashMap::new(),
        inputs: Vec::new(),
    };
    // Buffers read, to decide which dims collapse.
    let mut loads: Vec<NodeId> = Vec::new();
    {
        let mut seen = HashSet::new();
        let mut stack: Vec<NodeId> = view.roots.to_vec();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            for o in g.operands(n) {
                if em.splat(o).is_some() {
                    continue;
                }
                if em.is_load(o) {
                    loads.push(o);
                } else {
                    stack.push(o);
                }
            }
        }
        loads.sort();
        loads.dedup();
    }
    let pres: Vec<Vec<bool>> = loads
        .iter()
        .map(|&l| presence(&g.node(l).ty.shape, domain))
        .collect();
    // A load of a permuted or sliced view has strides that rarely collapse: its dims stay
    // apart so the runtime passes the view's own strides instead of copying it to C order.
    let strided = loads
        .iter()
        .any(|&l| matches!(g.node(em.buffer(l)).op, Op::Permute(_) | Op::Slice(_)));
    let sig = |d: usize| -> (bool, Vec<bool>, Option<usize>) {
        (
            view.axes.contains(&d),
            pres.iter().map(|p| p[d]).collect(),
            strided.then_some(d),
        )
    };
    let mut groups: Vec<DimGroup> = Vec::new();
    let mut last_sig = None;
    for (d, &size) in domain.iter().enumerate() {
        if size == 1 {
            continue;
        }
        let s = sig(d);
        match (groups.last_mut(), &last_sig) {
            (Some(gr), Some(ls)) if *ls == s => {
                gr.dims.push(d);
                gr.size *= size;
            }
            _ => groups.push(DimGroup {
                dims: vec![d],
                size,
                reduced: s.0,
            }),
        }
        last_sig = Some(s);
    }
    em.groups = groups;
    em.vars = vec![None; em.groups.len()];
    let kept: Vec<usize> = (0..em.groups.len())
        .filter(|&i| !em.groups[i].reduced)
        .collect();
    let reduced: Vec<usize> = (0..em.groups.len())
        .filter(|&i| em.groups[i].reduced)
        .collect();

    // Output arguments first.
    let mut outputs = Vec::new();
    let mut out_arg: HashMap<NodeId, ArgId> = HashMap::new();
    for &r in view.roots {
        if !stored.contains(&r) {
            continue;
        }
        let is_reduce = is_reduction(g, r);
        let shape: Vec<usize> = em
            .groups
            .iter()
            .filter(|gr| !(is_reduce && gr.reduced))
            .map(|gr| gr.size)
            .collect();
        out_arg.insert(r, em.b.arg(g.node(r).ty.dtype, &shape, true));
        outputs.push(r);
    }
    // Phases.
    let mut phase: HashMap<NodeId, usize> = HashMap::new();
    let mut order: Vec<NodeId> = view.roots.to_vec();
    order.sort();
    for _ in 0..=order.len() {
        for &r in &order {
            let mut deps = HashSet::new();
            em.reduce_deps(r, r, &mut deps, &mut HashSet::new());
            let is_reduce = is_reduction(g, r);
            let p = deps
                .iter()
                .map(|d| phase.get(d).copied().unwrap_or(0) + 1)
                .max()
                .unwrap_or(0);
            let _ = is_reduce;
            phase.insert(r, p);
        }
    }
    let nphases = phase.values().copied().max().map_or(1, |m| m + 1);
    let has_reduce = view.roots.iter().any(|&r| is_reduction(g, r));
    let (spills, reloads) = em.plan_spills(&order, &phase, nphases, &out_arg);
    let mut spilled: Vec<NodeId> = spills.keys().copied().collect();
    spilled.sort();

    for (i, &gk) in kept.iter().enumerate() {
        let v = em.b.open_loop(em.groups[gk].size, i == 0);
        em.vars[gk] = Some(v);
    }
    for p in 0..nphases {
        let roots: Vec<NodeId> = order.iter().copied().filter(|r| phase[r] == p).collect();
        let mut accs = Vec::new();
        for &r in &roots {
            if let Op::Reduce { op, .. } = &g.node(r).op {
                if !is_reduction(g, r) {
                    continue;
                }
                let x = g.operands(r)[0];
                let vdt = match op {
                    ReduceOp::Any | ReduceOp::All => DType::Bool,
                    ReduceOp::ArgMax | ReduceOp::ArgMin | ReduceOp::Max | ReduceOp::Min => {
                        g.node(x).ty.dtype
                    }
                    ReduceOp::Sum | ReduceOp::Prod => g.node(r).ty.dtype,
                };
                let a = em.b.acc(*op, vdt);
                accs.push((r, *op, a, vdt));
            }
        }
        em.memo.clear();
        let mut opened = 0;
        for &gr in &reduced {
            let v = em.b.open_loop(em.groups[gr].size, false);
            em.vars[gr] = Some(v);
            opened += 1;
        }
        if has_reduce && opened == 0 {
            // Every reduced dim has size 1: one iteration keeps updates inside a loop.
            em.b.open_loop(1, false);
            opened = 1;
        }
        // Values an earlier phase stored: read back before anything here is stored.
        let index: Vec<Var> = em.vars.iter().flatten().copied().collect();
        let slot_arg = |n: &NodeId| {
            spills
                .get(n)
                .and_then(|sp| out_arg.get(&sp.slot).copied())
                .ok_or_else(|| err(format!("no output holds spilled value {}", n.index())))
        };
        for n in reloads.get(p).into_iter().flatten() {
            let arg = slot_arg(n)?;
            let v = em.b.load(arg, &index);
            em.memo.insert(*n, v);
        }
        for &(r, op, a, vdt) in &accs {
            let x = g.operands(r)[0];
            let v = em.emit(x)?;
            let v = em.cast(v, g.node(x).ty.dtype, vdt);
            if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
                let idx = match reduced.first().and_then(|&gr| em.vars[gr]) {
                    Some(v) => v,
                    None => em.b.konst(Scalar::I64(0)),
                };
                em.b.update_arg(a, v, idx);
            } else {
                em.b.update(a, v);
            }
        }
        for &r in &roots {
            if is_reduction(g, r) {
                continue;
            }
            if let Some(&arg) = out_arg.get(&r) {
                let v = em.emit(r)?;
                let index: Vec<Var> = em.vars.iter().flatten().copied().collect();
                em.b.store(arg, &index, v);
            }
        }
        for n in spilled
            .iter()
            .filter(|n| spills.get(n).is_some_and(|sp| sp.first == p))
        {
            let arg = slot_arg(n)?;
            let v = em.emit(*n)?;
            em.b.store(arg, &index, v);
        }
        for _ in 0..opened {
            em.b.close_loop();
        }
        for &gr in &reduced {
            em.vars[gr] = None;
        }
        em.memo.clear();
        for &(r, _, a, _) in &accs {
            em.accs.insert(r, a);
            if let Some(&arg) = out_arg.get(&r) {
                let index: Vec<Var> = kept.iter().filter_map(|&k| em.vars[k]).collect();
                em.b.store(arg, &index, a);
            }
        }
    }
    let mut kernel = em.b.finish();
    // Constants left unused by folded casts go: a loop's dtypes are those of what it defines.
    let used: HashSet<Var> = kernel.body.iter().flat_map(|i| i.uses()).collect();
    kernel
        .body
        .retain(|i| !matches!(i, Inst::Const { dst, .. } if !used.contains(dst)));
    let names: Vec<&str> = view.roots.iter().map(|&r| g.node(r).op.name()).collect();
    kernel.name = format!(
        "fused_{}_{}",
        view.roots.first().map_or(0, |r| r.index()),
        names.join("_")
    );
    // Inputs were declared as they were met, interleaved with nothing (outputs came first).
    kernel.verify()?;
    Ok(KernelStep {
        kernel,
        inputs: em.inputs,
        outputs,
    })
}
