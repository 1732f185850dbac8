#!/usr/bin/env python3
"""bench/report.py RAW.jsonl OUT.json — turns bench/run's raw measurements into the table and
the JSON result. Exit 0: all goals met; 2: a goal missed or not measurable; 1: bad input."""
import json
import statistics
import sys


def median(xs):
    return statistics.median(xs) if xs else None


def pctl(xs, p):
    """Nearest-rank percentile."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def apdu_set(xs):
    """The APDU counts seen (one number when every run sent the same)."""
    s = sorted(set(x["apdus"] for x in xs))
    return str(s[0]) if len(s) == 1 else "/".join(map(str, s))


def main():
    raw_path, out_path = sys.argv[1], sys.argv[2]
    rows = [json.loads(l) for l in open(raw_path) if l.strip()]
    meta = next((r["meta"] for r in rows if "meta" in r), {})
    meta.update(next((r["meta_end"] for r in rows if "meta_end" in r), {}))
    part = lambda name: [r for r in rows if r.get("part") == name]
    table = []  # (measurement, value, goal, result)
    results = {"meta": meta}
    missed = []

    def line(name, value, goal="", ok=None, why=None):
        res = "" if ok is None else ("pass" if ok else "MISS")
        if ok is None and why:
            res = why
        table.append((name, value, goal, res))
        if ok is False:
            missed.append(f"{name}: {value} (goal {goal})")

    # 1. transmit
    t = part("transmit")
    raw_us = [r["raw"]["us_per_apdu"] for r in t]
    sw_us = [r["swift"]["us_per_apdu"] for r in t]
    per_round = [s / r for s, r in zip(sw_us, raw_us)]
    ratio = median(per_round)
    raw_cpu = [r["raw"].get("cpu_us_per_apdu") for r in t]
    sw_cpu = [r["swift"].get("cpu_us_per_apdu") for r in t]
    results["transmit"] = {
        "apdu": "SELECT JPKI AP (00A4040C0AD392F000260100000001)", "rounds": len(t),
        "raw_us_per_apdu": raw_us, "swift_us_per_apdu": sw_us,
        "raw_median_us": median(raw_us), "swift_median_us": median(sw_us),
        "ratio_median_of_rounds": ratio, "ratio_of_medians": median(sw_us) / median(raw_us),
        "per_round_ratios": per_round, "raw_cpu_us_per_apdu": raw_cpu, "swift_cpu_us_per_apdu": sw_cpu,
        "goal_ratio_max": 1.05}
    n = t[0]["raw"].get("count", "?") if t else "?"
    line("per-APDU: raw C SCardTransmit loop, median", f"{median(raw_us):.1f} µs wall, {median(raw_cpu):.1f} µs CPU"
         f" ({len(t)} rounds x {n} APDUs)")
    line("per-APDU: PCSCCard + CardChannel, median", f"{median(sw_us):.1f} µs wall, {median(sw_cpu):.1f} µs CPU")
    line("  ratio ours / raw C (median of paired rounds)",
         f"{ratio:.3f}x (rounds {min(per_round):.3f}-{max(per_round):.3f}; medians {median(sw_us)/median(raw_us):.3f}x)",
         "<= 1.05x", ratio <= 1.05)

    # 2. verify
    v = part("verify")
    res_v = {"rounds": len(v)}
    def tool(name):
        xs = [r[name] for r in v if name in r]
        bad = [x for x in xs if x["exit"] != 0]
        return xs, bad
    pk, pk_bad = tool("pkcs15")
    lib, lib_bad = tool("lib")
    ins, ins_bad = tool("inspect")
    pk_ms = median([x["wall_us"] / 1000 for x in pk])
    cpu = lambda xs: median([x["cpu_us"] / 1000 for x in xs])
    line("cert read: pkcs15-tool --read-certificate 01, median",
         f"{pk_ms:.1f} ms wall, {cpu(pk):.1f} ms CPU, {apdu_set(pk)} APDUs" + (" FAILED RUNS" if pk_bad else ""))
    res_v["pkcs15"] = {"wall_ms": [x["wall_us"] / 1000 for x in pk], "cpu_ms": [x["cpu_us"] / 1000 for x in pk],
                       "apdus": [x["apdus"] for x in pk], "median_ms": pk_ms, "failed_runs": len(pk_bad)}
    unavailable = part("inspect_unavailable")
    if ins:
        ms = median([x["wall_us"] / 1000 for x in ins])
        r = ms / pk_ms
        res_v["inspect"] = {"wall_ms": [x["wall_us"] / 1000 for x in ins], "cpu_ms": [x["cpu_us"] / 1000 for x in ins],
                            "apdus": [x["apdus"] for x in ins],
                            "median_ms": ms, "ratio_vs_pkcs15": r, "failed_runs": len(ins_bad)}
        line("cert read+verify: card-inspect verify, median",
             f"{ms:.1f} ms wall, {cpu(ins):.1f} ms CPU, {apdu_set(ins)} APDUs" + (" FAILED RUNS" if ins_bad else ""))
        line("  ratio card-inspect / pkcs15-tool (wall)", f"{r:.3f}x (CPU {cpu(ins)/cpu(pk):.2f}x)", "<= 0.5x",
             r <= 0.5 and not ins_bad)
    else:
        why = "n/a"
        if unavailable:
            u = unavailable[0]
            why = f"n/a (card-inspect verify exits {u['exit']}: {u['message'][:60]})"
        res_v["inspect"] = {"unavailable": unavailable[0] if unavailable else True}
        line("cert read+verify: card-inspect verify", why, "<= 0.5x", None, "n/a")
        missed.append("card-inspect verify: not measurable on this branch")
    lib_ms = median([x["wall_us"] / 1000 for x in lib])
    lr = lib_ms / pk_ms
    detail = next((r["detail"] for r in part("lib_detail")), {})
    res_v["library"] = {"wall_ms": [x["wall_us"] / 1000 for x in lib], "cpu_ms": [x["cpu_us"] / 1000 for x in lib],
                        "apdus": [x["apdus"] for x in lib],
                        "median_ms": lib_ms, "ratio_vs_pkcs15": lr, "failed_runs": len(lib_bad),
                        "first_run_detail": detail}
    line("cert read+verify: library (jpki-bench verify), median",
         f"{lib_ms:.1f} ms wall, {cpu(lib):.1f} ms CPU, {apdu_set(lib)} APDUs" + (" FAILED RUNS" if lib_bad else ""))
    if detail:
        line("  in-process split (first run)",
             f"trust {detail['load_trust_us']/1000:.1f} + card {detail['card_us']/1000:.1f} + verify "
             f"{detail['verify_us']/1000:.1f} ms, verdict {detail['verdict']}")
    line("  ratio library / pkcs15-tool (wall)", f"{lr:.3f}x (CPU {cpu(lib)/cpu(pk):.2f}x)", "<= 0.5x",
         lr <= 0.5 and not lib_bad)
    results["verify"] = res_v

    # 3. insert -> answer
    res_i = {}
    for r in part("insert"):
        x = r["result"]
        ep = x["endpoint"]
        if "failure" in x:
            f = x["failure"]
            reason = ("endpoint missing" if f["status"] == 404 and f["code"] == "not_found"
                      else f"answered {f['status']} {f['code']}")
            res_i[ep] = {"unavailable": reason, "answer": f}
            line(f"insert -> {ep} answer p50/p99", f"n/a ({reason})")
            if ep == "eligibility":
                missed.append(f"eligibility flow: n/a ({reason})")
            continue
        tot = [u / 1000 for u in x["total_us"]]
        ses = [u / 1000 for u in x["insert_to_session_us"]]
        res_i[ep] = {"iterations": len(tot), "total_ms": tot, "insert_to_session_ms": ses,
                     "p50_ms": pctl(tot, 50), "p99_ms": pctl(tot, 99), "session_p50_ms": pctl(ses, 50)}
        line(f"insert -> {ep} answer p50 / p99",
             f"{pctl(tot, 50):.0f} / {pctl(tot, 99):.0f} ms (n={len(tot)}; p99 = max at n<100)")
        det = [u / 1000 for u in x.get("insert_to_pcscd_detection_us", []) if u >= 0]
        ops = [a - b for a, b in zip(tot, ses)]
        res_i[ep].update({"insert_to_pcscd_detection_ms": det, "operation_ms": ops})
        line("  split p50: pcscd sees card / jpkid session / operation",
             (f"{pctl(det, 50):.0f} ms" if det else "n/a") + f" / {pctl(ses, 50):.0f} ms / {pctl(ops, 50):.1f} ms"
             + (f" (identification {pctl([s - d for s, d in zip(ses, det)], 50):.0f} ms)" if len(det) == len(ses) else ""))
    results["insert_to_answer"] = res_i

    # 4. load + RSS
    res_l = []
    for r in part("load"):
        x = r["result"]
        c = r["clients"]
        res_l.append(dict(x, vmrss_kb_after=r["vmrss_kb"]))
        ticks = r.get("jpkid_cpu_ticks", 0) / r.get("ticks_per_second", 100)
        phase = r.get("phase_seconds", x["seconds"])
        cores_used = ticks / phase
        cpu_per_req = ticks * 1e6 / max(1, x["rps"] * phase)
        res_l[-1].update({"jpkid_cores_used": cores_used, "jpkid_cpu_us_per_request_approx": cpu_per_req})
        goal, ok = "", None
        if c == 64:
            goal = ">= 20000 req/s, p99 < 5 ms"
            ok = x["rps"] >= 20000 and x["p99_us"] < 5000 and x["non200"] == 0 and x["errors"] == 0
        line(f"GET /v1/readers, {c:>3} clients",
             f"{x['rps']:>8.0f} req/s, p50 {x['p50_us']/1000:.2f} ms, p99 {x['p99_us']/1000:.2f} ms"
             + (f", {x['non200']} non-200" if x["non200"] else "") + (f", {x['errors']} errors" if x["errors"] else "")
             + f"; jpkid {cores_used:.2f} cores, {cpu_per_req:.0f} µs CPU/req"
             + f" (loadgen {x['loadgen_cpu_fraction_of_one_core']*100:.0f}% of a core)", goal, ok)
    results["load"] = res_l
    idle = next(iter(part("rss_idle")), None)
    loaded = next(iter(part("rss_loaded")), None)
    if idle:
        mb = idle["vmrss_kb"] / 1024
        line("jpkid RSS idle (VmRSS)",
             f"{mb:.1f} MiB (anon {idle['rss_anon_kb']/1024:.1f} + file-backed {idle['rss_file_kb']/1024:.1f}; "
             f"PSS {idle['pss_kb']/1024:.1f} MiB)", "<= 30 MiB", mb <= 30)
    if loaded:
        line("jpkid RSS after load (VmRSS / VmHWM)",
             f"{loaded['vmrss_kb']/1024:.1f} / {loaded['vmhwm_kb']/1024:.1f} MiB (anon {loaded['rss_anon_kb']/1024:.1f} MiB)")
    flood = next(iter(part("rss_after_flood")), None)
    settled = next(iter(part("rss_settled")), None)
    if idle and flood and settled:
        grow = (settled["vmrss_kb"] - idle["vmrss_kb"]) / 1024
        anon = (settled["rss_anon_kb"] - idle["rss_anon_kb"]) / 1024
        file = (settled["rss_file_kb"] - idle["rss_file_kb"]) / 1024
        line("jpkid VmRSS after swaps + flood / settled",
             f"{flood['vmrss_kb']/1024:.1f} / {settled['vmrss_kb']/1024:.1f} MiB (settled - idle = {grow:+.1f} MiB: "
             f"anon {anon:+.1f}, file-backed {file:+.1f})",
             "settled <= idle + 5 MiB", grow <= 5)
    results["rss"] = {"idle": idle, "loaded": loaded, "after_flood": flood, "settled": settled}
    a = next(iter(part("audit")), None)
    if a:
        x = a["result"]
        line("audit line per request (write + fsync), sequential",
             f"p50 {x['p50_us']/1000:.2f} ms, p99 {x['p99_us']/1000:.2f} ms, mean {x['mean_us']/1000:.2f} ms"
             f" ({x['sequential_count']} lines of ~{x['line_bytes']} B on {a['fs']})")
        line(f"audit lines, {x['concurrency']} appenders (group commit)",
             f"{x['group_lines_per_second']:.0f} lines/s")
    results["audit"] = a
    results["missed"] = missed

    w0 = max(len(r[0]) for r in table)
    w1 = max(len(r[1]) for r in table)
    w2 = max(len(r[2]) for r in table)
    print(f"\njpki bench — commit {meta.get('commit')}, {meta.get('build')} build, {meta.get('date')}, "
          f"{meta.get('cores')} cores, {meta.get('bench', 'shared')} pcscd+vpcd bench, load avg {meta.get('loadavg_start')} -> {meta.get('loadavg_end')}"
          + (" (--quick)" if meta.get("quick") else ""))
    if meta.get("build") == "debug":
        print("DEBUG BUILD: a harness check only; these figures say nothing about performance")
    print(f"{'measurement':<{w0}}  {'value':<{w1}}  {'goal':<{w2}}  result")
    print("-" * (w0 + w1 + w2 + 14))
    for a, b, c, d in table:
        print(f"{a:<{w0}}  {b:<{w1}}  {c:<{w2}}  {d}")
    if missed:
        print("\nmissed or not measurable:")
        for m in missed:
            print("  - " + m)
    with open(out_path, "w") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return 2 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
