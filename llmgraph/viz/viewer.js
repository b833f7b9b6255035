/* llmgraph viewer: draws one report at a time from the JSON payload. Report text only ever enters
   the page as text nodes (textContent), never as markup. */
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("payload").textContent);
  const reports = data.reports;
  const labels = data.labels;
  const STATUS = ["none", "correct", "missing", "spurious", "wrong"];
  const STATUS_WORD = ["", "correct", "missing", "spurious", "wrong"];
  const TAG_MARK = ["", "", "\u2212", "+", ""];
  const KINDS = [["entity", "e", "entities"], ["relation", "r", "relations"]]; // error kind, report key, plural
  const ARC_COLOURS = ["#0072B2", "#D55E00", "#7a3d9a", "#333333"]; // modify, located_at, suggestive_of, other
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function plural(count, one, many) {
    return `${count} ${count === 1 ? one : many}`;
  }

  function paint(node, label) {
    node.style.setProperty("--c", label.color);
    node.style.setProperty("--t", label.tint);
    node.style.backgroundColor = label.tint;
  }

  function arcColour(type) {
    return ARC_COLOURS[Math.min(type, ARC_COLOURS.length - 1)];
  }

  // The error class of a mark (entity) or relation row of that kind, or null: the row's sixth field.
  function errorOf(kind, row) {
    return row.length > 5 ? data.errors[kind][row[5]] : null;
  }

  // The CSS classes that draw an error class: "x" and the class name as a word ("x-wrong-type").
  function errorClasses(name) {
    return name ? ` x x-${name.replace(/ /g, "-")}` : "";
  }

  // Which reports are shown --------------------------------------------------------------------

  const modalities = [...new Set(reports.map((report) => report.m))].sort();
  let searchTexts = null; // built on the first search
  let shown = reports.map((_, i) => i);
  let position = 0;

  function hasLabel(report, label) {
    return report.e.some((mark) => mark[2] === label || mark[4] === label);
  }

  function hasStatus(report, wanted) {
    const test = wanted === "errors" ? (status) => status >= 2 : (status) => status === Number(wanted);
    return report.e.some((mark) => test(mark[3])) || report.r.some((relation) => test(relation[3]));
  }

  // wanted: "<report key>:<class index>", as the error filter's options give it
  function hasError(report, wanted) {
    const [key, index] = wanted.split(":");
    return report[key].some((row) => row[5] === Number(index));
  }

  function applyFilters() {
    const query = $("search").value.trim().toLowerCase();
    const label = $("label-filter").value;
    const modality = $("modality-filter").value;
    const status = $("status-filter").value;
    const error = $("error-filter").value;
    if (query && !searchTexts) searchTexts = reports.map((report) => `${report.id}\n${report.t}`.toLowerCase());
    const before = shown[position];
    shown = [];
    reports.forEach((report, i) => {
      if (query && !searchTexts[i].includes(query)) return;
      if (label !== "" && !hasLabel(report, Number(label))) return;
      if (modality !== "" && report.m !== modalities[Number(modality)]) return;
      if (status !== "" && !hasStatus(report, status)) return;
      if (error !== "" && !hasError(report, error)) return;
      shown.push(i);
    });
    position = Math.max(0, shown.indexOf(before));
    render();
  }

  function go(to) {
    if (!shown.length) return;
    position = Math.max(0, Math.min(shown.length - 1, to));
    render();
  }

  // One report ---------------------------------------------------------------------------------

  let current = null; // the report on screen: its marks' elements, relation items, arc layer
  let lit = []; // relations highlighted now

  function render() {
    const box = $("report");
    box.replaceChildren();
    current = null;
    lit = [];
    hovered = null;
    const total = reports.length;
    $("prev").disabled = position <= 0;
    $("next").disabled = position >= shown.length - 1;
    $("jump").max = String(Math.max(1, shown.length));
    if (!shown.length) {
      $("position").textContent = `No report (of ${total})`;
      $("jump").value = "";
      box.append(el("p", "empty", total ? "No report matches these filters." : "No reports to show."));
      return;
    }
    const filtered = shown.length < total ? ` (filtered from ${total})` : "";
    $("position").textContent = `Report ${position + 1} of ${shown.length}${filtered}`;
    $("jump").value = String(position + 1);
    const report = reports[shown[position]];
    drawReport(box, report);
    try {
      history.replaceState(null, "", `#${encodeURIComponent(report.id)}`);
    } catch (error) {
      // some browsers refuse history changes on file: pages; the viewer works without them
    }
  }

  function drawReport(box, report) {
    const head = el("div", "report-head");
    head.append(el("h2", "", report.id));
    if (report.m) head.append(el("span", "muted", `modality ${report.m}`));
    if (!data.gold) {
      head.append(el("span", "muted", `${plural(report.e.length, "entity", "entities")}, ` +
                                      plural(report.r.length, "relation", "relations")));
    }
    box.append(head);
    if (data.gold) box.append(countsTable(report));
    const textBox = el("div", "text-box");
    textBox.id = "text";
    const pieces = drawText(textBox, report);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("aria-hidden", "true");
    textBox.append(svg);
    box.append(textBox, el("h2", "", "Relations"));
    const list = el("ul", "relations");
    const items = report.r.map((relation, i) => relationItem(report, relation, i));
    list.append(...items);
    if (!items.length) list.append(el("li", "muted", "none"));
    box.append(list);
    current = { report, pieces, items, svg, textBox };
    drawArcs();
  }

  function countsTable(report) {
    const table = el("table", "counts");
    const head = el("tr");
    for (const title of ["", "correct", "missing (gold only)", "spurious (predicted only)", "wrong label / type"]) {
      head.append(el("th", "", title));
    }
    table.append(head);
    for (const [name, rows] of [["entities", report.e], ["relations", report.r]]) {
      const row = el("tr");
      row.append(el("th", "", name));
      for (let status = 1; status <= 4; status++) {
        const cell = el("td", "", String(rows.filter((mark) => mark[3] === status).length));
        cell.dataset.count = `${name}-${STATUS[status]}`;
        row.append(cell);
      }
      table.append(row);
    }
    return table;
  }

  /* The text with one element per entity mark, nested where marks nest; a mark that crosses the
     end of the mark it starts in is split there (its pieces share data-i; the last one has the tag). */
  function drawText(container, report) {
    const text = report.t;
    const queue = report.e.map((mark, i) => ({ start: mark[0], end: mark[1], i }));
    queue.sort((a, b) => a.start - b.start || b.end - a.end);
    const pieces = report.e.map(() => []);
    const stack = [{ node: container, end: Infinity }];
    const top = () => stack[stack.length - 1];
    let at = 0;
    const flush = (to) => {
      if (to > at) top().node.append(text.slice(at, to));
      at = Math.max(at, to);
    };
    while (queue.length) {
      const piece = queue.shift();
      while (top().end <= piece.start) {
        flush(top().end);
        stack.pop();
      }
      flush(piece.start);
      let end = piece.end;
      if (end > top().end) {
        const rest = { start: top().end, end, i: piece.i };
        let slot = 0;
        while (slot < queue.length && (queue[slot].start < rest.start ||
               (queue[slot].start === rest.start && queue[slot].end >= rest.end))) slot++;
        queue.splice(slot, 0, rest);
        end = top().end;
      }
      const node = entityNode(report.e[piece.i], piece.i);
      top().node.append(node);
      pieces[piece.i].push(node);
      stack.push({ node, end });
    }
    while (stack.length > 1) {
      flush(top().end);
      stack.pop();
    }
    flush(text.length);
    for (const nodes of pieces) nodes[nodes.length - 1].classList.add("last");
    return pieces;
  }

  function describe(mark) {
    const error = errorOf("entity", mark);
    return diffText(mark) + (error ? `\nerror class: ${error}` : "");
  }

  function diffText(mark) {
    const label = labels[mark[2]].name;
    switch (mark[3]) {
      case 1: return `${label}\ncorrect`;
      case 2: return `${label}\nmissing: in gold only`;
      case 3: return `${label}\nspurious: predicted only`;
      case 4: return `gold: ${labels[mark[4]].name}, predicted: ${label}`;
      default: return label;
    }
  }

  function entityNode(mark, i) {
    const label = labels[mark[2]];
    const classes = `ent ${STATUS[mark[3]]}${label.measure ? " measure" : ""}${errorClasses(errorOf("entity", mark))}`;
    const node = el("span", classes);
    node.dataset.i = String(i);
    node.dataset.label = label.name;
    node.dataset.tag = mark[3] === 4 ? `${label.tag}\u2260${labels[mark[4]].tag}` : TAG_MARK[mark[3]] + label.tag;
    node.title = describe(mark);
    node.tabIndex = 0;
    paint(node, label);
    return node;
  }

  function endNode(report, index) {
    const mark = report.e[index];
    const node = el("span", "swatch", report.t.slice(mark[0], mark[1]));
    paint(node, labels[mark[2]]);
    node.title = describe(mark);
    return node;
  }

  function relationItem(report, relation, i) {
    const error = errorOf("relation", relation);
    const item = el("li", `rel ${STATUS[relation[3]]}${errorClasses(error)}`);
    item.dataset.i = String(i);
    item.tabIndex = 0;
    if (data.gold) item.append(el("span", `status ${STATUS[relation[3]]}`, STATUS_WORD[relation[3]]), " ");
    const type = el("span", "rtype", ` \u2014${data.relation_types[relation[2]]}\u2192 `);
    type.style.color = arcColour(relation[2]);
    item.append(endNode(report, relation[0]), type, endNode(report, relation[1]));
    if (relation[3] === 4) item.append(el("span", "muted", ` (gold: ${data.relation_types[relation[4]]})`));
    if (error) {
      item.append(el("span", "err", error));
      item.title = `error class: ${error}`;
    }
    return item;
  }

  // Relations on hover: highlighted ends, list items and arcs ----------------------------------

  function highlight(entity, relation) {
    if (!current) return;
    const { report, pieces, items, textBox } = current;
    textBox.querySelectorAll(".self, .end").forEach((node) => node.classList.remove("self", "end"));
    items.forEach((item) => item.classList.remove("hl"));
    lit = report.r.map((_, k) => k).filter((k) => k === relation ||
      (entity !== null && (report.r[k][0] === entity || report.r[k][1] === entity)));
    if (entity !== null) pieces[entity].forEach((node) => node.classList.add("self"));
    for (const k of lit) {
      items[k].classList.add("hl");
      for (const end of report.r[k].slice(0, 2)) {
        if (end !== entity) pieces[end].forEach((node) => node.classList.add("end"));
      }
    }
    drawArcs();
  }

  function svgNode(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    return node;
  }

  function drawArcs() {
    if (!current) return;
    const { report, pieces, svg, textBox } = current;
    svg.replaceChildren();
    const chosen = $("all-arcs").checked ? report.r.map((_, k) => k) : lit;
    if (!chosen.length) return;
    const defs = svgNode("defs", {});
    ARC_COLOURS.forEach((colour, k) => {
      const marker = svgNode("marker", { id: `arrow-${k}`, viewBox: "0 0 10 10", refX: 9, refY: 5,
                                         markerUnits: "userSpaceOnUse", markerWidth: 9, markerHeight: 9,
                                         orient: "auto" });
      marker.append(svgNode("path", { d: "M0,0 L10,5 L0,10 z", fill: colour }));
      defs.append(marker);
    });
    svg.append(defs);
    const box = textBox.getBoundingClientRect();
    for (const k of chosen) {
      const relation = report.r[k];
      const a = pieces[relation[0]][0].getClientRects()[0];
      const b = pieces[relation[1]][0].getClientRects()[0];
      if (!a || !b) continue;
      const x1 = a.left + a.width / 2 - box.left, y1 = a.top - box.top;
      const x2 = b.left + b.width / 2 - box.left, y2 = b.top - box.top;
      const lift = Math.min(70, 16 + Math.abs(x2 - x1) / 8);
      const peak = Math.min(y1, y2) - lift;
      const colour = arcColour(relation[2]);
      const width = lit.includes(k) ? 3 : 1.6;
      svg.append(svgNode("path", { d: `M${x1},${y1} C${x1},${peak} ${x2},${peak} ${x2},${y2}`, stroke: colour,
                                   "stroke-width": width, class: `arc ${STATUS[relation[3]]}`,
                                   "marker-end": `url(#arrow-${Math.min(relation[2], ARC_COLOURS.length - 1)})` }));
      const label = svgNode("text", { x: (x1 + x2) / 2, y: 0.75 * peak + 0.125 * (y1 + y2) - 3, fill: colour,
                                      "text-anchor": "middle", class: "arc-label" });
      const notes = [relation[3] >= 2 ? STATUS_WORD[relation[3]] : "", errorOf("relation", relation)].filter(Boolean);
      label.textContent = data.relation_types[relation[2]] + (notes.length ? ` (${notes.join(": ")})` : "");
      svg.append(label);
    }
  }

  let hovered = null;

  function hover(target) {
    const entity = target && target.closest ? target.closest("#text .ent") : null;
    const item = !entity && target && target.closest ? target.closest("li.rel") : null;
    const key = entity ? `e${entity.dataset.i}` : item ? `r${item.dataset.i}` : null;
    if (key === hovered) return;
    hovered = key;
    highlight(entity ? Number(entity.dataset.i) : null, item ? Number(item.dataset.i) : null);
  }

  // Page furniture -----------------------------------------------------------------------------

  function legendGroup(title) {
    const group = el("div", "group");
    group.append(el("b", "", title));
    $("legend").append(group);
    return group;
  }

  function drawLegend() {
    const entities = legendGroup("Entity labels");
    for (const index of data.used_labels) {
      const label = labels[index];
      const swatch = el("span", `swatch${label.measure ? " measure" : ""}`, label.name);
      swatch.title = `tag ${label.tag}`;
      swatch.style.borderBottom = `3px solid ${label.color}`;
      paint(swatch, label);
      entities.append(swatch);
      if (label.tag !== label.name) entities.append(el("span", "muted", `(${label.tag})`));
    }
    if (!data.used_labels.length) entities.append(el("span", "muted", "none"));
    if (data.gold) {
      const diff = legendGroup("Against gold");
      for (const [status, text] of [[1, "correct"], [2, "\u2212 missing (gold only)"], [3, "+ spurious (predicted only)"],
                                    [4, "\u2260 wrong label (hover: gold and predicted)"]]) {
        diff.append(el("span", `swatch key ${STATUS[status]}`, text));
      }
      drawErrorLegend();
    }
    const arcs = legendGroup("Relations");
    data.relation_types.forEach((type, k) => {
      const key = el("span", "");
      const line = el("span", "arc-key");
      line.style.borderTopColor = arcColour(k);
      key.append(line, type);
      arcs.append(key);
    });
    arcs.append(el("span", "muted", "hover or focus an entity to draw its relations; \u2190 \u2192 move between reports"));
  }

  // Every error class with its number of marks over the reports, drawn as its marks are.
  function drawErrorLegend() {
    const group = legendGroup("Error classes");
    group.classList.add("errors");
    for (const [kind, key, many] of KINDS) {
      const row = el("span", "error-kind");
      row.append(el("span", "muted", `${many}:`));
      data.errors[kind].forEach((name, index) => {
        const count = reports.reduce((sum, report) => sum + report[key].filter((mark) => mark[5] === index).length, 0);
        const swatch = el("span", `swatch key ${kind}-key${errorClasses(name)}`, `${name} (${count})`);
        swatch.dataset.error = `${key}:${index}`;
        row.append(swatch);
      });
      group.append(row);
    }
  }

  function drawTotals() {
    let text = plural(reports.length, "report", "reports");
    if (data.gold) {
      const count = (key) => [1, 2, 3, 4].map((status) =>
        reports.reduce((sum, report) => sum + report[key].filter((mark) => mark[3] === status).length, 0));
      const [ec, em, es, ew] = count("e");
      const [rc, rm, rs, rw] = count("r");
      text += `; entities ${ec} correct, ${em} missing, ${es} spurious, ${ew} wrong label;` +
              ` relations ${rc} correct, ${rm} missing, ${rs} spurious, ${rw} wrong type`;
    } else {
      const entities = reports.reduce((sum, report) => sum + report.e.length, 0);
      const relations = reports.reduce((sum, report) => sum + report.r.length, 0);
      text += `; ${plural(entities, "entity", "entities")}, ${plural(relations, "relation", "relations")}`;
    }
    $("totals").textContent = text;
  }

  function drawBanner() {
    const predOnly = data.unmatched.pred_only, goldOnly = data.unmatched.gold_only;
    if (!predOnly.count && !goldOnly.count) return;
    const banner = $("banner");
    banner.hidden = false;
    banner.append(el("strong", "", `${plural(predOnly.count, "predicted report has", "predicted reports have")} no gold, ` +
                                    `${plural(goldOnly.count, "gold report has", "gold reports have")} no prediction.`),
                  ` Shown: the ${plural(reports.length, "report", "reports")} in both files.`);
    for (const [what, entry] of [["Predicted only", predOnly], ["Gold only", goldOnly]]) {
      if (!entry.count) continue;
      const details = el("details");
      details.append(el("summary", "", `${what}: ${entry.count}`),
                     entry.ids.join(", ") + (entry.count > entry.ids.length ? ", \u2026" : ""));
      banner.append(details);
    }
  }

  function fillFilters() {
    for (const index of data.used_labels) {
      const count = reports.filter((report) => hasLabel(report, index)).length;
      const option = el("option", "", `${labels[index].name} (${count})`);
      option.value = String(index);
      $("label-filter").append(option);
    }
    modalities.forEach((modality, k) => {
      const option = el("option", "", `${modality || "(none)"} (${reports.filter((r) => r.m === modality).length})`);
      option.value = String(k);
      $("modality-filter").append(option);
    });
    $("status-control").hidden = !data.gold;
    $("error-control").hidden = !data.gold;
    if (data.gold) fillErrorFilter();
  }

  // One option per error class, grouped by kind, with its number of reports.
  function fillErrorFilter() {
    for (const [kind, key, many] of KINDS) {
      const group = el("optgroup");
      group.label = many;
      data.errors[kind].forEach((name, index) => {
        const value = `${key}:${index}`;
        const option = el("option", "", `${name} (${reports.filter((report) => hasError(report, value)).length})`);
        option.value = value;
        group.append(option);
      });
      $("error-filter").append(group);
    }
  }

  function start() {
    drawBanner();
    drawTotals();
    drawLegend();
    fillFilters();
    $("report").classList.toggle("tags", $("tags").checked);
    $("prev").addEventListener("click", () => go(position - 1));
    $("next").addEventListener("click", () => go(position + 1));
    $("jump").addEventListener("change", () => {
      const wanted = parseInt($("jump").value, 10);
      if (wanted) go(wanted - 1);
    });
    let timer = null;
    $("search").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(applyFilters, 150);
    });
    for (const id of ["label-filter", "modality-filter", "status-filter", "error-filter"]) {
      $(id).addEventListener("change", applyFilters);
    }
    $("tags").addEventListener("change", () => $("report").classList.toggle("tags", $("tags").checked));
    $("all-arcs").addEventListener("change", drawArcs);
    const report = $("report");
    report.addEventListener("mouseover", (event) => hover(event.target));
    report.addEventListener("mouseleave", () => hover(null));
    report.addEventListener("focusin", (event) => hover(event.target));
    report.addEventListener("focusout", () => hover(null));
    window.addEventListener("resize", drawArcs);
    document.addEventListener("keydown", (event) => {
      if (event.altKey || event.ctrlKey || event.metaKey || /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName)) return;
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        go(position + (event.key === "ArrowRight" ? 1 : -1));
        event.preventDefault();
      }
    });
    let wanted = "";
    try {
      wanted = decodeURIComponent(location.hash.slice(1));
    } catch (error) {
      // a hand-edited address: start at the first report
    }
    position = Math.max(0, reports.findIndex((r) => r.id === wanted));
    render();
  }

  start();
})();
