//! Unary, binary, where and cast kernels: dtypes, integer edge cases, broadcasting.

use super::*;
use crate::error::EmberError;
use ember_ir::{DType, Scalar};

#[test]
fn int_floor_divide_and_remainder_follow_python() {
    // np.int32 [7,-7,7,-7,0,5,MIN,MIN] // and % [2,2,-2,-2,3,0,-1,1]
    let a = t1(vec![7i32, -7, 7, -7, 0, 5, i32::MIN, i32::MIN]);
    let b = t1(vec![2i32, 2, -2, -2, 3, 0, -1, 1]);
    let q = bin(BinaryOp::FloorDiv, &a, &b);
    assert_eq!(q.dtype(), DType::I32);
    assert_eq!(
        vals::<i32>(&q),
        vec![3, -4, -4, 3, 0, 0, i32::MIN, i32::MIN]
    );
    let r = bin(BinaryOp::Rem, &a, &b);
    assert_eq!(vals::<i32>(&r), vec![1, 1, -1, -1, 0, 0, 0, 0]);
    // int64 division by zero is 0 for both (NumPy warns and returns 0).
    let z = t1(vec![0i64; 3]);
    let n = t1(vec![5i64, -5, 0]);
    assert_eq!(vals::<i64>(&bin(BinaryOp::FloorDiv, &n, &z)), vec![0, 0, 0]);
    assert_eq!(vals::<i64>(&bin(BinaryOp::Rem, &n, &z)), vec![0, 0, 0]);
    let m = t1(vec![i64::MIN]);
    let neg1 = t1(vec![-1i64]);
    assert_eq!(
        vals::<i64>(&bin(BinaryOp::FloorDiv, &m, &neg1)),
        vec![i64::MIN]
    );
}

#[test]
fn int_arithmetic_wraps() {
    let max = t1(vec![i32::MAX]);
    let one = t1(vec![1i32]);
    assert_eq!(vals::<i32>(&bin(BinaryOp::Add, &max, &one)), vec![i32::MIN]);
    let big = t1(vec![65536i32]);
    assert_eq!(vals::<i32>(&bin(BinaryOp::Mul, &big, &big)), vec![0]);
    let min = t1(vec![i32::MIN]);
    assert_eq!(vals::<i32>(&un(UnaryOp::Neg, &min)), vec![i32::MIN]);
    assert_eq!(vals::<i32>(&un(UnaryOp::Abs, &min)), vec![i32::MIN]);
    assert_eq!(
        vals::<i32>(&un(UnaryOp::Square, &t1(vec![46341i32]))),
        vec![-2147479015]
    );
    // int32 + int64 computes in int64.
    let r = bin(BinaryOp::Add, &max, &t1(vec![1i64]));
    assert_eq!(r.dtype(), DType::I64);
    assert_eq!(vals::<i64>(&r), vec![2147483648]);
}

#[test]
fn int_power_wraps_and_rejects_negative_exponents() {
    let r = bin(BinaryOp::Pow, &t1(vec![3i32]), &t1(vec![21i32]));
    assert_eq!(vals::<i32>(&r), vec![1870418611]);
    let r = bin(
        BinaryOp::Pow,
        &t1(vec![-1i64, 0, 2, 2, 3, -2]),
        &t1(vec![3i64, 0, 10, 62, 40, 63]),
    );
    assert_eq!(
        vals::<i64>(&r),
        vec![
            -1,
            1,
            1024,
            4611686018427387904,
            -6289078614652622815,
            i64::MIN
        ]
    );
    let err = run(
        Op::Binary(BinaryOp::Pow),
        &[&t1(vec![2i64]), &t1(vec![-1i64])],
    )
    .unwrap_err();
    assert!(
        matches!(&err, EmberError::Value(m) if m == "Integers to negative integer powers are not allowed.")
    );
    // Nothing is computed for an empty result, so nothing is raised (as in NumPy).
    let empty = t(Vec::<i64>::new(), &[0]);
    let r = run(Op::Binary(BinaryOp::Pow), &[&empty, &t1(vec![-1i64])]).unwrap();
    assert_eq!(r.shape(), &[0]);
}

#[test]
fn int_reciprocal_truncates_like_numpy() {
    // np.reciprocal(int64 [0, 2, -1, 1]) == [MIN, 0, -1, 1] (1.0/0 = inf -> MIN on x86).
    let r = un(UnaryOp::Reciprocal, &t1(vec![0i64, 2, -1, 1]));
    assert_eq!(vals::<i64>(&r), vec![i64::MIN, 0, -1, 1]);
    let r = un(UnaryOp::Reciprocal, &t1(vec![0i32, -3]));
    assert_eq!(vals::<i32>(&r), vec![i32::MIN, 0]);
}

#[test]
fn int_identities_and_predicates() {
    let x = t1(vec![-3i32, 0, 5]);
    for op in [UnaryOp::Floor, UnaryOp::Ceil, UnaryOp::Round] {
        let r = un(op, &x);
        assert_eq!(r.dtype(), DType::I32);
        assert_eq!(vals::<i32>(&r), vec![-3, 0, 5]);
    }
    assert_eq!(vals::<i32>(&un(UnaryOp::Sign, &x)), vec![-1, 0, 1]);
    assert_eq!(vals::<i32>(&un(UnaryOp::Relu, &x)), vec![0, 0, 5]);
    assert_eq!(vals::<bool>(&un(UnaryOp::IsNan, &x)), vec![false; 3]);
    assert_eq!(vals::<bool>(&un(UnaryOp::IsInf, &x)), vec![false; 3]);
    assert_eq!(vals::<bool>(&un(UnaryOp::IsFinite, &x)), vec![true; 3]);
    assert_eq!(
        vals::<bool>(&un(UnaryOp::LogicalNot, &x)),
        vec![false, true, false]
    );
    // Float functions of ints compute in float64.
    let e = un(UnaryOp::Exp, &t1(vec![0i32, 1]));
    assert_eq!(e.dtype(), DType::F64);
    assert_eq!(vals::<f64>(&e), vec![1.0, std::f64::consts::E]);
}

#[test]
fn float_unary_edge_cases() {
    let x = t1(vec![-0.0f32, 3.0, f32::NEG_INFINITY, f32::NAN]);
    let s = vals::<f32>(&un(UnaryOp::Sign, &x));
    assert_eq!(s[..3], [0.0, 1.0, -1.0]);
    assert!(s[0].is_sign_positive() && s[3].is_nan());
    let r = un(
        UnaryOp::Round,
        &t1(vec![0.5f64, 1.5, 2.5, -0.5, -1.5, 2.675]),
    );
    assert_bits_f64(&vals::<f64>(&r), &[0.0, 2.0, 2.0, -0.0, -2.0, 3.0]);
    let relu = vals::<f64>(&un(UnaryOp::Relu, &t1(vec![-1.0, -0.0, 2.0, f64::NAN])));
    assert_bits_f64(&relu, &[0.0, 0.0, 2.0, f64::NAN]);
    let sig = vals::<f32>(&un(UnaryOp::Sigmoid, &t1(vec![-100.0f32, 0.0, 100.0])));
    assert_eq!(sig, vec![3.720_075_976_020_836e-44_f64 as f32, 0.5, 1.0]);
    let erf = vals::<f32>(&un(UnaryOp::Erf, &t1(vec![0.5f32])));
    assert_eq!(erf, vec![0.5204999]);
    let p = vals::<bool>(&un(UnaryOp::IsNan, &x));
    assert_eq!(p, vec![false, false, false, true]);
    assert_eq!(
        vals::<bool>(&un(UnaryOp::IsFinite, &x)),
        vec![true, true, false, false]
    );
    assert_eq!(
        vals::<bool>(&un(UnaryOp::LogicalNot, &x)),
        vec![true, false, false, false]
    );
}

#[test]
fn math_library_functions() {
    // Exact where NumPy is; integers compute in float64; float32 stays float32.
    let x = t1(vec![1000i64, 8, 10, 27]);
    for (op, i, want) in [
        (UnaryOp::Log10, 0, 3.0),
        (UnaryOp::Log2, 1, 3.0),
        (UnaryOp::Exp2, 2, 1024.0),
        (UnaryOp::Cbrt, 3, 3.0),
    ] {
        let r = un(op, &x);
        assert_eq!(r.dtype(), DType::F64);
        assert_eq!(vals::<f64>(&r)[i], want, "{op}");
    }
    let r = un(UnaryOp::Asinh, &t1(vec![-0.0f32, 1e30, f32::NEG_INFINITY]));
    assert_eq!(r.dtype(), DType::F32);
    let v = vals::<f32>(&r);
    assert!(v[0] == 0.0 && v[0].is_sign_negative());
    // asinh(x) = ln(2x) for huge x: finite.
    assert_eq!(v[1], (2.0 * 1e30f32 as f64).ln() as f32);
    assert_eq!(v[2], f32::NEG_INFINITY);
    let r = vals::<f64>(&un(
        UnaryOp::Acosh,
        &t1(vec![0.5f64, -3.0, 1.0, f64::INFINITY]),
    ));
    assert_bits_f64(&r, &[f64::NAN, f64::NAN, 0.0, f64::INFINITY]);
    let r = vals::<f64>(&un(UnaryOp::Atanh, &t1(vec![1.0f64, -1.0, 2.0])));
    assert_bits_f64(&r, &[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]);
}

#[test]
fn hypot_copysign_and_fmod() {
    let h = bin(BinaryOp::Hypot, &t1(vec![3i32, 1]), &t1(vec![4i32, 0]));
    assert_eq!(h.dtype(), DType::F64);
    assert_eq!(vals::<f64>(&h), vec![5.0, 1.0]);
    let h = vals::<f64>(&bin(
        BinaryOp::Hypot,
        &t1(vec![1e300f64, f64::INFINITY]),
        &t1(vec![1e300f64, f64::NAN]),
    ));
    assert!(h[0].is_finite() && h[1] == f64::INFINITY);
    let c = vals::<f64>(&bin(
        BinaryOp::Copysign,
        &t1(vec![1.0f64, -2.0, 3.0]),
        &t1(vec![-0.0f64, 0.0, -f64::NAN]),
    ));
    assert_eq!(c, vec![-1.0, 2.0, -3.0]);
    // fmod: the sign of the dividend; 0 for an integer zero divisor and for MIN % -1.
    let a = t1(vec![7i32, -7, 7, -7, 5, i32::MIN]);
    let b = t1(vec![3i32, 3, -3, -3, 0, -1]);
    let r = bin(BinaryOp::Fmod, &a, &b);
    assert_eq!(r.dtype(), DType::I32);
    assert_eq!(vals::<i32>(&r), vec![1, -1, 1, -1, 0, 0]);
    let r = vals::<f64>(&bin(
        BinaryOp::Fmod,
        &t1(vec![-6.0f64, 5.5, 1.0, 1.0]),
        &t1(vec![3.0f64, -2.0, 0.0, f64::INFINITY]),
    ));
    assert_bits_f64(&r, &[-0.0, 1.5, f64::NAN, 1.0]);
}

#[test]
fn float_binary_edge_cases() {
    let a = t1(vec![-7.5f64, 7.5, -0.0, 5.0, 5.0]);
    let b = t1(vec![2.0f64, -2.0, 3.0, 0.0, -0.0]);
    assert_bits_f64(
        &vals::<f64>(&bin(BinaryOp::FloorDiv, &a, &b)),
        &[-4.0, -4.0, -0.0, f64::INFINITY, f64::NEG_INFINITY],
    );
    assert_bits_f64(
        &vals::<f64>(&bin(BinaryOp::Rem, &a, &b)),
        &[0.5, -0.5, 0.0, f64::NAN, f64::NAN],
    );
    let x = t1(vec![-0.0f64, 0.0, f64::NAN, 1.0]);
    let y = t1(vec![0.0f64, -0.0, 1.0, f64::NAN]);
    assert_bits_f64(
        &vals::<f64>(&bin(BinaryOp::Max, &x, &y)),
        &[0.0, -0.0, f64::NAN, f64::NAN],
    );
    assert_bits_f64(
        &vals::<f64>(&bin(BinaryOp::Min, &x, &y)),
        &[0.0, -0.0, f64::NAN, f64::NAN],
    );
    let at = vals::<f64>(&bin(
        BinaryOp::Atan2,
        &t1(vec![1.0, -0.0]),
        &t1(vec![-1.0, -1.0]),
    ));
    assert_eq!(at, vec![2.356194490192345, -std::f64::consts::PI]);
    // int / int is float64 true division.
    let d = bin(BinaryOp::Div, &t1(vec![1i32, -3]), &t1(vec![2i32, 0]));
    assert_eq!(d.dtype(), DType::F64);
    assert_eq!(vals::<f64>(&d), vec![0.5, f64::NEG_INFINITY]);
    // int32 + float32 computes in float64 (NumPy's table).
    let m = bin(BinaryOp::Add, &t1(vec![1i32]), &t1(vec![0.5f32]));
    assert_eq!(m.dtype(), DType::F64);
}

#[test]
fn comparisons_and_logic() {
    let x = t1(vec![1.0f64, f64::NAN, 2.0]);
    let y = t1(vec![f64::NAN, f64::NAN, 2.0]);
    assert_eq!(
        vals::<bool>(&bin(BinaryOp::Eq, &x, &y)),
        vec![false, false, true]
    );
    assert_eq!(
        vals::<bool>(&bin(BinaryOp::Ne, &x, &y)),
        vec![true, true, false]
    );
    assert_eq!(
        vals::<bool>(&bin(BinaryOp::Lt, &x, &y)),
        vec![false, false, false]
    );
    assert_eq!(
        vals::<bool>(&bin(BinaryOp::Ge, &x, &y)),
        vec![false, false, true]
    );
    let l = bin(
        BinaryOp::And,
        &t1(vec![0.0, f64::NAN, 2.0]),
        &t1(vec![1i64, 1, 0]),
    );
    assert_eq!(vals::<bool>(&l), vec![false, true, false]);
    let l = bin(
        BinaryOp::Xor,
        &t1(vec![0i32, 3, 3]),
        &t1(vec![true, true, false]),
    );
    assert_eq!(vals::<bool>(&l), vec![true, false, true]);
    // Bool arithmetic: add = or, multiply = and, maximum = or.
    let (p, q) = (t1(vec![true, true, false]), t1(vec![true, false, false]));
    let s = bin(BinaryOp::Add, &p, &q);
    assert_eq!(s.dtype(), DType::Bool);
    assert_eq!(vals::<bool>(&s), vec![true, true, false]);
    assert_eq!(
        vals::<bool>(&bin(BinaryOp::Mul, &p, &q)),
        vec![true, false, false]
    );
    assert!(run(Op::Binary(BinaryOp::Sub), &[&p, &q]).is_err());
}

#[test]
fn broadcasting_including_0d_and_0_size() {
    // [3,1] + [4] -> [3,4]
    let a = t(vec![0i64, 10, 20], &[3, 1]);
    let b = t1(vec![1i64, 2, 3, 4]);
    let r = bin(BinaryOp::Add, &a, &b);
    assert_eq!(r.shape(), &[3, 4]);
    assert_eq!(
        vals::<i64>(&r),
        vec![1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24]
    );
    // 0-d with 0-d, 0-d with n-d.
    let s = Tensor::scalar(Scalar::F32(2.0));
    let r = bin(BinaryOp::Mul, &s, &s);
    assert_eq!(r.shape(), &[] as &[usize]);
    assert_eq!(vals::<f32>(&r), vec![4.0]);
    let r = bin(BinaryOp::Sub, &s, &t(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]));
    assert_eq!(vals::<f32>(&r), vec![1.0, 0.0, -1.0, -2.0]);
    // 0-size dimensions broadcast to 0-size results.
    let e = t(Vec::<f64>::new(), &[2, 0]);
    let r = bin(BinaryOp::Add, &e, &t(vec![1.0f64, 2.0], &[2, 1]));
    assert_eq!(r.shape(), &[2, 0]);
    let r = un(UnaryOp::Exp, &e);
    assert_eq!(r.shape(), &[2, 0]);
    // Non-contiguous operands (a transposed view) go through the general path.
    let m = t(vec![1i32, 2, 3, 4, 5, 6], &[2, 3]);
    let mt = run(Op::Permute([1, 0].into_iter().collect()), &[&m]).unwrap();
    let r = bin(BinaryOp::Sub, &mt, &t1(vec![1i32, 1]));
    assert_eq!(vals::<i32>(&r), vec![0, 3, 1, 4, 2, 5]);
    assert!(r.is_contiguous());
}

#[test]
fn where_broadcasts_three_ways_and_casts_branches() {
    let c = t(vec![1.0f64, 0.0, f64::NAN], &[3, 1]);
    let a = t1(vec![1i32, 2]);
    let b = Tensor::scalar(Scalar::F32(0.5));
    let r = run(Op::Where, &[&c, &a, &b]).unwrap();
    assert_eq!(r.dtype(), DType::F64);
    assert_eq!(r.shape(), &[3, 2]);
    assert_eq!(vals::<f64>(&r), vec![1.0, 2.0, 0.5, 0.5, 1.0, 2.0]);
    let same = run(
        Op::Where,
        &[
            &t1(vec![true, false]),
            &t1(vec![1i64, 2]),
            &t1(vec![3i64, 4]),
        ],
    );
    assert_eq!(vals::<i64>(&same.unwrap()), vec![1, 4]);
}

#[test]
fn cast_follows_astype() {
    let x = t1(vec![
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        3e9,
        -3e9,
        2.5,
        -2.5,
    ]);
    let r = run(Op::Cast(DType::I32), &[&x]).unwrap();
    let m = i32::MIN;
    assert_eq!(vals::<i32>(&r), vec![m, m, m, m, m, 2, -2]);
    let r = run(Op::Cast(DType::I64), &[&x]).unwrap();
    let m = i64::MIN;
    assert_eq!(
        vals::<i64>(&r),
        vec![m, m, m, 3_000_000_000, -3_000_000_000, 2, -2]
    );
    let r = run(Op::Cast(DType::Bool), &[&x]).unwrap();
    assert_eq!(vals::<bool>(&r), vec![true; 7]);
    let r = run(Op::Cast(DType::I32), &[&t1(vec![(1i64 << 40) + 3, -1])]).unwrap();
    assert_eq!(vals::<i32>(&r), vec![3, -1]);
    let r = run(Op::Cast(DType::F32), &[&t1(vec![true, false])]).unwrap();
    assert_eq!(vals::<f32>(&r), vec![1.0, 0.0]);
    let r = run(Op::Cast(DType::F32), &[&t1(vec![0.1f64])]).unwrap();
    assert_eq!(vals::<f32>(&r), vec![0.1f32]);
}

#[test]
fn execute_rejects_non_executable_ops_and_wrong_types() {
    let x = t1(vec![1.0f32]);
    let vt = x.value_type().clone();
    assert!(matches!(
        execute(&Op::Input { index: 0 }, &[], &vt),
        Err(EmberError::Value(_))
    ));
    assert!(matches!(
        execute(&Op::Output { index: 0 }, &[&x], &vt),
        Err(EmberError::Value(_))
    ));
    let wrong = ValueType::new(DType::F64, &[1]);
    assert!(execute(&Op::Unary(UnaryOp::Exp), &[&x], &wrong).is_err());
    assert!(execute(&Op::Unary(UnaryOp::Exp), &[], &vt).is_err());
    let same = execute(&Op::Copy(ember_ir::Device::Cpu), &[&x], &vt).unwrap();
    assert_eq!(same.data_ptr().unwrap(), x.data_ptr().unwrap());
}
