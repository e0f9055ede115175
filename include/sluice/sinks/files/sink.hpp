// sl::files::json_lines_sink(dir, options) and sl::files::csv_sink(dir, options): the sinks
// and their descriptors. What they do is described at the top of sinks/files.hpp, the header
// to include.
#pragma once
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "../../graph/pipe.hpp"
#include "format.hpp"
#include "staging.hpp"

namespace sluice::files {

// `sl::files::json_lines<T>(dir) | sl::files::json_lines_sink(out)`: neither operand is in
// namespace sluice, so argument-dependent lookup looks for operator| here.
using sluice::operator|;

// ---------------------------------------------------------------- the sinks
template <class Row>
class json_lines_file_sink {
 public:
  json_lines_file_sink(std::filesystem::path dir, json_lines_sink_options options)
      : core_(std::move(dir), ".jsonl", options.max_rows_per_file, options.delete_orphans), options_(options) {}

  static constexpr bool supports(output_mode_kind mode) { return mode == output_mode_kind::append; }
  void start(const sink_context&) { core_.start(); }
  void add_batch(std::int64_t batch_id, std::span<const Row> rows) {
    const bool ignore_nulls = options_.ignore_null_fields;
    core_.write_batch(batch_id, rows.size(), {}, [&](std::string& out, std::size_t i) {
      sink_impl::append_json_row(out, rows[i], ignore_nulls);
      out += '\n';
    });
  }
  std::string description() const { return core_.description(); }
  const std::filesystem::path& directory() const { return core_.directory(); }

 private:
  sink_impl::sink_core core_;
  json_lines_sink_options options_;
};

template <class Row>
class csv_file_sink {
 public:
  csv_file_sink(std::filesystem::path dir, csv_sink_options options)
      : core_(std::move(dir), ".csv", options.max_rows_per_file, options.delete_orphans),
        options_(std::move(options)) {
    if (options_.delimiter == '"' || options_.delimiter == '\n' || options_.delimiter == '\r')
      throw std::invalid_argument("sluice::files::csv_sink: the delimiter cannot be a quote, CR or LF");
    if constexpr (sink_impl::csv_writable_v<Row>)
      if (options_.header) header_ = sink_impl::csv_header_line<Row>(options_);
  }

  static constexpr bool supports(output_mode_kind mode) { return mode == output_mode_kind::append; }
  void start(const sink_context&) { core_.start(); }
  void add_batch(std::int64_t batch_id, std::span<const Row> rows) {
    if constexpr (sink_impl::csv_writable_v<Row>) {  // else bind() has already said why not
      core_.write_batch(batch_id, rows.size(), header_, [&](std::string& out, std::size_t i) {
        sink_impl::append_csv_row(out, rows[i], options_);
      });
    }
  }
  std::string description() const { return core_.description(); }
  const std::filesystem::path& directory() const { return core_.directory(); }

 private:
  sink_impl::sink_core core_;
  csv_sink_options options_;
  std::string header_;
};

struct json_lines_sink_t {
  using is_sink_descriptor = void;
  std::filesystem::path dir;
  json_lines_sink_options options;
  template <class Row>
  auto bind() && {
    return json_lines_file_sink<Row>(std::move(dir), options);
  }
};

struct csv_sink_t {
  using is_sink_descriptor = void;
  std::filesystem::path dir;
  csv_sink_options options;
  // (auto: the assertions below are the first error, at the `|`.)
  template <class Row>
  auto bind() && {
    static_assert(!sink_impl::csv_has_struct_v<Row>,
                  "sluice::files::csv_sink: CSV cannot hold struct columns such as window; flatten them with "
                  "sl::select (e.g. sl::expr<\"window_start\">([](const auto& r) { return "
                  "sl::get<\"window\">(r).start; })) or write JSON lines");
    static_assert(!sink_impl::csv_has_array_v<Row>,
                  "sluice::files::csv_sink: CSV cannot hold array columns (std::vector); flatten them with "
                  "sl::flat_map or write JSON lines");
    // (only when neither of the above said why: one error)
    static_assert(sink_impl::csv_writable_v<Row> || sink_impl::csv_has_struct_v<Row> || sink_impl::csv_has_array_v<Row>,
                  "sluice::files::csv_sink: unsupported column type (CSV holds numbers, bool, std::string, "
                  "sl::timestamp and std::optional of them)");
    return csv_file_sink<Row>(std::move(dir), std::move(options));
  }
};

// Writes each batch as JSON lines files in `dir` (see the top of sinks/files.hpp).
inline json_lines_sink_t json_lines_sink(std::filesystem::path dir, json_lines_sink_options options = {}) {
  return {std::move(dir), options};
}
// Writes each batch as CSV files in `dir` (see the top of sinks/files.hpp).
inline csv_sink_t csv_sink(std::filesystem::path dir, csv_sink_options options = {}) {
  return {std::move(dir), std::move(options)};
}

}  // namespace sluice::files
