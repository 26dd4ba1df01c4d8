//! Small-matrix and odd-layout products against brute force: batches of tiny matrices (the
//! batch the contiguous dimension, as `x.T` of a C-ordered `(3, 3, batch)` gives), per-matrix
//! Fortran order, float / int / bool. Integer and bool results must be exact.

mod common;

use common::Rng;
use ember_codegen::cpu::gemm::{
    batched_gemm, batched_gemm_with, bool_matmul, int_matmul, BatchStrides, Epilogue, Mat, MatMut,
};

/// Element strides `(batch, row, col)` of a `batch x r x c` stack in layout `kind`: 0 C order,
/// 1 batch innermost (`np.ascontiguousarray(x.T).T`), 2 each matrix in Fortran order.
fn layout(kind: usize, batch: usize, r: usize, c: usize) -> (isize, isize, isize) {
    let (b, r, c) = (batch as isize, r as isize, c as isize);
    match kind {
        0 => (r * c, c, 1),
        1 => (1, b, b * r),
        _ => (r * c, 1, r),
    }
}

/// One test product: operands in layouts `ka`, `kb` (see [`layout`]), values from `val`.
struct Case {
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    ka: usize,
    kb: usize,
}

impl Case {
    fn all() -> Vec<Case> {
        let mut v = Vec::new();
        for (batch, m, k, n) in [
            (50000, 3, 3, 3),
            (1000, 2, 2, 2),
            (777, 4, 4, 4),
            (300, 3, 1, 5),
            (300, 5, 7, 6),
            (64, 8, 8, 8),
            (5, 3, 3, 3),
            (1, 2, 3, 4),
            (40, 2, 9, 1),
            (40, 1, 9, 2),
            (256, 15, 256, 15),
            (33, 9, 40, 13),
            (3, 20, 6000, 30),
            (2, 130, 700, 70),
            (3, 100, 300, 50),
        ] {
            for ka in 0..3 {
                for kb in 0..3 {
                    v.push(Case {
                        batch,
                        m,
                        k,
                        n,
                        ka,
                        kb,
                    });
                }
            }
        }
        v
    }

    fn name(&self) -> String {
        format!(
            "{}x{}x{}x{} layouts {} {}",
            self.batch, self.m, self.k, self.n, self.ka, self.kb
        )
    }

    /// `(A, A view, stride)`, `(B, B view, stride)` built from `val`, and the brute-force
    /// product (C order) computed by `madd` from `zero`.
    #[allow(clippy::type_complexity)]
    fn build<T: Copy + Default>(
        &self,
        mut val: impl FnMut() -> T,
        zero: T,
        madd: impl Fn(T, T, T) -> T,
    ) -> (Vec<T>, Mat<T>, isize, Vec<T>, Mat<T>, isize, Vec<T>) {
        let Case {
            batch,
            m,
            k,
            n,
            ka,
            kb,
        } = *self;
        let (sa, ra, ca) = layout(ka, batch, m, k);
        let (sb, rb, cb) = layout(kb, batch, k, n);
        let a: Vec<T> = (0..batch * m * k).map(|_| val()).collect();
        let b: Vec<T> = (0..batch * k * n).map(|_| val()).collect();
        let mut want = vec![zero; batch * m * n];
        for q in 0..batch as isize {
            for i in 0..m as isize {
                for j in 0..n as isize {
                    let mut s = zero;
                    for p in 0..k as isize {
                        s = madd(
                            s,
                            a[(q * sa + i * ra + p * ca) as usize],
                            b[(q * sb + p * rb + j * cb) as usize],
                        );
                    }
                    want[q as usize * m * n + (i * n as isize + j) as usize] = s;
                }
            }
        }
        let av = Mat {
            ptr: a.as_ptr(),
            rs: ra,
            cs: ca,
        };
        let bv = Mat {
            ptr: b.as_ptr(),
            rs: rb,
            cs: cb,
        };
        (a, av, sa, b, bv, sb, want)
    }

    fn strides(&self, sa: isize, sb: isize) -> BatchStrides {
        BatchStrides {
            a: sa,
            b: sb,
            c: (self.m * self.n) as isize,
        }
    }
}

#[test]
fn int_products_exact_in_any_layout() {
    let mut rng = Rng(23);
    for case in Case::all() {
        for big in [false, true] {
            let lim = if big { 4.0e18 } else { 6.0 };
            let (_a, av, sa, _b, bv, sb, want) = case.build(
                || rng.uniform(-lim, lim) as i64,
                0i64,
                |s, x, y| s.wrapping_add(x.wrapping_mul(y)),
            );
            let Case { batch, m, k, n, .. } = case;
            let mut c = vec![7i64; batch * m * n];
            // SAFETY: the views cover their stacks.
            unsafe {
                int_matmul(
                    batch,
                    m,
                    k,
                    n,
                    av,
                    bv,
                    MatMut::row_major(c.as_mut_ptr(), n),
                    case.strides(sa, sb),
                )
            };
            assert!(c == want, "int64 {} big {big}", case.name());
            let (_a, av, sa, _b, bv, sb, want) = case.build(
                || rng.uniform(-lim, lim) as i64 as i32,
                0i32,
                |s, x, y| s.wrapping_add(x.wrapping_mul(y)),
            );
            let mut c = vec![7i32; batch * m * n];
            // SAFETY: as above.
            unsafe {
                int_matmul(
                    batch,
                    m,
                    k,
                    n,
                    av,
                    bv,
                    MatMut::row_major(c.as_mut_ptr(), n),
                    case.strides(sa, sb),
                )
            };
            assert!(c == want, "int32 {} big {big}", case.name());
        }
    }
}

#[test]
fn bool_products_exact_in_any_layout() {
    let mut rng = Rng(29);
    for case in Case::all() {
        for density in [0.0, 0.0005, 0.02, 0.5, 1.0] {
            let (_a, av, sa, _b, bv, sb, want) = case.build(
                || u8::from(rng.uniform(0.0, 1.0) < density),
                0u8,
                |s, x, y| s | (x & y),
            );
            let Case { batch, m, k, n, .. } = case;
            let mut c = vec![7u8; batch * m * n];
            // SAFETY: the views cover their stacks.
            unsafe {
                bool_matmul(
                    batch,
                    m,
                    k,
                    n,
                    av,
                    bv,
                    MatMut::row_major(c.as_mut_ptr(), n),
                    case.strides(sa, sb),
                )
            };
            assert!(c == want, "bool {} density {density}", case.name());
        }
    }
}

#[test]
fn float_products_close_in_any_layout() {
    let mut rng = Rng(31);
    for case in Case::all() {
        let Case { batch, m, k, n, .. } = case;
        let tol =
            |w: f64, g: f64, eps: f64| (w - g).abs() <= eps * (k as f64 + 1.0) * (1.0 + w.abs());
        let (_a, av, sa, _b, bv, sb, want) =
            case.build(|| rng.uniform(-1.0, 1.0), 0.0f64, |s, x, y| s + x * y);
        let mut c = vec![7.0f64; batch * m * n];
        // SAFETY: the views cover their stacks.
        unsafe {
            batched_gemm(
                batch,
                m,
                k,
                n,
                av,
                bv,
                MatMut::row_major(c.as_mut_ptr(), n),
                case.strides(sa, sb),
            )
        };
        for (w, g) in want.iter().zip(&c) {
            assert!(tol(*w, *g, 1e-15), "f64 {}: {w} vs {g}", case.name());
        }
        let (_a, av, sa, _b, bv, sb, want) = case.build(
            || rng.uniform(-1.0, 1.0) as f32,
            0.0f32,
            |s, x, y| (f64::from(s) + f64::from(x) * f64::from(y)) as f32,
        );
        // With the epilogue: a bias row, then relu.
        let bias: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let epi = Epilogue {
            addend: Some(Mat {
                ptr: bias.as_ptr(),
                rs: 0,
                cs: 1,
            }),
            relu: true,
        };
        let mut c = vec![7.0f32; batch * m * n];
        // SAFETY: as above; the bias row broadcasts over m x n.
        unsafe {
            batched_gemm_with(
                batch,
                m,
                k,
                n,
                av,
                bv,
                MatMut::row_major(c.as_mut_ptr(), n),
                case.strides(sa, sb),
                &epi,
            )
        };
        for (e, (w, g)) in want.iter().zip(&c).enumerate() {
            let w = (f64::from(*w) + f64::from(bias[e % n])).max(0.0);
            assert!(
                tol(w, f64::from(*g), 1e-6),
                "f32 {} at {e}: {w} vs {g}",
                case.name()
            );
        }
    }
}
