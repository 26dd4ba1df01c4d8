//! The tiled lowering of matrix products: a kernel whose body is a matrix product (optionally
//! batched) followed by an elementwise epilogue is recognized in the kernel IR and rendered as
//! a shared-memory tiled GEMM instead of the generic block-per-row plan.
//!
//! The recognized form (what `matmul_kernel` in the runtime produces, alone or combined with
//! the fusion pass's matmul epilogue by [`super::epilogue::fuse`]):
//!
//! ```text
//! [loop b]                      optional batch loop (outermost)
//!   loop i                        rows of C (extent M)
//!     pre...                      pure instructions (loads, math) of b, i
//!     loop j                      columns of C (extent N)
//!       pre...                    pure instructions of b, i, j
//!       acc = sum (f32 or f64)
//!       loop p                    the reduction (extent K)
//!         x = A[.. i .. p ..]; y = B[.. p .. j ..]; acc += x * y
//!       post...                   pure instructions reading acc, and stores indexed by i and j
//! ```
//!
//! The lowering: each block owns [`BM`] x [`BN`] tiles of C (a grid-stride loop over tiles,
//! batch-major), its [`THREADS`] threads hold a [`TM`] x [`TN`] register tile each (thread
//! `(ty, tx)` owns rows `ty + 16 r` and columns `tx + 16 q`, so loads of B from shared memory
//! and stores of C are consecutive across a half-warp), and the `k` loop walks [`BK`]-wide
//! slices of A and B through shared memory with a barrier before and after the inner
//! products. Each slice element is loaded by one thread, zero outside the matrices (edges
//! that are not multiples of the tile), and the mapping of threads to elements follows the
//! operand's layout at run time (the unit-stride axis goes across threads, so row-major,
//! transposed and batched views all load coalesced). The products accumulate with one
//! rounding per step (`fma`), in order of `k`, like cuBLAS; the kernel IR's compensated float
//! sums are not used here. After the `k` loop every owned element inside C runs the
//! pre and post instructions (the epilogue) with the accumulator's value.
//!
//! [`super::grid`] runs the same tiles, slices, thread mapping and barriers on the CPU.

use ember_ir::kernel::{ArgId, Inst, Kernel, Var};
use ember_ir::{BinaryOp, DType, ReduceOp};
use smallvec::SmallVec;
use std::fmt::{self, Write};

/// Rows of C per block tile.
pub const BM: usize = 64;
/// Columns of C per block tile.
pub const BN: usize = 64;
/// Width of the `k` slices staged in shared memory.
pub const BK: usize = 16;
/// Rows of C per thread.
pub const TM: usize = 4;
/// Columns of C per thread.
pub const TN: usize = 4;
/// Threads per block (`(BM / TM) * (BN / TN)`).
pub const THREADS: usize = (BM / TM) * (BN / TN);
/// Threads along a tile's columns.
const TX: usize = BN / TN;
/// Threads along a tile's rows.
const TY: usize = BM / TM;
/// Padding of the shared-memory rows (bank conflicts of the column-wise stores).
pub const PAD: usize = 1;

/// One operand load of the inner product: `dst = arg[index]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operand {
    /// The argument read.
    pub arg: ArgId,
    /// Its index variables, one per dimension of the argument's view.
    pub index: SmallVec<[Var; 4]>,
}

impl Operand {
    /// The dimensions of the argument that `var` indexes (its stride is their sum).
    pub fn dims_of(&self, var: Var) -> Vec<usize> {
        (0..self.index.len())
            .filter(|&d| self.index[d] == var)
            .collect()
    }
}

/// A matrix product recognized in a (normalized) kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// f32 or f64.
    pub dtype: DType,
    /// The batch loop `(var, extent)`, when there is one.
    pub batch: Option<(Var, usize)>,
    /// Rows of C: `(var, M)`.
    pub i: (Var, usize),
    /// Columns of C: `(var, N)`.
    pub j: (Var, usize),
    /// The reduction: `(var, K)`.
    pub p: (Var, usize),
    /// The accumulator, read by the epilogue.
    pub acc: Var,
    /// The left operand (indexed by `i` and `p`).
    pub a: Operand,
    /// The right operand (indexed by `p` and `j`).
    pub b: Operand,
    /// Body indices of the per-element instructions (before and after the `k` loop), in order.
    pub element: Vec<usize>,
}

impl Gemm {
    /// Matrices in the batch (1 without a batch loop).
    pub fn batches(&self) -> usize {
        self.batch.map_or(1, |b| b.1)
    }

    /// Block tiles along the rows and the columns of one matrix.
    pub fn tiles_per_matrix(&self) -> (usize, usize) {
        (self.i.1.div_ceil(BM), self.j.1.div_ceil(BN))
    }

    /// Block tiles in the whole product.
    pub fn tiles(&self) -> usize {
        let (r, c) = self.tiles_per_matrix();
        self.batches() * r * c
    }

    /// Tile `t` as `(batch, first row, first column)`.
    pub fn tile(&self, t: usize) -> (usize, usize, usize) {
        let (r, c) = self.tiles_per_matrix();
        let per = (r * c).max(1);
        let rem = t % per;
        (t / per, rem / c.max(1) * BM, rem % c.max(1) * BN)
    }
}

/// Where element `e` of a block's `A` slice goes: `(row in the tile, k in the slice)`. When
/// `k_unit` (A's `k` stride is 1), consecutive threads take consecutive `k`; otherwise
/// consecutive rows.
pub fn a_slot(e: usize, k_unit: bool) -> (usize, usize) {
    if k_unit {
        (e / BK, e % BK)
    } else {
        (e % BM, e / BM)
    }
}

/// Where element `e` of a block's `B` slice goes: `(k in the slice, column in the tile)`.
/// When `j_unit` (B's column stride is 1), consecutive threads take consecutive columns;
/// otherwise consecutive `k`.
pub fn b_slot(e: usize, j_unit: bool) -> (usize, usize) {
    if j_unit {
        (e / BN, e % BN)
    } else {
        (e % BK, e / BK)
    }
}

/// Thread `t`'s position in the block: `(ty, tx)`; it owns rows `ty + TY * r` and columns
/// `tx + TX * q` of the tile.
pub fn thread_pos(t: usize) -> (usize, usize) {
    (t / TX, t % TX)
}

/// Row `r` and column `q` of thread `(ty, tx)`'s register tile, within the block tile.
pub fn owned(ty: usize, tx: usize, r: usize, q: usize) -> (usize, usize) {
    (ty + TY * r, tx + TX * q)
}

/// The matrix product in `k` (normalized and verified), if its body has the recognized form
/// (see the module documentation) with float32 or float64 operands.
pub fn recognize(k: &Kernel) -> Option<Gemm> {
    let body = &k.body;
    let ends = k.loop_ends();
    // The update, and the loops around it from the inside out.
    let upd = body.iter().position(|i| matches!(i, Inst::Update { .. }))?;
    let loops = enclosing_loops(body, &ends, upd);
    let (p_at, j_at, i_at, b_at) = match loops.as_slice() {
        [p, j, i] => (*p, *j, *i, None),
        [p, j, i, b] => (*p, *j, *i, Some(*b)),
        _ => return None,
    };
    let outer = b_at.unwrap_or(i_at);
    // Nothing outside the outermost loop, nothing between the batch and the row loops.
    if outer != 0 || ends[0] + 1 != body.len() || (b_at.is_some() && i_at != 1) {
        return None;
    }
    let var = |at: usize| match body[at] {
        Inst::Loop { var, extent, .. } => Some((var, extent)),
        _ => None,
    };
    let (p, j, i) = (var(p_at)?, var(j_at)?, var(i_at)?);
    let batch = match b_at {
        Some(b) => Some(var(b)?),
        None => None,
    };
    // The k loop: two loads, their product, the update.
    let (acc, loads) = inner_product(&body[p_at + 1..ends[p_at]])?;
    let (acc_op, dtype) = body.iter().find_map(|x| match x {
        Inst::Acc { dst, op, dtype } if *dst == acc => Some((*op, *dtype)),
        _ => None,
    })?;
    if acc_op != ReduceOp::Sum || !matches!(dtype, DType::F32 | DType::F64) {
        return None;
    }
    let has = |o: &Operand, v: Var| o.index.contains(&v);
    let [x, y] = loads;
    let (a, b) = if has(&x, i.0) && has(&y, j.0) {
        (x, y)
    } else {
        (y, x)
    };
    if !has(&a, i.0) || !has(&b, j.0) || !has(&a, p.0) || !has(&b, p.0) {
        return None;
    }
    if has(&a, j.0) || has(&b, i.0) {
        return None;
    }
    // Everything else: pure instructions at the row and column levels, the accumulator's
    // declaration, and the epilogue after the k loop (whose stores each write one element
    // of C, so each is made by the one thread that owns it).
    let is_batch = |v: Var| batch.is_some_and(|b| b.0 == v);
    let mut element = Vec::new();
    let mut acc_seen = false;
    let mut at = 1;
    while at < ends[0] {
        let inst = &body[at];
        match inst {
            Inst::Loop { .. } if at == i_at || at == j_at => {}
            Inst::Loop { .. } if at == p_at => {
                at = ends[p_at] + 1;
                continue;
            }
            // Nothing may follow the j loop in a row, or the i loop in a batch.
            Inst::EndLoop if at == ends[j_at] && at + 1 == ends[i_at] => {}
            Inst::EndLoop if b_at.is_some() && at == ends[i_at] && at + 1 == ends[0] => {}
            Inst::Acc { dst, .. } if *dst == acc && at > j_at && at < p_at => acc_seen = true,
            Inst::Store { index, .. } => {
                let after = at > ends[p_at] && at < ends[j_at];
                let known = index.iter().all(|&v| v == i.0 || v == j.0 || is_batch(v));
                let one_owner = index.contains(&i.0)
                    && index.contains(&j.0)
                    && batch.is_none_or(|b| index.contains(&b.0));
                if !(after && known && one_owner) {
                    return None;
                }
                element.push(at);
            }
            Inst::Const { .. }
            | Inst::Load { .. }
            | Inst::Unary { .. }
            | Inst::Binary { .. }
            | Inst::Select { .. }
            | Inst::Cast { .. } => {
                if let Inst::Load { arg, .. } = inst {
                    if k.args.get(*arg as usize)?.output {
                        return None;
                    }
                }
                // Before the k loop nothing may read the accumulator (it would read its
                // starting value there, the total here).
                if at < p_at && inst.uses().contains(&acc) {
                    return None;
                }
                element.push(at);
            }
            _ => return None,
        }
        at += 1;
    }
    acc_seen.then_some(Gemm {
        dtype,
        batch,
        i,
        j,
        p,
        acc,
        a,
        b,
        element,
    })
}

/// The body indices of the loops enclosing `at`, innermost first.
fn enclosing_loops(body: &[Inst], ends: &[usize], at: usize) -> Vec<usize> {
    (0..at)
        .rev()
        .filter(|&l| matches!(body[l], Inst::Loop { .. }) && ends[l] > at)
        .collect()
}

/// A k loop's body `x = A[..]; y = B[..]; t = x * y; acc += t` (in any valid order): the
/// accumulator and the two loads.
fn inner_product(inner: &[Inst]) -> Option<(Var, [Operand; 2])> {
    if inner.len() != 4 {
        return None;
    }
    let mut loads: Vec<(Var, Operand)> = Vec::new();
    let mut mul = None;
    let mut update = None;
    for inst in inner {
        match inst {
            Inst::Load { dst, arg, index } => loads.push((
                *dst,
                Operand {
                    arg: *arg,
                    index: index.clone(),
                },
            )),
            Inst::Binary {
                dst,
                op: BinaryOp::Mul,
                a,
                b,
            } => mul = Some((*dst, *a, *b)),
            Inst::Update { acc, value } => update = Some((*acc, *value)),
            _ => return None,
        }
    }
    let (prod, x, y) = mul?;
    let (acc, value) = update?;
    let [(lx, ox), (ly, oy)] = <[(Var, Operand); 2]>::try_from(loads).ok()?;
    let operands_ok = (x == lx && y == ly) || (x == ly && y == lx);
    (operands_ok && value == prod && lx != ly).then_some((acc, [ox, oy]))
}

/// The C expression of the stride of `var` in argument `o` (the sum of the strides of the
/// dimensions it indexes; `0LL` when it indexes none).
fn stride(o: &Operand, var: Var) -> String {
    let dims = o.dims_of(var);
    if dims.is_empty() {
        return "0LL".into();
    }
    let terms: Vec<String> = dims.iter().map(|d| format!("a{}_s{d}", o.arg)).collect();
    if terms.len() == 1 {
        terms[0].clone()
    } else {
        format!("({})", terms.join(" + "))
    }
}

/// Writes the body of the tiled kernel (after the signature, before the closing brace);
/// `element` writes the per-element instructions nested `depth` loops deep, as the renderer
/// counts them (the row and column variables and the accumulator's value are defined before
/// it is called).
pub fn write_body(
    w: &mut dyn Write,
    g: &Gemm,
    ctype: &str,
    zero: &str,
    element: &mut dyn FnMut(&mut dyn Write, usize) -> fmt::Result,
) -> fmt::Result {
    let (m, n, kk) = (g.i.1, g.j.1, g.p.1);
    let (tr, tc) = g.tiles_per_matrix();
    let (a, b) = (&g.a, &g.b);
    let (vi, vj, vp) = (g.i.0 .0, g.j.0 .0, g.p.0 .0);
    let fma = if g.dtype == DType::F32 { "fmaf" } else { "fma" };
    writeln!(w, "  __shared__ {ctype} ember_as[{BK}][{}];", BM + PAD)?;
    writeln!(w, "  __shared__ {ctype} ember_bs[{BK}][{}];", BN + PAD)?;
    writeln!(
        w,
        "  const int ember_ty = threadIdx.x / {TX}, ember_tx = threadIdx.x % {TX};"
    )?;
    writeln!(
        w,
        "  const long long ember_a_si = {}, ember_a_sk = {};",
        stride(a, g.i.0),
        stride(a, g.p.0)
    )?;
    writeln!(
        w,
        "  const long long ember_b_sk = {}, ember_b_sj = {};",
        stride(b, g.p.0),
        stride(b, g.j.0)
    )?;
    // The mapping of threads to slice elements follows the unit-stride axis.
    writeln!(w, "  const bool ember_a_kunit = ember_a_sk == 1LL;")?;
    writeln!(w, "  const bool ember_b_junit = ember_b_sj == 1LL;")?;
    let tiles = g.tiles();
    writeln!(
        w,
        "  for (long long ember_t = blockIdx.x; ember_t < {tiles}LL; ember_t += gridDim.x) {{"
    )?;
    let per = tr * tc;
    writeln!(w, "    const long long ember_r = ember_t % {per}LL;")?;
    writeln!(
        w,
        "    const long long ember_i0 = ember_r / {tc}LL * {BM}LL, ember_j0 = ember_r % {tc}LL * {BN}LL;"
    )?;
    let (abase, bbase) = match g.batch {
        Some((bv, _)) => {
            writeln!(w, "    const long long v{} = ember_t / {per}LL;", bv.0)?;
            (
                format!("v{} * {}", bv.0, stride(a, bv)),
                format!("v{} * {}", bv.0, stride(b, bv)),
            )
        }
        None => ("0LL".into(), "0LL".into()),
    };
    writeln!(w, "    const {ctype}* ember_a = a{} + {abase};", a.arg)?;
    writeln!(w, "    const {ctype}* ember_b = a{} + {bbase};", b.arg)?;
    writeln!(w, "    {ctype} ember_c[{TM}][{TN}];")?;
    writeln!(w, "    #pragma unroll")?;
    writeln!(w, "    for (int ember_u = 0; ember_u < {TM}; ++ember_u) {{")?;
    writeln!(w, "      #pragma unroll")?;
    writeln!(
        w,
        "      for (int ember_q = 0; ember_q < {TN}; ++ember_q) ember_c[ember_u][ember_q] = {zero};"
    )?;
    writeln!(w, "    }}")?;
    writeln!(
        w,
        "    for (long long v{vp} = 0LL; v{vp} < {kk}LL; v{vp} += {BK}LL) {{"
    )?;
    // A's slice: BM rows x BK k; B's: BK k x BN columns; one element per thread and step.
    writeln!(
        w,
        "      for (int ember_e = threadIdx.x; ember_e < {}; ember_e += {THREADS}) {{",
        BM * BK
    )?;
    writeln!(
        w,
        "        const int ember_row = ember_a_kunit ? ember_e / {BK} : ember_e % {BM};"
    )?;
    writeln!(
        w,
        "        const int ember_k = ember_a_kunit ? ember_e % {BK} : ember_e / {BM};"
    )?;
    writeln!(
        w,
        "        const long long ember_gi = ember_i0 + ember_row, ember_gk = v{vp} + ember_k;"
    )?;
    writeln!(
        w,
        "        ember_as[ember_k][ember_row] = (ember_gi < {m}LL && ember_gk < {kk}LL) ? ember_a[ember_gi * ember_a_si + ember_gk * ember_a_sk] : {zero};"
    )?;
    writeln!(w, "      }}")?;
    writeln!(
        w,
        "      for (int ember_e = threadIdx.x; ember_e < {}; ember_e += {THREADS}) {{",
        BK * BN
    )?;
    writeln!(
        w,
        "        const int ember_k = ember_b_junit ? ember_e / {BN} : ember_e % {BK};"
    )?;
    writeln!(
        w,
        "        const int ember_col = ember_b_junit ? ember_e % {BN} : ember_e / {BK};"
    )?;
    writeln!(
        w,
        "        const long long ember_gk = v{vp} + ember_k, ember_gj = ember_j0 + ember_col;"
    )?;
    writeln!(
        w,
        "        ember_bs[ember_k][ember_col] = (ember_gk < {kk}LL && ember_gj < {n}LL) ? ember_b[ember_gk * ember_b_sk + ember_gj * ember_b_sj] : {zero};"
    )?;
    writeln!(w, "      }}")?;
    writeln!(w, "      __syncthreads();")?;
    writeln!(w, "      #pragma unroll")?;
    writeln!(
        w,
        "      for (int ember_k = 0; ember_k < {BK}; ++ember_k) {{"
    )?;
    writeln!(w, "        {ctype} ember_x[{TM}], ember_y[{TN}];")?;
    writeln!(w, "        #pragma unroll")?;
    writeln!(
        w,
        "        for (int ember_u = 0; ember_u < {TM}; ++ember_u) ember_x[ember_u] = ember_as[ember_k][ember_ty + {TY} * ember_u];"
    )?;
    writeln!(w, "        #pragma unroll")?;
    writeln!(
        w,
        "        for (int ember_q = 0; ember_q < {TN}; ++ember_q) ember_y[ember_q] = ember_bs[ember_k][ember_tx + {TX} * ember_q];"
    )?;
    writeln!(w, "        #pragma unroll")?;
    writeln!(
        w,
        "        for (int ember_u = 0; ember_u < {TM}; ++ember_u) {{"
    )?;
    writeln!(w, "          #pragma unroll")?;
    writeln!(
        w,
        "          for (int ember_q = 0; ember_q < {TN}; ++ember_q) ember_c[ember_u][ember_q] = {fma}(ember_x[ember_u], ember_y[ember_q], ember_c[ember_u][ember_q]);"
    )?;
    writeln!(w, "        }}")?;
    writeln!(w, "      }}")?;
    // The slices are overwritten by the next step only after everyone has used them.
    writeln!(w, "      __syncthreads();")?;
    writeln!(w, "    }}")?;
    writeln!(w, "    #pragma unroll")?;
    writeln!(w, "    for (int ember_u = 0; ember_u < {TM}; ++ember_u) {{")?;
    writeln!(
        w,
        "      const long long v{vi} = ember_i0 + ember_ty + {TY} * ember_u;"
    )?;
    writeln!(w, "      if (v{vi} < {m}LL) {{")?;
    writeln!(w, "        #pragma unroll")?;
    writeln!(
        w,
        "        for (int ember_q = 0; ember_q < {TN}; ++ember_q) {{"
    )?;
    writeln!(
        w,
        "          const long long v{vj} = ember_j0 + ember_tx + {TX} * ember_q;"
    )?;
    writeln!(w, "          if (v{vj} < {n}LL) {{")?;
    writeln!(
        w,
        "            const {ctype} v{} = ember_c[ember_u][ember_q];",
        g.acc.0
    )?;
    element(w, 5)?;
    writeln!(w, "          }}")?;
    writeln!(w, "        }}")?;
    writeln!(w, "      }}")?;
    writeln!(w, "    }}")?;
    writeln!(w, "  }}")
}
