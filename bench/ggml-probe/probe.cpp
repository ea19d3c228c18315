// whisper.cpp build probe for scripts/bench-ggml.sh: one whisper_full() over a 16 kHz mono
// 16-bit WAV with whisper.cpp's defaults (greedy, 30 s window: the floor Hark's benchmarks use),
// RUNS times after one warm-up, then one line of figures:
//   wall_ms=<median> encode_ms=<per window> decode_ms=<per token> tokens=<n> text=<...>
// It links the whisper.cpp that whisper-rs-sys vendors, built with the CMake flags under test,
// so a build setting (llamafile's kernels, BLAS, flash attention, a quantized model) is measured
// on its own, without a Rust build per setting.
//
//   probe MODEL WAV THREADS RUNS [flash]
#include "whisper.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static bool read_wav(const char *path, std::vector<float> &pcm) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    std::vector<unsigned char> bytes;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
    fclose(f);
    // Walk the RIFF chunks to "data"; only 16 kHz mono 16-bit PCM is accepted.
    if (bytes.size() < 12 || memcmp(bytes.data(), "RIFF", 4) || memcmp(bytes.data() + 8, "WAVE", 4)) return false;
    size_t at = 12;
    bool format_ok = false;
    while (at + 8 <= bytes.size()) {
        uint32_t len;
        memcpy(&len, bytes.data() + at + 4, 4);
        const unsigned char *body = bytes.data() + at + 8;
        if (!memcmp(bytes.data() + at, "fmt ", 4) && len >= 16) {
            uint16_t format, channels, bits;
            uint32_t rate;
            memcpy(&format, body, 2), memcpy(&channels, body + 2, 2), memcpy(&rate, body + 4, 4), memcpy(&bits, body + 14, 2);
            format_ok = format == 1 && channels == 1 && rate == 16000 && bits == 16;
        } else if (!memcmp(bytes.data() + at, "data", 4)) {
            size_t samples = std::min<size_t>(len, bytes.size() - (at + 8)) / 2;
            pcm.resize(samples);
            for (size_t i = 0; i < samples; i++) {
                int16_t s;
                memcpy(&s, body + 2 * i, 2);
                pcm[i] = s / 32768.0f;
            }
            return format_ok;
        }
        at += 8 + len + (len & 1);
    }
    return false;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: probe MODEL WAV THREADS RUNS [flash]\n");
        return 2;
    }
    std::vector<float> pcm;
    if (!read_wav(argv[2], pcm)) {
        fprintf(stderr, "probe: %s is not a 16 kHz mono 16-bit WAV\n", argv[2]);
        return 2;
    }
    const int threads = atoi(argv[3]), runs = std::max(1, atoi(argv[4]));
    whisper_context_params cp = whisper_context_default_params();
    cp.use_gpu = false;
    cp.flash_attn = argc > 5 && !strcmp(argv[5], "flash");
    whisper_context *ctx = whisper_init_from_file_with_params(argv[1], cp);
    if (!ctx) {
        fprintf(stderr, "probe: whisper.cpp could not load %s\n", argv[1]);
        return 2;
    }
    whisper_full_params p = whisper_full_default_params(WHISPER_SAMPLING_GREEDY);
    p.n_threads = threads;
    p.language = "en";
    p.print_progress = p.print_realtime = p.print_timestamps = p.print_special = false;
    std::vector<double> walls;
    whisper_timings t{};
    int tokens = 0;
    for (int run = 0; run <= runs; run++) {
        whisper_reset_timings(ctx);
        const auto t0 = std::chrono::steady_clock::now();
        if (whisper_full(ctx, p, pcm.data(), (int)pcm.size()) != 0) {
            fprintf(stderr, "probe: whisper_full failed\n");
            return 1;
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (run == 0) continue;  // the warm-up
        walls.push_back(ms);
        whisper_timings *got = whisper_get_timings(ctx);
        t = *got;
        delete got;
    }
    // whisper_get_timings gives averages per encoder window and per decoded token.
    std::sort(walls.begin(), walls.end());
    std::string text;
    for (int s = 0; s < whisper_full_n_segments(ctx); s++) {
        tokens += whisper_full_n_tokens(ctx, s);
        text += whisper_full_get_segment_text(ctx, s);
    }
    for (char &c : text) if (c == '\n' || c == '\t') c = ' ';
    printf("wall_ms=%.0f encode_ms=%.1f decode_ms=%.2f tokens=%d text=%s\n", walls[walls.size() / 2], t.encode_ms,
           t.decode_ms, tokens, text.c_str());
    whisper_free(ctx);
    return 0;
}
