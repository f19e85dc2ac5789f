package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAPIRequest sends arbitrary methods, paths and bodies to the admin
// API with a valid token: every answer is a JSON value or empty (204),
// never a 500 or a panic, whatever the input.
func FuzzAPIRequest(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"POST", "accounts", `{"address":"x@example.test"}`},
		{"POST", "accounts", `{"address":"x@example.test","quota_bytes":-5}`},
		{"PATCH", "accounts/bob@example.test", `{"disabled":true,"quota_bytes":1e30}`},
		{"PUT", "aliases/@example.test", `{"targets":["a@b","\r\n"]}`},
		{"POST", "domains", `{"name":"a b"}`},
		{"POST", "queue/..%2f/retry", ``},
		{"GET", "accounts?after=%00&limit=99999999999999999999", ``},
		{"DELETE", "tokens/9223372036854775808", ``},
		{"POST", "tokens", `{"name":"\u0000"}`},
		{"POST", "accounts/bob@example.test/password", `[]`},
	} {
		f.Add(s.method, s.path, []byte(s.body))
	}
	e := newAdminEnv(f)
	tok, _ := e.token(f, e.acct.ID, "fuzz")
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		switch method {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			return
		}
		if strings.ContainsAny(path, " \t\r\n#") {
			return
		}
		req, err := http.NewRequest(method, "http://127.0.0.1/api/v1/"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:1234"
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if w.Body.Len() > 0 && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: invalid JSON answer %q", method, path, w.Body)
		}
	})
}
