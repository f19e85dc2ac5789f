// The import page (importpage.go): pre-fill the server from the
// provider table, and poll the job's progress while it runs.
(function () {
  "use strict";
  var sel = document.getElementById("import-provider");
  var host = document.getElementById("import-host");
  var port = document.getElementById("import-port");
  var remote = document.getElementById("import-remote-input");
  function fill(v) {
    if (!v) { return; }
    var i = v.lastIndexOf(":");
    host.value = v.slice(0, i);
    port.value = v.slice(i + 1);
  }
  if (sel) {
    sel.addEventListener("change", function () { fill(sel.value); });
  }
  if (remote) {
    remote.addEventListener("input", function () {
      var dom = remote.value.split("@")[1] || "";
      for (var i = 0; i < sel.options.length; i++) {
        if (sel.options[i].dataset.domain === dom.toLowerCase()) {
          sel.selectedIndex = i;
          fill(sel.value);
        }
      }
    });
  }
  var box = document.getElementById("import-status");
  var labels = { running: box.dataset.running, done: box.dataset.done, failed: box.dataset.failed };
  function set(id, v) { var e = document.getElementById(id); if (e) { e.textContent = v; } }
  function poll() {
    fetch("/settings/import/status", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.state === "none") { return; }
        box.hidden = false;
        box.dataset.state = s.state;
        set("import-state", labels[s.state] || s.state);
        set("import-remote", s.user + " @ " + s.host);
        set("import-read", s.read);
        set("import-imported", s.imported);
        set("import-dups", s.duplicates);
        var err = document.getElementById("import-error");
        err.hidden = !s.error;
        err.textContent = s.error || "";
        if (s.state === "running") { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (box && box.dataset.state === "running") { setTimeout(poll, 500); }
})();
