"""Running a random program (see ``random_programs``) through Ember and judging the answers
against NumPy's.

The oracle is NumPy itself, run three ways: on the program as written (the answer to match);
in long double (every ``np.float32``/``np.float64`` in the source replaced by
``np.longdouble``, float arguments widened: a near-exact answer); and seven more times with
float arguments and intermediate results nudged by 2 ulps, or flushed to zero when within
rounding noise of it (how far correct-but-different roundings move each output element).
:func:`compare` turns these into tolerances: dtypes and shapes must be equal, integers and
bools exact, NaN and infinities at the same places, floats within ``K_EPS`` ulps of the long
double answer plus ``K_SPREAD`` times the spread of NumPy's answers around it; elements that
the other runs move across a comparison, a NaN or an infinity, or by a sizable fraction of
their value, are not compared.

``python program_oracle.py --start 0 --count 5000`` runs many programs and prints each
failure as a script to paste, then counts of the features covered and of fallback reasons;
``--perf`` times programs on large arrays instead (see :func:`perf`).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
from random_programs import generate, supported

#: Nudged runs per program, ``(what, sign)``: pairs of opposite signs nudging the arguments,
#: the statements' results or both (apart, so that their effects cannot cancel), and one run
#: that sets results within rounding noise of zero to zero (see :func:`_nudged_run`). An
#: output that a run flips (a sign after cancellation, a comparison near a tie, a division by
#: a variance that is 0 or 1e-32) is left unchecked.
NUDGED = [(what, sign) for what in ["arguments", "results", "arguments and results"] for sign in (1, -1)] + [
    ("zeros", 1)
]

#: Tolerance of a float result: ``K_EPS * eps * |exact|`` plus ``K_SPREAD`` times the spread of
#: NumPy's own answers around the long double one (its answer and the nudged runs'): a chain
#: that amplifies rounding errors (cancellation, exp of a large value, a long sum) moves
#: NumPy's answers by as much, so Ember may be off by a few times that. ``eps`` is that of the
#: coarsest float the output is computed from (float32 for a float64 output of float32 data).
K_EPS = 16
K_SPREAD = 4
#: A value whose spread exceeds this fraction of it is left unchecked (see :func:`compare`).
LOST = 0.01


def _outputs(r):
    """A program's result as a list of NumPy arrays (Ember tensors converted)."""
    items = r if isinstance(r, (tuple, list)) else (r,)
    return [np.asarray(o) for o in items]


def _quiet(fn, *args):
    """``fn(*args)`` with NumPy's floating-point warnings and Ember's fallback warnings off;
    returns ``(outputs, None)`` or ``(None, exception)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                return _outputs(fn(*args)), None
            except Exception as e:  # noqa: BLE001 - compared against NumPy's
                return None, e
            except BaseException as e:  # a Rust panic (pyo3's PanicException) lands here
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                return None, e


def _shadow_args(args):
    """The arguments with every float widened to long double (x87 80-bit: 64-bit mantissa)."""
    out = []
    for a in args:
        if isinstance(a, np.generic) and a.dtype.kind == "f":
            out.append(np.longdouble(a))
        elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append(a.astype(np.longdouble))
        else:
            out.append(a)
    return out


def _nudge(x, rng, sign):
    """``x`` with each float element moved by 2 ulps of its dtype, up or down at random (a
    fixed size, so that every element moves) times ``sign``; other values unchanged."""
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        return x
    noise = rng.choice([-2.0, 2.0], size=arr.shape) * np.finfo(arr.dtype).eps * sign
    with np.errstate(all="ignore"):
        p = (arr * (1 + noise)).astype(arr.dtype)
    return arr.dtype.type(p) if isinstance(x, np.generic) else p


_REDUCING = re.compile(r"\b(sum|mean|var|std|prod|norm|nansum|nanmean|nanstd|nanvar|einsum|tensordot|matmul|dot)\(|@")


def _terms(expr, ns, value):
    """About how many terms each element of a statement's result accumulates: its rounding
    error grows like the square root of that (1 for elementwise statements)."""
    if not _REDUCING.search(expr):
        return 1
    names = [n for n in re.findall(r"\b[av]\d+\b", expr) if n in ns]
    if not names:
        return 1
    if re.search(r"@|matmul|dot\(", expr):
        shape = np.shape(ns[names[0]])
        return max(shape[-1] if shape else 1, 1)
    # Elements per result element, or the longest axis when the reduction is combined with
    # its operand again (x - x.mean(axis=0)).
    ratio = max(np.size(ns[n]) for n in names) // max(np.size(value), 1)
    return max(1, ratio, *(max(np.shape(ns[n]), default=1) for n in names))


def _flush(value, expr, ns, terms):
    """``value`` with the float elements within rounding noise of zero (16 sqrt(terms) ulps
    of its largest operand, squared too for a variance's units) set to zero: a cancellation
    that one implementation rounds to 1e-32 another computes exactly."""
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        return value
    mags = [np.abs(np.asarray(ns[n], dtype=np.float64)) for n in re.findall(r"\b[av]\d+\b", expr) if n in ns]
    m = max((float(np.max(a[np.isfinite(a)], initial=0.0)) for a in mags), default=0.0)
    tiny = 16 * np.finfo(arr.dtype).eps * np.sqrt(terms) * max(m, m * m)
    with np.errstate(all="ignore"):
        out = np.where(np.abs(arr) <= tiny, arr.dtype.type(0), arr).astype(arr.dtype)
    return arr.dtype.type(out) if isinstance(value, np.generic) else out


def _nudged_run(prog, args, seed, what, sign):
    """The program run one statement at a time with its float arguments and/or (``what``)
    the float results of its statements nudged by 2 ulps (2 sqrt(n) for a result that sums n
    terms): how far rounding differences of the size a different (but correct)
    implementation makes move the outputs, through every op. Runs come in pairs with
    opposite ``sign``s: when the nudges add up (a sum, a matmul) one run of the pair moves the
    result up and the other down, so a sign that a cancellation leaves to chance flips in one
    of them. ``what="zeros"`` instead flushes results within rounding noise of zero."""
    rng = np.random.default_rng(seed)
    ns = {"np": np}
    arg_sign = sign if "arguments" in what else 0
    ns.update(zip(prog.names, (_nudge(a, rng, arg_sign) for a in args), strict=True))
    sign = sign if "results" in what else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                for stmt in prog.body:
                    name, expr = stmt.split(" = ", 1)
                    value = eval(expr, ns)
                    terms = _terms(expr, ns, value)
                    if what == "zeros":
                        ns[name] = _flush(value, expr, ns, terms)
                    else:
                        ns[name] = _nudge(value, rng, sign * np.sqrt(terms))
                return _outputs(eval(prog.ret, ns))
            except Exception:  # noqa: BLE001 - a nudge can only make this oracle unusable
                return None


def _coarsest_eps(prog, args):
    """Per output, the largest machine epsilon among the float values it is computed from
    (arguments and intermediates, followed through the statements): a float64 output computed
    through float32 is only as precise as float32."""
    ns = {"np": np}
    ns.update(zip(prog.names, args, strict=True))
    feps = lambda v: np.finfo(np.asarray(v).dtype).eps if np.asarray(v).dtype.kind == "f" else 0.0
    eps = {n: feps(a) for n, a in zip(prog.names, args, strict=True)}
    uses = lambda expr: [n for n in re.findall(r"\b[av]\d+\b", expr) if n in eps]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            for stmt in prog.body:
                name, expr = stmt.split(" = ", 1)
                try:
                    ns[name] = eval(expr, ns)
                except Exception:  # noqa: BLE001 - the error statement ends the program
                    break
                eps[name] = max([feps(ns[name])] + [eps[n] for n in uses(expr)])
    return [max([eps[n] for n in uses(out)], default=0.0) for out in prog.ret.split(", ")]


class Oracle:
    """NumPy's answer to a program, with what it takes to judge another answer: the same
    program run in long double (``np.float32``/``np.float64`` replaced by ``np.longdouble``,
    float arguments widened), and seven more times with float arguments and intermediate
    results nudged by 2 ulps or flushed to zero (see :func:`_nudged_run`)."""

    def __init__(self, prog, args):
        self.prog = prog
        self.want, self.error = _quiet(prog.compile(), *args)
        # A result of a dtype Ember does not support (float16, int8): Ember must refuse it,
        # unless the call fell back to NumPy, which then returns NumPy's answer.
        self.unsupported = self.error is None and not all(supported(w) for w in self.want)
        if self.unsupported:
            self.error = TypeError(f"NumPy's result has dtype {[str(w.dtype) for w in self.want]}")
        self.shadow = None
        self.nudged = []
        if self.want is not None:
            ok = lambda rs: rs is not None and [r.shape for r in rs] == [w.shape for w in self.want]
            src = prog.function_source().replace("np.float32", "np.longdouble").replace("np.float64", "np.longdouble")
            shadow, _ = _quiet(prog.compile(src), *_shadow_args(args))
            self.shadow = shadow if ok(shadow) else None
            runs = [_nudged_run(prog, args, (prog.seed, i // 2), what, sign) for i, (what, sign) in enumerate(NUDGED)]
            self.nudged = [r for r in runs if ok(r)]
            self.eps = _coarsest_eps(prog, args)


def compatible(np_error, em_error):
    """Whether Ember's exception answers NumPy's: the same base class (NumPy raises
    subclasses such as UFuncTypeError; its AxisError is both a ValueError and an IndexError,
    either will do)."""
    if isinstance(em_error, TypeError) and "which Ember does not support" in str(em_error):
        # Ember refuses a float16 or int8 value where NumPy computes one and fails later
        # (sqrt(bool_array) + a shape that does not broadcast): both reject the program.
        return True
    if isinstance(np_error, np.exceptions.AxisError):
        return isinstance(em_error, (ValueError, IndexError))
    # MemoryError: NumPy raises its private _ArrayMemoryError, Ember ember.OutOfMemoryError.
    for cls in (OverflowError, TypeError, IndexError, ValueError, MemoryError):
        if isinstance(np_error, cls):
            return isinstance(em_error, cls)
    return isinstance(em_error, type(np_error))


def _classes(x):
    """Per element: 0 finite, 1 NaN, 2 +inf, 3 -inf."""
    x = np.asarray(x, dtype=np.longdouble)
    return np.where(np.isnan(x), 1, np.where(np.isposinf(x), 2, np.where(np.isneginf(x), 3, 0)))


def compare(oracle, got, where):
    """Problems with ``got`` (a list of arrays) as an answer to ``oracle``'s program."""
    want = oracle.want
    if len(got) != len(want):
        return [f"{where}: {len(got)} outputs, NumPy {len(want)}"]
    problems = []
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        at = f"{where}: output {i}"
        if g.dtype != w.dtype:
            problems.append(f"{at}: dtype {g.dtype}, NumPy {w.dtype}")
            continue
        if g.shape != w.shape:
            problems.append(f"{at}: shape {g.shape}, NumPy {w.shape}")
            continue
        refs = [r[i] for r in [oracle.shadow] + oracle.nudged if r is not None]
        # Elements where NumPy's answer moves with the precision or with 2-ulp nudges of the
        # inputs: a comparison near a tie, a NaN from sqrt of a rounding error, ...
        sensitive = np.zeros(w.shape, bool)
        for r in refs:
            if w.dtype.kind == "f":
                sensitive |= _classes(r) != _classes(w)
            else:
                with np.errstate(all="ignore"):
                    sensitive |= np.asarray(r).astype(w.dtype) != w
        if w.dtype.kind != "f":
            bad = (g != w) & ~sensitive
        else:
            bad = (_classes(g) != _classes(w)) & ~sensitive
            fin = (_classes(g) == 0) & (_classes(w) == 0)
            exact = np.asarray(oracle.shadow[i] if oracle.shadow is not None else w, dtype=np.longdouble)
            spread = np.abs(w.astype(np.longdouble) - exact)
            for r in oracle.nudged:
                spread = np.maximum(spread, np.abs(r[i].astype(np.longdouble) - exact))
            eps = max(np.finfo(w.dtype).eps, oracle.eps[i])
            with np.errstate(all="ignore"):
                tol = K_EPS * eps * np.abs(exact) + K_SPREAD * spread + np.finfo(w.dtype).tiny
                err = np.abs(g.astype(np.longdouble) - exact)
                # Values that 2-ulp nudges move by a sizable fraction (tan of 1e109, whose
                # argument no two libms round alike) carry no digits to compare.
                lost = spread > LOST * np.abs(exact)
                bad |= fin & ~sensitive & ~lost & ~(err <= tol) & np.isfinite(exact)
        if bad.any():
            idx = tuple(int(j) for j in np.argwhere(bad)[0]) if w.ndim else ()
            problems.append(
                f"{at}: {int(bad.sum())} of {w.size} elements differ, first at {list(idx)}: "
                f"got {g[idx]!r}, NumPy {w[idx]!r}"
                + (f", long double {oracle.shadow[i][idx]!r}" if oracle.shadow is not None else "")
            )
    return problems


def check(got, error, oracle, where):
    """Problems with one run's outcome (outputs or exception)."""
    with np.errstate(all="ignore"):
        return _check(got, error, oracle, where)


def _check(got, error, oracle, where):
    if type(error).__name__ == "PanicException":
        return [f"{where}: Rust panic: {error}"]
    if oracle.error is not None:
        if error is None and oracle.unsupported and not compare(oracle, got, where):
            return []
        if error is None:
            return [f"{where}: returned {[f'{g.dtype}{list(g.shape)}' for g in got]}, NumPy raised {oracle.error!r}"]
        if not compatible(oracle.error, error):
            return [f"{where}: raised {error!r}, NumPy raised {oracle.error!r}"]
        return []
    if error is not None:
        return [f"{where}: raised {error!r}, NumPy returned {[f'{w.dtype}{list(w.shape)}' for w in oracle.want]}"]
    return compare(oracle, got, where)


def run(prog, cuda=False, tensors=False):
    """Runs ``prog`` with NumPy and every Ember mode; returns ``(problems, fallbacks)``.

    Modes: ``@ember.jit`` on the NumPy arguments (called twice, so the cached executable and
    the fast path run too), eager on ``ember.asarray`` tensors, with ``tensors`` ``@ember.jit``
    on those tensors (its results are tensors), and with ``cuda`` ``ember.jit(device="cuda")``
    (under ``ember.testing.simulate_cuda()`` on a machine without a GPU)."""
    import ember

    args = prog.make_args()
    oracle = Oracle(prog, args)
    problems = []
    fallbacks = []

    def record(mode, jf):
        fallbacks.extend((mode, r) for r in jf.cache_info().fallbacks)

    f = prog.compile()
    jf = ember.jit(f)
    for call in ("jit", "jit (cached)"):
        got, err = _quiet(jf, *args)
        problems += check(got, err, oracle, call)
        if err is not None:
            break
    record("jit", jf)

    # Python scalar arguments stay Python scalars.
    as_tensors = lambda: [a if isinstance(a, (bool, int, float)) else ember.asarray(a) for a in args]
    got, err = _quiet(lambda: f(*as_tensors()))
    problems += check(got, err, oracle, "eager")

    if tensors:
        jt = ember.jit(f)
        got, err = _quiet(lambda: jt(*as_tensors()))
        problems += check(got, err, oracle, "jit on tensors")
        record("jit on tensors", jt)

    if cuda:
        sim = None if "cuda:0" in ember.devices() else ember.testing.simulate_cuda(memory=64 << 20)
        try:
            jc = ember.jit(f, device="cuda")
            got, err = _quiet(jc, *args)
            problems += check(got, err, oracle, "jit(device='cuda')")
            record("cuda", jc)
        finally:
            if sim is not None:
                sim.stop()
    return problems, fallbacks


def modes(prog):
    """Which optional modes a program runs in: the simulated CUDA device for every fourth
    small program (it interprets kernels), jit on tensors for every third."""
    return {"cuda": prog.seed % 4 == 0 and "big" not in prog.tags, "tensors": prog.seed % 3 == 1}


def _best_time(fn, args, repeat=5):
    import time

    best = float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn(*args)
                best = min(best, time.perf_counter() - t0)
    return best


def perf(prog, ratio=5.0, floor=1e-3):
    """A note when a big program's cached ``@ember.jit`` call is much slower than NumPy, or
    than itself on C-contiguous copies of the same arguments (the same compiled entry: only
    the handling of the layout differs); ``None`` otherwise. Timings are noisy: this is for
    long runs, not for CI."""
    import ember

    if "big" not in prog.tags:
        return None
    args = prog.make_args()
    f = prog.compile()
    jf = ember.jit(f)
    if _quiet(jf, *args)[1] is not None or jf.cache_info().fallbacks:
        return None
    # np.array, not np.ascontiguousarray, which makes 0-d arrays 1-d.
    contiguous = [np.array(a, order="C") if isinstance(a, np.ndarray) else a for a in args]
    t_jit, t_c, t_np = _best_time(jf, args), _best_time(jf, contiguous), _best_time(f, args)
    notes = []
    if t_jit > ratio * t_c and t_jit - t_c > floor:
        notes.append(f"{t_jit * 1e3:.2f} ms on these layouts, {t_c * 1e3:.2f} ms on C-order copies")
    if t_jit > ratio * t_np and t_jit - t_np > floor:
        notes.append(f"{t_jit * 1e3:.2f} ms, NumPy {t_np * 1e3:.2f} ms")
    return "; ".join(notes) or None


def main(argv=None):
    """Runs many programs: ``python program_oracle.py --start 0 --count 5000``. Prints each
    failing program's reproducer and, at the end, counts of tags and fallback reasons. The
    program being run is written to ``--current`` first, so a crash leaves it behind."""
    import argparse
    import collections
    import time

    ap = argparse.ArgumentParser()
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--current", default="/tmp/ember_fuzz_current.py")
    ap.add_argument("--perf", action="store_true", help="time programs on large arrays instead (see perf())")
    opts = ap.parse_args(argv)
    t0 = time.time()
    failed = 0
    tags = collections.Counter()
    reasons = collections.Counter()
    for seed in range(opts.start, opts.start + opts.count):
        prog = generate(seed, huge=opts.perf)
        with open(opts.current, "w") as fh:
            fh.write(prog.reproducer())
        if opts.perf:
            if note := perf(prog):
                print(f"=== seed {seed} SLOW: {note}", prog.reproducer(), sep="\n", flush=True)
            continue
        problems, fallbacks = run(prog, **modes(prog))
        tags.update(prog.tags)
        for mode, r in fallbacks:
            reasons[f"{mode}: {r.split(' (at ')[0]}"] += 1
        if problems:
            failed += 1
            print(f"=== seed {seed} FAILED", *problems, prog.reproducer(), sep="\n", flush=True)
    print(f"{opts.count} programs, {failed} failed, {time.time() - t0:.1f} s")
    print("tags:", dict(sorted(tags.items())))
    for r, n in reasons.most_common():
        print(f"fallback x{n}: {r}")


if __name__ == "__main__":
    main()
