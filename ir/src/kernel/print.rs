//! The kernel IR's text form, for dumps, error messages and golden tests:
//!
//! ```text
//! kernel w1(in a0: f32[1024], in a1: f32[1024], out a2: f32[1024]) {
//!   for %0 in 0..1024 parallel {
//!     %1 = load a0[%0]
//!     %2 = exp %1
//!     store a2[%0], %2
//!   }
//! }
//! ```
//!
//! Every instruction is one line; values print as `%n`, arguments as `aN`.

use super::{Inst, Kernel, Var};
use std::fmt::{self, Write};

struct V(Var);
impl fmt::Display for V {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0 .0)
    }
}

fn index(ix: &[Var]) -> String {
    let mut s = String::new();
    for (i, v) in ix.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}", V(*v));
    }
    s
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel {}(",
            if self.name.is_empty() {
                "_"
            } else {
                &self.name
            }
        )?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let dims: Vec<String> = a.shape.iter().map(|d| d.to_string()).collect();
            write!(
                f,
                "{} a{i}: {}[{}]",
                if a.output { "out" } else { "in" },
                a.dtype.short_name(),
                dims.join(",")
            )?;
        }
        f.write_str(") {\n")?;
        let mut depth = 1;
        for inst in &self.body {
            if matches!(inst, Inst::EndLoop) {
                depth -= 1;
            }
            for _ in 0..depth {
                f.write_str("  ")?;
            }
            match inst {
                Inst::Loop {
                    var,
                    extent,
                    parallel,
                } => {
                    write!(
                        f,
                        "for {} in 0..{extent}{} {{",
                        V(*var),
                        if *parallel { " parallel" } else { "" }
                    )?;
                    depth += 1;
                }
                Inst::EndLoop => f.write_str("}")?,
                Inst::Const { dst, value } => write!(
                    f,
                    "{} = const {}:{}",
                    V(*dst),
                    value.0,
                    value.0.dtype().short_name()
                )?,
                Inst::Load {
                    dst,
                    arg,
                    index: ix,
                } => write!(f, "{} = load a{arg}[{}]", V(*dst), index(ix))?,
                Inst::Store {
                    arg,
                    index: ix,
                    value,
                } => write!(f, "store a{arg}[{}], {}", index(ix), V(*value))?,
                Inst::Unary { dst, op, x } => write!(f, "{} = {op} {}", V(*dst), V(*x))?,
                Inst::Binary { dst, op, a, b } => {
                    write!(f, "{} = {op} {}, {}", V(*dst), V(*a), V(*b))?
                }
                Inst::Select { dst, cond, a, b } => {
                    write!(f, "{} = select {}, {}, {}", V(*dst), V(*cond), V(*a), V(*b))?
                }
                Inst::Cast { dst, to, x } => {
                    write!(f, "{} = cast {} to {}", V(*dst), V(*x), to.short_name())?
                }
                Inst::Acc { dst, op, dtype } => {
                    write!(f, "{} = acc {op}:{}", V(*dst), dtype.short_name())?
                }
                Inst::Update { acc, value } => write!(f, "update {}, {}", V(*acc), V(*value))?,
                Inst::UpdateArg {
                    acc,
                    value,
                    index: at,
                } => write!(f, "update_arg {}, {}, {}", V(*acc), V(*value), V(*at))?,
            }
            f.write_str("\n")?;
        }
        f.write_str("}\n")
    }
}
