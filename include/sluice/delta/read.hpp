// A Delta table as a static input: all rows of its live files at a version, as T.
//
//   const sl::static_table<User> users(sl::delta::read<User>("data/users"));
//   auto enriched = events | sl::join(users, sl::col<"user_id">);
//
// The snapshot is reconciled from the log (latest protocol and metaData, adds minus removes,
// checkpoints: log.hpp); partition columns come from each file's partitionValues in the log.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "log.hpp"
#include "parquet_read.hpp"

namespace sluice::delta {

struct read_options {
  // The table version to read (time travel); default: the latest.
  std::optional<std::int64_t> version;
};

namespace detail {
// The top-level column names of a table's schema (metaData.schemaString, Spark's StructType JSON).
inline std::set<std::string> schema_column_names(const table_snapshot& s) {
  boost::system::error_code ec;
  const auto v = boost::json::parse(s.metadata.schema_string, ec);
  const auto* fields = !ec && v.is_object() ? v.get_object().if_contains("fields") : nullptr;
  if (!fields || !fields->is_array())
    throw delta_error("Delta table " + s.table.string() + ": metaData.schemaString is not a StructType JSON");
  std::set<std::string> names;
  for (const auto& f : fields->get_array()) {
    if (const auto* n = f.is_object() ? f.get_object().if_contains("name") : nullptr; n && n->is_string())
      names.emplace(n->get_string());
  }
  return names;
}

// Refuses a row type with a required field the table does not have, naming both.
template <record T>
void check_row_type_against(const table_snapshot& s) {
  const auto names = schema_column_names(s);
  for_each_column<T>([&](auto c) {
    using C = decltype(c);
    if constexpr (!sluice::detail::is_optional_v<typename C::type>) {
      if (!names.count(std::string(C::name.view()))) {
        std::string have;
        for (const auto& n : names) have += (have.empty() ? "" : ", ") + n;
        throw delta_error("Delta table " + s.table.string() + " has no column '" + std::string(C::name.view()) +
                          "' (its columns: " + have + "); make the field std::optional or remove it");
      }
    }
  });
}
}  // namespace detail

// The rows of the given add actions' files, in order.
template <record T>
std::vector<T> read_files(const table_snapshot& s, const std::vector<add_action>& files) {
  std::vector<T> out;
  for (const auto& add : files) {
    if (add.deletion_vector)
      throw delta_error("Delta table " + s.table.string() + ": file " + add.path +
                        " has a deletion vector, which sluice does not read");
    auto rows = read_parquet_rows<T>(file_path_of(s.table, add.path), add.partition_values);
    if (out.empty()) out = std::move(rows);
    else out.insert(out.end(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
  }
  return out;
}

// All rows of a snapshot's live files (in the order of their paths).
template <record T>
std::vector<T> read_snapshot(const table_snapshot& s) {
  s.check_readable();
  detail::check_row_type_against<T>(s);
  return read_files<T>(s, s.live_files());
}

// All rows of the table at `options.version` (default: the latest).
template <class T>
std::vector<T> read(const std::filesystem::path& table, read_options options = {}) {
  static_assert(record<T>, "sluice::delta::read<T>: T must be a struct described with BOOST_DESCRIBE_STRUCT or an sl::row");
  return read_snapshot<T>(load_snapshot(table, options.version));
}

}  // namespace sluice::delta
