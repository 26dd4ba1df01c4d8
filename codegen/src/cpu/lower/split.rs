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
/// folding partials costs more than they save.
pub const SPLIT_MIN_WORK: usize = 1 << 17;

/// At most this many parts: enough to balance 16 threads, few enough that the fold is
/// negligible.
pub const MAX_PARTS: usize = 64;

/// Elements of work per part at least.
const PART_WORK: usize = 1 << 15;

/// Bytes of one accumulator's state in a full reduction's partial slot: the value at 0, the
/// compensation (float sums) or the index (argmax/argmin) at 8.
const ACC_STATE: usize = 16;

/// How a kernel without a parallel loop splits its one reduction loop.
#[derive(Clone, Debug)]
pub struct FullSplit {
    /// The loop's `Loop` and `EndLoop`.
    pub pc: usize,
    pub end: usize,
    /// Its extent, the iterations per part and the number of parts.
    pub extent: usize,
    pub chunk: usize,
    pub parts: usize,
    /// The accumulators declared before the loop, in order.
    pub accs: Vec<Var>,
}

/// The parts a reduction loop of `extent` iterations over `work` elements splits into:
/// `(chunk, parts)`, or `None` when it should not split. Chunks are multiples of 64
/// iterations when they are that long (vector loops then run whole iterations).
pub fn parts_for(extent: usize, work: usize, max_parts: usize) -> Option<(usize, usize)> {
    if work < SPLIT_MIN_WORK || extent < 2 {
        return None;
    }
    let want = (work / PART_WORK).clamp(1, max_parts).min(extent);
    let mut chunk = extent.div_ceil(want);
    if chunk > 64 {
        chunk = chunk.div_ceil(64) * 64;
    }
    let parts = extent.div_ceil(chunk);
    (parts >= 2).then_some((chunk, parts))
}

/// The split of `k` when it is a large full reduction: no parallel loop, one top-level loop,
/// accumulators declared before it, and no loop or store before it.
pub fn full_split(k: &Kernel) -> Option<FullSplit> {
    let mut depth = 0usize;
    let mut top = None;
    for (pc, inst) in k.body.iter().enumerate() {
        match inst {
            Inst::Loop { parallel: true, .. } => return None,
            Inst::Loop { .. } => {
                if depth == 0 {
                    if top.is_some() {
                        return None;
                    }
                    top = Some((pc, None));
                }
                depth += 1;
            }
            Inst::EndLoop => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    if let Some((p, None)) = top {
                        top = Some((p, Some(pc)));
                    }
                }
            }
            _ => {}
        }
    }
    let (pc, end) = match top? {
        (pc, Some(end)) => (pc, end),
        _ => return None,
    };
    let Inst::Loop { extent, .. } = k.body[pc] else {
        return None;
    };
    let mut accs = Vec::new();
    for inst in &k.body[..pc] {
        match inst {
            Inst::Acc { dst, .. } => accs.push(*dst),
            Inst::Store { .. } => return None,
            _ => {}
        }
    }
    if accs.is_empty() || k.body[end..].iter().any(|i| matches!(i, Inst::Acc { .. })) {
        return None;
    }
    let (chunk, parts) = parts_for(extent, k.work(), MAX_PARTS)?;
    Some(FullSplit {
        pc,
        end,
        extent,
        chunk,
        parts,
        accs,
    })
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

    /// A full reduction split over the pool (see the module docs).
    pub(crate) fn emit_full_split(&mut self, s: &FullSplit) -> Result<()> {
        // The helper: the statements before the loop, the loop over `start..end` (marked
        // parallel, so it takes the call's range), and the accumulators' states stored.
        let mut part = (*self.k).clone();
        part.body.truncate(s.end + 1);
        if let Inst::Loop { parallel, .. } = &mut part.body[s.pc] {
            *parallel = true;
        }
        let accs = s.accs.clone();
        let (f, _) = self.define_helper(&part, |l| {
            l.emit_range(0, s.end + 1)?;
            let out = l.partials_ptr();
            for (i, &acc) in accs.iter().enumerate() {
                let a = l.acc_vars(acc)?;
                let v = l.b.use_var(a.val);
                let at = (i * ACC_STATE) as i32;
                l.b.ins().store(MemFlagsData::trusted(), v, out, at);
                if let Some(aux) = a.aux {
                    let v = l.b.use_var(aux);
                    l.b.ins().store(MemFlagsData::trusted(), v, out, at + 8);
                }
            }
            Ok(())
        })?;
        // This function: the statements before the loop (accumulators start at their
        // identity), the parts, their fold in order, then the rest.
        self.emit_range(0, s.pc)?;
        let slot = s.accs.len() * ACC_STATE;
        let ss = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (slot * s.parts) as u32,
            4,
        ));
        let partials = self.b.ins().stack_addr(types::I64, ss, 0);
        self.call_split(f, s.parts, s.extent, s.chunk, partials, slot)?;
        let pv = self.b.declare_var(types::I64);
        let z = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(pv, z);
        let hi = self.b.ins().iconst(types::I64, s.parts as i64);
        let (p, header, exit) = self.open_counted(pv, hi);
        let off = self.b.ins().imul_imm_s(p, slot as i64);
        let at = self.b.ins().iadd(partials, off);
        for (i, &acc) in s.accs.iter().enumerate() {
            let a = self.acc_vars(acc)?;
            let o = (i * ACC_STATE) as i32;
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
        self.emit_range(s.end + 1, self.k.body.len())
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
