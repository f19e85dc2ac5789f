// Package migrate copies an installation from the embedded store (SQLite
// and segment files) to the shared one (PostgreSQL): domains, accounts
// with their passwords and app passwords, aliases, mailboxes with their
// UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, and every message with its UID,
// MODSEQ, flags and dates, so that IMAP clients see the same mailboxes
// and download nothing again (`youju migrate`, docs/migrate.md).
//
// A run is resumable: progress is kept per mailbox in a small file (the
// last UID copied), and the target's import calls skip what exists. A
// verification pass then compares both stores: counts, UIDVALIDITY,
// UIDNEXT, HIGHESTMODSEQ, every message's UID, MODSEQ, flags, dates and
// size, and the SHA-256 of every message's bytes.
package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/youju/youju/internal/fsutil"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
)

// Target is what the copy needs of the destination store
// (*postgres.Store has it).
type Target interface {
	store.Store
	ImportAccount(ctx context.Context, a store.Account) (store.Account, error)
	ImportAppPassword(ctx context.Context, p store.AppPassword) error
	ImportMailbox(ctx context.Context, acct store.AccountID, mb store.Mailbox) (store.Mailbox, error)
	ImportMessages(ctx context.Context, acct store.AccountID, mbox store.MailboxID, msgs []postgres.ImportedMessage) ([]int64, error)
	ImportTombstones(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uids store.UIDSet, modseq store.ModSeq) error
}

var _ Target = (*postgres.Store)(nil)

// Options configure a Copy.
type Options struct {
	Source store.Store
	Target Target
	// StateFile keeps the progress, for a resumed run ("" = none).
	StateFile string
	// Progress, if set, is told after every batch.
	Progress func(p Progress)
}

// Progress is how far a copy is.
type Progress struct {
	Messages, TotalMessages int
	Bytes                   int64
	Account, Mailbox        string
}

// Batches are cut at this many messages or bytes: one transaction each.
const (
	batchMessages = 200
	batchBytes    = 16 << 20
)

// state is the progress file: per account and mailbox (with its
// UIDVALIDITY, so that a recreated mailbox starts over) the last UID
// copied.
type state struct {
	Mailboxes map[string]uint32 `json:"mailboxes"` // "account\x00mailbox\x00uidvalidity" -> last UID
}

func key(acct, mbox string, uv uint32) string { return fmt.Sprintf("%s\x00%s\x00%d", acct, mbox, uv) }

// copier is one run.
type copier struct {
	opt  Options
	st   state
	prog Progress
	// blobs maps the source's blob keys (store.BlobKeys) to the target's
	// blobs, within this run: a blob COPY made several messages share is
	// written once.
	blobs map[int64]int64
}

// Copy copies everything of opt.Source into opt.Target.
func Copy(ctx context.Context, opt Options) error {
	c := &copier{opt: opt, st: state{Mailboxes: map[string]uint32{}}, blobs: map[int64]int64{}}
	if err := c.load(); err != nil {
		return err
	}
	src, dst := opt.Source, opt.Target
	doms, err := src.Domains(ctx)
	if err != nil {
		return err
	}
	for _, d := range doms {
		if err := dst.AddDomain(ctx, d.Name); err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("domain %s: %w", d.Name, err)
		}
	}
	aliases, err := src.ListAliases(ctx)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		if err := dst.SetAlias(ctx, a); err != nil {
			return fmt.Errorf("alias %s: %w", a.Address, err)
		}
	}
	accts, err := src.ListAccounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		boxes, err := src.Mailboxes(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, mb := range boxes {
			c.prog.TotalMessages += mb.Messages
		}
	}
	for _, a := range accts {
		if err := c.account(ctx, a); err != nil {
			return fmt.Errorf("account %s: %w", a.Address, err)
		}
	}
	return nil
}

func (c *copier) load() error {
	if c.opt.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.opt.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &c.st); err != nil {
		return fmt.Errorf("migrate: progress file %s: %w (delete it to start over)", c.opt.StateFile, err)
	}
	if c.st.Mailboxes == nil {
		c.st.Mailboxes = map[string]uint32{}
	}
	return nil
}

func (c *copier) save() error {
	if c.opt.StateFile == "" {
		return nil
	}
	b, err := json.Marshal(c.st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.opt.StateFile), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(c.opt.StateFile, b, 0o600)
}

func (c *copier) account(ctx context.Context, a store.Account) error {
	src, dst := c.opt.Source, c.opt.Target
	ta, err := dst.ImportAccount(ctx, a)
	if err != nil {
		return err
	}
	apps, err := src.AppPasswords(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, p := range apps {
		p.AccountID = ta.ID
		if err := dst.ImportAppPassword(ctx, p); err != nil {
			return fmt.Errorf("app password %s: %w", p.Name, err)
		}
	}
	boxes, err := src.Mailboxes(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, mb := range boxes {
		if err := c.mailbox(ctx, a, ta, mb); err != nil {
			return fmt.Errorf("mailbox %s: %w", mb.Name, err)
		}
	}
	return nil
}

// mailbox copies the messages of mb above the last UID the progress file
// has for it, a batch per transaction.
func (c *copier) mailbox(ctx context.Context, a, ta store.Account, mb store.Mailbox) error {
	src, dst := c.opt.Source, c.opt.Target
	tm, err := dst.ImportMailbox(ctx, ta.ID, mb)
	if err != nil {
		return err
	}
	k := key(a.Address, mb.Name, mb.UIDValidity)
	last := c.st.Mailboxes[k]
	c.prog.Account, c.prog.Mailbox = a.Address, mb.Name
	var batch []postgres.ImportedMessage
	var srcBlobs []int64 // the source key of each of batch, 0 = none
	var size int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ids, err := dst.ImportMessages(ctx, ta.ID, tm.ID, batch)
		if err != nil {
			return err
		}
		for i, id := range ids {
			if id > 0 && srcBlobs[i] != 0 {
				c.blobs[srcBlobs[i]] = id
			}
		}
		c.st.Mailboxes[k] = uint32(batch[len(batch)-1].UID)
		c.prog.Messages += len(batch)
		c.prog.Bytes += size
		batch, srcBlobs, size = batch[:0], srcBlobs[:0], 0
		if c.opt.Progress != nil {
			c.opt.Progress(c.prog)
		}
		return c.save()
	}
	// The expunged UIDs first: QRESYNC clients learn of them after the
	// move as before it.
	ch, err := src.Changes(ctx, a.ID, mb.ID, 0)
	if err != nil {
		return err
	}
	if err := dst.ImportTombstones(ctx, ta.ID, tm.ID, ch.Vanished, mb.HighestModSeq); err != nil {
		return err
	}
	for {
		page, err := listPage(ctx, src, a.ID, mb.ID, store.UID(last)+1)
		if err != nil || len(page) == 0 {
			if err == nil {
				err = flush()
			}
			return err
		}
		keys, err := blobKeys(ctx, src, a.ID, mb.ID, page)
		if err != nil {
			return err
		}
		for _, m := range page {
			im := postgres.ImportedMessage{Message: *m}
			sk, shared := keys[m.UID]
			if b, ok := c.blobs[sk]; ok && shared {
				im.Blob = b
			} else {
				data, err := readMessage(ctx, src, a.ID, mb.ID, m.UID)
				if err != nil {
					return err
				}
				im.Data = data
				size += int64(len(data))
			}
			batch = append(batch, im)
			srcBlobs = append(srcBlobs, sk)
			if len(batch) >= batchMessages || size >= batchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		last = uint32(page[len(page)-1].UID)
		if last == ^uint32(0) {
			return flush()
		}
	}
}

// blobKeys returns the source's blob keys of page (none if the source
// does not share blobs between messages: every message is then copied).
func blobKeys(ctx context.Context, s store.Store, acct store.AccountID, mbox store.MailboxID, page []*store.Message) (map[store.UID]int64, error) {
	bk, ok := store.As[store.BlobKeys](s)
	if !ok || len(page) == 0 {
		return nil, nil
	}
	return bk.BlobKeys(ctx, acct, mbox, page[0].UID, page[len(page)-1].UID)
}

// errPage ends a listing when a page is full.
var errPage = errors.New("page full")

// listPage returns up to batchMessages index rows of mbox from UID from
// on: the bytes are read between listings, never inside one (a listing
// holds a read snapshot of the source).
func listPage(ctx context.Context, s store.Store, acct store.AccountID, mbox store.MailboxID, from store.UID) ([]*store.Message, error) {
	var out []*store.Message
	uids := store.UIDSet{}.AppendRange(from, store.UID(^uint32(0)))
	err := s.ListMessages(ctx, acct, mbox, store.ListOptions{UIDs: uids, WithInfo: true}, func(m *store.Message) error {
		c := *m
		c.Flags.Keywords = append([]string(nil), m.Flags.Keywords...)
		c.Info = append([]byte(nil), m.Info...)
		out = append(out, &c)
		if len(out) >= batchMessages {
			return errPage
		}
		return nil
	})
	if errors.Is(err, errPage) {
		err = nil
	}
	return out, err
}

func readMessage(ctx context.Context, s store.Store, acct store.AccountID, mbox store.MailboxID, uid store.UID) ([]byte, error) {
	r, err := s.OpenMessage(ctx, acct, mbox, uid)
	if err != nil {
		return nil, fmt.Errorf("reading UID %d: %w", uid, err)
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, r.Size()))
}

// Elapsed formats a duration for the progress line.
func Elapsed(d time.Duration) string { return d.Round(time.Second).String() }
