//! `any` and `all` reductions in vector loops: the lane masks of the comparisons (or of the
//! loaded bools) are or'ed / and'ed across the loop and tested once at the end. Every result
//! matches the interpreter, with the one deciding element anywhere: first, last, in the
//! scalar tail, in any lane of any unrolled vector; over every axis; contiguous and strided.

mod common;

use common::{backend, buffer, check, Rng};
use ember_ir::kernel::Kernel;
use ember_ir::passes::fuse::partition;
use ember_ir::{BinaryOp, DType, Device, Graph, Literal, Op, ReduceOp, Scalar, ValueType};

/// `op(x > 0, axes)` for a numeric `dtype`, `op(x, axes)` for bools: the schedule's kernel.
fn kernel(dtype: DType, shape: &[usize], op: ReduceOp, axes: &[usize]) -> Kernel {
    let mut g = Graph::new();
    let x = g.input(ValueType::new(dtype, shape), Device::Cpu);
    let b = if dtype == DType::Bool {
        x
    } else {
        let zero = g
            .add(Op::Const(Literal::scalar(Scalar::F64(0.0))), &[], None)
            .unwrap();
        let zero = g.add(Op::Cast(dtype), &[zero], None).unwrap();
        g.add(Op::Binary(BinaryOp::Gt), &[x, zero], None).unwrap()
    };
    let r = g
        .add(
            Op::Reduce {
                op,
                axes: axes.iter().copied().collect(),
                keepdims: false,
            },
            &[b],
            None,
        )
        .unwrap();
    g.output(r).unwrap();
    let s = partition(&g).unwrap();
    assert_eq!(s.kernel_count(), 1, "one kernel\n{g}");
    s.kernels()[0].kernel.clone()
}

/// The shape of the kernel's input argument (fusion merges and drops axes).
fn in_shape(k: &Kernel) -> &[usize] {
    &k.args.iter().find(|a| !a.output).expect("an input").shape
}

/// Values that are all "false" (not > 0) for `any`, all "true" for `all`, except at `hot`.
fn values(n: usize, op: ReduceOp, hot: &[usize]) -> Vec<f64> {
    let (usual, odd) = if op == ReduceOp::Any {
        (0.0, 1.0)
    } else {
        (1.0, 0.0)
    };
    (0..n)
        .map(|i| if hot.contains(&i) { odd } else { usual })
        .collect()
}

#[test]
fn full_any_and_all_find_one_deciding_element_anywhere() {
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool] {
        for op in [ReduceOp::Any, ReduceOp::All] {
            for n in [1usize, 2, 5, 16, 37, 64, 1001] {
                let k = kernel(dtype, &[n], op, &[0]);
                let mut places: Vec<Vec<usize>> = vec![vec![], vec![0], vec![n - 1]];
                places.extend((0..n.min(40)).map(|i| vec![i]));
                places.push(vec![n / 2, n / 3]);
                for hot in places {
                    for strided in [false, true] {
                        let x = buffer(dtype, in_shape(&k), &values(n, op, &hot), strided);
                        check(&k, &[x], 0.0, 0.0);
                    }
                }
            }
        }
    }
}

#[test]
fn any_and_all_along_every_axis_of_random_masks() {
    let mut rng = Rng(0xa11);
    for dtype in [DType::F32, DType::F64, DType::I64, DType::Bool] {
        for shape in [[3usize, 5], [33, 101], [257, 65]] {
            for axes in [&[0usize][..], &[1], &[0, 1]] {
                for op in [ReduceOp::Any, ReduceOp::All] {
                    let k = kernel(dtype, &shape, op, axes);
                    let n = shape[0] * shape[1];
                    // Sparse exceptions: some rows and columns decided, most not.
                    let hot: Vec<usize> = (0..n / 50 + 1).map(|_| rng.below(n)).collect();
                    for strided in [false, true] {
                        let x = buffer(dtype, in_shape(&k), &values(n, op, &hot), strided);
                        check(&k, &[x], 0.0, 0.0);
                    }
                }
            }
        }
    }
}

#[test]
fn large_any_and_all_vectorize() {
    for dtype in [DType::F32, DType::F64, DType::I32, DType::I64] {
        for op in [ReduceOp::Any, ReduceOp::All] {
            // Large enough to be split across threads: the parts' loop is the parallel one.
            let n = 1 << 20;
            let k = kernel(dtype, &[n], op, &[0]);
            let step = backend().compile(&k).expect("compile").vector_step();
            assert!(step > 1, "{dtype} {op:?}: vector step {step}\n{k}");
            let x = buffer(dtype, in_shape(&k), &values(n, op, &[n - 3]), false);
            check(&k, &[x], 0.0, 0.0);
        }
    }
}

#[test]
fn large_bool_scans_stop_early_and_match_the_interpreter() {
    // Full bool any/all run as one byte scan (not split over the pool) that stops at the
    // first deciding block: the deciding byte at the start, inside a block, at the end, in
    // the tail, or nowhere; contiguous (the scan) and strided (the loop as written).
    let n = (1 << 17) + 77; // past the split threshold (`SPLIT_MIN_WORK`)
    for op in [ReduceOp::Any, ReduceOp::All] {
        let k = kernel(DType::Bool, &[n], op, &[0]);
        for hot in [
            vec![],
            vec![0],
            vec![300],
            vec![n / 2],
            vec![n - 1],
            vec![7, n - 2],
        ] {
            for strided in [false, true] {
                let x = buffer(DType::Bool, in_shape(&k), &values(n, op, &hot), strided);
                check(&k, &[x], 0.0, 0.0);
            }
        }
    }
}

#[test]
fn bool_scan_next_to_a_split_sum() {
    // A kernel whose float sum splits over the pool while the bool scan beside it runs in
    // place as a row call: both results match the interpreter.
    let n = 1 << 18;
    let text = format!(
        "kernel both(out a0: bool[], out a1: f64[], in a2: bool[{n}], in a3: f64[{n}]) {{
  %0 = acc any:bool
  for %1 in 0..{n} {{
    %2 = load a2[%1]
    update %0, %2
  }}
  %3 = acc sum:f64
  for %4 in 0..{n} {{
    %5 = load a3[%4]
    update %3, %5
  }}
  store a0[], %0
  store a1[], %3
}}"
    );
    let k = ember_ir::kernel::parse::parse(&text).expect("parse");
    let mut rng = Rng(0xb001);
    let xs: Vec<f64> = (0..n).map(|_| rng.below(1000) as f64 - 500.0).collect();
    for hot in [vec![], vec![5], vec![n - 1]] {
        for strided in [false, true] {
            let b = buffer(DType::Bool, &[n], &values(n, ReduceOp::Any, &hot), strided);
            let x = buffer(DType::F64, &[n], &xs, false);
            check(&k, &[b, x], 0.0, 0.0);
        }
    }
}
