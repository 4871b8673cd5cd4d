"""The C++ source of the native matrix-vector kernels, bf16 and fp32 (built by
``nn/native_matvec.py``).

y (rows, out) = x (rows, in) · Wᵀ + b for x and W (out, in) of one element type, summed in fp32,
the bias (fp32) added to the sums; in bf16 the result is rounded to bf16 once, as ``F.linear``
does. Each element type is a few lines of ``Bf16`` / ``F32`` below; the loops are shared:

    bf16, AVX-512 BF16 ``vdpbf16ps``: acc[k][r] (16,) += Σ_pair x[r, i:i+32] · W[o+k, i:i+32]
    fp32, AVX-512F ``vfmadd``:        acc[k][r] (16,) += x[r, i:i+16] ⊙ W[o+k, i:i+16]
    y[r, o+k] = Σ acc[k][r] + b[o+k]                one instruction per 64 bytes of W, either way

so one core keeps ahead of memory with room to spare. PyTorch's bf16 matrix-vector path on the
project's 2-core Intel(R) Xeon(R) Processor read the weights at 15-18 GB/s where fp32 ``mv`` reached 23-28 GB/s, and
MKL's fp32 ``mv`` reads ~12 GB/s on a 2-core AMD EPYC (Zen 4; issue 17's measurement): the weights here are read K output rows
side by side (independent memory streams) and software-prefetched ``prefetch`` bytes ahead of
the reading position, as the int8 kernel does (``nn/int8_cpu_source.py``). Up to 4 rows of x
share one read of the weights; more rows are done 4 at a time over the same K weight rows while
they are still in L1. Output rows are split over ``threads`` OpenMP threads; at one thread no
OpenMP region is entered.
"""

from .cpp_snippets import FLOAT_TO_BF16

CPP_SOURCE = r"""
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

// The union of what the two element types use; the fp32 entry point is only called where
// bm_f32_supported says AVX-512F/BW/VL are there, and it issues no bf16 instruction.
#define BM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#ifndef BM_PREFETCH_HINT
#define BM_PREFETCH_HINT _MM_HINT_T0  // into L1: measured 3-8% ahead of T1 (L2) on Intel(R) Xeon(R) Processor
#endif
#ifndef BM_BLOCK
#define BM_BLOCK 4
#endif

namespace {

constexpr int BLOCK = BM_BLOCK;  // output rows of W read side by side
constexpr int TILE = 4;          // rows of x sharing one read of W

""" + FLOAT_TO_BF16 + r"""
// 64 bytes of x or W per step: 32 bf16 values, paired into one vdpbf16ps.
struct Bf16 {
  using Scalar = uint16_t;
  using Vec = __m512bh;
  using Mask = __mmask32;
  static constexpr int64_t STEP = 32;
  BM_AVX512 static Vec load(const Scalar* p) { return (Vec)_mm512_loadu_si512(p); }
  BM_AVX512 static Vec load_tail(Mask m, const Scalar* p) { return (Vec)_mm512_maskz_loadu_epi16(m, p); }
  BM_AVX512 static __m512 dot(__m512 acc, Vec x, Vec w) { return _mm512_dpbf16_ps(acc, x, w); }
  static Scalar result(float v) { return float_to_bf16(v); }
};

// 64 bytes of x or W per step: 16 fp32 values, one fused multiply-add.
struct F32 {
  using Scalar = float;
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int64_t STEP = 16;
  BM_AVX512 static Vec load(const Scalar* p) { return _mm512_loadu_ps(p); }
  BM_AVX512 static Vec load_tail(Mask m, const Scalar* p) { return _mm512_maskz_loadu_ps(m, p); }
  BM_AVX512 static __m512 dot(__m512 acc, Vec x, Vec w) { return _mm512_fmadd_ps(x, w, acc); }
  static Scalar result(float v) { return v; }
};

// K output rows o..o+K-1 of W (w points at row o) against R rows of x (row stride ldx).
template <typename E, int K, int R>
BM_AVX512 void channels(const typename E::Scalar* x, int64_t ldx, const typename E::Scalar* w, int64_t in,
                        const float* b, typename E::Scalar* y, int64_t ldy, int64_t o, int64_t prefetch) {
  const int64_t full = in - in % E::STEP;
  const int64_t rest = in - full;
  const typename E::Mask tail = static_cast<typename E::Mask>(rest ? (1ULL << rest) - 1 : 0);
  const int64_t row_bytes = static_cast<int64_t>(sizeof(typename E::Scalar)) * in;
  // Each of the K streams prefetches its own bytes prefetch / K ahead of where it reads,
  // continuing into the next blocks' rows k (blocks of K rows follow each other in W).
  const int64_t ahead = prefetch / K;
  int64_t pf_index = ahead % row_bytes, pf_block = ahead / row_bytes;
  const char* base = reinterpret_cast<const char*>(w);
  __m512 acc[K][R];
  for (int k = 0; k < K; ++k)
    for (int r = 0; r < R; ++r) acc[k][r] = _mm512_setzero_ps();
  for (int64_t i = 0; i < full; i += E::STEP) {
    if (prefetch) {
      const char* p = base + pf_block * K * row_bytes + pf_index;
      for (int k = 0; k < K; ++k) _mm_prefetch(p + k * row_bytes, BM_PREFETCH_HINT);
      pf_index += 64;
      while (pf_index >= row_bytes) {
        pf_index -= row_bytes;
        ++pf_block;
      }
    }
    typename E::Vec xv[R];
    for (int r = 0; r < R; ++r) xv[r] = E::load(x + r * ldx + i);
    for (int k = 0; k < K; ++k) {
      const typename E::Vec wv = E::load(w + k * in + i);
      for (int r = 0; r < R; ++r) acc[k][r] = E::dot(acc[k][r], xv[r], wv);
    }
  }
  if (rest) {
    typename E::Vec xv[R];
    for (int r = 0; r < R; ++r) xv[r] = E::load_tail(tail, x + r * ldx + full);
    for (int k = 0; k < K; ++k) {
      const typename E::Vec wv = E::load_tail(tail, w + k * in + full);
      for (int r = 0; r < R; ++r) acc[k][r] = E::dot(acc[k][r], xv[r], wv);
    }
  }
  for (int k = 0; k < K; ++k) {
    const float bias = b ? b[o + k] : 0.f;
    for (int r = 0; r < R; ++r) y[r * ldy + o + k] = E::result(_mm512_reduce_add_ps(acc[k][r]) + bias);
  }
}

// Every row of x against K rows of W, TILE rows of x at a time; only the first tile prefetches
// (the later ones find the K rows of W in L1).
template <typename E, int K>
BM_AVX512 void all_rows(const typename E::Scalar* x, int64_t rows, const typename E::Scalar* w, int64_t in,
                        const float* b, typename E::Scalar* y, int64_t out, int64_t o, int64_t prefetch) {
  for (int64_t r0 = 0; r0 < rows; r0 += TILE) {
    const typename E::Scalar* xr = x + r0 * in;
    typename E::Scalar* yr = y + r0 * out;
    const int64_t pf = r0 == 0 ? prefetch : 0;
    switch (rows - r0 < TILE ? rows - r0 : TILE) {
      case 1: channels<E, K, 1>(xr, in, w, in, b, yr, out, o, pf); break;
      case 2: channels<E, K, 2>(xr, in, w, in, b, yr, out, o, pf); break;
      case 3: channels<E, K, 3>(xr, in, w, in, b, yr, out, o, pf); break;
      default: channels<E, K, 4>(xr, in, w, in, b, yr, out, o, pf); break;
    }
  }
}

}  // namespace

// The weight's side of a call, bound once (fewer arguments to convert per call from Python):
// W (out, in) bf16 or fp32, b (out,) fp32 or null, all contiguous.
struct BmMatvecWeights {
  const void* w;
  int64_t out;
  int64_t in;
  const float* b;
  int64_t prefetch;
};

namespace {

// x (rows, in) -> y (rows, out), both contiguous and of W's element type.
template <typename E>
BM_AVX512 void linear_bound(const BmMatvecWeights* wt, const void* xp, int64_t rows, void* yp, int threads) {
  using S = typename E::Scalar;
  const S* w = static_cast<const S*>(wt->w);
  const S* x = static_cast<const S*>(xp);
  S* y = static_cast<S*>(yp);
  const int64_t out = wt->out, in = wt->in, prefetch = wt->prefetch;
  const float* b = wt->b;
  const int64_t blocks = out / BLOCK;
  if (threads <= 1) {  // no OpenMP region at all: it costs microseconds even for one thread
    for (int64_t blk = 0; blk < blocks; ++blk)
      all_rows<E, BLOCK>(x, rows, w + blk * BLOCK * in, in, b, y, out, blk * BLOCK, prefetch);
  } else {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk)
      all_rows<E, BLOCK>(x, rows, w + blk * BLOCK * in, in, b, y, out, blk * BLOCK, prefetch);
  }
  for (int64_t o = blocks * BLOCK; o < out; ++o) all_rows<E, 1>(x, rows, w + o * in, in, b, y, out, o, 0);
}

}  // namespace

extern "C" {

int bm_f32_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

int bm_bf16_supported(void) { return bm_f32_supported() && __builtin_cpu_supports("avx512bf16"); }

void bm_bf16_linear_bound(const BmMatvecWeights* wt, const void* x, int64_t rows, void* y, int threads) {
  linear_bound<Bf16>(wt, x, rows, y, threads);
}

void bm_f32_linear_bound(const BmMatvecWeights* wt, const void* x, int64_t rows, void* y, int threads) {
  linear_bound<F32>(wt, x, rows, y, threads);
}

}  // extern "C"
"""
