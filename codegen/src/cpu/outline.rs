//! Out-of-line math for large kernels.
//!
//! Each use of a heavy math function (`exp`, `tanh`, ...) is normally emitted inline: a range
//! reduction plus a polynomial, 20-60 Cranelift instructions, once per unrolled vector and once
//! more in the scalar tail. That is the fastest code, but Cranelift's compile time grows with
//! the instruction count (register allocation dominates), so a fused chain of hundreds of
//! `tanh` took over 100 ms to compile. A kernel with more than [`OUTLINE_THRESHOLD`] heavy
//! math ops instead calls one shared subroutine per (function, value type): defined once per
//! JIT module the first time a kernel needs it, and reused by every later kernel.
//!
//! The subroutines are ordinary module functions (`fn(x: T) -> T` in the platform's C ABI,
//! `T` one of `f32`, `f64`, `f32x4`, `f64x2`) built by the same [`super::math::M`] emitter as
//! the inline code, so results are bit-identical either way. They are called through an
//! absolute address (not a 32-bit PC-relative call): JIT code memory regions may lie more than
//! 2 GiB apart.

use super::math::M;
use crate::error::{CodegenError, Result};
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, Type, UserFuncName};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};
use ember_ir::kernel::{Inst, Kernel};
use ember_ir::{DType, UnaryOp};
use std::collections::HashMap;

/// Kernels with more heavy math ops than this call shared subroutines instead of inlining.
pub const OUTLINE_THRESHOLD: usize = 8;

/// The subroutines defined in one JIT module, by (function, value type).
pub type Outlined = HashMap<(UnaryOp, Type), FuncId>;

/// True for the ops that may be outlined: float math emitted entirely by [`M`] (sin/cos are
/// not: their large arguments are patched through libm by the caller).
pub fn outlinable(op: UnaryOp) -> bool {
    use UnaryOp::*;
    matches!(op, Exp | Expm1 | Log | Log1p | Tanh | Erf | Sigmoid)
}

/// The (op, dtype) pairs `kernel` should call out of line: every outlinable float op when the
/// kernel has more than [`OUTLINE_THRESHOLD`] of them, none otherwise.
pub fn plan(kernel: &Kernel, types: &[Option<DType>]) -> Vec<(UnaryOp, DType)> {
    let ty = |v: ember_ir::kernel::Var| types.get(v.0 as usize).copied().flatten();
    let heavy: Vec<(UnaryOp, DType)> = kernel
        .body
        .iter()
        .filter_map(|i| match i {
            Inst::Unary { op, x, .. } if outlinable(*op) => match ty(*x) {
                Some(dt @ (DType::F32 | DType::F64)) => Some((*op, dt)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if heavy.len() <= OUTLINE_THRESHOLD {
        return Vec::new();
    }
    let mut out: Vec<(UnaryOp, DType)> = Vec::new();
    for h in heavy {
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// The Cranelift value types a kernel may use for `dt`: scalar and vector.
fn value_types(dt: DType) -> [Type; 2] {
    if dt == DType::F64 {
        [types::F64, types::F64X2]
    } else {
        [types::F32, types::F32X4]
    }
}

/// Defines (once per module) the subroutines `needed` asks for, returning the updated map.
pub fn define(
    module: &mut JITModule,
    defined: &mut Outlined,
    needed: &[(UnaryOp, DType)],
) -> Result<()> {
    let mut ctx = None;
    let mut fctx = FunctionBuilderContext::new();
    for &(op, dt) in needed {
        for ty in value_types(dt) {
            if defined.contains_key(&(op, ty)) {
                continue;
            }
            let mut sig = module.make_signature();
            sig.params.push(AbiParam::new(ty));
            sig.returns.push(AbiParam::new(ty));
            let name = format!("ember_math_{op}_{ty}");
            let id = module
                .declare_function(&name, Linkage::Local, &sig)
                .map_err(|e| CodegenError::Module(e.to_string()))?;
            let ctx = ctx.get_or_insert_with(|| module.make_context());
            module.clear_context(ctx);
            ctx.func.signature = sig;
            ctx.func.name = UserFuncName::user(1, id.as_u32());
            {
                let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
                let entry = b.create_block();
                b.append_block_params_for_function_params(entry);
                b.switch_to_block(entry);
                let x = b.block_params(entry)[0];
                let r = emit(&mut b, op, ty, x)?;
                b.ins().return_(&[r]);
                b.seal_all_blocks();
                b.finalize(module.isa().frontend_config());
            }
            module
                .define_function(id, ctx)
                .map_err(|e| CodegenError::Compile {
                    msg: format!("{e:?}"),
                    kernel: name.clone(),
                })?;
            module.clear_context(ctx);
            defined.insert((op, ty), id);
        }
    }
    Ok(())
}

/// The inline body of `op` on `x` of type `ty` (what the subroutine computes).
pub fn emit(
    b: &mut FunctionBuilder<'_>,
    op: UnaryOp,
    ty: Type,
    x: cranelift_codegen::ir::Value,
) -> Result<cranelift_codegen::ir::Value> {
    use UnaryOp::*;
    let mut m = M::new(b, ty);
    Ok(match op {
        Exp => m.exp(x),
        Expm1 => m.expm1(x),
        Log => m.log(x),
        Log1p => m.log1p(x),
        Tanh => m.tanh(x),
        Erf => m.erf(x),
        Sigmoid => m.sigmoid(x),
        _ => return Err(CodegenError::Internal(format!("{op} cannot be outlined"))),
    })
}
