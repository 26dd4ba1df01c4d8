//! Differential testing on random programs: every program runs (a) eagerly on concrete
//! tensors, (b) traced and compiled with the optimizer, (c) traced and run by an executable
//! built straight from the unoptimized graph, (d) from the graph re-parsed from its text form,
//! (e) through `ember::jit`, (f) placed on a simulated GPU, (g) placed by the cost model, and
//! (h) through `ember::jit` with the arguments on that GPU. All of them must agree: exactly for bool and integer results
//! (Ember defines wrapping integer arithmetic and `x // 0 == x % 0 == 0`, like NumPy), within a
//! magnitude-scaled tolerance for floats (NaN equal to NaN).
//!
//! A program is 1-12 instructions over 1-3 inputs of random small shapes (size-1 broadcast
//! dimensions, 0-d and, rarely, empty ones) and every dtype. An instruction names its operands
//! relative to the newest value and its axes by masks, so it can be applied to whatever
//! values exist. Instructions whose types do not fit (`Op::infer` errors) are skipped, and the
//! tracer and the eager path must agree on which ones those are. The only data-dependent error
//! (an integer raised to a negative integer power) discards the case, after checking that the
//! unoptimized executable raises it too.
//!
//! `PROPTEST_CASES=n` runs more cases than the default 256; `EMBER_RANDOM_SEED=1` draws fresh
//! programs instead of the fixed sequence CI runs.

mod common;

use common::{compare_all_at, fingerprint, random_tensor, Precision};
use ember::ir::{verify, BinaryOp, Graph, ReduceOp, UnaryOp};
use ember::jit::{compile, CompileOptions, DevicePolicy};
use ember::ops::{self, IndexItem, Operand};
use ember::runtime::Executable;
use ember::trace::Trace;
use ember::{DType, Device, EmberError, Tensor};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The simulated GPU the placed paths run on (kernels in the CUDA grid simulator).
const GPU: Device = Device::Cuda(0);

// ---------------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------------

/// A weakly typed scalar operand (a Python scalar in NumPy terms).
#[derive(Clone, Copy, Debug)]
enum Weak {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Weak {
    fn operand(self) -> Operand {
        match self {
            Weak::Bool(v) => v.into(),
            Weak::Int(v) => v.into(),
            Weak::Float(v) => v.into(),
        }
    }
}

/// Axes to reduce over: all of them (`None`), or those whose bit is set (bit 7 asks for the
/// negative spelling of each axis).
#[derive(Clone, Copy, Debug)]
enum Axes {
    All,
    Mask(u8),
}

impl Axes {
    fn resolve(self, ndim: usize) -> Option<Vec<i64>> {
        match self {
            Axes::All => None,
            Axes::Mask(m) => Some(
                (0..ndim.min(7))
                    .filter(|i| m & (1 << i) != 0)
                    .map(|i| {
                        if m & 0x80 != 0 {
                            i as i64 - ndim as i64
                        } else {
                            i as i64
                        }
                    })
                    .collect(),
            ),
        }
    }
}

/// The composite (high-level) functions.
#[derive(Clone, Copy, Debug)]
enum Comp {
    Mean,
    Var,
    Std,
    LogSumExp,
    Softmax,
    LogSoftmax,
    Gelu(bool),
    Silu,
    LayerNorm,
}

/// Ways to reshape a value whatever its shape.
#[derive(Clone, Copy, Debug)]
enum Reshape {
    Ravel,
    Reverse,
    /// Merge the first two dimensions (`-1` spelling).
    MergeLeading,
    /// A size-1 dimension before and after.
    Pad,
    /// The shape with dimension `k % ndim` spelled `-1`.
    Infer(u8),
}

/// One step of a program. Operands are `u8`s counted back from the newest value (`0` is the
/// newest), modulo the number of values.
#[derive(Clone, Debug)]
enum Instr {
    Unary(UnaryOp, u8),
    Binary(BinaryOp, u8, u8),
    /// `op(x, s)`, or `op(s, x)` when the flag is set.
    BinaryWeak(BinaryOp, u8, Weak, bool),
    /// `op(x, c)` with `c` a captured constant of the given dtype whose shape is the last
    /// `k` dimensions of `x`'s.
    BinaryConst(BinaryOp, u8, DType, u8, u64),
    Where(u8, u8, u8),
    WhereWeak(u8, u8, Weak),
    Cast(u8, DType),
    Clip(u8, Option<Weak>, Option<Weak>),
    Reduce(ReduceOp, u8, Axes, bool),
    ArgReduce(bool, u8, Option<i8>, bool),
    Composite(Comp, u8, Axes, bool, u8, i8),
    Reshape(u8, Reshape),
    Transpose(u8, Option<u64>),
    SwapAxes(u8, i8, i8),
    ExpandDims(u8, i8),
    Squeeze(u8, Option<i8>),
    /// `broadcast_to` a shape with an optional new leading dimension and size-1 dimensions
    /// grown to the given size.
    BroadcastTo(u8, Option<u8>, u8),
    Index(u8, Vec<IndexItem>),
    MatMul(u8, u8),
    /// `x @ swapaxes(x, -1, -2)` (or `x @ x` for vectors): a matmul whose shapes fit.
    Gram(u8),
    Concat(u8, u8, i8),
    Stack(u8, u8, i8),
}

impl Instr {
    /// The family the instruction belongs to, for coverage counts.
    fn family(&self) -> &'static str {
        match self {
            Instr::Unary(..) => "unary",
            Instr::Binary(..) => "binary",
            Instr::BinaryWeak(..) => "binary-weak-scalar",
            Instr::BinaryConst(..) => "binary-constant",
            Instr::Where(..) | Instr::WhereWeak(..) => "where",
            Instr::Cast(..) => "cast",
            Instr::Clip(..) => "clip",
            Instr::Reduce(..) => "reduce",
            Instr::ArgReduce(..) => "argreduce",
            Instr::Composite(..) => "composite",
            Instr::Reshape(..) | Instr::ExpandDims(..) | Instr::Squeeze(..) => "reshape",
            Instr::Transpose(..) | Instr::SwapAxes(..) => "transpose",
            Instr::BroadcastTo(..) => "broadcast",
            Instr::Index(..) => "index",
            Instr::MatMul(..) | Instr::Gram(..) => "matmul",
            Instr::Concat(..) | Instr::Stack(..) => "concat",
        }
    }
}

/// One argument: its dtype, how its shape derives from the program's base shape (the last
/// `suffix` dimensions, those in `ones` set to 1), its layout and its data.
#[derive(Clone, Debug)]
struct InputSpec {
    dtype: DType,
    suffix: u8,
    ones: u8,
    transposed: bool,
    seed: u64,
}

/// A random program.
#[derive(Clone, Debug)]
struct Program {
    base: Vec<usize>,
    inputs: Vec<InputSpec>,
    instrs: Vec<Instr>,
    /// Extra outputs (counted back from the newest value); the newest value is always one.
    outputs: Vec<u8>,
}

impl InputSpec {
    fn shape(&self, base: &[usize]) -> Vec<usize> {
        let k = (self.suffix as usize) % (base.len() + 1);
        base[base.len() - k..]
            .iter()
            .enumerate()
            .map(|(i, &d)| if self.ones & (1 << i) != 0 { 1 } else { d })
            .collect()
    }

    fn tensor(&self, base: &[usize]) -> Tensor {
        random_tensor(
            self.dtype,
            &self.shape(base),
            self.seed,
            true,
            self.transposed,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn dtype() -> impl Strategy<Value = DType> {
    prop::sample::select(vec![
        DType::Bool,
        DType::I32,
        DType::I64,
        DType::F32,
        DType::F64,
    ])
}

fn weak() -> impl Strategy<Value = Weak> {
    prop_oneof![
        any::<bool>().prop_map(Weak::Bool),
        prop::sample::select(vec![0i64, 1, -1, 2, 3, -7, 1 << 40]).prop_map(Weak::Int),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            0.5,
            -2.5,
            1e10,
            f64::NAN,
            f64::INFINITY
        ])
        .prop_map(Weak::Float),
    ]
}

fn axes() -> impl Strategy<Value = Axes> {
    prop_oneof![Just(Axes::All), any::<u8>().prop_map(Axes::Mask)]
}

fn index_item() -> impl Strategy<Value = IndexItem> {
    let bound = || prop::option::of(-4i64..5);
    let step = prop::option::of(prop::sample::select(vec![1i64, 2, 3, -1, -2]));
    prop_oneof![
        1 => (-3i64..3).prop_map(IndexItem::Int),
        4 => (bound(), bound(), step).prop_map(|(a, b, s)| IndexItem::Slice(a, b, s)),
        1 => Just(IndexItem::NewAxis),
        1 => Just(IndexItem::Ellipsis),
    ]
}

fn comp() -> impl Strategy<Value = Comp> {
    prop_oneof![
        Just(Comp::Mean),
        Just(Comp::Var),
        Just(Comp::Std),
        Just(Comp::LogSumExp),
        Just(Comp::Softmax),
        Just(Comp::LogSoftmax),
        any::<bool>().prop_map(Comp::Gelu),
        Just(Comp::Silu),
        Just(Comp::LayerNorm),
    ]
}

fn reshape_kind() -> impl Strategy<Value = Reshape> {
    prop_oneof![
        Just(Reshape::Ravel),
        Just(Reshape::Reverse),
        Just(Reshape::MergeLeading),
        Just(Reshape::Pad),
        any::<u8>().prop_map(Reshape::Infer),
    ]
}

fn instr() -> impl Strategy<Value = Instr> {
    let v = || 0u8..6;
    let unary = prop::sample::select(UnaryOp::ALL.to_vec());
    let binary = || prop::sample::select(BinaryOp::ALL.to_vec());
    let reduce = prop::sample::select(ReduceOp::ALL.to_vec());
    prop_oneof![
        4 => (unary, v()).prop_map(|(op, a)| Instr::Unary(op, a)),
        5 => (binary(), v(), v()).prop_map(|(op, a, b)| Instr::Binary(op, a, b)),
        3 => (binary(), v(), weak(), any::<bool>())
            .prop_map(|(op, a, w, l)| Instr::BinaryWeak(op, a, w, l)),
        2 => (binary(), v(), dtype(), 0u8..4, any::<u64>())
            .prop_map(|(op, a, d, k, s)| Instr::BinaryConst(op, a, d, k, s)),
        1 => (v(), v(), v()).prop_map(|(c, a, b)| Instr::Where(c, a, b)),
        1 => (v(), v(), weak()).prop_map(|(c, a, w)| Instr::WhereWeak(c, a, w)),
        2 => (v(), dtype()).prop_map(|(a, d)| Instr::Cast(a, d)),
        1 => (v(), prop::option::of(weak()), prop::option::of(weak()))
            .prop_map(|(a, lo, hi)| Instr::Clip(a, lo, hi)),
        3 => (reduce, v(), axes(), any::<bool>())
            .prop_map(|(op, a, ax, k)| Instr::Reduce(op, a, ax, k)),
        1 => (any::<bool>(), v(), prop::option::of(-3i8..3), any::<bool>())
            .prop_map(|(m, a, ax, k)| Instr::ArgReduce(m, a, ax, k)),
        3 => (comp(), v(), axes(), any::<bool>(), 0u8..2, -2i8..2)
            .prop_map(|(c, a, ax, k, d, axis)| Instr::Composite(c, a, ax, k, d, axis)),
        2 => (v(), reshape_kind()).prop_map(|(a, r)| Instr::Reshape(a, r)),
        1 => (v(), prop::option::of(any::<u64>())).prop_map(|(a, p)| Instr::Transpose(a, p)),
        1 => (v(), -3i8..3, -3i8..3).prop_map(|(a, i, j)| Instr::SwapAxes(a, i, j)),
        1 => (v(), -3i8..3).prop_map(|(a, i)| Instr::ExpandDims(a, i)),
        1 => (v(), prop::option::of(-3i8..3)).prop_map(|(a, i)| Instr::Squeeze(a, i)),
        1 => (v(), prop::option::of(1u8..4), 1u8..4)
            .prop_map(|(a, lead, fill)| Instr::BroadcastTo(a, lead, fill)),
        2 => (v(), prop::collection::vec(index_item(), 0..4))
            .prop_map(|(a, items)| Instr::Index(a, items)),
        1 => (v(), v()).prop_map(|(a, b)| Instr::MatMul(a, b)),
        2 => v().prop_map(Instr::Gram),
        1 => (v(), v(), -2i8..2).prop_map(|(a, b, ax)| Instr::Concat(a, b, ax)),
        1 => (v(), v(), -2i8..2).prop_map(|(a, b, ax)| Instr::Stack(a, b, ax)),
    ]
}

fn input_spec() -> impl Strategy<Value = InputSpec> {
    (
        dtype(),
        0u8..4,
        any::<u8>(),
        prop::bool::weighted(0.2),
        any::<u64>(),
    )
        .prop_map(|(dtype, suffix, ones, transposed, seed)| InputSpec {
            dtype,
            suffix,
            // A dimension is 1 with probability about 1/4.
            ones: ones & (ones >> 1) & 0b111,
            transposed,
            seed,
        })
}

fn program() -> impl Strategy<Value = Program> {
    let dim = prop_oneof![6 => 1usize..5, 1 => Just(0usize)];
    (
        prop::collection::vec(dim, 0..4),
        prop::collection::vec(input_spec(), 1..4),
        prop::collection::vec(instr(), 1..13),
        prop::collection::vec(0u8..8, 0..3),
    )
        .prop_map(|(base, inputs, instrs, outputs)| Program {
            base,
            inputs,
            instrs,
            outputs,
        })
}

// ---------------------------------------------------------------------------------------
// Interpretation (the same code computes eagerly or records a trace)
// ---------------------------------------------------------------------------------------

/// Applies one instruction to the values computed so far.
fn step(instr: &Instr, vals: &[Tensor]) -> ember::Result<Tensor> {
    let pick = |i: u8| &vals[vals.len() - 1 - (i as usize % vals.len())];
    let ndim_of = |i: u8| pick(i).ndim();
    match instr {
        Instr::Unary(op, a) => ops::unary(*op, pick(*a)),
        Instr::Binary(op, a, b) => ops::binary(*op, pick(*a), pick(*b)),
        Instr::BinaryWeak(op, a, w, left) => {
            if *left {
                ops::binary(*op, w.operand(), pick(*a))
            } else {
                ops::binary(*op, pick(*a), w.operand())
            }
        }
        Instr::BinaryConst(op, a, dtype, k, seed) => {
            let x = pick(*a);
            let k = (*k as usize).min(x.ndim());
            let c = random_tensor(*dtype, &x.shape()[x.ndim() - k..], *seed, true, false);
            ops::binary(*op, x, &c)
        }
        Instr::Where(c, a, b) => ops::where_(pick(*c), pick(*a), pick(*b)),
        Instr::WhereWeak(c, a, w) => ops::where_(pick(*c), pick(*a), w.operand()),
        Instr::Cast(a, d) => ops::astype(pick(*a), *d),
        Instr::Clip(a, lo, hi) => ops::clip(pick(*a), lo.map(Weak::operand), hi.map(Weak::operand)),
        Instr::Reduce(op, a, axes, keepdims) => {
            let axes = axes.resolve(ndim_of(*a));
            ops::reduce(*op, pick(*a), axes.as_deref(), *keepdims)
        }
        Instr::ArgReduce(max, a, axis, keepdims) => {
            let axis = axis.map(i64::from);
            if *max {
                ops::argmax(pick(*a), axis, *keepdims)
            } else {
                ops::argmin(pick(*a), axis, *keepdims)
            }
        }
        Instr::Composite(c, a, axes, keepdims, ddof, axis) => {
            let x = pick(*a);
            let axes = axes.resolve(x.ndim());
            let axes = axes.as_deref();
            let (axis, ddof) = (i64::from(*axis), u32::from(*ddof));
            match c {
                Comp::Mean => ops::mean(x, axes, *keepdims),
                Comp::Var => ops::var(x, axes, ddof, *keepdims),
                Comp::Std => ops::std(x, axes, ddof, *keepdims),
                Comp::LogSumExp => ops::logsumexp(x, axes, *keepdims),
                Comp::Softmax => ops::softmax(x, axis),
                Comp::LogSoftmax => ops::log_softmax(x, axis),
                Comp::Gelu(approximate) => ops::gelu(x, *approximate),
                Comp::Silu => ops::silu(x),
                Comp::LayerNorm => ops::layer_norm(x, axes, 1e-5),
            }
        }
        Instr::Reshape(a, kind) => {
            let x = pick(*a);
            let s: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
            let target: Vec<i64> = match kind {
                Reshape::Ravel => vec![-1],
                Reshape::Reverse => s.iter().rev().copied().collect(),
                Reshape::MergeLeading if s.len() >= 2 => [&[-1][..], &s[2..]].concat(),
                Reshape::MergeLeading => s.clone(),
                Reshape::Pad => [&[1][..], &s, &[1]].concat(),
                Reshape::Infer(_) if s.is_empty() => vec![],
                Reshape::Infer(k) => {
                    let mut t = s.clone();
                    t[*k as usize % s.len()] = -1;
                    t
                }
            };
            ops::reshape(x, &target)
        }
        Instr::Transpose(a, perm) => {
            let x = pick(*a);
            let perm = perm.map(|seed| {
                let mut rng = common::Rng::new(seed);
                let mut p: Vec<i64> = (0..x.ndim() as i64).collect();
                for i in (1..p.len()).rev() {
                    p.swap(i, rng.below(i as u64 + 1) as usize);
                }
                p
            });
            ops::transpose(x, perm.as_deref())
        }
        Instr::SwapAxes(a, i, j) => ops::swapaxes(pick(*a), (*i).into(), (*j).into()),
        Instr::ExpandDims(a, i) => ops::expand_dims(pick(*a), &[(*i).into()]),
        Instr::Squeeze(a, i) => {
            let axes = i.map(|i| vec![i64::from(i)]);
            ops::squeeze(pick(*a), axes.as_deref())
        }
        Instr::BroadcastTo(a, lead, fill) => {
            let x = pick(*a);
            let mut shape: Vec<usize> = lead.iter().map(|&l| l as usize).collect();
            shape.extend(
                x.shape()
                    .iter()
                    .map(|&d| if d == 1 { *fill as usize } else { d }),
            );
            ops::broadcast_to(x, &shape)
        }
        Instr::Index(a, items) => ops::index(pick(*a), items),
        Instr::MatMul(a, b) => ops::matmul(pick(*a), pick(*b)),
        Instr::Gram(a) => {
            let x = pick(*a);
            if x.ndim() >= 2 {
                ops::matmul(x, &ops::swapaxes(x, -1, -2)?)
            } else {
                ops::matmul(x, x)
            }
        }
        Instr::Concat(a, b, axis) => {
            ops::concatenate(&[pick(*a).clone(), pick(*b).clone()], (*axis).into())
        }
        Instr::Stack(a, b, axis) => {
            ops::stack(&[pick(*a).clone(), pick(*b).clone()], (*axis).into())
        }
    }
}

/// The program's results among its values: the newest, then the extra picks.
fn outputs(prog: &Program, vals: &[Tensor]) -> Vec<Tensor> {
    let pick = |i: u8| vals[vals.len() - 1 - (i as usize % vals.len())].clone();
    std::iter::once(0)
        .chain(prog.outputs.iter().copied())
        .map(pick)
        .collect()
}

/// Runs the program trying every instruction; returns the values and which instructions
/// applied (the others' types did not fit).
fn run_trying(prog: &Program, args: &[Tensor]) -> (Vec<Tensor>, Vec<bool>) {
    let mut vals = args.to_vec();
    let mut applied = Vec::with_capacity(prog.instrs.len());
    for instr in &prog.instrs {
        match step(instr, &vals) {
            Ok(v) => {
                vals.push(v);
                applied.push(true);
            }
            Err(_) => applied.push(false),
        }
    }
    (vals, applied)
}

/// Why a run under a fixed mask stopped.
#[derive(Debug)]
enum Stop {
    /// An instruction that traced fine failed on data (its index and the error).
    Data(usize, Box<EmberError>),
    /// An instruction the tracer rejected ran eagerly (a type-check disagreement).
    Accepted(usize),
}

/// Runs the program applying exactly the instructions `applied` marks, and checks that the
/// others fail here too.
fn run_masked(prog: &Program, args: &[Tensor], applied: &[bool]) -> Result<Vec<Tensor>, Stop> {
    let mut vals = args.to_vec();
    for (i, (instr, &ok)) in prog.instrs.iter().zip(applied).enumerate() {
        match (step(instr, &vals), ok) {
            (Ok(v), true) => vals.push(v),
            (Err(e), true) => return Err(Stop::Data(i, Box::new(e))),
            (Ok(_), false) => return Err(Stop::Accepted(i)),
            (Err(_), false) => {}
        }
    }
    Ok(outputs(prog, &vals))
}

// ---------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------

/// What the run covered: instructions applied per family, cases discarded.
#[derive(Default, Debug)]
struct Stats {
    cases: usize,
    discarded: usize,
    applied: BTreeMap<&'static str, usize>,
    optimized_smaller: usize,
}

static STATS: Mutex<Option<Stats>> = Mutex::new(None);

fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

fn check(prog: &Program) -> Result<(), TestCaseError> {
    let args: Vec<Tensor> = prog.inputs.iter().map(|s| s.tensor(&prog.base)).collect();

    // Trace, trying every instruction.
    let trace = Trace::new();
    let traced_args: Vec<Tensor> = args
        .iter()
        .map(|a| trace.input(a.value_type().clone(), Device::Cpu))
        .collect();
    let (traced_vals, applied) = run_trying(prog, &traced_args);
    let traced_outs = outputs(prog, &traced_vals);
    let graph = trace
        .finish(&traced_outs)
        .map_err(|e| fail(format!("finishing the trace: {e}")))?;
    verify(&graph).map_err(|e| fail(format!("traced graph does not verify: {e}\n{graph}")))?;

    // The text form round-trips.
    let text = graph.to_string();
    let parsed =
        Graph::parse(&text).map_err(|e| fail(format!("parsing the traced graph: {e}\n{text}")))?;
    prop_assert_eq!(parsed.to_string(), text.clone(), "text form round trip");

    let unoptimized = Executable::new(&graph)
        .map_err(|e| fail(format!("planning the traced graph: {e}\n{text}")))?;

    // Eager, applying the same instructions.
    let eager = match run_masked(prog, &args, &applied) {
        Ok(outs) => outs,
        Err(Stop::Accepted(i)) => {
            return Err(fail(format!(
                "instruction {i} ({:?}) failed to trace but ran eagerly",
                prog.instrs[i]
            )))
        }
        Err(Stop::Data(i, e)) => {
            // Only integer powers with negative exponents fail on data (NumPy raises too).
            let negative_power =
                matches!(&*e, EmberError::Value(m) if m.contains("negative integer powers"));
            prop_assert!(
                negative_power,
                "instruction {} ({:?}) traced but failed eagerly: {}",
                i,
                prog.instrs[i],
                e
            );
            prop_assert!(
                unoptimized.run(&args).is_err(),
                "the unoptimized graph ran although eager instruction {} raised: {}",
                i,
                e
            );
            record(|s| s.discarded += 1);
            return Ok(());
        }
    };
    for (i, (t, e)) in traced_outs.iter().zip(&eager).enumerate() {
        prop_assert_eq!(
            t.value_type(),
            e.value_type(),
            "output {} traced type vs eager type",
            i
        );
    }

    // Float results are held to float32 precision when any value of the program is float32:
    // its rounding carries into float64 results computed from it.
    let precision = if graph
        .node_ids()
        .any(|n| graph.node(n).ty.dtype == DType::F32)
    {
        Precision::Float32
    } else {
        Precision::OwnDtype
    };
    // Every path must leave the arguments and earlier results alone (tensors are immutable).
    let (args_before, eager_before) = (fingerprint(&args), fingerprint(&eager));
    let agree = |what: &str, got: &[Tensor], listing: &str| -> Result<(), TestCaseError> {
        let context = format!("arguments: {args_before}\n{listing}");
        compare_all_at(&format!("{what} vs eager"), got, &eager, precision)
            .map_err(|m| fail(format!("{m}\n{context}")))?;
        prop_assert!(
            fingerprint(&args) == args_before && fingerprint(&eager) == eager_before,
            "the {} run changed its arguments or the eager results\n{}",
            what,
            context
        );
        Ok(())
    };

    // (c) The unoptimized graph.
    let got = unoptimized
        .run(&args)
        .map_err(|e| fail(format!("running the unoptimized graph: {e}\n{text}")))?;
    agree("unoptimized", &got, &text)?;

    // (d) The graph parsed back from text.
    let got = Executable::new(&parsed)
        .and_then(|x| x.run(&args))
        .map_err(|e| fail(format!("running the parsed graph: {e}\n{text}")))?;
    agree("parsed", &got, &text)?;

    // (f) Placed on the (simulated) GPU: every node the device can run runs there; host
    // arguments are copied in and results out. (g) Placed by the cost model.
    for (what, policy) in [
        ("on cuda:0", DevicePolicy::On(GPU)),
        ("auto", DevicePolicy::Auto),
    ] {
        let opts = CompileOptions {
            device: policy,
            ..CompileOptions::default()
        };
        let placed = compile(graph.clone(), &opts)
            .map_err(|e| fail(format!("compiling {what}: {e}\n{text}")))?;
        let listing = format!("traced:\n{text}\nplaced {what}:\n{}", placed.optimized);
        let got = placed
            .run(&args)
            .map_err(|e| fail(format!("running {what}: {e}\n{listing}")))?;
        agree(what, &got, &listing)?;
    }

    // (b) The optimized graph.
    let compiled = compile(graph, &CompileOptions::default())
        .map_err(|e| fail(format!("compiling: {e}\n{text}")))?;
    let optimized = compiled.optimized.to_string();
    verify(&compiled.optimized)
        .map_err(|e| fail(format!("optimized graph does not verify: {e}\n{optimized}")))?;
    let got = compiled
        .run(&args)
        .map_err(|e| fail(format!("running the optimized graph: {e}\n{optimized}")))?;
    agree(
        "optimized",
        &got,
        &format!("traced:\n{text}\noptimized:\n{optimized}"),
    )?;

    // (e) ember::jit over the same program: a miss, then a hit, both right.
    let mask = applied.clone();
    let f = ember::jit(move |xs: &[Tensor]| {
        run_masked(prog, xs, &mask).map_err(|s| EmberError::Value(format!("{s:?}")))
    });
    for call in 0..2 {
        let got = f
            .call(&args)
            .map_err(|e| fail(format!("jit call {call}: {e}\n{text}")))?;
        agree(&format!("jit call {call}"), &got, &text)?;
    }
    let info = f.cache_info();
    prop_assert_eq!((info.misses, info.hits), (1, 1), "jit cache counts");

    // (h) ember::jit with the arguments on the GPU: the plan follows them there.
    let on_gpu: Vec<Tensor> = args
        .iter()
        .map(|a| a.to(GPU))
        .collect::<ember::Result<_>>()
        .map_err(|e| fail(format!("moving arguments: {e}")))?;
    let got: Vec<Tensor> = f
        .call(&on_gpu)
        .and_then(|outs| outs.iter().map(|t| t.to(Device::Cpu)).collect())
        .map_err(|e| fail(format!("jit on device arguments: {e}\n{text}")))?;
    agree("jit on device arguments", &got, &text)?;
    prop_assert!(
        info.fallbacks.is_empty(),
        "jit fell back: {:?}",
        info.fallbacks
    );

    record(|s| {
        s.cases += 1;
        for (instr, _) in prog.instrs.iter().zip(&applied).filter(|(_, &ok)| ok) {
            *s.applied.entry(instr.family()).or_default() += 1;
        }
        if compiled.optimized.len() < compiled.traced.len() {
            s.optimized_smaller += 1;
        }
    });
    Ok(())
}

fn record(f: impl FnOnce(&mut Stats)) {
    let mut g = STATS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Stats::default));
}

fn config() -> Config {
    let mut config = Config::default();
    if std::env::var("PROPTEST_CASES").is_err() {
        config.cases = 256;
    }
    config.max_shrink_iters = 4096;
    config.failure_persistence = None;
    config
}

/// Optimized == unoptimized == parsed == jit == eager on random programs, and the run
/// exercised every family of instructions.
#[test]
fn random_programs_agree_on_every_path() {
    ember::runtime::device::simulate_cuda(Some(1 << 30));
    // A fixed sequence of programs by default, so CI is repeatable; EMBER_RANDOM_SEED=1 draws
    // fresh ones (with PROPTEST_CASES, for long exploratory runs). Fresh draws can, rarely,
    // build programs no two summation orders agree on (the sine of a variance of 2^31-sized
    // integers amplifies its last-bit rounding), which is the oracle's limit, not a bug.
    let mut runner = if std::env::var_os("EMBER_RANDOM_SEED").is_some() {
        TestRunner::new(config())
    } else {
        TestRunner::new_with_rng(
            config(),
            proptest::test_runner::TestRng::deterministic_rng(config().rng_algorithm),
        )
    };
    if let Err(e) = runner.run(&program(), |prog| check(&prog)) {
        panic!("{e}");
    }
    let stats = STATS.lock().unwrap_or_else(|e| e.into_inner()).take();
    let stats = stats.expect("cases ran");
    eprintln!("{stats:#?}");
    assert!(
        stats.cases >= stats.discarded,
        "most cases must run to the end: {stats:?}"
    );
    for family in [
        "unary",
        "binary",
        "binary-weak-scalar",
        "binary-constant",
        "where",
        "cast",
        "reduce",
        "composite",
        "reshape",
        "transpose",
        "index",
        "matmul",
    ] {
        assert!(
            stats.applied.get(family).copied().unwrap_or(0) > 0,
            "no {family} instruction was exercised: {stats:?}"
        );
    }
}
