// The staff UI's only script: live regions that poll a JSON address of the UI, and small helps.
// Pages work without it; with it, statuses and progress change in place.
"use strict";

// <section data-live="/app/live/..." data-live-every="2000" id="...">: every few seconds the
// address answers {items: {id: {text, state, value, max}}, refresh: bool, done: bool}.
// [data-live-id] elements inside show the items; `refresh` fetches this page again and swaps
// the section in; `done` stops the polling.
function poll(region) {
  const every = Number(region.dataset.liveEvery || 2000);
  let stopped = false;
  async function once() {
    if (stopped) return;
    try {
      const answer = await fetch(region.dataset.live, {
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-Live-Update": "1" },
      });
      if (signedOut(answer)) return;
      if (answer.ok) {
        const body = await answer.json();
        apply(region, body.items || {});
        if (body.refresh) await refresh(region);
        if (body.done) stopped = true;
      }
    } catch (error) {
      // A missed poll is retried on the next tick.
    }
    if (!stopped) setTimeout(once, every);
  }
  setTimeout(once, every);
}

// Only what changed is written: a screen reader announces a live region's changes, and an
// unchanged status re-written every two seconds must not be read out again.
function apply(region, items) {
  for (const [id, item] of Object.entries(items)) {
    for (const element of region.querySelectorAll(`[data-live-id="${CSS.escape(id)}"]`)) {
      if (element instanceof HTMLProgressElement) {
        if (item.max !== undefined && element.max !== Number(item.max)) element.max = item.max;
        if (item.value !== undefined && element.value !== Number(item.value)) {
          element.value = item.value;
        }
      }
      if (item.text !== undefined && element.textContent !== String(item.text)) {
        element.textContent = item.text;
      }
      if (item.state !== undefined && element.dataset.state !== String(item.state)) {
        element.dataset.state = item.state;
      }
    }
  }
}

// The session ended (idle for too long, signed out elsewhere, or the account disabled): leave
// the page, so that what it shows does not stay on an unattended screen.
function signedOut(answer) {
  const signin = new URL(answer.url);
  if (!answer.redirected || !signin.pathname.endsWith("/signin")) return false;
  signin.search = `?next=${encodeURIComponent(location.pathname + location.search)}`;
  location.assign(signin.toString());
  return true;
}

async function refresh(region) {
  const answer = await fetch(location.href, {
    credentials: "same-origin",
    headers: { "X-Live-Update": "1" },
  });
  if (signedOut(answer)) return;
  if (!answer.ok) return;
  const page = new DOMParser().parseFromString(await answer.text(), "text/html");
  const fresh = page.getElementById(region.id);
  if (fresh) {
    region.replaceChildren(...fresh.childNodes);
    // The fresh page says what it now shows: the next polls ask about that.
    if (fresh.dataset.live) region.dataset.live = fresh.dataset.live;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const region of document.querySelectorAll("[data-live]")) poll(region);
  for (const back of document.querySelectorAll("[data-back]")) {
    back.addEventListener("click", (event) => {
      if (history.length > 1) {
        event.preventDefault();
        history.back();
      }
    });
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});

// <input data-filter-options="select-id"> inside a hidden [data-filter] box: shown with the
// script; typing narrows the select's options to those whose text holds what was typed.
document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[data-filter-options]")) {
    const select = document.getElementById(input.dataset.filterOptions);
    const box = input.closest("[data-filter]");
    if (!select || !box) continue;
    box.hidden = false;
    input.addEventListener("input", () => {
      const wanted = input.value.trim().toLowerCase();
      let first = null;
      for (const option of select.options) {
        if (!option.value) continue;
        const shown = !wanted || option.text.toLowerCase().includes(wanted);
        option.hidden = !shown;
        option.disabled = !shown;
        if (shown && first === null) first = option;
      }
      const current = select.selectedOptions[0];
      if (wanted && (!current || !current.value || current.disabled)) {
        select.value = first ? first.value : "";
      }
    });
  }
});
