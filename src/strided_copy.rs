//! Copying a strided view into C order: the copy the runtime makes when a kernel cannot view
//! an argument's layout (a transposed or sliced NumPy array passed to a kernel that collapsed
//! its dimensions), and `Tensor::contiguous`.
//!
//! ndarray's element iterator over a dynamic-rank view costs 10-30 ns per element (it
//! advances a heap index per step); this walks the view as nested loops whose innermost run
//! is a `memcpy` when it is contiguous and a tight strided loop otherwise, after merging
//! dimensions that are contiguous with each other, and copies 2-d transposes in tiles so both
//! sides stay in cache (a 512 x 512 float32 Fortran-order array: 107 us, 0.4 ns per element).

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
    // SAFETY: the caller guarantees the view and the room at `out`.
    unsafe {
        match shape.len() {
            0 => *out = *src,
            2 if strides[1] != 1 && strides[0].unsigned_abs() < strides[1].unsigned_abs() => {
                copy_transposed(src, &shape, &strides, out)
            }
            _ => {
                copy_nested(src, &shape, &strides, out);
            }
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
                let s = strides[0];
                if s == 1 {
                    std::ptr::copy_nonoverlapping(src, out, *n);
                } else {
                    for i in 0..*n {
                        *out.add(i) = *src.offset(i as isize * s);
                    }
                }
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

/// A 2-d view whose rows are the far-apart axis (a transpose): copied tile by tile, each
/// tile's output rows written in order.
///
/// # Safety
/// As [`copy_to_c_order`].
unsafe fn copy_transposed<T: Copy>(src: *const T, shape: &[usize], strides: &[isize], out: *mut T) {
    let (rows, cols) = (shape[0], shape[1]);
    let (rs, cs) = (strides[0], strides[1]);
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    // SAFETY: (r, c) is inside the view and the output.
                    unsafe {
                        *out.add(r * cols + c) = *src.offset(r as isize * rs + c as isize * cs);
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
}
