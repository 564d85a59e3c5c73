// escrowd web app: the little script the pages need; everything works without it except the
// live status, which it adds.
"use strict";

// Live status: an escrow page listens to the event stream for its escrow (the session cookie
// authenticates it) and, on each event, fetches the page again and swaps in the live part.
function watchLive() {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  const source = new EventSource(live.dataset.stream);
  let busy = false;
  let again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(window.location.pathname, { credentials: "same-origin" });
      if (r.ok) {
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        const fresh = doc.getElementById("live");
        const current = document.getElementById("live");
        if (fresh && current) {
          current.replaceChildren(...fresh.childNodes);
          localTimes();
        }
      }
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  // Each event arrives under its type's name and EventSource has no wildcard listener: the
  // page lists the types (data-types) so a new type needs no change here.
  const onEvent = () => { refresh(); };
  source.onmessage = onEvent;
  // The stream starts at its connection: what happened between rendering and connecting
  // (a webhook landing just then) is fetched once the stream is open, on every (re)connect.
  source.onopen = onEvent;
  for (const t of (live.dataset.types || "").split(" ")) {
    if (t) source.addEventListener(t, onEvent);
  }
}

// The dispute form: show the split amounts only when "split" is chosen.
function splitForms() {
  for (const form of document.querySelectorAll("form.resolve")) {
    const split = form.querySelector(".split");
    const update = () => {
      const chosen = form.querySelector("input[name=outcome]:checked");
      split.hidden = !(chosen && chosen.value === "split");
    };
    form.addEventListener("change", update);
    update();
  }
}

// Times in the money trail arrive as Unix seconds; show them in the reader's own time zone.
function localTimes() {
  for (const t of document.querySelectorAll("time[data-unix]")) {
    const d = new Date(Number(t.dataset.unix) * 1000);
    t.dateTime = d.toISOString();
    t.textContent = d.toLocaleString();
  }
}

document.addEventListener("DOMContentLoaded", () => { watchLive(); splitForms(); localTimes(); });
