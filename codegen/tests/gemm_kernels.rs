//! The packed GEMM's micro-kernels (AVX-512, AVX2+FMA, portable: each one this CPU has)
//! against a float64 reference: every size from 1 to 70 around the register tiles' edges,
//! k = 0, transposed, reversed and broadcast operands, strided C, blocking small enough to
//! cross every block edge, and the fused epilogue (addend, relu) bit for bit equal to the same
//! operations applied after the GEMM.

mod common;

use common::Rng;
use ember_codegen::cpu::gemm::{
    batched_gemm_with, gemm_blocked, gemm_with, BatchStrides, Blocking, Epilogue, GemmScalar, Isa,
    Mat, MatMut,
};

trait Float: GemmScalar + Into<f64> + std::fmt::Debug {
    const EPS: f64;
    fn of(x: f64) -> Self;
    fn bits(self) -> u64;
}

impl Float for f32 {
    const EPS: f64 = f32::EPSILON as f64;
    fn of(x: f64) -> Self {
        x as f32
    }
    fn bits(self) -> u64 {
        self.to_bits() as u64
    }
}

impl Float for f64 {
    const EPS: f64 = f64::EPSILON;
    fn of(x: f64) -> Self {
        x
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

fn isas() -> Vec<Isa> {
    [Isa::Avx512, Isa::Avx2, Isa::Portable]
        .into_iter()
        .filter(|i| i.is_available())
        .collect()
}

/// A matrix in a buffer with a chosen layout.
#[derive(Clone, Copy, Debug)]
enum Layout {
    RowMajor,
    ColMajor,
    /// Row-major with a padded row stride, rows in reverse order (negative row stride).
    Reversed,
    /// Every row the same row (row stride 0).
    Broadcast,
}

struct Operand<T> {
    buf: Vec<T>,
    /// Offset of element (0, 0) in `buf`.
    origin: usize,
    rs: isize,
    cs: isize,
    /// The values as float64, row-major.
    vals: Vec<f64>,
}

impl<T: Float> Operand<T> {
    fn new(rng: &mut Rng, rows: usize, cols: usize, layout: Layout) -> Self {
        let mut vals: Vec<f64> = (0..rows * cols).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let (len, origin, rs, cs) = match layout {
            Layout::RowMajor => (rows * cols, 0, cols as isize, 1),
            Layout::ColMajor => (rows * cols, 0, 1, rows as isize),
            Layout::Reversed => {
                let ld = cols + 3;
                (rows * ld, (rows.max(1) - 1) * ld, -(ld as isize), 1)
            }
            Layout::Broadcast => {
                for i in 1..rows {
                    for j in 0..cols {
                        vals[i * cols + j] = vals[j];
                    }
                }
                (cols, 0, 0, 1)
            }
        };
        let mut buf = vec![T::of(f64::NAN); len.max(1)];
        for i in 0..rows {
            for j in 0..cols {
                let at = origin as isize + i as isize * rs + j as isize * cs;
                buf[at as usize] = T::of(vals[i * cols + j]);
            }
        }
        // Round the reference values to T, as the GEMM sees them.
        for v in &mut vals {
            *v = T::of(*v).into();
        }
        Operand {
            buf,
            origin,
            rs,
            cs,
            vals,
        }
    }

    fn mat(&self) -> Mat<T> {
        Mat {
            ptr: self.buf.as_ptr().wrapping_add(self.origin),
            rs: self.rs,
            cs: self.cs,
        }
    }
}

/// The float64 product and, per element, the sum of absolute products (for the error bound).
fn reference(m: usize, k: usize, n: usize, a: &[f64], b: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut c = vec![0.0; m * n];
    let mut abs = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let x = a[i * k + p] * b[p * n + j];
                c[i * n + j] += x;
                abs[i * n + j] += x.abs();
            }
        }
    }
    (c, abs)
}

/// `C = A B` for one combination; C has column stride `ccs` (checks the gaps stay untouched).
#[allow(clippy::too_many_arguments)]
fn check<T: Float>(
    rng: &mut Rng,
    isa: Isa,
    blocking: Option<Blocking>,
    (m, k, n): (usize, usize, usize),
    la: Layout,
    lb: Layout,
    ccs: usize,
) {
    let a = Operand::<T>::new(rng, m, k, la);
    let b = Operand::<T>::new(rng, k, n, lb);
    let (want, abs) = reference(m, k, n, &a.vals, &b.vals);
    let sentinel = T::of(12345.0);
    let mut c = vec![sentinel; m * n * ccs];
    let cm = MatMut {
        ptr: c.as_mut_ptr(),
        rs: (n * ccs) as isize,
        cs: ccs as isize,
    };
    // SAFETY: every view covers its buffer's elements; C is distinct.
    unsafe {
        gemm_blocked(
            isa,
            blocking,
            m,
            k,
            n,
            a.mat(),
            b.mat(),
            cm,
            &Epilogue::NONE,
        )
    };
    for i in 0..m {
        for j in 0..n {
            let got: f64 = c[(i * n + j) * ccs].into();
            let bound = 2.0 * (k as f64 + 2.0) * T::EPS * abs[i * n + j] + f64::MIN_POSITIVE;
            assert!(
                (got - want[i * n + j]).abs() <= bound,
                "{isa:?} {}x{}x{} {la:?} {lb:?} ccs={ccs} at ({i}, {j}): {got} vs {}",
                m,
                k,
                n,
                want[i * n + j]
            );
            for g in 1..ccs {
                assert_eq!(
                    c[(i * n + j) * ccs + g].bits(),
                    sentinel.bits(),
                    "gap written"
                );
            }
        }
    }
}

fn sizes_around_tiles<T: Float>() {
    let mut rng = Rng(0x5eed);
    let ms = [1, 2, 5, 6, 7, 13, 14, 15, 28, 29, 43, 70];
    let ns = [1, 3, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 70];
    let ks = [0, 1, 2, 7, 16, 17, 33, 70];
    for isa in isas() {
        for (x, &m) in ms.iter().enumerate() {
            for (y, &n) in ns.iter().enumerate() {
                // Every (m, n) pair, with k cycling through the depths.
                let k = ks[(x + y) % ks.len()];
                check::<T>(
                    &mut rng,
                    isa,
                    None,
                    (m, k, n),
                    Layout::RowMajor,
                    Layout::RowMajor,
                    1,
                );
            }
        }
        for &k in &ks {
            check::<T>(
                &mut rng,
                isa,
                None,
                (29, k, 33),
                Layout::RowMajor,
                Layout::RowMajor,
                1,
            );
        }
    }
}

#[test]
fn f32_sizes_around_tiles() {
    sizes_around_tiles::<f32>();
}

#[test]
fn f64_sizes_around_tiles() {
    sizes_around_tiles::<f64>();
}

fn layouts<T: Float>() {
    use Layout::*;
    let mut rng = Rng(77);
    for isa in isas() {
        for la in [RowMajor, ColMajor, Reversed, Broadcast] {
            for lb in [RowMajor, ColMajor, Reversed, Broadcast] {
                for (shape, ccs) in [((30, 19, 35), 1), ((15, 40, 17), 2), ((70, 9, 64), 1)] {
                    check::<T>(&mut rng, isa, None, shape, la, lb, ccs);
                }
            }
        }
    }
}

#[test]
fn f32_transposed_reversed_broadcast_strided() {
    layouts::<f32>();
}

#[test]
fn f64_transposed_reversed_broadcast_strided() {
    layouts::<f64>();
}

fn small_blocks<T: Float>() {
    let mut rng = Rng(3);
    let tiny = Blocking {
        mc: 20,
        kc: 7,
        nc: 40,
    };
    for isa in isas() {
        for (shape, la, lb) in [
            ((61, 30, 97), Layout::RowMajor, Layout::RowMajor),
            ((45, 23, 50), Layout::ColMajor, Layout::Reversed),
            ((100, 64, 33), Layout::Reversed, Layout::ColMajor),
        ] {
            check::<T>(&mut rng, isa, Some(tiny), shape, la, lb, 1);
        }
    }
}

#[test]
fn f32_blocks_smaller_than_the_matrices() {
    small_blocks::<f32>();
}

#[test]
fn f64_blocks_smaller_than_the_matrices() {
    small_blocks::<f64>();
}

/// The fused epilogue equals the GEMM followed by the same additions and relu, bit for bit.
fn epilogue_fused_equals_unfused<T: Float>() {
    let mut rng = Rng(11);
    let (m, k, n) = (47, 300, 53);
    let a = Operand::<T>::new(&mut rng, m, k, Layout::RowMajor);
    let b = Operand::<T>::new(&mut rng, k, n, Layout::RowMajor);
    // Addend values: some large enough to flip signs, a NaN, both zeros.
    let mut addv: Vec<T> = (0..m * n * 2)
        .map(|_| T::of(rng.uniform(-3.0, 3.0)))
        .collect();
    addv[5] = T::of(f64::NAN);
    addv[6] = T::of(-0.0);
    addv[7] = T::of(0.0);
    let full = |rs: usize, cs: usize| Mat {
        ptr: addv.as_ptr(),
        rs: rs as isize,
        cs: cs as isize,
    };
    let addends = [
        None,
        Some(full(0, 1)),     // a bias row
        Some(full(1, 0)),     // one value per row
        Some(full(n, 1)),     // a full matrix (residual)
        Some(full(2 * n, 2)), // a strided matrix (the scalar path)
        Some(full(0, 0)),     // one scalar
    ];
    for isa in isas() {
        for blocking in [
            None,
            Some(Blocking {
                mc: 28,
                kc: 64,
                nc: 32,
            }),
        ] {
            let mut plain = vec![T::of(0.0); m * n];
            let cm = |c: &mut Vec<T>| MatMut::row_major(c.as_mut_ptr(), n);
            // SAFETY: the views cover the buffers.
            unsafe {
                gemm_blocked(
                    isa,
                    blocking,
                    m,
                    k,
                    n,
                    a.mat(),
                    b.mat(),
                    cm(&mut plain),
                    &Epilogue::NONE,
                )
            };
            for addend in addends {
                for relu in [false, true] {
                    let mut fused = vec![T::of(0.0); m * n];
                    let epi = Epilogue { addend, relu };
                    // SAFETY: as above; the addend covers m x n with its strides.
                    unsafe {
                        gemm_blocked(
                            isa,
                            blocking,
                            m,
                            k,
                            n,
                            a.mat(),
                            b.mat(),
                            cm(&mut fused),
                            &epi,
                        )
                    };
                    for i in 0..m {
                        for j in 0..n {
                            let mut want = plain[i * n + j];
                            if let Some(d) = addend {
                                let at = i as isize * d.rs + j as isize * d.cs;
                                want = want + addv[at as usize];
                            }
                            if relu {
                                want = want.relu();
                            }
                            let got = fused[i * n + j];
                            assert!(
                                got.bits() == want.bits(),
                                "{isa:?} {blocking:?} {addend:?} relu={relu} at ({i}, {j}): \
                                 {got:?} vs {want:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn f32_epilogue_fused_equals_unfused() {
    epilogue_fused_equals_unfused::<f32>();
}

#[test]
fn f64_epilogue_fused_equals_unfused() {
    epilogue_fused_equals_unfused::<f64>();
}

#[test]
fn relu_keeps_nan_and_clears_negative_zero() {
    assert!(f32::NAN.relu().is_nan());
    assert!((-0.0f32).relu().is_sign_positive());
    assert_eq!((-2.0f64).relu(), 0.0);
    assert_eq!(3.0f64.relu(), 3.0);
}

#[test]
fn k_zero_is_the_epilogue_of_zero() {
    let bias = [1.0f32, -2.0, f32::NAN, 4.0, -0.5];
    for isa in isas() {
        let mut c = vec![7.0f32; 3 * 5];
        let epi = Epilogue {
            addend: Some(Mat {
                ptr: bias.as_ptr(),
                rs: 0,
                cs: 1,
            }),
            relu: true,
        };
        let none = Mat {
            ptr: std::ptr::null::<f32>(),
            rs: 0,
            cs: 0,
        };
        let cm = MatMut {
            ptr: c.as_mut_ptr(),
            rs: 5,
            cs: 1,
        };
        // SAFETY: with k = 0, A and B are never read; C covers 3 x 5.
        unsafe { gemm_with(isa, 3, 0, 5, none, none, cm, &epi) };
        for row in c.chunks(5) {
            assert_eq!(row[0], 1.0);
            assert_eq!(row[1], 0.0);
            assert!(row[2].is_nan());
            assert_eq!(row[3], 4.0);
            assert_eq!(row[4], 0.0);
        }
        // Empty m or n: nothing is touched.
        // SAFETY: nothing is read or written.
        unsafe { gemm_with(isa, 0, 4, 5, none, none, cm, &epi) };
        unsafe { gemm_with(isa, 3, 4, 0, none, none, cm, &epi) };
    }
}

#[test]
fn batched_with_shared_bias() {
    let mut rng = Rng(21);
    let (batch, m, k, n) = (3, 9, 20, 18);
    let a = Operand::<f32>::new(&mut rng, batch * m, k, Layout::RowMajor);
    let b = Operand::<f32>::new(&mut rng, k, n, Layout::RowMajor);
    let bias: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let mut c = vec![0.0f32; batch * m * n];
    let epi = Epilogue {
        addend: Some(Mat {
            ptr: bias.as_ptr(),
            rs: 0,
            cs: 1,
        }),
        relu: true,
    };
    // SAFETY: each batch's views lie inside the buffers; B is shared (batch stride 0).
    unsafe {
        batched_gemm_with(
            batch,
            m,
            k,
            n,
            a.mat(),
            b.mat(),
            MatMut::row_major(c.as_mut_ptr(), n),
            BatchStrides {
                a: (m * k) as isize,
                b: 0,
                c: (m * n) as isize,
            },
            &epi,
        )
    };
    let (want, abs) = reference(batch * m, k, n, &a.vals, &b.vals);
    for r in 0..batch * m {
        for j in 0..n {
            let w = (want[r * n + j] + bias[j] as f64).max(0.0);
            let got = c[r * n + j] as f64;
            let bound = 2.0 * (k as f64 + 3.0) * f32::EPSILON as f64 * (abs[r * n + j] + 1.0);
            assert!((got - w).abs() <= bound, "({r}, {j}): {got} vs {w}");
        }
    }
}

/// Products that round to -0.0 plus a -0.0 addend stay -0.0 until relu makes them +0.0, in
/// full tiles (the micro-kernel's store) and edge tiles (the scalar merge) alike.
fn relu_of_negative_zero<T: Float>(tiny: f64) {
    let (m, k, n) = (31, 1, 70);
    let a = vec![T::of(-tiny); m * k];
    let b = vec![T::of(tiny); k * n];
    let minus_zero = vec![T::of(-0.0); n];
    for isa in isas() {
        for relu in [false, true] {
            if isa == Isa::Portable && !relu {
                // matrixmultiply without FMA may round the product to +0.0 instead.
                continue;
            }
            let mut c = vec![T::of(1.0); m * n];
            let epi = Epilogue {
                addend: Some(Mat {
                    ptr: minus_zero.as_ptr(),
                    rs: 0,
                    cs: 1,
                }),
                relu,
            };
            // SAFETY: the views cover the buffers.
            unsafe {
                gemm_with(
                    isa,
                    m,
                    k,
                    n,
                    Mat::row_major(a.as_ptr(), k),
                    Mat::row_major(b.as_ptr(), n),
                    MatMut::row_major(c.as_mut_ptr(), n),
                    &epi,
                )
            };
            for (i, &x) in c.iter().enumerate() {
                let x: f64 = x.into();
                assert!(
                    x == 0.0 && x.is_sign_negative() != relu,
                    "{isa:?} relu={relu} at {i}: {x:?}"
                );
            }
        }
    }
}

#[test]
fn f32_relu_of_negative_zero() {
    relu_of_negative_zero::<f32>(1e-30);
}

#[test]
fn f64_relu_of_negative_zero() {
    relu_of_negative_zero::<f64>(1e-200);
}
