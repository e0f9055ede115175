// The binary form of a stateful operator's state files, described as JSON so that a tool that
// does not know the query's C++ types (the `sluice checkpoint state` command) can decode them.
// binary_layout<T>() mirrors binary_writer::write<T> (codec/binary.hpp) type by type;
// decode_binary() reads bytes back by such a description. Each operator describes its files
// with state_layout() (checkpoint/stored_state.hpp), written once per operator to
// state/<op>/_metadata/schema (as Spark keeps its state schema there): not part of the
// checkpoint's fingerprint, so checkpoints written before it existed still start, and get it
// on their next run.
//
// A layout is {"format": "keyed" | "sessions", "key": <type>, "value": <type>} where a type is
// one of "boolean", "byte", "short", "int", "long", "ubyte", "ushort", "uint", "ulong",
// "float", "double", "string", "timestamp", "hll", {"optional": T}, {"array": T},
// {"map": [K, V]}, {"tuple": [T...]}, {"struct": [{"name": n, "type": T}...]}, or
// {"opaque": "<C++ type>"} (a type with its own serialize(): not decodable).
//   keyed:    delta = count, count x (key, value), count, count x key (removed)
//             snapshot = count, count x (key, value)
//   sessions: delta and snapshot = count, count x (key, n, n x value): n = 0 removes the key
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "binary.hpp"
#include "../detail/hyperloglog.hpp"

namespace sluice {

template <class T>
boost::json::value binary_layout() {
  using boost::json::value;
  if constexpr (std::is_same_v<T, bool>) {
    return "boolean";
  } else if constexpr (std::is_enum_v<T>) {
    return binary_layout<std::underlying_type_t<T>>();
  } else if constexpr (std::is_floating_point_v<T>) {
    return sizeof(T) == 4 ? "float" : "double";
  } else if constexpr (std::is_integral_v<T>) {
    constexpr const char* names[2][4] = {{"ubyte", "ushort", "uint", "ulong"}, {"byte", "short", "int", "long"}};
    constexpr int size_index = sizeof(T) == 1 ? 0 : sizeof(T) == 2 ? 1 : sizeof(T) == 4 ? 2 : 3;
    return names[std::is_signed_v<T> ? 1 : 0][size_index];
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "string";
  } else if constexpr (requires { typename T::layout_as; }) {  // written as that type is
    return binary_layout<typename T::layout_as>();
  } else if constexpr (std::is_same_v<T, timestamp>) {
    return "timestamp";
  } else if constexpr (detail::is_optional_v<T>) {
    return boost::json::object{{"optional", binary_layout<typename T::value_type>()}};
  } else if constexpr (detail::is_flat_map_v<T>) {
    return boost::json::object{
        {"map", boost::json::array{binary_layout<typename T::key_type>(), binary_layout<typename T::mapped_type>()}}};
  } else if constexpr (detail::is_vector_v<T> || detail::is_flat_set_v<T>) {
    return boost::json::object{{"array", binary_layout<typename T::value_type>()}};
  } else if constexpr (detail::is_tuple_v<T>) {
    boost::json::array a;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (a.push_back(binary_layout<std::tuple_element_t<I, T>>()), ...);
    }(std::make_index_sequence<std::tuple_size_v<T>>{});
    return boost::json::object{{"tuple", std::move(a)}};
  } else if constexpr (detail::is_pair_v<T>) {
    return boost::json::object{
        {"tuple", boost::json::array{binary_layout<typename T::first_type>(), binary_layout<typename T::second_type>()}}};
  } else if constexpr (std::is_same_v<T, detail::hyperloglog>) {
    return "hll";
  } else if constexpr (record<T>) {
    boost::json::array fields;
    for_each_column<T>([&](auto c) {
      using C = decltype(c);
      fields.push_back(boost::json::object{{"name", C::name.view()}, {"type", binary_layout<typename C::type>()}});
    });
    return boost::json::object{{"struct", std::move(fields)}};
  } else {
    return boost::json::object{{"opaque", typeid(T).name()}};
  }
}

// A struct layout of named members: {"struct": [{"name": .., "type": ..}...]}.
inline boost::json::object struct_layout(std::vector<std::pair<std::string, boost::json::value>> fields) {
  boost::json::array a;
  for (auto& [name, type] : fields) a.push_back(boost::json::object{{"name", name}, {"type", std::move(type)}});
  return {{"struct", std::move(a)}};
}

// A tuple's elements as a struct with the given names (a tuple's binary form is its elements',
// so the two layouts read the same bytes).
template <class Tuple>
boost::json::object named_tuple_layout(const std::vector<std::string>& names) {
  std::vector<std::pair<std::string, boost::json::value>> fields;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (fields.emplace_back(I < names.size() ? names[I] : "_" + std::to_string(I), binary_layout<std::tuple_element_t<I, Tuple>>()),
     ...);
  }(std::make_index_sequence<std::tuple_size_v<Tuple>>{});
  return struct_layout(std::move(fields));
}

inline boost::json::object keyed_layout(boost::json::value key, boost::json::value value, std::string_view format = "keyed") {
  return {{"format", format}, {"key", std::move(key)}, {"value", std::move(value)}};
}

namespace detail {
template <class T>
boost::json::value read_number(binary_reader& in) {
  T v{};
  in.read(v);
  if constexpr (std::is_floating_point_v<T>) return static_cast<double>(v);
  else if constexpr (std::is_signed_v<T>) return static_cast<std::int64_t>(v);
  else return static_cast<std::uint64_t>(v);
}
}  // namespace detail

// One value of `layout` from `in` as JSON (a timestamp as its microseconds, an HLL sketch as
// {"precision", "estimate"}); throws checkpoint_format_error naming the reader's file and the
// byte on a layout it cannot read or bytes that do not fit.
inline boost::json::value decode_binary(binary_reader& in, const boost::json::value& layout) {
  if (const auto* s = layout.if_string()) {
    const std::string_view t = *s;
    if (t == "boolean") {
      bool b = false;
      in.read(b);
      return b;
    }
    if (t == "byte") return detail::read_number<std::int8_t>(in);
    if (t == "short") return detail::read_number<std::int16_t>(in);
    if (t == "int") return detail::read_number<std::int32_t>(in);
    if (t == "long" || t == "timestamp") return detail::read_number<std::int64_t>(in);
    if (t == "ubyte") return detail::read_number<std::uint8_t>(in);
    if (t == "ushort") return detail::read_number<std::uint16_t>(in);
    if (t == "uint") return detail::read_number<std::uint32_t>(in);
    if (t == "ulong") return detail::read_number<std::uint64_t>(in);
    if (t == "float") return detail::read_number<float>(in);
    if (t == "double") return detail::read_number<double>(in);
    if (t == "string") {
      std::string v;
      in.read(v);
      return boost::json::string(v);
    }
    if (t == "hll") {
      detail::hyperloglog h;
      in.read(h);
      return boost::json::object{{"precision", h.precision()}, {"estimate", h.precision() ? h.estimate() : 0}};
    }
    in.fail("unknown type \"" + std::string(t) + "\" in the state layout");
  }
  const auto* o = layout.if_object();
  if (!o || o->size() != 1) in.fail("invalid state layout " + boost::json::serialize(layout));
  const auto& [kind, inner] = *o->begin();
  if (kind == "optional") {
    bool has = false;
    in.read(has);
    return has ? decode_binary(in, inner) : boost::json::value(nullptr);
  }
  if (kind == "array") {
    boost::json::array a;
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) a.push_back(decode_binary(in, inner));
    return a;
  }
  if (kind == "map" && inner.is_array() && inner.as_array().size() == 2) {
    boost::json::array a;  // of [key, value] pairs: keys need not be strings
    const auto n = in.read_size(1);
    for (std::size_t i = 0; i < n; ++i) {
      auto k = decode_binary(in, inner.as_array()[0]);
      a.push_back(boost::json::array{std::move(k), decode_binary(in, inner.as_array()[1])});
    }
    return a;
  }
  if (kind == "tuple" && inner.is_array()) {
    boost::json::array a;
    for (const auto& e : inner.as_array()) a.push_back(decode_binary(in, e));
    return a;
  }
  if (kind == "struct" && inner.is_array()) {
    boost::json::object out;
    for (const auto& f : inner.as_array()) {
      const auto* fo = f.if_object();
      const auto* name = fo ? fo->if_contains("name") : nullptr;
      const auto* type = fo ? fo->if_contains("type") : nullptr;
      if (!name || !name->is_string() || !type) in.fail("invalid struct field " + boost::json::serialize(f) + " in the state layout");
      out[name->as_string()] = decode_binary(in, *type);
    }
    return out;
  }
  if (kind == "opaque")
    in.fail("the state holds a value of type " + boost::json::serialize(inner) +
            ", which has its own binary form (serialize/deserialize): it cannot be decoded without the query's code");
  in.fail("invalid state layout " + boost::json::serialize(layout));
}

}  // namespace sluice
