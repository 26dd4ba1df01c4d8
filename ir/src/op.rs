//! The closed set of primitive operations, their names, classes and result types.
//!
//! Every backend knows exactly these ops. High-level functions (softmax, var, gelu, ...) are
//! [`Composite`] ops that the `decompose` pass rewrites into primitives before fusion.

pub use crate::composite::Composite;
use crate::dtype::{promote, DType};
use crate::error::{IrError, Result};
use crate::literal::Literal;
use crate::shape::{broadcast_shapes, can_broadcast_to, numel, reduced_shape, Shape};
use smallvec::SmallVec;
use std::fmt;

/// Where a value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Device {
    /// Host memory.
    #[default]
    Cpu,
    /// A CUDA device by ordinal.
    Cuda(u32),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl Device {
    /// Parses `cpu`, `cuda` (device 0) or `cuda:N`.
    pub fn parse(s: &str) -> Option<Device> {
        match s {
            "cpu" => Some(Device::Cpu),
            "cuda" | "gpu" => Some(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda),
        }
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v),* }
        impl $name {
            /// Every variant.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The NumPy-style name, also used by the IR text form.
            pub fn name(self) -> &'static str { match self { $($name::$v => $s),* } }
            /// Parses a name produced by [`Self::name`].
            pub fn from_name(s: &str) -> Option<Self> { match s { $($s => Some($name::$v),)* _ => None } }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }
    };
}

named_enum!(
    /// Elementwise functions of one operand.
    UnaryOp {
        /// `-x`.
        Neg = "negative",
        /// `|x|`.
        Abs = "absolute",
        /// -1, 0 or 1 (NaN for NaN).
        Sign = "sign",
        /// `e^x`.
        Exp = "exp",
        /// `e^x - 1`.
        Expm1 = "expm1",
        /// Natural logarithm.
        Log = "log",
        /// `log(1 + x)`.
        Log1p = "log1p",
        /// Square root.
        Sqrt = "sqrt",
        /// `x * x`.
        Square = "square",
        /// `1 / x`.
        Reciprocal = "reciprocal",
        /// Sine.
        Sin = "sin",
        /// Cosine.
        Cos = "cos",
        /// Tangent.
        Tan = "tan",
        /// Hyperbolic tangent.
        Tanh = "tanh",
        /// Hyperbolic sine.
        Sinh = "sinh",
        /// Hyperbolic cosine.
        Cosh = "cosh",
        /// Inverse sine.
        Asin = "arcsin",
        /// Inverse cosine.
        Acos = "arccos",
        /// Inverse tangent.
        Atan = "arctan",
        /// Error function (used by exact gelu).
        Erf = "erf",
        /// `1 / (1 + e^-x)`.
        Sigmoid = "sigmoid",
        /// `max(x, 0)`.
        Relu = "relu",
        /// Round down.
        Floor = "floor",
        /// Round up.
        Ceil = "ceil",
        /// Round half to even (`np.round` with 0 decimals).
        Round = "round",
        /// NaN test.
        IsNan = "isnan",
        /// Infinity test.
        IsInf = "isinf",
        /// Finite test.
        IsFinite = "isfinite",
        /// Logical negation of truthiness.
        LogicalNot = "logical_not",
        /// Base-2 logarithm.
        Log2 = "log2",
        /// Base-10 logarithm.
        Log10 = "log10",
        /// `2^x`.
        Exp2 = "exp2",
        /// Cube root (real, negative for negative `x`).
        Cbrt = "cbrt",
        /// Inverse hyperbolic sine.
        Asinh = "arcsinh",
        /// Inverse hyperbolic cosine (NaN below 1).
        Acosh = "arccosh",
        /// Inverse hyperbolic tangent (±inf at ±1, NaN beyond).
        Atanh = "arctanh",
    }
);

named_enum!(
    /// Elementwise functions of two broadcast operands.
    BinaryOp {
        /// `a + b` (logical or for bool).
        Add = "add",
        /// `a - b`.
        Sub = "subtract",
        /// `a * b` (logical and for bool).
        Mul = "multiply",
        /// True division.
        Div = "divide",
        /// Floor division.
        FloorDiv = "floor_divide",
        /// Python-style remainder (sign of the divisor).
        Rem = "remainder",
        /// `a ** b`.
        Pow = "power",
        /// Elementwise maximum, NaN-propagating.
        Max = "maximum",
        /// Elementwise minimum, NaN-propagating.
        Min = "minimum",
        /// `atan2(a, b)`.
        Atan2 = "arctan2",
        /// `a == b`.
        Eq = "equal",
        /// `a != b`.
        Ne = "not_equal",
        /// `a < b`.
        Lt = "less",
        /// `a <= b`.
        Le = "less_equal",
        /// `a > b`.
        Gt = "greater",
        /// `a >= b`.
        Ge = "greater_equal",
        /// Logical and of truthiness.
        And = "logical_and",
        /// Logical or of truthiness.
        Or = "logical_or",
        /// Logical xor of truthiness.
        Xor = "logical_xor",
        /// `sqrt(a^2 + b^2)` without intermediate overflow or underflow.
        Hypot = "hypot",
        /// The magnitude of `a` with the sign bit of `b`.
        Copysign = "copysign",
        /// C-style remainder (`fmod`: the sign of the dividend); 0 for an integer division
        /// by zero, like NumPy.
        Fmod = "fmod",
    }
);

named_enum!(
    /// Reductions over a set of axes.
    ReduceOp {
        /// Sum (ints and bool accumulate in int64).
        Sum = "sum",
        /// Product (ints and bool accumulate in int64).
        Prod = "prod",
        /// Maximum, NaN-propagating.
        Max = "max",
        /// Minimum, NaN-propagating.
        Min = "min",
        /// Index of the first maximum (one axis).
        ArgMax = "argmax",
        /// Index of the first minimum (one axis).
        ArgMin = "argmin",
        /// Any element truthy.
        Any = "any",
        /// All elements truthy.
        All = "all",
    }
);

impl UnaryOp {
    /// The result dtype for an input dtype, or why NumPy's answer is unavailable.
    pub fn result_dtype(self, x: DType) -> Result<DType> {
        use UnaryOp::*;
        let err = |why: &str| {
            Err(IrError::DType {
                op: self.name().into(),
                dtype: x,
                why: why.into(),
            })
        };
        match self {
            IsNan | IsInf | IsFinite | LogicalNot => Ok(DType::Bool),
            Abs | Floor | Ceil | Relu => Ok(x),
            Neg | Sign if x == DType::Bool => err("not supported for bool (use logical_not)"),
            Neg | Sign => Ok(x),
            Square | Reciprocal if x == DType::Bool => {
                err("NumPy computes this in int8, which Ember does not support; cast first")
            }
            Square | Reciprocal => Ok(x),
            Round if x.is_int() => Ok(x),
            _ => x.float_result().map_or_else(
                || err("NumPy computes this in float16, which Ember does not support; cast first"),
                Ok,
            ),
        }
    }

    /// True for the ops whose result is computed in floating point.
    pub fn is_transcendental(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Exp | Expm1
                | Log
                | Log1p
                | Sqrt
                | Sin
                | Cos
                | Tan
                | Tanh
                | Sinh
                | Cosh
                | Asin
                | Acos
                | Atan
                | Erf
                | Sigmoid
                | Log2
                | Log10
                | Exp2
                | Cbrt
                | Asinh
                | Acosh
                | Atanh
        )
    }
}

impl BinaryOp {
    /// True for comparisons and logical ops, whose result is bool.
    pub fn is_predicate(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge | And | Or | Xor)
    }

    /// The predicate `op'` with `a op b == b op' a` (`<` for `>`, ...); `None` for ops that
    /// are not predicates.
    pub fn swapped(self) -> Option<Self> {
        use BinaryOp::*;
        Some(match self {
            Lt => Gt,
            Le => Ge,
            Gt => Lt,
            Ge => Le,
            Eq | Ne | And | Or | Xor => self,
            _ => return None,
        })
    }

    /// The dtype both operands are converted to before the op runs.
    pub fn compute_dtype(self, a: DType, b: DType) -> Result<DType> {
        use BinaryOp::*;
        let p = promote(a, b);
        let err = |why: &str| {
            Err(IrError::DType {
                op: self.name().into(),
                dtype: p,
                why: why.into(),
            })
        };
        match self {
            Sub if p == DType::Bool => err("boolean subtract is not supported (use logical_xor)"),
            FloorDiv | Rem | Fmod | Pow if p == DType::Bool => {
                err("NumPy computes this in int8, which Ember does not support; cast first")
            }
            Div if p == DType::Bool => Ok(DType::F64),
            Div | Atan2 | Hypot | Copysign => p.float_result().map_or_else(
                || err("NumPy computes this in float16, which Ember does not support"),
                Ok,
            ),
            _ => Ok(p),
        }
    }

    /// The result dtype for two operand dtypes.
    pub fn result_dtype(self, a: DType, b: DType) -> Result<DType> {
        let c = self.compute_dtype(a, b)?;
        Ok(if self.is_predicate() { DType::Bool } else { c })
    }

    /// True when `op(a, b) == op(b, a)`.
    pub fn is_commutative(self) -> bool {
        use BinaryOp::*;
        matches!(self, Add | Mul | Max | Min | Eq | Ne | And | Or | Xor)
    }
}

impl ReduceOp {
    /// The result dtype of reducing an input of dtype `x`.
    pub fn result_dtype(self, x: DType) -> DType {
        match self {
            ReduceOp::Sum | ReduceOp::Prod => x.sum_result(),
            ReduceOp::Max | ReduceOp::Min => x,
            ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I64,
            ReduceOp::Any | ReduceOp::All => DType::Bool,
        }
    }

    /// True when an empty reduction has no identity (max/min/argmax/argmin of nothing).
    pub fn needs_nonempty(self) -> bool {
        matches!(
            self,
            ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin
        )
    }
}

/// One dimension of a basic slice, normalized against the input's size: elements
/// `start, start + step, ...` (`len` of them). `step` is never 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SliceDim {
    /// First index taken.
    pub start: usize,
    /// Number of elements taken.
    pub len: usize,
    /// Distance between taken indices; negative walks backwards.
    pub step: i64,
}

impl SliceDim {
    /// Normalizes Python slice bounds (`None` = default) against a dimension of `size`,
    /// exactly like `slice.indices`.
    pub fn from_python(
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
        size: usize,
    ) -> Result<SliceDim> {
        let step = step.unwrap_or(1);
        if step == 0 {
            return Err(IrError::Shape {
                op: "slice".into(),
                why: "slice step cannot be zero".into(),
            });
        }
        let n = size as i64;
        let clamp = |v: Option<i64>, default: i64, lo: i64, hi: i64| match v {
            None => default,
            Some(v) if v < 0 => (v + n).max(lo),
            Some(v) => v.min(hi),
        };
        let (start, stop) = if step > 0 {
            (clamp(start, 0, 0, n), clamp(stop, n, 0, n))
        } else {
            (clamp(start, n - 1, -1, n - 1), clamp(stop, -1, -1, n - 1))
        };
        let len = if step > 0 {
            if stop > start {
                (stop - start + step - 1) / step
            } else {
                0
            }
        } else if start > stop {
            (start - stop + (-step) - 1) / (-step)
        } else {
            0
        };
        Ok(SliceDim {
            start: if len == 0 { 0 } else { start as usize },
            len: len as usize,
            step,
        })
    }

    /// The whole dimension.
    pub fn full(size: usize) -> SliceDim {
        SliceDim {
            start: 0,
            len: size,
            step: 1,
        }
    }
}

/// One primitive (or composite) operation; a graph node holds one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// The `index`-th argument of the graph.
    Input {
        /// Position among the graph's inputs.
        index: usize,
    },
    /// A constant tensor captured at trace time.
    Const(Literal),
    /// An elementwise function of one operand.
    Unary(UnaryOp),
    /// An elementwise function of two broadcast operands.
    Binary(BinaryOp),
    /// `where(cond, a, b)` with broadcasting.
    Where,
    /// Conversion to another dtype (NumPy `astype` semantics).
    Cast(DType),
    /// A reduction over sorted, normalized axes.
    Reduce {
        /// The reduction.
        op: ReduceOp,
        /// Sorted, normalized axes.
        axes: SmallVec<[usize; 4]>,
        /// Keep reduced dimensions as size 1.
        keepdims: bool,
    },
    /// Same elements, new shape (row-major order).
    Reshape(Shape),
    /// Permutation of the axes (`transpose`).
    Permute(SmallVec<[usize; 4]>),
    /// Broadcast to a larger shape (NumPy `broadcast_to`).
    Broadcast(Shape),
    /// A basic slice, one entry per input dimension.
    Slice(SmallVec<[SliceDim; 4]>),
    /// Concatenation of all operands along an axis.
    Concat {
        /// The normalized axis.
        axis: usize,
    },
    /// `np.matmul` semantics (batched, broadcast, 1-d promoted).
    MatMul,
    /// A high-level function, rewritten into primitives by the `decompose` pass.
    Composite(Composite),
    /// Copy the operand to a device.
    Copy(Device),
    /// The `index`-th result of the graph.
    Output {
        /// Position among the graph's outputs.
        index: usize,
    },
}

/// The dtype and shape of a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValueType {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Shape,
}

impl ValueType {
    /// Builds a value type.
    pub fn new(dtype: DType, shape: &[usize]) -> Self {
        ValueType {
            dtype,
            shape: Shape::from_slice(shape),
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Size in bytes.
    pub fn nbytes(&self) -> usize {
        self.numel() * self.dtype.size()
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype.short_name())?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// The shape of `np.matmul(a, b)`.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Shape> {
    let err = |why: String| IrError::Shape {
        op: "matmul".into(),
        why,
    };
    if a.is_empty() || b.is_empty() {
        return Err(err(
            "matmul: input operand does not have enough dimensions (0-d)".into(),
        ));
    }
    let (k_a, k_b) = (
        a[a.len() - 1],
        if b.len() == 1 { b[0] } else { b[b.len() - 2] },
    );
    if k_a != k_b {
        return Err(err(format!(
            "mismatch in core dimension: shapes {a:?} and {b:?} (size {k_a} is different from {k_b})"
        )));
    }
    let batch_a = if a.len() > 2 {
        &a[..a.len() - 2]
    } else {
        &[][..]
    };
    let batch_b = if b.len() > 2 {
        &b[..b.len() - 2]
    } else {
        &[][..]
    };
    let mut out = broadcast_shapes("matmul", batch_a, batch_b)?;
    if a.len() >= 2 {
        out.push(a[a.len() - 2]);
    }
    if b.len() >= 2 {
        out.push(b[b.len() - 1]);
    }
    Ok(out)
}

impl Op {
    /// A short name for messages and the text form (`add`, `sum`, `reshape`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Const(_) => "const",
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Where => "where",
            Op::Cast(_) => "cast",
            Op::Reduce { op, .. } => op.name(),
            Op::Reshape(_) => "reshape",
            Op::Permute(_) => "permute",
            Op::Broadcast(_) => "broadcast",
            Op::Slice(_) => "slice",
            Op::Concat { .. } => "concat",
            Op::MatMul => "matmul",
            Op::Composite(c) => c.name(),
            Op::Copy(_) => "copy",
            Op::Output { .. } => "output",
        }
    }

    /// True for elementwise ops (fusable into one loop with broadcasts).
    pub fn is_elementwise(&self) -> bool {
        matches!(self, Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast(_))
    }

    /// True for ops that only move or reinterpret elements.
    pub fn is_movement(&self) -> bool {
        matches!(
            self,
            Op::Reshape(_) | Op::Permute(_) | Op::Broadcast(_) | Op::Slice(_) | Op::Concat { .. }
        )
    }

    /// True for reductions.
    pub fn is_reduce(&self) -> bool {
        matches!(self, Op::Reduce { .. })
    }

    /// The number of operands this op takes (`None` for variadic concat).
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            Op::Input { .. } | Op::Const(_) => 0,
            Op::Binary(_) | Op::MatMul => 2,
            Op::Where => 3,
            Op::Concat { .. } => return None,
            _ => 1,
        })
    }

    /// Infers the result type from the operand types. This one function defines shapes and
    /// dtypes for the tracer, the verifier and the eager kernels alike.
    pub fn infer(&self, inputs: &[&ValueType]) -> Result<ValueType> {
        let out = self.infer_unchecked(inputs)?;
        crate::shape::check_size(self.name(), &out.shape, out.dtype.size())?;
        Ok(out)
    }

    fn infer_unchecked(&self, inputs: &[&ValueType]) -> Result<ValueType> {
        if let Some(n) = self.arity() {
            if inputs.len() != n {
                return Err(IrError::Arity {
                    op: self.name().into(),
                    expected: n,
                    got: inputs.len(),
                });
            }
        }
        let shape_err = |why: String| IrError::Shape {
            op: self.name().into(),
            why,
        };
        let vt = |dtype, shape: Shape| Ok(ValueType { dtype, shape });
        match self {
            Op::Input { .. } => Err(shape_err("inputs have no operands to infer from".into())),
            Op::Const(lit) => vt(lit.dtype, lit.shape.clone()),
            Op::Unary(u) => vt(u.result_dtype(inputs[0].dtype)?, inputs[0].shape.clone()),
            Op::Binary(b) => {
                let dtype = b.result_dtype(inputs[0].dtype, inputs[1].dtype)?;
                vt(
                    dtype,
                    broadcast_shapes(b.name(), &inputs[0].shape, &inputs[1].shape)?,
                )
            }
            Op::Where => {
                let s = broadcast_shapes("where", &inputs[0].shape, &inputs[1].shape)?;
                let s = broadcast_shapes("where", &s, &inputs[2].shape)?;
                vt(promote(inputs[1].dtype, inputs[2].dtype), s)
            }
            Op::Cast(d) => vt(*d, inputs[0].shape.clone()),
            Op::Reduce { op, axes, keepdims } => {
                let x = inputs[0];
                if let Some(&bad) = axes.iter().find(|&&a| a >= x.shape.len()) {
                    return Err(IrError::Axis {
                        op: op.name().into(),
                        axis: bad as i64,
                        ndim: x.shape.len(),
                    });
                }
                if axes.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(shape_err(format!(
                        "axes {axes:?} must be sorted and unique"
                    )));
                }
                if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) && axes.len() != 1 {
                    return Err(shape_err("argmax/argmin reduce exactly one axis".into()));
                }
                if op.needs_nonempty() && axes.iter().any(|&a| x.shape[a] == 0) {
                    return Err(shape_err(format!(
                        "zero-size array to reduction operation {} which has no identity",
                        op.name()
                    )));
                }
                vt(
                    op.result_dtype(x.dtype),
                    reduced_shape(&x.shape, axes, *keepdims),
                )
            }
            Op::Reshape(shape) => {
                if numel(shape) != inputs[0].numel() {
                    return Err(shape_err(format!(
                        "cannot reshape array of size {} into shape {:?}",
                        inputs[0].numel(),
                        shape.as_slice()
                    )));
                }
                vt(inputs[0].dtype, shape.clone())
            }
            Op::Permute(perm) => {
                let s = &inputs[0].shape;
                let mut seen = vec![false; s.len()];
                if perm.len() != s.len()
                    || perm
                        .iter()
                        .any(|&p| p >= s.len() || std::mem::replace(&mut seen[p], true))
                {
                    return Err(shape_err(format!(
                        "axes {:?} don't match array of dimension {}",
                        perm.as_slice(),
                        s.len()
                    )));
                }
                vt(inputs[0].dtype, perm.iter().map(|&p| s[p]).collect())
            }
            Op::Broadcast(shape) => {
                if !can_broadcast_to(&inputs[0].shape, shape) {
                    return Err(shape_err(format!(
                        "cannot broadcast shape {:?} to {:?}",
                        inputs[0].shape.as_slice(),
                        shape.as_slice()
                    )));
                }
                vt(inputs[0].dtype, shape.clone())
            }
            Op::Slice(dims) => {
                let s = &inputs[0].shape;
                if dims.len() != s.len() {
                    return Err(shape_err(format!(
                        "slice has {} dimensions, input has {}",
                        dims.len(),
                        s.len()
                    )));
                }
                for (d, &size) in dims.iter().zip(s) {
                    // i128 so extreme steps cannot overflow the bounds check itself.
                    let last = d.start as i128 + (d.len as i128 - 1) * d.step as i128;
                    if d.step == 0
                        || (d.len > 0 && (d.start >= size || last < 0 || last >= size as i128))
                    {
                        return Err(shape_err(format!(
                            "slice {d:?} out of range for size {size}"
                        )));
                    }
                }
                vt(inputs[0].dtype, dims.iter().map(|d| d.len).collect())
            }
            Op::Concat { axis } => {
                let first = inputs
                    .first()
                    .ok_or_else(|| shape_err("need at least one array to concatenate".into()))?;
                if *axis >= first.shape.len() {
                    return Err(IrError::Axis {
                        op: "concatenate".into(),
                        axis: *axis as i64,
                        ndim: first.shape.len(),
                    });
                }
                let mut shape = first.shape.clone();
                let mut dtype = first.dtype;
                for x in &inputs[1..] {
                    let same_rank = x.shape.len() == shape.len();
                    if !same_rank
                        || x.shape
                            .iter()
                            .enumerate()
                            .any(|(i, &d)| i != *axis && d != shape[i])
                    {
                        return Err(shape_err(format!(
                            "all the input array dimensions except for the concatenation axis must match exactly, got {:?} and {:?}",
                            first.shape.as_slice(),
                            x.shape.as_slice()
                        )));
                    }
                    shape[*axis] += x.shape[*axis];
                    dtype = promote(dtype, x.dtype);
                }
                vt(dtype, shape)
            }
            Op::MatMul => {
                let dtype = promote(inputs[0].dtype, inputs[1].dtype);
                vt(dtype, matmul_shape(&inputs[0].shape, &inputs[1].shape)?)
            }
            Op::Composite(c) => {
                let (d, s) = c.infer(inputs[0].dtype, &inputs[0].shape)?;
                vt(d, s)
            }
            Op::Copy(_) | Op::Output { .. } => Ok(inputs[0].clone()),
        }
    }
}
