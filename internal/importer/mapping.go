// Package importer brings mail from elsewhere into an account: mbox files,
// Maildir/Maildir++ trees (Dovecot, Courier). Every source yields Messages
// with their folder name in UTF-8 ('/'-separated), flags and INTERNALDATE;
// MapFolder turns a source folder into one of ours (one table for every
// source, so "Sent Messages", "已发送" and "[Gmail]/Sent Mail" all land in
// our Sent), and Importer stores them in batches through
// store.Mail.AppendMessages, skipping what a state file says was imported.
package importer

import (
	"strings"

	"github.com/youju/youju/internal/store"
)

// specialNames maps well-known folder names of other servers and providers
// (lower-cased) to our special-use attributes (RFC 6154 §2). The names are
// those of Dovecot, Courier, Exchange/Outlook, Apple Mail, Gmail, QQ Mail,
// 163/126 (NetEase) and Thunderbird.
var specialNames = map[string]string{
	"sent": store.SpecialSent, "sent messages": store.SpecialSent, "sent items": store.SpecialSent,
	"sent mail": store.SpecialSent, "sent-mail": store.SpecialSent, "已发送": store.SpecialSent,
	"已发送邮件": store.SpecialSent, "发件箱": store.SpecialSent, "寄件備份": store.SpecialSent,
	"[gmail]/sent mail": store.SpecialSent, "[google mail]/sent mail": store.SpecialSent,

	"drafts": store.SpecialDrafts, "draft": store.SpecialDrafts, "草稿箱": store.SpecialDrafts,
	"草稿": store.SpecialDrafts, "[gmail]/drafts": store.SpecialDrafts, "[google mail]/drafts": store.SpecialDrafts,

	"trash": store.SpecialTrash, "deleted messages": store.SpecialTrash, "deleted items": store.SpecialTrash,
	"deleted": store.SpecialTrash, "bin": store.SpecialTrash, "已删除": store.SpecialTrash,
	"已删除邮件": store.SpecialTrash, "[gmail]/trash": store.SpecialTrash, "[gmail]/bin": store.SpecialTrash,
	"[google mail]/trash": store.SpecialTrash, "[google mail]/bin": store.SpecialTrash,

	"junk": store.SpecialJunk, "spam": store.SpecialJunk, "junk e-mail": store.SpecialJunk,
	"junk email": store.SpecialJunk, "bulk mail": store.SpecialJunk, "垃圾邮件": store.SpecialJunk,
	"垃圾箱": store.SpecialJunk, "[gmail]/spam": store.SpecialJunk, "[google mail]/spam": store.SpecialJunk,

	"archive": store.SpecialArchive, "archives": store.SpecialArchive, "归档": store.SpecialArchive,
	"存档": store.SpecialArchive,
}

// inboxNames are other names of the inbox.
var inboxNames = map[string]bool{"inbox": true, "收件箱": true}

// skipNames are views, not folders: Gmail's "All Mail", "Important" and
// "Starred" show messages that are in other folders already (importing
// them would copy every message twice).
var skipNames = map[string]bool{
	"[gmail]/all mail": true, "[gmail]/important": true, "[gmail]/starred": true,
	"[google mail]/all mail": true, "[google mail]/important": true, "[google mail]/starred": true,
	"[gmail]": true, "[google mail]": true,
}

// Folder is where a source folder goes in our account.
type Folder struct {
	Name       string // our mailbox name ("INBOX", "Sent", "Work/2024")
	SpecialUse string // store.Special*, or "" for an ordinary folder
	Skip       bool   // a view of other folders (Gmail's All Mail): not imported
}

// MapFolder maps a source folder name (UTF-8, '/'-separated) to ours. The
// special-use attribute a remote server announced in LIST (RFC 6154), if
// any, wins over the name; \All and \Flagged are views and are skipped.
func MapFolder(name, specialUse string) Folder {
	name = strings.Trim(name, "/")
	switch strings.ToLower(specialUse) {
	case `\all`, `\flagged`, `\important`:
		return Folder{Name: name, Skip: true}
	case `\sent`, `\drafts`, `\trash`, `\junk`, `\archive`:
		su := ourSpecial(specialUse)
		return Folder{Name: defaultName(su), SpecialUse: su}
	}
	lower := strings.ToLower(name)
	if lower == "" || inboxNames[lower] {
		return Folder{Name: store.InboxName}
	}
	if skipNames[lower] {
		return Folder{Name: name, Skip: true}
	}
	// Courier and some Dovecot setups put every folder under "INBOX."
	// (Maildir++ namespace): "INBOX.Sent" is the Sent folder.
	key := lower
	if rest, ok := strings.CutPrefix(lower, "inbox/"); ok {
		key = rest
		if su, ok := specialNames[key]; ok {
			return Folder{Name: defaultName(su), SpecialUse: su}
		}
		return Folder{Name: name}
	}
	if su, ok := specialNames[key]; ok {
		return Folder{Name: defaultName(su), SpecialUse: su}
	}
	return Folder{Name: name}
}

// ourSpecial returns our spelling of a special-use attribute.
func ourSpecial(su string) string {
	for _, d := range store.DefaultMailboxes {
		if strings.EqualFold(d.SpecialUse, su) {
			return d.SpecialUse
		}
	}
	return ""
}

// defaultName is the name of our default mailbox with special use su.
func defaultName(su string) string {
	for _, d := range store.DefaultMailboxes {
		if d.SpecialUse == su {
			return d.Name
		}
	}
	return su
}
