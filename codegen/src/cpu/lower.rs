//! Kernel IR to one Cranelift function.
//!
//! The function's signature is `fn(args: *const *mut u8, strides: *const i64, start: i64,
//! end: i64)`: `args[i]` is argument `i`'s base pointer, `strides` holds every argument's
//! element strides one after the other, and `start..end` is the slice of the outermost parallel
//! loop this call runs (ignored when the kernel has none).
//!
//! Each innermost loop whose body vectorizes (see [`super::vector`]) gets a 128-bit SIMD copy,
//! unrolled twice, that runs when the strides it relies on are 1 at run time; the scalar loop
//! then finishes the tail (or does all the work for strided views).

pub mod row_calls;
pub mod rows;
pub mod split;

pub use rows::nonpositive_differences;

use super::ops::cl_type;
use crate::error::{CodegenError, Result};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, Block, FuncRef, InstBuilder, MemFlagsData, Signature, Type, Value,
};
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};
use ember_ir::kernel::{acc_identity, Inst, Kernel, Var};
use ember_ir::{DType, ReduceOp, Scalar};
use std::collections::{HashMap, HashSet};

/// How values are represented while emitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One element per value.
    Scalar,
    /// 4 lanes of 32 bits (float32, int32, bool masks).
    Vec32,
    /// 2 lanes of 64 bits (float64, bool masks).
    Vec64,
    /// 16 lanes of 8 bits: loops whose every value is a bool (masks combined, stored or
    /// reduced), a byte per lane as in memory.
    Vec8,
}

impl Mode {
    /// Elements per vector (1 for scalars).
    pub fn lanes(self) -> usize {
        match self {
            Mode::Scalar => 1,
            Mode::Vec32 => 4,
            Mode::Vec64 => 2,
            Mode::Vec8 => 16,
        }
    }
}

/// An accumulator's registers.
#[derive(Clone, Copy)]
pub struct AccVars {
    pub op: ReduceOp,
    pub dtype: DType,
    /// The value (for argmax/argmin: the best value so far).
    pub val: Variable,
    /// Kahan compensation (float sums) or the best index (argmax/argmin).
    pub aux: Option<Variable>,
}

/// The state of lowering one kernel.
pub struct Lower<'a, 'b> {
    pub b: FunctionBuilder<'b>,
    pub k: std::rc::Rc<Kernel>,
    pub types: std::rc::Rc<Vec<Option<DType>>>,
    pub module: &'a mut JITModule,
    pub ptrs: Vec<Value>,
    pub strides: Vec<Vec<Value>>,
    /// The function's `args` and `strides` parameters (helpers called with them, [`split`]).
    pub argp: Value,
    pub stp: Value,
    pub start: Value,
    pub end: Value,
    pub vals: HashMap<Var, Value>,
    pub accs: HashMap<Var, AccVars>,
    pub ends: Vec<usize>,
    /// Vectors per iteration of the vector loop being emitted.
    pub unroll: usize,
    /// Iterations of the parallel loop one vector iteration covers, when the parallel loop
    /// vectorizes (lanes x unroll; 1 otherwise): the thread pool's chunk edges are multiples
    /// of it, so every chunk runs full vector iterations.
    pub granule: usize,
    externs: HashMap<&'static str, FuncRef>,
    /// Math subroutines this kernel calls instead of inlining ([`super::outline`]).
    outlined: super::outline::Outlined,
    outlined_refs: HashMap<(ember_ir::UnaryOp, Type), FuncRef>,
    /// Values known to be `<= 0` or NaN ([`nonpositive_differences`]).
    pub nonpositive: HashSet<Var>,
    /// The row loop's software pipelining, when the kernel has the shape ([`rows::pipeline`]).
    pipeline: Option<rows::Pipeline>,
    /// The stack slot [`Self::anchor`] stores to.
    anchor_slot: Option<cranelift_codegen::ir::StackSlot>,
    /// Row loops that run as calls ([`row_calls`]).
    pub row_calls: row_calls::RowPlan,
    /// The scratch row of a redirected exp row ([`row_calls`]).
    row_scratch: Option<cranelift_codegen::ir::StackSlot>,
    /// Values of the loops being emitted that were computed before their loop
    /// ([`super::vector::loop_invariants`]): their instructions emit nothing in the loop.
    pub hoisted: HashSet<Var>,
}

/// The pointer-sized signature every kernel function has.
pub fn kernel_signature(module: &JITModule) -> Signature {
    let mut sig = module.make_signature();
    for _ in 0..4 {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig
}

impl<'a, 'b> Lower<'a, 'b> {
    /// Sets up the entry block: loads every argument pointer and stride.
    pub fn new(
        mut b: FunctionBuilder<'b>,
        k: &'a Kernel,
        types: &'a [Option<DType>],
        module: &'a mut JITModule,
    ) -> Self {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let (argp, stp, start, end) = (params[0], params[1], params[2], params[3]);
        let flags = MemFlagsData::trusted();
        let mut ptrs = Vec::new();
        let mut strides = Vec::new();
        let mut at = 0i32;
        for (i, a) in k.args.iter().enumerate() {
            ptrs.push(b.ins().load(types::I64, flags, argp, (i * 8) as i32));
            let mut s = Vec::new();
            for _ in 0..a.shape.len() {
                s.push(b.ins().load(types::I64, flags, stp, at * 8));
                at += 1;
            }
            strides.push(s);
        }
        let nonpositive = nonpositive_differences(k);
        let (mut k, mut types) = (k.clone(), types.to_vec());
        let pipeline = rows::pipeline(&mut k, &mut types);
        let ends = k.loop_ends();
        Lower {
            b,
            k: std::rc::Rc::new(k),
            types: std::rc::Rc::new(types),
            module,
            ptrs,
            strides,
            argp,
            stp,
            start,
            end,
            vals: HashMap::new(),
            accs: HashMap::new(),
            ends,
            unroll: 2,
            granule: 1,
            externs: HashMap::new(),
            outlined: HashMap::new(),
            outlined_refs: HashMap::new(),
            nonpositive,
            pipeline,
            anchor_slot: None,
            row_calls: row_calls::RowPlan::default(),
            row_scratch: None,
            hoisted: HashSet::new(),
        }
    }

    /// Makes `op` on values of each listed type call the given module function.
    pub fn with_outlined(mut self, outlined: super::outline::Outlined) -> Self {
        self.outlined = outlined;
        self
    }

    /// Keeps `v` computed where it is now (a loop's preheader): stores it to a scratch stack
    /// slot. Cranelift's optimizer places pure instructions at their first use and, in this
    /// version, does not hoist loop-invariant ones out of loops, so a value computed before a
    /// loop and used only inside it would be recomputed in every iteration; a store is a use
    /// that stays put, and later uses reuse the value it computed. One store per value per
    /// entry into the loop.
    pub fn anchor(&mut self, v: Value) {
        let slot = match self.anchor_slot {
            Some(s) => s,
            None => {
                use cranelift_codegen::ir::{StackSlotData, StackSlotKind};
                let s = self.b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    16,
                    4,
                ));
                self.anchor_slot = Some(s);
                s
            }
        };
        self.b.ins().stack_store(types::I64, v, slot, 0);
    }

    /// True when `op` on values of type `ty` calls a shared subroutine.
    pub fn is_outlined(&self, op: ember_ir::UnaryOp, ty: Type) -> bool {
        self.outlined.contains_key(&(op, ty))
    }

    /// `op(x)` through its shared subroutine, when this kernel outlines `op` for `x`'s type.
    pub fn call_outlined(&mut self, op: ember_ir::UnaryOp, x: Value) -> Option<Value> {
        let ty = self.b.func.dfg.value_type(x);
        let f = match self.outlined_refs.get(&(op, ty)) {
            Some(&f) => f,
            None => {
                let id = *self.outlined.get(&(op, ty))?;
                let f = self.module.declare_func_in_func(id, self.b.func);
                // An absolute call: code regions of the JIT may be far apart.
                self.b.func.dfg.ext_funcs[f].colocated = false;
                self.outlined_refs.insert((op, ty), f);
                f
            }
        };
        let call = self.b.ins().call(f, &[x]);
        Some(self.b.inst_results(call)[0])
    }

    /// The dtype of a value.
    pub fn ty(&self, v: Var) -> DType {
        self.types
            .get(v.0 as usize)
            .copied()
            .flatten()
            .unwrap_or(DType::Bool)
    }

    /// Emits the kernel and finishes the function; returns [`Self::granule`]. Large single
    /// reductions split themselves over the pool ([`split`]).
    pub fn finish(mut self) -> Result<usize> {
        let granule = self.emit_kernel()?;
        self.b.ins().return_(&[]);
        self.b.seal_all_blocks();
        let cfg = self.module.isa().frontend_config();
        self.b.finalize(cfg);
        Ok(granule)
    }

    /// Emits the whole body (in split form when [`split`] applies); returns the granule of
    /// the parallel loop.
    pub fn emit_kernel(&mut self) -> Result<usize> {
        if self.pipeline.is_none() {
            if let Some(s) = split::full_split(&self.k) {
                return self.emit_full_split(&s);
            }
            if let Some(c) = self.column_split() {
                return self.emit_column_split(&c);
            }
            if let Some(m) = self.middle_split() {
                return self.emit_middle_split(&m);
            }
        }
        let len = self
            .pipeline
            .as_ref()
            .map_or(self.k.body.len(), |p| p.body_len);
        self.row_calls = row_calls::RowPlan::of(&self.k, len, &self.types, &self.ends);
        self.emit_range(0, len)?;
        if self.row_calls.stream {
            // The row calls' streaming stores are weakly ordered: one fence per chunk.
            self.call_ext_void("ember_store_fence", &[], &[])?;
        }
        Ok(self.granule)
    }

    /// Calls an imported Rust function with one result.
    pub fn call_ext(
        &mut self,
        name: &'static str,
        params: &[Type],
        ret: Type,
        args: &[Value],
    ) -> Result<Value> {
        let f = self.ext(name, params, Some(ret))?;
        let call = self.b.ins().call(f, args);
        Ok(self.b.inst_results(call)[0])
    }

    /// Calls an imported Rust function with no result.
    pub fn call_ext_void(
        &mut self,
        name: &'static str,
        params: &[Type],
        args: &[Value],
    ) -> Result<()> {
        let f = self.ext(name, params, None)?;
        self.b.ins().call(f, args);
        Ok(())
    }

    fn ext(&mut self, name: &'static str, params: &[Type], ret: Option<Type>) -> Result<FuncRef> {
        if let Some(&f) = self.externs.get(name) {
            return Ok(f);
        }
        let mut sig = self.module.make_signature();
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        if let Some(r) = ret {
            sig.returns.push(AbiParam::new(r));
        }
        let id = self
            .module
            .declare_function(name, Linkage::Import, &sig)
            .map_err(|e| CodegenError::Module(e.to_string()))?;
        let f = self.module.declare_func_in_func(id, self.b.func);
        self.externs.insert(name, f);
        Ok(f)
    }

    /// The scalar value of `v` (accumulators read their current value).
    pub fn val(&mut self, v: Var) -> Result<Value> {
        if let Some(a) = self.accs.get(&v).copied() {
            return Ok(self.acc_read(&a));
        }
        self.vals
            .get(&v)
            .copied()
            .ok_or_else(|| CodegenError::Internal(format!("%{} has no value", v.0)))
    }

    fn acc_read(&mut self, a: &AccVars) -> Value {
        match (a.op, a.aux) {
            (ReduceOp::Sum, Some(c)) => {
                let s = self.b.use_var(a.val);
                let c = self.b.use_var(c);
                self.b.ins().fsub(s, c)
            }
            (ReduceOp::ArgMax | ReduceOp::ArgMin, Some(i)) => self.b.use_var(i),
            _ => self.b.use_var(a.val),
        }
    }

    /// The address of `arg[index]` given index values.
    pub fn addr(&mut self, arg: u32, index: &[Value]) -> Value {
        let a = arg as usize;
        let mut off: Option<Value> = None;
        for (d, &i) in index.iter().enumerate() {
            let s = self.strides[a][d];
            let p = self.b.ins().imul(i, s);
            off = Some(match off {
                Some(o) => self.b.ins().iadd(o, p),
                None => p,
            });
        }
        let base = self.ptrs[a];
        match off {
            Some(o) => {
                let size = self.k.args[a].dtype.size() as i64;
                let bytes = self.b.ins().imul_imm_s(o, size);
                self.b.ins().iadd(base, bytes)
            }
            None => base,
        }
    }

    fn index_vals(&mut self, index: &[Var]) -> Result<Vec<Value>> {
        index.iter().map(|&v| self.val(v)).collect()
    }

    /// A constant as a scalar Cranelift value.
    pub fn scalar_const(&mut self, s: Scalar) -> Value {
        match s {
            Scalar::Bool(v) => self.b.ins().iconst(types::I8, v as i64),
            Scalar::I32(v) => self.b.ins().iconst(types::I32, v as i64),
            Scalar::I64(v) => self.b.ins().iconst(types::I64, v),
            Scalar::F32(v) => self.b.ins().f32const(v),
            Scalar::F64(v) => self.b.ins().f64const(v),
        }
    }

    /// Emits instructions `from..to` in scalar form.
    pub fn emit_range(&mut self, from: usize, to: usize) -> Result<()> {
        let mut pc = from;
        while pc < to {
            let inst = &self.k.body[pc];
            match inst {
                Inst::Loop { .. } => {
                    let end = self.ends[pc];
                    self.emit_loop(pc, end)?;
                    pc = end + 1;
                    continue;
                }
                Inst::EndLoop => {}
                _ => self.emit_scalar_inst(pc)?,
            }
            pc += 1;
        }
        Ok(())
    }

    pub(super) fn emit_scalar_inst(&mut self, pc: usize) -> Result<()> {
        let inst = self.k.body[pc].clone();
        if inst.def().is_some_and(|d| self.hoisted.contains(&d)) {
            return Ok(());
        }
        let m = Mode::Scalar;
        match &inst {
            Inst::Const { dst, value } => {
                let v = self.scalar_const(value.0);
                self.vals.insert(*dst, v);
            }
            Inst::Load { dst, arg, index } => {
                let ix = self.index_vals(index)?;
                let addr = self.addr(*arg, &ix);
                let dt = self.k.args[*arg as usize].dtype;
                let t = cl_type(dt, m);
                let mut v = self.b.ins().load(t, MemFlagsData::trusted(), addr, 0);
                if dt == DType::Bool {
                    // Any nonzero byte is true (a NumPy bool view of other bytes); values
                    // are 0/1 from here on, so `&` and `^` of bools stay logical.
                    v = self.b.ins().icmp_imm_u(IntCC::NotEqual, v, 0);
                }
                self.vals.insert(*dst, v);
            }
            Inst::Store { arg, index, value } => {
                let ix = self.index_vals(index)?;
                let addr = self.addr(*arg, &ix);
                let v = self.val(*value)?;
                self.b.ins().store(MemFlagsData::trusted(), v, addr, 0);
            }
            Inst::Unary { dst, op, x } => {
                let xv = self.val(*x)?;
                let np = self.nonpositive.contains(x);
                let r = self.unary_many(*op, self.ty(*x), vec![xv], m, np)?[0];
                self.vals.insert(*dst, r);
            }
            Inst::Binary { dst, op, a, b } => {
                let (av, bv) = (self.val(*a)?, self.val(*b)?);
                let r = self.binary(*op, self.ty(*a), av, bv, m)?;
                self.vals.insert(*dst, r);
            }
            Inst::Select { dst, cond, a, b } => {
                let (c, av, bv) = (self.val(*cond)?, self.val(*a)?, self.val(*b)?);
                let r = self.select(self.ty(*a), c, av, bv, m);
                self.vals.insert(*dst, r);
            }
            Inst::Cast { dst, to, x } => {
                let xv = self.val(*x)?;
                let r = self.cast(self.ty(*x), *to, xv, m)?;
                self.vals.insert(*dst, r);
            }
            Inst::Acc { dst, op, dtype } => {
                let t = cl_type(*dtype, m);
                let val = self.b.declare_var(t);
                let init = self.scalar_const(acc_identity(*op, *dtype));
                let init = match op {
                    // argmax/argmin keep the best value; start below (above) everything.
                    ReduceOp::ArgMax | ReduceOp::ArgMin => {
                        let s = arg_start(*op, *dtype);
                        self.scalar_const(s)
                    }
                    _ => init,
                };
                self.b.def_var(val, init);
                let aux = match (op, dtype.is_float()) {
                    (ReduceOp::Sum, true) => {
                        let c = self.b.declare_var(t);
                        let z = self.scalar_const(acc_identity(ReduceOp::Sum, *dtype));
                        self.b.def_var(c, z);
                        Some(c)
                    }
                    (ReduceOp::ArgMax | ReduceOp::ArgMin, _) => {
                        let i = self.b.declare_var(types::I64);
                        let z = self.b.ins().iconst(types::I64, 0);
                        self.b.def_var(i, z);
                        Some(i)
                    }
                    _ => None,
                };
                self.accs.insert(
                    *dst,
                    AccVars {
                        op: *op,
                        dtype: *dtype,
                        val,
                        aux,
                    },
                );
            }
            Inst::Update { acc, value } => {
                let a = self.acc_vars(*acc)?;
                let v = self.val(*value)?;
                self.acc_fold_scalar(&a, v)?;
            }
            Inst::UpdateArg { acc, value, index } => {
                let a = self.acc_vars(*acc)?;
                let v = self.val(*value)?;
                let at = self.val(*index)?;
                self.acc_fold_arg(&a, v, at);
            }
            Inst::Loop { .. } | Inst::EndLoop => {}
        }
        Ok(())
    }

    pub fn acc_vars(&self, acc: Var) -> Result<AccVars> {
        self.accs
            .get(&acc)
            .copied()
            .ok_or_else(|| CodegenError::Internal(format!("%{} is not an accumulator", acc.0)))
    }

    /// `acc = op(acc, v)` for a scalar `v` (Kahan-compensated for float sums).
    pub fn acc_fold_scalar(&mut self, a: &AccVars, v: Value) -> Result<()> {
        let cur = self.b.use_var(a.val);
        let r = match (a.op, a.aux) {
            (ReduceOp::Sum, Some(cv)) => {
                let c = self.b.use_var(cv);
                let y = self.b.ins().fsub(v, c);
                let t = self.b.ins().fadd(cur, y);
                let d = self.b.ins().fsub(t, cur);
                let nc = self.b.ins().fsub(d, y);
                // Once the sum overflows or is infinite the compensation is infinite or NaN:
                // drop it, keep the sum.
                let anc = self.b.ins().fabs(nc);
                let inf = self.scalar_const(if a.dtype == DType::F32 {
                    Scalar::F32(f32::INFINITY)
                } else {
                    Scalar::F64(f64::INFINITY)
                });
                let finite = self.b.ins().fcmp(FloatCC::LessThan, anc, inf);
                let zero = self.scalar_const(acc_identity(ReduceOp::Sum, a.dtype));
                let nc = self.b.ins().select(finite, nc, zero);
                self.b.def_var(cv, nc);
                t
            }
            (ReduceOp::Sum, None) => {
                self.binary(ember_ir::BinaryOp::Add, a.dtype, cur, v, Mode::Scalar)?
            }
            (ReduceOp::Prod, _) => {
                self.binary(ember_ir::BinaryOp::Mul, a.dtype, cur, v, Mode::Scalar)?
            }
            (ReduceOp::Max, _) => {
                self.binary(ember_ir::BinaryOp::Max, a.dtype, cur, v, Mode::Scalar)?
            }
            (ReduceOp::Min, _) => {
                self.binary(ember_ir::BinaryOp::Min, a.dtype, cur, v, Mode::Scalar)?
            }
            (ReduceOp::Any, _) => self.b.ins().bor(cur, v),
            (ReduceOp::All, _) => self.b.ins().band(cur, v),
            (ReduceOp::ArgMax | ReduceOp::ArgMin, _) => cur,
        };
        self.b.def_var(a.val, r);
        Ok(())
    }

    fn acc_fold_arg(&mut self, a: &AccVars, v: Value, at: Value) {
        let cur = self.b.use_var(a.val);
        let better = self.arg_better(a.op, a.dtype, v, cur);
        let nv = self.b.ins().select(better, v, cur);
        self.b.def_var(a.val, nv);
        if let Some(iv) = a.aux {
            let ci = self.b.use_var(iv);
            let ni = self.b.ins().select(better, at, ci);
            self.b.def_var(iv, ni);
        }
    }

    /// Whether `v` beats the best value `cur` of an argmax (argmin): strictly greater
    /// (less), or NaN where `cur` is not (NumPy returns the first NaN's index). Scalars give
    /// a bool, vectors a lane mask.
    pub(crate) fn arg_better(&mut self, op: ReduceOp, dtype: DType, v: Value, cur: Value) -> Value {
        let max = op == ReduceOp::ArgMax;
        match dtype {
            DType::F32 | DType::F64 => {
                // `v > cur` or either is NaN, while `cur` is not NaN: `v > cur`, or `v` NaN
                // and `cur` not.
                let cc = if max {
                    FloatCC::UnorderedOrGreaterThan
                } else {
                    FloatCC::UnorderedOrLessThan
                };
                let gt = self.b.ins().fcmp(cc, v, cur);
                let cur_ok = self.b.ins().fcmp(FloatCC::Ordered, cur, cur);
                self.b.ins().band(gt, cur_ok)
            }
            DType::Bool => {
                let cc = if max {
                    IntCC::UnsignedGreaterThan
                } else {
                    IntCC::UnsignedLessThan
                };
                self.b.ins().icmp(cc, v, cur)
            }
            _ => {
                let cc = if max {
                    IntCC::SignedGreaterThan
                } else {
                    IntCC::SignedLessThan
                };
                self.b.ins().icmp(cc, v, cur)
            }
        }
    }

    /// Whether `v` equals the best value `cur` (both NaN counts as equal).
    pub(crate) fn arg_same(&mut self, dtype: DType, v: Value, cur: Value) -> Value {
        if dtype.is_float() {
            let eq = self.b.ins().fcmp(FloatCC::Equal, v, cur);
            let vnan = self.b.ins().fcmp(FloatCC::Unordered, v, v);
            let cnan = self.b.ins().fcmp(FloatCC::Unordered, cur, cur);
            let both = self.b.ins().band(vnan, cnan);
            self.b.ins().bor(eq, both)
        } else {
            self.b.ins().icmp(IntCC::Equal, v, cur)
        }
    }

    /// Opens a scalar loop `while iv < hi`: jumps to a new header that tests it and switches
    /// to the body. Returns the counter's value in the body, the header (the latch jumps back
    /// to it) and the exit block.
    fn open_counted(&mut self, iv: Variable, hi: Value) -> (Value, Block, Block) {
        let header = self.b.create_block();
        let body = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(header);
        let i = self.b.use_var(iv);
        let c = self.b.ins().icmp(IntCC::SignedLessThan, i, hi);
        self.b.ins().brif(c, body, &[], exit, &[]);
        self.b.switch_to_block(body);
        (i, header, exit)
    }

    /// A loop: a row call ([`row_calls`]) when it is one, else [`Self::emit_plain_loop`].
    fn emit_loop(&mut self, pc: usize, end: usize) -> Result<()> {
        if self.emit_row_call(pc, end)? {
            return Ok(());
        }
        self.emit_plain_loop(pc, end)
    }

    /// A loop: the vector copy when its body allows, then the scalar loop (tail or all).
    fn emit_plain_loop(&mut self, pc: usize, end: usize) -> Result<()> {
        let Inst::Loop {
            var,
            extent,
            parallel,
        } = self.k.body[pc].clone()
        else {
            return Err(CodegenError::Internal("loop expected".into()));
        };
        // Row calls leave nothing to overlap: no pipelining then.
        let pipelined = self.row_calls.calls.is_empty();
        if let Some(p) = self
            .pipeline
            .clone()
            .filter(|p| pipelined && parallel && p.outer == pc)
        {
            if self.fused_loop_vectorizes(&p) {
                return self.emit_pipelined(&p, var);
            }
        }
        let (lo, hi) = if parallel {
            (self.start, self.end)
        } else {
            let z = self.b.ins().iconst(types::I64, 0);
            let e = self.b.ins().iconst(types::I64, extent as i64);
            (z, e)
        };
        // Loop-invariant values, once, before the loop (scalar): anchored, so that Cranelift
        // does not sink pure ones back into it (see `anchor`).
        let mut hoisted = Vec::new();
        for at in super::vector::loop_invariants(self, pc, end, var) {
            self.emit_scalar_inst(at)?;
            if let Some(d) = self.k.body[at].def() {
                if !matches!(self.k.body[at], Inst::Const { .. }) {
                    let v = self.val(d)?;
                    self.anchor(v);
                }
                self.hoisted.insert(d);
                hoisted.push(d);
            }
        }
        let iv = self.b.declare_var(types::I64);
        self.b.def_var(iv, lo);
        let plan = super::vector::plan(self, pc, end, var, false).or_else(|| {
            super::vector::prefers_outer(self, pc, end, var)
                .then(|| super::vector::plan(self, pc, end, var, true))
                .flatten()
        });
        if let Some(plan) = plan {
            self.emit_vector_loop(&plan, pc, end, var, iv, lo, hi)?;
            // The parallel loop is outermost: no accumulator outside it folds twice.
            if parallel {
                for rest in plan.remainders(extent) {
                    let lo = self.b.use_var(iv);
                    self.emit_vector_loop(&rest, pc, end, var, iv, lo, hi)?;
                }
            }
        }
        let (i, header, exit) = self.open_counted(iv, hi);
        self.vals.insert(var, i);
        self.emit_range(pc + 1, end)?;
        let i2 = self.b.ins().iadd_imm_s(i, 1);
        self.b.def_var(iv, i2);
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(exit);
        for d in hoisted {
            self.hoisted.remove(&d);
        }
        Ok(())
    }
}

impl Lower<'_, '_> {
    /// True when the fused loop of `p` has a vector plan (otherwise pipelining would turn a
    /// vector loop into a scalar one).
    fn fused_loop_vectorizes(&mut self, p: &rows::Pipeline) -> bool {
        let lp = p.fused + p.accs.len();
        let (Some(&end), Some(Inst::Loop { var, .. })) = (self.ends.get(lp), self.k.body.get(lp))
        else {
            return false;
        };
        let var = *var;
        // The plan reads the renamed accumulators' kinds.
        for &(_, a2) in &p.accs {
            if let Some(Inst::Acc { op, dtype, .. }) =
                self.k.body.iter().find(|i| i.def() == Some(a2))
            {
                let val = self.b.declare_var(cl_type(*dtype, Mode::Scalar));
                self.accs.insert(
                    a2,
                    AccVars {
                        op: *op,
                        dtype: *dtype,
                        val,
                        aux: None,
                    },
                );
            }
        }
        let ok = super::vector::plan(self, lp, end, var, false).is_some();
        for &(_, a2) in &p.accs {
            self.accs.remove(&a2);
        }
        ok
    }

    /// The parallel row loop with its first phase software-pipelined ([`rows`]): the first
    /// phase of the chunk's first row, then per row the middle phases and the fused loop (the
    /// last phase, and the first phase of the next row, the last row again at the chunk's
    /// end), carrying the first phase's accumulators to the next iteration.
    fn emit_pipelined(&mut self, p: &rows::Pipeline, row: Var) -> Result<()> {
        let (lo, hi) = (self.start, self.end);
        let mut carried = Vec::new();
        for &(a, _) in &p.accs {
            let t = cl_type(self.ty(a), Mode::Scalar);
            let v = self.b.declare_var(t);
            let z = self.scalar_const(acc_identity(ReduceOp::Sum, self.ty(a)));
            self.b.def_var(v, z);
            carried.push(v);
        }
        // The chunk's first row: its first phase as written.
        let pro = self.b.create_block();
        let start = self.b.create_block();
        let any = self.b.ins().icmp(IntCC::SignedLessThan, lo, hi);
        self.b.ins().brif(any, pro, &[], start, &[]);
        self.b.switch_to_block(pro);
        self.vals.insert(row, lo);
        self.emit_range(p.first, p.end0 + 1)?;
        for (&(a, _), &v) in p.accs.iter().zip(&carried) {
            let x = self.val(a)?;
            self.b.def_var(v, x);
        }
        self.b.ins().jump(start, &[]);
        self.b.switch_to_block(start);
        let iv = self.b.declare_var(types::I64);
        self.b.def_var(iv, lo);
        let (i, header, exit) = self.open_counted(iv, hi);
        self.vals.insert(row, i);
        // The first phase's results for this row, computed one iteration earlier.
        for (&(a, _), &v) in p.accs.iter().zip(&carried) {
            let Some(Inst::Acc { op, dtype, .. }) = self.k.body.iter().find(|i| i.def() == Some(a))
            else {
                return Err(CodegenError::Internal(format!(
                    "%{} is not an accumulator",
                    a.0
                )));
            };
            let (op, dtype) = (*op, *dtype);
            self.accs.insert(
                a,
                AccVars {
                    op,
                    dtype,
                    val: v,
                    aux: None,
                },
            );
        }
        self.emit_range(p.end0 + 1, p.last)?;
        let i1 = self.b.ins().iadd_imm_s(i, 1);
        let last = self.b.ins().iadd_imm_s(hi, -1);
        let inside = self.b.ins().icmp(IntCC::SignedLessThan, i1, hi);
        let next = self.b.ins().select(inside, i1, last);
        self.vals.insert(p.next_row, next);
        let end = self.ends[p.fused + p.accs.len()];
        self.emit_range(p.fused, end + 1)?;
        self.emit_range(p.last_end + 1, p.body_len - 1)?;
        for (&(_, a2), &v) in p.accs.iter().zip(&carried) {
            let x = self.val(a2)?;
            self.b.def_var(v, x);
        }
        self.b.def_var(iv, i1);
        self.b.ins().jump(header, &[]);
        self.b.switch_to_block(exit);
        Ok(())
    }
}

/// The starting "best" of an argmax/argmin accumulator: the identity of max/min.
pub(crate) fn arg_start(op: ReduceOp, dtype: DType) -> Scalar {
    let m = if op == ReduceOp::ArgMax {
        ReduceOp::Max
    } else {
        ReduceOp::Min
    };
    acc_identity(m, dtype)
}
