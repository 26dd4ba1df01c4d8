//! Rust operator overloading on tensors. Operators return `Result` because shapes and dtypes
//! are checked at run time: `(&a + &b)?`.

use super::*;
use crate::error::Result;
use crate::tensor::Tensor;
use std::ops::{Add, BitAnd, BitOr, BitXor, Div, Mul, Neg, Not, Rem, Sub};

macro_rules! binop {
    ($tr:ident, $m:ident, $f:ident) => {
        impl<R: Into<Operand>> $tr<R> for &Tensor {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $m(self, rhs: R) -> Result<Tensor> {
                $f(self, rhs)
            }
        }
        impl<R: Into<Operand>> $tr<R> for Tensor {
            type Output = Result<Tensor>;
            #[track_caller]
            fn $m(self, rhs: R) -> Result<Tensor> {
                $f(&self, rhs)
            }
        }
    };
}
binop!(Add, add, add);
binop!(Sub, sub, subtract);
binop!(Mul, mul, multiply);
binop!(Div, div, divide);
binop!(Rem, rem, remainder);
binop!(BitAnd, bitand, logical_and);
binop!(BitOr, bitor, logical_or);
binop!(BitXor, bitxor, logical_xor);

impl Neg for &Tensor {
    type Output = Result<Tensor>;
    #[track_caller]
    fn neg(self) -> Result<Tensor> {
        negative(self)
    }
}
impl Neg for Tensor {
    type Output = Result<Tensor>;
    #[track_caller]
    fn neg(self) -> Result<Tensor> {
        negative(&self)
    }
}
impl Not for &Tensor {
    type Output = Result<Tensor>;
    #[track_caller]
    fn not(self) -> Result<Tensor> {
        logical_not(self)
    }
}
