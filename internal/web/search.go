package web

import (
	"net/http"
	"strings"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// webSearchBodyLimit bounds the decoded text of one message searched, as
// IMAP's BODY search does.
const webSearchBodyLimit = 4 << 20

// searchFields are what the search box looks in: IMAP's TEXT minus the
// header fields nobody searches from a list (RFC 9051 §6.4.4 keys
// FROM, TO, CC, SUBJECT, BODY).
var searchFields = []store.TextField{store.TextSubject, store.TextFrom, store.TextTo, store.TextCc, store.TextBody}

// searchMail finds the messages whose decoded From, To, Cc, Subject or
// body text contains q, case-insensitively, through the store's search
// path as IMAP SEARCH uses it: the text index (when the store has one)
// narrows to candidates, proving some matches outright, and each other
// candidate is checked on its decoded header fields and body text
// (message.BodyText: transfer encodings and charsets such as GBK undone,
// so Chinese matches whatever the sender's encoding).
func searchMail(r *http.Request, ms store.Mail, ti store.TextIndex, acct store.AccountID, box store.MailboxID, q string) (store.UIDSet, error) {
	ctx := r.Context()
	var cand, sure store.UIDSet
	narrowed := ti != nil
	for _, f := range searchFields {
		if !narrowed {
			break
		}
		m, ok, err := ti.TextCandidates(ctx, acct, box, f, q)
		if err != nil {
			return nil, err
		}
		if !ok {
			narrowed = false // this field cannot narrow: scan
			break
		}
		cand, sure = unionUIDs(cand, m.Candidates), unionUIDs(sure, m.Sure)
	}
	needle := strings.ToLower(q)
	query := store.Query{NeedInfo: true, Match: func(m *store.Message) (bool, error) {
		if inUIDs(sure, m.UID) {
			return true, nil
		}
		info, err := message.UnmarshalInfo(m.Info)
		if err != nil {
			return false, nil
		}
		for _, f := range []string{info.Subject, info.From, info.To, info.Cc} {
			if strings.Contains(strings.ToLower(f), needle) {
				return true, nil
			}
		}
		rd, err := ms.OpenMessageWith(ctx, acct, box, m.UID, store.OpenOptions{Retained: true})
		if err != nil {
			return false, nil // expunged meanwhile: not a match, not a failure
		}
		defer rd.Close()
		text, err := message.BodyText(rd, info, webSearchBodyLimit)
		return err == nil && strings.Contains(strings.ToLower(text), needle), nil
	}}
	if narrowed {
		if len(cand) == 0 {
			return nil, nil
		}
		query.UIDs = cand
	}
	uids, err := ms.Search(ctx, acct, box, query)
	var set store.UIDSet
	for _, u := range uids {
		set = set.AppendRange(u, u)
	}
	return set, err
}

// textIndexOf returns the store's text index, if it has one.
func (s *server) textIndexOf() store.TextIndex {
	ti, _ := s.opt.Store.(store.TextIndex)
	return ti
}

// unionUIDs merges two ascending sets.
func unionUIDs(a, b store.UIDSet) store.UIDSet {
	var out store.UIDSet
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var r store.UIDRange
		if j >= len(b) || (i < len(a) && a[i].Lo <= b[j].Lo) {
			r, i = a[i], i+1
		} else {
			r, j = b[j], j+1
		}
		if n := len(out); n > 0 && r.Lo <= out[n-1].Hi+1 {
			out[n-1].Hi = max(out[n-1].Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

func inUIDs(set store.UIDSet, u store.UID) bool {
	lo, hi := 0, len(set)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case set[m].Hi < u:
			lo = m + 1
		case set[m].Lo > u:
			hi = m
		default:
			return true
		}
	}
	return false
}
