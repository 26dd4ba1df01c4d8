//! Runs the code of `examples/rust_embedding.rs` (included as a module, so the test exercises
//! exactly the example's functions) and checks its numbers against a plain f64 computation of
//! the same MLP; also checks the graph builder's contract (verification, errors, locations).

#[allow(dead_code)]
#[path = "../examples/rust_embedding.rs"]
mod example;

use ember::builder::{compile_graph, GraphBuilder};
use ember::ir::{verify, BinaryOp, Op, UnaryOp};
use ember::trace::Trace;
use ember::{DType, Device, EmberError, Scalar, Tensor};
use example::{build_mlp_graph, jit_mlp, predict, run_graph, sample_batch, Mlp};
use ndarray::Array2;

/// `softmax(relu(x @ w1 + b1) @ w2 + b2)` row by row, in f64 loops.
fn reference(mlp: &Mlp, x: &Array2<f32>) -> Array2<f64> {
    let (batch, inputs) = x.dim();
    let (hidden, classes) = (mlp.w1.ncols(), mlp.w2.ncols());
    let mut out = Array2::zeros((batch, classes));
    for r in 0..batch {
        let h: Vec<f64> = (0..hidden)
            .map(|j| {
                let s: f64 = (0..inputs)
                    .map(|i| x[[r, i]] as f64 * mlp.w1[[i, j]] as f64)
                    .sum();
                (s + mlp.b1[j] as f64).max(0.0)
            })
            .collect();
        let logits: Vec<f64> = (0..classes)
            .map(|c| {
                let s: f64 = (0..hidden).map(|j| h[j] * mlp.w2[[j, c]] as f64).sum();
                s + mlp.b2[c] as f64
            })
            .collect();
        let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logits.iter().map(|l| (l - m).exp()).sum();
        for c in 0..classes {
            out[[r, c]] = (logits[c] - m).exp() / z;
        }
    }
    out
}

fn assert_close(what: &str, got: &Array2<f32>, want: &Array2<f64>) {
    assert_eq!(got.dim(), want.dim(), "{what}: shape");
    for ((idx, &g), &w) in got.indexed_iter().zip(want.iter()) {
        assert!(
            (g as f64 - w).abs() <= 1e-6 + 1e-5 * w.abs(),
            "{what}: element {idx:?} is {g}, expected {w}"
        );
    }
}

#[test]
fn the_example_runs() {
    example::main().expect("the example runs without errors");
}

#[test]
fn jit_mlp_matches_the_f64_reference_and_caches() {
    let mlp = Mlp::new(4, 8, 3);
    let f = jit_mlp();
    for (batch, salt) in [(5, 0), (5, 1), (2, 2), (5, 3)] {
        let x = sample_batch(batch, 4, salt);
        let want = reference(&mlp, &x);
        let got = predict(&f, &mlp, x).unwrap();
        assert_close(&format!("jit batch {batch} salt {salt}"), &got, &want);
        for row in got.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6, "a softmax row sums to 1");
        }
    }
    let info = f.cache_info();
    assert_eq!((info.misses, info.hits), (2, 2));
    assert_eq!(
        info.retraces,
        ["argument 0 changed from f32[5,4] to f32[2,4]"]
    );
    assert!(info.fallbacks.is_empty());

    // New weights of the same shapes reuse the compiled plan.
    let other = Mlp::new(4, 8, 3);
    let mut other = other;
    other.w2.mapv_inplace(|v| -2.0 * v);
    let x = sample_batch(5, 4, 9);
    let got = predict(&f, &other, x.clone()).unwrap();
    assert_close("new weights", &got, &reference(&other, &x));
    assert_eq!(f.cache_info().misses, 2);
}

#[test]
fn hand_built_graph_matches_the_reference_and_the_jit() {
    let mlp = Mlp::new(4, 8, 3);
    let graph = build_mlp_graph(&mlp, 5).unwrap();
    verify(&graph).unwrap();
    // The text form reads like the code and round-trips.
    let text = graph.to_string();
    assert!(text.contains("softmax{axis=1}"), "{text}");
    assert!(text.contains("examples/rust_embedding.rs:"), "{text}");
    assert_eq!(ember::ir::Graph::parse(&text).unwrap().to_string(), text);

    let compiled = compile_graph(graph).unwrap();
    verify(&compiled.optimized).unwrap();
    // The composite was decomposed into primitives.
    let opt = compiled.optimized.to_string();
    assert!(!opt.contains("softmax") && opt.contains("exp"), "{opt}");
    for salt in 0..3 {
        let x = sample_batch(5, 4, salt);
        let want = reference(&mlp, &x);
        let got = run_graph(&compiled, x.clone()).unwrap();
        assert_close(&format!("hand-built graph salt {salt}"), &got, &want);
        let jitted = predict(&jit_mlp(), &mlp, x).unwrap();
        assert_close("jit vs reference", &jitted, &want);
    }
    // The plan checks its arguments.
    let wrong = Tensor::from(sample_batch(2, 4, 0).into_dyn());
    let e = compiled.run(&[wrong]).unwrap_err();
    assert!(e.to_string().contains("argument 0"), "{e}");
}

#[test]
fn builder_reports_type_errors_at_the_op_that_causes_them() {
    let mut b = GraphBuilder::new();
    let x = b.input(DType::F32, &[2, 3]);
    let y = b.input(DType::F32, &[4]);
    let e = b.op(Op::Binary(BinaryOp::Add), &[x, y]).unwrap_err();
    assert!(matches!(e, EmberError::Ir(_)), "{e:?}");
    assert!(e.to_string().contains("add"), "{e}");
    let e = b.op(Op::MatMul, &[x, x]).unwrap_err();
    assert!(e.to_string().contains("matmul"), "{e}");
    // The failed ops added nothing; the builder is still usable.
    let s = b.op(Op::Unary(UnaryOp::Sqrt), &[y]).unwrap();
    assert_eq!(b.value_type(s).unwrap().to_string(), "f32[4]");
    b.output(s).unwrap();
    let compiled = b.compile().unwrap();
    let out = compiled
        .run(&[
            Tensor::zeros(DType::F32, &[2, 3]).unwrap(),
            Tensor::from_vec(vec![0f32, 1.0, 4.0, 9.0], &[4]).unwrap(),
        ])
        .unwrap();
    assert_eq!(
        out[0].to_array::<f32>().unwrap().as_slice().unwrap(),
        [0.0, 1.0, 2.0, 3.0]
    );
}

#[test]
fn builder_scalars_keep_their_dtype_and_constants_copy_data() {
    let mut b = GraphBuilder::new();
    let x = b.input(DType::I32, &[3]);
    // An i32 scalar keeps the result i32; an f64 one promotes (no weak scalars in graphs).
    let three = b.scalar(Scalar::I32(3));
    let half = b.scalar(Scalar::F64(0.5));
    let c = b
        .constant(&Tensor::from_vec(vec![10i32, 20, 30], &[3]).unwrap())
        .unwrap();
    let y = b.op(Op::Binary(BinaryOp::Mul), &[x, three]).unwrap();
    let y = b.op(Op::Binary(BinaryOp::Add), &[y, c]).unwrap();
    let z = b.op(Op::Binary(BinaryOp::Mul), &[y, half]).unwrap();
    assert_eq!(b.value_type(y).unwrap().dtype, DType::I32);
    assert_eq!(b.value_type(z).unwrap().dtype, DType::F64);
    b.output(y).unwrap();
    b.output(z).unwrap();
    let out = b
        .compile()
        .unwrap()
        .run(&[Tensor::from_vec(vec![1i32, -2, i32::MAX], &[3]).unwrap()])
        .unwrap();
    // i32 arithmetic wraps, like NumPy.
    let wrapped = i32::MAX.wrapping_mul(3).wrapping_add(30);
    assert_eq!(
        out[0].to_scalars().unwrap(),
        [Scalar::I32(13), Scalar::I32(14), Scalar::I32(wrapped)]
    );
    assert_eq!(
        out[1].to_scalars().unwrap(),
        [
            Scalar::F64(6.5),
            Scalar::F64(7.0),
            Scalar::F64(wrapped as f64 * 0.5)
        ]
    );
}

#[test]
fn builder_rejects_traced_constants_and_stale_nodes() {
    let trace = Trace::new();
    let t = trace.input(ember::ir::ValueType::new(DType::F32, &[2]), Device::Cpu);
    let mut b = GraphBuilder::new();
    assert!(matches!(b.constant(&t), Err(EmberError::Trace(_))));
    let mut other = GraphBuilder::new();
    for _ in 0..3 {
        other.input(DType::F32, &[1]);
    }
    let stale = other.input(DType::F32, &[1]);
    assert!(b.op(Op::Unary(UnaryOp::Exp), &[stale]).is_err());
    assert!(b.value_type(stale).is_err());
}
