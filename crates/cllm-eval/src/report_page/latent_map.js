// The interactive latent map of report.html. It reads the report data embedded in the
// page (#report-data, its `map`), draws the points, the void zones and the zones' samples
// into #map-svg at equal scale on both axes, shows a title on hover, and the original and
// decoded texts on click. No network, no libraries: the page works from a file.
(function () {
  "use strict";
  var svg = document.getElementById("map-svg");
  if (!svg) {
    return;
  }
  var panel = document.getElementById("map-panel");
  var tooltip = document.getElementById("map-tooltip");
  var legendBox = document.getElementById("map-legend");
  var map = JSON.parse(document.getElementById("report-data").textContent).map;
  var NS = svg.namespaceURI;
  var palette = svg.getAttribute("data-palette").split(" ");
  var SIZE = 640;
  var PAD = 16;
  var points = map.points || [];
  var zones = map.zones || [];

  var minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  function cover(x, y) {
    minX = Math.min(minX, x); maxX = Math.max(maxX, x);
    minY = Math.min(minY, y); maxY = Math.max(maxY, y);
  }
  points.forEach(function (p) { cover(p.x, p.y); });
  zones.forEach(function (z) {
    cover(z.x - z.r, z.y - z.r);
    cover(z.x + z.r, z.y + z.r);
    (z.samples || []).forEach(function (s) { cover(s.x, s.y); });
  });
  if (minX > maxX) {
    panel.textContent = "The map has no points.";
    document.body.setAttribute("data-map", "empty");
    return;
  }
  var span = Math.max(maxX - minX, maxY - minY) * 1.05 || 1;
  var midX = (minX + maxX) / 2;
  var midY = (minY + maxY) / 2;
  var scale = (SIZE - 2 * PAD) / span;
  function px(x) { return (PAD + (x - midX + span / 2) * scale).toFixed(2); }
  function py(y) { return (SIZE - PAD - (y - midY + span / 2) * scale).toFixed(2); }

  function svgElement(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    parent.appendChild(e);
    return e;
  }
  function htmlElement(name, text, parent, className) {
    var e = document.createElement(name);
    if (text !== undefined && text !== null) {
      e.textContent = text;
    }
    if (className) {
      e.className = className;
    }
    parent.appendChild(e);
    return e;
  }

  var groups = [];
  var counts = {};
  points.forEach(function (p) {
    if (groups.indexOf(p.group) < 0) {
      groups.push(p.group);
      counts[p.group] = 0;
    }
    counts[p.group] += 1;
  });
  function colourOf(group) {
    return palette[groups.indexOf(group) % palette.length];
  }

  var zoneLayer = svgElement("g", {}, svg);
  var pointLayer = svgElement("g", {}, svg);
  var sampleLayer = svgElement("g", {}, svg);
  // groups in order of first appearance: the first (the training texts) lies underneath
  groups.forEach(function (group, g) {
    points.forEach(function (p, i) {
      if (p.group === group) {
        svgElement("circle", {
          "class": "map-point", cx: px(p.x), cy: py(p.y), r: g === 0 ? 2.5 : 4,
          fill: colourOf(group), "data-kind": "point", "data-i": i
        }, pointLayer);
      }
    });
  });
  zones.forEach(function (z, zi) {
    svgElement("circle", {
      "class": "map-zone", cx: px(z.x), cy: py(z.y), r: (z.r * scale).toFixed(2), fill: "none",
      stroke: "#333333", "stroke-width": 1.5, "stroke-dasharray": "5 4", "data-kind": "zone", "data-i": zi
    }, zoneLayer);
    (z.samples || []).forEach(function (s, si) {
      var x = Number(px(s.x)), y = Number(py(s.y));
      svgElement("path", {
        "class": "map-sample",
        d: "M" + x + " " + (y - 5) + "L" + (x + 5) + " " + y + "L" + x + " " + (y + 5) + "L" + (x - 5) + " " + y + "Z",
        fill: "#ffffff", stroke: "#333333", "stroke-width": 1.5, "data-kind": "sample", "data-i": zi, "data-j": si
      }, sampleLayer);
    });
  });

  groups.forEach(function (group) {
    var item = htmlElement("li", null, legendBox);
    htmlElement("span", null, item, "swatch").style.background = colourOf(group);
    htmlElement("span", group + " (" + counts[group] + ")", item);
  });
  if (zones.length > 0) {
    var zoneItem = htmlElement("li", null, legendBox);
    htmlElement("span", null, zoneItem, "swatch zone-swatch");
    htmlElement("span", "void zone (" + zones.length + "), ◇ its samples", zoneItem);
  }

  // what a marker is: its tooltip and what the side panel shows for it
  function describe(target) {
    var kind = target.getAttribute && target.getAttribute("data-kind");
    var i = Number(target.getAttribute && target.getAttribute("data-i"));
    if (kind === "point") {
      var p = points[i];
      return { tip: p.title, heading: p.title, meta: "group: " + p.group, original: p.original, decoded: p.decoded };
    }
    if (kind === "zone") {
      return { tip: zones[i].label, heading: zones[i].label, zone: zones[i] };
    }
    if (kind === "sample") {
      var j = Number(target.getAttribute("data-j"));
      var label = zones[i].label + ", sample " + (j + 1);
      return { tip: label, heading: label, meta: "drawn in the zone and decoded", decoded: zones[i].samples[j].decoded };
    }
    return null;
  }

  function showText(heading, text) {
    htmlElement("h4", heading, panel);
    htmlElement("pre", text ? text : "(none)", panel);
  }
  var selected = null;
  function show(d, target) {
    if (selected) {
      selected.classList.remove("selected");
    }
    selected = target;
    target.classList.add("selected");
    panel.textContent = "";
    htmlElement("h3", d.heading, panel);
    if (d.meta) {
      htmlElement("p", d.meta, panel, "meta");
    }
    if (d.original !== undefined) {
      showText("Original", d.original);
    }
    if (d.decoded !== undefined) {
      showText("Decoded", d.decoded);
    }
    if (d.zone) {
      var samples = d.zone.samples || [];
      htmlElement("p", samples.length + " samples drawn in this zone, decoded:", panel, "meta");
      var list = htmlElement("ol", null, panel);
      samples.forEach(function (s) { htmlElement("li", s.decoded ? s.decoded : "(none)", list); });
    }
  }

  svg.addEventListener("mousemove", function (e) {
    var d = describe(e.target);
    if (!d) {
      tooltip.hidden = true;
      return;
    }
    tooltip.textContent = d.tip;
    tooltip.hidden = false;
    tooltip.style.left = (e.pageX + 12) + "px";
    tooltip.style.top = (e.pageY + 12) + "px";
  });
  svg.addEventListener("mouseleave", function () { tooltip.hidden = true; });
  svg.addEventListener("click", function (e) {
    var d = describe(e.target);
    if (d) {
      show(d, e.target);
    }
  });
  svg.setAttribute("data-points", String(points.length));
  document.body.setAttribute("data-map", "drawn");
})();
