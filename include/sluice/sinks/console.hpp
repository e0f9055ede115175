// sl::console(): prints each batch as Spark's console sink does:
//   -------------------------------------------
//   Batch: 0
//   -------------------------------------------
//   +----------+-----------+
//   |event_type|event_count|
//   +----------+-----------+
//   |     click|          3|
//   +----------+-----------+
// Options: num_rows (20), truncate (cells over 20 characters are cut and right-aligned, as
// Spark's truncate=true; false prints them whole and left-aligned), and the output stream.
#pragma once
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "../codec/format.hpp"
#include "../schema.hpp"
#include "../graph/plan.hpp"

namespace sluice {

struct console_options {
  std::size_t num_rows = 20;
  bool truncate = true;
  std::ostream* out = nullptr;  // std::cout when null
};

namespace detail {
inline std::string truncate_cell(std::string s, bool truncate) {
  constexpr std::size_t limit = 20;
  if (!truncate || text_width(s) <= limit) return s;
  // cut on a code point boundary
  std::size_t bytes = 0, points = 0;
  while (bytes < s.size() && points < limit - 3) {
    ++bytes;
    while (bytes < s.size() && (static_cast<unsigned char>(s[bytes]) & 0xC0) == 0x80) ++bytes;
    ++points;
  }
  return s.substr(0, bytes) + "...";
}

// Spark's Dataset.showString for a header and cells.
inline std::string show_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                              bool truncate, bool has_more, std::size_t num_rows) {
  std::vector<std::size_t> width(header.size(), 3);
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = std::max(width[c], text_width(header[c]));
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], text_width(r[c]));
  auto pad = [&](const std::string& s, std::size_t w) {
    const std::string fill(w - text_width(s), ' ');
    return truncate ? fill + s : s + fill;
  };
  std::string sep = "+";
  for (auto w : width) sep += std::string(w, '-') + "+";
  sep += "\n";
  std::string out = sep + "|";
  for (std::size_t c = 0; c < header.size(); ++c) out += pad(header[c], width[c]) + "|";
  out += "\n" + sep;
  for (const auto& r : rows) {
    out += "|";
    for (std::size_t c = 0; c < r.size(); ++c) out += pad(r[c], width[c]) + "|";
    out += "\n";
  }
  out += sep;
  if (has_more) out += "only showing top " + std::to_string(num_rows) + " row" + (num_rows == 1 ? "" : "s") + "\n";
  return out;
}

template <class Row>
struct console_sink {
  console_options options;
  void add_batch(std::int64_t batch_id, std::span<const Row> rows) {
    std::vector<std::string> header;
    if constexpr (record<Row>) {
      for (auto name : column_names<Row>) header.emplace_back(name);
    } else {
      header.emplace_back("value");
    }
    std::vector<std::vector<std::string>> cells;
    const std::size_t shown = std::min(rows.size(), options.num_rows);
    cells.reserve(shown);
    for (std::size_t i = 0; i < shown; ++i) {
      std::vector<std::string> line;
      if constexpr (record<Row>) {
        for_each_field(rows[i], [&](std::string_view, const auto& v) {
          line.push_back(truncate_cell(cell_text(v), options.truncate));
        });
      } else {
        line.push_back(truncate_cell(cell_text(rows[i]), options.truncate));
      }
      cells.push_back(std::move(line));
    }
    std::string text = "-------------------------------------------\nBatch: " + std::to_string(batch_id) +
                       "\n-------------------------------------------\n" +
                       show_table(header, cells, options.truncate, rows.size() > shown, options.num_rows) + "\n";
    static std::mutex console_mutex;  // batches of concurrent queries do not interleave
    std::lock_guard lock(console_mutex);
    std::ostream& os = options.out ? *options.out : std::cout;
    os << text << std::flush;
  }
  std::string description() const { return "ConsoleSink"; }
};
}  // namespace detail

struct console_t {
  using is_sink_descriptor = void;
  console_options options;
  template <class Row>
  auto bind() && {
    return detail::console_sink<Row>{options};
  }
};

inline console_t console(console_options options = {}) { return {options}; }

}  // namespace sluice
