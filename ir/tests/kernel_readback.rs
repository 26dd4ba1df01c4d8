//! The kernel IR's read-back rule: a load from an output reads what a closed loop of the same
//! row stored there. Checked by `verify` per argument and by the interpreter per element.

use ember_ir::kernel::interp::{self, Buffer};
use ember_ir::kernel::parse::parse;
use ember_ir::DType;

/// Two phases per row: `out[i, j] = exp(x[i, j])`, then `out[i, j] = out[i, j] * 2`.
const TWO_PHASES: &str = "\
kernel k(out a0: f32[2,3], in a1: f32[2,3]) {
  for %0 in 0..2 parallel {
    for %1 in 0..3 {
      %2 = load a1[%0, %1]
      %3 = exp %2
      store a0[%0, %1], %3
    }
    %4 = const 2:f32
    for %5 in 0..3 {
      %6 = load a0[%0, %5]
      %7 = multiply %6, %4
      store a0[%0, %5], %7
    }
  }
}
";

fn run(text: &str) -> Result<Vec<f64>, String> {
    let k = parse(text).map_err(|e| e.to_string())?;
    let x: Vec<f64> = (0..6).map(|i| i as f64 * 0.25 - 0.5).collect();
    let mut bufs = vec![
        Buffer::zeros(DType::F32, &[2, 3]),
        Buffer::from_f64s(DType::F32, &[2, 3], &x),
    ];
    interp::run(&k, &mut bufs).map_err(|e| e.to_string())?;
    Ok(bufs[0].to_f64s())
}

#[test]
fn a_later_phase_reads_back_what_an_earlier_one_stored() {
    let got = run(TWO_PHASES).unwrap();
    for (i, g) in got.iter().enumerate() {
        let want = ((i as f32 * 0.25 - 0.5).exp() * 2.0) as f64;
        assert_eq!(*g, want, "element {i}");
    }
}

#[test]
fn verify_rejects_a_load_before_a_closed_loop_stored_the_output() {
    // Loaded in the loop that stores it (other threads may own the element).
    let same_loop = "\
kernel k(out a0: f32[3]) {
  for %0 in 0..3 {
    %1 = const 1:f32
    store a0[%0], %1
    %2 = load a0[%0]
  }
}
";
    let e = parse(same_loop)
        .and_then(|k| k.verify().map(|_| ()))
        .unwrap_err();
    assert!(e.to_string().contains("load from output"), "{e}");
    // Read after the parallel loop: another row's store.
    let after_rows = "\
kernel k(out a0: f32[3]) {
  for %0 in 0..3 parallel {
    for %1 in 0..1 {
      %2 = const 1:f32
      store a0[%0], %2
    }
  }
  %3 = const 0:i64
  %4 = load a0[%3]
}
";
    let e = parse(after_rows)
        .and_then(|k| k.verify().map(|_| ()))
        .unwrap_err();
    assert!(e.to_string().contains("load from output"), "{e}");
}

#[test]
fn the_interpreter_rejects_elements_not_stored_by_this_row() {
    // Row 1 reads row 0's element.
    let other_row = TWO_PHASES.replace(
        "%6 = load a0[%0, %5]",
        "%8 = const 0:i64\n      %6 = load a0[%8, %5]",
    );
    let e = run(&other_row).unwrap_err();
    assert!(e.contains("no closed loop of this row stored"), "{e}");
    // An element the earlier phase did not store.
    let unstored = TWO_PHASES.replace("for %1 in 0..3 {", "for %1 in 0..2 {");
    let e = run(&unstored).unwrap_err();
    assert!(e.contains("no closed loop of this row stored"), "{e}");
}
