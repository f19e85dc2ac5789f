package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/youju/youju/internal/control"
	"github.com/youju/youju/internal/importer"
	"github.com/youju/youju/internal/store"
)

// runImport is "youju import mbox|maildir ...".
func runImport(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "import", args, map[string]func(context.Context, *env, []string) error{
		"mbox":    runImportMbox,
		"maildir": runImportMaildir,
		"imap":    runImportIMAP,
	})
}

// source reads messages for an import; read counts source bytes for the
// progress line's ETA.
type source struct {
	total int64
	read  atomic.Int64
	each  func(fn func(importer.Message) error) error
	// oversized or unreadable source messages, counted by the source
	failed int
	// imap, if set, is the source instead of each (total unknown),
	// pulled over concurrency connections
	imap        *importer.IMAPSource
	concurrency int
	// dedupe: --dedupe, also skip by Message-ID + size + Date
	dedupe bool
}

// dedupeFlag is --dedupe of every import command.
func dedupeFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("dedupe", false, "also skip a message whose Message-ID, size and Date match one imported before into any folder (the same mail under two Gmail labels or in two exports)")
}

func runImportMbox(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "import mbox", "import mbox [--data DIR] [--folder NAME] [--quoting rd|o] FILE|DIR ACCOUNT")
	folder := fs.String("folder", "", "folder for a single file (default: the file's name; \"inbox\" is INBOX)")
	quoting := fs.String("quoting", "rd", `how "From " lines in bodies were quoted: rd (mboxrd) or o (mboxo)`)
	dedupe := dedupeFlag(fs)
	rest, err := parseArgs(fs, args, 2, 2, "import mbox [flags] FILE|DIR ACCOUNT")
	if err != nil {
		return err
	}
	q := importer.MboxRD
	switch *quoting {
	case "rd":
	case "o":
		q = importer.MboxO
	default:
		return usagef("--quoting is rd or o, not %q", *quoting)
	}
	files, err := mboxFiles(rest[0], *folder)
	if err != nil {
		return err
	}
	src := &source{dedupe: *dedupe}
	for _, f := range files {
		src.total += f.size
	}
	src.each = func(fn func(importer.Message) error) error {
		for _, f := range files {
			fh, err := os.Open(f.path)
			if err != nil {
				return err
			}
			st, err := importer.ReadMbox(&countingReader{r: fh, n: &src.read}, importer.MboxOptions{Folder: f.folder, Quoting: q, MaxMessage: 256 << 20}, fn)
			fh.Close()
			src.failed += st.Oversized
			if err != nil {
				return fmt.Errorf("%s: %w", f.path, err)
			}
		}
		return nil
	}
	return importInto(ctx, e, *data, rest[1], src)
}

type mboxFile struct {
	path, folder string
	size         int64
}

// mboxFiles lists the mbox files of path: the file itself, or every file
// under a directory, each the folder of its relative path (Thunderbird's
// "Name.sbd" directories hold the subfolders of "Name").
func mboxFiles(path, folder string) ([]mboxFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if folder == "" {
			folder = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		return []mboxFile{{path, folder, fi.Size()}}, nil
	}
	var out []mboxFile
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || strings.HasSuffix(d.Name(), ".msf") {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		rel = strings.TrimSuffix(rel, ".mbox")
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for i := range parts {
			parts[i] = strings.TrimSuffix(parts[i], ".sbd")
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, mboxFile{p, strings.Join(parts, "/"), info.Size()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].folder < out[j].folder })
	return out, err
}

func runImportMaildir(ctx context.Context, e *env, args []string) error {
	fs, data := flags(e, "import maildir", "import maildir [--data DIR] DIR ACCOUNT")
	dedupe := dedupeFlag(fs)
	rest, err := parseArgs(fs, args, 2, 2, "import maildir [flags] DIR ACCOUNT")
	if err != nil {
		return err
	}
	folders, err := importer.MaildirFolders(rest[0])
	if err != nil {
		return err
	}
	type folderFiles struct {
		f     importer.MaildirFolder
		files []importer.MaildirFile
	}
	var all []folderFiles
	src := &source{dedupe: *dedupe}
	for _, f := range folders {
		files, err := importer.MaildirFiles(f.Dir)
		if err != nil {
			return err
		}
		for _, x := range files {
			src.total += x.Size
		}
		all = append(all, folderFiles{f, files})
	}
	src.each = func(fn func(importer.Message) error) error {
		for _, ff := range all {
			kw, err := importer.ReadDovecotKeywords(ff.f.Dir)
			if err != nil {
				return err
			}
			for _, file := range ff.files {
				m, err := importer.ReadMaildirMessage(file, kw, 256<<20)
				src.read.Add(file.Size)
				if err != nil {
					if errors.Is(err, store.ErrTooLarge) || errors.Is(err, os.ErrNotExist) {
						src.failed++ // too large, or moved by a client meanwhile
						continue
					}
					return err
				}
				m.Folder = ff.f.Name
				if err := fn(m); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return importInto(ctx, e, *data, rest[1], src)
}

func runImportIMAP(ctx context.Context, e *env, args []string) error {
	usage := "import imap --from imaps://USER@HOST[:PORT] [--starttls] [--insecure-skip-verify] --password-stdin ACCOUNT"
	fs, data := flags(e, "import imap", usage)
	from := fs.String("from", "", "the remote account: imaps://USER@HOST:993, or imap://USER@HOST:143 with --starttls")
	starttls := fs.Bool("starttls", false, "use STARTTLS on a plain IMAP port (imap://)")
	insecure := fs.Bool("insecure-skip-verify", false, "do not check the remote server's certificate")
	pwStdin := fs.Bool("password-stdin", false, "read the remote password (QQ/163: the 授权码 app password) from standard input")
	chunk := fs.Int("chunk", 200, "messages per UID FETCH")
	conc := fs.Int("concurrency", 1, "connections to the remote server, each pulling whole folders (QQ and 163 throttle above 2 or 3)")
	dedupe := dedupeFlag(fs)
	rest, err := parseArgs(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	src, err := imapSourceFrom(*from, *starttls)
	if err != nil {
		return err
	}
	if !*pwStdin {
		return usagef("give the remote password on standard input with --password-stdin (never on the command line)")
	}
	pw, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || pw == "") {
		return fmt.Errorf("reading the password from standard input: %w", err)
	}
	src.Password = strings.TrimRight(pw, "\r\n")
	src.InsecureSkipVerify, src.Chunk = *insecure, *chunk
	address, err := normAddress(rest[0])
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(src.Addr)
	src.StateFile = filepath.Join(importer.StateDir(*data, address), "imap-"+safeName(src.User+"@"+host)+".json")
	src.Log = slog.New(slog.NewTextHandler(e.stderr, nil))
	if *conc < 1 || *conc > 16 {
		return usagef("--concurrency is 1 to 16")
	}
	return importInto(ctx, e, *data, address, &source{imap: src, concurrency: *conc, dedupe: *dedupe})
}

// imapSourceFrom parses --from.
func imapSourceFrom(from string, starttls bool) (*importer.IMAPSource, error) {
	u, err := url.Parse(from)
	if err != nil || u.User == nil || u.User.Username() == "" || u.Hostname() == "" {
		return nil, usagef("--from wants imaps://USER@HOST[:PORT] (got %q)", from)
	}
	src := &importer.IMAPSource{User: u.User.Username()}
	port := u.Port()
	switch {
	case u.Scheme == "imaps" && !starttls:
		src.Security = importer.IMAPTLS
		if port == "" {
			port = "993"
		}
	case u.Scheme == "imap" && starttls:
		src.Security = importer.IMAPStartTLS
		if port == "" {
			port = "143"
		}
	case u.Scheme == "imap":
		// Plain IMAP only to this machine (dial refuses others).
		src.Security = importer.IMAPPlain
		if port == "" {
			port = "143"
		}
	default:
		return nil, usagef("--from: imaps://, or imap:// with --starttls (got %q)", from)
	}
	src.Addr = net.JoinHostPort(u.Hostname(), port)
	return src, nil
}

// safeName keeps letters, digits and .@-_ of s for a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".@-_", r)) {
			return r
		}
		return '_'
	}, s)
}

// importInto runs src into the account: through the control socket when
// serve runs (it owns the store), else on the store opened here.
func importInto(ctx context.Context, e *env, dataDir, address string, src *source) error {
	address, err := normAddress(address)
	if err != nil {
		return err
	}
	var tg importer.Target
	var accts store.Accounts
	if cl, err := control.Dial(controlSocket(dataDir)); err == nil {
		tg, accts = cl, cl
	} else {
		c, err := loadConfig(dataDir)
		if err != nil {
			return err
		}
		st, err := openStore(ctx, dataDir, c)
		if err != nil {
			return err
		}
		defer st.Close()
		tg, accts = importer.Local{Mail: st}, st
	}
	a, err := accts.Account(ctx, address)
	if err != nil {
		return fmt.Errorf("account %s: %w", address, err)
	}
	state, err := importer.OpenState(ctx, importer.StateDir(dataDir, address), tg, a.ID)
	if err != nil {
		return err
	}
	defer state.Close()
	pr := newProgress(e.stderr, src)
	var s importer.Stats
	if src.imap != nil {
		s, err = runIMAPWorkers(ctx, src, tg, a.ID, state, pr)
	} else {
		im := &importer.Importer{T: tg, Account: a.ID, State: state, Progress: pr.update, Dedupe: src.dedupe}
		err = src.each(func(m importer.Message) error { return im.Add(ctx, m) })
		if err == nil {
			err = im.Flush(ctx)
		}
		s = im.Stats()
	}
	pr.done()
	fmt.Fprintf(e.stdout, "%s: %d read, %d imported (%.1f MB), %d already there, %d skipped (views such as Gmail's All Mail), %d failed (too large or unreadable), in %s\n",
		address, s.Read, s.Imported, float64(s.Bytes)/1e6, s.Duplicates, s.Skipped, s.Failed+src.failed, time.Since(pr.start).Round(time.Millisecond))
	return err
}

// runIMAPWorkers pulls with src.concurrency connections, one Importer
// each (sharing the state), and adds up their counts.
func runIMAPWorkers(ctx context.Context, src *source, tg importer.Target, acct store.AccountID, state *importer.State, pr *progress) (importer.Stats, error) {
	n := max(1, src.concurrency)
	ims := make([]*importer.Importer, n)
	var mu sync.Mutex
	last := make([]importer.Stats, n)
	err := src.imap.RunConcurrent(ctx, n, func(i int) (func(importer.Message) error, func() error) {
		im := &importer.Importer{T: tg, Account: acct, State: state, Dedupe: src.dedupe, Progress: func(s importer.Stats) {
			mu.Lock()
			defer mu.Unlock()
			last[i] = s
			pr.update(sumStats(last))
		}}
		ims[i] = im
		return func(m importer.Message) error {
			src.read.Add(int64(len(m.Data)))
			return im.Add(ctx, m)
		}, func() error { return im.Flush(ctx) }
	})
	for i, im := range ims {
		if im != nil {
			last[i] = im.Stats()
		}
	}
	return sumStats(last), err
}

func sumStats(ss []importer.Stats) importer.Stats {
	var t importer.Stats
	for _, s := range ss {
		t.Read += s.Read
		t.Imported += s.Imported
		t.Duplicates += s.Duplicates
		t.Failed += s.Failed
		t.Skipped += s.Skipped
		t.Bytes += s.Bytes
	}
	return t
}

// progress prints a line with rate and ETA on a terminal, at most twice a
// second; elsewhere (a log, a pipe) nothing until the summary.
type progress struct {
	w     io.Writer
	tty   bool
	src   *source
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, src *source) *progress {
	p := &progress{w: w, src: src, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(s importer.Stats) {
	if !p.tty || time.Since(p.last) < 500*time.Millisecond {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start).Seconds()
	read := p.src.read.Load()
	eta := "?"
	if p.src.total == 0 {
		// IMAP: the total is not known in advance.
		fmt.Fprintf(p.w, "\r%d imported, %d already there · %.0f msg/s · %.1f MB/s   ",
			s.Imported, s.Duplicates, float64(s.Imported)/el, float64(s.Bytes)/1e6/el)
		return
	}
	if read > 0 && p.src.total > read {
		eta = time.Duration(float64(p.src.total-read) / float64(read) * el * float64(time.Second)).Round(time.Second).String()
	} else if p.src.total <= read {
		eta = "0s"
	}
	fmt.Fprintf(p.w, "\r%d imported, %d already there · %.0f msg/s · %.1f MB/s · %d%% · ETA %s   ",
		s.Imported, s.Duplicates, float64(s.Imported)/el, float64(s.Bytes)/1e6/el, pct(read, p.src.total), eta)
}

func (p *progress) done() {
	if p.tty && !p.last.IsZero() {
		fmt.Fprintln(p.w)
	}
}

func pct(a, b int64) int64 {
	if b <= 0 {
		return 100
	}
	return min(100, a*100/b)
}

// countingReader counts bytes read into n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
