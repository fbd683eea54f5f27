/* NanoCaption's own integer weight products: an onnxruntime custom-op library (issue 18),
 * compiled at install (setup.py; optional) and used by the own graph (engine/derive/own.py).
 *
 * Two ops in the domain "ai.nanocaption", attributes k and n:
 *   OwnMatMulInteger(A u8 [..., k], B i8 packed, [zero point u8, column sums i32]) -> int32
 *     exactly MatMulInteger with A's zero point (one, or one per row) and none for B:
 *     sum (a - z) w = sum a w - z colsum(w), exact in int32;
 *   OwnMatMulIntegerToFloat(the same, scale f32, [bias f32]) -> float
 *     that product, then Cast to float, Mul by the scale (one, one per column, or one per row:
 *     shape [..., 1]), Add of the bias: three roundings in this order, as onnxruntime's Cast,
 *     Mul and Add compute them (never fused into one multiply-add: each its own statement,
 *     compiled with -ffp-contract=off), so the own graph gives the rows graph's outputs bit for
 *     bit; its derive check proves it on this machine before it is used.
 * B is the weight packed in panels of 32 columns, each [k/4][32][4] bytes (the last panel padded
 * with zero columns; kernels.pack), read once front to back. The products use AVX512-VNNI
 * (vpdpbusd: u8 x s8 in groups of 4, summed into int32, no saturation); integer sums are exact
 * in any order. A product's panels are split over the session's intra-op threads
 * (KernelContext_ParallelFor). The kernel functions carry their own target attributes, so the
 * library loads on any x86-64 CPU; nc_supported() says whether the CPU has the instructions, and
 * the app registers the library only where it has.
 *
 * No onnxruntime header is needed (the wheel ships none): the OrtApi table is append-only, so an
 * entry keeps its index in every release (checked against onnxruntime's C API header and its C#
 * bindings): 0 CreateStatus, 26-28 the custom-op domain, 51 GetTensorMutableData, 61-62 the
 * dimensions, 65 GetTensorTypeAndShape, 86 KernelInfoGetAttribute_int64, 90-91
 * KernelContext_GetInput and GetOutput, 99 ReleaseTensorTypeAndShapeInfo, 274
 * KernelContext_ParallelFor (onnxruntime 1.17).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#define EXPORT NC_EXPORT
#define HAVE_KERNEL NC_HAVE_KERNEL
#if HAVE_KERNEL
#define VNNI NC_VNNI
#endif

typedef void OrtStatus;
typedef struct {
    const void *(*GetApi)(uint32_t);
    const char *(*GetVersionString)(void);
} OrtApiBase;
static void *const *API;

typedef OrtStatus *(*CreateStatus_t)(int, const char *);
typedef OrtStatus *(*CreateCustomOpDomain_t)(const char *, void **);
typedef OrtStatus *(*CustomOpDomain_Add_t)(void *, const void *);
typedef OrtStatus *(*AddCustomOpDomain_t)(void *, void *);
typedef OrtStatus *(*GetTensorMutableData_t)(const void *, void **);
typedef OrtStatus *(*GetDimensionsCount_t)(const void *, size_t *);
typedef OrtStatus *(*GetDimensions_t)(const void *, int64_t *, size_t);
typedef OrtStatus *(*GetTensorTypeAndShape_t)(const void *, void **);
typedef OrtStatus *(*KernelContext_GetInput_t)(const void *, size_t, const void **);
typedef OrtStatus *(*KernelContext_GetOutput_t)(void *, size_t, const int64_t *, size_t, void **);
typedef void (*ReleaseTensorTypeAndShapeInfo_t)(void *);
typedef OrtStatus *(*KernelInfoGetAttribute_int64_t)(const void *, const char *, int64_t *);
typedef OrtStatus *(*KernelContext_ParallelFor_t)(const void *, void (*)(void *, size_t), size_t,
                                                  size_t, void *);
#define CALL(i, t) ((t)API[i])
#define ORT_FAIL 1
#define ORT_API_VERSION_USED 17

/* ---- the products ---------------------------------------------------------------------- */

#if HAVE_KERNEL
/* rows a[0..mr) x one panel -> c[row][0..cols) (cols <= 32; row stride n) */
#define KERNEL(MR)                                                                           \
    VNNI static void panel##MR(const uint8_t *a, int64_t k, const int8_t *b, int32_t *c,     \
                               int64_t n, int cols) {                                        \
        __m512i acc0[MR], acc1[MR];                                                          \
        for (int m = 0; m < MR; m++) {                                                       \
            acc0[m] = _mm512_setzero_si512();                                                \
            acc1[m] = _mm512_setzero_si512();                                                \
        }                                                                                    \
        for (int64_t k4 = 0; k4 < k / 4; k4++) {                                             \
            __m512i b0 = _mm512_loadu_si512((const void *)(b + 128 * k4));                   \
            __m512i b1 = _mm512_loadu_si512((const void *)(b + 128 * k4 + 64));              \
            for (int m = 0; m < MR; m++) {                                                   \
                int32_t four;                                                                \
                memcpy(&four, a + m * k + 4 * k4, 4);                                        \
                __m512i x = _mm512_set1_epi32(four);                                         \
                acc0[m] = _mm512_dpbusd_epi32(acc0[m], x, b0);                               \
                acc1[m] = _mm512_dpbusd_epi32(acc1[m], x, b1);                               \
            }                                                                                \
        }                                                                                    \
        for (int m = 0; m < MR; m++) {                                                       \
            if (cols == 32) {                                                                \
                _mm512_storeu_si512((void *)(c + m * n), acc0[m]);                           \
                _mm512_storeu_si512((void *)(c + m * n + 16), acc1[m]);                      \
            } else {                                                                         \
                int32_t tail[32];                                                            \
                _mm512_storeu_si512((void *)tail, acc0[m]);                                  \
                _mm512_storeu_si512((void *)(tail + 16), acc1[m]);                           \
                memcpy(c + m * n, tail, (size_t)cols * 4);                                   \
            }                                                                                \
        }                                                                                    \
    }
KERNEL(1) KERNEL(2) KERNEL(3) KERNEL(4) KERNEL(5) KERNEL(6) KERNEL(7) KERNEL(8)

typedef void (*panel_fn)(const uint8_t *, int64_t, const int8_t *, int32_t *, int64_t, int);
static const panel_fn PANELS[9] = {0, panel1, panel2, panel3, panel4,
                                   panel5, panel6, panel7, panel8};
#endif

EXPORT int nc_supported(void) {
#if HAVE_KERNEL
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

/* ---- the ops --------------------------------------------------------------------------- */

typedef struct {
    int64_t k, n; /* the weight's depth and columns (before padding to panels of 32) */
    int to_float; /* OwnMatMulIntegerToFloat, OwnDynamicQuantizeMatMul */
    int quantize; /* OwnDynamicQuantizeMatMul */
} Kernel;

typedef struct {
    const Kernel *kr;
    const uint8_t *a;
    const int8_t *b;
    int64_t m;
    void *y; /* int32, or float for to_float */
    const uint8_t *zero; /* the activations' zero point: one, or one per row (zeros > 1) */
    int64_t zeros;
    const int32_t *colsum; /* the weight's column sums, for the zero point */
    const float *scale;    /* to_float: one, one per column, or one per row (per_row) */
    int64_t scales;
    int per_row;
    const float *bias; /* to_float: one per column, or none */
} Work;

static void shape_of(const void *value, int64_t *dims, size_t *rank) {
    void *info;
    CALL(65, GetTensorTypeAndShape_t)(value, &info);
    CALL(61, GetDimensionsCount_t)(info, rank);
    if (*rank > 8) *rank = 8;
    CALL(62, GetDimensions_t)(info, dims, *rank);
    CALL(99, ReleaseTensorTypeAndShapeInfo_t)(info);
}

static int64_t count_of(const void *value) {
    int64_t dims[8], count = 1;
    size_t rank;
    shape_of(value, dims, &rank);
    for (size_t i = 0; i < rank; i++) count *= dims[i];
    return count;
}

static void *data_of(const void *value) {
    void *p = NULL;
    if (value) CALL(51, GetTensorMutableData_t)(value, &p);
    return p;
}

/* Cast to float, times the scale, plus the bias: three roundings, in this order, each as
 * onnxruntime's Cast, Mul and Add compute them (never fused into one multiply-add: compiled
 * with -ffp-contract=off, and each step its own operation). */
#if HAVE_KERNEL
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
VNNI static void to_float(const Work *w, const int32_t *acc, int64_t r, int64_t col, int cols) {
    float *y = (float *)w->y + r * w->kr->n + col;
    int one_scale = w->per_row || w->scales == 1;
    float row_scale = w->scale[w->per_row ? r : 0];
    int c = 0;
    for (; c + 16 <= cols; c += 16) {
        __m512 v = _mm512_cvtepi32_ps(_mm512_loadu_si512((const void *)(acc + c)));
        __m512 sc = one_scale ? _mm512_set1_ps(row_scale) : _mm512_loadu_ps(w->scale + col + c);
        __m512 scaled = _mm512_mul_ps(v, sc);
        if (w->bias) scaled = _mm512_add_ps(scaled, _mm512_loadu_ps(w->bias + col + c));
        _mm512_storeu_ps(y + c, scaled);
    }
    for (; c < cols; c++) {
        float v = (float)acc[c];
        float scaled = v * (one_scale ? row_scale : w->scale[col + c]);
        y[c] = w->bias ? scaled + w->bias[col + c] : scaled;
    }
}

/* acc[c] -= z * colsum[c] (exact in int32) */
VNNI static void correct(int32_t *acc, int32_t z, const int32_t *colsum, int cols) {
    int c = 0;
    __m512i zz = _mm512_set1_epi32(z);
    for (; c + 16 <= cols; c += 16) {
        __m512i a = _mm512_loadu_si512((const void *)(acc + c));
        __m512i cs = _mm512_loadu_si512((const void *)(colsum + c));
        _mm512_storeu_si512((void *)(acc + c), _mm512_sub_epi32(a, _mm512_mullo_epi32(zz, cs)));
    }
    for (; c < cols; c++) acc[c] -= z * colsum[c];
}

/* One row quantized as the rows graph quantizes it (rows.py: DynamicQuantizeLinear over the
 * row), each step as onnxruntime computes it: min and max of the row, then with 0 (as its Min
 * and Max: mini(a, b) = b < a ? b : a); scale (max - min) / 255, or 1 when they are equal; the
 * zero point QuantizeLinear(-min) and the row QuantizeLinear(x) (as MLAS: x / scale, clamped to
 * the range the zero point leaves, rounded half to even, plus the zero point). */
VNNI static float quantize_row(const float *x, int64_t k, uint8_t *q, uint8_t *zero) {
    float lo = x[0], hi = x[0];
    int64_t i = 0;
    if (k >= 16) {
        __m512 vlo = _mm512_loadu_ps(x), vhi = vlo;
        for (i = 16; i + 16 <= k; i += 16) {
            __m512 v = _mm512_loadu_ps(x + i);
            vlo = _mm512_min_ps(vlo, v);
            vhi = _mm512_max_ps(vhi, v);
        }
        lo = _mm512_reduce_min_ps(vlo);
        hi = _mm512_reduce_max_ps(vhi);
    }
    for (; i < k; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    float mn = 0.0f < lo ? 0.0f : lo;
    float mx = hi < 0.0f ? 0.0f : hi;
    float range = mx - mn;
    float scale = mx == mn ? 1.0f : range / 255.0f;
    float z = -mn / scale;
    z = z < 0.0f ? 0.0f : z;
    z = z > 255.0f ? 255.0f : z;
    int zp = _mm_cvtss_si32(_mm_set_ss(z)); /* half to even */
    *zero = (uint8_t)zp;
    __m512 vs = _mm512_set1_ps(scale);
    __m512 vmin = _mm512_set1_ps((float)-zp), vmax = _mm512_set1_ps((float)(255 - zp));
    __m512i vzp = _mm512_set1_epi32(zp);
    for (i = 0; i + 16 <= k; i += 16) {
        __m512 f = _mm512_div_ps(_mm512_loadu_ps(x + i), vs);
        f = _mm512_min_ps(_mm512_max_ps(f, vmin), vmax);
        __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(f), vzp);
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtepi32_epi8(v));
    }
    for (; i < k; i++) {
        float f = x[i] / scale;
        f = f < (float)-zp ? (float)-zp : f;
        f = f > (float)(255 - zp) ? (float)(255 - zp) : f;
        q[i] = (uint8_t)(_mm_cvtss_si32(_mm_set_ss(f)) + zp);
    }
    return scale;
}

/* for step.c (kernels.h) */
VNNI void nc_panel1(const uint8_t *a, int64_t k, const int8_t *b, int32_t *c, int64_t n, int cols) {
    panel1(a, k, b, c, n, cols);
}
VNNI void nc_correct(int32_t *acc, int32_t z, const int32_t *colsum, int cols) {
    correct(acc, z, colsum, cols);
}
VNNI float nc_quantize_row(const float *x, int64_t k, uint8_t *q, uint8_t *zero) {
    return quantize_row(x, k, q, zero);
}
#endif

/* rows [0, m) x panel p, in chunks of up to 8 rows (each chunk reads the panel once), then the
 * zero point's correction (sum (a - z) w = sum a w - z colsum(w), exact in int32: |sum| <
 * 255 * 128 * k) and, for to_float, the float steps */
#if HAVE_KERNEL
VNNI
#endif
static void one_panel(void *user, size_t p) {
#if HAVE_KERNEL
    const Work *w = user;
    const Kernel *kr = w->kr;
    const int8_t *b = w->b + (int64_t)p * (kr->k / 4) * 128;
    int64_t col = (int64_t)p * 32;
    int cols = kr->n - col < 32 ? (int)(kr->n - col) : 32;
    int32_t tile[8 * 32];
    for (int64_t m0 = 0; m0 < w->m; m0 += 8) {
        int mr = w->m - m0 < 8 ? (int)(w->m - m0) : 8;
        int32_t *out = kr->to_float ? tile : (int32_t *)w->y + m0 * kr->n + col;
        int64_t stride = kr->to_float ? 32 : kr->n;
        PANELS[mr](w->a + m0 * kr->k, kr->k, b, out, stride, cols);
        for (int r = 0; r < mr; r++) {
            int32_t *acc = out + r * stride;
            if (w->zero) correct(acc, w->zero[w->zeros > 1 ? m0 + r : 0], w->colsum + col, cols);
            if (kr->to_float) to_float(w, acc, m0 + r, col, cols);
        }
    }
#else
    (void)user;
    (void)p;
#endif
}

static void *create(const void *op, const void *info, int to_float_out, int quantize) {
    (void)op;
    Kernel *kr = calloc(1, sizeof(Kernel));
    if (!kr) return NULL;
    CALL(86, KernelInfoGetAttribute_int64_t)(info, "k", &kr->k);
    CALL(86, KernelInfoGetAttribute_int64_t)(info, "n", &kr->n);
    kr->to_float = to_float_out;
    kr->quantize = quantize;
    return kr;
}
static void *create_int(const void *op, const void *api, const void *info) {
    (void)api;
    return create(op, info, 0, 0);
}
static void *create_float(const void *op, const void *api, const void *info) {
    (void)api;
    return create(op, info, 1, 0);
}
static void *create_quantize(const void *op, const void *api, const void *info) {
    (void)api;
    return create(op, info, 1, 1);
}

/* The op's inputs (a missing optional one is NULL), its rows (m: all of A's dimensions but the
 * last), and its output, A's shape with n columns. */
static void *inputs_and_output(const Kernel *kr, void *ctx, const void **in, size_t count,
                               int64_t *m) {
    for (size_t i = 0; i < count; i++) CALL(90, KernelContext_GetInput_t)(ctx, i, &in[i]);
    int64_t dims[8];
    size_t rank;
    shape_of(in[0], dims, &rank);
    *m = 1;
    for (size_t i = 0; i + 1 < rank; i++) *m *= dims[i];
    dims[rank - 1] = kr->n;
    void *out;
    CALL(91, KernelContext_GetOutput_t)(ctx, 0, dims, rank, &out);
    return data_of(out);
}

static void run_panels(void *ctx, Work *w) {
    size_t panels = (size_t)((w->kr->n + 31) / 32);
    if (!CALL(274, KernelContext_ParallelFor_t)(ctx, one_panel, panels, 0, w)) return;
    for (size_t p = 0; p < panels; p++) one_panel(w, p); /* (ParallelFor never fails here) */
}

/* OwnDynamicQuantizeMatMul(x f32 [..., k], B i8 packed, column sums i32, weight scale f32 (one
 * value), [bias f32]) -> float: each row quantized (quantize_row), then OwnMatMulIntegerToFloat
 * with the row's zero point and the row's scale times the weight's (as the graph's Mul of the
 * two scales). */
static void compute_quantized(const Kernel *kr, void *ctx) {
#if HAVE_KERNEL
    const void *in[5] = {0};
    int64_t m;
    void *out = inputs_and_output(kr, ctx, in, 5, &m);
    uint8_t *q = malloc((size_t)(m * kr->k + m));
    float *scales = malloc((size_t)m * sizeof(float));
    if (!q || !scales) abort(); /* as onnxruntime's own allocations do on no memory */
    uint8_t *zeros = q + m * kr->k;
    const float *x = data_of(in[0]);
    float w_scale = *(const float *)data_of(in[3]);
    for (int64_t r = 0; r < m; r++) {
        float a_scale = quantize_row(x + r * kr->k, kr->k, q + r * kr->k, zeros + r);
        scales[r] = a_scale * w_scale;
    }
    Work w = {kr, q, data_of(in[1]), m, out, zeros, m, data_of(in[2]), scales, m, 1, data_of(in[4])};
    run_panels(ctx, &w);
    free(scales);
    free(q);
#else
    (void)kr;
    (void)ctx;
#endif
}

static void compute(void *kernel, void *ctx) {
    const Kernel *kr = kernel;
    if (kr->quantize) {
        compute_quantized(kr, ctx);
        return;
    }
    const void *in[6] = {0};
    int64_t m;
    void *out = inputs_and_output(kr, ctx, in, kr->to_float ? 6u : 4u, &m);
    Work w = {kr, data_of(in[0]), data_of(in[1]), m, out, NULL, 0, NULL, NULL, 0, 0, NULL};
    if (in[2] && in[3]) {
        w.zero = data_of(in[2]);
        w.zeros = count_of(in[2]);
        w.colsum = data_of(in[3]);
    }
    if (kr->to_float) {
        w.scale = data_of(in[4]);
        w.scales = count_of(in[4]);
        int64_t sdims[8];
        size_t srank;
        shape_of(in[4], sdims, &srank);
        /* [..., 1] with one value per row (the rows graph's per-row scale) */
        w.per_row = w.scales > 1 && srank > 0 && sdims[srank - 1] == 1;
        w.bias = data_of(in[5]);
    }
    run_panels(ctx, &w);
}

static void destroy(void *kernel) { free(kernel); }

struct OrtCustomOp {
    uint32_t version;
    void *(*CreateKernel)(const void *, const void *, const void *);
    const char *(*GetName)(const void *);
    const char *(*GetExecutionProviderType)(const void *);
    int (*GetInputType)(const void *, size_t);
    size_t (*GetInputTypeCount)(const void *);
    int (*GetOutputType)(const void *, size_t);
    size_t (*GetOutputTypeCount)(const void *);
    void (*KernelCompute)(void *, void *);
    void (*KernelDestroy)(void *);
    int (*GetInputCharacteristic)(const void *, size_t);
    int (*GetOutputCharacteristic)(const void *, size_t);
};

/* element types: 1 float, 2 uint8, 3 int8, 6 int32. Inputs: A u8, B i8 (packed), the zero
 * point u8, the column sums i32 (both optional), then for ...ToFloat the scale f32 (required)
 * and the bias f32 (optional). Characteristic 0: required, 1: optional. */
static const char *name_int(const void *op) { (void)op; return "OwnMatMulInteger"; }
static const char *name_float(const void *op) { (void)op; return "OwnMatMulIntegerToFloat"; }
static const char *name_quantize(const void *op) { (void)op; return "OwnDynamicQuantizeMatMul"; }
/* x f32, B i8 (packed), the column sums i32, the weight's scale f32, the bias f32 (optional) */
static int in_type_quantize(const void *op, size_t i) {
    (void)op;
    static const int types[5] = {1, 3, 6, 1, 1};
    return types[i];
}
static size_t in_count_quantize(const void *op) { (void)op; return 5; }
static int in_kind_quantize(const void *op, size_t i) { (void)op; return i == 4; }
static const char *provider(const void *op) { (void)op; return NULL; }
static int in_type(const void *op, size_t i) {
    (void)op;
    static const int types[6] = {2, 3, 2, 6, 1, 1};
    return types[i];
}
static size_t in_count_int(const void *op) { (void)op; return 4; }
static size_t in_count_float(const void *op) { (void)op; return 6; }
static int out_int(const void *op, size_t i) { (void)op; (void)i; return 6; }
static int out_float(const void *op, size_t i) { (void)op; (void)i; return 1; }
static size_t out_count(const void *op) { (void)op; return 1; }
static int in_kind(const void *op, size_t i) { (void)op; return (i == 2 || i == 3 || i == 5); }
static int out_kind(const void *op, size_t i) { (void)op; (void)i; return 0; }

static struct OrtCustomOp OP_INT = {8,       create_int, name_int,    provider,
                                    in_type, in_count_int, out_int,   out_count,
                                    compute, destroy,    in_kind,     out_kind};
static struct OrtCustomOp OP_FLOAT = {8,       create_float, name_float,     provider,
                                      in_type, in_count_float, out_float,    out_count,
                                      compute, destroy,      in_kind,        out_kind};

static struct OrtCustomOp OP_QUANTIZE = {8,
                                         create_quantize,
                                         name_quantize,
                                         provider,
                                         in_type_quantize,
                                         in_count_quantize,
                                         out_float,
                                         out_count,
                                         compute,
                                         destroy,
                                         in_kind_quantize,
                                         out_kind};

EXPORT OrtStatus *RegisterCustomOps(void *options, const OrtApiBase *base) {
    API = base->GetApi(ORT_API_VERSION_USED);
    if (!API) return NULL; /* cannot even report: onnxruntime older than 1.17 (never used) */
    if (!nc_supported())
        return CALL(0, CreateStatus_t)(ORT_FAIL, "NanoCaption's own products need AVX512-VNNI");
    void *domain;
    OrtStatus *s = CALL(26, CreateCustomOpDomain_t)("ai.nanocaption", &domain);
    if (s) return s;
    if ((s = CALL(27, CustomOpDomain_Add_t)(domain, &OP_INT))) return s;
    if ((s = CALL(27, CustomOpDomain_Add_t)(domain, &OP_FLOAT))) return s;
    if ((s = CALL(27, CustomOpDomain_Add_t)(domain, &OP_QUANTIZE))) return s;
    return CALL(28, AddCustomOpDomain_t)(options, domain);
}
