//! The text form: printing, parsing, round trips (hand-written and random graphs), parse
//! errors, and the DOT export.

mod common;

use ember_ir::{verify, DType, Device, Graph, IrError, Literal, Op, Scalar, SourceLoc, ValueType};
use proptest::prelude::*;

/// Parses, prints and checks that the print is exactly `text`.
fn round_trip(text: &str) {
    let g = Graph::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(g.to_string(), text);
}

#[test]
fn every_op_round_trips() {
    // In canonical order: inputs, then depth first from the outputs, then unused nodes.
    round_trip(
        "%0 = input 0 : f32[4,8] @cuda:0 # model.py:3
%1 = input 1 : i32[8]
%2 = const f32[] 2.0 @cuda:0
%3 = multiply %0, %2 : f32[4,8] @cuda:0 # my model.py:12
%4 = sum{axes=[1], keepdims=false} %3 : f32[4] @cuda:0
%5 = copy{cpu} %4 : f32[4]
%6 = const bool[2] [true, false]
%7 = cast{f64} %1 : f64[8]
%8 = reshape{shape=[2,4]} %7 : f64[2,4]
%9 = permute{perm=[1,0]} %8 : f64[4,2]
%10 = const f64[2,2] [1.0, -0.0, NaN, -inf]
%11 = matmul %9, %10 : f64[4,2]
%12 = where %6, %11, %11 : f64[4,2]
%13 = const bool[0] []
%14 = logical_not %13 : bool[0]
%15 = broadcast{shape=[3,4,2]} %9 : f64[3,4,2]
%16 = slice{[0:3:1, 3:2:-1, 1:1:2]} %15 : f64[3,2,1]
%17 = concat{axis=0} %9, %9 : f64[8,2]
%18 = softmax{axis=1} %11 : f64[4,2]
%19 = log_softmax{axis=0} %11 : f64[4,2]
%20 = logsumexp{axes=[0,1], keepdims=true} %11 : f64[1,1]
%21 = mean{axes=[0], keepdims=false} %1 : f64[]
%22 = var{axes=[0], keepdims=false, ddof=1} %11 : f64[2]
%23 = std{axes=[], keepdims=true, ddof=0} %11 : f64[4,2]
%24 = gelu{approximate=true} %0 : f32[4,8] @cuda:0
%25 = silu %1 : f64[8]
%26 = layer_norm{axes=[1], eps=1e-5} %0 : f32[4,8] @cuda:0
%27 = argmax{axes=[0], keepdims=true} %1 : i64[1]
%28 = negative %7 : f64[8]
output 0 %5
output 1 %12 # out.py:1
output 2 %14
",
    );
}

#[test]
fn parser_fills_in_types_devices_and_accepts_any_names() {
    let g = Graph::parse(
        "// a comment, then a blank line

%x = input 0 : f32[3] @cuda:1
%one = const f32[] 1.0 @cuda:1
%y = add %x, %one
%z = copy{cpu} %y
output 0 %z
",
    )
    .expect("parses");
    assert_eq!(
        g.to_string(),
        "%0 = input 0 : f32[3] @cuda:1
%1 = const f32[] 1.0 @cuda:1
%2 = add %0, %1 : f32[3] @cuda:1
%3 = copy{cpu} %2 : f32[3]
output 0 %3
"
    );
}

#[test]
fn floats_print_exactly() {
    let mut g = Graph::new();
    let vals = [
        0.1f32,
        -0.0,
        f32::MIN_POSITIVE,
        1e-45,
        f32::MAX,
        f32::NAN,
        16777217.0,
    ];
    let bytes = vals.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let lit = Literal::from_bytes(DType::F32, &[vals.len()], bytes).expect("sized");
    let c = g.add(Op::Const(lit.clone()), &[], None).expect("const");
    g.output(c).expect("output");
    let back = Graph::parse(&g.to_string()).expect("parses");
    let Op::Const(got) = &back.node(back.output_values()[0]).op else {
        panic!("not a const")
    };
    // NaN compares by bits here: the canonical NaN survives.
    assert_eq!(got, &lit);
    let f64s = [0.1f64, 1.0 / 3.0, -1e-300, 5e-324, f64::NEG_INFINITY];
    let text = format!(
        "%0 = const f64[5] [{}]\noutput 0 %0\n",
        f64s.map(|v| format!("{v:?}")).join(", ")
    );
    round_trip(&text);
}

#[test]
fn splats_print_as_one_value() {
    let mut g = Graph::new();
    let bytes = [2.5f64; 6].iter().flat_map(|v| v.to_ne_bytes()).collect();
    let lit = Literal::from_bytes(DType::F64, &[2, 3], bytes).expect("sized");
    let c = g.add(Op::Const(lit), &[], None).expect("const");
    g.output(c).expect("output");
    assert_eq!(g.to_string(), "%0 = const f64[2,3] 2.5\noutput 0 %0\n");
    round_trip("%0 = const i32[2] [3, 4]\noutput 0 %0\n");
}

#[test]
fn printing_renumbers_densely_after_removals() {
    let mut g = Graph::new();
    let x = g.input(ValueType::new(DType::F32, &[2]), Device::Cpu);
    let dead = g
        .add(Op::Unary(ember_ir::UnaryOp::Exp), &[x], None)
        .expect("exp");
    let y = g
        .add(Op::Unary(ember_ir::UnaryOp::Neg), &[x], None)
        .expect("neg");
    g.output(y).expect("output");
    g.remove(dead);
    assert_eq!(
        g.to_string(),
        "%0 = input 0 : f32[2]\n%1 = negative %0 : f32[2]\noutput 0 %1\n"
    );
}

fn parse_err(text: &str) -> (usize, String) {
    match Graph::parse(text) {
        Err(IrError::Parse { line, why }) => (line, why),
        other => panic!("expected a parse error for {text:?}, got {other:?}"),
    }
}

#[test]
fn parse_errors_name_the_line_and_the_problem() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "%0 = input 0 : f32[2]\n%1 = frobnicate %0\n",
            2,
            "unknown op \"frobnicate\"",
        ),
        (
            "%0 = input 0 : f32[2]\n%1 = add %0, %7\n",
            2,
            "%7 is not defined on an earlier line",
        ),
        (
            "%0 = input 0 : f32[2]\n%0 = negative %0\n",
            2,
            "%0 is defined twice",
        ),
        (
            "%0 = input 1 : f32[2]\n",
            1,
            "expected input 0, found input 1",
        ),
        (
            "%0 = input 0 : f33[2]\n",
            1,
            "expected a dtype like f32, found \"f33\"",
        ),
        (
            "%0 = input 0 : f32[2]\n%1 = negative %0 : f32[3]\n",
            2,
            "declared type f32[3], but negative of these operands gives f32[2]",
        ),
        (
            "%0 = input 0 : f32[2]\n%1 = input 1 : f32[3]\n%2 = add %0, %1\n",
            3,
            "could not be broadcast together",
        ),
        (
            "%0 = const f32[2] [1.0]\n",
            1,
            "constant f32[2] needs 2 values, found 1",
        ),
        (
            "%0 = const i32[] 1.5\n",
            1,
            "expected a int32 value, found \"1.5\"",
        ),
        (
            "%0 = const i32[] 99999999999\n",
            1,
            "expected a int32 value",
        ),
        ("%0 = const f32[0] 1.0\n", 1, "has no elements"),
        (
            "%0 = input 0 : f32[2,3]\n%1 = sum{axes=[1,0], keepdims=false} %0\n",
            2,
            "must be sorted and unique",
        ),
        (
            "%0 = input 0 : f32[2,3]\n%1 = sum{axes=[1]} %0\n",
            2,
            "sum needs the attribute keepdims=...",
        ),
        (
            "%0 = input 0 : f32[2,3]\n%1 = negative{axes=[1]} %0\n",
            2,
            "negative: unexpected attribute axes",
        ),
        (
            "%0 = input 0 : f32[4]\n%1 = slice{[0:2:0]} %0\n",
            2,
            "step cannot be zero",
        ),
        (
            "%0 = input 0 : f32[4]\n%1 = slice{[0:9:1]} %0\n",
            2,
            "out of range",
        ),
        (
            "%0 = input 0 : f32[4]\n%1 = slice{[0:4:9223372036854775807]} %0\n",
            2,
            "reaches outside any dimension",
        ),
        (
            "%0 = input 0 : f32[4]\n%1 = slice{[18446744073709551615:1:1]} %0\n",
            2,
            "reaches outside any dimension",
        ),
        (
            "%0 = input 0 : f32[0]\n%1 = slice{[0:0:-9223372036854775808]} %0\n",
            2,
            "reaches outside any dimension",
        ),
        (
            "%0 = input 0 : f32[4] @cuda:0\n%1 = const f32[] 1.0\n%2 = add %0, %1\n",
            3,
            "operand is on cpu, but add runs on cuda:0",
        ),
        (
            "%0 = input 0 : f32[4] @cuda:0\n%1 = copy{cuda:0} %0\n",
            2,
            "copy to cuda:0 of a value already on cuda:0",
        ),
        (
            "%0 = input 0 : f32[4] @tpu\n",
            1,
            "expected a device like cpu or cuda:0",
        ),
        (
            "%0 = input 0 : f32[4]\noutput 1 %0\n",
            2,
            "expected output 0, found output 1",
        ),
        (
            "%0 = input 0 : f32[4] # nowhere\n",
            1,
            "expected a location like",
        ),
        (
            "%0 = input 0 : f32[4] extra\n",
            1,
            "unexpected \"extra\" at the end of the line",
        ),
        (
            "%0 = input 0 : f32[4294967296,4294967296]\n",
            1,
            "more than 2^40 elements",
        ),
        (
            "%0 = const f32[100000000] 0.0\n",
            1,
            "too large for the text form",
        ),
        (
            "%0 = input 0 : f32[4]\n%1 = output 0 %0\n",
            2,
            "output has its own line form",
        ),
        (
            "%0 input 0 : f32[4]\n",
            1,
            "expected '=' after the value name",
        ),
    ];
    for &(text, line, want) in cases {
        let (got_line, why) = parse_err(text);
        assert!(
            why.contains(want),
            "{text:?}: {why:?} does not contain {want:?}"
        );
        assert_eq!(got_line, line, "{text:?}: {why}");
    }
}

#[test]
fn locations_keep_file_names_with_spaces_and_colons() {
    let mut g = Graph::new();
    let x = g.input(ValueType::new(DType::I64, &[]), Device::Cpu);
    let loc = SourceLoc {
        file: "C:/my dir/model.py".into(),
        line: 42,
    };
    let y = g
        .add(Op::Unary(ember_ir::UnaryOp::Abs), &[x], Some(loc.clone()))
        .expect("abs");
    g.output(y).expect("output");
    let back = Graph::parse(&g.to_string()).expect("parses");
    assert_eq!(back.node(back.output_values()[0]).loc, Some(loc));
}

#[test]
fn dot_export_labels_ops_and_types() {
    let g = Graph::parse(
        "%0 = input 0 : f32[4,8]
%1 = const f32[] 2.0
%2 = multiply %0, %1 : f32[4,8] # \"quoted\".py:1
output 0 %2
",
    )
    .expect("parses");
    let dot = g.to_dot();
    assert!(dot.starts_with("digraph ember {"), "{dot}");
    assert!(
        dot.contains("n0 [label=\"%0 input 0\\nf32[4,8]\", shape=ellipse];"),
        "{dot}"
    );
    assert!(
        dot.contains("n1 [label=\"%1 const f32[] 2.0\", shape=box];"),
        "{dot}"
    );
    assert!(dot.contains("\\\"quoted\\\".py:1"), "{dot}");
    assert!(dot.contains("n0 -> n2 [label=\"0\"];"), "{dot}");
    assert!(dot.contains("n1 -> n2 [label=\"1\"];"), "{dot}");
    assert!(dot.contains("n2 -> out0;"), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
}

#[test]
fn op_names_are_unique_across_op_kinds() {
    use ember_ir::{BinaryOp, ReduceOp, UnaryOp};
    let mut names: Vec<&str> = UnaryOp::ALL.iter().map(|u| u.name()).collect();
    names.extend(BinaryOp::ALL.iter().map(|b| b.name()));
    names.extend(ReduceOp::ALL.iter().map(|r| r.name()));
    names.extend([
        "where",
        "matmul",
        "cast",
        "copy",
        "reshape",
        "broadcast",
        "permute",
        "slice",
    ]);
    names.extend([
        "concat",
        "input",
        "const",
        "output",
        "softmax",
        "log_softmax",
        "logsumexp",
    ]);
    names.extend(["mean", "var", "std", "gelu", "silu", "layer_norm"]);
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        names.len(),
        "the text form needs unique op names"
    );
}

#[test]
fn scalar_display_matches_the_parser() {
    for s in [
        Scalar::F32(-0.0),
        Scalar::F64(f64::INFINITY),
        Scalar::Bool(true),
        Scalar::I64(-5),
    ] {
        let text = format!("%0 = const {}[] {s}\noutput 0 %0\n", s.dtype().short_name());
        round_trip(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_round_trip(
        inputs in prop::collection::vec((0u8..5, any::<u64>()), 1..4),
        steps in prop::collection::vec((any::<u8>(), any::<u64>(), any::<u64>(), any::<u64>()), 0..24),
    ) {
        let g = common::random_graph(&inputs, &steps);
        prop_assert_eq!(verify(&g), Ok(()));
        let text = g.to_string();
        let back = Graph::parse(&text);
        prop_assert!(back.is_ok(), "{:?}\n{}", back.err(), text);
        let back = back.unwrap();
        prop_assert_eq!(back.to_string(), text);
        prop_assert_eq!(back.len(), g.len());
        prop_assert_eq!(back.inputs().len(), g.inputs().len());
        prop_assert_eq!(back.outputs().len(), g.outputs().len());
        let _ = g.to_dot();
    }

    #[test]
    fn parsing_garbage_never_panics(text in "\\PC{0,80}") {
        let _ = Graph::parse(&text);
    }

    #[test]
    fn parsing_mutated_text_never_panics(
        steps in prop::collection::vec((any::<u8>(), any::<u64>(), any::<u64>(), any::<u64>()), 0..12),
        cut in any::<usize>(),
        insert in "[%=:@#\\[\\]{},.0-9a-z -]{0,6}",
    ) {
        let text = common::random_graph(&[(3, 0x12345)], &steps).to_string();
        let mut at = cut % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mutated = format!("{}{insert}{}", &text[..at], &text[at..]);
        let _ = Graph::parse(&mutated);
        let _ = Graph::parse(&text[..at]);
    }
}
