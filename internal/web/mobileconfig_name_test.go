package web

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestAppleProfileName: EmailAccountName (the From: name on the device)
// is the person's name when the request gives one, and absent otherwise
// (Mail then asks for it), never the address.
func TestAppleProfileName(t *testing.T) {
	e := newEnv(t, nil)
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	c := client(t, ts)
	for name, want := range map[string]string{"张伟": "张伟", " Alice Liddell ": "Alice Liddell", "": "", "bad\nname": ""} {
		_, body := get(t, c, ts.URL+"/apple.mobileconfig?emailaddress="+testUser+"&name="+url.QueryEscape(name))
		_, mail := plistValues(t, []byte(body))
		if got, ok := mail["EmailAccountName"]; got != want || (want == "" && ok) {
			t.Errorf("name %q: EmailAccountName %q (present %v), want %q", name, got, ok, want)
		}
		if mail["EmailAddress"] != testUser {
			t.Errorf("name %q: EmailAddress %q", name, mail["EmailAddress"])
		}
	}
}
