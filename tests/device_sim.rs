//! The device paths on the simulated CUDA device (no GPU needed): device tensors, copies and
//! their ledger, eager ops on a device, compiled plans placed across host and device, the
//! transfer guard, and out-of-memory. Every result is compared with the same computation on
//! the host (the eager reference kernels), and every copy count with the plan's.

mod common;

use common::{compare, random_tensor};
use ember::ir::{BinaryOp, ReduceOp, UnaryOp};
use ember::jit::DevicePolicy;
use ember::profile::Direction;
use ember::runtime::device::simulate_cuda;
use ember::runtime::transfers::{self, Guard, TransferRecord};
use ember::{DType, Device, EmberError, Tensor};
use std::sync::{Mutex, MutexGuard};

const GPU: Device = Device::Cuda(0);

/// The simulated device and the ledger are process-wide: each test holds this lock, turns
/// the simulation on and starts with an empty ledger.
static SIM: Mutex<()> = Mutex::new(());

fn sim(capacity: usize) -> MutexGuard<'static, ()> {
    let g = SIM.lock().unwrap_or_else(|e| e.into_inner());
    simulate_cuda(Some(capacity));
    transfers::ledger(true);
    g
}

fn ledger() -> Vec<TransferRecord> {
    transfers::ledger(true).0
}

fn count(records: &[TransferRecord], d: Direction) -> usize {
    records.iter().filter(|r| r.direction == d).count()
}

fn f32s(shape: &[usize], seed: u64) -> Tensor {
    random_tensor(DType::F32, shape, seed, false, false)
}

fn host_of(t: &Tensor) -> Tensor {
    t.to(Device::Cpu).unwrap()
}

#[test]
fn tensors_move_to_the_device_and_back() {
    let _g = sim(1 << 26);
    let x = f32s(&[5, 7], 1);
    let d = x.to(GPU).unwrap();
    assert_eq!(d.device(), GPU);
    assert!(matches!(d.data_ptr(), Err(EmberError::Device(m)) if m.contains(".to('cpu')")));
    compare("round trip", &host_of(&d), &x).unwrap();
    // A strided host view is gathered on the way up; a permuted device view comes back.
    let xt = ember::ops::transpose(&x, None).unwrap();
    compare("strided up", &host_of(&xt.to(GPU).unwrap()), &xt).unwrap();
    let dt = ember::ops::transpose(&d, None).unwrap();
    assert_eq!(dt.device(), GPU);
    compare("view down", &host_of(&dt), &xt).unwrap();
    let r = ledger();
    assert_eq!(count(&r, Direction::HostToDevice), 2);
    assert_eq!(count(&r, Direction::DeviceToHost), 3);
    assert!(r.iter().all(|x| x.explicit && x.device == GPU));
    assert_eq!(r[0].bytes, 5 * 7 * 4);
}

#[test]
fn eager_ops_on_the_device_match_the_host() {
    let _g = sim(1 << 26);
    let a = f32s(&[6, 33], 2);
    let b = f32s(&[6, 33], 3);
    let (da, db) = (a.to(GPU).unwrap(), b.to(GPU).unwrap());
    type Case = (&'static str, fn(&Tensor, &Tensor) -> ember::Result<Tensor>);
    let cases: &[Case] = &[
        ("add", |x, y| ember::ops::binary(BinaryOp::Add, x, y)),
        ("exp", |x, _| ember::ops::unary(UnaryOp::Exp, x)),
        ("sum rows", |x, _| {
            ember::ops::reduce(ReduceOp::Sum, x, Some(&[1]), false)
        }),
        ("max cols", |x, _| {
            ember::ops::reduce(ReduceOp::Max, x, Some(&[0]), true)
        }),
        ("softmax", |x, _| ember::ops::softmax(x, -1)),
        ("matmul", |x, y| {
            ember::ops::matmul(x, &ember::ops::transpose(y, None)?)
        }),
        ("where", |x, y| {
            let c = ember::ops::binary(BinaryOp::Gt, x, y)?;
            ember::ops::where_(&c, x, y)
        }),
        ("cast", |x, _| ember::ops::astype(x, DType::F64)),
        ("scalar", |x, _| ember::ops::binary(BinaryOp::Mul, x, 2.5)),
    ];
    for (name, f) in cases {
        let want = f(&a, &b).unwrap();
        let got = f(&da, &db).unwrap();
        assert_eq!(got.device(), GPU, "{name} stays on the device");
        compare(name, &host_of(&got), &want).unwrap();
    }
    // Nothing moved implicitly but the Python scalar: every op ran on the device.
    let r = ledger();
    assert!(
        r.iter()
            .all(|r| r.explicit || r.cause.contains("scalar operand")),
        "no implicit copies but the scalar: {r:#?}"
    );
}

#[test]
fn ops_without_a_device_kernel_say_which_copies_they_make() {
    let _g = sim(1 << 26);
    let a = f32s(&[3, 4], 4);
    let da = a.to(GPU).unwrap();
    ledger();
    let got = ember::ops::concatenate(&[da.clone(), da.clone()], 0).unwrap();
    assert_eq!(got.device(), GPU);
    let want = ember::ops::concatenate(&[a.clone(), a.clone()], 0).unwrap();
    compare("concat", &host_of(&got), &want).unwrap();
    let r: Vec<_> = ledger().into_iter().filter(|r| !r.explicit).collect();
    assert_eq!(count(&r, Direction::DeviceToHost), 2, "{r:#?}");
    assert_eq!(count(&r, Direction::HostToDevice), 1, "{r:#?}");
    assert!(r.iter().all(|x| x.cause.contains("concatenate")), "{r:#?}");
    // The guard refuses them, naming the op and the bytes.
    let prev = transfers::set_thread_guard(Some(Guard::Disallow));
    let e = ember::ops::concatenate(&[da.clone(), da], 0).unwrap_err();
    transfers::set_thread_guard(prev);
    assert!(
        matches!(&e, EmberError::Transfer(m) if m.contains("48 bytes") && m.contains("concatenate")),
        "{e}"
    );
}

#[test]
fn jit_on_the_device_copies_each_argument_in_and_each_result_out_once() {
    let _g = sim(1 << 26);
    let f = ember::jit(|xs: &[Tensor]| {
        let t = ember::ops::binary(BinaryOp::Mul, &xs[0], &xs[1])?;
        let t = ember::ops::unary(UnaryOp::Tanh, &t)?;
        let s = ember::ops::softmax(&t, -1)?;
        let m = ember::ops::matmul(&s, &ember::ops::transpose(&xs[1], None)?)?;
        Ok(vec![s, ember::ops::binary(BinaryOp::Add, &m, 1.0)?])
    })
    .on(DevicePolicy::On(GPU));
    let host = ember::jit(|xs: &[Tensor]| {
        let t = ember::ops::binary(BinaryOp::Mul, &xs[0], &xs[1])?;
        let t = ember::ops::unary(UnaryOp::Tanh, &t)?;
        let s = ember::ops::softmax(&t, -1)?;
        let m = ember::ops::matmul(&s, &ember::ops::transpose(&xs[1], None)?)?;
        Ok(vec![s, ember::ops::binary(BinaryOp::Add, &m, 1.0)?])
    });
    let args = [f32s(&[8, 40], 5), f32s(&[8, 40], 6)];
    let want = host.call(&args).unwrap();
    ledger();
    let got = f.call(&args).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.device(), Device::Cpu, "host arguments give host results");
        compare("jit on device", g, w).unwrap();
    }
    let r = ledger();
    assert_eq!(count(&r, Direction::HostToDevice), 2, "{r:#?}");
    assert_eq!(count(&r, Direction::DeviceToHost), 2, "{r:#?}");
    assert!(r.iter().all(|x| !x.explicit && x.cause.contains("cuda:0")));
}

#[test]
fn jit_follows_device_arguments_without_copies() {
    let _g = sim(1 << 26);
    let f = ember::jit(|xs: &[Tensor]| {
        let e = ember::ops::unary(UnaryOp::Exp, &xs[0])?;
        Ok(vec![ember::ops::reduce(
            ReduceOp::Sum,
            &e,
            Some(&[1]),
            false,
        )?])
    });
    let x = f32s(&[4, 100], 7);
    let want = f.call(std::slice::from_ref(&x)).unwrap();
    let dx = x.to(GPU).unwrap();
    ledger();
    let got = f.call(&[dx]).unwrap();
    assert_eq!(got[0].device(), GPU, "device arguments give device results");
    assert!(ledger().is_empty(), "nothing copied");
    compare("follow", &host_of(&got[0]), &want[0]).unwrap();
    assert!(f.cache_info().retraces[0].contains("moved from cpu to cuda:0"));
}

#[test]
fn auto_placement_moves_big_work_and_keeps_tiny_work_on_the_host() {
    let _g = sim(1 << 28);
    let chain = |xs: &[Tensor]| {
        let mut t = xs[0].clone();
        for _ in 0..6 {
            t = ember::ops::unary(UnaryOp::Tanh, &t)?;
            t = ember::ops::binary(BinaryOp::Mul, &t, 1.5)?;
        }
        Ok(vec![t])
    };
    let auto = ember::jit(chain).on(DevicePolicy::Auto);
    let host = ember::jit(chain);
    for (n, copies) in [(8usize, 0usize), (1 << 20, 2)] {
        let x = f32s(&[n], 8);
        ledger();
        let got = auto.call(std::slice::from_ref(&x)).unwrap();
        let r = ledger();
        assert_eq!(r.len(), copies, "n = {n}: {r:#?}");
        compare("auto", &got[0], &host.call(&[x]).unwrap()[0]).unwrap();
    }
}

#[test]
fn out_of_memory_is_an_error_and_the_device_keeps_working() {
    let _g = sim(1 << 20);
    let big = f32s(&[1 << 19], 9);
    let e = big.to(GPU).unwrap_err();
    assert!(
        matches!(&e, EmberError::OutOfMemory(m) if m.contains("cuda:0")),
        "{e}"
    );
    let small = f32s(&[1000], 10);
    let d = small.to(GPU).unwrap();
    let got = ember::ops::unary(UnaryOp::Sqrt, &ember::ops::unary(UnaryOp::Abs, &d).unwrap());
    let want = ember::ops::unary(
        UnaryOp::Sqrt,
        &ember::ops::unary(UnaryOp::Abs, &small).unwrap(),
    );
    compare("after oom", &host_of(&got.unwrap()), &want.unwrap()).unwrap();
}

#[test]
fn without_the_simulation_cuda_is_absent_and_says_why() {
    let _g = sim(1 << 20);
    simulate_cuda(None);
    if ember::codegen::cuda::available() {
        return; // a real GPU: the CUDA suite covers it
    }
    let e = f32s(&[3], 11).to(GPU).unwrap_err();
    assert!(
        matches!(&e, EmberError::Device(m) if m.contains("cuda:0")),
        "{e}"
    );
    assert_eq!(ember::runtime::devices(), vec![Device::Cpu]);
}

#[test]
fn the_ledger_counts_equal_the_plans_copies() {
    let _g = sim(1 << 26);
    let trace = ember::trace::Trace::new();
    let ty = |s: &[usize]| ember::ir::ValueType::new(DType::F32, s);
    let x = trace.input(ty(&[16, 8]), Device::Cpu);
    let w = trace.input(ty(&[8, 4]), Device::Cpu);
    let h = ember::ops::unary(UnaryOp::Tanh, &ember::ops::matmul(&x, &w).unwrap()).unwrap();
    // A host-only op in the middle (concatenate) forces copies both ways.
    let c = ember::ops::concatenate(&[h.clone(), h], 0).unwrap();
    let s = ember::ops::reduce(ReduceOp::Sum, &c, Some(&[1]), false).unwrap();
    let graph = trace.finish(&[s]).unwrap();
    let opts = ember::jit::CompileOptions {
        device: DevicePolicy::On(GPU),
        ..Default::default()
    };
    let compiled = ember::jit::compile(graph, &opts).unwrap();
    let placement = compiled.placement.clone().expect("placed");
    let args = [f32s(&[16, 8], 12), f32s(&[8, 4], 13)];
    ledger();
    compiled.run(&args).unwrap();
    let r = ledger();
    assert_eq!(
        r.len(),
        placement.copy_count(),
        "{r:#?}\n{}",
        placement.explain()
    );
    for c in &placement.copies {
        assert!(
            r.iter().any(|x| x.cause == c.reason && x.bytes == c.bytes),
            "copy {:?} not in the ledger {r:#?}",
            c.reason
        );
    }
    // in: x, w; down for concatenate, up after it; out: the sum.
    assert_eq!(count(&r, Direction::HostToDevice), 3, "{r:#?}");
    assert_eq!(count(&r, Direction::DeviceToHost), 2, "{r:#?}");
}
