"""The dashboard's HTML pages: small server-rendered shells that ``static/dashboard.js`` fills.

Each page names what it shows in ``<body data-page=... data-job=... data-trial=...>``; the
script reads the JSON API for everything else and refreshes while a job runs, so the pages
and the API never disagree. Plotly (4.8 MB) is loaded by the script only once text and
tables are on screen, so a chart never delays the table. Every value placed in the HTML is
escaped, and the script only ever sets text (never HTML) from API data.

Scripts and styles come from this package (``/static/``) and from the installed ``plotly``
package (``/static/vendor/plotly.min.js``): the dashboard needs no network beyond this
server.

Opening any page with ``?token=<token>`` stores the token in a cookie (see
:mod:`tuneforge.server.security`) and redirects to the same page without it.
"""

from __future__ import annotations

import gzip
import html
import importlib.resources
from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tuneforge.errors import NotFoundError
from tuneforge.server.security import TokenGuard, cookie_name
from tuneforge.storage import Storage
from tuneforge.trial import TrialState

STATIC_DIR = Path(__file__).with_name("static")
_ASSET_VERSION = "2"  # bump when static files change, so browsers fetch them again


@cache
def plotly_js() -> tuple[bytes, bytes]:
    """plotly.min.js from the installed plotly package, plain and gzipped (read once)."""
    source = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
    data = source.read_bytes()
    return data, gzip.compress(data, compresslevel=6)


def make_pages_router(storage: Storage, guard: TokenGuard, *, storage_label: str) -> APIRouter:
    """The HTML pages and the Plotly script route."""
    router = APIRouter(include_in_schema=False)

    def gate(request: Request) -> Response | None:
        """Store a ``?token=`` in the cookie, or refuse a page that needs the token."""
        token = request.query_params.get("token")
        if token is not None:
            if not guard.matches(token):
                return _error_page(
                    403, "Wrong token", "The token in the address does not match the server's."
                )
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                cookie_name(request), token, httponly=True, samesite="strict", path="/"
            )
            return response
        if guard.reads_need_token and not guard.is_authenticated(request):
            return _error_page(
                401,
                "Token needed",
                "This server listens beyond this machine, so every page needs its token: "
                "open the address tuneforge serve printed (it ends with ?token=...).",
            )
        return None

    @router.get("/", response_class=HTMLResponse)
    def jobs_page(request: Request) -> Response:
        return gate(request) or _page(
            "Jobs", "jobs", {}, _JOBS_BODY.format(storage=html.escape(storage_label))
        )

    @router.get("/jobs/{job}", response_class=HTMLResponse)
    def job_page(request: Request, job: str) -> Response:
        refused = gate(request)
        if refused is not None:
            return refused
        try:
            record = storage.get_job(job)
        except NotFoundError as exc:
            return _error_page(404, "No such job", str(exc))
        api = f"/api/jobs/{quote(job, safe='')}"
        states = "".join(
            f'<option value="{s.value}">{s.value.replace("_", " ")}</option>' for s in TrialState
        )
        body = _JOB_BODY.format(
            job=html.escape(job),
            csv=html.escape(f"{api}/export?format=csv"),
            archive=html.escape(f"{api}/archive"),
            states=states,
        )
        # The objective and direction let the script ask for the sorted table at once.
        data = {"job": job, "objective": record.objective, "direction": record.direction}
        return _page(job, "job", data, body)

    @router.get("/jobs/{job}/trials/{number}", response_class=HTMLResponse)
    def trial_page(
        request: Request, job: str, number: Annotated[int, PathParam(ge=0, le=2**31 - 1)]
    ) -> Response:
        refused = gate(request)
        if refused is not None:
            return refused
        try:
            storage.get_trial(job, number)
        except NotFoundError as exc:
            return _error_page(404, "No such trial", str(exc))
        body = _TRIAL_BODY.format(
            job=html.escape(job),
            job_url=html.escape(f"/jobs/{quote(job, safe='')}"),
            number=number,
        )
        return _page(f"{job} trial {number}", "trial", {"job": job, "trial": str(number)}, body)

    @router.get("/static/vendor/plotly.min.js")
    def plotly(request: Request) -> Response:
        plain, packed = plotly_js()
        headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(packed, media_type="text/javascript", headers=headers)
        return Response(plain, media_type="text/javascript", headers=headers)

    return router


def _page(title: str, page: str, data: dict[str, str], body: str) -> HTMLResponse:
    attributes = "".join(
        f' data-{key}="{html.escape(value, quote=True)}"' for key, value in data.items()
    )
    text = _LAYOUT.format(
        title=html.escape(title),
        page=page,
        attributes=attributes,
        body=body,
        version=_ASSET_VERSION,
    )
    return HTMLResponse(text, headers={"Cache-Control": "no-store"})


def _error_page(status: int, title: str, message: str) -> HTMLResponse:
    body = (
        f'<h1>{html.escape(title)}</h1><p class="message error">{html.escape(message)}</p>'
        '<p><a href="/">All jobs</a></p>'
    )
    text = _LAYOUT.format(
        title=html.escape(title), page="error", attributes="", body=body, version=_ASSET_VERSION
    )
    return HTMLResponse(text, status_code=status)


_LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · tuneforge</title>
<link rel="stylesheet" href="/static/dashboard.css?v={version}">
<link rel="icon" href="data:,">
</head>
<body data-page="{page}"{attributes}>
<header class="top"><a class="brand" href="/">tuneforge</a>
<nav><a href="/">Jobs</a><a href="/api/openapi.json">API schema</a></nav></header>
<main>
{body}
</main>
<script src="/static/dashboard.js?v={version}" data-plotly="/static/vendor/plotly.min.js"></script>
</body>
</html>
"""

_JOBS_BODY = """<h1>Jobs</h1>
<p class="muted">Storage: <code>{storage}</code>. Jobs started from any terminal show up
here, live.</p>
<p id="message" class="message" hidden></p>
<div class="table-wrap">
<table id="jobs" class="grid">
<thead><tr><th>name</th><th>state</th><th>strategy</th><th>progress</th><th>best</th>
<th>started</th><th>duration</th></tr></thead>
<tbody></tbody>
</table>
</div>
<p id="jobs-empty" class="muted" hidden>No jobs yet: run <code>tuneforge run job.yaml</code>,
or create one below.</p>
<details id="new-job" class="card">
<summary>New job from a job file</summary>
<form id="create-form">
<p class="muted">The job runs inside this server; relative paths in the file start at the base
folder (default: the folder the server was started in).</p>
<textarea id="job-file" name="job_file" rows="14" spellcheck="false"
 placeholder="name: my-job&#10;command: python train.py --lr ${{lr}}&#10;..."></textarea>
<label>Base folder <input id="base-dir" name="base_dir" placeholder="(server's folder)"></label>
<button type="submit">Create and start</button>
</form>
</details>
"""

_JOB_BODY = """<div class="head">
<h1><span id="job-name">{job}</span> <span id="job-state" class="badge"></span></h1>
<div class="actions">
<button id="stop-job" class="danger" type="button" hidden>Stop job</button>
<a id="download-csv" class="button" href="{csv}">Download CSV</a>
<a id="download-archive" class="button" href="{archive}">Download archive</a>
</div>
</div>
<p id="message" class="message" hidden></p>
<section class="cards">
<div class="card"><h2>Progress</h2>
<div class="bar"><div id="progress-bar"></div></div>
<p id="progress-text"></p><p id="state-counts" class="muted"></p>
<p id="job-reason" class="muted"></p>
</div>
<div class="card"><h2>Best trial</h2><div id="best"><p class="muted">None yet.</p></div></div>
<div class="card"><h2>Settings</h2><dl id="settings"></dl></div>
</section>
<section class="card"><h2>Search space</h2>
<div class="table-wrap"><table id="space" class="grid"><thead><tr><th>parameter</th>
<th>type</th><th>range / values</th><th>log</th><th>active when</th></tr></thead><tbody></tbody>
</table></div></section>
<section class="card"><h2>Trials</h2>
<div class="toolbar">
<label>State <select id="state-filter"><option value="">all</option>{states}</select></label>
<label>Rows <select id="page-size"><option>25</option><option selected>50</option>
<option>100</option><option>200</option></select></label>
<button id="prev" type="button">&lsaquo; Prev</button>
<span id="page-info" class="muted"></span>
<button id="next" type="button">Next &rsaquo;</button>
</div>
<div class="table-wrap"><table id="trials" class="grid sortable"><thead></thead><tbody></tbody>
</table></div>
</section>
<section class="card"><h2>Charts</h2>
<div class="charts">
<div class="chart" id="chart-history" data-chart="history"></div>
<div class="chart" id="chart-importance" data-chart="importance"></div>
<div class="chart wide" id="chart-parallel" data-chart="parallel"></div>
<div class="chart wide" id="chart-curves" data-chart="curves"></div>
</div>
<h3>Slices</h3>
<div class="charts" id="chart-slices" data-chart="slices"></div>
</section>
"""

_TRIAL_BODY = """<p class="crumbs"><a href="{job_url}">{job}</a> &rsaquo; trial {number}</p>
<div class="head">
<h1>Trial {number} <span id="trial-state" class="badge"></span></h1>
<div class="actions">
<button id="stop-trial" class="danger" type="button" hidden>Stop trial</button>
</div>
</div>
<p id="message" class="message" hidden></p>
<p id="trial-reason" class="reason" hidden></p>
<section class="cards">
<div class="card"><h2>Parameters</h2><table id="params" class="kv"><tbody></tbody></table></div>
<div class="card"><h2>Metrics</h2><table id="metrics" class="kv"><tbody></tbody></table></div>
<div class="card"><h2>Timings</h2><dl id="timings"></dl></div>
</section>
<section class="card"><h2>Metric series</h2>
<div class="chart wide" id="chart-series"></div></section>
<section class="card"><h2>Log <span id="log-live" class="badge running" hidden>live</span></h2>
<p id="log-cut" class="muted" hidden></p>
<pre id="log" class="log"></pre>
</section>
<section class="card"><h2>Files</h2><ul id="files" class="files"></ul></section>
"""
