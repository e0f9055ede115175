// sl::files::json_lines_sink(dir, options) and sl::files::csv_sink(dir, options): exactly-once
// file sinks after Spark's FileStreamSink. Append output mode only, as Spark's file sink.
//
//   <dir>/part-00007-<uuid>.jsonl     data files of batch 7 (.csv for the CSV sink)
//   <dir>/_sluice_metadata/7          the manifest entry that commits batch 7:
//                                       v1
//                                       {"path":"part-00007-<uuid>.jsonl","size":1234,"rows":10}
//
// One batch, given as partitions (the partition-aware sink protocol of graph/plan.hpp;
// add_batch is the batch as one partition): a writer per partition, all at once on the
// query's workers, encodes its rows into a buffer and writes them with large writes to hidden
// temporary files (".part-....tmp"), each fsynced and renamed to its final name; then, once, on
// the query's thread, the directory is fsynced and the manifest entry, listing every
// partition's files in partition order, is created put-if-absent (sl::write_file_atomically).
// The batch is committed exactly when its manifest entry exists. A failing writer stops the
// others and every writer's files are deleted. A batch without rows gets a manifest entry with
// no files, and no data file.
//
// Exactly once: add_batch skips a batch id at or below the latest committed one (Spark's
// "Skipping already committed batch"), so a batch re-run after a restart from the checkpoint
// is not written twice. Readers (read_committed_*, and any reader honouring the manifests)
// read only the files the manifests list, so a data file left by a crash before its manifest
// (an orphan, e.g. of the partitions whose writers had finished) is never read. Reuse an output directory only with the checkpoint that wrote
// it: a new query starting again at batch 0 would have its batches skipped (as in Spark).
//
// Orphans: with `delete_orphans` (default on), the sink deletes at start the part files
// (and temporaries) whose batch is committed, or at or below the latest committed batch, and
// which no manifest lists: a manifest entry is never rewritten, so nothing can ever refer to
// them. Part files of batches not committed yet are deleted once the sink commits that batch
// id with its own files. Nothing else in the directory is touched. Only one query may write
// to a directory (a second writer committing the same batch id fails with an error).
//
// The pieces, in sinks/files/: format.hpp (options, rows as JSON lines or CSV), manifest.hpp
// (the manifest entries), staging.hpp (writing and committing a batch, orphans), sink.hpp (the
// sinks) and read_committed.hpp (reading committed output back).
#pragma once
#include "files/read_committed.hpp"
#include "files/sink.hpp"
