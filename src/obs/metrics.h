#pragma once
// Herald's metrics registry: counters, gauges, histograms and gauges computed
// at scrape time, rendered in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Families are registered once, at start-up. A hot path looks its series up
// once with Family::with() and keeps the reference; every update after that is
// a single relaxed atomic operation, with no lock.
//
// Metric names, label names and label counts are programming invariants, not
// input: a wrong one aborts a debug build with a message naming the metric. A
// release build degrades instead of failing the scrape: a family whose
// registration breaks an invariant still works for its caller but is not
// exported, and a with() call with the wrong number of values drops the extra
// ones or fills in "".
//
// Beyond Prometheus' grammar, names are held to the conventions `promtool
// check metrics` enforces and that keep every sample name unambiguous:
// counters end in `_total` (added if missing), no other family ends in
// `_total`, `_bucket`, `_sum` or `_count`, and the labels `le` and `quantile`
// are reserved. Units ("_seconds", "_bytes") are the caller's business.

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace herald::obs {

template <typename Series>
class Family;
class Registry;

// A count that only goes up (requests served, certificates issued).
class Counter {
 public:
  // Adds `by`, which must be >= 0 (a counter never decreases).
  void inc(double by = 1.0);
  [[nodiscard]] double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  template <typename>
  friend class Family;
  Counter() = default;

  std::atomic<double> value_{0.0};
};

// A value that goes up and down (connections open, queue depth).
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  // Adds `d` (negative to subtract).
  void add(double d);
  [[nodiscard]] double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  template <typename>
  friend class Family;
  Gauge() = default;

  std::atomic<double> value_{0.0};
};

// A distribution over fixed buckets (request latency): rendered as cumulative
// `_bucket{le="..."}` counts ending with le="+Inf", then `_sum` and `_count`.
class Histogram {
 public:
  // A consistent-enough read of the histogram: `count` is always the +Inf
  // bucket, even while other threads observe; `sum` may trail by in-flight
  // observations.
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per upper bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };

  // Counts `v` in the first bucket whose upper bound is >= v (NaN: only +Inf).
  void observe(double v);
  [[nodiscard]] Snapshot snapshot() const;

 private:
  template <typename>
  friend class Family;
  explicit Histogram(std::vector<double> bounds);

  std::vector<double> bounds_;                 // finite, strictly increasing
  std::vector<std::atomic<uint64_t>> counts_;  // per bucket (not cumulative); last is +Inf
  std::atomic<double> sum_{0.0};
};

namespace detail {

enum class MetricType { kCounter, kGauge, kHistogram };

// What every family has: the registry keeps them by name and renders them.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names, std::vector<double> bounds);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] MetricType type() const { return type_; }
  [[nodiscard]] const std::vector<std::string>& label_names() const { return label_names_; }
  // Histogram upper bounds without +Inf; empty for other types.
  [[nodiscard]] const std::vector<double>& bounds() const { return bounds_; }

 protected:
  friend class herald::obs::Registry;
  // Appends the # HELP and # TYPE lines and every sample.
  virtual void render(std::string& out) const = 0;
  void render_header(std::string& out) const;

  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
};

}  // namespace detail

// All series of one metric, one per combination of label values.
template <typename Series>
class Family final : public detail::FamilyBase {
 public:
  // The series for these label values (one per label name, in order), created
  // on first use. The reference stays valid for the registry's lifetime, so a
  // hot path looks it up once and keeps it. A family without labels has its one
  // series from the start: with({}).
  Series& with(std::initializer_list<std::string_view> label_values) {
    return with(std::span<const std::string_view>(label_values.begin(), label_values.size()));
  }
  Series& with(std::span<const std::string_view> label_values);
  Series& with(std::span<const std::string> label_values);

 private:
  friend class Registry;
  Family(std::string name, std::string help, detail::MetricType type,
         std::vector<std::string> label_names, std::vector<double> bounds)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names),
                   std::move(bounds)) {}
  template <typename Value>
  Series& find_or_create(std::span<const Value> label_values);
  void render(std::string& out) const override;

  struct Entry {
    std::string labels;  // rendered: a="x",b="y" (no braces)
    std::unique_ptr<Series> series;
  };
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, Series*> index_;  // by length-prefixed label values
  std::vector<Entry> series_;                       // creation order
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// One sample a callback gauge reports at scrape time.
struct CallbackSample {
  std::vector<std::string> label_values;  // one per label name, in order
  double value = 0;
};

// The metrics of one process, and their text exposition. Thread-safe.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family, or returns the one already registered under this name
  // with the same type and labels (and, for histograms, buckets); the first
  // registration's help text is kept. A counter's name gets "_total" appended
  // unless it ends in it already, so counter("x") and counter("x_total") are
  // one family. Help must not be empty.
  Family<Counter>& counter(std::string name, std::string help,
                           std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(std::string name, std::string help,
                       std::vector<std::string> label_names = {});
  // `buckets` are the finite upper bounds, strictly increasing; a trailing
  // +Inf is accepted and dropped (it is always rendered).
  Family<Histogram>& histogram(std::string name, std::string help,
                               std::vector<std::string> label_names, std::vector<double> buckets);

  // A gauge computed at scrape time ("certificates expiring within 7 days",
  // "CRL age"): render() calls `collect` without holding the registry's lock,
  // possibly from several threads at once, and renders the samples it returns
  // in that order. The label value sets must be distinct; `collect` must not
  // throw. The name must not be registered already.
  void gauge_callback(std::string name, std::string help, std::vector<std::string> label_names,
                      std::function<std::vector<CallbackSample>()> collect);

  // The text exposition (Content-Type: text/plain; version=0.0.4): families
  // sorted by name, each with # HELP and # TYPE, series in creation order.
  [[nodiscard]] std::string render() const;

 private:
  template <typename Series>
  Family<Series>& add(std::string name, std::string help, detail::MetricType type,
                      std::vector<std::string> label_names, std::vector<double> bounds);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<detail::FamilyBase>, std::less<>> families_;
  // Release builds only: families whose registration broke an invariant. They
  // work for their callers but are never rendered.
  std::vector<std::unique_ptr<detail::FamilyBase>> unexported_;
};

// Default latency buckets in seconds: 0.5 ms .. 10 s.
[[nodiscard]] std::vector<double> latency_buckets();

// A sample value as the exposition writes it: integers below 2^53 without an
// exponent ("42", "1000000"), others in the shortest form that reads back
// exactly, with an exponent below 1e-4 and from 1e6 as client_golang writes
// them ("0.0005", "2.5", "1e-07", "1.2345675e+06"), and "+Inf", "-Inf", "NaN".
[[nodiscard]] std::string format_value(double v);

}  // namespace herald::obs
