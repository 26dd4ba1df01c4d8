//! [`Tensor`]: an immutable, cheaply cloned n-d array on a device, or a value being traced.

use crate::element::Element;
use crate::error::{EmberError, Result};
use crate::storage::Storage;
use crate::trace::TracedValue;
use ember_ir::shape::{contiguous_strides, numel};
use ember_ir::{DType, Device, Scalar, Shape, ValueType};
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use smallvec::SmallVec;
use std::sync::Arc;

/// Element strides of a tensor (may be 0 for broadcast dimensions, negative for reversed).
pub type Strides = SmallVec<[isize; 4]>;

/// A view of host (or device) memory: storage plus the layout of this tensor within it.
#[derive(Clone, Debug)]
pub struct Buffer {
    /// The bytes.
    pub storage: Arc<Storage>,
    /// Stride of each dimension, in elements.
    pub strides: Strides,
    /// Offset of element `[0, 0, ...]` from the start of the storage, in elements.
    pub offset: usize,
}

/// How a tensor holds its value.
#[derive(Clone, Debug)]
pub enum Repr {
    /// Concrete data.
    Data(Buffer),
    /// A symbolic value inside a trace (see [`crate::trace`]).
    Traced(TracedValue),
}

/// An immutable n-d array. Cloning is cheap (the storage is shared); every operation makes
/// a new tensor. While a function is traced, tensors are symbolic and operations on them
/// record graph nodes instead of computing.
#[derive(Clone, Debug)]
pub struct Tensor {
    ty: ValueType,
    repr: Repr,
}

impl Tensor {
    /// Builds a tensor from parts; checks that the layout fits in the storage.
    pub fn from_buffer(dtype: DType, shape: &[usize], buffer: Buffer) -> Result<Tensor> {
        if buffer.strides.len() != shape.len() {
            return Err(EmberError::Value(format!(
                "strides {:?} do not match shape {shape:?}",
                buffer.strides.as_slice()
            )));
        }
        if numel(shape) > 0 {
            // The lowest and highest element offsets must lie inside the storage.
            let (mut lo, mut hi) = (buffer.offset as isize, buffer.offset as isize);
            for (&d, &s) in shape.iter().zip(&buffer.strides) {
                let span = (d as isize - 1) * s;
                if span < 0 {
                    lo += span;
                } else {
                    hi += span;
                }
            }
            let len = (buffer.storage.nbytes() / dtype.size()) as isize;
            if lo < 0 || hi >= len {
                return Err(EmberError::Value(format!(
                    "layout (shape {shape:?}, strides {:?}, offset {}) exceeds a storage of {len} elements",
                    buffer.strides.as_slice(),
                    buffer.offset
                )));
            }
        }
        Ok(Tensor {
            ty: ValueType::new(dtype, shape),
            repr: Repr::Data(buffer),
        })
    }

    /// A traced tensor (used by the tracer).
    pub(crate) fn traced(ty: ValueType, value: TracedValue) -> Tensor {
        Tensor {
            ty,
            repr: Repr::Traced(value),
        }
    }

    /// A C-contiguous tensor over a whole storage.
    pub fn from_storage(dtype: DType, shape: &[usize], storage: Arc<Storage>) -> Result<Tensor> {
        Tensor::from_buffer(
            dtype,
            shape,
            Buffer {
                storage,
                strides: contiguous_strides(shape),
                offset: 0,
            },
        )
    }

    /// Takes a `Vec` as a C-contiguous tensor without copying.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        if data.len() != numel(shape) {
            return Err(EmberError::Value(format!(
                "cannot make a tensor of shape {shape:?} ({} elements) from {} values",
                numel(shape),
                data.len()
            )));
        }
        Tensor::from_storage(T::DTYPE, shape, Arc::new(Storage::from_vec(data)))
    }

    /// A 0-d tensor holding `s`.
    pub fn scalar(s: Scalar) -> Tensor {
        // A few bytes: failing to allocate them is out-of-memory for the whole process, as
        // for any small Rust allocation.
        let storage = Storage::zeroed(s.dtype().size())
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(std::alloc::Layout::new::<u64>()));
        let bytes = s.to_bytes();
        // SAFETY: fresh storage of exactly this many bytes, not shared yet.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), storage.as_mut_ptr(), bytes.len()) };
        Tensor::from_storage(s.dtype(), &[], Arc::new(storage)).expect("0-d layout fits")
    }

    /// A fresh zero-filled C-contiguous tensor; an error when the shape is too big or the
    /// memory cannot be allocated.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Tensor> {
        ember_ir::shape::check_size("zeros", shape, dtype.size())?;
        let storage = Arc::new(Storage::zeroed(numel(shape) * dtype.size())?);
        Tensor::from_storage(dtype, shape, storage)
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.ty.dtype
    }

    /// Dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.ty.shape
    }

    /// Dtype and shape together.
    pub fn value_type(&self) -> &ValueType {
        &self.ty
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.ty.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.ty.numel()
    }

    /// Where the data lives (traced values report the device they will live on).
    pub fn device(&self) -> Device {
        match &self.repr {
            Repr::Data(b) => b.storage.device(),
            Repr::Traced(t) => t.device(),
        }
    }

    /// How the value is held.
    pub fn repr(&self) -> &Repr {
        &self.repr
    }

    /// True while this tensor is a symbolic value of a trace.
    pub fn is_traced(&self) -> bool {
        matches!(self.repr, Repr::Traced(_))
    }

    /// The concrete buffer, or an error naming `what` needs data when traced.
    pub fn buffer(&self) -> Result<&Buffer> {
        match &self.repr {
            Repr::Data(b) => Ok(b),
            Repr::Traced(t) => Err(t.concretization_error("reading the data of")),
        }
    }

    /// Element strides (C-contiguous strides for traced values).
    pub fn strides(&self) -> Strides {
        match &self.repr {
            Repr::Data(b) => b.strides.clone(),
            Repr::Traced(_) => contiguous_strides(&self.ty.shape),
        }
    }

    /// True when elements are laid out in C order without gaps.
    pub fn is_contiguous(&self) -> bool {
        match &self.repr {
            Repr::Data(b) => is_c_contiguous(&self.ty.shape, &b.strides),
            Repr::Traced(_) => true,
        }
    }

    /// Pointer to element `[0, 0, ...]`.
    pub fn data_ptr(&self) -> Result<*const u8> {
        let b = self.buffer()?;
        if b.storage.device() != Device::Cpu {
            return Err(EmberError::Device(format!(
                "this tensor lives on {}: its data cannot be read on the host; move it with \
                 .to('cpu') (or call .numpy(), which copies)",
                b.storage.device()
            )));
        }
        // SAFETY: `from_buffer` checked that the offset lies inside the storage.
        Ok(unsafe { b.storage.as_ptr().add(b.offset * self.dtype().size()) })
    }

    /// Checks that `T` is this tensor's element type.
    fn check_element<T: Element>(&self) -> Result<()> {
        if T::DTYPE != self.dtype() {
            return Err(EmberError::Type(format!(
                "tensor has dtype {}, not {}",
                self.dtype(),
                T::DTYPE
            )));
        }
        Ok(())
    }

    /// A borrowed ndarray view of the data (no copy).
    pub fn view<T: Element>(&self) -> Result<ArrayViewD<'_, T>> {
        self.check_element::<T>()?;
        let b = self.buffer()?;
        let mut ptr = self.data_ptr()? as *const T;
        // ndarray builds views from non-negative strides: start at the lowest address and
        // flip the reversed axes afterwards.
        let mut flipped = Vec::new();
        let mut strides = Vec::with_capacity(b.strides.len());
        for (axis, (&s, &d)) in b.strides.iter().zip(self.shape()).enumerate() {
            if s < 0 && d > 0 {
                // SAFETY: the element at index d-1 along this axis is inside the storage
                // (checked by `from_buffer`).
                ptr = unsafe { ptr.offset(s * (d as isize - 1)) };
                flipped.push(axis);
            }
            strides.push(s.unsigned_abs());
        }
        let shape = IxDyn(&self.ty.shape);
        // SAFETY: the layout was checked against the storage in `from_buffer`, the storage
        // outlives the returned view (it borrows `self`), and the memory is immutable.
        let mut view = unsafe { ArrayViewD::from_shape_ptr(shape.strides(IxDyn(&strides)), ptr) };
        for axis in flipped {
            view.invert_axis(ndarray::Axis(axis));
        }
        Ok(view)
    }

    /// Copies the data into an owned C-order ndarray.
    pub fn to_array<T: Element>(&self) -> Result<ArrayD<T>> {
        Ok(self.view::<T>()?.as_standard_layout().into_owned())
    }

    /// The elements in row-major order as scalars (for printing and small constants). A
    /// device tensor is copied to the host first (an explicit copy in the ledger).
    pub fn to_scalars(&self) -> Result<Vec<Scalar>> {
        if self.device() != Device::Cpu && !self.is_traced() {
            return self.to(Device::Cpu)?.to_scalars();
        }
        crate::with_dtype!(self.dtype(), T => Ok(self.view::<T>()?.iter().map(|v| v.to_scalar()).collect()))
    }

    /// The single element of a size-1 tensor.
    pub fn item(&self) -> Result<Scalar> {
        if self.numel() != 1 {
            return Err(EmberError::Value(format!(
                "only size-1 tensors can be converted to a scalar (shape {:?})",
                self.shape()
            )));
        }
        Ok(self.to_scalars()?[0])
    }

    /// The tensor as a C-contiguous one: itself when it already is, else a copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.deep_copy()
    }
}

/// True when `strides` are the C-order strides of `shape` (size-1 dimensions may have any
/// stride, as in NumPy).
pub fn is_c_contiguous(shape: &[usize], strides: &[isize]) -> bool {
    if numel(shape) == 0 {
        return true;
    }
    let mut expected = 1isize;
    for (&d, &s) in shape.iter().zip(strides).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected *= d as isize;
    }
    true
}

impl<T: Element> From<ArrayD<T>> for Tensor {
    /// Takes an ndarray's buffer without copying (its strides are kept).
    fn from(a: ArrayD<T>) -> Tensor {
        let shape: Shape = Shape::from_slice(a.shape());
        let strides: Strides = a.strides().iter().copied().collect();
        let (vec, offset) = a.into_raw_vec_and_offset();
        let storage = Arc::new(Storage::from_vec(vec));
        Tensor::from_buffer(
            T::DTYPE,
            &shape,
            Buffer {
                storage,
                strides,
                offset: offset.unwrap_or(0),
            },
        )
        .expect("an ndarray's own layout fits its buffer")
    }
}

impl Tensor {
    /// A C-contiguous copy of the data in fresh memory (never shares storage).
    pub fn deep_copy(&self) -> Result<Tensor> {
        let strides = self.strides();
        let src = self.data_ptr()?;
        // Pooled memory: a fresh allocation of this size would page-fault on every copy.
        let storage = Arc::new(crate::storage::Storage::for_overwrite(self.ty.nbytes())?);
        crate::with_dtype!(self.dtype(), T => {
            self.check_element::<T>()?;
            // SAFETY: `from_buffer` checked that the layout addresses only elements inside
            // the storage, which holds `T`s (checked above) and outlives this call; the new
            // storage holds exactly `numel` elements of `T` and is not shared yet.
            unsafe {
                crate::strided_copy::copy_to_c_order(
                    src as *const T,
                    self.shape(),
                    &strides,
                    storage.as_mut_ptr() as *mut T,
                )
            };
        });
        Tensor::from_storage(self.dtype(), self.shape(), storage)
    }
}
