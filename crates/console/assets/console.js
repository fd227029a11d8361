// Berth console: the little script it has. Pages marked data-refresh reload themselves every few seconds
// while nobody is typing in a form, and <time> elements get the reader's local time as a tooltip.
(function () {
  "use strict";
  var body = document.body;
  var edited = false;
  document.addEventListener("input", function () { edited = true; });
  document.addEventListener("submit", function () { edited = true; });
  var seconds = parseInt(body.getAttribute("data-refresh") || "0", 10);
  if (seconds > 0) {
    window.setInterval(function () {
      var active = document.activeElement;
      var typing = active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA");
      if (!edited && !typing && document.visibilityState === "visible") {
        window.location.reload();
      }
    }, seconds * 1000);
  }
  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var at = new Date(times[i].getAttribute("datetime"));
    if (!isNaN(at.getTime())) { times[i].title = at.toLocaleString(); }
  }
})();
