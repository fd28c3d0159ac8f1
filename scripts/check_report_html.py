#!/usr/bin/env python3
"""Render a cllm report.html in headless Chromium and check it against its report.json.

    python3 scripts/check_report_html.py RUN_DIR_OR_REPORT_HTML [--screenshot OUT.png]

Checks, on the DOM after the page's script ran:
  - the page's embedded data (<script id="report-data">) equals report.json beside it;
  - when report.json has a "map": the script drew it (body[data-map="drawn"]), with one
    .map-point per map.points entry, one .map-zone per zone and one .map-sample per zone
    sample;
  - the page references nothing outside itself (no src=, href= or url() to a network);
  - the map reacts: in a copy of the page with a small script appended, hovering the first
    point that has an original text shows its title in the tooltip, clicking it shows its
    original and decoded texts in the side panel, and clicking the first zone sample shows
    its decode.
Writes a screenshot of that copy after the clicks (default: report.png beside the page). Exits 1 with a message naming
the failed check, 2 on bad usage, and 0 printing "SKIP: chromium not installed" when no
Chromium binary is found. Standard library only.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

BROWSERS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=3000",
]
TIMEOUT_S = 120

# Appended to a copy of the page: hover and click the first point with an original text,
# then a zone sample, and record what the tooltip and the side panel showed.
INTERACT = """<script>
window.addEventListener("load", function () {
  var body = document.body;
  var map = JSON.parse(document.getElementById("report-data").textContent).map;
  var panel = document.getElementById("map-panel");
  var tooltip = document.getElementById("map-tooltip");
  function fire(el, type) {
    var r = el.getBoundingClientRect();
    el.dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: r.x + r.width / 2, clientY: r.y + r.height / 2}));
  }
  var sample = document.querySelector(".map-sample");
  if (sample) {
    fire(sample, "click");
    body.setAttribute("data-sample-panel", panel.textContent);
  }
  var points = document.querySelectorAll(".map-point");
  for (var k = 0; k < points.length; k++) {
    var i = Number(points[k].getAttribute("data-i"));
    if (map.points[i].original) {
      fire(points[k], "mousemove");
      body.setAttribute("data-tooltip", tooltip.hidden ? "" : tooltip.textContent);
      fire(points[k], "click");
      body.setAttribute("data-panel", panel.textContent);
      body.setAttribute("data-clicked", String(i));
      break;
    }
  }
});
</script>
"""


class DomReader(HTMLParser):
    """Counts elements by class and collects the embedded report data."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.classes = {}
        self.body_attrs = {}
        self.in_data = False
        self.data_text = []
        self.data_scripts = 0
        self.external = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in (attrs.get("class") or "").split():
            self.classes[name] = self.classes.get(name, 0) + 1
        if tag == "body":
            self.body_attrs = attrs
        for key in ("src", "href"):
            if attrs.get(key):
                self.external.append(f"<{tag} {key}={attrs[key]!r}>")
        if tag == "script" and attrs.get("id") == "report-data":
            self.in_data = True
            self.data_scripts += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_data = False

    def handle_data(self, data):
        if self.in_data:
            self.data_text.append(data)


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def run_chromium(browser, profile, args):
    command = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        fail(f"chromium did not finish within {TIMEOUT_S} s: {' '.join(command)}")
    if done.returncode != 0:
        fail(f"chromium exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def check_interaction(map_data, dom):
    """The hover and clicks recorded by INTERACT showed the right texts."""
    reader = DomReader()
    reader.feed(dom)
    attrs = reader.body_attrs
    shown = []
    if "data-clicked" in attrs:
        point = map_data["points"][int(attrs["data-clicked"])]
        if attrs.get("data-tooltip") != point["title"]:
            fail(f"hovering point {attrs['data-clicked']} showed {attrs.get('data-tooltip')!r}, not its title {point['title']!r}")
        panel = attrs.get("data-panel", "")
        for key in ("title", "original", "decoded"):
            if point.get(key) and point[key] not in panel:
                fail(f"clicking point {attrs['data-clicked']} did not show its {key} {point[key]!r} (panel: {panel[:300]!r})")
        shown.append("hover and click on a point")
    elif any(p.get("original") for p in map_data["points"]):
        fail("the interaction script found no point with an original text to click")
    sample = next((s for z in map_data.get("zones", []) for s in z.get("samples", [])), None)
    if sample is not None:
        if sample["decoded"] not in attrs.get("data-sample-panel", ""):
            fail(f"clicking the first zone sample did not show its decode {sample['decoded']!r}")
        shown.append("click on a zone sample")
    return (" and ".join(shown) + " show the right texts") if shown else "no interactive texts to check"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="a run folder holding report.html and report.json, or the report.html")
    parser.add_argument("--screenshot", help="where to write the PNG (default: report.png beside the page)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2200)
    args = parser.parse_args()

    html_path = args.report
    if os.path.isdir(html_path):
        html_path = os.path.join(html_path, "report.html")
    html_path = os.path.abspath(html_path)
    json_path = os.path.join(os.path.dirname(html_path), "report.json")
    for path in (html_path, json_path):
        if not os.path.isfile(path):
            print(f"error: {path} does not exist", file=sys.stderr)
            sys.exit(2)
    screenshot = os.path.abspath(args.screenshot or os.path.join(os.path.dirname(html_path), "report.png"))

    browser = next((b for b in (shutil.which(n) for n in BROWSERS) if b), None)
    if browser is None:
        print("SKIP: chromium not installed")
        return

    with open(json_path, encoding="utf-8") as f:
        expected = json.load(f)
    with open(html_path, encoding="utf-8") as f:
        source = f.read()
    if re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)|url\(\s*["']?(https?:|//)|@import""", source):
        fail("the page references an external resource")

    has_map = isinstance(expected, dict) and "map" in expected
    with tempfile.TemporaryDirectory() as work:
        dom = run_chromium(browser, os.path.join(work, "p1"), ["--dump-dom", "file://" + html_path])
        interacted = os.path.join(work, "interacted.html")
        with open(interacted, "w", encoding="utf-8") as f:
            f.write(source.replace("</body>", INTERACT + "</body>") if has_map else source)
        url = "file://" + interacted
        interacted_dom = run_chromium(browser, os.path.join(work, "p2"), ["--dump-dom", url])
        run_chromium(
            browser,
            os.path.join(work, "p3"),
            [f"--screenshot={screenshot}", f"--window-size={args.width},{args.height}", url],
        )
    if not os.path.isfile(screenshot) or os.path.getsize(screenshot) == 0:
        fail(f"chromium wrote no screenshot at {screenshot}")

    reader = DomReader()
    reader.feed(dom)
    if reader.external:
        fail(f"the rendered page references outside resources: {reader.external[:5]}")
    if reader.data_scripts != 1:
        fail(f"expected one <script id=\"report-data\">, found {reader.data_scripts}")
    try:
        embedded = json.loads("".join(reader.data_text))
    except json.JSONDecodeError as e:
        fail(f"the embedded report data is not JSON: {e}")
    if embedded != expected:
        keys = sorted(set(embedded) ^ set(expected)) if isinstance(embedded, dict) and isinstance(expected, dict) else []
        fail(f"the page's embedded data differs from report.json (keys only on one side: {keys})")

    summary = ["embedded data equals report.json"]
    if has_map:
        if reader.body_attrs.get("data-map") != "drawn":
            fail(f"the map script did not finish (body data-map={reader.body_attrs.get('data-map')!r})")
        zones = expected["map"].get("zones", [])
        wanted = {
            "map-point": len(expected["map"]["points"]),
            "map-zone": len(zones),
            "map-sample": sum(len(z.get("samples", [])) for z in zones),
        }
        for cls, n in wanted.items():
            got = reader.classes.get(cls, 0)
            if got != n:
                fail(f"{got} .{cls} elements rendered, report.json has {n}")
            summary.append(f"{n} .{cls}")
        summary.append(check_interaction(expected["map"], interacted_dom))
    print(f"OK: {html_path}: " + ", ".join(summary) + f"; screenshot {screenshot}")


if __name__ == "__main__":
    main()
