//! Creation functions and constants.

use super::*;
use crate::eager::creation::{arange, eye, from_literal, full, linspace, ones, zeros};
use ember_ir::{DType, Literal, Scalar};

#[test]
fn full_zeros_ones() {
    let f = full(&[2, 3], Scalar::F32(1.5)).unwrap();
    assert_eq!(f.dtype(), DType::F32);
    assert_eq!(vals::<f32>(&f), vec![1.5; 6]);
    assert_eq!(vals::<i32>(&zeros(&[2], DType::I32).unwrap()), vec![0, 0]);
    assert_eq!(
        vals::<bool>(&ones(&[3], DType::Bool).unwrap()),
        vec![true; 3]
    );
    assert_eq!(vals::<f64>(&ones(&[], DType::F64).unwrap()), vec![1.0]);
    assert_eq!(zeros(&[0, 4], DType::I64).unwrap().shape(), &[0, 4]);
}

#[test]
fn arange_follows_numpy() {
    let a = arange(Scalar::I64(1), Scalar::I64(2), Scalar::F64(0.1), DType::F32).unwrap();
    let bits: Vec<u32> = vals::<f32>(&a).iter().map(|v| v.to_bits()).collect();
    assert_eq!(
        bits,
        vec![
            1065353216, 1066192077, 1067030938, 1067869799, 1068708660, 1069547521, 1070386382,
            1071225243, 1072064104, 1072902965
        ]
    );
    let a = arange(
        Scalar::F64(0.1),
        Scalar::F64(1.0),
        Scalar::F64(0.1),
        DType::F64,
    )
    .unwrap();
    assert_eq!(
        vals::<f64>(&a),
        vec![
            0.1,
            0.2,
            0.30000000000000004,
            0.4,
            0.5,
            0.6,
            0.7000000000000001,
            0.8,
            0.9
        ]
    );
    let i = |v| Scalar::I64(v);
    let a = arange(Scalar::I64(-3), i(3), Scalar::F64(1.5), DType::I32).unwrap();
    assert_eq!(vals::<i32>(&a), vec![-3, -1, 1, 3]);
    assert_eq!(arange(i(5), i(1), i(1), DType::I64).unwrap().shape(), &[0]);
    assert_eq!(
        vals::<i64>(&arange(i(0), i(-10), i(-4), DType::I64).unwrap()),
        vec![0, -4, -8]
    );
    assert_eq!(
        vals::<i64>(&arange(i(10), i(0), i(-3), DType::I64).unwrap()),
        vec![10, 7, 4, 1]
    );
    let big = 1i64 << 62;
    assert_eq!(
        vals::<i64>(&arange(i(big), i(big + 3), i(1), DType::I64).unwrap()),
        vec![big, big + 1, big + 2]
    );
    assert_eq!(
        vals::<i64>(
            &arange(
                Scalar::F64(0.0),
                Scalar::F64(1.0),
                Scalar::F64(0.3),
                DType::I64
            )
            .unwrap()
        ),
        vec![0, 0, 0, 0]
    );
    assert_eq!(
        vals::<bool>(&arange(i(0), i(2), i(1), DType::Bool).unwrap()),
        vec![false, true]
    );
    assert!(arange(i(0), i(3), i(1), DType::Bool).is_err());
    assert!(arange(i(0), i(3), i(0), DType::I64).is_err());
    assert!(arange(
        Scalar::F64(0.0),
        Scalar::F64(f64::NAN),
        Scalar::F64(1.0),
        DType::F64
    )
    .is_err());
}

#[test]
fn linspace_follows_numpy() {
    let l = linspace(0.0, 1.0, 7, true, DType::F64).unwrap();
    assert_eq!(
        vals::<f64>(&l),
        vec![
            0.0,
            0.16666666666666666,
            0.3333333333333333,
            0.5,
            0.6666666666666666,
            0.8333333333333333,
            1.0
        ]
    );
    let l = linspace(0.0, 1.0, 5, false, DType::F64).unwrap();
    assert_eq!(
        vals::<f64>(&l),
        vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8]
    );
    let l = linspace(1e-300, 1e-300, 3, true, DType::F64).unwrap();
    assert_eq!(vals::<f64>(&l), vec![1e-300; 3]);
    assert_eq!(
        linspace(0.0, 10.0, 0, true, DType::F64).unwrap().shape(),
        &[0]
    );
    assert_eq!(
        vals::<f64>(&linspace(2.0, 3.0, 1, true, DType::F64).unwrap()),
        vec![2.0]
    );
    let l = linspace(-2.5, 2.5, 6, true, DType::I64).unwrap();
    assert_eq!(vals::<i64>(&l), vec![-3, -2, -1, 0, 1, 2]);
    assert_eq!(
        vals::<i32>(&linspace(-1.0, 1.0, 4, true, DType::I32).unwrap()),
        vec![-1, -1, 0, 1]
    );
    assert_eq!(
        vals::<f32>(&linspace(0.0, 1.0, 3, true, DType::F32).unwrap()),
        vec![0.0, 0.5, 1.0]
    );
}

#[test]
fn eye_places_the_kth_diagonal() {
    let e = eye(3, Some(4), 1, DType::I32).unwrap();
    assert_eq!(vals::<i32>(&e), vec![0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    let e = eye(2, None, -5, DType::F64).unwrap();
    assert_eq!(vals::<f64>(&e), vec![0.0; 4]);
    let e = eye(3, None, -1, DType::Bool).unwrap();
    assert_eq!(
        vals::<bool>(&e),
        vec![false, false, false, true, false, false, false, true, false]
    );
    assert_eq!(eye(0, Some(2), 0, DType::F32).unwrap().shape(), &[0, 2]);
}

#[test]
fn constants_become_fresh_aligned_tensors() {
    let lit = Literal::from_bytes(
        DType::I32,
        &[2],
        [3i32, -4].iter().flat_map(|v| v.to_ne_bytes()).collect(),
    )
    .unwrap();
    let c = from_literal(&lit).unwrap();
    assert_eq!(vals::<i32>(&c), vec![3, -4]);
    assert_eq!(c.data_ptr().unwrap() as usize % crate::storage::ALIGN, 0);
    let c = run(Op::Const(Literal::scalar(Scalar::F64(2.5))), &[]).unwrap();
    assert_eq!(vals::<f64>(&c), vec![2.5]);
}
