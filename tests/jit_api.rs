//! The Rust `ember::jit` API end to end: the cache (hits, misses, retrace reasons, the closure
//! not being called on a hit), eager fallback (each reason, and the right answer after it),
//! error propagation, the ndarray boundary, and a table of every op family whose jitted result
//! must equal the eager one on random inputs.

mod common;

use common::{compare, compare_all, random_tensor, Rng};
use ember::ir::{BinaryOp, ReduceOp, UnaryOp};
use ember::ops::{self, IndexItem};
use ember::{DType, EmberError, Result, Scalar, Tensor};
use ndarray::{arr1, arr2, ArrayD};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ALL_DTYPES: [DType; 5] = [DType::Bool, DType::I32, DType::I64, DType::F32, DType::F64];

fn f32s(v: &[f32]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
}

fn values_f32(t: &Tensor) -> Vec<f32> {
    t.to_array::<f32>().unwrap().iter().copied().collect()
}

// ---------------------------------------------------------------------------------------
// Cache and retraces
// ---------------------------------------------------------------------------------------

#[test]
fn cache_counts_hits_misses_and_skips_the_closure_on_a_hit() {
    let traced = AtomicUsize::new(0);
    let f = ember::jit(|xs: &[Tensor]| {
        traced.fetch_add(1, Ordering::SeqCst);
        Ok(vec![ops::add(&ops::multiply(&xs[0], 2.0)?, 1.0)?])
    });
    let x = f32s(&[1.0, 2.0, 3.0, 4.0]);
    for _ in 0..3 {
        assert_eq!(
            values_f32(&f.call(std::slice::from_ref(&x)).unwrap()[0]),
            [3.0, 5.0, 7.0, 9.0]
        );
    }
    let info = f.cache_info();
    assert_eq!((info.hits, info.misses), (2, 1));
    assert!(info.retraces.is_empty() && info.fallbacks.is_empty());
    assert_eq!(
        traced.load(Ordering::SeqCst),
        1,
        "a hit must not call the closure"
    );

    // New data of the same type is still a hit.
    let y = f32s(&[0.0, -1.0, 0.5, 10.0]);
    assert_eq!(
        values_f32(&f.call(&[y]).unwrap()[0]),
        [1.0, -1.0, 2.0, 21.0]
    );
    assert_eq!(f.cache_info().hits, 3);
    assert_eq!(traced.load(Ordering::SeqCst), 1);
}

#[test]
fn retrace_reasons_name_the_argument_and_both_types() {
    let f = ember::jit(|xs: &[Tensor]| {
        let mut acc = xs[0].clone();
        for x in &xs[1..] {
            acc = ops::add(&acc, x)?;
        }
        Ok(vec![acc])
    })
    .named("summer");
    let a4 = Tensor::from_vec(vec![1f32; 4], &[4]).unwrap();
    let a8 = Tensor::from_vec(vec![1f32; 8], &[8]).unwrap();
    let d4 = Tensor::from_vec(vec![1f64; 4], &[4]).unwrap();

    f.call(std::slice::from_ref(&a4)).unwrap(); // miss: first trace, no retrace reason
    f.call(std::slice::from_ref(&a8)).unwrap(); // miss: shape changed
    f.call(std::slice::from_ref(&a4)).unwrap(); // hit: the f32[4] entry is still cached
    f.call(std::slice::from_ref(&d4)).unwrap(); // miss: dtype changed
    f.call(&[d4.clone(), a4.clone()]).unwrap(); // miss: argument count changed
    f.call(&[d4.clone(), a8.clone()]).unwrap_err(); // shapes do not broadcast: an error
    let info = f.cache_info();
    assert_eq!(info.hits, 1);
    assert_eq!(info.misses, 5);
    assert_eq!(
        info.retraces,
        [
            "argument 0 changed from f32[4] to f32[8]",
            "argument 0 changed from f32[8] to f64[4]",
            "argument count changed from 1 to 2",
            "argument 1 changed from f32[4] to f32[8]",
        ]
    );
    assert!(info.fallbacks.is_empty());
}

#[test]
fn a_jit_function_is_shared_safely_between_threads() {
    let f = ember::jit(|xs: &[Tensor]| Ok(vec![ops::tanh(&ops::add(&xs[0], &xs[0])?)?]));
    let calls_per_thread = 8;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let f = &f;
            s.spawn(move || {
                for i in 0..calls_per_thread {
                    let x = random_tensor(DType::F64, &[3, 2], t * 100 + i, false, false);
                    let want = ops::tanh(&ops::add(&x, &x).unwrap()).unwrap();
                    let got = f.call(&[x]).unwrap();
                    compare("threaded call", &got[0], &want).unwrap();
                }
            });
        }
    });
    let info = f.cache_info();
    assert_eq!(info.hits + info.misses, 4 * calls_per_thread as usize);
    assert!(info.misses >= 1 && info.fallbacks.is_empty());
}

// ---------------------------------------------------------------------------------------
// Fallback
// ---------------------------------------------------------------------------------------

/// `x * 2` when the sum of `x` is positive, else `-x`: control flow on data.
fn data_dependent(xs: &[Tensor]) -> Result<Vec<Tensor>> {
    let s = ops::sum(&xs[0], None, false)?.item()?;
    let y = if s.to_f64() > 0.0 {
        ops::multiply(&xs[0], 2.0)?
    } else {
        ops::negative(&xs[0])?
    };
    Ok(vec![y])
}

#[test]
fn item_on_a_traced_value_falls_back_to_eager_with_the_reason() {
    let calls = AtomicUsize::new(0);
    let f = ember::jit(|xs: &[Tensor]| {
        calls.fetch_add(1, Ordering::SeqCst);
        data_dependent(xs)
    });
    let pos = f32s(&[1.0, 2.0]);
    let neg = f32s(&[-1.0, -2.0]);
    assert_eq!(
        values_f32(&f.call(std::slice::from_ref(&pos)).unwrap()[0]),
        [2.0, 4.0]
    );
    assert_eq!(
        values_f32(&f.call(std::slice::from_ref(&neg)).unwrap()[0]),
        [1.0, 2.0]
    );
    assert_eq!(values_f32(&f.call(&[pos]).unwrap()[0]), [2.0, 4.0]);
    let info = f.cache_info();
    // One trace (which failed), then the signature is known to run eagerly: two hits.
    assert_eq!((info.misses, info.hits), (1, 2));
    assert_eq!(info.fallbacks.len(), 1, "{:?}", info.fallbacks);
    assert!(
        info.fallbacks[0].contains("traced value needs its data"),
        "{}",
        info.fallbacks[0]
    );
    // The failed trace plus three eager runs.
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // Another signature traces again and falls back again, with its own reason.
    let f64s = Tensor::from_vec(vec![3.0f64], &[1]).unwrap();
    let got = f.call(&[f64s]).unwrap();
    assert_eq!(got[0].to_scalars().unwrap(), [Scalar::F64(6.0)]);
    let info = f.cache_info();
    assert_eq!(info.fallbacks.len(), 2);
    assert_eq!(info.retraces, ["argument 0 changed from f32[2] to f64[1]"]);
}

/// Every way of reading a traced tensor's data is a trace error, so jit falls back.
#[test]
fn every_data_access_on_a_traced_value_falls_back() {
    type Access = fn(&Tensor) -> Result<()>;
    let accesses: [(&str, Access); 7] = [
        ("item", |t| t.item().map(drop)),
        ("buffer", |t| t.buffer().map(drop)),
        ("view", |t| t.view::<f32>().map(drop)),
        ("to_array", |t| t.to_array::<f32>().map(drop)),
        ("to_scalars", |t| t.to_scalars().map(drop)),
        ("data_ptr", |t| t.data_ptr().map(drop)),
        ("deep_copy", |t| t.deep_copy().map(drop)),
    ];
    for (name, access) in accesses {
        let f = ember::jit(move |xs: &[Tensor]| {
            let y = ops::exp(&xs[0])?;
            access(&y)?;
            Ok(vec![ops::add(&y, 1.0)?])
        });
        let x = f32s(&[0.0]);
        let got = f.call(&[x]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(values_f32(&got[0]), [2.0], "{name}");
        let info = f.cache_info();
        assert_eq!(info.fallbacks.len(), 1, "{name}: {info:?}");
        assert!(
            info.fallbacks[0].contains("traced value"),
            "{name}: {}",
            info.fallbacks[0]
        );
    }
}

/// A traced value kept from an earlier trace and used in a later one cannot be recorded: that
/// trace falls back, naming the cause.
#[test]
fn a_value_leaked_from_another_trace_is_a_fallback_reason() {
    let leaked: Mutex<Option<Tensor>> = Mutex::new(None);
    let f = ember::jit(|xs: &[Tensor]| {
        let mut slot = leaked.lock().unwrap();
        let y = ops::exp(&xs[0])?;
        match slot.as_ref() {
            // The first trace stashes its traced value.
            None if y.is_traced() => {
                *slot = Some(y.clone());
                Ok(vec![y])
            }
            // Later traces use it together with their own values.
            Some(old) if y.is_traced() => Ok(vec![ops::add(&y, old)?]),
            // Eagerly (after the fallback) there is nothing to combine with.
            _ => Ok(vec![y]),
        }
    });
    f.call(&[f32s(&[0.0])]).unwrap();
    let got = f.call(&[f32s(&[0.0, 0.0])]).unwrap();
    assert_eq!(values_f32(&got[0]), [1.0, 1.0]);
    let info = f.cache_info();
    assert_eq!(info.fallbacks.len(), 1, "{info:?}");
    assert!(
        info.fallbacks[0].contains("another (outer or finished) trace"),
        "{}",
        info.fallbacks[0]
    );
}

/// A value leaked from a finished trace and used again must not come back to the caller as a
/// traced tensor (JAX raises `UnexpectedTracerError`). Found failing: the eager fallback
/// recorded the op into the finished trace and `call` returned `Ok` with a traced output.
#[test]
fn a_leaked_traced_value_never_reaches_the_caller() {
    let leaked: Mutex<Option<Tensor>> = Mutex::new(None);
    let f = ember::jit(|xs: &[Tensor]| {
        let mut slot = leaked.lock().unwrap();
        let old = slot.get_or_insert_with(|| xs[0].clone()).clone();
        Ok(vec![ops::add(&old, &xs[0])?])
    });
    f.call(&[f32s(&[1.0])]).unwrap();
    match f.call(&[f32s(&[1.0, 2.0])]) {
        Ok(outs) => assert!(
            outs.iter().all(|t| !t.is_traced()),
            "call returned a traced tensor"
        ),
        Err(e) => assert!(matches!(e, EmberError::Trace(_)), "{e:?}"),
    }
}

#[test]
fn errors_other_than_trace_errors_propagate_and_are_not_cached_as_fallbacks() {
    let f = ember::jit(|xs: &[Tensor]| {
        if xs.len() != 2 {
            return Err(EmberError::Value(format!(
                "expected 2 arguments, got {}",
                xs.len()
            )));
        }
        Ok(vec![ops::matmul(&xs[0], &xs[1])?])
    });
    let a = Tensor::from(arr2(&[[1.0f64, 2.0], [3.0, 4.0]]).into_dyn());
    let b = Tensor::from(arr1(&[1.0f64, 1.0, 1.0]).into_dyn());

    let e = f.call(std::slice::from_ref(&a)).unwrap_err();
    assert!(
        matches!(&e, EmberError::Value(m) if m == "expected 2 arguments, got 1"),
        "{e:?}"
    );
    let e = f.call(&[a.clone(), b.clone()]).unwrap_err();
    assert!(matches!(e, EmberError::Ir(_)), "{e:?}");
    assert!(e.to_string().contains("mismatch in core dimension"), "{e}");
    // The failed signature is not remembered: calling it again fails again.
    assert!(f.call(&[a.clone(), b]).is_err());
    let info = f.cache_info();
    assert!(info.fallbacks.is_empty(), "{info:?}");
    assert_eq!(info.hits, 0);

    // And a good call after the errors works.
    let got = f.call(&[a.clone(), a]).unwrap();
    let want = arr2(&[[7.0f64, 10.0], [15.0, 22.0]]).into_dyn();
    assert_eq!(got[0].to_array::<f64>().unwrap(), want);
}

// ---------------------------------------------------------------------------------------
// Boundary, constants, outputs
// ---------------------------------------------------------------------------------------

#[test]
fn ndarray_in_and_out_without_copying_the_input() {
    let a: ArrayD<f32> = arr2(&[[1.0f32, -2.0, 3.0], [0.5, 0.0, -1.0]]).into_dyn();
    let ptr = a.as_ptr();
    let t = Tensor::from(a);
    assert_eq!(
        t.data_ptr().unwrap(),
        ptr as *const u8,
        "Tensor::from(ArrayD) copies"
    );
    assert_eq!(t.view::<f32>().unwrap().as_ptr(), ptr);

    let f = ember::jit(|xs: &[Tensor]| {
        Ok(vec![
            ops::relu(&xs[0])?,
            ops::sum(&xs[0], Some(&[1]), true)?,
        ])
    });
    let out = f.call(&[t]).unwrap();
    assert_eq!(
        out[0].to_array::<f32>().unwrap(),
        arr2(&[[1.0f32, 0.0, 3.0], [0.5, 0.0, 0.0]]).into_dyn()
    );
    assert_eq!(
        out[1].to_array::<f32>().unwrap(),
        arr2(&[[2.0f32], [-0.5]]).into_dyn()
    );

    // A transposed (F-order) ndarray keeps its strides and computes the same.
    let fa: ArrayD<f32> = arr2(&[[1.0f32, 0.5], [-2.0, 0.0], [3.0, -1.0]])
        .reversed_axes()
        .into_dyn();
    let out = f.call(&[Tensor::from(fa)]).unwrap();
    assert_eq!(
        out[0].to_array::<f32>().unwrap(),
        arr2(&[[1.0f32, 0.0, 3.0], [0.5, 0.0, 0.0]]).into_dyn()
    );
    assert_eq!(f.cache_info().hits, 1);
}

#[test]
fn closed_over_arrays_become_constants_and_outputs_may_be_inputs() {
    let w = Tensor::from(arr2(&[[1.0f64, 0.0], [0.0, 2.0], [1.0, 1.0]]).into_dyn());
    let f = ember::jit(|xs: &[Tensor]| {
        let y = ops::matmul(&xs[0], &w)?;
        // The same closed-over array twice, an input as an output, and an output twice.
        let z = ops::add(&y, &ops::sum(&w, None, false)?)?;
        Ok(vec![z.clone(), xs[0].clone(), z])
    });
    let x = Tensor::from(arr2(&[[1.0f64, 2.0, 3.0]]).into_dyn());
    let out = f.call(std::slice::from_ref(&x)).unwrap();
    let want_z = arr2(&[[9.0f64, 12.0]]).into_dyn();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].to_array::<f64>().unwrap(), want_z);
    assert_eq!(
        out[1].to_array::<f64>().unwrap(),
        x.to_array::<f64>().unwrap()
    );
    assert_eq!(out[2].to_array::<f64>().unwrap(), want_z);
}

/// Regression: the tracer keyed captured constants by address only, so a temporary that was
/// freed could be mistaken for the next one allocated at the same address.
#[test]
fn temporary_constants_and_weak_scalars_never_alias() {
    let f = ember::jit(|xs: &[Tensor]| {
        let mut y = xs[0].clone();
        for i in 1..=20i64 {
            y = ops::add(&y, Tensor::from_vec(vec![i], &[]).unwrap())?;
            y = ops::multiply(&y, 1i64 + (i % 2))?;
        }
        Ok(vec![y])
    });
    let x = Tensor::from_vec(vec![0i64, 5], &[2]).unwrap();
    let want = eager_of(std::slice::from_ref(&x), |xs| {
        let mut y = xs[0].clone();
        for i in 1..=20i64 {
            y = ops::add(&y, Tensor::from_vec(vec![i], &[]).unwrap())?;
            y = ops::multiply(&y, 1i64 + (i % 2))?;
        }
        Ok(vec![y])
    });
    compare_all("aliasing", &f.call(&[x]).unwrap(), &want).unwrap();
}

fn eager_of(args: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Vec<Tensor>>) -> Vec<Tensor> {
    f(args).unwrap()
}

// ---------------------------------------------------------------------------------------
// Every op family: traced == eager on random inputs
// ---------------------------------------------------------------------------------------

type OpFn = Arc<dyn Fn(&[Tensor]) -> Result<Vec<Tensor>> + Send + Sync>;

/// One row of the table: a name, a function of tensors, and the arguments' types.
struct Case {
    name: String,
    f: OpFn,
    args: Vec<(DType, Vec<usize>)>,
}

fn case(
    name: impl Into<String>,
    args: &[(DType, &[usize])],
    f: impl Fn(&[Tensor]) -> Result<Tensor> + Send + Sync + 'static,
) -> Case {
    Case {
        name: name.into(),
        f: Arc::new(move |xs| Ok(vec![f(xs)?])),
        args: args.iter().map(|(d, s)| (*d, s.to_vec())).collect(),
    }
}

/// Runs `case` eagerly and through jit on random arguments: both succeed with equal results
/// (and jit compiled rather than falling back), or both fail with the same message.
fn check_case(case: &Case, seed: u64) -> std::result::Result<bool, String> {
    let args: Vec<Tensor> = case
        .args
        .iter()
        .enumerate()
        .map(|(i, (d, s))| random_tensor(*d, s, seed + i as u64, true, false))
        .collect();
    let eager = (case.f)(&args);
    let g = case.f.clone();
    let jitted = ember::jit(move |xs: &[Tensor]| g(xs));
    let got = jitted.call(&args);
    match (got, eager) {
        (Ok(got), Ok(want)) => {
            compare_all(&case.name, &got, &want)?;
            let info = jitted.cache_info();
            if !info.fallbacks.is_empty() {
                return Err(format!("{}: fell back: {:?}", case.name, info.fallbacks));
            }
            Ok(true)
        }
        (Err(a), Err(b)) if a.to_string() == b.to_string() => Ok(false),
        (got, want) => Err(format!(
            "{}: jit gave {:?}, eager gave {:?}",
            case.name,
            got.map(|_| "results"),
            want.map(|_| "results")
        )),
    }
}

fn unary_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for &op in UnaryOp::ALL {
        for d in ALL_DTYPES {
            cases.push(case(format!("{op} {d}"), &[(d, &[3, 4])], move |x| {
                ops::unary(op, &x[0])
            }));
        }
    }
    cases
}

fn binary_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for &op in BinaryOp::ALL {
        for a in ALL_DTYPES {
            for b in ALL_DTYPES {
                let name = format!("{op} {a} {b}");
                cases.push(case(name, &[(a, &[2, 3]), (b, &[3])], move |x| {
                    ops::binary(op, &x[0], &x[1])
                }));
            }
            // Weak scalars on both sides (NEP 50).
            cases.push(case(format!("{op} {a} 2"), &[(a, &[4])], move |x| {
                ops::binary(op, &x[0], 2i64)
            }));
            cases.push(case(format!("{op} 0.5 {a}"), &[(a, &[4])], move |x| {
                ops::binary(op, 0.5, &x[0])
            }));
            cases.push(case(format!("{op} {a} True"), &[(a, &[1, 2])], move |x| {
                ops::binary(op, &x[0], true)
            }));
        }
    }
    cases
}

fn where_and_cast_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for c in [DType::Bool, DType::F32, DType::I64] {
        for a in ALL_DTYPES {
            let shapes: [(DType, &[usize]); 3] = [(c, &[2, 1]), (a, &[3]), (DType::F32, &[2, 3])];
            cases.push(case(format!("where {c} {a} f32"), &shapes, |x| {
                ops::where_(&x[0], &x[1], &x[2])
            }));
            cases.push(case(format!("where {c} {a} weak"), &shapes[..2], |x| {
                ops::where_(&x[0], &x[1], -1i64)
            }));
        }
    }
    for from in ALL_DTYPES {
        for to in ALL_DTYPES {
            cases.push(case(
                format!("astype {from} {to}"),
                &[(from, &[5])],
                move |x| ops::astype(&x[0], to),
            ));
        }
        cases.push(case(format!("clip {from}"), &[(from, &[5])], |x| {
            ops::clip(&x[0], Some((-1i64).into()), Some(2.5.into()))
        }));
    }
    cases
}

fn reduce_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let axes_list: [Option<&'static [i64]>; 5] =
        [None, Some(&[0]), Some(&[-1]), Some(&[0, 2]), Some(&[])];
    for &op in ReduceOp::ALL {
        for d in ALL_DTYPES {
            for keepdims in [false, true] {
                if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
                    for axis in [None, Some(1i64)] {
                        let name = format!("{op} {d} axis={axis:?} keepdims={keepdims}");
                        cases.push(case(name, &[(d, &[2, 3, 2])], move |x| match op {
                            ReduceOp::ArgMax => ops::argmax(&x[0], axis, keepdims),
                            _ => ops::argmin(&x[0], axis, keepdims),
                        }));
                    }
                    continue;
                }
                for axes in axes_list {
                    let name = format!("{op} {d} axes={axes:?} keepdims={keepdims}");
                    cases.push(case(name, &[(d, &[2, 3, 2])], move |x| {
                        ops::reduce(op, &x[0], axes, keepdims)
                    }));
                }
            }
        }
    }
    cases
}

fn composite_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for d in ALL_DTYPES {
        let s: &[usize] = &[3, 4];
        cases.push(case(format!("mean {d}"), &[(d, s)], |x| {
            ops::mean(&x[0], Some(&[1]), true)
        }));
        cases.push(case(format!("var {d}"), &[(d, s)], |x| {
            ops::var(&x[0], None, 1, false)
        }));
        cases.push(case(format!("std {d}"), &[(d, s)], |x| {
            ops::std(&x[0], Some(&[0]), 0, false)
        }));
        cases.push(case(format!("logsumexp {d}"), &[(d, s)], |x| {
            ops::logsumexp(&x[0], Some(&[-1]), false)
        }));
        cases.push(case(format!("softmax {d}"), &[(d, s)], |x| {
            ops::softmax(&x[0], -1)
        }));
        cases.push(case(format!("log_softmax {d}"), &[(d, s)], |x| {
            ops::log_softmax(&x[0], 0)
        }));
        cases.push(case(format!("gelu {d}"), &[(d, s)], |x| {
            ops::gelu(&x[0], false)
        }));
        cases.push(case(format!("gelu tanh {d}"), &[(d, s)], |x| {
            ops::gelu(&x[0], true)
        }));
        cases.push(case(format!("silu {d}"), &[(d, s)], |x| ops::silu(&x[0])));
        cases.push(case(format!("layer_norm {d}"), &[(d, s)], |x| {
            ops::layer_norm(&x[0], None, 1e-5)
        }));
    }
    cases
}

fn movement_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for d in [DType::Bool, DType::I32, DType::F64] {
        let s: &[usize] = &[2, 3, 4];
        cases.push(case(format!("reshape {d}"), &[(d, s)], |x| {
            ops::reshape(&x[0], &[4, -1])
        }));
        cases.push(case(format!("ravel {d}"), &[(d, s)], |x| ops::ravel(&x[0])));
        cases.push(case(format!("transpose {d}"), &[(d, s)], |x| {
            ops::transpose(&x[0], None)
        }));
        cases.push(case(format!("transpose perm {d}"), &[(d, s)], |x| {
            ops::transpose(&x[0], Some(&[1, -1, 0]))
        }));
        cases.push(case(format!("swapaxes {d}"), &[(d, s)], |x| {
            ops::swapaxes(&x[0], 0, 2)
        }));
        cases.push(case(format!("expand_dims {d}"), &[(d, s)], |x| {
            ops::expand_dims(&x[0], &[0, -1])
        }));
        cases.push(case(format!("squeeze {d}"), &[(d, &[1, 3, 1])], |x| {
            ops::squeeze(&x[0], None)
        }));
        cases.push(case(format!("broadcast_to {d}"), &[(d, &[3, 1])], |x| {
            ops::broadcast_to(&x[0], &[2, 3, 4])
        }));
        cases.push(case(format!("index {d}"), &[(d, s)], |x| {
            use IndexItem::*;
            ops::index(
                &x[0],
                &[Int(-1), NewAxis, Slice(None, None, Some(-2)), Ellipsis],
            )
        }));
        cases.push(case(format!("index slices {d}"), &[(d, s)], |x| {
            ops::index(
                &x[0],
                &[
                    IndexItem::Slice(Some(1), None, None),
                    IndexItem::Slice(Some(-2), Some(0), Some(-1)),
                ],
            )
        }));
        cases.push(case(
            format!("concatenate {d}"),
            &[(d, &[2, 3]), (DType::F32, &[1, 3])],
            |x| ops::concatenate(&x[..2], 0),
        ));
        cases.push(case(
            format!("stack {d}"),
            &[(d, &[2, 3]), (d, &[2, 3])],
            |x| ops::stack(&x[..2], -1),
        ));
    }
    cases
}

fn matmul_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let shapes: [(&[usize], &[usize]); 6] = [
        (&[3], &[3]),
        (&[2, 3], &[3]),
        (&[3], &[3, 4]),
        (&[2, 3], &[3, 4]),
        (&[5, 2, 3], &[3, 4]),
        (&[5, 1, 2, 3], &[4, 3, 2]),
    ];
    for d in ALL_DTYPES {
        for (a, b) in shapes {
            cases.push(case(
                format!("matmul {d} {a:?} {b:?}"),
                &[(d, a), (DType::F32, b)],
                |x| ops::matmul(&x[0], &x[1]),
            ));
            cases.push(case(
                format!("matmul {d} {a:?} {b:?} same"),
                &[(d, a), (d, b)],
                |x| ops::matmul(&x[0], &x[1]),
            ));
        }
    }
    cases
}

fn operator_cases() -> Vec<Case> {
    let s: &[usize] = &[2, 2];
    vec![
        case("a + b * 2 - -a", &[(DType::F32, s), (DType::F32, s)], |x| {
            &x[0] + ((&x[1] * 2.0)? - (-&x[0])?)?
        }),
        case("a / b % 3", &[(DType::I32, s), (DType::I64, s)], |x| {
            (&x[0] / &x[1])? % 3i64
        }),
        case(
            "a & b | !a ^ b",
            &[(DType::Bool, s), (DType::Bool, s)],
            |x| (&x[0] & &x[1])? | ((!&x[0])? ^ &x[1])?,
        ),
    ]
}

/// The traced and compiled result of every op family equals the eager one.
#[test]
fn every_op_family_traced_equals_eager() {
    let families: [(&str, Vec<Case>); 8] = [
        ("unary", unary_cases()),
        ("binary", binary_cases()),
        ("where/cast/clip", where_and_cast_cases()),
        ("reduce", reduce_cases()),
        ("composite", composite_cases()),
        ("movement", movement_cases()),
        ("matmul", matmul_cases()),
        ("operators", operator_cases()),
    ];
    let mut rng = Rng::new(7);
    let mut failures = Vec::new();
    for (family, cases) in &families {
        let mut ran = 0;
        for c in cases {
            match check_case(c, rng.next_u64()) {
                Ok(ok) => ran += ok as usize,
                Err(e) => failures.push(e),
            }
        }
        eprintln!("{family}: {ran} of {} cases ran", cases.len());
        // Most cases of every family have valid types: a family that only errors tests nothing.
        assert!(
            ran * 2 >= cases.len(),
            "{family}: only {ran} of {} cases ran",
            cases.len()
        );
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
