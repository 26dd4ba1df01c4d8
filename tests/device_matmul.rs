//! Matrix products on the simulated CUDA device (no GPU needed): the tiled generated kernel
//! (the simulated device has no cuBLAS) on odd sizes, `k = 1`, float32 and float64,
//! transposed views and batched products with broadcast batch axes, eager and compiled with a
//! bias + relu epilogue; and, with the simulated device emulating cuBLAS, the library-call
//! path (layouts cuBLAS reads as they are, and a gather for one it cannot). Every result is
//! compared with a float64 product on the host.

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

/// `relu(x @ w + bias)` compiled for the device: the plan's note and the host's result.
fn compiled_mlp(dt: DType, m: usize, k: usize, n: usize, seed: u64) -> (String, Vec<String>) {
    let trace = ember::trace::Trace::new();
    let ty = |s: &[usize]| ember::ir::ValueType::new(dt, s);
    let ins = [
        trace.input(ty(&[m, k]), Device::Cpu),
        trace.input(ty(&[k, n]), Device::Cpu),
        trace.input(ty(&[n]), Device::Cpu),
    ];
    let out = mlp(&ins).unwrap();
    let graph = trace.finish(&out).unwrap();
    let opts = ember::jit::CompileOptions {
        device: DevicePolicy::On(GPU),
        ..Default::default()
    };
    let compiled = ember::jit::compile(graph, &opts).unwrap();
    let args = [
        rand(dt, &[m, k], seed),
        rand(dt, &[k, n], seed + 1),
        rand(dt, &[n], seed + 2),
    ];
    let got = compiled.run(&args).unwrap();
    let want = ember::jit::jit(mlp).call(&args).unwrap();
    common::compare("mlp on the device", &got[0], &want[0]).unwrap();
    let names = compiled.kernels().iter().map(|k| k.name.clone()).collect();
    (compiled.plan_summary(), names)
}

#[test]
fn compiled_products_run_the_tiled_kernel_and_say_why() {
    let _g = sim();
    for dt in [DType::F32, DType::F64] {
        let (note, kernels) = compiled_mlp(dt, 33, 20, 70, 21);
        assert!(
            note.contains("1 on the tiled kernel (the simulated device has no cuBLAS)"),
            "{note}"
        );
        assert!(
            kernels.iter().any(|k| k.contains("tiled kernel")),
            "{kernels:?}"
        );
    }
}

#[test]
fn with_cublas_products_are_library_calls() {
    let _g = sim();
    let dev = simulated().expect("simulated device");
    dev.emulate_blas(true);
    let (note, kernels) = compiled_mlp(DType::F32, 31, 19, 67, 31);
    assert!(note.contains("device matmuls: 1 on cuBLAS"), "{note}");
    assert!(!kernels.iter().any(|k| k.contains("tiled")), "{kernels:?}");
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
