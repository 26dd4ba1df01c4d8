//! The parser of the text form: [`Graph::parse`].

use crate::dtype::DType;
use crate::error::{IrError, Result};
use crate::graph::{Graph, NodeId, SourceLoc};
use crate::literal::{Literal, Scalar};
use crate::op::{BinaryOp, Composite, Device, Op, ReduceOp, SliceDim, UnaryOp, ValueType};
use crate::shape::Shape;
use smallvec::SmallVec;
use std::collections::HashMap;

/// The largest product of non-zero dimensions a parsed type may have. It keeps every element
/// count (in any dimension order) far from `usize` overflow.
const MAX_ELEMENTS: usize = 1 << 40;
/// The most elements a parsed constant may have (its bytes are allocated).
const MAX_CONST_ELEMENTS: usize = 1 << 24;

impl Graph {
    /// Parses the text form (see the [module docs](crate::text)). Every line is checked as it
    /// is read: operands must be defined on an earlier line, a written type must equal the
    /// inferred one, operands must live on the op's device, and inputs and outputs must come
    /// in index order. Errors name the 1-based line.
    pub fn parse(text: &str) -> Result<Graph> {
        let mut p = Parser::default();
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with("//") {
                continue;
            }
            p.line(i + 1, trimmed)?;
        }
        crate::verify::verify(&p.graph)?;
        Ok(p.graph)
    }
}

#[derive(Default)]
struct Parser {
    graph: Graph,
    names: HashMap<String, NodeId>,
}

impl Parser {
    fn line(&mut self, line: usize, text: &str) -> Result<()> {
        let (body, loc) = match text.split_once('#') {
            Some((body, loc)) => (body, Some(parse_loc(line, loc)?)),
            None => (text, None),
        };
        let mut c = Cursor {
            s: body,
            pos: 0,
            line,
        };
        if c.keyword("output") {
            let index = c.usize("an output index")?;
            let value = self.operand(&mut c)?;
            c.end()?;
            let expected = self.graph.outputs().len();
            if index != expected {
                return c.err(format!(
                    "expected output {expected}, found output {index} (outputs are written in index order)"
                ));
            }
            let id = self.graph.output(value).map_err(|e| c.wrap(e))?;
            self.graph.node_mut(id).loc = loc;
            return Ok(());
        }
        c.expect('%', "a value name like %3 or `output N %v`")?;
        let name = c.take(is_ident);
        if name.is_empty() {
            return c.err("expected a value name after '%'");
        }
        if self.names.contains_key(name) {
            return c.err(format!("%{name} is defined twice"));
        }
        c.expect('=', "'=' after the value name")?;
        let head = c.take(is_ident);
        let id = match head {
            "input" => {
                let index = c.usize("an input index")?;
                c.expect(':', "': type' after the input index")?;
                let ty = c.ty()?;
                let device = c.device()?.unwrap_or_default();
                c.end()?;
                let expected = self.graph.inputs().len();
                if index != expected {
                    return c.err(format!(
                        "expected input {expected}, found input {index} (inputs are written in index order)"
                    ));
                }
                self.graph.input(ty, device)
            }
            "const" => {
                let ty = c.ty()?;
                let lit = c.literal(&ty)?;
                let device = c.device()?.unwrap_or_default();
                c.end()?;
                self.graph.add_typed(Op::Const(lit), ty, device, &[], None)
            }
            "" => {
                let found = c.found();
                return c.err(format!("expected an op name, found {found}"));
            }
            _ => self.op_line(&mut c, head)?,
        };
        self.graph.node_mut(id).loc = loc;
        self.names.insert(name.to_string(), id);
        Ok(())
    }

    fn op_line(&mut self, c: &mut Cursor<'_>, head: &str) -> Result<NodeId> {
        let attrs = if c.peek() == Some('{') {
            c.attrs()?
        } else {
            Vec::new()
        };
        let op = build_op(head, attrs).map_err(|why| c.error(why))?;
        let mut operands: SmallVec<[NodeId; 4]> = SmallVec::new();
        if c.peek() == Some('%') {
            operands.push(self.operand(c)?);
            while c.eat(',') {
                operands.push(self.operand(c)?);
            }
        }
        let declared = if c.eat(':') { Some(c.ty()?) } else { None };
        let written_device = c.device()?;
        c.end()?;

        let g = &self.graph;
        let types: SmallVec<[&ValueType; 4]> = operands.iter().map(|&o| &g.node(o).ty).collect();
        let ty = op.infer(&types).map_err(|e| c.wrap(e))?;
        check_size(&ty).map_err(|why| c.error(why))?;
        if let Some(d) = declared {
            if d != ty {
                return c.err(format!(
                    "declared type {d}, but {head} of these operands gives {ty}"
                ));
            }
        }
        let implied = match op {
            Op::Copy(d) => d,
            _ => operands.first().map_or(Device::Cpu, |&o| g.node(o).device),
        };
        let device = written_device.unwrap_or(implied);
        if let Op::Copy(target) = op {
            if device != target {
                return c.err(format!(
                    "copy{{{target}}} must live on {target}, not {device}"
                ));
            }
            if operands.iter().any(|&o| g.node(o).device == target) {
                return c.err(format!("copy to {target} of a value already on {target}"));
            }
        } else if let Some(&o) = operands.iter().find(|&&o| g.node(o).device != device) {
            return c.err(format!(
                "operand is on {}, but {head} runs on {device} (insert a copy)",
                g.node(o).device
            ));
        }
        drop(types);
        Ok(self.graph.add_typed(op, ty, device, &operands, None))
    }

    fn operand(&self, c: &mut Cursor<'_>) -> Result<NodeId> {
        c.expect('%', "an operand like %3")?;
        let name = c.take(is_ident);
        match self.names.get(name) {
            Some(&id) => Ok(id),
            None if name.is_empty() => c.err("expected an operand name after '%'"),
            None => c.err(format!("%{name} is not defined on an earlier line")),
        }
    }
}

fn parse_loc(line: usize, text: &str) -> Result<SourceLoc> {
    let err = || IrError::Parse {
        line,
        why: format!(
            "expected a location like `# file.py:12` after '#', found {:?}",
            text.trim()
        ),
    };
    let (file, n) = text.trim().rsplit_once(':').ok_or_else(err)?;
    let n: u32 = n.trim().parse().map_err(|_| err())?;
    Ok(SourceLoc {
        file: file.trim().into(),
        line: n,
    })
}

/// Checks that a type's element count stays far from overflow, in any dimension order.
fn check_size(ty: &ValueType) -> std::result::Result<(), String> {
    let mut n: usize = 1;
    for &d in ty.shape.iter().filter(|&&d| d > 0) {
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| format!("type {ty} has more than 2^40 elements"))?;
    }
    Ok(())
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_number(c: char) -> bool {
    is_ident(c) || matches!(c, '.' | '-' | '+')
}

fn is_atom(c: char) -> bool {
    is_number(c) || c == ':'
}

/// One attribute value: a token or a bracketed list of tokens.
#[derive(Debug)]
enum Attr {
    Atom(String),
    List(Vec<String>),
}

/// A character cursor over one line (the part before any `# loc`).
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn error(&self, why: impl Into<String>) -> IrError {
        IrError::Parse {
            line: self.line,
            why: why.into(),
        }
    }

    fn err<T>(&self, why: impl Into<String>) -> Result<T> {
        Err(self.error(why))
    }

    /// Turns an inference error into a parse error on this line.
    fn wrap(&self, e: IrError) -> IrError {
        self.error(e.to_string())
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.rest().chars().next()
    }

    fn found(&mut self) -> String {
        match self.peek() {
            None => "the end of the line".into(),
            Some(_) => format!("{:?}", self.rest().chars().take(12).collect::<String>()),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            let found = self.found();
            self.err(format!("expected {what}, found {found}"))
        }
    }

    /// Takes the longest run of characters matching `pred` (after whitespace).
    fn take(&mut self, pred: fn(char) -> bool) -> &'a str {
        self.skip_ws();
        let rest = self.rest();
        let n = rest.find(|c: char| !pred(c)).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    /// Takes `word` when it is the next whole identifier.
    fn keyword(&mut self, word: &str) -> bool {
        let save = self.pos;
        if self.take(is_ident) == word {
            return true;
        }
        self.pos = save;
        false
    }

    fn usize(&mut self, what: &str) -> Result<usize> {
        let tok = self.take(is_ident);
        tok.parse()
            .or_else(|_| self.err(format!("expected {what}, found {tok:?}")))
    }

    fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => {
                let found = self.found();
                self.err(format!("unexpected {found} at the end of the line"))
            }
        }
    }

    /// `f32[4,8]`.
    fn ty(&mut self) -> Result<ValueType> {
        let name = self.take(is_ident);
        let dtype = DType::from_name(name).map_or_else(
            || self.err(format!("expected a dtype like f32, found {name:?}")),
            Ok,
        )?;
        self.expect('[', "'[' after the dtype")?;
        let mut shape = Shape::new();
        if !self.eat(']') {
            loop {
                shape.push(self.usize("a dimension size")?);
                if self.eat(']') {
                    break;
                }
                self.expect(',', "',' or ']' in the shape")?;
            }
        }
        let ty = ValueType { dtype, shape };
        check_size(&ty).map_err(|why| self.error(why))?;
        Ok(ty)
    }

    /// `@cuda:0`, when present.
    fn device(&mut self) -> Result<Option<Device>> {
        if !self.eat('@') {
            return Ok(None);
        }
        let tok = self.take(is_atom);
        Device::parse(tok).map(Some).map_or_else(
            || {
                self.err(format!(
                    "expected a device like cpu or cuda:0, found {tok:?}"
                ))
            },
            Ok,
        )
    }

    /// A constant's value for type `ty`: one scalar (a splat) or a full list.
    fn literal(&mut self, ty: &ValueType) -> Result<Literal> {
        let n = ty.shape.iter().product::<usize>();
        if n > MAX_CONST_ELEMENTS {
            return self.err(format!("constant {ty} is too large for the text form"));
        }
        let mut bytes = Vec::with_capacity(n * ty.dtype.size());
        if self.eat('[') {
            let mut count = 0usize;
            if !self.eat(']') {
                loop {
                    let s = self.scalar(ty.dtype)?;
                    count += 1;
                    if count <= n {
                        bytes.extend(s.to_bytes());
                    }
                    if self.eat(']') {
                        break;
                    }
                    self.expect(',', "',' or ']' in the constant's values")?;
                }
            }
            if count != n {
                return self.err(format!("constant {ty} needs {n} values, found {count}"));
            }
        } else {
            if n == 0 {
                return self.err(format!(
                    "constant {ty} has no elements; write its value as []"
                ));
            }
            let s = self.scalar(ty.dtype)?.to_bytes();
            for _ in 0..n {
                bytes.extend_from_slice(&s);
            }
        }
        Literal::from_bytes(ty.dtype, &ty.shape, bytes).map_or_else(
            || self.err(format!("constant {ty} has the wrong number of bytes")),
            Ok,
        )
    }

    fn scalar(&mut self, dtype: DType) -> Result<Scalar> {
        let tok = self.take(is_number);
        let s = match dtype {
            DType::Bool => match tok {
                "true" => Some(Scalar::Bool(true)),
                "false" => Some(Scalar::Bool(false)),
                _ => None,
            },
            DType::I32 => tok.parse().ok().map(Scalar::I32),
            DType::I64 => tok.parse().ok().map(Scalar::I64),
            DType::F32 => tok.parse().ok().map(Scalar::F32),
            DType::F64 => tok.parse().ok().map(Scalar::F64),
        };
        s.map_or_else(
            || self.err(format!("expected a {dtype} value, found {tok:?}")),
            Ok,
        )
    }

    /// `{key=value, value, key=[a, b]}`.
    fn attrs(&mut self) -> Result<Vec<(Option<String>, Attr)>> {
        self.expect('{', "'{'")?;
        let mut out = Vec::new();
        if self.eat('}') {
            return Ok(out);
        }
        loop {
            let mut key = None;
            let mut value = self.attr_value()?;
            if let Attr::Atom(k) = &value {
                if self.eat('=') {
                    key = Some(k.clone());
                    value = self.attr_value()?;
                }
            }
            out.push((key, value));
            if self.eat('}') {
                return Ok(out);
            }
            self.expect(',', "',' or '}' between attributes")?;
        }
    }

    fn attr_value(&mut self) -> Result<Attr> {
        if !self.eat('[') {
            let tok = self.take(is_atom);
            if tok.is_empty() {
                let found = self.found();
                return self.err(format!("expected an attribute value, found {found}"));
            }
            return Ok(Attr::Atom(tok.to_string()));
        }
        let mut items = Vec::new();
        if self.eat(']') {
            return Ok(Attr::List(items));
        }
        loop {
            items.push(self.take(is_atom).to_string());
            if self.eat(']') {
                return Ok(Attr::List(items));
            }
            self.expect(',', "',' or ']' in the list")?;
        }
    }
}

/// The attributes of one op line, taken one by one; leftovers are an error.
struct Attrs {
    op: String,
    items: Vec<(Option<String>, Attr)>,
}

type Why<T> = std::result::Result<T, String>;

impl Attrs {
    fn take(&mut self, key: Option<&str>) -> Why<Attr> {
        let pos = self.items.iter().position(|(k, _)| k.as_deref() == key);
        match pos {
            Some(i) => Ok(self.items.remove(i).1),
            None => Err(match key {
                Some(k) => format!("{} needs the attribute {k}=...", self.op),
                None => format!("{} needs an attribute like {}{{...}}", self.op, self.op),
            }),
        }
    }

    fn atom(&mut self, key: Option<&str>) -> Why<String> {
        match self.take(key)? {
            Attr::Atom(s) => Ok(s),
            Attr::List(_) => Err(format!(
                "{}: expected a single value, found a list",
                self.op
            )),
        }
    }

    fn list(&mut self, key: Option<&str>) -> Why<Vec<String>> {
        match self.take(key)? {
            Attr::List(v) => Ok(v),
            Attr::Atom(s) => Err(format!(
                "{}: expected a list like [0,1], found {s:?}",
                self.op
            )),
        }
    }

    fn num<T: std::str::FromStr>(&self, s: &str) -> Why<T> {
        s.parse()
            .map_err(|_| format!("{}: {s:?} is not a valid number here", self.op))
    }

    fn usize(&mut self, key: &str) -> Why<usize> {
        let s = self.atom(Some(key))?;
        self.num(&s)
    }

    fn usizes(&mut self, key: &str) -> Why<SmallVec<[usize; 4]>> {
        let items = self.list(Some(key))?;
        items.iter().map(|s| self.num(s)).collect()
    }

    /// Axes of a reduction or composite: sorted and unique.
    fn axes(&mut self) -> Why<SmallVec<[usize; 4]>> {
        let axes = self.usizes("axes")?;
        if axes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "{}: axes {:?} must be sorted and unique",
                self.op,
                axes.as_slice()
            ));
        }
        Ok(axes)
    }

    fn shape(&mut self) -> Why<Shape> {
        let shape: Shape = self.usizes("shape")?;
        check_size(&ValueType {
            dtype: DType::Bool,
            shape: shape.clone(),
        })?;
        Ok(shape)
    }

    fn bool(&mut self, key: &str) -> Why<bool> {
        match self.atom(Some(key))?.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!(
                "{}: {key} must be true or false, found {other:?}",
                self.op
            )),
        }
    }

    fn slice(&mut self) -> Why<SmallVec<[SliceDim; 4]>> {
        let items = self.list(None)?;
        items
            .iter()
            .map(|item| {
                let parts: Vec<&str> = item.split(':').collect();
                let bad = || format!("slice: expected start:len:step, found {item:?}");
                let [start, len, step] = parts.as_slice() else {
                    return Err(bad());
                };
                let dim = SliceDim {
                    start: start.parse().map_err(|_| bad())?,
                    len: len.parse().map_err(|_| bad())?,
                    step: step.parse().map_err(|_| bad())?,
                };
                if dim.step == 0 {
                    return Err("slice: step cannot be zero".into());
                }
                // Keep the index arithmetic of shape inference (`start + (len - 1) * step`, in
                // i64, even for empty slices) far from overflow: a slice of any parsable shape
                // starts and ends within 2^40, and no real step is near 2^62.
                let last = dim.start as i128 + (dim.len as i128 - 1) * dim.step as i128;
                let bound = 0..=MAX_ELEMENTS as i128;
                let ends_inside = dim.len == 0 || bound.contains(&last);
                if !bound.contains(&(dim.start as i128))
                    || !ends_inside
                    || dim.step.unsigned_abs() > 1 << 62
                {
                    return Err(format!("slice: {item} reaches outside any dimension"));
                }
                Ok(dim)
            })
            .collect()
    }

    fn finish(self) -> Why<()> {
        match self.items.first() {
            None => Ok(()),
            Some((Some(k), _)) => Err(format!("{}: unexpected attribute {k}", self.op)),
            Some((None, _)) => Err(format!("{}: unexpected attribute value", self.op)),
        }
    }
}

/// Builds the op named `name` from its attributes.
fn build_op(name: &str, items: Vec<(Option<String>, Attr)>) -> Why<Op> {
    let mut a = Attrs {
        op: name.to_string(),
        items,
    };
    let op = if let Some(u) = UnaryOp::from_name(name) {
        Op::Unary(u)
    } else if let Some(b) = BinaryOp::from_name(name) {
        Op::Binary(b)
    } else if let Some(r) = ReduceOp::from_name(name) {
        Op::Reduce {
            op: r,
            axes: a.axes()?,
            keepdims: a.bool("keepdims")?,
        }
    } else {
        match name {
            "where" => Op::Where,
            "matmul" => Op::MatMul,
            "cast" => {
                let d = a.atom(None)?;
                Op::Cast(DType::from_name(&d).ok_or_else(|| format!("cast: unknown dtype {d:?}"))?)
            }
            "copy" => {
                let d = a.atom(None)?;
                Op::Copy(Device::parse(&d).ok_or_else(|| format!("copy: unknown device {d:?}"))?)
            }
            "reshape" => Op::Reshape(a.shape()?),
            "broadcast" => Op::Broadcast(a.shape()?),
            "permute" => Op::Permute(a.usizes("perm")?),
            "slice" => Op::Slice(a.slice()?),
            "concat" => Op::Concat {
                axis: a.usize("axis")?,
            },
            _ => Op::Composite(build_composite(name, &mut a)?),
        }
    };
    a.finish()?;
    Ok(op)
}

fn build_composite(name: &str, a: &mut Attrs) -> Why<Composite> {
    Ok(match name {
        "softmax" => Composite::Softmax {
            axis: a.usize("axis")?,
        },
        "log_softmax" => Composite::LogSoftmax {
            axis: a.usize("axis")?,
        },
        "logsumexp" => Composite::LogSumExp {
            axes: a.axes()?,
            keepdims: a.bool("keepdims")?,
        },
        "mean" => Composite::Mean {
            axes: a.axes()?,
            keepdims: a.bool("keepdims")?,
        },
        "var" | "std" => {
            let (axes, keepdims) = (a.axes()?, a.bool("keepdims")?);
            let ddof = a.atom(Some("ddof"))?;
            let ddof = a.num(&ddof)?;
            if name == "var" {
                Composite::Var {
                    axes,
                    keepdims,
                    ddof,
                }
            } else {
                Composite::Std {
                    axes,
                    keepdims,
                    ddof,
                }
            }
        }
        "gelu" => Composite::Gelu {
            approximate: a.bool("approximate")?,
        },
        "silu" => Composite::Silu,
        "layer_norm" => {
            let axes = a.axes()?;
            let eps = a.atom(Some("eps"))?;
            let eps: f64 = a.num(&eps)?;
            Composite::LayerNorm {
                axes,
                eps_bits: eps.to_bits(),
            }
        }
        "input" | "const" | "output" => {
            return Err(format!(
                "{name} has its own line form (see the text format docs)"
            ))
        }
        _ => return Err(format!("unknown op {name:?}")),
    })
}
