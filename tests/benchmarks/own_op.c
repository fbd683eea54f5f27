/* A probe, not part of the app: the step's weight products as an onnxruntime custom op over
 * own_products.c (tests/benchmarks/own_rows.py). "OwnMatMulInteger", domain ai.nanocaption.probe:
 * int32 Y[..., n_out] = A[..., k] (uint8) x B (int8, packed by pack_b, n columns padded to 32),
 * exactly MatMulInteger without zero points. The OrtApi table is append-only, so its first entries keep their index in
 * every release: 26-28 the custom-op domain, 51 GetTensorMutableData, 61-62 the dimensions, 65
 * GetTensorTypeAndShape, 86 KernelInfoGetAttribute_int64, 90-91 KernelContext_GetInput/Output,
 * 99 ReleaseTensorTypeAndShapeInfo. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void OrtStatus;
typedef struct { const void *(*GetApi)(uint32_t); const char *(*GetVersionString)(void); } OrtApiBase;
static void *const *API;

typedef OrtStatus *(*CreateCustomOpDomain_t)(const char *, void **);
typedef OrtStatus *(*CustomOpDomain_Add_t)(void *, const void *);
typedef OrtStatus *(*AddCustomOpDomain_t)(void *, void *);
typedef OrtStatus *(*GetTensorMutableData_t)(const void *, void **);
typedef OrtStatus *(*GetDimensionsCount_t)(const void *, size_t *);
typedef OrtStatus *(*GetDimensions_t)(const void *, int64_t *, size_t);
typedef OrtStatus *(*GetTensorTypeAndShape_t)(const void *, void **);
typedef OrtStatus *(*KernelInfoGetAttribute_int64_t)(const void *, const char *, int64_t *);
typedef OrtStatus *(*KernelContext_GetInput_t)(const void *, size_t, const void **);
typedef OrtStatus *(*KernelContext_GetOutput_t)(void *, size_t, const int64_t *, size_t, void **);
typedef void (*ReleaseTensorTypeAndShapeInfo_t)(void *);
#define CALL(i, t) ((t)API[i])

/* own_products.c */
void product(const uint8_t *a, int m, int k, const int8_t *bp, int n, int32_t *c);

typedef struct { int64_t k, n, n_out; } Kernel;

struct OrtCustomOp {
    uint32_t version;
    void *(*CreateKernel)(const struct OrtCustomOp *, const void *, const void *);
    const char *(*GetName)(const struct OrtCustomOp *);
    const char *(*GetExecutionProviderType)(const struct OrtCustomOp *);
    int (*GetInputType)(const struct OrtCustomOp *, size_t);
    size_t (*GetInputTypeCount)(const struct OrtCustomOp *);
    int (*GetOutputType)(const struct OrtCustomOp *, size_t);
    size_t (*GetOutputTypeCount)(const struct OrtCustomOp *);
    void (*KernelCompute)(void *, void *);
    void (*KernelDestroy)(void *);
    int (*GetInputCharacteristic)(const struct OrtCustomOp *, size_t);
    int (*GetOutputCharacteristic)(const struct OrtCustomOp *, size_t);
};

static void *create(const struct OrtCustomOp *op, const void *api, const void *info) {
    (void)op; (void)api;
    Kernel *kr = calloc(1, sizeof(Kernel));
    CALL(86, KernelInfoGetAttribute_int64_t)(info, "k", &kr->k);
    CALL(86, KernelInfoGetAttribute_int64_t)(info, "n", &kr->n);
    CALL(86, KernelInfoGetAttribute_int64_t)(info, "n_out", &kr->n_out);
    return kr;
}
static const char *name(const struct OrtCustomOp *op) { (void)op; return "OwnMatMulInteger"; }
static const char *ep(const struct OrtCustomOp *op) { (void)op; return NULL; }
static int in_type(const struct OrtCustomOp *op, size_t i) { (void)op; return i == 0 ? 2 : 3; } /* uint8, int8 */
static size_t in_count(const struct OrtCustomOp *op) { (void)op; return 2; }
static int out_type(const struct OrtCustomOp *op, size_t i) { (void)op; (void)i; return 6; } /* int32 */
static size_t out_count(const struct OrtCustomOp *op) { (void)op; return 1; }
static int required(const struct OrtCustomOp *op, size_t i) { (void)op; (void)i; return 0; }

static __thread int32_t *scratch;
static __thread size_t scratch_n;

static void compute(void *kernel, void *ctx) {
    Kernel *kr = kernel;
    const void *a, *b;
    CALL(90, KernelContext_GetInput_t)(ctx, 0, &a);
    CALL(90, KernelContext_GetInput_t)(ctx, 1, &b);
    void *shape;
    CALL(65, GetTensorTypeAndShape_t)(a, &shape);
    size_t rank;
    CALL(61, GetDimensionsCount_t)(shape, &rank);
    int64_t dims[8];
    CALL(62, GetDimensions_t)(shape, dims, rank);
    CALL(99, ReleaseTensorTypeAndShapeInfo_t)(shape);
    int64_t m = 1;
    for (size_t i = 0; i + 1 < rank; i++) m *= dims[i];
    dims[rank - 1] = kr->n_out;
    void *y;
    CALL(91, KernelContext_GetOutput_t)(ctx, 0, dims, rank, &y);
    void *pa, *pb, *py;
    CALL(51, GetTensorMutableData_t)(a, &pa);
    CALL(51, GetTensorMutableData_t)(b, &pb);
    CALL(51, GetTensorMutableData_t)(y, &py);
    if (kr->n == kr->n_out) {
        product(pa, (int)m, (int)kr->k, pb, (int)kr->n, py);
        return;
    }
    size_t need = (size_t)m * kr->n;
    if (scratch_n < need) { free(scratch); scratch = malloc(need * 4); scratch_n = need; }
    product(pa, (int)m, (int)kr->k, pb, (int)kr->n, scratch);
    for (int64_t r = 0; r < m; r++)
        memcpy((int32_t *)py + r * kr->n_out, scratch + r * kr->n, kr->n_out * 4);
}
static void destroy(void *kernel) { free(kernel); }

static struct OrtCustomOp OP = {8, create, name, ep, in_type, in_count, out_type, out_count,
                                compute, destroy, required, required};

OrtStatus *RegisterCustomOps(void *options, const OrtApiBase *base) {
    API = base->GetApi(8);
    void *domain;
    OrtStatus *s = CALL(26, CreateCustomOpDomain_t)("ai.nanocaption.probe", &domain);
    if (s) return s;
    if ((s = CALL(27, CustomOpDomain_Add_t)(domain, &OP))) return s;
    return CALL(28, AddCustomOpDomain_t)(options, domain);
}
