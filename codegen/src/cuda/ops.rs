//! The per-op table of the CUDA C renderer: how each unary, binary, cast, constant and
//! reduction step is written for each dtype, plus the helper functions some entries call.
//!
//! Most entries are data (`Form::Math`, `Form::Prefix`, `Form::Infix`); the few ops whose
//! NumPy semantics differ from C's (wrapping integer arithmetic, floor division, NaN-propagating
//! max, float-to-int casts that give the minimum integer for NaN, ±inf and out-of-range values as
//! on x86-64) are small overrides. Float32 entries use the
//! `f`-suffixed math functions and `f`-suffixed literals so no float64 arithmetic sneaks into a
//! float32 kernel. Helpers are emitted on demand ([`Helper`]) for the dtypes a kernel uses, for
//! the same reason.

use ember_ir::{BinaryOp, DType, ReduceOp, Scalar, UnaryOp};
use std::fmt::{self, Display, Formatter, Write};

/// The C type a value of `dt` has in registers.
pub fn ctype(dt: DType) -> &'static str {
    match dt {
        DType::Bool => "bool",
        DType::I32 => "int",
        DType::I64 => "long long",
        DType::F32 => "float",
        DType::F64 => "double",
    }
}

/// The C type of one element in memory: bool is one byte (0 or 1), like NumPy's `bool_`.
pub fn mem_type(dt: DType) -> &'static str {
    match dt {
        DType::Bool => "unsigned char",
        _ => ctype(dt),
    }
}

/// A constant written as a C literal of exactly its dtype (`0.5f`, `3LL`, bit patterns for
/// NaN and infinities, which have no literal).
#[derive(Clone, Copy, Debug)]
pub struct Lit(pub Scalar);

impl Lit {
    /// `v` converted to `dt` (NumPy `astype`).
    pub fn of(dt: DType, v: f64) -> Lit {
        Lit(Scalar::F64(v).cast(dt))
    }
}

impl Display for Lit {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Scalar::Bool(b) => write!(f, "{b}"),
            // The most negative values have no literal (the minus is an operator).
            Scalar::I32(i32::MIN) => f.write_str("(-2147483647 - 1)"),
            Scalar::I32(v) => write!(f, "{v}"),
            Scalar::I64(i64::MIN) => f.write_str("(-9223372036854775807LL - 1LL)"),
            Scalar::I64(v) => write!(f, "{v}LL"),
            Scalar::F32(v) if v.is_finite() => write!(f, "{v:?}f"),
            Scalar::F32(v) => write!(f, "__int_as_float(0x{:08x})", v.to_bits()),
            Scalar::F64(v) if v.is_finite() => write!(f, "{v:?}"),
            Scalar::F64(v) => write!(f, "__longlong_as_double(0x{:016x}LL)", v.to_bits()),
        }
    }
}

/// A helper function defined in the kernel's prelude when an op needs it. Ordered so the
/// prelude lists them in dependency order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Helper {
    /// `ember_isnan(x)` for a dtype (false for non-floats).
    IsNan(DType),
    /// NumPy's `ember_max(a, b)` for a float dtype: NaN propagates, ties give `b`.
    Max(DType),
    /// NumPy's `ember_min(a, b)` for a float dtype: NaN propagates, ties give `b`.
    Min(DType),
    /// `ember_<from>_to_<to>(x)`: float to int conversion as NumPy does it on x86-64.
    FloatToInt(DType, DType),
    /// NumPy `floor_divide` (floats, and int64 which int32 goes through).
    FloorDiv(DType),
    /// NumPy `remainder` (floats, and int64 which int32 goes through).
    Rem(DType),
    /// Integer power by squaring, wrapping.
    IPow,
    /// Integer `fmod` (C's `%`, the sign of the dividend) with NumPy's 0 for a zero divisor
    /// (int64, which int32 goes through).
    IFmod,
    /// Compensated (Neumaier) summation step for a float dtype.
    Neumaier(DType),
    /// `ember_arg_fold`: one argmax/argmin step (first extreme wins, first NaN wins).
    ArgFold,
    /// `ember_block_reduce`: warp shuffles, then one value per warp through shared memory.
    BlockReduce,
    /// `ember_block_arg`: [`Helper::BlockReduce`] for (value, index) pairs.
    BlockArg,
    /// `ember_block_comp`: [`Helper::BlockReduce`] for compensated (sum, compensation) pairs.
    BlockComp,
    /// `ember_vec4<T>`: four elements loaded or stored as one aligned access.
    Vec4,
}

impl Helper {
    /// Writes the helper's definition.
    pub fn define(self, w: &mut dyn Write) -> fmt::Result {
        match self {
            Helper::IsNan(dt) => {
                match dt {
                    DType::F32 | DType::F64 => {
                        let t = ctype(dt);
                        writeln!(w, "__device__ __forceinline__ bool ember_isnan({t} x) {{ return isnan(x); }}")
                    }
                    _ => {
                        let t = ctype(dt);
                        writeln!(
                            w,
                            "__device__ __forceinline__ bool ember_isnan({t}) {{ return false; }}"
                        )
                    }
                }
            }
            Helper::Max(dt) | Helper::Min(dt) => {
                let (t, name, cmp) = match self {
                    Helper::Max(_) => (ctype(dt), "ember_max", ">"),
                    _ => (ctype(dt), "ember_min", "<"),
                };
                // NumPy's loops on x86-64: a NaN in either operand propagates, and equal
                // operands (signed zeros) give the second one.
                writeln!(w, "__device__ __forceinline__ {t} {name}({t} a, {t} b) {{")?;
                writeln!(w, "  return (a {cmp} b || isnan(a)) ? a : b;")?;
                writeln!(w, "}}")
            }
            Helper::FloatToInt(from, to) => {
                let (ft, it) = (ctype(from), ctype(to));
                let (bound, min, cvt) = match (from, to) {
                    (DType::F32, DType::I32) => (2147483648.0, i32::MIN as i64, "__float2int_rz"),
                    (DType::F64, DType::I32) => (2147483648.0, i32::MIN as i64, "__double2int_rz"),
                    (DType::F32, _) => (9223372036854775808.0, i64::MIN, "__float2ll_rz"),
                    _ => (9223372036854775808.0, i64::MIN, "__double2ll_rz"),
                };
                let min = if to == DType::I32 {
                    Lit(Scalar::I32(min as i32))
                } else {
                    Lit(Scalar::I64(min))
                };
                // The bounds are ±2^(bits-1), exact in both float types, written in full.
                let s = if from == DType::F32 { "f" } else { "" };
                let (lo, hi) = (format!("-{bound:.1}{s}"), format!("{bound:.1}{s}"));
                // The intrinsics saturate (NaN gives 0); NumPy on x86-64 gives the minimum
                // ("integer indefinite") for NaN, ±inf and anything out of range.
                writeln!(
                    w,
                    "__device__ __forceinline__ {it} {}({ft} x) {{",
                    float_to_int_name(from, to)
                )?;
                writeln!(w, "  return (x >= {lo} && x < {hi}) ? {cvt}(x) : {min};")?;
                writeln!(w, "}}")
            }
            Helper::FloorDiv(dt) if dt.is_float() => {
                let (t, s, zero, half, one) = float_names(dt);
                writeln!(
                    w,
                    "__device__ __forceinline__ {t} ember_floordiv({t} a, {t} b) {{"
                )?;
                writeln!(w, "  if (b == {zero}) return a / b;")?;
                writeln!(w, "  const {t} m = fmod{s}(a, b);")?;
                writeln!(w, "  {t} d = (a - m) / b;")?;
                writeln!(
                    w,
                    "  if (m != {zero} && ((b < {zero}) != (m < {zero}))) d -= {one};"
                )?;
                writeln!(w, "  if (d == {zero}) return copysign{s}({zero}, a / b);")?;
                writeln!(w, "  const {t} fl = floor{s}(d);")?;
                writeln!(w, "  return (d - fl > {half}) ? fl + {one} : fl;")?;
                writeln!(w, "}}")
            }
            Helper::FloorDiv(_) => {
                writeln!(w, "__device__ __forceinline__ long long ember_floordiv(long long a, long long b) {{")?;
                writeln!(w, "  if (b == 0LL) return 0LL;")?;
                // LLONG_MIN / -1 overflows in C; NumPy (and the interpreter) wrap.
                writeln!(
                    w,
                    "  if (b == -1LL) return (long long)(0ULL - (unsigned long long)a);"
                )?;
                writeln!(w, "  const long long q = a / b;")?;
                writeln!(
                    w,
                    "  return (a % b != 0LL && ((a < 0LL) != (b < 0LL))) ? q - 1LL : q;"
                )?;
                writeln!(w, "}}")
            }
            Helper::Rem(dt) if dt.is_float() => {
                let (t, s, zero, _, _) = float_names(dt);
                writeln!(
                    w,
                    "__device__ __forceinline__ {t} ember_rem({t} a, {t} b) {{"
                )?;
                writeln!(w, "  const {t} m = fmod{s}(a, b);")?;
                writeln!(w, "  if (b == {zero}) return m;")?;
                writeln!(w, "  if (m == {zero}) return copysign{s}({zero}, b);")?;
                writeln!(w, "  return ((b < {zero}) != (m < {zero})) ? m + b : m;")?;
                writeln!(w, "}}")
            }
            Helper::Rem(_) => {
                writeln!(
                    w,
                    "__device__ __forceinline__ long long ember_rem(long long a, long long b) {{"
                )?;
                writeln!(w, "  if (b == 0LL || b == -1LL) return 0LL;")?;
                writeln!(w, "  const long long r = a % b;")?;
                writeln!(
                    w,
                    "  return (r != 0LL && ((r < 0LL) != (b < 0LL))) ? r + b : r;"
                )?;
                writeln!(w, "}}")
            }
            Helper::IPow => {
                writeln!(
                    w,
                    "__device__ __forceinline__ long long ember_ipow(long long a, long long b) {{"
                )?;
                writeln!(w, "  if (b < 0LL) return 0LL;")?;
                writeln!(
                    w,
                    "  unsigned long long r = 1ULL, x = (unsigned long long)a;"
                )?;
                writeln!(w, "  for (; b > 0LL; b >>= 1) {{")?;
                writeln!(w, "    if (b & 1LL) r *= x;")?;
                writeln!(w, "    x *= x;")?;
                writeln!(w, "  }}")?;
                writeln!(w, "  return (long long)r;")?;
                writeln!(w, "}}")
            }
            Helper::IFmod => {
                writeln!(
                    w,
                    "__device__ __forceinline__ long long ember_fmod(long long a, long long b) {{"
                )?;
                // C leaves `a % 0` undefined and `LLONG_MIN % -1` overflows; both are 0 here.
                writeln!(w, "  return (b == 0LL || b == -1LL) ? 0LL : a % b;")?;
                writeln!(w, "}}")
            }
            Helper::Neumaier(dt) => {
                let (t, s, _, _, _) = float_names(dt);
                writeln!(
                    w,
                    "__device__ __forceinline__ void ember_neumaier({t}& s, {t}& c, {t} x) {{"
                )?;
                writeln!(w, "  const {t} t = s + x;")?;
                writeln!(
                    w,
                    "  c += (fabs{s}(s) >= fabs{s}(x)) ? ((s - t) + x) : ((x - t) + s);"
                )?;
                writeln!(w, "  s = t;")?;
                writeln!(w, "}}")?;
                // The compensation is NaN once the sum overflowed or met an infinity
                // (inf - inf): the sum alone is then the answer, as in the interpreter.
                writeln!(
                    w,
                    "__device__ __forceinline__ {t} ember_comp_value({t} s, {t} c) {{ return isfinite(c) ? s + c : s; }}"
                )
            }
            Helper::ArgFold => w.write_str(ARG_FOLD),
            Helper::BlockReduce => w.write_str(BLOCK_REDUCE),
            Helper::BlockArg => w.write_str(BLOCK_ARG),
            Helper::BlockComp => w.write_str(BLOCK_COMP),
            Helper::Vec4 => w.write_str(VEC4),
        }
    }
}

/// The name of the [`Helper::FloatToInt`] function.
fn float_to_int_name(from: DType, to: DType) -> String {
    format!("ember_{}_to_{}", from.name(), to.name())
}

/// `(type, math suffix, 0, 0.5, 1)` of a float dtype.
fn float_names(dt: DType) -> (&'static str, &'static str, Lit, Lit, Lit) {
    let s = if dt == DType::F32 { "f" } else { "" };
    (
        ctype(dt),
        s,
        Lit::of(dt, 0.0),
        Lit::of(dt, 0.5),
        Lit::of(dt, 1.0),
    )
}

const ARG_FOLD: &str = "\
// One argmax (MAX) / argmin step: (bv, bi) is the best so far (bi < 0: none yet). The first
// extreme wins, and the first NaN wins over everything, so folding in any order and breaking
// ties by the smaller index gives the sequential answer.
template <bool MAX, typename T>
__device__ __forceinline__ void ember_arg_fold(T& bv, long long& bi, T v, long long i) {
  if (i < 0) return;
  bool take;
  if (bi < 0) take = true;
  else if (ember_isnan(bv)) take = ember_isnan(v) && i < bi;
  else if (ember_isnan(v)) take = true;
  else take = (MAX ? v > bv : v < bv) || (v == bv && i < bi);
  if (take) { bv = v; bi = i; }
}
";

const BLOCK_REDUCE: &str = "\
// Combines one value per thread across the block and gives every thread the result: a tree of
// warp shuffles in each warp, then one value per warp through shared memory, reduced by warp 0.
// blockDim.x is a multiple of 32 (at most 1024, so at most 32 warps).
template <typename T, typename F>
__device__ __forceinline__ T ember_block_reduce(T v, F f, T* sh) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (unsigned o = 16; o > 0; o >>= 1) {
    const T x = __shfl_down_sync(0xffffffffu, v, o);
    if (lane + o < 32u) v = f(v, x);
  }
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = sh[lane < nwarps ? lane : 0];
    for (unsigned o = 16; o > 0; o >>= 1) {
      const T x = __shfl_down_sync(0xffffffffu, v, o);
      if (lane + o < nwarps) v = f(v, x);
    }
    if (lane == 0) sh[0] = v;
  }
  __syncthreads();
  v = sh[0];
  // The next reduction reuses sh: nobody may write it before everyone has read it.
  __syncthreads();
  return v;
}
";

const BLOCK_ARG: &str = "\
// ember_block_reduce for argmax/argmin: (value, index) pairs combined by ember_arg_fold.
template <bool MAX, typename T>
__device__ __forceinline__ void ember_block_arg(T& v, long long& i, T* shv, long long* shi) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (unsigned o = 16; o > 0; o >>= 1) {
    const T xv = __shfl_down_sync(0xffffffffu, v, o);
    const long long xi = __shfl_down_sync(0xffffffffu, i, o);
    if (lane + o < 32u) ember_arg_fold<MAX>(v, i, xv, xi);
  }
  if (lane == 0) { shv[warp] = v; shi[warp] = i; }
  __syncthreads();
  if (warp == 0) {
    v = shv[lane < nwarps ? lane : 0];
    i = shi[lane < nwarps ? lane : 0];
    for (unsigned o = 16; o > 0; o >>= 1) {
      const T xv = __shfl_down_sync(0xffffffffu, v, o);
      const long long xi = __shfl_down_sync(0xffffffffu, i, o);
      if (lane + o < nwarps) ember_arg_fold<MAX>(v, i, xv, xi);
    }
    if (lane == 0) { shv[0] = v; shi[0] = i; }
  }
  __syncthreads();
  v = shv[0];
  i = shi[0];
  __syncthreads();
}
";

const BLOCK_COMP: &str = "\
// ember_block_reduce for compensated sums: each thread's (sum, compensation) pair joins its
// partner's with a Neumaier step on the sums plus the partner's compensation, so the block's
// total keeps the accuracy of the per-thread sums (read it with ember_comp_value).
template <typename T>
__device__ __forceinline__ void ember_block_comp(T& s, T& c, T* shs, T* shc) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (unsigned o = 16; o > 0; o >>= 1) {
    const T xs = __shfl_down_sync(0xffffffffu, s, o);
    const T xc = __shfl_down_sync(0xffffffffu, c, o);
    if (lane + o < 32u) { ember_neumaier(s, c, xs); c += xc; }
  }
  if (lane == 0) { shs[warp] = s; shc[warp] = c; }
  __syncthreads();
  if (warp == 0) {
    s = shs[lane < nwarps ? lane : 0];
    c = shc[lane < nwarps ? lane : 0];
    for (unsigned o = 16; o > 0; o >>= 1) {
      const T xs = __shfl_down_sync(0xffffffffu, s, o);
      const T xc = __shfl_down_sync(0xffffffffu, c, o);
      if (lane + o < nwarps) { ember_neumaier(s, c, xs); c += xc; }
    }
    if (lane == 0) { shs[0] = s; shc[0] = c; }
  }
  __syncthreads();
  s = shs[0];
  c = shc[0];
  // The next reduction reuses shs/shc: nobody may write them before everyone has read them.
  __syncthreads();
}
";

const VEC4: &str = "\
// Four consecutive elements moved as one access (16 bytes at most per instruction).
template <typename T>
struct alignas(sizeof(T) * 4 < 16 ? sizeof(T) * 4 : 16) ember_vec4 { T v[4]; };
template <typename T>
__device__ __forceinline__ bool ember_aligned(const T* p) {
  return (unsigned long long)p % alignof(ember_vec4<T>) == 0;
}
";

/// How one op is written.
#[derive(Clone, Copy)]
enum Form {
    /// A C math function; float32 appends `f` (`expf`, `powf`).
    Math(&'static str),
    /// A function or builtin whose name does not depend on the dtype (`isnan`, `max`).
    Call(&'static str),
    /// `(op x)`.
    Prefix(&'static str),
    /// `(a op b)`.
    Infix(&'static str),
    /// Integer `(a op b)` computed in unsigned arithmetic: NumPy wraps where C's signed
    /// overflow is undefined.
    Wrapping(&'static str),
    /// A helper function from the prelude.
    Helper(Helper, &'static str),
    /// Written by a small override.
    Custom(fn(&mut Formatter<'_>, DType, &[&dyn Display]) -> fmt::Result),
}

fn unary_form(op: UnaryOp, dt: DType) -> Option<Form> {
    use UnaryOp::*;
    let f = match (op, dt) {
        (IsNan | IsInf, DType::F32 | DType::F64) => {
            Form::Call(if op == IsNan { "isnan" } else { "isinf" })
        }
        (IsFinite, DType::F32 | DType::F64) => Form::Call("isfinite"),
        // Constant for integers and bool; the operand is still named so it counts as used.
        (IsNan | IsInf, _) => Form::Custom(|f, _, x| write!(f, "((void){}, false)", x[0])),
        (IsFinite, _) => Form::Custom(|f, _, x| write!(f, "((void){}, true)", x[0])),
        (LogicalNot, DType::Bool) => Form::Prefix("!"),
        (LogicalNot, _) => Form::Custom(|f, dt, x| write!(f, "({} == {})", x[0], Lit::of(dt, 0.0))),
        (Abs | Relu | Floor | Ceil | Round, DType::Bool) => Form::Custom(|f, _, x| x[0].fmt(f)),
        (_, DType::Bool) => return None,
        (Floor | Ceil | Round, DType::I32 | DType::I64) => Form::Custom(|f, _, x| x[0].fmt(f)),
        (Neg, DType::I32 | DType::I64) => Form::Custom(|f, dt, x| {
            write!(
                f,
                "(({})(0{} - ({})({})))",
                ctype(dt),
                usuffix(dt),
                utype(dt),
                x[0]
            )
        }),
        (Abs, DType::I32 | DType::I64) => Form::Custom(|f, dt, x| {
            let (t, u) = (ctype(dt), utype(dt));
            write!(
                f,
                "({x} < 0 ? ({t})(0{s} - ({u}){x}) : {x})",
                x = x[0],
                s = usuffix(dt)
            )
        }),
        (Sign, DType::I32 | DType::I64) => {
            Form::Custom(|f, dt, x| write!(f, "(({})(({x} > 0) - ({x} < 0)))", ctype(dt), x = x[0]))
        }
        (Square, DType::I32 | DType::I64) => Form::Custom(|f, dt, x| {
            write!(
                f,
                "(({})(({u}){x} * ({u}){x}))",
                ctype(dt),
                u = utype(dt),
                x = x[0]
            )
        }),
        // NumPy computes `1.0 / x` and converts back: 1 / 0 = inf gives the minimum (x86-64).
        (Reciprocal, DType::I32 | DType::I64) => Form::Custom(|f, dt, x| {
            let (one, m1, z) = (Lit::of(dt, 1.0), Lit::of(dt, -1.0), Lit::of(dt, 0.0));
            let min = if dt == DType::I32 {
                Lit(Scalar::I32(i32::MIN))
            } else {
                Lit(Scalar::I64(i64::MIN))
            };
            write!(
                f,
                "({x} == {one} ? {one} : ({x} == {m1} ? {m1} : ({x} == {z} ? {min} : {z})))",
                x = x[0]
            )
        }),
        (Relu, DType::I32 | DType::I64) => Form::Custom(|f, dt, x| {
            write!(f, "({x} < {z} ? {z} : {x})", x = x[0], z = Lit::of(dt, 0.0))
        }),
        (_, DType::I32 | DType::I64) => return None,
        // Floats.
        (Neg, _) => Form::Prefix("-"),
        (Abs, _) => Form::Math("fabs"),
        (Sign, _) => Form::Custom(|f, dt, x| {
            let (z, one) = (Lit::of(dt, 0.0), Lit::of(dt, 1.0));
            // NaN passes through and both zeros give +0 (`x + 0`), like NumPy.
            write!(
                f,
                "({x} > {z} ? {one} : ({x} < {z} ? -{one} : {x} + {z}))",
                x = x[0]
            )
        }),
        (Exp, _) => Form::Math("exp"),
        (Expm1, _) => Form::Math("expm1"),
        (Log, _) => Form::Math("log"),
        (Log1p, _) => Form::Math("log1p"),
        (Sqrt, _) => Form::Math("sqrt"),
        (Square, _) => Form::Custom(|f, _, x| write!(f, "({x} * {x})", x = x[0])),
        (Reciprocal, _) => Form::Custom(|f, dt, x| write!(f, "({} / {})", Lit::of(dt, 1.0), x[0])),
        (Sin, _) => Form::Math("sin"),
        (Cos, _) => Form::Math("cos"),
        (Tan, _) => Form::Math("tan"),
        (Tanh, _) => Form::Math("tanh"),
        (Sinh, _) => Form::Math("sinh"),
        (Cosh, _) => Form::Math("cosh"),
        (Asin, _) => Form::Math("asin"),
        (Acos, _) => Form::Math("acos"),
        (Atan, _) => Form::Math("atan"),
        (Erf, _) => Form::Math("erf"),
        (Sigmoid, _) => Form::Custom(|f, dt, x| {
            let (one, s) = (Lit::of(dt, 1.0), if dt == DType::F32 { "f" } else { "" });
            write!(f, "({one} / ({one} + exp{s}(-{})))", x[0])
        }),
        // `maximum(x, 0)`: NaN propagates, -0 gives +0.
        (Relu, _) => Form::Custom(|f, dt, x| {
            write!(
                f,
                "({x} <= {z} ? {z} : {x})",
                x = x[0],
                z = Lit::of(dt, 0.0)
            )
        }),
        (Floor, _) => Form::Math("floor"),
        (Ceil, _) => Form::Math("ceil"),
        // rint rounds half to even, like np.round.
        (Round, _) => Form::Math("rint"),
        (Log2, _) => Form::Math("log2"),
        (Log10, _) => Form::Math("log10"),
        (Exp2, _) => Form::Math("exp2"),
        (Cbrt, _) => Form::Math("cbrt"),
        (Asinh, _) => Form::Math("asinh"),
        (Acosh, _) => Form::Math("acosh"),
        (Atanh, _) => Form::Math("atanh"),
    };
    Some(f)
}

fn binary_form(op: BinaryOp, dt: DType) -> Option<Form> {
    use BinaryOp::*;
    let f = match (op, dt) {
        (Eq, _) => Form::Infix("=="),
        (Ne, _) => Form::Infix("!="),
        (Lt, _) => Form::Infix("<"),
        (Le, _) => Form::Infix("<="),
        (Gt, _) => Form::Infix(">"),
        (Ge, _) => Form::Infix(">="),
        (And | Or | Xor, DType::Bool) => Form::Infix(match op {
            And => "&&",
            Or => "||",
            _ => "!=",
        }),
        // Truthiness: NaN is true, like NumPy.
        (And, _) => Form::Custom(|f, dt, x| logical(f, dt, x, "&&")),
        (Or, _) => Form::Custom(|f, dt, x| logical(f, dt, x, "||")),
        (Xor, _) => Form::Custom(|f, dt, x| logical(f, dt, x, "!=")),
        (Add | Max, DType::Bool) => Form::Infix("||"),
        (Mul | Min, DType::Bool) => Form::Infix("&&"),
        (_, DType::Bool) => return None,
        (Add, DType::I32 | DType::I64) => Form::Wrapping("+"),
        (Sub, DType::I32 | DType::I64) => Form::Wrapping("-"),
        (Mul, DType::I32 | DType::I64) => Form::Wrapping("*"),
        (FloorDiv, DType::I32 | DType::I64) => {
            Form::Helper(Helper::FloorDiv(DType::I64), "ember_floordiv")
        }
        (Rem, DType::I32 | DType::I64) => Form::Helper(Helper::Rem(DType::I64), "ember_rem"),
        (Pow, DType::I32 | DType::I64) => Form::Helper(Helper::IPow, "ember_ipow"),
        (Fmod, DType::I32 | DType::I64) => Form::Helper(Helper::IFmod, "ember_fmod"),
        (Max, DType::I32 | DType::I64) => Form::Call("max"),
        (Min, DType::I32 | DType::I64) => Form::Call("min"),
        (_, DType::I32 | DType::I64) => return None,
        (Add, _) => Form::Infix("+"),
        (Sub, _) => Form::Infix("-"),
        (Mul, _) => Form::Infix("*"),
        (Div, _) => Form::Infix("/"),
        (FloorDiv, _) => Form::Helper(Helper::FloorDiv(dt), "ember_floordiv"),
        (Rem, _) => Form::Helper(Helper::Rem(dt), "ember_rem"),
        (Pow, _) => Form::Math("pow"),
        (Atan2, _) => Form::Math("atan2"),
        (Hypot, _) => Form::Math("hypot"),
        (Copysign, _) => Form::Math("copysign"),
        (Fmod, _) => Form::Math("fmod"),
        (Max, _) => Form::Helper(Helper::Max(dt), "ember_max"),
        (Min, _) => Form::Helper(Helper::Min(dt), "ember_min"),
    };
    Some(f)
}

fn logical(f: &mut Formatter<'_>, dt: DType, x: &[&dyn Display], op: &str) -> fmt::Result {
    let z = Lit::of(dt, 0.0);
    write!(f, "(({} != {z}) {op} ({} != {z}))", x[0], x[1])
}

fn utype(dt: DType) -> &'static str {
    if dt == DType::I64 {
        "unsigned long long"
    } else {
        "unsigned"
    }
}

fn usuffix(dt: DType) -> &'static str {
    if dt == DType::I64 {
        "ULL"
    } else {
        "u"
    }
}

fn write_form(f: &mut Formatter<'_>, form: Form, dt: DType, x: &[&dyn Display]) -> fmt::Result {
    let args = |f: &mut Formatter<'_>| -> fmt::Result {
        for (i, a) in x.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            a.fmt(f)?;
        }
        Ok(())
    };
    match form {
        Form::Math(name) => {
            let s = if dt == DType::F32 { "f" } else { "" };
            write!(f, "{name}{s}(")?;
            args(f)?;
            f.write_str(")")
        }
        Form::Call(name) | Form::Helper(_, name) => {
            // int32 goes through the int64 helpers, which give NumPy's int32 answer once
            // truncated (the interpreter computes the same way).
            if matches!(form, Form::Helper(..)) && dt == DType::I32 {
                write!(f, "((int){name}((long long){}, (long long){}))", x[0], x[1])
            } else {
                write!(f, "{name}(")?;
                args(f)?;
                f.write_str(")")
            }
        }
        Form::Prefix(p) => write!(f, "({p}{})", x[0]),
        Form::Infix(o) => write!(f, "({} {o} {})", x[0], x[1]),
        Form::Wrapping(o) => {
            let (t, u) = (ctype(dt), utype(dt));
            write!(f, "(({t})(({u}){} {o} ({u}){}))", x[0], x[1])
        }
        Form::Custom(g) => g(f, dt, x),
    }
}

/// `op(x)` for an operand of dtype `dt`, written through [`Display`].
pub struct Unary<'a> {
    /// The function.
    pub op: UnaryOp,
    /// The operand's dtype.
    pub dt: DType,
    /// The operand.
    pub x: &'a dyn Display,
}

impl Display for Unary<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let form = unary_form(self.op, self.dt).ok_or(fmt::Error)?;
        write_form(f, form, self.dt, &[self.x])
    }
}

/// `op(a, b)` for operands of dtype `dt`, written through [`Display`].
pub struct Binary<'a> {
    /// The function.
    pub op: BinaryOp,
    /// The operands' dtype.
    pub dt: DType,
    /// Left operand.
    pub a: &'a dyn Display,
    /// Right operand.
    pub b: &'a dyn Display,
}

impl Display for Binary<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let form = binary_form(self.op, self.dt).ok_or(fmt::Error)?;
        write_form(f, form, self.dt, &[self.a, self.b])
    }
}

/// `x` (of dtype `from`) converted to `to` with NumPy `astype` semantics, written through
/// [`Display`]. Float to int calls [`Helper::FloatToInt`] (see [`cast_helpers`]): NaN, ±inf
/// and out-of-range values give the minimum integer like the interpreter (a C cast would be
/// undefined there).
pub struct Cast<'a> {
    /// The operand's dtype.
    pub from: DType,
    /// The target dtype.
    pub to: DType,
    /// The operand.
    pub x: &'a dyn Display,
}

impl Display for Cast<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        use DType::*;
        let x = self.x;
        match (self.from, self.to) {
            (a, b) if a == b => x.fmt(f),
            (a, Bool) => write!(f, "({x} != {})", Lit::of(a, 0.0)),
            (from @ (F32 | F64), to @ (I32 | I64)) => {
                write!(f, "{}({x})", float_to_int_name(from, to))
            }
            (_, to) => write!(f, "(({}){x})", ctype(to)),
        }
    }
}

/// The binary op that folds one value into an accumulator of `op`.
pub fn fold_op(op: ReduceOp) -> BinaryOp {
    match op {
        ReduceOp::Sum => BinaryOp::Add,
        ReduceOp::Prod => BinaryOp::Mul,
        ReduceOp::Max => BinaryOp::Max,
        ReduceOp::Min => BinaryOp::Min,
        ReduceOp::Any => BinaryOp::Or,
        ReduceOp::All => BinaryOp::And,
        // Argmax/argmin fold pairs through ember_arg_fold; their values compare with Gt/Lt.
        ReduceOp::ArgMax => BinaryOp::Gt,
        ReduceOp::ArgMin => BinaryOp::Lt,
    }
}

/// The helpers a cast from `from` to `to` needs.
pub fn cast_helpers(from: DType, to: DType) -> Vec<Helper> {
    if from.is_float() && matches!(to, DType::I32 | DType::I64) {
        vec![Helper::FloatToInt(from, to)]
    } else {
        Vec::new()
    }
}

/// The helpers `op(x)` needs, or `None` when the table has no entry for the dtype.
pub fn unary_helpers(op: UnaryOp, dt: DType) -> Option<Vec<Helper>> {
    unary_form(op, dt).map(|f| helpers_of(f).into_iter().collect())
}

/// The helpers `op(a, b)` needs, or `None` when the table has no entry for the dtype.
pub fn binary_helpers(op: BinaryOp, dt: DType) -> Option<Vec<Helper>> {
    binary_form(op, dt).map(|f| helpers_of(f).into_iter().collect())
}

fn helpers_of(f: Form) -> Option<Helper> {
    match f {
        Form::Helper(h, _) => Some(h),
        _ => None,
    }
}
