#include "obs/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>

namespace herald::obs {

static_assert(std::atomic<double>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

namespace {

using detail::MetricType;

// A broken programming invariant: aborts a debug build, naming the metric;
// returns `ok` so that a release build can degrade instead.
bool invariant(bool ok, [[maybe_unused]] std::string_view metric,
               [[maybe_unused]] std::string_view problem) {
#ifndef NDEBUG
  if (!ok) {
    std::fprintf(stderr, "herald::obs: metric \"%.*s\": %.*s\n", static_cast<int>(metric.size()),
                 metric.data(), static_cast<int>(problem.size()), problem.data());
    std::abort();
  }
#endif
  return ok;
}

void atomic_add(std::atomic<double>& a, double d) {
#if defined(__cpp_lib_atomic_float)
  a.fetch_add(d, std::memory_order_relaxed);
#else
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + d, std::memory_order_relaxed)) {
  }
#endif
}

bool is_letter_or_underscore(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view name) {
  if (name.empty() || is_digit(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_letter_or_underscore(c) || is_digit(c) || c == ':'; });
}

// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved for Prometheus).
bool valid_label_name(std::string_view name) {
  if (name.empty() || is_digit(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_letter_or_underscore(c) || is_digit(c); });
}

// Everything the registry requires of a new family; each failure is reported.
bool check_family(std::string_view name, std::string_view help, MetricType type,
                  const std::vector<std::string>& label_names, const std::vector<double>& bounds) {
  bool ok = invariant(valid_metric_name(name), name, "not a valid metric name");
  ok = invariant(!help.empty(), name, "help text is empty") && ok;
  if (type != MetricType::kCounter) {
    bool reserved = false;
    for (std::string_view suffix : {"_total", "_bucket", "_sum", "_count"}) {
      reserved = reserved || name.ends_with(suffix);
    }
    ok = invariant(!reserved, name,
                   "only counters end in _total, and _bucket, _sum, _count are histogram "
                   "sample suffixes") &&
         ok;
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!valid_label_name(label)) {
      ok = invariant(false, name, "not a valid label name: \"" + label + "\"");
    }
    if (label == "le" || label == "quantile") {
      ok = invariant(false, name, "label \"" + label + "\" is reserved");
    }
    if (std::find(label_names.begin(), label_names.begin() + static_cast<std::ptrdiff_t>(i),
                  label) != label_names.begin() + static_cast<std::ptrdiff_t>(i)) {
      ok = invariant(false, name, "label \"" + label + "\" is repeated");
    }
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      ok = invariant(false, name, "bucket bounds must be finite and strictly increasing");
      break;
    }
  }
  return ok;
}

// The length of the valid UTF-8 sequence at s[i], or 0 if there is none (no
// overlong forms, surrogates or code points past U+10FFFF, as Go's
// utf8.ValidString judges, which Prometheus applies to label values).
size_t utf8_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < n || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

enum class Escape { kHelp, kLabelValue };

// Appends `text` escaped for a # HELP line (\\ and \n) or a label value (\\, \"
// and \n). Invalid UTF-8 becomes U+FFFD, one per bad byte, so that one odd
// value cannot make Prometheus reject the whole scrape.
void append_escaped(std::string& out, std::string_view text, Escape mode) {
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_length(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (n == 1) {
      char c = text[i];
      if (c == '\\') {
        out += "\\\\";
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '"' && mode == Escape::kLabelValue) {
        out += "\\\"";
      } else {
        out += c;
      }
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  std::to_chars_result r;
  // Every integer below 2^53 is exact, and Prometheus need not see "1e+06".
  if (std::fabs(v) < 9007199254740992.0 && std::trunc(v) == v) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
  } else {
    // Shortest round-trip %g: "0.0005", "2.5", "1e-07", "1.2345675e+06".
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  }
  out.append(buf, r.ptr);
}

void append_count(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// The i-th label value, or "" past the end (a release build's answer to a
// wrong number of values).
template <typename Value>
std::string_view value_at(std::span<const Value> values, size_t i) {
  return i < values.size() ? std::string_view(values[i]) : std::string_view();
}

// a="x",b="y": the label pairs of one series, without braces.
template <typename Value>
std::string render_labels(const std::vector<std::string>& names, std::span<const Value> values) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    append_escaped(out, value_at(values, i), Escape::kLabelValue);
    out += '"';
  }
  return out;
}

// The lookup key of a series: each value length-prefixed, so that no two
// different value lists share a key.
template <typename Value>
std::string series_key(size_t label_count, std::span<const Value> values) {
  std::string key;
  for (size_t i = 0; i < label_count; ++i) {
    std::string_view v = value_at(values, i);
    auto n = static_cast<uint32_t>(v.size());
    char prefix[sizeof n];
    std::memcpy(prefix, &n, sizeof n);
    key.append(prefix, sizeof n);
    key.append(v);
  }
  return key;
}

// name{labels,le="..."} then a space: the start of a sample line.
void append_series(std::string& out, std::string_view name, std::string_view suffix,
                   std::string_view labels, std::string_view le = {}) {
  out += name;
  out += suffix;
  if (!labels.empty() || !le.empty()) {
    out += '{';
    out += labels;
    if (!le.empty()) {
      if (!labels.empty()) out += ',';
      out += "le=\"";
      out += le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void render_series(std::string& out, const std::string& name, const std::string& labels,
                   const Counter& c, const std::vector<std::string>&) {
  append_series(out, name, "", labels);
  append_value(out, c.value());
  out += '\n';
}

void render_series(std::string& out, const std::string& name, const std::string& labels,
                   const Gauge& g, const std::vector<std::string>&) {
  append_series(out, name, "", labels);
  append_value(out, g.value());
  out += '\n';
}

void render_series(std::string& out, const std::string& name, const std::string& labels,
                   const Histogram& h, const std::vector<std::string>& les) {
  Histogram::Snapshot s = h.snapshot();
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    append_series(out, name, "_bucket", labels, i < les.size() ? les[i] : "+Inf");
    append_count(out, s.cumulative[i]);
    out += '\n';
  }
  append_series(out, name, "_sum", labels);
  append_value(out, s.sum);
  out += '\n';
  append_series(out, name, "_count", labels);
  append_count(out, s.count);
  out += '\n';
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// A gauge whose samples a callback computes at scrape time.
class CallbackFamily final : public detail::FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, std::vector<std::string> label_names,
                 std::function<std::vector<CallbackSample>()> collect)
      : FamilyBase(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names),
                   {}),
        collect_(std::move(collect)) {}

 private:
  void render(std::string& out) const override {
    std::vector<CallbackSample> samples = collect_ ? collect_() : std::vector<CallbackSample>{};
    render_header(out);
    for (const CallbackSample& sample : samples) {
      invariant(sample.label_values.size() == label_names_.size(), name_,
                "the callback returned a sample with the wrong number of label values");
      std::span<const std::string> values(sample.label_values);
      append_series(out, name_, "", render_labels(label_names_, values));
      append_value(out, sample.value);
      out += '\n';
    }
  }

  std::function<std::vector<CallbackSample>()> collect_;
};

}  // namespace

// --- series --------------------------------------------------------------

void Counter::inc(double by) {
  invariant(by >= 0, "(a counter)", "inc() by a negative amount or NaN");
  atomic_add(value_, by);
}

void Gauge::add(double d) { atomic_add(value_, d); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double v) {
  size_t i = bounds_.size();  // NaN: only the +Inf bucket, as client_golang does
  if (!std::isnan(v)) {
    i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  }
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.reserve(counts_.size());
  uint64_t running = 0;
  for (const auto& c : counts_) {
    running += c.load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  s.count = running;
  return s;
}

// --- families ------------------------------------------------------------

namespace detail {

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

void FamilyBase::render_header(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  append_escaped(out, help_, Escape::kHelp);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
}

}  // namespace detail

template <typename Series>
Series& Family<Series>::with(std::span<const std::string_view> label_values) {
  return find_or_create(label_values);
}

template <typename Series>
Series& Family<Series>::with(std::span<const std::string> label_values) {
  return find_or_create(label_values);
}

template <typename Series>
template <typename Value>
Series& Family<Series>::find_or_create(std::span<const Value> label_values) {
  invariant(label_values.size() == label_names_.size(), name_,
            "with() got a wrong number of label values");
  std::string key = series_key(label_names_.size(), label_values);
  {
    std::shared_lock lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) return *it->second;
  }
  std::unique_lock lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) return *it->second;  // created meanwhile
  std::unique_ptr<Series> series;
  if constexpr (std::is_same_v<Series, Histogram>) {
    series.reset(new Histogram(bounds_));
  } else {
    series.reset(new Series());
  }
  Series& result = *series;
  series_.push_back(Entry{render_labels(label_names_, label_values), std::move(series)});
  index_.emplace(std::move(key), &result);
  return result;
}

template <typename Series>
void Family<Series>::render(std::string& out) const {
  render_header(out);
  std::vector<std::string> les;  // histograms' le="..." values
  for (double bound : bounds_) les.push_back(format_value(bound));
  std::shared_lock lock(mutex_);
  for (const Entry& entry : series_) render_series(out, name_, entry.labels, *entry.series, les);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// --- registry ------------------------------------------------------------

Registry::Registry() = default;
Registry::~Registry() = default;

template <typename Series>
Family<Series>& Registry::add(std::string name, std::string help, MetricType type,
                              std::vector<std::string> label_names, std::vector<double> bounds) {
  bool ok = check_family(name, help, type, label_names, bounds);
  std::lock_guard lock(mutex_);
  if (ok) {
    if (auto it = families_.find(name); it != families_.end()) {
      auto* existing = dynamic_cast<Family<Series>*>(it->second.get());
      bool same = existing != nullptr && existing->type() == type &&
                  existing->label_names() == label_names && existing->bounds() == bounds;
      if (invariant(same, name, "registered again with a different type, labels or buckets")) {
        return *existing;
      }
      ok = false;
    }
  }
  auto family = std::unique_ptr<Family<Series>>(new Family<Series>(
      std::move(name), std::move(help), type, std::move(label_names), std::move(bounds)));
  Family<Series>& result = *family;
  if (result.label_names().empty()) result.with({});  // exported as 0 from the start
  if (ok) {
    families_.emplace(result.name(), std::move(family));
  } else {
    unexported_.push_back(std::move(family));
  }
  return result;
}

Family<Counter>& Registry::counter(std::string name, std::string help,
                                   std::vector<std::string> label_names) {
  if (!name.ends_with("_total")) name += "_total";
  return add<Counter>(std::move(name), std::move(help), MetricType::kCounter,
                      std::move(label_names), {});
}

Family<Gauge>& Registry::gauge(std::string name, std::string help,
                               std::vector<std::string> label_names) {
  return add<Gauge>(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names),
                    {});
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<std::string> label_names,
                                       std::vector<double> buckets) {
  if (!buckets.empty() && buckets.back() == std::numeric_limits<double>::infinity())
    buckets.pop_back();
  return add<Histogram>(std::move(name), std::move(help), MetricType::kHistogram,
                        std::move(label_names), std::move(buckets));
}

void Registry::gauge_callback(std::string name, std::string help,
                              std::vector<std::string> label_names,
                              std::function<std::vector<CallbackSample>()> collect) {
  bool ok = check_family(name, help, MetricType::kGauge, label_names, {});
  std::lock_guard lock(mutex_);
  ok = ok && invariant(!families_.contains(name), name, "a callback gauge's name is taken");
  if (!ok) return;  // release build: not exported
  auto family = std::make_unique<CallbackFamily>(std::move(name), std::move(help),
                                                 std::move(label_names), std::move(collect));
  families_.emplace(family->name(), std::move(family));
}

std::string Registry::render() const {
  // Families are never removed, so the pointers outlive the lock; callbacks
  // run without it.
  std::vector<const detail::FamilyBase*> families;
  {
    std::lock_guard lock(mutex_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  std::string out;
  for (const detail::FamilyBase* family : families) family->render(out);
  return out;
}

// --- helpers -------------------------------------------------------------

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string format_value(double v) {
  std::string out;
  append_value(out, v);
  return out;
}

}  // namespace herald::obs
