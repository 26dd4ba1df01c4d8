//! Bool arrays in vector loops: bytes in memory (0 or 1), lane masks in registers.

use super::lower::{Lower, Mode};
use super::ops::cl_type;
use crate::error::Result;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};
use ember_ir::DType;

impl Lower<'_, '_> {
    /// Loads `2 * lanes` bool bytes as lane masks.
    pub(super) fn load_bools(
        &mut self,
        addr: Value,
        mode: Mode,
        flags: MemFlagsData,
    ) -> Result<Vec<Value>> {
        use cranelift_codegen::ir::types::{I32, I32X4, I64, I64X2, I8X16};
        let le = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
        let (bytes_ty, lanes_ty) = if mode == Mode::Vec32 {
            (I64, I64X2)
        } else {
            (I32, I32X4)
        };
        let raw = self.b.ins().load(bytes_ty, flags, addr, 0);
        let v = self.b.ins().scalar_to_vector(lanes_ty, raw);
        let v8 = self.b.ins().bitcast(I8X16, le, v);
        let v16 = self.b.ins().swiden_low(v8);
        let lo32 = self.b.ins().swiden_low(v16);
        let ints: Vec<Value> = if mode == Mode::Vec32 {
            let hi32 = self.b.ins().swiden_high(v16);
            vec![lo32, hi32]
        } else {
            let a = self.b.ins().swiden_low(lo32);
            let b = self.b.ins().swiden_high(lo32);
            vec![a, b]
        };
        let t = cl_type(DType::Bool, mode);
        let zero = self.konst(DType::Bool, 0.0, 0, mode);
        Ok(ints
            .into_iter()
            .map(|x| {
                debug_assert_eq!(self.b.func.dfg.value_type(x), t);
                self.b.ins().icmp(IntCC::NotEqual, x, zero)
            })
            .collect())
    }

    /// Stores lane masks as `2 * lanes` bool bytes (0 or 1): one byte shuffle gathers a
    /// byte of every lane of both masks.
    pub(super) fn store_bools(
        &mut self,
        addr: Value,
        masks: &[Value],
        mode: Mode,
        flags: MemFlagsData,
    ) {
        use cranelift_codegen::ir::types::{I32X4, I64X2, I8X16};
        let le = MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little);
        let a = self.b.ins().bitcast(I8X16, le, masks[0]);
        let b = self.b.ins().bitcast(I8X16, le, masks[1]);
        let step = if mode == Mode::Vec32 { 4 } else { 8 };
        let mut sel: Vec<u8> = (0..32).step_by(step).map(|i| i as u8).collect();
        sel.resize(16, 0);
        let imm = self
            .b
            .func
            .dfg
            .immediates
            .push(cranelift_codegen::ir::ConstantData::from(sel));
        let bytes = self.b.ins().shuffle(a, b, imm);
        let one = super::math::vconst(&mut self.b, I8X16, vec![1u8; 16]);
        let bytes = self.b.ins().band(bytes, one);
        let w = if mode == Mode::Vec32 {
            let v = self.b.ins().bitcast(I64X2, le, bytes);
            self.b.ins().extractlane(v, 0)
        } else {
            let v = self.b.ins().bitcast(I32X4, le, bytes);
            self.b.ins().extractlane(v, 0)
        };
        self.b.ins().store(flags, w, addr, 0);
    }
}
