//! A small builder that numbers values and keeps loops balanced, used by the fusion pass and
//! by tests.

use super::{ArgDecl, ArgId, Const, Inst, Kernel, Var};
use crate::dtype::DType;
use crate::literal::Scalar;
use crate::op::{BinaryOp, ReduceOp, UnaryOp};
use smallvec::SmallVec;

/// Builds a [`Kernel`] instruction by instruction.
#[derive(Debug)]
pub struct Builder {
    k: Kernel,
    next: u32,
    open: usize,
}

impl Builder {
    /// An empty kernel named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Builder {
            k: Kernel {
                name: name.into(),
                args: Vec::new(),
                body: Vec::new(),
            },
            next: 0,
            open: 0,
        }
    }

    fn fresh(&mut self) -> Var {
        self.next += 1;
        Var(self.next - 1)
    }

    /// Declares the next argument.
    pub fn arg(&mut self, dtype: DType, shape: &[usize], output: bool) -> ArgId {
        self.k.args.push(ArgDecl {
            dtype,
            shape: SmallVec::from_slice(shape),
            output,
        });
        (self.k.args.len() - 1) as ArgId
    }

    /// Opens a loop over `0..extent` and returns its variable.
    pub fn open_loop(&mut self, extent: usize, parallel: bool) -> Var {
        let var = self.fresh();
        self.k.body.push(Inst::Loop {
            var,
            extent,
            parallel,
        });
        self.open += 1;
        var
    }

    /// Closes the innermost open loop.
    pub fn close_loop(&mut self) {
        if self.open > 0 {
            self.open -= 1;
            self.k.body.push(Inst::EndLoop);
        }
    }

    /// A constant.
    pub fn konst(&mut self, value: Scalar) -> Var {
        let dst = self.fresh();
        self.k.body.push(Inst::Const {
            dst,
            value: Const(value),
        });
        dst
    }

    /// `arg[index]`.
    pub fn load(&mut self, arg: ArgId, index: &[Var]) -> Var {
        let dst = self.fresh();
        self.k.body.push(Inst::Load {
            dst,
            arg,
            index: SmallVec::from_slice(index),
        });
        dst
    }

    /// `arg[index] = value`.
    pub fn store(&mut self, arg: ArgId, index: &[Var], value: Var) {
        self.k.body.push(Inst::Store {
            arg,
            index: SmallVec::from_slice(index),
            value,
        });
    }

    /// `op(x)`.
    pub fn unary(&mut self, op: UnaryOp, x: Var) -> Var {
        let dst = self.fresh();
        self.k.body.push(Inst::Unary { dst, op, x });
        dst
    }

    /// `op(a, b)`.
    pub fn binary(&mut self, op: BinaryOp, a: Var, b: Var) -> Var {
        let dst = self.fresh();
        self.k.body.push(Inst::Binary { dst, op, a, b });
        dst
    }

    /// `cond ? a : b`.
    pub fn select(&mut self, cond: Var, a: Var, b: Var) -> Var {
        let dst = self.fresh();
        self.k.body.push(Inst::Select { dst, cond, a, b });
        dst
    }

    /// `x as to`.
    pub fn cast(&mut self, to: DType, x: Var) -> Var {
        let dst = self.fresh();
        self.k.body.push(Inst::Cast { dst, to, x });
        dst
    }

    /// Declares an accumulator.
    pub fn acc(&mut self, op: ReduceOp, dtype: DType) -> Var {
        let dst = self.fresh();
        self.k.body.push(Inst::Acc { dst, op, dtype });
        dst
    }

    /// Folds `value` into `acc`.
    pub fn update(&mut self, acc: Var, value: Var) {
        self.k.body.push(Inst::Update { acc, value });
    }

    /// Folds `value` at `index` into an argmax/argmin accumulator.
    pub fn update_arg(&mut self, acc: Var, value: Var, index: Var) {
        self.k.body.push(Inst::UpdateArg { acc, value, index });
    }

    /// The kernel (open loops are closed).
    pub fn finish(mut self) -> Kernel {
        while self.open > 0 {
            self.close_loop();
        }
        self.k
    }
}
