// Parallel decoding of a large JSON-lines file: blocks of whole lines cut into pieces that
// several threads decode, rows and bad records emitted in file order as one thread would
// (sources/files.hpp).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "../../graph/protocol.hpp"
#include "parse.hpp"
#include "reader.hpp"

namespace sluice::files {
namespace detail {

// ---------------------------------------------------------------- parallel decoding of lines
// A large JSON-lines file is read in blocks of whole lines; each block is cut at line
// boundaries into a few pieces per thread: the first decoded on the calling thread, which
// emits its rows as it goes, the others claimed in turn by the helper threads and the calling
// thread (each with its own parser) into row vectors, emitted afterwards in file order. Rows,
// bad records and their line numbers come out exactly as from the single-threaded loop; under
// bad_record::fail the first bad record in file order is the one reported (a later chunk's
// rows are never emitted past it).
//
// In a query with workers (query_options::parallelism), the pieces are the workers' tasks
// instead (`tasks`): no thread of its own is started, every piece goes to a chunk (the first
// too), and the calling thread emits them all; a file read on a worker, beside the batch's
// other partitions, is decoded by that worker alone (sources/files/source.hpp).

// Below these sizes one thread decodes: a thread costs about 25 us to start and join, 256 KiB
// about 0.6 ms to decode, and splitting 64 KiB measured slower than not (docs/performance.md,
// "JSON decoding").
inline constexpr std::int64_t parallel_min_file_bytes = 1 << 20;
inline constexpr std::size_t parallel_min_chunk_bytes = 256u << 10;
// The buffer holds this much per thread: few blocks per file, and memory bounded however
// large the file.
inline constexpr std::size_t parallel_block_bytes_per_thread = 4u << 20;
inline constexpr std::size_t max_default_decode_threads = 8;
// A block is cut into up to this many pieces per thread (each at least parallel_min_chunk_bytes).
inline constexpr std::size_t parallel_pieces_per_thread = 4;

// decode_threads 0: one per core, at most max_default_decode_threads.
inline std::size_t resolve_decode_threads(std::size_t requested) {
  if (requested > 0) return requested;
  return std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, max_default_decode_threads);
}

// How many threads decode a file of `size` bytes (1: the single-threaded loop).
inline std::size_t decode_threads_for(std::size_t requested, std::int64_t size) {
  return size < parallel_min_file_bytes ? 1 : resolve_decode_threads(requested);
}

// record_reader's block_bytes for `threads` decoding threads (0, its default, for one).
inline std::size_t decode_block_bytes(std::size_t threads) {
  return threads > 1 ? threads * parallel_block_bytes_per_thread : 0;
}

// `text` cut into at most `n` non-empty pieces, each ending with a '\n' (the last one: where
// `text` ends).
inline void split_at_lines(std::string_view text, std::size_t n, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t begin = 0;
  for (std::size_t k = 1; k < n && begin < text.size(); ++k) {
    const std::size_t target = text.size() / n * k;
    if (target == 0) continue;
    const std::size_t from = std::max(begin, target - 1);  // a line that starts at the target starts the piece
    const void* nl = std::memchr(text.data() + from, '\n', text.size() - from);
    if (nl == nullptr) break;
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - text.data()) + 1;
    out.push_back(text.substr(begin, end - begin));
    begin = end;
  }
  if (begin < text.size()) out.push_back(text.substr(begin));
}

template <class T, class Parser, class OnRow, class OnBad>
std::int64_t decode_lines_in(std::string_view text, std::int64_t first_line, Parser& parser, std::size_t max_line_bytes,
                             OnRow& on_row, OnBad& on_bad, std::stop_token stop) {
  const char* p = text.data();
  const char* const end = p + text.size();
  std::int64_t line = first_line;
  std::string reason;
  T row{};
  while (p < end) {
    if ((line & 1023) == 0 && stop.stop_requested()) break;  // the block failed before this chunk
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const std::string_view rec(p, static_cast<std::size_t>((nl ? nl : end) - p));
    p = nl ? nl + 1 : end;
    const std::int64_t at = line++;
    if (rec.size() > max_line_bytes) {
      if (!on_bad(at, true, std::string(), rec)) break;
      continue;
    }
    switch (parser.parse(rec, at, row, reason)) {
      case parse_result::row: on_row(std::move(row)); break;
      case parse_result::ignored: break;
      case parse_result::bad:
        if (!on_bad(at, false, std::move(reason), rec)) return line - first_line;
        break;
    }
  }
  return line - first_line;
}

// Decodes the lines of `text`, the first being line `first_line`, as record_reader::next and
// the single-threaded loop do: on_row(T&&) per row; on_bad(line, oversize, reason, bytes) per
// bad record (oversize: longer than max_line_bytes, reason empty), which returns false to stop.
// Returns the number of lines read. `text` is in a record_reader's buffer (read_padding bytes
// readable after it): a parser with begin_block(text) parses its lines together.
template <class T, class Parser, class OnRow, class OnBad>
std::int64_t decode_lines(std::string_view text, std::int64_t first_line, Parser& parser, std::size_t max_line_bytes,
                          OnRow&& on_row, OnBad&& on_bad, std::stop_token stop = {}) {
  if constexpr (requires { parser.begin_block(text); }) {
    struct block_scope {  // ended also when on_bad throws
      Parser& p;
      ~block_scope() { p.end_block(); }
    } scope{parser};
    parser.begin_block(text);
    return decode_lines_in<T>(text, first_line, parser, max_line_bytes, on_row, on_bad, stop);
  } else {
    return decode_lines_in<T>(text, first_line, parser, max_line_bytes, on_row, on_bad, stop);
  }
}

// What a helper thread decoded from one chunk, lines counted from 0 within it.
template <class T>
struct decoded_chunk {
  struct bad_line {
    std::size_t rows_before;  // rows of the chunk that come before it
    std::int64_t line;
    bool oversize;
    std::string reason;
    std::string_view bytes;
  };
  std::vector<T> rows;
  std::vector<bad_line> bad;
  std::exception_ptr error;  // thrown after the rows and bad lines above
  std::int64_t lines = 0;
  void clear() {
    rows.clear();
    bad.clear();
    error = nullptr;
    lines = 0;
  }
};

// Reads a JSON-lines file (`reader` in block mode) with its blocks decoded on up to `threads`
// threads. `parser` is the calling thread's, make_parser() makes the others'. A line longer
// than the buffer is handed to on_record as record_reader::next returns it (the caller reads
// it as the single-threaded loop does). stop_at_bad: bad records fail the read, so a helper
// stops at its first one. (min_chunk_bytes: benchmarks/decode_json.cpp measures below it.)
template <class T, class Parser, class MakeParser, class OnRecord, class OnRow, class OnBad>
void read_lines_in_parallel(record_reader& reader, std::size_t threads, std::size_t max_line_bytes, bool stop_at_bad,
                            Parser& parser, MakeParser&& make_parser, OnRecord&& on_record, OnRow&& on_row,
                            OnBad&& on_bad, std::size_t min_chunk_bytes = parallel_min_chunk_bytes,
                            task_runner* tasks = nullptr) {
  std::vector<decltype(make_parser())> helper_parsers;  // kept from block to block
  std::vector<decoded_chunk<T>> chunks;
  std::vector<std::string_view> pieces;
  record_reader::block b;
  record_reader::record r;
  while (true) {
    if (!reader.next_block(b)) {
      if (!reader.next(r)) return;
      on_record(r);
      continue;
    }
    // More pieces than threads, claimed in turn by whichever thread is free: on a busy machine a
    // helper that is not scheduled holds up at most the one piece it took, and the calling
    // thread decodes the rest itself instead of waiting.
    split_at_lines(b.bytes,
                   std::clamp<std::size_t>(b.bytes.size() / std::max<std::size_t>(min_chunk_bytes, 1), 1,
                                           threads * parallel_pieces_per_thread),
                   pieces);
    const std::size_t claimed = pieces.size() - 1;  // pieces 1.. go to chunks[0..]
    const std::size_t helpers = std::min(threads - 1, claimed);
    if (chunks.size() < claimed) chunks.resize(claimed);
    while (helper_parsers.size() < helpers) helper_parsers.push_back(make_parser());
    std::atomic<std::size_t> next_piece{0};
    // Piece `piece` into chunks[chunk].
    auto decode_into = [&](std::size_t chunk, std::size_t piece, auto& piece_parser, std::stop_token stop) {
      auto& out = chunks[chunk];
      out.clear();
      try {
        out.lines = decode_lines<T>(
            pieces[piece], 0, piece_parser, max_line_bytes, [&](T&& row) { out.rows.push_back(std::move(row)); },
            [&](std::int64_t line, bool oversize, std::string&& reason, std::string_view bytes) {
              out.bad.push_back({out.rows.size(), line, oversize, std::move(reason), bytes});
              return !stop_at_bad;
            },
            stop);
      } catch (...) {
        out.error = std::current_exception();
      }
    };
    auto decode_piece = [&](std::size_t i, auto& piece_parser, std::stop_token stop) {
      decode_into(i, i + 1, piece_parser, stop);
    };
    std::int64_t lines = 0;
    std::size_t decoded = claimed;  // chunks to emit below, in file order
    if (tasks != nullptr) {
      // Every piece, the first included, into a chunk of its own, with a parser each: the rows
      // are all emitted below, on this thread (the stages after the source see one thread).
      decoded = pieces.size();
      if (chunks.size() < decoded) chunks.resize(decoded);
      while (helper_parsers.size() < decoded) helper_parsers.push_back(make_parser());
      auto piece = [&](std::size_t i) { decode_into(i, i, *helper_parsers[i], {}); };
      tasks->run_tasks(decoded, [](void* arg, std::size_t i) { (*static_cast<decltype(piece)*>(arg))(i); }, &piece);
    } else {
      std::vector<std::jthread> workers;  // declared last: stopped and joined first, also when on_bad throws
      workers.reserve(helpers);
      for (std::size_t h = 0; h < helpers; ++h) {
        workers.emplace_back([&, h](std::stop_token stop) {
          for (std::size_t i; !stop.stop_requested() && (i = next_piece.fetch_add(1)) < claimed;)
            decode_piece(i, *helper_parsers[h], stop);
        });
      }
      lines = decode_lines<T>(pieces[0], b.first_line, parser, max_line_bytes, on_row,
                              [&](std::int64_t line, bool oversize, std::string&& reason, std::string_view bytes) {
                                on_bad(line, oversize, std::move(reason), bytes);
                                return true;
                              });
      for (std::size_t i; (i = next_piece.fetch_add(1)) < claimed;) decode_piece(i, parser, {});
      for (auto& w : workers) w.join();  // not the destructor's join: that asks them to stop
    }
    for (std::size_t i = 0; i < decoded; ++i) {  // in file order, numbering lines after the chunks before
      auto& c = chunks[i];
      const std::int64_t base = b.first_line + lines;
      std::size_t next_row = 0;
      for (auto& bad : c.bad) {
        while (next_row < bad.rows_before) on_row(std::move(c.rows[next_row++]));
        on_bad(base + bad.line, bad.oversize, std::move(bad.reason), bad.bytes);
      }
      while (next_row < c.rows.size()) on_row(std::move(c.rows[next_row++]));
      if (c.error) std::rethrow_exception(c.error);
      lines += c.lines;
    }
    reader.end_block(lines);
  }
}
}  // namespace detail
}  // namespace sluice::files
