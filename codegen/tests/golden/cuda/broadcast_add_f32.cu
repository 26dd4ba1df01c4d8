// Ember kernel "broadcast": a block of 256 threads per parallel iteration, inner loops split across its threads.

extern "C" __global__ void __launch_bounds__(256) ember_kernel(
    const float* __restrict__ a0, long long a0_s0, long long a0_s1,
    const float* __restrict__ a1, long long a1_s0,
    float* __restrict__ a2, long long a2_s0, long long a2_s1) {
  for (long long v0 = blockIdx.x; v0 < 64LL; v0 += gridDim.x) {
    for (long long v1 = threadIdx.x; v1 < 256LL; v1 += blockDim.x) {
      const float v2 = a0[v0 * a0_s0 + v1 * a0_s1];
      const float v3 = a1[v1 * a1_s0];
      const float v4 = (v2 + v3);
      a2[v0 * a2_s0 + v1 * a2_s1] = v4;
    }
  }
}
