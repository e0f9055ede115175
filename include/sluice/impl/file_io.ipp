// Definitions of checkpoint/file_io.hpp's non-template functions (see impl/config.hpp).
#pragma once
#include <array>
#include <cstdio>
#include <cstring>

#include "../checkpoint/file_io.hpp"

namespace sluice {

void write_file_atomically(const std::filesystem::path& target, std::string_view bytes, bool overwrite, bool durable) {
  write_file_atomically(target, bytes, overwrite, durable ? file_sync::file_and_directory : file_sync::none);
}

void write_file_atomically(const std::filesystem::path& target, std::string_view bytes, bool overwrite, file_sync sync) {
  namespace fs = std::filesystem;
  const bool durable = sync == file_sync::file_and_directory;
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const fs::path tmp = dir / ("." + target.filename().string() + "." + std::to_string(::getpid()) + ".tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT) {  // the directory first: not on every write (a mkdir each, about 15% of a state file's cost)
    fs::create_directories(dir);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (fd < 0) throw checkpoint_error("cannot create " + tmp.string() + ": " + std::strerror(errno));
  try {
    detail::write_all(fd, bytes, tmp);
    if (durable && detail::counted_fsync(fd) != 0)
      throw checkpoint_error("fsync of " + tmp.string() + " failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // file_sync::file keeps the descriptor open to sync after the name is given.
  if (sync != file_sync::file) ::close(fd);
  auto fail = [&](const std::string& why) {
    if (sync == file_sync::file) ::close(fd);
    ::unlink(tmp.c_str());
    throw checkpoint_error(why);
  };
  if (overwrite) {
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
      const int err = errno;
      fail("cannot rename " + tmp.string() + " to " + target.string() + ": " + std::strerror(err));
    }
  } else {
    if (::link(tmp.c_str(), target.c_str()) != 0) {
      const int err = errno;
      if (err == EEXIST) fail(target.string() + " already exists; a log entry is never overwritten");
      fail("cannot create " + target.string() + ": " + std::strerror(err));
    }
    ::unlink(tmp.c_str());
  }
  if (sync == file_sync::file) {
    const int rc = detail::counted_fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw checkpoint_error("fsync of " + target.string() + " failed: " + std::strerror(err));
  }
  if (durable) detail::fsync_path(dir, true);
}

std::string read_whole_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw checkpoint_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

std::vector<std::int64_t> list_log_entries(const std::filesystem::path& dir) {
  std::vector<std::int64_t> ids;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return ids;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    ids.push_back(std::stoll(name));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

namespace detail {
// Reflected Castagnoli polynomial (as iSCSI, ext4 and Kafka's record batches use), a byte at a
// time: the fallback where the CPU has no crc32 instruction.
inline constexpr auto crc32c_table = [] {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    t[i] = c;
  }
  return t;
}();

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// SSE 4.2's crc32 computes exactly CRC-32C, 8 bytes an instruction (about 20x the table).
[[gnu::target("sse4.2")]] inline std::uint32_t crc32c_sse42(const unsigned char* p, std::size_t n, std::uint32_t c) {
  std::uint64_t c64 = c;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
  }
  c = static_cast<std::uint32_t>(c64);
  for (; n > 0; --n) c = __builtin_ia32_crc32qi(c, *p++);
  return c;
}
#endif
}  // namespace detail

std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc) {
  std::uint32_t c = ~crc;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return ~detail::crc32c_sse42(p, bytes.size(), c);
#endif
  for (std::size_t i = 0; i < bytes.size(); ++i) c = detail::crc32c_table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return ~c;
}

void write_checkpoint_file(const std::filesystem::path& target, std::string_view content, std::string_view query_id,
                           bool overwrite, file_sync sync) {
  if (query_id.find_first_of(" \n") != std::string_view::npos)
    throw checkpoint_error(target.string() + ": a query id with a space or newline cannot be recorded");
  char crc[9];
  std::snprintf(crc, sizeof crc, "%08x", static_cast<unsigned>(crc32c(query_id, crc32c(content))));
  std::string bytes;
  bytes.reserve(content.size() + checkpoint_trailer_tag.size() + 10 + query_id.size());
  bytes.append(content).append(checkpoint_trailer_tag).append(crc, 8).append(" ").append(query_id).append("\n");
  write_file_atomically(target, bytes, overwrite, sync);
}

bool checkpoint_file_is_torn(const std::filesystem::path& p) {
  const std::string bytes = read_whole_file(p);
  // A power loss can leave a file's length without its data (zeros on ext4 and XFS).
  if (bytes.empty() || bytes.back() == '\0') return true;
  const auto at = bytes.rfind(checkpoint_trailer_tag);
  if (at == std::string::npos) return true;
  const std::string_view trailer = std::string_view(bytes).substr(at + checkpoint_trailer_tag.size());
  return trailer.size() < 10 || trailer[8] != ' ' || trailer.back() != '\n' ||
         trailer.substr(0, 8).find_first_not_of("0123456789abcdef") != std::string_view::npos;
}

checkpoint_file read_checkpoint_file(const std::filesystem::path& p) {
  std::string bytes = read_whole_file(p);
  // The trailer is the last occurrence of the tag: the query id holds none.
  const auto at = bytes.rfind(checkpoint_trailer_tag);
  if (at == std::string::npos)
    throw checkpoint_error(p.string() + ": no checksum trailer ('" + std::string(checkpoint_trailer_tag) +
                           "...'): the file is truncated or corrupt, or not a checkpoint file of this sluice version");
  const std::string_view trailer = std::string_view(bytes).substr(at + checkpoint_trailer_tag.size());
  const std::string_view hex = trailer.substr(0, 8);
  if (trailer.size() < 10 || trailer[8] != ' ' || trailer.back() != '\n' ||
      hex.find_first_not_of("0123456789abcdef") != std::string_view::npos)
    throw checkpoint_error(p.string() + ": malformed checksum trailer at byte " + std::to_string(at) +
                           ": the file is truncated or corrupt");
  checkpoint_file f;
  f.query_id = std::string(trailer.substr(9, trailer.size() - 10));
  const auto stored = static_cast<std::uint32_t>(std::stoul(std::string(hex), nullptr, 16));
  bytes.resize(at);
  const std::uint32_t computed = crc32c(f.query_id, crc32c(bytes));
  if (stored != computed) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "stored crc32c %08x, computed %08x", static_cast<unsigned>(stored),
                  static_cast<unsigned>(computed));
    throw checkpoint_error(p.string() + ": checksum mismatch (" + buf + "): the file is corrupt");
  }
  f.content = std::move(bytes);
  return f;
}

std::string read_checkpoint_file(const std::filesystem::path& p, std::string_view query_id) {
  auto f = read_checkpoint_file(p);
  if (!query_id.empty() && f.query_id != query_id)
    throw checkpoint_error(p.string() + ": written by query " + f.query_id + ", but the checkpoint's metadata names query " +
                           std::string(query_id) + ": the metadata or this file was copied from another query's "
                           "checkpoint; restore this checkpoint's own files, or use a new checkpoint location");
  return std::move(f.content);
}

}  // namespace sluice
