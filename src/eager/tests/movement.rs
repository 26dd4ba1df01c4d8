//! Movement ops: zero-copy views (shared storage), negative steps, reshape view vs copy,
//! broadcast strides, concat.

use super::*;
use ember_ir::{DType, Shape, SliceDim};
use smallvec::SmallVec;
use std::sync::Arc;

fn shares_storage(a: &Tensor, b: &Tensor) -> bool {
    Arc::ptr_eq(&a.buffer().unwrap().storage, &b.buffer().unwrap().storage)
}

fn slice(x: &Tensor, dims: &[(Option<i64>, Option<i64>, Option<i64>)]) -> Tensor {
    let dims: SmallVec<[SliceDim; 4]> = dims
        .iter()
        .zip(x.shape())
        .map(|(&(a, b, s), &n)| SliceDim::from_python(a, b, s, n).unwrap())
        .collect();
    run(Op::Slice(dims), &[x]).unwrap()
}

fn reshape(x: &Tensor, shape: &[usize]) -> Tensor {
    run(Op::Reshape(Shape::from_slice(shape)), &[x]).unwrap()
}

fn permute(x: &Tensor, perm: &[usize]) -> Tensor {
    run(Op::Permute(perm.iter().copied().collect()), &[x]).unwrap()
}

fn arange(n: usize, shape: &[usize]) -> Tensor {
    t((0..n as i64).collect(), shape)
}

#[test]
fn permute_is_a_view() {
    let x = arange(24, &[2, 3, 4]);
    let p = permute(&x, &[2, 0, 1]);
    assert_eq!(p.shape(), &[4, 2, 3]);
    assert!(shares_storage(&x, &p));
    assert_eq!(p.data_ptr().unwrap(), x.data_ptr().unwrap());
    assert_eq!(p.strides().as_slice(), &[1, 12, 4]);
    assert_eq!(vals::<i64>(&p)[..6], [0, 4, 8, 12, 16, 20]);
}

#[test]
fn slices_are_views_including_negative_steps() {
    let x = arange(12, &[3, 4]);
    // x[::-1, 1::2]
    let s = slice(&x, &[(None, None, Some(-1)), (Some(1), None, Some(2))]);
    assert!(shares_storage(&x, &s));
    assert_eq!(s.shape(), &[3, 2]);
    assert_eq!(s.strides().as_slice(), &[-4, 2]);
    assert_eq!(vals::<i64>(&s), vec![9, 11, 5, 7, 1, 3]);
    // Slicing a reversed view again: x[::-1][::-2] == x[0::2] rows.
    let r = slice(&s, &[(None, None, Some(-2)), (None, None, None)]);
    assert!(shares_storage(&x, &r));
    assert_eq!(vals::<i64>(&r), vec![1, 3, 9, 11]);
    // An empty slice is fine (and its data pointer stays inside the storage).
    let e = slice(&x, &[(Some(2), Some(2), None), (Some(3), None, None)]);
    assert_eq!(e.shape(), &[0, 1]);
    assert_eq!(e.numel(), 0);
    // Elementwise ops on a reversed view read it in logical order.
    let n = un(UnaryOp::Neg, &s);
    assert_eq!(vals::<i64>(&n), vec![-9, -11, -5, -7, -1, -3]);
}

#[test]
fn broadcast_uses_zero_strides() {
    let x = t(vec![1.0f32, 2.0, 3.0], &[3, 1]);
    let b = run(Op::Broadcast(Shape::from_slice(&[2, 3, 4])), &[&x]).unwrap();
    assert!(shares_storage(&x, &b));
    assert_eq!(b.strides().as_slice(), &[0, 1, 0]);
    assert_eq!(
        vals::<f32>(&b)[..8],
        [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    );
    let s = Tensor::scalar(ember_ir::Scalar::I32(5));
    let b = run(Op::Broadcast(Shape::from_slice(&[2, 0])), &[&s]).unwrap();
    assert_eq!(b.shape(), &[2, 0]);
}

#[test]
fn reshape_views_when_strides_allow_and_copies_otherwise() {
    let x = arange(24, &[2, 3, 4]);
    let r = reshape(&x, &[6, 4]);
    assert!(shares_storage(&x, &r));
    let r1 = reshape(&x, &[1, 24, 1]);
    assert!(shares_storage(&x, &r1));
    // A column slice x[:, :, 1:3] merges its two leading axes without a copy...
    let s = slice(
        &x,
        &[
            (None, None, None),
            (None, None, None),
            (Some(1), Some(3), None),
        ],
    );
    let v = reshape(&s, &[6, 2]);
    assert!(shares_storage(&x, &v));
    assert_eq!(
        vals::<i64>(&v),
        vec![1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22]
    );
    // ...but flattening it needs a copy.
    let c = reshape(&s, &[12]);
    assert!(!shares_storage(&x, &c));
    assert_eq!(vals::<i64>(&c), vals::<i64>(&v));
    // A transposed matrix cannot be flattened in place either.
    let p = permute(&arange(6, &[2, 3]), &[1, 0]);
    let f = reshape(&p, &[6]);
    assert_eq!(vals::<i64>(&f), vec![0, 3, 1, 4, 2, 5]);
    // 0-d <-> 1-element and 0-size reshapes.
    let one = t1(vec![7i32]);
    let z = reshape(&one, &[]);
    assert!(shares_storage(&one, &z));
    assert_eq!(vals::<i32>(&reshape(&z, &[1, 1])), vec![7]);
    let e = t(Vec::<f64>::new(), &[0, 3]);
    assert_eq!(reshape(&e, &[3, 0, 5]).shape(), &[3, 0, 5]);
}

#[test]
fn concat_casts_to_the_result_dtype() {
    let a = t(vec![1i32, 2, 3, 4], &[2, 2]);
    let b = t(vec![0.5f32, 1.5], &[2, 1]);
    let c = run(Op::Concat { axis: 1 }, &[&a, &b]).unwrap();
    assert_eq!(c.dtype(), DType::F64);
    assert_eq!(c.shape(), &[2, 3]);
    assert_eq!(vals::<f64>(&c), vec![1.0, 2.0, 0.5, 3.0, 4.0, 1.5]);
    let e = t(Vec::<i32>::new(), &[0, 2]);
    let c = run(Op::Concat { axis: 0 }, &[&e, &a, &e]).unwrap();
    assert_eq!(vals::<i32>(&c), vec![1, 2, 3, 4]);
    // A reversed operand is copied in logical order.
    let r = slice(&a, &[(None, None, Some(-1)), (None, None, None)]);
    let c = run(Op::Concat { axis: 0 }, &[&r, &a]).unwrap();
    assert_eq!(vals::<i32>(&c), vec![3, 4, 1, 2, 1, 2, 3, 4]);
}

/// Chunks of one element (a stack along a new last axis), of a few elements and of many, a
/// transposed operand, and an empty leading dimension (no runs at all).
#[test]
fn concat_copies_runs_of_every_length() {
    let a = t((0..12).collect::<Vec<i64>>(), &[4, 3, 1]);
    let b = t((100..112).collect::<Vec<i64>>(), &[4, 3, 1]);
    let c = run(Op::Concat { axis: 2 }, &[&a, &b]).unwrap();
    assert_eq!(c.shape(), &[4, 3, 2]);
    let want: Vec<i64> = (0..12).flat_map(|i| [i, 100 + i]).collect();
    assert_eq!(vals::<i64>(&c), want);
    let big = t((0..40).collect::<Vec<i64>>(), &[2, 20]);
    let c = run(Op::Concat { axis: 1 }, &[&big, &big]).unwrap();
    let want: Vec<i64> = [0..20, 0..20, 20..40, 20..40]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(vals::<i64>(&c), want);
    let tr = run(Op::Permute(SmallVec::from_slice(&[1, 0])), &[&big]).unwrap();
    let c = run(Op::Concat { axis: 1 }, &[&tr, &tr]).unwrap();
    assert_eq!(c.shape(), &[20, 4]);
    let want: Vec<i64> = (0..20).flat_map(|i| [i, 20 + i, i, 20 + i]).collect();
    assert_eq!(vals::<i64>(&c), want);
    let e = t(Vec::<f32>::new(), &[0, 3]);
    let c = run(Op::Concat { axis: 1 }, &[&e, &e]).unwrap();
    assert_eq!(c.shape(), &[0, 6]);
}

/// Parts of unequal lengths along the axis (one element, a few, many, none), against index
/// arithmetic: every output element comes from the part and position it should.
#[test]
fn concat_interleaves_parts_of_unequal_lengths() {
    let (rows, inner) = (3usize, 2usize);
    let lens = [1usize, 0, 5, 17];
    let parts: Vec<Tensor> = lens
        .iter()
        .enumerate()
        .map(|(p, &n)| {
            let v: Vec<i32> = (0..rows * n * inner)
                .map(|i| (p * 1000 + i) as i32)
                .collect();
            t(v, &[rows, n, inner])
        })
        .collect();
    let refs: Vec<&Tensor> = parts.iter().collect();
    let c = run(Op::Concat { axis: 1 }, &refs).unwrap();
    let total: usize = lens.iter().sum();
    assert_eq!(c.shape(), &[rows, total, inner]);
    let mut want = Vec::new();
    for r in 0..rows {
        for (p, &n) in lens.iter().enumerate() {
            for j in 0..n * inner {
                want.push((p * 1000 + r * n * inner + j) as i32);
            }
        }
    }
    assert_eq!(vals::<i32>(&c), want);
    // bool parts, stacked along a new last axis.
    let a = t(vec![true, false, true], &[3, 1]);
    let b = t(vec![false, false, true], &[3, 1]);
    let c = run(Op::Concat { axis: 1 }, &[&a, &b, &a]).unwrap();
    assert_eq!(
        vals::<bool>(&c),
        vec![true, false, true, false, false, false, true, true, true]
    );
}
