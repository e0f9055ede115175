// Definitions of checkpoint/checkpoint.hpp's non-template functions (see impl/config.hpp).
#pragma once
#include "../checkpoint/checkpoint.hpp"
#include "../codec/state_layout.hpp"

namespace sluice {

std::string checkpoint_dir::fingerprint(const boost::json::object& query) {
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a, 64 bits
  for (unsigned char c : boost::json::serialize(query)) h = (h ^ c) * 1099511628211ULL;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string checkpoint_dir::open(const std::string& new_query_id, const boost::json::object& query) {
  const auto path = metadata_path();
  if (!std::filesystem::exists(path)) {
    refuse_without_metadata();
    boost::json::object m{{"id", new_query_id},
                          {"formatVersion", format_version},
                          {"fingerprint", fingerprint(query)},
                          {"query", query}};
    write_checkpoint_file(path, boost::json::serialize(m) + "\n", new_query_id);
    query_id_ = new_query_id;
    return new_query_id;
  }
  const std::string raw = read_whole_file(path);
  if (raw.find(checkpoint_trailer_tag) == std::string::npos) {
    // Format 1 (sluice before checksums) recorded types only: whether its state fits this
    // query (window durations, keys, functions) cannot be known, so it is not reused.
    boost::system::error_code ec;
    const auto old = boost::json::parse(raw, ec);
    if (!ec && old.is_object() && old.as_object().contains("formatVersion"))
      throw checkpoint_error(path.string() + ": a checkpoint of format version " +
                             boost::json::serialize(old.as_object().at("formatVersion")) +
                             ", written by an earlier sluice version without checksums or a description of its "
                             "query: this version cannot check that its state fits the query; use a new checkpoint "
                             "location");
  }
  const auto file = read_checkpoint_file(path);  // the checksum, before trusting any of it
  const auto m = parse_json(file.content, path);
  const auto* o = m.is_object() ? &m.as_object() : nullptr;
  if (!o || !o->contains("id") || !o->at("id").is_string() || !o->contains("formatVersion"))
    throw checkpoint_error(path.string() + ": not a sluice checkpoint metadata file");
  if (o->at("formatVersion") != boost::json::value(format_version))
    throw checkpoint_error(path.string() + ": unsupported checkpoint format version " +
                           boost::json::serialize(o->at("formatVersion")) + " (this sluice reads version " +
                           std::to_string(format_version) + ")");
  const std::string id(o->at("id").as_string());
  if (id != file.query_id)
    throw checkpoint_error(path.string() + ": names query " + id + " but its checksum trailer names query " +
                           file.query_id + ": the file was edited");
  const auto* stored = o->if_contains("query");
  if (!stored || !stored->is_object()) throw checkpoint_error(path.string() + ": missing the query description");
  query_id_ = id;  // the state files below are checked against it
  boost::json::object was = stored->as_object();
  accept_legacy_state_names(was, query);
  if (was != query) {
    auto changes = describe_query_changes(was, query);
    std::string list;
    for (const auto& c : changes) list += (list.empty() ? "" : "; ") + c;
    // As Spark refuses a state schema that does not match the existing state: what the
    // checkpoint holds was built by another query and would be read as this one's.
    throw checkpoint_error(path.string() + ": this checkpoint was written by a different query: " + list +
                           ". Its offsets and state cannot be reused by this query: run the query as it was, or "
                           "use a new checkpoint location");
  }
  set_aside_torn_entries();
  check_logs_belong_to(id);
  return id;
}

void checkpoint_dir::refuse_without_metadata() const {
  std::vector<std::string> found;
  std::string id_hint;
  for (const char* log : {"offsets", "commits"}) {
    const auto ids = list_log_entries(root_ / log);
    if (ids.empty()) continue;
    found.push_back(std::string(log) + "/" + std::to_string(ids.front()) +
                    (ids.size() > 1 ? ".." + std::to_string(ids.back()) : std::string()));
    if (id_hint.empty()) {
      try {  // only a hint for the message: a damaged entry gives none
        id_hint = read_checkpoint_file(root_ / log / std::to_string(ids.back())).query_id;
      } catch (const checkpoint_error&) {
      }
    }
  }
  for (const char* sub : {"state", "sources"}) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(root_ / sub, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file()) {
        found.push_back(std::string(sub) + "/");
        break;
      }
  }
  if (found.empty()) return;
  std::string list;
  for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
  // A new id would be a new query to the sinks (the Delta sink's txn appId): a batch
  // replayed from these logs would then be written again.
  throw checkpoint_error(root_.string() + ": holds " + list + " but no metadata file: the query id this checkpoint " +
                         "runs under is lost" + (id_hint.empty() ? std::string() : " (its files name query " + id_hint + ")") +
                         ", and a new one would make the sinks take replayed batches as new ones; restore " +
                         metadata_path().string() + ", or use a new checkpoint location");
}

void checkpoint_dir::set_aside_torn_entries() const {
  // A log entry is linked into place and then synced once: a power loss before that fsync
  // returned can leave its name without its bytes. Only the newest entry of each log can be
  // such an entry, and only one whose successor does not exist yet (each step waits for the
  // previous one's fsync); it is set aside, as Spark's HDFSMetadataLog ignores a partial
  // entry, and its batch runs again (offsets: planned again; commit: run again from
  // offsets/N, its sources never having been told to release it). Anything else that does not
  // verify (a complete trailer whose checksum differs, a torn entry with a successor) is
  // corruption, refused as before when read.
  const auto commits = list_log_entries(root_ / "commits");
  const auto offsets = list_log_entries(root_ / "offsets");
  auto set_aside = [&](const char* log, std::int64_t n) {
    const auto from = root_ / log / std::to_string(n);
    std::filesystem::rename(from, root_ / log / ("." + std::to_string(n) + ".torn"));
  };
  std::optional<std::int64_t> last_commit = commits.empty() ? std::nullopt : std::optional(commits.back());
  if (last_commit && (offsets.empty() || offsets.back() == *last_commit) &&
      checkpoint_file_is_torn(commits_path(*last_commit))) {
    set_aside("commits", *last_commit);
    last_commit = commits.size() > 1 ? std::optional(commits[commits.size() - 2]) : std::nullopt;
  }
  if (!offsets.empty() && (!last_commit || offsets.back() > *last_commit) && checkpoint_file_is_torn(offsets_path(offsets.back())))
    set_aside("offsets", offsets.back());
}

void checkpoint_dir::check_logs_belong_to(const std::string& id) const {
  // The newest entries are the ones a restart reads first; older ones are checked as read.
  for (const char* log : {"offsets", "commits"}) {
    const auto ids = list_log_entries(root_ / log);
    if (!ids.empty()) (void)read_checkpoint_file(root_ / log / std::to_string(ids.back()), id);
  }
}

namespace detail {
inline const boost::json::value& field_or_null(const boost::json::object& o, std::string_view name) {
  static const boost::json::value null;
  const auto* v = o.if_contains(name);
  return v ? *v : null;
}
inline std::string render_type(const boost::json::value& t) {
  if (t.is_string()) return std::string(t.as_string());
  if (const auto* o = t.if_object()) {
    const auto* kind = o->if_contains("type");
    if (kind && *kind == "struct" && o->contains("fields")) {
      std::string out = "struct<";
      bool first = true;
      for (const auto& f : o->at("fields").as_array()) {
        out += (first ? "" : ",") + std::string(f.at("name").as_string()) + ":" + render_type(f.at("type"));
        first = false;
      }
      return out + ">";
    }
    if (kind && *kind == "array" && o->contains("elementType")) return "array<" + render_type(o->at("elementType")) + ">";
  }
  return boost::json::serialize(t);
}
inline std::string render_field(const boost::json::object& o, const char* name) {
  const auto* v = o.if_contains(name);
  if (!v) return "(none)";
  if (v->is_int64() && std::string_view(name).ends_with("Us")) return format_duration(duration{v->as_int64()});
  if (v->is_string()) return std::string(v->as_string());
  return boost::json::serialize(*v);
}
inline std::string render_key(const boost::json::value& v) {
  const auto& k = v.as_object();
  if (render_field(k, "key") == "window") {
    std::string out = "window(" + render_field(k, "column") + ", " + render_field(k, "durationUs");
    if (const auto* slide = k.if_contains("slideUs"); slide && *slide != field_or_null(k, "durationUs"))
      out += ", " + render_field(k, "slideUs");
    if (const auto* off = k.if_contains("startOffsetUs"); off && *off != 0) out += ", " + render_field(k, "startOffsetUs");
    return out + ")";
  }
  return render_field(k, "name") + " (" + render_field(k, "type") + ")";
}
inline std::string render_aggregate(const boost::json::value& v) {
  const auto& a = v.as_object();
  std::string out = render_field(a, "function") + "(" + (a.contains("column") ? render_field(a, "column") : "") + ")";
  if (a.contains("precision")) out += " with precision " + render_field(a, "precision");
  if (a.contains("type")) out += " of " + render_field(a, "type");
  if (a.contains("name") && render_field(a, "name") != out) out += " AS " + render_field(a, "name");
  return out;
}
template <class Render>
std::string render_list(const boost::json::value* v, Render render) {
  std::string out = "[";
  if (v && v->is_array())
    for (const auto& e : v->as_array()) out += (out.size() > 1 ? ", " : "") + render(e);
  return out + "]";
}
inline std::string render_operator(const boost::json::value& v) {
  const auto& o = v.as_object();
  const auto kind = render_field(o, "operator");
  if (kind == "watermark") return "watermark(" + render_field(o, "column") + ")";
  if (kind == "aggregate") return "aggregate by " + render_list(o.if_contains("keys"), render_key);
  return kind;
}
// An operator's "state" in a description: its binary layout (codec/state_layout.hpp) as JSON
// text; null for the compiler type names that versions before layouts recorded.
inline boost::json::value parse_layout(const boost::json::value& state) {
  if (!state.is_string() || !state.as_string().starts_with("{")) return nullptr;
  boost::system::error_code ec;
  auto v = boost::json::parse(state.as_string(), ec);
  return ec ? boost::json::value(nullptr) : v;
}
// A layout type as one line: struct<sum:double,count:long>, array<string>, optional<long>...
inline std::string render_layout(const boost::json::value& t) {
  if (t.is_string()) return std::string(t.as_string());
  const auto* o = t.if_object();
  if (!o || o->size() != 1) return boost::json::serialize(t);
  const auto& [kind, inner] = *o->begin();
  if (kind == "struct" && inner.is_array()) {
    std::string out = "struct<";
    for (const auto& f : inner.as_array()) {
      const auto* fo = f.if_object();
      if (!fo || !fo->contains("name") || !fo->contains("type")) return boost::json::serialize(t);
      out += (out.size() > 7 ? "," : "") + std::string(fo->at("name").as_string()) + ":" + render_layout(fo->at("type"));
    }
    return out + ">";
  }
  if ((kind == "tuple" || kind == "map") && inner.is_array()) {
    std::string out = std::string(kind) + "<";
    for (const auto& e : inner.as_array()) out += (out.size() > kind.size() + 1 ? "," : "") + render_layout(e);
    return out + ">";
  }
  if (kind == "opaque") return "opaque(" + render_layout(inner) + ")";
  return std::string(kind) + "<" + render_layout(inner) + ">";
}
// What differs between two layouts, naming the part (key, value, a field by its name).
inline void diff_layouts(const std::string& at, const boost::json::value& a, const boost::json::value& b,
                         std::vector<std::string>& out) {
  if (a == b) return;
  auto fields = [](const boost::json::value& v) -> const boost::json::array* {
    const auto* o = v.if_object();
    const auto* f = o && o->size() == 1 ? o->if_contains("struct") : nullptr;
    return f ? f->if_array() : nullptr;
  };
  auto name_of = [](const boost::json::value& f) { return boost::json::serialize(field_or_null(f.as_object(), "name")); };
  const auto *fa = fields(a), *fb = fields(b);
  bool same_names = fa && fb && fa->size() == fb->size();
  for (std::size_t i = 0; same_names && i < fa->size(); ++i)
    same_names = (*fa)[i].is_object() && (*fb)[i].is_object() && name_of((*fa)[i]) == name_of((*fb)[i]);
  if (same_names) {
    for (std::size_t i = 0; i < fa->size(); ++i)
      diff_layouts(at + (at.empty() ? "" : ".") + std::string(field_or_null((*fa)[i].as_object(), "name").as_string()),
                   field_or_null((*fa)[i].as_object(), "type"), field_or_null((*fb)[i].as_object(), "type"), out);
    return;
  }
  const auto *oa = a.if_object(), *ob = b.if_object();
  if (at.empty() && oa && ob && oa->contains("format")) {  // the top level: format, key, value
    for (const auto* side : {oa, ob})
      for (const auto& [k, v] : *side)
        if ((side == oa || !oa->contains(k)) && field_or_null(*oa, k) != field_or_null(*ob, k))
          diff_layouts(std::string(k), field_or_null(*oa, k), field_or_null(*ob, k), out);
    return;
  }
  out.push_back(at + " changed from " + (a.is_null() ? "(none)" : render_layout(a)) + " to " +
                (b.is_null() ? "(none)" : render_layout(b)));
}
}  // namespace detail

void checkpoint_dir::accept_legacy_state_names(boost::json::object& was, const boost::json::object& now) const {
  auto* a = was.if_contains("operators");
  const auto* b = now.if_contains("operators");
  if (!a || !b || !a->is_array() || !b->is_array() || a->as_array().size() != b->as_array().size()) return;
  std::size_t state_index = 0;  // state/<k> belongs to the k-th operator that is not a watermark
  for (std::size_t i = 0; i < b->as_array().size(); ++i) {
    auto* x = a->as_array()[i].if_object();
    const auto* y = b->as_array()[i].if_object();
    if (!x || !y || detail::field_or_null(*x, "operator") == "watermark") continue;
    const std::size_t k = state_index++;
    auto* old_state = x->if_contains("state");
    const auto layout = detail::parse_layout(detail::field_or_null(*y, "state"));
    if (!old_state || !old_state->is_string() || !detail::parse_layout(*old_state).is_null() || layout.is_null() ||
        detail::field_or_null(*x, "operator") != detail::field_or_null(*y, "operator"))
      continue;  // (another operator here: reported as such)
    // Compiler type names: the state's layout is what the checkpoint recorded beside it
    // (state/<k>/_metadata/schema), or, before that file existed, what its state files hold.
    const auto schema = state_schema_path(k);
    if (std::filesystem::exists(schema)) {
      const auto recorded = parse_json(read_checkpoint_file(schema, query_id_), schema);
      *old_state = recorded == layout ? detail::field_or_null(*y, "state") : boost::json::value(boost::json::serialize(recorded));
    } else {
      check_state_files_fit(k, layout);
      *old_state = detail::field_or_null(*y, "state");
    }
  }
}

void checkpoint_dir::check_state_files_fit(std::size_t op, const boost::json::value& layout) const {
  const auto* lo = layout.if_object();
  const auto format = lo ? detail::field_or_null(*lo, "format") : boost::json::value();
  const bool sessions = format == "sessions";
  // Only the keyed formats can be read without the operator's code; the others (joins,
  // transformWithState) are read, and checked, as their state loads.
  if (!(format == "keyed" || sessions)) return;
  // The committed versions' files: a later one may be torn, and is rewritten by its re-run.
  const auto committed = latest_commit();
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(state_dir(op), ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const auto ext = it->path().extension();
    const auto stem = it->path().stem().string();
    if (!it->is_regular_file() || (ext != ".delta" && ext != ".snapshot") || stem.empty() ||
        stem.find_first_not_of("0123456789") != std::string::npos || !committed || std::stoll(stem) > *committed)
      continue;
    const auto bytes = read_checkpoint_file(it->path(), query_id_);
    binary_reader in(bytes, it->path().string());
    try {
      auto entries = [&] {
        const auto n = in.read_size(1);
        for (std::size_t i = 0; i < n; ++i) {
          decode_binary(in, lo->at("key"));
          const auto m = sessions ? in.read_size(1) : 1;
          for (std::size_t j = 0; j < m; ++j) decode_binary(in, lo->at("value"));
        }
      };
      entries();
      if (ext == ".delta" && !sessions) {  // the removed keys
        const auto n = in.read_size(1);
        for (std::size_t i = 0; i < n; ++i) decode_binary(in, lo->at("key"));
      }
      if (!in.at_end()) in.fail("trailing bytes after the state");
    } catch (const std::exception& e) {
      throw checkpoint_error(std::string(e.what()) + ": written by an earlier sluice that named the state's types (" +
                             "not its binary layout), and its bytes do not fit this query's state layout " +
                             detail::render_layout(lo->at("key")) + " -> " + detail::render_layout(lo->at("value")) +
                             ": run the query as it was, or use a new checkpoint location");
    }
  }
}

std::vector<std::string> describe_query_changes(const boost::json::object& was, const boost::json::object& now) {
  using namespace detail;
  std::vector<std::string> out;
  auto changed = [&](const std::string& what, const std::string& a, const std::string& b, const std::string& where = "") {
    out.push_back(what + " changed from " + a + " to " + b + where);
  };
  auto differs = [](const boost::json::object& a, const boost::json::object& b, std::string_view f) {
    return field_or_null(a, f) != field_or_null(b, f);
  };
  if (differs(was, now, "outputMode")) changed("output mode", render_field(was, "outputMode"), render_field(now, "outputMode"));
  if (differs(was, now, "row"))
    changed("output row type", render_type(field_or_null(was, "row")), render_type(field_or_null(now, "row")));
  if (differs(was, now, "sources")) {
    const auto& a = field_or_null(was, "sources");
    const auto& b = field_or_null(now, "sources");
    if (!a.is_array() || !b.is_array() || a.as_array().size() != b.as_array().size()) {
      changed("the number of sources", std::to_string(a.is_array() ? a.as_array().size() : 0),
              std::to_string(b.is_array() ? b.as_array().size() : 0));
    } else {
      for (std::size_t i = 0; i < a.as_array().size(); ++i)
        if (a.as_array()[i] != b.as_array()[i])
          changed("the offset type of source " + std::to_string(i),
                  render_type(field_or_null(a.as_array()[i].as_object(), "offset")),
                  render_type(field_or_null(b.as_array()[i].as_object(), "offset")));
    }
  }
  if (differs(was, now, "operators")) {
    const auto* a = field_or_null(was, "operators").if_array();
    const auto* b = field_or_null(now, "operators").if_array();
    bool same_kinds = a && b && a->size() == b->size();
    for (std::size_t i = 0; same_kinds && i < a->size(); ++i)
      same_kinds = differs((*a)[i].as_object(), (*b)[i].as_object(), "operator") == false;
    if (!same_kinds) {
      changed("the stateful and watermark operators", render_list(was.if_contains("operators"), render_operator),
              render_list(now.if_contains("operators"), render_operator));
    } else {
      for (std::size_t i = 0; i < a->size(); ++i) {
        const auto& x = (*a)[i].as_object();
        const auto& y = (*b)[i].as_object();
        if (x == y) continue;
        const std::string kind = render_field(x, "operator");
        const std::string where = " in operator " + std::to_string(i) + " (" + kind + ")";
        const std::size_t before = out.size();
        if (differs(x, y, "column"))
          changed(kind == "watermark" ? "watermark column" : "column", render_field(x, "column"), render_field(y, "column"), where);
        if (differs(x, y, "keys")) {
          const auto* ka = field_or_null(x, "keys").if_array();
          const auto* kb = field_or_null(y, "keys").if_array();
          bool pairwise = ka && kb && ka->size() == kb->size();
          for (std::size_t j = 0; pairwise && j < ka->size(); ++j)
            pairwise = !differs((*ka)[j].as_object(), (*kb)[j].as_object(), "key");
          if (!pairwise) {
            changed("grouping keys", render_list(&x.at("keys"), render_key), render_list(&y.at("keys"), render_key), where);
          } else {
            for (std::size_t j = 0; j < ka->size(); ++j) {
              const auto& p = (*ka)[j].as_object();
              const auto& q = (*kb)[j].as_object();
              if (p == q) continue;
              if (render_field(p, "key") == "window") {
                // A tumbling window's slide is its duration: said once.
                auto tumbles = [](const boost::json::object& k) {
                  return field_or_null(k, "slideUs") == field_or_null(k, "durationUs");
                };
                const bool tumbling = tumbles(p) && tumbles(q);
                for (auto [f, label] : {std::pair{"column", "window column"}, std::pair{"durationUs", "window duration"},
                                        std::pair{"slideUs", "window slide"}, std::pair{"startOffsetUs", "window start offset"}})
                  if (differs(p, q, f) && !(tumbling && std::string_view(f) == "slideUs"))
                    changed(label, render_field(p, f), render_field(q, f), where);
              } else {
                changed("grouping key " + std::to_string(j), render_key(p), render_key(q), where);
              }
            }
          }
        }
        if (differs(x, y, "aggregates")) {
          const auto* aa = field_or_null(x, "aggregates").if_array();
          const auto* ab = field_or_null(y, "aggregates").if_array();
          if (aa && ab && aa->size() == ab->size()) {
            for (std::size_t j = 0; j < aa->size(); ++j)
              if ((*aa)[j] != (*ab)[j])
                changed("aggregate " + std::to_string(j), render_aggregate((*aa)[j]), render_aggregate((*ab)[j]), where);
          } else {
            changed("the aggregate functions", render_list(x.if_contains("aggregates"), render_aggregate),
                    render_list(y.if_contains("aggregates"), render_aggregate), where);
          }
        }
        if (differs(x, y, "layout"))
          changed("the state layout", render_field(x, "layout"), render_field(y, "layout"), where);
        if (out.size() == before) {  // only the state's binary layout, or a field not known here
          const auto la = parse_layout(field_or_null(x, "state"));
          const auto lb = parse_layout(field_or_null(y, "state"));
          if (!la.is_null() && !lb.is_null() && la != lb) {
            std::vector<std::string> diffs;
            diff_layouts("", la, lb, diffs);
            for (const auto& d : diffs) out.push_back("the state layout changed" + where + ": " + d);
          } else if (differs(x, y, "state")) {
            changed("the state's key or value types", render_field(x, "state"), render_field(y, "state"), where);
          }
        }
      }
    }
  }
  // Fields added later (a shuffle layout...) and anything not described above.
  for (const auto* side : {&was, &now})
    for (const auto& [k, v] : *side) {
      if (k == "outputMode" || k == "row" || k == "sources" || k == "operators") continue;
      if (side == &now && was.contains(k)) continue;
      if (differs(was, now, k))
        changed(std::string(k), boost::json::serialize(field_or_null(was, k)), boost::json::serialize(field_or_null(now, k)));
    }
  if (out.empty()) out.push_back("its description differs");
  return out;
}

void checkpoint_dir::write_offsets(const offset_log_entry& e) const {
  boost::json::object meta{{"batchWatermarkUs", e.batch_watermark_us}, {"batchTimestampUs", e.batch_timestamp_us}};
  if (!e.conf.empty()) meta["conf"] = e.conf;
  std::string text = "v1\n" + boost::json::serialize(meta) + "\n";
  for (const auto& o : e.source_offsets) text += boost::json::serialize(o) + "\n";
  // One fsync (docs/checkpoints.md, "Files"): durable before the batch runs.
  write_checkpoint_file(offsets_path(e.batch_id), text, query_id_, /*overwrite=*/false, file_sync::file);
}

offset_log_entry checkpoint_dir::read_offsets(std::int64_t n, std::size_t expected_sources) const {
  const auto path = offsets_path(n);
  const auto lines = read_lines(path);
  if (lines.size() < 2 || lines[0] != "v1")
    throw checkpoint_error(path.string() + ": truncated or not an offset log entry (expected a 'v1' header and "
                                           "batch metadata)");
  offset_log_entry e;
  e.batch_id = n;
  const auto meta = parse_json(lines[1], path);
  e.batch_watermark_us = int_field(meta, "batchWatermarkUs", path);
  e.batch_timestamp_us = int_field(meta, "batchTimestampUs", path);
  if (const auto* conf = meta.as_object().if_contains("conf")) {  // absent in checkpoints before it
    if (!conf->is_object()) throw checkpoint_error(path.string() + ": conf is not an object");
    for (const auto& kv : conf->as_object())
      if (!kv.value().is_string())
        throw checkpoint_error(path.string() + ": conf." + std::string(kv.key()) + " is not a string");
    e.conf = conf->as_object();
  }
  for (std::size_t i = 2; i < lines.size(); ++i) e.source_offsets.push_back(parse_json(lines[i], path));
  if (e.source_offsets.size() != expected_sources)
    throw checkpoint_error(path.string() + ": holds offsets for " + std::to_string(e.source_offsets.size()) +
                           " sources, the query has " + std::to_string(expected_sources));
  return e;
}

void checkpoint_dir::write_commit(const commit_log_entry& e) const {
  boost::json::array ops;
  for (const auto& w : e.operator_watermarks_us) ops.push_back(w ? boost::json::value(*w) : boost::json::value(nullptr));
  boost::json::object meta{{"nextBatchWatermarkUs", e.next_batch_watermark_us}, {"operatorWatermarksUs", ops}};
  if (!e.state_files.empty()) {
    boost::json::array states;
    for (const auto& st : e.state_files) {
      if (!st) {
        states.emplace_back(nullptr);
        continue;
      }
      boost::json::array parts;
      for (const auto& f : *st) parts.push_back(boost::json::array{f.snapshot, f.deltas});
      states.push_back(std::move(parts));
    }
    meta["stateFiles"] = std::move(states);
  }
  // Synced (one fsync): sources release data in commit(end) after this returns, so a commit
  // must not be lost once they have.
  write_checkpoint_file(commits_path(e.batch_id), "v1\n" + boost::json::serialize(meta) + "\n", query_id_,
                        /*overwrite=*/false, file_sync::file);
}

commit_log_entry checkpoint_dir::read_commit(std::int64_t n) const {
  const auto path = commits_path(n);
  const auto lines = read_lines(path);
  if (lines.size() < 2 || lines[0] != "v1")
    throw checkpoint_error(path.string() + ": truncated or not a commit log entry");
  const auto meta = parse_json(lines[1], path);
  commit_log_entry e;
  e.batch_id = n;
  e.next_batch_watermark_us = int_field(meta, "nextBatchWatermarkUs", path);
  const auto* ops = meta.as_object().if_contains("operatorWatermarksUs");
  if (!ops || !ops->is_array()) throw checkpoint_error(path.string() + ": missing operatorWatermarksUs");
  for (const auto& w : ops->as_array()) {
    if (w.is_null()) e.operator_watermarks_us.emplace_back();
    else if (w.is_int64()) e.operator_watermarks_us.emplace_back(w.as_int64());
    else throw checkpoint_error(path.string() + ": operatorWatermarksUs holds a non-integer");
  }
  if (const auto* states = meta.as_object().if_contains("stateFiles")) {  // absent before it
    auto bad = [&] { return checkpoint_error(path.string() + ": stateFiles is not a list of [snapshot, deltas] lists"); };
    if (!states->is_array()) throw bad();
    for (const auto& st : states->as_array()) {
      if (st.is_null()) {
        e.state_files.emplace_back();
        continue;
      }
      if (!st.is_array()) throw bad();
      std::vector<state_partition_files> parts;
      for (const auto& f : st.as_array()) {
        if (!f.is_array() || f.as_array().size() != 2 || !f.as_array()[0].is_int64() || !f.as_array()[1].is_int64())
          throw bad();
        parts.push_back({f.as_array()[0].as_int64(), f.as_array()[1].as_int64()});
      }
      e.state_files.emplace_back(std::move(parts));
    }
  }
  return e;
}

void checkpoint_dir::purge(std::int64_t latest_batch, std::int64_t retain) const {
  const std::int64_t keep_from = latest_batch - retain + 1;
  for (const char* log : {"commits", "offsets"})
    for (auto n : list_log_entries(root_ / log))
      if (n < keep_from) std::filesystem::remove(root_ / log / std::to_string(n));
}

std::optional<std::int64_t> checkpoint_dir::latest(const std::filesystem::path& dir) {
  auto ids = list_log_entries(dir);
  if (ids.empty()) return std::nullopt;
  return ids.back();
}
std::vector<std::string> checkpoint_dir::read_lines(const std::filesystem::path& p) const {
  std::istringstream in(read_checkpoint_file(p, query_id_));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}
boost::json::value checkpoint_dir::parse_json(std::string_view text, const std::filesystem::path& p) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) throw checkpoint_error(p.string() + ": unparsable JSON (" + ec.message() + ")");
  return v;
}
std::int64_t checkpoint_dir::int_field(const boost::json::value& v, const char* name, const std::filesystem::path& p) {
  const auto* f = v.is_object() ? v.as_object().if_contains(name) : nullptr;
  if (!f || !f->is_int64()) throw checkpoint_error(p.string() + ": missing or non-integer field '" + name + "'");
  return f->as_int64();
}

}  // namespace sluice
