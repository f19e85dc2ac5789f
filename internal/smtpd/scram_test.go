package smtpd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/testutil"
)

// scramSASL adapts the test SCRAM client to go-sasl's client interface,
// which go-smtp's client drives (RFC 4954: 334 challenges, an empty
// response to the server-final-message).
type scramSASL struct {
	mech string
	c    *testutil.SCRAMClient
	step int
}

func (s *scramSASL) Start() (string, []byte, error) { return s.mech, []byte(s.c.First()), nil }

func (s *scramSASL) Next(challenge []byte) ([]byte, error) {
	s.step++
	switch s.step {
	case 1:
		f, err := s.c.Final(string(challenge))
		return []byte(f), err
	case 2:
		return []byte{}, s.c.Verify(string(challenge))
	}
	return nil, errors.New("unexpected challenge")
}

// setSCRAM gives alice SCRAM keys for the test password.
func (e *env) setSCRAM(t *testing.T) {
	t.Helper()
	a := e.alice
	if err := auth.SetPassword(&a, nil, password); err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func TestSubmissionSCRAM(t *testing.T) {
	e := newEnv(t)
	e.setSCRAM(t)
	addr := e.start(e.server(Submission), false)

	// Not before TLS, like PLAIN (RFC 5802 §9).
	pc, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	wantCode(t, "SCRAM in plaintext", pc.Auth(&scramSASL{mech: auth.SCRAMSHA256, c: &testutil.SCRAMClient{User: "alice@example.com", Password: password}}),
		538, smtp.EnhancedCode{5, 7, 11})

	c := dialSubmission(t, e, addr)
	if !c.SupportsAuth("SCRAM-SHA-256") || !c.SupportsAuth("SCRAM-SHA-256-PLUS") {
		t.Fatal("SCRAM-SHA-256(-PLUS) not offered after STARTTLS")
	}
	err = c.Auth(&scramSASL{mech: auth.SCRAMSHA256, c: &testutil.SCRAMClient{User: "alice@example.com", Password: "wrong"}})
	wantCode(t, "wrong password", err, 535, smtp.EnhancedCode{5, 7, 8})
	if !strings.Contains(err.Error(), "invalid-proof") {
		t.Fatalf("wrong password: %v", err)
	}
	err = c.Auth(&scramSASL{mech: auth.SCRAMSHA256, c: &testutil.SCRAMClient{User: "alice@example.com", Password: password, CBFlag: "y"}})
	wantCode(t, "downgrade", err, 535, smtp.EnhancedCode{5, 7, 8})
	if !strings.Contains(err.Error(), "server-does-support-channel-binding") {
		t.Fatalf("downgrade: %v", err)
	}
	cs, _ := c.TLSConnectionState()
	cb, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	sc := &testutil.SCRAMClient{User: "alice", Password: password, CBFlag: "p=tls-exporter", CBData: cb}
	wantCode(t, "SCRAM-SHA-256-PLUS", c.Auth(&scramSASL{mech: auth.SCRAMSHA256Plus, c: sc}), 235, smtp.EnhancedCode{})
	wantCode(t, "mail after SCRAM", c.Mail("alice@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "rcpt", c.Rcpt("bob@example.com", nil), 250, smtp.EnhancedCode{})
	wantCode(t, "data", send(t, c, msg("alice@example.com", "bob@example.com", "scram")), 250, smtp.EnhancedCode{})

	// Plain SCRAM-SHA-256 on implicit TLS.
	c2, err := smtp.DialTLS(e.start(e.server(Submission), true), e.cTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	wantCode(t, "SCRAM-SHA-256", c2.Auth(&scramSASL{mech: auth.SCRAMSHA256, c: &testutil.SCRAMClient{User: "alice@example.com", Password: password}}), 235, smtp.EnhancedCode{})
}
