//! Element types and NumPy 2 (NEP 50) type promotion.
//!
//! Ember supports the dtypes below. Promotion follows NumPy 2: two arrays promote by the
//! usual table, and a Python scalar is *weak*: it takes the array's dtype unless its kind is
//! higher (a Python float meeting an integer array gives float64).

use std::fmt;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// `numpy.bool_`, one byte per element (0 or 1).
    Bool,
    /// `numpy.int32`.
    I32,
    /// `numpy.int64`.
    I64,
    /// `numpy.float32`.
    F32,
    /// `numpy.float64`.
    F64,
}

/// The category of a dtype, ordered so that a higher kind wins promotion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Booleans.
    Bool,
    /// Signed integers.
    Int,
    /// Floating point.
    Float,
}

impl DType {
    /// Every supported dtype, in promotion order.
    pub const ALL: [DType; 5] = [DType::Bool, DType::I32, DType::I64, DType::F32, DType::F64];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// The NumPy name (`"float32"`, ...), also used by the IR text form.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parses a NumPy dtype name; accepts the short IR forms `i32`, `f32`, ... too.
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "bool" | "bool_" => DType::Bool,
            "int32" | "i32" => DType::I32,
            "int64" | "i64" | "int" => DType::I64,
            "float32" | "f32" => DType::F32,
            "float64" | "f64" | "float" => DType::F64,
            _ => return None,
        })
    }

    /// The short name used in the IR text form (`f32`, `i64`, `bool`).
    pub fn short_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// The category of this dtype.
    pub fn kind(self) -> Kind {
        match self {
            DType::Bool => Kind::Bool,
            DType::I32 | DType::I64 => Kind::Int,
            DType::F32 | DType::F64 => Kind::Float,
        }
    }

    /// True for float32 and float64.
    pub fn is_float(self) -> bool {
        self.kind() == Kind::Float
    }

    /// True for the signed integer dtypes.
    pub fn is_int(self) -> bool {
        self.kind() == Kind::Int
    }

    /// True for bool.
    pub fn is_bool(self) -> bool {
        self == DType::Bool
    }

    /// The dtype NumPy computes a float function in for this input (`np.exp(int32)` is
    /// float64). `None` for bool, where NumPy would use float16, which Ember lacks.
    pub fn float_result(self) -> Option<DType> {
        match self {
            DType::Bool => None,
            DType::I32 | DType::I64 | DType::F64 => Some(DType::F64),
            DType::F32 => Some(DType::F32),
        }
    }

    /// The dtype `np.sum`/`np.prod` accumulate in: small ints and bool widen to int64.
    pub fn sum_result(self) -> DType {
        match self {
            DType::Bool | DType::I32 | DType::I64 => DType::I64,
            d => d,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Promotes two array dtypes like `np.result_type(a, b)`.
pub fn promote(a: DType, b: DType) -> DType {
    use DType::*;
    match (a, b) {
        _ if a == b => a,
        (Bool, x) | (x, Bool) => x,
        (I32, I64) | (I64, I32) => I64,
        (F32, F64) | (F64, F32) => F64,
        // Any integer with float32 needs float64 to hold int32/int64 values (NumPy's table).
        (I32 | I64, F32) | (F32, I32 | I64) => F64,
        (I32 | I64, F64) | (F64, I32 | I64) => F64,
        _ => F64,
    }
}

/// The kind of a weakly typed Python scalar (`True`, `3`, `2.5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeakKind {
    /// A Python `bool`.
    Bool,
    /// A Python `int`.
    Int,
    /// A Python `float`.
    Float,
}

impl WeakKind {
    /// The dtype this scalar has on its own (NumPy's defaults: bool, int64, float64).
    pub fn default_dtype(self) -> DType {
        match self {
            WeakKind::Bool => DType::Bool,
            WeakKind::Int => DType::I64,
            WeakKind::Float => DType::F64,
        }
    }

    fn kind(self) -> Kind {
        match self {
            WeakKind::Bool => Kind::Bool,
            WeakKind::Int => Kind::Int,
            WeakKind::Float => Kind::Float,
        }
    }
}

/// Promotes an array dtype with a weak Python scalar (NEP 50): the array's dtype wins unless
/// the scalar's kind is higher, in which case the scalar's default dtype of that kind is used.
pub fn promote_weak(strong: DType, weak: WeakKind) -> DType {
    if weak.kind() <= strong.kind() {
        strong
    } else {
        weak.default_dtype()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_numpy() {
        use DType::*;
        assert_eq!(promote(I32, F32), F64);
        assert_eq!(promote(Bool, F32), F32);
        assert_eq!(promote(I32, I64), I64);
        assert_eq!(promote(F32, F64), F64);
        assert_eq!(promote_weak(F32, WeakKind::Float), F32);
        assert_eq!(promote_weak(I32, WeakKind::Float), F64);
        assert_eq!(promote_weak(I32, WeakKind::Int), I32);
        assert_eq!(promote_weak(Bool, WeakKind::Int), I64);
        assert_eq!(promote_weak(Bool, WeakKind::Bool), Bool);
    }

    #[test]
    fn promotion_is_commutative_and_idempotent() {
        for a in DType::ALL {
            assert_eq!(promote(a, a), a);
            for b in DType::ALL {
                assert_eq!(promote(a, b), promote(b, a));
            }
        }
    }
}
