//! Graph-to-graph passes, one file each, all with the signature of [`Pass`]. The pipeline that
//! runs them is [`pipeline::optimize`].

pub mod cse;
pub mod dce;
pub mod decompose;
pub mod fold;
pub mod fuse;
pub mod memplan;
pub mod pipeline;
pub mod place;
pub mod simplify;

pub use decompose::{expand, Emitter};
pub use fold::ConstEvaluator;
pub use pipeline::{optimize, PassRecord, PipelineReport};

use crate::error::Result;
use crate::graph::Graph;
use std::fmt;

/// The one signature of every pass: rewrite the graph in place and report whether anything
/// changed (the pipeline iterates to a fixpoint on this).
pub type PassFn = fn(&mut Graph, &PassContext<'_>) -> Result<bool>;

/// A named pass.
#[derive(Clone, Copy, Debug)]
pub struct Pass {
    /// The name in reports and `explain()` (`"cse"`).
    pub name: &'static str,
    /// The pass itself.
    pub run: PassFn,
}

/// Rewrites every composite op into primitives ([`decompose`]).
pub const DECOMPOSE: Pass = Pass {
    name: "decompose",
    run: decompose::run,
};
/// Algebraic simplification ([`simplify`]).
pub const SIMPLIFY: Pass = Pass {
    name: "simplify",
    run: simplify::run,
};
/// Constant folding through the context's evaluator ([`fold`]).
pub const FOLD: Pass = Pass {
    name: "fold",
    run: fold::run,
};
/// Common-subexpression elimination ([`cse`]).
pub const CSE: Pass = Pass {
    name: "cse",
    run: cse::run,
};
/// Dead-code elimination ([`dce`]).
pub const DCE: Pass = Pass {
    name: "dce",
    run: dce::run,
};

/// What passes may consult besides the graph.
#[derive(Clone, Copy)]
pub struct PassContext<'a> {
    /// Evaluates ops on constants for [`fold`]; without one, folding does nothing.
    pub evaluator: Option<&'a dyn ConstEvaluator>,
    /// Run the verifier after every pass even in release builds (debug builds always do).
    pub verify: bool,
    /// Keep the graph's text after every pass in the [`PipelineReport`].
    pub record_text: bool,
    /// Folding skips results with more elements than this, to keep graphs small.
    pub max_fold_elements: usize,
}

impl PassContext<'_> {
    /// The default fold size limit.
    pub const MAX_FOLD_ELEMENTS: usize = 4096;

    /// True when the verifier should run after each pass: debug builds, or when asked.
    pub fn should_verify(&self) -> bool {
        cfg!(debug_assertions) || self.verify
    }
}

impl<'a> PassContext<'a> {
    /// A context with no evaluator, no text recording and the default limits.
    pub fn new() -> Self {
        PassContext {
            evaluator: None,
            verify: false,
            record_text: false,
            max_fold_elements: Self::MAX_FOLD_ELEMENTS,
        }
    }

    /// The same context with a constant evaluator.
    pub fn with_evaluator(self, evaluator: &'a dyn ConstEvaluator) -> Self {
        PassContext {
            evaluator: Some(evaluator),
            ..self
        }
    }
}

impl Default for PassContext<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PassContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassContext")
            .field("evaluator", &self.evaluator.is_some())
            .field("verify", &self.verify)
            .field("record_text", &self.record_text)
            .field("max_fold_elements", &self.max_fold_elements)
            .finish()
    }
}
