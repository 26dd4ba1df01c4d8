//! Reductions that split themselves over the thread pool.
//!
//! [`super::super::CompiledKernel::run`] parallelizes a kernel over its parallel loop, the
//! kept dimensions. Two kinds of reduction have too few of those to keep the pool busy, or
//! walk memory badly when split that way, so their functions split the *reduced* loop
//! instead, in two stages:
//!
//! * *Full reductions* (a kernel without a parallel loop, e.g. `np.exp(x).sum()`): a helper
//!   function runs the reduction loop over one part of its range and leaves the state of each
//!   accumulator (value, and compensation or index) in its slot of a partials array; the
//!   kernel runs the parts on the pool ([`crate::cpu::externs::ember_cpu_split`]), folds the
//!   partials in part order, and goes on with what follows the loop (stores, `mean`'s scale).
//!   A kernel with several top-level loops (`np.exp(x - x.max()).sum()`, the variance) splits
//!   each large one in turn: the values a later loop reads from before it (the folded max,
//!   the mean) reach its parts through their partial slots.
//! * *Column reductions* (`x.sum(axis=0)`, see [`crate::cpu::vector`]'s interchange): parts
//!   are blocks of rows, each folding its rows into a row of accumulator states in scratch
//!   memory, the rows' contiguous memory streamed in order; the kernel then folds the parts'
//!   rows column by column.
//!
//! The parts and their ranges depend only on the kernel's extents (never on the thread count
//! or on timing), and partials are folded in part order, so results are deterministic. Float
//! sums keep their compensation across the fold: partial `(s, c)` pairs are folded with the
//! same compensated adds as elements. Small reductions (below [`SPLIT_MIN_WORK`] elements)
//! are emitted as before.

use super::{kernel_signature, AccVars, Lower, Mode};
use crate::cpu::ops::cl_type;
use crate::error::{CodegenError, Result};
use cranelift_codegen::ir::{
    types, FuncRef, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, UserFuncName, Value,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::Module;
use ember_ir::kernel::{Inst, Kernel, Var};
use ember_ir::{DType, ReduceOp};

/// Reductions over fewer elements than this run on one thread, unsplit: waking the pool and
/// folding partials costs more than they save. (Since workers spin between jobs, 32K: a
/// float64 sum of 70k elements 12.1 -> 8.5 us, NumPy 13.0.)
pub const SPLIT_MIN_WORK: usize = 1 << 15;

/// At most this many parts: enough to balance 16 threads, few enough that the fold is
/// negligible.
pub const MAX_PARTS: usize = 64;

/// Elements of work per part at least (before rounding the count to [`PARTS_MULTIPLE`]).
const PART_WORK: usize = 1 << 15;

/// Part counts are rounded up to a multiple of this.
const PARTS_MULTIPLE: usize = 4;

/// Bytes of one accumulator's state in a full reduction's partial slot: the value at 0, the
/// compensation (float sums) or the index (argmax/argmin) at 8.
const ACC_STATE: usize = 16;

/// How a kernel without a parallel loop splits its reduction loops: each large top-level
/// loop that updates accumulators declared before it is one phase, run over the pool in
/// parts. Statements between the loops (a `max` subtracted, `mean`'s scale) run in the
/// kernel, in order, so a second phase sees the first phase's folded results (its live-ins,
/// handed to the parts through their partial slots): `np.exp(x - x.max()).sum()` runs both
/// loops on every core.
#[derive(Clone, Debug)]
pub struct FullSplit {
    pub phases: Vec<Phase>,
}

/// One split loop of a [`FullSplit`].
#[derive(Clone, Debug)]
pub struct Phase {
    /// The loop's `Loop` and `EndLoop`.
    pub pc: usize,
    pub end: usize,
    /// Its extent, the iterations per part and the number of parts.
    pub extent: usize,
    pub chunk: usize,
    pub parts: usize,
    /// The top-level accumulators the loop updates, in order of declaration.
    pub accs: Vec<Var>,
    /// Values defined before the loop that it reads, in order of first use.
    pub live: Vec<Var>,
}

impl Phase {
    /// Bytes of the live-ins at the start of a part's slot (8 each, rounded to 16).
    fn live_bytes(&self) -> usize {
        (self.live.len() * 8).div_ceil(16) * 16
    }
    /// Bytes of one part's slot: live-ins, then one state per accumulator.
    fn slot(&self) -> usize {
        self.live_bytes() + self.accs.len() * ACC_STATE
    }
}

/// The parts a reduction loop of `extent` iterations over `work` elements splits into:
/// `(chunk, parts)`, or `None` when it should not split. Chunks are multiples of 64
/// iterations when they are that long (vector loops then run whole iterations). A
/// `max_parts` below 2 (a caller's cap, e.g. too few rows for two parts) never splits.
pub fn parts_for(extent: usize, work: usize, max_parts: usize) -> Option<(usize, usize)> {
    if work < SPLIT_MIN_WORK || extent < 2 || max_parts < 2 {
        return None;
    }
    let mut want = (work / PART_WORK).clamp(2, max_parts).min(extent);
    if want >= 2 {
        // A multiple of 4 parts balances 2 and 4 threads (3 parts on 2 threads take as long
        // as 4).
        want = want
            .next_multiple_of(PARTS_MULTIPLE)
            .min(max_parts)
            .min(extent);
    }
    let mut chunk = extent.div_ceil(want);
    if chunk > 64 {
        chunk = chunk.div_ceil(64) * 64;
    }
    let parts = extent.div_ceil(chunk);
    (parts >= 2).then_some((chunk, parts))
}

/// The split of `k` when it is a large full reduction: no parallel loop, and top-level loops
/// that update accumulators declared before them (see [`FullSplit`]); loops too small to
/// split run as before, in place.
pub fn full_split(k: &Kernel) -> Option<FullSplit> {
    let mut depth = 0usize;
    let mut tops: Vec<(usize, usize)> = Vec::new();
    let mut open = 0;
    let mut top_accs: Vec<Var> = Vec::new();
    for (pc, inst) in k.body.iter().enumerate() {
        match inst {
            Inst::Loop { parallel: true, .. } => return None,
            Inst::Loop { .. } => {
                if depth == 0 {
                    open = pc;
                }
                depth += 1;
            }
            Inst::EndLoop => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    tops.push((open, pc));
                }
            }
            Inst::Acc { dst, .. } if depth == 0 => top_accs.push(*dst),
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    let mut phases = Vec::new();
    for &(pc, end) in &tops {
        let Inst::Loop { extent, .. } = k.body[pc] else {
            return None;
        };
        // A bool `any` / `all` scan runs in place as one call that stops early.
        if super::row_calls::is_bool_scan(k, pc, end) {
            continue;
        }
        let inner = &k.body[pc..=end];
        let defined: Vec<Var> = inner.iter().filter_map(|i| i.def()).collect();
        // Nothing defined in the loop may be read after it (the kernel will not have it).
        if k.body[end + 1..]
            .iter()
            .any(|i| i.uses().iter().any(|u| defined.contains(u)))
        {
            return None;
        }
        let mut accs: Vec<Var> = Vec::new();
        let mut live: Vec<Var> = Vec::new();
        for inst in inner {
            let target = match inst {
                Inst::Update { acc, .. } | Inst::UpdateArg { acc, .. } => Some(*acc),
                _ => None,
            };
            if let Some(a) = target.filter(|a| top_accs.contains(a)) {
                if !accs.contains(&a) {
                    accs.push(a);
                }
            }
            for u in inst.uses() {
                if Some(u) != target && !defined.contains(&u) && !live.contains(&u) {
                    live.push(u);
                }
            }
        }
        // An accumulator both read and updated by the loop needs its running value.
        if accs.is_empty() || accs.iter().any(|a| live.contains(a)) {
            continue;
        }
        accs.sort_by_key(|a| top_accs.iter().position(|t| t == a));
        let Some((chunk, parts)) = parts_for(extent, loop_work(k, pc, end), MAX_PARTS) else {
            continue;
        };
        phases.push(Phase {
            pc,
            end,
            extent,
            chunk,
            parts,
            accs,
            live,
        });
    }
    (!phases.is_empty()).then_some(FullSplit { phases })
}

/// Iterations of loop `pc..=end` counting the loops nested in it (the most along any path).
fn loop_work(k: &Kernel, pc: usize, end: usize) -> usize {
    let mut stack: Vec<usize> = Vec::new();
    let mut most = 0;
    for inst in &k.body[pc..=end] {
        match inst {
            Inst::Loop { extent, .. } => {
                let w = stack.last().copied().unwrap_or(1) * extent;
                most = most.max(w);
                stack.push(w);
            }
            Inst::EndLoop => {
                stack.pop();
            }
            _ => {}
        }
    }
    most
}

impl Lower<'_, '_> {
    /// Defines a helper function of this kernel in the module, with the kernel signature,
    /// built by `build` on a fresh lowering of `k`; returns a reference to it from this
    /// function and the helper's granule.
    pub(crate) fn define_helper(
        &mut self,
        k: &Kernel,
        build: impl FnOnce(&mut Lower<'_, '_>) -> Result<()>,
    ) -> Result<(FuncRef, usize)> {
        let sig = kernel_signature(self.module);
        let id = self
            .module
            .declare_anonymous_function(&sig)
            .map_err(|e| CodegenError::Module(e.to_string()))?;
        let mut ctx = self.module.make_context();
        ctx.func.signature = sig;
        ctx.func.name = UserFuncName::user(2, id.as_u32());
        let mut fctx = FunctionBuilderContext::new();
        let types = self.types.clone();
        let outlined = self.outlined.clone();
        let granule;
        {
            let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let mut l = Lower::new(b, k, &types[..], &mut *self.module).with_outlined(outlined);
            build(&mut l)?;
            granule = l.granule;
            l.b.ins().return_(&[]);
            l.b.seal_all_blocks();
            let cfg = l.module.isa().frontend_config();
            l.b.finalize(cfg);
        }
        // EMBER_CPU_DUMP=1 prints helpers as it prints kernels.
        let dump = std::env::var_os("EMBER_CPU_DUMP").is_some();
        if dump {
            ctx.set_disasm(true);
            eprintln!("helper of {}:\n{}", k.name, ctx.func.display());
        }
        self.module
            .define_function(id, &mut ctx)
            .map_err(|e| CodegenError::Compile {
                msg: format!("{e:?}"),
                kernel: k.to_string(),
            })?;
        if let Some(code) = ctx
            .compiled_code()
            .and_then(|c| c.vcode.clone())
            .filter(|_| dump)
        {
            eprintln!("{code}");
        }
        let f = self.module.declare_func_in_func(id, self.b.func);
        // An absolute address: JIT code regions may lie far apart.
        self.b.func.dfg.ext_funcs[f].colocated = false;
        Ok((f, granule))
    }

    /// Calls [`crate::cpu::externs::ember_cpu_split`]: `f` over `parts` parts of `extent`
    /// iterations, part `c` leaving its state at `partials + c * slot`.
    pub(crate) fn call_split(
        &mut self,
        f: FuncRef,
        parts: usize,
        extent: usize,
        chunk: usize,
        partials: Value,
        slot: usize,
    ) -> Result<()> {
        let fp = self.b.ins().func_addr(types::I64, f);
        let nargs = self.b.ins().iconst(types::I64, self.k.args.len() as i64);
        let parts = self.b.ins().iconst(types::I64, parts as i64);
        let extent = self.b.ins().iconst(types::I64, extent as i64);
        let chunk = self.b.ins().iconst(types::I64, chunk as i64);
        let slot = self.b.ins().iconst(types::I64, slot as i64);
        let (argp, stp) = (self.argp, self.stp);
        self.call_ext_void(
            "ember_cpu_split",
            &[types::I64; 9],
            &[fp, argp, nargs, stp, parts, extent, chunk, partials, slot],
        )
    }

    /// The partials pointer a helper run by [`Self::call_split`] receives (after the kernel's
    /// own argument pointers).
    pub(crate) fn partials_ptr(&mut self) -> Value {
        let at = (self.k.args.len() * 8) as i32;
        self.b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), self.argp, at)
    }

    /// A full reduction split over the pool (see the module docs and [`FullSplit`]); returns
    /// the vector step of the phases' loops (the largest), for [`super::super::CompiledKernel::vector_step`].
    pub(crate) fn emit_full_split(&mut self, s: &FullSplit) -> Result<usize> {
        // Loops that run in place may be bool scans (next to a split sum): those row calls
        // only (the float32 ones belong to row kernels, which have a parallel loop).
        self.row_calls = super::row_calls::RowPlan::bool_scans(&self.k, &self.types, &self.ends);
        let mut pc = 0;
        let mut step = 1;
        for ph in &s.phases {
            self.emit_range(pc, ph.pc)?;
            step = step.max(self.emit_phase(ph)?);
            pc = ph.end + 1;
        }
        self.emit_range(pc, self.k.body.len())?;
        Ok(step)
    }

    /// One phase: the parts on the pool, then their states folded in part order into the
    /// kernel's accumulators (declared, at their identity, by the statements before).
    fn emit_phase(&mut self, ph: &Phase) -> Result<usize> {
        // The helper: the live-ins from the slot, the phase's accumulators, the loop over
        // `start..end` (marked parallel, so it takes the call's range), the states stored.
        let mut part = (*self.k).clone();
        part.body.truncate(ph.end + 1);
        if let Inst::Loop { parallel, .. } = &mut part.body[ph.pc] {
            *parallel = true;
        }
        let decls: Vec<usize> = ph
            .accs
            .iter()
            .filter_map(|a| {
                self.k.body[..ph.pc]
                    .iter()
                    .position(|i| matches!(i, Inst::Acc { dst, .. } if dst == a))
            })
            .collect();
        if decls.len() != ph.accs.len() {
            return Err(CodegenError::Internal(
                "split accumulator undeclared".into(),
            ));
        }
        let live_bytes = ph.live_bytes();
        let mut step = 1;
        let (f, _) = self.define_helper(&part, |l| {
            let base = l.partials_ptr();
            for (i, &v) in ph.live.iter().enumerate() {
                let t = cl_type(l.ty(v), Mode::Scalar);
                let x =
                    l.b.ins()
                        .load(t, MemFlagsData::trusted(), base, (i * 8) as i32);
                l.vals.insert(v, x);
            }
            for &d in &decls {
                l.emit_range(d, d + 1)?;
            }
            if let Inst::Loop { var, .. } = l.k.body[ph.pc] {
                let p = crate::cpu::vector::plan(l, ph.pc, ph.end, var, false);
                step = p.map_or(1, |p| p.step());
            }
            l.emit_range(ph.pc, ph.end + 1)?;
            for (i, &acc) in ph.accs.iter().enumerate() {
                let a = l.acc_vars(acc)?;
                let v = l.b.use_var(a.val);
                let at = (live_bytes + i * ACC_STATE) as i32;
                l.b.ins().store(MemFlagsData::trusted(), v, base, at);
                if let Some(aux) = a.aux {
                    let v = l.b.use_var(aux);
                    l.b.ins().store(MemFlagsData::trusted(), v, base, at + 8);
                }
            }
            Ok(())
        })?;
        let slot = ph.slot();
        let ss = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (slot * ph.parts) as u32,
            4,
        ));
        let partials = self.b.ins().stack_addr(types::I64, ss, 0);
        // Every part's copy of the live-ins.
        let live: Vec<Value> = ph
            .live
            .iter()
            .map(|&v| self.val(v))
            .collect::<Result<_>>()?;
        for p in 0..ph.parts {
            for (i, &x) in live.iter().enumerate() {
                let at = (p * slot + i * 8) as i32;
                self.b.ins().store(MemFlagsData::trusted(), x, partials, at);
            }
        }
        self.call_split(f, ph.parts, ph.extent, ph.chunk, partials, slot)?;
        let pv = self.b.declare_var(types::I64);
        let z = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(pv, z);
        let hi = self.b.ins().iconst(types::I64, ph.parts as i64);
        let (p, header, exit) = self.open_counted(pv, hi);
        let off = self.b.ins().imul_imm_s(p, slot as i64);
        let at = self.b.ins().iadd(partials, off);
        for (i, &acc) in ph.accs.iter().enumerate() {
            let a = self.acc_vars(acc)?;
            let o = (live_bytes + i * ACC_STATE) as i32;
            let t = cl_type(a.dtype, Mode::Scalar);
            let v = self.b.ins().load(t, MemFlagsData::trusted(), at, o);
            let aux = match a.op {
                ReduceOp::ArgMax | ReduceOp::ArgMin => Some(types::I64),
                ReduceOp::Sum if a.aux.is_some() => Some(t),
                _ => None,
            }
            .map(|t| self.b.ins().load(t, MemFlagsData::trusted(), at, o + 8));
            self.fold_partial(&a, v, aux)?;
        }
        let p2 = self.b.ins().iadd_imm_s(p, 1);
        self.b.def_var(pv, p2);
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(exit);
        Ok(step)
    }

    /// Folds one part's scalar state (`v` and its compensation or index `aux`) into `a`.
    pub(crate) fn fold_partial(&mut self, a: &AccVars, v: Value, aux: Option<Value>) -> Result<()> {
        match (a.op, aux) {
            (ReduceOp::ArgMax | ReduceOp::ArgMin, Some(i)) => {
                self.acc_fold_arg(a, v, i);
                Ok(())
            }
            (ReduceOp::Sum, Some(c)) => {
                // The part's sum is `v - c`: fold both terms, compensated.
                self.acc_fold_scalar(a, v)?;
                let nc = self.b.ins().fneg(c);
                self.acc_fold_scalar(a, nc)
            }
            _ => self.acc_fold_scalar(a, v),
        }
    }
}

/// True when `op` on `dtype` folds a float compensation alongside its value.
pub fn compensated(op: ReduceOp, dtype: DType) -> bool {
    op == ReduceOp::Sum && dtype.is_float()
}
