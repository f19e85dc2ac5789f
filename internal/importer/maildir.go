package importer

import (
	"bufio"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/store"
)

// MaildirName is what a Maildir file name says about its message.
type MaildirName struct {
	Time  time.Time // the delivery time at the start of the name, if any
	Size  int64     // ",S=" (Dovecot, Courier), -1 if absent
	Flags store.SysFlags
	// Letters are the Dovecot keyword letters (a–z), each an index into
	// the folder's dovecot-keywords file.
	Letters []int
}

// ParseMaildirName reads a Maildir file name "TIME.ID.HOST,S=n,W=n:2,FLAGS"
// (maildir(5); Dovecot also accepts '!' or ';' as the info separator for
// file systems without ':'). Flags: P passed (no IMAP counterpart), R
// replied, S seen, T trashed, D draft, F flagged; a–z are Dovecot
// keywords; any other letter is ignored.
func ParseMaildirName(name string) MaildirName {
	n := MaildirName{Size: -1}
	base, info := name, ""
	for _, sep := range []string{":2,", "!2,", ";2,"} {
		if i := strings.LastIndex(name, sep); i >= 0 {
			base, info = name[:i], name[i+len(sep):]
			break
		}
	}
	if i := strings.IndexByte(base, '.'); i > 0 {
		if sec, err := strconv.ParseInt(base[:i], 10, 64); err == nil && sec > 0 && sec < 1<<40 {
			n.Time = time.Unix(sec, 0)
		}
	}
	for _, part := range strings.Split(base, ",")[1:] {
		if v, ok := strings.CutPrefix(part, "S="); ok {
			if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
				n.Size = s
			}
		}
	}
	for i := 0; i < len(info); i++ {
		switch c := info[i]; {
		case c == 'R':
			n.Flags |= store.FlagAnswered
		case c == 'S':
			n.Flags |= store.FlagSeen
		case c == 'T':
			n.Flags |= store.FlagDeleted
		case c == 'D':
			n.Flags |= store.FlagDraft
		case c == 'F':
			n.Flags |= store.FlagFlagged
		case c >= 'a' && c <= 'z':
			n.Letters = append(n.Letters, int(c-'a'))
		}
	}
	return n
}

// ReadDovecotKeywords reads a dovecot-keywords file: lines "INDEX NAME".
// A missing file is no keywords.
func ReadDovecotKeywords(dir string) (map[int]string, error) {
	f, err := os.Open(filepath.Join(dir, "dovecot-keywords"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kw := map[int]string{}
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		idx, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		i, err := strconv.Atoi(idx)
		if ok && err == nil && i >= 0 && i < 26 && store.ValidKeyword(name) {
			kw[i] = name
		}
	}
	return kw, sc.Err()
}

// MaildirFolder is one folder of a Maildir++ tree.
type MaildirFolder struct {
	Name string // UTF-8, '/'-separated; "" is INBOX
	Dir  string // the directory holding cur/ and new/
}

// MaildirFolders lists the folders of a Maildir++ tree (Dovecot's default
// and Courier's layout): the root is INBOX, and every ".A.B" directory
// beside cur/new/tmp is folder A/B, its parts in modified UTF-7 (RFC 3501
// §5.1.3) as Dovecot and Courier write them. A part that is not valid
// modified UTF-7 is kept as it is.
func MaildirFolders(root string) ([]MaildirFolder, error) {
	if !isMaildir(root) {
		return nil, fmt.Errorf("maildir: %s has no cur/ or new/ directory", root)
	}
	out := []MaildirFolder{{Name: "", Dir: root}}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || len(n) < 2 || n[0] != '.' || n == ".." {
			continue
		}
		dir := filepath.Join(root, n)
		if !isMaildir(dir) {
			continue
		}
		parts := strings.Split(n[1:], ".")
		for i, p := range parts {
			if d, err := wire.DecodeMUTF7(p); err == nil {
				parts[i] = d
			}
		}
		out = append(out, MaildirFolder{Name: strings.Join(parts, "/"), Dir: dir})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// MaildirFile is one message file of a folder.
type MaildirFile struct {
	Path  string
	Size  int64
	New   bool // in new/: not yet seen by a client
	Mtime time.Time
}

// MaildirFiles lists the message files of a folder, cur/ then new/, each
// in name order (the name starts with the delivery time). tmp/ holds
// deliveries in progress and is left alone.
func MaildirFiles(dir string) ([]MaildirFile, error) {
	var out []MaildirFile
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			out = append(out, MaildirFile{Path: filepath.Join(dir, sub, e.Name()), Size: fi.Size(), New: sub == "new", Mtime: fi.ModTime()})
		}
	}
	return out, nil
}

// ReadMaildirMessage reads one file of a folder into a Message. The
// INTERNALDATE is the file's mtime (Dovecot keeps it there), else the
// time in the name, else the first Received field's date. maxSize bounds
// the read.
func ReadMaildirMessage(f MaildirFile, kw map[int]string, maxSize int64) (Message, error) {
	if maxSize > 0 && f.Size > maxSize {
		return Message{}, fmt.Errorf("%s: %d bytes: %w", f.Path, f.Size, store.ErrTooLarge)
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return Message{}, err
	}
	defer fh.Close()
	lim := maxSize
	if lim <= 0 {
		lim = 1 << 30
	}
	data, err := io.ReadAll(io.LimitReader(fh, lim+1))
	if err != nil {
		return Message{}, err
	}
	if int64(len(data)) > lim {
		return Message{}, fmt.Errorf("%s: %w", f.Path, store.ErrTooLarge)
	}
	n := ParseMaildirName(filepath.Base(f.Path))
	m := Message{Data: data, Flags: store.Flags{System: n.Flags}}
	if f.New {
		m.Flags.System = 0
	}
	for _, l := range n.Letters {
		if k, ok := kw[l]; ok {
			m.Flags.Keywords = append(m.Flags.Keywords, k)
		}
	}
	switch {
	case !f.Mtime.IsZero() && f.Mtime.Unix() > 0:
		m.InternalDate = f.Mtime
	case !n.Time.IsZero():
		m.InternalDate = n.Time
	default:
		m.InternalDate = receivedDate(data)
	}
	return m, nil
}

// receivedDate is the date after the last ';' of the first Received field
// (RFC 5321 §4.4), or zero.
func receivedDate(data []byte) time.Time {
	var t time.Time
	end := headerEnd(data)
	eachField(data[:end], func(field []byte) {
		if !t.IsZero() {
			return
		}
		name, value, _ := strings.Cut(string(field), ":")
		if !strings.EqualFold(strings.TrimSpace(name), "received") {
			return
		}
		if i := strings.LastIndexByte(value, ';'); i >= 0 {
			v := strings.Join(strings.Fields(value[i+1:]), " ")
			if d, err := mail.ParseDate(v); err == nil {
				t = d
			}
		}
	})
	return t
}
