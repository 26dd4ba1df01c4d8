//! Partitioning decisions the runtime depends on: what stays eager, what must be computed.

use super::{partition, Schedule, Step};
use crate::graph::{Graph, NodeId};

fn schedule(text: &str) -> (Graph, Schedule) {
    let g = Graph::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let s = partition(&g).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (g, s)
}

fn fallbacks(s: &Schedule) -> Vec<NodeId> {
    s.steps
        .iter()
        .filter_map(|st| match st {
            Step::Fallback(n) => Some(*n),
            _ => None,
        })
        .collect()
}

fn op_of(g: &Graph, n: NodeId) -> &'static str {
    g.node(n).op.name()
}

#[test]
fn integer_power_runs_eagerly_unless_the_exponent_is_a_non_negative_constant() {
    let var = "%0 = input 0 : i64[3]\n%1 = input 1 : i64[3]\n%2 = power %0, %1\noutput 0 %2\n";
    let (g, s) = schedule(var);
    assert_eq!(s.kernel_count(), 0);
    assert_eq!(
        fallbacks(&s)
            .iter()
            .map(|&n| op_of(&g, n))
            .collect::<Vec<_>>(),
        ["power"]
    );
    let negative = "%0 = input 0 : i32[3]\n%1 = const i32[] -2\n%2 = power %0, %1\noutput 0 %2\n";
    assert_eq!(schedule(negative).1.kernel_count(), 0);
    let fine = "%0 = input 0 : i32[3]\n%1 = const i32[] 3\n%2 = power %0, %1\noutput 0 %2\n";
    let (_, s) = schedule(fine);
    assert_eq!((s.kernel_count(), fallbacks(&s).len()), (1, 0));
    // Float powers never raise.
    let float = "%0 = input 0 : f32[3]\n%1 = input 1 : f32[3]\n%2 = power %0, %1\noutput 0 %2\n";
    assert_eq!(schedule(float).1.kernel_count(), 1);
}

#[test]
fn a_reshape_needed_as_a_buffer_computes_the_reshapes_under_it() {
    let text = "%0 = input 0 : i32[2]\n%1 = reshape{shape=[1,2]} %0\n\
                %2 = reshape{shape=[2,1]} %1\n%3 = concat{axis=0} %2, %2\noutput 0 %3\n";
    let (g, s) = schedule(text);
    let f = fallbacks(&s);
    assert_eq!(
        f.iter().map(|&n| op_of(&g, n)).collect::<Vec<_>>(),
        ["reshape", "reshape", "concat"]
    );
    assert!(f[0] < f[1], "the inner reshape runs first");
}

#[test]
fn a_reduction_over_no_axes_is_elementwise() {
    let text = "%0 = input 0 : f64[2]\n%1 = sum{axes=[], keepdims=false} %0\n%2 = negative %1\n\
                %3 = sum{axes=[0], keepdims=false} %2\noutput 0 %3\noutput 1 %2\n";
    let (_, s) = schedule(text);
    assert_eq!(s.kernel_count(), 1);
    let k = &s.kernels()[0].kernel;
    let accs = k
        .body
        .iter()
        .filter(|i| matches!(i, crate::kernel::Inst::Acc { .. }))
        .count();
    assert_eq!(accs, 1, "{k}");
    // argmax needs one axis: eager raises.
    let arg = "%0 = input 0 : f64[2]\n%1 = argmax{axes=[], keepdims=false} %0\noutput 0 %1\n";
    if let Ok(g) = Graph::parse(arg) {
        let s = partition(&g).unwrap();
        assert_eq!(s.kernel_count(), 0);
    }
}

#[test]
fn a_row_kernel_reads_a_reduction_per_row_only_with_kept_dims() {
    // `sum(e, axis=1) + e` on a square `e` broadcasts the sums along the rows (out[i, j] =
    // s[j] + e[i, j]): the consumer reads `e` per row, but the sums per column, so it must
    // not join the row kernel that reduces (it did, through `e`, and added s[i]).
    let text = "%0 = input 0 : f64[4,4]\n%1 = exp %0\n%2 = sum{axes=[1], keepdims=false} %1\n\
                %3 = add %2, %1\noutput 0 %3\n";
    assert_eq!(schedule(text).1.kernel_count(), 2);
    let kept = text.replace("keepdims=false} %1", "keepdims=true} %1");
    assert_eq!(schedule(&kept).1.kernel_count(), 1);
}

#[test]
fn empty_elementwise_values_are_not_kernel_outputs() {
    let text = "%0 = input 0 : f32[2,0]\n%1 = exp %0\n%2 = prod{axes=[1], keepdims=false} %1\n\
                output 0 %2\noutput 1 %1\n";
    let (g, s) = schedule(text);
    for k in s.kernels() {
        for &o in &k.outputs {
            assert!(g.node(o).ty.numel() > 0, "{}", k.kernel);
        }
    }
    assert_eq!(s.kernel_count(), 1);
}

#[test]
fn a_kernel_never_reads_its_own_output_through_a_reshape() {
    // `negative` and `add` share the input and the domain, but `add` reads `negative`'s
    // buffer through a reshape: merged, the kernel would load what it is still writing.
    let text = "%0 = input 0 : i32[1,1]\n%1 = negative %0\n%2 = reshape{shape=[1]} %1\n\
                %3 = add %0, %2\noutput 0 %3\n";
    let (_, s) = schedule(text);
    for k in s.kernels() {
        for o in &k.outputs {
            assert!(!k.inputs.contains(o), "{}", k.kernel);
        }
    }
    assert_eq!(s.kernel_count(), 2);
}

/// A chain of thousands of elementwise ops fuses into one kernel without recursing once per
/// op (it overflowed the stack of Python's main thread at 1500 ops): run on a thread with a
/// small stack.
#[test]
fn long_elementwise_chains_do_not_overflow_the_stack() {
    let mut text = String::from("%0 = input 0 : f32[16]\n%1 = const f32[] 0.5\n");
    let n = 20_000;
    for i in 0..n {
        let op = if i % 2 == 0 { "tanh" } else { "add" };
        if op == "tanh" {
            text += &format!("%{} = tanh %{}\n", i + 2, i + 1);
        } else {
            text += &format!("%{} = add %{}, %1\n", i + 2, i + 1);
        }
    }
    text += &format!("output 0 %{}\n", n + 1);
    let s = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || schedule(&text).1.kernel_count())
        .expect("thread")
        .join()
        .expect("partition overflowed its stack");
    assert_eq!(s, 1);
}

/// The declared shapes of the first kernel's arguments.
fn kernel_arg_shapes(s: &Schedule) -> Vec<Vec<usize>> {
    s.kernels()[0]
        .kernel
        .args
        .iter()
        .map(|a| a.shape.to_vec())
        .collect()
}

#[test]
fn kernels_reading_permuted_or_sliced_views_keep_their_dimensions() {
    // Plain inputs: the elementwise domain collapses to one loop.
    let plain = "%0 = input 0 : f32[8,16]\n%1 = const f32[] 1.0\n%2 = add %0, %1\noutput 0 %2\n";
    assert_eq!(
        kernel_arg_shapes(&schedule(plain).1),
        [vec![128], vec![128]]
    );
    // A transposed view: its strides (1, 16) cannot be viewed as one loop, so the kernel keeps
    // both dimensions and the runtime passes the view's strides instead of copying it.
    let permuted = "%0 = input 0 : f32[16,8]\n%1 = permute{perm=[1,0]} %0\n\
                    %2 = const f32[] 1.0\n%3 = add %1, %2\noutput 0 %3\n";
    assert_eq!(
        kernel_arg_shapes(&schedule(permuted).1),
        [vec![8, 16], vec![8, 16]]
    );
    // Every second row: rows 2 apart, contiguous within a row.
    let sliced = "%0 = input 0 : f32[16,16]\n%1 = slice{[0:8:2, 0:16:1]} %0\n\
                  %2 = const f32[] 1.0\n%3 = add %1, %2\noutput 0 %3\n";
    assert_eq!(
        kernel_arg_shapes(&schedule(sliced).1),
        [vec![8, 16], vec![8, 16]]
    );
}

/// `x op k` rewritten in `x`'s own dtype (float32 or int32 against a float64 or int64
/// constant) agrees with the widened comparison for every pair of tricky values.
#[test]
fn predicates_against_wider_constants_narrow_exactly() {
    use super::emit::{narrow_predicate, Narrowed};
    use crate::dtype::DType;
    use crate::kernel::eval;
    use crate::literal::Scalar;
    use crate::op::BinaryOp;
    let fk = [
        0.0,
        -0.0,
        -2.0,
        2.5,
        0.1,
        -0.1,
        1e-50,
        -1e-50,
        1e300,
        -1e300,
        f32::MAX as f64,
        f32::MAX as f64 * 1.0000001,
        f32::MIN_POSITIVE as f64 / 3.0,
        16777217.0,
        2147483647.0,
        2147483647.5,
        2147483648.0,
        -2147483648.0,
        -2147483648.5,
        -2147483649.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let fx = [
        0.0f32,
        -0.0,
        -2.0,
        2.5,
        0.1,
        -0.1,
        0.1f32.next_up(),
        0.1f32.next_down(),
        1e-45,
        -1e-45,
        16777216.0,
        16777218.0,
        f32::MAX,
        f32::MIN,
        2147483648.0,
        -2147483648.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    let ix = [
        0,
        1,
        -1,
        -2,
        2,
        3,
        i32::MAX,
        i32::MIN,
        i32::MAX - 1,
        i32::MIN + 1,
    ];
    let ik = [
        0i64,
        -2,
        3,
        i32::MAX as i64,
        i32::MAX as i64 + 1,
        i32::MIN as i64,
        i32::MIN as i64 - 1,
        i64::MAX,
        i64::MIN,
    ];
    let mut cases: Vec<(Scalar, DType, Scalar)> = Vec::new();
    for &k in &fk {
        cases.extend(
            fx.iter()
                .map(|&x| (Scalar::F32(x), DType::F64, Scalar::F64(k))),
        );
        cases.extend(
            ix.iter()
                .map(|&x| (Scalar::I32(x), DType::F64, Scalar::F64(k))),
        );
    }
    for &k in &ik {
        cases.extend(
            ix.iter()
                .map(|&x| (Scalar::I32(x), DType::I64, Scalar::I64(k))),
        );
    }
    let ops = [
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Xor,
    ];
    for (x, c, k) in cases {
        for op in ops {
            let want = eval::binary(op, eval::cast(x, c), k);
            let got = match narrow_predicate(op, x.dtype(), c, k).expect("narrows") {
                Narrowed::Op(op2, k2) => {
                    assert_eq!(k2.dtype(), x.dtype());
                    eval::binary(op2, x, k2)
                }
                Narrowed::Const(v) => Scalar::Bool(v),
            };
            assert_eq!(got, want, "{x:?} {op} {k:?} (in {c})");
            // The constant on the left.
            let want = eval::binary(op, k, eval::cast(x, c));
            let got = match narrow_predicate(op.swapped().unwrap(), x.dtype(), c, k).unwrap() {
                Narrowed::Op(op2, k2) => eval::binary(op2, x, k2),
                Narrowed::Const(v) => Scalar::Bool(v),
            };
            assert_eq!(got, want, "{k:?} {op} {x:?} (in {c})");
        }
    }
    // Int64 values are not all exact in float64: no rewrite.
    assert_eq!(
        narrow_predicate(BinaryOp::Lt, DType::I64, DType::F64, Scalar::F64(2.5)),
        None
    );
}

/// A float32 compared with a float64 constant, and an int32 with an int64 one, compare in their
/// own dtype (no widening cast in the loop: one dtype class, a vector loop).
#[test]
fn predicates_against_wider_constants_compare_in_the_narrow_dtype() {
    let kernel = |text: &str| {
        let (_, s) = schedule(text);
        match &s.steps[..] {
            [Step::Kernel(k)] => k.kernel.to_string(),
            other => panic!("{other:?}"),
        }
    };
    let k = kernel(
        "%0 = input 0 : f32[8]\n%1 = const i64[] -2\n%2 = not_equal %0, %1\n\
         %3 = logical_not %2\n%4 = arctan2 %3, %0\noutput 0 %4\n",
    );
    assert!(k.contains("not_equal %") && k.contains("-2.0:f32"), "{k}");
    assert!(!k.contains("to f64"), "{k}");
    let k = kernel(
        "%0 = input 0 : f32[8]\n%1 = const f64[] 2.5\n%2 = logical_or %0, %1\noutput 0 %2\n",
    );
    assert!(k.contains("1.0:f32") && !k.contains("to f64"), "{k}");
    // The constant on the left; 0.1 is not a float32: `0.1 <= x` is `x > 0.099999994`.
    let k = kernel(
        "%0 = input 0 : f32[8]\n%1 = const f64[] 0.1\n%2 = less_equal %1, %0\noutput 0 %2\n",
    );
    assert!(
        k.contains("0.099999994:f32") && k.contains("greater %"),
        "{k}"
    );
    assert!(!k.contains("to f64"), "{k}");
    let k = kernel("%0 = input 0 : i32[8]\n%1 = const i64[] 7\n%2 = less %0, %1\noutput 0 %2\n");
    assert!(k.contains("7:i32") && !k.contains("to i64"), "{k}");
}

/// An expensive value broadcast along an outer axis of its consumer is computed once into a
/// buffer (fused, it would run once per outer step); one that repeats only along inner axes
/// (per row) stays fused, as do cheap ones.
#[test]
fn expensive_values_repeated_along_outer_axes_get_their_own_buffer() {
    let kernels = |text: &str| schedule(text).1.kernel_count();
    // exp of a bias added to every row: exp once (a kernel of its own), then the add.
    let bias = "%0 = input 0 : f32[1024,256]\n%1 = input 1 : f32[256]\n%2 = exp %1\n\
                %3 = add %0, %2\noutput 0 %3\n";
    assert_eq!(kernels(bias), 2);
    // The same with an explicit keepdims shape (1, 256).
    let kept = "%0 = input 0 : f32[1024,256]\n%1 = input 1 : f32[1,256]\n%2 = exp %1\n\
                %3 = multiply %0, %2\noutput 0 %3\n";
    assert_eq!(kernels(kept), 2);
    // A per-row value (1024, 1): repeated only along the inner axis, stays fused.
    let rows = "%0 = input 0 : f32[1024,256]\n%1 = input 1 : f32[1024,1]\n%2 = sqrt %1\n\
                %3 = divide %0, %2\noutput 0 %3\n";
    assert_eq!(kernels(rows), 1);
    // A cheap op on the bias stays fused.
    let cheap = "%0 = input 0 : f32[1024,256]\n%1 = input 1 : f32[256]\n%2 = negative %1\n\
                 %3 = add %0, %2\noutput 0 %3\n";
    assert_eq!(kernels(cheap), 1);
}

#[test]
fn repeated_outside_compares_right_aligned_shapes() {
    use super::repeated_outside;
    assert!(repeated_outside(&[256], &[1024, 256]));
    assert!(repeated_outside(&[1, 256], &[1024, 256]));
    assert!(repeated_outside(&[4, 1, 8], &[4, 5, 8]));
    assert!(!repeated_outside(&[1024, 1], &[1024, 256]));
    assert!(!repeated_outside(&[4, 5, 1], &[4, 5, 8]));
    assert!(!repeated_outside(&[256], &[256]));
    assert!(!repeated_outside(&[1], &[1024, 256]));
    assert!(!repeated_outside(&[], &[3, 4]));
    assert!(!repeated_outside(&[3, 4], &[4]));
}

/// The broadcast may come later, through cheap ops: `(0.5 ** v - 1) + x` with `v` (256,).
#[test]
fn expensive_values_broadcast_further_down_get_their_own_buffer() {
    let text = "%0 = input 0 : f32[1024,256]\n%1 = input 1 : f32[1,256]\n%2 = const f32[] 0.5\n\
                %3 = power %2, %1\n%4 = subtract %3, %3\n%5 = add %0, %4\noutput 0 %5\n";
    assert_eq!(schedule(text).1.kernel_count(), 2);
}
