//! Golden tests for every pass (`tests/golden/<pass>.txt`; `EMBER_BLESS=1` rewrites them) and
//! properties of the whole pipeline on random graphs.

mod common;

use common::{check_golden, TestEvaluator};
use ember_ir::passes::{optimize, Pass, PassContext, CSE, DCE, DECOMPOSE, FOLD, SIMPLIFY};
use ember_ir::{verify, Graph, Result};
use proptest::prelude::*;

/// Runs `passes` in order once each.
fn run(passes: &[Pass]) -> impl Fn(&mut Graph) -> Result<()> + '_ {
    move |g| {
        let ctx = PassContext::new().with_evaluator(&TestEvaluator);
        for p in passes {
            (p.run)(g, &ctx)?;
        }
        Ok(())
    }
}

#[test]
fn dce_golden() {
    check_golden("dce.txt", run(&[DCE]));
}

#[test]
fn cse_golden() {
    check_golden("cse.txt", run(&[CSE]));
}

#[test]
fn fold_golden() {
    check_golden("fold.txt", run(&[FOLD, DCE]));
}

#[test]
fn simplify_golden() {
    check_golden("simplify.txt", run(&[SIMPLIFY, DCE]));
}

#[test]
fn decompose_golden() {
    check_golden("decompose.txt", run(&[DECOMPOSE, DCE]));
}

#[test]
fn pipeline_golden() {
    check_golden("pipeline.txt", |g| {
        let ctx = PassContext::new().with_evaluator(&TestEvaluator);
        optimize(g, &ctx).map(|_| ())
    });
}

#[test]
fn passes_report_no_change_on_a_second_run() {
    let text = "%0 = input 0 : f32[4]
%1 = const f32[] 1.0
%2 = multiply %0, %1 : f32[4]
%3 = exp %2 : f32[4]
%4 = exp %2 : f32[4]
%5 = add %3, %4 : f32[4]
%6 = softmax{axis=0} %5 : f32[4]
output 0 %6
";
    let ctx = PassContext::new().with_evaluator(&TestEvaluator);
    for pass in [DECOMPOSE, SIMPLIFY, FOLD, CSE, DCE] {
        let mut g = Graph::parse(text).expect("parses");
        (pass.run)(&mut g, &ctx).expect("first run");
        (DCE.run)(&mut g, &ctx).expect("cleanup");
        let changed = (pass.run)(&mut g, &ctx).expect("second run");
        assert!(
            !changed,
            "{} changed the graph on a second run:\n{g}",
            pass.name
        );
    }
}

#[test]
fn pipeline_records_each_pass_and_its_text() {
    let mut g = Graph::parse(
        "%0 = input 0 : f32[2,3]
%1 = mean{axes=[1], keepdims=false} %0 : f32[2]
output 0 %1
",
    )
    .expect("parses");
    let ctx = PassContext {
        record_text: true,
        verify: true,
        ..PassContext::new()
    };
    let report = optimize(&mut g, &ctx).expect("optimizes");
    let names: Vec<&str> = report.passes.iter().map(|p| p.name).collect();
    // Nothing to clean up after decompose: one round of the fixpoint and done.
    assert_eq!(names, ["decompose", "simplify", "fold", "cse", "dce"]);
    assert!(report.converged);
    assert_eq!(report.rounds, 1);
    assert!(report.changed() && report.passes[1..].iter().all(|p| !p.changed));
    let after_decompose = report.passes[0].text.as_deref().expect("recorded");
    assert!(
        after_decompose.contains("sum{axes=[1], keepdims=false}"),
        "{after_decompose}"
    );
    assert_eq!(
        report.passes.last().and_then(|p| p.text.clone()),
        Some(g.to_string())
    );
    let table = report.to_string();
    assert!(
        table.contains("decompose") && table.contains("1 round(s)"),
        "{table}"
    );
}

#[test]
fn pipeline_names_the_pass_that_broke_the_graph() {
    fn breaks(g: &mut Graph, _: &PassContext<'_>) -> Result<bool> {
        let out = g.output_values()[0];
        g.node_mut(out).ty.shape.push(7);
        Ok(true)
    }
    let mut g =
        Graph::parse("%0 = input 0 : f32[2]\n%1 = exp %0 : f32[2]\noutput 0 %1\n").expect("parses");
    let mut report = Default::default();
    let bad = Pass {
        name: "breaker",
        run: breaks,
    };
    let err = ember_ir::passes::pipeline::run_pass(&bad, &mut g, &PassContext::new(), &mut report)
        .expect_err("the verifier runs in debug builds");
    assert_eq!(
        err.to_string(),
        "invalid graph: after breaker: %1 exp: stored type is f32[2,7] but its operands give f32[2]"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The pipeline keeps random graphs valid (it verifies after every pass in debug builds),
    /// keeps their signature, removes every composite, and reaches a fixpoint.
    #[test]
    fn optimize_keeps_random_graphs_valid(
        inputs in prop::collection::vec((0u8..5, any::<u64>()), 1..4),
        steps in prop::collection::vec((any::<u8>(), any::<u64>(), any::<u64>(), any::<u64>()), 0..24),
    ) {
        let mut g = common::random_graph(&inputs, &steps);
        let before: Vec<_> = g.output_values().iter().map(|&v| g.node(v).ty.clone()).collect();
        let n_inputs = g.inputs().len();
        let ctx = PassContext::new().with_evaluator(&TestEvaluator);
        let report = optimize(&mut g, &ctx);
        prop_assert!(report.is_ok(), "{:?}", report.err());
        prop_assert!(report.unwrap().converged);
        prop_assert_eq!(verify(&g), Ok(()));
        let after: Vec<_> = g.output_values().iter().map(|&v| g.node(v).ty.clone()).collect();
        prop_assert_eq!(before, after);
        prop_assert_eq!(g.inputs().len(), n_inputs);
        prop_assert!(!g.to_string().contains("softmax"), "{}", g);
    }
}
