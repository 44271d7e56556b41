/* Trains a small MLP on a synthetic four-class problem through vkhalf's C API. Exit status 0 when
 * the accuracy reaches 95%. */
#include <stdio.h>
#include <stdlib.h>

#include <vkhalf/vkhalf.h>

#define TRY(call)                                                            \
    do {                                                                     \
        if ((call) != VKH_OK) {                                              \
            fprintf(stderr, "vkhalf-c-consumer: %s\n", vkh_last_error());   \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

enum { COUNT = 1024, FEATURES = 64 };

int main(void) {
    static uint8_t pixels[COUNT * FEATURES], labels[COUNT];
    unsigned seed = 1;
    for (int i = 0; i < COUNT; ++i) {
        labels[i] = (uint8_t)(i % 4);
        for (int p = 0; p < FEATURES; ++p) {
            const int quadrant = (p / 8 >= 4) * 2 + (p % 8 >= 4);
            seed = seed * 1664525u + 1013904223u;
            pixels[i * FEATURES + p] = (uint8_t)((seed >> 24) % 80 + (quadrant == labels[i] ? 160 : 0));
        }
    }
    vkh_context ctx;
    vkh_dataset data;
    vkh_model model;
    vkh_trainer trainer;
    vkh_trainer_options options;
    vkh_device_info info;
    vkh_metrics m;
    TRY(vkh_context_create(NULL, &ctx));
    TRY(vkh_context_get_info(ctx, &info));
    TRY(vkh_dataset_create(ctx, pixels, labels, COUNT, FEATURES, 4, &data));
    TRY(vkh_model_create(&model));
    TRY(vkh_model_add_linear(model, FEATURES, 64));
    TRY(vkh_model_add_activation(model, VKH_RELU));
    TRY(vkh_model_add_linear(model, 64, 4));
    vkh_trainer_options_init(&options); /* fp16, AdamW, dynamic loss scaling */
    options.batch = 64;
    options.lr = 3e-3f;
    TRY(vkh_trainer_create(ctx, model, data, &options, &trainer));
    for (uint64_t epoch = 0; epoch < 4; ++epoch) {
        int64_t steps;
        TRY(vkh_trainer_steps_per_epoch(trainer, &steps));
        TRY(vkh_trainer_shuffle(trainer, epoch));
        for (int64_t s = 0; s < steps; ++s) TRY(vkh_trainer_step(trainer));
        TRY(vkh_trainer_metrics(trainer, 1, &m));
        printf("epoch %d: loss %.4f, accuracy %.3f, loss scale %g\n", (int)epoch + 1, m.mean_loss, m.accuracy,
               (double)m.loss_scale);
    }
    TRY(vkh_trainer_evaluate(trainer, data, &m));
    printf("vkhalf %s (C API) on %s: accuracy %.3f\n", vkh_version_string(), info.name, m.accuracy);
    vkh_trainer_free(trainer);
    vkh_model_free(model);
    vkh_dataset_free(data);
    vkh_context_free(ctx);
    return m.accuracy >= 0.95 ? 0 : 1;
}
