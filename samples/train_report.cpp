#include "train_report.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <map>

#include <vkhalf/autograd.hpp>
#include <vkhalf/error.hpp>

void draw_progress(FILE* out, int epoch, long step, long steps, double images_per_s, double loss, double scale) {
    constexpr int kWidth = 30;
    const int filled = steps > 0 ? int(kWidth * step / steps) : 0;
    std::fprintf(out, "\r\033[Kepoch %2d [%.*s%.*s] %5ld/%ld  %8.0f img/s  loss %.4f  scale %g", epoch, filled,
                 "##############################", kWidth - filled, "..............................", step, steps,
                 images_per_s, loss, scale);
    std::fflush(out);
}

void print_step_profile(const vkhalf::Program& step) {
    double total = 0;
    std::map<std::string, double> by_op;
    for (const auto& t : step.profile()) by_op[t.label] += t.milliseconds, total += t.milliseconds;
    std::printf("profile of one step (GPU timestamps, %.3f ms in %zu dispatches):\n", total, step.dispatch_count());
    for (const auto& [label, ms] : by_op) std::printf("  %-48s %8.3f ms  %5.1f%%\n", label.c_str(), ms, 100 * ms / total);
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

void write_curves_svg(const std::string& path, const std::string& title, const std::string& x_label,
                      const std::vector<PlotPanel>& panels) {
    constexpr double kPanelW = 390, kPanelH = 280, kTop = 60, kGap = 120, kMargin = 60;
    const double width = kMargin + double(panels.size()) * (kPanelW + kGap) - kGap + 60, height = 380;
    std::ostringstream s;
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << title << "</text>\n";
    for (std::size_t panel = 0; panel < panels.size(); ++panel) {
        const PlotPanel& p = panels[panel];
        double lo = 1e300, hi = -1e300, xlo = 1e300, xhi = -1e300;
        for (const PlotCurve& c : p.curves)
            for (const auto& [x, y] : c.points)
                lo = std::min(lo, y), hi = std::max(hi, y), xlo = std::min(xlo, x), xhi = std::max(xhi, x);
        if (lo > hi) lo = 0, hi = 1, xlo = 0, xhi = 1;
        if (hi - lo < 1e-9) hi = lo + 1e-3;
        if (xhi - xlo < 1e-9) xlo -= 0.5, xhi += 0.5;
        const double pad = (hi - lo) * 0.08;
        lo -= pad, hi += pad;
        const double x0 = kMargin + double(panel) * (kPanelW + kGap), y0 = kTop;
        auto px = [&](double x) { return x0 + (x - xlo) / (xhi - xlo) * kPanelW; };
        auto py = [&](double v) { return y0 + kPanelH - (v - lo) / (hi - lo) * kPanelH; };
        s << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << kPanelW << "\" height=\"" << kPanelH
          << "\" fill=\"none\" stroke=\"#888\"/>\n";
        s << "<text x=\"" << x0 + kPanelW / 2 << "\" y=\"" << y0 - 10 << "\" text-anchor=\"middle\">" << p.name
          << "</text>\n";
        for (int t = 0; t <= 4; ++t) {  // ticks: five on each axis
            const double v = lo + (hi - lo) * t / 4, x = xlo + (xhi - xlo) * t / 4;
            s << "<text x=\"" << x0 - 6 << "\" y=\"" << py(v) + 4 << "\" text-anchor=\"end\" font-size=\"10\">"
              << std::round(v * 1000) / 1000 << "</text>\n";
            s << "<text x=\"" << px(x) << "\" y=\"" << y0 + kPanelH + 16 << "\" text-anchor=\"middle\" font-size=\"10\">"
              << std::round(x * 100) / 100 << "</text>\n";
        }
        for (std::size_t k = 0; k < p.curves.size(); ++k) {
            const PlotCurve& c = p.curves[k];
            s << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << c.color << "\" points=\"";
            for (const auto& [x, y] : c.points) s << px(x) << ',' << py(y) << ' ';
            s << "\"/>\n";
            s << "<text x=\"" << x0 + 8 << "\" y=\"" << y0 + 16 + 14 * double(k) << "\" fill=\"" << c.color << "\">"
              << c.name << "</text>\n";
        }
        s << "<text x=\"" << x0 + kPanelW / 2 << "\" y=\"" << y0 + kPanelH + 32 << "\" text-anchor=\"middle\">" << x_label
          << "</text>\n";
    }
    s << "</svg>\n";
    write_file(path, s.str());
}

void write_plot_svg(const std::string& path, const std::string& title, const std::vector<EpochRecord>& epochs) {
    auto curve = [&](const char* name, const char* color, double EpochRecord::*field) {
        PlotCurve c{name, color, {}};
        for (const auto& e : epochs) c.points.emplace_back(double(e.epoch), e.*field);
        return c;
    };
    write_curves_svg(path, title, "epoch",
                     {{"loss", {curve("train loss", "#1f77b4", &EpochRecord::train_loss),
                                curve("test loss", "#d62728", &EpochRecord::test_loss)}},
                      {"accuracy", {curve("train accuracy", "#1f77b4", &EpochRecord::train_accuracy),
                                    curve("test accuracy", "#d62728", &EpochRecord::test_accuracy)}}});
}
