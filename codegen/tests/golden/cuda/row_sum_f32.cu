// Ember kernel "row_reduce": a block of 256 threads per parallel iteration, inner loops split across its threads.
__device__ __forceinline__ void ember_neumaier(float& s, float& c, float x) {
  const float t = s + x;
  c += (fabsf(s) >= fabsf(x)) ? ((s - t) + x) : ((x - t) + s);
  s = t;
}
__device__ __forceinline__ float ember_comp_value(float s, float c) { return isfinite(c) ? s + c : s; }
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

extern "C" __global__ void __launch_bounds__(256) ember_kernel(
    const float* __restrict__ a0, long long a0_s0, long long a0_s1,
    float* __restrict__ a1, long long a1_s0) {
  __shared__ float ember_sh_float32[32];
  __shared__ float ember_shc_float32[32];
  for (long long v0 = blockIdx.x; v0 < 128LL; v0 += gridDim.x) {
    float v1 = 0.0f, v1_c = 0.0f;
    for (long long v2 = threadIdx.x; v2 < 1000LL; v2 += blockDim.x) {
      const float v3 = a0[v0 * a0_s0 + v2 * a0_s1];
      ember_neumaier(v1, v1_c, v3);
    }
    ember_block_comp(v1, v1_c, ember_sh_float32, ember_shc_float32);
    if (threadIdx.x == 0) a1[v0 * a1_s0] = ember_comp_value(v1, v1_c);
  }
}
