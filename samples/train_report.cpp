#include "train_report.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <vkhalf/error.hpp>

void draw_progress(FILE* out, int epoch, long step, long steps, double images_per_s, double loss, double scale) {
    constexpr int kWidth = 30;
    const int filled = steps > 0 ? int(kWidth * step / steps) : 0;
    std::fprintf(out, "\r\033[Kepoch %2d [%.*s%.*s] %5ld/%ld  %8.0f img/s  loss %.4f  scale %g", epoch, filled,
                 "##############################", kWidth - filled, "..............................", step, steps,
                 images_per_s, loss, scale);
    std::fflush(out);
}

void clear_progress(FILE* out) {
    std::fprintf(out, "\r\033[K");
    std::fflush(out);
}

std::string epoch_line(const EpochRecord& r) {
    char line[320];
    std::snprintf(line, sizeof line,
                  "epoch %2d  train loss %.4f acc %.4f | test loss %.4f acc %.4f | %7.0f img/s | skipped %u | "
                  "loss scale %g | %.1f s",
                  r.epoch, r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.images_per_s, r.skipped,
                  r.loss_scale, r.seconds);
    return line;
}

namespace {

void write_file(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw vkhalf::IoError(path + ": cannot open for writing");
        f << text;
        if (!f.flush()) throw vkhalf::IoError(path + ": write failed");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw vkhalf::IoError(path + ": cannot rename " + tmp);
}

} // namespace

void write_metrics_csv(const std::string& path, const std::vector<EpochRecord>& epochs,
                       const std::vector<StepRecord>& steps) {
    std::ostringstream s;
    s << "kind,epoch,step,train_loss,train_accuracy,test_loss,test_accuracy,images_per_s,skipped_steps,loss_scale,"
         "seconds\n";
    for (const auto& st : steps)
        s << "step," << st.epoch << ',' << st.step << ',' << st.loss << ',' << st.accuracy << ",,,,," << st.loss_scale
          << ",\n";
    for (const auto& e : epochs)
        s << "epoch," << e.epoch << ",," << e.train_loss << ',' << e.train_accuracy << ',' << e.test_loss << ','
          << e.test_accuracy << ',' << e.images_per_s << ',' << e.skipped << ',' << e.loss_scale << ',' << e.seconds
          << '\n';
    write_file(path, s.str());
}

void write_plot_svg(const std::string& path, const std::string& title, const std::vector<EpochRecord>& epochs) {
    constexpr double kW = 900, kH = 380, kPanelW = 390, kPanelH = 280, kTop = 60, kLeft[2] = {60, 510};
    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << kW / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << title << "</text>\n";
    const int n = int(epochs.size());
    struct Series {
        const char* name;
        const char* color;
        double EpochRecord::*field;
    };
    const Series loss[] = {{"train loss", "#1f77b4", &EpochRecord::train_loss}, {"test loss", "#d62728", &EpochRecord::test_loss}};
    const Series acc[] = {{"train accuracy", "#1f77b4", &EpochRecord::train_accuracy},
                          {"test accuracy", "#d62728", &EpochRecord::test_accuracy}};
    for (int panel = 0; panel < 2; ++panel) {
        const Series* series = panel == 0 ? loss : acc;
        double lo = 1e300, hi = -1e300;
        for (const auto& e : epochs)
            for (int k = 0; k < 2; ++k) lo = std::min(lo, e.*series[k].field), hi = std::max(hi, e.*series[k].field);
        if (n == 0) lo = 0, hi = 1;
        if (hi - lo < 1e-9) hi = lo + 1e-3;
        const double pad = (hi - lo) * 0.08;
        lo -= pad, hi += pad;
        const double x0 = kLeft[panel], y0 = kTop;
        auto px = [&](double i) { return x0 + (n > 1 ? i / (n - 1) : 0.5) * kPanelW; };
        auto py = [&](double v) { return y0 + kPanelH - (v - lo) / (hi - lo) * kPanelH; };
        s << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << kPanelW << "\" height=\"" << kPanelH
          << "\" fill=\"none\" stroke=\"#888\"/>\n";
        s << "<text x=\"" << x0 + kPanelW / 2 << "\" y=\"" << y0 - 10 << "\" text-anchor=\"middle\">"
          << (panel == 0 ? "loss" : "accuracy") << "</text>\n";
        for (int t = 0; t <= 4; ++t) {  // y ticks
            const double v = lo + (hi - lo) * t / 4;
            s << "<text x=\"" << x0 - 6 << "\" y=\"" << py(v) + 4 << "\" text-anchor=\"end\" font-size=\"10\">"
              << std::round(v * 1000) / 1000 << "</text>\n";
        }
        for (int i = 0; i < n; ++i)  // x ticks: epochs
            s << "<text x=\"" << px(i) << "\" y=\"" << y0 + kPanelH + 16 << "\" text-anchor=\"middle\" font-size=\"10\">"
              << epochs[std::size_t(i)].epoch << "</text>\n";
        for (int k = 0; k < 2; ++k) {
            s << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << series[k].color << "\" points=\"";
            for (int i = 0; i < n; ++i) s << px(i) << ',' << py(epochs[std::size_t(i)].*series[k].field) << ' ';
            s << "\"/>\n";
            s << "<text x=\"" << x0 + 8 << "\" y=\"" << y0 + 16 + 14 * k << "\" fill=\"" << series[k].color << "\">"
              << series[k].name << "</text>\n";
        }
        s << "<text x=\"" << x0 + kPanelW / 2 << "\" y=\"" << y0 + kPanelH + 32 << "\" text-anchor=\"middle\">epoch</text>\n";
    }
    s << "</svg>\n";
    write_file(path, s.str());
}
