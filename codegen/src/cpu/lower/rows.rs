//! Facts about row kernels and the software pipelining of their first phase.
//!
//! A row kernel (softmax, log_softmax, layer norm) is a parallel loop over rows whose body
//! runs phases over the row: reductions, then a loop that stores the result. Its first phase
//! (the row max, or the mean's sum) only reads the input, so at full size it waits on memory
//! with little to compute, while the last phase computes from data already in cache. The
//! lowering overlaps the two: [`pipeline`] finds the shape, and the row loop then computes the
//! first phase of row `i + 1` inside the last phase's loop of row `i` (one loop, so the
//! next row's loads are in flight while the divisions run), carrying its accumulators to the
//! next iteration; each thread's chunk of rows starts with the first phase of its first row.
//! At 4096x4096 float32 this hides the max pass behind the division pass (about 2 ms of
//! W2's 10.3, `codegen/examples/w2_passes.rs`).

use ember_ir::kernel::{Inst, Kernel, Var};
use ember_ir::{DType, ReduceOp};
use std::collections::{HashMap, HashSet};

/// How [`pipeline`] rewrote a kernel: pcs in the augmented body.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// The parallel loop's `Loop` (its body ends at the original body's last `EndLoop`).
    pub outer: usize,
    /// The first phase: its `Acc`s from here, then its loop, ending at `end0` (the `EndLoop`).
    pub first: usize,
    /// The first phase loop's `EndLoop`.
    pub end0: usize,
    /// The loop the next row's first phase joins (the row's last loop), and its `EndLoop`.
    pub last: usize,
    /// See `last`.
    pub last_end: usize,
    /// The fused loop appended after the original body: renamed `Acc`s from here, then a
    /// loop with the first phase's body for the next row and the last phase's body.
    pub fused: usize,
    /// The next row's index in the fused loop (the lowering defines it).
    pub next_row: Var,
    /// The first phase's accumulators, each with its renamed copy in the fused loop.
    pub accs: Vec<(Var, Var)>,
    /// The original body's length (the appended instructions are emitted only on request).
    pub body_len: usize,
}

/// Appends the fused loop to `k` (and the types of its new values to `types`) when `k` is a
/// row kernel of this shape: the parallel loop's body starts with `Acc`s and one loop that
/// updates exactly them from loads of inputs (no stores, no nested loops), and ends with a
/// different flat loop of the same extent. Returns `None` (and leaves both alone) otherwise.
pub fn pipeline(k: &mut Kernel, types: &mut Vec<Option<DType>>) -> Option<Pipeline> {
    let body = &k.body;
    let n = body.len();
    let (
        Inst::Loop {
            var: row,
            parallel: true,
            ..
        },
        Some(Inst::EndLoop),
    ) = (body.first()?, body.last())
    else {
        return None;
    };
    let row = *row;
    // The first phase: Accs, then a loop.
    let mut pc = 1;
    let mut accs = Vec::new();
    while let Some(Inst::Acc { dst, op, .. }) = body.get(pc) {
        if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
            return None;
        }
        accs.push(*dst);
        pc += 1;
    }
    let (
        Inst::Loop {
            var: j0,
            extent: e0,
            ..
        },
        false,
    ) = (body.get(pc)?, accs.is_empty())
    else {
        return None;
    };
    let (l0, j0, e0) = (pc, *j0, *e0);
    let end0 = l0 + body[l0..].iter().position(|i| matches!(i, Inst::EndLoop))?;
    let mut updated = HashSet::new();
    for inst in &body[l0 + 1..end0] {
        match inst {
            Inst::Loop { .. } | Inst::Store { .. } | Inst::UpdateArg { .. } | Inst::Acc { .. } => {
                return None
            }
            Inst::Load { arg, .. } if k.args[*arg as usize].output => return None,
            Inst::Update { acc, .. } => {
                if !accs.contains(acc) {
                    return None;
                }
                updated.insert(*acc);
            }
            _ => {}
        }
    }
    if updated.len() != accs.len() {
        return None;
    }
    // No other update of the first phase's accumulators.
    let elsewhere = body[end0..].iter().any(
        |i| matches!(i, Inst::Update { acc, .. } | Inst::UpdateArg { acc, .. } if accs.contains(acc)),
    );
    // The last phase: a flat loop of the same extent ending the row.
    // Top-level flat loops after the first phase.
    let mut flat = Vec::new();
    let mut p = end0 + 1;
    while p < n - 1 {
        if let Inst::Loop { .. } = body[p] {
            let e = p + body[p..].iter().position(|i| matches!(i, Inst::EndLoop))?;
            if body[p + 1..e]
                .iter()
                .any(|i| matches!(i, Inst::Loop { .. }))
            {
                return None;
            }
            flat.push((p, e));
            p = e + 1;
        } else {
            p += 1;
        }
    }
    // The last loop (joining the first loop after the first phase, the exp loop of softmax,
    // measured 10 ms instead of 7.8: its body is heavy, so its loads of the next row stall).
    let &(last, last_end) = flat.last()?;
    let Inst::Loop {
        var: jk, extent, ..
    } = body[last]
    else {
        return None;
    };
    if elsewhere || extent != e0 {
        return None;
    }
    // The augmented body: renamed Accs, then the fused loop.
    let mut next = k
        .body
        .iter()
        .flat_map(|i| i.def().into_iter().chain(i.uses()))
        .map(|v| v.0 + 1)
        .max()
        .unwrap_or(0);
    let mut fresh = |types: &mut Vec<Option<DType>>, like: Var| {
        let v = Var(next);
        next += 1;
        let t = types.get(like.0 as usize).copied().flatten();
        if types.len() <= v.0 as usize {
            types.resize(v.0 as usize + 1, None);
        }
        types[v.0 as usize] = t;
        v
    };
    let next_row = fresh(types, row);
    let mut map: HashMap<Var, Var> = HashMap::from([(j0, jk), (row, next_row)]);
    let mut out = Vec::new();
    let mut pairs = Vec::new();
    for inst in &k.body[1..l0] {
        let mut inst = inst.clone();
        if let Some(a) = inst.def() {
            let a2 = fresh(types, a);
            map.insert(a, a2);
            pairs.push((a, a2));
        }
        inst.rename(&mut |v| map.get(&v).copied().unwrap_or(v));
        out.push(inst);
    }
    // The next row's loads first: a load that follows a store to an address 4 KiB apart in
    // its low bits waits for it (4K aliasing), and the input (a NumPy array, 16 bytes past a
    // page) and the output (on a page) are often that close; loads issued before the row's
    // stores never wait on them.
    out.push(k.body[last].clone());
    for inst in &k.body[l0 + 1..end0] {
        let mut inst = inst.clone();
        if let Some(d) = inst.def() {
            let d2 = fresh(types, d);
            map.insert(d, d2);
        }
        inst.rename(&mut |v| map.get(&v).copied().unwrap_or(v));
        out.push(inst);
    }
    out.extend(k.body[last + 1..last_end].iter().cloned());
    out.push(Inst::EndLoop);
    let fused = n;
    k.body.extend(out);
    Some(Pipeline {
        outer: 0,
        first: 1,
        end0,
        last,
        last_end,
        fused,
        next_row,
        accs: pairs,
        body_len: n,
    })
}

/// The values `x - m` where `m` is a float max accumulator that has already folded in `x`
/// itself, so the difference is `<= 0` (or NaN): softmax's `x - max(x)` in a row kernel.
///
/// The pattern: `m` has one `Update` with the value of a `Load` of input `X` at `I_m` inside a
/// loop `L_m`; the subtraction's left operand is a `Load` of `X` at `I_x` inside a loop `L_x`
/// that opens after `L_m` closes, in the same enclosing loop; `I_x` equals `I_m` except that
/// one position holds `L_x`'s variable where `I_m` holds `L_m`'s, with `L_x` no longer than
/// `L_m`; the other indices are neither loop's variable. Every `x` is then an element `m`
/// has seen, and `fl(x - m) <= 0` since rounding is monotonic.
pub fn nonpositive_differences(k: &Kernel) -> HashSet<Var> {
    // For each instruction: its innermost loop (position of the `Loop`), and for each loop
    // its enclosing loop.
    let mut inner: Vec<Option<usize>> = Vec::with_capacity(k.body.len());
    let mut parent: HashMap<usize, Option<usize>> = HashMap::new();
    let mut closes: HashMap<usize, usize> = HashMap::new();
    let mut stack: Vec<usize> = Vec::new();
    for (pc, inst) in k.body.iter().enumerate() {
        match inst {
            Inst::Loop { .. } => {
                inner.push(stack.last().copied());
                parent.insert(pc, stack.last().copied());
                stack.push(pc);
            }
            Inst::EndLoop => {
                if let Some(l) = stack.pop() {
                    closes.insert(l, pc);
                }
                inner.push(stack.last().copied());
            }
            _ => inner.push(stack.last().copied()),
        }
    }
    let loop_info = |l: usize| match k.body[l] {
        Inst::Loop { var, extent, .. } => Some((var, extent)),
        _ => None,
    };
    // Loads: dst -> (pc, arg, index).
    let loads: HashMap<Var, (usize, u32, &[Var])> = k
        .body
        .iter()
        .enumerate()
        .filter_map(|(pc, i)| match i {
            Inst::Load { dst, arg, index } => Some((*dst, (pc, *arg, &index[..]))),
            _ => None,
        })
        .collect();
    // Float max accumulators with exactly one update, by a load.
    let mut updates: HashMap<Var, Vec<(usize, Var)>> = HashMap::new();
    for (pc, i) in k.body.iter().enumerate() {
        if let Inst::Update { acc, value } = i {
            updates.entry(*acc).or_default().push((pc, *value));
        }
    }
    let mut out = HashSet::new();
    for inst in &k.body {
        let Inst::Binary {
            dst,
            op: ember_ir::BinaryOp::Sub,
            a,
            b,
        } = inst
        else {
            continue;
        };
        let is_max = k.body.iter().any(|i| {
            matches!(i, Inst::Acc { dst, op: ReduceOp::Max, dtype } if dst == b && dtype.is_float())
        });
        let (Some(&[(_, mv)]), true) = (updates.get(b).map(|u| &u[..]), is_max) else {
            continue;
        };
        let (Some(&(pm, am, im)), Some(&(px, ax, ix))) = (loads.get(&mv), loads.get(a)) else {
            continue;
        };
        let (Some(lm), Some(lx)) = (inner[pm], inner[px]) else {
            continue;
        };
        let (Some((vm, em)), Some((vx, ex))) = (loop_info(lm), loop_info(lx)) else {
            continue;
        };
        let ordered = closes.get(&lm).is_some_and(|&c| c < lx) && parent[&lm] == parent[&lx];
        if am != ax || k.args[am as usize].output || !ordered || ex > em || im.len() != ix.len() {
            continue;
        }
        let mut hits = 0;
        let same = im.iter().zip(ix).all(|(&p, &q)| {
            if p == vm && q == vx {
                hits += 1;
                true
            } else {
                p == q && p != vm && q != vx
            }
        });
        if same && hits == 1 {
            out.insert(*dst);
        }
    }
    out
}
