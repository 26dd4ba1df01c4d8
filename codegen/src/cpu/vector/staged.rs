//! Staged vector loops: flat vector loops whose float32 `exp` / `tanh` / `sigmoid` (float32
//! loops) or float64 `exp` / `tanh` / `sigmoid` / `log` / `cos` / `sin` / `expm1` (float64
//! loops) run as 512-bit block calls ([`crate::cpu::wide`]) on AVX-512 hosts: the ops that
//! [`wide::symbol_for`] names a routine for. Float32 loops are elementwise; float64 loops may
//! also reduce (`np.exp(x).sum()`, `np.log(p).sum(axis=1)`, see below).
//!
//! The loop runs over blocks of [`wide::BLOCK`] elements. Each block runs in stages: stage 0
//! is the part of the body that needs no math result; each math op whose argument is ready
//! after stage `s` is one call on the whole block between stages `s` and `s + 1`; stage
//! `s + 1` is the part that needs those results. Values that cross a stage boundary go
//! through a scratch block on the stack (in L1); loads of the kernel's inputs are re-emitted in
//! every stage that needs them (they hit L1 too) instead of being kept. Every store runs in
//! the last stage, in body order, so a store never precedes a load of the same position:
//! outputs may alias inputs exactly as in the unstaged loop (see `CompiledKernel::run`).
//! Float64 loops run their last, partial block staged too (its length a multiple of the
//! vector step); what float32 loops leave after the last whole block, the scalar tail and
//! strided views run in the ordinary vector and scalar loops.
//!
//! *Reductions* (float64 loops): every `Update` of an accumulator declared outside the loop
//! runs in the last stage, with the vector loop's own accumulators and updates
//! (`super::accs`: float sums pairwise over the unrolled vectors into one TwoSum-compensated
//! accumulator per lane, max/min with a NaN mask), so a staged sum is exactly the vector
//! loop's sum of the same terms and keeps its accuracy bounds. The accumulators live in a
//! stack slot while the calls run ([`AccSlot`]). This holds in the helpers that split large
//! full reductions over the pool (`crate::cpu::lower::split`) and in row reductions' inner
//! loops. On a 2-core AVX-512 host (chrt -f 50, medians): `np.exp(x).sum()` of 40000
//! float64 78.6-80.6 us -> 20.8-21.4 (NumPy 31-34), of 1M (split) 1028-1050 -> 479-512
//! (NumPy 950-990); `np.log(p).sum()` of 40000 196-203 -> 29-30 (NumPy 37-40);
//! `np.log(p).sum(axis=1)` on (1000, 1000) 5.0-5.1 ms -> 1.38 (NumPy 1.14-1.29).

use super::super::lower::{Lower, Mode};
use super::super::wide;
use super::accs::VAcc;
use super::VCtx;
use crate::error::{CodegenError, Result};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, InstBuilder, MemFlagsData, StackSlot, StackSlotData, StackSlotKind,
};
use cranelift_codegen::ir::{Type, Value};
use cranelift_frontend::Variable;
use ember_ir::kernel::{Inst, Var};
use ember_ir::{DType, UnaryOp};
use std::collections::{HashMap, HashSet};

/// Outputs at least this large are streamed past the cache.
const STREAM_BYTES: usize = 8 << 20;

/// Loops with more math calls than this are not staged.
const MAX_CALLS: usize = 8;

thread_local! {
    /// Staged loops with accumulators this thread has emitted ([`staged_reductions`]).
    static REDUCTIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many staged loops with reductions this thread has emitted so far (compilation runs on
/// the compiling thread, helper functions included): tests compile a kernel with a fresh
/// backend and check that its reduction loop ran staged.
pub fn staged_reductions() -> usize {
    REDUCTIONS.with(|c| c.get())
}

/// The vector accumulators of a staged reduction, kept in a stack slot while the block's
/// calls run: loaded into their registers before the last stage's loop, stored after it, and
/// loaded once more after the block loop for the vector loop. Their registers are then never
/// live across a call (which clobbers every vector register). Kept in variables across the
/// calls instead, they stayed in memory inside the stage loop: `np.exp(x).sum()` of 40000
/// float64 took 25.2-25.3 us, 20.9-21.0 with the slot; `np.exp(x).max()` 25.6-26.3 against
/// 16.9; `np.tanh(x).sum(axis=1)` on (1000, 1000) 1567-1646 against 1355-1359 (chrt -f 50,
/// medians, 2-core AVX-512 host, same run).
struct AccSlot {
    slot: Option<StackSlot>,
    vars: Vec<(Variable, Type)>,
}

/// One block call: `dst = op(x)` after stage `after`.
struct Call {
    op: UnaryOp,
    /// The argument's (and result's) type: the loop's float type.
    dt: DType,
    x: Var,
    dst: Var,
    after: usize,
}

/// The stage of every value and what lives in scratch.
pub(super) struct Staging {
    /// Stage of each value the body defines (loads: re-emitted where used, not listed).
    stage: HashMap<Var, usize>,
    calls: Vec<Call>,
    /// The last stage (where every store runs).
    last: usize,
    /// Values kept in scratch, by buffer index: values used in a later stage than their own,
    /// call arguments (unless read straight from an input) and call results.
    bufs: HashMap<Var, usize>,
    /// Loads re-emitted per stage: the stages that use each.
    loads: HashMap<Var, HashSet<usize>>,
}

impl Staging {
    /// The staging of a flat vector loop body, or `None` when the loop should not be staged:
    /// wide math unavailable, nested loops in the body, reductions in a float32 loop (or of
    /// accumulators `accs` does not hold, or read in the body other than by their updates),
    /// or no math op of the loop's float type (float32 in `Vec32` loops, float64 in `Vec64`
    /// loops) with a wide routine whose argument varies with the loop.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn plan(
        l: &Lower,
        mode: Mode,
        body: &[Inst],
        hoisted: &HashMap<Var, Vec<Value>>,
        invariant: &HashSet<Var>,
        streamed: &HashSet<Var>,
        accs: &HashMap<Var, VAcc>,
        extent: usize,
    ) -> Option<Staging> {
        // A loop shorter than a block never runs one; many calls make many stage loops,
        // which cost compile time (W5's chain of 1000 ops) for little gain: such kernels
        // call the outlined math instead (`super::super::outline`).
        if !wide::available() || extent < wide::BLOCK {
            return None;
        }
        let fdt = match mode {
            Mode::Vec32 => DType::F32,
            Mode::Vec64 => DType::F64,
            Mode::Scalar | Mode::Vec8 => return None,
        };
        let mut stage: HashMap<Var, usize> = HashMap::new();
        let mut calls = Vec::new();
        let mut loads: HashMap<Var, HashSet<usize>> = HashMap::new();
        let fixed = |v: &Var| hoisted.contains_key(v) || invariant.contains(v);
        for inst in body {
            match inst {
                // Float64 reductions run in the last stage (the inline float64 math is 2.5-8
                // times slower than the wide routines, which pays for the stage loops).
                // Float32 reductions stay unstaged: softmax's exp-and-sum loop staged was
                // slower at full size, W2 10.6-11.4 -> 11.2-12.5 ms, with the accumulators
                // kept in variables across the calls (Cranelift's register allocator then left
                // them in memory inside the stage loops) and also with them moved through a
                // stack slot around each stage loop (0.735 -> 0.71 ns per element in cache,
                // but the output row's stores come in bursts after each call instead of between
                // the inline exp's instructions); float32 softmax mostly runs as row calls
                // (`crate::cpu::lower::row_calls`) anyway.
                Inst::Update { acc, .. }
                    if mode == Mode::Vec64 && accs.get(acc).is_some_and(|va| !va.wide) => {}
                Inst::Loop { .. }
                | Inst::EndLoop
                | Inst::Acc { .. }
                | Inst::Update { .. }
                | Inst::UpdateArg { .. } => return None,
                Inst::Const { .. } | Inst::Store { .. } => {}
                Inst::Load { dst, .. } => {
                    if !fixed(dst) {
                        loads.insert(*dst, HashSet::new());
                    }
                }
                _ => {
                    let Some(dst) = inst.def() else { continue };
                    if fixed(&dst) {
                        continue;
                    }
                    let at = |v: &Var| stage.get(v).copied().unwrap_or(0);
                    match inst {
                        Inst::Unary { op, x, .. }
                            if l.ty(*x) == fdt && wide::symbol_for(*op, fdt).is_some() =>
                        {
                            calls.push(Call {
                                op: *op,
                                dt: fdt,
                                x: *x,
                                dst,
                                after: at(x),
                            });
                            stage.insert(dst, at(x) + 1);
                        }
                        _ => {
                            let s = inst.uses().iter().map(at).max().unwrap_or(0);
                            stage.insert(dst, s);
                        }
                    }
                }
            }
        }
        if calls.is_empty() || calls.len() > MAX_CALLS {
            return None;
        }
        // The accumulators live in the last stage only: nothing else may read them.
        let updated: HashSet<Var> = body
            .iter()
            .filter_map(|i| match i {
                Inst::Update { acc, .. } => Some(*acc),
                _ => None,
            })
            .collect();
        let reads_acc = |i: &Inst| match i {
            Inst::Update { value, .. } => updated.contains(value),
            _ => i.uses().iter().any(|u| updated.contains(u)),
        };
        if body.iter().any(reads_acc) {
            return None;
        }
        let last = stage.values().copied().max().unwrap_or(0);
        let mut bufs: HashMap<Var, usize> = HashMap::new();
        let need_buf = |v: Var, bufs: &mut HashMap<Var, usize>| {
            let n = bufs.len();
            bufs.entry(v).or_insert(n);
        };
        let call_dsts: HashSet<Var> = calls.iter().map(|c| c.dst).collect();
        for c in &calls {
            need_buf(c.dst, &mut bufs);
            if loads.contains_key(&c.x) && streamed.contains(&c.x) {
                continue; // the call reads the input itself
            }
            if loads.contains_key(&c.x) {
                loads.get_mut(&c.x).map(|s| s.insert(c.after));
            }
            if !call_dsts.contains(&c.x) {
                need_buf(c.x, &mut bufs);
            }
        }
        let mut st = Staging {
            stage,
            calls,
            last,
            bufs: HashMap::new(),
            loads,
        };
        for inst in body {
            let Some(at) = st.inst_stage(inst) else {
                continue;
            };
            for u in inst.uses() {
                if let Some(s) = st.loads.get_mut(&u) {
                    s.insert(at);
                } else if st.stage.get(&u).is_some_and(|&su| su < at) {
                    need_buf(u, &mut bufs);
                }
            }
        }
        st.bufs = bufs;
        Some(st)
    }

    /// The stage that emits `inst`, or `None` for what no stage emits as such: constants and
    /// loop-invariant values (the preheader has them), loads (re-emitted where used) and the
    /// math ops that run as calls.
    fn inst_stage(&self, inst: &Inst) -> Option<usize> {
        match inst {
            Inst::Store { .. } | Inst::Update { .. } => Some(self.last),
            Inst::Const { .. } | Inst::Load { .. } => None,
            _ => {
                let d = inst.def()?;
                if self.calls.iter().any(|c| c.dst == d) {
                    return None;
                }
                self.stage.get(&d).copied()
            }
        }
    }
}

impl Lower<'_, '_> {
    /// Emits the block loop of a staged vector loop: from `iv` (advanced by blocks, as are the
    /// `streams` pointers, `bytes` each per element) while a whole block fits before `vend`
    /// (float32 loops) or up to `vend`, the last block partial (float64 loops). `cx` holds the
    /// preheader's vector values and the vector accumulators, which the last stage updates.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_staged(
        &mut self,
        st: &Staging,
        body: &[Inst],
        cx: &VCtx,
        iv: Variable,
        vend: Value,
        streams: &HashMap<(u32, Vec<Var>), Variable>,
        bytes: &HashMap<(u32, Vec<Var>), i64>,
    ) -> Result<()> {
        let blk = wide::BLOCK as i64;
        let vbytes = 16i64;
        // Scratch bytes per element: every value is one 16-byte vector per `lanes` elements
        // (4 in float32 loops, 8 in float64 loops; narrow values too, as vectors).
        let eb = vbytes / cx.lanes as i64;
        let step = (cx.lanes * self.unroll) as i64;
        // Float64 loops also run their last, partial block staged (its length a multiple of
        // the vector step): the inline float64 math costs 2.5-8 times the wide routines', so
        // a row of 1000 would otherwise spend as long on its last 104 elements as on the
        // staged 896. Float32 loops leave the partial block to the vector loop.
        let partial = cx.mode == Mode::Vec64;
        let bend = if partial {
            vend
        } else {
            let i0 = self.b.use_var(iv);
            let n = self.b.ins().isub(vend, i0);
            let nb = self.b.ins().band_imm_s(n, !(blk - 1));
            self.b.ins().iadd(i0, nb)
        };
        // Large 4-byte outputs of float32 loops are stored to scratch and streamed out per
        // block (no read-for-ownership of the output's lines); each gets a scratch buffer
        // after the values' ones. Not float64 outputs: `np.exp` of a (2000, 2000) float64
        // array took 2.5-2.75 ms streamed, 2.08 ms stored in place (chrt -f 50, median of 30).
        let streamed: Vec<(u32, Vec<Var>)> = body
            .iter()
            .filter_map(|i| match i {
                Inst::Store { arg, index, .. } => Some((*arg, index.to_vec())),
                _ => None,
            })
            .filter(|key| {
                let a = &self.k.args[key.0 as usize];
                let total = a.shape.iter().product::<usize>() * a.dtype.size();
                a.output
                    && matches!(a.dtype, DType::F32 | DType::I32)
                    && eb == 4
                    && streams.contains_key(key)
                    && total >= STREAM_BYTES
            })
            .collect();
        let stream_buf = |key: &(u32, Vec<Var>)| {
            streamed
                .iter()
                .position(|k| k == key)
                .map(|p| st.bufs.len() + p)
        };
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            ((st.bufs.len() + streamed.len()).max(1) as i64 * blk * eb) as u32,
            6,
        ));
        if !cx.vaccs.is_empty() {
            REDUCTIONS.with(|c| c.set(c.get() + 1));
        }
        let accs = self.spill_accs(cx);
        let bheader = self.b.create_block();
        let bbody = self.b.create_block();
        let bexit = self.b.create_block();
        self.b.ins().jump(bheader, &[]);
        self.b.switch_to_block(bheader);
        let i = self.b.use_var(iv);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i, bend);
        self.b.ins().brif(more, bbody, &[], bexit, &[]);
        self.b.switch_to_block(bbody);
        // This block's length: `BLOCK`, or what is left before `vend` when that is less.
        let len = if partial {
            let left = self.b.ins().isub(vend, i);
            let full = self.b.ins().iconst(types::I64, blk);
            self.b.ins().smin(left, full)
        } else {
            self.b.ins().iconst(types::I64, blk)
        };
        let base = self.b.ins().stack_addr(types::I64, slot, 0);
        let mut tys: HashMap<Var, Type> = HashMap::new();
        let vty = match cx.mode {
            Mode::Vec64 => types::F64X2,
            _ => types::F32X4,
        };
        for c in &st.calls {
            let ty = match c.dt {
                DType::F64 => types::F64X2,
                _ => types::F32X4,
            };
            tys.insert(c.dst, ty);
        }
        let flags = MemFlagsData::trusted();
        for s in 0..=st.last {
            // Stages with nothing to compute (the first, when every call reads its argument
            // straight from an input) have no loop.
            if body.iter().any(|inst| st.inst_stage(inst) == Some(s)) {
                // The stage's loop over the block: its own pointers into the inputs and scratch.
                let jv = self.b.declare_var(types::I64);
                let zero = self.b.ins().iconst(types::I64, 0);
                self.b.def_var(jv, zero);
                let sp = self.b.declare_var(types::I64);
                self.b.def_var(sp, base);
                let mut inner: HashMap<(u32, Vec<Var>), Variable> = HashMap::new();
                for (k, &pv) in streams {
                    let v = self.b.declare_var(types::I64);
                    let p = self.b.use_var(pv);
                    self.b.def_var(v, p);
                    inner.insert(k.clone(), v);
                }
                let jheader = self.b.create_block();
                let jbody = self.b.create_block();
                let jexit = self.b.create_block();
                if s == st.last {
                    // The accumulators, from their slot into this stage's loop.
                    self.load_accs(&accs);
                }
                self.b.ins().jump(jheader, &[]);
                self.b.switch_to_block(jheader);
                let j = self.b.use_var(jv);
                let more = self.b.ins().icmp(IntCC::SignedLessThan, j, len);
                self.b.ins().brif(more, jbody, &[], jexit, &[]);
                self.b.switch_to_block(jbody);
                let ij = self.b.ins().iadd(i, j);
                let spv = self.b.use_var(sp);
                let mut sx = VCtx {
                    var: cx.var,
                    i: ij,
                    mode: cx.mode,
                    lanes: cx.lanes,
                    vv: cx.vv.clone(),
                    lane: HashSet::new(),
                    vaccs: if s == st.last {
                        cx.vaccs.clone()
                    } else {
                        HashMap::new()
                    },
                    argaccs: HashMap::new(),
                    lo: cx.lo,
                    streams: inner.clone(),
                    invariant: cx.invariant.clone(),
                };
                // Values from earlier stages, read back from scratch.
                for (&v, &k) in &st.bufs {
                    // A call's result is there from its own stage on; other values after theirs.
                    let ready = match st.stage.get(&v) {
                        Some(&d) if st.calls.iter().any(|c| c.dst == v) => d <= s,
                        Some(&d) => d < s,
                        None => false,
                    };
                    if ready && !st.loads.contains_key(&v) && self.staged_uses_at(st, body, v, s) {
                        let ty = tys.get(&v).copied().unwrap_or(vty);
                        let vs = (0..self.unroll)
                            .map(|u| {
                                let off = (k as i64 * blk * eb + u as i64 * vbytes) as i32;
                                self.b.ins().load(ty, flags, spv, off)
                            })
                            .collect();
                        sx.vv.insert(v, vs);
                    }
                }
                for inst in body {
                    let emit = match inst {
                        Inst::Load { dst, .. } => st.loads.get(dst).is_some_and(|u| u.contains(&s)),
                        _ => st.inst_stage(inst) == Some(s),
                    };
                    if !emit {
                        continue;
                    }
                    if let Inst::Store { arg, index, value } = inst {
                        if let Some(k) = stream_buf(&(*arg, index.to_vec())) {
                            let vs = sx.vv.get(value).cloned().ok_or_else(|| {
                                CodegenError::Internal("staged store value missing".into())
                            })?;
                            for (u, v) in vs.into_iter().enumerate() {
                                let off = (k as i64 * blk * eb + u as i64 * vbytes) as i32;
                                self.b.ins().store(flags, v, spv, off);
                            }
                            continue;
                        }
                    }
                    self.emit_vector_inst(inst, &mut sx)?;
                    let Some(d) = inst.def() else { continue };
                    let own = st.stage.get(&d).copied().unwrap_or(0) == s;
                    if let (Some(&k), true) = (st.bufs.get(&d), own) {
                        let vs = sx.vv[&d].clone();
                        tys.insert(d, self.b.func.dfg.value_type(vs[0]));
                        for (u, v) in vs.into_iter().enumerate() {
                            let off = (k as i64 * blk * eb + u as i64 * vbytes) as i32;
                            self.b.ins().store(flags, v, spv, off);
                        }
                    }
                }
                let j2 = self.b.ins().iadd_imm_s(j, step);
                self.b.def_var(jv, j2);
                let sp2 = self.b.ins().iadd_imm_s(spv, step * eb);
                self.b.def_var(sp, sp2);
                for (k, &v) in &inner {
                    let p = self.b.use_var(v);
                    let p2 = self.b.ins().iadd_imm_s(p, step * bytes[k]);
                    self.b.def_var(v, p2);
                }
                self.b.ins().jump(jheader, &[]);
                self.b.switch_to_block(jexit);
                if s == st.last {
                    self.store_accs(&accs);
                }
            }
            // The calls whose arguments this stage completed.
            for c in st.calls.iter().filter(|c| c.after == s) {
                let x = match st.bufs.get(&c.x) {
                    Some(&k) => self.b.ins().iadd_imm_s(base, k as i64 * blk * eb),
                    None => {
                        let key = body.iter().find_map(|i| match i {
                            Inst::Load { dst, arg, index } if *dst == c.x => {
                                Some((*arg, index.to_vec()))
                            }
                            _ => None,
                        });
                        match key.and_then(|k| streams.get(&k)) {
                            Some(&pv) => self.b.use_var(pv),
                            None => {
                                return Err(CodegenError::Internal(
                                    "staged call argument has no buffer".into(),
                                ))
                            }
                        }
                    }
                };
                let y = self
                    .b
                    .ins()
                    .iadd_imm_s(base, st.bufs[&c.dst] as i64 * blk * eb);
                let name = wide::symbol_for(c.op, c.dt).ok_or_else(|| {
                    CodegenError::Internal("staged call without a wide routine".into())
                })?;
                self.call_ext_void(name, &[types::I64; 3], &[x, y, len])?;
            }
        }
        for key in &streamed {
            if let Some(k) = stream_buf(key) {
                let src = self.b.ins().iadd_imm_s(base, k as i64 * blk * eb);
                let dst = self.b.use_var(streams[key]);
                let nb = self.b.ins().iconst(types::I64, blk * eb);
                self.call_ext_void("ember_stream_copy", &[types::I64; 3], &[src, dst, nb])?;
            }
        }
        let i2 = self.b.ins().iadd(i, len);
        self.b.def_var(iv, i2);
        for (k, &pv) in streams {
            let p = self.b.use_var(pv);
            let lb = self.b.ins().imul_imm_s(len, bytes[k]);
            let p2 = self.b.ins().iadd(p, lb);
            self.b.def_var(pv, p2);
        }
        self.b.ins().jump(bheader, &[]);
        self.b.switch_to_block(bexit);
        self.load_accs(&accs);
        if !streamed.is_empty() {
            // Streaming stores are weakly ordered: one fence before the chunk is handed on.
            self.call_ext_void("ember_store_fence", &[], &[])?;
        }
        Ok(())
    }

    /// Stores the vector accumulators' registers in a new stack slot (see [`AccSlot`]).
    fn spill_accs(&mut self, cx: &VCtx) -> AccSlot {
        let mut keys: Vec<&Var> = cx.vaccs.keys().collect();
        keys.sort();
        let vars: Vec<Variable> = keys
            .into_iter()
            .flat_map(|k| {
                let va = &cx.vaccs[k];
                va.vals.iter().chain(&va.comp).chain(&va.nan).copied()
            })
            .collect();
        if vars.is_empty() {
            return AccSlot {
                slot: None,
                vars: Vec::new(),
            };
        }
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (vars.len() * 16) as u32,
            4,
        ));
        let vars = vars
            .into_iter()
            .enumerate()
            .map(|(n, v)| {
                let x = self.b.use_var(v);
                let p = self.b.ins().stack_addr(types::I64, slot, 0);
                self.b
                    .ins()
                    .store(MemFlagsData::trusted(), x, p, (n * 16) as i32);
                (v, self.b.func.dfg.value_type(x))
            })
            .collect();
        AccSlot {
            slot: Some(slot),
            vars,
        }
    }

    /// Defines the accumulators' registers from their slot.
    fn load_accs(&mut self, a: &AccSlot) {
        let Some(slot) = a.slot else { return };
        let p = self.b.ins().stack_addr(types::I64, slot, 0);
        for (n, &(v, ty)) in a.vars.iter().enumerate() {
            let x = self
                .b
                .ins()
                .load(ty, MemFlagsData::trusted(), p, (n * 16) as i32);
            self.b.def_var(v, x);
        }
    }

    /// Stores the accumulators' registers in their slot.
    fn store_accs(&mut self, a: &AccSlot) {
        let Some(slot) = a.slot else { return };
        let p = self.b.ins().stack_addr(types::I64, slot, 0);
        for (n, &(v, _)) in a.vars.iter().enumerate() {
            let x = self.b.use_var(v);
            self.b
                .ins()
                .store(MemFlagsData::trusted(), x, p, (n * 16) as i32);
        }
    }

    /// True when something emitted in stage `s` reads `v`.
    fn staged_uses_at(&self, st: &Staging, body: &[Inst], v: Var, s: usize) -> bool {
        body.iter()
            .any(|inst| st.inst_stage(inst) == Some(s) && inst.uses().contains(&v))
    }
}
