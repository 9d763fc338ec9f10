"""Write a benchmark run: results.json, report.md and plots (matplotlib, files only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402

TARGET_MS = 5.0  # issue 7: 1M chunks at p50 <= 5 ms with Recall@10 >= 0.95


def write_bench_report(results: dict[str, Any], out_dir: Path) -> Path:
    """Write results.json, report.md and the plots into ``out_dir``; returns the report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    lines = [f"# healthqa benchmark — {results['run_at']}", "", *_machine(results), ""]
    if "corpus" in results:
        c = results["corpus"]
        lines += [
            f"Queries ran on the **{c['name']}** index ({c['chunks']:,} chunks, version {c['index_version']}) "
            f"with {c['questions']} real questions.",
            "",
        ]
        if c["note"]:
            lines += [f"> {c['note']}", ""]
    if "limits_lifted" in results and ({"latency", "load"} & set(results)):
        lifted = ", ".join(f"{name}={value}" for name, value in results["limits_lifted"].items())
        lines += [f"Request limits lifted so that the figures measure the service, not its limiter: {lifted}.", ""]
    if "latency" in results:
        lines += _latency(results["latency"], out_dir)
    if "load" in results:
        lines += _load(results["load"], out_dir)
    if "ingest" in results:
        lines += _ingest(results["ingest"])
    if "coldstart" in results:
        cold = results["coldstart"]
        lines += [
            "## API cold start",
            "",
            f"`healthqa serve` spawned to the first 200 from `/readyz`: median **{cold['median_seconds']:.2f} s** "
            f"(min {cold['min_seconds']:.2f}, max {cold['max_seconds']:.2f}; runs {cold['runs']}), "
            f"server RSS {cold['rss_mb_when_ready']:.0f} MB when ready. The file cache is warm after the first run.",
            "",
        ]
    if "scale" in results:
        lines += _scale(results["scale"], out_dir)
    if "replicas" in results:
        lines += _replicas(results["replicas"])
    report = out_dir / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items())
    return [
        f"**Machine**: {m['cpu']}, {m['logical_cores']} logical cores, {m['ram_gib']} GiB RAM, Python {m['python']} "
        f"({m['platform']}). Load average at start {m['load_average_at_start']}, at end "
        f"{m.get('load_average_at_end', [])}: other work on the machine shows up in every figure.",
        "",
        f"**Embedding backend** `{m['embed_backend']}`, model `{m['model']}`, dense index `{m['dense_type']}`. "
        f"Packages: {packages}.",
    ]


def _ms(summary: dict[str, float], digits: int = 1) -> str:
    return " | ".join(f"{summary[p]:.{digits}f}" for p in ("p50", "p95", "p99"))


def _latency(latency: dict[str, Any], out_dir: Path) -> list[str]:
    lines = [
        "## Query latency (sequential, one request at a time)",
        "",
        "Client: what the caller waits for. Server: the service's own `timings_ms.total` (`/v1/ask` only).",
        "",
        "| where | endpoint | client p50 | p95 | p99 (ms) | server p50 | p95 | p99 (ms) | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    bars: dict[str, dict[str, float]] = {}
    for where, by_endpoint in latency.items():
        for endpoint, body in by_endpoint.items():
            server = body["server_ms"].get("total")
            server_cells = _ms(server) if server else "– | – | –"
            errors = sum(body["errors"].values())
            lines.append(f"| {where} | `{endpoint}` | {_ms(body['client_ms'])} | {server_cells} | {errors} |")
            bars[f"{endpoint}\n{where}"] = body["client_ms"]
    stages = {where: body["/v1/ask"]["server_ms"] for where, body in latency.items() if "/v1/ask" in body}
    if stages:
        lines += ["", "Server time of `/v1/ask` by stage, p50 (ms):", ""]
        names = [
            s for s in ("red_flags", "embed", "search", "compose", "total") if any(s in v for v in stages.values())
        ]
        lines += ["| where | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
        for where, by_stage in stages.items():
            lines.append(
                f"| {where} | "
                + " | ".join(f"{by_stage[s]['p50']:.2f}" if s in by_stage else "–" for s in names)
                + " |"
            )
    plot = _percentile_bars(bars, "Query latency (client)", out_dir / "latency.png")
    return [*lines, "", f"![Query latency]({plot.name})", ""]


def _percentile_bars(bars: dict[str, dict[str, float]], title: str, path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4))
    width = 0.25
    for offset, key in enumerate(("p50", "p95", "p99")):
        axes.bar(
            [i + (offset - 1) * width for i in range(len(bars))], [b[key] for b in bars.values()], width, label=key
        )
    axes.set_xticks(range(len(bars)), list(bars), fontsize=8)
    axes.set(ylabel="ms", title=title)
    axes.grid(axis="y", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _load(load: list[dict[str, Any]], out_dir: Path) -> list[str]:
    lines = [
        "## Throughput under concurrency (load generator in its own process, loopback)",
        "",
        "| endpoint | clients | requests | req/s | p50 | p95 | p99 (ms) | errors | server RSS peak (MB) | server CPU ms/req |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in load:
        errors = row["error_count"] if not row["errors"] else f"**{row['error_count']}** {row['errors']}"
        lines.append(
            f"| `{row['endpoint']}` | {row['concurrency']} | {row['ok']} | {row['requests_per_second']:.1f} | "
            f"{_ms(row['latency_ms'])} | {errors} | {row['server_rss_mb_peak']:.0f} | {row['server_cpu_ms_per_request']:.1f} |"
        )
    figure, (rate, tail) = plt.subplots(1, 2, figsize=(9, 3.6))
    for endpoint in dict.fromkeys(row["endpoint"] for row in load):
        rows = [row for row in load if row["endpoint"] == endpoint]
        levels = [row["concurrency"] for row in rows]
        rate.plot(levels, [row["requests_per_second"] for row in rows], marker="o", label=endpoint)
        tail.plot(levels, [row["latency_ms"]["p95"] for row in rows], marker="o", label=endpoint)
    rate.set(xscale="log", xlabel="concurrent clients", ylabel="requests/s", title="Throughput")
    rate.set_ylim(bottom=0)
    tail.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="p95 latency (ms)", title="Tail latency")
    for axes in (rate, tail):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(out_dir / "load.png", dpi=110)
    plt.close(figure)
    return [*lines, "", "![Throughput](load.png)", ""]


def _replicas(replicas: dict[str, Any]) -> list[str]:
    lines = [
        f"## Replicas behind nginx (1 vs {replicas['replicas']}, shipped corpus)",
        "",
        "Debian's nginx with `deploy/nginx/healthqa.conf`, round robin; the replicas, nginx and the load generator "
        "share this machine's cores, so on 2 cores more replicas add failover rather than throughput.",
        "",
        "| endpoint | replicas | clients | requests | req/s | p50 | p95 | p99 (ms) | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in replicas["throughput"]:
        errors = row["error_count"] if not row["errors"] else f"**{row['error_count']}** {row['errors']}"
        lines.append(
            f"| `{row['endpoint']}` | {row['replicas']} | {row['concurrency']} | {row['ok']} | "
            f"{row['requests_per_second']:.1f} | {_ms(row['latency_ms'])} | {errors} |"
        )
    if replicas["follow"]:
        lines += [
            "",
            f"Following a publish (`HEALTHQA_INDEX_WATCH_S={replicas['watch_s']:g}`): seconds from `CURRENT`'s "
            "change to each replica serving the new version, as each replica measured it.",
            "",
            "| version | per replica (s) | slowest (s) |",
            "| --- | --- | --- |",
        ]
        for row in replicas["follow"]:
            per = ", ".join(f"{s:.2f}" for s in row["seconds"])
            lines.append(f"| {row['version']} | {per} | {row['max_seconds']:.2f} |")
    return [*lines, ""]


def _ingest(ingest: dict[str, Any]) -> list[str]:
    lines = [
        "## Ingestion",
        "",
        f"The model was loaded before timing ({ingest['model_load_seconds']:.1f} s; 0 when an earlier part had "
        "loaded it), so these are chunking, embedding and publishing.",
        "",
        "| run | documents | chunks | embedded chunks / sentences | seconds | chunks/s | sentences/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, run in ingest.items():
        if not isinstance(run, dict):
            continue
        label = name.replace("_", " ") + (f" ({run['article']})" if "article" in run else "")
        label += f" ({run['records']} records)" if "records" in run else ""
        rate = f"{run['chunks_per_second']:.1f}" if run["chunks_per_second"] else "–"
        sentence_rate = f"{run['sentences_per_second']:.1f}" if run["sentences_per_second"] else "–"
        lines.append(
            f"| {label} | {run['documents']} | {run['chunks']} | {run['chunks_embedded']} / {run['sentences_embedded']} "
            f"| {run['seconds']:.2f} | {rate} | {sentence_rate} |"
        )
    lines.append("")
    for name, run in ingest.items():
        if isinstance(run, dict) and "fraction_of_ceiling" in run:
            lines += _ceiling(name.replace("_", " "), run)
    return lines


def _ceiling(label: str, run: dict[str, Any]) -> list[str]:
    """Ingest against the embedder alone on the same chunk texts, and where the rest of the time goes."""
    stages = run.get("stages_seconds", {})
    lines = [
        f"**{label}**: {run['chunks_per_second']:.1f} chunks/s with sentence vectors ({run['sentence_vectors']}; "
        f"{run['sentences_standalone']} sentences embedded alone) against the embedder alone on the same "
        f"{run['embedder_alone_texts']} chunk texts, {run['ceiling_chunks_per_second']:.1f} chunks/s in "
        f"{run['embedder_alone_seconds']:.2f} s: **{run['fraction_of_ceiling']:.2f} of the ceiling**.",
        "",
        "| stage | seconds | share |",
        "| --- | --- | --- |",
    ]
    for stage, seconds in sorted(stages.items(), key=lambda item: -item[1]):
        lines.append(f"| {stage} | {seconds:.3f} | {seconds / run['seconds']:.1%} |")
    return [*lines, ""]


def _scale(scale: dict[str, Any], out_dir: Path) -> list[str]:
    o = scale["options"]
    lines = [
        "## Dense search at scale",
        "",
        f"Synthetic corpora drawn around {o['real_vectors']['chunks']:,} real MedQuAD chunk vectors (noise {o['noise']}); "
        f"{o['queries']['question']} real questions and {o['queries']['held_out']} held-out draws as queries; "
        f"k={o['k']}, single queries, {o['threads']} FAISS thread(s). HNSW M={o['hnsw']['M']}, "
        f"efConstruction={o['hnsw']['ef_construction']}. Chosen: the cheapest efSearch / nprobe with "
        f"Recall@{o['k']} ≥ {o['target_recall']} for both kinds of query.",
        "",
        "| vectors | index | setting | build (s) | index MB | p50 | p95 | p99 (ms) | Recall@k | Recall@50 at k=50 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size in scale["sizes"]:
        n = f"{size['n']:,}"
        if "flat" in size:
            f = size["flat"]
            lines.append(
                f"| {n} | flat (exact) | – | {f['build_seconds']:.1f} | {f['index_mb']:.0f} | {_ms(f['latency_ms'], 2)} | 1.000 | 1.000 |"
            )
        for method, name in (("hnsw", "ef_search"), ("ivf", "nprobe")):
            if method not in size:
                continue
            body = size[method]
            chosen = body["chosen"]
            if chosen is None:
                lines.append(
                    f"| {n} | {method} | none reached the target | {body['build_seconds']:.1f} | {body['index_mb']:.0f} | | | | | |"
                )
                continue
            row = next(r for r in body["sweep"] if r[name] == chosen[name])
            extra = f", nlist={body['params']['nlist']}" if method == "ivf" else ""
            at = chosen["at_candidates"]
            lines.append(
                f"| {n} | {method} | {name}={chosen[name]}{extra} | {body['build_seconds']:.1f} | {body['index_mb']:.0f} | "
                f"{_ms(row['latency_ms'], 2)} | {row['recall']:.3f} | {at['recall']:.3f} ({at['latency_ms']['p50']:.2f} ms) |"
            )
    lines += [
        "",
        "Shape of each synthetic corpus: draws per real vector; cosine of nearest neighbours inside it; "
        "the queries' top-1 / top-k cosine:",
        "",
    ]
    lines += [
        f"- {s['n']:,}: {s['shape'].get('draws_per_centre', '?')} draws each; {s['shape']['corpus_nn_cosine']:.3f}; "
        f"{s['shape']['query_top1_cosine']:.3f} / {s['shape']['query_topk_cosine']:.3f}"
        for s in scale["sizes"]
    ]
    if any(s["shape"].get("draws_per_centre", 0) > 30 for s in scale["sizes"]):
        lines += [
            "",
            "> Over 30 draws per real vector the corpus clumps into tight clusters, which flatter IVF and can trap "
            "HNSW (see eval/bench/vectors.py). Seed it with more real vectors: `--real-index var/eval/index-medquad`.",
        ]
    largest = scale["sizes"][-1]
    verdicts = []
    for method in ("hnsw", "ivf"):
        chosen = largest.get(method, {}).get("chosen")
        if chosen is not None:
            met = chosen["p50_ms"] <= TARGET_MS
            verdicts.append(
                f"{method} at {largest['n']:,}: p50 {chosen['p50_ms']:.2f} ms, Recall@{o['k']} {chosen['recall']:.3f} — "
                + ("meets" if met else "**misses**")
                + f" the target (p50 ≤ {TARGET_MS:g} ms, recall ≥ {o['target_recall']})"
            )
    lines += ["", *[f"- {v}" for v in verdicts], ""]
    plot = _scale_plots(scale, out_dir / "scale.png")
    return [*lines, f"![Scale]({plot.name})", ""]


def _scale_plots(scale: dict[str, Any], path: Path) -> Path:
    figure, (trade, growth) = plt.subplots(1, 2, figsize=(10, 4))
    for size in scale["sizes"]:
        for method in ("hnsw", "ivf"):
            if method in size:
                sweep = size[method]["sweep"]
                trade.plot(
                    [r["latency_ms"]["p50"] for r in sweep],
                    [r["recall"] for r in sweep],
                    marker="o",
                    markersize=3,
                    label=f"{method} {size['n']:,}",
                )
        if "flat" in size:
            trade.scatter([size["flat"]["latency_ms"]["p50"]], [1.0], marker="x", color="black")
    trade.axhline(scale["options"]["target_recall"], color="grey", linestyle="--", linewidth=1)
    trade.set(
        xscale="log",
        xlabel="p50 ms (single query)",
        ylabel=f"Recall@{scale['options']['k']}",
        title="Recall vs latency (x: exact)",
    )
    sizes = [s["n"] for s in scale["sizes"]]
    if all("flat" in s for s in scale["sizes"]):
        growth.plot(sizes, [s["flat"]["latency_ms"]["p50"] for s in scale["sizes"]], marker="o", label="flat (exact)")
    for method in ("hnsw", "ivf"):
        points = [(s["n"], s[method]["chosen"]["p50_ms"]) for s in scale["sizes"] if s.get(method, {}).get("chosen")]
        if points:
            growth.plot(*zip(*points, strict=True), marker="o", label=f"{method} (chosen)")
    growth.axhline(TARGET_MS, color="grey", linestyle="--", linewidth=1)
    growth.set(xscale="log", yscale="log", xlabel="vectors", ylabel="p50 ms", title="Single-query latency vs size")
    for axes in (trade, growth):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def summary_lines(results: dict[str, Any]) -> list[str]:
    """The headline figures of a run, one per line, for the terminal."""
    lines = []
    for where, by_endpoint in results.get("latency", {}).items():
        for endpoint, body in by_endpoint.items():
            c = body["client_ms"]
            lines.append(f"latency {where} {endpoint}: p50 {c['p50']:.1f} ms, p95 {c['p95']:.1f}, p99 {c['p99']:.1f}")
    for row in results.get("load", []):
        lines.append(
            f"load {row['endpoint']} x{row['concurrency']}: {row['requests_per_second']:.1f} req/s, "
            f"p95 {row['latency_ms']['p95']:.0f} ms, {row['error_count']} errors, server RSS {row['server_rss_mb_peak']:.0f} MB"
        )
    for name, run in results.get("ingest", {}).items():
        if isinstance(run, dict):
            rate = f", {run['chunks_per_second']:.1f} chunks/s" if run["chunks_per_second"] else ""
            if "fraction_of_ceiling" in run:
                rate += (
                    f" = {run['fraction_of_ceiling']:.2f} of the embedder alone "
                    f"({run['ceiling_chunks_per_second']:.1f} chunks/s, same run); other steps: "
                    + ", ".join(
                        f"{stage} {seconds:.2f} s"
                        for stage, seconds in run.get("stages_seconds", {}).items()
                        if stage != "embedding"
                    )
                )
            lines.append(f"ingest {name}: {run['chunks_embedded']} chunks embedded in {run['seconds']:.2f} s{rate}")
    for row in results.get("replicas", {}).get("throughput", []):
        lines.append(
            f"replicas {row['replicas']} {row['endpoint']} x{row['concurrency']}: {row['requests_per_second']:.1f} "
            f"req/s through nginx, p95 {row['latency_ms']['p95']:.0f} ms, {row['error_count']} errors"
        )
    for row in results.get("replicas", {}).get("follow", []):
        lines.append(f"replicas followed {row['version']} within {row['max_seconds']:.2f} s (slowest replica)")
    if "coldstart" in results:
        lines.append(f"cold start: median {results['coldstart']['median_seconds']:.2f} s to ready")
    for size in results.get("scale", {}).get("sizes", []):
        parts = []
        if "flat" in size:
            parts.append(f"flat p50 {size['flat']['latency_ms']['p50']:.2f} ms")
        for method, name in (("hnsw", "ef_search"), ("ivf", "nprobe")):
            chosen = size.get(method, {}).get("chosen") if method in size else None
            if method in size:
                parts.append(
                    f"{method} {name}={chosen[name]} p50 {chosen['p50_ms']:.2f} ms recall {chosen['recall']:.3f}"
                    if chosen
                    else f"{method}: no setting reached the target recall"
                )
        lines.append(f"scale {size['n']:,}: " + "; ".join(parts))
    return lines


def error_lines(results: dict[str, Any]) -> list[str]:
    """Every failed request of the run, by part: a benchmark with errors measured something else."""
    problems = []
    for where, by_endpoint in results.get("latency", {}).items():
        for endpoint, body in by_endpoint.items():
            if body["errors"]:
                problems.append(f"latency {where} {endpoint}: {body['errors']}")
    for row in results.get("load", []):
        if row["errors"]:
            problems.append(f"load {row['endpoint']} x{row['concurrency']}: {row['errors']}")
    for row in results.get("replicas", {}).get("throughput", []):
        if row["errors"]:
            problems.append(f"replicas {row['replicas']} {row['endpoint']} x{row['concurrency']}: {row['errors']}")
    return problems
