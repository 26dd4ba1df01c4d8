//! High-level functions kept whole in traced graphs (`softmax`, `var`, `gelu`, ...): their
//! attributes and result types. The `decompose` pass rewrites them into primitives.

use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::shape::{reduced_shape, Shape};
use smallvec::SmallVec;

/// High-level functions kept whole while tracing (so the graph reads like the user's code)
/// and rewritten into primitives by the `decompose` pass.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Composite {
    /// `exp(x - max) / sum(exp(x - max))` along one axis.
    Softmax {
        /// The normalized axis.
        axis: usize,
    },
    /// `x - logsumexp(x)` along one axis.
    LogSoftmax {
        /// The normalized axis.
        axis: usize,
    },
    /// `log(sum(exp(x)))`, computed stably.
    LogSumExp {
        /// Sorted, normalized axes.
        axes: SmallVec<[usize; 4]>,
        /// Keep reduced dimensions as size 1.
        keepdims: bool,
    },
    /// Arithmetic mean (ints computed in float64).
    Mean {
        /// Sorted, normalized axes.
        axes: SmallVec<[usize; 4]>,
        /// Keep reduced dimensions as size 1.
        keepdims: bool,
    },
    /// Variance with `ddof` delta degrees of freedom.
    Var {
        /// Sorted, normalized axes.
        axes: SmallVec<[usize; 4]>,
        /// Keep reduced dimensions as size 1.
        keepdims: bool,
        /// Delta degrees of freedom.
        ddof: u32,
    },
    /// Standard deviation with `ddof` delta degrees of freedom.
    Std {
        /// Sorted, normalized axes.
        axes: SmallVec<[usize; 4]>,
        /// Keep reduced dimensions as size 1.
        keepdims: bool,
        /// Delta degrees of freedom.
        ddof: u32,
    },
    /// Gaussian error linear unit; `approximate` selects the tanh form.
    Gelu {
        /// Use the tanh approximation.
        approximate: bool,
    },
    /// `x * sigmoid(x)`.
    Silu,
    /// Layer normalization over trailing axes (no affine parameters).
    LayerNorm {
        /// Sorted, normalized axes.
        axes: SmallVec<[usize; 4]>,
        /// The epsilon as `f64::to_bits` (so the op stays hashable).
        eps_bits: u64,
    },
}

impl Composite {
    /// The function's name (`softmax`, `var`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Composite::Softmax { .. } => "softmax",
            Composite::LogSoftmax { .. } => "log_softmax",
            Composite::LogSumExp { .. } => "logsumexp",
            Composite::Mean { .. } => "mean",
            Composite::Var { .. } => "var",
            Composite::Std { .. } => "std",
            Composite::Gelu { .. } => "gelu",
            Composite::Silu => "silu",
            Composite::LayerNorm { .. } => "layer_norm",
        }
    }

    pub(crate) fn infer(&self, x: DType, shape: &[usize]) -> Result<(DType, Shape)> {
        let float = x.float_result().unwrap_or(DType::F64);
        let check_axis = |axis: usize| {
            if axis >= shape.len() {
                Err(IrError::Axis {
                    op: self.name().into(),
                    axis: axis as i64,
                    ndim: shape.len(),
                })
            } else {
                Ok(())
            }
        };
        match self {
            Composite::Softmax { axis } | Composite::LogSoftmax { axis } => {
                check_axis(*axis)?;
                Ok((float, Shape::from_slice(shape)))
            }
            Composite::Mean { axes, keepdims }
            | Composite::LogSumExp { axes, keepdims }
            | Composite::Var { axes, keepdims, .. }
            | Composite::Std { axes, keepdims, .. } => {
                for &a in axes {
                    check_axis(a)?;
                }
                Ok((float, reduced_shape(shape, axes, *keepdims)))
            }
            Composite::LayerNorm { axes, .. } => {
                for &a in axes {
                    check_axis(a)?;
                }
                Ok((float, Shape::from_slice(shape)))
            }
            Composite::Gelu { .. } | Composite::Silu => {
                if x == DType::Bool {
                    return Err(IrError::DType {
                        op: self.name().into(),
                        dtype: x,
                        why: "expected a numeric dtype".into(),
                    });
                }
                Ok((float, Shape::from_slice(shape)))
            }
        }
    }
}
