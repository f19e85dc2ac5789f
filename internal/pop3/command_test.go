package pop3

import (
	"bufio"
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want Command
		err  error
	}{
		{"STAT", Command{Name: "STAT"}, nil},
		{"stat", Command{Name: "STAT"}, nil},
		{"LIST 1", Command{Name: "LIST", Args: []string{"1"}, Rest: "1"}, nil},
		{"TOP 1 10", Command{Name: "TOP", Args: []string{"1", "10"}, Rest: "1 10"}, nil},
		{"top  1   10 ", Command{Name: "TOP", Args: []string{"1", "10"}, Rest: " 1   10 "}, nil},
		{"PASS my secret pw", Command{Name: "PASS", Args: []string{"my", "secret", "pw"}, Rest: "my secret pw"}, nil},
		{"PASS a b c d e", Command{}, errTooManyArgs},
		{"USER\tbob", Command{}, errBadKeyword},
		{"", Command{}, errEmptyCommand},
		{" STAT", Command{}, errEmptyCommand},
		{"ST", Command{}, errBadKeyword},
		{"STATS", Command{}, errBadKeyword},
		{"ST1T", Command{}, errBadKeyword},
		{"USER a\x00b", Command{}, errBadArgument},
		{"USER a\x7fb", Command{}, errBadArgument},
		{"USER 用户@例子.中国", Command{Name: "USER", Args: []string{"用户@例子.中国"}, Rest: "用户@例子.中国"}, nil},
	}
	for _, tt := range tests {
		got, err := ParseCommand([]byte(tt.in))
		if err != tt.err {
			t.Errorf("ParseCommand(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCommand(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseMsgNum(t *testing.T) {
	for in, want := range map[string]int{
		"1": 1, "42": 42, "0": 0, "-1": 0, "+1": 0, "01": 0, "1x": 0, "": 0,
		"2147483647": 2147483647, "2147483648": 0, "99999999999": 0,
	} {
		if got := parseMsgNum(in); got != want {
			t.Errorf("parseMsgNum(%q) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[string]int{"0": 0, "10": 10, "00": 0, "99999999999": 1<<31 - 1} {
		if got, ok := parseLineCount(in); !ok || got != want {
			t.Errorf("parseLineCount(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "1a", "+3"} {
		if _, ok := parseLineCount(in); ok {
			t.Errorf("parseLineCount(%q) accepted", in)
		}
	}
}

func stuff(t *testing.T, in string, bodyLines, bufSize int) (string, int64) {
	t.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	n, err := writeStuffed(w, bufio.NewReaderSize(strings.NewReader(in), bufSize), bodyLines)
	if err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return out.String(), n
}

func TestWriteStuffed(t *testing.T) {
	const msg = "Subject: x\r\n.hidden: y\r\n\r\n.line1\r\nline2\r\n..\r\n.\r\nend"
	tests := []struct {
		lines int
		want  string
	}{
		{-1, "Subject: x\r\n..hidden: y\r\n\r\n..line1\r\nline2\r\n...\r\n..\r\nend\r\n.\r\n"},
		{0, "Subject: x\r\n..hidden: y\r\n\r\n.\r\n"},
		{2, "Subject: x\r\n..hidden: y\r\n\r\n..line1\r\nline2\r\n.\r\n"},
		{100, "Subject: x\r\n..hidden: y\r\n\r\n..line1\r\nline2\r\n...\r\n..\r\nend\r\n.\r\n"},
	}
	for _, tt := range tests {
		got, n := stuff(t, msg, tt.lines, 4096)
		if got != tt.want {
			t.Errorf("lines %d: got %q, want %q", tt.lines, got, tt.want)
		}
		if tt.lines < 0 && n != int64(len(msg)) {
			t.Errorf("read %d octets, want %d", n, len(msg))
		}
	}
	// A line longer than the buffer is passed in pieces; a dot inside it is
	// not at a line start and must not be stuffed.
	long := strings.Repeat("a", 20) + "." + strings.Repeat("b", 40)
	got, _ := stuff(t, "H: 1\r\n\r\n"+long+"\r\n.x\r\n", -1, 16)
	if want := "H: 1\r\n\r\n" + long + "\r\n..x\r\n.\r\n"; got != want {
		t.Errorf("long line: got %q, want %q", got, want)
	}
	// Bare LF (damaged data) goes out as CRLF, also when split from its CR.
	if got, _ := stuff(t, "a\nb\r\n", -1, 16); got != "a\r\nb\r\n.\r\n" {
		t.Errorf("bare LF: got %q", got)
	}
	if got, _ := stuff(t, strings.Repeat("c", 15)+"\r\n.", -1, 16); got != strings.Repeat("c", 15)+"\r\n..\r\n.\r\n" {
		t.Errorf("split CRLF: got %q", got)
	}
	// Empty message: only the terminator.
	if got, _ := stuff(t, "", -1, 16); got != ".\r\n" {
		t.Errorf("empty: got %q", got)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"STAT", "LIST 1", "TOP 1 10", "PASS a b", "AUTH PLAIN AGJvYgBwdw==", "uidl", "", "\x00", "USER \xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, err := ParseCommand(line)
		if err != nil {
			return
		}
		if len(cmd.Name) < 3 || len(cmd.Name) > 4 || cmd.Name != strings.ToUpper(cmd.Name) {
			t.Fatalf("bad name %q", cmd.Name)
		}
		if len(cmd.Args) > maxArgs {
			t.Fatalf("%d args", len(cmd.Args))
		}
		for _, a := range cmd.Args {
			if a == "" || strings.ContainsAny(a, " \t\r\n\x00") {
				t.Fatalf("bad arg %q", a)
			}
		}
	})
}

func FuzzWriteStuffed(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\n.body\r\n"), 1)
	f.Add([]byte(".\r\n.\r\n"), -1)
	f.Fuzz(func(t *testing.T, msg []byte, lines int) {
		if lines < -1 {
			lines = -1
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if _, err := writeStuffed(w, bufio.NewReaderSize(bytes.NewReader(msg), 16), lines); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		// Whatever the message, the client must see exactly one
		// terminator: the last line, and no other line that is just ".".
		body := out.Bytes()
		if !bytes.HasSuffix(body, []byte("\r\n.\r\n")) && !bytes.Equal(body, []byte(".\r\n")) {
			t.Fatalf("no terminator: %q", body)
		}
		if i := bytes.Index(body, []byte("\n.\r\n")); i >= 0 && i != len(body)-4 {
			t.Fatalf("early terminator at %d: %q", i, body)
		}
		if bytes.HasPrefix(body, []byte(".\r\n")) && len(body) != 3 {
			t.Fatalf("early terminator at start: %q", body)
		}
	})
}
