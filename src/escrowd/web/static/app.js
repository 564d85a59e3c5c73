// escrowd web app: the little script the pages need; everything works without it except the
// live status, which it adds, and (with the real Stripe) Stripe's Payment Element.
"use strict";

// Live status: an escrow page (and a job's, gig's, task's) listens to the event stream for
// its escrow, a list page (escrows, jobs, bookings, gigs, tasks, artworks, the balance and its
// payouts, payout settings, admins' escrows, payouts and disputes) to every event the viewer
// may see (the session cookie
// authenticates it) and, on each event, fetches the page again and swaps in the live parts.
// A live part as served, to tell whether a page read again shows anything new: each render
// gives a money form a new idempotency key, which is no news.
function served(html) {
  return html.replace(/(name="idempotency_key" value=")[^"]*"/g, '$1"');
}

function watchLive() {
  const live = document.getElementById("live");
  if (!live) return;
  // What each live part showed when served (read before localTimes or a countdown edits it).
  const shown = new Map([["live", served(live.innerHTML)]]);
  for (const part of document.querySelectorAll("[data-live-part][id]")) {
    shown.set(part.id, served(part.innerHTML));
  }
  let busy = false;
  let again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    // Someone typing in a form inside the live part (a report, a bid) keeps what they typed:
    // the swap waits until the field loses focus.
    const typing = document.activeElement;
    if (typing && typing.matches("input:not([type=hidden]), textarea, select")
        && document.getElementById("live")?.contains(typing)) {
      typing.addEventListener("blur", () => { refresh(); }, { once: true });
      return;
    }
    busy = true;
    try {
      // The query too: a filtered list (the admins' escrow search) stays filtered.
      const r = await fetch(window.location.pathname + window.location.search,
                            { credentials: "same-origin" });
      if (r.ok) {
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        // Only what changed is swapped: a page read again on every (re)connect must not
        // replace the very link or button someone is clicking. A page whose statuses stand in
        // more than one place (a balance and its payout history, with the payout form between
        // them) marks the others data-live-part.
        for (const part of [document.getElementById("live"),
                            ...document.querySelectorAll("[data-live-part][id]")]) {
          const twin = part && doc.getElementById(part.id);
          if (!twin) continue;
          const now = served(twin.innerHTML);
          if (now !== shown.get(part.id)) {
            part.replaceChildren(...twin.childNodes);
            shown.set(part.id, now);
          }
        }
        localTimes();
        splitForms();  // a swapped-in dispute form needs its split toggle again
      }
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  // A page whose status changes without an event of its own (an artwork following its
  // escrow) also reads itself again every data-poll seconds, and when a countdown ends.
  window.refreshLive = refresh;
  if (live.dataset.poll) {
    setInterval(() => {
      if (document.getElementById("live").querySelector("[data-testid=artwork-status]")
          ?.textContent.trim() === "pending payment") refresh();
    }, Number(live.dataset.poll) * 1000);
  }
  if (!live.dataset.stream || !window.EventSource) return;
  const source = new EventSource(live.dataset.stream);
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

// The payment modal's countdown: whole seconds left until data-deadline (Unix seconds), on
// the server's clock (data-now on #live says what it was when the page was made). It runs
// across live refreshes, which replace the element; at zero the page reads itself again.
function countdowns() {
  const live = document.getElementById("live");
  if (!live || !live.dataset.now) return;
  const skew = Number(live.dataset.now) - Date.now() / 1000;
  let ended = false;
  const tick = () => {
    for (const el of document.querySelectorAll("[data-deadline]")) {
      const left = Math.max(0, Math.floor(Number(el.dataset.deadline) - (Date.now() / 1000 + skew)));
      el.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      if (left === 0 && !ended && window.refreshLive) { ended = true; window.refreshLive(); }
    }
  };
  tick();
  setInterval(tick, 1000);
}

// Stripe's Payment Element (the real Stripe only; sandbox pages have none): the card is typed
// into Stripe's own frame and confirmed by Stripe.js, which then sends the browser to
// escrowd's return page (data-return-url). That page reads the intent from Stripe and says
// how it went, so a decline or a failed 3-D Secure check also goes there: only fields typed
// wrong, which never reach Stripe, are said here.
function stripeCheckout() {
  const box = document.querySelector("[data-stripe-checkout]");
  if (!box) return;
  const problem = box.querySelector("[data-stripe-error]");
  const say = (text) => { problem.textContent = text; problem.hidden = false; };
  if (!window.Stripe) {
    say("Stripe's card form could not be loaded: check your connection and reload the page.");
    return;
  }
  const stripe = window.Stripe(box.dataset.key);
  const elements = stripe.elements({ clientSecret: box.dataset.clientSecret });
  elements.create("payment").mount(box.querySelector("[data-payment-element]"));
  const form = box.querySelector("form");
  const button = form.querySelector("button[type=submit]");
  button.disabled = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    problem.hidden = true;
    const options = { elements, confirmParams: { return_url: box.dataset.returnUrl } };
    const { error } = box.dataset.mode === "setup"
      ? await stripe.confirmSetup(options)
      : await stripe.confirmPayment(options);
    if (error && error.type === "validation_error") {
      say(error.message);
      button.disabled = false;
      return;
    }
    window.location.assign(box.dataset.returnUrl);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  watchLive(); splitForms(); localTimes(); countdowns(); stripeCheckout();
});
