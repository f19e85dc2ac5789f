// Webmail behaviour (mail.go, compose.go, events.go): keyboard shortcuts,
// live updates over server-sent events, address completion and draft
// autosave. Served from our origin under a CSP without inline script;
// it never puts mail content into the page as markup of its own making:
// new list rows come as our server's HTML, parsed inert by DOMParser.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };

  // ---- keyboard shortcuts (documented in the page's dialog, "?") ----
  var rows = function () { return document.querySelectorAll("#messages li"); };
  var sel = -1;
  function select(i) {
    var rs = rows();
    if (!rs.length) { return; }
    sel = Math.max(0, Math.min(rs.length - 1, i));
    for (var j = 0; j < rs.length; j++) { rs[j].classList.toggle("sel", j === sel); }
    var a = rs[sel].querySelector("a");
    if (a) { a.focus(); }
  }
  function go(id) { var a = $(id); if (a) { a.click(); return true; } return false; }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) { return; }
    var k = e.key, done = true;
    switch (k) {
      case "j": select(sel + 1); break;
      case "k": select(sel - 1); break;
      case "o": case "Enter":
        var rs = rows();
        if (sel >= 0 && rs[sel]) { rs[sel].querySelector("a").click(); } else { done = false; }
        break;
      case "c": location.href = "/mail/compose"; break;
      case "r": done = go("reply"); break;
      case "a": done = go("reply-all"); break;
      case "f": done = go("forward"); break;
      case "e": case "#": done = go("act-delete"); break;
      case "s": done = go("act-flag"); break;
      case "u": done = go("back"); break;
      case "/": var q = $("q"); if (q) { q.focus(); } else { done = false; } break;
      case "?": var d = $("shortcuts"); if (d && d.showModal) { if (d.open) { d.close(); } else { d.showModal(); } } break;
      default: done = false;
    }
    if (done) { e.preventDefault(); }
  });

  // ---- live updates (every page with the folder tree) ----
  // The list page fetches itself again (new rows, counts); other pages
  // ask /mail/live for the folder tree and, on the reading view, whether
  // its message is still there.
  var nav = document.querySelector("nav.folders");
  var list = $("list");
  function replaceKids(el, from) {
    if (el && from) { el.replaceChildren.apply(el, Array.prototype.slice.call(from.childNodes)); }
  }
  function refreshList() {
    return fetch(location.href, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      // Only the first page of the plain list gets new rows; other
      // views just update the folder counts.
      if (list.dataset.page === "0" && !list.dataset.query) {
        replaceKids(list, doc.getElementById("list"));
        sel = -1;
      }
      replaceKids(nav, doc.querySelector("nav.folders"));
    });
  }
  function refreshState() {
    var u = "/mail/live?box=" + encodeURIComponent(nav.dataset.box || "0");
    if (nav.dataset.uid) { u += "&uid=" + encodeURIComponent(nav.dataset.uid); }
    return fetch(u, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    }).then(function (st) {
      var doc = new DOMParser().parseFromString(st.folders, "text/html");
      replaceKids(nav, doc.querySelector("nav.folders"));
      if (st.gone) {
        var g = $("msg-gone"), a = $("actions");
        if (g) { g.hidden = false; }
        if (a) { a.hidden = true; }
      }
    });
  }
  if (nav && nav.dataset.live && window.EventSource) {
    var refreshing = false, again = false;
    var refresh = function () {
      if (refreshing) { again = true; return; }
      refreshing = true;
      (list ? refreshList() : refreshState()).catch(function () {}).then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
    };
    var es = new EventSource(nav.dataset.live);
    es.addEventListener("change", refresh);
    es.addEventListener("signedout", function () { es.close(); location.href = "/"; });
    window.addEventListener("pagehide", function () { es.close(); });
  }

  // ---- address completion ----
  var dl = $("addr-list");
  var timer = null;
  function complete(input) {
    var v = input.value, i = Math.max(v.lastIndexOf(","), v.lastIndexOf(";"), v.lastIndexOf("，"), v.lastIndexOf("；"));
    var head = i >= 0 ? v.slice(0, i + 1) + " " : "", q = v.slice(i + 1).trim();
    if (q.length < 1) { return; }
    fetch("/mail/addresses?q=" + encodeURIComponent(q), { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : [];
    }).then(function (list) {
      dl.replaceChildren();
      list.forEach(function (s) {
        var o = document.createElement("option");
        o.value = head + s;
        dl.appendChild(o);
      });
    }).catch(function () {});
  }
  ["to", "cc", "bcc"].forEach(function (id) {
    var input = $(id);
    if (!input || !dl) { return; }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { complete(input); }, 150);
    });
  });

  // ---- draft autosave: every 30 s while the form changed ----
  var form = $("compose-form");
  if (form) {
    var dirty = false, saving = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
    var save = function () {
      if (!dirty || saving) { return; }
      dirty = false;
      saving = true;
      var fd = new FormData(form);
      fd.delete("attach"); // files go with Send or Save draft, not every 30 s
      fd.set("op", "draft");
      fetch("/mail/compose", { method: "POST", body: fd, credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (res) {
          $("draft-ref").value = res.draft;
          var kept = $("kept");
          kept.replaceChildren();
          (res.attachments || []).forEach(function (a) {
            var l = document.createElement("label"), c = document.createElement("input");
            l.className = "kept";
            c.type = "checkbox"; c.name = "keep"; c.value = a.Section; c.checked = true;
            l.appendChild(c);
            l.appendChild(document.createTextNode(" " + (a.Name || a.Section) + " " + a.Size));
            kept.appendChild(l);
          });
          var n = $("autosaved");
          if (n) { n.hidden = false; }
        })
        .catch(function () { dirty = true; })
        .then(function () { saving = false; });
    };
    setInterval(save, 30000);
  }
})();
