//! [`Executable`]: an optimized graph turned into a list of steps that run without Python.
//! Each step runs one node with its eager kernel; values are dropped after their last use so
//! intermediates do not pile up.

use crate::error::{EmberError, Result};
use crate::ops;
use crate::tensor::Tensor;
use crate::trace::tensor_of;
use ember_ir::{Graph, NodeId, Op, ValueType};
use std::collections::HashMap;

/// One step of the plan: a node, where its operands are, and which values die after it.
#[derive(Debug, Clone)]
struct Step {
    op: Op,
    ty: ValueType,
    operands: Vec<usize>,
    out: usize,
    /// Value slots whose last use is this step.
    frees: Vec<usize>,
}

/// A compiled plan for one graph.
#[derive(Debug, Clone)]
pub struct Executable {
    inputs: Vec<(usize, ValueType)>,
    constants: Vec<(usize, Tensor)>,
    steps: Vec<Step>,
    outputs: Vec<usize>,
    slots: usize,
}

impl Executable {
    /// Builds the plan for `graph` (already optimized and verified).
    pub fn new(graph: &Graph) -> Result<Executable> {
        let order = graph.topo_order()?;
        let slot_of: HashMap<NodeId, usize> =
            order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let mut inputs = Vec::new();
        let mut constants = Vec::new();
        let mut steps = Vec::new();
        for &n in &order {
            let node = graph.node(n);
            let slot = slot_of[&n];
            match &node.op {
                Op::Input { index } => {
                    if inputs.len() <= *index {
                        inputs.resize(*index + 1, (usize::MAX, node.ty.clone()));
                    }
                    inputs[*index] = (slot, node.ty.clone());
                }
                Op::Const(lit) => constants.push((slot, tensor_of(lit))),
                Op::Output { .. } => {}
                op => steps.push(Step {
                    op: op.clone(),
                    ty: node.ty.clone(),
                    operands: graph.operands(n).iter().map(|o| slot_of[o]).collect(),
                    out: slot,
                    frees: Vec::new(),
                }),
            }
        }
        let outputs: Vec<usize> = graph.output_values().iter().map(|v| slot_of[v]).collect();
        // Last use of each slot; outputs live to the end.
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            for &o in &s.operands {
                last_use.insert(o, i);
            }
        }
        let constant_slots: Vec<usize> = constants.iter().map(|c| c.0).collect();
        for (slot, step) in last_use {
            if !outputs.contains(&slot) && !constant_slots.contains(&slot) {
                steps[step].frees.push(slot);
            }
        }
        Ok(Executable {
            inputs,
            constants,
            steps,
            outputs,
            slots: order.len(),
        })
    }

    /// The types the arguments must have.
    pub fn input_types(&self) -> Vec<ValueType> {
        self.inputs.iter().map(|i| i.1.clone()).collect()
    }

    /// Number of steps (for diagnostics).
    pub fn num_steps(&self) -> usize {
        self.steps.len()
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
            let operands: Vec<&Tensor> = step
                .operands
                .iter()
                .map(|&o| {
                    values[o].as_ref().ok_or_else(|| {
                        EmberError::Value(
                            "plan error: a value was used before it was computed".into(),
                        )
                    })
                })
                .collect::<Result<_>>()?;
            let out = match &step.op {
                Op::Composite(_) => ops::apply(step.op.clone(), &operands)?,
                op => crate::eager::execute(op, &operands, &step.ty)?,
            };
            for &f in &step.frees {
                values[f] = None;
            }
            values[step.out] = Some(out);
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
