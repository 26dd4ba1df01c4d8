//! Writes eager results for every unary/binary op on every dtype (pair) to a file, for a
//! local comparison with NumPy (`EMBER_EAGER_DUMP=path cargo test -p ember --lib
//! eager::tests::dump -- --ignored`). Not part of the regular suite.

use super::*;
use ember_ir::{DType, Scalar};
use std::fmt::Write as _;

fn sample(d: DType, alt: bool) -> Tensor {
    let f: Vec<f64> = if alt {
        vec![2.0, -1.0, 0.0, 3.0, -2.0, 7.0, 1.0, -1.0, 0.5, f64::NAN]
    } else {
        vec![
            -3.5,
            -1.0,
            -0.0,
            0.0,
            2.5,
            7.0,
            f64::NAN,
            f64::INFINITY,
            -2.0,
            3.0,
        ]
    };
    let i: Vec<i64> = if alt {
        vec![2, -1, 0, 3, -2, 7, 1, -1, 5, 31]
    } else {
        vec![-3, -1, 0, 0, 2, 7, i32::MIN as i64, i32::MAX as i64, -2, 3]
    };
    match d {
        DType::Bool => t1(i.iter().map(|&v| v % 2 != 0).collect::<Vec<bool>>()),
        DType::I32 => t1(i.iter().map(|&v| v as i32).collect::<Vec<i32>>()),
        DType::I64 => t1(i),
        DType::F32 => t1(f.iter().map(|&v| v as f32).collect::<Vec<f32>>()),
        DType::F64 => t1(f),
    }
}

fn show(r: Result<Tensor>) -> String {
    match r {
        Err(e) => format!("ERR {e}"),
        Ok(t) => {
            let v: Vec<String> = t
                .to_scalars()
                .unwrap()
                .into_iter()
                .map(|s| match s {
                    Scalar::F32(x) => format!("{:?}", x as f64),
                    s => format!("{s}"),
                })
                .collect();
            format!("{} {}", t.dtype(), v.join(","))
        }
    }
}

#[test]
#[ignore = "writes a file for a local NumPy comparison"]
fn dump_elementwise() {
    let Ok(path) = std::env::var("EMBER_EAGER_DUMP") else {
        return;
    };
    let mut s = String::new();
    for &op in UnaryOp::ALL {
        for d in DType::ALL {
            let r = run(Op::Unary(op), &[&sample(d, false)]);
            writeln!(s, "U {} {} | {}", op.name(), d, show(r)).unwrap();
        }
    }
    for &op in BinaryOp::ALL {
        for a in DType::ALL {
            for b in DType::ALL {
                let r = run(Op::Binary(op), &[&sample(a, false), &sample(b, true)]);
                writeln!(s, "B {} {} {} | {}", op.name(), a, b, show(r)).unwrap();
            }
        }
    }
    for a in DType::ALL {
        for b in DType::ALL {
            let r = run(Op::Cast(b), &[&sample(a, false)]);
            writeln!(s, "C {} {} | {}", a, b, show(r)).unwrap();
        }
    }
    std::fs::write(path, s).unwrap();
}

#[test]
#[ignore = "writes a file for a local NumPy comparison"]
fn dump_reductions() {
    use ember_ir::ReduceOp;
    let Ok(path) = std::env::var("EMBER_EAGER_DUMP_REDUCE") else {
        return;
    };
    let shape = [7usize, 9, 130];
    let n: usize = shape.iter().product();
    let base: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 7.0 - 50.0)
        .collect();
    let mut s = String::new();
    for d in DType::ALL {
        let x = run(Op::Cast(d), &[&t(base.clone(), &shape)]).unwrap();
        for perm in [[0usize, 1, 2], [2, 0, 1]] {
            let xp = run(Op::Permute(perm.into_iter().collect()), &[&x]).unwrap();
            for mask in 1..8usize {
                let axes: smallvec::SmallVec<[usize; 4]> =
                    (0..3).filter(|a| mask & (1 << a) != 0).collect();
                for &op in ReduceOp::ALL {
                    if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) && axes.len() != 1 {
                        continue;
                    }
                    let r = run(
                        Op::Reduce {
                            op,
                            axes: axes.clone(),
                            keepdims: false,
                        },
                        &[&xp],
                    );
                    let a: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
                    writeln!(
                        s,
                        "{} {} {:?} {} | {}",
                        op.name(),
                        d,
                        perm,
                        a.join(","),
                        show(r)
                    )
                    .unwrap();
                }
            }
        }
    }
    std::fs::write(path, s).unwrap();
}
