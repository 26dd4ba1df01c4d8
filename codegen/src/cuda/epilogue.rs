//! Matmul epilogues stored by the tiled GEMM: [`fuse`] combines a matrix-product kernel
//! (the form [`super::gemm`] recognizes, whose only per-element work is storing the
//! accumulator) with the elementwise kernel the fusion pass runs after it (bias, activation,
//! casts, extra outputs) into one kernel, so the tiled plan applies the epilogue to each
//! element of C as it leaves the registers and C never goes through global memory.
//!
//! The epilogue kernel is what the fusion pass emits for an elementwise group over the
//! product's shape `[batch..., m, n]`: a nest of loops, each over a run of adjacent axes of
//! that shape that every operand reads alike (axes of size 1 get no loop), around straight-line
//! code that loads its operands, computes and stores its outputs. Each loop maps onto the
//! product's own loops: the batch loop (all batch axes as one), the row loop `i` and the column
//! loop `j`. An operand's view is re-declared over those loops (a `[m * n]` view indexed by a
//! flat loop becomes `[m, n]` indexed by `i, j`; a bias `[n]` stays `[n]` indexed by `j`), which
//! views the same buffer as long as the runtime passes strides for the new shape. A load of the
//! product itself becomes the accumulator, so the epilogue computes on the same sums the
//! separate kernel would read back, in the same order, with the same operations: the results
//! are bit-identical.
//!
//! Epilogues that do not have this form stay separate kernels, and [`fuse`] says why: a loop
//! over only some of the batch axes (an operand with batch axes of its own that the others
//! broadcast over), reductions or nested phases, a read of an output, a loop index used as a
//! value.

use super::gemm;
use ember_ir::kernel::{ArgDecl, ArgId, Inst, Kernel, Var};
use smallvec::SmallVec;
use std::collections::HashMap;

/// One of the product's loops: the batch loop, the rows, the columns.
type Coarse = usize;

/// `product` (a matrix product whose per-element work is one store of its accumulator to an
/// output argument) with `epilogue` applied to every element instead of that store: one
/// kernel. `product_args` are the epilogue's input arguments bound to the product's result
/// (of shape `shape`, `[batch..., m, n]`, in C order).
///
/// Arguments of the result: the product's inputs, then the epilogue's other inputs, then the
/// epilogue's outputs, each in its kernel's order (outputs keep their values' element counts;
/// inputs are re-declared as described in the module documentation). Every input and output of
/// the result binds the value the same argument of `product` or `epilogue` bound.
///
/// `Err` says why the epilogue cannot be stored by the tiled GEMM.
pub fn fuse(
    product: &Kernel,
    epilogue: &Kernel,
    product_args: &[ArgId],
    shape: &[usize],
) -> Result<Kernel, String> {
    let p = product.normalized();
    p.verify().map_err(|e| e.to_string())?;
    epilogue.verify().map_err(|e| e.to_string())?;
    let g = gemm::recognize(&p).ok_or("the product is not a tiled matrix product")?;
    // The product's per-element work: one store of the accumulator.
    let (c_arg, store_at) = match g.element.as_slice() {
        &[at] => match &p.body[at] {
            Inst::Store { arg, value, .. } if *value == g.acc => (*arg, at),
            _ => return Err("the product's kernel does more than store its sums".into()),
        },
        _ => return Err("the product's kernel does more than store its sums".into()),
    };
    let coarse = coarse_loops(&g, shape)?;
    let nest = Nest::of(epilogue)?;
    let covers = nest.cover(shape)?;
    // The product's loop variables, and the epilogue's loops in terms of them.
    let mut coarse_vars: Vec<(Var, usize)> = Vec::new();
    if let Some(b) = g.batch {
        coarse_vars.push(b);
    }
    coarse_vars.extend([g.i, g.j]);
    let loop_coarse: Vec<Vec<Coarse>> = covers
        .iter()
        .map(|dims| {
            let mut cs: Vec<Coarse> = dims.iter().map(|&d| coarse[d]).collect();
            cs.dedup();
            cs
        })
        .collect();
    check_whole_batch(&covers, shape)?;

    // Argument numbering of the result.
    let mut args: Vec<ArgDecl> = Vec::new();
    let mut p_arg: HashMap<ArgId, ArgId> = HashMap::new();
    for (i, a) in p.args.iter().enumerate() {
        if i as ArgId != c_arg {
            if a.output {
                return Err("the product's kernel has a second output".into());
            }
            p_arg.insert(i as ArgId, args.len() as ArgId);
            args.push(a.clone());
        }
    }
    let mut e_arg: HashMap<ArgId, ArgId> = HashMap::new();
    for pass_outputs in [false, true] {
        for (i, a) in epilogue.args.iter().enumerate() {
            let id = i as ArgId;
            if a.output == pass_outputs && !product_args.contains(&id) {
                e_arg.insert(id, args.len() as ArgId);
                args.push(a.clone());
            }
        }
    }
    for &id in product_args {
        let a = epilogue
            .args
            .get(id as usize)
            .ok_or("an argument bound to the product does not exist")?;
        if a.output || a.dtype != g.dtype {
            return Err("an argument bound to the product is not a float input".into());
        }
    }

    // The epilogue's values live above the product's.
    let base = p
        .body
        .iter()
        .filter_map(Inst::def)
        .map(|v| v.0 + 1)
        .max()
        .unwrap_or(0);
    let loop_of: HashMap<Var, usize> = nest.vars.iter().enumerate().map(|(l, &v)| (v, l)).collect();
    let mut declared: HashMap<ArgId, SmallVec<[usize; 4]>> = HashMap::new();
    let mut rename: HashMap<Var, Var> = HashMap::new();
    let mut element: Vec<Inst> = Vec::new();
    let all_loops = |index: &[Var]| {
        index
            .iter()
            .map(|v| loop_of.get(v).copied())
            .eq((0..nest.vars.len()).map(Some))
    };
    for inst in &epilogue.body[nest.body.clone()] {
        // Loop indices may only index.
        let values = match inst {
            Inst::Load { .. } => SmallVec::new(),
            Inst::Store { value, .. } => smallvec::smallvec![*value],
            _ => inst.uses(),
        };
        if let Some(v) = values.iter().find(|v| loop_of.contains_key(v)) {
            return Err(format!("the epilogue uses loop index %{} as a value", v.0));
        }
        // The argument and the index of a load or store in the combined kernel.
        let mut place: Option<(ArgId, SmallVec<[Var; 4]>)> = None;
        match inst {
            Inst::Load { dst, arg, index } if product_args.contains(arg) => {
                if !all_loops(index) {
                    return Err("the epilogue reads the product at another element".into());
                }
                rename.insert(*dst, g.acc);
                continue;
            }
            Inst::Load { arg, index, .. } | Inst::Store { arg, index, .. } => {
                let decl = &epilogue.args[*arg as usize];
                if decl.output && matches!(inst, Inst::Load { .. }) {
                    return Err("the epilogue reads back an output".into());
                }
                let (shape, new_index): (SmallVec<[usize; 4]>, SmallVec<[Var; 4]>) =
                    if all_loops(index) {
                        // A value over the whole product: viewed like C, `[batch?, m, n]`.
                        (
                            coarse_vars.iter().map(|c| c.1).collect(),
                            coarse_vars.iter().map(|c| c.0).collect(),
                        )
                    } else if decl.output {
                        return Err("the epilogue stores part of an output".into());
                    } else {
                        let mut shape = SmallVec::new();
                        let mut new_index = SmallVec::new();
                        for (d, v) in index.iter().enumerate() {
                            let l = *loop_of
                                .get(v)
                                .ok_or("the epilogue indexes an operand by a computed value")?;
                            if decl.shape.get(d) != Some(&nest.extents[l]) {
                                return Err("an operand's view does not match its loop".into());
                            }
                            for &c in &loop_coarse[l] {
                                shape.push(coarse_vars[c].1);
                                new_index.push(coarse_vars[c].0);
                            }
                        }
                        (shape, new_index)
                    };
                let id = *e_arg.get(arg).ok_or("the epilogue stores to an input")?;
                if declared.get(&id).is_some_and(|s| *s != shape) {
                    return Err("an operand is read through two different views".into());
                }
                declared.insert(id, shape);
                place = Some((id, new_index));
            }
            _ => {}
        }
        let mut inst = inst.clone();
        inst.rename(&mut |v| rename.get(&v).copied().unwrap_or(Var(v.0 + base)));
        if let (Inst::Load { arg, index, .. } | Inst::Store { arg, index, .. }, Some((id, new))) =
            (&mut inst, place)
        {
            *arg = id;
            *index = new;
        }
        element.push(inst);
    }
    for (id, shape) in declared {
        args[id as usize].shape = shape;
    }

    let mut body = Vec::with_capacity(p.body.len() + element.len());
    for (at, inst) in p.body.iter().enumerate() {
        if at == store_at {
            body.append(&mut element);
            continue;
        }
        let mut inst = inst.clone();
        if let Inst::Load { arg, .. } = &mut inst {
            *arg = *p_arg.get(arg).ok_or("the product reads its own output")?;
        }
        body.push(inst);
    }
    let fused = Kernel {
        name: format!("{}+{}", product.name, epilogue.name),
        args,
        body,
    };
    fused
        .verify()
        .map_err(|e| format!("the combined kernel does not verify: {e}"))?;
    let mut out = fused.normalized();
    out.name = fused.name;
    if gemm::recognize(&out).is_none() {
        return Err("the combined kernel does not take the tiled plan".into());
    }
    Ok(out)
}

/// The product's loop each axis of `shape` belongs to (`[batch..., m, n]`: the batch loop
/// for every batch axis, then the rows, then the columns), checked against the product.
fn coarse_loops(g: &gemm::Gemm, shape: &[usize]) -> Result<Vec<Coarse>, String> {
    let nd = shape.len();
    let batch: usize = shape[..nd.saturating_sub(2)].iter().product();
    let fits = nd >= 2
        && (shape[nd - 2], shape[nd - 1]) == (g.i.1, g.j.1)
        && (nd > 2) == g.batch.is_some()
        && batch == g.batches();
    if !fits {
        return Err(format!(
            "the epilogue's shape {shape:?} is not the product's ({} x {} x {})",
            g.batches(),
            g.i.1,
            g.j.1
        ));
    }
    if shape.contains(&0) {
        return Err("the product is empty".into());
    }
    let first = usize::from(g.batch.is_some());
    Ok((0..nd)
        .map(|d| if d + 2 < nd { 0 } else { first + d + 2 - nd })
        .collect())
}

/// The loops of an elementwise kernel: a nest of loops around straight-line code.
struct Nest {
    /// Loop variables, outermost first.
    vars: Vec<Var>,
    /// Their extents.
    extents: Vec<usize>,
    /// Body indices of the straight-line code.
    body: std::ops::Range<usize>,
}

impl Nest {
    fn of(k: &Kernel) -> Result<Nest, String> {
        let (mut vars, mut extents) = (Vec::new(), Vec::new());
        for inst in &k.body {
            match inst {
                Inst::Loop { var, extent, .. } => {
                    vars.push(*var);
                    extents.push(*extent);
                }
                _ => break,
            }
        }
        let lo = vars.len();
        let hi = k.body.len() - vars.len();
        let closes = k.body[hi.max(lo)..]
            .iter()
            .all(|i| matches!(i, Inst::EndLoop));
        let straight = k.body.get(lo..hi).is_some_and(|b| {
            b.iter().all(|i| {
                matches!(
                    i,
                    Inst::Const { .. }
                        | Inst::Load { .. }
                        | Inst::Store { .. }
                        | Inst::Unary { .. }
                        | Inst::Binary { .. }
                        | Inst::Select { .. }
                        | Inst::Cast { .. }
                )
            })
        });
        if !(closes && straight) {
            return Err("the epilogue is not one elementwise loop nest".into());
        }
        Ok(Nest {
            vars,
            extents,
            body: lo..hi,
        })
    }

    /// The axes of `shape` each loop runs over: consecutive runs of the axes longer than 1,
    /// in order, whose sizes multiply to the loop's extent.
    fn cover(&self, shape: &[usize]) -> Result<Vec<Vec<usize>>, String> {
        let mut axes = (0..shape.len()).filter(|&d| shape[d] != 1).peekable();
        let mut covers = Vec::with_capacity(self.extents.len());
        for &extent in &self.extents {
            let (mut dims, mut size) = (Vec::new(), 1);
            while size < extent {
                let d = axes
                    .next()
                    .ok_or("the epilogue's loops exceed the product")?;
                dims.push(d);
                size *= shape[d];
            }
            if size != extent || dims.is_empty() {
                return Err("the epilogue's loops do not follow the product's axes".into());
            }
            covers.push(dims);
        }
        if axes.peek().is_some() {
            return Err("the epilogue's loops do not cover the product".into());
        }
        Ok(covers)
    }
}

/// Checks that a loop over batch axes runs over all of them (the product has one batch loop).
fn check_whole_batch(covers: &[Vec<usize>], shape: &[usize]) -> Result<(), String> {
    let nd = shape.len();
    let batch_axes = (0..nd.saturating_sub(2)).filter(|&d| shape[d] != 1).count();
    for dims in covers {
        let n = dims.iter().filter(|&&d| d + 2 < nd).count();
        if n != 0 && n != batch_axes {
            return Err(
                "an operand of the epilogue has batch axes of its own that others broadcast over"
                    .into(),
            );
        }
    }
    Ok(())
}
