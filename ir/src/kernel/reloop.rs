//! Re-looping an elementwise kernel over another iteration space.
//!
//! An elementwise kernel (one perfect loop nest, every argument indexed by the loop variables
//! of the loops it varies along, in loop order) computes the same values whatever order its
//! loops run in and however adjacent loops are merged or split, as long as every argument is
//! viewed with matching strides. The runtime uses this to run a kernel over its operands'
//! memory order: `x.T + 1` as one unit-stride loop writing a Fortran-ordered result, instead
//! of a transpose. [`Kernel::elementwise_loops`] recognizes such kernels and
//! [`Kernel::relooped`] rebuilds one over new loops; the caller supplies the strides.

use super::{ArgDecl, Inst, Kernel, Var};
use crate::error::{IrError, Result};
use smallvec::SmallVec;

/// The loop structure of an elementwise kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementwiseLoops {
    /// Extent of each loop, outermost first.
    pub extents: Vec<usize>,
    /// For each argument, the loops (positions in `extents`, increasing) it is indexed by;
    /// outputs are indexed by every loop.
    pub present: Vec<Vec<usize>>,
}

impl Kernel {
    /// The loops of this kernel when it is elementwise: a nest of loops opened one after the
    /// other (constants may come first) whose innermost body holds no loops or reductions,
    /// whose loop variables appear only as load and store indices, each index the variables
    /// of some loops in loop order (the same for every access to one argument), outputs
    /// stored over every loop and never read back. `None` for anything else.
    pub fn elementwise_loops(&self) -> Option<ElementwiseLoops> {
        let mut loops: Vec<(Var, usize)> = Vec::new();
        let mut body_start = None;
        for (i, inst) in self.body.iter().enumerate() {
            match inst {
                Inst::Loop { var, extent, .. } if body_start.is_none() => {
                    loops.push((*var, *extent))
                }
                Inst::Const { .. } if loops.is_empty() => {}
                _ => {
                    body_start = Some(i);
                    break;
                }
            }
        }
        let start = body_start?;
        let end = self.body.len().checked_sub(loops.len())?;
        if loops.is_empty() || end < start {
            return None;
        }
        if !self.body[end..].iter().all(|i| matches!(i, Inst::EndLoop)) {
            return None;
        }
        let pos = |v: Var| loops.iter().position(|&(l, _)| l == v);
        let mut present: Vec<Option<Vec<usize>>> = vec![None; self.args.len()];
        for inst in &self.body[start..end] {
            let (arg, index, others): (u32, &SmallVec<[Var; 4]>, SmallVec<[Var; 4]>) = match inst {
                Inst::Load { arg, index, .. } => (*arg, index, SmallVec::new()),
                Inst::Store { arg, index, value } => (*arg, index, smallvec::smallvec![*value]),
                Inst::Loop { .. }
                | Inst::EndLoop
                | Inst::Acc { .. }
                | Inst::Update { .. }
                | Inst::UpdateArg { .. } => return None,
                other => {
                    if other.uses().iter().any(|&v| pos(v).is_some()) {
                        return None;
                    }
                    continue;
                }
            };
            let decl = self.args.get(arg as usize)?;
            if matches!(inst, Inst::Load { .. }) == decl.output {
                return None;
            }
            if others.iter().any(|&v| pos(v).is_some()) {
                return None;
            }
            let at: Vec<usize> = index.iter().map(|&v| pos(v)).collect::<Option<_>>()?;
            let ordered = at.windows(2).all(|w| w[0] < w[1]);
            let shaped = at
                .iter()
                .map(|&p| loops[p].1)
                .eq(decl.shape.iter().copied());
            if !ordered || !shaped || (decl.output && at.len() != loops.len()) {
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
        Some(ElementwiseLoops {
            extents: loops.iter().map(|&(_, e)| e).collect(),
            present,
        })
    }

    /// This elementwise kernel over the loops `to` (the outermost parallel): argument `a` is
    /// declared with the extents of the loops `to.present[a]` and indexed by their variables.
    /// The caller must pass each argument the strides that make element `i` of the new view
    /// the element the original kernel computes at the same place of the iteration space.
    pub fn relooped(&self, to: &ElementwiseLoops) -> Result<Kernel> {
        let from = self.elementwise_loops().ok_or_else(|| {
            IrError::Verify(format!("kernel {}: not an elementwise kernel", self.name))
        })?;
        if to.present.len() != self.args.len()
            || to.extents.is_empty()
            || to.extents.iter().product::<usize>() != from.extents.iter().product::<usize>()
        {
            return Err(IrError::Verify(format!(
                "kernel {}: cannot re-loop {:?} over {:?}",
                self.name, from.extents, to.extents
            )));
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
        let mut body: Vec<Inst> = Vec::with_capacity(self.body.len());
        let mut insts = self.body.iter().peekable();
        while let Some(i) = insts.next_if(|i| matches!(i, Inst::Const { .. })) {
            body.push(i.clone());
        }
        for (i, (&extent, &var)) in to.extents.iter().zip(&vars).enumerate() {
            body.push(Inst::Loop {
                var,
                extent,
                parallel: i == 0,
            });
        }
        for inst in insts {
            match inst {
                Inst::Loop { .. } | Inst::EndLoop => {}
                Inst::Load { dst, arg, .. } => body.push(Inst::Load {
                    dst: *dst,
                    arg: *arg,
                    index: index_of(*arg),
                }),
                Inst::Store { arg, value, .. } => body.push(Inst::Store {
                    arg: *arg,
                    index: index_of(*arg),
                    value: *value,
                }),
                other => body.push(other.clone()),
            }
        }
        body.extend(to.extents.iter().map(|_| Inst::EndLoop));
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
    fn recognizes_elementwise_loops() {
        let k = affine();
        let l = k.elementwise_loops().expect("elementwise");
        assert_eq!(l.extents, vec![3, 4]);
        assert_eq!(l.present, vec![vec![0, 1], vec![0, 1], vec![1]]);
    }

    #[test]
    fn rejects_reductions_and_transposed_indices() {
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
        assert!(b.finish().elementwise_loops().is_none());

        let mut b = Builder::new("transpose");
        let out = b.arg(DType::F32, &[3, 3], true);
        let x = b.arg(DType::F32, &[3, 3], false);
        let i = b.open_loop(3, true);
        let j = b.open_loop(3, false);
        let v = b.load(x, &[j, i]);
        b.store(out, &[i, j], v);
        b.close_loop();
        b.close_loop();
        assert!(b.finish().elementwise_loops().is_none());
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
        let swapped = ElementwiseLoops {
            extents: vec![4, 3],
            present: vec![vec![0, 1], vec![0, 1], vec![0]],
        };
        let r = k.relooped(&swapped).expect("relooped");
        assert_eq!(r.args[2].shape.as_slice(), &[4]);
        assert_eq!(r.elementwise_loops(), Some(swapped));
        assert_eq!(run(&r, &[1, 4], &[1, 4], &[1]), want);
        // A loop structure with other element counts is refused.
        let wrong = ElementwiseLoops {
            extents: vec![5],
            present: vec![vec![0], vec![0], vec![]],
        };
        assert!(k.relooped(&wrong).is_err());
    }
}
