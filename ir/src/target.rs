//! A device-neutral description of the machine a graph runs on, and the cost model the
//! placement pass minimizes.
//!
//! The model is deliberately simple (a roofline per op plus a per-launch overhead, and a
//! latency-plus-bandwidth link): placement only needs to rank assignments, and the numbers
//! come from measured rates, so a model that is easy to reason about beats a precise one that
//! no one can check. Nothing here knows about CUDA; an accelerator is a [`Device`] with rates.

use crate::op::{BinaryOp, Composite, Device, Op, UnaryOp, ValueType};
use std::collections::BTreeSet;

/// The measured rates of one device.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceSpec {
    /// Sustained arithmetic rate, in FLOP/s.
    pub flops: f64,
    /// Sustained memory bandwidth (read + write), in bytes/s.
    pub bandwidth: f64,
    /// Fixed cost of running one op (a kernel launch), in seconds.
    pub launch_overhead: f64,
    /// Names of the ops ([`Op::name`]) this device cannot run; they stay elsewhere.
    pub unsupported: BTreeSet<String>,
}

impl DeviceSpec {
    /// A device with the given rates that runs every op.
    pub fn new(flops: f64, bandwidth: f64, launch_overhead: f64) -> Self {
        DeviceSpec {
            flops,
            bandwidth,
            launch_overhead,
            unsupported: BTreeSet::new(),
        }
    }

    /// True when this device can run `op`. Graph plumbing (inputs, outputs, constants and
    /// copies) is always supported: it is not computation.
    pub fn supports(&self, op: &Op) -> bool {
        matches!(
            op,
            Op::Input { .. } | Op::Output { .. } | Op::Const(_) | Op::Copy(_)
        ) || !self.unsupported.contains(op.name())
    }

    /// Estimated time to run `op` here: launch overhead plus the larger of compute time and
    /// memory time (a roofline). Ops with no work (views, plumbing) cost nothing, not even a
    /// launch, because no kernel runs for them.
    pub fn compute_time(&self, op: &Op, inputs: &[&ValueType], output: &ValueType) -> f64 {
        let w = flops_and_bytes(op, inputs, output);
        if w.flops == 0.0 && w.bytes == 0.0 {
            return 0.0;
        }
        self.launch_overhead + (w.flops / self.flops).max(w.bytes / self.bandwidth)
    }
}

/// The connection between the host and an accelerator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkSpec {
    /// Transfer bandwidth, in bytes/s (the same both ways).
    pub bandwidth: f64,
    /// Fixed cost of one copy, in seconds.
    pub latency: f64,
}

impl LinkSpec {
    /// Time to move `bytes` over this link in one copy.
    pub fn transfer_time(&self, bytes: usize) -> f64 {
        self.latency + bytes as f64 / self.bandwidth
    }
}

/// An accelerator: its id, rates and link to the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Accelerator {
    /// Which device this is.
    pub device: Device,
    /// Its rates and capabilities.
    pub spec: DeviceSpec,
    /// Its link to the host.
    pub link: LinkSpec,
}

/// The machine: a host and zero or more accelerators.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The host CPU.
    pub host: DeviceSpec,
    /// Accelerators, each linked to the host.
    pub accelerators: Vec<Accelerator>,
}

/// The work an op does: floating-point (or integer) operations and bytes moved to and from
/// memory.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Work {
    /// Arithmetic operations.
    pub flops: f64,
    /// Bytes read plus bytes written.
    pub bytes: f64,
}

/// Operations per element of an elementwise function. Transcendentals are a polynomial or a
/// library call on every backend, about ten times an add.
fn unary_flops(u: UnaryOp) -> f64 {
    if u.is_transcendental() {
        10.0
    } else {
        1.0
    }
}

fn binary_flops(b: BinaryOp) -> f64 {
    match b {
        BinaryOp::Pow | BinaryOp::Atan2 | BinaryOp::Hypot => 10.0,
        _ => 1.0,
    }
}

/// Operations per input element of a composite (before it is decomposed), counted from its
/// decomposition, and the number of passes it makes over its input.
fn composite_work(c: &Composite) -> (f64, f64) {
    match c {
        Composite::Softmax { .. } | Composite::LogSoftmax { .. } => (14.0, 3.0),
        Composite::LogSumExp { .. } => (13.0, 2.0),
        Composite::Mean { .. } => (1.0, 1.0),
        Composite::Var { .. } | Composite::Std { .. } => (4.0, 2.0),
        Composite::Gelu { .. } => (15.0, 1.0),
        Composite::Silu => (12.0, 1.0),
        Composite::LayerNorm { .. } => (6.0, 3.0),
    }
}

/// Estimates the work of `op` given its operand types and result type: elementwise ops do a
/// few operations per result element (more for transcendentals), reductions one per input
/// element, matmul `2*M*N*K` (times the batch); views (reshape, permute, broadcast, slice) and
/// graph plumbing do none, and concatenation only moves bytes.
pub fn flops_and_bytes(op: &Op, inputs: &[&ValueType], output: &ValueType) -> Work {
    let in_bytes: f64 = inputs.iter().map(|t| t.nbytes() as f64).sum();
    let out_bytes = output.nbytes() as f64;
    let out_n = output.numel() as f64;
    let streamed = |flops: f64| Work {
        flops,
        bytes: in_bytes + out_bytes,
    };
    match op {
        Op::Input { .. } | Op::Output { .. } | Op::Const(_) | Op::Copy(_) => Work::default(),
        // Views: the result shares the operand's buffer with new strides.
        Op::Reshape(_) | Op::Permute(_) | Op::Broadcast(_) | Op::Slice(_) => Work::default(),
        Op::Concat { .. } => streamed(0.0),
        Op::Unary(u) => streamed(unary_flops(*u) * out_n),
        Op::Binary(b) => streamed(binary_flops(*b) * out_n),
        Op::Where | Op::Cast(_) => streamed(out_n),
        Op::Reduce { .. } => {
            let n = inputs.first().map_or(0.0, |t| t.numel() as f64);
            streamed(n)
        }
        Op::MatMul => {
            // Every result element is a dot product over the contracted dimension.
            let k = inputs
                .first()
                .and_then(|a| a.shape.last())
                .copied()
                .unwrap_or(0) as f64;
            streamed(2.0 * out_n * k)
        }
        Op::Composite(c) => {
            let (per_elem, passes) = composite_work(c);
            let n = inputs.first().map_or(0.0, |t| t.numel() as f64);
            Work {
                flops: per_elem * n,
                bytes: passes * in_bytes + out_bytes,
            }
        }
    }
}

impl Target {
    /// Only a host: placement is a no-op.
    pub fn host_only() -> Self {
        Target {
            host: Self::host_spec(),
            accelerators: Vec::new(),
        }
    }

    /// A host and one simulated GPU (`cuda:0`) with plausible rates, for tests and for
    /// explaining decisions without hardware: host 100 GFLOP/s and 15 GB/s; device
    /// 50 TFLOP/s, 2 TB/s and 5 us per launch; link 12 GB/s and 10 us per copy.
    pub fn simulated_two_device() -> Self {
        Target {
            host: Self::host_spec(),
            accelerators: vec![Accelerator {
                device: Device::Cuda(0),
                spec: DeviceSpec::new(50e12, 2e12, 5e-6),
                link: LinkSpec {
                    bandwidth: 12e9,
                    latency: 10e-6,
                },
            }],
        }
    }

    fn host_spec() -> DeviceSpec {
        DeviceSpec::new(100e9, 15e9, 0.0)
    }

    /// Marks the op named `name` ([`Op::name`]) as unavailable on every accelerator, so it
    /// stays on the host (a host call, or an op a backend lacks).
    pub fn with_host_only_op(mut self, name: &str) -> Self {
        for a in &mut self.accelerators {
            a.spec.unsupported.insert(name.to_string());
        }
        self
    }

    /// The accelerator with this id.
    pub fn accelerator(&self, device: Device) -> Option<&Accelerator> {
        self.accelerators.iter().find(|a| a.device == device)
    }

    /// The rates of `device`, or `None` when the target does not have it.
    pub fn spec(&self, device: Device) -> Option<&DeviceSpec> {
        match device {
            Device::Cpu => Some(&self.host),
            _ => self.accelerator(device).map(|a| &a.spec),
        }
    }

    /// True when the target has `device` and it can run `op`.
    pub fn supports(&self, device: Device, op: &Op) -> bool {
        self.spec(device).is_some_and(|s| s.supports(op))
    }

    /// Estimated time to run `op` on `device`; `None` when the device is missing or cannot
    /// run it.
    pub fn compute_time(
        &self,
        device: Device,
        op: &Op,
        inputs: &[&ValueType],
        output: &ValueType,
    ) -> Option<f64> {
        let spec = self.spec(device)?;
        spec.supports(op)
            .then(|| spec.compute_time(op, inputs, output))
    }

    /// Estimated time of one copy of `bytes` from `from` to `to`: zero on the same device,
    /// through the host (two hops) between two accelerators, `None` when a device is missing.
    pub fn transfer_time(&self, from: Device, to: Device, bytes: usize) -> Option<f64> {
        let hop = |d: Device| match d {
            Device::Cpu => Some(0.0),
            _ => self.accelerator(d).map(|a| a.link.transfer_time(bytes)),
        };
        if from == to {
            return self.spec(from).map(|_| 0.0);
        }
        Some(hop(from)? + hop(to)?)
    }
}
