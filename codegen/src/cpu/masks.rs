//! Bool arrays in 32- and 64-bit vector loops: bytes in memory (0 or 1), lane masks in
//! registers. One access moves the bools of all the iteration's vectors (2 or 4 of them:
//! 4 to 16 bytes).

use super::lower::{Lower, Mode};
use super::ops::cl_type;
use crate::error::{CodegenError, Result};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I32, I32X4, I64, I64X2, I8X16};
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Value};
use ember_ir::DType;

fn le() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl Lower<'_, '_> {
    /// Loads `count * lanes` bool bytes (`count` 2 or 4 vectors) as `count` lane masks.
    pub(super) fn load_bools(
        &mut self,
        addr: Value,
        mode: Mode,
        flags: MemFlagsData,
        count: usize,
    ) -> Result<Vec<Value>> {
        let bytes = count * mode.lanes();
        let v8 = match bytes {
            16 => self.b.ins().load(I8X16, flags, addr, 0),
            8 | 4 => {
                let (t, vt) = if bytes == 8 {
                    (I64, I64X2)
                } else {
                    (I32, I32X4)
                };
                let raw = self.b.ins().load(t, flags, addr, 0);
                let v = self.b.ins().scalar_to_vector(vt, raw);
                self.b.ins().bitcast(I8X16, le(), v)
            }
            _ => {
                return Err(CodegenError::Internal(format!(
                    "{count} bool vectors of {mode:?}"
                )))
            }
        };
        // Widen (sign-extending, so 0/1 stay 0/1) until the lanes are the mode's width: each
        // step halves the lanes per vector; keep the vectors that hold loaded bytes.
        let mut vs = vec![v8];
        let mut lanes = 16;
        while lanes > mode.lanes() {
            lanes /= 2;
            let want = bytes.div_ceil(lanes);
            let mut next = Vec::with_capacity(want);
            for &v in &vs {
                next.push(self.b.ins().swiden_low(v));
                if next.len() < want {
                    next.push(self.b.ins().swiden_high(v));
                }
            }
            vs = next;
        }
        let t = cl_type(DType::Bool, mode);
        let zero = self.konst(DType::Bool, 0.0, 0, mode);
        Ok(vs
            .into_iter()
            .map(|x| {
                debug_assert_eq!(self.b.func.dfg.value_type(x), t);
                self.b.ins().icmp(IntCC::NotEqual, x, zero)
            })
            .collect())
    }

    /// Stores lane masks (2 or 4 vectors) as bool bytes (0 or 1): four 32-bit masks pack to
    /// 16 bytes with two rounds of saturating narrows (`packssdw`, `packsswb`); otherwise
    /// each pair is one byte shuffle that gathers a byte of every lane of both masks.
    pub(super) fn store_bools(
        &mut self,
        addr: Value,
        masks: &[Value],
        mode: Mode,
        flags: MemFlagsData,
    ) {
        let one = super::math::vconst(&mut self.b, I8X16, vec![1u8; 16]);
        if mode == Mode::Vec32 && masks.len() == 4 {
            let lo = self.b.ins().snarrow(masks[0], masks[1]);
            let hi = self.b.ins().snarrow(masks[2], masks[3]);
            let bytes = self.b.ins().snarrow(lo, hi);
            let bytes = self.b.ins().band(bytes, one);
            self.b.ins().store(flags, bytes, addr, 0);
            return;
        }
        let step = if mode == Mode::Vec32 { 4 } else { 8 };
        let pair_bytes = 2 * mode.lanes();
        for (p, pair) in masks.chunks(2).enumerate() {
            let a = self.b.ins().bitcast(I8X16, le(), pair[0]);
            let b = self.b.ins().bitcast(I8X16, le(), pair[pair.len() - 1]);
            let mut sel: Vec<u8> = (0..32).step_by(step).map(|i| i as u8).collect();
            sel.resize(16, 0);
            let imm = self
                .b
                .func
                .dfg
                .immediates
                .push(cranelift_codegen::ir::ConstantData::from(sel));
            let bytes = self.b.ins().shuffle(a, b, imm);
            let bytes = self.b.ins().band(bytes, one);
            let w = if mode == Mode::Vec32 {
                let v = self.b.ins().bitcast(I64X2, le(), bytes);
                self.b.ins().extractlane(v, 0)
            } else {
                let v = self.b.ins().bitcast(I32X4, le(), bytes);
                self.b.ins().extractlane(v, 0)
            };
            self.b.ins().store(flags, w, addr, (p * pair_bytes) as i32);
        }
    }
}
