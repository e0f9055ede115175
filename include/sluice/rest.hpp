// sluice::rest: any polling REST API as a streaming source, by configuration (seed 000).
// Link the CMake target sluice::rest (Boost.Beast, Boost.JSON, OpenSSL). Not part of
// <sluice/sluice.hpp>: Asio and OpenSSL are costly to compile; include this header yourself.
//
//   #include <sluice/rest.hpp>
//   auto items = sl::rest::source<Item, sl::rest::incremental_strategy>({
//       .url = "http://127.0.0.1:3000/items?id_gte={next_id}&_sort=id", .batch_size = 500});
//
// See docs/rest.md.
#pragma once
#include "rest/config.hpp"
#include "rest/oauth1.hpp"
#include "rest/options.hpp"
#include "rest/source.hpp"
#include "rest/strategies.hpp"
