/* A probe, not part of the app: the step's integer weight products computed by a kernel of our
 * own, to measure what onnxruntime's leave on the table (tests/benchmarks/own_products.py).
 *
 * C[M,N] (int32) = A[M,K] (uint8) x B[K,N] (int8), exactly (integer sums; AVX512-VNNI), one
 * thread. B is packed in panels of 32 columns, each panel [K/4][32][4] bytes, the panels one
 * after the other, so the whole weight set is read once, front to back.
 */
#include <immintrin.h>
#include <stdint.h>

void pack_b(const int8_t *b, int k, int n, int8_t *out) {  /* n a multiple of 32 */
    for (int p = 0; p < n / 32; p++)
        for (int k4 = 0; k4 < k / 4; k4++)
            for (int c = 0; c < 32; c++)
                for (int j = 0; j < 4; j++)
                    out[(((long)p * (k / 4) + k4) * 32 + c) * 4 + j] =
                        b[(long)(4 * k4 + j) * n + p * 32 + c];
}

#define KERNEL(MR)                                                                          \
    static void kern##MR(const uint8_t *a, int k, const int8_t *bp, int n, int32_t *c) {    \
        int k4n = k / 4;                                                                    \
        for (int p = 0; p < n / 32; p++) {                                                  \
            const int8_t *b = bp + (long)p * k4n * 128;                                     \
            __m512i acc0[MR], acc1[MR];                                                     \
            for (int m = 0; m < MR; m++) {                                                  \
                acc0[m] = _mm512_setzero_si512();                                           \
                acc1[m] = _mm512_setzero_si512();                                           \
            }                                                                               \
            for (int k4 = 0; k4 < k4n; k4++) {                                              \
                __m512i b0 = _mm512_loadu_si512((const void *)(b + 128 * k4));              \
                __m512i b1 = _mm512_loadu_si512((const void *)(b + 128 * k4 + 64));         \
                for (int m = 0; m < MR; m++) {                                              \
                    __m512i x = _mm512_set1_epi32(*(const int32_t *)(a + (long)m * k + 4 * k4)); \
                    acc0[m] = _mm512_dpbusd_epi32(acc0[m], x, b0);                          \
                    acc1[m] = _mm512_dpbusd_epi32(acc1[m], x, b1);                          \
                }                                                                           \
            }                                                                               \
            for (int m = 0; m < MR; m++) {                                                  \
                _mm512_storeu_si512((void *)(c + (long)m * n + p * 32), acc0[m]);           \
                _mm512_storeu_si512((void *)(c + (long)m * n + p * 32 + 16), acc1[m]);      \
            }                                                                               \
        }                                                                                   \
    }
KERNEL(1) KERNEL(2) KERNEL(3) KERNEL(4) KERNEL(5) KERNEL(6) KERNEL(7) KERNEL(8)

typedef void (*kernel)(const uint8_t *, int, const int8_t *, int, int32_t *);
static const kernel kernels[9] = {0, kern1, kern2, kern3, kern4, kern5, kern6, kern7, kern8};

/* rows of A in chunks of up to 8 (each chunk reads B once) */
void product(const uint8_t *a, int m, int k, const int8_t *bp, int n, int32_t *c) {
    for (int m0 = 0; m0 < m; m0 += 8) {
        int mr = m - m0 < 8 ? m - m0 : 8;
        kernels[mr](a + (long)m0 * k, k, bp, n, c + (long)m0 * n);
    }
}
