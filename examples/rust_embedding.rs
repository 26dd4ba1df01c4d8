//! Embedding Ember in a Rust program, two ways:
//!
//! 1. `ember::jit` over a Rust closure of tensors: ndarray arrays go in (without a copy), the
//!    closure is traced once per argument signature, optimized, compiled and cached, and the
//!    results come back as ndarray arrays. The closure is ordinary code on [`ember::ops`]; run
//!    outside `jit` it computes eagerly.
//! 2. A graph built by hand with [`GraphBuilder`] (arguments, constants, ops, outputs), then
//!    optimized and run with the same compiler.
//!
//! Both compute one small MLP, `softmax(relu(x @ w1 + b1) @ w2 + b2)` over classes:
//!
//! ```text
//! cargo run --example rust_embedding
//! ```
//!
//! `tests/example_rust_embedding.rs` runs these same functions and checks the numbers
//! against a plain f64 computation.

use ember::builder::{compile_graph, GraphBuilder};
use ember::ir::{BinaryOp, Composite, Graph, Op, UnaryOp};
use ember::jit::Compiled;
use ember::{ops, DType, EmberError, JitFn, Result, Tensor};
use ndarray::{Array1, Array2, Ix2};

/// The parameters of a two-layer perceptron.
#[derive(Clone, Debug)]
pub struct Mlp {
    /// Input-to-hidden weights, `[inputs, hidden]`.
    pub w1: Array2<f32>,
    /// Hidden bias, `[hidden]`.
    pub b1: Array1<f32>,
    /// Hidden-to-class weights, `[hidden, classes]`.
    pub w2: Array2<f32>,
    /// Class bias, `[classes]`.
    pub b2: Array1<f32>,
}

impl Mlp {
    /// Deterministic parameters in `[-0.5, 0.5)` (a real program would load trained ones).
    pub fn new(inputs: usize, hidden: usize, classes: usize) -> Mlp {
        let val =
            |i: usize, j: usize, salt: usize| ((i * 7 + j * 3 + salt) % 11) as f32 / 11.0 - 0.5;
        Mlp {
            w1: Array2::from_shape_fn((inputs, hidden), |(i, j)| val(i, j, 1)),
            b1: Array1::from_shape_fn(hidden, |j| val(j, 0, 2) * 0.1),
            w2: Array2::from_shape_fn((hidden, classes), |(i, j)| val(i, j, 5)),
            b2: Array1::from_shape_fn(classes, |j| val(0, j, 3) * 0.1),
        }
    }
}

/// A deterministic batch of inputs, `[batch, inputs]`.
pub fn sample_batch(batch: usize, inputs: usize, salt: usize) -> Array2<f32> {
    Array2::from_shape_fn((batch, inputs), |(i, j)| {
        ((i * 5 + j * 13 + salt) % 17) as f32 / 4.0 - 2.0
    })
}

/// The forward pass on tensors. The same code runs eagerly on concrete tensors and records a
/// graph when `jit` calls it with traced ones.
pub fn forward(x: &Tensor, w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor) -> Result<Tensor> {
    let hidden = ops::relu(&ops::add(&ops::matmul(x, w1)?, b1)?)?;
    let logits = ops::add(&ops::matmul(&hidden, w2)?, b2)?;
    ops::softmax(&logits, -1)
}

/// Part 1: the forward pass as a jitted function of `[x, w1, b1, w2, b2]`. Passing the
/// parameters as arguments (rather than closing over them) keeps them out of the compiled
/// graph, so new weights of the same shapes reuse the cached compilation.
pub fn jit_mlp() -> JitFn<impl Fn(&[Tensor]) -> Result<Vec<Tensor>>> {
    ember::jit(|a: &[Tensor]| Ok(vec![forward(&a[0], &a[1], &a[2], &a[3], &a[4])?])).named("mlp")
}

/// Runs the jitted MLP on a batch: ndarray in, ndarray out. `Tensor::from` takes each
/// array's buffer without copying.
pub fn predict<F>(f: &JitFn<F>, mlp: &Mlp, x: Array2<f32>) -> Result<Array2<f32>>
where
    F: Fn(&[Tensor]) -> Result<Vec<Tensor>>,
{
    let args = [
        Tensor::from(x.into_dyn()),
        Tensor::from(mlp.w1.clone().into_dyn()),
        Tensor::from(mlp.b1.clone().into_dyn()),
        Tensor::from(mlp.w2.clone().into_dyn()),
        Tensor::from(mlp.b2.clone().into_dyn()),
    ];
    let out = f.call(&args)?;
    to_matrix(&out[0])
}

/// Part 2: the same MLP as a graph built by hand, for a fixed batch size, with the
/// parameters baked in as constants.
pub fn build_mlp_graph(mlp: &Mlp, batch: usize) -> Result<Graph> {
    let mut b = GraphBuilder::new();
    let x = b.input(DType::F32, &[batch, mlp.w1.nrows()]);
    let w1 = b.constant(&Tensor::from(mlp.w1.clone().into_dyn()))?;
    let b1 = b.constant(&Tensor::from(mlp.b1.clone().into_dyn()))?;
    let w2 = b.constant(&Tensor::from(mlp.w2.clone().into_dyn()))?;
    let b2 = b.constant(&Tensor::from(mlp.b2.clone().into_dyn()))?;

    let h = b.op(Op::MatMul, &[x, w1])?;
    let h = b.op(Op::Binary(BinaryOp::Add), &[h, b1])?;
    let h = b.op(Op::Unary(UnaryOp::Relu), &[h])?;
    let logits = b.op(Op::MatMul, &[h, w2])?;
    let logits = b.op(Op::Binary(BinaryOp::Add), &[logits, b2])?;
    // Composite ops keep the graph readable; the optimizer decomposes them into primitives.
    let probs = b.op(Op::Composite(Composite::Softmax { axis: 1 }), &[logits])?;
    b.output(probs)?;
    b.finish()
}

/// Runs a compiled hand-built graph on a batch.
pub fn run_graph(compiled: &Compiled, x: Array2<f32>) -> Result<Array2<f32>> {
    let out = compiled.run(&[Tensor::from(x.into_dyn())])?;
    to_matrix(&out[0])
}

/// A 2-d float32 tensor as an owned ndarray matrix.
fn to_matrix(t: &Tensor) -> Result<Array2<f32>> {
    t.to_array::<f32>()?
        .into_dimensionality::<Ix2>()
        .map_err(|e| EmberError::Value(format!("expected a matrix: {e}")))
}

/// Runs both parts and prints what happened.
pub fn main() -> Result<()> {
    let mlp = Mlp::new(4, 8, 3);

    // Part 1: jit. The second batch has the same shapes: a cache hit, no retrace.
    let f = jit_mlp();
    let p1 = predict(&f, &mlp, sample_batch(5, 4, 0))?;
    let p2 = predict(&f, &mlp, sample_batch(5, 4, 1))?;
    // A different batch size is a new signature: traced again, with the reason recorded.
    let p3 = predict(&f, &mlp, sample_batch(2, 4, 2))?;
    println!("jit probabilities (batch 1):\n{p1:.4}");
    println!("rows sum to {:?}", p1.sum_axis(ndarray::Axis(1)).to_vec());
    println!(
        "batch 2 row 0: {:.4}, batch 3 row 0: {:.4}",
        p2.row(0),
        p3.row(0)
    );
    let info = f.cache_info();
    println!(
        "cache: {} hit(s), {} miss(es), retraces {:?}, fallbacks {:?}",
        info.hits, info.misses, info.retraces, info.fallbacks
    );

    // Part 2: the same network as a hand-built graph.
    let graph = build_mlp_graph(&mlp, 5)?;
    println!("\nhand-built graph:\n{graph}");
    let compiled = compile_graph(graph)?;
    println!(
        "optimized ({}):\n{}",
        compiled.plan_summary(),
        compiled.optimized
    );
    let q1 = run_graph(&compiled, sample_batch(5, 4, 0))?;
    let max_diff = (&q1 - &p1).mapv(f32::abs).fold(0.0f32, |m, &v| m.max(v));
    println!("hand-built graph vs jit: max difference {max_diff:e}");
    Ok(())
}
