//! A CPU simulator of the rendered CUDA kernels' grid logic: it runs a kernel's [`Plan`] with
//! the launch configuration a device would get (blocks, threads, grid-stride and block-stride
//! loops, the vector path and its tail, thread 0's row stores) and performs the block
//! reductions the way the rendered `ember_block_reduce` does (warp-shuffle trees in lockstep,
//! one value per warp through shared memory, barriers between the phases). Scalar operations
//! use the interpreter's semantics ([`ember_ir::kernel::eval`]), so comparing the simulator
//! with [`ember_ir::kernel::interp`] checks exactly what the CUDA lowering adds: that every
//! element is computed once, by the right thread, and that partial results combine correctly.

use super::error::CudaError;
use super::gemm::{self, Gemm, Operand, BK, BM, BN, THREADS, TM, TN};
use super::ops::fold_op;
use super::plan::{Mode, Plan, VEC};
use crate::error::Result;
use ember_ir::kernel::interp::Buffer;
use ember_ir::kernel::{acc_identity, eval, Inst, Kernel, Var};
use ember_ir::{BinaryOp, ReduceOp, Scalar};
use std::collections::HashMap;

/// What a simulated launch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Blocks in the grid.
    pub grid: u32,
    /// Threads per block.
    pub block: u32,
    /// `__syncthreads()` executed (per block, summed over blocks and rows).
    pub barriers: usize,
    /// Warp shuffle rounds executed (one per offset per warp).
    pub shuffles: usize,
    /// Iterations of the vector path (each covers [`VEC`] elements).
    pub vector_iterations: usize,
    /// Elements handled by scalar grid-stride iterations.
    pub scalar_iterations: usize,
    /// Gemm mode: block tiles of the result computed.
    pub tiles: usize,
    /// Gemm mode: `k` slices staged through shared memory (summed over tiles).
    pub slices: usize,
}

/// One thread's accumulator, held like the rendered code holds it.
#[derive(Clone, Copy, Debug)]
enum Acc {
    /// `vN`.
    Plain(Scalar),
    /// `vN`, `vN_c` in the accumulator's dtype (Neumaier).
    Comp(Scalar, Scalar),
    /// `vN_v`, `vN` (index, -1 when none).
    Arg(Scalar, i64),
}

#[derive(Clone, Default)]
struct Env {
    vals: HashMap<u32, Scalar>,
    accs: HashMap<u32, (ReduceOp, Acc)>,
    /// The thread's index in its block.
    tid: usize,
}

/// Runs `kernel` over `bufs` as the CUDA lowering would, with at most `max_blocks` blocks
/// (small values exercise the grid-stride loops). `bufs` follow the interpreter's convention.
pub fn simulate(kernel: &Kernel, bufs: &mut [Buffer], max_blocks: u32) -> Result<SimStats> {
    kernel.verify()?;
    let k = kernel.normalized();
    if bufs.len() != k.args.len() {
        return Err(sim_err(format!(
            "{} buffers for {} arguments",
            bufs.len(),
            k.args.len()
        )));
    }
    let plan = Plan::new(&k);
    let launch = plan.launch(max_blocks);
    let mut s = Sim {
        k: &k,
        ends: k.loop_ends(),
        plan: &plan,
        stats: SimStats {
            grid: launch.grid,
            block: launch.block,
            ..SimStats::default()
        },
        unsynced: HashMap::new(),
    };
    let (grid, block) = (launch.grid as usize, launch.block as usize);
    if let Some(g) = &plan.gemm {
        s.gemm(g, bufs, grid)?;
        return Ok(s.stats);
    }
    match (plan.mode, plan.rows) {
        (Mode::Thread, Some((pv, n))) => {
            let body_end = s.ends[0];
            let vector_ok = plan.vector && s.vector_ok(bufs);
            for b in 0..grid {
                for t in 0..block {
                    let (tid, step) = (b * block + t, grid * block);
                    let mut env = Env::default();
                    let mut start = 0;
                    if vector_ok {
                        for q in (tid..n / VEC).step_by(step) {
                            for lane in 0..VEC {
                                env.vals.insert(pv.0, Scalar::I64((q * VEC + lane) as i64));
                                s.exec(&mut env, 1, body_end, bufs)?;
                            }
                            s.stats.vector_iterations += 1;
                        }
                        start = n / VEC * VEC;
                    }
                    for i in (start + tid..n).step_by(step) {
                        env.vals.insert(pv.0, Scalar::I64(i as i64));
                        s.exec(&mut env, 1, body_end, bufs)?;
                        s.stats.scalar_iterations += 1;
                    }
                }
            }
        }
        (Mode::Block, Some((pv, n))) => {
            for b in 0..grid {
                for row in (b..n).step_by(grid) {
                    let mut envs = threads(block);
                    for e in &mut envs {
                        e.vals.insert(pv.0, Scalar::I64(row as i64));
                    }
                    s.row(&mut envs, 1, s.ends[0], bufs)?;
                }
            }
        }
        (Mode::Block, None) => {
            let mut envs = threads(block);
            s.row(&mut envs, 0, k.body.len(), bufs)?;
        }
        _ => {
            let mut env = Env::default();
            s.exec(&mut env, 0, k.body.len(), bufs)?;
        }
    }
    Ok(s.stats)
}

/// One environment per thread of a block.
fn threads(block: usize) -> Vec<Env> {
    (0..block)
        .map(|tid| Env {
            tid,
            ..Env::default()
        })
        .collect()
}

fn sim_err(why: String) -> crate::CodegenError {
    CudaError::Unsupported(format!("grid simulator: {why}")).into()
}

struct Sim<'a> {
    k: &'a Kernel,
    ends: Vec<usize>,
    plan: &'a Plan,
    stats: SimStats,
    /// Output elements `(arg, element)` stored since the last barrier, with the storing thread:
    /// a load of one by another thread is a race the rendered code would have.
    unsynced: HashMap<(u32, usize), usize>,
}

impl Sim<'_> {
    /// The rendered vector path's run-time test: unit strides and aligned pointers (an
    /// element offset that is a multiple of [`VEC`] stands for an aligned pointer).
    fn vector_ok(&self, bufs: &[Buffer]) -> bool {
        self.k.body.iter().all(|inst| match inst {
            Inst::Load { arg, .. } | Inst::Store { arg, .. } => {
                let b = &bufs[*arg as usize];
                b.strides.as_slice() == [1] && b.offset.is_multiple_of(VEC)
            }
            _ => true,
        })
    }

    /// Runs the row level `body[lo..hi]` of block mode in every thread of one block.
    fn row(&mut self, envs: &mut [Env], lo: usize, hi: usize, bufs: &mut [Buffer]) -> Result<()> {
        let block = envs.len();
        let mut i = lo;
        while i < hi {
            match &self.k.body[i] {
                Inst::Loop { var, extent, .. } if self.plan.split.contains(&i) => {
                    let end = self.ends[i];
                    for (t, env) in envs.iter_mut().enumerate() {
                        for j in (t..*extent).step_by(block) {
                            env.vals.insert(var.0, Scalar::I64(j as i64));
                            self.exec(env, i + 1, end, bufs)?;
                        }
                    }
                    for acc in self
                        .plan
                        .reduce_after
                        .get(&end)
                        .cloned()
                        .unwrap_or_default()
                    {
                        self.block_reduce(envs, acc)?;
                    }
                    if self.plan.sync_after.contains(&end) {
                        self.stats.barriers += 1;
                        self.unsynced.clear();
                    }
                    i = end + 1;
                }
                Inst::Loop { .. } => {
                    return Err(sim_err("a row-level loop that is not split".into()))
                }
                // Row-level stores: thread 0 writes.
                Inst::Store { .. } => {
                    self.exec(&mut envs[0], i, i + 1, bufs)?;
                    i += 1;
                }
                _ => {
                    for env in envs.iter_mut() {
                        self.exec(env, i, i + 1, bufs)?;
                    }
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// Combines accumulator `acc` across the block like `ember_block_reduce` /
    /// `ember_block_arg` / `__syncthreads_or`, and gives every thread the result.
    fn block_reduce(&mut self, envs: &mut [Env], acc: Var) -> Result<()> {
        let (op, first) = envs
            .first()
            .and_then(|e| e.accs.get(&acc.0).copied())
            .ok_or_else(|| sim_err(format!("accumulator %{} not declared", acc.0)))?;
        let part: Vec<Acc> = envs.iter().map(|e| e.accs[&acc.0].1).collect();
        let result = match first {
            Acc::Arg(..) => {
                let pairs: Vec<(Scalar, i64)> = part
                    .iter()
                    .map(|a| match a {
                        Acc::Arg(v, i) => (*v, *i),
                        _ => (Scalar::I64(0), -1),
                    })
                    .collect();
                let max = op == ReduceOp::ArgMax;
                let (v, i) = self.tree(&pairs, |a, b| arg_fold(max, a, b.0, b.1));
                Acc::Arg(v, i)
            }
            Acc::Plain(Scalar::Bool(_)) => {
                // __syncthreads_or / __syncthreads_and: one barrier.
                self.stats.barriers += 1;
                let or = matches!(fold_op(op), BinaryOp::Or | BinaryOp::Add | BinaryOp::Max);
                let mut bits = part
                    .iter()
                    .map(|a| matches!(a, Acc::Plain(Scalar::Bool(true))));
                Acc::Plain(Scalar::Bool(if or {
                    bits.any(|y| y)
                } else {
                    bits.all(|y| y)
                }))
            }
            Acc::Comp(..) => {
                // `ember_block_comp`: a Neumaier step on the sums, plus the partner's
                // compensation.
                let pairs: Vec<(Scalar, Scalar)> = part
                    .iter()
                    .map(|a| match a {
                        Acc::Comp(s, c) => (*s, *c),
                        other => (
                            read(*other),
                            eval::cast(Scalar::I32(0), read(*other).dtype()),
                        ),
                    })
                    .collect();
                let (s, c) = self.tree(&pairs, |(s, c), (xs, xc)| {
                    let (s, c) = neumaier(s, c, xs);
                    (s, eval::binary(BinaryOp::Add, c, xc))
                });
                Acc::Comp(s, c)
            }
            Acc::Plain(_) => {
                let vals: Vec<Scalar> = part.iter().map(|a| read(*a)).collect();
                let f = fold_op(op);
                Acc::Plain(self.tree(&vals, |a, b| eval::binary(f, a, b)))
            }
        };
        for e in envs.iter_mut() {
            e.accs.insert(acc.0, (op, result));
        }
        Ok(())
    }

    /// The two-stage shuffle tree of `ember_block_reduce` over one value per thread.
    fn tree<T: Copy>(&mut self, vals: &[T], f: impl Fn(T, T) -> T) -> T {
        let nwarps = vals.len() / 32;
        // Lockstep: every lane reads its partner's value from before this round's updates.
        let shuffle = |lanes: &mut Vec<T>, limit: usize, rounds: &mut usize| {
            let mut o = 16;
            while o > 0 {
                let before = lanes.clone();
                for lane in 0..32 {
                    let x = before[if lane + o < 32 { lane + o } else { lane }];
                    if lane + o < limit {
                        lanes[lane] = f(lanes[lane], x);
                    }
                }
                *rounds += 1;
                o >>= 1;
            }
        };
        let mut sh = Vec::with_capacity(nwarps);
        for w in 0..nwarps {
            let mut lanes = vals[w * 32..(w + 1) * 32].to_vec();
            shuffle(&mut lanes, 32, &mut self.stats.shuffles);
            sh.push(lanes[0]);
        }
        self.stats.barriers += 1;
        let mut lanes: Vec<T> = (0..32)
            .map(|l| sh[if l < nwarps { l } else { 0 }])
            .collect();
        shuffle(&mut lanes, nwarps, &mut self.stats.shuffles);
        // Broadcast through sh[0], then the barrier that protects sh for the next reduction.
        self.stats.barriers += 2;
        lanes[0]
    }

    /// The tiled matrix product of [`super::gemm`]: per block tile, every `k` slice is staged
    /// in "shared memory" by the threads the rendered mapping names (each slot written once
    /// before the barrier), the register tiles accumulate with fused multiply-adds in the
    /// dtype, and each thread runs the epilogue for the elements it owns.
    fn gemm(&mut self, g: &Gemm, bufs: &mut [Buffer], grid: usize) -> Result<()> {
        let (m, n, kk) = (g.i.1, g.j.1, g.p.1);
        let strides = |o: &Operand, v: Option<Var>| -> i64 {
            v.map_or(0, |v| {
                o.dims_of(v)
                    .iter()
                    .map(|&d| bufs[o.arg as usize].strides[d] as i64)
                    .sum()
            })
        };
        let bv = g.batch.map(|b| b.0);
        let (a_si, a_sk, a_sb) = (
            strides(&g.a, Some(g.i.0)),
            strides(&g.a, Some(g.p.0)),
            strides(&g.a, bv),
        );
        let (b_sk, b_sj, b_sb) = (
            strides(&g.b, Some(g.p.0)),
            strides(&g.b, Some(g.j.0)),
            strides(&g.b, bv),
        );
        let zero = eval::cast(Scalar::I32(0), g.dtype);
        for blk in 0..grid {
            for t in (blk..g.tiles()).step_by(grid) {
                self.stats.tiles += 1;
                let (bt, i0, j0) = g.tile(t);
                let (a0, b0) = (bt as i64 * a_sb, bt as i64 * b_sb);
                let mut c = vec![[[zero; TN]; TM]; THREADS];
                for k0 in (0..kk).step_by(BK) {
                    self.stats.slices += 1;
                    let mut sa: Vec<Option<Scalar>> = vec![None; BK * BM];
                    let mut sb: Vec<Option<Scalar>> = vec![None; BK * BN];
                    for tid in 0..THREADS {
                        for e in (tid..BM * BK).step_by(THREADS) {
                            let (r, q) = gemm::a_slot(e, a_sk == 1);
                            let (gi, gk) = (i0 + r, k0 + q);
                            let v = if gi < m && gk < kk {
                                element_at(bufs, g.a.arg, a0 + gi as i64 * a_si + gk as i64 * a_sk)?
                            } else {
                                zero
                            };
                            stage(&mut sa, q * BM + r, v, "A")?;
                        }
                        for e in (tid..BK * BN).step_by(THREADS) {
                            let (q, col) = gemm::b_slot(e, b_sj == 1);
                            let (gk, gj) = (k0 + q, j0 + col);
                            let v = if gk < kk && gj < n {
                                element_at(bufs, g.b.arg, b0 + gk as i64 * b_sk + gj as i64 * b_sj)?
                            } else {
                                zero
                            };
                            stage(&mut sb, q * BN + col, v, "B")?;
                        }
                    }
                    self.stats.barriers += 1;
                    let (sa, sb) = (staged(sa, "A")?, staged(sb, "B")?);
                    for (tid, ct) in c.iter_mut().enumerate() {
                        let (ty, tx) = gemm::thread_pos(tid);
                        for q in 0..BK {
                            for (u, row) in ct.iter_mut().enumerate() {
                                for (v, acc) in row.iter_mut().enumerate() {
                                    let (r, col) = gemm::owned(ty, tx, u, v);
                                    *acc = fma(sa[q * BM + r], sb[q * BN + col], *acc);
                                }
                            }
                        }
                    }
                    self.stats.barriers += 1;
                }
                for (tid, ct) in c.iter().enumerate() {
                    let (ty, tx) = gemm::thread_pos(tid);
                    for (u, row) in ct.iter().enumerate() {
                        for (v, acc) in row.iter().enumerate() {
                            let (r, col) = gemm::owned(ty, tx, u, v);
                            let (i, j) = (i0 + r, j0 + col);
                            if i >= m || j >= n {
                                continue;
                            }
                            let mut env = Env {
                                tid,
                                ..Env::default()
                            };
                            env.vals.insert(g.i.0 .0, Scalar::I64(i as i64));
                            env.vals.insert(g.j.0 .0, Scalar::I64(j as i64));
                            if let Some(b) = bv {
                                env.vals.insert(b.0, Scalar::I64(bt as i64));
                            }
                            env.vals.insert(g.acc.0, *acc);
                            for &at in &g.element {
                                self.exec(&mut env, at, at + 1, bufs)?;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn get(&self, env: &Env, v: Var) -> Result<Scalar> {
        if let Some((_, a)) = env.accs.get(&v.0) {
            return Ok(read(*a));
        }
        env.vals
            .get(&v.0)
            .copied()
            .ok_or_else(|| sim_err(format!("%{} has no value", v.0)))
    }

    fn at(&self, env: &Env, b: &Buffer, arg: u32, index: &[Var]) -> Result<usize> {
        let mut at = b.offset as i64;
        for (v, s) in index.iter().zip(&b.strides) {
            match self.get(env, *v)? {
                Scalar::I64(i) => at += i * *s as i64,
                _ => return Err(sim_err("index is not i64".into())),
            }
        }
        let n = (b.data.len() / b.dtype.size()) as i64;
        if at < 0 || at >= n {
            return Err(sim_err(format!(
                "argument {arg} accessed at {at}, outside 0..{n}"
            )));
        }
        Ok(at as usize)
    }

    /// Runs `body[lo..hi]` sequentially in one thread.
    fn exec(&mut self, env: &mut Env, lo: usize, hi: usize, bufs: &mut [Buffer]) -> Result<()> {
        let mut pc = lo;
        while pc < hi {
            let inst = &self.k.body[pc];
            match inst {
                Inst::Loop { var, extent, .. } => {
                    let end = self.ends[pc];
                    for j in 0..*extent {
                        env.vals.insert(var.0, Scalar::I64(j as i64));
                        self.exec(env, pc + 1, end, bufs)?;
                    }
                    pc = end + 1;
                    continue;
                }
                Inst::EndLoop => {}
                Inst::Const { dst, value } => {
                    env.vals.insert(dst.0, value.0);
                }
                Inst::Load { dst, arg, index } => {
                    let b = &bufs[*arg as usize];
                    let at = self.at(env, b, *arg, index)?;
                    if let Some(&t) = self.unsynced.get(&(*arg, at)) {
                        if t != env.tid {
                            return Err(sim_err(format!(
                                "thread {} reads argument {arg} at {at}, stored by thread {t} \
                                 with no barrier between",
                                env.tid
                            )));
                        }
                    }
                    env.vals.insert(dst.0, b.get_raw(at));
                }
                Inst::Store { arg, index, value } => {
                    let v = self.get(env, *value)?;
                    let at = self.at(env, &bufs[*arg as usize], *arg, index)?;
                    let b = &mut bufs[*arg as usize];
                    let sz = b.dtype.size();
                    b.data[at * sz..(at + 1) * sz].copy_from_slice(&v.to_bytes());
                    if self.k.args[*arg as usize].output {
                        self.unsynced.insert((*arg, at), env.tid);
                    }
                }
                Inst::Unary { dst, op, x } => {
                    let v = eval::unary(*op, self.get(env, *x)?);
                    env.vals.insert(dst.0, v);
                }
                Inst::Binary { dst, op, a, b } => {
                    let v = eval::binary(*op, self.get(env, *a)?, self.get(env, *b)?);
                    env.vals.insert(dst.0, v);
                }
                Inst::Select { dst, cond, a, b } => {
                    let c = matches!(self.get(env, *cond)?, Scalar::Bool(true));
                    let v = self.get(env, if c { *a } else { *b })?;
                    env.vals.insert(dst.0, v);
                }
                Inst::Cast { dst, to, x } => {
                    let v = eval::cast(self.get(env, *x)?, *to);
                    env.vals.insert(dst.0, v);
                }
                Inst::Acc { dst, op, dtype } => {
                    let zero = eval::cast(Scalar::I32(0), *dtype);
                    let a = match op {
                        ReduceOp::Sum if dtype.is_float() => Acc::Comp(zero, zero),
                        ReduceOp::ArgMax | ReduceOp::ArgMin => Acc::Arg(zero, -1),
                        _ => Acc::Plain(acc_identity(*op, *dtype)),
                    };
                    env.accs.insert(dst.0, (*op, a));
                }
                Inst::Update { acc, value } | Inst::UpdateArg { acc, value, .. } => {
                    let x = self.get(env, *value)?;
                    let j = match inst {
                        Inst::UpdateArg { index, .. } => match self.get(env, *index)? {
                            Scalar::I64(j) => j,
                            _ => return Err(sim_err("argmax index is not i64".into())),
                        },
                        _ => 0,
                    };
                    let (op, a) = *env
                        .accs
                        .get(&acc.0)
                        .ok_or_else(|| sim_err(format!("%{} is not an accumulator", acc.0)))?;
                    let next = match a {
                        Acc::Comp(s, c) => {
                            let (s, c) = neumaier(s, c, x);
                            Acc::Comp(s, c)
                        }
                        Acc::Arg(bv, bi) => {
                            let (v, i) = arg_fold(op == ReduceOp::ArgMax, (bv, bi), x, j);
                            Acc::Arg(v, i)
                        }
                        Acc::Plain(p) => Acc::Plain(eval::binary(fold_op(op), p, x)),
                    };
                    env.accs.insert(acc.0, (op, next));
                }
            }
            pc += 1;
        }
        Ok(())
    }
}

/// An accumulator's value as the rendered code reads it.
fn read(a: Acc) -> Scalar {
    match a {
        Acc::Plain(v) => v,
        // As `ember_comp_value`: a non-finite compensation (after inf - inf) is dropped.
        Acc::Comp(s, c) if finite(c) => eval::binary(BinaryOp::Add, s, c),
        Acc::Comp(s, _) => s,
        Acc::Arg(_, i) => Scalar::I64(i.max(0)),
    }
}

fn finite(v: Scalar) -> bool {
    match v {
        Scalar::F32(x) => x.is_finite(),
        Scalar::F64(x) => x.is_finite(),
        _ => true,
    }
}

/// `ember_neumaier` in the accumulator's own precision.
fn neumaier(s: Scalar, c: Scalar, x: Scalar) -> (Scalar, Scalar) {
    match (s, c, x) {
        (Scalar::F32(s), Scalar::F32(c), Scalar::F32(x)) => {
            let t = s + x;
            let d = if s.abs() >= x.abs() {
                (s - t) + x
            } else {
                (x - t) + s
            };
            (Scalar::F32(t), Scalar::F32(c + d))
        }
        (Scalar::F64(s), Scalar::F64(c), Scalar::F64(x)) => {
            let t = s + x;
            let d = if s.abs() >= x.abs() {
                (s - t) + x
            } else {
                (x - t) + s
            };
            (Scalar::F64(t), Scalar::F64(c + d))
        }
        _ => (eval::binary(BinaryOp::Add, s, x), c),
    }
}

fn is_nan(v: Scalar) -> bool {
    match v {
        Scalar::F32(x) => x.is_nan(),
        Scalar::F64(x) => x.is_nan(),
        _ => false,
    }
}

/// `ember_arg_fold`.
fn arg_fold(max: bool, best: (Scalar, i64), v: Scalar, i: i64) -> (Scalar, i64) {
    let (bv, bi) = best;
    if i < 0 {
        return best;
    }
    let take = if bi < 0 {
        true
    } else if is_nan(bv) {
        is_nan(v) && i < bi
    } else if is_nan(v) {
        true
    } else {
        let better = eval::binary(if max { BinaryOp::Gt } else { BinaryOp::Lt }, v, bv);
        let tie = eval::binary(BinaryOp::Eq, v, bv);
        matches!(better, Scalar::Bool(true)) || (matches!(tie, Scalar::Bool(true)) && i < bi)
    };
    if take {
        (v, i)
    } else {
        best
    }
}

/// Element `at` (relative to the view's offset) of argument `arg`, bounds-checked.
fn element_at(bufs: &[Buffer], arg: u32, at: i64) -> Result<Scalar> {
    let b = &bufs[arg as usize];
    let at = b.offset as i64 + at;
    let len = (b.data.len() / b.dtype.size()) as i64;
    if at < 0 || at >= len {
        return Err(sim_err(format!(
            "argument {arg} accessed at {at}, outside 0..{len}"
        )));
    }
    Ok(b.get_raw(at as usize))
}

/// Writes slot `at` of a shared-memory slice; a slot written twice is a mapping error.
fn stage(slice: &mut [Option<Scalar>], at: usize, v: Scalar, which: &str) -> Result<()> {
    match slice.get_mut(at) {
        Some(slot @ None) => {
            *slot = Some(v);
            Ok(())
        }
        _ => Err(sim_err(format!(
            "slot {at} of the {which} slice written twice or out of range"
        ))),
    }
}

/// The slice after the barrier; a slot nobody wrote is a mapping error.
fn staged(slice: Vec<Option<Scalar>>, which: &str) -> Result<Vec<Scalar>> {
    slice
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| sim_err(format!("slot {i} of the {which} slice not written")))
        })
        .collect()
}

/// `x * y + c` rounded once, as the rendered `fmaf` / `fma`.
fn fma(x: Scalar, y: Scalar, c: Scalar) -> Scalar {
    match (x, y, c) {
        (Scalar::F32(x), Scalar::F32(y), Scalar::F32(c)) => Scalar::F32(x.mul_add(y, c)),
        (Scalar::F64(x), Scalar::F64(y), Scalar::F64(c)) => Scalar::F64(x.mul_add(y, c)),
        _ => eval::binary(BinaryOp::Add, eval::binary(BinaryOp::Mul, x, y), c),
    }
}

/// The launch plan of `kernel` (after verifying it), as the renderer and simulator use it.
pub fn plan_of(kernel: &Kernel) -> Result<Plan> {
    kernel.verify()?;
    Ok(Plan::new(&kernel.normalized()))
}
