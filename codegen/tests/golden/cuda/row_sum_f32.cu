// Ember kernel "row_reduce": a block of 256 threads per parallel iteration, inner loops split across its threads.
__device__ __forceinline__ void ember_neumaier(float& s, float& c, float x) {
  const float t = s + x;
  c += (fabsf(s) >= fabsf(x)) ? ((s - t) + x) : ((x - t) + s);
  s = t;
}
__device__ __forceinline__ float ember_comp_value(float s, float c) { return isfinite(c) ? s + c : s; }
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

extern "C" __global__ void __launch_bounds__(256) ember_kernel(
    const float* __restrict__ a0, long long a0_s0, long long a0_s1,
    float* __restrict__ a1, long long a1_s0) {
  __shared__ float ember_sh_float32[32];
  for (long long v0 = blockIdx.x; v0 < 128LL; v0 += gridDim.x) {
    float v1 = 0.0f, v1_c = 0.0f;
    for (long long v2 = threadIdx.x; v2 < 1000LL; v2 += blockDim.x) {
      const float v3 = a0[v0 * a0_s0 + v2 * a0_s1];
      ember_neumaier(v1, v1_c, v3);
    }
    v1 = ember_block_reduce(ember_comp_value(v1, v1_c), [](float a, float b) { return (a + b); }, ember_sh_float32);
    v1_c = 0.0f;
    if (threadIdx.x == 0) a1[v0 * a1_s0] = ember_comp_value(v1, v1_c);
  }
}
