// sl::files::json_lines<T>(dir, options) and sl::files::csv<T>(dir, options): streaming
// sources over a directory, after Spark's FileStreamSource.
//
//   auto events = sl::files::json_lines<Event>("input/", {.max_files_per_trigger = 1});
//   auto people = sl::files::csv<Person>("people/", {.header = true,
//                                                    .on_bad_record = sl::files::dead_letter("bad/")});
//
// Files. Each batch lists the directory (not its subdirectories) and takes the regular files
// whose names match `glob` and that it has not taken before, oldest first (modification
// time, then name; newest first with `latest_first`), at most `max_files_per_trigger` of
// them. Names starting with '.' or '_' and names ending in "._COPYING_" are never taken:
// they are how writers hide files in progress. The files of each batch are recorded in the
// source's log before the batch runs (the offset is the number of that log entry, Spark's
// logOffset); a logged file batch never changes, and a file, once taken, is never taken
// again, across restarts too when the query has a checkpoint. The log is compacted as
// Spark's FileStreamSourceLog (detail::source_log).
//
// Files must be complete when they appear: write them elsewhere (or under a hidden name) and
// rename them into the directory, as Spark requires. A file is read up to the size it had
// when it was taken; bytes appended later are not read, and a file that shrank or vanished
// fails the batch. A taken file that changes later is reported (check_taken_files).
//
// Records. JSON lines: one JSON object per line; blank lines are skipped (as Spark does);
// fields of the row type are matched by name, fields the row type lacks are ignored,
// std::optional fields may be absent or null. CSV (RFC 4180): columns by position, or by
// name from each file's first line with `header`. A last line without a newline is still a
// record; an empty file has none. Lines longer than `max_line_bytes` and lines that are not
// valid UTF-8 are bad records.
//
// Partitions: each file of a batch is one of its partitions, and a JSON-lines file larger
// than the block size (Spark's maxSplitBytes: min(max_partition_bytes, max(4 MiB, the batch's
// bytes over min_partitions, the query's parallelism by default))) is cut into equal blocks,
// their number a multiple of the parallelism, each a partition: the lines that start in its
// bytes. With workers they are read at once; rows come out in partition order (files, then
// blocks), as one thread reading the files in turn; a bad record's line is counted from the
// file's start. The batch still takes, logs and commits whole files (files/blocks.hpp).
// CSV files are cut only with multi_line = false (by default a quoted field may hold a
// newline, so a cut could fall inside a record), each block given the file's header. Names
// with a compression suffix (.gz...) are never cut.
//
// Threads: a JSON-lines file (or block) of 1 MiB or more read on the query's thread is cut at
// line boundaries and decoded on `decode_threads` threads (one per core by default); rows, bad
// records and their order are those of one thread (read_lines_in_parallel, files/parallel.hpp).
//
// Bad records: `fail` (the default) throws sl::files::bad_record_error, whose message is
// `file:line: reason`; `skip` drops them and counts them (metrics()); `dead_letter(dir)`
// copies each bad line byte for byte into `<dir>/<file name>.bad`, with one JSON line
// {file, line, reason} per bad record in `<dir>/<file name>.bad.reasons`. Both are written
// under temporary names and renamed into place when the file has been read, so a file read
// again after a failure replaces its dead letters rather than adding to them.
//
// The pieces, in sources/files/: reader.hpp (a file as records), parse.hpp (records into
// rows), parallel.hpp (a large file on several threads), blocks.hpp (a large file as several
// partitions), listing.hpp (the directory),
// bad_records.hpp (the policies and dead letters), source_log.hpp (the checkpointed list of
// file batches) and source.hpp (the source).
#pragma once
#include "files/source.hpp"
