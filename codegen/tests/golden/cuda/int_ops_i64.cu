// Ember kernel "int_ops": a thread per element (grid-stride), 4-wide vector path when unit-stride and aligned, 256 threads per block.
__device__ __forceinline__ long long ember_floordiv(long long a, long long b) {
  if (b == 0LL) return 0LL;
  if (b == -1LL) return (long long)(0ULL - (unsigned long long)a);
  const long long q = a / b;
  return (a % b != 0LL && ((a < 0LL) != (b < 0LL))) ? q - 1LL : q;
}
__device__ __forceinline__ long long ember_rem(long long a, long long b) {
  if (b == 0LL || b == -1LL) return 0LL;
  const long long r = a % b;
  return (r != 0LL && ((r < 0LL) != (b < 0LL))) ? r + b : r;
}
__device__ __forceinline__ long long ember_ipow(long long a, long long b) {
  if (b < 0LL) return 0LL;
  unsigned long long r = 1ULL, x = (unsigned long long)a;
  for (; b > 0LL; b >>= 1) {
    if (b & 1LL) r *= x;
    x *= x;
  }
  return (long long)r;
}
// Four consecutive elements moved as one access (16 bytes at most per instruction).
template <typename T>
struct alignas(sizeof(T) * 4 < 16 ? sizeof(T) * 4 : 16) ember_vec4 { T v[4]; };
template <typename T>
__device__ __forceinline__ bool ember_aligned(const T* p) {
  return (unsigned long long)p % alignof(ember_vec4<T>) == 0;
}

extern "C" __global__ void __launch_bounds__(256) ember_kernel(
    const long long* __restrict__ a0, long long a0_s0,
    const long long* __restrict__ a1, long long a1_s0,
    long long* __restrict__ a2, long long a2_s0) {
  const long long ember_tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const long long ember_step = (long long)gridDim.x * blockDim.x;
  long long ember_start = 0LL;
  if (a0_s0 == 1LL && a1_s0 == 1LL && a2_s0 == 1LL && ember_aligned(a0) && ember_aligned(a1) && ember_aligned(a2)) {
    for (long long ember_q = ember_tid; ember_q < 250LL; ember_q += ember_step) {
      const ember_vec4<long long> a0_q = reinterpret_cast<const ember_vec4<long long>*>(a0)[ember_q];
      const ember_vec4<long long> a1_q = reinterpret_cast<const ember_vec4<long long>*>(a1)[ember_q];
      ember_vec4<long long> a2_q;
      const long long v1_0 = a0_q.v[0];
      const long long v2_0 = a1_q.v[0];
      const long long v3_0 = ember_floordiv(v1_0, v2_0);
      const long long v4_0 = ember_rem(v1_0, v2_0);
      const long long v5_0 = max(v3_0, v4_0);
      const long long v6_0 = ((long long)((unsigned long long)v5_0 * (unsigned long long)v1_0));
      const long long v7_0 = 2LL;
      const long long v8_0 = ember_ipow(v2_0, v7_0);
      const long long v9_0 = ((long long)((unsigned long long)v6_0 + (unsigned long long)v8_0));
      a2_q.v[0] = v9_0;
      const long long v1_1 = a0_q.v[1];
      const long long v2_1 = a1_q.v[1];
      const long long v3_1 = ember_floordiv(v1_1, v2_1);
      const long long v4_1 = ember_rem(v1_1, v2_1);
      const long long v5_1 = max(v3_1, v4_1);
      const long long v6_1 = ((long long)((unsigned long long)v5_1 * (unsigned long long)v1_1));
      const long long v7_1 = 2LL;
      const long long v8_1 = ember_ipow(v2_1, v7_1);
      const long long v9_1 = ((long long)((unsigned long long)v6_1 + (unsigned long long)v8_1));
      a2_q.v[1] = v9_1;
      const long long v1_2 = a0_q.v[2];
      const long long v2_2 = a1_q.v[2];
      const long long v3_2 = ember_floordiv(v1_2, v2_2);
      const long long v4_2 = ember_rem(v1_2, v2_2);
      const long long v5_2 = max(v3_2, v4_2);
      const long long v6_2 = ((long long)((unsigned long long)v5_2 * (unsigned long long)v1_2));
      const long long v7_2 = 2LL;
      const long long v8_2 = ember_ipow(v2_2, v7_2);
      const long long v9_2 = ((long long)((unsigned long long)v6_2 + (unsigned long long)v8_2));
      a2_q.v[2] = v9_2;
      const long long v1_3 = a0_q.v[3];
      const long long v2_3 = a1_q.v[3];
      const long long v3_3 = ember_floordiv(v1_3, v2_3);
      const long long v4_3 = ember_rem(v1_3, v2_3);
      const long long v5_3 = max(v3_3, v4_3);
      const long long v6_3 = ((long long)((unsigned long long)v5_3 * (unsigned long long)v1_3));
      const long long v7_3 = 2LL;
      const long long v8_3 = ember_ipow(v2_3, v7_3);
      const long long v9_3 = ((long long)((unsigned long long)v6_3 + (unsigned long long)v8_3));
      a2_q.v[3] = v9_3;
      reinterpret_cast<ember_vec4<long long>*>(a2)[ember_q] = a2_q;
    }
    ember_start = 1000LL;
  }
  for (long long v0 = ember_start + ember_tid; v0 < 1000LL; v0 += ember_step) {
    const long long v1 = a0[v0 * a0_s0];
    const long long v2 = a1[v0 * a1_s0];
    const long long v3 = ember_floordiv(v1, v2);
    const long long v4 = ember_rem(v1, v2);
    const long long v5 = max(v3, v4);
    const long long v6 = ((long long)((unsigned long long)v5 * (unsigned long long)v1));
    const long long v7 = 2LL;
    const long long v8 = ember_ipow(v2, v7);
    const long long v9 = ((long long)((unsigned long long)v6 + (unsigned long long)v8));
    a2[v0 * a2_s0] = v9;
  }
}
