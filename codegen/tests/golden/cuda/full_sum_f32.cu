// Ember kernel "full_sum": one block of 256 threads, loops split across its threads.
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
    const float* __restrict__ a0, long long a0_s0,
    float* __restrict__ a1) {
  __shared__ float ember_sh_float32[32];
  __shared__ float ember_shc_float32[32];
  float v0 = 0.0f, v0_c = 0.0f;
  for (long long v1 = threadIdx.x; v1 < 4096LL; v1 += blockDim.x) {
    const float v2 = a0[v1 * a0_s0];
    ember_neumaier(v0, v0_c, v2);
  }
  ember_block_comp(v0, v0_c, ember_sh_float32, ember_shc_float32);
  if (threadIdx.x == 0) a1[0] = ember_comp_value(v0, v0_c);
}
