/* A probe, not part of the app (issue 18, docs/performance.md, sixth pass): the encoder's two
 * attention products for one layer, computed as MLAS computes them, to see whether a kernel of
 * our own could beat onnxruntime there. encoder_attention.py compiles it, checks it bit for bit
 * against onnxruntime's own block, and times both.
 *
 * scores:  S[h][i][j] = alpha * (q[i][h] . k[j][h]), the dot product one fused multiply-add per
 *          d in order from 0 (what MLAS's AVX-512 SGEMM kernel does for a K of 64, one block),
 *          then times alpha (onnxruntime's FusedMatMul: the two Mul by 1/sqrt(sqrt(64)) folded);
 * context: O[i][h] = sum over j of P[h][i][j] * v[j][h], one fused multiply-add per j in order
 *          from 0 (one block: K = 197 under MLAS's 512 for a narrow N).
 * q, k, v, O: [T][H*64] (the products' own layout: no transposes); S, P: [H][T][T]. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define F512 __attribute__((target("avx512f")))

/* S[h][i][j] = alpha * fma-chain over d of q[i][h*D+d] * k[j][h*D+d]  (d = 0..D-1 in order) */
F512 void scores_head(const float *q, const float *k, float *s, int T, int D, int W, float alpha,
                      float *kt /* [D][Tp] scratch */) {
    int Tp = (T + 15) & ~15;
    for (int d = 0; d < D; d++)
        for (int j = 0; j < Tp; j++) kt[d * Tp + j] = j < T ? k[(size_t)j * W + d] : 0.0f;
    __m512 va = _mm512_set1_ps(alpha);
    for (int i0 = 0; i0 < T; i0 += 4) {
        int mr = T - i0 < 4 ? T - i0 : 4;
        for (int j0 = 0; j0 < Tp; j0 += 32) {
            int two = j0 + 16 < Tp;
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (int d = 0; d < D; d++) {
                __m512 b0 = _mm512_loadu_ps(kt + d * Tp + j0);
                __m512 b1 = two ? _mm512_loadu_ps(kt + d * Tp + j0 + 16) : _mm512_setzero_ps();
                __m512 x0 = _mm512_set1_ps(q[(size_t)i0 * W + d]);
                __m512 x1 = _mm512_set1_ps(mr > 1 ? q[(size_t)(i0 + 1) * W + d] : 0.0f);
                __m512 x2 = _mm512_set1_ps(mr > 2 ? q[(size_t)(i0 + 2) * W + d] : 0.0f);
                __m512 x3 = _mm512_set1_ps(mr > 3 ? q[(size_t)(i0 + 3) * W + d] : 0.0f);
                a00 = _mm512_fmadd_ps(x0, b0, a00); a01 = _mm512_fmadd_ps(x0, b1, a01);
                a10 = _mm512_fmadd_ps(x1, b0, a10); a11 = _mm512_fmadd_ps(x1, b1, a11);
                a20 = _mm512_fmadd_ps(x2, b0, a20); a21 = _mm512_fmadd_ps(x2, b1, a21);
                a30 = _mm512_fmadd_ps(x3, b0, a30); a31 = _mm512_fmadd_ps(x3, b1, a31);
            }
            __m512 acc[8] = {a00, a01, a10, a11, a20, a21, a30, a31};
            for (int r = 0; r < mr; r++)
                for (int c = 0; c < 2; c++) {
                    int j = j0 + 16 * c;
                    if (j >= T) break;
                    __m512 v = _mm512_mul_ps(acc[2 * r + c], va);
                    int n = T - j < 16 ? T - j : 16;
                    _mm512_mask_storeu_ps(s + (size_t)(i0 + r) * T + j, (__mmask16)((1u << n) - 1), v);
                }
        }
    }
}

/* O[i][h*D+d] = fma-chain over j of p[i][j] * v[j][h*D+d] (j = 0..T-1 in order); D = 64 */
F512 void context_head(const float *p, const float *v, float *o, int T, int W) {
    for (int i0 = 0; i0 < T; i0 += 4) {
        int mr = T - i0 < 4 ? T - i0 : 4;
        __m512 a[4][4];
        for (int r = 0; r < 4; r++) for (int c = 0; c < 4; c++) a[r][c] = _mm512_setzero_ps();
        for (int j = 0; j < T; j++) {
            __m512 v0 = _mm512_loadu_ps(v + (size_t)j * W), v1 = _mm512_loadu_ps(v + (size_t)j * W + 16);
            __m512 v2 = _mm512_loadu_ps(v + (size_t)j * W + 32), v3 = _mm512_loadu_ps(v + (size_t)j * W + 48);
            for (int r = 0; r < 4; r++) {
                __m512 x = _mm512_set1_ps(r < mr ? p[(size_t)(i0 + r) * T + j] : 0.0f);
                a[r][0] = _mm512_fmadd_ps(x, v0, a[r][0]); a[r][1] = _mm512_fmadd_ps(x, v1, a[r][1]);
                a[r][2] = _mm512_fmadd_ps(x, v2, a[r][2]); a[r][3] = _mm512_fmadd_ps(x, v3, a[r][3]);
            }
        }
        for (int r = 0; r < mr; r++)
            for (int c = 0; c < 4; c++) _mm512_storeu_ps(o + (size_t)(i0 + r) * W + 16 * c, a[r][c]);
    }
}

/* whole: q,k,v [T][H*64]; s [H][T][T]; o [T][H*64] */
void scores(const float *q, const float *k, float *s, int T, int H, float alpha) {
    float *kt = malloc(sizeof(float) * 64 * ((T + 15) & ~15));
    for (int h = 0; h < H; h++) scores_head(q + h * 64, k + h * 64, s + (size_t)h * T * T, T, 64, H * 64, alpha, kt);
    free(kt);
}
void context(const float *p, const float *v, float *o, int T, int H) {
    for (int h = 0; h < H; h++) context_head(p + (size_t)h * T * T, v + h * 64, o + h * 64, T, H * 64);
}
