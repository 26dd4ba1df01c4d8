//! [`Executable`]: an optimized graph as a list of steps that run without Python.
//!
//! The plan comes from the fusion pass's schedule: fused kernels compiled by the Cranelift
//! backend, GEMM library calls with their fused epilogue, and eager steps for the nodes no
//! kernel expresses. When the backend is unavailable or a kernel fails to compile, the whole
//! graph runs node by node with the eager kernels, and [`Executable::note`] says why. Values
//! are dropped after their last use so intermediates do not pile up.

use super::device::copy::{to_device, Cause};
use super::device::matmul::{product_args, DeviceMatMul, Epilogue};
use super::device::steps::DeviceKernel;
use super::gemm_epilogue;
use super::launch::{launch, run_matmul, run_matmul_fused, CpuKernel};
use crate::error::{EmberError, Result};
use crate::ops;
use crate::profile::{self, EventKind, KernelInfo};
use crate::tensor::Tensor;
use crate::trace::tensor_of;
use ember_codegen::cpu::CpuBackend;
use ember_ir::kernel::ArgId;
use ember_ir::passes::fuse::{self, KernelStep, Step as FuseStep};
use ember_ir::{Device, Graph, NodeId, Op, ValueType};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// The process-wide Cranelift backend (its kernel cache is shared by every function), or why
/// it could not start.
pub fn cpu_backend() -> std::result::Result<&'static CpuBackend, String> {
    static BACKEND: OnceLock<std::result::Result<CpuBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| CpuBackend::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// What one step does.
#[derive(Debug, Clone)]
enum Action {
    /// One node with its eager kernel.
    Eager { op: Op, ty: ValueType },
    /// A compiled kernel: operands are its inputs, `outs` its outputs.
    Kernel(CpuKernel),
    /// `operands[0] @ operands[1]` into `out`, then an optional epilogue kernel whose inputs
    /// are `epilogue_inputs` (the matmul result included).
    MatMul {
        ty: ValueType,
        epilogue: Option<(CpuKernel, Vec<usize>, KernelInfo)>,
    },
    /// `maximum(operands[0] @ operands[1] + operands[2], 0)` in one GEMM that applies the
    /// epilogue as it stores (no addend operand: none added; `relu` false: no maximum).
    FusedMatMul { ty: ValueType, relu: bool },
    /// A generated kernel on an accelerator (fused ops).
    Device(DeviceKernel),
    /// `operands[0] @ operands[1]` on an accelerator: cuBLAS, or the tiled kernel.
    DeviceMatMul(DeviceMatMul),
    /// A copy of the operand to `to`, inserted by placement; `cause` says why.
    Transfer { to: Device, cause: String },
}

#[derive(Debug, Clone)]
struct Step {
    action: Action,
    operands: Vec<usize>,
    outs: Vec<usize>,
    /// Value slots whose last use is this step.
    frees: Vec<usize>,
    /// What the profiler reports for this step (name, source lines, bytes, flops).
    info: KernelInfo,
}

/// A compiled plan for one graph.
#[derive(Debug, Clone)]
pub struct Executable {
    inputs: Vec<(usize, ValueType)>,
    input_devices: Vec<Device>,
    constants: Vec<(usize, Tensor)>,
    steps: Vec<Step>,
    outputs: Vec<usize>,
    slots: usize,
    note: String,
    kernels: Vec<KernelReport>,
}

/// What one compiled kernel of a plan is, for `explain` and visualization.
#[derive(Debug, Clone)]
pub struct KernelReport {
    /// The kernel's name (`multiply+tanh+add`).
    pub name: String,
    /// The graph nodes fused into it.
    pub nodes: Vec<NodeId>,
    /// The kernel (its IR; `to_string()` prints it, the CUDA renderer renders it).
    pub kernel: ember_ir::kernel::Kernel,
    /// Seconds Cranelift took (0 when the kernel came from the cache).
    pub compile_seconds: f64,
}

/// Maps graph nodes to dense value slots.
struct Slots(HashMap<NodeId, usize>);

impl Slots {
    fn get(&self, n: NodeId) -> Result<usize> {
        self.0.get(&n).copied().ok_or_else(|| {
            EmberError::Value(format!("plan error: node %{} has no slot", n.index()))
        })
    }

    fn all(&self, ns: &[NodeId]) -> Result<Vec<usize>> {
        ns.iter().map(|&n| self.get(n)).collect()
    }
}

/// The step for a node no kernel computes: a transfer for a copy node (its ledger cause
/// from placement when known), else the node's eager kernel.
fn eager_action(graph: &Graph, n: NodeId, copy_reasons: &BTreeMap<NodeId, String>) -> Action {
    let node = graph.node(n);
    match node.op {
        Op::Copy(to) => Action::Transfer {
            to,
            cause: copy_reasons
                .get(&n)
                .cloned()
                .unwrap_or_else(|| format!("copy %{} to {to} in the compiled plan", n.index())),
        },
        _ => Action::Eager {
            op: node.op.clone(),
            ty: node.ty.clone(),
        },
    }
}

/// The graph values a fusion step writes.
fn step_outputs(step: &FuseStep) -> Vec<NodeId> {
    match step {
        FuseStep::Kernel(k) => k.outputs.clone(),
        FuseStep::MatMul { out, epilogue, .. } => std::iter::once(*out)
            .chain(epilogue.iter().flat_map(|e| e.outputs.iter().copied()))
            .collect(),
        FuseStep::Fallback(n) => vec![*n],
    }
}

/// The accelerator a fusion step runs on (`None` for the host and for copies, which the
/// host drives); an error when placement put one step's values on two devices.
fn accelerator_of(graph: &Graph, step: &FuseStep) -> Result<Option<Device>> {
    if let FuseStep::Fallback(n) = step {
        if matches!(graph.node(*n).op, Op::Copy(_)) {
            return Ok(None);
        }
    }
    let outs = step_outputs(step);
    let first = outs.first().map_or(Device::Cpu, |&o| graph.node(o).device);
    if let Some(&o) = outs.iter().find(|&&o| graph.node(o).device != first) {
        return Err(EmberError::Value(format!(
            "plan error: one step writes values on {first} and {} (%{})",
            graph.node(o).device,
            o.index()
        )));
    }
    Ok((first != Device::Cpu).then_some(first))
}

/// The steps that run fusion step `step` on accelerator `dev`: its kernels prepared
/// (compiled) for the device, a matmul on cuBLAS or as the tiled kernel (which stores the
/// matmul's epilogue itself when it can; otherwise the epilogue is a kernel after it), view
/// ops eagerly on device tensors.
fn device_steps(
    graph: &Graph,
    step: &FuseStep,
    dev: Device,
    slots: &Slots,
    reports: &std::cell::RefCell<Vec<KernelReport>>,
) -> Result<Vec<Step>> {
    let rt = super::device::runtime(dev)?;
    let kernel_step = |kernel: &ember_ir::kernel::Kernel,
                       inputs: &[NodeId],
                       outputs: &[NodeId]|
     -> Result<Step> {
        let start = std::time::Instant::now();
        let outs = outputs.iter().map(|&o| graph.node(o).ty.clone()).collect();
        let dk = DeviceKernel::new(rt.clone(), kernel, outs)?;
        let mut info = KernelInfo::for_kernel(graph, inputs, outputs);
        // Shown on the device's stream track of the profile. Launches are asynchronous on a
        // GPU, so a span measures the launch; the copy that reads a result waits for it.
        info.device = dev;
        info.stream = Some(0);
        reports.borrow_mut().push(KernelReport {
            name: format!("{} on {dev}", info.name),
            nodes: profile::fused_nodes(graph, inputs, outputs),
            kernel: kernel.clone(),
            compile_seconds: start.elapsed().as_secs_f64(),
        });
        Ok(Step {
            action: Action::Device(dk),
            operands: slots.all(inputs)?,
            outs: slots.all(outputs)?,
            frees: Vec::new(),
            info,
        })
    };
    match step {
        FuseStep::Kernel(k) => Ok(vec![kernel_step(&k.kernel, &k.inputs, &k.outputs)?]),
        FuseStep::MatMul {
            a,
            b,
            out,
            epilogue,
        } => {
            let start = std::time::Instant::now();
            let (ta, tb, to) = (&graph.node(*a).ty, &graph.node(*b).ty, &graph.node(*out).ty);
            let e_outs: Vec<ValueType> = epilogue
                .iter()
                .flat_map(|e| e.outputs.iter().map(|&o| graph.node(o).ty.clone()))
                .collect();
            let e_product: Vec<ArgId> = epilogue
                .as_ref()
                .map_or_else(Vec::new, |e| product_args(e, *out));
            let offered = epilogue.as_ref().map(|e| Epilogue {
                kernel: &e.kernel,
                product_args: &e_product,
                outs: &e_outs,
            });
            let mm = DeviceMatMul::new(rt.clone(), ta, tb, to, offered)?;
            let fused = mm.fused();
            // What the step reads and writes: with the epilogue stored by the tiled kernel,
            // the epilogue's other inputs and its outputs (the product is never written).
            let (inputs, outputs, mut info) = match epilogue {
                Some(e) if fused => {
                    let ins: Vec<NodeId> = [*a, *b]
                        .into_iter()
                        .chain(e.inputs.iter().copied().filter(|v| v != out))
                        .collect();
                    let info = KernelInfo::for_kernel(graph, &ins, &e.outputs);
                    (ins, e.outputs.clone(), info)
                }
                _ => (
                    vec![*a, *b],
                    vec![*out],
                    KernelInfo::for_nodes(graph, &[*out]),
                ),
            };
            info.device = dev;
            info.stream = Some(0);
            if let (Some(k), Some(why)) = (mm.kernel(), mm.fallback()) {
                info.kind = EventKind::Kernel;
                note_once(format!("matmul on {dev}: {why}: the tiled kernel runs"));
                let what = if fused {
                    "tiled kernel storing its epilogue"
                } else {
                    "tiled kernel"
                };
                reports.borrow_mut().push(KernelReport {
                    name: format!("{} on {dev} ({what}: {why})", info.name),
                    nodes: profile::fused_nodes(graph, &inputs, &outputs),
                    kernel: k.clone(),
                    compile_seconds: start.elapsed().as_secs_f64(),
                });
            }
            let apart = mm.fallback().and(mm.epilogue_apart()).map(str::to_string);
            let mut steps = vec![Step {
                action: Action::DeviceMatMul(mm),
                operands: slots.all(&inputs)?,
                outs: slots.all(&outputs)?,
                frees: Vec::new(),
                info,
            }];
            if let Some(e) = epilogue.as_ref().filter(|_| !fused) {
                if let Some(why) = apart {
                    note_once(format!(
                        "matmul epilogue on {dev}: {why}: it runs as a kernel of its own"
                    ));
                }
                steps.push(kernel_step(&e.kernel, &e.inputs, &e.outputs)?);
            }
            Ok(steps)
        }
        FuseStep::Fallback(n) => Ok(vec![Step {
            action: eager_action(graph, *n, &BTreeMap::new()),
            operands: slots.all(&graph.operands(*n))?,
            outs: vec![slots.get(*n)?],
            frees: Vec::new(),
            info: KernelInfo::eager(graph, *n),
        }]),
    }
}

/// `; device matmuls: 1 on cuBLAS, 2 on the tiled kernel (why), 1 storing its epilogue, 1
/// with its epilogue as a kernel of its own (why)` for the plan's note (empty without device
/// matmuls).
fn device_matmul_note(steps: &[Step]) -> String {
    let (mut blas, mut tiled, mut stored, mut apart) = (0, 0, 0, 0);
    let (mut why, mut apart_why) = (Vec::<&str>::new(), Vec::<&str>::new());
    for s in steps {
        if let Action::DeviceMatMul(m) = &s.action {
            match m.fallback() {
                None => blas += 1,
                Some(w) => {
                    tiled += 1;
                    stored += usize::from(m.fused());
                    if !why.contains(&w) {
                        why.push(w);
                    }
                    if let Some(w) = m.epilogue_apart() {
                        apart += 1;
                        if !apart_why.contains(&w) {
                            apart_why.push(w);
                        }
                    }
                }
            }
        }
    }
    let mut note = match (blas, tiled) {
        (0, 0) => return String::new(),
        (b, 0) => format!("; device matmuls: {b} on cuBLAS"),
        (b, t) => format!(
            "; device matmuls: {b} on cuBLAS, {t} on the tiled kernel ({})",
            why.join("; ")
        ),
    };
    if stored > 0 {
        note += &format!(", {stored} storing its epilogue (one kernel)");
    }
    if apart > 0 {
        note += &format!(
            ", {apart} with its epilogue as a kernel of its own ({})",
            apart_why.join("; ")
        );
    }
    note
}

/// Prints `line` at `EMBER_DEBUG` >= 1, once per process: that matrix products on a device
/// run the tiled kernel instead of cuBLAS, or that their epilogue runs as a kernel of its own.
fn note_once(line: String) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    if !said.contains(&line) {
        profile::debug_print(1, format_args!("{line}"));
        said.push(line);
    }
}

impl Executable {
    /// Builds the plan for `graph` (already optimized): compiled when the backend can, eager
    /// otherwise.
    pub fn new(graph: &Graph) -> Result<Executable> {
        Self::placed(graph, &BTreeMap::new())
    }

    /// [`Executable::new`] for a graph whose nodes may sit on accelerators (after the
    /// placement pass): kernels of accelerator nodes are prepared for their device, copy
    /// nodes become transfers whose ledger cause is `copy_reasons[node]`.
    pub fn placed(graph: &Graph, copy_reasons: &BTreeMap<NodeId, String>) -> Result<Executable> {
        match cpu_backend() {
            Ok(backend) => match Self::compiled(graph, backend, copy_reasons) {
                Ok(plan) => Ok(plan),
                Err(e) => Self::eager(graph, format!("runs eagerly: {e}")),
            },
            Err(why) => Self::eager(
                graph,
                format!("runs eagerly: the CPU backend is unavailable: {why}"),
            ),
        }
    }

    /// A compiled plan or an error, never the eager fallback: for graphs on a device, whose
    /// eager steps would come back to the caller (the device's eager dispatcher).
    pub fn device_only(graph: &Graph) -> Result<Executable> {
        let backend = cpu_backend().map_err(EmberError::Backend)?;
        Self::compiled(graph, backend, &BTreeMap::new())
    }

    /// A plan that runs every node with its eager kernel (the oracle path).
    pub fn eager(graph: &Graph, note: String) -> Result<Executable> {
        let mut plan = Self::skeleton(graph, note)?;
        let slots = &plan.1;
        let mut steps = Vec::new();
        for n in graph.topo_order()? {
            let node = graph.node(n);
            if matches!(node.op, Op::Input { .. } | Op::Const(_) | Op::Output { .. }) {
                continue;
            }
            steps.push(Step {
                action: eager_action(graph, n, &BTreeMap::new()),
                operands: slots.all(&graph.operands(n))?,
                outs: vec![slots.get(n)?],
                frees: Vec::new(),
                info: KernelInfo::eager(graph, n),
            });
        }
        plan.0.steps = steps;
        Ok(plan.0.with_frees())
    }

    fn compiled(
        graph: &Graph,
        backend: &CpuBackend,
        copy_reasons: &BTreeMap<NodeId, String>,
    ) -> Result<Executable> {
        let schedule = fuse::partition(graph)?;
        let (mut plan, slots) = Self::skeleton(graph, String::new())?;
        let reports = std::cell::RefCell::new(Vec::new());
        let kernel = |k: &KernelStep| -> Result<(CpuKernel, Vec<usize>, Vec<usize>)> {
            let compiled = backend
                .compile(&k.kernel)
                .map_err(|e| EmberError::Backend(format!("kernel {}: {e}", k.kernel.name)))?;
            let info = KernelInfo::for_kernel(graph, &k.inputs, &k.outputs);
            reports.borrow_mut().push(KernelReport {
                name: info.name.to_string(),
                nodes: profile::fused_nodes(graph, &k.inputs, &k.outputs),
                kernel: k.kernel.clone(),
                compile_seconds: compiled.compile_time().as_secs_f64(),
            });
            let outs: Vec<ValueType> = k
                .outputs
                .iter()
                .map(|&o| graph.node(o).ty.clone())
                .collect();
            Ok((
                CpuKernel::new(compiled, outs),
                slots.all(&k.inputs)?,
                slots.all(&k.outputs)?,
            ))
        };
        let (mut kernels, mut gemms, mut eager, mut fused_epilogues) = (0, 0, 0, 0);
        let (mut device_kernels, mut transfers) = (0, 0);
        for step in &schedule.steps {
            if let Some(dev) = accelerator_of(graph, step)? {
                let steps = device_steps(graph, step, dev, &slots, &reports)?;
                device_kernels += steps.len();
                plan.steps.extend(steps);
                continue;
            }
            if let FuseStep::MatMul {
                a,
                b,
                out,
                epilogue: Some(k),
            } = step
            {
                // The GEMM stores a bias / relu epilogue itself: no kernel after it.
                if let Some(e) = gemm_epilogue::recognize(graph, (*a, *b, *out), k) {
                    gemms += 1;
                    fused_epilogues += 1;
                    let operands: Vec<NodeId> = [*a, *b].into_iter().chain(e.addend).collect();
                    plan.steps.push(Step {
                        action: Action::FusedMatMul {
                            ty: graph.node(e.output).ty.clone(),
                            relu: e.relu,
                        },
                        operands: slots.all(&operands)?,
                        outs: vec![slots.get(e.output)?],
                        frees: Vec::new(),
                        info: KernelInfo {
                            kind: EventKind::LibraryCall,
                            ..KernelInfo::for_nodes(graph, &e.nodes)
                        },
                    });
                    continue;
                }
            }
            plan.steps.push(match step {
                FuseStep::Kernel(k) => {
                    kernels += 1;
                    let (ck, operands, outs) = kernel(k)?;
                    Step {
                        action: Action::Kernel(ck),
                        operands,
                        outs,
                        frees: Vec::new(),
                        info: KernelInfo::for_kernel(graph, &k.inputs, &k.outputs),
                    }
                }
                FuseStep::MatMul {
                    a,
                    b,
                    out,
                    epilogue,
                } => {
                    gemms += 1;
                    let epilogue = match epilogue {
                        Some(k) => {
                            kernels += 1;
                            let (ck, ins, outs) = kernel(k)?;
                            let info = KernelInfo::for_kernel(graph, &k.inputs, &k.outputs);
                            Some((ck, ins, outs, info))
                        }
                        None => None,
                    };
                    let mut operands = slots.all(&[*a, *b])?;
                    let mut outs = vec![slots.get(*out)?];
                    let epilogue = epilogue.map(|(ck, ins, eouts, info)| {
                        // The epilogue's other inputs are operands of this step too, so they
                        // stay alive until it has run.
                        operands.extend(ins.iter().copied().filter(|s| *s != outs[0]));
                        outs.extend(eouts);
                        (ck, ins, info)
                    });
                    Step {
                        action: Action::MatMul {
                            ty: graph.node(*out).ty.clone(),
                            epilogue,
                        },
                        operands,
                        outs,
                        frees: Vec::new(),
                        info: KernelInfo::for_nodes(graph, &[*out]),
                    }
                }
                FuseStep::Fallback(n) => {
                    let action = eager_action(graph, *n, copy_reasons);
                    match action {
                        Action::Transfer { .. } => transfers += 1,
                        _ => eager += 1,
                    }
                    Step {
                        action,
                        operands: slots.all(&graph.operands(*n))?,
                        outs: vec![slots.get(*n)?],
                        frees: Vec::new(),
                        info: KernelInfo::eager(graph, *n),
                    }
                }
            });
        }
        plan.note = format!("{kernels} kernel(s), {gemms} GEMM call(s), {eager} eager step(s)");
        if fused_epilogues > 0 {
            plan.note += &format!(" ({fused_epilogues} GEMM(s) storing their epilogue)");
        }
        if device_kernels + transfers > 0 {
            plan.note += &format!(", {device_kernels} device kernel(s), {transfers} transfer(s)");
        }
        plan.note += &device_matmul_note(&plan.steps);
        plan.kernels = reports.into_inner();
        plan.materialize_device_constants(graph)?;
        Ok(plan.with_frees())
    }

    /// Inputs, constants, outputs and slots; no steps yet.
    fn skeleton(graph: &Graph, note: String) -> Result<(Executable, Slots)> {
        let order = graph.topo_order()?;
        let slots = Slots(order.iter().enumerate().map(|(i, &n)| (n, i)).collect());
        let mut inputs = Vec::new();
        let mut constants = Vec::new();
        for &n in &order {
            let node = graph.node(n);
            let slot = slots.get(n)?;
            match &node.op {
                Op::Input { index } => {
                    if inputs.len() <= *index {
                        inputs.resize(*index + 1, (usize::MAX, node.ty.clone()));
                    }
                    inputs[*index] = (slot, node.ty.clone());
                }
                Op::Const(lit) => constants.push((slot, tensor_of(lit)?)),
                _ => {}
            }
        }
        let outputs = slots.all(&graph.output_values())?;
        let input_devices = graph
            .inputs()
            .iter()
            .map(|&n| graph.node(n).device)
            .collect();
        let plan = Executable {
            inputs,
            input_devices,
            constants,
            steps: Vec::new(),
            outputs,
            slots: order.len(),
            note,
            kernels: Vec::new(),
        };
        Ok((plan, slots))
    }

    /// Gives every device step its own copy of the host constants it reads, made once here
    /// (a constant used on two devices has one slot per device).
    fn materialize_device_constants(&mut self, graph: &Graph) -> Result<()> {
        let host: HashMap<usize, Tensor> = self.constants.iter().cloned().collect();
        // Slots are indices into the topological order (see `skeleton`).
        let order = graph.topo_order()?;
        let mut made: HashMap<(usize, Device), usize> = HashMap::new();
        for i in 0..self.steps.len() {
            let dev = match &self.steps[i].action {
                Action::Device(k) => k.device(),
                Action::DeviceMatMul(m) => m.device(),
                _ => continue,
            };
            for j in 0..self.steps[i].operands.len() {
                let slot = self.steps[i].operands[j];
                let Some(t) = host.get(&slot) else { continue };
                if t.device() == dev {
                    continue;
                }
                let new = match made.get(&(slot, dev)) {
                    Some(&s) => s,
                    None => {
                        let node = order.get(slot).map_or(slot, |n| n.index());
                        let why = format!(
                            "constant %{node} of the plan materialized on {dev} (once, when the \
                             plan was built)"
                        );
                        let copy = to_device(t, dev, Cause::unguarded(&why))?;
                        let s = self.slots;
                        self.slots += 1;
                        self.constants.push((s, copy));
                        made.insert((slot, dev), s);
                        s
                    }
                };
                self.steps[i].operands[j] = new;
            }
        }
        Ok(())
    }

    /// Records, per step, the slots whose last use it is (outputs and constants live on).
    fn with_frees(mut self) -> Self {
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            for &o in s.operands.iter().chain(&s.outs) {
                last_use.insert(o, i);
            }
        }
        // A kernel whose results only the caller, views, CPU kernels and GEMMs read writes
        // them in its operands' memory order, as NumPy does; others keep C order for their
        // readers.
        let free = self.layout_free_slots();
        for step in self.steps.iter_mut() {
            if let Action::Kernel(k) = &mut step.action {
                if step.outs.iter().all(|o| free.contains(o)) {
                    k.keep_operand_order();
                }
            }
        }
        for (slot, step) in last_use {
            let kept = self.outputs.contains(&slot) || self.constants.iter().any(|c| c.0 == slot);
            if !kept {
                self.steps[step].frees.push(slot);
            }
        }
        self
    }

    /// The slots whose layout is free: read only by steps that take any strides, namely
    /// views (permute, broadcast, slice, and reshape, a view or a C-order copy), whose
    /// results must be free too, CPU kernels (which run over a non-C operand's memory order,
    /// [`super::layout`]) and CPU GEMMs (strided matrices), plus outputs the caller reads.
    /// A kernel whose results are all free writes them in its operands' memory order
    /// (NumPy's `order='K'`) instead of scattering C-ordered results: `np.less(f, f).T`
    /// of a Fortran (128, 250, 16) float32 `f` 0.46 -> 0.08 ms, `np.exp(f).T + 1` 1.98 -> 0.25 ms (NumPy
    /// 0.06 and 0.33 ms).
    fn layout_free_slots(&self) -> std::collections::HashSet<usize> {
        let mut readers: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            for &o in &s.operands {
                readers.entry(o).or_default().push(i);
            }
        }
        let is_view = |s: &Step| {
            matches!(
                &s.action,
                Action::Eager {
                    op: Op::Permute(_) | Op::Broadcast(_) | Op::Slice(_) | Op::Reshape(_),
                    ..
                }
            )
        };
        // Steps run in order and read only earlier slots, so walking them backwards decides
        // every reader's results before the slot it reads.
        let mut free = std::collections::HashSet::new();
        for s in self.steps.iter().rev() {
            for &o in &s.outs {
                let reads = readers.get(&o).map_or(&[][..], Vec::as_slice);
                let any_strides = reads.iter().all(|&r| {
                    let r = &self.steps[r];
                    matches!(r.action, Action::Kernel(_) | Action::MatMul { .. })
                        || is_view(r) && r.outs.iter().all(|x| free.contains(x))
                });
                if any_strides && (!reads.is_empty() || self.outputs.contains(&o)) {
                    free.insert(o);
                }
            }
        }
        free
    }

    /// The types the arguments must have.
    pub fn input_types(&self) -> Vec<ValueType> {
        self.inputs.iter().map(|i| i.1.clone()).collect()
    }

    /// Number of steps.
    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }

    /// The compiled kernels of the plan, in execution order.
    pub fn kernels(&self) -> &[KernelReport] {
        &self.kernels
    }

    /// What the plan is made of, or why it runs eagerly.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Runs the plan on concrete arguments.
    pub fn run(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        if args.len() != self.inputs.len() {
            return Err(EmberError::Type(format!(
                "expected {} argument(s), got {}",
                self.inputs.len(),
                args.len()
            )));
        }
        let mut values: Vec<Option<Tensor>> = vec![None; self.slots];
        for (i, ((slot, ty), arg)) in self.inputs.iter().zip(args).enumerate() {
            if arg.value_type() != ty {
                return Err(EmberError::Type(format!(
                    "argument {i}: expected {ty}, got {}",
                    arg.value_type()
                )));
            }
            if arg.device() != self.input_devices[i] {
                return Err(EmberError::Device(format!(
                    "argument {i}: the plan expects it on {}, got a tensor on {}",
                    self.input_devices[i],
                    arg.device()
                )));
            }
            values[*slot] = Some(arg.clone());
        }
        for (slot, t) in &self.constants {
            values[*slot] = Some(t.clone());
        }
        for step in &self.steps {
            // A transfer is recorded by the copy itself (kind "transfer", with its cause).
            let mut span = match step.action {
                Action::Transfer { .. } => None,
                _ => profile::kernel(&step.info),
            };
            let get = |s: &usize| {
                values[*s].as_ref().ok_or_else(|| {
                    EmberError::Value("plan error: a value was used before it was computed".into())
                })
            };
            let results: Vec<Tensor> = match &step.action {
                Action::Eager { op, ty } => {
                    let operands: Vec<&Tensor> =
                        step.operands.iter().map(get).collect::<Result<_>>()?;
                    let on_device = operands.iter().any(|t| t.device() != Device::Cpu);
                    vec![match op {
                        // Device operands go through the eager dispatcher, which runs the op
                        // on their device (views) or says which copies it makes.
                        Op::Composite(_) => ops::apply(op.clone(), &operands)?,
                        _ if on_device => ops::apply(op.clone(), &operands)?,
                        op => crate::eager::execute(op, &operands, ty)?,
                    }]
                }
                Action::Device(k) => {
                    let operands: Vec<&Tensor> =
                        step.operands.iter().map(get).collect::<Result<_>>()?;
                    k.run(&operands)?
                }
                Action::DeviceMatMul(m) => {
                    let operands: Vec<&Tensor> =
                        step.operands.iter().map(get).collect::<Result<_>>()?;
                    m.run(&operands)?
                }
                Action::Transfer { to, cause } => {
                    let x = get(&step.operands[0])?;
                    vec![to_device(x, *to, Cause::implicit(cause))?]
                }
                Action::Kernel(k) => {
                    let operands: Vec<&Tensor> =
                        step.operands.iter().map(get).collect::<Result<_>>()?;
                    launch(k, &operands)?
                }
                Action::FusedMatMul { ty, relu } => {
                    let a = get(&step.operands[0])?;
                    let b = get(&step.operands[1])?;
                    let addend = step.operands.get(2).map(get).transpose()?;
                    vec![run_matmul_fused(a, b, ty, addend, *relu)?]
                }
                Action::MatMul { ty, epilogue } => {
                    let a = get(&step.operands[0])?;
                    let b = get(&step.operands[1])?;
                    let product = run_matmul(a, b, ty)?;
                    match epilogue {
                        None => vec![product],
                        Some((k, ins, info)) => {
                            drop(span.take()); // the GEMM ends here; the epilogue is timed apart
                            let _epilogue = profile::kernel(info);
                            let out_slot = step.outs[0];
                            let operands: Vec<&Tensor> = ins
                                .iter()
                                .map(|s| if *s == out_slot { Ok(&product) } else { get(s) })
                                .collect::<Result<_>>()?;
                            let mut r = launch(k, &operands)?;
                            r.insert(0, product.clone());
                            r
                        }
                    }
                }
            };
            drop(span);
            for (&slot, t) in step.outs.iter().zip(results) {
                values[slot] = Some(t);
            }
            for &f in &step.frees {
                values[f] = None;
            }
        }
        self.outputs
            .iter()
            .map(|&o| {
                values[o].clone().ok_or_else(|| {
                    EmberError::Value("plan error: an output was not computed".into())
                })
            })
            .collect()
    }
}
