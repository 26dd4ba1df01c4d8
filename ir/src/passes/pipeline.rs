//! The optimization pipeline, top to bottom in one function: [`optimize`].

use super::{Pass, PassContext, CSE, DCE, DECOMPOSE, FOLD, SIMPLIFY};
use crate::error::{IrError, Result};
use crate::graph::Graph;
use crate::verify::verify;
use std::fmt;
use std::time::{Duration, Instant};

/// The most rounds of the cleanup passes before the pipeline stops without a fixpoint (each
/// round only shrinks or rewrites the graph, so real graphs converge in a few).
pub const MAX_ROUNDS: usize = 32;

/// What one run of one pass did.
#[derive(Clone, Debug)]
pub struct PassRecord {
    /// The pass's name.
    pub name: &'static str,
    /// Whether it changed the graph.
    pub changed: bool,
    /// How long the pass took (verification not included).
    pub time: Duration,
    /// The graph's text after the pass, when the context asked for it.
    pub text: Option<String>,
}

/// What [`optimize`] did, pass by pass, in order.
#[derive(Clone, Debug, Default)]
pub struct PipelineReport {
    /// Every pass run, in order.
    pub passes: Vec<PassRecord>,
    /// Rounds of the cleanup fixpoint run.
    pub rounds: usize,
    /// False when the fixpoint was cut off at [`MAX_ROUNDS`].
    pub converged: bool,
}

impl PipelineReport {
    /// True when any pass changed the graph.
    pub fn changed(&self) -> bool {
        self.passes.iter().any(|p| p.changed)
    }

    /// Total time spent in passes.
    pub fn total_time(&self) -> Duration {
        self.passes.iter().map(|p| p.time).sum()
    }
}

impl fmt::Display for PipelineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<10} {:<8} {:>12}", "pass", "changed", "time")?;
        for p in &self.passes {
            let changed = if p.changed { "yes" } else { "no" };
            writeln!(
                f,
                "{:<10} {:<8} {:>12}",
                p.name,
                changed,
                format!("{:?}", p.time)
            )?;
        }
        let fixpoint = if self.converged { "" } else { " (no fixpoint)" };
        writeln!(
            f,
            "{} round(s){fixpoint}, {:?} in total",
            self.rounds,
            self.total_time()
        )
    }
}

/// Optimizes `graph` in place: decompose composites into primitives, then simplify, fold, CSE
/// and DCE until none of them changes anything. The verifier checks the input graph and runs
/// after every pass when [`PassContext::should_verify`] says so.
pub fn optimize(graph: &mut Graph, ctx: &PassContext<'_>) -> Result<PipelineReport> {
    let mut report = PipelineReport::default();
    if ctx.should_verify() {
        verify(graph).map_err(|e| with_context("before optimization", e))?;
    }
    run_pass(&DECOMPOSE, graph, ctx, &mut report)?;
    while report.rounds < MAX_ROUNDS {
        report.rounds += 1;
        let mut changed = false;
        for pass in [&SIMPLIFY, &FOLD, &CSE, &DCE] {
            changed |= run_pass(pass, graph, ctx, &mut report)?;
        }
        if !changed {
            report.converged = true;
            break;
        }
    }
    Ok(report)
}

/// Runs one pass: timed, verified when asked, and recorded.
pub fn run_pass(
    pass: &Pass,
    graph: &mut Graph,
    ctx: &PassContext<'_>,
    report: &mut PipelineReport,
) -> Result<bool> {
    let start = Instant::now();
    let changed = (pass.run)(graph, ctx)?;
    let time = start.elapsed();
    if ctx.should_verify() {
        verify(graph).map_err(|e| with_context(&format!("after {}", pass.name), e))?;
    }
    report.passes.push(PassRecord {
        name: pass.name,
        changed,
        time,
        text: ctx.record_text.then(|| graph.to_string()),
    });
    Ok(changed)
}

fn with_context(when: &str, e: IrError) -> IrError {
    match e {
        IrError::Verify(msg) => IrError::Verify(format!("{when}: {msg}")),
        other => other,
    }
}
