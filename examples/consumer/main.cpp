// Trains a small MLP on a synthetic four-class problem with vkhalf's C++ API, in fp16 with dynamic
// loss scaling, and checks that it learned. Exit status 0 when the accuracy reaches 95%.
#include <cstdio>
#include <random>
#include <vector>

#include <vkhalf/vkhalf.hpp>

int main() try {
    using namespace vkhalf;
    // 8x8 images, one bright quadrant per class, plus noise.
    const int64_t count = 1024, features = 64;
    std::vector<uint8_t> pixels(count * features), labels(count);
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> noise(0, 80);
    for (int64_t i = 0; i < count; ++i) {
        labels[i] = uint8_t(i % 4);
        for (int64_t p = 0; p < features; ++p) {
            const int quadrant = int(p / 8 >= 4) * 2 + int(p % 8 >= 4);
            pixels[i * features + p] = uint8_t(noise(rng) + (quadrant == labels[i] ? 160 : 0));
        }
    }

    Context ctx;  // the first suitable Vulkan device (VKHALF_DEVICE chooses another)
    const DeviceDataset data = DeviceDataset::upload(ctx, pixels, labels, count, features, 4);
    Sequential model;
    model.emplace<Linear>(features, 64).emplace<ReLU>().emplace<Linear>(64, 4);
    TrainerOptions options;  // fp16, AdamW, dynamic loss scaling
    options.batch = 64;
    options.optimizer.lr = 3e-3f;
    Trainer trainer(ctx, model, data, options);

    for (uint64_t epoch = 0; epoch < 4; ++epoch) {
        trainer.shuffle(epoch);
        for (int64_t s = 0; s < trainer.steps_per_epoch(); ++s) trainer.step();  // no host wait
        const Metrics m = trainer.metrics(/*reset=*/true);
        std::printf("epoch %llu: loss %.4f, accuracy %.3f, loss scale %g\n", (unsigned long long)epoch + 1,
                    m.mean_loss(), m.accuracy(), double(m.loss_scale));
    }
    const Metrics eval = trainer.evaluate(data);
    std::printf("vkhalf %s on %s: accuracy %.3f\n", VKHALF_VERSION_STRING, ctx.caps().name.c_str(), eval.accuracy());
    return eval.accuracy() >= 0.95 ? 0 : 1;
} catch (const vkhalf::Error& e) {
    std::fprintf(stderr, "vkhalf-consumer: %s\n", e.what());
    return 1;
}
