//! The CUDA-shaped lowering of a kernel: how its loops map onto a grid of blocks of threads.
//! The renderer ([`super::render`](mod@super::render)) writes CUDA C from a [`Plan`], and the grid simulator
//! ([`super::grid`]) runs the same plan on the CPU, so the grid logic is tested without a GPU.
//!
//! Three shapes:
//! * [`Mode::Thread`]: one thread per iteration of the parallel loop, in a grid-stride loop
//!   (`i = blockIdx.x * blockDim.x + threadIdx.x; i += gridDim.x * blockDim.x`). Inner loops
//!   and their reductions run sequentially in the thread. A flat elementwise kernel also gets
//!   a 4-wide vector path, taken at run time when every stride is 1 and every pointer aligned.
//! * [`Mode::Block`]: one block per iteration of the parallel loop (blocks stride over the
//!   rows), or a single block when there is no parallel loop. The *row level* (the parallel
//!   loop's body, or the whole body) runs in every thread; each loop directly inside it is
//!   split across the block's threads (`j = threadIdx.x; j += blockDim.x`, which makes loads
//!   of the contiguous axis coalesced), and the row-level accumulators it updates are combined
//!   after it with warp shuffles and shared memory, so every thread sees the total. Row-level
//!   stores are done by thread 0. A split loop whose stores a later part of the row reads
//!   back (the kernel IR's read-back rule: a row kernel's phase reading what an earlier one
//!   stored) is followed by `__syncthreads()`, since another thread may own the element.
//! * [`Mode::Single`]: one thread runs the kernel as written (structures the other two cannot
//!   split safely, e.g. a second top-level loop next to the parallel one).
//! * [`Mode::Gemm`]: a float matrix product with its epilogue, recognized in the kernel IR
//!   ([`super::gemm`]): block tiles of the result, register tiles per thread, the `k` loop
//!   through shared memory.

use super::gemm::{self, Gemm};
use ember_ir::kernel::{Inst, Kernel, Var};
use std::collections::{BTreeMap, BTreeSet};

/// Threads per block of thread-mode kernels, and the most any plan uses.
pub const MAX_BLOCK: u32 = 256;
/// Lanes of the vector path.
pub const VEC: usize = 4;
/// Child loops shorter than a warp are not worth splitting across a block.
const MIN_SPLIT: usize = 32;

/// How a kernel maps onto the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A thread per parallel iteration (grid-stride).
    Thread,
    /// A block per parallel iteration (or one block); row-level loops split across threads.
    Block,
    /// One thread does everything.
    Single,
    /// A tiled matrix product ([`Plan::gemm`]).
    Gemm,
}

/// The lowering decisions for one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The shape.
    pub mode: Mode,
    /// Threads per block (a multiple of 32; the kernel's `__launch_bounds__`).
    pub block: u32,
    /// The parallel loop `(var, extent)`, if the kernel has one.
    pub rows: Option<(Var, usize)>,
    /// Thread mode: the kernel is flat elementwise, so it also gets the vector path.
    pub vector: bool,
    /// Block mode: body indices of the `Loop`s whose iterations the block's threads share.
    pub split: BTreeSet<usize>,
    /// Block mode: for the index of a split loop's `EndLoop`, the row-level accumulators to
    /// combine across the block right after it.
    pub reduce_after: BTreeMap<usize, Vec<Var>>,
    /// Block mode: indices of split loops' `EndLoop`s followed by `__syncthreads()`, because a
    /// later instruction of the row loads an output the loop stores.
    pub sync_after: BTreeSet<usize>,
    /// Gemm mode: the matrix product and its epilogue.
    pub gemm: Option<Gemm>,
}

/// A launch configuration: `grid` blocks of `block` threads (shared memory is static).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    /// Blocks in the grid (at least 1).
    pub grid: u32,
    /// Threads per block.
    pub block: u32,
}

impl Plan {
    /// Plans a kernel (which must verify).
    pub fn new(k: &Kernel) -> Plan {
        let ends = k.loop_ends();
        let rows = k.parallel_loop();
        let single = Plan {
            mode: Mode::Single,
            block: 32,
            rows,
            vector: false,
            split: BTreeSet::new(),
            reduce_after: BTreeMap::new(),
            sync_after: BTreeSet::new(),
            gemm: None,
        };
        if let Some(g) = gemm::recognize(k) {
            return Plan {
                mode: Mode::Gemm,
                block: gemm::THREADS as u32,
                gemm: Some(g),
                ..single
            };
        }
        // The parallel loop must be the whole kernel: anything beside it would run once per
        // thread (or depend on every iteration).
        if rows.is_some() && ends[0] + 1 != k.body.len() {
            return single;
        }
        let (lo, hi, row_depth) = match rows {
            Some(_) => (1, ends[0], 1),
            None => (0, k.body.len(), 0),
        };
        let split = split_analysis(k, &ends, lo, hi, row_depth);
        match (rows, split) {
            // A parallel kernel splits its rows' loops only when they are at least a warp
            // wide; otherwise a thread per row keeps every lane busy.
            (Some(_), Some(s)) if s.widest >= MIN_SPLIT => Plan::block(k, &ends, rows, s),
            (None, Some(s)) => Plan::block(k, &ends, None, s),
            (Some(_), _) => Plan {
                mode: Mode::Thread,
                block: MAX_BLOCK,
                vector: is_flat(k),
                ..single
            },
            (None, None) => single,
        }
    }

    fn block(k: &Kernel, ends: &[usize], rows: Option<(Var, usize)>, s: Split) -> Plan {
        // A split loop needs a barrier after it when a later instruction of the row (before
        // the row ends) loads an output argument the loop stores.
        let row_end = match rows {
            Some(_) => ends.first().copied().unwrap_or(k.body.len()),
            None => k.body.len(),
        };
        let sync_after = s
            .loops
            .iter()
            .filter_map(|&l| {
                let end = ends[l];
                let stored: BTreeSet<u32> = k.body[l..end]
                    .iter()
                    .filter_map(|i| match i {
                        Inst::Store { arg, .. } => Some(*arg),
                        _ => None,
                    })
                    .collect();
                let read_later = k.body[end..row_end]
                    .iter()
                    .any(|i| matches!(i, Inst::Load { arg, .. } if stored.contains(arg)));
                read_later.then_some(end)
            })
            .collect();
        Plan {
            mode: Mode::Block,
            block: block_for(s.widest),
            rows,
            vector: false,
            split: s.loops,
            reduce_after: s.reduce_after,
            sync_after,
            gemm: None,
        }
    }

    /// The launch configuration, with at most `max_blocks` blocks (grid-stride loops cover the
    /// rest). A runtime passes a multiple of the device's multiprocessor count.
    pub fn launch(&self, max_blocks: u32) -> Launch {
        let max_blocks = max_blocks.max(1) as usize;
        let grid = match (self.mode, self.rows) {
            (Mode::Thread, Some((_, n))) => n.div_ceil(self.block as usize),
            (Mode::Block, Some((_, n))) => n,
            (Mode::Gemm, _) => self.gemm.as_ref().map_or(1, Gemm::tiles),
            _ => 1,
        };
        Launch {
            grid: grid.clamp(1, max_blocks) as u32,
            block: self.block,
        }
    }
}

/// Threads for a block whose widest split loop has `n` iterations: a power of two from one
/// warp up to [`MAX_BLOCK`].
fn block_for(n: usize) -> u32 {
    n.next_power_of_two().clamp(32, MAX_BLOCK as usize) as u32
}

struct Split {
    loops: BTreeSet<usize>,
    reduce_after: BTreeMap<usize, Vec<Var>>,
    widest: usize,
}

/// Whether the row level `body[lo..hi]` (at loop depth `row_depth`) can be split across a
/// block: it has at least one child loop, every row-level accumulator is updated inside at
/// most one child loop (it is combined once, after that loop), and every store inside a child
/// loop indexes by that loop's variable (iterations given to different threads write
/// different elements, so the order between threads does not matter).
fn split_analysis(
    k: &Kernel,
    ends: &[usize],
    lo: usize,
    hi: usize,
    row_depth: usize,
) -> Option<Split> {
    let mut loops = BTreeSet::new();
    let mut reduce_after: BTreeMap<usize, Vec<Var>> = BTreeMap::new();
    let mut row_accs: BTreeMap<Var, Option<usize>> = BTreeMap::new();
    let mut widest = 0;
    let mut depth = row_depth;
    // The child loop we are inside: (its Loop index, its variable).
    let mut child: Option<(usize, Var)> = None;
    for i in lo..hi {
        match &k.body[i] {
            Inst::Loop { var, extent, .. } => {
                if depth == row_depth {
                    loops.insert(i);
                    child = Some((i, *var));
                    widest = widest.max(*extent);
                }
                depth += 1;
            }
            Inst::EndLoop => {
                depth -= 1;
                if depth == row_depth {
                    child = None;
                }
            }
            Inst::Acc { dst, .. } if depth == row_depth => {
                row_accs.insert(*dst, None);
            }
            Inst::Update { acc, .. } | Inst::UpdateArg { acc, .. } => {
                if let (Some(slot), Some((at, _))) = (row_accs.get_mut(acc), child) {
                    match slot {
                        Some(prev) if *prev != at => return None,
                        _ => *slot = Some(at),
                    }
                }
            }
            Inst::Store { index, .. } => {
                if let Some((_, var)) = child {
                    if !index.contains(&var) {
                        return None;
                    }
                }
            }
            _ => {}
        }
    }
    if loops.is_empty() {
        return None;
    }
    for (acc, at) in row_accs {
        if let Some(at) = at {
            reduce_after.entry(ends[at]).or_default().push(acc);
        }
    }
    Some(Split {
        loops,
        reduce_after,
        widest,
    })
}

/// A flat elementwise kernel: the parallel loop holds no loops or accumulators, and every
/// load and store indexes a one-dimensional argument by the parallel variable.
fn is_flat(k: &Kernel) -> bool {
    let Some((var, _)) = k.parallel_loop() else {
        return false;
    };
    k.body[1..k.body.len().saturating_sub(1)]
        .iter()
        .all(|inst| match inst {
            Inst::Loop { .. } | Inst::EndLoop | Inst::Acc { .. } => false,
            Inst::Update { .. } | Inst::UpdateArg { .. } => false,
            Inst::Load { index, arg, .. } | Inst::Store { index, arg, .. } => {
                index.as_slice() == [var]
                    && k.args
                        .get(*arg as usize)
                        .is_some_and(|a| a.shape.len() == 1)
            }
            _ => true,
        })
}
