// The IOC console: keeps the countdowns to the deadlines running between page loads. The
// server renders each one from the gateway's clock (`data-remaining`, seconds); this script
// only counts down from there, once a minute.
"use strict";
(function () {
  var started = Date.now();
  function render(el, secs) {
    var mins = Math.ceil(Math.abs(secs) / 60);
    var h = Math.floor(mins / 60), m = mins % 60;
    var span = h > 0 ? h + " giờ " + m + " phút" : m + " phút";
    el.textContent = secs >= 0 ? "còn " + span : "quá hạn " + span;
    el.classList.toggle("overdue", secs < 0);
  }
  function tick() {
    var elapsed = Math.floor((Date.now() - started) / 1000);
    document.querySelectorAll("[data-remaining]").forEach(function (el) {
      var secs = parseInt(el.getAttribute("data-remaining"), 10);
      if (!isNaN(secs)) { render(el, secs - elapsed); }
    });
  }
  setInterval(tick, 60000);
})();
