package web

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"

	"github.com/youju/youju/internal/store"
)

// mailAct changes one message: read/unread, flag/unflag, delete (to
// Trash; expunge when already in Trash), move to another folder. A POST
// with the session's CSRF token, like every change.
func (s *server) mailAct(w http.ResponseWriter, r *http.Request) {
	_, sess, acct, ok := s.post(w, r)
	if !ok {
		return
	}
	ms, ok := s.mailStore()
	box, okBox := pathMailbox(r)
	uid, err := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	if !ok || !okBox || err != nil || uid == 0 {
		http.NotFound(w, r)
		return
	}
	_ = sess
	ctx := r.Context()
	set := store.UIDSet{{Lo: store.UID(uid), Hi: store.UID(uid)}}
	back := fmt.Sprintf("/mail/%d/%d", box, uid)
	flag := func(op store.FlagOp, f store.SysFlags) error {
		_, err := ms.StoreFlags(ctx, acct.ID, box, set, op, store.Flags{System: f}, 0)
		return err
	}
	switch r.PostForm.Get("op") {
	case "read":
		err = flag(store.FlagAdd, store.FlagSeen)
	case "unread":
		err, back = flag(store.FlagRemove, store.FlagSeen), fmt.Sprintf("/mail/%d", box)
	case "flag":
		err = flag(store.FlagAdd, store.FlagFlagged)
	case "unflag":
		err = flag(store.FlagRemove, store.FlagFlagged)
	case "delete":
		err, back = s.mailDelete(r, ms, acct.ID, box, set), fmt.Sprintf("/mail/%d", box)
	case "move":
		to, perr := strconv.ParseInt(r.PostForm.Get("to"), 10, 64)
		if perr != nil {
			http.Error(w, "bad folder", http.StatusBadRequest)
			return
		}
		_, err = ms.Move(ctx, acct.ID, box, set, store.MailboxID(to))
		back = fmt.Sprintf("/mail/%d", box)
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	if err != nil {
		s.mailError(w, r, err)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// mailDelete moves to Trash, or expunges in Trash (or without one).
func (s *server) mailDelete(r *http.Request, ms store.Mail, acct store.AccountID, box store.MailboxID, set store.UIDSet) error {
	ctx := r.Context()
	boxes, err := ms.Mailboxes(ctx, acct)
	if err != nil {
		return err
	}
	for _, b := range boxes {
		if b.SpecialUse == store.SpecialTrash && b.ID != box {
			_, err := ms.Move(ctx, acct, box, set, b.ID)
			return err
		}
	}
	if _, err := ms.StoreFlags(ctx, acct, box, set, store.FlagAdd, store.Flags{System: store.FlagDeleted}, 0); err != nil {
		return err
	}
	_, err = ms.Expunge(ctx, acct, box, set)
	return err
}

// renderMail renders a webmail page.
func (s *server) renderMail(w http.ResponseWriter, r *http.Request, status int, name string, sess *session, acct store.Account, mp *mailPage) {
	p := s.newPage(r)
	p.Address, p.CSRF, p.Mail = acct.Address, sess.csrf, mp
	mp.CanCompose = s.opt.Submit != nil
	if mp.Live == "" {
		// Every webmail page follows the changes: the folder counts,
		// and on the reading view whether its message is still there.
		mp.Live = s.liveURL(mp.Folder.ID)
	}
	var b bytes.Buffer
	if err := pages[name][p.Lang].ExecuteTemplate(&b, "layout", p); err != nil {
		s.log.Error("rendering a page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", mailCSP)
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
