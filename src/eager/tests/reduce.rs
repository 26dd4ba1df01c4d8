//! Reductions: NumPy's summation order for float32, int widening, NaN handling, keepdims,
//! empty reductions.

use super::*;
use ember_ir::{DType, ReduceOp, Scalar};
use smallvec::SmallVec;

fn red(op: ReduceOp, x: &Tensor, axes: &[usize], keepdims: bool) -> Tensor {
    let axes: SmallVec<[usize; 4]> = axes.iter().copied().collect();
    run(Op::Reduce { op, axes, keepdims }, &[x]).unwrap()
}

/// `((i * 7919) % 1000) as f32 / 7`, the same in NumPy and here (IEEE division).
fn gen(n: usize, shape: &[usize]) -> Tensor {
    let v: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 7.0).collect();
    t(v, shape)
}

fn bits(x: &Tensor) -> Vec<u32> {
    vals::<f32>(x).iter().map(|v| v.to_bits()).collect()
}

#[test]
fn float32_sums_round_like_numpy() {
    // Bit patterns of np.sum(...) on the same data (NumPy 2.4, x86-64).
    let x = gen(100_003, &[100_003]);
    assert_eq!(bits(&red(ReduceOp::Sum, &x, &[0], false)), vec![1255785914]);
    let y = gen(3700, &[100, 37]);
    // axis 0: the innermost axis is kept, so each column adds sequentially.
    assert_eq!(
        bits(&red(ReduceOp::Sum, &y, &[0], false))[..3],
        [1157928667, 1167502189, 1173031790]
    );
    // axis 1: pairwise over each contiguous row.
    assert_eq!(
        bits(&red(ReduceOp::Sum, &y, &[1], false))[..3],
        [1159803466, 1159868417, 1159933367]
    );
    let z = gen(9000, &[5, 6, 300]);
    assert_eq!(
        bits(&red(ReduceOp::Sum, &z, &[0, 2], false)),
        vec![1204892050, 1204873764, 1204892050, 1204873765, 1204892050, 1204873764]
    );
    assert_eq!(
        bits(&red(ReduceOp::Sum, &z, &[2], false))[..6],
        [1185387520, 1185387520, 1185314377, 1185314377, 1185460662, 1185314377]
    );
    assert_eq!(
        bits(&red(ReduceOp::Sum, &z, &[0, 1], false))[..4],
        [1156649546, 1157316609, 1157805788, 1158139318]
    );
}

#[test]
fn pairwise_float32_sum_is_close_to_the_f64_sum() {
    let x = gen(1_000_000, &[1_000_000]);
    let exact: f64 = vals::<f32>(&x).iter().map(|&v| v as f64).sum();
    let s = vals::<f32>(&red(ReduceOp::Sum, &x, &[0], false))[0] as f64;
    assert!((s - exact).abs() / exact < 1e-6, "{s} vs {exact}");
}

#[test]
fn products_and_non_contiguous_inputs() {
    // np.prod(gen(40)[1:] / 20) in float32 (sequential multiplication).
    let v: Vec<f32> = (1..40)
        .map(|i| ((i * 7919) % 1000) as f32 / 7.0 / 20.0)
        .collect();
    let p = red(ReduceOp::Prod, &t1(v), &[0], false);
    assert_eq!(bits(&p), vec![1507531687]);
    // A transposed input reduces to the same values as its contiguous copy.
    let m = t(vec![1i64, 2, 3, 4, 5, 6], &[2, 3]);
    let mt = run(Op::Permute([1, 0].into_iter().collect()), &[&m]).unwrap();
    assert_eq!(
        vals::<i64>(&red(ReduceOp::Sum, &mt, &[1], false)),
        vec![5, 7, 9]
    );
    assert_eq!(
        vals::<i64>(&red(ReduceOp::Prod, &mt, &[0], false)),
        vec![6, 120]
    );
}

#[test]
fn int_and_bool_sums_widen_to_int64_and_wrap() {
    let x = t1(vec![i32::MAX, i32::MAX, 2]);
    let s = red(ReduceOp::Sum, &x, &[0], false);
    assert_eq!(s.dtype(), DType::I64);
    assert_eq!(vals::<i64>(&s), vec![4294967296]);
    let b = t(vec![true, false, true, true], &[2, 2]);
    let s = red(ReduceOp::Sum, &b, &[0, 1], false);
    assert_eq!(s.dtype(), DType::I64);
    assert_eq!(vals::<i64>(&s), vec![3]);
    let w = red(ReduceOp::Sum, &t1(vec![i64::MAX, 1]), &[0], false);
    assert_eq!(vals::<i64>(&w), vec![i64::MIN]);
    let p = red(ReduceOp::Prod, &t1(vec![1i64 << 32, 1 << 32]), &[0], false);
    assert_eq!(vals::<i64>(&p), vec![0]);
}

#[test]
fn max_min_propagate_nan_and_arg_reductions_take_the_first() {
    let x = t1(vec![1.0f64, f64::NAN, 2.0]);
    assert!(vals::<f64>(&red(ReduceOp::Max, &x, &[0], false))[0].is_nan());
    assert!(vals::<f64>(&red(ReduceOp::Min, &x, &[0], false))[0].is_nan());
    let y = t(vec![3i32, 1, 3, -5, 7, -5], &[2, 3]);
    assert_eq!(
        vals::<i32>(&red(ReduceOp::Max, &y, &[1], false)),
        vec![3, 7]
    );
    assert_eq!(
        vals::<i32>(&red(ReduceOp::Min, &y, &[0], false)),
        vec![-5, 1, -5]
    );
    let a = red(ReduceOp::ArgMax, &y, &[1], false);
    assert_eq!(a.dtype(), DType::I64);
    assert_eq!(vals::<i64>(&a), vec![0, 1]);
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMin, &y, &[1], true)),
        vec![1, 0]
    );
    assert_eq!(red(ReduceOp::ArgMin, &y, &[1], true).shape(), &[2, 1]);
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMax, &y, &[0], false)),
        vec![0, 1, 0]
    );
    // np.argmax([1, nan, 5, nan]) == 1; np.argmin([1, nan]) == 1.
    let n = t1(vec![1.0f32, f32::NAN, 5.0, f32::NAN]);
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMax, &n, &[0], false)),
        vec![1]
    );
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMin, &n, &[0], false)),
        vec![1]
    );
    let b = t1(vec![false, true, true]);
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMax, &b, &[0], false)),
        vec![1]
    );
    assert_eq!(
        vals::<bool>(&red(ReduceOp::Max, &b, &[0], false)),
        vec![true]
    );
    assert_eq!(
        vals::<bool>(&red(ReduceOp::Min, &b, &[0], false)),
        vec![false]
    );
}

#[test]
fn any_all_keepdims_and_empty_reductions() {
    let x = t(vec![0.0f64, f64::NAN, 0.0, 0.0], &[2, 2]);
    assert_eq!(
        vals::<bool>(&red(ReduceOp::Any, &x, &[1], false)),
        vec![true, false]
    );
    assert_eq!(
        vals::<bool>(&red(ReduceOp::All, &x, &[0], false)),
        vec![false, false]
    );
    let k = red(ReduceOp::Sum, &x, &[0, 1], true);
    assert_eq!(k.shape(), &[1, 1]);
    // Empty reductions give the identity.
    let e = t(Vec::<f32>::new(), &[3, 0]);
    assert_eq!(
        vals::<f32>(&red(ReduceOp::Sum, &e, &[1], false)),
        vec![0.0; 3]
    );
    assert_eq!(
        vals::<f32>(&red(ReduceOp::Prod, &e, &[1], false)),
        vec![1.0; 3]
    );
    assert_eq!(
        vals::<bool>(&red(ReduceOp::Any, &e, &[0, 1], false)),
        vec![false]
    );
    assert_eq!(
        vals::<bool>(&red(ReduceOp::All, &e, &[0, 1], false)),
        vec![true]
    );
    assert_eq!(red(ReduceOp::Sum, &e, &[0], false).shape(), &[0]);
    assert_eq!(red(ReduceOp::Max, &e, &[0], true).shape(), &[1, 0]);
    let ei = t(Vec::<i32>::new(), &[0]);
    assert_eq!(vals::<i64>(&red(ReduceOp::Prod, &ei, &[0], false)), vec![1]);
    // Max of an empty axis is rejected by inference, before any kernel runs.
    let axes: SmallVec<[usize; 4]> = [1].into_iter().collect();
    assert!(run(
        Op::Reduce {
            op: ReduceOp::Max,
            axes,
            keepdims: false
        },
        &[&e]
    )
    .is_err());
    // 0-d inputs and reductions over no axes.
    let s = Tensor::scalar(Scalar::I32(7));
    assert_eq!(vals::<i64>(&red(ReduceOp::Sum, &s, &[], false)), vec![7]);
    let v = t1(vec![1.5f64, -2.0]);
    assert_eq!(
        vals::<f64>(&red(ReduceOp::Sum, &v, &[], false)),
        vec![1.5, -2.0]
    );
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMax, &v, &[0], false)),
        vec![0]
    );
}

#[test]
fn float32_sums_of_views_follow_numpy_memory_order() {
    let perm =
        |x: &Tensor, p: &[usize]| run(Op::Permute(p.iter().copied().collect()), &[x]).unwrap();
    // gen(3700).reshape(37, 100).T: NumPy walks memory order, so axis 0 is pairwise here.
    let y = perm(&gen(3700, &[37, 100]), &[1, 0]);
    assert_eq!(
        bits(&red(ReduceOp::Sum, &y, &[0], false))[..3],
        [1171978534, 1172271104, 1172563676]
    );
    assert_eq!(
        bits(&red(ReduceOp::Sum, &y, &[1], false))[..3],
        [1159420781, 1160007680, 1160009436]
    );
    // A size-1 trailing axis does not stop the pairwise run.
    let w = gen(300, &[300, 1]);
    assert_eq!(bits(&red(ReduceOp::Sum, &w, &[0], false)), vec![1185387520]);
    let z = perm(&gen(9000, &[5, 6, 300]), &[2, 0, 1]);
    assert_eq!(
        bits(&red(ReduceOp::Sum, &z, &[1, 2], false))[..3],
        [1156649546, 1157316609, 1157805788]
    );
    assert_eq!(
        bits(&red(ReduceOp::Sum, &z, &[0], false))[..6],
        [1185387520, 1185387520, 1185314377, 1185314377, 1185460662, 1185314377]
    );
    // Reversed rows: gen(3000).reshape(1000, 3)[::-1].sum(axis=0).
    let dims: SmallVec<[ember_ir::SliceDim; 4]> = [
        ember_ir::SliceDim::from_python(None, None, Some(-1), 1000).unwrap(),
        ember_ir::SliceDim::full(3),
    ]
    .into_iter()
    .collect();
    let r = run(Op::Slice(dims), &[&gen(3000, &[1000, 3])]).unwrap();
    assert_eq!(
        bits(&red(ReduceOp::Sum, &r, &[0], false)),
        vec![1200316046, 1200316046, 1200316060]
    );
}

#[test]
fn float64_sum_and_arg_reduction_paths() {
    // np.sum(gen(100003).astype(np.float64)).view(np.uint64)
    let x = run(Op::Cast(DType::F64), &[&gen(100_003, &[100_003])]).unwrap();
    let s = vals::<f64>(&red(ReduceOp::Sum, &x, &[0], false))[0];
    assert_eq!(s.to_bits(), 4709420195356229440);
    // argmax over contiguous rows (slice path) and strided columns agree on ties and NaN
    // (np.argmax(m, 1) == [1, 1, 0], np.argmin(m, 1) == [3, 1, 3]).
    let m = t(
        vec![
            1.0f32,
            5.0,
            5.0,
            -0.0,
            0.0,
            f32::NAN,
            2.0,
            f32::NAN,
            7.0,
            3.0,
            3.0,
            1.0,
        ],
        &[3, 4],
    );
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMax, &m, &[1], false)),
        vec![1, 1, 0]
    );
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMin, &m, &[1], false)),
        vec![3, 1, 3]
    );
    let mt = run(Op::Permute([1, 0].into_iter().collect()), &[&m]).unwrap();
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMax, &mt, &[0], false)),
        vec![1, 1, 0]
    );
    assert_eq!(
        vals::<i64>(&red(ReduceOp::ArgMin, &mt, &[0], false)),
        vec![3, 1, 3]
    );
}
