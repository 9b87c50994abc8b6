// hookd's dashboard script: local times, live delivery rows, live job logs. The pages read
// fully without it. Text from the server is only ever set with textContent, never as HTML.
"use strict";

(() => {
  const POLL_MS = 2000;
  const PAGE = 50;
  const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  function localize(root) {
    for (const node of root.querySelectorAll("time[datetime]")) {
      const moment = new Date(node.dateTime);
      if (!Number.isNaN(moment.getTime())) {
        node.title = node.dateTime;
        node.textContent = when.format(moment);
      }
    }
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function deliveryRow(item) {
    const row = element("tr", null, "new");
    row.dataset.id = item.id;
    const time = element("time", item.received_at);
    time.dateTime = item.received_at;
    row.append(element("td", null, "time"));
    row.lastChild.append(time);
    row.append(element("td", item.endpoint || "–"));
    const link = element("a", item.event || "–");
    link.href = "/deliveries/" + encodeURIComponent(item.id);
    if (item.action) link.append(element("span", "." + item.action, "muted"));
    const event = element("td");
    event.append(link);
    if (item.replay_of) event.append(" ", element("span", "replay", "tag"));
    row.append(event);
    row.append(element("td", item.repository || "–", "opt repo"));
    const delivery = element("td", item.delivery ? null : "–", "opt mono");
    if (item.delivery) {
      const clip = element("span", item.delivery, "clip");
      clip.title = item.delivery;
      delivery.append(clip);
    }
    row.append(delivery);
    const outcome = element("td");
    outcome.append(element("span", item.status, "badge s-" + item.status));
    if (item.reason) {
      const reason = element("span", item.reason, "muted reason");
      reason.title = item.reason;
      outcome.append(" ", reason);
    }
    row.append(outcome);
    row.append(element("td", item.hooks.join(", ") || "–", "opt"));
    return row;
  }

  function liveDeliveries(table) {
    const body = table.tBodies[0];
    const badge = document.querySelector(".live");
    if (badge) badge.hidden = false;

    async function poll() {
      const newest = body.querySelector("tr[data-id]");
      const query = new URLSearchParams(table.dataset.live);
      query.set("limit", String(PAGE));
      if (newest) query.set("after", newest.dataset.id);
      const answer = await fetch("/api/deliveries?" + query, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (answer.status === 401) {
        location.reload();
        return;
      }
      if (!answer.ok) return;
      const items = await answer.json();
      if (newest && items.length >= PAGE) {
        location.reload();
        return;
      }
      if (items.length) {
        for (const empty of body.querySelectorAll("tr.empty")) empty.remove();
        for (const item of items.reverse()) body.prepend(deliveryRow(item));
        localize(body);
      }
    }

    async function loop() {
      if (!document.hidden) {
        try {
          await poll();
        } catch (error) {
          // The server may be restarting: try again at the next tick.
        }
      }
      setTimeout(loop, POLL_MS);
    }
    setTimeout(loop, POLL_MS);
  }

  function jobEnded(end) {
    const status = document.getElementById("job-status");
    if (status) {
      status.textContent = end.status.replace("_", " ");
      status.className = "badge s-" + end.status;
    }
    const exit = document.getElementById("job-exit");
    if (exit) exit.textContent = end.exit_code === null ? "–" : String(end.exit_code);
    const error = document.getElementById("job-error");
    if (error) error.textContent = end.error || "–";
    const finished = document.getElementById("job-finished");
    if (finished && end.finished_at) {
      const time = element("time", end.finished_at);
      time.dateTime = end.finished_at;
      finished.replaceChildren(time);
      localize(finished);
    }
    const refresh = document.getElementById("refresh");
    if (refresh) refresh.hidden = true;
    const cancel = document.getElementById("cancel");
    if (cancel) cancel.hidden = true;
    const retry = document.getElementById("retry");
    if (retry) retry.hidden = false;
    document.body.dataset.jobEnded = end.status;
  }

  function streamLog(log) {
    const source = new EventSource(log.dataset.stream);
    source.addEventListener("log", (event) => {
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(JSON.parse(event.data));
      if (atBottom) log.scrollTop = log.scrollHeight;
    });
    source.addEventListener("end", (event) => {
      source.close();
      jobEnded(JSON.parse(event.data));
    });
  }

  localize(document);
  const table = document.querySelector("table[data-live]");
  if (table) liveDeliveries(table);
  const log = document.querySelector("pre[data-stream]");
  if (log) streamLog(log);
})();
