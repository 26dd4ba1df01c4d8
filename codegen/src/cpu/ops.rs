//! Lowering of one kernel instruction's arithmetic (unary, binary, select, cast) to Cranelift,
//! for scalars and for 128-bit vectors alike.
//!
//! Representation: in scalar code a `bool` is an `i8` holding 0 or 1 (its memory form); in
//! vector code it is a lane mask (all ones or zero) as wide as the loop's lanes (`i32x4` for a
//! float32/int32 loop, `i64x2` for a float64 loop).

use super::lower::{Lower, Mode};
use super::math::{M, SINCOS_FAST_LIMIT_F32, SINCOS_FAST_LIMIT_F64};
use crate::error::{CodegenError, Result};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Type, Value,
};
use ember_ir::{BinaryOp, DType, UnaryOp};

/// The Cranelift type of a value of `dt` in `mode`.
pub fn cl_type(dt: DType, mode: Mode) -> Type {
    let scalar = match dt {
        DType::Bool => types::I8,
        DType::I32 => types::I32,
        DType::I64 => types::I64,
        DType::F32 => types::F32,
        DType::F64 => types::F64,
    };
    match mode {
        Mode::Scalar => scalar,
        Mode::Vec32 => match dt {
            DType::F32 => types::F32X4,
            _ => types::I32X4,
        },
        Mode::Vec64 => match dt {
            DType::F64 => types::F64X2,
            _ => types::I64X2,
        },
        Mode::Vec8 => types::I8X16,
    }
}

/// Which function the slow sin/cos/tan lanes recompute (the `which` argument of
/// `ember_sincos_fix_f32` / `_f64`).
#[derive(Clone, Copy)]
enum SlowTrig {
    Sin = 0,
    Cos = 1,
    Tan = 2,
}

/// True when the vector form of `op` on `dt` exists (for the loop's mode); other ops make the
/// loop run scalar.
pub fn unary_vectorizes(op: UnaryOp, dt: DType) -> bool {
    use UnaryOp::*;
    match dt {
        // The math library functions without an inline form: one call per element to
        // `ember_unary_f32`/`_f64`, which evaluate them as the interpreter does.
        DType::F32 | DType::F64 => !is_libm_call(op),
        DType::I32 | DType::I64 => matches!(
            op,
            Neg | Abs
                | Reciprocal
                | Sign
                | Square
                | Relu
                | Floor
                | Ceil
                | Round
                | IsNan
                | IsInf
                | IsFinite
                | LogicalNot
        ),
        DType::Bool => matches!(
            op,
            Abs | Relu | Floor | Ceil | Round | IsNan | IsInf | IsFinite | LogicalNot
        ),
    }
}

/// The unary float ops the CPU backend computes by calling [`ember_ir::kernel::eval`] per
/// element (`log2`, `log10`, `exp2`, `cbrt`, `arcsinh`, `arccosh`, `arctanh`): bit-identical
/// to the interpreter, never vectorized.
pub fn is_libm_call(op: UnaryOp) -> bool {
    use UnaryOp::*;
    matches!(op, Log2 | Log10 | Exp2 | Cbrt | Asinh | Acosh | Atanh)
}

/// True when the vector form of `op` on operands of `dt` exists.
pub fn binary_vectorizes(op: BinaryOp, dt: DType) -> bool {
    use BinaryOp::*;
    match dt {
        // float32 `pow` through float64 lanes (`Lower::pow_f32x4`); float64 `pow` is libm's.
        // `hypot`, `copysign` and `fmod` are calls per element (`ember_binary_f32`/`_f64`).
        DType::F32 => !matches!(op, FloorDiv | Rem | Hypot | Copysign | Fmod),
        DType::F64 => !matches!(op, FloorDiv | Rem | Pow | Hypot | Copysign | Fmod),
        // int32 `floor_divide` and `%` through float64 lanes (`Lower::int32_div_rem`).
        DType::I32 if matches!(op, FloorDiv | Rem) => cfg!(target_arch = "x86_64"),
        DType::I32 | DType::I64 => matches!(
            op,
            Add | Sub | Mul | Max | Min | Eq | Ne | Lt | Le | Gt | Ge | And | Or | Xor
        ),
        DType::Bool => matches!(op, Add | Mul | Max | Min | Eq | Ne | And | Or | Xor),
    }
}

fn float_cc(op: BinaryOp) -> FloatCC {
    use BinaryOp::*;
    match op {
        Eq => FloatCC::Equal,
        Ne => FloatCC::NotEqual,
        Lt => FloatCC::LessThan,
        Le => FloatCC::LessThanOrEqual,
        Gt => FloatCC::GreaterThan,
        _ => FloatCC::GreaterThanOrEqual,
    }
}

fn int_cc(op: BinaryOp, unsigned: bool) -> IntCC {
    use BinaryOp::*;
    match (op, unsigned) {
        (Eq, _) => IntCC::Equal,
        (Ne, _) => IntCC::NotEqual,
        (Lt, false) => IntCC::SignedLessThan,
        (Le, false) => IntCC::SignedLessThanOrEqual,
        (Gt, false) => IntCC::SignedGreaterThan,
        (Ge, false) => IntCC::SignedGreaterThanOrEqual,
        (Lt, true) => IntCC::UnsignedLessThan,
        (Le, true) => IntCC::UnsignedLessThanOrEqual,
        (Gt, true) => IntCC::UnsignedGreaterThan,
        (_, true) => IntCC::UnsignedGreaterThanOrEqual,
        (_, false) => IntCC::SignedGreaterThanOrEqual,
    }
}

impl Lower<'_, '_> {
    /// A constant of `dt` in `mode` (bools as 0/1 scalars or lane masks).
    pub fn konst(&mut self, dt: DType, v: f64, bits: i64, mode: Mode) -> Value {
        if mode != Mode::Scalar {
            let ty = cl_type(dt, mode);
            let lanes = ty.lane_count() as usize;
            let bytes = match (dt, mode) {
                (DType::F32, _) => (v as f32).to_le_bytes().repeat(lanes),
                (DType::F64, _) => v.to_le_bytes().repeat(lanes),
                (DType::Bool, Mode::Vec64) => (if bits != 0 { -1i64 } else { 0 })
                    .to_le_bytes()
                    .repeat(lanes),
                (DType::Bool, Mode::Vec8) => vec![if bits != 0 { 0xff } else { 0 }; lanes],
                (DType::Bool, _) => (if bits != 0 { -1i32 } else { 0 })
                    .to_le_bytes()
                    .repeat(lanes),
                (_, Mode::Vec64) => bits.to_le_bytes().repeat(lanes),
                _ => (bits as i32).to_le_bytes().repeat(lanes),
            };
            return super::math::vconst(&mut self.b, ty, bytes);
        }
        let s = match dt {
            DType::F32 => self.b.ins().f32const(v as f32),
            DType::F64 => self.b.ins().f64const(v),
            DType::Bool if mode != Mode::Scalar => {
                let lane = cl_type(dt, mode).lane_type();
                self.b.ins().iconst(lane, if bits != 0 { -1 } else { 0 })
            }
            _ => {
                let t = cl_type(dt, Mode::Scalar);
                self.b.ins().iconst(t, bits)
            }
        };
        self.splat_if(dt, s, mode)
    }

    /// Broadcasts a scalar of the right lane type to the mode's vector.
    pub fn splat_if(&mut self, dt: DType, s: Value, mode: Mode) -> Value {
        if mode == Mode::Scalar {
            s
        } else {
            self.b.ins().splat(cl_type(dt, mode), s)
        }
    }

    /// A scalar value (bool as 0/1) turned into the mode's representation.
    pub fn broadcast_scalar(&mut self, dt: DType, s: Value, mode: Mode) -> Value {
        if mode == Mode::Scalar {
            return s;
        }
        let t = match (dt, mode) {
            // Narrow values of a 64-bit loop (`vector::narrow_values`): the low lanes count.
            (DType::I32, Mode::Vec64) => types::I32X4,
            (DType::F32, Mode::Vec64) => types::F32X4,
            _ => cl_type(dt, mode),
        };
        let s = match dt {
            DType::Bool => {
                // 0/1 -> 0/-1 in the lane width.
                let w = if t.lane_type() == types::I8 {
                    s
                } else {
                    self.b.ins().uextend(t.lane_type(), s)
                };
                self.b.ins().ineg(w)
            }
            _ => s,
        };
        self.b.ins().splat(t, s)
    }

    fn fsel(&mut self, ty: Type, mask: Value, a: Value, b: Value) -> Value {
        if ty.is_vector() {
            let flags =
                MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
            let m = if self.b.func.dfg.value_type(mask) != ty {
                self.b.ins().bitcast(ty, flags, mask)
            } else {
                mask
            };
            self.b.ins().bitselect(m, a, b)
        } else {
            self.b.ins().select(mask, a, b)
        }
    }

    /// Truthiness of a value as a bool (mask in vector mode).
    fn truthy(&mut self, dt: DType, x: Value, mode: Mode) -> Value {
        match dt {
            DType::Bool => x,
            DType::F32 | DType::F64 => {
                let z = self.konst(dt, 0.0, 0, mode);
                self.b.ins().fcmp(FloatCC::NotEqual, x, z)
            }
            _ => {
                let z = self.konst(dt, 0.0, 0, mode);
                self.b.ins().icmp(IntCC::NotEqual, x, z)
            }
        }
    }

    fn call_unary_ext(&mut self, op: UnaryOp, dt: DType, x: Value) -> Result<Value> {
        let idx = UnaryOp::ALL.iter().position(|&o| o == op).unwrap_or(0) as i64;
        let opv = self.b.ins().iconst(types::I32, idx);
        Ok(match dt {
            DType::F32 => self.call_ext(
                "ember_unary_f32",
                &[types::I32, types::F32],
                types::F32,
                &[opv, x],
            )?,
            DType::F64 => self.call_ext(
                "ember_unary_f64",
                &[types::I32, types::F64],
                types::F64,
                &[opv, x],
            )?,
            DType::I64 => self.call_ext(
                "ember_unary_i64",
                &[types::I32, types::I64],
                types::I64,
                &[opv, x],
            )?,
            DType::I32 => {
                let w = self.b.ins().sextend(types::I64, x);
                let r = self.call_ext(
                    "ember_unary_i64",
                    &[types::I32, types::I64],
                    types::I64,
                    &[opv, w],
                )?;
                self.b.ins().ireduce(types::I32, r)
            }
            DType::Bool => x,
        })
    }

    fn call_binary_ext(&mut self, op: BinaryOp, dt: DType, a: Value, b: Value) -> Result<Value> {
        let idx = BinaryOp::ALL.iter().position(|&o| o == op).unwrap_or(0) as i64;
        let opv = self.b.ins().iconst(types::I32, idx);
        let (name, t) = match dt {
            DType::F32 => ("ember_binary_f32", types::F32),
            DType::F64 => ("ember_binary_f64", types::F64),
            DType::I32 => ("ember_binary_i32", types::I32),
            _ => ("ember_binary_i64", types::I64),
        };
        self.call_ext(name, &[types::I32, t, t], t, &[opv, a, b])
    }

    /// `op` of each value in `xs` (the unrolled vectors of a loop, or one value): `exp`
    /// shares one fast-path test and its constants among them ([`M::exp_many`]);
    /// `nonpositive` promises every value is `<= 0` or NaN.
    pub fn unary_many(
        &mut self,
        op: UnaryOp,
        dt: DType,
        xs: Vec<Value>,
        mode: Mode,
        nonpositive: bool,
    ) -> Result<Vec<Value>> {
        let ty = cl_type(dt, mode);
        if op == UnaryOp::Exp && dt.is_float() && !self.is_outlined(op, ty) {
            return Ok(M::new(&mut self.b, ty).exp_many(&xs, nonpositive));
        }
        xs.into_iter()
            .map(|x| self.unary(op, dt, x, mode))
            .collect()
    }

    /// `op(x)` for a value of `dt`.
    pub fn unary(&mut self, op: UnaryOp, dt: DType, x: Value, mode: Mode) -> Result<Value> {
        use UnaryOp::*;
        let ty = cl_type(dt, mode);
        if mode == Mode::Scalar
            && !unary_vectorizes(op, dt)
            && !matches!(dt, DType::Bool | DType::I64)
        {
            return self.call_unary_ext(op, dt, x);
        }
        if dt.is_float() {
            if let Some(r) = self.call_outlined(op, x) {
                return Ok(r);
            }
            let mut m = M::new(&mut self.b, ty);
            return Ok(match op {
                Neg => m.neg(x),
                Abs => m.abs(x),
                Sign => {
                    let z = m.c(0.0);
                    let one = m.c(1.0);
                    let mone = m.c(-1.0);
                    // `x + 0` turns -0.0 into +0.0 (NumPy's sign of ±0) and keeps NaN.
                    let x0 = m.b.ins().fadd(x, z);
                    let lt = m.cmp(FloatCC::LessThan, x, z);
                    let r = m.sel(lt, mone, x0);
                    let gt = m.cmp(FloatCC::GreaterThan, x, z);
                    m.sel(gt, one, r)
                }
                Exp => m.exp(x),
                Expm1 => m.expm1(x),
                Log => m.log(x),
                Log1p => m.log1p(x),
                Sqrt => m.b.ins().sqrt(x),
                Square => m.b.ins().fmul(x, x),
                Reciprocal => {
                    let one = m.c(1.0);
                    m.b.ins().fdiv(one, x)
                }
                Sin | Cos => {
                    let r = m.sincos(x, op == Cos);
                    let r = if op == Sin {
                        m.zero_keeps_sign(x, r)
                    } else {
                        r
                    };
                    let which = if op == Cos {
                        SlowTrig::Cos
                    } else {
                        SlowTrig::Sin
                    };
                    return self.patch_sincos(dt, x, r, which, mode);
                }
                Tanh => m.tanh(x),
                Erf => m.erf(x),
                Sigmoid => m.sigmoid(x),
                // `maximum(x, 0)`: NaN propagates, -0.0 gives +0.0.
                Relu => {
                    let z = m.c(0.0);
                    let le = m.cmp(FloatCC::LessThanOrEqual, x, z);
                    m.sel(le, z, x)
                }
                Floor => m.b.ins().floor(x),
                Ceil => m.b.ins().ceil(x),
                Round => m.b.ins().nearest(x),
                IsNan => m.cmp(FloatCC::Unordered, x, x),
                IsInf => {
                    let a = m.abs(x);
                    let inf = m.c(f64::INFINITY);
                    m.cmp(FloatCC::Equal, a, inf)
                }
                IsFinite => {
                    let a = m.abs(x);
                    let inf = m.c(f64::INFINITY);
                    m.cmp(FloatCC::LessThan, a, inf)
                }
                LogicalNot => {
                    let z = m.c(0.0);
                    m.cmp(FloatCC::Equal, x, z)
                }
                Sinh | Cosh => m.sinh_cosh(x, op == Cosh),
                Atan => m.atan(x),
                Asin => m.asin(x),
                Acos => m.acos(x),
                Tan => {
                    let r = m.tan(x);
                    let r = m.zero_keeps_sign(x, r);
                    return self.patch_sincos(dt, x, r, SlowTrig::Tan, mode);
                }
                // Scalar loops called `ember_unary_*` above; `unary_vectorizes` keeps these
                // out of vector loops.
                Log2 | Log10 | Exp2 | Cbrt | Asinh | Acosh | Atanh => {
                    return Err(CodegenError::Unsupported(format!("vector {op} on {dt}")))
                }
            });
        }
        // Integers and bools.
        let bool_ty = cl_type(DType::Bool, mode);
        Ok(match op {
            IsNan | IsInf => {
                let _ = bool_ty;
                self.konst(DType::Bool, 0.0, 0, mode)
            }
            IsFinite => self.konst(DType::Bool, 1.0, 1, mode),
            LogicalNot => {
                if dt == DType::Bool {
                    if mode == Mode::Scalar {
                        self.b.ins().bxor_imm_s(x, 1)
                    } else {
                        self.b.ins().bnot(x)
                    }
                } else {
                    let z = self.konst(dt, 0.0, 0, mode);
                    self.b.ins().icmp(IntCC::Equal, x, z)
                }
            }
            _ if dt == DType::Bool => x,
            Neg => self.b.ins().ineg(x),
            Abs => self.b.ins().iabs(x),
            Sign => {
                let z = self.konst(dt, 0.0, 0, mode);
                let lt = self.b.ins().icmp(IntCC::SignedLessThan, x, z);
                let gt = self.b.ins().icmp(IntCC::SignedGreaterThan, x, z);
                if mode == Mode::Scalar {
                    let lt = self.b.ins().uextend(ty, lt);
                    let gt = self.b.ins().uextend(ty, gt);
                    self.b.ins().isub(gt, lt)
                } else {
                    // Masks are -1 for true.
                    self.b.ins().isub(lt, gt)
                }
            }
            Square => self.b.ins().imul(x, x),
            // `1 / x` converted back: ±1 stay, 0 gives the minimum (inf converted on x86-64),
            // anything else 0.
            Reciprocal => {
                let min = if dt == DType::I32 {
                    i32::MIN as i64
                } else {
                    i64::MIN
                };
                let (zero, one, mone, minv) = (
                    self.konst(dt, 0.0, 0, mode),
                    self.konst(dt, 1.0, 1, mode),
                    self.konst(dt, -1.0, -1, mode),
                    self.konst(dt, 0.0, min, mode),
                );
                let is0 = self.b.ins().icmp(IntCC::Equal, x, zero);
                let r = self.select(dt, is0, minv, zero, mode);
                let is1 = self.b.ins().icmp(IntCC::Equal, x, one);
                let ism1 = self.b.ins().icmp(IntCC::Equal, x, mone);
                let keep = self.b.ins().bor(is1, ism1);
                self.select(dt, keep, x, r, mode)
            }
            Relu => {
                let z = self.konst(dt, 0.0, 0, mode);
                self.b.ins().smax(x, z)
            }
            Floor | Ceil | Round => x,
            _ => {
                if mode != Mode::Scalar {
                    return Err(CodegenError::Unsupported(format!("vector {op} on {dt}")));
                }
                self.call_unary_ext(op, dt, x)?
            }
        })
    }

    /// Recomputes sin/cos/tan lanes beyond the fast range through libm (a rarely taken
    /// branch).
    fn patch_sincos(
        &mut self,
        dt: DType,
        x: Value,
        r: Value,
        which: SlowTrig,
        mode: Mode,
    ) -> Result<Value> {
        let ty = cl_type(dt, mode);
        let lim = if dt == DType::F32 {
            SINCOS_FAST_LIMIT_F32
        } else {
            SINCOS_FAST_LIMIT_F64
        };
        let (ax, limv) = {
            let mut m = M::new(&mut self.b, ty);
            let ax = m.abs(x);
            (ax, m.c(lim))
        };
        // NaN lanes compare true here so the slow path keeps them exact too (cheap: rare).
        let big = self.b.ins().fcmp(FloatCC::UnorderedOrGreaterThan, ax, limv);
        let any = if ty.is_vector() {
            self.b.ins().vany_true(big)
        } else {
            big
        };
        let slow = self.b.create_block();
        let join = self.b.create_block();
        let out = self.b.append_block_param(join, ty);
        self.b.ins().brif(any, slow, &[], join, &[r.into()]);
        self.b.switch_to_block(slow);
        let bytes = ty.bytes();
        let sx = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            bytes,
            4,
        ));
        let sr = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            bytes,
            4,
        ));
        self.b.ins().stack_store(types::I64, x, sx, 0);
        self.b.ins().stack_store(types::I64, r, sr, 0);
        let px = self.b.ins().stack_addr(types::I64, sx, 0);
        let pr = self.b.ins().stack_addr(types::I64, sr, 0);
        let n = self.b.ins().iconst(types::I32, ty.lane_count() as i64);
        let c = self.b.ins().iconst(types::I32, which as i64);
        let name = if dt == DType::F32 {
            "ember_sincos_fix_f32"
        } else {
            "ember_sincos_fix_f64"
        };
        self.call_ext_void(
            name,
            &[types::I64, types::I64, types::I32, types::I32],
            &[px, pr, n, c],
        )?;
        let fixed = self.b.ins().stack_load(types::I64, ty, sr, 0);
        self.b.ins().jump(join, &[fixed.into()]);
        self.b.switch_to_block(join);
        Ok(out)
    }

    /// `op(a, b)` for operands of `dt`.
    pub fn binary(
        &mut self,
        op: BinaryOp,
        dt: DType,
        a: Value,
        b: Value,
        mode: Mode,
    ) -> Result<Value> {
        use BinaryOp::*;
        if matches!(op, And | Or | Xor) {
            let ta = self.truthy(dt, a, mode);
            let tb = self.truthy(dt, b, mode);
            return Ok(match op {
                And => self.b.ins().band(ta, tb),
                Or => self.b.ins().bor(ta, tb),
                _ => self.b.ins().bxor(ta, tb),
            });
        }
        if op.is_predicate() {
            return Ok(match dt {
                DType::F32 | DType::F64 => self.b.ins().fcmp(float_cc(op), a, b),
                DType::Bool => self.b.ins().icmp(int_cc(op, true), a, b),
                _ => self.b.ins().icmp(int_cc(op, false), a, b),
            });
        }
        if dt.is_float() {
            return Ok(match op {
                Add => self.b.ins().fadd(a, b),
                Sub => self.b.ins().fsub(a, b),
                Mul => self.b.ins().fmul(a, b),
                Div => self.b.ins().fdiv(a, b),
                Max | Min => self.float_max_min(op == Max, a, b, cl_type(dt, mode)),
                Atan2 => M::new(&mut self.b, cl_type(dt, mode)).atan2(a, b),
                Pow if dt == DType::F32 && mode == Mode::Scalar => {
                    // Through float64 log/exp: the float32 result is then within 1 ULP.
                    let a64 = self.b.ins().fpromote(types::F64, a);
                    let b64 = self.b.ins().fpromote(types::F64, b);
                    let r = M::new(&mut self.b, types::F64).pow(a64, b64);
                    self.b.ins().fdemote(types::F32, r)
                }
                Pow if dt == DType::F32 && mode == Mode::Vec32 => self.pow_f32x4(a, b),
                _ if mode == Mode::Scalar => self.call_binary_ext(op, dt, a, b)?,
                _ => return Err(CodegenError::Unsupported(format!("vector {op} on {dt}"))),
            });
        }
        if dt == DType::Bool {
            return Ok(match op {
                Add | Max => self.b.ins().bor(a, b),
                Mul | Min => self.b.ins().band(a, b),
                _ => return Err(CodegenError::Unsupported(format!("{op} on bool"))),
            });
        }
        Ok(match op {
            Add => self.b.ins().iadd(a, b),
            Sub => self.b.ins().isub(a, b),
            Mul => self.b.ins().imul(a, b),
            Max => self.b.ins().smax(a, b),
            Min => self.b.ins().smin(a, b),
            FloorDiv | Rem
                if cfg!(target_arch = "x86_64") && dt == DType::I32 && mode == Mode::Vec32 =>
            {
                self.int32_div_rem(op == Rem, a, b, 2)
            }
            // Narrow int32s of a 64-bit loop (`vector::narrow_values`): the low two lanes.
            FloorDiv | Rem
                if cfg!(target_arch = "x86_64") && dt == DType::I32 && mode == Mode::Vec64 =>
            {
                self.int32_div_rem(op == Rem, a, b, 1)
            }
            FloorDiv | Rem if mode == Mode::Scalar => self.int_div_rem(op == Rem, dt, a, b),
            _ if mode == Mode::Scalar => self.call_binary_ext(op, dt, a, b)?,
            _ => return Err(CodegenError::Unsupported(format!("vector {op} on {dt}"))),
        })
    }

    /// Python's integer `a // b` (or `a % b`) for one int32 or int64, inline, as
    /// `eval::ifloor_div` / `eval::irem`: 0 when `b == 0` (NumPy's result, with its warning),
    /// wrapping for `MIN // -1`. The hardware divide gets a divisor that is neither 0 nor -1
    /// (those lanes are patched), so it cannot fault; a constant divisor becomes a multiply.
    /// (It was a call into Rust per element: int64 `x // 7` took 5 ns per element, 7.5x NumPy.)
    fn int_div_rem(&mut self, rem: bool, dt: DType, a: Value, b: Value) -> Value {
        let t = cl_type(dt, Mode::Scalar);
        let zero = self.b.ins().iconst(t, 0);
        let one = self.b.ins().iconst(t, 1);
        let by_zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
        let by_m1 = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
        let odd = self.b.ins().bor(by_zero, by_m1);
        let bs = self.b.ins().select(odd, one, b);
        let q = self.b.ins().sdiv(a, bs);
        let qb = self.b.ins().imul(q, bs);
        let r = self.b.ins().isub(a, qb);
        // Truncated -> floored: a nonzero remainder whose sign differs from the divisor's.
        let nonzero = self.b.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
        let signs = self.b.ins().bxor(r, bs);
        let differ = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, signs, 0);
        let fix = self.b.ins().band(nonzero, differ);
        let v = if rem {
            let rb = self.b.ins().iadd(r, bs);
            self.b.ins().select(fix, rb, r)
        } else {
            let q1 = self.b.ins().iadd_imm_s(q, -1);
            let q = self.b.ins().select(fix, q1, q);
            // `a // -1` is `-a` (wrapping); `a % -1` is 0, as computed with the divisor 1.
            let neg = self.b.ins().ineg(a);
            self.b.ins().select(by_m1, neg, q)
        };
        self.b.ins().select(by_zero, zero, v)
    }

    /// float32 `x ** y` for four lanes, as the scalar path computes it: each half promoted to
    /// `f64x2` (`cvtps2pd`), [`M::pow_many`] in float64 (one fast-path branch for both
    /// halves), each result rounded once to float32 (`cvtpd2ps`) and the halves rejoined
    /// (`punpcklqdq`). The float64 error (about `|y log x| 2^-52`, below 2^-44 relative
    /// wherever the float32 result is finite and nonzero) is far below half a float32 ULP,
    /// so the result is the correctly rounded one except within that distance of a rounding
    /// boundary (bound in `math.rs`).
    fn pow_f32x4(&mut self, x: Value, y: Value) -> Value {
        let f = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
        let mut halves = |v: Value| {
            let lo = self.b.ins().fvpromote_low(v);
            let bytes = self.b.ins().bitcast(types::I8X16, f, v);
            let mask: Vec<u8> = (8u8..16).collect::<Vec<_>>().repeat(2);
            let imm = self.b.func.dfg.immediates.push(mask.into());
            let up = self.b.ins().shuffle(bytes, bytes, imm);
            let up = self.b.ins().bitcast(types::F32X4, f, up);
            (lo, self.b.ins().fvpromote_low(up))
        };
        let (xl, xh) = halves(x);
        let (yl, yh) = halves(y);
        // Common case: every x positive and finite (float64-normal once promoted, float32
        // denormals included), every y finite: no special case to patch (a third of the
        // work); any other lane takes the full sequence.
        let ok = {
            let mut m = M::new(&mut self.b, types::F32X4);
            let (lo, inf) = (m.c(0.0), m.c(f64::INFINITY));
            let xlo = m.cmp(FloatCC::GreaterThan, x, lo);
            let xhi = m.cmp(FloatCC::LessThan, x, inf);
            let ay = m.abs(y);
            let yfin = m.cmp(FloatCC::LessThan, ay, inf);
            let ok = m.b.ins().band(xlo, xhi);
            let ok = m.b.ins().band(ok, yfin);
            m.b.ins().vall_true(ok)
        };
        let (fast, slow, join) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        let outs = [
            self.b.append_block_param(join, types::F64X2),
            self.b.append_block_param(join, types::F64X2),
        ];
        self.b.ins().brif(ok, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        let r = M::new(&mut self.b, types::F64X2).pow_positive_many(&[xl, xh], &[yl, yh]);
        self.b.ins().jump(join, &[r[0].into(), r[1].into()]);
        self.b.switch_to_block(slow);
        let r = M::new(&mut self.b, types::F64X2).pow_many(&[xl, xh], &[yl, yh]);
        self.b.ins().jump(join, &[r[0].into(), r[1].into()]);
        self.b.switch_to_block(join);
        let r = outs;
        let (lo, hi) = (self.b.ins().fvdemote(r[0]), self.b.ins().fvdemote(r[1]));
        // The low 8 bytes of each: lanes 0-1 from `lo`, 2-3 from `hi`.
        let (lo, hi) = (
            self.b.ins().bitcast(types::I8X16, f, lo),
            self.b.ins().bitcast(types::I8X16, f, hi),
        );
        let mask: Vec<u8> = (0u8..8).chain(16..24).collect();
        let imm = self.b.func.dfg.immediates.push(mask.into());
        let r = self.b.ins().shuffle(lo, hi, imm);
        self.b.ins().bitcast(types::F32X4, f, r)
    }

    /// int32 `a // b` (`rem`: `a % b`, Python's: floor division, remainder with the sign of
    /// `b`) for four lanes, in float64: each half widened to `f64x2` (`cvtdq2pd`), `floor(a /
    /// b)` (exact: a quotient of int32s that is not an integer is at least `1/|b|` from one,
    /// more than the division's rounding error `|a/b| 2^-53` since `|a| < 2^53`), truncated
    /// back (`cvttpd2dq`), the halves rejoined. As the kernel IR's semantics: division by
    /// zero gives 0 (both ops), and `MIN // -1` wraps to `MIN` (`2^31` is out of range, which
    /// `cvttpd2dq` turns into `MIN`) with `MIN % -1 = 0`. The remainder is `a - b q`.
    ///
    /// With `halves` 1, only the low two lanes (narrow int32s, `vector::narrow_values`): the
    /// high lanes of the result are 0.
    fn int32_div_rem(&mut self, rem: bool, a: Value, b: Value, halves: usize) -> Value {
        let f = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
        let n = halves;
        let mut halves = [Value::from_u32(0); 2];
        for (h, half) in halves.iter_mut().enumerate().take(n) {
            let widen = |s: &mut Self, v: Value| {
                let v = if h == 0 {
                    v
                } else {
                    let bytes = s.b.ins().bitcast(types::I8X16, f, v);
                    let mask: Vec<u8> = (8u8..16).collect::<Vec<_>>().repeat(2);
                    let imm = s.b.func.dfg.immediates.push(mask.into());
                    let up = s.b.ins().shuffle(bytes, bytes, imm);
                    s.b.ins().bitcast(types::I32X4, f, up)
                };
                let w = s.b.ins().swiden_low(v);
                s.b.ins().fcvt_from_sint(types::F64X2, w)
            };
            let (x, y) = (widen(self, a), widen(self, b));
            let d = self.b.ins().fdiv(x, y);
            let d = self.b.ins().floor(d);
            let c = self.b.ins().x86_cvtt2dq(types::I64X2, d);
            let z = super::math::vconst(&mut self.b, types::I64X2, vec![0; 16]);
            *half = self.b.ins().snarrow(c, z);
        }
        // The low 8 bytes of each: lanes 0-1 from the first half, 2-3 from the second.
        let q = if n == 1 {
            halves[0]
        } else {
            let (lo, hi) = (
                self.b.ins().bitcast(types::I8X16, f, halves[0]),
                self.b.ins().bitcast(types::I8X16, f, halves[1]),
            );
            let mask: Vec<u8> = (0u8..8).chain(16..24).collect();
            let imm = self.b.func.dfg.immediates.push(mask.into());
            let q = self.b.ins().shuffle(lo, hi, imm);
            self.b.ins().bitcast(types::I32X4, f, q)
        };
        let zero = super::math::vconst(&mut self.b, types::I32X4, vec![0; 16]);
        let by_zero = self.b.ins().icmp(IntCC::Equal, b, zero);
        let r = if rem {
            let bq = self.b.ins().imul(b, q);
            self.b.ins().isub(a, bq)
        } else {
            q
        };
        self.b.ins().band_not(r, by_zero)
    }

    /// NumPy's `maximum` (`max`) or `minimum` of floats on x86-64: `a` when `a > b` (`a < b`)
    /// or `a` is NaN, else `b`, so NaN propagates and equal operands (signed zeros) give the
    /// second one. Compare and select: `(b < a) ? a : b` is x86's `maxps a, b` (and
    /// `(a < b) ? a : b` its `minps`), then one blend for a NaN `a`.
    fn float_max_min(&mut self, max: bool, a: Value, b: Value, ty: Type) -> Value {
        let mut m = M::new(&mut self.b, ty);
        let pick = if max {
            m.cmp(FloatCC::LessThan, b, a)
        } else {
            m.cmp(FloatCC::LessThan, a, b)
        };
        let r = m.sel(pick, a, b);
        let nan = m.cmp(FloatCC::Unordered, a, a);
        m.sel(nan, a, r)
    }

    /// Float to int as NumPy on x86-64: truncation toward zero; NaN, ±inf and values out of
    /// the target's range give its minimum (the "integer indefinite" value).
    fn float_to_int(&mut self, from: DType, to: DType, x: Value, mode: Mode) -> Value {
        let tt = cl_type(to, mode);
        if cfg!(target_arch = "x86_64")
            && mode == Mode::Vec32
            && (from, to) == (DType::F32, DType::I32)
        {
            // `cvttps2dq` has exactly these semantics.
            return self.b.ins().x86_cvtt2dq(tt, x);
        }
        if cfg!(target_arch = "x86_64")
            && mode == Mode::Vec64
            && (from, to) == (DType::F64, DType::I32)
        {
            // `cvttpd2dq` (the same semantics) into a narrow int32 pair
            // (`vector::narrow_values`). Cranelift lowers `x86_cvtt2dq` on `f64x2` only as
            // the first operand of an `snarrow` whose second is a zero vector (Wasm's
            // `i32x4.relaxed_trunc_f64x2_s_zero`): exactly `cvttpd2dq`, upper lanes zero.
            let c = self.b.ins().x86_cvtt2dq(types::I64X2, x);
            let z = super::math::vconst(&mut self.b, types::I64X2, vec![0; 16]);
            return self.b.ins().snarrow(c, z);
        }
        let (bound, min) = if to == DType::I32 {
            (2147483648.0, i32::MIN as i64)
        } else {
            (9223372036854775808.0, i64::MIN)
        };
        let mut m = M::new(&mut self.b, cl_type(from, mode));
        // [-2^(bits-1), 2^(bits-1)), exact in both float types; NaN compares false.
        let (lo, hi) = (m.c(-bound), m.c(bound));
        let ge = m.cmp(FloatCC::GreaterThanOrEqual, x, lo);
        let lt = m.cmp(FloatCC::LessThan, x, hi);
        let ok = m.b.ins().band(ge, lt);
        let z = m.c(0.0);
        let xs = m.sel(ok, x, z);
        let r = if mode == Mode::Vec64 {
            // float64 -> int64 lanes: x86 has no 128-bit `cvttpd2qq` without AVX-512 and
            // Cranelift's x64 backend lowers no `f64x2` -> `i64x2` conversion, so each lane
            // converts in scalar code (`cvttsd2si`); the rest of the loop stays vector.
            let l0 = self.b.ins().extractlane(xs, 0);
            let l1 = self.b.ins().extractlane(xs, 1);
            let c0 = self.b.ins().fcvt_to_sint_sat(types::I64, l0);
            let c1 = self.b.ins().fcvt_to_sint_sat(types::I64, l1);
            let v = self.b.ins().scalar_to_vector(tt, c0);
            self.b.ins().insertlane(v, c1, 1)
        } else {
            self.b.ins().fcvt_to_sint_sat(tt, xs)
        };
        let minv = self.konst(to, 0.0, min, mode);
        self.select(to, ok, r, minv, mode)
    }

    /// `cond ? a : b` (values of `dt`).
    pub fn select(&mut self, dt: DType, cond: Value, a: Value, b: Value, mode: Mode) -> Value {
        let ty = cl_type(dt, mode);
        self.fsel(ty, cond, a, b)
    }

    /// `x as to`.
    pub fn cast(&mut self, from: DType, to: DType, x: Value, mode: Mode) -> Result<Value> {
        use DType::*;
        if from == to {
            return Ok(x);
        }
        let tt = cl_type(to, mode);
        if to == Bool {
            return Ok(self.truthy(from, x, mode));
        }
        if mode != Mode::Scalar {
            return Ok(match (from, to) {
                (Bool, F32 | F64) => {
                    let one = self.konst(to, 1.0, 1, mode);
                    let z = self.konst(to, 0.0, 0, mode);
                    self.fsel(tt, x, one, z)
                }
                (Bool, _) => self.b.ins().ineg(x),
                (I32, F32) | (I64, F64) => self.b.ins().fcvt_from_sint(tt, x),
                // Narrow int32s (`vector::narrow_values`): the low two lanes of an `I32X4`.
                (I32, F64) if mode == Mode::Vec64 => {
                    let w = self.b.ins().swiden_low(x);
                    self.b.ins().fcvt_from_sint(tt, w)
                }
                (I32, I64) if mode == Mode::Vec64 => self.b.ins().swiden_low(x),
                // Narrow float32s: the low two lanes of an `F32X4` (`cvtps2pd`, `cvtpd2ps`).
                (F32, F64) if mode == Mode::Vec64 => self.b.ins().fvpromote_low(x),
                (F64, F32) if mode == Mode::Vec64 => self.b.ins().fvdemote(x),
                (I64, I32) if mode == Mode::Vec64 => {
                    // Each lane's low half to the low two lanes (one `pshufd`).
                    let f = MemFlagsData::new()
                        .with_endianness(cranelift_codegen::ir::Endianness::Little);
                    let bytes = self.b.ins().bitcast(types::I8X16, f, x);
                    let mask: Vec<u8> = [0u8, 1, 2, 3, 8, 9, 10, 11].repeat(2);
                    let imm = self.b.func.dfg.immediates.push(mask.into());
                    let r = self.b.ins().shuffle(bytes, bytes, imm);
                    self.b.ins().bitcast(types::I32X4, f, r)
                }
                (F32, I32) | (F64, I32 | I64) => self.float_to_int(from, to, x, mode),
                _ => {
                    return Err(CodegenError::Unsupported(format!(
                        "vector cast {from} to {to}"
                    )))
                }
            });
        }
        Ok(match (from, to) {
            (Bool, I32 | I64) => self.b.ins().uextend(tt, x),
            (Bool, F32 | F64) => {
                let w = self.b.ins().uextend(types::I32, x);
                self.b.ins().fcvt_from_sint(tt, w)
            }
            (I32, I64) => self.b.ins().sextend(tt, x),
            (I64, I32) => self.b.ins().ireduce(tt, x),
            (I32 | I64, F32 | F64) => self.b.ins().fcvt_from_sint(tt, x),
            (F32 | F64, I32 | I64) => self.float_to_int(from, to, x, mode),
            (F32, F64) => self.b.ins().fpromote(tt, x),
            (F64, F32) => self.b.ins().fdemote(tt, x),
            _ => x,
        })
    }
}
