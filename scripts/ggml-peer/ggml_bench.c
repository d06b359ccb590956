// ggml's side of `scripts/bench-vs-ggml.sh`: the same measurements as `quant bench`, with ggml's
// own kernels, printed as one JSON object per line.
//
// * dot: `ggml_get_type_traits_cpu(t)->vec_dot` on one 4096-value row and its partner activation
//   row (in L1), the kernel llama.cpp's mat-vec calls per row; the median over 4 relative
//   placements of the two rows (as quant's DotCase::with_placement).
// * quantize: `from_float` of the activation formats (ggml's SIMD activation quantizer).
// * dequantize: `ggml_get_type_traits(t)->to_float`.
// * matvec: 4096 rows x 14336 columns stacked until the weights exceed the streaming buffer,
//   vec_dot per row, rows split over 1 and 2 threads (pthreads), like ggml_compute_forward_mul_mat
//   for one token without the repacked (extra buffer type) kernels.
//
// Options: --quick (short timings, 64 MiB), --kernels-only, --matvec-only; QUANT_BENCH_FORMATS
// (comma-separated) selects formats.
//
// Timing is the same as quant_kernels::bench::time_ns: batches calibrated to budget/11, the
// median of 11 batches.
//
// Build: see scripts/bench-vs-ggml.sh (links the static libraries of a llama.cpp build).
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-cpu.h"
#include "ggml.h"

#define ROW_LEN 4096
#define MV_COLS 14336
#define MV_ROWS 4096

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef void (*bench_fn)(void *);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double time_ns(double budget_ns, bench_fn f, void *arg) {
    uint64_t reps = 1;
    for (;;) {
        double t = now_ns();
        for (uint64_t i = 0; i < reps; i++) f(arg);
        double e = now_ns() - t;
        if (e * 11 >= budget_ns || reps >= (1ull << 30)) break;
        reps *= 2;
    }
    double s[11];
    for (int k = 0; k < 11; k++) {
        double t = now_ns();
        for (uint64_t i = 0; i < reps; i++) f(arg);
        s[k] = (now_ns() - t) / (double)reps;
    }
    qsort(s, 11, sizeof s[0], cmp_double);
    return s[5];
}

// Deterministic test values: a mix of a Gaussian body and rare large outliers, like real weights.
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double next_unit(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static void fill(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double u1 = next_unit(), u2 = next_unit();
        double g = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        x[i] = (float)(g * (i % 97 == 0 ? 8.0 : 1.0));
    }
}

struct dot_arg {
    ggml_vec_dot_t dot;
    const void *w, *a;
    float out;
};
static void run_dot(void *p) {
    struct dot_arg *d = p;
    d->dot(ROW_LEN, &d->out, 0, d->w, 0, d->a, 0, 1);
    __asm__ volatile("" ::: "memory");
}

struct conv_arg {
    ggml_from_float_t from;
    ggml_to_float_t to;
    const float *x;
    void *q;
    float *y;
};
static void run_quant(void *p) {
    struct conv_arg *c = p;
    c->from(c->x, c->q, ROW_LEN);
    __asm__ volatile("" ::: "memory");
}
static void run_dequant(void *p) {
    struct conv_arg *c = p;
    c->to(c->q, c->y, ROW_LEN);
    __asm__ volatile("" ::: "memory");
}

struct mv_part {
    ggml_vec_dot_t dot;
    const uint8_t *w;
    size_t row_bytes;
    const void *a;
    float *y;
    size_t r0, r1;
};
static void *mv_worker(void *p) {
    struct mv_part *m = p;
    for (size_t r = m->r0; r < m->r1; r++)
        m->dot(MV_COLS, &m->y[r], 0, m->w + r * m->row_bytes, 0, m->a, 0, 1);
    return NULL;
}
static void matvec(ggml_vec_dot_t dot, const uint8_t *w, size_t row_bytes, size_t rows,
                   const void *a, float *y, int threads) {
    pthread_t th[8];
    struct mv_part parts[8];
    for (int t = 0; t < threads; t++) {
        parts[t] = (struct mv_part){dot, w, row_bytes, a, y, rows * t / threads,
                                    rows * (t + 1) / threads};
        if (t > 0) pthread_create(&th[t], NULL, mv_worker, &parts[t]);
    }
    mv_worker(&parts[0]);
    for (int t = 1; t < threads; t++) pthread_join(th[t], NULL);
}

static const struct {
    const char *name;
    enum ggml_type type;
} TYPES[] = {
    {"q8_0", GGML_TYPE_Q8_0},     {"q4_0", GGML_TYPE_Q4_0},     {"q4_1", GGML_TYPE_Q4_1},
    {"q5_0", GGML_TYPE_Q5_0},     {"q5_1", GGML_TYPE_Q5_1},     {"q8_1", GGML_TYPE_Q8_1},
    {"q2_K", GGML_TYPE_Q2_K},     {"q3_K", GGML_TYPE_Q3_K},     {"q4_K", GGML_TYPE_Q4_K},
    {"q5_K", GGML_TYPE_Q5_K},     {"q6_K", GGML_TYPE_Q6_K},     {"q8_K", GGML_TYPE_Q8_K},
    {"iq4_nl", GGML_TYPE_IQ4_NL}, {"iq4_xs", GGML_TYPE_IQ4_XS}, {"mxfp4", GGML_TYPE_MXFP4},
    {"nvfp4", GGML_TYPE_NVFP4},   {"tq1_0", GGML_TYPE_TQ1_0},   {"tq2_0", GGML_TYPE_TQ2_0},
    {"f32", GGML_TYPE_F32},       {"f16", GGML_TYPE_F16},       {"bf16", GGML_TYPE_BF16},
};

static int selected(const char *list, const char *name) {
    if (!list || !*list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    double budget_ms = 25;
    const char *formats = getenv("QUANT_BENCH_FORMATS");
    const char *mv_formats = "q4_0,q4_K,q8_0";
    size_t stream_bytes = (size_t)256 << 20;
    int kernels = 1, matvecs = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            budget_ms = 3;
            stream_bytes = (size_t)64 << 20;
        } else if (!strcmp(argv[i], "--kernels-only")) {
            matvecs = 0;
        } else if (!strcmp(argv[i], "--matvec-only")) {
            kernels = 0;
        }
    }
    double budget = budget_ms * 1e6;
    ggml_cpu_init();

    float *x = aligned_alloc(64, ROW_LEN * sizeof(float));
    float *act = aligned_alloc(64, ROW_LEN * sizeof(float));
    float *y = aligned_alloc(64, ROW_LEN * sizeof(float));
    fill(x, ROW_LEN);
    fill(act, ROW_LEN);

    for (size_t k = 0; k < sizeof TYPES / sizeof TYPES[0]; k++) {
        enum ggml_type t = TYPES[k].type;
        if (!kernels || !selected(formats, TYPES[k].name)) continue;
        const struct ggml_type_traits *tr = ggml_get_type_traits(t);
        const struct ggml_type_traits_cpu *cpu = ggml_get_type_traits_cpu(t);
        size_t wbytes = ggml_row_size(t, ROW_LEN);
        void *w = aligned_alloc(64, wbytes + 64);
        if (t == GGML_TYPE_Q8_1 || t == GGML_TYPE_Q8_K)
            cpu->from_float(x, w, ROW_LEN);  // activation-only formats
        else
            ggml_quantize_chunk(t, x, w, 0, 1, ROW_LEN, NULL);
        printf("{\"format\":\"%s\"", TYPES[k].name);
        if (cpu->vec_dot && t != GGML_TYPE_Q8_1 && t != GGML_TYPE_Q8_K) {
            // Both rows in one buffer, the activation row at round_up(wbytes, 64) + 64 +
            // 1024 * placement, the median over 4 placements, exactly as quant's
            // DotCase::with_placement (timings on AMD Zen depend on the rows' relative address).
            enum ggml_type at = cpu->vec_dot_type;
            size_t abytes = ggml_row_size(at, ROW_LEN);
            size_t base = (wbytes + 63) / 64 * 64 + 64;
            uint8_t *both = aligned_alloc(64, (base + 3 * 1024 + abytes + 63) / 64 * 64);
            memcpy(both, w, wbytes);
            const struct ggml_type_traits_cpu *acpu = ggml_get_type_traits_cpu(at);
            double t4[4];
            for (int k = 0; k < 4; k++) {
                uint8_t *a = both + base + 1024 * k;
                if (at == GGML_TYPE_F32)
                    memcpy(a, act, ROW_LEN * sizeof(float));
                else
                    acpu->from_float(act, a, ROW_LEN);
                struct dot_arg d = {cpu->vec_dot, both, a, 0};
                t4[k] = time_ns(budget / 4, run_dot, &d);
            }
            qsort(t4, 4, sizeof t4[0], cmp_double);
            double ns = (t4[1] + t4[2]) / 2;
            printf(",\"activation\":\"%s\",\"dot_ns_per_row\":%.3f,\"dot_values_per_ns\":%.4f",
                   ggml_type_name(at), ns, ROW_LEN / ns);
            free(both);
        }
        if (tr->to_float && t != GGML_TYPE_F32) {
            struct conv_arg c = {NULL, tr->to_float, x, w, y};
            double ns = time_ns(budget, run_dequant, &c);
            printf(",\"dequantize_values_per_ns\":%.4f", ROW_LEN / ns);
        }
        if ((t == GGML_TYPE_Q8_0 || t == GGML_TYPE_Q8_1 || t == GGML_TYPE_Q8_K) && cpu->from_float) {
            struct conv_arg c = {cpu->from_float, NULL, x, w, y};
            double ns = time_ns(budget, run_quant, &c);
            printf(",\"quantize_values_per_ns\":%.4f", ROW_LEN / ns);
        }
        printf("}\n");
        fflush(stdout);
        free(w);
    }

    // Out-of-cache matrix x vector through vec_dot.
    float *mv_act = aligned_alloc(64, MV_COLS * sizeof(float));
    fill(mv_act, MV_COLS);
    float *mv_src = aligned_alloc(64, MV_COLS * sizeof(float));
    for (size_t k = 0; k < sizeof TYPES / sizeof TYPES[0]; k++) {
        enum ggml_type t = TYPES[k].type;
        if (!matvecs || !selected(mv_formats, TYPES[k].name) || !selected(formats, TYPES[k].name))
            continue;
        const struct ggml_type_traits_cpu *cpu = ggml_get_type_traits_cpu(t);
        size_t row_bytes = ggml_row_size(t, MV_COLS);
        size_t per_matrix = row_bytes * MV_ROWS;
        size_t mats = (stream_bytes + per_matrix - 1) / per_matrix;
        size_t rows = mats * MV_ROWS;
        uint8_t *w = aligned_alloc(64, rows * row_bytes);
        for (size_t r = 0; r < rows; r += 64) {
            fill(mv_src, MV_COLS);
            size_t n = rows - r < 64 ? rows - r : 64;
            for (size_t i = 0; i < n; i++)
                ggml_quantize_chunk(t, mv_src, w + (r + i) * row_bytes, 0, 1, MV_COLS, NULL);
        }
        enum ggml_type at = cpu->vec_dot_type;
        void *a = aligned_alloc(64, ggml_row_size(at, MV_COLS) + 64);
        ggml_get_type_traits_cpu(at)->from_float(mv_act, a, MV_COLS);
        float *out = aligned_alloc(64, rows * sizeof(float));
        for (int threads = 1; threads <= 2; threads++) {
            double best[5];
            int passes = budget_ms < 10 ? 3 : 5;
            for (int p = 0; p < passes; p++) {
                double t0 = now_ns();
                matvec(cpu->vec_dot, w, row_bytes, rows, a, out, threads);
                best[p] = now_ns() - t0;
            }
            qsort(best, passes, sizeof best[0], cmp_double);
            double ns = best[passes / 2];
            printf("{\"matvec\":\"%s\",\"threads\":%d,\"weight_bytes\":%zu,\"ms_per_call\":%.3f,"
                   "\"gb_per_s\":%.3f}\n",
                   TYPES[k].name, threads, rows * row_bytes, ns / 1e6,
                   (double)(rows * row_bytes) / ns);
            fflush(stdout);
        }
        free(w);
        free(a);
        free(out);
    }
    return 0;
}
