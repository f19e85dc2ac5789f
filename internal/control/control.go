// Package control lets the command line manage accounts while the server
// runs. The server owns the store (one writer, its caches, its
// notifications), so a second process must not open it; instead `serve`
// listens on a Unix socket in the data directory and the CLI sends it the
// store.Accounts calls. The socket is reachable only by the data
// directory's owner (the directory is 0700, the socket 0600).
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// SocketName is the control socket's name inside the data directory.
const SocketName = "control.sock"

// maxRequest bounds a request body (an account with its hash is < 1 KiB).
const maxRequest = 1 << 20

// request and response are the JSON of one call.
type request struct {
	Args []json.RawMessage `json:"args"`
}

type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Err    string          `json:"error,omitempty"`
	Kind   string          `json:"kind,omitempty"` // sentinel error name
}

// sentinels are the store errors that keep their identity across the socket.
var sentinels = map[string]error{
	"not_found":      store.ErrNotFound,
	"exists":         store.ErrExists,
	"invalid_name":   store.ErrInvalidName,
	"quota_exceeded": store.ErrQuotaExceeded,
}

// Handler serves the store.Accounts methods of accts: POST /METHOD with the
// arguments as a JSON array.
func Handler(accts store.Accounts, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	for name, m := range methods {
		mux.HandleFunc("POST /"+name, func(w http.ResponseWriter, r *http.Request) {
			var req request
			if err := json.NewDecoder(io.LimitReader(r.Body, maxRequest)).Decode(&req); err != nil {
				http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
				return
			}
			result, err := m(r.Context(), accts, req.Args)
			var resp response
			if err != nil {
				resp.Err = err.Error()
				for k, s := range sentinels {
					if errors.Is(err, s) {
						resp.Kind = k
					}
				}
			} else if resp.Result, err = json.Marshal(result); err != nil {
				resp.Err = err.Error()
			}
			log.Info("control", "call", name, "err", resp.Err)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(resp)
		})
	}
	registerMail(mux, accts, log)
	return mux
}

// Serve serves Handler on l until Shutdown of the returned server.
func Serve(l net.Listener, accts store.Accounts, log *slog.Logger) *http.Server {
	srv := &http.Server{Handler: Handler(accts, log), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go srv.Serve(l)
	return srv
}

// Client is a store.Accounts that calls a running server.
type Client struct {
	hc *http.Client
}

// Dial connects to the control socket at path; it fails at once if no
// server listens there.
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}, nil
}

// call invokes method with args and decodes the result into out (may be nil).
func (c *Client) call(ctx context.Context, method string, out any, args ...any) error {
	var req request
	for _, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		req.Args = append(req.Args, b)
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://youju/"+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	res, err := c.hc.Do(hr)
	if err != nil {
		return fmt.Errorf("control: %s: %w", method, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		return fmt.Errorf("control: %s: %s: %s", method, res.Status, bytes.TrimSpace(b))
	}
	var resp response
	limit := int64(maxRequest)
	if strings.HasPrefix(method, "mail/") {
		limit = maxMailRequest // messages, message lists (mail.go)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, limit)).Decode(&resp); err != nil {
		return fmt.Errorf("control: %s: %w", method, err)
	}
	if resp.Err != "" {
		if s, ok := sentinels[resp.Kind]; ok {
			return fmt.Errorf("%w (%s)", s, resp.Err)
		}
		return errorOf(resp.Err, resp.Kind)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(resp.Result, out)
}
