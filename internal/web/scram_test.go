package web

import (
	"net/netip"
	"testing"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil"
)

// scramLogin runs a SCRAM-SHA-256 exchange for user/pw through a.
func scramLogin(t *testing.T, a *auth.Authenticator, user, pw string) error {
	t.Helper()
	srv, err := a.SASL(t.Context(), auth.SCRAMSHA256, store.ServiceIMAP, netip.Addr{}, nil, nil)
	if err != nil {
		return err
	}
	c := &testutil.SCRAMClient{User: user, Password: pw}
	sf, _, err := srv.Next([]byte(c.First()))
	if err != nil {
		return err
	}
	cf, err := c.Final(string(sf))
	if err != nil {
		return err
	}
	fin, _, err := srv.Next([]byte(cf))
	if err != nil {
		return err
	}
	if err := c.Verify(string(fin)); err != nil {
		return err
	}
	_, _, err = srv.Next([]byte{})
	return err
}
