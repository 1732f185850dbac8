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


def quartiles(xs):
    """(q1, median, q3) by the inclusive method; all equal for one value."""
    if not xs:
        return None, None, None
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[1], q[2]


def paired_verdict(ratios, goal):
    """The verdict of a paired comparison: the median ratio against the goal, unless the spread
    of the paired rounds makes it meaningless — when the goal lies inside the interquartile
    range of the per-round ratios, a quarter or more of the rounds say the opposite of the
    median, and no verdict is given (None)."""
    q1, med, q3 = quartiles(ratios)
    if med is None:
        return None
    if len(ratios) >= 3 and q1 < goal < q3:
        return None
    return med <= goal


def spread_text(ratios):
    q1, med, q3 = quartiles(ratios)
    if med is None:
        return "n/a"
    return f"IQR {q1:.2f}-{q3:.2f}, rel. {((q3 - q1) / med * 100 if med else 0):.0f}%"


def apdu_set(xs):
    """The APDU counts seen (one number when every run sent the same)."""
    s = sorted(set(x["apdus"] for x in xs))
    return str(s[0]) if len(s) == 1 else "/".join(map(str, s))


NO_VERDICT = "no verdict (spread)"


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
        if ok is None and why == NO_VERDICT:
            missed.append(f"{name}: {value} (goal {goal}): no verdict, the paired rounds spread across the goal")

    def paired(name, value, goal_text, ratios, goal):
        ok = paired_verdict(ratios, goal)
        line(name, value, goal_text, ok, NO_VERDICT if ok is None else None)

    # 0. start-up (fixed costs)
    st = part("startup")
    if st:
        res_s = {}
        names = [k for k in st[0] if k not in ("part", "round")]
        for k in names:
            xs = [r[k] for r in st if k in r]
            res_s[k] = {"wall_ms": [x["wall_us"] / 1000 for x in xs], "cpu_ms": [x["cpu_us"] / 1000 for x in xs],
                        "maxrss_kb": [x.get("maxrss_kb") for x in xs]}
        labels = {
            "pkcs15_version": "start-up: pkcs15-tool --version",
            "inspect_version": "start-up: card-inspect --version",
            "inspect_static_version": "start-up: card-inspect --version (--static-swift-stdlib build)",
            "probe_runtime": "  probe: Swift runtime only (print)",
            "probe_foundation": "  probe: + Foundation, shared libraries",
            "probe_foundation_static": "  probe: + Foundation, -static-stdlib",
            "probe_openssl": "  probe: C, libcrypto + OPENSSL_init_crypto",
        }
        for k in ["pkcs15_version", "inspect_version", "inspect_static_version", "probe_runtime",
                  "probe_foundation", "probe_foundation_static", "probe_openssl"]:
            if k not in res_s:
                continue
            x = res_s[k]
            line(labels[k], f"{median(x['wall_ms']):.1f} ms wall, {median(x['cpu_ms']):.1f} ms CPU, "
                            f"max RSS {median(x['maxrss_kb'])/1024:.1f} MiB ({len(x['wall_ms'])} runs)")
            if k in ("inspect_version", "inspect_static_version") and "pkcs15_version" in res_s:
                rs = [a["wall_us"] / b["wall_us"] for a, b in
                      ((r[k], r["pkcs15_version"]) for r in st if k in r and "pkcs15_version" in r)]
                cpu_r = median(x["cpu_ms"]) / median(res_s["pkcs15_version"]["cpu_ms"])
                paired("  ratio / pkcs15-tool --version (wall, paired)",
                       f"{median(rs):.2f}x ({spread_text(rs)}; CPU {cpu_r:.2f}x)", "<= 2x", rs, 2.0)
                res_s[k]["ratio_vs_pkcs15"] = median(rs)
        results["startup"] = res_s

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
    paired("  ratio ours / raw C (median of paired rounds)",
           f"{ratio:.3f}x ({spread_text(per_round)}; medians {median(sw_us)/median(raw_us):.3f}x)",
           "<= 1.05x", per_round, 1.05)

    # 2. verify, under each timing profile
    v_all = part("verify")
    profiles = []
    for r in v_all:
        p = r.get("timing", "none")
        if p not in profiles:
            profiles.append(p)
    goals = {"none": 1.0, "contact": 0.3}
    results["verify"] = {}
    for prof in profiles:
        v = [r for r in v_all if r.get("timing", "none") == prof]
        res_v = {"rounds": len(v)}
        tag = f"[{prof}] "

        def tool(name):
            xs = [r[name] for r in v if name in r]
            bad = [x for x in xs if x["exit"] != 0]
            return xs, bad

        def card_side(xs):
            by = sorted(set(x.get("bytes", 0) for x in xs))
            mod = median([x.get("modelled_us", 0) / 1000 for x in xs])
            late = median([x.get("late_us", 0) / 1000 for x in xs])
            return (f"{apdu_set(xs)} APDUs, {by[0] if len(by) == 1 else '/'.join(map(str, by))} bytes"
                    + (f", card+reader {mod:.0f} ms modelled (+{late:.0f} ms woken late)" if prof != "none" else ""))

        pk, pk_bad = tool("pkcs15")
        lib, lib_bad = tool("lib")
        ins, ins_bad = tool("inspect")
        if not pk:
            continue
        pk_ms = median([x["wall_us"] / 1000 for x in pk])
        cpu = lambda xs: median([x["cpu_us"] / 1000 for x in xs])
        line(tag + "cert read: pkcs15-tool --read-certificate 01, median",
             f"{pk_ms:.1f} ms wall, {cpu(pk):.1f} ms CPU; {card_side(pk)}" + (" FAILED RUNS" if pk_bad else ""))
        res_v["pkcs15"] = {"wall_ms": [x["wall_us"] / 1000 for x in pk], "cpu_ms": [x["cpu_us"] / 1000 for x in pk],
                           "apdus": [x["apdus"] for x in pk], "bytes": [x.get("bytes") for x in pk],
                           "modelled_ms": [x.get("modelled_us", 0) / 1000 for x in pk],
                           "median_ms": pk_ms, "failed_runs": len(pk_bad)}
        unavailable = part("inspect_unavailable")
        goal = goals.get(prof)
        if ins:
            ms = median([x["wall_us"] / 1000 for x in ins])
            rs = [r["inspect"]["wall_us"] / r["pkcs15"]["wall_us"] for r in v if "inspect" in r and "pkcs15" in r]
            r = median(rs)
            res_v["inspect"] = {"wall_ms": [x["wall_us"] / 1000 for x in ins], "cpu_ms": [x["cpu_us"] / 1000 for x in ins],
                                "apdus": [x["apdus"] for x in ins], "bytes": [x.get("bytes") for x in ins],
                                "modelled_ms": [x.get("modelled_us", 0) / 1000 for x in ins],
                                "median_ms": ms, "ratio_vs_pkcs15": r, "paired_ratios": rs,
                                "failed_runs": len(ins_bad)}
            line(tag + "cert read+verify: card-inspect verify, median",
                 f"{ms:.1f} ms wall, {cpu(ins):.1f} ms CPU; {card_side(ins)}" + (" FAILED RUNS" if ins_bad else ""))
            text = f"{r:.3f}x ({spread_text(rs)}; CPU {cpu(ins)/cpu(pk):.2f}x)"
            if goal is None:
                line(tag + "  ratio card-inspect / pkcs15-tool (wall, paired)", text)
            elif ins_bad:
                line(tag + "  ratio card-inspect / pkcs15-tool (wall, paired)", text + " FAILED RUNS", f"<= {goal}x", False)
            else:
                paired(tag + "  ratio card-inspect / pkcs15-tool (wall, paired)", text, f"<= {goal}x", rs, goal)
            st_ins = [r["inspect_static"] for r in v if "inspect_static" in r]
            if st_ins:
                sms = median([x["wall_us"] / 1000 for x in st_ins])
                srs = [r["inspect_static"]["wall_us"] / r["pkcs15"]["wall_us"] for r in v
                       if "inspect_static" in r and "pkcs15" in r]
                bad = [x for x in st_ins if x["exit"] != 0]
                res_v["inspect_static"] = {"wall_ms": [x["wall_us"] / 1000 for x in st_ins],
                                           "cpu_ms": [x["cpu_us"] / 1000 for x in st_ins],
                                           "median_ms": sms, "ratio_vs_pkcs15": median(srs), "paired_ratios": srs,
                                           "failed_runs": len(bad)}
                line(tag + "cert read+verify: card-inspect verify, --static-swift-stdlib build",
                     f"{sms:.1f} ms wall, {cpu(st_ins):.1f} ms CPU" + (" FAILED RUNS" if bad else ""))
                text = f"{median(srs):.3f}x ({spread_text(srs)}; CPU {cpu(st_ins)/cpu(pk):.2f}x)"
                if bad:
                    line(tag + "  ratio static card-inspect / pkcs15-tool (wall, paired)", text + " FAILED RUNS",
                         f"<= {goal}x", False)
                else:
                    paired(tag + "  ratio static card-inspect / pkcs15-tool (wall, paired)", text, f"<= {goal}x", srs, goal)
            if prof != "none":
                # What no client can avoid: the card + reader time of the bytes it must move.
                floor_ms = median([x.get("modelled_us", 0) / 1000 for x in ins])
                line(tag + "  card-inspect: wall - modelled card time (= our own cost)",
                     f"{ms - floor_ms:.1f} ms (pkcs15-tool: {pk_ms - median([x.get('modelled_us', 0) / 1000 for x in pk]):.1f} ms)")
        else:
            why = "n/a"
            if unavailable:
                u = unavailable[0]
                why = f"n/a (card-inspect verify exits {u['exit']}: {u['message'][:60]})"
            res_v["inspect"] = {"unavailable": unavailable[0] if unavailable else True}
            line(tag + "cert read+verify: card-inspect verify", why, f"<= {goal}x" if goal else "", None, "n/a")
            if prof == "none":
                missed.append("card-inspect verify: not measurable on this branch")
        if lib:
            lib_ms = median([x["wall_us"] / 1000 for x in lib])
            lrs = [r["lib"]["wall_us"] / r["pkcs15"]["wall_us"] for r in v if "lib" in r and "pkcs15" in r]
            lr = median(lrs)
            detail = next((r["detail"] for r in part("lib_detail") if r.get("timing", "none") == prof), {})
            res_v["library"] = {"wall_ms": [x["wall_us"] / 1000 for x in lib], "cpu_ms": [x["cpu_us"] / 1000 for x in lib],
                                "apdus": [x["apdus"] for x in lib], "bytes": [x.get("bytes") for x in lib],
                                "median_ms": lib_ms, "ratio_vs_pkcs15": lr, "paired_ratios": lrs,
                                "failed_runs": len(lib_bad), "first_run_detail": detail}
            line(tag + "cert read+verify: library (jpki-bench verify), median",
                 f"{lib_ms:.1f} ms wall, {cpu(lib):.1f} ms CPU; {card_side(lib)}" + (" FAILED RUNS" if lib_bad else ""))
            if detail:
                line(tag + "  in-process split (first run)",
                     f"trust {detail['load_trust_us']/1000:.1f} + card {detail['card_us']/1000:.1f} + verify "
                     f"{detail['verify_us']/1000:.1f} ms, verdict {detail['verdict']}")
            text = f"{lr:.3f}x ({spread_text(lrs)}; CPU {cpu(lib)/cpu(pk):.2f}x)"
            if prof == "none":
                if lib_bad:
                    line(tag + "  ratio library / pkcs15-tool (wall, paired)", text + " FAILED RUNS", "<= 0.5x", False)
                else:
                    paired(tag + "  ratio library / pkcs15-tool (wall, paired)", text, "<= 0.5x", lrs, 0.5)
            else:
                line(tag + "  ratio library / pkcs15-tool (wall, paired)", text)
        results["verify"][prof] = res_v

    # 3. insert -> answer (untimed card: both endpoints; timed cards: eligibility vs the floor)
    res_i = {}
    floors = {r["result"]["timing"]: r["result"] for r in part("floor")}
    for r in part("insert"):
        x = r["result"]
        ep = x["endpoint"]
        prof = x.get("timing", "none")
        tag = "" if prof == "none" else f"[{prof}] "
        key = ep if prof == "none" else f"{ep}@{prof}"
        if "failure" in x:
            f = x["failure"]
            reason = ("endpoint missing" if f["status"] == 404 and f["code"] == "not_found"
                      else f"answered {f['status']} {f['code']}")
            res_i[key] = {"unavailable": reason, "answer": f}
            line(f"{tag}insert -> {ep} answer p50/p99", f"n/a ({reason})")
            if ep == "eligibility":
                missed.append(f"{tag}eligibility flow: n/a ({reason})")
            continue
        tot = [u / 1000 for u in x["total_us"]]
        ses = [u / 1000 for u in x["insert_to_session_us"]]
        res_i[key] = {"iterations": len(tot), "total_ms": tot, "insert_to_session_ms": ses,
                      "p50_ms": pctl(tot, 50), "p99_ms": pctl(tot, 99), "session_p50_ms": pctl(ses, 50)}
        line(f"{tag}insert -> {ep} answer p50 / p99",
             f"{pctl(tot, 50):.0f} / {pctl(tot, 99):.0f} ms (n={len(tot)}; p99 = max at n<100)")
        det = [u / 1000 for u in x.get("insert_to_pcscd_detection_us", []) if u >= 0]
        ops = [a - b for a, b in zip(tot, ses)]
        res_i[key].update({"insert_to_pcscd_detection_ms": det, "operation_ms": ops})
        line(f"{tag}  split p50: pcscd sees card / jpkid session / operation",
             (f"{pctl(det, 50):.0f} ms" if det else "n/a") + f" / {pctl(ses, 50):.0f} ms / {pctl(ops, 50):.1f} ms"
             + (f" (identification {pctl([s - d for s, d in zip(ses, det)], 50):.0f} ms)" if len(det) == len(ses) else ""))
        ap, by, mo = x.get("card_apdus", []), x.get("card_bytes", []), [u / 1000 for u in x.get("card_modelled_us", [])]
        if ap:
            res_i[key].update({"card_apdus": ap, "card_bytes": by, "card_modelled_ms": mo})
            line(f"{tag}  card side per insertion (identification + operation)",
                 f"{apdu_set([{'apdus': a} for a in ap])} APDUs, {median(by):.0f} bytes"
                 + (f", card+reader {median(mo):.0f} ms modelled (+{median([u / 1000 for u in x.get('card_late_us', [0])]):.0f} ms woken late)"
                    if prof != "none" else ""))
        fl = floors.get(prof)
        if fl and ep == "eligibility":
            floor_ms = fl["floor_us"] / 1000
            res_i[key]["floor"] = fl
            line(f"{tag}  floor: shortest sequence (README), modelled",
                 f"{floor_ms:.0f} ms: {fl['apdus']} APDUs, {fl['bytes']} bytes")
            if len(det) == len(tot):
                after = [t - d for t, d in zip(tot, det)]
                rs = [a / floor_ms for a in after]
                res_i[key].update({"after_detection_ms": after, "ratio_vs_floor": rs})
                paired(f"{tag}  (answer - pcscd detection) / floor, median",
                       f"{median(rs):.2f}x ({median(after):.0f} ms; {spread_text(rs)}; "
                       f"our card time alone {median(mo) / floor_ms:.2f}x)",
                       "<= 1.1x", rs, 1.1)
            else:
                line(f"{tag}  (answer - pcscd detection) / floor", "n/a (pcscd detection not seen every time)",
                     "<= 1.1x", None, "n/a")
                missed.append(f"{tag}eligibility vs floor: n/a (detection not measured)")
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
    for r in part("eligibility_load"):
        x = r["result"]
        tps = r.get("ticks_per_second", 100)
        phase = r.get("phase_seconds", x["seconds"])
        reqs = max(1, x["rps"] * phase)
        jp = r["jpkid_cpu_ticks"] / tps * 1e6 / reqs
        sim = r["sim_cpu_ticks"] / tps * 1e6 / reqs
        res_l.append(dict(x, kind="eligibility", jpkid_cpu_us_per_request_approx=jp, sim_cpu_us_per_request_approx=sim,
                          audit_lines=r.get("audit_lines")))
        line(f"POST eligibility (audited), {r['clients']} clients, untimed card",
             f"{x['rps']:>8.0f} req/s, p50 {x['p50_us']/1000:.2f} ms, p99 {x['p99_us']/1000:.2f} ms"
             + (f", {x['non200']} non-200" if x["non200"] else "") + (f", {x['errors']} errors" if x["errors"] else "")
             + f"; jpkid {jp:.0f} µs CPU/req, card sim {sim:.0f} µs CPU/req; {r.get('audit_lines')} audit lines")
        if x["non200"] or x["errors"]:
            missed.append(f"eligibility under load: {x['non200']} non-200, {x['errors']} errors")
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
    settled_rounds = part("rss_settled")
    settled = next(iter(settled_rounds), None)
    first = next(iter(part("rss_first_use")), None)
    if idle and first:
        line("jpkid RSS after first use (one patient served, settled)",
             f"{first['vmrss_kb']/1024:.1f} MiB (first use - cold idle = {(first['vmrss_kb'] - idle['vmrss_kb'])/1024:+.1f} MiB: "
             f"anon {(first['rss_anon_kb'] - idle['rss_anon_kb'])/1024:+.1f}, "
             f"file-backed {(first['rss_file_kb'] - idle['rss_file_kb'])/1024:+.1f})")
    if idle and flood and settled:
        base = first or idle
        grow = (settled["vmrss_kb"] - base["vmrss_kb"]) / 1024
        anon = (settled["rss_anon_kb"] - base["rss_anon_kb"]) / 1024
        file = (settled["rss_file_kb"] - base["rss_file_kb"]) / 1024
        cold = (settled["vmrss_kb"] - idle["vmrss_kb"]) / 1024
        name = "first use" if first else "idle"
        line("jpkid VmRSS after swaps + flood / settled",
             f"{flood['vmrss_kb']/1024:.1f} / {settled['vmrss_kb']/1024:.1f} MiB (settled - {name} = {grow:+.1f} MiB: "
             f"anon {anon:+.1f}, file-backed {file:+.1f}; settled - cold idle = {cold:+.1f} MiB)",
             f"settled <= {name} + 5 MiB", grow <= 5)
    if len(settled_rounds) >= 2:
        a, b = settled_rounds[0], settled_rounds[1]
        line("  the same work again: settled round 2 - round 1",
             f"{(b['vmrss_kb'] - a['vmrss_kb'])/1024:+.1f} MiB (anon {(b['rss_anon_kb'] - a['rss_anon_kb'])/1024:+.1f}, "
             f"file-backed {(b['rss_file_kb'] - a['rss_file_kb'])/1024:+.1f})")
    results["rss"] = {"idle": idle, "first_use": first, "loaded": loaded, "after_flood": flood, "settled": settled_rounds}
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
    busy = None
    if meta.get("cpu_start") and meta.get("cpu_end"):
        a = list(map(int, meta["cpu_start"].split()))
        b = list(map(int, meta["cpu_end"].split()))
        d = [y - x for x, y in zip(a, b)]
        idle = d[3] + (d[4] if len(d) > 4 else 0)
        busy = 1 - idle / max(1, sum(d))
        results["machine_busy_fraction"] = busy
    print(f"machine: load avg {meta.get('loadavg_start')} -> {meta.get('loadavg_end')} on {meta.get('cores')} cores"
          + (f"; CPUs busy {busy*100:.0f}% of the run (this bench included)" if busy is not None else "")
          + "; a ratio whose paired rounds spread across its goal gets no verdict")
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
