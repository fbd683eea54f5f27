/* onnxruntime's CPU kernels that a decoder step runs besides its weight products, each
 * rounding exactly as onnxruntime 1.32's does on an x86-64 CPU with AVX-512 (the step engine,
 * step.c; issue 18). Each was matched bit for bit against onnxruntime on millions of random
 * inputs (docs/performance.md), and derive/engine.py checks the whole step against the step
 * graph on this machine before the engine is used: a CPU on which onnxruntime dispatches another
 * kernel (MLAS picks its kernels at run time) fails that check and keeps the step graph.
 *
 * nc_layer_norm: LayerNormalization (opset 17, axis -1, stash_type 1). onnxruntime 1.32 hands a
 *   row of more than 7 floats to a separately compiled AVX2+FMA kernel (read from the wheel's
 *   machine code; the public layer_norm_impl.cc's plain loop differs): the mean summed in double
 *   in 4 lanes, the variance in float in 8 FMA lanes, y = fma((x - mean) * inv, scale, bias).
 *   Rows of 7 or fewer: ComputeJob's scalar Welford update.
 * nc_fast_gelu: com.microsoft FastGelu without bias (contrib_ops/cpu/bert/bias_gelu.cc):
 *   u = x * ((C x) x + B) in plain float, MlasComputeTanh (MlasComputeTanhF32KernelFma3:
 *   mlas/lib/x86_64/TanhKernelFma3.S, constants mlas/lib/tanh.cpp; clamp to [-9, 9], odd and
 *   even polynomials by FMA, a true division), then (0.5 x) (t + 1).
 * nc_softmax: the mask's Add of +0, Softmax over the last axis (MlasComputeSoftmax: the max;
 *   MlasComputeSumExpF32KernelAvx512F, x86_64/SoftmaxKernelAvx512F.S: MLAS's exp polynomial
 *   and vscalefps, 16 lane sums reduced ((b0+b1)+(b2+b3))+((b4+b5)+(b6+b7)) with
 *   b[i] = a[i] + a[i+8]; then times 1/sum), then IsNaN/Where: NaN -> 0.
 * nc_matmul_row: MatMul of one row, alpha 1 (the attention's four products): MLAS's
 *   MlasSgemmKernelM1Avx (x86_64/SgemmKernelM1Avx.S; sgemm.cpp takes it for M = 1, alpha 1,
 *   beta 0), AVX multiplies and adds, no FMA: per column, K in groups of 4 summed left to right,
 *   each group added to the total (which starts at +0), then a group of 2, then 1.
 */
#include <math.h>
#include <stdint.h>

#include "kernels.h"

#if NC_HAVE_KERNEL

/* ------------------------------------------------------------------ LayerNormalization */

/*
 * Replica of the machine code that onnxruntime 1.32 (PyPI x86-64 wheel) executes for float LayerNormalization
 * on this CPU (function at file offset 0x14a2380 of onnxruntime_pybind11_state*.so; compiled for AVX2+FMA with
 * vectorised reductions; reached through a function pointer from ComputeJob (file offset 0x188ba80) only when
 * norm_size > 7).  Per row of n = d >= 8 elements:
 *   1. mean: double accumulation in 4 lanes (lane k sums (double)x[i], i%4==k, i < 4*floor(n/4)), horizontal
 *      s = (L0+L2)+(L1+L3), then the <=3 leftover elements added sequentially in double;
 *      mean = (float)(s / (double)n).
 *   2. var: float, 8 lanes A_k += fma(x-mean, x-mean, A_k) over i < 8*floor(n/8); horizontal
 *      h_k = A_k+A_{k+4}, acc = (h0+h2)+(h1+h3); leftover r = n%8: if r >= 4, the next 4 squares are rounded
 *      (no FMA) and added in order; the last r%4 use scalar fma(d,d,acc).
 *      var = acc / (float)n;  sd = sqrtf(var + eps);  inv = 1.0f / sd.
 *   3. y[i] = fmaf((x[i]-mean)*inv, scale[i], bias[i]).
 * For n <= 7 ComputeJob instead runs its own scalar code (SSE, no FMA), Welford's update in float:
 *      delta = x[k]-mean; mean += delta/(float)(k+1); m2 += (x[k]-mean)*delta;
 *      sd = sqrtf(m2/(float)n + eps);  y[k] = (x[k]-mean)/sd*scale[k] + bias[k].
 */
NC_AVX512 void nc_layer_norm(const float *x, const float *gamma, const float *beta, float epsilon, int64_t d,
                                 float *y)
{
    const int64_t n = d;
    if (n <= 7) {
        /* ComputeJob's own fallback for norm_size <= 7 (SSE scalar, no FMA): Welford in float */
        float mean = 0.0f, m2 = 0.0f;
        for (int64_t k = 0; k < n; k++) {
            const float v = x[k];
            const float delta = v - mean;
            mean = mean + delta / (float)(k + 1);
            m2 = m2 + (v - mean) * delta;
        }
        const float sd = sqrtf(m2 / (float)n + epsilon);
        for (int64_t k = 0; k < n; k++) y[k] = (x[k] - mean) / sd * gamma[k] + beta[k];
        return;
    }
    /* 1. mean (double, 4 lanes) */
    __m256d L = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) L = _mm256_add_pd(L, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
    __m128d t2 = _mm_add_pd(_mm256_extractf128_pd(L, 1), _mm256_castpd256_pd128(L));
    double s = _mm_cvtsd_f64(_mm_add_sd(t2, _mm_unpackhi_pd(t2, t2)));
    for (; i < n; i++) s += (double)x[i];
    const float mean = (float)(s / (double)n);

    /* 2. variance (float, 8 lanes, FMA) */
    const __m256 vm8 = _mm256_set1_ps(mean);
    __m256 A = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 dv = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm8);
        A = _mm256_fmadd_ps(dv, dv, A);
    }
    __m128 h = _mm_add_ps(_mm256_extractf128_ps(A, 1), _mm256_castps256_ps128(A));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    float acc = _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
    if (n - i >= 4) {
        for (int k = 0; k < 4; k++, i++) {
            float dd = x[i] - mean;
            acc = acc + dd * dd; /* product rounded, then added */
        }
    }
    for (; i < n; i++) {
        float dd = x[i] - mean;
        acc = fmaf(dd, dd, acc);
    }
    const float var = acc / (float)n;
    const float sd = sqrtf(var + epsilon);
    const float inv = 1.0f / sd;

    /* 3. output, elementwise -> AVX-512 */
    const __m512 vmean = _mm512_set1_ps(mean);
    const __m512 vinv = _mm512_set1_ps(inv);
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmean), vinv);
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(v, _mm512_loadu_ps(gamma + i), _mm512_loadu_ps(beta + i)));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (unsigned)(n - i)) - 1u);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmean), vinv);
        v = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, gamma + i), _mm512_maskz_loadu_ps(m, beta + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

/* ------------------------------------------------------------------ FastGelu */

#define FG_C 0.035677408136300125f /* 0.044715 * sqrt(2/pi) */
#define FG_B 0.7978845608028654f   /* sqrt(2/pi) */

/* MlasTanhConstants (mlas/lib/tanh.cpp), float-rounded exactly like the C++ initialisers */
#define T_LO (-9.0f)
#define T_HI 9.0f
#define T_A13 (-2.76076847742355e-16f)
#define T_A11 2.00018790482477e-13f
#define T_A9 (-8.60467152213735e-11f)
#define T_A7 5.12229709037114e-08f
#define T_A5 1.48572235717979e-05f
#define T_A3 6.37261928875436e-04f
#define T_A1 4.89352455891786e-03f
#define T_B6 1.19825839466702e-06f
#define T_B4 1.18534705686654e-04f
#define T_B2 2.26843463243900e-03f
#define T_B0 4.89352518554385e-03f

NC_AVX512 static inline __m512 fast_gelu16(__m512 x)
{
    /* pass 1 of bias_gelu.cc: value * (C * value * value + B), no FMA */
    __m512 u = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(FG_C), x), x);
    u = _mm512_mul_ps(x, _mm512_add_ps(u, _mm512_set1_ps(FG_B)));
    /* MlasComputeTanhF32KernelFma3 */
    __m512 v = _mm512_max_ps(_mm512_set1_ps(T_LO), u); /* vmaxps lo, x  (NaN in x passes through) */
    v = _mm512_min_ps(_mm512_set1_ps(T_HI), v);        /* vminps hi, x */
    __m512 s = _mm512_mul_ps(v, v);
    __m512 p = _mm512_fmadd_ps(s, _mm512_set1_ps(T_A13), _mm512_set1_ps(T_A11));
    p = _mm512_fmadd_ps(s, p, _mm512_set1_ps(T_A9));
    p = _mm512_fmadd_ps(s, p, _mm512_set1_ps(T_A7));
    p = _mm512_fmadd_ps(s, p, _mm512_set1_ps(T_A5));
    p = _mm512_fmadd_ps(s, p, _mm512_set1_ps(T_A3));
    p = _mm512_fmadd_ps(s, p, _mm512_set1_ps(T_A1));
    __m512 q = _mm512_fmadd_ps(s, _mm512_set1_ps(T_B6), _mm512_set1_ps(T_B4));
    q = _mm512_fmadd_ps(s, q, _mm512_set1_ps(T_B2));
    q = _mm512_fmadd_ps(s, q, _mm512_set1_ps(T_B0));
    p = _mm512_mul_ps(v, p);
    __m512 t = _mm512_div_ps(p, q);
    /* pass 3: 0.5f * x * (t + 1.0f), left to right */
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(t, _mm512_set1_ps(1.0f)));
}

/* In-place use (y == x) is allowed: each 16-lane block is loaded before it is stored. */
NC_AVX512 void nc_fast_gelu(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = fast_gelu16(_mm512_loadu_ps(x + i));
        __m512 b = fast_gelu16(_mm512_loadu_ps(x + i + 16));
        _mm512_storeu_ps(y + i, a);
        _mm512_storeu_ps(y + i + 16, b);
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, fast_gelu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (unsigned)(n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, fast_gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}


/* ------------------------------------------------------------------ Softmax */
/* softmax (MlasComputeSumExpF32KernelAvx512F)                         */
/* ------------------------------------------------------------------ */
static inline NC_AVX512 __m512 mlas_exp512(__m512 x /* already biased by -max */)
{
    const __m512 LowerRange = _mm512_set1_ps(-103.9720840454f);
    const __m512 RoundingBias = _mm512_set1_ps(12582912.0f); /* 0x1.8p23 */
    const __m512 Log2Reciprocal = _mm512_set1_ps(1.44269504088896341f);
    const __m512 Log2High = _mm512_set1_ps(-6.93145752e-1f);
    const __m512 Log2Low = _mm512_set1_ps(-1.42860677e-6f);
    const __m512 p0 = _mm512_set1_ps(0x1.694000p-10f);
    const __m512 p1 = _mm512_set1_ps(0x1.125edcp-7f);
    const __m512 p2 = _mm512_set1_ps(0x1.555b5ap-5f);
    const __m512 p3 = _mm512_set1_ps(0x1.555450p-3f);
    const __m512 p4 = _mm512_set1_ps(0x1.fffff6p-2f);
    const __m512 p56 = _mm512_set1_ps(1.0f);
    x = _mm512_max_ps(LowerRange, x);          /* vmaxps zmm0,zmm21,zmm0 */
    __m512 m = _mm512_fmadd_ps(x, Log2Reciprocal, RoundingBias);
    m = _mm512_sub_ps(m, RoundingBias);
    x = _mm512_fmadd_ps(m, Log2High, x);
    x = _mm512_fmadd_ps(m, Log2Low, x);
    __m512 p = _mm512_fmadd_ps(p0, x, p1);
    p = _mm512_fmadd_ps(p, x, p2);
    p = _mm512_fmadd_ps(p, x, p3);
    p = _mm512_fmadd_ps(p, x, p4);
    p = _mm512_fmadd_ps(p, x, p56);
    p = _mm512_fmadd_ps(p, x, p56);
    return _mm512_scalef_ps(p, m);
}

NC_AVX512 void nc_softmax(float *x, int64_t n)
{
    if (n <= 0) return;
    /* Add of the zero mask */
    const __m512 zero = _mm512_setzero_ps();
    __m512 vmax = _mm512_set1_ps(-3.40282346638528859812e+38f);
    int64_t i;
    for (i = 0; i < n; i += 16) {
        int64_t c = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)((1u << c) - 1u);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), zero);
        _mm512_mask_storeu_ps(x + i, m, v);
        vmax = _mm512_mask_max_ps(vmax, m, vmax, v);
    }
    float mx = _mm512_reduce_max_ps(vmax);
    const __m512 negmax = _mm512_set1_ps(-mx);

    __m512 acc = _mm512_setzero_ps();
    for (i = 0; i < n; i += 16) {
        int64_t c = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)((1u << c) - 1u);
        __m512 v = _mm512_maskz_add_ps(m, negmax, _mm512_maskz_loadu_ps(m, x + i));
        __m512 e = mlas_exp512(v);
        acc = _mm512_mask_add_ps(acc, m, acc, e);
        _mm512_mask_storeu_ps(x + i, m, e);
    }
    /* ReduceAccumulator */
    __m256 lo = _mm512_castps512_ps256(acc);
    __m256 hi = _mm512_extractf32x8_ps(acc, 1);
    __m256 b = _mm256_add_ps(hi, lo);
    b = _mm256_hadd_ps(b, b);
    b = _mm256_hadd_ps(b, b);
    float sum = _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1)));

    const __m512 scale = _mm512_set1_ps(1.0f / sum);
    for (i = 0; i < n; i += 16) {
        int64_t c = n - i < 16 ? n - i : 16;
        __mmask16 m = (__mmask16)((1u << c) - 1u);
        __m512 v = _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(m, x + i));
        __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        v = _mm512_mask_mov_ps(v, nan, zero);
        _mm512_mask_storeu_ps(x + i, m, v);
    }
}


/* ------------------------------------------------------------------ MatMul of one row */
NC_AVX512
static inline __m512 col_block(const float *a, const float *b, int64_t K, int64_t N, __mmask16 m)
{
    __m512 acc = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        const float *bk = b + k * N;
        __m512 t = _mm512_mul_ps(_mm512_set1_ps(a[k]), _mm512_maskz_loadu_ps(m, bk));
        t = _mm512_add_ps(t, _mm512_mul_ps(_mm512_set1_ps(a[k + 1]), _mm512_maskz_loadu_ps(m, bk + N)));
        t = _mm512_add_ps(t, _mm512_mul_ps(_mm512_set1_ps(a[k + 2]), _mm512_maskz_loadu_ps(m, bk + 2 * N)));
        t = _mm512_add_ps(t, _mm512_mul_ps(_mm512_set1_ps(a[k + 3]), _mm512_maskz_loadu_ps(m, bk + 3 * N)));
        acc = _mm512_add_ps(t, acc);
    }
    if (K & 2) {
        const float *bk = b + k * N;
        __m512 t = _mm512_mul_ps(_mm512_set1_ps(a[k]), _mm512_maskz_loadu_ps(m, bk));
        t = _mm512_add_ps(t, _mm512_mul_ps(_mm512_set1_ps(a[k + 1]), _mm512_maskz_loadu_ps(m, bk + N)));
        acc = _mm512_add_ps(t, acc);
        k += 2;
    }
    if (K & 1) {
        __m512 t = _mm512_mul_ps(_mm512_set1_ps(a[k]), _mm512_maskz_loadu_ps(m, b + k * N));
        acc = _mm512_add_ps(t, acc);
    }
    return acc;
}

/* 4 independent 16-column blocks (64 columns) interleaved for ILP; same per-column order */
NC_AVX512
static inline void col_block4(const float *a, const float *b, int64_t K, int64_t N, float *c)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t k = 0;
#define MUL(j, r) _mm512_mul_ps(_mm512_set1_ps(a[k + (j)]), _mm512_loadu_ps(b + (k + (j)) * N + 16 * (r)))
    for (; k + 4 <= K; k += 4) {
        __m512 t0 = MUL(0, 0), t1 = MUL(0, 1), t2 = MUL(0, 2), t3 = MUL(0, 3);
        for (int j = 1; j < 4; j++) {
            t0 = _mm512_add_ps(t0, MUL(j, 0)); t1 = _mm512_add_ps(t1, MUL(j, 1));
            t2 = _mm512_add_ps(t2, MUL(j, 2)); t3 = _mm512_add_ps(t3, MUL(j, 3));
        }
        acc0 = _mm512_add_ps(t0, acc0); acc1 = _mm512_add_ps(t1, acc1);
        acc2 = _mm512_add_ps(t2, acc2); acc3 = _mm512_add_ps(t3, acc3);
    }
    if (K & 2) {
        __m512 t0 = _mm512_add_ps(MUL(0, 0), MUL(1, 0)), t1 = _mm512_add_ps(MUL(0, 1), MUL(1, 1));
        __m512 t2 = _mm512_add_ps(MUL(0, 2), MUL(1, 2)), t3 = _mm512_add_ps(MUL(0, 3), MUL(1, 3));
        acc0 = _mm512_add_ps(t0, acc0); acc1 = _mm512_add_ps(t1, acc1);
        acc2 = _mm512_add_ps(t2, acc2); acc3 = _mm512_add_ps(t3, acc3);
        k += 2;
    }
    if (K & 1) {
        acc0 = _mm512_add_ps(MUL(0, 0), acc0); acc1 = _mm512_add_ps(MUL(0, 1), acc1);
        acc2 = _mm512_add_ps(MUL(0, 2), acc2); acc3 = _mm512_add_ps(MUL(0, 3), acc3);
    }
#undef MUL
    _mm512_storeu_ps(c, acc0); _mm512_storeu_ps(c + 16, acc1);
    _mm512_storeu_ps(c + 32, acc2); _mm512_storeu_ps(c + 48, acc3);
}

/* c[n] = onnxruntime's MatMul of one row a [K] by B [K][N] (row-major, contiguous) */
NC_AVX512
void nc_matmul_row(const float *a, const float *b, int64_t ldb, int64_t K, int64_t N, float *c)
{
    int64_t n = 0;
    for (; n + 64 <= N; n += 64)
        col_block4(a, b + n, K, ldb, c + n);
    for (; n + 16 <= N; n += 16)
        _mm512_storeu_ps(c + n, col_block(a, b + n, K, ldb, (__mmask16)0xFFFF));
    if (n < N) {
        __mmask16 m = (__mmask16)((1u << (N - n)) - 1u);
        _mm512_mask_storeu_ps(c + n, m, col_block(a, b + n, K, ldb, m));
    }
}

#endif /* NC_HAVE_KERNEL */
