"""Random NumPy programs for differential fuzzing (used by ``test_random_programs.py``).

:func:`generate` builds a program from a seed: a function ``f(a0, a1, ...)`` of a few
statements, each a NumPy expression over the arguments, earlier results and scalar literals,
plus the source of its arguments. Every candidate statement is evaluated with NumPy while the
program grows, so most programs are valid and their values stay small, finite where that
matters, and of dtypes Ember supports; a statement NumPy rejects (shapes that do not
broadcast, a bad axis, a bool negative, ...) is kept now and then as the program's last one,
to check that Ember raises a compatible exception.

Everything a program does is in its source text (arguments included: small ones as
literals, larger ones drawn from a seeded ``np.random.default_rng``), so
:meth:`Program.reproducer` prints a script that can be pasted to reproduce a failure.

Not generated, because NumPy's answer is no oracle there (each is skipped where it arises):

* float-to-int casts of NaN, infinities or out-of-range values, and integer means or
  variances of nothing (NaN cast to int): undefined in C, NumPy returns the platform's value;
* integer powers with negative exponents: NumPy raises for the values, Ember checks types;
* what NumPy scalars do differently from 0-d arrays (Ember has only 0-d tensors): a scalar's
  methods take ``axis=0``, scalars have no ``@``, ``np.bool_(1) ** 2`` is int64 where
  ``np.array(True) ** 2`` is np.square's int8;
* ``np.where(c, int32_array, 2**31)``: NumPy wraps the Python int silently, Ember raises
  OverflowError as NumPy's arithmetic does;
* ``np.dot`` with a 0-d operand: BLAS scaling by 0 turns NaN into 0, where the multiply that
  NumPy documents (and Ember computes) keeps NaN.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np

DTYPES = ("bool", "int32", "int64", "float32", "float64")
SUPPORTED = {"b1", "i4", "i8", "f4", "f8"}
NP = {"bool": "np.bool_", "int32": "np.int32", "int64": "np.int64", "float32": "np.float32", "float64": "np.float64"}
#: Errors NumPy raises for bad *data* rather than bad shapes or types: Ember checks shapes and
#: dtypes while tracing and cannot raise for values, so statements that raise these are dropped.
DATA_ERRORS = ("Integers to negative integer powers",)
#: Arrays up to this size are spelled as literals; larger ones come from a seeded generator.
LITERAL_SIZE = 32
#: Programs stay below this many elements per value (small ones below SMALL_SIZE, so that the
#: simulated CUDA device, an interpreter, runs them quickly).
MAX_SIZE = 40000
SMALL_SIZE = 256
HUGE_SIZE = 4_000_000


def supported(a):
    a = np.asarray(a)
    return a.dtype.kind + str(a.dtype.itemsize) in SUPPORTED


class Program:
    """A generated program: argument sources, body statements and what it returns."""

    def __init__(self, seed, args, body, ret, tags):
        self.seed = seed
        self.args = args  # [(name, source)]
        self.body = body  # [statement source]
        self.ret = ret
        self.tags = tags  # feature tags, for statistics and skips

    @property
    def names(self):
        return [n for n, _ in self.args]

    def function_source(self):
        lines = [f"def f({', '.join(self.names)}):"]
        lines += [f"    {s}" for s in self.body]
        lines.append(f"    return {self.ret}")
        return "\n".join(lines) + "\n"

    def args_source(self):
        return "\n".join(f"{n} = {s}" for n, s in self.args) + "\n"

    def make_args(self):
        ns = {"np": np}
        return [eval(s, ns) for _, s in self.args]

    def compile(self, source=None):
        ns = {"np": np}
        exec(source or self.function_source(), ns)
        return ns["f"]

    def reproducer(self):
        call = f"f({', '.join(self.names)})"
        return (
            f"# random program, seed {self.seed}\n"
            "import numpy as np\nimport ember\n\n"
            f"{self.function_source()}\n"
            f"{self.args_source()}"
            f"print('numpy:', {call})\n"
            f"print('jit:  ', ember.jit(f)({', '.join(self.names)}))\n"
            f"print('eager:', f({', '.join(f'ember.asarray({n})' for n in self.names)}))\n"
        )


def _literal(values):
    """Nested-list source of ``values`` (a NumPy array) with NaN and infinities spelled
    ``np.nan`` / ``np.inf``."""

    def one(v):
        if isinstance(v, float):
            if math.isnan(v):
                return "np.nan"
            if math.isinf(v):
                return "np.inf" if v > 0 else "-np.inf"
            return repr(v)
        return repr(v)

    def rec(x):
        if isinstance(x, list):
            return "[" + ", ".join(rec(v) for v in x) + "]"
        return one(x)

    return rec(values.tolist())


class Generator:
    """Builds one program from ``seed``; see the module doc."""

    def __init__(self, seed, max_statements=6, huge=False):
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.max_statements = max_statements
        self.huge = huge
        self.env = []  # [(name, value)]
        self.tags = set()

    # -- random helpers ------------------------------------------------------------------
    def chance(self, p):
        return self.rng.random() < p

    def choice(self, seq, p=None):
        if p is not None:
            p = np.asarray(p, float)
            p = p / p.sum()
        return seq[self.rng.choice(len(seq), p=p)]

    def randint(self, lo, hi):
        """An int in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    # -- arguments -----------------------------------------------------------------------
    def values(self, shape, dtype):
        rng = self.rng
        if dtype == "bool":
            return rng.random(shape) < 0.5
        if dtype.startswith("int"):
            v = rng.integers(-5, 6, size=shape)
            if self.chance(0.15):
                info = np.iinfo(dtype)
                edges = np.array([info.min, info.max, -1, 0, info.max // 3, info.min // 3], dtype=dtype)
                mask = rng.random(shape) < 0.3
                v = np.where(mask, rng.choice(edges, size=shape), v)
            return np.asarray(v, dtype=dtype)
        scale = self.choice([1.0, 10.0, 0.01, 1000.0], p=[5, 2, 1, 1])
        v = np.round(rng.standard_normal(shape) * scale, 2 if scale >= 1 else 4)
        if self.chance(0.12):
            specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0])
            mask = rng.random(shape) < 0.25
            v = np.where(mask, rng.choice(specials, size=shape), v)
        return np.asarray(v, dtype=np.float64)

    def arg_shape(self, base):
        """A shape broadcast-compatible with ``base`` (a suffix with some dims set to 1),
        sometimes an unrelated one."""
        if self.chance(0.1):
            return tuple(self.randint(0, 5) for _ in range(self.randint(0, 3)))
        k = self.randint(0, len(base))
        shape = list(base[len(base) - k :])
        for i in range(len(shape)):
            if self.chance(0.2):
                shape[i] = 1
        return tuple(shape)

    def array(self, shape, dtype):
        """Source of a C-order array of random values: a literal when small, else drawn from a
        seeded NumPy generator (``np.zeros`` when empty: a nested list cannot spell (0, 3))."""
        shape = tuple(shape)
        if 0 in shape:
            return f"np.zeros({shape}, dtype={NP[dtype]})"
        if math.prod(shape) <= LITERAL_SIZE:
            return f"np.array({_literal(self.values(shape, dtype))}, dtype={NP[dtype]})"
        r = f"np.random.default_rng({self.randint(0, 99999)})"
        if dtype == "bool":
            return f"({r}.random({shape}) < 0.5)"
        if dtype.startswith("int"):
            return f"{r}.integers(-5, 6, {shape}).astype({NP[dtype]})"
        scale = self.choice(["", " * 10", " * 1000", " * 0.01"], p=[5, 2, 1, 1])
        src = f"({r}.standard_normal({shape}){scale}).astype({NP[dtype]})"
        if self.chance(0.1):
            src = f"np.where({r}.random({shape}) < 0.05, np.nan, {src})".replace("np.nan,", f"{NP[dtype]}(np.nan),")
        return src

    def argument(self, name, shape, dtype):
        """Source of an argument of ``shape`` and ``dtype`` in a random memory layout."""
        nd = len(shape)
        dt = NP[dtype]
        if nd == 0:
            v = _literal(self.values((), dtype))
            form = self.choice(["array", "scalar"])
            self.tags.add(f"arg0d_{form}")
            return f"np.array({v}, dtype={dt})" if form == "array" else f"{dt}({v})"
        layouts = ["C", "F", "T", "reversed", "stepped", "offset", "broadcast"]
        layout = self.choice(layouts, p=[4, 1.5 if nd >= 2 else 0, 1.5 if nd >= 2 else 0, 1, 1, 0.5, 0.5])
        self.tags.add(f"layout_{layout}")
        if layout == "T":
            perm = list(self.rng.permutation(nd))
            while perm == list(range(nd)):
                perm = list(self.rng.permutation(nd))
            inv = np.argsort(perm)
            base = tuple(shape[i] for i in inv)
            src = self.array(base, dtype)
            if perm == list(range(nd))[::-1]:
                return f"{src}.T"
            return f"{src}.transpose({tuple(int(p) for p in perm)})"
        if layout in ("reversed", "stepped", "offset"):
            ax = self.randint(0, nd - 1)
            base = list(shape)
            if layout == "stepped":
                base[ax] = 2 * shape[ax] - (1 if shape[ax] and self.chance(0.5) else 0)
                sl = "::2"
            elif layout == "offset":
                base[ax] = shape[ax] + 1
                sl = "1:"
            else:
                sl = "::-1"
            idx = ", ".join([":"] * ax + [sl])
            return f"{self.array(tuple(base), dtype)}[{idx}]"
        if layout == "broadcast":
            base = tuple(1 if self.chance(0.5) else s for s in shape)
            return f"np.broadcast_to({self.array(base, dtype)}, {shape})"
        src = self.array(shape, dtype)
        return f"np.asfortranarray({src})" if layout == "F" else src

    # -- operands ------------------------------------------------------------------------
    def pick(self):
        """A variable: usually a recent one, so that statements chain."""
        if self.chance(0.55):
            return self.env[-1]
        return self.env[self.randint(0, len(self.env) - 1)]

    #: Python ints beyond int32 (and int64's edge) that scalars may be.
    BIGINTS = ("2**31", "-(2**31) - 1", "2**40", "2**31 - 1")

    def scalar(self, bigint=True):
        """A Python scalar (weak under NEP 50) or a NumPy scalar (strong); ``bigint`` allows
        Python ints beyond int32's range."""
        if self.chance(0.35):
            self.tags.add("np_scalar")
            t = self.choice(["float32", "float64", "int32", "int64", "bool"], p=[3, 3, 2, 2, 1])
            if t == "bool":
                return f"np.bool_({self.choice(['True', 'False'])})"
            if t.startswith("int"):
                return f"{NP[t]}({self.choice([0, 1, 2, 3, -1, -2, 5, 7])})"
            values = ["2.5", "0.5", "-1.5", "3.0", "0.1", "1e-3", "-2.0", "np.nan", "1e30"]
            return f"{NP[t]}({self.choice(values, p=[3, 3, 3, 2, 1, 1, 2, 0.3, 0.3])})"
        self.tags.add("py_scalar")
        kind = self.choice(["int", "float", "bool", "bigint"], p=[4, 4, 1, 0.3 if bigint else 0])
        if kind == "int":
            return str(self.choice([0, 1, 2, 3, -1, -2, 5, 7, 100]))
        if kind == "bigint":
            self.tags.add("bigint")
            return self.choice(self.BIGINTS)
        if kind == "bool":
            return self.choice(["True", "False"])
        return self.choice(
            ["2.5", "0.5", "-1.5", "3.0", "0.1", "1e-3", "-2.0", "float('nan')", "float('inf')", "1e30"],
            p=[3, 3, 3, 2, 1, 1, 2, 0.3, 0.3, 0.3],
        )

    def operand(self, p_scalar=0.3, bigint=True):
        if self.chance(p_scalar):
            return self.scalar(bigint)
        return self.pick()[0]

    def axis(self, nd, allow_tuple=True):
        r = self.rng.random()
        if r < 0.3 or nd == 0:
            return "None" if nd or self.chance(0.8) else "0"
        if r < 0.78 or nd < 2 or not allow_tuple:
            if self.chance(0.03):
                return str(nd + self.randint(0, 1))  # out of range: AxisError
            return str(self.randint(-nd, nd - 1))
        if r < 0.97:
            k = self.randint(2, nd)
            axes = [int(a) for a in self.rng.permutation(nd)[:k]]
            if self.chance(0.3):
                axes[0] -= nd
            return str(tuple(axes))
        return "()"

    # -- statements ----------------------------------------------------------------------
    UNARY = [
        "-{x}", "abs({x})", "np.abs({x})", "np.negative({x})", "np.exp({x})", "np.log({x})",
        "np.sqrt({x})", "np.sin({x})", "np.cos({x})", "np.tanh({x})", "np.tan({x})",
        "np.expm1({x})", "np.log1p({x})", "np.arctan({x})", "np.arcsin({x})", "np.arccos({x})",
        "np.sinh({x})", "np.cosh({x})", "np.square({x})", "np.reciprocal({x})", "np.floor({x})",
        "np.ceil({x})", "np.round({x})", "np.rint({x})", "np.sign({x})", "np.isnan({x})",
        "np.isinf({x})", "np.isfinite({x})", "np.logical_not({x})", "~{x}", "np.fabs({x})",
    ]  # fmt: skip
    BINARY = [
        "{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / {b}", "{a} // {b}", "{a} % {b}",
        "{a} ** {b}", "np.add({a}, {b})", "np.subtract({a}, {b})", "np.multiply({a}, {b})",
        "np.divide({a}, {b})", "np.floor_divide({a}, {b})", "np.remainder({a}, {b})",
        "np.power({a}, {b})", "np.maximum({a}, {b})", "np.minimum({a}, {b})",
        "np.arctan2({a}, {b})", "{a} < {b}", "{a} <= {b}", "{a} > {b}", "{a} >= {b}",
        "{a} == {b}", "{a} != {b}", "np.less({a}, {b})", "np.equal({a}, {b})",
        "np.logical_and({a}, {b})", "np.logical_or({a}, {b})", "np.logical_xor({a}, {b})",
        "{a} & {b}", "{a} | {b}", "{a} ^ {b}",
    ]  # fmt: skip

    def unary(self):
        t = self.choice(self.UNARY)
        self.tags.add("unary")
        return t.format(x=self.pick()[0])

    def binary(self):
        t = self.choice(self.BINARY)
        self.tags.add("binary")
        a = self.operand(0.15)
        b = self.operand(0.35)
        if a[0].isdigit() or a[0] == "-" or a.startswith(("np.", "float", "True", "False", "(")):
            if b[0].isdigit() or b[0] == "-" or b.startswith(("np.", "float", "True", "False", "(")):
                b = self.pick()[0]  # at least one array operand
        if t in ("{a} & {b}", "{a} | {b}", "{a} ^ {b}") and self.chance(0.8):
            # Mostly on bools (Ember's bitwise operators are logical operators on bool).
            bools = [n for n, v in self.env if np.asarray(v).dtype == bool]
            if bools:
                a, b = self.choice(bools), self.choice(bools)
        if "**" in t and isinstance(dict(self.env).get(a), np.generic):
            # A NumPy scalar's ``**`` is np.power, an array's ``** 2`` np.square (int8 for
            # bool): Ember has no scalars, so its 0-d tensors do as arrays do.
            return None
        if "**" in t or "power" in t:
            self.tags.add("power")
            if b in self.BIGINTS:
                # A Python-int base (an argument passed as an int) to a power of 2**40 is a
                # bigint Python never finishes computing.
                b = "2"
            if self.chance(0.6):
                b = self.choice(["2", "3", "0.5", "np.int32(2)", "np.float32(2.0)", "-1.0", "0"])
        if b.startswith("-"):
            b = f"({b})"
        return t.format(a=a, b=b)

    def ternary(self):
        self.tags.add("ternary")
        kind = self.choice(["where", "clip", "clip_method", "where_cmp"])
        x = self.pick()[0]
        if kind.startswith("where"):
            bools = [n for n, v in self.env if np.asarray(v).dtype == bool]
            if kind == "where" and bools:
                cond = self.choice(bools)
            else:
                cond = f"{self.pick()[0]} > {self.choice(['0', '1', '0.5', 'np.float32(0.5)'])}"
            # NumPy's where wraps a Python int beyond the array's int32 range silently
            # (np.where(c, int32_array, 2**31) holds -2**31); Ember raises OverflowError, as
            # NumPy's arithmetic does. Not generated.
            return f"np.where({cond}, {x}, {self.operand(0.4, bigint=False)})"
        lo, hi = self.operand(0.7), self.operand(0.7)
        if self.chance(0.15):
            lo = "None"
        elif self.chance(0.15):
            hi = "None"
        if kind == "clip_method":
            return f"{x}.clip({lo}, {hi})"
        return f"np.clip({x}, {lo}, {hi})"

    def reduction(self):
        self.tags.add("reduction")
        name, v = self.pick()
        nd = np.ndim(v)
        generic = isinstance(v, np.generic)
        op = self.choice(
            ["sum", "prod", "max", "min", "mean", "any", "all", "argmax", "argmin", "var", "std"],
            p=[4, 1.5, 2, 2, 3, 1, 1, 1.5, 1.5, 1.5, 1.5],
        )
        self.tags.add(f"red_{op}")
        # A NumPy scalar's methods take axis=0 where a 0-d array (and a 0-d Ember tensor)
        # raises AxisError: Ember has no scalars, so such values get axis=None only.
        ax = "None" if generic else self.axis(nd, allow_tuple=op not in ("argmax", "argmin"))
        kw = []
        if ax != "None" or self.chance(0.3):
            kw.append(f"axis={ax}")
        if self.chance(0.3):
            kw.append("keepdims=True")
        if op in ("sum", "prod", "mean", "var", "std") and self.chance(0.25):
            self.tags.add("red_dtype")
            kw.append(f"dtype={NP[self.choice(['int32', 'int64', 'float32', 'float64'])]}")
        if op in ("var", "std") and self.chance(0.3):
            kw.append(f"ddof={self.choice([1, 2])}")
        npname = {"max": self.choice(["max", "amax"]), "min": self.choice(["min", "amin"])}.get(op, op)
        if self.chance(0.5):
            return f"np.{npname}({', '.join([name] + kw)})"
        return f"{name}.{op}({', '.join(kw)})"

    def matmul(self):
        self.tags.add("matmul")
        name, v = self.pick()
        if isinstance(v, (np.generic, bool, int, float)):
            # Scalars have no ``@`` (TypeError) where 0-d arrays and tensors raise
            # ValueError: Ember has no scalars.
            return None
        s = np.shape(v)
        partners = []
        for n, w in self.env:
            t = np.shape(w)
            if not s or not t or isinstance(w, (np.generic, bool, int, float)):
                continue
            k = s[-1]
            kt = t[0] if len(t) == 1 else t[-2]
            if k == kt:
                partners.append(n)
        form = self.choice(["{a} @ {b}", "np.matmul({a}, {b})", "np.dot({a}, {b})"], p=[4, 2, 1])
        # Results may not outgrow the size limit (checked before NumPy computes them).
        size = math.prod(s)
        if partners and self.chance(0.7):
            b = self.choice(partners)
            k = max(s[-1], 1) if s else 1
            if (size // k) * (np.size(dict(self.env)[b]) // k) > self.limit:
                return None
            return form.format(a=name, b=b)
        if len(s) == 1:
            return form.format(a=name, b=name)
        if len(s) >= 2 and size // max(s[-1], 1) * max(s[-2], s[-1]) > self.limit:
            return None
        if len(s) == 2:
            return self.choice([f"{name} @ {name}.T", f"{name}.T @ {name}", f"np.matmul({name}, {name}.T)"])
        if len(s) > 2:
            return f"{name} @ np.swapaxes({name}, -1, -2)"
        other, w = self.pick()  # any other array: the shapes may not match (ValueError)
        if isinstance(w, (np.generic, bool, int, float)) or size * np.size(w) > self.limit:
            return None
        if not s or not np.ndim(w):
            # np.dot of a 0-d zero and NaN gives 0 (BLAS scal with alpha 0), not NaN as the
            # multiply it is documented to be; matmul raises. Only matmul is generated.
            form = "{a} @ {b}"
        return form.format(a=name, b=other)

    def factor_shape(self, size, nd):
        """A random shape of ``nd`` dims with ``size`` elements."""
        if nd == 0:
            return ()
        dims = [1] * nd
        n = size
        if n == 0:
            dims[self.randint(0, nd - 1)] = 0
            for i in range(nd):
                if dims[i] != 0:
                    dims[i] = self.randint(1, 3)
            return tuple(dims)
        p = 2
        while n > 1:
            while n % p:
                p += 1
            dims[self.randint(0, nd - 1)] *= p
            n //= p
        return tuple(dims)

    def movement(self):
        self.tags.add("movement")
        name, v = self.pick()
        s = np.shape(v)
        nd = len(s)
        kind = self.choice(
            ["reshape", "transpose", "slice", "expand", "squeeze", "concat", "stack", "astype", "ravel", "bcast"],
            p=[2, 2, 3, 1, 1, 1.5, 1, 2, 0.5, 0.5],
        )
        self.tags.add(f"mv_{kind}")
        if kind == "reshape":
            size = int(np.prod(s))
            shape = list(self.factor_shape(size, self.randint(0, 3) if size == 1 else self.randint(1, 4)))
            if shape and size and self.chance(0.3):
                shape[self.randint(0, len(shape) - 1)] = -1
            if self.chance(0.03):
                shape = [size + 1]  # cannot reshape: ValueError
            form = self.choice(["{x}.reshape({s})", "np.reshape({x}, {s})"])
            return form.format(x=name, s=tuple(shape))
        if kind == "transpose":
            if nd < 2 or self.chance(0.3):
                return self.choice([f"{name}.T", f"np.transpose({name})"])
            perm = tuple(int(p) for p in self.rng.permutation(nd))
            if self.chance(0.2):
                a, b = self.randint(-nd, nd - 1), self.randint(-nd, nd - 1)
                return f"np.swapaxes({name}, {a}, {b})"
            return self.choice([f"{name}.transpose({perm})", f"np.transpose({name}, {perm})"])
        if kind == "slice":
            items = []
            for d in range(nd):
                r = self.rng.random()
                if r < 0.3:
                    items.append(":")
                elif r < 0.85:
                    items.append(self.choice(["::-1", "::2", "1:", ":-1", "1::2", "::-2", "-2:", "1:3", "5:1:-2"]))
                else:
                    hi = max(s[d], 1)
                    items.append(str(self.randint(-hi, hi - 1)) if not self.chance(0.05) else str(hi + 1))
            if self.chance(0.2):
                items.insert(self.randint(0, len(items)), "None")
            if items and self.chance(0.15):
                items = ["..."] + items[1:]
            while items and items[-1] == ":" and self.chance(0.5):
                items.pop()
            if not items:
                items = ["..."]
            return f"{name}[{', '.join(items)}]"
        if kind == "expand":
            return f"np.expand_dims({name}, {self.randint(-nd - 1, nd)})"
        if kind == "squeeze":
            ones = [i for i, d in enumerate(s) if d == 1]
            if ones and self.chance(0.6):
                return f"np.squeeze({name}, axis={self.choice(ones)})"
            if nd and self.chance(0.1):
                return f"np.squeeze({name}, axis={self.randint(0, nd - 1)})"
            return self.choice([f"np.squeeze({name})", f"{name}.squeeze()"])
        if kind in ("concat", "stack"):
            ax = self.randint(-nd, nd - 1) if nd else 0
            if kind == "stack":
                ax = self.randint(-nd - 1, nd)
            partners = [
                n
                for n, w in self.env
                if np.ndim(w) == nd
                and (
                    np.shape(w) == s
                    or kind == "concat"
                    and all(a == b for i, (a, b) in enumerate(zip(np.shape(w), s, strict=True)) if i != ax % max(nd, 1))
                )
            ]
            other = (
                self.choice(partners)
                if partners and self.chance(0.7)
                else self.choice([f"-{name}", f"{name} * 2", f"{name}.astype(np.float32)", f"{name}[::-1]", name])
            )
            fn = "np.concatenate" if kind == "concat" else "np.stack"
            items = [name, other] + ([name] if self.chance(0.2) else [])
            axis = "" if ax == 0 and self.chance(0.3) else f", axis={ax}"
            return f"{fn}([{', '.join(items)}]{axis})"
        if kind == "astype":
            t = self.choice(DTYPES)
            self.tags.add(f"astype_{t}")
            return self.choice([f"{name}.astype({NP[t]})", f"np.asarray({name}, dtype={NP[t]})"], p=[5, 1])
        if kind == "ravel":
            return self.choice([f"{name}.ravel()", f"np.ravel({name})", f"{name}.flatten()"])
        shape = (self.randint(1, 3),) + tuple(s)
        return f"np.broadcast_to({name}, {shape})"

    EXTRA = [
        "np.round({x}, 2)", "np.round({x}, -1)", "np.flip({x})", "np.flip({x}, axis=0)",
        "np.tril({x})", "np.triu({x}, 1)", "np.outer({x}, {y})", "np.nansum({x}, axis=0)",
        "np.nanmax({x})", "np.nanmean({x}, axis=-1)", "np.linalg.norm({x})",
        "np.linalg.norm({x}, axis=-1)", "np.tile({x}, 2)", "np.take({x}, [0, -1], axis=0)",
        "{x}[[0, 0, -1]]", "np.einsum('...i->...', {x})", "np.tensordot({x}, {y}, axes=0)",
        "np.fliplr({x})", "np.nanstd({x})", "np.nanmin({x}, axis=0)",
    ]  # fmt: skip

    def extra(self):
        """A NumPy function Ember claims to trace (composed of primitives)."""
        t = self.choice(self.EXTRA)
        self.tags.add("extra_" + t.split("(")[0].replace("{x}", "index"))
        (x, v), (y, w) = self.pick(), self.pick()
        if "{y}" in t and np.size(v) * np.size(w) > self.limit:
            return None
        return t.format(x=x, y=y)

    #: (reduction, combination with the value reduced): two statements, so that the nudged
    #: oracle runs can move the reduction's result before a comparison reads it.
    ROWWISE = [
        ("{x}.mean(axis={ax}, keepdims={kd})", "{x} - {m}"),
        ("np.exp({x}).sum(axis={ax}, keepdims={kd})", "np.exp({x}) / {m}"),
        ("np.max({x}, axis={ax}, keepdims={kd})", "({x} - {m}) * 2"),
        ("np.sqrt(np.abs({x})).sum(axis={ax})", "{m} + np.sqrt(np.abs({x}))"),
        ("{x}.mean(axis={ax}, keepdims={kd})", "np.where({x} > {m}, {x}, 0)"),
        ("{x}.var(axis={ax}, keepdims={kd})", "{m} + {x}"),
        ("{x}.min(axis={ax}, keepdims={kd})", "np.exp({x} - {m}).sum(axis={ax})"),
        ("np.tanh({x}).prod(axis={ax}, keepdims={kd})", "{x} * {m}"),
    ]

    def rowwise(self):
        """A value combined with a reduction of itself (softmax, normalization): what fusion
        turns into row kernels, over any axis, with or without kept dims. Returns the two
        statements, the second with ``{m}`` for the first's result."""
        reduce, combine = self.choice(self.ROWWISE)
        name, v = self.pick()
        nd = np.ndim(v)
        if not nd or isinstance(v, np.generic):
            return None
        self.tags.add("rowwise")
        ax = self.randint(-nd, nd - 1) if self.chance(0.85) else f"({self.randint(0, nd - 1)},)"
        kd = self.choice(["True", "False"])
        return reduce.format(x=name, ax=ax, kd=kd), combine.format(x=name, ax=ax, m="{m}")

    def statement(self):
        kind = self.choice(
            ["unary", "binary", "ternary", "reduction", "matmul", "movement", "extra", "rowwise"],
            p=[3, 4.5, 1.2, 2.5, 1, 3, 0.6, 1],
        )
        return getattr(self, kind)()

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, expr):
        ns = {"np": np}
        ns.update(self.env)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                return eval(expr, ns)

    def acceptable(self, expr, value):
        """Whether a statement NumPy evaluated may stay: a supported dtype, a modest size, no
        float-to-int conversion of NaN, infinities or values out of the integer's range (the
        result is undefined in C, and NumPy's is just the platform's)."""
        a = np.asarray(value)
        if not supported(a) or a.size > self.limit or a.ndim > 5:
            return False
        if re.search(r"astype\(np\.int|dtype=np\.int", expr):
            for n, v in self.env:
                w = np.asarray(v)
                if w.dtype.kind == "f" and w.size and re.search(rf"\b{n}\b", expr):
                    if not (np.isfinite(w).all() and np.abs(w).max() < 2**31 - 1):
                        return False
                # The mean of nothing is NaN, and so is an integer mean's: cast to int too
                # (and a variance with ddof >= count divides by zero).
                if w.size == 0 and re.search(r"(mean|var|std)\(", expr) and re.search(rf"\b{n}\b", expr):
                    return False
            if "ddof" in expr:
                return False
        return True

    def try_statement(self, expr):
        """``("ok", value)`` for a statement to keep, ``"error"`` for one NumPy rejects that
        ends the program (kept now and then), ``None`` to try another."""
        try:
            value = self.evaluate(expr)
        except Exception as e:  # noqa: BLE001 - any NumPy error is a candidate
            if any(m in str(e) for m in DATA_ERRORS) or not self.chance(0.12):
                return None
            self.tags.add("error")
            return "error"
        if not supported(value):
            if self.chance(0.1) and np.asarray(value).dtype.kind in "biuf":
                self.tags.add("unsupported_dtype")
                return "error"
            return None
        return ("ok", value) if self.acceptable(expr, value) else None

    def generate(self):
        rng = self.rng
        nargs = self.choice([1, 2, 3], p=[3, 4, 2])
        self.big = self.huge or self.chance(0.2)
        self.limit = HUGE_SIZE if self.huge else MAX_SIZE if self.big else SMALL_SIZE
        if self.big:
            self.tags.add("big")
            nd = self.choice([1, 2, 3], p=[1, 3, 1])
            dims = [1, 3, 8, 16, 17, 31, 33, 64, 65, 100, 127, 129, 257, 1000]
            if self.huge:
                dims = [1, 7, 64, 127, 256, 513, 1000, 2048, 100000]
            base = tuple(self.choice(dims) for _ in range(nd))
            while math.prod(base) > self.limit // 4:
                base = tuple(max(1, d // 2) for d in base)
        else:
            nd = self.choice([0, 1, 2, 3, 4], p=[1, 3, 4, 2, 0.5])
            dims = [1, 2, 3, 4, 5, 7, 0]
            base = tuple(self.choice(dims, p=[1.5, 2, 2, 2, 1.5, 1, 0.3]) for _ in range(nd))
        args = []
        for i in range(nargs):
            shape = base if i == 0 else self.arg_shape(base)
            dtype = self.choice(DTYPES, p=[1.5, 1.5, 1.5, 3, 2.5])
            name = f"a{i}"
            if i and self.chance(0.08):
                # A Python scalar argument: static (part of the cache key) and weak under jit.
                self.tags.add("arg_pyscalar")
                src = self.choice(["2", "-3", "0.5", "2.5", "True", "7"])
                args.append((name, src))
                self.env.append((name, eval(src)))
                continue
            src = self.argument(name, shape, dtype)
            args.append((name, src))
            self.env.append((name, eval(src, {"np": np})))
        body = []
        error = False
        for _ in range(self.randint(1, self.max_statements)):
            for _ in range(12):
                stmt = self.statement()
                if stmt is None:
                    continue
                exprs = list(stmt) if isinstance(stmt, tuple) else [stmt]
                kept = []  # (name, expression, outcome)
                for expr in exprs:
                    name = f"v{len(body) + len(kept)}"
                    expr = expr.replace("{m}", f"v{len(body) + len(kept) - 1}")
                    outcome = self.try_statement(expr)
                    if outcome is None:
                        break
                    kept.append((name, expr, outcome))
                    if outcome == "error":
                        break
                    self.env.append((name, outcome[1]))
                error = bool(kept) and kept[-1][2] == "error"
                if len(kept) < len(exprs) and not error:
                    # Nothing, or half a pair: forget the half and try another statement.
                    self.env = self.env[: len(self.env) - len(kept)]
                    continue
                body += [f"{name} = {expr}" for name, expr, _ in kept]
                break
            if error:
                break
        if not body:
            body.append("v0 = a0")  # nothing was valid: the argument itself is the result
            self.env.append(("v0", self.env[0][1]))
        last = body[-1].split(" = ", 1)[0]
        ret = last
        if not error and self.chance(0.3):
            other = self.env[rng.integers(0, len(self.env))][0]
            ret = f"{last}, {other}" if other != last else last
        return Program(self.seed, args, body, ret, sorted(self.tags))


def generate(seed, max_statements=6, huge=False):
    """The program of ``seed``; ``huge`` makes its arrays up to ``HUGE_SIZE`` elements (for
    timing, see ``program_oracle.perf``)."""
    return Generator(seed, max_statements, huge).generate()
