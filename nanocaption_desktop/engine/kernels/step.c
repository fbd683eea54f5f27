/* The decoder step engine: one caption's per-token step (a GPT-2 decoder with cross-attention,
 * one row) in C, bit for bit the derived step graph's outputs as onnxruntime computes them
 * (issue 18). Compiled with products.c into the same library (setup.py); used by
 * engine/own_step.py, which loads the weights the derive wrote (derive/engine.py) and checked
 * there, on this machine, against the step graph.
 *
 * Why: a step of the step graph is ~480 onnxruntime kernels besides its 73 weight products, and
 * they and the runtime between them cost about a third of a token (docs/performance.md). Here
 * a step is one call: the products stream the weights once on the caller's thread and up to
 * seven workers of our own (each its share of every product's panels), and everything between
 * them (layer norms, attention over the caches, GELU, residual adds) runs on each thread in
 * registers and L1, with a spin barrier after each product.
 *
 * Each operation rounds as onnxruntime's kernel for it does (exact.c says which and how), so
 * the logits and the key/value caches equal the step graph's bit for bit; derive/engine.py
 * proves it on random inputs before the engine is used, and a failed check leaves the step
 * graph in use.
 *
 * One step, for a token at position pos (the past length), per layer:
 *   h = LayerNorm(x); qkv = Q(h) W_qkv + b (DynamicQuantizeMatMul); k, v appended to the caches;
 *   per head: scores = (q * s) . (K^T * s) (MatMul of one row), Softmax, . V (MatMul);
 *   x = (context) W_proj + b + x;
 *   h = LayerNorm(x); per head: (q_x * s) . Kx (the cross graph's keys, already times s),
 *   Softmax, . Vx; x = (context) W_xproj + b + x;
 *   h = LayerNorm(x); x = FastGelu(h W_fc + b) W_fcproj + b + x;
 * then logits = LayerNorm(x) W_head. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if NC_HAVE_ENGINE

#define MAX_THREADS 8
#define LINE 128 /* two cache lines: what the adjacent-line prefetcher pulls in together */

typedef struct {
    const int8_t *w;       /* packed in panels of 32 columns (kernels.pack) */
    const int32_t *colsum; /* [n] */
    float w_scale;
    const float *bias; /* [n] or NULL */
    int64_t k, n;
} Prod;

typedef struct {
    const float *g, *b;
} Norm;

typedef struct {
    Norm ln1, lnx, ln2;
    Prod qkv, proj, xq, xproj, fc, fcproj;
} Layer;

typedef struct {
    int64_t layers, heads, hd, d, ff, vocab, positions;
    float eps, scale;
    const uint8_t *wte, *wpe;
    float wte_scale, wpe_scale;
    int32_t wte_zero, wpe_zero;
    Norm lnf;
    Prod head;
    const Layer *layer;
} Model;

typedef struct {
    float *x, *h, *qs, *probs; /* residual [d]; normed [max(d, ff)]; [hd]; [max(cap, S)] */
    uint8_t *q;                /* quantized [max(d, ff)] */
} __attribute__((aligned(LINE))) Scratch;

typedef struct Engine {
    const Model *m;
    int nthreads;
    int started; /* worker threads running (1 .. started-1) */
    int64_t cap, enc_len;     /* positions the caches hold; the image's tokens */
    float *ck, *cv, *cks;     /* [layers][H][cap][hd] x2, the keys times s transposed [..][hd][cap] */
    const float **xk, **xv;   /* per layer: [H][hd][S] (times s), [H][S][hd] */
    float *qkv, *att, *out, *ffb; /* shared: each thread writes its columns or heads */
    int64_t pos, token;
    float *logits;
    Scratch s[MAX_THREADS];
    pthread_t workers[MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv_wake;
    _Atomic int64_t go __attribute__((aligned(LINE)));
    _Atomic int done __attribute__((aligned(LINE)));
    _Atomic int arrived __attribute__((aligned(LINE)));
    _Atomic int64_t phase __attribute__((aligned(LINE)));
    _Atomic int sleeping __attribute__((aligned(LINE)));
    _Atomic int quit;
} __attribute__((aligned(LINE))) Engine;

/* spin a little, then give the core away: never burn a core another thread needs */
static inline void wait_a_bit(int *spins) {
    if (++*spins < 4096)
        __builtin_ia32_pause();
    else
        sched_yield();
}

static void barrier(Engine *e) {
    if (e->nthreads == 1) return;
    int64_t phase = atomic_load_explicit(&e->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&e->arrived, 1, memory_order_acq_rel) == e->nthreads - 1) {
        atomic_store_explicit(&e->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&e->phase, 1, memory_order_release);
    } else {
        int spins = 0;
        while (atomic_load_explicit(&e->phase, memory_order_acquire) == phase) wait_a_bit(&spins);
    }
}

/* This thread's share of the panels of y = DynamicQuantizeMatMul(q row, p): the int32 products,
 * the zero point's correction, then (float)acc * (a_scale * w_scale) + bias, each rounding as
 * onnxruntime's Cast, Mul and Add (products.c) */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
NC_VNNI static void product(const Prod *p, const uint8_t *q, int zp, float a_scale, float *y,
                            int tid, int nt) {
    int64_t panels = (p->n + 31) / 32;
    int64_t lo = panels * tid / nt, hi = panels * (tid + 1) / nt;
    float s = a_scale * p->w_scale;
    __m512 vs = _mm512_set1_ps(s);
    int32_t tile[32] __attribute__((aligned(64)));
    for (int64_t pi = lo; pi < hi; pi++) {
        int64_t col = pi * 32;
        int cols = p->n - col < 32 ? (int)(p->n - col) : 32;
        nc_panel1(q, p->k, p->w + pi * (p->k / 4) * 128, tile, 32, cols);
        nc_correct(tile, zp, p->colsum + col, cols);
        int c = 0;
        for (; c + 16 <= cols; c += 16) {
            __m512 v = _mm512_cvtepi32_ps(_mm512_load_si512((const void *)(tile + c)));
            v = _mm512_mul_ps(v, vs);
            if (p->bias) v = _mm512_add_ps(v, _mm512_loadu_ps(p->bias + col + c));
            _mm512_storeu_ps(y + col + c, v);
        }
        for (; c < cols; c++) {
            float v = (float)tile[c] * s;
            y[col + c] = p->bias ? v + p->bias[col + c] : v;
        }
    }
}

/* every thread quantizes the row itself (its own copy: no wait), takes its panels, and waits
 * for the others' */
NC_VNNI static void qproduct(Engine *e, int tid, const Prod *p, const float *x, float *out) {
    uint8_t zero;
    float a_scale = nc_quantize_row(x, p->k, e->s[tid].q, &zero);
    product(p, e->s[tid].q, zero, a_scale, out, tid, e->nthreads);
    barrier(e);
}

/* x = y + x: onnxruntime's Add, one rounding */
static void add_into(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = y[i] + x[i];
}

static void scaled(const float *x, float s, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * s;
}

static void run_step(Engine *e, int tid) {
    const Model *m = e->m;
    Scratch *s = &e->s[tid];
    int nt = e->nthreads;
    int64_t d = m->d, hd = m->hd, H = m->heads, pos = e->pos, L = pos + 1, cap = e->cap;
    int64_t h0 = H * tid / nt, h1 = H * (tid + 1) / nt, S = e->enc_len;
    /* the embeddings: DequantizeLinear of each gathered row, then their Add */
    const uint8_t *te = m->wte + e->token * d, *pe = m->wpe + pos * d;
    for (int64_t i = 0; i < d; i++) {
        float a = (float)((int32_t)te[i] - m->wte_zero) * m->wte_scale;
        float b = (float)((int32_t)pe[i] - m->wpe_zero) * m->wpe_scale;
        s->x[i] = a + b;
    }
    for (int64_t l = 0; l < m->layers; l++) {
        const Layer *ly = &m->layer[l];
        size_t at = (size_t)l * H * cap * hd;
        /* self-attention: this thread's heads */
        nc_layer_norm(s->x, ly->ln1.g, ly->ln1.b, m->eps, d, s->h);
        qproduct(e, tid, &ly->qkv, s->h, e->qkv);
        for (int64_t h = h0; h < h1; h++) {
            float *ck = e->ck + at + h * cap * hd, *cv = e->cv + at + h * cap * hd;
            float *cks = e->cks + at + h * hd * cap;
            const float *k = e->qkv + d + h * hd;
            memcpy(ck + pos * hd, k, (size_t)hd * 4);
            memcpy(cv + pos * hd, e->qkv + 2 * d + h * hd, (size_t)hd * 4);
            for (int64_t i = 0; i < hd; i++) cks[i * cap + pos] = k[i] * m->scale;
            scaled(e->qkv + h * hd, m->scale, hd, s->qs);
            nc_matmul_row(s->qs, cks, cap, hd, L, s->probs);
            nc_softmax(s->probs, L);
            nc_matmul_row(s->probs, cv, hd, L, hd, e->att + h * hd);
        }
        barrier(e);
        qproduct(e, tid, &ly->proj, e->att, e->out);
        add_into(s->x, e->out, d);
        /* cross-attention over the image's keys and values */
        nc_layer_norm(s->x, ly->lnx.g, ly->lnx.b, m->eps, d, s->h);
        qproduct(e, tid, &ly->xq, s->h, e->qkv);
        for (int64_t h = h0; h < h1; h++) {
            scaled(e->qkv + h * hd, m->scale, hd, s->qs);
            nc_matmul_row(s->qs, e->xk[l] + h * hd * S, S, hd, S, s->probs);
            nc_softmax(s->probs, S);
            nc_matmul_row(s->probs, e->xv[l] + h * S * hd, hd, S, hd, e->att + h * hd);
        }
        barrier(e);
        qproduct(e, tid, &ly->xproj, e->att, e->out);
        add_into(s->x, e->out, d);
        /* the MLP */
        nc_layer_norm(s->x, ly->ln2.g, ly->ln2.b, m->eps, d, s->h);
        qproduct(e, tid, &ly->fc, s->h, e->ffb);
        nc_fast_gelu(e->ffb, s->h, m->ff);
        qproduct(e, tid, &ly->fcproj, s->h, e->out);
        add_into(s->x, e->out, d);
    }
    nc_layer_norm(s->x, m->lnf.g, m->lnf.b, m->eps, d, s->h);
    qproduct(e, tid, &m->head, s->h, e->logits);
}

typedef struct {
    Engine *e;
    int tid;
} WorkerArg;

static void *worker_main(void *arg) {
    Engine *e = ((WorkerArg *)arg)->e;
    int tid = ((WorkerArg *)arg)->tid;
    free(arg);
    int64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load(&e->go) == seen && !atomic_load(&e->quit)) {
            if (spins < 4096 + 2048) { /* between two tokens: stay awake */
                wait_a_bit(&spins);
                continue;
            }
            pthread_mutex_lock(&e->mu); /* the caption is over: sleep */
            atomic_fetch_add(&e->sleeping, 1);
            while (atomic_load(&e->go) == seen && !atomic_load(&e->quit))
                pthread_cond_wait(&e->cv_wake, &e->mu);
            atomic_fetch_sub(&e->sleeping, 1);
            pthread_mutex_unlock(&e->mu);
        }
        if (atomic_load(&e->quit)) return NULL;
        seen = atomic_load(&e->go);
        run_step(e, tid);
        atomic_fetch_add_explicit(&e->done, 1, memory_order_acq_rel);
    }
}

static void *aligned(size_t bytes) {
    void *p = NULL;
    size_t size = (bytes + LINE - 1) / LINE * LINE;
    if (posix_memalign(&p, LINE, size ? size : LINE) != 0) return NULL;
    memset(p, 0, size ? size : LINE);
    return p;
}

static void free_caches(Engine *e) {
    free(e->ck);
    free(e->cv);
    free(e->cks);
    e->ck = e->cv = e->cks = NULL;
}

/* caches for `cap` positions, the first `keep` copied from the old ones */
static int make_caches(Engine *e, int64_t cap, int64_t keep) {
    const Model *m = e->m;
    size_t n = (size_t)m->layers * m->heads * cap * m->hd;
    float *ck = aligned(n * 4), *cv = aligned(n * 4), *cks = aligned(n * 4);
    float *probs[MAX_THREADS] = {0};
    int64_t width = cap > e->enc_len ? cap : e->enc_len;
    int ok = ck && cv && cks;
    for (int t = 0; ok && t < e->nthreads; t++) ok = (probs[t] = aligned((size_t)width * 4)) != NULL;
    if (!ok) {
        free(ck), free(cv), free(cks);
        for (int t = 0; t < e->nthreads; t++) free(probs[t]);
        return -1;
    }
    for (int64_t lh = 0; e->ck && lh < m->layers * m->heads; lh++) {
        int64_t hd = m->hd, old = e->cap;
        memcpy(ck + lh * cap * hd, e->ck + lh * old * hd, (size_t)(keep * hd) * 4);
        memcpy(cv + lh * cap * hd, e->cv + lh * old * hd, (size_t)(keep * hd) * 4);
        for (int64_t i = 0; i < hd; i++)
            memcpy(cks + (lh * hd + i) * cap, e->cks + (lh * hd + i) * old, (size_t)keep * 4);
    }
    free_caches(e);
    e->ck = ck, e->cv = cv, e->cks = cks, e->cap = cap;
    for (int t = 0; t < e->nthreads; t++) {
        free(e->s[t].probs);
        e->s[t].probs = probs[t];
    }
    return 0;
}

static void stop_workers(Engine *e) {
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->quit, 1);
    pthread_cond_broadcast(&e->cv_wake);
    pthread_mutex_unlock(&e->mu);
    for (int t = 1; t < e->started; t++) pthread_join(e->workers[t], NULL);
    e->started = 1;
    atomic_store(&e->quit, 0);
}

NC_EXPORT void nc_engine_close(Engine *e) {
    if (!e) return;
    stop_workers(e);
    free_caches(e);
    free(e->xk);
    free(e->xv);
    free(e->qkv), free(e->att), free(e->out), free(e->ffb);
    for (int t = 0; t < MAX_THREADS; t++) {
        Scratch *s = &e->s[t];
        free(s->x), free(s->h), free(s->qs), free(s->probs), free(s->q);
    }
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv_wake);
    free(e);
}

/* An engine state for `m` (whose weights outlive it) on `threads` threads (the caller's and
 * threads - 1 workers; at most MAX_THREADS), an image of enc_len tokens, caches for `cap`
 * positions to start with; NULL when out of memory. */
NC_EXPORT Engine *nc_engine_open(const Model *m, int threads, int64_t enc_len, int64_t cap) {
    Engine *e = aligned(sizeof(Engine));
    if (!e) return NULL;
    e->m = m;
    e->nthreads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    e->enc_len = enc_len;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv_wake, NULL);
    int64_t big = 3 * m->d > m->ff ? 3 * m->d : m->ff;
    e->xk = calloc((size_t)m->layers, sizeof(float *));
    e->xv = calloc((size_t)m->layers, sizeof(float *));
    e->qkv = aligned((size_t)(3 * m->d) * 4), e->att = aligned((size_t)m->d * 4);
    e->out = aligned((size_t)big * 4), e->ffb = aligned((size_t)m->ff * 4);
    int ok = e->xk && e->xv && e->qkv && e->att && e->out && e->ffb;
    for (int t = 0; ok && t < e->nthreads; t++) {
        Scratch *s = &e->s[t];
        s->x = aligned((size_t)m->d * 4), s->h = aligned((size_t)big * 4);
        s->qs = aligned((size_t)m->hd * 4), s->q = aligned((size_t)big);
        ok = s->x && s->h && s->qs && s->q;
    }
    e->started = 1;
    if (!ok || make_caches(e, cap < 1 ? 1 : cap, 0) != 0) { /* (probs for every thread too) */
        nc_engine_close(e);
        return NULL;
    }
    for (int t = 1; t < e->nthreads; t++, e->started = t) {
        WorkerArg *arg = malloc(sizeof(WorkerArg));
        if (arg) arg->e = e, arg->tid = t;
        if (!arg || pthread_create(&e->workers[t], NULL, worker_main, arg) != 0) {
            free(arg); /* one thread then (still exact: a thread's share is whole panels) */
            stop_workers(e);
            e->nthreads = 1;
            break;
        }
    }
    return e;
}

/* The image for the next steps: per layer, its keys (times s, [H][hd][S]) and values
 * ([H][S][hd]), which must outlive the steps; S tokens. The caches start empty. 0, or -2 when
 * out of memory. */
NC_EXPORT int nc_engine_image(Engine *e, const float *const *xk, const float *const *xv,
                              int64_t enc_len) {
    if (enc_len > e->enc_len && enc_len > e->cap) { /* a wider attention row than so far */
        int64_t old = e->enc_len;
        e->enc_len = enc_len;
        if (make_caches(e, e->cap, 0) != 0) {
            e->enc_len = old;
            return -2;
        }
    }
    e->enc_len = enc_len;
    for (int64_t l = 0; l < e->m->layers; l++) e->xk[l] = xk[l], e->xv[l] = xv[l];
    return 0;
}

/* one token at position pos (the past length) -> logits [vocab]: 0; -1 for a position or token
 * out of range, -2 when the caches could not grow (out of memory) */
NC_EXPORT int nc_engine_step(Engine *e, int64_t token, int64_t pos, float *logits) {
    const Model *m = e->m;
    if (pos < 0 || pos >= m->positions || token < 0 || token >= m->vocab) return -1;
    if (pos >= e->cap) {
        int64_t cap = e->cap * 2 > pos + 1 ? e->cap * 2 : pos + 1;
        if (make_caches(e, cap < m->positions ? cap : m->positions, pos) != 0) return -2;
    }
    e->pos = pos, e->token = token, e->logits = logits;
    if (e->nthreads > 1) {
        atomic_store(&e->done, 0);
        atomic_fetch_add(&e->go, 1);
        if (atomic_load(&e->sleeping)) {
            pthread_mutex_lock(&e->mu);
            pthread_cond_broadcast(&e->cv_wake);
            pthread_mutex_unlock(&e->mu);
        }
    }
    run_step(e, 0);
    int spins = 0;
    while (atomic_load_explicit(&e->done, memory_order_acquire) != e->nthreads - 1)
        wait_a_bit(&spins);
    return 0;
}

/* the caches' layout, for the derive check: [layers][H][cap][hd] */
NC_EXPORT int64_t nc_engine_capacity(const Engine *e) { return e->cap; }
NC_EXPORT const float *nc_engine_keys(const Engine *e) { return e->ck; }
NC_EXPORT const float *nc_engine_values(const Engine *e) { return e->cv; }
NC_EXPORT int nc_engine_threads(const Engine *e) { return e->nthreads; }

#endif /* NC_HAVE_ENGINE */
