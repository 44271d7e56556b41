#pragma once
// What vkhalf-train shows and writes: the progress bar, epoch lines, the metrics CSV, the SVG plot.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace vkhalf {
class Program;
}

// Where one step's GPU time went (a profiled Program after a run), by kernel label.
void print_step_profile(const vkhalf::Program& step);

struct EpochRecord {
    int epoch = 0;
    double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
    double images_per_s = 0, seconds = 0;
    unsigned skipped = 0;
    double loss_scale = 0;
};

struct StepRecord {
    int epoch = 0;
    long step = 0;
    double loss = 0, accuracy = 0, loss_scale = 0;
};

// One line redrawn in place on a terminal: [#####.....] steps, images/s, running loss, scale.
void draw_progress(FILE* out, int epoch, long step, long steps, double images_per_s, double loss, double scale);
void clear_progress(FILE* out);

std::string epoch_line(const EpochRecord& r);

// CSV with a header; one row per epoch ("epoch") and per logged step interval ("step").
void write_metrics_csv(const std::string& path, const std::vector<EpochRecord>& epochs,
                       const std::vector<StepRecord>& steps);

// Curves in panels side by side, each panel scaled to its own data, as plain SVG.
struct PlotCurve {
    std::string name, color;
    std::vector<std::pair<double, double>> points;  // (x, y)
};
struct PlotPanel {
    std::string name;
    std::vector<PlotCurve> curves;
};
void write_curves_svg(const std::string& path, const std::string& title, const std::string& x_label,
                      const std::vector<PlotPanel>& panels);
// Atomically (a temporary file renamed over path); IoError on failure.
void write_file(const std::string& path, const std::string& text);

// Two panels (loss, accuracy) against epochs, train and test, drawn as plain SVG.
void write_plot_svg(const std::string& path, const std::string& title, const std::vector<EpochRecord>& epochs);
