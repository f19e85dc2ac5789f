package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// Target is what an import needs of the store: store.Mail's mailbox and
// append methods, and the digests of stored messages (to settle a batch a
// crash left unfinished). Local adapts a store opened in this process;
// the control socket's client is the other (while serve owns the store).
type Target interface {
	Mailboxes(ctx context.Context, acct store.AccountID) ([]store.Mailbox, error)
	CreateMailbox(ctx context.Context, acct store.AccountID, name, specialUse string) (store.Mailbox, error)
	AppendMessages(ctx context.Context, acct store.AccountID, appends []store.Append) ([]store.AppendResult, error)
	// Digests returns the SHA-256 (hex) of every message of mbox whose UID
	// is since or more.
	Digests(ctx context.Context, acct store.AccountID, mbox store.MailboxID, since store.UID) ([]string, error)
}

// Local is a Target on a store.Mail of this process.
type Local struct{ Mail store.Mail }

func (l Local) Mailboxes(ctx context.Context, acct store.AccountID) ([]store.Mailbox, error) {
	return l.Mail.Mailboxes(ctx, acct)
}

func (l Local) CreateMailbox(ctx context.Context, acct store.AccountID, name, su string) (store.Mailbox, error) {
	return l.Mail.CreateMailbox(ctx, acct, name, su)
}

func (l Local) AppendMessages(ctx context.Context, acct store.AccountID, a []store.Append) ([]store.AppendResult, error) {
	return l.Mail.AppendMessages(ctx, acct, a)
}

// Digests implements Target by reading every message from since on.
func (l Local) Digests(ctx context.Context, acct store.AccountID, mbox store.MailboxID, since store.UID) ([]string, error) {
	return Digests(ctx, l.Mail, acct, mbox, since)
}

// Digests returns the SHA-256 (hex) of the stored bytes of every message
// of mbox with UID >= since.
func Digests(ctx context.Context, m store.Mail, acct store.AccountID, mbox store.MailboxID, since store.UID) ([]string, error) {
	if since == 0 {
		since = 1
	}
	var uids []store.UID
	err := m.ListMessages(ctx, acct, mbox, store.ListOptions{UIDs: store.UIDSet{{Lo: since, Hi: math.MaxUint32}}}, func(msg *store.Message) error {
		if msg.UID >= since {
			uids = append(uids, msg.UID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(uids))
	for _, uid := range uids {
		r, err := m.OpenMessage(ctx, acct, mbox, uid)
		if errors.Is(err, store.ErrNotFound) {
			continue // expunged meanwhile
		}
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, hex.EncodeToString(h.Sum(nil)))
	}
	return out, nil
}

// ErrStore marks a failure of the store (or of the way to it) during an
// import: the IMAP source does not retry it, and the Importer refuses
// further work, since whether the batch was stored is only known at the
// next run (when the state settles it).
var ErrStore = errors.New("import: storing failed")

// Stats count what an import did.
type Stats struct {
	Read       int   // messages read from the source
	Imported   int   // stored
	Duplicates int   // skipped: imported before (state) or twice in the source
	Failed     int   // refused by the store (too large) or unreadable
	Skipped    int   // in folders that are views (Gmail's All Mail)
	Bytes      int64 // bytes stored
}

// Importer stores Messages into one account in batches.
type Importer struct {
	T       Target
	Account store.AccountID
	State   *State
	// BatchMessages and BatchBytes bound one AppendMessages call
	// (0 = 256 messages, 8 MiB; one larger message goes alone).
	BatchMessages int
	BatchBytes    int64
	// Progress, if set, is called after each batch.
	Progress func(Stats)
	// Dedupe also skips a message whose Message-ID, size and Date
	// match one imported before into any folder (dedupe.go): the same
	// mail under two Gmail labels, or in two exports of one mailbox.
	Dedupe bool

	stats   Stats
	failed  error                    // set once the outcome of a batch is unknown
	boxes   map[string]store.Mailbox // by our name, lower-cased
	special map[string]store.Mailbox // by special use
	cur     *batch
}

// batch is the pending messages of one mailbox.
type batch struct {
	box   store.Mailbox
	since store.UID
	msgs  []store.AppendMessage
	keys  []string
	ids   []string // id key of each message, "" without one (dedupe.go)
	bytes int64
}

// Stats returns the counts so far.
func (im *Importer) Stats() Stats { return im.stats }

// Add queues m; it is stored by a later Add or Flush.
func (im *Importer) Add(ctx context.Context, m Message) error {
	if im.failed != nil {
		return im.failed
	}
	im.stats.Read++
	f := MapFolder(m.Folder, m.SpecialUse)
	if f.Skip {
		im.stats.Skipped++
		return nil
	}
	box, err := im.mailbox(ctx, f)
	if err != nil {
		return err
	}
	data := m.Data
	if !message.IsCRLF(data) {
		data = message.NormalizeCRLF(data)
	}
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])
	if im.State.Has(box.Name, key) || im.queued(box.ID, key) {
		im.stats.Duplicates++
		return nil
	}
	id := IDKey(data)
	if im.Dedupe && id != "" && (im.State.HasID(id) || im.queuedID(id)) {
		im.stats.Duplicates++
		return nil
	}
	if im.cur != nil && im.cur.box.ID != box.ID {
		if err := im.Flush(ctx); err != nil {
			return err
		}
	}
	if im.cur == nil {
		im.cur = &batch{box: box, since: box.UIDNext}
	}
	var ks store.KeywordSet
	ks.Add(m.Flags.Keywords)
	flags := store.Flags{System: m.Flags.System, Keywords: ks.Sorted()}
	im.cur.msgs = append(im.cur.msgs, store.AppendMessage{Data: data, InternalDate: m.InternalDate, Flags: flags})
	im.cur.keys = append(im.cur.keys, key)
	im.cur.ids = append(im.cur.ids, id)
	im.cur.bytes += int64(len(data))
	maxN, maxB := im.BatchMessages, im.BatchBytes
	if maxN <= 0 {
		maxN = 256
	}
	if maxB <= 0 {
		maxB = 8 << 20
	}
	if len(im.cur.msgs) >= maxN || im.cur.bytes >= maxB {
		return im.Flush(ctx)
	}
	return nil
}

// queued reports whether key is in the pending batch of mailbox id.
func (im *Importer) queued(id store.MailboxID, key string) bool {
	if im.cur == nil || im.cur.box.ID != id {
		return false
	}
	for _, k := range im.cur.keys {
		if k == key {
			return true
		}
	}
	return false
}

// Flush stores the pending batch.
func (im *Importer) Flush(ctx context.Context) error {
	if im.failed != nil {
		return im.failed
	}
	b := im.cur
	im.cur = nil
	if b == nil || len(b.msgs) == 0 {
		return nil
	}
	err := im.store(ctx, b)
	if errors.Is(err, store.ErrTooLarge) && len(b.msgs) > 1 {
		// One message is over the limit: store the others one by one.
		for i := range b.msgs {
			one := &batch{box: b.box, since: b.since, msgs: b.msgs[i : i+1], keys: b.keys[i : i+1], ids: b.ids[i : i+1], bytes: int64(len(b.msgs[i].Data))}
			if err := im.store(ctx, one); errors.Is(err, store.ErrTooLarge) {
				im.stats.Failed++
			} else if err != nil {
				return err
			}
		}
		err = nil
	} else if errors.Is(err, store.ErrTooLarge) {
		im.stats.Failed++
		err = nil
	}
	if im.Progress != nil {
		im.Progress(im.stats)
	}
	return err
}

// store appends one batch as one all-or-none Append, recorded in the state.
func (im *Importer) store(ctx context.Context, b *batch) error {
	im.State.mu.Lock()
	defer im.State.mu.Unlock()
	if err := im.State.begin(b.box.ID, b.since, b.box.Name, b.keys, b.ids); err != nil {
		im.failed = fmt.Errorf("%w: %w", ErrStore, err)
		return im.failed
	}
	res, err := im.T.AppendMessages(ctx, im.Account, []store.Append{{Mailbox: b.box.ID, Messages: b.msgs}})
	if err == nil && len(res) != 1 {
		err = fmt.Errorf("import: %d results for one append", len(res))
	}
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		// The store says nothing of the batch was stored: record that.
		// (A transport failure leaves the batch open, to be settled
		// against the store at the next run.)
		if errors.Is(err, store.ErrTooLarge) || errors.Is(err, store.ErrQuotaExceeded) || errors.Is(err, store.ErrNotFound) {
			if serr := im.State.end(b.box.Name, b.keys, b.ids, false); serr != nil {
				im.failed = fmt.Errorf("%w: %w", ErrStore, serr)
				return im.failed
			}
			return fmt.Errorf("%w: into %s: %w", ErrStore, b.box.Name, err)
		}
		im.failed = fmt.Errorf("%w: into %s: %w", ErrStore, b.box.Name, err)
		return im.failed
	}
	if err := im.State.end(b.box.Name, b.keys, b.ids, true); err != nil {
		im.failed = fmt.Errorf("%w: %w", ErrStore, err)
		return im.failed
	}
	if n := len(res[0].UIDs); n > 0 {
		// UIDs only grow: later batches of this mailbox settle from here.
		next := res[0].UIDs[n-1] + 1
		box := im.boxes[strings.ToLower(b.box.Name)]
		box.UIDNext = next
		im.boxes[strings.ToLower(b.box.Name)] = box
	}
	im.stats.Imported += len(b.msgs)
	im.stats.Bytes += b.bytes
	return nil
}

// mailbox finds or creates our mailbox for f.
func (im *Importer) mailbox(ctx context.Context, f Folder) (store.Mailbox, error) {
	if im.boxes == nil {
		boxes, err := im.T.Mailboxes(ctx, im.Account)
		if err != nil {
			return store.Mailbox{}, err
		}
		im.boxes, im.special = map[string]store.Mailbox{}, map[string]store.Mailbox{}
		for _, b := range boxes {
			im.boxes[strings.ToLower(b.Name)] = b
			if b.SpecialUse != "" {
				im.special[b.SpecialUse] = b
			}
		}
	}
	if f.SpecialUse != "" {
		if b, ok := im.special[f.SpecialUse]; ok {
			return im.boxes[strings.ToLower(b.Name)], nil
		}
	}
	if b, ok := im.boxes[strings.ToLower(f.Name)]; ok {
		return b, nil
	}
	if strings.EqualFold(f.Name, store.InboxName) {
		return store.Mailbox{}, fmt.Errorf("import: the account has no INBOX")
	}
	// Parents first: "A/B" needs "A" (RFC 9051 §6.3.4 lets a server
	// create them, but we create them explicitly).
	parts := strings.Split(f.Name, string(store.Delimiter))
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], string(store.Delimiter))
		if _, ok := im.boxes[strings.ToLower(parent)]; !ok {
			if _, err := im.create(ctx, parent, ""); err != nil {
				return store.Mailbox{}, err
			}
		}
	}
	return im.create(ctx, f.Name, f.SpecialUse)
}

func (im *Importer) create(ctx context.Context, name, su string) (store.Mailbox, error) {
	b, err := im.T.CreateMailbox(ctx, im.Account, name, su)
	if errors.Is(err, store.ErrExists) {
		boxes, lerr := im.T.Mailboxes(ctx, im.Account)
		if lerr != nil {
			return store.Mailbox{}, lerr
		}
		for _, x := range boxes {
			if strings.EqualFold(x.Name, name) {
				b, err = x, nil
			}
		}
	}
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("creating mailbox %q: %w", name, err)
	}
	im.boxes[strings.ToLower(b.Name)] = b
	if b.SpecialUse != "" {
		im.special[b.SpecialUse] = b
	}
	return b, nil
}
