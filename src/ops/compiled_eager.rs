//! Eager ops on large arrays run as compiled single-op kernels.
//!
//! The ndarray kernels of [`crate::eager`] are the reference semantics, and they run every
//! small eager op (where dispatch costs more than the work) and every op no kernel expresses.
//! An elementwise op, reduction or matmul over at least [`MIN_ELEMENTS`] elements instead
//! runs through the same Cranelift kernels and GEMM as jitted code (their semantics are tested
//! against the reference kernels), one op at a time, so eager code gets SIMD and all cores.
//! The one-op plans are cached by op and argument types.

use crate::error::Result;
use crate::runtime::Executable;
use crate::tensor::Tensor;
use ember_ir::{Device, Graph, Op, ValueType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Ops touching fewer elements than this run on the reference kernels.
pub const MIN_ELEMENTS: usize = 1 << 16;
/// Cached one-op plans beyond this are dropped (the kernels stay in the backend's cache).
const MAX_PLANS: usize = 512;

type Key = (Op, Vec<ValueType>);

static PLANS: Mutex<Option<HashMap<Key, Option<Arc<Executable>>>>> = Mutex::new(None);

fn worth_compiling(op: &Op, inputs: &[&Tensor], out: &ValueType) -> bool {
    let big = inputs
        .iter()
        .map(|t| t.numel())
        .chain([out.numel()])
        .max()
        .unwrap_or(0)
        >= MIN_ELEMENTS;
    let host = inputs.iter().all(|t| t.device() == Device::Cpu);
    // A full reduction compiles when it is large enough for its kernel to split the
    // reduction over the pool (`ember_codegen::cpu::lower::split`); smaller ones, and
    // reductions to a few outputs (one thread each), stay on the reference kernels.
    let n = inputs.iter().map(|t| t.numel()).max().unwrap_or(0);
    let full = out.numel() == 1 && n >= ember_codegen::cpu::lower::split::SPLIT_MIN_WORK;
    let reduce = op.is_reduce() && (out.numel() >= 64 || full);
    let kernel_op = op.is_elementwise() || reduce || matches!(op, Op::MatMul);
    big && host && kernel_op
}

/// The one-op plan for `op` on arguments of these types, or `None` when it would not run
/// as a compiled kernel (then the reference kernel runs).
fn plan(op: &Op, inputs: &[&Tensor]) -> Option<Arc<Executable>> {
    let key: Key = (
        op.clone(),
        inputs.iter().map(|t| t.value_type().clone()).collect(),
    );
    let mut guard = PLANS.lock().unwrap_or_else(|e| e.into_inner());
    let plans = guard.get_or_insert_with(HashMap::new);
    if let Some(p) = plans.get(&key) {
        return p.clone();
    }
    let built = build(op, &key.1);
    if plans.len() >= MAX_PLANS {
        plans.clear();
    }
    plans.insert(key, built.clone());
    built
}

fn build(op: &Op, types: &[ValueType]) -> Option<Arc<Executable>> {
    let mut g = Graph::new();
    let ins: Vec<_> = types
        .iter()
        .map(|t| g.input(t.clone(), Device::Cpu))
        .collect();
    let node = g.add(op.clone(), &ins, None).ok()?;
    g.output(node).ok()?;
    let exe = Executable::new(&g).ok()?;
    let compiled = !exe.kernels().is_empty() || matches!(op, Op::MatMul);
    (compiled && !exe.note().starts_with("runs eagerly")).then(|| Arc::new(exe))
}

/// Runs `op` as a compiled kernel when that is worth it; `None` means "use the reference
/// kernel".
pub(super) fn try_run(op: &Op, inputs: &[&Tensor], out: &ValueType) -> Option<Result<Tensor>> {
    if !worth_compiling(op, inputs, out) {
        return None;
    }
    let exe = plan(op, inputs)?;
    let args: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
    Some(exe.run(&args).and_then(|mut v| {
        v.pop().ok_or_else(|| {
            crate::error::EmberError::Value("a one-op plan returned no result".into())
        })
    }))
}
