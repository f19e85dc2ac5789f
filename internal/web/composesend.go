package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/youju/youju/internal/store"
)

// send submits the message, saves it to Sent (\Seen), marks the original
// \Answered after a reply or $Forwarded after a forward, and deletes the
// draft it came from. If the submission refuses it, it is saved as a
// draft instead (the uploads would be lost otherwise) and the form shows
// the server's reply.
func (s *server) send(w http.ResponseWriter, r *http.Request, sess *session, acct store.Account, ms store.Mail, v *composeView, m *outMsg, rcpts []string) {
	ctx := r.Context()
	if len(rcpts) == 0 {
		v.Error = "compose_err_norcpt"
		s.renderCompose(w, r, http.StatusBadRequest, sess, acct, ms, v)
		return
	}
	msg, err := s.buildBytes(m)
	if err != nil {
		s.composeFailed(w, r, sess, acct, ms, v, err)
		return
	}
	if err := s.opt.Submit(ctx, acct, acct.Address, rcpts, msg); err != nil {
		s.log.Info("webmail: send refused", "account", acct.Address, "err", err)
		m.KeepBcc = true
		if d, derr := s.buildBytes(m); derr == nil {
			if ref, derr := s.storeDraft(r, ms, acct, v.Draft, d); derr == nil {
				v.Draft = ref
				v.Kept, _ = s.draftAttachments(r, ms, acct, ref)
			}
		}
		v.Error, v.Detail = "compose_err_send", err.Error()
		s.renderCompose(w, r, http.StatusBadGateway, sess, acct, ms, v)
		return
	}
	sent, saved := s.saveSent(r, ms, acct, msg)
	s.markOriginal(r, ms, acct.ID, v)
	if box, uid, ok := refOf(v.Draft); ok {
		s.dropMessage(r, ms, acct.ID, box, uid)
	}
	// The page after sending says what happened: sent (in Sent), or
	// sent but not saved to Sent, on the inbox when Sent could not be
	// found or made.
	notice := "?n=sent"
	if !saved {
		notice = "?n=unsaved"
	}
	if sent == 0 {
		in, err := ms.Mailbox(ctx, acct.ID, "INBOX")
		if err != nil {
			http.Redirect(w, r, "/mail/", http.StatusSeeOther)
			return
		}
		sent = in.ID
	}
	http.Redirect(w, r, "/mail/"+strconv.FormatInt(int64(sent), 10)+notice, http.StatusSeeOther)
}

// saveSent stores the message as submitted (no Bcc field) in Sent, read
// (RFC 6154 \Sent), and reports whether it did. The mail is gone out
// whatever happens here: a failed copy is logged for the operator and
// shown to the user (the send page's notice), who would otherwise look
// for it in Sent and not know whether it left.
func (s *server) saveSent(r *http.Request, ms store.Mail, acct store.Account, msg []byte) (store.MailboxID, bool) {
	ctx := r.Context()
	sent, err := specialBox(ctx, ms, acct.ID, store.SpecialSent, "Sent")
	if err == nil {
		_, err = appendTo(ctx, ms, acct.ID, sent, msg, store.FlagSeen, s.opt.Now())
	}
	if err != nil {
		s.log.Error("webmail: saving to Sent", "account", acct.Address, "err", err)
		return sent, false
	}
	return sent, true
}

// forwardedKeyword is the keyword a forwarded message gets, as \Answered
// marks a replied one: "$Forwarded" of the IANA IMAP keywords registry
// (RFC 5550 §5.9), which Thunderbird, Apple Mail and Outlook show.
const forwardedKeyword = "$Forwarded"

// markOriginal flags the message replied to \Answered, or the one
// forwarded $Forwarded. A failure is only logged: the mail is sent.
func (s *server) markOriginal(r *http.Request, ms store.Mail, acct store.AccountID, v *composeView) {
	box, uid, ok := refOf(v.Ref)
	if !ok {
		return
	}
	var f store.Flags
	switch v.Mode {
	case "reply", "all":
		f.System = store.FlagAnswered
	case "forward":
		f.Keywords = []string{forwardedKeyword}
	default:
		return
	}
	if _, err := ms.StoreFlags(r.Context(), acct, box, store.UIDSet{{Lo: uid, Hi: uid}}, store.FlagAdd, f, 0); err != nil {
		s.log.Warn("webmail: marking the original", "mode", v.Mode, "err", err)
	}
}

// saveDraft stores the form as a draft (\Draft, \Seen) in Drafts,
// replacing the previous version. A script's autosave (Accept:
// application/json) gets the new draft's reference; a form submit is
// sent back to the form.
func (s *server) saveDraft(w http.ResponseWriter, r *http.Request, sess *session, acct store.Account, ms store.Mail, v *composeView, m *outMsg) {
	m.KeepBcc = true
	msg, err := s.buildBytes(m)
	var ref string
	if err == nil {
		ref, err = s.storeDraft(r, ms, acct, v.Draft, msg)
	}
	if err != nil {
		if r.Header.Get("Accept") == "application/json" {
			http.Error(w, "draft not saved", http.StatusInternalServerError)
			return
		}
		s.composeFailed(w, r, sess, acct, ms, v, err)
		return
	}
	if r.Header.Get("Accept") == "application/json" {
		kept, _ := s.draftAttachments(r, ms, acct, ref)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{"draft": ref, "attachments": kept})
		return
	}
	http.Redirect(w, r, "/mail/compose?n=saved&draft="+ref, http.StatusSeeOther)
}

// storeDraft appends the draft, then removes the version it replaces.
func (s *server) storeDraft(r *http.Request, ms store.Mail, acct store.Account, old string, msg []byte) (string, error) {
	ctx := r.Context()
	box, err := specialBox(ctx, ms, acct.ID, store.SpecialDrafts, "Drafts")
	if err != nil {
		return "", err
	}
	uid, err := appendTo(ctx, ms, acct.ID, box, msg, store.FlagDraft|store.FlagSeen, s.opt.Now())
	if err != nil {
		return "", err
	}
	if ob, ou, ok := refOf(old); ok && ob == box {
		s.dropMessage(r, ms, acct.ID, ob, ou)
	}
	return refString(box, uid), nil
}

// dropMessage expunges an old draft; only a message flagged \Draft, so
// a forged reference cannot delete other mail.
func (s *server) dropMessage(r *http.Request, ms store.Mail, acct store.AccountID, box store.MailboxID, uid store.UID) {
	set := store.UIDSet{{Lo: uid, Hi: uid}}
	ids, err := ms.Search(r.Context(), acct, box, store.Query{UIDs: set, FlagsSet: store.FlagDraft})
	if err != nil || len(ids) == 0 {
		return
	}
	if _, err := ms.Remove(r.Context(), acct, box, set); err != nil {
		s.log.Warn("webmail: removing an old draft", "err", err)
	}
}

func (s *server) draftAttachments(r *http.Request, ms store.Mail, acct store.Account, ref string) ([]attachment, error) {
	box, uid, _ := refOf(ref)
	info, rd, err := loadMessage(r.Context(), ms, acct.ID, box, uid)
	if err != nil {
		return nil, err
	}
	rd.Close()
	return attachments(&info.Body, ""), nil
}

func (s *server) composeFailed(w http.ResponseWriter, r *http.Request, sess *session, acct store.Account, ms store.Mail, v *composeView, err error) {
	if errors.Is(err, errTooBig) {
		v.Error = "compose_err_large"
		s.renderCompose(w, r, http.StatusRequestEntityTooLarge, sess, acct, ms, v)
		return
	}
	s.mailError(w, r, err)
}

// uploadError answers a form that could not be read.
func (s *server) uploadError(w http.ResponseWriter, r *http.Request, sess *session, acct store.Account, ms store.Mail, err error) {
	v := &composeView{}
	switch {
	case errors.Is(err, errUploadCSRF):
		v.Error = "err_csrf"
		s.renderCompose(w, r, http.StatusForbidden, sess, acct, ms, v)
	case errors.Is(err, errUploadLarge):
		// The rest of the body is not read: the connection closes.
		v.Error = "compose_err_large"
		s.renderCompose(w, r, http.StatusRequestEntityTooLarge, sess, acct, ms, v)
	case errors.Is(err, errUploadForm):
		http.Error(w, "bad form", http.StatusBadRequest)
	default:
		s.mailError(w, r, err)
	}
}
