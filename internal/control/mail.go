package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/youju/youju/internal/importer"
	"github.com/youju/youju/internal/store"
)

// maxMailRequest bounds a mail call: one import batch (the importer sends
// at most 8 MiB of messages, or one larger message, base64 in the JSON).
const maxMailRequest = 96 << 20

// appendResult is a store.AppendResult with its error as text and kind.
type appendResult struct {
	UIDValidity uint32
	UIDs        []store.UID
	Err         string `json:",omitempty"`
	Kind        string `json:",omitempty"`
}

// mailMethods are the store.Mail calls an import makes while serve owns
// the store (see internal/importer.Target).
var mailMethods = map[string]func(ctx context.Context, m store.Mail, args []json.RawMessage) (any, error){
	"Mailboxes": func(ctx context.Context, m store.Mail, args []json.RawMessage) (any, error) {
		acct, err := arg[store.AccountID](args, 0)
		if err != nil {
			return nil, err
		}
		return m.Mailboxes(ctx, acct)
	},
	"CreateMailbox": func(ctx context.Context, m store.Mail, args []json.RawMessage) (any, error) {
		acct, err := arg[store.AccountID](args, 0)
		name, err2 := arg[string](args, 1)
		su, err3 := arg[string](args, 2)
		if err := errors.Join(err, err2, err3); err != nil {
			return nil, err
		}
		return m.CreateMailbox(ctx, acct, name, su)
	},
	"AppendMessages": func(ctx context.Context, m store.Mail, args []json.RawMessage) (any, error) {
		acct, err := arg[store.AccountID](args, 0)
		appends, err2 := arg[[]store.Append](args, 1)
		if err := errors.Join(err, err2); err != nil {
			return nil, err
		}
		res, err := m.AppendMessages(ctx, acct, appends)
		if err != nil {
			return nil, err
		}
		out := make([]appendResult, len(res))
		for i, r := range res {
			out[i] = appendResult{UIDValidity: r.UIDValidity, UIDs: r.UIDs}
			if r.Err != nil {
				out[i].Err, out[i].Kind = r.Err.Error(), kindOf(r.Err)
			}
		}
		return out, nil
	},
	"MessageList": func(ctx context.Context, m store.Mail, args []json.RawMessage) (any, error) {
		acct, err := arg[store.AccountID](args, 0)
		mbox, err2 := arg[store.MailboxID](args, 1)
		if err := errors.Join(err, err2); err != nil {
			return nil, err
		}
		out := []store.Message{}
		return out, m.ListMessages(ctx, acct, mbox, store.ListOptions{}, func(msg *store.Message) error {
			out = append(out, *msg)
			return nil
		})
	},
	"MessageBytes": func(ctx context.Context, m store.Mail, args []json.RawMessage) (any, error) {
		acct, err := arg[store.AccountID](args, 0)
		mbox, err2 := arg[store.MailboxID](args, 1)
		uid, err3 := arg[store.UID](args, 2)
		if err := errors.Join(err, err2, err3); err != nil {
			return nil, err
		}
		r, err := m.OpenMessage(ctx, acct, mbox, uid)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(io.LimitReader(r, maxMailRequest/2))
	},
	"Digests": func(ctx context.Context, m store.Mail, args []json.RawMessage) (any, error) {
		acct, err := arg[store.AccountID](args, 0)
		mbox, err2 := arg[store.MailboxID](args, 1)
		since, err3 := arg[store.UID](args, 2)
		if err := errors.Join(err, err2, err3); err != nil {
			return nil, err
		}
		return importer.Digests(ctx, m, acct, mbox, since)
	},
}

// mailSentinels add the mail errors to sentinels for the mail calls.
var mailSentinels = map[string]error{"too_large": store.ErrTooLarge}

func kindOf(err error) string {
	for k, s := range sentinels {
		if errors.Is(err, s) {
			return k
		}
	}
	for k, s := range mailSentinels {
		if errors.Is(err, s) {
			return k
		}
	}
	return ""
}

func errorOf(msg, kind string) error {
	if s, ok := sentinels[kind]; ok {
		return wrapped{s, msg}
	}
	if s, ok := mailSentinels[kind]; ok {
		return wrapped{s, msg}
	}
	return errors.New(msg)
}

// wrapped keeps a sentinel's identity and the server's text.
type wrapped struct {
	s   error
	msg string
}

func (w wrapped) Error() string { return w.msg }
func (w wrapped) Unwrap() error { return w.s }

// registerMail adds POST /mail/METHOD when the server's store is also a
// store.Mail (it is, in serve).
func registerMail(mux *http.ServeMux, accts store.Accounts, log *slog.Logger) {
	m, ok := accts.(store.Mail)
	if !ok {
		return
	}
	for name, fn := range mailMethods {
		mux.HandleFunc("POST /mail/"+name, func(w http.ResponseWriter, r *http.Request) {
			var req request
			if err := json.NewDecoder(io.LimitReader(r.Body, maxMailRequest)).Decode(&req); err != nil {
				http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
				return
			}
			result, err := fn(r.Context(), m, req.Args)
			var resp response
			if err != nil {
				resp.Err, resp.Kind = err.Error(), kindOf(err)
			} else if resp.Result, err = json.Marshal(result); err != nil {
				resp.Err = err.Error()
			}
			if resp.Err != "" || name != "AppendMessages" {
				log.Info("control", "call", "mail/"+name, "err", resp.Err)
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(resp)
		})
	}
}

var _ importer.Target = (*Client)(nil)

// Mailboxes, CreateMailbox, AppendMessages and Digests make the Client an
// importer.Target.
func (c *Client) Mailboxes(ctx context.Context, acct store.AccountID) (out []store.Mailbox, err error) {
	return out, c.call(ctx, "mail/Mailboxes", &out, acct)
}

func (c *Client) CreateMailbox(ctx context.Context, acct store.AccountID, name, su string) (out store.Mailbox, err error) {
	return out, c.call(ctx, "mail/CreateMailbox", &out, acct, name, su)
}

func (c *Client) AppendMessages(ctx context.Context, acct store.AccountID, appends []store.Append) ([]store.AppendResult, error) {
	var res []appendResult
	if err := c.call(ctx, "mail/AppendMessages", &res, acct, appends); err != nil {
		return nil, err
	}
	out := make([]store.AppendResult, len(res))
	for i, r := range res {
		out[i] = store.AppendResult{UIDValidity: r.UIDValidity, UIDs: r.UIDs}
		if r.Err != "" {
			out[i].Err = errorOf(r.Err, r.Kind)
		}
	}
	return out, nil
}

func (c *Client) Digests(ctx context.Context, acct store.AccountID, mbox store.MailboxID, since store.UID) (out []string, err error) {
	return out, c.call(ctx, "mail/Digests", &out, acct, mbox, since)
}

// MessageList and MessageBytes serve youju export while serve runs.
func (c *Client) MessageList(ctx context.Context, acct store.AccountID, mbox store.MailboxID) (out []store.Message, err error) {
	return out, c.call(ctx, "mail/MessageList", &out, acct, mbox)
}

func (c *Client) MessageBytes(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uid store.UID) (out []byte, err error) {
	return out, c.call(ctx, "mail/MessageBytes", &out, acct, mbox, uid)
}
