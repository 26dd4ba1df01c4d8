//! Eager ops on device tensors: one op at a time on the operands' device.
//!
//! Layout ops (reshape, permute, broadcast, slice) are views of the device memory, as on the
//! host. Ops a device kernel expresses run as single-op generated kernels, prepared once per
//! op and argument types and cached. Anything else runs on the host, and the copies that
//! takes (operands down, result up) are recorded in the ledger with the reason and go through
//! the transfer guard; host operands of a device op (a Python scalar, say) are moved to the
//! device the same way.

use crate::error::{EmberError, Result};
use crate::runtime::device::copy::{to_device, Cause};
use crate::runtime::device::steps::contiguous_on_device;
use crate::runtime::device::support::device_can_run;
use crate::runtime::Executable;
use crate::tensor::Tensor;
use ember_ir::kernel::reshape_strides;
use ember_ir::{Device, Graph, Op, ValueType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Cached one-op plans beyond this are dropped.
const MAX_PLANS: usize = 512;

type Key = (Op, Vec<ValueType>, Device);

/// A one-op plan, or why the op cannot run on the device.
type Planned = std::result::Result<Arc<Executable>, String>;

static PLANS: Mutex<Option<HashMap<Key, Planned>>> = Mutex::new(None);

/// The accelerator the op runs on: the one its operands live on.
fn device_of(op: &Op, inputs: &[&Tensor]) -> Result<Device> {
    let mut found: Option<Device> = None;
    for t in inputs {
        let d = t.device();
        if d == Device::Cpu {
            continue;
        }
        match found {
            Some(f) if f != d => {
                return Err(EmberError::Device(format!(
                    "{}: operands live on {f} and {d}; move them to one device with .to(...)",
                    op.name()
                )))
            }
            _ => found = Some(d),
        }
    }
    found.ok_or_else(|| EmberError::Device(format!("{}: no operand is on a device", op.name())))
}

/// Runs `op` (result type `out`) where at least one operand lives on an accelerator.
pub(super) fn run(op: &Op, inputs: &[&Tensor], out: &ValueType) -> Result<Tensor> {
    if let Op::Copy(to) = op {
        return to_device(inputs[0], *to, Cause::explicit("a copy op run eagerly"));
    }
    let dev = device_of(op, inputs)?;
    let moved: Vec<Tensor> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.device() == dev {
                return Ok((*t).clone());
            }
            if t.ndim() == 0 && t.device() == Device::Cpu {
                let why = format!("eager {}: scalar operand {i} copied to {dev}", op.name());
                return to_device(t, dev, Cause::unguarded(&why));
            }
            let why = format!(
                "eager {}: operand {i} ({}) on {} moved to {dev}, where the other operands are",
                op.name(),
                t.value_type(),
                t.device()
            );
            to_device(t, dev, Cause::implicit(&why))
        })
        .collect::<Result<_>>()?;
    let x: Vec<&Tensor> = moved.iter().collect();
    match op {
        Op::Reshape(shape) => {
            let src = match reshape_strides(x[0].shape(), &x[0].strides(), shape) {
                Some(_) => x[0].clone(),
                None => contiguous_on_device(x[0])?,
            };
            crate::eager::movement::reshape(&src, shape)
        }
        Op::Permute(perm) => crate::eager::movement::permute(x[0], perm),
        Op::Broadcast(shape) => crate::eager::movement::broadcast(x[0], shape),
        Op::Slice(dims) => crate::eager::movement::slice(x[0], dims),
        Op::Composite(c) => super::composite::eager_composite(c, x[0]),
        _ => match plan(op, &x, dev) {
            Ok(exe) => exe
                .run(&moved)?
                .pop()
                .ok_or_else(|| EmberError::Value("a one-op device plan returned no result".into())),
            Err(why) => on_host(op, &x, out, dev, &why),
        },
    }
}

/// The cached one-op plan for `op` on `dev`, or why there is none.
fn plan(op: &Op, inputs: &[&Tensor], dev: Device) -> Planned {
    let key: Key = (
        op.clone(),
        inputs.iter().map(|t| t.value_type().clone()).collect(),
        dev,
    );
    let mut guard = PLANS.lock().unwrap_or_else(|e| e.into_inner());
    let plans = guard.get_or_insert_with(HashMap::new);
    if let Some(p) = plans.get(&key) {
        return p.clone();
    }
    let built = build(op, &key.1, dev);
    if plans.len() >= MAX_PLANS {
        plans.clear();
    }
    plans.insert(key, built.clone());
    built
}

fn build(op: &Op, types: &[ValueType], dev: Device) -> Planned {
    let mut g = Graph::new();
    let ins: Vec<_> = types.iter().map(|t| g.input(t.clone(), dev)).collect();
    let node = g.add(op.clone(), &ins, None).map_err(|e| e.to_string())?;
    g.output(node).map_err(|e| e.to_string())?;
    device_can_run(&g, node)?;
    let exe = Executable::device_only(&g).map_err(|e| e.to_string())?;
    Ok(Arc::new(exe))
}

/// Runs `op` on the host: operands copied down, the result copied back up, both recorded
/// with `why` the device could not run it.
fn on_host(op: &Op, x: &[&Tensor], out: &ValueType, dev: Device, why: &str) -> Result<Tensor> {
    let down: Vec<Tensor> = x
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let cause = format!(
                "eager {} runs on the host ({why}): operand {i} copied from {dev}",
                op.name()
            );
            to_device(t, Device::Cpu, Cause::implicit(&cause))
        })
        .collect::<Result<_>>()?;
    let refs: Vec<&Tensor> = down.iter().collect();
    let r = super::apply(op.clone(), &refs)?;
    debug_assert_eq!(r.value_type(), out);
    let cause = format!(
        "eager {} ran on the host ({why}): result copied back to {dev}",
        op.name()
    );
    to_device(&r, dev, Cause::implicit(&cause))
}
