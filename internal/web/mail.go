package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// Webmail at /mail/: server-rendered pages, the same sign-in as the
// settings page. A folder's list is paged on the server from the
// mailbox's UID runs (store.SelectState: no message row is read to count
// or to find a page) and the index entries of one page, so a 100k-message
// folder costs what a 50-message one does.

// mailPageSize is how many messages a list page shows.
const mailPageSize = 50

// mailRow is one line of a message list.
type mailRow struct {
	UID                    store.UID
	From, Subject, Date    string
	Seen, Flagged, Replied bool
	Size                   string
}

// folderView is a folder of the folder list.
type folderView struct {
	ID       store.MailboxID
	Name     string
	Unseen   int
	Messages int
	Current  bool
}

// mailPage is what the webmail templates see (beside page).
type mailPage struct {
	Folders    []folderView
	Folder     folderView
	Rows       []mailRow
	Page, Last int
	Query      string
	Msg        *msgView     // the message being read (mailread.go)
	Compose    *composeView // the compose form (compose.go)
	CanCompose bool         // Options.Submit is set
	// Live is the URL of the folder's server-sent events (events.go).
	Live string
	// Notice is a message key shown above the list (listNotices).
	Notice string
}

// listNotices are the notices a list page shows for its ?n= (after
// sending: composesend.go); any other value shows none.
var listNotices = map[string]string{
	"sent":    "mail_sent",
	"unsaved": "mail_sent_unsaved",
}

func (s *server) mailStore() (store.Mail, bool) {
	m, ok := s.opt.Store.(store.Mail)
	return m, ok
}

// mailSession is the webmail's guard: a signed-in session and its
// account, or it has answered (to the sign-in page).
func (s *server) mailSession(w http.ResponseWriter, r *http.Request) (*session, store.Account, store.Mail, bool) {
	ms, ok := s.mailStore()
	if !ok {
		http.NotFound(w, r)
		return nil, store.Account{}, nil, false
	}
	id, sess, ok := s.currentSession(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil, store.Account{}, nil, false
	}
	acct, ok := s.account(w, r, id, sess)
	return sess, acct, ms, ok
}

// folders lists the account's folders with their counts, INBOX first.
func (s *server) folders(r *http.Request, ms store.Mail, acct store.AccountID, cur store.MailboxID) ([]folderView, error) {
	boxes, err := ms.Mailboxes(r.Context(), acct)
	if err != nil {
		return nil, err
	}
	out := make([]folderView, 0, len(boxes))
	for _, b := range boxes {
		f := folderView{ID: b.ID, Name: b.Name, Unseen: b.Unseen, Messages: b.Messages, Current: b.ID == cur}
		if b.Name == "INBOX" {
			out = append([]folderView{f}, out...)
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// mailIndex redirects /mail/ to the inbox.
func (s *server) mailIndex(w http.ResponseWriter, r *http.Request) {
	_, acct, ms, ok := s.mailSession(w, r)
	if !ok {
		return
	}
	in, err := ms.Mailbox(r.Context(), acct.ID, "INBOX")
	if err != nil {
		s.mailError(w, r, err)
		return
	}
	http.Redirect(w, r, "/mail/"+strconv.FormatInt(int64(in.ID), 10), http.StatusSeeOther)
}

func (s *server) mailError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	s.log.Error("webmail", "path", r.URL.Path, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// pathMailbox parses {box} of the path.
func pathMailbox(r *http.Request) (store.MailboxID, bool) {
	n, err := strconv.ParseInt(r.PathValue("box"), 10, 64)
	return store.MailboxID(n), err == nil && n > 0
}

// mailList shows a folder: the folder list and one page of messages,
// newest first; ?q= searches sender, recipients, subject and body
// (search.go).
func (s *server) mailList(w http.ResponseWriter, r *http.Request) {
	sess, acct, ms, ok := s.mailSession(w, r)
	if !ok {
		return
	}
	box, ok := pathMailbox(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	mb, err := ms.MailboxByID(ctx, acct.ID, box)
	if err != nil {
		s.mailError(w, r, err)
		return
	}
	mp := &mailPage{Query: strings.TrimSpace(r.URL.Query().Get("q")), Notice: listNotices[r.URL.Query().Get("n")]}
	if len(mp.Query) > 200 {
		mp.Query = mp.Query[:200]
	}
	mp.Page, _ = strconv.Atoi(r.URL.Query().Get("p"))
	mp.Page = max(mp.Page, 0)
	var uids store.UIDSet
	if mp.Query != "" {
		uids, err = searchMail(r, ms, s.textIndexOf(), acct.ID, box, mp.Query)
	} else {
		var st store.MailboxState
		st, err = store.SelectState(ctx, ms, acct.ID, box)
		uids = st.UIDs
	}
	if err == nil {
		mp.Folders, err = s.folders(r, ms, acct.ID, box)
	}
	var pageUIDs store.UIDSet
	if err == nil {
		var total int
		pageUIDs, total = pageOf(uids, mp.Page, mailPageSize)
		mp.Last = max((total-1)/mailPageSize, 0)
		mp.Rows, err = listRows(r, ms, acct.ID, box, pageUIDs)
	}
	if err != nil {
		s.mailError(w, r, err)
		return
	}
	mp.Folder = folderView{ID: mb.ID, Name: mb.Name, Unseen: mb.Unseen, Messages: mb.Messages}
	mp.Live = s.liveURL(box)
	s.renderMail(w, r, http.StatusOK, "mail", sess, acct, mp)
}

// pageOf returns the UIDs of page n (0 = newest) of size per, walking the
// runs from the top, and how many UIDs there are.
func pageOf(uids store.UIDSet, n, per int) (store.UIDSet, int) {
	total := 0
	for _, r := range uids {
		total += int(r.Hi-r.Lo) + 1
	}
	skip, want := n*per, per
	var out store.UIDSet
	for i := len(uids) - 1; i >= 0 && want > 0; i-- {
		lo, hi := uids[i].Lo, uids[i].Hi
		size := int(hi-lo) + 1
		if skip >= size {
			skip -= size
			continue
		}
		hi -= store.UID(skip)
		skip = 0
		take := min(want, int(hi-lo)+1)
		out = append(store.UIDSet{{Lo: hi - store.UID(take) + 1, Hi: hi}}, out...)
		want -= take
	}
	return out, total
}

// listRows reads the index entries of uids, newest first.
func listRows(r *http.Request, ms store.Mail, acct store.AccountID, box store.MailboxID, uids store.UIDSet) ([]mailRow, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	var rows []mailRow
	var dec message.EnvelopeDecoder
	err := ms.ListMessages(r.Context(), acct, box, store.ListOptions{UIDs: uids, WithInfo: true}, func(m *store.Message) error {
		row := mailRow{UID: m.UID, Seen: m.Flags.System&store.FlagSeen != 0, Flagged: m.Flags.System&store.FlagFlagged != 0,
			Replied: m.Flags.System&store.FlagAnswered != 0, Date: shortDate(m.InternalDate), Size: sizeText(m.Size)}
		var env message.Envelope
		if err := dec.Decode(m.Info, &env); err == nil {
			row.Subject = strings.Clone(message.DecodeHeader(env.Subject))
			if len(env.From) > 0 {
				row.From = strings.Clone(displayAddress(env.From[0]))
			}
		}
		rows = append(rows, row)
		return nil
	})
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows, err
}

func displayAddress(a message.Address) string {
	if n := strings.TrimSpace(message.DecodeHeader(a.Name)); n != "" {
		return n
	}
	return a.Mailbox + "@" + a.Host
}

func shortDate(t time.Time) string {
	t = t.Local()
	if time.Since(t) < 20*time.Hour {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02")
}

func sizeText(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return strconv.FormatInt(n>>10, 10) + " KB"
	default:
		return strconv.FormatInt(n>>20, 10) + " MB"
	}
}

// clip shortens s to n characters for a list line.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
