//! Copying a strided view into C order: the copy the runtime makes when a kernel cannot view
//! an argument's layout (a transposed or sliced NumPy array passed to a kernel that collapsed
//! its dimensions), and `Tensor::contiguous`.
//!
//! ndarray's element iterator over a dynamic-rank view costs 10-30 ns per element (it
//! advances a heap index per step); this walks the view as nested loops whose innermost run
//! is a `memcpy` when it is contiguous and a tight strided loop otherwise, after merging
//! dimensions that are contiguous with each other, and copies 2-d transposes in tiles so both
//! sides stay in cache (a 512 x 512 float32 Fortran-order array: 107 us, 0.4 ns per element).
//! A permutation of more axes whose fastest axis is not the last goes slab by slab over
//! those two axes, each slab a tiled transpose: `np.transpose(c, (2, 1, 0))` of a C (512,
//! 16, 64) float32 array 0.30 ms (7 GB/s; nested loops with a strided innermost run: 1.4 ms,
//! `np.ascontiguousarray` 1.15 ms). Copies of 256 KB or more are split over the CPU pool
//! (a Fortran (500, 1024) int64 operand: 0.56 -> 0.27 ms on 2 cores).

/// Dimensions of a view with size-1 axes dropped and C-contiguous neighbours merged.
fn simplified(shape: &[usize], strides: &[isize]) -> (Vec<usize>, Vec<isize>) {
    let mut dims: Vec<(usize, isize)> = Vec::with_capacity(shape.len());
    for (&n, &s) in shape.iter().zip(strides) {
        if n == 1 {
            continue;
        }
        match dims.last_mut() {
            Some((pn, ps)) if *ps == s * n as isize => {
                *pn *= n;
                *ps = s;
            }
            _ => dims.push((n, s)),
        }
    }
    dims.into_iter().unzip()
}

/// Edge of the square tiles a 2-d transpose is copied in. Small on purpose: with a
/// power-of-two row length, a tile's rows fall into a few cache sets, and 32 or 64 rows
/// overflow them (a 512 x 512 float32 transpose: 107 us with 16, 606 us with 32, 730 us with
/// 64; 145 us with 16 writing by columns).
const TILE: usize = 16;

/// Writes the elements of the view at `src` (element strides `strides`, any signs) to `out` in
/// C order.
///
/// # Safety
/// Every element the view addresses (`src + sum(i[d] * strides[d])` for `i` within `shape`)
/// must be a valid, initialized `T`, and `out` must be valid for writing `shape.product()`
/// elements that do not overlap the view.
pub unsafe fn copy_to_c_order<T: Copy>(
    src: *const T,
    shape: &[usize],
    strides: &[isize],
    out: *mut T,
) {
    if shape.contains(&0) {
        return;
    }
    let (shape, strides) = simplified(shape, strides);
    let n = shape.len();
    // SAFETY: the caller guarantees the view and the room at `out`.
    unsafe {
        if n == 0 {
            *out = *src;
            return;
        }
        // The axis the view moves along fastest: when it is not the output's innermost one
        // (a transpose or a permutation), the copy goes slab by slab over those two axes,
        // each slab transposed in tiles.
        let fast = (0..n)
            .min_by_key(|&d| strides[d].unsigned_abs())
            .unwrap_or(n - 1);
        if n >= 2
            && fast != n - 1
            && strides[n - 1] != 1
            && strides[fast].unsigned_abs() < strides[n - 1].unsigned_abs()
        {
            copy_permuted(src, &shape, &strides, fast, out);
        } else if shape.iter().product::<usize>() * std::mem::size_of::<T>() >= PARALLEL_MIN_BYTES {
            copy_nested_parallel(src, &shape, &strides, out);
        } else {
            copy_nested(src, &shape, &strides, out);
        }
    }
}

/// Bytes from which [`copy_to_c_order`] splits a nested-loop copy over the CPU pool (a copy
/// that packs a reversed or stepped operand for a kernel's vector loop runs on every call:
/// one core does not saturate memory bandwidth).
const PARALLEL_MIN_BYTES: usize = 256 << 10;

/// [`copy_nested`] split along the outermost axis (along the run itself for one axis) over
/// the CPU pool, a few chunks per thread.
///
/// # Safety
/// As [`copy_to_c_order`]; `shape` non-empty, no axis of size 0.
unsafe fn copy_nested_parallel<T: Copy>(
    src: *const T,
    shape: &[usize],
    strides: &[isize],
    out: *mut T,
) {
    let pool = ember_codegen::cpu::pool::Pool::global();
    let n0 = shape[0];
    let inner: usize = shape[1..].iter().product();
    let chunks = (pool.threads() * 4).min(n0).max(1);
    let per = n0.div_ceil(chunks);
    let (src_at, out_at) = (src as usize, out as usize);
    pool.run(n0.div_ceil(per), &|c| {
        let (lo, hi) = (c * per, ((c + 1) * per).min(n0));
        let (src, out) = (src_at as *const T, out_at as *mut T);
        // SAFETY: chunk `c` reads the view's elements at positions lo..hi along axis 0 and
        // writes their C-order slots lo * inner..hi * inner, which no other chunk writes.
        unsafe {
            let s = src.offset(lo as isize * strides[0]);
            let o = out.add(lo * inner);
            if shape.len() == 1 {
                copy_run(s, hi - lo, strides[0], o);
            } else {
                let mut o = o;
                for i in 0..hi - lo {
                    o = copy_nested(
                        s.offset(i as isize * strides[0]),
                        &shape[1..],
                        &strides[1..],
                        o,
                    );
                }
            }
        }
    });
}

/// A view whose fastest axis `fast` is not its last: for each position along the other axes
/// (C order), the 2-d slab over axes `fast` and the last is transposed in tiles into the
/// output.
///
/// # Safety
/// As [`copy_to_c_order`]; `fast < shape.len() - 1`.
unsafe fn copy_permuted<T: Copy>(
    src: *const T,
    shape: &[usize],
    strides: &[isize],
    fast: usize,
    out: *mut T,
) {
    let n = shape.len();
    let mut out_strides = vec![1usize; n];
    for d in (0..n - 1).rev() {
        out_strides[d] = out_strides[d + 1] * shape[d + 1];
    }
    let others: Vec<usize> = (0..n - 1).filter(|&d| d != fast).collect();
    let slabs: usize = others.iter().map(|&d| shape[d]).product();
    let pool = ember_codegen::cpu::pool::Pool::global();
    if shape.iter().product::<usize>() * std::mem::size_of::<T>() >= PARALLEL_MIN_BYTES
        && pool.threads() > 1
    {
        // Over the pool: each slab's rows (the fast axis) in runs of whole tiles, so that
        // there are a few pieces per thread.
        let rows = shape[fast];
        let want = pool.threads() * 4;
        let per_slab = want.div_ceil(slabs).min(rows.div_ceil(TILE)).max(1);
        let run = rows.div_ceil(per_slab).div_ceil(TILE) * TILE;
        let per_slab = rows.div_ceil(run);
        let (src_at, out_at) = (src as usize, out as usize);
        pool.run(slabs * per_slab, &|i| {
            let (mut slab, piece) = (i / per_slab, i % per_slab);
            let (mut s_off, mut o_off) = (0isize, 0usize);
            for &d in others.iter().rev() {
                let at = slab % shape[d];
                slab /= shape[d];
                s_off += at as isize * strides[d];
                o_off += at * out_strides[d];
            }
            let (lo, hi) = (piece * run, ((piece + 1) * run).min(rows));
            // SAFETY: rows lo..hi of one slab lie inside the view and the output; no other
            // piece writes them.
            unsafe {
                copy_transposed(
                    (src_at as *const T).offset(s_off + lo as isize * strides[fast]),
                    (hi - lo, shape[n - 1]),
                    (strides[fast], strides[n - 1]),
                    (out_at as *mut T).add(o_off + lo * out_strides[fast]),
                    out_strides[fast],
                )
            };
        });
        return;
    }
    let mut at = vec![0usize; others.len()];
    let (mut s_off, mut o_off) = (0isize, 0usize);
    for _ in 0..slabs {
        // SAFETY: the slab at (s_off, o_off) lies inside the view and the output.
        unsafe {
            copy_transposed(
                src.offset(s_off),
                (shape[fast], shape[n - 1]),
                (strides[fast], strides[n - 1]),
                out.add(o_off),
                out_strides[fast],
            )
        };
        // Odometer over the other axes, innermost last.
        for (k, &d) in others.iter().enumerate().rev() {
            at[k] += 1;
            s_off += strides[d];
            o_off += out_strides[d];
            if at[k] < shape[d] {
                break;
            }
            s_off -= strides[d] * shape[d] as isize;
            o_off -= out_strides[d] * shape[d];
            at[k] = 0;
        }
    }
}

/// Nested loops in C order; returns the position after the last element written.
///
/// # Safety
/// As [`copy_to_c_order`], with room for every element at `out`.
unsafe fn copy_nested<T: Copy>(
    src: *const T,
    shape: &[usize],
    strides: &[isize],
    out: *mut T,
) -> *mut T {
    // SAFETY (whole function): offsets stay inside the view; writes inside the room.
    unsafe {
        match shape {
            [] => {
                *out = *src;
                out.add(1)
            }
            [n] => {
                copy_run(src, *n, strides[0], out);
                out.add(*n)
            }
            [n, rest @ ..] => {
                let mut o = out;
                for i in 0..*n {
                    o = copy_nested(src.offset(i as isize * strides[0]), rest, &strides[1..], o);
                }
                o
            }
        }
    }
}

/// Copies `n` elements `s` apart from `src` to `out`. Unit, reversed and every-other runs get
/// loops of their own, which the compiler vectorizes (a reversed float32 run: about 4x the
/// generic loop's speed).
///
/// # Safety
/// As [`copy_to_c_order`], for the run and `n` elements at `out`.
#[inline]
unsafe fn copy_run<T: Copy>(src: *const T, n: usize, s: isize, out: *mut T) {
    // SAFETY (whole function): the run's elements are inside the view; `out` has room.
    unsafe {
        match s {
            1 => std::ptr::copy_nonoverlapping(src, out, n),
            -1 => {
                for i in 0..n {
                    *out.add(i) = *src.sub(i);
                }
            }
            2 => {
                for i in 0..n {
                    *out.add(i) = *src.add(2 * i);
                }
            }
            _ => {
                for i in 0..n {
                    *out.add(i) = *src.offset(i as isize * s);
                }
            }
        }
    }
}

/// A 2-d view whose rows are the close-together axis (a transpose), written to `out` with
/// rows `out_rs` apart: copied tile by tile, each tile's output rows written in order.
///
/// # Safety
/// As [`copy_to_c_order`], for the `rows x cols` view and output.
unsafe fn copy_transposed<T: Copy>(
    src: *const T,
    (rows, cols): (usize, usize),
    (rs, cs): (isize, isize),
    out: *mut T,
    out_rs: usize,
) {
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            let c1 = (c0 + TILE).min(cols);
            for r in r0..r1 {
                // SAFETY: (r, c) is inside the view and the output.
                unsafe {
                    let s = src.offset(r as isize * rs);
                    let o = out.add(r * out_rs);
                    for c in c0..c1 {
                        *o.add(c) = *s.offset(c as isize * cs);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: index arithmetic per element.
    fn naive(data: &[i64], base: isize, shape: &[usize], strides: &[isize]) -> Vec<i64> {
        let n: usize = shape.iter().product();
        (0..n)
            .map(|mut flat| {
                let mut at = base;
                for d in (0..shape.len()).rev() {
                    at += (flat % shape[d]) as isize * strides[d];
                    flat /= shape[d];
                }
                data[at as usize]
            })
            .collect()
    }

    #[test]
    fn every_layout_copies_like_index_arithmetic() {
        let data: Vec<i64> = (0..100_000).collect();
        // (shape, strides, base): C order, Fortran order, transposes (tiled path, edges not a
        // multiple of the tile), reversed axes, steps, broadcasts (stride 0), size-1 axes,
        // rank 0 and 3.
        let cases: Vec<(Vec<usize>, Vec<isize>, isize)> = vec![
            (vec![7, 9], vec![9, 1], 0),
            (vec![7, 9], vec![1, 7], 0),
            (vec![130, 70], vec![1, 130], 0),
            (vec![200, 3], vec![1, 200], 0),
            (vec![5, 6], vec![-6, 1], 24),
            (vec![5, 6], vec![6, -1], 5),
            (vec![4, 5], vec![20, 2], 1),
            (vec![3, 4], vec![0, 1], 0),
            (vec![3, 4], vec![1, 0], 0),
            (vec![1, 5, 1], vec![99, 1, 7], 3),
            (vec![], vec![], 42),
            (vec![3, 4, 5], vec![1, 3, 12], 0),
            (vec![3, 4, 5], vec![40, 1, 4], 0),
            (vec![2, 3, 0], vec![1, 1, 1], 0),
            // Big enough to split over the pool: stepped and reversed runs, one axis and two.
            (vec![40_000], vec![2], 0),
            (vec![50_000], vec![-1], 99_999),
            (vec![400, 120], vec![-250, -2], 99_990),
            (vec![333, 100], vec![300, 3], 1),
            (vec![3, 20_000], vec![1, 3], 0),
            // Transposes split over the pool: one slab, and several.
            (vec![300, 310], vec![1, 300], 0),
            (vec![250, 390], vec![-1, 250], 249),
            (vec![3, 100, 320], vec![1, 960, 3], 0),
        ];
        for (shape, strides, base) in cases {
            let want = naive(&data, base, &shape, &strides);
            let mut got = vec![-1i64; want.len() + 2];
            // SAFETY: every case addresses elements inside `data`; `got` has room after its
            // first element.
            unsafe {
                copy_to_c_order(
                    data.as_ptr().offset(base),
                    &shape,
                    &strides,
                    got.as_mut_ptr().add(1),
                )
            };
            assert_eq!(got[0], -1, "{shape:?} {strides:?}: wrote before the start");
            assert_eq!(
                got[want.len() + 1],
                -1,
                "{shape:?} {strides:?}: wrote past the end"
            );
            assert_eq!(&got[1..=want.len()], &want[..], "{shape:?} {strides:?}");
        }
    }

    /// Every permutation of `0..n`.
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut all = Vec::new();
        for p in permutations(n - 1) {
            for at in 0..=p.len() {
                let mut q = p.clone();
                q.insert(at, n - 1);
                all.push(q);
            }
        }
        all
    }

    #[test]
    fn permuted_3d_and_4d_views_copy_like_index_arithmetic() {
        // Every axis order of C arrays with odd sizes (tile edges), some axes reversed or
        // stepped, and with a size-1 axis.
        let base_shapes: [&[usize]; 5] = [
            &[5, 7, 3],
            &[17, 33, 19],
            &[3, 1, 40],
            &[4, 5, 6, 7],
            &[2, 19, 1, 17],
        ];
        for base_shape in base_shapes {
            let n = base_shape.len();
            let numel: usize = base_shape.iter().product();
            let data: Vec<i64> = (0..(2 * numel) as i64).collect();
            // C strides of the base array, in elements.
            let mut c = vec![1isize; n];
            for d in (0..n - 1).rev() {
                c[d] = c[d + 1] * base_shape[d + 1] as isize;
            }
            for perm in permutations(n) {
                for variant in 0..4 {
                    let mut shape: Vec<usize> = perm.iter().map(|&p| base_shape[p]).collect();
                    let mut strides: Vec<isize> = perm.iter().map(|&p| c[p]).collect();
                    let mut base = 0isize;
                    match variant {
                        // Reverse the first and the last axis of the view.
                        1 => {
                            for d in [0, n - 1] {
                                base += (shape[d] as isize - 1) * strides[d];
                                strides[d] = -strides[d];
                            }
                        }
                        // Every other element of the view's middle axis.
                        2 => {
                            shape[1] = shape[1].div_ceil(2);
                            strides[1] *= 2;
                        }
                        // Reverse everything.
                        3 => {
                            for d in 0..n {
                                base += (shape[d] as isize - 1) * strides[d];
                                strides[d] = -strides[d];
                            }
                        }
                        _ => {}
                    }
                    let want = naive(&data, base, &shape, &strides);
                    let mut got = vec![-1i64; want.len() + 2];
                    // SAFETY: the view addresses elements of the base array inside `data`.
                    unsafe {
                        copy_to_c_order(
                            data.as_ptr().offset(base),
                            &shape,
                            &strides,
                            got.as_mut_ptr().add(1),
                        )
                    };
                    let case = format!("{shape:?} {strides:?}");
                    assert_eq!(got[0], -1, "{case}: wrote before the start");
                    assert_eq!(got[want.len() + 1], -1, "{case}: wrote past the end");
                    assert_eq!(&got[1..=want.len()], &want[..], "{case}");
                }
            }
        }
    }
}
