package delivery

import (
	"testing"
	"time"
)

// TestWithTrace pins the trace fields byte for byte: client-given text
// sanitised (controls, parentheses, invalid UTF-8), "for" only with one
// recipient, Return-Path only on final delivery, env.Fields after.
func TestWithTrace(t *testing.T) {
	at := time.Date(2026, 12, 4, 13, 5, 7, 0, time.FixedZone("", 8*3600))
	d := &Deliverer{Hostname: "mx.example.com"}
	for _, tc := range []struct {
		env   Envelope
		final bool
		want  string
	}{
		{Envelope{ID: "3.ab", From: "a@b.c", Helo: "client(x)\r\n", RemoteIP: "192.0.2.1", Protocol: "ESMTPS",
			TLS: "TLS1.3 TLS_AES_128_GCM_SHA256", Time: at, Rcpts: []Recipient{{Address: "alice@example.com"}},
			Fields: "Authentication-Results: mx.example.com; spf=pass\r\n"}, true,
			"Return-Path: <a@b.c>\r\nReceived: from client_x___ ([192.0.2.1])\r\n\tby mx.example.com (youju) with ESMTPS" +
				" (TLS1.3 TLS_AES_128_GCM_SHA256) id 3.ab\r\n\tfor <alice@example.com>; Fri, 04 Dec 2026 13:05:07 +0800\r\n" +
				"Authentication-Results: mx.example.com; spf=pass\r\nbody\r\n"},
		{Envelope{Helo: "h\xff\xfeé", Time: at, Rcpts: []Recipient{{Address: "a@x"}, {Address: "b@x"}}}, false,
			"Received: from h\ufffd\ufffdé\r\n\tby mx.example.com (youju) with ESMTP; Fri, 04 Dec 2026 13:05:07 +0800\r\nbody\r\n"},
	} {
		if got := string(d.withTrace(&tc.env, []byte("body\r\n"), tc.final)); got != tc.want {
			t.Errorf("withTrace:\n got %q\nwant %q", got, tc.want)
		}
	}
}
