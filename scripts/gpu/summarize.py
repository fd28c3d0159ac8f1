#!/usr/bin/env python3
"""Gathers the numbers of a `run.sh` output folder into OUT/summary.json (standard library only).

    python3 summarize.py OUT

Reads env.json, steps.jsonl, STEP/eval.json + STEP/report.json of every `cllm train` step and
pilot/pilot.json of the PyTorch pilot; writes summary.json atomically and prints a short table.
Training throughput is counted the same way for both: texts per second of training wall time
(steps x batch / wall), and padded tokens per second (x 256 positions).
"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cllm_step(out, step):
    ev = load(os.path.join(out, step["step"], "eval.json"))
    rep = load(os.path.join(out, step["step"], "report.json"))
    run = load(os.path.join(out, step["step"], "run.json"))
    row = dict(step)
    if rep:
        batch = (run or {}).get("batch_size") or (ev["job"]["options"]["batch_size"] if ev else None)
        max_len = ((run or {}).get("model") or {}).get("max_len", 256)
        row.update(steps=rep["steps"], epochs=rep["epochs"], train_wall_s=rep["wall_s"], params=rep["params"],
                   stopped=rep["stopped"], best_val_token_accuracy=rep["best_val_token_accuracy"])
        if batch and rep["wall_s"] > 0:
            row["texts_per_s"] = rep["steps"] * batch / rep["wall_s"]
            row["tokens_per_s"] = row["texts_per_s"] * max_len
    if run:
        dec = run["model"].get("decoder")
        kind = dec.get("kind") if isinstance(dec, dict) else dec
        row["decoder"] = "autoregressive" if str(kind).lower() == "autoregressive" else "mirror"
        row["k"] = run["model"]["k"]
        row["batch"] = run["batch_size"]
    if ev:
        row["splits"] = {
            s["name"]: dict(texts=s["report"]["texts"], token_accuracy=s["report"]["token_accuracy"],
                            exact_text_rate=s["report"]["exact_text_rate"],
                            free_token_accuracy=s["free_running"]["token_accuracy"],
                            free_exact_text_rate=s["free_running"]["exact_text_rate"],
                            example_original=s["example_original"], example_decoded=s["example_decoded"])
            for s in ev["splits"]}
        row["void_auroc"] = {s["family"]: s["auroc"] for s in ev["separation"]}
    return row


def pilot_summary(out):
    p = load(os.path.join(out, "pilot", "pilot.json"))
    if not p:
        return None
    batch = p.get("args", {}).get("batch")
    runs = {}
    for name, r in (p.get("cllm1") or {}).items():
        fit = r.get("fit", {})
        row = dict(steps=fit.get("steps"), epochs=fit.get("epochs"), train_wall_s=fit.get("wall_s"),
                   params=r.get("params"),
                   token_accuracy={g: r[g]["tok_acc"] for g in ["train", "val", "soup", "pizza"] if g in r},
                   exact_text_rate={g: r[g]["exact_text"] for g in ["train", "val", "soup", "pizza"] if g in r})
        if batch and fit.get("wall_s"):
            row["texts_per_s"] = fit["steps"] * batch / fit["wall_s"]
            row["tokens_per_s"] = row["texts_per_s"] * p.get("corpus", {}).get("L", 256)
        runs[name] = row
    return dict(device=p.get("device"), torch=p.get("torch"), batch=batch, runs=runs,
                void_auroc=p.get("voids_auroc"), wall_s_total=p.get("wall_s_total"))


def main():
    out = sys.argv[1]
    steps = []
    if os.path.exists(os.path.join(out, "steps.jsonl")):
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(line) for line in f if line.strip()]
    summary = dict(env=load(os.path.join(out, "env.json")), steps=[], pilot=pilot_summary(out), ratios={})
    for s in steps:
        summary["steps"].append(cllm_step(out, s) if s["step"] != "pytorch-pilot" else s)
    # side by side: the mirror CLLM against the pilot's (same design, same data, same batch)
    if summary["pilot"]:
        for k in ("16", "64"):
            ours = next((s for s in summary["steps"] if s["step"] == f"k{k}-mirror" and "texts_per_s" in s), None)
            theirs = summary["pilot"]["runs"].get(f"k{k}", {})
            if ours and theirs.get("texts_per_s"):
                summary["ratios"][f"k{k}_mirror_training_throughput_vs_pytorch"] = (
                    ours["texts_per_s"] / theirs["texts_per_s"])
    tmp = os.path.join(out, "summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(tmp, os.path.join(out, "summary.json"))

    print(f"{'step':<14}{'rc':>4}{'steps':>8}{'texts/s':>9}{'trainTok':>9}{'valTok':>8}{'soupTok':>8}"
          f"{'pizzaTok':>9}{'AUROC soup':>11}{'pizza':>7}")
    for s in summary["steps"]:
        sp = s.get("splits", {})
        tok = lambda g: f"{sp[g]['token_accuracy']:.3f}" if g in sp else "-"  # noqa: E731
        au = s.get("void_auroc", {})
        print(f"{s['step']:<14}{s['rc']:>4}{s.get('steps', '-'):>8}{s.get('texts_per_s', 0):>9.1f}{tok('train'):>9}"
              f"{tok('val'):>8}{tok('soup'):>8}{tok('pizza'):>9}{au.get('soup', float('nan')):>11.3f}"
              f"{au.get('pizza', float('nan')):>7.3f}")
    if summary["pilot"]:
        for name, r in summary["pilot"]["runs"].items():
            t = r["token_accuracy"]
            print(f"pilot {name:<8}{'':>4}{r.get('steps') or 0:>8}{r.get('texts_per_s', 0):>9.1f}"
                  f"{t.get('train', 0):>9.3f}{t.get('val', 0):>8.3f}{t.get('soup', 0):>8.3f}{t.get('pizza', 0):>9.3f}")
    for k, v in summary["ratios"].items():
        print(f"{k}: {v:.2f}x")


if __name__ == "__main__":
    main()
