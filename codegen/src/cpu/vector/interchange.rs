//! Column reductions with the loops interchanged: rows outer, columns inner.
//!
//! A column reduction `out[j] = sum_i x[i, j]` is a parallel loop over the columns whose body
//! walks the rows. Vectorized across the columns ([`super::prefers_outer`]), each pass reads a
//! run of every row: one page per row for wide arrays (4096 x 4096 float32 read at ~6 GB/s),
//! and the columns a width leaves after whole runs walk all the rows again. Large ones instead
//! run as parts over blocks of rows ([`crate::cpu::lower::split`]): each part streams its rows
//! in memory order and folds them into a row of accumulator states in scratch memory (per
//! column vector, 16 bytes each: the value, the compensation of a float sum, the NaN mask of a
//! float max/min), [`ROW_BLOCK`] rows per pass over the columns so that a state is loaded and
//! stored once per block; columns a width leaves after whole vectors fold in scalar code into
//! their lanes of the last state vector. The kernel then folds the parts' states column by
//! column, in part order, and stores the results.
//!
//! Float sums stay compensated: each column's state is a TwoSum pair fed pairwise sums of
//! [`PAIRWISE`] rows, and the parts' pairs fold with TwoSum too: within about 2 eps of
//! `sum |x|` (NumPy adds a C-contiguous array's rows one by one into the output row, about `n`
//! eps in the worst case).
//!
//! Int32 column sums (int64 results, as NumPy's) keep int64 states, two `i64x2` per column
//! vector, fed the rows' int32 vectors widened (`swiden_low`/`swiden_high`); their parts fold
//! column by column in scalar code.
//!
//! Middle-axis reductions (`x.sum(axis=1)` of a C-order `(A, B, C)` array with more columns
//! than one pass of the vector loop holds in registers) run each slab `a` interchanged in one
//! part, the pool splitting the slabs ([`Lower::middle_split`]).
//!
//! The split form needs unit strides along the columns (checked at run time) and the whole
//! column range in one call; otherwise the kernel runs its ordinary lowering, compiled as a
//! second helper, split over the columns on the pool as a launch would be.

use super::accs::VAcc;
use super::{plan_with, VCtx};
use crate::cpu::lower::split::{compensated, parts_for, SPLIT_MIN_WORK};
use crate::cpu::lower::{AccVars, Lower, Mode};
use crate::cpu::ops::cl_type;
use crate::error::{CodegenError, Result};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::Variable;
use ember_ir::kernel::{acc_identity, Inst, Var};
use ember_ir::{DType, ReduceOp};
use std::collections::{HashMap, HashSet};

/// Rows a part folds into its states at once (8 measured faster than 4 at 65536 x 256
/// float32: 3.6-4.6 ms against 5.3-5.6; one row at a time ran at a third of the speed).
const ROW_BLOCK: usize = 8;

/// Rows of a float sum added pairwise before one compensated add into the state: deeper trees
/// would loosen the accuracy bound (`codegen/tests/sums.rs`).
const PAIRWISE: usize = 4;

/// Row parts at most: enough for 16 threads.
const MAX_ROW_PARTS: usize = 32;

/// Rows per part at least.
const MIN_PART_ROWS: usize = 2 * ROW_BLOCK;

/// The parts' states may take this share of the input's bytes at most (1 / n): the fold
/// reads them all again.
const STATE_SHARE: usize = 16;

/// One accumulator of an interchanged column reduction and where its state lives in a
/// column vector's state slot.
#[derive(Clone, Copy, Debug)]
struct MemAcc {
    var: Var,
    op: ReduceOp,
    dtype: DType,
    /// Byte offset of the value vector; the compensation (float sums), then the NaN mask
    /// (float max/min) follow it, 16 bytes each.
    off: i32,
    comp: bool,
    nan: bool,
    /// An int64 sum or product of int32 columns: the value is two `i64x2` vectors, the low
    /// lanes at `off`, the high ones at `off + 16` (lane `l`'s int64 at `off + 8 l`, as the
    /// scalar columns address it).
    wide: bool,
}

impl MemAcc {
    fn comp_off(&self) -> i32 {
        self.off + 16
    }
    fn nan_off(&self) -> i32 {
        self.off + 16 + 16 * self.comp as i32
    }
}

/// How a column reduction runs interchanged.
#[derive(Clone, Debug)]
pub struct ColumnSplit {
    mode: Mode,
    lanes: usize,
    /// `(arg, dim)` whose stride must be 1 for the split form.
    unit: Vec<(u32, usize)>,
    /// The parallel loop over the columns.
    j: Var,
    cols: usize,
    /// The loop over the rows, and its body (pcs).
    i: Var,
    rows: usize,
    body: (usize, usize),
    /// The instructions after the row loop in the column loop's body (the stores).
    post: (usize, usize),
    accs: Vec<MemAcc>,
    /// State bytes per column vector; column vectors (the last one may hold the scalar
    /// columns); rows per part and parts.
    slot: usize,
    nv: usize,
    chunk: usize,
    parts: usize,
}

impl ColumnSplit {
    fn part_bytes(&self) -> usize {
        self.nv * self.slot
    }
}

impl Lower<'_, '_> {
    /// The interchange of this kernel, when it is a large column reduction: a parallel loop
    /// over columns holding only accumulators, one flat loop over rows that updates them, and
    /// stores after it; vectorizable across the columns, no bool buffers.
    pub(crate) fn column_split(&self) -> Option<ColumnSplit> {
        let k = &self.k;
        let n = k.body.len();
        if !matches!(k.body.first(), Some(Inst::Loop { parallel: true, .. })) {
            return None;
        }
        let mut c = self.column_shape(0, n - 1)?;
        let rows = c.rows;
        let esize = k.args.iter().map(|a| a.dtype.size()).max().unwrap_or(4);
        let work = k.work();
        let by_state = (work * esize / STATE_SHARE) / (c.nv * c.slot).max(1);
        let most = MAX_ROW_PARTS.min(rows / MIN_PART_ROWS).min(by_state);
        let (chunk, _) = parts_for(rows, work, most)?;
        c.chunk = chunk.div_ceil(ROW_BLOCK) * ROW_BLOCK;
        c.parts = rows.div_ceil(c.chunk);
        (c.parts >= 2).then_some(c)
    }

    /// The column reduction whose loop over the columns is `jpc..=jend` (its parts not yet
    /// chosen: one part of every row).
    fn column_shape(&self, jpc: usize, jend: usize) -> Option<ColumnSplit> {
        let k = &self.k;
        let body = &k.body;
        let Some(&Inst::Loop {
            var: j,
            extent: cols,
            ..
        }) = body.get(jpc)
        else {
            return None;
        };
        if self.ends.get(jpc) != Some(&jend) {
            return None;
        }
        let mut pc = jpc + 1;
        let mut decl = Vec::new();
        while let Some(Inst::Acc { dst, op, dtype }) = body.get(pc) {
            decl.push((*dst, *op, *dtype));
            pc += 1;
        }
        let Some(&Inst::Loop {
            var: i,
            extent: rows,
            parallel: false,
        }) = body.get(pc)
        else {
            return None;
        };
        let row_end = self.ends[pc];
        let bool_arg = |a: &u32| k.args[*a as usize].dtype == DType::Bool;
        for inst in &body[pc + 1..row_end] {
            match inst {
                Inst::Loop { .. } | Inst::Store { .. } | Inst::Acc { .. } => return None,
                Inst::UpdateArg { .. } => return None,
                Inst::Load { arg, .. } if bool_arg(arg) || k.args[*arg as usize].output => {
                    return None
                }
                Inst::Update { acc, .. } if !decl.iter().any(|d| d.0 == *acc) => return None,
                _ => {}
            }
        }
        for inst in &body[row_end + 1..jend] {
            match inst {
                Inst::Loop { .. }
                | Inst::Acc { .. }
                | Inst::Update { .. }
                | Inst::UpdateArg { .. } => return None,
                Inst::Load { arg, .. } | Inst::Store { arg, .. } if bool_arg(arg) => return None,
                _ => {}
            }
        }
        if decl.is_empty() {
            return None;
        }
        let wide = decl.iter().any(|d| d.2 == DType::I64) && self.wide_columns(pc + 1, row_end);
        let (mode, unit) = if wide {
            (Mode::Vec32, self.wide_unit(pc + 1, row_end, j)?)
        } else {
            // Emitted here, not by `emit_plain_loop`: nothing is hoisted.
            let p = plan_with(self, jpc, jend, j, true, false)?;
            (p.mode, p.unit)
        };
        let lanes = mode.lanes();
        let mut accs = Vec::new();
        let mut off = 0i32;
        for (var, op, dtype) in decl {
            if !matches!(
                op,
                ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min
            ) {
                return None;
            }
            let comp = compensated(op, dtype);
            let nan = matches!(op, ReduceOp::Max | ReduceOp::Min) && dtype.is_float();
            if wide && !(dtype == DType::I64 && matches!(op, ReduceOp::Sum | ReduceOp::Prod)) {
                return None;
            }
            accs.push(MemAcc {
                var,
                op,
                dtype,
                off,
                comp,
                nan,
                wide,
            });
            off += 16 * (1 + (comp || wide) as i32 + nan as i32);
        }
        let slot = off as usize;
        let nv = cols.div_ceil(lanes);
        Some(ColumnSplit {
            mode,
            lanes,
            unit,
            j,
            cols,
            i,
            rows,
            body: (pc + 1, row_end),
            post: (row_end + 1, jend),
            accs,
            slot,
            nv,
            chunk: rows,
            parts: 1,
        })
    }

    /// Emits the kernel as its interchanged split (see the module docs); returns the granule
    /// a launch must split the columns at: all of them, so the kernel gets the whole range.
    pub(crate) fn emit_column_split(&mut self, c: &ColumnSplit) -> Result<usize> {
        let k = (*self.k).clone();
        let (part, _) = self.define_helper(&k, |l| l.emit_column_part(c))?;
        let (plain, granule) = self.define_helper(&k, |l| {
            let len = l.k.body.len();
            l.emit_range(0, len)
        })?;
        // The split form when the call covers every column and the columns are contiguous.
        let (start, end) = (self.start, self.end);
        let mut ok = self.b.ins().icmp_imm_s(IntCC::Equal, start, 0);
        let whole = self.b.ins().icmp_imm_s(IntCC::Equal, end, c.cols as i64);
        ok = self.b.ins().band(ok, whole);
        for &(arg, d) in &c.unit {
            let s = self.strides[arg as usize][d];
            let e = self.b.ins().icmp_imm_s(IntCC::Equal, s, 1);
            ok = self.b.ins().band(ok, e);
        }
        let split = self.b.create_block();
        let other = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(ok, split, &[], other, &[]);
        self.b.switch_to_block(other);
        let fp = self.b.ins().func_addr(types::I64, plain);
        let g = self.b.ins().iconst(types::I64, granule as i64);
        let (argp, stp) = (self.argp, self.stp);
        self.call_ext_void(
            "ember_cpu_chunks",
            &[types::I64; 6],
            &[fp, argp, stp, start, end, g],
        )?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(split);
        let bytes = self
            .b
            .ins()
            .iconst(types::I64, (c.parts * c.part_bytes()) as i64);
        let region = self.call_ext(
            "ember_cpu_scratch_take",
            &[types::I64],
            types::I64,
            &[bytes],
        )?;
        self.call_split(part, c.parts, c.rows, c.chunk, region, c.part_bytes())?;
        self.emit_column_combine(c, region)?;
        self.call_ext_void("ember_cpu_scratch_give", &[types::I64], &[region])?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        Ok(c.cols)
    }

    /// A counted loop `var` from `lo` while `< hi`, its body emitted by `body` given the
    /// counter's value; the counter advances by `step`.
    fn counted(
        &mut self,
        lo: Value,
        hi: Value,
        step: i64,
        body: impl FnOnce(&mut Self, Value) -> Result<()>,
    ) -> Result<()> {
        let iv = self.b.declare_var(types::I64);
        self.b.def_var(iv, lo);
        let header = self.b.create_block();
        let inner = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(header);
        let i = self.b.use_var(iv);
        let go = self.b.ins().icmp(IntCC::SignedLessThan, i, hi);
        self.b.ins().brif(go, inner, &[], exit, &[]);
        self.b.switch_to_block(inner);
        body(self, i)?;
        let i2 = self.b.ins().iadd_imm_s(i, step);
        self.b.def_var(iv, i2);
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(exit);
        Ok(())
    }

    /// The identity state of `a` in `mode`: value, compensation, NaN mask.
    fn identity_state(&mut self, a: &MemAcc, mode: Mode) -> (Value, Value, Value) {
        let id = self.scalar_const(acc_identity(a.op, a.dtype));
        if a.wide {
            let v = self.broadcast_scalar(DType::I64, id, Mode::Vec64);
            return (v, v, v);
        }
        let v = self.broadcast_scalar(a.dtype, id, mode);
        let z = self.scalar_const(acc_identity(ReduceOp::Sum, a.dtype));
        let zero = self.broadcast_scalar(a.dtype, z, mode);
        let none = self.konst(DType::Bool, 0.0, 0, mode);
        (v, zero, none)
    }

    /// Declares Variables holding a state: value, compensation, NaN mask (the latter two only
    /// when `a` has them).
    fn state_vars(
        &mut self,
        a: &MemAcc,
        mode: Mode,
        (v, c, n): (Value, Value, Value),
    ) -> (Variable, Option<Variable>, Option<Variable>) {
        let t = if a.wide {
            types::I64X2
        } else {
            cl_type(a.dtype, mode)
        };
        let val = self.b.declare_var(t);
        self.b.def_var(val, v);
        let comp = (a.comp || a.wide).then(|| {
            let x = self.b.declare_var(t);
            self.b.def_var(x, c);
            x
        });
        let nan = a.nan.then(|| {
            let x = self.b.declare_var(cl_type(DType::Bool, mode));
            self.b.def_var(x, n);
            x
        });
        (val, comp, nan)
    }

    /// Loads `a`'s vector state at `at`.
    fn load_state(&mut self, a: &MemAcc, mode: Mode, at: Value) -> (Value, Value, Value) {
        let f = MemFlagsData::trusted();
        let t = if a.wide {
            types::I64X2
        } else {
            cl_type(a.dtype, mode)
        };
        let v = self.b.ins().load(t, f, at, a.off);
        let c = if a.comp || a.wide {
            self.b.ins().load(t, f, at, a.comp_off())
        } else {
            v
        };
        let n = if a.nan {
            let mt = cl_type(DType::Bool, mode);
            self.b.ins().load(mt, f, at, a.nan_off())
        } else {
            v
        };
        (v, c, n)
    }

    /// Stores `a`'s vector state at `at`.
    fn store_state(&mut self, a: &MemAcc, at: Value, (v, c, n): (Value, Value, Value)) {
        let f = MemFlagsData::trusted();
        self.b.ins().store(f, v, at, a.off);
        if a.comp || a.wide {
            self.b.ins().store(f, c, at, a.comp_off());
        }
        if a.nan {
            self.b.ins().store(f, n, at, a.nan_off());
        }
    }

    fn read_state(
        &mut self,
        (val, comp, nan): (Variable, Option<Variable>, Option<Variable>),
    ) -> (Value, Value, Value) {
        let v = self.b.use_var(val);
        let c = comp.map_or(v, |c| self.b.use_var(c));
        let n = nan.map_or(v, |n| self.b.use_var(n));
        (v, c, n)
    }

    /// The helper run per part: rows `start..end`, every column, into the part's states.
    fn emit_column_part(&mut self, c: &ColumnSplit) -> Result<()> {
        let region = self.partials_ptr();
        let (lo, hi) = (self.start, self.end);
        self.emit_column_rows(c, region, lo, hi)
    }

    /// Folds rows `lo..hi` of every column into the states at `region` (from the identity).
    fn emit_column_rows(
        &mut self,
        c: &ColumnSplit,
        region: Value,
        lo: Value,
        hi: Value,
    ) -> Result<()> {
        self.unroll = 1;
        let mode = c.mode;
        // Every state starts at the identity (the scalar columns' lanes included).
        let nv = self.b.ins().iconst(types::I64, c.nv as i64);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.counted(zero, nv, 1, |l, v| {
            let off = l.b.ins().imul_imm_s(v, c.slot as i64);
            let at = l.b.ins().iadd(region, off);
            for a in &c.accs {
                let s = l.identity_state(a, mode);
                l.store_state(a, at, s);
            }
            Ok(())
        })?;
        let hi_block = self.b.ins().iadd_imm_s(hi, 1 - ROW_BLOCK as i64);
        let iv = self.b.declare_var(types::I64);
        self.b.def_var(iv, lo);
        for (rows, last) in [(ROW_BLOCK, hi_block), (1, hi)] {
            let from = self.b.use_var(iv);
            self.counted(from, last, rows as i64, |l, i| {
                l.emit_row_block(c, region, i, rows)?;
                let next = l.b.ins().iadd_imm_s(i, rows as i64);
                l.b.def_var(iv, next);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Folds rows `i0 .. i0 + rows` of every column into the part's states at `region`.
    fn emit_row_block(
        &mut self,
        c: &ColumnSplit,
        region: Value,
        i0: Value,
        rows: usize,
    ) -> Result<()> {
        let (mode, lanes) = (c.mode, c.lanes);
        let row_vals: Vec<Value> = (0..rows)
            .map(|r| self.b.ins().iadd_imm_s(i0, r as i64))
            .collect();
        let body: Vec<Inst> = self.k.body[c.body.0..c.body.1].to_vec();
        // Pointers walking each row's accesses along the columns (unit stride, checked).
        let zero = self.b.ins().iconst(types::I64, 0);
        let mut streams: Vec<HashMap<(u32, Vec<Var>), Variable>> = Vec::new();
        let mut steps: Vec<(Variable, i64)> = Vec::new();
        for &row in &row_vals {
            let mut m = HashMap::new();
            for inst in &body {
                let Inst::Load { arg, index, .. } = inst else {
                    continue;
                };
                let key = (*arg, index.to_vec());
                if !index.contains(&c.j) || m.contains_key(&key) {
                    continue;
                }
                let ix: Vec<Value> = index
                    .iter()
                    .map(|&v| match v {
                        v if v == c.j => Ok(zero),
                        v if v == c.i => Ok(row),
                        v => self.val(v),
                    })
                    .collect::<Result<_>>()?;
                let p0 = self.addr(*arg, &ix);
                let pv = self.b.declare_var(types::I64);
                self.b.def_var(pv, p0);
                let size = self.k.args[*arg as usize].dtype.size();
                steps.push((pv, (size * lanes) as i64));
                m.insert(key, pv);
            }
            streams.push(m);
        }
        let consts = self.vector_consts(&body, mode);
        let sp = self.b.declare_var(types::I64);
        self.b.def_var(sp, region);
        let full = c.cols / lanes;
        if full > 0 {
            let end = self.b.ins().iconst(types::I64, (full * lanes) as i64);
            self.counted(zero, end, lanes as i64, |l, j| {
                let at = l.b.use_var(sp);
                let mut states = Vec::new();
                for a in &c.accs {
                    let s = l.load_state(a, mode, at);
                    states.push(l.state_vars(a, mode, s));
                }
                let mut xs: HashMap<Var, Vec<Value>> = HashMap::new();
                for (r, &row) in row_vals.iter().enumerate() {
                    l.vals.insert(c.i, row);
                    let mut cx = VCtx {
                        var: c.j,
                        i: j,
                        mode,
                        lanes,
                        vv: consts.clone(),
                        lane: HashSet::new(),
                        vaccs: HashMap::new(),
                        argaccs: HashMap::new(),
                        lo: j,
                        streams: streams[r].clone(),
                        invariant: HashSet::new(),
                    };
                    for inst in &body {
                        match inst {
                            Inst::Const { .. } => {}
                            Inst::Update { acc, value } => {
                                let v = cx.vv.get(value).and_then(|v| v.first()).copied();
                                let v = v.ok_or_else(|| {
                                    CodegenError::Internal(format!("%{} missing", value.0))
                                })?;
                                xs.entry(*acc).or_default().push(v);
                            }
                            _ => l.emit_vector_inst(inst, &mut cx)?,
                        }
                    }
                }
                for (a, &st) in c.accs.iter().zip(&states) {
                    let vals = xs.remove(&a.var).unwrap_or_default();
                    l.fold_rows(a, st, vals, mode)?;
                    let s = l.read_state(st);
                    l.store_state(a, at, s);
                }
                let at2 = l.b.ins().iadd_imm_s(at, c.slot as i64);
                l.b.def_var(sp, at2);
                for &(pv, bytes) in &steps {
                    let p = l.b.use_var(pv);
                    let p2 = l.b.ins().iadd_imm_s(p, bytes);
                    l.b.def_var(pv, p2);
                }
                Ok(())
            })?;
        }
        // Columns after the whole vectors: scalar, into their lanes of the last state vector.
        for col in full * lanes..c.cols {
            let at = self
                .b
                .ins()
                .iadd_imm_s(region, ((col / lanes) * c.slot) as i64);
            let lane = (col % lanes) as i32;
            let jv = self.b.ins().iconst(types::I64, col as i64);
            self.vals.insert(c.j, jv);
            let mut held = Vec::new();
            for a in &c.accs {
                let size = a.dtype.size() as i32;
                let t = cl_type(a.dtype, Mode::Scalar);
                let f = MemFlagsData::trusted();
                let v = self.b.ins().load(t, f, at, a.off + lane * size);
                let val = self.b.declare_var(t);
                self.b.def_var(val, v);
                let aux = if a.comp {
                    let x = self.b.ins().load(t, f, at, a.comp_off() + lane * size);
                    let cv = self.b.declare_var(t);
                    self.b.def_var(cv, x);
                    Some(cv)
                } else {
                    None
                };
                let av = AccVars {
                    op: a.op,
                    dtype: a.dtype,
                    val,
                    aux,
                };
                self.accs.insert(a.var, av);
                held.push(av);
            }
            for &row in &row_vals {
                self.vals.insert(c.i, row);
                self.emit_range(c.body.0, c.body.1)?;
            }
            for (a, av) in c.accs.iter().zip(&held) {
                let size = a.dtype.size() as i32;
                let f = MemFlagsData::trusted();
                let v = self.b.use_var(av.val);
                self.b.ins().store(f, v, at, a.off + lane * size);
                if let Some(cv) = av.aux {
                    let x = self.b.use_var(cv);
                    self.b.ins().store(f, x, at, a.comp_off() + lane * size);
                }
            }
        }
        Ok(())
    }

    /// The body's constants as vectors.
    fn vector_consts(&mut self, body: &[Inst], mode: Mode) -> HashMap<Var, Vec<Value>> {
        let mut vv = HashMap::new();
        for inst in body {
            if let Inst::Const { dst, value } = inst {
                let s = self.scalar_const(value.0);
                let v = self.broadcast_scalar(value.0.dtype(), s, mode);
                vv.insert(*dst, vec![v]);
            }
        }
        vv
    }

    /// Folds the values of one column vector from several rows into state `st`: pairwise,
    /// then one compensated add, for float sums; one by one otherwise.
    fn fold_rows(
        &mut self,
        a: &MemAcc,
        (val, comp, nan): (Variable, Option<Variable>, Option<Variable>),
        xs: Vec<Value>,
        mode: Mode,
    ) -> Result<()> {
        if a.wide {
            // Each int32 vector widened into the two int64 halves.
            let halves = [Some(val), comp];
            for x in xs {
                let parts = [self.b.ins().swiden_low(x), self.b.ins().swiden_high(x)];
                for (h, part) in halves.iter().zip(parts) {
                    let Some(h) = *h else { continue };
                    let cur = self.b.use_var(h);
                    let r = self.vfold(a.op, DType::I64, cur, part, Mode::Vec64)?;
                    self.b.def_var(h, r);
                }
            }
            return Ok(());
        }
        let va = VAcc {
            scalar: AccVars {
                op: a.op,
                dtype: a.dtype,
                val,
                aux: None,
            },
            vals: vec![val],
            comp: comp.into_iter().collect(),
            nan: nan.into_iter().collect(),
            grouped: a.comp,
            wide: false,
        };
        if a.comp {
            for g in xs.chunks(PAIRWISE) {
                self.update_vector_acc(&va, g.to_vec(), mode)?;
            }
            Ok(())
        } else {
            for x in xs {
                self.update_vector_acc(&va, vec![x], mode)?;
            }
            Ok(())
        }
    }

    /// The kernel's fold of the parts' states, column by column in part order, and the stores
    /// after the row loop.
    fn emit_column_combine(&mut self, c: &ColumnSplit, region: Value) -> Result<()> {
        self.unroll = 1;
        if c.accs.iter().any(|a| a.wide) {
            return self.emit_column_combine_scalar(c, region);
        }
        let (mode, lanes) = (c.mode, c.lanes);
        let post: Vec<Inst> = self.k.body[c.post.0..c.post.1].to_vec();
        let consts = self.vector_consts(&post, mode);
        let zero = self.b.ins().iconst(types::I64, 0);
        let parts = self.b.ins().iconst(types::I64, c.parts as i64);
        let pb = c.part_bytes() as i64;
        let full = c.cols / lanes;
        if full > 0 {
            let end = self.b.ins().iconst(types::I64, full as i64);
            self.counted(zero, end, 1, |l, v| {
                let off = l.b.ins().imul_imm_s(v, c.slot as i64);
                let base = l.b.ins().iadd(region, off);
                let mut states = Vec::new();
                for a in &c.accs {
                    let s = l.identity_state(a, mode);
                    states.push(l.state_vars(a, mode, s));
                }
                l.counted(zero, parts, 1, |l, p| {
                    let off = l.b.ins().imul_imm_s(p, pb);
                    let at = l.b.ins().iadd(base, off);
                    for (a, &st) in c.accs.iter().zip(&states) {
                        let part = l.load_state(a, mode, at);
                        l.merge_state(a, st, part, mode)?;
                    }
                    Ok(())
                })?;
                let mut vv = consts.clone();
                for (a, &(val, comp, nan)) in c.accs.iter().zip(&states) {
                    let comp: Vec<Variable> = comp.into_iter().collect();
                    let nan: Vec<Variable> = nan.into_iter().collect();
                    let r = l.read_lane_acc(&[val], &comp, &nan, a.dtype, mode);
                    vv.insert(a.var, r);
                }
                let col = l.b.ins().imul_imm_s(v, lanes as i64);
                let mut cx = VCtx {
                    var: c.j,
                    i: col,
                    mode,
                    lanes,
                    vv,
                    lane: HashSet::new(),
                    vaccs: HashMap::new(),
                    argaccs: HashMap::new(),
                    lo: col,
                    streams: HashMap::new(),
                    invariant: HashSet::new(),
                };
                for inst in &post {
                    if !matches!(inst, Inst::Const { .. }) {
                        l.emit_vector_inst(inst, &mut cx)?;
                    }
                }
                Ok(())
            })?;
        }
        // The scalar columns: their lanes, folded with the scalar accumulators' rules.
        for col in full * lanes..c.cols {
            let lane = (col % lanes) as i32;
            let base = self
                .b
                .ins()
                .iadd_imm_s(region, ((col / lanes) * c.slot) as i64);
            let mut held = Vec::new();
            for a in &c.accs {
                let t = cl_type(a.dtype, Mode::Scalar);
                let val = self.b.declare_var(t);
                let id = self.scalar_const(acc_identity(a.op, a.dtype));
                self.b.def_var(val, id);
                let aux = a.comp.then(|| {
                    let cv = self.b.declare_var(t);
                    let z = self.scalar_const(acc_identity(ReduceOp::Sum, a.dtype));
                    self.b.def_var(cv, z);
                    cv
                });
                held.push(AccVars {
                    op: a.op,
                    dtype: a.dtype,
                    val,
                    aux,
                });
            }
            self.counted(zero, parts, 1, |l, p| {
                let off = l.b.ins().imul_imm_s(p, pb);
                let at = l.b.ins().iadd(base, off);
                for (a, av) in c.accs.iter().zip(&held) {
                    let size = a.dtype.size() as i32;
                    let t = cl_type(a.dtype, Mode::Scalar);
                    let f = MemFlagsData::trusted();
                    let v = l.b.ins().load(t, f, at, a.off + lane * size);
                    let aux = a
                        .comp
                        .then(|| l.b.ins().load(t, f, at, a.comp_off() + lane * size));
                    l.fold_partial(av, v, aux)?;
                }
                Ok(())
            })?;
            for (a, av) in c.accs.iter().zip(&held) {
                self.accs.insert(a.var, *av);
            }
            let jv = self.b.ins().iconst(types::I64, col as i64);
            self.vals.insert(c.j, jv);
            self.emit_range(c.post.0, c.post.1)?;
        }
        Ok(())
    }

    /// Folds a part's vector state into the running state `st`.
    fn merge_state(
        &mut self,
        a: &MemAcc,
        (val, comp, nan): (Variable, Option<Variable>, Option<Variable>),
        (v, pc, pn): (Value, Value, Value),
        mode: Mode,
    ) -> Result<()> {
        let cur = self.b.use_var(val);
        let r = if let Some(cv) = comp {
            // `(s - c) + (v - pc)`: TwoSum of the sums, the compensations added.
            let c0 = self.b.use_var(cv);
            let (t, c1) = self.two_sum(cur, c0, v);
            let c2 = self.b.ins().fadd(c1, pc);
            self.b.def_var(cv, c2);
            t
        } else if let Some(nv) = nan {
            let n = self.b.use_var(nv);
            let n = self.b.ins().bor(n, pn);
            self.b.def_var(nv, n);
            let better = if a.op == ReduceOp::Max {
                self.b.ins().fcmp(FloatCC::LessThan, cur, v)
            } else {
                self.b.ins().fcmp(FloatCC::LessThan, v, cur)
            };
            self.select(a.dtype, better, v, cur, mode)
        } else {
            self.vfold(a.op, a.dtype, cur, v, mode)?
        };
        self.b.def_var(val, r);
        Ok(())
    }
}

impl Lower<'_, '_> {
    /// True when the row loop body `from..to` is int32 loads widened into int64 accumulators
    /// and nothing else: `out[j] = sum_i int64(x[i, j])` (NumPy's int32 column sums).
    fn wide_columns(&self, from: usize, to: usize) -> bool {
        let body = &self.k.body[from..to];
        let loads: HashSet<Var> = body
            .iter()
            .filter_map(|i| match i {
                Inst::Load { dst, arg, .. } if self.k.args[*arg as usize].dtype == DType::I32 => {
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
                } if loads.contains(x) => Some(*dst),
                _ => None,
            })
            .collect();
        body.iter().all(|i| match i {
            Inst::Load { dst, .. } => loads.contains(dst),
            Inst::Cast { dst, .. } => casts.contains(dst),
            Inst::Update { value, .. } => casts.contains(value),
            Inst::Const { .. } => true,
            _ => false,
        }) && body.iter().all(|i| match i {
            Inst::Cast { dst, .. } => body.iter().filter(|j| j.uses().contains(dst)).count() == 1,
            _ => true,
        })
    }

    /// The `(arg, dim)` that must have unit stride for a wide column split: every load
    /// indexes one dimension with the column, which must be contiguous at run time (the last
    /// one of a C-order array, `x.sum(axis=0)`; the first of a Fortran one, `x.T.sum(axis=1)`
    /// or `f.sum(axis=1)`).
    fn wide_unit(&self, from: usize, to: usize, j: Var) -> Option<Vec<(u32, usize)>> {
        let mut unit = Vec::new();
        for inst in &self.k.body[from..to] {
            if let Inst::Load { arg, index, .. } = inst {
                let mut at = index
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v == j)
                    .map(|(d, _)| d);
                let d = at.next()?;
                if at.next().is_some() {
                    return None;
                }
                unit.push((*arg, d));
            }
        }
        Some(unit)
    }

    /// The fold of the parts' states one column at a time, in scalar code (int32 columns
    /// into int64 states), then the stores after the row loop.
    fn emit_column_combine_scalar(&mut self, c: &ColumnSplit, region: Value) -> Result<()> {
        let zero = self.b.ins().iconst(types::I64, 0);
        let cols = self.b.ins().iconst(types::I64, c.cols as i64);
        let parts = self.b.ins().iconst(types::I64, c.parts as i64);
        let pb = c.part_bytes() as i64;
        let shift = c.lanes.trailing_zeros() as i64;
        self.counted(zero, cols, 1, |l, col| {
            let v = l.b.ins().ushr_imm_s(col, shift);
            let lane = l.b.ins().band_imm_s(col, c.lanes as i64 - 1);
            let voff = l.b.ins().imul_imm_s(v, c.slot as i64);
            let base = l.b.ins().iadd(region, voff);
            let mut held = Vec::new();
            for a in &c.accs {
                let t = cl_type(a.dtype, Mode::Scalar);
                let val = l.b.declare_var(t);
                let id = l.scalar_const(acc_identity(a.op, a.dtype));
                l.b.def_var(val, id);
                let aux = a.comp.then(|| {
                    let cv = l.b.declare_var(t);
                    let z = l.scalar_const(acc_identity(ReduceOp::Sum, a.dtype));
                    l.b.def_var(cv, z);
                    cv
                });
                let loff = l.b.ins().imul_imm_s(lane, a.dtype.size() as i64);
                let at = l.b.ins().iadd(base, loff);
                held.push((
                    AccVars {
                        op: a.op,
                        dtype: a.dtype,
                        val,
                        aux,
                    },
                    at,
                ));
            }
            l.counted(zero, parts, 1, |l, p| {
                let off = l.b.ins().imul_imm_s(p, pb);
                for (a, (av, at)) in c.accs.iter().zip(&held) {
                    let at = l.b.ins().iadd(*at, off);
                    let t = cl_type(a.dtype, Mode::Scalar);
                    let f = MemFlagsData::trusted();
                    let v = l.b.ins().load(t, f, at, a.off);
                    let aux = a.comp.then(|| l.b.ins().load(t, f, at, a.comp_off()));
                    l.fold_partial(av, v, aux)?;
                }
                Ok(())
            })?;
            for (a, (av, _)) in c.accs.iter().zip(&held) {
                l.accs.insert(a.var, *av);
            }
            l.vals.insert(c.j, col);
            l.emit_range(c.post.0, c.post.1)
        })
    }
}

/// A middle-axis reduction ([`Lower::middle_split`]): the column reduction of each slab.
#[derive(Clone, Debug)]
pub struct MiddleSplit {
    /// The parallel loop over the slabs.
    batch: Var,
    c: ColumnSplit,
}

impl Lower<'_, '_> {
    /// The interchange of a large middle-axis reduction, `out[a, j] = sum_i x[a, i, j]` over
    /// a C-order `(A, B, C)` array: a parallel loop over the slabs `a` holding only a column
    /// reduction whose columns are too many for one pass of the vector loop across them
    /// (which keeps `16` vectors of accumulators in registers and walks every row of the slab
    /// once per pass, a strided walk). Each slab instead runs interchanged, rows in memory
    /// order into a row of states ([`Self::emit_column_rows`]), then folds them into the
    /// outputs; the pool splits the slabs.
    pub(crate) fn middle_split(&self) -> Option<MiddleSplit> {
        let k = &self.k;
        let n = k.body.len();
        let Some(&Inst::Loop {
            var: batch,
            parallel: true,
            ..
        }) = k.body.first()
        else {
            return None;
        };
        if self.ends.first() != Some(&(n - 1)) || n < 3 || self.ends.get(1) != Some(&(n - 2)) {
            return None;
        }
        if !matches!(
            k.body[1],
            Inst::Loop {
                parallel: false,
                ..
            }
        ) {
            return None;
        }
        let c = self.column_shape(1, n - 2)?;
        if c.accs.iter().any(|a| a.wide) {
            return None;
        }
        let uses_batch = |i: &Inst| i.uses().contains(&batch);
        // The batch variable only in indices (the slab), the rows at least one block.
        let ok = k.body[2..n - 2].iter().all(|i| match i {
            Inst::Load { .. } | Inst::Store { .. } => true,
            _ => !uses_batch(i),
        });
        (ok && c.cols > c.lanes * 16 && c.rows >= ROW_BLOCK && k.work() >= SPLIT_MIN_WORK)
            .then_some(MiddleSplit { batch, c })
    }

    /// Emits the kernel as its middle-axis split when the columns have unit stride, and as
    /// the ordinary lowering otherwise; returns the parallel loop's granule (1).
    pub(crate) fn emit_middle_split(&mut self, m: &MiddleSplit) -> Result<usize> {
        let c = &m.c;
        let mut ok = self.b.ins().iconst(types::I8, 1);
        for &(arg, d) in &c.unit {
            let s = self.strides[arg as usize][d];
            let e = self.b.ins().icmp_imm_s(IntCC::Equal, s, 1);
            ok = self.b.ins().band(ok, e);
        }
        let split = self.b.create_block();
        let other = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(ok, split, &[], other, &[]);
        self.b.switch_to_block(other);
        let len = self.k.body.len();
        self.emit_range(0, len)?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(split);
        let bytes = self.b.ins().iconst(types::I64, c.part_bytes() as i64);
        let region = self.call_ext(
            "ember_cpu_scratch_take",
            &[types::I64],
            types::I64,
            &[bytes],
        )?;
        let (lo, hi) = (self.start, self.end);
        let rows = self.b.ins().iconst(types::I64, c.rows as i64);
        self.counted(lo, hi, 1, |l, a| {
            l.vals.insert(m.batch, a);
            let zero = l.b.ins().iconst(types::I64, 0);
            l.emit_column_rows(c, region, zero, rows)?;
            l.emit_column_combine(c, region)
        })?;
        self.call_ext_void("ember_cpu_scratch_give", &[types::I64], &[region])?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        Ok(1)
    }
}
