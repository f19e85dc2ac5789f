// Package web serves youju over HTTP(S): today a plain page with the client
// settings and a health check; autoconfig, autodiscover, Apple profiles and
// the settings page come with their issue. The admin listener (metrics) is
// separate, see AdminHandler.
package web

import (
	"html/template"
	"net/http"

	"github.com/youju/youju/internal/clientconf"
)

// Handler serves the public web part.
func Handler(hostname string, settings []clientconf.Entry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_ = indexPage.Execute(w, struct {
			Hostname string
			Settings []clientconf.Entry
		}{hostname, settings})
	})
	return mux
}

// AdminHandler serves the admin listener: Prometheus metrics and health.
func AdminHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Hostname}} — mail settings / 邮件设置</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>{{.Hostname}}</h1>
<p>Mail client settings / 邮件客户端设置. User name: your full e-mail address / 用户名：完整的邮箱地址.</p>
<table border="1" cellpadding="4">
<tr><th>Protocol</th><th>Server</th><th>Port</th><th>Security</th></tr>
{{range .Settings}}<tr><td>{{.Protocol}} ({{.Role}})</td><td>{{.Host}}</td><td>{{.Port}}</td><td>{{.Security}}</td></tr>
{{end}}</table>
</body></html>
`))
