"""The C++ source of the native bf16 matrix-vector kernel (built by ``nn/bf16_native.py``).

y (rows, out) = x (rows, in) · Wᵀ + b for bf16 x and W (out, in), summed in fp32 and rounded to
bf16 once, the bias (fp32) added before the rounding, as ``F.linear`` does in bf16. AVX-512
BF16's ``vdpbf16ps`` multiplies 32 bf16 pairs and adds them into 16 fp32 sums per instruction:

    acc[k][r] (16,) += Σ_pair x[r, i:i+32] · W[o+k, i:i+32]        one instruction per 64 bytes of W
    y[r, o+k] = bf16(Σ acc[k][r] + b[o+k])

so one core keeps ahead of memory with room to spare. PyTorch's bf16 matrix-vector path on the
project's 2-core Xeon read the weights at 15-18 GB/s where fp32 ``mv`` reached 23-28 GB/s: the
weights here are read K output rows side by side (independent memory streams) and
software-prefetched ``prefetch`` bytes ahead of the reading position, as the int8 kernel does
(``nn/int8_cpu_source.py``). Up to 4 rows of x share one read of the weights; more rows are
done 4 at a time over the same K weight rows while they are still in L1. Output rows are split
over ``threads`` OpenMP threads; at one thread no OpenMP region is entered.
"""

CPP_SOURCE = r"""
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define BM_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#ifndef BM_PREFETCH_HINT
#define BM_PREFETCH_HINT _MM_HINT_T0  // into L1: measured 3-8% ahead of T1 (L2) on the Xeon
#endif
#ifndef BM_BLOCK
#define BM_BLOCK 4
#endif

namespace {

constexpr int BLOCK = BM_BLOCK;  // output rows of W read side by side
constexpr int TILE = 4;          // rows of x sharing one read of W

inline uint16_t float_to_bf16(float f) {  // round to nearest even, NaN kept NaN
  uint32_t bits;
  memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// K output rows o..o+K-1 of W (w points at row o) against R rows of x (row stride ldx).
template <int K, int R>
BM_BF16 void channels(const uint16_t* x, int64_t ldx, const uint16_t* w, int64_t in, const float* b,
                      uint16_t* y, int64_t ldy, int64_t o, int64_t prefetch) {
  const int64_t full = in & ~int64_t(31);
  const int64_t rest = in - full;
  const __mmask32 tail = rest ? static_cast<__mmask32>((1ULL << rest) - 1) : 0;
  const int64_t row_bytes = 2 * in;
  // Each of the K streams prefetches its own bytes prefetch / K ahead of where it reads,
  // continuing into the next blocks' rows k (blocks of K rows follow each other in W).
  const int64_t ahead = prefetch / K;
  int64_t pf_index = ahead % row_bytes, pf_block = ahead / row_bytes;
  const char* base = reinterpret_cast<const char*>(w);
  __m512 acc[K][R];
  for (int k = 0; k < K; ++k)
    for (int r = 0; r < R; ++r) acc[k][r] = _mm512_setzero_ps();
  for (int64_t i = 0; i < full; i += 32) {
    if (prefetch) {
      const char* p = base + pf_block * K * row_bytes + pf_index;
      for (int k = 0; k < K; ++k) _mm_prefetch(p + k * row_bytes, BM_PREFETCH_HINT);
      pf_index += 64;
      while (pf_index >= row_bytes) {
        pf_index -= row_bytes;
        ++pf_block;
      }
    }
    __m512bh xv[R];
    for (int r = 0; r < R; ++r) xv[r] = (__m512bh)_mm512_loadu_si512(x + r * ldx + i);
    for (int k = 0; k < K; ++k) {
      const __m512bh wv = (__m512bh)_mm512_loadu_si512(w + k * in + i);
      for (int r = 0; r < R; ++r) acc[k][r] = _mm512_dpbf16_ps(acc[k][r], xv[r], wv);
    }
  }
  if (tail) {
    __m512bh xv[R];
    for (int r = 0; r < R; ++r) xv[r] = (__m512bh)_mm512_maskz_loadu_epi16(tail, x + r * ldx + full);
    for (int k = 0; k < K; ++k) {
      const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(tail, w + k * in + full);
      for (int r = 0; r < R; ++r) acc[k][r] = _mm512_dpbf16_ps(acc[k][r], xv[r], wv);
    }
  }
  for (int k = 0; k < K; ++k) {
    const float bias = b ? b[o + k] : 0.f;
    for (int r = 0; r < R; ++r) y[r * ldy + o + k] = float_to_bf16(_mm512_reduce_add_ps(acc[k][r]) + bias);
  }
}

// Every row of x against K rows of W, TILE rows of x at a time; only the first tile prefetches
// (the later ones find the K rows of W in L1).
template <int K>
BM_BF16 void all_rows(const uint16_t* x, int64_t rows, const uint16_t* w, int64_t in, const float* b,
                      uint16_t* y, int64_t out, int64_t o, int64_t prefetch) {
  for (int64_t r0 = 0; r0 < rows; r0 += TILE) {
    const uint16_t* xr = x + r0 * in;
    uint16_t* yr = y + r0 * out;
    const int64_t pf = r0 == 0 ? prefetch : 0;
    switch (rows - r0 < TILE ? rows - r0 : TILE) {
      case 1: channels<K, 1>(xr, in, w, in, b, yr, out, o, pf); break;
      case 2: channels<K, 2>(xr, in, w, in, b, yr, out, o, pf); break;
      case 3: channels<K, 3>(xr, in, w, in, b, yr, out, o, pf); break;
      default: channels<K, 4>(xr, in, w, in, b, yr, out, o, pf); break;
    }
  }
}

}  // namespace

extern "C" {

int bm_bf16_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

// The weight's side of a call, bound once (fewer arguments to convert per call from Python):
// W (out, in) bf16, b (out,) fp32 or null, all contiguous.
struct BmBf16Weights {
  const uint16_t* w;
  int64_t out;
  int64_t in;
  const float* b;
  int64_t prefetch;
};

// x (rows, in) bf16 -> y (rows, out) bf16, both contiguous.
BM_BF16 void bm_bf16_linear_bound(const BmBf16Weights* wt, const uint16_t* x, int64_t rows, uint16_t* y,
                                  int threads) {
  const uint16_t* w = wt->w;
  const int64_t out = wt->out, in = wt->in, prefetch = wt->prefetch;
  const float* b = wt->b;
  const int64_t blocks = out / BLOCK;
  if (threads <= 1) {  // no OpenMP region at all: it costs microseconds even for one thread
    for (int64_t blk = 0; blk < blocks; ++blk)
      all_rows<BLOCK>(x, rows, w + blk * BLOCK * in, in, b, y, out, blk * BLOCK, prefetch);
  } else {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk)
      all_rows<BLOCK>(x, rows, w + blk * BLOCK * in, in, b, y, out, blk * BLOCK, prefetch);
  }
  for (int64_t o = blocks * BLOCK; o < out; ++o) all_rows<1>(x, rows, w + o * in, in, b, y, out, o, 0);
}

}  // extern "C"
"""
