package importer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/store"
)

func TestParseMaildirName(t *testing.T) {
	for _, c := range []struct {
		name    string
		flags   store.SysFlags
		size    int64
		letters []int
	}{
		{"1700000000.M1P2.host,S=1234,W=1260:2,FRS", store.FlagFlagged | store.FlagAnswered | store.FlagSeen, 1234, nil},
		{"1700000000.M1P2.host:2,", 0, -1, nil},
		{"1700000000.M1P2.host", 0, -1, nil},
		{"1700000000.M1P2.host:2,DTPab", store.FlagDraft | store.FlagDeleted, -1, []int{0, 1}},
		{"1700000000.M1P2.host!2,S", store.FlagSeen, -1, nil},
		{"odd,S=x:2,SZ9?c", store.FlagSeen, -1, []int{2}}, // unknown letters ignored
		{"a:b:2,S", store.FlagSeen, -1, nil},
	} {
		n := ParseMaildirName(c.name)
		if n.Flags != c.flags || n.Size != c.size || !reflect.DeepEqual(n.Letters, c.letters) {
			t.Errorf("%s: got %+v", c.name, n)
		}
	}
	if n := ParseMaildirName("1700000000.x.y:2,S"); !n.Time.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("time = %v", n.Time)
	}
}

func FuzzMaildirName(f *testing.F) {
	f.Add("1700000000.M1P2.host,S=1234,W=1260:2,FRSab")
	f.Add("x!2,")
	f.Fuzz(func(t *testing.T, name string) {
		n := ParseMaildirName(name)
		for _, l := range n.Letters {
			if l < 0 || l >= 26 {
				t.Fatalf("letter index %d", l)
			}
		}
		if n.Size < -1 {
			t.Fatalf("size %d", n.Size)
		}
		if n.Flags&^(store.FlagSeen|store.FlagAnswered|store.FlagFlagged|store.FlagDeleted|store.FlagDraft) != 0 {
			t.Fatalf("flags %b", n.Flags)
		}
	})
}

// writeMaildir makes a Dovecot-style Maildir++ tree for tests.
func writeMaildir(t *testing.T, root string, files map[string]string, keywords map[string]string) {
	t.Helper()
	for path, body := range files {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for dir, kw := range keywords {
		if err := os.WriteFile(filepath.Join(root, dir, "dovecot-keywords"), []byte(kw), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMaildirFoldersAndMessages(t *testing.T) {
	root := t.TempDir()
	writeMaildir(t, root, map[string]string{
		"cur/1700000000.a.h,S=20:2,S":         "Subject: in\r\n\r\nhi\r\n",
		"new/1700000001.b.h":                  "Subject: new\n\nnew\n",
		"tmp/1700000002.c.h":                  "half written",
		".&XfJT0ZAB-/cur/1700000003.d.h:2,RS": "Subject: sent\n\nx\n",
		".Work.2024/cur/1700000004.e.h:2,Fab": "Subject: work\n\ny\n",
		".Work/new/.hidden":                   "not mail",
	}, map[string]string{".Work.2024": "0 $Important\n1 project-x\n2 bad keyword\n"})
	folders, err := MaildirFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range folders {
		names = append(names, f.Name)
	}
	if want := []string{"", "Work", "Work/2024", "已发送"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("folders = %q, want %q", names, want)
	}
	files, err := MaildirFiles(root)
	if err != nil || len(files) != 2 {
		t.Fatalf("INBOX files = %+v, %v", files, err)
	}
	old := time.Date(2019, 5, 1, 2, 3, 4, 0, time.UTC)
	os.Chtimes(files[0].Path, old, old)
	files, _ = MaildirFiles(root)
	m, err := ReadMaildirMessage(files[0], nil, 0)
	if err != nil || m.Flags.System != store.FlagSeen || !m.InternalDate.Equal(old) {
		t.Errorf("cur message: %+v %v", m, err)
	}
	m, _ = ReadMaildirMessage(files[1], nil, 0)
	if m.Flags.System != 0 || string(m.Data) != "Subject: new\n\nnew\n" {
		t.Errorf("new message: %+v", m)
	}
	kw, err := ReadDovecotKeywords(folders[2].Dir)
	if err != nil {
		t.Fatal(err)
	}
	wf, _ := MaildirFiles(folders[2].Dir)
	m, _ = ReadMaildirMessage(wf[0], kw, 0)
	if m.Flags.System != store.FlagFlagged || strings.Join(m.Flags.Keywords, ",") != "$Important,project-x" {
		t.Errorf("work message: %+v", m.Flags)
	}
	if _, err := ReadMaildirMessage(wf[0], kw, 5); err == nil {
		t.Error("a message over the limit was read")
	}
	if _, err := MaildirFolders(t.TempDir()); err == nil {
		t.Error("an empty directory was taken for a Maildir")
	}
}

func TestMapFolder(t *testing.T) {
	for _, c := range []struct{ in, su, name, special string }{
		{"INBOX", "", "INBOX", ""},
		{"", "", "INBOX", ""},
		{"收件箱", "", "INBOX", ""},
		{"Sent Messages", "", "Sent", store.SpecialSent},
		{"已发送", "", "Sent", store.SpecialSent},
		{"[Gmail]/Sent Mail", "", "Sent", store.SpecialSent},
		{"Sent Items", "", "Sent", store.SpecialSent},
		{"INBOX/Sent", "", "Sent", store.SpecialSent},
		{"草稿箱", "", "Drafts", store.SpecialDrafts},
		{"已删除", "", "Trash", store.SpecialTrash},
		{"Deleted Messages", "", "Trash", store.SpecialTrash},
		{"垃圾邮件", "", "Junk", store.SpecialJunk},
		{"Spam", "", "Junk", store.SpecialJunk},
		{"Archive", "", "Archive", store.SpecialArchive},
		{"Gesendet", `\Sent`, "Sent", store.SpecialSent},
		{"Work/2024", "", "Work/2024", ""},
		{"INBOX/Work", "", "INBOX/Work", ""},
	} {
		f := MapFolder(c.in, c.su)
		if f.Name != c.name || f.SpecialUse != c.special || f.Skip {
			t.Errorf("MapFolder(%q, %q) = %+v, want %s %s", c.in, c.su, f, c.name, c.special)
		}
	}
	for _, in := range []string{"[Gmail]/All Mail", "[Gmail]/Starred", "[Gmail]"} {
		if !MapFolder(in, "").Skip {
			t.Errorf("%s not skipped", in)
		}
	}
	if !MapFolder("Alles", `\All`).Skip {
		t.Error(`\All not skipped`)
	}
}
