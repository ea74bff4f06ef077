/* SPP planner's web map: MapLibre GL JS on our own OGC API Tiles (MVT) and Features.
 * No internet basemap: communes, waterways and roads from our vector tiles are the base.
 * Everything layer-specific (titles, themes, styles, legend, fields) comes from config.json,
 * which the server derives from the layer catalogue (spp/webmap/config.py). */
(function () {
  "use strict";

  const I18N = {
    vi: {
      title: "Bản đồ quy hoạch Cần Thơ", search: "Tìm", search_placeholder: "Tìm xã, phường (có/không dấu)…",
      layers: "Lớp dữ liệu", legend: "Chú giải", export: "Xuất ảnh PNG", csv: "Tải chỉ số (CSV)",
      restricted: "Lớp hạn chế", key_placeholder: "Khóa API", unlock: "Mở",
      key_ok: "Đã mở các lớp hạn chế.", key_bad: "Khóa API không hợp lệ.", key_none: "Không có điểm truy cập hạn chế.",
      no_result: "Không tìm thấy xã/phường.", overlays: "Lớp phủ phân tích",
      population: "Dân số", area: "Diện tích", street_lights: "Đèn chiếu sáng", pump_stations: "Trạm bơm",
      water_level_sensors: "Cảm biến mực nước", telecom_sites: "Trạm BTS", telecom_sites_5g: "Trạm 5G",
      coverage_5g: "Phủ sóng 5G (dân số)", fibre: "Hộ có thể kéo cáp quang", flood: "Ngập (kịch bản nặng nhất)",
      target_5g: "Chỉ tiêu 5G 100%", target_fibre: "Chỉ tiêu cáp quang >90%", met: "đạt", notmet: "chưa đạt, thiếu",
      nodata: "chưa có", computed_at: "Tính lúc", no_indicators: "Chưa có chỉ số (chạy: spp indicators run).",
      per_km2: "/km²", synthetic: "dữ liệu tổng hợp", zoom_in: "phóng to từ mức",
      compare: "So sánh kịch bản ngập", diff: "Hiệu số B − A", side: "Song song", off: "Tắt",
      diff_title: "Chênh lệch ngập B − A theo xã/phường", people_diff: "Người bị ảnh hưởng B − A",
      area_diff: "Diện tích ngập B − A", more: "nhiều hơn", fewer: "ít hơn", same: "như nhau",
      same_run: "Chọn hai lượt chạy khác nhau.",
    },
    en: {
      title: "Can Tho planning map", search: "Find", search_placeholder: "Find a commune or ward (with/without accents)…",
      layers: "Layers", legend: "Legend", export: "Export PNG", csv: "Indicators (CSV)",
      restricted: "Restricted layers", key_placeholder: "API key", unlock: "Unlock",
      key_ok: "Restricted layers unlocked.", key_bad: "The API key is not valid.", key_none: "No restricted endpoint.",
      no_result: "No commune found.", overlays: "Analysis overlays",
      population: "Population", area: "Area", street_lights: "Street lights", pump_stations: "Pump stations",
      water_level_sensors: "Water-level sensors", telecom_sites: "Mobile sites", telecom_sites_5g: "5G sites",
      coverage_5g: "5G coverage (population)", fibre: "Fibre-passable households", flood: "Flood (worst scenario)",
      target_5g: "100% 5G target", target_fibre: ">90% fibre target", met: "met", notmet: "not met, short by",
      nodata: "no data", computed_at: "Computed at", no_indicators: "No indicators yet (run: spp indicators run).",
      per_km2: "/km²", synthetic: "synthetic data", zoom_in: "zoom in from level",
      compare: "Compare flood runs", diff: "Difference B − A", side: "Side by side", off: "Off",
      diff_title: "Flood difference B − A per commune", people_diff: "People exposed B − A",
      area_diff: "Flooded area B − A", more: "more", fewer: "fewer", same: "no change",
      same_run: "Choose two different runs.",
    },
  };

  const state = {
    lang: localStorage.getItem("spp.lang") || "vi",
    key: sessionStorage.getItem("spp.apiKey") || "",
    unlocked: false,
    config: null,
    map: null,
    visible: new Set(),
    card: null,
    ready: false,
    errors: [],
    runs: [],
    compare: { mode: null, a: null, b: null, map2: null, syncing: false },
  };
  window.spp = state; // for tests and the console

  const $ = (sel) => document.querySelector(sel);
  const t = (k) => (I18N[state.lang] || I18N.vi)[k] || k;
  const tr = (obj) => (obj ? obj[state.lang] || obj.vi || "" : "");
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const here = new URL(".", location.href);
  const restrictedRoot = new URL("restricted", here).href;
  const fmt = (v, digits) => {
    if (v == null || v === "" || (typeof v === "number" && isNaN(v))) return t("nodata");
    if (typeof v === "number") return v.toLocaleString(state.lang === "vi" ? "vi-VN" : "en-GB", { maximumFractionDigits: digits == null ? 2 : digits });
    return String(v);
  };

  function ogcRoot() {
    return new URL(state.config.ogc_root || "/", location.origin).href.replace(/\/$/, "");
  }

  function tileUrl(layer) {
    const root = layer.access === "restricted" ? restrictedRoot : ogcRoot();
    return `${root}/collections/${layer.name}/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt`;
  }

  function styleLayers(layer) {
    const out = [];
    const src = "src-" + layer.name;
    const common = { source: src, "source-layer": layer.name, minzoom: layer.min_zoom };
    if (layer.filter) common.filter = layer.filter;
    const vis = { visibility: state.visible.has(layer.name) ? "visible" : "none" };
    if (layer.kind === "fill") {
      out.push({ id: layer.name + "-fill", type: "fill", ...common, layout: { ...vis }, paint: layer.paint.fill });
      out.push({ id: layer.name + "-line", type: "line", ...common, layout: { ...vis }, paint: layer.paint.line });
    } else if (layer.kind === "line") {
      out.push({ id: layer.name + "-line", type: "line", ...common, layout: { ...vis, "line-cap": "round" }, paint: layer.paint.line });
    } else {
      out.push({ id: layer.name + "-circle", type: "circle", ...common, layout: { ...vis }, paint: layer.paint.circle });
    }
    return out;
  }

  function labelLayer(layer) {
    // Names drawn with the browser's own fonts: the style has no glyphs URL (MapLibre >= 5.11).
    const lab = layer.label;
    if (!lab) return null;
    const def = {
      id: layer.name + "-label", type: "symbol", source: lab.points ? "labels-" + layer.name : "src-" + layer.name,
      minzoom: Math.max(lab.min_zoom, layer.min_zoom),
      layout: {
        visibility: state.visible.has(layer.name) ? "visible" : "none",
        "text-field": ["to-string", ["get", lab.field]], "text-font": lab.fonts,
        "text-size": lab.placement === "line" ? 11 : 12, "symbol-placement": lab.placement,
        "text-max-width": 8,
      },
      paint: { "text-color": "#333333", "text-halo-color": "#ffffff", "text-halo-width": 1.5 },
    };
    if (!lab.points) def["source-layer"] = layer.name;
    if (layer.filter && !lab.points) def.filter = layer.filter;
    if (layer.kind === "circle") { def.layout["text-offset"] = [0, 1.1]; def.layout["text-anchor"] = "top"; }
    return def;
  }

  const ORDER = { fill: 0, line: 1, circle: 2 };
  function drawOrder(layers) {
    // base polygons, other polygons, analysis polygons, lines, points
    return [...layers].sort((a, b) => (ORDER[a.kind] - ORDER[b.kind]) || ((a.overlay ? 1 : 0) - (b.overlay ? 1 : 0)) || ((b.base ? 1 : 0) - (a.base ? 1 : 0)));
  }

  function usable(layer) {
    return layer.access !== "restricted" || state.unlocked;
  }

  function addLayer(map, layer) {
    const src = "src-" + layer.name;
    if (map.getSource(src)) return;
    map.addSource(src, { type: "vector", tiles: [tileUrl(layer)], minzoom: layer.min_zoom, maxzoom: Math.min(layer.max_zoom, 16) });
    for (const def of styleLayers(layer)) map.addLayer(def, map.getLayer("highlight-line") ? "highlight-line" : undefined);
    const label = labelLayer(layer);
    if (label) { // names above every geometry and the highlight
      if (layer.label.points && !map.getSource(label.source)) map.addSource(label.source, { type: "geojson", data: layer.label.points });
      map.addLayer(label);
    }
  }

  function layerIds(layer) {
    return layer.kind === "fill" ? [layer.name + "-fill", layer.name + "-line"] : [layer.name + "-" + layer.kind];
  }

  function styleIds(layer) {
    return layer.label ? [...layerIds(layer), layer.name + "-label"] : layerIds(layer);
  }

  function setVisible(name, on) {
    const layer = state.config.layers.find((l) => l.name === name);
    if (!layer) return;
    if (on) state.visible.add(name); else state.visible.delete(name);
    for (const id of styleIds(layer)) {
      if (state.map.getLayer(id)) state.map.setLayoutProperty(id, "visibility", on ? "visible" : "none");
    }
    renderLegend();
  }

  // ---- UI -------------------------------------------------------------------------------
  function renderTexts() {
    document.documentElement.lang = state.lang;
    document.title = "SPP — " + t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    $("#lang").textContent = state.lang === "vi" ? "EN" : "VI";
  }

  function renderLayers() {
    const box = $("#layers");
    box.innerHTML = "";
    const cfg = state.config;
    for (const theme of cfg.themes) {
      const layers = cfg.layers.filter((l) => l.theme === theme.id && usable(l));
      if (!layers.length) continue;
      const div = document.createElement("div");
      div.className = "theme";
      div.dataset.theme = theme.id;
      div.innerHTML = `<h3>${esc(theme.id === "analysis" ? t("overlays") : tr(theme.title))}</h3>`;
      for (const layer of layers) {
        const label = document.createElement("label");
        if (layer.access === "restricted") label.className = "restricted";
        const color = layer.legend.length ? layer.legend[0].color : "#888";
        label.title = `${layer.name} — ${t("zoom_in")} ${layer.min_zoom}${layer.synthetic ? " · " + t("synthetic") : ""}`;
        label.innerHTML = `<input type="checkbox" data-layer="${esc(layer.name)}" ${state.visible.has(layer.name) ? "checked" : ""}>` +
          `<span class="swatch" style="background:${esc(color)}"></span>${esc(tr(layer.title))}`;
        label.querySelector("input").addEventListener("change", (e) => setVisible(layer.name, e.target.checked));
        div.appendChild(label);
      }
      box.appendChild(div);
    }
  }

  function renderLegend() {
    const ul = $("#legend");
    ul.innerHTML = "";
    for (const layer of drawOrder(state.config.layers).reverse()) {
      if (!state.visible.has(layer.name) || !usable(layer)) continue;
      const items = layer.legend.length > 1 ? [{ label: layer.title, color: null }, ...layer.legend] : layer.legend;
      for (const item of items) {
        const li = document.createElement("li");
        const shape = layer.kind === "circle" ? "border-radius:50%;width:10px" : layer.kind === "line" ? "height:3px;border:none" : "";
        li.innerHTML = item.color ? `<span class="swatch" style="background:${esc(item.color)};${shape}"></span>${esc(tr(item.label))}` : `<b>${esc(tr(item.label))}</b>`;
        ul.appendChild(li);
      }
    }
  }

  function renderCard() {
    const card = $("#card");
    const c = state.card;
    if (!c) { card.hidden = true; return; }
    const ind = c.indicators;
    const name = state.lang === "en" && c.ten_en ? `${c.ten_en} (${c.ten})` : c.ten;
    let rows = `<tr><td>${t("population")}</td><td>${fmt(ind ? ind.population : c.dan_so, 0)}</td></tr>` +
      `<tr><td>${t("area")}</td><td>${fmt(ind ? ind.area_km2 : c.dien_tich_km2, 2)} km²</td></tr>`;
    let note = "";
    if (ind) {
      for (const k of ["street_lights", "pump_stations", "water_level_sensors", "telecom_sites", "telecom_sites_5g"]) {
        rows += `<tr><td>${t(k)}</td><td>${fmt(ind[k], 0)} <span class="small">(${fmt(ind[k + "_per_km2"], 1)}${t("per_km2")})</span></td></tr>`;
      }
      const pct = (v) => (v == null ? t("nodata") : fmt(v, 1) + " %");
      rows += `<tr><td>${t("coverage_5g")}</td><td>${pct(ind.coverage_5g_population_pct != null ? ind.coverage_5g_population_pct : ind.coverage_5g_area_pct)}</td></tr>`;
      rows += `<tr><td>${t("fibre")}</td><td>${pct(ind.fibre_households_pct)}</td></tr>`;
      const target = (met, gap) => (met == null ? t("nodata") : met ? `<span class="met">${t("met")}</span>` : `<span class="notmet">${t("notmet")} ${fmt(gap, 1)} pp</span>`);
      rows += `<tr><td>${t("target_5g")}</td><td>${target(ind.target_5g_met, ind.target_5g_gap_pct)}</td></tr>`;
      rows += `<tr><td>${t("target_fibre")}</td><td>${target(ind.target_fibre_met, ind.target_fibre_gap_pct)}</td></tr>`;
      let scen = "";
      try { scen = (JSON.parse(ind.flood_by_scenario || "{}").worst_scenario) || ""; } catch (e) { scen = ""; }
      rows += `<tr><td>${t("flood")}${scen ? " — " + esc(scen) : ""}</td><td>${pct(ind.flood_worst_share_pct)}</td></tr>`;
      note = `<p class="small">${t("computed_at")}: ${esc(ind.computed_at)}</p>`;
    } else {
      note = `<p class="small">${t("no_indicators")}</p>`;
    }
    card.innerHTML = `<h3 id="card-title">${esc(name)}</h3><table>${rows}</table>${note}`;
    card.hidden = false;
  }

  function showInfo(layer, props, extra) {
    const info = $("#info");
    const shown = { ...props, ...(extra || {}) };
    let rows = "";
    const known = new Set();
    for (const f of layer.fields.concat(extra ? Object.keys(extra).map((n) => ({ name: n, title: { vi: n, en: n } })) : [])) {
      if (known.has(f.name) || !(f.name in shown)) continue;
      known.add(f.name);
      const v = shown[f.name];
      rows += `<tr><td title="${esc(f.name)}">${esc(tr(f.title))}</td><td>${esc(fmt(v))}${f.unit && v != null ? " " + esc(f.unit) : ""}</td></tr>`;
    }
    info.innerHTML = `<button class="close" type="button" aria-label="close">×</button><h3>${esc(tr(layer.title))}</h3><table>${rows}</table>`;
    info.querySelector(".close").addEventListener("click", () => { info.hidden = true; });
    info.hidden = false;
  }

  async function onClick(e) {
    const map = state.map;
    if (state.compare.mode === "diff") {
      const hit = map.queryRenderedFeatures(e.point, { layers: ["flood-diff-fill"] });
      if (hit.length) {
        const fields = ["ten", "flooded_km2_a", "flooded_km2_b", "flooded_km2_diff", "people_exposed_a",
          "people_exposed_b", "people_exposed_diff", "buildings_flooded_diff", "road_km_impassable_diff"];
        showInfo({ title: { vi: t("diff_title"), en: t("diff_title") }, fields: fields.map((n) => ({ name: n, title: { vi: n, en: n } })) }, hit[0].properties);
        return;
      }
    }
    const ids = [];
    for (const layer of drawOrder(state.config.layers).reverse()) {
      if (!state.visible.has(layer.name) || !usable(layer)) continue;
      for (const id of layerIds(layer)) if (map.getLayer(id)) ids.push(id);
    }
    const feats = map.queryRenderedFeatures([[e.point.x - 3, e.point.y - 3], [e.point.x + 3, e.point.y + 3]], { layers: ids });
    if (!feats.length) { $("#info").hidden = true; return; }
    const f = feats[0];
    const layer = state.config.layers.find((l) => l.name === f.sourceLayer);
    if (!layer) return;
    showInfo(layer, f.properties);
    const id = f.properties[layer.primary_key];
    if (state.unlocked && layer.has_restricted_fields && id != null) {
      const resp = await fetch(`${restrictedRoot}/collections/${layer.name}/items/${encodeURIComponent(id)}?f=json`, { headers: { "X-API-Key": state.key } });
      if (resp.ok) {
        const full = await resp.json();
        const extra = {};
        for (const [k, v] of Object.entries(full.properties || {})) if (!(k in f.properties)) extra[k] = v;
        showInfo(layer, f.properties, extra);
      }
    }
  }

  async function search(q) {
    const ul = $("#search-results");
    ul.innerHTML = "";
    const resp = await fetch("search?q=" + encodeURIComponent(q));
    const body = await resp.json();
    if (!body.results.length) { ul.innerHTML = `<li class="small">${t("no_result")}</li>`; return; }
    if (body.results.length === 1 || body.results[0].ten.localeCompare(q, "vi", { sensitivity: "base" }) === 0) {
      await zoomToCommune(body.results[0].ma_xa);
      if (body.results.length === 1) return;
    }
    for (const r of body.results) {
      const li = document.createElement("li");
      li.dataset.maXa = r.ma_xa;
      li.textContent = state.lang === "en" && r.ten_en ? `${r.ten_en} (${r.ten})` : r.ten;
      li.addEventListener("click", () => zoomToCommune(r.ma_xa));
      ul.appendChild(li);
    }
  }

  async function zoomToCommune(maXa) {
    const resp = await fetch(`communes/${encodeURIComponent(maXa)}.json`);
    if (!resp.ok) return;
    const c = await resp.json();
    state.card = c;
    renderCard();
    state.map.getSource("highlight").setData({ type: "Feature", geometry: c.geometry, properties: {} });
    state.map.fitBounds([[c.bbox[0], c.bbox[1]], [c.bbox[2], c.bbox[3]]], { padding: 40, duration: 0, maxZoom: 15 });
  }

  async function unlock(key) {
    const status = $("#key-status");
    const resp = await fetch(restrictedRoot + "/collections?f=json", { headers: { "X-API-Key": key } });
    if (!resp.ok) {
      state.unlocked = false;
      sessionStorage.removeItem("spp.apiKey");
      status.textContent = resp.status === 503 ? t("key_none") : t("key_bad");
      return false;
    }
    state.key = key;
    state.unlocked = true;
    sessionStorage.setItem("spp.apiKey", key);
    status.textContent = t("key_ok");
    for (const layer of drawOrder(state.config.layers)) if (layer.access === "restricted") addLayer(state.map, layer);
    renderLayers();
    return true;
  }

  function exportPng() {
    const map = state.map;
    map.once("render", () => {
      const a = document.createElement("a");
      a.href = map.getCanvas().toDataURL("image/png");
      a.download = `spp-map-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "")}.png`;
      document.body.appendChild(a);
      a.click();
      a.remove();
    });
    map.triggerRepaint();
  }

  // ---- flood comparison: difference per commune, or two maps side by side ----------------
  const DIFF_COLORS = [[-1000, "#2166ac"], [-1, "#92c5de"], [0, "#f7f7f7"], [1, "#f4a582"], [1000, "#b2182b"]];
  const EXTENTS = "flood_extents";

  function runLabel(r) {
    return `${r.scenario} · ${(r.started_at || "").slice(0, 16).replace("T", " ")}`;
  }

  async function loadRuns() {
    const resp = await fetch("flood/runs.json");
    if (!resp.ok) return;
    state.runs = (await resp.json()).runs;
    if (state.runs.length < 2) return;
    for (const [id, pick] of [["#run-a", 1], ["#run-b", 0]]) {
      const sel = $(id);
      sel.innerHTML = "";
      for (const r of state.runs) {
        const o = document.createElement("option");
        o.value = r.run_id;
        o.textContent = runLabel(r);
        sel.appendChild(o);
      }
      sel.value = state.runs[pick].run_id;
    }
    $("#compare-section").hidden = false;
  }

  function extentsLayer() {
    return state.config.layers.find((l) => l.name === EXTENTS);
  }

  function setExtents(map, runId, on) {
    const layer = extentsLayer();
    if (!layer) return;
    for (const id of layerIds(layer)) {
      if (!map.getLayer(id)) continue;
      map.setFilter(id, runId ? ["==", ["get", "run_id"], runId] : layer.filter);
      map.setLayoutProperty(id, "visibility", on ? "visible" : "none");
    }
  }

  function clearCompare() {
    const c = state.compare;
    const map = state.map;
    for (const id of ["flood-diff-fill", "flood-diff-line"]) if (map.getLayer(id)) map.removeLayer(id);
    if (map.getSource("flood-diff")) map.removeSource("flood-diff");
    if (c.map2) { c.map2.remove(); c.map2 = null; }
    $("#map2").hidden = true;
    $("#tag-a").hidden = true;
    $("#compare-legend").hidden = true;
    $("#compare-status").textContent = "";
    setExtents(map, null, state.visible.has(EXTENTS));
    c.mode = null;
    map.resize();
  }

  function pickedRuns() {
    const a = $("#run-a").value, b = $("#run-b").value;
    if (!a || !b || a === b) { $("#compare-status").textContent = t("same_run"); return null; }
    return [a, b];
  }

  async function showDifference() {
    const runs = pickedRuns();
    if (!runs) return;
    clearCompare();
    const [a, b] = runs;
    const resp = await fetch(`flood/compare.geojson?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    const body = await resp.json();
    if (!resp.ok) { $("#compare-status").textContent = body.description || resp.statusText; return; }
    const map = state.map;
    map.addSource("flood-diff", { type: "geojson", data: body });
    const color = ["interpolate", ["linear"], ["get", "people_exposed_diff"], ...DIFF_COLORS.flat()];
    map.addLayer({ id: "flood-diff-fill", type: "fill", source: "flood-diff", paint: { "fill-color": color, "fill-opacity": 0.75 } }, "highlight-line");
    map.addLayer({ id: "flood-diff-line", type: "line", source: "flood-diff", paint: { "line-color": "#555", "line-width": 0.6 } }, "highlight-line");
    state.compare = { ...state.compare, mode: "diff", a, b };
    const ul = $("#compare-legend");
    ul.innerHTML = `<li><b>${esc(t("people_diff"))}</b></li>` + DIFF_COLORS.map(([v, c]) =>
      `<li><span class="swatch" style="background:${c}"></span>${v > 0 ? "+" : ""}${fmt(v, 0)}</li>`).join("");
    ul.hidden = false;
    const total = body.features.reduce((s, f) => s + (f.properties.people_exposed_diff || 0), 0);
    const km2 = body.features.reduce((s, f) => s + (f.properties.flooded_km2_diff || 0), 0);
    $("#compare-status").textContent = `${t("people_diff")}: ${total > 0 ? "+" : ""}${fmt(total, 0)}; ${t("area_diff")}: ${km2 > 0 ? "+" : ""}${fmt(km2, 2)} km²`;
  }

  function syncMaps(from, to) {
    const c = state.compare;
    if (c.syncing) return;
    c.syncing = true;
    to.jumpTo({ center: from.getCenter(), zoom: from.getZoom(), bearing: from.getBearing(), pitch: from.getPitch() });
    c.syncing = false;
  }

  async function showSideBySide() {
    const runs = pickedRuns();
    if (!runs) return;
    clearCompare();
    const [a, b] = runs;
    const map = state.map;
    $("#map2").hidden = false;
    map.resize();
    const map2 = new maplibregl.Map({
      container: "map2",
      style: { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#f4f1ea" } }] },
      center: map.getCenter(), zoom: map.getZoom(), bearing: map.getBearing(),
      canvasContextAttributes: { preserveDrawingBuffer: true }, attributionControl: false, maxZoom: 20,
    });
    state.compare = { ...state.compare, mode: "side", a, b, map2 };
    map2.on("error", (e) => { state.errors.push(String((e && e.error && e.error.message) || e)); });
    await new Promise((resolve) => map2.on("load", resolve));
    for (const layer of drawOrder(state.config.layers)) {
      if (layer.base || layer.name === EXTENTS) addLayer(map2, layer);
    }
    for (const layer of state.config.layers) {
      if (layer.base) for (const id of layerIds(layer)) if (map2.getLayer(id)) map2.setLayoutProperty(id, "visibility", "visible");
    }
    setExtents(map, a, true);
    setExtents(map2, b, true);
    map.on("move", () => state.compare.map2 === map2 && syncMaps(map, map2));
    map2.on("move", () => syncMaps(map2, map));
    const byId = Object.fromEntries(state.runs.map((r) => [r.run_id, r]));
    $("#tag-a").textContent = "A: " + runLabel(byId[a]);
    $("#tag-a").hidden = false;
    $("#tag-b").textContent = "B: " + runLabel(byId[b]);
  }

  // ---- start ----------------------------------------------------------------------------
  async function start() {
    renderTexts();
    const cfg = await (await fetch("config.json")).json();
    state.config = cfg;
    for (const layer of cfg.layers) if (layer.base) state.visible.add(layer.name);
    const style = {
      version: 8,
      sources: { highlight: { type: "geojson", data: { type: "FeatureCollection", features: [] } } },
      layers: [{ id: "background", type: "background", paint: { "background-color": "#f4f1ea" } }],
    };
    const map = new maplibregl.Map({
      container: "map",
      style,
      bounds: [[cfg.bbox[0], cfg.bbox[1]], [cfg.bbox[2], cfg.bbox[3]]],
      canvasContextAttributes: { preserveDrawingBuffer: true },
      attributionControl: { compact: true, customAttribution: "SPP · Cần Thơ" },
      transformRequest: (url) => (url.startsWith(restrictedRoot) && state.key ? { url, headers: { "X-API-Key": state.key } } : { url }),
      maxZoom: 20,
    });
    state.map = map;
    map.addControl(new maplibregl.NavigationControl(), "top-left");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    map.on("error", (e) => { state.errors.push(String((e && e.error && e.error.message) || e)); console.warn("map error", e && e.error); });
    map.on("click", onClick);
    await new Promise((resolve) => map.on("load", resolve));
    // the highlight first: geometry goes below it, names above it (see addLayer)
    map.addLayer({ id: "highlight-line", type: "line", source: "highlight", paint: { "line-color": "#d7301f", "line-width": 3 } });
    for (const layer of drawOrder(cfg.layers)) if (usable(layer)) addLayer(map, layer);
    renderLayers();
    renderLegend();
    $("#csv").hidden = !cfg.indicators;
    $("#key-section").hidden = !cfg.restricted && !cfg.layers.some((l) => l.access === "restricted");
    $("#lang").addEventListener("click", () => {
      state.lang = state.lang === "vi" ? "en" : "vi";
      localStorage.setItem("spp.lang", state.lang);
      renderTexts(); renderLayers(); renderLegend(); renderCard();
    });
    $("#search").addEventListener("submit", (e) => { e.preventDefault(); search($("#search-q").value.trim()); });
    $("#key-form").addEventListener("submit", (e) => { e.preventDefault(); unlock($("#key").value.trim()); });
    $("#export").addEventListener("click", exportPng);
    $("#compare-diff").addEventListener("click", showDifference);
    $("#compare-side").addEventListener("click", showSideBySide);
    $("#compare-off").addEventListener("click", clearCompare);
    await loadRuns();
    if (state.key) await unlock(state.key);
    map.once("idle", () => { state.ready = true; document.body.dataset.ready = "1"; });
  }

  start().catch((err) => { state.errors.push(String(err)); console.error(err); });
})();
