#include "modelslim/core/tune_report.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <spdlog/fmt/fmt.h>

namespace modelslim::core {
namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Fallback count (x) against the metric (y); green passed, red failed, the chosen one ringed.
std::string chart(const TuneReport& report) {
  std::vector<double> values;
  std::size_t max_fallback = 1;
  for (const auto& row : report.rows) {
    if (row.value) values.push_back(*row.value);
    max_fallback = std::max(max_fallback, row.fallback.size());
  }
  if (report.baseline) values.push_back(*report.baseline);
  if (report.threshold) values.push_back(*report.threshold);
  if (values.empty()) return "<p>No metric to chart.</p>";
  double lo = *std::min_element(values.begin(), values.end());
  double hi = *std::max_element(values.begin(), values.end());
  const double pad = std::max((hi - lo) * 0.1, std::abs(hi) * 1e-3 + 1e-9);
  lo -= pad;
  hi += pad;
  const double width = 640, height = 320, left = 70, right = 20, top = 24, bottom = 40;
  const auto x_of = [&](double f) {
    return left + f / static_cast<double>(max_fallback) * (width - left - right);
  };
  const auto y_of = [&](double v) { return top + (hi - v) / (hi - lo) * (height - top - bottom); };
  std::ostringstream svg;
  svg << fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">)",
      width, height);
  svg << fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#888"/>)", left, top,
                     width - left - right, height - top - bottom);
  for (std::size_t f = 0; f <= max_fallback; ++f) {
    svg << fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)",
                       x_of(static_cast<double>(f)), height - bottom + 16, f);
  }
  for (int i = 0; i <= 4; ++i) {
    const double v = lo + (hi - lo) * i / 4.0;
    svg << fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end">{:.4g}</text>)", left - 6, y_of(v) + 4,
                       v);
  }
  svg << fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">fallback count</text>)",
                     (left + width - right) / 2, height - 6);
  // The float label sits below its line at the left, the threshold's above at the right: they are often
  // close.
  const auto hline = [&](double v, const char* color, const char* dash, const std::string& label,
                         bool left_side) {
    svg << fmt::format(R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="{}" stroke-dasharray="{}"/>)",
                       left, width - right, y_of(v), y_of(v), color, dash);
    svg << fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="{}" fill="{}">{}</text>)",
                       left_side ? left + 4 : width - right - 4, left_side ? y_of(v) + 14 : y_of(v) - 4,
                       left_side ? "start" : "end", color, escape(label));
  };
  if (report.baseline) {
    hline(*report.baseline, "#2255cc", "none", fmt::format("float {:.5g}", *report.baseline), true);
  }
  if (report.threshold) {
    hline(*report.threshold, "#aa6600", "6,4", fmt::format("threshold {:.5g}", *report.threshold), false);
  }
  for (const auto& row : report.rows) {
    if (!row.value) continue;
    const double x = x_of(static_cast<double>(row.fallback.size()));
    const double y = y_of(*row.value);
    svg << fmt::format(
        R"(<circle cx="{:.1f}" cy="{:.1f}" r="5" fill="{}"><title>{}: {:.5g}</title></circle>)", x, y,
        row.passed ? "#22aa44" : "#cc2222", escape(row.id), *row.value);
    if (row.chosen) {
      svg << fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="9" fill="none" stroke="#000"/>)", x, y);
    }
  }
  svg << fmt::format(
      R"svg(<text x="14" y="{:.1f}" text-anchor="middle" transform="rotate(-90 14 {:.1f})">{}</text>)svg",
      (top + height - bottom) / 2, (top + height - bottom) / 2, escape(report.metric_label));
  svg << fmt::format(
      R"(<text x="{}" y="14" fill="#22aa44">● passed</text><text x="{}" y="14" fill="#cc2222">● failed</text>)"
      R"(<text x="{}" y="14">◯ saved</text>)",
      left, left + 70, left + 135);
  svg << "</svg>";
  return svg.str();
}

// The candidate's quantization warnings under its verdict.
std::string warnings_html(const std::vector<std::string>& warnings) {
  std::string html;
  for (const auto& warning : warnings)
    html += "<br><span class=\"warning\">warning: " + escape(warning) + "</span>";
  return html;
}

}  // namespace

std::string render_tune_report(const TuneReport& report) {
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << escape(report.title)
       << "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}tr.pass td.v{color:#1a7f37}"
          "tr.fail "
          "td.v{color:#c62828}tr.chosen{font-weight:bold}.warning{color:#b26a00}</style></head><body>\n";
  html << "<h1>" << escape(report.title) << "</h1>\n<p>Model: " << escape(report.model) << "</p>\n<p>"
       << escape(report.outcome) << "</p>\n";
  html << "<h2>Fallback count vs " << escape(report.metric_label) << "</h2>\n" << chart(report) << "\n";
  html << "<h2>Candidates</h2>\n<table><tr><th>#</th><th>candidate</th><th>outlier suppression</th>"
          "<th>fallback</th><th>result</th><th>source</th></tr>\n";
  for (std::size_t i = 0; i < report.rows.size(); ++i) {
    const ReportRow& row = report.rows[i];
    std::string fallback;
    for (const auto& name : row.fallback) fallback += (fallback.empty() ? "" : ", ") + name;
    html << "<tr class=\"" << (row.passed ? "pass" : "fail") << (row.chosen ? " chosen" : "") << "\"><td>"
         << i + 1 << "</td><td>" << escape(row.id) << (row.chosen ? " (saved)" : "") << "</td><td>"
         << escape(row.anti_outlier) << "</td><td>" << row.fallback.size()
         << (fallback.empty() ? "" : ": " + escape(fallback)) << "</td><td class=\"v\">"
         << escape(row.verdict) << warnings_html(row.warnings) << "</td><td>"
         << (row.cached ? "history" : fmt::format("evaluated {:.1f}s", row.seconds)) << "</td></tr>\n";
  }
  html << "</table>\n</body></html>\n";
  return html.str();
}

}  // namespace modelslim::core
