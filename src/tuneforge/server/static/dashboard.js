// tuneforge dashboard: fills the server-rendered pages from the JSON API under /api/.
// Plain JavaScript, no build step, no network beyond this server. API data is only ever
// set as text (textContent), never as HTML.
"use strict";

(function () {
  const body = document.body;
  const page = body.dataset.page;
  const jobName = body.dataset.job;
  const trialNumber = body.dataset.trial;
  const enc = encodeURIComponent;
  const LIVE_REFRESH_MS = 2000;
  const CHART_REFRESH_MS = 10000;
  const LOG_START_BYTES = 256 * 1024;
  const LOG_KEEP_CHARS = 2 * 1024 * 1024;

  // ---------------------------------------------------------------- helpers

  async function api(path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    const init = { method: opts.method || "GET", headers: headers, credentials: "same-origin" };
    if (init.method !== "GET") headers["X-Tuneforge-Action"] = "1";
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.json);
    }
    const response = await fetch(path, init);
    let payload = null;
    try {
      payload = await response.json();
    } catch (err) {
      payload = null;
    }
    if (!response.ok) {
      const detail = payload && payload.detail ? payload.detail : response.status + " " + response.statusText;
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return payload;
  }

  function el(tag, attrs) {
    const node = document.createElement(tag);
    const a = attrs || {};
    for (const key of Object.keys(a)) {
      if (key === "text") node.textContent = a[key];
      else if (key === "className") node.className = a[key];
      else node.setAttribute(key, a[key]);
    }
    for (let i = 2; i < arguments.length; i++) {
      const child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function $(id) {
    return document.getElementById(id);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function message(text, kind) {
    const box = $("message");
    if (!box) return;
    box.hidden = !text;
    box.textContent = text || "";
    box.className = "message " + (kind || "error");
  }

  function authHint(err) {
    if (err.status === 401) {
      return err.message + " Open this page with the address tuneforge serve printed (it ends with ?token=...).";
    }
    return err.message;
  }

  function fmtNum(value) {
    if (value === null || value === undefined) return "";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return String(value);
    return String(Number(value.toPrecision(6)));
  }

  function fmtValue(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return fmtNum(value);
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function fmtTime(seconds) {
    if (seconds === null || seconds === undefined) return "";
    return new Date(seconds * 1000).toLocaleString();
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return seconds.toFixed(1) + "s";
    const s = Math.floor(seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const r = s % 60;
    return h ? h + "h" + String(m).padStart(2, "0") + "m" : m + "m" + String(r).padStart(2, "0") + "s";
  }

  function badge(node, state) {
    node.textContent = state.replace("_", " ");
    node.className = "badge " + state;
  }

  function plotlyReady() {
    return typeof window.Plotly !== "undefined";
  }

  // Plotly is big: load it after the page's text and tables, once, when a chart needs it.
  let plotlyLoading = null;
  function loadPlotly() {
    if (plotlyLoading === null) {
      plotlyLoading = new Promise(function (resolve) {
        if (plotlyReady()) return resolve(true);
        const mine = document.querySelector("script[data-plotly]");
        const script = el("script", { src: mine ? mine.dataset.plotly : "/static/vendor/plotly.min.js" });
        script.onload = function () { resolve(true); };
        script.onerror = function () { resolve(false); };
        document.head.appendChild(script);
      });
    }
    return plotlyLoading;
  }

  const plotConfig = { responsive: true, displaylogo: false };

  async function drawFigure(node, figure) {
    if (!(await loadPlotly())) {
      node.textContent = "The chart library (plotly.min.js) did not load.";
      return;
    }
    window.Plotly.react(node, figure.data, figure.layout, plotConfig);
  }

  // Two clicks to act: the first arms the button for a few seconds.
  function armedButton(button, label, confirmLabel, action) {
    let armed = null;
    button.addEventListener("click", async function () {
      if (!armed) {
        button.textContent = confirmLabel;
        button.classList.add("armed");
        armed = setTimeout(function () {
          armed = null;
          button.textContent = label;
          button.classList.remove("armed");
        }, 4000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      button.classList.remove("armed");
      button.disabled = true;
      button.textContent = "Stopping...";
      try {
        const result = await action();
        message(result.detail, "info");
      } catch (err) {
        message(authHint(err));
        button.disabled = false;
        button.textContent = label;
      }
    });
  }

  // ---------------------------------------------------------------- jobs page

  function jobsPage() {
    const tbody = document.querySelector("#jobs tbody");

    async function refresh() {
      try {
        const jobs = await api("/api/jobs");
        clear(tbody);
        $("jobs-empty").hidden = jobs.length > 0;
        for (const job of jobs.slice().reverse()) {
          const state = el("span");
          badge(state, job.state);
          const total = job.max_trials || job.n_trials || 0;
          const share = total ? Math.min(100, (100 * job.n_done) / total) : 0;
          const bar = el("div", { className: "bar small" }, el("div", { style: "width:" + share + "%" }));
          const best = job.best_value === null ? "" : fmtNum(job.best_value) + " (trial " + job.best_trial + ")";
          tbody.appendChild(
            el(
              "tr",
              { "data-job": job.name },
              el("td", {}, el("a", { href: "/jobs/" + enc(job.name), text: job.name })),
              el("td", {}, state),
              el("td", { text: job.strategy }),
              el("td", {}, bar, el("span", { text: job.n_done + "/" + (job.max_trials === null ? "?" : job.max_trials) })),
              el("td", { text: best, title: job.direction + " " + job.objective }),
              el("td", { text: fmtTime(job.created_at) }),
              el("td", { text: fmtDuration(job.duration) })
            )
          );
        }
        message("");
      } catch (err) {
        message(authHint(err));
      }
      setTimeout(refresh, 3000);
    }

    $("create-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const baseDir = $("base-dir").value.trim();
      try {
        const job = await api("/api/jobs", {
          method: "POST",
          json: { job_file: $("job-file").value, base_dir: baseDir || null },
        });
        window.location.href = "/jobs/" + enc(job.name);
      } catch (err) {
        message(authHint(err));
      }
    });
    refresh();
  }

  // ---------------------------------------------------------------- job page

  function jobPage() {
    const base = "/api/jobs/" + enc(jobName);
    const maximize = body.dataset.direction === "maximize";
    const table = { sort: "value", order: maximize ? "desc" : "asc", offset: 0, limit: 50, state: "" };
    let job = null;
    let lastChartLoad = 0;
    let trialsBusy = false;

    function settingText(value) {
      if (Array.isArray(value)) return value.map(fmtValue).join(" ");
      if (value !== null && typeof value === "object") {
        return Object.keys(value).map(function (k) { return k + ": " + fmtValue(value[k]); }).join(", ");
      }
      return fmtValue(value);
    }

    function settingsRow(dl, name, value) {
      if (value === null || value === undefined || value === "" ||
          (typeof value === "object" && Object.keys(value).length === 0)) return;
      dl.appendChild(el("dt", { text: name }));
      dl.appendChild(el("dd", { text: settingText(value) }));
    }

    function renderJob(data) {
      badge($("job-state"), data.state);
      const done = data.n_done;
      const total = data.max_trials || data.n_trials || 0;
      $("progress-bar").style.width = (total ? Math.min(100, (100 * done) / total) : 0) + "%";
      $("progress-text").textContent = done + " of " + (data.max_trials === null ? "?" : data.max_trials) +
        " trials done · " + fmtDuration(data.duration) + (data.state === "running" ? " so far" : "");
      const counts = Object.keys(data.counts).filter(function (s) { return data.counts[s] > 0; })
        .map(function (s) { return data.counts[s] + " " + s.replace("_", " "); });
      $("state-counts").textContent = counts.join(" · ");
      $("job-reason").textContent = data.reason || "";
      $("stop-job").hidden = data.state !== "running" || data.stop_requested;

      const best = $("best");
      clear(best);
      if (data.best) {
        const link = el("a", { href: "/jobs/" + enc(jobName) + "/trials/" + data.best.number, text: "trial " + data.best.number });
        best.appendChild(el("p", { className: "best-value" }, data.objective + " = " + fmtNum(data.best.value) + " ", link));
        const list = el("table", { className: "kv" });
        for (const name of Object.keys(data.best.params)) {
          list.appendChild(el("tr", {}, el("th", { text: name }), el("td", { text: fmtValue(data.best.params[name]) })));
        }
        best.appendChild(list);
      } else {
        best.appendChild(el("p", { className: "muted", text: "No completed trial yet." }));
      }

      const dl = $("settings");
      clear(dl);
      settingsRow(dl, "objective", data.direction + " " + data.objective);
      settingsRow(dl, "strategy", data.strategy);
      settingsRow(dl, "strategy options", data.strategy_options);
      settingsRow(dl, "early stopping", data.early_stopping);
      settingsRow(dl, "limits", data.limits);
      settingsRow(dl, "command", data.command);
      settingsRow(dl, "static values", data.static);
      settingsRow(dl, "seed", data.document.seed);
      settingsRow(dl, "trial folders", data.output_dir);
      settingsRow(dl, "description", data.description);

      const space = document.querySelector("#space tbody");
      clear(space);
      for (const name of Object.keys(data.parameters)) {
        const p = data.parameters[name] || {};
        const span = p.values !== undefined ? p.values.map(fmtValue).join(", ") :
          (p.low !== undefined ? "[" + fmtNum(p.low) + ", " + fmtNum(p.high) + "]" : "");
        space.appendChild(el("tr", {}, el("td", { text: name }), el("td", { text: p.type || "" }),
          el("td", { text: span }), el("td", { text: p.log ? "log" : "" }), el("td", { text: p.when === undefined ? "" : settingText(p.when) })));
      }
    }

    function headerCell(key, label) {
      const th = el("th", { "data-key": key, title: "Sort by " + label, tabindex: "0" }, label);
      if (table.sort === key) {
        th.classList.add("sorted");
        th.appendChild(el("span", { className: "arrow", text: table.order === "asc" ? " ▲" : " ▼" }));
      }
      const activate = function () {
        if (table.sort === key) table.order = table.order === "asc" ? "desc" : "asc";
        else {
          table.sort = key;
          table.order = key === "value" && maximize ? "desc" : "asc";
        }
        table.offset = 0;
        loadTrials();
      };
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (event) { if (event.key === "Enter") activate(); });
      return th;
    }

    function renderTrials(pageData) {
      const objective = body.dataset.objective || null;
      const metrics = pageData.metrics.filter(function (m) { return m !== objective; });
      const thead = document.querySelector("#trials thead");
      const tbody = document.querySelector("#trials tbody");
      clear(thead);
      clear(tbody);
      const row = el("tr");
      row.appendChild(headerCell("number", "#"));
      row.appendChild(headerCell("state", "state"));
      row.appendChild(headerCell("value", objective || "value"));
      for (const p of pageData.params) row.appendChild(headerCell("params." + p, p));
      for (const m of metrics) row.appendChild(headerCell("metrics." + m, m));
      row.appendChild(headerCell("duration", "duration"));
      row.appendChild(headerCell("started_at", "started"));
      thead.appendChild(row);
      for (const t of pageData.trials) {
        const state = el("span");
        badge(state, t.state);
        const tr = el("tr", { "data-number": String(t.number) },
          el("td", {}, el("a", { href: "/jobs/" + enc(jobName) + "/trials/" + t.number, text: String(t.number) })),
          el("td", { title: t.reason || "" }, state),
          el("td", { className: "num", text: fmtNum(t.value) }));
        for (const p of pageData.params) tr.appendChild(el("td", { className: "num", text: fmtValue(t.params[p]) }));
        for (const m of metrics) tr.appendChild(el("td", { className: "num", text: fmtNum(t.metrics[m]) }));
        tr.appendChild(el("td", { className: "num", text: fmtDuration(t.duration) }));
        tr.appendChild(el("td", { text: fmtTime(t.started_at) }));
        tbody.appendChild(tr);
      }
      if (!pageData.trials.length) {
        tbody.appendChild(el("tr", {}, el("td", { colspan: "99", className: "muted", text: "No trials." })));
      }
      const first = pageData.total ? pageData.offset + 1 : 0;
      const last = pageData.offset + pageData.trials.length;
      $("page-info").textContent = first + "–" + last + " of " + pageData.total;
      $("prev").disabled = pageData.offset === 0;
      $("next").disabled = last >= pageData.total;
    }

    async function loadTrials() {
      if (trialsBusy) return;
      trialsBusy = true;
      try {
        const query = new URLSearchParams({
          sort: table.sort, order: table.order, offset: String(table.offset), limit: String(table.limit),
        });
        if (table.state) query.append("state", table.state);
        renderTrials(await api(base + "/trials?" + query.toString()));
      } catch (err) {
        message(authHint(err));
      } finally {
        trialsBusy = false;
      }
    }

    async function loadChart(node) {
      try {
        const chart = await api(base + "/charts/" + node.dataset.chart);
        if (node.id === "chart-slices") {
          while (node.children.length > chart.figures.length) node.removeChild(node.lastChild);
          if (node.querySelector("p")) clear(node);
          // Every slot first, then the plots: each plot sizes itself to its slot once.
          while (node.children.length < chart.figures.length) {
            node.appendChild(el("div", { className: "chart slice" }));
          }
          chart.figures.forEach(function (figure, i) {
            drawFigure(node.children[i], figure);
          });
          if (!chart.figures.length) {
            clear(node);
            node.appendChild(el("p", { className: "muted", text: chart.note || "" }));
          }
          return;
        }
        if (chart.figures.length) {
          const stale = node.querySelector("p.muted");
          if (stale) node.removeChild(stale);
          drawFigure(node, chart.figures[0]);
        } else {
          if (plotlyReady()) window.Plotly.purge(node);
          clear(node);
          node.appendChild(el("p", { className: "muted", text: chart.note || "" }));
        }
      } catch (err) {
        clear(node);
        node.appendChild(el("p", { className: "error", text: authHint(err) }));
      }
    }

    function loadCharts() {
      lastChartLoad = Date.now();
      document.querySelectorAll("[data-chart]").forEach(loadChart);
    }

    async function refresh() {
      try {
        const wasRunning = job && job.state === "running";
        const trialsLoaded = loadTrials();  // in parallel with the job's own request
        job = await api(base);
        renderJob(job);
        await trialsLoaded;
        const running = job.state === "running";
        if (lastChartLoad === 0 || (running && Date.now() - lastChartLoad > CHART_REFRESH_MS) ||
            (wasRunning && !running)) {
          loadCharts();
        }
        if (running) setTimeout(refresh, LIVE_REFRESH_MS);
      } catch (err) {
        message(authHint(err));
        setTimeout(refresh, 5000);
      }
    }

    $("state-filter").addEventListener("change", function (event) {
      table.state = event.target.value;
      table.offset = 0;
      loadTrials();
    });
    $("page-size").addEventListener("change", function (event) {
      table.limit = Number(event.target.value);
      table.offset = 0;
      loadTrials();
    });
    $("prev").addEventListener("click", function () {
      table.offset = Math.max(0, table.offset - table.limit);
      loadTrials();
    });
    $("next").addEventListener("click", function () {
      table.offset += table.limit;
      loadTrials();
    });
    armedButton($("stop-job"), "Stop job", "Click again to stop the job", async function () {
      const result = await api(base + "/stop", { method: "POST" });
      setTimeout(refresh, 500);
      return result;
    });
    refresh();
  }

  // ---------------------------------------------------------------- trial page

  function trialPage() {
    const base = "/api/jobs/" + enc(jobName) + "/trials/" + trialNumber;
    const logNode = $("log");
    let stream = null;
    let active = true;

    function kvRows(tbody, mapping) {
      clear(tbody);
      const names = Object.keys(mapping);
      for (const name of names) {
        tbody.appendChild(el("tr", {}, el("th", { text: name }), el("td", { text: fmtValue(mapping[name]) })));
      }
      if (!names.length) tbody.appendChild(el("tr", {}, el("td", { className: "muted", text: "none" })));
    }

    function renderTrial(t) {
      badge($("trial-state"), t.state);
      const reason = $("trial-reason");
      reason.hidden = !t.reason;
      reason.textContent = t.reason || "";
      kvRows(document.querySelector("#params tbody"), t.params);
      const metrics = Object.assign({}, t.metrics);
      kvRows(document.querySelector("#metrics tbody"), metrics);
      const dl = $("timings");
      clear(dl);
      const rows = [
        ["value", fmtNum(t.value)],
        ["started", fmtTime(t.started_at)],
        ["finished", fmtTime(t.finished_at)],
        ["duration", fmtDuration(t.duration)],
        ["origin", t.origin],
        ["continues", t.continues === null || t.continues === undefined ? "" : "trial " + t.continues],
        ["folder", t.trial_dir || ""],
      ];
      for (const row of rows) {
        if (!row[1]) continue;
        dl.appendChild(el("dt", { text: row[0] }));
        dl.appendChild(el("dd", { text: row[1] }));
      }
      $("stop-trial").hidden = !t.active;
    }

    async function loadSeries() {
      try {
        const data = await api(base + "/metrics");
        const names = Object.keys(data.series);
        const node = $("chart-series");
        if (!names.length) {
          clear(node);
          node.appendChild(el("p", { className: "muted", text: "No metric values yet." }));
          return;
        }
        const stale = node.querySelector("p.muted");
        if (stale) node.removeChild(stale);
        const traces = names.map(function (name) {
          const points = data.series[name];
          return {
            type: "scatter", mode: "lines+markers", name: name,
            x: points.map(function (p) { return p.step; }),
            y: points.map(function (p) { return p.value; }),
          };
        });
        drawFigure(node, {
          data: traces,
          layout: { height: 320, margin: { l: 60, r: 20, t: 20, b: 50 }, xaxis: { title: { text: "step" } },
                    paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff" },
        });
      } catch (err) {
        message(authHint(err));
      }
    }

    async function loadFiles() {
      try {
        const data = await api(base + "/files");
        const list = $("files");
        clear(list);
        for (const f of data.files) {
          list.appendChild(el("li", {}, el("a", { href: f.url, text: f.path }),
            el("span", { className: "muted", text: " " + f.size + " bytes" })));
        }
        if (!data.files.length) list.appendChild(el("li", { className: "muted", text: "No files yet." }));
        if (data.truncated) list.appendChild(el("li", { className: "muted", text: "(list cut)" }));
      } catch (err) {
        message(authHint(err));
      }
    }

    function appendLog(text) {
      const nearBottom = logNode.scrollHeight - logNode.scrollTop - logNode.clientHeight < 40;
      logNode.appendChild(document.createTextNode(text));
      if (logNode.textContent.length > LOG_KEEP_CHARS) {
        logNode.textContent = logNode.textContent.slice(-LOG_KEEP_CHARS);
        $("log-cut").hidden = false;
        $("log-cut").textContent = "Earlier output is not shown; download trial.log below for all of it.";
      }
      if (nearBottom) logNode.scrollTop = logNode.scrollHeight;
    }

    function openLog(size) {
      let offset = 0;
      if (size > LOG_START_BYTES) {
        offset = -LOG_START_BYTES;
        $("log-cut").hidden = false;
        $("log-cut").textContent = "Showing the end of the log; download trial.log below for all of it.";
      }
      stream = new EventSource(base + "/log/stream?offset=" + offset);
      $("log-live").hidden = false;
      stream.addEventListener("log", function (event) {
        appendLog(JSON.parse(event.data).text);
      });
      stream.addEventListener("reset", function () {
        logNode.textContent = "";
      });
      stream.addEventListener("end", function () {
        stream.close();
        $("log-live").hidden = true;
        refresh();
      });
    }

    async function refresh() {
      try {
        const t = await api(base);
        renderTrial(t);
        if (stream === null) openLog(t.log_size);
        active = t.active;
        loadSeries();
        loadFiles();
        if (active) setTimeout(refresh, LIVE_REFRESH_MS);
      } catch (err) {
        message(authHint(err));
        setTimeout(refresh, 5000);
      }
    }

    armedButton($("stop-trial"), "Stop trial", "Click again to stop the trial", async function () {
      const result = await api(base + "/stop", { method: "POST" });
      setTimeout(refresh, 500);
      return result;
    });
    refresh();
  }

  if (page === "jobs") jobsPage();
  else if (page === "job") jobPage();
  else if (page === "trial") trialPage();
})();
