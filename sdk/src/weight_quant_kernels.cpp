#include "weight_quant_kernels.hpp"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MODELSLIM_X86_KERNELS 1
// Only these functions use the wider instructions; the rest of the library stays x86-64 baseline.
#define MODELSLIM_TARGET_AVX2 __attribute__((target("avx2")))
#define MODELSLIM_TARGET_AVX512 __attribute__((target("avx512f")))
#endif

namespace modelslim::kernels {
namespace {

// Scalar range of one group: the reference every vector level is tested against.
template <typename T>
bool range_one(const T* src, std::int64_t span, double* mn_out, double* mx_out) {
  T mn = src[0];
  T mx = src[0];
  bool nan = false;
  for (std::int64_t j = 0; j < span; ++j) {
    const T v = src[j];
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
    nan |= v != v;
  }
  *mn_out = static_cast<double>(mn);
  *mx_out = static_cast<double>(mx);
  return !nan && std::isfinite(*mn_out) && std::isfinite(*mx_out);
}

template <typename T>
bool range_scalar(const T* w, std::int64_t count, std::int64_t span, double* mins, double* maxs) {
  bool finite = true;
  for (std::int64_t g = 0; g < count; ++g) finite &= range_one(w + g * span, span, mins + g, maxs + g);
  return finite;
}

template <typename T>
std::int8_t quantize_one(T x, double scale, double offset, double lo, double hi) {
  return static_cast<std::int8_t>(
      std::nearbyint(std::min(std::max(static_cast<double>(x) / scale + offset, lo), hi)));
}

template <typename T>
void quantize_scalar(const T* w, const double* scale, const double* offset, std::int64_t count,
                     std::int64_t span, double lo, double hi, std::int8_t* q) {
  for (std::int64_t g = 0; g < count; ++g) {
    const T* src = w + g * span;
    std::int8_t* dst = q + g * span;
    for (std::int64_t j = 0; j < span; ++j) dst[j] = quantize_one(src[j], scale[g], offset[g], lo, hi);
  }
}

#ifdef MODELSLIM_X86_KERNELS
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own _mm512_undefined_ps (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// ---- AVX2: 8 floats per vector, widened to two vectors of 4 doubles for the quantize arithmetic.

MODELSLIM_TARGET_AVX2 float hmin256(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps(m, m, 1)));
}

MODELSLIM_TARGET_AVX2 float hmax256(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

// NaN is tracked apart from min/max (vminps drops or keeps it depending on the operand order).
MODELSLIM_TARGET_AVX2 bool range_one_avx2(const float* src, std::int64_t span, double* mn_out,
                                          double* mx_out) {
  __m256 mn0 = _mm256_set1_ps(src[0]), mn1 = mn0, mx0 = mn0, mx1 = mn0;
  __m256 unordered = _mm256_setzero_ps();
  std::int64_t j = 0;
  for (; j + 16 <= span; j += 16) {
    const __m256 a = _mm256_loadu_ps(src + j);
    const __m256 b = _mm256_loadu_ps(src + j + 8);
    mn0 = _mm256_min_ps(mn0, a);
    mn1 = _mm256_min_ps(mn1, b);
    mx0 = _mm256_max_ps(mx0, a);
    mx1 = _mm256_max_ps(mx1, b);
    unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
  }
  for (; j + 8 <= span; j += 8) {
    const __m256 a = _mm256_loadu_ps(src + j);
    mn0 = _mm256_min_ps(mn0, a);
    mx0 = _mm256_max_ps(mx0, a);
    unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
  float mn = hmin256(_mm256_min_ps(mn0, mn1));
  float mx = hmax256(_mm256_max_ps(mx0, mx1));
  bool nan = _mm256_movemask_ps(unordered) != 0;
  for (; j < span; ++j) {
    const float v = src[j];
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
    nan |= v != v;
  }
  *mn_out = mn;
  *mx_out = mx;
  return !nan && std::isfinite(mn) && std::isfinite(mx);
}

MODELSLIM_TARGET_AVX2 bool range_avx2(const float* w, std::int64_t count, std::int64_t span, double* mins,
                                      double* maxs) {
  bool finite = true;
  for (std::int64_t g = 0; g < count; ++g) finite &= range_one_avx2(w + g * span, span, mins + g, maxs + g);
  return finite;
}

// The scalar formula on 4 lanes: the same IEEE divide, add, clamp and round-to-nearest-even per lane.
MODELSLIM_TARGET_AVX2 __m128i quantize4_avx2(__m128 x, __m256d scale, __m256d offset, __m256d lo,
                                             __m256d hi) {
  const __m256d v = _mm256_add_pd(_mm256_div_pd(_mm256_cvtps_pd(x), scale), offset);
  const __m256d clamped = _mm256_min_pd(_mm256_max_pd(v, lo), hi);
  return _mm256_cvtpd_epi32(_mm256_round_pd(clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

MODELSLIM_TARGET_AVX2 void quantize_avx2(const float* w, const double* scale, const double* offset,
                                         std::int64_t count, std::int64_t span, double lo, double hi,
                                         std::int8_t* q) {
  const __m256d vlo = _mm256_set1_pd(lo);
  const __m256d vhi = _mm256_set1_pd(hi);
  for (std::int64_t g = 0; g < count; ++g) {
    const float* src = w + g * span;
    std::int8_t* dst = q + g * span;
    const __m256d s = _mm256_set1_pd(scale[g]);
    const __m256d o = _mm256_set1_pd(offset[g]);
    std::int64_t j = 0;
    for (; j + 8 <= span; j += 8) {
      const __m256 x = _mm256_loadu_ps(src + j);
      const __m128i a = quantize4_avx2(_mm256_castps256_ps128(x), s, o, vlo, vhi);
      const __m128i b = quantize4_avx2(_mm256_extractf128_ps(x, 1), s, o, vlo, vhi);
      const __m128i words = _mm_packs_epi32(a, b);  // in int8 range already: packing never saturates
      _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + j), _mm_packs_epi16(words, words));
    }
    for (; j < span; ++j) dst[j] = quantize_one(src[j], scale[g], offset[g], lo, hi);
  }
}

// ---- AVX-512F: 16 floats per vector, two vectors of 8 doubles.

MODELSLIM_TARGET_AVX512 bool range_one_avx512(const float* src, std::int64_t span, double* mn_out,
                                              double* mx_out) {
  __m512 mn0 = _mm512_set1_ps(src[0]), mn1 = mn0, mx0 = mn0, mx1 = mn0;
  __mmask16 unordered = 0;
  std::int64_t j = 0;
  for (; j + 32 <= span; j += 32) {
    const __m512 a = _mm512_loadu_ps(src + j);
    const __m512 b = _mm512_loadu_ps(src + j + 16);
    mn0 = _mm512_min_ps(mn0, a);
    mn1 = _mm512_min_ps(mn1, b);
    mx0 = _mm512_max_ps(mx0, a);
    mx1 = _mm512_max_ps(mx1, b);
    unordered |= _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
  }
  for (; j + 16 <= span; j += 16) {
    const __m512 a = _mm512_loadu_ps(src + j);
    mn0 = _mm512_min_ps(mn0, a);
    mx0 = _mm512_max_ps(mx0, a);
    unordered |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
  }
  float mn = _mm512_reduce_min_ps(_mm512_min_ps(mn0, mn1));
  float mx = _mm512_reduce_max_ps(_mm512_max_ps(mx0, mx1));
  bool nan = unordered != 0;
  for (; j < span; ++j) {
    const float v = src[j];
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
    nan |= v != v;
  }
  *mn_out = mn;
  *mx_out = mx;
  return !nan && std::isfinite(mn) && std::isfinite(mx);
}

MODELSLIM_TARGET_AVX512 bool range_avx512(const float* w, std::int64_t count, std::int64_t span, double* mins,
                                          double* maxs) {
  bool finite = true;
  for (std::int64_t g = 0; g < count; ++g) {
    finite &= range_one_avx512(w + g * span, span, mins + g, maxs + g);
  }
  return finite;
}

MODELSLIM_TARGET_AVX512 __m256i quantize8_avx512(__m256 x, __m512d scale, __m512d offset, __m512d lo,
                                                 __m512d hi) {
  const __m512d v = _mm512_add_pd(_mm512_div_pd(_mm512_cvtps_pd(x), scale), offset);
  const __m512d clamped = _mm512_min_pd(_mm512_max_pd(v, lo), hi);
  return _mm512_cvtpd_epi32(_mm512_roundscale_pd(clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

MODELSLIM_TARGET_AVX512 void quantize_avx512(const float* w, const double* scale, const double* offset,
                                             std::int64_t count, std::int64_t span, double lo, double hi,
                                             std::int8_t* q) {
  const __m512d vlo = _mm512_set1_pd(lo);
  const __m512d vhi = _mm512_set1_pd(hi);
  for (std::int64_t g = 0; g < count; ++g) {
    const float* src = w + g * span;
    std::int8_t* dst = q + g * span;
    const __m512d s = _mm512_set1_pd(scale[g]);
    const __m512d o = _mm512_set1_pd(offset[g]);
    std::int64_t j = 0;
    for (; j + 16 <= span; j += 16) {
      const __m256 lo_half = _mm256_loadu_ps(src + j);
      const __m256 hi_half = _mm256_loadu_ps(src + j + 8);
      const __m512i ints =
          _mm512_inserti64x4(_mm512_castsi256_si512(quantize8_avx512(lo_half, s, o, vlo, vhi)),
                             quantize8_avx512(hi_half, s, o, vlo, vhi), 1);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + j), _mm512_cvtepi32_epi8(ints));
    }
    for (; j < span; ++j) dst[j] = quantize_one(src[j], scale[g], offset[g], lo, hi);
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // MODELSLIM_X86_KERNELS

}  // namespace

WeightKernelsF32 weight_kernels_f32(CpuIsa isa) {
#ifdef MODELSLIM_X86_KERNELS
  if (isa == CpuIsa::kAvx512) return {range_avx512, quantize_avx512};
  if (isa == CpuIsa::kAvx2) return {range_avx2, quantize_avx2};
#endif
  return {range_scalar<float>, quantize_scalar<float>};
}

bool range_f64(const double* w, std::int64_t count, std::int64_t span, double* mins, double* maxs) {
  return range_scalar(w, count, span, mins, maxs);
}

void quantize_f64(const double* w, const double* scale, const double* offset, std::int64_t count,
                  std::int64_t span, double lo, double hi, std::int8_t* q) {
  quantize_scalar(w, scale, offset, count, span, lo, hi, q);
}

}  // namespace modelslim::kernels
