// One plotly figure that stays mounted in the app's own page (Streamlit components v2: no frame), redrawn
// in place with Plotly.react when a new figure arrives. See ui/live_chart.py.
// plotly.js is loaded once per page, not once per chart: the lines bundle (npm's basic one) for charts of
// lines and bars, the cartesian one for heat maps, both from the app's static files (cached by the browser).
// The page's lead chart (Ṽ) loads its bundle at once; the others wait until it has drawn (or WAIT_MS), so
// that a new tab's first point does not queue behind the heat maps on the browser's one main thread.
const WAIT_MS = 2500;
const g = (window.__ganLive = window.__ganLive || {bundles: {}, queue: Promise.resolve(), leadDrawn: false});

// Scripts load one at a time: each bundle sets window.Plotly as it runs, and the chart keeps the one it got.
function plotlyFrom(url) {
  if (!g.bundles[url]) {
    g.bundles[url] = g.queue.then(() => new Promise((ok, fail) => {
      const s = document.createElement("script");
      s.src = url;
      s.onload = () => ok(window.Plotly);
      s.onerror = () => { delete g.bundles[url]; fail(new Error("plotly.js did not load from " + url)); };
      document.head.appendChild(s);
    }));
    g.queue = g.bundles[url].catch(() => {});  // a failed load does not stop the next one
  }
  return g.bundles[url];
}

function afterLead() {
  return new Promise((ok) => {
    const t0 = Date.now();
    const check = () => (g.leadDrawn || Date.now() - t0 > WAIT_MS) ? ok() : setTimeout(check, 50);
    check();
  });
}

export default function (component) {
  const {data, parentElement} = component;
  if (!data || !data.spec) return;
  let el = parentElement.querySelector(":scope > .gan-live-chart");
  if (!el) {
    el = document.createElement("div");
    el.className = "gan-live-chart";
    el.style.width = "100%";
    parentElement.appendChild(el);
    const st = el.__gan = {spec: null, config: null, busy: null, plotly: null, url: null, lead: false};
    // Called when Streamlit removes the element (another page, another run): plotly's window listeners go
    // with the chart, and the next page's charts wait for its own lead. A render superseded before it ran
    // also calls it, with the chart still in the page: nothing to do then.
    st.cleanup = () => {
      if (el.isConnected) return;
      if (st.plotly && el.data) st.plotly.purge(el);
      if (st.lead) g.leadDrawn = false;
    };
  }
  const st = el.__gan;
  if (data.spec === st.spec && data.config === st.config && data.url === st.want) return st.cleanup;  // re-sent
  st.spec = data.spec; st.config = data.config; st.want = data.url;
  const fig = JSON.parse(data.spec);
  const layout = Object.assign({}, fig.layout || {}, {autosize: true});
  delete layout.width;  // as wide as the column
  if (!el.style.minHeight) el.style.minHeight = (layout.height || 450) + "px";  // the space, before plotly.js
  if (!st.busy) st.busy = data.lead ? Promise.resolve() : afterLead();
  const url = data.url;
  st.busy = st.busy.then(async () => {
    if (st.url !== url) {  // the first figure, or one that needs the other bundle (a heat map among lines)
      if (st.plotly && el.data) st.plotly.purge(el);
      st.plotly = await plotlyFrom(url);
      st.url = url;
    }
    await st.plotly.react(el, fig.data || [], layout, JSON.parse(data.config));
    el.dataset.drawn = String(Number(el.dataset.drawn || 0) + 1);
    (window.ganDrawn = window.ganDrawn || []).push(performance.timeOrigin + performance.now());  // for tests
    if (data.lead) g.leadDrawn = st.lead = true;
  }).catch((e) => { el.textContent = "cannot draw this chart: " + e; });
  return st.cleanup;
}
