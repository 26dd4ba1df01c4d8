//! Memory planning over a fusion [`Schedule`]: assigns every value a step produces (kernel
//! outputs, matmul results, fallback results) to a reusable buffer *slot*. A slot is free again
//! after the last step that reads its value, so intermediates that die are reused; graph
//! outputs never share. Values inside fused kernels have no buffer at all (the fusion pass
//! never materializes them), so only step boundaries are planned here.
//!
//! A matmul's epilogue writes in place over the GEMM result when that result is read by nothing
//! else (same slot, the epilogue is elementwise over the same shape).
//!
//! The runtime allocates `slot_bytes[s]` for each slot once per executable and binds
//! `slot_of[v]` for each produced value `v`; inputs and constants are not planned.

use super::fuse::{Schedule, Step};
use crate::graph::{Graph, NodeId};
use std::collections::{HashMap, HashSet};

/// Where each produced value lives.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BufferPlan {
    /// The slot of each value a step writes.
    pub slot_of: HashMap<NodeId, usize>,
    /// The size in bytes of each slot (the largest value placed in it).
    pub slot_bytes: Vec<usize>,
}

impl BufferPlan {
    /// Total bytes allocated for intermediates and outputs.
    pub fn total_bytes(&self) -> usize {
        self.slot_bytes.iter().sum()
    }
}

fn reads(g: &Graph, step: &Step) -> Vec<NodeId> {
    match step {
        Step::Kernel(k) => k.inputs.clone(),
        Step::MatMul { a, b, epilogue, .. } => {
            let mut v = vec![*a, *b];
            if let Some(e) = epilogue {
                v.extend(e.inputs.iter().copied());
            }
            v
        }
        Step::Fallback(n) => g.operands(*n).to_vec(),
    }
}

fn writes(step: &Step) -> Vec<NodeId> {
    match step {
        Step::Kernel(k) => k.outputs.clone(),
        Step::MatMul { out, epilogue, .. } => {
            let mut v = vec![*out];
            if let Some(e) = epilogue {
                v.extend(e.outputs.iter().copied());
            }
            v
        }
        Step::Fallback(n) => vec![*n],
    }
}

/// Plans buffers for `schedule` (computed from `g`).
pub fn plan(g: &Graph, schedule: &Schedule) -> BufferPlan {
    let outputs: HashSet<NodeId> = g.output_values().into_iter().collect();
    let mut last_read: HashMap<NodeId, usize> = HashMap::new();
    for (i, s) in schedule.steps.iter().enumerate() {
        for r in reads(g, s) {
            last_read.insert(r, i);
        }
    }
    let bytes = |v: NodeId| g.node(v).ty.nbytes();
    let mut plan = BufferPlan::default();
    let mut free: Vec<usize> = Vec::new();
    // Values whose slot is released after step i.
    let mut release_at: HashMap<usize, Vec<NodeId>> = HashMap::new();
    for (i, s) in schedule.steps.iter().enumerate() {
        let mut in_place: Option<(NodeId, NodeId)> = None;
        if let Step::MatMul {
            out,
            epilogue: Some(e),
            ..
        } = s
        {
            let only_epilogue = last_read.get(out) == Some(&i) && !outputs.contains(out);
            if let (true, [o]) = (only_epilogue, e.outputs.as_slice()) {
                if bytes(*o) == bytes(*out) {
                    in_place = Some((*out, *o));
                }
            }
        }
        for v in writes(s) {
            if let Some((src, dst)) = in_place {
                if v == dst {
                    let slot = plan.slot_of[&src];
                    plan.slot_of.insert(v, slot);
                    continue;
                }
            }
            let need = bytes(v);
            // Best fit among free slots; otherwise a new slot.
            let pick = free
                .iter()
                .enumerate()
                .filter(|(_, &s)| plan.slot_bytes[s] >= need)
                .min_by_key(|(_, &s)| plan.slot_bytes[s])
                .map(|(j, _)| j);
            let slot = match pick {
                Some(j) => free.swap_remove(j),
                None => {
                    plan.slot_bytes.push(need);
                    plan.slot_bytes.len() - 1
                }
            };
            plan.slot_of.insert(v, slot);
        }
        for v in writes(s) {
            if outputs.contains(&v) || Some(v) == in_place.map(|p| p.0) {
                continue;
            }
            // A value nobody reads dies right after its step.
            let at = last_read.get(&v).copied().unwrap_or(i).max(i);
            release_at.entry(at).or_default().push(v);
        }
        for v in release_at.remove(&i).unwrap_or_default() {
            if let Some(&slot) = plan.slot_of.get(&v) {
                let still_used = plan.slot_of.iter().any(|(w, &s)| {
                    s == slot
                        && *w != v
                        && (outputs.contains(w) || last_read.get(w).is_some_and(|&l| l > i))
                });
                if !still_used && !free.contains(&slot) {
                    free.push(slot);
                }
            }
        }
    }
    plan
}
