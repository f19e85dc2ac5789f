// The admin console (admin.go): every view and action goes through the
// JSON API (/api/v1/, docs/api.md) with the session cookie; state changes
// carry the session's CSRF token in X-CSRF-Token. Text from the server is
// only ever set as textContent, never parsed as HTML.
(function () {
  "use strict";
  var root = document.getElementById("admin");
  if (!root) { return; }
  var csrf = root.dataset.csrf;
  function t(k) { return root.dataset["t" + k.charAt(0).toUpperCase() + k.slice(1)] || k; }
  var msg = document.getElementById("adm-msg");

  function api(method, path, body) {
    var opt = { method: method, credentials: "same-origin", headers: {} };
    if (method !== "GET") { opt.headers["X-CSRF-Token"] = csrf; }
    if (body !== undefined) {
      opt.headers["Content-Type"] = "application/json";
      opt.body = JSON.stringify(body);
    }
    return fetch("/api/v1/" + path, opt).then(function (r) {
      if (r.status === 204) { return null; }
      return r.json().then(function (j) {
        if (!r.ok) { throw new Error(j.error || r.statusText); }
        return j;
      });
    });
  }
  function fail(e) { msg.textContent = e.message; msg.hidden = false; }
  function ok() { msg.hidden = true; }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function button(label, fn, cls) {
    var b = el("button", label, cls);
    b.type = "button";
    b.addEventListener("click", fn);
    return b;
  }
  // row appends a table row; cells are [label, content] where content is
  // text or a node (data-label makes the stacked card on phones).
  function row(tbody, cells) {
    var tr = el("tr");
    var heads = tbody.parentNode.querySelectorAll("thead th");
    cells.forEach(function (c, i) {
      var td = el("td");
      if (heads[i] && heads[i].textContent) { td.dataset.label = heads[i].textContent; }
      if (c instanceof Node) { td.appendChild(c); } else { td.textContent = c === null || c === undefined ? "" : String(c); }
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  }
  function fill(id, items, fn) {
    var tb = document.getElementById(id);
    tb.textContent = "";
    if (!items || items.length === 0) {
      var tr = el("tr"), td = el("td", t("none"));
      td.colSpan = 9;
      tr.appendChild(td);
      tb.appendChild(tr);
      return;
    }
    items.forEach(function (x) { fn(tb, x); });
  }
  function bytes(n) {
    if (n === null || n === undefined) { return "?"; }
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
  }
  function when(s) { return s ? s.replace("T", " ").replace("Z", " UTC") : t("never"); }
  function showSecret(label, value) {
    document.getElementById("adm-secret-label").textContent = label;
    document.getElementById("adm-secret-value").textContent = value;
    document.getElementById("adm-secret").hidden = false;
  }
  function actions(list) {
    var span = el("span", null, "adm-actions");
    list.forEach(function (b) { span.appendChild(b); span.appendChild(document.createTextNode(" ")); });
    return span;
  }
  function confirmed(fn) { return function () { if (window.confirm(t("confirm"))) { fn(); } }; }
  function enc(s) { return encodeURIComponent(s); }

  function loadHealth() {
    api("GET", "health").then(function (h) {
      var dl = document.getElementById("health-list");
      dl.textContent = "";
      function kv(k, v) { dl.appendChild(el("dt", k)); dl.appendChild(el("dd", v)); }
      h.listeners.forEach(function (l) { kv(l.name, l.addr); });
      if (h.cert_not_after) { kv("TLS", when(h.cert_not_after) + " (" + h.cert_days_left + " d)"); }
      if (h.disk_free_bytes !== null) { kv("disk", bytes(h.disk_free_bytes) + " / " + bytes(h.disk_total_bytes)); }
      if (h.queue_size !== null) { kv("queue", h.queue_size + " (" + t("held") + " " + h.queue_held + ")"); }
      if (h.index_lag !== null) { kv("index", h.index_lag); }
      h.problems.forEach(function (p) { dl.appendChild(el("dd", p, "error")); });
    }).catch(fail);
  }

  // Accounts come a page at a time by keyset (docs/api.md): acctAfter is
  // the cursor of the page shown, acctBack those of the pages before it.
  var acctLimit = 50, acctAfter = "", acctBack = [], acctNext = null;
  function loadAccounts() {
    var q = document.getElementById("account-filter").value;
    api("GET", "accounts?after=" + enc(acctAfter) + "&limit=" + acctLimit + "&q=" + enc(q)).then(function (j) {
      fill("account-rows", j.accounts, function (tb, a) {
        var status = a.disabled ? t("disabled") : t("active");
        if (a.admin) { status += " · " + t("admin"); }
        var path = "accounts/" + enc(a.address);
        row(tb, [a.address, status, bytes(a.used_bytes), a.quota_bytes ? bytes(a.quota_bytes) : t("unlimited"), actions([
          button(a.disabled ? t("enable") : t("disable"), function () {
            api("PATCH", path, { disabled: !a.disabled }).then(loadAccounts).catch(fail);
          }),
          button(t("setquota"), function () {
            var v = window.prompt(t("quota"), a.quota_bytes ? Math.round(a.quota_bytes / 1048576) : 0);
            if (v === null) { return; }
            api("PATCH", path, { quota_bytes: Math.round(parseFloat(v) * 1048576) || 0 }).then(loadAccounts).catch(fail);
          }),
          button(t("reset"), confirmed(function () {
            api("POST", path + "/password", {}).then(function (r) { showSecret(t("newpass") + " " + r.address, r.password); }).catch(fail);
          })),
          button(t("apppass"), function () { loadAppPasswords(a.address); })
        ])]);
      });
      var first = acctBack.length * acctLimit;
      document.getElementById("account-page").textContent = (j.accounts.length ? first + 1 : first) + "–" + (first + j.accounts.length);
      acctNext = j.next;
      document.getElementById("account-prev").disabled = acctBack.length === 0;
      document.getElementById("account-next").disabled = acctNext === null;
    }).catch(fail);
  }
  function loadAppPasswords(addr) {
    api("GET", "accounts/" + enc(addr) + "/app-passwords").then(function (j) {
      var box = document.getElementById("apppass-box"), ul = document.getElementById("apppass-list");
      document.getElementById("apppass-title").textContent = t("apppass") + ": " + addr;
      ul.textContent = "";
      if (j.app_passwords.length === 0) { ul.appendChild(el("li", t("none"))); }
      j.app_passwords.forEach(function (p) {
        var li = el("li", p.name + " (" + when(p.last_used) + ") ");
        li.appendChild(button(t("revoke"), confirmed(function () {
          api("DELETE", "accounts/" + enc(addr) + "/app-passwords/" + enc(p.name)).then(function () { loadAppPasswords(addr); }).catch(fail);
        })));
        ul.appendChild(li);
      });
      box.hidden = false;
    }).catch(fail);
  }

  function loadDomains() {
    api("GET", "domains").then(function (j) {
      fill("domain-rows", j.domains, function (tb, d) {
        row(tb, [d.name, d.accounts, actions([
          button(t("records"), function () { showDNS(d.name, false); }),
          button(t("check"), function () { showDNS(d.name, true); })
        ])]);
      });
    }).catch(fail);
  }
  function showDNS(domain, check) {
    api("GET", "domains/" + enc(domain) + "/dns" + (check ? "/check" : "")).then(function (j) {
      document.getElementById("dns-title").textContent = domain;
      var list = check ? j.results : j.records.map(function (r) { return { record: r, status: "" }; });
      fill("dns-rows", list, function (tb, x) {
        var st = x.status;
        if (x.problem) { st += ": " + x.problem + (x.fix ? " " + x.fix : ""); }
        row(tb, [x.record.name, x.record.type, el("code", x.record.value), st]);
      });
      document.getElementById("dns-box").hidden = false;
    }).catch(fail);
  }

  function loadAliases() {
    api("GET", "aliases").then(function (j) {
      fill("alias-rows", j.aliases, function (tb, a) {
        row(tb, [a.address, a.targets.join(", "), button(t("delete"), confirmed(function () {
          api("DELETE", "aliases/" + enc(a.address)).then(loadAliases).catch(fail);
        }))]);
      });
    }).catch(fail);
  }

  function loadQueue() {
    api("GET", "queue").then(function (j) {
      fill("queue-rows", j.messages, function (tb, m) {
        var last = "";
        (m.rcpts || []).forEach(function (r) { if (r.diag) { last = r.diag; } });
        var path = "queue/" + enc(m.id);
        function act(a) { return function () { api("POST", path + "/" + a).then(loadQueue).catch(fail); }; }
        row(tb, [m.id, m.from || "<>", m.pending.join(", "), m.attempts + (m.held ? " · " + t("held") : ""), m.broken || last, actions([
          button(t("show"), function () {
            api("GET", path).then(function (s) {
              var pre = document.getElementById("queue-detail");
              pre.textContent = JSON.stringify(s, null, 2);
              pre.hidden = false;
            }).catch(fail);
          }),
          button(t("retry"), act("retry")),
          button(m.held ? t("release") : t("hold"), act(m.held ? "release" : "hold")),
          button(t("delete"), confirmed(function () { api("DELETE", path).then(loadQueue).catch(fail); }))
        ])]);
      });
    }).catch(fail);
  }

  function loadEvents() {
    api("GET", "events?limit=100").then(function (j) {
      fill("event-rows", j.events, function (tb, e) {
        var f = e.fields;
        row(tb, [when(e.time), f.event, f.from || f.user, f.to, [f.code, f.text].filter(Boolean).join(" ")]);
      });
    }).catch(fail);
  }

  function loadReports() {
    api("GET", "reports").then(function (j) {
      fill("report-rows", j.days, function (tb, d) {
        row(tb, [d.day, d.kind, d.reporter, d.domain, d.pass, d.fail]);
      });
    }).catch(fail);
  }

  function loadTokens() {
    api("GET", "tokens").then(function (j) {
      fill("token-rows", j.tokens, function (tb, k) {
        row(tb, [k.name, when(k.created), when(k.last_used), button(t("revoke"), confirmed(function () {
          api("DELETE", "tokens/" + k.id).then(loadTokens).catch(fail);
        }))]);
      });
    }).catch(fail);
  }

  function onSubmit(id, fn) {
    document.getElementById(id).addEventListener("submit", function (ev) {
      ev.preventDefault();
      fn(ev.target);
    });
  }
  onSubmit("account-form", function (f) {
    api("POST", "accounts", { address: f.address.value, password: f.password.value }).then(function (r) {
      ok();
      if (r.password) { showSecret(t("newpass") + " " + r.account.address, r.password); }
      f.reset();
      loadAccounts();
      loadDomains();
    }).catch(fail);
  });
  onSubmit("domain-form", function (f) {
    api("POST", "domains", { name: f.name.value }).then(function () { ok(); f.reset(); loadDomains(); }).catch(fail);
  });
  onSubmit("alias-form", function (f) {
    var targets = f.targets.value.split(/[,，\s]+/).filter(Boolean);
    api("PUT", "aliases/" + enc(f.address.value.trim()), { targets: targets }).then(function () { ok(); f.reset(); loadAliases(); }).catch(fail);
  });
  onSubmit("token-form", function (f) {
    api("POST", "tokens", { name: f.name.value }).then(function (r) {
      ok();
      showSecret(t("newtoken") + " " + r.name, r.token);
      f.reset();
      loadTokens();
    }).catch(fail);
  });
  document.getElementById("account-prev").textContent = t("prev");
  document.getElementById("account-next").textContent = t("next");
  document.getElementById("account-prev").addEventListener("click", function () {
    if (acctBack.length) { acctAfter = acctBack.pop(); loadAccounts(); }
  });
  document.getElementById("account-next").addEventListener("click", function () {
    if (acctNext !== null) { acctBack.push(acctAfter); acctAfter = acctNext; loadAccounts(); }
  });
  document.getElementById("account-filter").addEventListener("input", function () { acctAfter = ""; acctBack = []; loadAccounts(); });

  loadHealth();
  loadAccounts();
  loadDomains();
  loadAliases();
  loadQueue();
  loadEvents();
  loadReports();
  loadTokens();
}());
