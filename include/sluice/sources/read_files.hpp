// Reading files once, into a std::vector (Spark's batch `spark.read.json(path)` /
// `spark.read.csv(path)`): what a static table is loaded from.
//
//   auto users = sl::static_table<User>(sl::files::read_json_lines_file<User>("users.jsonl"));
//   auto rates = sl::static_table<Rate>(sl::files::read_csv_file<Rate>("rates.csv", {.header = true}));
//   auto all   = sl::files::read_json_lines<User>("users/");  // every file of a directory
//
// Records are read exactly as the streaming file sources read them (sources/files.hpp): one
// JSON object per line, fields by name, blank lines skipped, std::optional fields may be
// absent or null; CSV by position or by header name; a UTF-8 byte order mark is skipped.
// A bad record throws sl::files::bad_record_error ("file:line: reason"), or is skipped and
// counted with `.on_bad_record = sl::files::bad_record::skip`.
// (A table written by a file sink is read with sl::files::read_committed_json_lines<T>(dir),
// which reads only the files its manifests list.)
#pragma once
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../schema.hpp"
#include "files/bad_records.hpp"
#include "files/listing.hpp"
#include "files/parallel.hpp"
#include "files/parse.hpp"
#include "files/reader.hpp"

namespace sluice::files {

struct read_options {
  bad_record on_bad_record = bad_record::fail;          // fail (throw bad_record_error) or skip
  std::size_t max_line_bytes = default_max_line_bytes;  // a longer line is a bad record
  std::int64_t* skipped = nullptr;                      // if set, incremented per skipped record
  // Threads decoding a file of 1 MiB or more (as json_lines_options::decode_threads):
  // 0 = one per core, at most 8; 1 = the calling thread only.
  std::size_t decode_threads = 0;
};

struct read_csv_options {
  bool header = false;  // the first line names the columns, matched to fields by name
  char delimiter = ',';
  char quote = '"';
  bad_record on_bad_record = bad_record::fail;
  std::size_t max_line_bytes = default_max_line_bytes;
  std::int64_t* skipped = nullptr;
};

namespace detail {
// decode_threads as read_options has it: a large JSON-lines file's lines are decoded in
// parallel (files/parallel.hpp, read_lines_in_parallel).
template <class T, class Parser>
void read_records(const std::filesystem::path& file, std::optional<sluice::detail::csv::dialect> dialect, Parser& parser,
                  bad_record policy, std::size_t max_line_bytes, std::int64_t* skipped, std::vector<T>& out,
                  std::size_t decode_threads = 1) {
  struct ::stat st {};
  if (::stat(file.c_str(), &st) != 0)
    throw std::runtime_error("sluice::files: cannot read " + file.string() + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("sluice::files: " + file.string() + " is not a regular file");
  const std::string display = file.string();
  const auto size = static_cast<std::int64_t>(st.st_size);
  constexpr bool json_lines = std::is_same_v<Parser, json_lines_parser<T>>;  // cut at any '\n'
  const std::size_t threads = json_lines ? decode_threads_for(decode_threads, size) : 1;
  record_reader reader(file, size, max_line_bytes, dialect, decode_block_bytes(threads));
  auto bad = [&](std::int64_t line, std::string reason) {
    shorten(reason);
    if (policy == bad_record::fail) throw bad_record_error(display, line, std::move(reason));
    if (skipped) ++*skipped;
  };
  auto oversize = [&](std::int64_t line, std::size_t total) {
    bad(line, "line of " + std::to_string(total) + " bytes is longer than max_line_bytes (" +
                  std::to_string(max_line_bytes) + ")");
  };
  std::string reason;
  T row{};
  auto read_record = [&](record_reader::record& r) {
    if (r.oversize) {
      std::size_t total = r.bytes.size();
      reader.finish_oversize([&](std::string_view chunk) { total += chunk.size(); });
      oversize(r.line, total);
      return;
    }
    switch (parser.parse(r.bytes, r.line, row, reason)) {
      case parse_result::row: out.push_back(std::move(row)); break;
      case parse_result::ignored: break;
      case parse_result::bad: bad(r.line, std::move(reason)); break;
    }
  };
  if constexpr (json_lines) {
    if (threads > 1) {
      read_lines_in_parallel<T>(
          reader, threads, max_line_bytes, policy == bad_record::fail, parser,
          [] { return std::make_unique<Parser>(); }, read_record, [&](T&& r) { out.push_back(std::move(r)); },
          [&](std::int64_t line, bool too_long, std::string&& why, std::string_view bytes) {
            if (too_long) oversize(line, bytes.size());
            else bad(line, std::move(why));
          });
      return;
    }
  }
  record_reader::record r;
  while (reader.next(r)) read_record(r);
}

inline void check_read_options(std::size_t max_line_bytes) {
  if (max_line_bytes == 0) throw std::invalid_argument("sluice::files::read: max_line_bytes must be positive");
}

// Regular files of `dir` matching `glob`, hidden names excluded, in name order.
inline std::vector<std::filesystem::path> files_to_read(const std::filesystem::path& dir, const std::string& glob) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw std::runtime_error("sluice::files: " + dir.string() + " is not a directory");
  auto entries = list_directory(dir, glob, [](const std::string&) { return false; });
  std::vector<std::filesystem::path> out;
  for (auto& e : entries) out.push_back(dir / e.name);
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace detail

// Every record of one JSON-lines file, in file order.
template <class T>
std::vector<T> read_json_lines_file(const std::filesystem::path& file, read_options options = {}) {
  static_assert(record<T>, "sluice::files::read_json_lines_file<T>: T must be a struct described with "
                           "BOOST_DESCRIBE_STRUCT");
  detail::check_read_options(options.max_line_bytes);
  std::vector<T> out;
  detail::json_lines_parser<T> parser;
  detail::read_records(file, std::nullopt, parser, options.on_bad_record, options.max_line_bytes, options.skipped, out,
                       options.decode_threads);
  return out;
}

// Every record of the JSON-lines files of `dir` whose names match `glob` (names starting with
// '.' or '_' excluded), files in name order.
template <class T>
std::vector<T> read_json_lines(const std::filesystem::path& dir, const std::string& glob = "*", read_options options = {}) {
  static_assert(record<T>, "sluice::files::read_json_lines<T>: T must be a struct described with BOOST_DESCRIBE_STRUCT");
  detail::check_read_options(options.max_line_bytes);
  std::vector<T> out;
  for (const auto& f : detail::files_to_read(dir, glob)) {
    detail::json_lines_parser<T> parser;
    detail::read_records(f, std::nullopt, parser, options.on_bad_record, options.max_line_bytes, options.skipped, out,
                         options.decode_threads);
  }
  return out;
}

// Every record of one CSV file, in file order.
template <class T>
std::vector<T> read_csv_file(const std::filesystem::path& file, read_csv_options options = {}) {
  static_assert(record<T>, "sluice::files::read_csv_file<T>: T must be a struct described with BOOST_DESCRIBE_STRUCT");
  if constexpr (record<T>) {
    static_assert(detail::csv_columns_supported<T>(),
                  "sluice::files::read_csv_file<T>: CSV columns must be numbers, bool, std::string, sl::timestamp or "
                  "std::optional of those (CSV has no nested values)");
  }
  detail::check_read_options(options.max_line_bytes);
  if (options.delimiter == options.quote)
    throw std::invalid_argument("sluice::files::read_csv_file: delimiter and quote must differ");
  const sluice::detail::csv::dialect d{options.delimiter, options.quote};
  std::vector<T> out;
  detail::csv_parser<T> parser(d, options.header);
  detail::read_records(file, d, parser, options.on_bad_record, options.max_line_bytes, options.skipped, out);
  return out;
}

}  // namespace sluice::files
