// Writing a sink (seed 002): an exactly-once SQLite sink in the two-phase form, fed by a
// small replayable source written here too.
//
//   counter_source   ids 1..total, at most max_per_batch per batch; offset = the last id
//                    read; partitions = id slices (sl::split_id_range). It can read any range
//                    again, which is what a checkpointed query needs after a crash.
//   sqlite_sink      create_writer opens a transaction; the writer inserts the rows; the sink's
//                    commit inserts (query_id, batch_id) into _sluice_batches and commits: the
//                    rows and the batch id are in the SAME transaction, so the database holds
//                    a batch entirely or not at all, and knows which batches it holds.
//                    last_committed_batch() reads it back, and sl::two_phase skips a batch id
//                    already there (a batch re-run after a crash between the sink's commit and
//                    the checkpoint's commit log).
//
// Run without arguments (as CI does):
//   1. counter -> sqlite with a checkpoint: 300 ids, stop, restart with 500 ids (the query
//      resumes after id 300), check the table.
//   2. the crash test: runs itself as a child process (/proc/self/exe --child ...) with
//      SLUICE_CRASH_AT=after_sink:<n> for several n, so the child is SIGKILLed after the sink
//      committed a batch but before the checkpoint's commit log; checks each child was killed
//      there; then runs a child without crash to the end, and checks every id is in the table
//      exactly once (COUNT(*) = COUNT(DISTINCT id) = total) and every batch once.
// Exits non-zero when a check fails.
#include <sluice/sluice.hpp>
#include <sluice/sinks/two_phase.hpp>
#include <sluice/sources/slices.hpp>

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sl = sluice;
namespace fs = std::filesystem;

// ------------------------------------------------------------------ a replayable source
struct Reading {
  std::int64_t id = 0;
  std::string payload;
};
BOOST_DESCRIBE_STRUCT(Reading, (), (id, payload))

struct counter_offset {
  std::int64_t last_id = 0;  // ids (.., last_id] have been read
};
BOOST_DESCRIBE_STRUCT(counter_offset, (), (last_id))

class counter_source {
 public:
  using row_type = Reading;
  using offset_type = counter_offset;
  using partition_type = sl::id_slice;

  counter_source(std::int64_t total, std::int64_t max_per_batch) : total_(total), max_per_batch_(max_per_batch) {}

  counter_offset initial_offset() { return {0}; }
  counter_offset latest_offset(const counter_offset& start, sl::read_limit limit) {
    if (limit.all) return {total_};
    return {std::max(start.last_id, std::min(total_, start.last_id + max_per_batch_))};
  }
  std::vector<sl::id_slice> partitions(const counter_offset& start, const counter_offset& end) {
    return sl::split_id_range(start.last_id, end.last_id, 40);  // 40 ids per partition
  }
  template <class Emit>
  void read(const sl::id_slice& slice, Emit&& emit) {
    for (std::int64_t id = slice.first; id <= slice.last; ++id) emit(Reading{id, "reading-" + std::to_string(id)});
  }
  void commit(const counter_offset&) {}
  std::string description() const { return "Counter[total=" + std::to_string(total_) + "]"; }

 private:
  std::int64_t total_, max_per_batch_;
};

// ------------------------------------------------------------------ SQLite helpers
class database {
 public:
  explicit database(const std::string& path) : path_(path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error(path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  database(const database&) = delete;
  database& operator=(const database&) = delete;
  ~database() { sqlite3_close(db_); }

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw std::runtime_error(path_ + ": " + msg + " (in: " + sql + ")");
    }
  }
  sqlite3_stmt* prepare(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
      throw std::runtime_error(path_ + ": " + sqlite3_errmsg(db_) + " (in: " + sql + ")");
    return s;
  }
  void step_done(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) throw std::runtime_error(path_ + ": " + sqlite3_errmsg(db_));
    sqlite3_reset(s);
  }
  // The single integer a query returns (NULL: nullopt).
  std::optional<std::int64_t> scalar(const std::string& sql, const std::string& text_param = {}) {
    sqlite3_stmt* s = prepare(sql);
    if (!text_param.empty()) sqlite3_bind_text(s, 1, text_param.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<std::int64_t> out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return out;
  }
  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
  int changes() const { return sqlite3_changes(db_); }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

// ------------------------------------------------------------------ the two-phase sink
struct written {
  std::int64_t rows = 0;  // the writer's commit message: how many rows it inserted
};

class sqlite_writer {
 public:
  sqlite_writer(std::shared_ptr<database> db, std::string query_id, std::int64_t batch_id, std::int64_t partition)
      : db_(std::move(db)), query_id_(std::move(query_id)), batch_id_(batch_id), partition_(partition) {
    insert_ = db_->prepare("INSERT INTO readings(id, payload, batch_id, idempotency_key) VALUES (?, ?, ?, ?)");
  }
  sqlite_writer(sqlite_writer&& o) noexcept
      : db_(std::move(o.db_)), query_id_(std::move(o.query_id_)), batch_id_(o.batch_id_), partition_(o.partition_),
        rows_(o.rows_), insert_(std::exchange(o.insert_, nullptr)) {}
  sqlite_writer(const sqlite_writer&) = delete;
  ~sqlite_writer() { sqlite3_finalize(insert_); }

  void write(const Reading& r) {
    // The key names this output row; a re-run of the batch would produce the same keys.
    const std::string key = sl::idempotency_key{query_id_, batch_id_, partition_, rows_}.str();
    sqlite3_bind_int64(insert_, 1, r.id);
    sqlite3_bind_text(insert_, 2, r.payload.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert_, 3, batch_id_);
    sqlite3_bind_text(insert_, 4, key.c_str(), -1, SQLITE_TRANSIENT);
    db_->step_done(insert_);
    ++rows_;
  }
  written commit() { return {rows_}; }  // the rows wait, uncommitted, in the sink's transaction
  void abort() {}                       // the sink's abort rolls the transaction back

 private:
  std::shared_ptr<database> db_;
  std::string query_id_;
  std::int64_t batch_id_, partition_, rows_ = 0;
  sqlite3_stmt* insert_ = nullptr;
};

class sqlite_sink {
 public:
  explicit sqlite_sink(std::string path) : path_(std::move(path)) {}

  void start(const sl::sink_context& ctx) {
    query_id_ = ctx.query_id;  // the checkpoint's query id: the same after a restart
    db_ = std::make_shared<database>(path_);
    db_->exec(
        "CREATE TABLE IF NOT EXISTS readings(id INTEGER NOT NULL, payload TEXT, batch_id INTEGER, idempotency_key TEXT);"
        "CREATE TABLE IF NOT EXISTS _sluice_batches(query_id TEXT NOT NULL, batch_id INTEGER NOT NULL, rows INTEGER,"
        " PRIMARY KEY(query_id, batch_id));");
  }
  std::optional<std::int64_t> last_committed_batch() {
    return db_->scalar("SELECT MAX(batch_id) FROM _sluice_batches WHERE query_id = ?", query_id_);
  }
  sqlite_writer create_writer(std::int64_t batch_id, std::int64_t partition_id) {
    db_->exec("BEGIN IMMEDIATE");
    return sqlite_writer(db_, query_id_, batch_id, partition_id);
  }
  void commit(std::int64_t batch_id, const std::vector<written>& messages) {
    std::int64_t rows = 0;
    for (const auto& m : messages) rows += m.rows;
    sqlite3_stmt* s = db_->prepare("INSERT OR IGNORE INTO _sluice_batches(query_id, batch_id, rows) VALUES (?, ?, ?)");
    sqlite3_bind_text(s, 1, query_id_.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, batch_id);
    sqlite3_bind_int64(s, 3, rows);
    const int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(path_ + ": cannot record batch " + std::to_string(batch_id));
    if (db_->changes() == 0) {  // already there (the adapter skips these first; this is the safety net)
      db_->exec("ROLLBACK");
      std::cout << "  sqlite: batch " << batch_id << " is already in the database; skipped\n";
      return;
    }
    db_->exec("COMMIT");
  }
  void abort(std::int64_t, const std::vector<written>&) {
    if (db_ && db_->in_transaction()) db_->exec("ROLLBACK");
  }
  std::string description() const { return "SQLite[" + path_ + "]"; }

 private:
  std::string path_;
  std::string query_id_;
  std::shared_ptr<database> db_;
};

// ------------------------------------------------------------------ running it
// Runs counter(total, per_batch) -> sqlite(db) on the checkpoint until the counter is read.
void run_query(const std::string& db, const std::string& checkpoint, std::int64_t total, std::int64_t per_batch) {
  auto q = sl::start(counter_source(total, per_batch) | sl::two_phase(sqlite_sink(db)), sl::output_mode::append,
                     {.name = "sqlite_sink", .checkpoint = checkpoint});
  q.process_all_available();
  q.stop();
  if (auto e = q.exception()) throw *e;
}

struct table_counts {
  std::int64_t rows, distinct_ids, distinct_keys, min_id, max_id, batches, distinct_batches, batch_rows, query_ids;
};
table_counts count_table(const std::string& path) {
  database db(path);
  auto get = [&](const char* sql) { return db.scalar(sql).value_or(-1); };
  return {get("SELECT COUNT(*) FROM readings"),
          get("SELECT COUNT(DISTINCT id) FROM readings"),
          get("SELECT COUNT(DISTINCT idempotency_key) FROM readings"),
          get("SELECT MIN(id) FROM readings"),
          get("SELECT MAX(id) FROM readings"),
          get("SELECT COUNT(*) FROM _sluice_batches"),
          get("SELECT COUNT(DISTINCT batch_id) FROM _sluice_batches"),
          get("SELECT SUM(rows) FROM _sluice_batches"),
          get("SELECT COUNT(DISTINCT query_id) FROM _sluice_batches")};
}

int failed(const std::string& why) {
  std::cerr << "sqlite_sink: FAILED: " << why << "\n";
  return 1;
}

// Checks that the table holds ids 1..total exactly once, in `batches` batches of one query.
std::string check_table(const std::string& db, std::int64_t total, std::int64_t batches) {
  const auto c = count_table(db);
  std::cout << "  table: " << c.rows << " rows, " << c.distinct_ids << " distinct ids (" << c.min_id << ".."
            << c.max_id << "), " << c.batches << " batches\n";
  if (c.rows != total) return "COUNT(*) is " + std::to_string(c.rows) + ", expected " + std::to_string(total);
  if (c.distinct_ids != c.rows) return "duplicates: " + std::to_string(c.rows - c.distinct_ids) + " rows";
  if (c.distinct_keys != c.rows) return "duplicate idempotency keys";
  if (c.min_id != 1 || c.max_id != total) return "ids are not 1.." + std::to_string(total);
  if (c.batches != batches || c.distinct_batches != batches)
    return std::to_string(c.batches) + " batches recorded, expected " + std::to_string(batches);
  if (c.batch_rows != total) return "the batches' row counts add up to " + std::to_string(c.batch_rows);
  if (c.query_ids != 1) return "batches of " + std::to_string(c.query_ids) + " query ids";
  return "";
}

// Runs this program as `--child db checkpoint total per_batch` with SLUICE_CRASH_AT=crash_at
// (none when empty); returns the wait status.
int run_child(const std::string& crash_at, const std::string& db, const std::string& checkpoint, std::int64_t total,
              std::int64_t per_batch) {
  std::cout.flush();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (crash_at.empty()) unsetenv("SLUICE_CRASH_AT");
    else setenv("SLUICE_CRASH_AT", crash_at.c_str(), 1);
    const std::string t = std::to_string(total), b = std::to_string(per_batch);
    const char* args[] = {"sqlite_sink", "--child", db.c_str(), checkpoint.c_str(), t.c_str(), b.c_str(), nullptr};
    execv("/proc/self/exe", const_cast<char* const*>(args));
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) throw std::runtime_error("waitpid failed");
  return status;
}

int main(int argc, char** argv) try {
  if (argc == 6 && std::string(argv[1]) == "--child") {
    run_query(argv[2], argv[3], std::stoll(argv[4]), std::stoll(argv[5]));
    return 0;
  }
  if (argc != 1) {
    std::cerr << "usage: " << argv[0] << "   (or --child <db> <checkpoint> <total> <per_batch>)\n";
    return 2;
  }
  const fs::path work = fs::absolute("sqlite_sink_work");
  fs::remove_all(work);
  fs::create_directories(work);

  // 1. A query with a checkpoint; more data arrives between two runs.
  {
    std::cout << "1. counter -> sqlite with a checkpoint\n";
    const std::string db = (work / "demo.db").string(), ck = (work / "demo_checkpoint").string();
    run_query(db, ck, 300, 100);  // batches 0..2
    if (auto e = check_table(db, 300, 3); !e.empty()) return failed("after the first run: " + e);
    run_query(db, ck, 500, 100);  // resumes after id 300: batches 3..4
    if (auto e = check_table(db, 500, 5); !e.empty()) return failed("after the restart: " + e);
  }

  // 2. The crash test.
  {
    std::cout << "2. crash test: SIGKILL after the sink committed a batch, before the commit log\n";
    const std::string db = (work / "crash.db").string(), ck = (work / "crash_checkpoint").string();
    const std::int64_t total = 2000, per_batch = 100;  // 20 batches
    for (int n : {1, 3, 2, 5, 1}) {
      const std::string spec = "after_sink:" + std::to_string(n);
      const int status = run_child(spec, db, ck, total, per_batch);
      if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        return failed("the child with SLUICE_CRASH_AT=" + spec + " was not killed (status " + std::to_string(status) +
                      ")");
      // The hard case: the database holds batch B, the checkpoint has offsets/B but no commits/B.
      const auto last = database(db).scalar("SELECT MAX(batch_id) FROM _sluice_batches");
      if (!last) return failed("no batch in the database after " + spec);
      const fs::path offsets = fs::path(ck) / "offsets" / std::to_string(*last);
      const fs::path commits = fs::path(ck) / "commits" / std::to_string(*last);
      std::cout << "  " << spec << ": killed; the database holds batch " << *last
                << ", the checkpoint has offsets/" << *last << " and no commits/" << *last << "\n";
      if (!fs::exists(offsets) || fs::exists(commits))
        return failed("after " + spec + " the checkpoint is not between the sink and the commit log for batch " +
                      std::to_string(*last));
    }
    const int status = run_child("", db, ck, total, per_batch);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return failed("the final child did not exit cleanly (status " + std::to_string(status) + ")");
    if (auto e = check_table(db, total, total / per_batch); !e.empty()) return failed("after the crashes: " + e);
  }
  fs::remove_all(work);
  std::cout << "OK: every row exactly once, across restarts and crashes\n";
  return 0;
} catch (const std::exception& e) {
  return failed(e.what());
}
