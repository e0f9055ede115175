#!/usr/bin/env python3
"""Compile-time suite: how long g++ takes, and how much memory, for sluice programs.

Generates translation units into OUT_DIR and compiles each one (`-c`, no linking) at -O2 and
-O0, reporting wall seconds, CPU seconds (user + system) and peak memory (max RSS) of the
compiler:

  empty            a TU that includes only <cstdint>: the compiler's own start-up
  core_headers     #include <sluice/sluice.hpp> and nothing else (the umbrella header)
  all_headers      the umbrella plus <sluice/files.hpp> (file connectors) when it exists
  hana_header      the umbrella plus the opt-in <sluice/hana.hpp> (Boost.Hana interop)
  range_v3_header  the umbrella plus the opt-in <sluice/range_v3.hpp> (range-v3 interop)
  rules_mp11       the shape rules' algorithm alone: 10 predicates over a list of 60 stage types
  rules_hana       with Boost.Mp11 (what graph/stages.hpp uses) and with Boost.Hana
  pipeline_N       a started query: memory_stream | N stateless stages | memory_sink, for
                   N = 0, 1, 5, 10, 20, 40, 60 (map / filter / flat_map in turn, each a
                   distinct lambda, as users write them)

Each of core_headers and pipeline_N is compiled in both modes (--modes): header-only
(sluice::header_only, or a plain -I include: the TU compiles the engine, sluice's micro-batch
loop, checkpoint logs and progress JSON) and separate (the default, sluice::sluice:
-DSLUICE_SEPARATE_COMPILATION, the headers only declare the engine, which src/sluice.cpp, the
library, compiles once); the increments are over
core_headers in the same mode. In separate mode it also compiles src/sluice.cpp itself (once
per project).

The started-query increment (--started-stages, 10 by default): "umbrella only" (core_headers)
against "umbrella + started N-stage query" (pipeline_N, compiled even when --stages leaves N
out) in each mode, the figure the target is stated in. --started measures only those two TUs, for a quick run.

And the rule-violation error: tests/fail/append_aggregation_without_watermark.cpp (append
mode, aggregation, no watermark) compiled as the compile-fail tests do: the number of lines
and bytes g++ prints, and where the first line naming the rule is.

Usage: compile_time.py [--cxx g++] [--out DIR] [--repeat N] [--opt -O2,-O0] [--stages 0,1,5,...]
                       [--modes header-only,separate] [--started] [--started-stages 10] [--json FILE]
Prints a Markdown table; --json also writes the numbers. Each TU is compiled --repeat times,
the rounds interleaved (every TU once, then again), and the run with the least CPU time is
kept (the machine is shared: CPU time is the steadier figure; wall time is reported beside
it; interleaving spreads a busy moment over all TUs instead of one).
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

HEADER = """\
#include <sluice/sluice.hpp>

#include <cstdint>
#include <optional>

namespace sl = sluice;

struct Tick {
  std::int64_t id;
  std::int64_t key;
  double price;
  double qty;
};
BOOST_DESCRIBE_STRUCT(Tick, (), (id, key, price, qty))
"""


# Compile modes (include/sluice/impl/config.hpp): their extra flags, and object name suffixes.
MODE_FLAGS = {"header-only": [], "separate": ["-DSLUICE_SEPARATE_COMPILATION"]}
MODE_SUFFIX = {"header-only": "", "separate": "-sep"}


def stage(i: int) -> str:
    """The i-th stage: map, filter and flat_map in turn, each its own lambda."""
    kind = i % 3
    if kind == 0:
        return f"      | sl::map([](const Tick& t) {{ return Tick{{t.id, t.key + {i + 1}, t.price * 1.01, t.qty}}; }})"
    if kind == 1:
        return f"      | sl::filter([](const Tick& t) {{ return t.qty > {i}; }})"
    return (f"      | sl::flat_map([](const Tick& t) {{ return t.price > {i} ? std::optional<Tick>(t)"
            f" : std::optional<Tick>(); }})")


def pipeline_tu(n: int) -> str:
    stages = "\n".join(stage(i) for i in range(n))
    return HEADER + f"""
int main() {{
  sl::memory_stream<Tick> in;
  sl::memory_sink<Tick> out;
  auto query = sl::start(in
{stages}
      | out, sl::output_mode::append);
  in.add_data({{Tick{{1, 2, 3.0, 40.0}}}});
  query.process_all_available();
  query.stop();
  return static_cast<int>(out.rows().size());
}}
"""


def rules_tu(lib: str, n: int = 60, rules: int = 10) -> str:
    """Shape rules as predicates over a query's list of stages (graph/stages.hpp), with Boost.Mp11
    (what sluice uses) or Boost.Hana (what the design named): n stage types, `rules` rules each
    asking whether an aggregation is among the first n - k stages and counting them."""
    types = "\n".join(f"struct S{i} {{ static constexpr bool aggregation = {'true' if i == n - 1 else 'false'}; }};"
                      for i in range(n))
    names = ", ".join(f"S{i}" for i in range(n))
    calls = " + ".join(f"rule<{k}>()" for k in range(rules))
    if lib == "mp11":
        return f"""#include <boost/mp11/algorithm.hpp>
#include <type_traits>
{types}
template <class S> struct is_aggregation : std::bool_constant<S::aggregation> {{}};
using stages = boost::mp11::mp_list<{names}>;
template <int K> constexpr bool rule() {{
  return boost::mp11::mp_any_of<boost::mp11::mp_take_c<stages, {n} - K>, is_aggregation>::value ||
         boost::mp11::mp_count_if<stages, is_aggregation>::value > K;
}}
static_assert({calls} >= 1);
int main() {{ return 0; }}
"""
    return f"""#include <boost/hana/any_of.hpp>
#include <boost/hana/count_if.hpp>
#include <boost/hana/integral_constant.hpp>
#include <boost/hana/take_front.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>
namespace hana = boost::hana;
{types}
constexpr auto stages = hana::tuple_t<{names}>;
constexpr auto is_aggregation = [](auto t) {{ return hana::bool_c<decltype(t)::type::aggregation>; }};
template <int K> constexpr bool rule() {{
  return decltype(hana::any_of(hana::take_front(stages, hana::size_c<{n} - K>), is_aggregation))::value ||
         decltype(hana::count_if(stages, is_aggregation))::value > K;
}}
static_assert({calls} >= 1);
int main() {{ return 0; }}
"""


def measure(cmd, cwd):
    """Runs cmd; returns (returncode, wall s, cpu s, max RSS MB, stderr)."""
    if shutil.which("time") and Path("/usr/bin/time").exists():
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            start = time.perf_counter()
            p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name] + cmd, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, LC_ALL="C"))
            wall = time.perf_counter() - start
            fields = tf.read().strip().splitlines()[-1].split()
            _, user, system, rss_kb = fields[-4:]
            return p.returncode, wall, float(user) + float(system), int(rss_kb) / 1024.0, p.stderr
    # No /usr/bin/time: the children's rusage, measured as a difference around the run.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       env=dict(os.environ, LC_ALL="C"))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.returncode, wall, cpu, after.ru_maxrss / 1024.0, p.stderr  # max over children so far


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("--out", default=str(REPO / "build" / "compile_time"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--opt", default="-O2,-O0")
    ap.add_argument("--stages", default="0,1,5,10,20,40,60")
    ap.add_argument("--modes", default="header-only,separate")
    ap.add_argument("--started", action="store_true",
                    help="only the umbrella-only TU and the started query of --started-stages stages")
    ap.add_argument("--started-stages", type=int, default=10)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    started = f"pipeline_{args.started_stages}"

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tus = {"empty": "#include <cstdint>\nint main() { return 0; }\n",
           "core_headers": "#include <sluice/sluice.hpp>\nint main() { return 0; }\n"}
    if (REPO / "include" / "sluice" / "files.hpp").exists():
        tus["all_headers"] = "#include <sluice/sluice.hpp>\n#include <sluice/files.hpp>\nint main() { return 0; }\n"
    # The opt-in interop headers (kept out of the umbrella): their cost over core_headers.
    opt_in = {"hana_header": "hana.hpp", "range_v3_header": "range_v3.hpp"}
    for name, header in opt_in.items():
        if (REPO / "include" / "sluice" / header).exists():
            tus[name] = f"#include <sluice/sluice.hpp>\n#include <sluice/{header}>\nint main() {{ return 0; }}\n"
    for n in (int(x) for x in args.stages.split(",") if x != ""):
        tus[f"pipeline_{n}"] = pipeline_tu(n)
    # The shape rules' compile-time list: Boost.Mp11 against Boost.Hana, alone (no sluice header).
    tus["rules_mp11"] = rules_tu("mp11")
    tus["rules_hana"] = rules_tu("hana")
    tus[started] = pipeline_tu(args.started_stages)
    if args.started:
        tus = {k: v for k, v in tus.items() if k in ("core_headers", started)}
    for name, text in tus.items():
        (out / f"{name}.cpp").write_text(text)

    version = subprocess.run([args.cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    base = [args.cxx, "-std=c++20", f"-I{REPO / 'include'}"]
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODE_FLAGS:
            print(f"compile_time: unknown mode {m!r} (known: {', '.join(MODE_FLAGS)})", file=sys.stderr)
            return 2
    # (TU name, mode, source): core_headers and pipelines in every mode; the library's own
    # source once, in separate mode; the empty TU once.
    jobs = []
    for name in tus:
        for mode in (modes if name != "empty" else modes[:1]):
            if name in ("all_headers", "hana_header", "range_v3_header", "rules_mp11", "rules_hana") and mode != "header-only":
                continue
            jobs.append((name, mode, f"{name}.cpp"))
    library_source = REPO / "src" / "sluice.cpp"
    if "separate" in modes and library_source.exists() and not args.started:
        jobs.append(("src/sluice.cpp", "separate", str(library_source)))
    results = []
    for opt in args.opt.split(","):
        best = {}
        for rnd in range(max(1, args.repeat)):
            for name, mode, source in jobs:
                obj = f"{name.replace('/', '_')}{MODE_SUFFIX[mode]}{opt}.o"
                rc, wall, cpu, rss, err = measure(base + MODE_FLAGS[mode] + [opt, "-c", source, "-o", obj], out)
                if rc != 0:
                    print(f"compile_time: {source} ({mode}, {opt}) failed to compile:\n{err}", file=sys.stderr)
                    return 1
                b = best.get((name, mode))
                if b is None or cpu < b["cpu_s"]:
                    best[(name, mode)] = {"tu": name, "mode": mode, "opt": opt, "wall_s": round(wall, 2),
                                          "cpu_s": round(cpu, 2), "max_rss_mb": round(rss, 1)}
                print(f"  {opt} {mode} {name} (round {rnd + 1}): {cpu:.2f} s CPU, {wall:.2f} s wall, {rss:.0f} MB",
                      file=sys.stderr, flush=True)
        results.extend(best[(name, mode)] for name, mode, _ in jobs)

    by = {(r["tu"], r["mode"], r["opt"]): r for r in results}
    print(f"\nCompiler: {version}; `{' '.join(base[:2])} -I include [-DSLUICE_SEPARATE_COMPILATION] <opt> -c`; "
          f"best of {args.repeat}\n")
    print("| translation unit | mode | opt | CPU s | wall s | peak MB | CPU s over core_headers | MB over core_headers |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        ref = by.get(("core_headers", r["mode"], r["opt"]))
        over = ref and (r["tu"].startswith("pipeline") or r["tu"].endswith("_header"))
        extra_s = f"{r['cpu_s'] - ref['cpu_s']:+.2f}" if over else ""
        extra_mb = f"{r['max_rss_mb'] - ref['max_rss_mb']:+.0f}" if over else ""
        print(f"| {r['tu']} | {r['mode']} | {r['opt']} | {r['cpu_s']:.2f} | {r['wall_s']:.2f} | {r['max_rss_mb']:.0f} "
              f"| {extra_s} | {extra_mb} |")
    # The target's figure: what starting a query adds to a TU that includes the umbrella.
    print(f"\nStarted query ({args.started_stages} stages) over the umbrella-only TU, same mode and options:\n")
    print(f"| mode | opt | umbrella only CPU s | umbrella + started {args.started_stages}-stage query CPU s "
          "| added CPU s | added MB |")
    print("| --- | --- | --- | --- | --- | --- |")
    increments = []
    for opt in args.opt.split(","):
        for mode in modes:
            ref, q = by.get(("core_headers", mode, opt)), by.get((started, mode, opt))
            if not ref or not q:
                continue
            added = round(q["cpu_s"] - ref["cpu_s"], 2)
            increments.append({"mode": mode, "opt": opt, "stages": args.started_stages, "umbrella_cpu_s": ref["cpu_s"],
                               "started_cpu_s": q["cpu_s"], "added_cpu_s": added,
                               "added_mb": round(q["max_rss_mb"] - ref["max_rss_mb"], 1)})
            print(f"| {mode} | {opt} | {ref['cpu_s']:.2f} | {q['cpu_s']:.2f} | {added:+.2f} "
                  f"| {q['max_rss_mb'] - ref['max_rss_mb']:+.0f} |")
    if args.started:
        if args.json:
            Path(args.json).write_text(json.dumps({"compiler": version, "results": results,
                                                   "started_query": increments}, indent=2) + "\n")
        return 0
    # The rule-violation error, compiled as tests/fail/check_compile_fail.cmake does.
    fail_src = REPO / "tests" / "fail" / "append_aggregation_without_watermark.cpp"
    rc, wall, cpu, rss, err = measure(base + ["-O0", f"-I{fail_src.parent}", "-fsyntax-only", str(fail_src)], out)
    lines = err.splitlines()
    first_error = next((i for i, l in enumerate(lines) if "error:" in l), None)
    rule_line = next((i for i, l in enumerate(lines) if "append-aggregation-needs-watermark" in l), None)
    error_report = {
        "source": str(fail_src.relative_to(REPO)), "compiled": rc == 0, "lines": len(lines), "bytes": len(err),
        "error_lines": sum(1 for l in lines if "error:" in l),
        "first_error_line": None if first_error is None else first_error + 1,
        "first_error": None if first_error is None else lines[first_error][-300:],
        "rule_named_on_line": None if rule_line is None else rule_line + 1,
    }

    e = error_report
    print(f"\nRule violation ({e['source']}): {'COMPILED (the rule did not fire!)' if e['compiled'] else 'rejected'}; "
          f"{e['lines']} lines, {e['bytes']} bytes of diagnostics, {e['error_lines']} error line(s); "
          f"first error on line {e['first_error_line']}, the rule named on line {e['rule_named_on_line']}:")
    print(f"    {e['first_error']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"compiler": version, "results": results, "started_query": increments,
                                               "rule_error": error_report}, indent=2) + "\n")
    return 1 if e["compiled"] or e["rule_named_on_line"] is None else 0


if __name__ == "__main__":
    sys.exit(main())
