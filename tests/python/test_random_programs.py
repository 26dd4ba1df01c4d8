"""Differential fuzzing: random NumPy programs through ``@ember.jit``, eagerly on Ember tensors,
``@ember.jit`` on tensors and ``ember.jit(device="cuda")`` (simulated without a GPU), judged
against NumPy itself (see ``random_programs`` for the programs and ``program_oracle`` for the
judging).

The seeds are fixed, so CI runs the same programs every time; ``EMBER_FUZZ_PROGRAMS`` and
``EMBER_FUZZ_SEED`` (the first seed) run others, e.g. ``EMBER_FUZZ_PROGRAMS=20000``. A failure
prints each failing program as a script to paste; ``python tests/python/program_oracle.py
--start S --count N`` runs programs outside pytest with statistics.
"""

import os
import re

import pytest
from program_oracle import modes, run
from random_programs import generate

PROGRAMS = int(os.environ.get("EMBER_FUZZ_PROGRAMS", "2500"))
FIRST_SEED = int(os.environ.get("EMBER_FUZZ_SEED", "0"))
#: Seeds beyond the range that found bugs, run every time (with this generator: a change to
#: random_programs.py makes other programs of them, so look for new ones with long runs).
#: 3606, 4011: a row kernel added each row's own sum where sum(e, axis=-1) broadcasts along
#: rows; 6394: the host GEMM read one matrix for a whole batch (a size-1 axis's odd stride);
#: 104029, 106387, 115832, 125393: a kernel re-ordered for transposed / Fortran operands merged
#: an np.broadcast_to argument's (stride-0) axis with one it lacks, viewing it past its end.
#: 1491739: np.clip(int32_array, inf, 2**31 - 1) kept the a_max that NumPy drops (an int at
#: the array's largest value clips nothing), giving a_max where NumPy gives inf.
REGRESSION_SEEDS = [3606, 4011, 6394, 104029, 106387, 115832, 125393, 1491739]

#: Fallbacks that are Ember's design, not bugs: the generator writes these on purpose.
EXPECTED_FALLBACKS = [
    # np.asarray(x, dtype=...) is not a NumPy function that dispatches (it has no
    # __array_function__ hook): it reads the tensor's memory, which tracing cannot give.
    r"^__array_interface__ needs the value of a traced tensor",
    # Ember has no bitwise integer ops: &, |, ^, ~ on integers run in NumPy.
    r"^np\.(bitwise_and|bitwise_or|bitwise_xor|invert) is not supported by Ember while tracing",
    # ember.dot is matmul for 1-d and 2-d operands only; NumPy's N-d dot is a different product.
    r"^np\.dot is not supported by Ember while tracing \(ember\.dot supports 1-d and 2-d",
]


def unexpected(reason):
    return not any(re.search(p, reason) for p in EXPECTED_FALLBACKS)


def test_random_programs_match_numpy():
    failures = []
    seeds = list(range(FIRST_SEED, FIRST_SEED + PROGRAMS))
    for seed in seeds + [s for s in REGRESSION_SEEDS if s not in seeds]:
        prog = generate(seed)
        problems, fallbacks = run(prog, **modes(prog))
        problems += [f"{mode}: unexpected fallback: {r}" for mode, r in fallbacks if unexpected(r)]
        if problems:
            failures.append("\n".join([f"--- seed {seed}:", *problems, prog.reproducer()]))
    if failures:
        pytest.fail(
            f"{len(failures)} random programs differ from NumPy:\n\n" + "\n".join(failures[:10]),
            pytrace=False,
        )
