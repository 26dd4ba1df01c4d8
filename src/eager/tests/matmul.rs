//! np.matmul: batching with broadcasting, 1-d promotion, dtypes, empty inner dimension.

use super::*;
use ember_ir::DType;

fn mm(a: &Tensor, b: &Tensor) -> Tensor {
    run(Op::MatMul, &[a, b]).unwrap()
}

fn seq(n: i64, offset: i64, shape: &[usize]) -> Tensor {
    t((0..n).map(|i| i + offset).collect::<Vec<i64>>(), shape)
}

const BATCHED: [i64; 24] = [
    -5, -2, -32, -20, 13, 16, 40, 52, 31, 34, 112, 124, -59, -38, -86, -56, 67, 88, 94, 124, 193,
    214, 274, 304,
];

#[test]
fn batched_broadcast_matmul_matches_numpy() {
    // np.arange(12).reshape(2,1,2,3) @ (np.arange(18) - 5).reshape(3,3,2)
    let a = seq(12, 0, &[2, 1, 2, 3]);
    let b = seq(18, -5, &[3, 3, 2]);
    let r = mm(&a, &b);
    assert_eq!(r.shape(), &[2, 3, 2, 2]);
    assert_eq!(vals::<i64>(&r), BATCHED.to_vec());
    // The same in float64 and float32 (exact for these small integers), via GEMM.
    for dt in [DType::F64, DType::F32] {
        let af = run(Op::Cast(dt), &[&a]).unwrap();
        let bf = run(Op::Cast(dt), &[&b]).unwrap();
        let r = run(Op::Cast(DType::I64), &[&mm(&af, &bf)]).unwrap();
        assert_eq!(vals::<i64>(&r), BATCHED.to_vec(), "{dt}");
    }
    // A transposed (non-contiguous) operand.
    let m = seq(6, 0, &[2, 3]);
    let mt = run(Op::Permute([1, 0].into_iter().collect()), &[&m]).unwrap();
    let mf = run(Op::Cast(DType::F32), &[&mt]).unwrap();
    let g = mm(&mf, &run(Op::Cast(DType::F32), &[&m]).unwrap());
    assert_eq!(
        vals::<f32>(&g),
        vec![9.0, 12.0, 15.0, 12.0, 17.0, 22.0, 15.0, 22.0, 29.0]
    );
}

#[test]
fn one_d_operands_are_promoted_and_squeezed() {
    let v = seq(3, 0, &[3]);
    let r = mm(&v, &v);
    assert_eq!(r.shape(), &[] as &[usize]);
    assert_eq!(vals::<i64>(&r), vec![5]);
    let r = mm(&v, &seq(6, 0, &[3, 2]));
    assert_eq!(r.shape(), &[2]);
    assert_eq!(vals::<i64>(&r), vec![10, 13]);
    let r = mm(&seq(6, 0, &[2, 3]), &v);
    assert_eq!(vals::<i64>(&r), vec![5, 14]);
}

#[test]
fn dtypes_wrapping_bool_and_empty() {
    let r = mm(&t(vec![i32::MAX], &[1, 1]), &t(vec![2i32], &[1, 1]));
    assert_eq!(vals::<i32>(&r), vec![-2]);
    let r = mm(&t(vec![1i32, 2], &[1, 2]), &t(vec![0.5f32, 0.25], &[2, 1]));
    assert_eq!(r.dtype(), DType::F64);
    assert_eq!(vals::<f64>(&r), vec![1.0]);
    let r = mm(
        &t(vec![true, false], &[1, 2]),
        &t(vec![true, true], &[2, 1]),
    );
    assert_eq!(r.dtype(), DType::Bool);
    assert_eq!(vals::<bool>(&r), vec![true]);
    let r = mm(
        &t(vec![false, true], &[1, 2]),
        &t(vec![true, false], &[2, 1]),
    );
    assert_eq!(vals::<bool>(&r), vec![false]);
    let z = mm(
        &t(Vec::<f64>::new(), &[2, 0]),
        &t(Vec::<f64>::new(), &[0, 3]),
    );
    assert_eq!(z.shape(), &[2, 3]);
    assert_eq!(vals::<f64>(&z), vec![0.0; 6]);
    let z = mm(&t(Vec::<f32>::new(), &[0, 2]), &t(vec![1.0f32; 6], &[2, 3]));
    assert_eq!(z.shape(), &[0, 3]);
    assert!(run(Op::MatMul, &[&t1(vec![1.0f32; 3]), &t1(vec![1.0f32; 2])]).is_err());
}

#[test]
fn one_d_operand_against_a_batch() {
    let v = seq(3, 0, &[3]);
    let r = mm(&v, &seq(12, 0, &[2, 3, 2]));
    assert_eq!(r.shape(), &[2, 2]);
    assert_eq!(vals::<i64>(&r), vec![10, 13, 28, 31]);
    let r = mm(&seq(12, 0, &[2, 2, 3]), &v);
    assert_eq!(r.shape(), &[2, 2]);
    assert_eq!(vals::<i64>(&r), vec![5, 14, 23, 32]);
    let vf = run(Op::Cast(DType::F64), &[&v]).unwrap();
    let r = mm(
        &vf,
        &run(Op::Cast(DType::F64), &[&seq(12, 0, &[2, 3, 2])]).unwrap(),
    );
    assert_eq!(vals::<f64>(&r), vec![10.0, 13.0, 28.0, 31.0]);
}
