"""The C++ source of the native int8 matrix-vector kernel (built by ``nn/int8_native.py``).

y (rows, out) = (x (rows, in) · qᵀ) · s + b for int8 q (out, in), fp32 scales s (out,) and x
in fp32 or bf16, with the weights read once per call as int8 (one byte each) at close to the
memory bandwidth of the core. AVX-512 VNNI's ``vpdpbusd`` multiplies 64 unsigned bytes by 64
signed bytes per instruction, so x is split exactly enough into three int8 levels:

    a₀ = max|x| / 127,  a₁ = a₀ / 254,  a₂ = a₁ / 254
    x ≈ a₀ x₀ + a₁ x₁ + a₂ x₂,  x_l = round(r_l / a_l) ∈ [-127, 127],  r₀ = x, r_{l+1} = r_l - a_l x_l
    |x - Σ a_l x_l| ≤ a₂ / 2 = max|x| / (2 · 127 · 254²) ≈ 6e-8 · max|x|    (fp32's own rounding)

and each level is fed as u_l = x_l + 128 ∈ [1, 255] (uint8), corrected by the row sums of q:

    y_o = s_o Σ_l a_l (u_l · q_o - 128 Σ_i q_oi) + b_o

so the result equals the dequantized reference x (q · s)ᵀ + b to float rounding, never to
int8 activations. Three instructions per 64 weights keep the core ahead of memory; the
weights are software-prefetched ``prefetch`` bytes ahead of the reading position (the hardware
prefetcher alone left this kernel, and torch's ``_weight_int8pack_mm``, at about half the
bandwidth F.linear reaches in fp32). Output channels are split over ``threads`` OpenMP threads
(the library is linked against the OpenMP runtime torch has already loaded).
"""

from .cpp_snippets import FLOAT_TO_BF16

CPP_SOURCE = r"""
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <vector>

#define BM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#ifndef BM_PREFETCH_HINT
#define BM_PREFETCH_HINT _MM_HINT_T1  // into L2: measured a little ahead of T0 (L1) at 8 KiB
#endif

namespace {

""" + FLOAT_TO_BF16 + r"""
// One row of x (fp32) -> three uint8 levels u (3, in_pad) and their steps a (3,), 16 values
// per instruction in one pass (each value's three levels in registers: r_{l+1} = r_l - a_l x_l,
// fused). The calling thread does this before the output channels are split over threads, so
// it is the serial part of every call: with the scalar loop it replaced a call at in = 3072 with 8
// outputs took 68 µs instead of 8 (Intel(R) Xeon(R) Processor, 2 threads, both libraries alternating).
BM_AVX512 void split_row(const float* x, int64_t in, int64_t in_pad, uint8_t* u, double* a) {
  const int64_t full = in & ~int64_t(15);
  const __mmask16 tail = static_cast<__mmask16>((1u << (in - full)) - 1);
  __m512 mv = _mm512_setzero_ps();
  for (int64_t i = 0; i < full; i += 16) mv = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), mv);
  if (tail) mv = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(tail, x + full)), mv);  // NaN ignored
  const float m = _mm512_reduce_max_ps(mv);
  float step[3];
  step[0] = (m > 0.f && isfinite(m)) ? m / 127.f : 1.f;
  step[1] = step[0] / 254.f;
  step[2] = step[1] / 254.f;
  memset(u, 128, static_cast<size_t>(3 * in_pad));
  const __m512 lo = _mm512_set1_ps(-127.f), hi = _mm512_set1_ps(127.f);
  const __m512i offset = _mm512_set1_epi32(128);
  __m512 inv[3], stp[3];
  for (int l = 0; l < 3; ++l) {
    inv[l] = _mm512_set1_ps(1.f / step[l]);
    stp[l] = _mm512_set1_ps(step[l]);
    a[l] = step[l];
  }
  for (int64_t i = 0; i < in; i += 16) {
    const __mmask16 mask = i < full ? static_cast<__mmask16>(0xffff) : tail;
    __m512 r = _mm512_maskz_loadu_ps(mask, x + i);
    for (int l = 0; l < 3; ++l) {
      __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(r, inv[l]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);  // (max, min): a NaN becomes -127, as fmaxf/fminf did
      const __m128i bytes = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), offset));
      _mm_mask_storeu_epi8(u + l * in_pad + i, mask, bytes);
      r = _mm512_fnmadd_ps(v, stp[l], r);
    }
  }
}

// x (n,) bf16 -> xf (n,) fp32, exactly (a bf16 is the top half of an fp32).
BM_AVX512 void widen_bf16(const uint16_t* x, float* xf, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, x + i));
    _mm512_mask_storeu_ps(xf + i, mask, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
  }
}

// K output channels (rows o..o+K of q, each `in` bytes) against every row of x.
template <int K>
BM_AVX512 void channels(const uint8_t* u, const double* a, int64_t rows, int64_t in, int64_t in_pad,
                        const int8_t* w, const int32_t* wsum, const float* s, const float* b,
                        float* y, int64_t ldy, int64_t o, int64_t prefetch) {
  const int64_t full = in & ~int64_t(63);
  const int64_t rest = in - full;
  const __mmask64 tail = rest ? ((~0ULL) >> (64 - rest)) : 0;
  // Each of the K streams prefetches its own bytes prefetch / K ahead of where it reads,
  // continuing into the next blocks' rows k (blocks of K rows follow each other in q).
  const int64_t ahead = prefetch / K;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* ur = u + r * 3 * in_pad;
    __m512i acc[K][3];
    for (int k = 0; k < K; ++k)
      for (int l = 0; l < 3; ++l) acc[k][l] = _mm512_setzero_si512();
    int64_t pf_index = ahead % in, pf_block = ahead / in;
    for (int64_t i = 0; i < full; i += 64) {
      if (prefetch && r == 0) {
        const char* p = reinterpret_cast<const char*>(w) + pf_block * K * in + pf_index;
        for (int k = 0; k < K; ++k) _mm_prefetch(p + k * in, BM_PREFETCH_HINT);
        pf_index += 64;
        if (pf_index >= in) {
          pf_index -= in;
          ++pf_block;
        }
      }
      const __m512i u0 = _mm512_loadu_si512(ur + i);
      const __m512i u1 = _mm512_loadu_si512(ur + in_pad + i);
      const __m512i u2 = _mm512_loadu_si512(ur + 2 * in_pad + i);
      for (int k = 0; k < K; ++k) {
        const __m512i wv = _mm512_loadu_si512(w + k * in + i);
        acc[k][0] = _mm512_dpbusd_epi32(acc[k][0], u0, wv);
        acc[k][1] = _mm512_dpbusd_epi32(acc[k][1], u1, wv);
        acc[k][2] = _mm512_dpbusd_epi32(acc[k][2], u2, wv);
      }
    }
    if (tail) {
      const __m512i u0 = _mm512_loadu_si512(ur + full);
      const __m512i u1 = _mm512_loadu_si512(ur + in_pad + full);
      const __m512i u2 = _mm512_loadu_si512(ur + 2 * in_pad + full);
      for (int k = 0; k < K; ++k) {
        const __m512i wv = _mm512_maskz_loadu_epi8(tail, w + k * in + full);
        acc[k][0] = _mm512_dpbusd_epi32(acc[k][0], u0, wv);
        acc[k][1] = _mm512_dpbusd_epi32(acc[k][1], u1, wv);
        acc[k][2] = _mm512_dpbusd_epi32(acc[k][2], u2, wv);
      }
    }
    for (int k = 0; k < K; ++k) {
      const int64_t c = o + k;
      const int64_t offset = 128 * static_cast<int64_t>(wsum[c]);
      double t = 0.0;
      for (int l = 0; l < 3; ++l)
        t += a[r * 3 + l] * static_cast<double>(static_cast<int64_t>(_mm512_reduce_add_epi32(acc[k][l])) - offset);
      y[r * ldy + c] = static_cast<float>(t * s[c] + (b ? b[c] : 0.0));
    }
  }
}

#ifndef BM_BLOCK
#define BM_BLOCK 4
#endif
constexpr int BLOCK = BM_BLOCK;  // output channels read side by side (independent memory streams)

}  // namespace

extern "C" {

int bm_int8_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

// x (rows, in) fp32 or bf16 (x_bf16), q (out, in) int8, wsum (out,) = Σ_i q_oi, s (out,) fp32,
// b (out,) fp32 or null; y (rows, out) fp32 or bf16 (y_bf16). All contiguous.
BM_AVX512 void bm_int8_linear(const void* x, int x_bf16, int64_t rows, int64_t in, const int8_t* q,
                              int64_t out, const int32_t* wsum, const float* s, const float* b,
                              void* y, int y_bf16, int threads, int64_t prefetch) {
  const int64_t in_pad = (in + 63) & ~int64_t(63);
  // grown once per thread, reused by every later call (decoding calls this ~50 times a token)
  static thread_local std::vector<uint8_t> u;
  static thread_local std::vector<double> a;
  static thread_local std::vector<float> xf, yf_buffer;
  u.resize(static_cast<size_t>(rows * 3 * in_pad));
  a.resize(static_cast<size_t>(rows * 3));
  xf.resize(static_cast<size_t>(in));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr;
    if (x_bf16) {
      widen_bf16(static_cast<const uint16_t*>(x) + r * in, xf.data(), in);
      xr = xf.data();
    } else {
      xr = static_cast<const float*>(x) + r * in;
    }
    split_row(xr, in, in_pad, u.data() + r * 3 * in_pad, a.data() + r * 3);
  }
  if (y_bf16) yf_buffer.resize(static_cast<size_t>(rows * out));
  float* yf = y_bf16 ? yf_buffer.data() : static_cast<float*>(y);
  const int64_t blocks = out / BLOCK;
  const uint8_t* up = u.data();
  const double* ap = a.data();
  if (threads <= 1) {  // no OpenMP region at all: it costs microseconds even for one thread
    for (int64_t blk = 0; blk < blocks; ++blk)
      channels<BLOCK>(up, ap, rows, in, in_pad, q + blk * BLOCK * in, wsum, s, b, yf, out, blk * BLOCK, prefetch);
  } else {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk)
      channels<BLOCK>(up, ap, rows, in, in_pad, q + blk * BLOCK * in, wsum, s, b, yf, out, blk * BLOCK, prefetch);
  }
  for (int64_t o = blocks * BLOCK; o < out; ++o)
    channels<1>(up, ap, rows, in, in_pad, q + o * in, wsum, s, b, yf, out, o, 0);
  if (y_bf16) {
    uint16_t* y16 = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < rows * out; ++i) y16[i] = float_to_bf16(yf[i]);
  }
}

// The weight's side of a call, bound once (fewer arguments to convert per call from Python).
struct BmInt8Weights {
  const int8_t* q;
  int64_t out;
  int64_t in;
  const int32_t* wsum;
  const float* s;
  const float* b;
  int64_t prefetch;
};

void bm_int8_linear_bound(const BmInt8Weights* w, const void* x, int bf16, int64_t rows, void* y, int threads) {
  bm_int8_linear(x, bf16, rows, w->in, w->q, w->out, w->wsum, w->s, w->b, y, bf16, threads, w->prefetch);
}

}  // extern "C"
"""
