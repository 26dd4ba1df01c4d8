//! The profiler on the simulated CUDA device: kernels, library calls and copies on the device
//! are timed by the device (the simulated device measures its execution, as a GPU's CUDA
//! events would) and laid end to end on its stream's timeline; the host's launch time is kept
//! beside. The same assertions hold on a real GPU.

use ember::ir::{BinaryOp, ReduceOp, UnaryOp};
use ember::jit::DevicePolicy;
use ember::profile::{EventKind, Profile};
use ember::runtime::device::{simulate_cuda, simulated};
use ember::{Device, Tensor};

const GPU: Device = Device::Cuda(0);

fn ones(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.25).collect();
    Tensor::from(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).unwrap())
}

#[test]
fn device_work_is_timed_by_the_device() {
    simulate_cuda(Some(1 << 28));
    let f = ember::jit(|xs: &[Tensor]| {
        let h = ember::ops::matmul(&xs[0], &xs[1])?;
        let h = ember::ops::unary(UnaryOp::Tanh, &h)?;
        let s = ember::ops::reduce(ReduceOp::Sum, &h, Some(&[1]), false)?;
        Ok(vec![ember::ops::binary(BinaryOp::Mul, &s, 2.0)?])
    })
    .on(DevicePolicy::On(GPU));
    let args = [ones(&[40, 30]), ones(&[30, 50])];
    f.call(&args).unwrap();
    let mut p = Profile::start();
    f.call(&args).unwrap();
    p.stop();
    let events = p.events();
    let on_device: Vec<_> = events
        .iter()
        .filter(|e| e.device == GPU && matches!(e.kind, EventKind::Kernel | EventKind::LibraryCall))
        .collect();
    assert!(on_device.len() >= 2, "{events:#?}");
    for e in &on_device {
        assert_eq!(e.stream, Some(0));
        assert!(e.launch_ns.is_some() && e.dur_ns > 0, "{e:?}");
    }
    assert!(on_device.iter().any(|e| &*e.name == "matmul"));
    // One stream: each starts after the previous one ended.
    for w in on_device.windows(2) {
        assert!(w[1].start_ns >= w[0].start_ns + w[0].dur_ns, "{w:#?}");
    }
    let copies: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Transfer)
        .collect();
    assert_eq!(copies.len(), 3, "{copies:#?}");
    assert!(copies.iter().all(|e| e.launch_ns.is_some()));
    assert!(p.chrome_trace().contains(r#""clock":"device""#));
    // Without a session nothing is timed, and the results are the same.
    let again = f.call(&args).unwrap();
    assert_eq!(again[0].shape(), &[40]);
    assert!(simulated().is_some_and(|s| s.launches() > 0));
}
