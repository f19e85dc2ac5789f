package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"sort"
	"strings"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// Address completion for the compose form: the people the user wrote
// to, read from the recipients of the newest messages in Sent (so it is
// per account, works on every node of a shared store, and forgets
// nobody a restart would). A small JSON answer for the page's script.

const (
	completionScan = 500 // newest Sent messages looked at
	completionMax  = 10  // suggestions returned
)

func (s *server) addressCompletion(w http.ResponseWriter, r *http.Request) {
	_, acct, ms, ok := s.mailSession(w, r)
	if !ok {
		return
	}
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	if len(q) > 100 {
		q = q[:100]
	}
	out := []string{}
	if q != "" {
		var err error
		if out, err = s.knownRecipients(r, ms, acct, q); err != nil {
			s.mailError(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(out)
}

// knownRecipients returns up to completionMax "Name <address>" whose
// name or address contains q, the most often written to first.
func (s *server) knownRecipients(r *http.Request, ms store.Mail, acct store.Account, q string) ([]string, error) {
	out := []string{}
	sent, err := findSpecial(r.Context(), ms, acct.ID, store.SpecialSent)
	if err != nil || sent == 0 {
		return out, err
	}
	st, err := store.SelectState(r.Context(), ms, acct.ID, sent)
	if err != nil {
		return nil, err
	}
	uids, _ := pageOf(st.UIDs, 0, completionScan)
	type seen struct {
		name  string
		count int
	}
	known := map[string]*seen{}
	var dec message.EnvelopeDecoder
	err = ms.ListMessages(r.Context(), acct.ID, sent, store.ListOptions{UIDs: uids, WithInfo: true}, func(m *store.Message) error {
		var env message.Envelope
		if dec.Decode(m.Info, &env) != nil {
			return nil
		}
		for _, a := range append(append(env.To, env.Cc...), env.Bcc...) {
			if a.Mailbox == "" || a.Host == "" {
				continue
			}
			addr := strings.ToLower(a.Mailbox + "@" + a.Host)
			k := known[addr]
			if k == nil {
				k = &seen{}
				known[addr] = k
			}
			k.count++
			if n := strings.TrimSpace(message.DecodeHeader(a.Name)); n != "" {
				k.name = n
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var hits []string
	for addr, k := range known {
		if strings.Contains(addr, q) || strings.Contains(strings.ToLower(k.name), q) {
			hits = append(hits, addr)
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if ci, cj := known[hits[i]].count, known[hits[j]].count; ci != cj {
			return ci > cj
		}
		return hits[i] < hits[j]
	})
	for _, addr := range hits[:min(len(hits), completionMax)] {
		out = append(out, joinAddrs([]*mail.Address{{Name: known[addr].name, Address: addr}}))
	}
	return out, nil
}

// findSpecial finds the mailbox of a special use (0 if none).
func findSpecial(ctx context.Context, ms store.Mail, acct store.AccountID, use string) (store.MailboxID, error) {
	boxes, err := ms.Mailboxes(ctx, acct)
	if err != nil {
		return 0, err
	}
	for _, b := range boxes {
		if b.SpecialUse == use {
			return b.ID, nil
		}
	}
	return 0, nil
}
