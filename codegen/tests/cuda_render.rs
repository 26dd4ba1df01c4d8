//! The CUDA renderer and NVRTC, without a GPU: golden files of canonical kernels
//! (`EMBER_BLESS=1` rewrites them), properties of every rendered kernel, NVRTC compiles of every
//! kernel the tests build, the compile caches, and device discovery on a driver-less machine.

mod cuda_common;

use cuda_common::{all_kernels, canonical, nvrtc_or_skip, w1};
use ember_codegen::cuda::{self, cache::Cache, grid, nvrtc, plan::Mode};
use ember_ir::kernel::{Inst, Kernel};
use ember_ir::DType;
use std::path::PathBuf;
use std::time::Instant;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/cuda")
}

#[test]
fn canonical_kernels_match_golden_files() {
    let bless = std::env::var_os("EMBER_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for (stem, k) in canonical() {
        let src = cuda::render(&k).unwrap_or_else(|e| panic!("render {stem}: {e}"));
        let path = golden_dir().join(format!("{stem}.cu"));
        if bless {
            std::fs::create_dir_all(golden_dir()).expect("create golden dir");
            std::fs::write(&path, &src).expect("write golden file");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == src => {}
            Ok(_) => failures.push(format!("{stem}: differs from {}", path.display())),
            Err(e) => failures.push(format!("{stem}: {} ({e})", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "rendered CUDA differs from the golden files (re-bless with EMBER_BLESS=1 after checking):\n{}",
        failures.join("\n")
    );
}

#[test]
fn canonical_kernels_take_the_intended_shape() {
    let mode = |k: &Kernel| grid::plan_of(k).expect("plan").mode;
    let by: std::collections::HashMap<String, Kernel> = canonical().into_iter().collect();
    assert_eq!(mode(&by["w1_f32"]), Mode::Thread);
    assert!(grid::plan_of(&by["w1_f32"]).expect("plan").vector);
    assert_eq!(mode(&by["broadcast_add_f32"]), Mode::Block);
    assert_eq!(mode(&by["row_sum_f32"]), Mode::Block);
    assert_eq!(mode(&by["softmax_f32"]), Mode::Block);
    assert_eq!(mode(&by["full_sum_f32"]), Mode::Block);
    assert_eq!(mode(&by["scalar_f32"]), Mode::Single);
    assert_eq!(mode(&by["matmul_bias_relu_f32"]), Mode::Gemm);
    assert_eq!(mode(&by["matmul_batched_f64"]), Mode::Gemm);
    assert_eq!(mode(&by["matmul_fused_epilogue_f32"]), Mode::Gemm);
    assert_eq!(mode(&by["matmul_fused_two_outputs_f32"]), Mode::Gemm);
    // Integer products keep the generic plan.
    let int = cuda_common::matmul_bias_relu(DType::I64, 5, 9, 3);
    assert_ne!(mode(&int), Mode::Gemm);
    // Short rows: a thread per row instead of a mostly idle block.
    let short = cuda_common::row_reduce(ember_ir::ReduceOp::Sum, DType::F32, 1000, 8, true);
    assert_eq!(mode(&short), Mode::Thread);
}

/// True when every argument and value of the kernel is float32 (bool predicates aside).
fn float32_only(k: &Kernel) -> bool {
    k.args.iter().all(|a| a.dtype == DType::F32)
        && k.body.iter().all(|i| match i {
            Inst::Const { value, .. } => value.0.dtype() == DType::F32,
            Inst::Cast { to, .. } => *to == DType::F32,
            Inst::Acc { dtype, .. } => *dtype == DType::F32,
            _ => true,
        })
}

#[test]
fn rendered_source_properties() {
    for (label, k) in all_kernels() {
        let src = cuda::render(&k).unwrap_or_else(|e| panic!("render {label}: {e}"));
        let ctx = || format!("{label}:\n{src}");
        assert!(
            src.contains("extern \"C\" __global__ void __launch_bounds__("),
            "{}",
            ctx()
        );
        if float32_only(&k) {
            assert!(
                !src.contains("double"),
                "float64 in a float32 kernel: {}",
                ctx()
            );
            // Unsuffixed float literals are doubles in C.
            for lit in ["0.5)", "1.0)", " 0.0;", " 1.0;"] {
                assert!(!src.contains(lit), "double literal {lit:?}: {}", ctx());
            }
        }
        // Every loop is bounded by its extent (the bounds checks of grid- and block-stride
        // loops included).
        let norm = k.normalized();
        let gemm = grid::plan_of(&k).expect("plan").gemm;
        for inst in &norm.body {
            if let Inst::Loop { var, extent, .. } = inst {
                let mut cond = format!("v{} < {}LL", var.0, extent);
                // A tiled product's batch loop is part of its loop over tiles.
                if let Some(g) = gemm
                    .as_ref()
                    .filter(|g| g.batch.is_some_and(|b| b.0 == *var))
                {
                    cond = format!("ember_t < {}LL", g.tiles());
                }
                assert!(src.contains(&cond), "missing bound {cond:?}: {}", ctx());
            }
        }
        // Block reductions always come with their barriers.
        if src.contains("ember_block_reduce(v") {
            assert!(
                src.contains("__syncthreads()") && src.contains("__shfl_down_sync"),
                "{}",
                ctx()
            );
        }
    }
}

#[test]
fn structurally_equal_kernels_render_the_same() {
    let mut a = w1(DType::F32, 77);
    a.name = "first".into();
    let mut b = w1(DType::F32, 77);
    b.name = "second".into();
    let (ra, rb) = (
        cuda::render(&a).expect("render"),
        cuda::render(&b).expect("render"),
    );
    // Only the comment line naming the kernel differs.
    assert_eq!(
        ra.lines().skip(1).collect::<Vec<_>>(),
        rb.lines().skip(1).collect::<Vec<_>>()
    );
}

#[test]
fn every_test_kernel_compiles_with_nvrtc() {
    if !nvrtc_or_skip("every_test_kernel_compiles_with_nvrtc") {
        return;
    }
    let info = nvrtc::nvrtc().expect("nvrtc");
    let cache = Cache::new(None);
    let kernels = all_kernels();
    let t0 = Instant::now();
    let mut slowest = (std::time::Duration::ZERO, String::new());
    let mut f64_in_f32 = Vec::new();
    let mut warned = Vec::new();
    for (label, k) in &kernels {
        let c = cache
            .get(k, &nvrtc::Options::ptx(90))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let ptx = c.ptx().expect("ptx image");
        assert!(
            ptx.contains(".entry ember_kernel"),
            "{label}: no entry in PTX"
        );
        // The strongest "no float64" check: not one float64 instruction in the PTX.
        // CUDA's own sinf/cosf/tanf reduce arguments with |x| >= 105615 (Payne-Hanek) using
        // one float64 multiply, on a branch ordinary arguments never take; nothing else may.
        let libm_slow_path = ["sin", "cos", "tan"]
            .iter()
            .any(|f| label == &format!("unary {f} float32"));
        if float32_only(k) && ptx.contains(".f64") && !libm_slow_path {
            f64_in_f32.push(label.clone());
        }
        if !c.log.trim().is_empty() {
            warned.push(format!("{label}: {}", c.log));
        }
        if c.compile_time > slowest.0 {
            slowest = (c.compile_time, label.clone());
        }
    }
    let stats = cache.stats();
    eprintln!(
        "NVRTC {}.{} from {:?}: {} kernels ({} compiles, {} memory hits) in {:.2?}; slowest {:.2?} ({})",
        info.version.0,
        info.version.1,
        info.path,
        kernels.len(),
        stats.compiles,
        stats.memory_hits,
        t0.elapsed(),
        slowest.0,
        slowest.1
    );
    assert!(warned.is_empty(), "NVRTC warnings:\n{}", warned.join("\n"));
    assert!(
        f64_in_f32.is_empty(),
        "float64 in the PTX of float32 kernels: {f64_in_f32:?}"
    );
}

#[test]
fn nvrtc_compiles_for_several_architectures_and_cubin() {
    if !nvrtc_or_skip("nvrtc_compiles_for_several_architectures_and_cubin") {
        return;
    }
    let src = cuda::render(&cuda_common::softmax(8, 100)).expect("render");
    for arch in [70, 80, 90] {
        let c = nvrtc::compile("softmax", &src, &nvrtc::Options::ptx(arch)).expect("ptx");
        match c.image {
            nvrtc::Image::Ptx(p) => assert!(p.contains(&format!(".target sm_{arch}"))),
            other => panic!("expected PTX, got {other:?}"),
        }
    }
    let opts = nvrtc::Options {
        arch: 90,
        cubin: true,
        fast_math: true,
    };
    let c = nvrtc::compile("softmax", &src, &opts).expect("cubin");
    match c.image {
        // An ELF image.
        nvrtc::Image::Cubin(b) => assert_eq!(&b[..4], b"\x7fELF"),
        other => panic!("expected a CUBIN, got {other:?}"),
    }
}

#[test]
fn nvrtc_errors_carry_the_log_and_the_source() {
    if !nvrtc_or_skip("nvrtc_errors_carry_the_log_and_the_source") {
        return;
    }
    let src = "extern \"C\" __global__ void ember_kernel() { undeclared_thing = 1; }";
    let err = nvrtc::compile("broken", src, &nvrtc::Options::ptx(90)).expect_err("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("broken") && msg.contains("undeclared_thing"),
        "{msg}"
    );
    assert!(
        msg.contains("NVRTC log") && msg.contains("identifier"),
        "{msg}"
    );
}

#[test]
fn compile_cache_hits_in_memory_and_on_disk_and_clears() {
    if !nvrtc_or_skip("compile_cache_hits_in_memory_and_on_disk_and_clears") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ember-cuda-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = nvrtc::Options::ptx(90);
    let mut k1 = w1(DType::F32, 500);
    k1.name = "one".into();
    let mut k2 = w1(DType::F32, 500);
    k2.name = "two".into();

    let c = Cache::new(Some(dir.clone()));
    let a = c.get(&k1, &opts).expect("compile");
    let b = c.get(&k2, &opts).expect("cached");
    assert!(
        std::sync::Arc::ptr_eq(&a, &b),
        "structurally equal kernels share one entry"
    );
    assert_eq!((c.stats().compiles, c.stats().memory_hits), (1, 1));

    // A new cache over the same directory (a new process) reads the PTX from disk.
    let c2 = Cache::new(Some(dir.clone()));
    let d = c2.get(&k1, &opts).expect("disk");
    assert!(d.from_disk);
    assert_eq!(d.ptx(), a.ptx());
    assert_eq!((c2.stats().compiles, c2.stats().disk_hits), (0, 1));
    // Other options are another entry.
    c2.get(&k1, &nvrtc::Options::ptx(80)).expect("sm_80");
    assert_eq!(c2.stats().compiles, 1);

    c2.clear().expect("clear");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "cache files left after clear: {left:?}");
    let e = c2.get(&k1, &opts).expect("recompile");
    assert!(!e.from_disk);
    assert_eq!(c2.stats().compiles, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn device_discovery_explains_a_missing_driver() {
    let present = cuda::device::driver_present();
    match cuda::devices() {
        Ok(devs) => {
            assert!(present);
            for d in &devs {
                assert!(d.compute_capability.0 >= 3 && !d.name.is_empty(), "{d:?}");
            }
            eprintln!("CUDA devices: {devs:?}");
        }
        Err(e) => {
            let msg = e.to_string();
            if !present {
                assert!(msg.contains("no CUDA driver found"), "{msg}");
                assert!(msg.contains("libcuda.so"), "{msg}");
                assert!(!cuda::available());
                let open = cuda::runtime::CudaDevice::open(0).expect_err("no device");
                assert!(open.to_string().contains("no CUDA driver found"), "{open}");
            }
        }
    }
}

#[test]
fn unsupported_kernels_are_errors_not_panics() {
    // An invalid kernel (store to an input) is rejected by the verifier.
    let mut k = w1(DType::F32, 4);
    for a in &mut k.args {
        a.output = false;
    }
    assert!(cuda::render(&k).is_err());
}

#[test]
fn ptx_has_vector_accesses_shuffles_and_barriers() {
    if !nvrtc_or_skip("ptx_has_vector_accesses_shuffles_and_barriers") {
        return;
    }
    let ptx = |k: &Kernel| {
        let c = cuda::compile_kernel(k, 90).unwrap_or_else(|e| panic!("{e}"));
        c.ptx().map(str::to_owned).expect("ptx")
    };
    // 128-bit loads and stores on the vector path (float32: v4.f32; float64: two v2.f64).
    let w1s = ptx(&w1(DType::F32, 4096));
    assert!(
        w1s.contains("ld.global.nc.v4.f32") || w1s.contains("ld.global.v4.f32"),
        "{w1s}"
    );
    assert!(w1s.contains("st.global.v4.f32"), "{w1s}");
    let w1d = ptx(&w1(DType::F64, 4096));
    assert!(w1d.contains(".v2.f64"), "{w1d}");
    // Block reductions: warp shuffles and barriers.
    let rs = ptx(&cuda_common::row_reduce(
        ember_ir::ReduceOp::Sum,
        DType::F32,
        64,
        1000,
        true,
    ));
    assert!(
        rs.contains("shfl.sync.down") && rs.contains("bar.sync"),
        "{rs}"
    );
    // __launch_bounds__ reaches the PTX as .maxntid.
    assert!(rs.contains(".maxntid 256"), "{rs}");
}

#[test]
fn nvrtc_logs_are_clean() {
    if !nvrtc_or_skip("nvrtc_logs_are_clean") {
        return;
    }
    for (label, k) in canonical() {
        let src = cuda::render(&k).expect("render");
        let c = nvrtc::compile(&label, &src, &nvrtc::Options::ptx(90)).expect("compile");
        assert!(
            c.log.trim().is_empty(),
            "{label}: NVRTC warnings:\n{}\n{src}",
            c.log
        );
    }
}
