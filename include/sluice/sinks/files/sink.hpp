// sl::files::json_lines_sink(dir, options) and sl::files::csv_sink(dir, options): the sinks
// and their descriptors. What they do is described at the top of sinks/files.hpp, the header
// to include.
#pragma once
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../../graph/pipe.hpp"
#include "format.hpp"
#include "staging.hpp"

namespace sluice::files {

// `sl::files::json_lines<T>(dir) | sl::files::json_lines_sink(out)`: neither operand is in
// namespace sluice, so argument-dependent lookup looks for operator| here.
using sluice::operator|;

// ---------------------------------------------------------------- the sinks
// The message a file sink's writer commits: the data files its partition wrote.
struct written_files {
  std::vector<committed_file> files;
};

namespace sink_impl {
// What both file sinks share: the partition-aware sink protocol (graph/plan.hpp). A writer per
// partition writes its rows into data files of its own (Derived::write_rows), at once with the
// other partitions' writers; the batch commits once, with one manifest entry listing every
// partition's files in partition order.
template <class Row, class Derived>
class partitioned_files {
 public:
  class writer {
   public:
    writer(Derived& sink, std::int64_t batch_id) : sink_(&sink), batch_id_(batch_id) {}
    writer(writer&&) noexcept = default;  // (a moved-from vector is empty: nothing to discard twice)
    writer& operator=(writer&&) = delete;
    ~writer() { sink_core::discard(files_); }  // neither committed nor aborted

    void write(std::span<const Row> rows) { sink_->write_rows(batch_id_, rows, files_); }
    written_files commit() { return {std::exchange(files_, {})}; }
    void abort() { sink_core::discard(std::exchange(files_, {})); }

   private:
    Derived* sink_;
    std::int64_t batch_id_;
    std::vector<committed_file> files_;  // written, not handed over yet
  };

  static constexpr bool supports(output_mode_kind mode) { return mode == output_mode_kind::append; }
  void start(const sink_context&) { core_.start(); }
  void add_batch(std::int64_t batch_id, std::span<const Row> rows) {
    sluice::write_partitions<Row>(static_cast<Derived&>(*this), batch_id, rows);
  }
  bool begin_batch(std::int64_t batch_id) { return core_.begin_batch(batch_id); }
  writer create_writer(std::int64_t batch_id, std::int64_t /*partition*/) {
    return writer(static_cast<Derived&>(*this), batch_id);
  }
  void commit_batch(std::int64_t batch_id, const std::vector<written_files>& messages) {
    std::vector<committed_file> files;
    for (const auto& m : messages) files.insert(files.end(), m.files.begin(), m.files.end());
    core_.commit_batch(batch_id, files);
  }
  void abort_batch(std::int64_t, const std::vector<written_files>& messages) {
    for (const auto& m : messages) sink_core::discard(m.files);
  }
  std::string description() const { return core_.description(); }
  const std::filesystem::path& directory() const { return core_.directory(); }

 protected:
  explicit partitioned_files(sink_core core) : core_(std::move(core)) {}
  sink_core core_;
};
}  // namespace sink_impl

template <class Row>
class json_lines_file_sink : public sink_impl::partitioned_files<Row, json_lines_file_sink<Row>> {
 public:
  json_lines_file_sink(std::filesystem::path dir, json_lines_sink_options options)
      : sink_impl::partitioned_files<Row, json_lines_file_sink>(
            sink_impl::sink_core(std::move(dir), ".jsonl", options.max_rows_per_file, options.delete_orphans)),
        options_(options) {}

  // One partition's rows into data files of batch `batch_id` (called by its writer).
  void write_rows(std::int64_t batch_id, std::span<const Row> rows, std::vector<committed_file>& out) {
    const bool ignore_nulls = options_.ignore_null_fields;
    this->core_.write_files(batch_id, rows.size(), {}, [&](std::string& text, std::size_t i) {
      sink_impl::append_json_row(text, rows[i], ignore_nulls);
      text += '\n';
    }, out);
  }

 private:
  json_lines_sink_options options_;
};

template <class Row>
class csv_file_sink : public sink_impl::partitioned_files<Row, csv_file_sink<Row>> {
 public:
  csv_file_sink(std::filesystem::path dir, csv_sink_options options)
      : sink_impl::partitioned_files<Row, csv_file_sink>(
            sink_impl::sink_core(std::move(dir), ".csv", options.max_rows_per_file, options.delete_orphans)),
        options_(std::move(options)) {
    if (options_.delimiter == '"' || options_.delimiter == '\n' || options_.delimiter == '\r')
      throw std::invalid_argument("sluice::files::csv_sink: the delimiter cannot be a quote, CR or LF");
    if constexpr (sink_impl::csv_writable_v<Row>)
      if (options_.header) header_ = sink_impl::csv_header_line<Row>(options_);
  }

  // One partition's rows into data files of batch `batch_id` (called by its writer).
  void write_rows(std::int64_t batch_id, std::span<const Row> rows, std::vector<committed_file>& out) {
    if constexpr (sink_impl::csv_writable_v<Row>) {  // else bind() has already said why not
      this->core_.write_files(batch_id, rows.size(), header_, [&](std::string& text, std::size_t i) {
        sink_impl::append_csv_row(text, rows[i], options_);
      }, out);
    }
  }

 private:
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
