//! Fusion: partitions a graph into an ordered [`Schedule`] of kernels, matmul library calls
//! and eager fallbacks. This is not a graph-to-graph pass; the runtime calls [`partition`] on
//! the optimized graph and executes the steps in order.
//!
//! * Elementwise ops, casts, `where` and broadcasts fuse into one loop nest. A value used once
//!   (or cheap to recompute) is computed inside its consumer's loop; a value with several uses
//!   that contains a transcendental op is computed once, unless all its users end up in the
//!   same kernel anyway.
//! * Reductions fuse with their elementwise producers. A reduction over trailing axes also
//!   fuses with consumers over the same domain: such a "row kernel" runs, per outer index, a
//!   sequence of inner loops (phases), each reducing or storing, with later phases reading
//!   earlier results. Softmax (`max`, `sum(exp(x - max))`, `exp(x - max) / sum`) is one kernel.
//! * Elementwise roots over the same domain that share inputs merge into one multi-output
//!   kernel; merges never create a cycle between steps.
//! * Matmuls (float, integer or bool operands of the result's dtype) are [`Step::MatMul`]
//!   library calls; an elementwise kernel over the matmul's
//!   result shape that is its only consumer (bias, activation) becomes its `epilogue`, which
//!   the runtime runs right after the GEMM (it may write in place over the GEMM's output).
//! * `reshape` of a value held in a buffer is free: the kernel views the buffer with the new
//!   shape (see below). Everything else (permute, slice, concat, copies, composites,
//!   mixed-dtype matmul, reshape results needed as buffers and the reshapes they read, integer `power`
//!   unless the exponent is a non-negative constant (NumPy raises for negative ones, a kernel
//!   cannot), empty values) is a [`Step::Fallback`] the runtime runs with its eager kernels.
//!   A reduction over no axes is elementwise (each element folded into the identity alone).
//!
//! Contract with the runtime: a [`KernelStep`]'s `inputs[i]` is the graph value bound to the
//! kernel's `i`-th input argument and `outputs[j]` to its `j`-th output argument, counting in
//! [`crate::kernel::Kernel::args`] order; [`KernelStep::arg_values`] lists the binding for
//! every argument in order, ready for a launch. An argument's declared shape is a reshape of the value's shape with the same element count
//! (broadcast dimensions never appear in views); pass strides for it with
//! [`crate::kernel::reshape_strides`] (copy to C order when that returns `None`). Outputs are
//! written C-contiguously. A `Const` node is never computed by a step: the runtime binds its
//! literal. Splat constants are folded into kernels.

mod emit;
#[cfg(test)]
mod tests;

use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId};
use crate::kernel::Kernel;
use crate::op::{BinaryOp, Op, ReduceOp};
use std::collections::{BTreeSet, HashMap, HashSet};

/// A kernel and the graph values bound to its arguments.
#[derive(Clone, Debug)]
pub struct KernelStep {
    /// The kernel.
    pub kernel: Kernel,
    /// Values read, in input-argument order (a value may appear twice with two views).
    pub inputs: Vec<NodeId>,
    /// Values written, in output-argument order.
    pub outputs: Vec<NodeId>,
}

impl KernelStep {
    /// The graph value bound to each kernel argument, in argument order, with whether the
    /// argument is an output: what a launch binds, one `KernelArg` per entry.
    pub fn arg_values(&self) -> Vec<(NodeId, bool)> {
        let (mut i, mut o) = (self.inputs.iter(), self.outputs.iter());
        self.kernel
            .args
            .iter()
            .filter_map(|a| {
                if a.output {
                    o.next().map(|&v| (v, true))
                } else {
                    i.next().map(|&v| (v, false))
                }
            })
            .collect()
    }
}

/// One step of a schedule.
#[derive(Clone, Debug)]
pub enum Step {
    /// Run a fused kernel.
    Kernel(KernelStep),
    /// `out = a @ b` through the GEMM library, then the optional elementwise epilogue (whose
    /// inputs include `out`).
    MatMul {
        /// Left operand.
        a: NodeId,
        /// Right operand.
        b: NodeId,
        /// The matmul node.
        out: NodeId,
        /// Elementwise kernel fused after the GEMM.
        epilogue: Option<KernelStep>,
    },
    /// Run this node eagerly.
    Fallback(NodeId),
}

/// The ordered steps that compute a graph.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    /// Steps in execution order.
    pub steps: Vec<Step>,
}

impl Schedule {
    /// Number of kernels launched (epilogues included).
    pub fn kernel_count(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Kernel(_) => 1,
                Step::MatMul { epilogue, .. } => epilogue.is_some() as usize,
                Step::Fallback(_) => 0,
            })
            .sum()
    }

    /// Every kernel, in order.
    pub fn kernels(&self) -> Vec<&KernelStep> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Kernel(k) => Some(k),
                Step::MatMul { epilogue, .. } => epilogue.as_ref(),
                Step::Fallback(_) => None,
            })
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    /// Graph input or constant: bound by the runtime.
    Given,
    /// A splat constant, folded into kernels.
    Splat,
    /// Elementwise or broadcast: computed in kernels.
    Ew,
    /// A reduction.
    Reduce,
    /// A reshape; free when its operand is in a buffer.
    Reshape,
    /// A float matmul.
    MatMul,
    /// Run eagerly.
    Fallback,
    /// An `Output` marker.
    Output,
}

fn classify(g: &Graph, n: NodeId) -> Class {
    let node = g.node(n);
    match &node.op {
        Op::Input { .. } => Class::Given,
        Op::Const(l) => {
            if l.splat_value().is_some() {
                Class::Splat
            } else {
                Class::Given
            }
        }
        // An empty array needs no kernel; eager makes it for free. (A kernel would also
        // mix it with non-empty outputs, which the runtime skips as a whole.)
        _ if is_computed(&node.op) && node.ty.numel() == 0 => Class::Fallback,
        Op::Binary(BinaryOp::Pow) if int_power_may_raise(g, n) => Class::Fallback,
        Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast(_) | Op::Broadcast(_) => Class::Ew,
        // A reduction over no axes folds each element into the identity alone: elementwise.
        // argmax/argmin need exactly one axis: eager raises that error.
        Op::Reduce { op, axes, .. } if axes.is_empty() => match op {
            ReduceOp::ArgMax | ReduceOp::ArgMin => Class::Fallback,
            _ => Class::Ew,
        },
        Op::Reduce { .. } => Class::Reduce,
        Op::Reshape(_) => Class::Reshape,
        Op::MatMul => {
            let ops = g.operands(n);
            let same = ops.iter().all(|&o| g.node(o).ty.dtype == node.ty.dtype);
            let ranks = ops.iter().all(|&o| g.node(o).ty.shape.len() >= 2);
            // Integer and bool products are library calls too (the runtime converts them to a
            // float GEMM where that is exact); mixed dtypes run eagerly (tracing casts them).
            if same && ranks {
                Class::MatMul
            } else {
                Class::Fallback
            }
        }
        Op::Output { .. } => Class::Output,
        _ => Class::Fallback,
    }
}

/// True for the ops a kernel computes (elementwise, broadcasts, reductions).
fn is_computed(op: &Op) -> bool {
    matches!(
        op,
        Op::Unary(_)
            | Op::Binary(_)
            | Op::Where
            | Op::Cast(_)
            | Op::Broadcast(_)
            | Op::Reduce { .. }
    )
}

/// True when `n` reduces over at least one axis (a reduction over none is elementwise).
pub(super) fn is_reduction(g: &Graph, n: NodeId) -> bool {
    matches!(&g.node(n).op, Op::Reduce { axes, .. } if !axes.is_empty())
}

/// True when `n` is an integer `power` whose exponent is not known to be non-negative: NumPy
/// raises for a negative integer exponent, which a kernel cannot, so eager runs it.
fn int_power_may_raise(g: &Graph, n: NodeId) -> bool {
    let ops = g.operands(n);
    let (Some(&a), Some(&b)) = (ops.first(), ops.get(1)) else {
        return false;
    };
    let (da, db) = (g.node(a).ty.dtype, g.node(b).ty.dtype);
    if da.is_float() || db.is_float() {
        return false;
    }
    // Look through broadcasts and reshapes to a constant exponent.
    let mut e = b;
    while matches!(g.node(e).op, Op::Broadcast(_) | Op::Reshape(_)) {
        e = g.operands(e)[0];
    }
    match &g.node(e).op {
        Op::Const(lit) => (0..lit.numel()).any(|i| lit.get(i).to_f64() < 0.0),
        _ => true,
    }
}

fn expensive(op: &Op) -> bool {
    match op {
        Op::Unary(u) => u.is_transcendental(),
        Op::Binary(b) => matches!(
            b,
            BinaryOp::Pow
                | BinaryOp::Atan2
                | BinaryOp::FloorDiv
                | BinaryOp::Rem
                | BinaryOp::Hypot
                | BinaryOp::Fmod
        ),
        _ => false,
    }
}

/// True when a value of shape `small`, broadcast to `big` (right-aligned), repeats along an
/// axis outside one it varies along: fused into `big`'s loops it would be recomputed for
/// every step of that outer axis, which no loop-invariant hoisting can avoid (`exp(bias)`
/// of a (256,) bias added to (1024, 256) rows: 1024 exps per bias element instead of one).
/// Values that only repeat along inner axes (a per-row `sqrt(var)` over a row's elements)
/// are computed once per row by the kernel's phases and stay fused.
fn repeated_outside(small: &[usize], big: &[usize]) -> bool {
    if big.len() < small.len() {
        return false;
    }
    let pad = big.len() - small.len();
    let varies = |a: usize| a >= pad && small[a - pad] > 1;
    (0..big.len()).any(|a| !varies(a) && big[a] > 1 && (a + 1..big.len()).any(varies))
}

impl Ctx<'_> {
    /// True when a fused elementwise consumer of `n`, directly or through other elementwise
    /// ops, broadcasts it so that it repeats along an outer axis ([`repeated_outside`]).
    fn repeated_downstream(&self, n: NodeId, widest: usize) -> bool {
        let small = &self.g.node(n).ty.shape;
        // Nothing downstream can be wider than the widest value: skip the walk (a chain of
        // a thousand same-shaped ops would otherwise walk it a thousand times, W5).
        if self.g.node(n).ty.numel() >= widest {
            return false;
        }
        let mut stack = self.g.users(n);
        let mut seen = HashSet::new();
        while let Some(u) = stack.pop() {
            if !seen.insert(u) || self.class(u) != Class::Ew {
                continue;
            }
            // A bounded look (a broadcast far down a long chain keeps the old, fused plan):
            // partitioning stays linear in the graph's size.
            if seen.len() > 256 {
                return false;
            }
            if repeated_outside(small, &self.g.node(u).ty.shape) {
                return true;
            }
            stack.extend(self.g.users(u));
        }
        false
    }
}

/// A fused group under construction.
#[derive(Clone, Debug)]
struct Group {
    /// The loop domain.
    domain: Vec<usize>,
    /// Dimensions of the domain iterated outside the phases (all of them when no reduce).
    k: usize,
    /// Reduced axes (sorted) shared by every reduce root, empty when none.
    axes: Vec<usize>,
    roots: Vec<NodeId>,
}

struct Ctx<'g> {
    g: &'g Graph,
    class: HashMap<NodeId, Class>,
    /// Values held in buffers (inputs, constants, roots, matmul and fallback results).
    mat: HashSet<NodeId>,
}

impl Ctx<'_> {
    fn class(&self, n: NodeId) -> Class {
        self.class.get(&n).copied().unwrap_or(Class::Fallback)
    }

    /// The buffer a value's elements live in, following free reshapes; `None` when the value
    /// is computed inside kernels.
    fn buffer_of(&self, n: NodeId) -> Option<NodeId> {
        match self.class(n) {
            Class::Reshape => self.buffer_of(self.g.operands(n)[0]),
            Class::Splat => None,
            _ if self.mat.contains(&n) => Some(n),
            _ => None,
        }
    }

    /// Values in buffers that computing `n` (inline) reads, with the nodes inlined.
    /// (An explicit stack, not recursion: chains of thousands of ops are common.)
    fn leaves(&self, n: NodeId, out: &mut BTreeSet<NodeId>, seen: &mut HashSet<NodeId>) {
        let mut stack = vec![n];
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            for o in self.g.operands(n) {
                if self.class(o) == Class::Reshape || self.mat.contains(&o) {
                    out.insert(o);
                } else if self.class(o) != Class::Splat {
                    stack.push(o);
                }
            }
        }
    }
}

fn root_kind(g: &Graph, r: NodeId) -> (Vec<usize>, Option<(Vec<usize>, bool)>) {
    match &g.node(r).op {
        Op::Reduce { axes, keepdims, .. } if !axes.is_empty() => {
            let x = g.operands(r)[0];
            (
                g.node(x).ty.shape.to_vec(),
                Some((axes.to_vec(), *keepdims)),
            )
        }
        _ => (g.node(r).ty.shape.to_vec(), None),
    }
}

/// Partitions `g` into steps. Errors only on a graph that fails the verifier.
pub fn partition(g: &Graph) -> Result<Schedule> {
    // Everything below indexes operands by arity; a verified graph guarantees it.
    crate::verify::verify(g)?;
    let order = g.topo_order()?;
    let mut cx = Ctx {
        g,
        class: order.iter().map(|&n| (n, classify(g, n))).collect(),
        mat: HashSet::new(),
    };
    let widest = order
        .iter()
        .map(|&n| g.node(n).ty.numel())
        .max()
        .unwrap_or(0);
    // 1. Which values live in buffers.
    for &n in &order {
        let c = cx.class(n);
        match c {
            Class::Given | Class::MatMul | Class::Fallback | Class::Reduce => {
                cx.mat.insert(n);
            }
            _ => {}
        }
        let users = g.users(n);
        let fusible: Vec<bool> = users
            .iter()
            .map(|&u| matches!(cx.class(u), Class::Ew | Class::Reduce))
            .collect();
        let reshape_user: Vec<bool> = users
            .iter()
            .map(|&u| cx.class(u) == Class::Reshape)
            .collect();
        match c {
            Class::Ew => {
                let all_fusible = fusible.iter().all(|&f| f);
                let costly = expensive(&g.node(n).op)
                    && (users.len() > 1 || cx.repeated_downstream(n, widest));
                if !all_fusible || costly {
                    cx.mat.insert(n);
                }
            }
            Class::Reshape => {
                // The operand must be in a buffer for the view to be free.
                let o = g.operands(n)[0];
                if cx.class(o) != Class::Reshape && !matches!(cx.class(o), Class::Given) {
                    cx.mat.insert(o);
                }
                if !fusible.iter().zip(&reshape_user).all(|(&f, &r)| f || r) {
                    // Needed as a buffer: the runtime reshapes eagerly (a view when it can),
                    // and so the reshapes it reads must be computed too.
                    let mut r = n;
                    while cx.class(r) == Class::Reshape {
                        cx.class.insert(r, Class::Fallback);
                        cx.mat.insert(r);
                        r = g.operands(r)[0];
                    }
                }
            }
            _ => {}
        }
    }
    // A splat const feeding a non-kernel consumer is bound by the runtime like any constant.
    // 2. Groups: one per root, then merges.
    let roots: Vec<NodeId> = order
        .iter()
        .copied()
        .filter(|n| cx.mat.contains(n) && matches!(cx.class(*n), Class::Ew | Class::Reduce))
        .collect();
    let mut groups: Vec<Option<Group>> = Vec::new();
    let mut group_of: HashMap<NodeId, usize> = HashMap::new();
    for &r in &roots {
        let (domain, red) = root_kind(g, r);
        let (k, axes) = match &red {
            Some((axes, _)) => {
                let trailing = axes
                    .iter()
                    .enumerate()
                    .all(|(i, &a)| a == domain.len() - axes.len() + i);
                (
                    if trailing {
                        domain.len() - axes.len()
                    } else {
                        usize::MAX
                    },
                    axes.clone(),
                )
            }
            None => (domain.len(), Vec::new()),
        };
        group_of.insert(r, groups.len());
        groups.push(Some(Group {
            domain,
            k,
            axes,
            roots: vec![r],
        }));
    }
    let leaves_of = |cx: &Ctx, r: NodeId| {
        let mut out = BTreeSet::new();
        cx.leaves(r, &mut out, &mut HashSet::new());
        out
    };
    let root_leaves: HashMap<NodeId, BTreeSet<NodeId>> =
        roots.iter().map(|&r| (r, leaves_of(&cx, r))).collect();
    // Candidate merges in a deterministic order: (consumer root, producer root).
    for &c in &roots {
        for &l in &root_leaves[&c] {
            let Some(&gl) = group_of.get(&l) else {
                continue;
            };
            let gc = group_of[&c];
            if gl == gc {
                continue;
            }
            let (Some(a), Some(b)) = (groups[gl].clone(), groups[gc].clone()) else {
                continue;
            };
            // Every value of `a` that `b` reads, not only `l`: all must be readable per row.
            let reads: Vec<NodeId> = b
                .roots
                .iter()
                .flat_map(|r| root_leaves[r].iter().copied())
                .filter(|v| a.roots.contains(v))
                .collect();
            if let Some(merged) = try_merge(g, &a, &b, &reads) {
                if views_own_output(&cx, &merged.roots, &root_leaves) {
                    continue;
                }
                let mut trial = group_of.clone();
                for r in &b.roots {
                    trial.insert(*r, gl);
                }
                if acyclic(&cx, &order, &trial, &root_leaves) {
                    group_of = trial;
                    groups[gl] = Some(merged);
                    groups[gc] = None;
                }
            }
        }
    }
    // Horizontal merges: same domain and reduction shape, a shared buffer input.
    for i in 0..groups.len() {
        for j in i + 1..groups.len() {
            let (Some(a), Some(b)) = (groups[i].clone(), groups[j].clone()) else {
                continue;
            };
            if a.domain != b.domain || a.k != b.k || a.axes != b.axes {
                continue;
            }
            let both: Vec<NodeId> = a.roots.iter().chain(&b.roots).copied().collect();
            if views_own_output(&cx, &both, &root_leaves) {
                continue;
            }
            // A group that reads the other's results was a producer-consumer candidate above,
            // where try_merge decided whether those reads work per row.
            let reads_other = |x: &Group, y: &Group| {
                x.roots
                    .iter()
                    .any(|r| root_leaves[r].iter().any(|l| y.roots.contains(l)))
            };
            if reads_other(&a, &b) || reads_other(&b, &a) {
                continue;
            }
            let la: BTreeSet<NodeId> = a
                .roots
                .iter()
                .flat_map(|r| root_leaves[r].iter().copied())
                .collect();
            if !b
                .roots
                .iter()
                .any(|r| root_leaves[r].iter().any(|l| la.contains(l)))
            {
                continue;
            }
            let mut trial = group_of.clone();
            for r in &b.roots {
                trial.insert(*r, i);
            }
            if acyclic(&cx, &order, &trial, &root_leaves) {
                group_of = trial;
                let mut m = a;
                m.roots.extend(b.roots);
                groups[i] = Some(m);
                groups[j] = None;
            }
        }
    }
    // 3. Roots whose users are all in their own kernel need no buffer.
    let out_values: HashSet<NodeId> = g.output_values().into_iter().collect();
    let mut stored: HashSet<NodeId> = HashSet::new();
    for &r in &roots {
        let gi = group_of[&r];
        let users = g.users(r);
        let internal = !out_values.contains(&r)
            && users
                .iter()
                .all(|u| group_of.get(u) == Some(&gi) || inlined_into(&cx, *u, gi, &group_of));
        if !internal {
            stored.insert(r);
        }
    }
    // 4. Steps in dependency order.
    emit_schedule(&cx, &order, &groups, &group_of, &stored, &root_leaves)
}

/// True when a group with these roots would read one of its own results through a reshape
/// (a view of a buffer it is still writing): such roots must stay in separate kernels.
fn views_own_output(
    cx: &Ctx,
    roots: &[NodeId],
    root_leaves: &HashMap<NodeId, BTreeSet<NodeId>>,
) -> bool {
    roots.iter().any(|r| {
        root_leaves[r].iter().any(|&l| {
            cx.class(l) == Class::Reshape && cx.buffer_of(l).is_some_and(|b| roots.contains(&b))
        })
    })
}

/// True when `u` is an inlined node that only feeds roots of group `gi`.
fn inlined_into(cx: &Ctx, u: NodeId, gi: usize, group_of: &HashMap<NodeId, usize>) -> bool {
    if cx.mat.contains(&u) || cx.class(u) != Class::Ew {
        return false;
    }
    cx.g.users(u)
        .iter()
        .all(|&w| group_of.get(&w) == Some(&gi) || inlined_into(cx, w, gi, group_of))
}

/// Merges producer group `a` with consumer `b`, which reads the roots `reads` of `a`.
fn try_merge(g: &Graph, a: &Group, b: &Group, reads: &[NodeId]) -> Option<Group> {
    if a.domain != b.domain || a.k == usize::MAX || b.k == usize::MAX {
        return None;
    }
    let n = a.domain.len();
    // The row depth: the smaller k among the two; every reduce in the result must reduce
    // exactly the dims from k on.
    let k = a.k.min(b.k);
    for grp in [a, b] {
        if !grp.axes.is_empty() && grp.k != k {
            return None;
        }
    }
    // Each value read must be readable per outer index: a reduce result (shape =
    // domain[..k] + ones) or an elementwise root over the whole domain computed in the same
    // row. (A reduce result without kept dims broadcasts along the trailing axes instead:
    // `sum(x, axis=-1) + x` on a square `x` reads it per column, not per row.)
    for &l in reads {
        let ls = &g.node(l).ty.shape;
        if is_reduction(g, l) {
            let mut want: Vec<usize> = a.domain[..k].to_vec();
            want.extend(std::iter::repeat_n(1, n - k));
            let pad = n.checked_sub(ls.len())?;
            let mut have = vec![1; pad];
            have.extend(ls.iter().copied());
            // Leading padded dims of size 1 match only size-1 domain dims.
            if have != want {
                return None;
            }
        } else if ls.as_slice() != a.domain.as_slice() {
            return None;
        }
    }
    let axes = if a.axes.is_empty() {
        b.axes.clone()
    } else {
        a.axes.clone()
    };
    let mut roots = a.roots.clone();
    roots.extend(b.roots.iter().copied());
    Some(Group {
        domain: a.domain.clone(),
        k,
        axes,
        roots,
    })
}

/// The unit (group index, or a node for matmul/fallback) that produces a buffer value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Unit {
    Group(usize),
    Node(NodeId),
}

fn unit_deps(
    cx: &Ctx,
    u: Unit,
    groups_roots: &HashMap<usize, Vec<NodeId>>,
    group_of: &HashMap<NodeId, usize>,
    root_leaves: &HashMap<NodeId, BTreeSet<NodeId>>,
) -> BTreeSet<Unit> {
    let mut reads: BTreeSet<NodeId> = BTreeSet::new();
    match u {
        Unit::Group(gi) => {
            for r in groups_roots.get(&gi).into_iter().flatten() {
                reads.extend(root_leaves[r].iter().copied());
            }
        }
        Unit::Node(n) => reads.extend(cx.g.operands(n)),
    }
    let mut out = BTreeSet::new();
    for v in reads {
        let Some(b) = cx.buffer_of(v) else { continue };
        let p = match group_of.get(&b) {
            Some(&gi) => Unit::Group(gi),
            None => match cx.class(b) {
                Class::MatMul | Class::Fallback => Unit::Node(b),
                _ => continue,
            },
        };
        if p != u {
            out.insert(p);
        }
    }
    out
}

fn units(cx: &Ctx, order: &[NodeId], group_of: &HashMap<NodeId, usize>) -> Vec<Unit> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for &n in order {
        let u = match group_of.get(&n) {
            Some(&gi) => Unit::Group(gi),
            None if matches!(cx.class(n), Class::MatMul | Class::Fallback) => Unit::Node(n),
            None => continue,
        };
        if seen.insert(u) {
            out.push(u);
        }
    }
    out
}

fn acyclic(
    cx: &Ctx,
    order: &[NodeId],
    group_of: &HashMap<NodeId, usize>,
    root_leaves: &HashMap<NodeId, BTreeSet<NodeId>>,
) -> bool {
    topo_units(cx, order, group_of, root_leaves).is_some()
}

fn topo_units(
    cx: &Ctx,
    order: &[NodeId],
    group_of: &HashMap<NodeId, usize>,
    root_leaves: &HashMap<NodeId, BTreeSet<NodeId>>,
) -> Option<Vec<Unit>> {
    let mut groups_roots: HashMap<usize, Vec<NodeId>> = HashMap::new();
    for (&r, &gi) in group_of {
        groups_roots.entry(gi).or_default().push(r);
    }
    let us = units(cx, order, group_of);
    let deps: HashMap<Unit, BTreeSet<Unit>> = us
        .iter()
        .map(|&u| (u, unit_deps(cx, u, &groups_roots, group_of, root_leaves)))
        .collect();
    // Kahn's algorithm, ties by first appearance in the graph's order.
    let rank: HashMap<Unit, usize> = us.iter().enumerate().map(|(i, &u)| (u, i)).collect();
    let mut indeg: HashMap<Unit, usize> = us.iter().map(|&u| (u, deps[&u].len())).collect();
    let mut users: HashMap<Unit, Vec<Unit>> = HashMap::new();
    for (&u, ds) in &deps {
        for &d in ds {
            users.entry(d).or_default().push(u);
        }
    }
    let mut ready: BTreeSet<(usize, Unit)> = us
        .iter()
        .filter(|u| indeg[u] == 0)
        .map(|&u| (rank[&u], u))
        .collect();
    let mut out = Vec::new();
    while let Some((_, u)) = ready.pop_first() {
        out.push(u);
        for &w in users.get(&u).into_iter().flatten() {
            let d = indeg.entry(w).or_default();
            *d -= 1;
            if *d == 0 {
                ready.insert((rank[&w], w));
            }
        }
    }
    (out.len() == us.len()).then_some(out)
}

fn emit_schedule(
    cx: &Ctx,
    order: &[NodeId],
    groups: &[Option<Group>],
    group_of: &HashMap<NodeId, usize>,
    stored: &HashSet<NodeId>,
    root_leaves: &HashMap<NodeId, BTreeSet<NodeId>>,
) -> Result<Schedule> {
    let seq = topo_units(cx, order, group_of, root_leaves)
        .ok_or_else(|| IrError::Verify("fusion produced a cyclic schedule".into()))?;
    let mut kernels: HashMap<usize, KernelStep> = HashMap::new();
    for (gi, grp) in groups.iter().enumerate() {
        if let Some(grp) = grp {
            let view = GroupView {
                domain: &grp.domain,
                axes: &grp.axes,
                roots: &grp.roots,
            };
            kernels.insert(
                gi,
                emit::emit_group(
                    cx.g,
                    &cx.mat,
                    &cx.class_reshape(),
                    &view,
                    group_of,
                    gi,
                    stored,
                )?,
            );
        }
    }
    // Matmul epilogues: a pure elementwise kernel over the matmul's shape that is the matmul
    // result's only reader.
    let out_values: HashSet<NodeId> = cx.g.output_values().into_iter().collect();
    let mut epilogue_of: HashMap<NodeId, usize> = HashMap::new();
    for &u in &seq {
        let Unit::Node(m) = u else { continue };
        if cx.class(m) != Class::MatMul || out_values.contains(&m) {
            continue;
        }
        let readers: BTreeSet<Unit> = seq
            .iter()
            .copied()
            .filter(|&v| match v {
                Unit::Group(gi) => kernels[&gi].inputs.contains(&m),
                Unit::Node(n) => cx.g.operands(n).iter().any(|&o| cx.buffer_of(o) == Some(m)),
            })
            .collect();
        if let (1, Some(&Unit::Group(gi))) = (readers.len(), readers.iter().next()) {
            let grp = groups[gi].as_ref();
            let shape_ok = grp.is_some_and(|g| {
                g.axes.is_empty() && g.domain.as_slice() == cx.g.node(m).ty.shape.as_slice()
            });
            if shape_ok && !epilogue_of.values().any(|&x| x == gi) {
                epilogue_of.insert(m, gi);
            }
        }
    }
    let fused: HashSet<usize> = epilogue_of.values().copied().collect();
    let mut steps = Vec::new();
    let mut pending_mm: HashMap<usize, NodeId> =
        epilogue_of.iter().map(|(&m, &g)| (g, m)).collect();
    for u in seq {
        match u {
            Unit::Group(gi) => {
                let k = kernels
                    .remove(&gi)
                    .ok_or_else(|| IrError::Verify("group emitted twice".into()))?;
                if fused.contains(&gi) {
                    if let Some(m) = pending_mm.remove(&gi) {
                        let ops = cx.g.operands(m);
                        steps.push(Step::MatMul {
                            a: ops[0],
                            b: ops[1],
                            out: m,
                            epilogue: Some(k),
                        });
                    }
                } else {
                    steps.push(Step::Kernel(k));
                }
            }
            Unit::Node(n) if epilogue_of.contains_key(&n) => {}
            Unit::Node(n) if cx.class(n) == Class::MatMul => {
                let ops = cx.g.operands(n);
                steps.push(Step::MatMul {
                    a: ops[0],
                    b: ops[1],
                    out: n,
                    epilogue: None,
                });
            }
            Unit::Node(n) => steps.push(Step::Fallback(n)),
        }
    }
    Ok(Schedule { steps })
}

/// What the emitter needs of a group.
struct GroupView<'a> {
    /// The loop domain.
    domain: &'a [usize],
    /// Reduced dims of the domain (empty for elementwise groups).
    axes: &'a [usize],
    /// The group's roots.
    roots: &'a [NodeId],
}

impl Ctx<'_> {
    fn class_reshape(&self) -> HashSet<NodeId> {
        self.class
            .iter()
            .filter(|(_, &c)| c == Class::Reshape)
            .map(|(&n, _)| n)
            .collect()
    }
}
