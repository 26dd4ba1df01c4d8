//! GEMM wrappers against a naive triple loop: float32 and float64, odd sizes, transposed
//! (strided) operands, k = 0, batched with a broadcast operand; integer (wrapping) and bool
//! products exactly against wrapping / or-of-and loops.

mod common;

use common::Rng;
use ember_codegen::cpu::gemm::{
    batched_gemm, bool_matmul, f64_exact, gemm, gemm_slices, int_matmul, int_matmul_exact,
    BatchStrides, GemmScalar, Mat, MatMut,
};

fn naive(m: usize, k: usize, n: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|t| a[i * k + t] * b[t * n + j]).sum();
        }
    }
    c
}

fn close(want: &[f64], got: &[f64], k: usize, eps: f64) {
    for (w, g) in want.iter().zip(got) {
        assert!(
            (w - g).abs() <= eps * (k as f64 + 1.0) * (1.0 + w.abs()),
            "{w} vs {g}"
        );
    }
}

fn run<T: GemmScalar + Into<f64>>(conv: fn(f64) -> T, eps: f64) {
    let mut rng = Rng(17);
    for (m, k, n) in [
        (1, 1, 1),
        (3, 5, 7),
        (17, 33, 9),
        (64, 64, 64),
        (5, 0, 4),
        (130, 70, 97),
    ] {
        let a: Vec<f64> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let b: Vec<f64> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let want = naive(m, k, n, &a, &b);
        let at: Vec<T> = a.iter().map(|&x| conv(x)).collect();
        let bt: Vec<T> = b.iter().map(|&x| conv(x)).collect();
        let mut c = vec![conv(7.0); m * n];
        gemm_slices(m, k, n, &at, &bt, &mut c).unwrap();
        close(
            &want,
            &c.iter().map(|&x| x.into()).collect::<Vec<_>>(),
            k,
            eps,
        );
        // B given transposed: an n x k buffer viewed with swapped strides.
        let mut btr = vec![conv(0.0); k * n];
        for t in 0..k {
            for j in 0..n {
                btr[j * k + t] = bt[t * n + j];
            }
        }
        let mut c2 = vec![conv(0.0); m * n];
        // SAFETY: views cover exactly the buffers.
        unsafe {
            gemm(
                m,
                k,
                n,
                Mat {
                    ptr: at.as_ptr(),
                    rs: k as isize,
                    cs: 1,
                },
                Mat {
                    ptr: btr.as_ptr(),
                    rs: 1,
                    cs: k as isize,
                },
                MatMut {
                    ptr: c2.as_mut_ptr(),
                    rs: n as isize,
                    cs: 1,
                },
            )
        };
        close(
            &want,
            &c2.iter().map(|&x| x.into()).collect::<Vec<_>>(),
            k,
            eps,
        );
    }
    assert!(gemm_slices(
        2,
        2,
        2,
        &[conv(1.0); 3],
        &[conv(1.0); 4],
        &mut [conv(0.0); 4]
    )
    .is_err());
}

#[test]
fn sgemm_matches_naive() {
    run::<f32>(|x| x as f32, 1e-6);
}

#[test]
fn dgemm_matches_naive() {
    run::<f64>(|x| x, 1e-14);
}

#[test]
fn batched_with_broadcast_weight() {
    let mut rng = Rng(5);
    let (batch, m, k, n) = (3, 4, 6, 5);
    let a: Vec<f64> = (0..batch * m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let b: Vec<f64> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let mut c = vec![0.0; batch * m * n];
    // SAFETY: each batch's views lie inside the buffers; B is shared (batch stride 0).
    unsafe {
        batched_gemm(
            batch,
            m,
            k,
            n,
            Mat {
                ptr: a.as_ptr(),
                rs: k as isize,
                cs: 1,
            },
            Mat {
                ptr: b.as_ptr(),
                rs: n as isize,
                cs: 1,
            },
            MatMut {
                ptr: c.as_mut_ptr(),
                rs: n as isize,
                cs: 1,
            },
            BatchStrides {
                a: (m * k) as isize,
                b: 0,
                c: (m * n) as isize,
            },
        )
    };
    for i in 0..batch {
        let want = naive(m, k, n, &a[i * m * k..(i + 1) * m * k], &b);
        close(&want, &c[i * m * n..(i + 1) * m * n], k, 1e-14);
    }
}

/// Thin products (`m == 1` or `n == 1`) run as dot / matrix-vector loops, and small outputs
/// with a long k as dot products: every layout of
/// the matrix (rows or columns contiguous, transposed B), k past a summation block, and the
/// float32 error bounded by a few ulps of `sum |a| |b|` (block sums in float64), not by k.
#[test]
fn thin_products_match_naive() {
    let mut rng = Rng(9);
    for (m, k, n) in [
        (1, 3000, 1),
        (1, 2500, 37),
        (45, 2500, 1),
        (1, 0, 5),
        (1, 7, 1),
        // Small outputs with a long k: dot products, k split over threads.
        (7, 9000, 7),
        (3, 20000, 5),
        (8, 8200, 8),
    ] {
        let a: Vec<f64> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let b: Vec<f64> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let want = naive(m, k, n, &a, &b);
        let af: Vec<f32> = a.iter().map(|&x| x as f32).collect();
        let bf: Vec<f32> = b.iter().map(|&x| x as f32).collect();
        let a64: Vec<f64> = af.iter().map(|&x| x.into()).collect();
        let b64: Vec<f64> = bf.iter().map(|&x| x.into()).collect();
        let want_f = naive(m, k, n, &a64, &b64);
        let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
        let scale = naive(m, k, n, &abs(&a64), &abs(&b64));
        // Row-major and column-major (transposed-buffer) B.
        let mut bt = vec![0.0f32; k * n];
        for t in 0..k {
            for j in 0..n {
                bt[j * k + t] = bf[t * n + j];
            }
        }
        for (bv, rs, cs) in [(&bf, n as isize, 1), (&bt, 1, k as isize)] {
            let mut c = vec![7.0f32; m * n];
            // SAFETY: the views address the buffers' elements exactly.
            unsafe {
                gemm(
                    m,
                    k,
                    n,
                    Mat::row_major(af.as_ptr(), k),
                    Mat {
                        ptr: bv.as_ptr(),
                        rs,
                        cs,
                    },
                    MatMut::row_major(c.as_mut_ptr(), n),
                )
            };
            for ((w, s), g) in want_f.iter().zip(&scale).zip(&c) {
                let err = (w - f64::from(*g)).abs();
                assert!(
                    err <= 4.0 * f64::from(f32::EPSILON) * s + 1e-30,
                    "{w} vs {g}"
                );
            }
        }
        let mut c = vec![7.0f64; m * n];
        gemm_slices(m, k, n, &a, &b, &mut c).unwrap();
        // The naive sums' own error grows with k where both sides are long sums.
        close(&want, &c, if m > 1 && n > 1 { k } else { 1 }, 1e-14);
    }
}

/// A stack of thin products split over threads, and a stack against one matrix folded into
/// one taller product.
#[test]
fn batched_thin_and_folded() {
    let mut rng = Rng(11);
    for (batch, m, k, n, shared_b) in [
        (1024, 1, 256, 1, false),
        (300, 1, 40, 3, true),
        (5, 4, 6, 1, true),
        (7, 3, 5, 4, true),
    ] {
        let a: Vec<f64> = (0..batch * m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let nb = if shared_b { 1 } else { batch };
        let b: Vec<f64> = (0..nb * k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let mut c = vec![0.0; batch * m * n];
        let bs = if shared_b { 0 } else { (k * n) as isize };
        // SAFETY: each batch's views lie inside the buffers.
        unsafe {
            batched_gemm(
                batch,
                m,
                k,
                n,
                Mat::row_major(a.as_ptr(), k),
                Mat::row_major(b.as_ptr(), n),
                MatMut::row_major(c.as_mut_ptr(), n),
                BatchStrides {
                    a: (m * k) as isize,
                    b: bs,
                    c: (m * n) as isize,
                },
            )
        };
        for i in 0..batch {
            let bi = if shared_b { 0 } else { i };
            let want = naive(
                m,
                k,
                n,
                &a[i * m * k..(i + 1) * m * k],
                &b[bi * k * n..(bi + 1) * k * n],
            );
            close(&want, &c[i * m * n..(i + 1) * m * n], k, 1e-14);
        }
    }
}

/// `C[b] = A[b] B[b]` by wrapping loops over C-contiguous stacks (`a_mats` / `b_mats`: 1
/// broadcasts).
#[allow(clippy::too_many_arguments)]
fn naive_int(
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: &[i64],
    b: &[i64],
    bcast_b: bool,
) -> Vec<i64> {
    let mut c = vec![0i64; batch * m * n];
    for q in 0..batch {
        let (ao, bo) = (q * m * k, if bcast_b { 0 } else { q * k * n });
        for i in 0..m {
            for j in 0..n {
                c[q * m * n + i * n + j] = (0..k).fold(0i64, |s, t| {
                    s.wrapping_add(a[ao + i * k + t].wrapping_mul(b[bo + t * n + j]))
                });
            }
        }
    }
    c
}

/// Int64, int32 and bool products (row-major A, B row-major or transposed, B broadcast or
/// not) against wrapping loops, with small values (the float64 route) and large ones (the
/// exact loops, wrapping).
#[test]
fn int_and_bool_products_exact() {
    let mut rng = Rng(5);
    for (batch, m, k, n) in [
        (1, 1, 1, 1),
        (1, 3, 5, 7),
        (2, 17, 33, 9),
        (3, 64, 64, 64),
        (1, 5, 0, 4),
        (2, 130, 70, 97),
        (2, 1, 40, 30),
        (2, 30, 40, 1),
        (4, 40, 300, 50),
        (2, 7, 9000, 7),
    ] {
        for big in [false, true] {
            for bcast_b in [false, true] {
                for trans_b in [false, true] {
                    let lim = if big { 4.0e18 } else { 50.0 };
                    let mut val = || rng.uniform(-lim, lim) as i64;
                    let a: Vec<i64> = (0..batch * m * k).map(|_| val()).collect();
                    let nbm = if bcast_b { 1 } else { batch };
                    let b: Vec<i64> = (0..nbm * k * n).map(|_| val()).collect();
                    let want = naive_int(batch, m, k, n, &a, &b, bcast_b);
                    // B stored transposed: element (t, j) of batch q at q*k*n + j*k + t.
                    let bt: Vec<i64> = if trans_b {
                        let mut v = vec![0; b.len()];
                        for q in 0..nbm {
                            for t in 0..k {
                                for j in 0..n {
                                    v[q * k * n + j * k + t] = b[q * k * n + t * n + j];
                                }
                            }
                        }
                        v
                    } else {
                        b.clone()
                    };
                    let (brs, bcs) = if trans_b {
                        (1, k as isize)
                    } else {
                        (n as isize, 1)
                    };
                    let bv = |p| Mat {
                        ptr: p,
                        rs: brs,
                        cs: bcs,
                    };
                    let st = BatchStrides {
                        a: (m * k) as isize,
                        b: if bcast_b { 0 } else { (k * n) as isize },
                        c: (m * n) as isize,
                    };
                    let what =
                        format!("{batch}x{m}x{k}x{n} big {big} bcast {bcast_b} trans {trans_b}");
                    // int64, both routes.
                    for exact_only in [false, true] {
                        let mut c = vec![7i64; batch * m * n];
                        let (am, cm) = (
                            Mat::row_major(a.as_ptr(), k),
                            MatMut::row_major(c.as_mut_ptr(), n),
                        );
                        // SAFETY: each view covers its stack.
                        unsafe {
                            if exact_only {
                                int_matmul_exact(batch, m, k, n, am, bv(bt.as_ptr()), cm, st)
                            } else {
                                int_matmul(batch, m, k, n, am, bv(bt.as_ptr()), cm, st)
                            }
                        };
                        assert_eq!(c, want, "int64 {what} exact_only {exact_only}");
                    }
                    // int32: the same values wrapped to 32 bits, the result wrapped likewise.
                    let a32: Vec<i32> = a.iter().map(|&x| x as i32).collect();
                    let b32: Vec<i32> = bt.iter().map(|&x| x as i32).collect();
                    let want32: Vec<i32> = naive_int(
                        batch,
                        m,
                        k,
                        n,
                        &a32.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(),
                        &b.iter().map(|&x| i64::from(x as i32)).collect::<Vec<_>>(),
                        bcast_b,
                    )
                    .iter()
                    .map(|&x| x as i32)
                    .collect();
                    let mut c32 = vec![7i32; batch * m * n];
                    let b32v = Mat {
                        ptr: b32.as_ptr(),
                        rs: brs,
                        cs: bcs,
                    };
                    // SAFETY: as above.
                    unsafe {
                        int_matmul(
                            batch,
                            m,
                            k,
                            n,
                            Mat::row_major(a32.as_ptr(), k),
                            b32v,
                            MatMut::row_major(c32.as_mut_ptr(), n),
                            st,
                        )
                    };
                    assert_eq!(c32, want32, "int32 {what}");
                    // bool: the signs as 0 / 1.
                    let ab: Vec<u8> = a.iter().map(|&x| u8::from(x > lim as i64 / 2)).collect();
                    let bb: Vec<u8> = bt.iter().map(|&x| u8::from(x > lim as i64 / 2)).collect();
                    let bbn: Vec<u8> = b.iter().map(|&x| u8::from(x > lim as i64 / 2)).collect();
                    let wantb: Vec<u8> = naive_int(
                        batch,
                        m,
                        k,
                        n,
                        &ab.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(),
                        &bbn.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(),
                        bcast_b,
                    )
                    .iter()
                    .map(|&x| u8::from(x != 0))
                    .collect();
                    let mut cb = vec![7u8; batch * m * n];
                    let bbv = Mat {
                        ptr: bb.as_ptr(),
                        rs: brs,
                        cs: bcs,
                    };
                    // SAFETY: as above.
                    unsafe {
                        bool_matmul(
                            batch,
                            m,
                            k,
                            n,
                            Mat::row_major(ab.as_ptr(), k),
                            bbv,
                            MatMut::row_major(cb.as_mut_ptr(), n),
                            st,
                        )
                    };
                    assert_eq!(cb, wantb, "bool {what}");
                }
            }
        }
    }
}

#[test]
fn f64_exact_bound() {
    assert!(f64_exact(1 << 20, 1 << 20, 1 << 13));
    assert!(!f64_exact(1 << 20, 1 << 20, (1 << 13) + 1));
    assert!(f64_exact(u64::MAX, 0, 1 << 40));
    assert!(!f64_exact(1 << 63, 1 << 63, 2));
}
