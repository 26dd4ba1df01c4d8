//! Minimal graphs on which a compiled path once disagreed with the eager oracle, found by
//! `tests/random_graphs.rs` and kept here as deterministic regression tests. Each graph runs
//! through the executable built from the graph as written and through `compile_graph`
//! (optimized); both must give the eager results (exactly for integers and bools, within
//! tolerance for floats, NaN equal to NaN) or, where eager raises, an error.

mod common;

use common::compare_all;
use ember::builder::compile_graph;
use ember::ir::{Graph, Op};
use ember::runtime::Executable;
use ember::trace::tensor_of;
use ember::{ops, Result, Tensor};

/// Runs `graph` node by node with the eager kernels (the oracle).
fn eager(graph: &Graph, args: &[Tensor]) -> Result<Vec<Tensor>> {
    let mut values = std::collections::HashMap::new();
    for id in graph.topo_order()? {
        let node = graph.node(id);
        let value = match &node.op {
            Op::Input { index } => args[*index].clone(),
            Op::Const(lit) => tensor_of(lit)?,
            Op::Output { .. } => continue,
            op => {
                let operands: Vec<&Tensor> =
                    graph.operands(id).iter().map(|o| &values[o]).collect();
                ops::apply(op.clone(), &operands)?
            }
        };
        values.insert(id, value);
    }
    Ok(graph
        .output_values()
        .iter()
        .map(|v| values[v].clone())
        .collect())
}

/// Checks both compiled paths of the graph `text` against eager on `args`.
fn check(text: &str, args: &[Tensor]) {
    let graph = Graph::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let want = eager(&graph, args);
    let unoptimized = Executable::new(&graph).and_then(|x| x.run(args));
    let optimized = compile_graph(graph).and_then(|c| c.run(args));
    let mut failures = Vec::new();
    for (path, got) in [("unoptimized", unoptimized), ("optimized", optimized)] {
        match (&want, got) {
            (Ok(want), Ok(got)) => {
                if let Err(m) = compare_all(path, &got, want) {
                    failures.push(m);
                }
            }
            (Ok(_), Err(e)) => failures.push(format!("{path}: failed: {e}")),
            (Err(e), Ok(got)) => failures.push(format!(
                "{path}: eager raised \"{e}\", the compiled graph returned {:?}",
                got.iter().map(|t| t.to_scalars()).collect::<Vec<_>>()
            )),
            (Err(_), Err(_)) => {}
        }
    }
    assert!(failures.is_empty(), "{}\n{text}", failures.join("\n"));
}

fn t<T: ember::Element>(v: &[T], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

/// A float sum with an infinite term is that infinity (compensated summation must not turn
/// `inf - inf` into NaN).
#[test]
fn a_sum_with_an_infinite_term_is_infinite() {
    let sum = "%0 = input 0 : f32[3]\n%1 = sum{axes=[0], keepdims=false} %0\noutput 0 %1\n";
    check(sum, &[t(&[1.0f32, f32::INFINITY, 2.0], &[3])]);
    let sum = "%0 = input 0 : f64[2]\n%1 = sum{axes=[0], keepdims=false} %0\noutput 0 %1\n";
    check(sum, &[t(&[f64::NEG_INFINITY, 2.0], &[2])]);
    // Reducing over no axes is the identity, infinities included.
    let none = "%0 = input 0 : f64[]\n%1 = sum{axes=[], keepdims=false} %0\noutput 0 %1\n";
    check(none, &[t(&[f64::NEG_INFINITY], &[])]);
}

/// `np.reciprocal` of integer 0: NumPy computes `1.0 / 0` and converts `inf` back (x86-64:
/// the minimum integer).
#[test]
fn integer_reciprocal_of_zero() {
    let g = "%0 = input 0 : i32[3]\n%1 = reciprocal %0\noutput 0 %1\n";
    check(g, &[t(&[0i32, -1, 2], &[3])]);
    let g = "%0 = input 0 : i64[1]\n%1 = reciprocal %0\noutput 0 %1\n";
    check(g, &[t(&[0i64], &[1])]);
}

/// Float to integer casts of NaN, infinities and out-of-range values (NumPy on x86-64: the
/// minimum integer).
#[test]
fn float_to_int_casts_of_nan_infinity_and_out_of_range_values() {
    let x = t(
        &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e9, -3e9, 2.7],
        &[6],
    );
    check(
        "%0 = input 0 : f32[6]\n%1 = cast{i32} %0\noutput 0 %1\n",
        std::slice::from_ref(&x),
    );
    check(
        "%0 = input 0 : f32[6]\n%1 = cast{i64} %0\noutput 0 %1\n",
        &[x],
    );
    let y = t(&[f64::NAN, f64::INFINITY, 1e19, -2.7], &[4]);
    check(
        "%0 = input 0 : f64[4]\n%1 = cast{i64} %0\noutput 0 %1\n",
        &[y],
    );
}

/// Integers to negative integer powers raise (NumPy's `ValueError`), compiled or not.
#[test]
fn integer_power_with_a_negative_exponent_raises() {
    let g = "%0 = input 0 : i64[3]\n%1 = input 1 : i64[3]\n%2 = power %0, %1\noutput 0 %2\n";
    check(g, &[t(&[2i64, 1, 3], &[3]), t(&[-1i64, -1, 2], &[3])]);
}

/// A chain of reshapes feeding a concatenation.
#[test]
fn a_reshape_chain_feeding_concat_runs() {
    let g = "%0 = input 0 : i32[2]\n%1 = reshape{shape=[1,2]} %0\n%2 = reshape{shape=[2,1]} %1\n\
             %3 = concat{axis=0} %2, %2\noutput 0 %3\n";
    check(g, &[t(&[1i32, 2], &[2])]);
}

/// A fused reduction over an empty input whose elementwise producer is also an output: the
/// sum is its identity, not uninitialized memory (the mean of nothing is `0 / 0`, NaN; a
/// garbage denormal would make it infinite).
#[test]
fn a_fused_reduction_of_an_empty_input_with_two_outputs() {
    let sum = "%0 = input 0 : f64[0]\n%1 = exp %0\n%2 = sum{axes=[0], keepdims=false} %1\n\
               %3 = const f64[] 0.0\n%4 = divide %2, %3\noutput 0 %4\noutput 1 %1\n";
    let prod = "%0 = input 0 : f32[2,0]\n%1 = exp %0\n%2 = prod{axes=[1], keepdims=false} %1\n\
                output 0 %2\noutput 1 %1\n";
    for _ in 0..4 {
        check(sum, &[t::<f64>(&[], &[0])]);
        check(prod, &[t::<f32>(&[], &[2, 0])]);
    }
}

/// A reduction over no axes (the identity) followed by an elementwise op and a real
/// reduction, both results returned.
#[test]
fn an_empty_axes_reduction_before_a_reduction_keeps_every_element() {
    let g = "%0 = input 0 : f64[2]\n%1 = sum{axes=[], keepdims=false} %0\n%2 = negative %1\n\
             %3 = sum{axes=[0], keepdims=false} %2\noutput 0 %3\noutput 1 %2\n";
    check(g, &[t(&[32.0f64, 4.0], &[2])]);
}

/// `maximum`/`minimum` of equal values return the second operand, as NumPy's x86-64 loops do,
/// so signed zeros come out the same (visible through `1 / x`); `relu(x)` is
/// `maximum(x, 0)`, so `relu(-0.0)` is `+0.0`.
#[test]
fn maximum_minimum_and_relu_of_signed_zeros() {
    for op in ["minimum", "maximum"] {
        let g = format!(
            "%0 = input 0 : f32[2]\n%1 = input 1 : f32[2]\n%2 = {op} %0, %1\n\
             %3 = const f32[] 1.0\n%4 = divide %3, %2\noutput 0 %4\n"
        );
        check(&g, &[t(&[-0.0f32, 0.0], &[2]), t(&[0.0f32, -0.0], &[2])]);
    }
    let g = "%0 = input 0 : f64[2]\n%1 = relu %0\n%2 = const f64[] 1.0\n%3 = divide %2, %1\n\
             output 0 %3\n";
    check(g, &[t(&[-0.0f64, 0.0], &[2])]);
}

/// Odd functions keep the sign of zero: `sin(-0.0)` is `-0.0` (visible through `1 / x`), and
/// so is `expm1(-0.0)`.
#[test]
fn functions_of_negative_zero_keep_its_sign() {
    for f in [
        "sin", "tan", "arcsin", "arctan", "sinh", "tanh", "erf", "expm1", "log1p", "sqrt", "cbrt",
        "arcsinh", "arctanh",
    ] {
        for dtype in ["f32", "f64"] {
            let g = format!(
                "%0 = input 0 : {dtype}[2]\n%1 = {f} %0\n%2 = const {dtype}[] 1.0\n\
                 %3 = divide %2, %1\noutput 0 %3\n"
            );
            let x = if dtype == "f32" {
                t(&[-0.0f32, 0.0], &[2])
            } else {
                t(&[-0.0f64, 0.0], &[2])
            };
            check(&g, &[x]);
        }
    }
}

/// The math library functions (called per element by compiled code) on edge values, fused
/// with arithmetic before and after: poles, branch points, signed zeros, subnormals, huge
/// magnitudes, infinities and NaN; and `hypot`, `copysign`, `fmod` of every pair of them.
#[test]
fn math_library_functions_at_their_edges() {
    let edges = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -2.0,
        8.0,
        27.0,
        1000.0,
        5e-324,
        1e-300,
        1e300,
        f64::MAX,
        1024.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let n = edges.len();
    for f in [
        "log2", "log10", "exp2", "cbrt", "arcsinh", "arccosh", "arctanh",
    ] {
        for dtype in ["f32", "f64"] {
            let g = format!(
                "%0 = input 0 : {dtype}[{n}]\n%1 = {f} %0\n%2 = const {dtype}[] 1.0\n\
                 %3 = divide %2, %1\n%4 = negative %0\n%5 = {f} %4\n%6 = add %5, %2\n\
                 output 0 %1\noutput 1 %3\noutput 2 %6\n"
            );
            let x = if dtype == "f32" {
                t(&edges.map(|v| v as f32), &[n])
            } else {
                t(&edges, &[n])
            };
            check(&g, &[x]);
        }
    }
    for f in ["hypot", "copysign", "fmod"] {
        for dtype in ["f32", "f64"] {
            let g = format!(
                "%0 = input 0 : {dtype}[{n}, 1]\n%1 = input 1 : {dtype}[{n}]\n\
                 %2 = {f} %0, %1\noutput 0 %2\n"
            );
            let (a, b) = if dtype == "f32" {
                let e = edges.map(|v| v as f32);
                (t(&e, &[n, 1]), t(&e, &[n]))
            } else {
                (t(&edges, &[n, 1]), t(&edges, &[n]))
            };
            check(&g, &[a, b]);
        }
    }
    let ints = [0i64, 1, -1, 7, -7, 3, -3, i64::MIN, i64::MAX];
    let m = ints.len();
    let g = format!(
        "%0 = input 0 : i64[{m}, 1]\n%1 = input 1 : i64[{m}]\n%2 = fmod %0, %1\noutput 0 %2\n"
    );
    check(&g, &[t(&ints, &[m, 1]), t(&ints, &[m])]);
}

/// The child half of [`integer_floor_divide_of_min_by_minus_one_does_not_abort`]: run alone,
/// because a panic inside compiled code aborts the whole process.
#[test]
#[ignore = "run in a child process by integer_floor_divide_of_min_by_minus_one_does_not_abort"]
fn floor_divide_min_by_minus_one_child() {
    for op in ["floor_divide", "remainder", "fmod"] {
        let g = format!(
            "%0 = input 0 : i64[2]\n%1 = input 1 : i64[2]\n%2 = {op} %0, %1\noutput 0 %2\n"
        );
        check(&g, &[t(&[i64::MIN, 7], &[2]), t(&[-1i64, -1], &[2])]);
        let g = g.replace("i64", "i32");
        check(&g, &[t(&[i32::MIN, 7], &[2]), t(&[-1i32, -1], &[2])]);
    }
}

/// `MIN // -1` wraps to `MIN` and `MIN % -1` is 0, as in NumPy; the compiled path must not
/// panic (a panic inside JIT code cannot unwind and aborts the process).
#[test]
fn integer_floor_divide_of_min_by_minus_one_does_not_abort() {
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "floor_divide_min_by_minus_one_child",
            "--nocapture",
        ])
        .output()
        .expect("the child test runs");
    assert!(
        out.status.success(),
        "the child failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::trim_start)
            .filter(|l| !l.starts_with("at ") && !l.starts_with(|c: char| c.is_ascii_digit()))
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
