//! Tests of the eager kernels against hand-checked NumPy 2 results.
