package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/importer"
	"github.com/youju/youju/internal/store"
)

// ExportSource is what an export reads of the store: a Local one, or the
// control socket's client while serve owns the store.
type ExportSource interface {
	Mailboxes(ctx context.Context, acct store.AccountID) ([]store.Mailbox, error)
	MessageList(ctx context.Context, acct store.AccountID, mbox store.MailboxID) ([]store.Message, error)
	MessageBytes(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uid store.UID) ([]byte, error)
}

// LocalExport is an ExportSource on a store.Mail of this process.
type LocalExport struct{ Mail store.Mail }

func (l LocalExport) Mailboxes(ctx context.Context, acct store.AccountID) ([]store.Mailbox, error) {
	return l.Mail.Mailboxes(ctx, acct)
}

func (l LocalExport) MessageList(ctx context.Context, acct store.AccountID, mbox store.MailboxID) ([]store.Message, error) {
	var out []store.Message
	err := l.Mail.ListMessages(ctx, acct, mbox, store.ListOptions{}, func(m *store.Message) error {
		out = append(out, *m)
		return nil
	})
	return out, err
}

func (l LocalExport) MessageBytes(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uid store.UID) ([]byte, error) {
	r, err := l.Mail.OpenMessage(ctx, acct, mbox, uid)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// ExportStats count an export.
type ExportStats struct {
	Mailboxes, Messages int
	Bytes               int64
}

// Export writes every mailbox of acct into dest, as mbox files
// (format "mbox": DEST/Name.mbox, mboxrd quoting, flags in Status,
// X-Status and X-Keywords as mutt and Dovecot read them) or as a
// Maildir++ (format "maildir": DEST is INBOX, ".A.B" folders in modified
// UTF-7, flags in the names, keywords in dovecot-keywords, INTERNALDATE
// as the mtime) — what importer reads back.
func Export(ctx context.Context, src ExportSource, acct store.AccountID, format, dest string) (ExportStats, error) {
	var st ExportStats
	if format != "mbox" && format != "maildir" {
		return st, fmt.Errorf("export: format is mbox or maildir, not %q", format)
	}
	boxes, err := src.Mailboxes(ctx, acct)
	if err != nil {
		return st, err
	}
	sort.Slice(boxes, func(i, j int) bool { return boxes[i].Name < boxes[j].Name })
	for _, b := range boxes {
		msgs, err := src.MessageList(ctx, acct, b.ID)
		if err != nil {
			return st, err
		}
		st.Mailboxes++
		if format == "mbox" {
			err = exportMbox(ctx, src, acct, b, msgs, dest, &st)
		} else {
			err = exportMaildir(ctx, src, acct, b, msgs, dest, &st)
		}
		if err != nil {
			return st, fmt.Errorf("export %s: %w", b.Name, err)
		}
	}
	return st, nil
}

func exportMbox(ctx context.Context, src ExportSource, acct store.AccountID, b store.Mailbox, msgs []store.Message, dest string, st *ExportStats) error {
	p := filepath.Join(dest, filepath.FromSlash(b.Name)+".mbox")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, m := range msgs {
		data, err := src.MessageBytes(ctx, acct, b.ID, m.UID)
		if err != nil {
			return err
		}
		var hdr bytes.Buffer
		status, xstatus := "O", ""
		if m.Flags.System&store.FlagSeen != 0 {
			status = "RO"
		}
		for _, x := range []struct {
			f store.SysFlags
			c string
		}{{store.FlagAnswered, "A"}, {store.FlagFlagged, "F"}, {store.FlagDeleted, "D"}, {store.FlagDraft, "T"}} {
			if m.Flags.System&x.f != 0 {
				xstatus += x.c
			}
		}
		fmt.Fprintf(&hdr, "Status: %s\r\n", status)
		if xstatus != "" {
			fmt.Fprintf(&hdr, "X-Status: %s\r\n", xstatus)
		}
		if len(m.Flags.Keywords) > 0 {
			fmt.Fprintf(&hdr, "X-Keywords: %s\r\n", strings.Join(m.Flags.Keywords, " "))
		}
		hdr.Write(data)
		if err := importer.WriteMboxRD(f, "MAILER-DAEMON", m.InternalDate, hdr.Bytes()); err != nil {
			return err
		}
		st.Messages++
		st.Bytes += int64(len(data))
	}
	return f.Sync()
}

func exportMaildir(ctx context.Context, src ExportSource, acct store.AccountID, b store.Mailbox, msgs []store.Message, dest string, st *ExportStats) error {
	dir := dest
	if !strings.EqualFold(b.Name, store.InboxName) {
		parts := strings.Split(b.Name, string(store.Delimiter))
		for i, p := range parts {
			parts[i] = strings.ReplaceAll(wire.EncodeMUTF7(p), ".", "_")
		}
		dir = filepath.Join(dest, "."+strings.Join(parts, "."))
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	letters := map[string]int{} // keyword → index in dovecot-keywords (a–z)
	var kwFile strings.Builder
	for _, m := range msgs {
		data, err := src.MessageBytes(ctx, acct, b.ID, m.UID)
		if err != nil {
			return err
		}
		info := ""
		for _, x := range []struct {
			f store.SysFlags
			c string
		}{{store.FlagDraft, "D"}, {store.FlagFlagged, "F"}, {store.FlagAnswered, "R"}, {store.FlagSeen, "S"}, {store.FlagDeleted, "T"}} {
			if m.Flags.System&x.f != 0 {
				info += x.c // maildir(5): flags in ASCII order
			}
		}
		var kl []byte
		for _, k := range m.Flags.Keywords {
			i, ok := letters[k]
			if !ok && len(letters) < 26 {
				i, ok = len(letters), true
				letters[k] = i
				fmt.Fprintf(&kwFile, "%d %s\n", i, k)
			}
			if ok {
				kl = append(kl, byte('a'+i))
			}
		}
		sort.Slice(kl, func(i, j int) bool { return kl[i] < kl[j] })
		name := fmt.Sprintf("%d.U%dV%d.youju,S=%d:2,%s%s", m.InternalDate.Unix(), m.UID, b.UIDValidity, len(data), info, kl)
		p := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
		os.Chtimes(p, m.InternalDate, m.InternalDate)
		st.Messages++
		st.Bytes += int64(len(data))
	}
	if kwFile.Len() > 0 {
		return os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte(kwFile.String()), 0o600)
	}
	return nil
}
