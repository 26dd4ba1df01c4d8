//! Compiling traced graphs and the Rust `jit` API.
//!
//! [`compile`] runs the optimization pipeline on a traced graph and builds an
//! [`Executable`]; [`jit`] wraps a Rust closure of tensors with the same tracer, a cache keyed
//! by argument types, and eager fallback when tracing fails.

use crate::error::{EmberError, Result};
use crate::profile::{self, EventKind};
use crate::runtime::device::support::device_can_run;
use crate::runtime::Executable;
use crate::tensor::Tensor;
use crate::trace::{literal_of, tensor_of, Trace};
use ember_ir::passes::place::{place, PlaceRequest, Placement};
use ember_ir::passes::{optimize, ConstEvaluator, PassContext};
use ember_ir::target::Target;
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
    /// Where the graph runs.
    pub device: DevicePolicy,
    /// Where each argument lives ([`trace_and_compile`]); missing entries are the host.
    pub arg_devices: Vec<Device>,
}

/// Where a compiled function runs (`@ember.jit(device=...)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DevicePolicy {
    /// Where the data is (the default): on the host for host arguments, on the accelerator
    /// an argument lives on otherwise (results stay there too), like PyTorch and JAX.
    #[default]
    Follow,
    /// Every node the device can run runs on it (the user asked for it); host arguments are
    /// copied in and results copied back once each.
    On(Device),
    /// The placement pass chooses per node, minimizing the estimated time (compute on each
    /// device plus copies) over the host and the first accelerator.
    Auto,
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
    /// What the placement pass decided, when the graph involves an accelerator.
    pub placement: Option<Placement>,
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
    let placement = place_graph(&mut optimized, opts.device)?;
    let reasons = placement
        .iter()
        .flat_map(|p| p.copies.iter().map(|c| (c.node, c.reason.clone())))
        .collect();
    let executable = Executable::placed(&optimized, &reasons)?;
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
        placement,
        executable,
    })
}

/// The placement target for the host and accelerator `accel`. The rates are nominal (a
/// current data-center GPU over PCIe; see [`Target::simulated_two_device`]): they rank
/// assignments, and a calibration from measured rates can replace them without changing
/// the pass.
pub fn nominal_target(accel: Device) -> Target {
    let mut t = Target::simulated_two_device();
    for a in &mut t.accelerators {
        a.device = accel;
    }
    t
}

/// Runs the placement pass on `g` when the policy or the arguments involve an accelerator;
/// `None` (nothing changed) for a graph that stays on the host.
fn place_graph(g: &mut Graph, policy: DevicePolicy) -> Result<Option<Placement>> {
    let mut arg_devices: Vec<Device> = g
        .inputs()
        .iter()
        .map(|&n| g.node(n).device)
        .filter(|d| *d != Device::Cpu)
        .collect();
    arg_devices.dedup();
    if arg_devices.len() > 1 {
        return Err(EmberError::Device(format!(
            "the arguments live on {} and {}: move them to one device first",
            arg_devices[0], arg_devices[1]
        )));
    }
    let from_args = arg_devices.first().copied();
    let accel = match policy {
        DevicePolicy::On(Device::Cpu) | DevicePolicy::Follow => from_args,
        DevicePolicy::On(d) => {
            if from_args.is_some_and(|a| a != d) {
                return Err(EmberError::Device(format!(
                    "device={d} was asked for, but an argument lives on {}",
                    from_args.unwrap_or(d)
                )));
            }
            Some(d)
        }
        DevicePolicy::Auto => {
            from_args.or_else(|| crate::runtime::device::accelerators().first().copied())
        }
    };
    let Some(accel) = accel else {
        return Ok(None);
    };
    crate::runtime::check_device(accel)?;
    let target = nominal_target(accel);
    let mut req = PlaceRequest::new();
    if from_args.is_some() {
        for i in 0..g.outputs().len() {
            req = req.output_on(i, accel);
        }
    }
    let pin_to = match policy {
        DevicePolicy::On(d) => Some(d),
        DevicePolicy::Follow => Some(accel),
        DevicePolicy::Auto => None,
    };
    for n in g.topo_order()? {
        let op = &g.node(n).op;
        if matches!(
            op,
            Op::Input { .. } | Op::Output { .. } | Op::Const(_) | Op::Copy(_)
        ) {
            continue;
        }
        match device_can_run(g, n) {
            Err(why) => req = req.host_only(n, why),
            Ok(()) => {
                if let Some(d) = pin_to {
                    req = req.pin(n, d);
                }
            }
        }
    }
    Ok(Some(place(g, &target, &req)?))
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
        .enumerate()
        .map(|(i, t)| {
            let d = opts.arg_devices.get(i).copied().unwrap_or(Device::Cpu);
            trace.input(t.clone(), d)
        })
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

/// An argument signature: type and device of each argument.
type Signature = Vec<(ValueType, Device)>;

/// A jitted function's cache: entries by signature, counters, the last signature traced.
type JitCache = (HashMap<Signature, Arc<Entry>>, CacheInfo, Option<Signature>);

enum Entry {
    Compiled(Arc<Compiled>),
    Eager,
}

/// A Rust closure of tensors compiled per argument signature (see [`jit`]).
pub struct JitFn<F> {
    f: F,
    name: String,
    device: DevicePolicy,
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
        device: DevicePolicy::Follow,
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

    /// Chooses where the function runs (default: where its arguments are).
    pub fn on(mut self, device: DevicePolicy) -> Self {
        self.device = device;
        self
    }

    /// Calls the function on concrete tensors.
    pub fn call(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        let _call = profile::span(EventKind::Call, &self.name);
        let key: Signature = args
            .iter()
            .map(|t| (t.value_type().clone(), t.device()))
            .collect();
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
                        device: self.device,
                        arg_devices: key.iter().map(|k| k.1).collect(),
                    };
                    let types: Vec<ValueType> = key.iter().map(|k| k.0.clone()).collect();
                    let entry = match trace_and_compile(&self.f, &types, &opts) {
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

fn describe_change(prev: &[(ValueType, Device)], now: &[(ValueType, Device)]) -> String {
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
        .map(|(i, (a, b))| {
            if a.0 == b.0 {
                format!("argument {i} moved from {} to {}", a.1, b.1)
            } else {
                format!("argument {i} changed from {} to {}", a.0, b.0)
            }
        })
        .unwrap_or_else(|| "a new signature".into())
}
