// Ember kernel "softmax": a block of 128 threads per parallel iteration, inner loops split across its threads.
__device__ __forceinline__ float ember_max(float a, float b) {
  return (a > b || isnan(a)) ? a : b;
}
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
// ember_block_reduce for compensated sums: each thread's (sum, compensation) pair joins its
// partner's with a Neumaier step on the sums plus the partner's compensation, so the block's
// total keeps the accuracy of the per-thread sums (read it with ember_comp_value).
template <typename T>
__device__ __forceinline__ void ember_block_comp(T& s, T& c, T* shs, T* shc) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (unsigned o = 16; o > 0; o >>= 1) {
    const T xs = __shfl_down_sync(0xffffffffu, s, o);
    const T xc = __shfl_down_sync(0xffffffffu, c, o);
    if (lane + o < 32u) { ember_neumaier(s, c, xs); c += xc; }
  }
  if (lane == 0) { shs[warp] = s; shc[warp] = c; }
  __syncthreads();
  if (warp == 0) {
    s = shs[lane < nwarps ? lane : 0];
    c = shc[lane < nwarps ? lane : 0];
    for (unsigned o = 16; o > 0; o >>= 1) {
      const T xs = __shfl_down_sync(0xffffffffu, s, o);
      const T xc = __shfl_down_sync(0xffffffffu, c, o);
      if (lane + o < nwarps) { ember_neumaier(s, c, xs); c += xc; }
    }
    if (lane == 0) { shs[0] = s; shc[0] = c; }
  }
  __syncthreads();
  s = shs[0];
  c = shc[0];
  // The next reduction reuses shs/shc: nobody may write them before everyone has read them.
  __syncthreads();
}

extern "C" __global__ void __launch_bounds__(128) ember_kernel(
    const float* __restrict__ a0, long long a0_s0, long long a0_s1,
    float* __restrict__ a1, long long a1_s0, long long a1_s1) {
  __shared__ float ember_sh_float32[32];
  __shared__ float ember_shc_float32[32];
  for (long long v0 = blockIdx.x; v0 < 64LL; v0 += gridDim.x) {
    float v1 = __int_as_float(0xff800000);
    for (long long v2 = threadIdx.x; v2 < 100LL; v2 += blockDim.x) {
      const float v3 = a0[v0 * a0_s0 + v2 * a0_s1];
      v1 = ember_max(v1, v3);
    }
    v1 = ember_block_reduce(v1, [](float a, float b) { return ember_max(a, b); }, ember_sh_float32);
    float v4 = 0.0f, v4_c = 0.0f;
    for (long long v5 = threadIdx.x; v5 < 100LL; v5 += blockDim.x) {
      const float v6 = a0[v0 * a0_s0 + v5 * a0_s1];
      const float v7 = (v6 - v1);
      const float v8 = expf(v7);
      ember_neumaier(v4, v4_c, v8);
      a1[v0 * a1_s0 + v5 * a1_s1] = v8;
    }
    ember_block_comp(v4, v4_c, ember_sh_float32, ember_shc_float32);
    __syncthreads();
    for (long long v9 = threadIdx.x; v9 < 100LL; v9 += blockDim.x) {
      const float v10 = a1[v0 * a1_s0 + v9 * a1_s1];
      const float v11 = (v10 / ember_comp_value(v4, v4_c));
      a1[v0 * a1_s0 + v9 * a1_s1] = v11;
    }
  }
}
