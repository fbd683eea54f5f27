/* What products.c, exact.c and step.c share inside the library (none of it exported: the
 * library is built with -fvisibility=hidden; NC_EXPORT marks what Python calls). */
#ifndef NANOCAPTION_KERNELS_H
#define NANOCAPTION_KERNELS_H
#include <stdint.h>

#if defined(_WIN32)
#define NC_EXPORT __declspec(dllexport)
#else
#define NC_EXPORT __attribute__((visibility("default")))
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NC_HAVE_KERNEL 1
#include <immintrin.h>
#define NC_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define NC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#else
#define NC_HAVE_KERNEL 0
#endif
/* the step engine also needs POSIX threads */
#if NC_HAVE_KERNEL && !defined(_WIN32)
#define NC_HAVE_ENGINE 1
#else
#define NC_HAVE_ENGINE 0
#endif

#if NC_HAVE_KERNEL
/* products.c: one row by one panel of 32 columns -> int32 c[0..cols); the zero point's
 * correction; a row quantized as DynamicQuantizeLinear (returns its scale) */
void nc_panel1(const uint8_t *a, int64_t k, const int8_t *b, int32_t *c, int64_t n, int cols);
void nc_correct(int32_t *acc, int32_t z, const int32_t *colsum, int cols);
float nc_quantize_row(const float *x, int64_t k, uint8_t *q, uint8_t *zero);

/* exact.c: onnxruntime's CPU kernels, rounding as they do on an AVX-512 CPU */
void nc_layer_norm(const float *x, const float *gamma, const float *beta, float epsilon,
                   int64_t d, float *y);
void nc_fast_gelu(const float *x, float *y, int64_t n);
void nc_softmax(float *x, int64_t n);
void nc_matmul_row(const float *a, const float *b, int64_t ldb, int64_t k, int64_t n, float *c);
#endif

#endif
