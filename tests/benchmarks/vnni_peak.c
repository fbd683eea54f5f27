/* A probe, not part of the app: this CPU's AVX512-VNNI peak on one core (issue 18, docs/
 * performance.md, fifth pass), the rate no INT8 product can beat.
 *
 *     cc -O2 tests/benchmarks/vnni_peak.c -o /tmp/vnni_peak && /tmp/vnni_peak
 *
 * Ten independent chains of vpdpbusd on 512-bit registers (64 multiply-adds each), written in
 * assembly so that the compiler cannot merge them; prints multiply-adds per second, 3 runs. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define CHAIN(i) "vpdpbusd %[x], %[y], %[a" #i "]\n"

__attribute__((target("avx512f,avx512vnni"))) static double run(long iters) {
    __m512i a0 = _mm512_set1_epi32(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
    __m512i a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
    __m512i x = _mm512_set1_epi32(0x01020304), y = _mm512_set1_epi32(0x05060708);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long it = 0; it < iters; it++)
        __asm__ volatile(CHAIN(0) CHAIN(1) CHAIN(2) CHAIN(3) CHAIN(4) CHAIN(5) CHAIN(6) CHAIN(7)
                             CHAIN(8) CHAIN(9)
                         : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3),
                           [a4] "+v"(a4), [a5] "+v"(a5), [a6] "+v"(a6), [a7] "+v"(a7),
                           [a8] "+v"(a8), [a9] "+v"(a9)
                         : [x] "v"(x), [y] "v"(y));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(a8, a9));
    double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return (double)iters * 10 * 64 / sec / 1e9 + 0 * _mm512_reduce_add_epi32(s);
}

int main(void) {
    for (int r = 0; r < 3; r++) printf("%.1f G multiply-adds/s (one core, INT8)\n", run(100000000L));
    return 0;
}
