//! [`Executable`]: an optimized graph as a list of steps that run without Python.
//!
//! The plan comes from the fusion pass's schedule: fused kernels compiled by the Cranelift
//! backend, GEMM library calls with their fused epilogue, and eager steps for the nodes no
//! kernel expresses. When the backend is unavailable or a kernel fails to compile, the whole
//! graph runs node by node with the eager kernels, and [`Executable::note`] says why. Values
//! are dropped after their last use so intermediates do not pile up.

use super::launch::{launch, run_matmul, CpuKernel};
use crate::error::{EmberError, Result};
use crate::ops;
use crate::profile::{self, KernelInfo};
use crate::tensor::Tensor;
use crate::trace::tensor_of;
use ember_codegen::cpu::CpuBackend;
use ember_ir::passes::fuse::{self, KernelStep, Step as FuseStep};
use ember_ir::{Graph, NodeId, Op, ValueType};
use std::collections::HashMap;
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

impl Executable {
    /// Builds the plan for `graph` (already optimized): compiled when the backend can, eager
    /// otherwise.
    pub fn new(graph: &Graph) -> Result<Executable> {
        match cpu_backend() {
            Ok(backend) => match Self::compiled(graph, backend) {
                Ok(plan) => Ok(plan),
                Err(e) => Self::eager(graph, format!("runs eagerly: {e}")),
            },
            Err(why) => Self::eager(
                graph,
                format!("runs eagerly: the CPU backend is unavailable: {why}"),
            ),
        }
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
                action: Action::Eager {
                    op: node.op.clone(),
                    ty: node.ty.clone(),
                },
                operands: slots.all(&graph.operands(n))?,
                outs: vec![slots.get(n)?],
                frees: Vec::new(),
                info: KernelInfo::eager(graph, n),
            });
        }
        plan.0.steps = steps;
        Ok(plan.0.with_frees())
    }

    fn compiled(graph: &Graph, backend: &CpuBackend) -> Result<Executable> {
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
        let (mut kernels, mut gemms, mut eager) = (0, 0, 0);
        for step in &schedule.steps {
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
                    eager += 1;
                    let node = graph.node(*n);
                    Step {
                        action: Action::Eager {
                            op: node.op.clone(),
                            ty: node.ty.clone(),
                        },
                        operands: slots.all(&graph.operands(*n))?,
                        outs: vec![slots.get(*n)?],
                        frees: Vec::new(),
                        info: KernelInfo::eager(graph, *n),
                    }
                }
            });
        }
        plan.note = format!("{kernels} kernel(s), {gemms} GEMM call(s), {eager} eager step(s)");
        plan.kernels = reports.into_inner();
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
        let plan = Executable {
            inputs,
            constants,
            steps: Vec::new(),
            outputs,
            slots: order.len(),
            note,
            kernels: Vec::new(),
        };
        Ok((plan, slots))
    }

    /// Records, per step, the slots whose last use it is (outputs and constants live on).
    fn with_frees(mut self) -> Self {
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            for &o in s.operands.iter().chain(&s.outs) {
                last_use.insert(o, i);
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
            values[*slot] = Some(arg.clone());
        }
        for (slot, t) in &self.constants {
            values[*slot] = Some(t.clone());
        }
        for step in &self.steps {
            let mut span = profile::kernel(&step.info);
            let get = |s: &usize| {
                values[*s].as_ref().ok_or_else(|| {
                    EmberError::Value("plan error: a value was used before it was computed".into())
                })
            };
            let results: Vec<Tensor> = match &step.action {
                Action::Eager { op, ty } => {
                    let operands: Vec<&Tensor> =
                        step.operands.iter().map(get).collect::<Result<_>>()?;
                    vec![match op {
                        Op::Composite(_) => ops::apply(op.clone(), &operands)?,
                        op => crate::eager::execute(op, &operands, ty)?,
                    }]
                }
                Action::Kernel(k) => {
                    let operands: Vec<&Tensor> =
                        step.operands.iter().map(get).collect::<Result<_>>()?;
                    launch(k, &operands)?
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
