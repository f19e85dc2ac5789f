package sieve

import (
	"strings"
	"testing"
	"time"
)

func TestRulesScript(t *testing.T) {
	r := Rules{
		Zone: "+0800",
		Vacation: VacationRule{Enabled: true, Start: "2027-02-01", End: "2027-02-07", Subject: "春节休假",
			Text: "我 2 月 8 日回来。\n急事请打电话。", Days: 3},
		Forward: ForwardRule{Address: "me@elsewhere.example", KeepCopy: true},
		Filters: []Filter{
			{Field: "subject", Value: "发票", Action: "move", Arg: "财务/发票"},
			{Field: "from", Value: "boss@", Action: "flag"},
			{Field: "to", Value: "list@", Action: "read"},
			{Field: "subject", Value: `x" { discard; } if true { "`, Action: "delete"},
		},
	}
	src, err := r.Script()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile(src)
	if err != nil {
		t.Fatalf("generated script does not compile: %v\n%s", err, src)
	}
	run := func(msg string, now time.Time) string {
		m, _ := NewMessage([]byte(msg), "boss@acme.example", "me@example.com")
		m.Now = now
		res, err := s.Run(m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return summary(res)
	}
	during := time.Date(2027, 2, 3, 10, 0, 0, 0, time.UTC)
	after := time.Date(2027, 2, 7, 16, 0, 0, 0, time.UTC) // 2027-02-08 00:00 in +0800
	msg := "From: boss@acme.example\r\nTo: me@example.com\r\nSubject: =?UTF-8?B?5Y+R56Wo?=\r\n\r\nx\r\n"
	if got, want := run(msg, during), `fileinto:财务/发票+create[\Flagged] redirect:me@elsewhere.example vacation:我 2 月 8 日回来。`+"\n急事请打电话。"; got != want {
		t.Errorf("during the holiday: %q, want %q", got, want)
	}
	if got := run(msg, after); strings.Contains(got, "vacation") {
		t.Errorf("after the holiday: %q", got)
	}
	if got := run("Subject: x\" { discard; } if true { \"\r\n\r\n", during); strings.Contains(got, "keep") || !strings.Contains(got, "redirect") {
		t.Errorf("quoted rule: %q", got)
	}
	back, ok := ParseRules(src)
	if !ok || back.Vacation.Text != r.Vacation.Text || len(back.Filters) != 4 || back.Filters[3].Value != r.Filters[3].Value {
		t.Errorf("ParseRules: %v %+v", ok, back)
	}
	if _, ok := ParseRules(src + "discard;\n"); ok {
		t.Error("a hand-edited script parsed as rules")
	}
	if _, ok := ParseRules("keep;"); ok {
		t.Error("a hand-written script parsed as rules")
	}
}

func TestRulesValidate(t *testing.T) {
	bad := []Rules{
		{Zone: "CST"},
		{Vacation: VacationRule{Enabled: true, Text: "x", Start: "2027/02/01"}},
		{Vacation: VacationRule{Enabled: true, Text: " "}},
		{Forward: ForwardRule{Address: "not an address"}},
		{Filters: []Filter{{Field: "body", Value: "x", Action: "read"}}},
		{Filters: []Filter{{Field: "from", Value: "", Action: "read"}}},
		{Filters: []Filter{{Field: "from", Value: "x", Action: "move", Arg: ""}}},
		{Filters: []Filter{{Field: "from", Value: "x", Action: "forward", Arg: "nope"}}},
		{Filters: []Filter{{Field: "from", Value: "x", Action: "explode"}}},
	}
	for _, r := range bad {
		if _, err := r.Script(); err == nil {
			t.Errorf("%+v: no error", r)
		}
	}
	empty, err := (&Rules{}).Script()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(empty); err != nil {
		t.Errorf("empty rules: %v", err)
	}
}
