//! The Rust element types behind each [`DType`].

use ember_ir::{DType, Scalar};

/// A Rust type that is the storage of one Ember dtype (`f32` for float32, ...).
pub trait Element: Copy + Send + Sync + PartialEq + std::fmt::Debug + Default + 'static {
    /// The dtype this type stores.
    const DTYPE: DType;
    /// Wraps a value in a [`Scalar`].
    fn to_scalar(self) -> Scalar;
    /// Converts a scalar to this type with NumPy `astype` semantics.
    fn from_scalar(s: Scalar) -> Self;
}

macro_rules! element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn to_scalar(self) -> Scalar {
                Scalar::$d(self)
            }
            fn from_scalar(s: Scalar) -> Self {
                match s.cast(DType::$d) {
                    Scalar::$d(v) => v,
                    _ => unreachable!("Scalar::cast returns the requested dtype"),
                }
            }
        }
    };
}
element!(bool, Bool);
element!(i32, I32);
element!(i64, I64);
element!(f32, F32);
element!(f64, F64);

/// Runs `$body` with `$T` bound to the element type of `$dtype`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            ember_ir::DType::Bool => {
                type $T = bool;
                $body
            }
            ember_ir::DType::I32 => {
                type $T = i32;
                $body
            }
            ember_ir::DType::I64 => {
                type $T = i64;
                $body
            }
            ember_ir::DType::F32 => {
                type $T = f32;
                $body
            }
            ember_ir::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}
