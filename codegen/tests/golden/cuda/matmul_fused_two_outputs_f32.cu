// Ember kernel "matmul+fused_4_multiply_tanh": a tiled matrix product: 64x64 tiles of the result per block, 4x4 per thread, k in steps of 16 through shared memory, 256 threads per block.

extern "C" __global__ void __launch_bounds__(256) ember_kernel(
    const float* __restrict__ a0, long long a0_s0, long long a0_s1, long long a0_s2,
    const float* __restrict__ a1, long long a1_s0, long long a1_s1, long long a1_s2,
    const float* __restrict__ a2, long long a2_s0,
    float* __restrict__ a3, long long a3_s0, long long a3_s1, long long a3_s2,
    double* __restrict__ a4, long long a4_s0, long long a4_s1, long long a4_s2) {
  __shared__ float ember_as[16][65];
  __shared__ float ember_bs[16][65];
  const int ember_ty = threadIdx.x / 16, ember_tx = threadIdx.x % 16;
  const long long ember_a_si = a0_s1, ember_a_sk = a0_s2;
  const long long ember_b_sk = a1_s1, ember_b_sj = a1_s2;
  const bool ember_a_kunit = ember_a_sk == 1LL;
  const bool ember_b_junit = ember_b_sj == 1LL;
  for (long long ember_t = blockIdx.x; ember_t < 3LL; ember_t += gridDim.x) {
    const long long ember_r = ember_t % 1LL;
    const long long ember_i0 = ember_r / 1LL * 64LL, ember_j0 = ember_r % 1LL * 64LL;
    const long long v0 = ember_t / 1LL;
    const float* ember_a = a0 + v0 * a0_s0;
    const float* ember_b = a1 + v0 * a1_s0;
    float ember_c[4][4];
    #pragma unroll
    for (int ember_u = 0; ember_u < 4; ++ember_u) {
      #pragma unroll
      for (int ember_q = 0; ember_q < 4; ++ember_q) ember_c[ember_u][ember_q] = 0.0f;
    }
    for (long long v4 = 0LL; v4 < 20LL; v4 += 16LL) {
      for (int ember_e = threadIdx.x; ember_e < 1024; ember_e += 256) {
        const int ember_row = ember_a_kunit ? ember_e / 16 : ember_e % 64;
        const int ember_k = ember_a_kunit ? ember_e % 16 : ember_e / 64;
        const long long ember_gi = ember_i0 + ember_row, ember_gk = v4 + ember_k;
        ember_as[ember_k][ember_row] = (ember_gi < 17LL && ember_gk < 20LL) ? ember_a[ember_gi * ember_a_si + ember_gk * ember_a_sk] : 0.0f;
      }
      for (int ember_e = threadIdx.x; ember_e < 1024; ember_e += 256) {
        const int ember_k = ember_b_junit ? ember_e / 64 : ember_e % 16;
        const int ember_col = ember_b_junit ? ember_e % 64 : ember_e / 16;
        const long long ember_gk = v4 + ember_k, ember_gj = ember_j0 + ember_col;
        ember_bs[ember_k][ember_col] = (ember_gk < 20LL && ember_gj < 9LL) ? ember_b[ember_gk * ember_b_sk + ember_gj * ember_b_sj] : 0.0f;
      }
      __syncthreads();
      #pragma unroll
      for (int ember_k = 0; ember_k < 16; ++ember_k) {
        float ember_x[4], ember_y[4];
        #pragma unroll
        for (int ember_u = 0; ember_u < 4; ++ember_u) ember_x[ember_u] = ember_as[ember_k][ember_ty + 16 * ember_u];
        #pragma unroll
        for (int ember_q = 0; ember_q < 4; ++ember_q) ember_y[ember_q] = ember_bs[ember_k][ember_tx + 16 * ember_q];
        #pragma unroll
        for (int ember_u = 0; ember_u < 4; ++ember_u) {
          #pragma unroll
          for (int ember_q = 0; ember_q < 4; ++ember_q) ember_c[ember_u][ember_q] = fmaf(ember_x[ember_u], ember_y[ember_q], ember_c[ember_u][ember_q]);
        }
      }
      __syncthreads();
    }
    #pragma unroll
    for (int ember_u = 0; ember_u < 4; ++ember_u) {
      const long long v1 = ember_i0 + ember_ty + 16 * ember_u;
      if (v1 < 17LL) {
        #pragma unroll
        for (int ember_q = 0; ember_q < 4; ++ember_q) {
          const long long v2 = ember_j0 + ember_tx + 16 * ember_q;
          if (v2 < 9LL) {
            const float v3 = ember_c[ember_u][ember_q];
            const float v8 = a2[v2 * a2_s0];
            const float v9 = (v3 * v8);
            a3[v0 * a3_s0 + v1 * a3_s1 + v2 * a3_s2] = v9;
            const double v10 = ((double)v9);
            const double v11 = tanh(v10);
            a4[v0 * a4_s0 + v1 * a4_s1 + v2 * a4_s2] = v11;
          }
        }
      }
    }
  }
}
