//! Re-looping a kernel over another iteration space.
//!
//! An elementwise kernel (one perfect loop nest, every argument indexed by the variables of
//! the loops it varies along) computes the same values whatever order its loops run in and
//! however adjacent loops are merged or split, as long as every argument is viewed with
//! matching strides; so does a one-phase reduction, within its outer loops and within its
//! reduction loops (a float sum then adds in another order, as NumPy's does for other
//! layouts). The runtime uses this to run a kernel over its operands'
//! memory order: `x.T + 1` as one unit-stride loop writing a Fortran-ordered result, instead
//! of a transpose. [`Kernel::loop_nest`] recognizes such kernels (and one-phase reductions) and
//! [`Kernel::relooped`] rebuilds one over new loops; the caller supplies the strides.

use super::{ArgDecl, Inst, Kernel, Var};
use crate::error::{IrError, Result};
use smallvec::SmallVec;

/// The loop structure of an elementwise kernel or a one-phase reduction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopNest {
    /// Extent of each loop, outermost first.
    pub extents: Vec<usize>,
    /// How many of the innermost loops are reduction loops (0 for an elementwise kernel).
    pub reduced: usize,
    /// For each argument, the loops (positions in `extents`, in index order) it is indexed
    /// by; outputs are indexed by every loop that is not a reduction loop, in order.
    pub present: Vec<Vec<usize>>,
}

/// The sections of a loop-nest kernel's body (indices into it).
struct Sections {
    kept: Vec<(Var, usize)>,
    reduced: Vec<(Var, usize)>,
    /// Constants before the loops.
    prefix: std::ops::Range<usize>,
    /// Accumulators (and constants) between the kept and the reduced loops.
    mid: std::ops::Range<usize>,
    /// The innermost body.
    body: std::ops::Range<usize>,
    /// The stores of accumulators after the reduced loops.
    post: std::ops::Range<usize>,
}

impl Kernel {
    fn sections(&self) -> Option<Sections> {
        let b = &self.body;
        let run = |from: usize, f: &dyn Fn(&Inst) -> bool| {
            from + b[from..].iter().take_while(|i| f(i)).count()
        };
        let is_loop = |i: &Inst| matches!(i, Inst::Loop { .. });
        let loops_of = |r: std::ops::Range<usize>| -> Vec<(Var, usize)> {
            b[r].iter()
                .filter_map(|i| match i {
                    Inst::Loop { var, extent, .. } => Some((*var, *extent)),
                    _ => None,
                })
                .collect()
        };
        let p_end = run(0, &|i| matches!(i, Inst::Const { .. }));
        let k_end = run(p_end, &is_loop);
        let m_end = run(k_end, &|i| {
            matches!(i, Inst::Const { .. } | Inst::Acc { .. })
        });
        let reduction = b[k_end..m_end]
            .iter()
            .any(|i| matches!(i, Inst::Acc { .. }));
        let kept = loops_of(p_end..k_end);
        if kept.is_empty() {
            return None;
        }
        let (mid, r_end) = if reduction {
            (k_end..m_end, run(m_end, &is_loop))
        } else {
            (k_end..k_end, k_end)
        };
        let reduced = loops_of(mid.end..r_end);
        if reduction && reduced.is_empty() {
            return None;
        }
        let body_end = r_end + b[r_end..].iter().position(|i| matches!(i, Inst::EndLoop))?;
        let post_start = body_end + reduced.len();
        let post_end = b.len().checked_sub(kept.len())?;
        if post_start > post_end
            || !b[body_end..post_start]
                .iter()
                .all(|i| matches!(i, Inst::EndLoop))
            || !b[post_end..].iter().all(|i| matches!(i, Inst::EndLoop))
        {
            return None;
        }
        Some(Sections {
            kept,
            reduced,
            prefix: 0..p_end,
            mid,
            body: r_end..body_end,
            post: post_start..post_end,
        })
    }

    /// The loops of this kernel when it is one loop nest that can run in another order: loops
    /// opened one after the other (constants first), then for a reduction its accumulators
    /// and its reduction loops, an innermost body with no loops, loop variables used only as
    /// load and store indices (distinct loops, the same for every access to one argument),
    /// elementwise outputs stored over every loop and never read back, a reduction's
    /// outputs stored with its accumulators over the outer loops after the reduction loops.
    /// `None` for anything else (multi-phase row kernels, argmax/argmin, full reductions).
    pub fn loop_nest(&self) -> Option<LoopNest> {
        let sec = self.sections()?;
        let loops: Vec<(Var, usize)> = sec.kept.iter().chain(&sec.reduced).copied().collect();
        let reduction = !sec.reduced.is_empty();
        let pos = |v: Var| loops.iter().position(|&(l, _)| l == v);
        let accs: Vec<Var> = self.body[sec.mid.clone()]
            .iter()
            .filter_map(|i| match i {
                Inst::Acc { dst, .. } => Some(*dst),
                _ => None,
            })
            .collect();
        let mut present: Vec<Option<Vec<usize>>> = vec![None; self.args.len()];
        let post = self.body[sec.post.clone()].iter().map(|i| (i, true));
        for (inst, after) in self.body[sec.body.clone()]
            .iter()
            .map(|i| (i, false))
            .chain(post)
        {
            let (arg, index, others): (u32, &SmallVec<[Var; 4]>, SmallVec<[Var; 4]>) = match inst {
                Inst::Load { arg, index, .. } if !after => (*arg, index, SmallVec::new()),
                Inst::Store { arg, index, value } if after == reduction => {
                    if after && !accs.contains(value) {
                        return None;
                    }
                    (*arg, index, smallvec::smallvec![*value])
                }
                Inst::Update { .. } if reduction && !after => continue,
                Inst::Const { .. }
                | Inst::Unary { .. }
                | Inst::Binary { .. }
                | Inst::Select { .. }
                | Inst::Cast { .. }
                    if !after =>
                {
                    if inst.uses().iter().any(|&v| pos(v).is_some()) {
                        return None;
                    }
                    continue;
                }
                _ => return None,
            };
            let decl = self.args.get(arg as usize)?;
            if matches!(inst, Inst::Load { .. }) == decl.output {
                return None;
            }
            if others.iter().any(|&v| pos(v).is_some()) {
                return None;
            }
            let at: Vec<usize> = index.iter().map(|&v| pos(v)).collect::<Option<_>>()?;
            let distinct = at.iter().enumerate().all(|(i, p)| !at[..i].contains(p));
            let shaped = at
                .iter()
                .map(|&p| loops[p].1)
                .eq(decl.shape.iter().copied());
            let whole = (0..sec.kept.len() + if after { 0 } else { sec.reduced.len() })
                .eq(at.iter().copied());
            if !distinct || !shaped || (decl.output && !whole) {
                return None;
            }
            match &present[arg as usize] {
                Some(p) if *p != at => return None,
                Some(_) => {}
                None => present[arg as usize] = Some(at),
            }
        }
        // An argument the kernel never touches has no loops: it can only be an unused input
        // of one element.
        let present = self
            .args
            .iter()
            .zip(present)
            .map(|(d, p)| match p {
                Some(p) => Some(p),
                None if !d.output && d.shape.iter().product::<usize>() == 1 => Some(Vec::new()),
                None => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(LoopNest {
            extents: loops.iter().map(|&(_, e)| e).collect(),
            reduced: sec.reduced.len(),
            present,
        })
    }

    /// For a full reduction whose result does not depend on the order it visits elements
    /// in: whether each argument is read along its one loop (`true`) or is a scalar read
    /// whole. Such a kernel is constants and accumulators, one loop whose variable is used
    /// only as the whole index of 1-d loads of its extent, a body of loads, pure operations
    /// and `Update`s (no argmax/argmin, no stores), then element-wise work on the
    /// accumulators and stores of single elements. The runtime binds operands that share one
    /// dense layout in memory order (a Fortran-ordered array's sum read as a flat array);
    /// the sums then add in another order, as NumPy's do for such layouts.
    pub fn flat_reduction(&self) -> Option<Vec<bool>> {
        let b = &self.body;
        let start = b
            .iter()
            .position(|i| !matches!(i, Inst::Const { .. } | Inst::Acc { .. }))?;
        if !b[..start].iter().any(|i| matches!(i, Inst::Acc { .. })) {
            return None;
        }
        let Inst::Loop { var, extent, .. } = b[start] else {
            return None;
        };
        let end = start
            + 1
            + b[start + 1..]
                .iter()
                .position(|i| matches!(i, Inst::EndLoop))?;
        let mut along = vec![false; self.args.len()];
        for inst in &b[start + 1..end] {
            match inst {
                Inst::Load { arg, index, .. } => {
                    let decl = self.args.get(*arg as usize)?;
                    if decl.output {
                        return None;
                    }
                    if index.as_slice() == [var] && decl.shape.as_slice() == [extent] {
                        along[*arg as usize] = true;
                    } else if !index.is_empty() || decl.shape.iter().product::<usize>() != 1 {
                        return None;
                    }
                }
                Inst::Update { .. }
                | Inst::Const { .. }
                | Inst::Unary { .. }
                | Inst::Binary { .. }
                | Inst::Select { .. }
                | Inst::Cast { .. } => {
                    if inst.uses().contains(&var) {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        for inst in &b[end + 1..] {
            match inst {
                Inst::Store { arg, .. } => {
                    let decl = self.args.get(*arg as usize)?;
                    if !decl.output || decl.shape.iter().product::<usize>() != 1 {
                        return None;
                    }
                }
                Inst::Const { .. }
                | Inst::Unary { .. }
                | Inst::Binary { .. }
                | Inst::Select { .. }
                | Inst::Cast { .. } => {}
                _ => return None,
            }
        }
        Some(along)
    }

    /// This kernel (one [`Kernel::loop_nest`]) over the loops `to` (the outermost parallel):
    /// argument `a` is declared with the extents of the loops `to.present[a]`, in that order,
    /// and indexed by their variables. The caller must pass each argument the strides that
    /// make each element of the new view the one the original kernel reads or writes at the
    /// same point of the iteration space.
    pub fn relooped(&self, to: &LoopNest) -> Result<Kernel> {
        let refuse = |why: &str| IrError::Verify(format!("kernel {}: {why}", self.name));
        let from = self
            .loop_nest()
            .ok_or_else(|| refuse("not a loop nest that can be re-looped"))?;
        let sec = self.sections().ok_or_else(|| refuse("no loop nest"))?;
        let kept =
            |n: &LoopNest| -> usize { n.extents[..n.extents.len() - n.reduced].iter().product() };
        if to.present.len() != self.args.len()
            || to.reduced >= to.extents.len()
            || (to.reduced == 0) != (from.reduced == 0)
            || to.extents.iter().product::<usize>() != from.extents.iter().product::<usize>()
            || kept(to) != kept(&from)
        {
            return Err(refuse(&format!(
                "cannot re-loop {:?} over {:?}",
                from.extents, to.extents
            )));
        }
        // Each argument keeps its elements: a loop that merges an axis the argument varies
        // along with one it lacks would index it past its end.
        let numel = |p: &[usize]| {
            p.iter()
                .map(|&l| to.extents.get(l))
                .product::<Option<usize>>()
        };
        for (a, (d, p)) in self.args.iter().zip(&to.present).enumerate() {
            if numel(p) != Some(d.shape.iter().product()) {
                return Err(refuse(&format!(
                    "argument {a} of shape {:?} cannot be viewed over the loops {:?} of {:?}",
                    d.shape.as_slice(),
                    p,
                    to.extents
                )));
            }
        }
        let fresh = self
            .body
            .iter()
            .flat_map(|i| i.def().into_iter().chain(i.uses()))
            .map(|v| v.0 + 1)
            .max()
            .unwrap_or(0);
        let vars: Vec<Var> = (0..to.extents.len() as u32)
            .map(|i| Var(fresh + i))
            .collect();
        let index_of = |arg: u32| -> SmallVec<[Var; 4]> {
            to.present[arg as usize].iter().map(|&p| vars[p]).collect()
        };
        let reindex = |inst: &Inst| match inst {
            Inst::Load { dst, arg, .. } => Inst::Load {
                dst: *dst,
                arg: *arg,
                index: index_of(*arg),
            },
            Inst::Store { arg, value, .. } => Inst::Store {
                arg: *arg,
                index: index_of(*arg),
                value: *value,
            },
            other => other.clone(),
        };
        let n_kept = to.extents.len() - to.reduced;
        let open = |range: std::ops::Range<usize>| {
            range.map(|i| Inst::Loop {
                var: vars[i],
                extent: to.extents[i],
                parallel: i == 0,
            })
        };
        let mut body: Vec<Inst> = Vec::with_capacity(self.body.len() + to.extents.len());
        body.extend(self.body[sec.prefix].iter().cloned());
        body.extend(open(0..n_kept));
        body.extend(self.body[sec.mid].iter().cloned());
        body.extend(open(n_kept..to.extents.len()));
        body.extend(self.body[sec.body].iter().map(reindex));
        body.extend((0..to.reduced).map(|_| Inst::EndLoop));
        body.extend(self.body[sec.post].iter().map(reindex));
        body.extend((0..n_kept).map(|_| Inst::EndLoop));
        let args = self
            .args
            .iter()
            .zip(&to.present)
            .map(|(d, p)| ArgDecl {
                dtype: d.dtype,
                shape: p.iter().map(|&l| to.extents[l]).collect(),
                output: d.output,
            })
            .collect();
        let k = Kernel {
            name: self.name.clone(),
            args,
            body,
        };
        k.verify()?;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::kernel::build::Builder;
    use crate::kernel::interp;
    use crate::literal::Scalar;
    use crate::op::{BinaryOp, ReduceOp};

    /// `out[i, j] = x[i, j] * 2 + b[j]` over 3 x 4.
    fn affine() -> Kernel {
        let mut b = Builder::new("affine");
        let out = b.arg(DType::F32, &[3, 4], true);
        let x = b.arg(DType::F32, &[3, 4], false);
        let bias = b.arg(DType::F32, &[4], false);
        let i = b.open_loop(3, true);
        let j = b.open_loop(4, false);
        let v = b.load(x, &[i, j]);
        let two = b.konst(Scalar::F32(2.0));
        let v = b.binary(BinaryOp::Mul, v, two);
        let c = b.load(bias, &[j]);
        let v = b.binary(BinaryOp::Add, v, c);
        b.store(out, &[i, j], v);
        b.close_loop();
        b.close_loop();
        b.finish()
    }

    #[test]
    fn recognizes_loop_nest() {
        let k = affine();
        let l = k.loop_nest().expect("elementwise");
        assert_eq!(l.extents, vec![3, 4]);
        assert_eq!(l.present, vec![vec![0, 1], vec![0, 1], vec![1]]);
    }

    #[test]
    fn reductions_relooped_sum_the_same_elements() {
        // out[i] = sum_j x[i, j] over 3 x 4; re-looped as out[i] = sum_j x[i, j] with the
        // argument views given in another order gives the same sums.
        let mut b = Builder::new("sum");
        let out = b.arg(DType::F32, &[3], true);
        let x = b.arg(DType::F32, &[3, 4], false);
        let i = b.open_loop(3, true);
        let a = b.acc(ReduceOp::Sum, DType::F32);
        let j = b.open_loop(4, false);
        let v = b.load(x, &[i, j]);
        b.update(a, v);
        b.close_loop();
        b.store(out, &[i], a);
        b.close_loop();
        let k = b.finish();
        let nest = k.loop_nest().expect("a one-phase reduction");
        assert_eq!((nest.extents.clone(), nest.reduced), (vec![3, 4], 1));
        assert_eq!(nest.present, vec![vec![0], vec![0, 1]]);
        // x declared (reduced, kept) = (4, 3): strides (1, 4) view the same C buffer.
        let r = k
            .relooped(&LoopNest {
                extents: vec![3, 4],
                reduced: 1,
                present: vec![vec![0], vec![1, 0]],
            })
            .expect("relooped");
        assert_eq!(r.args[1].shape.as_slice(), &[4, 3]);
        let x: Vec<f64> = (0..12).map(f64::from).collect();
        let mut bufs = vec![
            interp::Buffer::zeros(DType::F32, &[3]),
            interp::Buffer::from_f64s(DType::F32, &[12], &x),
        ];
        bufs[1].strides = vec![1, 4];
        interp::run(&r, &mut bufs).expect("runs");
        assert_eq!(bufs[0].to_f64s(), vec![6.0, 22.0, 38.0]);
    }

    #[test]
    fn rejects_transposed_outputs_and_argmax() {
        let mut b = Builder::new("argmax");
        let out = b.arg(DType::I64, &[3], true);
        let x = b.arg(DType::F32, &[3, 4], false);
        let i = b.open_loop(3, true);
        let a = b.acc(ReduceOp::ArgMax, DType::F32);
        let j = b.open_loop(4, false);
        let v = b.load(x, &[i, j]);
        b.update_arg(a, v, j);
        b.close_loop();
        b.store(out, &[i], a);
        b.close_loop();
        assert!(b.finish().loop_nest().is_none());

        let mut b = Builder::new("transpose");
        let out = b.arg(DType::F32, &[3, 3], true);
        let x = b.arg(DType::F32, &[3, 3], false);
        let i = b.open_loop(3, true);
        let j = b.open_loop(3, false);
        let v = b.load(x, &[i, j]);
        b.store(out, &[j, i], v);
        b.close_loop();
        b.close_loop();
        assert!(b.finish().loop_nest().is_none());
    }

    /// Runs `k` on the buffers `x` (3 x 4, C order) and `bias` (4) with the views' strides
    /// `xs`, `bs` and the output's `os`; returns the output's storage.
    fn run(k: &Kernel, os: &[isize], xs: &[isize], bs: &[isize]) -> Vec<f64> {
        let x: Vec<f64> = (0..12).map(f64::from).collect();
        let mut bufs = vec![
            interp::Buffer::zeros(DType::F32, &[12]),
            interp::Buffer::from_f64s(DType::F32, &[12], &x),
            interp::Buffer::from_f64s(DType::F32, &[4], &[10.0, 20.0, 30.0, 40.0]),
        ];
        for (b, s) in bufs.iter_mut().zip([os, xs, bs]) {
            b.strides = s.to_vec();
        }
        interp::run(k, &mut bufs).expect("runs");
        bufs[0].to_f64s()
    }

    /// The original kernel over C-order buffers and the relooped one (loops swapped: the
    /// outer loop walks the columns) give the same elements in the same places.
    #[test]
    fn relooped_computes_the_same_elements() {
        let k = affine();
        let want: Vec<f64> = (0..12)
            .map(|e| f64::from(e) * 2.0 + [10.0, 20.0, 30.0, 40.0][e as usize % 4])
            .collect();
        assert_eq!(run(&k, &[4, 1], &[4, 1], &[1]), want);
        let swapped = LoopNest {
            extents: vec![4, 3],
            reduced: 0,
            present: vec![vec![0, 1], vec![0, 1], vec![0]],
        };
        let r = k.relooped(&swapped).expect("relooped");
        assert_eq!(r.args[2].shape.as_slice(), &[4]);
        assert_eq!(r.loop_nest(), Some(swapped));
        assert_eq!(run(&r, &[1, 4], &[1, 4], &[1]), want);
        // A loop structure with other element counts is refused.
        let wrong = LoopNest {
            extents: vec![5],
            reduced: 0,
            present: vec![vec![0], vec![0], vec![]],
        };
        assert!(k.relooped(&wrong).is_err());
        // Loops that keep the element count but index an argument past its elements (the
        // bias, 4 elements, over a merged loop of 12) are refused too.
        let merged = LoopNest {
            extents: vec![12],
            reduced: 0,
            present: vec![vec![0], vec![0], vec![0]],
        };
        assert!(k.relooped(&merged).is_err());
        let bias_apart = LoopNest {
            extents: vec![4, 3],
            reduced: 0,
            present: vec![vec![0, 1], vec![0, 1], vec![0]],
        };
        assert!(k.relooped(&bias_apart).is_ok());
    }

    #[test]
    fn flat_reductions_are_recognized() {
        // out = sum(x * s) over 12 elements, s a scalar argument.
        let mut b = Builder::new("flat");
        let out = b.arg(DType::F32, &[], true);
        let x = b.arg(DType::F32, &[12], false);
        let s = b.arg(DType::F32, &[], false);
        let a = b.acc(ReduceOp::Sum, DType::F32);
        let i = b.open_loop(12, false);
        let v = b.load(x, &[i]);
        let k = b.load(s, &[]);
        let v = b.binary(BinaryOp::Mul, v, k);
        b.update(a, v);
        b.close_loop();
        b.store(out, &[], a);
        assert_eq!(b.finish().flat_reduction(), Some(vec![false, true, false]));
        // An argmax depends on the order: not flat.
        let mut b = Builder::new("argmax");
        let out = b.arg(DType::I64, &[], true);
        let x = b.arg(DType::F32, &[12], false);
        let a = b.acc(ReduceOp::ArgMax, DType::F32);
        let i = b.open_loop(12, false);
        let v = b.load(x, &[i]);
        b.update_arg(a, v, i);
        b.close_loop();
        b.store(out, &[], a);
        assert_eq!(b.finish().flat_reduction(), None);
        // Nor a reduction with kept loops.
        let mut b = Builder::new("rows");
        let out = b.arg(DType::F32, &[3], true);
        let x = b.arg(DType::F32, &[3, 4], false);
        let i = b.open_loop(3, true);
        let a = b.acc(ReduceOp::Sum, DType::F32);
        let j = b.open_loop(4, false);
        let v = b.load(x, &[i, j]);
        b.update(a, v);
        b.close_loop();
        b.store(out, &[i], a);
        b.close_loop();
        assert_eq!(b.finish().flat_reduction(), None);
    }
}
