//! Compiling traced graphs and the Rust `jit` API.
//!
//! [`compile`] runs the optimization pipeline on a traced graph and builds an
//! [`Executable`]; [`jit`] wraps a Rust closure of tensors with the same tracer, a cache keyed
//! by argument types, and eager fallback when tracing fails.

use crate::error::{EmberError, Result};
use crate::profile::{self, EventKind};
use crate::runtime::Executable;
use crate::tensor::Tensor;
use crate::trace::{literal_of, tensor_of, Trace};
use ember_ir::passes::{optimize, ConstEvaluator, PassContext};
use ember_ir::{Device, Graph, Literal, Op, ValueType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Options of [`compile`].
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Keep the graph text after every pass (for `explain`).
    pub record_passes: bool,
    /// The function's name, for messages.
    pub name: String,
}

/// One pass as run during a compile.
#[derive(Clone, Debug)]
pub struct PassSummary {
    /// The pass's name.
    pub name: String,
    /// Whether it changed the graph.
    pub changed: bool,
    /// Seconds it took.
    pub seconds: f64,
    /// The graph text after it (when recorded).
    pub text: String,
}

/// A traced graph, optimized and ready to run.
#[derive(Debug)]
pub struct Compiled {
    /// The graph as traced.
    pub traced: Graph,
    /// The graph after optimization.
    pub optimized: Graph,
    /// The passes that ran.
    pub passes: Vec<PassSummary>,
    /// Seconds spent optimizing and planning.
    pub compile_seconds: f64,
    executable: Executable,
}

impl Compiled {
    /// Runs the compiled graph.
    pub fn run(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        self.executable.run(args)
    }

    /// The compiled kernels of the plan, in execution order.
    pub fn kernels(&self) -> &[crate::runtime::executable::KernelReport] {
        self.executable.kernels()
    }

    /// DOT text of the optimized graph with each kernel as a cluster and copies highlighted.
    pub fn plan_dot(&self) -> String {
        crate::viz::plan_dot(&self.optimized, self.executable.kernels())
    }

    /// Where the placement pass would put each node and which copies it would make on
    /// `target` (a device-neutral cost model; `Target::simulated_two_device()` shows what a
    /// GPU machine would do), with the cost estimates. The compiled plan is not changed.
    pub fn placement_report(&self, target: &ember_ir::target::Target) -> Result<String> {
        let mut g = self.optimized.clone();
        let req = ember_ir::passes::place::PlaceRequest::new();
        let placement = ember_ir::passes::place::place(&mut g, target, &req)?;
        Ok(format!("{}\n{}", placement.explain(), g))
    }

    /// A one-line description of the plan.
    pub fn plan_summary(&self) -> String {
        format!(
            "{} node(s), {} step(s): {}",
            self.optimized.len(),
            self.executable.num_steps(),
            self.executable.note()
        )
    }
}

/// Folds constants with the eager kernels.
struct EagerEvaluator;

impl ConstEvaluator for EagerEvaluator {
    fn eval(&self, op: &Op, args: &[&Literal], out: &ValueType) -> Option<Literal> {
        let tensors: Vec<Tensor> = args
            .iter()
            .map(|l| tensor_of(l))
            .collect::<Result<_>>()
            .ok()?;
        let refs: Vec<&Tensor> = tensors.iter().collect();
        let r = match op {
            Op::Composite(_) => crate::ops::apply(op.clone(), &refs),
            _ => crate::eager::execute(op, &refs, out),
        };
        r.ok().and_then(|t| literal_of(&t).ok())
    }
}

/// Optimizes `graph` and builds its executable.
pub fn compile(graph: Graph, opts: &CompileOptions) -> Result<Compiled> {
    let start = Instant::now();
    let traced = graph.clone();
    let mut optimized = graph;
    let evaluator = EagerEvaluator;
    let mut ctx = PassContext::new().with_evaluator(&evaluator);
    ctx.record_text = opts.record_passes;
    let report = optimize(&mut optimized, &ctx)?;
    let executable = Executable::new(&optimized)?;
    let passes = report
        .passes
        .iter()
        .map(|p| PassSummary {
            name: p.name.to_string(),
            changed: p.changed,
            seconds: p.time.as_secs_f64(),
            text: p.text.clone().unwrap_or_default(),
        })
        .collect();
    Ok(Compiled {
        traced,
        optimized,
        passes,
        compile_seconds: start.elapsed().as_secs_f64(),
        executable,
    })
}

/// Traces `f` on symbolic inputs of the given types and compiles the graph.
pub fn trace_and_compile<F>(f: &F, types: &[ValueType], opts: &CompileOptions) -> Result<Compiled>
where
    F: Fn(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let tracing = profile::span(EventKind::Trace, &opts.name);
    let trace = Trace::new();
    let inputs: Vec<Tensor> = types
        .iter()
        .map(|t| trace.input(t.clone(), Device::Cpu))
        .collect();
    let outputs = f(&inputs)?;
    let graph = trace.finish(&outputs)?;
    drop(tracing);
    let _compiling = profile::span(EventKind::Compile, &opts.name);
    let t = profile::now_ns();
    let c = compile(graph, opts)?;
    profile::passes(
        t,
        c.passes
            .iter()
            .map(|p| (p.name.as_str(), (p.seconds * 1e9) as u64)),
    );
    Ok(c)
}

/// Counters of a jitted Rust function.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheInfo {
    /// Calls answered from the cache.
    pub hits: usize,
    /// Calls that traced.
    pub misses: usize,
    /// Why each retrace happened.
    pub retraces: Vec<String>,
    /// Why each fallback happened.
    pub fallbacks: Vec<String>,
}

/// A jitted function's cache: entries by signature, counters, the last signature traced.
type JitCache = (
    HashMap<Vec<ValueType>, Arc<Entry>>,
    CacheInfo,
    Option<Vec<ValueType>>,
);

enum Entry {
    Compiled(Arc<Compiled>),
    Eager,
}

/// A Rust closure of tensors compiled per argument signature (see [`jit`]).
pub struct JitFn<F> {
    f: F,
    name: String,
    cache: Mutex<JitCache>,
}

/// Wraps `f` so each new signature of arguments is traced once, optimized and cached; calls
/// with a cached signature run the compiled plan without calling `f`. When tracing fails with
/// a [`EmberError::Trace`], that signature runs `f` eagerly from then on, and the reason is
/// kept in [`JitFn::cache_info`].
pub fn jit<F>(f: F) -> JitFn<F>
where
    F: Fn(&[Tensor]) -> Result<Vec<Tensor>>,
{
    JitFn {
        f,
        name: "closure".into(),
        cache: Mutex::new((HashMap::new(), CacheInfo::default(), None)),
    }
}

impl<F> JitFn<F>
where
    F: Fn(&[Tensor]) -> Result<Vec<Tensor>>,
{
    /// Names the function in messages.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Calls the function on concrete tensors.
    pub fn call(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        let _call = profile::span(EventKind::Call, &self.name);
        let key: Vec<ValueType> = args.iter().map(|t| t.value_type().clone()).collect();
        let entry = {
            let mut guard = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let (cache, info, last) = &mut *guard;
            match cache.get(&key) {
                Some(e) => {
                    info.hits += 1;
                    profile::cache_hit(&self.name);
                    e.clone()
                }
                None => {
                    info.misses += 1;
                    let why = last.as_ref().map(|prev| describe_change(prev, &key));
                    profile::cache_miss(&self.name, why.as_deref());
                    info.retraces.extend(why);
                    *last = Some(key.clone());
                    let opts = CompileOptions {
                        record_passes: false,
                        name: self.name.clone(),
                    };
                    let entry = match trace_and_compile(&self.f, &key, &opts) {
                        Ok(c) => Entry::Compiled(Arc::new(c)),
                        Err(EmberError::Trace(why)) => {
                            profile::fallback(&self.name, &why);
                            info.fallbacks.push(why);
                            Entry::Eager
                        }
                        Err(e) => return Err(e),
                    };
                    let entry = Arc::new(entry);
                    cache.insert(key, entry.clone());
                    entry
                }
            }
        };
        match &*entry {
            Entry::Compiled(c) => c.run(args),
            Entry::Eager => (self.f)(args),
        }
    }

    /// Hits, misses, retrace and fallback reasons so far.
    pub fn cache_info(&self) -> CacheInfo {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }
}

fn describe_change(prev: &[ValueType], now: &[ValueType]) -> String {
    if prev.len() != now.len() {
        return format!(
            "argument count changed from {} to {}",
            prev.len(),
            now.len()
        );
    }
    prev.iter()
        .zip(now)
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("argument {i} changed from {a} to {b}"))
        .unwrap_or_else(|| "a new signature".into())
}
