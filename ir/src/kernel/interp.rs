//! The reference interpreter: runs a [`Kernel`] over host buffers one instruction at a time.
//! It defines what a kernel means; backends are tested against it.
//!
//! Float sums are accumulated exactly enough to serve as a reference (float32 in float64,
//! float64 with Neumaier compensation) and rounded once when read, so any summation order a
//! backend picks is within a few ULP of the interpreter's result for well-conditioned sums.
//!
//! Reading back an output (see the [`super`] module docs) is checked per element: a load from
//! an output argument must read an element stored in the current row by a row-level loop that
//! has closed since; anything else (an element not stored yet, stored by the loop still open,
//! at row level, or in another row) is an error, since backends may not order those accesses.

use super::eval;
use super::{acc_identity, Inst, Kernel, Var};
use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::literal::Scalar;
use crate::op::ReduceOp;
use std::collections::HashSet;

/// A host buffer for the interpreter: raw native-endian bytes plus the strided view the kernel
/// argument sees (`offset` and `strides` in elements).
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// Element type.
    pub dtype: DType,
    /// Backing bytes.
    pub data: Vec<u8>,
    /// Element offset of index `[0, 0, ...]`.
    pub offset: usize,
    /// Element strides of the view, one per dimension of the argument.
    pub strides: Vec<isize>,
}

impl Buffer {
    /// A zeroed C-contiguous buffer for `shape`.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Buffer {
        let n: usize = shape.iter().product();
        Buffer {
            dtype,
            data: vec![0; n * dtype.size()],
            offset: 0,
            strides: crate::shape::contiguous_strides(shape).to_vec(),
        }
    }

    /// A C-contiguous buffer holding `values` converted to `dtype` (`astype` semantics).
    pub fn from_f64s(dtype: DType, shape: &[usize], values: &[f64]) -> Buffer {
        let mut b = Buffer::zeros(dtype, shape);
        b.data.clear();
        for &v in values {
            b.data.extend(Scalar::F64(v).cast(dtype).to_bytes());
        }
        b
    }

    /// Element `i` of the backing storage (not of the view).
    pub fn get_raw(&self, i: usize) -> Scalar {
        let sz = self.dtype.size();
        Scalar::from_bytes(self.dtype, &self.data[i * sz..(i + 1) * sz])
    }

    /// All elements of the backing storage as f64.
    pub fn to_f64s(&self) -> Vec<f64> {
        (0..self.data.len() / self.dtype.size())
            .map(|i| self.get_raw(i).to_f64())
            .collect()
    }

    fn element(&self, index: &[i64]) -> Option<usize> {
        if index.len() != self.strides.len() {
            return None;
        }
        let mut at = self.offset as i64;
        for (&i, &s) in index.iter().zip(&self.strides) {
            at += i * s as i64;
        }
        let at = usize::try_from(at).ok()?;
        (at < self.data.len() / self.dtype.size().max(1)).then_some(at)
    }
}

#[derive(Clone, Copy)]
enum AccState {
    Plain(Scalar),
    /// float sums: running sum and compensation.
    Sum(f64, f64),
    /// argmax/argmin: best value so far (None before the first), its index.
    Arg(Option<Scalar>, i64),
}

struct Machine<'a> {
    k: &'a Kernel,
    vals: Vec<Option<Scalar>>,
    accs: Vec<Option<(ReduceOp, DType, AccState)>>,
    ends: Vec<usize>,
    /// Output elements `(arg, element)` the current row may read back.
    readable: HashSet<(u32, usize)>,
    /// Output elements stored by each open non-parallel loop (innermost last).
    pending: Vec<HashSet<(u32, usize)>>,
    /// Whether execution is inside a row (a parallel iteration, or anywhere when the kernel
    /// has no parallel loop).
    in_row: bool,
}

fn err(k: &Kernel, why: String) -> IrError {
    IrError::Verify(format!("kernel {} (interpreter): {why}", k.name))
}

/// Runs `kernel` over `buffers` (one per argument, in order; outputs are written in place).
/// Errors on a kernel that does not verify, a wrong buffer count or dtype, or an index outside
/// a buffer.
pub fn run(kernel: &Kernel, buffers: &mut [Buffer]) -> Result<()> {
    let types = kernel.verify()?;
    if buffers.len() != kernel.args.len() {
        return Err(err(
            kernel,
            format!(
                "{} buffers for {} arguments",
                buffers.len(),
                kernel.args.len()
            ),
        ));
    }
    for (i, (b, a)) in buffers.iter().zip(&kernel.args).enumerate() {
        if b.dtype != a.dtype || b.strides.len() != a.shape.len() {
            return Err(err(
                kernel,
                format!("buffer {i} does not match argument {i}"),
            ));
        }
    }
    let ends = kernel.loop_ends();
    let mut m = Machine {
        k: kernel,
        vals: vec![None; types.len()],
        accs: vec![None; types.len()],
        ends,
        readable: HashSet::new(),
        pending: Vec::new(),
        in_row: kernel.parallel_loop().is_none()
            && !kernel
                .body
                .iter()
                .any(|i| matches!(i, Inst::Loop { parallel: true, .. })),
    };
    m.exec(0, kernel.body.len(), buffers)
}

impl Machine<'_> {
    fn get(&self, v: Var) -> Result<Scalar> {
        self.vals
            .get(v.0 as usize)
            .copied()
            .flatten()
            .ok_or_else(|| err(self.k, format!("%{} has no value", v.0)))
    }

    fn index(&self, index: &[Var]) -> Result<Vec<i64>> {
        index
            .iter()
            .map(|&v| match self.get(v)? {
                Scalar::I64(i) => Ok(i),
                _ => Err(err(self.k, "index is not i64".into())),
            })
            .collect()
    }

    fn exec(&mut self, from: usize, to: usize, bufs: &mut [Buffer]) -> Result<()> {
        let mut pc = from;
        while pc < to {
            let inst = &self.k.body[pc];
            match inst {
                Inst::Loop {
                    var,
                    extent,
                    parallel,
                } => {
                    let end = self.ends[pc];
                    if !*parallel {
                        self.pending.push(HashSet::new());
                    }
                    for i in 0..*extent {
                        if *parallel {
                            // A new row: nothing of the last one can be read back.
                            self.readable.clear();
                            self.in_row = true;
                        }
                        self.vals[var.0 as usize] = Some(Scalar::I64(i as i64));
                        self.exec(pc + 1, end, bufs)?;
                    }
                    if *parallel {
                        self.readable.clear();
                        self.in_row = false;
                    } else {
                        let stored = self.pending.pop().unwrap_or_default();
                        match self.pending.last_mut() {
                            Some(outer) => outer.extend(stored),
                            None if self.in_row => self.readable.extend(stored),
                            None => {}
                        }
                    }
                    pc = end + 1;
                    continue;
                }
                Inst::EndLoop => {}
                Inst::Const { dst, value } => self.vals[dst.0 as usize] = Some(value.0),
                Inst::Load { dst, arg, index } => {
                    let idx = self.index(index)?;
                    let b = &bufs[*arg as usize];
                    let at = b.element(&idx).ok_or_else(|| {
                        err(
                            self.k,
                            format!("load of argument {arg} at {idx:?} is out of bounds"),
                        )
                    })?;
                    if self.k.args[*arg as usize].output && !self.readable.contains(&(*arg, at)) {
                        return Err(err(
                            self.k,
                            format!(
                                "load of output argument {arg} at {idx:?} reads an element no \
                                 closed loop of this row stored"
                            ),
                        ));
                    }
                    self.vals[dst.0 as usize] = Some(b.get_raw(at));
                }
                Inst::Store { arg, index, value } => {
                    let idx = self.index(index)?;
                    let v = self.get(*value)?;
                    let b = &mut bufs[*arg as usize];
                    let at = b.element(&idx).ok_or_else(|| {
                        err(
                            self.k,
                            format!("store to argument {arg} at {idx:?} is out of bounds"),
                        )
                    })?;
                    let sz = b.dtype.size();
                    b.data[at * sz..(at + 1) * sz].copy_from_slice(&v.to_bytes());
                    self.readable.remove(&(*arg, at));
                    if let Some(open) = self.pending.last_mut() {
                        open.insert((*arg, at));
                    }
                }
                Inst::Unary { dst, op, x } => {
                    self.vals[dst.0 as usize] = Some(eval::unary(*op, self.get(*x)?));
                }
                Inst::Binary { dst, op, a, b } => {
                    self.vals[dst.0 as usize] =
                        Some(eval::binary(*op, self.get(*a)?, self.get(*b)?));
                }
                Inst::Select { dst, cond, a, b } => {
                    let c = matches!(self.get(*cond)?, Scalar::Bool(true));
                    self.vals[dst.0 as usize] = Some(if c { self.get(*a)? } else { self.get(*b)? });
                }
                Inst::Cast { dst, to, x } => {
                    self.vals[dst.0 as usize] = Some(eval::cast(self.get(*x)?, *to));
                }
                Inst::Acc { dst, op, dtype } => {
                    let state = match (op, dtype) {
                        (ReduceOp::Sum, DType::F32 | DType::F64) => AccState::Sum(0.0, 0.0),
                        (ReduceOp::ArgMax | ReduceOp::ArgMin, _) => AccState::Arg(None, 0),
                        _ => AccState::Plain(acc_identity(*op, *dtype)),
                    };
                    self.accs[dst.0 as usize] = Some((*op, *dtype, state));
                    self.publish(*dst);
                }
                Inst::Update { acc, value } | Inst::UpdateArg { acc, value, .. } => {
                    let v = self.get(*value)?;
                    let at = match inst {
                        Inst::UpdateArg { index, .. } => match self.get(*index)? {
                            Scalar::I64(i) => i,
                            _ => 0,
                        },
                        _ => 0,
                    };
                    let slot = self.accs[acc.0 as usize]
                        .as_mut()
                        .ok_or_else(|| err(self.k, format!("%{} is not an accumulator", acc.0)))?;
                    slot.2 = fold(slot.0, slot.2, v, at);
                    self.publish(*acc);
                }
            }
            pc += 1;
        }
        Ok(())
    }

    /// Makes an accumulator's current result visible as its SSA value.
    fn publish(&mut self, acc: Var) {
        if let Some((op, dtype, state)) = self.accs[acc.0 as usize] {
            let v = match state {
                AccState::Plain(s) => s,
                // An infinite sum leaves a NaN compensation behind; the sum itself is right.
                AccState::Sum(s, c) => {
                    let v = if c.is_finite() { s + c } else { s };
                    match dtype {
                        DType::F32 => Scalar::F32(v as f32),
                        _ => Scalar::F64(v),
                    }
                }
                AccState::Arg(_, i) => Scalar::I64(i),
            };
            let _ = op;
            self.vals[acc.0 as usize] = Some(v);
        }
    }
}

fn is_nan(s: Scalar) -> bool {
    match s {
        Scalar::F32(v) => v.is_nan(),
        Scalar::F64(v) => v.is_nan(),
        _ => false,
    }
}

fn fold(op: ReduceOp, state: AccState, v: Scalar, at: i64) -> AccState {
    use crate::op::BinaryOp;
    match state {
        AccState::Sum(s, c) => {
            // Neumaier's compensated summation.
            let x = v.to_f64();
            let t = s + x;
            let c = if s.abs() >= x.abs() {
                c + ((s - t) + x)
            } else {
                c + ((x - t) + s)
            };
            AccState::Sum(t, c)
        }
        AccState::Arg(best, i) => {
            let better = match best {
                None => true,
                Some(b) if is_nan(b) => false,
                Some(_) if is_nan(v) => true,
                Some(b) => {
                    let cmp = if op == ReduceOp::ArgMax {
                        BinaryOp::Gt
                    } else {
                        BinaryOp::Lt
                    };
                    matches!(eval::binary(cmp, v, b), Scalar::Bool(true))
                }
            };
            if better {
                AccState::Arg(Some(v), at)
            } else {
                AccState::Arg(best, i)
            }
        }
        AccState::Plain(a) => AccState::Plain(match op {
            ReduceOp::Sum => eval::binary(BinaryOp::Add, a, v),
            ReduceOp::Prod => eval::binary(BinaryOp::Mul, a, v),
            ReduceOp::Max => eval::binary(BinaryOp::Max, a, v),
            ReduceOp::Min => eval::binary(BinaryOp::Min, a, v),
            ReduceOp::Any => eval::binary(BinaryOp::Or, a, v),
            ReduceOp::All => eval::binary(BinaryOp::And, a, v),
            ReduceOp::ArgMax | ReduceOp::ArgMin => a,
        }),
    }
}
