//! Matmul epilogues stored by the tiled kernel (`ember_codegen::cuda::epilogue`), without a
//! GPU: the fusion pass's epilogue kernels for real graphs combined with the product, run on
//! the grid simulator and compared bit for bit with the product and the epilogue run as two
//! kernels (what the device did before, and still does after cuBLAS). Bias along rows and
//! along columns, strided and transposed operands, epilogues over one flat loop, batched
//! products, a product with one row, multi-output and dtype-changing epilogues; and the
//! epilogues that stay apart, with their reasons. On a machine with a CUDA device the same
//! cases run on it too (one test, skipped with a loud line otherwise).

#[path = "common/mod.rs"]
mod common;
mod cuda_common;

use common::{values, Rng};
use cuda_common::MatMulStep;
use ember_codegen::cuda::epilogue;
use ember_codegen::cuda::grid::{plan_of, simulate};
use ember_codegen::cuda::plan::Mode;
use ember_codegen::cuda::runtime::CudaDevice;
use ember_ir::kernel::build::Builder;
use ember_ir::kernel::interp::Buffer;
use ember_ir::kernel::{reshape_strides, ArgDecl, Kernel};
use ember_ir::{DType, NodeId, Op, ReduceOp};
use std::collections::HashMap;

/// How an input's buffer is laid out.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// C order.
    C,
    /// Every second element of a buffer twice as long in the last axis.
    Strided,
    /// The last two axes swapped in memory.
    T,
}

/// A buffer viewing `vals` (C order over `shape`) with `layout`.
fn laid_out(dt: DType, shape: &[usize], vals: &[f64], layout: Layout) -> Buffer {
    match layout {
        Layout::C => Buffer::from_f64s(dt, shape, vals),
        Layout::Strided => common::buffer(dt, shape, vals, true),
        Layout::T => {
            let nd = shape.len();
            let mut swapped = shape.to_vec();
            swapped.swap(nd - 2, nd - 1);
            let (r, c) = (shape[nd - 2], shape[nd - 1]);
            let mut data = vec![0.0; vals.len()];
            for (f, &v) in vals.iter().enumerate() {
                let (blk, i, j) = (f / (r * c), f / c % r, f % c);
                data[blk * r * c + j * r + i] = v;
            }
            let mut b = Buffer::from_f64s(dt, &swapped, &data);
            b.strides.swap(nd - 2, nd - 1);
            b
        }
    }
}

/// `value` (a buffer viewing a value of `shape`) as kernel argument `decl` sees it: in
/// place, or gathered to C order first when the view cannot be reshaped (as the runtime does).
fn bind(value: &Buffer, shape: &[usize], decl: &ArgDecl) -> Buffer {
    if let Some(strides) = reshape_strides(shape, &value.strides, &decl.shape) {
        return Buffer {
            strides,
            ..value.clone()
        };
    }
    let numel: usize = shape.iter().product();
    let vals: Vec<f64> = (0..numel)
        .map(|flat| {
            let (mut rem, mut at) = (flat, value.offset as isize);
            for d in (0..shape.len()).rev() {
                at += (rem % shape[d]) as isize * value.strides[d];
                rem /= shape[d];
            }
            value.get_raw(at as usize).to_f64()
        })
        .collect();
    Buffer::from_f64s(value.dtype, &decl.shape, &vals)
}

/// The inputs of `k` bound to `values` (in input-argument order), its outputs fresh.
fn buffers(k: &Kernel, values: &[(&Buffer, &[usize])]) -> Vec<Buffer> {
    let mut ins = values.iter();
    k.args
        .iter()
        .map(|decl| {
            if decl.output {
                Buffer::zeros(decl.dtype, &decl.shape)
            } else {
                let (v, shape) = ins.next().expect("a value per input");
                bind(v, shape, decl)
            }
        })
        .collect()
}

/// The bytes of `k`'s outputs in `bufs`.
fn outputs(k: &Kernel, bufs: &[Buffer]) -> Vec<Vec<u8>> {
    k.args
        .iter()
        .zip(bufs)
        .filter(|(a, _)| a.output)
        .map(|(_, b)| b.data.clone())
        .collect()
}

/// Runs a kernel over buffers: the grid simulator, or a device.
type Runner<'a> = &'a dyn Fn(&Kernel, &mut [Buffer]) -> Result<(), String>;

fn on_the_simulator(k: &Kernel, bufs: &mut [Buffer]) -> Result<(), String> {
    simulate(k, bufs, 3).map(|_| ()).map_err(|e| e.to_string())
}

/// Runs the matmul step of `text` both ways on the simulator on random inputs laid out per
/// `layouts` (by input index, C order otherwise) and asserts the outputs are bit-identical;
/// returns the fused kernel.
fn check(text: &str, layouts: &[(usize, Layout)], seed: u64) -> Kernel {
    check_on(&on_the_simulator, text, layouts, seed)
}

/// [`check`] running the kernels with `run`.
fn check_on(run: Runner, text: &str, layouts: &[(usize, Layout)], seed: u64) -> Kernel {
    let s = MatMulStep::parse(text);
    let fused = s
        .fused()
        .unwrap_or_else(|e| panic!("not fused: {e}\n{text}\n{}", s.epilogue.kernel));
    let plan = plan_of(&fused).expect("plan");
    assert_eq!(plan.mode, Mode::Gemm, "{fused}");
    let g = &s.graph;
    let shape = |n: NodeId| g.node(n).ty.shape.to_vec();
    let mut rng = Rng(seed);
    let mut vals: HashMap<NodeId, (Buffer, Vec<usize>)> = HashMap::new();
    for &n in g.inputs() {
        let Op::Input { index } = g.node(n).op else {
            continue;
        };
        let ty = &g.node(n).ty;
        let numel = ty.shape.iter().product();
        let v = values(&mut rng, ty.dtype, numel, -1.0, 1.0);
        let layout = layouts
            .iter()
            .find(|l| l.0 == index)
            .map_or(Layout::C, |l| l.1);
        vals.insert(n, (laid_out(ty.dtype, &ty.shape, &v, layout), shape(n)));
    }
    // The batch axes of the operands broadcast (stride 0), as the runtime binds them.
    let out_shape = shape(s.out);
    let nd = out_shape.len();
    let operand = |n: NodeId, r: usize, c: usize| -> (Buffer, Vec<usize>) {
        let (b, sh) = &vals[&n];
        let full: Vec<usize> = out_shape[..nd - 2].iter().copied().chain([r, c]).collect();
        let mut strides = vec![0isize; full.len() - sh.len()];
        strides.extend(&b.strides);
        for (d, s) in strides.iter_mut().enumerate() {
            if d + sh.len() >= full.len() && sh[d + sh.len() - full.len()] == 1 {
                *s = 0;
            }
        }
        (
            Buffer {
                strides,
                ..b.clone()
            },
            full,
        )
    };
    let kk = *shape(s.a).last().expect("k");
    let (m, n) = (out_shape[nd - 2], out_shape[nd - 1]);
    let (a, b) = (operand(s.a, m, kk), operand(s.b, kk, n));

    // Two kernels: the product into C, then the epilogue reading C back.
    let mut pb = buffers(&s.product, &[(&a.0, &a.1), (&b.0, &b.1)]);
    run(&s.product, &mut pb).unwrap_or_else(|e| panic!("product: {e}"));
    let c = Buffer {
        strides: ember_ir::shape::contiguous_strides(&out_shape).to_vec(),
        ..pb.pop().expect("C")
    };
    let e = &s.epilogue;
    let ins: Vec<(&Buffer, &[usize])> = e
        .inputs
        .iter()
        .map(|v| match *v == s.out {
            true => (&c, out_shape.as_slice()),
            false => (&vals[v].0, vals[v].1.as_slice()),
        })
        .collect();
    let mut eb = buffers(&e.kernel, &ins);
    run(&e.kernel, &mut eb).unwrap_or_else(|err| panic!("epilogue: {err}"));
    let want = outputs(&e.kernel, &eb);

    // One kernel.
    let mut ins: Vec<(&Buffer, &[usize])> = vec![(&a.0, &a.1), (&b.0, &b.1)];
    ins.extend(
        e.inputs
            .iter()
            .filter(|v| **v != s.out)
            .map(|v| (&vals[v].0, vals[v].1.as_slice())),
    );
    let mut fb = buffers(&fused, &ins);
    run(&fused, &mut fb).unwrap_or_else(|err| panic!("fused: {err}\n{fused}"));
    let got = outputs(&fused, &fb);
    assert_eq!(got.len(), e.outputs.len());
    assert!(got == want, "fused and separate results differ\n{text}");
    assert!(
        want.iter().all(|o| o.iter().any(|&byte| byte != 0)),
        "an output is all zeros\n{text}"
    );
    fused
}

/// Graphs of the cases above that the GPU test runs too, with their operand layouts.
fn device_cases() -> Vec<(String, Vec<(usize, Layout)>)> {
    let mut v = Vec::new();
    for dt in ["f32", "f64"] {
        v.push((
            BIAS_RELU.replace("f32", dt),
            vec![(0, Layout::T), (2, Layout::Strided)],
        ));
        v.push((
            format!(
                "%0 = input 0 : {dt}[2,3,17,20]\n%1 = input 1 : {dt}[20,9]\n\
                 %2 = input 2 : {dt}[17,1]\n%3 = matmul %0, %1\n%4 = subtract %3, %2\n\
                 %5 = tanh %4\noutput 0 %5\n"
            ),
            vec![(1, Layout::T)],
        ));
        v.push((
            format!(
                "%0 = input 0 : {dt}[300,257]\n%1 = input 1 : {dt}[257,190]\n\
                 %2 = input 2 : {dt}[300,190]\n%3 = matmul %0, %1\n%4 = add %3, %2\n\
                 %5 = cast{{i32}} %4\n%6 = relu %4\noutput 0 %5\noutput 1 %6\n"
            ),
            vec![(2, Layout::T)],
        ));
    }
    v
}

#[test]
fn on_a_cuda_device_the_fused_kernel_matches_the_two_kernels_bit_for_bit() {
    let dev = match CudaDevice::open(0) {
        Ok(d) => d,
        Err(e) => {
            cuda_common::loud(&format!("*** SKIP fused epilogues on a device: {e} ***"));
            return;
        }
    };
    let run = |k: &Kernel, bufs: &mut [Buffer]| dev.run_buffers(k, bufs).map_err(|e| e.to_string());
    for (seed, (text, layouts)) in device_cases().into_iter().enumerate() {
        check_on(&run, &text, &layouts, 100 + seed as u64);
    }
}

#[test]
fn the_device_cases_fuse_on_the_simulator() {
    for (seed, (text, layouts)) in device_cases().into_iter().enumerate() {
        check(&text, &layouts, 200 + seed as u64);
    }
}

const BIAS_RELU: &str = "%0 = input 0 : f32[67,33]\n%1 = input 1 : f32[33,70]\n\
                         %2 = input 2 : f32[70]\n%3 = matmul %0, %1\n%4 = add %3, %2\n\
                         %5 = relu %4\noutput 0 %5\n";

#[test]
fn bias_relu_matches_the_two_kernels_bit_for_bit() {
    for dt in ["f32", "f64"] {
        let text = BIAS_RELU.replace("f32", dt);
        let k = check(&text, &[], 1);
        // A, B, the bias, the result: the product is no argument.
        assert_eq!(k.args.len(), 4, "{k}");
        assert_eq!(k.args[2].shape.as_slice(), [70]);
        // Strided bias, transposed operands.
        check(
            &text,
            &[(0, Layout::T), (1, Layout::T), (2, Layout::Strided)],
            2,
        );
        // maximum(x, 0) spelled out.
        let max = text.replace(
            "%5 = relu %4",
            &format!("%6 = const {dt}[] 0.0\n%5 = maximum %4, %6"),
        );
        check(&max, &[(2, Layout::Strided)], 3);
    }
}

#[test]
fn bias_along_columns_and_full_matrix_addends() {
    // A per-row bias ([m, 1]): the epilogue loops over rows and columns apart.
    let col = "%0 = input 0 : f64[65,17]\n%1 = input 1 : f64[17,129]\n\
               %2 = input 2 : f64[65,1]\n%3 = matmul %0, %1\n%4 = subtract %3, %2\n\
               %5 = tanh %4\noutput 0 %5\n";
    let k = check(col, &[(1, Layout::T)], 4);
    assert_eq!(k.args[2].shape.as_slice(), [65]);
    // A full residual: the epilogue is one flat loop, viewed as rows and columns here
    // (transposed and strided residuals bind in place).
    let res = "%0 = input 0 : f32[70,9]\n%1 = input 1 : f32[9,66]\n%2 = input 2 : f32[70,66]\n\
               %3 = matmul %0, %1\n%4 = add %3, %2\n%5 = const f32[] 0.5\n\
               %6 = multiply %4, %5\noutput 0 %6\n";
    for layout in [Layout::C, Layout::T, Layout::Strided] {
        let k = check(res, &[(2, layout)], 5);
        assert_eq!(k.args[2].shape.as_slice(), [70, 66]);
    }
    // The product alone, then relu: one flat loop too.
    check(
        "%0 = input 0 : f32[130,47]\n%1 = input 1 : f32[47,3]\n%2 = matmul %0, %1\n\
         %3 = relu %2\noutput 0 %3\n",
        &[],
        6,
    );
}

#[test]
fn edges_one_row_one_element_and_k_of_one() {
    check(
        "%0 = input 0 : f32[1,20]\n%1 = input 1 : f32[20,70]\n%2 = input 2 : f32[70]\n\
         %3 = matmul %0, %1\n%4 = add %3, %2\n%5 = relu %4\noutput 0 %5\n",
        &[],
        7,
    );
    check(
        "%0 = input 0 : f64[1,5]\n%1 = input 1 : f64[5,1]\n%2 = input 2 : f64[1]\n\
         %3 = matmul %0, %1\n%4 = add %3, %2\n%5 = exp %4\noutput 0 %5\n",
        &[],
        8,
    );
    check(
        "%0 = input 0 : f32[7,1]\n%1 = input 1 : f32[1,70]\n%2 = input 2 : f32[7,1]\n\
         %3 = matmul %0, %1\n%4 = multiply %3, %2\noutput 0 %4\n",
        &[(1, Layout::Strided)],
        9,
    );
}

#[test]
fn batched_products_with_a_shared_bias_or_a_batched_addend() {
    // Batch axes and rows in one epilogue loop, the bias over columns.
    let k = check(
        "%0 = input 0 : f32[2,3,17,20]\n%1 = input 1 : f32[20,9]\n%2 = input 2 : f32[9]\n\
         %3 = matmul %0, %1\n%4 = add %3, %2\n%5 = relu %4\noutput 0 %5\n",
        &[(0, Layout::T)],
        10,
    );
    assert_eq!(k.args[3].shape.as_slice(), [6, 17, 9], "{k}");
    // A batched right operand and an addend over every axis.
    check(
        "%0 = input 0 : f64[4,70,3]\n%1 = input 1 : f64[4,3,65]\n%2 = input 2 : f64[4,70,65]\n\
         %3 = matmul %0, %1\n%4 = add %3, %2\n%5 = relu %4\noutput 0 %5\n",
        &[(2, Layout::T)],
        11,
    );
    // An addend over the batch axes only.
    check(
        "%0 = input 0 : f32[5,8,6]\n%1 = input 1 : f32[6,66]\n%2 = input 2 : f32[5,1,1]\n\
         %3 = matmul %0, %1\n%4 = add %3, %2\noutput 0 %4\n",
        &[],
        12,
    );
}

#[test]
fn multi_output_and_dtype_changing_epilogues_fuse() {
    // The sum and its float64 tanh both stored.
    let k = check(
        "%0 = input 0 : f32[3,17,20]\n%1 = input 1 : f32[20,9]\n%2 = input 2 : f32[9]\n\
         %3 = matmul %0, %1\n%4 = multiply %3, %2\n%5 = cast{f64} %4\n%6 = tanh %5\n\
         output 0 %4\noutput 1 %6\n",
        &[],
        13,
    );
    let outs: Vec<DType> = k
        .args
        .iter()
        .filter(|a| a.output)
        .map(|a| a.dtype)
        .collect();
    assert_eq!(outs, [DType::F32, DType::F64]);
    // A comparison: a bool result, and an int32 cast.
    check(
        "%0 = input 0 : f64[9,4]\n%1 = input 1 : f64[4,70]\n%2 = input 2 : f64[70]\n\
         %3 = matmul %0, %1\n%4 = greater %3, %2\noutput 0 %4\n",
        &[],
        14,
    );
    check(
        "%0 = input 0 : f32[9,4]\n%1 = input 1 : f32[4,70]\n%2 = const f32[] 100.0\n\
         %3 = matmul %0, %1\n%4 = multiply %3, %2\n%5 = cast{i32} %4\noutput 0 %5\n",
        &[],
        15,
    );
}

#[test]
fn epilogues_that_stay_apart_say_why() {
    // An addend with batch axes of its own the others broadcast over: the epilogue loops
    // over one batch axis apart from the other.
    let s = MatMulStep::parse(
        "%0 = input 0 : f32[2,3,17,20]\n%1 = input 1 : f32[20,9]\n%2 = input 2 : f32[3,1,9]\n\
         %3 = matmul %0, %1\n%4 = add %3, %2\noutput 0 %4\n",
    );
    let why = s.fused().expect_err("apart");
    assert!(why.contains("batch axes of its own"), "{why}");
    // Not an elementwise epilogue (a reduction), and not the shape of the product.
    let s = MatMulStep::parse(BIAS_RELU);
    let args = s.product_args();
    let reduce = row_sum(67, 70);
    let why = epilogue::fuse(&s.product, &reduce, &[0], &[67, 70]).expect_err("apart");
    assert!(why.contains("elementwise"), "{why}");
    let why = epilogue::fuse(&s.product, &s.epilogue.kernel, &args, &[67, 71]).expect_err("x");
    assert!(why.contains("not the product's"), "{why}");
    // A product kernel that already has an epilogue.
    let biased = cuda_common::matmul_bias_relu(DType::F32, 67, 33, 70);
    let why = epilogue::fuse(&biased, &s.epilogue.kernel, &args, &[67, 70]).expect_err("x");
    assert!(why.contains("more than store"), "{why}");
}

/// `out[i] = sum_j x[i, j]`.
fn row_sum(r: usize, c: usize) -> Kernel {
    let dt = DType::F32;
    let mut b = Builder::new("row_sum");
    let x = b.arg(dt, &[r, c], false);
    let out = b.arg(dt, &[r], true);
    let i = b.open_loop(r, true);
    let acc = b.acc(ReduceOp::Sum, dt);
    let j = b.open_loop(c, false);
    let v = b.load(x, &[i, j]);
    b.update(acc, v);
    b.close_loop();
    b.store(out, &[i], acc);
    b.finish()
}
