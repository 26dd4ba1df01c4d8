//! Kernel IR to CUDA C, written through [`fmt::Write`].
//!
//! The renderer walks the (normalized) kernel once, instruction by instruction, and writes each
//! one through the per-op table of [`super::ops`]; the loop structure comes from the kernel's
//! [`Plan`] (see [`super::plan`] for the three shapes). The entry point is always
//! `extern "C" __global__ void __launch_bounds__(B) ember_kernel(...)`, whatever the kernel's
//! name, so structurally equal kernels render to the same source and share one compilation.
//!
//! Argument convention (the CPU backend's, one CUDA parameter each): for every kernel argument
//! in order, a pointer to element `[0, 0, ...]` (`const T*` for inputs) followed by one
//! `long long` stride in elements per dimension of its declared view. Bool is one byte.
//!
//! Accumulators: float sums are compensated (Neumaier) per thread, which keeps long float32
//! sums within a few ULP of the float64 reference without any float64 arithmetic; argmax and
//! argmin carry `(value, index)` with index -1 meaning "nothing seen yet".

use super::error::CudaError;
use super::gemm;
use super::ops::{self, ctype, mem_type, Binary, Cast, Helper, Lit, Unary};
use super::plan::{Mode, Plan, VEC};
use crate::error::Result;
use ember_ir::kernel::{acc_identity, Inst, Kernel, Var};
use ember_ir::{DType, ReduceOp};
use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Display, Formatter, Write};

/// The name of every rendered kernel's entry point.
pub const ENTRY: &str = "ember_kernel";

/// A rendered kernel: the CUDA C source and the plan it follows.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// CUDA C source of one `extern "C" __global__` function named [`ENTRY`].
    pub source: String,
    /// How its loops map onto the grid (and how to launch it).
    pub plan: Plan,
}

/// Renders `kernel` (verified first) to CUDA C.
pub fn render_kernel(kernel: &Kernel) -> Result<Rendered> {
    kernel.verify()?;
    let k = kernel.normalized();
    let types = k.verify()?;
    let plan = Plan::new(&k);
    let mut r = R {
        k: &k,
        types,
        plan,
        accs: HashMap::new(),
        lane: None,
        depth: 0,
    };
    let helpers = r.helpers()?;
    let mut source = String::new();
    r.write(&mut source, &kernel.name, &helpers).map_err(|_| {
        CudaError::Unsupported(format!("kernel {} could not be rendered", kernel.name))
    })?;
    Ok(Rendered {
        source,
        plan: r.plan,
    })
}

/// How an accumulator is held in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AccKind {
    /// `vN` and its compensation `vN_c` (float sums).
    CompSum,
    /// `vN_v` (best value) and `vN` (its index, -1 when none).
    Arg,
    /// `vN`.
    Plain,
}

fn acc_kind(op: ReduceOp, dt: DType) -> AccKind {
    match op {
        ReduceOp::Sum if dt.is_float() => AccKind::CompSum,
        ReduceOp::ArgMax | ReduceOp::ArgMin => AccKind::Arg,
        _ => AccKind::Plain,
    }
}

/// A value as an operand: `v3`, `v3_2` (lane 2 of the vector path), or an accumulator's
/// result (`ember_comp_value(v3, v3_c)` for a compensated sum).
#[derive(Clone, Copy)]
struct Val {
    n: u32,
    lane: Option<usize>,
    read: Option<AccKind>,
}

impl Display for Val {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let n = self.n;
        match (self.read, self.lane) {
            (Some(AccKind::CompSum), _) => write!(f, "ember_comp_value(v{n}, v{n}_c)"),
            (Some(AccKind::Arg), _) => write!(f, "(v{n} < 0LL ? 0LL : v{n})"),
            (_, Some(l)) => write!(f, "v{n}_{l}"),
            _ => write!(f, "v{n}"),
        }
    }
}

struct R<'a> {
    k: &'a Kernel,
    types: Vec<Option<DType>>,
    plan: Plan,
    /// Accumulators declared so far: their op and value dtype.
    accs: HashMap<Var, (ReduceOp, DType)>,
    /// The vector path's lane being written.
    lane: Option<usize>,
    /// Loop depth (0 outside every loop).
    depth: usize,
}

struct Indent(usize);
impl Display for Indent {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{:w$}", "", w = self.0 * 2)
    }
}

impl R<'_> {
    fn ty(&self, v: Var) -> DType {
        self.types
            .get(v.0 as usize)
            .copied()
            .flatten()
            .unwrap_or(DType::Bool)
    }

    /// `v` as an operand.
    fn val(&self, v: Var) -> Val {
        let read = self.accs.get(&v).map(|&(op, dt)| acc_kind(op, dt));
        Val {
            n: v.0,
            lane: self.lane,
            read: read.filter(|k| *k != AccKind::Plain),
        }
    }

    /// `v` as the variable itself (definitions, accumulator updates).
    fn raw(&self, v: Var) -> Val {
        Val {
            n: v.0,
            lane: self.lane,
            read: None,
        }
    }

    fn row_depth(&self) -> usize {
        usize::from(self.plan.rows.is_some())
    }

    /// The helper functions the kernel needs, or why the table cannot render it.
    fn helpers(&self) -> Result<BTreeSet<Helper>> {
        let mut hs = BTreeSet::new();
        let unsupported =
            |what: String| CudaError::Unsupported(format!("{what} in kernel {}", self.k.name));
        for inst in &self.k.body {
            match inst {
                Inst::Unary { op, x, .. } => hs.extend(
                    ops::unary_helpers(*op, self.ty(*x))
                        .ok_or_else(|| unsupported(format!("{} of {}", op.name(), self.ty(*x))))?,
                ),
                Inst::Binary { op, a, .. } => hs.extend(
                    ops::binary_helpers(*op, self.ty(*a))
                        .ok_or_else(|| unsupported(format!("{} of {}", op.name(), self.ty(*a))))?,
                ),
                Inst::Cast { to, x, .. } => hs.extend(ops::cast_helpers(self.ty(*x), *to)),
                // The tiled matrix product accumulates in registers with fma.
                Inst::Acc { .. } if self.plan.gemm.is_some() => {}
                Inst::Acc { op, dtype, .. } => match acc_kind(*op, *dtype) {
                    AccKind::CompSum => {
                        hs.insert(Helper::Neumaier(*dtype));
                    }
                    AccKind::Arg => {
                        hs.extend([Helper::ArgFold, Helper::IsNan(*dtype)]);
                    }
                    AccKind::Plain => hs.extend(
                        ops::binary_helpers(ops::fold_op(*op), *dtype)
                            .ok_or_else(|| unsupported(format!("{} of {}", op.name(), dtype)))?,
                    ),
                },
                _ => {}
            }
        }
        for accs in self.plan.reduce_after.values() {
            for acc in accs {
                let (op, dt) = self.acc_decl(*acc);
                match (acc_kind(op, dt), dt) {
                    (AccKind::Arg, _) => hs.extend([Helper::BlockReduce, Helper::BlockArg]),
                    (AccKind::CompSum, _) => {
                        hs.insert(Helper::BlockComp);
                    }
                    // bool accumulators combine with __syncthreads_or/_and.
                    (_, DType::Bool) => {}
                    _ => {
                        hs.insert(Helper::BlockReduce);
                    }
                }
            }
        }
        if self.plan.vector {
            hs.insert(Helper::Vec4);
        }
        Ok(hs)
    }

    fn acc_decl(&self, acc: Var) -> (ReduceOp, DType) {
        self.k
            .body
            .iter()
            .find_map(|i| match i {
                Inst::Acc { dst, op, dtype } if *dst == acc => Some((*op, *dtype)),
                _ => None,
            })
            .unwrap_or((ReduceOp::Sum, DType::F32))
    }

    fn describe(&self) -> String {
        let b = self.plan.block;
        match (self.plan.mode, self.plan.rows) {
            (Mode::Thread, _) if self.plan.vector => format!(
                "a thread per element (grid-stride), {VEC}-wide vector path when unit-stride and aligned, {b} threads per block"
            ),
            (Mode::Thread, _) => {
                format!("a thread per parallel iteration (grid-stride), {b} threads per block")
            }
            (Mode::Block, Some(_)) => format!(
                "a block of {b} threads per parallel iteration, inner loops split across its threads"
            ),
            (Mode::Block, None) => format!("one block of {b} threads, loops split across its threads"),
            (Mode::Single, _) => "one thread".into(),
            (Mode::Gemm, _) => format!(
                "a tiled matrix product: {}x{} tiles of the result per block, {}x{} per thread, k in steps of {} through shared memory, {b} threads per block",
                gemm::BM,
                gemm::BN,
                gemm::TM,
                gemm::TN,
                gemm::BK
            ),
        }
    }

    fn write(&mut self, w: &mut dyn Write, name: &str, helpers: &BTreeSet<Helper>) -> fmt::Result {
        let name: String = name
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .collect();
        if name.is_empty() {
            writeln!(w, "// Ember kernel: {}.", self.describe())?;
        } else {
            writeln!(w, "// Ember kernel \"{name}\": {}.", self.describe())?;
        }
        for h in helpers {
            h.define(w)?;
        }
        writeln!(w)?;
        writeln!(
            w,
            "extern \"C\" __global__ void __launch_bounds__({}) {ENTRY}(",
            self.plan.block
        )?;
        for (i, a) in self.k.args.iter().enumerate() {
            let c = if a.output { "" } else { "const " };
            write!(w, "    {c}{}* __restrict__ a{i}", mem_type(a.dtype))?;
            for d in 0..a.shape.len() {
                write!(w, ", long long a{i}_s{d}")?;
            }
            writeln!(
                w,
                "{}",
                if i + 1 < self.k.args.len() {
                    ","
                } else {
                    ") {"
                }
            )?;
        }
        if self.k.args.is_empty() {
            writeln!(w, ") {{")?;
        }
        // Shared memory for the block reductions, one array per dtype combined (and one for
        // the compensations of compensated sums).
        let mut shared = BTreeSet::new();
        let mut shared_comp = BTreeSet::new();
        for acc in self.plan.reduce_after.values().flatten() {
            let (op, dt) = self.acc_decl(*acc);
            if dt != DType::Bool || acc_kind(op, dt) == AccKind::Arg {
                shared.insert(dt);
            }
            if acc_kind(op, dt) == AccKind::Arg {
                shared.insert(DType::I64);
            }
            if acc_kind(op, dt) == AccKind::CompSum {
                shared_comp.insert(dt);
            }
        }
        for dt in shared {
            writeln!(w, "  __shared__ {} ember_sh_{}[32];", ctype(dt), dt.name())?;
        }
        for dt in shared_comp {
            writeln!(w, "  __shared__ {} ember_shc_{}[32];", ctype(dt), dt.name())?;
        }
        if let Some(g) = self.plan.gemm.clone() {
            let t = ctype(g.dtype);
            let zero = Lit::of(g.dtype, 0.0).to_string();
            gemm::write_body(w, &g, t, &zero, &mut |w, depth| {
                self.depth = depth;
                for &i in &g.element {
                    self.inst(w, i)?;
                }
                Ok(())
            })?;
            return writeln!(w, "}}");
        }
        let single = self.plan.mode == Mode::Single;
        if single {
            writeln!(w, "  if (blockIdx.x != 0 || threadIdx.x != 0) return;")?;
        }
        self.body(w, 0, self.k.body.len())?;
        writeln!(w, "}}")
    }

    fn body(&mut self, w: &mut dyn Write, lo: usize, hi: usize) -> fmt::Result {
        for i in lo..hi {
            self.inst(w, i)?;
        }
        Ok(())
    }

    fn inst(&mut self, w: &mut dyn Write, i: usize) -> fmt::Result {
        let inst = &self.k.body[i];
        let ind = Indent(self.depth + 1);
        match inst {
            Inst::Loop { var, extent, .. } => {
                let v = self.raw(*var);
                let n = Lit::of(DType::I64, *extent as f64);
                match (i, self.plan.mode) {
                    (0, Mode::Thread) if self.plan.rows.is_some() => {
                        if self.plan.vector {
                            self.vector_path(w, *extent)?;
                            writeln!(
                                w,
                                "{ind}for (long long {v} = ember_start + ember_tid; {v} < {n}; {v} += ember_step) {{"
                            )?;
                        } else {
                            writeln!(
                                w,
                                "{ind}for (long long {v} = (long long)blockIdx.x * blockDim.x + threadIdx.x; {v} < {n}; {v} += (long long)gridDim.x * blockDim.x) {{"
                            )?;
                        }
                    }
                    (0, Mode::Block) if self.plan.rows.is_some() => writeln!(
                        w,
                        "{ind}for (long long {v} = blockIdx.x; {v} < {n}; {v} += gridDim.x) {{"
                    )?,
                    _ if self.plan.split.contains(&i) => writeln!(
                        w,
                        "{ind}for (long long {v} = threadIdx.x; {v} < {n}; {v} += blockDim.x) {{"
                    )?,
                    _ => writeln!(w, "{ind}for (long long {v} = 0LL; {v} < {n}; ++{v}) {{")?,
                }
                self.depth += 1;
            }
            Inst::EndLoop => {
                self.depth = self.depth.saturating_sub(1);
                writeln!(w, "{}}}", Indent(self.depth + 1))?;
                if let Some(accs) = self.plan.reduce_after.get(&i).cloned() {
                    for acc in accs {
                        self.block_reduce(w, acc)?;
                    }
                }
                if self.plan.sync_after.contains(&i) {
                    // Later phases read back what other threads stored in this loop.
                    writeln!(w, "{}__syncthreads();", Indent(self.depth + 1))?;
                }
            }
            Inst::Const { dst, value } => {
                let t = ctype(value.0.dtype());
                writeln!(w, "{ind}const {t} {} = {};", self.raw(*dst), Lit(value.0))?;
            }
            Inst::Load { dst, arg, index } => {
                let dt = self.ty(*dst);
                let at = Elem {
                    arg: *arg,
                    index,
                    r: self,
                };
                if dt == DType::Bool {
                    writeln!(w, "{ind}const bool {} = {at} != 0;", self.raw(*dst))?;
                } else {
                    writeln!(w, "{ind}const {} {} = {at};", ctype(dt), self.raw(*dst))?;
                }
            }
            Inst::Store { arg, index, value } => {
                let at = Elem {
                    arg: *arg,
                    index,
                    r: self,
                };
                let x = self.val(*value);
                let conv = if self.ty(*value) == DType::Bool {
                    "(unsigned char)"
                } else {
                    ""
                };
                // A row-level store in block mode: every thread has the value; one writes it.
                let guard = if self.plan.mode == Mode::Block && self.depth == self.row_depth() {
                    "if (threadIdx.x == 0) "
                } else {
                    ""
                };
                writeln!(w, "{ind}{guard}{at} = {conv}{x};")?;
            }
            Inst::Unary { dst, op, x } => {
                let dt = self.ty(*dst);
                let (xv, xt) = (self.val(*x), self.ty(*x));
                let e = Unary {
                    op: *op,
                    dt: xt,
                    x: &xv,
                };
                writeln!(w, "{ind}const {} {} = {e};", ctype(dt), self.raw(*dst))?;
            }
            Inst::Binary { dst, op, a, b } => {
                let dt = self.ty(*dst);
                let (av, bv) = (self.val(*a), self.val(*b));
                let e = Binary {
                    op: *op,
                    dt: self.ty(*a),
                    a: &av,
                    b: &bv,
                };
                writeln!(w, "{ind}const {} {} = {e};", ctype(dt), self.raw(*dst))?;
            }
            Inst::Select { dst, cond, a, b } => {
                let dt = self.ty(*dst);
                let (c, av, bv) = (self.val(*cond), self.val(*a), self.val(*b));
                writeln!(
                    w,
                    "{ind}const {} {} = {c} ? {av} : {bv};",
                    ctype(dt),
                    self.raw(*dst)
                )?;
            }
            Inst::Cast { dst, to, x } => {
                let xv = self.val(*x);
                let e = Cast {
                    from: self.ty(*x),
                    to: *to,
                    x: &xv,
                };
                writeln!(w, "{ind}const {} {} = {e};", ctype(*to), self.raw(*dst))?;
            }
            Inst::Acc { dst, op, dtype } => {
                let v = self.raw(*dst);
                let t = ctype(*dtype);
                match acc_kind(*op, *dtype) {
                    AccKind::CompSum => {
                        let z = Lit::of(*dtype, 0.0);
                        writeln!(w, "{ind}{t} {v} = {z}, {v}_c = {z};")?;
                    }
                    AccKind::Arg => {
                        let z = Lit::of(*dtype, 0.0);
                        writeln!(w, "{ind}{t} {v}_v = {z};")?;
                        writeln!(w, "{ind}long long {v} = -1LL;")?;
                    }
                    AccKind::Plain => {
                        writeln!(w, "{ind}{t} {v} = {};", Lit(acc_identity(*op, *dtype)))?;
                    }
                }
                self.accs.insert(*dst, (*op, *dtype));
            }
            Inst::Update { acc, value } => {
                let (op, dt) = self.accs.get(acc).copied().ok_or(fmt::Error)?;
                let (a, x) = (self.raw(*acc), self.val(*value));
                if acc_kind(op, dt) == AccKind::CompSum {
                    writeln!(w, "{ind}ember_neumaier({a}, {a}_c, {x});")?;
                } else {
                    let e = Binary {
                        op: ops::fold_op(op),
                        dt,
                        a: &a,
                        b: &x,
                    };
                    writeln!(w, "{ind}{a} = {e};")?;
                }
            }
            Inst::UpdateArg { acc, value, index } => {
                let (op, _) = self.accs.get(acc).copied().ok_or(fmt::Error)?;
                let (a, x, j) = (self.raw(*acc), self.val(*value), self.val(*index));
                let max = op == ReduceOp::ArgMax;
                writeln!(w, "{ind}ember_arg_fold<{max}>({a}_v, {a}, {x}, {j});")?;
            }
        }
        Ok(())
    }

    /// Combines a row-level accumulator across the block (after the split loop updating it).
    fn block_reduce(&self, w: &mut dyn Write, acc: Var) -> fmt::Result {
        let (op, dt) = self.accs.get(&acc).copied().ok_or(fmt::Error)?;
        let ind = Indent(self.depth + 1);
        let a = self.raw(acc);
        let t = ctype(dt);
        let sh = format!("ember_sh_{}", dt.name());
        match acc_kind(op, dt) {
            AccKind::Arg => {
                let max = op == ReduceOp::ArgMax;
                writeln!(
                    w,
                    "{ind}ember_block_arg<{max}>({a}_v, {a}, {sh}, ember_sh_int64);"
                )
            }
            _ if dt == DType::Bool => {
                let f = match ops::fold_op(op) {
                    ember_ir::BinaryOp::Or | ember_ir::BinaryOp::Add | ember_ir::BinaryOp::Max => {
                        "__syncthreads_or"
                    }
                    _ => "__syncthreads_and",
                };
                writeln!(w, "{ind}{a} = {f}({a}) != 0;")
            }
            AccKind::CompSum => writeln!(
                w,
                "{ind}ember_block_comp({a}, {a}_c, {sh}, ember_shc_{});",
                dt.name()
            ),
            _ => {
                let (x, y) = (Named("a"), Named("b"));
                let e = Binary {
                    op: ops::fold_op(op),
                    dt,
                    a: &x,
                    b: &y,
                };
                writeln!(
                    w,
                    "{ind}{a} = ember_block_reduce({a}, []({t} a, {t} b) {{ return {e}; }}, {sh});"
                )
            }
        }
    }

    /// The vector path of a flat elementwise kernel, before its scalar grid-stride loop (which
    /// then covers only the tail, or everything when the path is not taken).
    fn vector_path(&mut self, w: &mut dyn Write, n: usize) -> fmt::Result {
        let (lo, hi) = (1, self.k.body.len().saturating_sub(1));
        let mut used = BTreeSet::new();
        let mut stored = BTreeSet::new();
        for inst in &self.k.body[lo..hi] {
            match inst {
                Inst::Load { arg, .. } => {
                    used.insert(*arg);
                }
                Inst::Store { arg, .. } => {
                    used.insert(*arg);
                    stored.insert(*arg);
                }
                _ => {}
            }
        }
        writeln!(
            w,
            "  const long long ember_tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;"
        )?;
        writeln!(
            w,
            "  const long long ember_step = (long long)gridDim.x * blockDim.x;"
        )?;
        writeln!(w, "  long long ember_start = 0LL;")?;
        let mut conds: Vec<String> = used.iter().map(|a| format!("a{a}_s0 == 1LL")).collect();
        conds.extend(used.iter().map(|a| format!("ember_aligned(a{a})")));
        if conds.is_empty() {
            conds.push("true".into());
        }
        writeln!(w, "  if ({}) {{", conds.join(" && "))?;
        let nv = Lit::of(DType::I64, (n / VEC) as f64);
        writeln!(
            w,
            "    for (long long ember_q = ember_tid; ember_q < {nv}; ember_q += ember_step) {{"
        )?;
        for &a in &used {
            let t = mem_type(self.k.args[a as usize].dtype);
            if stored.contains(&a) {
                writeln!(w, "      ember_vec4<{t}> a{a}_q;")?;
            } else {
                writeln!(
                    w,
                    "      const ember_vec4<{t}> a{a}_q = reinterpret_cast<const ember_vec4<{t}>*>(a{a})[ember_q];"
                )?;
            }
        }
        let saved = self.depth;
        self.depth = 2;
        let pv = self.plan.rows.map(|(v, _)| v).unwrap_or(Var(0));
        // The element index is needed only when a value is computed from it (loads and
        // stores go through the vectors).
        let index_used = self.k.body[lo..hi].iter().any(|i| {
            !matches!(i, Inst::Load { .. } | Inst::Store { .. }) && i.uses().contains(&pv)
        });
        for lane in 0..VEC {
            self.lane = Some(lane);
            if index_used {
                let v = self.raw(pv);
                writeln!(
                    w,
                    "      const long long {v} = ember_q * {VEC}LL + {lane}LL;"
                )?;
            }
            for i in lo..hi {
                self.lane_inst(w, i, lane)?;
            }
        }
        self.lane = None;
        self.depth = saved;
        for &a in &stored {
            let t = mem_type(self.k.args[a as usize].dtype);
            writeln!(
                w,
                "      reinterpret_cast<ember_vec4<{t}>*>(a{a})[ember_q] = a{a}_q;"
            )?;
        }
        writeln!(w, "    }}")?;
        writeln!(
            w,
            "    ember_start = {};",
            Lit::of(DType::I64, (n / VEC * VEC) as f64)
        )?;
        writeln!(w, "  }}")
    }

    /// One instruction of one lane of the vector path: loads and stores go through the
    /// vectors, everything else is the scalar instruction with lane-suffixed names.
    fn lane_inst(&mut self, w: &mut dyn Write, i: usize, lane: usize) -> fmt::Result {
        let ind = Indent(self.depth + 1);
        match &self.k.body[i] {
            Inst::Load { dst, arg, .. } => {
                let dt = self.ty(*dst);
                let v = self.raw(*dst);
                if dt == DType::Bool {
                    writeln!(w, "{ind}const bool {v} = a{arg}_q.v[{lane}] != 0;")
                } else {
                    writeln!(w, "{ind}const {} {v} = a{arg}_q.v[{lane}];", ctype(dt))
                }
            }
            Inst::Store { arg, value, .. } => {
                let conv = if self.ty(*value) == DType::Bool {
                    "(unsigned char)"
                } else {
                    ""
                };
                writeln!(w, "{ind}a{arg}_q.v[{lane}] = {conv}{};", self.val(*value))
            }
            _ => self.inst(w, i),
        }
    }
}

/// A named operand (the parameters of a reduction's combine function).
struct Named(&'static str);
impl Display for Named {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// `aN[i * aN_s0 + j * aN_s1]`: the element an index addresses.
struct Elem<'a, 'k> {
    arg: u32,
    index: &'a [Var],
    r: &'a R<'k>,
}

impl Display for Elem<'_, '_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let a = self.arg;
        write!(f, "a{a}[")?;
        if self.index.is_empty() {
            f.write_str("0")?;
        }
        for (d, v) in self.index.iter().enumerate() {
            if d > 0 {
                f.write_str(" + ")?;
            }
            write!(f, "{} * a{a}_s{d}", self.r.val(*v))?;
        }
        f.write_str("]")
    }
}
