//! Tests of the recorder, sampling, summary, trace export and kernel descriptions.
//!
//! Sessions are process-wide, so these tests take one lock to run one at a time and keep to
//! events recorded on their own thread.

use super::session::sample_stride;
use super::*;
use ember_ir::target::flops_and_bytes;
use ember_ir::{BinaryOp, DType, UnaryOp, ValueType};

fn serial() -> std::sync::MutexGuard<'static, ()> {
    super::test_serial()
}

fn mine(p: &Profile) -> Vec<Event> {
    let me = thread_id();
    p.events().into_iter().filter(|e| e.thread == me).collect()
}

fn loc(line: u32) -> SourceLoc {
    SourceLoc {
        file: Arc::from("/home/u/model.py"),
        line,
    }
}

#[test]
fn off_when_no_session() {
    let _g = serial();
    if debug_level() >= 2 {
        return; // EMBER_DEBUG=2 turns recording on by design.
    }
    assert!(!enabled());
    assert!(span(EventKind::Kernel, "k").is_none());
    let mut p = Profile::start();
    assert!(enabled());
    p.stop();
    assert!(!enabled());
    // Nothing recorded after stop.
    drop(span(EventKind::Kernel, "late"));
    assert!(mine(&p).is_empty());
}

#[test]
fn spans_record_kind_name_time_in_start_order() {
    let _g = serial();
    let mut p = Profile::start();
    {
        let _outer = span(EventKind::Call, "f");
        instant(EventKind::CacheMiss, "f", None);
        {
            let mut s = span(EventKind::Kernel, "mul+add");
            if let Some(s) = s.as_mut() {
                s.event_mut().bytes = 64;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    p.stop();
    let ev = mine(&p);
    let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Call, EventKind::CacheMiss, EventKind::Kernel]
    );
    assert!(ev[2].dur_ns >= 1_000_000);
    assert!(ev[0].dur_ns >= ev[2].dur_ns);
    assert_eq!(ev[2].bytes, 64);
    assert!(ev.windows(2).all(|w| w[0].start_ns <= w[1].start_ns));
}

#[test]
fn overlapping_sessions_each_see_their_interval() {
    let _g = serial();
    let mut a = Profile::start();
    instant(EventKind::CacheHit, "first", None);
    let mut b = Profile::start();
    instant(EventKind::CacheHit, "second", None);
    a.stop();
    instant(EventKind::CacheHit, "third", None);
    b.stop();
    let names =
        |p: &Profile| -> Vec<String> { mine(p).iter().map(|e| e.name.to_string()).collect() };
    assert_eq!(names(&a), ["first", "second"]);
    assert_eq!(names(&b), ["second", "third"]);
}

#[test]
fn sampling_keeps_the_first_events_then_logarithmically_few() {
    assert_eq!(sample_stride(0, 4), Some(1));
    assert_eq!(sample_stride(3, 4), Some(1));
    assert_eq!(sample_stride(4, 4), Some(2));
    assert_eq!(sample_stride(5, 4), None);
    assert_eq!(sample_stride(8, 4), Some(4));
    assert_eq!(sample_stride(0, 0), None);
    let kept = (0..1_000_000u64)
        .filter(|&n| sample_stride(n, 100).is_some())
        .count();
    // 100 + 50 per doubling up to 10^6 / 100 = 2^13.3: about 800, not a million.
    assert!((700..=900).contains(&kept), "kept {kept}");
}

#[test]
fn long_runs_keep_exact_aggregates_and_a_small_trace() {
    let _g = serial();
    let mut p = Profile::start_with(ProfileOptions {
        max_events_per_name: 50,
    });
    let info = KernelInfo {
        kind: EventKind::Kernel,
        name: Arc::from("repeated"),
        locs: Arc::from([loc(3)]),
        bytes: 8,
        flops: 2,
        device: Device::Cpu,
        stream: None,
    };
    for _ in 0..20_000 {
        drop(kernel(&info));
    }
    p.stop();
    let kept = mine(&p).len();
    assert!(kept < 500, "kept {kept}");
    assert!(p.dropped_events() > 19_000);
    assert!(p.summary().contains("20000"), "{}", p.summary());
    assert!(p.chrome_trace().contains("\"sampled\":\"1 in"));
}

#[test]
fn summary_reports_rates_sources_sections() {
    let _g = serial();
    let mut p = Profile::start();
    let mut k = Event::new(EventKind::Kernel, "mul+tanh");
    k.dur_ns = 1_000;
    k.bytes = 4_000;
    k.flops = 2_000;
    k.locs = Arc::from([loc(3), loc(4)]);
    record(k);
    let mut c = Event::new(EventKind::Compile, "f");
    c.dur_ns = 5_000_000;
    record(c);
    let mut t = Event::new(EventKind::Transfer, "h2d");
    t.dur_ns = 1_000;
    t.bytes = 10_000;
    t.direction = Some(Direction::HostToDevice);
    t.reason = Some(Arc::from("argument 0 placed on cuda:0"));
    record(t);
    cache_miss("f", Some("argument 0 changed from f32[3] to f32[4]"));
    fallback("g", "bool() of a traced value (at model.py:9)");
    alloc(Device::Cpu, 1_000);
    alloc(Device::Cpu, 500);
    free(Device::Cpu, 1_000);
    alloc(Device::Cpu, 100);
    p.stop();
    let s = p.summary();
    for want in [
        "-- compile: 5.00 ms --",
        "compile f",
        "mul+tanh",
        "4.00",
        "2.00",
        "model.py:3,4",
        "-- copies: 1 moving 10.0 KB --",
        "argument 0 placed on cuda:0",
        "10.00",
        "retrace f: argument 0 changed from f32[3] to f32[4]",
        "fallback g: bool() of a traced value",
        "f: 0 hit(s), 1 miss(es), 1 retrace(s), 0 fallback(s)",
        "cpu: peak 1.5 KB",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
    assert_eq!(p.peak_memory(Device::Cpu), 1_500);
}

#[test]
fn chrome_trace_names_tracks_and_orders_events() {
    let _g = serial();
    let mut p = Profile::start();
    {
        let _c = span(EventKind::Compile, "f");
        passes(now_ns(), [("simplify", 10), ("cse", 20)]);
    }
    {
        let _k = span(EventKind::Kernel, "a \"quoted\"\nname");
    }
    drop(transfer(
        16,
        Direction::HostToHost,
        Device::Cpu,
        "byte order",
    ));
    cache_hit("f");
    p.stop();
    let json = p.chrome_trace();
    for want in [
        "\"traceEvents\"",
        "\"thread_name\"",
        "\"Compilation\"",
        "\"Copies\"",
        "CPU thread",
        "\"ph\":\"X\"",
        "\"ph\":\"i\"",
        "\"pass simplify\"",
        "a \\\"quoted\\\"\\nname",
    ] {
        assert!(json.contains(want), "missing {want} in {json}");
    }
    assert_eq!(json.matches('{').count(), json.matches('}').count());
}

#[test]
fn spans_begun_before_a_session_count_from_its_start() {
    let _g = serial();
    let mut outer = Profile::start();
    let s = span(EventKind::HostCall, "early");
    std::thread::sleep(std::time::Duration::from_millis(1));
    let mut inner = Profile::start();
    std::thread::sleep(std::time::Duration::from_millis(1));
    drop(s);
    inner.stop();
    outer.stop();
    let (o, i) = (mine(&outer), mine(&inner));
    assert_eq!(i.len(), 1);
    assert_eq!(i[0].start_ns, 0);
    assert!(o[0].dur_ns > i[0].dur_ns);
}

#[test]
fn kernel_info_of_nodes_and_fused_groups() {
    let mut g = Graph::new();
    let ty = ValueType::new(DType::F32, &[8]);
    let a = g.input(ty.clone(), Device::Cpu);
    let b = g.input(ty.clone(), Device::Cpu);
    let m = g
        .add(Op::Binary(BinaryOp::Mul), &[a, b], Some(loc(3)))
        .unwrap();
    let t = g.add(Op::Unary(UnaryOp::Tanh), &[m], Some(loc(4))).unwrap();
    g.output(t).unwrap();

    let one = KernelInfo::for_nodes(&g, &[m]);
    assert_eq!(&*one.name, "multiply");
    assert_eq!(one.kind, EventKind::Kernel);
    assert_eq!(&*one.locs, &[loc(3)]);
    let w = flops_and_bytes(&Op::Binary(BinaryOp::Mul), &[&ty, &ty], &ty);
    assert_eq!(one.bytes, w.bytes as u64);
    assert_eq!(one.flops, w.flops as u64);

    let fused = KernelInfo::for_nodes(&g, &[m, t]);
    assert_eq!(&*fused.name, "multiply+tanh");
    assert_eq!(&*fused.locs, &[loc(3), loc(4)]);
    // Reads a and b, writes t; the intermediate stays in registers.
    assert_eq!(fused.bytes, 3 * 32);
    let wt = flops_and_bytes(&Op::Unary(UnaryOp::Tanh), &[&ty], &ty);
    assert_eq!(fused.flops, (w.flops + wt.flops) as u64);

    // The same group as the runtime's fused step sees it: inputs a, b; output t.
    let step = KernelInfo::for_kernel(&g, &[a, b, a], &[t]);
    assert_eq!(step, fused);

    let eager = KernelInfo::eager(&g, t);
    assert_eq!(eager.kind, EventKind::HostCall);
    assert_eq!(&*eager.name, "eager tanh");

    let mut g2 = Graph::new();
    let x = g2.input(ValueType::new(DType::F32, &[2, 3]), Device::Cpu);
    let y = g2.input(ValueType::new(DType::F32, &[3, 4]), Device::Cpu);
    let mm = g2.add(Op::MatMul, &[x, y], None).unwrap();
    let info = KernelInfo::for_nodes(&g2, &[mm]);
    assert_eq!(info.kind, EventKind::LibraryCall);
    assert_eq!(info.flops, 2 * 2 * 4 * 3);
}

#[test]
fn kinds_and_directions_round_trip_their_names() {
    for k in EventKind::ALL {
        assert_eq!(EventKind::from_name(k.name()), Some(k));
    }
    for d in ["h2d", "d2h", "d2d", "h2h"] {
        assert_eq!(Direction::from_name(d).map(Direction::name), Some(d));
    }
    assert_eq!(compact_locs(&[loc(3), loc(4), loc(3)]), "model.py:3,4");
    assert_eq!(human_bytes(1_500), "1.5 KB");
    assert_eq!(human_time(1_500.0), "1.5 us");
}

/// Prints what a per-step hook costs with profiling off (one relaxed load and a branch).
#[test]
#[ignore = "timing: cargo test --release -p ember --lib profile::tests::off_path_cost -- --ignored --nocapture"]
fn off_path_cost() {
    use std::hint::black_box;
    use std::time::Instant;
    let _g = serial();
    let info = KernelInfo {
        kind: EventKind::Kernel,
        name: Arc::from("k"),
        locs: Arc::from([]),
        bytes: 0,
        flops: 0,
        device: Device::Cpu,
        stream: None,
    };
    let n = 20_000_000u32;
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let empty = time(&|| {
        black_box(&info);
    });
    let hook = time(&|| drop(black_box(kernel(black_box(&info)))));
    println!("per step: empty loop {empty:.2} ns, with the off hook {hook:.2} ns");
}

/// A device that cannot say how long its work took.
#[derive(Debug)]
struct Lost;

impl DeviceTimer for Lost {
    fn elapsed_ns(&self) -> Result<u64, String> {
        Err("event lost".into())
    }
}

#[test]
fn device_work_is_timed_by_the_device_on_its_timeline() {
    let _g = serial();
    let mut p = Profile::start();
    let on_gpu = |name: &str| KernelInfo {
        kind: EventKind::Kernel,
        name: Arc::from(name),
        locs: Arc::from([]),
        bytes: 8,
        flops: 0,
        device: Device::Cuda(3),
        stream: Some(0),
    };
    // Device times far longer than the launches: the second kernel waits for the first.
    for ns in [5_000_000u64, 7_000_000] {
        let _s = kernel(&on_gpu("timed"));
        device_work(Box::new(Measured(ns)));
    }
    {
        // A copy around a kernel: each span takes the timers queued inside it, not the
        // inner span's.
        let _copy = transfer(64, Direction::DeviceToDevice, Device::Cuda(3), "gather");
        {
            let _k = kernel(&on_gpu("inner"));
            device_work(Box::new(Measured(2_000)));
        }
        device_work(Box::new(Measured(3_000)));
    }
    {
        // Host spans and spans without device work keep the host's time.
        let _h = span(EventKind::HostCall, "host");
        device_work(Box::new(Measured(1)));
    }
    drop(kernel(&on_gpu("untimed")));
    {
        let _s = kernel(&on_gpu("lost"));
        device_work(Box::new(Lost));
    }
    p.stop();
    let ev = mine(&p);
    let named = |n: &str| -> Vec<&Event> { ev.iter().filter(|e| &*e.name == n).collect() };
    let timed = named("timed");
    assert_eq!(
        timed.iter().map(|e| e.dur_ns).collect::<Vec<_>>(),
        [5_000_000, 7_000_000]
    );
    assert!(timed
        .iter()
        .all(|e| e.launch_ns.is_some_and(|l| l < 5_000_000)));
    assert!(timed[1].start_ns >= timed[0].start_ns + timed[0].dur_ns);
    assert_eq!(named("inner")[0].dur_ns, 2_000);
    let copy = named("d2d")[0];
    assert_eq!((copy.dur_ns, copy.kind), (3_000, EventKind::Transfer));
    assert!(copy.start_ns >= named("inner")[0].start_ns + 2_000);
    assert!(named("host")[0].launch_ns.is_none());
    assert!(named("untimed")[0].launch_ns.is_none());
    let lost = named("lost")[0];
    assert!(lost.launch_ns.is_none());
    assert!(lost
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("device time unavailable: event lost")));
    assert!(p.summary().contains("12.00 ms"), "{}", p.summary());
    assert!(p.chrome_trace().contains(r#""clock":"device""#));
}
