// Ember kernel "row_reduce": a block of 256 threads per parallel iteration, inner loops split across its threads.
__device__ __forceinline__ bool ember_isnan(double x) { return isnan(x); }
// One argmax (MAX) / argmin step: (bv, bi) is the best so far (bi < 0: none yet). The first
// extreme wins, and the first NaN wins over everything, so folding in any order and breaking
// ties by the smaller index gives the sequential answer.
template <bool MAX, typename T>
__device__ __forceinline__ void ember_arg_fold(T& bv, long long& bi, T v, long long i) {
  if (i < 0) return;
  bool take;
  if (bi < 0) take = true;
  else if (ember_isnan(bv)) take = ember_isnan(v) && i < bi;
  else if (ember_isnan(v)) take = true;
  else take = (MAX ? v > bv : v < bv) || (v == bv && i < bi);
  if (take) { bv = v; bi = i; }
}
// Combines one value per thread across the block and gives every thread the result: a tree of
// warp shuffles in each warp, then one value per warp through shared memory, reduced by warp 0.
// blockDim.x is a multiple of 32 (at most 1024, so at most 32 warps).
template <typename T, typename F>
__device__ __forceinline__ T ember_block_reduce(T v, F f, T* sh) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (unsigned o = 16; o > 0; o >>= 1) {
    const T x = __shfl_down_sync(0xffffffffu, v, o);
    if (lane + o < 32u) v = f(v, x);
  }
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = sh[lane < nwarps ? lane : 0];
    for (unsigned o = 16; o > 0; o >>= 1) {
      const T x = __shfl_down_sync(0xffffffffu, v, o);
      if (lane + o < nwarps) v = f(v, x);
    }
    if (lane == 0) sh[0] = v;
  }
  __syncthreads();
  v = sh[0];
  // The next reduction reuses sh: nobody may write it before everyone has read it.
  __syncthreads();
  return v;
}
// ember_block_reduce for argmax/argmin: (value, index) pairs combined by ember_arg_fold.
template <bool MAX, typename T>
__device__ __forceinline__ void ember_block_arg(T& v, long long& i, T* shv, long long* shi) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (unsigned o = 16; o > 0; o >>= 1) {
    const T xv = __shfl_down_sync(0xffffffffu, v, o);
    const long long xi = __shfl_down_sync(0xffffffffu, i, o);
    if (lane + o < 32u) ember_arg_fold<MAX>(v, i, xv, xi);
  }
  if (lane == 0) { shv[warp] = v; shi[warp] = i; }
  __syncthreads();
  if (warp == 0) {
    v = shv[lane < nwarps ? lane : 0];
    i = shi[lane < nwarps ? lane : 0];
    for (unsigned o = 16; o > 0; o >>= 1) {
      const T xv = __shfl_down_sync(0xffffffffu, v, o);
      const long long xi = __shfl_down_sync(0xffffffffu, i, o);
      if (lane + o < nwarps) ember_arg_fold<MAX>(v, i, xv, xi);
    }
    if (lane == 0) { shv[0] = v; shi[0] = i; }
  }
  __syncthreads();
  v = shv[0];
  i = shi[0];
  __syncthreads();
}

extern "C" __global__ void __launch_bounds__(256) ember_kernel(
    const double* __restrict__ a0, long long a0_s0, long long a0_s1,
    long long* __restrict__ a1, long long a1_s0) {
  __shared__ long long ember_sh_int64[32];
  __shared__ double ember_sh_float64[32];
  for (long long v0 = blockIdx.x; v0 < 16LL; v0 += gridDim.x) {
    double v1_v = 0.0;
    long long v1 = -1LL;
    for (long long v2 = threadIdx.x; v2 < 500LL; v2 += blockDim.x) {
      const double v3 = a0[v0 * a0_s0 + v2 * a0_s1];
      ember_arg_fold<true>(v1_v, v1, v3, v2);
    }
    ember_block_arg<true>(v1_v, v1, ember_sh_float64, ember_sh_int64);
    if (threadIdx.x == 0) a1[v0 * a1_s0] = (v1 < 0LL ? 0LL : v1);
  }
}
