//! Matrix products on the simulated CUDA device (no GPU needed): the tiled generated kernel
//! (the simulated device has no cuBLAS) on odd sizes, `k = 1`, float32 and float64,
//! transposed views and batched products with broadcast batch axes, eager and compiled with a
//! bias + relu epilogue, which the tiled kernel stores itself (one launch, bit-identical to
//! the product and the epilogue run apart) unless it cannot (then two kernels, with the
//! reason in the plan); and, with the simulated device emulating cuBLAS, the library-call
//! path (layouts cuBLAS reads as they are, and a gather for one it cannot; the epilogue a
//! kernel after it). Every result is compared with a float64 product on the host.

mod common;

use common::random_tensor;
use ember::ir::{BinaryOp, UnaryOp};
use ember::jit::DevicePolicy;
use ember::ops::IndexItem;
use ember::profile::Direction;
use ember::runtime::device::{simulate_cuda, simulated};
use ember::runtime::transfers;
use ember::{DType, Device, Tensor};
use std::sync::{Mutex, MutexGuard};

const GPU: Device = Device::Cuda(0);

static SIM: Mutex<()> = Mutex::new(());

fn sim() -> MutexGuard<'static, ()> {
    let g = SIM.lock().unwrap_or_else(|e| e.into_inner());
    simulate_cuda(Some(1 << 28));
    transfers::ledger(true);
    g
}

/// Device-side copies (gathers) since the last call.
fn gathers() -> Vec<transfers::TransferRecord> {
    let r = transfers::ledger(true).0;
    r.into_iter()
        .filter(|x| x.direction == Direction::DeviceToDevice)
        .collect()
}

fn f64s(t: &Tensor) -> Vec<f64> {
    let h = t.to(Device::Cpu).unwrap();
    h.to_scalars().unwrap().iter().map(|s| s.to_f64()).collect()
}

fn on_host_f64(t: &Tensor) -> Tensor {
    ember::ops::astype(&t.to(Device::Cpu).unwrap(), DType::F64).unwrap()
}

/// `got` against `a @ b` in float64 on the host, within a bound scaled by `|a| @ |b|`.
fn check(what: &str, got: &Tensor, a: &Tensor, b: &Tensor) {
    let (a, b) = (on_host_f64(a), on_host_f64(b));
    let want = ember::ops::matmul(&a, &b).unwrap();
    let abs = |t: &Tensor| ember::ops::unary(UnaryOp::Abs, t).unwrap();
    let scale = ember::ops::matmul(&abs(&a), &abs(&b)).unwrap();
    assert_eq!(got.shape(), want.shape(), "{what}");
    let tol = if got.dtype() == DType::F32 {
        1e-6
    } else {
        1e-14
    };
    for (i, ((g, w), s)) in f64s(got)
        .iter()
        .zip(f64s(&want))
        .zip(f64s(&scale))
        .enumerate()
    {
        assert!(
            (g - w).abs() <= tol * s.max(1.0),
            "{what}: element {i} is {g}, expected {w}"
        );
    }
}

fn rand(dt: DType, shape: &[usize], seed: u64) -> Tensor {
    random_tensor(dt, shape, seed, false, false)
}

/// A `rows x cols` device view that is the transpose of a `cols x rows` device tensor.
fn transposed(dt: DType, rows: usize, cols: usize, seed: u64) -> Tensor {
    let t = rand(dt, &[cols, rows], seed).to(GPU).unwrap();
    ember::ops::transpose(&t, None).unwrap()
}

#[test]
fn eager_products_on_odd_sizes_and_transposed_views() {
    let _g = sim();
    let before = simulated().map_or(0, |s| s.launches());
    let mut seed = 1;
    for dt in [DType::F32, DType::F64] {
        for (m, k, n) in [(1, 1, 1), (7, 1, 70), (65, 33, 129), (130, 47, 3)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                seed += 2;
                let a = if ta {
                    transposed(dt, m, k, seed)
                } else {
                    rand(dt, &[m, k], seed).to(GPU).unwrap()
                };
                let b = if tb {
                    transposed(dt, k, n, seed + 1)
                } else {
                    rand(dt, &[k, n], seed + 1).to(GPU).unwrap()
                };
                let c = ember::ops::matmul(&a, &b).unwrap();
                assert_eq!(c.device(), GPU);
                check(&format!("{dt} {m}x{k}x{n} t={ta},{tb}"), &c, &a, &b);
            }
        }
    }
    assert!(simulated().map_or(0, |s| s.launches()) > before);
    // The views were read in place: nothing was gathered.
    assert!(gathers().is_empty());
}

#[test]
fn batched_products_broadcast_their_batch_axes() {
    let _g = sim();
    for dt in [DType::F32, DType::F64] {
        // A stack times one matrix, stacks broadcast against each other, and a stack of
        // transposed right operands.
        let cases: Vec<(Tensor, Tensor)> = vec![
            (rand(dt, &[3, 17, 20], 5), rand(dt, &[20, 9], 6)),
            (rand(dt, &[2, 1, 5, 8], 7), rand(dt, &[3, 8, 66], 8)),
            (rand(dt, &[4, 70, 3], 9), rand(dt, &[4, 3, 65], 10)),
        ];
        for (i, (a, b)) in cases.into_iter().enumerate() {
            let (da, mut db) = (a.to(GPU).unwrap(), b.to(GPU).unwrap());
            if i == 2 {
                let flipped = ember::ops::transpose(&b, Some(&[0, 2, 1])).unwrap();
                let up = flipped.contiguous().unwrap().to(GPU).unwrap();
                db = ember::ops::transpose(&up, Some(&[0, 2, 1])).unwrap();
            }
            let c = ember::ops::matmul(&da, &db).unwrap();
            assert_eq!(c.device(), GPU);
            check(&format!("{dt} batched case {i}"), &c, &a, &b);
        }
    }
}

fn mlp(xs: &[Tensor]) -> ember::Result<Vec<Tensor>> {
    let h = ember::ops::matmul(&xs[0], &xs[1])?;
    let h = ember::ops::binary(BinaryOp::Add, &h, &xs[2])?;
    Ok(vec![ember::ops::unary(UnaryOp::Relu, &h)?])
}

/// What compiling and running a function for the device gave.
struct Run {
    /// The plan summary.
    note: String,
    /// The names of the kernel reports.
    kernels: Vec<String>,
    /// Kernels the simulated device launched during one call.
    launches: usize,
    /// The results.
    got: Vec<Tensor>,
}

/// `f` traced for `inputs` (host types), compiled for the device and run on `args`, checked
/// against its eager result on the host.
fn compiled(f: fn(&[Tensor]) -> ember::Result<Vec<Tensor>>, args: &[Tensor]) -> Run {
    let trace = ember::trace::Trace::new();
    let ins: Vec<Tensor> = args
        .iter()
        .map(|a| trace.input(a.value_type().clone(), Device::Cpu))
        .collect();
    let out = f(&ins).unwrap();
    let graph = trace.finish(&out).unwrap();
    let opts = ember::jit::CompileOptions {
        device: DevicePolicy::On(GPU),
        ..Default::default()
    };
    let compiled = ember::jit::compile(graph, &opts).unwrap();
    let before = simulated().map_or(0, |s| s.launches());
    let got = compiled.run(args).unwrap();
    let launches = simulated().map_or(0, |s| s.launches()) - before;
    let want = ember::jit::jit(f).call(args).unwrap();
    common::compare_all("on the device", &got, &want).unwrap();
    Run {
        note: compiled.plan_summary(),
        kernels: compiled.kernels().iter().map(|k| k.name.clone()).collect(),
        launches,
        got,
    }
}

fn mlp_args(dt: DType, m: usize, k: usize, n: usize, seed: u64) -> Vec<Tensor> {
    vec![
        rand(dt, &[m, k], seed),
        rand(dt, &[k, n], seed + 1),
        rand(dt, &[n], seed + 2),
    ]
}

/// The bits of a tensor's elements (on the host).
fn bits(t: &Tensor) -> Vec<u64> {
    let h = t.to(Device::Cpu).unwrap();
    h.to_scalars()
        .unwrap()
        .iter()
        .map(|s| match s {
            ember::Scalar::F32(x) => x.to_bits() as u64,
            ember::Scalar::F64(x) => x.to_bits(),
            other => other.to_f64().to_bits(),
        })
        .collect()
}

#[test]
fn compiled_products_run_the_tiled_kernel_and_say_why() {
    let _g = sim();
    for dt in [DType::F32, DType::F64] {
        let r = compiled(mlp, &mlp_args(dt, 33, 20, 70, 21));
        assert!(
            r.note
                .contains("1 on the tiled kernel (the simulated device has no cuBLAS)"),
            "{}",
            r.note
        );
        assert!(
            r.kernels.iter().any(|k| k.contains("tiled kernel")),
            "{:?}",
            r.kernels
        );
    }
}

#[test]
fn the_tiled_kernel_stores_the_epilogue_in_one_launch_bit_identical_to_two() {
    let _g = sim();
    for dt in [DType::F32, DType::F64] {
        for (m, k, n) in [(33, 20, 70), (1, 7, 130), (65, 1, 3)] {
            let args = mlp_args(dt, m, k, n, 51);
            let r = compiled(mlp, &args);
            assert!(
                r.note.contains("1 storing its epilogue (one kernel)")
                    && r.note.contains("1 device kernel(s)"),
                "{}",
                r.note
            );
            assert_eq!(r.launches, 1, "{}", r.note);
            assert_eq!(r.kernels.len(), 1, "{:?}", r.kernels);
            let name = &r.kernels[0];
            assert!(
                name.starts_with("matmul+add+relu on cuda:0 (tiled kernel storing its epilogue"),
                "{name}"
            );
            // The product and the epilogue as separate device kernels (eager ops on the
            // device): the same bits.
            let on = |t: &Tensor| t.to(GPU).unwrap();
            let (x, w, b) = (on(&args[0]), on(&args[1]), on(&args[2]));
            let before = simulated().map_or(0, |s| s.launches());
            let apart = mlp(&[x, w, b]).unwrap();
            assert_eq!(simulated().map_or(0, |s| s.launches()) - before, 3);
            assert_eq!(bits(&r.got[0]), bits(&apart[0]), "{dt} {m}x{k}x{n}");
        }
    }
}

/// `x @ w + addend`, and its tanh: two outputs, the second float64.
fn two_outputs(xs: &[Tensor]) -> ember::Result<Vec<Tensor>> {
    let h = ember::ops::matmul(&xs[0], &xs[1])?;
    let h = ember::ops::binary(BinaryOp::Add, &h, &xs[2])?;
    let t = ember::ops::astype(&h, DType::F64)?;
    let t = ember::ops::unary(UnaryOp::Tanh, &t)?;
    Ok(vec![h, t])
}

#[test]
fn batched_multi_output_epilogues_fuse_and_batched_addends_stay_apart() {
    let _g = sim();
    let dt = DType::F32;
    // A stack of products, a bias shared by the stack: one kernel, two outputs.
    let args = [
        rand(dt, &[2, 3, 17, 20], 61),
        rand(dt, &[20, 9], 62),
        rand(dt, &[9], 63),
    ];
    let r = compiled(two_outputs, &args);
    assert!(r.note.contains("1 storing its epilogue"), "{}", r.note);
    assert_eq!(r.launches, 1, "{}", r.note);
    assert_eq!(r.got[1].dtype(), DType::F64);
    // An addend with batch axes of its own ([3, 1, 9] over [2, 3, 17, 9]): the epilogue
    // runs after the product, and the plan says why.
    let args = [
        rand(dt, &[2, 3, 17, 20], 64),
        rand(dt, &[20, 9], 65),
        rand(dt, &[3, 1, 9], 66),
    ];
    let r = compiled(two_outputs, &args);
    assert!(
        r.note
            .contains("1 with its epilogue as a kernel of its own (an operand of the epilogue has batch axes of its own"),
        "{}",
        r.note
    );
    assert_eq!(r.launches, 2, "{}", r.note);
}

#[test]
fn with_cublas_products_are_library_calls() {
    let _g = sim();
    let dev = simulated().expect("simulated device");
    dev.emulate_blas(true);
    let r = compiled(mlp, &mlp_args(DType::F32, 31, 19, 67, 31));
    assert!(r.note.contains("device matmuls: 1 on cuBLAS"), "{}", r.note);
    assert!(
        !r.kernels.iter().any(|k| k.contains("tiled")),
        "{:?}",
        r.kernels
    );
    // cuBLAS computes the product; the epilogue is a generated kernel after it.
    assert!(r.note.contains("2 device kernel(s)"), "{}", r.note);
    assert_eq!(r.launches, 1, "{}", r.note);
    assert_eq!(dev.gemms(), 1);
    // Eager: views cuBLAS reads as they are (transposed, a shared batch operand) need no
    // copy; a view with no unit stride is gathered first.
    for dt in [DType::F32, DType::F64] {
        let a = transposed(dt, 13, 11, 41);
        let b = rand(dt, &[11, 6], 42).to(GPU).unwrap();
        transfers::ledger(true);
        check(
            "cuBLAS, transposed",
            &ember::ops::matmul(&a, &b).unwrap(),
            &a,
            &b,
        );
        let s = rand(dt, &[2, 9, 11], 43).to(GPU).unwrap();
        check(
            "cuBLAS, batched",
            &ember::ops::matmul(&s, &b).unwrap(),
            &s,
            &b,
        );
        assert!(gathers().is_empty());
        let big = rand(dt, &[26, 22], 44).to(GPU).unwrap();
        let step = IndexItem::Slice(None, None, Some(2));
        let strided = ember::ops::index(&big, &[step, step]).unwrap();
        check(
            "cuBLAS, strided",
            &ember::ops::matmul(&strided, &b).unwrap(),
            &strided,
            &b,
        );
        let r = gathers();
        assert_eq!(r.len(), 1, "{r:#?}");
        assert!(r[0].cause.contains("gathered"), "{r:#?}");
    }
    assert_eq!(dev.gemms(), 7);
}
