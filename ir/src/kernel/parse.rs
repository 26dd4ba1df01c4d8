//! Parses the text form printed by [`super::print`] back into a [`Kernel`] (for golden tests and
//! hand-written kernels). `parse(&k.to_string())` gives back `k`.

use super::{ArgDecl, Const, Inst, Kernel, Var};
use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::literal::Scalar;
use crate::op::{BinaryOp, ReduceOp, UnaryOp};
use smallvec::SmallVec;

fn perr(line: usize, why: impl Into<String>) -> IrError {
    IrError::Parse {
        line,
        why: why.into(),
    }
}

fn var(line: usize, s: &str) -> Result<Var> {
    s.trim()
        .strip_prefix('%')
        .and_then(|n| n.parse().ok())
        .map(Var)
        .ok_or_else(|| perr(line, format!("expected a value like %3, found `{s}`")))
}

fn arg(line: usize, s: &str) -> Result<u32> {
    s.trim()
        .strip_prefix('a')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| perr(line, format!("expected an argument like a0, found `{s}`")))
}

fn dtype(line: usize, s: &str) -> Result<DType> {
    DType::from_name(s.trim()).ok_or_else(|| perr(line, format!("unknown dtype `{s}`")))
}

/// `a3[%1, %2]` -> (3, [%1, %2]).
fn access(line: usize, s: &str) -> Result<(u32, SmallVec<[Var; 4]>)> {
    let s = s.trim();
    let open = s.find('[').ok_or_else(|| perr(line, "expected `[`"))?;
    let inner = s[open + 1..]
        .strip_suffix(']')
        .ok_or_else(|| perr(line, "expected `]`"))?;
    let a = arg(line, &s[..open])?;
    let index = inner
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| var(line, p))
        .collect::<Result<_>>()?;
    Ok((a, index))
}

fn scalar(line: usize, text: &str, dt: DType) -> Result<Scalar> {
    let bad = || perr(line, format!("bad {dt} constant `{text}`"));
    Ok(match dt {
        DType::Bool => Scalar::Bool(text.parse().map_err(|_| bad())?),
        DType::I32 => Scalar::I32(text.parse().map_err(|_| bad())?),
        DType::I64 => Scalar::I64(text.parse().map_err(|_| bad())?),
        DType::F32 => Scalar::F32(text.parse().map_err(|_| bad())?),
        DType::F64 => Scalar::F64(text.parse().map_err(|_| bad())?),
    })
}

fn header(line: usize, s: &str) -> Result<(String, Vec<ArgDecl>)> {
    let rest = s
        .strip_prefix("kernel ")
        .ok_or_else(|| perr(line, "expected `kernel NAME(...) {`"))?;
    let open = rest.find('(').ok_or_else(|| perr(line, "expected `(`"))?;
    let close = rest.rfind(')').ok_or_else(|| perr(line, "expected `)`"))?;
    let name = rest[..open].trim();
    let name = if name == "_" {
        String::new()
    } else {
        name.to_string()
    };
    let mut args = Vec::new();
    let inner = &rest[open + 1..close];
    // Split on ", " between arguments, not inside the `[...]` shapes.
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, ch) in inner.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner[start..].trim().is_empty() {
        parts.push(&inner[start..]);
    }
    for p in parts {
        let p = p.trim();
        let (dir, rest) = p
            .split_once(' ')
            .ok_or_else(|| perr(line, format!("bad argument `{p}`")))?;
        let output = match dir {
            "in" => false,
            "out" => true,
            _ => return Err(perr(line, format!("expected in/out, found `{dir}`"))),
        };
        let (_, ty) = rest
            .split_once(':')
            .ok_or_else(|| perr(line, "expected `:`"))?;
        let ty = ty.trim();
        let open = ty.find('[').ok_or_else(|| perr(line, "expected a shape"))?;
        let dims = ty[open + 1..]
            .strip_suffix(']')
            .ok_or_else(|| perr(line, "expected `]`"))?;
        let shape = dims
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .map(|d| {
                d.trim()
                    .parse()
                    .map_err(|_| perr(line, format!("bad dimension `{d}`")))
            })
            .collect::<Result<_>>()?;
        args.push(ArgDecl {
            dtype: dtype(line, &ty[..open])?,
            shape,
            output,
        });
    }
    Ok((name, args))
}

/// Parses one kernel in the printer's text form.
pub fn parse(text: &str) -> Result<Kernel> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let (n, first) = lines.next().ok_or_else(|| perr(1, "empty kernel text"))?;
    let (name, args) = header(n, first)?;
    let mut body = Vec::new();
    let mut depth = 0usize;
    let mut closed = false;
    for (n, l) in lines {
        if closed {
            return Err(perr(n, "text after the kernel's closing `}`"));
        }
        if l == "}" {
            if depth == 0 {
                closed = true;
            } else {
                depth -= 1;
                body.push(Inst::EndLoop);
            }
            continue;
        }
        if let Some(rest) = l.strip_prefix("for ") {
            // for %0 in 0..N [parallel] {
            let rest = rest
                .strip_suffix('{')
                .ok_or_else(|| perr(n, "expected `{`"))?
                .trim();
            let (v, rest) = rest
                .split_once(" in 0..")
                .ok_or_else(|| perr(n, "expected `in 0..`"))?;
            let (ext, parallel) = match rest.strip_suffix(" parallel") {
                Some(e) => (e, true),
                None => (rest, false),
            };
            let extent = ext
                .trim()
                .parse()
                .map_err(|_| perr(n, format!("bad extent `{ext}`")))?;
            body.push(Inst::Loop {
                var: var(n, v)?,
                extent,
                parallel,
            });
            depth += 1;
            continue;
        }
        if let Some(rest) = l.strip_prefix("store ") {
            let close = rest.rfind(']').ok_or_else(|| perr(n, "expected `]`"))?;
            let (a, index) = access(n, &rest[..=close])?;
            let value = rest[close + 1..]
                .trim()
                .strip_prefix(',')
                .ok_or_else(|| perr(n, "expected `, value`"))?;
            body.push(Inst::Store {
                arg: a,
                index,
                value: var(n, value)?,
            });
            continue;
        }
        if let Some(rest) = l.strip_prefix("update_arg ") {
            let p: Vec<&str> = rest.split(',').collect();
            if p.len() != 3 {
                return Err(perr(n, "update_arg takes acc, value, index"));
            }
            body.push(Inst::UpdateArg {
                acc: var(n, p[0])?,
                value: var(n, p[1])?,
                index: var(n, p[2])?,
            });
            continue;
        }
        if let Some(rest) = l.strip_prefix("update ") {
            let (a, v) = rest
                .split_once(',')
                .ok_or_else(|| perr(n, "update takes acc, value"))?;
            body.push(Inst::Update {
                acc: var(n, a)?,
                value: var(n, v)?,
            });
            continue;
        }
        let (dst, rhs) = l
            .split_once(" = ")
            .ok_or_else(|| perr(n, format!("cannot read `{l}`")))?;
        let dst = var(n, dst)?;
        let (opname, operands) = rhs.split_once(' ').unwrap_or((rhs, ""));
        let ops: Vec<&str> = operands
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let inst = match opname {
            "const" => {
                let (v, dt) = operands
                    .rsplit_once(':')
                    .ok_or_else(|| perr(n, "expected value:dtype"))?;
                let dt = dtype(n, dt)?;
                Inst::Const {
                    dst,
                    value: Const(scalar(n, v.trim(), dt)?),
                }
            }
            "load" => {
                let (a, index) = access(n, operands)?;
                Inst::Load { dst, arg: a, index }
            }
            "select" if ops.len() == 3 => Inst::Select {
                dst,
                cond: var(n, ops[0])?,
                a: var(n, ops[1])?,
                b: var(n, ops[2])?,
            },
            "cast" => {
                let (x, to) = operands
                    .split_once(" to ")
                    .ok_or_else(|| perr(n, "expected `cast %x to dtype`"))?;
                Inst::Cast {
                    dst,
                    to: dtype(n, to)?,
                    x: var(n, x)?,
                }
            }
            "acc" => {
                let (op, dt) = operands
                    .split_once(':')
                    .ok_or_else(|| perr(n, "expected op:dtype"))?;
                Inst::Acc {
                    dst,
                    op: ReduceOp::from_name(op.trim())
                        .ok_or_else(|| perr(n, format!("unknown reduction `{op}`")))?,
                    dtype: dtype(n, dt)?,
                }
            }
            name => {
                if let (Some(op), 1) = (UnaryOp::from_name(name), ops.len()) {
                    Inst::Unary {
                        dst,
                        op,
                        x: var(n, ops[0])?,
                    }
                } else if let (Some(op), 2) = (BinaryOp::from_name(name), ops.len()) {
                    Inst::Binary {
                        dst,
                        op,
                        a: var(n, ops[0])?,
                        b: var(n, ops[1])?,
                    }
                } else {
                    return Err(perr(
                        n,
                        format!("unknown instruction `{name}` with {} operands", ops.len()),
                    ));
                }
            }
        };
        body.push(inst);
    }
    if !closed || depth != 0 {
        return Err(perr(text.lines().count(), "unbalanced braces"));
    }
    Ok(Kernel { name, args, body })
}
