// hpcflow dashboard: follow a running attempt's log by polling for the bytes after the
// last offset (no framework; the page works without it, showing the log's tail).
"use strict";
(function () {
  const pre = document.getElementById("log");
  if (!pre || pre.dataset.live !== "1") return;
  let offset = Number(pre.dataset.offset || 0);
  const url = pre.dataset.chunkUrl;
  const maxChars = 512 * 1024; // keep the page small however long the log grows
  async function poll() {
    try {
      const res = await fetch(url + "&offset=" + offset, { credentials: "same-origin" });
      if (!res.ok) return setTimeout(poll, 5000);
      const chunk = await res.json();
      if (chunk.text) {
        if (pre.textContent === "(no log yet)") pre.textContent = "";
        pre.textContent += chunk.text;
        if (pre.textContent.length > maxChars) pre.textContent = pre.textContent.slice(-maxChars);
        pre.scrollTop = pre.scrollHeight;
      }
      offset = chunk.end;
      if (chunk.end < chunk.size) return setTimeout(poll, 50); // more is waiting
      if (chunk.done) {
        const live = document.getElementById("log-live");
        if (live) live.textContent = "attempt " + chunk.status;
        return;
      }
    } catch (err) {
      // the server may be restarting: try again a little later
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 1000);
})();
